#!/bin/bash
# forcefail(): one held SSL_write / SSL_write_ex made to fail from outside
# the process, for real, without BPF.
#
# A TLS line server (python3 ssl, throwaway self-signed certificate) logs
# every line it gets and answers "OK n".  A client (ff_client, C; or node)
# sends "REQ 1".."REQ N".  ff_hold stands in for the block uprobe: an int3
# at the function's entry, the first instruction run as a uprobe runs it,
# the int3 left in memory, the process group-stopped by SIGSTOP, untraced.
# Then forcefail() (through ff_hold force), then SIGCONT.
#
# Forced: the client sees an error for request 3 only (SSL_ERROR_SYSCALL
# = 5 from ff_client), the server never sees "REQ 3", every later request
# succeeds, the client exits 0.  Refused (a prologue not understood, a wrong
# stack pointer, a debugger attached, a thread not stopped): forcefail fails
# with its message, the thread is left untraced and stopped, and after
# SIGCONT the held call goes through: every request succeeds.
#
#	BUILD=build TOP=$PWD bash tests/integ/test_forcefail.sh	(as root)
. "$(dirname "$0")/lib/common.sh"

N=6		# requests per client run
K=3		# the one that is held

if [ "$(id -u)" != 0 ]; then
	skip forcefail "needs root (ptrace of a process that is not a child)"; exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
	skip forcefail "forcefail is x86-64 only"; exit 0
fi
for tool in gcc openssl "$TG_PY"; do
	command -v "$tool" >/dev/null || { skip forcefail "needs $tool"; exit 0; }
done
if [ "$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null)" = 3 ]; then
	skip forcefail "ptrace is disabled (kernel.yama.ptrace_scope = 3)"; exit 0
fi

# --- helpers: built here until the Makefile links their libraries ----------

FF_OUT=$TG_BUILD/integ
FF_CLIENT=$FF_OUT/ff_client
FF_HOLD=$FF_OUT/ff_hold
FF_CFLAGS=(-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE
	-I"$TG_TOP/include")

# Rebuild $1 from the sources that follow "--" when any is newer; libs after.
ff_build() {	# OUT SRC... -- LIB...
	local out=$1 src=() libs=() s stale=0; shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do src+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	libs=("$@")
	[ -x "$out" ] || stale=1
	for s in "${src[@]}" "$TG_TOP/include/forcefail.h" "$TG_TOP/include/elfsym.h"; do
		[ "$s" -nt "$out" ] && stale=1
	done
	[ "$stale" = 0 ] && return 0
	mkdir -p "$(dirname "$out")" && gcc "${FF_CFLAGS[@]}" -o "$out" "${src[@]}" "${libs[@]}"
}

ff_build "$FF_CLIENT" "$TG_TOP/tests/integ/helpers/ff_client.c" -- -lssl -lcrypto ||
	{ fail forcefail_build "ff_client did not build"; tg_finish; }
ff_build "$FF_HOLD" "$TG_TOP/tests/integ/helpers/ff_hold.c" "$TG_TOP/user/forcefail.c" \
	"$TG_TOP/user/elfsym.c" -- -lelf ||
	{ fail forcefail_build "ff_hold did not build"; tg_finish; }

# --- the server ------------------------------------------------------------------

TG_TMP=$(mktemp -d /tmp/tollgate-integ.XXXXXX) || exit 1
export TG_TMP
FF_SERVER_PID=

# Our background jobs not yet reaped (server, a client, strace): only
# those, by pid; a client may be stopped, so SIGCONT it too.
ff_cleanup() {
	local rc=$? p
	for p in $(jobs -p); do
		kill -KILL "$p" 2>/dev/null
		kill -CONT "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	tg_teardown
	return $rc
}
trap ff_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=127.0.0.1 -keyout "$TG_TMP/key.pem" -out "$TG_TMP/cert.pem" \
	>/dev/null 2>&1 || { fail forcefail_setup "openssl req failed"; tg_finish; }

cat > "$TG_TMP/server.py" <<'EOF'
# TLS line server: logs each line received, answers "REQ n" with "OK n".
import os, socket, ssl, sys, threading

cert, key, portfile, logfile = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(64)
lock = threading.Lock()
log = open(logfile, "a", buffering=1)

def serve(conn):
    try:
        with ctx.wrap_socket(conn, server_side=True) as s:
            for line in s.makefile("rb"):
                text = line.decode("utf-8", "replace").rstrip("\n")
                with lock:
                    log.write(text + "\n")
                parts = text.split()
                if len(parts) == 2 and parts[0] == "REQ":
                    s.sendall(("OK %s\n" % parts[1]).encode())
    except (OSError, ssl.SSLError):
        pass

with open(portfile + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

FF_LOG=$TG_TMP/server.log
: > "$FF_LOG"
"$TG_PY" "$TG_TMP/server.py" "$TG_TMP/cert.pem" "$TG_TMP/key.pem" "$TG_TMP/port" "$FF_LOG" \
	> "$TG_TMP/server.err" 2>&1 &
FF_SERVER_PID=$!
for _ in $(seq 1 200); do
	[ -s "$TG_TMP/port" ] && break
	kill -0 "$FF_SERVER_PID" 2>/dev/null || break
	sleep 0.05
done
[ -s "$TG_TMP/port" ] ||
	{ fail forcefail_setup "server did not start: $(cat "$TG_TMP/server.err")"; tg_finish; }
FF_PORT=$(cat "$TG_TMP/port")

# The node client, the same protocol as ff_client: "ok n" / "err n CODE".
cat > "$TG_TMP/client.js" <<'EOF'
const tls = require('tls'), fs = require('fs');
const port = +process.argv[2], total = +process.argv[3], go = process.argv[4];
let n = 1;
setTimeout(() => { console.log('timeout'); process.exit(1); }, 60000).unref();
function waitGo(cb) {
	if (!go || fs.existsSync(go)) return cb();
	setTimeout(() => waitGo(cb), 10);
}
function conn() {
	const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
	let buf = '', over = false;
	const fail = (why) => {
		if (over) return;
		over = true;
		console.log(`err ${n} ${why}`);
		n++;
		s.destroy();
		if (n <= total) conn();
	};
	const next = () => {
		if (n > total) { over = true; s.destroy(); return; }
		s.write(`REQ ${n}\n`);
	};
	s.on('secureConnect', next);
	s.on('data', (d) => {
		buf += d;
		let i;
		while ((i = buf.indexOf('\n')) >= 0) {
			const line = buf.slice(0, i);
			buf = buf.slice(i + 1);
			if (line !== `OK ${n}`) return fail('reply');
			console.log(`ok ${n}`);
			n++;
			next();
		}
	});
	s.on('error', (e) => fail(e.code || e.message));
	s.on('close', () => fail('close'));
}
waitGo(conn);
EOF

# --- one run -------------------------------------------------------------------------

# Starts a client that waits for $TG_TMP/NAME.go; sets CPID, COUT.  Returns
# once the client's own program runs (not the forked shell before exec).
ff_start() {	# NAME CMD...
	local name=$1 exe
	shift
	exe=$(readlink -f "$(command -v "$1")")
	rm -f "$TG_TMP/$name.go"
	: > "$FF_LOG"
	COUT=$TG_TMP/$name.client
	"$@" > "$COUT" 2>&1 &
	CPID=$!
	GO=$TG_TMP/$name.go
	for _ in $(seq 1 200); do
		[ "$(readlink "/proc/$CPID/exe" 2>/dev/null)" = "$exe" ] && break
		sleep 0.01
	done
}

# Holds the client at the call that writes "REQ $K"; sets ENTRY, ENTRY_SP, ORIG.
ff_hold_call() {	# NAME LIB FUNC
	local out
	out=$(timeout 30 "$FF_HOLD" hold "$CPID" "$2" "$3" "REQ $K" "$GO" 2> "$TG_TMP/$1.hold.err") ||
		{ FF_WHY="hold failed: $(cat "$TG_TMP/$1.hold.err")"; return 1; }
	ENTRY=$(sed -n 's/.*\bentry=\(0x[0-9a-f]*\).*/\1/p' <<< "$out")
	ENTRY_SP=$(sed -n 's/.*\bentry_sp=\(0x[0-9a-f]*\).*/\1/p' <<< "$out")
	ORIG=$(sed -n 's/.*\borig=\(0x[0-9a-f]*\).*/\1/p' <<< "$out")
	tg_log "$1: $out"
	[ -n "$ENTRY" ] && [ -n "$ENTRY_SP" ] && [ -n "$ORIG" ] ||
		{ FF_WHY="hold printed '$out'"; return 1; }
}

# "State TracerPid" of the client's main thread.
ff_state() {
	awk '/^State:/ { s = $2 } /^TracerPid:/ { t = $2 } END { print s, t }' \
		"/proc/$CPID/status" 2>/dev/null
}

# Takes the int3 out, SIGCONT, waits for the client; sets CRC.
ff_release() {
	"$FF_HOLD" unpatch "$CPID" "$ENTRY" "$ORIG" || FF_WHY="unpatch failed"
	kill -CONT "$CPID"
	wait "$CPID"
	CRC=$?
}

# Checks the client's output: request $K as "$1" (a regex: the failed one, or
# "ok $K"), every other one ok, N lines, exit 0.  Sets FF_WHY.
ff_client_ok() {	# K_LINE_RE
	local i
	[ "$CRC" = 0 ] || { FF_WHY="client exited $CRC: $(tr '\n' '|' < "$COUT")"; return 1; }
	for i in $(seq 1 "$N"); do
		if [ "$i" = "$K" ]; then
			grep -qE "^$1\$" "$COUT" ||
				{ FF_WHY="request $K: want /$1/, got: $(tr '\n' '|' < "$COUT")"; return 1; }
		else
			grep -qx "ok $i" "$COUT" ||
				{ FF_WHY="no 'ok $i': $(tr '\n' '|' < "$COUT")"; return 1; }
		fi
	done
	[ "$(wc -l < "$COUT")" = "$N" ] || { FF_WHY="not $N lines: $(tr '\n' '|' < "$COUT")"; return 1; }
}

# What the server got for request $K: 0 or 1 times, as wanted.
ff_server_saw() {	# COUNT
	local got
	got=$(grep -cx "REQ $K" "$FF_LOG")
	[ "$got" = "$1" ] || { FF_WHY="server logged 'REQ $K' $got times, want $1"; return 1; }
	grep -qx "REQ $N" "$FF_LOG" || { FF_WHY="server never logged 'REQ $N'"; return 1; }
}

# A forced run: NAME LIB FUNC RETVAL RWSTATE K_LINE_RE CLIENT_CMD...
ff_forced() {
	local name=$1 lib=$2 func=$3 retval=$4 how=$5 want=$6 out frc st; shift 6
	FF_WHY=
	ff_start "$name" "$@"
	ff_hold_call "$name" "$lib" "$func" || { fail "$name" "$FF_WHY"; return; }
	# As under a uprobe, memory at the entry holds int3, not the code.
	local b
	b=$(dd if="/proc/$CPID/mem" bs=1 skip=$((ENTRY)) count=1 2>/dev/null | od -An -tx1 | tr -d ' ')
	[ "$b" = cc ] || FF_WHY="the byte at the entry is '$b', not int3 (cc)"
	out=$("$FF_HOLD" force "$CPID" "$CPID" "$ENTRY" "$ENTRY_SP" "$retval" "$how" 2>&1)
	frc=$?
	st=$(ff_state)
	ff_release
	tg_log "$name: force: $(tr '\n' ' ' <<< "$out")state '$st'"
	if [ "$frc" != 0 ]; then
		fail "$name" "forcefail: $(tr '\n' ' ' <<< "$out")"
	elif [ "$st" != "T 0" ]; then
		fail "$name" "after forcefail the thread is '$st', want stopped and untraced (T 0)"
	elif [ -n "$FF_WHY" ]; then
		fail "$name" "$FF_WHY"
	elif ! ff_client_ok "$want" || ! ff_server_saw 0; then
		fail "$name" "$FF_WHY"
	else
		pass "$name"
	fi
}

# A refused run: forcefail must fail with rc and a message matching re,
# leave the thread untraced and as it was, and the call must then go
# through.  NAME RC RE ENTRY_EXPR SP_EXPR CLIENT_CMD...  (*_EXPR: shell
# arithmetic on ENTRY / ENTRY_SP)
ff_refused() {
	local name=$1 rc=$2 re=$3 eexpr=$4 spexpr=$5 out frc st; shift 5
	FF_WHY=
	ff_start "$name" "$@"
	ff_hold_call "$name" libssl.so SSL_write || { fail "$name" "$FF_WHY"; return; }
	out=$("$FF_HOLD" force "$CPID" "$CPID" "$(printf 0x%x $((eexpr)))" \
		"$(printf 0x%x $((spexpr)))" -1 2>&1)
	frc=$?
	st=$(ff_state)
	ff_release
	tg_log "$name: force: $(tr '\n' ' ' <<< "$out")state '$st'"
	if [ "$frc" != 3 ] || ! grep -q "^refused $rc: .*$re" <<< "$out"; then
		fail "$name" "want 'refused $rc: ...$re...', got: $(tr '\n' ' ' <<< "$out")"
	elif [ "$st" != "T 0" ]; then
		fail "$name" "after the refusal the thread is '$st', want stopped and untraced (T 0)"
	elif [ -n "$FF_WHY" ]; then
		fail "$name" "$FF_WHY"
	elif ! ff_client_ok "ok $K" || ! ff_server_saw 1; then
		fail "$name" "$FF_WHY"
	else
		pass "$name"
	fi
}

C=("$FF_CLIENT" -t 30)

# --- forced ------------------------------------------------------------------------------
# -r: an input poll before each write leaves rwstate at SSL_READING, as in
# event-driven clients: only the rwstate reset turns the failure into
# SSL_ERROR_SYSCALL (5) rather than SSL_ERROR_WANT_READ (2).

ff_forced forcefail_ssl_write libssl.so SSL_write -1 auto "err $K 5 write" \
	"${C[@]}" -r -w "$TG_TMP/forcefail_ssl_write.go" "$FF_PORT" "$N"
ff_forced forcefail_ssl_write_ex libssl.so SSL_write_ex 0 auto "err $K 5 write" \
	"${C[@]}" -r -x -w "$TG_TMP/forcefail_ssl_write_ex.go" "$FF_PORT" "$N"
ff_forced forcefail_ssl_write_blocking libssl.so SSL_write -1 auto "err $K 5 write" \
	"${C[@]}" -w "$TG_TMP/forcefail_ssl_write_blocking.go" "$FF_PORT" "$N"
# Without the reset the client is told "want read": why forcefail resets it.
ff_forced forcefail_without_rwstate_reset_wants_read libssl.so SSL_write_ex 0 none \
	"err $K 2 write" \
	"${C[@]}" -r -x -w "$TG_TMP/forcefail_without_rwstate_reset_wants_read.go" "$FF_PORT" "$N"

# node 20 links OpenSSL 3.0 in statically: SSL_write starts with push %rbp.
if [ ! -x "$TG_NODE" ]; then
	skip forcefail_node "no $TG_NODE"
else
	node_lib=libssl.so
	nm -D "$TG_NODE" 2>/dev/null | grep -q ' T SSL_write$' && node_lib=$(readlink -f "$TG_NODE")
	ff_forced forcefail_node "$node_lib" SSL_write -1 auto "err $K E[A-Z]+" \
		"$TG_NODE" "$TG_TMP/client.js" "$FF_PORT" "$N" "$TG_TMP/forcefail_node.go"
fi

# --- refused -------------------------------------------------------------------------------

# entry + 1 in libssl's SSL_write (sub $0x18,%rsp) decodes as "83 ec 18 ...".
ff_refused refuse_unknown_prologue -95 "prologue .* not understood" 'ENTRY + 1' 'ENTRY_SP' \
	"${C[@]}" -r -w "$TG_TMP/refuse_unknown_prologue.go" "$FF_PORT" "$N"
ff_refused refuse_wrong_stack_pointer -22 "stack pointer 0x[0-9a-f]* is not entry_sp" \
	'ENTRY' 'ENTRY_SP + 16' \
	"${C[@]}" -r -w "$TG_TMP/refuse_wrong_stack_pointer.go" "$FF_PORT" "$N"

# A debugger (strace) attached: -EBUSY, and the client completes under it.
if ! command -v strace >/dev/null; then
	skip refuse_debugger "no strace"
else
	name=refuse_debugger
	FF_WHY=
	ff_start "$name" "${C[@]}" -r -w "$TG_TMP/$name.go" "$FF_PORT" "$N"
	if ! ff_hold_call "$name" libssl.so SSL_write; then
		fail "$name" "$FF_WHY"
	else
		strace -q -o "$TG_TMP/$name.strace" -p "$CPID" 2> "$TG_TMP/$name.strace.err" &
		spid=$!
		for _ in $(seq 1 100); do
			[ "$(ff_state | cut -d' ' -f2)" = "$spid" ] && break
			sleep 0.05
		done
		st_before=$(ff_state)
		out=$("$FF_HOLD" force "$CPID" "$CPID" "$ENTRY" "$ENTRY_SP" -1 2>&1)
		frc=$?
		st=$(ff_state)
		ff_release
		wait "$spid" 2>/dev/null
		tg_log "$name: force: $(tr '\n' ' ' <<< "$out")state '$st_before' -> '$st'"
		if [ "${st_before#* }" != "$spid" ]; then
			skip "$name" "strace did not attach: $(cat "$TG_TMP/$name.strace.err")"
		elif [ "$frc" != 3 ] || ! grep -q "^refused -16: a debugger is attached" <<< "$out"; then
			fail "$name" "want 'refused -16: a debugger is attached', got: $(tr '\n' ' ' <<< "$out")"
		elif [ "${st#* }" != "$spid" ]; then
			fail "$name" "tracer changed from strace ($spid) to '$st'"
		elif [ -n "$FF_WHY" ]; then
			fail "$name" "$FF_WHY"
		elif ! ff_client_ok "ok $K" || ! ff_server_saw 1; then
			fail "$name" "$FF_WHY"
		else
			pass "$name"
		fi
	fi
fi

# A thread that is not stopped is not seized (it would never report).
name=refuse_running
FF_WHY=
ff_start "$name" "${C[@]}" -r -w "$TG_TMP/$name.go" "$FF_PORT" "$N"
sleep 0.2	# waiting for the go file: state S
addr=$("$FF_HOLD" addr "$CPID" libssl.so SSL_write 2>&1)
out=$("$FF_HOLD" force "$CPID" "$CPID" "$addr" 0x7ffc00000008 -1 2>&1)
frc=$?
st=$(ff_state)
touch "$GO"
wait "$CPID"
CRC=$?
tg_log "$name: force: $(tr '\n' ' ' <<< "$out")state '$st'"
if [ "$frc" != 3 ] || ! grep -q "^refused -22: thread $CPID is not stopped" <<< "$out"; then
	fail "$name" "want 'refused -22: thread $CPID is not stopped', got: $(tr '\n' ' ' <<< "$out")"
elif [ "${st#* }" != 0 ]; then
	fail "$name" "the thread is traced after the refusal ('$st')"
elif ! ff_client_ok "ok $K" || ! ff_server_saw 1; then
	fail "$name" "$FF_WHY"
else
	pass "$name"
fi

# --- rwstate offset, against objdump's own reading of SSL_want ----------------------------

ff_rwstate_check() {	# NAME FILE
	local name=$1 file=$2 got addr want
	got=$("$FF_HOLD" rwstate "$file" 2>&1) || { fail "$name" "$got"; return; }
	if ! command -v objdump >/dev/null || ! command -v nm >/dev/null; then
		[ "$got" -ge 0 ] 2>/dev/null && pass "$name" || fail "$name" "got '$got'"
		return
	fi
	addr=$(nm -D "$file" 2>/dev/null | awk '$3 ~ /^SSL_want(@|$)/ { print $1; exit }')
	[ -n "$addr" ] || addr=$(nm "$file" 2>/dev/null | awk '$3 == "SSL_want" { print $1; exit }')
	[ -n "$addr" ] || { skip "$name" "no SSL_want symbol in $file"; return; }
	want=$(objdump -d --start-address=0x"$addr" --stop-address=$((0x$addr + 16)) "$file" |
		sed -n 's/.*mov[l]* *\(0x[0-9a-f]*\)(%rdi),%eax.*/\1/p' | head -n 1)
	tg_log "$name: $file SSL_want at 0x$addr: forcefail says $got, objdump ${want:-?}"
	if [ -z "$want" ]; then
		fail "$name" "objdump shows no mov disp(%rdi),%eax in SSL_want; forcefail said $got"
	elif [ "$got" != "$((want))" ]; then
		fail "$name" "forcefail says $got, objdump $((want))"
	else
		pass "$name"
	fi
}

libssl=$(ldd "$FF_CLIENT" | awk '$1 ~ /^libssl\.so/ { print $3; exit }')
if [ -n "$libssl" ]; then
	ff_rwstate_check rwstate_off_libssl "$(readlink -f "$libssl")"
else
	skip rwstate_off_libssl "ff_client links no libssl.so"
fi
if [ -x "$TG_NODE" ] && nm -D "$TG_NODE" 2>/dev/null | grep -q ' T SSL_want$'; then
	ff_rwstate_check rwstate_off_node "$(readlink -f "$TG_NODE")"
else
	skip rwstate_off_node "no node with OpenSSL linked in"
fi

tg_finish

# Shared helpers for tollgate's integration tests (bash).  Source it:
#
#	#!/bin/bash
#	. "$(dirname "$0")/lib/common.sh"
#	tg_require_root_btf			# SKIP the whole test without root / BTF
#	tg_setup				# provider up: TG_URL, TG_CA, ...
#	tg_trace_start "$TG_TMP/trace.jsonl" --cgroup /tollgate-test/a
#	tg_trace_wait_ready a			# canary calls until records flow
#	out=$(tg_in_cgroup a "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --stream)
#	pid=$(tg_json "$out" pid)
#	tg_check "$TG_TMP/trace.jsonl" --wait 10 --match pid="$pid" --match stream=true \
#		--expect-count 1 && pass py_stream || fail py_stream "no record"
#	tg_finish				# exit 1 if any fail was reported
#
# tg_setup installs an EXIT trap that runs tg_teardown (provider, tracer
# and test cgroups go away, the temp dir too unless TG_KEEP=1).  A test that
# sets its own EXIT trap must call tg_teardown from it.
#
# Results are lines "PASS name", "FAIL name: why", "SKIP name: why" on
# stdout, as tests/run.sh counts them.
#
# The provider is a background job of the test's shell: wait for your own
# jobs by pid (`wait $pid`), never with a bare `wait`, which would block on
# the provider.  tests/integ/lib/selftest.sh exercises all of this.

TG_TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
TG_BUILD=${BUILD:-build}
case "$TG_BUILD" in /*) ;; *) TG_BUILD=$TG_TOP/$TG_BUILD ;; esac
TG_BIN=${TG_BIN:-$TG_BUILD/tollgate}
TG_LIB=$TG_TOP/tests/integ/lib
TG_CLIENTS=$TG_TOP/tests/integ/clients
TG_PY=/usr/bin/python3		# Debian's: its ssl module uses /lib/.../libssl.so.3
TG_NODE=${TG_NODE:-/usr/bin/node}
TG_TEST=${TG_TEST:-$(basename "${0%.*}")}
TG_CGROUP_BASE=tollgate-test
TG_FAILS=0
TG_TMP=
TG_PROVIDER_PID=
TG_TRACE_PID=

# --- results -----------------------------------------------------------------

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: ${2:-failed}"; TG_FAILS=$((TG_FAILS + 1)); }
skip() { echo "SKIP $1: ${2:-skipped}"; }

# Exit with 1 if any fail was reported in this shell, else 0.
tg_finish() { [ "$TG_FAILS" = 0 ] && exit 0; exit 1; }

tg_log() { echo "# $*" >&2; }

# --- prerequisites -------------------------------------------------------------

# SKIP the whole test (and exit 0) unless root, BTF and a cgroup2 mount are
# there.  $1 = name for the SKIP line (default: the test's file name).
tg_require_root_btf() {
	local name=${1:-$TG_TEST}
	if [ "$(id -u)" != 0 ]; then
		skip "$name" "needs root (BPF uprobes)"; exit 0
	fi
	if [ ! -r /sys/kernel/btf/vmlinux ]; then
		skip "$name" "needs kernel BTF (/sys/kernel/btf/vmlinux missing)"; exit 0
	fi
	if [ -z "$(tg_cgroup_root)" ]; then
		skip "$name" "needs a cgroup2 mount"; exit 0
	fi
}

# FAIL (exit 1) unless build/tollgate exists: a missing agent is a broken
# build, not a machine that lacks something.
tg_require_bin() {
	local name=${1:-$TG_TEST}
	if [ ! -x "$TG_BIN" ]; then
		fail "$name" "$TG_BIN is missing (make)"; exit 1
	fi
}

# --- cgroups -----------------------------------------------------------------------

# The cgroup2 mount point: /sys/fs/cgroup on a unified host,
# /sys/fs/cgroup/unified on a hybrid one (this VM).  Empty if none.
tg_cgroup_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

# Make <cgroup2>/tollgate-test/NAME (NAME may have slashes) and print its path
# relative to the cgroup2 mount, as tollgate reports it: /tollgate-test/NAME.
# Cgroups made after tg_setup are remembered and removed by tg_teardown
# (only those: another run's test cgroups are left alone).
tg_cgroup_make() {
	local root; root=$(tg_cgroup_root)
	[ -n "$root" ] || { echo "tg_cgroup_make: no cgroup2 mount" >&2; return 1; }
	local top=${1%%/*} made=
	if [ ! -d "$root/$TG_CGROUP_BASE/$top" ]; then
		made=$top
	elif [ ! -d "$root/$TG_CGROUP_BASE/$1" ]; then
		made=$1
	fi
	mkdir -p "$root/$TG_CGROUP_BASE/$1" || return 1
	[ -n "$made" ] && [ -n "$TG_TMP" ] && [ -d "$TG_TMP" ] && echo "$made" >> "$TG_TMP/cgroups"
	echo "/$TG_CGROUP_BASE/$1"
}

# Absolute directory of test cgroup NAME.
tg_cgroup_dir() { echo "$(tg_cgroup_root)/$TG_CGROUP_BASE/$1"; }

# Run cmd inside test cgroup NAME (made if missing): a shell moves itself
# into the cgroup, then execs cmd, so cmd's pid is the one that moved and it
# never ran anywhere else.  Output and exit code are cmd's.  In the
# background (`tg_in_cgroup a cmd &`) or in $(...), $! / the pid is cmd's
# own: the subshell execs rather than forks.
tg_in_cgroup() {
	local name=$1; shift
	tg_cgroup_make "$name" >/dev/null || return 1
	local dir; dir=$(tg_cgroup_dir "$name")
	if [ "$BASHPID" != "$$" ]; then
		exec sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$dir" "$@"
	fi
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$dir" "$@"
}

# Pids in test cgroup NAME.
tg_cgroup_pids() { cat "$(tg_cgroup_dir "$1")/cgroup.procs" 2>/dev/null; }

# Kill the processes in test cgroup NAME and below, and remove them.
tg_cgroup_remove() {
	local root dir pid i
	root=$(tg_cgroup_root)
	[ -n "$root" ] && [ -n "$1" ] && [ -d "$root/$TG_CGROUP_BASE/$1" ] || return 0
	for dir in $(find "$root/$TG_CGROUP_BASE/$1" -depth -type d 2>/dev/null); do
		if [ -w "$dir/cgroup.kill" ]; then
			echo 1 > "$dir/cgroup.kill" 2>/dev/null
		else
			for pid in $(cat "$dir/cgroup.procs" 2>/dev/null); do
				kill -KILL "$pid" 2>/dev/null
			done
		fi
		for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			rmdir "$dir" 2>/dev/null && break
			sleep 0.1
		done
	done
	[ ! -d "$root/$TG_CGROUP_BASE/$1" ]
}

# Remove every test cgroup this run made (tg_cgroup_remove), the
# provider's too; then tollgate-test itself if no other run uses it.
tg_cgroup_cleanup() {
	local root name
	root=$(tg_cgroup_root)
	[ -n "$root" ] && [ -d "$root/$TG_CGROUP_BASE" ] || return 0
	if [ -n "$TG_TMP" ] && [ -s "$TG_TMP/cgroups" ]; then
		for name in $(sort -ru "$TG_TMP/cgroups"); do
			tg_cgroup_remove "$name"
		done
		: > "$TG_TMP/cgroups"
	fi
	rmdir "$root/$TG_CGROUP_BASE" 2>/dev/null	# fails while other runs use it
	return 0
}

# --- the provider --------------------------------------------------------------------

# Start the local HTTPS provider in a fresh temp dir and export:
#   TG_TMP  temp dir          TG_PORT  its port        TG_URL  https://127.0.0.1:PORT
#   TG_CA   CA file (PEM)      NODE_EXTRA_CA_CERTS=TG_CA (fetch / SDK clients)
#   SSL_CERT_FILE=TG_CA (python's default contexts; curl ignores it: use tg_curl
#   or curl --cacert "$TG_CA")
# The provider runs in test cgroup "provider-<shell pid>" when root, so a
# tracer scoped to other test cgroups never sees its (server-side) SSL calls;
# its comm is "tg-provider".  Its CA and certificate are made afresh in the
# private temp dir (never in a fixed /tmp path another user could plant).
tg_setup() {
	TG_TMP=$(mktemp -d /tmp/tollgate-integ.XXXXXX) || return 1
	export TG_TMP
	trap tg_teardown EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
	# discovery's cache in the test's own dir, not the host's /var/lib
	export TOLLGATE_CACHE_DIR=$TG_TMP/state/discover
	export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
	local certdir=$TG_TMP/certs
	local pf=$TG_TMP/provider.port
	local run=("$TG_PY" "$TG_LIB/provider.py" --certdir "$certdir" --portfile "$pf"
		--plain-portfile "$TG_TMP/provider.pport")
	[ -n "${TG_PROVIDER_VERBOSE:-}" ] && run+=(--verbose)
	if [ "$(id -u)" = 0 ] && [ -n "$(tg_cgroup_root)" ]; then
		tg_in_cgroup "provider-$$" "${run[@]}" > "$TG_TMP/provider.log" 2>&1 &
	else
		"${run[@]}" > "$TG_TMP/provider.log" 2>&1 &
	fi
	TG_PROVIDER_PID=$!
	local i
	for i in $(seq 1 200); do
		[ -s "$pf" ] && break
		if ! kill -0 "$TG_PROVIDER_PID" 2>/dev/null; then
			echo "tg_setup: provider died:" >&2
			sed 's/^/    | /' "$TG_TMP/provider.log" >&2
			return 1
		fi
		sleep 0.05
	done
	[ -s "$pf" ] || { echo "tg_setup: provider did not start in 10 s" >&2; return 1; }
	TG_PORT=$(cat "$pf")
	TG_CA=$certdir/ca.pem
	TG_URL=https://127.0.0.1:$TG_PORT
	export TG_PORT TG_CA TG_URL TG_PROVIDER_PID
	export NODE_EXTRA_CA_CERTS=$TG_CA SSL_CERT_FILE=$TG_CA
}

# The HTTP/2 front of the provider (after tg_setup): provider_h2.js speaks
# HTTP/2 and HTTP/1.1 over TLS (ALPN) and relays each request to the
# provider's plain-HTTP port, which no probe sees.  Sets TG_H2_URL.  With
# TG_PROVIDER_VERBOSE set, $TG_TMP/provider_h2.log has a line per request
# saying h2 or h1.
TG_H2_PID=
tg_h2_start() {
	local pf=$TG_TMP/provider_h2.port i
	local verbose=()
	[ -n "${TG_PROVIDER_VERBOSE:-}" ] && verbose=(--verbose)
	for i in $(seq 1 100); do
		[ -s "$TG_TMP/provider.pport" ] && break
		sleep 0.05
	done
	tg_in_cgroup "provider-$$" "$TG_NODE" "$TG_LIB/provider_h2.js" \
		--cert "$TG_TMP/certs/server.pem" --key "$TG_TMP/certs/server.key" \
		--upstream-port "$(cat "$TG_TMP/provider.pport")" --portfile "$pf" "${verbose[@]}" \
		> "$TG_TMP/provider_h2.log" 2>&1 &
	TG_H2_PID=$!
	for i in $(seq 1 200); do
		[ -s "$pf" ] && break
		kill -0 "$TG_H2_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$pf" ]; then
		echo "tg_h2_start: provider_h2.js did not start:" >&2
		sed 's/^/    | /' "$TG_TMP/provider_h2.log" >&2
		return 1
	fi
	TG_H2_URL=https://127.0.0.1:$(cat "$pf")
	export TG_H2_URL TG_H2_PID
}

# A WebSocket provider for the Responses API's WebSocket mode (after
# tg_setup): provider_ws.js, with permessage-deflate as MODE says (on, off,
# no-context-takeover; more arguments go to it).  Sets TG_WS_URL (the API
# base, https://127.0.0.1:PORT/v1).  Any earlier one is stopped first.
TG_WS_PID=
tg_ws_start() {
	local pf=$TG_TMP/provider_ws.port i
	tg_ws_stop
	rm -f "$pf"
	tg_in_cgroup "provider-$$" "$TG_NODE" "$TG_LIB/provider_ws.js" \
		--cert "$TG_TMP/certs/server.pem" --key "$TG_TMP/certs/server.key" \
		--portfile "$pf" --deflate "${1:-on}" "${@:2}" > "$TG_TMP/provider_ws.log" 2>&1 &
	TG_WS_PID=$!
	for i in $(seq 1 200); do
		[ -s "$pf" ] && break
		kill -0 "$TG_WS_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ ! -s "$pf" ]; then
		echo "tg_ws_start: provider_ws.js did not start:" >&2
		sed 's/^/    | /' "$TG_TMP/provider_ws.log" >&2
		return 1
	fi
	TG_WS_URL=https://127.0.0.1:$(cat "$pf")/v1
	export TG_WS_URL TG_WS_PID
}

tg_ws_stop() {
	[ -n "$TG_WS_PID" ] || return 0
	kill -TERM "$TG_WS_PID" 2>/dev/null
	wait "$TG_WS_PID" 2>/dev/null
	TG_WS_PID=
}

# Stop the tracer and provider, clean the test cgroups and the temp dir.
# Safe to call more than once and from a trap.
tg_teardown() {
	local rc=$?
	tg_trace_stop
	tg_ws_stop
	if [ -n "$TG_H2_PID" ]; then
		kill -TERM "$TG_H2_PID" 2>/dev/null
		wait "$TG_H2_PID" 2>/dev/null
		TG_H2_PID=
	fi
	if [ -n "$TG_PROVIDER_PID" ]; then
		kill -TERM "$TG_PROVIDER_PID" 2>/dev/null
		local i
		for i in $(seq 1 40); do
			kill -0 "$TG_PROVIDER_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$TG_PROVIDER_PID" 2>/dev/null
		wait "$TG_PROVIDER_PID" 2>/dev/null
		TG_PROVIDER_PID=
	fi
	tg_cgroup_cleanup
	if [ -n "$TG_TMP" ] && [ -d "$TG_TMP" ]; then
		if [ -n "${TG_KEEP:-}" ]; then
			echo "# kept $TG_TMP" >&2
		else
			rm -rf "$TG_TMP"
		fi
	fi
	TG_TMP=
	return $rc
}

# curl with the test CA, quiet but showing errors.
tg_curl() { curl -sS --cacert "$TG_CA" "$@"; }

# Value of a top-level key of a one-line JSON object: tg_json "$out" pid
tg_json() {
	"$TG_PY" -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list, bool)) else v))' "$1" "$2"
}

# EXPR (python, the JSON document on stdin as d), printed.
tg_jeval() { "$TG_PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# --- the tracer ----------------------------------------------------------------------------

# Start `tollgate trace --format jsonl [args]` in the background, stdout to
# FILE, stderr to FILE.err; sets TG_TRACE_PID.
tg_trace_start() {
	local out=$1; shift
	"$TG_BIN" trace --format jsonl "$@" > "$out" 2> "$out.err" &
	TG_TRACE_PID=$!
	TG_TRACE_OUT=$out
	export TG_TRACE_PID TG_TRACE_OUT
}

# Wait until the tracer records calls: make canary calls (py_http.py, model
# tg-canary-N, inside test cgroup CGROUP if given) until one shows up in the
# trace output.  Filter them out of assertions with --exclude model~tg-canary*.
# Timeout ${TG_READY_TIMEOUT:-30} s.  Returns 1 (and shows the tracer's
# stderr) if the tracer died or nothing was recorded.
tg_trace_wait_ready() {
	local cg=${1:-} n=0 deadline=$((SECONDS + ${TG_READY_TIMEOUT:-30}))
	while [ $SECONDS -lt $deadline ]; do
		if ! kill -0 "$TG_TRACE_PID" 2>/dev/null; then
			echo "tg_trace_wait_ready: tollgate exited:" >&2
			tail -n 20 "$TG_TRACE_OUT.err" | sed 's/^/    | /' >&2
			return 1
		fi
		n=$((n + 1))
		if [ -n "$cg" ]; then
			tg_in_cgroup "$cg" "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model "tg-canary-$n" >/dev/null 2>&1
		else
			"$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model "tg-canary-$n" >/dev/null 2>&1
		fi
		if "$TG_PY" "$TG_LIB/check_records.py" "$TG_TRACE_OUT" --quiet --allow-bad \
			--wait 1 --match 'model~tg-canary-*' --min-count 1; then
			return 0
		fi
	done
	echo "tg_trace_wait_ready: no canary record after ${TG_READY_TIMEOUT:-30} s" >&2
	tail -n 20 "$TG_TRACE_OUT.err" | sed 's/^/    | /' >&2
	return 1
}

# Stop the tracer: SIGINT (let it flush), then SIGKILL after 5 s.  Sets
# TG_TRACE_RC to its exit status (137 when it had to be killed) and returns
# it: a crash or a hang at shutdown is a failure.
TG_TRACE_RC=
tg_trace_stop() {
	[ -n "$TG_TRACE_PID" ] || return 0
	kill -INT "$TG_TRACE_PID" 2>/dev/null
	local i
	for i in $(seq 1 50); do
		kill -0 "$TG_TRACE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TG_TRACE_PID" 2>/dev/null
	wait "$TG_TRACE_PID" 2>/dev/null
	TG_TRACE_RC=$?
	TG_TRACE_PID=
	return $TG_TRACE_RC
}

# Value of counter KEY on the "tollgate: GROUP: k=v ..." line of FILE (the
# tracer's stderr; the last such line when there are several), or empty.
tg_counter() {	# FILE GROUP KEY
	sed -n "s/^tollgate: $2: //p" "$1" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# Checks counters after the tracer has stopped: each COND is GROUP.KEY OP N
# with OP one of = >= <= >.  Prints the conditions that do not hold (and
# returns 1), nothing when all do.
tg_counters_hold() {	# FILE COND...
	local file=$1 c bad=0 key op want got; shift
	for c in "$@"; do
		if [[ $c =~ ^([a-z0-9_]+)\.([a-z0-9_]+)(>=|<=|=|>)([0-9]+)$ ]]; then
			key=${BASH_REMATCH[1]}.${BASH_REMATCH[2]} op=${BASH_REMATCH[3]} want=${BASH_REMATCH[4]}
			got=$(tg_counter "$file" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
		else
			echo "bad condition $c"; bad=1; continue
		fi
		if [ -z "$got" ]; then
			echo "$key missing"; bad=1; continue
		fi
		case $op in
		=)  [ "$got" -eq "$want" ] ;;
		">=") [ "$got" -ge "$want" ] ;;
		"<=") [ "$got" -le "$want" ] ;;
		">") [ "$got" -gt "$want" ] ;;
		esac || { echo "$key=$got, want $op$want"; bad=1; }
	done
	return $bad
}

# Secrets the tests plant: API keys in every provider's form, the prompt
# filler.  None may appear in anything tollgate writes.
TG_SECRETS='sk-test-\|sk-ant-\|AIza\|SECRET\|lorem ipsum\|Authorization\|x-api-key\|x-goog-api-key'

# Fails NAME if a planted secret is in any of FILES.
tg_no_secrets() {	# NAME FILE...
	local name=$1; shift
	local hit
	hit=$(grep -il -- "$TG_SECRETS" "$@" 2>/dev/null)
	if [ -n "$hit" ]; then
		fail "$name" "a key, header or prompt text was written to $hit: $(grep -io -- "$TG_SECRETS" "$@" | sort -u | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# Assertions on jsonl records: tests/integ/lib/check_records.py, see its --help.
tg_check() { "$TG_PY" "$TG_LIB/check_records.py" "$@"; }

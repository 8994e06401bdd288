# A systemd service manager for the tests that start tollgate.service for
# real.  PID 1 here is not systemd, so the tests boot root's own service
# manager (`systemd --user` as uid 0: the same engine that runs system
# services and applies their sandboxing: capability bounding set,
# NoNewPrivileges, ProtectSystem, PrivateTmp, seccomp, ...) in a mount
# namespace of its own, with private /run, /var/lib and /var/log, and
# systemd-journald beside it for StandardError=journal (read it with
# `tg_svc journalctl -D /run/log/journal`).  It stays in the
# host's PID and network namespaces, as the agent must (it signals and
# traces the host's processes by their pids, and the provider is on the
# host's loopback).  Its cgroup is a test cgroup, so what it makes there
# goes with the test.
#
#   tg_svc_install         `make install DESTDIR=` a new root, the unit (its
#                          paths into that root) in $TG_TMP/units; the
#                          policy: teams canary and capped ($1 a day,
#                          block), calls at $450/Mtok; sets TG_SVC_ROOT,
#                          TG_SVC_UNITS, TG_SVC_POLICY (tg_svc_stop removes it)
#   tg_svc_start UNITDIR   boot it, with UNITDIR first in its unit path
#   tg_svc CMD...          run CMD in its namespace (systemctl --user, ...)
#   tg_svc_path PATH       the host's path to PATH as the manager sees it
#   tg_svc_stop            end it and everything it started
#   tg_svc_status [ARGS]   the installed `tollgate status` in its namespace
#   tg_svc_calls TEAM      TEAM's calls today, as status says
#   tg_svc_metering TRIES  canary calls until one shows in status
#   tg_svc_blocks TEAM root|nobody   5 calls against TEAM's $1: 3 go, 2 refused?
#   tg_svc_other_metered   nobody's Go call (team canary) shows in status?
#                          (the last two say what happened in TG_SVC_WHY)
#   tg_other_go TEAM       one call of the Go client run by another user
#                          (nobody) from a directory only it can read
#   tg_other_py TEAM OUT ARGS...  the keep-alive python client as nobody,
#                          with a libssl from that closed directory
# Needs root, unshare, nsenter and /lib/systemd/systemd (Debian: systemd).

TG_SVC_MGR= TG_SVC_ROOT= TG_SVC_UNITS= TG_SVC_POLICY=

tg_svc_why_not() {
	[ "$(id -u)" = 0 ] || { echo "needs root"; return 0; }
	[ -x /lib/systemd/systemd ] || { echo "no /lib/systemd/systemd (Debian package systemd)"; return 0; }
	[ -x /lib/systemd/systemd-journald ] || { echo "no systemd-journald"; return 0; }
	local t
	for t in systemctl journalctl unshare nsenter; do
		command -v $t >/dev/null || { echo "no $t"; return 0; }
	done
	[ -n "$(tg_cgroup_root)" ] || { echo "no cgroup2 mount"; return 0; }
	return 1
}

tg_svc_start() {
	local units=$1 dir=$TG_TMP/svc i
	mkdir -p "$dir"
	cat > "$dir/boot.sh" <<'BOOT'
#!/bin/sh
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0755 tmpfs /var/log
mkdir -p /run/systemd/system /run/systemd/journal
/lib/systemd/systemd-journald > /run/journald.log 2>&1 &
for i in $(seq 1 100); do [ -S /run/systemd/journal/stdout ] && break; sleep 0.05; done
# A user manager puts RuntimeDirectory= in $XDG_RUNTIME_DIR and
# StateDirectory= in $XDG_CONFIG_HOME (systemd 252): here /run and
# /var/lib, where the system manager puts them.
export XDG_RUNTIME_DIR=/run XDG_CONFIG_HOME=/var/lib SYSTEMD_UNIT_PATH="$1:"
exec /lib/systemd/systemd --user --log-target=journal-or-kmsg
BOOT
	tg_in_cgroup "svcmgr-$$" unshare -m sh "$dir/boot.sh" "$units" > "$dir/boot.log" 2>&1 &
	TG_SVC_MGR=
	for i in $(seq 1 100); do
		# the manager (it moves itself into init.scope below our cgroup)
		for p in $(pgrep -x systemd); do
			grep -q "/svcmgr-$$/" "/proc/$p/cgroup" 2>/dev/null && TG_SVC_MGR=$p
		done
		case $(tg_svc systemctl --user is-system-running 2>/dev/null) in
		running|degraded) return 0 ;;
		esac
		sleep 0.1
	done
	echo "tg_svc_start: the service manager did not come up:" >&2
	sed 's/^/    | /' "$dir/boot.log" >&2
	return 1
}

tg_svc() {
	[ -n "$TG_SVC_MGR" ] || return 1
	nsenter -t "$TG_SVC_MGR" -m env XDG_RUNTIME_DIR=/run "$@"
}

tg_svc_path() { echo "/proc/$TG_SVC_MGR/root$1"; }

tg_svc_stop() {
	local i
	if [ -n "$TG_SVC_MGR" ]; then
		tg_svc systemctl --user stop tollgate.service > /dev/null 2>&1
		kill -TERM "$TG_SVC_MGR" 2>/dev/null
		for i in $(seq 1 50); do kill -0 "$TG_SVC_MGR" 2>/dev/null || break; sleep 0.1; done
		tg_cgroup_remove "svcmgr-$$"
		TG_SVC_MGR=
	fi
	case $TG_SVC_ROOT in /var/cache/tollgate-service.*) rm -rf "$TG_SVC_ROOT" ;; esac
	TG_SVC_ROOT=
}

# The root is in /var/cache: neither /tmp nor /var/tmp (the unit's
# PrivateTmp hides them, and the checkout may be there), nor the manager's
# own /var/lib, /var/log and /run.
tg_svc_install() {
	local r
	r=$(mktemp -d /var/cache/tollgate-service.XXXXXX) || return 1
	chmod 0755 "$r"
	TG_SVC_ROOT=$r
	make -s -C "$TG_TOP" BUILD="$BUILD" install DESTDIR="$r" > "$TG_TMP/install.log" 2>&1 ||
		{ tail -5 "$TG_TMP/install.log"; return 1; }
	TG_SVC_UNITS=$TG_TMP/units TG_SVC_POLICY=$r/etc/tollgate/policy.yaml
	# the state and runtime directories are the manager's own /var/lib, /run
	mkdir -p "$TG_SVC_UNITS"
	sed -e "s|/usr/local/sbin/tollgate|$r/usr/local/sbin/tollgate|g" \
	    -e "s|/etc/tollgate/policy.yaml|$TG_SVC_POLICY|g" \
		"$r/usr/local/lib/systemd/system/tollgate.service" > "$TG_SVC_UNITS/tollgate.service"
	# Calls cost $0.45 (an unknown model at $450/Mtok, 1,000 input
	# tokens): team capped may spend $1 a day.
	cat > "$TG_SVC_POLICY" <<EOF
version: 1
teams:
  - name: canary
    match: { cgroup: ["/tollgate-test/canary"] }
  - name: capped
    match: { cgroup: ["/tollgate-test/capped"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
  - name: others
    match: { cgroup: ["/tollgate-test/others"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
default_price: { input_per_mtok: 450, output_per_mtok: 450 }
EOF
	# Another user's clients, for what the agent needs to see and stop
	# processes that are not root's: the Go client, and the python client
	# with its own libssl (LD_LIBRARY_PATH), both in a directory closed to
	# everyone else (the agent reads the executable through /proc/PID/exe,
	# the library by its path: CAP_DAC_READ_SEARCH); resuming the python
	# client needs CAP_KILL.
	local so
	mkdir -p "$r/other/priv"
	cp "$TG_TOP/$BUILD/integ/go_llm" "$r/other/priv/go_llm" 2>/dev/null
	for so in $(ldd "$("$TG_PY" -c 'import _ssl; print(_ssl.__file__)')" |
		    awk '$1 ~ /^lib(ssl|crypto)\.so/ { print $3 }'); do
		cp "$so" "$r/other/priv/"
	done
	cp "$TG_CLIENTS/py_keepalive.py" "$TG_CA" "$r/other/"
	chown -R 65534:65534 "$r/other/priv"
	chmod 0700 "$r/other/priv"
	chmod -R a+rX "$r/other/py_keepalive.py" "$r/other/$(basename "$TG_CA")"
}

tg_other_go() {
	[ -x "$TG_SVC_ROOT/other/priv/go_llm" ] || { echo "no Go client ($TG_TOP/$BUILD/integ/go_llm)"; return 2; }
	tg_in_cgroup "$1" setpriv --reuid 65534 --regid 65534 --clear-groups \
		timeout 20 "$TG_SVC_ROOT/other/priv/go_llm" -url "$TG_URL/v1/chat/completions" -h1 \
		-ca "$TG_SVC_ROOT/other/$(basename "$TG_CA")" -delay-ms 300 -header "X-Test-Usage: prompt=1000"
}

tg_other_py() {
	local team=$1 out=$2; shift 2
	tg_in_cgroup "$team" setpriv --reuid 65534 --regid 65534 --clear-groups \
		env LD_LIBRARY_PATH="$TG_SVC_ROOT/other/priv" timeout 30 \
		"$TG_PY" "$TG_SVC_ROOT/other/py_keepalive.py" "$TG_URL" \
		"$TG_SVC_ROOT/other/$(basename "$TG_CA")" --model tg-other-model "$@" > "$out" 2>&1
}

tg_svc_status() { tg_svc "$TG_SVC_ROOT/usr/local/sbin/tollgate" status "$@"; }

tg_svc_calls() {
	tg_svc_status --json 2>/dev/null |
		tg_jeval "[t['requests_today'] for t in d['teams'] if t['name'] == '$1'][0]" 2>/dev/null
}

tg_svc_metering() {
	local n
	for n in $(seq 1 "$1"); do
		tg_in_cgroup canary "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" \
			--model "tg-canary-$n" > /dev/null 2>&1
		[ "$(tg_svc_calls canary)" -ge 1 ] 2>/dev/null && return 0
		sleep 0.3
	done
	return 1
}

# The keep-alive client's 5 calls for TEAM, as root or as nobody (with its
# own libssl): blocked at the team's $1 (calls cost $0.45) when 3 reach the
# provider, 2 are refused and the client exits 0.
tg_svc_blocks() {
	local team=$1 out=$TG_TMP/$1.out rc l0 l1 ok err
	l0=$(tg_json "$(tg_curl "$TG_URL/__test/stats")" llm_requests)
	if [ "$2" = nobody ]; then
		tg_other_py "$team" "$out" --calls 5
	else
		tg_in_cgroup "$team" "$TG_PY" "$TG_CLIENTS/py_keepalive.py" "$TG_URL" "$TG_CA" \
			--model tg-svc-model --calls 5 > "$out" 2>&1
	fi
	rc=$?
	l1=$(tg_json "$(tg_curl "$TG_URL/__test/stats")" llm_requests)
	ok=$(grep -c '"status": 200' "$out") err=$(grep -c '"error": "' "$out")
	TG_SVC_WHY="client rc $rc, provider got $((l1 - l0)), client saw $ok ok / $err errors"
	[ "$rc" = 0 ] && [ $((l1 - l0)) = 3 ] && [ "$ok" = 3 ] && [ "$err" = 2 ]
}

tg_svc_other_metered() {
	local c0 c1 i o rc
	c0=$(tg_svc_calls canary)
	o=$(tg_other_go canary 2>&1)
	rc=$?
	c1=$c0
	for i in $(seq 1 25); do
		c1=$(tg_svc_calls canary)
		[ "$c1" -gt "$c0" ] 2>/dev/null && break
		sleep 0.2
	done
	TG_SVC_WHY="Go client rc $rc ($(tail -1 <<<"$o")), canary calls $c0 -> $c1"
	[ "$rc" = 0 ] && [ "$c1" = $((c0 + 1)) ]
}

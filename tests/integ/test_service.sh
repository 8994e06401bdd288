#!/bin/bash
# tollgate.service as installed by `make install`, started for real by
# systemd's service manager (lib/service.sh: root's own manager in a mount
# namespace of its own, since PID 1 here is not systemd), with the unit's
# whole sandbox applied.  Under it the agent: starts and says what it uses
# in the journal; meters a call; blocks a team at its budget (the hold,
# ptrace and process_vm_readv under the reduced capability set), also
# another user's processes, one in a directory closed to root; answers
# `tollgate status` on /run/tollgate/tollgate.sock; reloads on `systemctl
# reload` (and keeps its policy when the new one is invalid); is restarted
# by Restart=on-failure after a SIGKILL with its spend restored from the
# ledger in /var/lib/tollgate; stops cleanly.  Also: the sandbox really is
# what the unit says (capabilities, no new privileges, read-only system).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/service.sh"
tg_require_root_btf
tg_require_bin
if why=$(tg_svc_why_not); then
	skip service "$why"
	tg_finish
fi
tg_setup || { fail service_setup "provider did not start"; tg_finish; }
trap 'tg_svc_stop; tg_teardown' EXIT

if ! tg_svc_install > "$TG_TMP/svc_install.err"; then
	fail service_install "$(cat "$TG_TMP/svc_install.err")"
	tg_finish
fi
UNITS=$TG_SVC_UNITS POL=$TG_SVC_POLICY R=$TG_SVC_ROOT

tg_svc_start "$UNITS" || { fail service_manager "did not start"; tg_finish; }
sctl() { tg_svc systemctl --user "$@"; }
journal() { tg_svc journalctl -D /run/log/journal --no-pager -o cat -t tollgate; }
status() { tg_svc_status "$@"; }
main_pid() { sctl show -p MainPID --value tollgate.service; }
field() { tg_jeval "$1"; }
# Wait until status answers (for agent pid $1 if given).
answering() {
	local i p
	for i in $(seq 1 150); do
		p=$(status --json 2>/dev/null | field 'd["pid"]' 2>/dev/null)
		[ -n "$p" ] && { [ -z "${1:-}" ] || [ "$p" = "$1" ]; } && return 0
		sleep 0.2
	done
	return 1
}
KA=$TG_CLIENTS/py_keepalive.py
ka() {	# TEAM OUT [ARGS...]
	local team=$1 out=$2; shift 2
	tg_in_cgroup "$team" "$TG_PY" "$KA" "$TG_URL" "$TG_CA" --model tg-svc-model "$@" > "$out" 2>&1
}

# --- start --------------------------------------------------------------------
sctl start tollgate.service
if answering && [ "$(sctl is-active tollgate.service)" = active ]; then
	pass service_started
else
	fail service_started "$(sctl status tollgate.service --no-pager 2>&1 | tail -15)"
	tg_finish
fi
PID=$(main_pid)
# The journal has its start-up: kernel features, policy, ledger, metrics.
j=$(journal)
if grep -q "^tollgate: info: kernel .*: uses BTF, uprobe_multi" <<<"$j" &&
   grep -q "^tollgate: info: policy $POL: 3 teams" <<<"$j" &&
   grep -q "^tollgate: info: ledger /var/lib/tollgate/ledger.db" <<<"$j" &&
   grep -q "^tollgate: info: metrics on http://127.0.0.1:9464/metrics" <<<"$j" &&
   grep -q "^tollgate: info: status on /run/tollgate/tollgate.sock" <<<"$j"; then
	pass service_journal
else
	fail service_journal "$(head -20 <<<"$j")"
fi

# The sandbox is the unit's: capabilities, no new privileges, / read-only,
# the state directory writable and 0700, a private /tmp.
want=$("$TG_PY" -c '
caps = {"CAP_DAC_READ_SEARCH": 2, "CAP_KILL": 5, "CAP_SYS_PTRACE": 19, "CAP_PERFMON": 38,
        "CAP_BPF": 39}
print("%016x" % sum(1 << b for b in caps.values()))')
bnd=$(sed -n 's/^CapBnd:\t//p' "/proc/$PID/status") nnp=$(sed -n 's/^NoNewPrivs:\t//p' "/proc/$PID/status")
rootro=$(awk '$5 == "/" { print $6 }' "/proc/$PID/mountinfo" | cut -d, -f1)
statero=$(awk '$5 == "/var/lib/tollgate" { print $6 }' "/proc/$PID/mountinfo" | cut -d, -f1 | tail -1)
tmpns=$(awk '$5 == "/tmp" { print $4 }' "/proc/$PID/mountinfo" | tail -1)
smode=$(stat -c %a "$(tg_svc_path /var/lib/tollgate)")
if [ "$bnd" = "$want" ] && [ "$nnp" = 1 ] && [ "$rootro" = ro ] && [ "$statero" = rw ] &&
   [ -n "$tmpns" ] && [ "$smode" = 700 ]; then
	pass service_sandbox
else
	fail service_sandbox "CapBnd $bnd (want $want), NoNewPrivs $nnp, / $rootro, state $statero mode $smode, /tmp ${tmpns:-shared}"
fi

# --- meter and enforce under the sandbox --------------------------------------------
tg_svc_metering 30 && pass service_meters ||
	fail service_meters "no call of team canary in status: $(status 2>&1 | tail -5)"
if tg_svc_blocks capped root; then
	pass service_blocks
else
	fail service_blocks "$TG_SVC_WHY; $(journal | grep -i block | tail -3)"
fi

# Another user's processes (nobody's): its Go client, in a directory only
# it can read, is probed and metered (CAP_DAC_READ_SEARCH); its python
# client is held, blocked and resumed at its team's budget (CAP_KILL).
tg_svc_other_metered; go=$? gowhy=$TG_SVC_WHY
tg_svc_blocks others nobody; py=$?
if [ "$go" = 0 ] && [ "$py" = 0 ]; then
	pass service_other_user
else
	fail service_other_user "$gowhy; python: $TG_SVC_WHY; $(journal | grep -E "found in|cannot|other" | tail -4 | tr '\n' '|')"
fi

# --- reload -----------------------------------------------------------------------
cp "$POL" "$TG_TMP/policy.good"
printf 'teams:\n  - name: [oops\n' >> "$POL"
sctl reload tollgate.service
sleep 1
if [ "$(sctl is-active tollgate.service)" = active ] && [ "$(main_pid)" = "$PID" ] &&
   journal | grep -q "policy: $POL:[0-9]*:[0-9]*: " &&
   [ "$(status --json | field 'len(d["teams"])')" = 3 ]; then
	pass service_reload_invalid
else
	fail service_reload_invalid "$(journal | tail -3)"
fi
cp "$TG_TMP/policy.good" "$POL"
sed -i 's/^default_price/  - name: added\n    match: { cgroup: ["\/tollgate-test\/added"] }\ndefault_price/' "$POL"
sctl reload tollgate.service
teams=
for i in $(seq 1 30); do
	teams=$(status --json | field '",".join(t["name"] for t in d["teams"])')
	[ "$teams" = "canary,capped,others,added" ] && break
	sleep 0.2
done
[ "$teams" = "canary,capped,others,added" ] && [ "$(main_pid)" = "$PID" ] && pass service_reload ||
	fail service_reload "teams $teams; $(journal | tail -3)"

# --- Restart=on-failure, spend restored -------------------------------------------
before=$(tg_svc_calls capped)
kill -KILL "$PID"
npid=
for i in $(seq 1 100); do
	npid=$(main_pid)
	[ -n "$npid" ] && [ "$npid" != 0 ] && [ "$npid" != "$PID" ] && answering "$npid" && break
	sleep 0.1
done
after=$(tg_svc_calls capped)
if [ -n "$npid" ] && [ "$npid" != "$PID" ] && [ "$(sctl is-active tollgate.service)" = active ] &&
   [ "$after" = "$before" ] && [ "$(sctl show -p NRestarts --value tollgate.service)" = 1 ]; then
	pass service_restarted
else
	fail service_restarted "pid $PID -> ${npid:-none}, calls of capped $before -> ${after:-?}"
fi
# ... and still at its limit: the next request is refused.
ka capped "$TG_TMP/capped2.out" --calls 1
grep -q '"error": "' "$TG_TMP/capped2.out" && pass service_budget_kept ||
	fail service_budget_kept "$(cat "$TG_TMP/capped2.out")"

# --- stop -------------------------------------------------------------------------
sctl stop tollgate.service
st=$(sctl show -p Result --value tollgate.service)
if [ "$(sctl is-active tollgate.service)" = inactive ] && [ "$st" = success ] &&
   [ ! -e "$(tg_svc_path /run/tollgate/tollgate.sock)" ] && journal | grep -q "^tollgate: enforce: "; then
	pass service_stopped
else
	fail service_stopped "active $(sctl is-active tollgate.service), result $st"
fi
tg_finish

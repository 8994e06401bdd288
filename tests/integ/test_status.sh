#!/bin/bash
# `tollgate status` against the real agent: it says at start which kernel
# features it uses, and answers over its root-only Unix socket with its
# uptime, policy, ledger, metrics address, probes, counters, each team's
# spend today (as the ledger has it) and budget state, and the requests it
# holds.  Also: non-root peers get nothing; a socket left by a killed
# agent is replaced; a second agent does not take over a live one's; the
# socket is gone when the agent stops; SIGHUP's new policy shows.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin
tg_setup || { fail status_setup "provider did not start"; tg_finish; }
KA=$TG_CLIENTS/py_keepalive.py
DB=$TG_TMP/state/ledger.db
# beside TG_TMP (0700), so that another user can reach it (status_root_only)
SDIR=$(mktemp -d /tmp/tollgate-status.XXXXXX)
chmod 0755 "$SDIR"
trap 'rm -rf "$SDIR"; tg_teardown' EXIT
SOCK=$SDIR/run/tollgate.sock
POL=$TG_TMP/policy.yaml
mkdir -p "$TG_TMP/state"
chmod 0700 "$TG_TMP/state"

# Calls cost $0.45: an unknown model at $450/Mtok, 1,000 input tokens.
cat > "$POL" <<EOF
version: 1
teams:
  - name: canary
    match: { cgroup: ["/tollgate-test/canary"] }
  - name: capped
    match: { cgroup: ["/tollgate-test/capped"] }
    budgets:
      - { window: day, limit_usd: 10, action: block }
      - { window: hour, limit_tokens: 100000, action: alert }
  - name: slow
    match: { cgroup: ["/tollgate-test/slow"] }
    rate_limits: { requests_per_minute: 4 }
default_price: { input_per_mtok: 450, output_per_mtok: 450 }
hold_timeout: 30s
EOF

status() { "$TG_BIN" status --socket "$SOCK" "$@"; }
field() { tg_jeval "$1"; }

"$TG_BIN" run --policy "$POL" --db "$DB" --metrics 127.0.0.1:0 --socket "$SOCK" \
	--events "$TG_TMP/ev.jsonl" > /dev/null 2> "$TG_TMP/run.err" &
TG_TRACE_PID=$! TG_TRACE_OUT=$TG_TMP/ev.jsonl
if ! tg_trace_wait_ready canary; then
	fail status_agent "agent not ready"
	tg_finish
fi

# Start-up: the kernel features found and used, the status socket.
if grep -q "info: kernel .*: uses BTF, uprobe_multi, ring buffer, task storage, tracepoints, bpf_send_signal" "$TG_TMP/run.err" &&
   grep -q "info: status on $SOCK" "$TG_TMP/run.err" &&
   grep -q "info: metrics on http://127.0.0.1:[0-9]*/metrics" "$TG_TMP/run.err" &&
   grep -q "info: ledger $DB" "$TG_TMP/run.err" && grep -q "info: policy $POL: 3 teams" "$TG_TMP/run.err"; then
	pass status_startup_says
else
	fail status_startup_says "$(grep info: "$TG_TMP/run.err" | head -12)"
fi
mode=$(stat -c %a "$SOCK") dmode=$(stat -c %a "$(dirname "$SOCK")")
[ "$mode" = 600 ] && [ "$dmode" = 700 ] && pass status_socket_modes ||
	fail status_socket_modes "socket $mode, directory $dmode"

# Two calls of team capped: $0.90 today.
tg_in_cgroup capped "$TG_PY" "$KA" "$TG_URL" "$TG_CA" --model tg-status-model --calls 2 \
	> "$TG_TMP/capped.out" 2>&1
tg_check "$TG_TMP/ev.jsonl" --quiet --wait 10 --match team=capped --min-count 2 >/dev/null 2>&1
sleep 1.5	# the ledger's writer commits in small batches

if js=$(status --json) && "$TG_PY" - "$js" "$POL" "$DB" "$TG_TRACE_PID" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
pol, db, pid = sys.argv[2], sys.argv[3], int(sys.argv[4])
bad = []
def want(cond, what):
    if not cond:
        bad.append(what)
want(d["pid"] == pid and d["policy"] == pol and d["ledger"] == db, "pid/policy/ledger %r" % d)
want(d["mode"] == "enforce" and d["uptime_ns"] > 0 and d["version"], "mode/uptime/version")
want(d["metrics"].startswith("127.0.0.1:"), "metrics %r" % d["metrics"])
k = d["kernel"]
want({"BTF", "uprobe_multi", "ring buffer"} <= set(k["found"]), "kernel %r" % k)
c = d["counters"]
want(c["probes"]["targets"] >= 1 and c["probes"]["links"] >= 1, "probes %r" % c["probes"])
want(c["agent"]["records"] >= 3, "records %r" % c["agent"])
want("ringbuf_drops" in c["counters"] and "gaps" in c["counters"], "kernel counters")
t = {x["name"]: x for x in d["teams"]}
want(set(t) == {"canary", "capped", "slow"}, "teams %r" % list(t))
cap = t["capped"]
want(cap["requests_today"] == 2 and cap["spend_today_nano"] == 900000000,
     "capped today %r" % cap)
b = {x["window"]: x for x in cap["budgets"]}
want(b["day"]["unit"] == "nano_usd" and b["day"]["spent"] == 900000000 and
     b["day"]["limit"] == 10000000000 and b["day"]["action"] == "block" and
     b["day"]["state"] == "ok", "day budget %r" % b.get("day"))
want(b["hour"]["unit"] == "tokens" and b["hour"]["spent"] == 2000 and
     b["hour"]["limit"] == 100000, "hour budget %r" % b.get("hour"))
want(d["held"] == [], "held %r" % d["held"])
if bad:
    sys.exit("; ".join(bad))
PY
then
	pass status_json
else
	fail status_json "${js:0:300}"
fi

# The same as text, for a person.
if txt=$(status) && grep -q "^tollgate .*, pid $TG_TRACE_PID, up .*, enforce$" <<<"$txt" &&
   grep -q "^policy   $POL$" <<<"$txt" && grep -q "^ledger   $DB$" <<<"$txt" &&
   grep -q "^  uses     BTF, uprobe_multi" <<<"$txt" &&
   grep -Eq '^capped +2 +\$0\.90 +day +\$0\.90 +\$10\.00 +9% +block +ok$' <<<"$txt" &&
   grep -Eq '^ +hour +2000 tok +100000 tok +2% +alert +ok$' <<<"$txt" &&
   grep -q "^no request held$" <<<"$txt"; then
	pass status_text
else
	fail status_text "$(printf '%s' "$txt" | head -20)"
fi

# A request held (throttled: 4 a minute, the second waits ~15 s): listed
# with its process, team, model and state while it waits.
tg_in_cgroup slow "$TG_PY" "$KA" "$TG_URL" "$TG_CA" --model tg-held-model --calls 2 \
	> "$TG_TMP/slow.out" 2>&1 &
slow=$!
for i in $(seq 1 50); do
	[ "$(status --json | field 'd["held"]')" != "[]" ] && break
	sleep 0.2
done
if js=$(status --json) && "$TG_PY" - "$js" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
h = d["held"]
# (python writes the head apart from the body: held at the head, before
# the model is known)
ok = len(h) == 1 and h[0]["team"] == "slow" and h[0]["model"] in ("tg-held-model", None) and \
     h[0]["state"] == "throttled" and h[0]["comm"].startswith("python") and h[0]["held_ns"] > 0
sys.exit(0 if ok else "held %r" % h)
PY
then
	txt=$(status)
	if grep -Eq "^[0-9]+ +python[^ ]* +slow +(tg-held-model|-) +throttled +[0-9.]+s$" <<<"$txt"; then
		pass status_held
	else
		fail status_held "$(printf '%s' "$txt" | tail -3)"
	fi
else
	fail status_held "${js:0:400}"
fi
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null

# Only root is answered: a socket opened to others is still refused by
# the agent (SO_PEERCRED), and status says so.
sdir=$(dirname "$SOCK")
chmod 0755 "$sdir" && chmod 0666 "$SOCK"
msg=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$TG_BIN" status --socket "$SOCK" 2>&1); rc=$?
chmod 0700 "$sdir" && chmod 0600 "$SOCK"
refused=$(status --json | field 'd["counters"]["control"]["refused"]')
[ "$rc" = 1 ] && [ "$refused" = 1 ] && ! grep -q '"teams"' <<<"$msg" && pass status_root_only ||
	fail status_root_only "rc $rc, refused $refused: $msg"

# A second agent does not take over the socket of a live one.
msg=$(timeout 20 "$TG_BIN" run --policy "$POL" --db off --metrics off --socket "$SOCK" 2>&1); rc=$?
[ "$rc" != 0 ] && grep -q "status socket: $SOCK: another agent is answering there" <<<"$msg" &&
	status > /dev/null && pass status_one_agent || fail status_one_agent "rc $rc: $(tail -2 <<<"$msg")"

# SIGHUP: the new policy's teams are what status shows.
sed -i '/name: slow/,$d' "$POL"
echo "default_price: { input_per_mtok: 450, output_per_mtok: 450 }" >> "$POL"
kill -HUP "$TG_TRACE_PID"
teams=
for i in $(seq 1 30); do
	teams=$(status --json | field '",".join(t["name"] for t in d["teams"])')
	[ "$teams" = "canary,capped" ] && break
	sleep 0.2
done
[ "$teams" = "canary,capped" ] && pass status_after_reload || fail status_after_reload "teams $teams"

# Stopped: the socket is removed and status says no agent answers (1).
tg_trace_stop
msg=$(status 2>&1); rc=$?
[ ! -e "$SOCK" ] && [ "$rc" = 1 ] && grep -q "no agent answers" <<<"$msg" && pass status_no_agent ||
	fail status_no_agent "rc $rc: $msg"

# Killed: its socket stays, and the next agent replaces it.
"$TG_BIN" run --policy "$POL" --db off --metrics off --socket "$SOCK" > /dev/null 2> "$TG_TMP/run2.err" &
p=$!
for i in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
kill -KILL "$p"; wait "$p" 2>/dev/null
"$TG_BIN" run --policy "$POL" --db off --metrics off --socket "$SOCK" > /dev/null 2> "$TG_TMP/run3.err" &
TG_TRACE_PID=$!
ok=
for i in $(seq 1 100); do
	pid=$(status --json 2>/dev/null | field 'd["pid"]' 2>/dev/null)
	[ "$pid" = "$TG_TRACE_PID" ] && { ok=1; break; }
	sleep 0.1
done
tg_trace_stop
[ -n "$ok" ] && pass status_stale_socket || fail status_stale_socket "$(tail -3 "$TG_TMP/run3.err")"

# Misuse.
status --bogus > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] && pass status_usage || fail status_usage "rc $rc"
tg_finish

#!/bin/bash
# Budgets and enforcement (DESIGN §7) with real cgroups, real clients and
# the real agent.  Calls cost $0.45 each: the model is unknown, so priced at
# the policy's default price ($450 per million tokens), and the provider
# reports 1,000 input tokens (X-Test-Usage).
#  - block: a keep-alive python client of a team over its $1.00/day budget
#    sends 6 requests back to back: the provider receives exactly 3 (not a
#    byte of the others), the client sees errors for the rest and exits 0;
#  - kill: the same with action kill: 3 reach the provider, the process
#    dies by SIGKILL; a team without a budget sends all 6;
#  - concurrency: 8 processes race the same budget: at most one request
#    past the crossing (3 in all);
#  - throttle: 120 requests/min holds a client sending as fast as it can to
#    within 10% of that over 15 s; a process of another team is not slowed;
#  - model deny, max_tokens_cap, loop guard: refused, the rest goes on;
#  - soft thresholds run the alert hook once each, with the right JSON;
#  - SIGHUP: an invalid policy is refused with FILE:LINE:COL and the old
#    one stays; a valid one takes effect;
#  - a restart mid-window restores the spend: enforcement goes on;
#  - the agent SIGKILLed while it holds a process: the next agent resumes it;
#  - monitor mode (and --dry-run) reports and takes no action;
#  - HTTP/2 (curl, node) and Go clients meet the same hard stop.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin
tg_setup || { fail enforce_setup "provider did not start"; tg_finish; }
KA=$TG_CLIENTS/py_keepalive.py
DB=$TG_TMP/state/ledger.db
N=0

# policy FILE YAML-BODY: teams and the rest; the default price is added,
# and a team of its own for the readiness canary (run probes only the
# processes the policy's teams match).
policy() {
	{
		echo "version: 1"
		sed '/^teams:$/a\  - name: canary\n    match: { cgroup: ["/tollgate-test/canary"] }'
		echo "default_price: { input_per_mtok: 450, output_per_mtok: 450 }"
	} > "$1"
}

# agent POLICY [ARGS...]: start `run` with a fresh events file; wait until
# a canary call (team canary, no rules) is metered.
agent() {
	local pol=$1; shift
	N=$((N + 1))
	EV=$TG_TMP/ev.$N.jsonl
	"$TG_BIN" run --policy "$pol" --db "$DB" --metrics off --socket "$TG_TMP/tollgate.sock" --events "$EV" "$@" \
		> /dev/null 2> "$EV.err" &
	TG_TRACE_PID=$! TG_TRACE_OUT=$EV
	tg_trace_wait_ready canary && return 0
	tg_trace_stop
	return 1
}

stats() { tg_curl "$TG_URL/__test/stats"; }
llm_count() { tg_json "$(stats)" llm_requests; }

# ka TEAM OUT [ARGS...]: the keep-alive client in test cgroup TEAM.
ka() {
	local team=$1 out=$2; shift 2
	tg_in_cgroup "$team" "$TG_PY" "$KA" "$TG_URL" "$TG_CA" --model tg-enf-model "$@" > "$out" 2>&1
}

ok_count() { grep -c '"status": 200' "$1"; }
err_count() { grep -c '"error": "' "$1"; }

# events FILE KIND ACTION: lines of the events file with event KIND
# (and action ACTION).
events() {
	"$TG_PY" - "$@" <<'PY'
import json, sys
path, kind = sys.argv[1], sys.argv[2]
want = sys.argv[3] if len(sys.argv) > 3 else None
n = 0
for line in open(path):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == kind and (want is None or e.get("action") == want):
        n += 1
print(n)
PY
}

mkdir -p "$TG_TMP/state"
chmod 0700 "$TG_TMP/state"

# --- block, kill, no budget ---------------------------------------------------------
policy "$TG_TMP/block.yaml" <<EOF
teams:
  - name: capped
    match: { cgroup: ["/tollgate-test/capped"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
  - name: killer
    match: { cgroup: ["/tollgate-test/killer"] }
    budgets:
      - { window: day, limit_usd: 1, action: kill }
  - name: free
    match: { cgroup: ["/tollgate-test/free"] }
  - name: group
    match: { cgroup: ["/tollgate-test/group"] }
    kill_scope: cgroup
    budgets:
      - { window: day, limit_usd: 1, action: kill }
EOF
if agent "$TG_TMP/block.yaml"; then
	s0=$(stats)
	ka capped "$TG_TMP/block.out" --calls 6; rc=$?
	s1=$(stats)
	l0=$(tg_json "$s0" llm_requests) r0=$(tg_json "$s0" requests)
	l1=$(tg_json "$s1" llm_requests) r1=$(tg_json "$s1" requests)
	# requests: every request line the provider read, the stats query too
	r1=$((r1 - 1))
	if [ "$rc" = 0 ] && [ $((l1 - l0)) = 3 ] && [ $((r1 - r0)) = 3 ] &&
	   [ "$(ok_count "$TG_TMP/block.out")" = 3 ] && [ "$(err_count "$TG_TMP/block.out")" = 3 ]; then
		pass enforce_block
	else
		fail enforce_block "rc $rc, provider got $((l1 - l0)) calls, $((r1 - r0)) requests: $(tr '\n' ' ' < "$TG_TMP/block.out")"
	fi
	sleep 1.2
	n=$(events "$EV" action block)
	[ "$n" = 3 ] && grep -q '"why":"budget".*"limit_usd":1.000000000.*"ok":true' "$EV" &&
		pass enforce_block_events || fail enforce_block_events "$n block events: $(grep event "$EV" | head -3)"

	l0=$(llm_count)
	ka killer "$TG_TMP/kill.out" --calls 6; rc=$?
	l1=$(llm_count)
	if [ "$rc" = 137 ] && [ $((l1 - l0)) = 3 ] && [ "$(ok_count "$TG_TMP/kill.out")" = 3 ]; then
		pass enforce_kill
	else
		fail enforce_kill "rc $rc, provider got $((l1 - l0)): $(tr '\n' ' ' < "$TG_TMP/kill.out")"
	fi

	l0=$(llm_count)
	ka free "$TG_TMP/free.out" --calls 6; rc=$?
	l1=$(llm_count)
	[ "$rc" = 0 ] && [ $((l1 - l0)) = 6 ] && pass enforce_no_budget ||
		fail enforce_no_budget "rc $rc, provider got $((l1 - l0))"

	# kill_scope: cgroup ends the whole cgroup: a bystander in it too
	tg_in_cgroup group sleep 300 &
	sleeper=$!
	ka group "$TG_TMP/group.out" --calls 6; rc=$?
	sleep 0.3
	if [ "$rc" = 137 ] && ! kill -0 "$sleeper" 2>/dev/null; then
		pass enforce_kill_cgroup
	else
		fail enforce_kill_cgroup "client rc $rc, bystander $(kill -0 "$sleeper" 2>/dev/null && echo alive || echo gone)"
	fi
	wait "$sleeper" 2>/dev/null

	# run probes only what its teams match: a process of no team is not seen
	tg_in_cgroup outsider "$TG_PY" "$KA" "$TG_URL" "$TG_CA" --model tg-outsider --calls 2 > /dev/null 2>&1
	sleep 0.5
	! grep -q '"model":"tg-outsider"' "$EV" && grep -q 'metering processes the policy' "$EV.err" &&
		pass enforce_scope || fail enforce_scope "a process of no team was metered"
	tg_trace_stop
	# the enforcer's counters on exit: the 3 blocks, the kills
	why=$(tg_counters_hold "$EV.err" enforce.blocked\>=3 enforce.killed\>=2 \
		enforce.block_failures=0 enforce.held_now=0) &&
		pass enforce_counters || fail enforce_counters "$why"
	# policy check reads each budget's spend from the ledger
	out=$("$TG_BIN" policy check --db "$DB" "$TG_TMP/block.yaml" 2>&1)
	js=$("$TG_BIN" policy check --json --db "$DB" "$TG_TMP/block.yaml" 2>&1)
	if echo "$out" | grep -A1 'day          limit $1  action block' | grep -q 'spent $1.35 (135.0%)' &&
	   echo "$out" | grep -A1 'action kill' | grep -q 'spent $1.35' &&
	   [ "$("$TG_PY" -c 'import json,sys; t=json.loads(sys.argv[1])["teams"]; print([b["spent_usd"] for x in t for b in x["budgets"]])' "$js")" = "[1.35, 1.35, 1.35]" ]; then
		pass enforce_policy_check_spend
	else
		fail enforce_policy_check_spend "$(echo "$out" | grep -A1 limit | head -4)"
	fi
	# report --forecast shows each budget: spent, and whether it runs out
	out=$("$TG_BIN" report --db "$DB" --forecast --policy "$TG_TMP/block.yaml" 2>&1)
	js=$("$TG_BIN" report --db "$DB" --forecast --policy "$TG_TMP/block.yaml" --format json 2>&1)
	if echo "$out" | grep -Eq '^capped +day +1\.000000000 +1\.350000000 +[0-9.]+ +spent$' &&
	   [ "$("$TG_PY" -c 'import json,sys; b=json.loads(sys.argv[1])["budgets"]; print([(x["team"], x["spent_usd"]) for x in b])' "$js")" = "[('capped', 1.35), ('killer', 1.35), ('group', 1.35)]" ]; then
		pass enforce_report_forecast_budgets
	else
		fail enforce_report_forecast_budgets "$(echo "$out" | tail -5)"
	fi
else
	fail enforce_block "agent not ready"
fi

# --- HTTP/2 and Go: the same hard stop -------------------------------------------------
# curl over HTTP/2 (a new connection each call: its first write carries
# the preface and the request) and node's http2 client (one connection,
# calls on new streams) of a team over its $1/day budget: 3 reach the
# provider, the rest fail in the client.  A Go client (crypto/tls cannot
# be made to fail) of a team whose budget kills: 3 reach it, then it dies.
# (node and Go ask for gpt-4o-mini, $0.15 a million input tokens: the
# provider reports 3 million, $0.45 a call, like the others.)
policy "$TG_TMP/h2.yaml" <<EOF
teams:
  - name: h2curl
    match: { cgroup: ["/tollgate-test/h2curl"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
  - name: h2node
    match: { cgroup: ["/tollgate-test/h2node"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
  - name: gokill
    match: { cgroup: ["/tollgate-test/gokill"] }
    budgets:
      - { window: day, limit_usd: 1, action: kill }
EOF
if ! tg_h2_start; then
	fail enforce_h2_setup "the HTTP/2 provider did not start"
elif agent "$TG_TMP/h2.yaml"; then
	BODY='{"model":"tg-enf-h2","messages":[{"role":"user","content":"hi"}]}'
	l0=$(llm_count) ok=0
	for i in 1 2 3 4 5 6; do
		v=$(tg_in_cgroup h2curl sh -c 'sleep 0.2; exec curl -sS --cacert "$0" -o /dev/null -w "%{http_version} %{http_code}" -H "content-type: application/json" -H "x-test-usage: prompt=1000" -d "$1" "$2"' \
			"$TG_CA" "$BODY" "$TG_H2_URL/v1/chat/completions" 2>/dev/null)
		[ "$v" = "2 200" ] && ok=$((ok + 1))
	done
	l1=$(llm_count)
	[ "$ok" = 3 ] && [ $((l1 - l0)) = 3 ] && pass enforce_h2_curl_block ||
		fail enforce_h2_curl_block "$ok calls answered, provider got $((l1 - l0))"

	l0=$(llm_count)
	tg_in_cgroup h2node "$TG_NODE" "$TG_CLIENTS/node_h2_client.js" --url "$TG_H2_URL" --ca "$TG_CA" \
		--streams 1 --rounds 6 --header 'x-test-usage: prompt=3000000' > "$TG_TMP/h2node.out" 2>&1
	l1=$(llm_count)
	n=$(grep -c '"status":200' "$TG_TMP/h2node.out")
	[ "$n" = 3 ] && [ $((l1 - l0)) = 3 ] && pass enforce_h2_node_block ||
		fail enforce_h2_node_block "$n answered, provider got $((l1 - l0)): $(tail -n 2 "$TG_TMP/h2node.out")"

	if [ -x "$TG_BUILD/integ/go_llm" ]; then
		l0=$(llm_count)
		tg_in_cgroup gokill "$TG_BUILD/integ/go_llm" -url "$TG_H2_URL/v1/chat/completions" \
			-ca "$TG_CA" -n 6 -delay-ms 300 -header 'x-test-usage: prompt=3000000' \
			> "$TG_TMP/gokill.out" 2>&1; rc=$?
		l1=$(llm_count)
		[ "$rc" = 137 ] && [ $((l1 - l0)) = 3 ] && pass enforce_go_h2_kill ||
			fail enforce_go_h2_kill "rc $rc, provider got $((l1 - l0))"
	else
		fail enforce_go_h2_kill "no Go client ($TG_BUILD/integ/go_llm)"
	fi
	tg_trace_stop
else
	fail enforce_h2_curl_block "agent not ready"
fi

# --- fork ---------------------------------------------------------------------------
# A forked child (no exec) of a gated process is gated from its first
# request: the kernel gates it at the fork.  (With a catch-all team run
# probes every process per file, so the child's calls are seen at once.)
rm -f "$DB"*
policy "$TG_TMP/fork.yaml" <<EOF
teams:
  - name: capped
    match: { cgroup: ["/tollgate-test/capped"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
  - name: rest
    match: { any: true }
EOF
if agent "$TG_TMP/fork.yaml"; then
	ka capped "$TG_TMP/fork1.out" --calls 3
	l0=$(llm_count)
	ka capped "$TG_TMP/fork.out" --calls 2 --fork; rc=$?
	l1=$(llm_count)
	[ "$(ok_count "$TG_TMP/fork1.out")" = 3 ] && [ "$rc" = 0 ] && [ $((l1 - l0)) = 0 ] &&
		[ "$(err_count "$TG_TMP/fork.out")" = 2 ] && pass enforce_fork ||
		fail enforce_fork "rc $rc, a forked child got $((l1 - l0)) calls through"
	tg_trace_stop
else
	fail enforce_fork "agent not ready"
fi

# --- concurrency ----------------------------------------------------------------------
rm -f "$DB"*
policy "$TG_TMP/race.yaml" <<EOF
teams:
  - name: racers
    match: { cgroup: ["/tollgate-test/race"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
EOF
if agent "$TG_TMP/race.yaml"; then
	l0=$(llm_count)
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		ka race "$TG_TMP/race.$i.out" --calls 3 &
		pids+=($!)
	done
	wait "${pids[@]}"
	l1=$(llm_count)
	oks=$(cat "$TG_TMP"/race.*.out | grep -c '"status": 200')
	[ $((l1 - l0)) -le 3 ] && [ $((l1 - l0)) -ge 2 ] && [ "$oks" = $((l1 - l0)) ] &&
		pass enforce_concurrent || fail enforce_concurrent "provider got $((l1 - l0)) calls ($oks ok) from 8 racers"
	tg_trace_stop
else
	fail enforce_concurrent "agent not ready"
fi

# --- throttle -----------------------------------------------------------------------
rm -f "$DB"*
policy "$TG_TMP/rate.yaml" <<EOF
teams:
  - name: paced
    match: { cgroup: ["/tollgate-test/paced"] }
    rate_limits: { requests_per_minute: 120 }
  - name: other
    match: { cgroup: ["/tollgate-test/other"] }
EOF
if agent "$TG_TMP/rate.yaml"; then
	ka paced "$TG_TMP/paced.out" --calls 100000 --duration 15 --usage prompt=10,completion=0 &
	p1=$!
	ka other "$TG_TMP/other.out" --calls 100000 --duration 5 --usage prompt=10,completion=0 &
	p2=$!
	wait $p1 $p2
	n=$(ok_count "$TG_TMP/paced.out")
	o=$(ok_count "$TG_TMP/other.out")
	# 120/min over 15 s is 30 (and the first goes at once): within 10%
	[ "$n" -ge 28 ] && [ "$n" -le 33 ] && [ "$(err_count "$TG_TMP/paced.out")" = 0 ] &&
		pass enforce_throttle || fail enforce_throttle "$n calls in 15 s at 120/min"
	[ "$o" -ge 100 ] && pass enforce_throttle_other_team ||
		fail enforce_throttle_other_team "the other team made $o calls in 5 s"
	# the throttled calls' records say so (§9 action), the others' do not
	sleep 1.2
	th=$(grep -c '"team":"paced".*"action":"throttle"' "$EV")
	[ "$th" -ge $((n - 2)) ] && ! grep -q '"team":"other".*"action":"throttle"' "$EV" &&
		pass enforce_throttle_record || fail enforce_throttle_record "$th of $n paced records say throttle"
	tg_trace_stop
else
	fail enforce_throttle "agent not ready"
fi

# --- models, max_tokens, loop guard ---------------------------------------------------------
rm -f "$DB"*
policy "$TG_TMP/rules.yaml" <<EOF
teams:
  - name: picky
    match: { cgroup: ["/tollgate-test/picky"] }
    models: { deny: ["gpt-4o*", "o1-pro*"] }
    max_tokens_cap: 1000
  - name: loopy
    match: { cgroup: ["/tollgate-test/loopy"] }
loop_guard: { identical_requests: 3, within: 60s, action: block }
EOF
if agent "$TG_TMP/rules.yaml"; then
	l0=$(llm_count)
	tg_in_cgroup picky "$TG_PY" "$KA" "$TG_URL" "$TG_CA" --model gpt-4o-mini --calls 2 > "$TG_TMP/deny.out" 2>&1
	l1=$(llm_count)
	ka picky "$TG_TMP/allow.out" --calls 2
	l2=$(llm_count)
	[ $((l1 - l0)) = 0 ] && [ "$(err_count "$TG_TMP/deny.out")" = 2 ] && [ $((l2 - l1)) = 2 ] &&
		pass enforce_model_deny || fail enforce_model_deny "denied model: $((l1 - l0)) reached; allowed: $((l2 - l1))"
	l0=$(llm_count)
	ka picky "$TG_TMP/cap.out" --calls 2 --max-tokens 4000
	l1=$(llm_count)
	[ $((l1 - l0)) = 0 ] && [ "$(err_count "$TG_TMP/cap.out")" = 2 ] &&
		pass enforce_max_tokens_cap || fail enforce_max_tokens_cap "$((l1 - l0)) over the cap reached"
	l0=$(llm_count)
	ka loopy "$TG_TMP/loop.out" --calls 5 --same-body
	l1=$(llm_count)
	[ $((l1 - l0)) = 2 ] && [ "$(err_count "$TG_TMP/loop.out")" = 3 ] &&
		pass enforce_loop_guard || fail enforce_loop_guard "$((l1 - l0)) of 5 identical reached"
	sleep 1.2
	[ "$(events "$EV" action block)" = 7 ] && grep -q '"why":"model"' "$EV" &&
		grep -q '"why":"max_tokens"' "$EV" && grep -q '"why":"loop_guard"' "$EV" &&
		pass enforce_rules_events || fail enforce_rules_events "$(grep -c event "$EV") events"
	tg_trace_stop
else
	fail enforce_model_deny "agent not ready"
fi

# --- alerts -----------------------------------------------------------------------------
rm -f "$DB"*
cat > "$TG_TMP/hook.sh" <<EOF
#!/bin/sh
cat >> "$TG_TMP/hook.out"
EOF
chmod 0755 "$TG_TMP/hook.sh"
policy "$TG_TMP/alert.yaml" <<EOF
teams:
  - name: watched
    match: { cgroup: ["/tollgate-test/watched"] }
    budgets:
      - { window: day, limit_usd: 1, alert_at: [50%, 80%] }
alerts: { exec: $TG_TMP/hook.sh }
EOF
if agent "$TG_TMP/alert.yaml"; then
	ka watched "$TG_TMP/w1.out" --calls 2
	sleep 2.5
	ka watched "$TG_TMP/w2.out" --calls 2
	sleep 2.5
	"$TG_PY" - "$TG_TMP/hook.out" "$(ok_count "$TG_TMP/w2.out")" <<'PY' && pass enforce_alert_hook || fail enforce_alert_hook "$(cat "$TG_TMP/hook.out" 2>/dev/null | head -5)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
th = [l for l in lines if l["kind"] == "threshold"]
fc = [l for l in lines if l["kind"] == "forecast"]
# both crossed by one call: their hooks run at once, in either order
assert sorted(t["threshold"] for t in th) == ["50%", "80%"], th
assert all(t["team"] == "watched" and t["window"] == "day" and t["limit_usd"] == 1 and
           t["event"] == "alert" and t["action"] == "alert" for t in th), th
assert th[0]["spent_usd"] == 0.9 and th[1]["spent_usd"] == 0.9, th
assert len(fc) <= 1, fc
assert sys.argv[2] == "2", "alert-only budgets never block"
PY
	tg_trace_stop
else
	fail enforce_alert_hook "agent not ready"
fi

# --- SIGHUP -----------------------------------------------------------------------------
rm -f "$DB"*
policy "$TG_TMP/hup.yaml" <<EOF
teams:
  - name: hup
    match: { cgroup: ["/tollgate-test/hup"] }
EOF
if agent "$TG_TMP/hup.yaml"; then
	ka hup "$TG_TMP/h1.out" --calls 3
	printf 'version: 1\nteams:\n  - name: hup\n    match: { cgroup: [/tollgate-test/hup] }\n    budgets:\n      - { window: day, limit_usd: 1, action: bloc }\n' > "$TG_TMP/hup.yaml"
	kill -HUP "$TG_TRACE_PID"
	sleep 0.5
	grep -q "hup.yaml:6:46: 'action' must be alert, throttle, block or kill (the policy in force stays)" "$EV.err" &&
		pass enforce_reload_invalid || fail enforce_reload_invalid "$(grep -i policy "$EV.err" | tail -2)"
	policy "$TG_TMP/hup.yaml" <<EOF
teams:
  - name: hup
    match: { cgroup: ["/tollgate-test/hup"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
EOF
	kill -HUP "$TG_TRACE_PID"
	sleep 0.5
	l0=$(llm_count)
	ka hup "$TG_TMP/h2.out" --calls 2
	l1=$(llm_count)
	# 3 calls ($1.35) before the reload are spend too: none passes now
	kill -0 "$TG_TRACE_PID" && [ $((l1 - l0)) = 0 ] && [ "$(err_count "$TG_TMP/h2.out")" = 2 ] &&
		pass enforce_reload || fail enforce_reload "$((l1 - l0)) calls after the reload"
	tg_trace_stop
else
	fail enforce_reload "agent not ready"
fi

# --- a restart mid-window -----------------------------------------------------------------
rm -f "$DB"*
policy "$TG_TMP/restart.yaml" <<EOF
teams:
  - name: again
    match: { cgroup: ["/tollgate-test/again"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
EOF
if agent "$TG_TMP/restart.yaml"; then
	ka again "$TG_TMP/a1.out" --calls 2
	tg_trace_stop
	if agent "$TG_TMP/restart.yaml"; then
		l0=$(llm_count)
		ka again "$TG_TMP/a2.out" --calls 3
		l1=$(llm_count)
		[ "$(ok_count "$TG_TMP/a1.out")" = 2 ] && [ $((l1 - l0)) = 1 ] &&
			pass enforce_restart_restores || fail enforce_restart_restores "after a restart $((l1 - l0)) of 3 passed"
		tg_trace_stop
	else
		fail enforce_restart_restores "second agent not ready"
	fi
else
	fail enforce_restart_restores "agent not ready"
fi

# --- the agent dies while it holds a process ------------------------------------------------
rm -f "$DB"*
policy "$TG_TMP/held.yaml" <<EOF
teams:
  - name: slow
    match: { cgroup: ["/tollgate-test/slow"] }
    rate_limits: { requests_per_minute: 2 }
hold_timeout: 40s
EOF
if agent "$TG_TMP/held.yaml"; then
	ka slow "$TG_TMP/slow.out" --calls 2 &
	kpid=$!
	cpid=
	for i in $(seq 1 50); do
		cpid=$(tg_cgroup_pids slow | head -1)
		[ -n "$cpid" ] && [ "$(awk '{ print $3 }' "/proc/$cpid/stat" 2>/dev/null)" = T ] && break
		sleep 0.1
	done
	kill -KILL "$TG_TRACE_PID"
	wait "$TG_TRACE_PID" 2>/dev/null
	TG_TRACE_PID=
	st=$(awk '{ print $3 }' "/proc/$cpid/stat" 2>/dev/null)
	if [ "$st" = T ] && [ -s "$DB.held" ]; then
		agent "$TG_TMP/held.yaml" >/dev/null 2>&1
		for i in $(seq 1 50); do
			kill -0 "$kpid" 2>/dev/null || break
			sleep 0.1
		done
		if ! kill -0 "$kpid" 2>/dev/null && grep -q "resumed" "$EV.err"; then
			pass enforce_crash_releases
		else
			fail enforce_crash_releases "client still $(awk '{ print $3 }' "/proc/$cpid/stat" 2>/dev/null) after the restart"
		fi
		tg_trace_stop
	else
		fail enforce_crash_releases "the client was not held at the kill (state '$st', held file: $(cat "$DB.held" 2>/dev/null))"
	fi
	kill -CONT "$cpid" 2>/dev/null
	wait "$kpid" 2>/dev/null
else
	fail enforce_crash_releases "agent not ready"
fi

# --- monitor mode and --dry-run -----------------------------------------------------------
for how in monitor dry-run; do
	rm -f "$DB"*
	policy "$TG_TMP/mon.yaml" <<EOF
teams:
  - name: mon
    match: { cgroup: ["/tollgate-test/mon"] }
    budgets:
      - { window: day, limit_usd: 1, action: kill }
$([ $how = monitor ] && echo "mode: monitor")
EOF
	if agent "$TG_TMP/mon.yaml" $([ $how = dry-run ] && echo --dry-run); then
		l0=$(llm_count)
		ka mon "$TG_TMP/mon.out" --calls 6; rc=$?
		l1=$(llm_count)
		sleep 1.2
		n=$(events "$EV" action kill)
		[ "$rc" = 0 ] && [ $((l1 - l0)) = 6 ] && [ "$n" -ge 3 ] &&
			grep -q '"dry_run":true' "$EV" && ! grep -q '"dry_run":false' "$EV" &&
			pass "enforce_$how" || fail "enforce_$how" "rc $rc, $((l1 - l0)) of 6 reached, $n would-kill events"
		tg_trace_stop
	else
		fail "enforce_$how" "agent not ready"
	fi
done

tg_finish

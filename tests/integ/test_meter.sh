#!/bin/bash
# Metering with real BPF and real clients: every recorded fixture of
# ../shared/fixtures/llm-traffic replayed (the python client sends the
# recorded request, the local provider answers the recorded response, gzip
# as recorded); usage buckets against the fixture's, cost against
# @pydantic/genai-prices' calcPrice (differential, with node); estimates
# with the usage stripped and streams cut off; `run --policy --events`
# attribution by cgroup, uid, exe and API key; planted secrets through
# every client; fail-closed on bodies that cannot be parsed whole.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin
FIX=${FIXTURES:-$TG_TOP/../shared/fixtures}/llm-traffic
if [ ! -d "$FIX" ]; then
	skip meter_fixtures "no fixtures at $FIX"
	exit 0
fi
tg_setup || { fail meter_setup "provider did not start"; tg_finish; }

REPLAY=("$TG_PY" "$TG_CLIENTS/py_replay.py" "$TG_URL" "$TG_CA")
CALC=(--calc-price "$TG_NODE" "$TG_LIB/calc_price.mjs")
all=$(cd "$FIX" && ls *.json)
streams=$(cd "$FIX" && ls *-stream-*.json)

# --- 1. every fixture, exact -------------------------------------------------------
OUT=$TG_TMP/trace.jsonl
tg_trace_start "$OUT" --call-cap 8M
tg_trace_wait_ready || { fail meter_ready "tracer produced no record"; tg_finish; }

tg_in_cgroup replay "${REPLAY[@]}" $all > "$TG_TMP/replay.out"
sleep 1
"$TG_PY" "$TG_LIB/check_meter.py" "$OUT" "$TG_TMP/replay.out" --mode exact \
	--name meter "${CALC[@]}" || true

# --- 2. estimates: the same calls with every usage report removed ------------------
# Fixtures whose provider figures cannot be derived from what is on the wire
# are left out, each for its reason:
#   hidden reasoning (o-series, Gemini thoughts, Claude thinking is
#   visible and stays in): openai-responses-03, openai-responses-stream-03,
#   gemini-generate-05/07, gemini-stream-03/05, gemini-vertex-01/03;
#   server-side inputs (web search results, cached content, video):
#   anthropic-stream-07, gemini-generate-05/07;
#   prompt caching bills a cached prefix the request does not mark:
#   openai-chat-03, anthropic-messages-03/07, anthropic-stream-03;
#   embeddings of Gemini (no public tokenizer, 4 tokens): gemini-embeddings-01.
est=$(echo "$all" | grep -v -e error -e openai-responses-03 -e openai-responses-stream-03 \
	-e gemini-generate-05 -e gemini-generate-07 -e gemini-stream-03 -e gemini-stream-05 \
	-e gemini-vertex -e anthropic-stream-07 -e openai-chat-03 -e anthropic-messages-03 \
	-e anthropic-messages-07 -e anthropic-stream-03 -e gemini-embeddings \
	-e openai-chat-stream-05 -e openai-chat-stream-07)
tg_in_cgroup replay "${REPLAY[@]}" --strip-usage $est > "$TG_TMP/strip.out"
sleep 1
"$TG_PY" "$TG_LIB/check_meter.py" "$OUT" "$TG_TMP/strip.out" --mode estimate \
	--name meter_estimate || true

# --- 3. streams cut off by the connection after 2 events ----------------------------
tg_in_cgroup replay "${REPLAY[@]}" --abort-after 2 $streams > "$TG_TMP/cut.out"
sleep 1
"$TG_PY" "$TG_LIB/check_meter.py" "$OUT" "$TG_TMP/cut.out" --mode cut --name meter_cut || true

# --- 4. fail closed: a body nested deeper than any parser limit ----------------------
deep=$TG_TMP/deep.json
"$TG_PY" - "$deep" <<'PY'
import json, sys
inner = "[" * 3000 + "]" * 3000
body = '{"messages":[{"role":"user","content":"hi","x":%s}],"model":"gpt-4o-mini"}' % inner
open(sys.argv[1], "w").write(body)
PY
out=$(tg_in_cgroup deep sh -c 'curl -sS --http1.1 --cacert "$0" -o /dev/null -w "{\"status\": %{http_code}}" -H "Content-Type: application/json" -H "Authorization: Bearer sk-test-deep" --data-binary @"$2" "$1/v1/chat/completions"' "$TG_CA" "$TG_URL" "$deep")
if tg_check "$OUT" --wait 10 --quiet --match cgroup=/tollgate-test/deep --match model=gpt-4o-mini \
	--match capture=unparsed --match 'input_tokens>0' --match 'cost_usd>0' --expect-count 1; then
	pass meter_fail_closed_deep
else
	fail meter_fail_closed_deep "$(tg_check "$OUT" --match cgroup=/tollgate-test/deep 2>&1 | tail -n 3)"
fi
tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] && pass meter_trace_exit || fail meter_trace_exit "exit $TG_TRACE_RC"

# --- 5. run --policy --events: teams ----------------------------------------------
KEY_TEAM=sk-team-key-$RANDOM$RANDOM
KEY_FP=sha256:$(printf '%s' "$KEY_TEAM" | sha256sum | cut -c1-12)
POL=$TG_TMP/policy.yaml
cat > "$POL" <<YAML
version: 1
teams:
  - name: search
    match: { cgroup: ["/tollgate-test/search"] }
  - name: ads
    match: { cgroup: ["/tollgate-test/ads*"] }
  - name: keyed
    match: { api_key: ["$KEY_FP"] }
  - name: batch
    match: { uid: [4242] }
  - name: curlers
    match: { exe: ["*/curl"] }
  - name: default
    match: { any: true }
default_price: { input_per_mtok: 20, output_per_mtok: 80 }
YAML
EV=$TG_TMP/events.jsonl
"$TG_BIN" run --policy "$POL" --events "$EV" --db "$TG_TMP/ledger.db" --metrics 127.0.0.1:0 --socket "$TG_TMP/tollgate.sock" \
	> "$TG_TMP/run.out" 2> "$TG_TMP/run.err" &
TG_TRACE_PID=$! TG_TRACE_OUT=$EV
tg_trace_wait_ready || { fail meter_run_ready "run produced no record"; tg_finish; }
perm=$(stat -c %a "$EV")
[ "$perm" = 600 ] && pass meter_events_mode || fail meter_events_mode "events file mode $perm"

team_call() {	# NAME TEAM [env/cmd prefix...] -- runs py_http in cgroup NAME
	local name=$1 team=$2; shift 2
	local out pid
	out=$(tg_in_cgroup "$name" "$@" "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model "team-$name")
	pid=$(tg_json "$out" pid)
	if tg_check "$EV" --wait 10 --quiet --match model="team-$name" --match team="$team" \
		--match unpriced=true --expect-count 1; then
		pass "meter_team_$name"
	else
		fail "meter_team_$name" "$(tg_check "$EV" --match model="team-$name" 2>&1 | tail -n 2)"
	fi
}
team_call search search
team_call ads-web ads
team_call keyed keyed env TG_TEST_KEY="$KEY_TEAM"
cp "$TG_CA" "$TG_TMP/ca-public.pem"; chmod 644 "$TG_TMP/ca-public.pem"; chmod 755 "$TG_TMP"
team_call batch batch setpriv --reuid=4242 --regid=4242 --clear-groups env TG_CA="$TG_TMP/ca-public.pem"
team_call other default
# exe: curl (the wrapper shell execs it)
tg_in_cgroup curlers sh -c 'curl -sS --http1.1 --cacert "$0" -o /dev/null -H "Content-Type: application/json" -H "Authorization: Bearer sk-test-x" --data-binary "{\"model\":\"team-curl\",\"messages\":[]}" "$1/v1/chat/completions"' "$TG_CA" "$TG_URL"
tg_check "$EV" --wait 10 --quiet --match model=team-curl --match team=curlers --expect-count 1 &&
	pass meter_team_exe || fail meter_team_exe "$(tg_check "$EV" --match model=team-curl 2>&1 | tail -n 2)"
# the key's fingerprint is on the record, the key is not
tg_check "$EV" --quiet --match model=team-keyed --match key_fp="$KEY_FP" --expect-count 1 &&
	pass meter_key_fp || fail meter_key_fp "$(tg_check "$EV" --match model=team-keyed 2>&1 | tail -n 2)"

# --- metrics: a real scrape of the run's endpoint -------------------------------------
mport=$(sed -n 's|.*metrics on http://.*:\([0-9]*\)/metrics.*|\1|p' "$TG_TMP/run.err" | head -1)
if curl -sS "http://127.0.0.1:$mport/metrics" > "$TG_TMP/metrics.txt" 2>&1 &&
	grep -q '^tollgate_cost_usd_total{.*team="search"' "$TG_TMP/metrics.txt" &&
	grep -q '^tollgate_requests_total{' "$TG_TMP/metrics.txt"; then
	pass meter_metrics_scrape
else
	fail meter_metrics_scrape "port '$mport': $(head -c 300 "$TG_TMP/metrics.txt")"
fi
# top reads the same run's ledger and its capture health from the metrics
top=$("$TG_BIN" top --once --db "$TG_TMP/ledger.db" --metrics "127.0.0.1:$mport" 2>&1)
case $top in
*"agent running since"*"capture: "*" conns, gaps "*search*) pass meter_top_live ;;
*) fail meter_top_live "$(head -c 400 <<<"$top")" ;;
esac
if command -v promtool > /dev/null; then
	promtool check metrics < "$TG_TMP/metrics.txt" > "$TG_TMP/promtool.out" 2>&1 &&
		pass meter_metrics_promtool ||
		fail meter_metrics_promtool "$(head -c 400 "$TG_TMP/promtool.out")"
else
	skip meter_metrics_promtool "promtool (Debian package prometheus) is not installed"
fi

# --- 6. planted secrets through every client -----------------------------------------
SECRET_KEY=sk-planted-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET_PROMPT=planted-prompt-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TG_TEST_KEY=$SECRET_KEY TG_TEST_PROMPT=" $SECRET_PROMPT"
tg_in_cgroup secrets "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model sec-py --stream >/dev/null
tg_in_cgroup secrets "$TG_NODE" "$TG_CLIENTS/node_https.js" "$TG_URL" --model sec-node >/dev/null
tg_in_cgroup secrets "$TG_NODE" "$TG_CLIENTS/node_fetch.js" "$TG_URL" --model sec-fetch --stream >/dev/null
tg_in_cgroup secrets "$TG_NODE" "$TG_CLIENTS/openai_sdk.mjs" "$TG_URL/v1" --model sec-openai >/dev/null
tg_in_cgroup secrets "$TG_NODE" "$TG_CLIENTS/anthropic_sdk.mjs" "$TG_URL" --model sec-anthropic --stream >/dev/null
tg_in_cgroup secrets sh -c 'curl -sS --http1.1 --cacert "$0" -o /dev/null -H "Content-Type: application/json" -H "Authorization: Bearer $TG_TEST_KEY" --data-binary "{\"model\":\"sec-curl\",\"messages\":[{\"role\":\"user\",\"content\":\"$TG_TEST_PROMPT\"}]}" "$1/v1/chat/completions"' "$TG_CA" "$TG_URL"
"${REPLAY[@]}" --key "$SECRET_KEY" --marker "$SECRET_PROMPT" openai-chat-01.json anthropic-stream-01.json gemini-generate-01.json > /dev/null
unset TG_TEST_KEY TG_TEST_PROMPT
n=$(tg_check "$EV" --wait 10 --match 'model~sec-*' --quiet --min-count 6 && echo ok)
[ "$n" = ok ] && pass meter_secret_clients || fail meter_secret_clients "$(tg_check "$EV" --match 'model~sec-*' --get model 2>&1 | tr '\n' ' ')"
kill -USR1 "$TG_TRACE_PID"; sleep 0.5
tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] && pass meter_run_exit || fail meter_run_exit "exit $TG_TRACE_RC"
written=("$EV" "$TG_TMP/run.out" "$TG_TMP/run.err" "$OUT" "$OUT.err")
if grep -l -e "$SECRET_KEY" -e "$SECRET_PROMPT" -e "$KEY_TEAM" "${written[@]}"; then
	fail meter_no_secrets "a planted key or prompt was written"
else
	pass meter_no_secrets
fi
tg_finish

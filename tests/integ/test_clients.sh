#!/bin/bash
# Client stacks beyond HTTP/1.1 over libssl, with real BPF and real clients:
# HTTP/2 (curl's default ALPN negotiation, node's http2 with concurrent
# streams, python httpx, every recorded fixture replayed over HTTP/2), Go's
# crypto/tls (net/http over HTTP/2 and HTTP/1.1, a stripped build), GnuTLS
# (wget, gnutls-cli), the Responses API's WebSocket mode (the official SDK,
# permessage-deflate), and an HTTP/2 connection opened before the agent.
# Each call is metered like its HTTP/1.1 twin: same usage, cost and team.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin
tg_setup || { fail clients_setup "provider did not start"; tg_finish; }
tg_h2_start || { fail clients_setup "HTTP/2 provider did not start"; tg_finish; }

POLICY=$TG_TMP/policy.yaml
cat > "$POLICY" <<EOF
version: 1
teams:
  - name: stacks
    match: { cgroup: ["/tollgate-test/stacks*"] }
EOF
OUT=$TG_TMP/trace.jsonl
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello twins"}]}'
SBODY='{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello twins"}]}'

# The records of PID (one per call, in order) against the usage the provider
# reported to the client (X-Test-Usage) and against its HTTP/1.1 twin's.
# twins NAME H1PID H2PID COUNT [PROTO-NOTE]: same model, provider, team,
# usage buckets, usage_source and cost on both sides, COUNT calls each.
twins() {
	local name=$1 p1=$2 p2=$3 n=$4
	if why=$("$TG_PY" - "$OUT" "$p1" "$p2" "$n" <<'PY'
import json, sys
out, p1, p2, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
recs = [json.loads(l) for l in open(out) if l.startswith("{")]
a = [r for r in recs if r.get("pid") == p1]
b = [r for r in recs if r.get("pid") == p2]
if len(a) != n or len(b) != n:
    sys.exit("calls: HTTP/1.1 %d, other %d, want %d each" % (len(a), len(b), n))
keys = ("provider", "model", "team", "stream", "status", "input_tokens",
        "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "usage_source", "cost_usd", "capture", "request_bytes",
        "response_bytes")
for x, y in zip(a, b):
    diff = ["%s: %r != %r" % (k, x.get(k), y.get(k)) for k in keys if x.get(k) != y.get(k)]
    if diff:
        sys.exit("; ".join(diff))
    if x.get("team") != "stacks" or x.get("usage_source") != "provider":
        sys.exit("team %r usage_source %r" % (x.get("team"), x.get("usage_source")))
PY
	); then
		pass "$name"
	else
		fail "$name" "$why"
	fi
}

# The calls of PID were metered with the usage the provider gave the client
# (the client's JSON lines carry it as "usage"), in order.
as_reported() {	# NAME PID CLIENT-OUTPUT-FILE
	local name=$1 pid=$2 cout=$3
	if why=$("$TG_PY" - "$OUT" "$pid" "$cout" <<'PY'
import json, sys
out, pid, cout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
recs = [json.loads(l) for l in open(out) if l.startswith("{")]
mine = [r for r in recs if r.get("pid") == pid]
calls = [json.loads(l) for l in open(cout) if l.startswith("{") and '"usage"' in l]
want = sorted((c["usage"]["input_tokens"], c["usage"]["output_tokens"]) for c in calls)
got = sorted((r["input_tokens"], r["output_tokens"]) for r in mine)
if not calls or got != want:
    sys.exit("metered %r, the provider reported %r" % (got, want))
bad = [r for r in mine if r.get("team") != "stacks" or r.get("usage_source") != "provider"
       or r.get("capture") != "complete" or not r.get("cost_usd")]
if bad:
    sys.exit("record %r" % bad[0])
PY
	); then
		pass "$name"
	else
		fail "$name" "$why"
	fi
}

tg_trace_start "$OUT" --policy "$POLICY" --cgroup '/tollgate-test/stacks*'
tg_trace_wait_ready stacks || { fail clients_ready "tracer produced no record"; tg_finish; }

# --- curl: HTTP/1.1 and HTTP/2 (negotiated by ALPN), plain and streaming ----
for mode in plain stream; do
	b=$BODY; [ $mode = stream ] && b=$SBODY
	o1=$(tg_in_cgroup stacks sh -c 'echo "{\"pid\":$$}"; sleep 0.3; exec curl -sS --http1.1 --cacert "$0" -H "content-type: application/json" -d "$1" "$2" -o /dev/null' \
		"$TG_CA" "$b" "$TG_H2_URL/v1/chat/completions" | head -n 1)
	o2=$(tg_in_cgroup stacks sh -c 'echo "{\"pid\":$$}"; sleep 0.3; exec curl -sS --cacert "$0" -H "content-type: application/json" -d "$1" -w "%{http_version}\n" "$2" -o /dev/null' \
		"$TG_CA" "$b" "$TG_H2_URL/v1/chat/completions")
	if [ "$(echo "$o2" | tail -n 1)" != 2 ]; then
		fail "curl_h2_$mode" "curl did not negotiate HTTP/2: $o2"
		continue
	fi
	sleep 0.5
	twins "curl_h2_$mode" "$(tg_json "$o1" pid)" "$(tg_json "$(echo "$o2" | head -n 1)" pid)" 1
done

# a stream the provider resets after 2 events (RST_STREAM): still a call,
# metered cut off, its output counted by tollgate
o=$(tg_in_cgroup stacks sh -c 'echo "{\"pid\":$$}"; sleep 0.3; exec curl -sS --cacert "$0" -H "content-type: application/json" -H "x-test-abort-after-events: 2" -d "$1" "$2" -o /dev/null' \
	"$TG_CA" "$SBODY" "$TG_H2_URL/v1/chat/completions" 2>/dev/null | head -n 1)
sleep 0.5
pid=$(tg_json "$o" pid)
tg_check "$OUT" --quiet --match pid="$pid" --match capture=cut_off --match usage_source=estimated \
	--match team=stacks --expect-count 1 \
	&& pass curl_h2_reset || fail curl_h2_reset "$(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 2)"

# --- node's http2: concurrent streams on one connection -----------------------
tg_in_cgroup stacks "$TG_NODE" "$TG_CLIENTS/node_h2_client.js" --url "$TG_H2_URL" --ca "$TG_CA" \
	--streams 5 --rounds 2 > "$TG_TMP/node_h2.out" 2>&1
pid=$(tg_json "$(tail -n 1 "$TG_TMP/node_h2.out")" pid)
sleep 0.5
as_reported node_h2_concurrent "$pid" "$TG_TMP/node_h2.out"
tg_in_cgroup stacks "$TG_NODE" "$TG_CLIENTS/node_h2_client.js" --url "$TG_H2_URL" --ca "$TG_CA" \
	--streams 3 --stream > "$TG_TMP/node_h2s.out" 2>&1
pid=$(tg_json "$(tail -n 1 "$TG_TMP/node_h2s.out")" pid)
sleep 0.5
as_reported node_h2_streaming "$pid" "$TG_TMP/node_h2s.out"

# --- python httpx over HTTP/2 ---------------------------------------------------
for mode in "" --stream; do
	tg_in_cgroup stacks "$TG_PY" "$TG_CLIENTS/py_httpx_h2.py" --url "$TG_H2_URL" --ca "$TG_CA" \
		-n 3 $mode > "$TG_TMP/httpx.out" 2>&1
	pid=$(tg_json "$(tail -n 1 "$TG_TMP/httpx.out")" pid)
	sleep 0.5
	as_reported "httpx_h2${mode/--/_}" "$pid" "$TG_TMP/httpx.out"
done

# --- every recorded fixture over HTTP/2, exact ------------------------------------
FIX=${FIXTURES:-$TG_TOP/../shared/fixtures}/llm-traffic
if [ -d "$FIX" ]; then
	all=$(cd "$FIX" && ls *.json)
	tg_in_cgroup stacks "$TG_PY" "$TG_CLIENTS/py_replay.py" "$TG_H2_URL" "$TG_CA" --http2 \
		$all > "$TG_TMP/replay_h2.out"
	sleep 1
	if grep -q '"proto": "HTTP/2"' "$TG_TMP/replay_h2.out" &&
		! grep -v '"proto": "HTTP/2"' "$TG_TMP/replay_h2.out" | grep -q .; then
		"$TG_PY" "$TG_LIB/check_meter.py" "$OUT" "$TG_TMP/replay_h2.out" --mode exact \
			--name fixtures_h2 --calc-price "$TG_NODE" "$TG_LIB/calc_price.mjs" || true
	else
		fail fixtures_h2 "not all replayed over HTTP/2: $(head -c 300 "$TG_TMP/replay_h2.out")"
	fi
else
	skip fixtures_h2 "no fixtures at $FIX"
fi

# --- Go: crypto/tls, net/http over HTTP/2 and HTTP/1.1, stripped -------------------
GO_LLM=$TG_BUILD/integ/go_llm
if [ -x "$GO_LLM" ] && [ -x "${GO_LLM}_stripped" ]; then
	tg_in_cgroup stacks "$GO_LLM" -url "$TG_H2_URL/v1/chat/completions" -ca "$TG_CA" -n 3 -h1 -delay-ms 300 \
		> "$TG_TMP/go1.out" 2>&1
	tg_in_cgroup stacks "$GO_LLM" -url "$TG_H2_URL/v1/chat/completions" -ca "$TG_CA" -n 3 -delay-ms 300 \
		> "$TG_TMP/go2.out" 2>&1
	p1=$(tg_json "$(tail -n 1 "$TG_TMP/go1.out")" pid)
	p2=$(tg_json "$(tail -n 1 "$TG_TMP/go2.out")" pid)
	sleep 0.5
	if grep -q '"proto":"HTTP/2.0"' "$TG_TMP/go2.out" && grep -q '"proto":"HTTP/1.1"' "$TG_TMP/go1.out"; then
		twins go_h1_h2 "$p1" "$p2" 3
	else
		fail go_h1_h2 "protocols: $(head -n 1 "$TG_TMP/go1.out") / $(head -n 1 "$TG_TMP/go2.out")"
	fi
	tg_in_cgroup stacks "${GO_LLM}_stripped" -url "$TG_H2_URL/v1/chat/completions" -ca "$TG_CA" \
		-n 2 -stream -parallel 2 -delay-ms 300 > "$TG_TMP/gos.out" 2>&1
	pid=$(tg_json "$(tail -n 1 "$TG_TMP/gos.out")" pid)
	sleep 0.5
	as_reported go_stripped_stream "$pid" "$TG_TMP/gos.out"
else
	skip go_h1_h2 "no Go client built ($GO_LLM): golang-go missing"
	skip go_stripped_stream "no Go client built"
fi

# --- GnuTLS: wget and gnutls-cli ---------------------------------------------------
if command -v wget >/dev/null && ldd "$(command -v wget)" | grep -q libgnutls; then
	o1=$(tg_in_cgroup stacks sh -c 'echo "{\"pid\":$$}"; sleep 0.3; exec curl -sS --http1.1 --cacert "$0" -H "content-type: application/json" -d "$1" "$2" -o /dev/null' \
		"$TG_CA" "$BODY" "$TG_URL/v1/chat/completions" | head -n 1)
	o2=$(tg_in_cgroup stacks sh -c 'echo "{\"pid\":$$}"; sleep 0.3; exec wget -q -O /dev/null --ca-certificate="$0" --header="Content-Type: application/json" --post-data="$1" "$2"' \
		"$TG_CA" "$BODY" "$TG_URL/v1/chat/completions" | head -n 1)
	sleep 0.5
	twins wget_gnutls "$(tg_json "$o1" pid)" "$(tg_json "$o2" pid)" 1
else
	skip wget_gnutls "wget is missing or not built with GnuTLS"
fi
if command -v gnutls-cli >/dev/null; then
	printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"${#BODY}" "$BODY" > "$TG_TMP/gnutls.req"
	o2=$(tg_in_cgroup stacks sh -c 'echo "{\"pid\":$$}"; sleep 0.3; exec gnutls-cli --logfile=/dev/null --x509cafile "$0" -p "$1" 127.0.0.1 < "$2" > /dev/null 2>&1' \
		"$TG_CA" "$TG_PORT" "$TG_TMP/gnutls.req" | head -n 1)
	sleep 0.5
	twins gnutls_cli "$(tg_json "$o1" pid)" "$(tg_json "$o2" pid)" 1
else
	skip gnutls_cli "gnutls-cli (gnutls-bin) is missing"
fi

# --- the Responses API's WebSocket mode, with the official SDK ----------------------
# Each response.create on one socket is a call, metered with the usage of
# its response.completed: compressed with the context kept across messages,
# without, uncompressed, and with every event split in fragments.
for mode in on no-context-takeover off fragment; do
	if [ $mode = fragment ]; then tg_ws_start on --fragment; else tg_ws_start $mode; fi ||
		{ fail "ws_$mode" "WebSocket provider did not start"; continue; }
	tg_in_cgroup stacks "$TG_NODE" "$TG_CLIENTS/openai_ws.mjs" --base-url "$TG_WS_URL" \
		--n 3 --client-deflate always --delay-ms 300 > "$TG_TMP/ws.out" 2>&1
	pid=$(tg_json "$(tail -n 1 "$TG_TMP/ws.out")" pid)
	sleep 0.5
	as_reported "ws_${mode//-/_}" "$pid" "$TG_TMP/ws.out"
done
# a socket cut in the middle of the second response: both calls metered,
# the cut one with what its events said so far (estimated), flagged cut_off
tg_ws_start on
tg_in_cgroup stacks "$TG_NODE" "$TG_CLIENTS/openai_ws.mjs" --base-url "$TG_WS_URL" \
	--n 2 --abort-after 4 --delay-ms 300 > "$TG_TMP/ws_cut.out" 2>&1
pid=$(tg_json "$(tail -n 1 "$TG_TMP/ws_cut.out")" pid)
sleep 0.5
tg_check "$OUT" --quiet --match pid="$pid" --match capture=complete --expect-count 1 &&
	tg_check "$OUT" --quiet --match pid="$pid" --match capture=cut_off \
		--match usage_source=estimated --expect-count 1 \
	&& pass ws_cut_off || fail ws_cut_off "$(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 3)"
tg_ws_stop

# --- an HTTP/2 connection opened before the agent ------------------------------------
# The client connects and makes a call; the agent starts; the client's later
# calls on that connection are metered from what its bodies say, flagged
# missed_start, and the loss is counted.
tg_trace_stop
tg_in_cgroup stacks "$TG_NODE" "$TG_CLIENTS/node_h2_client.js" --url "$TG_H2_URL" --ca "$TG_CA" \
	--streams 2 --rounds 3 --delay-ms 4000 > "$TG_TMP/early.out" 2>&1 &
early=$!
sleep 1.5
OUT2=$TG_TMP/trace2.jsonl
tg_trace_start "$OUT2" --policy "$POLICY" --cgroup '/tollgate-test/stacks*'
wait "$early"
pid=$(tg_json "$(tail -n 1 "$TG_TMP/early.out")" pid)
sleep 1
if why=$("$TG_PY" - "$OUT2" "$pid" "$TG_TMP/early.out" <<'PY'
import json, sys
out, pid, cout = sys.argv[1], int(sys.argv[2]), sys.argv[3]
recs = [json.loads(l) for l in open(out) if l.startswith("{")]
mine = [r for r in recs if r.get("pid") == pid]
calls = [json.loads(l) for l in open(cout) if l.startswith("{") and '"usage"' in l]
# rounds 2 and 3 (4 calls) come after the agent started; round 1 may not be seen
if len(mine) < 4:
    sys.exit("%d records, want at least 4: %r" % (len(mine), mine))
want = {(c["usage"]["input_tokens"], c["usage"]["output_tokens"]) for c in calls}
for r in mine:
    if (r["input_tokens"], r["output_tokens"]) not in want or r["usage_source"] != "provider":
        sys.exit("usage %r not one the provider reported %r" % (r, want))
    if r["capture"] != "missed_start" or r["team"] != "stacks" or r["model"] != "gpt-4o-mini":
        sys.exit("record %r" % r)
PY
); then
	pass h2_opened_before_agent
else
	fail h2_opened_before_agent "$why"
fi
tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] && pass clients_exit_status || fail clients_exit_status "exit $TG_TRACE_RC"
why=$(tg_counters_hold "$OUT2.err" http2.connections\>=1 http2.midstream\>=1 http2.headless_calls\>=4) \
	&& pass h2_loss_counted || fail h2_loss_counted "$why"

tg_finish

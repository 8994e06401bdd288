#!/bin/bash
# Self-test of the integration-test harness, without tollgate: the provider
# answers every API and knob, every client works against it over HTTPS with
# the test CA (and fails without it), the cgroup helpers put processes where
# they say, check_records.py asserts what it should.
#
#   tests/integ/lib/selftest.sh        (PASS/FAIL/SKIP lines, exit 1 on a FAIL)
#
# It lives in lib/ so tests/run.sh does not run it; copy or link it to
# tests/integ/test_harness.sh to make it part of `make test`.
. "$(dirname "$0")/common.sh"
TG_TEST=harness

tg_setup || { fail harness-setup "provider did not start"; tg_finish; }
PY=$TG_PY
N=$TG_NODE
C=$TG_CLIENTS

# expect NAME JSON PYEXPR: PYEXPR over o (the client's JSON) must be true.
expect() {
	local name=$1 out=$2 cond=$3
	if [ -z "$out" ]; then
		fail "$name" "no output"
		return
	fi
	if "$PY" -c '
import json, sys
o = json.loads(sys.argv[1]); p = o.get("provider", {})
sys.exit(0 if eval(sys.argv[2]) else 1)' "$out" "$cond" 2>/dev/null; then
		pass "$name"
	else
		fail "$name" "want $cond, got $out"
	fi
}

OK='o["status"] == 200 and o["request_bytes"] == p["request_bytes"] and o["response_bytes"] > 0'

# --- every client, plain and stream, over the APIs it speaks ---------------------
for path in /v1/chat/completions /v1/completions /v1/responses /v1/embeddings /v1/messages \
	/v1beta/models/gemini-2.0-flash:generateContent; do
	api=$(basename "${path//:/_}")
	out=$("$PY" "$C/py_http.py" "$TG_URL" --path "$path")
	expect "py-$api" "$out" "$OK and p['usage']['input_tokens'] >= 1"
	out=$("$N" "$C/node_https.js" "$TG_URL" --path "$path")
	expect "node_https-$api" "$out" "$OK"
	out=$("$N" "$C/node_fetch.js" "$TG_URL" --path "$path")
	expect "node_fetch-$api" "$out" "$OK"
	case $path in */embeddings) continue ;; esac
	out=$("$PY" "$C/py_http.py" "$TG_URL" --path "$path" --stream --events 7)
	expect "py-$api-stream" "$out" "$OK and o['events'] == p['sse_events'] and p['usage']['output_tokens'] == 7"
	out=$("$N" "$C/node_https.js" "$TG_URL" --path "$path" --stream --events 7)
	expect "node_https-$api-stream" "$out" "$OK and o['events'] == p['sse_events']"
	out=$("$N" "$C/node_fetch.js" "$TG_URL" --path "$path" --stream --events 7)
	expect "node_fetch-$api-stream" "$out" "$OK and o['events'] == p['sse_events']"
done

for api in chat responses embeddings completions; do
	out=$("$N" "$C/openai_sdk.mjs" "$TG_URL" --api "$api")
	expect "openai_sdk-$api" "$out" "$OK and p['api'] == 'openai-$api'"
	[ "$api" = embeddings ] && continue
	out=$("$N" "$C/openai_sdk.mjs" "$TG_URL" --api "$api" --stream --include-usage --events 6)
	if [ "$api" = responses ]; then
		expect "openai_sdk-$api-stream" "$out" "$OK and o['events'] == p['sse_events']"
	else	# the SDK does not yield the [DONE] sentinel
		expect "openai_sdk-$api-stream" "$out" "$OK and o['events'] == p['sse_events'] - 1 and p['usage']['reported']"
	fi
done
out=$("$N" "$C/anthropic_sdk.mjs" "$TG_URL")
expect anthropic_sdk "$out" "$OK and p['api'] == 'anthropic-messages'"
out=$("$N" "$C/anthropic_sdk.mjs" "$TG_URL" --stream --events 6)
expect anthropic_sdk-stream "$out" "$OK and o['events'] == p['sse_events'] - 1"	# ping not yielded
out=$(tg_curl "$TG_URL/v1/chat/completions" -H 'Content-Type: application/json' \
	-d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}' -w '\n%{http_code}')
[ "$(echo "$out" | tail -n 1)" = 200 ] && echo "$out" | grep -q '"model": "gpt-4o"' &&
	pass curl || fail curl "got $out"

# --- sizes, keep-alive, framing --------------------------------------------------------
for cl in py_http.py node_https.js node_fetch.js; do
	run=("$N" "$C/$cl"); [ "$cl" = py_http.py ] && run=("$PY" "$C/$cl")
	out=$("${run[@]}" "$TG_URL" --body-bytes 2000000)
	expect "$cl-body-2MB" "$out" "$OK and o['request_bytes'] == 2000000"
	out=$("${run[@]}" "$TG_URL" --repeat 5 --stream)
	expect "$cl-keepalive-5" "$out" "o['statuses'] == [200] * 5 and o.get('connections', 1) == 1"
	out=$("${run[@]}" "$TG_URL" --gzip --header 'X-Test-Chunked: 1')
	expect "$cl-gzip-chunked" "$out" "$OK and o['response_bytes'] > 700"
	out=$("${run[@]}" "$TG_URL" --gzip --stream --events 9)
	expect "$cl-gzip-stream" "$out" "$OK and o['events'] == p['sse_events']"
	out=$("${run[@]}" "$TG_URL" --stream --header 'X-Test-Close-Delimited: 1')
	expect "$cl-close-delimited" "$out" "$OK and o['events'] == p['sse_events']"
	out=$("${run[@]}" "$TG_URL" --stream --events 10 --header 'X-Test-Abort-After-Events: 4')
	expect "$cl-abort" "$out" "'error' in o and o['events'] == 4"
	out=$("${run[@]}" "$TG_URL" --header 'X-Test-Status: 429')
	expect "$cl-429" "$out" "o['status'] == 429 and not p['usage']['reported']"
done
out=$("$PY" "$C/py_http.py" "$TG_URL" --req-chunked --body-bytes 300000)
expect py-request-chunked "$out" "$OK and p['request_bytes'] == 300000"
out=$("$N" "$C/node_https.js" "$TG_URL" --req-chunked --body-bytes 300000)
expect node_https-request-chunked "$out" "$OK and p['request_bytes'] == 300000"
out=$("$PY" "$C/py_http.py" "$TG_URL" --header 'X-Test-Usage: prompt=100,cached=30,cache_write=20,completion=50,reasoning=10' --path /v1/messages)
expect provider-usage-override "$out" \
	"p['usage'] == {'input_tokens': 50, 'cached_input_tokens': 30, 'cache_write_tokens': 20, 'output_tokens': 50, 'reasoning_tokens': 10, 'reported': True}"
t0=$(date +%s%N)
out=$("$PY" "$C/py_http.py" "$TG_URL" --header 'X-Test-Delay-Ms: 700')
t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -ge 700 ] && expect provider-delay "$out" "$OK" ||
	fail provider-delay "answered in $(( (t1 - t0) / 1000000 )) ms"
printf '%s' '{"model":"gpt-4o","messages":[]}' > "$TG_TMP/b.json"
head -c 1500000 /dev/zero | tr '\0' ' ' >> "$TG_TMP/b.json"
out=$(tg_curl -v "$TG_URL/v1/chat/completions" -H 'Content-Type: application/json' \
	--data-binary @"$TG_TMP/b.json" -o /dev/null 2>&1)
echo "$out" | grep -q '100 Continue' && echo "$out" | grep -q 'X-Test-Request-Bytes: 1500032' &&
	pass curl-expect-100 || fail curl-expect-100 "no 100 Continue or wrong size"

# --- HTTPS with the test CA, really ---------------------------------------------------
# NODE_EXTRA_CA_CERTS without the test CA (the system bundle): the handshake must fail.
out=$(TG_CA= NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$N" "$C/openai_sdk.mjs" "$TG_URL" 2>/dev/null)
expect openai_sdk-rejects-unknown-ca "$out" "o['status'] is None and 'error' in o"
out=$(TG_CA= NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$N" "$C/anthropic_sdk.mjs" "$TG_URL" 2>/dev/null)
expect anthropic_sdk-rejects-unknown-ca "$out" "o['status'] is None and 'error' in o"
out=$(TG_CA= "$PY" "$C/py_http.py" "$TG_URL" --ca /etc/ssl/certs/ca-certificates.crt)
expect py-rejects-unknown-ca "$out" "'CERTIFICATE_VERIFY_FAILED' in o.get('error', '')"
out=$(curl -sS -m 5 -i "http://127.0.0.1:$TG_PORT/v1/models" 2>/dev/null | head -c 100)
case $out in *HTTP/1.1*) fail provider-tls-only "answered plaintext HTTP" ;; *) pass provider-tls-only ;; esac

# --- dlopen delay ---------------------------------------------------------------------
"$PY" "$C/py_http.py" "$TG_URL" --dlopen-delay 1.5 > "$TG_TMP/dl.out" &
dl=$!
sleep 0.7
if grep -q libssl /proc/$dl/maps 2>/dev/null; then
	fail py-dlopen-delay "libssl mapped before the delay ended"
	wait $dl
else
	wait $dl
	expect py-dlopen-delay "$(cat "$TG_TMP/dl.out")" "$OK"
fi

# --- cgroups ----------------------------------------------------------------------------
if [ "$(id -u)" = 0 ] && [ -n "$(tg_cgroup_root)" ]; then
	cg=$(tg_cgroup_make sel/ftest)
	got=$(tg_in_cgroup sel/ftest cat /proc/self/cgroup | sed -n 's/^0:://p')
	[ "$cg" = /tollgate-test/sel/ftest ] && [ "$got" = "$cg" ] && pass cgroup-in ||
		fail cgroup-in "made $cg, process in $got"
	tg_in_cgroup sel/bg sleep 60 &
	bg=$!
	sleep 0.2
	[ "$(cat /proc/$bg/comm 2>/dev/null)" = sleep ] && tg_cgroup_pids sel/bg | grep -qx "$bg" &&
		pass cgroup-bg-pid || fail cgroup-bg-pid "\$! is not the command"
	tg_cgroup_remove sel
	sleep 0.1
	kill -0 "$bg" 2>/dev/null && fail cgroup-remove "process survived" ||
		{ [ -d "$(tg_cgroup_dir sel)" ] && fail cgroup-remove "cgroup left" || pass cgroup-remove; }
	wait "$bg" 2>/dev/null
	prov=$(sed -n 's/^0:://p' /proc/$TG_PROVIDER_PID/cgroup)
	[ "$(cat /proc/$TG_PROVIDER_PID/comm)" = tg-provider ] && case $prov in /tollgate-test/provider-*) true ;; *) false ;; esac &&
		pass provider-cgroup-comm || fail provider-cgroup-comm "provider in $prov"
else
	skip cgroup "needs root and cgroup2"
fi

# --- check_records ------------------------------------------------------------------------
cat > "$TG_TMP/r.jsonl" <<'EOF'
{"pid":12,"model":"gpt-4o-mini","stream":true,"status":200,"input_tokens":20,"cost_usd":0.0001}
{"pid":13,"model":"tg-canary-1","stream":false,"status":200,"input_tokens":5,"cost_usd":null}
EOF
tg_check "$TG_TMP/r.jsonl" --quiet --match pid=12 --match stream=true --match 'cost_usd>0' --expect-count 1 &&
	! tg_check "$TG_TMP/r.jsonl" --quiet --match pid=12 --match input_tokens=21 &&
	[ "$(tg_check "$TG_TMP/r.jsonl" --exclude 'model~tg-canary*' --get model)" = gpt-4o-mini ] &&
	pass check_records || fail check_records "assertions wrong"

tg_finish

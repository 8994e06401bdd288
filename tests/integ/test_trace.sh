#!/bin/bash
# `tollgate trace` with real BPF against real clients: curl, python3
# http.client, node https and fetch, the official openai and
# @anthropic-ai/sdk packages, each in a test cgroup, talking to a local
# HTTPS provider on loopback.  Asserts the records: comm, cgroup, path,
# status, model, stream flag and exact body sizes.
. "$(dirname "$0")/lib/common.sh"
tg_require_root_btf
tg_require_bin
tg_setup || { fail trace_setup "provider did not start"; tg_finish; }

OUT=$TG_TMP/trace.jsonl
tg_trace_start "$OUT" --call-cap 8M
tg_trace_wait_ready || { fail trace_ready "tracer produced no record"; tg_finish; }

# check NAME client-output [extra match conditions...]: one record of the
# client's pid, with the sizes the client itself sent and received.
check() {
	local name=$1 out=$2; shift 2
	local pid req resp status
	pid=$(tg_json "$out" pid)
	req=$(tg_json "$out" request_bytes)
	resp=$(tg_json "$out" response_bytes)
	status=$(tg_json "$out" status)
	if [ -z "$status" ]; then
		fail "$name" "client failed: $out"
		return
	fi
	# curl runs as a child of its wrapper shell: it is found by cgroup and comm
	local bypid=(--match pid="$pid")
	[ -n "$pid" ] || bypid=(--match comm!=sh)
	if tg_check "$OUT" --wait 10 --quiet "${bypid[@]}" --match status="$status" \
		--match request_bytes="$req" --match response_bytes="$resp" \
		--match method=POST --match uid=0 --match 'ts>0' --match 'duration_ms>0' \
		"$@" --expect-count "${EXPECT:-1}"; then
		pass "$name"
	else
		fail "$name" "$(tg_check "$OUT" "${bypid[@]}" --match request_bytes="$req" \
			--match response_bytes="$resp" "$@" --expect-count "${EXPECT:-1}" 2>&1 | tail -n 5 | tr '\n' ' ')"
	fi
}

# curl, HTTP/1.1, a chat completion.  The shell execs curl: same pid.
curl_call() {	# cgroup body-file [curl options...]
	local cg=$1 bodyf=$2; shift 2
	tg_in_cgroup "$cg" sh -c 'resp=$(mktemp); echo "{\"request_bytes\": $(stat -c %s "$2"), \"status\": $(curl -sS --http1.1 --cacert "$0" -o "$resp" -w "%{http_code}" -H "Content-Type: application/json" -H "Authorization: Bearer sk-test-SECRET-curl" --data-binary @"$2" "$1/v1/chat/completions"), \"response_bytes\": $(stat -c %s "$resp")}"; rm -f "$resp"' "$TG_CA" "$TG_URL" "$bodyf"
}
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' > "$TG_TMP/chat.json"
out=$(curl_call curl "$TG_TMP/chat.json")
# the shell execs curl: same pid, comm curl
check curl_chat "$out" --match comm=curl --match cgroup=/tollgate-test/curl \
	--match path=/v1/chat/completions --match model=gpt-4o-mini --match stream=false \
	--match provider=openai-compatible --match "host=127.0.0.1:$TG_PORT" --match 'exe~*/curl'

# python3 http.client: streaming, with the provider's usage chunk
out=$(tg_in_cgroup py "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4.1 --stream --include-usage --events 12)
check py_stream "$out" --match comm=python3 --match cgroup=/tollgate-test/py --match model=gpt-4.1 \
	--match stream=true --match 'ttft_ms>0' --match 'exe~*/python3*'

# python3: gzip-encoded response (response_bytes is the decoded size)
out=$(tg_in_cgroup py "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4o --gzip)
check py_gzip "$out" --match cgroup=/tollgate-test/py --match model=gpt-4o

# python3: keep-alive, three calls on one connection
out=$(tg_in_cgroup py "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model o3-mini --repeat 3)
pid=$(tg_json "$out" pid)
tg_check "$OUT" --wait 10 --quiet --match pid="$pid" --match model=o3-mini --match status=200 \
	--expect-count 3 && pass py_keep_alive || fail py_keep_alive "$(tg_check "$OUT" --match pid="$pid" 2>&1 | tail -n 3)"

# python3: an error status is still a call
out=$(tg_in_cgroup py "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4o --header 'X-Test-Status: 429')
check py_429 "$out" --match status=429

# node https
out=$(tg_in_cgroup node "$TG_NODE" "$TG_CLIENTS/node_https.js" "$TG_URL" --model gpt-4o)
check node_https "$out" --match comm=node --match cgroup=/tollgate-test/node --match model=gpt-4o \
	--match 'exe~*/node'

# node fetch (undici writes the request from inside SSL_read)
out=$(tg_in_cgroup node "$TG_NODE" "$TG_CLIENTS/node_fetch.js" "$TG_URL" --model gpt-4o-mini --stream)
check node_fetch "$out" --match comm=node --match model=gpt-4o-mini --match stream=true

# the official openai SDK: chat, streamed chat, responses, embeddings
out=$(tg_in_cgroup sdk "$TG_NODE" "$TG_CLIENTS/openai_sdk.mjs" "$TG_URL" --model gpt-4o)
check openai_sdk_chat "$out" --match cgroup=/tollgate-test/sdk --match path=/v1/chat/completions \
	--match model=gpt-4o --match stream=false
out=$(tg_in_cgroup sdk "$TG_NODE" "$TG_CLIENTS/openai_sdk.mjs" "$TG_URL" --model gpt-4o-mini --stream --include-usage)
check openai_sdk_stream "$out" --match model=gpt-4o-mini --match stream=true
out=$(tg_in_cgroup sdk "$TG_NODE" "$TG_CLIENTS/openai_sdk.mjs" "$TG_URL" --api responses --model gpt-5 --stream)
check openai_sdk_responses "$out" --match path=/v1/responses --match model=gpt-5 --match stream=true
out=$(tg_in_cgroup sdk "$TG_NODE" "$TG_CLIENTS/openai_sdk.mjs" "$TG_URL" --api embeddings --model text-embedding-3-small)
check openai_sdk_embeddings "$out" --match path=/v1/embeddings --match model=text-embedding-3-small

# the official Anthropic SDK
out=$(tg_in_cgroup sdk "$TG_NODE" "$TG_CLIENTS/anthropic_sdk.mjs" "$TG_URL" --model claude-test-sonnet)
check anthropic_sdk "$out" --match provider=anthropic --match path=/v1/messages \
	--match model=claude-test-sonnet --match stream=false
out=$(tg_in_cgroup sdk "$TG_NODE" "$TG_CLIENTS/anthropic_sdk.mjs" "$TG_URL" --model claude-haiku-4-5 --stream)
check anthropic_sdk_stream "$out" --match provider=anthropic --match stream=true

# a 2,000-event SSE stream arrives whole
out=$(tg_in_cgroup big "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4o --stream --events 2000)
check sse_2000_events "$out" --match stream=true

# a 4 MiB request body arrives whole: curl writes it in pieces under the
# default per-call cap, python writes it in one SSL_write_ex (the tracer
# runs with --call-cap 8M)
body=$TG_TMP/body4m.json
"$TG_PY" - "$body" <<'EOF'
import json, sys
n = 4 << 20
head = '{"model":"gpt-4o","messages":[{"role":"user","content":"'
tail = '"}]}'
open(sys.argv[1], "w").write(head + "x" * (n - len(head) - len(tail)) + tail)
EOF
out=$(curl_call big "$body")
check curl_4mib_body "$out" --match comm=curl --match cgroup=/tollgate-test/big \
	--match request_bytes=$((4 << 20)) --match model=gpt-4o
out=$(tg_in_cgroup big "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4o --body-bytes $((4 << 20)))
check py_4mib_body "$out" --match model=gpt-4o --match 'request_bytes>4000000'

# a client that loads libssl with dlopen a second after it started
out=$(tg_in_cgroup late "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" --model gpt-4o --dlopen-delay 1)
check dlopen_after_start "$out" --match cgroup=/tollgate-test/late

# Gemini: the key in the query string and in x-goog-api-key
out=$(tg_in_cgroup py "$TG_PY" "$TG_CLIENTS/py_http.py" "$TG_URL" \
	--path '/v1beta/models/gemini-2.0-flash:generateContent?key=AIzaQuerySECRET0000' --stream)
check gemini_key_in_query "$out" --match provider=gemini --match model=gemini-2.0-flash \
	--match path=/v1beta/models/gemini-2.0-flash:streamGenerateContent --match stream=true

# no path keeps its query string (a key can be in it)
if paths=$(tg_check "$OUT" --min-count 20 --get path); then
	if grep -q '[?#]' <<<"$paths"; then
		fail no_query_strings "a path kept its query string: $(grep '[?#]' <<<"$paths" | head -n 1)"
	else
		pass no_query_strings
	fi
else
	fail no_query_strings "records unreadable: $paths"
fi

# SIGINT: a clean exit (status 0), calls in flight flushed, then counters
# that say nothing was lost, dropped or refused on the way.  (Not the
# unmatched returns nor the orphan responses: a canary call made while
# the probes are being attached can be caught halfway, legitimately.)
tg_trace_stop
if [ "$TG_TRACE_RC" != 0 ]; then
	fail trace_exit_status "exit status $TG_TRACE_RC: $(tail -n 5 "$OUT.err" | tr '\n' ' ')"
else
	pass trace_exit_status
fi
if why=$(tg_counters_hold "$OUT.err" counters.ssl_calls\>0 counters.bytes_copied\>8000000 \
	counters.gaps=0 counters.gap_bytes=0 counters.ringbuf_drops=0 counters.lost_calls=0 \
	counters.no_frame=0 counters.proc_event_drops=0 \
	connections.dropped=0 connections.stream_gaps=0 connections.inferred_gaps=0 \
	connections.lost_gaps=0 connections.stale_events=0 connections.replaced=0 \
	connections.kernel_evicted=0 http.llm_calls\>=20 http.http_errors=0 \
	http.decode_errors=0 http.truncated=0 http.shed=0 http.heads_shed=0 \
	http.sse_oversized=0 memory.refused=0 \
	probes.failures=0 probes.targets_full=0 agent.records\>=20); then
	pass trace_counters_on_exit
else
	fail trace_counters_on_exit "$(echo $why)"
fi

# nothing secret reaches the output: OpenAI, Anthropic and Gemini keys,
# headers, prompt text
tg_no_secrets no_secrets_in_output "$OUT" "$OUT.err"

tg_finish

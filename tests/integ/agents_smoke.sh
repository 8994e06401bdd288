#!/bin/bash
# Smoke run of the real agent stacks of lib/agents.sh against the local
# providers, without tollgate: Bun 1.3 and 1.4 fetch (chat completions and
# Anthropic messages, plain and streamed), claude -p, codex exec over
# HTTP/1.1 (provider.py) and over HTTP/2 (provider_h2.js).  Not part of the
# suite (tests/run.sh runs test_*.sh); run it by hand, alongside a tracer:
#
#	tests/integ/agents_smoke.sh
#	TG_AGENT_DELAY_MS=500 tests/integ/agents_smoke.sh	# time for probes to attach
#	build/tollgate trace --format jsonl --cgroup /tollgate-test/agents	# elsewhere
#
# As root with a cgroup2 mount the agents run in test cgroup "agents"
# (/tollgate-test/agents; TG_AGENT_CGROUP names another).  Prints a PASS or
# FAIL line per run with the client's JSON line and the HTTP version the
# provider saw; TG_KEEP=1 keeps the temp dir (the agents' output and
# config, the providers' logs).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/agents.sh"

if ! why=$(tg_agents_check); then
	skip agents_smoke "$why"
	exit 0
fi
export TG_PROVIDER_VERBOSE=1
tg_setup || { fail agents_setup "provider did not start"; tg_finish; }
tg_h2_start || { fail agents_setup "HTTP/2 provider did not start"; tg_finish; }
if [ "$(id -u)" = 0 ] && [ -n "$(tg_cgroup_root)" ]; then
	export TG_AGENT_CGROUP=${TG_AGENT_CGROUP:-agents}
	tg_log "agents run in cgroup $(tg_cgroup_make "$TG_AGENT_CGROUP")"
else
	unset TG_AGENT_CGROUP
fi
tg_log "provider $TG_URL (HTTP/1.1), HTTP/2 front $TG_H2_URL, temp $TG_TMP"

# SEEN: what the providers saw since the last call, "provider.py h1 xN" for
# requests to its TLS port, "front h2 xN" / "front h1 xN" for provider_h2.js
# (provider.py logs the front's relayed requests too, on its plain port).
P1=0 P2=0 SEEN=
seen() {
	local n1 n2 direct front
	n1=$(grep -c '"[A-Z]* /' "$TG_TMP/provider.log")
	n2=$(grep -c '^provider_h2: h[12] ' "$TG_TMP/provider_h2.log")
	direct=$((n1 - P1 - (n2 - P2)))
	front=$(grep '^provider_h2: h[12] ' "$TG_TMP/provider_h2.log" | tail -n +$((P2 + 1)) |
		awk '{ n[$2]++ } END { for (p in n) printf "front %s x%d ", p, n[p] }')
	P1=$n1 P2=$n2
	[ "$direct" -gt 0 ] && front="provider.py h1 x$direct $front"
	SEEN=${front% }
}

# check NAME JSON RC PYEXPR: PASS if RC is 0 and PYEXPR holds over o (the
# JSON line).
check() {
	local name=$1 out=$2 rc=$3 cond=$4
	seen
	if [ "$rc" = 0 ] && "$TG_PY" -c '
import json, sys
o = json.loads(sys.argv[1]); p = o.get("provider", {})
sys.exit(0 if eval(sys.argv[2]) else 1)' "$out" "$cond" 2>/dev/null; then
		pass "$name [$SEEN] $out"
	else
		fail "$name" "rc $rc [$SEEN] ${out:-no output}"
	fi
}

OK='o["status"] == 200 and o["request_bytes"] == p["request_bytes"] and o["response_bytes"] > 0'
for v in 1.3 1.4; do
	for path in /v1/chat/completions /v1/messages; do
		api=${path#/v1/}; api=${api//\//-}
		out=$(tg_bun "$v" "$TG_URL" --path "$path"); rc=$?
		check "bun$v-$api" "$out" "$rc" "$OK"
		out=$(tg_bun "$v" "$TG_URL" --path "$path" --stream --include-usage --events 7); rc=$?
		check "bun$v-$api-stream" "$out" "$rc" "$OK and o['events'] == p['sse_events']"
	done
done

out=$(tg_claude "say hi"); rc=$?
check claude "$out" "$rc" 'o["text"] == "This is a test from"'

out=$(tg_codex "$TG_URL" "say hi"); rc=$?
check codex-h1 "$out" "$rc" 'o["text"] == "This is a test from" and o["usage"]["output_tokens"] == 5'
out=$(tg_codex "$TG_H2_URL" "say hi"); rc=$?
check codex-h2 "$out" "$rc" 'o["text"] == "This is a test from" and o["usage"]["output_tokens"] == 5'

tg_finish

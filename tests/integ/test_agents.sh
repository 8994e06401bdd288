#!/bin/bash
# AI coding agents that carry their own TLS, with real BPF and the real
# binaries from the npm registry (tests/node): Bun 1.3 and 1.4 (BoringSSL
# built in, stripped), Claude Code (a Bun binary) and Codex (OpenSSL 3,
# rustls over aws-lc and over ring, all linked into one stripped musl
# binary).  Each is located by discovery when it execs -- cold: the cache
# is empty, and the process is held meanwhile -- and its calls are metered like node's: Bun's fetch as the
# twin of node's fetch field by field, claude -p and codex exec (over
# HTTP/1.1 and HTTP/2) with the usage the provider gave them.  Also: the
# discovery cache, `tollgate probes`, no false discovery on other large
# binaries, and a probe that sees what TLS cannot produce is disabled.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/agents.sh"
tg_require_root_btf
tg_require_bin
if ! why=$(tg_agents_check); then
	skip agents "$why"
	tg_finish
fi
export TG_PROVIDER_VERBOSE=1
tg_setup || { fail agents_setup "provider did not start"; tg_finish; }
tg_h2_start || { fail agents_setup "HTTP/2 provider did not start"; tg_finish; }

POLICY=$TG_TMP/policy.yaml
cat > "$POLICY" <<EOF
version: 1
teams:
  - name: agents
    match: { cgroup: ["/tollgate-test/agents*"] }
EOF
OUT=$TG_TMP/trace.jsonl
CACHE=$TG_TMP/state/discover
export TOLLGATE_CACHE_DIR=$CACHE TG_AGENT_CGROUP=agents

# The records of PID and PID2 (one per call, in order) agree on everything
# but who made them.
twins() {	# NAME PID PID2 COUNT
	local name=$1 p1=$2 p2=$3 n=$4
	if why=$("$TG_PY" - "$OUT" "$p1" "$p2" "$n" <<'PY'
import json, sys
out, p1, p2, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
recs = [json.loads(l) for l in open(out) if l.startswith("{")]
a = [r for r in recs if r.get("pid") == p1]
b = [r for r in recs if r.get("pid") == p2]
if len(a) != n or len(b) != n:
    sys.exit("calls: node %d, Bun %d, want %d each" % (len(a), len(b), n))
keys = ("provider", "model", "team", "method", "path", "stream", "status", "input_tokens",
        "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "usage_source", "cost_usd", "capture", "request_bytes",
        "response_bytes", "key_fp")
for x, y in zip(a, b):
    diff = ["%s: %r != %r" % (k, x.get(k), y.get(k)) for k in keys if x.get(k) != y.get(k)]
    if diff:
        sys.exit("; ".join(diff))
    if x.get("team") != "agents" or x.get("usage_source") != "provider" or \
       x.get("capture") != "complete":
        sys.exit("record %r" % x)
PY
	); then
		pass "$name"
	else
		fail "$name" "$why"
	fi
}

# The one call of the agent run whose tg_claude / tg_codex line is OUTPUT
# was metered with the usage the agent says it got, for MODEL and PATH.
agent_call() {	# NAME OUTPUT MODEL PATH EXE-SUFFIX
	local name=$1 o=$2
	if why=$("$TG_PY" - "$OUT" "$o" "$3" "$4" "$5" <<'PY'
import json, sys
out, o, model, path, exe = sys.argv[1:6]
run = json.loads(o)
if run.get("rc") != 0 or not run.get("pid"):
    sys.exit("the agent failed: %r" % run)
recs = [json.loads(l) for l in open(out) if l.startswith("{")]
mine = [r for r in recs if r.get("pid") == run["pid"]]
if len(mine) != 1:
    sys.exit("%d records for pid %d" % (len(mine), run["pid"]))
r, u = mine[0], run.get("usage") or {}
want_in = u.get("input_tokens")
if "cache_read_input_tokens" in u:	# claude: input less the cached parts
    got_in = r["input_tokens"]
else:				# codex: input with the cached part
    got_in = r["input_tokens"] + r["cached_input_tokens"]
if (got_in, r["output_tokens"]) != (want_in, u.get("output_tokens")):
    sys.exit("metered in=%r out=%r, the agent got %r" % (got_in, r["output_tokens"], u))
bad = {k: r.get(k) for k, v in (("model", model), ("path", path), ("team", "agents"),
       ("usage_source", "provider"), ("capture", "complete"), ("stream", True),
       ("status", 200)) if r.get(k) != v}
# exe: read from /proc when the record goes out, gone if the agent has exited
if bad or not r.get("cost_usd") or (r.get("exe") and not r["exe"].endswith(exe)):
    sys.exit("record %r" % r)
PY
	); then
		pass "$name"
	else
		fail "$name" "$why"
	fi
}

tg_trace_start "$OUT" --policy "$POLICY" --cgroup '/tollgate-test/agents*'
tg_trace_wait_ready agents || { fail agents_ready "tracer produced no record"; tg_finish; }

# --- Bun's fetch, the twin of node's ------------------------------------------
# Each Bun binary is analysed when it first execs (~0.3 s): the client waits.
for v in 1.3 1.4; do
	i=0
	for args in "--path /v1/chat/completions" "--path /v1/chat/completions --stream --include-usage" \
		"--path /v1/messages --stream" "--path /v1/responses --repeat 3"; do
		i=$((i + 1))
		n=1
		case $args in *--repeat*) n=3 ;; esac
		ob=$(TG_AGENT_DELAY_MS=800 tg_bun "$v" "$TG_URL" $args)
		on=$(tg_in_cgroup agents "$TG_NODE" "$TG_CLIENTS/node_fetch.js" "$TG_URL" $args)
		sleep 0.3
		twins "bun${v/./}_fetch_$i" "$(tg_json "$on" pid)" "$(tg_json "$ob" pid)" "$n"
	done
done

# --- Claude Code: claude -p --------------------------------------------------------
# No delay: claude makes its call ~0.45 s after its exec, codex ~0.2 s, and
# analysing them cold takes ~0.5 and ~0.7 s: their first exec is held
# (ptrace-stop) until the probes are in place, or the call would be missed.
o=$(TG_AGENT_DELAY_MS=0 tg_claude "say hi" --model claude-haiku-4-5 --output-format json)
sleep 0.5
agent_call claude_p "$o" claude-haiku-4-5 /v1/messages /claude-code-linux-x64/claude

# --- Codex: codex exec over HTTP/1.1 and HTTP/2 -------------------------------------
o=$(TG_AGENT_DELAY_MS=0 tg_codex "$TG_URL" "say hi" -m gpt-5)
sleep 0.5
agent_call codex_http1 "$o" gpt-5 /v1/responses /bin/codex
o=$(TG_AGENT_DELAY_MS=500 tg_codex "$TG_H2_URL" "say hi" -m gpt-5)
sleep 0.5
if grep -q "^provider_h2: h2 POST /v1/responses" "$TG_TMP/provider_h2.log"; then
	agent_call codex_http2 "$o" gpt-5 /v1/responses /bin/codex
else
	fail codex_http2 "codex did not speak HTTP/2 to the front"
fi

# --- built-in TLS that cannot be located is named, never missed in silence ---------
# fake_tls_refused names BoringSSL but no function raises SSL_write's
# reasons: refused, and the process is named with the evidence, and counted.
o=$(tg_in_cgroup agents "$TG_BUILD/integ/fake_tls_refused" 300 5)
sleep 0.5
pid=$(tg_json "$o" pid)
if grep -q "fake_tls_refused carries BoringSSL, which cannot be located (Bad message): .*SSL_write: no function matches" "$OUT.err" &&
	grep -q "pid $pid (fake_tls_refuse, .*fake_tls_refused) carries its own BoringSSL: its LLM calls are not metered yet" "$OUT.err"; then
	pass refused_named
else
	fail refused_named "$(grep fake_tls_refused "$OUT.err" | head -n 3)"
fi

# --- a wrong discovery disables itself ----------------------------------------------
# fake_tls looks like BoringSSL but its "SSL_write" returns more than it
# was given: its probes must go, said and counted, with nothing metered.
o=$(tg_in_cgroup agents "$TG_BUILD/integ/fake_tls" 600 30)
sleep 1.2
kill -USR1 "$TG_TRACE_PID"
sleep 0.5
pid=$(tg_json "$o" pid)
if why=$(tg_counters_hold "$OUT.err" probes.disabled=1 counters.probe_bad_results'>'0 \
	probes.discover_failed=1 unmetered.boringssl_procs=1) &&
	grep -q "built-in TLS in .*fake_tls disabled: [0-9]* results that cannot be TLS" "$OUT.err" &&
	! grep -q "\"pid\":$pid," "$OUT"; then
	pass probe_disabled
else
	fail probe_disabled "${why:-no disabled line, or a record}"
fi
# ... and it stays so: the cache now refuses the file, with why.
p=$("$TG_BIN" probes --file "$TG_BUILD/integ/fake_tls")
case $p in
*"(not probed)"*"disabled after "*" results that cannot be TLS plaintext; it had found: "*)
	pass disabled_remembered ;;
*)	fail disabled_remembered "$p" ;;
esac

# Discovery found what each agent carries, and nothing else.
found=$("$TG_PY" - "$OUT.err" <<'PY'
import os, re, sys
for l in open(sys.argv[1]):
    m = re.search(r"built-in TLS \((.*)\) found in (\S+) in ", l)
    if m:
        print("%s: %s" % (os.path.basename(m.group(2)), m.group(1)))
PY
)
found=$(echo "$found" | sort)
want=$(printf '%s\n' "bun: BoringSSL" "bun: BoringSSL" "claude: BoringSSL" \
	"codex: aws-lc, ring, OpenSSL (static)" "fake_tls: BoringSSL" | sort)
[ "$found" = "$want" ] && pass discovered_at_exec || fail discovered_at_exec "found: $(echo $found)"

tg_trace_stop
[ "$TG_TRACE_RC" = 0 ] && pass agents_trace_exit || fail agents_trace_exit "rc $TG_TRACE_RC"
# Codex's calls went through its rustls records (aws-lc), each key tied
# to its socket, none left untied.
why=$(tg_counters_hold "$OUT.err" counters.tls_records'>'0 counters.tls_keys_tied'>'1 \
	counters.tls_records_untied=0 counters.probe_bad_results'>'0 probes.exec_holds'>'3) &&
	pass codex_records || fail codex_records "$why"
tg_no_secrets agents_no_secrets "$OUT" "$OUT.err"

# --- the cache ------------------------------------------------------------------------
# Every binary analysed above is kept by build id (or content hash), 0600
# in a 0700 directory; asking again reads it.
codex=$(tg_agent_bin codex)
n=$(find "$CACHE" -type f -perm 0600 | wc -l)
j=$("$TG_BIN" probes --json --file "$codex")
if [ "$(stat -c %a "$CACHE")" = 700 ] && [ "$n" -ge 5 ] && [ -z "$(find "$CACHE" -type f ! -perm 0600)" ] &&
	echo "$j" | grep -q '"how":"located by error sites (sha256:[0-9a-f]*, cached)'; then
	pass discover_cached
else
	fail discover_cached "$n files, mode $(stat -c %a "$CACHE"): $j"
fi

# --- tollgate probes ---------------------------------------------------------------
# The probe points of each stack, with the evidence.
if "$TG_PY" - "$j" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
fns = sorted(p["function"] for p in o["probes"])
want = sorted(["ssl_write_internal", "ssl_read_internal", "EVP_AEAD_CTX_seal",
               "EVP_AEAD_CTX_open"] + ["ring seal", "ring open"] * 2)
sys.exit(0 if o["probed"] and o["tls"] == "built-in TLS" and fns == want else 1)
PY
then
	pass probes_codex_file
else
	fail probes_codex_file "$j"
fi
# A running Bun: its pid, the stack it carries and where.
bun=$(tg_agent_bin bun14)
"$bun" -e 'setTimeout(() => {}, 4000)' &
bpid=$!
sleep 0.5
p=$("$TG_BIN" probes "$bpid")
kill "$bpid" 2>/dev/null
wait "$bpid" 2>/dev/null
if echo "$p" | head -n 1 | grep -q "^$bpid bun " &&
	echo "$p" | grep -q "SSL_write at 0x[0-9a-f]* (4 sites in ssl_lib.cc, reasons 66,111,215,226)"; then
	pass probes_pid
else
	fail probes_pid "$p"
fi

# --- no false discovery ----------------------------------------------------------------
# Large binaries on this machine that carry no built-in TLS (or carry it
# with symbols: node exports OpenSSL's) get no discovered probes.
bad=
for f in /usr/bin/node "$TG_BUILD/integ/go_llm_stripped" /usr/bin/gdb /usr/bin/perl \
	$(ls -S /usr/lib/go-*/pkg/tool/linux_amd64/* 2>/dev/null | head -n 2) \
	$(ls -S /usr/bin/* 2>/dev/null | head -n 5) "$TG_BIN"; do
	[ -f "$f" ] || continue
	j=$("$TG_BIN" probes --json --no-cache --file "$f")
	case $j in *'"tls":"built-in TLS"'*) bad="$bad $f" ;; esac
done
[ -z "$bad" ] && pass no_false_discovery || fail no_false_discovery "discovered in:$bad"

# --- budgets stop the agents too ----------------------------------------------------
# A team over its $1/day budget (calls cost $0.45: an unknown model at the
# default price, 1,000 input tokens): the 4th request of Bun's fetch and of
# codex never reaches the provider -- the held SSL_write, or aws-lc's
# EVP_AEAD_CTX_seal, is made to fail -- and the client sees an error.
EPOL=$TG_TMP/enforce.yaml
cat > "$EPOL" <<EOF
version: 1
teams:
  - name: canary
    match: { cgroup: ["/tollgate-test/canary"] }
  - name: bunblock
    match: { cgroup: ["/tollgate-test/bunblock"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
  - name: codexblock
    match: { cgroup: ["/tollgate-test/codexblock"] }
    budgets:
      - { window: day, limit_usd: 1, action: block }
default_price: { input_per_mtok: 450, output_per_mtok: 450 }
EOF
llm_count() { tg_json "$(tg_curl "$TG_URL/__test/stats")" llm_requests; }
EV=$TG_TMP/enforce.jsonl
"$TG_BIN" run --policy "$EPOL" --db "$TG_TMP/state/ledger.db" --metrics off --socket "$TG_TMP/tollgate.sock" --events "$EV" \
	> /dev/null 2> "$EV.err" &
TG_TRACE_PID=$! TG_TRACE_OUT=$EV
if tg_trace_wait_ready canary; then
	l0=$(llm_count)
	o=$(TG_AGENT_CGROUP=bunblock TG_AGENT_DELAY_MS=300 tg_bun 1.4 "$TG_URL" --model tg-enf-bun \
		--repeat 6 --timeout 5 --header 'x-test-usage: prompt=1000')
	l1=$(llm_count)
	if [ "$(tg_json "$o" statuses)" = "[200, 200, 200]" ] && [ -n "$(tg_json "$o" error)" ] &&
		[ $((l1 - l0)) = 3 ]; then
		pass enforce_bun_block
	else
		fail enforce_bun_block "provider got $((l1 - l0)): $o"
	fi
	l0=$(llm_count) rcs=
	for i in 1 2 3 4; do
		TG_AGENT_CGROUP=codexblock TG_AGENT_DELAY_MS=300 tg_codex "$TG_URL" "say hi" \
			-m tg-enf-codex -c 'model_providers.tollgate.http_headers={"x-test-usage"="prompt=1000"}' \
			> /dev/null
		rcs="$rcs $?"
	done
	l1=$(llm_count)
	# Near the limit a request waits for the team's calls in flight and
	# may be refused one early (a codex request spans several held
	# records): 2 or 3 reach the provider, never the 4th.
	n=$((l1 - l0))
	if { [ "$rcs" = " 0 0 0 1" ] && [ "$n" = 3 ]; } || { [ "$rcs" = " 0 0 1 1" ] && [ "$n" = 2 ]; }; then
		pass enforce_codex_block
	else
		fail enforce_codex_block "exit codes$rcs, provider got $n"
	fi
	tg_trace_stop
	# What was stopped never left: it is not metered (the record a held
	# seal copied is reported only if it goes).
	calls=$("$TG_PY" - "$EV" <<'PY'
import json, sys
n = {}
for l in open(sys.argv[1]):
    try:
        r = json.loads(l)
    except ValueError:
        continue
    if r.get("event") is None and r.get("team") in ("bunblock", "codexblock"):
        # the three that went, each with the provider's usage
        ok = r.get("usage_source") == "provider" and r.get("status") == 200
        k = (r["team"], "sent" if ok else "%s/%s" % (r.get("capture"), r.get("usage_source")))
        n[k] = n.get(k, 0) + 1
print(" ".join("%s/%s=%d" % (t, c, v) for (t, c), v in sorted(n.items())))
PY
)
	if [ "$calls" = "bunblock/sent=3 codexblock/sent=$n" ]; then
		pass enforce_blocked_unmetered
	else
		# what to look at: the odd record, the actions, the agent's words
		fail enforce_blocked_unmetered "$calls; $("$TG_PY" - "$EV" <<'PY'
import json, sys
keep = ("ts", "pid", "team", "path", "stream", "status", "request_bytes", "response_bytes",
        "capture", "usage_source", "action", "event", "why", "ok", "error", "held_ms")
for l in open(sys.argv[1]):
    try:
        r = json.loads(l)
    except ValueError:
        continue
    if r.get("team") == "codexblock":
        print(json.dumps({k: r[k] for k in keep if k in r}), end=" | ")
PY
) $(grep -E "enforce|cannot|block" "$EV.err" | tail -8 | tr '\n' '|')"
	fi
else
	fail enforce_agents "agent not ready"
fi

tg_finish

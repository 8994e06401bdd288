#!/bin/bash
# What enforcement costs and how fast it acts (issue: budgets and
# enforcement), measured with the real agent, real cgroups and
# bench/agent/llm_load (one keep-alive TLS connection to its own local
# server, each call one SSL_write of a whole request):
#
#  1. gate delay: a client of a gated team (rate_limits set so high they
#     never throttle: every request is held at its write and decided)
#     against a client of an ungated team, in the same agent, alternating:
#     per-call latency p50/p99, and the difference;
#  2. act latency and overshoot: BENCH_ACT_TEAMS teams, each with a token
#     budget of 2.5 calls and action block; a client of each sends calls
#     back to back until one fails.  From the events file: the time from
#     the crossing call's last response byte (its ts + duration) to the
#     block, p50/p99; and the calls each team got through (3 = no
#     overshoot past the one crossing);
#  3. an ungated team's throughput while a gated team hammers the host,
#     against the same with that team not gated (same load), alternating.
#
# Needs root, BTF and cgroup v2.  BENCH_REPS (3), BENCH_CALLS (3000),
# BENCH_ACT_TEAMS (30), BENCH_PARTS ("gate act throughput").
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
TG=$BUILD/tollgate
LOAD=$BUILD/bench/llm_load
REPS=${BENCH_REPS:-3}
CALLS=${BENCH_CALLS:-3000}
ACT=${BENCH_ACT_TEAMS:-30}
PARTS=" ${BENCH_PARTS:-gate act throughput} "
part() { case $PARTS in *" $1 "*) return 0 ;; esac; return 1; }
log() { echo "enforce-bench: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }
[ -x "$TG" ] || { log "build $TG first (make)"; exit 1; }
mkdir -p "$BUILD/bench"
if [ ! -x "$LOAD" ] || [ bench/agent/llm_load.c -nt "$LOAD" ]; then
	${CC:-gcc} -O2 -g -Wall -Wextra -Werror -std=gnu11 -o "$LOAD" bench/agent/llm_load.c \
		-lssl -lcrypto || { log "cannot build llm_load"; exit 1; }
fi
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$root" ] || { log "needs a cgroup2 mount"; exit 1; }
CG=$root/tollgate-bench
tmp=$(mktemp -d /tmp/tollgate-enforce-bench.XXXXXX)
agent_pid=
cleanup() {
	[ -n "$agent_pid" ] && kill -INT "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
	for d in $(find "$CG" -depth -type d 2>/dev/null); do
		echo 1 > "$d/cgroup.kill" 2>/dev/null
		rmdir "$d" 2>/dev/null || { sleep 0.2; rmdir "$d" 2>/dev/null; }
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$CG"

# in_cg NAME CMD...: run CMD in cgroup tollgate-bench/NAME.
in_cg() {
	local d=$CG/$1; shift
	mkdir -p "$d"
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$d" "$@"
}

field() { sed -n "s/^RESULT .* $1=\([0-9.]*\).*/\1/p" "$2"; }

# start POLICY: the agent, ready when it has metered a call of team warm.
start() {
	rm -f "$tmp/ledger.db"*
	"$TG" run --policy "$1" --db "$tmp/ledger.db" --metrics off --socket off --events "$tmp/ev.jsonl" \
		> /dev/null 2> "$tmp/agent.err" &
	agent_pid=$!
	local i
	for i in $(seq 1 60); do
		in_cg warm "$LOAD" --calls 1 --model warm --delay 0.3 > /dev/null 2>&1
		grep -q '"team":"warm"' "$tmp/ev.jsonl" 2>/dev/null && return 0
		sleep 0.5
	done
	log "the agent did not meter a warm-up call: $(tail -3 "$tmp/agent.err")"
	exit 1
}
stop() { kill -INT "$agent_pid"; wait "$agent_pid" 2>/dev/null; agent_pid=; }

teams() {	# the teams every policy has
	cat <<EOF
  - name: warm
    match: { cgroup: ["/tollgate-bench/warm"] }
  - name: other
    match: { cgroup: ["/tollgate-bench/other"] }
EOF
}
{
	echo "version: 1"; echo "teams:"; teams
	cat <<EOF
  - name: gated
    match: { cgroup: ["/tollgate-bench/gated"] }
    rate_limits: { requests_per_minute: 1000000000 }
EOF
} > "$tmp/gated.yaml"
{ echo "version: 1"; echo "teams:"; teams
  printf '  - name: gated\n    match: { cgroup: ["/tollgate-bench/gated"] }\n'; } > "$tmp/open.yaml"

# --- 1. gate delay ----------------------------------------------------------------
start "$tmp/gated.yaml"
if part gate; then
for r in $(seq 1 "$REPS"); do
	for who in gated other; do
		in_cg "$who" "$LOAD" --calls "$CALLS" --delay 0.3 > "$tmp/lat.$who.$r" 2>&1
		log "rep $r $who: p50 $(field lat_p50_us "$tmp/lat.$who.$r") us, p99 $(field lat_p99_us "$tmp/lat.$who.$r") us, $(field calls_per_s "$tmp/lat.$who.$r") calls/s"
	done
done
holds=$(grep -c '"team":"gated"' "$tmp/ev.jsonl")
stop
gate_line=$(for who in gated other; do
	for p in 50 99; do
		cat "$tmp"/lat.$who.* | sed -n "s/^RESULT .* lat_p${p}_us=\([0-9.]*\).*/\1/p" |
			sort -n | awk -v w=$who -v p=$p '{ v[NR] = $1 } END { printf "%s_p%s=%s ", w, p, v[int((NR + 1) / 2)] }'
	done
done)
log "gate: $gate_line (median of $REPS runs of $CALLS calls; $holds gated calls metered)"
else
	stop
fi

# --- 2. act latency, overshoot ------------------------------------------------------
if part act; then
# Tokens per call: what the agent metered for the warm-up calls.
per=$(grep '"team":"warm"' "$tmp/ev.jsonl" | head -1 | "${PY:-python3}" -c '
import json, sys
r = json.loads(sys.stdin.readline())
print(r["input_tokens"] + r["cached_input_tokens"] + r["cache_write_tokens"] + r["output_tokens"])')
limit=$((per * 5 / 2))
{
	echo "version: 1"; echo "teams:"; teams
	for i in $(seq 1 "$ACT"); do
		printf '  - name: act%d\n    match: { cgroup: ["/tollgate-bench/act%d"] }\n' "$i" "$i"
		printf '    budgets:\n      - { window: day, limit_tokens: %d, action: block }\n' "$limit"
	done
} > "$tmp/act.yaml"
start "$tmp/act.yaml"
for i in $(seq 1 "$ACT"); do
	in_cg "act$i" "$LOAD" --calls 10 --model "act$i" --delay 0.3 > "$tmp/act.$i" 2>&1
done
sleep 1
stop
"${PY:-python3}" - "$tmp/ev.jsonl" "$ACT" <<'PY'
import json, sys
calls, acts = {}, {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    team = e.get("team") or ""
    if not team.startswith("act"):
        continue
    if e.get("event") == "action":
        acts.setdefault(team, []).append(e)
    elif "event" not in e and e.get("status") == 200:
        calls.setdefault(team, []).append(e)
lat, over, failed = [], [], 0
for i in range(1, int(sys.argv[2]) + 1):
    t = "act%d" % i
    c = sorted(calls.get(t, []), key=lambda r: r["ts"])
    a = [x for x in acts.get(t, []) if x["action"] == "block"]
    over.append(len(c) - 3)
    if len(c) < 3 or not a:
        failed += 1
        continue
    end = c[2]["ts"] + int(round(c[2]["duration_ms"] * 1e6))
    lat.append((a[0]["ts"] - end) / 1e6)
    failed += not a[0]["ok"]
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, max(0, int(p / 100 * len(lat) + 0.999999) - 1))] if lat else float("nan")
print("enforce-bench: act: crossing response's last byte -> block: p50 %.3f ms, p99 %.3f ms"
      " (%d teams); calls past the crossing: %s; blocks not done: %d"
      % (pct(50), pct(99), len(lat), "max %d" % max(over) if over else "-", failed), file=sys.stderr)
print("enforce-bench: act: each, ms: %s" % " ".join("%.2f" % x for x in lat), file=sys.stderr)
PY
fi

# --- 3. an ungated team's throughput, a gated team busy beside it -----------------------
part throughput || exit 0
for r in $(seq 1 "$REPS"); do
	for pol in gated open; do
		start "$tmp/$pol.yaml"
		in_cg gated "$LOAD" --calls 100000000 --delay 0.3 > /dev/null 2>&1 &
		busy=$!
		in_cg other "$LOAD" --calls $((CALLS * 3)) --delay 0.6 > "$tmp/tp.$pol.$r" 2>&1
		kill "$busy" 2>/dev/null
		wait "$busy" 2>/dev/null
		stop
		log "rep $r: other team beside a $([ $pol = gated ] && echo gated || echo "not gated") team: $(field calls_per_s "$tmp/tp.$pol.$r") calls/s"
	done
done
"${PY:-python3}" - "$tmp" "$REPS" <<'PY'
import re, statistics, sys
d, reps = sys.argv[1], int(sys.argv[2])
def cps(pol):
    v = []
    for r in range(1, reps + 1):
        m = re.search(r"calls_per_s=([0-9.]+)", open("%s/tp.%s.%d" % (d, pol, r)).read())
        v.append(float(m.group(1)))
    return statistics.median(v)
g, o = cps("gated"), cps("open")
print("enforce-bench: ungated team's throughput beside a gated team: %.0f vs %.0f calls/s"
      " beside the same team not gated: %.3fx" % (g, o, g / o), file=sys.stderr)
PY

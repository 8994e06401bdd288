#!/bin/bash
# Client-stack overhead: what tollgate costs real LLM clients on this host,
# with the real agent, against a local HTTPS provider on 127.0.0.1.
#
#   sudo bench/clients/run.sh            (or: make bench)
#
# Workloads (each client's calls timed from outside by build/bench/linetime,
# bench/clients/linetime.c: it stamps each call's output line as it arrives,
# so start-up, the TLS handshake and the 300 ms sleep before the first call
# are left out):
#   go-h2    build/integ/go_llm (Go net/http, crypto/tls, tests/integ/clients/
#            go_llm): BENCH_GO_CALLS (2000) sequential chat completions on one
#            keep-alive HTTP/2 connection: time per call (first call line to
#            last / calls - 1) and its p50/p99 (between successive lines)
#   go-h1    the same over HTTP/1.1 (-h1)
#   node-h2  tests/integ/clients/node_h2_client.js (node's http2, its own
#            OpenSSL): BENCH_NODE_STREAMS (50) concurrent streams per round on
#            one connection, BENCH_NODE_ROUNDS (40) rounds: calls/s (it prints
#            a round at a time: rounds 2..R over the time from the first
#            round's lines to the last's)
#   go-h2s, go-h1s, node-h2s (not by default): the same, streamed (SSE,
#            the provider's 5 events)
#   bun13-h1, bun14-h1 (not by default)  Bun 1.3 / 1.4's fetch (BoringSSL
#            built in: probed where discovery located SSL_write/SSL_read),
#            bench/clients/bun_loop.js: BENCH_GO_CALLS sequential chat
#            completions, HTTP/1.1 keep-alive
# The provider: tests/integ/lib/provider.py (python, its plain HTTP port)
# behind tests/integ/lib/provider_h2.js (node, TLS, ALPN h2 and http/1.1),
# which every client talks to, both with TCP_NODELAY (see below).  Both are
# TLS users a global tracer probes too (node's statically linked OpenSSL;
# python maps libssl, its plain port makes no SSL calls): the front's
# uprobe traps are part of what a global tracer costs, and are reported as
# they come (its CPU per call).  On a host with few CPUs the clients, both
# servers and the agent share them: the numbers are noisy (see spread).
#
# Configurations, alternating (order rotated every repetition), each
# started afresh per repetition, all workloads run under it, median of the
# repetitions:
#   none     no tracer
#   global   $TOLLGATE trace --format jsonl > FILE (every process probed)
#   scoped   $TOLLGATE trace --cgroup '/tollgate-bench/elsewhere*' --format jsonl
#            > FILE: scoped to an empty cgroup, the clients and servers are
#            not probed
# (jsonl to a file in the temp dir, not /dev/null, to count the records of
# each client's pid.)  Before the first repetition every workload runs once
# unmeasured, no tracer (the servers' warm-up: node's JIT).  A tracer is
# ready when it has created its --ready-file (probes attached); then every
# configuration gets the same warm-up calls, and the agent's CPU with
# nothing to meter is read over 2 s (its timers and the host's process
# events: reported apart, and part of its CPU per call).  After each
# workload: its records (all there, or none new for 1 s), then the agent's
# CPU since the workload began: utime + stime from /proc/PID/stat (10 ms
# ticks) and the run time of its threads from /proc/PID/task/*/schedstat
# (exact), read before it gets SIGINT.  Also the clients' CPU (wait4) and
# the provider front's and provider.py's over the same time (python near
# 100% of a core: the provider bounds the calls/s, and the tracer's cost
# shows less than in full).
#
# Needs root, BTF, cgroup v2, node, /usr/bin/python3, openssl, go (to build
# go_llm if missing).  Environment: BENCH_REPS (3), BENCH_GO_CALLS (2000),
# BENCH_NODE_STREAMS (50), BENCH_NODE_ROUNDS (40), BENCH_WORKLOADS ("go-h2
# go-h1 node-h2"), BENCH_CONFIGS ("none global scoped"), TOLLGATE, BUILD
# (build).  Takes about 2 minutes.  Raw numbers go to
# $BUILD/bench/clients-results.tsv.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
TOLLGATE=${TOLLGATE:-$BUILD/tollgate}
REPS=${BENCH_REPS:-3}
GO_CALLS=${BENCH_GO_CALLS:-2000}
STREAMS=${BENCH_NODE_STREAMS:-50}
ROUNDS=${BENCH_NODE_ROUNDS:-40}
WORKLOADS=${BENCH_WORKLOADS:-go-h2 go-h1 node-h2}
CONFIGS=${BENCH_CONFIGS:-none global scoped}
PY=/usr/bin/python3
NODE=${TG_NODE:-/usr/bin/node}
GO_LLM=$BUILD/integ/go_llm
LT=$BUILD/bench/linetime
OUT=$BUILD/bench/clients-results.tsv
HZ=$(getconf CLK_TCK)
SCOPE_GLOB='/tollgate-bench/elsewhere*'

log() { echo "clients-bench: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "needs root (the agent loads BPF programs)"; exit 1; }
[ -x "$TOLLGATE" ] || { log "build $TOLLGATE first (make)"; exit 1; }
for b in "$NODE" "$PY" openssl; do
	command -v "$b" > /dev/null || { log "needs $b"; exit 1; }
done

# --- build the clients' pieces ------------------------------------------------------
mkdir -p "$BUILD/bench"
if [ ! -x "$LT" ] || [ bench/clients/linetime.c -nt "$LT" ]; then
	${CC:-gcc} -O2 -g -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -o "$LT" \
		bench/clients/linetime.c || { log "cannot build linetime"; exit 1; }
fi
case " $WORKLOADS " in
*" go-"*)
	if [ ! -x "$GO_LLM" ] || [ tests/integ/clients/go_llm/main.go -nt "$GO_LLM" ]; then
		make -s BUILD="$BUILD" "$GO_LLM" || { log "cannot build $GO_LLM"; exit 1; }
	fi
	;;
esac

tmp=$(mktemp -d /tmp/tollgate-clients-bench.XXXXXX)
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cgroot" ] || { log "needs a cgroup2 mount"; exit 1; }
made_base=
[ -d "$cgroot/tollgate-bench" ] || made_base=1
tracer_pid=
py_pid=
front_pid=

# SIGINT, then SIGTERM after 5 s, then SIGKILL.
stop_pid() {
	local pid=$1 sig i
	[ -n "$pid" ] || return 0
	for sig in INT TERM KILL; do
		kill -"$sig" "$pid" 2>/dev/null || break
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break 2
			sleep 0.1
		done
	done
	wait "$pid" 2>/dev/null
}
stop_tracer() { stop_pid "$tracer_pid"; tracer_pid=; }
cleanup() {
	stop_tracer
	stop_pid "$front_pid"
	stop_pid "$py_pid"
	rmdir "$cgroot/tollgate-bench/elsewhere" 2>/dev/null
	[ -n "$made_base" ] && rmdir "$cgroot/tollgate-bench" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$cgroot/tollgate-bench/elsewhere"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# --- the provider ----------------------------------------------------------------------
# wait_file FILE PID: FILE has content (20 s at most) while PID lives.
wait_file() {
	local i
	for i in $(seq 1 400); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# Both with TCP_NODELAY on the connections they accept (provider.py through
# socketserver's own switch, provider_h2.js through bench/clients/nodelay.js),
# as real API servers have it: without it each response whose head and body
# go in two writes waits for the peer's delayed ACK (about 40 ms a call on
# loopback: provider.py to the front, the front's HTTP/1.1 to the client).
"$PY" -c 'import runpy, socketserver, sys
socketserver.StreamRequestHandler.disable_nagle_algorithm = True
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' tests/integ/lib/provider.py \
	--certdir "$tmp/certs" --portfile "$tmp/py.port" --plain-portfile "$tmp/py.pport" \
	> "$tmp/py.log" 2>&1 &
py_pid=$!
if ! wait_file "$tmp/py.port" "$py_pid" || ! wait_file "$tmp/py.pport" "$py_pid"; then
	log "provider.py did not start: $(tail -n 3 "$tmp/py.log")"
	exit 1
fi
"$NODE" -r ./bench/clients/nodelay.js tests/integ/lib/provider_h2.js --cert "$tmp/certs/server.pem" \
	--key "$tmp/certs/server.key" --upstream-port "$(cat "$tmp/py.pport")" \
	--portfile "$tmp/front.port" > "$tmp/front.log" 2>&1 &
front_pid=$!
wait_file "$tmp/front.port" "$front_pid" ||
	{ log "provider_h2.js did not start: $(tail -n 3 "$tmp/front.log")"; exit 1; }
URL=https://127.0.0.1:$(cat "$tmp/front.port")
CA=$tmp/certs/ca.pem

# --- measurements ---------------------------------------------------------------------------
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
thread_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
records_of() { grep -c "\"pid\":$2," "$1" 2>/dev/null; }

# work W: sets cmd (the client), batch (linetime --batch) and ncalls.
work() {
	case $1 in
	go-h2|go-h1|go-h2s|go-h1s)
		cmd=("$GO_LLM" -url "$URL/v1/chat/completions" -ca "$CA" -n "$GO_CALLS" -delay-ms 300)
		case $1 in *h1*) cmd+=(-h1) ;; esac
		case $1 in *s) cmd+=(-stream) ;; esac
		batch=1 ncalls=$GO_CALLS
		;;
	node-h2|node-h2s)
		cmd=("$NODE" tests/integ/clients/node_h2_client.js --url "$URL" --ca "$CA"
			--streams "$STREAMS" --rounds "$ROUNDS")
		[ "$1" = node-h2s ] && cmd+=(--stream)
		batch=$STREAMS ncalls=$((STREAMS * ROUNDS))
		;;
	bun13-h1|bun14-h1)
		cmd=(env NODE_EXTRA_CA_CERTS="$CA" "tests/node/node_modules/${1%-h1}/bin/bun"
			bench/clients/bun_loop.js "$URL" "$GO_CALLS" 300)
		batch=1 ncalls=$GO_CALLS
		;;
	*) return 1 ;;
	esac
	return 0
}

# start_tracer CONFIG FILE: 0 when ready (or none), else 1 with $why.
start_tracer() {
	why=
	tracer_pid=
	local args=(trace --format jsonl --ready-file "$tmp/ready") i
	case $1 in
	none) : > "$2"; return 0 ;;
	global) ;;
	scoped) args+=(--cgroup "$SCOPE_GLOB") ;;
	*) why="unknown configuration"; return 1 ;;
	esac
	rm -f "$tmp/ready"
	"$TOLLGATE" "${args[@]}" > "$2" 2> "$2.err" &
	tracer_pid=$!
	for i in $(seq 1 600); do
		[ -e "$tmp/ready" ] && break
		kill -0 "$tracer_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -e "$tmp/ready" ] || ! kill -0 "$tracer_pid" 2>/dev/null; then
		why="tollgate did not get ready: $(tail -n 3 "$2.err" | tr '\n' ' ')"
		stop_tracer
		return 1
	fi
	sleep 0.5
	return 0
}

# The same warm-up calls under every configuration (the first exec of
# go_llm under a global tracer is when its file gets probed).
warm_up() {
	"$LT" -- "$GO_LLM" -url "$URL/v1/chat/completions" -ca "$CA" -n 20 -delay-ms 300 > /dev/null 2>&1
	"$LT" -- "$GO_LLM" -url "$URL/v1/chat/completions" -ca "$CA" -n 20 -h1 -delay-ms 300 > /dev/null 2>&1
	"$LT" -- "$NODE" tests/integ/clients/node_h2_client.js --url "$URL" --ca "$CA" \
		--streams 10 --rounds 2 > /dev/null 2>&1
}

field() { echo "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

read -r -a cfgs <<< "$CONFIGS"
ncfg=${#cfgs[@]}
: > "$tmp/idle"
log "$ncfg configurations ($CONFIGS) x workloads ($WORKLOADS) x $REPS repetitions; go $GO_CALLS calls, node $STREAMS streams x $ROUNDS rounds; $(nproc) CPUs; provider $URL"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }'; then
	log "warning: load average $load on $(nproc) CPUs: other work on the host makes these numbers noisy"
fi
# The servers' own warm-up (node's JIT, python's threads): every workload
# once, no tracer, not measured.
for w in $WORKLOADS; do
	work "$w" && "$LT" --batch "$batch" -- "${cmd[@]}" > /dev/null 2>&1
done
printf 'rep\tconfig\tworkload\tcalls\terrors\trc\twall_s\tclient_cpu_s\tspan_s\tsteady_calls\tper_call_us\tcalls_per_s\tgap_p50_us\tgap_p99_us\trecords\tagent_tick_ms\tagent_ms\tfront_ms\tpy_ms\n' > "$OUT"
: > "$tmp/na"
for rep in $(seq 1 "$REPS"); do
	for i in $(seq 0 $((ncfg - 1))); do
		cfg=${cfgs[$(( (i + rep - 1) % ncfg ))]}
		grep -q "^$cfg	" "$tmp/na" && continue
		tout=$tmp/trace.$rep.$cfg.jsonl
		if ! start_tracer "$cfg" "$tout"; then
			log "$cfg: n/a: $why"
			printf '%s\t%s\n' "$cfg" "$why" >> "$tmp/na"
			continue
		fi
		warm_up
		if [ -n "$tracer_pid" ]; then
			# the agent's CPU with nothing to meter (timers, the host's
			# process events), ms per second
			n0=$(thread_ns "$tracer_pid")
			sleep 2
			awk -v a="$(thread_ns "$tracer_pid")" -v b="$n0" -v r="$rep" -v c="$cfg" \
				'BEGIN { printf "%s\t%s\t%.2f\n", r, c, (a - b) / 2e6 }' >> "$tmp/idle"
		fi
		for w in $WORKLOADS; do
			work "$w" || { log "unknown workload $w"; continue; }
			f0=$(cpu_ticks "$front_pid") p0=$(cpu_ticks "$py_pid")
			a0=0 n0=0
			if [ -n "$tracer_pid" ]; then
				a0=$(cpu_ticks "$tracer_pid") n0=$(thread_ns "$tracer_pid")
			fi
			res=$("$LT" --batch "$batch" --out "$tmp/client.$rep.$cfg.$w" -- "${cmd[@]}" \
				2> "$tmp/client.err")
			f1=$(cpu_ticks "$front_pid") p1=$(cpu_ticks "$py_pid")
			pid=$(field pid "$res")
			calls=$(field calls "$res")
			if [ -z "$calls" ] || [ "$calls" -lt "$ncalls" ] || [ "$(field rc "$res")" != 0 ]; then
				log "rep $rep $cfg $w: the client failed: ${res:-no result} $(head -n 3 "$tmp/client.err" | tr '\n' ' ')"
				[ -z "$calls" ] && continue
			fi
			recs=- atick=- ams=-
			if [ -n "$tracer_pid" ]; then
				# its records: all there, or none new for 1 s (20 s at most)
				last=-1 still=0
				for _ in $(seq 1 200); do
					recs=$(records_of "$tout" "$pid")
					[ "$recs" -ge "$calls" ] && break
					if [ "$recs" = "$last" ]; then
						still=$((still + 1))
						[ $still -ge 10 ] && break
					else
						still=0 last=$recs
					fi
					sleep 0.1
				done
				if ! kill -0 "$tracer_pid" 2>/dev/null; then
					log "rep $rep $cfg $w: tracer died: $(tail -n 3 "$tout.err" | tr '\n' ' ')"
					tracer_pid=
					break
				fi
				atick=$(( ($(cpu_ticks "$tracer_pid") - a0) * 1000 / HZ ))
				ams=$(awk -v a="$(thread_ns "$tracer_pid")" -v b="$n0" 'BEGIN { printf "%.1f", (a - b) / 1e6 }')
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
				"$rep" "$cfg" "$w" "$calls" "$(field errors "$res")" "$(field rc "$res")" \
				"$(field wall_s "$res")" "$(field cpu_s "$res")" "$(field span_s "$res")" \
				"$(field steady_calls "$res")" "$(field per_call_us "$res")" \
				"$(field calls_per_s "$res")" "$(field gap_p50_us "$res")" \
				"$(field gap_p99_us "$res")" "$recs" "$atick" "$ams" \
				$(( (f1 - f0) * 1000 / HZ )) $(( (p1 - p0) * 1000 / HZ )) >> "$OUT"
			log "rep $rep  $(printf '%-6s %-8s' "$cfg" "$w")  $calls calls: $(field per_call_us "$res") us/call steady ($(field calls_per_s "$res")/s), p50 $(field gap_p50_us "$res") us, client CPU $(field cpu_s "$res") s$([ -n "$tracer_pid" ] && echo ", agent $ams ms (ticks $atick ms), records $recs")"
		done
		stop_tracer
	done
done

# --- report -------------------------------------------------------------------------------
"$PY" - "$OUT" "$tmp/na" "$CONFIGS" "$WORKLOADS" "$tmp/idle" <<'EOF'
import csv, os, statistics, sys
out, na_file, configs, works = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
idle_file = sys.argv[5]
rows = list(csv.DictReader(open(out), delimiter="\t"))
na = dict(l.rstrip("\n").split("\t", 1) for l in open(na_file) if "\t" in l)

def sel(w, c):
    return [r for r in rows if r["workload"] == w and r["config"] == c]

def med(rs, f):
    v = [f(r) for r in rs]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None

def num(r, k):
    return float(r[k]) if r[k] not in ("", "-") else None

print()
print("client-stack overhead, median of runs; us/call = steady time per call (go: first call")
print("line to last / (calls - 1), sequential; node: 1 / calls/s, 50 concurrent streams);")
print("vs none = us/call over the no-tracer run's (1.000 = no cost); spread = (max - min) / median;")
print("p50 = median time between successive calls (go; steadier than the mean on a busy host),")
print("and its ratio to the no-tracer run's; client, front, agent = CPU us per call")
print("(client: the whole process, start-up included; front: provider_h2.js; agent: its threads'")
print("run time from schedstat; agent/t: its utime + stime, 10 ms ticks); py = provider.py's CPU as a share of one core over the client's run;")
print("records = metered records of the client's pid / calls, summed over runs")
hdr = "%-8s %-6s %4s %9s %9s %7s %6s %8s %7s %8s %8s %8s %8s %5s %13s" % (
    "workload", "config", "runs", "us/call", "calls/s", "vs none", "spread", "p50 us",
    "vs none", "client", "front", "agent", "agent/t", "py", "records")
print(hdr)
notes = []
for w in works:
    base = med(sel(w, "none"), lambda r: num(r, "per_call_us"))
    base50 = med(sel(w, "none"), lambda r: num(r, "gap_p50_us"))
    for c in configs:
        rs = sel(w, c)
        if not rs:
            print("%-8s %-6s %4s  (%s)" % (w, c, "n/a", na.get(c, "no successful run")))
            continue
        pc = [num(r, "per_call_us") for r in rs]
        m = statistics.median(pc)
        spread = (max(pc) - min(pc)) / m * 100 if m else 0
        cps = med(rs, lambda r: num(r, "calls_per_s"))
        p50 = med(rs, lambda r: num(r, "gap_p50_us"))
        cli = med(rs, lambda r: num(r, "client_cpu_s") * 1e6 / float(r["calls"]))
        fr = med(rs, lambda r: float(r["front_ms"]) * 1e3 / float(r["calls"]))
        ag = med(rs, lambda r: float(r["agent_ms"]) * 1e3 / float(r["calls"]) if r["agent_ms"] != "-" else None)
        agt = med(rs, lambda r: float(r["agent_tick_ms"]) * 1e3 / float(r["calls"]) if r["agent_tick_ms"] != "-" else None)
        py = med(rs, lambda r: float(r["py_ms"]) / 10 / float(r["wall_s"]))
        if c != "none":
            recs = "%d/%d" % (sum(int(r["records"]) for r in rs), sum(int(r["calls"]) for r in rs))
        else:
            recs = "-"
        go = w.startswith("go")
        print("%-8s %-6s %4d %9.1f %9.1f %7s %5.0f%% %8s %7s %8.1f %8.1f %8s %8s %4.0f%% %13s" % (
            w, c, len(rs), m, cps, "%.3f" % (m / base) if base else "-", spread,
            "%.1f" % p50 if go else "-", "%.3f" % (p50 / base50) if go and base50 else "-",
            cli, fr,
            "%.1f" % ag if ag is not None else "-",
            "%.1f" % agt if agt is not None else "-", py, recs))
        if c == "none" and py >= 85:
            notes.append("%s: provider.py at %.0f%% of a core with no tracer: the provider bounds the"
                         " calls/s; the tracer's cost shows as the difference between configurations"
                         % (w, py))
        errs = sum(int(r["errors"] or 0) for r in rs)
        if errs:
            notes.append("%s %s: %d calls failed" % (w, c, errs))
        if c == "global":
            got = sum(int(r["records"]) for r in rs)
            want = sum(int(r["calls"]) for r in rs)
            if got != want:
                notes.append("%s global: %d records for %d calls" % (w, got, want))
idle = {}
if os.path.exists(idle_file):
    for l in open(idle_file):
        r, c, v = l.split()
        idle.setdefault(c, []).append(float(v))
if idle:
    print("agent CPU with nothing to meter (2 s after the warm-up), ms/s, median: " +
          ", ".join("%s %.1f" % (c, statistics.median(v)) for c, v in idle.items()) +
          " (in the agent column too, spread over the calls of each run)")
for n in notes:
    print("note: " + n)
EOF

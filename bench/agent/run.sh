#!/bin/bash
# Agent benchmark: what does the tollgate agent itself cost per metered call,
# and how much memory does it hold for many open connections?
#
#   sudo bench/agent/run.sh            (or: make bench)
#   sudo TOLLGATE_BASE=/tmp/tg-base/build/tollgate bench/agent/run.sh
#
# Workload: build/bench/llm_load (bench/agent/llm_load.c, linked to the
# system libssl.so.3): OpenAI-shaped HTTP/1.1 over TLS on 127.0.0.1, each
# client process with its own forked server, one keep-alive connection each.
# tollgate judges the server side of a connection on its first message and
# stops copying it (kernel-side ignore), so the agent works on the client
# sides only, as on a host calling a remote API; the servers' own CPU is
# theirs, not the agent's.
#   llm  BENCH_PROCS (4) concurrent clients, BENCH_CALLS (8000) calls in all
#        at BENCH_RATE (4000) calls/s in all: 4096-byte POST
#        /v1/chat/completions request (gpt-4o-mini), 1024-byte chat.completion
#        response with a usage object.
#   sse  the same clients, BENCH_SSE_CALLS (400) streaming calls, at most
#        BENCH_SSE_RATE (0: no limit) calls/s in all: the request has
#        stream_options.include_usage; the response is chunked
#        text/event-stream, BENCH_EVENTS (500) chat.completion.chunk events,
#        each its own chunk and SSL_write, then the usage chunk, [DONE] and the
#        0-chunk.  The server pauses BENCH_SSE_GAP_US (200) microseconds
#        between events (about 0.3 ms with the sleep's overshoot, so a call
#        takes about 0.15 s), as a model emits tokens: the agent is then woken
#        for nearly every event, as with real streams.  With 0 the events
#        come in bursts, and how many the agent takes per wake-up, and so its
#        CPU per call, swings with the host's load (2-4x seen here).
#   rss  one client opens BENCH_CONNS (10000) TLS connections, one
#        "GET /health" each (HTTP, not an LLM call, so they are tracked), and
#        keeps them open, idle; the agent's VmRSS, VmHWM, RssAnon and the
#        resident size of its BPF ring buffer mappings are read 2 s later
#        (and VmRSS and RssAnon before, once ready).  The agent sees both
#        ends of each connection (the server's judged and ignored), so it
#        holds 2 x BENCH_CONNS; SIGUSR1's "connections: open=" says how many.
# For every test a tracer is started afresh, and is ready when a canary call
# (model gpt-4.1-nano) shows up in its output.  The agent's CPU (the run
# time of its threads from /proc/PID/task/*/schedstat, exact; utime and
# stime, 10 ms samples, only for the user/system split) is read then and
# again once the workload's
# records stopped coming (all there, or none new for 2 s), just before the
# tracer is stopped; records lost = calls made - records of the workload's
# model from the clients' pids.  Also counted: the agent's context switches
# (wake-ups) per call, its user/system split, and records of other processes
# on the host (their traffic is in the agent's CPU too: with BENCH_SCOPE=1
# the clients run in cgroup /tollgate-bench-agent, waiting 0.5 s before their
# first call for the agent to attach to them, and both tracers get --cgroup
# /tollgate-bench-agent, which leaves the others out).
#
# Configurations, interleaved (order rotated every repetition), median of
# the repetitions:
#   new    $TOLLGATE trace --format jsonl > file   (default $BUILD/tollgate;
#          given --prices $TOLLGATE_PRICES, default policies/prices.yaml, if its
#          --help names --prices)
#   base   $TOLLGATE_BASE trace --format jsonl > file   (an earlier build, e.g.
#          the one before metering: only when TOLLGATE_BASE is set)
#   ledger, noledger   $TOLLGATE run --events FILE with the ledger on
#          (--db in the temp dir) and off (--db off), metrics off: what the
#          ledger costs the agent (BENCH_CONFIGS="ledger noledger")
# A configuration that cannot run is reported as n/a with the reason.
#
# Where the time goes: with perf installed (and BENCH_PROFILE not 0), one more
# llm and sse run of each configuration under `perf record --call-graph dwarf`
# (the agent's pid only; these runs are not measured): self time by object
# and by symbol, and time with callees by symbol; the top lines are printed,
# the whole reports go to $BUILD/bench/agent-profile-CONFIG-TEST.txt.  Without
# perf, BENCH_PROFILE=1 (with it, BENCH_PROFILE=callgrind) runs the new
# agent's llm test once more under valgrind --tool=callgrind, if valgrind is
# installed, into $BUILD/bench/agent-callgrind.out.
#
# Environment: BENCH_REPS (3), BENCH_CALLS (8000), BENCH_RATE (4000),
# BENCH_SSE_CALLS (400), BENCH_SSE_RATE (0), BENCH_SSE_GAP_US (200),
# BENCH_EVENTS (500), BENCH_CONNS (10000), BENCH_PROCS (4), BENCH_TESTS ("llm
# sse rss"), BENCH_CONFIGS ("new base"), BENCH_PROFILE (perf if installed; 0:
# none), BENCH_SCOPE (0; 1: scope to the clients' cgroup, see above),
# TOLLGATE, TOLLGATE_BASE, TOLLGATE_PRICES, TOLLGATE_ARGS (extra trace
# arguments, both configurations), BUILD (build).  The default run takes about 6 minutes with a base, 3
# without.  Raw numbers go to $BUILD/bench/agent-results.tsv.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
REPS=${BENCH_REPS:-3}
CALLS=${BENCH_CALLS:-8000}
RATE=${BENCH_RATE:-4000}
SSE_CALLS=${BENCH_SSE_CALLS:-400}
SSE_RATE=${BENCH_SSE_RATE:-0}
EVENTS=${BENCH_EVENTS:-500}
SSE_GAP=${BENCH_SSE_GAP_US:-200}
CONNS=${BENCH_CONNS:-10000}
PROCS=${BENCH_PROCS:-4}
TESTS=${BENCH_TESTS:-llm sse rss}
TOLLGATE=${TOLLGATE:-$BUILD/tollgate}
TOLLGATE_BASE=${TOLLGATE_BASE:-}
TOLLGATE_PRICES=${TOLLGATE_PRICES:-policies/prices.yaml}
TOLLGATE_ARGS=${TOLLGATE_ARGS:-}
CONFIGS=${BENCH_CONFIGS:-new base}
PROFILE=${BENCH_PROFILE:-auto}
SCOPE=${BENCH_SCOPE:-0}
LIBSSL=${LIBSSL:-/lib/x86_64-linux-gnu/libssl.so.3}
LOAD=$BUILD/bench/llm_load
OUT=$BUILD/bench/agent-results.tsv
MODEL=gpt-4o-mini
CANARY=gpt-4.1-nano
HZ=$(getconf CLK_TCK)

log() { echo "agent-bench: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "needs root (the agent loads BPF programs)"
	exit 1
fi

# --- build the workload ----------------------------------------------------------
mkdir -p "$BUILD/bench"
if [ ! -x "$LOAD" ] || [ bench/agent/llm_load.c -nt "$LOAD" ] || [ bench/common/benchtls.h -nt "$LOAD" ]; then
	${CC:-gcc} -O2 -g -Wall -Wextra -Werror -std=gnu11 -o "$LOAD" bench/agent/llm_load.c \
		-lssl -lcrypto || { log "cannot build llm_load (libssl-dev?)"; exit 1; }
fi
got=$(ldd "$LOAD" | awk '$1 == "libssl.so.3" { print $3 }')
if [ -z "$got" ] || [ "$(readlink -f "$got")" != "$(readlink -f "$LIBSSL")" ]; then
	log "warning: $LOAD loads libssl.so.3 from '${got:-nowhere}', not $LIBSSL: probes may miss it"
fi

tmp=$(mktemp -d /tmp/tollgate-agent-bench.XXXXXX)
tracer_pid=
idle_pid=
# BENCH_SCOPE=1: every client (and its server) runs in cgroup /$CGNAME, via
# cgexec, and the tracers are given --cgroup /$CGNAME.
CGNAME=tollgate-bench-agent
cgdir=
cgexec=()
delay=0
if [ "$SCOPE" = 1 ]; then
	cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -z "$cgroot" ] || ! mkdir -p "$cgroot/$CGNAME"; then
		log "BENCH_SCOPE=1 needs a cgroup2 mount"
		exit 1
	fi
	cgdir=$cgroot/$CGNAME
	# shellcheck disable=SC2016
	cgexec=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cgdir")
	# Time for the agent to attach to a client before its first call.
	delay=0.5
fi

cleanup() {
	[ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null && wait "$idle_pid" 2>/dev/null
	stop_tracer
	[ -n "$cgdir" ] && rmdir "$cgdir" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the agent ------------------------------------------------------------------------

# bin_of CONFIG: the binary; 1 with the reason in $why if there is none.
bin_of() {
	why=
	case $1 in
	new|ledger|noledger) bin=$TOLLGATE ;;
	base) bin=$TOLLGATE_BASE ;;
	*) why="unknown configuration"; return 1 ;;
	esac
	if [ -z "$bin" ]; then
		why="TOLLGATE_BASE not set"
		return 1
	fi
	[ -x "$bin" ] || { why="$bin not built"; return 1; }
	return 0
}

# cpu_ticks PID: "utime stime" of the whole process, in clock ticks.
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# After "pid (comm) ": state is field 1, utime 12, stime 13.
	echo "$s" | awk '{ print $12, $13 }'
}

# thread_ns PID: "name ns" per thread name: the time its threads ran on a
# CPU, exact to the nanosecond (schedstat; utime/stime are 10 ms samples).
thread_ns() {
	local t
	for t in /proc/"$1"/task/*; do
		echo "$(cat "$t/comm" 2>/dev/null) $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null)"
	done | awk 'NF == 2 { n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort
}

# thread_split BEFORE AFTER: "total_ms name ms, ..." from two thread_ns listings.
thread_split() {
	awk 'NR == FNR { b[$1] = $2; next }
		{ d = ($2 - b[$1]) / 1e6; t += d
		  if (d >= 1) { s = s sep sprintf("%s %d ms", $1, d); sep = ", " } }
		END { printf "%d %s", t, s }' <(echo "$1") <(echo "$2")
}

# mem_kb PID FIELD: VmRSS or VmHWM in kB.
mem_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

# switches PID: voluntary + involuntary context switches of all its threads
# (each wake-up of the agent is one).
switches() {
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '$1 ~ /ctxt_switches:$/ { s += $2 } END { print s + 0 }'
}

# bpf_rss_kb PID: the resident part of its BPF map mappings (the ring
# buffers: kernel pages, mapped once per consumer, data pages twice).
bpf_rss_kb() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { b = ($6 == "anon_inode:bpf-map") }
		b && $1 == "Rss:" { s += $2 } END { print s + 0 }' "/proc/$1/smaps" 2>/dev/null
}

# count_pids FILE PID...: records of these processes.
count_pids() {
	local f=$1
	shift
	grep -c -E "\"pid\":($(IFS='|'; echo "$*"))," "$f" 2>/dev/null
}

# start_tracer CONFIG OUTFILE: 0 once a canary call has been recorded, else 1
# with the reason in $why.  Runs under $WRAP if set (profiling).
start_tracer() {
	local cfg=$1 outf=$2 i args
	tracer_pid=
	bin_of "$cfg" || return 1
	case $cfg in
	ledger)   args=(run --policy policies/default.yaml --metrics off
			--db "$tmp/ledger.db" --events "$outf") ;;
	noledger) args=(run --policy policies/default.yaml --metrics off --db off
			--events "$outf") ;;
	*)        args=(trace --format jsonl) ;;
	esac
	if [ "$cfg" != base ] && [ -f "$TOLLGATE_PRICES" ] &&
		"$bin" trace --help 2>&1 | grep -q -- --prices; then
		args+=(--prices "$TOLLGATE_PRICES")
	fi
	[ -n "$cgdir" ] && args+=(--cgroup "/$CGNAME")
	# shellcheck disable=SC2206
	args+=($TOLLGATE_ARGS)
	# shellcheck disable=SC2086
	${WRAP:-} "$bin" "${args[@]}" > "$outf" 2> "$outf.err" &
	tracer_pid=$!
	for i in $(seq 1 150); do
		if ! kill -0 "$tracer_pid" 2>/dev/null; then
			why="$cfg exited: $(grep -v '^tollgate: info' "$outf.err" | tail -n 3 | tr '\n' ' ')"
			wait "$tracer_pid" 2>/dev/null
			tracer_pid=
			return 1
		fi
		"${cgexec[@]}" timeout 20 "$LOAD" --calls 1 --model "$CANARY" \
			> /dev/null 2>> "$tmp/canary.err"
		sleep 0.2
		if grep -q "\"model\":\"$CANARY" "$outf"; then
			sleep 0.5
			return 0
		fi
	done
	why="no record of a canary call in 30 s and more"
	stop_tracer
	return 1
}

# SIGINT, then SIGTERM after 10 s, then SIGKILL.
stop_tracer() {
	[ -n "$tracer_pid" ] || return 0
	local sig i
	for sig in INT TERM KILL; do
		kill -"$sig" "$tracer_pid" 2>/dev/null || break
		for i in $(seq 1 100); do
			kill -0 "$tracer_pid" 2>/dev/null || break 2
			sleep 0.1
		done
	done
	wait "$tracer_pid" 2>/dev/null
	tracer_pid=
}

# counter FILE GROUP NAME: the last value of NAME in the agent's GROUP line.
counter() {
	grep "^tollgate: $2: " "$1" 2>/dev/null | tail -n 1 |
		tr ' ' '\n' | awk -F= -v n="$3" '$1 == n { v = $2 } END { print (v == "" ? "-" : v) }'
}

# count_records FILE PID...: "records complete with_tokens other": the
# records of the workload's model from these processes, how many of them are
# complete and carry input and output tokens ("-" when records have no token
# fields: a build before metering), and records of other processes on the
# host (canaries left out).
count_records() {
	/usr/bin/python3 - "$MODEL" "$CANARY" "$@" <<'EOF'
import json, sys
model, canary, path, pids = sys.argv[1], sys.argv[2], sys.argv[3], set(map(int, sys.argv[4:]))
n = c = m = other = 0
seen = False
for line in open(path, errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if not isinstance(r, dict):
        continue
    if r.get("pid") not in pids:
        other += not str(r.get("model", "")).startswith(canary)
        continue
    if not str(r.get("model", "")).startswith(model):
        continue
    n += 1
    c += r.get("capture") == "complete"
    if "output_tokens" in r:
        seen = True
        m += r.get("output_tokens") is not None and r.get("input_tokens") is not None
print(n, c, m if seen else "-", other)
EOF
}

# --- one test -------------------------------------------------------------------------

# run_load TEST OUTFILE: the clients of TEST against the running tracer;
# sets calls, pids (the clients'), secs, cps, cpu_ns_ms (agent CPU, ms, from
# schedstat), threads (its split by thread), uticks and sticks (user,
# system, in ticks), sw (its context switches), hwm.  1 if a client failed.
run_load() {
	local test=$1 outf=$2 n rate per prate i u0 u1 k0 k1 s0 s1 th0 last cur still
	if [ "$test" = llm ]; then
		n=$CALLS rate=$RATE
		set -- --kind llm --req-size 4096 --resp-size 1024
	else
		n=$SSE_CALLS rate=$SSE_RATE
		set -- --kind sse --req-size 4096 --events "$EVENTS" --event-gap "$SSE_GAP"
	fi
	per=$(( (n + PROCS - 1) / PROCS ))
	prate=$(awk -v r="$rate" -v p="$PROCS" 'BEGIN { printf "%.3f", r / p }')
	read -r u0 k0 < <(cpu_ticks "$tracer_pid")
	th0=$(thread_ns "$tracer_pid")
	s0=$(switches "$tracer_pid")
	local jobs=()
	rm -f "$tmp"/client.*
	for i in $(seq 1 "$PROCS"); do
		"${cgexec[@]}" timeout 600 "$LOAD" "$@" --calls "$per" --rate "$prate" \
			--model "$MODEL" --delay "$delay" > "$tmp/client.$i" 2>&1 &
		jobs+=($!)
	done
	wait "${jobs[@]}"
	calls=$(cat "$tmp"/client.* | sed -n 's/^RESULT .* calls=\([0-9]*\) .*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	if [ "$calls" -lt $((per * PROCS)) ]; then
		log "a client failed: $(grep -hv '^RESULT' "$tmp"/client.* | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	read -r -a pids < <(sed -n 's/^RESULT .* pid=\([0-9]*\).*/\1/p' "$tmp"/client.* | xargs)
	# Wait for the records: all there, or nothing new for 2 s (30 s at most).
	last=-1 still=0
	for i in $(seq 1 300); do
		cur=$(count_pids "$outf" "${pids[@]}")
		[ "$cur" -ge "$calls" ] && break
		if [ "$cur" = "$last" ]; then
			still=$((still + 1))
			[ $still -ge 20 ] && break
		else
			still=0 last=$cur
		fi
		sleep 0.1
	done
	read -r u1 k1 < <(cpu_ticks "$tracer_pid")
	read -r cpu_ns_ms threads < <(thread_split "$th0" "$(thread_ns "$tracer_pid")")
	s1=$(switches "$tracer_pid")
	sw=$((s1 - s0))
	hwm=$(mem_kb "$tracer_pid" VmHWM)
	uticks=$((u1 - u0))
	sticks=$((k1 - k0))
	ticks=$((uticks + sticks))
	# The calls' time: the slowest client's, from its first call to its last.
	secs=$(sed -n 's/^RESULT .* seconds=\([0-9.]*\) .*/\1/p' "$tmp"/client.* |
		awk '$1 > m { m = $1 } END { printf "%.3f", m }')
	cps=$(awk -v n="$calls" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
	return 0
}

# run_rss: BENCH_CONNS idle connections against the running tracer; sets
# rss0, rss, hwm, anon0, anon (RssAnon: its heap), bpf (its ring buffer
# mappings), tracked (the agent's open connections, both ends of each), secs.
run_rss() {
	local i line
	rss0=$(mem_kb "$tracer_pid" VmRSS)
	anon0=$(mem_kb "$tracer_pid" RssAnon)
	"${cgexec[@]}" "$LOAD" --idle --conns "$CONNS" --delay "$delay" \
		> "$tmp/idle.out" 2> "$tmp/idle.err" &
	idle_pid=$!
	for i in $(seq 1 3000); do
		line=$(grep '^READY' "$tmp/idle.out")
		[ -n "$line" ] && break
		kill -0 "$idle_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$line" ]; then
		log "idle client failed: $(head -n 3 "$tmp/idle.err" | tr '\n' ' ')"
		kill "$idle_pid" 2>/dev/null
		wait "$idle_pid" 2>/dev/null
		idle_pid=
		return 1
	fi
	secs=$(echo "$line" | sed -n 's/.* seconds=\([0-9.]*\).*/\1/p')
	sleep 2
	rss=$(mem_kb "$tracer_pid" VmRSS)
	hwm=$(mem_kb "$tracer_pid" VmHWM)
	anon=$(mem_kb "$tracer_pid" RssAnon)
	bpf=$(bpf_rss_kb "$tracer_pid")
	kill -USR1 "$tracer_pid"
	sleep 1
	tracked=$(counter "$cur_out.err" connections open)
	kill "$idle_pid" 2>/dev/null
	wait "$idle_pid" 2>/dev/null
	idle_pid=
	return 0
}

# --- measure ----------------------------------------------------------------------------
read -r -a cfgs <<< "$CONFIGS"
ncfg=${#cfgs[@]}
log "$ncfg configurations x tests ($TESTS) x $REPS repetitions; $PROCS clients, llm $CALLS calls at $RATE/s, sse $SSE_CALLS calls of $EVENTS events ${SSE_GAP} us apart, rss $CONNS connections"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 4) }'; then
	log "warning: load average $load on $(nproc) CPUs: other work on the host makes these numbers noisy"
fi
printf 'rep\tconfig\ttest\tcalls\trecords\tlost\tcomplete\tmetered\tcpu_ms\tcpu_ms_per_1k\tseconds\tcalls_per_s\trss0_kb\trss_kb\thwm_kb\tconns_tracked\tringbuf_drops\tlost_calls\tgaps\tswitches_per_call\tanon0_kb\tanon_kb\tbpf_rss_kb\tuser_ms\tsys_ms\tother_records\n' > "$OUT"
: > "$tmp/na"
for rep in $(seq 1 "$REPS"); do
	for i in $(seq 0 $((ncfg - 1))); do
		cfg=${cfgs[$(( (i + rep - 1) % ncfg ))]}
		if grep -q "^$cfg	" "$tmp/na"; then continue; fi
		for test in $TESTS; do
			cur_out=$tmp/out.$rep.$cfg.$test
			if ! start_tracer "$cfg" "$cur_out"; then
				log "$cfg: n/a: $why"
				printf '%s\t%s\n' "$cfg" "$why" >> "$tmp/na"
				break
			fi
			case $test in
			llm|sse)
				if ! run_load "$test" "$cur_out"; then
					stop_tracer
					continue
				fi
				if ! kill -0 "$tracer_pid" 2>/dev/null; then
					log "rep $rep $cfg $test: tracer died during the run; discarded"
					tracer_pid=
					continue
				fi
				stop_tracer
				read -r records complete metered other < <(count_records "$cur_out" "${pids[@]}")
				cpu_ms=$cpu_ns_ms
				per1k=$(awk -v t="$cpu_ms" -v n="$calls" 'BEGIN { printf "%.2f", t * 1000 / n }')
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t-\t%s\t-\t%s\t%s\t%s\t%s\t-\t-\t-\t%s\t%s\t%s\n' \
					"$rep" "$cfg" "$test" "$calls" "$records" $((calls - records)) "$complete" \
					"$metered" "$cpu_ms" "$per1k" "$secs" "$cps" "$hwm" \
					"$(counter "$cur_out.err" counters ringbuf_drops)" \
					"$(counter "$cur_out.err" counters lost_calls)" \
					"$(counter "$cur_out.err" counters gaps)" \
					"$(awk -v s="$sw" -v n="$calls" 'BEGIN { printf "%.1f", s / n }')" \
					$((uticks * 1000 / HZ)) $((sticks * 1000 / HZ)) "$other" >> "$OUT"
				log "rep $rep  $(printf '%-5s %-4s' "$cfg" "$test")  $calls calls in ${secs}s ($cps/s)  agent ${cpu_ms} ms ($((uticks * 1000 / HZ)) user + $((sticks * 1000 / HZ)) sys) = $per1k ms/1000 calls [$threads], $(awk -v s="$sw" -v n="$calls" 'BEGIN { printf "%.1f", s / n }') wake-ups/call  records $records (lost $((calls - records)), complete $complete, with tokens $metered)$([ "$other" != 0 ] && echo "; $other records of other processes on the host")"
				;;
			rss)
				if ! run_rss; then
					stop_tracer
					continue
				fi
				if ! kill -0 "$tracer_pid" 2>/dev/null; then
					log "rep $rep $cfg rss: tracer died during the run; discarded"
					tracer_pid=
					continue
				fi
				stop_tracer
				printf '%s\t%s\trss\t%s\t-\t-\t-\t-\t-\t-\t%s\t-\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\t%s\t%s\t%s\t-\t-\t-\n' \
					"$rep" "$cfg" "$CONNS" "$secs" "$rss0" "$rss" "$hwm" "$tracked" \
					"$(counter "$cur_out.err" counters ringbuf_drops)" \
					"$(counter "$cur_out.err" counters lost_calls)" \
					"$(counter "$cur_out.err" counters gaps)" "$anon0" "$anon" "$bpf" >> "$OUT"
				log "rep $rep  $(printf '%-5s %-4s' "$cfg" rss)  $CONNS connections opened in ${secs}s  agent VmRSS $((rss0 / 1024)) -> $((rss / 1024)) MiB (ring buffer mappings $((bpf / 1024)) MiB; RssAnon $((anon0 / 1024)) -> $((anon / 1024)) MiB), VmHWM $((hwm / 1024)) MiB, connections open in the agent: $tracked"
				;;
			*)
				log "unknown test $test"
				stop_tracer
				;;
			esac
		done
	done
done

# --- where the time goes ---------------------------------------------------------------
PROF_OUT=
if [ "$PROFILE" != 0 ] && [ "$PROFILE" != callgrind ] && command -v perf > /dev/null; then
	PROF_OUT=$tmp/profile
	: > "$PROF_OUT"
	for cfg in "${cfgs[@]}"; do
		bin_of "$cfg" || continue
		for test in llm sse; do
			case " $TESTS " in *" $test "*) ;; *) continue ;; esac
			cur_out=$tmp/prof.$cfg.$test
			start_tracer "$cfg" "$cur_out" || continue
			perf record -q -F 1999 --call-graph dwarf,16384 -p "$tracer_pid" \
				-o "$tmp/perf.data" 2> "$tmp/perf.err" &
			perf_pid=$!
			sleep 0.5
			run_load "$test" "$cur_out"
			kill -INT "$perf_pid" 2>/dev/null
			wait "$perf_pid" 2>/dev/null
			stop_tracer
			rep_file=$BUILD/bench/agent-profile-$cfg-$test.txt
			if ! perf report -i "$tmp/perf.data" --no-children --sort dso,symbol -g none \
				--percent-limit 0.3 --stdio > "$tmp/self.txt" 2> "$tmp/perf.err"; then
				log "perf report failed: $(head -n 2 "$tmp/perf.err" | tr '\n' ' ')"
				continue
			fi
			perf report -i "$tmp/perf.data" --children --sort symbol -g none \
				--percent-limit 1 --stdio > "$tmp/incl.txt" 2> /dev/null
			perf report -i "$tmp/perf.data" --no-children --sort dso -g none \
				--stdio > "$tmp/dso.txt" 2> /dev/null
			{
				echo "# self time by object"
				cat "$tmp/dso.txt"
				echo "# self time by symbol"
				cat "$tmp/self.txt"
				echo "# with callees (call graphs by DWARF unwinding)"
				cat "$tmp/incl.txt"
			} > "$rep_file"
			{
				echo "$cfg $test: agent CPU samples by object: $(grep '%' "$tmp/dso.txt" |
					grep -v '^#' | head -n 6 |
					awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')"
				echo "  self, top 12:"
				grep -v '^#' "$tmp/self.txt" | grep '%' | head -n 12 | sed 's/ *- *- *$//'
				echo "  with callees, top 25 below the event loop (all in $rep_file):"
				grep -v '^#' "$tmp/incl.txt" | grep '%' | sed 's/ *- *- *$//' | grep -v -E \
					'\] (agent_run|trace_loop|ring_buffer__poll|cmd_trace|cmd_run|main|_start|__libc_start[a-z_]*|0x[0-9a-f]+|on_event)( \(inlined\))?$' |
					head -n 25 | awk '{ printf "    %8s  %s\n", $1, $NF == "(inlined)" ? $(NF - 1) " (inlined)" : $NF }'
				echo
			} >> "$PROF_OUT"
		done
	done
elif [ "$PROFILE" != 0 ] && [ "$PROFILE" != auto ]; then
	if command -v valgrind > /dev/null && bin_of new; then
		cur_out=$tmp/prof.new.llm
		# Instrumented from ready to stopped: start-up (BTF, attach) left out.
		WRAP="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$BUILD/bench/agent-callgrind.out"
		if start_tracer new "$cur_out"; then
			callgrind_control -i on "$tracer_pid" > /dev/null 2>&1 ||
				log "callgrind_control -i on failed: the profile includes start-up"
			run_load llm "$cur_out"
			stop_tracer
			PROF_OUT=$tmp/profile
			{
				echo "new llm under callgrind ($BUILD/bench/agent-callgrind.out):"
				callgrind_annotate "$BUILD/bench/agent-callgrind.out" 2>/dev/null |
					sed -n '/PROGRAM TOTALS/,$p' | head -n 30
			} > "$PROF_OUT"
		else
			log "callgrind: the agent did not start under valgrind: $why"
		fi
		WRAP=
	else
		log "profile: neither perf nor valgrind is installed; not available"
	fi
fi

# --- report -------------------------------------------------------------------------------
/usr/bin/python3 - "$OUT" "$tmp/na" "$CONFIGS" "$CONNS" <<'EOF'
import csv, statistics, sys
out, na_file, configs, conns = sys.argv[1], sys.argv[2], sys.argv[3].split(), int(sys.argv[4])
rows = list(csv.DictReader(open(out), delimiter="\t"))
na = dict(l.rstrip("\n").split("\t", 1) for l in open(na_file) if "\t" in l)

def vals(cfg, test, col):
    return [float(r[col]) for r in rows if r["config"] == cfg and r["test"] == test
            and r[col] not in ("-", "")]

def med(cfg, test, col):
    v = vals(cfg, test, col)
    return statistics.median(v) if v else None

def total(cfg, test, col):
    v = vals(cfg, test, col)
    return int(sum(v)) if v else None

def user_per_1k(cfg, test):
    v = [float(r["user_ms"]) * 1000 / float(r["calls"]) for r in rows
         if r["config"] == cfg and r["test"] == test and r["user_ms"] not in ("-", "")]
    return statistics.median(v) if v else None

def spread(cfg, test, col):
    v = vals(cfg, test, col)
    m = statistics.median(v) if v else 0
    return (max(v) - min(v)) / m * 100 if m else 0

print()
print("agent CPU per 1,000 metered calls (its threads' run time), median of runs;")
print("spread = (max - min) / median; lost = calls - records, summed over all runs;")
print("user = its user-mode part, ms/1000 (steadier: the kernel part follows how often it is")
print("woken); vs base = ms/1000 over the base's (user over the base's user)")
print("sys = kernel share of the agent's CPU; wake/call = its context switches per call")
print("%-4s %-5s %4s %8s %7s %6s %5s %8s %9s %5s %11s %11s %12s" % ("test", "conf", "runs", "ms/1000",
      "spread", "user", "sys", "calls/s", "wake/call", "lost", "complete", "w/tokens", "vs base"))
for test in ("llm", "sse"):
    base = med("base", test, "cpu_ms_per_1k")
    for c in configs:
        n = len(vals(c, test, "cpu_ms_per_1k"))
        if not n:
            if any(r["test"] == test for r in rows) or c in na:
                print("%-4s %-5s %4s  (%s)" % (test, c, "n/a", na.get(c, "no successful run")))
            continue
        m = med(c, test, "cpu_ms_per_1k")
        calls = total(c, test, "calls")
        tok = total(c, test, "metered")
        cpu, sys_ms = total(c, test, "cpu_ms"), total(c, test, "sys_ms")
        user, bu = user_per_1k(c, test), user_per_1k("base", test)
        vs = "%.2f" % (m / base) if base and c != "base" else "-"
        if vs != "-" and bu:
            vs += " (%.2f)" % (user / bu)
        print("%-4s %-5s %4d %8.1f %6.0f%% %6.1f %4.0f%% %8.0f %9.1f %5d %11s %11s %12s" % (
            test, c, n, m, spread(c, test, "cpu_ms_per_1k"), user,
            sys_ms * 100 / cpu if cpu else 0,
            med(c, test, "calls_per_s"),
            med(c, test, "switches_per_call"), total(c, test, "lost"),
            "%d/%d" % (total(c, test, "complete"), calls),
            "%d/%d" % (tok, calls) if tok is not None else "-", vs))
if any(r["test"] == "rss" for r in rows):
    print()
    print("agent memory with %d idle open connections, median of runs, MiB; ring = the resident" % conns)
    print("BPF ring buffer mappings inside VmRSS (kernel pages, counted once per mapping);")
    print("heap = RssAnon; per conn = heap growth / connections opened")
    print("%-5s %4s %9s %9s %7s %7s %9s %9s %10s %8s" % ("conf", "runs", "RSS ready", "RSS open",
          "VmHWM", "ring", "heap rdy", "heap open", "per conn", "tracked"))
    for c in configs:
        if not vals(c, "rss", "rss_kb"):
            if c in na:
                print("%-5s %4s  (%s)" % (c, "n/a", na[c]))
            continue
        tr = sorted({r["conns_tracked"] for r in rows if r["config"] == c and r["test"] == "rss"})
        a0, a1 = med(c, "rss", "anon0_kb"), med(c, "rss", "anon_kb")
        print("%-5s %4d %9.1f %9.1f %7.1f %7.1f %9.1f %9.1f %8.2f K %8s" % (
            c, len(vals(c, "rss", "rss_kb")), med(c, "rss", "rss0_kb") / 1024,
            med(c, "rss", "rss_kb") / 1024, med(c, "rss", "hwm_kb") / 1024,
            med(c, "rss", "bpf_rss_kb") / 1024, a0 / 1024, a1 / 1024, (a1 - a0) / conns,
            "/".join(tr)))
for c in configs:
    drops = sum(int(r[k]) for r in rows if r["config"] == c
                for k in ("ringbuf_drops", "lost_calls") if r[k] not in ("-", ""))
    if drops:
        print("note: %s: the agent counted %d ring-buffer drops and calls lost whole" % (c, drops))
other = sum(int(r["other_records"]) for r in rows if r.get("other_records", "-") not in ("-", ""))
if other:
    print()
    print("note: %d records of other processes on the host during the llm/sse runs: the agent's" % other)
    print("CPU includes their traffic (BENCH_SCOPE=1 leaves it out)")
goals = []
for test in ("llm", "sse"):
    n, b = med("new", test, "cpu_ms_per_1k"), med("base", test, "cpu_ms_per_1k")
    if n and b:
        goals.append("%s new/base %.2f (goal <= 1.50: %s)" % (test, n / b, "met" if n / b <= 1.5 else "NOT met"))
    lost = total("new", test, "lost")
    if lost is not None:
        goals.append("%s lost %d (goal 0: %s)" % (test, lost, "met" if lost == 0 else "NOT met"))
r = med("new", "rss", "rss_kb")
if r:
    goals.append("VmRSS %.1f MiB (goal <= 64: %s)" % (r / 1024, "met" if r / 1024 <= 64 else "NOT met"))
if goals:
    print()
    print("goals (new): " + "; ".join(goals))
EOF
if [ -n "$PROF_OUT" ] && [ -s "$PROF_OUT" ]; then
	echo
	echo "where the agent's time goes (perf record -p PID, runs of their own, not measured):"
	echo "(finish_task_switch and the like: time the agent spends being switched out and"
	echo "back in around each wake-up; with cpu-clock sampling, as here when there is no"
	echo "hardware PMU, samples that fall while interrupts are off are charged there too)"
	cat "$PROF_OUT"
fi

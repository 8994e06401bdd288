#!/bin/bash
# Capture-overhead benchmark: what do uprobes on OpenSSL cost a TLS user?
#
#   sudo bench/capture/run.sh            (or: make bench)
#
# Workload: build/bench/tls_loop (bench/capture/tls_loop.c, linked to the
# system libssl.so.3): TLS round trips on one connection over 127.0.0.1,
# client and server forked from one process, both running in cgroup
# /tollgate-bench/loop.  Payload kinds × sizes: generic (random bytes, not
# HTTP) and llm (a valid POST /v1/chat/completions request and 200 JSON
# response, whole messages of S bytes), S = 1024 and 65536.
#
# Configurations, interleaved (order rotated every repetition), median of
# the repetitions:
#   none             no tracer
#   bpftrace         bare bpftrace uprobe + uretprobe on SSL_write, SSL_write_ex,
#                    SSL_read, SSL_read_ex of libssl.so.3, doing nothing
#   tollgate         build/tollgate trace --format jsonl > /dev/null (global)
#   tollgate-scoped  build/tollgate trace --format jsonl --cgroup /tollgate-bench/other
#                    > /dev/null: scoped to a cgroup the loop is not in (a
#                    python3 that has libssl mapped sleeps there, so the scope
#                    is not empty)
#   tollgate-base    $TOLLGATE_BASE trace --format jsonl > /dev/null: another
#                    build (an earlier commit's), to compare a change in the
#                    same interleaved run; only when TOLLGATE_BASE is set
# A configuration that cannot run (no bpftrace, no build/tollgate, tollgate
# exits) is reported as n/a with the reason; the others still run.
#
# Environment: BENCH_SECONDS (per run, default 3), BENCH_REPS (default 3),
# BENCH_KINDS ("generic llm"), BENCH_SIZES ("1024 65536"), BENCH_CONFIGS
# ("none bpftrace tollgate tollgate-scoped"), TOLLGATE (default
# $BUILD/tollgate), TOLLGATE_ARGS (extra trace arguments), BUILD (build).
# The default run takes about 4 minutes.  Raw numbers go to
# $BUILD/bench/capture-results.tsv.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
SECS=${BENCH_SECONDS:-3}
REPS=${BENCH_REPS:-3}
KINDS=${BENCH_KINDS:-generic llm}
SIZES=${BENCH_SIZES:-1024 65536}
TOLLGATE=${TOLLGATE:-$BUILD/tollgate}
TOLLGATE_BASE=${TOLLGATE_BASE:-}
CONFIGS=${BENCH_CONFIGS:-none bpftrace tollgate tollgate-scoped${TOLLGATE_BASE:+ tollgate-base}}
TOLLGATE_ARGS=${TOLLGATE_ARGS:-}
LIBSSL=${LIBSSL:-/lib/x86_64-linux-gnu/libssl.so.3}
LOOP=$BUILD/bench/tls_loop
OUT=$BUILD/bench/capture-results.tsv

log() { echo "capture-bench: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "not root: only the 'none' configuration can run"
	CONFIGS=none
fi

# --- build the workload ----------------------------------------------------------
mkdir -p "$BUILD/bench"
if [ ! -x "$LOOP" ] || [ bench/capture/tls_loop.c -nt "$LOOP" ] || [ bench/common/benchtls.h -nt "$LOOP" ]; then
	${CC:-gcc} -O2 -g -Wall -Wextra -Werror -std=gnu11 -o "$LOOP" bench/capture/tls_loop.c \
		-lssl -lcrypto || { log "cannot build tls_loop (libssl-dev?)"; exit 1; }
fi
got=$(ldd "$LOOP" | awk '$1 == "libssl.so.3" { print $3 }')
if [ -z "$got" ] || [ "$(readlink -f "$got")" != "$(readlink -f "$LIBSSL")" ]; then
	log "warning: $LOOP loads libssl.so.3 from '${got:-nowhere}', not $LIBSSL: probes will miss it"
fi

tmp=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
tracer_pid=
holder_pid=

cleanup() {
	stop_tracer
	[ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null && wait "$holder_pid" 2>/dev/null
	if [ -n "$cgroot" ]; then
		rmdir "$cgroot/tollgate-bench/loop" "$cgroot/tollgate-bench/other" \
			"$cgroot/tollgate-bench" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" = 0 ]; then
	[ -d /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing ||
		log "warning: cannot mount tracefs at /sys/kernel/tracing (bpftrace needs it)"
	if [ -z "$cgroot" ]; then
		log "no cgroup2 mount: the loop runs in the current cgroup, tollgate-scoped is skipped"
		CONFIGS=$(echo "$CONFIGS" | tr ' ' '\n' | grep -vx tollgate-scoped | xargs)
	else
		mkdir -p "$cgroot/tollgate-bench/loop" "$cgroot/tollgate-bench/other"
		# Something in the scoped cgroup that has libssl mapped.
		sh -c 'echo $$ > "$0/cgroup.procs" && exec /usr/bin/python3 -c "import ssl, time; time.sleep(86400)"' \
			"$cgroot/tollgate-bench/other" &
		holder_pid=$!
	fi
fi

# --- tracers ------------------------------------------------------------------------

# wait_for CMD...: poll CMD for up to 30 s while the tracer lives.
wait_for() {
	local i
	for i in $(seq 1 300); do
		"$@" && return 0
		kill -0 "$tracer_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

tollgate_has_probes() {
	bpftool perf show 2>/dev/null | grep -q "pid $tracer_pid .*uprobe"
}

# start_tracer CONFIG: 0 when running, else 1 with the reason in $why.
start_tracer() {
	why=
	tracer_pid=
	case $1 in
	none) return 0 ;;
	bpftrace)
		command -v bpftrace >/dev/null || { why="bpftrace not installed"; return 1; }
		local p="uprobe:$LIBSSL" r="uretprobe:$LIBSSL"
		cat > "$tmp/nop.bt" <<-EOF
		$p:SSL_write, $p:SSL_write_ex, $p:SSL_read, $p:SSL_read_ex,
		$r:SSL_write, $r:SSL_write_ex, $r:SSL_read, $r:SSL_read_ex
		{ }
		BEGIN { printf("ready\n"); }
		EOF
		bpftrace "$tmp/nop.bt" > "$tmp/tracer.out" 2> "$tmp/tracer.err" &
		tracer_pid=$!
		if ! wait_for grep -q '^ready' "$tmp/tracer.out"; then
			why="bpftrace did not start: $(grep -v RLIMIT "$tmp/tracer.err" | head -n 3 | tr '\n' ' ')"
			stop_tracer
			return 1
		fi
		;;
	tollgate|tollgate-scoped|tollgate-base)
		local bin=$TOLLGATE
		[ "$1" = tollgate-base ] && bin=$TOLLGATE_BASE
		[ -x "$bin" ] || { why="${bin:-TOLLGATE_BASE} not built"; return 1; }
		local args=(trace --format jsonl)
		[ "$1" = tollgate-scoped ] && args+=(--cgroup /tollgate-bench/other)
		# shellcheck disable=SC2206
		args+=($TOLLGATE_ARGS)
		"$bin" "${args[@]}" > /dev/null 2> "$tmp/tracer.err" &
		tracer_pid=$!
		if command -v bpftool >/dev/null; then
			if ! wait_for tollgate_has_probes; then
				if ! kill -0 "$tracer_pid" 2>/dev/null; then
					why="tollgate exited: $(tail -n 3 "$tmp/tracer.err" | tr '\n' ' ')"
					stop_tracer
					return 1
				fi
				log "warning: no uprobe of tollgate (pid $tracer_pid) in 'bpftool perf show' after 30 s; measuring anyway"
			fi
		else
			sleep 3
		fi
		sleep 0.5
		kill -0 "$tracer_pid" 2>/dev/null || {
			why="tollgate exited: $(tail -n 3 "$tmp/tracer.err" | tr '\n' ' ')"
			tracer_pid=
			return 1
		}
		;;
	*) why="unknown configuration"; return 1 ;;
	esac
	return 0
}

# SIGINT, then SIGTERM after 5 s, then SIGKILL (bpftrace 0.17 has been seen
# to miss a SIGINT).
stop_tracer() {
	[ -n "$tracer_pid" ] || return 0
	local sig i
	for sig in INT TERM KILL; do
		kill -"$sig" "$tracer_pid" 2>/dev/null || break
		for i in $(seq 1 50); do
			kill -0 "$tracer_pid" 2>/dev/null || break 2
			sleep 0.1
		done
	done
	wait "$tracer_pid" 2>/dev/null
	tracer_pid=
}

# run_loop KIND SIZE: one measurement; prints "rt_per_s mb_per_s" or nothing.
run_loop() {
	local cmd=("$LOOP" --kind "$1" --size "$2" --seconds "$SECS")
	local out
	if [ -n "$cgroot" ] && [ -d "$cgroot/tollgate-bench/loop" ]; then
		out=$(timeout $((SECS + 60)) sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' \
			"$cgroot/tollgate-bench/loop" "${cmd[@]}")
	else
		out=$(timeout $((SECS + 60)) "${cmd[@]}")
	fi
	echo "$out" | sed -n 's/^RESULT .*rt_per_s=\([0-9.]*\) mb_per_s=\([0-9.]*\).*/\1 \2/p'
}

# --- measure ----------------------------------------------------------------------------
read -r -a cfgs <<< "$CONFIGS"
ncfg=${#cfgs[@]}
nwork=$(( $(echo $KINDS | wc -w) * $(echo $SIZES | wc -w) ))
log "$ncfg configurations x $nwork workloads x $REPS repetitions x ${SECS}s (about $(( (ncfg * nwork * REPS * (SECS + 1) + ncfg * REPS * 4) / 60 + 1 )) min)"
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
	log "warning: load average $load on $(nproc) CPUs: other work on the host makes these numbers noisy (see the spread column)"
fi
printf 'rep\tconfig\tkind\tsize\trt_per_s\tmb_per_s\n' > "$OUT"
: > "$tmp/na"
for rep in $(seq 1 "$REPS"); do
	for i in $(seq 0 $((ncfg - 1))); do
		cfg=${cfgs[$(( (i + rep - 1) % ncfg ))]}
		if grep -q "^$cfg	" "$tmp/na"; then continue; fi
		if ! start_tracer "$cfg"; then
			log "$cfg: n/a: $why"
			printf '%s\t%s\n' "$cfg" "$why" >> "$tmp/na"
			continue
		fi
		for kind in $KINDS; do
			for size in $SIZES; do
				r=$(run_loop "$kind" "$size")
				if [ -z "$r" ]; then
					log "rep $rep $cfg $kind $size: tls_loop failed"
					continue
				fi
				if [ -n "$tracer_pid" ] && ! kill -0 "$tracer_pid" 2>/dev/null; then
					log "rep $rep $cfg $kind $size: tracer died during the run; discarded"
					continue
				fi
				printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$cfg" "$kind" "$size" ${r} >> "$OUT"
				log "rep $rep  $(printf '%-16s %-8s %6s' "$cfg" "$kind" "$size")  $(echo "$r" | awk '{printf "%10.1f rt/s %9.2f MB/s", $1, $2}')"
			done
		done
		stop_tracer
	done
done

# --- report -------------------------------------------------------------------------------
/usr/bin/python3 - "$OUT" "$tmp/na" "$CONFIGS" <<'EOF'
import csv, statistics, sys
out, na_file, configs = sys.argv[1], sys.argv[2], sys.argv[3].split()
rows = list(csv.DictReader(open(out), delimiter="\t"))
na = dict(l.rstrip("\n").split("\t", 1) for l in open(na_file) if "\t" in l)
med = {}
for key in {(r["config"], r["kind"], r["size"]) for r in rows}:
    rs = [r for r in rows if (r["config"], r["kind"], r["size"]) == key]
    rt = [float(r["rt_per_s"]) for r in rs]
    m = statistics.median(rt)
    med[key] = (m, statistics.median(float(r["mb_per_s"]) for r in rs), len(rs),
                (max(rt) - min(rt)) / m * 100 if m else 0)
works = []
for r in rows:
    w = (r["kind"], r["size"])
    if w not in works:
        works.append(w)
print()
print("capture overhead: TLS round trips/s over 127.0.0.1, median of runs; spread = (max - min) / median;")
print("ratios = this configuration's median throughput / the baseline's")
print("%-8s %6s  %-16s %11s %9s %4s %7s  %8s %11s" % ("kind", "size", "config", "rt/s", "MB/s",
                                                       "runs", "spread", "vs none", "vs bpftrace"))
for kind, size in works:
    base = med.get(("none", kind, size))
    bpf = med.get(("bpftrace", kind, size))
    for c in configs:
        m = med.get((c, kind, size))
        if not m:
            why = na.get(c, "no successful run")
            print("%-8s %6s  %-16s %11s  (%s)" % (kind, size, c, "n/a", why))
            continue
        vs_none = "%.3f" % (m[0] / base[0]) if base else "-"
        vs_bpf = "%.3f" % (m[0] / bpf[0]) if bpf and c != "bpftrace" else "-"
        print("%-8s %6s  %-16s %11.1f %9.2f %4d %6.0f%%  %8s %11s" % (
            kind, size, c, m[0], m[1], m[2], m[3], vs_none, vs_bpf))
EOF

#!/bin/bash
# Ledger throughput on one core: open+settle pairs per second, sustained,
# into a fresh WAL db (BENCH_LEDGER_CALLS, default 1000000; the db goes in
# BENCH_LEDGER_DIR, default a temp dir: put it on the disk the agent uses).
# With BENCH_LEDGER_RATE (calls/s), the calls are paced instead and the
# ledger's CPU per 1000 calls at that rate is reported.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench/ledger_bench
mkdir -p "$(dirname "$out")"
${CC:-gcc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -Iinclude -o "$out" bench/ledger/ledger_bench.c \
	user/ledger.c user/log.c -lsqlite3 -lpthread
if [ -n "${BENCH_LEDGER_DIR:-}" ]; then
	dir=$BENCH_LEDGER_DIR/tollgate-ledger-bench.$$
else
	dir=$(mktemp -d /tmp/tollgate-ledger-bench.XXXXXX)
fi
trap 'rm -rf "$dir"' EXIT
cpu=${BENCH_CPU:-0}
echo "ledger: $dir/ledger.db ($(df --output=fstype "$(dirname "$dir")" | tail -1)), pinned to CPU $cpu"
taskset -c "$cpu" "$out" "$dir/ledger.db" "${BENCH_LEDGER_CALLS:-1000000}" \
	${BENCH_LEDGER_RATE:+"$BENCH_LEDGER_RATE"}

#!/bin/bash
# HTTP/2 decoding speed on one core, no BPF, no root: the agent's HTTP/2
# decoder (user/http2.c) alone, frames/s and MB/s, and the exchange layer
# above it (user/exchange.c: streams paired into metered calls, SSE and
# usage parsed), calls/s, on one realistic client connection (streamed chat
# completions, up to 100 streams interleaved, fed in 16 KiB pieces): see
# bench/http2/h2_bench.c.
#
# Built against the agent's own objects: the Makefile's CORE_SRCS (every
# user/ source but the edges), as make builds them for build/tollgate
# (-O2 -g), brought up to date by make first.
#
# Environment: BENCH_H2_CALLS (calls on the connection, 1000),
# BENCH_SECONDS (CPU seconds per test, 3), BENCH_CPU (pin to this CPU;
# default not pinned), BUILD (build).  Takes about 2 x BENCH_SECONDS + the
# build.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench/h2_bench
mkdir -p "$BUILD/bench"
# The core objects and the libraries, as the Makefile names them.
# shellcheck disable=SC2016
vars=$(make -s --no-print-directory BUILD="$BUILD" -f Makefile -f <(printf \
	'print-h2-bench:\n\t@echo $(patsubst %%.c,$(BUILD)/%%.o,$(CORE_SRCS))\n\t@echo $(LDLIBS)\n') \
	print-h2-bench)
objs=$(echo "$vars" | sed -n 1p)
libs=$(echo "$vars" | sed -n 2p)
[ -n "$objs" ] || { echo "h2-bench: no CORE_SRCS from the Makefile" >&2; exit 1; }
# shellcheck disable=SC2086
make -s --no-print-directory BUILD="$BUILD" $objs
# shellcheck disable=SC2086
${CC:-gcc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-D_GNU_SOURCE -Iinclude -I"$BUILD" -o "$out" bench/http2/h2_bench.c $objs $libs
pin=()
[ -n "${BENCH_CPU:-}" ] && pin=(taskset -c "$BENCH_CPU")
echo "h2-bench: $(${CC:-gcc} -dumpfullversion 2>/dev/null || echo cc), nghttp2 $(pkg-config --modversion libnghttp2 2>/dev/null || echo '?')${BENCH_CPU:+, pinned to CPU $BENCH_CPU}"
"${pin[@]}" "$out" "${BENCH_H2_CALLS:-1000}" "${BENCH_SECONDS:-3}"

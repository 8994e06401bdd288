#!/bin/bash
# The metrics exposition passes `promtool check metrics` (format and lint):
# the unit test renders a registry with every kind of series (escaped and
# folded labels, histograms, health) into a file, and promtool reads it.
# promtool comes from the Debian package "prometheus"; without it: SKIP.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
bin=${TEST_METRICS_BIN:-$BUILD/asan/tests/unit/test_metrics}
name=check_metrics_promtool

if ! command -v promtool > /dev/null; then
	echo "SKIP $name: promtool not installed (Debian package prometheus)"
	exit 0
fi
if [ ! -x "$bin" ] && ! make -s BUILD="$BUILD" "$bin" > /dev/null; then
	echo "FAIL $name: cannot build $bin"
	exit 1
fi
out=$(mktemp /tmp/tollgate-metrics.XXXXXX)
trap 'rm -f "$out"' EXIT

if ! TOLLGATE_METRICS_OUT=$out "$bin" > /dev/null || [ ! -s "$out" ]; then
	echo "FAIL $name: $bin did not render the exposition"
	exit 1
fi
# promtool prints nothing and exits 0 when there is no problem; lint
# findings are printed and make it exit non-zero.
if report=$(promtool check metrics < "$out" 2>&1) && [ -z "$report" ]; then
	echo "PASS $name"
else
	echo "FAIL $name: promtool check metrics:"
	printf '%s\n' "$report" | head -20 | sed 's/^/    /'
	exit 1
fi

#!/bin/bash
# Runs every test: sanitizer-built unit tests, short fuzz runs, and the
# integration tests against the real agent.  Each test program prints
# PASS/FAIL/SKIP lines; this script counts them and ends with
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD TOP=$PWD
log=$(mktemp -d /tmp/tollgate-test.XXXXXX)
pass=0 fail=0 skip=0

tally() {	# $1 = name of the program, $2 = its exit code, stdin = its output
	local name=$1 rc=$2 seen=0 line
	while IFS= read -r line; do
		case "$line" in
		PASS\ *) pass=$((pass + 1)); seen=1; echo "  $line" ;;
		FAIL\ *) fail=$((fail + 1)); seen=1; echo "  $line" ;;
		SKIP\ *) skip=$((skip + 1)); seen=1; echo "  $line" ;;
		esac
	done
	# A crash, a sanitizer report or a non-zero exit without a FAIL line
	# is a failure of its own.
	if [ "$rc" != 0 ] && ! grep -q '^FAIL ' "$log/$name.out"; then
		fail=$((fail + 1))
		echo "  FAIL $name: exited $rc"
		tail -n 30 "$log/$name.out" | sed 's/^/    | /'
	elif [ "$seen" = 0 ]; then
		fail=$((fail + 1))
		echo "  FAIL $name: reported no result"
	fi
}

run() {		# $1 = name, rest = command
	local name=$1; shift
	echo "== $name"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		timeout "${TEST_TIMEOUT:-600}" "$@" > "$log/$name.out" 2>&1
	local rc=$?
	tally "$name" "$rc" < "$log/$name.out"
}

# The tests are what the sources say, not what happens to be built: a
# test whose program is missing (it failed to build) is a failure.
missing() {	# $1 = name, $2 = the program that should be there
	fail=$((fail + 1))
	echo "== $1"
	echo "  FAIL $1: $2 is missing (did it build?)"
}

[ -x "$BUILD/tollgate" ] || missing tollgate "$BUILD/tollgate"

for src in tests/unit/test_*.c; do
	t=$BUILD/asan/${src%.c}
	n=unit-$(basename "$t")
	if [ -x "$t" ]; then run "$n" "$t"; else missing "$n" "$t"; fi
done

for src in tests/fuzz/fuzz_*.c; do
	n=$(basename "${src%.c}")
	f=$BUILD/fuzz/$n
	corpus=tests/fuzz/corpus/${n#fuzz_}
	if [ ! -x "$f" ]; then missing "$n" "$f"; continue; fi
	# New inputs go to a scratch corpus; the committed one is only read.
	run "$n" bash -c "mkdir -p '$log/$n.corpus' && '$f' -max_total_time=${FUZZ_SECONDS:-10} -timeout=10 -rss_limit_mb=2048 '$log/$n.corpus' '$corpus' >'$log/$n.fuzzlog' 2>&1 && echo 'PASS $n' || { tail -n 40 '$log/$n.fuzzlog'; echo 'FAIL $n: libFuzzer found a crash'; exit 1; }"
done

for t in tests/integ/test_*; do
	[ -x "$t" ] || { missing "integ-$(basename "${t%.*}")" "$t (executable)"; continue; }
	run "integ-$(basename "${t%.*}")" "$t"
done

if [ $((pass + fail + skip)) = 0 ]; then
	echo "  FAIL run.sh: no test ran"
	fail=1
fi
if [ "$fail" = 0 ]; then rm -rf "$log"; else echo "# test logs kept in $log"; fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]

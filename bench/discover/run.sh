#!/bin/bash
# Discovery time per binary: how long tollgate takes to locate the TLS built
# into the AI agents of tests/node (Claude Code, Codex, Bun 1.3 and 1.4),
# cold (analysed: `tollgate probes --file F --no-cache`) and cached (read
# back from a cache filled by the first run).  The figure is the analysis
# time tollgate reports ("analysis_ms": mapping the file, the code scan,
# disassembly, classification; or reading the cache entry and hashing the
# file's headers for its key) and the whole command's wall time; median of
# BENCH_REPS (5) runs each, the file in the page cache (one run first,
# unmeasured).
#
#   bench/discover/run.sh        (needs make, and tests/node's npm packages)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
TG=${TOLLGATE:-$BUILD/tollgate}
REPS=${BENCH_REPS:-5}
NM=tests/node/node_modules
FILES=("$NM/@anthropic-ai/claude-code-linux-x64/claude"
	"$NM/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"
	"$NM/bun13/bin/bun" "$NM/bun14/bin/bun")
CACHE=$(mktemp -d /tmp/tollgate-bench-discover.XXXXXX)
trap 'rm -rf "$CACHE"' EXIT

one() {	# FILE [--no-cache]: "analysis_ms wall_ms"
	local t0 t1 j
	t0=$(date +%s%N)
	j=$(TOLLGATE_CACHE_DIR=$CACHE/c "$TG" probes --json --file "$1" ${2:-})
	t1=$(date +%s%N)
	echo "$j" | python3 -c 'import json,sys; o=json.loads(sys.stdin.read() or "{}"); print(o.get("analysis_ms", -1), end=" ")'
	echo $(((t1 - t0) / 1000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-10s %8s %12s %12s %12s %12s  %s\n' binary MB cold_ms cold_wall_ms cached_ms cached_wall_ms found
for f in "${FILES[@]}"; do
	[ -x "$f" ] || { echo "missing $f (make deps)"; continue; }
	one "$f" --no-cache > /dev/null	# page cache
	cold=() warm=()
	for i in $(seq 1 "$REPS"); do cold+=("$(one "$f" --no-cache)"); done
	rm -rf "$CACHE/c"
	one "$f" > /dev/null		# fills the cache
	for i in $(seq 1 "$REPS"); do warm+=("$(one "$f")"); done
	found=$(TOLLGATE_CACHE_DIR=$CACHE/c "$TG" probes --json --file "$f" |
		python3 -c 'import json,sys; o=json.loads(sys.stdin.read()); print(",".join(p["function"] for p in o.get("probes", [])))')
	printf '%-10s %8d %12s %12s %12s %12s  %s\n' "$(basename "$f")$(case $f in *bun1[34]*) echo "${f#*bun}" | cut -c1-2;; esac)" \
		$(($(stat -c %s "$f") >> 20)) \
		"$(printf '%s\n' "${cold[@]}" | awk '{print $1}' | median)" \
		"$(printf '%s\n' "${cold[@]}" | awk '{print $2 / 1000}' | median)" \
		"$(printf '%s\n' "${warm[@]}" | awk '{print $1}' | median)" \
		"$(printf '%s\n' "${warm[@]}" | awk '{print $2 / 1000}' | median)" "$found"
done

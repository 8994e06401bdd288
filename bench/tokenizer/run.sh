#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# Tokenizer benchmark: tollgate vs npm tiktoken (Rust compiled to WASM) vs
# gpt-tokenizer (pure JS), same run, same corpus (bench/tokenizer/
# build_corpus.py: >= 10 MB of unique text from man pages in 25 languages,
# English man pages and C headers), o200k_base and cl100k_base.
#
#   whole process: wall time of one process that loads the vocabulary,
#                  reads the corpus from a file and prints its token ids
#                  (`tollgate tokenize`, node_bench.js whole); best of RUNS;
#                  peak RSS from /usr/bin/time -v
#   in process:    one process, the corpus already in memory, encoded
#                  repeatedly for SECS seconds: best (and first) time
#
# Every implementation's ids are hashed and must agree.  Results: a table
# on stdout and $BUILD/bench/tokenizer.json.
#
#   BUILD=build RUNS=3 SECS=10 ENCODINGS="o200k_base cl100k_base" bench/tokenizer/run.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-3}
SECS=${SECS:-10}
ENCODINGS=${ENCODINGS:-"o200k_base cl100k_base"}
out=$BUILD/bench
corpus=$out/tokenizer-corpus.txt
mkdir -p "$out"

[ -x "$BUILD/toktool" ] || make -s "$BUILD/toktool"
if [ -x "$BUILD/tollgate" ] && "$BUILD/tollgate" tokenize --help >/dev/null 2>&1; then
	TG=("$BUILD/tollgate" tokenize)
else
	TG=("$BUILD/toktool" tokenize)	# same cmd_tokenize, until the CLI has it
fi
[ -s "$corpus" ] || python3 bench/tokenizer/build_corpus.py "$corpus" 10
bytes=$(stat -c %s "$corpus")
tmp=$(mktemp -d /tmp/tg-tokbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run CMD...: best wall seconds and max RSS (KB) over RUNS; stdout of the last run in $tmp/stdout
measure() {
	local best="" rss=0 i w m
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f "%e %M" -o "$tmp/time" "$@" > "$tmp/stdout" < "${STDIN:-/dev/null}"
		read -r w m < "$tmp/time"
		if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then best=$w; fi
		[ "$m" -gt "$rss" ] && rss=$m
	done
	echo "$best $rss"
}

mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN{ if (s > 0) printf "%.1f", b / s / 1e6; else print "inf" }'; }

echo "corpus: $corpus, $bytes bytes ($(python3 -c "print(round($bytes/1e6,2))") MB)"
echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), node $(node --version)"
echo "tollgate: ${TG[*]}"
echo
json="{\"corpus_bytes\":$bytes,\"results\":["
sep=""
for enc in $ENCODINGS; do
	# --- whole process ----------------------------------------------------
	STDIN=$corpus read -r tg_w tg_rss < <(STDIN=$corpus measure "${TG[@]}" --encoding "$enc")
	tg_hash=$(tr -d '\n' < "$tmp/stdout" | sha256sum | cut -d' ' -f1)
	tg_tokens=$(wc -w < "$tmp/stdout")
	read -r tgc_w tgc_rss < <(STDIN=$corpus measure "${TG[@]}" --encoding "$enc" --count)
	read -r tk_w tk_rss < <(measure node bench/tokenizer/node_bench.js whole tiktoken "$enc" "$corpus")
	tk_hash=$(python3 -c "import json,sys;print(json.load(open('$tmp/stdout'))['sha256'])")
	read -r gt_w gt_rss < <(measure node bench/tokenizer/node_bench.js whole gpt-tokenizer "$enc" "$corpus")
	gt_hash=$(python3 -c "import json,sys;print(json.load(open('$tmp/stdout'))['sha256'])")
	agree=yes
	[ "$tg_hash" = "$tk_hash" ] && [ "$tg_hash" = "$gt_hash" ] || agree=NO

	# --- in process -------------------------------------------------------
	/usr/bin/time -f "%M" -o "$tmp/rss" "$BUILD/toktool" bench "$enc" "$corpus" "$SECS" > "$tmp/tg.json"
	tgi_rss=$(cat "$tmp/rss")
	/usr/bin/time -f "%M" -o "$tmp/rss" node bench/tokenizer/node_bench.js inproc tiktoken "$enc" "$corpus" "$SECS" > "$tmp/tk.json"
	tki_rss=$(cat "$tmp/rss")
	/usr/bin/time -f "%M" -o "$tmp/rss" node bench/tokenizer/node_bench.js inproc gpt-tokenizer "$enc" "$corpus" "$SECS" > "$tmp/gt.json"
	gti_rss=$(cat "$tmp/rss")
	read -r tgi tgi_first < <(python3 -c "import json;d=json.load(open('$tmp/tg.json'));print('%.1f %.1f'%(d['mb_per_s'],d['first_mb_per_s']))")
	read -r tki tki_first < <(python3 -c "import json;d=json.load(open('$tmp/tk.json'));print('%.1f %.1f'%(d['mb_per_s'],d['first_mb_per_s']))")
	read -r gti gti_first < <(python3 -c "import json;d=json.load(open('$tmp/gt.json'));print('%.1f %.1f'%(d['mb_per_s'],d['first_mb_per_s']))")

	tgw=$(mbps "$tg_w"); tgcw=$(mbps "$tgc_w"); tkw=$(mbps "$tk_w"); gtw=$(mbps "$gt_w")
	echo "== $enc: $tg_tokens tokens; ids identical across all three: $agree"
	printf '%-22s %14s %12s %14s %12s %12s\n' "" "whole MB/s" "whole RSS" "in-proc MB/s" "(first run)" "in-proc RSS"
	printf '%-22s %9s (%ss) %9s MB %14s %12s %9s MB\n' "tollgate" "$tgw" "$tg_w" "$((tg_rss / 1024))" "$tgi" "$tgi_first" "$((tgi_rss / 1024))"
	printf '%-22s %9s (%ss) %9s MB\n' "tollgate --count" "$tgcw" "$tgc_w" "$((tgc_rss / 1024))"
	printf '%-22s %9s (%ss) %9s MB %14s %12s %9s MB\n' "npm tiktoken 1.0.22" "$tkw" "$tk_w" "$((tk_rss / 1024))" "$tki" "$tki_first" "$((tki_rss / 1024))"
	printf '%-22s %9s (%ss) %9s MB %14s %12s %9s MB\n' "gpt-tokenizer 4.0.0" "$gtw" "$gt_w" "$((gt_rss / 1024))" "$gti" "$gti_first" "$((gti_rss / 1024))"
	python3 - "$tgw" "$tkw" "$gtw" "$tgi" "$tki" "$gti" <<'EOF'
import sys
tg, tk, gt, tgi, tki, gti = (float(x) for x in sys.argv[1:])
print('speed-up: whole process %.1fx tiktoken, %.1fx gpt-tokenizer; in process %.1fx tiktoken, %.1fx gpt-tokenizer'
      % (tg / tk, tg / gt, tgi / tki, tgi / gti))
EOF
	echo
	json+="$sep{\"encoding\":\"$enc\",\"tokens\":$tg_tokens,\"ids_agree\":\"$agree\","
	json+="\"whole\":{\"tollgate\":{\"s\":$tg_w,\"rss_kb\":$tg_rss},\"tollgate_count\":{\"s\":$tgc_w,\"rss_kb\":$tgc_rss},"
	json+="\"tiktoken\":{\"s\":$tk_w,\"rss_kb\":$tk_rss},\"gpt_tokenizer\":{\"s\":$gt_w,\"rss_kb\":$gt_rss}},"
	json+="\"inproc\":{\"tollgate\":$(cat "$tmp/tg.json"),\"tiktoken\":$(cat "$tmp/tk.json"),\"gpt_tokenizer\":$(cat "$tmp/gt.json")},"
	json+="\"inproc_rss_kb\":{\"tollgate\":$tgi_rss,\"tiktoken\":$tki_rss,\"gpt_tokenizer\":$gti_rss}}"
	sep=","
	[ "$agree" = yes ] || { echo "bench/tokenizer: ids differ between implementations" >&2; exit 1; }
done
echo "$json]}" > "$out/tokenizer.json"
echo "results: $out/tokenizer.json"

#!/bin/bash
# All benchmarks (make bench): capture overhead, the agent's own CPU and
# memory per metered call (TOLLGATE_BASE=an earlier build to compare with),
# then the tokenizer if its script is there.  Exit status is non-zero if any
# of them failed.
set -u
cd "$(dirname "$0")/.." || exit 1
rc=0
echo "== capture overhead (bench/capture/run.sh)"
./bench/capture/run.sh || rc=1
echo
echo "== agent CPU and memory per metered call (bench/agent/run.sh)"
./bench/agent/run.sh || rc=1
echo
echo "== client stacks: Go net/http and node http2 (bench/clients/run.sh)"
./bench/clients/run.sh || rc=1
echo
echo "== discovery of built-in TLS, cold and cached (bench/discover/run.sh)"
./bench/discover/run.sh || rc=1
echo
echo "== Bun's fetch (BoringSSL built in) (bench/clients/run.sh bun13-h1 bun14-h1)"
BENCH_WORKLOADS="bun13-h1 bun14-h1" BENCH_GO_CALLS=1000 ./bench/clients/run.sh || rc=1
if [ -f bench/tokenizer/run.sh ]; then
	echo
	echo "== tokenizer (bench/tokenizer/run.sh)"
	bash bench/tokenizer/run.sh || rc=1
fi
exit $rc

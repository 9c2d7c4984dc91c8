#!/usr/bin/env bash
# Builds the benchmarks in Release mode and runs them, printing the median, 90th percentile and
# maximum over several repetitions (this machine is shared: quote medians, not single runs).
#   deploy/bench.sh                 all benchmarks, 10 repetitions
#   REPS=20 deploy/bench.sh Handshake   only benchmarks matching a regex
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release > build-bench.configure.log 2>&1 \
  || { cat build-bench.configure.log; exit 1; }
benches=(common_bench policy_bench)
cmake --build build-bench --target "${benches[@]}" audit_bench -j "$(nproc)"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "command: deploy/bench.sh ${*:-} (REPS=${REPS:-10})"
for b in "${benches[@]}"; do
  build-bench/bin/"$b" \
    --benchmark_repetitions="${REPS:-10}" \
    --benchmark_report_aggregates_only=true \
    --benchmark_filter="${1:-.}" 2>&1 | grep -Ev '_(mean|stddev|cv)\b'
done
# The audit log's own harness (durable appends, verification, proofs); skipped when a filter
# is given that does not mention it.
if [ -z "${1:-}" ] || [[ "Audit" =~ ${1} ]]; then
  build-bench/bin/audit_bench "${AUDIT_RUNS:-5}"
fi

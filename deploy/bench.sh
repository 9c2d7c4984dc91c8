#!/usr/bin/env bash
# Builds the benchmarks in Release mode and runs them, printing the median, 90th percentile and
# maximum over several repetitions (this machine is shared: quote medians, not single runs).
#   deploy/bench.sh                 all benchmarks, 10 repetitions
#   REPS=20 deploy/bench.sh Handshake   only benchmarks matching a regex
#   deploy/bench.sh Matching        the agent's matching: quality (FEBRL3, synthetic) and speed at
#                                   a million persons (MATCH_RUNS runs, default 3; needs ~3 GB disk)
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release > build-bench.configure.log 2>&1 \
  || { cat build-bench.configure.log; exit 1; }
benches=(common_bench policy_bench)
cmake --build build-bench --target "${benches[@]}" audit_bench match-quality mash-synth -j "$(nproc)"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "command: deploy/bench.sh ${*:-} (REPS=${REPS:-10})"
for b in "${benches[@]}"; do
  [ "${1:-}" = Matching ] && break
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

# The agent's matching: precision and recall at the automatic threshold on held-out data, and
# import and match speed with a million persons imported.
if [ -z "${1:-}" ] || [[ "Matching" =~ ${1} ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  echo "== matching quality: FEBRL3 (held out; names and date of birth only)"
  build-bench/bin/match-quality febrl ../shared/data/febrl3.csv 2>/dev/null | tail -1 || true
  [ -f ../shared/data/febrl3.csv ] || echo "   (../shared/data/febrl3.csv not found: skipped)"
  echo "== matching quality: mash-synth seed 99, 30000 households, 20000 referrals, five agencies"
  build-bench/bin/mash-synth --out "$tmp/q" --households 30000 --seed 99 --referrals 20000 > /dev/null
  build-bench/bin/match-quality synth "$tmp/q" 2>/dev/null | tail -2
  rm -rf "$tmp/q"
  echo "== speed: mash-synth seed 3, 300000 households; the health extract (~1.03M persons, ~2.25M facts)"
  build-bench/bin/mash-synth --out "$tmp/big" --households 300000 --seed 3 --referrals 20000 --agencies health > /dev/null
  echo "person_id,field,value" > "$tmp/nofacts.csv"
  for i in $(seq "${MATCH_RUNS:-3}"); do
    echo "-- run $i"
    build-bench/bin/match-quality import "$tmp/big/health/persons.csv" "$tmp/nofacts.csv" 2>&1 | sed 's/^/   persons only: /'
    build-bench/bin/match-quality synth "$tmp/big" --agencies health 2>&1 | grep -E 'imported|^health: precision' | sed 's/^/   /'
  done
fi

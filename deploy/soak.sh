#!/usr/bin/env bash
# The fault tests with real processes (tests/e2e_fault_test.cpp: a backlog far past the delivery
# window, agents and the hub killed with SIGKILL at random moments under load, damaged audit and
# case records, a full disk then freed) run again and again for SOAK_MINUTES (default 10), one
# after another. Each run asserts what the tests assert: every acknowledged enquiry present and
# final without restarting anything, no answer recorded twice, every log verifies.
#   deploy/soak.sh                  10 minutes, with the binaries in build/
#   SOAK_MINUTES=60 SOAK_BUILD=build-asan deploy/soak.sh
# Prints, per fault, how many runs passed and their median and slowest time; keeps the output of
# any failed run in soak-failures/. Exits 1 if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bdir=${SOAK_BUILD:-build}
[ -x "$bdir/bin/e2e_tests" ] || { echo "soak: $bdir/bin/e2e_tests not found: build first (deploy/test.sh)" >&2; exit 2; }
minutes=${SOAK_MINUTES:-10}
end=$(( $(date +%s) + minutes * 60 ))
mapfile -t names < <("$bdir"/bin/e2e_tests "[fault]" --list-test-names-only | sed '/^$/d')
[ "${#names[@]}" -gt 0 ] || { echo "soak: no fault tests found" >&2; exit 2; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "command: deploy/soak.sh (SOAK_MINUTES=$minutes, binaries in $bdir), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
declare -A runs fails times
mkdir -p soak-failures
round=0
while [ "$(date +%s)" -lt "$end" ]; do
  round=$((round + 1))
  for name in "${names[@]}"; do
    [ "$(date +%s)" -lt "$end" ] || break
    spec="${name%%,*}"; spec="${spec%% (*}*"  # Catch reads a comma as "or": the name up to it, then *
    t0=$(date +%s%N)
    if "$bdir"/bin/e2e_tests "$spec" > soak-failures/current.log 2>&1; then
      ok=1
    else
      ok=0
    fi
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    runs[$name]=$(( ${runs[$name]:-0} + 1 ))
    times[$name]="${times[$name]:-} $ms"
    if [ "$ok" -eq 0 ]; then
      fails[$name]=$(( ${fails[$name]:-0} + 1 ))
      cp soak-failures/current.log "soak-failures/round-$round-$(echo "$name" | tr -c 'a-z0-9' '-' | cut -c1-60).log"
      echo "   FAILED in round $round: $name"
    fi
  done
done
rm -f soak-failures/current.log
rmdir soak-failures 2>/dev/null || true
total_fail=0
echo "== $round rounds in $minutes minutes"
for name in "${names[@]}"; do
  [ -n "${runs[$name]:-}" ] || continue
  stats=$(echo "${times[$name]}" | tr ' ' '\n' | sed '/^$/d' | sort -n |
    awk '{ v[NR] = $1 / 1000 } END { printf "median %.1f s, slowest %.1f s", v[int((NR + 1) / 2)], v[NR] }')
  f=${fails[$name]:-0}
  total_fail=$((total_fail + f))
  echo "   $(( ${runs[$name]} - f ))/${runs[$name]} passed, $stats: $name"
done
[ "$total_fail" -eq 0 ]

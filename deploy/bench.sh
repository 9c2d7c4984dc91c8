#!/usr/bin/env bash
# Builds the benchmarks in Release mode and runs them, printing the median, 90th percentile and
# maximum over several repetitions (this machine is shared: quote medians, not single runs).
#   deploy/bench.sh                 all benchmarks, 10 repetitions
#   REPS=20 deploy/bench.sh Handshake   only benchmarks matching a regex
#   deploy/bench.sh Matching        the agent's matching: quality (FEBRL3, synthetic) and speed at
#                                   a million persons (MATCH_RUNS runs, default 3; needs ~3 GB disk)
#   deploy/bench.sh Roundtrip       an enquiry through the HTTPS API to five agents and back, with a
#                                   real broker and agents on loopback (ROUNDTRIP_RUNS runs, default 3;
#                                   ROUNDTRIP_COUNT enquiries at 32 concurrent, default 2000)
#   deploy/bench.sh List            the enquiry list with LIST_COUNT enquiries stored (default
#                                   200000, made through the API, police asked): latency of the
#                                   first page and of later pages as the team's manager (LIST_CALLS
#                                   calls each, default 300, one kept-alive connection), and the
#                                   broker's resident memory
set -euo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh bench
# BENCH_BUILD=DIR uses an existing build folder as it is configured (e.g. build/, RelWithDebInfo)
# instead of a Release build in build-bench/.
bdir=${BENCH_BUILD:-build-bench}
if [ "$bdir" = build-bench ]; then
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release > build-bench.configure.log 2>&1 \
    || { cat build-bench.configure.log; exit 1; }
else
  # deploy/test.sh configures its folders without the benchmarks: turn them on here.
  cmake -S . -B "$bdir" -DMASH_BENCHMARKS=ON > "$bdir.configure.log" 2>&1 || { cat "$bdir.configure.log"; exit 1; }
fi
benches=(common_bench policy_bench)
cmake --build "$bdir" --target "${benches[@]}" audit_bench match-quality mash-synth mash-broker mash-agent \
  mash-policy roundtrip-bench -j "$(nproc)"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "command: deploy/bench.sh ${*:-} (REPS=${REPS:-10}, build folder $bdir)"
for b in "${benches[@]}"; do
  [ "${1:-}" = Matching ] || [ "${1:-}" = Roundtrip ] || [ "${1:-}" = List ] && break
  "$bdir"/bin/"$b" \
    --benchmark_repetitions="${REPS:-10}" \
    --benchmark_report_aggregates_only=true \
    --benchmark_filter="${1:-.}" 2>&1 | grep -Ev '_(mean|stddev|cv)\b'
done
# The audit log's own harness (durable appends, verification, proofs); skipped when a filter
# is given that does not mention it.
if [ -z "${1:-}" ] || { [[ "Audit" =~ ${1} ]] && [ "${1}" != Roundtrip ] && [ "${1}" != List ]; }; then
  "$bdir"/bin/audit_bench "${AUDIT_RUNS:-5}"
fi

# The agent's matching: precision and recall at the automatic threshold on held-out data, and
# import and match speed with a million persons imported.
if [ -z "${1:-}" ] || [[ "Matching" =~ ${1} ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  echo "== matching quality: FEBRL3, every field (names, date of birth, the address as one line, postcode)"
  "$bdir"/bin/match-quality febrl ../shared/data/febrl3.csv 2>/dev/null | tail -2 || true
  echo "== matching quality: FEBRL3, every field and soc_sec_id as the agency's own identifier scheme"
  "$bdir"/bin/match-quality febrl ../shared/data/febrl3.csv --ssn yes 2>/dev/null | tail -2 || true
  echo "== matching quality: FEBRL3, names and date of birth only"
  "$bdir"/bin/match-quality febrl ../shared/data/febrl3.csv --fields names 2>/dev/null | tail -2 || true
  [ -f ../shared/data/febrl3.csv ] || echo "   (../shared/data/febrl3.csv not found: skipped)"
  echo "== matching quality: mash-synth seed 99, 30000 households, 20000 referrals, five agencies"
  "$bdir"/bin/mash-synth --out "$tmp/q" --households 30000 --seed 99 --referrals 20000 > /dev/null
  "$bdir"/bin/match-quality synth "$tmp/q" 2>/dev/null | tail -2
  rm -rf "$tmp/q"
  echo "== speed: mash-synth seed 3, 300000 households; the health extract (~1.03M persons, ~2.25M facts)"
  "$bdir"/bin/mash-synth --out "$tmp/big" --households 300000 --seed 3 --referrals 20000 --agencies health > /dev/null
  echo "person_id,field,value" > "$tmp/nofacts.csv"
  for i in $(seq "${MATCH_RUNS:-3}"); do
    echo "-- run $i"
    "$bdir"/bin/match-quality import "$tmp/big/health/persons.csv" "$tmp/nofacts.csv" 2>&1 | sed 's/^/   persons only: /'
    "$bdir"/bin/match-quality synth "$tmp/big" --agencies health 2>&1 | grep -E 'imported|^health: precision' | sed 's/^/   /'
  done
  rm -rf "$tmp"  # here too: the Roundtrip section below sets its own EXIT trap
fi

# The enquiry round trip: a broker and five agents on loopback (deploy/lib/hub.sh, as the demo),
# three subjects from one synthetic household, fields each agency releases without review, so
# that every answer comes back automatically. The agreement's per-user rate limits are raised
# for the run (a benchmark user sends thousands of enquiries an hour).
if [ -z "${1:-}" ] || [[ "Roundtrip" =~ ${1} ]]; then
  . deploy/lib/hub.sh
  HUB_BIN="$bdir/bin"
  rt=$(mktemp -d); trap 'hub_stop "$rt/hub"; rm -rf "$rt"' EXIT
  sed -e 's/^enquiries_per_user_per_hour = .*/enquiries_per_user_per_hour = 100000/' \
      -e 's/^enquiries_per_user_per_day = .*/enquiries_per_user_per_day = 1000000/' \
      policy/examples/tri-borough.toml > "$rt/isa.toml"
  link_port=${MASH_BENCH_PORT:-17443}; http_port=${MASH_BENCH_HTTP_PORT:-18443}
  hub_port_free "$link_port" "set MASH_BENCH_PORT"; hub_port_free "$http_port" "set MASH_BENCH_HTTP_PORT"
  hub_prepare "$rt/hub" "$rt/isa.toml" 2000 "$link_port" "$http_port" > "$rt/prepare.log" 2>&1 \
    || { cat "$rt/prepare.log"; exit 1; }
  # A household with a child and two adults, as the population holds them.
  household=$(awk -F, 'NR > 1 { n[$2]++; if ($3 == "child") c[$2] = 1 } END { for (h in n) if (n[h] >= 3 && c[h]) print h }' \
    "$rt/hub/data/population.csv" | sort | sed -n 1p)  # sed reads everything: no SIGPIPE under pipefail
  subjects=$(awk -F, -v h="$household" 'NR > 1 && $2 == h { role = ($3 == "child") ? "child" : "other-adult";
      printf "%s{\"ref\": \"s%d\", \"role\": \"%s\", \"forenames\": \"%s\", \"surname\": \"%s\", \"date_of_birth\": \"%s\", \"postcode\": \"%s\"}",
             (k++ ? ", " : ""), k, role, $4, $5, $6, $9; if (k == 3) exit }' <(sed 's/"[^"]*"//g' "$rt/hub/data/population.csv"))  # quoted addresses dropped
  cat > "$rt/enquiry.json" <<JSON
{"case_ref": "BENCH-1", "local_authority": "hammersmith-fulham", "brag": "amber",
 "concerns": "Benchmark enquiry (synthetic data).", "purpose": "mash-risk-assessment",
 "legal_basis": "ca1989-s17", "consent": "given", "subjects": [$subjects],
 "agencies": [
  {"agency": "police", "justification": "benchmark: police knowledge", "fields": ["police.known", "police.domestic-abuse", "police.incidents-summary"]},
  {"agency": "health", "justification": "benchmark: health contacts", "fields": ["health.gp-registered", "health.health-visitor", "health.school-nurse"]},
  {"agency": "education", "justification": "benchmark: school", "fields": ["education.school-on-roll", "education.attendance"]},
  {"agency": "probation", "justification": "benchmark: supervision", "fields": ["probation.under-supervision", "probation.risk-to-children"]},
  {"agency": "housing", "justification": "benchmark: housing", "fields": ["housing.tenancy-type", "housing.overcrowding"]}]}
JSON
  grep '^demo.researcher ' "$rt/hub/logins.txt" | cut -d' ' -f2 > "$rt/password"
  echo "== enquiry round trip: HTTPS API -> broker -> five agents -> broker -> event stream (3 subjects)"
  for i in $(seq "${ROUNDTRIP_RUNS:-3}"); do
    echo "-- run $i (a fresh broker and agents each run; same stores)"
    hub_start "$rt/hub" > /dev/null
    [ "$hub_connected" -ge 5 ] || { echo "only $hub_connected agents connected"; tail "$rt/hub"/*.log; exit 1; }
    "$bdir"/bin/roundtrip-bench --address "127.0.0.1:$http_port" --name localhost --ca "$rt/hub/pki/ca/ca.crt" \
      --user demo.researcher --password-file "$rt/password" --enquiry "$rt/enquiry.json" --agencies 5 \
      --concurrency 32 --count "${ROUNDTRIP_COUNT:-2000}" | sed 's/^/   /'
    hub_stop "$rt/hub"
    sleep 1
  done
fi

# The enquiry list at scale: LIST_COUNT enquiries made through the API (one agency asked, its
# agent answering as they come), then the list read as the researcher's browser reads it.
if [ "${1:-}" = List ]; then
  . deploy/lib/hub.sh
  HUB_BIN="$bdir/bin"
  ls_dir=$(mktemp -d); trap 'hub_stop "$ls_dir/hub"; rm -rf "$ls_dir"' EXIT
  sed -e 's/^enquiries_per_user_per_hour = .*/enquiries_per_user_per_hour = 100000/' \
      -e 's/^enquiries_per_user_per_day = .*/enquiries_per_user_per_day = 1000000/' \
      policy/examples/tri-borough.toml > "$ls_dir/isa.toml"
  link_port=${MASH_BENCH_PORT:-17443}; http_port=${MASH_BENCH_HTTP_PORT:-18443}
  hub_port_free "$link_port" "set MASH_BENCH_PORT"; hub_port_free "$http_port" "set MASH_BENCH_HTTP_PORT"
  hub_prepare "$ls_dir/hub" "$ls_dir/isa.toml" 2000 "$link_port" "$http_port" > "$ls_dir/prepare.log" 2>&1 \
    || { cat "$ls_dir/prepare.log"; exit 1; }
  hub_start "$ls_dir/hub" > /dev/null
  broker_pid=$(head -1 "$ls_dir/hub/pids")
  url="https://localhost:$http_port"
  curl_hub() { curl -sS --cacert "$ls_dir/hub/pki/ca/ca.crt" --resolve "localhost:$http_port:127.0.0.1" "$@"; }
  # A curl config asking for URL N times (awk, not yes | head: SIGPIPE under pipefail).
  urls() { awk -v u="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", u }'; }
  token_of() {
    local pw; pw=$(grep "^$1 " "$ls_dir/hub/logins.txt" | cut -d' ' -f2)
    curl_hub -H 'Content-Type: application/json' \
      -d "{\"user\": \"$1\", \"password\": \"$pw\", \"bearer\": true}" "$url/api/v1/session" |
      sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
  }
  # The agreement allows a user at most 100,000 enquiries an hour: the researcher makes half,
  # their manager the other half, and the list is read as the manager (the team's, all of them).
  researcher=$(token_of demo.researcher); token=$(token_of demo.manager)
  cat > "$ls_dir/enquiry.json" <<JSON
{"case_ref": "BENCH-LIST", "local_authority": "hammersmith-fulham", "brag": "amber",
 "concerns": "Benchmark enquiry (synthetic data).", "purpose": "mash-risk-assessment",
 "legal_basis": "ca1989-s17", "consent": "given",
 "subjects": [{"ref": "s1", "role": "child", "forenames": "Ada", "surname": "Bench", "date_of_birth": "2015-01-02"}],
 "agencies": [{"agency": "police", "justification": "benchmark: police knowledge", "fields": ["police.known"]}]}
JSON
  n=${LIST_COUNT:-200000}
  echo "== the enquiry list with $n enquiries stored"
  start=$(date +%s)
  for ((made = 0; made < n; made += 10000)); do
    batch=$(( n - made < 10000 ? n - made : 10000 ))
    urls "$url/api/v1/enquiries" $((batch)) > "$ls_dir/curl.cfg"
    who=$([ $(( made / 10000 % 2 )) -eq 0 ] && echo "$researcher" || echo "$token")
    curl_hub -Z --no-progress-meter --parallel-max 16 -H "Authorization: Bearer $who" -H 'Content-Type: application/json' \
      --data-binary @"$ls_dir/enquiry.json" -K "$ls_dir/curl.cfg" -w '%{http_code}\n' > "$ls_dir/codes.txt"
    bad=$(grep -vc '^201$' "$ls_dir/codes.txt" || true)
    [ "$bad" -eq 0 ] || { echo "   $bad of $batch not accepted:"; sort "$ls_dir/codes.txt" | uniq -c; exit 1; }
  done
  echo "   made $n in $(( $(date +%s) - start )) s ($(( n / ( $(date +%s) - start + 1 ) ))/s, police answering meanwhile)"
  # Resident memory: the process's own (heap and stacks), and the pages of the stores' memory maps
  # it has touched (the kernel's page cache, shared with the files, given back under pressure).
  rss() { awk '/VmRSS/ { t = $2 } /RssAnon/ { a = $2 } /RssFile/ { f = $2 } END { printf "%d MB (own %d MB, mapped store files %d MB)", t / 1024, a / 1024, f / 1024 }' /proc/"$broker_pid"/status; }
  echo "   broker resident memory after making them: $(rss)"
  calls=${LIST_CALLS:-300}
  percentiles() { sort -n | awk '{ v[NR] = $1 * 1000 } END { printf "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (%d calls)\n", v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], v[int(NR * 0.99) + 1], v[NR], NR }'; }
  urls "$url/api/v1/enquiries?limit=50" $((calls)) > "$ls_dir/list.cfg"
  echo "   first page (limit=50): $(curl_hub -H "Authorization: Bearer $token" -K "$ls_dir/list.cfg" -w '%{time_total}\n' | percentiles)"
  cursor=$(curl_hub -H "Authorization: Bearer $token" "$url/api/v1/enquiries?limit=200" | sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p')
  urls "$url/api/v1/enquiries?limit=200&cursor=$cursor" $((calls)) > "$ls_dir/page.cfg"
  echo "   a later page (limit=200): $(curl_hub -H "Authorization: Bearer $token" -K "$ls_dir/page.cfg" -w '%{time_total}\n' | percentiles)"
  urls "$url/api/v1/enquiries?limit=50&status=queued" $((calls / 10)) > "$ls_dir/filter.cfg"
  echo "   a filter few match (status=queued): $(curl_hub -H "Authorization: Bearer $token" -K "$ls_dir/filter.cfg" -w '%{time_total}\n' | percentiles)"
  echo "   broker resident memory after the reads: $(rss)"
  hub_stop "$ls_dir/hub"
fi

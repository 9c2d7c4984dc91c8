#!/usr/bin/env bash
# The MASH Exchange demo on loopback: installs what is missing, builds, makes a throwaway hub PKI,
# signs the example Information Sharing Agreement, generates synthetic agency extracts
# (mash-synth) and imports them, starts a broker and five agency agents (police, health,
# education, probation, housing), shows them connected over mutually authenticated TLS 1.3, sends
# a sample enquiry through the hub's API and prints the consolidated picture and the audit check.
#   deploy/demo.sh                  run, show, stop everything
#   deploy/demo.sh --keep-running   leave the broker and agents running (also --keep); prints the URL and logins
#   deploy/demo.sh --stop           stop a demo left running
# Everything (PKI, configs, stores, extracts, logs) goes to $MASH_DEMO_DIR (default demo-run/ in
# the repository, ignored by git); it is recreated each run. Ports: MASH_DEMO_PORT (agent link,
# 7443), MASH_DEMO_HTTP_PORT (HTTPS, 8443).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=${MASH_DEMO_DIR:-$root/demo-run}
case "$run" in /*) ;; *) run="$root/$run" ;; esac
port=${MASH_DEMO_PORT:-7443}
http_port=${MASH_DEMO_HTTP_PORT:-8443}
. deploy/lib/hub.sh
agencies=("${hub_agencies[@]}")

case "${1:-}" in
  --stop) hub_stop "$run"; echo "demo stopped"; exit 0 ;;
  --keep|--keep-running|"") ;;
  *) echo "usage: deploy/demo.sh [--keep-running|--stop]" >&2; exit 2 ;;
esac
keep=0; [ -n "${1:-}" ] && keep=1

# MASH_DEMO_BIN=DIR: use binaries already built there (the test suite runs the demo this way).
if [ -n "${MASH_DEMO_BIN:-}" ]; then
  HUB_BIN=$MASH_DEMO_BIN
else
  deploy/install-deps.sh demo
  echo "== building (build/)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMASH_BENCHMARKS=OFF > /dev/null
  cmake --build build -j "$(nproc)" --target mash-broker mash-agent mash-audit mash-policy mash-synth > build/demo-build.log 2>&1 \
    || { tail -40 build/demo-build.log; exit 1; }
fi

hub_stop "$run"
hub_port_free "$port" "set MASH_DEMO_PORT to another port"
hub_port_free "$http_port" "set MASH_DEMO_HTTP_PORT to another port"
hub_prepare "$run" policy/examples/tri-borough.toml 2000 "$port" "$http_port" || exit 1
read -r _ researcher_pw < <(grep '^demo.researcher ' "$run/logins.txt")

trap '[ $keep = 1 ] || hub_stop "$run"' EXIT
hub_start "$run"
connected=$hub_connected

echo
echo "Agents connected to the broker (agency as read from each agent's certificate):"
printf '  %-10s %-22s %-26s %s\n' AGENCY PEER SINCE "CERTIFICATE EXPIRES"
for a in "${agencies[@]}"; do
  line=$(grep "agent-connected agency=$a " "$run/broker.log" | tail -1 || true)
  if [ -n "$line" ]; then
    since=$(echo "$line" | cut -d' ' -f1)
    peer=$(echo "$line" | sed -n 's/.* peer=\([^ ]*\).*/\1/p')
    expires=$(openssl x509 -in "$run/pki/agent-$a.crt" -noout -enddate | cut -d= -f2)
    printf '  %-10s %-22s %-26s %s\n' "$a" "$peer" "$since" "$expires"
  else
    printf '  %-10s NOT CONNECTED (see %s)\n' "$a" "$run/agent-$a.log"
  fi
done
# Each agent witnesses the hub's audit log (signed checkpoints, consistency proofs).
for _ in $(seq 50); do
  w=$( (grep -l "witness-accepted" "$run"/agent-*.log 2>/dev/null || true) | wc -l)
  [ "$w" -ge ${#agencies[@]} ] && break
  sleep 0.1
done
for _ in $(seq 50); do
  h=$(grep -c "agency-witness-accepted" "$run/broker.log" || true)
  [ "$h" -ge ${#agencies[@]} ] && break
  sleep 0.1
done
echo
echo "Audit: every connection was recorded before the agent was answered."
echo "  agents witnessing the hub's audit log: $w of ${#agencies[@]}"
echo "  agency disclosure logs witnessed by the hub: $(grep -o 'agency-witness-accepted agency=[a-z-]*' "$run/broker.log" | sort -u | wc -l) of ${#agencies[@]}"
"$HUB_BIN"/mash-audit verify --store "$run/audit" --pubkey "$run/audit.key.pub" | tail -1 | sed 's/^/  /'

# A sample child known to police, health and education (ground truth from mash-synth), as a
# researcher would type them in (referrals.csv: with the generator's typing noise).
child=$(awk -F, 'NR > 1 && ($1 == "police" || $1 == "health" || $1 == "education") && $3 != "" { n[$3 "," $1] = 1 }
                END { for (k in n) { split(k, p, ","); c[p[1]]++ } for (id in c) if (c[id] == 3) print id }' \
          "$run/data/truth.csv" | sort > "$run/known3.txt"
        awk -F, 'NR > 1 && $3 == "child" { print $1 "," $4 "," $5 "," $6 }' "$run/data/referrals.csv" | sort |
        join -t, - "$run/known3.txt" | head -1)
if [ -n "$child" ]; then
  IFS=, read -r true_id fore sur dob <<< "$child"
  printf '{"forenames": "%s", "surname": "%s", "date_of_birth": "%s"}\n' "$fore" "$sur" "$dob" > "$run/sample-child.json"
  echo
  echo "Sample child (synthetic): $fore $sur, born $dob; each agency's agent matches it against its own"
  echo "extract (mash-agent match; only the outcome is shown here, the evidence is in $run/match-*.txt):"
  for a in "${agencies[@]}"; do
    "$HUB_BIN"/mash-agent match --config "$run/agent-$a.toml" --subject "$run/sample-child.json" > "$run/match-$a.txt" 2>&1 || true
    printf '  %-10s %s\n' "$a" "$(head -2 "$run/match-$a.txt" | tr '\n' ' ')"
  done
  known=$(awk -F, -v id="$true_id" '$3 == id { print $1 }' "$run/data/truth.csv" | sort | tr '\n' ' ')
  echo "  (ground truth from mash-synth: this child is held by: $known)"
fi
echo
echo "The JSON API (HTTPS, TLS 1.3, the hub CA): https://localhost:$http_port"
api() { curl -sS --max-time 10 --cacert "$run/pki/ca/ca.crt" "$@"; }
echo "  GET /readyz: $(api "https://localhost:$http_port/readyz")"
token=$(api -H 'Content-Type: application/json' \
  -d "{\"user\": \"demo.researcher\", \"password\": \"$researcher_pw\", \"bearer\": true}" \
  "https://localhost:$http_port/api/v1/session" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
echo "  signed in as demo.researcher; GET /api/v1/me: $(api -H "Authorization: Bearer $token" "https://localhost:$http_port/api/v1/me" | sed 's/"csrf":"[^"]*",//')"
echo "  (logins for --keep-running: $run/logins.txt)"

# A sample enquiry through the hub, as the researcher: a child from a household where the police
# hold a restricted record about an adult, that adult, and someone no agency knows.
IFS=, read -r c_fore c_sur c_dob a_fore a_sur a_dob <<< "$(hub_sample_household "$run")"
cat > "$run/sample-enquiry.json" <<JSON
{"case_ref": "MASH-DEMO-0001", "local_authority": "hammersmith-fulham", "brag": "amber",
 "concerns": "Demo: school reports unexplained bruising (synthetic data).",
 "purpose": "mash-risk-assessment", "legal_basis": "ca1989-s47", "consent": "not-sought-risk",
 "consent_reason": "Seeking consent could alert the adult and increase the risk to the child.",
 "subjects": [
   {"ref": "s1", "role": "child", "forenames": "$c_fore", "surname": "$c_sur", "date_of_birth": "$c_dob"},
   {"ref": "s2", "role": "other-adult", "forenames": "$a_fore", "surname": "$a_sur", "date_of_birth": "$a_dob"},
   {"ref": "s3", "role": "other-adult", "forenames": "Zebedee", "surname": "Quillfeather", "date_of_birth": "1970-01-01"}],
 "agencies": [
   {"agency": "police", "justification": "Possible risk from an adult in the household."},
   {"agency": "health", "justification": "Injuries and health contacts for the child."},
   {"agency": "education", "justification": "Attendance and concerns raised at school."}]}
JSON
echo
echo "Sample enquiry through the hub (demo.researcher; $run/sample-enquiry.json):"
echo "  $c_fore $c_sur (child), $a_fore $a_sur (adult in the household), and a person no agency knows"
created=$(api -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data-binary @"$run/sample-enquiry.json" "https://localhost:$http_port/api/v1/enquiries")
enquiry=$(echo "$created" | jq -r '.id // empty')
if [ -z "$enquiry" ]; then echo "  enquiry refused: $created"; exit 1; fi
for _ in $(seq 100); do
  view=$(api -H "Authorization: Bearer $token" "https://localhost:$http_port/api/v1/enquiries/$enquiry")
  echo "$view" | jq -e '[.agencies[].status] | all(. != "queued" and . != "delivered")' > /dev/null && break
  sleep 0.2
done
echo "$view" > "$run/sample-picture.json"
echo "  status per agency: $(echo "$view" | jq -r '[.agencies | to_entries[] | "\(.key)=\(.value.status)"] | join(" ")')"
echo "  the consolidated picture (all of it: $run/sample-picture.json):"
echo "$view" | jq -r '.subjects | to_entries[] | .key as $ref | .value as $s |
  "   \($ref) \($s.role):\n" + ([$s.agencies | to_entries[] |
    "      \(.key): \(.value.outcome)" +
    (if (.value.released | length) > 0 then ", released " + ([.value.released[].field | sub("^[a-z]+\\."; "")] | unique | join(" ")) else "" end) +
    (if .value.restricted then "; RESTRICTED: contact " + (.value.restricted_contact | split(",")[0]) else "" end)] | join("\n"))'
echo "  audit trail after the enquiry: $("$HUB_BIN"/mash-audit verify --store "$run/audit" --pubkey "$run/audit.key.pub" | tail -1)"
echo
echo "Broker log: $run/broker.log   Agent logs: $run/agent-*.log"
if [ "$connected" -lt ${#agencies[@]} ]; then
  echo "demo: only $connected of ${#agencies[@]} agents connected" >&2
  exit 1
fi
if [ $keep = 1 ]; then
  echo "Left running. Web interface and API: https://localhost:$http_port/ (trust $run/pki/ca/ca.crt)"
  echo "  logins (user password; also in $run/logins.txt):"
  sed 's/^/    /' "$run/logins.txt"
  echo "  stop with: deploy/demo.sh --stop"
else
  echo "Stopping the broker and agents (run with --keep-running to leave them running)."
fi

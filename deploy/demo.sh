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

# The sample household: a child, and an adult of the household about whom the police hold a
# restricted record (ground truth from mash-synth), with their addresses and the adult's police
# nominal reference (an identifier scheme the agreement declares for the police alone).
IFS=, read -r c_fore c_sur c_dob a_fore a_sur a_dob <<< "$(hub_sample_household "$run")"
IFS='|' read -r c_addr c_pc a_addr a_pc a_nominal <<< "$(hub_sample_extras "$run")"
printf '{"ref": "s1", "forenames": "%s", "surname": "%s", "date_of_birth": "%s", "address": "%s", "postcode": "%s"}\n' \
  "$c_fore" "$c_sur" "$c_dob" "$c_addr" "$c_pc" > "$run/sample-child.json"
printf '{"ref": "s2", "forenames": "%s", "surname": "%s", "date_of_birth": "%s", "address": "%s", "postcode": "%s", "identifiers": {"police-nominal": "%s"}}\n' \
  "$a_fore" "$a_sur" "$a_dob" "$a_addr" "$a_pc" "$a_nominal" > "$run/sample-adult.json"
echo
echo "Sample child (synthetic): $c_fore $c_sur, born $c_dob, of $c_addr $c_pc."
echo "Each agency's agent matches the child against its own extract, as its IT team can check with"
echo "mash-agent match (the outcome here; the evidence per field is in $run/match-*.txt):"
for a in "${agencies[@]}"; do
  "$HUB_BIN"/mash-agent match --config "$run/agent-$a.toml" --subject "$run/sample-child.json" > "$run/match-$a.txt" 2>&1 || true
  printf '  %-10s %s\n' "$a" "$(head -2 "$run/match-$a.txt" | tr '\n' ' ')"
done
"$HUB_BIN"/mash-agent match --config "$run/agent-police.toml" --subject "$run/sample-adult.json" > "$run/match-police-adult.txt" 2>&1 || true
echo "The adult, $a_fore $a_sur, with the police nominal reference $a_nominal: the police's evidence"
grep -E '^candidate|^  (address|building|locality|postcode|identifier) ' "$run/match-police-adult.txt" | head -7 | sed 's/^/  /'
echo
echo "The JSON API (HTTPS, TLS 1.3, the hub CA): https://localhost:$http_port"
api() { curl -sS --max-time 10 --cacert "$run/pki/ca/ca.crt" "$@"; }
echo "  GET /readyz: $(api "https://localhost:$http_port/readyz")"
token=$(api -H 'Content-Type: application/json' \
  -d "{\"user\": \"demo.researcher\", \"password\": \"$researcher_pw\", \"bearer\": true}" \
  "https://localhost:$http_port/api/v1/session" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
echo "  signed in as demo.researcher; GET /api/v1/me: $(api -H "Authorization: Bearer $token" "https://localhost:$http_port/api/v1/me" | sed 's/"csrf":"[^"]*",//')"
echo "  (logins for --keep-running: $run/logins.txt)"

# A sample enquiry through the hub, as the researcher: the sample child, the adult (with the
# police's own identifier, which the hub sends to the police alone), and someone no agency knows.
jq -n --slurpfile c "$run/sample-child.json" --slurpfile a "$run/sample-adult.json" '{
  case_ref: "MASH-DEMO-0001", local_authority: "hammersmith-fulham", brag: "amber",
  concerns: "Demo: school reports unexplained bruising (synthetic data).",
  purpose: "mash-risk-assessment", legal_basis: "ca1989-s47", consent: "not-sought-risk",
  consent_reason: "Seeking consent could alert the adult and increase the risk to the child.",
  subjects: [($c[0] + {role: "child"}),
             ($a[0] + {role: "other-adult", identifiers: [{scheme: "police-nominal", value: $a[0].identifiers["police-nominal"]}]}),
             {ref: "s3", role: "other-adult", forenames: "Zebedee", surname: "Quillfeather", date_of_birth: "1970-01-01"}],
  agencies: [
    {agency: "police", justification: "Possible risk from an adult in the household."},
    {agency: "health", justification: "Injuries and health contacts for the child."},
    {agency: "education", justification: "Attendance and concerns raised at school."}]}' > "$run/sample-enquiry.json"
echo
echo "Sample enquiry through the hub (demo.researcher; $run/sample-enquiry.json):"
echo "  $c_fore $c_sur (the sample child), $a_fore $a_sur (the adult, with the police nominal reference), and a"
echo "  person no agency knows"
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
# An agency whose answers the agreement sends to review (health, for this purpose) holds its
# answer until a person there approves it: say how, since it is not in the picture yet.
for a in $(echo "$view" | jq -r '.agencies | to_entries[] | select(.value.status == "awaiting-review") | .key'); do
  echo "  $a: the agreement has a person at $a approve its answers first; it joins the picture when they do:"
  echo "      $HUB_BIN/mash-agent review list --config $run/agent-$a.toml   (then review show ID, review approve ID)"
done
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

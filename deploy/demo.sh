#!/usr/bin/env bash
# The MASH Exchange demo on loopback: installs what is missing, builds, makes a throwaway hub PKI,
# signs the example Information Sharing Agreement, generates synthetic agency extracts
# (mash-synth) and imports them, starts a broker and five agency agents (police, health,
# education, probation, housing), shows them connected over mutually authenticated TLS 1.3, and
# shows how each agency's agent matches a sample child.
#   deploy/demo.sh           run, show, stop everything
#   deploy/demo.sh --keep    leave the broker and agents running (stop with: deploy/demo.sh --stop)
# Files (PKI, configs, logs) go to demo-run/ in the repository; it is recreated each run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run="$root/demo-run"
agencies=(police health education probation housing)
port=${MASH_DEMO_PORT:-7443}
http_port=${MASH_DEMO_HTTP_PORT:-8443}

stop_all() {
  if [ -f "$run/pids" ]; then
    # Agents first, then the broker, so that agents do not log a lost broker on the way out.
    tac "$run/pids" | while read -r pid; do kill "$pid" 2>/dev/null || true; done
    rm -f "$run/pids"
  fi
}

case "${1:-}" in
  --stop) stop_all; echo "demo stopped"; exit 0 ;;
  --keep|"") ;;
  *) echo "usage: deploy/demo.sh [--keep|--stop]" >&2; exit 2 ;;
esac
keep=0; [ "${1:-}" = "--keep" ] && keep=1

deploy/install-deps.sh
echo "== building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j "$(nproc)" --target mash-broker mash-agent mash-audit mash-policy mash-synth > build/demo-build.log 2>&1 \
  || { tail -40 build/demo-build.log; exit 1; }

stop_all
rm -rf "$run"; mkdir -p "$run"; chmod 700 "$run"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is in use; set MASH_DEMO_PORT to another port" >&2; exit 1
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then
  echo "port $http_port is in use; set MASH_DEMO_HTTP_PORT to another port" >&2; exit 1
fi

echo "== hub PKI (certs/mash-pki dev-setup): CA, broker certificate, one certificate per agency"
args=(); for a in "${agencies[@]}"; do args+=(--agency "$a"); done
certs/mash-pki dev-setup --dir "$run/pki" --broker-name localhost "${args[@]}" > "$run/pki.log"

echo "== the Information Sharing Agreement: policy/examples/tri-borough.toml, signed (mash-policy sign)"
build/bin/mash-policy keygen --out "$run/isa-signer.key" > /dev/null
cp policy/examples/tri-borough.toml "$run/isa.toml"
build/bin/mash-policy sign --key "$run/isa-signer.key" "$run/isa.toml" > /dev/null
echo "== synthetic agency extracts (mash-synth: 2000 households with noise and ground truth)"
build/bin/mash-synth --out "$run/data" --households 2000 --seed 42 --referrals 500 | sed 's/^/   /'

echo "== the hub's audit log signing key (mash-broker keygen); agencies get the .pub to witness it"
build/bin/mash-broker keygen --out "$run/audit.key" > /dev/null
echo "== each agency's disclosure log signing key (mash-agent keygen); the hub gets the .pub files"
for a in "${agencies[@]}"; do build/bin/mash-agent keygen --out "$run/disclosure-$a.key" > /dev/null; done

tls() {  # tls CERT KEY
  printf '[tls]\nca = "pki/ca/ca.crt"\ncert = "%s"\nkey = "%s"\ncrl = "pki/ca/crl.pem"\n' "$1" "$2"
}
{ printf '[link]\nlisten = "127.0.0.1:%s"\n[http]\nlisten = "127.0.0.1:%s"\n[store]\ndir = "store"\n' "$port" "$http_port"
  printf '[audit]\ndir = "audit"\nsigning_key = "audit.key"\norigin = "mash-broker/demo"\ncheckpoint_interval_ms = 500\n'
  printf '[witness]\ndir = "witness"\n[witness.agencies]\n'
  for a in "${agencies[@]}"; do printf '%s = "disclosure-%s.key.pub"\n' "$a" "$a"; done
  printf '[policy]\nagreement = "isa.toml"\nsigner = "isa-signer.key.pub"\n'
  tls pki/broker.crt pki/broker.key; } > "$run/broker.toml"
for a in "${agencies[@]}"; do
  { printf '[broker]\naddress = "127.0.0.1:%s"\nname = "localhost"\n' "$port"
    printf '[disclosure]\ndir = "disclosure-%s"\nsigning_key = "disclosure-%s.key"\ncheckpoint_interval_ms = 500\n' "$a" "$a"
    printf '[witness]\nbroker_audit_key = "audit.key.pub"\nbroker_audit_origin = "mash-broker/demo"\nstate = "witness-%s.state"\n' "$a"
    printf '[store]\ndir = "store-%s"\n[policy]\nsigner = "isa-signer.key.pub"\nagreement = "isa.toml"\n' "$a"
    tls "pki/agent-$a.crt" "pki/agent-$a.key"; } > "$run/agent-$a.toml"
done
echo "== each agency imports its extract (mash-agent import)"
for a in "${agencies[@]}"; do
  printf '   %-10s ' "$a"
  build/bin/mash-agent import --config "$run/agent-$a.toml" --persons "$run/data/$a/persons.csv" \
    --facts "$run/data/$a/facts.csv" > "$run/import-$a.log" 2>&1 || { cat "$run/import-$a.log"; exit 1; }
  tail -1 "$run/import-$a.log"
done

echo "== accounts (mash-broker user add; passwords on standard input): an admin and a researcher"
admin_pw="demo-admin-$(head -c 9 /dev/urandom | base64 | tr -d '/+=')"
researcher_pw="demo-researcher-$(head -c 9 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$admin_pw" | build/bin/mash-broker user add --config "$run/broker.toml" --id demo.admin \
  --name "Demo Admin" --role admin --team hub > /dev/null
printf '%s\n' "$researcher_pw" | build/bin/mash-broker user add --config "$run/broker.toml" --id demo.researcher \
  --name "Demo Researcher" --role researcher --team west > /dev/null
printf 'demo.admin %s\ndemo.researcher %s\n' "$admin_pw" "$researcher_pw" > "$run/logins.txt"
chmod 600 "$run/logins.txt"

trap '[ $keep = 1 ] || stop_all' EXIT
echo "== starting mash-broker on 127.0.0.1:$port"
build/bin/mash-broker --config "$run/broker.toml" > "$run/broker.log" 2>&1 &
echo $! >> "$run/pids"
for _ in $(seq 50); do grep -q listening "$run/broker.log" && break; sleep 0.1; done
grep -q listening "$run/broker.log" || { cat "$run/broker.log"; exit 1; }
for a in "${agencies[@]}"; do
  echo "== starting mash-agent for $a"
  build/bin/mash-agent --config "$run/agent-$a.toml" > "$run/agent-$a.log" 2>&1 &
  echo $! >> "$run/pids"
done

connected=0
for _ in $(seq 100); do
  connected=$(grep -c "agent-connected" "$run/broker.log" || true)
  [ "$connected" -ge ${#agencies[@]} ] && break
  sleep 0.1
done

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
build/bin/mash-audit verify --store "$run/audit" --pubkey "$run/audit.key.pub" | tail -1 | sed 's/^/  /'

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
    build/bin/mash-agent match --config "$run/agent-$a.toml" --subject "$run/sample-child.json" > "$run/match-$a.txt" 2>&1 || true
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
echo "  (logins for --keep: $run/logins.txt)"

# A sample enquiry through the hub, as the researcher: a child from a household where the police
# hold a restricted record about an adult, that adult, and someone no agency knows.
pid=$(grep -m1 ',ongoing-investigation,' "$run/data/police/facts.csv" | cut -d, -f1)
adult=$(awk -F, -v p="$pid" '$1 == "police" && $2 == p { print $3 }' "$run/data/truth.csv")
household=$(awk -F, -v t="$adult" '$1 == t { print $2 }' "$run/data/population.csv")
IFS=, read -r a_fore a_sur a_dob <<< "$(awk -F, -v t="$adult" '$1 == t { print $4 "," $5 "," $6 }' "$run/data/population.csv")"
IFS=, read -r c_fore c_sur c_dob <<< "$(awk -F, -v h="$household" '$2 == h && $3 == "child" { print $4 "," $5 "," $6; exit }' "$run/data/population.csv")"
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
echo "  audit trail after the enquiry: $(build/bin/mash-audit verify --store "$run/audit" --pubkey "$run/audit.key.pub" | tail -1)"
echo
echo "Broker log: $run/broker.log   Agent logs: $run/agent-*.log"
if [ "$connected" -lt ${#agencies[@]} ]; then
  echo "demo: only $connected of ${#agencies[@]} agents connected" >&2
  exit 1
fi
if [ $keep = 1 ]; then
  echo "Left running (--keep). Stop with: deploy/demo.sh --stop"
else
  echo "Stopping the broker and agents (run with --keep to leave them running)."
fi

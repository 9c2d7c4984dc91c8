# Sourced by deploy/demo.sh and deploy/bench.sh: a whole hub on loopback in one directory.
# A broker and five agency agents, a throwaway PKI, a signed agreement, synthetic extracts.
# Expects the binaries in build*/bin (HUB_BIN) and the working directory at the repository root.
#
#   hub_prepare DIR ISA HOUSEHOLDS LINK_PORT HTTP_PORT   make everything under DIR (recreated)
#   hub_start DIR                                        start the broker and agents (pids in DIR/pids)
#   hub_stop DIR                                         stop them
# Each step checks its own status (set -e does not reach into a function called in an || list).
# DIR/logins.txt holds "user password" lines for demo.admin, .researcher, .manager and .dpo (0600).

hub_agencies=(police health education probation housing)
HUB_BIN=${HUB_BIN:-build/bin}

hub_stop() {
  local dir=$1 pid pids left
  if [ -f "$dir/pids" ]; then
    pids=$(tac "$dir/pids")
    # Agents first, then the broker, so that agents do not log a lost broker on the way out.
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    # Wait until they are gone (stores closed, ports free); after 10 s, SIGKILL.
    for _ in $(seq 100); do
      left=0
      for pid in $pids; do kill -0 "$pid" 2>/dev/null && left=1; done
      [ $left = 0 ] && break
      sleep 0.1
    done
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    rm -f "$dir/pids"
  fi
}

# A TCP port on 127.0.0.1 nothing listens on (for tests on free ports).
hub_free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}

hub_port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 is in use; $2" >&2
    return 1
  fi
}

hub_prepare() {
  local dir=$1 isa=$2 households=$3 port=$4 http_port=$5 a
  hub_stop "$dir"
  # Only a folder this script made (it holds .mash-hub) or an empty one is wiped and reused.
  if [ -d "$dir" ] && [ ! -f "$dir/.mash-hub" ] && [ -n "$(ls -A "$dir")" ]; then
    echo "$dir exists and was not made by the demo; choose another folder (MASH_DEMO_DIR)" >&2
    return 1
  fi
  rm -rf "$dir"; mkdir -p "$dir"; chmod 700 "$dir"; touch "$dir/.mash-hub"

  echo "== hub PKI (certs/mash-pki dev-setup): CA, broker certificate, one certificate per agency"
  local args=(); for a in "${hub_agencies[@]}"; do args+=(--agency "$a"); done
  certs/mash-pki dev-setup --dir "$dir/pki" --broker-name localhost "${args[@]}" > "$dir/pki.log" || return 1

  echo "== the Information Sharing Agreement: $isa, signed (mash-policy sign)"
  "$HUB_BIN"/mash-policy keygen --out "$dir/isa-signer.key" > /dev/null || return 1
  cp "$isa" "$dir/isa.toml"
  "$HUB_BIN"/mash-policy sign --key "$dir/isa-signer.key" "$dir/isa.toml" > /dev/null || return 1
  echo "== synthetic agency extracts (mash-synth: $households households with noise and ground truth)"
  "$HUB_BIN"/mash-synth --out "$dir/data" --households "$households" --seed 42 --referrals 500 | sed 's/^/   /' || return 1
  # The police's own person reference (the agreement's police-nominal scheme), derived from the
  # police person id, in the extract's identifiers column.
  awk 'NR == 1 { print $0 ",identifiers"; next }
       { id = $0; sub(/,.*/, "", id); n = id; gsub(/[^0-9]/, "", n); print $0 ",police-nominal:PN-" n }' \
    "$dir/data/police/persons.csv" > "$dir/data/police/persons.tmp" && mv "$dir/data/police/persons.tmp" "$dir/data/police/persons.csv"

  echo "== the hub's audit log signing key (mash-broker keygen); agencies get the .pub to witness it"
  "$HUB_BIN"/mash-broker keygen --out "$dir/audit.key" > /dev/null || return 1
  echo "== each agency's disclosure log signing key (mash-agent keygen); the hub gets the .pub files"
  for a in "${hub_agencies[@]}"; do "$HUB_BIN"/mash-agent keygen --out "$dir/disclosure-$a.key" > /dev/null || return 1; done

  hub_tls() {  # CERT KEY
    printf '[tls]\nca = "pki/ca/ca.crt"\ncert = "%s"\nkey = "%s"\ncrl = "pki/ca/crl.pem"\n' "$1" "$2"
  }
  { printf '[link]\nlisten = "127.0.0.1:%s"\n[http]\nlisten = "127.0.0.1:%s"\n[store]\ndir = "store"\n' "$port" "$http_port"
    printf '[audit]\ndir = "audit"\nsigning_key = "audit.key"\norigin = "mash-broker/demo"\ncheckpoint_interval_ms = 500\n'
    printf '[witness]\ndir = "witness"\n[witness.agencies]\n'
    for a in "${hub_agencies[@]}"; do printf '%s = "disclosure-%s.key.pub"\n' "$a" "$a"; done
    printf '[policy]\nagreement = "isa.toml"\nsigner = "isa-signer.key.pub"\n'
    hub_tls pki/broker.crt pki/broker.key; } > "$dir/broker.toml"
  for a in "${hub_agencies[@]}"; do
    { printf '[broker]\naddress = "127.0.0.1:%s"\nname = "localhost"\n' "$port"
      printf '[disclosure]\ndir = "disclosure-%s"\nsigning_key = "disclosure-%s.key"\ncheckpoint_interval_ms = 500\n' "$a" "$a"
      printf '[witness]\nbroker_audit_key = "audit.key.pub"\nbroker_audit_origin = "mash-broker/demo"\nstate = "witness-%s.state"\n' "$a"
      printf '[store]\ndir = "store-%s"\n[policy]\nsigner = "isa-signer.key.pub"\nagreement = "isa.toml"\n' "$a"
      [ "$a" != police ] || printf '[matching]\nidentifier_schemes = ["police-nominal"]\n'  # as the agreement declares
      hub_tls "pki/agent-$a.crt" "pki/agent-$a.key"; } > "$dir/agent-$a.toml"
  done
  echo "== each agency imports its extract (mash-agent import)"
  for a in "${hub_agencies[@]}"; do
    printf '   %-10s ' "$a"
    "$HUB_BIN"/mash-agent import --config "$dir/agent-$a.toml" --persons "$dir/data/$a/persons.csv" \
      --facts "$dir/data/$a/facts.csv" > "$dir/import-$a.log" 2>&1 || { cat "$dir/import-$a.log"; return 1; }
    tail -1 "$dir/import-$a.log"
  done

  echo "== accounts (mash-broker user add; passwords on standard input): admin, researcher, manager, DPO"
  local id role team name pw
  (umask 077; : > "$dir/logins.txt")
  while read -r id role team name; do
    pw="$id-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
    printf '%s\n' "$pw" | "$HUB_BIN"/mash-broker user add --config "$dir/broker.toml" --id "$id" \
      --name "$name" --role "$role" --team "$team" > /dev/null || return 1
    printf '%s %s\n' "$id" "$pw" >> "$dir/logins.txt"
  done <<'USERS'
demo.admin admin hub Demo Admin
demo.researcher researcher west Demo Researcher
demo.manager manager west Demo Manager
demo.dpo dpo hub Demo Data Protection Officer
USERS
}

# A household for a sample enquiry, from the synthetic data under DIR: prints one line
# "child_forenames,child_surname,child_dob,adult_forenames,adult_surname,adult_dob" where the police
# hold a restricted record (an ongoing investigation) about the adult.
hub_sample_household() {
  local dir=$1 pid adult household
  pid=$(grep -m1 ',ongoing-investigation,' "$dir/data/police/facts.csv" | cut -d, -f1)
  adult=$(awk -F, -v p="$pid" '$1 == "police" && $2 == p { print $3 }' "$dir/data/truth.csv")
  household=$(awk -F, -v t="$adult" '$1 == t { print $2 }' "$dir/data/population.csv")
  [ -n "$household" ] || { echo "no household with a restricted police record in $dir/data" >&2; return 1; }
  printf '%s,%s\n' \
    "$(awk -F, -v h="$household" '$2 == h && $3 == "child" { print $4 "," $5 "," $6; exit }' "$dir/data/population.csv")" \
    "$(awk -F, -v t="$adult" '$1 == t { print $4 "," $5 "," $6 }' "$dir/data/population.csv")"
}

# More of the same household (hub_sample_household): prints one line
# "child_address|child_postcode|adult_address|adult_postcode|adult_police_nominal", as the
# population holds them, and the adult's police nominal reference (the police record's own
# identifier).
hub_sample_extras() {
  local dir=$1 pid adult household line_of
  pid=$(grep -m1 ',ongoing-investigation,' "$dir/data/police/facts.csv" | cut -d, -f1)
  adult=$(awk -F, -v p="$pid" '$1 == "police" && $2 == p { print $3 }' "$dir/data/truth.csv")
  household=$(awk -F, -v t="$adult" '$1 == t { print $2 }' "$dir/data/population.csv")
  # The address is the one quoted column; the postcode follows it.
  home_of() { sed -n 's/^[^"]*"\([^"]*\)",\([^,]*\),.*/\1|\2/p' | head -1; }
  printf '%s|%s|PN-%s\n' \
    "$(awk -F, -v h="$household" '$2 == h && $3 == "child" { print; exit }' "$dir/data/population.csv" | home_of)" \
    "$(awk -F, -v t="$adult" '$1 == t { print }' "$dir/data/population.csv" | home_of)" \
    "$(echo "$pid" | tr -cd '0-9')"
}

# Starts the broker and the agents; returns once all agents are connected (or after 10 s).
hub_start() {
  local dir=$1 a
  echo "== starting mash-broker"
  "$HUB_BIN"/mash-broker --config "$dir/broker.toml" > "$dir/broker.log" 2>&1 &
  echo $! >> "$dir/pids"
  for _ in $(seq 50); do grep -q https-listening "$dir/broker.log" && break; sleep 0.1; done
  grep -q https-listening "$dir/broker.log" || { cat "$dir/broker.log"; return 1; }
  for a in "${hub_agencies[@]}"; do
    echo "== starting mash-agent for $a"
    "$HUB_BIN"/mash-agent --config "$dir/agent-$a.toml" > "$dir/agent-$a.log" 2>&1 &
    echo $! >> "$dir/pids"
  done
  hub_connected=0
  for _ in $(seq 100); do
    hub_connected=$(grep -c "agent-connected" "$dir/broker.log" || true)
    [ "$hub_connected" -ge ${#hub_agencies[@]} ] && break
    sleep 0.1
  done
}

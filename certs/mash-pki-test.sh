#!/usr/bin/env bash
# Tests for certs/mash-pki. Usage: mash-pki-test.sh [PATH_TO_MASH_PKI]
# Works in a private mktemp -d directory, checks the results with openssl itself, and ends with
# "N passed, M failed"; the exit status is non-zero if anything failed.
# shellcheck disable=SC2016 # single-quoted bash -c snippets expand in the child, on purpose
set -uo pipefail
export LC_ALL=C

PKI=${1:-"$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/mash-pki"}
[[ -x $PKI ]] || { echo "mash-pki-test: $PKI is not executable" >&2; echo "0 passed, 1 failed"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/mash-pki-test.XXXXXXXX")
trap '[[ -n ${KEEP:-} ]] || rm -rf -- "$W"' EXIT
cd "$W" || exit 1

passed=0
failed=0
OUT="$W/last.out"  # stdout of the last pki/run call
ERR="$W/last.err"  # stderr of the last pki/run call
ALL="$W/all-output.log"

pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  printf 'FAIL: %s\n' "$1" >&2
  if [[ -s $ERR ]]; then sed 's/^/    stderr: /' "$ERR" | head -n 5 >&2; fi
}

# pki ARGS...: run mash-pki, keep its output in $OUT/$ERR (and the log of everything printed).
pki() {
  "$PKI" "$@" >"$OUT" 2>"$ERR"
  local rc=$?
  cat "$OUT" "$ERR" >>"$ALL"
  return $rc
}

# expect_ok DESCRIPTION COMMAND...
expect_ok() {
  local d=$1
  shift
  if "$@"; then pass; else fail "$d"; fi
}

# expect_fail DESCRIPTION COMMAND...: the command must fail.
expect_fail() {
  local d=$1
  shift
  if "$@"; then fail "$d (unexpectedly succeeded)"; else pass; fi
}

# refuse DESCRIPTION ARGS...: mash-pki must exit non-zero with one "mash-pki: " line on stderr.
refuse() {
  local d=$1
  shift
  if pki "$@"; then
    fail "refusal: $d (exit status 0)"
    return
  fi
  if [[ $(wc -l <"$ERR") -ne 1 ]] || ! grep -q '^mash-pki: ' "$ERR"; then
    fail "refusal: $d (stderr is not one 'mash-pki: ' line)"
    return
  fi
  pass
}

# Helpers over openssl.
verify() { openssl verify -CAfile "$1" "${@:2}" >/dev/null 2>&1; }
verify_crl() { openssl verify -CAfile "$1" -crl_check -CRLfile "$2" "${@:3}" >/dev/null 2>&1; }
verify_says() { # verify_says PATTERN openssl-verify-args...: verify fails and says PATTERN
  local pat=$1 out
  shift
  if out=$(openssl verify "$@" 2>&1); then return 1; fi
  grep -q -- "$pat" <<<"$out"
}
ext() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null; }
has_ext() { ext "$1" "$2" | grep -q -- "$3"; }
lacks_ext() { ! ext "$1" "$2" | grep -q -- "$3"; }
subject() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 2>/dev/null; }
mode_is() { [[ $(stat -c %a -- "$1") == "$2" ]]; }
file_hash() { sha256sum -- "$1" | cut -d' ' -f1; }
out_has() { grep -q -- "$1" "$OUT"; }
out_lines() { [[ $(wc -l <"$OUT") -eq $1 ]]; }

# ---------------------------------------------------------------------------------------------
# help and argument handling
# ---------------------------------------------------------------------------------------------
expect_ok "--help prints usage" pki --help
expect_ok "--help mentions every command" grep -q 'dev-setup' "$OUT"
for c in init-ca request sign revoke crl show dev-setup; do
  expect_ok "$c --help" pki "$c" --help
  expect_ok "$c --help prints usage" grep -q "Usage: mash-pki $c" "$OUT"
done
refuse "no command" # no arguments at all
refuse "unknown command" frobnicate
refuse "unknown option" init-ca --dir ca --colour blue
refuse "option without value" init-ca --dir
refuse "init-ca without --dir" init-ca
refuse "init-ca bad --days" init-ca --dir ca-x --days ten
expect_ok "refused init-ca leaves no directory" test ! -e ca-x
# A failure half-way (openssl rejects a name that is not UTF-8) leaves nothing behind.
refuse "init-ca with a non-UTF-8 name" init-ca --dir ca-x --name $'bad\xff'
expect_ok "failed init-ca removed what it made" test ! -e ca-x
mkdir ca-y
refuse "init-ca in an existing directory with a non-UTF-8 name" init-ca --dir ca-y --name $'bad\xff'
expect_ok "failed init-ca left the existing directory empty" test -z "$(ls -A ca-y)"
refuse "request with a non-UTF-8 name" request --key bad.key --csr bad.csr --name $'bad\xff'
expect_ok "failed request removed its key" test ! -e bad.key

# ---------------------------------------------------------------------------------------------
# init-ca
# ---------------------------------------------------------------------------------------------
expect_ok "init-ca" pki init-ca --dir ca --name "Test Hub CA" --days 400
expect_ok "CA dir is 0700" mode_is ca 700
expect_ok "ca.key is 0600" mode_is ca/ca.key 600
for f in ca.crt index.txt serial crlnumber openssl.cnf crl.pem; do
  expect_ok "init-ca created $f" test -f "ca/$f"
done
expect_ok "openssl.cnf: unique_subject = no" grep -Eq '^unique_subject *= *no' ca/openssl.cnf
expect_ok "openssl.cnf: copy_extensions = none" grep -Eq '^copy_extensions *= *none' ca/openssl.cnf
expect_ok "openssl.cnf: default_md = sha256" grep -Eq '^default_md *= *sha256' ca/openssl.cnf
expect_ok "serial is hex" grep -Eq '^[0-9A-F]{2,40}$' ca/serial
expect_ok "index.txt starts empty" test ! -s ca/index.txt
expect_ok "CA cert is self-signed and valid" verify ca/ca.crt ca/ca.crt
expect_ok "CA cert subject" grep -q 'CN=Test Hub CA' <(subject ca/ca.crt)
expect_ok "CA basicConstraints critical CA:TRUE, pathlen:0" \
  bash -c 'openssl x509 -in ca/ca.crt -noout -ext basicConstraints | grep -q critical &&
           openssl x509 -in ca/ca.crt -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:0"'
expect_ok "CA keyUsage critical keyCertSign,cRLSign" \
  bash -c 'openssl x509 -in ca/ca.crt -noout -ext keyUsage | grep -q critical &&
           openssl x509 -in ca/ca.crt -noout -ext keyUsage | grep -q "Certificate Sign, CRL Sign"'
expect_ok "CA subjectKeyIdentifier" has_ext ca/ca.crt subjectKeyIdentifier 'Subject Key Identifier'
expect_ok "CA key is EC P-256" bash -c 'openssl x509 -in ca/ca.crt -noout -text | grep -q "NIST CURVE: P-256"'
expect_ok "CA validity honours --days" bash -c '! openssl x509 -in ca/ca.crt -noout -checkend $((401*86400)) >/dev/null &&
  openssl x509 -in ca/ca.crt -noout -checkend $((399*86400)) >/dev/null'
expect_ok "initial CRL is signed by the CA" bash -c 'openssl crl -in ca/crl.pem -CAfile ca/ca.crt -noout 2>&1 | grep -q "verify OK"'
expect_ok "initial CRL is empty" bash -c 'openssl crl -in ca/crl.pem -noout -text | grep -q "No Revoked Certificates"'
expect_ok "initial CRL valid for 30 days" bash -c '
  n=$(date -d "$(openssl crl -in ca/crl.pem -noout -nextupdate | cut -d= -f2)" +%s)
  d=$(( (n - $(date +%s)) / 86400 )); [ "$d" -ge 29 ] && [ "$d" -le 30 ]'
ca_key_hash=$(file_hash ca/ca.key)
refuse "init-ca over an existing CA" init-ca --dir ca
expect_ok "existing CA key untouched" test "$(file_hash ca/ca.key)" = "$ca_key_hash"

expect_ok "second (foreign) CA" pki init-ca --dir other-ca --name "Other CA"

# ---------------------------------------------------------------------------------------------
# request
# ---------------------------------------------------------------------------------------------
mkdir broker police
expect_ok "request (broker)" pki request --key broker/broker.key --csr broker/broker.csr --name broker.example
expect_ok "request key is 0600" mode_is broker/broker.key 600
expect_ok "request key is EC P-256" bash -c 'openssl pkey -in broker/broker.key -noout -text 2>/dev/null | grep -q "NIST CURVE: P-256"'
expect_ok "CSR self-signature OK" bash -c 'openssl req -in broker/broker.csr -noout -verify 2>&1 | grep -q "verify OK"'
expect_ok "CSR matches key" bash -c 'cmp -s <(openssl req -in broker/broker.csr -noout -pubkey) <(openssl pkey -in broker/broker.key -pubout)'
expect_ok "request (agent)" pki request --key police/agent.key --csr police/agent.csr --name "police agent"
expect_ok "agent key is 0600" mode_is police/agent.key 600
key_hash=$(file_hash broker/broker.key)
refuse "request over an existing key" request --key broker/broker.key --csr broker/other.csr
expect_ok "existing key untouched" test "$(file_hash broker/broker.key)" = "$key_hash"
expect_ok "no CSR written when refusing" test ! -e broker/other.csr
refuse "request into a missing directory" request --key nodir/x.key --csr x.csr
refuse "request without --csr" request --key broker/new.key
expect_ok "refused request leaves no key" test ! -e broker/new.key
refuse "request over an existing CSR" request --key broker/new.key --csr broker/broker.csr
expect_ok "refused request (CSR exists) leaves no key" test ! -e broker/new.key

# ---------------------------------------------------------------------------------------------
# sign: server profile
# ---------------------------------------------------------------------------------------------
expect_ok "sign server" pki sign --dir ca --csr broker/broker.csr --out broker/broker.crt --profile server \
  --dns broker.example --dns localhost --ip 127.0.0.1 --ip ::1
expect_ok "sign prints one line" out_lines 1
expect_ok "sign prints serial, subject, notAfter" bash -c "grep -q 'serial=' '$OUT' && grep -q 'CN = broker.example' '$OUT' && grep -q 'notAfter=' '$OUT'"
S=broker/broker.crt
expect_ok "server cert verifies" verify ca/ca.crt "$S"
expect_ok "server cert verifies with CRL" verify_crl ca/ca.crt ca/crl.pem "$S"
expect_ok "server cert verifies for sslserver + hostname" verify ca/ca.crt -purpose sslserver -verify_hostname broker.example "$S"
expect_ok "server cert verifies for IP 127.0.0.1" verify ca/ca.crt -purpose sslserver -verify_ip 127.0.0.1 "$S"
expect_fail "server cert not valid for another hostname" verify ca/ca.crt -verify_hostname evil.example "$S"
expect_fail "server cert not valid as a TLS client" verify ca/ca.crt -purpose sslclient "$S"
expect_fail "server cert does not verify against another CA" verify other-ca/ca.crt "$S"
expect_ok "server SAN DNS:broker.example" has_ext "$S" subjectAltName 'DNS:broker.example'
expect_ok "server SAN DNS:localhost" has_ext "$S" subjectAltName 'DNS:localhost'
expect_ok "server SAN IP 127.0.0.1" has_ext "$S" subjectAltName 'IP Address:127.0.0.1'
expect_ok "server SAN IP ::1" has_ext "$S" subjectAltName 'IP Address:0:0:0:0:0:0:0:1'
expect_ok "server EKU serverAuth" has_ext "$S" extendedKeyUsage 'TLS Web Server Authentication'
expect_ok "server EKU not clientAuth" lacks_ext "$S" extendedKeyUsage 'TLS Web Client Authentication'
expect_ok "server keyUsage critical digitalSignature" bash -c "openssl x509 -in '$S' -noout -ext keyUsage | grep -q critical && openssl x509 -in '$S' -noout -ext keyUsage | grep -q 'Digital Signature'"
expect_ok "server basicConstraints critical CA:FALSE" bash -c "openssl x509 -in '$S' -noout -ext basicConstraints | grep -q critical && openssl x509 -in '$S' -noout -ext basicConstraints | grep -q 'CA:FALSE'"
expect_ok "server has AKI and SKI" bash -c "openssl x509 -in '$S' -noout -ext authorityKeyIdentifier,subjectKeyIdentifier | grep -q 'Authority Key' && openssl x509 -in '$S' -noout -ext subjectKeyIdentifier | grep -q 'Subject Key'"
expect_ok "server subject CN=first dns, O=MASH Exchange" test "$(subject "$S")" = "subject=CN=broker.example,O=MASH Exchange"
expect_ok "server cert default validity 397 days" bash -c "openssl x509 -in '$S' -noout -checkend $((396 * 86400)) >/dev/null && ! openssl x509 -in '$S' -noout -checkend $((398 * 86400)) >/dev/null"
expect_ok "server cert is SHA-256 signed" bash -c "openssl x509 -in '$S' -noout -text | grep -q 'ecdsa-with-SHA256'"
expect_ok "CA database records the server cert" grep -q "CN=broker.example" ca/index.txt

# ---------------------------------------------------------------------------------------------
# sign: agent profile
# ---------------------------------------------------------------------------------------------
expect_ok "sign agent" pki sign --dir ca --csr police/agent.csr --out police/agent.crt --profile agent --agency police
expect_ok "sign agent prints one line" out_lines 1
A=police/agent.crt
expect_ok "agent cert verifies" verify ca/ca.crt "$A"
expect_ok "agent cert verifies with CRL" verify_crl ca/ca.crt ca/crl.pem "$A"
expect_ok "agent cert verifies for sslclient" verify ca/ca.crt -purpose sslclient "$A"
expect_fail "agent cert not valid as a TLS server" verify ca/ca.crt -purpose sslserver "$A"
expect_ok "agent SAN URI:urn:mash:agency:police" has_ext "$A" subjectAltName 'URI:urn:mash:agency:police'
expect_ok "agent SAN has no DNS" lacks_ext "$A" subjectAltName 'DNS:'
expect_ok "agent EKU clientAuth" has_ext "$A" extendedKeyUsage 'TLS Web Client Authentication'
expect_ok "agent EKU not serverAuth" lacks_ext "$A" extendedKeyUsage 'TLS Web Server Authentication'
expect_ok "agent basicConstraints CA:FALSE" has_ext "$A" basicConstraints 'CA:FALSE'
expect_ok "agent subject" test "$(subject "$A")" = "subject=CN=mash-agent police,O=MASH Exchange"
expect_ok "re-issuing for the same agency is allowed (unique_subject = no)" \
  pki sign --dir ca --csr police/agent.csr --out police/agent2.crt --profile agent --agency police --days 30
expect_ok "--days honoured" bash -c "! openssl x509 -in police/agent2.crt -noout -checkend $((31 * 86400)) >/dev/null"

# Longest agency id: the CN is cut to 64 characters, the URI SAN keeps the whole id.
long=$(printf 'a%.0s' {1..62})b
pki request --key long.key --csr long.csr >/dev/null 2>&1
expect_ok "sign agent with a 63-character id" pki sign --dir ca --csr long.csr --out long.crt --profile agent --agency "$long"
expect_ok "long id in URI SAN" has_ext long.crt subjectAltName "URI:urn:mash:agency:$long"

# ---------------------------------------------------------------------------------------------
# sign: refusals
# ---------------------------------------------------------------------------------------------
pki request --key r.key --csr r.csr >/dev/null 2>&1
refuse "bad agency id Police!" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency 'Police!'
refuse "upper-case agency id" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency Police
refuse "agency id with a dot" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency po.lice
refuse "agency id starting with -" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency -police
refuse "agency id of 64 characters" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency "${long}c"
refuse "agent without --agency" sign --dir ca --csr r.csr --out r1.crt --profile agent
refuse "agent with --dns" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency police --dns x.example
refuse "agent with --ip" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency police --ip 10.0.0.1
refuse "server with --agency" sign --dir ca --csr r.csr --out r1.crt --profile server --dns x.example --agency police
refuse "server without --dns/--ip" sign --dir ca --csr r.csr --out r1.crt --profile server
refuse "server with a bad DNS name" sign --dir ca --csr r.csr --out r1.crt --profile server --dns 'bad name'
refuse "server with a wildcard" sign --dir ca --csr r.csr --out r1.crt --profile server --dns '*.example'
refuse "server with a bad IP" sign --dir ca --csr r.csr --out r1.crt --profile server --ip 300.1.1.1
refuse "unknown profile" sign --dir ca --csr r.csr --out r1.crt --profile ca
refuse "sign without --profile" sign --dir ca --csr r.csr --out r1.crt
refuse "sign without --out" sign --dir ca --csr r.csr --profile agent --agency police
refuse "sign with --days 0" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency police --days 0
refuse "--start without --end" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency police --start 20200101000000Z
refuse "--start/--end with --days" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency police \
  --start 20200101000000Z --end 20210101000000Z --days 5
refuse "bad --start format" sign --dir ca --csr r.csr --out r1.crt --profile agent --agency police --start 2020-01-01 --end 20210101000000Z
refuse "missing CSR" sign --dir ca --csr nothere.csr --out r1.crt --profile agent --agency police
refuse "not a CA directory" sign --dir broker --csr r.csr --out r1.crt --profile agent --agency police
refuse "sign over an existing certificate" sign --dir ca --csr r.csr --out "$A" --profile agent --agency police
expect_ok "no certificate written by refusals" test ! -e r1.crt

# Tampered CSR: same structure, one byte of the subject changed, so the signature no longer matches.
pki request --key t.key --csr t.csr --name tamperme >/dev/null 2>&1
openssl req -in t.csr -outform DER -out t.der 2>/dev/null
sed 's/tamperme/TAMPERME/' t.der >t2.der
openssl req -inform DER -in t2.der -out tampered.csr 2>/dev/null
expect_ok "tampered CSR still parses" openssl req -in tampered.csr -noout
index_before=$(file_hash ca/index.txt)
refuse "sign of a tampered CSR" sign --dir ca --csr tampered.csr --out t.crt --profile agent --agency police
expect_ok "tampered CSR: nothing issued" test ! -e t.crt
expect_ok "tampered CSR: CA database unchanged" test "$(file_hash ca/index.txt)" = "$index_before"
printf 'not a CSR\n' >garbage.csr
refuse "sign of a garbage CSR" sign --dir ca --csr garbage.csr --out g.crt --profile agent --agency police

# A CSR made with the CA's own key, and one with a weak key.
openssl req -new -key ca/ca.key -subj /CN=x -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n') -out ownkey.csr 2>/dev/null
refuse "sign a CSR carrying the CA's key" sign --dir ca --csr ownkey.csr --out own.crt --profile agent --agency police
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out weak.key 2>/dev/null
openssl req -new -key weak.key -subj /CN=x -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n') -out weak.csr 2>/dev/null
refuse "sign a 1024-bit RSA CSR" sign --dir ca --csr weak.csr --out weak.crt --profile agent --agency police

# Nothing is taken from the CSR but the key: requested extensions and subject are ignored.
cat >evil.cnf <<'EOF'
[req]
distinguished_name = dn
req_extensions = ev
[dn]
[ev]
basicConstraints = critical, CA:TRUE
subjectAltName = DNS:evil.example, URI:urn:mash:agency:health
extendedKeyUsage = serverAuth, clientAuth
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out evil.key 2>/dev/null
openssl req -new -key evil.key -subj "/CN=evil.example/O=Evil" -config evil.cnf -out evil.csr 2>/dev/null
expect_ok "sign a CSR asking for extensions" pki sign --dir ca --csr evil.csr --out evil.crt --profile agent --agency education
expect_ok "requested CA:TRUE ignored" has_ext evil.crt basicConstraints 'CA:FALSE'
expect_ok "requested SANs ignored" lacks_ext evil.crt subjectAltName 'evil.example'
expect_ok "requested agency ignored" lacks_ext evil.crt subjectAltName 'agency:health'
expect_ok "requested serverAuth ignored" lacks_ext evil.crt extendedKeyUsage 'Server'
expect_ok "requested subject ignored" test "$(subject evil.crt)" = "subject=CN=mash-agent education,O=MASH Exchange"

# ---------------------------------------------------------------------------------------------
# --start/--end: expired and not-yet-valid certificates
# ---------------------------------------------------------------------------------------------
pki request --key old.key --csr old.csr >/dev/null 2>&1
expect_ok "sign an expired certificate" pki sign --dir ca --csr old.csr --out old.crt --profile agent --agency housing \
  --start 20200101000000Z --end 20210101000000Z
expect_ok "expired cert notAfter as requested" bash -c "openssl x509 -in old.crt -noout -enddate | grep -q 'Jan  1 00:00:00 2021 GMT'"
expect_ok "expired cert is rejected as expired" verify_says 'certificate has expired' -CAfile ca/ca.crt old.crt
pki request --key future.key --csr future.csr >/dev/null 2>&1
expect_ok "sign a not-yet-valid certificate" pki sign --dir ca --csr future.csr --out future.crt --profile server \
  --dns future.example --start 20990101000000Z --end 20991231000000Z
expect_ok "future cert is rejected as not yet valid" verify_says 'not yet valid' -CAfile ca/ca.crt future.crt

# ---------------------------------------------------------------------------------------------
# show
# ---------------------------------------------------------------------------------------------
expect_ok "show agent" pki show "$A"
expect_ok "show agent: agency" out_has '^agency: police$'
expect_ok "show agent: profile" out_has '^profile: agent$'
expect_ok "show agent: SAN" out_has 'URI:urn:mash:agency:police'
for f in subject issuer serial notBefore notAfter; do
  expect_ok "show agent: $f" out_has "^$f: "
done
expect_ok "show agent: serial matches" out_has "^serial: $(openssl x509 -in "$A" -noout -serial | cut -d= -f2)$"
expect_ok "show server" pki show "$S"
expect_ok "show server: profile" out_has '^profile: server$'
expect_ok "show server: SANs" bash -c "grep -q 'DNS:broker.example' '$OUT' && grep -q '127.0.0.1' '$OUT'"
expect_ok "show server: no agency line" bash -c "! grep -q '^agency:' '$OUT'"
expect_ok "show expired cert" pki show old.crt
expect_ok "show expired cert says so" out_has '^status: expired$'
refuse "show without a certificate" show
refuse "show of a missing file" show nothere.crt
refuse "show of a non-certificate" show garbage.csr

# ---------------------------------------------------------------------------------------------
# revoke and crl
# ---------------------------------------------------------------------------------------------
expect_ok "revoke agent cert" pki revoke --dir ca --cert "$A" --reason keyCompromise
expect_ok "revoke mentions the serial" out_has "$(openssl x509 -in "$A" -noout -serial | cut -d= -f2)"
expect_ok "revoked cert fails verify -crl_check" verify_says 'certificate revoked' -CAfile ca/ca.crt -crl_check -CRLfile ca/crl.pem "$A"
expect_ok "other certs still pass -crl_check" verify_crl ca/ca.crt ca/crl.pem "$S" police/agent2.crt
expect_ok "CRL lists the reason" bash -c 'openssl crl -in ca/crl.pem -noout -text | grep -q "Key Compromise"'
expect_ok "database marks it revoked" bash -c "grep -q '^R.*CN=mash-agent police' ca/index.txt"
refuse "revoke twice" revoke --dir ca --cert "$A"
index_before=$(file_hash ca/index.txt)
pki request --key foreign.key --csr foreign.csr >/dev/null 2>&1
pki sign --dir other-ca --csr foreign.csr --out foreign.crt --profile agent --agency police >/dev/null 2>&1
expect_ok "foreign cert issued by the other CA" verify other-ca/ca.crt foreign.crt
refuse "revoke a cert from another CA" revoke --dir ca --cert foreign.crt
expect_ok "foreign revoke left the database alone" test "$(file_hash ca/index.txt)" = "$index_before"
refuse "revoke the CA certificate itself" revoke --dir ca --cert ca/ca.crt
refuse "revoke with an unknown reason" revoke --dir ca --cert police/agent2.crt --reason because
expect_ok "revoke with reason superseded" pki revoke --dir ca --cert police/agent2.crt --reason superseded
expect_ok "revoke an expired cert" pki revoke --dir ca --cert old.crt --reason cessationOfOperation
expect_ok "crl --days 7 --out" pki crl --dir ca --days 7 --out crl-copy.pem
expect_ok "crl prints nextUpdate" out_has 'nextUpdate='
expect_ok "crl copy identical" cmp -s crl-copy.pem ca/crl.pem
expect_ok "regenerated CRL valid for 7 days" bash -c '
  n=$(date -d "$(openssl crl -in crl-copy.pem -noout -nextupdate | cut -d= -f2)" +%s)
  d=$(( (n - $(date +%s)) / 86400 )); [ "$d" -ge 6 ] && [ "$d" -le 7 ]'
expect_ok "regenerated CRL keeps the revocations" verify_says 'certificate revoked' -CAfile ca/ca.crt -crl_check -CRLfile crl-copy.pem "$A"
expect_ok "CRL number increases" bash -c '[ "$(openssl crl -in ca/crl.pem -noout -crlnumber | cut -d= -f2)" != "01" ]'
refuse "crl with bad --days" crl --dir ca --days -3
refuse "crl of a missing CA" crl --dir nowhere

# ---------------------------------------------------------------------------------------------
# dev-setup
# ---------------------------------------------------------------------------------------------
start_ns=$(date +%s%N)
expect_ok "dev-setup with 5 agencies" pki dev-setup --dir dev --broker-name broker.test \
  --agency police --agency health --agency education --agency probation --agency housing
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
expect_ok "dev-setup took under 5 s (${elapsed_ms} ms)" test "$elapsed_ms" -lt 5000
expect_ok "dev-setup CRL present" test -f dev/ca/crl.pem
expect_ok "dev-setup broker cert verifies with CRL" verify_crl dev/ca/ca.crt dev/ca/crl.pem -purpose sslserver -verify_hostname broker.test dev/broker.crt
expect_ok "dev-setup broker SAN localhost + 127.0.0.1" bash -c "openssl x509 -in dev/broker.crt -noout -ext subjectAltName | grep -q 'DNS:broker.test, DNS:localhost, IP Address:127.0.0.1'"
expect_ok "dev-setup broker.key 0600" mode_is dev/broker.key 600
expect_ok "dev-setup broker key matches cert" bash -c 'cmp -s <(openssl x509 -in dev/broker.crt -noout -pubkey) <(openssl pkey -in dev/broker.key -pubout)'
for id in police health education probation housing; do
  expect_ok "dev-setup agent-$id verifies with CRL" verify_crl dev/ca/ca.crt dev/ca/crl.pem -purpose sslclient "dev/agent-$id.crt"
  expect_ok "dev-setup agent-$id URI SAN" has_ext "dev/agent-$id.crt" subjectAltName "URI:urn:mash:agency:$id"
  expect_ok "dev-setup agent-$id.key 0600" mode_is "dev/agent-$id.key" 600
  expect_ok "dev-setup agent-$id key matches cert" bash -c "cmp -s <(openssl x509 -in dev/agent-$id.crt -noout -pubkey) <(openssl pkey -in dev/agent-$id.key -pubout)"
done
refuse "dev-setup over an existing setup" dev-setup --dir dev --broker-name broker.test
refuse "dev-setup with a bad agency" dev-setup --dir dev2 --broker-name broker.test --agency 'Police!'
refuse "dev-setup with a duplicate agency" dev-setup --dir dev2 --broker-name broker.test --agency a --agency a
refuse "dev-setup without --broker-name" dev-setup --dir dev2
expect_ok "refused dev-setup leaves nothing" test ! -e dev2

# ---------------------------------------------------------------------------------------------
# TLS 1.3 with mutual authentication and CRL checking, using the dev-setup certificates.
# ---------------------------------------------------------------------------------------------
# tls_try CERT KEY: an agent (CERT/KEY) connects to a broker on 127.0.0.1 (port 0: the kernel picks
# a free port) and sends a line; returns 0 if the broker received it, i.e. both sides accepted each
# other. Leaves the broker's log in $W/srv.out.
tls_try() {
  local cert=$1 key=$2 port="" srv n
  [[ -p $W/srv.in ]] || mkfifo "$W/srv.in"
  exec 7<>"$W/srv.in" # s_server stops at EOF on stdin; keep its stdin open
  timeout 20 openssl s_server -tls1_3 -accept 127.0.0.1:0 -naccept 1 \
    -cert dev/broker.crt -key dev/broker.key -CAfile dev/ca/ca.crt -Verify 1 -verify_return_error \
    -crl_check -CRL dev/ca/crl.pem >"$W/srv.out" 2>&1 <&7 &
  srv=$!
  n=0
  while [[ -z $port && $n -lt 800 ]] && kill -0 "$srv" 2>/dev/null; do
    port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$W/srv.out")
    [[ -n $port ]] || sleep 0.025
    n=$((n + 1))
  done
  if [[ -n $port ]]; then
    printf 'hello from the agent\n' | timeout 20 openssl s_client -brief -no_ign_eof -tls1_3 \
      -connect "127.0.0.1:$port" -servername broker.test -verify_hostname broker.test \
      -CAfile dev/ca/ca.crt -verify_return_error -crl_check -CRL dev/ca/crl.pem \
      -cert "$cert" -key "$key" >"$W/cli.out" 2>&1
    n=0
    while kill -0 "$srv" 2>/dev/null && [[ $n -lt 300 ]]; do # let the server log what it got (up to 15 s on a loaded machine)
      sleep 0.05
      n=$((n + 1))
    done
  else
    echo "tls_try: openssl s_server did not start" >>"$W/srv.out"
  fi
  kill "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
  exec 7>&-
  [[ -n $port ]] || return 2
  grep -q '^hello from the agent$' "$W/srv.out"
}
expect_ok "TLS 1.3 mutual handshake with dev-setup certificates" tls_try dev/agent-police.crt dev/agent-police.key
pki revoke --dir dev/ca --cert dev/agent-health.crt --reason keyCompromise >/dev/null
tls_try dev/agent-health.crt dev/agent-health.key
rc=$?
expect_ok "TLS: broker refuses a revoked agent" test "$rc" -eq 1
expect_ok "TLS: refusal reason is revocation" grep -q 'certificate revoked' "$W/srv.out"
expect_ok "TLS: other agents still accepted after the revocation" tls_try dev/agent-police.crt dev/agent-police.key
expect_fail "TLS: a server certificate is refused as agent certificate" tls_try dev/broker.crt dev/broker.key

# ---------------------------------------------------------------------------------------------
# Nothing printed ever contained key material.
# ---------------------------------------------------------------------------------------------
expect_ok "no key material in any output" bash -c "! grep -q 'PRIVATE KEY' '$ALL'"

printf '%d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]

#!/usr/bin/env bash
# The README's first command, as a test: deploy/demo.sh end to end with the binaries of this
# build (MASH_DEMO_BIN), in a temporary directory, on free ports. Checks what it prints: five
# agents connected and witnessing, the sample enquiry's picture with the restricted flag, and
# the audit check; and that nothing is left running.
#   tests/demo-test.sh BIN_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
dir=$(mktemp -d)
trap 'deploy/demo.sh --stop > /dev/null 2>&1 || true; rm -rf "$dir"' EXIT
source deploy/lib/hub.sh
link_port=$(hub_free_port) || { echo "demo-test: no free port"; exit 1; }
http_port=$(hub_free_port) || { echo "demo-test: no free port"; exit 1; }
while [ "$http_port" = "$link_port" ]; do http_port=$(hub_free_port); done
export MASH_DEMO_BIN=$bin MASH_DEMO_DIR=$dir/run MASH_DEMO_PORT=$link_port MASH_DEMO_HTTP_PORT=$http_port
status=0
deploy/demo.sh > "$dir/out.txt" 2>&1 || status=$?
fail() { echo "demo-test: $1"; cat "$dir/out.txt"; exit 1; }
[ "$status" = 0 ] || fail "deploy/demo.sh exited $status"
for want in "agents witnessing the hub's audit log: 5 of 5" "agency disclosure logs witnessed by the hub: 5 of 5" \
            "status per agency:" "police: matched" "RESTRICTED: contact" "audit trail after the enquiry:" ": verified" \
            "identifier    exact:police-nominal" "joins the picture when they do"; do
  grep -qF "$want" "$dir/out.txt" || fail "missing from the output: $want"
done
! grep -q "NOT CONNECTED" "$dir/out.txt" || fail "an agent did not connect"
# The child the demo shows matched is the child it asks the hub about.
child=$(sed -n 's/^Sample child (synthetic): \([^,]*\), born.*/\1/p' "$dir/out.txt")
[ -n "$child" ] && grep -qF "  $child (the sample child)" "$dir/out.txt" || fail "the sample child and the enquiry's child differ"
# The sample enquiry carries the adult's police nominal reference (the hub sends it to the police
# alone: broker/enquiries_test.cpp checks that).
grep -q '"police-nominal"' "$dir/run/sample-enquiry.json" || fail "the sample enquiry has no police nominal reference"
[ ! -f "$dir/run/pids" ] || fail "the demo left its pid file behind"
for c in /proc/[0-9]*/cmdline; do
  if tr '\0' ' ' < "$c" 2>/dev/null | grep -qF "$dir/run/"; then fail "the demo left processes running"; fi
done
for p in $MASH_DEMO_PORT $MASH_DEMO_HTTP_PORT; do
  ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || fail "port $p still listening after the demo"
done
echo "demo-test: ok"

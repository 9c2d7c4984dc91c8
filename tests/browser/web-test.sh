#!/usr/bin/env bash
# The web interface in a real browser: a hub (broker and five agents, deploy/lib/hub.sh) with the
# binaries of this build on free ports, then tests/browser/web_test.mjs driving Debian's chromium
# through playwright-core. The browser trusts only the hub's server key (its SPKI hash), so the
# test runs with certificate checking on.
#   tests/browser/web-test.sh BIN_DIR                       run the test
#   MASH_SCREENSHOTS=docs/screenshots tests/browser/web-test.sh BIN_DIR   also keep screenshots
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
[ $# = 1 ] || { echo "usage: tests/browser/web-test.sh BIN_DIR" >&2; exit 2; }
export HUB_BIN=$1
source deploy/lib/hub.sh
[ -x /usr/bin/chromium ] || { echo "web-test: /usr/bin/chromium is missing (deploy/install-deps.sh installs it)"; exit 1; }
[ -d tests/browser/node_modules/playwright-core ] || { echo "web-test: run deploy/install-deps.sh (npm ci in tests/browser)"; exit 1; }
dir=$(mktemp -d)
trap 'hub_stop "$dir/hub"; rm -rf "$dir"' EXIT
link_port=$(hub_free_port) || { echo "web-test: no free port"; exit 1; }
http_port=$(hub_free_port) || { echo "web-test: no free port"; exit 1; }
while [ "$http_port" = "$link_port" ]; do http_port=$(hub_free_port); done
hub_prepare "$dir/hub" policy/examples/tri-borough.toml 400 "$link_port" "$http_port" > "$dir/prepare.log" 2>&1 \
  || { cat "$dir/prepare.log"; exit 1; }
# Sessions end after 30 s without use (the shortest the broker allows), so that the idle
# sign-out can be seen within the test.
printf '[users]\nsession_idle_seconds = 30\n' >> "$dir/hub/broker.toml"
# A second researcher, in another team, who must not see the first one's case.
pw2="other-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$pw2" | "$HUB_BIN"/mash-broker user add --config "$dir/hub/broker.toml" --id demo.other \
  --name "Other Researcher" --role researcher --team east > /dev/null
echo "demo.other $pw2" >> "$dir/hub/logins.txt"
hub_start "$dir/hub" > "$dir/start.log" 2>&1 || { cat "$dir/start.log"; exit 1; }
[ "$hub_connected" -ge 5 ] || { echo "web-test: only $hub_connected agents connected"; cat "$dir/hub/broker.log"; exit 1; }
grep -q "web-interface" "$dir/hub/broker.log" || { echo "web-test: the broker serves no web interface"; cat "$dir/hub/broker.log"; exit 1; }

export MASH_BASE_URL="https://localhost:$http_port"
export MASH_LOGINS="$dir/hub/logins.txt"
export MASH_HOUSEHOLD
MASH_HOUSEHOLD=$(hub_sample_household "$dir/hub")
export MASH_SPKI
MASH_SPKI=$(openssl x509 -in "$dir/hub/pki/broker.crt" -pubkey -noout | openssl pkey -pubin -outform der |
            openssl dgst -sha256 -binary | base64)
if [ -n "${MASH_SCREENSHOTS:-}" ]; then
  mkdir -p "$MASH_SCREENSHOTS"
  MASH_SCREENSHOTS=$(cd "$MASH_SCREENSHOTS" && pwd)
  export MASH_SCREENSHOTS
fi
export MASH_PROFILE_DIR=$dir/chromium
status=0
node tests/browser/web_test.mjs || status=$?
if [ $status != 0 ]; then
  echo "web-test: failed; the broker's log:"
  tail -40 "$dir/hub/broker.log"
  exit $status
fi
# Nothing personal in the broker's log lines: the sample people's names never appear.
IFS=, read -r c_fore c_sur _ a_fore a_sur _ <<< "$MASH_HOUSEHOLD"
for name in "$c_sur" "$a_sur" Quillfeather; do
  [ ${#name} -ge 3 ] || continue
  if grep -qiw -- "$name" "$dir/hub/broker.log"; then echo "web-test: the broker log names a person ($name)"; exit 1; fi
done
echo "web-test: ok"

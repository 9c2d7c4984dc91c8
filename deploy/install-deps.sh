#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing, benchmarking and the demo need, and
# the npm packages of the web interface (GOV.UK Frontend, in broker/web) and of its browser tests
# (playwright-core, in tests/browser; the browser itself is Debian's chromium).
# Idempotent: when everything is present it only checks and returns in a few seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  build-essential cmake ninja-build pkg-config git openssl ca-certificates
  clang-14 libclang-rt-14-dev
  libboost1.81-dev libssl-dev libsodium-dev capnproto libcapnp-dev liblmdb-dev
  catch2 libtomlplusplus-dev nlohmann-json3-dev libbenchmark-dev
  curl jq chromium
)
# Node.js and npm, unless a Node.js (with its npm) is installed already, e.g. from NodeSource.
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

npm_packages() {
  # playwright-core needs Node.js 20 or later (Debian 12's own nodejs is 18: install a newer one,
  # e.g. from NodeSource, if this fails).
  if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "install-deps: Node.js $(node -v) is too old for the browser tests (need 20 or later)" >&2
    return 1
  fi
  # npm ci installs exactly what package-lock.json says; skipped when node_modules is newer.
  local d
  for d in broker/web tests/browser; do
    if [ ! -f "$root/$d/node_modules/.package-lock.json" ] ||
       [ "$root/$d/package-lock.json" -nt "$root/$d/node_modules/.package-lock.json" ]; then
      echo "install-deps: npm ci in $d"
      # --ignore-scripts: none of our packages needs an install script, so none runs.
      (cd "$root/$d" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || { echo "install-deps: npm ci failed in $d" >&2; return 1; }
    fi
  done
}

if [ ${#missing[@]} -eq 0 ]; then
  npm_packages
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them yourself) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
npm_packages

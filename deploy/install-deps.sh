#!/usr/bin/env bash
# Installs the Debian 12 packages and npm packages that a task needs, from Debian's own archive
# and the npm registry only (Debian 12's nodejs 18 and npm 9 are enough for everything here).
#   deploy/install-deps.sh demo    building and running the demo: the compiler, the libraries,
#                                  Node.js and npm for GOV.UK Frontend (npm ci in broker/web)
#   deploy/install-deps.sh test    the above, and what the tests need: Debian's chromium with
#                                  playwright-core (npm ci in tests/browser), clang 14 for the
#                                  fuzzer and the sanitizer runtime
#   deploy/install-deps.sh bench   the test set and Google Benchmark
#   deploy/install-deps.sh         everything (the same as bench)
# Idempotent: when everything is present it only checks and returns in a few seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
task=${1:-bench}

packages=(
  build-essential cmake ninja-build pkg-config git openssl ca-certificates
  libboost1.81-dev libssl-dev libsodium-dev capnproto libcapnp-dev liblmdb-dev
  catch2 libtomlplusplus-dev nlohmann-json3-dev
  curl jq
)
npm_dirs=(broker/web)
case "$task" in
  demo) ;;
  test|bench)
    packages+=(clang-14 libclang-rt-14-dev chromium)
    npm_dirs+=(tests/browser)
    [ "$task" = test ] || packages+=(libbenchmark-dev)
    ;;
  *) echo "usage: deploy/install-deps.sh [demo|test|bench]" >&2; exit 2 ;;
esac
# Node.js and npm: Debian's, unless a Node.js with its npm is installed already (from NodeSource,
# say); any version from 18 on will do.
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
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 18 ]; then
    echo "install-deps: Node.js $(node -v) is too old (need 18 or later, as Debian 12 has)" >&2
    return 1
  fi
  # npm ci installs exactly what package-lock.json says; skipped when node_modules is newer.
  # The pinned versions must support Node.js 18 (playwright-core 1.61 is the last that does).
  local d
  for d in "${npm_dirs[@]}"; do
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

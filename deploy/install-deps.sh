#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing, benchmarking and the demo need.
# Idempotent: when everything is present it only checks and returns in about a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git openssl ca-certificates
  clang-14 libclang-rt-14-dev
  libboost1.81-dev libssl-dev libsodium-dev capnproto libcapnp-dev liblmdb-dev
  catch2 libtomlplusplus-dev nlohmann-json3-dev libbenchmark-dev
  curl jq
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
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

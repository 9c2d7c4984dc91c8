#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: once in build/ and once more with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/.
#   deploy/test.sh            both builds
#   MASH_SKIP_SANITIZERS=1 deploy/test.sh   only the normal build (quicker, for local iteration)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

deploy/install-deps.sh

jobs=$(nproc)
run_suite() {
  local dir=$1; shift
  echo "== configure $dir $*"
  cmake -S "$root" -B "$dir" -G Ninja "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  echo "== build $dir"
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest -j "$jobs" --output-on-failure --timeout 300)
}

mkdir -p build build-asan
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${MASH_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMASH_SANITIZE=ON -DMASH_BENCHMARKS=OFF
fi
echo "== all tests passed"

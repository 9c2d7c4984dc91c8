#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: once in build/ and once more with
# AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/.
#   deploy/test.sh            both builds
#   MASH_SKIP_SANITIZERS=1 deploy/test.sh   skip the sanitizer build (quicker, for local iteration)
#   MASH_SKIP_FUZZ=1 deploy/test.sh         skip the libFuzzer run (MASH_FUZZ_SECONDS sets its length)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

deploy/install-deps.sh test

jobs=$(nproc)
run_suite() {
  local dir=$1 exclude=$2; shift 2
  echo "== configure $dir $*"
  cmake -S "$root" -B "$dir" -G Ninja "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  echo "== build $dir"
  cmake --build "$dir" -j "$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest -j "$jobs" --output-on-failure --timeout 300 ${exclude:+-E "$exclude"})
}

mkdir -p build build-asan
# The benchmarks are built by deploy/bench.sh, not here.
run_suite build "" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMASH_BENCHMARKS=OFF -DMASH_WERROR=ON
if [ "${MASH_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The demo and the browser test drive the same broker code as the end-to-end tests, which do
  # run under the sanitizers; they run once, in the normal build, to keep CI well under 30 min.
  run_suite build-asan '^(demo|browser): ' -DCMAKE_BUILD_TYPE=Debug -DMASH_SANITIZE=ON -DMASH_BENCHMARKS=OFF -DMASH_WERROR=ON
fi
# The agreement reader under libFuzzer (clang), seeded with the example documents.
if [ "${MASH_SKIP_FUZZ:-0}" != 1 ] && command -v clang++-14 > /dev/null; then
  echo "== fuzz the agreement reader (libFuzzer, ${MASH_FUZZ_SECONDS:-20} s)"
  cmake -S "$root" -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DMASH_FUZZ=ON -DMASH_BENCHMARKS=OFF -DMASH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo > build-fuzz.configure.log 2>&1 \
    || { cat build-fuzz.configure.log; exit 1; }
  cmake --build build-fuzz --target agreement_fuzz -j "$jobs"
  corpus=$(mktemp -d)
  cp policy/examples/*.toml "$corpus"/
  build-fuzz/bin/agreement_fuzz -max_total_time="${MASH_FUZZ_SECONDS:-20}" -max_len=65536 \
    -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ "$corpus" > build-fuzz/fuzz.log 2>&1 \
    || { tail -40 build-fuzz/fuzz.log; echo "fuzzing found a failure (input saved under build-fuzz/)"; exit 1; }
  tail -1 build-fuzz/fuzz.log
  rm -rf "$corpus"
fi
echo "== all tests passed"

#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) in build-fuzz and runs each
# over its committed seed corpus, both at once on two cores, as ctest tests labelled "fuzz".
#
#   ./scripts/fuzz.sh                 short run: 60 s per target (CI; scripts/test.sh runs this)
#   ./scripts/fuzz.sh --long          long run: 1,000,000 executions per target
#   ./scripts/fuzz.sh --runs N        long run of N executions per target
#   ./scripts/fuzz.sh --seconds S     short run of S seconds per target
#   ./scripts/fuzz.sh ... -R config   extra arguments go to ctest
#
# FUZZ_BUILD_DIR (default: build-fuzz) picks the build directory. Each target prints its
# execution count; a finding fails the run and names the crashing input, which replays with
# `build-fuzz/tests/fuzz/<target>_fuzzer <input>`. Exit code: ctest's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_BUILD_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"

ctest_args=()
while (($#)); do
  case "$1" in
    --long) export OUTBOX_RELAY_LONG=1 ;;
    --runs) export OUTBOX_RELAY_LONG=1 OUTBOX_RELAY_FUZZ_RUNS="$2"; shift ;;
    --seconds) export OUTBOX_RELAY_FUZZ_SECONDS="$2"; shift ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

./scripts/install-deps.sh

cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DOUTBOX_RELAY_FUZZ=ON -DOUTBOX_RELAY_TESTS=OFF \
  -DOUTBOX_RELAY_WERROR=ON
cmake --build "$FUZZ_BUILD_DIR" -j2 --target fuzzers

set +e
ctest --test-dir "$FUZZ_BUILD_DIR" -L fuzz -j2 --output-on-failure --verbose "${ctest_args[@]}"
rc=$?
set -e
exit "$rc"

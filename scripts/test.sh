#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (scripts/install-deps.sh),
# configures and builds with warnings as errors, then runs ctest: unit tests, and integration
# tests against a real PostgreSQL 15 and a real Kafka broker (tests/harness/harness.sh, started
# and stopped by ctest as a fixture).
#
#   ./scripts/test.sh               everything
#   ./scripts/test.sh -L unit       extra arguments go to ctest (-L integration, -R regex, -j2, ...)
#
# BUILD_DIR (default: build) picks the build directory. Exit code: ctest's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${BUILD_DIR:-build}"

./scripts/install-deps.sh

# A build dir configured with another generator cannot be reused by cmake: start it afresh.
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
   ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "test.sh: $BUILD_DIR was configured with another generator; reconfiguring it with Ninja" >&2
  rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTBOX_RELAY_WERROR=ON
cmake --build "$BUILD_DIR" -j2

set +e
ctest --test-dir "$BUILD_DIR" --output-on-failure "$@"
rc=$?
set -e
exit "$rc"

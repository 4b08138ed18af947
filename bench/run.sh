#!/usr/bin/env bash
# The benchmarks in one command: installs what is missing, builds the relay in release mode,
# starts a throwaway harness (real PostgreSQL 15 + real Kafka on loopback), runs bench/bench.py
# and prints the table of ratios measured in that same run (bench/report.py), with
# results.json and chart.png in the output directory.
#
#   bench/run.sh                       everything (about 10 minutes on 2 cores)
#   bench/run.sh --quick               a tenth of the rows, for a smoke run
#   bench/run.sh --only throughput     any of throughput,debezium,latency,sinks,inbox
#   bench/run.sh --repeat 3            each throughput case three times, the median ratio kept
#
# OUT (default: build-release/bench-results) picks the output directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR="${BUILD_DIR:-build-release}"
OUT="${OUT:-$BUILD_DIR/bench-results}"

./scripts/install-deps.sh --bench
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target outbox-relay

harness_dir="$(mktemp -d /tmp/outbox-relay-bench-harness.XXXXXX)"
rmdir "$harness_dir"
trap 'tests/harness/harness.sh stop "$harness_dir" >/dev/null 2>&1 || true' EXIT
tests/harness/harness.sh start "$harness_dir"

/usr/bin/python3 bench/bench.py --harness-env "$harness_dir/env" --relay "$BUILD_DIR/outbox-relay" --out "$OUT" "$@"
/usr/bin/python3 bench/report.py "$OUT"

#!/usr/bin/env bash
# Runs one libFuzzer target over its committed seed corpus; ctest's fuzz.<target> tests and
# scripts/fuzz.sh call it.
#
#   run_fuzzer.sh <fuzzer binary> <seed corpus dir> <dictionary> <work dir>
#
# Short run (CI): OUTBOX_RELAY_FUZZ_SECONDS (default 60) seconds.
# Long run (OUTBOX_RELAY_LONG=1): OUTBOX_RELAY_FUZZ_RUNS (default 1000000) executions.
# New inputs go to <work dir>/corpus, never into the committed seeds; a crashing input is
# written to <work dir>/artifacts/ and the exit code is non-zero. Prints the execution count.
set -euo pipefail

if (($# != 4)); then
  echo "usage: $0 <fuzzer binary> <seed corpus dir> <dictionary> <work dir>" >&2
  exit 2
fi
fuzzer="$1" seeds="$2" dictionary="$3" work="$4"
name="$(basename "$fuzzer")"

mkdir -p "$work/corpus" "$work/artifacts"
if [[ "${OUTBOX_RELAY_LONG:-0}" == 1 ]]; then
  budget=(-runs="${OUTBOX_RELAY_FUZZ_RUNS:-1000000}")
else
  budget=(-max_total_time="${OUTBOX_RELAY_FUZZ_SECONDS:-60}")
fi

# Crashes, sanitizer reports, leaks and inputs over 2 GB of RSS are findings by default;
# -timeout makes one of an input that takes 10 s (a quadratic loop, say).
set +e
"$fuzzer" "${budget[@]}" -dict="$dictionary" -artifact_prefix="$work/artifacts/" \
  -timeout=10 -print_final_stats=1 "$work/corpus" "$seeds" 2>"$work/fuzzer.log"
rc=$?
set -e

executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzzer.log" | tail -n 1)"
if ((rc != 0)); then
  # The report is the tail of the log: the sanitizer's stack and the crashing input's path.
  tail -n 60 "$work/fuzzer.log" >&2
  echo "$name: FAILED (exit $rc) after ${executions:-?} executions; reproduce with:" >&2
  for artifact in "$work"/artifacts/*; do
    [[ -e "$artifact" ]] && echo "  $fuzzer $artifact" >&2
  done
  exit "$rc"
fi
echo "$name: ${executions:-?} executions, no finding ($(find "$work/corpus" -type f | wc -l) inputs in $work/corpus)"

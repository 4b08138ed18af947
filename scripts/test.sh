#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (scripts/install-deps.sh),
# then runs these stages, each in its own build directory, with warnings as errors:
#
#   build  the format check (scripts/lint.sh --format) first; then the build (unity batches),
#          clang-tidy file by file (scripts/lint.sh --tidy build/tidy), and ctest: unit tests, and
#          integration tests against a real PostgreSQL 15 and a real Kafka broker
#          (tests/harness/harness.sh, started and stopped by ctest). A format diff or a tidy
#          finding fails the stage; the build and the tests still run, so one run shows all.
#   pg-matrix  the build stage's binaries against every PostgreSQL major of --pg-versions
#          (default 13,14,16,17,18; 15 is the build stage's), each in a harness of its own
#          (harness.sh start --pg N): the delivery test, the exactly-once kill loop and (17+)
#          the exactly-once failover; with --long, the whole ctest label pg-matrix (routing,
#          tableless, poison, standby decoding too). The newest major runs the whole
#          integration label, as the build stage does on 15, but for the fault-matrix
#          scenarios of relay and broker faults (--long runs them there too)
#   asan   the same build and tests under AddressSanitizer + UndefinedBehaviorSanitizer (gcc),
#          the spawned outbox-relay binary included; not the packaging checks, nor the
#          fault matrix and the SIGKILL loops unless --long                     (build-asan)
#   tsan   the unit tests under ThreadSanitizer (gcc)                           (build-tsan)
#   fuzz   the libFuzzer targets, a short run each (scripts/fuzz.sh)            (build-fuzz)
#
#   ./scripts/test.sh                      every stage
#   ./scripts/test.sh --stages build,fuzz  only these stages
#   ./scripts/test.sh --long               longer fault tests (OUTBOX_RELAY_LONG=1), fuzz runs, and
#                                          the container image built and run (label image)
#   ./scripts/test.sh --pg-versions 13,17  the PostgreSQL majors of the pg-matrix stage
#   ./scripts/test.sh -L unit              other arguments go to every stage's ctest
#                                          (-L integration, -R regex, -j2, ...)
#
# Every stage runs even when an earlier one failed; the table at the end gives each stage's
# result, time and ctest summary. Exit code: 0 when every stage passed, else 1.
# BUILD_DIR (default: build) picks the build stage's directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly REPO_ROOT="$PWD"

BUILD_DIR="${BUILD_DIR:-build}"
stages="build,pg-matrix,asan,tsan,fuzz"
pg_versions="13,14,16,17,18"
fuzz_args=()
ctest_args=()
while (($#)); do
  case "$1" in
    --stages) stages="$2"; shift ;;
    --long) export OUTBOX_RELAY_LONG=1; fuzz_args+=(--long) ;;
    --pg-versions) pg_versions="$2"; shift ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

./scripts/install-deps.sh
# Every build through the compiler cache (cmake reads this when it first configures a directory).
if [[ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ]] && command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi

# configure <dir> <optimisation> [cmake args...]
# Line tables (-g1) are all a test build's stack traces need, sanitizer reports included, and
# the sanitizer builds use -O1, as their manuals advise: relay.cpp under ASan compiles in 18 s at
# -O1 -g1, 27 s at -O2 -g1 and 33 s at -O2 -g.
configure() {
  local dir="$1" optimisation="$2"; shift 2
  # A build dir configured with another generator cannot be reused by cmake: start it afresh.
  if [[ -f "$dir/CMakeCache.txt" ]] &&
     ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$dir/CMakeCache.txt"; then
    echo "test.sh: $dir was configured with another generator; reconfiguring it with Ninja" >&2
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$optimisation -g1 -DNDEBUG" -DOUTBOX_RELAY_WERROR=ON "$@"
}

# configure_unity <dir> <optimisation> [cmake args...]: the stages compile in unity batches (CMake
# joins up to 8 sources of a target into one translation unit), which parses the shared headers
# (Boost.Asio, gtest, spdlog) once per batch instead of once per file: a third less compile time
# under ASan. clang-tidy still checks every file on its own (stage_build).
configure_unity() {
  configure "$@" -DCMAKE_UNITY_BUILD=ON
}

# Sanitizer reports go to files under <dir>/sanitizer-reports as well as failing the process:
# a relay the test expected to fail (or killed) would otherwise hide its report in a log no one
# reads. Any report there fails the stage.
sanitizer_options() {
  # Absolute: the tests run in their own working directories, and so do the relays they spawn.
  local reports="$REPO_ROOT/$1"
  rm -rf "$reports"; mkdir -p "$reports"
  local supp="$REPO_ROOT/tests/sanitizers"
  export ASAN_OPTIONS="log_path=$reports/asan:strict_string_checks=1:check_initialization_order=1"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
  # TSan, unlike the others, carries on after a report unless told to stop.
  export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
}

check_sanitizer_reports() {
  local reports="$REPO_ROOT/$1" report found=0
  for report in "$reports"/*; do
    [[ -e "$report" ]] || continue
    found=1
    echo "===== sanitizer report $report" >&2
    cat "$report" >&2
  done
  if ((found)); then
    echo "test.sh: sanitizer reports in $reports (replay: see README, Sanitizers)" >&2
    return 1
  fi
}

# run_ctest <dir> <log> [ctest args...]: ctest's output on the terminal and in <log>.
run_ctest() {
  local dir="$1" log="$2"; shift 2
  set +e
  ctest --test-dir "$dir" --output-on-failure "$@" "${ctest_args[@]}" 2>&1 | tee "$log"
  local rc="${PIPESTATUS[0]}"
  set -e
  return "$rc"
}

stage_build() {
  local rc=0
  ./scripts/lint.sh --format || rc=1
  configure_unity "$BUILD_DIR" -O2 && cmake --build "$BUILD_DIR" -j2 || return 1
  # clang-tidy reads each source file on its own (a file that compiles only after another one of
  # its batch fails there), so it gets the commands of a build without batches: configuring one
  # is enough, the generated headers come from configure_file.
  # Alone, before ctest: the integration tests' timings must not share the two cores with it.
  configure "$BUILD_DIR/tidy" -O2 -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null &&
    ./scripts/lint.sh --tidy "$BUILD_DIR/tidy" || rc=1
  # The image test (label image) builds the Dockerfile for minutes: --long only.
  local -a image=(-LE image)
  [[ "${OUTBOX_RELAY_LONG:-0}" == 1 ]] && image=()
  run_ctest "$BUILD_DIR" "$BUILD_DIR/ctest.log" "${image[@]}" || rc=1
  return "$rc"
}

# Every major of --pg-versions in turn: ctest's harness.start (the fixture of the selected
# tests) finds the harness running another major and starts it afresh with this one.
stage_pg-matrix() {
  local rc=0 version log="$BUILD_DIR/pg-matrix.log"
  if [[ ! -x "$BUILD_DIR/tests/integration/relay_integration_tests" ]]; then
    configure_unity "$BUILD_DIR" -O2 && cmake --build "$BUILD_DIR" -j2 || return 1
  fi
  local -a filter=(-L pg-matrix)
  [[ "${OUTBOX_RELAY_LONG:-0}" == 1 ]] || filter+=(-R 'DeliversEveryCommittedEventOnceInOrder|ExactlyOnceSigkillLoop|FailoverTest.ExactlyOnce')
  : >"$log"
  rm -f "$BUILD_DIR"/pg-matrix-*.log
  IFS=, read -ra majors <<<"$pg_versions"
  local newest
  newest=$(printf '%s\n' "${majors[@]}" | sort -n | tail -n 1)
  # On the newest major, every integration test as on 15, but the fault-matrix scenarios whose
  # faults are the relay's or the broker's (kills, broker restarts, outages, partitions, a full
  # disk: ~6 of CI's minutes) and the inbox's kill loop (its database is the consumer's, not
  # the captured one) run with --long only; PostgreSQL's own (restarts, a killed walsender)
  # always run.
  local long_only='FaultMatrixTest\.(RelayKill9Loop|BrokerRestarts|BrokerDiskFull|KafkaUnreachable|NetworkPartition)|InboxTest\.CrashLoop'
  for version in "${majors[@]}"; do
    local -a selection=("${filter[@]}")
    if [[ "$version" == "$newest" ]]; then
      selection=(-L integration)
      [[ "${OUTBOX_RELAY_LONG:-0}" == 1 ]] || selection+=(-E "$long_only")
    fi
    echo "===== test.sh: pg-matrix, PostgreSQL $version: ${selection[*]}"
    local start=$SECONDS
    HARNESS_PG_VERSION="$version" run_ctest "$BUILD_DIR" "$BUILD_DIR/pg-matrix-$version.log" "${selection[@]}" || rc=1
    echo "PostgreSQL $version ($((SECONDS - start)) s, ${selection[*]}): $(grep -E 'tests passed' \
      "$BUILD_DIR/pg-matrix-$version.log" | tail -n 1)" >>"$log"
  done
  cat "$log"
  return "$rc"
}

# The packaging checks run no compiled code of ours, and the demo (its own second set of servers)
# only repeats what the integration tests cover. The fault matrix (~8 minutes of kill loops and
# outages on 2 cores) and the four SIGKILL loops outside it (~165 s) run in the build stage: a
# killed relay writes no sanitizer report, and the paths they take (restart, reconnect, resume
# from the slot) are the ones the other tests run here too. --long runs them here as well.
stage_asan() {
  local dir=build-asan rc=0
  # Not the in-flight cap test either: its RSS bound means nothing with ASan's shadow memory
  # and quarantine (the relay holds 93 MiB there, 20-30 MiB without ASan).
  local exclude='InFlightCapStopsReadingWhileKafkaIsDown'
  [[ "${OUTBOX_RELAY_LONG:-0}" == 1 ]] ||
    exclude+='|FaultMatrixTest|HaTest.TenSigkills|RelayIntegrationTest.SurvivesSigkill|RabbitMqTest.SurvivesSigkills|InboxTest.CrashLoop'
  local -a filter=(-LE 'packaging|demo' -E "$exclude")
  configure_unity "$dir" -O1 -DOUTBOX_RELAY_SANITIZE=address,undefined &&
    cmake --build "$dir" -j2 || return 1
  (sanitizer_options "$dir/sanitizer-reports" && run_ctest "$dir" "$dir/ctest.log" "${filter[@]}") || rc=1
  check_sanitizer_reports "$dir/sanitizer-reports" || rc=1
  return "$rc"
}

# Unit tests only, the KafkaSink suites (its worker thread against the io_context thread)
# included: librdkafka and libpq are not instrumented, so a relay under TSan in the integration
# tests would report their internals rather than our races. librdkafka's C11 threads and locks
# are made visible to TSan by tests/sanitizers/tsan_c11_threads.cpp (README, Sanitizers).
stage_tsan() {
  local dir=build-tsan rc=0
  configure_unity "$dir" -O1 -DOUTBOX_RELAY_SANITIZE=thread &&
    cmake --build "$dir" -j2 --target unit_tests || return 1
  (sanitizer_options "$dir/sanitizer-reports" && run_ctest "$dir" "$dir/ctest.log" -L unit) || rc=1
  check_sanitizer_reports "$dir/sanitizer-reports" || rc=1
  return "$rc"
}

stage_fuzz() {
  mkdir -p build-fuzz
  set +e
  FUZZ_BUILD_DIR=build-fuzz ./scripts/fuzz.sh "${fuzz_args[@]}" "${ctest_args[@]}" 2>&1 |
    tee build-fuzz/fuzz.log
  local rc="${PIPESTATUS[0]}"
  set -e
  return "$rc"
}

# failed_names <ctest log>: one name per line from its "The following tests FAILED:" list (not
# the list of skipped tests before it).
failed_names() {
  [[ -f "$1" ]] || return 0
  awk '/^The following tests FAILED:/ { on = 1; next } on && /^[[:space:]]+[0-9]+ - / { print $3; next } on { on = 0 }' "$1"
}

# failed_tests <stage>: the names in ctest's "The following tests FAILED" lists of the stage's
# logs, comma-separated (pg-matrix: one log per PostgreSQL major, each name followed by the major).
failed_tests() {
  local stage="$1" log version
  if [[ "$stage" == pg-matrix ]]; then
    for log in "$BUILD_DIR"/pg-matrix-*.log; do
      [[ -e "$log" ]] || continue
      version="${log##*/pg-matrix-}"; version="${version%.log}"
      failed_names "$log" | sed "s/\$/ (PostgreSQL $version)/"
    done
  else
    failed_names "${stage_log[$stage]}"
  fi | paste -sd ',' | sed 's/,/, /g'
}

# failure_lines <stage>: googletest's first failure messages in the stage's logs (the file:line,
# and what was expected) on at most 12 lines, so that a CI log that keeps only its tail says why.
failure_lines() {
  local stage="$1"
  local -a logs=("${stage_log[$stage]}")
  [[ "$stage" == pg-matrix ]] && logs=("$BUILD_DIR"/pg-matrix-*.log)
  cat "${logs[@]}" 2>/dev/null | grep -A3 -E ': Failure$' | grep -v -E '^--$' | head -n 12 | cut -c1-300 || true
}

declare -A stage_log=([build]="$BUILD_DIR/ctest.log" [pg-matrix]="$BUILD_DIR/pg-matrix.log" [asan]=build-asan/ctest.log
                      [tsan]=build-tsan/ctest.log [fuzz]=build-fuzz/fuzz.log)
summary=()
failed=0
IFS=, read -ra selected <<<"$stages"
for stage in "${selected[@]}"; do
  if [[ -z "${stage_log[$stage]:-}" ]]; then
    echo "test.sh: unknown stage '$stage' (build, pg-matrix, asan, tsan, fuzz)" >&2
    exit 2
  fi
done
for stage in "${selected[@]}"; do
  echo "===== test.sh: stage $stage"
  rm -f "${stage_log[$stage]}"
  start=$SECONDS
  if "stage_$stage"; then result=passed; else result=FAILED; failed=1; fi
  # One line per ctest run of the stage (pg-matrix: one per PostgreSQL major).
  line="$(grep -E 'tests passed|No tests were found' "${stage_log[$stage]}" 2>/dev/null | tail -n 5 |
          paste -sd '|' | sed 's/|/; /g' || true)"
  summary+=("$(printf '%-9s %-7s %5ss  %s' "$stage" "$result" "$((SECONDS - start))" "${line:-(no ctest summary)}")")
  # The failed tests' names too: a CI log that keeps only its tail still says which ones.
  failures="$(failed_tests "$stage")"
  [[ -z "$failures" ]] || summary+=("          failed: $failures")
  while IFS= read -r why; do summary+=("          | $why"); done < <(failure_lines "$stage")
done

echo "===== test.sh: summary"
printf '%s\n' "${summary[@]}"
exit "$failed"

#!/usr/bin/env bash
# The outbox-relay demo on a fresh machine, start to finish:
#   installs what is missing, builds the relay, starts a throwaway PostgreSQL 15 and Kafka broker,
#   creates database `flights` with the outbox and a bookings table, starts the relay, lets a
#   small booking service commit bookings (each with its outbox event in the same transaction,
#   one transaction rolled back on purpose), shows the events as they arrive in Kafka, checks
#   them, and stops everything it started.
#
#   ./scripts/demo.sh
#
# Knobs: DEMO_BOOKINGS (default 20), BUILD_DIR (default build), DEMO_RELAY_BIN (use this
# relay binary instead of building one), DEMO_KEEP=1 (keep the work dir with logs at the end).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly REPO_ROOT="$PWD"

BUILD_DIR="${BUILD_DIR:-build}"
BOOKINGS="${DEMO_BOOKINGS:-20}"
RELAY_BIN="${DEMO_RELAY_BIN:-$BUILD_DIR/outbox-relay}"
TOPIC="outbox.event.Booking"
CONFIG="config/examples/demo.yaml"
STEPS=9
STEP=0

if [[ -t 1 ]]; then BOLD=$'\033[1m' RED=$'\033[31m' GREEN=$'\033[32m' RESET=$'\033[0m'
else BOLD="" RED="" GREEN="" RESET=""; fi

section() { STEP=$((STEP + 1)); printf '\n%s==> [%d/%d] %s%s\n' "$BOLD" "$STEP" "$STEPS" "$*" "$RESET"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '\n%sDEMO FAILED: %s%s\n' "$RED" "$*" "$RESET" >&2; exit 1; }

WORK=""
RELAY_PID=""
HARNESS_DIR=""
SUCCESS=0

relay_log_tail() {
  [[ -n "$WORK" && -f "$WORK/relay.log" ]] || return 0
  printf '    --- last lines of the relay log (%s) ---\n' "$WORK/relay.log" >&2
  tail -n "${1:-30}" "$WORK/relay.log" | sed 's/^/    | /' >&2
}

relay_alive() { [[ -n "$RELAY_PID" ]] && kill -0 "$RELAY_PID" 2>/dev/null; }

# Stops the relay with SIGTERM (it drains, then exits 0); SIGKILL after 40 s. Prints its exit code.
stop_relay() {
  relay_alive || return 0
  kill -TERM "$RELAY_PID" 2>/dev/null || true
  local i
  for ((i = 0; i < 400; i++)); do relay_alive || break; sleep 0.1; done
  if relay_alive; then
    info "relay did not exit 40 s after SIGTERM: SIGKILL"
    kill -KILL "$RELAY_PID" 2>/dev/null || true
  fi
  local rc=0
  wait "$RELAY_PID" 2>/dev/null || rc=$?
  RELAY_PID=""
  RELAY_EXIT=$rc
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if relay_alive; then stop_relay; fi
  if [[ -n "$HARNESS_DIR" && -e "$HARNESS_DIR" ]]; then
    if ((!SUCCESS)) && [[ -n "$WORK" ]]; then  # keep the servers' logs next to the relay's
      cp "$HARNESS_DIR/kafka.log" "$WORK/" 2>/dev/null || true
      cp "$HARNESS_DIR/pg/postgres.log" "$WORK/" 2>/dev/null || true
    fi
    "$REPO_ROOT/tests/harness/harness.sh" stop "$HARNESS_DIR" 2>/dev/null || true
  fi
  if [[ -n "$WORK" ]]; then
    if ((SUCCESS)) && [[ "${DEMO_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"
    else printf '    logs kept in %s\n' "$WORK" >&2; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
section "Installing what is missing (Debian packages, Kafka jars cached under ~/.cache)"
./scripts/install-deps.sh

# ---------------------------------------------------------------------------------------------
section "Building the relay"
if [[ -n "${DEMO_RELAY_BIN:-}" ]]; then
  info "using DEMO_RELAY_BIN=$RELAY_BIN"
else
  # Same configuration as scripts/test.sh, so the two share one build directory without churn.
  if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
     ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
    rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
  fi
  configure_log="$(mktemp)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTBOX_RELAY_WERROR=ON \
    >"$configure_log" 2>&1 || { cat "$configure_log" >&2; rm -f "$configure_log"; fail "cmake configure failed"; }
  rm -f "$configure_log"
  cmake --build "$BUILD_DIR" -j2 --target outbox-relay || fail "build failed"
fi
[[ -x "$RELAY_BIN" ]] || fail "no relay binary at $RELAY_BIN"
info "relay: $RELAY_BIN"

# ---------------------------------------------------------------------------------------------
section "Starting PostgreSQL 15 and a Kafka broker (KRaft, single node) on loopback"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/outbox-relay-demo.XXXXXX")"
chmod 755 "$WORK"  # the harness runs PostgreSQL as an unprivileged user that must reach it
HARNESS_DIR="$WORK/harness"
HARNESS_SKIP_INSTALL_DEPS=1 tests/harness/harness.sh start "$HARNESS_DIR"
set -a
# shellcheck disable=SC1091
source "$HARNESS_DIR/env"
set +a
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres)
DSN="host=127.0.0.1 port=$PGPORT dbname=flights user=postgres"
info "PostgreSQL: 127.0.0.1:$PGPORT    Kafka: $KAFKA_BOOTSTRAP_SERVERS    work dir: $WORK"

# ---------------------------------------------------------------------------------------------
section "Creating database flights: outbox-relay init (every migration, publication, slot) + booking schema"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE flights"
# init applies every migration (so the relay runs with all its protections on), the publication
# and the slot: the same command a service's deployment would run.
OUTBOX_RELAY_SOURCE_DSN="$DSN" OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
  "$RELAY_BIN" init --config "$CONFIG" </dev/null | sed 's/^/    /'
"${PSQL[@]}" -d flights -f examples/flight-booking/schema.sql
info "applied examples/flight-booking/schema.sql"
"${PSQL[@]}" -d flights -c '\dt outbox.*' -c '\dt booking.*' -c '\dRp'

# ---------------------------------------------------------------------------------------------
section "Starting the relay ($CONFIG, sink kafka)"
info "OUTBOX_RELAY_SOURCE_DSN=\"$DSN\""
info "OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
OUTBOX_RELAY_SOURCE_DSN="$DSN" OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
  "$RELAY_BIN" run --config "$CONFIG" </dev/null >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
info "relay pid $RELAY_PID, log $WORK/relay.log"

# Ready once its replication slot exists and is streaming: from then on every commit is captured.
deadline=$((SECONDS + 60))
while true; do
  if ! relay_alive; then
    rc=0; wait "$RELAY_PID" 2>/dev/null || rc=$?; RELAY_PID=""
    relay_log_tail 40
    fail "the relay exited early with code $rc (see its log above)"
  fi
  active="$("${PSQL[@]}" -d flights -Atc \
    "SELECT active FROM pg_replication_slots WHERE slot_name = 'outbox_relay'" 2>/dev/null || true)"
  [[ "$active" == t ]] && break
  if ((SECONDS >= deadline)); then
    relay_log_tail 40
    fail "the relay did not start streaming from slot outbox_relay within 60 s"
  fi
  sleep 0.2
done
info "replication slot outbox_relay is active"

# ---------------------------------------------------------------------------------------------
section "Booking service: $BOOKINGS bookings, each with its outbox event in the same transaction"
/usr/bin/python3 examples/flight-booking/booking_service.py --dsn "$DSN" --count "$BOOKINGS" \
  --committed-file "$WORK/committed.txt" --rolled-back-file "$WORK/rolled-back.txt"

# ---------------------------------------------------------------------------------------------
section "Events in Kafka topic $TOPIC"
consume() {
  kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$TOPIC" -o beginning -e -q "$@" 2>/dev/null || true
}
distinct_keys() { consume -f '%k\n' | grep -v '^$' | sort -u; }
expected="$(wc -l <"$WORK/committed.txt")"
deadline=$((SECONDS + 60))
seen=0
while true; do
  seen="$(distinct_keys | grep -cFxf "$WORK/committed.txt" || true)"
  ((seen >= expected)) && break
  if ! relay_alive; then
    relay_log_tail 40
    fail "the relay exited while delivering ($seen of $expected bookings in Kafka)"
  fi
  if ((SECONDS >= deadline)); then
    relay_log_tail 40
    fail "only $seen of $expected bookings reached Kafka within 60 s"
  fi
  sleep 0.5
done
kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$TOPIC" -o beginning -e -q \
  -f 'partition %p offset %o key %k headers %h\n  %s\n'

# ---------------------------------------------------------------------------------------------
section "Checking what arrived"
total="$(consume -f '%k\n' | grep -vc '^$' || true)"
missing="$(comm -23 <(sort -u "$WORK/committed.txt") <(distinct_keys))"
[[ -z "$missing" ]] || fail "committed bookings missing from Kafka: $missing"
info "${GREEN}ok${RESET}: all $expected committed bookings are in Kafka ($total events; more than $expected would mean redelivered duplicates)"
leaked="$(comm -12 <(sort -u "$WORK/rolled-back.txt") <(distinct_keys))"
[[ -z "$leaked" ]] || fail "a rolled-back booking reached Kafka: $leaked"
info "${GREEN}ok${RESET}: the rolled-back booking $(head -n 1 "$WORK/rolled-back.txt") never reached Kafka"
without_id="$(consume -f '%h\n' | grep -vc '\(^\|,\)id=' || true)"
((without_id == 0)) || fail "$without_id events lack the id header"
info "${GREEN}ok${RESET}: every event carries an id header (the outbox row's id, stable across redeliveries)"

# ---------------------------------------------------------------------------------------------
section "Stopping the relay (SIGTERM) and the servers"
RELAY_EXIT=""
stop_relay
relay_log_tail 12
[[ "$RELAY_EXIT" == 0 ]] || fail "the relay exited with code $RELAY_EXIT after SIGTERM (expected 0)"
info "relay exited with code 0"
# A newcomer's first run must not need interpreting: a warning here is a defect of the demo.
warnings="$(grep -E '^[^ ]+ (warning|error|critical) ' "$WORK/relay.log" || true)"
[[ -z "$warnings" ]] || fail "the relay logged warnings or errors:
$warnings"
info "${GREEN}ok${RESET}: the relay logged no warning"
tests/harness/harness.sh stop "$HARNESS_DIR"
HARNESS_DIR=""
SUCCESS=1
printf '\n%sDemo complete.%s\n' "$GREEN$BOLD" "$RESET"

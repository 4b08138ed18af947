#!/usr/bin/env bash
# The flight-booking saga, start to finish: one relay, three services (booking, seats,
# ticketing), each with its own schema and outbox, talking only through Kafka.
#
#   examples/flight-booking/run.sh [--bookings N] [--seat-failures K] [--ticket-failures M]
#                                  [--harness-env FILE] [--relay-bin PATH] [--keep]
#
# Starts a throwaway PostgreSQL 15 + Kafka with tests/harness/harness.sh (or uses the running
# harness whose env file --harness-env names; then every name gets a run suffix and the
# database and slot are dropped at the end), applies sql/*.sql, starts the relay with
# relay.yaml, starts the three services, places N bookings (K designed to fail at seat
# reservation, M at ticketing), waits until every booking is CONFIRMED or CANCELLED, prints the
# final state of every booking in all three contexts and checks they agree, then stops all it
# started. Defaults: 20 bookings, 2 seat failures, 1 ticketing failure, relay build/outbox-relay
# (built when missing). --keep keeps the work directory with every log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
readonly REPO_ROOT="$PWD"
readonly EXAMPLE="$REPO_ROOT/examples/flight-booking"
readonly PYTHON=/usr/bin/python3  # Debian's, with python3-psycopg2 and python3-confluent-kafka

BOOKINGS=20 SEAT_FAILURES=2 TICKET_FAILURES=1 HARNESS_ENV="" RELAY_BIN="" KEEP=0
while (($#)); do
  case "$1" in
    --bookings) BOOKINGS="$2"; shift 2 ;;
    --seat-failures) SEAT_FAILURES="$2"; shift 2 ;;
    --ticket-failures) TICKET_FAILURES="$2"; shift 2 ;;
    --harness-env) HARNESS_ENV="$(realpath "$2")"; shift 2 ;;
    --relay-bin) RELAY_BIN="$(realpath "$2")"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '\nFLIGHT BOOKING FAILED: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/flight-booking.XXXXXX")"
chmod 755 "$WORK"  # the harness runs PostgreSQL as an unprivileged user that must reach it
OWN_HARNESS=""
DB="" SLOT=""
declare -A PIDS=()  # name -> pid of what this script started
SUCCESS=0

stop_pid() {  # name: SIGTERM, then SIGKILL after 30 s
  local name="$1" pid="${PIDS[$1]:-}" i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    info "$name did not exit 30 s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  unset "PIDS[$name]"
  return "$rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local name
  for name in booking ticketing seats relay; do stop_pid "$name" || true; done
  if [[ -n "$OWN_HARNESS" ]]; then
    if ((!SUCCESS)); then  # keep the servers' logs next to the others
      cp "$OWN_HARNESS/kafka.log" "$OWN_HARNESS/pg/postgres.log" "$WORK/" 2>/dev/null || true
    fi
    tests/harness/harness.sh stop "$OWN_HARNESS" >/dev/null 2>&1 || true
  elif [[ -n "$DB" && "$KEEP" != 1 ]]; then
    # The slot first: PostgreSQL refuses to drop a database that has one.
    psql_admin -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                                WHERE slot_name = '$SLOT' AND NOT active" \
      -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if ((SUCCESS)) && [[ "$KEEP" != 1 ]]; then rm -rf "$WORK"
  else printf '    logs kept in %s\n' "$WORK" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }
sql() { psql_admin -d "$DB" -Atc "$1"; }

# ---------------------------------------------------------------------------------------------
step "Checking the Python services' dependencies and the relay binary"
"$PYTHON" -c 'import psycopg2, confluent_kafka' 2>/dev/null ||
  fail "$PYTHON lacks psycopg2 or confluent_kafka: run scripts/install-deps.sh" \
       "(Debian packages python3-psycopg2, python3-confluent-kafka)"
if [[ -z "$RELAY_BIN" ]]; then
  RELAY_BIN="$REPO_ROOT/build/outbox-relay"
  if [[ ! -x "$RELAY_BIN" ]]; then
    info "building $RELAY_BIN"
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTBOX_RELAY_WERROR=ON >/dev/null
    cmake --build build --target outbox-relay
  fi
fi
[[ -x "$RELAY_BIN" ]] || fail "no relay binary at $RELAY_BIN"
info "relay: $RELAY_BIN"

# ---------------------------------------------------------------------------------------------
if [[ -n "$HARNESS_ENV" ]]; then
  step "Using the running harness of $HARNESS_ENV"
  RUN_ID="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
else
  step "Starting PostgreSQL 15 and Kafka (tests/harness/harness.sh, random loopback ports)"
  OWN_HARNESS="$WORK/harness"
  tests/harness/harness.sh start "$OWN_HARNESS"
  HARNESS_ENV="$OWN_HARNESS/env"
  RUN_ID=""
fi
set -a
# shellcheck disable=SC1090
source "$HARNESS_ENV"
set +a
# On a shared harness every name is this run's own: earlier runs' events stay in Kafka.
DB="flight_booking${RUN_ID:+_$RUN_ID}"
SLOT="$DB"
TOPIC_TEMPLATE="{schema}.events${RUN_ID:+.$RUN_ID}"
GROUP_PREFIX="flight-booking${RUN_ID:+.$RUN_ID}"
info "PostgreSQL 127.0.0.1:$PGPORT, Kafka $KAFKA_BOOTSTRAP_SERVERS, work dir $WORK"

# ---------------------------------------------------------------------------------------------
step "Creating database $DB: schemas booking, seats, ticketing (each with its outbox) + publication"
psql_admin -d postgres -c "CREATE DATABASE $DB"
for file in context booking seats ticketing publication; do
  PGOPTIONS="-c client_min_messages=warning" psql_admin -d "$DB" -f "$EXAMPLE/sql/$file.sql"
done
info "roles flight_booking, flight_seats, flight_ticketing: each reaches its own schema only"

# ---------------------------------------------------------------------------------------------
step "Starting the relay (examples/flight-booking/relay.yaml, topics $TOPIC_TEMPLATE)"
OUTBOX_RELAY_SOURCE_DSN="host=127.0.0.1 port=$PGPORT dbname=$DB user=postgres" \
OUTBOX_RELAY_SOURCE_SLOT="$SLOT" \
OUTBOX_RELAY_OUTBOX_TOPIC="$TOPIC_TEMPLATE" \
OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
  "$RELAY_BIN" run --config "$EXAMPLE/relay.yaml" </dev/null >"$WORK/relay.log" 2>&1 &
PIDS[relay]=$!
deadline=$((SECONDS + 60))
until [[ "$(sql "SELECT active FROM pg_replication_slots WHERE slot_name = '$SLOT'" 2>/dev/null)" == t ]]; do
  kill -0 "${PIDS[relay]}" 2>/dev/null || { tail -n 20 "$WORK/relay.log" >&2; fail "the relay exited"; }
  ((SECONDS < deadline)) || { tail -n 20 "$WORK/relay.log" >&2; fail "the relay did not start streaming within 60 s"; }
  sleep 0.2
done
info "relay pid ${PIDS[relay]} streams from slot $SLOT (log $WORK/relay.log)"

# ---------------------------------------------------------------------------------------------
step "Starting the services (logs in $WORK/<service>.log)"
start_service() {  # name, script arguments...
  local name="$1"; shift
  "$PYTHON" "$@" --dsn "host=127.0.0.1 port=$PGPORT dbname=$DB user=flight_$name" \
    --bootstrap-servers "$KAFKA_BOOTSTRAP_SERVERS" --topic-template "$TOPIC_TEMPLATE" \
    --group-id "$GROUP_PREFIX.$name" </dev/null >>"$WORK/$name.log" 2>&1 &
  PIDS[$name]=$!
  info "$name: pid ${PIDS[$name]}"
}
start_service seats "$EXAMPLE/services/seats.py"
start_service ticketing "$EXAMPLE/services/ticketing.py"
start_service booking "$EXAMPLE/services/booking.py" consume

# ---------------------------------------------------------------------------------------------
step "Placing $BOOKINGS bookings ($SEAT_FAILURES designed to fail at seats, $TICKET_FAILURES at ticketing)"
"$PYTHON" "$EXAMPLE/services/booking.py" place \
  --dsn "host=127.0.0.1 port=$PGPORT dbname=$DB user=flight_booking" --count "$BOOKINGS" \
  --seat-failures "$SEAT_FAILURES" --ticket-failures "$TICKET_FAILURES"

# ---------------------------------------------------------------------------------------------
step "Waiting until every booking is CONFIRMED or CANCELLED (at most 120 s)"
# Settled: nothing PENDING, and every event a consumer reacts to is in its processed_events.
UNPROCESSED="
  (SELECT count(*) FROM booking.outbox o WHERE type = 'NewBookingCreated'
     AND NOT EXISTS (SELECT 1 FROM seats.processed_events p WHERE p.event_id = o.id))
+ (SELECT count(*) FROM seats.outbox o WHERE type = 'SeatReserved'
     AND NOT EXISTS (SELECT 1 FROM ticketing.processed_events p WHERE p.event_id = o.id))
+ (SELECT count(*) FROM seats.outbox o WHERE type IN ('SeatReservationFailed', 'SeatReleased')
     AND NOT EXISTS (SELECT 1 FROM booking.processed_events p WHERE p.event_id = o.id))
+ (SELECT count(*) FROM ticketing.outbox o WHERE type = 'TicketIssued'
     AND NOT EXISTS (SELECT 1 FROM booking.processed_events p WHERE p.event_id = o.id))
+ (SELECT count(*) FROM ticketing.outbox o WHERE type = 'TicketIssuanceFailed'
     AND NOT EXISTS (SELECT 1 FROM seats.processed_events p WHERE p.event_id = o.id))"
deadline=$((SECONDS + 120))
next_report=$((SECONDS + 5))
while true; do
  read -r pending unprocessed < <(sql "SELECT (SELECT count(*) FROM booking.bookings
                                              WHERE status = 'PENDING'), $UNPROCESSED" | tr '|' ' ')
  ((pending == 0 && unprocessed == 0)) && break
  for name in relay seats ticketing booking; do
    kill -0 "${PIDS[$name]}" 2>/dev/null || { tail -n 20 "$WORK/$name.log" >&2; fail "$name exited"; }
  done
  ((SECONDS < deadline)) || fail "$pending bookings still PENDING after 120 s (logs in $WORK)"
  if ((SECONDS >= next_report)); then info "$pending bookings PENDING"; next_report=$((SECONDS + 5)); fi
  sleep 0.3
done
info "settled"

# ---------------------------------------------------------------------------------------------
step "Final state of every booking, in each context"
psql_admin -d "$DB" -P footer=off -c "
  SELECT left(b.id::text, 8) AS booking, b.passenger_name AS passenger, b.flight_number AS flight,
         b.seat, b.status AS \"booking.bookings\", coalesce(r.status, '-') AS \"seats.reservations\",
         coalesce(t.ticket_number, '-') AS \"ticketing.tickets\", coalesce(b.cancel_reason, '') AS reason
  FROM booking.bookings b
  LEFT JOIN seats.reservations r ON r.booking_id = b.id
  LEFT JOIN ticketing.tickets t ON t.booking_id = b.id
  ORDER BY b.created_at"
psql_admin -d "$DB" -P footer=off -c "
  SELECT 'booking' AS context, count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
         count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled, NULL::bigint AS reserved,
         NULL::bigint AS released, NULL::bigint AS tickets,
         (SELECT count(*) FROM booking.processed_events) AS processed,
         (SELECT count(*) FROM booking.duplicate_deliveries) AS redeliveries_skipped
  FROM booking.bookings
  UNION ALL
  SELECT 'seats', NULL, NULL, count(*) FILTER (WHERE status = 'RESERVED'),
         count(*) FILTER (WHERE status = 'RELEASED'), NULL,
         (SELECT count(*) FROM seats.processed_events), (SELECT count(*) FROM seats.duplicate_deliveries)
  FROM seats.reservations
  UNION ALL
  SELECT 'ticketing', NULL, NULL, NULL, NULL, count(*),
         (SELECT count(*) FROM ticketing.processed_events), (SELECT count(*) FROM ticketing.duplicate_deliveries)
  FROM ticketing.tickets"

# ---------------------------------------------------------------------------------------------
step "Checking that the contexts agree"
check() {  # description, SQL counting violations
  local n; n="$(sql "$2")"
  ((n == 0)) || fail "$1: $n violations"
  info "ok: $1"
}
check "every CONFIRMED booking holds its seat and has its ticket" "
  SELECT count(*) FROM booking.bookings b WHERE b.status = 'CONFIRMED' AND NOT (
    EXISTS (SELECT 1 FROM seats.reservations r WHERE r.booking_id = b.id AND r.status = 'RESERVED'
              AND r.flight_number = b.flight_number AND r.seat = b.seat)
    AND EXISTS (SELECT 1 FROM ticketing.tickets t WHERE t.booking_id = b.id
                  AND t.ticket_number = b.ticket_number))"
check "no CANCELLED booking holds a seat or has a ticket" "
  SELECT count(*) FROM booking.bookings b WHERE b.status = 'CANCELLED' AND (
    EXISTS (SELECT 1 FROM seats.reservations r WHERE r.booking_id = b.id AND r.status = 'RESERVED')
    OR EXISTS (SELECT 1 FROM ticketing.tickets t WHERE t.booking_id = b.id))"
check "exactly $((SEAT_FAILURES + TICKET_FAILURES)) bookings CANCELLED (the ones designed to fail)" "
  SELECT abs(count(*) - $((SEAT_FAILURES + TICKET_FAILURES))) FROM booking.bookings WHERE status = 'CANCELLED'"

if command -v kcat >/dev/null; then
  step "One event per topic, as the relay published it (kcat)"
  for schema in booking seats ticketing; do
    topic="${TOPIC_TEMPLATE/\{schema\}/$schema}"
    kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$topic" -o beginning -c 1 -e -q \
      -f "$topic partition %p offset %o key %k\n  headers %h\n  value %s\n" 2>/dev/null || true
  done
fi

# ---------------------------------------------------------------------------------------------
step "Stopping the services and the relay (SIGTERM)"
for name in booking ticketing seats relay; do
  rc=0; stop_pid "$name" || rc=$?
  ((rc == 0)) || fail "$name exited with code $rc after SIGTERM"
  info "$name exited with code 0"
done
SUCCESS=1
printf '\nFlight-booking saga complete: %d bookings, %d CANCELLED and compensated.\n' \
  "$BOOKINGS" "$((SEAT_FAILURES + TICKET_FAILURES))"

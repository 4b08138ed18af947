#!/usr/bin/env bash
# The flight-booking saga, start to finish: three bounded contexts (booking, seats,
# ticketing), each with its own schema and outbox, talking only through Kafka: one relay
# publishes the three outboxes, one `outbox-relay inbox` per context applies the events it
# consumes through the context's SQL handler.
#
#   examples/flight-booking/run.sh [--bookings N] [--seat-failures K] [--ticket-failures M]
#                                  [--harness-env FILE] [--relay-bin PATH] [--keep]
#
# Starts a throwaway PostgreSQL 15 + Kafka with tests/harness/harness.sh (or uses the running
# harness whose env file --harness-env names; then every name gets a run suffix and the
# database and slot are dropped at the end), creates the inbox schema (init --inbox), applies
# sql/*.sql, starts the relay with relay.yaml and the three inboxes with inbox-<context>.yaml,
# places N bookings (K designed to fail at seat reservation, M at ticketing), waits until every
# booking is CONFIRMED or CANCELLED, prints the final state of every booking in all three
# contexts and checks they agree, then stops all it started. Defaults: 20 bookings, 2 seat
# failures, 1 ticketing failure, binary build/outbox-relay (built when missing). --keep keeps
# the work directory with every log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
readonly REPO_ROOT="$PWD"
readonly EXAMPLE="$REPO_ROOT/examples/flight-booking"
readonly PYTHON=/usr/bin/python3  # Debian's, with python3-psycopg2 (services/booking.py)
readonly CONTEXTS=(seats ticketing booking)

BOOKINGS=20 SEAT_FAILURES=2 TICKET_FAILURES=1 HARNESS_ENV="" RELAY_BIN="" KEEP=0
while (($#)); do
  case "$1" in
    --bookings) BOOKINGS="$2"; shift 2 ;;
    --seat-failures) SEAT_FAILURES="$2"; shift 2 ;;
    --ticket-failures) TICKET_FAILURES="$2"; shift 2 ;;
    --harness-env) HARNESS_ENV="$(realpath "$2")"; shift 2 ;;
    --relay-bin) RELAY_BIN="$(realpath "$2")"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  for name in inbox-booking inbox-ticketing inbox-seats relay; do stop_pid "$name" || true; done
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
step "Checking the booking service's dependency and the outbox-relay binary"
"$PYTHON" -c 'import psycopg2' 2>/dev/null ||
  fail "$PYTHON lacks psycopg2: run scripts/install-deps.sh (Debian package python3-psycopg2)"
if [[ -z "$RELAY_BIN" ]]; then
  RELAY_BIN="$REPO_ROOT/build/outbox-relay"
  if [[ ! -x "$RELAY_BIN" ]]; then
    info "building $RELAY_BIN"
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTBOX_RELAY_WERROR=ON >/dev/null
    cmake --build build --target outbox-relay
  fi
fi
[[ -x "$RELAY_BIN" ]] || fail "no relay binary at $RELAY_BIN"
info "outbox-relay: $RELAY_BIN"

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
# The inboxes' configurations, with this run's topic names in their inbox.handlers (a file-only
# key: no environment override).
for context in "${CONTEXTS[@]}"; do
  sed -E "s/^( *- topic: [a-z]+\.events)\$/\1${RUN_ID:+.$RUN_ID}/" "$EXAMPLE/inbox-$context.yaml" \
    >"$WORK/inbox-$context.yaml"
done
info "PostgreSQL 127.0.0.1:$PGPORT, Kafka $KAFKA_BOOTSTRAP_SERVERS, work dir $WORK"

# ---------------------------------------------------------------------------------------------
step "Creating database $DB: the inbox schema, schemas booking, seats, ticketing (each with its outbox and handler) + publication"
psql_admin -d postgres -c "CREATE DATABASE $DB"
# The inbox's tables and functions (inbox/sql/V1__inbox.sql), which the three contexts share.
OUTBOX_RELAY_SOURCE_DSN="host=127.0.0.1 port=$PGPORT dbname=$DB user=postgres" \
  "$RELAY_BIN" init --inbox --config "$WORK/inbox-seats.yaml" </dev/null >"$WORK/init-inbox.log" 2>&1 ||
  { cat "$WORK/init-inbox.log" >&2; fail "outbox-relay init --inbox failed"; }
info "$(tail -n 1 "$WORK/init-inbox.log") (outbox-relay init --inbox)"
for file in context booking seats ticketing publication; do
  PGOPTIONS="-c client_min_messages=warning" psql_admin -d "$DB" -f "$EXAMPLE/sql/$file.sql"
done
info "roles flight_booking, flight_seats, flight_ticketing: each reaches its own schema and its inbox rows only"

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
step "Starting one inbox per context (outbox-relay inbox --config inbox-<context>.yaml, logs in $WORK/inbox-<context>.log)"
for context in "${CONTEXTS[@]}"; do
  OUTBOX_RELAY_SOURCE_DSN="host=127.0.0.1 port=$PGPORT dbname=$DB user=flight_$context" \
  OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS="$KAFKA_BOOTSTRAP_SERVERS" \
  OUTBOX_RELAY_INBOX_GROUP_ID="$GROUP_PREFIX.$context" \
    "$RELAY_BIN" inbox --config "$WORK/inbox-$context.yaml" </dev/null >>"$WORK/inbox-$context.log" 2>&1 &
  PIDS[inbox-$context]=$!
  info "inbox $context: pid ${PIDS[inbox-$context]}, handler $context.on_event, role flight_$context"
done

# ---------------------------------------------------------------------------------------------
step "Placing $BOOKINGS bookings ($SEAT_FAILURES designed to fail at seats, $TICKET_FAILURES at ticketing)"
"$PYTHON" "$EXAMPLE/services/booking.py" place \
  --dsn "host=127.0.0.1 port=$PGPORT dbname=$DB user=flight_booking" --count "$BOOKINGS" \
  --seat-failures "$SEAT_FAILURES" --ticket-failures "$TICKET_FAILURES"

# ---------------------------------------------------------------------------------------------
step "Waiting until every booking is CONFIRMED or CANCELLED (at most 120 s)"
# Settled: nothing PENDING, and every event a context reacts to is in inbox.processed under
# that context's inbox name (applied: no side effect can still follow).
UNPROCESSED="
  (SELECT count(*) FROM booking.outbox o WHERE type = 'NewBookingCreated' AND NOT EXISTS
     (SELECT 1 FROM inbox.processed p WHERE p.inbox_name = 'seats' AND p.event_id = o.id::text))
+ (SELECT count(*) FROM seats.outbox o WHERE type = 'SeatReserved' AND NOT EXISTS
     (SELECT 1 FROM inbox.processed p WHERE p.inbox_name = 'ticketing' AND p.event_id = o.id::text))
+ (SELECT count(*) FROM seats.outbox o WHERE type IN ('SeatReservationFailed', 'SeatReleased') AND NOT EXISTS
     (SELECT 1 FROM inbox.processed p WHERE p.inbox_name = 'booking' AND p.event_id = o.id::text))
+ (SELECT count(*) FROM ticketing.outbox o WHERE type = 'TicketIssued' AND NOT EXISTS
     (SELECT 1 FROM inbox.processed p WHERE p.inbox_name = 'booking' AND p.event_id = o.id::text))
+ (SELECT count(*) FROM ticketing.outbox o WHERE type = 'TicketIssuanceFailed' AND NOT EXISTS
     (SELECT 1 FROM inbox.processed p WHERE p.inbox_name = 'seats' AND p.event_id = o.id::text))"
deadline=$((SECONDS + 120))
next_report=$((SECONDS + 5))
while true; do
  read -r pending unprocessed < <(sql "SELECT (SELECT count(*) FROM booking.bookings
                                              WHERE status = 'PENDING'), $UNPROCESSED" | tr '|' ' ')
  ((pending == 0 && unprocessed == 0)) && break
  for name in relay inbox-seats inbox-ticketing inbox-booking; do
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
# events_applied: ids in inbox.processed whose event the context's handler reacts to (the others
# of its topics are recorded too, as skipped: records_read); events_published: its outbox rows.
psql_admin -d "$DB" -P footer=off -c "
  WITH handled(inbox_name, event_id) AS (
    SELECT 'seats', id::text FROM booking.outbox WHERE type = 'NewBookingCreated'
    UNION ALL SELECT 'seats', id::text FROM ticketing.outbox WHERE type = 'TicketIssuanceFailed'
    UNION ALL SELECT 'ticketing', id::text FROM seats.outbox WHERE type = 'SeatReserved'
    UNION ALL SELECT 'booking', id::text FROM seats.outbox WHERE type IN ('SeatReservationFailed', 'SeatReleased')
    UNION ALL SELECT 'booking', id::text FROM ticketing.outbox WHERE type = 'TicketIssued'),
  inboxes AS (
    SELECT p.inbox_name, count(*) AS records_read, count(h.event_id) AS events_applied
    FROM inbox.processed p LEFT JOIN handled h USING (inbox_name, event_id) GROUP BY p.inbox_name)
  SELECT c.context, c.confirmed, c.cancelled, c.reserved, c.released, c.tickets,
         coalesce(i.events_applied, 0) AS events_applied, coalesce(i.records_read, 0) AS records_read,
         c.events_published
  FROM (
    SELECT 'booking' AS context, count(*) FILTER (WHERE status = 'CONFIRMED') AS confirmed,
           count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled, NULL::bigint AS reserved,
           NULL::bigint AS released, NULL::bigint AS tickets,
           (SELECT count(*) FROM booking.outbox) AS events_published, 1 AS n
    FROM booking.bookings
    UNION ALL
    SELECT 'seats', NULL, NULL, count(*) FILTER (WHERE status = 'RESERVED'),
           count(*) FILTER (WHERE status = 'RELEASED'), NULL, (SELECT count(*) FROM seats.outbox), 2
    FROM seats.reservations
    UNION ALL
    SELECT 'ticketing', NULL, NULL, NULL, NULL, count(*), (SELECT count(*) FROM ticketing.outbox), 3
    FROM ticketing.tickets) c
  LEFT JOIN inboxes i ON i.inbox_name = c.context
  ORDER BY c.n"

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
check "every reaction happened once: each event a context reacts to caused exactly one event" "
  SELECT count(*) FROM (
    SELECT o.id, (SELECT count(*) FROM seats.outbox r WHERE r.headers->>'causation_id' = o.id::text) AS n
    FROM booking.outbox o WHERE o.type = 'NewBookingCreated'
    UNION ALL
    SELECT o.id, (SELECT count(*) FROM ticketing.outbox r WHERE r.headers->>'causation_id' = o.id::text)
    FROM seats.outbox o WHERE o.type = 'SeatReserved'
    UNION ALL
    SELECT o.id, (SELECT count(*) FROM seats.outbox r WHERE r.headers->>'causation_id' = o.id::text)
    FROM ticketing.outbox o WHERE o.type = 'TicketIssuanceFailed'
    UNION ALL
    SELECT o.id, (SELECT count(*) FROM booking.outbox r WHERE r.headers->>'causation_id' = o.id::text)
    FROM seats.outbox o WHERE o.type IN ('SeatReservationFailed', 'SeatReleased')
    UNION ALL
    SELECT o.id, (SELECT count(*) FROM booking.outbox r WHERE r.headers->>'causation_id' = o.id::text)
    FROM ticketing.outbox o WHERE o.type = 'TicketIssued') reactions
  WHERE n <> 1"

if command -v kcat >/dev/null; then
  step "One event per topic, as the relay published it (kcat)"
  for schema in booking seats ticketing; do
    topic="${TOPIC_TEMPLATE/\{schema\}/$schema}"
    kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$topic" -o beginning -c 1 -e -q \
      -f "$topic partition %p offset %o key %k\n  headers %h\n  value %s\n" 2>/dev/null || true
  done
fi

# ---------------------------------------------------------------------------------------------
step "Stopping the inboxes and the relay (SIGTERM)"
for name in inbox-booking inbox-ticketing inbox-seats relay; do
  rc=0; stop_pid "$name" || rc=$?
  ((rc == 0)) || fail "$name exited with code $rc after SIGTERM"
  info "$name exited with code 0"
done
SUCCESS=1
printf '\nFlight-booking saga complete: %d bookings, %d CANCELLED and compensated.\n' \
  "$BOOKINGS" "$((SEAT_FAILURES + TICKET_FAILURES))"

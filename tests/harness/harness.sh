#!/usr/bin/env bash
# Real PostgreSQL (15 unless asked) + a real single-node Kafka (KRaft) on loopback, for the
# integration tests, the fault tests and the demo. Every server lives under one harness
# directory DIR.
#
#   harness.sh start DIR [--pg N]  start both servers (no-op if DIR's servers are already running
#                                  with that PostgreSQL; else they are stopped and started
#                                  afresh). N: PostgreSQL major 13 to 18 (default
#                                  HARNESS_PG_VERSION, else 15), fetched by
#                                  scripts/install-deps.sh --postgres N
#   harness.sh stop DIR            stop both (by recorded pid) and remove DIR; ok if already stopped
#   harness.sh status DIR          exit 0 if both are running
#   harness.sh restart-kafka DIR   stop and start the same broker (same ports, same log dir)
#   harness.sh restart-pg DIR      stop (-m fast) and start the same PostgreSQL (same port, data)
#   harness.sh stop-kafka DIR [kill]       SIGTERM (or SIGKILL with "kill") the broker
#   harness.sh start-kafka DIR
#   harness.sh stop-pg DIR [fast|immediate|smart]
#   harness.sh start-pg DIR
#   harness.sh start-extra-pg DIR NAME [key=value ...]   one more PostgreSQL (the harness's major) with these
#              postgresql.conf settings (e.g. wal_level=replica); its env in DIR/NAME.env
#   harness.sh stop-extra-pg DIR NAME                     stop it and remove its files
#   harness.sh start-extra-standby DIR NAME PRIMARY [PORT]  a synchronous physical standby of extra
#              instance PRIMARY (base backup by pg_backup_start/stop and a copy; from 17 it
#              synchronises failover slots, and PRIMARY's synchronized_standby_slots names it);
#              on PORT if given (an old primary rebuilt where clients' DSNs still look for it)
#   harness.sh crash-extra-pg DIR NAME                    stop it with -m immediate, files kept
#   harness.sh promote-extra-pg DIR NAME                  pg_ctl promote
#   harness.sh start-rabbitmq DIR   a real RabbitMQ (Debian's rabbitmq-server) on loopback, AMQP and
#              AMQPS (the harness CA's server certificate); its env in DIR/rabbitmq.env:
#              RABBITMQ_HOST RABBITMQ_PORT RABBITMQ_TLS_PORT RABBITMQ_USER RABBITMQ_PASSWORD
#              RABBITMQ_PID RABBITMQ_EPMD_PID (and the node's name and ports, for restart).
#              Not started by start: few tests need it
#   harness.sh restart-rabbitmq DIR stop it cleanly and start it again: same ports, users and data
#   harness.sh stop-rabbitmq DIR    stop it and remove its files (stop does it too)
#
# After start, DIR/env holds shell-sourceable KEY=VALUE lines:
#   PGHOST PGPORT PGUSER PGDATABASE PG_BIN PG_DATA PG_SOCKET_DIR PG_MAJOR
#   PG_CLIENT_BIN (psql and the other clients: Debian's 15, which talk to every major)
#   KAFKA_BOOTSTRAP_SERVERS KAFKA_PID PG_PID HARNESS_DIR
#   security: HARNESS_CA_FILE HARNESS_UNRELATED_CA_FILE PG_PASSWORD_ROLE
#   KAFKA_SASL_SSL_BOOTSTRAP_SERVERS KAFKA_SASL_MECHANISM KAFKA_SCRAM_USER KAFKA_SCRAM_PASSWORD
#   SCRAM_KAFKA_BOOTSTRAP_SERVERS SCRAM_KAFKA_PID
# (start-*/restart-* rewrite it with the new pids). Logs: DIR/kafka.log, DIR/kafka.out,
# DIR/pg/postgres.log. Internal state: DIR/harness.state.
#
# Security (for the TLS / SASL tests; plain connections keep working for everything else):
# DIR/tls holds a throwaway CA (HARNESS_CA_FILE) that signed one server certificate for
# localhost and 127.0.0.1, used by PostgreSQL (ssl = on; clients choose with sslmode) and by the
# SASL_SSL listener (SCRAM-SHA-512, one user with a generated password) of a second broker, the
# SCRAM broker (Kafka 3.9: see "Kafka" below for why; its PLAINTEXT listener is
# SCRAM_KAFKA_BOOTSTRAP_SERVERS), plus a CA that signed nothing (HARNESS_UNRELATED_CA_FILE, the
# "wrong CA"). The SCRAM broker has an authorizer (StandardAuthorizer): topics without ACLs are
# open to everyone; its PLAINTEXT clients (User:ANONYMOUS) are super users and may add ACLs.
# Roles that are members of PG_PASSWORD_ROLE must log in over TCP with a password
# (scram-sha-256); all others keep trust. The fault commands act on the main broker only.
#
# Environment knobs: HARNESS_SKIP_INSTALL_DEPS=1 (caller already ran scripts/install-deps.sh),
# HARNESS_KAFKA_HEAP (default 768m), HARNESS_SCRAM_KAFKA_HEAP (default 384m),
# HARNESS_START_TIMEOUT (seconds, default 90).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly START_TIMEOUT="${HARNESS_START_TIMEOUT:-90}"
readonly KAFKA_HEAP="${HARNESS_KAFKA_HEAP:-768m}"
readonly STOP_TIMEOUT=30
readonly KAFKA_SASL_MECHANISM=SCRAM-SHA-512
readonly SCRAM_KAFKA_HEAP="${HARNESS_SCRAM_KAFKA_HEAP:-384m}"
readonly LOG_TAG=harness

# Logging, ports, pids (common.sh); the test CA (tls.sh); PostgreSQL, its extra instances
# (postgres.sh); the KRaft broker functions fault_broker.sh uses too (kafka.sh); RabbitMQ on
# demand (rabbitmq.sh).
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"
# shellcheck source=lib/tls.sh
source "$SCRIPT_DIR/lib/tls.sh"
# shellcheck source=lib/postgres.sh
source "$SCRIPT_DIR/lib/postgres.sh"
# shellcheck source=lib/kafka.sh
source "$SCRIPT_DIR/lib/kafka.sh"
# shellcheck source=lib/rabbitmq.sh
source "$SCRIPT_DIR/lib/rabbitmq.sh"

# ---------------------------------------------------------------------------------------------
# state (DIR/harness.state) and env (DIR/env)

write_state() {
  local tmp="$DIR/harness.state.tmp"
  cat >"$tmp" <<EOF
PG_OS_USER=$PG_OS_USER
PG_ROOT=$PG_ROOT
PG_PORT=$PG_PORT
KAFKA_PORT=$KAFKA_PORT
KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
KAFKA_SASL_SSL_PORT=$KAFKA_SASL_SSL_PORT
KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
KAFKA_LIBS=$KAFKA_LIBS
SCRAM_KAFKA_PORT=$SCRAM_KAFKA_PORT
SCRAM_KAFKA_CONTROLLER_PORT=$SCRAM_KAFKA_CONTROLLER_PORT
SCRAM_KAFKA_LIBS=$SCRAM_KAFKA_LIBS
PG_MAJOR=$PG_MAJOR
PG_BIN=$PG_BIN
EOF
  mv -f "$tmp" "$DIR/harness.state"
}

write_env() {
  local tmp="$DIR/env.tmp"
  cat >"$tmp" <<EOF
PGHOST=127.0.0.1
PGPORT=$PG_PORT
PGUSER=postgres
PGDATABASE=postgres
PG_BIN=$PG_BIN
PG_CLIENT_BIN=$PG_CLIENT_BIN
PG_MAJOR=$PG_MAJOR
PG_DATA=$PG_ROOT/data
PG_SOCKET_DIR=$PG_ROOT/socket
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
KAFKA_PID=${KAFKA_PID:-0}
PG_PID=${PG_PID:-0}
HARNESS_DIR=$DIR
HARNESS_CA_FILE=$(tls_file ca.crt)
HARNESS_UNRELATED_CA_FILE=$(tls_file unrelated-ca.crt)
PG_PASSWORD_ROLE=$PG_PASSWORD_ROLE
KAFKA_SASL_SSL_BOOTSTRAP_SERVERS=${KAFKA_SASL_SSL_PORT:+127.0.0.1:$KAFKA_SASL_SSL_PORT}
KAFKA_SASL_MECHANISM=$KAFKA_SASL_MECHANISM
KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
SCRAM_KAFKA_BOOTSTRAP_SERVERS=${SCRAM_KAFKA_PORT:+127.0.0.1:$SCRAM_KAFKA_PORT}
SCRAM_KAFKA_PID=${SCRAM_KAFKA_PID:-0}
EOF
  mv -f "$tmp" "$DIR/env"
}

load_state() {
  [[ -f "$DIR/harness.state" ]] || die "$DIR is not a harness directory (no harness.state); run start first"
  PG_OS_USER="" PG_ROOT="" PG_PORT="" KAFKA_PORT="" KAFKA_CONTROLLER_PORT="" KAFKA_LIBS=""
  # Absent from the state of a harness started by an older version of this script.
  KAFKA_SASL_SSL_PORT="" KAFKA_SCRAM_USER="" KAFKA_SCRAM_PASSWORD=""
  SCRAM_KAFKA_PORT="" SCRAM_KAFKA_CONTROLLER_PORT="" SCRAM_KAFKA_LIBS=""
  KAFKA_PID=0 PG_PID=0 SCRAM_KAFKA_PID=0 PG_MAJOR=15 PG_BIN="$PG_CLIENT_BIN"
  # shellcheck disable=SC1091
  source "$DIR/harness.state"
  if [[ -f "$DIR/env" ]]; then
    KAFKA_PID="$(sed -n 's/^KAFKA_PID=//p' "$DIR/env")"
    PG_PID="$(sed -n 's/^PG_PID=//p' "$DIR/env")"
    SCRAM_KAFKA_PID="$(sed -n 's/^SCRAM_KAFKA_PID=//p' "$DIR/env")"
  fi
}

# ---------------------------------------------------------------------------------------------
# Kafka: the main broker ("kafka": DIR/kafka/, DIR/kafka.log, DIR/kafka.out) and the SCRAM
# broker ("scram-kafka", alike), both single-node KRaft broker+controllers on loopback.
#
# Why two: librdkafka before 2.6.1 (Debian 12 has 2.0.2) repeats the client nonce in its SCRAM
# final message; Kafka 4 brokers check the nonce strictly (RFC 5802) and refuse it, Kafka 3.9
# accepts it. So the SASL_SSL listener (SCRAM-SHA-512 over TLS) lives on a Kafka 3.9 broker of
# its own, with a PLAINTEXT listener too for test readers; the main broker stays as it was.

# Writes DIR/NAME/server.properties and formats DIR/NAME/data.
#   $1 NAME  $2 jar folder  $3 PLAINTEXT port  $4 controller port  [$5 SASL_SSL port]
init_broker() {
  local name="$1" libs="$2" port="$3" controller_port="$4" sasl_ssl_port="${5:-}"
  local base="$DIR/$name" listeners=() scram=()
  if [[ -n "$sasl_ssl_port" ]]; then
    listeners=("SASL_SSL://127.0.0.1:$sasl_ssl_port")
    # In KRaft, SCRAM credentials live in the metadata log: the format step writes the first.
    scram=(--add-scram "$KAFKA_SASL_MECHANISM=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]")
  fi
  mkdir -p "$base/data"
  {
    echo "# Single-node KRaft broker+controller of the outbox-relay test harness."
    broker_properties 127.0.0.1 "$port" "$controller_port" "$base/data" 4 "${listeners[@]}"
    if [[ -n "$sasl_ssl_port" ]]; then
      cat <<EOP
# SASL_SSL: SCRAM users over TLS with the certificate the harness CA signed.
listener.name.sasl_ssl.sasl.enabled.mechanisms=$KAFKA_SASL_MECHANISM
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$DIR/tls/kafka-keystore.pem
listener.name.sasl_ssl.ssl.key.password=$(cat "$DIR/tls/kafka-key.password")
# ACLs (for check's topic permission tests): a topic without ACLs stays open to everyone, one
# with ACLs only to the principals they allow. User:ANONYMOUS (the PLAINTEXT and CONTROLLER
# listeners: this broker itself, its controller, the tests' admin clients) may do anything.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true
super.users=User:ANONYMOUS
EOP
    fi
  } >"$base/server.properties"
  format_broker "$base" "$libs" "${scram[@]}"
}

# The main broker, as the fault commands know it.
is_our_kafka() { is_our_broker "$DIR/kafka" "${1:-}"; }
init_kafka() { init_broker kafka "$KAFKA_LIBS" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; }
launch_kafka() {
  KAFKA_PID="$(launch_broker "$DIR/kafka" "$KAFKA_LIBS" "$KAFKA_HEAP" 256m)"
  [[ "$KAFKA_PID" != 0 ]] || die "could not launch the Kafka broker"
}
# A fresh broker hands out producer ids only once its controller has allocated it a block: until
# then an idempotent producer's first request is answered "coordinator load in progress", which
# librdkafka logs as a warning (the demo's relay would print it). Ready = a transactional producer
# initialised, which writes nothing but its own transaction state.
producer_ids_ready() {
  /usr/bin/python3 - "127.0.0.1:$KAFKA_PORT" 2>/dev/null <<'PY'
import sys
from confluent_kafka import Producer
Producer({"bootstrap.servers": sys.argv[1], "transactional.id": "harness-readiness"}).init_transactions(5)
PY
}
wait_kafka() { wait_broker "$DIR/kafka" "$KAFKA_PID" 127.0.0.1 "$KAFKA_PORT" producer_ids_ready; }
start_kafka() {
  if is_our_kafka "$KAFKA_PID"; then return 0; fi
  launch_kafka
  wait_kafka
}
stop_kafka() { stop_broker "$DIR/kafka" "$KAFKA_PID" "${1:-TERM}"; }

# The SCRAM broker. A harness started before it existed has none (no SCRAM_KAFKA_LIBS).
scram_kafka_configured() { [[ -n "$SCRAM_KAFKA_LIBS" ]]; }

# Its SASL_SSL listener answers metadata to the SCRAM user over verified TLS.
sasl_ssl_answers() {
  kcat -L -b "127.0.0.1:$KAFKA_SASL_SSL_PORT" -m 5 -X security.protocol=SASL_SSL \
    -X sasl.mechanisms="$KAFKA_SASL_MECHANISM" -X sasl.username="$KAFKA_SCRAM_USER" \
    -X sasl.password="$KAFKA_SCRAM_PASSWORD" -X ssl.ca.location="$DIR/tls/ca.crt" 2>/dev/null |
    grep -q ' 1 brokers:'
}

init_scram_kafka() {
  init_broker scram-kafka "$SCRAM_KAFKA_LIBS" "$SCRAM_KAFKA_PORT" "$SCRAM_KAFKA_CONTROLLER_PORT" \
    "$KAFKA_SASL_SSL_PORT"
}
launch_scram_kafka() {
  SCRAM_KAFKA_PID="$(launch_broker "$DIR/scram-kafka" "$SCRAM_KAFKA_LIBS" "$SCRAM_KAFKA_HEAP" 256m)"
  [[ "$SCRAM_KAFKA_PID" != 0 ]] || die "could not launch the SCRAM Kafka broker"
}
wait_scram_kafka() {
  wait_broker "$DIR/scram-kafka" "$SCRAM_KAFKA_PID" 127.0.0.1 "$SCRAM_KAFKA_PORT" sasl_ssl_answers
}
stop_scram_kafka() {
  if scram_kafka_configured; then stop_broker "$DIR/scram-kafka" "$SCRAM_KAFKA_PID" "${1:-TERM}"; fi
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_stop() {
  if [[ ! -e "$DIR" ]]; then log "$DIR: nothing to stop"; return 0; fi
  if [[ ! -f "$DIR/harness.state" ]]; then
    # Never rm -rf a directory the harness did not make.
    if [[ -z "$(ls -A "$DIR")" ]]; then rmdir "$DIR"; return 0; fi
    die "$DIR is not a harness directory (no harness.state): not touching it"
  fi
  load_state
  stop_extra_pgs  # their files are under /tmp: removing DIR alone would leave them running
  stop_rabbitmq
  stop_kafka TERM
  stop_scram_kafka TERM
  stop_pg fast
  if [[ -n "$PG_ROOT" && "$PG_ROOT" != "$DIR/pg" && "$PG_ROOT" == */outbox-relay-pg.* ]]; then
    rm -rf "$PG_ROOT"
  fi
  rm -rf "$DIR"
  log "stopped; removed $DIR"
}

cmd_start() {
  local t0; t0=$(now)
  if [[ -f "$DIR/env" && -f "$DIR/harness.state" ]]; then
    load_state
    if [[ "$PG_MAJOR" != "$WANTED_PG_MAJOR" ]]; then
      log "$DIR runs PostgreSQL $PG_MAJOR, $WANTED_PG_MAJOR wanted: starting afresh"
    elif is_our_kafka "$KAFKA_PID" && pid_alive "$PG_PID" &&
       { ! scram_kafka_configured || is_our_broker "$DIR/scram-kafka" "$SCRAM_KAFKA_PID"; }; then
      log "already running in $DIR (PostgreSQL pid $PG_PID, Kafka pid $KAFKA_PID)"
      return 0
    fi
  fi
  if [[ -e "$DIR" && -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
    [[ -f "$DIR/harness.state" ]] || die "$DIR exists, is not empty and is not a harness directory"
    log "stale harness in $DIR: stopping what is left and starting afresh"
    cmd_stop
  fi
  mkdir -p "$DIR"
  chmod 755 "$DIR"

  if [[ "${HARNESS_SKIP_INSTALL_DEPS:-0}" != 1 ]]; then
    "$REPO_ROOT/scripts/install-deps.sh"
  fi
  KAFKA_LIBS="$("$REPO_ROOT/scripts/install-deps.sh" --print-kafka-libs)"
  [[ -f "$KAFKA_LIBS/.complete" ]] || die "Kafka jars missing in $KAFKA_LIBS: run scripts/install-deps.sh"
  SCRAM_KAFKA_LIBS="$("$REPO_ROOT/scripts/install-deps.sh" --print-scram-kafka-libs)"
  [[ -f "$SCRAM_KAFKA_LIBS/.complete" ]] ||
    die "Kafka jars of the SCRAM broker missing in $SCRAM_KAFKA_LIBS: run scripts/install-deps.sh"

  read -r PG_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT SCRAM_KAFKA_PORT SCRAM_KAFKA_CONTROLLER_PORT \
    KAFKA_SASL_SSL_PORT < <(free_ports 6)
  KAFKA_SCRAM_USER="harness-$(random_hex 4)" KAFKA_SCRAM_PASSWORD="$(random_hex)"
  PG_OS_USER="" PG_ROOT="" KAFKA_PID=0 PG_PID=0 SCRAM_KAFKA_PID=0
  PG_MAJOR="$WANTED_PG_MAJOR" PG_BIN=""
  write_state
  make_tls

  # On failure: stop whatever was started, keep DIR (logs) for `stop` to remove.
  trap 'rc=$?; if ((rc != 0)); then log "start failed; stopping what was started (logs kept in $DIR)";
        stop_kafka KILL; stop_scram_kafka KILL; stop_pg immediate; write_env; fi' EXIT

  # The brokers format and boot in the background while PostgreSQL initialises.
  init_kafka
  launch_kafka
  init_scram_kafka
  launch_scram_kafka
  init_pg "$("$REPO_ROOT/scripts/install-deps.sh" --postgres "$PG_MAJOR")"
  write_state
  start_pg
  create_pg_password_role
  write_env
  wait_kafka
  wait_scram_kafka
  write_env
  trap - EXIT

  log "started in $(($(now) - t0))s: PostgreSQL $PG_MAJOR 127.0.0.1:$PG_PORT (pid $PG_PID, TLS optional)," \
      "Kafka 127.0.0.1:$KAFKA_PORT (pid $KAFKA_PID), SCRAM Kafka 127.0.0.1:$KAFKA_SASL_SSL_PORT" \
      "(SASL_SSL, $KAFKA_SASL_MECHANISM; PLAINTEXT 127.0.0.1:$SCRAM_KAFKA_PORT; pid $SCRAM_KAFKA_PID);" \
      "env in $DIR/env"
}

cmd_status() {
  load_state
  local ok=0
  if pid_alive "$PG_PID"; then log "PostgreSQL running (pid $PG_PID, port $PG_PORT)"; else log "PostgreSQL stopped"; ok=1; fi
  if is_our_kafka "$KAFKA_PID"; then log "Kafka running (pid $KAFKA_PID, port $KAFKA_PORT)"; else log "Kafka stopped"; ok=1; fi
  if scram_kafka_configured; then
    if is_our_broker "$DIR/scram-kafka" "$SCRAM_KAFKA_PID"; then
      log "SCRAM Kafka running (pid $SCRAM_KAFKA_PID, SASL_SSL port $KAFKA_SASL_SSL_PORT)"
    else
      log "SCRAM Kafka stopped"; ok=1
    fi
  fi
  return $ok
}

main() {
  (($# >= 2)) || usage
  local cmd="$1"
  resolve_dir "$2"
  case "$cmd" in
    start)
      WANTED_PG_MAJOR="${HARNESS_PG_VERSION:-15}"
      if [[ "${3:-}" == --pg ]]; then WANTED_PG_MAJOR="${4:-}"; fi
      [[ "$WANTED_PG_MAJOR" =~ ^1[3-8]$ ]] || die "--pg: a PostgreSQL major from 13 to 18, not '$WANTED_PG_MAJOR'"
      cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    stop-kafka)
      load_state
      case "${3:-term}" in kill) stop_kafka KILL ;; term) stop_kafka TERM ;; *) usage ;; esac
      log "Kafka stopped" ;;
    start-kafka)
      load_state; start_kafka; write_env; log "Kafka running (pid $KAFKA_PID)" ;;
    restart-kafka)
      load_state; stop_kafka TERM; start_kafka; write_env; log "Kafka restarted (pid $KAFKA_PID)" ;;
    stop-pg)
      load_state; stop_pg "${3:-fast}"; log "PostgreSQL stopped" ;;
    start-pg)
      load_state; start_pg; write_env; log "PostgreSQL running (pid $PG_PID)" ;;
    restart-pg)
      load_state; stop_pg fast; start_pg; write_env; log "PostgreSQL restarted (pid $PG_PID)" ;;
    start-extra-pg)
      (($# >= 3)) || usage
      load_state; cmd_start_extra_pg "$3" "${@:4}" ;;
    stop-extra-pg)
      (($# >= 3)) || usage
      load_state; cmd_stop_extra_pg "$3" ;;
    start-extra-standby)
      (($# >= 4)) || usage
      load_state; cmd_start_extra_standby "$3" "$4" "${5:-}" ;;
    crash-extra-pg)
      (($# >= 3)) || usage
      load_state; cmd_crash_extra_pg "$3" ;;
    promote-extra-pg)
      (($# >= 3)) || usage
      load_state; cmd_promote_extra_pg "$3" ;;
    start-rabbitmq)
      load_state; cmd_start_rabbitmq ;;
    restart-rabbitmq)
      load_state; cmd_restart_rabbitmq ;;
    stop-rabbitmq)
      load_state; stop_rabbitmq; log "RabbitMQ stopped" ;;
    *) usage ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# Real PostgreSQL 15 + a real single-node Kafka (KRaft) on loopback, for the integration tests,
# the fault tests and the demo. Every server lives under one harness directory DIR.
#
#   harness.sh start DIR           start both servers (no-op if DIR's servers are already running)
#   harness.sh stop DIR            stop both (by recorded pid) and remove DIR; ok if already stopped
#   harness.sh status DIR          exit 0 if both are running
#   harness.sh restart-kafka DIR   stop and start the same broker (same ports, same log dir)
#   harness.sh restart-pg DIR      stop (-m fast) and start the same PostgreSQL (same port, data)
#   harness.sh stop-kafka DIR [kill]       SIGTERM (or SIGKILL with "kill") the broker
#   harness.sh start-kafka DIR
#   harness.sh stop-pg DIR [fast|immediate|smart]
#   harness.sh start-pg DIR
#   harness.sh start-extra-pg DIR NAME [key=value ...]   one more PostgreSQL 15 with these
#              postgresql.conf settings (e.g. wal_level=replica); its env in DIR/NAME.env
#   harness.sh stop-extra-pg DIR NAME                     stop it and remove its files
#
# After start, DIR/env holds shell-sourceable KEY=VALUE lines:
#   PGHOST PGPORT PGUSER PGDATABASE PG_BIN PG_DATA PG_SOCKET_DIR
#   KAFKA_BOOTSTRAP_SERVERS KAFKA_PID PG_PID HARNESS_DIR
# (start-*/restart-* rewrite it with the new pids). Logs: DIR/kafka.log, DIR/kafka.out,
# DIR/pg/postgres.log. Internal state: DIR/harness.state.
#
# Environment knobs: HARNESS_SKIP_INSTALL_DEPS=1 (caller already ran scripts/install-deps.sh),
# HARNESS_KAFKA_HEAP (default 768m), HARNESS_START_TIMEOUT (seconds, default 90).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly PG_OS_USER_DEFAULT=outboxpg
readonly START_TIMEOUT="${HARNESS_START_TIMEOUT:-90}"
readonly KAFKA_HEAP="${HARNESS_KAFKA_HEAP:-768m}"
readonly STOP_TIMEOUT=30

log() { printf 'harness: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# helpers

now() { date +%s; }

pid_alive() { [[ -n "${1:-}" && "$1" != 0 ]] && kill -0 "$1" 2>/dev/null; }

# The broker of this DIR: its command line names this DIR's server.properties.
is_our_kafka() {
  local pid="${1:-}"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/kafka/server.properties"
}

# Runs a command as the unprivileged PostgreSQL owner (initdb refuses root).
as_pg() {
  if [[ -n "$PG_OS_USER" ]]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_pg_os_user() {
  if [[ "$(id -u)" -ne 0 ]]; then PG_OS_USER=""; return; fi
  PG_OS_USER="$PG_OS_USER_DEFAULT"
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    # Racing callers: whoever loses sees "already exists"; re-check instead of failing.
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "outbox-relay test PostgreSQL" "$PG_OS_USER" 2>/dev/null ||
      id -u "$PG_OS_USER" >/dev/null 2>&1 || die "could not create system user $PG_OS_USER"
  fi
}

# N distinct free TCP ports on 127.0.0.1, preferably below the ephemeral range so that a
# client's outgoing connection cannot take a port while its server is stopped for a fault test.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
try:
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    lo = 32768
ports, socks = [], []
def try_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    socks.append(s)
    return s.getsockname()[1]
tries = 0
while len(ports) < n and tries < 500 and lo > 20000:
    tries += 1
    p = try_bind(random.randint(20000, lo - 1))
    if p and p not in ports:
        ports.append(p)
while len(ports) < n:
    p = try_bind(0)
    if p not in ports:
        ports.append(p)
print(" ".join(map(str, ports)))
PY
}

port_open() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.close()
PY
}

write_state() {
  local tmp="$DIR/harness.state.tmp"
  cat >"$tmp" <<EOF
PG_OS_USER=$PG_OS_USER
PG_ROOT=$PG_ROOT
PG_PORT=$PG_PORT
KAFKA_PORT=$KAFKA_PORT
KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
KAFKA_LIBS=$KAFKA_LIBS
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
PG_DATA=$PG_ROOT/data
PG_SOCKET_DIR=$PG_ROOT/socket
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
KAFKA_PID=${KAFKA_PID:-0}
PG_PID=${PG_PID:-0}
HARNESS_DIR=$DIR
EOF
  mv -f "$tmp" "$DIR/env"
}

load_state() {
  [[ -f "$DIR/harness.state" ]] || die "$DIR is not a harness directory (no harness.state); run start first"
  PG_OS_USER="" PG_ROOT="" PG_PORT="" KAFKA_PORT="" KAFKA_CONTROLLER_PORT="" KAFKA_LIBS=""
  KAFKA_PID=0 PG_PID=0
  # shellcheck disable=SC1091
  source "$DIR/harness.state"
  if [[ -f "$DIR/env" ]]; then
    KAFKA_PID="$(sed -n 's/^KAFKA_PID=//p' "$DIR/env")"
    PG_PID="$(sed -n 's/^PG_PID=//p' "$DIR/env")"
  fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_data() { printf '%s/data' "$PG_ROOT"; }

init_pg() {
  ensure_pg_os_user
  PG_ROOT="$DIR/pg"
  mkdir -p "$PG_ROOT"
  [[ -n "$PG_OS_USER" ]] && chown "$PG_OS_USER:" "$PG_ROOT"
  chmod 700 "$PG_ROOT"
  # The pg user must reach DIR (e.g. not under root's 0700 home) and the socket path must fit
  # sun_path (107 bytes); otherwise keep the PostgreSQL files in a private dir under /tmp.
  if ! as_pg test -w "$PG_ROOT" || ((${#PG_ROOT} + 24 > 100)); then
    rmdir "$PG_ROOT"
    PG_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/outbox-relay-pg.XXXXXX")"
    [[ -n "$PG_OS_USER" ]] && chown "$PG_OS_USER:" "$PG_ROOT"
    chmod 700 "$PG_ROOT"
    ln -s "$PG_ROOT" "$DIR/pg"
    log "PostgreSQL files in $PG_ROOT (linked from $DIR/pg)"
  fi
  write_state
  as_pg mkdir -p "$PG_ROOT/socket"
  as_pg "$PG_BIN/initdb" -D "$(pg_data)" --username=postgres --auth=trust \
    --encoding=UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1 ||
    { tail -n 30 "$DIR/initdb.log" >&2; die "initdb failed"; }
  as_pg tee -a "$(pg_data)/postgresql.conf" >/dev/null <<EOF

# --- outbox-relay test harness ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT/socket'
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
max_connections = 100
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

start_pg() {
  if [[ -f "$(pg_data)/postmaster.pid" ]] && pid_alive "$(head -n 1 "$(pg_data)/postmaster.pid")"; then
    PG_PID="$(head -n 1 "$(pg_data)/postmaster.pid")"
    return 0
  fi
  if ! as_pg "$PG_BIN/pg_ctl" -D "$(pg_data)" -l "$PG_ROOT/postgres.log" -w -t "$START_TIMEOUT" start \
      >"$DIR/pg_ctl.out" 2>&1; then
    log "PostgreSQL did not start; pg_ctl said:"; cat "$DIR/pg_ctl.out" >&2
    log "tail of $PG_ROOT/postgres.log:"; tail -n 40 "$PG_ROOT/postgres.log" >&2 || true
    return 1
  fi
  PG_PID="$(head -n 1 "$(pg_data)/postmaster.pid")"
}

stop_pg() {
  local mode="${1:-fast}"
  [[ -n "$PG_ROOT" && -d "$(pg_data)" ]] || return 0
  if [[ -f "$(pg_data)/postmaster.pid" ]]; then
    if ! as_pg "$PG_BIN/pg_ctl" -D "$(pg_data)" stop -m "$mode" -w -t "$STOP_TIMEOUT" >/dev/null 2>&1; then
      as_pg "$PG_BIN/pg_ctl" -D "$(pg_data)" stop -m immediate -w -t "$STOP_TIMEOUT" >/dev/null 2>&1 || true
    fi
  fi
  # Last resort, and only for the postmaster this harness recorded.
  if pid_alive "$PG_PID" && tr '\0' ' ' <"/proc/$PG_PID/cmdline" 2>/dev/null | grep -qF "$(pg_data)"; then
    kill -KILL "$PG_PID" 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------------------------------------
# Extra PostgreSQL instances: a server with settings the shared one must not have (wal_level =
# replica for `outbox-relay check`), started and stopped by one test. Own port and data dir
# under /tmp (like init_pg's fallback: reachable by the pg user, short socket path), trust auth
# on 127.0.0.1. DIR/NAME.env: PGHOST PGPORT PGUSER PGDATABASE PG_BIN PG_DATA PG_PID, plus
# EXTRA_PG_NAME EXTRA_PG_ROOT EXTRA_PG_OS_USER for stopping it. `stop DIR` stops those left.

extra_env() { printf '%s/%s.env' "$DIR" "$1"; }

check_extra_name() {
  [[ "$1" =~ ^[A-Za-z0-9_-]+$ ]] || die "bad extra PostgreSQL name '$1' (letters, digits, _ and - only)"
}

cmd_start_extra_pg() {
  local name="$1"; shift
  check_extra_name "$name"
  [[ -f "$DIR/harness.state" ]] || die "$DIR is not a harness directory; run start first"
  local env_file setting
  env_file="$(extra_env "$name")"
  if [[ -f "$env_file" ]]; then
    local old_pid; old_pid="$(sed -n 's/^PG_PID=//p' "$env_file")"
    ! pid_alive "$old_pid" || die "extra PostgreSQL $name already runs (pid $old_pid); stop-extra-pg first"
    cmd_stop_extra_pg "$name"
  fi
  for setting in "$@"; do
    [[ "$setting" =~ ^[a-z_.]+=.*$ ]] || die "bad setting '$setting' (expected key=value)"
  done
  ensure_pg_os_user
  local root port pid
  root="$(mktemp -d "${TMPDIR:-/tmp}/outbox-relay-pg.XXXXXX")"
  if [[ -n "$PG_OS_USER" ]]; then chown "$PG_OS_USER:" "$root"; fi
  chmod 700 "$root"
  read -r port < <(free_ports 1)
  # Written before anything starts, so stop-extra-pg (and stop) can clean up after a failure.
  {
    echo "EXTRA_PG_NAME=$name"
    echo "EXTRA_PG_ROOT=$root"
    echo "EXTRA_PG_OS_USER=$PG_OS_USER"
    echo "PGHOST=127.0.0.1"
    echo "PGPORT=$port"
    echo "PGUSER=postgres"
    echo "PGDATABASE=postgres"
    echo "PG_BIN=$PG_BIN"
    echo "PG_DATA=$root/data"
    echo "PG_PID=0"
  } >"$env_file"
  as_pg mkdir -p "$root/socket"
  if ! as_pg "$PG_BIN/initdb" -D "$root/data" --username=postgres --auth=trust \
      --encoding=UTF8 --no-locale --no-sync >"$DIR/$name.initdb.log" 2>&1; then
    tail -n 30 "$DIR/$name.initdb.log" >&2
    cmd_stop_extra_pg "$name"
    die "initdb of extra PostgreSQL $name failed"
  fi
  {
    printf '\n# --- outbox-relay test harness: extra instance %s ---\n' "$name"
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s/socket'\n" "$port" "$root"
    printf "max_connections = 20\nshared_buffers = '16MB'\nlogging_collector = off\n"
    # The caller's settings come last: PostgreSQL takes a key's last occurrence.
    local value
    for setting in "$@"; do
      value="${setting#*=}"
      printf "%s = '%s'\n" "${setting%%=*}" "${value//\'/\'\'}"
    done
  } | as_pg tee -a "$root/data/postgresql.conf" >/dev/null
  if ! as_pg "$PG_BIN/pg_ctl" -D "$root/data" -l "$root/postgres.log" -w -t "$START_TIMEOUT" start \
      >"$DIR/$name.pg_ctl.out" 2>&1; then
    log "extra PostgreSQL $name did not start; pg_ctl said:"; cat "$DIR/$name.pg_ctl.out" >&2
    tail -n 40 "$root/postgres.log" >&2 || true
    cmd_stop_extra_pg "$name"
    return 1
  fi
  pid="$(head -n 1 "$root/data/postmaster.pid")"
  sed -i "s/^PG_PID=.*/PG_PID=$pid/" "$env_file"
  log "extra PostgreSQL $name running on 127.0.0.1:$port (pid $pid) with ${*:-default settings}; env in $env_file"
}

cmd_stop_extra_pg() {
  local name="$1"
  check_extra_name "$name"
  local env_file root os_user pid
  env_file="$(extra_env "$name")"
  if [[ ! -f "$env_file" ]]; then log "extra PostgreSQL $name: nothing to stop"; return 0; fi
  root="$(sed -n 's/^EXTRA_PG_ROOT=//p' "$env_file")"
  os_user="$(sed -n 's/^EXTRA_PG_OS_USER=//p' "$env_file")"
  pid="$(sed -n 's/^PG_PID=//p' "$env_file")"
  # Never rm -rf a directory this command did not make.
  [[ "$root" == */outbox-relay-pg.* ]] || die "$env_file names no extra PostgreSQL root: not touching it"
  if [[ -f "$root/data/postmaster.pid" ]]; then
    PG_OS_USER="$os_user" as_pg "$PG_BIN/pg_ctl" -D "$root/data" stop -m fast -w -t "$STOP_TIMEOUT" \
        >/dev/null 2>&1 ||
      PG_OS_USER="$os_user" as_pg "$PG_BIN/pg_ctl" -D "$root/data" stop -m immediate -w -t "$STOP_TIMEOUT" \
        >/dev/null 2>&1 || true
  fi
  # Last resort, and only for the postmaster of this data dir.
  if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$root/data"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$root"
  rm -f "$env_file" "$DIR/$name.initdb.log" "$DIR/$name.pg_ctl.out"
  log "extra PostgreSQL $name stopped"
}

stop_extra_pgs() {
  local env_file
  for env_file in "$DIR"/*.env; do
    if [[ -f "$env_file" ]] && grep -q '^EXTRA_PG_NAME=' "$env_file"; then
      cmd_stop_extra_pg "$(sed -n 's/^EXTRA_PG_NAME=//p' "$env_file")"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Kafka

# A short-lived Kafka tool (StorageTool); its log goes to DIR/kafka/tool.log.
kafka_tool() {
  java -Xmx256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -Dkafka.harness.log="$DIR/kafka/tool.log" \
    -cp "$KAFKA_LIBS/*" "$@"
}

# A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with '-'
# (what `kafka.tools.StorageTool random-uuid` prints, without a JVM start).
kafka_cluster_id() {
  python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s); break'
}

init_kafka() {
  mkdir -p "$DIR/kafka/data"
  cat >"$DIR/kafka/server.properties" <<EOF
# Single-node KRaft broker+controller of the outbox-relay test harness.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/kafka/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
EOF
  kafka_tool kafka.tools.StorageTool format -t "$(kafka_cluster_id)" \
    -c "$DIR/kafka/server.properties" >"$DIR/kafka/format.log" 2>&1 </dev/null ||
    { cat "$DIR/kafka/format.log" >&2; die "kafka-storage format failed"; }
}

# Starts the broker detached (own session, all fds redirected) and records its pid.
launch_kafka() {
  local pidfile="$DIR/kafka/kafka.pid"
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 'pidfile=$1 heap=$2 scripts=$3 dir=$4 libs=$5; echo $$ >"$pidfile"
      exec java -Xmx"$heap" -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$scripts/kafka/log4j2.properties" -Dkafka.harness.log="$dir/kafka.log" \
        -cp "$libs/*" kafka.Kafka "$dir/kafka/server.properties"' \
    harness-kafka "$pidfile" "$KAFKA_HEAP" "$SCRIPT_DIR" "$DIR" "$KAFKA_LIBS" \
    </dev/null >>"$DIR/kafka.out" 2>&1 &
  disown $!  # no "Killed" job report from this shell when a fault test kills the broker
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && break
    sleep 0.05
  done
  KAFKA_PID="$(cat "$pidfile" 2>/dev/null || echo 0)"
  [[ "$KAFKA_PID" != 0 ]] || die "could not launch the Kafka broker"
}

kafka_failed() {
  log "Kafka broker $*"
  log "errors in $DIR/kafka.log:"
  grep -E '^\[[^]]*\] (ERROR|FATAL) ' "$DIR/kafka.log" 2>/dev/null | tail -n 10 >&2 || true
  log "tail of $DIR/kafka.log:"; tail -n 25 "$DIR/kafka.log" >&2 2>/dev/null || true
  log "tail of $DIR/kafka.out:"; tail -n 20 "$DIR/kafka.out" >&2 2>/dev/null || true
}

wait_kafka() {
  local deadline=$(($(now) + START_TIMEOUT))
  while true; do
    if ! pid_alive "$KAFKA_PID"; then
      kafka_failed "exited during startup (pid $KAFKA_PID)"; return 1
    fi
    if port_open "$KAFKA_PORT" &&
       kcat -L -b "127.0.0.1:$KAFKA_PORT" -m 5 2>/dev/null | grep -q ' 1 brokers:'; then
      return 0
    fi
    if (($(now) >= deadline)); then
      kafka_failed "did not answer metadata on 127.0.0.1:$KAFKA_PORT within ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
}

start_kafka() {
  if is_our_kafka "$KAFKA_PID"; then return 0; fi
  launch_kafka
  wait_kafka
}

stop_kafka() {
  local signal="${1:-TERM}"
  is_our_kafka "$KAFKA_PID" || return 0
  kill "-$signal" "$KAFKA_PID" 2>/dev/null || true
  local deadline=$(($(now) + STOP_TIMEOUT))
  while pid_alive "$KAFKA_PID"; do
    if (($(now) >= deadline)); then
      log "Kafka broker $KAFKA_PID did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$KAFKA_PID" 2>/dev/null || true
      deadline=$(($(now) + 10))
    fi
    sleep 0.2
  done
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
  stop_kafka TERM
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
    if is_our_kafka "$KAFKA_PID" && pid_alive "$PG_PID"; then
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

  read -r PG_PORT KAFKA_PORT KAFKA_CONTROLLER_PORT < <(free_ports 3)
  PG_OS_USER="" PG_ROOT="" KAFKA_PID=0 PG_PID=0
  write_state

  # On failure: stop whatever was started, keep DIR (logs) for `stop` to remove.
  trap 'rc=$?; if ((rc != 0)); then log "start failed; stopping what was started (logs kept in $DIR)";
        stop_kafka KILL; stop_pg immediate; write_env; fi' EXIT

  # Kafka formats and boots in the background while PostgreSQL initialises.
  init_kafka
  launch_kafka
  init_pg
  write_state
  start_pg
  write_env
  wait_kafka
  write_env
  trap - EXIT

  log "started in $(($(now) - t0))s: PostgreSQL 127.0.0.1:$PG_PORT (pid $PG_PID)," \
      "Kafka 127.0.0.1:$KAFKA_PORT (pid $KAFKA_PID); env in $DIR/env"
}

cmd_status() {
  load_state
  local ok=0
  if pid_alive "$PG_PID"; then log "PostgreSQL running (pid $PG_PID, port $PG_PORT)"; else log "PostgreSQL stopped"; ok=1; fi
  if is_our_kafka "$KAFKA_PID"; then log "Kafka running (pid $KAFKA_PID, port $KAFKA_PORT)"; else log "Kafka stopped"; ok=1; fi
  return $ok
}

main() {
  (($# >= 2)) || usage
  local cmd="$1"
  mkdir -p "$(dirname "$2")"
  DIR="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
  [[ "$DIR" != / && "$(basename "$DIR")" != . && "$(basename "$DIR")" != .. ]] || die "bad DIR: $2"
  case "$cmd" in
    start) cmd_start ;;
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
      cmd_start_extra_pg "$3" "${@:4}" ;;
    stop-extra-pg)
      (($# >= 3)) || usage
      cmd_stop_extra_pg "$3" ;;
    *) usage ;;
  esac
}

main "$@"

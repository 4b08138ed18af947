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
readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly PG_OS_USER_DEFAULT=outboxpg
readonly START_TIMEOUT="${HARNESS_START_TIMEOUT:-90}"
readonly KAFKA_HEAP="${HARNESS_KAFKA_HEAP:-768m}"
readonly STOP_TIMEOUT=30
readonly PG_PASSWORD_ROLE=harness_password_login
readonly KAFKA_SASL_MECHANISM=SCRAM-SHA-512
readonly SCRAM_KAFKA_HEAP="${HARNESS_SCRAM_KAFKA_HEAP:-384m}"

log() { printf 'harness: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# helpers

now() { date +%s; }

pid_alive() { [[ -n "${1:-}" && "$1" != 0 ]] && kill -0 "$1" 2>/dev/null; }

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
KAFKA_SASL_SSL_PORT=$KAFKA_SASL_SSL_PORT
KAFKA_SCRAM_USER=$KAFKA_SCRAM_USER
KAFKA_SCRAM_PASSWORD=$KAFKA_SCRAM_PASSWORD
KAFKA_LIBS=$KAFKA_LIBS
SCRAM_KAFKA_PORT=$SCRAM_KAFKA_PORT
SCRAM_KAFKA_CONTROLLER_PORT=$SCRAM_KAFKA_CONTROLLER_PORT
SCRAM_KAFKA_LIBS=$SCRAM_KAFKA_LIBS
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
  KAFKA_PID=0 PG_PID=0 SCRAM_KAFKA_PID=0
  # shellcheck disable=SC1091
  source "$DIR/harness.state"
  if [[ -f "$DIR/env" ]]; then
    KAFKA_PID="$(sed -n 's/^KAFKA_PID=//p' "$DIR/env")"
    PG_PID="$(sed -n 's/^PG_PID=//p' "$DIR/env")"
    SCRAM_KAFKA_PID="$(sed -n 's/^SCRAM_KAFKA_PID=//p' "$DIR/env")"
  fi
}

# ---------------------------------------------------------------------------------------------
# TLS material (DIR/tls): made afresh by every `start`, valid for a week, never reused.

# DIR/tls/NAME if it exists ("" for a harness started before TLS existed).
tls_file() { if [[ -f "$DIR/tls/$1" ]]; then printf '%s/tls/%s' "$DIR" "$1"; fi; }

# Random hex (2 characters per byte): SCRAM user names and passwords, quoted nowhere.
random_hex() { openssl rand -hex "${1:-16}"; }

make_tls() {
  local tls="$DIR/tls"
  mkdir -p "$tls"
  chmod 755 "$tls"  # certificates are public; every key file is created 0600
  cat >"$tls/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  # P-256 keys: clients that negotiate TLS by default (libpq's sslmode=prefer) pay next to
  # nothing for the handshake.
  local new_key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  if ! (
    set -e
    umask 077
    openssl req -x509 -new -config "$tls/openssl.cnf" -extensions ca -days 7 "${new_key[@]}" \
      -subj "/CN=outbox-relay harness CA $(random_hex 4)" -keyout "$tls/ca.key" -out "$tls/ca.crt"
    openssl req -x509 -new -config "$tls/openssl.cnf" -extensions ca -days 7 "${new_key[@]}" \
      -subj "/CN=outbox-relay harness unrelated CA $(random_hex 4)" \
      -keyout "$tls/unrelated-ca.key" -out "$tls/unrelated-ca.crt"
    openssl req -new -config "$tls/openssl.cnf" "${new_key[@]}" -subj "/CN=localhost" \
      -keyout "$tls/server.key" -out "$tls/server.csr"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
      -set_serial "0x$(random_hex 8)" -days 7 -extfile "$tls/openssl.cnf" -extensions server \
      -out "$tls/server.crt"
    # Kafka reads a PEM keystore file only with an encrypted PKCS#8 key and ssl.key.password,
    # and Java 17 decrypts no PBES2 key: PKCS#12's SHA-1/3DES it is, for a throwaway key.
    random_hex >"$tls/kafka-key.password"
    openssl pkcs8 -topk8 -in "$tls/server.key" -v1 PBE-SHA1-3DES \
      -passout "file:$tls/kafka-key.password" -out "$tls/kafka-keystore.pem"
    cat "$tls/server.crt" >>"$tls/kafka-keystore.pem"
  ) >"$tls/openssl.log" 2>&1; then
    cat "$tls/openssl.log" >&2
    die "could not make the test CA and certificates"
  fi
  chmod 644 "$tls/ca.crt" "$tls/unrelated-ca.crt" "$tls/server.crt"
  rm -f "$tls/server.csr" "$tls/unrelated-ca.key"  # the unrelated CA never signs anything
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
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
  # PostgreSQL refuses a key others can read: the copies belong to the server's user, 0600.
  local file
  for file in server.crt server.key; do
    as_pg tee "$(pg_data)/$file" <"$DIR/tls/$file" >/dev/null
  done
  as_pg chmod 600 "$(pg_data)/server.key"
  # The first matching line wins: members of PG_PASSWORD_ROLE authenticate with a password,
  # everyone else keeps initdb's trust lines.
  as_pg sed -i "1i host all +$PG_PASSWORD_ROLE 127.0.0.1/32 scram-sha-256" "$(pg_data)/pg_hba.conf"
}

# The group role named by the password line of pg_hba.conf; once, on the fresh cluster.
create_pg_password_role() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE $PG_PASSWORD_ROLE NOLOGIN" >"$DIR/psql.out" 2>&1 ||
    { cat "$DIR/psql.out" >&2; die "could not create role $PG_PASSWORD_ROLE"; }
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
# Kafka: the main broker ("kafka": DIR/kafka/, DIR/kafka.log, DIR/kafka.out) and the SCRAM
# broker ("scram-kafka", alike), both single-node KRaft broker+controllers on loopback.
#
# Why two: librdkafka before 2.6.1 (Debian 12 has 2.0.2) repeats the client nonce in its SCRAM
# final message; Kafka 4 brokers check the nonce strictly (RFC 5802) and refuse it, Kafka 3.9
# accepts it. So the SASL_SSL listener (SCRAM-SHA-512 over TLS) lives on a Kafka 3.9 broker of
# its own, with a PLAINTEXT listener too for test readers; the main broker stays as it was.

# A short-lived Kafka tool (StorageTool) from jar folder $1; its log goes to DIR/kafka/tool.log.
kafka_tool() {
  local libs="$1"; shift
  java -Xmx256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -Dkafka.harness.log="$DIR/kafka/tool.log" \
    -cp "$libs/*" "$@"
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

# Writes DIR/NAME/server.properties and formats DIR/NAME/data.
#   $1 NAME  $2 jar folder  $3 PLAINTEXT port  $4 controller port  [$5 SASL_SSL port]
init_broker() {
  local name="$1" libs="$2" port="$3" controller_port="$4" sasl_ssl_port="${5:-}"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  local scram=()
  if [[ -n "$sasl_ssl_port" ]]; then
    listeners+=",SASL_SSL://127.0.0.1:$sasl_ssl_port"
    advertised+=",SASL_SSL://127.0.0.1:$sasl_ssl_port"
    protocols+=",SASL_SSL:SASL_SSL"
    # In KRaft, SCRAM credentials live in the metadata log: the format step writes the first.
    scram=(--add-scram "$KAFKA_SASL_MECHANISM=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]")
  fi
  mkdir -p "$DIR/$name/data"
  {
    cat <<EOF
# Single-node KRaft broker+controller of the outbox-relay test harness.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$DIR/$name/data
num.io.threads=4
EOF
    cat "$SCRIPT_DIR/kafka/single-node.properties"
    if [[ -n "$sasl_ssl_port" ]]; then
      cat <<EOF
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
EOF
    fi
  } >"$DIR/$name/server.properties"
  kafka_tool "$libs" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" \
    -c "$DIR/$name/server.properties" "${scram[@]}" >"$DIR/$name/format.log" 2>&1 </dev/null ||
    { cat "$DIR/$name/format.log" >&2; die "kafka-storage format of $name failed"; }
}

# The broker NAME of this DIR: its command line names DIR/NAME/server.properties.
is_our_broker() {
  local name="$1" pid="${2:-}"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DIR/$name/server.properties"
}

# Starts broker NAME detached (own session, all fds redirected); prints its pid.
#   $1 NAME  $2 jar folder  $3 heap
launch_broker() {
  local name="$1" libs="$2" heap="$3" pidfile="$DIR/$1/kafka.pid"
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 'pidfile=$1 heap=$2 scripts=$3 dir=$4 libs=$5 name=$6; echo $$ >"$pidfile"
      exec java -Xmx"$heap" -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$scripts/kafka/log4j2.properties" -Dkafka.harness.log="$dir/$name.log" \
        -cp "$libs/*" kafka.Kafka "$dir/$name/server.properties"' \
    "harness-$name" "$pidfile" "$heap" "$SCRIPT_DIR" "$DIR" "$libs" "$name" \
    </dev/null >>"$DIR/$name.out" 2>&1 &
  disown $!  # no "Killed" job report from this shell when a fault test kills the broker
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && break
    sleep 0.05
  done
  cat "$pidfile" 2>/dev/null || echo 0
}

broker_failed() {
  local name="$1"; shift
  log "Kafka broker $name $*"
  log "errors in $DIR/$name.log:"
  grep -E '^\[[^]]*\] (ERROR|FATAL) ' "$DIR/$name.log" 2>/dev/null | tail -n 10 >&2 || true
  log "tail of $DIR/$name.log:"; tail -n 25 "$DIR/$name.log" >&2 2>/dev/null || true
  log "tail of $DIR/$name.out:"; tail -n 20 "$DIR/$name.out" >&2 2>/dev/null || true
}

# Waits until broker NAME (pid $2) answers metadata on 127.0.0.1:$3 and `$4` (a command, if
# given) succeeds.
wait_broker() {
  local name="$1" pid="$2" port="$3" ready_check="${4:-true}"
  local deadline=$(($(now) + START_TIMEOUT))
  while true; do
    if ! pid_alive "$pid"; then
      broker_failed "$name" "exited during startup (pid $pid)"; return 1
    fi
    if port_open "$port" && kcat -L -b "127.0.0.1:$port" -m 5 2>/dev/null | grep -q ' 1 brokers:' &&
       "$ready_check"; then
      return 0
    fi
    if (($(now) >= deadline)); then
      broker_failed "$name" "did not answer on 127.0.0.1:$port (and $ready_check) within ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
}

stop_broker() {
  local name="$1" pid="$2" signal="${3:-TERM}"
  is_our_broker "$name" "$pid" || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  local deadline=$(($(now) + STOP_TIMEOUT))
  while pid_alive "$pid"; do
    if (($(now) >= deadline)); then
      log "Kafka broker $name ($pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(($(now) + 10))
    fi
    sleep 0.2
  done
}

# The main broker, as the fault commands know it.
is_our_kafka() { is_our_broker kafka "${1:-}"; }
init_kafka() { init_broker kafka "$KAFKA_LIBS" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; }
launch_kafka() {
  KAFKA_PID="$(launch_broker kafka "$KAFKA_LIBS" "$KAFKA_HEAP")"
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
wait_kafka() { wait_broker kafka "$KAFKA_PID" "$KAFKA_PORT" producer_ids_ready; }
start_kafka() {
  if is_our_kafka "$KAFKA_PID"; then return 0; fi
  launch_kafka
  wait_kafka
}
stop_kafka() { stop_broker kafka "$KAFKA_PID" "${1:-TERM}"; }

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
  SCRAM_KAFKA_PID="$(launch_broker scram-kafka "$SCRAM_KAFKA_LIBS" "$SCRAM_KAFKA_HEAP")"
  [[ "$SCRAM_KAFKA_PID" != 0 ]] || die "could not launch the SCRAM Kafka broker"
}
wait_scram_kafka() { wait_broker scram-kafka "$SCRAM_KAFKA_PID" "$SCRAM_KAFKA_PORT" sasl_ssl_answers; }
stop_scram_kafka() {
  if scram_kafka_configured; then stop_broker scram-kafka "$SCRAM_KAFKA_PID" "${1:-TERM}"; fi
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
    if is_our_kafka "$KAFKA_PID" && pid_alive "$PG_PID" &&
       { ! scram_kafka_configured || is_our_broker scram-kafka "$SCRAM_KAFKA_PID"; }; then
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
  init_pg
  write_state
  start_pg
  create_pg_password_role
  write_env
  wait_kafka
  wait_scram_kafka
  write_env
  trap - EXIT

  log "started in $(($(now) - t0))s: PostgreSQL 127.0.0.1:$PG_PORT (pid $PG_PID, TLS optional)," \
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
    if is_our_broker scram-kafka "$SCRAM_KAFKA_PID"; then
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

# shellcheck shell=bash
# The harness's PostgreSQL: the shared cluster (DIR/pg, or a private dir under /tmp linked from
# there) and extra instances a single test starts and stops. Sourced by harness.sh after
# common.sh; uses DIR, PG_ROOT, PG_PORT, PG_PID, PG_OS_USER, PG_BIN (the server's binaries),
# START_TIMEOUT, the TLS material (tls.sh) and the harness's write_state.

# psql: Debian's 15 talks to servers 13 to 18 (the npm builds of the others have no psql).
readonly PG_CLIENT_BIN=/usr/lib/postgresql/15/bin
readonly PG_OS_USER_DEFAULT=outboxpg
readonly PG_PASSWORD_ROLE=harness_password_login

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

pg_data() { printf '%s/data' "$PG_ROOT"; }

# init_pg <bin folder of the server's major (scripts/install-deps.sh --postgres)>
init_pg() {
  local server_bin="$1"
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
  PG_BIN="$server_bin"
  if [[ "$server_bin" != "$PG_CLIENT_BIN" ]]; then
    # A fetched build lives in root's cache, which the unprivileged user may not reach: it runs
    # a copy (bin, lib, share: ~60 MB) kept with the cluster's files.
    cp -a "$(dirname "$server_bin")" "$PG_ROOT/install"
    PG_BIN="$PG_ROOT/install/bin"
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
  "$PG_CLIENT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
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

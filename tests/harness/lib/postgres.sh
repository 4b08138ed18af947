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

# new_extra <name> [port]: a root under /tmp the pg user owns and a free port, or `port`
# (EXTRA_ROOT, EXTRA_PORT); DIR/NAME.env is written before anything starts, so stop-extra-pg can
# clean up after a failure.
new_extra() {
  local name="$1" port="${2:-}" env_file
  env_file="$(extra_env "$name")"
  if [[ -f "$env_file" ]]; then
    local old_pid; old_pid="$(sed -n 's/^PG_PID=//p' "$env_file")"
    ! pid_alive "$old_pid" || die "extra PostgreSQL $name already runs (pid $old_pid); stop-extra-pg first"
    cmd_stop_extra_pg "$name"
  fi
  ensure_pg_os_user
  EXTRA_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/outbox-relay-pg.XXXXXX")"
  if [[ -n "$PG_OS_USER" ]]; then chown "$PG_OS_USER:" "$EXTRA_ROOT"; fi
  chmod 700 "$EXTRA_ROOT"
  if [[ -n "$port" ]]; then
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port '$port'"
    EXTRA_PORT="$port"
  else
    read -r EXTRA_PORT < <(free_ports 1)
  fi
  {
    echo "EXTRA_PG_NAME=$name"
    echo "EXTRA_PG_ROOT=$EXTRA_ROOT"
    echo "EXTRA_PG_OS_USER=$PG_OS_USER"
    echo "PGHOST=127.0.0.1"
    echo "PGPORT=$EXTRA_PORT"
    echo "PGUSER=postgres"
    echo "PGDATABASE=postgres"
    echo "PG_BIN=$PG_BIN"
    echo "PG_DATA=$EXTRA_ROOT/data"
    echo "PG_PID=0"
  } >"$env_file"
  as_pg mkdir -p "$EXTRA_ROOT/socket"
}

# launch_extra <name> <what it is, for the log>: starts EXTRA_ROOT's server, records its pid.
launch_extra() {
  local name="$1" what="$2" pid
  if ! as_pg "$PG_BIN/pg_ctl" -D "$EXTRA_ROOT/data" -l "$EXTRA_ROOT/postgres.log" -w -t "$START_TIMEOUT" start \
      >"$DIR/$name.pg_ctl.out" 2>&1; then
    log "extra PostgreSQL $name did not start; pg_ctl said:"; cat "$DIR/$name.pg_ctl.out" >&2
    tail -n 40 "$EXTRA_ROOT/postgres.log" >&2 || true
    cmd_stop_extra_pg "$name"
    return 1
  fi
  pid="$(head -n 1 "$EXTRA_ROOT/data/postmaster.pid")"
  sed -i "s/^PG_PID=.*/PG_PID=$pid/" "$(extra_env "$name")"
  log "extra PostgreSQL $name running on 127.0.0.1:$EXTRA_PORT (pid $pid), $what; env in $(extra_env "$name")"
}

# extra_value <name> <key>: a value of DIR/NAME.env.
extra_value() {
  local env_file; env_file="$(extra_env "$1")"
  [[ -f "$env_file" ]] || die "no extra PostgreSQL $1 in $DIR"
  sed -n "s/^$2=//p" "$env_file"
}

# psql_extra <name> [psql args...]: psql as postgres on an extra instance, stopping at the first error.
psql_extra() {
  local name="$1"; shift
  "$PG_CLIENT_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(extra_value "$name" PGPORT)" \
    -U postgres -d postgres "$@"
}

cmd_start_extra_pg() {
  local name="$1"; shift
  check_extra_name "$name"
  [[ -f "$DIR/harness.state" ]] || die "$DIR is not a harness directory; run start first"
  local setting
  for setting in "$@"; do
    [[ "$setting" =~ ^[a-z_.]+=.*$ ]] || die "bad setting '$setting' (expected key=value)"
  done
  new_extra "$name"
  if ! as_pg "$PG_BIN/initdb" -D "$EXTRA_ROOT/data" --username=postgres --auth=trust \
      --encoding=UTF8 --no-locale --no-sync >"$DIR/$name.initdb.log" 2>&1; then
    tail -n 30 "$DIR/$name.initdb.log" >&2
    cmd_stop_extra_pg "$name"
    die "initdb of extra PostgreSQL $name failed"
  fi
  {
    printf '\n# --- outbox-relay test harness: extra instance %s ---\n' "$name"
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s/socket'\n" "$EXTRA_PORT" "$EXTRA_ROOT"
    printf "max_connections = 20\nshared_buffers = '16MB'\nlogging_collector = off\n"
    # The caller's settings come last: PostgreSQL takes a key's last occurrence.
    local value
    for setting in "$@"; do
      value="${setting#*=}"
      printf "%s = '%s'\n" "${setting%%=*}" "${value//\'/\'\'}"
    done
  } | as_pg tee -a "$EXTRA_ROOT/data/postgresql.conf" >/dev/null
  launch_extra "$name" "settings: ${*:-defaults}"
}

# A physical standby of extra instance PRIMARY, the way an HA setup (Patroni, a cloud's) keeps
# one: streaming through a physical slot named after it (NAME with - as _), synchronous
# (synchronous_standby_names: no acknowledged commit is lost with the primary), with
# hot_standby_feedback; from PostgreSQL 17 it also synchronises the primary's failover slots
# (sync_replication_slots), and the primary's synchronized_standby_slots holds logical
# walsenders back until the standby has the WAL. Made with the low-level backup API and a
# file copy: the npm builds of 13, 14 and 16-18 have no pg_basebackup. Returns once it streams.
cmd_start_extra_standby() {
  local name="$1" primary="$2" port="${3:-}"
  check_extra_name "$name"
  check_extra_name "$primary"
  local primary_port primary_root slot="${name//-/_}" backup_start backup_stop
  primary_port="$(extra_value "$primary" PGPORT)"
  primary_root="$(extra_value "$primary" EXTRA_PG_ROOT)"
  if ((PG_MAJOR >= 15)); then
    backup_start="pg_backup_start('$slot', true)" backup_stop="pg_backup_stop(true)"
  else
    backup_start="pg_start_backup('$slot', true, false)" backup_stop="pg_stop_backup(false, true)"
  fi
  new_extra "$name" "$port"
  # One session from start to stop (a non-exclusive backup ends with its session); the copy runs
  # in between, by psql's shell escape.
  if ! psql_extra "$primary" >"$DIR/$name.backup.out" 2>&1 <<SQL
SELECT 1 FROM pg_create_physical_replication_slot('$slot', true);
SELECT 1 FROM $backup_start;
\! cp -a $primary_root/data $EXTRA_ROOT/data
\o $EXTRA_ROOT/backup_label
SELECT labelfile FROM $backup_stop;
\o
SQL
  then
    cat "$DIR/$name.backup.out" >&2
    cmd_stop_extra_pg "$name"
    die "the base backup of $primary for standby $name failed"
  fi
  local data="$EXTRA_ROOT/data"
  # What a base backup leaves out: the primary's pid file, slots and WAL (the standby streams
  # it from the backup's start through its slot).
  rm -rf "$data/postmaster.pid" "$data/postmaster.opts" "$data"/pg_replslot/*
  find "$data/pg_wal" -maxdepth 1 -type f -delete
  rm -f "$data"/pg_wal/archive_status/*
  mv "$EXTRA_ROOT/backup_label" "$data/backup_label"
  # The primary's own replication settings (ALTER SYSTEM) name this standby's peers; promoted
  # with them, the copy would wait for a synchronous standby that is itself.
  sed -i '/^synchronous_standby_names\|^synchronized_standby_slots/d' "$data/postgresql.auto.conf"
  touch "$data/standby.signal"
  {
    printf '\n# --- outbox-relay test harness: standby %s of %s ---\n' "$name" "$primary"
    printf "port = %s\nunix_socket_directories = '%s/socket'\n" "$EXTRA_PORT" "$EXTRA_ROOT"
    printf "primary_conninfo = 'host=127.0.0.1 port=%s user=postgres dbname=postgres application_name=%s'\n" \
      "$primary_port" "$slot"
    printf "primary_slot_name = '%s'\nhot_standby = on\nhot_standby_feedback = on\n" "$slot"
    if ((PG_MAJOR >= 17)); then printf "sync_replication_slots = on\n"; fi
  } >>"$data/postgresql.conf"
  if [[ -n "$PG_OS_USER" ]]; then chown -R "$PG_OS_USER:" "$data"; fi
  launch_extra "$name" "standby of $primary"
  local deadline=$(($(now) + START_TIMEOUT))
  until [[ "$(psql_extra "$primary" -c \
      "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$slot' AND state = 'streaming'")" == 1 ]]; do
    (($(now) < deadline)) || die "standby $name does not stream from $primary after ${START_TIMEOUT}s"
    sleep 0.2
  done
  {
    echo "ALTER SYSTEM SET synchronous_standby_names = '\"$slot\"';"
    if ((PG_MAJOR >= 17)); then echo "ALTER SYSTEM SET synchronized_standby_slots = '$slot';"; fi
    echo "SELECT pg_reload_conf();"
  } | psql_extra "$primary" >/dev/null || die "could not make $name the synchronous standby of $primary"
  log "standby $name streams from $primary (synchronous, slot $slot)"
}

# crash-extra-pg: an immediate stop (no shutdown checkpoint, clients cut off), files kept.
cmd_crash_extra_pg() {
  local name="$1"
  check_extra_name "$name"
  as_pg "$PG_BIN/pg_ctl" -D "$(extra_value "$name" PG_DATA)" stop -m immediate -w -t "$STOP_TIMEOUT" \
    >/dev/null || die "could not stop extra PostgreSQL $name"
  log "extra PostgreSQL $name stopped (immediate)"
}

cmd_promote_extra_pg() {
  local name="$1"
  check_extra_name "$name"
  as_pg "$PG_BIN/pg_ctl" -D "$(extra_value "$name" PG_DATA)" promote -w -t "$START_TIMEOUT" \
    >/dev/null || die "could not promote extra PostgreSQL $name"
  log "extra PostgreSQL $name promoted"
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
  rm -f "$env_file" "$DIR/$name".{initdb.log,pg_ctl.out,backup.out}
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

# shellcheck shell=bash
# Single-node KRaft Kafka brokers (broker and controller in one JVM), as harness.sh and
# fault_broker.sh run them. Sourced after common.sh; uses SCRIPT_DIR (tests/harness, where
# kafka/ holds the settings and the log4j2 configuration) and START_TIMEOUT.
#
# A broker is named by its base path BASE (e.g. DIR/kafka): BASE/server.properties,
# BASE/kafka.pid, BASE/format.log (storage format), BASE.log (the broker's log4j log) and
# BASE.out (its stdout and stderr). Its processes are found by the path of server.properties on
# their command line, so that a pid reused by another process is never signalled.

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

# Prints the settings of a broker: PLAINTEXT listener on $1:$2, CONTROLLER on 127.0.0.1:$3,
# data in $4, $5 I/O threads, then what every test broker shares (kafka/single-node.properties).
# Further arguments are more listeners, PROTOCOL://HOST:PORT, each named after its security
# protocol (SASL_SSL://127.0.0.1:9094). The caller may append settings: the last of a key wins.
broker_properties() {
  local host="$1" port="$2" controller_port="$3" log_dirs="$4" io_threads="$5"; shift 5
  local listeners="PLAINTEXT://$host:$port,CONTROLLER://127.0.0.1:$controller_port"
  local advertised="PLAINTEXT://$host:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  local listener
  for listener in "$@"; do
    listeners+=",$listener"
    advertised+=",$listener"
    protocols+=",${listener%%:*}:${listener%%:*}"
  done
  cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$log_dirs
num.io.threads=$io_threads
EOF
  cat "$SCRIPT_DIR/kafka/single-node.properties"
}

# Formats the storage of broker BASE $1 (a new cluster id) as BASE/server.properties says, with
# the jars in folder $2; further arguments go to `StorageTool format` (e.g. --add-scram).
format_broker() {
  local base="$1" libs="$2"; shift 2
  # The tool's log4j log and its output share BASE/format.log; both append.
  java -Xmx256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
    -Dkafka.harness.log="$base/format.log" -cp "$libs/*" \
    kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$base/server.properties" "$@" \
    >>"$base/format.log" 2>&1 </dev/null ||
    { tail -n 30 "$base/format.log" >&2; die "kafka-storage format of ${base##*/} failed"; }
}

# Exit 0 if pid $2 is broker BASE $1: its command line names BASE/server.properties.
is_our_broker() {
  local base="$1" pid="${2:-}"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$base/server.properties"
}

# Starts broker BASE $1 detached (own session, all fds redirected) with the jars in folder $2,
# maximum heap $3 and initial heap $4; prints its pid (0 if it did not start). Further arguments
# are a command that runs the JVM (e.g. ip netns exec NETNS).
launch_broker() {
  local base="$1" libs="$2" heap="$3" initial_heap="$4"; shift 4
  local pidfile="$base/kafka.pid"
  rm -f "$pidfile"
  # The pid written is the JVM's: the inner bash, and the command in front of java, replace
  # themselves by exec.
  # shellcheck disable=SC2016  # expanded by the inner bash
  setsid bash -c 'pidfile=$1 base=$2 libs=$3 heap=$4 initial_heap=$5 scripts=$6; shift 6
      echo $$ >"$pidfile"
      exec "$@" java -Xmx"$heap" -Xms"$initial_heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$scripts/kafka/log4j2.properties" -Dkafka.harness.log="$base.log" \
        -cp "$libs/*" kafka.Kafka "$base/server.properties"' \
    "$LOG_TAG-${base##*/}" "$pidfile" "$base" "$libs" "$heap" "$initial_heap" "$SCRIPT_DIR" "$@" \
    </dev/null >>"$base.out" 2>&1 &
  disown $!  # no "Killed" job report from this shell when a fault test kills the broker
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && break
    sleep 0.05
  done
  cat "$pidfile" 2>/dev/null || echo 0
}

# Logs why broker BASE $1 failed ($2...) and the tails of its logs.
broker_failed() {
  local base="$1"; shift
  log "Kafka broker ${base##*/} $*"
  log "errors in $base.log:"
  grep -E '^\[[^]]*\] (ERROR|FATAL) ' "$base.log" 2>/dev/null | tail -n 10 >&2 || true
  log "tail of $base.log:"; tail -n 25 "$base.log" >&2 2>/dev/null || true
  log "tail of $base.out:"; tail -n 20 "$base.out" >&2 2>/dev/null || true
}

# Waits until broker BASE $1 (pid $2) answers metadata on $3:$4 and `$5` (a command, if given)
# succeeds; up to START_TIMEOUT seconds. Returns 1 (after logging why) if it does not.
wait_broker() {
  local base="$1" pid="$2" host="$3" port="$4" ready_check="${5:-true}"
  local deadline=$(($(now) + START_TIMEOUT))
  while true; do
    if ! pid_alive "$pid"; then
      broker_failed "$base" "exited during startup (pid $pid)"; return 1
    fi
    # The port check first: kcat waits its full timeout for a port nobody listens on.
    if port_open "$host" "$port" && kcat -L -b "$host:$port" -m 5 2>/dev/null | grep -q ' 1 brokers:' &&
       "$ready_check"; then
      return 0
    fi
    if (($(now) >= deadline)); then
      broker_failed "$base" "did not answer on $host:$port (and $ready_check) within ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
}

# Stops broker BASE $1 (pid $2) with signal $3 (default TERM), SIGKILL after STOP_TIMEOUT
# seconds; does nothing if pid $2 is not that broker.
stop_broker() {
  local base="$1" pid="$2" signal="${3:-TERM}"
  is_our_broker "$base" "$pid" || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  local deadline=$(($(now) + STOP_TIMEOUT))
  while pid_alive "$pid"; do
    if (($(now) >= deadline)); then
      log "Kafka broker ${base##*/} ($pid) did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$(($(now) + 10))
    fi
    sleep 0.2
  done
}

#!/usr/bin/env bash
# A Kafka broker the fault tests can cut off from the relay or starve of disk: a single-node
# KRaft broker in a network namespace of its own, reached from the root namespace over a veth
# pair, optionally with its log dir on a small tmpfs. Needs root (ip netns, mount).
#
#   fault_broker.sh start DIR [--log-dir-size SIZE] [--property KEY=VALUE]...
#                                  namespace + veth + broker; DIR/env. Each --property is
#                                  added to (and overrides) the broker's server.properties
#   fault_broker.sh stop DIR       broker (by recorded pid), tmpfs, namespace; removes DIR.
#                                  Removes only what start made; ok if already stopped
#   fault_broker.sh partition DIR  drop every packet between the namespaces, both ways
#                                  (blackhole qdisc on both veth ends: connections hang, as in a
#                                  real partition, instead of being refused)
#   fault_broker.sh heal DIR       undo partition
#   fault_broker.sh restart DIR    stop (SIGTERM, SIGKILL after 30 s) and start the same broker
#   fault_broker.sh fill DIR       fill the log dir's tmpfs (start with --log-dir-size)
#   fault_broker.sh free DIR       remove what fill wrote
#   fault_broker.sh status DIR     exit 0 if the broker runs
#
# Each start makes a namespace obr<8 hex> and a veth pair obr<8 hex>h (root side) /
# obr<8 hex>n (namespace side) on a free 10.213.x.y/30, so parallel runs never collide. The
# broker listens on the namespace's veth address only (PLAINTEXT) and on the namespace's
# 127.0.0.1 (CONTROLLER). DIR/env: KAFKA_BOOTSTRAP_SERVERS FAULT_BROKER_NETNS FAULT_BROKER_PID.
# Logs: DIR/kafka.log, DIR/kafka.out. Uses the harness's Kafka jars and log4j2 configuration.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly KAFKA_PORT=9092 CONTROLLER_PORT=9093
readonly START_TIMEOUT=90 STOP_TIMEOUT=30
readonly KAFKA_HEAP="${FAULT_BROKER_HEAP:-512m}"
readonly LOG_TAG=fault_broker

# The harness's logging and pid helpers (common.sh) and its KRaft broker functions (kafka.sh).
# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"
# shellcheck source=lib/kafka.sh
source "$SCRIPT_DIR/lib/kafka.sh"

# The broker's base path (lib/kafka.sh): DIR/kafka/ (settings, pid), DIR/kafka.log, DIR/kafka.out.
broker() { printf '%s/kafka' "$DIR"; }

write_state() {
  cat >"$DIR/state.tmp" <<EOF
NETNS=$NETNS
HOST_IF=$HOST_IF
NS_IF=$NS_IF
HOST_ADDR=$HOST_ADDR
BROKER_ADDR=$BROKER_ADDR
DISK=$DISK
TMPFS=$TMPFS
KAFKA_LIBS=$KAFKA_LIBS
KAFKA_PID=$KAFKA_PID
EOF
  mv -f "$DIR/state.tmp" "$DIR/state"
  cat >"$DIR/env.tmp" <<EOF
KAFKA_BOOTSTRAP_SERVERS=$BROKER_ADDR:$KAFKA_PORT
FAULT_BROKER_NETNS=$NETNS
FAULT_BROKER_PID=$KAFKA_PID
EOF
  mv -f "$DIR/env.tmp" "$DIR/env"
}

load_state() {
  [[ -f "$DIR/state" ]] || die "$DIR is not a fault broker directory (no state); run start first"
  # shellcheck disable=SC1091
  source "$DIR/state"
}

in_netns() { ip netns exec "$NETNS" "$@"; }

# A 10.213.x.y/30 no interface of the root namespace has an address in.
pick_subnet() {
  local used third fourth try
  used="$(ip -o -4 addr show | awk '{print $4}' | cut -d/ -f1)"
  for ((try = 0; try < 200; try++)); do
    third=$((RANDOM % 256))
    fourth=$((RANDOM % 64 * 4))
    if ! grep -qE "^10\.213\.$third\.($fourth|$((fourth + 1))|$((fourth + 2))|$((fourth + 3)))$" <<<"$used"; then
      HOST_ADDR="10.213.$third.$((fourth + 1))"
      BROKER_ADDR="10.213.$third.$((fourth + 2))"
      return 0
    fi
  done
  die "no free 10.213.x.y/30 subnet"
}

make_network() {
  local id
  id="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  NETNS="obr$id" HOST_IF="obr${id}h" NS_IF="obr${id}n"
  pick_subnet
  write_state  # before anything exists, so stop can clean up after a failure
  ip netns add "$NETNS"
  ip link add "$HOST_IF" type veth peer name "$NS_IF"
  ip link set "$NS_IF" netns "$NETNS"
  ip addr add "$HOST_ADDR/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  in_netns ip link set lo up
  in_netns ip addr add "$BROKER_ADDR/30" dev "$NS_IF"
  in_netns ip link set "$NS_IF" up
}

make_disk() {
  local size="$1"
  DISK="$DIR/disk"
  mkdir -p "$DISK"
  if [[ -n "$size" ]]; then
    mount -t tmpfs -o "size=$size,mode=0755" "outbox-relay-fault-broker" "$DISK"
    TMPFS=1
    write_state
  fi
  mkdir -p "$DISK/kafka-logs"
}

write_properties() {
  mkdir -p "$(broker)"
  {
    echo "# Single-node KRaft broker+controller of the outbox-relay fault tests (fault_broker.sh), in"
    echo "# network namespace $NETNS."
    broker_properties "$BROKER_ADDR" "$KAFKA_PORT" "$CONTROLLER_PORT" "$DISK/kafka-logs" 2
    echo "# Small preallocated index files, so that a small tmpfs log dir holds the test's data."
    echo "log.index.size.max.bytes=1048576"
    # The caller's --property settings; a later line wins over an earlier one of the same key.
    if ((${#EXTRA_PROPERTIES[@]} > 0)); then printf '%s\n' "${EXTRA_PROPERTIES[@]}"; fi
  } >"$(broker)/server.properties"
  format_broker "$(broker)" "$KAFKA_LIBS"
}

start_fault_broker() {
  if is_our_broker "$(broker)" "$KAFKA_PID"; then return 0; fi
  # The broker runs in the namespace; the root namespace reaches it over the veth pair.
  KAFKA_PID="$(launch_broker "$(broker)" "$KAFKA_LIBS" "$KAFKA_HEAP" 128m ip netns exec "$NETNS")"
  [[ "$KAFKA_PID" != 0 ]] || die "could not launch the broker"
  write_state
  wait_broker "$(broker)" "$KAFKA_PID" "$BROKER_ADDR" "$KAFKA_PORT" || die "the broker did not start"
}

stop_fault_broker() { stop_broker "$(broker)" "$KAFKA_PID" TERM; }

filler() { printf '%s/filler' "$DISK"; }

cmd_start() {
  local size=""
  EXTRA_PROPERTIES=()
  while (($# > 0)); do
    case "$1" in
      --log-dir-size) [[ -n "${2:-}" ]] || usage; size="$2"; shift 2 ;;
      --property) [[ "${2:-}" =~ ^[a-z0-9._-]+=.*$ ]] || usage; EXTRA_PROPERTIES+=("$2"); shift 2 ;;
      *) usage ;;
    esac
  done
  [[ "$(id -u)" -eq 0 ]] || die "needs root (ip netns, mount)"
  [[ ! -e "$DIR/state" ]] || die "$DIR already holds a fault broker; stop it first"
  mkdir -p "$DIR"
  NETNS="" HOST_IF="" NS_IF="" HOST_ADDR="" BROKER_ADDR="" DISK="" TMPFS=0 KAFKA_PID=0
  KAFKA_LIBS="$("$REPO_ROOT/scripts/install-deps.sh" --print-kafka-libs)"
  [[ -f "$KAFKA_LIBS/.complete" ]] || die "Kafka jars missing in $KAFKA_LIBS: run scripts/install-deps.sh"
  trap 'rc=$?; if ((rc != 0)); then log "start failed; removing what was made"; cmd_stop; fi' EXIT
  make_network
  make_disk "$size"
  write_state
  write_properties
  start_fault_broker
  trap - EXIT
  log "broker $BROKER_ADDR:$KAFKA_PORT (pid $KAFKA_PID) in namespace $NETNS${size:+, log dir on a $size tmpfs}"
}

cmd_stop() {
  if [[ ! -f "$DIR/state" ]]; then log "$DIR: nothing to stop"; return 0; fi
  load_state
  stop_fault_broker
  if [[ "$TMPFS" == 1 ]] && mountpoint -q "$DISK"; then umount "$DISK"; fi
  # Deleting the namespace deletes its veth end, and with it the pair (asynchronously: the
  # root end may be gone by the time it is deleted here).
  if [[ -n "$NETNS" ]] && ip netns list | grep -qw "$NETNS"; then ip netns del "$NETNS"; fi
  if [[ -n "$HOST_IF" ]]; then ip link del "$HOST_IF" 2>/dev/null || true; fi
  rm -rf "$DIR"
  log "stopped; removed namespace ${NETNS:-<none>} and $DIR"
}

main() {
  (($# >= 2)) || usage
  local cmd="$1"
  resolve_dir "$2"
  shift 2
  case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) load_state; is_our_broker "$(broker)" "$KAFKA_PID" ;;
    partition)
      load_state
      tc qdisc replace dev "$HOST_IF" root blackhole
      in_netns tc qdisc replace dev "$NS_IF" root blackhole
      log "partitioned: $HOST_IF <-> $NS_IF drop everything" ;;
    heal)
      load_state
      tc qdisc del dev "$HOST_IF" root 2>/dev/null || true
      in_netns tc qdisc del dev "$NS_IF" root 2>/dev/null || true
      log "healed" ;;
    restart)
      load_state; stop_fault_broker; start_fault_broker; log "broker restarted (pid $KAFKA_PID)" ;;
    fill)
      load_state
      [[ "$TMPFS" == 1 ]] || die "the log dir is not a tmpfs (start with --log-dir-size)"
      # Until the file system refuses: dd ends with "No space left on device".
      dd if=/dev/zero of="$(filler)" bs=1M status=none 2>/dev/null || true
      log "log dir full: $(df -h --output=avail "$DISK" | tail -n 1 | tr -d ' ') left" ;;
    free)
      load_state; rm -f "$(filler)"
      log "log dir freed: $(df -h --output=avail "$DISK" | tail -n 1 | tr -d ' ') available" ;;
    *) usage ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# The container image, built from the Dockerfile and run the way the chart runs it (ctest:
# packaging.image, label image): podman builds it (base images from scripts/container-base.sh,
# no registry), then runs it as uid 10001 with a read-only root file system against the test
# harness's PostgreSQL and Kafka (--network host): `init` prepares a database, `run` delivers
# events to Kafka, /readyz answers 200, and SIGTERM ends it with exit code 0 within the grace
# period. Prints the image's size, and what the runtime layout (packaging/runtime-packages.txt and
# the binary) adds to the base. The image and the container it made are removed at the end.
#
#   OUTBOX_RELAY_HARNESS_ENV=build/harness/env tests/packaging/image_test.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
readonly GRACE_SECONDS=30 EVENTS=50
LOG_TAG=image_test
# shellcheck source=../harness/lib/common.sh
source "$repo/tests/harness/lib/common.sh"

# shellcheck disable=SC1090
source "${OUTBOX_RELAY_HARNESS_ENV:?the env file of the test harness (tests/harness/harness.sh start)}"
"$repo/scripts/install-deps.sh" --image >&2
"$repo/scripts/container-base.sh"
read -ra podman <<<"$("$repo/scripts/container-base.sh" --podman)"
# The defaults exceed the host's hard limits, and runc fails at setrlimit.
readonly LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

id="$$-$RANDOM"
image="localhost/outbox-relay-test:$id"
work="$(mktemp -d)"
container="outbox-relay-test-$id"
cleanup() {
  "${podman[@]}" rm -f --ignore "$container" >/dev/null 2>&1 || true
  "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
log "building the Dockerfile (podman build --pull=never --layers=false --network host)"
"${podman[@]}" build --pull=never --layers=false --network host "${LIMITS[@]}" -t "$image" -f "$repo/Dockerfile" "$repo" \
  >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; die "podman build failed"; }
log "built in $((SECONDS - start)) s"
user="$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")"
[[ "$user" == 10001:10001 ]] || die "the image runs as '$user', not 10001:10001 (the chart's runAsUser)"
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
size="$("${podman[@]}" image inspect --format '{{.Size}}' "$image")"
base="$("${podman[@]}" image inspect --format '{{.Size}}' docker.io/library/debian:12-slim)"
binary="$("${podman[@]}" run --rm --network none "${LIMITS[@]}" --entrypoint /usr/bin/stat "$image" \
  -c %s /usr/local/bin/outbox-relay)"
log "image $(mb "$size"): base debian:12-slim $(mb "$base"), runtime layout on top $(mb $((size - base)))" \
  "(runtime packages and the binary, $(mb "$binary") stripped)"

# A database of its own on the harness's PostgreSQL, prepared by the image's `init`.
db="image_test_${id//-/_}"
topic="image-test.$id"
psql=("$PG_CLIENT_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER")
"${psql[@]}" -d postgres -c "CREATE DATABASE $db"
cleanup_db() {
  "${psql[@]}" -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
    WHERE slot_name = '$db'" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap 'cleanup; cleanup_db' EXIT
read -r port < <(free_ports 1)
mkdir -p "$work/etc"
cat >"$work/etc/relay.yaml" <<YAML
source:
  dsn: "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER sslmode=disable"
  slot: $db
outbox:
  topic: "$topic"
kafka:
  bootstrap.servers: "$KAFKA_BOOTSTRAP_SERVERS"
http:
  listen: "127.0.0.1:$port"
shutdown:
  timeout_ms: 10000
YAML
chmod 755 "$work/etc" && chmod 644 "$work/etc/relay.yaml"
# What the chart's securityContext asks: uid/gid 10001, a read-only root file system.
run=("${podman[@]}" run --network host --read-only --user 10001:10001 "${LIMITS[@]}"
  -v "$work/etc:/etc/outbox-relay:ro")
"${run[@]}" --rm "$image" init --config /etc/outbox-relay/relay.yaml >"$work/init.log" 2>&1 ||
  { cat "$work/init.log" >&2; die "outbox-relay init in the image failed"; }
log "init in the image: ok"

"${run[@]}" -d --name "$container" "$image" >/dev/null
ready=""
for _ in $(seq 1 300); do
  ready="$(python3 - "$port" <<'PY' || true
import sys, urllib.request
try:
    print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2).status)
except Exception as error:
    print(getattr(error, "code", 0))
PY
)"
  [[ "$ready" == 200 ]] && break
  "${podman[@]}" container exists "$container" && [[ "$("${podman[@]}" inspect --format '{{.State.Running}}' \
    "$container")" == true ]] || { "${podman[@]}" logs "$container" >&2; die "the relay container exited"; }
  sleep 0.2
done
[[ "$ready" == 200 ]] || { "${podman[@]}" logs "$container" | tail -n 20 >&2; die "/readyz answered $ready, not 200"; }
log "/readyz: 200"

"${psql[@]}" -d "$db" -c "SELECT count(outbox.publish('order', 'order-' || i % 5, 'created',
  jsonb_build_object('n', i))) FROM generate_series(1, $EVENTS) AS i" >/dev/null
received=0
for _ in $(seq 1 60); do
  received="$(kcat -C -b "$KAFKA_BOOTSTRAP_SERVERS" -t "$topic" -o beginning -e -q -f '%k\n' 2>/dev/null | grep -c . || true)"
  ((received >= EVENTS)) && break
  sleep 1
done
((received == EVENTS)) || { "${podman[@]}" logs "$container" | tail -n 20 >&2; die "$received of $EVENTS events in $topic"; }
log "$received of $EVENTS events in Kafka topic $topic"

stop_start=$SECONDS
"${podman[@]}" stop -t "$GRACE_SECONDS" "$container" >/dev/null
stopped_in=$((SECONDS - stop_start))
exit_code="$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$container")"
((exit_code == 0)) || { "${podman[@]}" logs "$container" | tail -n 20 >&2; die "exit code $exit_code after SIGTERM"; }
((stopped_in < GRACE_SECONDS)) || die "SIGTERM took ${stopped_in} s, the grace period is ${GRACE_SECONDS} s"
log "SIGTERM: exit code 0 after ${stopped_in} s (grace period ${GRACE_SECONDS} s)"

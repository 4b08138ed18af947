#!/usr/bin/env bash
# Baseline runner: Debezium Embedded (PostgreSQL connector + outbox EventRouter) -> Kafka.
#
#   bench/debezium/run.sh --events N [options]     (run.sh --help lists the options)
#
# Builds on first use (or when pom.xml or a source file changed) with Maven into
# ${OUTBOX_RELAY_CACHE:-~/.cache/outbox-relay}/debezium/build-<hash>/, then runs
#   java $JAVA_OPTS -jar .../debezium-outbox-bench.jar "$@"
# After the first build it needs no network (the jars are in ~/.m2 and the build dir).
#
# JVM options: none by default, so the JVM sizes its heap as it would for a user (G1, max heap
# = 1/4 of RAM). Set JAVA_OPTS to change that, e.g. JAVA_OPTS=-Xmx512m, or
# JAVA_OPTS=-Dorg.slf4j.simpleLogger.defaultLogLevel=info for Debezium's logs (stderr).
# JAVA_HOME picks the JDK (Java 17 or later); default: java on PATH.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly CACHE_ROOT="${OUTBOX_RELAY_CACHE:-$HOME/.cache/outbox-relay}/debezium"
readonly JAR_NAME=debezium-outbox-bench.jar

die() { printf 'debezium-bench: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  if [[ "$arg" == --help || "$arg" == -h ]]; then
    cat "$SCRIPT_DIR/src/main/resources/usage.txt"
    exit 0
  fi
done

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v "$JAVA" >/dev/null || die "java not found (install a JDK 17 or set JAVA_HOME)"

# The build dir is keyed by what the build reads, so an edited pom or source gets a fresh
# build and an unchanged tree reuses the jar without starting Maven.
hash="$(cd "$SCRIPT_DIR" && find pom.xml src -type f -print0 | LC_ALL=C sort -z |
  xargs -0 sha256sum | sha256sum | cut -c1-16)"
build_dir="$CACHE_ROOT/build-$hash"

if [[ ! -f "$build_dir/$JAR_NAME" ]]; then
  command -v mvn >/dev/null || die "mvn not found: it builds the runner once (apt-get install maven)"
  printf 'debezium-bench: building into %s (the first build on a machine downloads Debezium from Maven Central)\n' \
    "$build_dir" >&2
  mkdir -p "$CACHE_ROOT"
  tmp="$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")"
  if ! mvn -B -q -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" package -Ddbz.build.dir="$tmp" >&2; then
    rm -rf "$tmp"
    die "Maven build failed (see above)"
  fi
  # Publish atomically, so a concurrent or interrupted build never leaves a half-built dir.
  if ! mv -T "$tmp" "$build_dir" 2>/dev/null; then
    rm -rf "$tmp"  # another run published the same build first
  fi
  [[ -f "$build_dir/$JAR_NAME" ]] || die "build produced no $build_dir/$JAR_NAME"
  # Builds of older sources are dead weight (~40 MB each).
  find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -name 'build-*' ! -name "build-$hash" -exec rm -rf {} +
fi

# shellcheck disable=SC2086  # JAVA_OPTS is a list of options
exec "$JAVA" ${JAVA_OPTS:-} -jar "$build_dir/$JAR_NAME" "$@"

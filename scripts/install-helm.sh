#!/usr/bin/env bash
# Installs helm (for the chart checks in tests/packaging/) from the Go module proxy with
# `go install`, into ${XDG_CACHE_HOME:-~/.cache}/outbox-relay/helm-<version>/bin (never into the
# repository), only when it is not there yet. Called by scripts/install-deps.sh; idempotent and
# safe to run concurrently (flock).
#
#   scripts/install-helm.sh          install if missing; prints nothing when present
#   scripts/install-helm.sh --print  print the path of the helm binary (installed or not)
#
# Building helm takes a few minutes on two busy cores; GOFLAGS=-p=1 keeps it to one compile at
# a time. Needs Go (/usr/local/go/bin/go on the project's machines).
set -euo pipefail

readonly HELM_VERSION=v3.22.0   # a version the Go module proxy serves (helm.sh/helm/v3)

cache_root() {
  local home="${HOME:-}"
  if [[ -z "$home" ]]; then home="$(getent passwd "$(id -u)" | cut -d: -f6)"; fi
  printf '%s/outbox-relay' "${XDG_CACHE_HOME:-$home/.cache}"
}

helm_dir() { printf '%s/helm-%s' "$(cache_root)" "$HELM_VERSION"; }
helm_bin() { printf '%s/bin/helm' "$(helm_dir)"; }
helm_present() { [[ -x "$(helm_bin)" && -f "$(helm_dir)/.complete" ]]; }

log() { printf 'install-helm: %s\n' "$*" >&2; }

if [[ "${1:-}" == "--print" ]]; then helm_bin; echo; exit 0; fi
helm_present && exit 0

go_bin="$(command -v go || true)"
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then go_bin=/usr/local/go/bin/go; fi
[[ -n "$go_bin" ]] || { log "go not found: install Go to build helm $HELM_VERSION"; exit 1; }

dir="$(helm_dir)"
mkdir -p "$(dirname "$dir")"
exec 9>"$(dirname "$dir")/.helm.lock"
flock 9
helm_present && exit 0

log "building helm $HELM_VERSION with go install (Go module proxy) into $dir/bin"
tmp="$(mktemp -d "$(dirname "$dir")/helm.tmp.XXXXXX")"
# CGO off: a static helm that does not care which libc the cache is used with.
if ! GOBIN="$tmp/bin" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -p=1 -buildvcs=false" \
       "$go_bin" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" </dev/null; then
  rm -rf "$tmp"; log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"; exit 1
fi
"$tmp/bin/helm" version --short >/dev/null
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
exec 9>&-

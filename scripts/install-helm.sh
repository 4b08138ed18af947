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
# Present = built by this script with its version stamped in (a plain `go install` says "v3.22").
helm_present() {
  [[ -x "$(helm_bin)" && -f "$(helm_dir)/.complete" ]] &&
    [[ "$("$(helm_bin)" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]
}

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
trap 'rm -rf "$tmp"' EXIT
# What helm's Makefile stamps in with -ldflags: the version, and the Kubernetes version that
# `helm template` and `helm lint` assume (from the k8s.io/client-go helm is built with; without
# it helm assumes 1.20 and refuses the chart's kubeVersion).
gomod="$("$go_bin" mod download -json "helm.sh/helm/v3@$HELM_VERSION" </dev/null |
         sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")"   # v0.37.0
k8s_minor="$(cut -d. -f2 <<<"$client_go")"
[[ "$k8s_minor" =~ ^[0-9]+$ ]] || { log "cannot read k8s.io/client-go's version from $gomod"; exit 1; }
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for package in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $package.k8sVersionMajor=1 -X $package.k8sVersionMinor=$k8s_minor"
done
# CGO off: a static helm that does not care which libc the cache is used with.
if ! GOBIN="$tmp/bin" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -p=1 -buildvcs=false" \
       "$go_bin" install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" </dev/null; then
  log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed"; exit 1
fi
version="$("$tmp/bin/helm" version --template '{{.Version}}')"
[[ "$version" == "$HELM_VERSION" ]] || { log "the built helm says $version, not $HELM_VERSION"; exit 1; }
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
exec 9>&-
log "$("$(helm_bin)" version --short) in $dir/bin"

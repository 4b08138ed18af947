#!/usr/bin/env bash
# Every object the chart renders, for each values file in helm/outbox-relay/ci/, decoded strictly
# into Kubernetes' own Go API types (k8s.io/api, and the Prometheus Operator's for its kinds) by
# tests/packaging/k8s_types: unknown or misspelt fields, wrong value types and duplicate keys fail,
# which helm lint and the YAML checks of helm_chart_test.py let through (ctest: packaging.k8s_types).
#
#   tests/packaging/k8s_types_test.sh BUILD_DIR
#
# Go modules come from the Go module proxy into Go's module cache (~/go/pkg/mod), not the repo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build_dir="${1:?usage: k8s_types_test.sh BUILD_DIR}"
chart="$repo/helm/outbox-relay"
checker="$build_dir/k8s-types"

command -v go >/dev/null || { echo "k8s_types_test: go is not on PATH (Go 1.26 or later)" >&2; exit 1; }
helm="$("$repo/scripts/install-helm.sh" --print)"
(cd "$here/k8s_types" && go build -o "$checker" .)

# The check must be able to fail: a misspelt field in a rendered Deployment is refused.
if "$helm" template relay "$chart" -f "$chart/ci/minimal-values.yaml" |
    sed 's/containerPort:/containerPrt:/' | "$checker" -name misspelt >/dev/null 2>&1; then
  echo "k8s_types_test: a Deployment with a misspelt field (containerPrt) was accepted" >&2
  exit 1
fi
echo "ok   a misspelt field is refused"

rc=0
for values in "$chart"/ci/*.yaml; do
  name="$(basename "$values")"
  "$helm" template relay "$chart" -f "$values" | "$checker" -name "$name" || rc=1
done
exit "$rc"

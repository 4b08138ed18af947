#!/usr/bin/env bash
# Builds the runtime layout of the Dockerfile's final stage into a directory, without Docker:
#
#   DIR/usr/local/bin/outbox-relay                     the binary (Release build, stripped)
#   DIR/usr/share/outbox-relay/runtime-packages.txt    the Debian packages the image installs
#   DIR/etc/outbox-relay/                              where the chart mounts relay.yaml
#
#   scripts/runtime-layout.sh DIR                    builds outbox-relay like the Dockerfile
#                                                    (Release, in BUILD_DIR, default build-pkg)
#   scripts/runtime-layout.sh --binary FILE DIR      uses that binary instead of building
#   scripts/runtime-layout.sh --print-packages       the runtime packages, one per line
#
# packaging/runtime-packages.txt is the one list of runtime packages: the Dockerfile COPYs it to
# the same path. tests/packaging/runtime_layout_test.sh checks the layout.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly PACKAGE_LIST="$REPO_ROOT/packaging/runtime-packages.txt"

usage() { echo "usage: $0 [--binary FILE] DIR | --print-packages" >&2; exit 2; }

# The list without comments and blank lines: what `sed -e 's/#.*//'` gives apt-get in the
# Dockerfile.
runtime_packages() { sed -e 's/#.*//' "$PACKAGE_LIST" | tr -s ' \t' '\n' | sed '/^$/d'; }

binary=""
dir=""
while (($#)); do
  case "$1" in
    --print-packages) runtime_packages; exit 0 ;;
    --binary) [[ $# -ge 2 ]] || usage; binary="$2"; shift ;;
    -*) usage ;;
    *) [[ -z "$dir" ]] || usage; dir="$1" ;;
  esac
  shift
done
[[ -n "$dir" ]] || usage

if [[ -z "$binary" ]]; then
  build_dir="${BUILD_DIR:-$REPO_ROOT/build-pkg}"
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  # The Dockerfile's flags, so the binary links what the image's does.
  cmake -S "$REPO_ROOT" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DOUTBOX_RELAY_TESTS=OFF "${launcher[@]}" >/dev/null
  cmake --build "$build_dir" -j"${JOBS:-1}" --target outbox-relay
  binary="$build_dir/outbox-relay"
fi
[[ -x "$binary" ]] || { echo "runtime-layout: $binary is no executable" >&2; exit 1; }

rm -rf "$dir/usr/local/bin/outbox-relay" "$dir/usr/share/outbox-relay"
mkdir -p "$dir/usr/local/bin" "$dir/usr/share/outbox-relay" "$dir/etc/outbox-relay"
# strip, as the Dockerfile does (a debug build's symbols would only make the layout larger).
strip -o "$dir/usr/local/bin/outbox-relay" "$binary"
chmod 0755 "$dir/usr/local/bin/outbox-relay"
cp "$PACKAGE_LIST" "$dir/usr/share/outbox-relay/runtime-packages.txt"
echo "runtime-layout: $dir (binary from $binary; packages: $(runtime_packages | tr '\n' ' '))"

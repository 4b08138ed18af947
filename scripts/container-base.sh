#!/usr/bin/env bash
# The base images the Dockerfile's FROM lines name (debian:12, debian:12-slim), made locally for
# podman where no image registry is reachable: a minimal Debian 12 from Debian's own packages
# (debootstrap --variant=minbase), trimmed of documentation and package lists like the -slim
# images, imported under both names. The root file system's tarball is cached in
# ~/.cache/outbox-relay, so later runs only import it. Idempotent; needs root, podman and
# debootstrap (scripts/install-deps.sh --image).
#
#   scripts/container-base.sh            import the base images unless podman has them
#   scripts/container-base.sh --podman   print the podman command line the scripts use
set -euo pipefail

# runc, not Debian's default crun ("cgroups in hybrid mode not supported" on these machines).
readonly PODMAN=(podman --runtime runc)
if [[ "${1:-}" == "--podman" ]]; then
  echo "${PODMAN[*]}"
  exit 0
fi

readonly NAMES=(docker.io/library/debian:12 docker.io/library/debian:12-slim)
readonly CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/outbox-relay"
readonly TARBALL="$CACHE/debian-12-minbase.tar"
log() { echo "container-base: $*" >&2; }

missing=()
for name in "${NAMES[@]}"; do
  "${PODMAN[@]}" image exists "$name" || missing+=("$name")
done
((${#missing[@]} > 0)) || exit 0

if [[ ! -s "$TARBALL" ]]; then
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (scripts/install-deps.sh --image)"; exit 1; }
  mkdir -p "$CACHE"
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap --variant=minbase bookworm (Debian's packages, about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" >"$rootfs.log" 2>&1 || {
    tail -n 20 "$rootfs.log" >&2
    exit 1
  }
  rm -f "$rootfs.log"
  # The official image's sources: the release, its updates and the security suite.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  # What -slim leaves out: documentation, manual pages, locales but C, package lists.
  rm -rf "$rootfs"/usr/share/{doc,man,info}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C*' -exec rm -rf {} +
  tar -C "$rootfs" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
fi
for name in "${missing[@]}"; do
  "${PODMAN[@]}" import --quiet "$TARBALL" "$name" >/dev/null
  log "imported $name from $TARBALL"
done

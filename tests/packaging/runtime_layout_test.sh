#!/usr/bin/env bash
# The image's runtime layout, checked without Docker (ctest: packaging.runtime_layout).
#
#   tests/packaging/runtime_layout_test.sh BINARY
#
# Builds the layout of the Dockerfile's runtime stage with scripts/runtime-layout.sh from
# BINARY, then checks, against this Debian 12 machine's dpkg database:
#   1. `ldd` finds every library (no "not found");
#   2. every library it resolves belongs to a package of packaging/runtime-packages.txt, to one
#      they depend on (apt-get installs those with them), or to libc6/libstdc++6/libgcc-s1;
#   3. every library the binary links directly (NEEDED) belongs to a listed package or to
#      libc6/libstdc++6/libgcc-s1, and every listed lib* package provides one of them (no stale
#      entries);
#   4. the binary starts: `version` exits 0, `check` on a bad config exits 2 (and the
#      Dockerfile, which cannot be built here, installs the same list into the same place, runs
#      as a numeric non-root user, ENTRYPOINT the binary, no HEALTHCHECK);
#   5. as root: the same two commands in a chroot holding only the shared libraries of those
#      packages (what the slim image has beyond its base), so nothing else on this machine can
#      be loaded by accident. Skipped, with a message, when not root.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO_ROOT
readonly BASE_PACKAGES=(libc6 libstdc++6 libgcc-s1)

binary="${1:?usage: $0 BINARY}"
work="$(mktemp -d "${TMPDIR:-/tmp}/runtime-layout-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

layout="$work/layout"
"$REPO_ROOT/scripts/runtime-layout.sh" --binary "$binary" "$layout"
relay="$layout/usr/local/bin/outbox-relay"
list="$layout/usr/share/outbox-relay/runtime-packages.txt"
[[ -x "$relay" && -f "$list" ]] || { echo "FAIL: layout incomplete" >&2; exit 1; }
mapfile -t listed < <(sed -e 's/#.*//' "$list" | tr -s ' \t' '\n' | sed '/^$/d')
((${#listed[@]} > 0)) || { echo "FAIL: no packages in $list" >&2; exit 1; }

# The dpkg database, read once: installed packages and what they depend on.
declare -A installed_pkgs=() depends=()
while IFS=$'\t' read -r pkg status deps; do
  [[ "$status" == "install ok installed" ]] || continue
  installed_pkgs[$pkg]=1
  depends[$pkg]="$deps"
done < <(dpkg-query -W -f='${Package}\t${Status}\t${Depends}, ${Pre-Depends}\n')
installed() { [[ -n "${installed_pkgs[$1]:-}" ]]; }
for pkg in "${listed[@]}" "${BASE_PACKAGES[@]}"; do
  installed "$pkg" || fail "$pkg (listed or base) is not installed here: the check would be blind"
done

# The packages apt-get brings along: the Depends/Pre-Depends closure over installed packages.
declare -A allowed=() direct=()
for pkg in "${listed[@]}" "${BASE_PACKAGES[@]}"; do direct[$pkg]=1; done
queue=("${listed[@]}" "${BASE_PACKAGES[@]}")
while ((${#queue[@]})); do
  pkg="${queue[0]}"; queue=("${queue[@]:1}")
  [[ -n "${allowed[$pkg]:-}" ]] && continue
  allowed[$pkg]=1
  # "libc6 (>= 2.34), libssl3 | libssl1.1, debconf:any" -> one name per alternative
  while read -r dep; do
    dep="${dep%%:*}"
    if [[ -n "$dep" ]] && installed "$dep"; then queue+=("$dep"); fi
  done < <(tr ',|' '\n\n' <<<"${depends[$pkg]:-}" | sed -e 's/(.*)//' -e 's/^ *//' -e 's/ *$//')
done

# The file lists of dpkg (/var/lib/dpkg/info/<package>[:<arch>].list).
package_list_file() {
  local file
  for file in "/var/lib/dpkg/info/$1.list" /var/lib/dpkg/info/"$1":*.list; do
    if [[ -f "$file" ]]; then printf '%s\n' "$file"; return 0; fi
  done
  return 1
}

# The package owning a library path; dpkg records /lib/... or /usr/lib/... (merged /usr), and
# the name ldd prints may be a symlink to the file. One grep over every file list.
owner() {
  local path="$1" real match
  real="$(readlink -f "$path")"
  match="$(printf '%s\n' "$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real" |
             grep -h -x -F -f - /var/lib/dpkg/info/*.list -l 2>/dev/null | head -n 1 || true)"
  [[ -n "$match" ]] || return 1
  match="$(basename "$match" .list)"
  printf '%s\n' "${match%%:*}"
}

# 1, 2: ldd
ldd_out="$(ldd "$relay")"
echo "$ldd_out"
if grep -q 'not found' <<<"$ldd_out"; then fail "ldd: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ')"; fi
declare -A lib_owner=() used=()
while read -r name arrow path _; do
  if [[ "$arrow" != "=>" ]]; then path="$name"; name="$(basename "$name")"; fi  # the interpreter
  [[ "$path" == /* ]] || continue                                                # linux-vdso
  if ! pkg="$(owner "$path")"; then fail "$path belongs to no package"; continue; fi
  lib_owner[$name]="$pkg"
  used[$pkg]=1
  if [[ -n "${allowed[$pkg]:-}" ]]; then ok "$name -> $pkg"
  else fail "$name ($path) comes from $pkg: neither listed, a dependency of a listed package, nor base"; fi
done <<<"$ldd_out"

# 3: the direct links name the list's packages, and the list names nothing unused.
mapfile -t needed < <(readelf -d "$relay" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for name in "${needed[@]}"; do
  pkg="${lib_owner[$name]:-}"
  if [[ -z "$pkg" ]]; then fail "NEEDED $name not resolved by ldd"
  elif [[ -z "${direct[$pkg]:-}" ]]; then
    fail "the binary links $name of $pkg: add $pkg to packaging/runtime-packages.txt"
  fi
done
for pkg in "${listed[@]}"; do
  if [[ "$pkg" == lib* && -z "${used[$pkg]:-}" ]]; then
    fail "$pkg is listed but the binary loads no library of it: drop it from packaging/runtime-packages.txt"
  fi
done

# The Dockerfile cannot be built here (no Docker engine): check that it reads the same list into
# the same place, runs as a numeric non-root user, starts the binary, and has no HEALTHCHECK.
dockerfile="$REPO_ROOT/Dockerfile"
expect_line() {  # expect_line REGEX WHAT
  if grep -Eq "$1" "$dockerfile"; then ok "Dockerfile: $2"; else fail "Dockerfile: $2 (no line matching $1)"; fi
}
expect_line '^FROM debian:12 AS build$' "builds on debian:12"
expect_line '^FROM debian:12-slim$' "runs on debian:12-slim"
expect_line '^COPY packaging/runtime-packages.txt /usr/share/outbox-relay/runtime-packages.txt$' \
  "installs packaging/runtime-packages.txt from where runtime-layout.sh puts it"
expect_line "sed -e 's/#\.\*//' /usr/share/outbox-relay/runtime-packages.txt" "installs the list's packages"
expect_line '^COPY packaging/build-packages.txt ' "installs packaging/build-packages.txt to build"
expect_line '^USER [1-9][0-9]*:[1-9][0-9]*$' "a numeric non-root USER"
expect_line '^ENTRYPOINT \["/usr/local/bin/outbox-relay"\]$' "ENTRYPOINT the binary"
if grep -Eiq '^HEALTHCHECK' "$dockerfile"; then fail "Dockerfile: a HEALTHCHECK (Kubernetes probes instead)"; fi
for pkg in "${listed[@]}"; do
  if grep -Fq -- "$pkg" "$dockerfile"; then fail "Dockerfile names $pkg: the list belongs in packaging/runtime-packages.txt only"; fi
done

# 4: it starts.
cat >"$work/bad.yaml" <<'YAML'
source:
  dsn: "host=127.0.0.1 dbname=app user=relay"
sink:
  type: carrier-pigeon
YAML
# run_relay NAME EXPECTED_EXIT COMMAND...
run_relay() {
  local what="$1" expected="$2" rc=0; shift 2
  "$@" >"$work/out" 2>&1 || rc=$?
  if [[ "$rc" == "$expected" ]]; then ok "$what exits $rc: $(head -n 1 "$work/out")"
  else fail "$what exits $rc, expected $expected: $(cat "$work/out")"; fi
}
run_relay "outbox-relay version" 0 "$relay" version
run_relay "outbox-relay check on a bad config" 2 env -i PATH=/usr/bin:/bin "$relay" check --config "$work/bad.yaml"
grep -q 'sink.type' "$work/out" || fail "the config error does not name sink.type: $(cat "$work/out")"

# 5: a chroot with the allowed packages' shared libraries and nothing else.
if [[ "$(id -u)" -ne 0 ]] || ! command -v chroot >/dev/null; then
  echo "SKIP: the chroot check needs root"
else
  root="$work/rootfs"
  mkdir -p "$root/usr/lib" "$root/usr/lib64" "$root/etc" "$root/tmp" "$root/usr/local/bin"
  ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
  for pkg in "${!allowed[@]}"; do
    while read -r file; do
      case "$file" in
        /lib/*|/usr/lib/*|/lib64/*|/usr/lib64/*) ;;
        *) continue ;;
      esac
      [[ -f "$file" || -L "$file" ]] && [[ ! -d "$file" ]] || continue
      case "$(basename "$file")" in *.so|*.so.*) ;; *) continue ;; esac
      cp -P --parents "$file" "$root" 2>/dev/null || cp -P --parents "${file#/usr}" "$root"
    done < <(cat "$(package_list_file "$pkg")")
  done
  cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$root/etc/"
  ldconfig -r "$root"
  cp "$relay" "$root/usr/local/bin/"
  cp "$work/bad.yaml" "$root/tmp/"
  echo "chroot: $(find "$root" -name '*.so*' | wc -l) shared-library files from ${#allowed[@]} packages"
  run_relay "chroot: outbox-relay version" 0 chroot "$root" /usr/local/bin/outbox-relay version
  run_relay "chroot: outbox-relay check on a bad config" 2 \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$root" /usr/local/bin/outbox-relay check --config /tmp/bad.yaml
fi

if ((failures)); then echo "runtime layout: $failures failure(s)" >&2; exit 1; fi
echo "runtime layout: all checks passed (${#listed[@]} listed packages, ${#allowed[@]} with dependencies)"

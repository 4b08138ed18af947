#!/usr/bin/env bash
# The format check and clang-tidy, with the pinned clang version (scripts/install-deps.sh
# installs it; .clang-format and .clang-tidy hold the rules):
#
#   ./scripts/lint.sh                 both: the format check, then clang-tidy over build/
#   ./scripts/lint.sh --format        the format check only: lists the files clang-format would
#                                     change, with the diff, and fails if there is any
#   ./scripts/lint.sh --fix           reformats those files in place instead
#   ./scripts/lint.sh --tidy [DIR]    clang-tidy only, over DIR/compile_commands.json (default
#                                     build; configure with cmake first, which exports it)
#
# Only the project's own files: C++ files git knows of (tracked, or new and not ignored), so
# nothing under build*/ or generated. clang-tidy runs LINT_JOBS (default 2) at a time and
# reports each finding once, with a count per check at the end. Exit code: 0 clean, 1 findings
# or a diff, 2 usage or setup error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$PWD"
readonly REPO_ROOT

# One version for everyone: formatting differs between clang-format versions, and clang-tidy
# 20+ skips system headers while matching, which makes it ~4 times faster than 16 or 19 here.
readonly CLANG_VERSION=22
readonly CLANG_FORMAT="clang-format-$CLANG_VERSION" CLANG_TIDY="clang-tidy-$CLANG_VERSION"
JOBS="${LINT_JOBS:-2}"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

do_format=1 do_tidy=1 fix=0 build_dir=build
while (($#)); do
  case "$1" in
    --format) do_tidy=0 ;;
    --fix) do_tidy=0; fix=1 ;;
    --tidy) do_format=0; if [[ -n "${2:-}" && "$2" != -* ]]; then build_dir="$2"; shift; fi ;;
    -h|--help) usage ;;
    *) if ((do_format && do_tidy)) && [[ "$1" != -* ]]; then build_dir="$1"; else usage; fi ;;
  esac
  shift
done

need() {
  command -v "$1" >/dev/null && return 0
  echo "lint.sh: $1 not found: run scripts/install-deps.sh" >&2
  exit 2
}

# The project's C++ files, relative to the repository root.
cxx_files() {
  git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.cc' |
    while read -r f; do [[ -f "$f" ]] && printf '%s\n' "$f"; done
}

format_check() {
  need "$CLANG_FORMAT"
  local -a files
  mapfile -t files < <(cxx_files)
  if ((fix)); then
    "$CLANG_FORMAT" -i --style=file -- "${files[@]}"
    echo "lint.sh: formatted ${#files[@]} files with $CLANG_FORMAT"
    return 0
  fi
  local f changed=0 lines=0 diff
  for f in "${files[@]}"; do
    diff="$("$CLANG_FORMAT" --style=file "$f" | diff -u --label "$f" --label "$f (formatted)" "$f" - || true)"
    [[ -z "$diff" ]] && continue
    printf '%s\n' "$diff"
    changed=$((changed + 1))
    lines=$((lines + $(grep -c '^-[^-]' <<<"$diff" || true)))
  done
  if ((changed)); then
    echo "lint.sh: $changed of ${#files[@]} files are not formatted ($lines lines would change):" \
         "./scripts/lint.sh --fix reformats them" >&2
    return 1
  fi
  echo "lint.sh: format: ${#files[@]} files formatted as .clang-format says"
}

tidy_check() {
  need "$CLANG_TIDY"
  local db="$build_dir/compile_commands.json"
  if [[ ! -f "$db" ]]; then
    echo "lint.sh: $db not found: configure $build_dir with cmake first" >&2
    exit 2
  fi
  # The translation units of the database that are project files (see cxx_files).
  local -a units
  mapfile -t units < <(python3 - "$db" <(cxx_files) "$REPO_ROOT" <<'EOF'
import json, os, sys
db, listing, root = sys.argv[1:4]
ours = {os.path.join(root, line.strip()) for line in open(listing) if line.strip()}
seen = set()
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    if path in ours and path not in seen:
        seen.add(path)
        print(path)
EOF
)
  if ((${#units[@]} == 0)); then
    echo "lint.sh: no project translation units in $db" >&2
    exit 2
  fi
  local out
  out="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$out'" RETURN
  # The project's own headers, anchored at the root: a build directory's generated/ headers
  # and the libraries' headers are not checked.
  local header_filter="^$REPO_ROOT/(base|config|outbox|inbox|sinks|relay|tests|bench)/"
  local start=$SECONDS
  echo "lint.sh: $CLANG_TIDY over ${#units[@]} translation units of $db, $JOBS at a time"
  printf '%s\n' "${units[@]}" |
    xargs -P "$JOBS" -I{} sh -c '"$1" -p "$2" --quiet --header-filter="$3" "$4" >"$5/$(echo "$4" | cksum | cut -d" " -f1).log" 2>&1 || true' \
      _ "$CLANG_TIDY" "$build_dir" "$header_filter" {} "$out"
  # Every finding once (a header's is reported by each unit that includes it), with its notes.
  local report="$out/report.txt"
  python3 - "$out" "$REPO_ROOT/" >"$report" <<'EOF'
import collections, glob, re, sys
out, root = sys.argv[1:3]
head = re.compile(r"^(\S+?):(\d+):(\d+): (warning|error): (.*) \[([^\]]+)\]$")
findings = {}
crashed = []
for log in sorted(glob.glob(out + "/*.log")):
    current = None
    text = open(log, errors="replace").read()
    if "Stack dump:" in text or "PLEASE submit a bug report" in text:
        crashed.append(log)
    for line in text.splitlines():
        m = head.match(line)
        if m and not m.group(1).startswith(root):
            current = None  # in a library's header, instantiated from ours: not ours to fix
        elif m:
            key = (m.group(1), int(m.group(2)), int(m.group(3)), m.group(6), m.group(5))
            current = None if key in findings else key
            if current:
                findings[key] = [line]
        elif current and not re.match(r"^\d+ (warnings?|errors?) generated\.$", line) \
                and not line.startswith("Suppressed ") and not line.startswith("Use -header-filter"):
            findings[current].append(line)
for key in sorted(findings):
    print("\n".join(findings[key]).replace(root, ""))
counts = collections.Counter(key[3] for key in findings)
for check, n in counts.most_common():
    print(f"COUNT {n} {check}")
print(f"TOTAL {len(findings)}")
for log in crashed:
    print("CRASH " + open(log, errors="replace").read()[:4000])
EOF
  grep -v -E '^(COUNT|TOTAL|CRASH) ' "$report" || true
  local total crashed
  total="$(sed -n 's/^TOTAL //p' "$report")"
  crashed="$(grep -c '^CRASH ' "$report" || true)"
  if ((crashed)); then
    sed -n '/^CRASH /,$p' "$report" >&2
    echo "lint.sh: $CLANG_TIDY crashed on $crashed translation units" >&2
  fi
  if ((total > 0 || crashed > 0)); then
    echo "lint.sh: tidy: $total findings in $((SECONDS - start)) s:" >&2
    sed -n 's/^COUNT /  /p' "$report" >&2
    return 1
  fi
  echo "lint.sh: tidy: no findings in ${#units[@]} translation units ($((SECONDS - start)) s)"
}

rc=0
if ((do_format)); then format_check || rc=1; fi
if ((do_tidy)); then tidy_check || rc=1; fi
exit "$rc"

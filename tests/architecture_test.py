#!/usr/bin/env python3
"""Keeps docs/architecture.md's folder table and the code in step (ctest architecture).

For each row (path, library, may include): every C++ file under the path includes only
project headers of its own part or of the parts the row allows, and the library's CMake
target links only those parts. Every outbox_relay_library() of the build has a row.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Generated at configure time into the build tree, but belonging to a part.
GENERATED = {"base/version.hpp": "base/", "relay/ops/embedded_sql.hpp": "relay/ops/"}


def folder_table():
    text = (ROOT / "docs/architecture.md").read_text()
    section = text.split("## Folders and what each may include", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        path, library, _, allowed = cells
        rows[path.strip("`")] = (library, {a.strip() for a in allowed.split(",") if a.strip()})
    return rows


def part_of(include, paths):
    if include in GENERATED:
        return GENERATED[include]
    owners = [p for p in paths if include.startswith(p)]
    return max(owners, key=len) if owners else None


def main():
    rows = folder_table()
    library_path = {library: path for path, (library, _) in rows.items()}
    problems = []
    if len(rows) < 10:
        problems.append(f"docs/architecture.md: folder table has {len(rows)} rows, expected one per library")
    for path, (library, allowed) in rows.items():
        allowed_paths = {path} | {library_path[a] for a in allowed if a in library_path}
        problems += [f"docs/architecture.md: {path} may include unknown part {a}"
                     for a in allowed if a not in library_path]
        files = sorted(f for ext in ("*.cpp", "*.hpp") for f in (ROOT / path).rglob(ext))
        if not files:
            problems.append(f"{path}: no C++ files, but docs/architecture.md lists it")
        for file in files:
            # A file belongs to the deepest row holding it (relay/pg/ is not relay/).
            if part_of(str(file.relative_to(ROOT)), rows) != path:
                continue
            for number, line in enumerate(file.read_text().splitlines(), 1):
                match = re.match(r'#include "([^"]+)"', line)
                if not match:
                    continue
                owner = part_of(match.group(1), rows)
                if owner is not None and owner not in allowed_paths:
                    problems.append(f"{file.relative_to(ROOT)}:{number}: includes {match.group(1)} "
                                    f"({rows[owner][0]}), which {library} may not use")
    declared = {}
    for cmake in ROOT.rglob("CMakeLists.txt"):
        if "build" in cmake.relative_to(ROOT).parts[0]:
            continue
        text = cmake.read_text()
        for match in re.finditer(r"outbox_relay_library\(NAME (\w+)(.*?)\)", text, re.S):
            declared[match.group(1)] = (cmake.relative_to(ROOT), match.group(2))
        for match in re.finditer(r"add_library\((outbox_relay_test_fakes)\b", text):
            declared.setdefault("test_fakes", (cmake.relative_to(ROOT), text))
    for library, (cmake, body) in declared.items():
        if library not in library_path:
            problems.append(f"{cmake}: library {library} has no row in docs/architecture.md")
            continue
        allowed = rows[library_path[library]][1]
        if library == "test_fakes":
            body = body.split("add_library(outbox_relay_test_fakes", 1)[1].split("\n\n", 1)[0]
        for dep in re.findall(r"outbox_relay::(\w+)", body):
            if dep != library and dep not in allowed:
                problems.append(f"{cmake}: {library} links outbox_relay::{dep}, which it may not use")
    for library in library_path:
        if library not in declared:
            problems.append(f"docs/architecture.md: library {library} is not built by any CMakeLists.txt")
    for problem in problems:
        print(problem)
    print(f"architecture: {len(rows)} parts, {len(declared)} libraries, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

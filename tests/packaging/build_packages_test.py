#!/usr/bin/python3
"""The Dockerfile's build stage has what the build uses (ctest: packaging.build_packages).

    tests/packaging/build_packages_test.py BUILD_DIR

The image cannot be built here (no Docker engine), so this checks its build stage another way:
every system file the outbox-relay target was compiled and linked from, as this build (a Ninja
build dir) recorded it — the headers of each of its object files (`ninja -t deps`), the
libraries on its link line, the compiler — belongs to a package of packaging/build-packages.txt
or to one they depend on (what `apt-get install` brings along). A header of a package missing
from the list would break `docker build` on a clean debian:12 while every build here passes.
"""

import os
import re
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIST = os.path.join(REPO, "packaging", "build-packages.txt")
DPKG_INFO = "/var/lib/dpkg/info"
SKIP = 77  # ctest SKIP_RETURN_CODE


def listed_packages():
    with open(LIST) as f:
        return [word for line in f for word in line.split("#", 1)[0].split()]


def installed_packages():
    """package -> its Depends and Pre-Depends alternatives, for installed packages."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Depends}, ${Pre-Depends}\n"],
                         capture_output=True, text=True, check=True).stdout
    packages = {}
    for line in out.splitlines():
        name, status, depends = line.split("\t")
        if status != "install ok installed":
            continue
        names = []
        for alternative in re.split(r"[,|]", depends):
            alternative = re.sub(r"\(.*?\)", "", alternative).strip().split(":")[0]
            if alternative:
                names.append(alternative)
        packages[name] = names
    return packages


def closure(roots, packages):
    seen, queue = set(), list(roots)
    while queue:
        name = queue.pop()
        if name in seen or name not in packages:
            continue
        seen.add(name)
        queue.extend(packages[name])
    return seen


def owners():
    """path -> package, from every dpkg file list (merged /usr: both spellings)."""
    table = {}
    for entry in os.listdir(DPKG_INFO):
        if not entry.endswith(".list"):
            continue
        package = entry[: -len(".list")].split(":")[0]
        with open(os.path.join(DPKG_INFO, entry), errors="replace") as f:
            for path in f.read().splitlines():
                table.setdefault(path, package)
    return table


def owner_of(path, table):
    real = os.path.realpath(path)
    for candidate in (path, real):
        for spelling in (candidate, candidate.removeprefix("/usr"), "/usr" + candidate):
            if spelling in table:
                return table[spelling]
    return None


def used_files(build_dir):
    """System files the outbox-relay target was built from: headers of its objects, link inputs,
    the compiler."""
    deps = subprocess.run(["ninja", "-C", build_dir, "-t", "deps"], capture_output=True, text=True,
                          check=True).stdout
    files, current = set(), None
    for line in deps.splitlines():
        if line and not line[0].isspace():
            target = line.split(":", 1)[0]
            # The relay's own objects; tests/ (GoogleTest, the integration support) are not in the image.
            current = target if target.endswith(".o") and not target.startswith("tests/") else None
        elif current and line.strip().startswith("/"):
            files.add(os.path.normpath(line.strip()))
    commands = subprocess.run(["ninja", "-C", build_dir, "-t", "commands", "outbox-relay"],
                              capture_output=True, text=True, check=True).stdout.splitlines()
    link = shlex.split(commands[-1]) if commands else []
    for word in link:
        if word.startswith("/") and (".so" in word or word.endswith(".a")):
            files.add(word)
    # The compiler driver, e.g. /usr/bin/c++ (Ninja's link line starts with ": &&").
    compiler = next((word for word in link if word.startswith("/")), None)
    if compiler:
        files.add(compiler)
    return files


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build_dir = sys.argv[1]
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        print(f"SKIP: {build_dir} is no Ninja build directory")
        return SKIP
    failures = 0
    packages = installed_packages()
    listed = listed_packages()
    for name in listed:
        if name not in packages:
            print(f"FAIL: {name} (packaging/build-packages.txt) is not installed here: the check would be blind")
            failures += 1
    allowed = closure(listed, packages)
    table = owners()
    files = used_files(build_dir)
    by_package = {}
    for path in sorted(files):
        if not path.startswith(("/usr/", "/lib/", "/lib64/", "/bin/")):
            continue  # the source tree and the build directory
        package = owner_of(path, table)
        by_package.setdefault(package, []).append(path)
    for package, paths in sorted(by_package.items(), key=lambda item: str(item[0])):
        if package is None:
            print(f"FAIL: no package owns {', '.join(paths[:5])}")
            failures += 1
        elif package in allowed:
            print(f"ok: {package}: {len(paths)} file(s), e.g. {paths[0]}")
        else:
            print(f"FAIL: the build uses {paths[0]} (and {len(paths) - 1} more) of {package}, which "
                  f"packaging/build-packages.txt neither lists nor depends on: add it")
            failures += 1
    headers = sum(len(p) for p in by_package.values())
    if headers < 100:
        print(f"FAIL: only {headers} system files found: is {build_dir} built?")
        failures += 1
    print(f"build packages: {failures} failure(s)" if failures else
          f"build packages: all checks passed ({headers} system files from {len(by_package)} packages, "
          f"{len(listed)} listed)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks the module map (README.md, "Module map") against the code.

- Each folder of common/ is a library whose CMakeLists.txt calls
  `kiwi_library(<name> DEPENDS <libraries> ...)`. The declared dependencies form a tree without
  cycles, and every `#include "common/<lib>/..."` in a library names itself or a library it
  depends on (directly or through others).
- common/ never includes the binaries' folders (daemon/, worker/, cli/), and no binary includes
  another binary's folder.
- No C++ source file is longer than MAX_LINES unless its first comment lines say why
  ("Longer than 400 lines: <reason>").

Prints every violation as `path:line: what to fix` and exits 1 if there is any.
Usage: check_layout.py [source dir]
"""

import os
import re
import sys

MAX_LINES = 420  # "about 400": a file may pass 400 by a few lines, not by a screenful
REASON = re.compile(r"Longer than 400 lines:")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
DECLARATION = re.compile(r"kiwi_library\(\s*(\w+)((?:\s+[^)]*)?)\)", re.S)
BINARIES = ("daemon", "worker", "cli")


def read_libraries(root):
    """{name: set of direct dependencies} from common/*/CMakeLists.txt."""
    libraries = {}
    common = os.path.join(root, "common")
    for name in sorted(os.listdir(common)):
        cmake = os.path.join(common, name, "CMakeLists.txt")
        if not os.path.isfile(cmake):
            continue
        match = DECLARATION.search(open(cmake).read())
        if not match or match.group(1) != name:
            raise SystemExit(f"{cmake}: expected kiwi_library({name} DEPENDS ...)")
        words = match.group(2).split()
        depends = set()
        if "DEPENDS" in words:
            for word in words[words.index("DEPENDS") + 1:]:
                if word.isupper():  # the next keyword (PACKAGES)
                    break
                depends.add(word)
        libraries[name] = depends
    return libraries


def reachable(libraries, start):
    seen, todo = set(), list(libraries.get(start, ()))
    while todo:
        lib = todo.pop()
        if lib not in seen:
            seen.add(lib)
            todo.extend(libraries.get(lib, ()))
    return seen


def source_files(root):
    for top in ("common", *BINARIES, "bench", "tests", "fuzz"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".cpp", ".hpp")):
                    yield os.path.relpath(os.path.join(folder, f), root)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    libraries = read_libraries(root)
    problems = []

    for name, depends in libraries.items():
        for dep in sorted(depends - set(libraries)):
            problems.append(f"common/{name}/CMakeLists.txt: depends on unknown library {dep}")
        if name in reachable(libraries, name):
            problems.append(f"common/{name}/CMakeLists.txt: dependency cycle through {name}")

    for path in source_files(root):
        parts = path.split(os.sep)
        owner = parts[1] if parts[0] == "common" and len(parts) > 2 else None
        allowed = ({owner} | reachable(libraries, owner)) if owner else None
        lines = open(os.path.join(root, path), encoding="utf-8", errors="replace").read().split("\n")
        for number, line in enumerate(lines, 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = match.group(1).split("/")
            if parts[0] == "common" and target[0] in BINARIES:
                problems.append(f"{path}:{number}: common/ must not include {match.group(1)}")
            elif parts[0] in BINARIES and target[0] in BINARIES and target[0] != parts[0]:
                problems.append(f"{path}:{number}: {parts[0]}/ must not include {match.group(1)}"
                                " (move what both binaries need to common/)")
            elif owner and target[0] == "common" and len(target) > 2 and target[1] not in allowed:
                problems.append(
                    f"{path}:{number}: common/{owner} includes {match.group(1)}, but "
                    f"common/{owner}/CMakeLists.txt does not depend on {target[1]}")
        length = len(lines) - (1 if lines and lines[-1] == "" else 0)
        if length > MAX_LINES and not any(REASON.search(l) for l in lines[:15]):
            problems.append(f"{path}:1: {length} lines; split it by responsibility, or say why "
                            "it is one file in a comment at its top ('Longer than 400 lines: ...')")

    for p in problems:
        print(p)
    print(f"{len(libraries)} libraries, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks that ELF files search no directory an attacker could choose for shared libraries.

An RPATH or RUNPATH entry that is empty (a leading, trailing or doubled ':') or relative makes
the dynamic loader search the current working directory (or one relative to it): running kiln
inside an untrusted model folder would then load that folder's libgcc_s.so.1 or libcudnn.so.9.
Every entry must be absolute or start with $ORIGIN (the binary's own directory).

    check_runpath.py FILE...      exit 0 when every file passes, else 1 naming each bad entry
"""
import subprocess
import sys


def search_paths(path):
    """(tag, value) for each DT_RPATH / DT_RUNPATH of an ELF file, read with readelf."""
    out = subprocess.run(["readelf", "-d", "-W", path], check=True, capture_output=True,
                         text=True).stdout
    found = []
    for line in out.splitlines():
        for tag in ("RUNPATH", "RPATH"):
            if f"({tag})" in line and "[" in line:
                found.append((tag, line[line.index("[") + 1:line.rindex("]")]))
    return found


def bad_entries(value):
    return [entry for entry in value.split(":")
            if not (entry.startswith("/") or entry.startswith("$ORIGIN")
                    or entry.startswith("${ORIGIN}"))]


def main(files):
    problems = []
    for path in files:
        for tag, value in search_paths(path):
            for entry in bad_entries(value):
                shown = repr(entry) if entry else "an empty entry"
                problems.append(f"{path}: {tag} '{value}' has {shown}, which makes the loader "
                                "search a directory relative to the current one")
        print(f"{path}: " + (", ".join(f"{t}={v}" for t, v in search_paths(path)) or "no RPATH"))
    for problem in problems:
        print("FAIL", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))

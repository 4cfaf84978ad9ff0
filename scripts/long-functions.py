#!/usr/bin/env python3
"""long-functions.py — lists C functions longer than a limit (default 100 lines, body
braces included), for `make check-length` and CI. Relies on the checked-in .clang-format:
a function's opening and closing braces stand alone in column 0."""
import re
import sys

limit = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100
files = [a for a in sys.argv[1:] if not a.isdigit()]
bad = 0
for path in files:
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if line == "{":
            start = i
        elif line.startswith("}") and start is not None:
            head = start - 1
            while head > 0 and not re.match(r"^[A-Za-z_].*\(", lines[head]):
                head -= 1
            n = i - start + 1
            if n > limit:
                name = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", lines[head])
                print(f"{path}:{head + 1}: {name.group(1) if name else '?'} is {n} lines (limit {limit})")
                bad += 1
            start = None
sys.exit(1 if bad else 0)

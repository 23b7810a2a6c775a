#!/usr/bin/env python3
"""check_functions.py - function sizes in the library (src/).

The house style keeps functions short: none may pass MAX lines, and at most
SHARE of them may pass LONG lines.  A function is counted from its opening
brace to its closing brace, both at the start of a line (the style of
every file in src/).

Usage: check_functions.py SRC_DIR [--max 150] [--long 60] [--share 0.02]
       check_functions.py --self-test
Prints the ten longest functions; exit status 1 if a limit is passed.
"""
import argparse
import os
import re
import sys
import tempfile

NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")


def functions(path):
    """(lines, name, first line) of each function definition in a C file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    out, start = [], None
    for i, line in enumerate(lines):
        if start is None and line.startswith("{"):
            # the signature: the lines above, up to a blank line or a ';'/'}'
            j, sig = i - 1, ""
            while j >= 0 and lines[j].strip() and not lines[j].startswith(("}", "#")) \
                    and not lines[j].rstrip().endswith((";", "*/")):
                sig = lines[j] + " " + sig
                j -= 1
            m = NAME.search(sig)
            if m is None or sig.lstrip().startswith(("struct", "enum", "union", "typedef")) \
                    or "=" in sig.split("(")[0]:
                continue  # an initializer or a type, not a function
            start = (i, m.group(1))
        elif start is not None and line.startswith("}"):
            out.append((i - start[0] + 1, start[1], start[0] + 1))
            start = None
    return out


def survey(src):
    found = []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if name.endswith(".c"):
                path = os.path.join(root, name)
                for n, fn, line in functions(path):
                    found.append((n, os.path.relpath(path, os.path.dirname(src.rstrip("/"))), line, fn))
    return sorted(found, reverse=True)


def check(src, max_lines, long_lines, share):
    found = survey(src)
    over_max = [f for f in found if f[0] > max_lines]
    over_long = [f for f in found if f[0] > long_lines]
    errors = [f"{p}:{line}: {fn} has {n} lines (at most {max_lines})"
              for n, p, line, fn in over_max]
    if found and len(over_long) > share * len(found):
        errors.append(f"{len(over_long)} of {len(found)} functions have more than "
                      f"{long_lines} lines (at most {share:.0%}: "
                      f"{int(share * len(found))})")
    return found, over_long, errors


def self_test():
    body = "\n".join("    x++;" for _ in range(70))
    text = ("static int small(int x)\n{\n    return x;\n}\n\n"
            "static const int table[] = {\n1, 2,\n};\n\n"
            f"int big(int x)\n{{\n{body}\n    return x;\n}}\n")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        with open(os.path.join(src, "a.c"), "w") as f:
            f.write(text)
        found, over, errors = check(src, 150, 60, 0.02)
        found2, _, errors2 = check(src, 50, 60, 1.0)
    ok = ([f[3] for f in found] == ["big", "small"] and found[0][0] == 73 and
          len(errors) == 1 and "2 functions" in errors[0] and len(errors2) == 1)
    print("self-test:", "ok" if ok else "FAILED", found, errors, errors2)
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("--max", type=int, default=150)
    ap.add_argument("--long", type=int, default=60)
    ap.add_argument("--share", type=float, default=0.02)
    a = ap.parse_args()
    found, over_long, errors = check(a.src, a.max, a.long, a.share)
    for n, p, line, fn in found[:10]:
        print(f"  {n:4} {p}:{line} {fn}")
    for e in errors:
        print(e)
    print(f"functions: {len(found)}, over {a.long} lines: {len(over_long)} "
          f"({100 * len(over_long) / max(len(found), 1):.1f} %), longest {found[0][0] if found else 0}")
    return 1 if errors or not found else 0


if __name__ == "__main__":
    sys.exit(main())

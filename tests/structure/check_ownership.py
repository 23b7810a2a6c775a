#!/usr/bin/env python3
"""check_ownership.py - docs/ownership.md covers the public headers.

Every public function that takes or returns an object (a parameter or a
return type mentioning rcgc_object), and every hook (a function-pointer
type or struct member that receives an object), must be named in
docs/ownership.md's tables, in backticks.  When a function returns an object
or hands objects out through an rcgc_object ** parameter, its contract
comment in the header says NEW or BORROWED, and the document's row for it
says the same word.

Usage: check_ownership.py INCLUDE_DIR DOC.md
       check_ownership.py --list INCLUDE_DIR     (what the headers declare)
       check_ownership.py --self-test
Exit status 0 when the document covers the headers, 1 otherwise.
"""
import os
import re
import sys
import tempfile

COMMENT = re.compile(r"/\*.*?\*/", re.S)
WORDS = ("NEW", "BORROWED", "STEALS")


def declarations(text):
    """(kind, name, signature, comment) for each function, function-pointer
    typedef and function-pointer struct member of a header."""
    out = []
    # Drop preprocessor lines (with continuations), keep line structure.
    lines, skip = [], False
    for line in text.split("\n"):
        if skip or line.lstrip().startswith("#"):
            skip = line.rstrip().endswith("\\")
            lines.append("")
            continue
        lines.append(line)
    text = "\n".join(lines)
    pos, comment, buf = 0, "", ""
    depth = 0  # braces of inline function bodies (skipped)
    token = re.compile(r"/\*.*?\*/|[{};]|[^{};/]+|/", re.S)
    last_end = -1  # where the last declaration's ';' was
    for m in token.finditer(text):
        t = m.group(0)
        if t.startswith("/*"):
            if depth == 0:
                if out and last_end >= 0 and "\n" not in text[last_end:m.start()]:
                    k, n, sig, com = out[-1]  # an end-of-line comment: its own
                    out[-1] = (k, n, sig, com + t)
                elif buf.strip():
                    comment = comment + t
                else:
                    comment = t
            continue
        if t == "{":
            if depth == 0 and "(" in buf and re.search(r"\)\s*$", buf):
                out.extend(parse(buf, comment))  # an inline function
                buf, comment = "", ""
                depth = 1
                continue
            if depth > 0:
                depth += 1
            else:
                buf = ""  # struct/enum/union body: members parsed one by one
            continue
        if t == "}":
            if depth > 0:
                depth -= 1
            buf = ""
            continue
        if depth > 0:
            continue
        if t == ";":
            if not comment.strip() and out and last_end >= 0 and \
                    not re.search(r"\n\s*\n", text[last_end:m.start()]):
                comment = out[-1][3]  # a group of declarations, one comment
            found = parse(buf, comment)
            out.extend(found)
            last_end = m.end() if found else -1
            buf, comment = "", ""
            continue
        buf += t
    return out


IDENT = r"[A-Za-z_]\w*"


def parse(decl, comment):
    d = " ".join(decl.split())
    if "(" not in d or "rcgc_object" not in d:
        return []
    m = re.search(r"\(\s*\*\s*(%s)\s*\)\s*\(" % IDENT, d)
    if m:  # typedef or member: a hook
        return [("hook", m.group(1), d, comment)]
    m = re.search(r"(%s)\s*\(" % IDENT, d)
    if not m or m.group(1) in ("sizeof", "__attribute__"):
        return []
    return [("function", m.group(1), d, comment)]


def header_decls(include_dir):
    decls = []
    for name in sorted(os.listdir(include_dir)):
        if name.endswith(".h"):
            with open(os.path.join(include_dir, name), encoding="utf-8") as f:
                for kind, fn, sig, com in declarations(f.read()):
                    if fn.startswith("rcgc__"):
                        continue  # internal, behind a public macro
                    decls.append((name, kind, fn, sig, com))
    return decls


def hands_out(sig, name):
    """True when the function returns an object or passes objects through a
    pointer to pointers (rcgc_object **, not an input array *const *)."""
    before = sig.split(name + "(", 1)[0]
    return "rcgc_object *" in before or re.search(r"rcgc_object \*\*", sig) is not None


def doc_rows(doc_text):
    """{name: row text} for every backticked name in a table row."""
    rows = {}
    for line in doc_text.split("\n"):
        if not line.startswith("|"):
            continue
        for n in re.findall(r"`([^`]+)`", line.split("|")[1] if line.count("|") > 1 else line):
            for part in re.findall(IDENT, n):
                rows.setdefault(part, line)
            # "_is_finalized" style shorthands after an rcgc_object_ name
            if n.startswith("_"):
                rows.setdefault("rcgc_object" + n, line)
    return rows


def word_in(text):
    return [w for w in WORDS if re.search(r"\b%s\b" % w, text)]


def check(include_dir, doc_path):
    with open(doc_path, encoding="utf-8") as f:
        rows = doc_rows(f.read())
    errors, n = [], 0
    for header, kind, fn, sig, com in header_decls(include_dir):
        n += 1
        where = f"include/{header}: {kind} {fn}"
        if fn not in rows:
            errors.append(f"{where} takes or returns an object but is not in "
                          f"{os.path.basename(doc_path)}")
            continue
        if kind != "function" or not hands_out(sig, fn):
            continue
        h = word_in(com)
        if not h:
            errors.append(f"{where} hands out or takes objects through a "
                          f"pointer but its comment says none of {'/'.join(WORDS)}")
            continue
        d = word_in(rows[fn])
        if not d:
            errors.append(f"{where}: the document's row says none of "
                          f"{'/'.join(WORDS)}")
        elif not set(d) & set(h):
            errors.append(f"{where}: the header says {'/'.join(h)}, the "
                          f"document says {'/'.join(d)}")
    return n, errors


def self_test():
    header = """
/* A thing.  NEW reference. */
rcgc_object *rcgc_thing_new(rcgc_runtime *rt);
/* BORROWED. */
rcgc_object *rcgc_thing_peek(rcgc_runtime *rt, rcgc_object *t);
int rcgc_thing_use(rcgc_runtime *rt, rcgc_object *t);
typedef int (*rcgc_thing_hook)(rcgc_object *self);
static inline int rcgc_thing_ok(const rcgc_object *o) { return o != 0; }
int rcgc_no_objects(int x);
rcgc_object *rcgc_eol_new(rcgc_runtime *rt);              /* NEW */
"""
    good = """| function | in | out |
|---|---|---|
| `rcgc_thing_new` | - | **NEW** |
| `rcgc_thing_peek` | borrowed | **BORROWED** |
| `rcgc_thing_use`, `rcgc_thing_ok` | borrowed | - |
| `rcgc_thing_hook` | borrowed | |
| `rcgc_eol_new` | - | **NEW** |
"""
    bad = good.replace("| `rcgc_thing_peek` | borrowed | **BORROWED** |",
                       "| `rcgc_thing_peek` | borrowed | **NEW** |").replace(
                       "| `rcgc_thing_hook` | borrowed | |\n", "")
    with tempfile.TemporaryDirectory() as tmp:
        inc = os.path.join(tmp, "include")
        os.makedirs(inc)
        with open(os.path.join(inc, "t.h"), "w") as f:
            f.write(header)
        for name, text in (("good.md", good), ("bad.md", bad)):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        n1, e1 = check(inc, os.path.join(tmp, "good.md"))
        n2, e2 = check(inc, os.path.join(tmp, "bad.md"))
    ok = n1 == 6 and not e1 and len(e2) == 2
    print("self-test:", "ok" if ok else "FAILED", n1, e1, e2)
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) == 3 and argv[1] == "--list":
        for header, kind, fn, sig, com in header_decls(argv[2]):
            print(f"{header:16} {kind:8} {fn}")
        return 0
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    n, errors = check(argv[1], argv[2])
    for e in errors:
        print(e)
    print(f"ownership: {n} declarations with objects, {len(errors)} problems")
    return 1 if errors or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

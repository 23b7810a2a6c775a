#!/usr/bin/env python3
"""weakmap_keys_cpython.py - the weak containers with hash/eq hooks against
CPython's weakref module.

Runs test_weakmap_keys's cpython_transcript test, which writes each
operation of a fixed sequence and rcgc's result ("op -> result"), replays
the operations on CPython with WeakValueDictionary, WeakSet and
WeakKeyDictionary and keys whose __hash__ is id % 3 and whose __eq__
compares ids (the test's hooks, tests/support/keyhooks.h), and compares the
results line by line (a WeakSet's items as a sorted list: CPython's
order is its set's).  "fail_hash" / "fail_eq" make the next __hash__ /
__eq__ call raise.

Usage: weakmap_keys_cpython.py PATH/TO/test_weakmap_keys
Exit status 0 when the transcripts agree, 1 when they differ, 77 (skipped)
when python3 is not CPython 3.11 or later.
"""
import gc
import os
import platform
import subprocess
import sys
import tempfile
import weakref

FAIL = {"hash": False, "eq": False}


class Raised(Exception):
    pass


class K:
    """A key or value: __hash__ id % 3, __eq__ by id (keyhooks.h)."""

    __slots__ = ("ident", "other", "__weakref__")

    def __init__(self, ident):
        self.ident = ident
        self.other = None

    def __hash__(self):
        if FAIL["hash"]:
            FAIL["hash"] = False
            raise Raised("hash")
        return self.ident % 3

    def __eq__(self, other):
        if FAIL["eq"]:
            FAIL["eq"] = False
            raise Raised("eq")
        return self.ident == other.ident


def replay(lines):
    gc.disable()
    gc.collect()
    c = {"v": weakref.WeakValueDictionary(), "s": weakref.WeakSet(),
         "k": weakref.WeakKeyDictionary()}
    objs = {}    # name -> object (the program's references)
    names = {}   # id(object) -> name (no reference)

    def name_of(o):
        return names.get(id(o), "?")

    out = []
    for line in lines:
        op_text = line.split(" -> ")[0]
        words = op_text.split()
        op, args = words[0], words[1:]
        res = ""
        if op in ("new", "val", "cyc"):
            o = K(int(args[1]))
            if op == "cyc":
                o.other = o
            objs[args[0]] = o
            names[id(o)] = args[0]
            del o
        elif op == "del":
            del objs[args[0]]
        elif op == "fail_hash":
            FAIL["hash"] = True
        elif op == "fail_eq":
            FAIL["eq"] = True
        elif op == "collect":
            gc.collect()
        elif op == "len":
            res = str(len(c[args[0]]))
        elif op == "list":
            d = c[args[0]]
            parts = []
            if args[0] == "s":
                for item in d:
                    parts.append(name_of(item))
                    del item
            else:
                for key, value in list(d.items()):
                    parts.append("%s:%s" % (name_of(key), name_of(value)))
                    del key, value
            res = " ".join(parts)
        else:
            kind, what = op[0], op[1:]
            d = c[kind]
            key = objs[args[0]]
            value = objs[args[1]] if len(args) > 1 else None
            try:
                if what in ("set", "add"):
                    if kind == "s":
                        d.add(key)
                    else:
                        d[key] = value
                    res = "ok"
                elif what == "get":
                    try:
                        got = d[key]
                        res = name_of(got)
                        del got
                    except KeyError:
                        res = "None"
                elif what == "has":
                    res = str(key in d)
                else:
                    try:
                        if kind == "s":
                            d.remove(key)
                        else:
                            del d[key]
                        res = "ok"
                    except KeyError:
                        res = "missing"
            except Raised:
                res = "error"
            del key, value
            FAIL["hash"] = FAIL["eq"] = False
        out.append("%s -> %s" % (op_text, res))
    return out


def normal(line):
    """A WeakSet iterates in its set's order (by hash), rcgc's weak set in
    insertion order: compare the items of "list s" as a sorted list."""
    if line.startswith("list s -> "):
        return "list s -> " + " ".join(sorted(line[len("list s -> "):].split()))
    return line


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if platform.python_implementation() != "CPython" or sys.version_info < (3, 11):
        print("skipped: needs CPython 3.11 or later")
        return 77
    fd, path = tempfile.mkstemp(suffix=".txt")
    os.close(fd)
    try:
        env = dict(os.environ, RCGC_WEAKKEYS_TRANSCRIPT=path)
        run = subprocess.run([sys.argv[1], "cpython_transcript"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            print(run.stdout)
            print("the C test failed")
            return 1
        with open(path) as f:
            ours = [line.rstrip("\n") for line in f]
    finally:
        os.unlink(path)
    theirs = replay(ours)
    bad = 0
    for a, b in zip(ours, theirs):
        if normal(a) != normal(b):
            print("rcgc:    %s\nCPython: %s" % (a, b))
            bad += 1
    if len(ours) != len(theirs) or not ours:
        print("transcripts differ in length")
        bad += 1
    results = sum(1 for line in ours if not line.endswith("-> "))
    print("%d operations, %d with a result, %d differences (CPython %s)"
          % (len(ours), results, bad, platform.python_version()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

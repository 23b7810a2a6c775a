#!/usr/bin/env python3
"""gc_full.py - cost of one full collection per tracked object, CPython side.

    python3 gc_full.py SHAPE N [STEADY] [--no-freeze]

The CPython twin of bench/gc_full.c (same shapes, steps and output), with
lists as in the methodology of spec §8 (f):

  chain  N lists, each holding a reference to the previous one; the newest
         (the head) is kept, and so is the oldest (the tail).
  pairs  N/2 two-list cycles a <-> b, each a held by one outer list.
  tree   a balanced binary tree of N lists built children-first (both
         subtrees before their parent, as binary-trees' bottomUpTree); a
         node is [left, right], a leaf []; the root is kept.

With gc.disable() while building:

  alive_first   gc.collect() right after building (objects in gen 0); must
                return 0.
  alive_steady  STEADY further gc.collect() calls (objects in gen 2); each
                must return 0.
  garbage       chain: tail.append(head), then del head, tail (one N-list
                cycle); pairs: del holder; tree: the leftmost leaf appends
                the root, then del root.  gc.collect() must return N.

Before building, the interpreter's own objects are collected and then frozen
(gc.freeze()) so that the collections see only the benchmark's objects, as
the rcgc runtime does; --no-freeze leaves them in (about 11,000 objects,
~1% of N = 10^6).

Output: one JSON object per line on stdout, the same fields as gc_full.c
(without the rcgc phase times).  Exit status 0, 2 if a collection returned
the wrong count, 1 on a usage error.
"""
import gc
import json
import sys
import time

perf_counter_ns = time.perf_counter_ns


def rss_bytes():
    try:
        import os
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")
    except (OSError, ValueError, IndexError):
        return -1


def build_chain(n):
    tail = []
    head = tail
    for _ in range(n - 1):
        head = [head]
    return head, tail


def build_pairs(n):
    holder = []
    append = holder.append
    for _ in range(n // 2):
        a = []
        b = [a]
        a.append(b)
        append(a)
    return holder


def build_tree(n):
    """Balanced, children first: (n - 1) // 2 nodes on the left."""
    nl = (n - 1) // 2
    nr = n - 1 - nl
    if nl == 0 and nr == 0:
        return []
    left = build_tree(nl) if nl else None
    right = build_tree(nr)
    return [left, right] if left is not None else [None, right]


def vmhwm():
    """Peak RSS of this process in bytes (VmHWM), -1 if unknown: the
    driver's wait4 figure starts at the driver's own RSS."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return -1


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    opts = [a for a in argv[1:] if a.startswith("--")]
    if (len(args) not in (2, 3) or args[0] not in ("chain", "pairs", "tree")
            or any(o != "--no-freeze" for o in opts)):
        print("usage: gc_full.py chain|pairs|tree N [STEADY] [--no-freeze]",
              file=sys.stderr)
        return 1
    shape = args[0]
    n = int(args[1])
    steady = int(args[2]) if len(args) > 2 else 1
    if n < 2 or (shape == "pairs" and n % 2) or steady < 0:
        print("gc_full.py: N must be >= 2 (and even for pairs), STEADY >= 0",
              file=sys.stderr)
        return 1
    freeze = "--no-freeze" not in opts
    failures = 0
    common = {"system": "cpython", "shape": shape, "n": n}

    def emit(record):
        print(json.dumps({**common, **record}), flush=True)

    def timed_collect(case, rep, expected):
        nonlocal failures
        t0 = perf_counter_ns()
        got = gc.collect()
        t1 = perf_counter_ns()
        ok = got == expected
        if not ok:
            failures += 1
            print(f"gc_full.py: {shape} {case} N={n}: collect returned {got},"
                  f" expected {expected}", file=sys.stderr)
        emit({"case": case, "rep": rep, "ns": t1 - t0,
              "ns_per_obj": round((t1 - t0) / n, 3), "collected": got,
              "expected": expected, "ok": ok})

    gc.disable()
    gc.collect()
    if freeze:
        gc.freeze()
    frozen = gc.get_freeze_count()

    rss0 = rss_bytes()
    b0 = perf_counter_ns()
    if shape == "pairs":
        holder = build_pairs(n)
    elif shape == "tree":
        head = build_tree(n)
        tail = head
        while tail and tail[0] is not None:
            tail = tail[0]
    else:
        head, tail = build_chain(n)
    b1 = perf_counter_ns()
    rss1 = rss_bytes()
    obj_header = object.__basicsize__                 # ob_refcnt + ob_type
    gc_header = sys.getsizeof([]) - [].__sizeof__()   # PyGC_Head
    emit({"case": "build", "ns": b1 - b0,
          "ns_per_obj": round((b1 - b0) / n, 3),
          "overhead_per_obj": obj_header + gc_header,
          "object_header": obj_header, "gc_header": gc_header,
          "list_sizeof": sys.getsizeof([]),
          "rss_per_obj": round((rss1 - rss0) / n, 3)
          if rss0 >= 0 and rss1 >= 0 else -1,
          "frozen": frozen, "version": sys.version.split()[0]})

    timed_collect("alive_first", 0, 0)
    for i in range(1, steady + 1):
        timed_collect("alive_steady", i, 0)

    if shape == "pairs":
        del holder
    elif shape == "tree":
        if tail:
            tail[0] = head
        else:
            tail.append(head)
        del head, tail
    else:
        tail.append(head)
        del head, tail
    timed_collect("garbage", 0, n)
    emit({"case": "end", "vmhwm": vmhwm()})
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

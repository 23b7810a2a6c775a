#!/usr/bin/env python3
"""gc_young.py - young collections beside N old objects, CPython side.

    python3 gc_young.py N_OLD [REPS [YOUNG [HOT]]]

The CPython 3.11 twin of bench/gc_young.c (the same steps and output), with
lists for nodes:

  old heap  a balanced binary tree of N_OLD lists built children-first (a
            node is [left, right], gc_full.py's tree), promoted to the oldest
            generation by one gc.collect(); HOT of its nodes, every
            N_OLD // HOT-th in creation order, are the old objects the young
            ones refer to (HOT = 0: any old node, at random).
  each rep  YOUNG new lists: YOUNG // 14 dropped two-list cycles interleaved
            with chains of survivors, each survivor [previous survivor, hot
            old node], each cycle member [its partner, hot old node]; the
            newest survivor is kept.  gc.collect(0) is timed
            (time.perf_counter_ns and time.thread_time_ns around the call);
            it must return the number of garbage lists.  Then the survivors
            are dropped (freed by reference counting) and every 10th rep an
            untimed gc.collect(1) follows.

Automatic collection is off (gc.disable()), and the interpreter's own
objects are collected and frozen (gc.freeze()) first, so the collections see
only the benchmark's objects.  50 untimed reps come first.  Output: JSON
lines "build", "summary" and "end" as gc_young.c's (no phase times).  Exit
status 0, 2 when a collection returned a wrong count, 1 on a usage error.
"""
import gc
import json
import os
import random
import sys
import time

WARMUP = 50
GEN1_EVERY = 10


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")
    except (OSError, ValueError, IndexError):
        return -1


def vmhwm():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return -1


def build_tree(n, stride, cap, hot, counter):
    """Balanced, children first: (n - 1) // 2 nodes on the left."""
    nl = (n - 1) // 2
    nr = n - 1 - nl
    left = build_tree(nl, stride, cap, hot, counter) if nl else None
    right = build_tree(nr, stride, cap, hot, counter) if nr else None
    node = [left, right]
    if counter[0] % stride == 0 and len(hot) < cap:
        hot.append(node)
    counter[0] += 1
    return node


def pct(vals, p):
    k = max(1, (p * len(vals) + 99) // 100)
    return vals[k - 1]


def main():
    args = sys.argv[1:]
    if not 1 <= len(args) <= 4:
        sys.exit("usage: gc_young.py N_OLD [REPS [YOUNG [HOT]]]")
    n_old = int(args[0])
    reps = int(args[1]) if len(args) > 1 else 2000
    young = int(args[2]) if len(args) > 2 else 700
    want_hot = int(args[3]) if len(args) > 3 else 256
    if n_old < 1 or reps < 1 or young < 2 or want_hot < 0:
        sys.exit("gc_young.py: N_OLD >= 1, REPS >= 1, YOUNG >= 2, HOT >= 0")
    pairs = young // 14
    survivors = young - 2 * pairs
    per = survivors // pairs if pairs else survivors
    spread = want_hot == 0 or want_hot >= n_old
    cap = n_old if spread else want_hot
    stride = 1 if spread else n_old // want_hot

    gc.disable()
    gc.collect()
    gc.freeze()
    sys.setrecursionlimit(max(1000, 4 * n_old.bit_length() + 100))

    hot = []
    rss0 = rss_bytes()
    t0 = time.perf_counter_ns()
    root = build_tree(n_old, stride, cap, hot, [0])
    t1 = time.perf_counter_ns()
    rss1 = rss_bytes()
    got = gc.collect()
    t2 = time.perf_counter_ns()
    failures = 0
    if got != 0:
        print(f"gc_young.py: the full collection returned {got}",
              file=sys.stderr)
        failures += 1
    print(json.dumps({
        "system": "cpython", "case": "build", "n_old": n_old,
        "hot": len(hot), "young": young, "garbage": 2 * pairs,
        "build_ns": t1 - t0, "full_collect_ns": t2 - t1,
        "rss_per_old": round((rss1 - rss0) / n_old, 2)
        if rss0 >= 0 and rss1 >= 0 else -1.0,
        "python": sys.version.split()[0]}), flush=True)

    rnd = random.Random(12345)
    pick = rnd.choice
    collect = gc.collect
    perf = time.perf_counter_ns
    tcpu = time.thread_time_ns
    wall, cpu = [], []
    bad, bad_got = 0, 0
    expected = 2 * pairs
    for r in range(-WARMUP, reps):
        head = None
        made = 0
        for _ in range(pairs):
            for _ in range(per):
                head = [head, pick(hot)]
            a = [None, pick(hot)]
            b = [a, pick(hot)]
            a[0] = b
            del a, b
            made += per
        while made < survivors:
            head = [head, pick(hot)]
            made += 1
        c0 = tcpu()
        s0 = perf()
        got = collect(0)
        s1 = perf()
        c1 = tcpu()
        if got != expected:
            bad += 1
            bad_got = got
        if r >= 0:
            wall.append(s1 - s0)
            cpu.append(c1 - c0)
        head = None
        if (r + WARMUP + 1) % GEN1_EVERY == 0:
            collect(1)
    if bad:
        print(f"gc_young.py: {bad} of {reps + WARMUP} young collections "
              f"returned a wrong count (last {bad_got}, expected "
              f"{expected})", file=sys.stderr)
        failures += 1
    wall.sort()
    cpu.sort()
    print(json.dumps({
        "system": "cpython", "case": "summary", "n_old": n_old,
        "hot": len(hot), "young": young, "reps": reps,
        "collected": expected, "ok": not bad,
        "median_ns": pct(wall, 50), "p10_ns": pct(wall, 10),
        "p90_ns": pct(wall, 90), "min_ns": wall[0], "max_ns": wall[-1],
        "cpu_median_ns": pct(cpu, 50), "cpu_p10_ns": pct(cpu, 10),
        "cpu_p90_ns": pct(cpu, 90)}), flush=True)
    print(json.dumps({"system": "cpython", "case": "end", "vmhwm": vmhwm()}),
          flush=True)
    # Skip the interpreter's teardown of N_OLD lists (seconds at 10^7).
    sys.stdout.flush()
    os._exit(2 if failures else 0)


if __name__ == "__main__":
    main()

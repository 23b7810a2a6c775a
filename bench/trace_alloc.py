#!/usr/bin/env python3
"""trace_alloc.py - what tracemalloc costs an allocation-bound program,
CPython side of bench/trace_bench.c (same workload, same random numbers,
same checksum); bench/trace_bench.py runs both.

    python3 bench/trace_alloc.py MODE [DEPTH [CHURN_OPS [SEED [GC]]]]

MODE: untraced, tracemalloc1 (tracemalloc.start(1)) or tracemalloc16
(tracemalloc.start(16)).  Defaults: depth 18, 500000 churn ops, seed 1,
GC 0 (gc.disable(), as the C side's gc_enabled = 0).  Prints one JSON
object on stdout.

Objects, and why:
  * tree nodes are instances of a class with __slots__ = ('left', 'right'):
    like the C side's node, one allocation per node, a tracked GC object
    with two reference slots and no dict, 48 bytes (16-byte PyGC_Head +
    16-byte PyObject header + two slots), exactly rcgc's 48.  Tuples
    would be cheaper in Python, but a 2-tuple is 56 bytes, carries a length,
    and CPython untracks leaf tuples lazily: a different object from the C
    one.  Leaves set both slots to None (an unset slot cannot be read).
  * blobs are bytes(n): one non-GC object with n inline bytes (rcgc: an
    object of 24 + n bytes from RCGC_NEW_SIZED);
  * buffers are bytearray(n): an object plus a separately allocated, zeroed
    buffer (rcgc: an object plus an RCGC_CALLOC buffer, freed by its release
    hook).

The script of churn operations (kinds, sizes, slots) is drawn before the
timed part and tracing, from lists of shared int objects, so the timed loop
creates no int objects of its own (a loop over fresh ints > 256 would add
one traced allocation per number).
"""
import gc
import json
import resource
import sys
import time
import tracemalloc

NURSERY = 64
SLOTS = NURSERY + 16384
M64 = (1 << 64) - 1


class Node:
    __slots__ = ("left", "right")


nodes_made = 0


def bottom_up(depth):
    if depth > 0:
        left = bottom_up(depth - 1)
        right = bottom_up(depth - 1)
        n = Node()
        n.left = left
        n.right = right
        return n
    n = Node()
    n.left = None
    n.right = None
    return n


def item_check(n):
    if n.left is None:
        return 1
    return 1 + item_check(n.left) + item_check(n.right)


def tree_nodes(depth):
    return (1 << (depth + 1)) - 1


def make_script(ops, seed):
    """Knuth's MMIX LCG, upper 31 bits, as trace_bench.c's lcg()."""
    state = seed & M64
    ints = list(range(4097 + SLOTS))  # shared int objects
    kinds, sizes, slots = [], [], []
    mul, inc = 6364136223846793005, 1442695040888963407
    for _ in range(ops):
        state = (state * mul + inc) & M64
        r1 = state >> 33
        state = (state * mul + inc) & M64
        r2 = state >> 33
        kind = r1 & 1
        kinds.append(kind)
        sizes.append(ints[16 + (r1 >> 1) % 4081 if kind else 8 + (r1 >> 1) % 497])
        slots.append(ints[(r2 >> 4) % NURSERY if r2 % 10 < 8
                          else NURSERY + (r2 >> 4) % (SLOTS - NURSERY)])
    return kinds, sizes, slots


def churn(kinds, sizes, slots):
    live = [None] * SLOTS
    for kind, n, j in zip(kinds, sizes, slots):
        live[j] = bytearray(n) if kind else bytes(n)
    total = 0
    for o in live:
        if o is not None:
            total += len(o) + o[-1]
    del live
    return total


def status_mb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return -1.0


def main():
    modes = {"untraced": 0, "tracemalloc1": 1, "tracemalloc16": 16}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        print(f"usage: {sys.argv[0]} MODE [DEPTH [CHURN_OPS [SEED [GC]]]]\n"
              f"modes: {' '.join(modes)}", file=sys.stderr)
        return 2
    mode = sys.argv[1]
    nframe = modes[mode]
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 18
    ops = max(0, int(sys.argv[3])) if len(sys.argv) > 3 else 500000
    seed = int(sys.argv[4], 0) if len(sys.argv) > 4 else 1
    use_gc = int(sys.argv[5]) != 0 if len(sys.argv) > 5 else False
    min_depth = 4
    depth = max(depth, min_depth + 2)
    sys.setrecursionlimit(max(1000, depth + 100))

    kinds, sizes, slots = make_script(ops, seed)
    if not use_gc:
        gc.disable()
    gc.collect()
    rss_start = status_mb("VmRSS")
    if nframe:
        tracemalloc.start(nframe)

    c0 = time.process_time()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    check = 0
    stretch = bottom_up(depth + 1)
    check += item_check(stretch)
    stretch_overhead = tracemalloc.get_tracemalloc_memory() if nframe else 0
    del stretch
    long_lived = bottom_up(depth)
    nodes = tree_nodes(depth + 1) + tree_nodes(depth)
    for d in range(min_depth, depth + 1, 2):
        iterations = 1 << (depth - d)
        for _ in range(iterations):
            t = bottom_up(d)
            check += item_check(t)
            del t
        nodes += iterations * tree_nodes(d)
    t_trees = time.perf_counter() - t0
    churn_sum = churn(kinds, sizes, slots)
    check += item_check(long_lived)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    r1 = resource.getrusage(resource.RUSAGE_SELF)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hwm = status_mb("VmHWM")
    overhead = tracemalloc.get_tracemalloc_memory() if nframe else 0
    cur, tpeak = tracemalloc.get_traced_memory()
    traced = 0
    if nframe:
        traced = len(tracemalloc.take_snapshot().traces)
    del long_lived
    if nframe:
        tracemalloc.stop()

    print(json.dumps({
        "system": "cpython", "mode": mode, "depth": depth, "churn_ops": ops,
        "gc": int(use_gc), "nodes": nodes, "checksum": check + churn_sum,
        "wall_s": round(secs, 4), "cpu_s": round(cpu, 4),
        "user_s": round(r1.ru_utime - r0.ru_utime, 4),
        "sys_s": round(r1.ru_stime - r0.ru_stime, 4),
        "trees_wall_s": round(t_trees, 4), "peak_rss_mb": round(peak, 1),
        "vmhwm_mb": round(hwm, 1), "rss_start_mb": round(rss_start, 1),
        "traced_blocks": traced, "overhead_bytes": overhead,
        "traced_current": cur, "traced_peak": tpeak,
        "stretch_blocks": tree_nodes(depth + 1),
        "stretch_overhead_bytes": stretch_overhead,
        "python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

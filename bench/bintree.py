#!/usr/bin/env python3
"""bintree.py - Benchmarks Game binary-trees on CPython, the cpython row of
bench/suite_alloc.py (alloc_bench.c's bintree / bintree_obj are the C rows).

    python3 bench/bintree.py DEPTH

Nodes are tuples, as in the Benchmarks Game's Python programs and the
anchors' CPython row: make_tree(0) is the literal (None, None), which the
compiler folds into one constant, so every leaf is the same tuple and CPython
allocates only the interior nodes (about half of them); the node count and
the check sum are those of the C programs all the same.  One process, one
thread, automatic collection on (CPython's defaults).

Prints one JSON object: nodes, check, user/sys CPU seconds and wall seconds
of the work, ns per node, peak RSS.  Exits with status 3 when the check sum
is not the expected node count.
"""
import json
import resource
import sys
import time


def peak_rss_mb():
    """VmHWM: unlike ru_maxrss, not floored at the parent's RSS at fork."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

MIN_DEPTH = 4


def make_tree(d):
    if d > 0:
        d -= 1
        return (make_tree(d), make_tree(d))
    return (None, None)


def check_tree(node):
    l, r = node
    if l is None:
        return 1
    return 1 + check_tree(l) + check_tree(r)


def tree_size(d):
    return (2 << d) - 1


def expected(max_depth):
    n = tree_size(max_depth + 1) + tree_size(max_depth)
    for d in range(MIN_DEPTH, max_depth + 1, 2):
        n += (1 << (max_depth - d + MIN_DEPTH)) * tree_size(d)
    return n


def main():
    max_depth = max(MIN_DEPTH + 2, int(sys.argv[1]) if len(sys.argv) > 1
                    else 21)
    sys.setrecursionlimit(10000)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    check = check_tree(make_tree(max_depth + 1))  # the stretch tree
    long_lived = make_tree(max_depth)
    for d in range(MIN_DEPTH, max_depth + 1, 2):
        iterations = 1 << (max_depth - d + MIN_DEPTH)
        for _ in range(iterations):
            check += check_tree(make_tree(d))
    check += check_tree(long_lived)
    del long_lived
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    user = r1.ru_utime - r0.ru_utime
    nodes = expected(max_depth)
    ok = check == nodes
    print(json.dumps({
        "bench": "bintree", "system": "cpython", "depth": max_depth,
        "nodes": nodes, "check": check, "expected": nodes, "ok": ok,
        "seconds": round(wall, 4), "user": round(user, 4),
        "sys": round(r1.ru_stime - r0.ru_stime, 4),
        "ns_per_node": round(wall * 1e9 / nodes, 3),
        "ns_per_node_user": round(user * 1e9 / nodes, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "python": sys.version.split()[0], "node": "tuple"}))
    if not ok:
        print(f"bintree.py: check {check}, must be {nodes}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""gcbench.py - Ellis/Kovac/Boehm GCBench on CPython, the cpython row of
bench/suite_alloc.py (alloc_bench.c's gcbench / gcbench_obj are the C rows).

    python3 bench/gcbench.py DEPTH      # DEPTH = kStretchTreeDepth (18)

Nodes are instances of a class with __slots__ = ('left', 'right', 'i', 'j'):
GCBench's Node0 (two references, two ints), one tracked GC object of 64
bytes each (16-byte GC header + 16-byte object header + 4 slots of 8 bytes;
rcgc's gcbench_obj node is 56: the ints take 4 bytes each), no dict.  Top-down construction (Populate) assigns new nodes to
the attributes of an older node; bottom-up (MakeTree) passes the children to
the constructor.  The long-lived array is an array.array('d') of kArraySize
doubles, half filled.  Automatic collection on (CPython's defaults).

A smaller DEPTH scales the program down as alloc_bench.c does: long-lived
and largest trees of depth DEPTH - 2, the array 500000 * 2^(DEPTH - 18).

Prints one JSON object; exits with status 3 when a check fails (node counts
of the last tree built at each depth, of the stretch and long-lived trees,
and array[1000]).
"""
import array
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


class Node:
    __slots__ = ("left", "right", "i", "j")

    def __init__(self, left=None, right=None):
        self.left = left
        self.right = right
        self.i = 0
        self.j = 0


def tree_size(d):
    return (2 << d) - 1


def populate(depth, node):
    """Build tree top down, assigning to older objects."""
    if depth <= 0:
        return
    depth -= 1
    node.left = Node()
    node.right = Node()
    populate(depth, node.left)
    populate(depth, node.right)


def make_tree(depth):
    """Build tree bottom up."""
    if depth <= 0:
        return Node()
    return Node(make_tree(depth - 1), make_tree(depth - 1))


def count(node):
    if node is None:
        return 0
    return 1 + count(node.left) + count(node.right)


def params(depth):
    depth = max(depth, 8)
    size = (500000 << (depth - 18) if depth >= 18
            else 500000 >> (18 - depth))
    return depth, depth - 2, 4, depth - 2, size


def main():
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 18
    stretch, long_lived_depth, min_depth, max_depth, array_size = \
        params(depth)

    def iters(d):
        return 2 * tree_size(stretch) // tree_size(d)

    expected = tree_size(stretch) + tree_size(long_lived_depth)
    for d in range(min_depth, max_depth + 1, 2):
        expected += 2 * iters(d) * tree_size(d)

    errors = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    tmp = make_tree(stretch)  # stretch the memory space quickly
    check = count(tmp)
    tmp = None
    long_lived = Node()
    populate(long_lived_depth, long_lived)
    arr = array.array("d", bytes(8 * array_size))
    arr[0] = float("inf")
    for i in range(1, array_size // 2):
        arr[i] = 1.0 / i
    for d in range(min_depth, max_depth + 1, 2):
        n = iters(d)
        for i in range(n):  # top down
            tmp = Node()
            populate(d, tmp)
            if i == n - 1:
                check += count(tmp) * 2 * n
            tmp = None
        for i in range(n):  # bottom up
            tmp = make_tree(d)
            if i == n - 1 and count(tmp) != tree_size(d):
                errors.append(f"bottom-up tree of depth {d}: {count(tmp)} "
                              f"nodes")
            tmp = None
    check += count(long_lived)
    if arr[1000] != 1.0 / 1000:
        errors.append("array[1000] changed")
    del long_lived, arr
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    user = r1.ru_utime - r0.ru_utime
    if check != expected:
        errors.append(f"check {check}, must be {expected}")
    print(json.dumps({
        "bench": "gcbench", "system": "cpython", "depth": depth,
        "nodes": expected, "check": check, "expected": expected,
        "ok": not errors, "seconds": round(wall, 4), "user": round(user, 4),
        "sys": round(r1.ru_stime - r0.ru_stime, 4),
        "ns_per_node": round(wall * 1e9 / expected, 3),
        "ns_per_node_user": round(user * 1e9 / expected, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "stretch_depth": stretch, "long_lived_depth": long_lived_depth,
        "max_depth": max_depth, "array_size": array_size,
        "node_bytes": sys.getsizeof(Node()),
        "python": sys.version.split()[0], "node": "__slots__ class"}))
    for e in errors:
        print(f"gcbench.py: {e}", file=sys.stderr)
    return 3 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""gc_shapes.py - pyperformance's gc shapes and bytes per tracked object,
CPython side (bench/gc_shapes.c is rcgc's).

    python3 gc_shapes.py collect [REPS]      pyperformance bm_gc_collect
    python3 gc_shapes.py traversal [REPS]    pyperformance bm_gc_traversal
    python3 gc_shapes.py memory [N]          bytes per tracked object

collect: as bm_gc_collect: each rep runs gc.collect(), builds 100 rings of 21
  Node objects (next/prev attributes), drops them and times the one
  gc.collect() that frees them (must return 2100).
traversal: as bm_gc_traversal: 1,000 lists, level n holding n references to
  level n-1 (499,500 edges), built once; each rep runs gc.collect() and then
  times one gc.collect() (must return 0).
The interpreter's own objects are NOT frozen: its ~12k tracked objects are
the live heap these collections also walk (the count is printed as "live").
Automatic collection is off (gc.disable()) so no young collection runs in
between; the rcgc side does the same.

memory: N instances of a class with __slots__ = ('a', 'b') (the same object
as rcgc's node: a tracked container with two reference slots, 16 bytes of
payload) under tracemalloc: traced bytes / N is what the allocator was asked
for per object (basic size 32 + the 16-byte PyGC_Head in front = 48);
minus the payload gives the overhead, 32 = PyObject header (ob_refcnt,
ob_type: 16) + PyGC_Head (two links: 16).  The same for 2-item lists is
printed too (list object + separate item array).

Output: JSON lines like gc_shapes.c.  Exit status 0, 2 when a collection
returned the wrong count, 1 on usage errors.
"""
import gc
import json
import statistics
import sys
import time

perf_counter_ns = time.perf_counter_ns
CYCLES = 100
LINKS = 20
N_LEVELS = 1000


class Node:
    def __init__(self):
        self.next = None
        self.prev = None

    def link_next(self, next):
        self.next = next
        self.next.prev = self


def create_cycle(node, n_links):
    current = node
    for _ in range(n_links):
        next_node = Node()
        current.link_next(next_node)
        current = next_node
    current.link_next(node)


def create_gc_cycles(n_cycles, n_links):
    cycles = []
    for _ in range(n_cycles):
        node = Node()
        cycles.append(node)
        create_cycle(node, n_links)
    return cycles


def create_recursive_containers(n_levels):
    current_list = []
    for n in range(n_levels):
        new_list = [None] * n
        for index in range(n):
            new_list[index] = current_list
        current_list = new_list
    return current_list


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = None
        self.b = None


def emit(rec):
    print(json.dumps({"system": "cpython", **rec}), flush=True)


def summary(mode, ns, live, edges, failures):
    emit({"case": "summary", "mode": mode, "reps": len(ns),
          "median_ns": statistics.median(ns), "min_ns": min(ns),
          "max_ns": max(ns), "live": live, "edges": edges,
          "tracked": len(gc.get_objects()), "ok": failures == 0,
          "version": sys.version.split()[0]})


def run_collect(reps):
    gc.disable()
    expected = CYCLES * (LINKS + 1)
    ns, failures = [], 0
    gc.collect()
    live = len(gc.get_objects())
    for r in range(reps):
        gc.collect()
        all_cycles = create_gc_cycles(CYCLES, LINKS)
        del all_cycles
        t0 = perf_counter_ns()
        got = gc.collect()
        t1 = perf_counter_ns()
        ns.append(t1 - t0)
        ok = got == expected
        if not ok:
            failures += 1
            print(f"gc_shapes.py: collect rep {r} returned {got}, expected "
                  f"{expected}", file=sys.stderr)
        emit({"case": "collect", "rep": r, "ns": t1 - t0, "collected": got,
              "expected": expected, "ok": ok})
    summary("collect", ns, live, 0, failures)
    return 2 if failures else 0


def run_traversal(reps):
    gc.disable()
    gc.collect()
    live = len(gc.get_objects())
    all_cycles = create_recursive_containers(N_LEVELS)
    edges = N_LEVELS * (N_LEVELS - 1) // 2
    ns, failures = [], 0
    for r in range(reps):
        gc.collect()
        t0 = perf_counter_ns()
        got = gc.collect()
        t1 = perf_counter_ns()
        ns.append(t1 - t0)
        ok = got == 0
        if not ok:
            failures += 1
            print(f"gc_shapes.py: traversal rep {r} returned {got}, "
                  f"expected 0", file=sys.stderr)
        emit({"case": "traversal", "rep": r, "ns": t1 - t0,
              "collected": got, "expected": 0, "ok": ok})
    summary("traversal", ns, live, edges, failures)
    del all_cycles
    return 2 if failures else 0


def traced_per_obj(make, n):
    import tracemalloc
    keep = [None] * n          # allocated before tracing starts
    gc.collect()
    tracemalloc.start(1)
    t0 = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        keep[i] = make()
    t1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (t1 - t0) / n, keep


def run_memory(n):
    gc.disable()
    slotted, keep = traced_per_obj(Slotted, n)
    s = keep[0]
    obj_header = object.__basicsize__                  # ob_refcnt + ob_type
    gc_header = sys.getsizeof(s) - s.__sizeof__()      # PyGC_Head
    payload = Slotted.__basicsize__ - obj_header       # the two slots
    del keep, s
    listed, keep = traced_per_obj(lambda: [None, None], n)
    del keep
    emit({"case": "memory", "n": n, "bytes_per_obj": round(slotted, 1),
          "payload_per_obj": payload,
          "overhead_per_obj": round(slotted - payload, 1),
          "object_header": obj_header, "gc_header": gc_header,
          "basicsize": Slotted.__basicsize__,
          "getsizeof": sys.getsizeof(Slotted()),
          "list2_bytes_per_obj": round(listed, 1),
          "list2_overhead_per_obj": round(listed - 16, 1),
          "version": sys.version.split()[0]})
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("collect", "traversal", "memory"):
        print("usage: gc_shapes.py collect|traversal [REPS] | memory [N]",
              file=sys.stderr)
        return 1
    if argv[1] == "memory":
        return run_memory(int(argv[2]) if len(argv) > 2 else 1000000)
    reps = int(argv[2]) if len(argv) > 2 else 20
    if argv[1] == "collect":
        return run_collect(reps)
    return run_traversal(reps)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

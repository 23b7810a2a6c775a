#!/usr/bin/env python3
"""gc_pause.py - pause times of automatic collections under a steady
allocation workload, CPython side (bench/gc_pause.c is rcgc's).

    python3 gc_pause.py LIVE ITERS [MEDIUM]

The same workload as gc_pause.c, with lists, default thresholds (700, 10, 10):

  long-lived heap  LIVE two-item lists as a complete binary tree (node i holds
                   nodes 2i+1 and 2i+2), built with gc.disable(), then one
                   gc.collect() (generation 2) and gc.enable().  Not frozen:
                   the interpreter's own ~12k objects stay in the collections.
  each iteration   1. a temporary chain of 4 lists, dropped (refcounting);
                   2. a 2-cycle a <-> b, dropped (cyclic garbage);
                   3. table[i % MEDIUM] = [None] (medium-lived, reaches
                      generation 2 and so triggers full collections).

Every collection is timed by a gc.callbacks entry (perf_counter_ns at start
and stop) and recorded with its generation and the thread's CPU time over
the same interval (time.thread_time_ns: tells the collector's time from
preemption on a shared machine): "pauses": [[generation, wall ns, cpu ns]].
Output: one JSON line (the fields of gc_pause.c's).  Exit status 0, 2 when the collections did not find
exactly the 2-cycles, 1 on usage errors.
"""
import gc
import json
import sys
import time


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: gc_pause.py LIVE ITERS [MEDIUM]", file=sys.stderr)
        return 1
    live, iters = int(argv[1]), int(argv[2])
    medium = int(argv[3]) if len(argv) > 3 else 5000
    perf_counter_ns = time.perf_counter_ns
    thread_time_ns = time.thread_time_ns

    gc.disable()
    nodes = [[None, None] for _ in range(live)]
    for i in range(live):
        p = nodes[i]
        if 2 * i + 1 < live:
            p[0] = nodes[2 * i + 1]
        if 2 * i + 2 < live:
            p[1] = nodes[2 * i + 2]
    root = nodes[0]
    del nodes, p
    table = [None] * medium
    gc.collect()

    pauses = []
    found = [0]
    start = [0, 0]
    recording = [True]

    def on_gc(phase, info):
        if phase == "start":
            start[1] = thread_time_ns()
            start[0] = perf_counter_ns()
            return
        d = perf_counter_ns() - start[0]
        c = thread_time_ns() - start[1]
        if recording[0]:
            pauses.append([info["generation"], d, c])
            found[0] += info["collected"] + info["uncollectable"]

    gc.callbacks.append(on_gc)
    gc.enable()

    t0 = perf_counter_ns()
    for i in range(iters):
        tmp = [None]
        tmp = [tmp]
        tmp = [tmp]
        tmp = [tmp]
        del tmp
        a = [None]
        b = [a]
        a[0] = b
        del a, b
        table[i % medium] = [None]
    t1 = perf_counter_ns()
    recording[0] = False

    gc.disable()
    last = gc.collect()
    gc.callbacks.remove(on_gc)
    ok = found[0] + last == 2 * iters
    if not ok:
        print(f"gc_pause.py: the collections found {found[0]} + {last} "
              f"objects, expected {2 * iters}", file=sys.stderr)
    print(json.dumps({
        "system": "cpython", "live": live, "iters": iters, "medium": medium,
        "threshold": list(gc.get_threshold()), "wall_ns": t1 - t0,
        "collections": len(pauses), "found": found[0], "found_after": last,
        "ok": ok, "version": sys.version.split()[0], "pauses": pauses}),
        flush=True)
    del root, table
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Leak diagnosis on 2 million objects: rcgc against CPython, in one run.

    python3 bench/diag_bench.py --bin build/bin/diag_bench [--n 2000000]
                                [--reps 7] [--py-reps 3] [--quick]
                                [--json build/bench/diag.json]

Two shapes, built identically on both sides (automatic collection off):

  chain  a root holding the first of N-1 nodes, each holding the next;
         the target is the last node.
  wide   a root holding 2000 holders, each holding (N-1)/2000 - 1 leaves;
         the target is the last leaf of the last holder.

rcgc (bench/diag_bench.c) times rcgc_diag_count_types, rcgc_diag_why_alive,
rcgc_gc_get_referrers and rcgc_diag_referrers (depth 1).  CPython (this
file, --python-side, in its own process; lists for every object) times:

  typestats        objgraph.typestats' loop: type(o).__name__ of every
                   object of gc.get_objects() counted in a dict
  bfs              a pure-Python breadth-first search from the root to the
                   target over gc.get_referents, parents in a dict (easier
                   than rcgc's task: the root is given, not found)
  backref_chain    objgraph.find_backref_chain(target, is_root) as objgraph
                   3.6 writes it (gc.collect(), then breadth first over
                   gc.get_referrers, max_depth 20); wide only: on the chain
                   the root is 2 million references away
  get_referrers    gc.get_referrers(target)

Then the dominator tree (what holds the memory; rcgc only: CPython has no
equivalent), `diag_bench dom SHAPE N`, for chain, wide and random (node i
holds node i+1 and a random node) at --dom-sizes (default 10^6 and 10^7):
rcgc_diag_dominators and rcgc_diag_top_retainers(20), ns per object and the
peak side memory per object once 4 bytes per reference are set aside.

Each operation runs REPS times in one process; the table shows the median
and the min-max in milliseconds.  build/bench/diag.json gets one record per
operation and system: benchmark, system, metric ("ms"), value (median),
spread ({min, max}), runs.
"""
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

WIDTH = 2000


# ---------------------------------------------------------------- CPython side

def build(shape, n):
    if shape == "chain":
        root = [None]
        cur = root
        for _ in range(n - 1):
            x = [None]
            cur[0] = x
            cur = x
        return root, cur, n
    per = max(1, (n - 1) // WIDTH - 1)
    root = []
    last = None
    for _ in range(WIDTH):
        h = []
        for _ in range(per):
            last = []
            h.append(last)
        root.append(h)
    return root, last, 1 + WIDTH + WIDTH * per


def typestats():
    stats = {}
    for o in gc.get_objects():
        n = type(o).__name__
        stats[n] = stats.get(n, 0) + 1
    return stats


def bfs(root, target):
    parent = {id(root): None}
    objs = {id(root): root}
    queue = [root]
    head = 0
    while head < len(queue):
        x = queue[head]
        head += 1
        for c in gc.get_referents(x):
            if id(c) in parent:
                continue
            parent[id(c)] = x
            if c is target:
                chain = [c]
                while parent[id(chain[-1])] is not None:
                    chain.append(parent[id(chain[-1])])
                return chain[::-1]
            queue.append(c)
            objs[id(c)] = c
    return None


def find_backref_chain(obj, predicate, max_depth=20, extra_ignore=()):
    """objgraph 3.6's find_backref_chain / _find_chain, inlined."""
    queue = [obj]
    depth = {id(obj): 0}
    parent = {id(obj): None}
    ignore = set(extra_ignore)
    ignore.add(id(extra_ignore))
    ignore.add(id(queue))
    ignore.add(id(depth))
    ignore.add(id(parent))
    ignore.add(id(ignore))
    ignore.add(id(sys._getframe()))
    ignore.add(id(sys._getframe(1)))
    gc.collect()
    while queue:
        target = queue.pop(0)
        if predicate(target):
            chain = [target]
            while parent[id(target)] is not None:
                target = parent[id(target)]
                chain.append(target)
            return chain
        tdepth = depth[id(target)]
        if tdepth < max_depth:
            referrers = gc.get_referrers(target)
            ignore.add(id(referrers))
            for source in referrers:
                if id(source) in ignore:
                    continue
                if id(source) not in depth:
                    depth[id(source)] = tdepth + 1
                    parent[id(source)] = target
                    queue.append(source)
    return [obj]


def python_side(shape, n, reps):
    gc.disable()
    root, target, n = build(shape, n)
    print(json.dumps({"shape": shape, "n": n, "op": "build"}), flush=True)

    def timed(op, fn, check, r=reps):
        runs = []
        for _ in range(r):
            t0 = time.perf_counter_ns()
            res = fn()
            runs.append(time.perf_counter_ns() - t0)
            if not check(res):
                print(f"diag_bench.py: {op} gave a wrong result", file=sys.stderr)
                sys.exit(2)
            del res
        print(json.dumps({"shape": shape, "n": n, "op": op, "ns": runs}), flush=True)

    timed("typestats", typestats, lambda s: sum(s.values()) >= n)
    expect = n if shape == "chain" else 3
    timed("bfs", lambda: bfs(root, target), lambda c: c is not None and len(c) == expect)
    if shape == "wide":
        timed("backref_chain",
              lambda: find_backref_chain(target, lambda o: o is root),
              lambda c: len(c) == 3 and c[0] is root)
    timed("get_referrers", lambda: gc.get_referrers(target), lambda r: len(r) >= 1)


# ---------------------------------------------------------------- driver

PAIRS = [  # (rcgc op, CPython op, what)
    ("count_types", "typestats", "counts by type"),
    ("why_alive", "bfs", "why alive (CPython: BFS from the given root)"),
    ("why_alive", "backref_chain", "why alive (CPython: objgraph.find_backref_chain)"),
    ("get_referrers", "get_referrers", "get_referrers(target)"),
    ("referrers", None, "referrers graph, depth 1, with external counts"),
]


def run_lines(cmd, timeout):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         timeout=timeout).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def stats_ms(ns):
    ms = [x / 1e6 for x in ns]
    return statistics.median(ms), min(ms), max(ms), ms


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bin/diag_bench")
    ap.add_argument("--n", type=int, default=2000000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--py-reps", type=int, default=3)
    ap.add_argument("--shapes", default="chain,wide")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--json", default="build/bench/diag.json")
    ap.add_argument("--quick", action="store_true", help="N = 200000, 3 runs")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--dom-sizes", default="1000000,10000000")
    ap.add_argument("--dom-shapes", default="chain,wide,random")
    ap.add_argument("--dom-reps", type=int, default=3)
    ap.add_argument("--python-side", nargs=3, metavar=("SHAPE", "N", "REPS"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.python_side:
        python_side(a.python_side[0], int(a.python_side[1]), int(a.python_side[2]))
        return 0
    if a.quick:
        a.n, a.reps, a.py_reps = 200000, 3, 3
        a.dom_sizes = "200000"

    records = []
    rows = []
    for shape in a.shapes.split(","):
        print(f"{shape}: rcgc ...", file=sys.stderr, flush=True)
        c = {r["op"]: r for r in run_lines([a.bin, shape, str(a.n), str(a.reps)], a.timeout)}
        print(f"{shape}: CPython ...", file=sys.stderr, flush=True)
        p = {r["op"]: r for r in run_lines(
            [a.python, os.path.abspath(__file__), "--python-side", shape, str(a.n),
             str(a.py_reps)], a.timeout)}
        n = c["build"]["n"]
        for op, d in c.items():
            if op == "build":
                continue
            med, lo, hi, ms = stats_ms(d["ns"])
            records.append({"benchmark": f"diag/{shape}/{op}", "system": "rcgc",
                            "metric": "ms", "value": round(med, 3),
                            "spread": {"min": round(lo, 3), "max": round(hi, 3)},
                            "runs": [round(x, 3) for x in ms], "n": n,
                            **{k: v for k, v in d.items()
                               if k not in ("ns", "op", "shape", "n")}})
        for op, d in p.items():
            if op == "build":
                continue
            med, lo, hi, ms = stats_ms(d["ns"])
            records.append({"benchmark": f"diag/{shape}/{op}", "system": "cpython",
                            "metric": "ms", "value": round(med, 3),
                            "spread": {"min": round(lo, 3), "max": round(hi, 3)},
                            "runs": [round(x, 3) for x in ms], "n": d["n"]})
        for cop, pop, what in PAIRS:
            if cop not in c or (pop is not None and pop not in p):
                continue
            cm = stats_ms(c[cop]["ns"])
            cell_c = f"{cm[0]:.1f} ({cm[1]:.1f}–{cm[2]:.1f})"
            if pop is not None:
                pm = stats_ms(p[pop]["ns"])
                cell_p = f"{pm[0]:.1f} ({pm[1]:.1f}–{pm[2]:.1f})"
                ratio = f"{pm[0] / cm[0]:.1f}"
            else:
                cell_p, ratio = "–", "–"
            rows.append((shape, n, what, cell_c, cell_p, ratio))

    print("| shape | objects | operation | rcgc ms median (min–max) "
          "| CPython 3.11 ms median (min–max) | CPython/rcgc |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} |")
    dom_rows = []
    for n in (int(x) for x in a.dom_sizes.split(",") if x):
        for shape in a.dom_shapes.split(","):
            print(f"dominators: {shape} {n} ...", file=sys.stderr, flush=True)
            c = {r["op"]: r for r in run_lines([a.bin, "dom", shape, str(n),
                                                str(a.dom_reps)], a.timeout)}
            objs = c["build"]["n"]
            for op in ("dominators", "retainers"):
                d = c[op]
                med, lo, hi, ms = stats_ms(d["ns"])
                per_obj = (d["scratch_bytes"] - 4 * d["edges"]) / d["objects"]
                records.append({"benchmark": f"diag/dom/{shape}/{op}", "system": "rcgc",
                                "metric": "ms", "value": round(med, 3),
                                "spread": {"min": round(lo, 3), "max": round(hi, 3)},
                                "runs": [round(x, 3) for x in ms], "n": objs,
                                "edges": d["edges"], "scratch_bytes": d["scratch_bytes"],
                                "ns_per_object": round(med * 1e6 / objs, 1)})
                dom_rows.append((shape, objs, d["edges"], op, f"{med:.0f} ({lo:.0f}–{hi:.0f})",
                                 f"{med * 1e6 / objs:.0f}", f"{per_obj:.1f}"))
    if dom_rows:
        print("\n| shape | objects | references | operation | ms median (min–max) "
              "| ns per object | scratch bytes per object (+ 4 per reference) |")
        print("|---|---|---|---|---|---|---|")
        for r in dom_rows:
            print("| " + " | ".join(str(x) for x in r) + " |")
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(records, f, indent=1)
    print(f"\n{len(records)} records in {a.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

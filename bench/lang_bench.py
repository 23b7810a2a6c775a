#!/usr/bin/env python3
"""lang_bench.py - the language side of `make bench`: rcl, the small
language of examples/lang, beside CPython running the same programs.

The two-slot numbers of suite_alloc (binary-trees on bare rcgc objects)
measure the library alone.  These measure what an interpreter built on it
costs per object of its language: the same program, written once in rcl and
once in Python, each timing its own work with a monotonic clock (so start-up
and parsing are left out) and printing one JSON line.

Benchmarks (exactly these names in the records):

  rcl binary-trees   Benchmarks Game shape: a long-lived tree of depth D,
                     then 2^(D-d+4) trees of depth d = 4, 6, ..., D, each
                     built and checked; nodes are instances of class Node
                     with two attributes.  In rcl every instance owns an
                     attribute dict (two rcgc objects per node); CPython 3.11
                     keeps them inline.  Metric: ns per node.
  rcl shapes         R rounds of building N items and dropping them; an item
                     is an instance with three attributes (an id, a list of
                     two ints, a closure over the id, made by a helper so
                     that it captures only the id, in both languages: an rcl
                     closure keeps its whole defining scope, and one made in
                     __init__ would hold self, a cycle CPython's cell does
                     not make).  Metric: ns per item (each item is three
                     objects of the language: instance, list, closure; rcl
                     adds the instance's dict and the closure's scope,
                     CPython the closure's cell).

Systems: "rcgc" (rcl on rcgc: deferred collections, the default adaptive
policy) and "cpython" (ctx.python, default thresholds).  The tables print
cpython ÷ rcgc: above 1, rcl is faster per object.

    python3 bench/lang_bench.py --bindir build/bin [--quick] [--runs N]

bench/bench.py calls run(ctx) -> (records, notes).
"""
import argparse
import os
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

RCL = {
"binary-trees": r'''
class Node {
  def __init__(self, left, right) { self.left = left; self.right = right }
}
def make(d) {
  if d == 0 { return Node(nil, nil) }
  return Node(make(d - 1), make(d - 1))
}
def check(n) {
  if n.left is nil { return 1 }
  return 1 + check(n.left) + check(n.right)
}
let t0 = clock_ns()
let nodes = 0
let long_lived = make(@D@)
nodes = nodes + check(long_lived)
let d = 4
while d <= @D@ {
  let k = 0
  let iters = 1
  let e = 0
  while e < @D@ - d + 4 { iters = iters * 2; e = e + 1 }
  while k < iters { nodes = nodes + check(make(d)); k = k + 1 }
  d = d + 2
}
nodes = nodes + check(long_lived)
print("{\"objects\": " + str(nodes) + ", \"ns\": " + str(clock_ns() - t0) + "}")
''',
"shapes": r'''
def make_cb(i) { return fn() { return i } }
class Item {
  def __init__(self, i) {
    self.id = i
    self.tags = [i, i + 1]
    self.cb = make_cb(i)
  }
}
def build(n) {
  let items = []
  let i = 0
  while i < n { items.append(Item(i)); i = i + 1 }
  return items
}
let t0 = clock_ns()
let r = 0
let total = 0
while r < @R@ { total = total + len(build(@N@)); r = r + 1 }
print("{\"objects\": " + str(total) + ", \"ns\": " + str(clock_ns() - t0) + "}")
'''}

PY = {
"binary-trees": r'''
import time
class Node:
    def __init__(self, left, right):
        self.left = left; self.right = right
def make(d):
    if d == 0: return Node(None, None)
    return Node(make(d - 1), make(d - 1))
def check(n):
    if n.left is None: return 1
    return 1 + check(n.left) + check(n.right)
t0 = time.process_time_ns()
nodes = 0
long_lived = make(@D@)
nodes += check(long_lived)
d = 4
while d <= @D@:
    for k in range(2 ** (@D@ - d + 4)):
        nodes += check(make(d))
    d += 2
nodes += check(long_lived)
print('{"objects": %d, "ns": %d}' % (nodes, time.process_time_ns() - t0))
''',
"shapes": r'''
import time
def make_cb(i):
    return lambda: i
class Item:
    def __init__(self, i):
        self.id = i
        self.tags = [i, i + 1]
        self.cb = make_cb(i)
def build(n):
    items = []
    i = 0
    while i < n:
        items.append(Item(i)); i += 1
    return items
t0 = time.process_time_ns()
total = 0
for r in range(@R@):
    total += len(build(@N@))
print('{"objects": %d, "ns": %d}' % (total, time.process_time_ns() - t0))
'''}

UNIT = {"binary-trees": "ns per node", "shapes": "ns per item"}


def _sizes(quick):
    return ({"@D@": "12", "@R@": "5", "@N@": "20000"} if quick else
            {"@D@": "16", "@R@": "20", "@N@": "50000"})


def _write(tmp, name, text, sizes):
    for k, v in sizes.items():
        text = text.replace(k, v)
    with open(os.path.join(tmp, name), "w") as f:
        f.write(text)
    return os.path.join(tmp, name)


def run(ctx):
    records, notes = [], []
    rcl = os.path.join(ctx.bindir, "rcl")
    if not os.access(rcl, os.X_OK):
        return [], [f"ERROR: {rcl} is missing (build the examples)"]
    sizes = _sizes(ctx.quick)
    with tempfile.TemporaryDirectory(prefix="rcl-bench-") as tmp:
        for bench in ("binary-trees", "shapes"):
            cmds = {"rcgc": [rcl, _write(tmp, bench + ".rcl", RCL[bench], sizes)],
                    "cpython": [ctx.python, _write(tmp, bench + ".py", PY[bench], sizes)]}
            vals = {s: [] for s in cmds}
            objects = {}
            order = list(cmds)
            for i in range(ctx.runs):
                for system in (order if i % 2 == 0 else order[::-1]):
                    benchlib.log(f"  rcl {bench}: {system}, run {i + 1}/{ctx.runs}")
                    r = benchlib.run(cmds[system])
                    if r.error or not r.records:
                        notes.append(f"ERROR: rcl {bench} on {system}: {r.error}")
                        continue
                    rec = r.records[0]
                    objects.setdefault(system, rec["objects"])
                    vals[system].append(rec["ns"] / rec["objects"])
            if len(set(objects.values())) > 1:
                notes.append(f"ERROR: rcl {bench}: the two programs counted "
                             f"different objects: {objects}")
            for system in cmds:
                records.append(benchlib.record(f"rcl {bench}", system, UNIT[bench],
                                               vals[system], "ns",
                                               objects=objects.get(system)))
            med = {s: benchlib.summarize(v) for s, v in vals.items()}
            if med["rcgc"] and med["cpython"]:
                notes.append(f"rcl {bench} ({objects.get('rcgc')} "
                             f"{UNIT[bench].split()[-1]}s): rcl "
                             f"{med['rcgc']['median']:.0f} ns, CPython "
                             f"{med['cpython']['median']:.0f} ns per "
                             f"{UNIT[bench].split()[-1]} (CPython ÷ rcl "
                             f"{med['cpython']['median'] / med['rcgc']['median']:.2f}); "
                             "the library alone is suite alloc's binary-trees "
                             "(two-slot rcgc objects)")
    return records, notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bindir", default=os.path.join(benchlib.ROOT, "build", "bin"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    ctx = types.SimpleNamespace(bindir=a.bindir, python=a.python, runs=a.runs,
                                quick=a.quick)
    records, notes = run(ctx)
    for r in records:
        if r:
            print(f"{r['benchmark']:18} {r['system']:8} {r['metric']:12} "
                  f"{r['value']:8.1f} ({r['spread'][0]:.1f}-{r['spread'][1]:.1f})")
    for n in notes:
        print("*", n)
    return 1 if any(n.startswith("ERROR") for n in notes) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""suite_alloc.py - the allocation side of `make bench`: binary-trees and
GCBench on rcgc objects beside glibc malloc, mimalloc, jemalloc, Boehm GC and
CPython 3.11, measured side by side in one run.

Systems (exactly these names in the records):

  rcgc      rcgc objects: a GC type (traverse, clear, two references),
            refcounted, tracked, automatic collection on with CPython's
            default thresholds (700, 10, 10); a tree is freed by the decref of
            its root (alloc_bench_rcgc bintree_obj / gcbench_obj)
  rcgc-nogc the same program with automatic collection off
            (ALLOC_BENCH_GC=0): what the collections cost is the ratio of
            the two, measured in the same rotation (issue 16's targets)
  glibc, mimalloc, jemalloc
            plain nodes (16 bytes binary-trees, 24 bytes GCBench), each tree
            freed explicitly, node by node, when it becomes garbage
            (alloc_bench_SYS bintree / gcbench)
  boehm     Boehm GC: GC_MALLOC nodes, never freed (alloc_bench_boehm)
  cpython   the Python interpreter given as ctx.python: tuples for
            binary-trees (bench/bintree.py), a __slots__ class for GCBench
            (bench/gcbench.py); automatic collection on

Benchmarks:

  binary-trees depth 21   Benchmarks Game rules (stretch tree 22, long-lived
                          tree 21, 2^(25-d) trees of depth d = 4, 6, ..., 20):
                          613,766,494 nodes.  Metrics: ns per node (user CPU
                          time of the work / nodes, as the anchors), ns per
                          node (wall), peak RSS (the child's ru_maxrss).
  GCBench                 Ellis/Kovac/Boehm: kStretchTreeDepth 18,
                          kLongLivedTreeDepth 16, kArraySize 500000, trees of
                          depth 4..16 built top down and bottom up: 15,333,862
                          nodes.  Metrics: time (user CPU), time (wall), peak
                          RSS.

--quick: binary-trees depth 16, GCBench scaled to stretch depth 16 (long-lived
and largest trees 14, 125,000 doubles).

Each program checks its own results (node counts and check sums; rcgc: no
object left at teardown) and exits non-zero otherwise: the run is then left
out and reported in the notes as an ERROR.  Runs are interleaved: run 1 runs
every system, run 2 every system in the reverse order, and so on.  GCBench
gets three times the runs asked for (it runs for a quarter of a second).

    python3 bench/suite_alloc.py --bindir build/bin [--quick] [--runs N]

bench/bench.py calls run(ctx) -> (records, notes).
"""
import argparse
import json
import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

SYSTEMS = ("rcgc", "rcgc-nogc", "glibc", "mimalloc", "jemalloc", "boehm", "cpython")
PACKAGES = {"mimalloc": "libmimalloc-dev", "jemalloc": "libjemalloc-dev",
            "boehm": "libgc-dev"}
MB = 1 << 20


def _benchmarks(quick):
    """(key, record name, parameter, C mode, rcgc mode, Python script)."""
    depth = 16 if quick else 21
    gdepth = 16 if quick else 18
    return [
        ("bintree", f"binary-trees depth {depth}", depth, "bintree",
         "bintree_obj", "bintree.py"),
        ("gcbench", "GCBench", gdepth, "gcbench", "gcbench_obj",
         "gcbench.py"),
    ]


def _command(ctx, system, bench):
    """(argv, environment additions or None) of one run."""
    key, _name, param, mode, obj_mode, script = bench
    if system == "cpython":
        return [ctx.python, os.path.join(HERE, script), str(param)], None
    if system == "rcgc-nogc":
        return ([os.path.join(ctx.bindir, "alloc_bench_rcgc"), obj_mode,
                 str(param)], {"ALLOC_BENCH_GC": "0"})
    exe = os.path.join(ctx.bindir, f"alloc_bench_{system}")
    return [exe, obj_mode if system == "rcgc" else mode, str(param)], None


def _available(ctx, notes):
    systems = []
    for s in SYSTEMS:
        if s == "cpython":
            r = benchlib.run([ctx.python, "-c", "import sys; "
                              "print(int(sys.version_info[:2] >= (3, 8)))"],
                             timeout=60)
            if r.error is None:
                systems.append(s)
            else:
                notes.append(f"cpython ({ctx.python}) cannot run: {r.error}:"
                             f" skipped")
            continue
        exe = os.path.join(ctx.bindir, "alloc_bench_" +
                           ("rcgc" if s == "rcgc-nogc" else s))
        if os.access(exe, os.X_OK):
            systems.append(s)
        else:
            pkg = PACKAGES.get(s)
            notes.append(f"{s}: {exe} not built" +
                         (f" ({pkg} not installed?)" if pkg else "") +
                         ": skipped")
    return systems


def _need_bytes(key, param):
    """Memory to wait for before a run (the largest: rcgc objects, 48 bytes
    per node, the stretch tree of 2^(depth+2) nodes)."""
    if key == "bintree":
        return (64 << (param + 2)) + (256 << 20)
    return 1 << 30


def _metrics(key, rec, run):
    """The per-run values of one process: {metric: (value, unit)}."""
    # The program's own VmHWM: the child's ru_maxrss (run.peak_rss) is
    # floored at this driver's RSS (Linux keeps the forking parent's peak
    # across exec), which matters for the small runs.
    peak = rec.get("peak_rss_mb") or run.peak_rss / MB
    if key == "bintree":
        return {"ns per node": (rec["ns_per_node_user"], "ns"),
                "ns per node (wall)": (rec["ns_per_node"], "ns"),
                "peak RSS": (peak, "MB")}
    return {"time (user CPU)": (rec["user"], "s"),
            "time (wall)": (rec["seconds"], "s"),
            "peak RSS": (peak, "MB")}


def _one(cmd, key, param, timeout, env=None):
    benchlib.wait_for_memory(_need_bytes(key, param))
    run = benchlib.run(cmd, timeout=timeout, env=env)
    rec = run.records[-1] if run.records else None
    if run.error is None and (rec is None or not rec.get("ok", False)):
        run.error = "no result, or a failed check: " + json.dumps(rec)
    return run, rec


def _extras(ctx, bench, notes, timeout):
    """One run each of the variants that say where rcgc's time goes (the
    lazily untracked tree, plain pool nodes)."""
    key, name, param, mode, obj_mode, _script = bench
    exe = os.path.join(ctx.bindir, "alloc_bench_rcgc")
    if not os.access(exe, os.X_OK):
        return
    variants = []
    if key == "bintree":
        variants.append(
            ("rcgc objects lazily untracked as CPython's tuples (a "
             "may_untrack hook; collection on)",
             [exe, obj_mode, str(param)], {"ALLOC_BENCH_UNTRACK": "1"}))
    variants.append(
        ("rcgc's pool allocator with plain nodes (rcgc_pymalloc_malloc/"
         "free, no objects)", [exe, mode, str(param)], None))
    for label, cmd, env in variants:
        benchlib.log(f"{name}: {label} (1 run) ...")
        run, rec = _one(cmd, key, param, timeout, env)
        if run.error:
            notes.append(f"ERROR: {name}, {label}: {run.error}")
            continue
        m = _metrics(key, rec, run)
        first = next(iter(m))
        gc = ""
        if rec.get("gc_collections"):
            gc = (f", collections (gen 0/1/2) "
                  f"{'/'.join(str(c) for c in rec['gc_collections'])}")
        notes.append(f"{name}, {label}, 1 run: {first} "
                     f"{benchlib.fmt_num(m[first][0])} {m[first][1]}, "
                     f"peak RSS {m['peak RSS'][0]:.0f} MB{gc}")


def run(ctx):
    """Run both benchmarks on every system found; (records, notes)."""
    runs = max(1, int(getattr(ctx, "runs", 3) or 3))
    quick = bool(getattr(ctx, "quick", False))
    timeout = getattr(ctx, "timeout", None) or (900 if quick else 3600)
    notes = []
    systems = _available(ctx, notes)
    records = []
    for bench in _benchmarks(quick):
        key, name, param, _mode, _obj_mode, _script = bench
        values = {}   # (system, metric) -> [values]
        units = {}
        gcinfo = {}   # system -> [per-run dicts]
        failed = set()
        # GCBench runs for a quarter of a second: three runs leave its
        # median at the mercy of one disturbed run, so it gets three times
        # as many (about 30 s more, most of it CPython's).
        n_runs = runs * 3 if key == "gcbench" and not quick else runs
        for r in range(n_runs):
            order = systems if r % 2 == 0 else systems[::-1]
            for s in order:
                if s in failed:
                    continue
                benchlib.log(f"{name}: {s} run {r + 1}/{n_runs} ...")
                cmd, env = _command(ctx, s, bench)
                run_, rec = _one(cmd, key, param, timeout, env)
                if run_.error:
                    notes.append(f"ERROR: {name}, {s}, run {r + 1}: "
                                 f"{run_.error}")
                    benchlib.log(f"  FAILED: {run_.error}")
                    failed.add(s)
                    continue
                m = _metrics(key, rec, run_)
                for metric, (v, unit) in m.items():
                    values.setdefault((s, metric), []).append(v)
                    units[metric] = unit
                gcinfo.setdefault(s, []).append(rec)
                first = next(iter(m))
                benchlib.log(f"  {first} {benchlib.fmt_num(m[first][0])} "
                             f"{m[first][1]}, peak RSS "
                             f"{m['peak RSS'][0]:.0f} MB, "
                             f"{run_.wall_s:.1f} s")
        for s in systems:
            for metric, unit in units.items():
                vals = values.get((s, metric))
                if not vals:
                    continue
                recs = gcinfo[s]
                extra = {"values": vals, "nodes": recs[0]["nodes"],
                         "param": param}
                if s.startswith("rcgc"):
                    extra["gc_collections"] = recs[0].get("gc_collections")
                    extra["gc_ms"] = [x.get("gc_ms") for x in recs]
                records.append(benchlib.record(name, s, metric, vals, unit,
                                               True, **extra))
        notes.extend(_bench_notes(name, key, gcinfo, values))
        if getattr(ctx, "extras", True):
            _extras(ctx, bench, notes, timeout)
    if quick:
        notes.append("quick mode: binary-trees depth 16, GCBench scaled "
                     "down to stretch depth 16 (not comparable with the "
                     "anchors)")
    return records, notes


def _median(vals):
    s = benchlib.summarize(vals)
    return None if s is None else s["median"]


def _bench_notes(name, key, gcinfo, values):
    notes = []
    first = "ns per node" if key == "bintree" else "time (user CPU)"
    rc = _median(values.get(("rcgc", first), []))
    mi = _median(values.get(("mimalloc", first), []))
    if rc is not None and mi is not None:
        notes.append(f"{name}: rcgc objects / mimalloc plain nodes, {first} "
                     f"(medians): {rc / mi:.2f}x "
                     f"({'met' if rc <= mi else 'MISSED'}: target <= 1)")
    if "rcgc" in gcinfo:
        recs = gcinfo["rcgc"]
        coll = recs[0].get("gc_collections")
        share = _median([sum(x.get("gc_ms", [0])) / 1000 / x["seconds"]
                         for x in recs])
        notes.append(
            f"{name}: rcgc automatic collections (gen 0/1/2) "
            f"{'/'.join(str(c) for c in coll)}, {100 * share:.0f}% of the "
            f"wall time in collections (median; the library's own timers), "
            f"{recs[0].get('gc_collected', 0)} objects collected, 0 left at "
            f"teardown")
    if "boehm" in gcinfo:
        rec = gcinfo["boehm"][0]
        notes.append(f"{name}: Boehm GC made {rec.get('gc_collections')} "
                     f"collections, parallel marking "
                     f"{'on' if rec.get('gc_parallel') else 'off'}")
    if "cpython" in gcinfo and key == "bintree":
        notes.append(f"{name}: CPython {gcinfo['cpython'][0].get('python')} "
                     f"nodes are tuples; the leaves are the constant "
                     f"(None, None), one shared object, so CPython allocates "
                     f"only the interior half of the nodes (as in the "
                     f"anchors' CPython row)")
    if "cpython" in gcinfo and key == "gcbench":
        notes.append(f"{name}: CPython nodes are instances of a class with "
                     f"__slots__ = ('left', 'right', 'i', 'j') "
                     f"({gcinfo['cpython'][0].get('node_bytes')} bytes with "
                     f"the GC header), the array an array.array('d')")
    return notes


def _table(records):
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in records)]
    rows = []
    for r in records:
        k = (r["benchmark"], r["metric"], r["unit"])
        if k not in rows:
            rows.append(k)
    out = ["| benchmark | metric | " + " | ".join(systems) + " |",
           "|---|---|" + "---|" * len(systems)]
    for bench, metric, unit in rows:
        cells = []
        for s in systems:
            rec = next((r for r in records if r["benchmark"] == bench and
                        r["metric"] == metric and r["system"] == s), None)
            cells.append("—" if rec is None else benchlib.fmt_stat(
                {"median": rec["value"], "min": rec["spread"][0],
                 "max": rec["spread"][1], "runs": rec["runs"]}))
        out.append(f"| {bench} | {metric} ({unit}) | " + " | ".join(cells) +
                   " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bindir", default=os.path.join(benchlib.ROOT, "build",
                                                     "bin"))
    ap.add_argument("--python", default=sys.executable,
                    help="the CPython interpreter (default: this one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip the two one-run diagnostic variants of rcgc "
                         "(collection off, plain pool nodes)")
    ap.add_argument("--json", help="also write the records there")
    ap.add_argument("--timeout", type=float, default=None)
    args = ap.parse_args()
    ctx = types.SimpleNamespace(bindir=args.bindir, python=args.python,
                                runs=args.runs, quick=args.quick,
                                extras=not args.no_extras)
    if args.timeout:
        ctx.timeout = args.timeout
    records, notes = run(ctx)
    m = benchlib.machine(args.python)
    print(f"Machine: {m['cpu']}, {m['cores']} CPUs, {m['os']}, Linux "
          f"{m['kernel']}, {m['cc']}, {m['python']}, "
          f"{', '.join(f'{k} {v}' for k, v in m['libraries'].items())}")
    print(f"Runs: {args.runs} per system (median (min–max)); each run is a "
          f"fresh process\n")
    print(_table(records))
    print()
    for n in notes:
        print(f"- {n}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": m, "records": records, "notes": notes}, f,
                      indent=1)
    return 1 if any(n.startswith("ERROR") for n in notes) else 0


if __name__ == "__main__":
    sys.exit(main())

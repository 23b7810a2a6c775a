#!/usr/bin/env python3
"""suite_gc.py - the collection side of `make bench`: rcgc beside CPython
3.11 and the Boehm GC, each measured in one run, systems interleaved.

    python3 bench/suite_gc.py --bindir build/bin [--quick] [--runs N]
                              [--only full,shapes,pauses,bytes,young]

What it measures (bench/README.md has the details):

  full collection   one full collection of N live objects (chain; pairs of
                    2-cycles; a binary tree built children-first) and of the
                    same as garbage: ns per object (Boehm: chain and pairs).
                    rcgc: bin/gc_full; CPython: gc_full.py (gc.collect());
                    Boehm: bin/gc_boehm (GC_gcollect()).  N = 10^6 and 10^7
                    (10^5 with --quick).  Cells run by gc_collect.run_cell.
  gc_collect shape  pyperformance bm_gc_collect: 100 rings of 21 nodes freed
                    by one full collection beside ~12k live tracked objects
                    (bin/gc_shapes / gc_shapes.py collect): ms.
  gc_traversal      pyperformance bm_gc_traversal: 1,000 containers, level n
    shape           holding n references to level n-1, nothing to free: ms.
  pauses            automatic collections (thresholds 700, 10, 10) under a
                    steady workload (bin/gc_pause / gc_pause.py): p50, p99,
                    max per generation and for all, GC share of the time.
  bytes per         per-object overhead (allocated bytes - payload) of a
    tracked object  tracked object with two reference slots (block bytes
                    from the pool's statistics; rcgc also: resident bytes
                    per object, wherever they live).
  young collection  a generation-0 collection of 700 objects beside 10^4
                    and 10^7 old ones (10^6 with --quick): µs, and the ratio
                    of the two sizes (bin/gc_young / gc_young.py).

The driver's interface (bench/bench.py): run(ctx) -> (records, notes), ctx
with bindir, python, runs, quick.  Records are benchlib.record dicts (value =
median over the runs, spread = [min, max]); systems "rcgc", "cpython",
"boehm".  A missing program or interpreter skips its system with a note; a
collection that returned the wrong count gives no record and a note starting
with "ERROR".
"""
import argparse
import math
import os
import subprocess
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import gc_collect  # noqa: E402
from benchlib import fmt_n, log  # noqa: E402

SYSTEMS = ("rcgc", "cpython", "boehm")
TIMEOUT = 900

# Targets of the issue (rcgc).
TARGET_LIVE_NS = 10.0       # full collection, ns per live object
TARGET_GARBAGE_NS = 30.0    # full collection, ns per garbage object
TARGET_GC_COLLECT_MS = 0.25
TARGET_GC_TRAVERSAL_MS = 2.0
TARGET_BYTES = 16.0         # bytes of overhead per tracked object
# Issue 17: a young collection of 700 objects costs the same with 10^4 and
# with 10^7 old objects: at most this ratio (bench/README.md says why 1.1).
TARGET_YOUNG_RATIO = 1.1
YOUNG_SIZES = (10 ** 4, 10 ** 7)
YOUNG_SIZES_QUICK = (10 ** 4, 10 ** 6)

PARTS = ("full", "shapes", "pauses", "bytes", "young")

CASE_NAMES = {"alive_first": "live first", "alive_steady": "live",
              "garbage": "garbage"}


def _bin(ctx, name):
    path = os.path.join(ctx.bindir, name)
    return path if os.access(path, os.X_OK) else None


def _rotate(systems, k):
    """The order of run k (1-based): each system goes first in turn."""
    if not systems:
        return []
    r = (k - 1) % len(systems)
    return systems[r:] + systems[:r]


def _python_ok(ctx, notes):
    """The CPython interpreter to use, or None (with a note)."""
    py = ctx.python or sys.executable
    try:
        ver = subprocess.run([py, "-c",
                              "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True,
                             timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        ver = ""
    if not ver:
        notes.append(f"cpython skipped: cannot run {py}")
        return None
    if not ver.startswith("3.11"):
        notes.append(f"warning: {py} is Python {ver}, not 3.11: the CPython "
                     "column is not the anchor's version")
    return py


def _add(records, rec):
    if rec is not None:
        records.append(rec)


def _pct(sorted_vals, p):
    """Nearest-rank percentile of a sorted list (p in 0..100)."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[k - 1]


def _verdict(value, target):
    if value is None:
        return "not measured"
    return "met" if value <= target else "MISSED"


# ---------------------------------------------------------------------------
# 3. Full collections

def full_collections(ctx, py, sizes, records, notes):
    bins = {"rcgc": _bin(ctx, "gc_full"), "boehm": _bin(ctx, "gc_boehm")}
    if bins["rcgc"] is None:
        notes.append(f"full collection: rcgc skipped: no gc_full in "
                     f"{ctx.bindir}")
    if bins["boehm"] is None:
        notes.append(f"full collection: boehm skipped: no gc_boehm in "
                     f"{ctx.bindir} (libgc-dev missing when configured?)")
    shapes = ("chain", "pairs", "tree")
    results = {}
    for n in sizes:
        for shape in shapes:
            cmds = {}
            if bins["rcgc"]:
                cmds["rcgc"] = [bins["rcgc"], shape, str(n), "1"]
            if py:
                cmds["cpython"] = [py, os.path.join(HERE, "gc_full.py"),
                                   shape, str(n), "1"]
            if bins["boehm"] and shape != "tree":   # gc_boehm: no tree
                cmds["boehm"] = [bins["boehm"], shape, str(n), "1"]
            if not cmds:
                continue
            progress = [0, len(cmds) * ctx.runs]
            res, errs = gc_collect.run_cell(
                cmds, shape, n, ctx.runs, progress, TIMEOUT,
                label=f"full collection {shape} {fmt_n(n)}")
            results[(shape, n)] = res
            _full_records(shape, n, res, errs, records, notes)
    return results


def _full_records(shape, n, res, errs, records, notes):
    for e in errs:
        if "returned" not in e:     # wrong counts are reported below
            notes.append(f"full collection {shape} {fmt_n(n)}: {e}")
    for case in gc_collect.CASES:
        expected = n if case == "garbage" else 0
        bench = f"full collection {shape} {fmt_n(n)} {CASE_NAMES[case]}"
        for system, runs in res.items():
            recs = [r for recs in runs for r in recs if r.get("case") == case]
            bad = [r for r in recs if not r.get("ok")]
            if bad:
                r = bad[0]
                if system == "boehm":
                    what = (f"heap in use {r.get('in_use_before')} -> "
                            f"{r.get('in_use_after')} bytes")
                else:
                    what = (f"collect returned {r.get('collected')}, "
                            f"expected {expected}")
                notes.append(f"ERROR: {bench}: {system}: {what} in "
                             f"{len(bad)} of {len(recs)} runs; no record")
                continue
            vals = gc_collect.case_values(runs, case)
            extra = {"shape": shape, "n": n, "case": case}
            if system != "boehm":
                extra["collected"] = gc_collect.counts(runs, case)
            else:
                extra["reclaimed_bytes"] = sorted(
                    {r.get("reclaimed_bytes") for r in recs})
            if system == "rcgc":
                extra["phases_ns_per_obj"] = {
                    p: round(v, 3) for p, v in
                    gc_collect.phase_medians(runs, case).items()}
            _add(records, benchlib.record(bench, system, "ns per object",
                                          vals, "ns", **extra))
    # peak RSS of the processes (the build line carries it)
    for system, runs in res.items():
        peaks = [r.get("peak_rss") for recs in runs for r in recs
                 if r.get("case") == "build" and r.get("peak_rss")]
        _add(records, benchlib.record(
            f"full collection {shape} {fmt_n(n)}", system, "peak RSS MiB",
            [p / 2 ** 20 for p in peaks], "MiB", shape=shape, n=n))


# ---------------------------------------------------------------------------
# 4. pyperformance's gc_collect and gc_traversal shapes

def shapes(ctx, py, records, notes):
    reps = 10 if ctx.quick else 20
    rbin = _bin(ctx, "gc_shapes")
    if rbin is None:
        notes.append(f"gc shapes: rcgc skipped: no gc_shapes in {ctx.bindir}")
    for mode, bench, target in (
            ("collect", "gc_collect shape", TARGET_GC_COLLECT_MS),
            ("traversal", "gc_traversal shape", TARGET_GC_TRAVERSAL_MS)):
        cmds = {}
        if rbin:
            cmds["rcgc"] = [rbin, mode, str(reps)]
        if py:
            cmds["cpython"] = [py, os.path.join(HERE, "gc_shapes.py"), mode,
                               str(reps)]
        systems = list(cmds)
        summ = {s: [] for s in systems}
        failed = {s: [] for s in systems}
        for k in range(1, ctx.runs + 1):
            for system in _rotate(systems, k):
                log(f"{bench}: {system} run {k}/{ctx.runs} ...")
                run = benchlib.run(cmds[system], TIMEOUT)
                s = run.first(case="summary")
                wrong = [r for r in run.records
                         if r.get("case") == mode and not r.get("ok")]
                if wrong:
                    failed[system].append(
                        f"collect returned {wrong[0].get('collected')}, "
                        f"expected {wrong[0].get('expected')}")
                if run.error and not wrong:
                    notes.append(f"{bench}: {system} run {k}: {run.error}")
                if s is not None and not wrong:
                    summ[system].append(s)
                    log(f"        median {s['median_ns'] / 1e6:.3f} ms over "
                        f"{s['reps']} collections ({s['live']} live)")
        for system in systems:
            if failed[system]:
                notes.append(f"ERROR: {bench}: {system}: "
                             f"{failed[system][0]} ({len(failed[system])} of "
                             f"{ctx.runs} runs); no record")
                continue
            ss = summ[system]
            if not ss:
                continue
            extra = {"reps_per_run": reps, "live": ss[0]["live"],
                     "tracked": ss[0]["tracked"],
                     "min_ms": min(s["min_ns"] for s in ss) / 1e6,
                     "max_ms": max(s["max_ns"] for s in ss) / 1e6}
            if system == "rcgc":
                extra["target_ms"] = target
            _add(records, benchlib.record(
                bench, system, "ms", [s["median_ns"] / 1e6 for s in ss],
                "ms", **extra))
            if mode == "traversal":
                _add(records, benchlib.record(
                    bench, system, "ns per edge",
                    [s["median_ns"] / s["edges"] for s in ss], "ns",
                    edges=ss[0]["edges"]))


# ---------------------------------------------------------------------------
# 5. Pause times of automatic collections

def _pause_stats(rec):
    """{group: {p50, p99, max, cpu p50, ..., count, total}} in ms, one run.

    pauses are [generation, wall ns, thread CPU ns]."""
    pauses = rec.get("pauses", [])
    groups = {"all": pauses}
    for g in (0, 1, 2):
        groups[f"gen {g}"] = [p for p in pauses if p[0] == g]
    out = {}
    for name, ps in groups.items():
        if not ps:
            continue
        wall = sorted(p[1] for p in ps)
        cpu = sorted(p[2] if len(p) > 2 else p[1] for p in ps)
        st = {"count": len(ps), "total": sum(wall) / 1e6}
        for label, vals in (("", wall), ("CPU ", cpu)):
            st[label + "p50"] = _pct(vals, 50) / 1e6
            st[label + "p99"] = _pct(vals, 99) / 1e6
            st[label + "max"] = vals[-1] / 1e6
        out[name] = st
    return out


def pauses(ctx, py, records, notes):
    live, iters, medium = ((10 ** 5, 10 ** 5, 5000) if ctx.quick
                           else (10 ** 6, 10 ** 6, 5000))
    rbin = _bin(ctx, "gc_pause")
    if rbin is None:
        notes.append(f"pauses: rcgc skipped: no gc_pause in {ctx.bindir}")
    cmds = {}
    if rbin:
        cmds["rcgc"] = [rbin, str(live), str(iters), str(medium)]
    if py:
        cmds["cpython"] = [py, os.path.join(HERE, "gc_pause.py"), str(live),
                           str(iters), str(medium)]
    systems = list(cmds)
    runs = {s: [] for s in systems}
    failed = {s: 0 for s in systems}
    for k in range(1, ctx.runs + 1):
        for system in _rotate(systems, k):
            benchlib.wait_for_memory(live * 200 + (256 << 20))
            log(f"pauses {fmt_n(live)} live, {fmt_n(iters)} iterations: "
                f"{system} run {k}/{ctx.runs} ...")
            run = benchlib.run(cmds[system], TIMEOUT)
            rec = run.records[0] if run.records else None
            if rec is None or not rec.get("ok"):
                failed[system] += 1
                notes.append(
                    f"ERROR: pauses: {system} run {k}: " +
                    (f"the collections found {rec.get('found')} + "
                     f"{rec.get('found_after')} objects, expected "
                     f"{2 * iters}" if rec else (run.error or "no output")))
                continue
            st = _pause_stats(rec)
            rec["stats"] = st
            rec["peak_rss"] = run.peak_rss
            runs[system].append(rec)
            a = st.get("all", {})
            log(f"        {len(rec['pauses'])} collections, p50 "
                f"{a.get('p50', 0):.3f} ms, max {a.get('max', 0):.2f} ms, "
                f"GC {100 * a.get('total', 0) * 1e6 / rec['wall_ns']:.0f}% "
                f"of {rec['wall_ns'] / 1e9:.2f} s")
    shape = {"live": live, "iters": iters, "medium": medium,
             "threshold": [700, 10, 10]}
    for system in systems:
        rs = runs[system]
        if failed[system] or not rs:
            continue
        for group, bench in (("all", "pauses"), ("gen 0", "pauses gen 0"),
                             ("gen 1", "pauses gen 1"),
                             ("gen 2", "pauses gen 2")):
            sts = [r["stats"][group] for r in rs if group in r["stats"]]
            if not sts:
                continue
            counts = [s["count"] for s in sts]
            for m in ("p50", "p99", "max", "CPU p99", "CPU max"):
                _add(records, benchlib.record(
                    bench, system, f"{m} ms", [s[m] for s in sts], "ms",
                    collections=counts, **shape))
            _add(records, benchlib.record(
                bench, system, "collections", counts, "", **shape))
        _add(records, benchlib.record(
            "pauses", system, "GC time share %",
            [100.0 * r["stats"]["all"]["total"] * 1e6 / r["wall_ns"]
             for r in rs if "all" in r["stats"]], "%", **shape))
        _add(records, benchlib.record(
            "pauses", system, "workload s",
            [r["wall_ns"] / 1e9 for r in rs], "s", **shape))
    return runs


# ---------------------------------------------------------------------------
# 6. Bytes per tracked object

def bytes_per_object(ctx, py, full, records, notes):
    n = 10 ** 5 if ctx.quick else 10 ** 6
    rbin = _bin(ctx, "gc_shapes")
    got = {}
    if rbin:
        log(f"bytes per tracked object: rcgc ({fmt_n(n)} nodes) ...")
        run = benchlib.run([rbin, "memory", str(n)], TIMEOUT)
        r = run.first(case="memory")
        if r is None:
            notes.append(f"bytes per tracked object: rcgc: {run.error}")
        else:
            got["rcgc"] = r
    if py:
        log(f"bytes per tracked object: cpython ({fmt_n(n)} objects, "
            "tracemalloc) ...")
        run = benchlib.run([py, os.path.join(HERE, "gc_shapes.py"), "memory",
                            str(n)], TIMEOUT)
        r = run.first(case="memory")
        if r is None:
            notes.append(f"bytes per tracked object: cpython: {run.error}")
        else:
            got["cpython"] = r
    # Boehm: from the build lines of the full-collection chain runs.
    boehm = [rec for (shape, _), res in sorted(full.items())
             if shape == "chain" for recs in res.get("boehm", [])
             for rec in recs if rec.get("case") == "build"]
    if boehm:
        got["boehm"] = boehm[0]
    if got.get("rcgc", {}).get("rcgc_debug"):
        notes.append(f"ERROR: bytes per tracked object: gc_shapes was built "
                     f"with RCGC_DEBUG={got['rcgc']['rcgc_debug']}: its "
                     f"blocks carry the debug header; no rcgc record (build "
                     f"with RCGC_DEBUG=0, as make bench does)")
        del got["rcgc"]
    for system, r in got.items():
        extra = {"payload": r["payload_per_obj"],
                 "allocated": r["bytes_per_obj"]}
        if system == "cpython":
            extra.update(object_header=r["object_header"],
                         gc_header=r["gc_header"],
                         list2_overhead=r["list2_overhead_per_obj"])
        if system == "rcgc":
            extra["target"] = TARGET_BYTES
        _add(records, benchlib.record(
            "bytes per tracked object", system, "bytes per tracked object",
            [r["overhead_per_obj"]], "bytes", **extra))
        _add(records, benchlib.record(
            "bytes per tracked object", system, "bytes allocated per object",
            [r["bytes_per_obj"]], "bytes", payload=r["payload_per_obj"]))
        if system == "rcgc" and r.get("rss_per_obj_old", -1) >= 0:
            # Everything a tracked object costs, wherever it lives (side
            # bytes, pool headers, the collector's vectors): RSS growth per
            # object, payload included, once it is in the oldest generation.
            _add(records, benchlib.record(
                "bytes per tracked object", system,
                "resident bytes per object (old)", [r["rss_per_obj_old"]],
                "bytes", payload=r["payload_per_obj"],
                young=r.get("rss_per_obj"),
                heap_bytes=r.get("heap_bytes_per_obj")))
    return got


# ---------------------------------------------------------------------------
# 7. Young collections beside a small and a large old heap (issue 17)

def young_collections(ctx, py, records, notes):
    """gc_young / gc_young.py: the median time of a young collection of 700
    objects with N old objects, for N = YOUNG_SIZES; each run is one process
    per size, system and variant, rotated run by run.  The young objects
    refer to 256 hot old objects; the rcgc-only variant "old children
    anywhere" (HOT = 0) to any old object, chosen at random."""
    sizes = YOUNG_SIZES_QUICK if ctx.quick else YOUNG_SIZES
    reps = 500 if ctx.quick else 2000
    rbin = _bin(ctx, "gc_young")
    if rbin is None:
        notes.append(f"young collection: rcgc skipped: no gc_young in "
                     f"{ctx.bindir}")
    cmds = {}   # (system, n, variant) -> argv; variant "" or "anywhere"
    for n in sizes:
        if rbin:
            cmds[("rcgc", n, "")] = [rbin, str(n), str(reps)]
            cmds[("rcgc", n, "anywhere")] = [rbin, str(n), str(reps), "700",
                                             "0"]
        if py:
            cmds[("cpython", n, "")] = [py, os.path.join(HERE, "gc_young.py"),
                                        str(n), str(reps)]
    cells = list(cmds)
    got = {c: [] for c in cells}
    failed = {c: 0 for c in cells}

    def name(n, variant):
        return (f"young collection, {fmt_n(n)} old" +
                (", old children anywhere" if variant else ""))

    for k in range(1, ctx.runs + 1):
        for cell in _rotate(cells, k):
            system, n, variant = cell
            benchlib.wait_for_memory(n * (160 if system == "cpython" else 64)
                                     + (256 << 20))
            log(f"{name(n, variant)}: {system} run {k}/{ctx.runs} ...")
            run = benchlib.run(cmds[cell], TIMEOUT)
            s = run.first(case="summary")
            if run.error or s is None or not s.get("ok"):
                failed[cell] += 1
                why = run.error or "a collection returned a wrong count"
                notes.append(f"ERROR: {name(n, variant)}: {system} run {k}: "
                             f"{why}")
                continue
            got[cell].append(s)
            log(f"        median {s['median_ns'] / 1e3:.2f} us (CPU "
                f"{s['cpu_median_ns'] / 1e3:.2f}), p10-p90 "
                f"{s['p10_ns'] / 1e3:.2f}-{s['p90_ns'] / 1e3:.2f} us, "
                f"{run.wall_s:.1f} s")
    order = sorted(cells, key=lambda c: (c[2], c[1], c[0]))
    for cell in order:
        system, n, variant = cell
        ss = got[cell]
        if failed[cell] or not ss:
            continue
        extra = {"n_old": n, "young": ss[0]["young"],
                 "garbage": ss[0]["collected"], "hot": ss[0]["hot"],
                 "reps_per_run": ss[0]["reps"],
                 "p10_us": [x["p10_ns"] / 1e3 for x in ss],
                 "p90_us": [x["p90_ns"] / 1e3 for x in ss]}
        if system == "rcgc":
            extra["phases_median_ns"] = ss[0].get("phases_median_ns")
        _add(records, benchlib.record(
            name(n, variant), system, "µs per young collection",
            [x["median_ns"] / 1e3 for x in ss], "µs", **extra))
        _add(records, benchlib.record(
            name(n, variant), system, "µs per young collection (thread CPU)",
            [x["cpu_median_ns"] / 1e3 for x in ss], "µs", n_old=n))
    # The large heap's time over the small one's, paired run by run (the
    # processes of a run ran close together).
    lo, hi = sizes[0], sizes[-1]
    for variant in ("", "anywhere"):
        for system in ("rcgc", "cpython"):
            a = got.get((system, lo, variant), [])
            b = got.get((system, hi, variant), [])
            if failed.get((system, lo, variant)) or \
                    failed.get((system, hi, variant)):
                continue
            pairs = list(zip(a, b))
            if not pairs:
                continue
            bench = (f"young collection, {fmt_n(hi)} old ÷ {fmt_n(lo)} old"
                     + (", old children anywhere" if variant else ""))
            _add(records, benchlib.record(
                bench, system, "time ratio",
                [y["median_ns"] / x["median_ns"] for x, y in pairs], "×",
                n_small=lo, n_large=hi, variant=variant or "hot",
                cpu_ratio=[y["cpu_median_ns"] / x["cpu_median_ns"]
                           for x, y in pairs]))
    return got


# ---------------------------------------------------------------------------
# Notes: what the numbers mean, and the targets

def _value(records, bench, system, metric):
    for r in records:
        if (r["benchmark"], r["system"], r["metric"]) == (bench, system,
                                                          metric):
            return r["value"]
    return None


def _notes(records, sizes, mem, notes):
    ran = {r["benchmark"].split()[0] for r in records}
    if "full" in ran:
        _full_notes(notes)
    _target_notes(records, sizes, ran, mem, notes)


def _full_notes(notes):
    notes.append(
        "full collection: wall time of one full collection / N (median of "
        "the runs, fresh process each). 'live' = the steady-state collection "
        "(everything already in the oldest generation), 'live first' = the "
        "first collection after building (objects still young; CPython and "
        "rcgc also reorder the list), 'garbage' = the collection that frees "
        "all N (including clear, the refcount cascade and freeing the "
        "memory). CPython: lists, interpreter objects frozen (gc_full.py).")
    notes.append(
        "boehm: the time of GC_gcollect() (one marker thread: the program "
        "starts no thread, so libgc does not start its parallel markers; "
        "incremental mode off; automatic collection off while building; one "
        "GC_gcollect before building). Boehm does not collect objects one by "
        "one: 'live' is marking N reachable 16-byte objects (conservative "
        "root scan included); 'garbage' is a mark phase that finds nothing "
        "plus returning the now-empty blocks to the free block list - "
        "objects in partly live blocks would be swept lazily by later "
        "allocations, outside the timed call. The 'garbage' check is the "
        "heap's bytes in use (GC_get_heap_size - GC_get_free_bytes) falling "
        "by >= 95% of what the build added. With its default "
        "all-interior-pointers mode Boehm adds one byte to each request, so "
        "a 16-byte node takes a 32-byte slot.")


def _target_notes(records, sizes, ran, mem, notes):
    for n in sizes:
        for shape in ("chain", "pairs", "tree"):
            for case, target in (("live", TARGET_LIVE_NS),
                                 ("garbage", TARGET_GARBAGE_NS)):
                bench = f"full collection {shape} {fmt_n(n)} {case}"
                v = _value(records, bench, "rcgc", "ns per object")
                c = _value(records, bench, "cpython", "ns per object")
                b = _value(records, bench, "boehm", "ns per object")
                if v is None:
                    continue
                notes.append(
                    f"target {bench} <= {target:g} ns/object: rcgc "
                    f"{v:.1f} -> {_verdict(v, target)} (cpython "
                    f"{benchlib.fmt_num(c)}, boehm {benchlib.fmt_num(b)})")
    for bench, target in (("gc_collect shape", TARGET_GC_COLLECT_MS),
                          ("gc_traversal shape", TARGET_GC_TRAVERSAL_MS)):
        v = _value(records, bench, "rcgc", "ms")
        c = _value(records, bench, "cpython", "ms")
        if v is not None:
            notes.append(f"target {bench} <= {target:g} ms: rcgc {v:.3f} ms "
                         f"-> {_verdict(v, target)} (cpython "
                         f"{benchlib.fmt_num(c)} ms)")
    v = _value(records, "bytes per tracked object", "rcgc",
               "bytes per tracked object")
    if v is not None:
        notes.append(f"target bytes per tracked object <= {TARGET_BYTES:g}: "
                     f"rcgc {v:g} -> {_verdict(v, TARGET_BYTES)}")
    if "gc_collect" in ran or "gc_traversal" in ran:
        notes.append(
            "gc_collect / gc_traversal shapes: pyperformance's loops (an untimed "
            "gc.collect(), then the timed one); per run the median of the "
            "timed collections. Both with automatic collection off. CPython's "
            "live heap is the interpreter's own tracked objects (not frozen); "
            "rcgc's is 12,000 two-slot nodes in a binary tree (fewer references "
            "per object than CPython's dicts, functions and tuples).")
    if "pauses" in ran:
        notes.append(
            "pauses: each run builds the long-lived heap (automatic collection "
            "off), collects it into generation 2, then runs the iterations with "
            "automatic collection on (thresholds 700, 10, 10): per iteration a "
            "4-object temporary chain, one dropped 2-cycle, one object replacing "
            "a 5,000-slot table entry. Each collection is timed by a gc callback "
            "(start/stop): wall time (CLOCK_MONOTONIC / perf_counter_ns) and the "
            "thread's CPU time over the same interval ('CPU' rows: "
            "CLOCK_THREAD_CPUTIME_ID / thread_time_ns); on a loaded machine a "
            "wall-time outlier without the CPU time is preemption, not the "
            "collector. p50/p99/max are nearest-rank over that run's "
            "collections, then the median over runs; GC time share = sum of the "
            "pauses / the loop's wall time. CPython counts fewer young "
            "collections for the same work: its list free list reuses objects "
            "without touching the generation-0 count.")
    young = sorted({r["n_large"] for r in records
                    if r.get("n_large") is not None
                    and r.get("variant") == "hot"})
    if young:
        notes.append(
            "young collection: bin/gc_young / gc_young.py. The old heap is a "
            "binary tree of N two-slot nodes (lists in CPython) built "
            "children-first and promoted by a full collection; each rep "
            "builds 700 young nodes (600 chained survivors and 50 dropped "
            "two-cycles), each referring to one of 256 hot old nodes, and "
            "times the one generation-0 collection (must return 100); the "
            "rcgc-only rows 'old children anywhere' refer to any old node "
            "instead (chosen at random: gc_young N 2000 700 0); the "
            "survivors are then dropped, and every 10th rep runs an untimed "
            "generation-1 collection. Automatic collection off. Per run "
            "(one process per size and system) the median of 2,000 timed "
            "collections (500 with --quick) after 50 warm-up reps; the "
            "ratio row pairs the two sizes run by run.")
    for n in young:
        lo = min(r["n_small"] for r in records if r.get("n_large") == n)
        bench = f"young collection, {fmt_n(n)} old ÷ {fmt_n(lo)} old"
        v2 = _value(records, bench + ", old children anywhere", "rcgc",
                    "time ratio")
        v = _value(records, bench, "rcgc", "time ratio")
        c = _value(records, bench, "cpython", "time ratio")
        if v is not None:
            notes.append(f"target {bench} <= {TARGET_YOUNG_RATIO:g}: rcgc "
                         f"{v:.3f} -> {_verdict(v, TARGET_YOUNG_RATIO)} "
                         f"(cpython {benchlib.fmt_num(c)}; rcgc with old "
                         f"children anywhere {benchlib.fmt_num(v2)})")
    if mem:
        c = mem.get("cpython")
        r = mem.get("rcgc")
        b = mem.get("boehm")
        txt = ("bytes per tracked object = bytes allocated per object - "
               "payload (two reference slots, 16 bytes).")
        if r:
            hidden = (r["bytes_per_obj"] - r["payload_per_obj"]
                      - r["object_header"])
            txt += (f" rcgc: {r['bytes_per_obj']:g} bytes per node = the "
                    f"pool allocator's blocks in use x block size / N "
                    f"(release build) = {r['object_header']}-byte "
                    f"rcgc_object header + {r['payload_per_obj']:g} payload "
                    f"+ {hidden:g} bytes of hidden header in front of the "
                    f"object; 'resident bytes per object (old)' is the RSS "
                    f"growth per node, payload included, after a full "
                    f"collection (also what lives outside the blocks: pool "
                    f"headers, per-slot side bytes, the collector's "
                    f"vectors; {r.get('rss_per_obj', -1):.1f} right after "
                    f"the allocations).")
        if c:
            txt += (f" CPython: tracemalloc's traced bytes per instance of a "
                    f"__slots__ = ('a', 'b') class = {c['bytes_per_obj']:g} "
                    f"(basic size {c['basicsize']} + {c['gc_header']}-byte "
                    f"PyGC_Head; sys.getsizeof says {c['getsizeof']}): "
                    f"overhead {c['object_header']} (ob_refcnt + ob_type) + "
                    f"{c['gc_header']} (PyGC_Head) = "
                    f"{c['overhead_per_obj']:g}; a 2-item list costs "
                    f"{c['list2_bytes_per_obj']:g} (list object + separate "
                    f"item array).")
        if b:
            txt += (f" Boehm: heap bytes in use per GC_MALLOC(16) node = "
                    f"{b['bytes_per_obj']:.1f} (the extra byte of "
                    f"all-interior-pointers rounds it to 32; no header, mark "
                    f"bits in block headers outside the heap).")
        notes.append(txt)


# ---------------------------------------------------------------------------

def run(ctx):
    """The suite: (records, notes).  Heavy (10^7) runs come last."""
    records, notes = [], []
    if not hasattr(ctx, "runs") or not ctx.runs:
        ctx.runs = 3
    py = _python_ok(ctx, notes)
    if ctx.quick:
        light, heavy = [10 ** 5], []
    else:
        light, heavy = [10 ** 6], [10 ** 7]
    parts = getattr(ctx, "parts", None) or PARTS
    full, mem = {}, {}
    if "full" in parts:
        full = full_collections(ctx, py, light, records, notes)
    if "shapes" in parts:
        shapes(ctx, py, records, notes)
    if "pauses" in parts:
        pauses(ctx, py, records, notes)
    if "bytes" in parts:
        mem = bytes_per_object(ctx, py, full, records, notes)
    if "young" in parts:
        young_collections(ctx, py, records, notes)
    if heavy and "full" in parts:
        full.update(full_collections(ctx, py, heavy, records, notes))
    _notes(records, light + heavy, mem, notes)
    return records, notes


def markdown(records):
    """A Markdown table: one row per benchmark and metric, a column per
    system (median (min–max))."""
    rows, seen = {}, []
    for r in records:
        key = (r["benchmark"], r["metric"])
        if key not in rows:
            rows[key] = {}
            seen.append(key)
        rows[key][r["system"]] = r
    systems = [s for s in SYSTEMS if any(s in v for v in rows.values())]
    out = ["| benchmark | metric | " + " | ".join(systems) + " |",
           "|---|---|" + "---|" * len(systems)]
    for key in seen:
        cells = []
        for s in systems:
            r = rows[key].get(s)
            if r is None:
                cells.append("—")
                continue
            v, (lo, hi) = r["value"], r["spread"]
            if all(float(x).is_integer() for x in (v, lo, hi)):
                cells.append(f"{v:.0f}" if lo == hi
                             else f"{v:.0f} ({lo:.0f}–{hi:.0f})")
                continue
            st = {"median": v, "min": lo, "max": hi, "runs": r["runs"]}
            cells.append(benchlib.fmt_stat(st))
        out.append(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bindir", default=os.path.join(benchlib.ROOT, "build",
                                                     "bin"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(PARTS),
                    help="parts to run (default all): " + ", ".join(PARTS))
    ap.add_argument("--json", default=None,
                    help="also write the records there")
    args = ap.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    for p in parts:
        if p not in PARTS:
            ap.error(f"--only: unknown part '{p}' (have: {', '.join(PARTS)})")
    ctx = types.SimpleNamespace(bindir=args.bindir, python=args.python,
                                runs=args.runs, quick=args.quick,
                                parts=parts)
    records, notes = run(ctx)
    print(markdown(records))
    print()
    for n in notes:
        print(f"- {n}")
    if args.json:
        import json
        os.makedirs(os.path.dirname(os.path.abspath(args.json)),
                    exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"machine": benchlib.machine(args.python),
                       "records": records, "notes": notes}, f, indent=1)
            f.write("\n")
    return 1 if any(n.startswith("ERROR") for n in notes) else 0


if __name__ == "__main__":
    sys.exit(main())

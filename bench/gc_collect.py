#!/usr/bin/env python3
"""gc_collect.py - full-collection cost per object: rcgc beside CPython 3.11.

Runs bench/gc_full.c (binary, built separately) and bench/gc_full.py (under
the CPython interpreter) for every cell (shape x N), one fresh process per
run, the two systems interleaved run by run (alternating which goes first),
and prints a Markdown table of ns per object (median and min-max over the
runs) with the ratio CPython/rcgc and the counts each collection returned.
Writes one JSON record per benchmark and system to build/bench/gc_collect.json.
Nothing is built here:

    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
    cmake --build build --target gc_full
    python3 bench/gc_collect.py [--bin build/bin/gc_full] [--quick]

See bench/README.md for what each number means.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import fmt_n, fmt_stat, log, summarize  # noqa: E402

CASES = ("alive_first", "alive_steady", "garbage")
SYSTEMS = ("rcgc", "cpython")


def commands(args, shape, n):
    """{system: command} of one cell (gc_full and gc_full.py)."""
    return {
        "rcgc": [args.bin, shape, str(n), str(args.steady)],
        "cpython": [args.python, os.path.join(HERE, "gc_full.py"), shape,
                    str(n), str(args.steady)]
        + (["--no-freeze"] if args.no_freeze else []),
    }


def memory_needed(n):
    """Bytes to wait for before one process of a cell with N objects."""
    return n * 160 + (512 << 20)


def run_cell(cmds, shape, n, runs, progress, timeout=900, label=None):
    """All runs of one cell.

    cmds: {system: command}, each printing gc_full's JSON lines (build and
    the CASES, each with "ok", "collected", "expected", "ns_per_obj").  The
    systems take turns going first, run by run (rotating the order).
    progress: [processes done, processes in all], updated.  Returns
    ({system: [records of each run]}, [error messages]); a collection that
    returned the wrong count is an error.  The build record of each run
    gets the child's peak RSS ("peak_rss", bytes).
    """
    systems = list(cmds)
    results = {s: [] for s in systems}
    errors = []
    label = label or f"{shape} N={fmt_n(n)}"
    for k in range(1, runs + 1):
        rot = (k - 1) % len(systems)
        for system in systems[rot:] + systems[:rot]:
            progress[0] += 1
            benchlib.wait_for_memory(memory_needed(n))
            log(f"[{progress[0]:3d}/{progress[1]}] {label}: {system} run "
                f"{k}/{runs} ...")
            run = benchlib.run(cmds[system], timeout)
            records, peak = run.records, run.peak_rss
            # the program's own VmHWM when it says it (benchlib.Run.peak_rss)
            for r in records:
                if r.get("case") == "end" and r.get("vmhwm", -1) > 0:
                    peak = r["vmhwm"]
            for r in records:
                if r.get("case") == "build":
                    r["peak_rss"] = peak
            if run.error:
                errors.append(f"{system} {label} run {k}: {run.error}")
                log("  ERROR: " + errors[-1])
            for r in records:
                if r.get("case") in CASES and not r.get("ok"):
                    msg = (f"{system} {label} run {k} {r['case']}: collect "
                           f"returned {r['collected']}, expected "
                           f"{r['expected']}")
                    errors.append(msg)
                    log("  ERROR: " + msg)
            got = {r.get("case") for r in records}
            missing = [c for c in ("build",) + CASES if c not in got]
            if missing and not run.error:
                errors.append(f"{system} {label} run {k}: missing "
                              f"{', '.join(missing)}")
            summary = " ".join(
                f"{r['case']}={r['ns_per_obj']:.1f}" for r in records
                if r.get("case") in CASES)
            log(f"        {run.wall_s:5.1f} s, peak RSS {peak >> 20} MiB; "
                f"ns/obj: {summary}")
            results[system].append(records)
    return results, errors


def case_values(runs, case, key="ns_per_obj"):
    """One value per run: for alive_steady with several reps, their median."""
    vals = []
    for records in runs:
        v = [r[key] for r in records if r.get("case") == case and key in r]
        if v:
            vals.append(statistics.median(v))
    return vals


def counts(runs, case):
    return sorted({r["collected"] for records in runs for r in records
                   if r.get("case") == case})


def phase_medians(runs, case):
    """rcgc: median over runs of each phase's ns/obj (last rep of a case)."""
    per_phase = {}
    for records in runs:
        reps = [r for r in records if r.get("case") == case]
        if not reps:
            continue
        r = reps[-1]
        for p, ns in r.get("phases_ns", {}).items():
            per_phase.setdefault(p, []).append(ns / r["n"])
    return {p: statistics.median(v) for p, v in per_phase.items()}


def main():
    ap = argparse.ArgumentParser(
        description="Full-collection ns/object: rcgc vs CPython gc.collect()")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin",
                                                  "gc_full"),
                    help="the gc_full binary (default: build/bin/gc_full)")
    ap.add_argument("--python", default=sys.executable,
                    help="CPython 3.11 interpreter (default: this one)")
    ap.add_argument("--runs", type=int, default=None,
                    help="runs (fresh processes) per cell and system "
                         "(default 5; 3 with --quick)")
    ap.add_argument("--sizes", default=None,
                    help="comma-separated N values (default 1000000,10000000;"
                         " 1000000 with --quick)")
    ap.add_argument("--shapes", default="chain,pairs,tree")
    ap.add_argument("--steady", type=int, default=1,
                    help="steady-state collections per process (default 1)")
    ap.add_argument("--quick", action="store_true",
                    help="only N = 10^6 and 3 runs")
    ap.add_argument("--no-freeze", action="store_true",
                    help="do not gc.freeze() the interpreter's own objects")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "gc_collect.json"),
                    help="where to write the records")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds per process")
    args = ap.parse_args()

    runs = args.runs or (3 if args.quick else 5)
    sizes = [int(float(s)) for s in
             (args.sizes or ("1000000" if args.quick
                             else "1000000,10000000")).split(",")]
    shapes = args.shapes.split(",")
    if runs < 1 or any(s not in ("chain", "pairs", "tree") for s in shapes):
        ap.error("--runs must be >= 1, shapes chain, pairs and/or tree")
    if not os.access(args.bin, os.X_OK):
        ap.error(f"{args.bin} is not an executable; build it first "
                 "(cmake --build BUILD --target gc_full) or pass --bin")
    pyver = subprocess.run([args.python, "-c",
                            "import sys; print(sys.version.split()[0])"],
                           capture_output=True, text=True).stdout.strip()
    if not pyver.startswith("3.11"):
        log(f"warning: {args.python} is Python {pyver}, not 3.11")

    start = time.monotonic()
    progress = [0, len(shapes) * len(sizes) * runs * 2]
    log(f"gc_collect: {args.bin} vs {args.python} (Python {pyver}); "
        f"{runs} runs per cell; {progress[1]} processes")
    cells, all_errors = [], []
    for n in sizes:
        for shape in shapes:
            res, errs = run_cell(commands(args, shape, n), shape, n, runs,
                                 progress, args.timeout)
            cells.append((shape, n, res))
            all_errors.extend(errs)
    elapsed = time.monotonic() - start

    # ---- the table ----
    lines = [
        "| shape | N | case | rcgc ns/obj median (min–max) | "
        "CPython ns/obj median (min–max) | CPython/rcgc | "
        "collected rcgc / CPython |",
        "|---|---|---|---|---|---|---|",
    ]
    records = []
    for shape, n, res in cells:
        for case in CASES:
            stats = {s: summarize(case_values(res[s], case)) for s in SYSTEMS}
            cnt = {s: counts(res[s], case) for s in SYSTEMS}
            expected = n if case == "garbage" else 0
            ok = all(c == [expected] for c in cnt.values())
            ratio = (stats["cpython"]["median"] / stats["rcgc"]["median"]
                     if stats["rcgc"] and stats["cpython"] else None)
            cnt_txt = " / ".join(
                ",".join(str(x) for x in cnt[s]) or "n/a" for s in SYSTEMS)
            if not ok:
                cnt_txt += " **MISMATCH**"
            lines.append(
                f"| {shape} | {fmt_n(n)} | {case.replace('_', ' ')} | "
                f"{fmt_stat(stats['rcgc'])} | {fmt_stat(stats['cpython'])} | "
                f"{'%.2f' % ratio if ratio else 'n/a'} | {cnt_txt} |")
            for s in SYSTEMS:
                if stats[s] is None:
                    continue
                rec = {"benchmark": f"gc_full/{shape}/{fmt_n(n)}/{case}",
                       "system": s, "metric": "ns_per_obj",
                       "value": round(stats[s]["median"], 3),
                       "spread": {"min": round(stats[s]["min"], 3),
                                  "max": round(stats[s]["max"], 3)},
                       "runs": case_values(res[s], case),
                       "collected": cnt[s], "expected": expected,
                       "shape": shape, "n": n, "case": case}
                if s == "rcgc":
                    rec["phases_ns_per_obj"] = {
                        p: round(v, 3)
                        for p, v in phase_medians(res[s], case).items()}
                records.append(rec)

    # ---- memory per object ----
    mem_lines = [
        "| shape | N | rcgc bytes allocated / obj | rcgc payload / obj | "
        "rcgc overhead / obj | CPython overhead / obj | "
        "RSS growth / obj rcgc / CPython | peak RSS MiB rcgc / CPython |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, n, res in cells:
        build = {s: [r for recs in res[s] for r in recs
                     if r.get("case") == "build"] for s in SYSTEMS}
        if not build["rcgc"] or not build["cpython"]:
            continue
        rb = build["rcgc"][0]
        cb = build["cpython"][0]
        rss = {s: statistics.median(r["rss_per_obj"] for r in build[s])
               for s in SYSTEMS}
        peak = {s: statistics.median(r.get("peak_rss", 0) for r in build[s])
                / 2 ** 20 for s in SYSTEMS}
        mem_lines.append(
            f"| {shape} | {fmt_n(n)} | {rb['bytes_per_obj']:.0f} | "
            f"{rb['payload_per_obj']:.0f} | {rb['overhead_per_obj']:.0f} | "
            f"{cb['overhead_per_obj']} ({cb['object_header']} + "
            f"{cb['gc_header']}) | {rss['rcgc']:.1f} / {rss['cpython']:.1f} | "
            f"{peak['rcgc']:.0f} / {peak['cpython']:.0f} |")
        bench = f"gc_full/{shape}/{fmt_n(n)}/memory"
        records.append({"benchmark": bench, "system": "rcgc",
                        "metric": "overhead_bytes_per_obj",
                        "value": rb["overhead_per_obj"], "spread": None,
                        "bytes_allocated_per_obj": rb["bytes_per_obj"],
                        "payload_per_obj": rb["payload_per_obj"],
                        "malloc_usable_per_obj": rb["usable_per_obj"],
                        "rss_per_obj": rss["rcgc"],
                        "peak_rss_mib": round(peak["rcgc"], 1)})
        records.append({"benchmark": bench, "system": "cpython",
                        "metric": "overhead_bytes_per_obj",
                        "value": cb["overhead_per_obj"], "spread": None,
                        "object_header": cb["object_header"],
                        "gc_header": cb["gc_header"],
                        "rss_per_obj": rss["cpython"],
                        "peak_rss_mib": round(peak["cpython"], 1)})

    # ---- rcgc phases ----
    phase_lines = []
    for shape, n, res in cells:
        for case in ("alive_steady", "garbage"):
            ph = phase_medians(res["rcgc"], case)
            top = sorted(((v, p) for p, v in ph.items() if v >= 0.05),
                         reverse=True)
            if top:
                phase_lines.append(
                    f"- {shape} {fmt_n(n)} {case.replace('_', ' ')}: "
                    + ", ".join(f"{p} {v:.1f}" for v, p in top))

    print(f"Full collection, ns per object (median of {runs} runs, "
          f"min–max in parentheses), CPython {pyver} vs rcgc, one run of "
          f"{os.path.basename(__file__)} on {platform.node()} "
          f"({os.cpu_count()} CPUs).\n")
    print("\n".join(lines))
    print("\nMemory per tracked object (bytes):\n")
    print("\n".join(mem_lines))
    if phase_lines:
        print("\nrcgc time per phase (ns/obj, median over runs, from "
              "rcgc_gc_get_stats):\n")
        print("\n".join(phase_lines))
    print(f"\nTotal time: {elapsed:.0f} s.")

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    log(f"gc_collect: wrote {len(records)} records to {args.json} "
        f"({elapsed:.0f} s)")
    if all_errors:
        log(f"gc_collect: {len(all_errors)} error(s):")
        for e in all_errors:
            log("  " + e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

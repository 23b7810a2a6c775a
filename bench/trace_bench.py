#!/usr/bin/env python3
"""trace_bench.py - what the allocation tracer costs, rcgc beside CPython's
tracemalloc, in one run.

Runs bench/trace_bench.c (built as <build>/bin/trace_bench; this script
builds nothing, `make bench-trace` does) in each tracer mode and
bench/trace_alloc.py untraced and under tracemalloc, on the same workload
(binary trees + a churn of mixed-size objects and buffers, same random
numbers, same checksum), each run a fresh process, the systems and modes
interleaved and their order rotated run by run so drift hits all alike:

  rcgc     untraced, callsite, cstack1, cstack16, provider1, provider16,
           sampled (512 KiB)
  cpython  untraced, tracemalloc1, tracemalloc16

Reports CPU time (user + sys) and wall time of the workload, peak RSS,
traced blocks, the tracer's own memory and its bytes per traced block, and
the traced/untraced ratios per system (median, min-max over the runs; the
ratio's range is over the runs paired round by round).  A mode whose first
run takes more than --slow seconds runs --slow-runs times only (default 1),
which keeps the default run near 3 minutes while the C-stack modes and
tracemalloc(16) are 15-30x slower than the others.  Prints a Markdown table
and the issue's targets; writes one JSON record per benchmark, system/mode
and metric to build/bench/trace.json.  Progress goes to stderr.

    python3 bench/trace_bench.py --bin build/bin/trace_bench [--quick]
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

# (system, mode, description of the frames)
MODES = [
    ("rcgc", "untraced", "tracer off"),
    ("rcgc", "callsite", "call site, 1 frame"),
    ("rcgc", "cstack1", "C stack, 1 frame"),
    ("rcgc", "cstack16", "C stack, 16 frames"),
    ("rcgc", "provider1", "provider, 1 frame"),
    ("rcgc", "provider16", "provider, 16 frames"),
    ("rcgc", "sampled", "call site, sampled 512 KiB"),
    ("cpython", "untraced", "tracemalloc off"),
    ("cpython", "tracemalloc1", "tracemalloc.start(1)"),
    ("cpython", "tracemalloc16", "tracemalloc.start(16)"),
]

# (metric, label, unit) read from the programs' output or derived
METRICS = [
    ("cpu_s", "CPU time", "s"),
    ("wall_s", "wall time", "s"),
    ("peak_rss_mb", "peak RSS", "MB"),
    ("rss_growth_mb", "peak RSS - RSS at start", "MB"),
    ("traced_blocks", "traced blocks", "blocks"),
    ("overhead_bytes", "tracer memory", "bytes"),
    ("bytes_per_block", "tracer bytes per traced block", "bytes"),
    ("stretch_bytes_per_block", "tracer bytes per live block, largest tree",
     "bytes"),
]
RATIOS = [("cpu_s", "cpu_ratio"), ("wall_s", "wall_ratio"),
          ("peak_rss_mb", "rss_ratio"), ("rss_growth_mb", "rss_growth_ratio")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_one(cmd, timeout):
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {r.returncode}: "
                           f"{r.stderr.strip()}")
    rec = json.loads(r.stdout.strip().splitlines()[-1])
    rec["_wall"] = time.monotonic() - t0
    rec["rss_growth_mb"] = rec["peak_rss_mb"] - rec["rss_start_mb"]
    tb = rec["traced_blocks"]
    rec["bytes_per_block"] = rec["overhead_bytes"] / tb if tb else 0.0
    sb = rec.get("stretch_blocks") or 0
    rec["stretch_bytes_per_block"] = (rec["stretch_overhead_bytes"] / sb
                                      if sb else 0.0)
    return rec


def summarize(vals):
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "n": len(vals)}


def fmt(v, digits=None):
    if abs(v) < 0.005:
        v = 0.0
    a = abs(v)
    if digits is not None:
        return f"{v:.{digits}f}"
    if a >= 10000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_stat(s, digits=None):
    if s is None:
        return "—"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"], digits)
    return (f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}–"
            f"{fmt(s['max'], digits)})")


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        gcc = subprocess.run(["gcc", "--version"], stdout=subprocess.PIPE,
                             text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        gcc = "gcc ?"
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load ?"
    return (f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"{gcc}, {load} at the start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin",
                                                  "trace_bench"))
    ap.add_argument("--python", default=sys.executable,
                    help="the CPython running trace_alloc.py")
    ap.add_argument("--runs", type=int, default=None,
                    help="runs per mode (5; 3 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="depth 16, 200000 churn ops, 3 runs")
    ap.add_argument("--depth", type=int, default=None, help="tree depth (18)")
    ap.add_argument("--ops", type=int, default=None,
                    help="churn operations (500000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gc", action="store_true",
                    help="automatic collection on in both systems")
    ap.add_argument("--modes", default=None,
                    help="comma-separated system/mode list, e.g. "
                         "rcgc/untraced,rcgc/callsite (default: all)")
    ap.add_argument("--slow", type=float, default=15.0,
                    help="a mode whose first run takes longer (s) is slow")
    ap.add_argument("--slow-runs", type=int, default=1,
                    help="runs of a slow mode (1)")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "trace.json"))
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 5)
    depth = args.depth or (16 if args.quick else 18)
    ops = args.ops if args.ops is not None else (200000 if args.quick
                                                 else 500000)
    if not os.access(args.bin, os.X_OK):
        log(f"trace_bench: {args.bin} not found; build it first "
            f"(make bench-trace, or cmake --build BUILD --target trace_bench)")
        return 1
    modes = MODES
    if args.modes:
        want = set(args.modes.split(","))
        modes = [m for m in MODES if f"{m[0]}/{m[1]}" in want]
        for s in ("rcgc", "cpython"):  # ratios need the baseline
            if any(m[0] == s for m in modes) and (s, "untraced") not in \
                    [(m[0], m[1]) for m in modes]:
                modes.insert(0, (s, "untraced", "baseline"))
    alloc_py = os.path.join(HERE, "trace_alloc.py")
    tail = [str(depth), str(ops), str(args.seed), "1" if args.gc else "0"]

    def command(system, mode):
        if system == "rcgc":
            return [args.bin, mode] + tail
        return [args.python, alloc_py, mode] + tail

    raw = {}      # (system, mode) -> [record]
    by_round = {}  # (system, mode, round) -> record
    slow = set()
    t_start = time.monotonic()
    load0 = machine()
    for r in range(runs):
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for (system, mode, _desc) in order:
            key = (system, mode)
            if key in slow and len(raw.get(key, [])) >= args.slow_runs:
                continue
            rec = run_one(command(system, mode), args.timeout)
            raw.setdefault(key, []).append(rec)
            by_round[(system, mode, r)] = rec
            if r == 0 and rec["_wall"] > args.slow:
                slow.add(key)
            log(f"[run {r + 1}/{runs}] {system:7s} {mode:13s} cpu "
                f"{rec['cpu_s']:.3f} s  wall {rec['wall_s']:.3f} s  peak RSS "
                f"{rec['peak_rss_mb']:.0f} MB  traced {rec['traced_blocks']}"
                f"  ({rec['_wall']:.1f} s)" +
                ("  [slow: runs once more at most]" if key in slow and r == 0
                 and args.slow_runs > 1 else
                 "  [slow: this run only]" if key in slow and r == 0 else ""))

    # the work must be the same everywhere
    sums = {(k, rec["checksum"]) for k, recs in raw.items() for rec in recs}
    checksums = {c for _k, c in sums}
    status = 0
    if len(checksums) != 1:
        log(f"trace_bench: CHECKSUM MISMATCH: {sorted(sums)}")
        status = 2

    stats = {}
    for key, recs in raw.items():
        for metric, _l, _u in METRICS:
            stats[key + (metric,)] = summarize([x[metric] for x in recs])
    ratios = {}
    for (system, mode, _d) in modes:
        base = raw.get((system, "untraced"))
        recs = raw.get((system, mode))
        if not base or not recs or mode == "untraced":
            continue
        for metric, rname in RATIOS:
            bmed = statistics.median([x[metric] for x in base])
            med = statistics.median([x[metric] for x in recs])
            paired = []
            for r in range(runs):
                a = by_round.get((system, mode, r))
                b = by_round.get((system, "untraced", r))
                if a is not None and b is not None and b[metric] > 0:
                    paired.append(a[metric] / b[metric])
            ratios[(system, mode, rname)] = {
                "median": med / bmed if bmed > 0 else float("nan"),
                "min": min(paired) if paired else float("nan"),
                "max": max(paired) if paired else float("nan"),
                "n": len(paired)}

    elapsed = time.monotonic() - t_start
    print(f"Machine: {load0}")
    print(f"Command: {' '.join(['bench/trace_bench.py'] + sys.argv[1:])} "
          f"({runs} runs per mode, {elapsed:.0f} s)")
    pyver = next((x[0].get("python") for k, x in raw.items()
                  if k[0] == "cpython"), None)
    nodes = next(iter(raw.values()))[0]["nodes"]
    print(f"Workload: trees depth {depth} ({nodes:,} nodes), churn {ops:,} "
          f"ops, automatic collection {'on' if args.gc else 'off'}; "
          f"CPython {pyver or '-'}; checksum "
          f"{'/'.join(str(c) for c in sorted(checksums))}\n")
    print("| system | mode | frames | CPU s | wall s | peak RSS MB | "
          "traced blocks | tracer MB | B/block | CPU × | wall × | "
          "peak RSS × | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (system, mode, desc) in modes:
        key = (system, mode)
        if key not in raw:
            continue
        st = lambda m: stats.get(key + (m,))  # noqa: E731
        ra = lambda m: ratios.get(key + (m,))  # noqa: E731
        blocks = st("traced_blocks")
        omb = {k: v / 1048576 if k != "n" else v
               for k, v in st("overhead_bytes").items()}
        cells = [system, mode, desc, fmt_stat(st("cpu_s"), 2),
                 fmt_stat(st("wall_s"), 2), fmt_stat(st("peak_rss_mb"), 0),
                 f"{blocks['median']:,.0f}" if blocks["median"] else "—",
                 fmt_stat(omb, 1) if omb["median"] else "—",
                 fmt(st("bytes_per_block")["median"], 1)
                 if st("bytes_per_block")["median"] and mode != "sampled"
                 else "—",
                 fmt_stat(ra("cpu_ratio"), 2) if ra("cpu_ratio") else "1",
                 fmt_stat(ra("wall_ratio"), 2) if ra("wall_ratio") else "1",
                 fmt_stat(ra("rss_ratio"), 2) if ra("rss_ratio") else "1",
                 str(len(raw[key]))]
        print("| " + " | ".join(cells) + " |")
    print("\nMedian (min–max) over the runs, each a fresh process; ratios are "
          "traced / untraced of the same system (median / median, range over "
          "the runs paired round by round).  CPU = user + sys of the "
          "workload; B/block = tracer memory / traced blocks at the end (not "
          "shown when sampling: the tables are mostly empty).\n")

    def rmed(system, mode, rname):
        x = ratios.get((system, mode, rname))
        return None if x is None else x["median"]

    print("Targets (reported, never asserted):")
    for (system, mode, rname, limit, what) in (
            ("rcgc", "callsite", "cpu_ratio", 1.5, "1 frame, time"),
            ("rcgc", "callsite", "rss_ratio", 1.3, "1 frame, peak RSS"),
            ("rcgc", "sampled", "cpu_ratio", 1.05, "sampled, time")):
        v = rmed(system, mode, rname)
        if v is None:
            print(f"- rcgc {what} <= {limit}x: not measured in this run")
        else:
            print(f"- rcgc {what} <= {limit}x: {v:.2f}x "
                  f"{'met' if v <= limit else 'MISSED'}")
    for rname, what, ref in (("cpu_ratio", "time", "2.1–3.3x"),
                             ("rss_ratio", "peak RSS", "1.5x")):
        v = rmed("cpython", "tracemalloc1", rname)
        print(f"- tracemalloc(1) {what}: "
              f"{'not measured' if v is None else f'{v:.2f}x'} here "
              f"(published: {ref})")

    print("\nTracer memory per traced block (bytes), at the end / with the "
          "stretch tree alive (the largest live set; rcgc counts every live "
          "block there, CPython the tree's nodes):")
    for (system, mode, desc) in modes:
        key = (system, mode)
        if key not in raw or mode in ("untraced", "sampled"):
            continue
        print(f"- {system} {mode}: "
              f"{stats[key + ('bytes_per_block',)]['median']:.1f} / "
              f"{stats[key + ('stretch_bytes_per_block',)]['median']:.1f}")

    records = []
    bench = f"trace/depth{depth}/churn{ops}" + ("/gc" if args.gc else "")
    for (system, mode, desc) in modes:
        key = (system, mode)
        if key not in raw:
            continue
        for metric, label, unit in METRICS:
            s = stats[key + (metric,)]
            records.append({
                "benchmark": bench, "system": f"{system}/{mode}",
                "metric": metric, "value": s["median"],
                "spread": {"min": s["min"], "max": s["max"]},
                "unit": unit, "label": label, "frames": desc,
                "runs": [x[metric] for x in raw[key]]})
        for _m, rname in RATIOS:
            s = ratios.get(key + (rname,))
            if s is None:
                continue
            records.append({
                "benchmark": bench, "system": f"{system}/{mode}",
                "metric": rname, "value": s["median"],
                "spread": {"min": s["min"], "max": s["max"]},
                "unit": "x", "label": f"{rname} traced / untraced",
                "frames": desc})
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(records, f, indent=1)
    log(f"trace_bench: wrote {len(records)} records to {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())

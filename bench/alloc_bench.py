#!/usr/bin/env python3
"""alloc_bench.py - the rcgc pool allocator beside glibc malloc, mimalloc and
jemalloc, in one run.

Runs bench/alloc_bench.c, built once per allocator (<bin>/alloc_bench_rcgc,
_glibc, _mimalloc, _jemalloc; a missing one is skipped with a note), on three
workloads, one fresh process per run, the systems interleaved and their order
rotated run by run:

  bintree   Benchmarks Game binary-trees, depth 21, 16-byte nodes: ns per node
            (CPU time, user + sys), peak RSS
  sizemix   blocks of 16..512 bytes with random lifetimes: ns per
            malloc + free, peak RSS
  frag      10^7 blocks of 16..512 bytes, free a random 90 %: RSS given back
            to the OS, right away and after the allocator's own trim call

Prints a Markdown table (median and min-max over the runs) and the targets,
and writes one JSON record per benchmark, system and metric to
build/bench/alloc.json.  Progress goes to stderr.

    python3 bench/alloc_bench.py --bin-dir build/bin [--quick] [--runs N]
    python3 bench/alloc_bench.py --install-deps      # apt-get the libraries

See docs/allocator.md ("Benchmarks") for what each number means.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import ROOT, log, summarize  # noqa: E402
SYSTEMS = ("rcgc", "mimalloc", "jemalloc", "glibc")
PACKAGES = {"mimalloc": "libmimalloc-dev", "jemalloc": "libjemalloc-dev"}

# (benchmark, metric, label, unit, lower is better)
METRICS = [
    ("bintree", "ns_per_node", "ns per node (CPU)", "ns", True),
    ("bintree", "ns_per_node_user", "ns per node (user)", "ns", True),
    ("bintree", "ns_per_node_wall", "ns per node (wall)", "ns", True),
    ("bintree", "peak_rss_mb", "peak RSS", "MB", True),
    ("sizemix", "ns_per_op", "ns per malloc+free (CPU)", "ns", True),
    ("sizemix", "ns_per_op_wall", "ns per malloc+free (wall)", "ns", True),
    ("sizemix", "peak_rss_mb", "peak RSS", "MB", True),
    ("frag", "rss_full_mb", "RSS after allocating", "MB", True),
    ("frag", "peak_rss_mb", "peak RSS", "MB", True),
    ("frag", "returned_mb", "RSS given back after the frees", "MB", False),
    ("frag", "returned_trim_mb", "RSS given back after trim", "MB", False),
    ("frag", "returned_trim_pct", "share given back after trim", "%", False),
    ("frag", "alloc_ns", "ns per malloc (+ memset)", "ns", True),
    ("frag", "free_ns", "ns per free", "ns", True),
    ("frag", "trim_ms", "trim call", "ms", True),
]


def install_deps():
    """apt-get the allocator libraries that are missing, where possible."""
    for system, pkg in PACKAGES.items():
        ok = subprocess.run(["dpkg", "-s", pkg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL).returncode == 0
        if ok:
            continue
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            log(f"note: {pkg} is missing and cannot be installed here "
                f"(needs apt-get as root): {system} will be skipped")
            continue
        log(f"installing {pkg} ...")
        r = subprocess.run(["apt-get", "install", "-y", "-q", pkg],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        if r.returncode != 0:
            log(f"note: apt-get install {pkg} failed; {system} will be "
                f"skipped\n{r.stderr.strip()}")


def run_one(cmd, timeout):
    r = benchlib.run(cmd, timeout=timeout)
    if r.error is not None or not r.records:
        raise RuntimeError(f"{' '.join(cmd)}: {r.error or 'no output'}")
    rec = r.records[-1]
    rec["_wall"] = r.wall_s
    return rec


def derive(rec):
    """Add the metrics computed from the raw fields."""
    b = rec["bench"]
    if b == "bintree":
        rec["ns_per_node_wall"] = rec["ns_per_node"]
        rec["ns_per_node"] = (rec["user"] + rec["sys"]) * 1e9 / rec["nodes"]
    elif b == "sizemix":
        rec["ns_per_op_wall"] = rec["ns_per_op"]
        rec["ns_per_op"] = (rec["user"] + rec["sys"]) * 1e9 / rec["ops"]
    elif b == "frag":
        rec["alloc_ns"] = rec["alloc_s"] * 1e9 / rec["objects"]
        rec["free_ns"] = rec["free_s"] * 1e9 / (rec["objects"] * 0.9)
        rec["trim_ms"] = rec["trim_s"] * 1e3
    return rec


def fmt(v):
    """A median for the targets' lines (no "-0")."""
    return benchlib.fmt_num(0.0 if abs(v) < 0.005 else v)


def fmt_stat(s):
    if s is None:
        return "—"
    return benchlib.fmt_stat({k: (0.0 if k != "runs" and abs(v) < 0.005
                                  else v) for k, v in s.items()})


def machine():
    m = benchlib.machine()
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    return (f"{m['cpu']}, {m['cores']} CPUs, "
            f"{(m['memory_bytes'] or 0) >> 30} GiB, {m['os']}, Linux "
            f"{m['kernel']}, {m['cc']}, glibc {platform.libc_ver()[1]}" +
            (f", {libs}" if libs else ""))


def targets(stats):
    """The issue's targets, as lines (reported, never asserted)."""
    def med(bench, metric, system):
        s = stats.get((bench, metric, system))
        return None if s is None else s["median"]

    out = []

    def line(name, a, b, better):
        if a is None or b is None:
            out.append(f"- {name}: not measured in this run")
            return
        ok = better(a, b)
        out.append(f"- {name}: {fmt(a)} vs {fmt(b)}: "
                   f"{'met' if ok else 'MISSED'}")

    for bench, metric in (("bintree", "ns_per_node"), ("sizemix", "ns_per_op")):
        line(f"faster than mimalloc, {bench} {metric} (rcgc vs mimalloc)",
             med(bench, metric, "rcgc"), med(bench, metric, "mimalloc"),
             lambda a, b: a < b)
    for bench in ("bintree", "sizemix", "frag"):
        line(f"peak RSS no higher than mimalloc's, {bench} (MB, rcgc vs "
             f"mimalloc)", med(bench, "peak_rss_mb", "rcgc"),
             med(bench, "peak_rss_mb", "mimalloc"), lambda a, b: a <= b)
    for metric, what in (("returned_mb", "after the frees"),
                         ("returned_trim_mb", "after each allocator's trim")):
        line(f"more RSS returned than glibc, {what} (MB, rcgc vs glibc)",
             med("frag", metric, "rcgc"), med("frag", metric, "glibc"),
             lambda a, b: a > b)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--runs", type=int, default=None,
                    help="runs per benchmark and system (5; 3 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes: depth 18, 5e6 ops, 10^6 blocks")
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--ops", type=int, default=None)
    ap.add_argument("--objects", type=int, default=None)
    ap.add_argument("--benchmarks", default="bintree,sizemix,frag")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench",
                                                   "alloc.json"))
    ap.add_argument("--install-deps", action="store_true",
                    help="apt-get the missing allocator libraries and exit")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    if args.install_deps:
        install_deps()
        return 0
    runs = args.runs or (3 if args.quick else 5)
    depth = args.depth or (18 if args.quick else 21)
    ops = args.ops or (5_000_000 if args.quick else 30_000_000)
    objects = args.objects or (1_000_000 if args.quick else 10_000_000)
    params = {"bintree": depth, "sizemix": ops, "frag": objects}
    benches = [b for b in args.benchmarks.split(",") if b]

    systems = []
    for s in args.systems.split(","):
        exe = os.path.join(args.bin_dir, f"alloc_bench_{s}")
        if os.access(exe, os.X_OK):
            systems.append(s)
        else:
            pkg = PACKAGES.get(s)
            log(f"note: {exe} not found: {s} skipped" +
                (f" (install {pkg} with `python3 bench/alloc_bench.py "
                 f"--install-deps`, then rebuild)" if pkg else ""))
    if "rcgc" not in systems:
        log("alloc_bench: the rcgc binary is missing; build target "
            "alloc_benches first")
        return 1

    raw = {}  # (bench, system) -> [records]
    t_start = time.monotonic()
    for r in range(runs):
        for bench in benches:
            if bench == "frag":
                benchlib.wait_for_memory(objects * 400 + (512 << 20),
                                         timeout=600)
            order = systems[r % len(systems):] + systems[:r % len(systems)]
            for s in order:
                cmd = [os.path.join(args.bin_dir, f"alloc_bench_{s}"), bench,
                       str(params[bench])]
                rec = derive(run_one(cmd, args.timeout))
                raw.setdefault((bench, s), []).append(rec)
                key = {"bintree": "ns_per_node", "sizemix": "ns_per_op",
                       "frag": "returned_trim_mb"}[bench]
                log(f"[run {r + 1}/{runs}] {bench:8s} {s:9s} {key} "
                    f"{rec[key]:.2f}  peak RSS {rec['peak_rss_mb']:.0f} MB  "
                    f"({rec['_wall']:.1f} s)")

    stats = {}
    for (bench, metric, _label, _unit, _low) in METRICS:
        for s in systems:
            recs = raw.get((bench, s))
            if recs:
                stats[(bench, metric, s)] = summarize([x[metric] for x in recs])

    print(f"Machine: {machine()}")
    print(f"Command: {' '.join([os.path.basename(sys.argv[0])] + sys.argv[1:])}"
          f" ({runs} runs per cell, {time.monotonic() - t_start:.0f} s)")
    print(f"Sizes: bintree depth {depth}, sizemix {ops:,} ops, frag "
          f"{objects:,} blocks\n")
    print("| benchmark | metric | " + " | ".join(systems) + " |")
    print("|---|---|" + "---|" * len(systems))
    for (bench, metric, label, unit, _low) in METRICS:
        if bench not in benches:
            continue
        cells = [fmt_stat(stats.get((bench, metric, s))) for s in systems]
        print(f"| {bench} | {label} ({unit}) | " + " | ".join(cells) + " |")
    print("\nMedian (min–max) over the runs; each run is a fresh process.\n")
    print("Targets (reported, never asserted):")
    for t in targets(stats):
        print(t)
    missing = [s for s in SYSTEMS if s not in systems]
    if missing:
        print(f"\nSkipped: {', '.join(missing)} (library not installed)")

    records = []
    for (bench, metric, label, unit, low) in METRICS:
        for s in systems:
            st = stats.get((bench, metric, s))
            if st is None:
                continue
            records.append({
                "benchmark": bench, "system": s, "metric": metric,
                "value": st["median"],
                "spread": {"min": st["min"], "max": st["max"]},
                "unit": unit, "lower_is_better": low,
                "runs": [x[metric] for x in raw[(bench, s)]],
                "param": params[bench]})
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(records, f, indent=1)
    log(f"alloc_bench: wrote {len(records)} records to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

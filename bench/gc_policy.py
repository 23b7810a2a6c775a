#!/usr/bin/env python3
"""gc_policy.py - the collection policies side by side (docs/collector.md,
"Policies: choosing the default").

    python3 bench/gc_policy.py --bindir build/bin [--quick] [--runs N]
                               [--json FILE]

Runs, for RCGC_POLICY_CPYTHON311 and RCGC_POLICY_ADAPTIVE (the programs read
RCGC_BENCH_POLICY), run after run in alternating order:

  binary-trees  alloc_bench_rcgc bintree_obj 21 (--quick: 18), every node a
                tracked object; also with automatic collection off
  GCBench       alloc_bench_rcgc gcbench_obj 18 (16); also collection off
  pauses        gc_pause 10^6 10^6 (3*10^5): max pause (wall and CPU), p99
  requests      gc_requests 100000 (30000): the cycle-heavy request loop

and prints one Markdown table of medians (min-max over the runs): CPU
seconds (user + sys of the process: on a shared machine, less disturbed than
wall time), collections per generation, the peak of the heap's bytes
(rcgc_runtime_heap_bytes), the peak resident set (the program's own VmHWM
where it reports one), the longest pause.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

POLICIES = ("cpython311", "adaptive")
MB = 1e6


def benches(quick):
    d, g = (18, 16) if quick else (21, 18)
    live, iters = (3 * 10 ** 5, 3 * 10 ** 5) if quick else (10 ** 6, 10 ** 6)
    req = 30000 if quick else 100000
    return [
        ("binary-trees depth %d" % d, ["alloc_bench_rcgc", "bintree_obj", str(d)], True),
        ("GCBench %d" % g, ["alloc_bench_rcgc", "gcbench_obj", str(g)], True),
        ("pauses %s live" % benchlib.fmt_n(live),
         ["gc_pause", str(live), str(iters), "5000"], False),
        ("requests %d" % req, ["gc_requests", str(req)], False),
    ]


def _pct(vals, p):
    vals = sorted(vals)
    if not vals:
        return 0.0
    k = min(len(vals) - 1, max(0, int(round(p / 100.0 * (len(vals) - 1)))))
    return vals[k]


def measure(rec, run):
    """The numbers of one run."""
    m = {"cpu_s": run.user_s + run.sys_s, "wall_s": run.wall_s}
    if "pauses" in rec:  # gc_pause
        ps = rec["pauses"]
        m["collections"] = [sum(1 for p in ps if p[0] == g) for g in range(3)]
        m["max_pause_ms"] = max((p[1] for p in ps), default=0) / 1e6
        m["max_pause_cpu_ms"] = max((p[2] for p in ps), default=0) / 1e6
        m["p99_pause_cpu_ms"] = _pct([p[2] for p in ps], 99) / 1e6
        m["heap_peak_mb"] = rec.get("heap_bytes_peak", 0) / MB
        m["rss_mb"] = run.peak_rss / MB
    elif rec.get("bench") == "gc_requests":
        m["collections"] = rec["collections"]
        m["max_pause_ms"] = rec["max_pause_ms"]
        m["max_pause_cpu_ms"] = rec["max_pause_cpu_ms"]
        m["heap_peak_mb"] = rec["heap_bytes_peak"] / MB
        m["rss_mb"] = rec["peak_rss"] / MB
    else:  # alloc_bench
        m["collections"] = rec.get("gc_collections")
        m["heap_peak_mb"] = rec.get("heap_bytes_peak", 0) / MB
        m["rss_mb"] = rec.get("peak_rss_mb", 0) * (1 << 20) / MB
        m["ns_per_node_cpu"] = rec.get("ns_per_node_user")
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", default=os.path.join(benchlib.ROOT, "build", "bin"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="run the benchmarks whose name "
                    "contains this")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    results = []
    for name, cmd, with_off in benches(a.quick):
        if a.only and a.only not in name:
            continue
        exe = os.path.join(a.bindir, cmd[0])
        variants = [(p, {"RCGC_BENCH_POLICY": p}) for p in POLICIES]
        if with_off:
            variants.append(("collection off", {"ALLOC_BENCH_GC": "0"}))
        runs = {v[0]: [] for v in variants}
        for k in range(a.runs):
            order = variants if k % 2 == 0 else list(reversed(variants))
            for label, env in order:
                benchlib.log(f"{name}: {label} run {k + 1}/{a.runs}")
                r = benchlib.run([exe] + cmd[1:], timeout=3600, env=env)
                rec = r.records[0] if r.records else None
                if r.error or rec is None or rec.get("ok") is False:
                    benchlib.log(f"  FAILED: {r.error or rec}")
                    continue
                runs[label].append(measure(rec, r))
        for label, ms in runs.items():
            if not ms:
                continue
            row = {"benchmark": name, "variant": label, "runs": len(ms)}
            for key in ms[0]:
                if key == "collections":
                    row[key] = ms[len(ms) // 2][key]
                    continue
                row[key] = benchlib.summarize([m.get(key) for m in ms])
            results.append(row)
    cols = [("cpu_s", "CPU s"), ("collections", "collections (gen 0, 1, 2)"),
            ("heap_peak_mb", "heap peak MB"), ("rss_mb", "peak RSS MB"),
            ("max_pause_cpu_ms", "max pause CPU ms"),
            ("max_pause_ms", "max pause wall ms")]
    print("| benchmark | policy | " + " | ".join(c[1] for c in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for row in results:
        cells = []
        for key, _ in cols:
            v = row.get(key)
            if key == "collections":
                cells.append(", ".join(str(x) for x in v) if v else "")
            else:
                cells.append(benchlib.fmt_stat(v) if v else "")
        print(f"| {row['benchmark']} | {row['variant']} | " + " | ".join(cells) + " |")
    print(f"\n{a.runs} runs each, medians (min–max); CPU s = user + sys of the "
          "process.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": benchlib.machine(), "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()

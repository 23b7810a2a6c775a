"""benchlib - what every benchmark driver in bench/ shares.

Running a measured process (its JSON lines, its peak RSS from wait4), waiting
for memory on a shared machine, medians with their spread, progress lines,
the machine description, and the result record of build/bench/results.json:

    {"benchmark": "binary-trees depth 21", "system": "mimalloc",
     "metric": "ns per node", "value": 11.3, "spread": [10.9, 12.0],
     "runs": 5, "unit": "ns", "lower_is_better": true}

value is the median over the runs; spread is [min, max] of the same runs.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_t0 = time.monotonic()


def log(msg):
    """A progress line on stderr, with the seconds since the driver began."""
    print(f"[{time.monotonic() - _t0:7.1f}s] {msg}", file=sys.stderr,
          flush=True)


def fmt_n(n):
    """10^k for powers of ten, the number otherwise."""
    e = len(str(n)) - 1
    return f"10^{e}" if n == 10 ** e else str(n)


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def wait_for_memory(need, timeout=300):
    """Wait until `need` bytes are available (other jobs share the machine)."""
    deadline = time.monotonic() + timeout
    warned = False
    while True:
        avail = mem_available()
        if avail is None or avail >= need:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {avail >> 20} MiB available, "
                               f"{need >> 20} MiB needed")
        if not warned:
            log(f"  waiting for memory: {avail >> 20} MiB available, "
                f"{need >> 20} MiB needed")
            warned = True
        time.sleep(5)


class Run:
    """What one process gave: its JSON records, peak RSS, CPU and wall time."""

    def __init__(self, records, peak_rss, user_s, sys_s, wall_s, error):
        self.records = records
        # bytes: ru_maxrss of this child.  Linux starts a child's high-water
        # mark at its parent's RSS when it forks, so this is never below the
        # driver's own (tens of MB); programs that matter report their own
        # VmHWM, and the suites prefer it.
        self.peak_rss = peak_rss
        self.user_s = user_s
        self.sys_s = sys_s
        self.wall_s = wall_s
        self.error = error            # None, or one line saying what failed

    def first(self, **match):
        """The first record whose fields equal `match`, or None."""
        for r in self.records:
            if all(r.get(k) == v for k, v in match.items()):
                return r
        return None


def run(cmd, timeout=900, env=None):
    """Run cmd; parse each non-empty stdout line as JSON.

    Returns a Run.  A non-zero exit, a timeout or a line that is not JSON sets
    Run.error; the records read so far are kept.
    """
    t0 = time.monotonic()
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    with tempfile.TemporaryFile(mode="w+") as errf:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf,
                                    text=True, env=full_env)
        except OSError as e:
            return Run([], 0, 0.0, 0.0, 0.0, f"cannot run {cmd[0]}: {e}")
        killed = []
        timer = threading.Timer(timeout, lambda: (killed.append(1),
                                                  proc.kill()))
        timer.start()
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read()
    wall = time.monotonic() - t0
    records, error = [], None
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            error = f"bad output line: {line[:200]}"
    if killed:
        error = f"killed after {timeout} s"
    elif proc.returncode != 0:
        error = (f"exit status {proc.returncode}: "
                 f"{err.strip()[-500:] or '(no stderr)'}")
    elif err.strip():
        log("  stderr: " + err.strip()[-500:])
    return Run(records, usage.ru_maxrss * 1024, usage.ru_utime,
               usage.ru_stime, wall, error)


def summarize(vals):
    """{"median", "min", "max", "runs"} of a list of numbers, or None."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "runs": len(vals)}


def fmt_num(x):
    """A number with about three significant digits."""
    if x is None:
        return "n/a"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_stat(s):
    """'median (min–max)' of a summarize() result."""
    if s is None:
        return "n/a"
    if s["runs"] == 1 or s["min"] == s["max"]:
        return fmt_num(s["median"])
    return f"{fmt_num(s['median'])} ({fmt_num(s['min'])}–{fmt_num(s['max'])})"


def record(benchmark, system, metric, vals, unit, lower_is_better=True,
           **extra):
    """One record of results.json from the per-run values (None: none)."""
    s = summarize(vals)
    if s is None:
        return None
    r = {"benchmark": benchmark, "system": system, "metric": metric,
         "value": s["median"], "spread": [s["min"], s["max"]],
         "runs": s["runs"], "unit": unit, "lower_is_better": lower_is_better}
    r.update(extra)
    return r


def _first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else None
    except (OSError, subprocess.SubprocessError):
        return None


def _dpkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine(python=sys.executable):
    """What the numbers were measured on."""
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    libs = {}
    for name, pkg in (("mimalloc", "libmimalloc-dev"),
                      ("jemalloc", "libjemalloc-dev"),
                      ("boehm", "libgc-dev")):
        v = _dpkg_version(pkg)
        if v:
            libs[name] = v
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem,
        "kernel": platform.release(), "os": _first_line(
            ["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "cc": _first_line(["cc", "--version"]),
        "python": _first_line([python, "--version"]),
        "libraries": libs,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }

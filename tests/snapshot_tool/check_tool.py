#!/usr/bin/env python3
"""rcgc-snapshot's outputs, checked exactly.

    check_tool.py text|json|errors TOOL DATA_DIR EXPECTED_DIR [--regen]

DATA_DIR holds the snapshots make_snapshots wrote (old.snap, new.snap, ...);
the tool runs there with relative names, so its output does not depend on
where the build directory is.  text compares whole outputs with the files in
EXPECTED_DIR (--regen rewrites them: review the diff before committing);
json parses every report with the json module and checks its fields; errors
checks each exit status and message, and that damaged files never crash the
tool.  Files the test makes go to DATA_DIR (inside the build directory).
"""
import json
import os
import random
import re
import struct
import subprocess
import sys
import zlib

FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def run(tool, data, *args):
    """(exit status, stdout, stderr) of the tool run in the data dir."""
    p = subprocess.run([tool] + list(args), cwd=data, capture_output=True,
                       timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


# ---- text ----

TEXT_CASES = {
    "show_new": ["show", "new.snap"],
    "show_new_top1": ["show", "new.snap", "--top", "1"],
    "show_old_traceback_all": ["show", "old.snap", "--by", "traceback", "--top", "0"],
    "show_include_bus": ["show", "new.snap", "--include", "bus*"],
    "show_domain42": ["show", "new.snap", "--domain", "42"],
    "show_exclude": ["show", "new.snap", "--exclude-domain", "42",
                     "--exclude", "json.py:88"],
    "show_lineno_cumulative": ["show", "new.snap", "--cumulative", "--top", "5"],
    "diff": ["diff", "old.snap", "new.snap"],
    "diff_traceback": ["diff", "old.snap", "new.snap", "--by", "traceback", "--top", "2"],
    "diff_filename_cumulative": ["diff", "old.snap", "new.snap", "--by", "filename",
                                 "--cumulative"],
}


def check_text(tool, data, expected, regen):
    for name, args in TEXT_CASES.items():
        rc, out, err = run(tool, data, *args)
        check(rc == 0 and err == "", "%s: exit %d, stderr %r" % (name, rc, err))
        path = os.path.join(expected, name + ".txt")
        if regen:
            with open(path, "w") as f:
                f.write(out)
            continue
        with open(path) as f:
            want = f.read()
        if not check(out == want, "%s: output differs from %s" % (name, path)):
            print("--- got:\n" + out + "--- want:\n" + want)

    # The leak on top of the diff, exactly as CPython prints a StatisticDiff.
    rc, out, _ = run(tool, data, "diff", "old.snap", "new.snap")
    lines = out.splitlines()
    check(lines[2] == "#1: bus.py:42: size=48.8 KiB (+46.9 KiB), count=520 (+500), "
          "average=96 B", "diff: the +500 line is not first: %r" % lines[2])

    # Sources other than the provider: call sites and the C stack.
    rc, out, _ = run(tool, data, "show", "callsite.snap")
    check(re.search(r"^#1: \S*make_snapshots\.c:\d+: size=10000 B, count=10, "
                    r"average=1000 B$", out, re.M), "callsite: " + out)
    check(re.search(r"^#2: \S*make_snapshots\.c:\d+: size=960 B, count=20, "
                    r"average=48 B$", out, re.M), "callsite: " + out)
    if os.path.exists(os.path.join(data, "cstack.snap")):
        # Unsymbolized: module+offset frames.
        rc, out, _ = run(tool, data, "show", "cstack.snap", "--by", "traceback",
                         "--no-symbolize")
        check(rc == 0 and re.search(r'^  File "\S*make_snapshots", \+0x[0-9a-f]+',
                                    out, re.M), "cstack: " + out)
        check(re.search(r'^  File "\S*libc\S*", \+0x[0-9a-f]+', out, re.M) or
              re.search(r', in main$', out, re.M), "cstack frames: " + out)
        # Symbolized (the default): the generator's own functions with file
        # and line, from its debug information.
        rc, out, _ = run(tool, data, "show", "cstack.snap", "--by", "traceback")
        check(rc == 0 and re.search(r'^  File "\S*make_snapshots\.c", line \d+, '
                                    r'in cstack_middle$', out, re.M),
              "cstack symbolized: " + out)

    # Names from a snapshot never reach the terminal as control bytes
    # (issue 20 item 5): C0 controls, DEL, C1 controls (raw bytes or UTF-8)
    # and invalid UTF-8 are written as \xNN or \uNNNN, a backslash as \\.
    for args in (["show", "weird.snap", "--by", "traceback"],
                 ["show", "weird.snap"], ["diff", "weird.snap", "weird.snap"],
                 ["show", "weird.snap", "--by", "filename", "--cumulative"]):
        p = subprocess.run([tool] + args, cwd=data, capture_output=True,
                           timeout=120)
        raw = p.stdout
        check(p.returncode == 0 and not re.search(rb"[\x00-\x09\x0b-\x1f\x7f]", raw)
              and b"\xc2\x9b" not in raw and b"\x9b" not in raw.replace(b"\xc2\x9b", b""),
              "%s: control bytes in the text output: %r" % (args, raw))
        raw.decode("utf-8")  # valid UTF-8 throughout
    rc, out, _ = run(tool, data, "show", "weird.snap", "--by", "traceback")
    check('File "\\x1b]0;owned\\x07\\x1b[2Jesc.py", line 9, in '
          '\\x9b31m\\u009b0m\\x7f' in out, "escaped frame: %r" % out)
    check('q"uote\\\\back\\tslash\\x01.py' in out and
          "bad\\xff\\xfeutf8.py" in out, "escaped names: %r" % out)

    # Symbolizing uses a module file only when it is the one the snapshot
    # recorded (issue 20 item 2): change the recorded modification time of
    # every module (the table ends the body) and the frames stay
    # module+offset with a warning, unless --symbolize-any.
    if os.path.exists(os.path.join(data, "cstack.snap")):
        with open(os.path.join(data, "cstack.snap"), "rb") as f:
            b = bytearray(f.read())
        check(struct.unpack_from("<I", b, 12)[0] & 2, "cstack.snap: no module table")
        n = next((k for k in range(1, 64) if
                  struct.unpack_from("<I", b, len(b) - 8 - 36 * k)[0] == k), 0)
        for k in range(n):
            b[len(b) - 4 - 36 * k - 8] ^= 1
        struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
        write(data, "moved.snap", bytes(b))
        rc, out, err = run(tool, data, "show", "moved.snap", "--by", "traceback")
        check(rc == 0 and n > 0 and re.search(
            r"^rcgc-snapshot: moved\.snap: warning: symbolize: %d modules? left as "
            r"module\+offset: not the files? this snapshot recorded" % n, err) and
            not re.search(r"in cstack_middle$", out, re.M) and
            re.search(r'^  File "\S*make_snapshots", \+0x[0-9a-f]+', out, re.M),
            "moved modules: %d %r %r" % (n, err, out))
        rc, out, err = run(tool, data, "show", "moved.snap", "--by", "traceback",
                           "--symbolize-any")
        check(rc == 0 and err == "" and
              re.search(r"in cstack_middle$", out, re.M), "--symbolize-any: %r" % out)

    # A sampled snapshot says so; a diff against one too.
    note = "sampled: 1 per 4096 bytes; sizes and counts are estimates"
    for args in (["show", "sampled.snap"], ["diff", "sampled.snap", "new.snap"]):
        rc, out, _ = run(tool, data, *args)
        check(rc == 0 and out.splitlines()[1] == note, "%s: %r" % (args, out))

    # -o writes the same bytes as stdout.
    rc, out, _ = run(tool, data, "diff", "old.snap", "new.snap")
    rc2, _, _ = run(tool, data, "diff", "old.snap", "new.snap", "-o", "out.txt")
    with open(os.path.join(data, "out.txt")) as f:
        check(rc2 == 0 and f.read() == out, "-o output differs")


# ---- json ----

def load_json(tool, data, *args):
    rc, out, err = run(tool, data, *(list(args) + ["--format", "json"]))
    check(rc == 0, "%s: exit %d %s" % (args, rc, err))
    try:
        return json.loads(out)
    except ValueError as e:
        fail("%s: invalid JSON: %s" % (args, e))
        return None


def check_json(tool, data):
    d = load_json(tool, data, "show", "new.snap")
    if d:
        check(d["kind"] == "show" and d["key"] == "lineno" and
              d["cumulative"] is False and d["sample_bytes"] == 0 and
              d["files"] == ["new.snap"] and d["traceback_limit"] == 8, "show header")
        check(d["total"] == {"size": 111744, "count": 784}, "show total %r" % d["total"])
        st = d["statistics"]
        check(len(st) == 4 and sum(s["size"] for s in st) == d["total"]["size"],
              "show statistics sum")
        check(st[0]["frames"] == [{"filename": "bus.py", "lineno": 42,
                                   "function": "register_listener",
                                   "module": None, "offset": 0}], "show frame")
        check(st[0]["size"] == 49920 and st[0]["count"] == 520 and
              "size_diff" not in st[0], "show statistic %r" % st[0])
        check(d["other"] == {"statistics": 0, "size": 0}, "show other")

    d = load_json(tool, data, "diff", "old.snap", "new.snap", "--by", "traceback",
                  "--top", "2")
    if d:
        check(d["kind"] == "diff" and d["key"] == "traceback" and
              d["files"] == ["old.snap", "new.snap"], "diff header")
        check(d["total"]["size_diff"] == 35840 and d["total"]["count_diff"] == 460,
              "diff total %r" % d["total"])
        s = d["statistics"][0]
        names = [(f["filename"], f["lineno"]) for f in s["frames"]]
        check(names == [("main.py", 120), ("main.py", 14), ("server.py", 77),
                        ("app.py", 31), ("app.py", 52), ("bus.py", 42)],
              "diff frames, oldest first: %r" % names)
        check(s["size_diff"] == 48000 and s["count_diff"] == 500 and
              s["total_nframe"] == 6, "diff statistic %r" % s)
        check(d["statistics"][1]["size_diff"] == -12800, "diff second")
        check(d["other"]["statistics"] == 2 and d["other"]["size_diff"] == 640,
              "diff other %r" % d["other"])

    d = load_json(tool, data, "show", "new.snap", "--by", "filename", "--cumulative",
                  "--top", "0")
    if d:
        files = {s["frames"][0]["filename"]: s["size"] for s in d["statistics"]}
        # Every frame counts (CPython): main.py is twice in every stack but
        # the 16 KiB of gpu.py's.
        check(d["cumulative"] is True and
              files["main.py"] == 2 * d["total"]["size"] - 16384 and
              files["render.py"] == files["gpu.py"] == 16384,
              "cumulative: %r" % files)

    d = load_json(tool, data, "show", "sampled.snap")
    if d:
        check(d["sample_bytes"] == 4096, "sampled: sample_bytes")

    # Hostile strings: quotes, backslash, control characters, "</script>",
    # invalid UTF-8 (each bad byte one U+FFFD), all valid JSON.
    rc, raw, _ = run(tool, data, "show", "weird.snap", "--by", "traceback",
                     "--format", "json")
    check("</" not in raw and "<" not in raw, "weird: '<' not escaped")
    d = load_json(tool, data, "show", "weird.snap", "--by", "traceback")
    if d:
        frames = [f for s in d["statistics"] for f in s["frames"]]
        names = {f["filename"]: f["function"] for f in frames}
        check(names.get('q"uote\\back\tslash\x01.py') == "</script><b>&amp;",
              "weird: escapes %r" % names)
        check(names.get("bad\ufffd\ufffdutf8.py") ==
              "caf\u00e9 \ufffd\ufffd\ufffd \ufffd\ufffd", "weird: UTF-8 %r" % names)

    # Reports with nothing to draw: no trace left, no growth.
    for args in (["show", "new.snap", "--include", "nomatch"],
                 ["diff", "new.snap", "new.snap", "--by", "filename", "--cumulative"]):
        d = load_json(tool, data, *args)
        check(d is not None and d["total"]["size"] in (0, 111744), "%s" % args)
        rc, out, err = run(tool, data, *(args + ["--format", "html"]))
        check(rc == 0 and err == "" and out.rstrip().endswith("</html>"),
              "%s html: exit %d %s" % (args, rc, err))

    if os.path.exists(os.path.join(data, "cstack.snap")):
        d = load_json(tool, data, "show", "cstack.snap", "--by", "traceback",
                      "--no-symbolize")
        if d:
            f = d["statistics"][0]["frames"][-1]
            check(f["module"] is not None and f["lineno"] == 0 and f["offset"] > 0,
                  "cstack frame %r" % f)
        d = load_json(tool, data, "show", "cstack.snap", "--by", "traceback")
        if d:
            f = d["statistics"][0]["frames"][-1]
            check(f["module"] is not None and f["lineno"] > 0 and
                  f["filename"].endswith("make_snapshots.c") and f["offset"] > 0,
                  "cstack frame symbolized %r" % f)


# ---- errors ----

USAGE = "usage: rcgc-snapshot show FILE [options] | diff OLD NEW [options]"


def expect(tool, data, args, status, pattern):
    rc, out, err = run(tool, data, *args)
    ok = rc == status and re.search(pattern, err, re.M)
    check(ok, "%s: want exit %d and %r, got %d %r" % (args, status, pattern, rc, err))
    if status == 2:
        check(USAGE in err, "%s: no usage line" % (args,))


def write(data, name, content):
    with open(os.path.join(data, name), "wb") as f:
        f.write(content)


def one_frame_snapshot(module):
    """A snapshot file of one trace whose frame is module+0x10."""
    strs = [b"<unknown>", module]
    body = struct.pack("<IQI", 1, 0, len(strs))
    body += b"".join(struct.pack("<I", len(x)) + x for x in strs)
    body += struct.pack("<III", 1, 1, 1) + struct.pack("<IIIIQ", 0, 0, 0xFFFFFFFF, 1, 0x10)
    body += struct.pack("<QIIQ", 1, 0, 0, 8)
    data = b"RCGCSNAP" + struct.pack("<IIQ", 1, 0, len(body)) + body
    return data + struct.pack("<I", zlib.crc32(data))


def check_errors(tool, data):
    with open(os.path.join(data, "new.snap"), "rb") as f:
        good = f.read()
    write(data, "truncated.snap", good[:len(good) // 2])
    write(data, "header-only.snap", good[:10])
    write(data, "garbage.snap", b"this is not a snapshot\n" * 20)
    write(data, "empty.snap", b"")
    for name in ("missing.snap", "truncated.snap", "header-only.snap",
                 "garbage.snap", "empty.snap"):
        expect(tool, data, ["show", name], 1,
               r"^rcgc-snapshot: %s: \S.*$" % re.escape(name))
    expect(tool, data, ["diff", "garbage.snap", "new.snap"], 1,
           r"^rcgc-snapshot: garbage\.snap: ")
    expect(tool, data, ["diff", "old.snap", "truncated.snap"], 1,
           r"^rcgc-snapshot: truncated\.snap: ")
    expect(tool, data, ["show", "new.snap", "-o", "no/such/dir/out.txt"], 1,
           r"^rcgc-snapshot: no/such/dir/out\.txt: ")

    # A file named like an option is a file after "--".
    write(data, "-o", good)
    rc, out, err = run(tool, data, "diff", "--", "-o", "new.snap")
    check(rc == 0 and out.startswith("Snapshot new.snap compared to -o:"),
          "-- -o: %d %r %r" % (rc, out, err))
    os.unlink(os.path.join(data, "-o"))

    # A FIFO or a device given as the file, or named as a module inside
    # one: a clear error or a report at once, never a hang (issue 20
    # items 2 and 3).
    fifo = os.path.join(data, "fifo.snap")
    if os.path.exists(fifo):
        os.unlink(fifo)
    os.mkfifo(fifo)
    expect(tool, data, ["show", "fifo.snap"], 1,
           r"^rcgc-snapshot: fifo\.snap: cannot open fifo\.snap: not a regular file")
    expect(tool, data, ["show", "/dev/zero"], 1,
           r"^rcgc-snapshot: /dev/zero: cannot open /dev/zero: not a regular file")
    write(data, "fifo-module.snap", one_frame_snapshot(b"fifo.snap"))
    rc, out, err = run(tool, data, "show", "fifo-module.snap", "--by", "traceback",
                       "--symbolize-any")
    check(rc == 0 and 'File "fifo.snap", +0x10' in out, "fifo module: %r %r" % (out, err))
    os.unlink(fifo)

    for args, pattern in [
            ([], "missing command"),
            (["frobnicate", "new.snap"], "unknown command: frobnicate"),
            (["show"], "show needs one FILE"),
            (["show", "a.snap", "b.snap"], "too many files: b.snap"),
            (["diff", "old.snap"], "diff needs OLD and NEW files"),
            (["show", "new.snap", "--bogus"], "unknown option: --bogus"),
            (["show", "new.snap", "--by", "function"], "--by takes"),
            (["show", "new.snap", "--top", "-3"], "--top takes"),
            (["show", "new.snap", "--top", "many"], "--top takes"),
            (["show", "new.snap", "--format", "xml"], "--format takes"),
            (["show", "new.snap", "--domain", "70000"], "a domain is 0..65535"),
            (["show", "new.snap", "--top"], "missing value for: --top"),
            (["show", "new.snap", "--by", "traceback", "--cumulative"],
             "--cumulative needs --by lineno or filename")]:
        expect(tool, data, args, 2, "^rcgc-snapshot: " + re.escape(pattern))

    rc, out, _ = run(tool, data, "--help")
    check(rc == 0 and "rcgc-snapshot show FILE" in out, "--help")
    rc, out, _ = run(tool, data, "--version")
    check(rc == 0 and re.match(r"rcgc-snapshot \(rcgc\) \d+\.\d+\.\d+$", out),
          "--version: %r" % out)
    rc, out, _ = run(tool, data, "show", "--top=1", "--by=filename", "new.snap")
    check(rc == 0 and "#1: bus.py:0:" in out, "--name=value options")

    # Damaged files: every flipped byte, cut or garbage tail is an error
    # message or a report, never a crash (a signal gives a negative status).
    rng = random.Random(1234)
    print("damage seed 1234")
    with open(os.path.join(data, "old.snap"), "rb") as f:
        small = f.read()
    for i in range(150):
        b = bytearray(small)
        kind = i % 3
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            b = b[:rng.randrange(len(b))]
        else:
            b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        write(data, "damaged.snap", bytes(b))
        for fmt in ("text", "html") if i % 10 == 0 else ("text",):
            rc, out, err = run(tool, data, "show", "damaged.snap", "--by", "traceback",
                               "--format", fmt)
            if not check(rc in (0, 1), "damaged #%d (%s): exit %d %s" %
                         (i, fmt, rc, err)):
                break
            if rc == 1:
                check(err.startswith("rcgc-snapshot: damaged.snap: "),
                      "damaged #%d: message %r" % (i, err))


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    part, tool, data, expected = sys.argv[1:5]
    tool = os.path.abspath(tool)
    if part == "text":
        check_text(tool, data, expected, "--regen" in sys.argv)
    elif part == "json":
        check_json(tool, data)
    elif part == "errors":
        check_errors(tool, data)
    else:
        print("unknown part " + part)
        return 2
    print("%s: %s" % (part, "FAILED (%d)" % len(FAILURES) if FAILURES else "ok"))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

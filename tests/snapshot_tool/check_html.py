#!/usr/bin/env python3
"""rcgc-snapshot's HTML report in headless Chromium.

    check_html.py TOOL MAKE_SNAPSHOTS DATA_DIR NTRACES

Writes the reports of the event-bus story (show, diff, the hostile strings)
and of a snapshot of NTRACES traces into DATA_DIR/html, opens each with
`chromium --headless --dump-dom` (the page's script marks <body> with
data-rendered, data-flame-nodes and data-render-ms when it is done) and
`--screenshot`, and checks the flame graph was drawn and the PNG is a real
picture.  Prints the big report's size and how long it takes to open.
Exit 77 (skipped) when Chromium is not installed.  Chromium's profile and
caches go to DATA_DIR too (HOME and XDG_* point there).
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import time

FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
        print("FAIL: " + msg)
    return cond


def find_chromium():
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, exe, home):
        self.exe = exe
        self.home = home
        os.makedirs(home, exist_ok=True)
        self.env = dict(os.environ, HOME=home,
                        XDG_CONFIG_HOME=os.path.join(home, "config"),
                        XDG_CACHE_HOME=os.path.join(home, "cache"))

    def run(self, *args):
        cmd = [self.exe, "--headless", "--no-sandbox", "--disable-gpu",
               "--no-first-run", "--disable-extensions",
               "--user-data-dir=" + os.path.join(self.home, "profile")] + list(args)
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, env=self.env, timeout=300)
        return p, time.monotonic() - t0

    def dom(self, url):
        p, secs = self.run("--dump-dom", url)
        return p.stdout.decode("utf-8", "replace"), secs

    def screenshot(self, url, png):
        if os.path.exists(png):
            os.remove(png)
        p, secs = self.run("--screenshot=" + png, "--window-size=1280,900", url)
        return secs


def body_attrs(dom):
    m = re.search(r"<body([^>]*)>", dom)
    return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1))) if m else {}


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def tool_html(tool, data, out, *args):
    t0 = time.monotonic()
    p = subprocess.run([tool] + list(args) + ["--format", "html", "-o", out],
                       cwd=data, capture_output=True, timeout=300)
    secs = time.monotonic() - t0
    check(p.returncode == 0, "%s: exit %d %s" % (args, p.returncode, p.stderr))
    return secs


def check_page(browser, path, name, min_nodes):
    """Open the report; return (attributes of <body>, wall seconds)."""
    url = "file://" + os.path.abspath(path)
    dom, secs = browser.dom(url)
    a = body_attrs(dom)
    check(a.get("data-rendered") == "yes", "%s: not rendered (%r)" % (name, a))
    nodes = int(a.get("data-flame-nodes", "0"))
    drawn = len(re.findall(r'class="fr[ "]', dom))
    check(nodes >= min_nodes and drawn >= min_nodes,
          "%s: flame graph has %d nodes, %d drawn" % (name, nodes, drawn))
    check("<tbody>" in dom and "<tr>" in dom, "%s: no statistics table" % name)
    png = path[:-5] + ".png"
    browser.screenshot(url, png)
    dims = png_size(png) if os.path.exists(png) else None
    check(dims == (1280, 900) and os.path.getsize(png) > 20000,
          "%s: screenshot %r %s" % (name, dims, png))
    print("%s: %d flame nodes, %d drawn, rendered in %s ms; screenshot %s"
          % (name, nodes, drawn, a.get("data-render-ms"), png))
    return a, secs, dom


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    tool, maker, data, ntraces = sys.argv[1:5]
    tool, maker, data = map(os.path.abspath, (tool, maker, data))
    exe = find_chromium()
    if exe is None:
        print("SKIP: chromium is not installed (apt-get install chromium)")
        return 77
    out = os.path.join(data, "html")
    os.makedirs(out, exist_ok=True)
    browser = Browser(exe, os.path.join(data, "chromium-home"))

    show = os.path.join(out, "show.html")
    diff = os.path.join(out, "diff.html")
    weird = os.path.join(out, "weird.html")
    tool_html(tool, data, show, "show", "new.snap")
    tool_html(tool, data, diff, "diff", "old.snap", "new.snap")
    tool_html(tool, data, weird, "show", "weird.snap", "--by", "traceback")
    for path in (show, diff, weird):
        with open(path, encoding="utf-8") as f:
            page = f.read()
        # Self-contained: nothing loaded from elsewhere; the data cannot
        # close its <script> element.
        check(not re.search(r"""(src|href)=|@import|url\(|https?://""", page),
              "%s: refers to another file" % path)
        check(page.count("</script>") == 2, "%s: '</script>' in the data" % path)

    check_page(browser, show, "show", 8)
    _, _, dom = check_page(browser, diff, "diff", 6)
    check(re.search(r"register_listener \(bus\.py:42\)", dom), "diff: leak frame not drawn")
    check("+500" in dom, "diff: +500 not in the table")
    _, _, dom = check_page(browser, weird, "weird", 3)
    check("&lt;/script&gt;&lt;b&gt;&amp;amp;" in dom, "weird: function name not shown as text")
    # Zoomed on a node (#zoom=ID): its ancestors stay, drawn dimmed.
    zdom, _ = browser.dom("file://" + show + "#zoom=3")
    check('data-zoom="3"' in zdom and 'class="fr anc' in zdom, "zoom: not drawn zoomed")

    # 10^6 traces: the report stays small and opens quickly.
    big = os.path.join(data, "big.snap")
    if not os.path.exists(big) or os.path.getmtime(big) < os.path.getmtime(maker):
        t0 = time.monotonic()
        p = subprocess.run([maker, data, "--big", ntraces], capture_output=True)
        check(p.returncode == 0, "make_snapshots --big: %s" % p.stderr)
        print("big.snap: %s traces written in %.1f s" % (ntraces, time.monotonic() - t0))
    bightml = os.path.join(out, "big.html")
    gen = tool_html(tool, data, bightml, "show", "big.snap")
    size = os.path.getsize(bightml)
    a, secs, _ = check_page(browser, bightml, "big", 100)
    check(size < 1024 * 1024, "big.html is %d bytes" % size)
    check(int(a.get("data-render-ms", "99999")) < 3000, "big.html renders slowly")
    empty = os.path.join(out, "empty.html")
    with open(empty, "w") as f:
        f.write("<!DOCTYPE html><html><body></body></html>\n")
    _, base = browser.dom("file://" + empty)
    print("big.html (%s traces): %d bytes, written in %.2f s; opens in %.2f s "
          "(an empty page: %.2f s), script %s ms"
          % (ntraces, size, gen, secs, base, a.get("data-render-ms")))
    print("html: %s" % ("FAILED (%d)" % len(FAILURES) if FAILURES else "ok"))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

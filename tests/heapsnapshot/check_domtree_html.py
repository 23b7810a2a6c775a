#!/usr/bin/env python3
"""The dominator tree's HTML page (rcgc_diag_domtree_write) in headless Chromium.

    check_domtree_html.py BIN_DIR WORK_DIR

Writes the pages of the leaky bus (examples/leaky_bus) and of a random heap
(heapsnap_random, 5000 objects), opens each with `chromium --headless
--dump-dom` (the page's script marks <body> with data-rendered and
data-icicle-nodes when done) and `--screenshot`, and checks the icicle and
the table were drawn, the bus is the largest retainer, and the page loads
nothing from elsewhere.  Exit 77 (skipped) when Chromium is not installed.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "snapshot_tool"))
from check_html import Browser, body_attrs, check, find_chromium, png_size, FAILURES  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    bindir, work = map(os.path.abspath, sys.argv[1:3])
    exe = find_chromium()
    if exe is None:
        print("SKIP: chromium is not installed (apt-get install chromium)")
        return 77
    os.makedirs(work, exist_ok=True)
    subprocess.run([os.path.join(bindir, "leaky_bus"), work], check=True, capture_output=True)
    subprocess.run([os.path.join(bindir, "heapsnap_random"), work, "5000", "7"], check=True,
                   capture_output=True)
    browser = Browser(exe, os.path.join(work, "chromium-home"))
    for name, min_nodes in (("leaky_bus_dominators", 3), ("random_dominators", 20)):
        path = os.path.join(work, name + ".html")
        with open(path, encoding="utf-8") as f:
            page = f.read()
        check(not re.search(r"""(src|href)=|@import|url\(|https?://""", page),
              "%s: refers to another file" % name)
        check(page.count("</script>") == 2, "%s: '</script>' in the data" % name)
        dom, secs = browser.dom("file://" + path)
        a = body_attrs(dom)
        check(a.get("data-rendered") == "yes", "%s: not rendered (%r)" % (name, a))
        nodes = int(a.get("data-icicle-nodes", "0"))
        check(nodes >= min_nodes, "%s: %d icicle boxes" % (name, nodes))
        rows = len(re.findall(r"<tr>", dom))
        check(rows >= min(min_nodes, 50), "%s: %d table rows" % (name, rows))
        if name.startswith("leaky"):
            first = re.search(r"<tr><td class=\"n\">1</td>.*?</tr>", dom)
            check(first is not None and "bus" in first.group(0),
                  "leaky bus: the largest retainer is not the bus: %r" % (first and first.group(0)))
        png = os.path.join(work, name + ".png")
        browser.screenshot("file://" + path, png)
        dims = png_size(png) if os.path.exists(png) else None
        check(dims == (1280, 900), "%s: screenshot %r" % (name, dims))
        print("%s: %d icicle boxes, %d table rows, opened in %.1f s; screenshot %s"
              % (name, nodes, rows, secs, png))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

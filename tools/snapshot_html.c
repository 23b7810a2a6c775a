/*
 * snapshot_html.c - rcgc-snapshot's HTML report: ONE self-contained page
 * (inline style and script, nothing from the network) with a summary, a
 * flame graph of live bytes (or, for a diff, of the growth) by traceback,
 * and the table of the top statistics.
 *
 * The page stays light whatever the snapshot: the tree is aggregated and
 * pruned in C (snapshot_flame.c) and embedded as JSON in a
 * <script type="application/json"> element, whose strings cannot close it
 * (json_string writes '<' as \u003c).  The script draws absolutely placed
 * divs from that data; it sets data-rendered, data-flame-nodes and
 * data-render-ms on <body> when done, for tests and timing.
 */
#include <stdlib.h>

#include "snapshot_report.h"

/* The flame graph's pruning: frames under 0.1% of the root are merged,
 * and at most this many nodes are drawn. */
#define FLAME_MIN_SHARE 0.001
#define FLAME_MAX_NODES 4000

/* The page's style and script, one string literal per line so each stays
 * short (ISO C guarantees string literals of 4095 characters only).  The
 * script uses no double quotes, so the lines read as plain JavaScript. */
static const char *const page_css[] = {
    ":root { --ink: #1d2330; --muted: #5d6678; --line: #dfe3ea; --bg: #f6f7f9; --accent: #c2410c; }",
    "* { box-sizing: border-box; }",
    "body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif; }",
    "header { background: #1d2330; color: #f3f4f6; padding: 14px 24px 12px; }",
    "header h1 { margin: 0 0 2px; font-size: 19px; font-weight: 600; }",
    "header .sub { color: #aab2c0; font-size: 13px; word-break: break-all; }",
    "main { padding: 14px 24px 32px; max-width: 1600px; }",
    "section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px 14px; margin-bottom: 16px; }",
    "h2 { font-size: 15px; margin: 0 0 8px; font-weight: 600; }",
    ".cards { display: flex; flex-wrap: wrap; gap: 10px; }",
    ".card { border: 1px solid var(--line); border-radius: 5px; padding: 6px 12px; min-width: 130px; }",
    ".card .k { color: var(--muted); font-size: 12px; }",
    ".card .v { font-size: 17px; font-weight: 600; font-variant-numeric: tabular-nums; }",
    ".card .d { font-size: 12px; color: #b42318; font-weight: 600; }",
    ".card .d.down { color: #067647; }",
    ".note { margin-top: 10px; padding: 6px 10px; background: #fff7e6; border: 1px solid #f5d48a; border-radius: 4px; font-size: 13px; }",
    ".bar { display: flex; align-items: center; gap: 10px; margin-bottom: 6px; font-size: 13px; color: var(--muted); }",
    ".bar button { flex: none; white-space: nowrap; font: inherit; padding: 2px 10px; border: 1px solid #b8bfcc; background: #fff; border-radius: 4px; cursor: pointer; }",
    ".bar button:disabled { opacity: .45; cursor: default; }",
    "#info { min-height: 20px; font: 12.5px/1.5 ui-monospace, 'DejaVu Sans Mono', Menlo, monospace; color: var(--ink); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }",
    "#flame { position: relative; width: 100%; overflow: hidden; border-top: 1px solid var(--line); }",
    ".fr { position: absolute; height: 19px; padding: 0 4px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; font: 11.5px/19px ui-monospace, 'DejaVu Sans Mono', Menlo, monospace; color: #201a12; border-right: 1px solid #fff; border-bottom: 1px solid #fff; cursor: pointer; }",
    ".fr:hover { filter: brightness(1.12); outline: 1px solid #333; z-index: 1; }",
    ".fr.anc { opacity: .55; }",
    ".fr.other { background: #cfd3da !important; color: #454b57; font-style: italic; }",
    ".fr.root { background: #9aa3b2 !important; color: #fff; }",
    ".empty { color: var(--muted); padding: 10px 0; }",
    "table { border-collapse: collapse; width: 100%; font-size: 13px; }",
    "th { text-align: left; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); padding: 4px 8px; white-space: nowrap; }",
    "td { border-bottom: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }",
    "td.n, th.n { width: 1%; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }",
    "td.loc { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, monospace; font-size: 12.5px; word-break: break-all; }",
    "td.loc .fn { color: var(--muted); }",
    "td.loc ol { margin: 0; padding-left: 18px; }",
    "td.share { width: 210px; white-space: nowrap; }",
    "td.share .sh { display: inline-block; width: 140px; vertical-align: middle; }",
    ".pc { display: inline-block; width: 56px; text-align: right; font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }",
    ".sh { height: 10px; background: #fde0c8; border-radius: 2px; }",
    ".sh > div { height: 10px; background: #ea7a2a; border-radius: 2px; }",
    ".pos { color: #b42318; font-weight: 600; }",
    ".neg { color: #067647; font-weight: 600; }",
    "footer { color: var(--muted); font-size: 12px; padding: 0 24px 20px; }",
    NULL};

static const char *const page_js[] = {
    "(function () {",
    "  'use strict';",
    "  var t0 = performance.now();",
    "  var D = JSON.parse(document.getElementById('data').textContent);",
    "  var diff = D.kind === 'diff';",
    "  var ROW = 20;",
    "",
    "  /* CPython's tracemalloc._format_size */",
    "  function fmtSize(size, sign) {",
    "    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];",
    "    for (var i = 0; i < units.length; i++) {",
    "      var a = Math.abs(size), u = units[i];",
    "      if (a < 100 && u !== 'B') return (sign && size >= 0 ? '+' : '') + size.toFixed(1) + ' ' + u;",
    "      if (a < 10 * 1024 || u === 'TiB') return (sign && size >= 0 ? '+' : '') + size.toFixed(0) + ' ' + u;",
    "      size /= 1024;",
    "    }",
    "  }",
    "  function fmtCount(c, sign) {",
    "    var s = Math.round(c).toLocaleString('en-US');",
    "    return sign && c >= 0 ? '+' + s : s;",
    "  }",
    "  function pct(part, whole) {",
    "    if (!(whole > 0)) return '';",
    "    var p = 100 * part / whole;",
    "    return (p >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%';",
    "  }",
    "  function el(tag, cls, text) {",
    "    var e = document.createElement(tag);",
    "    if (cls) e.className = cls;",
    "    if (text !== undefined) e.textContent = text;",
    "    return e;",
    "  }",
    "  function base(path) {",
    "    var i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\\\'));",
    "    return i >= 0 ? path.slice(i + 1) : path;",
    "  }",
    "  function isC(fr) { return fr.module !== null && fr.lineno === 0; }",
    "  function where(fr) {",
    "    if (isC(fr)) return fr.module + '+0x' + fr.offset.toString(16);",
    "    return fr.filename + ':' + fr.lineno;",
    "  }",
    "  function shortWhere(fr) {",
    "    if (isC(fr)) return base(fr.module) + '+0x' + fr.offset.toString(16);",
    "    return base(fr.filename) + ':' + fr.lineno;",
    "  }",
    "  function label(fr) { return fr.function ? fr.function + ' (' + shortWhere(fr) + ')' : shortWhere(fr); }",
    "  function fullLabel(fr) { return (fr.function ? fr.function + ' at ' : '') + where(fr); }",
    "",
    "  /* ---- summary ---- */",
    "  var sub = document.getElementById('sub');",
    "  sub.textContent = diff ? D.files[1] + ' compared to ' + D.files[0] : D.files[0];",
    "  document.title = (diff ? 'rcgc diff: ' : 'rcgc snapshot: ') + base(diff ? D.files[1] : D.files[0]);",
    "  var cards = document.getElementById('cards');",
    "  function card(k, v, d) {",
    "    var c = el('div', 'card');",
    "    c.appendChild(el('div', 'k', k));",
    "    c.appendChild(el('div', 'v', v));",
    "    if (d !== undefined) c.appendChild(el('div', d.charAt(0) === '-' ? 'd down' : 'd', d));",
    "    cards.appendChild(c);",
    "  }",
    "  card('Total size', fmtSize(D.total.size), diff ? fmtSize(D.total.size_diff, true) : undefined);",
    "  card('Blocks', fmtCount(D.total.count), diff ? fmtCount(D.total.count_diff, true) : undefined);",
    "  card('Traces', fmtCount(D.traces), diff ? fmtCount(D.traces - D.old_traces, true) : undefined);",
    "  card('Traceback limit', String(D.traceback_limit));",
    "  card('Grouped by', D.key + (D.cumulative ? ' (cumulative)' : ''));",
    "  if (D.sample_bytes > 0) {",
    "    var n = el('div', 'note', 'Sampled: 1 per ' + fmtCount(D.sample_bytes) +",
    "      ' bytes; sizes and counts are estimates.');",
    "    document.getElementById('summary').appendChild(n);",
    "  }",
    "",
    "  /* ---- table ---- */",
    "  function locCell(st) {",
    "    var td = el('td', 'loc'), fr = st.frames;",
    "    if (D.key === 'traceback' && fr.length > 1) {",
    "      var ol = el('ol');",
    "      if (st.total_nframe > fr.length) ol.appendChild(el('li', 'fn', '[' + (st.total_nframe - fr.length) + ' older frames not recorded]'));",
    "      fr.forEach(function (f) {",
    "        var li = el('li', '', where(f));",
    "        if (f.function) li.appendChild(el('span', 'fn', '  in ' + f.function));",
    "        ol.appendChild(li);",
    "      });",
    "      td.appendChild(ol);",
    "    } else if (fr.length) {",
    "      var f = fr[fr.length - 1];",
    "      td.appendChild(document.createTextNode(D.key === 'filename' && !isC(f) ? f.filename : where(f)));",
    "      if (f.function && D.key !== 'filename') td.appendChild(el('span', 'fn', '  in ' + f.function));",
    "    }",
    "    return td;",
    "  }",
    "  function num(tr, text, cls) { tr.appendChild(el('td', 'n' + (cls ? ' ' + cls : ''), text)); }",
    "  /* The bar is scaled to the largest row, the number is the share. */",
    "  function shareCell(tr, part, whole, largest) {",
    "    var td = el('td', 'share'), o = el('div', 'sh'), i = el('div');",
    "    i.style.width = Math.max(0, Math.min(100, largest > 0 ? 100 * part / largest : 0)) + '%';",
    "    o.appendChild(i); td.appendChild(o);",
    "    td.appendChild(el('span', 'pc', pct(part, whole)));",
    "    tr.appendChild(td);",
    "  }",
    "  function buildTable() {",
    "    var t = document.getElementById('stats');",
    "    var head = diff ? ['#', 'Location', 'Size', 'Change', 'Count', 'Change', 'Average', 'Share of growth']",
    "                    : ['#', 'Location', 'Size', 'Count', 'Average', 'Share'];",
    "    var tr = el('tr');",
    "    head.forEach(function (h, i) { tr.appendChild(el('th', i >= 2 && h.indexOf('Share') < 0 ? 'n' : '', h)); });",
    "    var th = el('thead'); th.appendChild(tr); t.appendChild(th);",
    "    var tb = el('tbody'), largest = 0;",
    "    D.statistics.forEach(function (s) { largest = Math.max(largest, diff ? s.size_diff : s.size); });",
    "    D.statistics.forEach(function (s, i) {",
    "      var r = el('tr');",
    "      num(r, String(i + 1));",
    "      r.appendChild(locCell(s));",
    "      num(r, fmtSize(s.size));",
    "      if (diff) num(r, fmtSize(s.size_diff, true), s.size_diff > 0 ? 'pos' : s.size_diff < 0 ? 'neg' : '');",
    "      num(r, fmtCount(s.count));",
    "      if (diff) num(r, fmtCount(s.count_diff, true), s.count_diff > 0 ? 'pos' : s.count_diff < 0 ? 'neg' : '');",
    "      num(r, s.count > 0 ? fmtSize(s.size / s.count) : '');",
    "      if (diff) shareCell(r, Math.max(0, s.size_diff), F.total, largest);",
    "      else shareCell(r, s.size, D.total.size, largest);",
    "      tb.appendChild(r);",
    "    });",
    "    t.appendChild(tb);",
    "    if (D.other.statistics > 0) {",
    "      var cap = el('div', 'empty', D.other.statistics + ' other ' + (D.other.statistics === 1 ? 'group' : 'groups') + ': ' +",
    "        fmtSize(D.other.size) + (diff ? ' (' + fmtSize(D.other.size_diff, true) + ')' : ''));",
    "      t.parentNode.appendChild(cap);",
    "    }",
    "    if (!D.statistics.length) t.parentNode.appendChild(el('div', 'empty', 'No allocations.'));",
    "  }",
    "",
    "  /* ---- flame graph ---- */",
    "  var F = D.flame, N = F.nodes, kids = [], depth = [], maxDepth = 0;",
    "  for (var i = 0; i < N.length; i++) {",
    "    kids.push([]);",
    "    var p = N[i][0];",
    "    depth.push(p < 0 ? 0 : depth[p] + 1);",
    "    if (p >= 0) kids[p].push(i);",
    "    if (depth[i] > maxDepth) maxDepth = depth[i];",
    "  }",
    "  var box = document.getElementById('flame'), info = document.getElementById('info');",
    "  var resetBtn = document.getElementById('reset'), zoomed = 0, drawn = 0;",
    "  function hue(s) {",
    "    var h = 0;",
    "    for (var k = 0; k < s.length; k++) h = (h * 31 + s.charCodeAt(k)) | 0;",
    "    return Math.abs(h);",
    "  }",
    "  function color(fr) {",
    "    var h = hue(isC(fr) ? fr.module : fr.filename), f = hue(fr.function || '') % 12;",
    "    if (diff) return 'hsl(' + (h % 14) + ',' + (62 + f) + '%,' + (62 + (h >> 4) % 10) + '%)';",
    "    return 'hsl(' + (8 + h % 40) + ',' + (78 + f) + '%,' + (60 + (h >> 4) % 10) + '%)';",
    "  }",
    "  function nodeName(id) {",
    "    var f = N[id][1];",
    "    if (f === -1) return (diff ? 'all growth: ' : 'all memory: ') + fmtSize(F.total, diff);",
    "    if (f === -2) return 'other (smaller frames)';",
    "    return label(F.frames[f]);",
    "  }",
    "  function describe(id) {",
    "    var f = N[id][1], v = N[id][2], p = N[id][0];",
    "    var name = f >= 0 ? fullLabel(F.frames[f]) : nodeName(id);",
    "    var s = name + ' \\u2014 ' + fmtSize(v, diff) + ' (' + pct(v, F.total) + ' of ' + (diff ? 'growth' : 'all');",
    "    if (p > 0) s += ', ' + pct(v, N[p][2]) + ' of parent';",
    "    return s + ')';",
    "  }",
    "  function draw(zoom) {",
    "    zoomed = zoom;",
    "    resetBtn.disabled = zoom === 0;",
    "    var frag = document.createDocumentFragment(), W = box.clientWidth || 1200;",
    "    var zv = N[zoom][2], minFrac = 0.6 / W;",
    "    drawn = 0;",
    "    function add(id, x, w, anc) {",
    "      var d = el('div', 'fr' + (anc ? ' anc' : '') + (N[id][1] === -2 ? ' other' : '') + (N[id][1] === -1 ? ' root' : ''));",
    "      d.style.left = (x * 100) + '%';",
    "      d.style.width = (w * 100) + '%';",
    "      d.style.top = (depth[id] * ROW) + 'px';",
    "      if (N[id][1] >= 0) d.style.background = color(F.frames[N[id][1]]);",
    "      if (w * W > 28) d.textContent = nodeName(id);",
    "      d.title = describe(id);",
    "      d.setAttribute('data-id', id);",
    "      frag.appendChild(d);",
    "      drawn++;",
    "    }",
    "    for (var a = N[zoom][0]; a >= 0; a = N[a][0]) add(a, 0, 1, true);",
    "    var stack = [[zoom, 0]];",
    "    while (stack.length) {",
    "      var it = stack.pop(), id = it[0], x = it[1], w = N[id][2] / zv;",
    "      if (w < minFrac) continue;",
    "      add(id, x, w, false);",
    "      var cx = x, c = kids[id];",
    "      for (var k = 0; k < c.length; k++) {",
    "        stack.push([c[k], cx]);",
    "        cx += N[c[k]][2] / zv;",
    "      }",
    "    }",
    "    box.textContent = '';",
    "    box.style.height = ((maxDepth + 1) * ROW + 2) + 'px';",
    "    box.appendChild(frag);",
    "    box.setAttribute('data-drawn', drawn);",
    "    box.setAttribute('data-zoom', zoom);",
    "  }",
    "  box.addEventListener('click', function (e) {",
    "    var id = e.target.getAttribute && e.target.getAttribute('data-id');",
    "    if (id !== null && id !== undefined) draw(+id === zoomed ? Math.max(0, N[zoomed][0]) : +id);",
    "  });",
    "  box.addEventListener('mouseover', function (e) {",
    "    var id = e.target.getAttribute && e.target.getAttribute('data-id');",
    "    if (id !== null && id !== undefined) info.textContent = describe(+id);",
    "  });",
    "  resetBtn.addEventListener('click', function () { draw(0); });",
    "",
    "  var ft = document.getElementById('flame-title');",
    "  ft.textContent = diff ? 'Growth by traceback (positive size changes only)' : 'Live memory by traceback';",
    "  var fnote = document.getElementById('flame-note');",
    "  fnote.textContent = 'root = ' + (diff ? 'all growth' : 'all memory') + ', then oldest frame first down to the allocating frame; ' +",
    "    'click to zoom, click again to zoom out. ' + fmtCount(N.length) + ' nodes of ' + fmtCount(F.nodes_before_pruning) +",
    "    ' (frames under 0.1% merged into \\u201cother\\u201d).';",
    "  buildTable();",
    "  /* #zoom=ID opens the graph zoomed on node ID (links, tests). */",
    "  var m = /^#zoom=(\\d+)$/.exec(location.hash);",
    "  if (F.total > 0) draw(m && +m[1] < N.length ? +m[1] : 0);",
    "  else {",
    "    box.appendChild(el('div', 'empty', diff ? 'No growth between the snapshots.' : 'No allocations.'));",
    "    box.setAttribute('data-drawn', 0);",
    "  }",
    "  document.body.setAttribute('data-render-ms', Math.round(performance.now() - t0));",
    "  document.body.setAttribute('data-flame-nodes', N.length);",
    "  document.body.setAttribute('data-rendered', 'yes');",
    "})();",
    NULL};

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>rcgc-snapshot report</title>\n<style>\n";

static const char page_body[] =
    "</style>\n</head>\n<body>\n"
    "<header><h1>rcgc memory report</h1><div class=\"sub\" id=\"sub\"></div></header>\n"
    "<main>\n"
    "<section id=\"summary\"><h2>Summary</h2><div class=\"cards\" id=\"cards\"></div></section>\n"
    "<section><h2 id=\"flame-title\"></h2>\n"
    "<div class=\"bar\"><button id=\"reset\" disabled>Reset zoom</button>"
    "<span id=\"flame-note\"></span></div>\n"
    "<div id=\"info\">Hover a frame for its size and share.</div>\n"
    "<div id=\"flame\"></div></section>\n"
    "<section><h2>Top statistics</h2><table id=\"stats\"></table></section>\n"
    "</main>\n"
    "<footer>Made by rcgc-snapshot; sizes formatted as CPython's tracemalloc "
    "formats them.</footer>\n"
    "<script type=\"application/json\" id=\"data\">";

static void put_lines(FILE *out, const char *const *lines)
{
    for (; *lines != NULL; lines++) {
        fputs(*lines, out);
        fputc('\n', out);
    }
}

/* The statistics by whole traceback that the flame graph draws: the
 * report's own when it is grouped that way, else computed here.  NEW
 * through *owned when computed (free with rcgc_statistics_free). */
static rcgc_ssize traceback_stats(const report *r, const rcgc_statistic **out,
                                  rcgc_statistic **owned)
{
    *owned = NULL;
    if (r->opt->key == RCGC_BY_TRACEBACK && !r->opt->cumulative) {
        *out = r->stats;
        return r->nstats;
    }
    rcgc_ssize n = r->old != NULL
        ? rcgc_snapshot_compare(r->snap, r->old, RCGC_BY_TRACEBACK, 0, owned)
        : rcgc_snapshot_statistics(r->snap, RCGC_BY_TRACEBACK, 0, owned);
    if (n < 0) *owned = NULL;
    *out = *owned;
    return n;
}

int report_write_html(const report *r, FILE *out)
{
    const rcgc_statistic *stats;
    rcgc_statistic *owned;
    rcgc_ssize n = traceback_stats(r, &stats, &owned);
    if (n < 0) return (int)n;
    flame *f = flame_build(stats, n, r->old != NULL, FLAME_MIN_SHARE,
                           FLAME_MAX_NODES);
    int rc = RCGC_ENOMEM;
    if (f == NULL) goto done;
    fputs(page_head, out);
    put_lines(out, page_css);
    fputs(page_body, out);
    fputc('{', out);
    report_json_members(r, out);
    fputs(",\n\"flame\":", out);
    if ((rc = flame_write_json(f, out)) != 0) goto done;
    fputs("}</script>\n<script>\n", out);
    put_lines(out, page_js);
    fputs("</script>\n</body>\n</html>\n", out);
done:
    flame_free(f);
    if (owned != NULL) rcgc_statistics_free(owned);
    return rc;
}

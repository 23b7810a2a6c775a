/*
 * diag_domtree_write.c - the dominator tree for people: its largest
 * branches as an indented text tree, as JSON, or as ONE self-contained HTML
 * page with an icicle chart (the synthetic root on top, each object under
 * its immediate dominator, widths by retained size) and a table.
 *
 * The tree is pruned first, best first: a heap of candidates by retained
 * size starts with the synthetic root's children; the largest is kept and
 * its children become candidates, until max_nodes are kept or the largest
 * candidate is under 0.1% of the total.  Every kept node's parent is kept,
 * and what a node's kept children leave of its retained size is drawn as
 * its "other".  Labels are asked for the kept nodes only.  Design:
 * docs/diagnosis.md ("Retained sizes").
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"

#define MIN_SHARE 0.001
#define DEFAULT_MAX_NODES 2000
#define LABEL_BYTES 256

struct kept {
    rcgc_ssize node;   /* index in the tree */
    rcgc_ssize parent; /* index in kept, -1: the synthetic root */
};

struct prune {
    const rcgc_diag_domtree *t;
    rcgc_ssize *kstart, *kids;   /* children of node i (n: the root) */
    rcgc_ssize *heap, nheap;     /* candidates, largest retained on top */
    rcgc_ssize *keptat;          /* node -> index in kept, -1 */
    struct kept *kept;
    rcgc_ssize nkept;
};

static int bigger(const rcgc_diag_domtree *t, rcgc_ssize a, rcgc_ssize b)
{
    if (t->retained_size[a] != t->retained_size[b])
        return t->retained_size[a] > t->retained_size[b];
    return a < b;
}

static void heap_push(struct prune *p, rcgc_ssize x)
{
    rcgc_ssize i = p->nheap++;
    while (i > 0 && bigger(p->t, x, p->heap[(i - 1) / 2])) {
        p->heap[i] = p->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    p->heap[i] = x;
}

static rcgc_ssize heap_pop(struct prune *p)
{
    rcgc_ssize top = p->heap[0], x = p->heap[--p->nheap], i = 0;
    for (;;) {
        rcgc_ssize c = 2 * i + 1;
        if (c >= p->nheap) break;
        if (c + 1 < p->nheap && bigger(p->t, p->heap[c + 1], p->heap[c])) c++;
        if (!bigger(p->t, p->heap[c], x)) break;
        p->heap[i] = p->heap[c];
        i = c;
    }
    if (p->nheap > 0) p->heap[i] = x;
    return top;
}

static void push_children(struct prune *p, rcgc_ssize of)
{
    for (rcgc_ssize k = p->kstart[of]; k < p->kstart[of + 1]; k++) heap_push(p, p->kids[k]);
}

static int prune(rcgc_runtime *rt, struct prune *p, rcgc_ssize max_nodes)
{
    const rcgc_diag_domtree *t = p->t;
    rcgc_ssize n = t->n;
    p->kstart = rcgc__calloc(rt, (size_t)n + 2, sizeof *p->kstart);
    p->kids = rcgc__malloc(rt, (size_t)n * sizeof *p->kids + 1);
    p->heap = rcgc__malloc(rt, (size_t)n * sizeof *p->heap + 1);
    p->keptat = rcgc__malloc(rt, (size_t)n * sizeof *p->keptat + 1);
    p->kept = rcgc__malloc(rt, (size_t)(max_nodes < n ? max_nodes : n) * sizeof *p->kept + 1);
    if (p->kstart == NULL || p->kids == NULL || p->heap == NULL || p->keptat == NULL ||
        p->kept == NULL)
        return RCGC_ENOMEM;
    for (rcgc_ssize i = 0; i < n; i++) p->kstart[t->idom[i] < 0 ? n : t->idom[i]]++;
    rcgc_ssize sum = 0;
    for (rcgc_ssize i = 0; i <= n; i++) {
        sum += p->kstart[i];
        p->kstart[i] = sum;
    }
    p->kstart[n + 1] = sum;
    for (rcgc_ssize i = n - 1; i >= 0; i--) p->kids[--p->kstart[t->idom[i] < 0 ? n : t->idom[i]]] = i;
    for (rcgc_ssize i = 0; i < n; i++) p->keptat[i] = -1;
    push_children(p, n);
    double floor = (double)t->total_size * MIN_SHARE;
    while (p->nheap > 0 && p->nkept < max_nodes) {
        rcgc_ssize x = heap_pop(p);
        if ((double)t->retained_size[x] < floor) break;
        p->keptat[x] = p->nkept;
        p->kept[p->nkept].node = x;
        p->kept[p->nkept].parent = t->idom[x] < 0 ? -1 : p->keptat[t->idom[x]];
        p->nkept++;
        push_children(p, x);
    }
    return 0;
}

static void prune_free(rcgc_runtime *rt, struct prune *p)
{
    rcgc__free(rt, p->kstart);
    rcgc__free(rt, p->kids);
    rcgc__free(rt, p->heap);
    rcgc__free(rt, p->keptat);
    rcgc__free(rt, p->kept);
}

static const char *type_name_of(const rcgc_object *o)
{
    return o->type->name != NULL ? o->type->name : "?";
}

static const char *label_for(const rcgc_diag_options *opts, rcgc_object *o, char *buf)
{
    buf[0] = 0;
    if (opts != NULL && opts->label != NULL) {
        if (opts->label(o, buf, LABEL_BYTES, opts->ctx) == 0) buf[0] = 0;
        buf[LABEL_BYTES - 1] = 0;
    }
    return buf;
}

/* ---- JSON (also the HTML page's data) ---- */

static void write_json(FILE *f, const struct prune *p, const rcgc_diag_options *opts,
                       int html)
{
    const rcgc_diag_domtree *t = p->t;
    fprintf(f,
            "{\"total_size\":%zu,\"objects\":%td,\"reachable\":%td,\"roots\":%td,"
            "\"unreachable\":%td,\"unreachable_size\":%zu,\"shown\":%td,\"nodes\":[",
            t->total_size, t->objects, t->n, t->roots, t->unreachable, t->unreachable_size,
            p->nkept);
    char buf[LABEL_BYTES];
    for (rcgc_ssize k = 0; k < p->nkept; k++) {
        rcgc_ssize x = p->kept[k].node;
        fprintf(f, "%s[%td,", k ? ",\n" : "", p->kept[k].parent);
        rcgc__diag_json_string(f, type_name_of(t->objs[x]), html);
        fputc(',', f);
        rcgc__diag_json_string(f, label_for(opts, t->objs[x], buf), html);
        fprintf(f, ",%zu,%zu]", t->self_size[x], t->retained_size[x]);
    }
    fputs("]}", f);
}

/* ---- text: an indented tree, children largest first ---- */

static int write_text(rcgc_runtime *rt, FILE *f, const struct prune *p,
                      const rcgc_diag_options *opts)
{
    const rcgc_diag_domtree *t = p->t;
    fprintf(f, "dominator tree: %td objects reachable from %td roots, %zu bytes; "
               "the %td largest:\n",
            t->n, t->roots, t->total_size, p->nkept);
    /* kept in selection order: a parent before its children, siblings
     * largest first.  Depth first over the kept nodes, an explicit stack. */
    rcgc_ssize *stack = rcgc__malloc(rt, (size_t)p->nkept * 2 * sizeof *stack + 1);
    if (stack == NULL) return RCGC_ENOMEM;
    char buf[LABEL_BYTES];
    rcgc_ssize sp = 0;
    for (rcgc_ssize k = p->nkept - 1; k >= 0; k--)
        if (p->kept[k].parent == -1) {
            stack[sp++] = k;
            stack[sp++] = 0;
        }
    while (sp > 0) {
        rcgc_ssize d = stack[--sp], c = stack[--sp];
        rcgc_ssize x = p->kept[c].node;
        fprintf(f, "%*s%zu  %s", (int)(2 * d + 2), "", t->retained_size[x],
                type_name_of(t->objs[x]));
        if (*label_for(opts, t->objs[x], buf)) fprintf(f, " \"%s\"", buf);
        fputc('\n', f);
        for (rcgc_ssize j = p->nkept - 1; j > c; j--) /* smallest pushed first */
            if (p->kept[j].parent == c) {
                stack[sp++] = j;
                stack[sp++] = d + 1;
            }
    }
    rcgc__free(rt, stack);
    return 0;
}

/* ---- HTML ---- */

static const char *const css[] = {
    "body { margin: 0; background: #f6f7f9; color: #1d2330; font: 14px/1.45 system-ui, 'DejaVu Sans', sans-serif; }",
    "header { background: #1d2330; color: #f3f4f6; padding: 14px 24px; }",
    "header h1 { margin: 0; font-size: 19px; font-weight: 600; }",
    "main { padding: 14px 24px 32px; }",
    "section { background: #fff; border: 1px solid #dfe3ea; border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }",
    "h2 { font-size: 15px; margin: 0 0 8px; }",
    "#info { font: 12.5px ui-monospace, 'DejaVu Sans Mono', monospace; min-height: 19px; white-space: nowrap; overflow: hidden; }",
    "#icicle { position: relative; width: 100%; overflow: hidden; }",
    ".ic { position: absolute; height: 19px; padding: 0 4px; overflow: hidden; white-space: nowrap; font: 11.5px/19px ui-monospace, 'DejaVu Sans Mono', monospace; border-right: 1px solid #fff; border-bottom: 1px solid #fff; cursor: default; }",
    ".ic.root { background: #9aa3b2; color: #fff; }",
    ".ic.other { background: #e3e6eb; color: #5d6678; font-style: italic; }",
    "table { border-collapse: collapse; width: 100%; font-size: 13px; }",
    "th { text-align: left; color: #5d6678; border-bottom: 2px solid #dfe3ea; padding: 4px 8px; }",
    "td { border-bottom: 1px solid #dfe3ea; padding: 4px 8px; }",
    "td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }",
    NULL};

/* The script reads the JSON in #data, draws the icicle (depth rows; each
 * node's width is its retained share, placed after its earlier siblings
 * under its parent; the rest of a parent's width is its own bytes and the
 * branches not shown) and the table of the kept nodes, then marks <body>. */
static const char *const script[] = {
    "(function () {",
    "  var D = JSON.parse(document.getElementById('data').textContent);",
    "  var N = D.nodes, box = document.getElementById('icicle');",
    "  function fmt(b) { var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;",
    "    while (b >= 1024 && i < 4) { b /= 1024; i++; } return (i ? b.toFixed(1) : b) + ' ' + u[i]; }",
    "  function el(tag, cls, text) { var e = document.createElement(tag);",
    "    if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }",
    "  function name(i) { return N[i][1] + (N[i][2] ? ' ' + N[i][2] : ''); }",
    "  var W = box.clientWidth || 1200, H = 20, total = D.total_size || 1;",
    "  var x = new Array(N.length), depth = new Array(N.length), next = {}, maxd = 0, drawn = 0;",
    "  next[-1] = 0;",
    "  var root = el('div', 'ic root', 'all reachable objects: ' + fmt(D.total_size));",
    "  root.style.left = '0px'; root.style.top = '0px'; root.style.width = W + 'px';",
    "  box.appendChild(root);",
    "  for (var i = 0; i < N.length; i++) {",
    "    var p = N[i][0];",
    "    depth[i] = p < 0 ? 1 : depth[p] + 1;",
    "    x[i] = next[p];",
    "    next[p] += N[i][4];",
    "    next[i] = x[i];",
    "    var w = N[i][4] / total * W;",
    "    if (w < 1) continue;",
    "    var d = el('div', 'ic', w > 40 ? name(i) + ' ' + fmt(N[i][4]) : '');",
    "    d.style.left = (x[i] / total * W) + 'px';",
    "    d.style.top = (depth[i] * H) + 'px';",
    "    d.style.width = w + 'px';",
    "    d.style.background = 'hsl(' + ((N[i][1].length * 47) % 360) + ',55%,' + (78 - Math.min(depth[i], 8) * 3) + '%)';",
    "    d.title = name(i) + ': retains ' + fmt(N[i][4]) + ' (' + (100 * N[i][4] / total).toFixed(1) + '%), self ' + fmt(N[i][3]);",
    "    d.setAttribute('data-id', i);",
    "    box.appendChild(d); drawn++;",
    "    if (depth[i] > maxd) maxd = depth[i];",
    "  }",
    "  box.style.height = ((maxd + 1) * H + 2) + 'px';",
    "  box.addEventListener('mouseover', function (e) {",
    "    var t = e.target.getAttribute && e.target.getAttribute('data-id');",
    "    if (t !== null && t !== undefined) document.getElementById('info').textContent = e.target.title;",
    "  });",
    "  var tab = document.getElementById('top'), order = N.map(function (_, i) { return i; });",
    "  order.sort(function (a, b) { return N[b][4] - N[a][4] || a - b; });",
    "  var head = el('tr'); ['#', 'retained', 'share', 'self', 'object', 'held by'].forEach(function (h) { head.appendChild(el('th', '', h)); });",
    "  tab.appendChild(head);",
    "  order.slice(0, 50).forEach(function (i, k) {",
    "    var r = el('tr');",
    "    r.appendChild(el('td', 'n', k + 1)); r.appendChild(el('td', 'n', fmt(N[i][4])));",
    "    r.appendChild(el('td', 'n', (100 * N[i][4] / total).toFixed(1) + '%'));",
    "    r.appendChild(el('td', 'n', fmt(N[i][3]))); r.appendChild(el('td', '', name(i)));",
    "    r.appendChild(el('td', '', N[i][0] < 0 ? 'root' : name(N[i][0])));",
    "    tab.appendChild(r);",
    "  });",
    "  document.getElementById('sum').textContent = D.reachable + ' objects reachable from ' + D.roots +",
    "    ' roots: ' + fmt(D.total_size) + (D.unreachable ? '; ' + D.unreachable + ' unreachable (' + fmt(D.unreachable_size) + ')' : '') +",
    "    '. ' + D.shown + ' largest shown; the rest of a box is its own bytes and the branches too small to draw.';",
    "  document.body.setAttribute('data-icicle-nodes', drawn);",
    "  document.body.setAttribute('data-rendered', 'yes');",
    "})();",
    NULL};

static void put_lines(FILE *f, const char *const *lines)
{
    for (; *lines != NULL; lines++) {
        fputs(*lines, f);
        fputc('\n', f);
    }
}

static void write_html(FILE *f, const struct prune *p, const rcgc_diag_options *opts)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>rcgc: what holds the memory</title>\n<style>\n",
          f);
    put_lines(f, css);
    fputs("</style>\n</head>\n<body>\n<header><h1>What holds the memory: the dominator "
          "tree</h1></header>\n<main>\n<section><div id=\"sum\"></div></section>\n"
          "<section><h2>Retained sizes (each box: an object and what only it keeps "
          "alive, under its immediate dominator)</h2><div id=\"info\"></div>"
          "<div id=\"icicle\"></div></section>\n"
          "<section><h2>Largest retainers</h2><table id=\"top\"></table></section>\n"
          "</main>\n<script type=\"application/json\" id=\"data\">",
          f);
    write_json(f, p, opts, 1);
    fputs("</script>\n<script>\n", f);
    put_lines(f, script);
    fputs("</script>\n</body>\n</html>\n", f);
}

int rcgc_diag_domtree_write(rcgc_runtime *rt, FILE *f, const rcgc_diag_domtree *t,
                            rcgc_ssize max_nodes, const rcgc_diag_options *opts,
                            rcgc_diag_format format)
{
    if (rt == NULL || f == NULL || t == NULL || max_nodes < 0 ||
        format == RCGC_DIAG_DOT || !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    struct prune p;
    memset(&p, 0, sizeof p);
    p.t = t;
    int rc = prune(rt, &p, max_nodes ? max_nodes : DEFAULT_MAX_NODES);
    if (rc == 0) {
        if (format == RCGC_DIAG_JSON) {
            write_json(f, &p, opts, 0);
            fputc('\n', f);
        } else if (format == RCGC_DIAG_HTML) {
            write_html(f, &p, opts);
        } else {
            rc = write_text(rt, f, &p, opts);
        }
        if (ferror(f)) rc = RCGC_EINVAL;
    }
    prune_free(rt, &p);
    return rc;
}

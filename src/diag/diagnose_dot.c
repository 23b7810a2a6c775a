/*
 * diagnose_dot.c - the writers of the diagnosis results (text, JSON,
 * Graphviz DOT), saving them to files, and running Graphviz.
 *
 * The writers only read results, which hold references to their objects,
 * so the label and edge-name callbacks they call always see live objects,
 * and they run long after the collector's headers were given back
 * (diag_why.c, diag_graph.c).  Nothing here takes memory from the runtime:
 * labels go through fixed buffers (LABEL_MAX bytes, truncated beyond).
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"
#include "platform/os.h"

#define LABEL_MAX 256

/* ---- strings ---- */

/* Write s as the inside of a JSON string; html: also '<', '>' and '&' as
 * \u escapes, so that the text can sit inside an HTML <script> element. */
static void put_json_chars_html(FILE *f, const char *s, int html)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (html && (*p == '<' || *p == '>' || *p == '&')) {
            fprintf(f, "\\u%04x", *p);
            continue;
        }
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\t': fputs("\\t", f); break;
        case '\r': fputs("\\r", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
}

static void put_json_chars(FILE *f, const char *s)
{
    put_json_chars_html(f, s, 0);
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    put_json_chars(f, s);
    fputc('"', f);
}

void rcgc__diag_json_string(FILE *f, const char *s, int html)
{
    fputc('"', f);
    put_json_chars_html(f, s, html);
    fputc('"', f);
}

/* Write s inside a DOT double-quoted string: quotes and backslashes are
 * escaped (a backslash would otherwise start a DOT escape such as \N),
 * newlines become \n line breaks, other control characters spaces. */
static void put_dot_chars(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p, f);
        } else if (*p == '\n') {
            fputs("\\n", f);
        } else if (*p < 0x20) {
            fputc(' ', f);
        } else {
            fputc(*p, f);
        }
    }
}

/* s for a terminal: printable ASCII and bytes >= 0x80 as they are, other
 * control characters as \xNN (a file name from a frame provider may hold
 * anything). */
static void text_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
}

static const char *type_name(const rcgc_object *o)
{
    return o->type->name != NULL ? o->type->name : "?";
}

/* The program's label for o into buf ("" if none). */
static const char *label_of(const rcgc_diag_options *opts, rcgc_object *o,
                            char *buf)
{
    buf[0] = 0;
    if (opts != NULL && opts->label != NULL) {
        size_t n = opts->label(o, buf, LABEL_MAX, opts->ctx);
        if (n == 0) buf[0] = 0;
        buf[LABEL_MAX - 1] = 0;
    }
    return buf;
}

/* The name of the reference from -> to at index into buf. */
static const char *edge_name(const rcgc_diag_options *opts, rcgc_object *from,
                             rcgc_object *to, rcgc_ssize index, char *buf)
{
    buf[0] = 0;
    if (opts != NULL && opts->edge_name != NULL) {
        size_t n = opts->edge_name(from, to, index, buf, LABEL_MAX, opts->ctx);
        buf[LABEL_MAX - 1] = 0;
        if (n > 0) return buf;
    }
    if (index >= 0)
        snprintf(buf, LABEL_MAX, "[%td]", index);
    else if (index == -1)
        snprintf(buf, LABEL_MAX, "value");
    else
        snprintf(buf, LABEL_MAX, "?");
    return buf;
}

static int no_addresses(const rcgc_diag_options *opts)
{
    return opts != NULL && (opts->flags & RCGC_DIAG_NO_ADDRESSES);
}

/* <type 0xADDR> "label" */
static void put_text_object(FILE *f, const rcgc_diag_options *opts,
                            rcgc_object *o)
{
    char buf[LABEL_MAX];
    if (no_addresses(opts))
        fprintf(f, "<%s>", type_name(o));
    else
        fprintf(f, "<%s %p>", type_name(o), (void *)o);
    if (*label_of(opts, o, buf)) fprintf(f, " \"%s\"", buf);
}

/* "type":..,"address":..,"label":.. (no braces) */
static void put_json_object_fields(FILE *f, const rcgc_diag_options *opts,
                                   rcgc_object *o)
{
    char buf[LABEL_MAX];
    fputs("\"type\":", f);
    put_json_string(f, type_name(o));
    if (!no_addresses(opts)) fprintf(f, ",\"address\":\"%p\"", (void *)o);
    if (*label_of(opts, o, buf)) {
        fputs(",\"label\":", f);
        put_json_string(f, buf);
    }
}

static int finish(FILE *f)
{
    return ferror(f) ? RCGC_EINVAL : 0;
}

static const char *plural(rcgc_ssize n)
{
    return n == 1 ? "" : "s";
}

/* ---- counts ---- */

int rcgc_diag_counts_write(FILE *f, const rcgc_diag_counts *c,
                           rcgc_ssize limit,
                           rcgc_diag_format format)
{
    if (f == NULL || c == NULL || (format != RCGC_DIAG_TEXT && format != RCGC_DIAG_JSON))
        return RCGC_EINVAL;
    rcgc_ssize n = limit > 0 && limit < c->n ? limit : c->n;
    int growth = 0;
    for (rcgc_ssize i = 0; i < c->n; i++) growth |= c->items[i].delta != 0;
    if (format == RCGC_DIAG_JSON) {
        fprintf(f, "{\"total\":%td,\"types\":%td,\"items\":[", c->total,
                c->types);
        for (rcgc_ssize i = 0; i < n; i++) {
            fputs(i ? ",{\"type\":" : "{\"type\":", f);
            put_json_string(f, c->items[i].name);
            fprintf(f, ",\"count\":%td,\"bytes\":%zu", c->items[i].count,
                    c->items[i].bytes);
            if (growth) fprintf(f, ",\"delta\":%td", c->items[i].delta);
            fputc('}', f);
        }
        fputs("]}\n", f);
        return finish(f);
    }
    /* objgraph's layouts: show_most_common_types prints "%-*s %i",
     * show_growth "%-*s%9d %+9d", the width that of the longest name. */
    int width = 0;
    for (rcgc_ssize i = 0; i < n; i++) {
        size_t len = strlen(c->items[i].name);
        if ((int)len > width) width = (int)len;
    }
    for (rcgc_ssize i = 0; i < n; i++) {
        if (growth)
            fprintf(f, "%-*s%9td %+9td\n", width, c->items[i].name,
                    c->items[i].count, c->items[i].delta);
        else
            fprintf(f, "%-*s %td\n", width, c->items[i].name,
                    c->items[i].count);
    }
    return finish(f);
}

/* ---- retained sizes ---- */

/* bytes as people read them: "812 B", "12.3 KiB", "1.2 GiB" */
static void put_bytes(FILE *f, int width, size_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    char buf[32];
    if (n < 1024) {
        snprintf(buf, sizeof buf, "%zu B", n);
    } else {
        double v = (double)n / 1024;
        int u = 0;
        while (v >= 1024 && u < 3) {
            v /= 1024;
            u++;
        }
        snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    }
    fprintf(f, "%*s", width, buf);
}

static void retainers_json(FILE *f, const rcgc_diag_retainers *r, rcgc_ssize n,
                           rcgc_ssize nt, const rcgc_diag_options *opts)
{
    fprintf(f,
            "{\"objects\":%td,\"reachable\":%td,\"roots\":%td,\"edges\":%td,"
            "\"total_size\":%zu,\"unreachable\":%td,\"unreachable_size\":%zu,"
            "\"inconsistent\":%td,\"retainers\":[",
            r->objects, r->reachable, r->roots, r->edges, r->total_size,
            r->unreachable, r->unreachable_size, r->inconsistent);
    for (rcgc_ssize i = 0; i < n; i++) {
        const rcgc_diag_retainer *it = &r->items[i];
        fputs(i ? ",{" : "{", f);
        put_json_object_fields(f, opts, it->obj);
        fprintf(f,
                ",\"retained_size\":%zu,\"retained_objects\":%td,"
                "\"self_size\":%zu,\"depth\":%td,\"dominator\":%td,\"root\":%s,"
                "\"snapshot_id\":%llu}",
                it->retained_size, it->retained_count, it->self_size, it->depth,
                it->idom < n ? it->idom : -1, it->root ? "true" : "false",
                (unsigned long long)it->snapshot_id);
    }
    fputs("],\"types\":[", f);
    for (rcgc_ssize i = 0; i < nt; i++) {
        const rcgc_diag_type_size *t = &r->types[i];
        fputs(i ? ",{\"type\":" : "{\"type\":", f);
        put_json_string(f, t->name);
        fprintf(f, ",\"count\":%td,\"self_size\":%zu,\"retained_size\":%zu}",
                t->count, t->self_size, t->retained_size);
    }
    fputs("]}\n", f);
}

int rcgc_diag_retainers_write(FILE *f, const rcgc_diag_retainers *r,
                              rcgc_ssize limit, const rcgc_diag_options *opts,
                              rcgc_diag_format format)
{
    if (f == NULL || r == NULL || (format != RCGC_DIAG_TEXT && format != RCGC_DIAG_JSON))
        return RCGC_EINVAL;
    rcgc_ssize n = limit > 0 && limit < r->n ? limit : r->n;
    rcgc_ssize nt = limit > 0 && limit < r->ntypes ? limit : r->ntypes;
    if (format == RCGC_DIAG_JSON) {
        retainers_json(f, r, n, nt, opts);
        return finish(f);
    }
    fprintf(f, "%td tracked object%s, %td reachable from %td root%s: ",
            r->objects, plural(r->objects), r->reachable, r->roots,
            plural(r->roots));
    put_bytes(f, 0, r->total_size);
    fprintf(f, " (%zu bytes)", r->total_size);
    if (r->unreachable > 0) {
        fprintf(f, "; %td unreachable (garbage the next collection frees): ",
                r->unreachable);
        put_bytes(f, 0, r->unreachable_size);
    }
    fputc('\n', f);
    if (r->inconsistent > 0)
        fprintf(f, "warning: %td object%s with fewer references than the "
                   "graph holds to them (a traverse over-reports)\n",
                r->inconsistent, plural(r->inconsistent));
    if (n > 0)
        fputs("\n  #   retained  objects       self  held by  object\n", f);
    for (rcgc_ssize i = 0; i < n; i++) {
        const rcgc_diag_retainer *it = &r->items[i];
        char held[24];
        if (it->idom >= 0 && it->idom < n)
            snprintf(held, sizeof held, "#%td", it->idom + 1);
        else
            snprintf(held, sizeof held, "%s", it->root ? "root" : "-");
        fprintf(f, "%3td ", i + 1);
        put_bytes(f, 10, it->retained_size);
        fprintf(f, " %8td ", it->retained_count);
        put_bytes(f, 10, it->self_size);
        fprintf(f, "  %-7s  ", held);
        put_text_object(f, opts, it->obj);
        fputc('\n', f);
    }
    if (nt > 0) fputs("\n    retained        self     count  type\n", f);
    for (rcgc_ssize i = 0; i < nt; i++) {
        const rcgc_diag_type_size *t = &r->types[i];
        put_bytes(f, 12, t->retained_size);
        put_bytes(f, 12, t->self_size);
        fprintf(f, " %9td  %s\n", t->count, t->name);
    }
    return finish(f);
}

/* ---- DOT nodes, shared by chains and graphs ---- */

#define DOT_ROOT_FILL "#a9d2ff"
#define DOT_TARGET_FILL "#ff9e9e"
#define DOT_FILL "#ffffff"

static void dot_header(FILE *f, const char *name)
{
    fprintf(f, "digraph %s {\n", name);
    fputs("  graph [rankdir=TB, fontname=\"Helvetica\"];\n"
          "  node [shape=box, style=\"rounded,filled\", fillcolor=\"" DOT_FILL
          "\", fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [fontname=\"Helvetica\", fontsize=9];\n",
          f);
}

/* n<id> [label="type\nlabel\n0xADDR\nrefcount N\nroot: K external", ...] */
static void dot_node(FILE *f, const rcgc_diag_options *opts, rcgc_ssize id,
                     rcgc_object *o, intptr_t refcnt, rcgc_ssize external,
                     int target, int truncated)
{
    char buf[LABEL_MAX];
    fprintf(f, "  n%td [label=\"", id);
    put_dot_chars(f, type_name(o));
    if (*label_of(opts, o, buf)) {
        fputs("\\n", f);
        put_dot_chars(f, buf);
    }
    if (!no_addresses(opts)) fprintf(f, "\\n%p", (void *)o);
    fprintf(f, "\\nrefcount %ld", (long)refcnt);
    if (external > 0)
        fprintf(f, "\\nroot: %td external reference%s", external,
                plural(external));
    if (truncated) fputs("\\n...", f);
    fputc('"', f);
    if (target)
        fputs(", fillcolor=\"" DOT_TARGET_FILL "\", penwidth=2", f);
    else if (external > 0)
        fputs(", fillcolor=\"" DOT_ROOT_FILL "\", style=\"filled,bold\"", f);
    if (truncated) fputs(", style=\"rounded,filled,dashed\"", f);
    fputs("];\n", f);
}

static void dot_edge(FILE *f, const rcgc_diag_options *opts, rcgc_ssize from,
                     rcgc_ssize to, rcgc_object *ofrom, rcgc_object *oto,
                     rcgc_ssize index)
{
    char buf[LABEL_MAX];
    fprintf(f, "  n%td -> n%td [label=\"", from, to);
    put_dot_chars(f, edge_name(opts, ofrom, oto, index, buf));
    fputs("\"];\n", f);
}

/* ---- why alive ---- */

static void path_text(FILE *f, const rcgc_diag_path *p,
                      const rcgc_diag_options *opts)
{
    char buf[LABEL_MAX];
    rcgc_object *target = p->links[p->n - 1].obj;
    fputs("why is ", f);
    put_text_object(f, opts, target);
    fputs(" alive?\n", f);
    if (p->status == RCGC_DIAG_UNREACHABLE) {
        fprintf(f, "  no root reaches it: it is unreachable garbage (refcount "
                   "%ld, every reference from other garbage); the next "
                   "collection of its generation frees it, or moves it to "
                   "the garbage list if a legacy finalizer holds it\n",
                (long)p->links[0].refcnt);
    }
    for (rcgc_ssize k = 0; k < p->n && p->status == RCGC_DIAG_ROOTED; k++) {
        const rcgc_diag_link *l = &p->links[k];
        if (k == 0)
            fputs("  root ", f);
        else
            fprintf(f, "  %s -> ",
                    edge_name(opts, p->links[k - 1].obj, l->obj, l->edge, buf));
        put_text_object(f, opts, l->obj);
        fprintf(f, "  refcount %ld", (long)l->refcnt);
        if (k == 0) {
            fprintf(f, ", %td external reference%s", p->root_external,
                    plural(p->root_external));
            if (p->root_in_garbage > 0)
                fprintf(f, " (%td from the garbage list)", p->root_in_garbage);
        }
        if (k == p->n - 1) fputs("  <- target", f);
        fputc('\n', f);
        if (l->allocated_at != NULL) {
            fputs("      allocated at ", f);
            text_escaped(f, l->allocated_at);
            fputc('\n', f);
        }
    }
    fprintf(f, "%td object%s in the chain; %td root%s among %td tracked "
               "object%s, %td reached by the search",
            p->status == RCGC_DIAG_ROOTED ? p->n : 0,
            plural(p->status == RCGC_DIAG_ROOTED ? p->n : 0), p->roots,
            plural(p->roots), p->objects, plural(p->objects), p->visited);
    if (p->inconsistent > 0)
        fprintf(f, "; %td object%s with fewer references than the graph "
                   "holds to them (a traverse reports references it does "
                   "not own)",
                p->inconsistent, plural(p->inconsistent));
    fputc('\n', f);
}

static void path_json(FILE *f, const rcgc_diag_path *p,
                      const rcgc_diag_options *opts)
{
    char buf[LABEL_MAX];
    fprintf(f, "{\"status\":\"%s\",\"target\":{",
            p->status == RCGC_DIAG_ROOTED ? "rooted" : "unreachable");
    put_json_object_fields(f, opts, p->links[p->n - 1].obj);
    fprintf(f, ",\"refcnt\":%ld},\"chain\":[", (long)p->links[p->n - 1].refcnt);
    for (rcgc_ssize k = 0; k < p->n && p->status == RCGC_DIAG_ROOTED; k++) {
        const rcgc_diag_link *l = &p->links[k];
        fputs(k ? ",{" : "{", f);
        put_json_object_fields(f, opts, l->obj);
        fprintf(f, ",\"refcnt\":%ld", (long)l->refcnt);
        if (l->allocated_at != NULL) {
            fputs(",\"allocated_at\":", f);
            put_json_string(f, l->allocated_at);
        }
        if (k == 0) {
            fprintf(f, ",\"external\":%td", p->root_external);
        } else {
            fprintf(f, ",\"edge_index\":%td,\"edge\":", l->edge);
            put_json_string(f, edge_name(opts, p->links[k - 1].obj, l->obj,
                                         l->edge, buf));
        }
        fputc('}', f);
    }
    fprintf(f, "],\"root_external\":%td,\"root_in_garbage\":%td,"
               "\"target_external\":%td,\"roots\":%td,\"objects\":%td,"
               "\"visited\":%td,\"inconsistent\":%td}\n",
            p->root_external, p->root_in_garbage, p->target_external,
            p->roots, p->objects, p->visited, p->inconsistent);
}

static void path_dot(FILE *f, const rcgc_diag_path *p,
                     const rcgc_diag_options *opts)
{
    dot_header(f, "rcgc_why_alive");
    if (p->status == RCGC_DIAG_ROOTED) {
        /* The outside world as a node of its own, so the root's external
         * references show as an edge. */
        fprintf(f, "  outside [shape=plaintext, style=\"\", label=\"outside "
                   "the tracked graph\\n(C code, untracked objects, the "
                   "runtime)\"];\n"
                   "  outside -> n0 [style=dashed, label=\"%td\"];\n",
                p->root_external);
    } else {
        fputs("  unreachable [shape=plaintext, style=\"\", label=\"no root "
              "reaches it:\\nunreachable garbage\"];\n"
              "  unreachable -> n0 [style=dotted, arrowhead=none];\n",
              f);
    }
    for (rcgc_ssize k = 0; k < p->n; k++) {
        const rcgc_diag_link *l = &p->links[k];
        dot_node(f, opts, k, l->obj, l->refcnt,
                 k == 0 && p->status == RCGC_DIAG_ROOTED ? p->root_external : 0,
                 k == p->n - 1, 0);
    }
    for (rcgc_ssize k = 1; k < p->n; k++)
        dot_edge(f, opts, k - 1, k, p->links[k - 1].obj, p->links[k].obj,
                 p->links[k].edge);
    fputs("}\n", f);
}

int rcgc_diag_path_write(FILE *f, const rcgc_diag_path *p,
                         const rcgc_diag_options *opts,
                         rcgc_diag_format format)
{
    if (f == NULL || p == NULL || p->n < 1 || p->links == NULL ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    switch (format) {
    case RCGC_DIAG_TEXT: path_text(f, p, opts); break;
    case RCGC_DIAG_JSON: path_json(f, p, opts); break;
    case RCGC_DIAG_DOT: path_dot(f, p, opts); break;
    default: return RCGC_EINVAL;
    }
    return finish(f);
}

/* ---- neighbourhoods ---- */

static void graph_text(FILE *f, const rcgc_diag_graph *g,
                       const rcgc_diag_options *opts)
{
    char buf[LABEL_MAX];
    int depth = 0;
    for (rcgc_ssize i = 0; i < g->nnodes; i++)
        if (g->nodes[i].depth > depth) depth = g->nodes[i].depth;
    fputs(g->referrers ? "referrers of " : "referents of ", f);
    put_text_object(f, opts, g->nodes[0].obj);
    fprintf(f, ": %td object%s to depth %d, %td reference%s\n", g->nnodes,
            plural(g->nnodes), depth, g->nedges, plural(g->nedges));
    for (rcgc_ssize i = 0; i < g->nnodes; i++) {
        const rcgc_diag_node *nd = &g->nodes[i];
        fprintf(f, "  #%-3td %*s", i, 2 * nd->depth, "");
        put_text_object(f, opts, nd->obj);
        fprintf(f, "  refcount %ld", (long)nd->refcnt);
        if (nd->flags & RCGC_DIAG_NODE_ROOT)
            fprintf(f, ", root: %td external reference%s", nd->external,
                    plural(nd->external));
        if (!(nd->flags & RCGC_DIAG_NODE_TRACKED)) fputs(", untracked", f);
        if (nd->flags & RCGC_DIAG_NODE_TRUNCATED) fputs(", more not shown", f);
        fputc('\n', f);
    }
    if (g->nedges > 0) fputs("references:\n", f);
    for (rcgc_ssize e = 0; e < g->nedges; e++) {
        const rcgc_diag_edge *ed = &g->edges[e];
        fprintf(f, "  #%td -> #%td %s\n", ed->from, ed->to,
                edge_name(opts, g->nodes[ed->from].obj, g->nodes[ed->to].obj,
                          ed->index, buf));
    }
}

static void graph_json(FILE *f, const rcgc_diag_graph *g,
                       const rcgc_diag_options *opts)
{
    char buf[LABEL_MAX];
    fprintf(f, "{\"kind\":\"%s\",\"nodes\":[",
            g->referrers ? "referrers" : "referents");
    for (rcgc_ssize i = 0; i < g->nnodes; i++) {
        const rcgc_diag_node *nd = &g->nodes[i];
        fprintf(f, "%s{\"id\":%td,", i ? "," : "", i);
        put_json_object_fields(f, opts, nd->obj);
        fprintf(f, ",\"refcnt\":%ld,\"depth\":%d,\"tracked\":%s,"
                   "\"external\":%td,\"root\":%s,\"start\":%s,"
                   "\"truncated\":%s}",
                (long)nd->refcnt, nd->depth,
                nd->flags & RCGC_DIAG_NODE_TRACKED ? "true" : "false",
                nd->external, nd->flags & RCGC_DIAG_NODE_ROOT ? "true" : "false",
                nd->flags & RCGC_DIAG_NODE_START ? "true" : "false",
                nd->flags & RCGC_DIAG_NODE_TRUNCATED ? "true" : "false");
    }
    fputs("],\"edges\":[", f);
    for (rcgc_ssize e = 0; e < g->nedges; e++) {
        const rcgc_diag_edge *ed = &g->edges[e];
        fprintf(f, "%s{\"from\":%td,\"to\":%td,\"index\":%td,\"name\":",
                e ? "," : "", ed->from, ed->to, ed->index);
        put_json_string(f, edge_name(opts, g->nodes[ed->from].obj,
                                     g->nodes[ed->to].obj, ed->index, buf));
        fputc('}', f);
    }
    fputs("]}\n", f);
}

static void graph_dot(FILE *f, const rcgc_diag_graph *g,
                      const rcgc_diag_options *opts)
{
    dot_header(f, g->referrers ? "rcgc_referrers" : "rcgc_referents");
    for (rcgc_ssize i = 0; i < g->nnodes; i++) {
        const rcgc_diag_node *nd = &g->nodes[i];
        dot_node(f, opts, i, nd->obj, nd->refcnt,
                 nd->flags & RCGC_DIAG_NODE_ROOT ? nd->external : 0,
                 (nd->flags & RCGC_DIAG_NODE_START) != 0,
                 (nd->flags & RCGC_DIAG_NODE_TRUNCATED) != 0);
    }
    for (rcgc_ssize e = 0; e < g->nedges; e++) {
        const rcgc_diag_edge *ed = &g->edges[e];
        dot_edge(f, opts, ed->from, ed->to, g->nodes[ed->from].obj,
                 g->nodes[ed->to].obj, ed->index);
    }
    fputs("}\n", f);
}

int rcgc_diag_graph_write(FILE *f, const rcgc_diag_graph *g,
                          const rcgc_diag_options *opts,
                          rcgc_diag_format format)
{
    if (f == NULL || g == NULL || g->nnodes < 1 || g->nodes == NULL ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    switch (format) {
    case RCGC_DIAG_TEXT: graph_text(f, g, opts); break;
    case RCGC_DIAG_JSON: graph_json(f, g, opts); break;
    case RCGC_DIAG_DOT: graph_dot(f, g, opts); break;
    default: return RCGC_EINVAL;
    }
    return finish(f);
}

/* ---- files ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What a file name asks for: a writer format, and the Graphviz format to
 * render it to (NULL: none). */
static int format_of(const char *filename, rcgc_diag_format *format,
                     const char **render)
{
    static const char *const rendered[] = {"svg", "png", "pdf"};
    *render = NULL;
    if (ends_with(filename, ".dot") || ends_with(filename, ".gv")) {
        *format = RCGC_DIAG_DOT;
        return 0;
    }
    if (ends_with(filename, ".json")) {
        *format = RCGC_DIAG_JSON;
        return 0;
    }
    if (ends_with(filename, ".txt")) {
        *format = RCGC_DIAG_TEXT;
        return 0;
    }
    for (size_t i = 0; i < sizeof rendered / sizeof rendered[0]; i++) {
        const char *ext = strrchr(filename, '.');
        if (ext != NULL && strcmp(ext + 1, rendered[i]) == 0) {
            *format = RCGC_DIAG_DOT;
            *render = rendered[i];
            return 0;
        }
    }
    return RCGC_EINVAL;
}

/* Write with the writer (path or graph) to name, then render if asked. */
static int save(const rcgc_diag_path *p, const rcgc_diag_graph *g,
                const rcgc_diag_options *opts, const char *filename)
{
    rcgc_diag_format format;
    const char *render;
    if (filename == NULL || format_of(filename, &format, &render) != 0 ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    char dotname[4096];
    const char *name = filename;
    if (render != NULL) {
        /* filename.dot beside the picture, as objgraph leaves its .dot. */
        if (snprintf(dotname, sizeof dotname, "%s.dot", filename) >=
            (int)sizeof dotname)
            return RCGC_EINVAL;
        name = dotname;
    }
    FILE *f = fopen(name, "w");
    if (f == NULL) return RCGC_EINVAL;
    int rc = p != NULL ? rcgc_diag_path_write(f, p, opts, format)
                       : rcgc_diag_graph_write(f, g, opts, format);
    if (fclose(f) != 0 && rc == 0) rc = RCGC_EINVAL;
    if (rc == 0 && render != NULL) rc = rcgc_diag_render(name, filename, render);
    return rc;
}

int rcgc_diag_path_save(const rcgc_diag_path *p,
                        const rcgc_diag_options *opts,
                        const char *filename)
{
    if (p == NULL) return RCGC_EINVAL;
    return save(p, NULL, opts, filename);
}

int rcgc_diag_graph_save(const rcgc_diag_graph *g,
                         const rcgc_diag_options *opts,
                         const char *filename)
{
    if (g == NULL) return RCGC_EINVAL;
    return save(NULL, g, opts, filename);
}

/* ---- Graphviz ---- */

static const char *dot_program(void)
{
    const char *p = getenv("RCGC_DOT");
    return p != NULL && *p ? p : "dot";
}

int rcgc_diag_render(const char *dot_file, const char *out_file,
                     const char *format)
{
    if (dot_file == NULL || out_file == NULL || format == NULL || !*format ||
        strlen(format) > 32)
        return RCGC_EINVAL;
    char tflag[40];
    snprintf(tflag, sizeof tflag, "-T%s", format);
    const char *argv[] = {dot_program(), tflag, "-o", out_file, dot_file, NULL};
    rcgc__os_run_result res;
    if (rcgc__os_run(argv, 0, &res) != 0) return RCGC_EFAILED;
    if (res.exec_error != 0) {
        fprintf(stderr, "rcgc: cannot run '%s' (%s): install Graphviz to "
                        "render %s (the .dot file is %s)\n",
                argv[0], strerror(res.exec_error), out_file, dot_file);
        return RCGC_ENOTFOUND;
    }
    return res.status == 0 ? 0 : RCGC_EFAILED;
}

int rcgc_diag_have_dot(void)
{
    const char *argv[] = {dot_program(), "-V", NULL};
    rcgc__os_run_result res;
    return rcgc__os_run(argv, RCGC__OS_RUN_STDOUT_NULL | RCGC__OS_RUN_STDERR_NULL,
                        &res) == 0 &&
           res.exec_error == 0 && res.status == 0;
}

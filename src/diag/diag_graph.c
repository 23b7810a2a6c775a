/*
 * diag_graph.c - leak diagnosis: the neighbourhoods of an object (its
 * referrers or referents to a depth, with each node's external count: one
 * traverse of every tracked object, whose referents are looked up in the
 * graph's own map of nodes; see diag_internal.h).  The writers (text, JSON, DOT) and
 * Graphviz are in diagnose_dot.c.  Design and invariants: docs/diagnosis.md.
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"

void rcgc_diag_options_init(rcgc_diag_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}

/* ------------------------------------------------------------------------ */
/* Neighbourhoods                                                            */

/* Object -> node index, open addressing; sized once, never grows. */
struct nmap {
    rcgc_object **keys;
    rcgc_ssize *vals;
    size_t mask;
};

static size_t ptr_hash(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * (uintptr_t)0x9E3779B97F4A7C15ull >> 17);
}

static rcgc_ssize nmap_get(const struct nmap *m, const rcgc_object *o)
{
    size_t i = ptr_hash(o) & m->mask;
    while (m->keys[i] != NULL) {
        if (m->keys[i] == o) return m->vals[i];
        i = (i + 1) & m->mask;
    }
    return -1;
}

static void nmap_put(struct nmap *m, rcgc_object *o, rcgc_ssize v)
{
    size_t i = ptr_hash(o) & m->mask;
    while (m->keys[i] != NULL) i = (i + 1) & m->mask;
    m->keys[i] = o;
    m->vals[i] = v;
}

struct builder {
    rcgc_runtime *rt;
    rcgc_diag_node *nodes; /* max entries, allocated up front */
    rcgc_ssize nnodes, max;
    const rcgc_object **stamp; /* per node: the referrer of the last edge
                                  added to it, to add each edge once */
    rcgc_diag_edge *edges;
    rcgc_ssize nedges, edges_cap;
    struct nmap map;
    uint32_t *internal;    /* per node: references from tracked objects */
    int failed;            /* out of memory growing edges */
    /* the expansion in progress */
    rcgc_object *cur;      /* referrers: the object traversed;
                              referents: the node expanded */
    rcgc_ssize cur_index;  /* its node, or -1 not yet added (referrers) */
    rcgc_ssize pos;        /* traverse position of the visit */
    int level;             /* depth of the nodes being added */
};

static int builder_init(struct builder *b, rcgc_runtime *rt, rcgc_ssize max)
{
    memset(b, 0, sizeof *b);
    b->rt = rt;
    b->max = max;
    size_t cap = 16;
    while (cap < (size_t)max * 2 + 2) cap *= 2;
    b->nodes = rcgc__malloc(rt, (size_t)max * sizeof *b->nodes);
    b->stamp = rcgc__calloc(rt, (size_t)max, sizeof *b->stamp);
    b->map.keys = rcgc__calloc(rt, cap, sizeof *b->map.keys);
    b->map.vals = rcgc__malloc(rt, cap * sizeof *b->map.vals);
    b->map.mask = cap - 1;
    b->internal = rcgc__calloc(rt, (size_t)max, sizeof *b->internal);
    if (b->nodes == NULL || b->stamp == NULL || b->map.keys == NULL ||
        b->map.vals == NULL || b->internal == NULL)
        return RCGC_ENOMEM;
    return 0;
}

static void builder_fini(struct builder *b)
{
    rcgc__free(b->rt, b->nodes);
    rcgc__free(b->rt, (void *)b->stamp);
    rcgc__free(b->rt, b->map.keys);
    rcgc__free(b->rt, b->map.vals);
    rcgc__free(b->rt, b->internal);
    rcgc__free(b->rt, b->edges);
}

static rcgc_ssize add_node(struct builder *b, rcgc_object *o, int depth)
{
    if (b->nnodes == b->max) return -1;
    rcgc_ssize i = b->nnodes++;
    rcgc_diag_node *nd = &b->nodes[i];
    nd->obj = o;
    nd->refcnt = o->refcnt;
    nd->external = -1;
    nd->depth = depth;
    nd->flags = 0;
    if (rcgc_object_is_tracked(o)) nd->flags |= RCGC_DIAG_NODE_TRACKED;
    nmap_put(&b->map, o, i);
    return i;
}

/* Add the edge from -> to once (index: the first reference's position). */
static void add_edge(struct builder *b, rcgc_ssize from, rcgc_ssize to,
                     rcgc_ssize index)
{
    if (b->stamp[to] == b->nodes[from].obj) return;
    if (rcgc__grow(b->rt, (void **)&b->edges, &b->edges_cap, b->nedges + 1,
                   sizeof *b->edges) != 0) {
        b->failed = 1;
        return;
    }
    b->stamp[to] = b->nodes[from].obj;
    b->edges[b->nedges].from = from;
    b->edges[b->nedges].to = to;
    b->edges[b->nedges].index = index;
    b->nedges++;
}

/* Referents: an edge from the node expanded to each child, new children
 * added one level deeper. */
static void visit_referent_at(struct builder *b, rcgc_object *child,
                              rcgc_ssize index)
{
    rcgc_ssize to = nmap_get(&b->map, child);
    if (to < 0) {
        to = add_node(b, child, b->level);
        if (to < 0) {
            b->nodes[b->cur_index].flags |= RCGC_DIAG_NODE_TRUNCATED;
            return;
        }
    }
    add_edge(b, b->cur_index, to, index);
}

static int visit_referent(rcgc_object *child, void *arg)
{
    struct builder *b = arg;
    visit_referent_at(b, child, b->pos++);
    return b->failed;
}

static int visit_referent_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    if (value != NULL) visit_referent_at(arg, value, -1);
    return ((struct builder *)arg)->failed;
}

static int visit_any(rcgc_object *child, void *arg)
{
    (void)child;
    (void)arg;
    return 1;
}

static int visit_any_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    (void)arg;
    return value != NULL;
}

static int has_referents(rcgc_object *o)
{
    const rcgc_type *t = o->type;
    if (!gc_type_is_gc(t)) return 0;
    return t->traverse(o, visit_any, NULL) != 0 ||
           (t->ephemerons != NULL && t->ephemerons(o, visit_any_pair, NULL) != 0);
}

/* Referrers: o refers to a node of the frontier (depth level - 1). */
static void visit_referrer_at(struct builder *b, rcgc_object *child,
                              rcgc_ssize index)
{
    rcgc_ssize to = nmap_get(&b->map, child);
    if (to < 0 || b->nodes[to].depth != b->level - 1) return;
    if (b->cur_index < 0) {
        b->cur_index = nmap_get(&b->map, b->cur);
        if (b->cur_index < 0) b->cur_index = add_node(b, b->cur, b->level);
        if (b->cur_index < 0) {
            b->nodes[to].flags |= RCGC_DIAG_NODE_TRUNCATED;
            return;
        }
    }
    add_edge(b, b->cur_index, to, index);
}

static int visit_referrer(rcgc_object *child, void *arg)
{
    struct builder *b = arg;
    visit_referrer_at(b, child, b->pos++);
    return b->failed;
}

static int visit_referrer_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    if (value != NULL) visit_referrer_at(arg, value, -1);
    return ((struct builder *)arg)->failed;
}

/* One level of referrers: a pass over every tracked object. */
static void referrers_level(rcgc_runtime *rt, struct builder *b)
{
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; !b->failed && (o = rcgc__gcwalk_next(&w)) != NULL;) {
        const rcgc_type *t = o->type;
        b->cur = o;
        b->cur_index = -1;
        b->pos = 0;
        t->traverse(o, visit_referrer, b);
        if (t->ephemerons != NULL && !b->failed)
            t->ephemerons(o, visit_referrer_pair, b);
    }
}

/* Count a reference from a tracked object to a tracked node (ephemeron
 * values included, as the collector's subtract_refs counts them). */
static int visit_count(rcgc_object *child, void *arg)
{
    struct builder *b = arg;
    rcgc_ssize i = nmap_get(&b->map, child);
    if (i >= 0 && (b->nodes[i].flags & RCGC_DIAG_NODE_TRACKED)) b->internal[i]++;
    return 0;
}

static int visit_count_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? visit_count(value, arg) : 0;
}

/* External counts of the graph's tracked nodes: one traverse of every
 * tracked object counts the references the tracked graph holds to each
 * node (a lookup in the graph's small map per reference); the rest of a
 * node's count comes from outside. */
static void graph_externals(rcgc_runtime *rt, struct builder *b)
{
    rt->collecting = 1; /* nothing may start a collection meanwhile */
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL;) {
        const rcgc_type *t = o->type;
        t->traverse(o, visit_count, b);
        if (t->ephemerons != NULL) t->ephemerons(o, visit_count_pair, b);
    }
    rt->collecting = 0;
    for (rcgc_ssize i = 0; i < b->nnodes; i++) {
        rcgc_diag_node *nd = &b->nodes[i];
        if (!(nd->flags & RCGC_DIAG_NODE_TRACKED)) continue;
        intptr_t ext = nd->obj->refcnt - (intptr_t)b->internal[i];
        nd->external = ext > 0 ? ext : 0;
        if (ext > 0) nd->flags |= RCGC_DIAG_NODE_ROOT;
    }
}

static int build_graph(rcgc_runtime *rt, rcgc_object *o, int depth,
                       const rcgc_diag_options *opts, int referrers,
                       rcgc_diag_graph *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || o == NULL || out == NULL || depth < 0 || busy(rt) ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    rcgc__debug_check_object(rt, o, referrers ? "rcgc_diag_referrers"
                                              : "rcgc_diag_referents");
    rcgc_ssize max = opts != NULL && opts->max_nodes > 0
                         ? opts->max_nodes
                         : DIAG_DEFAULT_MAX_NODES;
    unsigned flags = opts != NULL ? opts->flags : 0;
    struct builder b;
    if (builder_init(&b, rt, max) != 0) {
        builder_fini(&b);
        return RCGC_ENOMEM;
    }
    add_node(&b, o, 0);
    b.nodes[0].flags |= RCGC_DIAG_NODE_START;
    if (referrers) {
        /* The previous level is complete before the next starts: each
         * level is one pass over every object. */
        for (int d = 1; d <= depth && !b.failed; d++) {
            rcgc_ssize before = b.nnodes;
            b.level = d;
            referrers_level(rt, &b);
            if (b.nnodes == before) break; /* no new frontier */
        }
    } else {
        /* Nodes are expanded in the order they were added: breadth first,
         * with the node array as the queue. */
        for (rcgc_ssize i = 0; i < b.nnodes && !b.failed; i++) {
            rcgc_object *x = b.nodes[i].obj;
            const rcgc_type *t = x->type;
            if (!gc_type_is_gc(t)) continue;
            if (b.nodes[i].depth >= depth) {
                if (has_referents(x)) b.nodes[i].flags |= RCGC_DIAG_NODE_TRUNCATED;
                continue;
            }
            b.cur = x;
            b.cur_index = i;
            b.pos = 0;
            b.level = b.nodes[i].depth + 1;
            t->traverse(x, visit_referent, &b);
            if (t->ephemerons != NULL && !b.failed)
                t->ephemerons(x, visit_referent_pair, &b);
        }
    }
    if (b.failed) {
        builder_fini(&b);
        return RCGC_ENOMEM;
    }
    if (!(flags & RCGC_DIAG_NO_EXTERNALS)) graph_externals(rt, &b);
    /* Hand the arrays over (shrunk to size). */
    rcgc_diag_node *nodes = rcgc__realloc(rt, b.nodes, (size_t)b.nnodes * sizeof *nodes);
    if (nodes != NULL) b.nodes = nodes;
    for (rcgc_ssize i = 0; i < b.nnodes; i++) rcgc_incref(b.nodes[i].obj);
    out->nodes = b.nodes;
    out->nnodes = b.nnodes;
    out->edges = b.edges;
    out->nedges = b.nedges;
    out->referrers = referrers;
    b.nodes = NULL;
    b.edges = NULL;
    builder_fini(&b);
    return 0;
}

int rcgc_diag_referrers(rcgc_runtime *rt, rcgc_object *o,
                        int depth, const rcgc_diag_options *opts,
                        rcgc_diag_graph *out)
{
    return build_graph(rt, o, depth, opts, 1, out);
}

int rcgc_diag_referents(rcgc_runtime *rt, rcgc_object *o,
                        int depth, const rcgc_diag_options *opts,
                        rcgc_diag_graph *out)
{
    return build_graph(rt, o, depth, opts, 0, out);
}

void rcgc_diag_graph_free(rcgc_runtime *rt, rcgc_diag_graph *g)
{
    if (g == NULL) return;
    rcgc_diag_node *nodes = g->nodes;
    rcgc_ssize n = g->nnodes;
    rcgc__free(rt, g->edges);
    memset(g, 0, sizeof *g);
    for (rcgc_ssize i = 0; i < n; i++) rcgc_decref(rt, nodes[i].obj);
    rcgc__free(rt, nodes);
}

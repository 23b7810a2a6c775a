/*
 * nodes.c - the object types of test.h (list-like nodes, weakly
 * referenceable nodes, leaves) and the small fixtures the tests share: graph
 * builders, counters, the garbage-list cleaner, the unraisable-hook recorder.
 */
#include "test.h"

/* ---- node types ---- */

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    t_nodeobj *n = (t_nodeobj *)self;
    for (rcgc_ssize i = 0; i < n->n; i++) RCGC_VISIT(n->items[i]);
    return 0;
}

static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    t_nodeobj *n = (t_nodeobj *)self;
    /* Last to first, as a Python list; re-read n->n each time because a
     * decref can run code that changes this node. */
    while (n->n > 0) {
        rcgc_object *item = n->items[--n->n];
        n->items[n->n] = NULL;
        rcgc_decref(rt, item);
    }
}

static void node_release(rcgc_runtime *rt, rcgc_object *self)
{
    t_nodeobj *n = (t_nodeobj *)self;
    rcgc_mem_free(rt, n->items);
    n->items = NULL;
    n->cap = 0;
}

static int node_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    t_nodeobj *n = (t_nodeobj *)self;
    n->nfinalize++;
    return n->on_finalize ? n->on_finalize(rt, self, n->ctx) : 0;
}

static int node_legacy(rcgc_runtime *rt, rcgc_object *self)
{
    t_nodeobj *n = (t_nodeobj *)self;
    n->nlegacy++;
    return n->on_legacy ? n->on_legacy(rt, self, n->ctx) : 0;
}

/* A tuple can be untracked once nothing in it may be tracked. */
static int tuple_may_untrack(rcgc_object *self)
{
    t_nodeobj *n = (t_nodeobj *)self;
    for (rcgc_ssize i = 0; i < n->n; i++)
        if (n->items[i] == NULL || rcgc_may_be_tracked(n->items[i])) return 0;
    return 1;
}

const rcgc_type t_node_type = {
    .name = "node",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release};
const rcgc_type t_fnode_type = {
    .name = "fnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .release = node_release};
const rcgc_type t_lnode_type = {
    .name = "lnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .legacy_finalize = node_legacy,
    .release = node_release};
const rcgc_type t_flnode_type = {
    .name = "flnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .legacy_finalize = node_legacy,
    .release = node_release};
const rcgc_type t_tuple_type = {
    .name = "tuple",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release,
    .may_untrack = tuple_may_untrack};
const rcgc_type t_dict_type = {
    .name = "dict",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_UNTRACK_ON_FULL,
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release,
    .may_untrack = tuple_may_untrack};
const rcgc_type t_plain_type = {
    .name = "plain",
    .size = sizeof(t_nodeobj),
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .release = node_release};
const rcgc_type t_leaf_type = {
    .name = "leaf",
    .size = sizeof(t_nodeobj)};

/* Weakly referenceable variants (class N(list): __slots__ =
 * ('__weakref__',) and friends); the node types above are not. */
const rcgc_type t_wnode_type = {
    .name = "wnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release};
const rcgc_type t_wfnode_type = {
    .name = "wfnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = node_traverse,
    .clear = node_clear,
    .finalize = node_finalize,
    .release = node_release};
const rcgc_type t_wlnode_type = {
    .name = "wlnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = node_traverse,
    .clear = node_clear,
    .legacy_finalize = node_legacy,
    .release = node_release};
const rcgc_type t_wnogc_type = {
    .name = "ContainerNoGC",
    .size = sizeof(t_nodeobj),
    .flags = 0,
    .traverse = node_traverse,
    .clear = node_clear,
    .release = node_release};
const rcgc_type t_wleaf_type = {
    .name = "wleaf",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_WEAKREF,
    .clear = node_clear,
    .release = node_release};

rcgc_object *t_new(rcgc_runtime *rt, const rcgc_type *type, int id)
{
    rcgc_object *o = rcgc_object_new(rt, type);
    if (o == NULL) return NULL;
    t_as(o)->id = id;
    if (type->flags & RCGC_TYPE_GC) rcgc_object_track(rt, o);
    return o;
}

rcgc_object *t_node(rcgc_runtime *rt, int id)
{
    return t_new(rt, &t_node_type, id);
}

rcgc_object *t_leaf(rcgc_runtime *rt, int id)
{
    return t_new(rt, &t_leaf_type, id);
}

int t_append(rcgc_runtime *rt, rcgc_object *node, rcgc_object *item)
{
    t_nodeobj *n = t_as(node);
    if (n->n == n->cap) {
        rcgc_ssize cap = n->cap ? n->cap * 2 : 4;
        void *p = rcgc_mem_realloc(rt, n->items, (size_t)cap * sizeof *n->items);
        if (p == NULL) return RCGC_ENOMEM;
        n->items = p;
        n->cap = cap;
    }
    rcgc_incref(item);
    n->items[n->n++] = item;
    return 0;
}

int t_append_steal(rcgc_runtime *rt, rcgc_object *node, rcgc_object *item)
{
    int rc = t_append(rt, node, item);
    rcgc_decref(rt, item);
    return rc;
}

int t_remove(rcgc_runtime *rt, rcgc_object *node, rcgc_object *item)
{
    t_nodeobj *n = t_as(node);
    for (rcgc_ssize i = 0; i < n->n; i++) {
        if (n->items[i] == item) {
            memmove(&n->items[i], &n->items[i + 1],
                    (size_t)(n->n - i - 1) * sizeof *n->items);
            n->n--;
            rcgc_decref(rt, item);
            return 1;
        }
    }
    return 0;
}

void t_clear(rcgc_runtime *rt, rcgc_object *node)
{
    node_clear(rt, node);
}

void t_link2(rcgc_runtime *rt, rcgc_object *a, rcgc_object *b)
{
    t_append(rt, a, b);
    t_append(rt, b, a);
}

int t_log_count(const t_log *log, int id)
{
    int c = 0;
    for (int i = 0; i < log->n; i++) c += log->ids[i] == id;
    return c;
}

rcgc_object *t_wnode(rcgc_runtime *rt, int id)
{
    return t_new(rt, &t_wnode_type, id);
}

rcgc_object *t_self_cycle(rcgc_runtime *rt, const rcgc_type *type, int id)
{
    rcgc_object *o = t_new(rt, type, id);
    if (o != NULL && t_append(rt, o, o) != 0) { /* no cycle: not what was asked */
        rcgc_decref(rt, o);
        return NULL;
    }
    return o;
}

/* ---- counters and clean-up ---- */

rcgc_ssize t_live_objects(rcgc_runtime *rt)
{
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    return s.objects;
}

int t_wr_alive(rcgc_runtime *rt, rcgc_object *wr)
{
    rcgc_object *o = rcgc_weakref_get(rt, wr);
    if (o == NULL) return 0;
    rcgc_decref(rt, o);
    return 1;
}

void t_clean_garbage(rcgc_runtime *rt)
{
    rcgc_object **gl = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &gl);
    for (rcgc_ssize i = 0; i < n; i++) t_clear(rt, gl[i]);
    rcgc_objects_free(rt, gl, n);
    rcgc_gc_garbage_clear(rt);
}

void t_finish(rcgc_runtime *rt)
{
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* ---- the unraisable hook ---- */

void t_record_unraisable(rcgc_runtime *rt, rcgc_unraisable_kind kind,
                         rcgc_object *obj, int err, void *ctx)
{
    (void)rt;
    t_unraisable *r = ctx;
    if (r->n < T_UNRAISABLE_MAX) {
        r->kind[r->n] = kind;
        r->obj[r->n] = obj;
        r->err[r->n] = err;
    }
    r->n++;
}

rcgc_runtime *t_runtime_unraisable(t_unraisable *rec)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.unraisable = t_record_unraisable;
    cfg.unraisable_ctx = rec;
    memset(rec, 0, sizeof *rec);
    return t_runtime_cfg(&cfg);
}

/*
 * diag_why.c - leak diagnosis: why is this object alive.  A reverse index
 * of the tracked graph (built in the collector's borrowed header words, see
 * diag_internal.h), the roots it shows, and a backward search from the
 * object to the nearest root: the chain of references that keeps it alive.
 * Design and invariants: docs/diagnosis.md.
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"
#include "rcgc_trace.h"

/* ------------------------------------------------------------------------ */
/* Why is this object alive                                                  */

/*
 * The reverse index.  Pass 1 (index_graph) numbers every tracked object in
 * walk order (core/gcwalk.h): its dense index goes into an index map
 * (address -> index, a side table: nothing is written into objects) and
 * obj[]; then every object is traversed once, from obj[], and each
 * reference to a tracked object (a key of the map) becomes an edge record
 * (referent, referrer), and the referent's internal count goes up.  Pass 2
 * (why_mark_roots, over obj[]) marks the roots: refcount > internal count.
 * The map is freed and the search runs on side arrays only: the edges are
 * bucketed by referent (a counting sort, in place over the counts), then a
 * breadth-first search goes backwards from the target along referrers
 * until it dequeues a root.  Only the target's ancestors are visited: a few
 * objects in a wide graph, however large.
 */
#define NO_INDEX UINT32_MAX

struct rindex {
    rcgc_runtime *rt;
    rcgc_object **obj;   /* index -> object */
    uint32_t *cnt;       /* index -> internal count; later bucket starts */
    uint32_t *echild;    /* per edge: the referent's index */
    uint32_t *eparent;   /* the referrer's index */
    rcgc__idxmap map;    /* object -> index, during pass 1 */
    rcgc_ssize n, cap;   /* objects indexed, room */
    rcgc_ssize nedges, ecap;
    uint32_t cur;        /* index of the object being traversed */
    int failed;          /* RCGC_ENOMEM, RCGC_ECORRUPT, or 0 */
};

static int grow_edges(struct rindex *ri)
{
    rcgc_ssize cap = ri->ecap * 2;
    if (cap >= (rcgc_ssize)UINT32_MAX) return RCGC_ENOMEM;
    uint32_t **arrays[2] = {&ri->echild, &ri->eparent};
    for (int k = 0; k < 2; k++) {
        uint32_t *p = rcgc__realloc(ri->rt, *arrays[k], (size_t)cap * sizeof *p);
        if (p == NULL) return RCGC_ENOMEM;
        *arrays[k] = p;
    }
    ri->ecap = cap;
    return 0;
}

static int add_ref(struct rindex *ri, rcgc_object *child)
{
    uint32_t c = rcgc__idxmap_find(&ri->map, child);
    if (c == RCGC__IDXMAP_NONE) return 0; /* an untracked referent is no node */
    if (ri->nedges == ri->ecap && (ri->failed = grow_edges(ri)) != 0) return 1;
    rcgc_ssize e = ri->nedges++;
    ri->echild[e] = c;
    ri->eparent[e] = ri->cur;
    ri->cnt[c]++;
    return 0;
}

static int visit_index(rcgc_object *child, void *arg)
{
    return add_ref(arg, child);
}

static int visit_index_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? add_ref(arg, value) : 0;
}

/* Pass 1: number, then the edges; stops early on failure.  A traverse
 * that returns non-zero of its own (against its contract) loses the rest
 * of its object's references, not the query. */
static void index_graph(rcgc_runtime *rt, struct rindex *ri)
{
    ri->n = diag_number(rt, &ri->map, ri->obj);
    if (ri->n < 0) {
        ri->n = 0;
        ri->failed = RCGC_ECORRUPT;
        return;
    }
    for (rcgc_ssize i = 0; i < ri->n && !ri->failed; i++) {
        rcgc_object *o = ri->obj[i];
        const rcgc_type *t = o->type;
        ri->cur = (uint32_t)i;
        if (t->traverse(o, visit_index, ri) != 0) continue;
        if (t->ephemerons != NULL) t->ephemerons(o, visit_index_pair, ri);
    }
}

struct roots {
    uint8_t *bits;          /* index -> is a root */
    const rcgc_object *target;
    uint32_t target_index;
    rcgc_ssize ignore;      /* subtracted from the target's count */
    rcgc_ssize count;       /* roots */
    rcgc_ssize inconsistent;
    rcgc_ssize target_external;
};

/* Pass 2: the roots, over obj[] (reads the objects' counts only). */
static void why_mark_roots(const struct rindex *ri, struct roots *r)
{
    for (rcgc_ssize k = 0; k < ri->n; k++) {
        uint32_t i = (uint32_t)k;
        const rcgc_object *o = ri->obj[i];
        intptr_t ext = o->refcnt - (intptr_t)ri->cnt[i];
        if (ext < 0) r->inconsistent++;
        if (o == r->target) {
            r->target_index = i;
            ext = ext > r->ignore ? ext - r->ignore : 0;
            r->target_external = ext;
        }
        if (ext > 0) {
            r->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
            r->count++;
        }
    }
}

static int is_root(const struct roots *r, uint32_t i)
{
    return (r->bits[i >> 3] >> (i & 7)) & 1;
}

/* Bucket the edges by referent: afterwards the edges referring to i are
 * rev[cnt[i] .. cnt[i+1]), earliest referrer (in walk order) first. */
static void bucket_edges(struct rindex *ri, uint32_t *rev)
{
    uint32_t sum = 0;
    for (rcgc_ssize i = 0; i < ri->n; i++) {
        sum += ri->cnt[i];
        ri->cnt[i] = sum; /* the end of i's bucket */
    }
    ri->cnt[ri->n] = sum;
    for (rcgc_ssize e = ri->nedges - 1; e >= 0; e--)
        rev[--ri->cnt[ri->echild[e]]] = (uint32_t)e;
}

/* Breadth first from the target along referrers; returns the index of the
 * nearest root (via[] then leads from it to the target), or NO_INDEX.
 * *visited gets the number of objects reached. */
static uint32_t search_back(const struct rindex *ri, const struct roots *r,
                            const uint32_t *rev, uint32_t *via,
                            uint32_t *queue, rcgc_ssize *visited)
{
    uint32_t t = r->target_index;
    rcgc_ssize head = 0, tail = 0;
    via[t] = NO_INDEX - 1; /* reached: the start */
    queue[tail++] = t;
    uint32_t found = is_root(r, t) ? t : NO_INDEX;
    while (head < tail && found == NO_INDEX) {
        uint32_t x = queue[head++];
        for (uint32_t k = ri->cnt[x]; k < ri->cnt[x + 1]; k++) {
            uint32_t e = rev[k];
            uint32_t p = ri->eparent[e];
            if (via[p] != NO_INDEX) continue;
            via[p] = e;
            queue[tail++] = p;
            if (is_root(r, p)) {
                found = p;
                break;
            }
        }
    }
    *visited = tail;
    return found;
}

static rcgc_ssize count_in_garbage(const rcgc_runtime *rt, const rcgc_object *o)
{
    rcgc_ssize n = 0;
    for (rcgc_ssize i = 0; i < rt->ngarbage; i++) n += rt->garbage[i] == o;
    return n;
}

/* Position of the reference to want in o's traverse order (what the edge
 * names show), -1 if it is an ephemeron value, -3 if o does not refer to
 * it.  Computed for the links of the answer only: recording it for every
 * edge of the index would cost a fifth more memory traffic in pass 1. */
struct pos_ctx {
    rcgc_object *want;
    rcgc_ssize i;
};

static int visit_pos(rcgc_object *child, void *arg)
{
    struct pos_ctx *c = arg;
    if (child == c->want) return 1;
    c->i++;
    return 0;
}

static int visit_pos_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value == ((struct pos_ctx *)arg)->want;
}

static rcgc_ssize edge_index(rcgc_object *from, rcgc_object *to)
{
    struct pos_ctx c = {to, 0};
    const rcgc_type *t = from->type;
    if (!(t->flags & RCGC_TYPE_GC)) return -3;
    if (t->traverse(from, visit_pos, &c) != 0) return c.i;
    if (t->ephemerons != NULL && t->ephemerons(from, visit_pos_pair, &c) != 0)
        return -1;
    return -3;
}

/* Where each link was allocated, when the tracer traced it ("file:line in
 * function", copied); a link whose copy cannot be made just has none. */
static void allocation_sites(rcgc_runtime *rt, rcgc_diag_link *links, rcgc_ssize n)
{
    if (!rcgc_trace_is_tracing(rt)) return;
    for (rcgc_ssize k = 0; k < n; k++) {
        rcgc_frame fr;
        if (rcgc_trace_object_traceback(rt, links[k].obj, &fr, 1) < 1) continue;
        char buf[512];
        int len = snprintf(buf, sizeof buf, "%s:%u%s%s",
                           fr.filename != NULL ? fr.filename : "<unknown>", fr.lineno,
                           fr.function != NULL ? " in " : "",
                           fr.function != NULL ? fr.function : "");
        if (len < 0) continue;
        size_t size = (size_t)len < sizeof buf ? (size_t)len + 1 : sizeof buf;
        char *copy = rcgc__malloc(rt, size);
        if (copy == NULL) continue;
        memcpy(copy, buf, size - 1);
        copy[size - 1] = 0;
        links[k].allocated_at = copy;
    }
}

static void rindex_free(struct rindex *ri)
{
    diag_map_free(ri->rt, &ri->map);
    rcgc__free(ri->rt, ri->obj);
    rcgc__free(ri->rt, ri->cnt);
    rcgc__free(ri->rt, ri->echild);
    rcgc__free(ri->rt, ri->eparent);
}

int rcgc_diag_why_alive(rcgc_runtime *rt, rcgc_object *target,
                        const rcgc_diag_options *opts,
                        rcgc_diag_path *out)
{
    if (out != NULL) memset(out, 0, sizeof *out);
    if (rt == NULL || target == NULL || out == NULL || busy(rt) ||
        !RCGC__OPTS_OK(opts))
        return RCGC_EINVAL;
    rcgc__debug_check_object(rt, target, "rcgc_diag_why_alive");
    if (!(target->type->flags & RCGC_TYPE_GC)) return RCGC_ENOTGC;
    if (!rcgc_object_is_tracked(target)) return RCGC_EINVAL;

    /* What pass 1 needs is allocated first; the edge arrays may still grow
     * during it (through the MEM domain's allocator, which does not touch
     * objects). */
    struct rindex ri;
    memset(&ri, 0, sizeof ri);
    ri.rt = rt;
    ri.cap = rt->tracked;
    if ((uintmax_t)ri.cap > RCGC__IDXMAP_MAX_KEYS)
        return RCGC_ENOMEM; /* indexes are 32-bit */
    ri.ecap = ri.cap + 1024;
    ri.obj = rcgc__malloc(rt, (size_t)ri.cap * sizeof *ri.obj + 1);
    ri.cnt = rcgc__calloc(rt, (size_t)ri.cap + 1, sizeof *ri.cnt);
    ri.echild = rcgc__malloc(rt, (size_t)ri.ecap * sizeof(uint32_t));
    ri.eparent = rcgc__malloc(rt, (size_t)ri.ecap * sizeof(uint32_t));
    struct roots r;
    memset(&r, 0, sizeof r);
    r.bits = rcgc__calloc(rt, (size_t)ri.cap / 8 + 1, 1);
    r.target = target;
    r.ignore = opts != NULL && opts->ignore_refs > 0 ? opts->ignore_refs : 0;
    if (diag_map_alloc(rt, &ri.map, (size_t)ri.cap) != 0 || ri.obj == NULL ||
        ri.cnt == NULL || ri.echild == NULL || ri.eparent == NULL || r.bits == NULL) {
        rindex_free(&ri);
        rcgc__free(rt, r.bits);
        return RCGC_ENOMEM;
    }

    rt->collecting = 1; /* nothing may start a collection meanwhile */
    index_graph(rt, &ri);
    rt->collecting = 0;
    diag_map_free(rt, &ri.map); /* before the search's arrays */
    if (ri.failed == 0) why_mark_roots(&ri, &r);
    RCGC_ASSERT(ri.n <= ri.cap && r.count <= ri.n);

    int rc = ri.failed;
    uint32_t *rev = NULL, *via = NULL, *queue = NULL;
    rcgc_diag_link *links = NULL;
    rcgc_ssize n = 0, visited = 0;
    uint32_t root = NO_INDEX;
    if (rc == 0) {
        rev = rcgc__malloc(rt, (size_t)ri.nedges * sizeof *rev + 1);
        via = rcgc__malloc(rt, (size_t)ri.n * sizeof *via);
        queue = rcgc__malloc(rt, (size_t)ri.n * sizeof *queue);
        if (rev == NULL || via == NULL || queue == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) {
        bucket_edges(&ri, rev);
        memset(via, 0xff, (size_t)ri.n * sizeof *via); /* NO_INDEX */
        root = search_back(&ri, &r, rev, via, queue, &visited);
        n = 1;
        if (root != NO_INDEX)
            for (uint32_t x = root; x != r.target_index; x = ri.echild[via[x]]) n++;
        links = rcgc__calloc(rt, (size_t)n, sizeof *links);
        if (links == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) {
        if (root != NO_INDEX) {
            uint32_t x = root;
            for (rcgc_ssize k = 0; k < n; k++) {
                links[k].obj = ri.obj[x];
                if (k == 0) links[k].edge = -2;
                if (k + 1 < n) x = ri.echild[via[x]];
            }
            out->status = RCGC_DIAG_ROOTED;
            /* cnt[] holds bucket starts now: the count is their difference */
            intptr_t ext = ri.obj[root]->refcnt -
                           (intptr_t)(ri.cnt[root + 1] - ri.cnt[root]);
            if (root == r.target_index) ext = r.target_external;
            out->root_external = ext;
        } else {
            links[0].obj = target;
            links[0].edge = -2;
            out->status = RCGC_DIAG_UNREACHABLE;
        }
        for (rcgc_ssize k = 0; k < n; k++) {
            links[k].refcnt = links[k].obj->refcnt;
            if (k > 0) links[k].edge = edge_index(links[k - 1].obj, links[k].obj);
        }
        for (rcgc_ssize k = 0; k < n; k++) rcgc_incref(links[k].obj);
        allocation_sites(rt, links, n);
        out->links = links;
        out->n = n;
        out->root_in_garbage = root != NO_INDEX ? count_in_garbage(rt, links[0].obj) : 0;
        out->target_external = r.target_external;
        out->roots = r.count;
        out->objects = ri.n;
        out->visited = visited;
        out->inconsistent = r.inconsistent;
    }
    rcgc__free(rt, rev);
    rcgc__free(rt, via);
    rcgc__free(rt, queue);
    rcgc__free(rt, r.bits);
    rindex_free(&ri);
    return rc;
}

void rcgc_diag_path_free(rcgc_runtime *rt, rcgc_diag_path *p)
{
    if (p == NULL) return;
    /* Detach first: a decref may run code (a finalizer) that looks at p. */
    rcgc_diag_link *links = p->links;
    rcgc_ssize n = p->n;
    memset(p, 0, sizeof *p);
    for (rcgc_ssize k = 0; k < n; k++) {
        rcgc__free(rt, (void *)links[k].allocated_at);
        rcgc_decref(rt, links[k].obj);
    }
    rcgc__free(rt, links);
}

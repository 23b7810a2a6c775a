/*
 * diag_dom.c - what holds the memory: the dominator tree of the tracked
 * graph and the retained size of every object (Eclipse MAT's and Chrome's
 * "retained size"), per object and per type.  Design, costs and invariants:
 * docs/diagnosis.md ("Retained sizes").
 *
 * The graph: every tracked object is a node; its traverse and ephemeron
 * references to tracked objects are its edges; a synthetic root R has an
 * edge to every root (an object with references from outside the tracked
 * graph, found as why_alive finds them).  X dominates Y when every path
 * from R to Y passes through X; what X retains is X and everything it
 * dominates: exactly what would be freed if the references to X went.
 *
 * The passes.  Nothing is written into objects: an object's index lives
 * in an index map (address -> walk position, diag_internal.h) that exists
 * only while the objects are walked:
 *
 *   number      every tracked object gets a dense index (its walk position,
 *               core/gcwalk.h) in the map;
 *   edges       traverse every object once: its referents' indexes (one
 *               lookup each) in walk order (a forward adjacency array) and
 *               each object's internal count;
 *   roots       refcount > internal count, into a bitmap.
 *
 * The map goes; from here on nothing touches an object until the sizes:
 *
 *   dfs         an iterative depth-first search from R over the forward
 *               array: preorder numbers, the DFS tree's parents;
 *   preds       in-degrees by preorder number, then the predecessor array
 *               filled from the forward array, bucketed by preorder number;
 *               the forward array is freed.
 *
 * Then Georgiadis' semi-NCA on side arrays: semidominators in reverse
 * preorder with path compression (iterative: an explicit stack, any depth),
 * then immediate dominators by walking up the DFS tree.  Retained sizes add
 * up children into parents in reverse preorder (a dominator always comes
 * before what it dominates).  Sizes come last, from rcgc_sizeof, in one
 * more walk.
 */
#include <stdlib.h>
#include <string.h>

#include "diag/diag_internal.h"
#include "diag/diag_dom.h"


/* ------------------------------------------------------------------------ */
/* The passes over the objects                                               */

/* Side memory, counted so that the result can say its peak. */
struct scratch {
    rcgc_runtime *rt;
    size_t cur, peak;
};

static void *scr_alloc(struct scratch *s, size_t size, int zero)
{
    void *p = zero ? rcgc__calloc(s->rt, size, 1) : rcgc__malloc(s->rt, size);
    if (p != NULL) {
        s->cur += size;
        if (s->cur > s->peak) s->peak = s->cur;
    }
    return p;
}

static void scr_free(struct scratch *s, void *p, size_t size)
{
    if (p == NULL) return;
    rcgc__free(s->rt, p);
    s->cur -= size;
}



static int fwd_add(struct dom_fwd *f, rcgc_object *child, uint32_t tag)
{
    uint32_t c = rcgc__idxmap_find(f->map, child);
    if (c == RCGC__IDXMAP_NONE) return 0; /* untracked (or not GC): no node */
    if (f->m == f->ecap) {
        rcgc_ssize cap = f->ecap * 2;
        uint32_t *p = cap < (rcgc_ssize)UINT32_MAX
                          ? rcgc__realloc(f->rt, f->child, (size_t)cap * sizeof *p)
                          : NULL;
        if (p == NULL) {
            f->failed = RCGC_ENOMEM;
            return 1;
        }
        /* realloc may hold both blocks for a moment */
        size_t grow = ((size_t)cap - (size_t)f->ecap) * sizeof *p;
        if (f->sc->cur + grow + (size_t)f->ecap * sizeof *p > f->sc->peak)
            f->sc->peak = f->sc->cur + grow + (size_t)f->ecap * sizeof *p;
        f->sc->cur += grow;
        f->child = p;
        f->ecap = cap;
    }
    f->child[f->m++] = c | tag;
    f->cnt[c]++;
    return 0;
}

static int visit_fwd(rcgc_object *child, void *arg)
{
    return fwd_add(arg, child, 0);
}

static int visit_fwd_pair(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? fwd_add(arg, value, DOM_EPHEMERON) : 0;
}

/* edges: one traverse per object, in walk order (the numbering's). */
static void forward_edges(rcgc_runtime *rt, struct dom_fwd *f)
{
    rcgc_ssize v = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (rcgc_object *o; !f->failed && (o = rcgc__gcwalk_next(&w)) != NULL; v++) {
        const rcgc_type *t = o->type;
        f->start[v] = (uint32_t)f->m;
        if (t->traverse(o, visit_fwd, f) != 0 && !f->failed)
            f->failed = RCGC_EFAILED;
        else if (t->ephemerons != NULL &&
                 t->ephemerons(o, visit_fwd_pair, f) != 0 && !f->failed)
            f->failed = RCGC_EFAILED;
    }
    f->start[v] = (uint32_t)f->m;
}

/* roots: refcount above the internal count.  Reads objects only. */
static rcgc_ssize mark_roots(rcgc_runtime *rt, const uint32_t *cnt,
                             uint8_t *bits, rcgc_ssize *inconsistent)
{
    rcgc_ssize v = 0, roots = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (const rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL; v++) {
        intptr_t ext = o->refcnt - (intptr_t)cnt[v];
        if (ext < 0) (*inconsistent)++;
        if (ext > 0) {
            bits[v >> 3] |= (uint8_t)(1u << (v & 7));
            roots++;
        }
    }
    return roots;
}

static int dom_bit(const uint8_t *bits, rcgc_ssize v)
{
    return (bits[v >> 3] >> (v & 7)) & 1;
}

/*
 * dfs: preorder numbers from 2 (1 is R), pre[v] for index v, parent[p] and
 * vert[p] for preorder p.  R's edges go to the roots in walk order.  The
 * path from R to the current object is the chain of DFS parents, so no
 * stack is needed; cur[v] is v's next edge.  Returns the last number.
 */
static uint32_t depth_first(const struct dom_fwd *f, const uint8_t *bits,
                            uint32_t *pre, uint32_t *parent, uint32_t *vert,
                            uint32_t *cur)
{
    uint32_t next = DOM_SYNTH;
    memcpy(cur, f->start, (size_t)f->n * sizeof *cur);
    for (rcgc_ssize r = 0; r < f->n; r++) {
        if (!dom_bit(bits, r) || pre[r] != DOM_UNSEEN) continue;
        pre[r] = ++next;
        parent[next] = DOM_SYNTH;
        vert[next] = (uint32_t)r;
        uint32_t x = (uint32_t)r;
        for (;;) {
            if (cur[x] < f->start[x + 1]) {
                uint32_t c = f->child[cur[x]++] & DOM_INDEX;
                if (pre[c] != DOM_UNSEEN) continue;
                pre[c] = ++next;
                parent[next] = pre[x];
                vert[next] = c;
                x = c;
            } else {
                uint32_t p = parent[pre[x]];
                if (p == DOM_SYNTH) break;
                x = vert[p];
            }
        }
    }
    return next;
}

struct pred {
    uint32_t *start; /* preorder -> first predecessor (after filling) */
    uint32_t *from;  /* predecessors' preorder numbers */
    rcgc_ssize m;    /* predecessors */
};

/*
 * preds: the predecessors of every reachable object, by preorder number,
 * from the forward array: pstart[p] holds the end of p's bucket on entry
 * and its beginning on return.  Filled in walk order, each object's edges
 * in traverse order, so a bucket lists its referrers last first.  Reads
 * the side arrays only.
 */
static void fill_preds(const struct dom_fwd *f, const uint32_t *pre,
                       uint32_t *pstart, uint32_t *from)
{
    for (rcgc_ssize v = 0; v < f->n; v++) {
        uint32_t p = pre[v];
        if (p == DOM_UNSEEN) continue;
        for (uint32_t e = f->start[v]; e < f->start[v + 1]; e++)
            from[--pstart[pre[f->child[e] & DOM_INDEX]]] = p;
    }
}

/* ------------------------------------------------------------------------ */
/* Semi-NCA on side arrays                                                   */

/*
 * Path compression from v (processed, so ancestor[v] != 0): afterwards
 * label[v] is the smallest semidominator on the forest path from v up to,
 * not including, the root of its tree, and ancestor[v] points near that
 * root.  The recursive definition, unrolled over stack.
 */
static void compress(uint32_t v, uint32_t *ancestor, uint32_t *label,
                     uint32_t *stack)
{
    uint32_t k = 0;
    while (ancestor[ancestor[v]] != 0) {
        stack[k++] = v;
        v = ancestor[v];
    }
    while (k > 0) {
        uint32_t y = stack[--k], a = ancestor[y];
        if (label[a] < label[y]) label[y] = label[a];
        ancestor[y] = ancestor[a];
    }
}

/* idom[p] for p in 2..last (preorder numbers; idom[2..] of the roots is
 * DOM_SYNTH).  parent becomes idom in place.  Scratch: three arrays of
 * last + 1. */
static void semi_nca(uint32_t last, const uint32_t *pstart, const uint32_t *from,
                     const uint8_t *rootp, uint32_t *parent, uint32_t *semi,
                     uint32_t *ancestor, uint32_t *stack)
{
    /* label and semi are the same array: a processed vertex's label starts
     * as its semidominator and only decreases; an unprocessed one's is its
     * own number, which is what its semi is until processed. */
    uint32_t *label = semi;
    for (uint32_t p = 0; p <= last; p++) {
        label[p] = p;
        ancestor[p] = 0;
    }
    uint32_t *sd = stack + last + 1; /* final semidominators */
    for (uint32_t w = last; w >= 2; w--) {
        uint32_t s = w;
        if (dom_bit(rootp, w)) {
            s = DOM_SYNTH;
        } else {
            for (uint32_t k = pstart[w]; k < pstart[w + 1]; k++) {
                uint32_t v = from[k], u = v;
                if (v > w) {
                    if (ancestor[ancestor[v]] != 0) compress(v, ancestor, label, stack);
                    u = label[v];
                }
                if (u < s) s = u;
            }
        }
        sd[w] = s;
        label[w] = s;
        ancestor[w] = parent[w];
    }
    uint32_t *idom = parent;
    idom[DOM_SYNTH] = DOM_SYNTH;
    for (uint32_t w = 2; w <= last; w++)
        while (idom[w] > sd[w]) idom[w] = idom[idom[w]];
}

/* ------------------------------------------------------------------------ */
/* The whole computation                                                     */

void rcgc__domtree_free(rcgc_runtime *rt, struct domtree *d)
{
    rcgc__free(rt, d->pre);
    rcgc__free(rt, d->idom);
    rcgc__free(rt, d->retained);
    rcgc__free(rt, d->self);
    rcgc__free(rt, d->rootp);
    memset(d, 0, sizeof *d);
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Sizes, once the headers are back: self[p] for every reachable object,
 * retained[p] by summing in reverse preorder; the unreachable ones are
 * counted. */
static void sizes(rcgc_runtime *rt, struct domtree *d)
{
    rcgc_ssize v = 0;
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    for (const rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL && v < d->objects; v++) {
        size_t s = rcgc_sizeof(o);
        uint32_t p = d->pre[v];
        if (p != DOM_UNSEEN) {
            d->self[p] = s;
        } else {
            d->unreachable++;
            d->unreachable_size = add_sat(d->unreachable_size, s);
        }
    }
    d->self[DOM_SYNTH] = 0;
    memcpy(d->retained, d->self, ((size_t)d->last + 1) * sizeof *d->retained);
    for (uint32_t p = d->last; p >= 2; p--)
        d->retained[d->idom[p]] = add_sat(d->retained[d->idom[p]], d->retained[p]);
}

/* number, edges, roots: the passes over the objects, with rt->collecting
 * set (traverse runs, the edge array may grow).  f's start, cnt and child
 * are allocated for map->max objects, bits zeroed for as many.  0 or an
 * error. */
static int walk_objects(rcgc_runtime *rt, struct dom_fwd *f, rcgc__idxmap *map,
                        uint8_t *bits, rcgc_ssize *roots, rcgc_ssize *inconsistent)
{
    int rc = 0;
    rt->collecting = 1; /* nothing may start a collection meanwhile */
    f->map = map;
    f->n = diag_number(rt, map, NULL);
    if (f->n < 0) {
        f->n = 0;
        rc = RCGC_ECORRUPT;
    } else {
        forward_edges(rt, f);
        rc = f->failed;
    }
    if (rc == 0) *roots = mark_roots(rt, f->cnt, bits, inconsistent);
    f->map = NULL;
    rt->collecting = 0;
    return rc;
}

/* The forward graph's arrays for cap objects and the index map's slots;
 * 0 or RCGC_ENOMEM (what was allocated stays for the caller to free). */
static int fwd_alloc(struct dom_fwd *f, struct scratch *sc, rcgc_ssize cap,
                     size_t nn, void **slots)
{
    f->ecap = cap + 1024;
    *slots = scr_alloc(sc, rcgc__idxmap_bytes((size_t)cap), 1);
    f->start = scr_alloc(sc, nn * sizeof *f->start, 0);
    f->cnt = scr_alloc(sc, nn * sizeof *f->cnt, 1);
    f->child = scr_alloc(sc, (size_t)f->ecap * sizeof *f->child, 0);
    return *slots == NULL || f->start == NULL || f->cnt == NULL || f->child == NULL
               ? RCGC_ENOMEM
               : 0;
}

/* Number, edges and roots, the index map only while the objects are
 * walked; then the edge array's growth slack goes.  0 or an error. */
static int build_forward(rcgc_runtime *rt, struct dom_fwd *f, struct scratch *sc,
                         rcgc_ssize cap, size_t nn, uint8_t *bits,
                         rcgc_ssize *roots, rcgc_ssize *inconsistent)
{
    void *slots = NULL;
    int rc = fwd_alloc(f, sc, cap, nn, &slots);
    if (rc == 0 && bits == NULL) rc = RCGC_ENOMEM;
    if (rc == 0) {
        rcgc__idxmap map;
        rcgc__idxmap_init(&map, slots, (size_t)cap);
        rc = walk_objects(rt, f, &map, bits, roots, inconsistent);
    }
    scr_free(sc, slots, rcgc__idxmap_bytes((size_t)cap));
    if (rc == 0 && f->m + 1 < f->ecap) {
        uint32_t *c = rcgc__realloc(rt, f->child, ((size_t)f->m + 1) * sizeof *c);
        if (c != NULL) {
            sc->cur -= ((size_t)f->ecap - (size_t)f->m - 1) * sizeof *c;
            f->child = c;
            f->ecap = f->m + 1;
        }
    }
    return rc;
}

/* dfs and preds, on the side arrays: preorder numbers, the DFS tree, and
 * the predecessor buckets (pr->start in f->cnt, pr->from).  The forward
 * array is freed.  0 or RCGC_ENOMEM. */
static int order_graph(struct domtree *d, struct scratch *sc, struct dom_fwd *f,
                       const uint8_t *bits, uint32_t *parent, uint32_t *vert,
                       struct pred *pr, size_t nn)
{
    d->last = depth_first(f, bits, d->pre, parent, vert, f->cnt);
    /* In-degrees from reachable objects, by preorder number, into cnt:
     * the sizes of the predecessor buckets. */
    uint32_t *pstart = f->cnt;
    memset(pstart, 0, nn * sizeof *pstart);
    rcgc_ssize m = 0;
    for (rcgc_ssize v = 0; v < f->n; v++) {
        if (d->pre[v] == DOM_UNSEEN) continue;
        for (uint32_t e = f->start[v]; e < f->start[v + 1]; e++, m++)
            pstart[d->pre[f->child[e] & DOM_INDEX]]++;
    }
    uint32_t sum = 0; /* each start enters at its bucket's end */
    for (uint32_t p = 0; p <= d->last; p++) {
        sum += pstart[p];
        pstart[p] = sum;
    }
    pstart[d->last + 1] = sum;
    pr->start = pstart;
    pr->m = m;
    pr->from = scr_alloc(sc, (size_t)m * sizeof *pr->from + 1, 0);
    if (pr->from != NULL) fill_preds(f, d->pre, pstart, pr->from);
    scr_free(sc, f->child, (size_t)f->ecap * sizeof *f->child);
    f->child = NULL;
    return pr->from != NULL ? 0 : RCGC_ENOMEM;
}

int rcgc__forward_graph(rcgc_runtime *rt, struct dom_fwd *f, uint8_t **roots,
                        rcgc_ssize *nroots, rcgc_ssize *inconsistent)
{
    memset(f, 0, sizeof *f);
    *roots = NULL;
    rcgc_ssize cap = rt->tracked;
    if ((uintmax_t)cap >= UINT32_MAX / 2) return RCGC_ENOMEM;
    size_t nn = (size_t)cap + 1;
    struct scratch sc = {rt, 0, 0};
    f->rt = rt;
    f->sc = &sc; /* growth accounting nobody reads */
    *roots = rcgc__calloc(rt, nn / 8 + 1, 1);
    int rc = build_forward(rt, f, &sc, cap, nn, *roots, nroots, inconsistent);
    f->sc = NULL;
    if (rc != 0) rcgc__forward_free(rt, f, roots);
    return rc;
}

void rcgc__forward_free(rcgc_runtime *rt, struct dom_fwd *f, uint8_t **roots)
{
    rcgc__free(rt, f->start);
    rcgc__free(rt, f->cnt);
    rcgc__free(rt, f->child);
    rcgc__free(rt, *roots);
    memset(f, 0, sizeof *f);
    *roots = NULL;
}

int rcgc__domtree_build(rcgc_runtime *rt, struct domtree *d)
{
    memset(d, 0, sizeof *d);
    rcgc_ssize cap = rt->tracked;
    if ((uintmax_t)cap >= UINT32_MAX / 2)
        return RCGC_ENOMEM; /* numbers are 32-bit, with room for 3 more */
    /* preorder numbers 0..cap+1, and one past the last for bucket ends */
    size_t nn = (size_t)cap + 3, nb = nn / 8 + 1;
    struct scratch sc = {rt, 0, 0};
    struct dom_fwd f = {0};
    struct pred pr = {0};
    f.rt = rt;
    f.sc = &sc;
    uint8_t *bits = scr_alloc(&sc, nb, 1);
    uint32_t *parent = NULL, *vert = NULL;
    uint32_t *semi = NULL, *ancestor = NULL, *stack = NULL;
    uint8_t *rootp = NULL;
    int rc = build_forward(rt, &f, &sc, cap, nn, bits, &d->roots, &d->inconsistent);
    if (rc == 0) {
        d->objects = f.n;
        d->edges = f.m;
        d->pre = scr_alloc(&sc, nn * sizeof *d->pre, 1);
        parent = scr_alloc(&sc, nn * sizeof *parent, 0);
        vert = scr_alloc(&sc, nn * sizeof *vert, 0);
        if (d->pre == NULL || parent == NULL || vert == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) rc = order_graph(d, &sc, &f, bits, parent, vert, &pr, nn);
    /* From here on only side arrays.  Roots by preorder number for semi_nca;
     * then the index-side arrays go. */
    if (rc == 0 && (rootp = scr_alloc(&sc, nb, 1)) == NULL) rc = RCGC_ENOMEM;
    if (rc == 0)
        for (uint32_t p = 2; p <= d->last; p++)
            if (dom_bit(bits, vert[p])) rootp[p >> 3] |= (uint8_t)(1u << (p & 7));
    scr_free(&sc, f.start, nn * sizeof *f.start);
    scr_free(&sc, bits, nb);
    scr_free(&sc, vert, nn * sizeof *vert);
    f.start = NULL;
    bits = NULL;
    vert = NULL;
    if (rc == 0) {
        semi = scr_alloc(&sc, nn * sizeof *semi, 0);
        ancestor = scr_alloc(&sc, nn * sizeof *ancestor, 0);
        stack = scr_alloc(&sc, 2 * nn * sizeof *stack, 0);
        if (semi == NULL || ancestor == NULL || stack == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) {
        semi_nca(d->last, pr.start, pr.from, rootp, parent, semi, ancestor, stack);
        d->idom = parent; /* in place */
        parent = NULL;
    }
    scr_free(&sc, semi, nn * sizeof *semi);
    scr_free(&sc, ancestor, nn * sizeof *ancestor);
    scr_free(&sc, stack, 2 * nn * sizeof *stack);
    if (rc == 0) d->rootp = rootp; /* kept for the reports */
    else scr_free(&sc, rootp, nb);
    scr_free(&sc, pr.from, (size_t)pr.m * sizeof *pr.from + 1);
    scr_free(&sc, f.cnt, nn * sizeof *f.cnt);
    scr_free(&sc, f.child, (size_t)f.ecap * sizeof *f.child);
    scr_free(&sc, parent, nn * sizeof *parent);
    if (rc == 0) {
        size_t np = (size_t)d->last + 1;
        d->self = scr_alloc(&sc, np * sizeof *d->self, 0);
        d->retained = scr_alloc(&sc, np * sizeof *d->retained, 0);
        if (d->self == NULL || d->retained == NULL) rc = RCGC_ENOMEM;
    }
    if (rc == 0) {
        sizes(rt, d);
        d->total_size = d->retained[DOM_SYNTH];
    }
    d->scratch = sc.peak;
    if (rc != 0) rcgc__domtree_free(rt, d);
    return rc;
}

/* walkproto.c - a measurement, not library code: does a full collection that
 * walks 32-byte pool blocks through side bytes (issue 17's design) beat
 * today's 48-byte blocks walked through a doubly linked list?
 *
 * Both layouts run the same two passes as src/core/collect.c after step 1
 * (fused update+subtract with gc_refs in the count word's high bits, then
 * the mark cursor with the settled prefix), on the same shapes as
 * bench/gc_full.c (chain, pairs with one holder), everything alive.
 *
 *   cc -O2 -o walkproto walkproto.c && ./walkproto chain|pairs N REPS
 *
 * The 32-byte layout walks its arenas from the last to the first and each
 * from the top down (UP=1 in the environment: upwards); -DSTEP=1 tests every
 * 16-byte granule's side byte instead of striding by the block (STEP=2).
 * Numbers and conclusions: docs/layout-16.md, "Step 3 in detail".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#define MEMBER ((int64_t)1 << 62)
#define VSHIFT 32
#define LOW ((int64_t)0xffffffff)

typedef struct obj obj;
typedef void (*visit_fn)(obj *, void *);
typedef struct type {
    void (*traverse)(obj *, visit_fn, void *);
} type;
struct obj {
    int64_t refcnt;
    const type *t;
};
typedef struct node {
    obj ob;
    obj *ref[2];
} node;
typedef struct holder {
    obj ob;
    long n;
    obj **items;
} holder;

static void node_trav(obj *o, visit_fn v, void *a)
{
    node *n = (node *)o;
    if (n->ref[0]) v(n->ref[0], a);
    if (n->ref[1]) v(n->ref[1], a);
}
static void holder_trav(obj *o, visit_fn v, void *a)
{
    holder *h = (holder *)o;
    for (long i = 0; i < h->n; i++) v(h->items[i], a);
}
static const type node_type = {node_trav}, holder_type = {holder_trav};

/* ---- the two passes on the count word (as collect.c) ---- */
static inline int is_member(int64_t r) { return r >= MEMBER; }
static inline void init_refs(obj *o)
{
    int64_t r = o->refcnt;
    o->refcnt = MEMBER | ((r + 1) << VSHIFT) | r;
}
static void visit_decref_all(obj *c, void *arg)
{
    (void)arg;
    int64_t r = c->refcnt;
    if (!is_member(r)) {
        init_refs(c);
        r = c->refcnt;
    }
    if (((r >> VSHIFT) & 0x3fffffff) > 1) c->refcnt = r - ((int64_t)1 << VSHIFT);
}
static void visit_mark(obj *c, void *arg)
{
    (void)arg;
    int64_t r = c->refcnt;
    if (!is_member(r)) return;
    int64_t v = (r >> VSHIFT) & 0x3fffffff;
    if (v == 1) c->refcnt = r + ((int64_t)1 << VSHIFT); /* found: ahead */
    /* the prototype's shapes never pass anything (checked below) */
}
static long passed;
static inline void fused_one(obj *o)
{
    if (!is_member(o->refcnt)) init_refs(o);
    o->t->traverse(o, visit_decref_all, NULL);
}
static inline void mark_one(obj *o)
{
    int64_t r = o->refcnt;
    if (is_member(r)) {
        if (((r >> VSHIFT) & 0x3fffffff) == 1) {
            passed++;
            o->refcnt = r & LOW;
            return;
        }
        o->refcnt = r & LOW;
    }
    o->t->traverse(o, visit_mark, NULL);
}

/* ---- layout A: 48-byte blocks, gc_head list ---- */
typedef struct gch {
    struct gch *next, *prev;
} gch;
static gch listA;
static char *bumpA;
static obj *newA(size_t size)
{
    gch *g = (gch *)bumpA;
    bumpA += 16 + ((size + 15) & ~(size_t)15);
    g->next = &listA;
    g->prev = listA.prev;
    listA.prev->next = g;
    listA.prev = g;
    return (obj *)(g + 1);
}

/* ---- layout B: 32-byte blocks in 1 MiB arenas, one side byte per 16 bytes ---- */
#ifndef STEP
#define STEP 2 /* granules per 32-byte block */
#endif
#define ARENA ((size_t)1 << 20)
typedef struct arena {
    char *base;
    size_t used;
    uint8_t side[ARENA / 16];
} arena;
static arena **arenas;
static long narenas;
static obj *newB(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    arena *a = narenas ? arenas[narenas - 1] : NULL;
    if (a == NULL || a->used + size > ARENA) {
        a = calloc(1, sizeof *a);
        a->base = aligned_alloc(ARENA, ARENA);
        arenas = realloc(arenas, sizeof *arenas * (size_t)(narenas + 1));
        arenas[narenas++] = a;
    }
    obj *o = (obj *)(a->base + a->used);
    a->side[a->used >> 4] = 1; /* tracked, generation 2 */
    a->used += size;
    return o;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* descending: the prototype's answer to "references point to older objects" */
#define WALK_B(body)                                                          \
    for (long ai = narenas - 1; ai >= 0; ai--) {                              \
        arena *a_ = arenas[ai];                                               \
        for (long s = (long)(a_->used >> 4) - STEP; s >= 0; s -= STEP) {             \
            if (!(a_->side[s] & 1)) continue;                                 \
            obj *o = (obj *)(a_->base + ((size_t)s << 4));                    \
            body;                                                             \
        }                                                                     \
    }
#define WALK_B_UP(body)                                                       \
    for (long ai = 0; ai < narenas; ai++) {                                   \
        arena *a_ = arenas[ai];                                               \
        for (long s = 0; s < (long)(a_->used >> 4); s += STEP) {              \
            if (!(a_->side[s] & 1)) continue;                                 \
            obj *o = (obj *)(a_->base + ((size_t)s << 4));                    \
            body;                                                             \
        }                                                                     \
    }
#define WALK_A_BACK(body)                                                     \
    for (gch *g = listA.prev; g != &listA; g = g->prev) {                     \
        obj *o = (obj *)(g + 1);                                              \
        body;                                                                 \
    }

int main(int argc, char **argv)
{
    const char *shape = argc > 1 ? argv[1] : "chain";
    long n = argc > 2 ? atol(argv[2]) : 10000000;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    int pairs = strcmp(shape, "pairs") == 0;
    listA.next = listA.prev = &listA;
    bumpA = aligned_alloc(ARENA, (size_t)n * 48 + ARENA);
    for (int layout = 0; layout < 2; layout++) {
        obj *(*mk)(size_t) = layout ? newB : newA;
        holder *h = NULL;
        if (pairs) {
            h = calloc(1, sizeof(holder)); /* > 512 bytes: the registry */
            h->ob.t = &holder_type;
            h->ob.refcnt = 1;
            h->items = malloc(sizeof(obj *) * (size_t)(n / 2));
            h->n = 0;
            for (long i = 0; i < n / 2; i++) {
                node *a = (node *)mk(sizeof(node)), *b = (node *)mk(sizeof(node));
                a->ob.t = b->ob.t = &node_type;
                a->ob.refcnt = 2;
                b->ob.refcnt = 1;
                a->ref[0] = &b->ob;
                a->ref[1] = NULL;
                b->ref[0] = &a->ob;
                b->ref[1] = NULL;
                h->items[h->n++] = &a->ob;
            }
        } else {
            node *prev = NULL;
            for (long i = 0; i < n; i++) {
                node *x = (node *)mk(sizeof(node));
                x->ob.t = &node_type;
                x->ob.refcnt = i == n - 1 ? 1 : 1; /* last: the program's */
                x->ref[0] = prev ? &prev->ob : NULL;
                x->ref[1] = NULL;
                prev = x;
            }
        }
        double best = 1e9;
        for (int r = 0; r < reps; r++) {
            passed = 0;
            double t0 = now();
            /* the registry (the holder) first, then the pools */
            if (layout) {
                if (h) fused_one(&h->ob);
                if (getenv("UP")) { WALK_B_UP(fused_one(o)); } else { WALK_B(fused_one(o)); }
                if (h) mark_one(&h->ob);
                if (getenv("UP")) { WALK_B_UP(mark_one(o)); } else { WALK_B(mark_one(o)); }
            } else if (pairs) {
                fused_one(&h->ob);
                for (gch *g = listA.next; g != &listA; g = g->next) fused_one((obj *)(g + 1));
                mark_one(&h->ob);
                for (gch *g = listA.next; g != &listA; g = g->next) mark_one((obj *)(g + 1));
            } else {
                /* today's steady list order: newest first, so references
                 * point ahead of the cursor (the holder last in allocation
                 * order is first here: as in gc_full's steady state, the
                 * holder is walked before the pairs) */
                WALK_A_BACK(fused_one(o));
                WALK_A_BACK(mark_one(o));
            }
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("%s layout %s: %.2f ns per object (best of %d), %ld passed\n",
               shape, layout ? "B 32-byte + side bytes" : "A 48-byte + list",
               best * 1e9 / (double)n, reps, passed);
    }
    return 0;
}

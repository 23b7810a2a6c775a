/*
 * test_sidebytes.c - membership in the pool's side bytes (docs/layout-16.md,
 * step 2): every state a tracked pool object's side byte goes through, the
 * objects that have none (the registry: blocks over 512 bytes, an
 * embedder's allocator, the raw fallback when the side array cannot be
 * allocated), and the checker comparing the side bytes with the generation
 * lists, each of its invariants broken on purpose and reported.
 */
#include "test.h"

#include "core/internal.h"
#include "mem/alloc_internal.h"

/* ---- runtimes and helpers ---- */

/* A runtime on the pool allocator (objects in pool blocks: they have side
 * bytes) whose raw memory the harness counts. */
static rcgc_runtime *pool_runtime(void)
{
    return t_runtime_pool(NULL);
}

/* o's side byte, found through the radix tree (not the runtime's shortcut),
 * or NULL for a registry object. */
static uint8_t *side(rcgc_runtime *rt, rcgc_object *o)
{
    return gc_side_lookup(rt->heap.pm, gc_head_of(o));
}

/* o's side byte's value, or -1 for a registry object. */
static int sbyte(rcgc_runtime *rt, rcgc_object *o)
{
    uint8_t *s = side(rt, o);
    return s != NULL ? *s : -1;
}

/* The byte's state as a number: -1 untracked, else the generation (3:
 * frozen); *fin its FINALIZED bit. */
static int state(rcgc_runtime *rt, rcgc_object *o, int *fin)
{
    int b = sbyte(rt, o);
    if (b < 0) return -2;
    if (fin != NULL) *fin = gc_side_is_finalized((uint8_t)b);
    return gc_side_is_tracked((uint8_t)b) ? gc_side_gen((uint8_t)b) : -1;
}

static int in_vec(rcgc_runtime *rt, rcgc_object *o, int k)
{
    int b = sbyte(rt, o);
    return b >= 0 && gc_side_in_vec((uint8_t)b, k);
}

/* rcgc_check with the debug stream in a temporary file: 1 if it fails with
 * RCGC_ECORRUPT and reports needle. */
static int reports(rcgc_runtime *rt, const char *needle)
{
    char buf[4096];
    FILE *f = tmpfile(), *old = rt->debug_stream;
    if (f == NULL) return 0;
    rt->debug_stream = f;
    int rc = rcgc_check(rt);
    rt->debug_stream = old;
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (rc == RCGC_ECORRUPT && strstr(buf, needle) != NULL) return 1;
    fprintf(stderr, "  rcgc_check returned %d, expected a report of \"%s\"; "
                    "it reported:\n%s\n", rc, needle, buf);
    return 0;
}

/* A GC container type as t_node_type with instances of size bytes. */
static rcgc_type sized_node_type(const char *name, size_t size)
{
    rcgc_type t = t_node_type;
    t.name = name;
    t.size = size;
    return t;
}

/* ---- the states of a pool object's byte ---- */

TEST(track_untrack_retrack)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *o = t_new(rt, &t_node_type, 1); /* tracked */
    REQUIRE(o != NULL);
    REQUIRE(side(rt, o) != NULL); /* a pool object */
    CHECK_EQ(rt->gc_registry, 0);
    int fin = 1;
    CHECK_EQ(state(rt, o, &fin), 0);
    CHECK_EQ(fin, 0);
    rcgc_object_untrack(rt, o);
    CHECK_EQ(state(rt, o, NULL), -1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_object_untrack(rt, o); /* twice: nothing */
    CHECK_EQ(state(rt, o, NULL), -1);
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK_EQ(state(rt, o, NULL), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* an object that was never tracked has a zero byte */
    rcgc_object *leafy = rcgc_object_new(rt, &t_node_type);
    REQUIRE(leafy != NULL);
    CHECK_EQ(sbyte(rt, leafy), 0);
    rcgc_decref(rt, leafy);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

TEST(finalized_survives_untrack)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    REQUIRE(o != NULL && side(rt, o) != NULL);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK_EQ(t_as(o)->nfinalize, 1);
    int fin = 0;
    CHECK_EQ(state(rt, o, &fin), 0);
    CHECK_EQ(fin, 1);
    rcgc_object_untrack(rt, o);
    CHECK_EQ(state(rt, o, &fin), -1);
    CHECK_EQ(fin, 1);
    CHECK(rcgc_object_is_finalized(o));
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK_EQ(state(rt, o, &fin), 0);
    CHECK_EQ(fin, 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* promoted, still finalized; the finalizer does not run again */
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(state(rt, o, &fin), 1);
    CHECK_EQ(fin, 1);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* A finalized object dies; the next object in its slot starts with a zero
 * byte.  Release builds hand the slot out again at once; debug builds keep
 * freed blocks in a quarantine of 4096 (RCGC_DEBUG >= 2), so objects are
 * made and freed until the slot comes back. */
TEST(reused_slot_not_finalized)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    REQUIRE(o != NULL);
    uint8_t *was = side(rt, o);
    REQUIRE(was != NULL);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK(gc_side_is_finalized(*was));
    void *addr = o;
    rcgc_decref(rt, o); /* its finalizer ran: freed at once */
    CHECK(gc_side_only_vec_bits(*was)); /* its vector entry stays, stale */
    rcgc_object *p = NULL;
    for (int n = 0; n < 3 * RCGC__QUARANTINE_SLOTS && p == NULL; n++) {
        rcgc_object *q = t_new(rt, &t_fnode_type, 2);
        REQUIRE(q != NULL);
        if ((void *)q == addr)
            p = q;
        else
            rcgc_decref(rt, q);
    }
    REQUIRE(p != NULL);
    CHECK(side(rt, p) == was);
    int fin = 1;
    CHECK_EQ(state(rt, p, &fin), 0);
    CHECK_EQ(fin, 0);
    CHECK(!rcgc_object_is_finalized(p));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, p);
    t_teardown(rt);
}

TEST(promotion_and_full_collections)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2), *c = t_node(rt, 3);
    REQUIRE(a != NULL && b != NULL && c != NULL);
    CHECK_EQ(state(rt, a, NULL), 0);
    rcgc_gc_collect(rt, 0); /* a, b, c: 0 -> 1 */
    CHECK_EQ(state(rt, a, NULL), 1);
    rcgc_object *d = t_node(rt, 4);
    REQUIRE(d != NULL);
    CHECK_EQ(state(rt, d, NULL), 0);
    rcgc_gc_collect(rt, 1); /* a, b, c and d (merged): -> 2 */
    CHECK_EQ(state(rt, a, NULL), 2);
    CHECK_EQ(state(rt, d, NULL), 2);
    rcgc_object *e = t_node(rt, 5), *f = t_node(rt, 6);
    REQUIRE(e != NULL && f != NULL);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(state(rt, e, NULL), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* a full collection: gen 0 and 1 merged into 2, survivors stay */
    rcgc_object *g = t_node(rt, 7);
    REQUIRE(g != NULL);
    t_link2(rt, e, f); /* a garbage cycle, in generation 1 */
    rcgc_decref(rt, e);
    rcgc_decref(rt, f);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(state(rt, g, NULL), 2);
    CHECK_EQ(state(rt, a, NULL), 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    rcgc_decref(rt, g);
    t_teardown(rt);
}

/* Objects the collection's later phases move to the older generation: a
 * cycle whose finalizer resurrects it, and one with a legacy finalizer
 * (uncollectable, kept in old and gc.garbage). */
static rcgc_object *resurrected;

static int resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    if (resurrected == NULL) {
        rcgc_incref(self);
        resurrected = self;
    }
    return 0;
}

TEST(resurrected_and_legacy_go_to_old)
{
    rcgc_runtime *rt = pool_runtime();
    resurrected = NULL;
    rcgc_object *a = t_new(rt, &t_fnode_type, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    t_as(a)->on_finalize = resurrect;
    t_link2(rt, a, b);
    rcgc_object *l = t_new(rt, &t_lnode_type, 3);
    REQUIRE(l != NULL);
    t_link2(rt, l, l);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, l);
    rcgc_gc_collect(rt, 0);
    REQUIRE(resurrected == a);
    int fin = 0;
    CHECK_EQ(state(rt, a, &fin), 1); /* resurrected: in old, finalized */
    CHECK_EQ(fin, 1);
    CHECK_EQ(state(rt, b, NULL), 1);
    CHECK_EQ(state(rt, l, NULL), 1); /* uncollectable: in old */
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_clear(rt, a);
    rcgc_decref(rt, a);
    resurrected = NULL;
    t_clean_garbage(rt);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

TEST(freeze_unfreeze)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    rcgc_gc_collect(rt, 0); /* a in generation 1 */
    rcgc_gc_freeze(rt);
    CHECK_EQ(state(rt, a, NULL), GC_GEN_FROZEN);
    CHECK_EQ(state(rt, b, NULL), GC_GEN_FROZEN);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_object *c = t_node(rt, 3);
    REQUIRE(c != NULL);
    CHECK_EQ(state(rt, c, NULL), 0);
    rcgc_gc_collect(rt, 2); /* frozen objects are not collected or moved */
    CHECK_EQ(state(rt, a, NULL), GC_GEN_FROZEN);
    CHECK_EQ(state(rt, c, NULL), 2);
    rcgc_object_untrack(rt, b); /* a frozen object untracked */
    CHECK_EQ(state(rt, b, NULL), -1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_unfreeze(rt);
    CHECK_EQ(state(rt, a, NULL), 2);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    t_teardown(rt);
}

/* ---- the registry: objects without a side byte ---- */

TEST(big_objects_are_registry)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_type big = sized_node_type("big", 600);
    rcgc_object *o = t_new(rt, &big, 1), *small = t_node(rt, 2);
    REQUIRE(o != NULL && small != NULL);
    CHECK(side(rt, o) == NULL);
    CHECK(side(rt, small) != NULL);
    CHECK_EQ(rt->gc_registry, 1);
    CHECK(rcgc_object_is_tracked(o));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* with a registry object alive, pool objects take the radix tree's
     * path: their bytes are kept all the same */
    rcgc_object *p = t_node(rt, 3);
    REQUIRE(p != NULL);
    CHECK_EQ(state(rt, p, NULL), 0);
    t_link2(rt, o, small);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(state(rt, small, NULL), 1);
    CHECK_EQ(state(rt, p, NULL), 1);
    rcgc_object_untrack(rt, p);
    CHECK_EQ(state(rt, p, NULL), -1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, p);
    rcgc_decref(rt, o);
    rcgc_decref(rt, small);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rt->gc_registry, 0);
    /* an instance allocated larger than its pool-sized type */
    rcgc_object *s = rcgc_object_new_sized(rt, &t_node_type, 2000);
    REQUIRE(s != NULL);
    CHECK_EQ(rt->gc_registry, 1);
    CHECK_EQ(rcgc_object_track(rt, s), 0);
    CHECK(side(rt, s) == NULL);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, s);
    CHECK_EQ(rt->gc_registry, 0);
    t_teardown(rt);
}

TEST(embedder_allocator_objects_are_registry)
{
    rcgc_runtime *rt = t_runtime(); /* objects from the test's allocator */
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    CHECK(side(rt, a) == NULL);
    CHECK_EQ(rt->gc_registry, 2);
    t_link2(rt, a, b);
    rcgc_gc_collect(rt, 0);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_unfreeze(rt);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rt->gc_registry, 0);
    t_teardown(rt);
}

/* ---- the side array cannot be allocated ---- */

/* A raw allocator over the C library that fails requests of exactly the
 * side array's size while fail_side is set. */
static struct {
    int fail_side, fail_realloc;
    long failed, live;
} sidefail;

static void *sf_malloc(void *ctx, size_t n)
{
    (void)ctx;
    void *p = malloc(n);
    sidefail.live += p != NULL;
    return p;
}

static void *sf_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    if (sidefail.fail_side && n * size == 65536) {
        sidefail.failed++;
        return NULL;
    }
    void *p = calloc(n, size);
    sidefail.live += p != NULL;
    return p;
}

static void *sf_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    if (sidefail.fail_realloc) {
        sidefail.failed++;
        return NULL;
    }
    void *q = realloc(p, n);
    sidefail.live += p == NULL && q != NULL;
    return q;
}

static void sf_free(void *ctx, void *p)
{
    (void)ctx;
    sidefail.live -= p != NULL;
    free(p);
}

TEST(side_array_failure)
{
    memset(&sidefail, 0, sizeof sidefail);
    sidefail.fail_side = 1;
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    rcgc_allocator raw = {NULL, sf_malloc, sf_calloc, sf_realloc, sf_free};
    c.heap.raw = raw;
    rcgc_runtime *rt = rcgc_runtime_new(&c);
    REQUIRE(rt != NULL);
    /* no arena can be had: the objects come from raw, as registry objects */
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    CHECK(sidefail.failed > 0);
    CHECK(!rcgc_pymalloc_owns(rt->heap.pm, a));
    CHECK(side(rt, a) == NULL);
    CHECK_EQ(rt->gc_registry, 2);
    t_link2(rt, a, b);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* the side array can be had again: the next object gets an arena */
    sidefail.fail_side = 0;
    rcgc_object *p = t_node(rt, 3);
    REQUIRE(p != NULL);
    CHECK(rcgc_pymalloc_owns(rt->heap.pm, p));
    CHECK_EQ(state(rt, p, NULL), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, p);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rt->gc_registry, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(r.alive, 0);
    CHECK_EQ(sidefail.live, 0);
}

/* A young vector that cannot grow (its raw allocator fails): the object
 * goes on generation 0's list instead, and everything that enumerates
 * generation 0 sees both kinds, the listed ones first. */
TEST(vector_growth_failure)
{
    memset(&sidefail, 0, sizeof sidefail);
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    rcgc_allocator raw = {NULL, sf_malloc, sf_calloc, sf_realloc, sf_free};
    c.heap.raw = raw;
    rcgc_runtime *rt = rcgc_runtime_new(&c);
    REQUIRE(rt != NULL);
    /* an untracked object first: the pool has its arena (whose vector
     * the failing realloc would refuse too) */
    rcgc_object *u = rcgc_object_new(rt, &t_node_type);
    REQUIRE(u != NULL && side(rt, u) != NULL);
    sidefail.fail_realloc = 1; /* vec[0] has no room yet: it cannot grow */
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    CHECK(sidefail.failed >= 2);
    CHECK(side(rt, a) != NULL);
    CHECK(!gc_is_vectored(gc_head_of(a)) && gc_is_tracked(gc_head_of(a)));
    CHECK_EQ(state(rt, a, NULL), 0);
    CHECK(!in_vec(rt, a, 0));
    CHECK_EQ(rt->vec[0].len, 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    sidefail.fail_realloc = 0;
    rcgc_object *d = t_node(rt, 3), *e = t_node(rt, 4);
    REQUIRE(d != NULL && e != NULL);
    CHECK(gc_is_vectored(gc_head_of(d)) && gc_is_vectored(gc_head_of(e)));
    CHECK_EQ(rt->vec[0].len, 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* untracked and tracked again: the entry of its vectored life stays
     * (stale, then live again), no second one */
    rcgc_object_untrack(rt, d);
    CHECK(!gc_is_tracked(gc_head_of(d)) && in_vec(rt, d, 0));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(rcgc_object_track(rt, d), 0);
    CHECK_EQ(rt->vec[0].len, 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* get_objects: the listed ones first, then the vector's in its order;
     * it changes nothing */
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, 0, &objs);
    REQUIRE(n == 4);
    CHECK(objs[0] == a && objs[1] == b && objs[2] == d && objs[3] == e);
    rcgc_objects_free(rt, objs, n);
    n = rcgc_gc_get_objects(rt, -1, &objs);
    CHECK_EQ(n, 4);
    rcgc_objects_free(rt, objs, n);
    CHECK_EQ(rt->vec[0].len, 2);
    CHECK(gc_is_vectored(gc_head_of(d)));
    CHECK_EQ(rcgc__pm_pins(d), 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* a collection after a failed push sees the listed objects too */
    sidefail.fail_realloc = 1;
    rcgc_object *f = t_node(rt, 5); /* vec[0] has room: no growth needed */
    REQUIRE(f != NULL);
    CHECK(gc_is_vectored(gc_head_of(f)));
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 2);
    sidefail.fail_realloc = 0;
    CHECK_EQ(state(rt, f, NULL), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, d);
    rcgc_decref(rt, e);
    rcgc_decref(rt, f);
    rcgc_decref(rt, u);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(r.alive, 0);
    CHECK_EQ(sidefail.live, 0);
}

/* With no collection, vec[0] stops growing at RCGC__VEC_MAX_LEN entries:
 * a full vector is linked onto generation 0's list, and everything is
 * still found, in tracking order. */
TEST(vector_bounded_without_collections)
{
    rcgc_runtime *rt = pool_runtime(); /* automatic collection off */
    enum { N = 3 * (1 << 16) + 100 };
    rcgc_object **o = malloc(N * sizeof *o);
    REQUIRE(o != NULL);
    for (int i = 0; i < N; i++) {
        o[i] = t_node(rt, i);
        REQUIRE(o[i] != NULL);
        REQUIRE(rt->vec[0].len <= RCGC__VEC_MAX_LEN);
    }
    CHECK_EQ(rt->vec[0].cap, RCGC__VEC_MAX_LEN);
    CHECK(rt->vec[0].len > 0 && rt->vec[0].len < RCGC__VEC_MAX_LEN);
    CHECK(!gc_is_vectored(gc_head_of(o[0])));
    CHECK(gc_is_vectored(gc_head_of(o[N - 1])));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_object **all = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, 0, &all);
    REQUIRE(n == N);
    int ordered = 1;
    for (int i = 0; i < N; i++) ordered &= all[i] == o[i];
    CHECK(ordered);
    rcgc_objects_free(rt, all, n);
    for (int i = 0; i < N; i++) rcgc_decref(rt, o[i]);
    free(o);
    t_teardown(rt);
}

/* ---- the checker: each invariant broken on purpose ---- */

TEST(checker_compares_both)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    rcgc_object *u = rcgc_object_new(rt, &t_node_type); /* untracked */
    REQUIRE(a != NULL && b != NULL && u != NULL);
    uint8_t *s = side(rt, a), *su = side(rt, u);
    REQUIRE(s != NULL && su != NULL);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_gc_collect(rt, 2); /* a and b listed, in generation 2 */
    CHECK_EQ(state(rt, a, NULL), 2);
    uint8_t saved = *s;

    /* a listed object without TRACKED */
    gc_side_poke(s, 0);
    CHECK(reports(rt, "has no TRACKED bit"));
    gc_side_poke(s, saved);
    CHECK_EQ(rcgc_check(rt), 0);

    /* a listed object whose byte names another generation */
    gc_side_set_gen(s, 1);
    CHECK(reports(rt, "names another generation"));
    gc_side_set_gen(s, 2);
    CHECK_EQ(rcgc_check(rt), 0);

    /* FINALIZED in one representation only */
    gc_side_set_finalized(s);
    CHECK(reports(rt, "FINALIZED differs"));
    gc_side_poke(s, saved);
    CHECK_EQ(rcgc_check(rt), 0);

    /* a free bit (6) */
    gc_side_poke(s, (uint8_t)(saved | 0x40));
    CHECK(reports(rt, "reserved side bit"));
    gc_side_poke(s, saved);
    CHECK_EQ(rcgc_check(rt), 0);

    /* TRACKED in the byte of an object on no list: the counts differ */
    gc_side_track(su);
    CHECK(reports(rt, "side bytes say TRACKED in generation 0"));
    gc_side_untrack(su);
    CHECK_EQ(rcgc_check(rt), 0);

    /* an untracked byte with a generation */
    gc_side_poke(su, 4); /* generation 2, not TRACKED */
    CHECK(reports(rt, "untracked side byte with a generation"));
    gc_side_poke(su, 0);
    CHECK_EQ(rcgc_check(rt), 0);

    /* a free slot with a bit: the last granule of a's pool, never carved
     * (a's pool holds a few blocks) */
    char *last = (char *)((uintptr_t)a | (RCGC_PYMALLOC_POOL_SIZE - 1)) - 15;
    uint8_t *sv = gc_side_lookup(rt->heap.pm, (const gc_head *)(void *)last);
    REQUIRE(sv != NULL && *sv == 0);
    gc_side_poke(sv, 1);
    CHECK(reports(rt, "a granule in no block in use"));
    gc_side_poke(sv, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    /* the same in the slot of an object just freed (release builds give
     * the block back at once; debug ones keep it in the quarantine, in use
     * as far as the pool knows: a TRACKED byte on no list) */
    rcgc_object *dead = rcgc_object_new(rt, &t_node_type);
    REQUIRE(dead != NULL);
    uint8_t *sd = side(rt, dead);
    REQUIRE(sd != NULL);
    rcgc_decref(rt, dead);
    CHECK(gc_side_only_vec_bits(*sd));
    uint8_t sdsaved = *sd;
    gc_side_poke(sd, (uint8_t)(sdsaved | 1));
    CHECK(reports(rt, RCGC_DEBUG >= 2 ? "side bytes say TRACKED in generation 0"
                                      : "a granule in no block in use"));
    gc_side_poke(sd, sdsaved);
    CHECK_EQ(rcgc_check(rt), 0);

    /* a vectored object (c, young: in vec[0]) whose byte names another
     * generation, as after a promotion the object missed, or has FINALIZED
     * alone */
    rcgc_object *c = t_node(rt, 3);
    REQUIRE(c != NULL);
    uint8_t *sc = side(rt, c);
    CHECK_EQ(state(rt, c, NULL), 0);
    CHECK(gc_is_vectored(gc_head_of(c)));
    gc_side_set_gen(sc, 1);
    CHECK(reports(rt, "vectored object of a generation that has no vector"));
    gc_side_set_gen(sc, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    gc_side_set_finalized(sc);
    CHECK(reports(rt, "FINALIZED differs between the side byte and the header "
                      "of a vectored object"));
    gc_side_poke(sc, (uint8_t)(*sc & ~8u)); /* FINALIZED is bit 3 */
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_decref(rt, c);

    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, u);
    t_teardown(rt);
}

TEST(checker_registry_count)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_type big = sized_node_type("big", 600);
    rcgc_object *o = t_new(rt, &big, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(rt->gc_registry, 1);
    rt->gc_registry = 0; /* the runtime's shortcut would take o for a pool
                            object */
    CHECK(reports(rt, "registry object (no pool block) while the runtime "
                      "counts none"));
    rt->gc_registry = 1;
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_decref(rt, o);
    t_teardown(rt);
}

/* ---- the young vectors (step 3) ---- */

TEST(vector_entry_once)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL && side(rt, o) != NULL);
    CHECK_EQ(rt->vec[0].len, 1);
    CHECK(rt->vec[0].v[0] == gc_head_of(o));
    CHECK(in_vec(rt, o, 0));
    CHECK_EQ(rcgc__pm_pins(o), 1);
    rcgc_object_untrack(rt, o); /* the entry stays (stale), the bit too */
    CHECK(in_vec(rt, o, 0));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(rcgc_object_track(rt, o), 0); /* no second entry */
    CHECK_EQ(rt->vec[0].len, 1);
    CHECK_EQ(rcgc__pm_pins(o), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, o);
    t_teardown(rt);
}

TEST(vectors_follow_generations)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2), *c = t_node(rt, 3);
    REQUIRE(a != NULL && b != NULL && c != NULL);
    CHECK_EQ(rt->vec[0].len, 3);
    CHECK(gc_is_vectored(gc_head_of(a)));
    CHECK_EQ(rcgc__pm_pins(a), 3);
    /* a young collection links vec[0] and takes it whole; the survivors
     * are listed in generation 1 (RCGC__VEC_GENS is 1) */
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(rt->vec[0].len, 0);
    CHECK_EQ(rt->vec[1].len, 0);
    CHECK(!in_vec(rt, a, 0) && !in_vec(rt, a, 1));
    CHECK(!gc_is_vectored(gc_head_of(a)));
    CHECK_EQ(state(rt, a, NULL), 1);
    CHECK_EQ(rcgc__pm_pins(a), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_object *d = t_node(rt, 4);
    REQUIRE(d != NULL);
    rcgc_gc_collect(rt, 1); /* d linked too: everything in generation 2 */
    CHECK_EQ(rt->vec[0].len, 0);
    CHECK_EQ(sbyte(rt, d) & 0x30, 0);
    CHECK_EQ(state(rt, d, NULL), 2);
    CHECK_EQ(rcgc__pm_pins(a), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* a full collection and a freeze take vec[0] too */
    rcgc_object *e = t_node(rt, 5);
    REQUIRE(e != NULL);
    rcgc_gc_collect(rt, 0);
    rcgc_object *f = t_node(rt, 6);
    REQUIRE(f != NULL);
    CHECK_EQ(rt->vec[0].len, 1);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rt->vec[0].len + rt->vec[1].len, 0);
    CHECK_EQ(state(rt, f, NULL), 2);
    rcgc_object *g = t_node(rt, 7);
    REQUIRE(g != NULL);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rt->vec[0].len, 0);
    CHECK_EQ(state(rt, g, NULL), GC_GEN_FROZEN);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_unfreeze(rt);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    rcgc_decref(rt, e);
    rcgc_decref(rt, f);
    rcgc_decref(rt, g);
    t_teardown(rt);
}

/* A freed object's entry stays until its vector is consumed, and keeps its
 * pool's class: an empty pinned pool stays on its class list; when the
 * collection drops the entry, the pool goes back to its arena and can take
 * another class. */
TEST(stale_entry_pins_pool)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL && side(rt, o) != NULL);
    pm_pool *pool = PM_POOL_ADDR(o);
    uint32_t cls = pool->szidx;
    rcgc_decref(rt, o);
    if (RCGC_DEBUG >= 2) { /* the quarantine holds the block */
        CHECK_EQ(rt->vec[0].len, 1);
        rcgc_gc_collect(rt, 0);
        CHECK_EQ(rt->vec[0].len, 0);
        t_teardown(rt);
        return;
    }
    CHECK_EQ(pool->count, 0);
    CHECK_EQ(rcgc__pm_pins(pool), 1);
    CHECK_EQ(rt->vec[0].len, 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(rcgc_pymalloc_check(rt->heap.pm, stderr), 0);
    /* a block of another class does not come from the pinned pool */
    void *other = rcgc_mem_malloc(rt, 400);
    REQUIRE(other != NULL);
    CHECK(PM_POOL_ADDR(other) != pool);
    CHECK_EQ(pool->szidx, cls);
    rcgc_gc_collect(rt, 0); /* the stale entry goes, and the pin */
    CHECK_EQ(rt->vec[0].len, 0);
    CHECK_EQ(rcgc__pm_pins(pool), 0);
    CHECK_EQ(rcgc_pymalloc_check(rt->heap.pm, stderr), 0);
    void *again = rcgc_mem_malloc(rt, 200); /* a third class: a free pool */
    REQUIRE(again != NULL);
    CHECK(PM_POOL_ADDR(again) == pool);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_mem_free(rt, other);
    rcgc_mem_free(rt, again);
    t_teardown(rt);
}

TEST(checker_vectors)
{
    rcgc_runtime *rt = pool_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    uint8_t *s = side(rt, a);
    REQUIRE(s != NULL && rt->vec[0].len == 2 && rt->vec[0].cap > 2);

    /* a young object without its bit (invariant 1) */
    gc_side_clear_in_vec(s, 0);
    CHECK(reports(rt, "an entry whose side byte lacks the vector's IN_VEC bit"));
    gc_side_set_in_vec(s, 0);
    CHECK_EQ(rcgc_check(rt), 0);

    /* an entry twice (invariant 2) */
    struct rcgc__vec *v = &rt->vec[0];
    v->v[v->len++] = gc_head_of(a);
    rcgc__pm_pin(a);
    CHECK(reports(rt, "entries in vec[0]"));
    v->len--;
    rcgc__pm_set_pins(a, rcgc__pm_pins(a) - 1);
    CHECK_EQ(rcgc_check(rt), 0);

    /* a bit without its entry: b's entry taken out */
    gc_head *gb = v->v[1];
    REQUIRE(gb == gc_head_of(b));
    v->len--;
    rcgc__pm_set_pins(b, rcgc__pm_pins(b) - 1);
    CHECK(reports(rt, "entries in vec[0]"));
    v->v[v->len++] = gb;
    rcgc__pm_pin(b);
    CHECK_EQ(rcgc_check(rt), 0);

    /* the pins (invariant 3) */
    uint32_t pins = rcgc__pm_pins(a);
    rcgc__pm_set_pins(a, pins + 1);
    CHECK(reports(rt, "pinned more often"));
    rcgc__pm_set_pins(a, pins - 1);
    CHECK(reports(rt, "fewer pins than entries"));
    rcgc__pm_set_pins(a, pins);
    CHECK_EQ(rcgc_check(rt), 0);

    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    t_teardown(rt);
}

TEST_MAIN(T(track_untrack_retrack), T(finalized_survives_untrack),
          T(reused_slot_not_finalized), T(promotion_and_full_collections),
          T(resurrected_and_legacy_go_to_old), T(freeze_unfreeze),
          T(big_objects_are_registry),
          T(embedder_allocator_objects_are_registry), T(side_array_failure), T(vector_growth_failure),
          T(vector_bounded_without_collections),
          T(checker_compares_both), T(checker_registry_count),
          T(vector_entry_once), T(vectors_follow_generations),
          T(stale_entry_pins_pool), T(checker_vectors))

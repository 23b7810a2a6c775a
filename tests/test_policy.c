/*
 * test_policy.c - when automatic collections run (src/core/policy.c,
 * docs/collector.md "Policies"): the adaptive policy's rules (the young
 * threshold doubled at <= 1 % unreachable and halved above, its floor and
 * its cap, the net-growth gate of full collections, the byte trigger), the
 * policy API, the heap's byte count, and the ceiling (an emergency full
 * collection, then a clean RCGC_ENOMEM: with garbage, with live objects,
 * inside a finalizer and a collection, in deferred mode, under fault
 * injection).  CPython 3.11's cadence itself is test_gcmodule.c's (those
 * tests select RCGC_POLICY_CPYTHON311).
 */
#include "test.h"
#include "rcgc_mem.h"

#define BLOB 10000 /* instance bytes of a "big object" */

static rcgc_runtime *policy_runtime(rcgc_gc_policy policy, int t0,
                                    size_t young_bytes)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_policy = policy;
    cfg.threshold[0] = t0;
    cfg.gc_young_bytes = young_bytes;
    cfg.gc_enabled = 0;
    return t_runtime_cfg(&cfg);
}

static void stats(rcgc_runtime *rt, rcgc_ssize out[3])
{
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    for (int i = 0; i < 3; i++) out[i] = s[i].collections;
}

static rcgc_ssize tracked(rcgc_runtime *rt)
{
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    return s.tracked;
}

static size_t heap_bytes(rcgc_runtime *rt)
{
    return rcgc_runtime_heap_bytes(rt, NULL);
}

/* NEW: a tracked node BLOB bytes larger than its type; NULL when out of
 * memory (or over the ceiling). */
static rcgc_object *blob(rcgc_runtime *rt)
{
    rcgc_object *o = rcgc_object_new_sized(rt, &t_node_type, t_node_type.size + BLOB);
    if (o != NULL) rcgc_object_track(rt, o);
    return o;
}

/* A dropped self-cycle of a blob: cyclic garbage of BLOB-odd bytes.
 * 0, or RCGC_ENOMEM when the allocation failed. */
static int blob_garbage(rcgc_runtime *rt)
{
    rcgc_object *o = blob(rt);
    if (o == NULL) return RCGC_ENOMEM;
    if (t_append(rt, o, o) != 0) {
        rcgc_decref(rt, o);
        return RCGC_ENOMEM;
    }
    rcgc_decref(rt, o);
    return 0;
}

/* A holder with n tracked nodes, then a full collection: the long-lived
 * heap (n + 1 objects survive it). */
static rcgc_object *long_lived(rcgc_runtime *rt, int n)
{
    rcgc_object *h = t_node(rt, 0);
    for (int i = 0; i < n; i++) t_append_steal(rt, h, t_node(rt, i));
    rcgc_gc_collect(rt, 2);
    return h;
}

/* ---- the policy API ---- */

TEST(policy_config_and_api)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    CHECK_EQ(cfg.gc_policy, RCGC_POLICY_DEFAULT);
    CHECK_EQ(cfg.heap_limit, 0);
    CHECK(cfg.gc_young_bytes > 0);
    cfg.gc_policy = (rcgc_gc_policy)7;
    rcgc_runtime *bad = NULL;
    CHECK_EQ(rcgc_runtime_create(&cfg, &bad), RCGC_EINVAL);
    CHECK(bad == NULL);

    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_CPYTHON311, 700, 0);
    CHECK_EQ(rcgc_gc_get_policy(rt), RCGC_POLICY_CPYTHON311);
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 700);
    CHECK_EQ(rcgc_gc_set_policy(rt, (rcgc_gc_policy)-1), RCGC_EINVAL);
    CHECK_EQ(rcgc_gc_get_policy(rt), RCGC_POLICY_CPYTHON311);
    CHECK_EQ(rcgc_gc_set_policy(rt, RCGC_POLICY_ADAPTIVE), 0);
    CHECK_EQ(rcgc_gc_get_policy(rt), RCGC_POLICY_ADAPTIVE);
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 700);
    /* set_threshold: get_threshold gives what was set, in every policy */
    CHECK_EQ(rcgc_gc_set_threshold(rt, 50, 3, 4), 0);
    int th[3];
    rcgc_gc_get_threshold(rt, th);
    CHECK_EQ(th[0], 50);
    CHECK_EQ(th[1], 3);
    CHECK_EQ(th[2], 4);
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 50);
    CHECK_EQ(rcgc_runtime_get_heap_limit(rt), 0);
    CHECK_EQ(rcgc_runtime_set_heap_limit(rt, 12345), 0);
    CHECK_EQ(rcgc_runtime_get_heap_limit(rt), 12345);
    CHECK_EQ(rcgc_runtime_set_heap_limit(rt, 0), 0);
    t_finish(rt);
}

/* The heap's bytes: every object at its block size (headers included), a
 * sized one at its own size, back to the start once they are freed. */
TEST(heap_bytes_count_objects)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_CPYTHON311, 700, 0);
    size_t b0 = heap_bytes(rt);
    rcgc_object *a = t_node(rt, 1);
    size_t one = heap_bytes(rt) - b0;
    CHECK(one >= t_node_type.size);
    rcgc_object *b = blob(rt);
    REQUIRE(b != NULL);
    CHECK_EQ(heap_bytes(rt) - b0, 2 * one + BLOB);
    size_t before_leaf = heap_bytes(rt);
    rcgc_object *leaf = t_leaf(rt, 2);
    size_t l = heap_bytes(rt) - before_leaf;
    CHECK(l >= t_leaf_type.size);
    rcgc_decref(rt, b);
    CHECK_EQ(heap_bytes(rt) - b0, one + l);
    rcgc_decref(rt, leaf);
    CHECK_EQ(heap_bytes(rt) - b0, one);
    size_t peak = 0;
    CHECK_EQ(rcgc_runtime_heap_bytes(rt, &peak), b0 + one);
    CHECK(peak >= b0 + 2 * one + BLOB);
    rcgc_decref(rt, a);
    CHECK_EQ(heap_bytes(rt), b0);
    t_finish(rt);
}

/* A runtime on its heap's own pool allocator (t_runtime's counting hooks
 * would send every object through the heap's front end): the object path's
 * inline fast paths (src/core/object.c, docs/allocator.md "In the
 * runtime").  arena: the pool's arena allocator (NULL: the default). */
static rcgc_runtime *pool_runtime(const rcgc_arena_allocator *arena)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    if (arena != NULL) cfg.heap.pymalloc.arena = *arena;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) t_fail(__FILE__, __LINE__, "rcgc_runtime_new failed");
    return rt;
}

/* pool_runtime's teardown: every checker, no object, no byte, no block. */
static void pool_finish(rcgc_runtime *rt, size_t b0)
{
    CHECK_EQ(rcgc_check(rt), 0);
    CHECK_EQ(heap_bytes(rt), b0);
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.objects, 0);
    if (RCGC_DEBUG < 2) /* else the quarantine keeps freed blocks */
        CHECK_EQ(rcgc_heap_blocks(rcgc_runtime_heap(rt), RCGC_DOMAIN_OBJ), 0);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(r.alive + r.uncollectable + r.leaked, 0);
}

static void *no_arena(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    return NULL;
}

static void no_arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)ptr;
    (void)size;
}

/* A hook over the object domain that forwards to the hooks it replaced
 * and counts the frees it saw. */
static rcgc_allocator fwd_inner;
static long fwd_frees;

static void *fwd_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return fwd_inner.malloc(fwd_inner.ctx, n);
}

static void *fwd_calloc(void *ctx, size_t n, size_t m)
{
    (void)ctx;
    return fwd_inner.calloc(fwd_inner.ctx, n, m);
}

static void *fwd_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return fwd_inner.realloc(fwd_inner.ctx, p, n);
}

static void fwd_free(void *ctx, void *p)
{
    (void)ctx;
    fwd_frees++;
    fwd_inner.free(fwd_inner.ctx, p);
}

/* The heap's bytes on the pool allocator: an object at its block's size
 * class, an instance larger than its type too (its pool block tells the
 * size at the free); one too large for a pool does not disturb the frees
 * of the others (they ask the radix tree while it lives). */
TEST(heap_bytes_pool_blocks)
{
    rcgc_runtime *rt = pool_runtime(NULL);
    size_t b0 = heap_bytes(rt);
    rcgc_object *leaf = t_leaf(rt, 1);
    size_t one = heap_bytes(rt) - b0;
    CHECK_EQ(one % 16, 0);
    CHECK(one >= t_leaf_type.size);
    rcgc_object *sized = rcgc_object_new_sized(rt, &t_leaf_type, t_leaf_type.size + 40);
    REQUIRE(sized != NULL);
    size_t s = heap_bytes(rt) - b0 - one;
    CHECK(s - one == 32 || s - one == 48); /* 40 more bytes, in 16s */
    rcgc_object *big = rcgc_object_new_sized(rt, &t_leaf_type, t_leaf_type.size + BLOB);
    REQUIRE(big != NULL);
    CHECK_EQ(heap_bytes(rt) - b0, one + s + one + BLOB); /* BLOB: 16 * 625 */
    /* while big lives (a block that is no pool block), others come and go */
    for (int round = 0; round < 3; round++) {
        rcgc_object *h = t_node(rt, 0);
        for (int i = 0; i < 500; i++) t_append_steal(rt, h, t_leaf(rt, i));
        rcgc_decref(rt, h);
        CHECK_EQ(heap_bytes(rt) - b0, one + s + one + BLOB);
    }
    rcgc_decref(rt, sized);
    CHECK_EQ(heap_bytes(rt) - b0, one + one + BLOB);
    rcgc_decref(rt, big);
    CHECK_EQ(heap_bytes(rt) - b0, one);
    size_t peak = 0;
    (void)rcgc_runtime_heap_bytes(rt, &peak);
    CHECK(peak >= b0 + one + s + one + BLOB + one);
    rcgc_decref(rt, leaf);
    pool_finish(rt, b0);
}

/* No arena can be had: every object comes from the pool allocator's raw
 * fallback (odd_blocks), is counted and freed as well. */
TEST(heap_bytes_raw_fallback)
{
    rcgc_arena_allocator none = {NULL, no_arena, no_arena_free, NULL};
    rcgc_runtime *rt = pool_runtime(&none);
    size_t b0 = heap_bytes(rt);
    rcgc_object *h = t_node(rt, 0);
    size_t one = heap_bytes(rt) - b0;
    for (int i = 0; i < 100; i++) t_append_steal(rt, h, t_node(rt, i));
    CHECK_EQ(heap_bytes(rt) - b0, 101 * one);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_decref(rt, h);
    pool_finish(rt, b0);
}

/* A hook installed over the object domain while objects live: blocks the
 * inline path took are freed through the hook, blocks taken through the
 * hook go back inline once it is gone; the counts stay exact. */
TEST(heap_bytes_hook_over_live_objects)
{
    rcgc_runtime *rt = pool_runtime(NULL);
    rcgc_heap *heap = rcgc_runtime_heap(rt);
    size_t b0 = heap_bytes(rt);
    rcgc_object *before = t_node(rt, 0);
    for (int i = 0; i < 50; i++) t_append_steal(rt, before, t_leaf(rt, i));
    size_t with_before = heap_bytes(rt);
    REQUIRE(rcgc_heap_get_allocator(heap, RCGC_DOMAIN_OBJ, &fwd_inner) == 0);
    rcgc_allocator fwd = {NULL, fwd_malloc, fwd_calloc, fwd_realloc, fwd_free};
    REQUIRE(rcgc_heap_set_allocator(heap, RCGC_DOMAIN_OBJ, &fwd) == 0);
    fwd_frees = 0;
    rcgc_object *during = t_node(rt, 1);
    for (int i = 0; i < 50; i++) t_append_steal(rt, during, t_leaf(rt, i));
    rcgc_decref(rt, before);
    if (RCGC_DEBUG < 2) CHECK_EQ(fwd_frees, 51); /* else quarantined */
    CHECK_EQ(heap_bytes(rt), b0 + (with_before - b0));
    REQUIRE(rcgc_heap_set_allocator(heap, RCGC_DOMAIN_OBJ, &fwd_inner) == 0);
    rcgc_decref(rt, during);
    if (RCGC_DEBUG < 2) CHECK_EQ(fwd_frees, 51);
    pool_finish(rt, b0);
}

/* The object path's facts of static types (src/core/object.c, rcgc__tfacts):
 * more types than the table has slots, so that types share slots and
 * push each other out, of every kind (GC or not, with a finalizer, with
 * release, weakly referenceable, sized instances, one too large for a pool
 * block): every allocation is zeroed and counted, every death runs its
 * type's hooks once, and the counts come back. */
#define NTYPES 70
static rcgc_type many[NTYPES];
static long many_finalized, many_released;

static int many_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;
}

static int many_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    (void)self;
    many_finalized++;
    return 0;
}

static void many_release(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    (void)self;
    many_released++;
}

static void many_types(void)
{
    for (int k = 0; k < NTYPES; k++) {
        rcgc_type t = {0};
        t.name = "many";
        t.size = sizeof(rcgc_object) + 8 * (size_t)(k % 31);
        if (k == NTYPES - 1) t.size = 600; /* no pool block */
        switch (k % 5) {
        case 0: t.flags = RCGC_TYPE_GC; t.finalize = many_finalize; break;
        case 1: t.flags = RCGC_TYPE_GC; break;
        case 2: break;
        case 3: t.release = many_release; break;
        default: t.flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF; break;
        }
        if (t.flags & RCGC_TYPE_GC) t.traverse = many_traverse;
        many[k] = t;
    }
}

static int all_zero(const rcgc_object *o, size_t size)
{
    const unsigned char *p = (const unsigned char *)o;
    for (size_t i = sizeof(rcgc_object); i < size; i++)
        if (p[i] != 0) return 0;
    return 1;
}

TEST(type_facts_many_types)
{
    many_types();
    many_finalized = many_released = 0;
    rcgc_runtime *rt = pool_runtime(NULL);
    rcgc_heap *heap = rcgc_runtime_heap(rt);
    size_t b0 = heap_bytes(rt);
    rcgc_runtime_stats s0;
    rcgc_runtime_get_stats(rt, &s0);
    enum { N = 3 * NTYPES };
    rcgc_object *objs[N];
    long finalizers = 0, releases = 0;
    unsigned seed = 12345;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            const rcgc_type *t = &many[(i * 7 + round) % NTYPES];
            size_t size = t->size;
            if (i % 11 == 0 && size < 600) size += 24; /* sized instance */
            objs[i] = i % 11 == 0 ? rcgc_object_new_sized(rt, t, size)
                                  : rcgc_object_new(rt, t);
            REQUIRE(objs[i] != NULL);
            CHECK(all_zero(objs[i], size));
            memset((char *)objs[i] + sizeof(rcgc_object), 0xA5,
                   size - sizeof(rcgc_object)); /* a reused block shows it */
            if (t->flags & RCGC_TYPE_GC) rcgc_object_track(rt, objs[i]);
            finalizers += t->finalize != NULL;
            releases += t->release != NULL;
        }
        rcgc_runtime_stats s;
        rcgc_runtime_get_stats(rt, &s);
        CHECK_EQ(s.objects, N);
        if (RCGC_DEBUG < 2) { /* else the quarantine holds freed blocks */
            CHECK_EQ(s.blocks - s.objects, s0.blocks);
            CHECK_EQ(rcgc_heap_blocks(heap, RCGC_DOMAIN_OBJ), N);
        }
        CHECK_EQ(rcgc_check(rt), 0);
        for (int i = N - 1; i > 0; i--) { /* free in a shuffled order */
            seed = seed * 1103515245u + 12345u;
            int j = (int)((seed >> 8) % (unsigned)(i + 1));
            rcgc_object *o = objs[i];
            objs[i] = objs[j];
            objs[j] = o;
        }
        for (int i = 0; i < N; i++) rcgc_decref(rt, objs[i]);
        CHECK_EQ(many_finalized, finalizers);
        CHECK_EQ(many_released, releases);
        CHECK_EQ(heap_bytes(rt), b0);
    }
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    if (RCGC_DEBUG < 2) CHECK_EQ(s.blocks, s0.blocks);
    CHECK_EQ(s.allocations, 4 * N);
    CHECK_EQ(s.tracked, 0);
    pool_finish(rt, b0);
}

/* ---- the adaptive young threshold ---- */

/* Nothing dies: each young collection doubles the threshold (100, 200,
 * 400, 800). */
TEST(adaptive_threshold_doubles)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_ADAPTIVE, 100, 0);
    rcgc_object *h = long_lived(rt, 9999); /* 10,000 long-lived: the full
                                              gate opens at +2,500 */
    rcgc_gc_enable(rt);
    rcgc_ssize s[3];
    int expect_thr[] = {200, 400, 800};
    for (int k = 0; k < 3; k++) {
        int thr = rcgc_gc_get_young_threshold(rt);
        for (int i = 0; i < thr; i++) t_append_steal(rt, h, t_node(rt, i));
        stats(rt, s);
        CHECK_EQ(s[0], k); /* count[0] == thr: not yet */
        t_append_steal(rt, h, t_node(rt, 0));
        stats(rt, s);
        CHECK_EQ(s[0], k + 1);
        CHECK_EQ(s[2], 1); /* only the first, by hand */
        CHECK_EQ(rcgc_gc_get_young_threshold(rt), expect_thr[k]);
    }
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* The cap: 300 long-lived, threshold[0] 200; the first trigger is a full
 * collection (+200 passes the gate's +75) that finds nothing, so the
 * threshold would double to 400, but half of the 500 tracked is 250.  (A
 * young collection cannot meet the cap of half the heap: the gate opens
 * before the young generation grows that large.) */
TEST(adaptive_threshold_capped_by_heap)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_ADAPTIVE, 200, 0);
    rcgc_object *h = long_lived(rt, 299);
    rcgc_gc_enable(rt);
    for (int i = 0; i < 201; i++) t_append_steal(rt, h, t_node(rt, i));
    rcgc_ssize s[3];
    stats(rt, s);
    CHECK_EQ(s[0], 0);
    CHECK_EQ(s[2], 2); /* long_lived's, then the automatic one */
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 500 / 2);
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Exactly 1 % unreachable still doubles; more halves; never below
 * threshold[0]. */
TEST(adaptive_threshold_halves_above_one_percent)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_ADAPTIVE, 100, 0);
    rcgc_object *h = long_lived(rt, 9999);
    rcgc_gc_enable(rt);
    for (int i = 0; i < 101; i++) t_append_steal(rt, h, t_node(rt, i));
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 200);
    /* 201 examined (the one allocated at the last trigger, then 200), 2
     * unreachable (0.995 %): doubles */
    for (int i = 0; i < 198; i++) t_append_steal(rt, h, t_node(rt, i));
    for (int i = 0; i < 2; i++) rcgc_decref(rt, t_self_cycle(rt, &t_node_type, i));
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 200);
    t_append_steal(rt, h, t_node(rt, 0));
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 400);
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);
    CHECK_EQ(gs[0].collected, 2);
    /* 401 examined, 5 unreachable (1.25 %): halves */
    for (int i = 0; i < 395; i++) t_append_steal(rt, h, t_node(rt, i));
    for (int i = 0; i < 5; i++) rcgc_decref(rt, t_self_cycle(rt, &t_node_type, i));
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 400);
    t_append_steal(rt, h, t_node(rt, 0));
    rcgc_gc_get_stats(rt, gs);
    CHECK_EQ(gs[0].collections, 3);
    CHECK_EQ(gs[0].collected, 7);
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 200);
    /* all garbage: 100, then never below threshold[0] */
    for (int k = 0; k < 3; k++) {
        int before = (int)gs[0].collections;
        while (gs[0].collections == before) {
            rcgc_decref(rt, t_self_cycle(rt, &t_node_type, k));
            rcgc_gc_get_stats(rt, gs);
        }
        CHECK_EQ(rcgc_gc_get_young_threshold(rt), 100);
    }
    CHECK_EQ(gs[2].collections, 1);
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* ---- the net-growth gate of full collections ---- */

/* 1,000 objects survived the last full collection: a trigger with 249 more
 * tracked runs a young collection, one with 250 a full collection (whatever
 * count[2] says). */
static void gate_case(int t0, int expect_full)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_ADAPTIVE, t0, 0);
    rcgc_object *h = long_lived(rt, 999);
    CHECK_EQ(tracked(rt), 1000);
    rcgc_gc_enable(rt);
    for (int i = 0; i < t0; i++) t_append_steal(rt, h, t_node(rt, i));
    rcgc_ssize s[3];
    stats(rt, s);
    CHECK_EQ(s[0] + s[1], 0);
    CHECK_EQ(s[2], 1);
    t_append_steal(rt, h, t_node(rt, 0)); /* count[0] passes t0 */
    stats(rt, s);
    CHECK_EQ(s[2], 1 + expect_full);
    CHECK_EQ(s[0], !expect_full);
    int cnt[3];
    rcgc_gc_get_count(rt, cnt);
    CHECK_EQ(cnt[2], 0);
    CHECK_EQ(cnt[1], expect_full ? 0 : 1);
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    t_finish(rt);
}

TEST(adaptive_full_gate_at_quarter_growth)
{
    gate_case(249, 0);
    gate_case(250, 1);
}

/* Under cpython311 the same growth never gives a full collection before
 * count[2] passes threshold[2] (the long-lived rule). */
TEST(cpython311_ignores_growth_gate)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_CPYTHON311, 250, 0);
    rcgc_object *h = long_lived(rt, 999);
    rcgc_gc_enable(rt);
    for (int i = 0; i < 251; i++) t_append_steal(rt, h, t_node(rt, i));
    rcgc_ssize s[3];
    stats(rt, s);
    CHECK_EQ(s[0], 1);
    CHECK_EQ(s[2], 1);
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Frozen objects are not part of the heap the gate measures: 3,000 frozen,
 * then about 2,200 that survive a full collection; 100 more give a young
 * collection (counting the frozen ones, the gate would be open). */
TEST(adaptive_gate_leaves_frozen_out)
{
    rcgc_runtime *rt = policy_runtime(RCGC_POLICY_ADAPTIVE, 100, 0);
    rcgc_object *h = long_lived(rt, 2999);
    rcgc_gc_freeze(rt); /* all 3,000 */
    rcgc_ssize s[3];
    /* right after the freeze nothing unfrozen survived a full collection:
     * the first trigger gives one (of the 100 unfrozen only), and so does
     * the next (100 survived it, 100 more is more than 25) */
    rcgc_gc_enable(rt);
    for (int i = 0; i < 101; i++) t_append_steal(rt, h, t_node(rt, i));
    stats(rt, s);
    CHECK_EQ(s[2], 2);
    CHECK_EQ(rcgc_gc_get_young_threshold(rt), 100); /* the cap, 100 / 2,
                                                        is below the floor */
    for (int i = 0; i < 101; i++) t_append_steal(rt, h, t_node(rt, i));
    stats(rt, s);
    CHECK_EQ(s[2], 3);
    CHECK_EQ(s[0], 0);
    rcgc_gc_disable(rt);
    rcgc_object *h2 = long_lived(rt, 1999); /* 2,000 + the 202 above */
    rcgc_gc_set_threshold(rt, 100, 10, 10);
    rcgc_gc_enable(rt);
    for (int i = 0; i < 101; i++) t_append_steal(rt, h2, t_node(rt, i));
    stats(rt, s);
    CHECK_EQ(s[2], 4);
    CHECK_EQ(s[0], 1);
    rcgc_gc_disable(rt);
    rcgc_gc_unfreeze(rt);
    rcgc_decref(rt, h);
    rcgc_decref(rt, h2);
    t_finish(rt);
}

/* ---- bytes ---- */

/* With a 64 KiB budget, the seventh blob of 10,000 bytes triggers a
 * collection although count[0] is far below threshold[0]; without a
 * budget (or under cpython311) none runs. */
TEST(adaptive_byte_trigger)
{
    size_t budget = 64 * 1024;
    for (int variant = 0; variant < 3; variant++) {
        rcgc_runtime *rt =
            variant == 2 ? policy_runtime(RCGC_POLICY_CPYTHON311, 700, budget)
                         : policy_runtime(RCGC_POLICY_ADAPTIVE, 700,
                                          variant == 0 ? budget : 0);
        rcgc_object *h = t_node(rt, 0);
        rcgc_gc_enable(rt);
        rcgc_gc_set_policy(rt, rcgc_gc_get_policy(rt)); /* budget from here */
        size_t b0 = heap_bytes(rt);
        rcgc_object *first = blob(rt);
        size_t need = heap_bytes(rt) - b0;
        t_append_steal(rt, h, first);
        long at = 0;
        for (long k = 2; k <= 20 && at == 0; k++) {
            rcgc_ssize s[3];
            t_append_steal(rt, h, blob(rt));
            stats(rt, s);
            if (s[0] + s[1] + s[2] > 0) at = k;
        }
        if (variant == 0)
            CHECK_EQ(at, (long)(budget / need) + 1);
        else
            CHECK_EQ(at, 0);
        rcgc_gc_disable(rt);
        rcgc_decref(rt, h);
        t_finish(rt);
    }
}

/* Big cyclic garbage stays within the byte budget under the adaptive
 * policy; under cpython311 it waits for 700 objects (7 MB here). */
TEST(adaptive_bytes_bound_big_garbage)
{
    size_t budget = 64 * 1024;
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        rcgc_runtime *rt = policy_runtime(
            adaptive ? RCGC_POLICY_ADAPTIVE : RCGC_POLICY_CPYTHON311, 700, budget);
        rcgc_gc_enable(rt);
        size_t b0 = heap_bytes(rt), peak = 0;
        for (int i = 0; i < 1000; i++) REQUIRE(blob_garbage(rt) == 0);
        (void)rcgc_runtime_heap_bytes(rt, &peak);
        if (adaptive)
            CHECK(peak - b0 <= budget + 2 * (BLOB + 256));
        else
            CHECK(peak - b0 >= (size_t)700 * BLOB);
        rcgc_gc_disable(rt);
        rcgc_gc_collect(rt, 2);
        t_finish(rt);
    }
}

/* ---- the ceiling ---- */

static rcgc_runtime *limited_runtime(rcgc_gc_mode mode, size_t room,
                                     int collect_now)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_policy = RCGC_POLICY_CPYTHON311;
    cfg.gc_enabled = 0; /* only the ceiling collects */
    cfg.gc_mode = mode;
    cfg.heap_limit_collect_now = collect_now;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    rcgc_runtime_set_heap_limit(rt, heap_bytes(rt) + room);
    return rt;
}

/* Garbage cycles fill the heap: each allocation that would pass the
 * ceiling collects them first, and succeeds. */
TEST(ceiling_collects_garbage_cycles)
{
    rcgc_runtime *rt = limited_runtime(RCGC_GC_SYNC, 200 * 1000, 0);
    size_t limit = rcgc_runtime_get_heap_limit(rt);
    for (int i = 0; i < 1000; i++) {
        REQUIRE(blob_garbage(rt) == 0);
        CHECK(heap_bytes(rt) <= limit);
    }
    size_t peak = 0;
    (void)rcgc_runtime_heap_bytes(rt, &peak);
    CHECK(peak <= limit);
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);
    CHECK(gs[2].collections >= 1000 / 20);
    CHECK(gs[2].collections <= 1000 / 10);
    CHECK(gs[2].collected >= 900);
    rcgc_gc_collect(rt, 2);
    t_finish(rt);
}

/* Live objects fill the heap: RCGC_ENOMEM, after an emergency collection,
 * nothing changed; once they go, allocations succeed again. */
TEST(ceiling_live_objects_fail_cleanly)
{
    rcgc_runtime *rt = limited_runtime(RCGC_GC_SYNC, 100 * 1000, 0);
    size_t limit = rcgc_runtime_get_heap_limit(rt);
    rcgc_object *h = t_node(rt, 0);
    int n = 0;
    rcgc_object *b;
    while ((b = blob(rt)) != NULL) {
        REQUIRE(t_append_steal(rt, h, b) == 0);
        n++;
        REQUIRE(n < 1000);
    }
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK(n >= 8 && n <= 10);
    CHECK(heap_bytes(rt) <= limit);
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);
    CHECK_EQ(gs[2].collections, 1); /* the emergency collection, in vain */
    CHECK_EQ(gs[2].collected, 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(t_as(h)->n, n);
    /* a small object fails too while the heap is full */
    size_t left = limit - heap_bytes(rt);
    if (left < 64) {
        CHECK(t_leaf(rt, 1) == NULL);
        CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    }
    t_clear(rt, h);
    b = blob(rt);
    CHECK(b != NULL);
    rcgc_xdecref(rt, b);
    /* a limit below what is in use: allocations fail until it is raised */
    rcgc_runtime_set_heap_limit(rt, heap_bytes(rt) / 2);
    CHECK(t_leaf(rt, 2) == NULL);
    rcgc_runtime_set_heap_limit(rt, 0);
    rcgc_object *leaf = t_leaf(rt, 3);
    CHECK(leaf != NULL);
    rcgc_xdecref(rt, leaf);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Allocations inside a finalizer (run by a decref, or by a collection)
 * over the ceiling fail without collecting, even with garbage around. */
static struct {
    int calls, failed, enomem;
    rcgc_ssize fulls_before, fulls_inside;
} fz;

static int fin_alloc(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);
    fz.fulls_before = gs[2].collections;
    fz.calls++;
    /* bigger than any gap the test leaves below the ceiling */
    rcgc_object *b = rcgc_object_new_sized(rt, &t_node_type, t_node_type.size + 4 * BLOB);
    if (b == NULL) {
        fz.failed++;
        if (rcgc_runtime_last_error(rt) == RCGC_ENOMEM) fz.enomem++;
    }
    rcgc_xdecref(rt, b);
    rcgc_gc_get_stats(rt, gs);
    fz.fulls_inside = gs[2].collections - fz.fulls_before;
    return 0;
}

TEST(ceiling_not_inside_finalizer)
{
    rcgc_runtime *rt = limited_runtime(RCGC_GC_SYNC, 100 * 1000, 0);
    memset(&fz, 0, sizeof fz);
    /* garbage up to the ceiling: a collection would make room */
    int n = 0;
    while (heap_bytes(rt) + 2 * (BLOB + 256) < rcgc_runtime_get_heap_limit(rt)) {
        REQUIRE(blob_garbage(rt) == 0);
        REQUIRE(++n < 100);
    }
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);
    CHECK_EQ(gs[2].collections, 0);
    /* refcount death of an object with a finalizer that allocates */
    rcgc_object *f = t_new(rt, &t_fnode_type, 1);
    REQUIRE(f != NULL);
    t_as(f)->on_finalize = fin_alloc;
    rcgc_decref(rt, f);
    CHECK_EQ(fz.calls, 1);
    CHECK_EQ(fz.failed, 1);
    CHECK_EQ(fz.enomem, 1);
    CHECK_EQ(fz.fulls_inside, 0);
    /* the same finalizer run by a collection (a cycle): no nested one */
    memset(&fz, 0, sizeof fz);
    rcgc_object *c = t_self_cycle(rt, &t_fnode_type, 2);
    REQUIRE(c != NULL);
    t_as(c)->on_finalize = fin_alloc;
    rcgc_decref(rt, c);
    /* more garbage up to the ceiling; if an emergency collection makes
     * room on the way, it is the one that finalizes c */
    while (heap_bytes(rt) + 2 * (BLOB + 256) < rcgc_runtime_get_heap_limit(rt))
        REQUIRE(blob_garbage(rt) == 0);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(fz.calls, 1);
    CHECK_EQ(fz.failed, 1);
    CHECK_EQ(fz.enomem, 1);
    CHECK_EQ(fz.fulls_inside, 0);
    /* outside: the emergency collection makes room again */
    rcgc_object *b = blob(rt);
    CHECK(b != NULL);
    rcgc_xdecref(rt, b);
    rcgc_gc_collect(rt, 2);
    t_finish(rt);
}

/* Deferred mode: the allocation fails at once and the collection waits for
 * the safe point; with heap_limit_collect_now it runs at once. */
TEST(ceiling_deferred_mode)
{
    for (int now = 0; now < 2; now++) {
        rcgc_runtime *rt = limited_runtime(RCGC_GC_DEFERRED, 100 * 1000, now);
        rcgc_gc_enable(rt); /* collect_pending runs only when enabled */
        rcgc_gc_set_threshold(rt, 100000, 10, 10);
        size_t b0 = heap_bytes(rt);
        rcgc_object *probe = blob(rt);
        REQUIRE(probe != NULL);
        size_t need = heap_bytes(rt) - b0;
        rcgc_decref(rt, probe);
        int made = 0;
        while (heap_bytes(rt) + need <= rcgc_runtime_get_heap_limit(rt)) {
            REQUIRE(blob_garbage(rt) == 0);
            made++;
        }
        rcgc_object *b = blob(rt);
        rcgc_gc_stats gs[3];
        rcgc_gc_get_stats(rt, gs);
        if (now) {
            CHECK(b != NULL);
            CHECK_EQ(gs[2].collections, 1);
            CHECK_EQ(gs[2].collected, made);
            CHECK_EQ(rcgc_gc_collect_pending(rt), 0);
        } else {
            CHECK(b == NULL);
            CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
            CHECK_EQ(gs[2].collections, 0);
            CHECK_EQ(rcgc_gc_collect_pending(rt), made);
            rcgc_gc_get_stats(rt, gs);
            CHECK_EQ(gs[2].collections, 1);
            b = blob(rt);
            CHECK(b != NULL);
        }
        rcgc_xdecref(rt, b);
        rcgc_gc_disable(rt);
        t_finish(rt);
    }
}

/* Out of memory everywhere on the ceiling's path (the emergency
 * collection, finalizers that allocate, the sized object's table): the
 * N-th allocation fails, for N = 1, 2, ... until a run needs fewer; every
 * run ends consistent and without a leak. */
static int fin_alloc_node(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    rcgc_object *n = t_node(rt, 7);
    if (n != NULL) (void)t_append_steal(rt, self, n);
    return 0;
}

TEST(ceiling_fault_injection)
{
    int done = 0, injected = 0;
    for (long nth = 1; nth < 10000 && !done; nth++) {
        rcgc_runtime *rt = limited_runtime(RCGC_GC_SYNC, 60 * 1000, 0);
        rcgc_object *keep = t_node(rt, 0);
        for (int i = 0; i < 4; i++) {
            rcgc_object *c = t_self_cycle(rt, &t_fnode_type, i);
            REQUIRE(c != NULL);
            t_as(c)->on_finalize = fin_alloc_node;
            rcgc_object *b = blob(rt);
            REQUIRE(b != NULL);
            t_append_steal(rt, c, b);
            rcgc_decref(rt, c);
        }
        t_alloc_state.fail_at = t_alloc_state.calls + nth;
        t_alloc_state.failures = 0;
        int failed = 0;
        for (int i = 0; i < 6; i++) {
            rcgc_object *b = blob(rt);
            if (b == NULL) {
                CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
                failed++;
                continue;
            }
            if (t_append_steal(rt, keep, b) != 0) failed++;
        }
        CHECK(heap_bytes(rt) <= rcgc_runtime_get_heap_limit(rt));
        CHECK_EQ(rcgc_gc_check(rt), 0);
        done = t_alloc_state.failures == 0;
        injected += !done;
        t_alloc_state.fail_at = 0;
        rcgc_decref(rt, keep);
        rcgc_gc_collect(rt, 2);
        t_finish(rt);
        if (t_failures) break;
    }
    CHECK(done);
    CHECK(injected >= 8); /* 11 allocations on this path when written */
}

TEST_MAIN(T(policy_config_and_api), T(heap_bytes_count_objects),
          T(heap_bytes_pool_blocks), T(heap_bytes_raw_fallback),
          T(heap_bytes_hook_over_live_objects), T(type_facts_many_types),
          T(adaptive_threshold_doubles), T(adaptive_threshold_capped_by_heap),
          T(adaptive_threshold_halves_above_one_percent),
          T(adaptive_full_gate_at_quarter_growth),
          T(cpython311_ignores_growth_gate), T(adaptive_gate_leaves_frozen_out),
          T(adaptive_byte_trigger), T(adaptive_bytes_bound_big_garbage),
          T(ceiling_collects_garbage_cycles),
          T(ceiling_live_objects_fail_cleanly), T(ceiling_not_inside_finalizer),
          T(ceiling_deferred_mode), T(ceiling_fault_injection))

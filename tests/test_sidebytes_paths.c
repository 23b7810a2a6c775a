/*
 * test_sidebytes_paths.c - the side bytes (docs/layout-16.md step 2) on the
 * paths where a pool object's byte and its list state could part: debug
 * hooks over the pool, the trashcan's deposits, freeze in a finalizer, an
 * untracked weak reference's reaction, immortal objects, a pool changing
 * class, re-tracking during a collection.  Written by the review of step 2;
 * each test ends with rcgc_gc_check (and, at RCGC_DEBUG >= 3, every
 * collection checks both representations itself).
 */
#include "test.h"

#include "core/internal.h"

/* A runtime on the pool allocator (t_runtime_pool), with the debug hooks
 * over it if debug_hooks. */
static rcgc_runtime *pool_runtime_cfg(int debug_hooks)
{
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    c.gc_policy = RCGC_POLICY_CPYTHON311;
    c.heap.debug_hooks = debug_hooks;
    return t_runtime_pool(&c);
}

/* The byte the runtime's updates use (NULL: a registry object). */
static uint8_t *side(rcgc_runtime *rt, rcgc_object *o)
{
    return rcgc__side_of(rt, gc_head_of(o));
}

static int state(rcgc_runtime *rt, rcgc_object *o)
{
    uint8_t *s = side(rt, o);
    if (s == NULL) return -2;
    return gc_side_is_tracked(*s) ? gc_side_gen(*s) : -1;
}

/* ---- debug hooks over the runtime's own pool ---- */

/* The object domain is the debug layer over the pool: every object's block
 * is a pool block, the object 16 bytes further in.  Such an object is in
 * one of the pool's arenas, so it has a side byte (at its gc_head's
 * granule) by the test its allocation counted it with and by the one its
 * updates use (the first version counted it as a registry object by one
 * test and gave it a byte by the other). */
TEST(debug_hooks_over_pool)
{
    rcgc_runtime *rt = pool_runtime_cfg(1);
    rcgc_object *a = t_new(rt, &t_fnode_type, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    REQUIRE(rt->heap.pm != NULL);
    CHECK_EQ(rt->gc_registry, 0); /* not registry objects ... */
    CHECK(side(rt, a) != NULL);   /* ... they have side bytes */
    CHECK(side(rt, b) != NULL);
    CHECK_EQ(state(rt, a), 0);
    t_link2(rt, a, b);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(state(rt, a), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_freeze(rt);
    CHECK_EQ(state(rt, a), GC_GEN_FROZEN);
    rcgc_gc_unfreeze(rt);
    CHECK_EQ(state(rt, a), 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rt->gc_registry, 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* ---- the trashcan: deposited objects with FINALIZED, checked while they
 * wait ---- */

static int checks_failed;

static int check_and_collect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    if (rcgc_gc_check(rt) != 0) checks_failed++;
    rcgc_gc_collect(rt, 0); /* checks again at RCGC_DEBUG >= 3 */
    if (rcgc_gc_check(rt) != 0) checks_failed++;
    return 0;
}

TEST(trashcan_deposits_checked)
{
    rcgc_runtime *rt = pool_runtime_cfg(0);
    enum { N = 300 };
    checks_failed = 0;
    rcgc_object *head = t_new(rt, &t_wfnode_type, 0);
    REQUIRE(head != NULL);
    rcgc_object *cur = head;
    for (int i = 1; i < N; i++) {
        rcgc_object *n = t_new(rt, &t_wfnode_type, i);
        REQUIRE(n != NULL);
        /* finalized already: their deposits carry FINALIZED in both */
        if (i != N - 1) CHECK_EQ(rcgc_object_call_finalizer(rt, n), 0);
        else t_as(n)->on_finalize = check_and_collect;
        REQUIRE(t_append_steal(rt, cur, n) == 0);
        cur = n;
    }
    rcgc_decref(rt, head); /* a chain deeper than the trashcan's limit */
    CHECK_EQ(checks_failed, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* ---- freeze and unfreeze from a finalizer, mid-collection ---- */

static int freeze_hook(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    if (ctx != NULL) rcgc_gc_unfreeze(rt);
    else rcgc_gc_freeze(rt);
    return 0;
}

static void freeze_during(int generation, int unfreeze)
{
    rcgc_runtime *rt = pool_runtime_cfg(0);
    rcgc_object *keep[8];
    for (int i = 0; i < 8; i++) {
        keep[i] = t_node(rt, 100 + i);
        REQUIRE(keep[i] != NULL);
        if (i == 3) rcgc_gc_collect(rt, 0);
        if (i == 5) rcgc_gc_collect(rt, 1);
    }
    if (unfreeze) rcgc_gc_freeze(rt);
    rcgc_object *a = t_new(rt, &t_fnode_type, 1), *b = t_node(rt, 2);
    REQUIRE(a != NULL && b != NULL);
    t_as(a)->on_finalize = freeze_hook;
    t_as(a)->ctx = unfreeze ? (void *)1 : NULL;
    t_link2(rt, a, b);
    rcgc_object *c = t_node(rt, 3), *d = t_node(rt, 4); /* plain garbage */
    REQUIRE(c != NULL && d != NULL);
    t_link2(rt, c, d);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_gc_collect(rt, generation);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_unfreeze(rt);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    for (int i = 0; i < 8; i++) rcgc_decref(rt, keep[i]);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

TEST(freeze_in_finalizer)
{
    for (int g = 0; g < 3; g++) {
        freeze_during(g, 0);
        freeze_during(g, 1);
    }
}

/* ---- a weak reference the program untracked, queued for its callback ---- */

static int wr_calls;

static int wr_callback(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    wr_calls++;
    return 0;
}

TEST(untracked_weakref_reaction)
{
    for (int g = 0; g < 3; g++) {
        rcgc_runtime *rt = pool_runtime_cfg(0);
        wr_calls = 0;
        rcgc_object *a = t_wnode(rt, 1), *b = t_wnode(rt, 2);
        REQUIRE(a != NULL && b != NULL);
        t_link2(rt, a, b);
        rcgc_object *wr = rcgc_weakref_new(rt, a, wr_callback, NULL);
        REQUIRE(wr != NULL);
        if (rcgc_object_is_tracked(wr)) rcgc_object_untrack(rt, wr);
        CHECK_EQ(state(rt, wr) < 0, 1);
        if (g > 0) rcgc_gc_collect(rt, 0); /* a, b to generation 1 */
        rcgc_decref(rt, a);
        rcgc_decref(rt, b);
        rcgc_gc_collect(rt, g);
        CHECK_EQ(wr_calls, 1);
        CHECK(rcgc_object_is_tracked(wr));
        fprintf(stderr, "  collection of %d: the weak reference's byte says "
                        "generation %d\n", g, state(rt, wr));
        CHECK_EQ(rcgc_gc_check(rt), 0);
        rcgc_decref(rt, wr);
        t_teardown(rt);
    }
}

/* ---- immortal objects ---- */

TEST(immortal_finalized)
{
    rcgc_runtime *rt = pool_runtime_cfg(0);
    rcgc_object *a = t_new(rt, &t_fnode_type, 1);
    REQUIRE(a != NULL);
    CHECK_EQ(rcgc_object_call_finalizer(rt, a), 0);
    CHECK_EQ(rcgc_object_make_immortal(rt, a), 0);
    CHECK_EQ(state(rt, a), -1);
    REQUIRE(side(rt, a) != NULL);
    CHECK(gc_side_is_finalized(*side(rt, a)));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* ---- the pool changes its size class; the bytes of the old class's
 * granules must all be 0 ---- */

TEST(pool_changes_class)
{
    rcgc_runtime *rt = pool_runtime_cfg(0);
    enum { N = 2000 };
    rcgc_object **objs = malloc(N * sizeof *objs);
    REQUIRE(objs != NULL);
    rcgc_type big = t_fnode_type;
    big.name = "fnode-300";
    big.size = 300;
    for (int i = 0; i < N; i++) {
        objs[i] = t_new(rt, &big, i);
        REQUIRE(objs[i] != NULL);
        if (i % 3 == 0) (void)rcgc_object_call_finalizer(rt, objs[i]);
        if (i % 5 == 0) rcgc_object_untrack(rt, objs[i]);
    }
    rcgc_gc_collect(rt, 0);
    rcgc_gc_freeze(rt);
    for (int i = 0; i < N; i++) rcgc_decref(rt, objs[i]);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_unfreeze(rt);
    /* the same pools, now for 64-byte nodes */
    for (int i = 0; i < N; i++) {
        objs[i] = t_node(rt, i);
        REQUIRE(objs[i] != NULL);
        CHECK(!rcgc_object_is_finalized(objs[i]));
    }
    rcgc_gc_collect(rt, 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    for (int i = 0; i < N; i++) rcgc_decref(rt, objs[i]);
    free(objs);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* ---- a finalizer untracks and re-tracks another member of the set ---- */

static int retrack_other(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    rcgc_object *o = ctx;
    if (rcgc_object_is_tracked(o)) rcgc_object_untrack(rt, o);
    (void)rcgc_object_track(rt, o);
    return 0;
}

TEST(retrack_during_collection)
{
    for (int g = 0; g < 3; g++) {
        rcgc_runtime *rt = pool_runtime_cfg(0);
        rcgc_object *a = t_new(rt, &t_fnode_type, 1), *b = t_node(rt, 2);
        REQUIRE(a != NULL && b != NULL);
        t_link2(rt, a, b);
        t_as(a)->on_finalize = retrack_other;
        t_as(a)->ctx = b;
        if (g > 0) rcgc_gc_collect(rt, 0);
        rcgc_decref(rt, a);
        rcgc_decref(rt, b);
        rcgc_gc_collect(rt, g);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        rcgc_gc_collect(rt, 2);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        CHECK_EQ(t_live_objects(rt), 0);
        t_teardown(rt);
    }
}

TEST_MAIN(T(debug_hooks_over_pool), T(trashcan_deposits_checked),
          T(freeze_in_finalizer), T(untracked_weakref_reaction),
          T(immortal_finalized), T(pool_changes_class),
          T(retrack_during_collection))

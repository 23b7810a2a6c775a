/*
 * test_collect.c - the collection algorithm (CPython 3.11's
 * gc_collect_main), part 1: graph shapes and the exact numbers
 * rcgc_gc_collect returns, generations as seen by one collection,
 * resurrection, and objects freed, tracked or untracked by finalizers and
 * clear functions in the middle of a collection.  Part 2 is
 * test_collect_garbage.c.
 *
 * Every expected number is CPython 3.11's.  Unless a comment says otherwise
 * it was confirmed on this machine's python3 (3.11.7) with the equivalent
 * graph built from one-GC-object nodes
 *     class N(list): __slots__ = ('__weakref__',)
 * (a __del__ for t_fnode_type, _testcapi.with_tp_del for t_lnode_type, and a
 * small C extension type with configurable tp_clear / tp_finalize for the
 * "probe" scenarios), after gc.disable() and a cleaning gc.collect().
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "test.h"
#include "collect_fixtures.h"

static void get_count(rcgc_runtime *rt, int c[3])
{
    rcgc_gc_get_count(rt, c);
}

/* Break the references of o (borrowed; kept alive during the clear). */
static void break_refs(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc_incref(o);
    t_clear(rt, o);
    rcgc_decref(rt, o);
}

static int hook_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    struct fin_ctx *c = ctx;
    c->calls++;
    return t_append(rt, c->saved, self);
}

/* ------------------------------------------------------------------------ */
/* graph shapes and counts                                                   */

/* test_gc.py test_list; spec §9.1 item 1: l.append(l); del l -> collect()
 * returns exactly 1. */
TEST(list_self_cycle_collects_one)
{
    rcgc_runtime *rt = t_runtime();
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_object *l = t_self_cycle(rt, &t_node_type, 1);
    rcgc_decref(rt, l);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* test_gc.py test_dict; spec §9.1 item 2: d[1] = d; del d -> 1. */
TEST(dict_self_cycle_collects_one)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = t_self_cycle(rt, &t_dict_type, 1);
    rcgc_decref(rt, d);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* test_gc.py test_tuple; spec §9.1 item 3: l = []; t = (l,); l.append(t)
 * -> 2 (the tuple is tracked and counted). */
TEST(tuple_list_cycle_collects_two)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *l = t_node(rt, 1);
    rcgc_object *t = t_new(rt, &t_tuple_type, 2);
    t_append(rt, t, l);
    t_append(rt, l, t);
    rcgc_decref(rt, l);
    rcgc_decref(rt, t);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §8 (a) / §2.12 (3.11.7: two one-object instances in a cycle -> 2);
 * test_gc.py test_class/test_newinstance: an immediately repeated collect
 * returns 0. */
TEST(two_cycle_collects_two_then_zero)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_finish(rt);
}

/* Spec §2.2/§2.3: a cycle referenced from outside the collected set is
 * reachable -> 0; once the holder drops it (h.clear()) -> 2. */
TEST(externally_held_cycle_survives)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *h = t_node(rt, 0);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    t_append(rt, h, a);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 3);
    t_clear(rt, h);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Spec §2.12 (collected = size of the unreachable set): a 2-cycle with a
 * non-cyclic tail of 3 tracked nodes, the last holding 2 ints -> 5; the
 * non-GC leaves are freed but not counted (python3: 5). */
TEST(garbage_tail_counted_leaves_not)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_object *c = t_node(rt, 3), *c2 = t_node(rt, 4), *c3 = t_node(rt, 5);
    t_append(rt, a, c);
    t_append(rt, c, c2);
    t_append(rt, c2, c3);
    t_append_steal(rt, c3, t_leaf(rt, 6));
    t_append_steal(rt, c3, t_leaf(rt, 7));
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    rcgc_decref(rt, c2);
    rcgc_decref(rt, c3);
    CHECK_EQ(t_live_objects(rt), 7);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 5);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §1.4/§2.1: only tracked objects are candidates.  l.append(l);
 * l.append({}) (an untracked dict) -> 1, and the dict is freed with l. */
TEST(untracked_member_of_garbage_not_counted)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *l = t_self_cycle(rt, &t_node_type, 1);
    rcgc_object *d = rcgc_object_new(rt, &t_dict_type); /* never tracked */
    REQUIRE(d != NULL);
    CHECK(!rcgc_object_is_tracked(d));
    t_append_steal(rt, l, d);
    rcgc_decref(rt, l);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.2 (objects of older generations are external roots): a young
 * 2-cycle referenced only by a self-cycle that already sits in generation
 * 2 and is garbage too: collect(0) -> 0, collect(2) -> 3. */
TEST(young_cycle_held_by_old_garbage)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *h = t_self_cycle(rt, &t_node_type, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(gen_of(rt, h), 2);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    t_append(rt, h, a);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, h);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(gen_of(rt, a), 1); /* survivors of collect(0) were promoted */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.0 step 3: collect(g) examines generations 0..g only.  A cycle
 * promoted to generation 1 and then dropped: collect(0) -> 0,
 * collect(1) -> 2. */
TEST(older_garbage_invisible_to_young_collection)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(t_live_objects(rt), 2);
    CHECK_EQ(rcgc_gc_collect(rt, 1), 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* resurrection                                                              */

/* test_gc.py test_resurrection_only_happens_once_per_object; spec §9.1
 * item 33, §2.10: a self-cycle whose __del__ stores self -> collect 0, one
 * finalizer call, is_finalized; after the saved list is cleared -> 1 and
 * the finalizer is not called again. */
TEST(resurrection_happens_once)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *saved = t_node(rt, 0);
    struct fin_ctx c = {saved, NULL, 0, 0, NULL};
    rcgc_object *z = t_self_cycle(rt, &t_fnode_type, 1);
    t_as(z)->on_finalize = hook_resurrect;
    t_as(z)->ctx = &c;
    rcgc_decref(rt, z);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(c.calls, 1);
    REQUIRE(t_as(saved)->n == 1 && t_as(saved)->items[0] == z);
    CHECK(rcgc_object_is_finalized(z));
    CHECK(rcgc_object_is_tracked(z));
    CHECK_EQ(t_as(z)->n, 1); /* not cleared */
    t_clear(rt, saved);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(c.calls, 1);
    CHECK_EQ(t_live_objects(rt), 1); /* saved */
    rcgc_decref(rt, saved);
    t_finish(rt);
}

/* Spec §8 (c): a 2-cycle of resurrectors -> 0, both finalized once and
 * saved; after clearing the saved list -> 2, no new finalizer call. */
TEST(two_resurrectors_counted_after_release)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *saved = t_node(rt, 0);
    struct fin_ctx c = {saved, NULL, 0, 0, NULL};
    rcgc_object *a = t_new(rt, &t_fnode_type, 1);
    rcgc_object *b = t_new(rt, &t_fnode_type, 2);
    t_link2(rt, a, b);
    t_as(a)->on_finalize = t_as(b)->on_finalize = hook_resurrect;
    t_as(a)->ctx = t_as(b)->ctx = &c;
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(c.calls, 2);
    CHECK_EQ(t_as(saved)->n, 2);
    CHECK(rcgc_object_is_finalized(a) && rcgc_object_is_finalized(b));
    t_clear(rt, saved);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(c.calls, 2);
    rcgc_decref(rt, saved);
    t_finish(rt);
}

/* test_gc.py test_resurrection_is_transitive; spec §9.1 item 34: laz <->
 * cargo, only laz resurrects -> 0; cargo is the same object with its
 * contents intact (it still holds laz and the int 42); released -> 2. */
TEST(resurrection_is_transitive)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *saved = t_node(rt, 0);
    struct fin_ctx c = {saved, NULL, 0, 0, NULL};
    rcgc_object *laz = t_new(rt, &t_fnode_type, 1);
    rcgc_object *cargo = t_node(rt, 2);
    t_append(rt, laz, cargo);
    t_append(rt, cargo, laz);
    rcgc_object *leaf = t_leaf(rt, 42);
    t_append_steal(rt, cargo, leaf);
    t_as(laz)->on_finalize = hook_resurrect;
    t_as(laz)->ctx = &c;
    rcgc_decref(rt, laz);
    rcgc_decref(rt, cargo);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    REQUIRE(t_as(saved)->n == 1 && t_as(saved)->items[0] == laz);
    REQUIRE(t_as(laz)->n == 1 && t_as(laz)->items[0] == cargo);
    REQUIRE(t_as(cargo)->n == 2);
    CHECK(t_as(cargo)->items[0] == laz);
    CHECK(t_as(cargo)->items[1] == leaf && t_as(leaf)->id == 42);
    CHECK(rcgc_object_is_tracked(cargo));
    CHECK(!rcgc_object_is_finalized(cargo)); /* only laz has a finalizer */
    t_clear(rt, saved);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(c.calls, 1);
    rcgc_decref(rt, saved);
    t_finish(rt);
}

/* test_gc.py test_resurrection_does_not_block_cleanup_of_other_objects;
 * spec §9.1 item 35 (N = 100, one-object self-loops in 3.11): 100 loops ->
 * 100 (stats[2] +100/+0); a lone resurrecting Z -> 0 (+0/+0); 100 loops + Z
 * -> 100 (+100/+0); clearing the two saved Zs -> 2 (+2/+0). */
TEST(resurrection_does_not_block_cleanup)
{
    enum { N = 100 };
    rcgc_runtime *rt = t_runtime();
    rcgc_object *zs = t_node(rt, 0);
    struct fin_ctx c = {zs, NULL, 0, 0, NULL};
    rcgc_gc_stats s0[3], s1[3];

    rcgc_gc_get_stats(rt, s0);
    for (int i = 0; i < N; i++) rcgc_decref(rt, t_self_cycle(rt, &t_node_type, i));
    CHECK_EQ(rcgc_gc_collect(rt, 2), N);
    rcgc_gc_get_stats(rt, s1);
    CHECK_EQ(s1[2].collected - s0[2].collected, N);
    CHECK_EQ(s1[2].uncollectable - s0[2].uncollectable, 0);

    rcgc_object *z = t_self_cycle(rt, &t_fnode_type, 1000);
    t_as(z)->on_finalize = hook_resurrect;
    t_as(z)->ctx = &c;
    rcgc_decref(rt, z);
    s0[2] = s1[2];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_gc_get_stats(rt, s1);
    CHECK_EQ(s1[2].collected - s0[2].collected, 0);
    CHECK_EQ(s1[2].uncollectable - s0[2].uncollectable, 0);

    for (int i = 0; i < N; i++) rcgc_decref(rt, t_self_cycle(rt, &t_node_type, i));
    z = t_self_cycle(rt, &t_fnode_type, 1001);
    t_as(z)->on_finalize = hook_resurrect;
    t_as(z)->ctx = &c;
    rcgc_decref(rt, z);
    s0[2] = s1[2];
    CHECK_EQ(rcgc_gc_collect(rt, 2), N);
    rcgc_gc_get_stats(rt, s1);
    CHECK_EQ(s1[2].collected - s0[2].collected, N);
    CHECK_EQ(s1[2].uncollectable - s0[2].uncollectable, 0);
    CHECK_EQ(t_as(zs)->n, 2);

    t_clear(rt, zs);
    s0[2] = s1[2];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_gc_get_stats(rt, s1);
    CHECK_EQ(s1[2].collected - s0[2].collected, 2);
    CHECK_EQ(s1[2].uncollectable - s0[2].uncollectable, 0);
    CHECK_EQ(c.calls, 2);
    rcgc_decref(rt, zs);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* finalizers in the middle of a collection                                  */

struct order_entry {
    int id;
    rcgc_ssize own_items, next_items;
};

static struct order_entry order_log[8];

static int order_n;

static int hook_log_intact(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    t_nodeobj *n = t_as(self);
    if (order_n < 8) {
        order_log[order_n].id = n->id;
        order_log[order_n].own_items = n->n;
        order_log[order_n].next_items = n->n > 0 ? t_as(n->items[0])->n : -1;
        order_n++;
    }
    return 0;
}

/* Spec §2.0 steps 11-14, §2.9 (PEP 442): every finalizer of the unreachable
 * set runs, in list order, before any object is cleared.  A 3-ring of
 * finalizable nodes 1 -> 2 -> 3 -> 1: each finalizer sees itself and its
 * successor intact; log [(1,1,1), (2,1,1), (3,1,1)]; collect -> 3. */
TEST(all_finalizers_run_before_any_clear)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *n[3];
    for (int i = 0; i < 3; i++) {
        n[i] = t_new(rt, &t_fnode_type, i + 1);
        t_as(n[i])->on_finalize = hook_log_intact;
    }
    for (int i = 0; i < 3; i++) t_append(rt, n[i], n[(i + 1) % 3]);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, n[i]);
    order_n = 0;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    REQUIRE(order_n == 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(order_log[i].id, i + 1);
        CHECK_EQ(order_log[i].own_items, 1);
        CHECK_EQ(order_log[i].next_items, 1);
    }
    t_finish(rt);
}

static int hook_clear_self(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    t_clear(rt, self);
    return 0;
}

/* Spec §2.9/§2.10/§2.12: a finalizer that breaks its own cycle (a <-> b,
 * a.__del__ does self.clear()) frees both by reference counting during
 * finalize_garbage; nothing is left for delete_garbage, so collect -> 0
 * (python3: 0, also when b has a finalizer of its own). */
TEST(finalizer_breaking_its_cycle_collects_zero)
{
    for (int variant = 0; variant < 2; variant++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *a = t_new(rt, &t_fnode_type, 1);
        rcgc_object *b = t_new(rt, variant ? &t_fnode_type : &t_node_type, 2);
        t_link2(rt, a, b);
        t_as(a)->on_finalize = hook_clear_self;
        rcgc_decref(rt, a);
        rcgc_decref(rt, b);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
        CHECK_EQ(t_live_objects(rt), 0);
        t_finish(rt);
    }
}

static int hook_remove_target(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    struct fin_ctx *c = ctx;
    c->calls++;
    t_remove(rt, self, c->target);
    return 0;
}

/* Spec §2.9 ("robust against finalizers freeing arbitrary other nodes"):
 * a self-cycle a whose finalizer drops its reference to c, a non-cyclic
 * tracked node in the same unreachable set; c is freed there and then and
 * is not counted -> 1, whether c precedes a in the list or not. */
TEST(finalizer_freeing_other_garbage_not_counted)
{
    for (int c_first = 0; c_first < 2; c_first++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_first ? t_node(rt, 2) : NULL;
        rcgc_object *a = t_self_cycle(rt, &t_fnode_type, 1);
        if (!c_first) c = t_node(rt, 2);
        struct fin_ctx fc = {NULL, c, 0, 0, NULL};
        t_as(a)->on_finalize = hook_remove_target;
        t_as(a)->ctx = &fc;
        t_append_steal(rt, a, c);
        rcgc_decref(rt, a);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
        CHECK_EQ(fc.calls, 1);
        CHECK_EQ(t_live_objects(rt), 0);
        t_finish(rt);
    }
}

static int hook_new_cycle(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    rcgc_object *l = t_self_cycle(rt, &t_node_type, 99);
    if (l == NULL) return RCGC_ENOMEM;
    rcgc_decref(rt, l);
    return 0;
}

/* Spec §3.11 (finalizers may allocate; counts were reset at the start): a
 * finalizer that creates a new garbage self-cycle.  The new cycle is not part
 * of the running collection: collect() -> 1, get_count() -> (0,0,0) (+1 for
 * the new node, -1 for the freed finalizable one), the next collect() -> 1.
 * With collect(0): 1, (0,1,0), next collect(0) -> 1. */
TEST(finalizer_creating_garbage_collected_next_time)
{
    for (int young = 0; young < 2; young++) {
        rcgc_runtime *rt = t_runtime();
        int gen = young ? 0 : 2, c[3];
        rcgc_object *a = t_self_cycle(rt, &t_fnode_type, 1);
        t_as(a)->on_finalize = hook_new_cycle;
        rcgc_decref(rt, a);
        CHECK_EQ(rcgc_gc_collect(rt, gen), 1);
        get_count(rt, c);
        CHECK_EQ(c[0], 0);
        CHECK_EQ(c[1], young ? 1 : 0);
        CHECK_EQ(c[2], 0);
        CHECK_EQ(t_live_objects(rt), 1);
        CHECK_EQ(rcgc_gc_collect(rt, gen), 1);
        CHECK_EQ(t_live_objects(rt), 0);
        t_finish(rt);
    }
}

static int hook_new_live(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    struct fin_ctx *c = ctx;
    rcgc_object *o = t_node(rt, 77);
    if (o == NULL) return RCGC_ENOMEM;
    c->target = o;
    return t_append_steal(rt, c->saved, o);
}

/* Spec §1.2/§3.11: an object a finalizer creates and keeps during a
 * collection of generation 1 is tracked into generation 0 (not into the
 * collected set); collect(1) -> 1 and get_count() -> (0,0,1). */
TEST(finalizer_creating_live_object_lands_in_gen0)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *stash = t_node(rt, 0);
    struct fin_ctx fc = {stash, NULL, 0, 0, NULL};
    rcgc_object *a = t_self_cycle(rt, &t_fnode_type, 1);
    t_as(a)->on_finalize = hook_new_live;
    t_as(a)->ctx = &fc;
    rcgc_decref(rt, a);
    int c[3];
    CHECK_EQ(rcgc_gc_collect(rt, 1), 1);
    get_count(rt, c);
    CHECK_EQ(c[0], 0);
    CHECK_EQ(c[1], 0);
    CHECK_EQ(c[2], 1);
    REQUIRE(fc.target != NULL);
    CHECK_EQ(gen_of(rt, fc.target), 0);
    rcgc_decref(rt, stash);
    t_finish(rt);
}

static int hook_untrack_target(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    rcgc_object_untrack(rt, ((struct fin_ctx *)ctx)->target);
    return 0;
}

/* Spec §2.10 (resurrection test = references from outside the remaining
 * set): a -> b -> a where a's finalizer untracks b.  b leaves the set, so
 * its reference to a now counts as external: a is "resurrected", collect()
 * -> 0; a stays tracked in generation 2, b untracked; the next collect()
 * -> 0 (python3 with a C type whose tp_finalize calls PyObject_GC_UnTrack:
 * the same, the pair leaks until broken by hand). */
TEST(finalizer_untracking_other_member_resurrects)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_new(rt, &t_fnode_type, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    struct fin_ctx fc = {NULL, b, 0, 0, NULL};
    t_as(a)->on_finalize = hook_untrack_target;
    t_as(a)->ctx = &fc;
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK(rcgc_object_is_tracked(a));
    CHECK(!rcgc_object_is_tracked(b));
    CHECK_EQ(gen_of(rt, a), 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 2);
    break_refs(rt, b);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

static int hook_untrack_self(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    rcgc_object_untrack(rt, self);
    return 0;
}

/* Spec §2.9/§2.10: a self-cycle whose finalizer untracks itself leaves the
 * unreachable set: collect() -> 0, the object survives untracked and the
 * next collect() -> 0 (python3 C type: 0, untracked, 0). */
TEST(finalizer_untracking_itself_not_counted)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_self_cycle(rt, &t_fnode_type, 1);
    t_as(a)->on_finalize = hook_untrack_self;
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK(!rcgc_object_is_tracked(a));
    CHECK(rcgc_object_is_finalized(a));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    break_refs(rt, a);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

static int hook_track_target(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    return rcgc_object_track(rt, ((struct fin_ctx *)ctx)->target);
}

/* Spec §1.2 (track appends to generation 0): a garbage self-cycle holding an
 * untracked node x (also held by the test) whose finalizer tracks x:
 * collect() -> 1; x is now tracked, in generation 0, and only the test's
 * reference is left (python3 C type: 1, x tracked in gen 0). */
TEST(finalizer_tracking_object_mid_collection)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 2);
    rcgc_object_untrack(rt, x);
    rcgc_object *a = t_self_cycle(rt, &t_fnode_type, 1);
    t_append(rt, a, x);
    struct fin_ctx fc = {NULL, x, 0, 0, NULL};
    t_as(a)->on_finalize = hook_track_target;
    t_as(a)->ctx = &fc;
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK(rcgc_object_is_tracked(x));
    CHECK_EQ(gen_of(rt, x), 0);
    CHECK_EQ(rcgc_object_refcount(x), 1);
    rcgc_decref(rt, x);
    t_finish(rt);
}

static int hook_collect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    struct fin_ctx *c = ctx;
    c->calls++;
    c->inner = rcgc_gc_collect(rt, 2);
    return 0;
}

/* Spec §3.3, §8 (g): gc.collect() inside a __del__ run by a collection
 * returns 0 (and the outer collection is not disturbed: -> 1). */
TEST(collect_inside_finalizer_returns_zero)
{
    rcgc_runtime *rt = t_runtime();
    struct fin_ctx fc = {NULL, NULL, 0, -1, NULL};
    rcgc_object *a = t_self_cycle(rt, &t_fnode_type, 1);
    t_as(a)->on_finalize = hook_collect;
    t_as(a)->ctx = &fc;
    rcgc_decref(rt, a);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fc.calls, 1);
    CHECK_EQ(fc.inner, 0);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collections, 1); /* the inner call collected nothing */
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* clear functions in the middle of a collection                             */

/* probe: a node whose clear misbehaves as a C extension's tp_clear may.
 * Every mode but REFUSE acts once, then the node clears normally. */
enum probe_mode {
    PROBE_NORMAL,
    PROBE_REFUSE,    /* keep every reference */
    PROBE_RESURRECT, /* store self in stash, then clear */
    PROBE_COLLECT,   /* call rcgc_gc_collect */
    PROBE_NEW_CYCLE, /* create a new garbage self-cycle */
    PROBE_NEW_LIVE,  /* create a node kept in stash */
    PROBE_UNTRACK    /* untrack target */
};

struct probe_ctx {
    int mode;
    rcgc_object *stash;
    rcgc_object *target;
    rcgc_ssize inner;
    int calls;
};

static int probe_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    t_nodeobj *n = t_as(self);
    for (rcgc_ssize i = 0; i < n->n; i++) RCGC_VISIT(n->items[i]);
    return 0;
}

static void probe_clear(rcgc_runtime *rt, rcgc_object *self)
{
    struct probe_ctx *p = t_as(self)->ctx;
    int mode = p != NULL ? p->mode : PROBE_NORMAL;
    if (p != NULL) p->calls++;
    if (mode == PROBE_REFUSE) return;
    if (p != NULL) p->mode = PROBE_NORMAL;
    switch (mode) {
    case PROBE_RESURRECT:
        t_append(rt, p->stash, self);
        break;
    case PROBE_COLLECT:
        p->inner = rcgc_gc_collect(rt, 2);
        break;
    case PROBE_NEW_CYCLE: {
        rcgc_object *l = t_self_cycle(rt, &t_node_type, 99);
        if (l != NULL) rcgc_decref(rt, l);
        break;
    }
    case PROBE_NEW_LIVE: {
        rcgc_object *o = t_node(rt, 77);
        if (o != NULL) {
            p->target = o;
            t_append_steal(rt, p->stash, o);
        }
        break;
    }
    case PROBE_UNTRACK:
        rcgc_object_untrack(rt, p->target);
        break;
    default:
        break;
    }
    t_clear(rt, self);
}

static void probe_release(rcgc_runtime *rt, rcgc_object *self)
{
    rcgc_mem_free(rt, t_as(self)->items);
    t_as(self)->items = NULL;
}

static const rcgc_type probe_type = {
    .name = "probe",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = probe_traverse,
    .clear = probe_clear,
    .release = probe_release};

static rcgc_object *probe_cycle(rcgc_runtime *rt, struct probe_ctx *p, int id)
{
    rcgc_object *o = t_self_cycle(rt, &probe_type, id);
    if (o != NULL) t_as(o)->ctx = p;
    return o;
}

/* Spec §2.11/§2.12 (collected is counted whether or not tp_clear reclaimed
 * the object; survivors of clear move to the older generation): a 2-cycle
 * whose clear keeps every reference -> collect() 2 and again 2, the objects
 * in generation 2; via collect(0): 2 and they sit in generation 1,
 * collect(0) -> 0, collect(1) -> 2, now in generation 2.  Once clear works
 * -> 2 and both are freed (python3 C type: identical numbers). */
TEST(clear_refusing_objects_counted_and_kept)
{
    rcgc_runtime *rt = t_runtime();
    struct probe_ctx pa = {PROBE_REFUSE, NULL, NULL, 0, 0};
    struct probe_ctx pb = {PROBE_REFUSE, NULL, NULL, 0, 0};
    rcgc_object *a = t_new(rt, &probe_type, 1), *b = t_new(rt, &probe_type, 2);
    t_as(a)->ctx = &pa;
    t_as(b)->ctx = &pb;
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(gen_of(rt, a), 2);
    CHECK_EQ(gen_of(rt, b), 2);
    CHECK_EQ(pa.calls, 2);
    pa.mode = pb.mode = PROBE_NORMAL;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(t_live_objects(rt), 0);

    pa.mode = pb.mode = PROBE_REFUSE;
    a = t_new(rt, &probe_type, 1);
    b = t_new(rt, &probe_type, 2);
    t_as(a)->ctx = &pa;
    t_as(b)->ctx = &pb;
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 2);
    CHECK_EQ(gen_of(rt, a), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 1), 2);
    CHECK_EQ(gen_of(rt, a), 2);
    pa.mode = pb.mode = PROBE_NORMAL;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.11: an object that stores itself somewhere from its clear
 * survives; it is still counted (-> 1), stays tracked in the older
 * generation (2 for a full collection, 1 for collect(0)), emptied.  After the
 * stash lets go it dies by reference counting and the next collect() -> 0
 * (python3 C type: 1, gen 2 / gen 1, 0). */
TEST(clear_resurrecting_object_counted_and_moved_to_old)
{
    for (int young = 0; young < 2; young++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *stash = t_node(rt, 0);
        struct probe_ctx p = {PROBE_RESURRECT, stash, NULL, 0, 0};
        rcgc_object *a = probe_cycle(rt, &p, 1);
        rcgc_decref(rt, a);
        CHECK_EQ(rcgc_gc_collect(rt, young ? 0 : 2), 1);
        REQUIRE(t_as(stash)->n == 1 && t_as(stash)->items[0] == a);
        CHECK(rcgc_object_is_tracked(a));
        CHECK_EQ(gen_of(rt, a), young ? 1 : 2);
        CHECK_EQ(t_as(a)->n, 0);
        t_clear(rt, stash);
        CHECK_EQ(t_live_objects(rt), 1);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
        rcgc_decref(rt, stash);
        t_finish(rt);
    }
}

/* Spec §3.3/§3.11: gc.collect() from a tp_clear during a collection returns
 * 0; the outer one -> 1 (python3 C type: outer 1, inner [0]). */
TEST(collect_inside_clear_returns_zero)
{
    rcgc_runtime *rt = t_runtime();
    struct probe_ctx p = {PROBE_COLLECT, NULL, NULL, -1, 0};
    rcgc_decref(rt, probe_cycle(rt, &p, 1));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(p.inner, 0);
    t_finish(rt);
}

/* Spec §3.11: a tp_clear that creates a new garbage self-cycle: -> 1,
 * get_count() (0,0,0), the next collect() -> 1 (python3 C type: same). */
TEST(clear_creating_garbage_collected_next_time)
{
    rcgc_runtime *rt = t_runtime();
    struct probe_ctx p = {PROBE_NEW_CYCLE, NULL, NULL, 0, 0};
    rcgc_decref(rt, probe_cycle(rt, &p, 1));
    int c[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    get_count(rt, c);
    CHECK_EQ(c[0], 0);
    CHECK_EQ(c[1], 0);
    CHECK_EQ(c[2], 0);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §1.2: an object a tp_clear creates and keeps during collect(0) is in
 * generation 0 afterwards (python3 C type: collect(0) -> 1, gen 0). */
TEST(clear_creating_live_object_lands_in_gen0)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *stash = t_node(rt, 0);
    struct probe_ctx p = {PROBE_NEW_LIVE, stash, NULL, 0, 0};
    rcgc_decref(rt, probe_cycle(rt, &p, 1));
    CHECK_EQ(rcgc_gc_collect(rt, 0), 1);
    REQUIRE(p.target != NULL);
    CHECK_EQ(gen_of(rt, p.target), 0);
    CHECK_EQ(gen_of(rt, stash), 1);
    rcgc_decref(rt, stash);
    t_finish(rt);
}

/* Spec §2.11/§2.12: two garbage self-cycles a and c, a also holding c; a's
 * clear untracks c before dropping its references.  Both were counted
 * before delete_garbage -> 2; c survives untracked (its self-reference),
 * the next collect() -> 0 (python3 C type: 2, untracked, 0). */
TEST(clear_untracking_other_member)
{
    rcgc_runtime *rt = t_runtime();
    struct probe_ctx p = {PROBE_UNTRACK, NULL, NULL, 0, 0};
    rcgc_object *a = probe_cycle(rt, &p, 1);
    rcgc_object *c = probe_cycle(rt, NULL, 2);
    p.target = c;
    t_append_steal(rt, a, c);
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK(!rcgc_object_is_tracked(c));
    CHECK_EQ(rcgc_object_refcount(c), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    break_refs(rt, c);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

TEST_MAIN(T(list_self_cycle_collects_one), T(dict_self_cycle_collects_one),
          T(tuple_list_cycle_collects_two),
          T(two_cycle_collects_two_then_zero),
          T(externally_held_cycle_survives),
          T(garbage_tail_counted_leaves_not),
          T(untracked_member_of_garbage_not_counted),
          T(young_cycle_held_by_old_garbage),
          T(older_garbage_invisible_to_young_collection),
          T(resurrection_happens_once),
          T(two_resurrectors_counted_after_release),
          T(resurrection_is_transitive),
          T(resurrection_does_not_block_cleanup),
          T(all_finalizers_run_before_any_clear),
          T(finalizer_breaking_its_cycle_collects_zero),
          T(finalizer_freeing_other_garbage_not_counted),
          T(finalizer_creating_garbage_collected_next_time),
          T(finalizer_creating_live_object_lands_in_gen0),
          T(finalizer_untracking_other_member_resurrects),
          T(finalizer_untracking_itself_not_counted),
          T(finalizer_tracking_object_mid_collection),
          T(collect_inside_finalizer_returns_zero),
          T(clear_refusing_objects_counted_and_kept),
          T(clear_resurrecting_object_counted_and_moved_to_old),
          T(collect_inside_clear_returns_zero),
          T(clear_creating_garbage_collected_next_time),
          T(clear_creating_live_object_lands_in_gen0),
          T(clear_untracking_other_member))

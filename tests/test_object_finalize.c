/*
 * test_object_finalize.c - objects, part 2: finalizers on refcount death and
 * in collections (PEP 442 and legacy), CPython's test_finalization.py,
 * rcgc_object_call_finalizer, and finalizers that allocate, free, collect or
 * break their cycle.  Part 1 is test_object.c.
 *
 * Expected numbers marked "python3 3.11.7" were measured on this machine with
 * an equivalent Python script (instances whose __del__ records calls,
 * _testcapi.without_gc / with_tp_del for the non-GC and legacy cases).
 */
#include "test.h"
#include "object_fixtures.h"

static void fs_reset(rcgc_runtime *rt)
{
    memset(&fs, 0, sizeof fs);
    fs.survivors = t_node(rt, -1);
}

/* SimpleBase.test()'s cleanup: clear survivors, collect, forget calls. */
static void fs_cleanup(rcgc_runtime *rt)
{
    fs.cleaning = 1;
    list_clear(rt, fs.survivors);
    rcgc_gc_garbage_clear(rt);
    rcgc_gc_collect(rt, 2);
    rcgc_decref(rt, fs.survivors);
    fs.survivors = NULL;
    rcgc_gc_collect(rt, 2);
}

static int h_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    if (!fs.cleaning) t_append(rt, fs.survivors, self);
    return 0;
}

/* SuicidalSelfCycle.side_effect: self.ref = None. */
static int h_suicide(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    if (!fs.cleaning) t_clear(rt, self);
    return 0;
}

static int h_tp_record(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    if (!fs.cleaning && fs.tpdel.n < 4096)
        fs.tpdel.ids[fs.tpdel.n++] = t_as(self)->id;
    return 0;
}

static int h_tp_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_tp_record(rt, self, ctx);
    if (!fs.cleaning) t_append(rt, fs.survivors, self);
    return 0;
}

/* ======================================================================== */
/* Lib/test/test_finalization.py (spec §9.2, items 46-59)                   */

/* 46. SimpleFinalizationTest.test_simple: refcount death calls __del__ once;
 * no survivors; a later collection adds no call.  python3 3.11.7: 1 call,
 * gc.collect() == 0 twice. */
TEST(finalization_simple)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 101, h_record, NULL);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_log_count(&fs.del, 101), 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1); /* only the survivors list */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 47. test_simple_resurrect: __del__ stores self: called once, one
 * survivor, still tracked and finalized; after dropping the survivor it is
 * freed without a second call.  python3 3.11.7: del 1, survivor tracked and
 * is_finalized True, collect 0; after clearing: del 1, collect 0. */
TEST(finalization_simple_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 102, h_resurrect, NULL);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(in_node(fs.survivors, s));
    CHECK(rcgc_object_is_tracked(s));
    CHECK(rcgc_object_is_finalized(s));
    CHECK_EQ(rcgc_object_refcount(s), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    list_clear(rt, fs.survivors);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 48. test_non_gc: an instance of a non-GC type is not tracked; __del__ is
 * called once on refcount death.  python3 3.11.7: is_tracked False, 1 call. */
TEST(finalization_non_gc)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_plain_type, 103, h_record, NULL);
    REQUIRE(s != NULL);
    CHECK(!rcgc_object_is_tracked(s));
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 49. test_non_gc_resurrect: a non-GC object cannot remember it was
 * finalized, so __del__ runs at every death: first death 1 call and a
 * survivor, second death 2 calls and a survivor again.  python3 3.11.7:
 * del 1 / surv 1, then del 2 / surv 1. */
TEST(finalization_non_gc_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_plain_type, 104, h_resurrect, NULL);
    REQUIRE(s != NULL);
    CHECK(!rcgc_object_is_tracked(s));
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(!rcgc_object_is_tracked(s));
    CHECK(!rcgc_object_is_finalized(s));
    list_clear(rt, fs.survivors); /* second death */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 2);
    CHECK_EQ(t_log_count(&fs.del, 104), 2);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK_EQ(t_as(s)->nfinalize, 2);
    fs_cleanup(rt); /* cleaning: the third death does not resurrect */
    t_teardown(rt);
}

/* 50. SelfCycleFinalizationTest.test_simple: s.ref = s; the collector calls
 * __del__ once and frees it.  python3 3.11.7: no call before the collection,
 * gc.collect() == 1, 1 call, then 0. */
TEST(finalization_self_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 105, h_record, NULL);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 51. test_simple_resurrect (self-cycle): __del__ once, the survivor is kept
 * (not counted: gc.collect() == 0), finalized and tracked; after clearing
 * the survivors the next collection frees it (returns 1) without calling
 * __del__ again.  python3 3.11.7: 0, del 1, surv 1, finalized, tracked;
 * then 1, del 1. */
TEST(finalization_self_cycle_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 106, h_resurrect, NULL);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(in_node(fs.survivors, s));
    CHECK(rcgc_object_is_finalized(s));
    CHECK(rcgc_object_is_tracked(s));
    CHECK_EQ(t_as(s)->n, 1); /* its self-reference was not cleared */
    CHECK(t_as(s)->items[0] == s);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    list_clear(rt, fs.survivors);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 52. test_simple_suicide: __del__ breaks the self-cycle; the object is
 * freed inside finalize_garbage, so the collection does not count it.
 * python3 3.11.7: gc.collect() == 0, del 1, then 0. */
TEST(finalization_self_cycle_suicide)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 107, h_suicide, NULL);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* test_finalization.py's ChainedBase: a ring; node i references its left
 * neighbour i-1 and is its right neighbour.  Kinds: Simple, Resurrector,
 * Suicidal (drops both neighbours).  check_sanity verifies the links. */
enum { K_SIMPLE, K_RESURRECT, K_SUICIDE };

typedef struct chain {
    rcgc_object base;
    rcgc_object *left, *right;
    int id, kind, suicided;
} chain_obj;

static chain_obj *ch(rcgc_object *o)
{
    return (chain_obj *)o;
}

static int chain_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(ch(self)->left);
    RCGC_VISIT(ch(self)->right);
    return 0;
}

static void chain_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ch(self)->left);
    RCGC_CLEAR(rt, ch(self)->right);
}

static int chain_sane(rcgc_object *self)
{
    chain_obj *c = ch(self);
    if (c->suicided) return c->left == NULL && c->right == NULL;
    if (c->left == NULL || c->right == NULL) return 0;
    chain_obj *l = ch(c->left), *r = ch(c->right);
    if (l->suicided ? l->right != NULL : l->right != self) return 0;
    if (r->suicided ? r->left != NULL : r->left != self) return 0;
    return 1;
}

static int chain_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    chain_obj *c = ch(self);
    if (fs.cleaning) return 0;
    if (fs.del.n < 4096) fs.del.ids[fs.del.n++] = c->id;
    if (!chain_sane(self)) fs.errors++;
    if (c->kind == K_RESURRECT) {
        t_append(rt, fs.survivors, self);
    } else if (c->kind == K_SUICIDE) {
        c->suicided = 1;
        RCGC_CLEAR(rt, c->left);
        RCGC_CLEAR(rt, c->right);
    }
    return 0;
}

static const rcgc_type chain_type = {
    .name = "chained",
    .size = sizeof(chain_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = chain_traverse,
    .clear = chain_clear,
    .finalize = chain_finalize};

/* build_chain + check_(non_)resurrecting_chain: expect1 and expect2 are
 * gc.collect()'s results before and after clearing the survivors; every
 * node is finalized exactly once, the survivors are exactly the
 * resurrectors, and every __del__ saw consistent links (check_sanity). */
static void run_chain(const int *kinds, int n, rcgc_ssize expect1,
                      rcgc_ssize expect2)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *nodes[8];
    int nres = 0;
    for (int i = 0; i < n; i++) {
        nodes[i] = rcgc_object_new(rt, &chain_type);
        REQUIRE(nodes[i] != NULL);
        ch(nodes[i])->id = 200 + i;
        ch(nodes[i])->kind = kinds[i];
        nres += kinds[i] == K_RESURRECT;
        rcgc_object_track(rt, nodes[i]);
    }
    for (int i = 0; i < n; i++) { /* nodes[i].chain(nodes[i-1]) */
        rcgc_object *left = nodes[(i + n - 1) % n];
        rcgc_incref(left);
        rcgc_incref(nodes[i]);
        ch(nodes[i])->left = left;
        RCGC_SETREF(rt, ch(left)->right, nodes[i]);
    }
    for (int i = 0; i < n; i++) rcgc_decref(rt, nodes[i]);
    CHECK_EQ(rcgc_gc_collect(rt, 2), expect1);
    CHECK_EQ(fs.del.n, n);
    for (int i = 0; i < n; i++) CHECK_EQ(t_log_count(&fs.del, 200 + i), 1);
    CHECK_EQ(t_as(fs.survivors)->n, nres);
    for (rcgc_ssize i = 0; i < t_as(fs.survivors)->n; i++)
        CHECK_EQ(ch(t_as(fs.survivors)->items[i])->kind, K_RESURRECT);
    CHECK_EQ(fs.errors, 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    list_clear(rt, fs.survivors);
    CHECK_EQ(rcgc_gc_collect(rt, 2), expect2);
    CHECK_EQ(fs.del.n, n); /* nobody is finalized twice */
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 53. CycleChainFinalizationTest.test_homogenous: ring of 3 Simple.
 * python3 3.11.7: gc.collect() == 3, 3 calls, then 0. */
TEST(finalization_chain_homogenous)
{
    static const int k[] = {K_SIMPLE, K_SIMPLE, K_SIMPLE};
    run_chain(k, 3, 3, 0);
}

/* 54. test_homogenous_resurrect: all 3 survive, none counted; clearing the
 * survivors frees them (3) with no new call.  python3 3.11.7: 0 then 3. */
TEST(finalization_chain_homogenous_resurrect)
{
    static const int k[] = {K_RESURRECT, K_RESURRECT, K_RESURRECT};
    run_chain(k, 3, 0, 3);
}

/* 55. test_homogenous_suicidal: each __del__ unlinks its neighbours, so all
 * die inside finalize_garbage.  python3 3.11.7: 0 then 0, 3 calls. */
TEST(finalization_chain_homogenous_suicidal)
{
    static const int k[] = {K_SUICIDE, K_SUICIDE, K_SUICIDE};
    run_chain(k, 3, 0, 0);
}

/* 56. test_heterogenous_suicidal_one ([Suicidal, Simple] * 2).
 * python3 3.11.7: 0 then 0, 4 calls. */
TEST(finalization_chain_heterogenous_suicidal_one)
{
    static const int k[] = {K_SUICIDE, K_SIMPLE, K_SUICIDE, K_SIMPLE};
    run_chain(k, 4, 0, 0);
}

/* 56. test_heterogenous_suicidal_two ([Suicidal] * 2 + [Simple] * 2).
 * python3 3.11.7: 4 then 0, 4 calls. */
TEST(finalization_chain_heterogenous_suicidal_two)
{
    static const int k[] = {K_SUICIDE, K_SUICIDE, K_SIMPLE, K_SIMPLE};
    run_chain(k, 4, 4, 0);
}

/* 56. test_heterogenous_resurrect_one ([Resurrector, Simple] * 2).
 * python3 3.11.7: 0 (2 survivors, resurrection is transitive) then 4. */
TEST(finalization_chain_heterogenous_resurrect_one)
{
    static const int k[] = {K_RESURRECT, K_SIMPLE, K_RESURRECT, K_SIMPLE};
    run_chain(k, 4, 0, 4);
}

/* 56. test_heterogenous_resurrect_two ([Resurrector, Simple, Suicidal] * 2).
 * python3 3.11.7: 0 (2 survivors) then 6. */
TEST(finalization_chain_heterogenous_resurrect_two)
{
    static const int k[] = {K_RESURRECT, K_SIMPLE, K_SUICIDE,
                            K_RESURRECT, K_SIMPLE, K_SUICIDE};
    run_chain(k, 6, 0, 6);
}

/* 56. test_heterogenous_resurrect_three ([Resurrector] * 2 + [Simple] * 2 +
 * [Suicidal] * 2).  python3 3.11.7: 0 (2 survivors) then 6. */
TEST(finalization_chain_heterogenous_resurrect_three)
{
    static const int k[] = {K_RESURRECT, K_RESURRECT, K_SIMPLE,
                            K_SIMPLE,    K_SUICIDE,   K_SUICIDE};
    run_chain(k, 6, 0, 6);
}

/* 57. LegacyFinalizationTest.test_legacy: a type with both tp_finalize and
 * tp_del; on refcount death both are called exactly once.  python3 3.11.7:
 * del 1, tp_del 1, gc.collect() == 0, still 1 and 1. */
TEST(finalization_legacy)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_flnode_type, 108, h_record, h_tp_record);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 58. test_legacy_resurrect: tp_del resurrects.  First death: __del__ x1,
 * tp_del x1, survivor; second death: __del__ still x1 (tp_finalize never
 * re-runs) but tp_del x2, survivor again.  python3 3.11.7: del 1 tpdel 1
 * surv 1 (finalized, tracked); then del 1 tpdel 2 surv 1. */
TEST(finalization_legacy_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s =
        fin_node(rt, &t_flnode_type, 109, h_record, h_tp_resurrect);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(rcgc_object_is_finalized(s));
    CHECK(rcgc_object_is_tracked(s));
    list_clear(rt, fs.survivors); /* second death */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 2);
    CHECK_EQ(t_log_count(&fs.tpdel, 109), 2);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 59. test_legacy_self_cycle: a self-cycle with tp_del is uncollectable:
 * nothing is called, it goes to gc.garbage and stays alive (a later
 * collection finds it reachable from gc.garbage: 0); the test breaks the
 * cycle and clears gc.garbage, and it dies by refcount, running __del__ and
 * tp_del once each.  python3 3.11.7: collect 1, del 0, tp_del 0, garbage
 * [s], collect again 0; after break + clear: freed, del 1, tp_del 1. */
TEST(finalization_legacy_self_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_flnode_type, 110, h_record, h_tp_record);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 0);
    CHECK_EQ(fs.tpdel.n, 0);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    rcgc_object **garbage = NULL;
    REQUIRE(rcgc_gc_get_garbage(rt, &garbage) == 1);
    CHECK(garbage[0] == s);
    rcgc_objects_free(rt, garbage, 1);
    CHECK(rcgc_object_is_tracked(s));
    CHECK(!rcgc_object_is_finalized(s));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(t_live_objects(rt), 2);
    /* gc.garbage[0].ref = None; gc.garbage.clear() */
    t_clear(rt, s);
    CHECK_EQ(t_live_objects(rt), 2);
    rcgc_gc_garbage_clear(rt);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* Spec §2.6/§2.11 ordering (delete_garbage before the uncollectable
 * objects are counted): an object with tp_del that is unreachable but not
 * part of a cycle, hanging off a collectable cycle, is set aside as
 * uncollectable, then dies by refcount when delete_garbage clears the cycle
 * (running __del__ and tp_del), so it is neither counted nor left in
 * gc.garbage.  python3 3.11.7 (leg2.py): gc.collect() == 2, gc.garbage
 * empty, calls ['del', 'tp_del']. */
TEST(legacy_leaf_of_collectable_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *p = t_node(rt, 1), *q = t_node(rt, 2);
    rcgc_object *l = fin_node(rt, &t_flnode_type, 3, h_record, h_tp_record);
    REQUIRE(p && q && l);
    t_link2(rt, p, q);
    t_append_steal(rt, p, l);
    rcgc_decref(rt, p);
    rcgc_decref(rt, q);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_gc_stats st[3];
    rcgc_gc_get_stats(rt, st);
    CHECK_EQ(st[2].collected, 2);
    CHECK_EQ(st[2].uncollectable, 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* ======================================================================== */
/* rcgc_object_call_finalizer (PyObject_CallFinalizer, spec §4.2)           */

static int h_return_5(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (*(int *)ctx)++;
    return 5;
}

static int h_count_0(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (*(int *)ctx)++;
    return 0;
}

TEST(call_finalizer)
{
    rcgc_runtime *rt = t_runtime();
    int calls = 0;
    /* GC type: runs once, returns the finalizer's result, then never again
     * (not even at refcount death). */
    rcgc_object *o = fin_node(rt, &t_fnode_type, 1, h_return_5, NULL);
    REQUIRE(o != NULL);
    t_as(o)->ctx = &calls;
    CHECK(!rcgc_object_is_finalized(o));
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK_EQ(calls, 1);
    CHECK(rcgc_object_is_finalized(o));
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK_EQ(calls, 1);
    CHECK_EQ(rcgc_object_refcount(o), 1);
    rcgc_decref(rt, o);
    CHECK_EQ(calls, 1);

    /* Untracked GC object: the mark lives in the collector header anyway. */
    calls = 0;
    o = rcgc_object_new(rt, &t_fnode_type);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = h_return_5;
    t_as(o)->ctx = &calls;
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK(rcgc_object_is_finalized(o));
    CHECK(!rcgc_object_is_tracked(o));
    rcgc_decref(rt, o);
    CHECK_EQ(calls, 1);

    /* Non-GC type: nowhere to keep the mark, runs every time. */
    calls = 0;
    o = fin_node(rt, &t_plain_type, 2, h_return_5, NULL);
    REQUIRE(o != NULL);
    t_as(o)->ctx = &calls;
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK(!rcgc_object_is_finalized(o));
    t_as(o)->on_finalize = h_count_0; /* once more at its death */
    rcgc_decref(rt, o);
    CHECK_EQ(calls, 3);

    /* No finalizer: nothing, 0. */
    o = t_node(rt, 3);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK(!rcgc_object_is_finalized(o));
    rcgc_decref(rt, o);

    /* A finalized object in a cycle is not finalized by the collector. */
    calls = 0;
    o = fin_node(rt, &t_fnode_type, 4, h_return_5, NULL);
    REQUIRE(o != NULL);
    t_as(o)->ctx = &calls;
    t_append(rt, o, o);
    rcgc_object_call_finalizer(rt, o);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(calls, 1);
    t_teardown(rt);
}

/* Allocates two new tracked nodes and keeps them. */
static int h_allocate(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    h_record(rt, self, ctx);
    for (int i = 0; i < 2; i++) {
        rcgc_object *n = t_node(rt, 900 + i);
        if (n == NULL) {
            act.alloc_failed++;
            continue;
        }
        t_append(rt, n, n); /* a cycle, so the collector has work later */
        t_append_steal(rt, act.holder, n);
    }
    return 0;
}

static int h_collect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    if (act.ncollect < 16)
        act.collect_results[act.ncollect++] = rcgc_gc_collect(rt, 2);
    return 0;
}

/* Drops the second reference of self (self.d.e = None; self.d = None in
 * fin3.py): item 1 is a node d that is in a cycle with e. */
static int h_kill_other(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    rcgc_object *d = t_as(self)->items[1];
    t_clear(rt, d);         /* d.e = None: e dies */
    t_remove(rt, self, d);  /* self.d = None: d dies */
    return 0;
}

/* self.o = None: breaks its own 2-cycle. */
static int h_break_own(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    t_clear(rt, self);
    return 0;
}

/* python3 3.11.7 (fin3.py): a 2-cycle whose first finalizer allocates
 * containers and keeps them: gc.collect() == 2, both finalized once; the
 * new objects survive (and are young: the next young collection sees
 * them).  On refcount death too. */
TEST(finalizer_allocates)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    memset(&act, 0, sizeof act);
    act.holder = t_node(rt, 0);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_allocate, NULL);
    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_record, NULL);
    REQUIRE(act.holder && a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(fs.del.n, 2);
    CHECK_EQ(t_as(act.holder)->n, 2);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0); /* 2 allocated, 2 freed since the reset */
    for (rcgc_ssize i = 0; i < t_as(act.holder)->n; i++)
        CHECK(rcgc_object_is_tracked(t_as(act.holder)->items[i]));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* Refcount death. */
    a = fin_node(rt, &t_fnode_type, 3, h_allocate, NULL);
    REQUIRE(a != NULL);
    rcgc_decref(rt, a);
    CHECK_EQ(fs.del.n, 3);
    CHECK_EQ(t_as(act.holder)->n, 4);
    /* The kept self-cycles are garbage once the holder lets go. */
    t_clear(rt, act.holder);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    rcgc_decref(rt, act.holder);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* A finalizer that allocates while automatic collection is on with a
 * threshold of 1: every allocation in it may start a collection (SYNC), which
 * must see the dying object (refcount 1, re-tracked) as alive.  test_gc.py
 * test_del_newclass-like "__del__ during tiny thresholds" (item 13). */
TEST(finalizer_allocates_with_tiny_threshold)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.threshold[0] = 1;
    cfg.threshold[1] = 1;
    cfg.threshold[2] = 1;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    fs_reset(rt);
    memset(&act, 0, sizeof act);
    act.holder = t_node(rt, 0);
    REQUIRE(act.holder != NULL);
    for (int i = 0; i < 50; i++) {
        rcgc_object *a = fin_node(rt, &t_fnode_type, 10 + i, h_allocate, NULL);
        REQUIRE(a != NULL);
        if (i % 2) { /* half of them in a self-cycle */
            t_append(rt, a, a);
            rcgc_decref(rt, a);
        } else {
            rcgc_decref(rt, a);
        }
        CHECK_EQ(rcgc_gc_check(rt), 0);
    }
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(fs.del.n, 50);
    for (int i = 0; i < 50; i++) CHECK_EQ(t_log_count(&fs.del, 10 + i), 1);
    CHECK_EQ(t_as(act.holder)->n, 100);
    t_clear(rt, act.holder);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(t_live_objects(rt), 2); /* holder and survivors */
    rcgc_decref(rt, act.holder);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* python3 3.11.7 (fin3.py, "F2c"): cycle a <-> b, a also holds d, d <-> e
 * is a second cycle of finalizer objects created after a and b.  a's
 * finalizer frees d and e by refcount while they sit in the unreachable
 * set: each is finalized once, from its deallocation, in the order a, e, d,
 * b; gc.collect() == 2 (only a and b are left to be counted). */
TEST(finalizer_frees_others_during_collection)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_kill_other, NULL);
    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_record, NULL);
    rcgc_object *d = fin_node(rt, &t_fnode_type, 4, h_record, NULL);
    rcgc_object *e = fin_node(rt, &t_fnode_type, 5, h_record, NULL);
    REQUIRE(a && b && d && e);
    t_link2(rt, a, b); /* a.items = [b, d] */
    t_append(rt, a, d);
    t_link2(rt, d, e);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, d);
    rcgc_decref(rt, e);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    REQUIRE(fs.del.n == 4);
    CHECK_EQ(fs.del.ids[0], 1);
    CHECK_EQ(fs.del.ids[1], 5);
    CHECK_EQ(fs.del.ids[2], 4);
    CHECK_EQ(fs.del.ids[3], 2);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* python3 3.11.7 (fin3.py, "F2b"): a 2-cycle whose first finalizer breaks
 * the cycle: the partner dies by refcount inside finalize_garbage and runs
 * its finalizer from its deallocation; gc.collect() == 0, calls a, b. */
TEST(finalizer_breaks_own_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_break_own, NULL);
    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_record, NULL);
    REQUIRE(a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    REQUIRE(fs.del.n == 2);
    CHECK_EQ(fs.del.ids[0], 1);
    CHECK_EQ(fs.del.ids[1], 2);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* Spec §8(g) / §3.11: gc.collect() from a finalizer returns 0 during a
 * collection, and collects normally on a refcount death outside one.
 * python3 3.11.7 (trash.py): [2] on refcount death with a pending 2-cycle;
 * 1 and [0] for a finalizer self-cycle collected by gc.collect(). */
TEST(finalizer_calls_collect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    memset(&act, 0, sizeof act);
    rcgc_object *x = t_node(rt, 1), *y = t_node(rt, 2);
    REQUIRE(x && y);
    t_link2(rt, x, y);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    rcgc_object *c = fin_node(rt, &t_fnode_type, 3, h_collect, NULL);
    REQUIRE(c != NULL);
    rcgc_decref(rt, c);
    REQUIRE(act.ncollect == 1);
    CHECK_EQ(act.collect_results[0], 2);
    CHECK_EQ(t_live_objects(rt), 1);

    c = fin_node(rt, &t_fnode_type, 4, h_collect, NULL);
    REQUIRE(c != NULL);
    t_append(rt, c, c);
    rcgc_decref(rt, c);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    REQUIRE(act.ncollect == 2);
    CHECK_EQ(act.collect_results[1], 0);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

TEST_MAIN(T(finalization_simple), T(finalization_simple_resurrect),
          T(finalization_non_gc), T(finalization_non_gc_resurrect),
          T(finalization_self_cycle), T(finalization_self_cycle_resurrect),
          T(finalization_self_cycle_suicide),
          T(finalization_chain_homogenous),
          T(finalization_chain_homogenous_resurrect),
          T(finalization_chain_homogenous_suicidal),
          T(finalization_chain_heterogenous_suicidal_one),
          T(finalization_chain_heterogenous_suicidal_two),
          T(finalization_chain_heterogenous_resurrect_one),
          T(finalization_chain_heterogenous_resurrect_two),
          T(finalization_chain_heterogenous_resurrect_three),
          T(finalization_legacy), T(finalization_legacy_resurrect),
          T(finalization_legacy_self_cycle),
          T(legacy_leaf_of_collectable_cycle), T(call_finalizer),
          T(finalizer_allocates), T(finalizer_allocates_with_tiny_threshold),
          T(finalizer_frees_others_during_collection),
          T(finalizer_breaks_own_cycle), T(finalizer_calls_collect))

/*
 * test_weakref.c - weak references (CPython's weakref.ref,
 * Objects/weakrefobject.c), part 1: creation and sharing of the basic
 * reference, the count and the list order, and callbacks on refcount death
 * (after the finalizer, newest first, every reference already dead),
 * resurrection by refcount.  Part 2 (test_weakref_gc.c) is death in
 * collections; part 3 (test_weakref_method.c) the unraisable hook, weak
 * methods, out of memory and the trashcan.
 *
 * Every expected outcome is CPython 3.11's.  Unless a comment says otherwise
 * it was confirmed on this machine's python3 (3.11.7) with the equivalent
 * graph built from one-GC-object nodes
 *     class N(list): __slots__ = ('__weakref__',)
 * after gc.disable() and a cleaning gc.collect(); a C callback stands for a
 * module-level Python function (never garbage), and where CPython's callback
 * is itself part of the garbage (a lambda or a bound method stored in the
 * trash) the callback's argument object stands for it (a node holding the
 * method's self), so that the counts compare one to one.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "test.h"
#include "weakref_fixtures.h"

/* Logs the id of its argument (a node). */
static int cb_log_arg(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    g.calls++;
    logv(t_as(arg)->id);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* creation, sharing, count and list                                         */

/* test_weakref.py test_basic_ref / check_basic_ref; spec §9.3 item 60: ref(o)()
 * is o while o lives (rcgc: a NEW reference), None once it died. */
TEST(basic_ref_alive_then_dead)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *wr = rcgc_weakref_new(rt, o, NULL, NULL);
    REQUIRE(wr != NULL);
    CHECK(rcgc_is_weakref(wr));
    CHECK(!rcgc_is_weakref(o));
    CHECK(rcgc_object_is_tracked(wr)); /* a tracked object, as in CPython */
    CHECK_EQ(o->refcnt, 1);            /* the reference is weak */
    rcgc_object *got = rcgc_weakref_get(rt, wr);
    CHECK(got == o);
    CHECK_EQ(o->refcnt, 2); /* a new reference, never a borrowed one */
    rcgc_decref(rt, got);
    rcgc_decref(rt, o);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_decref(rt, wr);
    t_finish(rt);
}

/* test_weakref.py test_basic_callback / check_basic_callback; spec §9.3
 * item 61, §5.3: the callback is called exactly once, with the weak
 * reference, which is already dead inside it. */
TEST(basic_callback_once)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *arg = t_wnode(rt, 7);
    rcgc_object *wr = rcgc_weakref_new(rt, o, cb_record, arg);
    REQUIRE(wr != NULL);
    CHECK_EQ(arg->refcnt, 2); /* the weak reference keeps its argument */
    rcgc_decref(rt, o);
    CHECK_EQ(g.calls, 1);
    CHECK(g.last_wr == wr);
    CHECK(g.last_arg == arg);
    CHECK_EQ(g.last_dead, 1);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    /* refcount death: the callback and its argument are let go (wr.__callback__
     * is None afterwards) */
    CHECK_EQ(arg->refcnt, 1);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, arg);
    CHECK_EQ(g.calls, 1);
    t_finish(rt);
}

/* test_weakref.py test_ref_reuse, test_shared_ref_without_callback; spec
 * §5.2, §9.3 items 66, 68: asking twice without a callback gives the same
 * object; references with a callback are always new; the list is the basic
 * reference first, then the others newest first (python3: getweakrefs(o) is
 * [r1, r4, r3], count 3; a basic reference made after a callback reference
 * goes to the head: [b, c1]). */
TEST(ref_reuse_and_list_order)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *r1 = rcgc_weakref_new(rt, o, NULL, NULL);
    rcgc_object *r2 = rcgc_weakref_new(rt, o, NULL, NULL);
    CHECK(r1 != NULL && r1 == r2);
    CHECK_EQ(r1->refcnt, 2);
    rcgc_object *r3 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    rcgc_object *r4 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    CHECK(r3 != NULL && r4 != NULL && r3 != r4 && r3 != r1);
    CHECK_EQ(rcgc_weakref_count(o), 3);
    rcgc_object **l = NULL;
    rcgc_ssize n = rcgc_weakref_list(rt, o, &l);
    CHECK_EQ(n, 3);
    if (n == 3) CHECK(l[0] == r1 && l[1] == r4 && l[2] == r3);
    rcgc_objects_free(rt, l, n);

    rcgc_object *o2 = t_wnode(rt, 2);
    rcgc_object *c1 = rcgc_weakref_new(rt, o2, cb_nothing, NULL);
    rcgc_object *b = rcgc_weakref_new(rt, o2, NULL, NULL);
    n = rcgc_weakref_list(rt, o2, &l);
    CHECK_EQ(n, 2);
    if (n == 2) CHECK(l[0] == b && l[1] == c1);
    rcgc_objects_free(rt, l, n);
    /* a reference with only an argument is not the basic one either */
    rcgc_object *a1 = rcgc_weakref_new(rt, o2, NULL, o);
    CHECK(a1 != NULL && a1 != b);
    CHECK_EQ(rcgc_weakref_count(o2), 3);

    /* deleting the basic reference: the others stay, in order */
    rcgc_decref(rt, r1);
    rcgc_decref(rt, r2);
    n = rcgc_weakref_list(rt, o, &l);
    CHECK_EQ(n, 2);
    if (n == 2) CHECK(l[0] == r4 && l[1] == r3);
    rcgc_objects_free(rt, l, n);
    rcgc_decref(rt, r3);
    rcgc_decref(rt, r4);
    CHECK_EQ(rcgc_weakref_count(o), 0);
    /* a new basic reference after all were deleted is a new object */
    rcgc_object *r5 = rcgc_weakref_new(rt, o, NULL, NULL);
    CHECK(r5 != NULL);
    CHECK_EQ(rcgc_weakref_count(o), 1);
    rcgc_decref(rt, r5);
    rcgc_decref(rt, a1);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c1);
    rcgc_decref(rt, o2);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* test_weakref.py test_getweakrefcount; spec §9.3 item 72 (without
 * proxies): 2 references -> 2; all deleted -> 0; an object of a type that
 * cannot be weakly referenced -> 0 (getweakrefcount(1) == 0, python3). */
TEST(getweakrefcount)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *ref1 = rcgc_weakref_new(rt, o, NULL, NULL);
    rcgc_object *ref2 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    CHECK_EQ(rcgc_weakref_count(o), 2);
    rcgc_decref(rt, ref1);
    rcgc_decref(rt, ref2);
    CHECK_EQ(rcgc_weakref_count(o), 0);
    rcgc_object *i = t_leaf(rt, 1);
    rcgc_object *l = t_node(rt, 2);
    CHECK_EQ(rcgc_weakref_count(i), 0);
    CHECK_EQ(rcgc_weakref_count(l), 0);
    rcgc_decref(rt, i);
    rcgc_decref(rt, l);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* test_weakref.py test_getweakrefs; spec §9.3 item 73: after deleting ref1
 * the list is [ref2]; after deleting ref2 (other object) [ref1]; then [];
 * [] for an int. */
TEST(getweakrefs_after_deletions)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object **l = NULL;
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *ref1 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    rcgc_object *ref2 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    rcgc_decref(rt, ref1);
    rcgc_ssize n = rcgc_weakref_list(rt, o, &l);
    CHECK_EQ(n, 1);
    if (n == 1) CHECK(l[0] == ref2);
    rcgc_objects_free(rt, l, n);
    rcgc_decref(rt, ref2);
    rcgc_decref(rt, o);

    o = t_wnode(rt, 2);
    ref1 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    ref2 = rcgc_weakref_new(rt, o, cb_nothing, NULL);
    rcgc_decref(rt, ref2);
    n = rcgc_weakref_list(rt, o, &l);
    CHECK_EQ(n, 1);
    if (n == 1) CHECK(l[0] == ref1);
    rcgc_objects_free(rt, l, n);
    rcgc_decref(rt, ref1);
    n = rcgc_weakref_list(rt, o, &l);
    CHECK_EQ(n, 0);
    rcgc_objects_free(rt, l, n);

    rcgc_object *i = t_leaf(rt, 3);
    n = rcgc_weakref_list(rt, i, &l);
    CHECK_EQ(n, 0);
    rcgc_objects_free(rt, l, n);
    rcgc_decref(rt, i);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* Spec §5.7 / §5.2: a type without the flag cannot be weakly referenced
 * (CPython: TypeError "cannot create weak reference to 'list' object");
 * rcgc: NULL with RCGC_ENOTWEAK, for GC and non-GC types, for weak methods
 * too; a weak method without func is RCGC_EINVAL.  Nothing is allocated. */
TEST(not_weakrefable_is_enotweak)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *l = t_node(rt, 1);
    rcgc_object *i = t_leaf(rt, 2);
    rcgc_object *o = t_wnode(rt, 3);
    rcgc_ssize before = t_live_objects(rt);
    CHECK(rcgc_weakref_new(rt, l, NULL, NULL) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOTWEAK);
    CHECK(rcgc_weakref_new(rt, i, cb_nothing, NULL) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOTWEAK);
    CHECK(rcgc_weakmethod_new(rt, l, o, NULL, NULL) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOTWEAK);
    CHECK(rcgc_weakmethod_new(rt, o, NULL, NULL, NULL) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK_EQ(t_live_objects(rt), before);
    /* a weakly referenceable object of a non-GC type works */
    rcgc_object *w = t_new(rt, &t_wleaf_type, 4);
    rcgc_object *wr = rcgc_weakref_new(rt, w, NULL, NULL);
    CHECK(wr != NULL);
    rcgc_decref(rt, w);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, l);
    rcgc_decref(rt, i);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* refcount death                                                            */

/* test_weakref.py test_multiple_callbacks; spec §9.3 item 62: two
 * references with callbacks -> 2 calls, both dead. */
TEST(multiple_callbacks)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *ref1 = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_object *ref2 = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_decref(rt, o);
    CHECK(rcgc_weakref_get(rt, ref1) == NULL);
    CHECK(rcgc_weakref_get(rt, ref2) == NULL);
    CHECK_EQ(g.calls, 2);
    rcgc_decref(rt, ref1);
    rcgc_decref(rt, ref2);
    t_finish(rt);
}

/* Spec §8 (d), §5.3: three references with callbacks created 1, 2, 3 ->
 * refcount death calls them [3, 2, 1] (python3). */
TEST(callbacks_newest_first_on_refcount_death)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_wnode(rt, 0);
    rcgc_object *rs[3], *ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = t_leaf(rt, i + 1);
        rs[i] = rcgc_weakref_new(rt, o, cb_log_arg, ids[i]);
        rcgc_decref(rt, ids[i]);
    }
    rcgc_decref(rt, o);
    CHECK_LOG(3, 2, 1);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, rs[i]);
    t_finish(rt);
}

/* Spec §8 (d), §2.8.1: the same in a collection (o in a self-cycle) ->
 * [3, 2, 1]; collect() returns 1 (the references are held). */
TEST(callbacks_newest_first_in_collection)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 0);
    rcgc_object *rs[3];
    for (int i = 0; i < 3; i++) {
        rcgc_object *id = t_leaf(rt, i + 1);
        rs[i] = rcgc_weakref_new(rt, o, cb_log_arg, id);
        rcgc_decref(rt, id);
    }
    rcgc_decref(rt, o);
    CHECK_EQ(g.n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_LOG(3, 2, 1);
    for (int i = 0; i < 3; i++) CHECK(rcgc_weakref_get(rt, rs[i]) == NULL);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, rs[i]);
    t_finish(rt);
}

/* Looks at every reference of g.refs: logs 1 for a live one, 0 for a dead
 * one. */
static int cb_look_at_all(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    for (int i = 0; i < g.nrefs; i++) logv(t_wr_alive(rt, g.refs[i]));
    return 0;
}

/* test_weakref.py test_multiple_selfref_callbacks; spec §5.3, §9.3 item 63:
 * every reference is cleared before the first callback runs: each callback
 * finds all of them dead (python3: [[None, None, None], [None, None, None]]). */
TEST(multiple_selfref_callbacks)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *c = t_wnode(rt, 1);
    g.refs[0] = rcgc_weakref_new(rt, c, cb_look_at_all, NULL);
    g.refs[1] = rcgc_weakref_new(rt, c, cb_look_at_all, NULL);
    g.refs[2] = rcgc_weakref_new(rt, c, NULL, NULL);
    g.nrefs = 3;
    rcgc_decref(rt, c);
    CHECK_LOG(0, 0, 0, 0, 0, 0);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, g.refs[i]);
    t_finish(rt);
}

/* Spec §5.3 ("if the weakref object dies before its referent, its callback
 * never runs", python3: []). */
TEST(weakref_dying_first_never_calls_back)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *w = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_decref(rt, w);
    CHECK_EQ(rcgc_weakref_count(o), 0);
    rcgc_decref(rt, o);
    CHECK_EQ(g.calls, 0);
    t_finish(rt);
}

/* test_weakref.py test_subclass_refs_with_cycle (issue3100); spec §9.3 item
 * 89: a weak reference that holds the only strong reference to its own
 * referent (rcgc: as its callback argument) is deleted -> the referent dies
 * and the callback is not called (cbcalled == 0); the same with two
 * references, r1 holding r2 which holds o (python3: cbcalled 0). */
TEST(weakref_owning_its_referent_no_callback)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *r1 = rcgc_weakref_new(rt, o, cb_record, o);
    rcgc_decref(rt, o);
    CHECK(t_wr_alive(rt, r1));
    rcgc_decref(rt, r1);
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(t_live_objects(rt), 0);

    o = t_wnode(rt, 2);
    rcgc_object *r2 = rcgc_weakref_new(rt, o, cb_record, o);
    r1 = rcgc_weakref_new(rt, o, cb_record, r2);
    rcgc_decref(rt, o);
    rcgc_decref(rt, r2);
    rcgc_decref(rt, r1);
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* A finalizer hook: logs 10 if g.refs[0] is alive, 11 if it is dead. */
static int h_log_wr(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    logv(10 + !t_wr_alive(rt, g.refs[0]));
    return 0;
}

/* Spec §4.1 ("order.py"), §8 (d): on refcount death __del__ runs first and
 * sees its weak reference alive, then the callback runs with r() None
 * (python3: [('del', alive), ('cb', dead)]). */
TEST(finalizer_before_callbacks_on_refcount_death)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_new(rt, &t_wfnode_type, 1);
    t_as(o)->on_finalize = h_log_wr;
    g.refs[0] = rcgc_weakref_new(rt, o, cb_log_wr, NULL);
    rcgc_decref(rt, o);
    CHECK_LOG(10, 21);
    rcgc_decref(rt, g.refs[0]);
    t_finish(rt);
}

/* Spec §2.8.1, §8 (d): in cyclic death the order is reversed: the callback
 * first, then __del__, which finds the reference dead (python3, __del__ on
 * the class: collect() == 1, [('cb', dead), ('del', dead)]). */
TEST(callbacks_before_finalizer_in_collection)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_self_cycle(rt, &t_wfnode_type, 1);
    t_as(o)->on_finalize = h_log_wr;
    g.refs[0] = rcgc_weakref_new(rt, o, cb_log_wr, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_LOG(21, 11);
    rcgc_decref(rt, g.refs[0]);
    t_finish(rt);
}

static int h_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    return t_append(rt, g.holder, self);
}

/* test_finalization.py SimpleFinalizationTest test_simple_resurrect; spec §4.2, §9.2 item 47: a __del__ that stores self
 * on refcount death -> called once, survivor, wr() is NOT None (refcount
 * resurrection keeps the weak references) and no callback; after the
 * survivor is dropped: __del__ not called again, wr() None, callback once
 * (python3: [] then ['cb']). */
TEST(refcount_resurrection_keeps_weakrefs)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    g.holder = t_node(rt, 0);
    rcgc_object *o = t_new(rt, &t_wfnode_type, 1);
    t_as(o)->on_finalize = h_resurrect;
    rcgc_object *wr = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(t_as(o)->nfinalize, 1);
    CHECK_EQ(t_as(g.holder)->n, 1);
    CHECK(t_wr_alive(rt, wr));
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(rcgc_weakref_has_callback(wr), 1);
    t_clear(rt, g.holder);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, g.holder);
    t_finish(rt);
}

static long g_del_calls;

static int h_count_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    g_del_calls++;
    return h_resurrect(rt, self, ctx);
}

/* test_finalization.py SelfCycleFinalizationTest test_simple_resurrect;
 * spec §2.8.1, §9.2 item 51, §8 (d): a self-cycle whose __del__ resurrects
 * it -> __del__ once, survivor, but wr() IS None (weak references are
 * cleared before finalizers run) and the callback did fire; collect() == 0;
 * after the survivor is dropped: collect() == 1, no second __del__, no
 * second callback (python3 with __del__ on the class: 0, [cb], 1). */
TEST(cyclic_resurrection_leaves_weakrefs_dead)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    g_del_calls = 0;
    g.holder = t_node(rt, 0);
    rcgc_object *o = t_self_cycle(rt, &t_wfnode_type, 1);
    t_as(o)->on_finalize = h_count_resurrect;
    rcgc_object *wr = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_object *wr2 = rcgc_weakref_new(rt, o, NULL, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(g_del_calls, 1);
    CHECK_EQ(t_as(g.holder)->n, 1);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    CHECK(rcgc_weakref_get(rt, wr2) == NULL);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(rcgc_weakref_count(o), 0); /* it lives on with no weak refs */
    t_clear(rt, g.holder);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(g_del_calls, 1);
    CHECK_EQ(g.calls, 1);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, wr2);
    rcgc_decref(rt, g.holder);
    t_finish(rt);
}

/* Creates a weak reference with callback, and a basic one, to self, and
 * keeps both in g.refs. */
static int h_make_refs(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    g.refs[g.nrefs++] = rcgc_weakref_new(rt, self, cb_record, NULL);
    g.refs[g.nrefs++] = rcgc_weakref_new(rt, self, NULL, NULL);
    return 0;
}

/* test_weakref.py test_ref_created_during_del (bug #1377858); spec §4.1,
 * §9.3 item 80: weak references created by __del__ are cleared with the
 * others, and their callbacks run (python3: ['cb'], both dead); those
 * created by a legacy finalizer (tp_del) are cleared silently, without
 * their callbacks (subtype_dealloc step 5). */
TEST(weakref_created_during_finalizer)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_new(rt, &t_wfnode_type, 1);
    t_as(o)->on_finalize = h_make_refs;
    rcgc_decref(rt, o);
    REQUIRE(g.nrefs == 2 && g.refs[0] != NULL && g.refs[1] != NULL);
    CHECK_EQ(g.calls, 1);
    CHECK(rcgc_weakref_get(rt, g.refs[0]) == NULL);
    CHECK(rcgc_weakref_get(rt, g.refs[1]) == NULL);
    rcgc_decref(rt, g.refs[0]);
    rcgc_decref(rt, g.refs[1]);

    reset();
    o = t_new(rt, &t_wlnode_type, 2);
    t_as(o)->on_legacy = h_make_refs;
    rcgc_decref(rt, o);
    REQUIRE(g.nrefs == 2 && g.refs[0] != NULL && g.refs[1] != NULL);
    CHECK_EQ(g.calls, 0);
    CHECK(rcgc_weakref_get(rt, g.refs[0]) == NULL);
    CHECK(rcgc_weakref_get(rt, g.refs[1]) == NULL);
    CHECK_EQ(rcgc_weakref_has_callback(g.refs[0]), 1); /* never called */
    rcgc_decref(rt, g.refs[0]);
    rcgc_decref(rt, g.refs[1]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* test_weakref.py test_callback_attribute, test_callback_attribute_after_
 * deletion; spec §5.5, §9.3 item 86: __callback__ is the callback, None
 * without one, None after refcount death.  After a death in a collection
 * CPython 3.11's handle_weakrefs calls the callback but leaves wr_callback
 * set (python3: r.__callback__ is cbx after gc.collect()): rcgc reports it
 * as still set too. */
TEST(has_callback_semantics)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *x = t_wnode(rt, 1);
    rcgc_object *ref1 = rcgc_weakref_new(rt, x, cb_record, NULL);
    rcgc_object *ref2 = rcgc_weakref_new(rt, x, NULL, NULL);
    CHECK_EQ(rcgc_weakref_has_callback(ref1), 1);
    CHECK_EQ(rcgc_weakref_has_callback(ref2), 0);
    rcgc_decref(rt, x);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(rcgc_weakref_has_callback(ref1), 0);
    CHECK_EQ(rcgc_weakref_has_callback(ref2), 0);
    rcgc_decref(rt, ref1);
    rcgc_decref(rt, ref2);

    rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 2);
    rcgc_object *r = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(g.calls, 2);
    CHECK_EQ(rcgc_weakref_has_callback(r), 1);
    rcgc_decref(rt, r);
    t_finish(rt);
}

/* rcgc_weakref_is_basic: only the shared callback-free reference, and only
 * while it lives (CPython: the one ref(o) returns). */
TEST(is_basic_semantics)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_new(rt, &t_wnode_type, 0);
    rcgc_object *cb = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_object *basic = rcgc_weakref_new(rt, o, NULL, NULL);
    rcgc_object *func = t_new(rt, &t_wnode_type, 0);
    rcgc_object *wm = rcgc_weakmethod_new(rt, o, func, NULL, NULL);
    rcgc_object *ws = rcgc_wset_new(rt);
    CHECK_EQ(rcgc_wset_add(rt, ws, o), 0);
    rcgc_object **refs;
    rcgc_ssize n = rcgc_weakref_list(rt, o, &refs);
    CHECK_EQ(n, 4);
    CHECK(refs[0] == basic);
    for (rcgc_ssize i = 0; i < n; i++) CHECK_EQ(rcgc_weakref_is_basic(refs[i]), i == 0);
    rcgc_objects_free(rt, refs, n);
    CHECK_EQ(rcgc_weakref_is_basic(cb), 0);
    CHECK_EQ(rcgc_weakref_is_basic(wm), 0);
    CHECK_EQ(rcgc_weakref_is_basic(o), 0);
    CHECK_EQ(rcgc_weakref_is_basic(NULL), 0);
    rcgc_decref(rt, ws);
    rcgc_decref(rt, wm);
    rcgc_decref(rt, func);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_weakref_is_basic(basic), 0); /* dead */
    rcgc_decref(rt, basic);
    rcgc_decref(rt, cb);
    t_finish(rt);
}

TEST_MAIN(T(basic_ref_alive_then_dead), T(is_basic_semantics), T(basic_callback_once),
          T(ref_reuse_and_list_order), T(getweakrefcount),
          T(getweakrefs_after_deletions), T(not_weakrefable_is_enotweak),
          T(multiple_callbacks), T(callbacks_newest_first_on_refcount_death),
          T(callbacks_newest_first_in_collection),
          T(multiple_selfref_callbacks),
          T(weakref_dying_first_never_calls_back),
          T(weakref_owning_its_referent_no_callback),
          T(finalizer_before_callbacks_on_refcount_death),
          T(callbacks_before_finalizer_in_collection),
          T(refcount_resurrection_keeps_weakrefs),
          T(cyclic_resurrection_leaves_weakrefs_dead),
          T(weakref_created_during_finalizer), T(has_callback_semantics))

/*
 * test_weakref.c - weak references and weak methods (CPython's weakref.ref
 * and WeakMethod, Objects/weakrefobject.c, Modules/gcmodule.c's
 * handle_weakrefs): creation and sharing of the basic reference, the count
 * and the list order, callbacks on refcount death (after the finalizer,
 * newest first, every reference already dead) and on cyclic death (before
 * the finalizers, never for weak references that are garbage themselves),
 * what collect() counts, resurrection, callbacks that collect, create and
 * drop references, the unraisable hook, weak methods, and a 10^5-deep
 * deallocation chain through weak reference callbacks (the trashcan).
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

/* ------------------------------------------------------------------------ */
/* callback recording                                                        */

static struct {
    int log[256]; /* values logged by callbacks and finalizers, in order */
    int n;
    int calls;
    rcgc_object *last_wr;   /* what the last callback received */
    rcgc_object *last_arg;
    int last_dead;          /* rcgc_weakref_get(last_wr) was NULL inside */
    rcgc_object *refs[8];   /* references some callbacks look at */
    int nrefs;
    rcgc_ssize inner;       /* what a nested rcgc_gc_collect returned */
    rcgc_object *holder;    /* a node some callbacks change */
    rcgc_object *target;    /* an object some callbacks act on */
} g;

static void reset(void)
{
    memset(&g, 0, sizeof g);
}

static void logv(int v)
{
    if (g.n < 256) g.log[g.n++] = v;
}

static int log_is(const int *want, int n)
{
    if (g.n != n) return 0;
    for (int i = 0; i < n; i++)
        if (g.log[i] != want[i]) return 0;
    return 1;
}

#define CHECK_LOG(...)                                                        \
    do {                                                                      \
        static const int want_[] = {__VA_ARGS__};                             \
        int nwant_ = (int)(sizeof want_ / sizeof want_[0]);                   \
        if (!log_is(want_, nwant_)) {                                         \
            t_fail(__FILE__, __LINE__, "log has %d entries, expected %s", g.n, \
                   #__VA_ARGS__);                                             \
            for (int i_ = 0; i_ < g.n; i_++)                                  \
                fprintf(stderr, "  log[%d] = %d\n", i_, g.log[i_]);          \
        }                                                                     \
    } while (0)

/* Counts, remembers what it received and whether the reference was dead. */
static int cb_record(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    g.calls++;
    g.last_wr = wr;
    g.last_arg = arg;
    g.last_dead = !t_wr_alive(rt, wr);
    return 0;
}

/* Logs the id of its argument (a node). */
static int cb_log_arg(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    g.calls++;
    logv(t_as(arg)->id);
    return 0;
}

static int cb_nothing(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
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

/* Logs 20 if its reference is alive, 21 if it is dead. */
static int cb_log_wr(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)arg;
    logv(20 + !t_wr_alive(rt, wr));
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

/* ------------------------------------------------------------------------ */
/* collections                                                               */

/* Spec §8 (d) / §2.8.1 rule 1-2: a weak reference with callback stored
 * inside the garbage (o1.append(ref(o1, lambda r: ...)), o1 <-> o2): the
 * callback is not called; collect() == 4 (o1, o2, the reference and the
 * lambda; rcgc: the argument node stands for the lambda) (python3: 4, []). */
TEST(weakref_in_garbage_not_called)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o1 = t_wnode(rt, 1), *o2 = t_wnode(rt, 2);
    t_link2(rt, o1, o2);
    rcgc_object *lambda = t_wnode(rt, 3);
    t_append_steal(rt, o1, rcgc_weakref_new(rt, o1, cb_record, lambda));
    rcgc_decref(rt, lambda);
    rcgc_decref(rt, o1);
    rcgc_decref(rt, o2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §8 (d): a weak reference with callback inside a garbage self-cycle
 * but pointing to a live object keep: collect() == 3 (object, reference,
 * lambda); the callback never runs, not even when keep dies later (the
 * reference was cleared as garbage) (python3: 3, [], then [] and 0). */
TEST(weakref_in_garbage_to_live_object)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *keep = t_wnode(rt, 1);
    rcgc_object *t = t_self_cycle(rt, &t_wnode_type, 2);
    rcgc_object *lambda = t_wnode(rt, 3);
    t_append_steal(rt, t, rcgc_weakref_new(rt, keep, cb_record, lambda));
    rcgc_decref(rt, lambda);
    rcgc_decref(rt, t);
    CHECK_EQ(rcgc_weakref_count(keep), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(rcgc_weakref_count(keep), 0);
    rcgc_decref(rt, keep);
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_finish(rt);
}

/* A bound method's callback (C.acallback / C.cb): logs the id of the
 * method's self (item 0 of the argument node). */
static int cb_method(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    g.calls++;
    logv(100 + t_as(t_as(arg)->items[0])->id);
    return 0;
}

/* Logs 1 ("C went away" / "safe_callback called"). */
static int cb_log_one(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    logv(1);
    return 0;
}

/* NEW: a "bound method" of self: a weakly referenceable node holding self. */
static rcgc_object *method_of(rcgc_runtime *rt, rcgc_object *self)
{
    rcgc_object *m = t_wnode(rt, 50);
    t_append(rt, m, self);
    return m;
}

/* test_weakref.py test_callback_in_cycle_resurrection; spec §9.3 item 77:
 * c1 <-> c2, each holding a weak reference with a bound-method callback to
 * the other, both instances of a class C (a self-cycle they reference), and
 * an external ref(C, C_went_away): after collect() only "C went away" ran
 * and wr() is None; a second collect adds nothing (python3 with N nodes:
 * collect() == 7 (C, c1, c2, 2 references, 2 bound methods), then 0). */
TEST(callback_in_cycle_resurrection)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *C = t_self_cycle(rt, &t_wnode_type, 0);
    rcgc_object *c1 = t_wnode(rt, 1), *c2 = t_wnode(rt, 2);
    t_append(rt, c1, C);
    t_append(rt, c2, C);
    t_link2(rt, c1, c2);
    rcgc_object *m1 = method_of(rt, c1), *m2 = method_of(rt, c2);
    t_append_steal(rt, c1, rcgc_weakref_new(rt, c2, cb_method, m1));
    t_append_steal(rt, c2, rcgc_weakref_new(rt, c1, cb_method, m2));
    rcgc_decref(rt, m1);
    rcgc_decref(rt, m2);
    rcgc_object *wr = rcgc_weakref_new(rt, C, cb_log_one, NULL);
    rcgc_decref(rt, c1);
    rcgc_decref(rt, c2);
    rcgc_decref(rt, C);
    CHECK_EQ(g.n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 7);
    CHECK_LOG(1);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    reset();
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(g.n, 0);
    rcgc_decref(rt, wr);
    t_finish(rt);
}

/* test_weakref.py test_callbacks_on_callback; spec §2.8.1, §9.3 item 78:
 * c <-> d; callback = c.cb; c.wr = ref(d, callback); d.wr = ref(callback,
 * d.cb); external_wr = ref(callback, safe_callback).  Only safe_callback
 * runs; external_wr() is None; a second collect adds nothing (python3 with
 * N nodes: collect() == 6 (c, d, 2 references, 2 bound methods), then 0). */
TEST(callbacks_on_callback)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *c = t_wnode(rt, 1), *d = t_wnode(rt, 2);
    t_link2(rt, c, d);
    rcgc_object *callback = method_of(rt, c);
    rcgc_object *dcb = method_of(rt, d);
    t_append_steal(rt, c, rcgc_weakref_new(rt, d, cb_method, callback));
    t_append_steal(rt, d, rcgc_weakref_new(rt, callback, cb_method, dcb));
    rcgc_decref(rt, dcb);
    rcgc_object *external_wr = rcgc_weakref_new(rt, callback, cb_log_one, NULL);
    rcgc_object *got = rcgc_weakref_get(rt, external_wr);
    CHECK(got == callback);
    rcgc_xdecref(rt, got);
    rcgc_decref(rt, callback);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    CHECK_EQ(g.n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 6);
    CHECK_LOG(1);
    CHECK(rcgc_weakref_get(rt, external_wr) == NULL);
    reset();
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(g.n, 0);
    rcgc_decref(rt, external_wr);
    t_finish(rt);
}

/* Records, for every reference of g.refs, whether it is alive. */
static int cb_ouch(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    g.calls++;
    g.n = 0;
    for (int i = 0; i < g.nrefs; i++) logv(t_wr_alive(rt, g.refs[i]));
    return 0;
}

/* test_gc.py test_bug1055820b: two self-cycles with weak references whose
 * callback materialises both referents: the first collect finds nothing;
 * once they are garbage the callbacks run and see [None, None] (python3:
 * 0, then 2 and [None, None]). */
TEST(bug1055820b)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *cs[2];
    for (int i = 0; i < 2; i++) {
        cs[i] = t_self_cycle(rt, &t_wnode_type, i);
        g.refs[i] = rcgc_weakref_new(rt, cs[i], cb_ouch, NULL);
    }
    g.nrefs = 2;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(g.calls, 0);
    rcgc_decref(rt, cs[0]);
    rcgc_decref(rt, cs[1]);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(g.calls, 2);
    CHECK_LOG(0, 0);
    for (int i = 0; i < 2; i++) rcgc_decref(rt, g.refs[i]);
    t_finish(rt);
}

/* test_gc.py test_bug1055820c: c0 in generation 2, kept alive only by c1
 * (a young self-cycle); c2 a young self-cycle with a callback-free weak
 * reference c2wr; c0wr = ref(c0, callback) where the callback reads c2wr().
 * A generation-0 collection frees c1 and c2; clearing c1 kills c0 by
 * refcount, and its callback must find c2wr() None (python3 with
 * gc.collect(0): 2, ouch == [None]). */
TEST(bug1055820c)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *c0 = t_self_cycle(rt, &t_wnode_type, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0); /* c0 to generation 2 */
    rcgc_object *c1 = t_self_cycle(rt, &t_wnode_type, 1);
    t_append(rt, c1, c0);
    t_remove(rt, c0, c0); /* now only c1 keeps c0 alive */
    rcgc_object *c2 = t_self_cycle(rt, &t_wnode_type, 2);
    g.refs[0] = rcgc_weakref_new(rt, c2, NULL, NULL);
    g.nrefs = 1;
    rcgc_object *c0wr = rcgc_weakref_new(rt, c0, cb_ouch, NULL);
    rcgc_decref(rt, c0);
    rcgc_decref(rt, c1);
    rcgc_decref(rt, c2);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 2);
    CHECK_EQ(g.calls, 1);
    CHECK_LOG(0);
    CHECK(rcgc_weakref_get(rt, c0wr) == NULL);
    rcgc_decref(rt, c0wr);
    rcgc_decref(rt, g.refs[0]);
    t_finish(rt);
}

static int h_ouch(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    return cb_ouch(rt, NULL, NULL);
}

/* test_gc.py test_bug1055820d: the same with a __del__ on d0 instead of a
 * callback: d0's __del__ (run by refcount death in the middle of
 * delete_garbage) must find c2wr() None (python3 with gc.collect(0): 2,
 * ouch == [None]). */
TEST(bug1055820d)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *d0 = t_self_cycle(rt, &t_wfnode_type, 0);
    t_as(d0)->on_finalize = h_ouch;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_object *c1 = t_self_cycle(rt, &t_wnode_type, 1);
    t_append(rt, c1, d0);
    t_remove(rt, d0, d0);
    rcgc_object *c2 = t_self_cycle(rt, &t_wnode_type, 2);
    g.refs[0] = rcgc_weakref_new(rt, c2, NULL, NULL);
    g.nrefs = 1;
    rcgc_decref(rt, d0);
    rcgc_decref(rt, c1);
    rcgc_decref(rt, c2);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 2);
    CHECK_EQ(g.calls, 1);
    CHECK_LOG(0);
    rcgc_decref(rt, g.refs[0]);
    t_finish(rt);
}

/* test_gc.py test_trash_weakref_clear (bpo-38006); spec §2.8.1 rule 1:
 *   Z <- Y <- A --> WZ -> callback,  A -> A,  wr_cycle -> WZ, wr_cycle -> itself
 * Y (ContainerNoGC) has no traverse the collector can use, so Z looks
 * reachable; A, WZ and wr_cycle are garbage.  WZ must be cleared before Z
 * dies during delete_garbage: the callback is never called (python3 with
 * _testcapi.ContainerNoGC and N nodes: collect() == 3, callback not called). */
TEST(trash_weakref_clear_bpo38006)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *a = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *y = t_new(rt, &t_wnogc_type, 2);
    rcgc_object *z = t_wnode(rt, 3);
    t_append_steal(rt, y, z);
    t_append_steal(rt, a, y);
    rcgc_object *wz = rcgc_weakref_new(rt, z, cb_record, NULL);
    t_append(rt, a, wz);
    rcgc_object *wr_cycle = t_self_cycle(rt, &t_wnode_type, 4);
    t_append_steal(rt, wr_cycle, wz);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, wr_cycle);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    CHECK_EQ(g.calls, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* test_finalization.py LegacyFinalizationTest test_legacy_self_cycle; spec
 * §9.2 item 59: a self-cycle with a legacy finalizer (tp_del) is
 * uncollectable: collect() == 1, it goes to gc.garbage, nothing is called
 * and its weak reference is still alive (legacy finalizers are moved out
 * before handle_weakrefs); once the cycle is broken and gc.garbage cleared
 * it dies by refcount: the callback and tp_del run, wr() is None (python3
 * with _testcapi.with_tp_del: 1, 1, alive, [] then dead, ['cb'],
 * ['tp_del'], 0; the callback runs before tp_del, as subtype_dealloc
 * orders them: [('cb', True), 'tp_del']). */
static int h_log_legacy(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (void)ctx;
    logv(7);
    return 0;
}

TEST(legacy_finalizer_cycle_keeps_weakrefs)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_self_cycle(rt, &t_wlnode_type, 1);
    t_as(o)->on_legacy = h_log_legacy;
    rcgc_object *wr = rcgc_weakref_new(rt, o, cb_log_wr, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK(t_wr_alive(rt, wr));
    CHECK_EQ(g.n, 0);
    rcgc_incref(o);
    t_clean_garbage(rt);
    CHECK_EQ(g.n, 0);
    rcgc_decref(rt, o);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    CHECK_LOG(21, 7); /* the callback (reference dead), then tp_del */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, wr);
    t_finish(rt);
}

/* Spec §3.8 / §9.1 item 12 (DEBUG_SAVEALL) with weak references: the
 * collection still clears the weak references to the garbage and runs their
 * callbacks, then saves the objects in gc.garbage instead of freeing them
 * (python3: collect() == 1, wr() None, callback called, len(gc.garbage)
 * == 1; 0 after the program breaks and clears it). */
TEST(saveall_clears_weakrefs)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *wr = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK(rcgc_weakref_get(rt, wr) == NULL);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    rcgc_gc_set_debug(rt, 0);
    t_clean_garbage(rt);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(g.calls, 1);
    rcgc_decref(rt, wr);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Removes its reference from g.holder. */
static int cb_remove_self(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)arg;
    g.calls++;
    t_remove(rt, g.holder, wr);
    return 0;
}

/* Spec §2.8.1 (num_freed): a self-cycle whose only weak reference is held
 * by a list h and removed from it by its own callback: the freed reference
 * counts as collected: collect() == 2 (python3: 2, h == []). */
TEST(collect_counts_freed_weakrefs)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    g.holder = t_node(rt, 0);
    rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 1);
    t_append_steal(rt, g.holder, rcgc_weakref_new(rt, o, cb_remove_self, NULL));
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(t_as(g.holder)->n, 0);
    rcgc_gc_stats st[3];
    rcgc_gc_get_stats(rt, st);
    CHECK_EQ(st[2].collected, 2);
    rcgc_decref(rt, g.holder);
    t_finish(rt);
}

/* Calls rcgc_gc_collect and logs what it returned. */
static int cb_collect(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    g.calls++;
    logv((int)rcgc_gc_collect(rt, 2));
    return 0;
}

/* Spec §8 (g), §3.11: gc.collect() called from a weak reference callback
 * during a collection returns 0 (python3: collect() == 1, res == [0]). */
TEST(collect_in_callback_during_collection_returns_zero)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *w = rcgc_weakref_new(rt, o, cb_collect, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_LOG(0);
    rcgc_decref(rt, w);
    t_finish(rt);
}

/* test_weakref.py test_sf_bug_840829 and test_callback_gcs; spec §9.3 items
 * 75, 87: a callback that collects, on refcount death, runs a real
 * collection (a garbage self-cycle waiting: it returns 1); also when the
 * dying object is held by a container being freed, and when it has a
 * __del__: no crash, no double free (python3: [1], [1]). */
TEST(callback_collects_on_refcount_death)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_decref(rt, t_self_cycle(rt, &t_wnode_type, 90));
    rcgc_object *c = t_wnode(rt, 1);
    rcgc_object *wr = rcgc_weakref_new(rt, c, cb_collect, NULL);
    rcgc_decref(rt, c);
    CHECK_LOG(1);
    rcgc_decref(rt, wr);

    /* second half: c2 -> c1 -> i, ref(i, collect) */
    reset();
    rcgc_object *c1 = t_wnode(rt, 2);
    rcgc_object *i = t_wnode(rt, 3);
    t_append(rt, c1, i);
    wr = rcgc_weakref_new(rt, i, cb_collect, NULL);
    rcgc_decref(rt, i);
    rcgc_object *c2 = t_wnode(rt, 4);
    t_append_steal(rt, c2, c1);
    rcgc_decref(rt, t_self_cycle(rt, &t_wnode_type, 91));
    rcgc_decref(rt, c2);
    CHECK_LOG(1);
    rcgc_decref(rt, wr);

    /* test_callback_gcs: an object with __del__ */
    reset();
    rcgc_object *x = t_new(rt, &t_wfnode_type, 5);
    wr = rcgc_weakref_new(rt, x, cb_collect, NULL);
    rcgc_decref(rt, x);
    CHECK_LOG(0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, wr);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Creates a weak reference (with a callback) to g.target and keeps it. */
static int cb_make_ref(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    g.refs[g.nrefs++] = rcgc_weakref_new(rt, g.target, cb_nothing, NULL);
    return 0;
}

/* Spec §5.3 ("a callback may do anything"): a callback creates a weak
 * reference to another object, on refcount death and in a collection; it
 * works and is in the other object's list (python3: count 1, alive). */
TEST(callback_creates_weakrefs)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    g.target = t_wnode(rt, 1);
    rcgc_object *o = t_wnode(rt, 2);
    rcgc_object *w = rcgc_weakref_new(rt, o, cb_make_ref, NULL);
    rcgc_decref(rt, o);
    REQUIRE(g.nrefs == 1 && g.refs[0] != NULL);
    CHECK_EQ(rcgc_weakref_count(g.target), 1);
    CHECK(t_wr_alive(rt, g.refs[0]));
    rcgc_decref(rt, w);

    o = t_self_cycle(rt, &t_wnode_type, 3);
    w = rcgc_weakref_new(rt, o, cb_make_ref, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    REQUIRE(g.nrefs == 2 && g.refs[1] != NULL);
    CHECK_EQ(rcgc_weakref_count(g.target), 2);
    rcgc_decref(rt, w);
    rcgc_decref(rt, g.target);
    CHECK(rcgc_weakref_get(rt, g.refs[0]) == NULL);
    rcgc_decref(rt, g.refs[0]);
    rcgc_decref(rt, g.refs[1]);
    t_finish(rt);
}

/* Logs 1, drops the last reference to the objects of g.holder, logs 2. */
static int cb_drop_holder(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    logv(1);
    t_clear(rt, g.holder);
    logv(2);
    return 0;
}

static int cb_log_three(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    logv(3);
    return 0;
}

/* Spec §5.3: a callback that drops the last reference to another object
 * runs that object's callbacks right there, nested (python3: ['cb1 start',
 * 'cb2', 'cb1 end']); in a collection too. */
TEST(callback_drops_last_references)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    g.holder = t_node(rt, 0);
    rcgc_object *x = t_wnode(rt, 1);
    t_append_steal(rt, g.holder, x);
    rcgc_object *w2 = rcgc_weakref_new(rt, x, cb_log_three, NULL);
    rcgc_object *o = t_wnode(rt, 2);
    rcgc_object *w1 = rcgc_weakref_new(rt, o, cb_drop_holder, NULL);
    rcgc_decref(rt, o);
    CHECK_LOG(1, 3, 2);
    rcgc_decref(rt, w1);
    rcgc_decref(rt, w2);

    rcgc_object *h = g.holder;
    reset();
    g.holder = h;
    x = t_wnode(rt, 3);
    t_append_steal(rt, g.holder, x);
    w2 = rcgc_weakref_new(rt, x, cb_log_three, NULL);
    o = t_self_cycle(rt, &t_wnode_type, 4);
    w1 = rcgc_weakref_new(rt, o, cb_drop_holder, NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_LOG(1, 3, 2);
    rcgc_decref(rt, w1);
    rcgc_decref(rt, w2);
    rcgc_decref(rt, g.holder);
    t_finish(rt);
}

/* Logs 1 and removes g.refs[0] (the other pending reference) from
 * g.holder. */
static int cb_drop_other(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    logv(2);
    t_remove(rt, g.holder, g.refs[0]);
    return 0;
}

static int cb_log_1(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    logv(1);
    return 0;
}

/* Spec §5.3 (the callbacks to call are held while they run): a callback
 * that drops the last reference to another weak reference of the same
 * dying object, whose callback is still to come: that callback still runs
 * (CPython's tuple of (wr, callback) pairs holds it), and the reference is
 * freed afterwards; in a collection the freed one counts as collected
 * (python3: [2, 1] on refcount death; collect() == 2, [2, 1] in a
 * collection). */
TEST(callback_dropping_pending_weakref)
{
    rcgc_runtime *rt = t_runtime();
    for (int round = 0; round < 2; round++) {
        reset();
        g.holder = t_node(rt, 0);
        rcgc_object *o = round == 0 ? t_wnode(rt, 1) : t_self_cycle(rt, &t_wnode_type, 1);
        REQUIRE(o != NULL);
        g.refs[0] = rcgc_weakref_new(rt, o, cb_log_1, NULL);
        rcgc_object *r2 = rcgc_weakref_new(rt, o, cb_drop_other, NULL);
        t_append_steal(rt, g.holder, g.refs[0]);
        t_append_steal(rt, g.holder, r2);
        rcgc_decref(rt, o);
        if (round == 1) CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
        CHECK_LOG(2, 1);
        CHECK_EQ(t_as(g.holder)->n, 1);
        rcgc_decref(rt, g.holder);
        CHECK_EQ(t_live_objects(rt), 0);
    }
    t_finish(rt);
}

/* Tries to make weak references (and entries, and a finalize object) to
 * g.target, which is being deallocated: logs 1 for each refusal with
 * RCGC_EINVAL. */
static int fin_nothing(rcgc_runtime *rt, rcgc_object *arg, void *ctx)
{
    (void)rt;
    (void)arg;
    (void)ctx;
    return 0;
}

static int cb_ref_dying(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    rcgc_object *t = g.target;
    CHECK_EQ(t->refcnt, 0);
    logv(rcgc_weakref_new(rt, t, NULL, NULL) == NULL &&
         rcgc_runtime_last_error(rt) == RCGC_EINVAL);
    logv(rcgc_weakref_new(rt, t, cb_nothing, NULL) == NULL &&
         rcgc_runtime_last_error(rt) == RCGC_EINVAL);
    logv(rcgc_weakmethod_new(rt, t, g.holder, NULL, NULL) == NULL &&
         rcgc_runtime_last_error(rt) == RCGC_EINVAL);
    logv(rcgc_finalize_new(rt, t, fin_nothing, NULL, NULL) == NULL &&
         rcgc_runtime_last_error(rt) == RCGC_EINVAL);
    rcgc_object *s = rcgc_wset_new(rt), *vm = rcgc_wvmap_new(rt),
                *km = rcgc_wkmap_new(rt);
    logv(rcgc_wset_add(rt, s, t) == RCGC_EINVAL);
    logv(rcgc_wvmap_set(rt, vm, "k", 1, t) == RCGC_EINVAL);
    logv(rcgc_wkmap_set(rt, km, t, g.holder) == RCGC_EINVAL);
    logv(rcgc_weak_len(rt, s) + rcgc_weak_len(rt, vm) + rcgc_weak_len(rt, km) == 0);
    rcgc_decref(rt, s);
    rcgc_decref(rt, vm);
    rcgc_decref(rt, km);
    return 0;
}

/* rcgc.h (rcgc_weakref_new: RCGC_EINVAL when "obj is dying"): an object
 * whose deallocation is under way (reference count 0, reached through a
 * borrowed pointer from code its deallocation runs) cannot get a new weak
 * reference, weak method, finalize object or container entry: each is
 * refused with RCGC_EINVAL and nothing is left behind.  (Python code can
 * never reach such an object.) */
TEST(weakref_to_dying_object_is_einval)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    g.holder = t_wnode(rt, 0);
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *c = t_wnode(rt, 2);
    t_append_steal(rt, o, c);
    rcgc_object *wc = rcgc_weakref_new(rt, c, cb_ref_dying, NULL);
    g.target = o;
    rcgc_decref(rt, o);
    CHECK_LOG(1, 1, 1, 1, 1, 1, 1, 1);
    rcgc_decref(rt, wc);
    rcgc_decref(rt, g.holder);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* test_weakref.py test_gc_during_ref_creation / check_gc_during_creation;
 * spec §5.2 ("the lookup is redone after allocating"), §9.3 item 79: with
 * thresholds (1, 1, 1), garbage holding a weak reference (basic, or with a
 * callback) to `referenced` may be collected by the allocation of a new
 * weak reference to the same object: no crash, the new reference is in a
 * consistent list, and once the garbage is gone it is the only one
 * (python3: no crash; the count there depends on which generation the
 * garbage reached). */
TEST(gc_during_ref_creation)
{
    for (int variant = 0; variant < 4; variant++) {
        for (int th = 1; th <= 4; th++) {
            rcgc_config cfg;
            rcgc_config_init(&cfg);
            cfg.threshold[0] = cfg.threshold[1] = cfg.threshold[2] = th;
            rcgc_runtime *rt = t_runtime_cfg(&cfg);
            REQUIRE(rt != NULL);
            rcgc_object *referenced = t_wnode(rt, 1);
            rcgc_object *a = t_self_cycle(rt, &t_wnode_type, 2);
            t_append_steal(rt, a, rcgc_weakref_new(rt, referenced,
                                                   variant & 1 ? cb_nothing : NULL,
                                                   NULL));
            rcgc_decref(rt, a);
            rcgc_xdecref(rt, t_wnode(rt, 3)); /* a = A() */
            rcgc_object *w = rcgc_weakref_new(rt, referenced,
                                              variant & 2 ? cb_nothing : NULL, NULL);
            REQUIRE(w != NULL);
            CHECK(t_wr_alive(rt, w));
            rcgc_object **l = NULL;
            rcgc_ssize n = rcgc_weakref_list(rt, referenced, &l);
            CHECK(n >= 1 && n <= 2);
            int found = 0;
            for (rcgc_ssize i = 0; i < n; i++) found += l[i] == w;
            CHECK_EQ(found, 1);
            rcgc_objects_free(rt, l, n);
            rcgc_gc_collect(rt, 2);
            CHECK_EQ(rcgc_weakref_count(referenced), 1);
            rcgc_decref(rt, w);
            rcgc_decref(rt, referenced);
            t_finish(rt);
        }
    }
}

/* A weak reference the program untracked (rcgc_object_untrack is public;
 * CPython offers no way to untrack a weakref) to an object that dies in a
 * collection: its callback still runs once, it comes back tracked, and the
 * collector's invariants hold; collect() counts the object only. */
TEST(untracked_weakref_callback_in_collection)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *w = rcgc_weakref_new(rt, o, cb_record, NULL);
    rcgc_object_untrack(rt, w);
    CHECK(!rcgc_object_is_tracked(w));
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(g.calls, 1);
    CHECK(g.last_wr == w);
    CHECK(rcgc_object_is_tracked(w));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, w);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* the unraisable hook                                                       */

static t_unraisable unr;

static rcgc_runtime *runtime_with_hook(void)
{
    return t_runtime_unraisable(&unr);
}

/* Logs its argument's id; fails with -77 when the id is 2. */
static int cb_fail_on_two(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    logv(t_as(arg)->id);
    return t_as(arg)->id == 2 ? -77 : 0;
}

/* Spec §5.3 ("callback exceptions -> unraisable, the loop continues"), §8
 * (g): a failing callback is reported through the hook with
 * RCGC_IN_WEAKREF_CALLBACK, its weak reference and its code; the other
 * callbacks still run, in order, on refcount death and in a collection,
 * and the collector keeps working (python3: "Exception ignored in" printed,
 * the other callbacks run, [3, 2, 1]). */
TEST(failing_callback_is_unraisable)
{
    rcgc_runtime *rt = runtime_with_hook();
    REQUIRE(rt != NULL);
    reset();
    for (int round = 0; round < 2; round++) {
        g.n = 0;
        memset(&unr, 0, sizeof unr);
        rcgc_object *o = round == 0 ? t_wnode(rt, 0) : t_self_cycle(rt, &t_wnode_type, 0);
        rcgc_object *rs[3];
        for (int i = 0; i < 3; i++) {
            rcgc_object *id = t_leaf(rt, i + 1);
            rs[i] = rcgc_weakref_new(rt, o, cb_fail_on_two, id);
            rcgc_decref(rt, id);
        }
        rcgc_decref(rt, o);
        if (round == 1) {
            rcgc_decref(rt, t_self_cycle(rt, &t_wnode_type, 9));
            CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
        }
        CHECK_LOG(3, 2, 1);
        CHECK_EQ(unr.n, 1);
        CHECK_EQ(unr.kind[0], RCGC_IN_WEAKREF_CALLBACK);
        CHECK(unr.obj[0] == rs[1]);
        CHECK_EQ(unr.err[0], -77);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        for (int i = 0; i < 3; i++) rcgc_decref(rt, rs[i]);
    }
    /* the collector still finds ordinary garbage */
    rcgc_decref(rt, t_self_cycle(rt, &t_wnode_type, 10));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    t_finish(rt);
}

static int cb_fail(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    return RCGC_EFAILED;
}

/* The default hook (CPython's "Exception ignored in: ..."): one line on
 * the debug stream naming the weak reference and the error. */
TEST(failing_callback_default_report)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    REQUIRE(f != NULL);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug_stream = f;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *w = rcgc_weakref_new(rt, o, cb_fail, NULL);
    char want[128];
    snprintf(want, sizeof want,
             "rcgc: error ignored in weakref callback of <weakref %p>: "
             "callback reported failure (-9)\n",
             (void *)w);
    rcgc_decref(rt, o);
    fflush(f);
    CHECK(buf != NULL && strcmp(buf, want) == 0);
    if (buf != NULL && strcmp(buf, want) != 0)
        fprintf(stderr, "got: %s\nwant: %s\n", buf, want);
    rcgc_decref(rt, w);
    t_finish(rt);
    fclose(f);
    free(buf);
}

/* ------------------------------------------------------------------------ */
/* weak methods                                                              */

/* test_weakref.py WeakMethodTestCase test_alive; spec §5.11, §9.4 item 90:
 * r() gives the bound method back (the same self and func); it is a weak
 * reference (isinstance ReferenceType). */
TEST(weakmethod_alive)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *fn = t_wnode(rt, 2);
    rcgc_object *r = rcgc_weakmethod_new(rt, o, fn, NULL, NULL);
    REQUIRE(r != NULL);
    CHECK(rcgc_is_weakref(r));
    CHECK_EQ(o->refcnt, 1);
    CHECK_EQ(fn->refcnt, 1);
    rcgc_object *s = NULL, *f = NULL;
    CHECK_EQ(rcgc_weakmethod_get(rt, r, &s, &f), 1);
    CHECK(s == o && f == fn);
    CHECK_EQ(o->refcnt, 2);
    CHECK_EQ(fn->refcnt, 2);
    rcgc_xdecref(rt, s);
    rcgc_xdecref(rt, f);
    /* a plain weak reference is not a method */
    rcgc_object *w = rcgc_weakref_new(rt, o, NULL, NULL);
    CHECK_EQ(rcgc_weakmethod_get(rt, w, &s, &f), 0);
    CHECK(s == NULL && f == NULL);
    rcgc_decref(rt, w);
    rcgc_decref(rt, r);
    rcgc_decref(rt, o);
    rcgc_decref(rt, fn);
    t_finish(rt);
}

/* test_weakref.py test_object_dead, test_method_dead, test_callback_when_
 * object_dead, test_callback_when_method_dead; spec §9.4 items 90, 91: the
 * method dies with its object or with its function; the callback is called
 * exactly once, with the method (calls == [r]), whichever dies first; the
 * other death later adds nothing (python3: [r] and 1 call each way). */
TEST(weakmethod_dies_with_either_callback_once)
{
    rcgc_runtime *rt = t_runtime();
    for (int first = 0; first < 2; first++) {
        reset();
        rcgc_object *o = t_wnode(rt, 1);
        rcgc_object *fn = t_wnode(rt, 2);
        rcgc_object *r = rcgc_weakmethod_new(rt, o, fn, cb_record, NULL);
        REQUIRE(r != NULL);
        rcgc_decref(rt, first == 0 ? o : fn);
        rcgc_object *s = NULL, *f = NULL;
        CHECK_EQ(rcgc_weakmethod_get(rt, r, &s, &f), 0);
        CHECK(s == NULL && f == NULL);
        CHECK_EQ(g.calls, 1);
        CHECK(g.last_wr == r);
        rcgc_decref(rt, first == 0 ? fn : o);
        CHECK_EQ(g.calls, 1);
        CHECK_EQ(rcgc_weakmethod_get(rt, r, &s, &f), 0);
        rcgc_decref(rt, r);
        CHECK_EQ(t_live_objects(rt), 0);
    }
    /* self and func the same object: one death, one call */
    reset();
    rcgc_object *sf = t_wnode(rt, 5);
    rcgc_object *rs = rcgc_weakmethod_new(rt, sf, sf, cb_record, NULL);
    REQUIRE(rs != NULL);
    CHECK_EQ(rcgc_weakref_count(sf), 2);
    rcgc_decref(rt, sf);
    CHECK_EQ(g.calls, 1);
    rcgc_decref(rt, rs);
    CHECK_EQ(t_live_objects(rt), 0);
    /* in a collection: self in a cycle, then func in a cycle */
    for (int first = 0; first < 2; first++) {
        reset();
        rcgc_object *o = first == 0 ? t_self_cycle(rt, &t_wnode_type, 1) : t_wnode(rt, 1);
        rcgc_object *fn = first == 1 ? t_self_cycle(rt, &t_wnode_type, 2) : t_wnode(rt, 2);
        rcgc_object *r = rcgc_weakmethod_new(rt, o, fn, cb_record, NULL);
        rcgc_decref(rt, first == 0 ? o : fn);
        CHECK_EQ(g.calls, 0);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
        CHECK_EQ(g.calls, 1);
        rcgc_object *s = NULL, *f = NULL;
        CHECK_EQ(rcgc_weakmethod_get(rt, r, &s, &f), 0);
        rcgc_decref(rt, first == 0 ? fn : o);
        CHECK_EQ(g.calls, 1);
        rcgc_decref(rt, r);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
        CHECK_EQ(t_live_objects(rt), 0);
    }
    t_finish(rt);
}

/* test_weakref.py WeakMethodTestCase test_no_cycles; spec §9.4 item 92: a
 * weak method with a callback makes no reference cycle to itself: deleting
 * it frees it (and its argument) at once, without a collection (python3:
 * ref(r)() is None right after del r). */
TEST(weakmethod_no_cycles)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *fn = t_wnode(rt, 2);
    rcgc_object *arg = t_wnode(rt, 3);
    rcgc_ssize before = t_live_objects(rt);
    rcgc_object *r = rcgc_weakmethod_new(rt, o, fn, cb_nothing, arg);
    REQUIRE(r != NULL);
    rcgc_object *warg = rcgc_weakref_new(rt, arg, NULL, NULL);
    rcgc_decref(rt, arg);
    CHECK(t_wr_alive(rt, warg));
    rcgc_decref(rt, r);
    CHECK(!t_wr_alive(rt, warg));
    CHECK_EQ(t_live_objects(rt), before); /* o, fn, warg; arg went */
    CHECK_EQ(rcgc_weakref_count(o), 0);
    CHECK_EQ(rcgc_weakref_count(fn), 0);
    rcgc_decref(rt, warg);
    rcgc_decref(rt, o);
    rcgc_decref(rt, fn);
    t_finish(rt);
}

/* docs/weakref.md (differences): a func whose type cannot be weakly
 * referenced is held strongly (CPython's functions always can be): the
 * method lives as long as self; func is freed with the method; the strong
 * reference is traversed, so a cycle through it is collected. */
TEST(weakmethod_func_not_weakrefable)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *fn = t_leaf(rt, 2);
    rcgc_object *r = rcgc_weakmethod_new(rt, o, fn, cb_record, NULL);
    REQUIRE(r != NULL);
    CHECK_EQ(fn->refcnt, 2);
    rcgc_decref(rt, fn);
    rcgc_object *s = NULL, *f = NULL;
    CHECK_EQ(rcgc_weakmethod_get(rt, r, &s, &f), 1);
    CHECK(s == o && f == fn);
    rcgc_xdecref(rt, s);
    rcgc_xdecref(rt, f);
    rcgc_decref(rt, o);
    CHECK_EQ(g.calls, 1);
    CHECK_EQ(rcgc_weakmethod_get(rt, r, &s, &f), 0);
    CHECK_EQ(t_live_objects(rt), 2); /* r and fn */
    rcgc_decref(rt, r);
    CHECK_EQ(t_live_objects(rt), 0);

    /* func a GC node holding the method: a cycle r -> func -> r */
    o = t_wnode(rt, 3);
    rcgc_object *gfn = t_node(rt, 4);
    r = rcgc_weakmethod_new(rt, o, gfn, NULL, NULL);
    REQUIRE(r != NULL);
    t_append_steal(rt, gfn, r);
    rcgc_decref(rt, gfn);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_weakref_count(o), 0);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* out of memory                                                             */

/* Fault injection: failing each allocation of rcgc_weakref_new (with and
 * without callback) and rcgc_weakmethod_new in turn gives NULL with
 * RCGC_ENOMEM, leaves the referent's list as it was, and leaks nothing;
 * eventually the call succeeds.  rcgc_weakref_list out of memory:
 * RCGC_ENOMEM, *out NULL, no reference taken. */
TEST(weakref_new_out_of_memory)
{
    for (int kind = 0; kind < 3; kind++) {
        int succeeded = 0;
        for (long n = 1; n < 50 && !succeeded; n++) {
            rcgc_runtime *rt = t_runtime();
            REQUIRE(rt != NULL);
            rcgc_object *o = t_wnode(rt, 1);
            rcgc_object *fn = t_wnode(rt, 2);
            rcgc_object *basic = rcgc_weakref_new(rt, o, NULL, NULL);
            rcgc_object *other = rcgc_weakref_new(rt, o, cb_nothing, NULL);
            rcgc_ssize before = t_live_objects(rt);
            t_alloc_state.fail_at = t_alloc_state.calls + n;
            rcgc_object *r;
            if (kind == 0) {
                /* a second basic one is shared: make o2's first */
                rcgc_object *o2 = fn;
                r = rcgc_weakref_new(rt, o2, NULL, NULL);
            } else if (kind == 1) {
                r = rcgc_weakref_new(rt, o, cb_nothing, fn);
            } else {
                r = rcgc_weakmethod_new(rt, o, fn, cb_nothing, NULL);
            }
            int failed = t_alloc_state.failures > 0;
            t_alloc_state.fail_at = 0;
            if (r == NULL) {
                CHECK(failed);
                CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
                CHECK_EQ(t_live_objects(rt), before);
                CHECK_EQ(rcgc_weakref_count(o), 2);
                CHECK_EQ(rcgc_weakref_count(fn), 0);
                CHECK_EQ(fn->refcnt, 1);
            } else {
                CHECK(!failed);
                succeeded = 1;
                CHECK_EQ(rcgc_weakref_count(o), kind == 0 ? 2 : 3);
                rcgc_decref(rt, r);
            }
            CHECK_EQ(rcgc_weakref_count(o), 2);
            rcgc_object **l = NULL;
            rcgc_ssize k = rcgc_weakref_list(rt, o, &l);
            CHECK_EQ(k, 2);
            if (k == 2) CHECK(l[0] == basic && l[1] == other);
            rcgc_objects_free(rt, l, k);
            rcgc_decref(rt, basic);
            rcgc_decref(rt, other);
            rcgc_decref(rt, o);
            rcgc_decref(rt, fn);
            t_finish(rt);
        }
        CHECK(succeeded);
    }
    /* rcgc_weakref_list's array */
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_wnode(rt, 1);
    rcgc_object *w = rcgc_weakref_new(rt, o, NULL, NULL);
    rcgc_object **l = (rcgc_object **)&l;
    t_alloc_state.fail_at = t_alloc_state.calls + 1;
    CHECK_EQ(rcgc_weakref_list(rt, o, &l), RCGC_ENOMEM);
    t_alloc_state.fail_at = 0;
    CHECK(l == NULL);
    CHECK_EQ(w->refcnt, 1);
    rcgc_decref(rt, w);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* the trashcan                                                              */

/* Looks at its argument (a basic reference to the node holding this weak
 * reference): counts live and dead. */
static long g_tc_calls, g_tc_alive, g_tc_dead;
static int cb_wself(rcgc_runtime *rt, rcgc_object *wparent, rcgc_object *wself)
{
    (void)wparent;
    g_tc_calls++;
    rcgc_object *o = rcgc_weakref_get(rt, wself);
    if (o != NULL) {
        g_tc_alive++;
        CHECK(o->refcnt >= 2);
        rcgc_decref(rt, o);
    } else {
        g_tc_dead++;
    }
    return 0;
}

/* NEW: C(parent) of test_trashcan_16602: a node with a weak reference to
 * its parent whose callback reads wself (a basic reference to the node). */
static rcgc_object *c16602(rcgc_runtime *rt, rcgc_object *parent, int id)
{
    rcgc_object *c = t_wnode(rt, id);
    if (parent != NULL) {
        rcgc_object *wself = rcgc_weakref_new(rt, c, NULL, NULL);
        t_append_steal(rt, c, rcgc_weakref_new(rt, parent, cb_wself, wself));
        rcgc_decref(rt, wself);
    }
    return c;
}

/* test_weakref.py test_trashcan_16602 (issue #16602); spec §4.3, §9.3 item
 * 85, as a strong chain: root -> c1 -> ... -> c_(N-1), each child holding
 * ref(parent, cb) whose callback reads wself().  One decref frees the
 * 10^5-deep chain through the trashcan; every callback runs exactly once,
 * and each finds its own node still alive (its parent still holds it while
 * the parent's weak references are cleared) (python3 with N = 10^5:
 * 99999 calls, 99999 alive, collect() == 0). */
TEST(trashcan_chain_16602)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(100000);
    g_tc_calls = g_tc_alive = g_tc_dead = 0;
    rcgc_object *root = c16602(rt, NULL, 0), *c = root;
    for (long i = 1; i < n; i++) {
        rcgc_object *child = c16602(rt, c, (int)i);
        REQUIRE(child != NULL);
        t_append_steal(rt, c, child);
        c = child;
    }
    rcgc_decref(rt, root);
    CHECK_EQ(g_tc_calls, n - 1);
    CHECK_EQ(g_tc_alive, n - 1);
    CHECK_EQ(g_tc_dead, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_finish(rt);
}

/* test_weakref.py test_trashcan_16602 as written: d = WeakKeyDictionary();
 * d[c] = c = C(c) for each level (the map holds each child under its
 * parent's key), then del c, del root.  The chain unwinds through the
 * map's entry removals: every child's callback runs exactly once and finds
 * its node dead (the map's callback, newer, freed it first; a node waiting
 * in the trashcan is dead to weak references) (python3 with 100 levels:
 * 100 calls, all None, len(d) == 0; rcgc: 10^5 levels). */
TEST(trashcan_weak_key_map_16602)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(100000);
    g_tc_calls = g_tc_alive = g_tc_dead = 0;
    rcgc_object *d = rcgc_wkmap_new(rt);
    REQUIRE(d != NULL);
    rcgc_object *root = c16602(rt, NULL, 0), *c = root;
    rcgc_incref(c);
    for (long i = 1; i <= n; i++) {
        rcgc_object *child = c16602(rt, c, (int)i);
        REQUIRE(child != NULL);
        CHECK_EQ(rcgc_wkmap_set(rt, d, c, child), 0);
        rcgc_decref(rt, c);
        c = child;
    }
    CHECK_EQ(rcgc_weak_len(rt, d), n);
    rcgc_decref(rt, c);
    rcgc_decref(rt, root);
    CHECK_EQ(g_tc_calls, n);
    CHECK_EQ(g_tc_dead, n);
    CHECK_EQ(g_tc_alive, 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, d);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

TEST_MAIN(T(basic_ref_alive_then_dead), T(basic_callback_once),
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
          T(weakref_created_during_finalizer), T(has_callback_semantics),
          T(weakref_in_garbage_not_called),
          T(weakref_in_garbage_to_live_object),
          T(callback_in_cycle_resurrection), T(callbacks_on_callback),
          T(bug1055820b), T(bug1055820c), T(bug1055820d),
          T(trash_weakref_clear_bpo38006), T(legacy_finalizer_cycle_keeps_weakrefs),
          T(saveall_clears_weakrefs), T(collect_counts_freed_weakrefs),
          T(collect_in_callback_during_collection_returns_zero),
          T(callback_collects_on_refcount_death), T(callback_creates_weakrefs),
          T(callback_drops_last_references), T(callback_dropping_pending_weakref),
          T(untracked_weakref_callback_in_collection),
          T(weakref_to_dying_object_is_einval), T(gc_during_ref_creation),
          T(failing_callback_is_unraisable),
          T(failing_callback_default_report), T(weakmethod_alive),
          T(weakmethod_dies_with_either_callback_once),
          T(weakmethod_no_cycles), T(weakmethod_func_not_weakrefable),
          T(weakref_new_out_of_memory), T(trashcan_chain_16602),
          T(trashcan_weak_key_map_16602))

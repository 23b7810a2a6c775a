/*
 * test_weakref_method.c - weak references, part 3: the unraisable hook, weak
 * methods (CPython's WeakMethod), out of memory, and a 10^5-deep
 * deallocation chain through weak reference callbacks (the trashcan). Part 1
 * is test_weakref.c.
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
    CHECK_EQ(rcgc_weakmethod_get(rt, w, &s, &f), RCGC_EINVAL);
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
        if (first == 1) {
            /* func died: the method is dead but still a live weak reference
             * to o, in o's list (python3: getweakrefs(o) == [r]) */
            CHECK_EQ(rcgc_weakref_count(o), 1);
            rcgc_object *got = rcgc_weakref_get(rt, r);
            CHECK(got == o);
            rcgc_xdecref(rt, got);
        }
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
    {
        /* the method joins the list before its reference to func is made:
         * func's reference is the newer, listed first (python3, f bound to
         * itself: getweakrefs(f)[1] is the WeakMethod) */
        rcgc_object **refs;
        rcgc_ssize n = rcgc_weakref_list(rt, sf, &refs);
        CHECK_EQ(n, 2);
        if (n == 2) CHECK(refs[0] != rs && refs[1] == rs);
        rcgc_objects_free(rt, refs, n);
    }
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

/* A weak method held by uncollectable garbage (a cycle with a legacy
 * finalizer) whose self dies in the same collection: CPython's
 * handle_weakrefs calls the method's own _cb (a WeakMethod always has
 * one) and moves the method to the older generation, so it is not counted
 * as uncollectable: collect() == 1 (self) + 2 (the legacy node and the
 * method's reference to func), not 4 (v2 differential campaign, weakmix
 * seed 1302, minimised; the oracle runs CPython 3.11's gc_collect_main). */
TEST(weakmethod_in_uncollectable_garbage_leaves_it)
{
    rcgc_runtime *rt = t_runtime();
    reset();
    rcgc_object *self = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *fn = t_wnode(rt, 2);
    rcgc_object *holder = t_new(rt, &t_wlnode_type, 3); /* legacy finalizer */
    rcgc_object *m = rcgc_weakmethod_new(rt, self, fn, NULL, NULL);
    REQUIRE(m != NULL);
    t_append_steal(rt, holder, m);
    t_append(rt, holder, holder);
    rcgc_decref(rt, self);
    rcgc_decref(rt, holder);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    rcgc_gc_stats st[RCGC_NUM_GENERATIONS];
    rcgc_gc_get_stats(rt, st);
    CHECK_EQ(st[2].uncollectable, 2);
    rcgc_object **garbage;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &garbage);
    CHECK_EQ(n, 1);
    if (n == 1) CHECK(garbage[0] == holder);
    rcgc_objects_free(rt, garbage, n);
    t_clear(rt, holder); /* break the cycle (the garbage list holds it) */
    rcgc_gc_garbage_clear(rt);
    rcgc_decref(rt, fn);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_finish(rt);
}

TEST_MAIN(T(weakmethod_in_uncollectable_garbage_leaves_it), T(failing_callback_is_unraisable),
          T(failing_callback_default_report), T(weakmethod_alive),
          T(weakmethod_dies_with_either_callback_once),
          T(weakmethod_no_cycles), T(weakmethod_func_not_weakrefable),
          T(weakref_new_out_of_memory), T(trashcan_chain_16602),
          T(trashcan_weak_key_map_16602))

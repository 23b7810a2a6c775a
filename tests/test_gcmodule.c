/*
 * test_gcmodule.c - the collector's control and introspection API, as
 * CPython 3.11's gc module: get_count, thresholds, enable/disable, the
 * automatic cadence (synchronous and deferred), get_stats, freeze, callbacks,
 * get_objects, get_referrers, get_referents, the garbage list, rcgc_gc_check
 * and generation range errors.
 *
 * Every expected number is CPython 3.11's.  Unless a comment says otherwise
 * it was confirmed on this machine's python3 (3.11.7) with the equivalent
 * graph built from one-GC-object nodes
 *     class N(list): __slots__ = ('__weakref__',)
 * (_testcapi.with_tp_del for t_lnode_type) after gc.disable() and a cleaning
 * gc.collect(); python3 numbers that include the interpreter's own objects
 * are translated to a fresh runtime, as the comments explain.
 */
#include "test.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

static int contains(rcgc_object **objs, rcgc_ssize n, rcgc_object *o)
{
    int k = 0;
    for (rcgc_ssize i = 0; i < n; i++) k += objs[i] == o;
    return k;
}

/* How many times o appears in get_objects(gen). */
static int in_gen(rcgc_runtime *rt, int gen, rcgc_object *o)
{
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, gen, &objs);
    int k = n >= 0 ? contains(objs, n, o) : -1;
    rcgc_objects_free(rt, objs, n > 0 ? n : 0);
    return k;
}

static rcgc_ssize n_objects(rcgc_runtime *rt, int gen)
{
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, gen, &objs);
    rcgc_objects_free(rt, objs, n > 0 ? n : 0);
    return n;
}

#define CHECK_COUNT(rt, c0, c1, c2)                                           \
    do {                                                                      \
        int cnt_[3];                                                          \
        rcgc_gc_get_count((rt), cnt_);                                        \
        CHECK_EQ(cnt_[0], (c0));                                              \
        CHECK_EQ(cnt_[1], (c1));                                              \
        CHECK_EQ(cnt_[2], (c2));                                              \
    } while (0)

static rcgc_runtime *runtime_enabled(rcgc_gc_mode mode)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 1;
    cfg.gc_mode = mode;
    cfg.gc_policy = RCGC_POLICY_CPYTHON311; /* these tests are its cadence */
    return t_runtime_cfg(&cfg);
}

/* A callback log. */
struct event {
    int tag; /* which callback */
    rcgc_gc_event event;
    rcgc_gc_info info;
};

struct cb_log {
    struct event e[512];
    int n;
    long starts[3]; /* start events per generation */
};

static void log_event(struct cb_log *log, int tag, rcgc_gc_event event,
                      const rcgc_gc_info *info)
{
    if (event == RCGC_GC_START && info->generation >= 0 && info->generation < 3)
        log->starts[info->generation]++;
    if (log->n < 512) {
        log->e[log->n].tag = tag;
        log->e[log->n].event = event;
        log->e[log->n].info = *info;
        log->n++;
    }
}

static int cb1(rcgc_runtime *rt, rcgc_gc_event event, const rcgc_gc_info *info,
               void *ctx)
{
    (void)rt;
    log_event(ctx, 1, event, info);
    return 0;
}

static int cb2(rcgc_runtime *rt, rcgc_gc_event event, const rcgc_gc_info *info,
               void *ctx)
{
    (void)rt;
    log_event(ctx, 2, event, info);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* get_count                                                                 */

/* test_gc.py test_get_count; spec §9.1 item 14, §1.3: (0,0,0) after a
 * collection; one list -> count[0] + 1, its death -> - 1; count[1:] stay
 * (0,0).  An untracked GC-capable object counts too ({} -> +1), a non-GC
 * object does not (an int -> +0) (python3 deltas: +1, -1, +1, +0). */
TEST(get_count_counts_gc_allocations)
{
    rcgc_runtime *rt = t_runtime();
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_COUNT(rt, 0, 0, 0);
    rcgc_object *x = t_node(rt, 1);
    CHECK_COUNT(rt, 1, 0, 0);
    rcgc_decref(rt, x);
    CHECK_COUNT(rt, 0, 0, 0);
    rcgc_object *d = rcgc_object_new(rt, &t_dict_type); /* untracked */
    REQUIRE(d != NULL);
    CHECK(!rcgc_object_is_tracked(d));
    CHECK_COUNT(rt, 1, 0, 0);
    rcgc_object *i = t_leaf(rt, 2);
    CHECK_COUNT(rt, 1, 0, 0);
    rcgc_decref(rt, i);
    CHECK_COUNT(rt, 1, 0, 0);
    rcgc_decref(rt, d);
    CHECK_COUNT(rt, 0, 0, 0);
    t_finish(rt);
}

/* Spec §1.3 (PyObject_GC_Del: "if (count[0] > 0) count[0]--"): freeing an
 * object that survived the last collection does not drive count[0]
 * negative: x = []; gc.collect(); del x -> (0,0,0). */
TEST(get_count_never_negative)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 1), *y = t_node(rt, 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    CHECK_COUNT(rt, 0, 0, 0);
    rcgc_object *z = t_node(rt, 3);
    CHECK_COUNT(rt, 1, 0, 0);
    rcgc_decref(rt, z);
    CHECK_COUNT(rt, 0, 0, 0);
    t_finish(rt);
}

/* test_gc.py test_collect_generations; spec §9.1 item 15, §3.3: collect();
 * x = []; collect(0) -> count[1:] == (1,0); collect(1) -> (0,1);
 * collect(2) -> (0,0); count[0] is 0 after each. */
TEST(collect_generations_counts)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_gc_collect(rt, 2);
    rcgc_object *x = t_node(rt, 1);
    rcgc_gc_collect(rt, 0);
    CHECK_COUNT(rt, 0, 1, 0);
    rcgc_gc_collect(rt, 1);
    CHECK_COUNT(rt, 0, 0, 1);
    rcgc_gc_collect(rt, 2);
    CHECK_COUNT(rt, 0, 0, 0);
    rcgc_decref(rt, x);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* thresholds, enable/disable, automatic collection                          */

/* Spec §3.4, §0.2: get_threshold() == (700,10,10) by default;
 * set_threshold stores the three values; a negative one is refused
 * (RCGC_EINVAL) and changes nothing. */
TEST(thresholds_get_set)
{
    rcgc_runtime *rt = t_runtime();
    int t[3];
    rcgc_gc_get_threshold(rt, t);
    CHECK_EQ(t[0], 700);
    CHECK_EQ(t[1], 10);
    CHECK_EQ(t[2], 10);
    CHECK_EQ(rcgc_gc_set_threshold(rt, 1000, 0, 5), 0);
    rcgc_gc_get_threshold(rt, t);
    CHECK_EQ(t[0], 1000);
    CHECK_EQ(t[1], 0);
    CHECK_EQ(t[2], 5);
    CHECK_EQ(rcgc_gc_set_threshold(rt, -1, 10, 10), RCGC_EINVAL);
    CHECK_EQ(rcgc_gc_set_threshold(rt, 700, -1, 10), RCGC_EINVAL);
    CHECK_EQ(rcgc_gc_set_threshold(rt, 700, 10, -1), RCGC_EINVAL);
    rcgc_gc_get_threshold(rt, t);
    CHECK_EQ(t[0], 1000);
    CHECK_EQ(t[1], 0);
    CHECK_EQ(t[2], 5);
    t_finish(rt);
}

/* Spec §3.5 (PyGC_Enable/Disable/IsEnabled return the previous state). */
TEST(enable_disable_return_previous_state)
{
    rcgc_runtime *rt = t_runtime(); /* created disabled, as CPython tests */
    CHECK_EQ(rcgc_gc_isenabled(rt), 0);
    CHECK_EQ(rcgc_gc_enable(rt), 0);
    CHECK_EQ(rcgc_gc_isenabled(rt), 1);
    CHECK_EQ(rcgc_gc_enable(rt), 1);
    CHECK_EQ(rcgc_gc_disable(rt), 1);
    CHECK_EQ(rcgc_gc_isenabled(rt), 0);
    CHECK_EQ(rcgc_gc_disable(rt), 0);
    t_finish(rt);

    rt = runtime_enabled(RCGC_GC_SYNC);
    CHECK_EQ(rcgc_gc_isenabled(rt), 1);
    t_finish(rt);
}

static long allocated_so_far;

struct first_event {
    long at;   /* allocated_so_far at the first start event */
    int generation;
    int count[3];
    int n;
};

static int cb_first(rcgc_runtime *rt, rcgc_gc_event event,
                    const rcgc_gc_info *info, void *ctx)
{
    struct first_event *f = ctx;
    if (event != RCGC_GC_START) return 0;
    if (f->n++ == 0) {
        f->at = allocated_so_far;
        f->generation = info->generation;
        rcgc_gc_get_count(rt, f->count);
    }
    return 0;
}

/* Spec §3.2, §8 (e) ("a gen-0 collection runs at the 701st net
 * allocation"): with default thresholds the 701st GC allocation runs a
 * generation-0 collection inside the allocating call, before the new object
 * exists (700 objects were built; the "start" callback sees (701,0,0), the
 * counts are reset inside the collection, §2.0 step 2); afterwards (0,1,0),
 * the 702nd -> (1,1,0).  After 1500 allocations: 2 collections, count[0] ==
 * 1500 - 1402 = 98 (python3: first collection at len(h) == 696 with 4
 * objects made before, start sees (701,0,0), stop (0,1,0); then every 701). */
TEST(automatic_collection_at_701st_allocation)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_SYNC);
    struct first_event f = {0, -1, {0, 0, 0}, 0};
    CHECK_EQ(rcgc_gc_callback_add(rt, cb_first, &f), 0);
    rcgc_object *h = t_node(rt, 0); /* counted too */
    REQUIRE(h != NULL);
    allocated_so_far = 1;
    for (int i = 1; i < 700; i++) {
        t_append_steal(rt, h, t_node(rt, i));
        allocated_so_far++;
    }
    CHECK_EQ(f.n, 0);
    CHECK_COUNT(rt, 700, 0, 0);
    t_append_steal(rt, h, t_node(rt, 700));
    allocated_so_far++;
    CHECK_EQ(f.n, 1);
    CHECK_EQ(f.at, 700);
    CHECK_EQ(f.generation, 0);
    CHECK_EQ(f.count[0], 701);
    CHECK_EQ(f.count[1], 0);
    CHECK_EQ(f.count[2], 0);
    CHECK_COUNT(rt, 0, 1, 0);
    t_append_steal(rt, h, t_node(rt, 701));
    allocated_so_far++;
    CHECK_COUNT(rt, 1, 1, 0);
    while (allocated_so_far < 1500) {
        t_append_steal(rt, h, t_node(rt, 0));
        allocated_so_far++;
    }
    CHECK_EQ(f.n, 2);
    CHECK_COUNT(rt, 98, 2, 0);
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    rcgc_gc_callback_remove(rt, cb_first, &f);
    t_finish(rt);
}

struct cadence {
    int gens[256];
    int n;
};

static int cb_cadence(rcgc_runtime *rt, rcgc_gc_event event,
                      const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    struct cadence *c = ctx;
    if (event == RCGC_GC_START && c->n < 256) c->gens[c->n++] = info->generation;
    return 0;
}

/* Spec §3.2, §8 (g): keeping 100 000 new lists alive with gc enabled and
 * thresholds (700,10,10) runs 130 generation-0, 11 generation-1 and 1
 * generation-2 collections; the first twelve are 0 x 11 then 1, the full
 * one is the 133rd; get_count()[1:] ends (9,0).  count[0] is what followed
 * the last of the 142 collections: 100 001 - 142 * 701 = 459 (python3:
 * [130, 11, 1], same first twelve, gen 2 at index 132, count (481, 9, 0)
 * with the interpreter's extra allocations). */
TEST(automatic_cadence_100000_survivors)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_SYNC);
    struct cadence c;
    memset(&c, 0, sizeof c);
    CHECK_EQ(rcgc_gc_callback_add(rt, cb_cadence, &c), 0);
    rcgc_gc_stats s[3];
    rcgc_object *h = t_node(rt, 0);
    for (int i = 0; i < 100000; i++) {
        rcgc_object *x = t_node(rt, i);
        REQUIRE(x != NULL);
        t_append_steal(rt, h, x);
    }
    rcgc_gc_disable(rt);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 130);
    CHECK_EQ(s[1].collections, 11);
    CHECK_EQ(s[2].collections, 1);
    CHECK_EQ(s[0].collected + s[1].collected + s[2].collected, 0);
    REQUIRE(c.n == 142);
    for (int i = 0; i < 11; i++) CHECK_EQ(c.gens[i], 0);
    CHECK_EQ(c.gens[11], 1);
    int full = -1;
    for (int i = 0; i < c.n; i++)
        if (c.gens[i] == 2) full = i;
    CHECK_EQ(full, 132);
    CHECK_COUNT(rt, 459, 9, 0);
    rcgc_gc_callback_remove(rt, cb_cadence, &c);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Spec §3.2 (the 25 % rule of issue #4074: a full collection waits until
 * long_lived_pending >= long_lived_total / 4): after a full collection that
 * left 400 001 objects, 110 000 more survivors give 143 generation-0, 12
 * generation-1 and 1 generation-2 collections; the 133rd trigger, where a
 * fresh heap would collect generation 2, is a generation-0 one, generation
 * 1 runs a 12th time (index 143), which brings pending to 100 943 >=
 * 100 000, and the full collection is the 145th (index 144); get_count()
 * ends (645,11,0) (python3 with 388 905 kept lists, so that its
 * long_lived_total is 400 001: [143, 12, 1], gen 2 at index 144, gen 1 at
 * 11, 23, ..., 143, count (652, 11, 0) with the interpreter's extras). */
TEST(full_collection_waits_for_quarter_growth)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *keep = t_node(rt, 0);
    for (int i = 0; i < 400000; i++) {
        rcgc_object *x = t_node(rt, i);
        REQUIRE(x != NULL);
        t_append_steal(rt, keep, x);
    }
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    struct cadence c;
    memset(&c, 0, sizeof c);
    rcgc_gc_callback_add(rt, cb_cadence, &c);
    rcgc_object *h = t_node(rt, 0);
    rcgc_gc_enable(rt);
    for (int i = 0; i < 110000; i++) {
        rcgc_object *x = t_node(rt, i);
        REQUIRE(x != NULL);
        t_append_steal(rt, h, x);
    }
    rcgc_gc_disable(rt);
    REQUIRE(c.n == 156);
    int n[3] = {0, 0, 0}, full = -1;
    for (int i = 0; i < c.n; i++) {
        n[c.gens[i]]++;
        if (c.gens[i] == 2) full = i;
    }
    CHECK_EQ(n[0], 143);
    CHECK_EQ(n[1], 12);
    CHECK_EQ(n[2], 1);
    CHECK_EQ(c.gens[132], 0);
    CHECK_EQ(c.gens[143], 1);
    CHECK_EQ(full, 144);
    CHECK_COUNT(rt, 645, 11, 0);
    rcgc_gc_callback_remove(rt, cb_cadence, &c);
    rcgc_decref(rt, h);
    rcgc_decref(rt, keep);
    t_finish(rt);
}

/* Spec §3.2 ("churning 100 000 short-lived lists triggers no collection on
 * 3.11: alloc and free cancel in count[0]") (python3: no callback). */
TEST(churning_short_lived_objects_triggers_nothing)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_SYNC);
    struct cadence c;
    memset(&c, 0, sizeof c);
    rcgc_gc_callback_add(rt, cb_cadence, &c);
    for (int i = 0; i < 100000; i++) {
        rcgc_object *x = t_node(rt, i);
        REQUIRE(x != NULL);
        rcgc_decref(rt, x);
    }
    CHECK_EQ(c.n, 0);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections + s[1].collections + s[2].collections, 0);
    CHECK_COUNT(rt, 0, 0, 0);
    rcgc_gc_callback_remove(rt, cb_cadence, &c);
    t_finish(rt);
}

/* Spec §3.2 trigger rule applied to garbage: 100 000 self-cycles dropped at
 * once, gc enabled.  Each trigger finds the cycles made since the previous
 * one: 142 collections (python3: 142), 11 of generation 1 (python3: 11),
 * 700 + 141 * 701 = 99 541 collected, the last 459 cycles wait for an
 * explicit collect().  (In a fresh runtime long_lived_total is 0, so the
 * 133rd trigger is a full collection; python3's own ~11 000 long-lived
 * objects veto it there, giving 131/11/0 instead of 130/11/1.) */
TEST(automatic_collection_of_churned_cycles)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_SYNC);
    for (int i = 0; i < 100000; i++) {
        rcgc_object *x = t_self_cycle(rt, &t_node_type, i);
        REQUIRE(x != NULL);
        rcgc_decref(rt, x);
    }
    rcgc_gc_disable(rt);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections + s[1].collections + s[2].collections, 142);
    CHECK_EQ(s[0].collections, 130);
    CHECK_EQ(s[1].collections, 11);
    CHECK_EQ(s[2].collections, 1);
    CHECK_EQ(s[0].collected + s[1].collected + s[2].collected, 99541);
    CHECK_EQ(t_live_objects(rt), 459);
    CHECK_COUNT(rt, 458, 9, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 459);
    t_finish(rt);
}

/* Spec §9.1 item 43 (test_gc "GC detector": after gc.disable() no automatic
 * collection in 10 000 allocations) and §3.2/§3.4 (threshold[0] == 0 turns
 * automatic collection off even when enabled) (python3: no callback in
 * either case). */
TEST(disabled_or_zero_threshold_never_collects)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_SYNC);
    struct cadence c;
    memset(&c, 0, sizeof c);
    rcgc_gc_callback_add(rt, cb_cadence, &c);
    rcgc_object *h = t_node(rt, 0);
    CHECK_EQ(rcgc_gc_disable(rt), 1);
    for (int i = 0; i < 10000; i++) t_append_steal(rt, h, t_node(rt, i));
    CHECK_EQ(c.n, 0);
    CHECK_COUNT(rt, 10001, 0, 0);
    rcgc_gc_collect(rt, 2);
    c.n = 0;
    rcgc_gc_enable(rt);
    rcgc_gc_set_threshold(rt, 0, 10, 10);
    for (int i = 0; i < 10000; i++) t_append_steal(rt, h, t_node(rt, i));
    CHECK_EQ(c.n, 0);
    CHECK_COUNT(rt, 10000, 0, 0);
    /* and back on: the next allocation passes 700 and collects */
    rcgc_gc_set_threshold(rt, 700, 10, 10);
    t_append_steal(rt, h, t_node(rt, 0));
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.gens[0], 0);
    rcgc_gc_disable(rt);
    rcgc_gc_callback_remove(rt, cb_cadence, &c);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Spec §3.2 [3.12+] (the allocation only schedules; the collection runs at
 * the next safe point; json.loads of 100 001 lists: 0 collections inside,
 * exactly 1 right after, count[1:] == (1,0)): RCGC_GC_DEFERRED runs nothing
 * during 100 001 allocations (count[0] climbs to 100 001), then
 * rcgc_gc_collect_pending runs exactly one generation-0 collection
 * (counts (0,1,0)); a second call does nothing.  (3.12 behaviour; no
 * python3.12 here, from the spec.) */
TEST(deferred_mode_collects_at_safe_point)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_DEFERRED);
    struct cadence c;
    memset(&c, 0, sizeof c);
    rcgc_gc_callback_add(rt, cb_cadence, &c);
    rcgc_object *h = t_node(rt, 0);
    for (int i = 0; i < 100000; i++) t_append_steal(rt, h, t_node(rt, i));
    CHECK_EQ(c.n, 0);
    CHECK_COUNT(rt, 100001, 0, 0);
    CHECK_EQ(rcgc_gc_collect_pending(rt), 0);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.gens[0], 0);
    CHECK_COUNT(rt, 0, 1, 0);
    CHECK_EQ(rcgc_gc_collect_pending(rt), 0);
    CHECK_EQ(c.n, 1);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 1);
    CHECK_EQ(s[1].collections + s[2].collections, 0);
    rcgc_gc_disable(rt);
    rcgc_gc_callback_remove(rt, cb_cadence, &c);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* Spec §3.2 [3.12+]: the pending collection returns what it found (a
 * garbage 2-cycle, due at the 701st allocation -> 2); _Py_RunGC re-checks
 * `enabled` (scheduled, then disabled -> nothing runs, 0); and it re-selects
 * the generation from the counts, so after a manual collect nothing is over
 * threshold and no collection runs. */
TEST(deferred_mode_pending_rules)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_DEFERRED);
    rcgc_gc_stats s[3];
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_object *h = t_node(rt, 0);
    for (int i = 0; i < 697; i++) t_append_steal(rt, h, t_node(rt, i));
    CHECK_EQ(rcgc_gc_collect_pending(rt), 0); /* 700 allocations: not due */
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 0);
    t_append_steal(rt, h, t_node(rt, 0)); /* the 701st: due */
    CHECK_EQ(t_live_objects(rt), 701);
    CHECK_EQ(rcgc_gc_collect_pending(rt), 2);
    CHECK_EQ(t_live_objects(rt), 699);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 1);
    CHECK_EQ(s[0].collected, 2);

    /* scheduled, then disabled */
    for (int i = 0; i < 701; i++) t_append_steal(rt, h, t_node(rt, i));
    rcgc_gc_disable(rt);
    CHECK_EQ(rcgc_gc_collect_pending(rt), 0);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 1);
    rcgc_gc_enable(rt);

    /* scheduled, then a manual collection: nothing is over threshold */
    t_append_steal(rt, h, t_node(rt, 0));
    rcgc_gc_collect(rt, 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 1);
    CHECK_EQ(s[2].collections, 1);
    CHECK_EQ(rcgc_gc_collect_pending(rt), 0);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections + s[1].collections + s[2].collections, 2);
    rcgc_gc_disable(rt);
    rcgc_decref(rt, h);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* get_stats                                                                 */

/* test_gc.py test_get_stats; spec §9.1 item 29: three entries, all zero in a
 * fresh runtime; collect(0) increments only [0].collections; collect(2)
 * then only [2].collections ([1] unchanged); collected and uncollectable
 * are booked on the generation collected. */
TEST(get_stats_per_generation)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    for (int g = 0; g < 3; g++) {
        CHECK_EQ(s[g].collections, 0);
        CHECK_EQ(s[g].collected, 0);
        CHECK_EQ(s[g].uncollectable, 0);
    }
    rcgc_gc_collect(rt, 0);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 1);
    CHECK_EQ(s[1].collections, 0);
    CHECK_EQ(s[2].collections, 0);
    rcgc_gc_collect(rt, 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections, 1);
    CHECK_EQ(s[1].collections, 0);
    CHECK_EQ(s[2].collections, 1);

    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 1));
    rcgc_decref(rt, t_self_cycle(rt, &t_lnode_type, 2));
    CHECK_EQ(rcgc_gc_collect(rt, 1), 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[1].collections, 1);
    CHECK_EQ(s[1].collected, 1);
    CHECK_EQ(s[1].uncollectable, 1);
    CHECK_EQ(s[0].collected + s[2].collected, 0);
    CHECK_EQ(s[0].uncollectable + s[2].uncollectable, 0);
    t_clean_garbage(rt);
    t_finish(rt);
}

/* CPU time beside wall time (issue 18): rcgc_gc_get_cpu_ns starts at 0,
 * stays 0 for generations never collected, grows with the collections of
 * a generation, and never exceeds their wall time (one thread cannot use
 * more CPU than the time that passed: true under any load, so no timing
 * threshold); each STOP callback carries that collection's share, START
 * carries 0.  The collections are repeated until the clock has moved, so a
 * coarse clock makes the test longer, not wrong. */
static int cpu_cb(rcgc_runtime *rt, rcgc_gc_event event,
                  const rcgc_gc_info *info, void *ctx)
{
    double *sum = ctx; /* [0]: CPU seconds of STOP events, [1]: wall */
    (void)rt;
    if (event == RCGC_GC_START) {
        CHECK(info->cpu_duration == 0.0);
        return 0;
    }
    CHECK(info->cpu_duration >= 0.0);
    sum[0] += info->cpu_duration;
    sum[1] += info->duration;
    return 0;
}

TEST(get_cpu_ns_beside_wall_time)
{
    rcgc_runtime *rt = t_runtime();
    uint64_t cpu[3];
    rcgc_gc_stats s[3];
    rcgc_gc_get_cpu_ns(rt, cpu);
    for (int g = 0; g < 3; g++) CHECK_EQ(cpu[g], 0u);
    double sum[2] = {0.0, 0.0};
    CHECK_EQ(rcgc_gc_callback_add(rt, cpu_cb, sum), 0);
    rcgc_object *head = t_node(rt, 0);
    for (int i = 1; i < 20000; i++) { /* a chain for the collections to walk */
        rcgc_object *o = t_node(rt, i);
        REQUIRE(t_append_steal(rt, o, head) == 0);
        head = o;
    }
    int rounds = 0;
    do {
        CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
        rcgc_gc_get_cpu_ns(rt, cpu);
        rounds++;
    } while (cpu[2] == 0 && rounds < 100000);
    CHECK(cpu[2] > 0);
    CHECK_EQ(cpu[0], 0u); /* never collected */
    CHECK_EQ(cpu[1], 0u);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collections, rounds);
    /* The CPU window of each collection lies inside its wall window; 1 ms
     * and 1 % of slack for the two clocks' steps and rates. */
    CHECK(cpu[2] <= s[2].total_ns + s[2].total_ns / 100 + 1000000u);
    /* The callbacks saw the same CPU time, collection by collection. */
    double d = sum[0] * 1e9 - (double)cpu[2];
    CHECK(d < 1000.0 && d > -1000.0);
    CHECK(sum[0] <= sum[1] + sum[1] / 100 + 0.001);
    /* A young collection books on generation 0 only. */
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    uint64_t after[3];
    rcgc_gc_get_cpu_ns(rt, after);
    CHECK_EQ(after[1], 0u);
    CHECK_EQ(after[2], cpu[2]);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cpu_cb, sum), 0);
    rcgc_decref(rt, head);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* freeze                                                                    */

/* test_gc.py test_freeze; spec §9.1 item 30, §3.6: freeze() moves every
 * tracked object to the permanent generation (get_freeze_count() == their
 * number), resets all counts (python3: (11,1,1) -> (0,0,0)), and
 * get_objects() no longer shows them (python3: 0); unfreeze() -> 0 and the
 * objects are in generation 2; counts stay. */
TEST(freeze_moves_everything_and_zeroes_counts)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o[5];
    o[0] = t_node(rt, 0);
    rcgc_gc_collect(rt, 0);
    rcgc_gc_collect(rt, 0);
    rcgc_gc_collect(rt, 1);
    rcgc_gc_collect(rt, 0);
    for (int i = 1; i < 5; i++) o[i] = t_node(rt, i);
    CHECK_COUNT(rt, 4, 1, 1);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 0);
    rcgc_gc_freeze(rt);
    CHECK_COUNT(rt, 0, 0, 0);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 5);
    CHECK_EQ(n_objects(rt, -1), 0);
    rcgc_object *y = t_node(rt, 9);
    CHECK_EQ(n_objects(rt, -1), 1);
    CHECK_EQ(in_gen(rt, 0, y), 1);
    CHECK(rcgc_object_is_tracked(o[0]));
    rcgc_gc_unfreeze(rt);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 0);
    CHECK_COUNT(rt, 1, 0, 0);
    for (int i = 0; i < 5; i++) CHECK_EQ(in_gen(rt, 2, o[i]), 1);
    CHECK_EQ(in_gen(rt, 0, y), 1);
    for (int i = 0; i < 5; i++) rcgc_decref(rt, o[i]);
    rcgc_decref(rt, y);
    t_finish(rt);
}

/* Spec §3.6, §8 (g): a frozen cycle is never collected while frozen
 * (collect() -> 0); after unfreeze() it sits in generation 2:
 * collect(0) -> 0, collect(1) -> 0, collect(2) -> 1 (python3: exactly). */
TEST(frozen_cycle_not_collected_until_unfrozen)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_self_cycle(rt, &t_node_type, 1);
    rcgc_decref(rt, a);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 1);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_gc_unfreeze(rt);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 1), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §3.6 ("they still die normally by refcounting"): a frozen object
 * whose last reference goes is freed and leaves the permanent generation
 * (python3: freeze count drops by 1). */
TEST(frozen_object_dies_by_refcount)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 1), *y = t_node(rt, 2);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 2);
    rcgc_decref(rt, x);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 1);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_decref(rt, y);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 0);
    t_finish(rt);
}

/* Spec §3.5 (get_referrers scans generations 0..2, not the permanent one):
 * a frozen holder of t is not reported (python3: []); after unfreeze it is
 * (python3: [h]). */
TEST(get_referrers_excludes_frozen)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *t = t_node(rt, 1), *h = t_node(rt, 2);
    t_append(rt, h, t);
    rcgc_gc_freeze(rt);
    rcgc_object **r = NULL;
    CHECK_EQ(rcgc_gc_get_referrers(rt, &t, 1, &r), 0);
    rcgc_objects_free(rt, r, 0);
    rcgc_gc_unfreeze(rt);
    rcgc_ssize n = rcgc_gc_get_referrers(rt, &t, 1, &r);
    CHECK_EQ(n, 1);
    if (n == 1) CHECK(r[0] == h);
    rcgc_objects_free(rt, r, n > 0 ? n : 0);
    rcgc_decref(rt, h);
    rcgc_decref(rt, t);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* callbacks                                                                 */

/* test_gc.py GCCallbackTests.test_collect / test_collect_generation; spec
 * §9.1 items 37-38, §3.7: two callbacks, one collect(1) -> cb1 start, cb2
 * start, cb1 stop, cb2 stop; every info has generation 1; start carries
 * 0/0 (and duration 0), stop carries the numbers (a self-cycle: 1/0)
 * (python3: exactly this sequence). */
TEST(callbacks_start_stop_in_registration_order)
{
    rcgc_runtime *rt = t_runtime();
    struct cb_log log;
    memset(&log, 0, sizeof log);
    CHECK_EQ(rcgc_gc_callback_add(rt, cb1, &log), 0);
    CHECK_EQ(rcgc_gc_callback_add(rt, cb2, &log), 0);
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 1));
    CHECK_EQ(rcgc_gc_collect(rt, 1), 1);
    REQUIRE(log.n == 4);
    static const int tags[4] = {1, 2, 1, 2};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(log.e[i].tag, tags[i]);
        CHECK_EQ(log.e[i].event, i < 2 ? RCGC_GC_START : RCGC_GC_STOP);
        CHECK_EQ(log.e[i].info.generation, 1);
        CHECK_EQ(log.e[i].info.collected, i < 2 ? 0 : 1);
        CHECK_EQ(log.e[i].info.uncollectable, 0);
        if (i < 2) CHECK(log.e[i].info.duration == 0.0);
        else CHECK(log.e[i].info.duration >= 0.0);
    }
    log.n = 0;
    rcgc_gc_collect(rt, 2);
    REQUIRE(log.n == 4);
    for (int i = 0; i < 4; i++) CHECK_EQ(log.e[i].info.generation, 2);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), 0);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb2, &log), 0);
    log.n = 0;
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(log.n, 0);
    t_finish(rt);
}

/* Spec §3.7 ("invoked for every collection, automatic and manual"): an
 * automatic collection reports generation 0 to the callbacks; the same pair
 * registered twice is called twice per phase; removing it removes one
 * registration. */
TEST(callbacks_see_automatic_collections_and_duplicates)
{
    rcgc_runtime *rt = runtime_enabled(RCGC_GC_SYNC);
    struct cb_log log;
    memset(&log, 0, sizeof log);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_object *h = t_node(rt, 0);
    for (int i = 1; i < 701; i++) t_append_steal(rt, h, t_node(rt, i));
    REQUIRE(log.n == 4);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(log.e[i].tag, 1);
        CHECK_EQ(log.e[i].info.generation, 0);
        CHECK_EQ(log.e[i].event, i < 2 ? RCGC_GC_START : RCGC_GC_STOP);
    }
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), 0);
    log.n = 0;
    rcgc_gc_disable(rt);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(log.n, 2);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), 0);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), RCGC_ENOTFOUND);
    rcgc_decref(rt, h);
    t_finish(rt);
}

struct nested {
    struct cb_log *log;
    rcgc_ssize inner[4];
    int n;
};

static int cb_collects(rcgc_runtime *rt, rcgc_gc_event event,
                       const rcgc_gc_info *info, void *ctx)
{
    (void)event;
    (void)info;
    struct nested *c = ctx;
    if (c->n < 4) c->inner[c->n++] = rcgc_gc_collect(rt, 2);
    return 0;
}

/* Spec §3.7, §8 (g): gc.collect() inside a callback returns 0 and starts no
 * collection (no nested callbacks) (python3: inner [0, 0], the other
 * callback sees one start and one stop). */
TEST(collect_inside_callback_returns_zero)
{
    rcgc_runtime *rt = t_runtime();
    struct cb_log log;
    memset(&log, 0, sizeof log);
    struct nested c = {&log, {-1, -1, -1, -1}, 0};
    rcgc_gc_callback_add(rt, cb_collects, &c);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 1));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(c.inner[0], 0);
    CHECK_EQ(c.inner[1], 0);
    CHECK_EQ(log.n, 2);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collections, 1);
    rcgc_gc_callback_remove(rt, cb_collects, &c);
    rcgc_gc_callback_remove(rt, cb1, &log);
    t_finish(rt);
}

struct self_mod {
    struct cb_log *log;
    int done;
};

static int cb_remove_self(rcgc_runtime *rt, rcgc_gc_event event,
                          const rcgc_gc_info *info, void *ctx)
{
    struct self_mod *m = ctx;
    log_event(m->log, 3, event, info);
    if (event == RCGC_GC_START) rcgc_gc_callback_remove(rt, cb_remove_self, ctx);
    return 0;
}

static int cb_add_other(rcgc_runtime *rt, rcgc_gc_event event,
                        const rcgc_gc_info *info, void *ctx)
{
    struct self_mod *m = ctx;
    log_event(m->log, 4, event, info);
    if (event == RCGC_GC_START && !m->done) {
        m->done = 1;
        rcgc_gc_callback_add(rt, cb2, m->log);
    }
    return 0;
}

/* Spec §3.7 (gc.callbacks is a list walked by index while it may change):
 * a callback that removes itself at "start" makes the next one slide into
 * its slot and miss "start" -> [r start, cb1 stop]; a callback that appends
 * another at "start" -> the new one runs in the same phase: [a start,
 * cb1 start, cb2 start, a stop, cb1 stop, cb2 stop] (python3: exactly). */
TEST(callbacks_adding_and_removing_callbacks)
{
    rcgc_runtime *rt = t_runtime();
    struct cb_log log;
    memset(&log, 0, sizeof log);
    struct self_mod m = {&log, 0};
    rcgc_gc_callback_add(rt, cb_remove_self, &m);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_gc_collect(rt, 2);
    REQUIRE(log.n == 2);
    CHECK_EQ(log.e[0].tag, 3);
    CHECK_EQ(log.e[0].event, RCGC_GC_START);
    CHECK_EQ(log.e[1].tag, 1);
    CHECK_EQ(log.e[1].event, RCGC_GC_STOP);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb_remove_self, &m), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), 0);

    log.n = 0;
    rcgc_gc_callback_add(rt, cb_add_other, &m);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_gc_collect(rt, 2);
    REQUIRE(log.n == 6);
    static const int tags[6] = {4, 1, 2, 4, 1, 2};
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(log.e[i].tag, tags[i]);
        CHECK_EQ(log.e[i].event, i < 3 ? RCGC_GC_START : RCGC_GC_STOP);
    }
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb_add_other, &m), 0);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb1, &log), 0);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb2, &log), 0);
    t_finish(rt);
}

static int cb_fails(rcgc_runtime *rt, rcgc_gc_event event,
                    const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    log_event(ctx, 5, event, info);
    return RCGC_EFAILED;
}

/* Spec §3.7, §8 (g): an exception in a callback is reported as unraisable,
 * once per phase, and the remaining callbacks still run; the collection is
 * unaffected (python3: [bad start, cb1 start, bad stop, cb1 stop], two
 * "Exception ignored in: <function bad>"). */
TEST(failing_callback_reported_others_run)
{
    t_unraisable rec;
    memset(&rec, 0, sizeof rec);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.unraisable = t_record_unraisable;
    cfg.unraisable_ctx = &rec;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    struct cb_log log;
    memset(&log, 0, sizeof log);
    rcgc_gc_callback_add(rt, cb_fails, &log);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 1));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    REQUIRE(log.n == 4);
    static const int tags[4] = {5, 1, 5, 1};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(log.e[i].tag, tags[i]);
        CHECK_EQ(log.e[i].event, i < 2 ? RCGC_GC_START : RCGC_GC_STOP);
    }
    CHECK_EQ(log.e[3].info.collected, 1);
    REQUIRE(rec.n == 2);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(rec.kind[i], RCGC_IN_GC_CALLBACK);
        CHECK(rec.obj[i] == NULL);
        CHECK_EQ(rec.err[i], RCGC_EFAILED);
    }
    rcgc_gc_callback_remove(rt, cb_fails, &log);
    rcgc_gc_callback_remove(rt, cb1, &log);
    t_finish(rt);
}

struct garbage_cb {
    struct cb_log log;
    int cleanup;
};

static int is_lnode(rcgc_object *o)
{
    return o->type == &t_lnode_type;
}

/* The "stop" callback of test_gc.py's GCCallbackTests.cb2: take the
 * Uncollectable instances out of gc.garbage and break their cycles. */
static int cb_garbage(rcgc_runtime *rt, rcgc_gc_event event,
                      const rcgc_gc_info *info, void *ctx)
{
    struct garbage_cb *g = ctx;
    log_event(&g->log, 6, event, info);
    if (event == RCGC_GC_STOP && g->cleanup) {
        rcgc_object **objs = NULL;
        rcgc_ssize n = rcgc_gc_get_garbage(rt, &objs);
        for (rcgc_ssize i = 0; i < n; i++) {
            if (!is_lnode(objs[i])) continue;
            rcgc_gc_garbage_remove(rt, objs[i]);
            t_clear(rt, objs[i]);
        }
        rcgc_objects_free(rt, objs, n);
    }
    return 0;
}

static void uncollectable_pair(rcgc_runtime *rt, int id)
{
    rcgc_object *a = t_new(rt, &t_lnode_type, id);
    rcgc_object *b = t_new(rt, &t_lnode_type, id + 1);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
}

/* test_gc.py GCCallbackTests.test_collect_garbage; spec §9.1 item 39: two
 * Uncollectable pairs (tp_del objects) and one self-loop -> the "stop" info
 * says collected 1, uncollectable 4, and gc.garbage holds the 4
 * Uncollectables.  gc.garbage[:] = [] and a collection whose "stop"
 * callback removes the Uncollectables from gc.garbage and breaks them ->
 * collected 0, uncollectable 4 (re-counted; the CPython test's leftover loop
 * variable makes it 2 there), gc.garbage empty; then nothing is left
 * (python3 without the leftover reference: (1,4) 4, (0,4) 0, then 0). */
TEST(callbacks_and_uncollectable_garbage)
{
    rcgc_runtime *rt = t_runtime();
    struct garbage_cb g;
    memset(&g, 0, sizeof g);
    rcgc_gc_callback_add(rt, cb_garbage, &g);
    uncollectable_pair(rt, 1);
    uncollectable_pair(rt, 3);
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 5));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 5);
    REQUIRE(g.log.n == 2);
    CHECK_EQ(g.log.e[1].event, RCGC_GC_STOP);
    CHECK_EQ(g.log.e[1].info.collected, 1);
    CHECK_EQ(g.log.e[1].info.uncollectable, 4);
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &objs);
    CHECK_EQ(n, 4);
    for (rcgc_ssize i = 0; i < n; i++) CHECK(is_lnode(objs[i]));
    rcgc_objects_free(rt, objs, n > 0 ? n : 0);

    g.cleanup = 1;
    g.log.n = 0;
    rcgc_gc_garbage_clear(rt);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    REQUIRE(g.log.n == 2);
    CHECK_EQ(g.log.e[1].info.collected, 0);
    CHECK_EQ(g.log.e[1].info.uncollectable, 4);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_gc_callback_remove(rt, cb_garbage, &g);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* introspection                                                             */

/* test_gc.py test_get_objects; spec §9.1 item 31: a new self-cycle list is
 * in get_objects(0) only; after collect(0) in generation 1 only; after
 * collect(1) in 2 only; after collect(2) still 2; get_objects(-1) (None)
 * lists every tracked object once (python3: exactly). */
TEST(get_objects_per_generation)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *l = t_self_cycle(rt, &t_node_type, 1);
    static const int want[4] = {0, 1, 2, 2};
    for (int step = 0; step < 4; step++) {
        if (step > 0) rcgc_gc_collect(rt, step - 1);
        for (int g = 0; g < 3; g++) CHECK_EQ(in_gen(rt, g, l), g == want[step]);
        CHECK_EQ(in_gen(rt, -1, l), 1);
    }
    rcgc_object *x = t_node(rt, 2);
    rcgc_object *u = t_node(rt, 3);
    rcgc_object_untrack(rt, u);
    rcgc_runtime_stats st;
    rcgc_runtime_get_stats(rt, &st);
    CHECK_EQ(n_objects(rt, -1), 2);
    CHECK_EQ(n_objects(rt, -1), st.tracked);
    CHECK_EQ(n_objects(rt, 0) + n_objects(rt, 1) + n_objects(rt, 2), 2);
    CHECK_EQ(in_gen(rt, -1, u), 0);
    rcgc_decref(rt, x);
    rcgc_decref(rt, u);
    t_clear(rt, l);
    rcgc_decref(rt, l);
    t_finish(rt);
}

/* test_gc.py test_get_objects_arguments; spec §9.1 item 32: a generation
 * >= 3 or < 0 (other than "all") is an error: get_objects(1000),
 * get_objects(-1000), 3 and -2 -> RCGC_ERANGE with *out NULL. */
TEST(get_objects_range_errors)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 1);
    static const int bad[4] = {3, 1000, -2, -1000};
    for (int i = 0; i < 4; i++) {
        rcgc_object **objs = (rcgc_object **)&x; /* must be overwritten */
        CHECK_EQ(rcgc_gc_get_objects(rt, bad[i], &objs), RCGC_ERANGE);
        CHECK(objs == NULL);
    }
    rcgc_decref(rt, x);
    t_finish(rt);
}

/* Spec §3.3/Appendix B ("invalid generation"): collect(-1) and collect(3)
 * -> RCGC_ERANGE; nothing runs (no callback, no stats, counts unchanged). */
TEST(collect_bad_generation_is_range_error)
{
    rcgc_runtime *rt = t_runtime();
    struct cb_log log;
    memset(&log, 0, sizeof log);
    rcgc_gc_callback_add(rt, cb1, &log);
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 1));
    CHECK_EQ(rcgc_gc_collect(rt, -1), RCGC_ERANGE);
    CHECK_EQ(rcgc_gc_collect(rt, 3), RCGC_ERANGE);
    CHECK_EQ(rcgc_gc_collect(rt, 1000), RCGC_ERANGE);
    CHECK_EQ(log.n, 0);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[0].collections + s[1].collections + s[2].collections, 0);
    CHECK_COUNT(rt, 1, 0, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    rcgc_gc_callback_remove(rt, cb1, &log);
    t_finish(rt);
}

/* Spec §3.5 (get_referrers: every tracked object whose traverse reports any
 * of objs, found once each; only GC containers; unreachable but not yet
 * collected cycles are included): c = [x, x] is reported once, a garbage
 * self-cycle holding x is reported, an untracked container and a non-GC
 * container are not; several targets at once (python3: c and the cycle
 * among the referrers, c once; a tuple([i]) untracked by gc.collect() is no
 * longer among get_referrers(i)). */
TEST(get_referrers_finds_tracked_containers)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 1), *y = t_leaf(rt, 2);
    rcgc_object *c = t_node(rt, 3);
    t_append(rt, c, x);
    t_append(rt, c, x);
    rcgc_object *cyc = t_self_cycle(rt, &t_node_type, 4);
    t_append(rt, cyc, x);
    rcgc_object *u = t_node(rt, 5);
    rcgc_object_untrack(rt, u);
    t_append(rt, u, x);
    rcgc_object *p = t_new(rt, &t_plain_type, 6); /* non-GC container */
    t_append(rt, p, x);
    rcgc_object *yh = t_node(rt, 7);
    t_append(rt, yh, y);
    rcgc_decref(rt, cyc); /* garbage, not yet collected */

    rcgc_object **r = NULL;
    rcgc_ssize n = rcgc_gc_get_referrers(rt, &x, 1, &r);
    CHECK_EQ(n, 2);
    if (n >= 0) {
        CHECK_EQ(contains(r, n, c), 1);
        CHECK_EQ(contains(r, n, cyc), 1);
        CHECK_EQ(contains(r, n, u), 0);
        CHECK_EQ(contains(r, n, p), 0);
        rcgc_objects_free(rt, r, n);
    }
    rcgc_object *both[2] = {x, y};
    n = rcgc_gc_get_referrers(rt, both, 2, &r);
    CHECK_EQ(n, 3);
    if (n >= 0) {
        CHECK_EQ(contains(r, n, yh), 1);
        rcgc_objects_free(rt, r, n);
    }
    n = rcgc_gc_get_referrers(rt, both, 0, &r);
    CHECK_EQ(n, 0);
    rcgc_objects_free(rt, r, 0);

    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    n = rcgc_gc_get_referrers(rt, &x, 1, &r);
    CHECK_EQ(n, 1);
    rcgc_objects_free(rt, r, n > 0 ? n : 0);
    rcgc_decref(rt, c);
    rcgc_decref(rt, u);
    rcgc_decref(rt, p);
    rcgc_decref(rt, yh);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    t_finish(rt);
}

/* test_gc.py test_get_referents; spec §9.1 items 19 and 44, §3.5: what
 * traverse reports, in visit order, duplicates kept ([x, x, y] -> x, x, y),
 * the arguments' results concatenated; arguments of non-GC types contribute
 * nothing (get_referents(1, 'a', 4j) == [], even for a non-GC type with a
 * traverse function); an untracked GC object is still traversed (python3:
 * untracked tuple([10**30]) -> [10**30]). */
TEST(get_referents_keeps_duplicates)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 1), *y = t_leaf(rt, 2);
    rcgc_object *c = t_node(rt, 3);
    t_append(rt, c, x);
    t_append(rt, c, x);
    t_append(rt, c, y);
    rcgc_object *t = t_new(rt, &t_tuple_type, 4);
    t_append(rt, t, y);
    rcgc_gc_collect(rt, 0); /* untracks t */
    CHECK(!rcgc_object_is_tracked(t));
    rcgc_object *p = t_new(rt, &t_plain_type, 5);
    t_append(rt, p, x);
    rcgc_object *leaf = t_leaf(rt, 6);

    rcgc_object **r = NULL;
    rcgc_ssize n = rcgc_gc_get_referents(rt, &c, 1, &r);
    REQUIRE(n == 3);
    CHECK(r[0] == x && r[1] == x && r[2] == y);
    rcgc_objects_free(rt, r, n);

    rcgc_object *args[4] = {c, leaf, t, c};
    n = rcgc_gc_get_referents(rt, args, 4, &r);
    REQUIRE(n == 7);
    CHECK(r[3] == y); /* t's */
    CHECK(r[4] == x && r[6] == y);
    rcgc_objects_free(rt, r, n);

    rcgc_object *nongc[2] = {leaf, p};
    n = rcgc_gc_get_referents(rt, nongc, 2, &r);
    CHECK_EQ(n, 0);
    rcgc_objects_free(rt, r, n > 0 ? n : 0);

    n = rcgc_gc_get_referents(rt, &t, 1, &r);
    REQUIRE(n == 1);
    CHECK(r[0] == y);
    rcgc_objects_free(rt, r, n);
    CHECK_EQ(rcgc_object_refcount(x), 4); /* the results were released */

    rcgc_decref(rt, c);
    rcgc_decref(rt, t);
    rcgc_decref(rt, p);
    rcgc_decref(rt, leaf);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    t_finish(rt);
}

/* Spec §3.9 (gc.garbage is a list the program mutates): get returns new
 * references in list order; remove drops the first occurrence and its
 * reference (RCGC_ENOTFOUND when absent); clear empties it; the objects
 * stay alive while their cycles are unbroken. */
TEST(garbage_list_get_remove_clear)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_self_cycle(rt, &t_lnode_type, 1);
    rcgc_object *b = t_self_cycle(rt, &t_lnode_type, 2);
    rcgc_object *other = t_node(rt, 3);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 2);
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 2);
    CHECK(g[0] == a && g[1] == b);
    CHECK_EQ(rcgc_object_refcount(a), 3); /* self, gc.garbage, g */
    rcgc_objects_free(rt, g, n);
    CHECK_EQ(rcgc_object_refcount(a), 2);
    CHECK_EQ(rcgc_gc_garbage_remove(rt, other), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_gc_garbage_remove(rt, a), 0);
    CHECK_EQ(rcgc_object_refcount(a), 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(rcgc_gc_garbage_remove(rt, a), RCGC_ENOTFOUND);
    n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 1);
    CHECK(g[0] == b);
    rcgc_objects_free(rt, g, n);
    rcgc_gc_garbage_clear(rt);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    n = rcgc_gc_get_garbage(rt, &g);
    CHECK_EQ(n, 0);
    CHECK(g != NULL);
    rcgc_objects_free(rt, g, 0);
    CHECK_EQ(t_live_objects(rt), 3);
    /* both are garbage again: re-found, back in the list */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 2);
    t_clean_garbage(rt);
    rcgc_decref(rt, other);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* rcgc_gc_check (CPython's validate_list / debug-build invariants) passes
 * after a mix of everything above: collections of each generation,
 * resurrection, uncollectables, freeze/unfreeze, untracking. */
TEST(check_passes_after_mixed_workload)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *keep = t_node(rt, 0);
    for (int i = 0; i < 50; i++) {
        rcgc_object *a = t_node(rt, i), *b = t_node(rt, i);
        t_link2(rt, a, b);
        if (i % 3 == 0) t_append(rt, keep, a);
        rcgc_decref(rt, a);
        rcgc_decref(rt, b);
        if (i % 7 == 0) rcgc_decref(rt, t_self_cycle(rt, &t_lnode_type, i));
        if (i % 5 == 0) rcgc_gc_freeze(rt);
        if (i % 11 == 0) rcgc_gc_unfreeze(rt);
        rcgc_gc_collect(rt, i % 3);
        CHECK_EQ(rcgc_gc_check(rt), 0);
    }
    rcgc_gc_unfreeze(rt);
    t_clear(rt, keep);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(t_live_objects(rt), 1 + rcgc_gc_garbage_size(rt));
    t_clean_garbage(rt);
    rcgc_decref(rt, keep);
    t_finish(rt);
}

TEST_MAIN(T(get_count_counts_gc_allocations), T(get_count_never_negative),
          T(collect_generations_counts), T(thresholds_get_set),
          T(enable_disable_return_previous_state),
          T(automatic_collection_at_701st_allocation),
          T(automatic_cadence_100000_survivors),
          T(full_collection_waits_for_quarter_growth),
          T(churning_short_lived_objects_triggers_nothing),
          T(automatic_collection_of_churned_cycles),
          T(disabled_or_zero_threshold_never_collects),
          T(deferred_mode_collects_at_safe_point),
          T(deferred_mode_pending_rules), T(get_stats_per_generation),
          T(get_cpu_ns_beside_wall_time),
          T(freeze_moves_everything_and_zeroes_counts),
          T(frozen_cycle_not_collected_until_unfrozen),
          T(frozen_object_dies_by_refcount), T(get_referrers_excludes_frozen),
          T(callbacks_start_stop_in_registration_order),
          T(callbacks_see_automatic_collections_and_duplicates),
          T(collect_inside_callback_returns_zero),
          T(callbacks_adding_and_removing_callbacks),
          T(failing_callback_reported_others_run),
          T(callbacks_and_uncollectable_garbage), T(get_objects_per_generation),
          T(get_objects_range_errors), T(collect_bad_generation_is_range_error),
          T(get_referrers_finds_tracked_containers),
          T(get_referents_keeps_duplicates), T(garbage_list_get_remove_clear),
          T(check_passes_after_mixed_workload))

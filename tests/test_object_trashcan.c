/*
 * test_object_trashcan.c - objects, part 3: the trashcan (deep deallocation
 * chains through refcounts, collections, non-GC objects, finalizers,
 * resurrection and GC pressure). Part 1 is test_object.c.
 *
 * Expected numbers marked "python3 3.11.7" were measured on this machine with
 * an equivalent Python script (instances whose __del__ records calls,
 * _testcapi.without_gc / with_tp_del for the non-GC and legacy cases).
 */
#include "test.h"
#include "object_fixtures.h"

/* ======================================================================== */
/* The trashcan (spec §4.3)                                                 */

/* A compact chain link (10^7 of them must fit): next is a strong reference.
 * The finalizer variant counts calls per id and may resurrect. */
typedef struct link {
    rcgc_object base;
    rcgc_object *next;
    long id;
} link_obj;

static struct {
    unsigned char *marks;  /* finalizer calls per id (saturating) */
    long resurrect_every;  /* resurrect ids with id % every == every / 2 */
    rcgc_object *holder;   /* where resurrected links go */
    long finalized;
} lk;

static int link_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((link_obj *)self)->next);
    return 0;
}

static void link_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((link_obj *)self)->next);
}

static int link_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    link_obj *l = (link_obj *)self;
    lk.finalized++;
    if (lk.marks != NULL && lk.marks[l->id] < 255) lk.marks[l->id]++;
    if (lk.resurrect_every && l->id % lk.resurrect_every == lk.resurrect_every / 2)
        t_append(rt, lk.holder, self);
    return 0;
}

static const rcgc_type link_type = {
    .name = "link",
    .size = sizeof(link_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = link_traverse,
    .clear = link_clear};

static const rcgc_type flink_type = {
    .name = "flink",
    .size = sizeof(link_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = link_traverse,
    .clear = link_clear,
    .finalize = link_finalize};

static const rcgc_type plink_type = {
    .name = "plink",
    .size = sizeof(link_obj),
    .traverse = link_traverse,
    .clear = link_clear,
    .finalize = link_finalize};

/* n links, each holding the previous one; returns the last (NEW), stores
 * the first (BORROWED) in *first. */
static rcgc_object *build_chain(rcgc_runtime *rt, const rcgc_type *type,
                                long n, rcgc_object **first)
{
    rcgc_object *prev = NULL;
    for (long i = 0; i < n; i++) {
        rcgc_object *o = rcgc_object_new(rt, type);
        if (o == NULL) {
            rcgc_xdecref(rt, prev);
            return NULL;
        }
        ((link_obj *)o)->id = i;
        ((link_obj *)o)->next = prev; /* steals */
        if (type->flags & RCGC_TYPE_GC) rcgc_object_track(rt, o);
        if (i == 0 && first != NULL) *first = o;
        prev = o;
    }
    return prev;
}

/* test_gc.py's deep-nesting cases, spec §4.3 "freeing a 10^6-deep nested
 * list ... no crash": a 10^7-deep chain freed by one decref uses bounded C
 * stack (the default 8 MiB stack would not hold 10^7 frames). */
TEST(trashcan_deep_chain_decref)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(10000000);
    rcgc_object *head = build_chain(rt, &link_type, n, NULL);
    REQUIRE(head != NULL);
    CHECK_EQ(t_live_objects(rt), n);
    CHECK_EQ(tracked_of(rt), n);
    rcgc_decref(rt, head);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0);
    t_teardown(rt);
}

/* Spec §8(f) "chain ... link the tail back to the head, drop the head -> one
 * N-object cycle": python3 3.11.7 collects 10^6 of them with gc.collect()
 * == 10^6 (trash.py); here 10^7, freed by delete_garbage's cascade through
 * the trashcan. */
TEST(trashcan_deep_cycle_collect)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(10000000);
    rcgc_object *first = NULL;
    rcgc_object *last = build_chain(rt, &link_type, n, &first);
    REQUIRE(last != NULL && first != NULL);
    ((link_obj *)first)->next = last; /* steals our reference: a ring */
    CHECK_EQ(rcgc_gc_collect(rt, 0), n);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_teardown(rt);
}

/* The trashcan also bounds non-GC deallocation chains (3.11 applies it to
 * lists, tuples, dicts and subtype_dealloc, whatever their GC status) and
 * runs each non-GC finalizer once per death.  python3 3.11.7 (trash.py):
 * a 10^6-deep chain with __del__ -> 10^6 calls. */
TEST(trashcan_deep_non_gc_chain)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    memset(&lk, 0, sizeof lk);
    lk.marks = calloc((size_t)n, 1);
    REQUIRE(lk.marks != NULL);
    rcgc_object *head = build_chain(rt, &plink_type, n, NULL);
    REQUIRE(head != NULL);
    CHECK_EQ(tracked_of(rt), 0);
    rcgc_decref(rt, head);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(lk.finalized, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);

    /* Same with the harness's list-like non-GC container. */
    long m = t_scale(1000000);
    rcgc_object *prev = NULL;
    for (long i = 0; i < m; i++) {
        rcgc_object *o = t_new(rt, &t_plain_type, (int)i);
        REQUIRE(o != NULL);
        if (prev != NULL) t_append_steal(rt, o, prev);
        prev = o;
    }
    rcgc_xdecref(rt, prev);
    CHECK_EQ(t_live_objects(rt), 0);
    free(lk.marks);
    memset(&lk, 0, sizeof lk);
    t_teardown(rt);
}

/* test_gc.py test_trashcan_threads' invariant "len(C.inits) == len(C.dels)"
 * (spec §9.1 item 17, every object finalized exactly once) for one deep
 * chain of finalizer objects freed by one decref, and collected as a
 * cycle; python3 3.11.7 (trash.py): 10^6 calls either way. */
TEST(trashcan_deep_chain_finalized_once)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    memset(&lk, 0, sizeof lk);
    lk.marks = calloc((size_t)n, 1);
    REQUIRE(lk.marks != NULL);
    rcgc_object *head = build_chain(rt, &flink_type, n, NULL);
    REQUIRE(head != NULL);
    rcgc_decref(rt, head);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(lk.finalized, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);

    memset(lk.marks, 0, (size_t)n);
    lk.finalized = 0;
    rcgc_object *first = NULL;
    rcgc_object *last = build_chain(rt, &flink_type, n, &first);
    REQUIRE(last != NULL);
    ((link_obj *)first)->next = last;
    CHECK_EQ(rcgc_gc_collect(rt, 2), n);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(lk.finalized, n);
    bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);
    free(lk.marks);
    memset(&lk, 0, sizeof lk);
    t_teardown(rt);
}

/* Resurrection inside the trashcan: every 1000th link's finalizer stores
 * it; the deallocation of the chain stops there (the resurrected link still
 * holds the rest), and deferred objects are re-tracked before their
 * finalizer runs (3.13 keeps the tracked bit with the deposited object).
 * Releasing the survivors frees everything; nobody is finalized twice. */
TEST(trashcan_resurrection)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    memset(&lk, 0, sizeof lk);
    lk.marks = calloc((size_t)n, 1);
    REQUIRE(lk.marks != NULL);
    lk.resurrect_every = 1000;
    lk.holder = t_node(rt, -1);
    REQUIRE(lk.holder != NULL);
    rcgc_object *head = build_chain(rt, &flink_type, n, NULL);
    REQUIRE(head != NULL);
    rcgc_decref(rt, head);
    /* Only the links from the top down to the first resurrector died. */
    long expect_dead = n - 1 - ((n - 1 - 500) / 1000 * 1000 + 500) + 1;
    if (n <= 500) expect_dead = n;
    CHECK_EQ(lk.finalized, expect_dead);
    CHECK_EQ(t_as(lk.holder)->n, n > 500 ? 1 : 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    for (rcgc_ssize i = 0; i < t_as(lk.holder)->n; i++)
        CHECK(rcgc_object_is_tracked(t_as(lk.holder)->items[i]));
    /* Release the survivors until the whole chain is gone. */
    for (int round = 0; round < 100000 && t_as(lk.holder)->n > 0; round++)
        list_clear(rt, lk.holder);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(lk.finalized, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);
    rcgc_decref(rt, lk.holder);
    free(lk.marks);
    memset(&lk, 0, sizeof lk);
    t_teardown(rt);
}

/* test_gc.py test_trashcan (spec §9.1 item 16): with automatic collection
 * on, build t = [t, Ouch()], u likewise and v = {1: v, 2: Ouch()}, 150 deep,
 * twice; Ouch.__del__ calls gc.collect() every 17th time.  No crash, and
 * python3 3.11.7 (trash.py): 900 Ouch created, 900 finalized. */
static long ouch_n;

static int h_ouch(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    ouch_n++;
    if (ouch_n % 17 == 0) rcgc_gc_collect(rt, 2);
    return 0;
}

static rcgc_object *ouch_nest(rcgc_runtime *rt, const rcgc_type *outer, int n,
                              long *inits)
{
    rcgc_object *t = t_new(rt, outer, 0);
    for (int i = 0; i < n && t != NULL; i++) {
        rcgc_object *nt = t_new(rt, outer, i);
        rcgc_object *ouch = t_new(rt, &t_fnode_type, i);
        if (nt == NULL || ouch == NULL) return NULL;
        t_as(ouch)->on_finalize = h_ouch;
        (*inits)++;
        t_append_steal(rt, nt, t);
        t_append_steal(rt, nt, ouch);
        t = nt;
    }
    return t;
}

TEST(trashcan_under_gc_pressure)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg); /* gc enabled, 700/10/10 */
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    ouch_n = 0;
    long inits = 0;
    rcgc_object *t = NULL, *u = NULL, *v = NULL;
    for (int count = 0; count < 2; count++) {
        rcgc_object *nt = ouch_nest(rt, &t_node_type, 150, &inits);
        REQUIRE(nt != NULL);
        rcgc_xdecref(rt, t);
        t = nt;
        rcgc_object *nu = ouch_nest(rt, &t_node_type, 150, &inits);
        REQUIRE(nu != NULL);
        rcgc_xdecref(rt, u);
        u = nu;
        rcgc_object *nv = ouch_nest(rt, &t_dict_type, 150, &inits);
        REQUIRE(nv != NULL);
        rcgc_xdecref(rt, v);
        v = nv;
        CHECK_EQ(rcgc_gc_check(rt), 0);
    }
    rcgc_decref(rt, t);
    rcgc_decref(rt, u);
    rcgc_decref(rt, v);
    rcgc_gc_disable(rt);
    CHECK_EQ(inits, 900);
    CHECK_EQ(ouch_n, 900);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* test_gc.py test_trashcan's hazard ("abusing the type pointer and refcount
 * fields ... problems when gc tries to traverse the structures"), pushed
 * further: every 100th finalizer of a deep chain being torn down creates a
 * 2-cycle and collects; objects deposited in the trashcan (refcount field
 * reused as a link) must stay invisible to the collector, and each
 * collection finds exactly its 2-cycle. */
static int h_collect_every_100(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    if (++ouch_n % 100 == 0) {
        rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
        if (a && b) t_link2(rt, a, b);
        rcgc_xdecref(rt, a);
        rcgc_xdecref(rt, b);
        if (rcgc_gc_collect(rt, 2) != 2) act.alloc_failed++;
    }
    return 0;
}

TEST(trashcan_collect_in_finalizers)
{
    rcgc_runtime *rt = t_runtime();
    memset(&act, 0, sizeof act);
    ouch_n = 0;
    long n = t_scale(100000);
    rcgc_object *prev = NULL;
    for (long i = 0; i < n; i++) {
        rcgc_object *o = t_new(rt, &t_fnode_type, (int)i);
        REQUIRE(o != NULL);
        t_as(o)->on_finalize = h_collect_every_100;
        if (prev != NULL) t_append_steal(rt, o, prev);
        prev = o;
    }
    rcgc_xdecref(rt, prev);
    CHECK_EQ(ouch_n, n);
    CHECK_EQ(act.alloc_failed, 0); /* each collection found its 2-cycle */
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

TEST_MAIN(T(trashcan_deep_chain_decref), T(trashcan_deep_cycle_collect),
          T(trashcan_deep_non_gc_chain),
          T(trashcan_deep_chain_finalized_once), T(trashcan_resurrection),
          T(trashcan_under_gc_pressure), T(trashcan_collect_in_finalizers))

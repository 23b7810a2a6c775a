/*
 * test_collect_split.c - move_unreachable's split (src/core/collect.c,
 * docs/collector.md "Splitting reachable from unreachable"): marking from
 * the objects with gc_refs > 0 on an explicit stack, then one sweep in list
 * order.
 *
 *   - the survivors of a full collection keep their list order (for
 *     objects allocated one after the other, their allocation order),
 *     except those reached only from behind the cursor, which follow in
 *     reverse list order; a second collection keeps that order;
 *   - the unreachable objects reach the finalizers in young's list order
 *     (CPython's move_unreachable gives the same order: the objects that
 *     stay unreachable form a subsequence of young);
 *   - when the mark stack cannot grow (fault injection: the N-th
 *     allocation of the collection fails, or all of them do), the
 *     collection falls back to CPython's breadth-first scan and finds the
 *     same sets: same return value, same finalizers in the same order, same
 *     survivors, same ephemeron values kept.
 *
 * Shapes: a chain pointing backwards, a caterpillar whose side items are
 * visited before the spine (a deep mark stack), wide fans behind and ahead
 * of their holder, reachable and garbage cycles, and a weak-key map whose
 * values only the map holds.  Every shape interleaves garbage (one big
 * cycle of objects with PEP 442 finalizers) with the live objects, so the
 * unreachable objects are spread over young.
 */
#include "test.h"

#include "core/gchead.h" /* the mark step's header test */

#define W 3000          /* wide enough to make the stack grow past 256 */
#define MAX_LOG 8192

enum { CHAIN_BACK, CATERPILLAR, FAN_BEHIND, FAN_AHEAD, CYCLES, EPHEMERONS,
       NSHAPES };
static const char *const shape_name[NSHAPES] = {
    "chain_back", "caterpillar", "fan_behind", "fan_ahead", "cycles",
    "ephemerons"};

/* ---- what one collection did ---- */

static int fin_log[MAX_LOG];
static int fin_n;

static int hook_log(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    if (fin_n < MAX_LOG) fin_log[fin_n] = t_as(self)->id;
    fin_n++;
    return 0;
}

struct result {
    rcgc_ssize collected;  /* what rcgc_gc_collect returned */
    int fin[MAX_LOG];      /* finalizer ids, in the order they ran */
    int nfin;
    int *alive;            /* ids of the surviving nodes, in list order */
    rcgc_ssize nalive;
    long allocs;           /* allocations during the collection */
    long failures;         /* of those, how many were failed */
    rcgc_ssize live;       /* objects alive after it */
};

/* ---- the graph ---- */

struct graph {
    int next_id;           /* ids follow allocation order */
    rcgc_object *roots[4]; /* what the test holds */
    int nroots;
    rcgc_object *garbage_first, *garbage_last; /* the finalizer cycle */
    rcgc_ssize ngarbage;   /* objects that must be collected */
};

static rcgc_object *node(rcgc_runtime *rt, struct graph *g)
{
    rcgc_object *o = t_node(rt, g->next_id++);
    if (o == NULL) {
        t_fail(__FILE__, __LINE__, "out of memory building the graph");
        exit(1);
    }
    return o;
}

/* One more member of the garbage cycle (a PEP 442 finalizer that logs). */
static void garbage(rcgc_runtime *rt, struct graph *g)
{
    rcgc_object *o = t_new(rt, &t_fnode_type, g->next_id++);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = hook_log;
    if (g->garbage_last == NULL) {
        g->garbage_first = o; /* a second reference, until closed */
        rcgc_incref(o);
    } else {
        REQUIRE(t_append(rt, o, g->garbage_last) == 0);
        rcgc_decref(rt, g->garbage_last);
    }
    g->garbage_last = o;
    g->ngarbage++;
}

static void close_garbage(rcgc_runtime *rt, struct graph *g)
{
    REQUIRE(t_append_steal(rt, g->garbage_first, g->garbage_last) == 0);
    rcgc_decref(rt, g->garbage_first);
}

static void hold(struct graph *g, rcgc_object *o)
{
    REQUIRE(g->nroots < 4);
    g->roots[g->nroots++] = o;
}

static void build(rcgc_runtime *rt, int shape, struct graph *g)
{
    memset(g, 0, sizeof *g);
    g->next_id = 1;
    rcgc_object *prev = NULL, *root = NULL;
    switch (shape) {
    case CHAIN_BACK: /* each node holds the one before it; the last is held */
        for (int i = 0; i < W; i++) {
            rcgc_object *o = node(rt, g);
            if (prev != NULL) REQUIRE(t_append_steal(rt, o, prev) == 0);
            prev = o;
            if (i % 3 == 0) garbage(rt, g);
        }
        hold(g, prev);
        break;
    case CATERPILLAR: /* spine s_i holds [side_i, s_(i-1)], side_i older */
        for (int i = 0; i < W; i++) {
            rcgc_object *side = node(rt, g);
            if (i % 2 == 0) garbage(rt, g);
            rcgc_object *s = node(rt, g);
            REQUIRE(t_append_steal(rt, s, side) == 0);
            if (prev != NULL) REQUIRE(t_append_steal(rt, s, prev) == 0);
            prev = s;
        }
        hold(g, prev);
        break;
    case FAN_BEHIND: /* W nodes, then the one holder, held */
    case FAN_AHEAD:  /* the holder first */
        if (shape == FAN_AHEAD) root = node(rt, g);
        rcgc_object **items = malloc(W * sizeof *items);
        REQUIRE(items != NULL);
        for (int i = 0; i < W; i++) {
            items[i] = node(rt, g);
            if (i % 4 == 0) garbage(rt, g);
        }
        if (shape == FAN_BEHIND) root = node(rt, g);
        for (int i = 0; i < W; i++)
            REQUIRE(t_append_steal(rt, root, items[i]) == 0);
        free(items);
        hold(g, root);
        break;
    case CYCLES: /* live 2-cycles and 3-cycles behind their holder */
        items = malloc(W * sizeof *items);
        REQUIRE(items != NULL);
        for (int i = 0; i < W; i++) {
            rcgc_object *a = node(rt, g), *b = node(rt, g);
            t_link2(rt, a, b);
            if (i % 3 == 0) {
                rcgc_object *c = node(rt, g);
                REQUIRE(t_append_steal(rt, b, c) == 0);
                REQUIRE(t_append(rt, c, a) == 0);
            }
            rcgc_decref(rt, b);
            items[i] = a;
            garbage(rt, g);
        }
        root = node(rt, g);
        for (int i = 0; i < W; i++)
            REQUIRE(t_append_steal(rt, root, items[i]) == 0);
        free(items);
        hold(g, root);
        break;
    case EPHEMERONS: {
        /* keys: held by keeper (even i) or in the garbage cycle (odd i);
         * value_i holds a node of its own and, for i % 5 == 0, its key
         * (which must not keep the key alive); the value of key i is the
         * key of i + 1 for i % 7 == 0 (a chain of entries); the map comes
         * last and is held. */
        rcgc_object *keeper = node(rt, g);
        rcgc_object **keys = malloc(W * sizeof *keys);
        rcgc_object **vals = malloc(W * sizeof *vals);
        REQUIRE(keys != NULL && vals != NULL);
        for (int i = 0; i < W; i++) {
            keys[i] = t_wnode(rt, g->next_id++);
            REQUIRE(keys[i] != NULL);
            if (i % 2 == 0) {
                REQUIRE(t_append(rt, keeper, keys[i]) == 0);
            } else {
                garbage(rt, g);
                REQUIRE(t_append(rt, g->garbage_last, keys[i]) == 0);
            }
        }
        for (int i = 0; i < W; i++) {
            if (i % 7 == 0 && i + 1 < W) {
                vals[i] = keys[i + 1];
                rcgc_incref(vals[i]);
                continue;
            }
            rcgc_object *inner = node(rt, g);
            vals[i] = node(rt, g);
            REQUIRE(t_append_steal(rt, vals[i], inner) == 0);
            if (i % 5 == 0) REQUIRE(t_append(rt, vals[i], keys[i]) == 0);
        }
        rcgc_object *map = rcgc_wkmap_new(rt);
        REQUIRE(map != NULL);
        for (int i = 0; i < W; i++) {
            REQUIRE(rcgc_wkmap_set(rt, map, keys[i], vals[i]) == 0);
            rcgc_decref(rt, vals[i]);
            rcgc_decref(rt, keys[i]);
        }
        free(keys);
        free(vals);
        hold(g, keeper);
        hold(g, map);
        /* Not counted by hand (build sets ngarbage to -1): entries of
         * dead keys go when their weak references are cleared, which frees
         * some values before they are counted; the count is compared with
         * CPython's scan (the fallback) instead. */
        break;
    }
    }
    close_garbage(rt, g);
    if (shape == EPHEMERONS) g->ngarbage = -1;
}

static void release(rcgc_runtime *rt, struct graph *g)
{
    for (int i = 0; i < g->nroots; i++) {
        rcgc_object *o = g->roots[i];
        if (o->type == &t_node_type) t_clear(rt, o);
        rcgc_decref(rt, o);
    }
    g->nroots = 0;
}

static int is_node(const rcgc_object *o)
{
    return o->type == &t_node_type || o->type == &t_fnode_type ||
           o->type == &t_wnode_type;
}

/* Build the shape in a fresh runtime, collect once with the given faults,
 * record what happened, free everything.  fail_nth > 0: that allocation of
 * the collection fails; fail_nth < 0: every one does. */
/* The generation run() collects: 2 (a full collection), or 0 (a young
 * one: every object of the shapes is young; in a pool runtime,
 * RCGC_TEST_POOL=1, it splits on the young vector itself, collect.c's
 * deduce_unreachable_vec). */
static int split_gen = 2;

static void run(int shape, long fail_nth, struct result *r)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rt != NULL);
    struct graph g;
    build(rt, shape, &g);
    fin_n = 0;
    long calls0 = t_alloc_state.calls;
    t_alloc_state.failures = 0;
    if (fail_nth > 0) t_alloc_state.fail_at = calls0 + fail_nth;
    if (fail_nth < 0) t_alloc_state.fail_after = calls0;
    r->collected = rcgc_gc_collect(rt, split_gen);
    r->allocs = t_alloc_state.calls - calls0;
    r->failures = t_alloc_state.failures;
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = 0;
    r->nfin = fin_n < MAX_LOG ? fin_n : MAX_LOG;
    memcpy(r->fin, fin_log, (size_t)r->nfin * sizeof *fin_log);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, split_gen == 2 ? 2 : split_gen + 1,
                                       &objs);
    REQUIRE(n >= 0);
    r->alive = malloc((size_t)(n + 1) * sizeof *r->alive);
    REQUIRE(r->alive != NULL);
    r->nalive = 0;
    for (rcgc_ssize i = 0; i < n; i++)
        if (is_node(objs[i])) r->alive[r->nalive++] = t_as(objs[i])->id;
    rcgc_objects_free(rt, objs, n);
    r->live = t_live_objects(rt);
    if (g.ngarbage >= 0) CHECK_EQ(r->collected, g.ngarbage);
    release(rt, &g);
    rcgc_gc_collect(rt, 2);
    t_finish(rt);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Same sets and same finalizer order; survivors compared as sets (the
 * fallback leaves them in CPython's breadth-first order). */
static void check_same(int shape, const char *how, const struct result *want,
                       const struct result *got)
{
    int bad = 0;
    if (got->collected != want->collected || got->nfin != want->nfin ||
        memcmp(got->fin, want->fin, (size_t)want->nfin * sizeof *want->fin) ||
        got->nalive != want->nalive || got->live != want->live)
        bad = 1;
    if (!bad) {
        int *a = malloc((size_t)(want->nalive + 1) * sizeof *a);
        int *b = malloc((size_t)(want->nalive + 1) * sizeof *b);
        REQUIRE(a != NULL && b != NULL);
        memcpy(a, want->alive, (size_t)want->nalive * sizeof *a);
        memcpy(b, got->alive, (size_t)want->nalive * sizeof *b);
        qsort(a, (size_t)want->nalive, sizeof *a, cmp_int);
        qsort(b, (size_t)want->nalive, sizeof *b, cmp_int);
        bad = memcmp(a, b, (size_t)want->nalive * sizeof *a) != 0;
        free(a);
        free(b);
    }
    if (bad)
        t_fail(__FILE__, __LINE__, "%s, %s: collected %td (want %td), %d "
               "finalizers (want %d), %td survivors (want %td), %td live "
               "(want %td), or a different order or set",
               shape_name[shape], how, got->collected, want->collected,
               got->nfin, want->nfin, got->nalive, want->nalive, got->live,
               want->live);
}

static int ascending(const int *ids, rcgc_ssize n)
{
    for (rcgc_ssize i = 1; i < n; i++)
        if (ids[i] <= ids[i - 1]) return 0;
    return 1;
}

/* Ascending, then descending: the objects the cursor scanned in list order,
 * then those reached from behind it in reverse list order. */
static int up_then_down(const int *ids, rcgc_ssize n)
{
    rcgc_ssize i = 1;
    while (i < n && ids[i] > ids[i - 1]) i++;
    while (i < n && ids[i] < ids[i - 1]) i++;
    return i >= n;
}

/* The ids of the nodes in generation 2, in list order (malloc'd). */
static int *gen2_ids(rcgc_runtime *rt, rcgc_ssize *n_out)
{
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, 2, &objs);
    if (n < 0) return NULL;
    int *ids = malloc((size_t)(n + 1) * sizeof *ids);
    rcgc_ssize k = 0;
    for (rcgc_ssize i = 0; ids != NULL && i < n; i++)
        if (is_node(objs[i])) ids[k++] = t_as(objs[i])->id;
    rcgc_objects_free(rt, objs, n);
    *n_out = k;
    return ids;
}

/* Without faults: the expected count (checked in run), finalizers in
 * allocation order (young's list order, as CPython's scan gives), survivors
 * in allocation order except those reached from behind the cursor, which
 * follow in reverse allocation order. */
TEST(survivors_and_garbage_order)
{
    for (int s = 0; s < NSHAPES; s++) {
        struct result r;
        run(s, 0, &r);
        CHECK(r.failures == 0);
        if (!up_then_down(r.alive, r.nalive))
            t_fail(__FILE__, __LINE__, "%s: survivors not in list order "
                   "then reverse list order", shape_name[s]);
        if (!ascending(r.fin, r.nfin))
            t_fail(__FILE__, __LINE__, "%s: finalizers not in list order",
                   shape_name[s]);
        CHECK(r.nfin > 0);
        free(r.alive);
    }
}

/* In the order a full collection leaves, every reference of an acyclic
 * shape points forward, so the next full collection keeps it as it is and
 * needs no stack (it allocates nothing).  (A cycle always has a reference
 * pointing backwards; the map's values are reached by the ephemeron rule
 * after the cursor's walk.) */
TEST(second_collection_keeps_the_order)
{
    static const int acyclic[] = {CHAIN_BACK, CATERPILLAR, FAN_BEHIND,
                                  FAN_AHEAD};
    for (size_t i = 0; i < sizeof acyclic / sizeof *acyclic; i++) {
        int s = acyclic[i];
        rcgc_runtime *rt = t_runtime();
        REQUIRE(rt != NULL);
        struct graph g;
        build(rt, s, &g);
        rcgc_gc_collect(rt, 2);
        rcgc_ssize n1 = 0, n2 = 0;
        int *first = gen2_ids(rt, &n1);
        REQUIRE(first != NULL);
        long calls0 = t_alloc_state.calls;
        CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
        CHECK_EQ(t_alloc_state.calls - calls0, 0);
        int *second = gen2_ids(rt, &n2);
        REQUIRE(second != NULL);
        if (n1 != n2 || memcmp(first, second, (size_t)n1 * sizeof *first))
            t_fail(__FILE__, __LINE__, "%s: the second collection changed "
                   "the order", shape_name[s]);
        free(first);
        free(second);
        release(rt, &g);
        rcgc_gc_collect(rt, 2);
        t_finish(rt);
    }
}

/* The stack grows past its first 256 entries where a holder's referents lie
 * behind it: the wide fan behind, the caterpillar (depth first with the
 * side items pushed first), the cycles' holder, the map's values. */
TEST(mark_stack_grows_on_wide_and_deep_shapes)
{
    static const int grows[] = {FAN_BEHIND, CATERPILLAR, CYCLES, EPHEMERONS};
    for (size_t i = 0; i < sizeof grows / sizeof *grows; i++) {
        struct result r;
        run(grows[i], 0, &r);
        if (r.allocs < 1)
            t_fail(__FILE__, __LINE__, "%s: the collection allocated "
                   "nothing", shape_name[grows[i]]);
        free(r.alive);
    }
    /* Referents ahead of the cursor never go on the stack. */
    struct result r;
    run(FAN_AHEAD, 0, &r);
    CHECK_EQ(r.allocs, 0);
    free(r.alive);
    run(CHAIN_BACK, 0, &r);
    CHECK_EQ(r.allocs, 0);
    free(r.alive);
}

/* For N = 1, 2, ...: the N-th allocation of the collection fails (the
 * first growth of the stack, the second, ...), until a collection needs
 * fewer; then every allocation fails.  Each run finds what the run without
 * faults found. */
TEST(stack_that_cannot_grow_falls_back_with_same_results)
{
    for (int s = 0; s < NSHAPES; s++) {
        struct result want;
        run(s, 0, &want);
        long n;
        for (n = 1; n < 64; n++) {
            struct result got;
            run(s, n, &got);
            char how[32];
            snprintf(how, sizeof how, "allocation %ld fails", n);
            check_same(s, how, &want, &got);
            free(got.alive);
            if (got.failures == 0) break;
        }
        CHECK(n < 64);
        CHECK_EQ(n - 1, want.allocs); /* each allocation was failed once */
        struct result got;
        run(s, -1, &got);
        CHECK(got.failures >= (want.allocs > 0) &&
              got.failures <= want.allocs);
        check_same(s, "every allocation fails", &want, &got);
        free(got.alive);
        free(want.alive);
        if (t_failures) {
            fprintf(stderr, "  (shape %s)\n", shape_name[s]);
            return;
        }
    }
}

/* visit_mark's one-compare filter (gc_rc_mark_wanted) against its
 * definition: a member (the word at or above GC_RC_MEMBER, not negative)
 * with v 0 (passed) or 1 (gc_refs 0); gc_rc_wanted_is_passed tells the two
 * apart, and the sweep's and cursor's tests (passed, reached after passed,
 * gc_refs 0) match theirs.  Words: every small value, both sides of each
 * boundary of v and of the member bit, the top, immortal and negative
 * values (the subtraction must not let a negative word in). */
TEST(mark_test_matches_its_definition)
{
    const intptr_t bases[] = {0,
                              (intptr_t)1 << 31,
                              GC_RC_LOW - 31,
                              GC_RC_MEMBER - GC_RC_ONE - 31,
                              GC_RC_MEMBER - 31,
                              GC_RC_MEMBER + GC_RC_ONE - 31,
                              GC_RC_MEMBER + 2 * GC_RC_ONE - 31,
                              GC_RC_MEMBER + (GC_RC_V_MAX << GC_RC_SHIFT) - 31,
                              INTPTR_MAX - 63,
                              RCGC_IMMORTAL_REFCNT - 31,
                              INTPTR_MIN,
                              -32};
    long checked = 0;
    for (size_t b = 0; b < sizeof bases / sizeof *bases; b++) {
        for (intptr_t d = 0; d < 64; d++) {
            intptr_t r = bases[b] + d;
            int member = r >= 0 && ((uintptr_t)r >> 62) == 1;
            intptr_t v = ((uintptr_t)r >> 32) & ((1u << 30) - 1);
            int want = member && (v == 0 || v == 1);
            CHECK_EQ(gc_rc_mark_wanted(r), want);
            if (want) CHECK_EQ(gc_rc_wanted_is_passed(r), v == 0);
            CHECK_EQ(gc_rc_is_passed(r), member && v == 0);
            CHECK_EQ(gc_rc_refs_zero(r), member && v == 1);
            CHECK_EQ(gc_rc_was_passed(r),
                     member && v == GC_RC_V_REACHED_PASSED);
            if (member) CHECK_EQ(gc_rc_v(r), v);
            checked++;
        }
    }
    CHECK_EQ(checked, 12 * 64);
}

/* The same three for a young collection (generation 0): the same sets,
 * order and fallback, on the list or, in a pool runtime, on the vector. */
TEST(young_survivors_and_garbage_order)
{
    split_gen = 0;
    survivors_and_garbage_order();
    split_gen = 2;
}

TEST(young_mark_stack_grows)
{
    split_gen = 0;
    mark_stack_grows_on_wide_and_deep_shapes();
    split_gen = 2;
}

TEST(young_stack_that_cannot_grow_falls_back)
{
    split_gen = 0;
    stack_that_cannot_grow_falls_back_with_same_results();
    split_gen = 2;
}

TEST_MAIN(T(mark_test_matches_its_definition), T(survivors_and_garbage_order), T(second_collection_keeps_the_order),
          T(mark_stack_grows_on_wide_and_deep_shapes),
          T(stack_that_cannot_grow_falls_back_with_same_results),
          T(young_survivors_and_garbage_order), T(young_mark_stack_grows),
          T(young_stack_that_cannot_grow_falls_back))

/*
 * test_faults.c - out of memory everywhere: for N = 1, 2, 3, ... the N-th
 * allocation fails (t_alloc_state.fail_at = N), until a run needs fewer
 * than N allocations; every run must leave the runtime consistent
 * (rcgc_gc_check), report RCGC_ENOMEM from the failing call and through
 * rcgc_runtime_last_error, and tear down without a leak.  Then fail_after
 * (every allocation from some point on fails) for the functions that
 * return arrays or grow a table: they must fail cleanly, leak nothing and
 * leave every reference count as it was.
 *
 * CPython's counterpart is the _testcapi set_nomemory() machinery used by
 * test_capi / test_gc's no-memory tests: a MemoryError instead of a crash
 * or a leak.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <sys/mman.h>

#include "test.h"
#include "rcgc_mem.h"

#define MAX_N 100000 /* safety net for the N loops */

/* Fail exactly the n-th allocation from now. */
static void fail_nth(long n)
{
    t_alloc_state.fail_at = t_alloc_state.calls + n;
    t_alloc_state.fail_after = 0;
    t_alloc_state.failures = 0;
}

static void no_faults(void)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = 0;
}

/* A runtime whose messages go to a scratch file (out-of-memory notes). */
static FILE *scratch;

static void setup_scratch(void)
{
    if (scratch == NULL) scratch = tmpfile();
}

static rcgc_runtime *quiet_runtime(unsigned debug)
{
    setup_scratch();
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug = debug;
    cfg.debug_stream = scratch;
    return t_runtime_cfg(&cfg);
}

/* Finalizer bookkeeping, by id. */
static struct {
    int calls[256];
    int alloc_null;      /* allocations in finalizers that returned NULL */
    int bad_error;       /* ... without RCGC_ENOMEM as last error */
    int orphans;         /* allocated self-cycles the holder could not keep */
    rcgc_object *holder; /* where finalizers keep what they allocate */
} fin;

static int h_count(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    int id = t_as(self)->id;
    if (id >= 0 && id < 256) fin.calls[id]++;
    return 0;
}

/* Counts, then allocates two nodes (one in a self-cycle) and appends them
 * to fin.holder; copes with NULL and RCGC_ENOMEM. */
static int h_count_alloc(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_count(rt, self, ctx);
    for (int i = 0; i < 2; i++) {
        rcgc_object *n = t_node(rt, 1000 + i);
        if (n == NULL) {
            fin.alloc_null++;
            if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) fin.bad_error++;
            continue;
        }
        int cyclic = 0;
        if (i == 1) {
            if (t_append(rt, n, n) == 0) {
                cyclic = 1;
            } else {
                fin.alloc_null++;
                if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) fin.bad_error++;
            }
        }
        if (fin.holder == NULL) {
            fin.orphans += cyclic;
        } else if (t_append(rt, fin.holder, n) != 0) {
            fin.alloc_null++;
            fin.orphans += cyclic;
            if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) fin.bad_error++;
        }
        rcgc_decref(rt, n);
    }
    return 0;
}

/* Break every cycle the runtime still tracks and empty gc.garbage (used
 * after runs in which the garbage list could not grow). */
static void break_everything(rcgc_runtime *rt)
{
    no_faults();
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, -1, &objs);
    if (n < 0) {
        t_fail(__FILE__, __LINE__, "get_objects failed: %td", n);
        return;
    }
    for (rcgc_ssize i = 0; i < n; i++)
        if (objs[i]->type->clear != NULL) objs[i]->type->clear(rt, objs[i]);
    rcgc_objects_free(rt, objs, n);
    rcgc_gc_garbage_clear(rt);
    rcgc_gc_collect(rt, 2);
}

/* ======================================================================== */
/* (a) Building a graph                                                     */

#define GRAPH 30

struct graph {
    rcgc_object *objs[GRAPH];
    rcgc_object *keep; /* the program's root */
    int failed;        /* a call failed */
    int bad;           /* a failure without RCGC_ENOMEM */
};

static void note_failure(rcgc_runtime *rt, struct graph *g)
{
    g->failed = 1;
    if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) g->bad++;
    if (t_alloc_state.failures != 1) g->bad++;
}

static int g_append(rcgc_runtime *rt, struct graph *g, rcgc_object *a,
                    rcgc_object *b)
{
    int rc = t_append(rt, a, b);
    if (rc != 0) {
        if (rc != RCGC_ENOMEM) g->bad++;
        note_failure(rt, g);
        return -1;
    }
    return 0;
}

/* Objects 0..14 form a component the program keeps (through keep), 15..29
 * a component it drops; each is a ring with chords and self-loops; every
 * third object has a finalizer; some hold leaves.  Stops at the first
 * failure. */
static void build_graph(rcgc_runtime *rt, struct graph *g)
{
    memset(g, 0, sizeof *g);
    g->keep = t_node(rt, 200);
    if (g->keep == NULL) {
        note_failure(rt, g);
        return;
    }
    for (int i = 0; i < GRAPH; i++) {
        const rcgc_type *t = i % 3 == 0 ? &t_fnode_type : &t_node_type;
        g->objs[i] = t_new(rt, t, i);
        if (g->objs[i] == NULL) {
            note_failure(rt, g);
            return;
        }
        t_as(g->objs[i])->on_finalize = h_count;
        if (i % 4 == 0) {
            rcgc_object *leaf = t_leaf(rt, 100 + i);
            if (leaf == NULL) {
                note_failure(rt, g);
                return;
            }
            int rc = g_append(rt, g, g->objs[i], leaf);
            rcgc_decref(rt, leaf);
            if (rc != 0) return;
        }
    }
    for (int c = 0; c < 2; c++) {
        int base = c * (GRAPH / 2), n = GRAPH / 2;
        for (int k = 0; k < n; k++) {
            rcgc_object *a = g->objs[base + k];
            if (g_append(rt, g, a, g->objs[base + (k + 1) % n]) != 0) return;
            if (k % 5 == 0 && g_append(rt, g, a, a) != 0) return;
            if (g_append(rt, g, a, g->objs[base + (k * 7) % n]) != 0) return;
        }
    }
    if (g_append(rt, g, g->keep, g->objs[0]) != 0) return;
}

static void drop_graph(rcgc_runtime *rt, struct graph *g)
{
    for (int i = 0; i < GRAPH; i++) rcgc_xdecref(rt, g->objs[i]);
}

/* For N = 1, 2, ...: the N-th allocation while building fails.  The
 * failing call reports RCGC_ENOMEM (NULL from rcgc_object_new), the
 * runtime stays consistent, the partial graph is collected, each finalizer
 * runs exactly once, and nothing leaks. */
TEST(fault_while_building_graph)
{
    int n, succeeded = 0;
    for (n = 1; n < MAX_N && !succeeded; n++) {
        rcgc_runtime *rt = t_runtime();
        REQUIRE(rt != NULL);
        memset(&fin, 0, sizeof fin);
        struct graph g;
        fail_nth(n);
        build_graph(rt, &g);
        long failures = t_alloc_state.failures;
        no_faults();
        if (failures == 0) {
            succeeded = 1;
            CHECK(!g.failed);
        } else {
            CHECK_EQ(failures, 1);
            CHECK(g.failed);
        }
        CHECK_EQ(g.bad, 0);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        /* Drop the dropped component, collect, then the rest. */
        for (int i = GRAPH / 2; i < GRAPH; i++) {
            rcgc_xdecref(rt, g.objs[i]);
            g.objs[i] = NULL;
        }
        rcgc_gc_collect(rt, 2);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        drop_graph(rt, &g);
        rcgc_xdecref(rt, g.keep);
        rcgc_gc_collect(rt, 2);
        CHECK_EQ(t_live_objects(rt), 0);
        int bad_calls = 0;
        for (int i = 0; i < GRAPH; i += 3) bad_calls += fin.calls[i] > 1;
        CHECK_EQ(bad_calls, 0);
        if (succeeded)
            for (int i = 0; i < GRAPH; i += 3) CHECK_EQ(fin.calls[i], 1);
        t_teardown(rt);
        if (t_failures) {
            fprintf(stderr, "  (at N = %d)\n", n);
            return;
        }
    }
    CHECK(succeeded);
    CHECK(n > 40); /* the graph needs dozens of allocations */
    printf("     (%d runs)\n", n - 1);
}

/* ---- the same through the default pool allocator ---- */

/* Arenas for the pool allocator that fail from call fail_from on (0:
 * never); live counts what is mapped. */
static struct {
    long calls, fail_from, live;
} arenas;

static void *arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (arenas.fail_from > 0 && ++arenas.calls >= arenas.fail_from) return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    arenas.live++;
    return p;
}

static void arena_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    arenas.live--;
    munmap(p, size);
}

/* A runtime on the default heap - the pool allocator serves OBJ and MEM -
 * whose RAW domain is the test's counting allocator (the pool allocator's
 * state, blocks over 512 bytes, and the blocks arenas could not serve) and
 * whose arenas come from arena_alloc. */
static rcgc_runtime *pool_runtime(long arena_fail_from)
{
    setup_scratch();
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug_stream = scratch;
    t_alloc_release(&t_alloc_state);
    memset(&t_alloc_state, 0, sizeof t_alloc_state);
    cfg.heap.raw = t_allocator(&t_alloc_state);
    rcgc_arena_allocator a = {NULL, arena_alloc, arena_free, NULL};
    cfg.heap.pymalloc.arena = a;
    memset(&arenas, 0, sizeof arenas);
    arenas.fail_from = arena_fail_from;
    return rcgc_runtime_new(&cfg);
}

/* fault_while_building_graph on the pool allocator, in two settings:
 * arenas never fail (raw faults hit the pool's own tables, whose failure
 * the pool absorbs by serving the block from raw); every arena fails (each
 * block falls back to raw, so the N-th block fails, through the pool's
 * fallback path).  Each run: a call that fails reports RCGC_ENOMEM,
 * the heap and the collector stay consistent (rcgc_check), each finalizer
 * runs at most once, and every block and arena is given back. */
TEST(fault_while_building_graph_pool)
{
    static const long settings[] = {0, 1};
    for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
        int n, succeeded = 0;
        long failed_runs = 0;
        for (n = 1; n < MAX_N && !succeeded; n++) {
            rcgc_runtime *rt = pool_runtime(settings[s]);
            REQUIRE(rt != NULL);
            memset(&fin, 0, sizeof fin);
            struct graph g;
            fail_nth(n);
            build_graph(rt, &g);
            long failures = t_alloc_state.failures;
            no_faults();
            arenas.fail_from = 0;
            succeeded = failures == 0;
            CHECK(failures <= 1);
            /* a failed call means a fault; but a fault may be absorbed (the
             * arena table could not grow: the block came from raw) */
            if (g.failed) CHECK_EQ(failures, 1);
            failed_runs += g.failed;
            CHECK_EQ(g.bad, 0);
            CHECK_EQ(rcgc_check(rt), 0);
            drop_graph(rt, &g);
            rcgc_xdecref(rt, g.keep);
            rcgc_gc_collect(rt, 2);
            CHECK_EQ(t_live_objects(rt), 0);
            int bad_calls = 0;
            for (int i = 0; i < GRAPH; i += 3) bad_calls += fin.calls[i] > 1;
            CHECK_EQ(bad_calls, 0);
            t_teardown(rt);
            CHECK_EQ(arenas.live, 0);
            if (t_failures) {
                fprintf(stderr, "  (setting %zu, at N = %d)\n", s, n);
                return;
            }
        }
        CHECK(succeeded);
        /* with every arena failing, each object is a raw block */
        if (settings[s] == 1) CHECK(failed_runs > 40);
        printf("     (arenas fail from %ld: %d runs, %ld with a failed call)\n",
               settings[s], n - 1, failed_runs);
    }
}

/* The same with automatic collection on (threshold 3, SYNC): collections
 * run inside the allocations, and the finalizers they run allocate too (and
 * get NULL when the fault lands there). */
TEST(fault_while_building_graph_gc_enabled)
{
    int n, succeeded = 0;
    for (n = 1; n < MAX_N && !succeeded; n++) {
        rcgc_config cfg;
        rcgc_config_init(&cfg);
        cfg.threshold[0] = 3;
        cfg.threshold[1] = 2;
        cfg.threshold[2] = 2;
        setup_scratch();
        cfg.debug_stream = scratch;
        rcgc_runtime *rt = t_runtime_cfg(&cfg);
        REQUIRE(rt != NULL);
        memset(&fin, 0, sizeof fin);
        fin.holder = t_node(rt, 300);
        REQUIRE(fin.holder != NULL);
        struct graph g;
        fail_nth(n);
        build_graph(rt, &g);
        /* A few garbage cycles whose finalizers allocate, collected by
         * the automatic collections still to come. */
        for (int i = 0; i < 10 && t_alloc_state.failures == 0; i++) {
            rcgc_object *o = t_new(rt, &t_fnode_type, 40 + i);
            if (o == NULL) {
                if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) g.bad++;
                break;
            }
            t_as(o)->on_finalize = h_count_alloc;
            if (t_append(rt, o, o) != 0 &&
                rcgc_runtime_last_error(rt) != RCGC_ENOMEM)
                g.bad++;
            rcgc_decref(rt, o);
        }
        long failures = t_alloc_state.failures;
        no_faults();
        succeeded = failures == 0;
        CHECK(failures <= 1);
        CHECK_EQ(g.bad, 0);
        CHECK_EQ(fin.bad_error, 0);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        rcgc_gc_disable(rt);
        drop_graph(rt, &g);
        rcgc_xdecref(rt, g.keep);
        rcgc_gc_collect(rt, 2);
        rcgc_object *h = fin.holder;
        fin.holder = NULL;
        t_clear(rt, h);
        rcgc_decref(rt, h);
        rcgc_gc_collect(rt, 2);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        CHECK_EQ(t_live_objects(rt), 0);
        int bad_calls = 0;
        for (int i = 0; i < 256; i++) bad_calls += fin.calls[i] > 1;
        CHECK_EQ(bad_calls, 0);
        t_teardown(rt);
        if (t_failures) {
            fprintf(stderr, "  (at N = %d)\n", n);
            return;
        }
    }
    CHECK(succeeded);
    printf("     (%d runs)\n", n - 1);
}

/* ======================================================================== */
/* (b) During a collection                                                  */

#define NFIN 20
#define NLEG 20

/* NFIN self-cycles whose finalizer allocates (2 nodes each, kept in
 * fin.holder) and NLEG legacy self-cycles, all garbage. */
static void make_garbage(rcgc_runtime *rt)
{
    for (int i = 0; i < NFIN; i++) {
        rcgc_object *o = t_new(rt, &t_fnode_type, i);
        REQUIRE(o != NULL);
        t_as(o)->on_finalize = h_count_alloc;
        t_append(rt, o, o);
        rcgc_decref(rt, o);
    }
    for (int i = 0; i < NLEG; i++) {
        rcgc_object *o = t_new(rt, &t_lnode_type, 100 + i);
        REQUIRE(o != NULL);
        t_append(rt, o, o);
        rcgc_decref(rt, o);
    }
}

/* For N = 1, 2, ...: the N-th allocation of a collection fails.  The
 * allocations are the finalizers' (they get NULL / RCGC_ENOMEM and carry
 * on) and the garbage list's growth (the object stays tracked instead, with
 * a note on the debug stream).  The collection still reports every
 * unreachable object (CPython counts before appending), the runtime stays
 * consistent, each finalizer runs once, and after breaking the cycles
 * nothing leaks.  With SAVEALL every unreachable object must go to the
 * garbage list. */
static void fault_in_collection(unsigned debug)
{
    int n, succeeded = 0;
    for (n = 1; n < MAX_N && !succeeded; n++) {
        rcgc_runtime *rt = quiet_runtime(debug);
        REQUIRE(rt != NULL);
        memset(&fin, 0, sizeof fin);
        fin.holder = t_node(rt, 300);
        REQUIRE(fin.holder != NULL);
        make_garbage(rt);
        long start = ftell(scratch);
        fail_nth(n);
        rcgc_ssize found = rcgc_gc_collect(rt, 2);
        long failures = t_alloc_state.failures;
        no_faults();
        succeeded = failures == 0;
        CHECK_EQ(found, NFIN + NLEG);
        CHECK(failures <= 1);
        if (failures) CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
        CHECK_EQ(fin.bad_error, 0);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        for (int i = 0; i < NFIN; i++) CHECK_EQ(fin.calls[i], 1);
        rcgc_ssize expect_garbage =
            (debug & RCGC_DEBUG_SAVEALL) ? NFIN + NLEG : NLEG;
        rcgc_ssize got = rcgc_gc_garbage_size(rt);
        if (succeeded) {
            CHECK_EQ(got, expect_garbage);
            CHECK_EQ(t_as(fin.holder)->n, 2 * NFIN);
            CHECK_EQ(fin.alloc_null, 0);
        } else {
            CHECK(got <= expect_garbage);
            if (got < expect_garbage) { /* the note on the debug stream */
                fflush(scratch);
                long end = ftell(scratch);
                CHECK(end > start);
            }
        }
        /* A second collection finds the uncollectable cycles again (they
         * were appended, or stayed tracked), plus any self-cycle a
         * finalizer allocated but could not keep; now all are listed. */
        rcgc_gc_garbage_clear(rt);
        rcgc_ssize again = rcgc_gc_collect(rt, 2);
        CHECK_EQ(again, expect_garbage + fin.orphans);
        CHECK_EQ(rcgc_gc_garbage_size(rt), debug & RCGC_DEBUG_SAVEALL
                                               ? again
                                               : NLEG);
        rcgc_gc_set_debug(rt, 0);
        break_everything(rt);
        rcgc_object *h = fin.holder;
        fin.holder = NULL;
        t_clear(rt, h);
        rcgc_decref(rt, h);
        rcgc_gc_collect(rt, 2);
        CHECK_EQ(t_live_objects(rt), 0);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        t_teardown(rt);
        if (t_failures) {
            fprintf(stderr, "  (at N = %d, debug %u)\n", n, debug);
            return;
        }
    }
    CHECK(succeeded);
    CHECK(n > 2 * NFIN); /* the finalizers alone allocate 2-4 times each */
    printf("     (%d runs)\n", n - 1);
}

TEST(fault_during_collection_legacy_garbage)
{
    fault_in_collection(0);
}

TEST(fault_during_collection_saveall)
{
    fault_in_collection(RCGC_DEBUG_SAVEALL);
}

/* Every allocation fails from the start of a collection on: finalizers get
 * NULL each time, nothing can be appended to the garbage list; the
 * collection still completes and counts what it found. */
TEST(all_allocations_fail_during_collection)
{
    rcgc_runtime *rt = quiet_runtime(0);
    REQUIRE(rt != NULL);
    memset(&fin, 0, sizeof fin);
    fin.holder = t_node(rt, 300);
    REQUIRE(fin.holder != NULL);
    make_garbage(rt);
    t_alloc_state.fail_after = t_alloc_state.calls;
    CHECK_EQ(rcgc_gc_collect(rt, 2), NFIN + NLEG);
    no_faults();
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK_EQ(fin.alloc_null, 2 * NFIN);
    CHECK_EQ(fin.bad_error, 0);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    CHECK_EQ(t_as(fin.holder)->n, 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(t_live_objects(rt), 1 + NLEG);
    /* Now the list can grow. */
    CHECK_EQ(rcgc_gc_collect(rt, 2), NLEG);
    CHECK_EQ(rcgc_gc_garbage_size(rt), NLEG);
    break_everything(rt);
    rcgc_decref(rt, fin.holder);
    fin.holder = NULL;
    t_teardown(rt);
}

/* Teardown while every allocation fails: finalizers run and get NULL;
 * everything is still freed. */
TEST(all_allocations_fail_during_teardown)
{
    rcgc_runtime *rt = quiet_runtime(0);
    REQUIRE(rt != NULL);
    memset(&fin, 0, sizeof fin);
    make_garbage(rt);
    t_alloc_state.fail_after = t_alloc_state.calls;
    rcgc_teardown_report r;
    int rc = rcgc_runtime_free(rt, &r);
    no_faults();
    CHECK_EQ(rc, RCGC_ELIVE); /* the legacy cycles are uncollectable */
    CHECK_EQ(r.collected, NFIN);
    CHECK_EQ(r.leaked, 0);
    for (int i = 0; i < NFIN; i++) CHECK_EQ(fin.calls[i], 1);
    CHECK_EQ(fin.alloc_null, 2 * NFIN);
    CHECK_EQ(t_alloc_state.live_blocks, 0);
    CHECK_EQ(t_alloc_state.live_bytes, 0);
}

/* ======================================================================== */
/* Runtime creation, immortality                                           */

/* rcgc_runtime_new returns NULL when any of its allocations fails, and
 * gives back what it took. */
TEST(fault_in_runtime_new)
{
    int succeeded = 0;
    for (long n = 1; n < 10 && !succeeded; n++) {
        t_alloc st;
        memset(&st, 0, sizeof st);
        st.fail_at = n;
        rcgc_config cfg;
        rcgc_config_init(&cfg);
        cfg.allocator = t_allocator(&st);
        rcgc_runtime *rt = rcgc_runtime_new(&cfg);
        if (st.failures == 0) {
            succeeded = 1;
            REQUIRE(rt != NULL);
            CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
        } else {
            CHECK(rt == NULL);
        }
        CHECK_EQ(st.live_blocks, 0);
        CHECK_EQ(st.live_bytes, 0);
        t_alloc_release(&st);
    }
    CHECK(succeeded);
}

/* rcgc_object_make_immortal: RCGC_ENOMEM when the runtime cannot record
 * the object, which is then unchanged (refcount, tracking). */
TEST(fault_in_make_immortal)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rt != NULL);
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL);
    rcgc_incref(o);
    fail_nth(1);
    CHECK_EQ(rcgc_object_make_immortal(rt, o), RCGC_ENOMEM);
    no_faults();
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK(!rcgc_object_is_immortal(o));
    CHECK_EQ(rcgc_object_refcount(o), 2);
    CHECK(rcgc_object_is_tracked(o));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(rcgc_object_make_immortal(rt, o), 0);
    CHECK(rcgc_object_is_immortal(o));
    /* Growing the table (8 -> 16) can fail too. */
    rcgc_object *imm[9];
    for (int i = 0; i < 7; i++) {
        imm[i] = t_leaf(rt, i);
        REQUIRE(imm[i] != NULL);
        CHECK_EQ(rcgc_object_make_immortal(rt, imm[i]), 0);
    }
    imm[7] = t_leaf(rt, 7);
    REQUIRE(imm[7] != NULL);
    fail_nth(1);
    CHECK_EQ(rcgc_object_make_immortal(rt, imm[7]), RCGC_ENOMEM);
    no_faults();
    CHECK_EQ(rcgc_object_refcount(imm[7]), 1);
    CHECK_EQ(rcgc_object_make_immortal(rt, imm[7]), 0);
    t_teardown(rt);
}

/* ======================================================================== */
/* (c) fail_after for functions that build arrays or grow a table           */

#define NOBJ 40

struct snapshot {
    rcgc_object *objs[NOBJ + 16];
    intptr_t refcnt[NOBJ + 16];
    int n;
    long blocks;
    size_t bytes;
};

static void snap(struct snapshot *s)
{
    for (int i = 0; i < s->n; i++) s->refcnt[i] = rcgc_object_refcount(s->objs[i]);
    s->blocks = t_alloc_state.live_blocks;
    s->bytes = t_alloc_state.live_bytes;
}

static int snap_same(const struct snapshot *s)
{
    for (int i = 0; i < s->n; i++)
        if (rcgc_object_refcount(s->objs[i]) != s->refcnt[i]) return 0;
    return s->blocks == t_alloc_state.live_blocks &&
           s->bytes == t_alloc_state.live_bytes;
}

enum { F_OBJECTS_ALL, F_OBJECTS_EMPTY_GEN, F_REFERRERS, F_REFERENTS,
       F_GARBAGE, F_NFUNCS };

static const char *const fname[F_NFUNCS] = {
    "get_objects(-1)", "get_objects(empty generation)", "get_referrers",
    "get_referents", "get_garbage"};

/* gc.get_objects / get_referrers / get_referents / gc.garbage copies under
 * memory pressure: for k = 0, 1, ...: every allocation after the k-th
 * fails.  A failing call returns RCGC_ENOMEM with *out NULL, sets the last
 * error, leaks no block and leaves every reference count as it was; the
 * first k that suffices gives the full, correct result. */
TEST(fail_after_introspection)
{
    rcgc_runtime *rt = quiet_runtime(0);
    REQUIRE(rt != NULL);
    struct snapshot s;
    memset(&s, 0, sizeof s);
    /* NOBJ nodes, each referencing target and its successor; target is
     * referenced by all of them; 10 legacy cycles in gc.garbage. */
    rcgc_object *target = t_node(rt, 999);
    REQUIRE(target != NULL);
    s.objs[s.n++] = target;
    for (int i = 0; i < NOBJ; i++) {
        rcgc_object *o = t_node(rt, i);
        REQUIRE(o != NULL);
        t_append(rt, o, target);
        s.objs[s.n++] = o;
    }
    for (int i = 1; i <= NOBJ; i++) t_append(rt, s.objs[i], s.objs[i % NOBJ + 1]);
    for (int i = 0; i < 10; i++) {
        rcgc_object *l = t_new(rt, &t_lnode_type, 100 + i);
        REQUIRE(l != NULL);
        t_append(rt, l, l);
        s.objs[s.n++] = l;
        rcgc_decref(rt, l); /* it stays alive in gc.garbage */
    }
    CHECK_EQ(rcgc_gc_collect(rt, 0), 10);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 10);
    /* Everything is in generation 1 now; generation 0 and 2 are empty. */
    rcgc_ssize expect[F_NFUNCS] = {1 + NOBJ + 10, 0, NOBJ, 2 * NOBJ, 10};

    for (int f = 0; f < F_NFUNCS; f++) {
        int ok = 0, failed = 0;
        for (long k = 0; k < 50 && !ok; k++) {
            rcgc_object **out = (rcgc_object **)&s; /* must become NULL */
            rcgc_ssize r = 0;
            snap(&s);
            t_alloc_state.failures = 0;
            t_alloc_state.fail_after = t_alloc_state.calls + k;
            switch (f) {
            case F_OBJECTS_ALL:
                r = rcgc_gc_get_objects(rt, -1, &out);
                break;
            case F_OBJECTS_EMPTY_GEN:
                r = rcgc_gc_get_objects(rt, 0, &out);
                break;
            case F_REFERRERS:
                r = rcgc_gc_get_referrers(rt, &target, 1, &out);
                break;
            case F_REFERENTS:
                r = rcgc_gc_get_referents(rt, s.objs + 1, NOBJ, &out);
                break;
            case F_GARBAGE:
                r = rcgc_gc_get_garbage(rt, &out);
                break;
            }
            long failures = t_alloc_state.failures;
            no_faults();
            if (r < 0) {
                failed++;
                if (r != RCGC_ENOMEM || out != NULL || failures == 0 ||
                    rcgc_runtime_last_error(rt) != RCGC_ENOMEM || !snap_same(&s))
                    t_fail(__FILE__, __LINE__,
                           "%s with %ld allocations allowed: result %td, out "
                           "%p, %ld failures, last error %d, refcounts/blocks "
                           "%s",
                           fname[f], k, r, (void *)out, failures,
                           rcgc_runtime_last_error(rt),
                           snap_same(&s) ? "unchanged" : "CHANGED");
            } else {
                ok = 1;
                CHECK_EQ(failures, 0);
                CHECK_EQ(r, expect[f]);
                CHECK(out != NULL);
                if (f == F_REFERRERS)
                    for (rcgc_ssize i = 0; i < r; i++)
                        CHECK(t_as(out[i])->id >= 0 && t_as(out[i])->id < NOBJ);
                if (out != NULL) rcgc_objects_free(rt, out, r);
                CHECK(snap_same(&s));
            }
        }
        CHECK(ok);
        CHECK(failed >= 1);
    }
    CHECK_EQ(rcgc_gc_check(rt), 0);

    /* Clean up. */
    rcgc_gc_garbage_clear(rt);
    for (int i = 1; i < s.n; i++) { /* the lnodes hold their only reference */
        rcgc_incref(s.objs[i]);
        t_clear(rt, s.objs[i]);
        rcgc_decref(rt, s.objs[i]);
    }
    for (int i = 0; i <= NOBJ; i++) rcgc_decref(rt, s.objs[i]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* gc.callbacks.append under memory pressure: RCGC_ENOMEM, nothing
 * registered (a collection does not call it), nothing leaked; growing the
 * table past its first capacity can fail as well. */
static int cb_calls;

static int count_callback(rcgc_runtime *rt, rcgc_gc_event event,
                          const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    (void)event;
    (void)info;
    (void)ctx;
    cb_calls++;
    return 0;
}

TEST(fail_after_callback_add)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rt != NULL);
    cb_calls = 0;
    long blocks = t_alloc_state.live_blocks;
    t_alloc_state.fail_after = t_alloc_state.calls;
    CHECK_EQ(rcgc_gc_callback_add(rt, count_callback, NULL), RCGC_ENOMEM);
    no_faults();
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK_EQ(t_alloc_state.live_blocks, blocks);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(cb_calls, 0);
    CHECK_EQ(rcgc_gc_callback_remove(rt, count_callback, NULL),
             RCGC_ENOTFOUND);

    /* Fill the first capacity, then fail the growth. */
    int added = 0;
    for (int i = 0; i < 8; i++)
        added += rcgc_gc_callback_add(rt, count_callback, (void *)(intptr_t)i) == 0;
    CHECK_EQ(added, 8);
    blocks = t_alloc_state.live_blocks;
    size_t bytes = t_alloc_state.live_bytes;
    t_alloc_state.fail_after = t_alloc_state.calls;
    CHECK_EQ(rcgc_gc_callback_add(rt, count_callback, (void *)(intptr_t)8),
             RCGC_ENOMEM);
    no_faults();
    CHECK_EQ(t_alloc_state.live_blocks, blocks);
    CHECK_EQ(t_alloc_state.live_bytes, bytes);
    cb_calls = 0;
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(cb_calls, 16); /* 8 callbacks, start and stop */
    CHECK_EQ(rcgc_gc_callback_remove(rt, count_callback, (void *)(intptr_t)8),
             RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_gc_callback_add(rt, count_callback, (void *)(intptr_t)8), 0);
    cb_calls = 0;
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(cb_calls, 18);
    t_teardown(rt);
}

TEST(close_scratch_stream)
{
    if (scratch != NULL) fclose(scratch);
    scratch = NULL;
}

TEST_MAIN(T(fault_while_building_graph), T(fault_while_building_graph_pool),
          T(fault_while_building_graph_gc_enabled),
          T(fault_during_collection_legacy_garbage),
          T(fault_during_collection_saveall),
          T(all_allocations_fail_during_collection),
          T(all_allocations_fail_during_teardown), T(fault_in_runtime_new),
          T(fault_in_make_immortal), T(fail_after_introspection),
          T(fail_after_callback_add), T(close_scratch_stream))

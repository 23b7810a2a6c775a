/*
 * test_weak_faults.c - weak reference callbacks, finalize objects and PEP
 * 442 finalizers that drop other weakly referenced objects, while
 * allocations fail.  A workload builds NT weakly referenceable targets
 * (some with a PEP 442 finalizer, some in self-cycles so they die only in
 * a collection), a weak reference with a callback on each, finalize
 * objects on half of them, and a weak set, a weak-value map and a weak-key
 * map holding them; then it drops two of the program's references.  Every
 * callback, finalize function and finalizer drops another target the
 * program holds (a cascade of deaths, by refcount and in collections) and
 * allocates: a new weak reference with a callback, a weak-value map entry.
 *
 * For N = 1, 2, ... the N-th allocation of the workload fails, until a run
 * needs fewer than N; then every allocation after the N-th fails, for every
 * N.  On the plain allocator (every block through the test allocator), on
 * the default pool allocator (the test allocator as its raw domain; arenas
 * that never fail, or that always fail so every block falls back to raw),
 * and on the plain allocator with automatic collection at a low threshold
 * (collections inside the callbacks' allocations).  Each run: every failed
 * call says RCGC_ENOMEM; rcgc_check holds after the cascade and after the
 * clean-up; each callback, finalize function and finalizer runs at most
 * once, and exactly once for every target that dies while nothing fails;
 * the containers hold exactly their live entries; after the program drops
 * everything, nothing is left (teardown: zero objects, zero bytes).
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdint.h>
#include <sys/mman.h>

#include "rcgc_mem.h"
#include "test.h"

#define MAX_N 100000 /* safety net for the N loops */
#define NT 16        /* targets */
#define NEXTRA 64    /* weak references made inside callbacks */

static void fail_nth(long n)
{
    t_alloc_state.fail_at = t_alloc_state.calls + n;
    t_alloc_state.fail_after = 0;
    t_alloc_state.failures = 0;
}

static void fail_after(long n)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = t_alloc_state.calls + n;
    t_alloc_state.failures = 0;
}

static void no_faults(void)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = 0;
}

/* ---- runtimes ---- */

static FILE *scratch; /* the runtimes' messages (out-of-memory notes) */

static struct {
    long calls, fail_from, live;
} arenas;

static void *arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (arenas.fail_from > 0 && ++arenas.calls >= arenas.fail_from) return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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

enum setting { PLAIN, POOL, POOL_NO_ARENAS, PLAIN_GC, NSETTINGS };
static const char *const setting_name[NSETTINGS] = {
    "plain allocator", "pool allocator", "pool allocator, every arena failing",
    "plain allocator, automatic collection"};

static rcgc_runtime *make_runtime(enum setting s)
{
    if (scratch == NULL) scratch = tmpfile();
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = s == PLAIN_GC;
    cfg.threshold[0] = 5;
    cfg.debug_stream = scratch;
    if (s == PLAIN || s == PLAIN_GC) return t_runtime_cfg(&cfg);
    /* the default heap: the pool allocator serves OBJ and MEM, the test
     * allocator is RAW (the pool's state, big blocks, arena fallbacks) */
    t_alloc_release(&t_alloc_state);
    memset(&t_alloc_state, 0, sizeof t_alloc_state);
    cfg.heap.raw = t_allocator(&t_alloc_state);
    rcgc_arena_allocator a = {NULL, arena_alloc, arena_free, NULL};
    cfg.heap.pymalloc.arena = a;
    memset(&arenas, 0, sizeof arenas);
    arenas.fail_from = s == POOL_NO_ARENAS ? 1 : 0;
    return rcgc_runtime_new(&cfg);
}

/* ---- the workload ---- */

static struct {
    rcgc_runtime *rt;
    rcgc_object *held[NT];   /* the program's references to the targets */
    rcgc_object *wrs[NT];    /* a weak reference with a callback on each */
    rcgc_object *fins[NT];   /* finalize objects (even targets) */
    rcgc_object *extra[NEXTRA]; /* weak references made by callbacks */
    int nextra;
    rcgc_object *wset, *wvmap, *wkmap;
    int in_set[NT], in_kmap[NT];
    int cb_calls[NT], fin_calls[NT], del_calls[NT], extra_calls;
    int failed;              /* a call failed */
    int bad;                 /* ... with another code than RCGC_ENOMEM */
    int depth;               /* inside a callback or finalizer */
    int cb_failed;           /* calls that failed there */
} W;

static long cb_failed_total; /* over a loop's runs */

static void note(int rc)
{
    if (rc == 0) return;
    W.failed = 1;
    W.cb_failed += W.depth > 0;
    if (rc != RCGC_ENOMEM) {
        W.bad++;
        fprintf(stderr, "  a call failed with %d\n", rc);
    }
}

static void note_null(const void *p)
{
    if (p == NULL) note(rcgc_runtime_last_error(W.rt));
}

static void drop(int j)
{
    rcgc_object *o = W.held[j];
    W.held[j] = NULL;
    rcgc_xdecref(W.rt, o);
}

static int cb_extra(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    W.extra_calls++;
    return 0;
}

/* Allocations a callback makes: a weak reference with a callback to
 * another target, a weak-value map entry for it. */
static void callback_allocates(int i)
{
    rcgc_object *t = W.held[(i + 1) % NT];
    if (t == NULL) return;
    if (W.nextra < NEXTRA) {
        rcgc_object *wr = rcgc_weakref_new(W.rt, t, cb_extra, NULL);
        note_null(wr);
        if (wr != NULL) W.extra[W.nextra++] = wr;
    }
    if (W.wvmap != NULL) {
        char key[16];
        snprintf(key, sizeof key, "cb%d", i);
        note(rcgc_wvmap_set(W.rt, W.wvmap, key, strlen(key), t));
    }
}

/* A target's weak reference callback: drops another target. */
static int cb_drop(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)arg;
    int i = -1;
    for (int k = 0; k < NT; k++)
        if (W.wrs[k] == wr) i = k;
    if (i < 0) {
        W.bad++;
        return 0;
    }
    W.cb_calls[i]++;
    W.depth++;
    if (rcgc_weakref_get(W.rt, wr) != NULL) W.bad++; /* dead inside */
    drop((5 * i + 3) % NT);
    callback_allocates(i);
    W.depth--;
    return 0;
}

/* A finalize object's function: drops another target. */
static int fin_drop(rcgc_runtime *rt, rcgc_object *arg, void *ctx)
{
    (void)rt;
    (void)arg;
    int i = (int)(intptr_t)ctx;
    W.fin_calls[i]++;
    W.depth++;
    drop((i + 11) % NT);
    W.depth--;
    return 0;
}

/* A target's PEP 442 finalizer: drops another target. */
static int del_drop(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    int i = t_as(self)->id;
    if (i >= 0 && i < NT) W.del_calls[i]++;
    W.depth++;
    drop((i + 7) % NT);
    callback_allocates(i);
    W.depth--;
    return 0;
}

static void build(void)
{
    rcgc_runtime *rt = W.rt;
    for (int i = 0; i < NT; i++) {
        const rcgc_type *type = i % 3 == 0 ? &t_wfnode_type : &t_wnode_type;
        rcgc_object *o = t_new(rt, type, i);
        note_null(o);
        W.held[i] = o;
        if (o == NULL) continue;
        if (type == &t_wfnode_type) t_as(o)->on_finalize = del_drop;
        if (i % 4 == 1) note(t_append(rt, o, o)); /* dies in a collection */
    }
    W.wset = rcgc_wset_new(rt);
    note_null(W.wset);
    W.wvmap = rcgc_wvmap_new(rt);
    note_null(W.wvmap);
    W.wkmap = rcgc_wkmap_new(rt);
    note_null(W.wkmap);
    for (int i = 0; i < NT; i++) {
        rcgc_object *o = W.held[i];
        if (o == NULL) continue;
        W.wrs[i] = rcgc_weakref_new(rt, o, cb_drop, NULL);
        note_null(W.wrs[i]);
        if (i % 2 == 0) {
            W.fins[i] = rcgc_finalize_new(rt, o, fin_drop, NULL, (void *)(intptr_t)i);
            note_null(W.fins[i]);
        }
        if (W.wset != NULL) {
            int rc = rcgc_wset_add(rt, W.wset, o);
            note(rc);
            W.in_set[i] = rc == 0;
        }
        if (W.wvmap != NULL) {
            char key[16];
            snprintf(key, sizeof key, "t%d", i);
            note(rcgc_wvmap_set(rt, W.wvmap, key, strlen(key), o));
        }
        if (W.wkmap != NULL) {
            /* an ephemeron for every fifth: the value refers to its key */
            rcgc_object *v = t_new(rt, &t_node_type, 100 + i);
            note_null(v);
            if (v != NULL && i % 5 == 0) note(t_append(rt, v, o));
            if (v != NULL) {
                int rc = rcgc_wkmap_set(rt, W.wkmap, o, v);
                note(rc);
                W.in_kmap[i] = rc == 0;
                rcgc_decref(rt, v);
            }
        }
    }
}

static int target_alive(int i)
{
    if (W.wrs[i] == NULL) return -1; /* unknown */
    rcgc_object *o = rcgc_weakref_get(W.rt, W.wrs[i]);
    rcgc_xdecref(W.rt, o);
    return o != NULL;
}

/* Each container holds exactly its live entries. */
static void check_containers(void)
{
    rcgc_runtime *rt = W.rt;
    if (W.wset != NULL) {
        int seen[NT] = {0};
        rcgc_ssize n = 0;
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, W.wset, &it), 0);
        while (rcgc_witer_next(&it) == 1) {
            n++;
            int id = t_as(it.key_obj)->id;
            if (id >= 0 && id < NT) seen[id]++;
        }
        rcgc_witer_end(&it);
        CHECK_EQ(rcgc_weak_len(rt, W.wset), n);
        for (int i = 0; i < NT; i++) {
            int alive = target_alive(i);
            if (alive >= 0) CHECK_EQ(seen[i], alive && W.in_set[i]);
        }
    }
    if (W.wkmap != NULL) {
        int seen[NT] = {0};
        rcgc_ssize n = 0;
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, W.wkmap, &it), 0);
        while (rcgc_witer_next(&it) == 1) {
            n++;
            int id = t_as(it.key_obj)->id;
            if (id >= 0 && id < NT) seen[id]++;
            CHECK(it.value != NULL && t_as(it.value)->id == 100 + id);
        }
        rcgc_witer_end(&it);
        CHECK_EQ(rcgc_weak_len(rt, W.wkmap), n);
        for (int i = 0; i < NT; i++) {
            int alive = target_alive(i);
            if (alive >= 0) CHECK_EQ(seen[i], alive && W.in_kmap[i]);
        }
    }
    if (W.wvmap != NULL) {
        rcgc_ssize n = 0;
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, W.wvmap, &it), 0);
        while (rcgc_witer_next(&it) == 1) {
            n++;
            CHECK(it.value != NULL);
        }
        rcgc_witer_end(&it);
        CHECK_EQ(rcgc_weak_len(rt, W.wvmap), n);
    }
}

/* One run: the workload with the faults set by arm(n), then the checks and
 * the clean-up.  Returns the number of faults that hit. */
static long run(enum setting s, void (*arm)(long), long n, int *clean_run)
{
    memset(&W, 0, sizeof W);
    W.rt = make_runtime(s);
    if (W.rt == NULL) {
        t_fail(__FILE__, __LINE__, "runtime");
        return 0;
    }
    rcgc_runtime *rt = W.rt;
    arm(n);
    build();
    drop(0);
    drop(4);
    rcgc_gc_collect(rt, 2);
    drop(10);
    cb_failed_total += W.cb_failed;
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);
    /* automatic collections ran (besides the one collect above) */
    if (s == PLAIN_GC && t_alloc_state.failures == 0)
        CHECK(gs[0].collections + gs[1].collections + gs[2].collections > 1);
    long failures = t_alloc_state.failures;
    no_faults();
    arenas.fail_from = 0;
    *clean_run = failures == 0;
    CHECK_EQ(W.bad, 0);
    if (W.failed && failures == 0) t_fail(__FILE__, __LINE__, "a call failed without a fault");
    CHECK_EQ(rcgc_check(rt), 0);
    for (int i = 0; i < NT; i++) {
        CHECK(W.cb_calls[i] <= 1 && W.fin_calls[i] <= 1 && W.del_calls[i] <= 1);
        /* without faults: each target that died had its callback */
        if (failures == 0 && target_alive(i) == 0) CHECK_EQ(W.cb_calls[i], 1);
    }
    check_containers();
    /* the cascade without faults reaches targets beyond the two dropped */
    if (failures == 0) {
        int dead = 0;
        for (int i = 0; i < NT; i++) dead += target_alive(i) == 0;
        CHECK(dead > 3);
    }
    /* clean-up, without faults: every target dies now, with its callback
     * (those that died during the faults had theirs at most once) */
    int died_before[NT];
    for (int i = 0; i < NT; i++) died_before[i] = target_alive(i) == 0;
    for (int i = 0; i < NT; i++) drop(i);
    rcgc_gc_collect(rt, 2);
    for (int i = 0; i < NT; i++) {
        CHECK(W.held[i] == NULL);
        if (W.wrs[i] == NULL) continue;
        CHECK_EQ(target_alive(i), 0);
        if (!died_before[i]) CHECK_EQ(W.cb_calls[i], 1);
        CHECK(W.cb_calls[i] <= 1 && W.fin_calls[i] <= 1 && W.del_calls[i] <= 1);
        if (W.fins[i] != NULL && !died_before[i]) CHECK_EQ(W.fin_calls[i], 1);
        if (i % 3 == 0 && !died_before[i]) CHECK_EQ(W.del_calls[i], 1);
    }
    if (W.wset != NULL) CHECK_EQ(rcgc_weak_len(rt, W.wset), 0);
    if (W.wkmap != NULL) CHECK_EQ(rcgc_weak_len(rt, W.wkmap), 0);
    if (W.wvmap != NULL) CHECK_EQ(rcgc_weak_len(rt, W.wvmap), 0);
    CHECK_EQ(rcgc_check(rt), 0);
    for (int i = 0; i < NT; i++) {
        rcgc_xdecref(rt, W.wrs[i]);
        rcgc_xdecref(rt, W.fins[i]);
    }
    for (int k = 0; k < W.nextra; k++) rcgc_decref(rt, W.extra[k]);
    rcgc_xdecref(rt, W.wset);
    rcgc_xdecref(rt, W.wvmap);
    rcgc_xdecref(rt, W.wkmap);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
    if (s == POOL || s == POOL_NO_ARENAS) CHECK_EQ(arenas.live, 0);
    return failures;
}

static void loops(enum setting s)
{
    long n;
    int clean = 0;
    long failed_runs = 0;
    cb_failed_total = 0;
    for (n = 1; n < MAX_N && !clean; n++) {
        run(s, fail_nth, n, &clean);
        failed_runs += W.failed;
        if (t_failures) {
            fprintf(stderr, "  (%s, allocation %ld failing)\n", setting_name[s], n);
            return;
        }
    }
    CHECK(clean);
    if (s != POOL) CHECK(n > 20); /* the pool serves objects from arenas */
    long runs = n - 1;
    for (long k = 0; k < runs; k++) {
        run(s, fail_after, k, &clean);
        if (t_failures) {
            fprintf(stderr, "  (%s, every allocation after %ld failing)\n",
                    setting_name[s], k);
            return;
        }
    }
    printf("     (%s: %ld runs with the N-th allocation failing, %ld of them with a "
           "failed call; %ld with every allocation after the N-th failing; %ld "
           "calls failed inside callbacks and finalizers)\n",
           setting_name[s], runs, failed_runs, runs, cb_failed_total);
    if (s != POOL) CHECK(cb_failed_total > 10);
}

TEST(weak_cascade_faults_plain)
{
    loops(PLAIN);
}

TEST(weak_cascade_faults_pool)
{
    loops(POOL);
}

TEST(weak_cascade_faults_pool_no_arenas)
{
    loops(POOL_NO_ARENAS);
}

TEST(weak_cascade_faults_gc_enabled)
{
    loops(PLAIN_GC);
}

TEST(close_scratch_stream)
{
    if (scratch != NULL) fclose(scratch);
    scratch = NULL;
}

TEST_MAIN(T(weak_cascade_faults_plain), T(weak_cascade_faults_pool),
          T(weak_cascade_faults_pool_no_arenas), T(weak_cascade_faults_gc_enabled),
          T(close_scratch_stream))

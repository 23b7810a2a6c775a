/*
 * test_trace.c - the allocation tracer (src/trace/tracer.c): start/stop and the
 * frame limit, traced memory and its peak, object and block tracebacks from
 * each frame source (call site, C stack, an interpreter's frame provider),
 * track/untrack, clear, sampling estimates, the debug layer's reports,
 * wrappers installed over the tracer's, and failures of the tracer's own
 * allocations.  CPython's test_tracemalloc is the model where it applies.
 */
#include <math.h>

#include "test.h"

#if defined(__GNUC__)
#define RCGC__TEST_NOINLINE __attribute__((noinline))
#else
#define RCGC__TEST_NOINLINE
#endif

/* ---- helpers ---- */

/* RCGC_DEBUG >= 2 keeps freed objects in a quarantine a while: their
 * blocks (and traces) go later, so exact object accounting is release
 * and RCGC_DEBUG=1 only. */
#define OBJECTS_FREED_AT_ONCE (RCGC_DEBUG < 2)

static rcgc_runtime *traced(int nframes, rcgc_frame_source source)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.nframes = nframes;
    cfg.source = source;
    if (rcgc_trace_start(rt, &cfg) != 0) t_fail(__FILE__, __LINE__, "start");
    return rt;
}

static size_t current(rcgc_runtime *rt)
{
    size_t c, p;
    rcgc_trace_get_memory(rt, &c, &p);
    return c;
}

static size_t peak(rcgc_runtime *rt)
{
    size_t c, p;
    rcgc_trace_get_memory(rt, &c, &p);
    return p;
}

/* ---- start, stop, limit ---- */

TEST(start_stop_and_limit)
{
    rcgc_runtime *rt = t_runtime();
    CHECK(!rcgc_trace_is_tracing(rt));
    CHECK_EQ(rcgc_trace_get_limit(rt), 1);
    CHECK_EQ(current(rt), 0);
    CHECK_EQ(rcgc_trace_overhead(rt), 0);

    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    CHECK_EQ(cfg.nframes, 1);
    CHECK_EQ(cfg.source, RCGC_FRAMES_CALLSITE);
    CHECK_EQ(cfg.sample_bytes, 0);
    cfg.nframes = 0;
    CHECK_EQ(rcgc_trace_start(rt, &cfg), RCGC_EINVAL);
    cfg.nframes = 65536;
    CHECK_EQ(rcgc_trace_start(rt, &cfg), RCGC_EINVAL);
    cfg.nframes = 3;
    cfg.source = RCGC_FRAMES_PROVIDER; /* without a provider */
    CHECK_EQ(rcgc_trace_start(rt, &cfg), RCGC_EINVAL);
    cfg.source = (rcgc_frame_source)7;
    CHECK_EQ(rcgc_trace_start(rt, &cfg), RCGC_EINVAL);
    CHECK(!rcgc_trace_is_tracing(rt));

    cfg.source = RCGC_FRAMES_CALLSITE;
    cfg.nframes = 65535; /* the largest */
    CHECK_EQ(rcgc_trace_start(rt, &cfg), 0);
    CHECK(rcgc_trace_is_tracing(rt));
    CHECK_EQ(rcgc_trace_get_limit(rt), 65535);
    CHECK(rcgc_trace_overhead(rt) > 0);
    rcgc_trace_stop(rt);

    cfg.nframes = 5;
    CHECK_EQ(rcgc_trace_start(rt, &cfg), 0);
    CHECK_EQ(rcgc_trace_get_limit(rt), 5);
    /* Starting again keeps the first limit (test_set_traceback_limit). */
    cfg.nframes = 10;
    CHECK_EQ(rcgc_trace_start(rt, &cfg), 0);
    CHECK_EQ(rcgc_trace_get_limit(rt), 5);
    CHECK_EQ(rcgc_trace_start(rt, NULL), 0);
    CHECK_EQ(rcgc_trace_get_limit(rt), 5);
    rcgc_trace_stop(rt);
    CHECK(!rcgc_trace_is_tracing(rt));
    CHECK_EQ(rcgc_trace_get_limit(rt), 5); /* the last start's, as CPython */
    rcgc_trace_stop(rt);                   /* stopping twice is harmless */
    CHECK_EQ(rcgc_trace_start(rt, NULL), 0);
    CHECK_EQ(rcgc_trace_get_limit(rt), 1);
    t_teardown(rt); /* teardown stops the tracer and frees its memory */
}

/* ---- traced memory ---- */

TEST(memory_current_peak_reset)
{
    rcgc_runtime *rt = traced(1, RCGC_FRAMES_CALLSITE);
    CHECK_EQ(current(rt), 0);
    CHECK_EQ(peak(rt), 0);
    void *a = RCGC_MALLOC(rt, 1000);
    void *b = RCGC_MALLOC(rt, 24);
    REQUIRE(a != NULL && b != NULL);
    CHECK_EQ(current(rt), 1024);
    CHECK_EQ(peak(rt), 1024);
    rcgc_mem_free(rt, a);
    CHECK_EQ(current(rt), 24);
    CHECK_EQ(peak(rt), 1024);
    rcgc_trace_reset_peak(rt); /* test_reset_peak */
    CHECK_EQ(peak(rt), 24);
    void *c = RCGC_CALLOC(rt, 10, 10);
    CHECK_EQ(current(rt), 124);
    CHECK_EQ(peak(rt), 124);
    /* realloc: the new size, wherever the block went */
    c = RCGC_REALLOC(rt, c, 5000);
    REQUIRE(c != NULL);
    CHECK_EQ(current(rt), 5024);
    c = RCGC_REALLOC(rt, c, 10);
    CHECK_EQ(current(rt), 34);
    CHECK_EQ(peak(rt), 5024);
    rcgc_mem_free(rt, b);
    rcgc_mem_free(rt, c);
    CHECK_EQ(current(rt), 0);
    /* Memory allocated before the start is not traced; freeing it changes
     * nothing (test_untracked_memory). */
    rcgc_trace_stop(rt);
    void *old = rcgc_mem_malloc(rt, 300);
    CHECK_EQ(rcgc_trace_start(rt, NULL), 0);
    CHECK_EQ(current(rt), 0);
    rcgc_mem_free(rt, old);
    CHECK_EQ(current(rt), 0);
    rcgc_trace_stop(rt);
    size_t cur = 1, pk = 1;
    rcgc_trace_get_memory(rt, &cur, &pk);
    CHECK_EQ(cur, 0);
    CHECK_EQ(pk, 0);
    rcgc_trace_reset_peak(rt); /* nothing when not tracing */
    t_teardown(rt);
}

/* ---- tracebacks from the call site ---- */

TEST(object_traceback_callsite)
{
    rcgc_runtime *rt = traced(1, RCGC_FRAMES_CALLSITE);
    size_t before = current(rt);
    int line = __LINE__ + 1;
    rcgc_object *o = RCGC_NEW(rt, &t_leaf_type);
    REQUIRE(o != NULL);
    size_t osize = current(rt) - before;
    CHECK(osize >= t_leaf_type.size && osize <= t_leaf_type.size + 64);
    rcgc_frame f[4];
    CHECK_EQ(rcgc_trace_object_traceback(rt, o, f, 4), 1);
    CHECK_STR(f[0].filename, __FILE__);
    CHECK_EQ(f[0].lineno, line);
    CHECK_STR(f[0].function, "object_traceback_callsite");
    CHECK(f[0].module == NULL);
    CHECK_EQ(rcgc_trace_object_traceback(rt, o, f, 0), 0);

    /* A sized object with its own site; a GC container too. */
    int line2 = __LINE__ + 1;
    rcgc_object *s = RCGC_NEW_SIZED(rt, &t_leaf_type, t_leaf_type.size + 100);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_trace_object_traceback(rt, s, f, 4), 1);
    CHECK_EQ(f[0].lineno, line2);
    CHECK_EQ(current(rt) - before, 2 * osize + 100);

    /* Without a site: the one "<unknown>" frame. */
    rcgc_object *u = t_node(rt, 1);
    CHECK_EQ(rcgc_trace_object_traceback(rt, u, f, 4), 1);
    CHECK_STR(f[0].filename, "<unknown>");
    CHECK_EQ(f[0].lineno, 0);
    CHECK(f[0].function == NULL);

    /* The site does not leak into later calls. */
    void *m = rcgc_mem_malloc(rt, 8);
    CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, m, f, 4), 1);
    CHECK_STR(f[0].filename, "<unknown>");
    CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_OBJ, m, f, 4), 0);
    rcgc_mem_free(rt, m);
    CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, m, f, 4), 0);

    rcgc_decref(rt, o);
    rcgc_decref(rt, s);
    rcgc_decref(rt, u);
    if (OBJECTS_FREED_AT_ONCE) CHECK_EQ(current(rt), before);
    /* Not tracing: no traceback (get_object_traceback returns None). */
    rcgc_object *late = RCGC_NEW(rt, &t_leaf_type);
    rcgc_trace_stop(rt);
    CHECK_EQ(rcgc_trace_object_traceback(rt, late, f, 4), 0);
    rcgc_decref(rt, late);
    t_teardown(rt);
}

/* Objects the collector frees lose their traces. */
TEST(collected_cycle_untraced)
{
    rcgc_runtime *rt = traced(1, RCGC_FRAMES_CALLSITE);
    rcgc_object *a = RCGC_NEW(rt, &t_node_type);
    rcgc_object *b = RCGC_NEW(rt, &t_node_type);
    REQUIRE(a != NULL && b != NULL);
    rcgc_object_track(rt, a);
    rcgc_object_track(rt, b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK(current(rt) > 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    if (OBJECTS_FREED_AT_ONCE) CHECK_EQ(current(rt), 0);
    t_teardown(rt);
}

/* ---- the frame provider (an interpreter's own stack) ---- */

typedef struct script {
    rcgc_frame frames[8]; /* most recent first */
    int depth;
    int calls;
} script;

static int script_frames(void *ctx, rcgc_frame *out, int max, int *total)
{
    script *s = ctx;
    s->calls++;
    int n = s->depth < max ? s->depth : max;
    for (int i = 0; i < n; i++) out[i] = s->frames[i];
    *total = s->depth;
    return n;
}

TEST(provider_frames_and_limit)
{
    script sc = {.frames = {{"bus.lua", 12, "register", NULL, 0},
                            {"app.lua", 40, "on_request", NULL, 0},
                            {"main.lua", 3, "main", NULL, 0}},
                 .depth = 3};
    rcgc_runtime *rt = t_runtime();
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.source = RCGC_FRAMES_PROVIDER;
    cfg.provider = script_frames;
    cfg.provider_ctx = &sc;
    cfg.nframes = 2;
    REQUIRE(rcgc_trace_start(rt, &cfg) == 0);
    rcgc_object *o = t_leaf(rt, 1);
    rcgc_frame f[4];
    CHECK_EQ(rcgc_trace_object_traceback(rt, o, f, 4), 2); /* the limit */
    CHECK_STR(f[0].filename, "bus.lua");
    CHECK_EQ(f[0].lineno, 12);
    CHECK_STR(f[0].function, "register");
    CHECK_STR(f[1].filename, "app.lua");
    CHECK_EQ(rcgc_trace_object_traceback(rt, o, f, 1), 1);
    CHECK(sc.calls >= 1);

    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_traceback_limit(s), 2);
    REQUIRE(rcgc_snapshot_count(s) == 1);
    const rcgc_trace *t = rcgc_snapshot_trace(s, 0);
    CHECK_EQ(t->traceback->nframe, 2);
    CHECK_EQ(t->traceback->total_nframe, 3); /* the stack's full depth */
    CHECK(rcgc_snapshot_trace(s, 1) == NULL);
    CHECK(rcgc_snapshot_trace(s, -1) == NULL);
    rcgc_snapshot_free(s);

    /* An empty stack (the interpreter is not running): "<unknown>". */
    sc.depth = 0;
    rcgc_object *p = t_leaf(rt, 2);
    CHECK_EQ(rcgc_trace_object_traceback(rt, p, f, 4), 1);
    CHECK_STR(f[0].filename, "<unknown>");
    rcgc_decref(rt, o);
    rcgc_decref(rt, p);
    t_teardown(rt);
}

/* ---- the C stack ---- */

static volatile int sink;

/* Not static: dladdr names only the functions in the dynamic symbol table
 * (rcgc_snapshot_symbolize reads the debug information for the others). */
rcgc_object *alloc_leaf(rcgc_runtime *rt);
rcgc_object *alloc_mid(rcgc_runtime *rt);
void *alloc_buf(rcgc_runtime *rt);

static const int leaf_line = __LINE__ + 3; /* the allocation's line */
RCGC__TEST_NOINLINE rcgc_object *alloc_leaf(rcgc_runtime *rt)
{
    rcgc_object *o = rcgc_object_new(rt, &t_leaf_type);
    sink++; /* no tail call: this frame stays on the stack */
    return o;
}

RCGC__TEST_NOINLINE rcgc_object *alloc_mid(rcgc_runtime *rt)
{
    rcgc_object *o = alloc_leaf(rt);
    sink++;
    return o;
}

RCGC__TEST_NOINLINE void *alloc_buf(rcgc_runtime *rt)
{
    void *p = rcgc_mem_malloc(rt, 10);
    sink++;
    return p;
}

TEST(cstack_frames)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.source = RCGC_FRAMES_CSTACK;
    cfg.nframes = 2;
    int rc = rcgc_trace_start(rt, &cfg);
    if (rc == RCGC_EINVAL) { /* no unwinder on this platform */
        t_teardown(rt);
        return;
    }
    REQUIRE(rc == 0);
    CHECK_EQ(current(rt), 0); /* calibration left no trace */
    rcgc_object *o = alloc_mid(rt);
    REQUIRE(o != NULL);
    rcgc_frame f[4];
    CHECK_EQ(rcgc_trace_object_traceback(rt, o, f, 4), 2);
    /* The first frame is the program's, not rcgc's: symbols are exported
     * from this executable (ENABLE_EXPORTS), so dladdr names them. */
    REQUIRE(f[0].module != NULL);
    CHECK(f[0].offset != 0);
    REQUIRE(f[0].function != NULL);
    CHECK_STR(f[0].function, "alloc_leaf");
    REQUIRE(f[1].function != NULL);
    CHECK_STR(f[1].function, "alloc_mid");
    CHECK_STR(f[0].filename, "<unknown>"); /* file:line come later */
    CHECK_EQ(f[0].lineno, 0);

    /* Two allocations from the same stack share one interned traceback. */
    rcgc_object *o2 = alloc_mid(rt);
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL && rcgc_snapshot_count(s) == 2);
    CHECK(rcgc_snapshot_trace(s, 0)->traceback == rcgc_snapshot_trace(s, 1)->traceback);
    CHECK(rcgc_snapshot_trace(s, 0)->traceback->total_nframe > 2);
    /* Symbolized from the debug information (-g): this file, the line of
     * the allocation in alloc_leaf. */
    char err[256];
    rcgc_ssize resolved = rcgc_snapshot_symbolize(s, err, sizeof err);
    if (resolved == RCGC_EFAILED) {
        fprintf(stderr, "  (skipped symbolization: %s)\n", err);
    } else {
        CHECK(resolved >= 2);
        const rcgc_frame *sf = rcgc_snapshot_trace(s, 0)->traceback->frames;
        CHECK(strstr(sf[0].filename, "test_trace.c") != NULL);
        CHECK_EQ(sf[0].lineno, leaf_line);
        CHECK_STR(sf[0].function, "alloc_leaf");
        CHECK_STR(sf[1].function, "alloc_mid");
        CHECK(sf[0].module != NULL); /* kept */
        CHECK_EQ(rcgc_snapshot_symbolize(s, err, sizeof err), 0); /* done */
    }
    CHECK_EQ(rcgc_snapshot_symbolize(NULL, err, sizeof err), RCGC_EINVAL);
    rcgc_snapshot_free(s);
    rcgc_decref(rt, o);
    rcgc_decref(rt, o2);
    /* A buffer from the MEM domain is skipped to the program's frame too. */
    void *m = alloc_buf(rt);
    CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, m, f, 1), 1);
    REQUIRE(f[0].function != NULL);
    CHECK_STR(f[0].function, "alloc_buf");
    rcgc_mem_free(rt, m);
    t_teardown(rt);
}

/* ---- track / untrack (PyTraceMalloc_Track) ---- */

TEST(track_untrack)
{
    rcgc_runtime *rt = t_runtime();
    char buf[64];
    CHECK_EQ(rcgc_trace_track(rt, 5, buf, 64), RCGC_ENOTTRACING);
    CHECK_EQ(rcgc_trace_untrack(rt, 5, buf), RCGC_ENOTTRACING);
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    CHECK_EQ(rcgc_trace_track(rt, 65536, buf, 64), RCGC_EINVAL);
    CHECK_EQ(rcgc_trace_untrack(rt, 65536, buf), RCGC_EINVAL);
    CHECK_EQ(rcgc_trace_track(rt, 5, NULL, 64), RCGC_EINVAL);
    CHECK_EQ(rcgc_trace_track(rt, 5, buf, 64), 0);
    CHECK_EQ(current(rt), 64);
    /* the same pointer in another domain is another trace */
    CHECK_EQ(rcgc_trace_track(rt, 65535, buf, 10), 0);
    CHECK_EQ(current(rt), 74);
    /* tracking again replaces the size */
    CHECK_EQ(rcgc_trace_track(rt, 5, buf, 32), 0);
    CHECK_EQ(current(rt), 42);
    rcgc_frame f[2];
    CHECK_EQ(rcgc_trace_block_traceback(rt, 5, buf, f, 2), 1);
    CHECK_EQ(rcgc_trace_block_traceback(rt, 6, buf, f, 2), 0);
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_count(s), 2);
    rcgc_snapshot_free(s);
    CHECK_EQ(rcgc_trace_untrack(rt, 5, buf), 0);
    CHECK_EQ(rcgc_trace_untrack(rt, 5, buf), 0); /* absent: fine */
    CHECK_EQ(rcgc_trace_untrack(rt, 65535, buf), 0);
    CHECK_EQ(current(rt), 0);
    t_teardown(rt);
}

/* ---- clear_traces ---- */

TEST(clear_keeps_tracing)
{
    rcgc_runtime *rt = traced(1, RCGC_FRAMES_CALLSITE);
    rcgc_object *o = RCGC_NEW(rt, &t_leaf_type);
    size_t used = rcgc_trace_overhead(rt);
    CHECK(current(rt) > 0);
    rcgc_trace_clear(rt);
    CHECK(rcgc_trace_is_tracing(rt));
    CHECK_EQ(current(rt), 0);
    CHECK_EQ(peak(rt), 0);
    CHECK(rcgc_trace_overhead(rt) <= used);
    rcgc_frame f[1];
    CHECK_EQ(rcgc_trace_object_traceback(rt, o, f, 1), 0);
    rcgc_decref(rt, o); /* freeing a block traced before the clear */
    CHECK_EQ(current(rt), 0);
    rcgc_object *p = RCGC_NEW(rt, &t_leaf_type);
    CHECK_EQ(rcgc_trace_object_traceback(rt, p, f, 1), 1);
    rcgc_decref(rt, p);
    t_teardown(rt);
}

/* ---- snapshots of the tracer ---- */

TEST(snapshot_take)
{
    rcgc_runtime *rt = t_runtime();
    CHECK(rcgc_snapshot_take(rt) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOTTRACING);
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    rcgc_snapshot *empty = rcgc_snapshot_take(rt);
    REQUIRE(empty != NULL);
    CHECK_EQ(rcgc_snapshot_count(empty), 0);
    CHECK_EQ(rcgc_snapshot_sample_bytes(empty), 0);
    rcgc_object *objs[100];
    for (int i = 0; i < 100; i++) objs[i] = RCGC_NEW(rt, &t_leaf_type);
    void *buf = RCGC_MALLOC(rt, 777);
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_count(s), 101);
    size_t total = 0;
    int mem = 0;
    const rcgc_traceback *loop_tb = NULL;
    for (rcgc_ssize i = 0; i < rcgc_snapshot_count(s); i++) {
        const rcgc_trace *t = rcgc_snapshot_trace(s, i);
        total += t->size;
        CHECK(t->est_size == (double)t->size);
        CHECK(t->est_count == 1.0);
        if (t->domain == RCGC_DOMAIN_MEM) {
            mem++;
            CHECK_EQ(t->size, 777);
        } else {
            CHECK_EQ(t->domain, RCGC_DOMAIN_OBJ);
            if (loop_tb == NULL) loop_tb = t->traceback;
            CHECK(t->traceback == loop_tb); /* interned: one traceback */
        }
    }
    CHECK_EQ(mem, 1);
    CHECK_EQ(total, current(rt));
    /* The snapshot owns its data: it outlives the tracer and the runtime. */
    for (int i = 0; i < 100; i++) rcgc_decref(rt, objs[i]);
    rcgc_mem_free(rt, buf);
    t_teardown(rt);
    CHECK(loop_tb != NULL && loop_tb->nframe == 1);
    if (loop_tb != NULL) CHECK_STR(loop_tb->frames[0].filename, __FILE__);
    rcgc_snapshot_free(s);
    rcgc_snapshot_free(empty);
    rcgc_snapshot_free(NULL);
}

/* ---- sampling ---- */

TEST(sampling_estimates)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.sample_bytes = 4096;
    cfg.seed = 42;
    REQUIRE(rcgc_trace_start(rt, &cfg) == 0);
    enum { N = 20000, SIZE = 96 };
    void **blocks = malloc(N * sizeof *blocks);
    REQUIRE(blocks != NULL);
    for (int i = 0; i < N; i++) blocks[i] = RCGC_MALLOC(rt, SIZE);
    double truth = (double)N * SIZE;
    double est = (double)current(rt);
    CHECK(fabs(est - truth) < 0.1 * truth);

    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_sample_bytes(s), 4096);
    rcgc_ssize n = rcgc_snapshot_count(s);
    /* about one sample per 4096 bytes */
    CHECK(n > (rcgc_ssize)(truth / 4096 * 0.8) && n < (rcgc_ssize)(truth / 4096 * 1.2));
    double count = 0, size = 0;
    for (rcgc_ssize i = 0; i < n; i++) {
        const rcgc_trace *t = rcgc_snapshot_trace(s, i);
        CHECK_EQ(t->size, SIZE);
        count += t->est_count;
        size += t->est_size;
    }
    CHECK(fabs(count - N) < 0.1 * N);
    CHECK(fabs(size - truth) < 0.1 * truth);
    rcgc_snapshot_free(s);
    for (int i = 0; i < N; i++) rcgc_mem_free(rt, blocks[i]);
    CHECK_EQ(current(rt), 0);
    free(blocks);

    /* A block bigger than the period is always sampled, at its own size
     * (p = 1 - exp(-size/period) is ~1). */
    void *big = RCGC_MALLOC(rt, 1 << 20);
    CHECK(current(rt) >= (size_t)1 << 20);
    rcgc_mem_free(rt, big);
    t_teardown(rt);
}

/* ---- the debug layer reports the allocation traceback ---- */

#define MAXREP 4
typedef struct record {
    int n;
    char text[MAXREP][4096];
} record;

static void rec_hook(void *ctx, const rcgc_memdebug_report *r)
{
    record *rec = ctx;
    if (rec->n < MAXREP) snprintf(rec->text[rec->n++], 4096, "%s", r->text);
}

TEST(debug_report_traceback)
{
    record rec = {0};
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    c.heap.debug_hooks = 1;
    c.heap.debug.report = rec_hook;
    c.heap.debug.report_ctx = &rec;
    rcgc_runtime *rt = rcgc_runtime_new(&c);
    REQUIRE(rt != NULL);
    rcgc_heap *h = rcgc_runtime_heap(rt);
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    int line = __LINE__ + 1;
    unsigned char *p = RCGC_MALLOC(rt, 16);
    REQUIRE(p != NULL);
    p[16] = 'X'; /* overflow into the trailing guard */
    CHECK_EQ(rcgc_heap_check(h), RCGC_ECORRUPT);
    REQUIRE(rec.n == 1);
    char want[256];
    snprintf(want, sizeof want, "  File \"%s\", line %d, in debug_report_traceback",
             __FILE__, line);
    CHECK(strstr(rec.text[0], "Memory block allocated at (most recent call first):") != NULL);
    CHECK(strstr(rec.text[0], want) != NULL);
    /* After the stop the report says how to get the traceback. */
    rcgc_trace_stop(rt);
    CHECK_EQ(rcgc_heap_check(h), RCGC_ECORRUPT);
    REQUIRE(rec.n == 2);
    CHECK(strstr(rec.text[1], "Enable the tracer") != NULL);
    p[16] = 0xfd; /* repair (CPython's guard byte) */
    CHECK_EQ(rcgc_heap_check(h), 0);
    rcgc_mem_free(rt, p);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
}

/* ---- a wrapper installed over the tracer's ---- */

typedef struct counting {
    rcgc_allocator inner;
    long calls;
} counting;

static void *c_malloc(void *ctx, size_t n)
{
    counting *c = ctx;
    c->calls++;
    return c->inner.malloc(c->inner.ctx, n);
}
static void *c_calloc(void *ctx, size_t n, size_t m)
{
    counting *c = ctx;
    c->calls++;
    return c->inner.calloc(c->inner.ctx, n, m);
}
static void *c_realloc(void *ctx, void *p, size_t n)
{
    counting *c = ctx;
    c->calls++;
    return c->inner.realloc(c->inner.ctx, p, n);
}
static void c_free(void *ctx, void *p)
{
    counting *c = ctx;
    c->calls++;
    c->inner.free(c->inner.ctx, p);
}

TEST(wrapper_over_tracer)
{
    rcgc_runtime *rt = traced(1, RCGC_FRAMES_CALLSITE);
    rcgc_heap *h = rcgc_runtime_heap(rt);
    counting cnt = {0};
    REQUIRE(rcgc_heap_get_allocator(h, RCGC_DOMAIN_MEM, &cnt.inner) == 0);
    rcgc_allocator w = {&cnt, c_malloc, c_calloc, c_realloc, c_free};
    REQUIRE(rcgc_heap_set_allocator(h, RCGC_DOMAIN_MEM, &w) == 0);
    void *a = RCGC_MALLOC(rt, 50);
    CHECK_EQ(current(rt), 50);
    /* Stopping cannot take the tracer's wrapper out from under ours: it
     * stays, forwarding only. */
    rcgc_trace_stop(rt);
    void *b = rcgc_mem_malloc(rt, 60);
    rcgc_mem_free(rt, a);
    CHECK(cnt.calls == 3);
    /* A new start reuses the wrapper still in the chain. */
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    void *c = rcgc_mem_malloc(rt, 70);
    CHECK_EQ(current(rt), 70);
    rcgc_mem_free(rt, b);
    rcgc_mem_free(rt, c);
    CHECK_EQ(current(rt), 0);
    t_teardown(rt);
}

/* ---- failures of the tracer's own allocations ---- */

/* A workload under tracing; returns the number of failed allocations. */
static int workload(rcgc_runtime *rt)
{
    int failed = 0;
    rcgc_object *keep[40] = {0};
    for (int i = 0; i < 40; i++) {
        keep[i] = RCGC_NEW(rt, i % 2 ? &t_node_type : &t_leaf_type);
        if (keep[i] == NULL) failed++;
    }
    void *buf = NULL;
    for (int i = 1; i <= 8; i++) {
        void *nb = RCGC_REALLOC(rt, buf, (size_t)i * 700);
        if (nb == NULL) {
            failed++;
            break;
        }
        buf = nb;
    }
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    if (s == NULL) failed++;
    rcgc_snapshot_free(s);
    rcgc_mem_free(rt, buf);
    for (int i = 0; i < 40; i++)
        if (keep[i] != NULL) rcgc_decref(rt, keep[i]);
    return failed;
}

TEST(tracer_allocation_failures)
{
    /* Fail allocation N for every N until a run fails nothing: a failed
     * trace fails the allocation (tracemalloc's rule) and loses nothing. */
    int clean_run = 0;
    for (long n = 1; n < 2000 && !clean_run; n++) {
        rcgc_runtime *rt = t_runtime();
        t_alloc_state.fail_at = t_alloc_state.calls + n;
        int rc = rcgc_trace_start(rt, NULL);
        if (rc == RCGC_ENOMEM) {
            CHECK(!rcgc_trace_is_tracing(rt));
        } else {
            REQUIRE(rc == 0);
            int failed = workload(rt);
            if (failed == 0 && t_alloc_state.failures == 0) clean_run = 1;
            if (OBJECTS_FREED_AT_ONCE) CHECK_EQ(current(rt), 0);
        }
        t_alloc_state.fail_at = 0;
        t_teardown(rt);
    }
    CHECK(clean_run);
    /* Every allocation after the start fails. */
    rcgc_runtime *rt = traced(4, RCGC_FRAMES_CALLSITE);
    t_alloc_state.fail_after = t_alloc_state.calls;
    CHECK(workload(rt) > 0);
    t_alloc_state.fail_after = 0;
    if (OBJECTS_FREED_AT_ONCE) CHECK_EQ(current(rt), 0);
    t_teardown(rt);
}

/* ---- many blocks: the trace table grows and shrinks correctly ---- */

TEST(many_blocks)
{
    rcgc_runtime *rt = traced(1, RCGC_FRAMES_CALLSITE);
    long n = t_scale(200000);
    void **b = malloc((size_t)n * sizeof *b);
    REQUIRE(b != NULL);
    size_t want = 0;
    for (long i = 0; i < n; i++) {
        size_t sz = 1 + (size_t)(i * 7919 % 700);
        b[i] = RCGC_MALLOC(rt, sz);
        want += sz;
    }
    CHECK_EQ(current(rt), want);
    /* free every other block, then check every remaining traceback */
    for (long i = 0; i < n; i += 2) {
        want -= 1 + (size_t)(i * 7919 % 700);
        rcgc_mem_free(rt, b[i]);
    }
    CHECK_EQ(current(rt), want);
    rcgc_frame f[1];
    long found = 0;
    for (long i = 1; i < n; i += 2)
        found += rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, b[i], f, 1);
    CHECK_EQ(found, n / 2);
    for (long i = 1; i < n; i += 2) rcgc_mem_free(rt, b[i]);
    CHECK_EQ(current(rt), 0);
    free(b);
    t_teardown(rt);
}

/* ---- pool blocks: the side arrays ---- */

/* A runtime on the pool allocator, whose raw memory (arenas' fallback, the
 * tracer's tables) is counted by the harness. */
static rcgc_runtime *pool_runtime(void)
{
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    t_alloc_release(&t_alloc_state);
    memset(&t_alloc_state, 0, sizeof t_alloc_state);
    c.heap.raw = t_allocator(&t_alloc_state);
    rcgc_runtime *rt = rcgc_runtime_new(&c);
    if (rt == NULL) t_fail(__FILE__, __LINE__, "rcgc_runtime_new");
    return rt;
}

TEST(pool_blocks)
{
    rcgc_runtime *rt = pool_runtime();
    REQUIRE(rt != NULL);
    REQUIRE(rcgc_heap_pymalloc(rcgc_runtime_heap(rt)) != NULL);
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    enum { N = 6000 };
    void **b = calloc(N, sizeof *b);
    size_t *sz = calloc(N, sizeof *sz);
    REQUIRE(b != NULL && sz != NULL);
    size_t want = 0;
    uint32_t r = 7;
    int line = __LINE__ + 4;
    for (int i = 0; i < N; i++) {
        r = r * 1103515245u + 12345u;
        sz[i] = (r >> 8) % 530; /* every size class, 0, and some > 512 */
        b[i] = RCGC_MALLOC(rt, sz[i]);
        REQUIRE(b[i] != NULL);
        want += sz[i];
    }
    CHECK_EQ(current(rt), want);
    rcgc_frame f[1];
    for (int i = 0; i < N; i += 97) {
        CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, b[i], f, 1), 1);
        CHECK_EQ(f[0].lineno, line);
        /* the same block is not traced in another domain */
        CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_OBJ, b[i], f, 1), 0);
    }
    /* A trace of the same pointer in another domain lives beside it. */
    CHECK_EQ(rcgc_trace_track(rt, RCGC_DOMAIN_OBJ, b[1], 5), 0);
    CHECK_EQ(current(rt), want + 5);
    CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_OBJ, b[1], f, 1), 1);
    CHECK_EQ(rcgc_trace_untrack(rt, RCGC_DOMAIN_OBJ, b[1]), 0);
    CHECK_EQ(rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, b[1], f, 1), 1);
    /* Re-tracking a block replaces its trace. */
    CHECK_EQ(rcgc_trace_track(rt, RCGC_DOMAIN_MEM, b[2], sz[2] + 1000), 0);
    CHECK_EQ(current(rt), want + 1000);
    CHECK_EQ(rcgc_trace_track(rt, RCGC_DOMAIN_MEM, b[2], sz[2]), 0);
    CHECK_EQ(current(rt), want);
    /* Snapshot: every trace, sizes as requested. */
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_count(s), N);
    size_t total = 0;
    for (rcgc_ssize i = 0; i < rcgc_snapshot_count(s); i++)
        total += rcgc_snapshot_trace(s, i)->size;
    CHECK_EQ(total, want);
    rcgc_snapshot_free(s);
    /* realloc within and across size classes keeps the accounting */
    for (int i = 0; i < N; i += 3) {
        size_t nsz = sz[i] / 2 + (size_t)(i % 300);
        void *p = RCGC_REALLOC(rt, b[i], nsz);
        REQUIRE(p != NULL);
        want = want - sz[i] + nsz;
        b[i] = p;
        sz[i] = nsz;
    }
    CHECK_EQ(current(rt), want);
    /* free in a scattered order: pools empty out, side arrays go */
    for (int k = 0; k < 7; k++)
        for (int i = k; i < N; i += 7) {
            rcgc_mem_free(rt, b[i]);
            want -= sz[i];
        }
    CHECK_EQ(want, 0);
    CHECK_EQ(current(rt), 0);
    free(b);
    free(sz);
    t_teardown(rt);
}

TEST_MAIN(T(pool_blocks), T(start_stop_and_limit), T(memory_current_peak_reset),
          T(object_traceback_callsite), T(collected_cycle_untraced),
          T(provider_frames_and_limit), T(cstack_frames), T(track_untrack),
          T(clear_keeps_tracing), T(snapshot_take), T(sampling_estimates),
          T(debug_report_traceback), T(wrapper_over_tracer),
          T(tracer_allocation_failures), T(many_blocks))

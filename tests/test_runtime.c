/*
 * test_runtime.c - the runtime handle: configuration, allocator hooks,
 * statistics, rcgc_mem_*, the teardown report, error strings, several
 * runtimes side by side.
 *
 * Teardown tests that leave things behind on purpose cannot use t_teardown
 * (it demands a clean teardown); they create the runtime with
 * rcgc_runtime_new on a private counting allocator and check its counters.
 */
#define _POSIX_C_SOURCE 200809L /* fork */
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ======================================================================== */
/* Helpers                                                                  */

/* An allocator that keeps every live block on a list (so a test can free
 * what a runtime could not find), counts the calls of each hook, and checks
 * the ctx it is given. */
typedef struct ablock {
    struct ablock *prev, *next;
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
} ablock;

typedef struct arena {
    ablock head;
    long mallocs, callocs, reallocs, frees;
    long live;
    size_t live_bytes;
    long bad_ctx;
} arena;

static arena *arena_of(void *ctx)
{
    return (arena *)ctx;
}

static void arena_init(arena *a)
{
    memset(a, 0, sizeof *a);
    a->head.prev = a->head.next = &a->head;
}

static void *arena_link(arena *a, ablock *b, size_t size)
{
    b->size = size;
    b->prev = a->head.prev;
    b->next = &a->head;
    a->head.prev->next = b;
    a->head.prev = b;
    a->live++;
    a->live_bytes += size;
    return b + 1;
}

static void arena_unlink(arena *a, ablock *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
    a->live--;
    a->live_bytes -= b->size;
}

static void *ar_malloc(void *ctx, size_t size)
{
    arena *a = arena_of(ctx);
    a->mallocs++;
    if (size > SIZE_MAX - sizeof(ablock)) return NULL;
    ablock *b = malloc(sizeof(ablock) + size);
    return b ? arena_link(a, b, size) : NULL;
}

static void *ar_calloc(void *ctx, size_t nelem, size_t elsize)
{
    arena *a = arena_of(ctx);
    a->callocs++;
    if (elsize != 0 && nelem > (SIZE_MAX - sizeof(ablock)) / elsize) return NULL;
    ablock *b = calloc(1, sizeof(ablock) + nelem * elsize);
    return b ? arena_link(a, b, nelem * elsize) : NULL;
}

static void *ar_realloc(void *ctx, void *ptr, size_t size)
{
    arena *a = arena_of(ctx);
    a->reallocs++;
    if (ptr == NULL) return ar_malloc(ctx, size);
    if (size > SIZE_MAX - sizeof(ablock)) return NULL;
    ablock *old = (ablock *)ptr - 1;
    arena_unlink(a, old);
    ablock *b = realloc(old, sizeof(ablock) + size);
    if (b == NULL) {
        arena_link(a, old, old->size);
        return NULL;
    }
    return arena_link(a, b, size);
}

static void ar_free(void *ctx, void *ptr)
{
    arena *a = arena_of(ctx);
    if (ptr == NULL) return;
    a->frees++;
    ablock *b = (ablock *)ptr - 1;
    arena_unlink(a, b);
    free(b);
}

/* Free whatever is still allocated; returns how many blocks that was. */
static long arena_free_all(arena *a)
{
    long n = 0;
    while (a->head.next != &a->head) {
        ablock *b = a->head.next;
        arena_unlink(a, b);
        free(b);
        n++;
    }
    return n;
}

static rcgc_allocator arena_allocator(arena *a)
{
    rcgc_allocator al = {a, ar_malloc, ar_calloc, ar_realloc, ar_free};
    return al;
}

/* A runtime with automatic collection off on the given allocator, writing
 * its messages to stream (may be NULL). */
static rcgc_runtime *runtime_on(rcgc_allocator al, FILE *stream)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.allocator = al;
    cfg.debug_stream = stream;
    return rcgc_runtime_new(&cfg);
}

/* Everything written to f so far, NUL-terminated (static buffer). */
static const char *stream_text(FILE *f)
{
    static char buf[65536];
    fflush(f);
    long end = ftell(f);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fseek(f, end, SEEK_SET);
    return buf;
}

/* Run fn in a child process and fail unless it exits normally with status
 * 0 (a crash, a sanitizer report or a failed CHECK in it all fail): for
 * tests that found memory errors, so the rest of the suite still runs. */
static void in_child(void (*fn)(void), const char *name)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        t_fail(__FILE__, __LINE__, "fork failed");
        return;
    }
    if (pid == 0) {
        t_failures = 0;
        fn();
        fflush(stdout);
        fflush(stderr);
        _exit(t_failures ? 3 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        t_fail(__FILE__, __LINE__, "%s: child %s %d", name,
               WIFSIGNALED(status) ? "killed by signal" : "exited with",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* ======================================================================== */
/* Configuration                                                            */

/* gc.get_threshold() == (700, 10, 10), gc.isenabled(), gc.get_debug() == 0
 * (python3 3.11.7); 3.11's synchronous collection in the allocation. */
TEST(config_defaults)
{
    rcgc_config cfg;
    memset(&cfg, 0xFF, sizeof cfg);
    rcgc_config_init(&cfg);
    CHECK_EQ(cfg.threshold[0], 700);
    CHECK_EQ(cfg.threshold[1], 10);
    CHECK_EQ(cfg.threshold[2], 10);
    CHECK_EQ(cfg.gc_enabled, 1);
    CHECK_EQ(cfg.gc_mode, RCGC_GC_SYNC);
    CHECK_EQ(cfg.debug, 0);
    CHECK(cfg.debug_stream == NULL);
    CHECK(cfg.allocator.ctx == NULL && cfg.allocator.malloc == NULL &&
          cfg.allocator.calloc == NULL && cfg.allocator.realloc == NULL &&
          cfg.allocator.free == NULL);
    CHECK(cfg.unraisable == NULL && cfg.unraisable_ctx == NULL);

    /* A runtime from NULL gets the same defaults and the C library's
     * allocator. */
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    REQUIRE(rt != NULL);
    int th[3];
    rcgc_gc_get_threshold(rt, th);
    CHECK_EQ(th[0], 700);
    CHECK_EQ(th[1], 10);
    CHECK_EQ(th[2], 10);
    CHECK_EQ(rcgc_gc_isenabled(rt), 1);
    CHECK_EQ(rcgc_gc_get_debug(rt), 0);
    CHECK(rcgc_runtime_debug_stream(rt) == stderr);
    CHECK_EQ(rcgc_runtime_last_error(rt), 0);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK(count[0] == 0 && count[1] == 0 && count[2] == 0);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(r.alive, 0);

    /* The config is copied: changing it afterwards changes nothing. */
    rcgc_config_init(&cfg);
    cfg.threshold[0] = 5;
    cfg.debug = RCGC_DEBUG_SAVEALL;
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    cfg.debug_stream = f;
    rt = rcgc_runtime_new(&cfg);
    REQUIRE(rt != NULL);
    cfg.threshold[0] = 99;
    cfg.debug_stream = NULL;
    rcgc_gc_get_threshold(rt, th);
    CHECK_EQ(th[0], 5);
    CHECK_EQ(rcgc_gc_get_debug(rt), RCGC_DEBUG_SAVEALL);
    CHECK(rcgc_runtime_debug_stream(rt) == f);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
    fclose(f);

    CHECK_EQ(rcgc_runtime_free(NULL, NULL), RCGC_EINVAL);
}

/* rcgc_runtime_new's documented rejections: a negative threshold (CPython
 * 3.11's gc.set_threshold accepts them: python3 3.11.7 set_threshold(-1, -5,
 * 3) -> get_threshold() == (-1, -5, 3); rcgc rejects them, as its
 * rcgc_gc_set_threshold does), an allocator with only some hooks, an
 * unknown collection mode.  Nothing is allocated for an invalid config. */
TEST(invalid_configs)
{
    arena a;
    arena_init(&a);
    rcgc_config cfg;
    for (int i = 0; i < 3; i++) {
        rcgc_config_init(&cfg);
        cfg.allocator = arena_allocator(&a);
        cfg.threshold[i] = -1;
        CHECK(rcgc_runtime_new(&cfg) == NULL);
    }
    /* Every proper, non-empty subset of the four hooks. */
    for (unsigned mask = 1; mask < 15; mask++) {
        rcgc_config_init(&cfg);
        rcgc_allocator al = arena_allocator(&a);
        if (!(mask & 1)) al.malloc = NULL;
        if (!(mask & 2)) al.calloc = NULL;
        if (!(mask & 4)) al.realloc = NULL;
        if (!(mask & 8)) al.free = NULL;
        cfg.allocator = al;
        CHECK(rcgc_runtime_new(&cfg) == NULL);
    }
    rcgc_config_init(&cfg);
    cfg.allocator = arena_allocator(&a);
    cfg.gc_mode = (rcgc_gc_mode)2;
    CHECK(rcgc_runtime_new(&cfg) == NULL);
    cfg.gc_mode = (rcgc_gc_mode)-1;
    CHECK(rcgc_runtime_new(&cfg) == NULL);
    CHECK_EQ(a.mallocs + a.callocs + a.reallocs, 0);

    /* The valid edge cases: threshold 0 (no automatic collection), the
     * deferred mode. */
    rcgc_config_init(&cfg);
    cfg.allocator = arena_allocator(&a);
    cfg.threshold[0] = 0;
    cfg.threshold[1] = 0;
    cfg.threshold[2] = 0;
    cfg.gc_mode = RCGC_GC_DEFERRED;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    REQUIRE(rt != NULL);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
    CHECK_EQ(a.live, 0);
    CHECK_EQ(a.bad_ctx, 0);
}

/* PyMem_SetAllocator's contract: every block the runtime holds, the runtime
 * structure included, goes through the hooks with the given ctx, and is
 * given back by teardown. */
static int nop_callback(rcgc_runtime *rt, rcgc_gc_event event,
                        const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    (void)event;
    (void)info;
    (void)ctx;
    return 0;
}

TEST(allocator_sees_every_block)
{
    arena a;
    arena_init(&a);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(arena_allocator(&a), f);
    REQUIRE(rt != NULL);
    long base = a.live; /* the runtime itself (and the quarantine ring) */
    CHECK(base >= 1);
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, 0);

    /* Objects, their buffers, immortals, callbacks, the garbage list,
     * introspection arrays. */
    rcgc_object *keep = t_node(rt, 0);
    REQUIRE(keep != NULL);
    for (int i = 0; i < 40; i++) {
        rcgc_object *n = t_node(rt, i);
        REQUIRE(n != NULL);
        t_append_steal(rt, keep, n);
    }
    rcgc_object *imm = t_leaf(rt, 1);
    REQUIRE(imm != NULL);
    CHECK_EQ(rcgc_object_make_immortal(rt, imm), 0);
    CHECK_EQ(rcgc_gc_callback_add(rt, nop_callback, NULL), 0);
    void *buf = rcgc_mem_malloc(rt, 100);
    REQUIRE(buf != NULL);
    for (int i = 0; i < 20; i++) { /* legacy garbage grows gc.garbage */
        rcgc_object *l = t_new(rt, &t_lnode_type, i);
        REQUIRE(l != NULL);
        t_append(rt, l, l);
        rcgc_decref(rt, l);
    }
    CHECK_EQ(rcgc_gc_collect(rt, 2), 20);
    rcgc_object **objs = NULL;
    rcgc_ssize n = rcgc_gc_get_objects(rt, -1, &objs);
    CHECK(n > 40);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, a.live - base);
    rcgc_objects_free(rt, objs, n);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, a.live - base);
    rcgc_mem_free(rt, buf);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, a.live - base);
    CHECK(a.callocs > 0 && a.reallocs > 0 && a.mallocs > 0);

    /* Teardown: the garbage is uncollectable, keep is alive; everything
     * goes back anyway. */
    rcgc_teardown_report r;
    rcgc_gc_garbage_clear(rt);
    rcgc_object **g = NULL;
    CHECK_EQ(rcgc_gc_get_garbage(rt, &g), 0);
    rcgc_objects_free(rt, g, 0);
    rcgc_gc_collect(rt, 2); /* puts the 20 back into gc.garbage */
    CHECK_EQ(rcgc_gc_garbage_size(rt), 20);
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    fclose(f);
    CHECK_EQ(r.uncollectable, 20);
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(a.live, 0);
    CHECK_EQ(a.live_bytes, 0);
    CHECK_EQ(a.mallocs + a.callocs, a.frees);
    CHECK_EQ(a.bad_ctx, 0);
    arena_free_all(&a);
}

/* rcgc_runtime_get_stats (rcgc API; CPython's nearest is
 * sys.getallocatedblocks): live objects, their peak, tracked objects,
 * allocations since creation, blocks held. */
TEST(runtime_stats)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rt != NULL);
    long base_blocks = t_alloc_state.live_blocks;
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    CHECK(s.objects == 0 && s.objects_peak == 0 && s.tracked == 0 &&
          s.allocations == 0 && s.blocks == 0);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2), *c = t_node(rt, 3);
    rcgc_object *leaf = t_leaf(rt, 4);
    REQUIRE(a && b && c && leaf);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.objects, 4);
    CHECK_EQ(s.objects_peak, 4);
    CHECK_EQ(s.tracked, 3);
    CHECK_EQ(s.allocations, 4);
    CHECK_EQ(s.blocks, 4);
    CHECK_EQ(s.blocks, t_alloc_state.live_blocks - base_blocks);
    t_append(rt, a, leaf); /* a's item array: one more block */
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, 5);
    rcgc_object_untrack(rt, c);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.tracked, 2);
    rcgc_decref(rt, c);
    rcgc_decref(rt, leaf); /* still held by a */
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.objects, 3);
    CHECK_EQ(s.objects_peak, 4);
    CHECK_EQ(s.allocations, 4);
    CHECK_EQ(s.blocks, t_alloc_state.live_blocks - base_blocks);
#if RCGC_DEBUG < 2
    CHECK_EQ(s.blocks, 4); /* RCGC_DEBUG >= 2 keeps freed blocks a while */
#endif
    rcgc_decref(rt, a); /* frees leaf too */
    rcgc_decref(rt, b);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.objects, 0);
    CHECK_EQ(s.objects_peak, 4);
    CHECK_EQ(s.tracked, 0);
    CHECK_EQ(s.allocations, 4);
    CHECK_EQ(s.blocks, t_alloc_state.live_blocks - base_blocks);
#if RCGC_DEBUG < 2
    CHECK_EQ(s.blocks, 0);
#endif
    /* Collected objects count as freed, and tracked goes down. */
    rcgc_object *x = t_node(rt, 5), *y = t_node(rt, 6);
    REQUIRE(x && y);
    t_link2(rt, x, y);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.tracked, 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.objects, 0);
    CHECK_EQ(s.tracked, 0);
    CHECK_EQ(s.allocations, 6);
    CHECK_EQ(s.objects_peak, 4);
    t_teardown(rt);
}

/* rcgc_mem_*: malloc/calloc/realloc/free semantics through the runtime's
 * hooks; a zero size gives a unique pointer (as PyMem_Malloc(0)). */
TEST(mem_functions)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rt != NULL);
    long base = t_alloc_state.live_blocks;
    void *z1 = rcgc_mem_malloc(rt, 0);
    void *z2 = rcgc_mem_malloc(rt, 0);
    void *z3 = rcgc_mem_calloc(rt, 0, 8);
    void *z4 = rcgc_mem_calloc(rt, 8, 0);
    REQUIRE(z1 && z2 && z3 && z4);
    CHECK(z1 != z2 && z1 != z3 && z1 != z4 && z2 != z3 && z2 != z4 &&
          z3 != z4);
    CHECK_EQ(t_alloc_state.live_blocks - base, 4);

    unsigned char *p = rcgc_mem_calloc(rt, 10, 10);
    REQUIRE(p != NULL);
    int nonzero = 0;
    for (int i = 0; i < 100; i++) nonzero += p[i] != 0;
    CHECK_EQ(nonzero, 0);
    for (int i = 0; i < 100; i++) p[i] = (unsigned char)i;
    p = rcgc_mem_realloc(rt, p, 100000); /* keeps the contents */
    REQUIRE(p != NULL);
    int wrong = 0;
    for (int i = 0; i < 100; i++) wrong += p[i] != (unsigned char)i;
    CHECK_EQ(wrong, 0);
    p = rcgc_mem_realloc(rt, p, 10);
    REQUIRE(p != NULL);
    CHECK_EQ(p[9], 9);
    void *z5 = rcgc_mem_realloc(rt, p, 0); /* zero: still a unique block */
    CHECK(z5 != NULL);
    void *q = rcgc_mem_realloc(rt, NULL, 16); /* realloc(NULL) is malloc */
    REQUIRE(q != NULL);
    memset(q, 1, 16);
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, 6);
    CHECK_EQ(t_alloc_state.live_blocks - base, 6);

    /* Overflowing calloc fails without calling the allocator. */
    long calls = t_alloc_state.calls;
    CHECK(rcgc_mem_calloc(rt, SIZE_MAX / 2, 4) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK_EQ(t_alloc_state.calls, calls);
    /* A failing allocator: NULL, RCGC_ENOMEM; realloc keeps the block. */
    t_alloc_state.fail_at = t_alloc_state.calls + 1;
    CHECK(rcgc_mem_malloc(rt, 8) == NULL);
    t_alloc_state.fail_at = t_alloc_state.calls + 1;
    CHECK(rcgc_mem_realloc(rt, q, 1000) == NULL);
    CHECK_EQ(((unsigned char *)q)[15], 1);
    t_alloc_state.fail_at = 0;
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);

    rcgc_mem_free(rt, NULL); /* allowed */
    rcgc_mem_free(rt, z1);
    rcgc_mem_free(rt, z2);
    rcgc_mem_free(rt, z3);
    rcgc_mem_free(rt, z4);
    rcgc_mem_free(rt, z5);
    rcgc_mem_free(rt, q);
    rcgc_runtime_get_stats(rt, &s);
    CHECK_EQ(s.blocks, 0);
    t_teardown(rt);
}

/* rcgc_runtime_last_error (rcgc API, CPython's PyErr_Occurred after a
 * MemoryError): 0 at first, the code of the last failure; a failed GC
 * allocation is not counted in count[0] (gc_alloc links only on success). */
TEST(last_error)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rt != NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), 0);
    t_alloc_state.fail_at = t_alloc_state.calls + 1;
    CHECK(rcgc_object_new(rt, &t_node_type) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK_EQ(t_live_objects(rt), 0);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0); /* a failed allocation is not counted */
    t_teardown(rt);
}

/* rcgc_strerror (rcgc API, like strerror): every code of RCGC_ERROR_LIST
 * has its message; unknown codes get "unknown error". */
TEST(strerror_every_code)
{
    CHECK_STR(rcgc_strerror(RCGC_OK), "success");
    CHECK_STR(rcgc_strerror(RCGC_ENOMEM), "out of memory");
    CHECK_STR(rcgc_strerror(RCGC_EINVAL), "invalid argument");
    CHECK_STR(rcgc_strerror(RCGC_ERANGE),
              "generation out of range (must be 0, 1 or 2)");
    CHECK_STR(rcgc_strerror(RCGC_EALREADY),
              "object already tracked by the collector");
    CHECK_STR(rcgc_strerror(RCGC_ENOTGC),
              "type does not support garbage collection");
    CHECK_STR(rcgc_strerror(RCGC_ENOTFOUND), "object not found");
    CHECK_STR(rcgc_strerror(RCGC_ELIVE),
              "objects were still alive at teardown");
    CHECK_STR(rcgc_strerror(RCGC_ECORRUPT), "collector invariant violated");
    CHECK_STR(rcgc_strerror(RCGC_EFAILED), "callback reported failure");
    CHECK_STR(rcgc_strerror(RCGC_ENOTWEAK),
              "type does not support weak references");
    CHECK_EQ(RCGC_ENOMEM, -1);
    CHECK_STR(rcgc_strerror(RCGC_ENOTTRACING), "the tracer is not tracing");
    CHECK_EQ(RCGC_ENOTWEAK, -10);
    CHECK_EQ(RCGC_ENOTTRACING, -11);
    CHECK_STR(rcgc_strerror(RCGC_EBUSY), "still in use");
    CHECK_EQ(RCGC_EBUSY, -12);
    CHECK(strstr(rcgc_strerror(RCGC_EABI), "different rcgc headers") != NULL);
    CHECK_EQ(RCGC_EABI, -13);
    CHECK_EQ(RCGC_EFORMAT, -14);
    CHECK_STR(rcgc_strerror(1), "unknown error");
    CHECK_STR(rcgc_strerror(-15), "unknown error");
    CHECK_STR(rcgc_strerror(-1000), "unknown error");
    /* Every code has a distinct message. */
    for (int i = -14; i <= 0; i++)
        for (int j = i + 1; j <= 0; j++)
            CHECK(strcmp(rcgc_strerror(i), rcgc_strerror(j)) != 0);
}

/* ======================================================================== */
/* Teardown (spec §3.10, test_gc.py test_garbage_at_shutdown and the       */
/* shutdown tests, items 25-28)                                             */

static long fin_calls;

static int h_count(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (void)ctx;
    fin_calls++;
    return 0;
}

/* Cycles are collected at shutdown: test_gc.py items 26-28, `l = [C()];
 * l.append(l)` with C.__del__ printing -> "__del__ called" (python3
 * 3.11.7).  The teardown report counts the collected objects; nothing is
 * alive, so teardown returns 0. */
TEST(teardown_collects_leaked_cycle)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), NULL);
    REQUIRE(rt != NULL);
    fin_calls = 0;
    rcgc_object *l = t_node(rt, 1);
    rcgc_object *c = t_new(rt, &t_fnode_type, 2);
    REQUIRE(l && c);
    t_as(c)->on_finalize = h_count;
    t_append_steal(rt, l, c);
    t_append(rt, l, l);
    rcgc_decref(rt, l);
    /* And a plain 2-cycle. */
    rcgc_object *a = t_node(rt, 3), *b = t_node(rt, 4);
    REQUIRE(a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_teardown_report r;
    memset(&r, 0xFF, sizeof r);
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(fin_calls, 1);
    CHECK_EQ(r.collected, 4);
    CHECK_EQ(r.uncollectable, 0);
    CHECK_EQ(r.alive, 0);
    CHECK_EQ(r.freed, 0);
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    t_alloc_release(&st);
}

/* Finalizers that resurrect or allocate during the teardown collections:
 * teardown collects until nothing more is found and still frees all. */
static rcgc_object *holder;

static int h_resurrect_into_holder(rcgc_runtime *rt, rcgc_object *self,
                                   void *ctx)
{
    (void)ctx;
    fin_calls++;
    if (holder != NULL) t_append(rt, holder, self);
    return 0;
}

static int h_allocate_cycle(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    fin_calls++;
    rcgc_object *n = t_new(rt, &t_fnode_type, 99);
    if (n != NULL) {
        t_as(n)->on_finalize = h_count;
        t_append(rt, n, n);
        rcgc_decref(rt, n);
    }
    return 0;
}

TEST(teardown_finalizers_resurrect_and_allocate)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), NULL);
    REQUIRE(rt != NULL);
    fin_calls = 0;
    /* holder is itself garbage (a self-cycle): resurrected objects go into
     * garbage, and the next round collects them again. */
    holder = t_node(rt, 0);
    REQUIRE(holder != NULL);
    t_append(rt, holder, holder);
    rcgc_decref(rt, holder);
    for (int i = 0; i < 5; i++) {
        rcgc_object *o = t_new(rt, &t_fnode_type, i);
        REQUIRE(o != NULL);
        t_as(o)->on_finalize =
            i % 2 ? h_resurrect_into_holder : h_allocate_cycle;
        t_append(rt, o, o);
        rcgc_decref(rt, o);
    }
    rcgc_teardown_report r;
    int rc = rcgc_runtime_free(rt, &r);
    holder = NULL;
    CHECK_EQ(rc, 0);
    /* 5 finalizers, plus one per allocated cycle (3). */
    CHECK_EQ(fin_calls, 8);
    CHECK_EQ(r.alive, 0);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    t_alloc_release(&st);
}

/* Objects still referenced by the program at teardown: reported alive on
 * the debug stream, then broken and freed anyway (rcgc's addition to
 * CPython's shutdown), so the allocator gets every block back.  Release
 * builds cannot find untracked objects (leaked); debug builds can. */
TEST(teardown_reports_alive)
{
    arena a;
    arena_init(&a);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(arena_allocator(&a), f);
    REQUIRE(rt != NULL);
    rcgc_object *n = t_node(rt, 1);
    rcgc_object *leaf = t_leaf(rt, 2);
    rcgc_object *lone = t_leaf(rt, 3); /* untracked, referenced by nobody */
    REQUIRE(n && leaf && lone);
    t_append_steal(rt, n, leaf);
    rcgc_object *x = t_node(rt, 4), *y = t_node(rt, 5); /* alive cycle */
    REQUIRE(x && y);
    t_link2(rt, x, y);
    rcgc_decref(rt, y);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    const char *out = stream_text(f);
    CHECK(strstr(out, "rcgc: 5 objects still alive at teardown") != NULL);
    CHECK(strstr(out, "<node ") != NULL);
    CHECK_EQ(r.collected, 0);
    CHECK_EQ(r.uncollectable, 0);
    CHECK_EQ(r.alive, 5);
#if RCGC_DEBUG >= 1
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(r.freed, 5);
    CHECK_EQ(a.live, 0);
#else
    CHECK_EQ(r.leaked, 1); /* lone */
    CHECK_EQ(r.freed, 4);
    CHECK_EQ(a.live, 1);
#endif
    arena_free_all(&a);
    fclose(f);
}

/* The program holds a non-GC container that references a tracked object.
 * Teardown must not free the tracked object while something it has not
 * yet cleared still references it: the container's references must be
 * dropped (debug builds find it) before anything is freed.  Runs in a
 * child process (the failure mode is a use after free). */
static void untracked_holds_tracked_body(void)
{
    arena a;
    arena_init(&a);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(arena_allocator(&a), f);
    REQUIRE(rt != NULL);
    rcgc_object *p = t_new(rt, &t_plain_type, 1); /* non-GC container */
    rcgc_object *t = t_node(rt, 2);               /* tracked */
    REQUIRE(p && t);
    t_append_steal(rt, p, t);
    rcgc_object *u = rcgc_object_new(rt, &t_node_type); /* untracked GC */
    rcgc_object *t2 = t_node(rt, 3);
    REQUIRE(u && t2);
    t_append_steal(rt, u, t2);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    CHECK_EQ(r.alive, 4);
#if RCGC_DEBUG >= 1
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(r.freed, 4);
    CHECK_EQ(a.live, 0);
#else
    CHECK_EQ(r.leaked, 2); /* p and u cannot be found */
    CHECK_EQ(r.freed, 2);
#endif
    arena_free_all(&a);
    fclose(f);
}

TEST(teardown_untracked_holds_tracked)
{
    in_child(untracked_holds_tracked_body, "teardown_untracked_holds_tracked");
}

/* An immortal container holding a cycle and a leaf at teardown: immortal
 * objects are roots (a module's globals): they drop their references before
 * teardown decides what is alive, so the leaf dies by refcount and the cycle
 * is collected (2); nothing is alive; the immortal is freed last, and never
 * touches freed memory.  (Child process, as above.) */
static void immortal_holds_objects_body(void)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), f);
    REQUIRE(rt != NULL);
    rcgc_object *x = t_node(rt, 1);
    rcgc_object *c = t_node(rt, 2), *d = t_node(rt, 3);
    rcgc_object *leaf = t_leaf(rt, 4);
    REQUIRE(x && c && d && leaf);
    t_link2(rt, c, d);
    t_append_steal(rt, x, c);
    rcgc_decref(rt, d);
    t_append_steal(rt, x, leaf);
    CHECK_EQ(rcgc_object_make_immortal(rt, x), 0);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(r.collected, 2);
    CHECK_EQ(r.alive, 0);
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(r.freed, 0);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    fclose(f);
    t_alloc_release(&st);
}

TEST(teardown_immortal_holds_objects)
{
    in_child(immortal_holds_objects_body, "teardown_immortal_holds_objects");
}

/* test_gc.py test_garbage_at_shutdown (spec §3.10, §9.1 item 25): x =
 * X('first'); x.x = x; x.y = X('second') with tp_del, leaked.  python3
 * 3.11.7 -Wd: "gc: 2 uncollectable objects at shutdown; use
 * gc.set_debug(gc.DEBUG_UNCOLLECTABLE) to list them" and not the objects;
 * with DEBUG_UNCOLLECTABLE "gc: 2 uncollectable objects at shutdown" and
 * "      [<X 'first'>, <X 'second'>]" (either order); with DEBUG_SAVEALL no
 * such message.  The objects are freed anyway. */
static void leak_first_second(rcgc_runtime *rt, rcgc_object **first,
                              rcgc_object **second)
{
    *first = t_new(rt, &t_lnode_type, 1);
    *second = t_new(rt, &t_lnode_type, 2);
    if (*first == NULL || *second == NULL) return;
    t_append(rt, *first, *first);
    t_append_steal(rt, *first, *second);
    rcgc_decref(rt, *first);
}

TEST(teardown_uncollectable_message)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), f);
    REQUIRE(rt != NULL);
    rcgc_object *first, *second;
    leak_first_second(rt, &first, &second);
    REQUIRE(first && second);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    const char *out = stream_text(f);
    CHECK(strstr(out, "gc: 2 uncollectable objects at teardown; use "
                      "RCGC_DEBUG_UNCOLLECTABLE to list them\n") != NULL);
    /* CPython: assertNotIn(b"<X 'first'>", stderr). */
    CHECK(strstr(out, "<lnode ") == NULL);
    if (strstr(out, "<lnode ") != NULL) fprintf(stderr, "output was:\n%s", out);
    CHECK_EQ(r.uncollectable, 2);
    CHECK_EQ(r.collected, 0);
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    fclose(f);

    /* DEBUG_UNCOLLECTABLE: the message and the list. */
    t_alloc_release(&st);
    memset(&st, 0, sizeof st);
    f = tmpfile();
    REQUIRE(f != NULL);
    rt = runtime_on(t_allocator(&st), f);
    REQUIRE(rt != NULL);
    rcgc_gc_set_debug(rt, RCGC_DEBUG_UNCOLLECTABLE);
    leak_first_second(rt, &first, &second);
    REQUIRE(first && second);
    char list1[128], list2[128], each1[64], each2[64];
    snprintf(list1, sizeof list1, "      [<lnode %p>, <lnode %p>]\n",
             (void *)first, (void *)second);
    snprintf(list2, sizeof list2, "      [<lnode %p>, <lnode %p>]\n",
             (void *)second, (void *)first);
    snprintf(each1, sizeof each1, "gc: uncollectable <lnode %p>\n",
             (void *)first);
    snprintf(each2, sizeof each2, "gc: uncollectable <lnode %p>\n",
             (void *)second);
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    out = stream_text(f);
    CHECK(strstr(out, "gc: 2 uncollectable objects at teardown\n") != NULL);
    CHECK(strstr(out, list1) != NULL || strstr(out, list2) != NULL);
    CHECK(strstr(out, each1) != NULL && strstr(out, each2) != NULL);
    CHECK(strstr(out, "; use RCGC_DEBUG_UNCOLLECTABLE") == NULL);
    CHECK_EQ(r.uncollectable, 2);
    CHECK_EQ(st.live_blocks, 0);
    fclose(f);

    /* DEBUG_SAVEALL: nothing printed about uncollectable objects. */
    t_alloc_release(&st);
    memset(&st, 0, sizeof st);
    f = tmpfile();
    REQUIRE(f != NULL);
    rt = runtime_on(t_allocator(&st), f);
    REQUIRE(rt != NULL);
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    leak_first_second(rt, &first, &second);
    REQUIRE(first && second);
    rcgc_runtime_free(rt, &r);
    out = stream_text(f);
    CHECK(strstr(out, "uncollectable objects at teardown") == NULL);
    CHECK_EQ(st.live_blocks, 0);
    fclose(f);
    t_alloc_release(&st);
}

/* gc.garbage left non-empty by the program (its objects were found by an
 * earlier collection) is reported the same way, and freed. */
TEST(teardown_with_garbage_left)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), f);
    REQUIRE(rt != NULL);
    fin_calls = 0;
    rcgc_object *l = t_new(rt, &t_flnode_type, 1);
    rcgc_object *p = t_new(rt, &t_fnode_type, 2); /* kept by the legacy one */
    REQUIRE(l && p);
    t_as(p)->on_finalize = h_count;
    t_link2(rt, l, p);
    rcgc_decref(rt, l);
    rcgc_decref(rt, p);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2); /* both uncollectable */
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(fin_calls, 0);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    CHECK_EQ(r.uncollectable, 1);
    const char *out = stream_text(f);
    CHECK(strstr(out, "gc: 1 uncollectable objects at teardown; use "
                      "RCGC_DEBUG_UNCOLLECTABLE to list them\n") != NULL);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    fclose(f);
    t_alloc_release(&st);
}

/* Frozen objects (gc.freeze) are unfrozen and collected at teardown. */
TEST(teardown_frozen_cycle)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), NULL);
    REQUIRE(rt != NULL);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    REQUIRE(a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), 0);
    CHECK_EQ(r.collected, 2);
    CHECK_EQ(st.live_blocks, 0);
    t_alloc_release(&st);
}

/* The default unraisable reporter ("Exception ignored in ...") writes one
 * line to the debug stream. */
static int h_fail(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (void)ctx;
    return RCGC_EFAILED;
}

TEST(default_unraisable_message)
{
    t_alloc st;
    memset(&st, 0, sizeof st);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_runtime *rt = runtime_on(t_allocator(&st), f);
    REQUIRE(rt != NULL);
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = h_fail;
    char expect[128];
    snprintf(expect, sizeof expect,
             "rcgc: error ignored in finalizer of <fnode %p>: callback "
             "reported failure (-9)\n",
             (void *)o);
    rcgc_decref(rt, o);
    CHECK(strstr(stream_text(f), expect) != NULL);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
    CHECK_EQ(st.live_blocks, 0);
    fclose(f);
    t_alloc_release(&st);
}

/* ======================================================================== */
/* Several runtimes                                                         */

/* Runtimes share nothing: objects, counts, statistics, garbage and
 * thresholds are per runtime (one CPython interpreter each). */
TEST(several_runtimes)
{
    t_alloc s1, s2;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    rcgc_runtime *r1 = runtime_on(t_allocator(&s1), NULL);
    rcgc_runtime *r2 = runtime_on(t_allocator(&s2), NULL);
    REQUIRE(r1 && r2);
    rcgc_runtime *r3 = rcgc_runtime_new(NULL); /* libc allocator */
    REQUIRE(r3 != NULL);
    CHECK_EQ(rcgc_gc_set_threshold(r2, 5, 6, 7), 0);
    int th[3];
    rcgc_gc_get_threshold(r1, th);
    CHECK_EQ(th[0], 700);

    rcgc_object *k1 = t_node(r1, 1);
    REQUIRE(k1 != NULL);
    for (int i = 0; i < 10; i++) { /* ten 2-cycles in r1 */
        rcgc_object *a = t_node(r1, i), *b = t_node(r1, i);
        REQUIRE(a && b);
        t_link2(r1, a, b);
        rcgc_decref(r1, a);
        rcgc_decref(r1, b);
    }
    for (int i = 0; i < 3; i++) { /* three self-cycles in r2 */
        rcgc_object *a = t_node(r2, i);
        REQUIRE(a != NULL);
        t_append(r2, a, a);
        rcgc_decref(r2, a);
    }
    rcgc_object *k3 = t_leaf(r3, 1);
    REQUIRE(k3 != NULL);
    int c1[3], c2[3];
    rcgc_gc_get_count(r1, c1);
    rcgc_gc_get_count(r2, c2);
    CHECK_EQ(c1[0], 21);
    CHECK_EQ(c2[0], 3);
    CHECK_EQ(t_live_objects(r1), 21);
    CHECK_EQ(t_live_objects(r2), 3);
    CHECK_EQ(t_live_objects(r3), 1);

    CHECK_EQ(rcgc_gc_collect(r2, 2), 3);
    CHECK_EQ(t_live_objects(r1), 21); /* untouched */
    rcgc_gc_get_count(r1, c1);
    CHECK_EQ(c1[0], 21);
    CHECK_EQ(rcgc_gc_collect(r1, 0), 20);
    CHECK_EQ(rcgc_gc_collect(r2, 0), 0);
    rcgc_gc_stats g1[3], g2[3];
    rcgc_gc_get_stats(r1, g1);
    rcgc_gc_get_stats(r2, g2);
    CHECK_EQ(g1[0].collections, 1);
    CHECK_EQ(g1[0].collected, 20);
    CHECK_EQ(g1[2].collections, 0);
    CHECK_EQ(g2[2].collections, 1);
    CHECK_EQ(g2[2].collected, 3);
    CHECK_EQ(g2[0].collections, 1);
    CHECK_EQ(g2[0].collected, 0);

    rcgc_decref(r1, k1);
    rcgc_decref(r3, k3);
    CHECK_EQ(rcgc_runtime_free(r2, NULL), 0);
    CHECK_EQ(s2.live_blocks, 0);
    CHECK_EQ(t_live_objects(r1), 0);
    CHECK_EQ(rcgc_runtime_free(r1, NULL), 0);
    CHECK_EQ(rcgc_runtime_free(r3, NULL), 0);
    CHECK_EQ(s1.live_blocks, 0);
    CHECK_EQ(s1.live_bytes, 0);
    t_alloc_release(&s1);
    t_alloc_release(&s2);
}

/* ---- the runtime's heap (docs/allocator.md) ---- */

/* Objects come from the OBJ domain, served by the pool allocator by default
 * (CPython's PyObject_Malloc -> pymalloc); buffers from MEM. */
TEST(default_heap_serves_objects_from_the_pool)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    REQUIRE(rt != NULL);
    rcgc_heap *h = rcgc_runtime_heap(rt);
    rcgc_pymalloc *pm = rcgc_heap_pymalloc(h);
    REQUIRE(pm != NULL);
    rcgc_ssize pool0 = rcgc_pymalloc_allocated_blocks(pm);
    rcgc_ssize obj0 = rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ);
    rcgc_object *o = t_node(rt, 1);
    void *buf = rcgc_mem_malloc(rt, 100);
    REQUIRE(o != NULL && buf != NULL);
    CHECK_EQ(rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ), obj0 + 1);
    CHECK_EQ(rcgc_heap_blocks(h, RCGC_DOMAIN_MEM) >= 1, 1);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), pool0 + 2);
    CHECK(rcgc_pymalloc_owns(pm, buf));
    rcgc_mem_free(rt, buf);
    rcgc_decref(rt, o);
    /* Debug builds keep a freed object's block in quarantine for a while. */
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), pool0 + (RCGC_DEBUG >= 2 ? 1 : 0));
    CHECK_EQ(rcgc_heap_check(h), 0);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
}

/* config.allocator set: every block of every domain through it, no pool
 * allocator (what the tests' counting allocator relies on). */
TEST(custom_allocator_bypasses_the_pool)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_heap *h = rcgc_runtime_heap(rt);
    CHECK(rcgc_heap_pymalloc(h) == NULL);
    long before = t_alloc_state.live_blocks;
    rcgc_object *o = t_node(rt, 1);
    CHECK_EQ(t_alloc_state.live_blocks, before + 1);
    rcgc_decref(rt, o);
    t_teardown(rt);
}

static int overflow_reports;
static char overflow_message[128];

static void record_report(void *ctx, const rcgc_memdebug_report *r)
{
    (void)ctx;
    overflow_reports++;
    snprintf(overflow_message, sizeof overflow_message, "%s", r->message);
}

/* heap.debug_hooks (PYTHONMALLOC=debug): an object's buffer written one
 * byte past its end is caught by the whole-heap check, with CPython's
 * words ("bad trailing pad byte"). */
TEST(debug_hooks_catch_a_buffer_overflow)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.heap.debug_hooks = 1;
    cfg.heap.debug.report = record_report;
    overflow_reports = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    REQUIRE(rt != NULL);
    char *buf = rcgc_mem_malloc(rt, 10);
    REQUIRE(buf != NULL);
    memset(buf, 'x', 11); /* one byte too many */
    CHECK_EQ(rcgc_heap_check(rcgc_runtime_heap(rt)), RCGC_ECORRUPT);
    CHECK_EQ(overflow_reports, 1);
    CHECK_STR(overflow_message, "bad trailing pad byte");
    buf[10] = (char)0xFD; /* repair the guard so the block can be freed */
    rcgc_mem_free(rt, buf);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
}

TEST_MAIN(T(default_heap_serves_objects_from_the_pool), T(custom_allocator_bypasses_the_pool),
          T(debug_hooks_catch_a_buffer_overflow),
          T(config_defaults), T(invalid_configs), T(allocator_sees_every_block),
          T(runtime_stats), T(mem_functions), T(last_error),
          T(strerror_every_code), T(teardown_collects_leaked_cycle),
          T(teardown_finalizers_resurrect_and_allocate),
          T(teardown_reports_alive), T(teardown_untracked_holds_tracked),
          T(teardown_immortal_holds_objects), T(teardown_uncollectable_message),
          T(teardown_with_garbage_left), T(teardown_frozen_cycle),
          T(default_unraisable_message), T(several_runtimes))

/*
 * test_abi.c - the library's interface contract (issue 14, parts 5-6):
 * version numbers, the ABI check at runtime creation, the size field of
 * every caller-initialised config struct, constructors that say why they
 * failed, handle arguments checked for their kind, and the busy code for a
 * runtime or heap still in use (docs/api-rules.md).
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "rcgc.h"
#include "rcgc_diag.h"
#include "rcgc_serve.h"
#include "test.h"

/* A weakly referenceable object with nothing inside. */
static const rcgc_type w_leaf_type = {
    .name = "wleaf", .size = sizeof(rcgc_object), .flags = RCGC_TYPE_WEAKREF};

/* Something for out-parameters to point at before a call clears them. */
static char dummy;
#define NOT_NULL ((void *)&dummy)

/* One hook of four (an incomplete allocator). */
static void *no_malloc(void *ctx, size_t size)
{
    (void)ctx;
    (void)size;
    return NULL;
}

/* ---- versions ---- */

TEST(version_numbers)
{
    CHECK_EQ(RCGC_VERSION_NUM, RCGC_VERSION_MAJOR * 10000 +
                                   RCGC_VERSION_MINOR * 100 +
                                   RCGC_VERSION_PATCH);
    CHECK_EQ(rcgc_version(), RCGC_VERSION_NUM);
    /* 0.x: the ABI is the minor version; then the major one. */
    CHECK_EQ(RCGC_ABI_VERSION, RCGC_VERSION_MAJOR == 0
                                   ? RCGC_VERSION_MINOR
                                   : RCGC_VERSION_MAJOR * 1000);
    CHECK_EQ(RCGC_ABI >> 48, RCGC_ABI_VERSION);
    CHECK_EQ((RCGC_ABI >> 40) & 0xFF, RCGC_DEBUG);
    CHECK_EQ(RCGC_ABI & 0xFFFFFF, sizeof(rcgc_config));
}

/* ---- the ABI check ---- */

static const int other_debug = RCGC_DEBUG == 0 ? 3 : 0;

TEST(abi_check_names_the_difference)
{
    char msg[256];
    memset(msg, 'x', sizeof msg);
    CHECK_EQ(rcgc_abi_check(RCGC_ABI, msg, sizeof msg), 0);
    CHECK_STR(msg, "");
    CHECK_EQ(rcgc_abi_check(RCGC_ABI, NULL, 0), 0);

    uint64_t v = RCGC_ABI_MAKE(RCGC_ABI_VERSION + 1, RCGC_DEBUG,
                               sizeof(rcgc_config));
    CHECK_EQ(rcgc_abi_check(v, msg, sizeof msg), RCGC_EABI);
    CHECK(strstr(msg, "ABI version") != NULL);
    CHECK(strstr(msg, "rebuild the program") != NULL);

    /* The debug level changes the object layout: a release program must
     * not run on a debug library, nor the reverse. */
    v = RCGC_ABI_MAKE(RCGC_ABI_VERSION, other_debug, sizeof(rcgc_config));
    CHECK_EQ(rcgc_abi_check(v, msg, sizeof msg), RCGC_EABI);
    char want[64];
    snprintf(want, sizeof want, "compiled with RCGC_DEBUG=%d", other_debug);
    CHECK(strstr(msg, want) != NULL);
    snprintf(want, sizeof want, "the library with RCGC_DEBUG=%d", RCGC_DEBUG);
    CHECK(strstr(msg, want) != NULL);

    v = RCGC_ABI_MAKE(RCGC_ABI_VERSION, RCGC_DEBUG, sizeof(rcgc_config) + 8);
    CHECK_EQ(rcgc_abi_check(v, msg, sizeof msg), RCGC_EABI);
    CHECK(strstr(msg, "sizeof(rcgc_config)") != NULL);

    /* A short buffer gets a truncated, terminated message. */
    memset(msg, 'x', sizeof msg);
    CHECK_EQ(rcgc_abi_check(v, msg, 8), RCGC_EABI);
    CHECK_EQ(strlen(msg), 7);
    CHECK_EQ(rcgc_abi_check(v, NULL, 0), RCGC_EABI);
}

TEST(runtime_refuses_another_abi)
{
    const uint64_t wrong[3] = {
        RCGC_ABI_MAKE(RCGC_ABI_VERSION + 1, RCGC_DEBUG, sizeof(rcgc_config)),
        RCGC_ABI_MAKE(RCGC_ABI_VERSION, other_debug, sizeof(rcgc_config)),
        RCGC_ABI_MAKE(RCGC_ABI_VERSION, RCGC_DEBUG, sizeof(rcgc_config) - 8)};
    for (int i = 0; i < 3; i++) {
        rcgc_runtime *rt = NOT_NULL; /* overwritten */
        CHECK_EQ(rcgc_runtime_create_abi(NULL, wrong[i], &rt), RCGC_EABI);
        CHECK(rt == NULL);
    }
    /* The headers' own value is accepted, by every constructor. */
    rcgc_runtime *rt = NULL;
    CHECK_EQ(rcgc_runtime_create_abi(NULL, RCGC_ABI, &rt), 0);
    REQUIRE(rt != NULL);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
    rt = NULL;
    CHECK_EQ(rcgc_runtime_create(NULL, &rt), 0);
    REQUIRE(rt != NULL);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
    rt = rcgc_runtime_new(NULL);
    REQUIRE(rt != NULL);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
}

/* ---- constructors say why ---- */

TEST(runtime_create_reports_the_code)
{
    rcgc_config cfg;
    rcgc_runtime *rt = NOT_NULL;
    CHECK_EQ(rcgc_runtime_create(NULL, NULL), RCGC_EINVAL);

    rcgc_config_init(&cfg);
    cfg.threshold[1] = -1;
    CHECK_EQ(rcgc_runtime_create(&cfg, &rt), RCGC_EINVAL);
    CHECK(rt == NULL);
    CHECK(rcgc_runtime_new(&cfg) == NULL);

    rcgc_config_init(&cfg);
    cfg.gc_mode = (rcgc_gc_mode)7;
    CHECK_EQ(rcgc_runtime_create(&cfg, &rt), RCGC_EINVAL);

    rcgc_config_init(&cfg);
    cfg.allocator.malloc = no_malloc; /* 1 hook of 4 */
    CHECK_EQ(rcgc_runtime_create(&cfg, &rt), RCGC_EINVAL);

    /* Out of memory: the first allocation (the runtime itself) fails, then
     * the second (the pool allocator's state). */
    for (long n = 1; n <= 2; n++) {
        t_alloc a;
        memset(&a, 0, sizeof a);
        a.fail_at = n;
        rcgc_config_init(&cfg);
        cfg.heap.raw = t_allocator(&a);
        CHECK_EQ(rcgc_runtime_create(&cfg, &rt), RCGC_ENOMEM);
        CHECK(rt == NULL);
        CHECK_EQ(a.failures, 1);
        CHECK_EQ(a.live_blocks, 0);
        t_alloc_release(&a);
    }
}

/* The allocator layer's constructors: the same codes through *_create. */
TEST(mem_create_reports_the_code)
{
    t_alloc a;
    memset(&a, 0, sizeof a);
    rcgc_allocator failing = t_allocator(&a);

    rcgc_heap_config hc;
    rcgc_heap_config_init(&hc);
    rcgc_heap *h = NOT_NULL;
    CHECK_EQ(rcgc_heap_create(&hc, NULL), RCGC_EINVAL);
    hc.mem.malloc = no_malloc; /* 1 hook of 4 */
    CHECK_EQ(rcgc_heap_create(&hc, &h), RCGC_EINVAL);
    CHECK(h == NULL);
    rcgc_heap_config_init(&hc);
    hc.pymalloc.retain_free_arenas = 0;
    CHECK_EQ(rcgc_heap_create(&hc, &h), RCGC_EINVAL);
    rcgc_heap_config_init(&hc);
    hc.raw = failing;
    for (long n = 1; n <= 2; n++) { /* the heap, then its pool allocator */
        a.calls = a.failures = 0;
        a.fail_at = n;
        CHECK_EQ(rcgc_heap_create(&hc, &h), RCGC_ENOMEM);
        CHECK(h == NULL);
        CHECK_EQ(a.failures, 1);
    }
    a.fail_at = 0;
    CHECK_EQ(rcgc_heap_create(&hc, &h), 0);
    REQUIRE(h != NULL);
    CHECK_EQ(rcgc_heap_destroy(h), 0);

    rcgc_pymalloc_config pc;
    rcgc_pymalloc_config_init(&pc);
    rcgc_pymalloc *pm = NOT_NULL;
    pc.retain_free_percent = -1;
    CHECK_EQ(rcgc_pymalloc_create(&pc, &pm), RCGC_EINVAL);
    CHECK(pm == NULL);
    rcgc_pymalloc_config_init(&pc);
    pc.raw = failing;
    a.calls = 0;
    a.fail_at = 1;
    CHECK_EQ(rcgc_pymalloc_create(&pc, &pm), RCGC_ENOMEM);
    a.fail_at = 0;
    CHECK_EQ(rcgc_pymalloc_create(&pc, &pm), 0);
    REQUIRE(pm != NULL);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);

    rcgc_memdebug_config mc;
    rcgc_memdebug_config_init(&mc);
    rcgc_memdebug *md = NOT_NULL;
    mc.meta.malloc = no_malloc;
    mc.meta.calloc = NULL;
    CHECK_EQ(rcgc_memdebug_create(&mc, &md), RCGC_EINVAL);
    CHECK(md == NULL);
    rcgc_memdebug_config_init(&mc);
    mc.meta = failing;
    a.calls = 0;
    a.fail_at = 1;
    CHECK_EQ(rcgc_memdebug_create(&mc, &md), RCGC_ENOMEM);
    a.fail_at = 0;
    CHECK_EQ(rcgc_memdebug_create(&mc, &md), 0);
    REQUIRE(md != NULL);
    CHECK_EQ(rcgc_memdebug_destroy(md), 0);

    rcgc_memfault *mf = NOT_NULL;
    rcgc_allocator libc = rcgc_libc_allocator();
    CHECK_EQ(rcgc_memfault_create(NULL, NULL, &mf), RCGC_EINVAL);
    CHECK(mf == NULL);
    a.calls = 0;
    a.fail_at = 1;
    CHECK_EQ(rcgc_memfault_create(&libc, &failing, &mf), RCGC_ENOMEM);
    a.fail_at = 0;
    CHECK_EQ(rcgc_memfault_create(&libc, &failing, &mf), 0);
    REQUIRE(mf != NULL);
    CHECK_EQ(rcgc_memfault_destroy(mf), 0);

    CHECK_EQ(a.live_blocks, 0);
    t_alloc_release(&a);
}

/* The snapshot reader keeps its message ("offset N: ...") and returns a
 * code from the list. */
TEST(snapshot_read_reports_the_code)
{
    char err[256], path[64];
    rcgc_snapshot *s = NOT_NULL;
    snprintf(path, sizeof path, "/tmp/rcgc-abi-%ld.snap", (long)getpid());
    (void)unlink(path);
    CHECK_EQ(rcgc_snapshot_read(path, &s, err, sizeof err), RCGC_EFAILED);
    CHECK(s == NULL);
    CHECK(strstr(err, "cannot open") != NULL);
    CHECK_EQ(rcgc_snapshot_read(NULL, &s, err, sizeof err), RCGC_EINVAL);
    CHECK_EQ(rcgc_snapshot_read(path, NULL, err, sizeof err), RCGC_EINVAL);
    CHECK_EQ(rcgc_snapshot_read_bytes(NULL, 5, &s, err, sizeof err), RCGC_EINVAL);
    static const char junk[] = "not a snapshot file at all, no";
    s = NOT_NULL;
    CHECK_EQ(rcgc_snapshot_read_bytes(junk, sizeof junk, &s, err, sizeof err),
             RCGC_EFORMAT);
    CHECK(s == NULL);
    CHECK(strncmp(err, "offset ", 7) == 0);
    CHECK(rcgc_snapshot_load_bytes(junk, sizeof junk, NULL, 0) == NULL);

    /* A real one, through a file. */
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    rcgc_object *n = t_node(rt, 1);
    rcgc_snapshot *taken = rcgc_snapshot_take(rt);
    REQUIRE(taken != NULL);
    CHECK_EQ(rcgc_snapshot_dump(taken, path, err, sizeof err), 0);
    CHECK_EQ(rcgc_snapshot_read(path, &s, err, sizeof err), 0);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_count(s), rcgc_snapshot_count(taken));
    CHECK_STR(err, "");
    rcgc_snapshot_free(s);
    rcgc_snapshot_free(taken);
    (void)unlink(path);
    rcgc_decref(rt, n);
    rcgc_trace_stop(rt);
    t_teardown(rt);
}

/* ---- size fields ---- */

TEST(init_functions_set_sizes)
{
    rcgc_config c;
    memset(&c, 0, sizeof c);
    rcgc_config_init(&c);
    CHECK_EQ(c.size, sizeof c);
    CHECK_EQ(c.heap.size, sizeof c.heap);
    CHECK_EQ(c.heap.pymalloc.size, sizeof c.heap.pymalloc);
    CHECK_EQ(c.heap.debug.size, sizeof c.heap.debug);
    rcgc_trace_config tc;
    rcgc_trace_config_init(&tc);
    CHECK_EQ(tc.size, sizeof tc);
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    CHECK_EQ(o.size, sizeof o);
    rcgc_serve_config sc;
    rcgc_serve_config_init(&sc);
    CHECK_EQ(sc.size, sizeof sc);
    CHECK_EQ(sc.trace.size, sizeof sc.trace);
    CHECK_EQ(sc.diag.size, sizeof sc.diag);
}

/* A struct not filled by its *_init (or from other headers) is refused by
 * every function that reads one. */
TEST(wrong_sizes_are_refused)
{
    rcgc_runtime *rt;
    rcgc_config c;
    size_t *fields[4] = {&c.size, &c.heap.size, &c.heap.pymalloc.size,
                         &c.heap.debug.size};
    for (int i = 0; i < 4; i++) {
        rcgc_config_init(&c);
        *fields[i] -= 8;
        rt = NOT_NULL;
        CHECK_EQ(rcgc_runtime_create(&c, &rt), RCGC_EINVAL);
        CHECK(rt == NULL);
    }

    rcgc_heap_config hc;
    rcgc_heap_config_init(&hc);
    hc.size = 0;
    CHECK(rcgc_heap_new(&hc) == NULL);
    rcgc_heap_config_init(&hc);
    hc.pymalloc.size = 0;
    CHECK(rcgc_heap_new(&hc) == NULL);
    rcgc_heap_config_init(&hc);
    hc.debug.size = 0;
    CHECK(rcgc_heap_new(&hc) == NULL);
    rcgc_heap_config_init(&hc);
    rcgc_heap *h = rcgc_heap_new(&hc);
    CHECK(h != NULL);
    CHECK_EQ(rcgc_heap_destroy(h), 0);

    rcgc_pymalloc_config pc;
    rcgc_pymalloc_config_init(&pc);
    pc.size = sizeof pc + 1;
    CHECK(rcgc_pymalloc_new(&pc) == NULL);
    rcgc_memdebug_config mc;
    rcgc_memdebug_config_init(&mc);
    mc.size = 1;
    CHECK(rcgc_memdebug_new(&mc) == NULL);

    rt = t_runtime();
    rcgc_trace_config tc;
    rcgc_trace_config_init(&tc);
    tc.size = 0;
    CHECK_EQ(rcgc_trace_start(rt, &tc), RCGC_EINVAL);
    CHECK_EQ(rcgc_trace_is_tracing(rt), 0);

    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.size = 0;
    rcgc_object *n = t_node(rt, 1);
    rcgc_diag_path p;
    CHECK_EQ(rcgc_diag_why_alive(rt, n, &o, &p), RCGC_EINVAL);
    rcgc_diag_graph g;
    CHECK_EQ(rcgc_diag_referrers(rt, n, 1, &o, &g), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_referents(rt, n, 1, &o, &g), RCGC_EINVAL);
    /* the writers too, given a valid result */
    CHECK_EQ(rcgc_diag_why_alive(rt, n, NULL, &p), 0);
    CHECK_EQ(rcgc_diag_path_write(stdout, &p, &o, RCGC_DIAG_TEXT), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_path_save(&p, &o, "/nonexistent/x.txt"), RCGC_EINVAL);
    rcgc_diag_path_free(rt, &p);
    CHECK_EQ(rcgc_diag_referents(rt, n, 1, NULL, &g), 0);
    CHECK_EQ(rcgc_diag_graph_write(stdout, &g, &o, RCGC_DIAG_TEXT), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_graph_save(&g, &o, "/nonexistent/x.txt"), RCGC_EINVAL);
    rcgc_diag_graph_free(rt, &g);

    rcgc_serve_config sc;
    char sock[64], err[256];
    snprintf(sock, sizeof sock, "/tmp/rcgc-abi-%ld.sock", (long)getpid());
    for (int i = 0; i < 3; i++) {
        rcgc_serve_config_init(&sc);
        sc.socket_path = sock;
        sc.token = "abcdefgh12";
        size_t *f = i == 0 ? &sc.size : i == 1 ? &sc.trace.size : &sc.diag.size;
        *f = 0;
        rcgc_serve *srv = NOT_NULL;
        CHECK_EQ(rcgc_serve_start(rt, &sc, &srv, err, sizeof err), RCGC_EINVAL);
        CHECK(srv == NULL);
        CHECK(strstr(err, "rcgc_serve_config_init") != NULL);
    }
    CHECK_EQ(access(sock, F_OK), -1);
    rcgc_decref(rt, n);
    t_teardown(rt);
}

/* ---- handles of the wrong kind ---- */

TEST(weak_calls_check_the_kind)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &w_leaf_type);
    rcgc_object *n = t_node(rt, 2);
    REQUIRE(o != NULL && n != NULL);
    rcgc_object *wr = rcgc_weakref_new(rt, o, NULL, NULL);
    REQUIRE(wr != NULL);

    /* a live object that is not a weak reference: not read as one */
    CHECK(rcgc_weakref_get(rt, n) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK(rcgc_weakref_get(rt, o) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK_EQ(rcgc_weakref_has_callback(n), 0);
    rcgc_object *s = n, *f = n;
    CHECK_EQ(rcgc_weakmethod_get(rt, n, &s, &f), RCGC_EINVAL);
    CHECK(s == NULL && f == NULL);
    CHECK_EQ(rcgc_weakmethod_get(rt, wr, &s, &f), RCGC_EINVAL);

    /* the real one still works */
    rcgc_object *r = rcgc_weakref_get(rt, wr);
    CHECK(r == o);
    rcgc_xdecref(rt, r);

    /* containers and finalize objects given another object */
    rcgc_object *set = rcgc_wset_new(rt);
    REQUIRE(set != NULL);
    CHECK_EQ(rcgc_wvmap_set(rt, set, "k", 1, o), RCGC_EINVAL);
    CHECK(rcgc_wkmap_get(rt, wr, o) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK_EQ(rcgc_weak_len(rt, wr), RCGC_EINVAL);
    CHECK_EQ(rcgc_finalize_call(rt, set, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_finalize_peek(rt, wr, NULL, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_finalize_detach(rt, n, NULL, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_finalize_alive(set), 0);

    rcgc_decref(rt, set);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, n);
    rcgc_decref(rt, o);
    t_teardown(rt);
}

/* ---- busy ---- */

/* A heap embedded in a runtime is released by the runtime only. */
TEST(runtime_heap_is_busy)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_heap *h = rcgc_runtime_heap(rt);
    CHECK_EQ(rcgc_heap_destroy(h), RCGC_EBUSY);
    rcgc_object *n = t_node(rt, 1); /* the heap still serves */
    CHECK(n != NULL);
    CHECK_EQ(rcgc_heap_check(h), 0);
    rcgc_xdecref(rt, n);
    t_teardown(rt);
}

/* A runtime a diagnostics server still serves: refused until it stops. */
TEST(runtime_with_server_is_busy)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_serve_config sc;
    rcgc_serve_config_init(&sc);
    char sock[64], err[256];
    snprintf(sock, sizeof sock, "/tmp/rcgc-abi-%ld.sock", (long)getpid());
    sc.socket_path = sock;
    sc.token = "abcdefgh12";
    rcgc_serve *srv = NULL;
    int e = rcgc_serve_start(rt, &sc, &srv, err, sizeof err);
    if (e != 0) t_fail(__FILE__, __LINE__, "rcgc_serve_start: %d: %s", e, err);
    REQUIRE(srv != NULL);
    rcgc_object *n = t_node(rt, 1);
    rcgc_teardown_report r;
    memset(&r, 0x55, sizeof r);
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_EBUSY);
    CHECK_EQ(r.freed, 0x5555555555555555LL); /* untouched */
    /* nothing happened: the object and the server are still there */
    CHECK_EQ(rcgc_object_refcount(n), 1);
    CHECK_EQ(rcgc_serve_poll(srv, 0), 0);
    rcgc_decref(rt, n);
    rcgc_serve_stop(srv);
    CHECK_EQ(access(sock, F_OK), -1);
    t_teardown(rt);
}

static int free_rc = 99;

static int h_free_runtime(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    free_rc = rcgc_runtime_free(rt, NULL);
    return 0;
}

#if RCGC_DEBUG >= 1
static void free_in_refcount_finalizer(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    t_as(o)->on_finalize = h_free_runtime;
    rcgc_decref(rt, o);
}
#endif

/* From a finalizer run by a decref (no collection running): the runtime
 * is inside a deallocation. */
TEST(runtime_free_in_deallocation_is_busy)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(free_in_refcount_finalizer, NULL, "rcgc: fatal error: ",
                "rcgc_runtime_free called during a deallocation");
#else
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = h_free_runtime;
    free_rc = 99;
    rcgc_decref(rt, o);
    CHECK_EQ(free_rc, RCGC_EBUSY);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
#endif
}

TEST_MAIN(T(version_numbers), T(abi_check_names_the_difference),
          T(runtime_refuses_another_abi), T(runtime_create_reports_the_code),
          T(mem_create_reports_the_code), T(snapshot_read_reports_the_code),
          T(init_functions_set_sizes), T(wrong_sizes_are_refused),
          T(weak_calls_check_the_kind), T(runtime_heap_is_busy),
          T(runtime_with_server_is_busy),
          T(runtime_free_in_deallocation_is_busy))

/*
 * test_memfault.c - the fault-injection wrapper (src/mem/memfault.c) and the
 * allocator's behaviour under it: a workload run with allocation N failing
 * for every N, with every allocation after N failing, under a byte limit;
 * failures inside the pool allocator's own tables and arenas; the debug
 * layer over a failing allocator.  After every run the heap must pass its
 * checks and hold no block.
 */
#define _DEFAULT_SOURCE
#include <sys/mman.h>

#include "test.h"
#include "rcgc_mem.h"

/* ---- a workload that cleans up after any failed allocation ---- */

typedef struct doc {
    void **items;   /* MEM: a growing vector */
    size_t n, cap;
    char *big;      /* OBJ, large: the raw fallback */
} doc;

static void doc_free(rcgc_heap *h, doc *d)
{
    for (size_t i = 0; i < d->n; i++) rcgc_heap_free(h, RCGC_DOMAIN_OBJ, d->items[i]);
    rcgc_heap_free(h, RCGC_DOMAIN_MEM, d->items);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, d->big);
    memset(d, 0, sizeof *d);
}

/* Build a document of 300 items of 1..600 bytes, reshape some of them, and
 * free it.  0, or RCGC_ENOMEM after freeing what was built. */
static int workload(rcgc_heap *h)
{
    doc d = {0};
    uint32_t r = 12345;
    d.big = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 3000);
    if (d.big == NULL) goto fail;
    for (int i = 0; i < 300; i++) {
        if (d.n == d.cap) {
            size_t ncap = d.cap ? d.cap * 2 : 4;
            void **v = rcgc_heap_realloc(h, RCGC_DOMAIN_MEM, d.items, ncap * sizeof *v);
            if (v == NULL) goto fail;
            d.items = v;
            d.cap = ncap;
        }
        r = r * 1103515245u + 12345u;
        size_t sz = 1 + (r >> 16) % 600;
        void *p = (r >> 8) & 1 ? rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, sz)
                               : rcgc_heap_calloc(h, RCGC_DOMAIN_OBJ, 1, sz);
        if (p == NULL) goto fail;
        memset(p, i, sz);
        d.items[d.n++] = p;
        if (i % 7 == 3) {
            void *q = rcgc_heap_realloc(h, RCGC_DOMAIN_OBJ, d.items[i / 2], sz / 2 + 1);
            if (q == NULL) goto fail;
            d.items[i / 2] = q;
        }
    }
    doc_free(h, &d);
    return 0;
fail:
    doc_free(h, &d);
    return RCGC_ENOMEM;
}

/* A heap whose MEM and OBJ domains go through one fault wrapper. */
typedef struct faulty {
    rcgc_heap *h;
    rcgc_memfault *f;
} faulty;

static int faulty_new(faulty *x, int debug)
{
    rcgc_heap_config cfg;
    rcgc_heap_config_init(&cfg);
    x->h = rcgc_heap_new(&cfg);
    if (x->h == NULL) return -1;
    rcgc_allocator base, a;
    rcgc_heap_get_allocator(x->h, RCGC_DOMAIN_OBJ, &base);
    x->f = rcgc_memfault_new(&base, NULL);
    if (x->f == NULL) return -1;
    a = rcgc_memfault_allocator(x->f);
    rcgc_heap_set_allocator(x->h, RCGC_DOMAIN_MEM, &a);
    rcgc_heap_set_allocator(x->h, RCGC_DOMAIN_OBJ, &a);
    if (debug) return rcgc_heap_setup_debug_hooks(x->h);
    return 0;
}

/* The heap is consistent and empty. */
static void check_clean(faulty *x)
{
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(x->f, &st);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.live_bytes, 0);
    CHECK_EQ(rcgc_heap_blocks(x->h, RCGC_DOMAIN_MEM), 0);
    CHECK_EQ(rcgc_heap_blocks(x->h, RCGC_DOMAIN_OBJ), 0);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(rcgc_heap_pymalloc(x->h)), 0);
    CHECK_EQ(rcgc_heap_check(x->h), 0);
}

static void faulty_end(faulty *x)
{
    check_clean(x);
    CHECK_EQ(rcgc_heap_destroy(x->h), 0);
    CHECK_EQ(rcgc_memfault_destroy(x->f), 0);
}

/* Calls the workload makes when nothing fails. */
static long count_calls(faulty *x)
{
    rcgc_memfault_reset(x->f);
    CHECK_EQ(workload(x->h), 0);
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(x->f, &st);
    CHECK_EQ(st.failures, 0);
    return st.calls;
}

static void fail_every_n(int debug)
{
    faulty x;
    REQUIRE(faulty_new(&x, debug) == 0);
    long total = count_calls(&x);
    CHECK(total > 300);
    long wrong = 0;
    for (long n = 1; n <= total + 1; n++) {
        rcgc_memfault_reset(x.f);
        rcgc_memfault_fail_at(x.f, n);
        int r = workload(x.h);
        rcgc_memfault_stats st;
        rcgc_memfault_get_stats(x.f, &st);
        if ((r != 0) != (n <= total) || st.failures != (n <= total)) wrong++;
        if (st.live_blocks != 0 || rcgc_heap_blocks(x.h, RCGC_DOMAIN_OBJ) != 0)
            wrong++;
        if (n % 97 == 0 && rcgc_heap_check(x.h) != 0) wrong++;
    }
    CHECK_EQ(wrong, 0);
    faulty_end(&x);
}

TEST(fail_nth_for_every_n)
{
    fail_every_n(0);
}

TEST(fail_nth_for_every_n_debug_hooks)
{
    fail_every_n(1);
}

TEST(fail_after_n)
{
    faulty x;
    REQUIRE(faulty_new(&x, 0) == 0);
    long total = count_calls(&x);
    long wrong = 0;
    for (long n = 0; n <= total; n++) {
        rcgc_memfault_reset(x.f);
        rcgc_memfault_fail_after(x.f, n);
        int r = workload(x.h);
        rcgc_memfault_stats st;
        rcgc_memfault_get_stats(x.f, &st);
        if ((r != 0) != (n < total) || (n < total && st.failures < 1)) wrong++;
        if (st.live_blocks != 0) wrong++;
    }
    CHECK_EQ(wrong, 0);
    faulty_end(&x);
}

TEST(byte_limit)
{
    faulty x;
    REQUIRE(faulty_new(&x, 0) == 0);
    rcgc_memfault_set_limit(x.f, 10000);
    void *v[200];
    int n = 0;
    while (n < 200 && (v[n] = rcgc_heap_malloc(x.h, RCGC_DOMAIN_OBJ, 100)) != NULL) n++;
    CHECK_EQ(n, 100);
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(x.f, &st);
    CHECK_EQ(st.live_bytes, 10000);
    CHECK_EQ(st.peak_bytes, 10000);
    CHECK_EQ(st.failures, 1);
    CHECK_EQ(st.calls, 101);
    /* realloc within the limit works, beyond it fails and keeps the block */
    char *p = v[0];
    memset(p, 7, 100);
    CHECK(rcgc_heap_realloc(x.h, RCGC_DOMAIN_OBJ, p, 101) == NULL);
    CHECK(p[99] == 7);
    void *q = rcgc_heap_realloc(x.h, RCGC_DOMAIN_OBJ, p, 50);
    REQUIRE(q != NULL);
    v[0] = q;
    rcgc_memfault_get_stats(x.f, &st);
    CHECK_EQ(st.live_bytes, 9950);
    CHECK(rcgc_heap_malloc(x.h, RCGC_DOMAIN_OBJ, 51) == NULL);
    void *last = rcgc_heap_malloc(x.h, RCGC_DOMAIN_OBJ, 50);
    CHECK(last != NULL);
    CHECK(rcgc_heap_calloc(x.h, RCGC_DOMAIN_OBJ, 1, 1) == NULL);
    rcgc_heap_free(x.h, RCGC_DOMAIN_OBJ, last);
    for (int i = 0; i < n; i++) rcgc_heap_free(x.h, RCGC_DOMAIN_OBJ, v[i]);
    rcgc_memfault_set_limit(x.f, SIZE_MAX);
    CHECK_EQ(workload(x.h), 0);
    faulty_end(&x);
}

TEST(counters_and_passthrough)
{
    rcgc_allocator libc = rcgc_libc_allocator();
    void *before = malloc(10); /* allocated before the wrapper existed */
    rcgc_memfault *f = rcgc_memfault_new(&libc, NULL);
    REQUIRE(f != NULL);
    rcgc_allocator a = rcgc_memfault_allocator(f);
    void *p = a.malloc(a.ctx, 10), *q = a.calloc(a.ctx, 3, 10);
    p = a.realloc(a.ctx, p, 40);
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(f, &st);
    CHECK_EQ(st.calls, 3);
    CHECK_EQ(st.live_blocks, 2);
    CHECK_EQ(st.live_bytes, 70);
    before = a.realloc(a.ctx, before, 20); /* unknown: passed through, uncounted */
    rcgc_memfault_get_stats(f, &st);
    CHECK_EQ(st.live_blocks, 2);
    a.free(a.ctx, before);
    CHECK(a.calloc(a.ctx, SIZE_MAX, 2) == NULL);
    rcgc_memfault_fail_at(f, 2); /* the second call from now */
    void *ok = a.malloc(a.ctx, 1);
    CHECK(ok != NULL && a.malloc(a.ctx, 1) == NULL);
    a.free(a.ctx, ok);
    rcgc_memfault_get_stats(f, &st);
    CHECK_EQ(st.failures, 1);
    a.free(a.ctx, p);
    a.free(a.ctx, q);
    a.free(a.ctx, NULL);
    rcgc_memfault_get_stats(f, &st);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(st.peak_bytes, 71);
    CHECK_EQ(rcgc_memfault_destroy(f), 0);
    rcgc_allocator bad = libc;
    bad.realloc = NULL;
    CHECK(rcgc_memfault_new(&bad, NULL) == NULL);
}

/* ---- failures inside the pool allocator ---- */

/* Small blocks across 40 arenas (the descriptor vector grows twice, radix
 * nodes are made) and large ones; NULL is tolerated.  Frees everything. */
static long pool_workload(rcgc_pymalloc *pm)
{
    enum { N = 40 * 64 * 31 };
    void **v = malloc(N * sizeof *v);
    long nulls = 0;
    for (long i = 0; i < N; i++) {
        v[i] = rcgc_pymalloc_malloc(pm, i % 1000 == 0 ? 5000 : 512);
        if (v[i] == NULL) nulls++;
        else memset(v[i], 1, 8);
    }
    if (rcgc_pymalloc_check(pm, stderr) != 0) nulls = -1;
    for (long i = 0; i < N; i++) rcgc_pymalloc_free(pm, v[i]);
    free(v);
    return nulls;
}

TEST(pool_tables_fail)
{
    rcgc_allocator libc = rcgc_libc_allocator();
    for (long n = 1; n <= 12; n++) {
        rcgc_memfault *raw = rcgc_memfault_new(&libc, NULL);
        REQUIRE(raw != NULL);
        rcgc_pymalloc_config cfg;
        rcgc_pymalloc_config_init(&cfg);
        cfg.raw = rcgc_memfault_allocator(raw);
        rcgc_pymalloc *pm = rcgc_pymalloc_new(&cfg);
        REQUIRE(pm != NULL);
        rcgc_memfault_fail_at(raw, n);
        long nulls = pool_workload(pm);
        CHECK(nulls >= 0);
        CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
        CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 0);
        CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
        rcgc_memfault_stats st;
        rcgc_memfault_get_stats(raw, &st);
        CHECK_EQ(st.live_blocks, 0); /* every table went back */
        CHECK_EQ(st.failures, 1);
        CHECK_EQ(rcgc_memfault_destroy(raw), 0);
    }
    /* raw failing for good: no arena at all, every request NULL */
    rcgc_memfault *raw = rcgc_memfault_new(&libc, NULL);
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    cfg.raw = rcgc_memfault_allocator(raw);
    rcgc_pymalloc *pm = rcgc_pymalloc_new(&cfg);
    REQUIRE(pm != NULL);
    rcgc_memfault_fail_after(raw, 0);
    CHECK(rcgc_pymalloc_malloc(pm, 16) == NULL);
    CHECK(rcgc_pymalloc_malloc(pm, 5000) == NULL);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
    CHECK_EQ(rcgc_memfault_destroy(raw), 0);
}

typedef struct failing_arenas {
    long calls, fail_at, live;
} failing_arenas;

static void *fa_alloc(void *ctx, size_t size)
{
    failing_arenas *t = ctx;
    if (++t->calls == t->fail_at) return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    t->live++;
    return p;
}

static void fa_free(void *ctx, void *p, size_t size)
{
    failing_arenas *t = ctx;
    t->live--;
    munmap(p, size);
}

TEST(arena_allocation_fails)
{
    for (long n = 1; n <= 41; n += 4) {
        failing_arenas fa = {0, n, 0};
        rcgc_pymalloc_config cfg;
        rcgc_pymalloc_config_init(&cfg);
        rcgc_arena_allocator a = {&fa, fa_alloc, fa_free, NULL};
        cfg.arena = a;
        rcgc_pymalloc *pm = rcgc_pymalloc_new(&cfg);
        REQUIRE(pm != NULL);
        CHECK_EQ(pool_workload(pm), 0); /* raw served what arenas could not */
        CHECK(rcgc_pymalloc_trim(pm) > 0); /* no decommit: arenas only */
        CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
        CHECK_EQ(fa.live, 0);
    }
}

/* The pool checker's own table (a byte per arena, from raw) cannot be
 * allocated: RCGC_ENOMEM, said on its stream, not RCGC_ECORRUPT; the same
 * check passes once memory is back. */
TEST(pool_check_out_of_memory)
{
    rcgc_allocator libc = rcgc_libc_allocator();
    rcgc_memfault *f = rcgc_memfault_new(&libc, NULL);
    REQUIRE(f != NULL);
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    cfg.raw = rcgc_memfault_allocator(f);
    rcgc_pymalloc *pm = rcgc_pymalloc_new(&cfg);
    REQUIRE(pm != NULL);
    rcgc_allocator a = rcgc_pymalloc_allocator(pm);
    void *p = a.malloc(a.ctx, 32); /* one arena */
    REQUIRE(p != NULL);
    FILE *out = tmpfile();
    REQUIRE(out != NULL);
    rcgc_memfault_fail_at(f, 1);
    CHECK_EQ(rcgc_pymalloc_check(pm, out), RCGC_ENOMEM);
    char line[128] = "";
    rewind(out);
    CHECK(fgets(line, sizeof line, out) != NULL);
    CHECK_STR(line, "rcgc_pymalloc_check: out of memory\n");
    fclose(out);
    rcgc_memfault_reset(f);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    a.free(a.ctx, p);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
    CHECK_EQ(rcgc_memfault_destroy(f), 0);
}

TEST_MAIN(T(fail_nth_for_every_n), T(fail_nth_for_every_n_debug_hooks),
          T(fail_after_n), T(byte_limit), T(counters_and_passthrough),
          T(pool_tables_fail), T(arena_allocation_fails),
          T(pool_check_out_of_memory))

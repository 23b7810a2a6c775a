/*
 * test_memdomain.c - the heap (src/mem/memdomain.c): the raw / mem / obj
 * domains, their defaults, CPython's front-end guards, get/set of a domain's
 * allocator, debug hooks over all three, live-block counts and teardown.
 */
#include "test.h"
#include "rcgc_mem.h"

/* A counting allocator over the C library. */
typedef struct counter {
    long mallocs, callocs, reallocs, frees, live;
    int null_for_zero; /* return NULL for 0-byte requests */
} counter;

static void *c_malloc(void *ctx, size_t n)
{
    counter *c = ctx;
    c->mallocs++;
    if (n == 0 && c->null_for_zero) return NULL;
    void *p = malloc(n ? n : 1);
    if (p != NULL) c->live++;
    return p;
}

static void *c_calloc(void *ctx, size_t a, size_t b)
{
    counter *c = ctx;
    c->callocs++;
    if ((a == 0 || b == 0) && c->null_for_zero) return NULL;
    void *p = calloc(a ? a : 1, b ? b : 1);
    if (p != NULL) c->live++;
    return p;
}

static void *c_realloc(void *ctx, void *p, size_t n)
{
    counter *c = ctx;
    c->reallocs++;
    if (p == NULL) c->live++;
    return realloc(p, n ? n : 1);
}

static void c_free(void *ctx, void *p)
{
    counter *c = ctx;
    if (p == NULL) return;
    c->frees++;
    c->live--;
    free(p);
}

static rcgc_allocator counting(counter *c)
{
    rcgc_allocator a = {c, c_malloc, c_calloc, c_realloc, c_free};
    return a;
}

static void end_heap(rcgc_heap *h)
{
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++)
        CHECK_EQ(rcgc_heap_blocks(h, (rcgc_domain)d), 0);
    CHECK_EQ(rcgc_heap_check(h), 0);
    CHECK_EQ(rcgc_heap_destroy(h), 0);
}

TEST(defaults)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    REQUIRE(h != NULL);
    rcgc_pymalloc *pm = rcgc_heap_pymalloc(h);
    REQUIRE(pm != NULL);
    CHECK(rcgc_heap_memdebug(h) == NULL);
    void *r = rcgc_heap_malloc(h, RCGC_DOMAIN_RAW, 32);
    void *m = rcgc_heap_malloc(h, RCGC_DOMAIN_MEM, 32);
    void *o = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 32);
    REQUIRE(r != NULL && m != NULL && o != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, r)); /* raw: the C library */
    CHECK(rcgc_pymalloc_owns(pm, m) && rcgc_pymalloc_owns(pm, o));
    CHECK_EQ(rcgc_heap_blocks(h, RCGC_DOMAIN_RAW), 1);
    CHECK_EQ(rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ), 1);
    CHECK_EQ(rcgc_heap_blocks(h, (rcgc_domain)7), RCGC_EINVAL);
    o = rcgc_heap_realloc(h, RCGC_DOMAIN_OBJ, o, 1000); /* large: raw */
    REQUIRE(o != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, o));
    CHECK_EQ(rcgc_heap_blocks(h, RCGC_DOMAIN_OBJ), 1);
    rcgc_heap_free(h, RCGC_DOMAIN_RAW, r);
    rcgc_heap_free(h, RCGC_DOMAIN_MEM, m);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, o);
    end_heap(h);
}

TEST(front_end_guards)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    REQUIRE(h != NULL);
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        rcgc_domain dom = (rcgc_domain)d;
        CHECK(rcgc_heap_malloc(h, dom, (size_t)PTRDIFF_MAX + 1) == NULL);
        CHECK(rcgc_heap_malloc(h, dom, SIZE_MAX) == NULL);
        CHECK(rcgc_heap_calloc(h, dom, (size_t)PTRDIFF_MAX / 8 + 1, 8) == NULL);
        CHECK(rcgc_heap_calloc(h, dom, SIZE_MAX, SIZE_MAX) == NULL);
        void *p = rcgc_heap_malloc(h, dom, 8);
        REQUIRE(p != NULL);
        CHECK(rcgc_heap_realloc(h, dom, p, (size_t)PTRDIFF_MAX + 1) == NULL);
        rcgc_heap_free(h, dom, p); /* untouched by the failed realloc */
        /* zero bytes: a unique pointer each time */
        void *z1 = rcgc_heap_malloc(h, dom, 0), *z2 = rcgc_heap_malloc(h, dom, 0);
        void *z3 = rcgc_heap_calloc(h, dom, 0, 0);
        REQUIRE(z1 != NULL && z2 != NULL && z3 != NULL);
        CHECK(z1 != z2 && z2 != z3 && z1 != z3);
        void *z4 = rcgc_heap_realloc(h, dom, NULL, 0);
        REQUIRE(z4 != NULL);
        z4 = rcgc_heap_realloc(h, dom, z4, 0); /* does not free */
        REQUIRE(z4 != NULL);
        rcgc_heap_free(h, dom, z1);
        rcgc_heap_free(h, dom, z2);
        rcgc_heap_free(h, dom, z3);
        rcgc_heap_free(h, dom, z4);
        rcgc_heap_free(h, dom, NULL); /* no-op */
    }
    CHECK(rcgc_heap_malloc(h, (rcgc_domain)3, 8) == NULL);
    CHECK(rcgc_heap_calloc(h, (rcgc_domain)-1, 1, 8) == NULL);
    end_heap(h);
}

TEST(get_set_allocator)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    REQUIRE(h != NULL);
    counter c = {0};
    rcgc_allocator a = counting(&c), old, got;
    CHECK_EQ(rcgc_heap_get_allocator(h, RCGC_DOMAIN_OBJ, &old), 0);
    CHECK(old.ctx == rcgc_heap_pymalloc(h));
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_OBJ, &a), 0);
    CHECK_EQ(rcgc_heap_get_allocator(h, RCGC_DOMAIN_OBJ, &got), 0);
    CHECK(got.ctx == &c && got.malloc == c_malloc && got.free == c_free);
    void *p = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 10);
    void *q = rcgc_heap_calloc(h, RCGC_DOMAIN_OBJ, 2, 5);
    p = rcgc_heap_realloc(h, RCGC_DOMAIN_OBJ, p, 20);
    CHECK_EQ(c.mallocs, 1);
    CHECK_EQ(c.callocs, 1);
    CHECK_EQ(c.reallocs, 1);
    CHECK_EQ(c.live, 2);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, p);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, q);
    CHECK_EQ(c.live, 0);
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_OBJ, &old), 0);
    /* unknown domain: get gives NULL hooks, set changes nothing */
    CHECK_EQ(rcgc_heap_get_allocator(h, (rcgc_domain)5, &got), RCGC_EINVAL);
    CHECK(got.ctx == NULL && got.malloc == NULL && got.calloc == NULL &&
          got.realloc == NULL && got.free == NULL);
    CHECK_EQ(rcgc_heap_set_allocator(h, (rcgc_domain)5, &a), RCGC_EINVAL);
    rcgc_allocator partial = a;
    partial.calloc = NULL;
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_MEM, &partial), RCGC_EINVAL);
    CHECK_EQ(rcgc_heap_get_allocator(h, RCGC_DOMAIN_MEM, &got), 0);
    CHECK(got.ctx == rcgc_heap_pymalloc(h));
    end_heap(h);
}

/* A replacement that returns NULL for 0 bytes still gives a unique pointer. */
TEST(zero_size_from_replacement)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    REQUIRE(h != NULL);
    counter c = {0};
    c.null_for_zero = 1;
    rcgc_allocator a = counting(&c);
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_RAW, &a), 0);
    void *p = rcgc_heap_malloc(h, RCGC_DOMAIN_RAW, 0);
    void *q = rcgc_heap_calloc(h, RCGC_DOMAIN_RAW, 0, 4);
    CHECK(p != NULL && q != NULL && p != q);
    CHECK_EQ(c.mallocs, 2); /* 0 bytes, then 1 */
    rcgc_heap_free(h, RCGC_DOMAIN_RAW, p);
    rcgc_heap_free(h, RCGC_DOMAIN_RAW, q);
    CHECK_EQ(c.live, 0);
    end_heap(h);
}

TEST(config_choices)
{
    counter raw = {0};
    rcgc_heap_config cfg;
    rcgc_heap_config_init(&cfg);
    cfg.raw = counting(&raw);
    cfg.use_pymalloc = 0; /* PYTHONMALLOC=malloc */
    rcgc_heap *h = rcgc_heap_new(&cfg);
    REQUIRE(h != NULL);
    CHECK(rcgc_heap_pymalloc(h) == NULL);
    CHECK_EQ(raw.live, 1); /* the heap itself */
    void *m = rcgc_heap_malloc(h, RCGC_DOMAIN_MEM, 16);
    void *o = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 16);
    CHECK_EQ(raw.live, 3);
    rcgc_heap_free(h, RCGC_DOMAIN_MEM, m);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, o);
    end_heap(h);
    CHECK_EQ(raw.live, 0);
    /* the pool allocator's own tables and large blocks come from raw */
    rcgc_heap_config_init(&cfg);
    cfg.raw = counting(&raw);
    h = rcgc_heap_new(&cfg);
    REQUIRE(h != NULL);
    long base = raw.live;
    CHECK(base >= 2); /* heap + pool allocator state */
    void *big = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 4096);
    CHECK_EQ(raw.live, base + 1);
    void *small = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 64);
    CHECK(raw.live >= base + 1);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, big);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, small);
    end_heap(h);
    CHECK_EQ(raw.live, 0);
    /* a custom domain allocator from the config */
    counter obj = {0};
    rcgc_heap_config_init(&cfg);
    cfg.obj = counting(&obj);
    h = rcgc_heap_new(&cfg);
    REQUIRE(h != NULL);
    void *x = rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 16);
    CHECK_EQ(obj.live, 1);
    rcgc_heap_free(h, RCGC_DOMAIN_OBJ, x);
    end_heap(h);
    /* incomplete allocators are refused */
    rcgc_heap_config_init(&cfg);
    cfg.mem.malloc = c_malloc;
    CHECK(rcgc_heap_new(&cfg) == NULL);
}

TEST(debug_hooks_on_every_domain)
{
    rcgc_heap_config cfg;
    rcgc_heap_config_init(&cfg);
    cfg.debug_hooks = 1;
    rcgc_heap *h = rcgc_heap_new(&cfg);
    REQUIRE(h != NULL);
    REQUIRE(rcgc_heap_memdebug(h) != NULL);
    static const char ids[3] = {'r', 'm', 'o'};
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        rcgc_allocator a;
        rcgc_heap_get_allocator(h, (rcgc_domain)d, &a);
        CHECK(rcgc_memdebug_is_wrapper(&a));
        unsigned char *p = rcgc_heap_malloc(h, (rcgc_domain)d, 10);
        REQUIRE(p != NULL);
        CHECK(p[-8] == ids[d]);
        CHECK_EQ((uintptr_t)p % 16, 0);
        rcgc_heap_free(h, (rcgc_domain)d, p);
    }
    /* idempotent: a second setup wraps nothing again */
    rcgc_allocator before, after;
    rcgc_heap_get_allocator(h, RCGC_DOMAIN_OBJ, &before);
    CHECK_EQ(rcgc_heap_setup_debug_hooks(h), 0);
    rcgc_heap_get_allocator(h, RCGC_DOMAIN_OBJ, &after);
    CHECK(before.ctx == after.ctx);
    CHECK_EQ(rcgc_memdebug_live_blocks(rcgc_heap_memdebug(h)), 0);
    end_heap(h);
}

TEST(debug_hooks_later)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    REQUIRE(h != NULL);
    CHECK_EQ(rcgc_heap_setup_debug_hooks(h), 0);
    unsigned char *p = rcgc_heap_malloc(h, RCGC_DOMAIN_MEM, 10);
    REQUIRE(p != NULL);
    CHECK(p[-8] == 'm');
    void *old_raw = rcgc_heap_malloc(h, RCGC_DOMAIN_RAW, 7); /* from libc */
    /* a replaced domain can be hooked again */
    counter c = {0};
    rcgc_allocator a = counting(&c);
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_RAW, &a), 0);
    CHECK_EQ(rcgc_heap_setup_debug_hooks(h), 0);
    void *r = rcgc_heap_malloc(h, RCGC_DOMAIN_RAW, 5);
    CHECK_EQ(c.live, 1);
    CHECK(((unsigned char *)r)[-8] == 'r');
    CHECK_EQ(rcgc_heap_check(h), 0);
    rcgc_heap_free(h, RCGC_DOMAIN_RAW, r);
    /* the debug layer frees a block with the allocator that made it */
    rcgc_heap_free(h, RCGC_DOMAIN_RAW, old_raw);
    CHECK_EQ(c.frees, 1);
    rcgc_heap_free(h, RCGC_DOMAIN_MEM, p);
    CHECK_EQ(c.live, 0);
    end_heap(h);
}

TEST(destroy_reports_live_blocks)
{
    rcgc_heap *h = rcgc_heap_new(NULL);
    REQUIRE(h != NULL);
    void *p = rcgc_heap_malloc(h, RCGC_DOMAIN_RAW, 10);
    (void)rcgc_heap_malloc(h, RCGC_DOMAIN_OBJ, 10); /* pool memory: goes */
    CHECK_EQ(rcgc_heap_destroy(h), RCGC_ELIVE);
    free(p); /* a raw block stays the C library's */
    CHECK_EQ(rcgc_heap_destroy(NULL), 0);
}

TEST_MAIN(T(defaults), T(front_end_guards), T(get_set_allocator),
          T(zero_size_from_replacement), T(config_choices),
          T(debug_hooks_on_every_domain), T(debug_hooks_later),
          T(destroy_reports_live_blocks))

/*
 * test_alloc.c - the pool allocator (src/mem/pymalloc.c, arenamap.c, pmcheck.c):
 * size classes, lazy carving, pool states, arena ordering and release,
 * "is this pointer ours", realloc, alignment, trim, statistics, and the
 * invariant checker after random workloads (seed printed; RCGC_TEST_SEED
 * replays one).  White-box where the behaviour is not visible through the
 * API: the tests read the pool headers (src/mem/alloc_internal.h).
 *
 * Every test destroys its allocator and checks that no block was left.
 */
#define _DEFAULT_SOURCE
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mem/alloc_internal.h"
#include "test.h"

#define MB ((size_t)1 << 20)
#define KB16 ((size_t)16384)

/* ---- helpers ---- */

/* An allocator keeping `retain` wholly free arenas (no percentage: with 1,
 * CPython's rule exactly). */
static rcgc_pymalloc *new_pm(int retain)
{
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    cfg.retain_free_arenas = retain;
    cfg.retain_free_percent = 0;
    return rcgc_pymalloc_new(&cfg);
}

/* Destroy pm and check nothing was left allocated. */
static void end_pm(rcgc_pymalloc *pm)
{
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 0);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
}

static size_t class_size(size_t n)
{
    return ((n - 1) / 16 + 1) * 16;
}

/* An arena allocator for tests: arenas at a chosen offset from a 1 MiB
 * boundary (misaligned when offset % 16384 != 0), failing on request. */
typedef struct test_arenas {
    size_t offset;  /* from a 1 MiB boundary */
    long allocs;    /* calls so far */
    long fail_from; /* fail calls >= this (0: never) */
    long live;      /* arenas held */
} test_arenas;

static void *ta_alloc(void *ctx, size_t size)
{
    test_arenas *t = ctx;
    t->allocs++;
    if (t->fail_from && t->allocs >= t->fail_from) return NULL;
    size_t span = size + 2 * MB;
    uint8_t *q = mmap(NULL, span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED) return NULL;
    uint8_t *a = (uint8_t *)(((uintptr_t)q + MB - 1) & ~(uintptr_t)(MB - 1)) + t->offset;
    if (a > q) munmap(q, (size_t)(a - q));
    if (a + size < q + span) munmap(a + size, (size_t)(q + span - (a + size)));
    t->live++;
    return a;
}

static void ta_free(void *ctx, void *ptr, size_t size)
{
    test_arenas *t = ctx;
    t->live--;
    munmap(ptr, size);
}

static void ta_decommit(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    madvise(ptr, size, MADV_DONTNEED);
}

static rcgc_pymalloc *new_pm_arenas(test_arenas *t, int retain)
{
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    rcgc_arena_allocator a = {t, ta_alloc, ta_free, ta_decommit};
    cfg.arena = a;
    cfg.retain_free_arenas = retain;
    cfg.retain_free_percent = 0;
    return rcgc_pymalloc_new(&cfg);
}

static uint64_t seed_from_env(void)
{
    const char *s = getenv("RCGC_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    printf("     %s: seed %llu (RCGC_TEST_SEED=%llu replays it)\n", t_current,
           (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static pm_pool *pool_of(const void *p)
{
    return PM_POOL_ADDR(p);
}

/* ---- size classes and carving ---- */

TEST(size_classes)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    void *p[513];
    for (size_t n = 1; n <= 512; n++) {
        p[n] = rcgc_pymalloc_malloc(pm, n);
        REQUIRE(p[n] != NULL);
        CHECK(rcgc_pymalloc_owns(pm, p[n]));
        CHECK_EQ(rcgc_pymalloc_block_size(pm, p[n]), class_size(n));
        CHECK_EQ((uintptr_t)p[n] % RCGC_PYMALLOC_ALIGNMENT, 0);
        memset(p[n], (int)n, n);
    }
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    for (int c = 0; c < RCGC_PYMALLOC_NCLASSES; c++) {
        CHECK_EQ(st.cls[c].size, (size_t)(c + 1) * 16);
        CHECK_EQ(st.cls[c].blocks_in_use, 16);
        CHECK_EQ(st.cls[c].pools, 1);
        CHECK_EQ(st.cls[c].blocks_in_use + st.cls[c].blocks_avail,
                 (16384 - 48) / st.cls[c].size);
    }
    CHECK_EQ(st.pool_blocks, 512);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    for (size_t n = 1; n <= 512; n++) {
        const unsigned char *b = p[n];
        CHECK(b[0] == (unsigned char)n && b[n - 1] == (unsigned char)n);
        rcgc_pymalloc_free(pm, p[n]);
    }
    /* 0 and above 512 bytes: the raw allocator */
    void *z = rcgc_pymalloc_malloc(pm, 0), *z2 = rcgc_pymalloc_malloc(pm, 0);
    void *big = rcgc_pymalloc_malloc(pm, 513);
    REQUIRE(z != NULL && z2 != NULL && big != NULL);
    CHECK(z != z2);
    CHECK(!rcgc_pymalloc_owns(pm, z) && !rcgc_pymalloc_owns(pm, big));
    CHECK_EQ(rcgc_pymalloc_block_size(pm, big), 0);
    CHECK_EQ((uintptr_t)big % 16, 0);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 3);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.raw_blocks, 3);
    rcgc_pymalloc_free(pm, z);
    rcgc_pymalloc_free(pm, z2);
    rcgc_pymalloc_free(pm, big);
    rcgc_pymalloc_free(pm, NULL);
    end_pm(pm);
}

TEST(lazy_carving)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    char *a = rcgc_pymalloc_malloc(pm, 24); /* class 1: 32 bytes */
    REQUIRE(a != NULL);
    pm_pool *pool = pool_of(a);
    /* the first block follows the header; only the second is on the list */
    CHECK_EQ((uintptr_t)a - (uintptr_t)pool, RCGC_PYMALLOC_POOL_OVERHEAD);
    CHECK_EQ(pool->szidx, 1);
    CHECK_EQ(pool->count, 1);
    CHECK_EQ(pool->nextoffset, 48 + 2 * 32);
    CHECK(pool->freeblock == (pm_block *)a + 32);
    /* blocks come out in address order; virgin blocks are carved a page at
     * a time: the rest of page 0 (blocks ending by 4096), nothing beyond */
    char *b = rcgc_pymalloc_malloc(pm, 32), *c = rcgc_pymalloc_malloc(pm, 17);
    CHECK(b == a + 32 && c == a + 64);
    CHECK_EQ(pool->nextoffset, 48 + 126 * 32);
    CHECK(pool->freeblock == (pm_block *)a + 96);
    /* a pool is carved from its arena only when needed */
    const pm_arena *ao = &pm->arenas[pool->arenaindex];
    CHECK(ao->pool_address == (pm_block *)pool + KB16);
    CHECK_EQ(ao->nfreepools, 63);
    rcgc_pymalloc_free(pm, b);
    CHECK(pool->freeblock == (pm_block *)b); /* LIFO free list */
    CHECK(rcgc_pymalloc_malloc(pm, 20) == b);
    rcgc_pymalloc_free(pm, a);
    rcgc_pymalloc_free(pm, b);
    rcgc_pymalloc_free(pm, c);
    end_pm(pm);
}

/* ---- pool states ---- */

TEST(pool_states)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    const uint32_t nb = (16384 - 48) / 512; /* 31 */
    void *blk[31];
    for (uint32_t i = 0; i < nb; i++) blk[i] = rcgc_pymalloc_malloc(pm, 512);
    pm_pool *pool = pool_of(blk[0]);
    CHECK(pool_of(blk[nb - 1]) == pool);
    /* full: off usedpools */
    CHECK(pm->usedpools[31].next == &pm->usedpools[31]);
    CHECK(pool->freeblock == NULL);
    void *other = rcgc_pymalloc_malloc(pm, 500);
    CHECK(pool_of(other) != pool);
    CHECK(pm->usedpools[31].next == &pool_of(other)->link);
    /* a free in the full pool puts it back in front (LRU) */
    rcgc_pymalloc_free(pm, blk[5]);
    CHECK(pm->usedpools[31].next == &pool->link);
    CHECK(rcgc_pymalloc_malloc(pm, 512) == blk[5]);
    CHECK(pm->usedpools[31].next == &pool_of(other)->link); /* full again */
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* empty: on its arena's freepools; reused for another class */
    for (uint32_t i = 0; i < nb; i++) rcgc_pymalloc_free(pm, blk[i]);
    pm_arena *ao = &pm->arenas[pool->arenaindex];
    CHECK(ao->freepools == pool);
    CHECK_EQ(pool->count, 0);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    void *small = rcgc_pymalloc_malloc(pm, 16);
    CHECK(pool_of(small) == pool);
    CHECK_EQ(pool->szidx, 0);
    CHECK(small == (char *)pool + 48);
    rcgc_pymalloc_free(pm, small);
    /* an empty pool is always carved afresh, in address order */
    void *again = rcgc_pymalloc_malloc(pm, 16);
    void *next = rcgc_pymalloc_malloc(pm, 16);
    CHECK(again == small && next == (char *)small + 16);
    rcgc_pymalloc_free(pm, next);
    rcgc_pymalloc_free(pm, again);
    rcgc_pymalloc_free(pm, other);
    end_pm(pm);
}

/* ---- arenas ---- */

/* Allocate n pools' worth of 512-byte blocks; returns the blocks. */
static void **fill_pools(rcgc_pymalloc *pm, size_t npools)
{
    size_t n = npools * 31;
    void **v = malloc((n + 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = rcgc_pymalloc_malloc(pm, 512);
    v[n] = NULL;
    return v;
}

/* Free the blocks of pools [first, first + count) of v. */
static void free_pools(rcgc_pymalloc *pm, void **v, size_t first, size_t count)
{
    for (size_t i = first * 31; i < (first + count) * 31; i++) {
        rcgc_pymalloc_free(pm, v[i]);
        v[i] = NULL;
    }
}

static const pm_arena *arena_of(const rcgc_pymalloc *pm, const void *p)
{
    return &pm->arenas[pool_of(p)->arenaindex];
}

TEST(arena_ordering)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    void **v = fill_pools(pm, 3 * 64); /* three full arenas A, B, C */
    const pm_arena *A = arena_of(pm, v[0]), *B = arena_of(pm, v[64 * 31]),
                   *C = arena_of(pm, v[128 * 31]);
    CHECK(A != B && B != C && A != C);
    CHECK(pm->usable_arenas == NULL);
    free_pools(pm, v, 0, 2);       /* A: 2 free pools */
    free_pools(pm, v, 64, 5);      /* B: 5 */
    free_pools(pm, v, 128, 1);     /* C: 1 */
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* usable_arenas by ascending free pools: C, A, B */
    CHECK(pm->usable_arenas == C);
    CHECK(C->nextarena == A && A->nextarena == B && B->nextarena == NULL);
    CHECK(pm->nfp2lasta[1] == C && pm->nfp2lasta[2] == A && pm->nfp2lasta[5] == B);
    /* a new pool comes from the fullest arena */
    void *x = rcgc_pymalloc_malloc(pm, 16);
    CHECK(arena_of(pm, x) == C);
    CHECK(pm->usable_arenas == A); /* C is full again */
    /* freeing more in A moves it behind B once it has more free pools */
    free_pools(pm, v, 2, 4);       /* A: 6 */
    CHECK(pm->usable_arenas == B && B->nextarena == A);
    CHECK(pm->nfp2lasta[6] == A && pm->nfp2lasta[5] == B);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    rcgc_pymalloc_free(pm, x);
    for (size_t i = 0; i < 3 * 64 * 31; i++) rcgc_pymalloc_free(pm, v[i]);
    free(v);
    end_pm(pm);
}

TEST(arena_release)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    void **v = fill_pools(pm, 3 * 64);
    void *a0 = v[0], *b0 = v[64 * 31];
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 3);
    CHECK_EQ(st.arenas_highwater, 3);
    /* B wholly free: the last usable arena, kept (bpo-37257) */
    free_pools(pm, v, 64, 64);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 3);
    CHECK_EQ(st.arenas_free, 1);
    /* A wholly free but not the last usable arena: given back */
    free_pools(pm, v, 0, 64);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 2);
    CHECK_EQ(st.arenas_reclaimed, 1);
    CHECK_EQ(st.arenas_allocated_total, 3);
    CHECK(!rcgc_pymalloc_owns(pm, a0)); /* unmapped and unregistered */
    CHECK(rcgc_pymalloc_owns(pm, b0));  /* still mapped */
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* C too: one wholly free arena is left */
    free_pools(pm, v, 128, 64);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 1);
    CHECK_EQ(st.arenas_free, 1);
    CHECK_EQ(st.arenas_reclaimed, 2);
    /* a loop that allocates and frees one block maps nothing new */
    for (int i = 0; i < 1000; i++) rcgc_pymalloc_free(pm, rcgc_pymalloc_malloc(pm, 64));
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_allocated_total, 3);
    /* trim gives the kept one back too */
    CHECK(rcgc_pymalloc_trim(pm) >= MB);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 0);
    free(v);
    end_pm(pm);
}

TEST(arena_retention)
{
    rcgc_pymalloc *pm = new_pm(3);
    REQUIRE(pm != NULL);
    void **v = fill_pools(pm, 6 * 64);
    /* free arenas 0..4 one by one; arena 5 stays full (not usable) */
    for (int a = 0; a < 5; a++) free_pools(pm, v, (size_t)a * 64, 64);
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_free, 3);
    CHECK_EQ(st.arenas_current, 4);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* reused before a new arena is mapped */
    void **w = fill_pools(pm, 64);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_allocated_total, 6);
    CHECK_EQ(st.arenas_free, 2);
    free_pools(pm, w, 0, 64);
    free_pools(pm, v, 5 * 64, 64);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_free, 3);
    free(v);
    free(w);
    end_pm(pm);
    CHECK(new_pm(0) == NULL); /* retain must be >= 1 */
}

/* The default keeps wholly free arenas up to a quarter of those in use. */
TEST(arena_retention_percent)
{
    rcgc_pymalloc *pm = rcgc_pymalloc_new(NULL);
    REQUIRE(pm != NULL);
    void **v = fill_pools(pm, 24 * 64); /* 24 full arenas */
    /* free arenas 0..15, one by one: 8 stay in use */
    for (int a = 0; a < 16; a++) free_pools(pm, v, (size_t)a * 64, 64);
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_free, 2); /* 25 % of the 8 in use */
    CHECK_EQ(st.arenas_current, 10);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    for (int a = 16; a < 24; a++) free_pools(pm, v, (size_t)a * 64, 64);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 1); /* the last usable one */
    free(v);
    end_pm(pm);
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    CHECK_EQ(cfg.retain_free_percent, 25);
    cfg.retain_free_percent = -1;
    CHECK(rcgc_pymalloc_new(&cfg) == NULL);
}

/* ---- ownership ---- */

static int a_static;

TEST(ownership)
{
    test_arenas ta = {4096 + 16, 0, 0, 0}; /* misaligned arenas */
    rcgc_pymalloc *pm = new_pm_arenas(&ta, 1);
    REQUIRE(pm != NULL);
    int on_stack = 0;
    void *libc = malloc(32);
    CHECK(!rcgc_pymalloc_owns(pm, NULL));
    CHECK(!rcgc_pymalloc_owns(pm, &on_stack));
    CHECK(!rcgc_pymalloc_owns(pm, &a_static));
    CHECK(!rcgc_pymalloc_owns(pm, libc));
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(uintptr_t)-16)); /* beyond 48 bits */
    CHECK(!rcgc_pymalloc_owns(pm, (void *)((uintptr_t)1 << 50)));
    char *p = rcgc_pymalloc_malloc(pm, 100);
    REQUIRE(p != NULL);
    CHECK_EQ(ta.live, 1);
    const pm_arena *ao = arena_of(pm, p);
    char *base = (char *)ao->address;
    CHECK_EQ((uintptr_t)base % MB, 4096 + 16);
    CHECK(rcgc_pymalloc_owns(pm, p) && rcgc_pymalloc_owns(pm, p + 5));
    CHECK(rcgc_pymalloc_owns(pm, base));
    CHECK(rcgc_pymalloc_owns(pm, base + MB - 1));
    CHECK(!rcgc_pymalloc_owns(pm, base - 1));
    CHECK(!rcgc_pymalloc_owns(pm, base + MB));
    CHECK(!rcgc_pymalloc_owns(pm, &on_stack));
    /* misaligned: 63 pools, 16 KiB lost to alignment */
    CHECK_EQ(ao->ntotalpools, 63);
    CHECK_EQ((uintptr_t)pool_of(p) % KB16, 0);
    CHECK(pool_of(p) == (pm_pool *)(((uintptr_t)base + KB16 - 1) & ~(KB16 - 1)));
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.alignment_bytes, KB16);
    CHECK_EQ(st.allocated_bytes + st.available_bytes + st.unused_pool_bytes +
                 st.pool_header_bytes + st.quantization_bytes + st.alignment_bytes,
             st.arena_bytes);
    /* free and realloc pass foreign blocks to raw */
    void *moved = rcgc_pymalloc_realloc(pm, libc, 64);
    REQUIRE(moved != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, moved));
    free(moved);
    rcgc_pymalloc_free(pm, p);
    rcgc_pymalloc_trim(pm);
    CHECK_EQ(ta.live, 0);
    CHECK(!rcgc_pymalloc_owns(pm, base));
    end_pm(pm);
}

/* Two misaligned arenas in consecutive ideal slots share a leaf. */
TEST(radix_shared_leaf)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    /* reserve 4 MiB, place "arenas" by hand through the map */
    uint8_t *q = mmap(NULL, 4 * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(q != MAP_FAILED);
    uintptr_t slot = ((uintptr_t)q + MB - 1) & ~(uintptr_t)(MB - 1);
    uintptr_t a1 = slot + 0x3000, a2 = a1 + MB + 0x1000; /* a2 starts in a1's tail slot */
    CHECK_EQ(rcgc__pm_map_mark(pm, a1, 1), 0);
    CHECK_EQ(rcgc__pm_map_mark(pm, a2, 1), 0);
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(a1 - 1)));
    CHECK(rcgc_pymalloc_owns(pm, (void *)a1));
    CHECK(rcgc_pymalloc_owns(pm, (void *)(a1 + MB - 1)));
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(a1 + MB)));      /* the gap */
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(a2 - 1)));
    CHECK(rcgc_pymalloc_owns(pm, (void *)a2));
    CHECK(rcgc_pymalloc_owns(pm, (void *)(a2 + MB - 1)));
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(a2 + MB)));
    CHECK_EQ(rcgc__pm_map_mark(pm, a1, 0), 0);
    CHECK(!rcgc_pymalloc_owns(pm, (void *)a1));
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(a1 + MB - 1)));
    CHECK(rcgc_pymalloc_owns(pm, (void *)a2));               /* untouched */
    CHECK_EQ(rcgc__pm_map_mark(pm, a2, 0), 0);
    CHECK(!rcgc_pymalloc_owns(pm, (void *)(a2 + 10)));
    CHECK_EQ(rcgc__pm_map_mark(pm, (uintptr_t)1 << 48, 1), RCGC_EINVAL);
    munmap(q, 4 * MB);
    end_pm(pm);
}

/* ---- realloc ---- */

TEST(realloc_rules)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    char *p = rcgc_pymalloc_realloc(pm, NULL, 64); /* NULL: malloc */
    REQUIRE(p != NULL);
    for (int i = 0; i < 64; i++) p[i] = (char)i;
    /* shrinking by less than a quarter: in place */
    CHECK(rcgc_pymalloc_realloc(pm, p, 49) == p);
    CHECK(rcgc_pymalloc_realloc(pm, p, 64) == p);
    /* by a quarter or more: moved to the smaller class */
    char *q = rcgc_pymalloc_realloc(pm, p, 48);
    REQUIRE(q != NULL);
    CHECK(q != p);
    CHECK_EQ(rcgc_pymalloc_block_size(pm, q), 48);
    CHECK(memcmp(q, "\0\1\2\3\4\5\6\7", 8) == 0 && q[47] == 47);
    /* growing inside the block: in place; across classes: moved, copied */
    char *r = rcgc_pymalloc_realloc(pm, q, 40);
    CHECK(r == q);
    char *s = rcgc_pymalloc_realloc(pm, r, 300);
    REQUIRE(s != NULL);
    CHECK(s != r && s[0] == 0 && s[47] == 47);
    CHECK_EQ(rcgc_pymalloc_block_size(pm, s), 304);
    /* above 512: to raw; back below: stays raw (never adopted) */
    char *big = rcgc_pymalloc_realloc(pm, s, 5000);
    REQUIRE(big != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, big) && big[47] == 47);
    char *big2 = rcgc_pymalloc_realloc(pm, big, 10);
    REQUIRE(big2 != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, big2) && big2[9] == 9);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 1);
    rcgc_pymalloc_free(pm, big2);
    /* realloc(p, 0) does not free: it returns a valid (raw) block */
    char *t = rcgc_pymalloc_malloc(pm, 32);
    char *z = rcgc_pymalloc_realloc(pm, t, 0);
    REQUIRE(z != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, z));
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 1);
    rcgc_pymalloc_free(pm, z);
    end_pm(pm);
}

TEST(calloc_zeroes)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    unsigned char *p = rcgc_pymalloc_malloc(pm, 100);
    memset(p, 0xAB, 100);
    rcgc_pymalloc_free(pm, p);
    unsigned char *q = rcgc_pymalloc_calloc(pm, 10, 10);
    CHECK(q == p); /* the same block again, zeroed */
    int zero = 1;
    for (int i = 0; i < 100; i++) zero &= q[i] == 0;
    CHECK(zero);
    CHECK(rcgc_pymalloc_calloc(pm, SIZE_MAX / 2, 3) == NULL); /* overflow */
    void *e = rcgc_pymalloc_calloc(pm, 0, 8);
    void *big = rcgc_pymalloc_calloc(pm, 100, 100);
    CHECK(e != NULL && big != NULL && !rcgc_pymalloc_owns(pm, big));
    CHECK(((unsigned char *)big)[9999] == 0);
    rcgc_pymalloc_free(pm, e);
    rcgc_pymalloc_free(pm, big);
    rcgc_pymalloc_free(pm, q);
    end_pm(pm);
}

/* ---- trim ---- */

TEST(trim_pages)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    /* 31 blocks of 512 in one pool: blocks 0..7 start in page 0 (block 7
     * overlaps page 1), 8..15 in page 1, 16..23 in page 2, 24..30 in page 3 */
    char *b[31];
    for (int i = 0; i < 31; i++) b[i] = rcgc_pymalloc_malloc(pm, 512);
    pm_pool *pool = pool_of(b[0]);
    for (int i = 1; i < 31; i++) CHECK(pool_of(b[i]) == pool);
    for (int i = 8; i < 31; i++) rcgc_pymalloc_free(pm, b[i]);
    /* pages 1 (block 7 is live there) stays; pages 2 and 3 go */
    size_t freed = rcgc_pymalloc_trim(pm);
    CHECK_EQ(freed, 2 * 4096);
    CHECK_EQ(pool->parked, (1u << 2) | (1u << 3));
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.decommitted_bytes, 2 * 4096);
    CHECK_EQ(rcgc_pymalloc_trim(pm), 0); /* nothing more */
    /* allocating again brings the pages back, in order */
    for (int i = 8; i < 31; i++) {
        b[i] = rcgc_pymalloc_malloc(pm, 512);
        REQUIRE(b[i] != NULL);
        memset(b[i], i, 512);
    }
    CHECK_EQ(pool->parked, 0);
    CHECK(pool->freeblock == NULL); /* full */
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* page 2 stays: block 15 is live and overlaps it */
    for (int i = 16; i < 31; i++) rcgc_pymalloc_free(pm, b[i]);
    freed = rcgc_pymalloc_trim(pm);
    CHECK_EQ(freed, 4096);
    CHECK_EQ(pool->parked, 1u << 3);
    CHECK(pool->freeblock == (pm_block *)b[16]); /* rebuilt in address order */
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* an empty pool: its pages 1..3 go, it forgets its class */
    void *keep = rcgc_pymalloc_malloc(pm, 64); /* so the arena stays */
    for (int i = 0; i < 16; i++) rcgc_pymalloc_free(pm, b[i]);
    CHECK_EQ(pool->count, 0);
    freed = rcgc_pymalloc_trim(pm);
    CHECK_EQ(freed, 2 * 4096); /* page 3 was already given back */
    CHECK_EQ(pool->szidx, PM_DUMMY_SIZE_IDX);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    char *x = rcgc_pymalloc_malloc(pm, 512);
    REQUIRE(x != NULL);
    memset(x, 1, 512);
    rcgc_pymalloc_free(pm, x);
    rcgc_pymalloc_free(pm, keep);
    end_pm(pm);
}

/* A used pool keeps a free block on its list: when every free block starts
 * in a page that could go, the lowest such page stays. */
TEST(trim_keeps_a_free_block)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    /* 16-byte blocks never straddle pages: block i is at 48 + 16 i, page 1
     * starts at block 253, page 2 at 509, page 3 at 765 */
    enum { NB = 1021 };
    char **b = malloc(NB * sizeof *b);
    for (int i = 0; i < NB; i++) b[i] = rcgc_pymalloc_malloc(pm, 16);
    pm_pool *pool = pool_of(b[0]);
    CHECK(pool_of(b[NB - 1]) == pool);
    CHECK(b[509] == (char *)pool + 2 * 4096);
    for (int i = 509; i < NB; i++) rcgc_pymalloc_free(pm, b[i]);
    CHECK_EQ(rcgc_pymalloc_trim(pm), 4096); /* page 3 only */
    CHECK_EQ(pool->parked, 1u << 3);
    CHECK(pool->freeblock == (pm_block *)b[509]);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    for (int i = 0; i < 509; i++) rcgc_pymalloc_free(pm, b[i]);
    free(b);
    end_pm(pm);
}

/* ---- statistics ---- */

TEST(stats_numbers)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    void *a[100], *b[10];
    for (int i = 0; i < 100; i++) a[i] = rcgc_pymalloc_malloc(pm, 16);
    for (int i = 0; i < 10; i++) b[i] = rcgc_pymalloc_malloc(pm, 512);
    void *raw = rcgc_pymalloc_malloc(pm, 1000);
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.cls[0].pools, 1);
    CHECK_EQ(st.cls[0].blocks_in_use, 100);
    CHECK_EQ(st.cls[0].blocks_avail, 921);
    CHECK_EQ(st.cls[31].blocks_in_use, 10);
    CHECK_EQ(st.cls[31].blocks_avail, 21);
    CHECK_EQ(st.arenas_allocated_total, 1);
    CHECK_EQ(st.arenas_current, 1);
    CHECK_EQ(st.arenas_highwater, 1);
    CHECK_EQ(st.arena_bytes, MB);
    CHECK_EQ(st.allocated_bytes, 100 * 16 + 10 * 512);
    CHECK_EQ(st.available_bytes, 921 * 16 + 21 * 512);
    CHECK_EQ(st.unused_pools, 62);
    CHECK_EQ(st.pool_header_bytes, 2 * 48);
    CHECK_EQ(st.quantization_bytes, 0 + (16384 - 48) % 512);
    CHECK_EQ(st.alignment_bytes, 0);
    CHECK_EQ(st.allocated_bytes + st.available_bytes + st.unused_pool_bytes +
                 st.pool_header_bytes + st.quantization_bytes + st.alignment_bytes,
             st.arena_bytes);
    CHECK_EQ(st.map_bot_nodes, 1);
    CHECK_EQ(st.map_root_bytes, 16384 * 8);
    CHECK_EQ(st.map_bot_bytes, 16384 * 8);
    CHECK_EQ(st.pool_blocks, 110);
    CHECK_EQ(st.raw_blocks, 1);
    /* side bytes: 64 KiB reserved; with the C library as raw (fresh
     * pages), touchable only in the page holding the two carved pools'
     * 1 KiB slices */
    long pg = sysconf(_SC_PAGESIZE);
    REQUIRE(pg > 0 && pg <= 65536);
    CHECK_EQ(st.side_bytes, 65536);
    CHECK_EQ(st.side_touchable_bytes, pg);
    /* the text, as sys._debugmallocstats() */
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    REQUIRE(f != NULL);
    rcgc_pymalloc_stats_print(&st, f);
    fclose(f);
    CHECK(strstr(buf, "Small block threshold = 512, in 32 size classes.\n") != NULL);
    CHECK(strstr(buf, "class   size   num pools   blocks in use  avail blocks\n"
                      "-----   ----   ---------   -------------  ------------\n"
                      "    0     16           1             100           921\n"
                      "   31    512           1              10            21\n") != NULL);
    CHECK(strstr(buf, "# arenas allocated total           =                    1\n") != NULL);
    CHECK(strstr(buf, "1 arenas * 1048576 bytes/arena     =            1,048,576\n") != NULL);
    CHECK(strstr(buf, "62 unused pools * 16384 bytes      =            1,015,808\n") != NULL);
    CHECK(strstr(buf, "# bytes lost to quantization       =                  464\n") != NULL);
    CHECK(strstr(buf, "Total                              =            1,048,576\n") != NULL);
    CHECK(strstr(buf, "# bytes lost to arena map root     =              131,072\n") != NULL);
    CHECK(strstr(buf, "# bytes in side arrays             =               65,536\n") != NULL);
    CHECK(strstr(buf, "# side bytes carved pools can touch=") != NULL);
    /* JSON */
    f = fmemopen(buf, sizeof buf, "w");
    REQUIRE(f != NULL);
    rcgc_pymalloc_stats_json(&st, f);
    fclose(f);
    CHECK(buf[0] == '{' && buf[strlen(buf) - 1] == '}');
    CHECK(strstr(buf, "{\"class\": 0, \"size\": 16, \"pools\": 1, "
                      "\"blocks_in_use\": 100, \"avail_blocks\": 921}") != NULL);
    CHECK(strstr(buf, "\"arenas_current\": 1") != NULL);
    CHECK(strstr(buf, "\"quantization_bytes\": 464") != NULL);
    CHECK(strstr(buf, "\"side_bytes\": 65536") != NULL);
    CHECK(strstr(buf, "\"side_touchable_bytes\": ") != NULL);
    for (int i = 0; i < 100; i++) rcgc_pymalloc_free(pm, a[i]);
    for (int i = 0; i < 10; i++) rcgc_pymalloc_free(pm, b[i]);
    rcgc_pymalloc_free(pm, raw);
    end_pm(pm);
}

/* ---- failures ---- */

TEST(arena_failure_falls_back_to_raw)
{
    test_arenas ta = {0, 0, 2, 0}; /* the second arena fails */
    rcgc_pymalloc *pm = new_pm_arenas(&ta, 1);
    REQUIRE(pm != NULL);
    void **v = fill_pools(pm, 64);            /* the first arena, full */
    void *p = rcgc_pymalloc_malloc(pm, 512);  /* no second arena: raw */
    REQUIRE(p != NULL);
    CHECK(!rcgc_pymalloc_owns(pm, p));
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 64 * 31 + 1);
    void *z = rcgc_pymalloc_calloc(pm, 1, 16);
    REQUIRE(z != NULL);
    CHECK(((char *)z)[15] == 0);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    rcgc_pymalloc_free(pm, p);
    rcgc_pymalloc_free(pm, z);
    free_pools(pm, v, 0, 64);
    free(v);
    end_pm(pm);
    CHECK_EQ(ta.live, 0);
}

/* A raw allocator over the C library that counts live blocks and fails
 * requests of the side array's size (PM_SIDE_PER_ARENA) while fail_side. */
static struct {
    int fail_side;
    long failed, live;
} rawside;

static void *rs_malloc(void *ctx, size_t n)
{
    (void)ctx;
    void *p = malloc(n);
    rawside.live += p != NULL;
    return p;
}

static void *rs_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    if (rawside.fail_side && n * size == PM_SIDE_PER_ARENA) {
        rawside.failed++;
        return NULL;
    }
    void *p = calloc(n, size);
    rawside.live += p != NULL;
    return p;
}

static void *rs_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    void *q = realloc(p, n);
    rawside.live += p == NULL && q != NULL;
    return q;
}

static void rs_free(void *ctx, void *p)
{
    (void)ctx;
    rawside.live -= p != NULL;
    free(p);
}

static int count_nonzero(void *arg, const void *granule, uint8_t byte,
                         int allocated)
{
    (void)granule;
    (void)byte;
    (void)allocated;
    ++*(long *)arg;
    return 0;
}

/* The side bytes come with an arena (issue 17): when they cannot be had,
 * the arena is not taken (its allocator is not even called) and the block
 * comes from raw; a later arena gets them, zeroed, one slice per pool, and
 * they go with the arena. */
TEST(side_array_failure_fails_the_arena)
{
    memset(&rawside, 0, sizeof rawside);
    test_arenas ta = {0, 0, 0, 0};
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    rcgc_arena_allocator a = {&ta, ta_alloc, ta_free, ta_decommit};
    rcgc_allocator raw = {NULL, rs_malloc, rs_calloc, rs_realloc, rs_free};
    cfg.arena = a;
    cfg.raw = raw;
    cfg.retain_free_arenas = 1;
    cfg.retain_free_percent = 0;
    rcgc_pymalloc *pm = rcgc_pymalloc_new(&cfg);
    REQUIRE(pm != NULL);
    rawside.fail_side = 1;
    void *p = rcgc_pymalloc_malloc(pm, 32);
    REQUIRE(p != NULL);
    CHECK(rawside.failed > 0);
    CHECK(!rcgc_pymalloc_owns(pm, p)); /* raw's */
    CHECK_EQ(ta.allocs, 0);
    CHECK_EQ(ta.live, 0);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    rawside.fail_side = 0;
    char *q = rcgc_pymalloc_malloc(pm, 32), *r = rcgc_pymalloc_malloc(pm, 100);
    REQUIRE(q != NULL && r != NULL);
    CHECK(rcgc_pymalloc_owns(pm, q));
    CHECK_EQ(ta.live, 1);
    const pm_arena *ao = arena_of(pm, q);
    /* each pool's slice is its arena's, at the pool's index; the byte of a
     * granule is granule >> 4 into it */
    CHECK(rcgc__pm_pool_side(pool_of(q)) ==
          ao->side + ((uintptr_t)pool_of(q) - rcgc__pm_first_pool(ao)) / KB16 * 1024);
    CHECK(rcgc__pm_side_byte(q) ==
          rcgc__pm_pool_side(pool_of(q)) + ((uintptr_t)q & (KB16 - 1)) / 16);
    CHECK(rcgc__pm_side_byte(r) != rcgc__pm_side_byte(q));
    CHECK(rcgc__pm_side_lookup(pm, q) == rcgc__pm_side_byte(q));
    CHECK(rcgc__pm_side_lookup(pm, p) == NULL);
    CHECK(rcgc__pm_side_lookup(NULL, q) == NULL);
    long nonzero = 0;
    CHECK_EQ(rcgc__pm_side_walk(pm, count_nonzero, &nonzero), 0);
    CHECK_EQ(nonzero, 0); /* fresh side bytes are zero */
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* from the embedder's raw allocator's calloc: all may be resident */
    CHECK(!pm->side_pages);
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.side_bytes, PM_SIDE_PER_ARENA);
    CHECK_EQ(st.side_touchable_bytes, PM_SIDE_PER_ARENA);
    rcgc_pymalloc_free(pm, p);
    rcgc_pymalloc_free(pm, q);
    rcgc_pymalloc_free(pm, r);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
    CHECK_EQ(ta.live, 0);
    CHECK_EQ(rawside.live, 0); /* the side bytes went with the arena */
}

/* rcgc__pm_side_walk reports each non-zero byte, in address order, with
 * whether its granule is in a block in use. */
typedef struct side_seen {
    int n;
    const void *granule[4];
    uint8_t byte[4];
    int allocated[4];
} side_seen;

static int record_side(void *arg, const void *granule, uint8_t byte,
                       int allocated)
{
    side_seen *s = arg;
    if (s->n < 4) {
        s->granule[s->n] = granule;
        s->byte[s->n] = byte;
        s->allocated[s->n] = allocated;
    }
    s->n++;
    return 0;
}

TEST(side_walk_sees_allocated_and_free)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    char *a = rcgc_pymalloc_malloc(pm, 48), *b = rcgc_pymalloc_malloc(pm, 48);
    REQUIRE(a != NULL && b != NULL && b == a + 48);
    *rcgc__pm_side_byte(a + 16) = 5; /* a granule inside a */
    *rcgc__pm_side_byte(b) = 7;
    rcgc_pymalloc_free(pm, b); /* b's byte now describes a free block */
    char *c = rcgc_pymalloc_malloc(pm, 200); /* another pool: a virgin one's
                                                 granule past nextoffset */
    REQUIRE(c != NULL);
    *rcgc__pm_side_byte(c + 4096) = 1;
    side_seen seen;
    memset(&seen, 0, sizeof seen);
    CHECK_EQ(rcgc__pm_side_walk(pm, record_side, &seen), 0);
    REQUIRE(seen.n == 3);
    CHECK(seen.granule[0] == a + 16 && seen.byte[0] == 5 && seen.allocated[0]);
    CHECK(seen.granule[1] == b && seen.byte[1] == 7 && !seen.allocated[1]);
    CHECK(seen.granule[2] == c + 4096 && seen.byte[2] == 1 && !seen.allocated[2]);
    *rcgc__pm_side_byte(a + 16) = 0;
    *rcgc__pm_side_byte(b) = 0;
    *rcgc__pm_side_byte(c + 4096) = 0;
    memset(&seen, 0, sizeof seen);
    CHECK_EQ(rcgc__pm_side_walk(pm, record_side, &seen), 0);
    CHECK_EQ(seen.n, 0);
    rcgc_pymalloc_free(pm, a);
    rcgc_pymalloc_free(pm, c);
    end_pm(pm);
}

TEST(destroy_counts_live_blocks)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    for (int i = 0; i < 5; i++) (void)rcgc_pymalloc_malloc(pm, 40);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(pm), 5);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 5); /* arenas go anyway */
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    cfg.raw.free = NULL; /* incomplete */
    CHECK(rcgc_pymalloc_new(&cfg) == NULL);
    CHECK_EQ(rcgc_pymalloc_destroy(NULL), 0);
}

/* ---- random workloads under the checker ---- */

typedef struct slot {
    unsigned char *p;
    size_t n;
    unsigned char tag;
} slot;

static int slot_ok(const slot *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i] != (unsigned char)(s->tag + i)) return 0;
    return 1;
}

static void slot_fill(slot *s)
{
    for (size_t i = 0; i < s->n; i++) s->p[i] = (unsigned char)(s->tag + i);
}

static void random_workload(rcgc_pymalloc *pm, uint64_t seed, long ops)
{
    enum { NSLOTS = 4096 };
    slot *s = calloc(NSLOTS, sizeof *s);
    long bad = 0;
    for (long op = 0; op < ops; op++) {
        uint64_t r = rng(&seed);
        slot *x = &s[r % NSLOTS];
        size_t n = (size_t)(r >> 20) % 700;
        if ((r >> 40) % 64 == 0) n = (size_t)(r >> 20) % 40; /* small ones */
        if (x->p != NULL && !slot_ok(x)) bad++;
        switch ((r >> 50) % 4) {
        case 0:
        case 1:
            rcgc_pymalloc_free(pm, x->p);
            x->p = (r >> 58) & 1 ? rcgc_pymalloc_malloc(pm, n)
                                 : rcgc_pymalloc_calloc(pm, 1, n);
            break;
        case 2: {
            if (x->p == NULL) continue;
            slot old = *x;
            x->p = rcgc_pymalloc_realloc(pm, x->p, n);
            if (x->p == NULL) break;
            x->n = old.n < n ? old.n : n; /* the kept prefix */
            if (!slot_ok(x)) bad++;
            break;
        }
        default:
            rcgc_pymalloc_free(pm, x->p);
            x->p = NULL;
            x->n = 0;
            continue;
        }
        if (x->p == NULL) {
            bad++;
            continue;
        }
        x->n = n;
        x->tag = (unsigned char)r;
        slot_fill(x);
        if ((uintptr_t)x->p % 16 != 0) bad++;
        if (op % 20000 == 0 && rcgc_pymalloc_check(pm, stderr) != 0) bad++;
        if (op % 50000 == 25000) (void)rcgc_pymalloc_trim(pm);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    for (int i = 0; i < NSLOTS; i++) {
        if (s[i].p != NULL && !slot_ok(&s[i])) bad++;
        rcgc_pymalloc_free(pm, s[i].p);
    }
    CHECK_EQ(bad, 0);
    free(s);
}

TEST(random_workload_checked)
{
    uint64_t seed = seed_from_env();
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    random_workload(pm, seed, t_scale(400000));
    end_pm(pm);
}

TEST(random_workload_misaligned_retaining)
{
    uint64_t seed = seed_from_env();
    test_arenas ta = {8192 + 48, 0, 0, 0};
    rcgc_pymalloc *pm = new_pm_arenas(&ta, 4);
    REQUIRE(pm != NULL);
    random_workload(pm, seed, t_scale(300000));
    end_pm(pm);
    CHECK_EQ(ta.live, 0);
}

/* Many arenas filled and drained in waves: ordering and release stay right. */
TEST(waves_of_arenas)
{
    uint64_t seed = seed_from_env();
    rcgc_pymalloc *pm = new_pm(2);
    REQUIRE(pm != NULL);
    long n = t_scale(200000);
    void **v = calloc((size_t)n, sizeof *v);
    for (int wave = 0; wave < 4; wave++) {
        for (long i = 0; i < n; i++)
            if (v[i] == NULL) v[i] = rcgc_pymalloc_malloc(pm, 16 + rng(&seed) % 400);
        CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
        static const long keep_of[4] = {50, 3, 0, 10}; /* n / keep_of */
        long keep = keep_of[wave] ? n / keep_of[wave] : 0;
        for (long i = 0; i < n; i++)
            if ((long)(rng(&seed) % (uint64_t)n) >= keep) {
                rcgc_pymalloc_free(pm, v[i]);
                v[i] = NULL;
            }
        CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    }
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    if (st.arenas_highwater > 3) CHECK(st.arenas_reclaimed > 0);
    for (long i = 0; i < n; i++) rcgc_pymalloc_free(pm, v[i]);
    free(v);
    end_pm(pm);
}

/* The checker notices damage (each kind restored afterwards). */
TEST(checker_finds_damage)
{
    rcgc_pymalloc *pm = new_pm(1);
    REQUIRE(pm != NULL);
    char *a = rcgc_pymalloc_malloc(pm, 32), *b = rcgc_pymalloc_malloc(pm, 32);
    rcgc_pymalloc_free(pm, b);
    pm_pool *pool = pool_of(a);
    FILE *devnull = fopen("/dev/null", "w");
    REQUIRE(devnull != NULL);
    CHECK_EQ(rcgc_pymalloc_check(pm, devnull), 0);
    pool->count++;
    CHECK_EQ(rcgc_pymalloc_check(pm, devnull), RCGC_ECORRUPT);
    pool->count--;
    pm_block *fb = pool->freeblock;
    pool->freeblock = (pm_block *)a + 8; /* not on a block boundary */
    CHECK_EQ(rcgc_pymalloc_check(pm, devnull), RCGC_ECORRUPT);
    pool->freeblock = fb;
    pm->nfree_arenas++;
    CHECK_EQ(rcgc_pymalloc_check(pm, devnull), RCGC_ECORRUPT);
    pm->nfree_arenas--;
    pm->arenas[0].nfreepools++;
    CHECK_EQ(rcgc_pymalloc_check(pm, devnull), RCGC_ECORRUPT);
    pm->arenas[0].nfreepools--;
    CHECK_EQ(rcgc_pymalloc_check(pm, devnull), 0);
    fclose(devnull);
    rcgc_pymalloc_free(pm, a);
    end_pm(pm);
}

TEST(hooks_and_default_config)
{
    rcgc_pymalloc *pm = rcgc_pymalloc_new(NULL);
    REQUIRE(pm != NULL);
    rcgc_allocator a = rcgc_pymalloc_allocator(pm);
    CHECK(a.ctx == pm);
    void *p = a.malloc(a.ctx, 10);
    p = a.realloc(a.ctx, p, 20);
    void *q = a.calloc(a.ctx, 2, 2);
    CHECK(rcgc_pymalloc_owns(pm, p) && rcgc_pymalloc_owns(pm, q));
    a.free(a.ctx, p);
    a.free(a.ctx, q);
    end_pm(pm);
}

/* Debug builds stop a free of a pointer that is not an allocated block. */
static void free_interior(void *arg)
{
    (void)arg;
    rcgc_pymalloc *pm = new_pm(1);
    char *p = rcgc_pymalloc_malloc(pm, 64);
    rcgc_pymalloc_free(pm, p + 16);
}

#ifdef RCGC__ASAN
#include <sanitizer/common_interface_defs.h>
static void die_by_signal(void)
{
    abort(); /* the death test wants a signal, ASan exits with 1 */
}
#endif

/* Under AddressSanitizer free pool blocks are poisoned. */
static void use_after_free(void *arg)
{
    (void)arg;
#ifdef RCGC__ASAN
    __sanitizer_set_death_callback(die_by_signal);
#endif
    rcgc_pymalloc *pm = new_pm(1);
    char *p = rcgc_pymalloc_malloc(pm, 64);
    rcgc_pymalloc_free(pm, p);
    p[20] = 1;
}

TEST(misuse_is_caught)
{
    if (RCGC_DEBUG >= 1)
        CHECK_DEATH(free_interior, NULL, "rcgc: fatal error: rcgc_pymalloc_free: ",
                    "is not an allocated block of this allocator");
#ifdef RCGC__ASAN
    CHECK_DEATH(use_after_free, NULL, "AddressSanitizer: use-after-poison");
#else
    (void)use_after_free;
#endif
}

TEST_MAIN(T(size_classes), T(lazy_carving), T(pool_states), T(arena_ordering),
          T(arena_release), T(arena_retention), T(arena_retention_percent),
          T(ownership),
          T(radix_shared_leaf), T(realloc_rules), T(calloc_zeroes),
          T(trim_pages), T(trim_keeps_a_free_block), T(stats_numbers), T(arena_failure_falls_back_to_raw),
          T(side_array_failure_fails_the_arena), T(side_walk_sees_allocated_and_free),
          T(destroy_counts_live_blocks), T(random_workload_checked),
          T(random_workload_misaligned_retaining), T(waves_of_arenas),
          T(checker_finds_damage), T(hooks_and_default_config),
          T(misuse_is_caught))

/*
 * test_side_resident.c - the pool allocator's side bytes are resident only
 * where a layer above writes them (docs/allocator.md, "Side bytes"): with
 * the C library as raw allocator (the default) an arena's 64 KiB side array
 * is fresh pages of the OS, so a program of plain pool blocks writes none
 * of its pages, tracked objects write only the pages of their pools'
 * slices, and freeze rewrites only the slices of pools ever carved.  With
 * an embedder's raw allocator the array is its calloc's, zero even when
 * its malloc hands out dirty memory.
 *
 * "Written" is read from /proc/self/pagemap: a page of a private anonymous
 * mapping that was only read maps the shared zero page (present, not
 * exclusive: not in the RSS); a written one is present and exclusively
 * mapped (bit 56).  mincore would count the read ones too.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/internal.h"
#include "mem/alloc_internal.h"
#include "test.h"

#define SIDE ((size_t)PM_SIDE_PER_ARENA)

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

/* The pages of [p, p + n) (rounded out to pages) that this process has
 * written (present and exclusively mapped), or -1 when pagemap cannot be
 * read. */
static long written_pages(const void *p, size_t n)
{
    size_t pg = page_size();
    uintptr_t lo = (uintptr_t)p / pg, hi = ((uintptr_t)p + n + pg - 1) / pg;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0) return -1;
    long count = 0;
    for (uintptr_t i = lo; i < hi; i++) {
        uint64_t e = 0;
        if (pread(fd, &e, sizeof e, (off_t)(i * sizeof e)) != (ssize_t)sizeof e) {
            count = -1;
            break;
        }
        count += (e >> 63 & 1) && (e >> 56 & 1);
    }
    close(fd);
    return count;
}

/* The written pages of every side array of pm, and (in *narenas) how many
 * arenas it holds. */
static long written_side_pages(const rcgc_pymalloc *pm, long *narenas)
{
    long total = 0, n = 0;
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        long w = written_pages(ao->side, SIDE);
        if (w < 0) return -1;
        total += w;
        n++;
    }
    if (narenas != NULL) *narenas = n;
    return total;
}

/* 1 if [p, p + n) is not mapped at all (mincore fails with ENOMEM). */
static int unmapped(const void *p, size_t n)
{
    unsigned char vec[64];
    size_t pg = page_size();
    if (n / pg > sizeof vec) return 0;
    return mincore((void *)(uintptr_t)p, n, vec) != 0 && errno == ENOMEM;
}

/* ---- plain pool blocks ---- */

#define BLOCK 64
#define PER_POOL ((16384 - 48) / BLOCK) /* 255 */

/* Three arenas of 64-byte blocks, every block written: not one page of
 * their side arrays is written (on main, glibc's calloc wrote all 16 of
 * each).  A byte set by hand writes exactly its page.  The arenas released
 * take their side arrays with them (unmapped). */
TEST(plain_blocks_write_no_side_page)
{
    rcgc_pymalloc *pm = rcgc_pymalloc_new(NULL);
    REQUIRE(pm != NULL);
    REQUIRE(pm->side_pages); /* the default raw allocator: the C library */
    size_t n = 3 * 64 * PER_POOL;
    char **v = malloc(n * sizeof *v);
    REQUIRE(v != NULL);
    for (size_t i = 0; i < n; i++) {
        v[i] = rcgc_pymalloc_malloc(pm, BLOCK);
        REQUIRE(v[i] != NULL);
        memset(v[i], 0x5a, BLOCK);
    }
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    REQUIRE(st.arenas_current >= 3);
    CHECK_EQ(st.side_bytes, st.arenas_current * SIDE);
    CHECK(st.side_touchable_bytes <= st.side_bytes);
    long narenas = 0;
    CHECK_EQ(written_side_pages(pm, &narenas), 0);
    CHECK_EQ(narenas, (long)st.arenas_current);
    /* the side arrays lie outside every arena */
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        CHECK(!rcgc_pymalloc_owns(pm, ao->side));
        CHECK(!rcgc_pymalloc_owns(pm, ao->side + SIDE - 1));
        CHECK_EQ((uintptr_t)ao->side % page_size(), 0);
    }
    /* one byte of the pool of v[0]: its page only */
    uint8_t *b = rcgc__pm_side_byte(v[0]);
    *b = 1;
    CHECK_EQ(written_side_pages(pm, NULL), 1);
    *b = 0;
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    /* free everything: the wholly free arenas but one are released, and
     * their side arrays unmapped */
    uint8_t *sides[8];
    int nsides = 0;
    for (uint32_t i = 0; i < pm->maxarenas && nsides < 8; i++)
        if (pm->arenas[i].address != 0) sides[nsides++] = pm->arenas[i].side;
    for (size_t i = 0; i < n; i++) rcgc_pymalloc_free(pm, v[i]);
    free(v);
    rcgc_pymalloc_get_stats(pm, &st);
    CHECK_EQ(st.arenas_current, 1);
    CHECK_EQ(st.side_bytes, SIDE);
    int gone = 0;
    for (int i = 0; i < nsides; i++) gone += unmapped(sides[i], SIDE);
    CHECK_EQ(gone, nsides - 1);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
}

/* ---- the side array's pages cannot be mapped ---- */

#ifndef RCGC__ASAN /* the test below is not run there */
/* The process's address space in bytes (VmSize), or 0. */
static size_t vm_size(void)
{
    char line[256];
    size_t kb = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmSize:", 7) == 0) kb = (size_t)atol(line + 7);
    fclose(f);
    return kb * 1024;
}

/* In a child: the address space limited to what it holds plus 16 KiB, so
 * that no 64 KiB mapping can be had; exit 0 when the pool allocator falls
 * back to raw without an arena and takes one once the limit is lifted,
 * 1 on a failed check, 77 when the limit cannot be imposed. */
static void map_failure_child(void)
{
    rcgc_pymalloc *pm = rcgc_pymalloc_new(NULL);
    if (pm == NULL || !pm->side_pages) _exit(1);
    free(malloc(16384)); /* room in the C library's heap for raw's blocks */
    struct rlimit old, lim;
    size_t vm = vm_size();
    if (vm == 0 || getrlimit(RLIMIT_AS, &old) != 0) _exit(77);
    lim = old;
    lim.rlim_cur = (rlim_t)(vm + 16384);
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(77);
    void *probe = mmap(NULL, SIDE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) _exit(77); /* the limit is not enforced */
    void *p = rcgc_pymalloc_malloc(pm, 32); /* no side array: raw's */
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    int ok = p != NULL && !rcgc_pymalloc_owns(pm, p) && st.arenas_current == 0 &&
             st.side_bytes == 0 && st.raw_blocks == 1;
    if (setrlimit(RLIMIT_AS, &old) != 0) _exit(1);
    void *q = rcgc_pymalloc_malloc(pm, 32); /* now with an arena */
    rcgc_pymalloc_get_stats(pm, &st);
    ok = ok && q != NULL && rcgc_pymalloc_owns(pm, q) &&
         st.arenas_current == 1 && st.side_bytes == SIDE;
    ok = ok && rcgc_pymalloc_check(pm, stderr) == 0;
    rcgc_pymalloc_free(pm, p);
    rcgc_pymalloc_free(pm, q);
    ok = ok && rcgc_pymalloc_destroy(pm) == 0;
    _exit(ok ? 0 : 1);
}
#endif

/* The side array's pages cannot be mapped: no arena is taken (its pages
 * would not be had either), the block comes from raw, and a later request
 * gets an arena with its side array.  AddressSanitizer's own mappings would
 * fail under the limit too: not run there. */
TEST(side_pages_failure_falls_back_to_raw)
{
#ifdef RCGC__ASAN
    printf("     %s: skipped under AddressSanitizer\n", t_current);
#else
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) map_failure_child();
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        printf("     %s: skipped: RLIMIT_AS is not enforced here\n", t_current);
        return;
    }
    CHECK_EQ(WEXITSTATUS(status), 0);
#endif
}

/* ---- a runtime: tracked objects among plain blocks ---- */

/* A runtime on the default heap (the C library as raw memory: side arrays
 * of fresh pages), automatic collection off. */
static rcgc_runtime *default_runtime(void)
{
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    return rcgc_runtime_new(&c);
}

/* The distinct pools of objs[0..n). */
static long distinct_pools(rcgc_object **objs, long n)
{
    long count = 0;
    for (long i = 0; i < n; i++) {
        const void *p = rcgc__pm_pool_start(objs[i]);
        long j = 0;
        while (j < i && rcgc__pm_pool_start(objs[j]) != p) j++;
        count += j == i;
    }
    return count;
}

#define NOBJ 300

/* Two arenas and some of a third of plain blocks (the mem domain), then
 * tracked objects: the side pages written are at most one per pool holding
 * those objects (a pool's 1 KiB slice lies in one page), against 16 per
 * arena on main.  Freeze rewrites the slices of the pools ever carved
 * only: the pages of the others stay unwritten. */
TEST(tracked_objects_write_their_pools_pages)
{
    rcgc_runtime *rt = default_runtime();
    REQUIRE(rt != NULL);
    rcgc_pymalloc *pm = rt->heap.pm;
    REQUIRE(pm != NULL && pm->side_pages);
    size_t n = (2 * 64 + 5) * PER_POOL;
    void **v = malloc(n * sizeof *v);
    REQUIRE(v != NULL);
    for (size_t i = 0; i < n; i++) {
        v[i] = rcgc_mem_malloc(rt, BLOCK);
        REQUIRE(v[i] != NULL);
        memset(v[i], 0x5a, BLOCK);
    }
    rcgc_object *objs[NOBJ];
    for (int i = 0; i < NOBJ; i++) {
        objs[i] = t_node(rt, i);
        REQUIRE(objs[i] != NULL);
        REQUIRE(rcgc_pymalloc_owns(pm, objs[i]));
    }
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    REQUIRE(st.arenas_current >= 3);
    long narenas = 0, w = written_side_pages(pm, &narenas);
    long pools = distinct_pools(objs, NOBJ);
    CHECK(w >= 1);
    CHECK(w <= pools);
    CHECK(w * (long)page_size() < (long)st.side_bytes / 8);
    /* freeze: pages of slices of pools never carved stay unwritten */
    REQUIRE(st.side_touchable_bytes < st.side_bytes); /* some never carved */
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), NOBJ);
    w = written_side_pages(pm, NULL);
    CHECK(w >= 1);
    CHECK(w * (long)page_size() <= (long)st.side_touchable_bytes);
    rcgc_gc_unfreeze(rt);
    for (int i = 0; i < NOBJ; i++) rcgc_decref(rt, objs[i]);
    for (size_t i = 0; i < n; i++) rcgc_mem_free(rt, v[i]);
    free(v);
    t_teardown(rt);
}

/* ---- an embedder's raw allocator that hands out dirty memory ---- */

/* malloc and realloc fill new bytes with 0xA5; calloc zeroes (its
 * contract). */
static struct {
    long live;
} dirty;

static void *d_malloc(void *ctx, size_t n)
{
    (void)ctx;
    void *p = malloc(n ? n : 1);
    if (p != NULL) {
        memset(p, 0xa5, n ? n : 1);
        dirty.live++;
    }
    return p;
}

static void *d_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    void *p = calloc(n ? n : 1, size ? size : 1);
    dirty.live += p != NULL;
    return p;
}

static void *d_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    void *q = realloc(p, n ? n : 1);
    dirty.live += p == NULL && q != NULL;
    return q;
}

static void d_free(void *ctx, void *p)
{
    (void)ctx;
    dirty.live -= p != NULL;
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

/* The side arrays come from the embedder's calloc, not its dirty malloc:
 * every pool carved (and carved again after its arena was released and
 * another obtained, over memory the C library hands out again) starts with
 * zero side bytes.  The whole array counts as touchable. */
TEST(dirty_raw_allocator_zero_side_bytes)
{
    memset(&dirty, 0, sizeof dirty);
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    rcgc_allocator raw = {NULL, d_malloc, d_calloc, d_realloc, d_free};
    cfg.raw = raw;
    rcgc_pymalloc *pm = rcgc_pymalloc_new(&cfg);
    REQUIRE(pm != NULL);
    CHECK(!pm->side_pages);
    size_t n = 2 * 64 * PER_POOL + 10;
    char **v = malloc(n * sizeof *v);
    REQUIRE(v != NULL);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < n; i++) {
            v[i] = rcgc_pymalloc_malloc(pm, BLOCK);
            REQUIRE(v[i] != NULL);
        }
        long nonzero = 0;
        CHECK_EQ(rcgc__pm_side_walk(pm, count_nonzero, &nonzero), 0);
        CHECK_EQ(nonzero, 0);
        CHECK_EQ(rcgc__pm_pins_total(pm), 0);
        rcgc_pymalloc_stats st;
        rcgc_pymalloc_get_stats(pm, &st);
        CHECK_EQ(st.arenas_current, 3);
        CHECK_EQ(st.side_bytes, 3 * SIDE);
        CHECK_EQ(st.side_touchable_bytes, 3 * SIDE);
        /* give every arena back: the next round's arrays are callocs
         * again, of memory the C library may have handed out before */
        for (size_t i = 0; i < n; i++) rcgc_pymalloc_free(pm, v[i]);
        CHECK_EQ(rcgc_pymalloc_trim(pm) > 0, 1);
        rcgc_pymalloc_get_stats(pm, &st);
        CHECK_EQ(st.arenas_current, 0);
        CHECK_EQ(st.side_bytes, 0);
    }
    free(v);
    CHECK_EQ(rcgc_pymalloc_check(pm, stderr), 0);
    CHECK_EQ(rcgc_pymalloc_destroy(pm), 0);
    CHECK_EQ(dirty.live, 0);
}

TEST_MAIN(T(plain_blocks_write_no_side_page),
          T(side_pages_failure_falls_back_to_raw),
          T(tracked_objects_write_their_pools_pages),
          T(dirty_raw_allocator_zero_side_bytes))

/*
 * arenamap.c - where the pool allocator's arenas come from and how it knows
 * them again: the default arena allocator (anonymous mmap, 1 MiB-aligned)
 * and the two-level radix tree behind rcgc__pm_owns (alloc_internal.h).
 *
 * Tree invariant (docs/allocator.md, "Is this pointer ours"): the leaf of
 * each ideal 1 MiB slot k describes the one gap [lo, lo + span) of offsets
 * that no arena covers: lo is the end of an arena that began in slot k - 1,
 * lo + span the start of an arena that begins in slot k.  Bottom nodes are
 * never freed before the state is.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include <sys/mman.h>

#include "mem/alloc_internal.h"

/* ---- the radix tree ---- */

/* The leaf of ideal arena k (address >> 20), creating its bottom node when
 * create is set; NULL when it does not exist or cannot be made. */
static pm_leaf *map_leaf(rcgc_pymalloc *pm, uintptr_t k, int create)
{
    pm_map_bot **slot = &pm->map_root[k >> PM_MAP_BOT_BITS];
    if (*slot == NULL) {
        if (!create) return NULL;
        pm_map_bot *bot = pm->raw.malloc(pm->raw.ctx, sizeof *bot);
        if (bot == NULL) return NULL;
        for (size_t i = 0; i < PM_MAP_BOT_LEN; i++) {
            bot->leaf[i].lo = 0;
            bot->leaf[i].span = (uint32_t)PM_ARENA_SIZE;
        }
        *slot = bot;
        pm->map_bot_count++;
    }
    return &(*slot)->leaf[k & (PM_MAP_BOT_LEN - 1)];
}

int rcgc__pm_map_mark(rcgc_pymalloc *pm, uintptr_t base, int used)
{
    if ((base + PM_ARENA_SIZE - 1) >> PM_MAP_BITS || base == 0)
        return RCGC_EINVAL;
    uintptr_t k = base >> PM_ARENA_BITS;
    uint32_t tail = (uint32_t)(base & PM_ARENA_MASK);
    pm_leaf *first = map_leaf(pm, k, used);
    pm_leaf *next = tail != 0 ? map_leaf(pm, k + 1, used) : NULL;
    if (first == NULL || (tail != 0 && next == NULL)) return RCGC_ENOMEM;
    /* the arena begins in slot k at tail ... */
    first->span = (used ? tail : (uint32_t)PM_ARENA_SIZE) - first->lo;
    if (next != NULL) {
        /* ... and ends in slot k + 1 at tail */
        uint32_t gap_end = next->lo + next->span;
        next->lo = used ? tail : 0;
        next->span = gap_end - next->lo;
    }
    return 0;
}

void rcgc__pm_map_free(rcgc_pymalloc *pm)
{
    for (size_t i = 0; i < PM_MAP_ROOT_LEN && pm->map_bot_count > 0; i++) {
        if (pm->map_root[i] == NULL) continue;
        pm->raw.free(pm->raw.ctx, pm->map_root[i]);
        pm->map_root[i] = NULL;
        pm->map_bot_count--;
    }
}

/* ---- the default arena allocator ---- */

static void *map_anon(void *hint, size_t size)
{
    void *p = mmap(hint, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* size bytes; 1 MiB-aligned when size is 1 MiB (map twice the size and
 * trim when the first try is not aligned). */
static void *mmap_arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    uint8_t *p = map_anon(NULL, size);
    if (p == NULL || size != PM_ARENA_SIZE || ((uintptr_t)p & PM_ARENA_MASK) == 0)
        return p;
    munmap(p, size);
    uint8_t *q = map_anon(NULL, 2 * size);
    if (q == NULL) return map_anon(NULL, size); /* unaligned will do */
    uint8_t *a = (uint8_t *)(((uintptr_t)q + PM_ARENA_MASK) & ~PM_ARENA_MASK);
    if (a > q) munmap(q, (size_t)(a - q));
    if (a + size < q + 2 * size) munmap(a + size, (size_t)(q + 2 * size - (a + size)));
    return a;
}

static void mmap_arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    munmap(ptr, size);
}

static void mmap_arena_decommit(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)madvise(ptr, size, MADV_DONTNEED);
}

rcgc_arena_allocator rcgc_mmap_arena_allocator(void)
{
    rcgc_arena_allocator a = {NULL, mmap_arena_alloc, mmap_arena_free,
                              mmap_arena_decommit};
    return a;
}

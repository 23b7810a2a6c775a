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
#include "mem/alloc_internal.h"
#include "platform/os.h"

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

/* size bytes of fresh pages; 1 MiB-aligned when size is 1 MiB, or
 * unaligned when the aligned mapping fails (it will do: the tree takes
 * any start). */
static void *mmap_arena_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size != PM_ARENA_SIZE) return rcgc__os_pages_map(size, 0);
    void *p = rcgc__os_pages_map(size, PM_ARENA_SIZE);
    return p != NULL ? p : rcgc__os_pages_map(size, 0);
}

static void mmap_arena_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    rcgc__os_pages_unmap(ptr, size);
}

static void mmap_arena_decommit(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    rcgc__os_pages_decommit(ptr, size);
}

rcgc_arena_allocator rcgc_mmap_arena_allocator(void)
{
    rcgc_arena_allocator a = {NULL, mmap_arena_alloc, mmap_arena_free,
                              mmap_arena_decommit};
    return a;
}

/*
 * pmcheck.c - the pool allocator seen from outside: the invariant checker
 * (rcgc_pymalloc_check) and the statistics (sys._debugmallocstats), with
 * one stats struct, one text printer and one JSON writer.
 *
 * The invariants are listed in docs/allocator.md ("Invariants and the
 * checker"); this file only reads the allocator's state.
 */
#include <inttypes.h>
#include <string.h>

#include "mem/alloc_internal.h"
#include "platform/os.h"

/* ---- the checker ---- */

typedef struct checker {
    const rcgc_pymalloc *pm;
    FILE *out;
    uint64_t *inlist; /* per arena: pools found on a usedpools list */
} checker;

#define FAIL(ck, ...)                                                         \
    do {                                                                      \
        fprintf((ck)->out, "rcgc_pymalloc_check: " __VA_ARGS__);              \
        fputc('\n', (ck)->out);                                               \
        return RCGC_ECORRUPT;                                                 \
    } while (0)

static size_t pool_index(const pm_arena *ao, const pm_pool *pool)
{
    return ((uintptr_t)pool - rcgc__pm_first_pool(ao)) / PM_POOL_SIZE;
}

/* Is pool a carved pool of a live arena?  Sets *aop. */
static int carved_pool(const rcgc_pymalloc *pm, const pm_pool *pool,
                       const pm_arena **aop)
{
    if (((uintptr_t)pool & PM_POOL_MASK) != 0 || !rcgc__pm_owns(pm, pool))
        return 0;
    if (pool->arenaindex >= pm->maxarenas) return 0;
    const pm_arena *ao = &pm->arenas[pool->arenaindex];
    *aop = ao;
    return ao->address != 0 && (uintptr_t)pool >= rcgc__pm_first_pool(ao) &&
           (uintptr_t)pool < (uintptr_t)ao->pool_address;
}

/* usedpools: well linked, class-consistent, used pools only; marks them. */
static int check_usedpools(checker *ck)
{
    const rcgc_pymalloc *pm = ck->pm;
    size_t limit = (size_t)pm->maxarenas * PM_MAX_POOLS + 1;
    for (uint32_t c = 0; c < PM_NCLASSES; c++) {
        const pm_link *head = &pm->usedpools[c], *p = head;
        for (size_t n = 0;; n++) {
            const pm_link *l = p->next;
            if (l->prev != p)
                FAIL(ck, "usedpools[%u]: broken link at %p", c, (const void *)l);
            if (l == head) break;
            if (n >= limit) FAIL(ck, "usedpools[%u]: cycle", c);
            const pm_pool *next = pm_pool_of(l);
            const pm_arena *ao = NULL;
            if (!carved_pool(pm, next, &ao))
                FAIL(ck, "usedpools[%u]: %p is not a carved pool", c,
                     (const void *)next);
            if (next->szidx != c ||
                (next->count == 0 && rcgc__pm_pins(next) == 0) ||
                next->count >= PM_NUMBLOCKS(c))
                FAIL(ck, "usedpools[%u]: pool %p has class %u and %u blocks "
                     "in use", c, (const void *)next, next->szidx, next->count);
            uint64_t bit = (uint64_t)1 << pool_index(ao, next);
            uint64_t *w = &ck->inlist[ao - pm->arenas];
            if (*w & bit) FAIL(ck, "usedpools: pool %p listed twice",
                               (const void *)next);
            *w |= bit;
            p = l;
        }
    }
    return 0;
}

/* The blocks of one pool with a size class: free list, parked pages, count. */
static int check_blocks(checker *ck, const pm_pool *pool)
{
    uint32_t c = pool->szidx, size = PM_INDEX2SIZE(c), nb = PM_NUMBLOCKS(c);
    if (pool->maxnextoffset != PM_POOL_SIZE - size ||
        pool->nextoffset < PM_POOL_OVERHEAD + size ||
        (pool->nextoffset - PM_POOL_OVERHEAD) % size != 0 ||
        pool->nextoffset > pool->maxnextoffset + size)
        FAIL(ck, "pool %p: offsets %u/%u wrong for block size %u",
             (const void *)pool, pool->nextoffset, pool->maxnextoffset, size);
    if (pool->parked & 1u || pool->parked >> PM_PAGES_PER_POOL)
        FAIL(ck, "pool %p: bad parked mask %#x", (const void *)pool, pool->parked);
    for (uint32_t k = 1; k < PM_PAGES_PER_POOL; k++)
        if (pool->parked >> k & 1 &&
            pool->nextoffset < (k + 1) * PM_PAGE_SIZE &&
            pool->nextoffset <= pool->maxnextoffset)
            FAIL(ck, "pool %p: parked page %u is not wholly carved",
                 (const void *)pool, k);
    uint64_t seen[(PM_POOL_SIZE / 16 + 63) / 64] = {0};
    uint32_t nfree = 0;
    for (const pm_block *b = pool->freeblock; b != NULL; b = rcgc__pm_link(b)) {
        uintptr_t off = (uintptr_t)(b - (const pm_block *)pool);
        if ((uintptr_t)b < (uintptr_t)pool || off >= pool->nextoffset ||
            off < PM_POOL_OVERHEAD || (off - PM_POOL_OVERHEAD) % size != 0)
            FAIL(ck, "pool %p: free block %p is not a carved block",
                 (const void *)pool, (const void *)b);
        if (pool->parked >> (off / PM_PAGE_SIZE) & 1)
            FAIL(ck, "pool %p: free block %p in a parked page",
                 (const void *)pool, (const void *)b);
        uint32_t i = (uint32_t)(off - PM_POOL_OVERHEAD) / size;
        if (seen[i / 64] >> (i % 64) & 1)
            FAIL(ck, "pool %p: free list cycle at %p", (const void *)pool,
                 (const void *)b);
        seen[i / 64] |= (uint64_t)1 << (i % 64);
        nfree++;
    }
    uint32_t ncarved = (pool->nextoffset - PM_POOL_OVERHEAD) / size, nparked = 0;
    for (uint32_t i = 0; i < ncarved; i++)
        if (pool->parked >> ((PM_POOL_OVERHEAD + i * size) / PM_PAGE_SIZE) & 1)
            nparked++;
    if (pool->count + nfree + nparked + (nb - ncarved) != nb)
        FAIL(ck, "pool %p: %u in use + %u free + %u parked + %u virgin != %u",
             (const void *)pool, pool->count, nfree, nparked, nb - ncarved, nb);
    if (pool->count > 0 && pool->count < nb && pool->freeblock == NULL)
        FAIL(ck, "pool %p: used pool with an empty free list", (const void *)pool);
    if (pool->count == nb && pool->parked != 0)
        FAIL(ck, "pool %p: full pool with parked pages", (const void *)pool);
    return 0;
}

/* One live arena: pools, freepools, counts. */
static int check_arena(checker *ck, const pm_arena *ao)
{
    const rcgc_pymalloc *pm = ck->pm;
    size_t ai = (size_t)(ao - pm->arenas);
    uintptr_t first = rcgc__pm_first_pool(ao);
    uint32_t total = first == ao->address ? PM_MAX_POOLS : PM_MAX_POOLS - 1;
    uintptr_t end = first + (uintptr_t)total * PM_POOL_SIZE;
    if (ao->side == NULL) FAIL(ck, "arena %zu: no side bytes", ai);
    if (ao->ntotalpools != total)
        FAIL(ck, "arena %zu: %u pools, expected %u", ai, ao->ntotalpools, total);
    if (!rcgc__pm_owns(pm, (void *)ao->address) ||
        !rcgc__pm_owns(pm, (void *)(ao->address + PM_ARENA_SIZE / 2)) ||
        !rcgc__pm_owns(pm, (void *)(ao->address + PM_ARENA_SIZE - 1)))
        FAIL(ck, "arena %zu: radix tree does not cover %p", ai,
             (void *)ao->address);
    if ((uintptr_t)ao->pool_address < first || (uintptr_t)ao->pool_address > end ||
        ((uintptr_t)ao->pool_address - first) % PM_POOL_SIZE != 0)
        FAIL(ck, "arena %zu: pool_address %p out of place", ai,
             (void *)ao->pool_address);
    uint64_t onfree = 0;
    uint32_t nempty = 0;
    for (const pm_pool *p = ao->freepools; p != NULL;
         p = pm_pool_of(p->link.next)) {
        const pm_arena *pa = NULL;
        if (!carved_pool(pm, p, &pa) || pa != ao || p->count != 0)
            FAIL(ck, "arena %zu: freepools holds %p, not an empty pool of it",
                 ai, (const void *)p);
        uint64_t bit = (uint64_t)1 << pool_index(ao, p);
        if (onfree & bit) FAIL(ck, "arena %zu: freepools cycle", ai);
        onfree |= bit;
        nempty++;
    }
    uint32_t uncarved = (uint32_t)((end - (uintptr_t)ao->pool_address) / PM_POOL_SIZE);
    if (ao->nfreepools != nempty + uncarved)
        FAIL(ck, "arena %zu: nfreepools %u != %u empty + %u never carved", ai,
             ao->nfreepools, nempty, uncarved);
    for (uintptr_t b = first; b < (uintptr_t)ao->pool_address; b += PM_POOL_SIZE) {
        const pm_pool *pool = (const pm_pool *)b;
        uint64_t bit = (uint64_t)1 << pool_index(ao, pool);
        if (pool->arenaindex != ai)
            FAIL(ck, "pool %p: arenaindex %u, expected %zu", (const void *)pool,
                 pool->arenaindex, ai);
        if (rcgc__pm_pool_side(pool) !=
            ao->side + pool_index(ao, pool) * PM_SIDE_PER_POOL)
            FAIL(ck, "pool %p: side bytes at %p, expected its arena's slice",
                 (const void *)pool, (const void *)rcgc__pm_pool_side(pool));
        uint32_t pins = rcgc__pm_pins(pool);
        if (pins != 0 && pool->szidx >= PM_NCLASSES)
            FAIL(ck, "pool %p: %u pins but no size class", (const void *)pool,
                 pins);
        if ((pool->count == 0 && pins == 0) != ((onfree & bit) != 0))
            FAIL(ck, "pool %p: %u blocks in use, %u pins, but %son freepools",
                 (const void *)pool, pool->count, pins,
                 onfree & bit ? "" : "not ");
        if (pool->count != 0 && pool->szidx >= PM_NCLASSES)
            FAIL(ck, "pool %p: in use with class %u", (const void *)pool,
                 pool->szidx);
        int used = (pool->count != 0 || pins != 0) &&
                   pool->count < PM_NUMBLOCKS(pool->szidx);
        if (used != ((ck->inlist[ai] & bit) != 0))
            FAIL(ck, "pool %p: %s but %son usedpools", (const void *)pool,
                 used ? "used" : "full or empty", used ? "not " : "");
        if (pool->szidx < PM_NCLASSES && check_blocks(ck, pool) != 0)
            return RCGC_ECORRUPT;
    }
    return 0;
}

/* usable_arenas order and nfp2lasta; descriptor lists and counters. */
static int check_arena_lists(checker *ck)
{
    const rcgc_pymalloc *pm = ck->pm;
    const pm_arena *last[PM_MAX_POOLS + 1] = {0};
    size_t nusable = 0, nfree = 0;
    const pm_arena *prev = NULL;
    for (const pm_arena *ao = pm->usable_arenas; ao != NULL; ao = ao->nextarena) {
        if (nusable++ > pm->maxarenas) FAIL(ck, "usable_arenas: cycle");
        if (ao->address == 0 || ao->nfreepools == 0 ||
            ao->nfreepools > ao->ntotalpools)
            FAIL(ck, "usable_arenas: arena %zu (address %p, %u free pools) "
                 "does not belong", (size_t)(ao - pm->arenas),
                 (void *)ao->address, ao->nfreepools);
        if (ao->prevarena != prev) FAIL(ck, "usable_arenas: broken prev link");
        if (prev != NULL && prev->nfreepools > ao->nfreepools)
            FAIL(ck, "usable_arenas: not sorted (%u before %u free pools)",
                 prev->nfreepools, ao->nfreepools);
        last[ao->nfreepools] = ao;
        nfree += ao->nfreepools == ao->ntotalpools;
        prev = ao;
    }
    for (uint32_t n = 0; n <= PM_MAX_POOLS; n++)
        if (pm->nfp2lasta[n] != last[n])
            FAIL(ck, "nfp2lasta[%u] is %p, expected %p", n,
                 (const void *)pm->nfp2lasta[n], (const void *)last[n]);
    size_t live = 0, withfree = 0, unused = 0;
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        live += pm->arenas[i].address != 0;
        withfree += pm->arenas[i].address != 0 && pm->arenas[i].nfreepools > 0;
    }
    for (const pm_arena *ao = pm->unused_arena_objects; ao != NULL;
         ao = ao->nextarena) {
        if (unused++ > pm->maxarenas) FAIL(ck, "unused_arena_objects: cycle");
        if (ao->address != 0) FAIL(ck, "unused_arena_objects: arena in use");
    }
    if (withfree != nusable)
        FAIL(ck, "%zu arenas have free pools, %zu are usable", withfree, nusable);
    if (live + unused != pm->maxarenas)
        FAIL(ck, "%zu live + %zu unused descriptors != %u", live, unused,
             pm->maxarenas);
    if (live != pm->narenas_current || pm->narenas_highwater < live ||
        pm->narenas_total < pm->narenas_highwater)
        FAIL(ck, "arena counters: %zu live, current %zu, highwater %zu, total %zu",
             live, pm->narenas_current, pm->narenas_highwater, pm->narenas_total);
    if (nfree != pm->nfree_arenas)
        FAIL(ck, "%zu wholly free arenas, counter says %zu", nfree,
             pm->nfree_arenas);
    size_t limit = (live - nfree) * pm->retain_percent / 100;
    if (limit < pm->retain) limit = pm->retain;
    if (nfree > 1 && nfree > limit)
        FAIL(ck, "%zu wholly free arenas kept, at most %zu allowed", nfree, limit);
    return 0;
}

int rcgc__pm_check_lists(const rcgc_pymalloc *pm, FILE *out)
{
    checker ck = {pm, out != NULL ? out : stderr, NULL};
    return check_arena_lists(&ck);
}

int rcgc_pymalloc_check(const rcgc_pymalloc *pm, FILE *out)
{
    checker ck = {pm, out != NULL ? out : stderr, NULL};
    if (pm->maxarenas > 0) {
        ck.inlist = pm->raw.calloc(pm->raw.ctx, pm->maxarenas, sizeof *ck.inlist);
        if (ck.inlist == NULL) { /* not a violation: nothing was checked */
            fprintf(ck.out, "rcgc_pymalloc_check: out of memory\n");
            return RCGC_ENOMEM;
        }
    }
    int r = check_arena_lists(&ck);
    if (r == 0) r = check_usedpools(&ck);
    for (uint32_t i = 0; r == 0 && i < pm->maxarenas; i++)
        if (pm->arenas[i].address != 0) r = check_arena(&ck, &pm->arenas[i]);
    if (ck.inlist != NULL) pm->raw.free(pm->raw.ctx, ck.inlist);
    return r;
}

/* ---- the side bytes, for the layer above ---- */

/* The pools of ao ever carved (from its first pool up to pool_address):
 * the only ones whose side slices may have been written. */
static uint32_t carved_pools(const pm_arena *ao)
{
    return (uint32_t)(((uintptr_t)ao->pool_address - rcgc__pm_first_pool(ao)) /
                      PM_POOL_SIZE);
}

/* Bit i of isfree: block i of pool is not in use (free, or in a parked
 * page); blocks from nextoffset on are virgin (not in the map: the caller
 * tests the offset). */
static void free_blocks(const pm_pool *pool, uint32_t size, uint64_t *isfree)
{
    for (const pm_block *b = pool->freeblock; b != NULL; b = rcgc__pm_link(b)) {
        uint32_t i = (uint32_t)(b - (const pm_block *)pool - PM_POOL_OVERHEAD) / size;
        isfree[i / 64] |= (uint64_t)1 << (i % 64);
    }
    uint32_t ncarved = (pool->nextoffset - PM_POOL_OVERHEAD) / size;
    for (uint32_t i = 0; i < ncarved; i++)
        if (pool->parked >> ((PM_POOL_OVERHEAD + i * size) / PM_PAGE_SIZE) & 1)
            isfree[i / 64] |= (uint64_t)1 << (i % 64);
}

/* The non-zero side bytes of one pool's slice (pool is carved, or NULL:
 * never carved, so nothing in it is allocated). */
static int side_walk_pool(const pm_pool *pool, uintptr_t base,
                          const uint8_t *side, rcgc__pm_side_fn fn, void *arg)
{
    uint64_t isfree[(PM_POOL_SIZE / 16 + 63) / 64];
    int have_map = 0;
    /* the header's granules hold the pool's pins (rcgc__pm_pins), not a
     * block's byte */
    for (uint32_t g = PM_POOL_OVERHEAD >> PM_ALIGNMENT_SHIFT; g < PM_SIDE_PER_POOL;
         g++) {
        if (side[g] == 0) continue;
        uint32_t off = g << PM_ALIGNMENT_SHIFT;
        int allocated = 0;
        if (pool != NULL && pool->count != 0 && pool->szidx < PM_NCLASSES &&
            off >= PM_POOL_OVERHEAD && off < pool->nextoffset) {
            uint32_t size = PM_INDEX2SIZE(pool->szidx);
            if (!have_map) {
                memset(isfree, 0, sizeof isfree);
                free_blocks(pool, size, isfree);
                have_map = 1;
            }
            uint32_t i = (off - PM_POOL_OVERHEAD) / size;
            allocated = !(isfree[i / 64] >> (i % 64) & 1);
        }
        int r = fn(arg, (const void *)(base + off), side[g], allocated);
        if (r != 0) return r;
    }
    return 0;
}

int rcgc__pm_side_walk(const rcgc_pymalloc *pm, rcgc__pm_side_fn fn, void *arg)
{
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        uintptr_t first = rcgc__pm_first_pool(ao);
        for (uint32_t k = 0; k < PM_MAX_POOLS; k++) {
            uintptr_t base = first + (uintptr_t)k * PM_POOL_SIZE;
            const pm_pool *pool = base < (uintptr_t)ao->pool_address
                                      ? (const pm_pool *)base
                                      : NULL;
            int r = side_walk_pool(pool, base, ao->side + k * PM_SIDE_PER_POOL,
                                   fn, arg);
            if (r != 0) return r;
        }
    }
    return 0;
}

/* Pool by pool, past the header's granules: those hold the pool's pins
 * (rcgc__pm_pins), which a rewrite meant for blocks' bytes must not
 * touch. */
void rcgc__pm_side_arrays(const rcgc_pymalloc *pm,
                          void (*fn)(uint8_t *side, size_t n))
{
    const uint32_t hdr = PM_POOL_OVERHEAD >> PM_ALIGNMENT_SHIFT;
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        /* only the pools ever carved: the others' slices are zero, and a
         * rewrite (even of a zero with itself) would make their pages
         * resident */
        for (uint32_t k = 0; k < carved_pools(ao); k++)
            fn(ao->side + k * PM_SIDE_PER_POOL + hdr, PM_SIDE_PER_POOL - hdr);
    }
}

size_t rcgc__pm_pins_total(const rcgc_pymalloc *pm)
{
    size_t n = 0;
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        for (uintptr_t b = rcgc__pm_first_pool(ao);
             b < (uintptr_t)ao->pool_address; b += PM_POOL_SIZE)
            n += rcgc__pm_pins((const void *)b);
    }
    return n;
}

/* ---- statistics ---- */

/* One pool's contribution. */
static void stats_pool(rcgc_pymalloc_stats *s, const pm_pool *pool)
{
    if (pool->count == 0) {
        if (pool->szidx == PM_DUMMY_SIZE_IDX)
            s->decommitted_bytes += PM_POOL_SIZE - PM_PAGE_SIZE;
        return;
    }
    uint32_t c = pool->szidx, size = PM_INDEX2SIZE(c);
    rcgc_pymalloc_class_stats *cs = &s->cls[c];
    cs->pools++;
    cs->blocks_in_use += pool->count;
    cs->blocks_avail += PM_NUMBLOCKS(c) - pool->count;
    s->decommitted_bytes += (size_t)__builtin_popcount(pool->parked) * PM_PAGE_SIZE;
    s->allocated_bytes += (size_t)pool->count * size;
    s->available_bytes += (size_t)(PM_NUMBLOCKS(c) - pool->count) * size;
    s->pool_header_bytes += PM_POOL_OVERHEAD;
    s->quantization_bytes += (PM_POOL_SIZE - PM_POOL_OVERHEAD) % size;
    s->pool_blocks += pool->count;
}

/* The bytes of ao's side array that can be resident: from fresh pages
 * (pm->side_pages; page is the OS's page size), only the pages holding the
 * slices of the pools ever carved are ever written (the slices of the
 * others stay zero and unwritten: rcgc__pm_side_arrays skips them); from
 * raw's calloc, all of it. */
static size_t side_touchable(const rcgc_pymalloc *pm, const pm_arena *ao,
                             size_t page)
{
    if (!pm->side_pages) return PM_SIDE_PER_ARENA;
    size_t n = (size_t)carved_pools(ao) * PM_SIDE_PER_POOL;
    n = (n + page - 1) / page * page;
    return n < PM_SIDE_PER_ARENA ? n : PM_SIDE_PER_ARENA;
}

void rcgc_pymalloc_get_stats(const rcgc_pymalloc *pm,
                             rcgc_pymalloc_stats *s)
{
    memset(s, 0, sizeof *s);
    const size_t page = pm->side_pages ? rcgc__os_page_size() : 0;
    for (uint32_t c = 0; c < PM_NCLASSES; c++) s->cls[c].size = PM_INDEX2SIZE(c);
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        s->arenas_current++;
        s->unused_pools += ao->nfreepools;
        s->arenas_free += ao->nfreepools == ao->ntotalpools;
        if (ao->address & PM_POOL_MASK) s->alignment_bytes += PM_POOL_SIZE;
        s->side_bytes += PM_SIDE_PER_ARENA;
        s->side_touchable_bytes += side_touchable(pm, ao, page);
        for (uintptr_t b = rcgc__pm_first_pool(ao);
             b < (uintptr_t)ao->pool_address; b += PM_POOL_SIZE)
            stats_pool(s, (const pm_pool *)b);
    }
    s->arenas_allocated_total = pm->narenas_total;
    s->arenas_reclaimed = pm->narenas_total - s->arenas_current;
    s->arenas_highwater = pm->narenas_highwater;
    s->arena_bytes = s->arenas_current * PM_ARENA_SIZE;
    s->unused_pool_bytes = s->unused_pools * PM_POOL_SIZE;
    s->map_bot_nodes = pm->map_bot_count;
    s->map_root_bytes = sizeof pm->map_root;
    s->map_bot_bytes = pm->map_bot_count * sizeof(pm_map_bot);
    s->raw_blocks = pm->raw_blocks;
}

/* CPython's printone: label padded to column 35, '=', value with thousands
 * separators right-aligned in 21 columns.  Returns value. */
static size_t printone(FILE *out, const char *label, size_t value)
{
    char digits[32], buf[40];
    int n = snprintf(digits, sizeof digits, "%zu", value), j = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[j++] = ',';
        buf[j++] = digits[i];
    }
    buf[j] = 0;
    fprintf(out, "%-35s=%21s\n", label, buf);
    return value;
}

void rcgc_pymalloc_stats_print(const rcgc_pymalloc_stats *s,
                               FILE *out)
{
    char label[96];
    fprintf(out, "Small block threshold = %d, in %d size classes.\n\n",
            PM_THRESHOLD, PM_NCLASSES);
    fputs("class   size   num pools   blocks in use  avail blocks\n"
          "-----   ----   ---------   -------------  ------------\n", out);
    for (int c = 0; c < PM_NCLASSES; c++) {
        const rcgc_pymalloc_class_stats *cs = &s->cls[c];
        if (cs->pools == 0) continue;
        fprintf(out, "%5d %6zu %11zu %15zu %13zu\n", c, cs->size, cs->pools,
                cs->blocks_in_use, cs->blocks_avail);
    }
    fputc('\n', out);
    printone(out, "# arenas allocated total", s->arenas_allocated_total);
    printone(out, "# arenas reclaimed", s->arenas_reclaimed);
    printone(out, "# arenas highwater mark", s->arenas_highwater);
    printone(out, "# arenas allocated current", s->arenas_current);
    snprintf(label, sizeof label, "%zu arenas * %zu bytes/arena",
             s->arenas_current, (size_t)PM_ARENA_SIZE);
    printone(out, label, s->arena_bytes);
    fputc('\n', out);
    size_t total = printone(out, "# bytes in allocated blocks", s->allocated_bytes);
    total += printone(out, "# bytes in available blocks", s->available_bytes);
    snprintf(label, sizeof label, "%zu unused pools * %u bytes", s->unused_pools,
             PM_POOL_SIZE);
    total += printone(out, label, s->unused_pool_bytes);
    total += printone(out, "# bytes lost to pool headers", s->pool_header_bytes);
    total += printone(out, "# bytes lost to quantization", s->quantization_bytes);
    total += printone(out, "# bytes lost to arena alignment", s->alignment_bytes);
    printone(out, "Total", total);
    fputs("\narena map counts\n", out);
    printone(out, "# arena map bot nodes", s->map_bot_nodes);
    fputc('\n', out);
    total = printone(out, "# bytes lost to arena map root", s->map_root_bytes);
    total += printone(out, "# bytes lost to arena map bot", s->map_bot_bytes);
    printone(out, "Total", total);
    fputs("\nrcgc\n", out);
    printone(out, "# wholly free arenas retained", s->arenas_free);
    printone(out, "# bytes given back by trim", s->decommitted_bytes);
    printone(out, "# blocks in pools", (size_t)s->pool_blocks);
    printone(out, "# blocks from the raw allocator", (size_t)s->raw_blocks);
    printone(out, "# bytes in side arrays", s->side_bytes);
    printone(out, "# side bytes carved pools can touch", s->side_touchable_bytes);
}

void rcgc_pymalloc_stats_json(const rcgc_pymalloc_stats *s, FILE *out)
{
    fprintf(out, "{\"threshold\": %d, \"alignment\": %d, \"pool_size\": %u, "
            "\"arena_size\": %zu, \"pool_overhead\": %u, \"classes\": [",
            PM_THRESHOLD, RCGC_PYMALLOC_ALIGNMENT, PM_POOL_SIZE,
            (size_t)PM_ARENA_SIZE, PM_POOL_OVERHEAD);
    const char *sep = "";
    for (int c = 0; c < PM_NCLASSES; c++) {
        const rcgc_pymalloc_class_stats *cs = &s->cls[c];
        if (cs->pools == 0) continue;
        fprintf(out, "%s{\"class\": %d, \"size\": %zu, \"pools\": %zu, "
                "\"blocks_in_use\": %zu, \"avail_blocks\": %zu}", sep, c,
                cs->size, cs->pools, cs->blocks_in_use, cs->blocks_avail);
        sep = ", ";
    }
#define J(name) fprintf(out, ", \"" #name "\": %zu", (size_t)s->name)
    fputc(']', out);
    J(arenas_allocated_total);
    J(arenas_reclaimed);
    J(arenas_highwater);
    J(arenas_current);
    J(arenas_free);
    J(arena_bytes);
    J(allocated_bytes);
    J(available_bytes);
    J(unused_pools);
    J(unused_pool_bytes);
    J(pool_header_bytes);
    J(quantization_bytes);
    J(alignment_bytes);
    J(decommitted_bytes);
    J(map_bot_nodes);
    J(map_root_bytes);
    J(map_bot_bytes);
    J(pool_blocks);
    J(raw_blocks);
    J(side_bytes);
    J(side_touchable_bytes);
#undef J
    fputc('}', out);
}

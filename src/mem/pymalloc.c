/*
 * pymalloc.c - the small-object allocator: 32 size classes of 16 bytes up to
 * 512, 16 KiB pools carved lazily from 1 MiB arenas, CPython 3.11's
 * obmalloc algorithms (usedpools, LRU reinsertion of formerly full pools,
 * "fullest arena first" with the nfp2lasta finger table, release of wholly
 * free arenas), and trim, which gives free pages inside pools back.
 *
 * Owns the invariants of pools and arenas listed in docs/allocator.md
 * ("Invariants and the checker"; pmcheck.c checks them).  The radix tree
 * that answers "is this pointer ours" lives in arenamap.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mem/alloc_internal.h"
#include "platform/os.h"

_Static_assert(sizeof(pm_pool) == RCGC_PYMALLOC_POOL_OVERHEAD,
               "the pool header is 48 bytes");
_Static_assert(sizeof(void *) == 8, "the pool allocator needs 64-bit pointers");

/* ---- raw fallback ---- */

static void *raw_malloc(rcgc_pymalloc *pm, size_t n)
{
    void *p = pm->raw.malloc(pm->raw.ctx, n);
    if (p == NULL && n == 0) p = pm->raw.malloc(pm->raw.ctx, 1);
    if (p != NULL) pm->raw_blocks++;
    return p;
}

static void raw_free(rcgc_pymalloc *pm, void *p)
{
    pm->raw_blocks--;
    pm->raw.free(pm->raw.ctx, p);
}

RCGC__NO_ASAN pm_block *rcgc__pm_link(const pm_block *b)
{
    pm_block *next;
    memcpy(&next, b, sizeof next);
    return next;
}

/* ---- arenas ---- */

/* Grow the descriptor vector (only when every descriptor is in use, so no
 * pointer into the old vector is live: usable_arenas is empty). */
static int grow_arena_vector(rcgc_pymalloc *pm)
{
    uint32_t n = pm->maxarenas ? pm->maxarenas * 2 : PM_INITIAL_ARENAS;
    if (n <= pm->maxarenas || n > UINT32_MAX / 2) return RCGC_ENOMEM;
    pm_arena *v = pm->raw.realloc(pm->raw.ctx, pm->arenas, n * sizeof *v);
    if (v == NULL) return RCGC_ENOMEM;
    for (uint32_t i = pm->maxarenas; i < n; i++) {
        v[i].address = 0;
        v[i].nextarena = i + 1 < n ? &v[i + 1] : NULL;
    }
    pm->unused_arena_objects = &v[pm->maxarenas];
    pm->arenas = v;
    pm->maxarenas = n;
    return 0;
}

/* An arena's side array (PM_SIDE_PER_ARENA zero bytes), or NULL.  Fresh
 * pages of the OS when raw is the C library: glibc's calloc of 64 KiB
 * (below its mmap threshold) writes the zeros into any memory it recycles,
 * so the whole array would be resident at once, where a fresh page becomes
 * resident only when a layer above first writes the slice of a pool in it
 * (a program of plain pool blocks never does).  Otherwise the embedder's
 * raw allocator, as the allocator's other tables: its calloc zeroes (how
 * eagerly is its business).  Never the arena allocator: its hooks are for
 * 1 MiB arenas. */
static uint8_t *side_alloc(rcgc_pymalloc *pm)
{
    if (pm->side_pages) return rcgc__os_pages_map(PM_SIDE_PER_ARENA, 0);
    return pm->raw.calloc(pm->raw.ctx, PM_SIDE_PER_ARENA, 1);
}

static void side_free(rcgc_pymalloc *pm, uint8_t *side)
{
    if (pm->side_pages)
        rcgc__os_pages_unmap(side, PM_SIDE_PER_ARENA);
    else
        pm->raw.free(pm->raw.ctx, side);
}

/* A new wholly free arena, not yet linked anywhere, or NULL. */
static pm_arena *new_arena(rcgc_pymalloc *pm)
{
    if (pm->unused_arena_objects == NULL && grow_arena_vector(pm) != 0)
        return NULL;
    pm_arena *ao = pm->unused_arena_objects;
    /* the side bytes first: failing there costs no arena */
    uint8_t *side = side_alloc(pm);
    if (side == NULL) return NULL;
    void *mem = pm->arena.alloc(pm->arena.ctx, PM_ARENA_SIZE);
    if (mem == NULL) {
        side_free(pm, side);
        return NULL;
    }
    if (rcgc__pm_map_mark(pm, (uintptr_t)mem, 1) != 0) {
        pm->arena.free(pm->arena.ctx, mem, PM_ARENA_SIZE);
        side_free(pm, side);
        return NULL;
    }
    pm->unused_arena_objects = ao->nextarena;
    ao->side = side;
    ao->address = (uintptr_t)mem;
    ao->freepools = NULL;
    ao->pool_address = (pm_block *)rcgc__pm_first_pool(ao);
    ao->nfreepools = (ao->address & PM_POOL_MASK) ? PM_MAX_POOLS - 1 : PM_MAX_POOLS;
    ao->ntotalpools = ao->nfreepools;
    ao->nextarena = ao->prevarena = NULL;
    pm->narenas_current++;
    pm->narenas_total++;
    if (pm->narenas_current > pm->narenas_highwater)
        pm->narenas_highwater = pm->narenas_current;
    pm->nfree_arenas++;
    return ao;
}

/* Give an arena (already unlinked from usable_arenas) back to the system. */
static void release_arena(rcgc_pymalloc *pm, pm_arena *ao)
{
    RCGC_ASSERT(ao->address != 0 && ao->nfreepools == ao->ntotalpools);
    RCGC_ASSERT(pm->narenas_current > 0);
    (void)rcgc__pm_map_mark(pm, ao->address, 0); /* cannot fail: node exists */
    RCGC__UNPOISON((void *)ao->address, PM_ARENA_SIZE);
    pm->arena.free(pm->arena.ctx, (void *)ao->address, PM_ARENA_SIZE);
    side_free(pm, ao->side);
    ao->side = NULL;
    ao->address = 0;
    ao->nextarena = pm->unused_arena_objects;
    pm->unused_arena_objects = ao;
    pm->narenas_current--;
}

/* Unlink ao from usable_arenas, keeping nfp2lasta right. */
static void unlink_usable(rcgc_pymalloc *pm, pm_arena *ao)
{
    uint32_t nf = ao->nfreepools;
    RCGC_ASSERT(ao->prevarena != NULL ? ao->prevarena->nextarena == ao
                                      : pm->usable_arenas == ao);
    RCGC_ASSERT(ao->nextarena == NULL || ao->nextarena->prevarena == ao);
    if (pm->nfp2lasta[nf] == ao) {
        pm_arena *p = ao->prevarena;
        pm->nfp2lasta[nf] = (p != NULL && p->nfreepools == nf) ? p : NULL;
    }
    if (ao->prevarena != NULL)
        ao->prevarena->nextarena = ao->nextarena;
    else
        pm->usable_arenas = ao->nextarena;
    if (ao->nextarena != NULL) ao->nextarena->prevarena = ao->prevarena;
}

/* ---- pools ---- */

/* Thread the blocks that start in the lowest parked page of pool onto its
 * (empty) free list, in address order. */
static void unpark_page(pm_pool *pool, uint32_t size)
{
    uint32_t k = (uint32_t)__builtin_ctz(pool->parked);
    uint32_t lo = k * PM_PAGE_SIZE, hi = lo + PM_PAGE_SIZE;
    if (hi > pool->nextoffset) hi = pool->nextoffset;
    uint32_t first = lo <= PM_POOL_OVERHEAD
                         ? PM_POOL_OVERHEAD
                         : PM_POOL_OVERHEAD +
                               (lo - PM_POOL_OVERHEAD + size - 1) / size * size;
    pm_block **link = &pool->freeblock;
    for (uint32_t off = first; off < hi; off += size) {
        pm_block *b = (pm_block *)pool + off;
        RCGC__UNPOISON(b, size);
        *link = b;
        link = (pm_block **)(void *)b;
    }
    *link = NULL;
    for (pm_block *b = pool->freeblock; b != NULL;) {
        pm_block *next = rcgc__pm_link(b);
        RCGC__POISON(b, size);
        b = next;
    }
    pool->parked &= pool->parked - 1;
}

/* Carve the next virgin block and those after it that end in the same
 * 4 KiB page onto the empty free list, in address order: one call per page
 * instead of one per block (CPython carves one at a time), and still no page
 * is touched before a block in it is about to be handed out. */
static void carve_page(pm_pool *pool, uint32_t size)
{
    uint32_t start = pool->nextoffset;
    uint32_t end = (start / PM_PAGE_SIZE + 1) * PM_PAGE_SIZE; /* page end */
    /* the blocks that end in the page and start by maxnextoffset, and at
     * least the first (it may cross the page end) */
    uint32_t n = (end - start) / size, nmax = (pool->maxnextoffset - start) / size + 1;
    if (n > nmax) n = nmax;
    if (n == 0) n = 1;
    uint32_t last = start + (n - 1) * size;
    /* limits in locals: the stores below may alias the header as far as the
     * compiler knows, and would make it reload them per block */
    pm_block *b = (pm_block *)pool + start, *stop = (pm_block *)pool + last;
    pool->freeblock = b;
    for (; b < stop; b += size) *(pm_block **)(void *)b = b + size;
    *(pm_block **)(void *)b = NULL;
    uint32_t off = last + size;
    pool->nextoffset = off;
#ifdef RCGC__ASAN /* an empty loop the compiler would still run */
    for (uint32_t o = start; o < off; o += size)
        RCGC__POISON((pm_block *)pool + o, size);
#endif
}

/* The pool's free list just ran dry: carve virgin blocks, or bring a parked
 * page back, or the pool is full and leaves usedpools.  Returns bp (so the
 * caller's fast path can end in a tail call). */
static RCGC__NOINLINE pm_block *pool_extend(pm_pool *pool, uint32_t size,
                                           pm_block *bp)
{
    if (pool->nextoffset <= pool->maxnextoffset) {
        carve_page(pool, size);
        return bp;
    }
    while (pool->parked != 0 && pool->freeblock == NULL)
        unpark_page(pool, size);
    if (pool->freeblock != NULL) return bp;
    RCGC_ASSERT(pool->link.next->prev == &pool->link &&
                pool->link.prev->next == &pool->link);
    RCGC_ASSERT(pool->count == PM_NUMBLOCKS(pool->szidx));
    pool->link.next->prev = pool->link.prev; /* full: leave usedpools */
    pool->link.prev->next = pool->link.next;
    return bp;
}

/* Take a pool for class c from the fullest usable arena and return its first
 * free block, or NULL when no arena can be had. */
static RCGC__NOINLINE void *allocate_from_new_pool(rcgc_pymalloc *pm, uint32_t c)
{
    if (RCGC_UNLIKELY(pm->usable_arenas == NULL)) {
        pm_arena *ao = new_arena(pm);
        if (ao == NULL) return NULL;
        pm->usable_arenas = ao;
        pm->nfp2lasta[ao->nfreepools] = ao;
    }
    pm_arena *ao = pm->usable_arenas;
    RCGC_ASSERT(ao->prevarena == NULL && ao->nfreepools > 0 &&
                ao->nfreepools <= ao->ntotalpools);
    if (ao->nfreepools == ao->ntotalpools) pm->nfree_arenas--;
    /* ao has the fewest free pools: after the decrement it still does */
    if (pm->nfp2lasta[ao->nfreepools] == ao) pm->nfp2lasta[ao->nfreepools] = NULL;
    if (ao->nfreepools > 1) pm->nfp2lasta[ao->nfreepools - 1] = ao;

    pm_pool *pool = ao->freepools;
    if (pool != NULL) {
        RCGC_ASSERT(pool->count == 0 && pool->arenaindex == (uint32_t)(ao - pm->arenas));
        ao->freepools = pm_pool_of(pool->link.next);
    } else {
        pool = (pm_pool *)(void *)ao->pool_address;
        pool->arenaindex = (uint32_t)(ao - pm->arenas);
        uint8_t *side = ao->side + ((uintptr_t)pool - rcgc__pm_first_pool(ao)) /
                                       PM_POOL_SIZE * PM_SIDE_PER_POOL;
        pool->side_bias = (uintptr_t)side - ((uintptr_t)pool >> PM_ALIGNMENT_SHIFT);
        pool->szidx = PM_DUMMY_SIZE_IDX;
        pool->parked = 0;
        ao->pool_address += PM_POOL_SIZE;
    }
    if (--ao->nfreepools == 0) {
        pm->usable_arenas = ao->nextarena;
        if (ao->nextarena != NULL) ao->nextarena->prevarena = NULL;
    }

    pm_link *head = &pm->usedpools[c];
    pool->link.next = head->next;
    pool->link.prev = head;
    head->next->prev = &pool->link;
    head->next = &pool->link;
    pool->count = 1;
    /* Always carve the pool afresh.  CPython pops the old free list when the
     * pool last held the same class: that hands blocks out in the order the
     * program freed them, scattered over lines long gone from the cache;
     * carving goes in address order (docs/allocator.md, "Arena retention"). */
    uint32_t size = PM_INDEX2SIZE(c);
    RCGC__UNPOISON((pm_block *)pool + PM_POOL_OVERHEAD,
                   PM_POOL_SIZE - PM_POOL_OVERHEAD);
    pool->szidx = c;
    pool->parked = 0;
    pm_block *bp = (pm_block *)pool + PM_POOL_OVERHEAD;
    pool->nextoffset = PM_POOL_OVERHEAD + 2 * size;
    pool->maxnextoffset = PM_POOL_SIZE - size;
    pool->freeblock = bp + size;
    *(pm_block **)(void *)pool->freeblock = NULL;
    RCGC__POISON(pool->freeblock, size);
    return bp;
}

/* A formerly full pool gets a free block: link it at the front of its
 * class list (CPython's LRU-like reinsertion). */
RCGC__NOINLINE void rcgc__pm_pool_was_full(rcgc_pymalloc *pm, pm_pool *pool)
{
    pool->count--; /* not empty: a full pool has 30 blocks or more */
    RCGC_ASSERT(pool->szidx < PM_NCLASSES && pool->freeblock != NULL);
    pm_link *head = &pm->usedpools[pool->szidx];
    pool->link.next = head->next;
    pool->link.prev = head;
    head->next->prev = &pool->link;
    head->next = &pool->link;
}

/* Move ao, whose free-pool count just went from nf - 1 to nf, to keep
 * usable_arenas sorted; lastnf was nfp2lasta[nf - 1] before the change. */
static void resort_arena(rcgc_pymalloc *pm, pm_arena *ao, pm_arena *lastnf)
{
    uint32_t nf = ao->nfreepools;
    RCGC_ASSERT(lastnf != NULL && (lastnf == ao || lastnf->nfreepools == nf - 1));
    if (pm->nfp2lasta[nf] == NULL) pm->nfp2lasta[nf] = ao;
    if (ao == lastnf) return; /* already the rightmost of its old count */
    /* unlink, then insert just after lastnf */
    if (ao->prevarena != NULL)
        ao->prevarena->nextarena = ao->nextarena;
    else
        pm->usable_arenas = ao->nextarena;
    ao->nextarena->prevarena = ao->prevarena;
    ao->prevarena = lastnf;
    ao->nextarena = lastnf->nextarena;
    if (ao->nextarena != NULL) ao->nextarena->prevarena = ao;
    lastnf->nextarena = ao;
}

/* How many wholly free arenas may be kept: retain_free_arenas, or
 * retain_free_percent % of the arenas in use if that is more. */
static size_t free_arena_limit(const rcgc_pymalloc *pm)
{
    size_t busy = pm->narenas_current - pm->nfree_arenas;
    size_t limit = busy * pm->retain_percent / 100;
    return limit < pm->retain ? pm->retain : limit;
}

/* Release wholly free arenas, never the last usable one, while more are kept
 * than the limit (it falls when an arena empties).  They sit at the tail of
 * usable_arenas, with 64 (or, misaligned, 63) free pools. */
static void shed_free_arenas(rcgc_pymalloc *pm)
{
    size_t limit = free_arena_limit(pm); /* releasing does not change it */
    for (uint32_t n = PM_MAX_POOLS; n >= PM_MAX_POOLS - 1; n--) {
        pm_arena *ao = pm->nfp2lasta[n];
        while (ao != NULL && ao->nfreepools == n && pm->nfree_arenas > limit) {
            pm_arena *prev = ao->prevarena;
            if (n == ao->ntotalpools && ao->nextarena != NULL) {
                unlink_usable(pm, ao);
                pm->nfree_arenas--;
                release_arena(pm, ao);
            }
            ao = prev;
        }
    }
}

/* RCGC_DEBUG >= 3, after an arena release: the arena lists and counters
 * every time (O(arenas)), the whole heap (O(blocks)) once per as many
 * releases as there are arenas left, so that checking costs a release what
 * the release's own frees cost, amortized: freeing 10^7 objects stays
 * linear (a whole-heap check at every release made it quadratic). */
static void check_after_release(rcgc_pymalloc *pm)
{
    int r = rcgc__pm_check_lists(pm, stderr);
    if (r == 0 && pm->check_countdown-- == 0) {
        pm->check_countdown = pm->narenas_current;
        r = rcgc_pymalloc_check(pm, stderr);
    }
    if (r == RCGC_ECORRUPT) abort(); /* RCGC_ENOMEM: nothing was checked */
}

/* A pool just became empty: move it to its arena's freepools and manage the
 * arena (release it, link it back into usable_arenas, or re-sort it). */
RCGC__NOINLINE void rcgc__pm_pool_emptied(rcgc_pymalloc *pm, pm_pool *pool)
{
    /* pinned: it keeps its class, on usedpools with a count of 0, until
     * rcgc__pm_unpin takes the last pin */
    if (RCGC_UNLIKELY(rcgc__pm_pins(pool) != 0)) {
        pm->pinned_emptied++;
        return;
    }
    RCGC_ASSERT(pool->count == 0 && pool->arenaindex < pm->maxarenas);
    RCGC_ASSERT(pm->arenas[pool->arenaindex].address != 0 &&
                pm->arenas[pool->arenaindex].nfreepools <
                    pm->arenas[pool->arenaindex].ntotalpools);
    pool->link.next->prev = pool->link.prev;
    pool->link.prev->next = pool->link.next;

    pm_arena *ao = &pm->arenas[pool->arenaindex];
    pool->link.next = (pm_link *)ao->freepools; /* its first member */
    ao->freepools = pool;
    uint32_t nf = ao->nfreepools;
    pm_arena *lastnf = pm->nfp2lasta[nf];
    if (lastnf == ao) {
        pm_arena *p = ao->prevarena;
        pm->nfp2lasta[nf] = (p != NULL && p->nfreepools == nf) ? p : NULL;
    }
    ao->nfreepools = ++nf;

    if (nf == ao->ntotalpools) {
        /* wholly free: keep the last usable arena (CPython, bpo-37257) and
         * up to the limit; when the limit is 1 this is CPython's rule */
        size_t limit = free_arena_limit(pm);
        if (ao->nextarena != NULL && (limit <= 1 || pm->nfree_arenas >= limit)) {
            if (ao->prevarena != NULL)
                ao->prevarena->nextarena = ao->nextarena;
            else
                pm->usable_arenas = ao->nextarena;
            ao->nextarena->prevarena = ao->prevarena;
            release_arena(pm, ao);
            if (pm->nfree_arenas > 1) shed_free_arenas(pm); /* fewer in use */
            if (RCGC_DEBUG >= 3) check_after_release(pm);
            return;
        }
        pm->nfree_arenas++;
    }
    if (nf == 1) {
        /* it had no free pool, so it was on no list */
        ao->nextarena = pm->usable_arenas;
        ao->prevarena = NULL;
        if (pm->usable_arenas != NULL) pm->usable_arenas->prevarena = ao;
        pm->usable_arenas = ao;
        if (pm->nfp2lasta[1] == NULL) pm->nfp2lasta[1] = ao;
    } else {
        resort_arena(pm, ao, lastnf);
    }
    if (nf == ao->ntotalpools && pm->nfree_arenas > 1) shed_free_arenas(pm);
}

size_t rcgc__pm_pinned_empty_pools(const rcgc_pymalloc *pm)
{
    size_t n = 0;
    for (uint32_t c = 0; c < PM_NCLASSES; c++) {
        const pm_link *head = &pm->usedpools[c];
        for (const pm_link *l = head->next; l != head; l = l->next)
            n += ((const pm_pool *)(const void *)l)->count == 0; /* link first */
    }
    return n;
}

void rcgc__pm_unpin_n(rcgc_pymalloc *pm, const void *p, uint32_t n)
{
    uint32_t pins = rcgc__pm_pins(p);
    RCGC_ASSERT(n > 0 && pins >= n);
    rcgc__pm_set_pins(p, pins - n);
    pm_pool *pool = PM_POOL_ADDR(p);
    if (pins == n && pool->count == 0) rcgc__pm_pool_emptied(pm, pool);
}

/* ---- the entry points ---- */

static RCGC__NOINLINE void *alloc_raw(rcgc_pymalloc *pm, size_t size)
{
    return raw_malloc(pm, size);
}

/* No used pool for the class of size (1..512): a new pool's first block,
 * NULL when no arena can be had (new_pool), or then raw's (new_pool_or_raw). */
static RCGC__NOINLINE void *new_pool(rcgc_pymalloc *pm, size_t size)
{
    return allocate_from_new_pool(pm, (uint32_t)(size - 1) >> PM_ALIGNMENT_SHIFT);
}

static RCGC__NOINLINE void *new_pool_or_raw(rcgc_pymalloc *pm, size_t size)
{
    void *p = allocate_from_new_pool(pm, (uint32_t)(size - 1) >> PM_ALIGNMENT_SHIFT);
    return p != NULL ? p : raw_malloc(pm, size);
}

/* A block of size bytes (1..512): a used pool's when there is one (the
 * fast path, whose every other case ends in a tail call, so it needs no
 * stack frame), else no_pool's. */
static inline void *pool_alloc(rcgc_pymalloc *pm, size_t size,
                               void *(*no_pool)(rcgc_pymalloc *, size_t))
{
    /* usedpools[(size - 1) >> 4], 16 bytes a head */
    size_t off = (size - 1) & ~(size_t)(sizeof(pm_link) - 1);
    pm_link *head = (pm_link *)(void *)((char *)pm->usedpools + off);
    pm_link *l = head->next;
    if (RCGC_UNLIKELY(l == head)) return no_pool(pm, size);
    pm_pool *pool = pm_pool_of(l);
    pm_block *bp = pool->freeblock;
    RCGC_ASSERT(pool->szidx == off >> PM_ALIGNMENT_SHIFT && bp != NULL);
    RCGC__UNPOISON(bp, off + 16);
    pool->count++;
    if (RCGC_UNLIKELY((pool->freeblock = *(pm_block **)(void *)bp) == NULL))
        return pool_extend(pool, (uint32_t)off + 16, bp);
    return bp;
}

RCGC__NOINLINE void *rcgc__pm_alloc_pool(rcgc_pymalloc *pm, size_t size)
{
    return pool_alloc(pm, size, new_pool);
}

/* A block of size bytes: from a pool when possible, NULL only when even
 * raw fails.  rcgc__pm_take (alloc_internal.h) is the object layer's
 * inline version of the fast path. */
static inline void *pm_alloc(rcgc_pymalloc *pm, size_t size)
{
    if (RCGC_UNLIKELY(size - 1 >= PM_THRESHOLD)) return alloc_raw(pm, size);
    return pool_alloc(pm, size, new_pool_or_raw);
}

/* Debug builds: p must be an allocated block of its pool. */
RCGC__NOINLINE void rcgc__pm_check_free(const pm_pool *pool, const void *p)
{
    uint32_t off = (uint32_t)((uintptr_t)p & PM_POOL_MASK);
    if (pool->count == 0 || pool->szidx >= PM_NCLASSES ||
        off < PM_POOL_OVERHEAD || off >= pool->nextoffset ||
        (off - PM_POOL_OVERHEAD) % PM_INDEX2SIZE(pool->szidx) != 0) {
        fprintf(stderr, "rcgc: fatal error: rcgc_pymalloc_free: %p is not an "
                "allocated block of this allocator\n", p);
        abort();
    }
}

/* Return p (a block of pm's arenas) to its pool. */
static inline void pool_free(rcgc_pymalloc *pm, void *p)
{
    (void)rcgc__pm_free_block(pm, p);
}

/* free() of a pointer that is not in an arena: NULL or a raw block. */
static RCGC__NOINLINE void free_raw(rcgc_pymalloc *pm, void *p)
{
    if (p != NULL) raw_free(pm, p);
}

void *rcgc_pymalloc_malloc(rcgc_pymalloc *pm, size_t size)
{
    return pm_alloc(pm, size);
}

void *rcgc_pymalloc_calloc(rcgc_pymalloc *pm, size_t nelem,
                           size_t elsize)
{
    if (elsize != 0 && nelem > SIZE_MAX / elsize) return NULL;
    size_t n = nelem * elsize;
    if (n - 1 < PM_THRESHOLD) {
        void *p = pm_alloc(pm, n);
        return p != NULL ? memset(p, 0, n) : NULL;
    }
    void *p = pm->raw.calloc(pm->raw.ctx, nelem, elsize);
    if (p == NULL && n == 0) p = pm->raw.calloc(pm->raw.ctx, 1, 1);
    if (p != NULL) pm->raw_blocks++;
    return p;
}

void rcgc_pymalloc_free(rcgc_pymalloc *pm, void *ptr)
{
    /* NULL is never in an arena (no arena starts at address 0) */
    if (RCGC_LIKELY(rcgc__pm_owns(pm, ptr)))
        pool_free(pm, ptr);
    else
        free_raw(pm, ptr);
}

void *rcgc_pymalloc_realloc(rcgc_pymalloc *pm, void *ptr,
                            size_t size)
{
    if (ptr == NULL) return rcgc_pymalloc_malloc(pm, size);
    if (!rcgc__pm_owns(pm, ptr)) {
        /* never adopt a foreign block: its valid length is unknown */
        return pm->raw.realloc(pm->raw.ctx, ptr, size);
    }
    size_t old = PM_INDEX2SIZE(PM_POOL_ADDR(ptr)->szidx);
    if (size <= old) {
        /* shrinking: copy only if at least a quarter is saved */
        if (4 * size > 3 * old) return ptr;
        old = size;
    }
    void *p = pm_alloc(pm, size);
    if (p != NULL) {
        memcpy(p, ptr, old);
        pool_free(pm, ptr);
    }
    return p;
}

/* ---- hooks ---- */

static void *hook_malloc(void *ctx, size_t size)
{
    return rcgc_pymalloc_malloc(ctx, size);
}

void *rcgc__pm_hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return rcgc_pymalloc_calloc(ctx, nelem, elsize);
}

static void *hook_realloc(void *ctx, void *ptr, size_t size)
{
    return rcgc_pymalloc_realloc(ctx, ptr, size);
}

void rcgc__pm_hook_free(void *ctx, void *ptr)
{
    rcgc_pymalloc_free(ctx, ptr);
}

rcgc_allocator rcgc_pymalloc_allocator(rcgc_pymalloc *pm)
{
    rcgc_allocator a = {pm, hook_malloc, rcgc__pm_hook_calloc, hook_realloc,
                         rcgc__pm_hook_free};
    return a;
}

int rcgc_pymalloc_owns(const rcgc_pymalloc *pm, const void *ptr)
{
    return pm != NULL && rcgc__pm_owns(pm, ptr);
}

size_t rcgc_pymalloc_block_size(const rcgc_pymalloc *pm,
                                const void *ptr)
{
    if (!rcgc_pymalloc_owns(pm, ptr)) return 0;
    uint32_t c = PM_POOL_ADDR(ptr)->szidx;
    return c < PM_NCLASSES ? PM_INDEX2SIZE(c) : 0;
}

/* ---- creation and destruction ---- */

void rcgc_pymalloc_config_init(rcgc_pymalloc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->raw = rcgc_libc_allocator();
    cfg->arena = rcgc_mmap_arena_allocator();
    cfg->retain_free_arenas = 1;
    cfg->retain_free_percent = 25;
}

int rcgc_pymalloc_create(const rcgc_pymalloc_config *cfg,
                         rcgc_pymalloc **out)
{
    if (out == NULL) return RCGC_EINVAL;
    *out = NULL;
    rcgc_pymalloc_config c;
    if (cfg != NULL && !RCGC__SIZE_OK(cfg)) return RCGC_EINVAL;
    if (cfg != NULL)
        c = *cfg;
    else
        rcgc_pymalloc_config_init(&c);
    int raw_ok = rcgc__allocator_complete(&c.raw);
    if (raw_ok < 0 || c.retain_free_arenas < 1 || c.retain_free_percent < 0)
        return RCGC_EINVAL;
    if (raw_ok == 0) c.raw = rcgc_libc_allocator();
    if (c.arena.alloc == NULL) {
        if (c.arena.free != NULL) return RCGC_EINVAL;
        c.arena = rcgc_mmap_arena_allocator();
    } else if (c.arena.free == NULL) {
        return RCGC_EINVAL;
    }
    rcgc_pymalloc *pm = c.raw.calloc(c.raw.ctx, 1, sizeof *pm);
    if (pm == NULL) return RCGC_ENOMEM;
    for (int i = 0; i < PM_NCLASSES; i++)
        pm->usedpools[i].next = pm->usedpools[i].prev = &pm->usedpools[i];
    pm->raw = c.raw;
    pm->arena = c.arena;
    pm->retain = (size_t)c.retain_free_arenas;
    pm->retain_percent = (size_t)c.retain_free_percent;
    pm->side_pages = rcgc__allocator_is_libc(&c.raw);
    *out = pm;
    return 0;
}

rcgc_pymalloc *rcgc_pymalloc_new(const rcgc_pymalloc_config *cfg)
{
    rcgc_pymalloc *pm;
    return rcgc_pymalloc_create(cfg, &pm) == 0 ? pm : NULL;
}

rcgc_ssize rcgc_pymalloc_destroy(rcgc_pymalloc *pm)
{
    if (pm == NULL) return 0;
    rcgc_ssize live = rcgc_pymalloc_allocated_blocks(pm);
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        (void)rcgc__pm_map_mark(pm, ao->address, 0);
        RCGC__UNPOISON((void *)ao->address, PM_ARENA_SIZE);
        pm->arena.free(pm->arena.ctx, (void *)ao->address, PM_ARENA_SIZE);
        side_free(pm, ao->side);
        ao->side = NULL;
    }
    rcgc__pm_map_free(pm);
    rcgc_allocator raw = pm->raw;
    raw.free(raw.ctx, pm->arenas);
    raw.free(raw.ctx, pm);
    return live;
}

rcgc_ssize rcgc_pymalloc_allocated_blocks(const rcgc_pymalloc *pm)
{
    rcgc_ssize n = pm->raw_blocks;
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        const pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        for (uintptr_t b = rcgc__pm_first_pool(ao);
             b < (uintptr_t)ao->pool_address; b += PM_POOL_SIZE)
            n += ((const pm_pool *)b)->count;
    }
    return n;
}

/* ---- trim ---- */

/* Release every wholly free arena of usable_arenas. */
static size_t trim_arenas(rcgc_pymalloc *pm)
{
    size_t freed = 0;
    pm_arena *ao = pm->usable_arenas;
    while (ao != NULL) {
        pm_arena *next = ao->nextarena;
        if (ao->nfreepools == ao->ntotalpools) {
            unlink_usable(pm, ao);
            pm->nfree_arenas--;
            release_arena(pm, ao);
            freed += PM_ARENA_SIZE;
        }
        ao = next;
    }
    return freed;
}

static size_t decommit(rcgc_pymalloc *pm, void *p, size_t n)
{
    pm->arena.decommit(pm->arena.ctx, p, n);
    return n;
}

/* Pages 1..3 of each empty pool of ao; their stale free lists are dropped. */
static size_t trim_empty_pools(rcgc_pymalloc *pm, pm_arena *ao)
{
    size_t freed = 0;
    for (pm_pool *pool = ao->freepools; pool != NULL;
         pool = pm_pool_of(pool->link.next)) {
        if (pool->szidx == PM_DUMMY_SIZE_IDX) continue; /* already done */
        size_t gone = (size_t)__builtin_popcount(pool->parked) * PM_PAGE_SIZE;
        pool->szidx = PM_DUMMY_SIZE_IDX;
        pool->parked = 0;
        pm_block *pages = (pm_block *)pool + PM_PAGE_SIZE;
        RCGC__UNPOISON(pages, PM_POOL_SIZE - PM_PAGE_SIZE);
        freed += decommit(pm, pages, PM_POOL_SIZE - PM_PAGE_SIZE) - gone;
    }
    return freed;
}

/* In a used pool: park every page (1..3) whose blocks are all free, rebuild
 * the free list in address order without the blocks that start in a parked
 * page, and give the newly parked pages (and virgin ones) back.  Returns the
 * bytes of newly parked pages. */
static size_t trim_used_pool(rcgc_pymalloc *pm, pm_pool *pool)
{
    uint32_t size = PM_INDEX2SIZE(pool->szidx);
    uint32_t ncarved = (pool->nextoffset - PM_POOL_OVERHEAD) / size;
    uint64_t isfree[(PM_POOL_SIZE / 16 + 63) / 64] = {0};
#define TRIM_FREE(i) (isfree[(i) / 64] >> ((i) % 64) & 1)
#define TRIM_PAGE(off) ((off) / PM_PAGE_SIZE)
    for (pm_block *b = pool->freeblock; b != NULL; b = rcgc__pm_link(b)) {
        uint32_t i = (uint32_t)(b - (pm_block *)pool - PM_POOL_OVERHEAD) / size;
        isfree[i / 64] |= (uint64_t)1 << (i % 64);
    }
    uint32_t busy = 1u; /* page 0 holds the header */
    for (uint32_t i = 0; i < ncarved; i++) {
        uint32_t off = PM_POOL_OVERHEAD + i * size;
        if (pool->parked >> TRIM_PAGE(off) & 1)
            isfree[i / 64] |= (uint64_t)1 << (i % 64); /* parked: free */
        else if (!TRIM_FREE(i))
            busy |= 1u << TRIM_PAGE(off) | 1u << TRIM_PAGE(off + size - 1);
    }
    /* a parked page holds carved blocks only: carving must never reach it */
    uint32_t park = 0;
    for (uint32_t k = 1; k < PM_PAGES_PER_POOL; k++)
        if (!(busy >> k & 1) && k * PM_PAGE_SIZE < pool->nextoffset &&
            (pool->nextoffset >= (k + 1) * PM_PAGE_SIZE ||
             pool->nextoffset > pool->maxnextoffset))
            park |= 1u << k;
    /* a used pool keeps a free block on its list: unpark from the bottom
     * until one free block starts outside the parked pages */
    for (;;) {
        uint32_t i = 0;
        while (i < ncarved && !(TRIM_FREE(i) &&
                                !(park >> TRIM_PAGE(PM_POOL_OVERHEAD + i * size) & 1)))
            i++;
        if (i < ncarved || park == 0) break;
        park &= park - 1;
    }
    pm_block **link = &pool->freeblock;
    for (uint32_t i = 0; i < ncarved; i++) {
        uint32_t off = PM_POOL_OVERHEAD + i * size;
        if (!TRIM_FREE(i)) continue;
        pm_block *b = (pm_block *)pool + off;
        RCGC__UNPOISON(b, size);
        if (park >> TRIM_PAGE(off) & 1) continue;
        *link = b;
        link = (pm_block **)(void *)b;
    }
    *link = NULL;
    for (uint32_t i = 0; i < ncarved; i++)
        if (TRIM_FREE(i))
            RCGC__POISON((pm_block *)pool + PM_POOL_OVERHEAD + i * size, size);
#undef TRIM_FREE
#undef TRIM_PAGE
    uint32_t fresh = park & ~pool->parked;
    pool->parked = park;
    size_t freed = 0;
    for (uint32_t k = 1; k < PM_PAGES_PER_POOL; k++) {
        pm_block *page = (pm_block *)pool + k * PM_PAGE_SIZE;
        if (fresh >> k & 1)
            freed += decommit(pm, page, PM_PAGE_SIZE);
        else if (k * PM_PAGE_SIZE >= pool->nextoffset)
            (void)decommit(pm, page, PM_PAGE_SIZE); /* virgin: stale data */
    }
    return freed;
}

size_t rcgc_pymalloc_trim(rcgc_pymalloc *pm)
{
    size_t freed = trim_arenas(pm);
    if (pm->arena.decommit == NULL) return freed;
    for (uint32_t i = 0; i < pm->maxarenas; i++) {
        pm_arena *ao = &pm->arenas[i];
        if (ao->address == 0) continue;
        freed += trim_empty_pools(pm, ao);
        for (uintptr_t b = rcgc__pm_first_pool(ao);
             b < (uintptr_t)ao->pool_address; b += PM_POOL_SIZE) {
            pm_pool *pool = (pm_pool *)b;
            /* a pinned empty pool stays on its class's list, as a used one:
             * its free pages go back the same way */
            if ((pool->count != 0 || rcgc__pm_pins(pool) != 0) &&
                pool->freeblock != NULL)
                freed += trim_used_pool(pm, pool);
        }
    }
    return freed;
}

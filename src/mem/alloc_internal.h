/*
 * alloc_internal.h - what the allocator's modules share: the pool allocator's
 * state and structures (pymalloc.c, arenamap.c, pmcheck.c), the radix-tree
 * lookup, the heap structure (memdomain.c; the runtime embeds it), the
 * pointer table (ptrmap.c) and the sanitizer annotations.  Nothing here is
 * public.  Layouts and invariants: docs/allocator.md.
 */
#ifndef RCGC_ALLOC_INTERNAL_H
#define RCGC_ALLOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "platform/assert.h"
#include "rcgc.h"
#include "rcgc_mem.h"

#if defined(__GNUC__)
#define RCGC__NOINLINE __attribute__((noinline))
#define RCGC__PRINTF_(f, a) __attribute__((format(printf, f, a)))
#else
#define RCGC__PRINTF_(f, a)
#define RCGC__NOINLINE
#endif

/* A caller-initialised config struct carries its own size as its first
 * member (set by its *_init): a program compiled against other headers, or
 * a struct never passed to *_init, fails this check instead of being read
 * with the wrong layout. */
#define RCGC__SIZE_OK(cfg) ((cfg)->size == sizeof *(cfg))
/* The same for optional ones (NULL: the defaults). */
#define RCGC__OPTS_OK(opts) ((opts) == NULL || RCGC__SIZE_OK(opts))

/* ---- AddressSanitizer: free pool blocks are poisoned ---- */

#if defined(__SANITIZE_ADDRESS__)
#define RCGC__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RCGC__ASAN 1
#endif
#endif

#ifdef RCGC__ASAN
#include <sanitizer/asan_interface.h>
#define RCGC__POISON(p, n) __asan_poison_memory_region((p), (n))
#define RCGC__UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#define RCGC__NO_ASAN __attribute__((no_sanitize_address))
#else
#define RCGC__POISON(p, n) ((void)0)
#define RCGC__UNPOISON(p, n) ((void)0)
#define RCGC__NO_ASAN
#endif

/* ---- pool allocator constants ---- */

#define PM_ALIGNMENT_SHIFT 4
#define PM_THRESHOLD RCGC_PYMALLOC_THRESHOLD
#define PM_NCLASSES RCGC_PYMALLOC_NCLASSES
#define PM_POOL_SIZE ((uint32_t)RCGC_PYMALLOC_POOL_SIZE)
#define PM_POOL_MASK ((uintptr_t)PM_POOL_SIZE - 1)
#define PM_ARENA_BITS 20
#define PM_ARENA_SIZE ((size_t)1 << PM_ARENA_BITS)
#define PM_ARENA_MASK ((uintptr_t)PM_ARENA_SIZE - 1)
#define PM_MAX_POOLS ((uint32_t)(PM_ARENA_SIZE / PM_POOL_SIZE)) /* 64 */
#define PM_POOL_OVERHEAD ((uint32_t)RCGC_PYMALLOC_POOL_OVERHEAD)
#define PM_PAGE_SIZE 4096u
#define PM_PAGES_PER_POOL (PM_POOL_SIZE / PM_PAGE_SIZE)           /* 4 */
#define PM_DUMMY_SIZE_IDX 0xffffu /* pool not initialised for a class */
#define PM_INITIAL_ARENAS 16u

#define PM_INDEX2SIZE(i) (((uint32_t)(i) + 1u) << PM_ALIGNMENT_SHIFT)
#define PM_NUMBLOCKS(i) ((PM_POOL_SIZE - PM_POOL_OVERHEAD) / PM_INDEX2SIZE(i))
#define PM_POOL_ADDR(p) ((pm_pool *)((uintptr_t)(p) & ~PM_POOL_MASK))

/* Radix tree: 48-bit addresses = 14 root bits | 14 leaf bits | 20 offset. */
#define PM_MAP_BITS 48
#define PM_MAP_BOT_BITS 14
#define PM_MAP_ROOT_BITS (PM_MAP_BITS - PM_ARENA_BITS - PM_MAP_BOT_BITS)
#define PM_MAP_ROOT_LEN ((size_t)1 << PM_MAP_ROOT_BITS)
#define PM_MAP_BOT_LEN ((size_t)1 << PM_MAP_BOT_BITS)

typedef uint8_t pm_block;
typedef struct pm_link pm_link;
typedef struct pm_pool pm_pool;
typedef struct pm_arena pm_arena;

/* Links of a circular doubly linked list of pools; a list head (sentinel)
 * is a bare pm_link, every other node is the first member of a pool. */
struct pm_link {
    pm_link *next;
    pm_link *prev;
};

/* The header at the start of every pool (48 bytes). */
struct pm_pool {
    pm_link link;            /* usedpools[szidx] list; link.next also chains
                                the arena's freepools */
    uint32_t count;          /* blocks in use */
    uint16_t parked;         /* bit k: page k given back by trim (k = 1..3) */
    uint16_t szidx;          /* size class, or PM_DUMMY_SIZE_IDX */
    pm_block *freeblock;     /* first free block; link in its first 8 bytes */
    uintptr_t side_bias;     /* this pool's PM_SIDE_PER_POOL side bytes (in
                                its arena's side array, outside the pool's
                                pages) less the pool's address >> 4: the
                                byte of granule address a is at side_bias +
                                (a >> 4).  Set when the pool is first
                                carved (rcgc__pm_pool_side) */
    uint32_t arenaindex;     /* index into arenas[] */
    uint16_t nextoffset;     /* first virgin block */
    uint16_t maxnextoffset;  /* PM_POOL_SIZE - block size */
};

/*
 * Side bytes: one byte per 16-byte granule of every pool, in an array per
 * arena (PM_SIDE_PER_ARENA bytes, zeroed, obtained before the arena and
 * freed with it), so that a layer above can keep a few bits per block
 * without writing the block's page (the collector's membership bits:
 * core/gchead.h, docs/layout-16.md).  The array is fresh pages of the OS
 * when the raw allocator is the C library's (pm->side_pages): untouched,
 * so not resident, until a layer above writes a pool's slice; otherwise
 * the raw allocator's calloc (docs/allocator.md, "Side bytes").  The
 * allocator never writes them; it only hands them out zero (a new arena)
 * and tells where a granule's byte is.  A granule, not a block: the index
 * is a shift of the address (no division by the block size), and a pool
 * keeps its bytes when it changes size class.
 */
#define PM_SIDE_PER_POOL (PM_POOL_SIZE >> PM_ALIGNMENT_SHIFT)        /* 1024 */
#define PM_SIDE_PER_ARENA ((size_t)PM_MAX_POOLS * PM_SIDE_PER_POOL) /* 64 KiB */

/* The pool whose link l is (l must not be a list head). */
static inline pm_pool *pm_pool_of(const pm_link *l)
{
    return (pm_pool *)l;
}

/* An arena descriptor (in the growable arenas[] vector). */
struct pm_arena {
    uintptr_t address;       /* arena memory; 0: descriptor unused */
    pm_block *pool_address;  /* next pool never carved */
    uint32_t nfreepools;     /* empty pools + pools never carved */
    uint32_t ntotalpools;    /* 64, or 63 when not pool-aligned */
    pm_pool *freepools;      /* empty pools, chained by link.next */
    pm_arena *nextarena;     /* usable_arenas, or unused_arena_objects */
    pm_arena *prevarena;     /* usable_arenas */
    uint8_t *side;           /* PM_SIDE_PER_ARENA side bytes (pool k of the
                                arena, counted from its first pool, has
                                side + k * PM_SIDE_PER_POOL) */
};

/* Leaf of the radix tree, one per 1 MiB-aligned "ideal arena": the offsets
 * [lo, lo + span) belong to no arena.  lo is where an arena that began in
 * the previous slot ends (0: none); lo + span is where an arena begins in
 * this slot (PM_ARENA_SIZE: none).  A fresh leaf is {0, PM_ARENA_SIZE}. */
typedef struct pm_leaf {
    uint32_t lo;
    uint32_t span;
} pm_leaf;

typedef struct pm_map_bot {
    pm_leaf leaf[PM_MAP_BOT_LEN];
} pm_map_bot;

struct rcgc_pymalloc {
    /* hot: the allocation fast path reads these */
    pm_link usedpools[PM_NCLASSES]; /* list heads, per size class */
    pm_arena *usable_arenas;        /* by ascending nfreepools */
    pm_arena *nfp2lasta[PM_MAX_POOLS + 1]; /* last usable arena with n free */
    pm_arena *arenas;               /* descriptor vector */
    uint32_t maxarenas;             /* its length */
    pm_arena *unused_arena_objects; /* descriptors with address 0 */
    /* counters */
    size_t narenas_current;         /* arenas held */
    size_t narenas_total;           /* arenas ever obtained */
    size_t narenas_highwater;       /* most held at once */
    size_t nfree_arenas;            /* wholly free arenas in usable_arenas */
    rcgc_ssize raw_blocks;          /* live blocks from raw */
    size_t check_countdown;         /* RCGC_DEBUG >= 3: arena releases
                                       until the next whole-heap check */
    size_t map_bot_count;           /* radix bottom nodes */
    /* configuration */
    rcgc_allocator raw;
    rcgc_arena_allocator arena;
    size_t retain;                  /* retain_free_arenas */
    size_t retain_percent;          /* retain_free_percent */
    uint32_t pinned_emptied;        /* pools that emptied while pinned
                                       since the layer above last reset it
                                       (rcgc__pm_pinned_emptied) */
    int side_pages;                 /* 1: side arrays are fresh pages of
                                       the OS (raw is the C library, whose
                                       calloc of 64 KiB writes the pages it
                                       recycles); 0: raw's calloc */
    /* cold: the radix tree root (zero pages until touched) */
    pm_map_bot *map_root[PM_MAP_ROOT_LEN];
};

/* O(1): is p inside one of pm's arenas?  Reads only the radix tree. */
static inline int rcgc__pm_owns(const struct rcgc_pymalloc *pm, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uintptr_t i = a >> (PM_ARENA_BITS + PM_MAP_BOT_BITS);
    if (RCGC_UNLIKELY(i >= PM_MAP_ROOT_LEN)) return 0; /* beyond 48 bits */
    const pm_map_bot *bot = pm->map_root[i];
    if (RCGC_UNLIKELY(bot == NULL)) return 0;
    const pm_leaf *lf = &bot->leaf[(a >> PM_ARENA_BITS) & (PM_MAP_BOT_LEN - 1)];
    return (uint32_t)((uint32_t)(a & PM_ARENA_MASK) - lf->lo) >= lf->span;
}

/* Where a block of pm's pools is, for code above the allocator that keeps
 * per-block data by pool (the tracer's side arrays) without knowing a
 * pool's layout: the pool's address, the block's index in it, the block
 * size and the pool's block count. */
typedef struct rcgc__pm_where {
    uintptr_t pool;
    uint32_t index, bsize, nslots;
} rcgc__pm_where;

/* O(1): 1 and *w when p is the start of a block of one of pm's pools
 * (allocated or free), 0 otherwise (not pm's, or inside a block). */
static inline int rcgc__pm_locate(const struct rcgc_pymalloc *pm, const void *p,
                                  rcgc__pm_where *w)
{
    if (!rcgc__pm_owns(pm, p)) return 0;
    const pm_pool *pool = PM_POOL_ADDR(p);
    uint32_t c = pool->szidx;
    uintptr_t off = (uintptr_t)p - (uintptr_t)pool;
    if (c >= PM_NCLASSES || off < PM_POOL_OVERHEAD) return 0;
    w->bsize = PM_INDEX2SIZE(c);
    w->nslots = PM_NUMBLOCKS(c);
    off -= PM_POOL_OVERHEAD;
    w->index = (uint32_t)(off / w->bsize);
    if (off % w->bsize != 0 || w->index >= w->nslots) return 0;
    w->pool = (uintptr_t)pool;
    return 1;
}

/* The side byte of the 16-byte granule at p, an address inside a block of
 * one of pm's pools (the caller knows it is: rcgc__pm_owns, or a block the
 * pool just handed out).  Two instructions and one load, of the pool
 * header: no radix-tree lookup. */
static inline uint8_t *rcgc__pm_side_byte(const void *p)
{
    const pm_pool *pool = PM_POOL_ADDR(p);
    return (uint8_t *)(pool->side_bias + ((uintptr_t)p >> PM_ALIGNMENT_SHIFT));
}

/* The first of a carved pool's PM_SIDE_PER_POOL side bytes. */
static inline uint8_t *rcgc__pm_pool_side(const pm_pool *pool)
{
    return (uint8_t *)(pool->side_bias + ((uintptr_t)pool >> PM_ALIGNMENT_SHIFT));
}

/* ---- pins: a pool whose blocks a layer above refers to keeps its class ----
 *
 * The first two bytes of a pool's side slice (those of the pool header's
 * granules, which no block covers) count references to the pool's blocks
 * that a layer above keeps outside them (the collector's young vectors:
 * docs/layout-16.md, invariant 3).  A pinned pool that empties stays on its
 * class's usedpools list with a count of 0 instead of going back to its
 * arena, so that a stale reference never points into the middle of a block
 * of another class; rcgc__pm_unpin gives it back when the last pin goes. */
#define PM_PINS_MAX 0xffffu /* more than two references to each block */

static inline uint32_t rcgc__pm_pins(const void *p)
{
    const uint8_t *s = rcgc__pm_pool_side(PM_POOL_ADDR(p));
    return (uint32_t)s[0] | (uint32_t)s[1] << 8;
}

static inline void rcgc__pm_set_pins(const void *p, uint32_t n)
{
    uint8_t *s = rcgc__pm_pool_side(PM_POOL_ADDR(p));
    s[0] = (uint8_t)n;
    s[1] = (uint8_t)(n >> 8);
}

/* One more reference to a block of p's pool (p: a block of one of the
 * pools, in use). */
static inline void rcgc__pm_pin(const void *p)
{
    uint32_t n = rcgc__pm_pins(p);
    RCGC_ASSERT(n < PM_PINS_MAX);
    rcgc__pm_set_pins(p, n + 1);
}

/* The pins of all of pm's carved pools together (pmcheck.c; for the
 * collector's checker). */
size_t rcgc__pm_pins_total(const struct rcgc_pymalloc *pm);

/* n (> 0) references fewer to blocks of p's pool at once (p: an address in
 * a block of a pinned pool, in use or not; a vector's run of entries into
 * one pool); an empty pool whose last pin goes returns to its arena. */
void rcgc__pm_unpin_n(struct rcgc_pymalloc *pm, const void *p, uint32_t n);

/* The start of p's pool (p: an address in a carved pool), for code above
 * src/mem that groups addresses by pool. */
static inline const void *rcgc__pm_pool_start(const void *p)
{
    return PM_POOL_ADDR(p);
}

/* How many pools emptied while pinned (and so stayed on their class's
 * list) since the last rcgc__pm_pinned_reset: a pool counts again if it
 * empties again, and still counts if a block was taken from it since, so
 * this bounds from above the empty pinned pools held.  The layer above
 * drops its stale references when it grows (core/object.c). */
static inline uint32_t rcgc__pm_pinned_emptied(const struct rcgc_pymalloc *pm)
{
    return pm->pinned_emptied;
}

static inline void rcgc__pm_pinned_reset(struct rcgc_pymalloc *pm)
{
    pm->pinned_emptied = 0;
}

/* The empty pools held now (pinned, on their class's list with a count of
 * 0): O(pools on the usedpools lists). */
size_t rcgc__pm_pinned_empty_pools(const struct rcgc_pymalloc *pm);

/* One reference fewer. */
static inline void rcgc__pm_unpin(struct rcgc_pymalloc *pm, const void *p)
{
    rcgc__pm_unpin_n(pm, p, 1);
}

/* The side byte of the granule at p if p is in one of pm's arenas (pm may
 * be NULL), else NULL. */
static inline uint8_t *rcgc__pm_side_lookup(const struct rcgc_pymalloc *pm,
                                            const void *p)
{
    return pm != NULL && rcgc__pm_owns(pm, p) ? rcgc__pm_side_byte(p) : NULL;
}

/* Call fn(arg, granule, byte, allocated) for every non-zero side byte of
 * pm's pools, in address order: granule is the address the byte describes,
 * allocated whether that granule lies in a block in use (not free, parked,
 * virgin, an empty pool's or the pool header's).  Stops at the first
 * non-zero return of fn and returns it; 0 otherwise.  Allocates nothing;
 * O(arenas * PM_SIDE_PER_ARENA + blocks of the pools with a non-zero byte).
 * For the collector's checker (core/check.c). */
typedef int (*rcgc__pm_side_fn)(void *arg, const void *granule, uint8_t byte,
                                int allocated);
int rcgc__pm_side_walk(const struct rcgc_pymalloc *pm, rcgc__pm_side_fn fn,
                       void *arg);

/* fn(side, n) for the side bytes of every pool ever carved past its
 * header's granules (which hold its pins), arena by arena in the order of
 * the arena vector: a rewrite of many bytes in address order (freeze,
 * unfreeze) instead of one per listed object.  The slices of pools never
 * carved are zero and left alone (writing them would make their pages
 * resident), so fn must map a zero byte to zero. */
void rcgc__pm_side_arrays(const struct rcgc_pymalloc *pm,
                          void (*fn)(uint8_t *side, size_t n));

/* The calloc and free hooks of rcgc_pymalloc_allocator(pm): the runtime
 * compares a domain's hooks with them to call the pool allocator directly
 * (runtime.c, rcgc__obj_calloc). */
void *rcgc__pm_hook_calloc(void *ctx, size_t nelem, size_t elsize);
void rcgc__pm_hook_free(void *ctx, void *ptr);

/* ---- the pool fast paths, inline for callers above (object.c) ---- */

#if defined(__GNUC__)
#define RCGC__ASSUME(c) ((c) ? (void)0 : __builtin_unreachable())
#else
#define RCGC__ASSUME(c) ((void)0)
#endif

/* The block size the pool gives a request of size bytes (1..512): its size
 * class, a multiple of 16. */
static inline size_t rcgc__pm_class_size(size_t size)
{
    return ((size - 1) | (((size_t)1 << PM_ALIGNMENT_SHIFT) - 1)) + 1;
}

/* Where the list head of the class of size bytes (1..512) is in
 * usedpools: (size - 1) >> 4 heads of 16 bytes, which is also the class
 * size less 16. */
static inline size_t rcgc__pm_class_offset(size_t size)
{
    return (size - 1) & ~(size_t)(sizeof(pm_link) - 1);
}

/* A block of size bytes (1..512) from a pool of pm (a used pool's, carving
 * more of it, or a new pool's), never raw: NULL when no arena can be had.
 * For a caller whose rcgc__pm_take failed. */
void *rcgc__pm_alloc_pool(rcgc_pymalloc *pm, size_t size);

/* Out-of-line parts of rcgc__pm_free_block (pymalloc.c): pool was full
 * before the free (it goes back to its class list; its count, >= 30, goes
 * down by one there), or is empty after it (to its arena's free pools; its
 * count is 0). */
void rcgc__pm_pool_was_full(rcgc_pymalloc *pm, pm_pool *pool);
void rcgc__pm_pool_emptied(rcgc_pymalloc *pm, pm_pool *pool);
/* RCGC_DEBUG >= 1: abort unless p is an allocated block of pool. */
void rcgc__pm_check_free(const pm_pool *pool, const void *p);

/* The link in a free block (AddressSanitizer: the block is poisoned, read
 * it through pymalloc.c's unchecked reader). */
#ifdef RCGC__ASAN
#define RCGC__PM_NEXT_FREE(b) rcgc__pm_link(b)
#else
#define RCGC__PM_NEXT_FREE(b) (*(pm_block *const *)(const void *)(b))
#endif
pm_block *rcgc__pm_link(const pm_block *b);

/* A block of size bytes (1..512) when that is easy: the class has a used
 * pool and its first free block is not its last.  NULL otherwise (the
 * caller takes the full path, rcgc_pymalloc_malloc, which carves, takes a
 * new pool or falls back to raw).  No call, so the caller's own fast path
 * stays a leaf; a non-NULL result is a pool block of class
 * rcgc__pm_class_size(size), not zeroed. */
static inline void *rcgc__pm_take_at(rcgc_pymalloc *pm, size_t off);
static inline void *rcgc__pm_take(rcgc_pymalloc *pm, size_t size)
{
    return rcgc__pm_take_at(pm, rcgc__pm_class_offset(size));
}

/* rcgc__pm_take of a size whose rcgc__pm_class_offset is off (a caller
 * that keeps the offset, the object layer's facts of a type). */
static inline void *rcgc__pm_take_at(rcgc_pymalloc *pm, size_t off)
{
    pm_link *head = (pm_link *)(void *)((char *)pm->usedpools + off);
    pm_link *l = head->next;
    if (RCGC_UNLIKELY(l == head)) return NULL;
    pm_pool *pool = pm_pool_of(l);
    pm_block *bp = pool->freeblock;
    RCGC_ASSERT(pool->szidx == off >> PM_ALIGNMENT_SHIFT && bp != NULL);
    RCGC__ASSUME(bp != NULL); /* a used pool has a free block */
    pm_block *next = RCGC__PM_NEXT_FREE(bp);
    if (RCGC_UNLIKELY(next == NULL)) return NULL;
    RCGC__UNPOISON(bp, off + 16);
    pool->freeblock = next;
    pool->count++;
    return bp;
}

/* Give back p, an allocated block of one of pm's pools (the caller knows
 * it is: rcgc_pymalloc_free asks the radix tree).  Returns its size. */
static inline size_t rcgc__pm_free_block(rcgc_pymalloc *pm, void *p)
{
    pm_pool *pool = PM_POOL_ADDR(p);
    if (RCGC_DEBUG >= 1) rcgc__pm_check_free(pool, p);
    pm_block *lastfree = pool->freeblock;
    uint32_t size = PM_INDEX2SIZE(pool->szidx);
    *(pm_block **)p = lastfree;
    pool->freeblock = (pm_block *)p;
    RCGC__POISON(p, size);
    if (RCGC_UNLIKELY(lastfree == NULL)) {
        /* it was full: the count goes down there (not in common code, so
         * that the other case is one decrement of memory and its test) */
        rcgc__pm_pool_was_full(pm, pool);
    } else if (RCGC_UNLIKELY(--pool->count == 0)) {
        rcgc__pm_pool_emptied(pm, pool);
    }
    return size;
}

/* ---- pmcheck.c ---- */
/* The part of rcgc_pymalloc_check that costs O(arenas): usable_arenas'
 * order, nfp2lasta, the descriptor lists and the counters.  0, or
 * RCGC_ECORRUPT after describing the first violation on out (stderr if
 * NULL).  Allocates nothing. */
int rcgc__pm_check_lists(const struct rcgc_pymalloc *pm, FILE *out);

/* ---- arenamap.c ---- */
/* Mark [base, base + 1 MiB) as an arena (used = 1) or not (0).  0, or
 * RCGC_ENOMEM (no bottom node), RCGC_EINVAL (address beyond 48 bits); on
 * failure nothing changed. */
int rcgc__pm_map_mark(struct rcgc_pymalloc *pm, uintptr_t base, int used);
/* Free every bottom node. */
void rcgc__pm_map_free(struct rcgc_pymalloc *pm);

/* ---- pymalloc.c, for pmcheck.c ---- */
/* rcgc__pm_link (above): the link stored in a free block (readable even
 * when the block is poisoned). */
/* Address of the first pool of an arena. */
static inline uintptr_t rcgc__pm_first_pool(const pm_arena *ao)
{
    return (ao->address + PM_POOL_MASK) & ~PM_POOL_MASK;
}

/* ---- ptrmap.c: pointer -> (size, tag), open addressing ---- */

typedef struct rcgc__ptrmap_entry {
    const void *key;  /* NULL: empty slot */
    size_t size;      /* caller's value */
    uint64_t tag;     /* caller's value */
} rcgc__ptrmap_entry;

typedef struct rcgc__ptrmap {
    rcgc__ptrmap_entry *slots; /* cap slots, or NULL while empty */
    size_t cap;                /* power of 2, or 0 */
    size_t count;              /* used slots */
    rcgc_allocator meta;       /* where slots come from */
} rcgc__ptrmap;

void rcgc__ptrmap_init(rcgc__ptrmap *m, const rcgc_allocator *meta);
void rcgc__ptrmap_fini(rcgc__ptrmap *m);
/* The entry of key, or NULL. */
rcgc__ptrmap_entry *rcgc__ptrmap_find(const rcgc__ptrmap *m, const void *key);
/* Insert or update key; 0 or RCGC_ENOMEM (nothing changed). */
int rcgc__ptrmap_put(rcgc__ptrmap *m, const void *key, size_t size,
                     uint64_t tag);
/* Remove key; 1 if it was there. */
int rcgc__ptrmap_remove(rcgc__ptrmap *m, const void *key);

/* ---- ptrmap.c: a fixed index map, pointer -> 32-bit value ----
 *
 * For a walk that numbers a known set of objects (the diagnosis: address ->
 * dense index) without writing into them.  The caller allocates its block
 * (rcgc__idxmap_bytes(n), zeroed, for up to n keys) before the walk, so
 * that nothing fails later; keys are only added, never removed,
 * and the map never grows.  Open addressing with linear probing at a load
 * of at most 2/3: a key array and a value array, 12 bytes a slot, 18 bytes
 * a key.
 *
 * The home slot keeps locality: the keys of one 4 KB block of memory
 * (RCGC__IDXMAP_RUN: 2^8 granules of 16 bytes) go to one run of 256
 * consecutive slots, in address order, at a place Fibonacci hashing picks
 * for the block.  A walk in address order and references to neighbours
 * then read the table as a few streams instead of one cache miss per
 * lookup (why-alive on a 10^6 chain: 1.2x the time of the index in the
 * object's header it replaces, against 2.7x with plain Fibonacci hashing
 * and keys and values together in 16-byte slots).
 * The price, measured on simulated address patterns of 10^6 keys: runs
 * that overlap make longer clusters where objects are densely packed; a
 * lookup of an address that is not a key takes 2-3 probes on average for
 * objects of 48 bytes and more (2.9 with plain hashing), 18.7 (159 at
 * most) when every object is 32 bytes and all are keys
 * (docs/layout-16.md). */

typedef struct rcgc__idxmap {
    const void **keys; /* cap keys, NULL: empty */
    uint32_t *vals;    /* cap values, beside them in the same block */
    size_t cap;
    size_t count, max; /* keys, and at most that many */
} rcgc__idxmap;

#define RCGC__IDXMAP_NONE UINT32_MAX /* find: not a key */
#define RCGC__IDXMAP_MAX_KEYS ((size_t)UINT32_MAX / 2) /* cap fits 32 bits */
#define RCGC__IDXMAP_RUN 8 /* log2 of the granules of one run */

/* The slots for up to n keys (n <= RCGC__IDXMAP_MAX_KEYS). */
static inline size_t rcgc__idxmap_slots(size_t n)
{
    return n + n / 2 + 1;
}

/* The bytes of the block for up to n keys. */
static inline size_t rcgc__idxmap_bytes(size_t n)
{
    return rcgc__idxmap_slots(n) * (sizeof(const void *) + sizeof(uint32_t));
}

/* Take the block (rcgc__idxmap_bytes(max) bytes, zeroed, pointer-aligned;
 * BORROWED: the caller frees it after the map's last use). */
void rcgc__idxmap_init(rcgc__idxmap *m, void *block, size_t max);
/* Add key (not NULL, not yet a key) with val (not RCGC__IDXMAP_NONE);
 * 0, or -1 when max keys are there already (nothing added). */
int rcgc__idxmap_add(rcgc__idxmap *m, const void *key, uint32_t val);

static inline size_t rcgc__idxmap_home(const rcgc__idxmap *m, const void *key)
{
    uint64_t g = (uint64_t)(uintptr_t)key >> 4;
    uint64_t h = (g >> RCGC__IDXMAP_RUN) * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(((h >> 32) * (uint64_t)m->cap) >> 32) +
               (size_t)(g & ((1u << RCGC__IDXMAP_RUN) - 1));
    return i < m->cap ? i : i % m->cap;
}

/* key's value, or RCGC__IDXMAP_NONE (also for NULL). */
static inline uint32_t rcgc__idxmap_find(const rcgc__idxmap *m, const void *key)
{
    size_t i = rcgc__idxmap_home(m, key);
    for (;;) {
        const void *k = m->keys[i];
        if (k == key) return key != NULL ? m->vals[i] : RCGC__IDXMAP_NONE;
        if (k == NULL) return RCGC__IDXMAP_NONE;
        if (++i == m->cap) i = 0;
    }
}

/* ---- memdomain.c: the heap (the runtime embeds one) ---- */

struct rcgc_heap {
    rcgc_allocator dom[RCGC_DOMAIN_COUNT];  /* current hooks per domain */
    rcgc_ssize blocks[RCGC_DOMAIN_COUNT];   /* live blocks per domain */
    rcgc_allocator raw_base;  /* given at creation: the pool allocator's
                                 fallback, the debug tables, the heap */
    rcgc_pymalloc *pm;        /* NULL with use_pymalloc = 0 */
    rcgc_pymalloc *obj_pm;    /* pm while dom[RCGC_DOMAIN_OBJ] is pm's own
                                 hooks (no tracer, debug or user hooks over
                                 it), else NULL: the object layer then calls
                                 the pool's inline fast paths directly */
    const rcgc_ssize *obj_extra; /* NULL, or live object-domain blocks
                                 counted elsewhere and not in
                                 blocks[RCGC_DOMAIN_OBJ]: a runtime's live
                                 objects (object.c counts an object once,
                                 as an object, on its inline path); the
                                 block counts add them */
    rcgc_memdebug *md;        /* NULL until debug hooks are installed */
    rcgc_memdebug_config dcfg; /* for md */
    int allocated;            /* 1: rcgc_heap_new made this struct; 0: it
                                 is embedded in a runtime, which alone
                                 releases it */
};

/* Initialise a heap in place (for embedding); 0, RCGC_ENOMEM or
 * RCGC_EINVAL (then nothing is left to release). */
int rcgc__heap_init(struct rcgc_heap *h, const rcgc_heap_config *cfg);
/* Release what h owns; 0 or RCGC_ELIVE (blocks were still live). */
int rcgc__heap_fini(struct rcgc_heap *h);
/* The allocator h was created on (rcgc_heap_config.raw): memory that no
 * domain hook sees, for the layers above's own bookkeeping. */
static inline rcgc_allocator rcgc__heap_raw_base(const struct rcgc_heap *h)
{
    return h->raw_base;
}

/* ---- memdebug.c ---- */
/* 1 if a's hooks belong to md. */
int rcgc__memdebug_owns_hooks(const rcgc_memdebug *md, const rcgc_allocator *a);
/* The traceback hook of md's reports (the tracer lends one while it runs). */
void rcgc__memdebug_get_traceback(const rcgc_memdebug *md,
                                  rcgc_memdebug_traceback_fn *fn, void **ctx);
void rcgc__memdebug_set_traceback(rcgc_memdebug *md,
                                  rcgc_memdebug_traceback_fn fn, void *ctx);

/* ---- libc.c ---- */
/* 1 if a's hooks are the C library's (rcgc_libc_allocator). */
int rcgc__allocator_is_libc(const rcgc_allocator *a);

/* 1 if all four hooks are set, 0 if none, -1 if only some. */
static inline int rcgc__allocator_complete(const rcgc_allocator *a)
{
    int n = (a->malloc != NULL) + (a->calloc != NULL) + (a->realloc != NULL) +
            (a->free != NULL);
    return n == 4 ? 1 : (n == 0 ? 0 : -1);
}

#endif /* RCGC_ALLOC_INTERNAL_H */

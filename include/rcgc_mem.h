/*
 * rcgc_mem.h - CPython's memory layer for C programs: the small-object pool
 * allocator (pymalloc), the raw / mem / obj allocation domains with
 * replaceable allocators, the debug hooks, a fault-injection wrapper and
 * allocator statistics.  Design: docs/allocator.md.
 *
 * Every state object here (rcgc_pymalloc, rcgc_heap, rcgc_memdebug,
 * rcgc_memfault) is used by one thread at a time and has no locks; different
 * states share nothing.  Errors are negative RCGC_E* codes (rcgc.h);
 * allocation calls return NULL.
 */
/* rcgc.h includes this file where rcgc_allocator is defined and before it
 * needs the heap types; included on its own, this file goes through rcgc.h
 * first, so both orders work. */
#ifndef RCGC_MEM_H
#include "rcgc.h" /* rcgc_allocator, rcgc_ssize, RCGC_E* */
#endif
#ifndef RCGC_MEM_H
#define RCGC_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Basic allocators                                                          */

/* Where the pool allocator gets its 1 MiB arenas (PyObjectArenaAllocator,
 * plus an optional decommit). */
typedef struct rcgc_arena_allocator {
    void *ctx;                                         /* passed back */
    void *(*alloc)(void *ctx, size_t size);            /* NULL on failure */
    void (*free)(void *ctx, void *ptr, size_t size);   /* whole arenas only */
    /* Optional (may be NULL): give the pages of [ptr, ptr+size) back to the
     * system; they must read as zeros when touched again.  Used by trim. */
    void (*decommit)(void *ctx, void *ptr, size_t size);
} rcgc_arena_allocator;

/* The C library: malloc/calloc/realloc/free; a 0-byte request asks for 1
 * byte (CPython's _PyMem_RawMalloc).  ctx is unused. */
RCGC_API rcgc_allocator rcgc_libc_allocator(void);

/* The process allocator: memory that belongs to no runtime - snapshots
 * (taken, read or filtered), statistics arrays and the snapshot files'
 * working buffers (rcgc_trace.h) - the process-wide counterpart of a heap's
 * raw domain (CPython's PyMem_SetAllocator(PYMEM_DOMAIN_RAW, ...)).  The
 * C library until set.  rcgc_process_allocator_set copies *a (all four
 * hooks set; NULL: back to the C library) and returns 0, or RCGC_EINVAL for
 * an incomplete allocator (nothing changes).  Each snapshot and statistics
 * array remembers the allocator it came from and is freed through it, so
 * the allocator may change while they live, but it must outlive them.  Not
 * synchronised: set it while no other thread takes, reads, filters or
 * groups snapshots.  _get returns the current hooks (a copy). */
RCGC_API int rcgc_process_allocator_set(const rcgc_allocator *a);
RCGC_API rcgc_allocator rcgc_process_allocator_get(void);

/* Anonymous mmap, 1 MiB-aligned when the size is 1 MiB; decommit is
 * madvise(MADV_DONTNEED). */
RCGC_API rcgc_arena_allocator rcgc_mmap_arena_allocator(void);

/* ------------------------------------------------------------------------ */
/* The pool allocator (pymalloc)                                             */

#define RCGC_PYMALLOC_ALIGNMENT 16        /* of every block */
#define RCGC_PYMALLOC_THRESHOLD 512       /* larger requests go to raw */
#define RCGC_PYMALLOC_NCLASSES 32         /* 16, 32, ..., 512 */
#define RCGC_PYMALLOC_POOL_SIZE 16384
#define RCGC_PYMALLOC_ARENA_SIZE 1048576
#define RCGC_PYMALLOC_POOL_OVERHEAD 48    /* pool header */

typedef struct rcgc_pymalloc rcgc_pymalloc;

typedef struct rcgc_pymalloc_config {
    size_t size;                 /* sizeof(rcgc_pymalloc_config), set by
                                    rcgc_pymalloc_config_init */
    rcgc_allocator raw;          /* blocks of 0 and > 512 bytes and the
                                    allocator's own tables; malloc == NULL:
                                    the C library */
    rcgc_arena_allocator arena;  /* alloc == NULL: rcgc_mmap_arena_allocator */
    int retain_free_arenas;      /* wholly free arenas kept mapped at least
                                    (>= 1; 1 is CPython's rule) */
    int retain_free_percent;     /* and up to this % of the arenas in use
                                    (25; 0 with retain_free_arenas = 1 is
                                    exactly CPython); docs/allocator.md */
} rcgc_pymalloc_config;

/* Fill cfg with the defaults. */
RCGC_API void rcgc_pymalloc_config_init(rcgc_pymalloc_config *cfg);

/* A new pool allocator (its state comes from cfg->raw), or NULL when out of
 * memory or cfg is invalid (cfg->size is not sizeof(rcgc_pymalloc_config),
 * some hooks of an allocator set and not others,
 * retain_free_arenas < 1, retain_free_percent < 0).  cfg may be NULL for the defaults; it is copied. */
RCGC_API rcgc_pymalloc *rcgc_pymalloc_new(const rcgc_pymalloc_config *cfg);
/* The same, saying why: 0 and the allocator in *out, or RCGC_EINVAL (out
 * NULL or cfg invalid, as above) or RCGC_ENOMEM, and *out = NULL. */
RCGC_API int rcgc_pymalloc_create(const rcgc_pymalloc_config *cfg,
                                  rcgc_pymalloc **out);

/* Give every arena and table back, live blocks or not (their memory becomes
 * invalid).  Returns the number of blocks that were still allocated (pool
 * blocks and raw blocks), 0 when everything had been freed.  NULL is a
 * no-op. */
RCGC_API rcgc_ssize rcgc_pymalloc_destroy(rcgc_pymalloc *pm);

/* malloc/calloc/realloc/free semantics; 16-byte aligned; a 0-byte request
 * gives a unique block (from raw).  realloc keeps the block when the new size
 * fits it and is more than 3/4 of it; realloc(p, 0) returns a valid block.
 * free and realloc accept blocks of cfg->raw too (they pass them on). */
RCGC_API void *rcgc_pymalloc_malloc(rcgc_pymalloc *pm, size_t size);
RCGC_API void *rcgc_pymalloc_calloc(rcgc_pymalloc *pm, size_t nelem, size_t elsize);
RCGC_API void *rcgc_pymalloc_realloc(rcgc_pymalloc *pm, void *ptr, size_t size);
RCGC_API void rcgc_pymalloc_free(rcgc_pymalloc *pm, void *ptr);

/* The four calls above as hooks (ctx = pm), for a domain or a wrapper. */
RCGC_API rcgc_allocator rcgc_pymalloc_allocator(rcgc_pymalloc *pm);

/* 1 if ptr lies in one of pm's arenas (any pointer may be asked: NULL, the
 * stack, another allocator's block), else 0.  O(1), reads no block memory. */
RCGC_API int rcgc_pymalloc_owns(const rcgc_pymalloc *pm, const void *ptr);

/* The block size of a pool block (16..512), 0 if ptr is not pm's. */
RCGC_API size_t rcgc_pymalloc_block_size(const rcgc_pymalloc *pm, const void *ptr);

/* Blocks currently allocated, pool and raw (sys.getallocatedblocks). */
RCGC_API rcgc_ssize rcgc_pymalloc_allocated_blocks(const rcgc_pymalloc *pm);

/* Give back to the system every wholly free arena (retained ones too) and
 * every free 4 KiB page inside pools (docs/allocator.md, "Trim").  Returns
 * the bytes given back. */
RCGC_API size_t rcgc_pymalloc_trim(rcgc_pymalloc *pm);

/* Check every invariant of pools, arenas, lists and the radix tree.  Returns
 * 0, or RCGC_ECORRUPT after describing the first violation on out (stderr if
 * NULL); RCGC_ENOMEM (said on out) when the checker's own table (8 bytes per
 * arena) cannot be allocated from the pool allocator's raw allocator. */
RCGC_API int rcgc_pymalloc_check(const rcgc_pymalloc *pm, FILE *out);

/* Per size class (sys._debugmallocstats). */
typedef struct rcgc_pymalloc_class_stats {
    size_t size;           /* block size */
    size_t pools;          /* used and full pools of this class */
    size_t blocks_in_use;  /* allocated blocks */
    size_t blocks_avail;   /* free blocks in those pools, virgin included */
} rcgc_pymalloc_class_stats;

typedef struct rcgc_pymalloc_stats {
    rcgc_pymalloc_class_stats cls[RCGC_PYMALLOC_NCLASSES];
    size_t arenas_allocated_total; /* arenas ever obtained */
    size_t arenas_reclaimed;       /* given back (total - current) */
    size_t arenas_highwater;       /* most at the same time */
    size_t arenas_current;         /* held now */
    size_t arenas_free;            /* of which wholly free (retained) */
    size_t arena_bytes;            /* arenas_current * arena size */
    /* these six partition arena_bytes exactly */
    size_t allocated_bytes;        /* blocks in use * block size */
    size_t available_bytes;        /* free blocks in used/full pools */
    size_t unused_pools;           /* empty pools + pools never carved */
    size_t unused_pool_bytes;      /* unused_pools * pool size */
    size_t pool_header_bytes;      /* 48 per used or full pool */
    size_t quantization_bytes;     /* unusable tail of used and full pools */
    size_t alignment_bytes;        /* 16 KiB per arena not pool-aligned */
    size_t decommitted_bytes;      /* pages given back by trim, still mapped */
    size_t map_bot_nodes;          /* radix tree bottom nodes */
    size_t map_root_bytes;         /* radix tree root (in the state) */
    size_t map_bot_bytes;          /* radix tree bottom nodes */
    rcgc_ssize pool_blocks;        /* blocks allocated from pools */
    rcgc_ssize raw_blocks;         /* blocks allocated from raw */
    /* side bytes (docs/allocator.md, "Side bytes"): one per 16 bytes of
     * every pool, in a 64 KiB array per arena held outside the arena, so
     * not in arena_bytes */
    size_t side_bytes;             /* arenas_current * 64 KiB */
    size_t side_touchable_bytes;   /* of which can be resident: with the C
                                      library as raw (fresh pages), the
                                      pages holding the bytes of the pools
                                      ever carved; else all (raw's calloc) */
} rcgc_pymalloc_stats;

RCGC_API void rcgc_pymalloc_get_stats(const rcgc_pymalloc *pm, rcgc_pymalloc_stats *out);
/* sys._debugmallocstats() layout. */
RCGC_API void rcgc_pymalloc_stats_print(const rcgc_pymalloc_stats *s, FILE *out);
/* One JSON object (no trailing newline). */
RCGC_API void rcgc_pymalloc_stats_json(const rcgc_pymalloc_stats *s, FILE *out);

/* ------------------------------------------------------------------------ */
/* The debug allocator (CPython's debug hooks)                               */

#define RCGC_MEMDEBUG_CLEANBYTE 0xCD     /* new memory */
#define RCGC_MEMDEBUG_DEADBYTE 0xDD      /* freed memory */
#define RCGC_MEMDEBUG_FORBIDDENBYTE 0xFD /* guards */
#define RCGC_MEMDEBUG_OVERHEAD 24        /* 16 before the data, 8 after */

typedef enum rcgc_memdebug_kind {
    RCGC_MEMDEBUG_BAD_ID = 1,       /* freed through another domain */
    RCGC_MEMDEBUG_BAD_LEADING_PAD,  /* underflow */
    RCGC_MEMDEBUG_BAD_SIZE,         /* size field differs from allocation */
    RCGC_MEMDEBUG_BAD_TRAILING_PAD, /* overflow */
    RCGC_MEMDEBUG_NOT_ALLOCATED,    /* double free, or a foreign pointer */
    RCGC_MEMDEBUG_USE_AFTER_FREE    /* a quarantined block was written */
} rcgc_memdebug_kind;

typedef struct rcgc_memdebug_report {
    rcgc_memdebug_kind kind;
    const char *func;     /* "rcgc_memdebug_free", "..._realloc", "..._check" */
    const char *message;  /* "bad trailing pad byte", ... (CPython's words) */
    const void *ptr;      /* the block (the pointer the program holds) */
    size_t size;          /* bytes requested at allocation (0 if unknown) */
    char api;             /* the domain the call went through */
    const char *text;     /* the block dump and traceback lines, as printed */
} rcgc_memdebug_report;

/* Called for each problem.  Return to make the operation a no-op (free
 * leaves the block alone, realloc returns NULL); the default hook (NULL)
 * writes text and "rcgc: fatal error: <func>: <message>" to the stream and
 * aborts. */
typedef void (*rcgc_memdebug_report_fn)(void *ctx, const rcgc_memdebug_report *r);

/* Write the allocation traceback of the block at ptr into buf (NUL-ended,
 * at most size bytes) and return its length, or 0 when unknown. */
typedef size_t (*rcgc_memdebug_traceback_fn)(void *ctx, const void *ptr,
                                             char *buf, size_t size);

typedef struct rcgc_memdebug rcgc_memdebug;

typedef struct rcgc_memdebug_config {
    size_t size;                  /* sizeof(rcgc_memdebug_config), set by
                                     rcgc_memdebug_config_init */
    rcgc_allocator meta;          /* the debug layer's own tables; malloc ==
                                     NULL: the C library */
    rcgc_memdebug_report_fn report; /* NULL: print and abort */
    void *report_ctx;
    FILE *stream;                 /* the default hook's output; NULL: stderr */
    rcgc_memdebug_traceback_fn traceback; /* NULL: no tracer */
    void *traceback_ctx;
    size_t quarantine;            /* freed blocks held back (0, as CPython) */
} rcgc_memdebug_config;

RCGC_API void rcgc_memdebug_config_init(rcgc_memdebug_config *cfg);

/* A new debug layer, or NULL when out of memory or cfg->size is not
 * sizeof(rcgc_memdebug_config).  cfg may be NULL. */
RCGC_API rcgc_memdebug *rcgc_memdebug_new(const rcgc_memdebug_config *cfg);
/* The same, saying why: 0 and the layer in *out, or RCGC_EINVAL (out NULL,
 * a wrong size, an incomplete meta allocator) or RCGC_ENOMEM. */
RCGC_API int rcgc_memdebug_create(const rcgc_memdebug_config *cfg,
                                  rcgc_memdebug **out);

/* Release quarantined blocks and the layer.  Live blocks stay allocated in
 * their base allocators; returns how many there were (0 if none). */
RCGC_API rcgc_ssize rcgc_memdebug_destroy(rcgc_memdebug *md);

/* Fill *out with hooks that add the debug layout (api_id 'r', 'm', 'o' or
 * any other character) around blocks of *base.  At most 8 wraps per layer;
 * RCGC_ENOMEM beyond, RCGC_EINVAL for an incomplete base. */
RCGC_API int rcgc_memdebug_wrap(rcgc_memdebug *md, char api_id,
                                const rcgc_allocator *base, rcgc_allocator *out);

/* 1 if a is hooks returned by rcgc_memdebug_wrap (of any layer). */
RCGC_API int rcgc_memdebug_is_wrapper(const rcgc_allocator *a);

/* Check every live and quarantined block; report each problem.  Returns the
 * number of problems found (0: all good). */
RCGC_API rcgc_ssize rcgc_memdebug_check(rcgc_memdebug *md);

/* Really free every quarantined block (checking it first). */
RCGC_API void rcgc_memdebug_flush(rcgc_memdebug *md);

/* Live blocks and their requested bytes. */
RCGC_API rcgc_ssize rcgc_memdebug_live_blocks(const rcgc_memdebug *md);
RCGC_API size_t rcgc_memdebug_live_bytes(const rcgc_memdebug *md);

/* ------------------------------------------------------------------------ */
/* Fault injection                                                           */

typedef struct rcgc_memfault rcgc_memfault;

typedef struct rcgc_memfault_stats {
    long calls;             /* malloc/calloc/realloc calls so far */
    long failures;          /* calls made to fail */
    rcgc_ssize live_blocks; /* blocks allocated through the wrapper */
    size_t live_bytes;      /* their requested bytes */
    size_t peak_bytes;      /* highest live_bytes */
} rcgc_memfault_stats;

/* A wrapper around *base (copied), its own table from meta (NULL: the C
 * library).  NULL when out of memory or an allocator is incomplete;
 * rcgc_memfault_create says which (RCGC_ENOMEM, RCGC_EINVAL; 0 and *out). */
RCGC_API rcgc_memfault *rcgc_memfault_new(const rcgc_allocator *base,
                                          const rcgc_allocator *meta);
RCGC_API int rcgc_memfault_create(const rcgc_allocator *base,
                                  const rcgc_allocator *meta,
                                  rcgc_memfault **out);
/* Release the wrapper (not the blocks); returns its live block count. */
RCGC_API rcgc_ssize rcgc_memfault_destroy(rcgc_memfault *f);
RCGC_API rcgc_allocator rcgc_memfault_allocator(rcgc_memfault *f);

/* Fail call number n (1-based, counting from now) only; 0: never. */
RCGC_API void rcgc_memfault_fail_at(rcgc_memfault *f, long n);
/* Fail every call after the next n; < 0: never. */
RCGC_API void rcgc_memfault_fail_after(rcgc_memfault *f, long n);
/* Fail any call that would take live_bytes above limit; SIZE_MAX: none. */
RCGC_API void rcgc_memfault_set_limit(rcgc_memfault *f, size_t limit);
/* Clear the three settings and the call and failure counters. */
RCGC_API void rcgc_memfault_reset(rcgc_memfault *f);
RCGC_API void rcgc_memfault_get_stats(const rcgc_memfault *f, rcgc_memfault_stats *out);

/* ------------------------------------------------------------------------ */
/* Heaps: the three domains                                                  */

typedef enum rcgc_domain {
    RCGC_DOMAIN_RAW = 0, /* 'r': no pool allocator (PyMem_RawMalloc) */
    RCGC_DOMAIN_MEM = 1, /* 'm': buffers (PyMem_Malloc) */
    RCGC_DOMAIN_OBJ = 2  /* 'o': objects (PyObject_Malloc) */
} rcgc_domain;
#define RCGC_DOMAIN_COUNT 3

typedef struct rcgc_heap rcgc_heap;

typedef struct rcgc_heap_config {
    size_t size;               /* sizeof(rcgc_heap_config), set by
                                  rcgc_heap_config_init (with those of
                                  pymalloc and debug) */
    rcgc_allocator raw;        /* malloc == NULL: the C library */
    rcgc_allocator mem;        /* malloc == NULL: the default (below) */
    rcgc_allocator obj;        /* malloc == NULL: the default (below) */
    int use_pymalloc;          /* 1: MEM and OBJ default to the heap's pool
                                  allocator; 0: to raw (PYTHONMALLOC=malloc) */
    int debug_hooks;           /* 1: wrap the three domains (PYTHONMALLOC=
                                  debug); 0 */
    rcgc_pymalloc_config pymalloc; /* its raw member is ignored: the pool
                                      allocator takes its arenas and state
                                      from raw above, unhooked (the debug
                                      hooks and the tracer see blocks, not
                                      arenas) */
    rcgc_memdebug_config debug;    /* its meta member is ignored: the debug
                                      layer uses the raw allocator, unhooked */
} rcgc_heap_config;

RCGC_API void rcgc_heap_config_init(rcgc_heap_config *cfg);

/* A new heap, itself allocated with cfg->raw, or NULL (out of memory,
 * incomplete allocators, a size field of cfg, cfg->pymalloc or cfg->debug
 * that is not its struct's).  cfg may be NULL. */
RCGC_API rcgc_heap *rcgc_heap_new(const rcgc_heap_config *cfg);
/* The same, saying why: 0 and the heap in *out, or RCGC_EINVAL (out NULL,
 * cfg invalid as above) or RCGC_ENOMEM, and *out = NULL. */
RCGC_API int rcgc_heap_create(const rcgc_heap_config *cfg, rcgc_heap **out);

/* Release the heap and everything it owns (pool allocator, debug layer).
 * Returns 0, or RCGC_ELIVE when a domain still had live blocks (they are
 * invalid afterwards).  RCGC_EBUSY, and nothing happens, for a runtime's
 * heap (rcgc_runtime_heap): the runtime releases it.  NULL: 0. */
RCGC_API int rcgc_heap_destroy(rcgc_heap *h);

/* The domain front ends (PyMem_RawMalloc / PyMem_Malloc / PyObject_Malloc
 * and friends): size > PTRDIFF_MAX or calloc overflow → NULL; 0 bytes → a
 * unique pointer; free(NULL) is a no-op.  An unknown domain → NULL. */
RCGC_API void *rcgc_heap_malloc(rcgc_heap *h, rcgc_domain d, size_t size);
RCGC_API void *rcgc_heap_calloc(rcgc_heap *h, rcgc_domain d, size_t nelem,
                                size_t elsize);
RCGC_API void *rcgc_heap_realloc(rcgc_heap *h, rcgc_domain d, void *ptr, size_t size);
RCGC_API void rcgc_heap_free(rcgc_heap *h, rcgc_domain d, void *ptr);

/* PyMem_GetAllocator: copy the domain's hooks into *out (all NULL and
 * RCGC_EINVAL for an unknown domain). */
RCGC_API int rcgc_heap_get_allocator(const rcgc_heap *h, rcgc_domain d,
                                     rcgc_allocator *out);
/* PyMem_SetAllocator: replace the domain's hooks (copied).  RCGC_EINVAL for
 * an unknown domain or incomplete hooks (nothing changes). */
RCGC_API int rcgc_heap_set_allocator(rcgc_heap *h, rcgc_domain d,
                                     const rcgc_allocator *a);

/* PyMem_SetupDebugHooks: wrap each domain not already wrapped by this heap's
 * debug layer.  Blocks allocated before must not be freed afterwards (they
 * have no debug header).  0 or RCGC_ENOMEM. */
RCGC_API int rcgc_heap_setup_debug_hooks(rcgc_heap *h);

/* Live blocks of a domain (allocations minus frees through the front end);
 * RCGC_EINVAL for an unknown domain (was -1, which is RCGC_ENOMEM). */
RCGC_API rcgc_ssize rcgc_heap_blocks(const rcgc_heap *h, rcgc_domain d);

/* BORROWED: the heap's pool allocator (NULL with use_pymalloc = 0) and debug
 * layer (NULL until debug hooks are installed). */
RCGC_API rcgc_pymalloc *rcgc_heap_pymalloc(rcgc_heap *h);
RCGC_API rcgc_memdebug *rcgc_heap_memdebug(rcgc_heap *h);

/* Whole-heap check: the pool allocator's invariants and, with debug hooks,
 * every live block's guards.  0 or RCGC_ECORRUPT (problems were reported);
 * RCGC_ENOMEM when nothing was found wrong but the pool check could not
 * allocate its table (rcgc_pymalloc_check). */
RCGC_API int rcgc_heap_check(rcgc_heap *h);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_MEM_H */

/*
 * tracer_internal.h - the tracer's tables, shared by the files of trace/ that
 * implement it (CPython's _tracemalloc, for rcgc; design: docs/tracer.md):
 *
 *   tracer.c      the traces (the table and the pools' side arrays),
 *                 sampling, recording and the domain wrappers: the hot path;
 *   traceback.c   interned tracebacks, the current traceback from the chosen
 *                 source, the C stack calibration;
 *   tracer_api.c  start and stop, queries, snapshots, allocation with a
 *                 call site.
 *
 * What a trace and a side array slot hold: tracer.c's opening comment.
 */
#ifndef RCGC_TRACER_INTERNAL_H
#define RCGC_TRACER_INTERNAL_H

#include <math.h>

#include "core/internal.h"
#include "platform/os.h"
#include "trace/snapshot_internal.h"

/* The C stack source needs the platform's backtrace. */
#define HAVE_BACKTRACE RCGC__OS_HAVE_BACKTRACE

#define MAX_NFRAME 65535
#define FILTER_BITS 65536

typedef struct tframe {
    const char *filename; /* NULL: unknown */
    const char *function;
    unsigned lineno;
    uintptr_t pc;         /* C stack frames: the return address */
} tframe;

typedef struct ttb {      /* an interned traceback */
    uint64_t hash;
    struct ttb *next;     /* chain of the traceback table */
    long snap_index;      /* its index in the snapshot being taken */
    uint64_t snap_gen;    /* which snapshot snap_index belongs to */
    uint32_t id;          /* index in by_id (side array slots hold it) */
    uint16_t nframe;      /* frames kept */
    uint16_t total;       /* the stack's full depth (saturated) */
    tframe frames[];      /* most recent first */
} ttb;

typedef struct tentry {   /* a trace */
    uintptr_t ptr;        /* 0: empty slot */
    uint64_t size_domain; /* size | domain << 48 */
    ttb *tb;
} tentry;

#define SIZE_BITS 48
#define SIZE_MASK ((UINT64_C(1) << SIZE_BITS) - 1)

/* The traces of one pool's blocks.  A slot is 0 (no trace) or
 * id << 6 | domain << 4 | slack: the traceback's id, the domain (0..2) and
 * block size minus requested size (0..15). */
typedef struct side {
    uintptr_t pool;       /* the pool's address */
    uint32_t bsize;       /* its block size */
    uint32_t nslots;      /* its block count */
    uint32_t used;        /* nonzero slots; the array goes at 0 */
    uint32_t recip;       /* 2^32 / bsize rounded up: offset / bsize as a
                             multiply, exact for pool offsets */
    uint32_t slot[];
} side;

#define SLOT_ID_MAX ((UINT32_C(1) << 26) - 1)
#define SLOT_ID(v) ((v) >> 6)
#define SLOT_DOMAIN(v) (((v) >> 4) & 3u)
#define SLOT_SLACK(v) ((v) & 15u)

typedef struct rcgc__trace_hook domain_hook; /* internal.h: in the runtime */

struct rcgc_tracer {
    rcgc_runtime *rt;
    rcgc_trace_config cfg;
    rcgc_memdebug_traceback_fn md_fn; /* the debug layer's traceback hook */
    void *md_ctx;                     /* before the tracer lent its own */
    rcgc_allocator meta;  /* the tracer's own memory (raw base) */
    size_t overhead;      /* bytes of that memory in use */
    tentry *traces;       /* capacity a power of two */
    size_t cap, count;
    int shift;            /* 64 - log2(cap) */
    ttb **tbs;            /* traceback table, tb_cap chains */
    size_t tb_cap, tb_count;
    ttb *unknown;         /* the one-frame "<unknown>" traceback */
    struct site_entry {   /* call site -> its traceback, direct mapped */
        const char *filename, *function;
        unsigned lineno;
        ttb *tb;
    } site_cache[256];
    ttb **by_id;          /* tracebacks by id (1..tb_count; 0 unused) */
    size_t by_id_cap;
    const struct rcgc_pymalloc *pm; /* the heap's pool allocator, or NULL */
    struct side **sides;  /* side arrays by pool (open addressing) */
    size_t side_cap, side_count;
    int side_shift;
    struct side *last_side; /* the side array used last (a cache) */
    double current, peak; /* traced bytes (estimates when sampling) */
    int64_t countdown;    /* sampling: bytes until the next sample */
    uint64_t rng;         /* sampling: xorshift64* state */
    uint8_t *filter;      /* sampling: bits of sampled addresses */
    tframe *scratch;      /* nframes frames */
    rcgc_frame *pscratch; /* the provider's frames */
    void **pcs;           /* C stack: nframes + skip return addresses */
    int npcs;
    int skip[RCGC_DOMAIN_COUNT]; /* C stack frames of rcgc itself */
    int calibrating;      /* start is measuring skip */
    int busy;             /* recording: nested allocations pass through */
    uint64_t snap_gen;
};

/* ---- the tracer's own memory ---- */

static inline void *meta_alloc(struct rcgc_tracer *tr, size_t size)
{
    void *p = tr->meta.calloc(tr->meta.ctx, 1, size);
    if (p != NULL) tr->overhead += size;
    return p;
}

static inline void meta_free(struct rcgc_tracer *tr, void *p, size_t size)
{
    if (p == NULL) return;
    RCGC_ASSERT(tr->overhead >= size);
    tr->overhead -= size;
    tr->meta.free(tr->meta.ctx, p);
}

static inline size_t entry_size(const tentry *e)
{
    return (size_t)(e->size_domain & SIZE_MASK);
}

/* Sampling: the probability that a block of size bytes was recorded, 1 when
 * every allocation is.  A recorded block stands for size / p bytes and 1 / p
 * blocks. */
static inline double recorded_p(const struct rcgc_tracer *tr, size_t size)
{
    if (tr->cfg.sample_bytes == 0 || size == 0) return 1.0;
    return -expm1(-(double)size / (double)tr->cfg.sample_bytes);
}

/* ---- hashing and locating, shared with the checker (tracer_check.c) ---- */

static inline size_t ht_home(const struct rcgc_tracer *tr, uintptr_t ptr,
                             unsigned domain)
{
    uint64_t k = ((uint64_t)ptr >> 4) ^ ((uint64_t)domain << 44);
    return (size_t)((k * 0x9e3779b97f4a7c15u) >> tr->shift);
}

/* Where the trace of ptr would be in a side array: 1 when ptr is the start
 * of a block of the heap's pool allocator (the allocator says where). */
typedef rcgc__pm_where where;

static inline int locate(const struct rcgc_tracer *tr, uintptr_t ptr,
                         unsigned domain, where *w)
{
    return tr->pm != NULL && domain < RCGC_DOMAIN_COUNT &&
           rcgc__pm_locate(tr->pm, (const void *)ptr, w);
}

/* A pool's size and the offset of its first block: the public constants
 * (rcgc_mem.h), all the side arrays' fast path needs to know of pools. */
#define TR_POOL_SIZE ((uintptr_t)RCGC_PYMALLOC_POOL_SIZE)
#define TR_POOL_FIRST ((uintptr_t)RCGC_PYMALLOC_POOL_OVERHEAD)

static inline size_t side_home(const struct rcgc_tracer *tr, uintptr_t pool)
{
    return (size_t)(((uint64_t)(pool >> 14) * 0x9e3779b97f4a7c15u) >> tr->side_shift);
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    return h;
}

static inline uint64_t hash_frames(const tframe *f, int n, int total)
{
    uint64_t h = 0x345678u;
    for (int i = 0; i < n; i++) {
        h = mix(h, (uintptr_t)f[i].filename);
        h = mix(h, (uintptr_t)f[i].function);
        h = mix(h, f[i].lineno);
        h = mix(h, f[i].pc);
    }
    return mix(h, (uint64_t)total);
}

static inline int same_frames(const ttb *tb, const tframe *f, int n,
                              int total)
{
    if (tb->nframe != n || tb->total != total) return 0;
    for (int i = 0; i < n; i++) {
        const tframe *a = &tb->frames[i];
        if (a->filename != f[i].filename || a->function != f[i].function ||
            a->lineno != f[i].lineno || a->pc != f[i].pc)
            return 0;
    }
    return 1;
}

/* ---- traceback.c ---- */

/* Double the traceback table (256 chains at first); 0 or RCGC_ENOMEM. */
int rcgc__tr_tb_table_grow(struct rcgc_tracer *tr);
/* Free every interned traceback (the tables stay). */
void rcgc__tr_free_tracebacks(struct rcgc_tracer *tr);
/* The interned traceback of the allocation being recorded, from the
 * configured source; NULL when out of memory. */
ttb *rcgc__tr_current_traceback(struct rcgc_tracer *tr, unsigned domain);
/* C stack source: measure skip[], the frames of rcgc's own in a stack. */
void rcgc__tr_calibrate(struct rcgc_tracer *tr);

/* ---- tracer.c ---- */

/* Move the trace table to cap slots (a power of two); 0 or RCGC_ENOMEM. */
int rcgc__tr_traces_resize(struct rcgc_tracer *tr, size_t cap);
/* Sampling: bytes until the next sample, drawn from an exponential
 * distribution of mean sample_bytes. */
int64_t rcgc__tr_draw_interval(struct rcgc_tracer *tr);
/* Free every side array (their traces go with them). */
void rcgc__tr_free_sides(struct rcgc_tracer *tr);
/* The trace of (ptr, domain): 1 with *size and *tb, or 0.  With take, the
 * trace is removed. */
int rcgc__tr_trace_get(struct rcgc_tracer *tr, uintptr_t ptr, unsigned domain,
                       size_t *size, ttb **tb, int take);
/* Put the wrappers in front of the domains' allocators, and take them out. */
void rcgc__tr_install_hooks(struct rcgc_tracer *tr);
void rcgc__tr_remove_hooks(struct rcgc_tracer *tr);

/* ---- tracer_api.c ---- */

/* The debug layer's traceback hook while the tracer runs (ctx: runtime). */
size_t rcgc__tr_debug_traceback(void *ctx, const void *ptr, char *buf,
                                size_t size);

/* Invariant checker of the tracer's tables (tracer_check.c): trace counts
 * and sizes against the table and the side arrays, traceback interning.
 * 0 when consistent or not tracing; RCGC_ECORRUPT with the first violation
 * described on the debug stream. */
int rcgc__trace_check(rcgc_runtime *rt);

#endif /* RCGC_TRACER_INTERNAL_H */

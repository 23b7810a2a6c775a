/*
 * tracer.c - the allocation tracer (CPython's _tracemalloc, for rcgc).
 *
 * Starting the tracer replaces the allocators of the runtime's three domains
 * with wrappers that forward to the originals and record each block as a
 * trace (domain, pointer) -> (size, traceback); stopping puts the originals
 * back.  The tracer's own memory comes from the heap's raw base allocator,
 * never from a traced domain, so recording cannot recurse.  Design:
 * docs/tracer.md.
 *
 *   traces      a block at the start of a pool allocator block (the
 *               common case: objects and small buffers) is recorded in a
 *               side array of its pool, 4 bytes per block: traceback id,
 *               domain, and the bytes between the request and the block
 *               size; every other trace goes to a table (open addressing,
 *               linear probing, backward-shift deletion) keyed by (pointer,
 *               domain).  A key lives in one of the two, never both;
 *   tracebacks  interned in a chained hash table (identical stacks share
 *               one), most recent frame first;
 *   sampling    Poisson by bytes: a countdown drawn from an exponential
 *               distribution of mean sample_bytes; a sampled block stands
 *               for size / p bytes and 1 / p blocks, p = 1 - exp(-size/N);
 *               frees look at a 64 Kibit filter of sampled addresses first.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <math.h>
#include <string.h>

#if defined(__GLIBC__)
#include <execinfo.h>
#define HAVE_BACKTRACE 1
#else
#define HAVE_BACKTRACE 0
#endif

#include "core/internal.h"

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

static void *meta_alloc(struct rcgc_tracer *tr, size_t size)
{
    void *p = tr->meta.calloc(tr->meta.ctx, 1, size);
    if (p != NULL) tr->overhead += size;
    return p;
}

static void meta_free(struct rcgc_tracer *tr, void *p, size_t size)
{
    if (p == NULL) return;
    tr->overhead -= size;
    tr->meta.free(tr->meta.ctx, p);
}

/* ---- tracebacks ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_frames(const tframe *f, int n, int total)
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

static int same_frames(const ttb *tb, const tframe *f, int n, int total)
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

static size_t tb_bytes(int n)
{
    return sizeof(ttb) + (size_t)n * sizeof(tframe);
}

static int tb_table_grow(struct rcgc_tracer *tr)
{
    size_t cap = tr->tb_cap ? tr->tb_cap * 2 : 256;
    ttb **tbs = meta_alloc(tr, cap * sizeof *tbs);
    if (tbs == NULL) return RCGC_ENOMEM;
    for (size_t i = 0; i < tr->tb_cap; i++) {
        for (ttb *t = tr->tbs[i], *next; t != NULL; t = next) {
            next = t->next;
            t->next = tbs[t->hash & (cap - 1)];
            tbs[t->hash & (cap - 1)] = t;
        }
    }
    meta_free(tr, tr->tbs, tr->tb_cap * sizeof *tr->tbs);
    tr->tbs = tbs;
    tr->tb_cap = cap;
    return 0;
}

/* The interned traceback of these frames (added if new), or NULL. */
static ttb *intern(struct rcgc_tracer *tr, const tframe *f, int n, int total)
{
    if (total > MAX_NFRAME) total = MAX_NFRAME;
    uint64_t h = hash_frames(f, n, total);
    if (tr->tb_cap > 0)
        for (ttb *t = tr->tbs[h & (tr->tb_cap - 1)]; t != NULL; t = t->next)
            if (t->hash == h && same_frames(t, f, n, total)) return t;
    if (tr->tb_count >= tr->tb_cap && tb_table_grow(tr) != 0) return NULL;
    if (tr->tb_count + 2 > tr->by_id_cap) {
        size_t cap = tr->by_id_cap ? tr->by_id_cap * 2 : 256;
        ttb **v = meta_alloc(tr, cap * sizeof *v);
        if (v == NULL) return NULL;
        if (tr->by_id != NULL) memcpy(v, tr->by_id, tr->by_id_cap * sizeof *v);
        meta_free(tr, tr->by_id, tr->by_id_cap * sizeof *v);
        tr->by_id = v;
        tr->by_id_cap = cap;
    }
    ttb *t = meta_alloc(tr, tb_bytes(n));
    if (t == NULL) return NULL;
    t->id = (uint32_t)(tr->tb_count + 1);
    tr->by_id[t->id] = t;
    t->hash = h;
    t->nframe = (uint16_t)n;
    t->total = (uint16_t)total;
    memcpy(t->frames, f, (size_t)n * sizeof *f);
    t->next = tr->tbs[h & (tr->tb_cap - 1)];
    tr->tbs[h & (tr->tb_cap - 1)] = t;
    tr->tb_count++;
    return t;
}

static void free_tracebacks(struct rcgc_tracer *tr)
{
    for (size_t i = 0; i < tr->tb_cap; i++) {
        for (ttb *t = tr->tbs[i], *next; t != NULL; t = next) {
            next = t->next;
            meta_free(tr, t, tb_bytes(t->nframe));
        }
        tr->tbs[i] = NULL;
    }
    tr->tb_count = 0;
    tr->unknown = NULL;
}

static ttb *unknown_traceback(struct rcgc_tracer *tr)
{
    if (tr->unknown == NULL) {
        tframe f = {NULL, NULL, 0, 0};
        tr->unknown = intern(tr, &f, 1, 1);
    }
    return tr->unknown;
}

/* ---- the current traceback, from the chosen source ---- */

/* A program allocates from few sites, many times each: a direct-mapped
 * cache in front of the traceback table makes the common case a compare. */
static ttb *callsite_traceback(struct rcgc_tracer *tr)
{
    const rcgc_site *site = tr->rt->site;
    if (site == NULL) return unknown_traceback(tr);
    size_t k = (size_t)((((uintptr_t)site->filename >> 3) ^
                         (uintptr_t)site->lineno * 0x9e3779b1u) & 255);
    struct site_entry *c = &tr->site_cache[k];
    if (c->tb != NULL && c->filename == site->filename &&
        c->lineno == site->lineno && c->function == site->function)
        return c->tb;
    tframe f = {site->filename, site->function, site->lineno, 0};
    ttb *tb = intern(tr, &f, 1, 1);
    if (tb != NULL) {
        c->filename = site->filename;
        c->function = site->function;
        c->lineno = site->lineno;
        c->tb = tb;
    }
    return tb;
}

static ttb *provider_traceback(struct rcgc_tracer *tr)
{
    int total = 0;
    int n = tr->cfg.provider(tr->cfg.provider_ctx, tr->pscratch,
                             tr->cfg.nframes, &total);
    if (n <= 0) return unknown_traceback(tr);
    if (n > tr->cfg.nframes) n = tr->cfg.nframes;
    if (total < n) total = n;
    for (int i = 0; i < n; i++) {
        const rcgc_frame *p = &tr->pscratch[i];
        tframe f = {p->filename, p->function, p->lineno, 0};
        tr->scratch[i] = f;
    }
    return intern(tr, tr->scratch, n, total);
}

static uintptr_t probe_address(void);

static ttb *cstack_traceback(struct rcgc_tracer *tr, unsigned domain)
{
#if HAVE_BACKTRACE
    int skip = domain < RCGC_DOMAIN_COUNT ? tr->skip[domain] : 0;
    if (RCGC_UNLIKELY(tr->calibrating)) {
        /* Measure, through this very path, how many frames are rcgc's:
         * the calibration probe's frame is the first of the program's. */
        int m = backtrace(tr->pcs, tr->npcs);
        for (int i = 0; i < m && domain < RCGC_DOMAIN_COUNT; i++)
            if ((uintptr_t)tr->pcs[i] - probe_address() < 512) {
                tr->skip[domain] = i;
                break;
            }
        return unknown_traceback(tr);
    }
    int n = backtrace(tr->pcs, tr->npcs) - skip;
    if (n <= 0) return unknown_traceback(tr);
    int total = n;
    if (n > tr->cfg.nframes) n = tr->cfg.nframes;
    for (int i = 0; i < n; i++) {
        tframe f = {NULL, NULL, 0, (uintptr_t)tr->pcs[skip + i]};
        tr->scratch[i] = f;
    }
    return intern(tr, tr->scratch, n, total);
#else
    (void)domain;
    return unknown_traceback(tr);
#endif
}

static ttb *current_traceback(struct rcgc_tracer *tr, unsigned domain)
{
    switch (tr->cfg.source) {
    case RCGC_FRAMES_PROVIDER:
        return provider_traceback(tr);
    case RCGC_FRAMES_CSTACK:
        return cstack_traceback(tr, domain);
    default:
        return callsite_traceback(tr);
    }
}

/* ---- the trace table (traces not in a side array) ---- */

static size_t slot_of(const struct rcgc_tracer *tr, uintptr_t ptr,
                      unsigned domain)
{
    uint64_t k = ((uint64_t)ptr >> 4) ^ ((uint64_t)domain << 44);
    return (size_t)((k * 0x9e3779b97f4a7c15u) >> tr->shift);
}

static int log2_shift(size_t cap)
{
    int shift = 64;
    for (size_t c = cap; c > 1; c >>= 1) shift--;
    return shift;
}

static int traces_resize(struct rcgc_tracer *tr, size_t cap)
{
    tentry *t = meta_alloc(tr, cap * sizeof *t);
    if (t == NULL) return RCGC_ENOMEM;
    tentry *old = tr->traces;
    size_t old_cap = tr->cap;
    tr->traces = t;
    tr->cap = cap;
    tr->shift = log2_shift(cap);
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].ptr == 0) continue;
        size_t j = slot_of(tr, old[i].ptr, (unsigned)(old[i].size_domain >> SIZE_BITS));
        while (t[j].ptr != 0) j = (j + 1) & (cap - 1);
        t[j] = old[i];
    }
    meta_free(tr, old, old_cap * sizeof *old);
    return 0;
}

static tentry *ht_find(const struct rcgc_tracer *tr, uintptr_t ptr,
                       unsigned domain)
{
    if (tr->count == 0) return NULL;
    uint64_t dom = (uint64_t)domain << SIZE_BITS;
    for (size_t i = slot_of(tr, ptr, domain);; i = (i + 1) & (tr->cap - 1)) {
        tentry *e = &tr->traces[i];
        if (e->ptr == 0) return NULL;
        if (e->ptr == ptr && (e->size_domain & ~SIZE_MASK) == dom) return e;
    }
}

static size_t entry_size(const tentry *e)
{
    return (size_t)(e->size_domain & SIZE_MASK);
}

/* Sampling: the probability that a block of size bytes was recorded, 1 when
 * every allocation is.  A recorded block stands for size / p bytes and 1 / p
 * blocks. */
static double recorded_p(const struct rcgc_tracer *tr, size_t size)
{
    if (tr->cfg.sample_bytes == 0 || size == 0) return 1.0;
    return -expm1(-(double)size / (double)tr->cfg.sample_bytes);
}

/* The bytes one recorded block of size bytes stands for. */
static double weight(const struct rcgc_tracer *tr, size_t size)
{
    return (double)size / recorded_p(tr, size);
}

static void account(struct rcgc_tracer *tr, double delta)
{
    tr->current += delta;
    if (tr->current < 0) tr->current = 0;
    if (tr->current > tr->peak) tr->peak = tr->current;
}

/* Record (or replace) the trace of ptr in the table; 0 or RCGC_ENOMEM. */
static int ht_put(struct rcgc_tracer *tr, uintptr_t ptr, unsigned domain,
                  size_t size, ttb *tb)
{
    tentry *e = ht_find(tr, ptr, domain);
    if (e != NULL) { /* re-adding replaces size and traceback */
        account(tr, -weight(tr, entry_size(e)));
    } else {
        if ((tr->count + 1) * 2 > tr->cap &&
            traces_resize(tr, tr->cap ? tr->cap * 2 : 1024) != 0)
            return RCGC_ENOMEM;
        size_t i = slot_of(tr, ptr, domain);
        while (tr->traces[i].ptr != 0) i = (i + 1) & (tr->cap - 1);
        e = &tr->traces[i];
        e->ptr = ptr;
        tr->count++;
    }
    e->size_domain = ((uint64_t)size & SIZE_MASK) | ((uint64_t)domain << SIZE_BITS);
    e->tb = tb;
    account(tr, weight(tr, size));
    return 0;
}

/* Remove e, shifting later entries of its probe run back. */
static void ht_remove(struct rcgc_tracer *tr, tentry *e)
{
    account(tr, -weight(tr, entry_size(e)));
    size_t mask = tr->cap - 1;
    size_t i = (size_t)(e - tr->traces);
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        tentry *f = &tr->traces[j];
        if (f->ptr == 0) break;
        size_t home = slot_of(tr, f->ptr, (unsigned)(f->size_domain >> SIZE_BITS));
        /* f may move to i if its home is not in (i, j] cyclically. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            tr->traces[i] = *f;
            i = j;
        }
    }
    tr->traces[i].ptr = 0;
    tr->traces[i].tb = NULL;
    tr->count--;
}

/* ---- side arrays: the traces of pool blocks ---- */

/* Where the trace of ptr would be in a side array: 1 when ptr is the start
 * of a block of the heap's pool allocator. */
typedef struct where {
    uintptr_t pool;
    uint32_t index, bsize, nslots;
} where;

static int locate(const struct rcgc_tracer *tr, uintptr_t ptr, unsigned domain,
                  where *w)
{
    if (tr->pm == NULL || domain >= RCGC_DOMAIN_COUNT ||
        !rcgc__pm_owns(tr->pm, (const void *)ptr))
        return 0;
    const pm_pool *pool = PM_POOL_ADDR(ptr);
    uint32_t c = pool->szidx;
    uintptr_t off = ptr - (uintptr_t)pool;
    if (c >= PM_NCLASSES || off < PM_POOL_OVERHEAD) return 0;
    w->bsize = PM_INDEX2SIZE(c);
    w->nslots = PM_NUMBLOCKS(c);
    off -= PM_POOL_OVERHEAD;
    w->index = (uint32_t)(off / w->bsize);
    if (off % w->bsize != 0 || w->index >= w->nslots) return 0;
    w->pool = (uintptr_t)pool;
    return 1;
}

static size_t side_home(const struct rcgc_tracer *tr, uintptr_t pool)
{
    return (size_t)(((uint64_t)(pool >> 14) * 0x9e3779b97f4a7c15u) >> tr->side_shift);
}

static side *side_find(struct rcgc_tracer *tr, uintptr_t pool)
{
    if (tr->last_side != NULL && tr->last_side->pool == pool) return tr->last_side;
    if (tr->side_count == 0) return NULL;
    for (size_t i = side_home(tr, pool);; i = (i + 1) & (tr->side_cap - 1)) {
        side *sd = tr->sides[i];
        if (sd == NULL) return NULL;
        if (sd->pool == pool) return tr->last_side = sd;
    }
}

static size_t side_bytes(uint32_t nslots)
{
    return sizeof(side) + (size_t)nslots * sizeof(uint32_t);
}

static int sides_resize(struct rcgc_tracer *tr, size_t cap)
{
    side **t = meta_alloc(tr, cap * sizeof *t);
    if (t == NULL) return RCGC_ENOMEM;
    side **old = tr->sides;
    size_t old_cap = tr->side_cap;
    tr->sides = t;
    tr->side_cap = cap;
    tr->side_shift = log2_shift(cap);
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == NULL) continue;
        size_t j = side_home(tr, old[i]->pool);
        while (t[j] != NULL) j = (j + 1) & (cap - 1);
        t[j] = old[i];
    }
    meta_free(tr, old, old_cap * sizeof *old);
    return 0;
}

static side *side_new(struct rcgc_tracer *tr, const where *w)
{
    if ((tr->side_count + 1) * 2 > tr->side_cap &&
        sides_resize(tr, tr->side_cap ? tr->side_cap * 2 : 64) != 0)
        return NULL;
    side *sd = meta_alloc(tr, side_bytes(w->nslots)); /* zeroed */
    if (sd == NULL) return NULL;
    sd->pool = w->pool;
    sd->bsize = w->bsize;
    sd->nslots = w->nslots;
    sd->recip = (uint32_t)((UINT64_C(0xffffffff) + w->bsize) / w->bsize);
    size_t i = side_home(tr, w->pool);
    while (tr->sides[i] != NULL) i = (i + 1) & (tr->side_cap - 1);
    tr->sides[i] = sd;
    tr->side_count++;
    return tr->last_side = sd;
}

/* Free an empty side array (its pool may be reused for another size). */
static void side_drop(struct rcgc_tracer *tr, side *sd)
{
    size_t mask = tr->side_cap - 1;
    size_t i = side_home(tr, sd->pool);
    while (tr->sides[i] != sd) i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        side *f = tr->sides[j];
        if (f == NULL) break;
        size_t home = side_home(tr, f->pool);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            tr->sides[i] = f;
            i = j;
        }
    }
    tr->sides[i] = NULL;
    tr->side_count--;
    if (tr->last_side == sd) tr->last_side = NULL;
    meta_free(tr, sd, side_bytes(sd->nslots));
}

/* Clear slot w of sd (which holds a trace) and return its size. */
static size_t side_clear(struct rcgc_tracer *tr, side *sd, uint32_t index)
{
    uint32_t v = sd->slot[index];
    size_t size = sd->bsize - SLOT_SLACK(v);
    account(tr, -weight(tr, size));
    sd->slot[index] = 0;
    if (--sd->used == 0) side_drop(tr, sd);
    return size;
}

/* ---- traces: a side array slot or the table ---- */

/* The hot path of both: ptr is a block of the pool whose side array was
 * used last.  Its slot, or NULL (then the general path decides). */
static inline uint32_t *last_slot(const struct rcgc_tracer *tr, uintptr_t ptr,
                                  unsigned domain)
{
    side *sd = tr->last_side;
    uintptr_t pool = ptr & ~PM_POOL_MASK;
    if (sd == NULL || sd->pool != pool || domain >= RCGC_DOMAIN_COUNT) return NULL;
    uintptr_t off = ptr - pool - PM_POOL_OVERHEAD;
    uint32_t index = (uint32_t)(((uint64_t)off * sd->recip) >> 32);
    if (off >= PM_POOL_SIZE || (uintptr_t)index * sd->bsize != off ||
        index >= sd->nslots)
        return NULL;
    return &sd->slot[index];
}

/* Record (or replace) the trace of (ptr, domain); 0 or RCGC_ENOMEM. */
static int trace_put(struct rcgc_tracer *tr, uintptr_t ptr, unsigned domain,
                     size_t size, ttb *tb)
{
    uint32_t *slot = last_slot(tr, ptr, domain);
    if (slot != NULL && *slot == 0 && size <= tr->last_side->bsize &&
        tr->last_side->bsize - size < 16 && tb->id <= SLOT_ID_MAX) {
        *slot = tb->id << 6 | domain << 4 | (uint32_t)(tr->last_side->bsize - size);
        tr->last_side->used++;
        account(tr, weight(tr, size));
        if (RCGC_UNLIKELY(tr->count != 0)) { /* the key lives in one place */
            tentry *e = ht_find(tr, ptr, domain);
            if (e != NULL) ht_remove(tr, e);
        }
        return 0;
    }
    where w;
    if (locate(tr, ptr, domain, &w)) {
        side *sd = side_find(tr, w.pool);
        uint32_t old = sd != NULL ? sd->slot[w.index] : 0;
        if (old != 0 && SLOT_DOMAIN(old) == domain) {
            side_clear(tr, sd, w.index); /* replaced below */
            sd = side_find(tr, w.pool);
            old = 0;
        }
        if (old == 0 && size <= w.bsize && w.bsize - size < 16 &&
            tb->id <= SLOT_ID_MAX) {
            if (sd == NULL && (sd = side_new(tr, &w)) == NULL) return RCGC_ENOMEM;
            sd->slot[w.index] = tb->id << 6 | domain << 4 | (uint32_t)(w.bsize - size);
            sd->used++;
            account(tr, weight(tr, size));
            tentry *e = ht_find(tr, ptr, domain); /* the key lives in one place */
            if (e != NULL) ht_remove(tr, e);
            return 0;
        }
        /* another domain's trace holds the slot, or this one does not fit */
    }
    return ht_put(tr, ptr, domain, size, tb);
}

/* The trace of (ptr, domain): 1 with *size and *tb, or 0.  With take, the
 * trace is removed. */
static int trace_get(struct rcgc_tracer *tr, uintptr_t ptr, unsigned domain,
                     size_t *size, ttb **tb, int take)
{
    uint32_t *slot = last_slot(tr, ptr, domain);
    if (slot != NULL && *slot != 0 && SLOT_DOMAIN(*slot) == domain) {
        side *sd = tr->last_side;
        *tb = tr->by_id[SLOT_ID(*slot)];
        *size = take ? side_clear(tr, sd, (uint32_t)(slot - sd->slot))
                     : sd->bsize - SLOT_SLACK(*slot);
        return 1;
    }
    where w;
    if (locate(tr, ptr, domain, &w)) {
        side *sd = side_find(tr, w.pool);
        uint32_t v = sd != NULL ? sd->slot[w.index] : 0;
        if (v != 0 && SLOT_DOMAIN(v) == domain) {
            *tb = tr->by_id[SLOT_ID(v)];
            *size = take ? side_clear(tr, sd, w.index) : sd->bsize - SLOT_SLACK(v);
            return 1;
        }
    }
    tentry *e = ht_find(tr, ptr, domain);
    if (e == NULL) return 0;
    *tb = e->tb;
    *size = entry_size(e);
    if (take) ht_remove(tr, e);
    return 1;
}

/* ---- sampling ---- */

static uint64_t next_random(struct rcgc_tracer *tr)
{
    uint64_t x = tr->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    tr->rng = x;
    return x * 0x2545f4914f6cdd1du;
}

/* Bytes until the next sample: exponential, mean sample_bytes. */
static int64_t draw_interval(struct rcgc_tracer *tr)
{
    double u = ((double)(next_random(tr) >> 11) + 0.5) / 9007199254740992.0;
    double x = -log(u) * (double)tr->cfg.sample_bytes;
    return x < 1 ? 1 : (x > 9.2e18 ? INT64_MAX : (int64_t)x);
}

static size_t filter_bit(uintptr_t ptr)
{
    return (size_t)((((uint64_t)ptr >> 4) * 0x9e3779b97f4a7c15u) >> 48);
}

/* ---- recording ---- */

/* Record block ptr of size bytes; 0, or RCGC_ENOMEM (the caller frees the
 * block: tracing never drops an allocation silently). */
static RCGC__NOINLINE int record_slow(struct rcgc_tracer *tr, unsigned domain,
                                      void *ptr, size_t size);

/* The sampling test stays inline: most allocations end there. */
static inline int record(struct rcgc_tracer *tr, unsigned domain, void *ptr,
                         size_t size)
{
    if (tr->cfg.sample_bytes > 0) {
        tr->countdown -= (int64_t)(size ? size : 1);
        if (RCGC_LIKELY(tr->countdown > 0) || tr->busy) return 0;
    }
    return record_slow(tr, domain, ptr, size);
}

static RCGC__NOINLINE int record_slow(struct rcgc_tracer *tr, unsigned domain,
                                      void *ptr, size_t size)
{
    if (tr->busy) return 0;
    if (tr->cfg.sample_bytes > 0) {
        tr->countdown = draw_interval(tr);
        size_t bit = filter_bit((uintptr_t)ptr);
        tr->filter[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
    tr->busy = 1;
    ttb *tb = current_traceback(tr, domain);
    int rc = tb != NULL ? trace_put(tr, (uintptr_t)ptr, domain, size, tb)
                        : RCGC_ENOMEM;
    tr->busy = 0;
    return rc;
}

static RCGC__NOINLINE int forget_slow(struct rcgc_tracer *tr, unsigned domain,
                                      void *ptr, size_t *size, ttb **tb)
{
    return trace_get(tr, (uintptr_t)ptr, domain, size, tb, 1);
}

/* Remove the trace of ptr, if any: 1 with its size and traceback.  When
 * sampling, the filter of sampled addresses answers most frees inline. */
static inline int forget(struct rcgc_tracer *tr, unsigned domain, void *ptr,
                         size_t *size, ttb **tb)
{
    if (tr->cfg.sample_bytes > 0) {
        size_t bit = filter_bit((uintptr_t)ptr);
        if (RCGC_LIKELY(!(tr->filter[bit >> 3] & (1u << (bit & 7))))) return 0;
    }
    return forget_slow(tr, domain, ptr, size, tb);
}

/* ---- the domain wrappers ---- */

/* A wrapper whose tracer stopped forwards only (h->tracer == NULL).  A
 * trace is removed before its block goes back: finding a side array slot
 * reads the block's pool header, which a free may unmap. */

static void *tr_malloc(void *ctx, size_t size)
{
    domain_hook *h = ctx;
    void *p = h->inner.malloc(h->inner.ctx, size);
    if (p == NULL || h->tracer == NULL) return p;
    if (record(h->tracer, h->domain, p, size) != 0) {
        h->inner.free(h->inner.ctx, p);
        return NULL;
    }
    return p;
}

static void *tr_calloc(void *ctx, size_t nelem, size_t elsize)
{
    domain_hook *h = ctx;
    void *p = h->inner.calloc(h->inner.ctx, nelem, elsize);
    if (p == NULL || h->tracer == NULL) return p;
    if (record(h->tracer, h->domain, p, nelem * elsize) != 0) {
        h->inner.free(h->inner.ctx, p);
        return NULL;
    }
    return p;
}

static void *tr_realloc(void *ctx, void *ptr, size_t size)
{
    domain_hook *h = ctx;
    struct rcgc_tracer *tr = h->tracer;
    if (tr == NULL) return h->inner.realloc(h->inner.ctx, ptr, size);
    size_t old_size = 0;
    ttb *old_tb = NULL;
    int had = ptr != NULL && forget(tr, h->domain, ptr, &old_size, &old_tb);
    void *p = h->inner.realloc(h->inner.ctx, ptr, size);
    if (p == NULL) { /* the block is unchanged: so is its trace */
        if (had) (void)trace_put(tr, (uintptr_t)ptr, h->domain, old_size, old_tb);
        return NULL;
    }
    /* The new size and the current traceback, as CPython.  If recording
     * fails, the block (already resized) stays, untraced. */
    (void)record(tr, h->domain, p, size);
    return p;
}

static void tr_free(void *ctx, void *ptr)
{
    domain_hook *h = ctx;
    if (ptr != NULL && h->tracer != NULL) {
        size_t size;
        ttb *tb;
        (void)forget(h->tracer, h->domain, ptr, &size, &tb);
    }
    h->inner.free(h->inner.ctx, ptr);
}

/* ---- C stack calibration: how many frames are rcgc's own ---- */

static const rcgc_type calibration_type = {
    .name = "tracer-calibration", .size = sizeof(rcgc_object)};

/* Allocate an object and a buffer from here: the frame of this function in
 * the captured stacks marks where the program's frames begin. */
static RCGC__NOINLINE void calibration_probe(rcgc_runtime *rt)
{
    rcgc_object *o = rcgc_object_new(rt, &calibration_type);
    if (o != NULL) rcgc_decref(rt, o);
    rcgc_mem_free(rt, rcgc_mem_malloc(rt, 1));
}

static uintptr_t probe_address(void)
{
    return (uintptr_t)&calibration_probe;
}

/* Fill skip[] (C stack source): allocate from the probe with the tracer in
 * calibration mode, then forget what that recorded. */
static void calibrate(struct rcgc_tracer *tr)
{
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) tr->skip[d] = 0;
    size_t sample = tr->cfg.sample_bytes;
    tr->cfg.sample_bytes = 0;
    tr->calibrating = 1;
    calibration_probe(tr->rt);
    tr->calibrating = 0;
    tr->cfg.sample_bytes = sample;
    tr->skip[RCGC_DOMAIN_RAW] = tr->skip[RCGC_DOMAIN_MEM];
}

/* ---- start and stop ---- */

void rcgc_trace_config_init(rcgc_trace_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->nframes = 1;
    cfg->source = RCGC_FRAMES_CALLSITE;
}

static int config_usable(const rcgc_trace_config *cfg)
{
    if (cfg->nframes < 1 || cfg->nframes > MAX_NFRAME) return 0;
    switch (cfg->source) {
    case RCGC_FRAMES_CALLSITE:
        return 1;
    case RCGC_FRAMES_CSTACK:
        return HAVE_BACKTRACE;
    case RCGC_FRAMES_PROVIDER:
        return cfg->provider != NULL;
    }
    return 0;
}

static void free_sides(struct rcgc_tracer *tr)
{
    for (size_t i = 0; i < tr->side_cap; i++) {
        side *sd = tr->sides[i];
        if (sd != NULL) meta_free(tr, sd, side_bytes(sd->nslots));
        tr->sides[i] = NULL;
    }
    tr->side_count = 0;
    tr->last_side = NULL;
}

static void traces_clear(struct rcgc_tracer *tr)
{
    if (tr->traces != NULL) memset(tr->traces, 0, tr->cap * sizeof *tr->traces);
    tr->count = 0;
    free_sides(tr);
    memset(tr->site_cache, 0, sizeof tr->site_cache);
    free_tracebacks(tr);
    tr->current = tr->peak = 0;
    if (tr->filter != NULL) memset(tr->filter, 0, FILTER_BITS / 8);
}

static void tracer_free(struct rcgc_tracer *tr)
{
    free_sides(tr);
    meta_free(tr, tr->sides, tr->side_cap * sizeof *tr->sides);
    meta_free(tr, tr->by_id, tr->by_id_cap * sizeof *tr->by_id);
    free_tracebacks(tr);
    meta_free(tr, tr->tbs, tr->tb_cap * sizeof *tr->tbs);
    meta_free(tr, tr->traces, tr->cap * sizeof *tr->traces);
    meta_free(tr, tr->scratch, (size_t)tr->cfg.nframes * sizeof *tr->scratch);
    meta_free(tr, tr->pscratch, (size_t)tr->cfg.nframes * sizeof *tr->pscratch);
    meta_free(tr, tr->pcs, (size_t)tr->npcs * sizeof *tr->pcs);
    meta_free(tr, tr->filter, FILTER_BITS / 8);
    rcgc_allocator meta = tr->meta;
    meta.free(meta.ctx, tr);
}

static int tracer_tables(struct rcgc_tracer *tr)
{
    int n = tr->cfg.nframes;
    tr->scratch = meta_alloc(tr, (size_t)n * sizeof *tr->scratch);
    if (tr->scratch == NULL) return RCGC_ENOMEM;
    if (tr->cfg.source == RCGC_FRAMES_PROVIDER &&
        (tr->pscratch = meta_alloc(tr, (size_t)n * sizeof *tr->pscratch)) == NULL)
        return RCGC_ENOMEM;
    if (tr->cfg.source == RCGC_FRAMES_CSTACK) {
        tr->npcs = n + 64; /* room for rcgc's own frames */
        if ((tr->pcs = meta_alloc(tr, (size_t)tr->npcs * sizeof *tr->pcs)) == NULL)
            return RCGC_ENOMEM;
    }
    if (tr->cfg.sample_bytes > 0 &&
        (tr->filter = meta_alloc(tr, FILTER_BITS / 8)) == NULL)
        return RCGC_ENOMEM;
    if (tb_table_grow(tr) != 0 || traces_resize(tr, 1024) != 0) return RCGC_ENOMEM;
    return 0;
}

static size_t debug_traceback(void *ctx, const void *ptr, char *buf,
                              size_t size);

/* Put the wrappers in front of the domains' allocators (a wrapper still in
 * a chain from an earlier start is reused as it is). */
static void install_hooks(struct rcgc_tracer *tr)
{
    rcgc_runtime *rt = tr->rt;
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        domain_hook *h = &rt->trace_hooks[d];
        h->tracer = tr;
        h->domain = (unsigned)d;
        if (h->installed) continue;
        rcgc_heap_get_allocator(&rt->heap, (rcgc_domain)d, &h->inner);
        rcgc_allocator w = {h, tr_malloc, tr_calloc, tr_realloc, tr_free};
        rcgc_heap_set_allocator(&rt->heap, (rcgc_domain)d, &w);
        h->installed = 1;
    }
    if (rt->heap.md != NULL) { /* debug reports show allocation tracebacks */
        rcgc__memdebug_get_traceback(rt->heap.md, &tr->md_fn, &tr->md_ctx);
        if (tr->md_fn == NULL)
            rcgc__memdebug_set_traceback(rt->heap.md, debug_traceback, rt);
    }
}

/* Take the wrappers out where they are in front; one that something else
 * wrapped since stays in the chain, forwarding only. */
static void remove_hooks(struct rcgc_tracer *tr)
{
    rcgc_runtime *rt = tr->rt;
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        domain_hook *h = &rt->trace_hooks[d];
        rcgc_allocator cur;
        h->tracer = NULL;
        rcgc_heap_get_allocator(&rt->heap, (rcgc_domain)d, &cur);
        if (cur.ctx == h && cur.malloc == tr_malloc) {
            rcgc_heap_set_allocator(&rt->heap, (rcgc_domain)d, &h->inner);
            h->installed = 0;
        }
    }
    if (rt->heap.md != NULL && tr->md_fn == NULL)
        rcgc__memdebug_set_traceback(rt->heap.md, NULL, NULL);
}

int rcgc_trace_start(rcgc_runtime *rt, const rcgc_trace_config *cfg)
{
    rcgc_trace_config dflt;
    if (cfg == NULL) {
        rcgc_trace_config_init(&dflt);
        cfg = &dflt;
    }
    if (!RCGC__SIZE_OK(cfg)) return RCGC_EINVAL;
    if (rt->tracer != NULL) return 0; /* CPython keeps the first start */
    if (!config_usable(cfg)) return RCGC_EINVAL;
    rcgc_allocator meta = rt->heap.raw_base;
    struct rcgc_tracer *tr = meta.calloc(meta.ctx, 1, sizeof *tr);
    if (tr == NULL) return rt->last_error = RCGC_ENOMEM;
    tr->rt = rt;
    tr->pm = rt->heap.pm;
    tr->cfg = *cfg;
    tr->meta = meta;
    tr->overhead = sizeof *tr;
    tr->rng = cfg->seed ? cfg->seed : 0x2545f4914f6cdd1du;
    if (tracer_tables(tr) != 0) {
        tracer_free(tr);
        return rt->last_error = RCGC_ENOMEM;
    }
    if (cfg->sample_bytes > 0) tr->countdown = draw_interval(tr);
    install_hooks(tr);
    rt->tracer = tr;
    rt->trace_limit = cfg->nframes;
    if (cfg->source == RCGC_FRAMES_CSTACK) {
        calibrate(tr);
        traces_clear(tr);
    }
    return 0;
}

void rcgc_trace_stop(rcgc_runtime *rt)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL) return;
    remove_hooks(tr);
    rt->tracer = NULL;
    tracer_free(tr);
}

void rcgc__trace_fini(rcgc_runtime *rt)
{
    rcgc_trace_stop(rt);
}

/* ---- queries ---- */

int rcgc_trace_is_tracing(rcgc_runtime *rt)
{
    return rt->tracer != NULL;
}

int rcgc_trace_get_limit(rcgc_runtime *rt)
{
    return rt->trace_limit > 0 ? rt->trace_limit : 1;
}

void rcgc_trace_get_memory(rcgc_runtime *rt, size_t *current,
                           size_t *peak)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (current != NULL) *current = tr ? (size_t)(tr->current + 0.5) : 0;
    if (peak != NULL) *peak = tr ? (size_t)(tr->peak + 0.5) : 0;
}

void rcgc_trace_reset_peak(rcgc_runtime *rt)
{
    if (rt->tracer != NULL) rt->tracer->peak = rt->tracer->current;
}

void rcgc_trace_clear(rcgc_runtime *rt)
{
    if (rt->tracer != NULL) traces_clear(rt->tracer);
}

size_t rcgc_trace_overhead(rcgc_runtime *rt)
{
    return rt->tracer != NULL ? rt->tracer->overhead : 0;
}

int rcgc_trace_track(rcgc_runtime *rt, unsigned domain,
                     const void *ptr, size_t size)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL) return RCGC_ENOTTRACING;
    if (domain > 0xffff || ptr == NULL || size > SIZE_MASK) return RCGC_EINVAL;
    return record(tr, domain, (void *)(uintptr_t)ptr, size);
}

int rcgc_trace_untrack(rcgc_runtime *rt, unsigned domain,
                       const void *ptr)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL) return RCGC_ENOTTRACING;
    if (domain > 0xffff) return RCGC_EINVAL;
    size_t size;
    ttb *tb;
    (void)forget(tr, domain, (void *)(uintptr_t)ptr, &size, &tb);
    return 0;
}

/* A tracer frame as the API shows it; C stack addresses are resolved to
 * their module and (when exported) function; rcgc_snapshot_symbolize finds
 * file and line later. */
static rcgc_frame public_frame(const tframe *f)
{
    rcgc_frame out = {f->filename ? f->filename : "<unknown>", f->lineno,
                      f->function, NULL, 0};
    if (f->pc != 0) {
        Dl_info info;
        /* pc is a return address: pc - 1 is inside the call. */
        if (dladdr((void *)(f->pc - 1), &info) != 0 && info.dli_fname != NULL) {
            out.module = info.dli_fname;
            out.offset = (uint64_t)(f->pc - (uintptr_t)info.dli_fbase);
            out.function = info.dli_sname;
        } else {
            out.offset = (uint64_t)f->pc;
        }
    }
    return out;
}

/* One frame as a line of a report: CPython's `  File "x.c", line 52`, with
 * the function when known; C stack frames without a file show where in
 * which module the address is. */
static int format_frame(const rcgc_frame *f, char *buf, size_t size)
{
    if (f->module != NULL && f->lineno == 0)
        return snprintf(buf, size, "  File \"%s\", +0x%llx%s%s\n", f->module,
                        (unsigned long long)f->offset, f->function ? ", in " : "",
                        f->function ? f->function : "");
    return snprintf(buf, size, "  File \"%s\", line %u%s%s\n", f->filename,
                    f->lineno, f->function ? ", in " : "",
                    f->function ? f->function : "");
}

/* The debug layer's traceback hook while the tracer runs: the traceback of
 * the block at ptr, whichever domain traced it, most recent call first. */
static size_t debug_traceback(void *ctx, const void *ptr, char *buf,
                              size_t size)
{
    rcgc_runtime *rt = ctx;
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL || size == 0) return 0;
    for (unsigned d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        size_t bsize;
        ttb *tb;
        if (!trace_get(tr, (uintptr_t)ptr, d, &bsize, &tb, 0)) continue;
        size_t len = 0;
        buf[0] = '\0';
        for (int i = 0; i < tb->nframe && len + 1 < size; i++) {
            rcgc_frame f = public_frame(&tb->frames[i]);
            int n = format_frame(&f, buf + len, size - len);
            if (n < 0) break;
            len += (size_t)n < size - len ? (size_t)n : size - len - 1;
        }
        return len;
    }
    return 0;
}

int rcgc_trace_block_traceback(rcgc_runtime *rt, unsigned domain,
                               const void *ptr, rcgc_frame *frames,
                               int max)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL || max <= 0) return 0;
    size_t size;
    ttb *tb;
    if (!trace_get(tr, (uintptr_t)ptr, domain, &size, &tb, 0)) return 0;
    int n = tb->nframe < max ? tb->nframe : max;
    for (int i = 0; i < n; i++) frames[i] = public_frame(&tb->frames[i]);
    return n;
}

int rcgc_trace_object_traceback(rcgc_runtime *rt,
                                const rcgc_object *obj,
                                rcgc_frame *frames, int max)
{
    const char *block = (const char *)obj - rcgc__pre_size(obj->type);
    return rcgc_trace_block_traceback(rt, RCGC_DOMAIN_OBJ, block, frames, max);
}

/* ---- snapshots ---- */

/* The snapshot index of tb, adding it on first use in this snapshot. */
static long snap_traceback(struct rcgc_tracer *tr, rcgc_snapshot *s, ttb *tb,
                           rcgc_frame *buf)
{
    if (tb->snap_gen == tr->snap_gen) return tb->snap_index;
    for (int i = 0; i < tb->nframe; i++) buf[i] = public_frame(&tb->frames[i]);
    long idx = rcgc__snapshot_add_traceback(s, buf, tb->nframe, tb->total);
    tb->snap_gen = tr->snap_gen;
    tb->snap_index = idx;
    return idx;
}

static int snap_add(struct rcgc_tracer *tr, rcgc_snapshot *s, unsigned domain,
                    size_t size, ttb *tb, rcgc_frame *buf)
{
    long idx = snap_traceback(tr, s, tb, buf);
    if (idx < 0) return RCGC_ENOMEM;
    double p = recorded_p(tr, size);
    return rcgc__snapshot_add_trace(s, domain, size, idx, (double)size / p, 1 / p);
}

rcgc_snapshot *rcgc_snapshot_take(rcgc_runtime *rt)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL) {
        rt->last_error = RCGC_ENOTTRACING;
        return NULL;
    }
    rcgc_snapshot *s = rcgc__snapshot_new(rt->trace_limit, tr->cfg.sample_bytes);
    rcgc_frame *buf = meta_alloc(tr, (size_t)tr->cfg.nframes * sizeof *buf);
    if (s == NULL || buf == NULL) goto nomem;
    tr->snap_gen++;
    for (size_t i = 0; i < tr->cap; i++) {
        const tentry *e = &tr->traces[i];
        if (e->ptr != 0 &&
            snap_add(tr, s, (unsigned)(e->size_domain >> SIZE_BITS),
                     entry_size(e), e->tb, buf) != 0)
            goto nomem;
    }
    for (size_t i = 0; i < tr->side_cap; i++) {
        const side *sd = tr->sides[i];
        if (sd == NULL) continue;
        for (uint32_t k = 0; k < sd->nslots; k++) {
            uint32_t v = sd->slot[k];
            if (v != 0 && snap_add(tr, s, SLOT_DOMAIN(v), sd->bsize - SLOT_SLACK(v),
                                   tr->by_id[SLOT_ID(v)], buf) != 0)
                goto nomem;
        }
    }
    meta_free(tr, buf, (size_t)tr->cfg.nframes * sizeof *buf);
    return s;
nomem:
    meta_free(tr, buf, (size_t)tr->cfg.nframes * sizeof *buf);
    rcgc_snapshot_free(s);
    rt->last_error = RCGC_ENOMEM;
    return NULL;
}

/* ---- allocation with a call site ---- */

#define WITH_SITE(rt, site, call)                                             \
    do {                                                                      \
        const rcgc_site *prev_site_ = (rt)->site;                             \
        (rt)->site = (site);                                                  \
        call;                                                                 \
        (rt)->site = prev_site_;                                              \
    } while (0)

rcgc_object *rcgc_object_new_at(rcgc_runtime *rt,
                                const rcgc_type *type,
                                const rcgc_site *site)
{
    rcgc_object *o;
    WITH_SITE(rt, site, o = rcgc_object_new(rt, type));
    return o;
}

rcgc_object *rcgc_object_new_sized_at(rcgc_runtime *rt,
                                      const rcgc_type *type,
                                      size_t size,
                                      const rcgc_site *site)
{
    rcgc_object *o;
    WITH_SITE(rt, site, o = rcgc_object_new_sized(rt, type, size));
    return o;
}

void *rcgc_mem_malloc_at(rcgc_runtime *rt, size_t size,
                         const rcgc_site *site)
{
    void *p;
    WITH_SITE(rt, site, p = rcgc_mem_malloc(rt, size));
    return p;
}

void *rcgc_mem_calloc_at(rcgc_runtime *rt, size_t nelem,
                         size_t elsize, const rcgc_site *site)
{
    void *p;
    WITH_SITE(rt, site, p = rcgc_mem_calloc(rt, nelem, elsize));
    return p;
}

void *rcgc_mem_realloc_at(rcgc_runtime *rt, void *ptr, size_t size,
                          const rcgc_site *site)
{
    void *p;
    WITH_SITE(rt, site, p = rcgc_mem_realloc(rt, ptr, size));
    return p;
}

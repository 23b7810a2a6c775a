/*
 * tracer.c - the allocation tracer (CPython's _tracemalloc, for rcgc): the
 * traces, sampling, recording and the domain wrappers.  Tracebacks are in
 * traceback.c, start/stop, queries and snapshots in tracer_api.c, the
 * tables they share in tracer_internal.h.
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
#include <string.h>

#include "trace/tracer_internal.h"

/* ---- the trace table (traces not in a side array) ---- */

static int log2_shift(size_t cap)
{
    int shift = 64;
    for (size_t c = cap; c > 1; c >>= 1) shift--;
    return shift;
}

int rcgc__tr_traces_resize(struct rcgc_tracer *tr, size_t cap)
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
        size_t j = ht_home(tr, old[i].ptr, (unsigned)(old[i].size_domain >> SIZE_BITS));
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
    for (size_t i = ht_home(tr, ptr, domain);; i = (i + 1) & (tr->cap - 1)) {
        tentry *e = &tr->traces[i];
        if (e->ptr == 0) return NULL;
        if (e->ptr == ptr && (e->size_domain & ~SIZE_MASK) == dom) return e;
    }
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
            rcgc__tr_traces_resize(tr, tr->cap ? tr->cap * 2 : 1024) != 0)
            return RCGC_ENOMEM;
        size_t i = ht_home(tr, ptr, domain);
        while (tr->traces[i].ptr != 0) i = (i + 1) & (tr->cap - 1);
        e = &tr->traces[i];
        e->ptr = ptr;
        tr->count++;
        RCGC_ASSERT(tr->count * 2 <= tr->cap);
    }
    e->size_domain = ((uint64_t)size & SIZE_MASK) | ((uint64_t)domain << SIZE_BITS);
    e->tb = tb;
    account(tr, weight(tr, size));
    return 0;
}

/* Remove e, shifting later entries of its probe run back. */
static void ht_remove(struct rcgc_tracer *tr, tentry *e)
{
    RCGC_ASSERT(tr->count > 0 && e->ptr != 0);
    account(tr, -weight(tr, entry_size(e)));
    size_t mask = tr->cap - 1;
    size_t i = (size_t)(e - tr->traces);
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        tentry *f = &tr->traces[j];
        if (f->ptr == 0) break;
        size_t home = ht_home(tr, f->ptr, (unsigned)(f->size_domain >> SIZE_BITS));
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
    RCGC_ASSERT(sd->used == 0 && tr->side_count > 0);
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
    RCGC_ASSERT(v != 0 && sd->used > 0 && index < sd->nslots);
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
    uintptr_t pool = ptr & ~(TR_POOL_SIZE - 1);
    if (sd == NULL || sd->pool != pool || domain >= RCGC_DOMAIN_COUNT) return NULL;
    uintptr_t off = ptr - pool - TR_POOL_FIRST;
    uint32_t index = (uint32_t)(((uint64_t)off * sd->recip) >> 32);
    if (off >= TR_POOL_SIZE || (uintptr_t)index * sd->bsize != off ||
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
        RCGC_ASSERT(tr->last_side->used < tr->last_side->nslots);
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
            RCGC_ASSERT(sd->used < sd->nslots);
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
int rcgc__tr_trace_get(struct rcgc_tracer *tr, uintptr_t ptr, unsigned domain,
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
int64_t rcgc__tr_draw_interval(struct rcgc_tracer *tr)
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
        tr->countdown = rcgc__tr_draw_interval(tr);
        size_t bit = filter_bit((uintptr_t)ptr);
        tr->filter[bit >> 3] |= (uint8_t)(1u << (bit & 7));
    }
    tr->busy = 1;
    ttb *tb = rcgc__tr_current_traceback(tr, domain);
    int rc = tb != NULL ? trace_put(tr, (uintptr_t)ptr, domain, size, tb)
                        : RCGC_ENOMEM;
    tr->busy = 0;
    return rc;
}

static RCGC__NOINLINE int forget_slow(struct rcgc_tracer *tr, unsigned domain,
                                      void *ptr, size_t *size, ttb **tb)
{
    return rcgc__tr_trace_get(tr, (uintptr_t)ptr, domain, size, tb, 1);
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

/* ---- the tables' end, and the wrappers' installation ---- */

void rcgc__tr_free_sides(struct rcgc_tracer *tr)
{
    for (size_t i = 0; i < tr->side_cap; i++) {
        side *sd = tr->sides[i];
        if (sd != NULL) meta_free(tr, sd, side_bytes(sd->nslots));
        tr->sides[i] = NULL;
    }
    tr->side_count = 0;
    tr->last_side = NULL;
}

/* Put the wrappers in front of the domains' allocators (a wrapper still in
 * a chain from an earlier start is reused as it is). */
void rcgc__tr_install_hooks(struct rcgc_tracer *tr)
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
            rcgc__memdebug_set_traceback(rt->heap.md, rcgc__tr_debug_traceback, rt);
    }
}

/* Take the wrappers out where they are in front; one that something else
 * wrapped since stays in the chain, forwarding only. */
void rcgc__tr_remove_hooks(struct rcgc_tracer *tr)
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

/* ---- traces the program records itself ---- */

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

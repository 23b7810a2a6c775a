/*
 * tracer_api.c - the tracer's public face: start and stop (the tables, the
 * hooks, the C stack calibration), the queries, a block's traceback, the
 * snapshot of every trace, and allocation with a call site.  The tables and
 * the hot path: tracer.c; tracebacks: traceback.c; design: docs/tracer.md.
 */
#include <string.h>

#include "trace/tracer_internal.h"

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

static void traces_clear(struct rcgc_tracer *tr)
{
    if (tr->traces != NULL) memset(tr->traces, 0, tr->cap * sizeof *tr->traces);
    tr->count = 0;
    rcgc__tr_free_sides(tr);
    memset(tr->site_cache, 0, sizeof tr->site_cache);
    rcgc__tr_free_tracebacks(tr);
    tr->current = tr->peak = 0;
    if (tr->filter != NULL) memset(tr->filter, 0, FILTER_BITS / 8);
}

static void tracer_free(struct rcgc_tracer *tr)
{
    rcgc__tr_free_sides(tr);
    meta_free(tr, tr->sides, tr->side_cap * sizeof *tr->sides);
    meta_free(tr, tr->by_id, tr->by_id_cap * sizeof *tr->by_id);
    rcgc__tr_free_tracebacks(tr);
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
    if (rcgc__tr_tb_table_grow(tr) != 0 || rcgc__tr_traces_resize(tr, 1024) != 0) return RCGC_ENOMEM;
    return 0;
}

static void trace_fini(rcgc_runtime *rt);

int rcgc_trace_start(rcgc_runtime *rt, const rcgc_trace_config *cfg)
{
    rcgc_trace_config dflt;
    if (cfg == NULL) {
        rcgc_trace_config_init(&dflt);
        cfg = &dflt;
    }
    if (rt->tracer != NULL) return 0; /* CPython keeps the first start */
    if (!RCGC__SIZE_OK(cfg) || !config_usable(cfg)) return RCGC_EINVAL;
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
    if (cfg->sample_bytes > 0) tr->countdown = rcgc__tr_draw_interval(tr);
    rcgc__tr_install_hooks(tr);
    rt->tracer = tr;
    rt->up.trace_fini = trace_fini;
    rt->trace_limit = cfg->nframes;
    if (cfg->source == RCGC_FRAMES_CSTACK) {
        rcgc__tr_calibrate(tr);
        traces_clear(tr);
    }
    return 0;
}

void rcgc_trace_stop(rcgc_runtime *rt)
{
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL) return;
    rcgc__tr_remove_hooks(tr);
    rt->tracer = NULL;
    tracer_free(tr);
}

/* Teardown stops the tracer (rt->up.trace_fini, installed by the first
 * start). */
static void trace_fini(rcgc_runtime *rt)
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


/* A tracer frame as the API shows it; C stack addresses are resolved to
 * their module and (when exported) function; rcgc_snapshot_symbolize finds
 * file and line later. */
static rcgc_frame public_frame(const tframe *f)
{
    rcgc_frame out = {f->filename ? f->filename : "<unknown>", f->lineno,
                      f->function, NULL, 0};
    if (f->pc != 0) {
        rcgc__os_module m;
        /* pc is a return address: pc - 1 is inside the call. */
        if (rcgc__os_module_of((void *)(f->pc - 1), &m)) {
            out.module = m.path;
            out.offset = (uint64_t)(f->pc - m.base);
            out.function = m.symbol;
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
size_t rcgc__tr_debug_traceback(void *ctx, const void *ptr, char *buf,
                              size_t size)
{
    rcgc_runtime *rt = ctx;
    struct rcgc_tracer *tr = rt->tracer;
    if (tr == NULL || size == 0) return 0;
    for (unsigned d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        size_t bsize;
        ttb *tb;
        if (!rcgc__tr_trace_get(tr, (uintptr_t)ptr, d, &bsize, &tb, 0)) continue;
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
    if (!rcgc__tr_trace_get(tr, (uintptr_t)ptr, domain, &size, &tb, 0)) return 0;
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

/*
 * traceback.c - the tracer's tracebacks: interned in a chained hash table
 * (identical stacks share one, most recent frame first, each with an id that
 * the side array slots hold), and the current one, taken from the chosen
 * source (the call site, the program's frame provider, or the C stack,
 * whose rcgc frames are measured once by a calibration probe).
 * The tracer's tables: tracer_internal.h; design: docs/tracer.md.
 */
#include <string.h>

#include "trace/tracer_internal.h"


/* ---- tracebacks ---- */

static size_t tb_bytes(int n)
{
    return sizeof(ttb) + (size_t)n * sizeof(tframe);
}

int rcgc__tr_tb_table_grow(struct rcgc_tracer *tr)
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
    if (tr->tb_count >= tr->tb_cap && rcgc__tr_tb_table_grow(tr) != 0) return NULL;
    if (tr->tb_count + 2 > tr->by_id_cap) {
        size_t cap = tr->by_id_cap ? tr->by_id_cap * 2 : 256;
        ttb **v = meta_alloc(tr, cap * sizeof *v);
        if (v == NULL) return NULL;
        if (tr->by_id != NULL) memcpy(v, tr->by_id, tr->by_id_cap * sizeof *v);
        meta_free(tr, tr->by_id, tr->by_id_cap * sizeof *v);
        tr->by_id = v;
        tr->by_id_cap = cap;
    }
    RCGC_ASSERT(tr->tb_count < tr->tb_cap && tr->tb_count + 2 <= tr->by_id_cap);
    RCGC_ASSERT(n >= 1 && n <= total);
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

void rcgc__tr_free_tracebacks(struct rcgc_tracer *tr)
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
        int m = rcgc__os_backtrace(tr->pcs, tr->npcs);
        for (int i = 0; i < m && domain < RCGC_DOMAIN_COUNT; i++)
            if ((uintptr_t)tr->pcs[i] - probe_address() < 512) {
                tr->skip[domain] = i;
                break;
            }
        return unknown_traceback(tr);
    }
    int n = rcgc__os_backtrace(tr->pcs, tr->npcs) - skip;
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

ttb *rcgc__tr_current_traceback(struct rcgc_tracer *tr, unsigned domain)
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
void rcgc__tr_calibrate(struct rcgc_tracer *tr)
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

/*
 * memdomain.c - the heap: CPython's three allocation domains (raw, mem,
 * obj), each an rcgc_allocator that can be read and replaced, behind front
 * ends with CPython's guards; the defaults (the C library for raw, libc.c;
 * the heap's pool allocator for mem and obj); debug hooks over all three.
 *
 * Invariants: every domain's hooks are complete; blocks[d] counts the blocks
 * the front end handed out for domain d and not yet freed; the pool
 * allocator's fallback and the debug layer's tables use raw_base, never a
 * domain's current hooks (so replacing or hooking a domain later never hands
 * them a block they did not allocate).  Design: docs/allocator.md.
 */
#include <string.h>

#include "mem/alloc_internal.h"

/* ---- configuration ---- */

/* After any change of dom[]: obj_pm says whether the object domain is the
 * heap's own pool allocator, untouched (alloc_internal.h). */
static void update_obj_pm(struct rcgc_heap *h)
{
    const rcgc_allocator *a = &h->dom[RCGC_DOMAIN_OBJ];
    h->obj_pm = h->pm != NULL && a->ctx == h->pm &&
                        a->calloc == rcgc__pm_hook_calloc &&
                        a->free == rcgc__pm_hook_free
                    ? h->pm
                    : NULL;
}

void rcgc_heap_config_init(rcgc_heap_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->raw = rcgc_libc_allocator();
    cfg->use_pymalloc = 1;
    rcgc_pymalloc_config_init(&cfg->pymalloc);
    rcgc_memdebug_config_init(&cfg->debug);
}

/* 0 if cfg and the configs it holds have their sizes and every allocator
 * of cfg is complete or absent. */
static int heap_check_config(const rcgc_heap_config *cfg)
{
    if (!RCGC__SIZE_OK(cfg) || !RCGC__SIZE_OK(&cfg->pymalloc) ||
        !RCGC__SIZE_OK(&cfg->debug))
        return RCGC_EINVAL;
    if (rcgc__allocator_complete(&cfg->raw) < 0 ||
        rcgc__allocator_complete(&cfg->mem) < 0 ||
        rcgc__allocator_complete(&cfg->obj) < 0)
        return RCGC_EINVAL;
    return 0;
}

int rcgc__heap_init(struct rcgc_heap *h, const rcgc_heap_config *cfg)
{
    rcgc_heap_config dflt;
    if (cfg == NULL) {
        rcgc_heap_config_init(&dflt);
        cfg = &dflt;
    }
    if (heap_check_config(cfg) != 0) return RCGC_EINVAL;
    memset(h, 0, sizeof *h);
    h->raw_base = cfg->raw.malloc != NULL ? cfg->raw : rcgc_libc_allocator();
    h->dcfg = cfg->debug;
    h->dcfg.meta = h->raw_base;
    rcgc_allocator dflt_mem = h->raw_base;
    if (cfg->use_pymalloc) {
        rcgc_pymalloc_config pc = cfg->pymalloc;
        pc.raw = h->raw_base;
        int e = rcgc_pymalloc_create(&pc, &h->pm);
        if (e != 0) return e; /* RCGC_EINVAL: a bad pymalloc config */
        dflt_mem = rcgc_pymalloc_allocator(h->pm);
    }
    h->dom[RCGC_DOMAIN_RAW] = h->raw_base;
    h->dom[RCGC_DOMAIN_MEM] = cfg->mem.malloc != NULL ? cfg->mem : dflt_mem;
    h->dom[RCGC_DOMAIN_OBJ] = cfg->obj.malloc != NULL ? cfg->obj : dflt_mem;
    update_obj_pm(h);
    if (cfg->debug_hooks && rcgc_heap_setup_debug_hooks(h) != 0) {
        (void)rcgc__heap_fini(h);
        return RCGC_ENOMEM;
    }
    return 0;
}

/* Live blocks of domain d: the front end's count, plus for the object
 * domain those its owner counts instead (obj_extra). */
static rcgc_ssize live_blocks(const struct rcgc_heap *h, int d)
{
    rcgc_ssize n = h->blocks[d];
    if (d == RCGC_DOMAIN_OBJ && h->obj_extra != NULL) n += *h->obj_extra;
    return n;
}

int rcgc__heap_fini(struct rcgc_heap *h)
{
    int live = 0;
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) live |= live_blocks(h, d) != 0;
    (void)rcgc_memdebug_destroy(h->md); /* flushes quarantine into pm */
    h->md = NULL;
    (void)rcgc_pymalloc_destroy(h->pm);
    h->pm = NULL;
    h->obj_pm = NULL;
    return live ? RCGC_ELIVE : 0;
}

int rcgc_heap_create(const rcgc_heap_config *cfg, rcgc_heap **out)
{
    if (out == NULL) return RCGC_EINVAL;
    *out = NULL;
    rcgc_allocator raw = rcgc_libc_allocator();
    if (cfg != NULL && heap_check_config(cfg) != 0) return RCGC_EINVAL;
    if (cfg != NULL && cfg->raw.malloc != NULL) raw = cfg->raw;
    rcgc_heap *h = raw.calloc(raw.ctx, 1, sizeof *h);
    if (h == NULL) return RCGC_ENOMEM;
    int e = rcgc__heap_init(h, cfg);
    if (e != 0) {
        raw.free(raw.ctx, h);
        return e;
    }
    h->allocated = 1;
    *out = h;
    return 0;
}

rcgc_heap *rcgc_heap_new(const rcgc_heap_config *cfg)
{
    rcgc_heap *h;
    return rcgc_heap_create(cfg, &h) == 0 ? h : NULL;
}

int rcgc_heap_destroy(rcgc_heap *h)
{
    if (h == NULL) return 0;
    if (!h->allocated) return RCGC_EBUSY; /* a runtime's: it releases it */
    rcgc_allocator raw = h->raw_base;
    int allocated = h->allocated;
    int r = rcgc__heap_fini(h);
    if (allocated) raw.free(raw.ctx, h);
    return r;
}

/* ---- the front ends ---- */

#define DOMAIN_OK(d) ((unsigned)(d) < RCGC_DOMAIN_COUNT)

void *rcgc_heap_malloc(rcgc_heap *h, rcgc_domain d, size_t size)
{
    if (!DOMAIN_OK(d) || size > (size_t)PTRDIFF_MAX) return NULL;
    const rcgc_allocator *a = &h->dom[d];
    void *p = a->malloc(a->ctx, size);
    if (p == NULL && size == 0) p = a->malloc(a->ctx, 1);
    if (p != NULL) h->blocks[d]++;
    return p;
}

void *rcgc_heap_calloc(rcgc_heap *h, rcgc_domain d, size_t nelem,
                       size_t elsize)
{
    if (!DOMAIN_OK(d)) return NULL;
    if (elsize != 0 && nelem > (size_t)PTRDIFF_MAX / elsize) return NULL;
    const rcgc_allocator *a = &h->dom[d];
    void *p = a->calloc(a->ctx, nelem, elsize);
    if (p == NULL && (nelem == 0 || elsize == 0)) p = a->calloc(a->ctx, 1, 1);
    if (p != NULL) h->blocks[d]++;
    return p;
}

void *rcgc_heap_realloc(rcgc_heap *h, rcgc_domain d, void *ptr,
                        size_t size)
{
    if (ptr == NULL) return rcgc_heap_malloc(h, d, size);
    if (!DOMAIN_OK(d) || size > (size_t)PTRDIFF_MAX) return NULL;
    const rcgc_allocator *a = &h->dom[d];
    return a->realloc(a->ctx, ptr, size);
}

void rcgc_heap_free(rcgc_heap *h, rcgc_domain d, void *ptr)
{
    if (ptr == NULL || !DOMAIN_OK(d)) return;
    h->blocks[d]--;
    h->dom[d].free(h->dom[d].ctx, ptr);
}

/* ---- get / set ---- */

int rcgc_heap_get_allocator(const rcgc_heap *h, rcgc_domain d,
                            rcgc_allocator *out)
{
    if (!DOMAIN_OK(d)) {
        memset(out, 0, sizeof *out);
        return RCGC_EINVAL;
    }
    *out = h->dom[d];
    return 0;
}

int rcgc_heap_set_allocator(rcgc_heap *h, rcgc_domain d,
                            const rcgc_allocator *a)
{
    if (!DOMAIN_OK(d) || a == NULL || rcgc__allocator_complete(a) != 1)
        return RCGC_EINVAL;
    h->dom[d] = *a;
    update_obj_pm(h);
    return 0;
}

int rcgc_heap_setup_debug_hooks(rcgc_heap *h)
{
    static const char ids[RCGC_DOMAIN_COUNT] = {'r', 'm', 'o'};
    if (h->md == NULL) {
        h->md = rcgc_memdebug_new(&h->dcfg);
        if (h->md == NULL) return RCGC_ENOMEM;
    }
    for (int d = 0; d < RCGC_DOMAIN_COUNT; d++) {
        if (rcgc__memdebug_owns_hooks(h->md, &h->dom[d])) continue;
        rcgc_allocator wrapped;
        int r = rcgc_memdebug_wrap(h->md, ids[d], &h->dom[d], &wrapped);
        if (r != 0) return r;
        h->dom[d] = wrapped;
        update_obj_pm(h);
    }
    return 0;
}

rcgc_ssize rcgc_heap_blocks(const rcgc_heap *h, rcgc_domain d)
{
    return DOMAIN_OK(d) ? live_blocks(h, (int)d) : RCGC_EINVAL;
}

rcgc_pymalloc *rcgc_heap_pymalloc(rcgc_heap *h)
{
    return h->pm;
}

rcgc_memdebug *rcgc_heap_memdebug(rcgc_heap *h)
{
    return h->md;
}

int rcgc_heap_check(rcgc_heap *h)
{
    int r = 0;
    if (h->md != NULL && rcgc_memdebug_check(h->md) != 0) r = RCGC_ECORRUPT;
    int e = h->pm != NULL ? rcgc_pymalloc_check(h->pm, h->dcfg.stream) : 0;
    if (e == RCGC_ECORRUPT || (e != 0 && r == 0)) r = e;
    return r;
}

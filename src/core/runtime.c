/*
 * runtime.c - the runtime handle: configuration, creation, the memory
 * hooks every block goes through, and failure reporting.  Teardown is in
 * teardown.c.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* ---- memory through the heap ---- */

/* Objects: when the object domain is the runtime's pool allocator itself
 * (no tracer, debug or user hooks installed over it), call it directly,
 * skipping the heap front end and the hook; the heap's block count is kept
 * as rcgc_heap_calloc / rcgc_heap_free would. */
void *rcgc__obj_calloc(rcgc_runtime *rt, size_t size)
{
    rcgc_heap *h = &rt->heap;
    const rcgc_allocator *a = &h->dom[RCGC_DOMAIN_OBJ];
    void *p;
    if (RCGC_LIKELY(a->calloc == rcgc__pm_hook_calloc)) {
        p = rcgc_pymalloc_calloc(a->ctx, 1, size);
        if (p != NULL) h->blocks[RCGC_DOMAIN_OBJ]++;
    } else {
        p = rcgc_heap_calloc(h, RCGC_DOMAIN_OBJ, 1, size);
    }
    if (p == NULL) {
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    rt->blocks++;
    return p;
}

void rcgc__obj_free(rcgc_runtime *rt, void *ptr)
{
    rcgc_heap *h = &rt->heap;
    const rcgc_allocator *a = &h->dom[RCGC_DOMAIN_OBJ];
    rt->blocks--;
    if (RCGC_LIKELY(a->free == rcgc__pm_hook_free)) {
        h->blocks[RCGC_DOMAIN_OBJ]--;
        rcgc_pymalloc_free(a->ctx, ptr);
    } else {
        rcgc_heap_free(h, RCGC_DOMAIN_OBJ, ptr);
    }
}

void *rcgc__malloc(rcgc_runtime *rt, size_t size)
{
    void *p = rcgc_heap_malloc(&rt->heap, RCGC_DOMAIN_MEM, size);
    if (p == NULL) {
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    rt->blocks++;
    return p;
}

void *rcgc__calloc(rcgc_runtime *rt, size_t nelem, size_t elsize)
{
    void *p = rcgc_heap_calloc(&rt->heap, RCGC_DOMAIN_MEM, nelem, elsize);
    if (p == NULL) {
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    rt->blocks++;
    return p;
}

void *rcgc__realloc(rcgc_runtime *rt, void *ptr, size_t size)
{
    if (ptr == NULL) return rcgc__malloc(rt, size);
    void *p = rcgc_heap_realloc(&rt->heap, RCGC_DOMAIN_MEM, ptr, size);
    if (p == NULL) rt->last_error = RCGC_ENOMEM;
    return p;
}

void rcgc__free(rcgc_runtime *rt, void *ptr)
{
    if (ptr == NULL) return;
    rt->blocks--;
    rcgc_heap_free(&rt->heap, RCGC_DOMAIN_MEM, ptr);
}

int rcgc__grow(rcgc_runtime *rt, void **arr, rcgc_ssize *cap, rcgc_ssize need,
               size_t elsize)
{
    if (need <= *cap) return 0;
    rcgc_ssize ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > PTRDIFF_MAX / 2 / (rcgc_ssize)elsize) return RCGC_ENOMEM;
        ncap *= 2;
    }
    void *p = rcgc__realloc(rt, *arr, (size_t)ncap * elsize);
    if (p == NULL) return RCGC_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

RCGC__EXPORT void *rcgc_mem_malloc(rcgc_runtime *rt, size_t size)
{
    return rcgc__malloc(rt, size);
}

RCGC__EXPORT void *rcgc_mem_calloc(rcgc_runtime *rt, size_t nelem,
                                   size_t elsize)
{
    return rcgc__calloc(rt, nelem, elsize);
}

RCGC__EXPORT void *rcgc_mem_realloc(rcgc_runtime *rt, void *ptr, size_t size)
{
    return rcgc__realloc(rt, ptr, size);
}

RCGC__EXPORT void rcgc_mem_free(rcgc_runtime *rt, void *ptr)
{
    rcgc__free(rt, ptr);
}

/* ---- failures nobody can be told about ---- */

static const char *unraisable_where(rcgc_unraisable_kind kind)
{
    switch (kind) {
    case RCGC_IN_FINALIZER:
        return "finalizer";
    case RCGC_IN_LEGACY_FINALIZER:
        return "legacy finalizer";
    case RCGC_IN_GC_CALLBACK:
        return "gc callback";
    case RCGC_IN_WEAKREF_CALLBACK:
        return "weakref callback";
    case RCGC_IN_FINALIZE_CALLBACK:
        return "finalize callback";
    }
    return "callback";
}

void rcgc__unraisable(rcgc_runtime *rt, rcgc_unraisable_kind kind,
                      rcgc_object *obj, int err)
{
    if (rt->unraisable != NULL) {
        rt->unraisable(rt, kind, obj, err, rt->unraisable_ctx);
        return;
    }
    if (obj != NULL)
        fprintf(rt->debug_stream, "rcgc: error ignored in %s of <%s %p>: %s (%d)\n",
                unraisable_where(kind), obj->type->name, (void *)obj,
                rcgc_strerror(err), err);
    else
        fprintf(rt->debug_stream, "rcgc: error ignored in %s: %s (%d)\n",
                unraisable_where(kind), rcgc_strerror(err), err);
}

/* ---- creation ---- */

RCGC__EXPORT void rcgc_config_init(rcgc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    rcgc_heap_config_init(&cfg->heap);
    cfg->threshold[0] = 700;
    cfg->threshold[1] = 10;
    cfg->threshold[2] = 10;
    cfg->gc_enabled = 1;
    cfg->gc_mode = RCGC_GC_SYNC;
}

static int config_is_valid(const rcgc_config *cfg)
{
    const rcgc_allocator *a = &cfg->allocator;
    int hooks = (a->malloc != NULL) + (a->calloc != NULL) +
                (a->realloc != NULL) + (a->free != NULL);
    if (hooks != 0 && hooks != 4) return 0;
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++)
        if (cfg->threshold[i] < 0) return 0;
    return cfg->gc_mode == RCGC_GC_SYNC || cfg->gc_mode == RCGC_GC_DEFERRED;
}

RCGC__EXPORT rcgc_runtime *rcgc_runtime_new(const rcgc_config *cfg)
{
    rcgc_config defaults;
    if (cfg == NULL) {
        rcgc_config_init(&defaults);
        cfg = &defaults;
    }
    if (!config_is_valid(cfg)) return NULL;
    rcgc_heap_config hcfg = cfg->heap;
    if (cfg->allocator.malloc != NULL) { /* every block through the hooks */
        hcfg.raw = hcfg.mem = hcfg.obj = cfg->allocator;
        hcfg.use_pymalloc = 0;
    }
    rcgc_allocator raw = hcfg.raw.malloc != NULL ? hcfg.raw : rcgc_libc_allocator();
    rcgc_runtime *rt = raw.calloc(raw.ctx, 1, sizeof *rt);
    if (rt == NULL) return NULL;
    if (rcgc__heap_init(&rt->heap, &hcfg) != 0) {
        raw.free(raw.ctx, rt);
        return NULL;
    }
    rt->raw = raw;
    rt->debug_stream = cfg->debug_stream != NULL ? cfg->debug_stream : stderr;
    rt->unraisable = cfg->unraisable;
    rt->unraisable_ctx = cfg->unraisable_ctx;
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
        gc_list_init(&rt->gen[i].head);
        rt->gen[i].threshold = cfg->threshold[i];
    }
    gc_list_init(&rt->permanent);
    rt->enabled = cfg->gc_enabled != 0;
    rt->mode = cfg->gc_mode;
    rt->debug = cfg->debug;
    rt->all.prev = rt->all.next = &rt->all;
    if (RCGC_DEBUG >= 2) {
        rt->quarantine = raw.calloc(raw.ctx, RCGC__QUARANTINE_SLOTS, sizeof(void *));
        if (rt->quarantine == NULL) {
            (void)rcgc__heap_fini(&rt->heap);
            raw.free(raw.ctx, rt);
            return NULL;
        }
    }
    return rt;
}

RCGC__EXPORT rcgc_heap *rcgc_runtime_heap(rcgc_runtime *rt)
{
    return &rt->heap;
}

RCGC__EXPORT FILE *rcgc_runtime_debug_stream(rcgc_runtime *rt)
{
    return rt->debug_stream;
}

RCGC__EXPORT int rcgc_runtime_last_error(rcgc_runtime *rt)
{
    return rt->last_error;
}

RCGC__EXPORT void rcgc_runtime_get_stats(rcgc_runtime *rt,
                                         rcgc_runtime_stats *out)
{
    out->objects = rt->objects;
    out->objects_peak = rt->objects_peak;
    out->tracked = rt->tracked;
    out->allocations = rt->allocations;
    out->blocks = rt->blocks;
}

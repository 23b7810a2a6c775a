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

void *rcgc_mem_malloc(rcgc_runtime *rt, size_t size)
{
    return rcgc__malloc(rt, size);
}

void *rcgc_mem_calloc(rcgc_runtime *rt, size_t nelem,
                      size_t elsize)
{
    return rcgc__calloc(rt, nelem, elsize);
}

void *rcgc_mem_realloc(rcgc_runtime *rt, void *ptr, size_t size)
{
    return rcgc__realloc(rt, ptr, size);
}

void rcgc_mem_free(rcgc_runtime *rt, void *ptr)
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

int rcgc_version(void)
{
    return RCGC_VERSION_NUM;
}

/* The library's own: what it was built from. */
#define LIBRARY_ABI RCGC_ABI

static void abi_message(char *msg, size_t msglen, const char *what,
                        uint64_t prog, uint64_t lib, const char *unit)
{
    if (msg == NULL || msglen == 0) return;
    snprintf(msg, msglen,
             "rcgc: the program was compiled with %s%s%llu, the library with "
             "%s%s%llu: rebuild the program against the library's headers",
             what, unit, (unsigned long long)prog, what, unit,
             (unsigned long long)lib);
}

int rcgc_abi_check(uint64_t abi, char *msg, size_t msglen)
{
    uint64_t lib = LIBRARY_ABI;
    if (msg != NULL && msglen > 0) msg[0] = 0;
    if (abi == lib) return 0;
    if ((abi >> 48) != (lib >> 48))
        abi_message(msg, msglen, "ABI version", abi >> 48, lib >> 48, " ");
    else if (((abi >> 40) & 0xFF) != ((lib >> 40) & 0xFF))
        abi_message(msg, msglen, "RCGC_DEBUG", (abi >> 40) & 0xFF,
                    (lib >> 40) & 0xFF, "=");
    else if ((abi & 0xFFFFFF) != (lib & 0xFFFFFF))
        abi_message(msg, msglen, "sizeof(rcgc_config)", abi & 0xFFFFFF,
                    lib & 0xFFFFFF, " ");
    else
        abi_message(msg, msglen, "ABI value", abi, lib, " ");
    return RCGC_EABI;
}

void rcgc_config_init(rcgc_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    rcgc_heap_config_init(&cfg->heap);
    cfg->threshold[0] = 700;
    cfg->threshold[1] = 10;
    cfg->threshold[2] = 10;
    cfg->gc_enabled = 1;
    cfg->gc_mode = RCGC_GC_SYNC;
    cfg->gc_policy = RCGC_POLICY_DEFAULT;
    cfg->gc_young_bytes = (size_t)4 << 20;
}

static int config_is_valid(const rcgc_config *cfg)
{
    if (!RCGC__SIZE_OK(cfg) || !RCGC__SIZE_OK(&cfg->heap) ||
        !RCGC__SIZE_OK(&cfg->heap.pymalloc) || !RCGC__SIZE_OK(&cfg->heap.debug))
        return 0;
    const rcgc_allocator *a = &cfg->allocator;
    int hooks = (a->malloc != NULL) + (a->calloc != NULL) +
                (a->realloc != NULL) + (a->free != NULL);
    if (hooks != 0 && hooks != 4) return 0;
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++)
        if (cfg->threshold[i] < 0) return 0;
    if (cfg->gc_policy != RCGC_POLICY_CPYTHON311 &&
        cfg->gc_policy != RCGC_POLICY_ADAPTIVE)
        return 0;
    return cfg->gc_mode == RCGC_GC_SYNC || cfg->gc_mode == RCGC_GC_DEFERRED;
}

static rcgc_runtime *runtime_new(const rcgc_config *cfg, int *err);

int rcgc_runtime_create_abi(const rcgc_config *cfg, uint64_t abi,
                            rcgc_runtime **out)
{
    if (out == NULL) return RCGC_EINVAL;
    *out = NULL;
    char msg[256];
    if (rcgc_abi_check(abi, msg, sizeof msg) != 0) {
        fprintf(stderr, "%s\n", msg);
        return RCGC_EABI;
    }
    rcgc_config defaults;
    if (cfg == NULL) {
        rcgc_config_init(&defaults);
        cfg = &defaults;
    }
    if (!config_is_valid(cfg)) return RCGC_EINVAL;
    int err = RCGC_ENOMEM;
    *out = runtime_new(cfg, &err);
    return *out != NULL ? 0 : err;
}

/* A runtime for a valid cfg, or NULL with the code in *err (left as
 * RCGC_ENOMEM, or the heap's code). */
static rcgc_runtime *runtime_new(const rcgc_config *cfg, int *err)
{
    rcgc_heap_config hcfg = cfg->heap;
    if (cfg->allocator.malloc != NULL) { /* every block through the hooks */
        hcfg.raw = hcfg.mem = hcfg.obj = cfg->allocator;
        hcfg.use_pymalloc = 0;
    }
    rcgc_allocator raw = hcfg.raw.malloc != NULL ? hcfg.raw : rcgc_libc_allocator();
    rcgc_runtime *rt = raw.calloc(raw.ctx, 1, sizeof *rt);
    if (rt == NULL) return NULL;
    *err = rcgc__heap_init(&rt->heap, &hcfg);
    if (*err != 0) {
        raw.free(raw.ctx, rt);
        return NULL;
    }
    *err = RCGC_ENOMEM;
    rt->raw = raw;
    rt->heap.obj_extra = &rt->objects; /* object.c: an object is one block */
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
    rcgc__policy_init(rt, cfg);
    rcgc__tcache_init(rt);
    rcgc_allocator meta = rcgc__heap_raw_base(&rt->heap);
    rcgc__ptrmap_init(&rt->sized, &meta);
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

void rcgc__runtime_attach(rcgc_runtime *rt)
{
    rt->attached++;
}

void rcgc__runtime_detach(rcgc_runtime *rt)
{
    rt->attached--;
}

rcgc_heap *rcgc_runtime_heap(rcgc_runtime *rt)
{
    return &rt->heap;
}

FILE *rcgc_runtime_debug_stream(rcgc_runtime *rt)
{
    return rt->debug_stream;
}

int rcgc_runtime_last_error(rcgc_runtime *rt)
{
    return rt->last_error;
}

void rcgc_runtime_get_stats(rcgc_runtime *rt,
                            rcgc_runtime_stats *out)
{
    out->objects = rt->objects;
    out->objects_peak = rt->objects_peak;
    out->tracked = rt->tracked;
    out->allocations = rt->allocations;
    out->blocks = rt->blocks + rt->objects; /* object.c counts the objects'
                                               blocks as objects */
}

/*
 * runtime.c - the runtime handle: configuration, the memory hooks every
 * block goes through, failure reporting, and teardown.
 *
 * Teardown (rcgc_runtime_free) follows CPython's finalization: collect until
 * nothing more is found, report what could not be freed, then, unlike
 * CPython, free every object it can find so the host gets its memory back.
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
    out->blocks = rt->blocks;
}

/* ---- teardown ---- */

/* Collect (without callbacks, as CPython's shutdown collection) until a
 * round finds nothing; returns the objects collected. */
static rcgc_ssize teardown_collect(rcgc_runtime *rt)
{
    rcgc_ssize total = 0;
    for (int round = 0; round < 100; round++) {
        rcgc_ssize collected = 0, uncollectable = 0;
        rt->collecting = 1;
        rcgc__collect_main(rt, RCGC_NUM_GENERATIONS - 1, &collected,
                           &uncollectable);
        rt->collecting = 0;
        total += collected;
        if (collected == 0) break;
    }
    return total;
}

static void report_garbage(rcgc_runtime *rt)
{
    if (rt->ngarbage == 0 || (rt->debug & RCGC_DEBUG_SAVEALL)) return;
    FILE *f = rt->debug_stream;
    if (!(rt->debug & RCGC_DEBUG_UNCOLLECTABLE)) {
        fprintf(f, "gc: %td uncollectable objects at teardown; use "
                   "RCGC_DEBUG_UNCOLLECTABLE to list them\n",
                rt->ngarbage);
        return;
    }
    fprintf(f, "gc: %td uncollectable objects at teardown\n      [", rt->ngarbage);
    for (rcgc_ssize i = 0; i < rt->ngarbage; i++)
        fprintf(f, "%s<%s %p>", i ? ", " : "", rt->garbage[i]->type->name,
                (void *)rt->garbage[i]);
    fputs("]\n", f);
}

static void report_alive(rcgc_runtime *rt, rcgc_ssize alive)
{
    FILE *f = rt->debug_stream;
    fprintf(f, "rcgc: %td objects still alive at teardown", alive);
    int shown = 0;
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
        gc_head *list = &rt->gen[i].head;
        for (gc_head *g = gc_next(list); g != list && shown < 10;
             g = gc_next(g), shown++) {
            rcgc_object *o = gc_object_of(g);
            fprintf(f, "%s<%s %p refcount=%ld>", shown ? ", " : ": ",
                    o->type->name, (void *)o, (long)o->refcnt);
        }
    }
    fputs(shown < alive ? (shown ? ", ...\n" : "\n") : "\n", f);
}

/* Drop the references of o, holding it meanwhile; it may die now (a normal
 * death: finalizers run). */
static void clear_object(rcgc_runtime *rt, rcgc_object *o)
{
    if (o->type->clear == NULL || o->refcnt <= 0) return;
    rcgc_incref(o);
    o->type->clear(rt, o);
    rcgc_decref(rt, o);
}

/* Free an object nothing can reach any more but that is still referenced
 * (by the program, or by an object teardown could not find): its references
 * were dropped already, only its own memory and resources remain. */
static void free_survivor(rcgc_runtime *rt, rcgc_object *o)
{
    if (gc_is_gc(o)) rcgc__untrack(rt, o);
    if (o->type->release != NULL) o->type->release(rt, o);
    rcgc__object_free_memory(rt, o);
}

#if RCGC_DEBUG >= 1
/* Debug builds know every object (the debug header's list): first every
 * mortal object drops its references, and only then are the survivors freed,
 * so no clear ever touches freed memory.  Each object is moved to done before
 * its clear runs: objects freed meanwhile unlink themselves from either list,
 * and objects created meanwhile are appended to the list being drained. */
static void force_free(rcgc_runtime *rt)
{
    debug_head done = {0, 0, NULL, 0, 0, &done, &done};
    while (rt->all.next != &rt->all) {
        debug_head *d = rt->all.next;
        d->prev->next = d->next;
        d->next->prev = d->prev;
        d->prev = done.prev;
        d->next = &done;
        done.prev->next = d;
        done.prev = d;
        rcgc_object *o = debug_object_of(d);
        if (!rcgc_object_is_immortal(o)) clear_object(rt, o);
    }
    for (debug_head *d = done.next, *next; d != &done; d = next) {
        next = d->next;
        rcgc_object *o = debug_object_of(d);
        if (!rcgc_object_is_immortal(o)) free_survivor(rt, o);
    }
    if (done.next != &done) { /* immortal objects go back to the list */
        done.next->prev = &rt->all;
        done.prev->next = &rt->all;
        rt->all.next = done.next;
        rt->all.prev = done.prev;
    }
}
#else
/* Release builds know the tracked objects only: the same two passes over
 * the generation lists.  Untracked objects still referenced are leaked (and
 * counted); they cannot reference tracked ones, which were all cleared. */
static void force_free(rcgc_runtime *rt)
{
    gc_head done;
    gc_list_init(&done);
    /* Rounds: finalizers may track new objects into a drained generation. */
    for (int round = 0; round < 8; round++) {
        int found = 0;
        for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
            gc_head *list = &rt->gen[i].head;
            while (!gc_list_is_empty(list)) {
                gc_head *g = gc_next(list);
                gc_list_move(g, &done);
                clear_object(rt, gc_object_of(g));
                found = 1;
            }
        }
        if (!found) break;
    }
    while (!gc_list_is_empty(&done)) free_survivor(rt, gc_object_of(gc_next(&done)));
}
#endif

/* Immortal objects are roots, like a module's globals: they drop their
 * references before teardown decides what is alive, and are freed last. */
static void clear_immortals(rcgc_runtime *rt)
{
    for (rcgc_ssize i = 0; i < rt->nimmortal; i++) {
        rcgc_object *o = rt->immortal[i];
        if (o->type->clear != NULL) o->type->clear(rt, o);
    }
}

static void free_immortals(rcgc_runtime *rt)
{
    for (rcgc_ssize i = 0; i < rt->nimmortal; i++) {
        rcgc_object *o = rt->immortal[i];
        if (o->type->release != NULL) o->type->release(rt, o);
        rcgc__object_free_memory(rt, o);
    }
    rcgc__free(rt, rt->immortal);
    rt->immortal = NULL;
    rt->nimmortal = rt->immortal_cap = 0;
}

int rcgc_runtime_free(rcgc_runtime *rt,
                      rcgc_teardown_report *report)
{
    rcgc_teardown_report r = {0, 0, 0, 0, 0};
    if (rt == NULL) return RCGC_EINVAL;
    if (rt->collecting || rt->tearing_down) {
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, NULL, "rcgc_runtime_free called during a "
                                  "collection or teardown of this runtime");
        return RCGC_EBUSY;
    }
    if (rt->trash_depth > 0) { /* a finalizer or callback of a decref */
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, NULL, "rcgc_runtime_free called during a "
                                  "deallocation of this runtime (a finalizer, "
                                  "release or weak reference callback)");
        return RCGC_EBUSY;
    }
    if (rt->attached > 0) return RCGC_EBUSY; /* a server: stop it first */
    rt->tearing_down = 1;
    rt->enabled = 0;
    rcgc__trace_fini(rt); /* what follows frees, it allocates nothing new */
    rcgc__finalize_atexit(rt); /* as CPython's atexit hook, before the GC */
    rcgc_gc_unfreeze(rt);
    r.collected = teardown_collect(rt);
    if (rt->nimmortal > 0) {
        clear_immortals(rt);
        r.collected += teardown_collect(rt);
    }

    /* What uncollectable garbage keeps alive is reported as such (CPython's
     * message), not as objects still alive. */
    r.uncollectable = rt->ngarbage;
    report_garbage(rt);
    gc_head held;
    gc_list_init(&held);
    r.alive = rt->objects - rt->nimmortal -
              rcgc__move_reachable(rt, rt->garbage, rt->ngarbage, &held);
    if (r.alive > 0) report_alive(rt, r.alive);
    gc_list_merge(&held, &rt->gen[RCGC_NUM_GENERATIONS - 1].head);

    rcgc_gc_garbage_clear(rt);
    rcgc_ssize before = rt->objects;
    force_free(rt);
    r.freed = before - rt->objects;
    r.leaked = rt->objects - rt->nimmortal;
    free_immortals(rt);

    rcgc__free(rt, rt->garbage);
    rcgc__free(rt, rt->callbacks);
    rcgc_allocator raw = rt->raw;
    if (rt->quarantine != NULL) {
        for (int i = 0; i < RCGC__QUARANTINE_SLOTS; i++)
            if (rt->quarantine[i] != NULL) rcgc__obj_free(rt, rt->quarantine[i]);
        raw.free(raw.ctx, rt->quarantine);
    }
    /* What leaked objects still hold goes back too (the pool allocator
     * releases its arenas whatever is left in them). */
    (void)rcgc__heap_fini(&rt->heap);
    if (report != NULL) *report = r;
    raw.free(raw.ctx, rt);
    return (r.alive > 0 || r.uncollectable > 0) ? RCGC_ELIVE : 0;
}

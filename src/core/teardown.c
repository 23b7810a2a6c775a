/*
 * teardown.c - rcgc_runtime_free.  It follows CPython's finalization: the
 * at-exit stage, then collect until nothing more is found, report what could
 * not be freed, then, unlike CPython, free every object it can find so the
 * host gets its memory back.  The layers above the core (the tracer, finalize
 * objects) take part through the calls they installed in rt->up; the core
 * never calls up into them.  docs/collector.md, "Teardown".
 */
#include "core/internal.h"

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
    rcgc__vec_link_all(rt);
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
        rcgc__vec_link_all(rt); /* what finalizers tracked since */
        for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
            gc_head *list = &rt->gen[i].head;
            while (!gc_list_is_empty(list)) {
                gc_head *g = gc_next(list);
                gc_list_move(g, &done);
                clear_object(rt, gc_object_of(g));
                /* what clear tracked joins generation 0's list, drained in
                 * this round when it is the one being drained (found by
                 * the review of layout-16 step 3a) */
                rcgc__vec_link_all(rt);
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
    /* The layers above the core, through what they installed (rt->up). */
    if (rt->up.trace_fini != NULL)
        rt->up.trace_fini(rt); /* what follows frees, it allocates nothing new */
    if (rt->up.finalize_atexit != NULL)
        rt->up.finalize_atexit(rt); /* as CPython's atexit hook, before the GC */
    rt->fin_shutdown = 1; /* also when no finalize object existed yet */
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
    rcgc__side_set_gen_list(rt, &held, RCGC_NUM_GENERATIONS - 1);
    gc_list_merge(&held, &rt->gen[RCGC_NUM_GENERATIONS - 1].head);

    rcgc_gc_garbage_clear(rt);
    rcgc_ssize before = rt->objects;
    force_free(rt);
    r.freed = before - rt->objects;
    r.leaked = rt->objects - rt->nimmortal;
    free_immortals(rt);
    rcgc__vec_fini(rt); /* after every object: their pools unpinned */
    rcgc__heaptypes_fini(rt); /* after every object (docs/types.md) */

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
    rcgc__ptrmap_fini(&rt->sized); /* the sizes of leaked objects */
    if (report != NULL) *report = r;
    raw.free(raw.ctx, rt);
    return (r.alive > 0 || r.uncollectable > 0) ? RCGC_ELIVE : 0;
}

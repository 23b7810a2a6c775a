/*
 * gcmodule.c - the collector's control and introspection API, as CPython's
 * gc module: thresholds, counts, enable/disable, debug flags, statistics,
 * callbacks, the garbage list, freeze, get_objects, get_referrers and
 * get_referents.  The collection itself is in collect.c.
 */
#include <string.h>

#include "core/gcwalk.h"
#include "core/internal.h"

static const char *const phase_names[RCGC_PHASE_COUNT] = {
#define RCGC_PHASE_NAME_(name, text) text,
    RCGC_PHASE_LIST(RCGC_PHASE_NAME_)
#undef RCGC_PHASE_NAME_
};

const char *rcgc_gc_phase_name(int phase)
{
    return phase >= 0 && phase < RCGC_PHASE_COUNT ? phase_names[phase] : NULL;
}

/* ---- switches and counters ---- */

int rcgc_gc_enable(rcgc_runtime *rt)
{
    int was = rt->enabled;
    rt->enabled = 1;
    rcgc__policy_update(rt);
    return was;
}

int rcgc_gc_disable(rcgc_runtime *rt)
{
    int was = rt->enabled;
    rt->enabled = 0;
    rcgc__policy_update(rt);
    return was;
}

int rcgc_gc_isenabled(rcgc_runtime *rt)
{
    return rt->enabled;
}

void rcgc_gc_get_threshold(rcgc_runtime *rt, int out[3])
{
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) out[i] = rt->gen[i].threshold;
}

int rcgc_gc_set_threshold(rcgc_runtime *rt, int t0, int t1,
                          int t2)
{
    if (t0 < 0 || t1 < 0 || t2 < 0) return RCGC_EINVAL;
    rt->gen[0].threshold = t0;
    rt->gen[1].threshold = t1;
    rt->gen[2].threshold = t2;
    rt->young_threshold = t0; /* the adaptive one starts again from it */
    rcgc__policy_update(rt);
    return 0;
}

void rcgc_gc_get_count(rcgc_runtime *rt, int out[3])
{
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) out[i] = rt->gen[i].count;
}

unsigned rcgc_gc_get_debug(rcgc_runtime *rt)
{
    return rt->debug;
}

void rcgc_gc_set_debug(rcgc_runtime *rt, unsigned flags)
{
    rt->debug = flags;
}

void rcgc_gc_get_stats(rcgc_runtime *rt, rcgc_gc_stats out[3])
{
    memcpy(out, rt->stats, sizeof rt->stats);
}

void rcgc_gc_get_cpu_ns(rcgc_runtime *rt, uint64_t out[3])
{
    memcpy(out, rt->gc_cpu_ns, sizeof rt->gc_cpu_ns);
}

/* ---- callbacks ---- */

int rcgc_gc_callback_add(rcgc_runtime *rt, rcgc_gc_callback_fn fn,
                         void *ctx)
{
    if (fn == NULL) return RCGC_EINVAL;
    if (rcgc__grow(rt, (void **)&rt->callbacks, &rt->callbacks_cap,
                   rt->ncallbacks + 1, sizeof *rt->callbacks) != 0)
        return RCGC_ENOMEM;
    rt->callbacks[rt->ncallbacks].fn = fn;
    rt->callbacks[rt->ncallbacks].ctx = ctx;
    rt->ncallbacks++;
    return 0;
}

int rcgc_gc_callback_remove(rcgc_runtime *rt,
                            rcgc_gc_callback_fn fn, void *ctx)
{
    for (rcgc_ssize i = 0; i < rt->ncallbacks; i++) {
        if (rt->callbacks[i].fn == fn && rt->callbacks[i].ctx == ctx) {
            memmove(&rt->callbacks[i], &rt->callbacks[i + 1],
                    (size_t)(rt->ncallbacks - i - 1) * sizeof *rt->callbacks);
            rt->ncallbacks--;
            return 0;
        }
    }
    return RCGC_ENOTFOUND;
}

/* ---- result arrays ---- */

struct objvec {
    rcgc_runtime *rt;
    rcgc_object **items; /* new references */
    rcgc_ssize n, cap;
    int failed;          /* out of memory while filling */
};

static int objvec_push(struct objvec *v, rcgc_object *o)
{
    if (rcgc__grow(v->rt, (void **)&v->items, &v->cap, v->n + 1,
                   sizeof(rcgc_object *)) != 0) {
        v->failed = 1;
        return RCGC_ENOMEM;
    }
    rcgc_incref(o);
    v->items[v->n++] = o;
    return 0;
}

/* Hand the vector to the caller, or undo it on failure. */
static rcgc_ssize objvec_finish(struct objvec *v, rcgc_object ***out)
{
    if (v->failed) {
        rcgc_objects_free(v->rt, v->items, v->n);
        *out = NULL;
        return RCGC_ENOMEM;
    }
    if (v->items == NULL) { /* an empty result is still an array */
        v->items = rcgc__malloc(v->rt, sizeof(rcgc_object *));
        if (v->items == NULL) {
            *out = NULL;
            return RCGC_ENOMEM;
        }
    }
    *out = v->items;
    return v->n;
}

void rcgc_objects_free(rcgc_runtime *rt, rcgc_object **objs,
                       rcgc_ssize n)
{
    if (objs == NULL) return;
    for (rcgc_ssize i = 0; i < n; i++) rcgc_decref(rt, objs[i]);
    rcgc__free(rt, objs);
}

/* ---- the garbage list ---- */

rcgc_ssize rcgc_gc_garbage_size(rcgc_runtime *rt)
{
    return rt->ngarbage;
}

rcgc_ssize rcgc_gc_get_garbage(rcgc_runtime *rt,
                               rcgc_object ***out)
{
    struct objvec v = {rt, NULL, 0, 0, 0};
    for (rcgc_ssize i = 0; i < rt->ngarbage && !v.failed; i++)
        objvec_push(&v, rt->garbage[i]);
    return objvec_finish(&v, out);
}

int rcgc_gc_garbage_remove(rcgc_runtime *rt, rcgc_object *o)
{
    for (rcgc_ssize i = 0; i < rt->ngarbage; i++) {
        if (rt->garbage[i] == o) {
            memmove(&rt->garbage[i], &rt->garbage[i + 1],
                    (size_t)(rt->ngarbage - i - 1) * sizeof(rcgc_object *));
            rt->ngarbage--;
            rcgc_decref(rt, o);
            return 0;
        }
    }
    return RCGC_ENOTFOUND;
}

void rcgc_gc_garbage_clear(rcgc_runtime *rt)
{
    /* Detach first: the decrefs may run code that appends again. */
    rcgc_object **items = rt->garbage;
    rcgc_ssize n = rt->ngarbage;
    rt->garbage = NULL;
    rt->ngarbage = rt->garbage_cap = 0;
    rcgc_objects_free(rt, items, n);
}

/* ---- freeze ---- */

/* Freeze and unfreeze rewrite the pool objects' side bytes in address
 * order, every arena's array at once (registry objects have none; a walk
 * of the lists in their order took 200 ns per object once the objects were
 * shuffled), and merge the lists in O(1).  Objects in a collection's
 * private lists (a finalizer froze) get their generation again when their
 * list joins one.  The adaptive policy's growth gate counts the objects
 * outside the permanent generation (rt->frozen, full_base_objects:
 * policy.c). */
void rcgc_gc_freeze(rcgc_runtime *rt)
{
    rcgc__vec_link_all(rt); /* the young pool objects onto the lists */
    if (rt->heap.pm != NULL) rcgc__pm_side_arrays(rt->heap.pm, gc_side_freeze_run);
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
        gc_list_merge(&rt->gen[i].head, &rt->permanent);
        rt->gen[i].count = 0;
    }
    rt->frozen = rt->tracked; /* every tracked object is there now */
    rt->full_base_objects = 0;
    rt->full_seen = rt->stats[RCGC_NUM_GENERATIONS - 1].collections;
}

void rcgc_gc_unfreeze(rcgc_runtime *rt)
{
    /* nothing frozen since the last unfreeze (rt->frozen counts what the
     * last freeze froze): no byte says frozen, none to rewrite (teardown
     * unfreezes every runtime) */
    if (rt->heap.pm != NULL && rt->frozen > 0)
        rcgc__pm_side_arrays(rt->heap.pm, gc_side_unfreeze_run);
    gc_list_merge(&rt->permanent, &rt->gen[RCGC_NUM_GENERATIONS - 1].head);
    rt->full_base_objects += rt->frozen;
    rt->full_seen = rt->stats[RCGC_NUM_GENERATIONS - 1].collections;
    rt->frozen = 0;
}

rcgc_ssize rcgc_gc_get_freeze_count(rcgc_runtime *rt)
{
    return gc_list_size(&rt->permanent);
}

/* ---- introspection ---- */

rcgc_ssize rcgc_gc_get_objects(rcgc_runtime *rt, int generation,
                               rcgc_object ***out)
{
    if (generation < -1 || generation >= RCGC_NUM_GENERATIONS) {
        *out = NULL;
        return RCGC_ERANGE;
    }
    struct objvec v = {rt, NULL, 0, 0, 0};
    int lo = generation < 0 ? 0 : generation;
    int hi = generation < 0 ? RCGC_NUM_GENERATIONS - 1 : generation;
    for (int i = lo; i <= hi && !v.failed; i++) {
        rcgc__gcwalk w; /* the list, then the young vector (gcwalk.h) */
        rcgc__gcwalk_init(&w, rt, i);
        for (rcgc_object *o; !v.failed && (o = rcgc__gcwalk_next(&w)) != NULL;)
            objvec_push(&v, o);
    }
    return objvec_finish(&v, out);
}

struct referrers_ctx {
    rcgc_object *const *objs;
    rcgc_ssize nobjs;
};

static int gc_visit_referrer(rcgc_object *child, void *arg)
{
    const struct referrers_ctx *c = arg;
    for (rcgc_ssize i = 0; i < c->nobjs; i++)
        if (c->objs[i] == child) return 1;
    return 0;
}

/* Ephemeron tables refer to their values too (conditionally, for the
 * collector; plainly, for introspection). */
static int visit_pair_referrer(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return gc_visit_referrer(value, arg);
}

static int refers_to(rcgc_object *o, struct referrers_ctx *c)
{
    const rcgc_type *t = o->type;
    return t->traverse(o, gc_visit_referrer, c) != 0 ||
           (t->ephemerons != NULL && t->ephemerons(o, visit_pair_referrer, c) != 0);
}

rcgc_ssize rcgc_gc_get_referrers(rcgc_runtime *rt,
                                 rcgc_object *const *objs,
                                 rcgc_ssize nobjs,
                                 rcgc_object ***out)
{
    struct objvec v = {rt, NULL, 0, 0, 0};
    struct referrers_ctx c = {objs, nobjs};
    if (nobjs < 0 || (nobjs > 0 && objs == NULL)) {
        *out = NULL;
        return RCGC_EINVAL;
    }
    for (int i = 0; i < RCGC_NUM_GENERATIONS && !v.failed; i++) {
        rcgc__gcwalk w;
        rcgc__gcwalk_init(&w, rt, i);
        for (rcgc_object *o; !v.failed && (o = rcgc__gcwalk_next(&w)) != NULL;)
            if (refers_to(o, &c)) objvec_push(&v, o);
    }
    return objvec_finish(&v, out);
}

static int gc_visit_referent(rcgc_object *child, void *arg)
{
    return objvec_push(arg, child) != 0;
}

static int visit_pair_referent(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return objvec_push(arg, value) != 0;
}

rcgc_ssize rcgc_gc_get_referents(rcgc_runtime *rt,
                                 rcgc_object *const *objs,
                                 rcgc_ssize nobjs,
                                 rcgc_object ***out)
{
    struct objvec v = {rt, NULL, 0, 0, 0};
    if (nobjs < 0 || (nobjs > 0 && objs == NULL)) {
        *out = NULL;
        return RCGC_EINVAL;
    }
    for (rcgc_ssize i = 0; i < nobjs && !v.failed; i++) {
        rcgc_object *o = objs[i];
        if (!gc_is_gc(o)) continue;
        o->type->traverse(o, gc_visit_referent, &v);
        if (o->type->ephemerons != NULL && !v.failed)
            o->type->ephemerons(o, visit_pair_referent, &v);
    }
    return objvec_finish(&v, out);
}

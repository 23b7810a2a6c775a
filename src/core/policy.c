/*
 * policy.c - when automatic collections run: the count that every GC
 * allocation adds to (object.c's object_init, on the allocation's hot
 * path), the choice of the generation to collect
 * (CPython 3.11's gc_collect_generations, or the adaptive policy), the
 * adaptive policy's byte trigger and the heap's ceiling
 * (rcgc__heap_reserve, object_new's slow path).  The collection itself is
 * in collect.c; docs/collector.md ("Policies") explains the rules.
 */
#include <limits.h>

#include "core/internal.h"

/* The adaptive young threshold never passes half the tracked heap (its
 * cap: young garbage waits for at most that; a quarter made binary-trees
 * depth 21 spend 1.31x its collection-off CPU time, half 1.07x, with the
 * same collections and peak on the request loop: docs/collector.md), and a
 * full collection runs once the heap grew by a quarter since the last full
 * collection. */
#define YOUNG_CAP_DIVISOR 2
#define FULL_GROWTH_DIVISOR 4
/* Unreachable objects, in percent of those examined, at or below which a
 * young collection doubles the adaptive threshold (above: halves it). */
#define YOUNG_SURVIVAL_PERCENT 1

static int automatic_on(const rcgc_runtime *rt)
{
    return rt->enabled && rt->gen[0].threshold != 0;
}

void rcgc__policy_update(rcgc_runtime *rt)
{
    int adaptive = rt->policy == RCGC_POLICY_ADAPTIVE;
    if (!automatic_on(rt))
        rt->young_trigger = INT_MAX;
    else
        rt->young_trigger = adaptive ? rt->young_threshold : rt->gen[0].threshold;
    size_t watch = SIZE_MAX;
    if (adaptive && automatic_on(rt)) watch = rt->bytes_trigger;
    if (rt->heap_limit != 0 && rt->heap_limit < watch) watch = rt->heap_limit;
    rt->bytes_watch = watch;
}

/* Start the adaptive state again from threshold[0] and the current heap. */
static void adaptive_restart(rcgc_runtime *rt)
{
    rt->young_threshold = rt->gen[0].threshold;
    rt->bytes_trigger = rt->young_bytes == 0 || rt->heap_bytes > SIZE_MAX - rt->young_bytes
                            ? SIZE_MAX
                            : rt->heap_bytes + rt->young_bytes;
}

void rcgc__policy_init(rcgc_runtime *rt, const rcgc_config *cfg)
{
    rt->policy = cfg->gc_policy;
    rt->young_bytes = cfg->gc_young_bytes;
    rt->heap_limit = cfg->heap_limit;
    rt->limit_collect_now = cfg->heap_limit_collect_now != 0;
    adaptive_restart(rt);
    rcgc__policy_update(rt);
}

/* ---- the adaptive rules ---- */

/* Tracked objects outside the permanent generation. */
static rcgc_ssize tracked_unfrozen(const rcgc_runtime *rt)
{
    rcgc_ssize n = rt->tracked - rt->frozen;
    return n > 0 ? n : 0;
}

/* A full collection the policy did not start (rcgc_gc_collect(rt, 2), the
 * ceiling's) resets the byte base too: seen by the count of them. */
static void note_full_collections(rcgc_runtime *rt)
{
    if (rt->stats[RCGC_NUM_GENERATIONS - 1].collections != rt->full_seen) {
        rt->full_seen = rt->stats[RCGC_NUM_GENERATIONS - 1].collections;
        rt->full_base_objects = rt->long_lived_total;
        rt->full_base_bytes = rt->heap_bytes;
    }
}

/* The net-growth gate: the tracked heap (less the frozen objects) grew by a
 * quarter of the objects that survived the last full collection
 * (long_lived_total), or the heap's bytes by a quarter of what they were
 * after it and by at least the young byte budget.  O(1). */
static int full_gate_open(rcgc_runtime *rt)
{
    note_full_collections(rt);
    rcgc_ssize base = rt->full_base_objects;
    if (tracked_unfrozen(rt) - base >= base / FULL_GROWTH_DIVISOR) return 1;
    size_t bbase = rt->full_base_bytes, bytes = rt->heap_bytes;
    if (rt->young_bytes == 0 || bytes < bbase) return 0;
    size_t need = bbase / FULL_GROWTH_DIVISOR;
    if (need < rt->young_bytes) need = rt->young_bytes;
    return bytes - bbase >= need;
}

/* After an automatic collection that examined `examined` objects and found
 * `found` unreachable: double or halve the young threshold, between
 * threshold[0] and half the tracked heap (threshold[0] wins). */
static void adapt_young(rcgc_runtime *rt, rcgc_ssize examined, rcgc_ssize found)
{
    if (examined <= 0) return;
    long long t = rt->young_threshold;
    if (found * 100 <= examined * YOUNG_SURVIVAL_PERCENT)
        t *= 2;
    else
        t /= 2;
    long long floor = rt->gen[0].threshold;
    long long cap = (long long)tracked_unfrozen(rt) / YOUNG_CAP_DIVISOR;
    if (cap > INT_MAX / 2) cap = INT_MAX / 2;
    if (t > cap) t = cap;
    if (t < floor) t = floor;
    rt->young_threshold = (int)t;
}

/* A full collection at any trigger where the growth gate is open (not only
 * when count[2] passes threshold[2]): the garbage that escaped the young
 * generations waits for at most a quarter of the heap's growth. */
static rcgc_ssize collect_adaptive(rcgc_runtime *rt)
{
    int generation = 0;
    if (full_gate_open(rt))
        generation = RCGC_NUM_GENERATIONS - 1;
    else if (rt->gen[1].count > rt->gen[1].threshold)
        generation = 1;
    rcgc_ssize examined = tracked_unfrozen(rt);
    rcgc_ssize found = rcgc__collect_with_callback(rt, generation);
    if (generation < RCGC_NUM_GENERATIONS - 1)
        examined = rt->last_examined; /* the young set's size */
    adapt_young(rt, examined, found);
    note_full_collections(rt);
    return found;
}

/* CPython's gc_collect_generations: the oldest generation whose count passed
 * its threshold, a full collection only once the long-lived objects pending
 * promotion reach a quarter of those that survived the last one. */
static rcgc_ssize collect_cpython311(rcgc_runtime *rt)
{
    for (int i = RCGC_NUM_GENERATIONS - 1; i >= 0; i--) {
        if (rt->gen[i].count > rt->gen[i].threshold) {
            if (i == RCGC_NUM_GENERATIONS - 1 &&
                rt->long_lived_pending < rt->long_lived_total / 4)
                continue;
            return rcgc__collect_with_callback(rt, i);
        }
    }
    return 0;
}

rcgc_ssize rcgc__collect_generations(rcgc_runtime *rt)
{
    rcgc_ssize n;
    if (rt->emergency_pending) {
        rt->emergency_pending = 0;
        n = rcgc__collect_with_callback(rt, RCGC_NUM_GENERATIONS - 1);
    } else if (rt->policy == RCGC_POLICY_ADAPTIVE) {
        n = collect_adaptive(rt);
    } else {
        n = collect_cpython311(rt);
    }
    if (rt->young_bytes != 0 && rt->heap_bytes <= SIZE_MAX - rt->young_bytes)
        rt->bytes_trigger = rt->heap_bytes + rt->young_bytes;
    rcgc__policy_update(rt);
    return n;
}

/* count[0] passed young_trigger: collect now, or mark the collection due
 * (deferred mode).  The conditions are checked again: teardown turns
 * automatic collection off without a policy update. */
void rcgc__gc_link_slow(rcgc_runtime *rt)
{
    if (!automatic_on(rt) || rt->collecting) return;
    if (rt->mode == RCGC_GC_DEFERRED) {
        rt->pending = 1;
        return;
    }
    rt->collecting = 1;
    rcgc__collect_generations(rt);
    rt->collecting = 0;
}

/* ---- bytes: the adaptive trigger and the ceiling ---- */

/* The ceiling's emergency collection may run now: not inside a collection,
 * a deallocation (finalizers, clear, release, weak reference callbacks) or
 * the teardown. */
static int emergency_allowed(const rcgc_runtime *rt)
{
    return !rt->collecting && rt->trash_depth == 0 && !rt->tearing_down;
}

static int over_limit(const rcgc_runtime *rt, size_t need)
{
    return rt->heap_limit != 0 &&
           (need > rt->heap_limit || rt->heap_bytes > rt->heap_limit - need);
}

int rcgc__heap_reserve(rcgc_runtime *rt, size_t need)
{
    /* The adaptive policy's byte trigger: a young collection is due. */
    if (rt->policy == RCGC_POLICY_ADAPTIVE && automatic_on(rt) &&
        !rt->collecting &&
        (need > rt->bytes_trigger || rt->heap_bytes > rt->bytes_trigger - need)) {
        if (rt->mode == RCGC_GC_DEFERRED) {
            rt->pending = 1;
        } else {
            rt->collecting = 1;
            rcgc__collect_generations(rt);
            rt->collecting = 0;
        }
    }
    if (!over_limit(rt, need)) return 0;
    if (emergency_allowed(rt)) {
        if (rt->mode == RCGC_GC_SYNC || rt->limit_collect_now) {
            rt->collecting = 1;
            rt->emergency_pending = 1;
            rcgc__collect_generations(rt);
            rt->collecting = 0;
        } else {
            rt->emergency_pending = 1;
            rt->pending = 1;
        }
    }
    if (!over_limit(rt, need)) return 0;
    rt->last_error = RCGC_ENOMEM;
    return RCGC_ENOMEM;
}

/* ---- public ---- */

int rcgc_gc_set_policy(rcgc_runtime *rt, rcgc_gc_policy policy)
{
    if (policy != RCGC_POLICY_CPYTHON311 && policy != RCGC_POLICY_ADAPTIVE)
        return RCGC_EINVAL;
    rt->policy = policy;
    adaptive_restart(rt);
    rcgc__policy_update(rt);
    return 0;
}

rcgc_gc_policy rcgc_gc_get_policy(rcgc_runtime *rt)
{
    return rt->policy;
}

int rcgc_gc_get_young_threshold(rcgc_runtime *rt)
{
    return rt->policy == RCGC_POLICY_ADAPTIVE ? rt->young_threshold
                                              : rt->gen[0].threshold;
}

size_t rcgc_runtime_heap_bytes(rcgc_runtime *rt, size_t *peak)
{
    if (peak != NULL) *peak = rt->heap_bytes_peak;
    return rt->heap_bytes;
}

int rcgc_runtime_set_heap_limit(rcgc_runtime *rt, size_t limit)
{
    rt->heap_limit = limit;
    rcgc__policy_update(rt);
    return 0;
}

size_t rcgc_runtime_get_heap_limit(rcgc_runtime *rt)
{
    return rt->heap_limit;
}

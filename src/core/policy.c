/*
 * policy.c - when automatic collections run: the count that every GC
 * allocation adds to (rcgc__gc_link, on the allocation's hot path) and the
 * choice of the generation to collect (CPython 3.11's
 * gc_collect_generations).  The collection itself is in collect.c.
 */
#include "core/internal.h"

/* CPython's gc_collect_generations: the oldest generation whose count passed
 * its threshold, a full collection only once the long-lived objects pending
 * promotion reach a quarter of those that survived the last one. */
rcgc_ssize rcgc__collect_generations(rcgc_runtime *rt)
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

void rcgc__gc_link(rcgc_runtime *rt)
{
    struct gc_generation *g0 = &rt->gen[0];
    g0->count++;
    if (g0->count > g0->threshold && rt->enabled && g0->threshold != 0 &&
        !rt->collecting) {
        if (rt->mode == RCGC_GC_DEFERRED) {
            rt->pending = 1;
            return;
        }
        rt->collecting = 1;
        rcgc__collect_generations(rt);
        rt->collecting = 0;
    }
}

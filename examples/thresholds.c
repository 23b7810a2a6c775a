/*
 * thresholds.c - when does the collector run by itself?
 *
 * Every allocation of a GC-type object adds one to count[0].  When count[0]
 * passes threshold[0] (700 by default, as CPython 3.11) the next allocation
 * runs a collection of generation 0, which resets count[0] and adds one to
 * count[1].  When count[1] passes threshold[1] (10), generation 1 is
 * collected instead, and count[2] goes up.  The objects here are all kept
 * alive, so the collections find nothing: only the counts move.
 *
 * The Python equivalent (gc.collect(); keep = [A() for _ in range(8412)]
 * with a gc.callbacks hook) shows the same pattern: a generation-0
 * collection every 701 allocations, and generation 1 at the twelfth,
 * when count[1] has passed 10 (CPython triggers 6-7 allocations earlier:
 * the interpreter allocates a few objects of its own).
 */
#include <stdio.h>

#include "rcgc.h"

#define N 8412 /* 12 x 701: twelve automatic collections */

/* traverse may not be NULL for a GC type: this one holds no references. */
static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}

static const rcgc_type node_type = {.name = "node", .size = sizeof(rcgc_object),
                                    .flags = RCGC_TYPE_GC, .traverse = node_traverse};

static long allocated; /* allocations so far, for the callback's message */

static int on_gc(rcgc_runtime *rt, rcgc_gc_event event, const rcgc_gc_info *info,
                 void *ctx)
{
    (void)ctx;
    if (event == RCGC_GC_STOP) {
        int c[3];
        rcgc_gc_get_count(rt, c);
        printf("  allocation %5ld: automatic collection of generation %d, "
               "count -> (%d, %d, %d)\n", allocated, info->generation, c[0], c[1], c[2]);
    }
    return 0;
}

static void show(rcgc_runtime *rt, const char *what)
{
    int c[3];
    rcgc_gc_get_count(rt, c);
    printf("  %-32s count = (%d, %d, %d)\n", what, c[0], c[1], c[2]);
}

int main(void)
{
    /* CPython 3.11's cadence (the library's default policy is adaptive:
     * docs/collector.md, "Policies") */
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_policy = RCGC_POLICY_CPYTHON311;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;
    int t[3];
    rcgc_gc_get_threshold(rt, t);
    printf("thresholds: (%d, %d, %d)\n", t[0], t[1], t[2]);
    show(rt, "at start:");
    rcgc_gc_callback_add(rt, on_gc, NULL);

    static rcgc_object *keep[N];
    for (int i = 0; i < N; i++) {
        allocated = i + 1;
        keep[i] = rcgc_object_new(rt, &node_type);
        if (keep[i] == NULL) return 1;
        rcgc_object_track(rt, keep[i]);
        if (i + 1 == 1) show(rt, "after 1 allocation:");
        if (i + 1 == 700) show(rt, "after 700 allocations:");
        if (i + 1 == 1400) show(rt, "after 1400 allocations:");
    }
    show(rt, "after all of them:");

    rcgc_gc_stats st[3];
    rcgc_gc_get_stats(rt, st);
    printf("collections: gen0 %td, gen1 %td, gen2 %td; collected %td\n",
           st[0].collections, st[1].collections, st[2].collections,
           st[0].collected + st[1].collected + st[2].collected);

    rcgc_gc_callback_remove(rt, on_gc, NULL);
    for (int i = 0; i < N; i++) rcgc_decref(rt, keep[i]);
    show(rt, "after freeing them all:");
    return rcgc_runtime_free(rt, NULL);
}

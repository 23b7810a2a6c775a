/*
 * resurrection.c - a PEP 442 finalizer that brings its object back.
 *
 *     saved = None
 *     class A:
 *         def __del__(self):           # the finalizer
 *             global saved; saved = self
 *     class B: pass
 *     a = A(); b = B(); a.other = b; b.other = a
 *     del a, b
 *     gc.collect()   # -> 0 in CPython 3.9+: the cycle was resurrected
 *     saved = None
 *     gc.collect()   # -> 2, and __del__ does not run again
 *
 * (python3 3.11 prints 0 and 2, with one "finalizer" call in all.)  The
 * finalizer runs at most once in an object's lifetime: the second time the
 * cycle is garbage, the collector simply frees it.
 */
#include <stdio.h>

#include "rcgc.h"

typedef struct node {
    rcgc_object base;
    rcgc_object *other;
} node;

static rcgc_object *saved; /* the global the finalizer writes */
static int finalizer_calls;

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((node *)self)->other);
    return 0;
}

static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((node *)self)->other);
}

static int a_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    finalizer_calls++;
    printf("      A's finalizer runs: saved = self\n");
    rcgc_incref(self);
    saved = self; /* resurrection: a new strong reference from outside */
    return 0;
}

static const rcgc_type a_type = {
    .name = "A", .size = sizeof(node), .flags = RCGC_TYPE_GC,
    .traverse = node_traverse, .clear = node_clear, .finalize = a_finalize};
static const rcgc_type b_type = {
    .name = "B", .size = sizeof(node), .flags = RCGC_TYPE_GC,
    .traverse = node_traverse, .clear = node_clear};

int main(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;

    printf("a = A(); b = B(); a.other = b; b.other = a; del a, b\n");
    rcgc_object *a = rcgc_object_new(rt, &a_type);
    rcgc_object *b = rcgc_object_new(rt, &b_type);
    if (a == NULL || b == NULL) return 1;
    ((node *)a)->other = b; /* takes our reference to b */
    rcgc_incref(a);
    ((node *)b)->other = a;
    rcgc_object_track(rt, a);
    rcgc_object_track(rt, b);
    rcgc_decref(rt, a);

    printf("collect()\n");
    rcgc_ssize n = rcgc_gc_collect(rt, 2);
    printf("  -> %td   the finalizer made the cycle reachable again, so nothing\n"
           "        was freed (CPython 3.11 answers 0 too)\n", n);
    printf("  saved is an %s, its finalizer has run: %s, refcount %td, "
           "finalizer calls: %d\n", saved->type->name,
           rcgc_object_is_finalized(saved) ? "yes" : "no",
           (rcgc_ssize)rcgc_object_refcount(saved), finalizer_calls);

    printf("\nsaved = None; collect()\n");
    rcgc_object *s = saved;
    saved = NULL;
    rcgc_decref(rt, s);
    n = rcgc_gc_collect(rt, 2);
    printf("  -> %td   the cycle is garbage again and is freed; the finalizer\n"
           "        does not run a second time (calls: %d)\n", n, finalizer_calls);

    return rcgc_runtime_free(rt, NULL);
}

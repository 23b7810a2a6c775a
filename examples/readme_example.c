/* readme_example.c - define a type, build a cycle, collect it. */
#include <stdio.h>

#include "rcgc.h"

typedef struct pair {
    rcgc_object base;        /* every object starts with the header */
    rcgc_object *left, *right;
} pair;

/* Report every reference the object holds: the collector's view of it. */
static int pair_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((pair *)self)->left);
    RCGC_VISIT(((pair *)self)->right);
    return 0;
}

/* Drop every reference: breaks cycles, and runs when the object is freed. */
static void pair_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((pair *)self)->left);
    RCGC_CLEAR(rt, ((pair *)self)->right);
}

/* PEP 442 finalizer: runs once, before the object is freed. */
static int pair_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    (void)self;
    printf("a pair is finalized\n");
    return 0;
}

static const rcgc_type pair_type = {
    .name = "pair", .size = sizeof(pair), .flags = RCGC_TYPE_GC,
    .traverse = pair_traverse, .clear = pair_clear, .finalize = pair_finalize};

int main(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL); /* CPython's defaults */

    rcgc_object *a = rcgc_object_new(rt, &pair_type);   /* refcount 1 */
    rcgc_object *b = rcgc_object_new(rt, &pair_type);
    rcgc_incref(b);
    ((pair *)a)->left = b;                              /* a -> b */
    rcgc_incref(a);
    ((pair *)b)->left = a;                              /* b -> a */
    rcgc_object_track(rt, a);
    rcgc_object_track(rt, b);

    rcgc_decref(rt, a);   /* the program lets go; the cycle keeps both */
    rcgc_decref(rt, b);

    printf("collect() found %td unreachable objects\n", rcgc_gc_collect(rt, 2));
    return rcgc_runtime_free(rt, NULL); /* 0: nothing left behind */
}

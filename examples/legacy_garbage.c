/*
 * legacy_garbage.c - a cycle the collector will not touch.
 *
 * A legacy finalizer (CPython's tp_del, the pre-3.4 __del__) may run at any
 * refcount death and the collector cannot know in which order to run the
 * finalizers of a cycle, so a cycle holding one is uncollectable: the
 * collector counts it, leaves it intact, and puts the objects with a legacy
 * finalizer in the garbage list (gc.garbage).  The program then has to break
 * the cycle by hand.  Since Python 3.4 __del__ is a PEP 442 finalizer, so
 * in CPython this needs a C type; with _testcapi.with_tp_del the equivalent
 * Python 3.11 program prints the same: collect() -> 2 with 1 object in
 * gc.garbage, collect() -> 0 (the garbage list now holds the cycle), then the
 * legacy finalizer once the program lets go, and collect() -> 0.
 */
#include <stdio.h>

#include "rcgc.h"

typedef struct node {
    rcgc_object base;
    rcgc_object *other;
} node;

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((node *)self)->other);
    return 0;
}

static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((node *)self)->other);
}

static int legacy_del(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    printf("      %s's legacy finalizer runs\n", self->type->name);
    return 0;
}

static const rcgc_type file_type = { /* say, a file that must be flushed */
    .name = "File", .size = sizeof(node), .flags = RCGC_TYPE_GC,
    .traverse = node_traverse, .clear = node_clear, .legacy_finalize = legacy_del};
static const rcgc_type owner_type = {
    .name = "Owner", .size = sizeof(node), .flags = RCGC_TYPE_GC,
    .traverse = node_traverse, .clear = node_clear};

int main(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;

    printf("f = File(); o = Owner(); f.other = o; o.other = f; del f, o\n");
    rcgc_object *f = rcgc_object_new(rt, &file_type);
    rcgc_object *o = rcgc_object_new(rt, &owner_type);
    if (f == NULL || o == NULL) return 1;
    ((node *)f)->other = o; /* takes our reference to o */
    rcgc_incref(f);
    ((node *)o)->other = f;
    rcgc_object_track(rt, f);
    rcgc_object_track(rt, o);
    rcgc_decref(rt, f);

    rcgc_ssize n = rcgc_gc_collect(rt, 2);
    printf("collect() -> %td   both objects are unreachable but uncollectable\n", n);
    printf("  garbage list: %td object(s)\n", rcgc_gc_garbage_size(rt));
    n = rcgc_gc_collect(rt, 2);
    printf("collect() -> %td   the garbage list holds the cycle now: reachable\n", n);
    printf("  garbage list: %td object(s)\n", rcgc_gc_garbage_size(rt));

    printf("\nbreak the cycle by hand: for x in gc.garbage: x.other = None\n");
    rcgc_object **objs;
    rcgc_ssize len = rcgc_gc_get_garbage(rt, &objs);
    for (rcgc_ssize i = 0; i < len; i++) {
        printf("  garbage[%td] is a %s\n", i, objs[i]->type->name);
        RCGC_CLEAR(rt, ((node *)objs[i])->other); /* frees the Owner */
    }
    rcgc_objects_free(rt, objs, len);
    printf("del gc.garbage[:]\n");
    rcgc_gc_garbage_clear(rt);       /* the File's last reference */
    printf("  garbage list: %td object(s)\n", rcgc_gc_garbage_size(rt));
    printf("collect() -> %td\n", rcgc_gc_collect(rt, 2));

    return rcgc_runtime_free(rt, NULL);
}

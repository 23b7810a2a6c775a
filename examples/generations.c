/*
 * generations.c - collecting one generation at a time.
 *
 * collect(g) looks only at generations 0..g; whatever survives moves one
 * generation up.  So a cycle that was alive during two collections sits in
 * generation 2 and, once dropped, only a full collection finds it, while a
 * fresh cycle is found by the cheapest collection.  Automatic collection is
 * off here: every collection is one the program asks for.
 *
 * The same program in CPython 3.11 (gc.disable(); gc.freeze() to set the
 * interpreter's own objects aside; class A with one attribute) prints the
 * same counts: 0, 0 while the old cycle is alive, then 2, 0, 2.
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

static const rcgc_type node_type = {
    .name = "A", .size = sizeof(node), .flags = RCGC_TYPE_GC,
    .traverse = node_traverse, .clear = node_clear};

/* NEW: a, with a.other = b and b.other = a; the caller holds only a. */
static rcgc_object *make_cycle(rcgc_runtime *rt)
{
    rcgc_object *a = rcgc_object_new(rt, &node_type);
    rcgc_object *b = rcgc_object_new(rt, &node_type);
    if (a == NULL || b == NULL) return NULL;
    ((node *)a)->other = b;          /* takes our reference to b */
    rcgc_incref(a);
    ((node *)b)->other = a;
    rcgc_object_track(rt, a);
    rcgc_object_track(rt, b);
    return a;
}

/* How many tracked objects each generation holds. */
static void show_generations(rcgc_runtime *rt)
{
    printf("      objects per generation:");
    for (int g = 0; g < 3; g++) {
        rcgc_object **objs;
        rcgc_ssize n = rcgc_gc_get_objects(rt, g, &objs);
        printf(" %td", n);
        rcgc_objects_free(rt, objs, n);
    }
    printf("\n");
}

static void collect(rcgc_runtime *rt, int g, const char *why)
{
    rcgc_ssize n = rcgc_gc_collect(rt, g);
    printf("  collect(%d) -> %td   %s\n", g, n, why);
    show_generations(rt);
}

int main(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0; /* gc.disable() */
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;

    printf("old = cycle(): a two-object cycle the program still holds\n");
    rcgc_object *old = make_cycle(rt);
    if (old == NULL) return 1;
    show_generations(rt);
    collect(rt, 0, "alive: promoted to generation 1");
    collect(rt, 1, "alive: promoted to generation 2");

    printf("\ndel old; young = cycle(); del young\n");
    rcgc_decref(rt, old);            /* garbage now, but in generation 2 */
    rcgc_object *young = make_cycle(rt);
    if (young == NULL) return 1;
    rcgc_decref(rt, young);          /* garbage in generation 0 */
    show_generations(rt);
    collect(rt, 0, "finds the young cycle only");
    collect(rt, 1, "generations 0 and 1 hold nothing");
    collect(rt, 2, "the full collection finds the old cycle");

    return rcgc_runtime_free(rt, NULL);
}

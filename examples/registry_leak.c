/*
 * registry_leak.c - a class-level registry of every instance keeps them all
 * alive; a weak-value map registry empties itself.
 *
 *     class Widget:
 *         registry = []                    # owned by the class: lives forever
 *         def __init__(self):
 *             Widget.registry.append(self)  # "so we can find them all"
 *     for i in range(1000):
 *         w = Widget()                     # used, then dropped...
 *     # ...but all 1000 are still alive, and gc.collect() finds nothing:
 *     # they are not garbage, the registry reaches them.
 *
 * The fix keeps the registry but holds its entries weakly
 * (weakref.WeakValueDictionary, here rcgc_wvmap): an instance lives exactly
 * as long as someone other than the registry uses it, and its entry
 * disappears with it.
 */
#include <stdio.h>

#include "rcgc.h"

/* ---- the instances: count the live ones --------------------------------- */

typedef struct widget {
    rcgc_object base;
    int id;
} widget;

static int widgets_alive;

static void widget_release(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    (void)self;
    widgets_alive--;
}

static const rcgc_type widget_type = {.name = "widget",
                                      .size = sizeof(widget),
                                      .flags = RCGC_TYPE_WEAKREF,
                                      .release = widget_release};

static rcgc_object *widget_new(rcgc_runtime *rt, int id)
{
    rcgc_object *w = rcgc_object_new(rt, &widget_type);
    ((widget *)w)->id = id;
    widgets_alive++;
    return w;
}

/* ---- a strong registry: a growable list of references (the class attr) -- */

typedef struct registry {
    rcgc_object base;
    rcgc_object **items;   /* strong references, from the MEM domain */
    rcgc_ssize len, cap;
} registry;

static int registry_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    registry *r = (registry *)self;
    for (rcgc_ssize i = 0; i < r->len; i++) RCGC_VISIT(r->items[i]);
    return 0;
}

static void registry_clear(rcgc_runtime *rt, rcgc_object *self)
{
    registry *r = (registry *)self;
    while (r->len > 0) {
        r->len--;
        RCGC_CLEAR(rt, r->items[r->len]);
    }
}

static void registry_release(rcgc_runtime *rt, rcgc_object *self)
{
    rcgc_mem_free(rt, ((registry *)self)->items);
}

static const rcgc_type registry_type = {.name = "registry",
                                        .size = sizeof(registry),
                                        .flags = RCGC_TYPE_GC,
                                        .traverse = registry_traverse,
                                        .clear = registry_clear,
                                        .release = registry_release};

static void registry_append(rcgc_runtime *rt, rcgc_object *self, rcgc_object *o)
{
    registry *r = (registry *)self;
    if (r->len == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->items = rcgc_mem_realloc(rt, r->items, (size_t)r->cap * sizeof *r->items);
    }
    rcgc_incref(o);
    r->items[r->len++] = o;
}

int main(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);

    /* 1. Widget.registry = [] */
    rcgc_object *strong = rcgc_object_new(rt, &registry_type);
    rcgc_object_track(rt, strong);
    for (int i = 0; i < 1000; i++) {
        rcgc_object *w = widget_new(rt, i);
        registry_append(rt, strong, w);
        rcgc_decref(rt, w);                       /* the program is done */
    }
    rcgc_ssize found = rcgc_gc_collect(rt, 2);
    printf("strong registry: created 1000, dropped 1000: alive %d, "
           "registered %td, gc found %td\n",
           widgets_alive, ((registry *)strong)->len, found);
    rcgc_decref(rt, strong);                      /* only the class dying helps */
    printf("strong registry: after the registry itself is dropped: alive %d\n",
           widgets_alive);

    /* 2. Widget.registry = weakref.WeakValueDictionary() */
    rcgc_object *weak = rcgc_wvmap_new(rt);
    rcgc_object *kept = NULL;
    for (int i = 0; i < 1000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "widget-%d", i);
        rcgc_object *w = widget_new(rt, i);
        rcgc_wvmap_set(rt, weak, key, (size_t)n, w);
        if (i == 500) kept = w;                   /* one is still in use */
        else rcgc_decref(rt, w);
    }
    found = rcgc_gc_collect(rt, 2);
    rcgc_object *again = rcgc_wvmap_get(rt, weak, "widget-500", 10);
    printf("weak registry: created 1000, dropped 999: alive %d, "
           "registered %td, gc found %td\n",
           widgets_alive, rcgc_weak_len(rt, weak), found);
    printf("weak registry: lookup of widget-500 finds id %d\n",
           again ? ((widget *)again)->id : -1);
    rcgc_xdecref(rt, again);
    rcgc_decref(rt, kept);
    printf("weak registry: after the last user lets go: alive %d, registered %td\n",
           widgets_alive, rcgc_weak_len(rt, weak));

    rcgc_decref(rt, weak);
    return rcgc_runtime_free(rt, NULL);
}

/*
 * object_fixtures.c - the shared helpers of object_fixtures.h.
 */
#include "object_fixtures.h"


rcgc_ssize tracked_of(rcgc_runtime *rt)
{
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    return s.tracked;
}

int in_node(rcgc_object *node, rcgc_object *item)
{
    t_nodeobj *n = t_as(node);
    for (rcgc_ssize i = 0; i < n->n; i++)
        if (n->items[i] == item) return 1;
    return 0;
}

void list_clear(rcgc_runtime *rt, rcgc_object *node)
{
    t_nodeobj *n = t_as(node);
    rcgc_object **items = n->items;
    rcgc_ssize count = n->n;
    n->items = NULL;
    n->n = n->cap = 0;
    for (rcgc_ssize i = count; i-- > 0;) rcgc_decref(rt, items[i]);
    rcgc_mem_free(rt, items);
}

struct fin_state fs;

int h_record(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    if (!fs.cleaning && fs.del.n < 4096) fs.del.ids[fs.del.n++] = t_as(self)->id;
    return 0;
}

rcgc_object *fin_node(rcgc_runtime *rt, const rcgc_type *type, int id,
                      t_hook on_finalize, t_hook on_legacy)
{
    rcgc_object *o = t_new(rt, type, id);
    if (o != NULL) {
        t_as(o)->on_finalize = on_finalize;
        t_as(o)->on_legacy = on_legacy;
    }
    return o;
}

struct act_state act;


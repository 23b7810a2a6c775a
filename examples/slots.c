/*
 * slots.c - the __slots__ lesson: bytes per object with an attribute dict
 * against a fixed layout, measured with the tracer.
 *
 * A Python object without __slots__ keeps its attributes in a dict: the
 * instance, the dict object and the dict's table are three allocations.
 * With __slots__ the attributes live in the instance.  Here the same
 * point (x, y, z) is built both ways, 10,000 times, and the tracer says
 * what each costs: every byte requested from rcgc, headers included.
 * (CPython 3.11's sys.getsizeof: 56 bytes for the instance plus 296 for its
 * __dict__ once materialized, against 56 with __slots__; its floats are
 * separate objects, which here are inline doubles in both layouts.)
 */
#include <stdio.h>
#include <string.h>

#include "rcgc.h"

#define N 10000

/* ---- a point with an attribute dict ---- */

typedef struct entry {
    const char *key;   /* interned attribute name */
    double value;
} entry;

typedef struct dict {  /* a minimal dict: 8 slots, as CPython's smallest */
    rcgc_object base;
    entry *table;      /* MEM buffer */
    int used;
} dict;

typedef struct dict_point {
    rcgc_object base;
    rcgc_object *attrs; /* the dict */
} dict_point;

static int dict_traverse(rcgc_object *o, rcgc_visit_fn visit, void *arg)
{
    (void)o, (void)visit, (void)arg; /* holds floats only */
    return 0;
}

static void dict_release(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc_mem_free(rt, ((dict *)o)->table);
}

static int point_traverse(rcgc_object *o, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((dict_point *)o)->attrs);
    return 0;
}

static void point_clear(rcgc_runtime *rt, rcgc_object *o)
{
    RCGC_CLEAR(rt, ((dict_point *)o)->attrs);
}

static const rcgc_type dict_type = {.name = "dict", .size = sizeof(dict),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = dict_traverse,
                                    .release = dict_release};
static const rcgc_type dict_point_type = {.name = "Point",
                                          .size = sizeof(dict_point),
                                          .flags = RCGC_TYPE_GC,
                                          .traverse = point_traverse,
                                          .clear = point_clear};

static rcgc_object *new_dict_point(rcgc_runtime *rt, double x, double y, double z)
{
    dict_point *p = (dict_point *)RCGC_NEW(rt, &dict_point_type);
    dict *d = (dict *)RCGC_NEW(rt, &dict_type);
    if (p == NULL || d == NULL) return NULL;
    d->table = RCGC_CALLOC(rt, 8, sizeof(entry));
    const char *names[3] = {"x", "y", "z"};
    double values[3] = {x, y, z};
    for (int i = 0; i < 3 && d->table != NULL; i++)
        d->table[d->used++] = (entry){names[i], values[i]};
    rcgc_object_track(rt, &d->base);
    p->attrs = &d->base;
    rcgc_object_track(rt, &p->base);
    return &p->base;
}

/* ---- the same point with a fixed layout (__slots__) ---- */

typedef struct slot_point {
    rcgc_object base;
    double x, y, z;
} slot_point;

static const rcgc_type slot_point_type = {.name = "SlotPoint",
                                          .size = sizeof(slot_point)};

static rcgc_object *new_slot_point(rcgc_runtime *rt, double x, double y, double z)
{
    slot_point *p = (slot_point *)RCGC_NEW(rt, &slot_point_type);
    if (p != NULL) {
        p->x = x;
        p->y = y;
        p->z = z;
    }
    return &p->base;
}

static size_t traced(rcgc_runtime *rt)
{
    size_t current, peak;
    rcgc_trace_get_memory(rt, &current, &peak);
    return current;
}

int main(void)
{
    static rcgc_object *keep[N];
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL || rcgc_trace_start(rt, NULL) != 0) return 1;

    size_t before = traced(rt);
    for (int i = 0; i < N; i++) keep[i] = new_dict_point(rt, i, 2.0 * i, 3.0 * i);
    size_t with_dict = traced(rt) - before;
    for (int i = 0; i < N; i++) rcgc_decref(rt, keep[i]);

    before = traced(rt);
    for (int i = 0; i < N; i++) keep[i] = new_slot_point(rt, i, 2.0 * i, 3.0 * i);
    size_t with_slots = traced(rt) - before;
    for (int i = 0; i < N; i++) rcgc_decref(rt, keep[i]);

    printf("%d points (x, y, z), bytes per object as the tracer counts them:\n", N);
    printf("  attribute dict (instance + dict + table): %zu\n", with_dict / N);
    printf("  fixed layout (__slots__):                 %zu\n", with_slots / N);
    printf("  the dict costs %.1fx the memory\n", (double)with_dict / (double)with_slots);

    rcgc_trace_stop(rt);
    return rcgc_runtime_free(rt, NULL);
}

/*
 * collect_fixtures.c - the shared helpers of collect_fixtures.h.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "collect_fixtures.h"

int gen_of(rcgc_runtime *rt, rcgc_object *o)
{
    int found = -1;
    for (int g = 0; g < RCGC_NUM_GENERATIONS; g++) {
        rcgc_object **objs = NULL;
        rcgc_ssize n = rcgc_gc_get_objects(rt, g, &objs);
        for (rcgc_ssize i = 0; i < n; i++)
            if (objs[i] == o) found = g;
        rcgc_objects_free(rt, objs, n);
    }
    return found;
}


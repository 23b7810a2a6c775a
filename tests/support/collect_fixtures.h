/*
 * collect_fixtures.h - what test_collect.c and test_collect_garbage.c share
 * (collect_fixtures.c).
 */
#ifndef RCGC_TEST_COLLECT_FIXTURES_H
#define RCGC_TEST_COLLECT_FIXTURES_H

#include "test.h"

/* The generation (0..2) whose get_objects list holds o, -1 if none. */
int gen_of(rcgc_runtime *rt, rcgc_object *o);

/* The context of the collect tests' finalizer hooks (t_fnode_type's
 * on_finalize, ctx): each test sets what its hook uses. */
struct fin_ctx {
    rcgc_object *saved;  /* where resurrecting finalizers store self */
    rcgc_object *target; /* another object the hook acts on */
    long calls;          /* finalizer calls */
    rcgc_ssize inner;    /* what a nested rcgc_gc_collect returned */
    t_log *log;
};

#endif

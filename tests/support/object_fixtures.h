/*
 * object_fixtures.h - what test_object.c, test_object_finalize.c and
 * test_object_trashcan.c share (object_fixtures.c).
 */
#ifndef RCGC_TEST_OBJECT_FIXTURES_H
#define RCGC_TEST_OBJECT_FIXTURES_H

#include "test.h"

/* Objects of rt the collector tracks (rcgc_runtime_stats.tracked). */
rcgc_ssize tracked_of(rcgc_runtime *rt);
/* 1 if node (a t_nodeobj) holds a reference to item. */
int in_node(rcgc_object *node, rcgc_object *item);

/* Python's list.clear(): detach the items first, then drop them, so that a
 * finalizer appending to the list meanwhile is kept (t_clear would pop and
 * drop what a resurrecting finalizer appends, forever). */
void list_clear(rcgc_runtime *rt, rcgc_object *node);

/* The state test_finalization.py keeps in class attributes: del_calls,
 * tp_del_calls, survivors, errors, _cleaning. */
struct fin_state {
    t_log del;              /* ids of PEP 442 finalizer calls */
    t_log tpdel;            /* ids of legacy finalizer calls */
    rcgc_object *survivors; /* a t_node the resurrectors append to */
    int cleaning;           /* finalizers record nothing */
    int errors;             /* failed sanity checks */
};
extern struct fin_state fs;

/* A finalizer hook (__del__): appends self's id to fs.del unless
 * fs.cleaning. */
int h_record(rcgc_runtime *rt, rcgc_object *self, void *ctx);
/* NEW: t_new(rt, type, id) with the two hooks set; NULL when out of
 * memory. */
rcgc_object *fin_node(rcgc_runtime *rt, const rcgc_type *type, int id,
                      t_hook on_finalize, t_hook on_legacy);

/* What the finalizers that do things record (spec §3.11 re-entrancy
 * rules). */
struct act_state {
    rcgc_object *holder; /* a t_node that finalizers append to */
    rcgc_ssize collect_results[16];
    int ncollect;
    int alloc_failed;
};
extern struct act_state act;

#endif

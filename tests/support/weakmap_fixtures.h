/*
 * weakmap_fixtures.h - what test_weakmap.c and test_weakmap_iter.c share
 * (weakmap_fixtures.c): the three weak containers behind one interface.
 */
#ifndef RCGC_TEST_WEAKMAP_FIXTURES_H
#define RCGC_TEST_WEAKMAP_FIXTURES_H

#include "test.h"

/* Each entry is described by "its object" o, the one held weakly: the value
 * of a weak-value map (under the key "k<id>"), the item of a weak set, the
 * key of a weak-key map (whose value is a fresh leaf with id + 1000). */
enum { K_VMAP, K_SET, K_KMAP, K_COUNT };

/* "wvmap", "wset", "wkmap" */
extern const char *const kind_name[K_COUNT];

/* NEW: an empty container of kind; NULL when out of memory. */
rcgc_object *c_new(rcgc_runtime *rt, int kind);
/* Write the key "k<id>" into buf (room for 16 bytes); its length. */
size_t key_of(int id, char *buf);
/* Add the entry of o (BORROWED) to c; the container's error code. */
int c_put(rcgc_runtime *rt, rcgc_object *c, int kind, rcgc_object *o);

/* Whether the entry of o is there (by id for the value map: o may be a
 * dead pointer then). */
int c_has_id(rcgc_runtime *rt, rcgc_object *c, int kind, int id,
             rcgc_object *o);

/* c_has_id with o's own id (o must be alive). */
int c_has(rcgc_runtime *rt, rcgc_object *c, int kind, rcgc_object *o);

/* The id of the object of the iterator's current entry (checking the rest
 * of what the iterator shows). */
int it_id(const rcgc_witer *it, int kind);

/* Iterate c completely; store the first max ids in order; return how many
 * entries were yielded. */
int iter_ids(rcgc_runtime *rt, rcgc_object *c, int kind, int *ids,
             int max);

/* 1 if got[0..n) equals want[0..nwant). */
int ids_are(const int *got, int n, const int *want, int nwant);
/* Fail the test unless iterating c gives exactly the ids listed, in order. */
#define CHECK_ITER(rt, c, kind, ...)                                          \
    do {                                                                      \
        static const int want_[] = {__VA_ARGS__};                             \
        int got_[256];                                                        \
        int n_ = iter_ids((rt), (c), (kind), got_, 256);                      \
        if (!ids_are(got_, n_, want_, (int)(sizeof want_ / sizeof *want_)))   \
            t_fail(__FILE__, __LINE__, "%s: iteration gave %d ids, expected " \
                   "%s", kind_name[kind], n_, #__VA_ARGS__);                  \
    } while (0)

/* testcontext(): an iterator after one next(), and one object killed. */
struct ctx {
    rcgc_witer it;
    int killed;
};

#endif

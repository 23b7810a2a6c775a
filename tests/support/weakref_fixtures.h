/*
 * weakref_fixtures.h - what the test_weakref*.c programs share (split by topic from one file).
 */
#ifndef RCGC_TEST_WEAKREF_FIXTURES_H
#define RCGC_TEST_WEAKREF_FIXTURES_H

#include "test.h"

/* ------------------------------------------------------------------------ */
/* callback recording                                                        */

struct wr_state {
    int log[256]; /* values logged by callbacks and finalizers, in order */
    int n;
    int calls;
    rcgc_object *last_wr;   /* what the last callback received */
    rcgc_object *last_arg;
    int last_dead;          /* rcgc_weakref_get(last_wr) was NULL inside */
    rcgc_object *refs[8];   /* references some callbacks look at */
    int nrefs;
    rcgc_ssize inner;       /* what a nested rcgc_gc_collect returned */
    rcgc_object *holder;    /* a node some callbacks change */
    rcgc_object *target;    /* an object some callbacks act on */
};
extern struct wr_state g;

void reset(void);

void logv(int v);

int log_is(const int *want, int n);

#define CHECK_LOG(...)                                                        \
    do {                                                                      \
        static const int want_[] = {__VA_ARGS__};                             \
        int nwant_ = (int)(sizeof want_ / sizeof want_[0]);                   \
        if (!log_is(want_, nwant_)) {                                         \
            t_fail(__FILE__, __LINE__, "log has %d entries, expected %s", g.n, \
                   #__VA_ARGS__);                                             \
            for (int i_ = 0; i_ < g.n; i_++)                                  \
                fprintf(stderr, "  log[%d] = %d\n", i_, g.log[i_]);          \
        }                                                                     \
    } while (0)

/* Counts, remembers what it received and whether the reference was dead. */
int cb_record(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg);

int cb_nothing(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg);

/* Logs 20 if its reference is alive, 21 if it is dead. */
int cb_log_wr(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg);

#endif

/*
 * weakref_fixtures.h - what test_weakref.c, test_weakref_gc.c and
 * test_weakref_method.c share (weakref_fixtures.c): the record the
 * callbacks and finalizers write, and the callbacks all three use.
 */
#ifndef RCGC_TEST_WEAKREF_FIXTURES_H
#define RCGC_TEST_WEAKREF_FIXTURES_H

#include "test.h"

/* What callbacks and finalizers recorded; reset() empties it. */
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

/* Empty g (at the start of a test). */
void reset(void);
/* Append v to g.log (the first 256 are kept). */
void logv(int v);
/* 1 if g.log holds exactly want[0..n). */
int log_is(const int *want, int n);
/* Fail the test unless g.log is exactly the arguments; print it if not. */
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

/* A callback that does nothing. */
int cb_nothing(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg);

/* Logs 20 if its reference is alive, 21 if it is dead. */
int cb_log_wr(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg);

#endif

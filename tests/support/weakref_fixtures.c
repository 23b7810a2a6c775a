/*
 * weakref_fixtures.c - the shared helpers of weakref_fixtures.h.
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "weakref_fixtures.h"

struct wr_state g;

void reset(void)
{
    memset(&g, 0, sizeof g);
}

void logv(int v)
{
    if (g.n < 256) g.log[g.n++] = v;
}

int log_is(const int *want, int n)
{
    if (g.n != n) return 0;
    for (int i = 0; i < n; i++)
        if (g.log[i] != want[i]) return 0;
    return 1;
}

int cb_record(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    g.calls++;
    g.last_wr = wr;
    g.last_arg = arg;
    g.last_dead = !t_wr_alive(rt, wr);
    return 0;
}

int cb_nothing(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    return 0;
}

int cb_log_wr(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)arg;
    logv(20 + !t_wr_alive(rt, wr));
    return 0;
}


/*
 * keyhooks.h - key hooks (rcgc_key_ops) for the weak container tests
 * (test_weakmap_keys.c, test_weakmap_model.c): keys are test nodes
 * compared by their id, as Python objects whose __eq__ compares a field;
 * the hash is id % mod, so that many distinct keys collide.  The hooks
 * count their calls, can fail at a chosen call, and can run an action
 * (allocate, collect, change the container...) at each call.
 */
#ifndef RCGC_TEST_KEYHOOKS_H
#define RCGC_TEST_KEYHOOKS_H

#include "test.h"

typedef struct khooks khooks;
/* Run by a hook before it answers; in_eq tells which hook runs.  Non-zero:
 * the hook fails (as a __hash__ or __eq__ that raised). */
typedef int (*khooks_action)(khooks *k, int in_eq);

struct khooks {
    uint64_t mod;        /* hash = id % mod (0: id) */
    long nhash, neq;     /* calls so far */
    long fail_hash_at;   /* the hash call with this number fails (0: none) */
    long fail_eq_at;     /* the eq call with this number fails (0: none) */
    int hash_code;       /* what a failing hash returns (0: -1) */
    khooks_action action;
    int in_action;       /* the action is running (no recursion) */
    int bad;             /* a hook saw a key that was not alive */
    void *state;         /* the action's */
};

static inline int kh_id(const rcgc_object *o)
{
    return ((const t_nodeobj *)o)->id;
}

static inline int kh_run(khooks *k, int in_eq)
{
    if (k->action == NULL || k->in_action) return 0;
    k->in_action = 1;
    int r = k->action(k, in_eq);
    k->in_action = 0;
    return r;
}

static inline int kh_hash(rcgc_runtime *rt, rcgc_object *key, uint64_t *hash, void *ctx)
{
    (void)rt;
    khooks *k = ctx;
    k->nhash++;
    if (key == NULL || key->refcnt == 0) k->bad++;
    if (k->fail_hash_at != 0 && k->nhash == k->fail_hash_at)
        return k->hash_code != 0 ? k->hash_code : -1;
    if (kh_run(k, 0) != 0) return -1;
    uint64_t id = (uint64_t)kh_id(key);
    *hash = k->mod ? id % k->mod : id;
    return 0;
}

static inline int kh_eq(rcgc_runtime *rt, rcgc_object *a, rcgc_object *b, void *ctx)
{
    (void)rt;
    khooks *k = ctx;
    k->neq++;
    if (a == NULL || b == NULL || a->refcnt == 0 || b->refcnt == 0 || a == b) k->bad++;
    if (k->fail_eq_at != 0 && k->neq == k->fail_eq_at) return -1;
    if (kh_run(k, 1) != 0) return -1;
    return kh_id(a) == kh_id(b);
}

static inline rcgc_key_ops kh_ops(khooks *k)
{
    rcgc_key_ops ops = {kh_hash, kh_eq, k};
    return ops;
}

#endif

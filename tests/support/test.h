/*
 * test.h - the test harness, the counting/fault-injecting allocator, and the
 * object types the tests build graphs from.
 *
 * A test file defines its tests with TEST(name) and lists them in
 * TEST_MAIN(...).  The tests run in order, in one process by default:
 *     prog [--fork | --no-fork] [--list] [NAME]
 * runs the tests whose name contains NAME (all without it); --list prints
 * their names instead; --fork (or RCGC_TEST_FORK=1 in the environment) runs
 * each test in a child process of its own, so that a crash or abort is that
 * test's FAIL, with its signal, and the rest of the file still runs
 * (support.c says where CTest uses it).  Each test prints "ok NAME" or
 * "FAIL NAME"; the last line is "P of N tests passed"; the exit status is 0
 * when every test that ran passed and at least one ran.  Tests create their
 * runtime with t_runtime() and end with t_teardown(), which frees the
 * runtime and fails unless every object and every byte went back to the
 * allocator.
 */
#ifndef RCGC_TEST_H
#define RCGC_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"

/* ---- harness ---- */

typedef void (*test_fn)(void);
struct test_case {
    const char *name;
    test_fn fn;
};

extern int t_failures;      /* failed checks in the current test */
extern const char *t_current;

#define TEST(name) static void name(void)
#define T(name) {#name, name}
#define TEST_MAIN(...)                                                        \
    int main(int argc, char **argv)                                           \
    {                                                                         \
        static const struct test_case cases[] = {__VA_ARGS__};               \
        return t_run_all(cases, sizeof cases / sizeof cases[0], argc, argv); \
    }

/* Run the cases as the command line and RCGC_TEST_FORK say (above); the
 * program's exit status: 0 all passed, 1 a test failed or none ran, 2 a bad
 * command line. */
int t_run_all(const struct test_case *cases, size_t n, int argc, char **argv);
void t_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);          \
    } while (0)
#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);               \
        if (t_a_ != t_b_)                                                     \
            t_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, \
                   t_a_, #b, t_b_);                                           \
    } while (0)
#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        const char *t_sa_ = (a), *t_sb_ = (b);                                \
        if (strcmp(t_sa_, t_sb_) != 0)                                        \
            t_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,   \
                   t_sa_, t_sb_);                                             \
    } while (0)
/* Stop the test (after a failure that makes the rest meaningless). */
#define REQUIRE(cond)                                                         \
    do {                                                                      \
        if (!(cond)) {                                                        \
            t_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                 \
            return;                                                           \
        }                                                                     \
    } while (0)

/* Run fn(arg) in a child process; pass if it dies by a signal (abort) and
 * its stderr contains every one of the NULL-terminated substrings. */
int t_expect_death(void (*fn)(void *), void *arg, const char *const *needles);
#define CHECK_DEATH(fn, arg, ...)                                             \
    do {                                                                      \
        static const char *const t_needles_[] = {__VA_ARGS__, NULL};          \
        if (!t_expect_death((fn), (arg), t_needles_))                         \
            t_fail(__FILE__, __LINE__, "expected %s to abort with the "       \
                   "message", #fn);                                           \
    } while (0)

/* A scale for the biggest tests: RCGC_TEST_SCALE=N divides their sizes
 * (valgrind runs use it); 1 by default. */
long t_scale(long full);

/* ---- counting allocator with fault injection (the library's
 * rcgc_memfault wrapper over the C library) ---- */

typedef struct t_alloc {
    size_t live_bytes;   /* requested bytes not yet freed */
    long live_blocks;    /* blocks not yet freed */
    long calls;          /* malloc/calloc/realloc calls so far */
    long fail_at;        /* fail exactly this call (1-based); 0: never */
    long fail_after;     /* fail every call after this many; 0: never */
    long failures;       /* calls that were failed */
    rcgc_memfault *fault; /* the wrapper doing the work (created on use) */
    rcgc_memfault_stats before; /* its counters when the current call began */
} t_alloc;

extern t_alloc t_alloc_state; /* the one t_runtime() uses */
rcgc_allocator t_allocator(t_alloc *state);
/* Release the wrapper of a state made by hand (t_teardown does it for
 * t_alloc_state). */
void t_alloc_release(t_alloc *state);

/* A runtime on the counting allocator with cfg (NULL: CPython's defaults:
 * the cpython311 policy, automatic collection OFF, as CPython's test-suite
 * disables it around each test). */
rcgc_runtime *t_runtime_cfg(const rcgc_config *cfg);
rcgc_runtime *t_runtime(void);
/* As t_runtime_cfg, always with objects and buffers in the pool allocator
 * (pool objects have side bytes: docs/layout-16.md), the counting allocator
 * as its raw memory (what RCGC_TEST_POOL=1 gives t_runtime_cfg). */
rcgc_runtime *t_runtime_pool(const rcgc_config *cfg);
/* 1 if t_runtime puts objects in the pool allocator (RCGC_TEST_POOL=1):
 * then a failure injected into the counting allocator hits only the
 * pool's arenas and big blocks, and a fault test may see fewer failures,
 * or a failure the pool absorbed (it falls back to the raw allocator). */
int t_pool_mode(void);
/* Free rt and check: no objects alive, nothing uncollectable (unless
 * allowed), every block and byte returned to the allocator. */
void t_teardown(rcgc_runtime *rt);

/* ---- object types ---- */

/* Hooks a node's finalizers call; ctx is the node's ctx field. */
typedef int (*t_hook)(rcgc_runtime *rt, rcgc_object *self, void *ctx);

/* A list-like container (CPython's list): an array of strong references,
 * released last to first; traverse visits them all. */
typedef struct t_node {
    rcgc_object base;
    rcgc_object **items;
    rcgc_ssize n, cap;
    int id;              /* test-chosen label */
    t_hook on_finalize;  /* called by finalize (types that have one) */
    t_hook on_legacy;    /* called by legacy_finalize */
    void *ctx;
    long nfinalize;      /* times finalize ran */
    long nlegacy;        /* times legacy_finalize ran */
} t_nodeobj;

extern const rcgc_type t_node_type;    /* GC container, no finalizer */
extern const rcgc_type t_fnode_type;   /* + PEP 442 finalizer */
extern const rcgc_type t_lnode_type;   /* + legacy finalizer */
extern const rcgc_type t_flnode_type;  /* + both */
extern const rcgc_type t_tuple_type;   /* lazily untracked (CPython tuple) */
extern const rcgc_type t_dict_type;    /* untracked on full collections */
extern const rcgc_type t_plain_type;   /* container of a non-GC type */
extern const rcgc_type t_leaf_type;    /* non-GC, holds nothing (an int) */

/* Weakly referenceable node types (CPython: class N(list): __slots__ =
 * ('__weakref__',)), same layout and functions as t_node_type: */
extern const rcgc_type t_wnode_type;  /* GC container */
extern const rcgc_type t_wfnode_type; /* + PEP 442 finalizer (__del__) */
extern const rcgc_type t_wlnode_type; /* + legacy finalizer (tp_del) */
extern const rcgc_type t_wnogc_type;  /* container of a non-GC type, never
                                       * tracked (_testcapi.ContainerNoGC) */
extern const rcgc_type t_wleaf_type;  /* non-GC; may hold references (a
                                       * hashable key with a slot) */

/* NEW: an empty node of type, tracked if the type is a GC type; NULL when
 * out of memory. */
rcgc_object *t_new(rcgc_runtime *rt, const rcgc_type *type, int id);
/* NEW: a node of t_node_type / t_fnode_type, tracked. */
rcgc_object *t_node(rcgc_runtime *rt, int id);
rcgc_object *t_leaf(rcgc_runtime *rt, int id);
/* Append a strong reference to item (incref); RCGC_ENOMEM on failure. */
int t_append(rcgc_runtime *rt, rcgc_object *node, rcgc_object *item);
/* As t_append, and drop the caller's reference to item (STEALS). */
int t_append_steal(rcgc_runtime *rt, rcgc_object *node, rcgc_object *item);
/* Remove the first reference to item; 1 if one was removed. */
int t_remove(rcgc_runtime *rt, rcgc_object *node, rcgc_object *item);
/* Drop every reference, last to first. */
void t_clear(rcgc_runtime *rt, rcgc_object *node);
/* a <-> b */
void t_link2(rcgc_runtime *rt, rcgc_object *a, rcgc_object *b);
/* NEW: a node of t_wnode_type, tracked; NULL when out of memory. */
rcgc_object *t_wnode(rcgc_runtime *rt, int id);
/* NEW: a tracked node of type that references itself; NULL when out of
 * memory. */
rcgc_object *t_self_cycle(rcgc_runtime *rt, const rcgc_type *type, int id);

/* ---- counters and clean-up (nodes.c) ---- */

/* Objects of rt allocated and not yet freed (rcgc_runtime_stats.objects). */
rcgc_ssize t_live_objects(rcgc_runtime *rt);
/* 1 if the referent of weak reference wr (BORROWED) is alive. */
int t_wr_alive(rcgc_runtime *rt, rcgc_object *wr);
/* What a CPython test does with uncollectable cycles: break every object in
 * gc.garbage (all must be t_nodeobj types), then empty the list. */
void t_clean_garbage(rcgc_runtime *rt);
/* The usual end of a collector test: rcgc_gc_check(rt) finds nothing, then
 * t_teardown(rt). */
void t_finish(rcgc_runtime *rt);

/* ---- the unraisable hook (nodes.c) ---- */

/* The reports an unraisable hook received: the first T_UNRAISABLE_MAX are
 * kept, n counts them all.  obj is an address only: the object may be gone
 * by the time the test looks. */
#define T_UNRAISABLE_MAX 16
typedef struct t_unraisable {
    int n;
    rcgc_unraisable_kind kind[T_UNRAISABLE_MAX];
    rcgc_object *obj[T_UNRAISABLE_MAX];
    int err[T_UNRAISABLE_MAX];
} t_unraisable;
/* An rcgc_unraisable_fn recording into ctx, a t_unraisable. */
void t_record_unraisable(rcgc_runtime *rt, rcgc_unraisable_kind kind,
                         rcgc_object *obj, int err, void *ctx);
/* A runtime as t_runtime() whose unraisable hook records into rec (zeroed
 * first; BORROWED, must outlive the runtime). */
rcgc_runtime *t_runtime_unraisable(t_unraisable *rec);

static inline t_nodeobj *t_as(rcgc_object *o)
{
    return (t_nodeobj *)o;
}

/* Records the finalizers that ran, by id, in order. */
typedef struct t_log {
    int ids[4096];
    int n;
} t_log;
int t_log_count(const t_log *log, int id);

#endif /* RCGC_TEST_H */

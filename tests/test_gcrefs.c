/*
 * test_gcrefs.c - the collector's gc_refs in the reference count word
 * (src/core/gchead.h, "the collection's scratch in the refcount word";
 * docs/layout.md, "The reference count during a collection").
 *
 *   - an object whose count is above what a member may have when the
 *     collection starts is a root: it is not collected, it keeps what it
 *     reaches alive, and its count comes back exact, for counts just above
 *     the limit, at 2^32 and far above;
 *   - immortal objects (negative counts) referenced from garbage and from
 *     live objects are never written;
 *   - no reference count is borrowed whenever code other than traverse
 *     runs: finalizers, weak reference callbacks, gc callbacks, and the
 *     allocator's hooks (the mark stack grows during the mark step, and its
 *     growth may fail, which sends the split to its fallback);
 *   - rcgc_gc_check reports a word left borrowed.
 *
 * Each runs on the collector's paths: a young collection (update_refs and
 * subtract_refs, then the mark step), a full one (the fused pass), a full
 * one with a frozen object (the two passes), and a runtime with a lazily
 * untracked type (CPython's scan instead of the mark step).
 */
#include <stdint.h>
#include <string.h>

#include "test.h"

#include "core/gchead.h" /* the member bit, to look at words from hooks */

enum { PATH_YOUNG, PATH_FULL, PATH_FULL_FROZEN, PATH_SCAN, NPATHS };
static const char *const path_name[NPATHS] = {"young", "full", "full_frozen",
                                              "scan"};

/* A runtime set up for path; *frozen gets the frozen object (or NULL). */
static rcgc_runtime *path_runtime(int path, rcgc_object **frozen)
{
    rcgc_runtime *rt = t_runtime();
    *frozen = NULL;
    if (path == PATH_SCAN) {
        /* Allocating a lazily untracked type switches the split to
         * CPython's scan for the runtime's life. */
        rcgc_object *t = t_new(rt, &t_tuple_type, -1);
        CHECK(t != NULL);
        rcgc_decref(rt, t);
    }
    if (path == PATH_FULL_FROZEN) {
        *frozen = t_node(rt, -2);
        rcgc_gc_freeze(rt);
    }
    return rt;
}

static rcgc_ssize path_collect(rcgc_runtime *rt, int path)
{
    return rcgc_gc_collect(rt, path == PATH_YOUNG ? 0 : 2);
}

static void path_finish(rcgc_runtime *rt, rcgc_object *frozen)
{
    if (frozen != NULL) {
        rcgc_gc_unfreeze(rt);
        rcgc_decref(rt, frozen);
    }
    t_finish(rt);
}

/* ---- roots by their count ---- */

/* a <-> b, a -> c <-> d: only a's count holds all four; with K added to
 * it, a is a root and nothing is collected; its count comes back exact. */
static void huge_count_case(int path, intptr_t k)
{
    rcgc_object *frozen;
    rcgc_runtime *rt = path_runtime(path, &frozen);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    rcgc_object *c = t_node(rt, 3), *d = t_node(rt, 4);
    t_link2(rt, a, b);
    t_link2(rt, c, d);
    CHECK_EQ(t_append(rt, a, c), 0);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    /* a: one reference from b, and ours; now k more. */
    CHECK_EQ(a->refcnt, 2);
    a->refcnt += k;
    rcgc_decref(rt, a); /* ours */
    intptr_t want_a = 1 + k;
    rcgc_ssize got = path_collect(rt, path);
    if (got != 0 || a->refcnt != want_a || b->refcnt != 1 || c->refcnt != 2 ||
        d->refcnt != 1)
        t_fail(__FILE__, __LINE__,
               "%s, k %jd: collected %td, counts a %jd (want %jd) b %jd c %jd "
               "d %jd",
               path_name[path], (intmax_t)k, got, (intmax_t)a->refcnt,
               (intmax_t)want_a, (intmax_t)b->refcnt, (intmax_t)c->refcnt,
               (intmax_t)d->refcnt);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* A second collection (the survivors now older for a young one). */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(a->refcnt, want_a);
    a->refcnt -= k;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    path_finish(rt, frozen);
}

TEST(huge_count_in_a_cycle_is_a_root_and_keeps_its_count)
{
    const intptr_t ks[] = {GC_RC_COUNT_MAX, /* 1 + k is just above */
                           (intptr_t)1 << 31, ((intptr_t)1 << 32) - 2,
                           (intptr_t)1 << 32, ((intptr_t)1 << 32) + 5,
                           (intptr_t)1 << 40, ((intptr_t)1 << 61) + 3};
    for (int p = 0; p < NPATHS; p++)
        for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
            huge_count_case(p, ks[i]);
}

/* The largest count a member may have: a is a member, its gc_refs after
 * subtract_refs still large, so it is reachable and its count exact. */
TEST(count_at_the_limit_is_a_member_and_keeps_its_count)
{
    for (int p = 0; p < NPATHS; p++) {
        rcgc_object *frozen;
        rcgc_runtime *rt = path_runtime(p, &frozen);
        rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
        t_link2(rt, a, b);
        rcgc_decref(rt, b);
        intptr_t k = GC_RC_COUNT_MAX - a->refcnt;
        a->refcnt += k; /* exactly GC_RC_COUNT_MAX */
        CHECK_EQ(path_collect(rt, p), 0);
        CHECK_EQ(a->refcnt, GC_RC_COUNT_MAX);
        CHECK_EQ(b->refcnt, 1);
        a->refcnt -= k;
        rcgc_decref(rt, a);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
        path_finish(rt, frozen);
    }
}

/* ---- immortal objects ---- */

TEST(immortal_objects_are_never_written)
{
    for (int p = 0; p < NPATHS; p++) {
        rcgc_object *frozen;
        rcgc_runtime *rt = path_runtime(p, &frozen);
        rcgc_object *x = t_node(rt, 10);  /* a GC object, made immortal */
        rcgc_object *y = t_leaf(rt, 11);  /* a non-GC one */
        CHECK_EQ(rcgc_object_make_immortal(rt, x), 0);
        CHECK_EQ(rcgc_object_make_immortal(rt, y), 0);
        /* garbage a <-> b and a live l, all referencing x and y */
        rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
        rcgc_object *l = t_node(rt, 3);
        t_link2(rt, a, b);
        rcgc_object *holders[] = {a, b, l};
        for (int i = 0; i < 3; i++) {
            CHECK_EQ(t_append(rt, holders[i], x), 0);
            CHECK_EQ(t_append(rt, holders[i], y), 0);
        }
        rcgc_decref(rt, a);
        rcgc_decref(rt, b);
        CHECK_EQ(x->refcnt, RCGC_IMMORTAL_REFCNT);
        CHECK_EQ(path_collect(rt, p), 2);
        CHECK_EQ(x->refcnt, RCGC_IMMORTAL_REFCNT);
        CHECK_EQ(y->refcnt, RCGC_IMMORTAL_REFCNT);
        CHECK_EQ(l->refcnt, 1);
        rcgc_decref(rt, l);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
        CHECK_EQ(x->refcnt, RCGC_IMMORTAL_REFCNT);
        path_finish(rt, frozen);
    }
}

/* ---- no borrowed word when other code runs ---- */

#define W 3000 /* items behind their holder: the mark stack grows past 256 */
#define NGARBAGE 8
/* With fail_allocs, blocks this large fail: the mark stack's growths (its
 * first is to 512 entries), not the small buffers of the other phases. */
#define FAIL_FROM (512 * sizeof(void *))

static struct watch {
    rcgc_object *objs[W + 8];
    int n;
    long looks;      /* hooks that looked */
    long borrowed;   /* ... and found a borrowed word */
    long alloc_hooks; /* allocator calls during a collection */
    int in_collection;
    int fail_allocs; /* the allocator fails during a collection */
    rcgc_runtime *rt;
    rcgc_allocator inner;
} w;

static void look(const char *where)
{
    w.looks++;
    for (int i = 0; i < w.n; i++) {
        if (w.objs[i] != NULL && gc_rc_word_is_member(w.objs[i]->refcnt)) {
            if (w.borrowed++ == 0)
                fprintf(stderr, "  borrowed word seen by %s: object %d\n",
                        where, i);
            return;
        }
    }
}

static void *h_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (w.in_collection) {
        w.alloc_hooks++;
        look("the allocator");
        if (w.fail_allocs && size >= FAIL_FROM) return NULL;
    }
    return w.inner.malloc(w.inner.ctx, size);
}

static void *h_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    if (w.in_collection) {
        w.alloc_hooks++;
        look("the allocator");
        if (w.fail_allocs && size >= FAIL_FROM / (n ? n : 1)) return NULL;
    }
    return w.inner.calloc(w.inner.ctx, n, size);
}

static void *h_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    if (w.in_collection) {
        w.alloc_hooks++;
        look("the allocator");
        if (w.fail_allocs && size >= FAIL_FROM) return NULL;
    }
    return w.inner.realloc(w.inner.ctx, p, size);
}

static void h_free(void *ctx, void *p)
{
    (void)ctx;
    if (w.in_collection) look("the allocator's free");
    w.inner.free(w.inner.ctx, p);
}

static int on_gc(rcgc_runtime *rt, rcgc_gc_event event,
                 const rcgc_gc_info *info, void *ctx)
{
    (void)info;
    (void)ctx;
    look("a gc callback");
    CHECK_EQ(rcgc_gc_check(rt), 0);
    w.in_collection = event == RCGC_GC_START;
    return 0;
}

static int on_finalize(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    look("a finalizer");
    CHECK_EQ(rcgc_gc_check(rt), 0);
    return 0;
}

static int on_weakref(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    look("a weak reference callback");
    CHECK_EQ(rcgc_gc_check(rt), 0);
    return 0;
}

/* W items, then their holder (kept alive by us): the cursor passes every
 * item unreached, then reaches them all through the holder, from behind
 * (the mark stack).  Around them, a garbage cycle of finalizer nodes and a
 * weakly referenced garbage node with a callback. */
static void calls_out_case(int path, int fail)
{
    rcgc_object *frozen;
    rcgc_runtime *rt = path_runtime(path, &frozen);
    memset(&w, 0, sizeof w);
    w.rt = rt;
    rcgc_heap *h = rcgc_runtime_heap(rt);
    CHECK_EQ(rcgc_heap_get_allocator(h, RCGC_DOMAIN_MEM, &w.inner), 0);
    rcgc_allocator hook = {NULL, h_malloc, h_calloc, h_realloc, h_free};
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_MEM, &hook), 0);
    CHECK_EQ(rcgc_gc_callback_add(rt, on_gc, NULL), 0);

    rcgc_object *g[NGARBAGE];
    for (int i = 0; i < NGARBAGE; i++) {
        g[i] = t_new(rt, &t_fnode_type, 100 + i);
        CHECK(g[i] != NULL);
        t_as(g[i])->on_finalize = on_finalize;
    }
    for (int i = 0; i < NGARBAGE; i++)
        CHECK_EQ(t_append(rt, g[i], g[(i + 1) % NGARBAGE]), 0);
    rcgc_object *items[W];
    for (int i = 0; i < W; i++) {
        items[i] = t_node(rt, i);
        w.objs[w.n++] = items[i];
    }
    rcgc_object *holder = t_node(rt, -3);
    w.objs[w.n++] = holder;
    for (int i = 0; i < W; i++) CHECK_EQ(t_append_steal(rt, holder, items[i]), 0);
    rcgc_object *target = t_wnode(rt, 200), *other = t_wnode(rt, 201);
    t_link2(rt, target, other);
    rcgc_object *wr = rcgc_weakref_new(rt, target, on_weakref, NULL);
    CHECK(wr != NULL);
    rcgc_decref(rt, target);
    rcgc_decref(rt, other);
    for (int i = 0; i < NGARBAGE; i++) rcgc_decref(rt, g[i]);
    /* Only live objects are watched (the garbage is freed during the
     * collection); every member of young is borrowed in the same window,
     * so a call out in it shows on them. */

    w.fail_allocs = fail;
    rcgc_ssize got = path_collect(rt, path);
    w.fail_allocs = 0;
    w.in_collection = 0;
    CHECK_EQ(got, NGARBAGE + 2);
    if (w.borrowed != 0)
        t_fail(__FILE__, __LINE__, "%s%s: %ld of %ld looks found a borrowed "
               "reference count", path_name[path], fail ? " (allocations fail)" : "",
               w.borrowed, w.looks);
    /* finalizers, the weak reference callback, two gc callbacks */
    CHECK(w.looks >= NGARBAGE + 3);
    /* The split's mark step grows its stack here (the scan needs none). */
    if (path != PATH_SCAN) CHECK(w.alloc_hooks >= 1);
    for (int i = 0; i < W; i++) CHECK_EQ(items[i]->refcnt, 1);
    CHECK_EQ(holder->refcnt, 1);
    CHECK_EQ(rcgc_weakref_get(rt, wr), NULL);
    CHECK_EQ(rcgc_gc_check(rt), 0);

    w.n = 0;
    CHECK_EQ(rcgc_heap_set_allocator(h, RCGC_DOMAIN_MEM, &w.inner), 0);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, holder);
    path_finish(rt, frozen);
}

TEST(no_reference_count_is_borrowed_when_other_code_runs)
{
    for (int p = 0; p < NPATHS; p++) {
        calls_out_case(p, 0);
        calls_out_case(p, 1);
        if (t_failures) {
            fprintf(stderr, "  (path %s)\n", path_name[p]);
            return;
        }
    }
}

/* ---- the checker ---- */

TEST(check_reports_a_borrowed_word)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    intptr_t saved = a->refcnt;
    a->refcnt = GC_RC_MEMBER | GC_RC_ONE | saved; /* a member, gc_refs 0 */
    CHECK_EQ(rcgc_gc_check(rt), RCGC_ECORRUPT);
    a->refcnt = saved;
    /* A count of 2^32 and more outside a collection is no scratch. */
    a->refcnt = saved + ((intptr_t)1 << 32);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    a->refcnt = saved;
    rcgc_decref(rt, a);
    t_finish(rt);
}

TEST_MAIN(T(huge_count_in_a_cycle_is_a_root_and_keeps_its_count),
          T(count_at_the_limit_is_a_member_and_keeps_its_count),
          T(immortal_objects_are_never_written),
          T(no_reference_count_is_borrowed_when_other_code_runs),
          T(check_reports_a_borrowed_word))

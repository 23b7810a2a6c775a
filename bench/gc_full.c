/*
 * gc_full.c - cost of one full collection per tracked object, rcgc side.
 *
 *   gc_full SHAPE N [STEADY]
 *
 * SHAPE is "chain", "pairs" or "tree", N the number of objects (even for
 * pairs),
 * STEADY the number of steady-state collections to time (default 1).  The
 * program mirrors bench/gc_full.py (CPython 3.11 with lists) step by step:
 *
 *   chain  N nodes, each holding a reference to the previous one; the newest
 *          (the head) is kept, and so is the oldest (the tail).
 *   pairs  N/2 two-node cycles a <-> b, each a held by one outer holder
 *          object (1 extra tracked object, as CPython's outer list).
 *   tree   a balanced binary tree of N nodes built children-first, as the
 *          binary-trees benchmark's bottomUpTree: both subtrees of a node are
 *          allocated before the node (post-order), so the root is the newest
 *          object; the root is kept.
 *
 * then, with automatic collection disabled (gc_enabled = 0, as gc.disable()):
 *
 *   alive_first   rcgc_gc_collect(rt, 2) right after building: everything is
 *                 still in generation 0 and reachable; must return 0.
 *   alive_steady  STEADY further full collections (everything in gen 2);
 *                 each must return 0 and is printed as its own line.
 *   garbage       chain: the tail is linked back to the head and both are
 *                 dropped (one N-node cycle); pairs: the holder is dropped
 *                 (freed by reference counting, leaving N/2 cycles); tree:
 *                 the leftmost leaf (the oldest node) takes a reference to
 *                 the root, which is dropped (one cycle down the left spine,
 *                 the rest of the tree hanging off it).  The
 *                 collection must return N and free everything.
 *
 * Each step prints one JSON object per line on stdout: the wall time of the
 * rcgc_gc_collect call (CLOCK_MONOTONIC), ns per object (time / N), the
 * thread's CPU time per object over the same call (cpu_ns_per_obj), the
 * value the call returned, the expected value, and the library's own phase
 * times for that collection.  A "build" line gives the memory numbers: bytes
 * requested per node (the pool allocator's statistics: objects come from the
 * runtime's default heap, as in a program; with GC_FULL_MALLOC=1 in the
 * environment every block goes through a counting rcgc_allocator on the C
 * library instead),
 * the client payload of a node, their difference (the per-object overhead:
 * rcgc_object header + collector header) and the RSS growth per object.
 *
 * Exit status: 0 when every collection returned what it must, 2 when one did
 * not, 1 on a usage or allocation error.
 */
#define _GNU_SOURCE /* malloc_usable_size */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rcgc.h"
#define BENCH_NAME "gc_full"
#include "benchutil.h"

/* The node (header + two reference slots) is benchutil.h's. */

/* ---- the holder of the pairs: a fixed array of references ---- */

typedef struct holder {
    rcgc_object ob;
    rcgc_ssize n;
    rcgc_object *items[];
} holder;

static int holder_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    holder *h = (holder *)self;
    for (rcgc_ssize i = 0; i < h->n; i++) RCGC_VISIT(h->items[i]);
    return 0;
}

static void holder_clear(rcgc_runtime *rt, rcgc_object *self)
{
    holder *h = (holder *)self;
    while (h->n > 0) { /* last to first, as a Python list */
        rcgc_ssize i = --h->n;
        RCGC_CLEAR(rt, h->items[i]);
    }
}

static const rcgc_type holder_type = {
    .name = "holder",
    .size = sizeof(holder),
    .flags = RCGC_TYPE_GC,
    .traverse = holder_traverse,
    .clear = holder_clear};

/* ---- a counting allocator (as cheap as the default libc hooks) ---- */

typedef struct counting {
    uint64_t bytes;  /* bytes requested by malloc, calloc, realloc */
    uint64_t usable; /* malloc_usable_size of what malloc and calloc gave */
    uint64_t blocks; /* malloc + calloc calls that succeeded */
    uint64_t frees;
} counting;

static void *c_malloc(void *ctx, size_t size)
{
    counting *c = ctx;
    void *p = malloc(size);
    if (p != NULL) {
        c->bytes += size;
        c->usable += malloc_usable_size(p);
        c->blocks++;
    }
    return p;
}

static void *c_calloc(void *ctx, size_t nelem, size_t elsize)
{
    counting *c = ctx;
    void *p = calloc(nelem, elsize);
    if (p != NULL) {
        c->bytes += nelem * elsize;
        c->usable += malloc_usable_size(p);
        c->blocks++;
    }
    return p;
}

static void *c_realloc(void *ctx, void *ptr, size_t size)
{
    counting *c = ctx;
    void *p = realloc(ptr, size);
    if (p != NULL) c->bytes += size;
    return p;
}

static void c_free(void *ctx, void *ptr)
{
    counting *c = ctx;
    if (ptr != NULL) c->frees++;
    free(ptr);
}

/* Bytes of the pool allocator's blocks in use (0 without it). */
static size_t pool_bytes(rcgc_runtime *rt)
{
    rcgc_pymalloc *pm = rcgc_heap_pymalloc(rcgc_runtime_heap(rt));
    if (pm == NULL) return 0;
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    return st.allocated_bytes;
}

/* ---- helpers ---- */


/* A balanced tree of n >= 1 nodes, children first: the left subtree gets
 * (n - 1) / 2 nodes, the right one the rest.  Recursion depth log2(n). */
static rcgc_object *build_tree(rcgc_runtime *rt, long n)
{
    rcgc_object *left = NULL, *right = NULL;
    long nl = (n - 1) / 2, nr = n - 1 - nl;
    if (nl > 0) left = build_tree(rt, nl);
    if (nr > 0) right = build_tree(rt, nr);
    rcgc_object *o = new_node(rt);
    ((node *)o)->ref[0] = left; /* the node owns both */
    ((node *)o)->ref[1] = right;
    return o;
}

static const char *shape;
static long n_objects;
static int failures;

/* Time one full collection and print its line. */
static void timed_collect(rcgc_runtime *rt, const char *bench_case, int rep,
                          rcgc_ssize expected)
{
    rcgc_gc_stats before[RCGC_NUM_GENERATIONS], after[RCGC_NUM_GENERATIONS];
    rcgc_runtime_stats rs;
    rcgc_gc_get_stats(rt, before);
    uint64_t c0 = cpu_now_ns();
    uint64_t t0 = now_ns();
    rcgc_ssize got = rcgc_gc_collect(rt, 2);
    uint64_t t1 = now_ns();
    uint64_t c1 = cpu_now_ns();
    rcgc_gc_get_stats(rt, after);
    rcgc_runtime_get_stats(rt, &rs);
    int ok = got == expected;
    if (!ok) failures++;
    uint64_t ns = t1 - t0;
    printf("{\"system\": \"rcgc\", \"shape\": \"%s\", \"n\": %ld, "
           "\"case\": \"%s\", \"rep\": %d, \"ns\": %llu, "
           "\"ns_per_obj\": %.3f, \"cpu_ns_per_obj\": %.3f, "
           "\"collected\": %td, \"expected\": %td, "
           "\"ok\": %s, \"tracked_after\": %td, \"objects_after\": %td, "
           "\"phases_ns\": {",
           shape, n_objects, bench_case, rep, (unsigned long long)ns,
           (double)ns / (double)n_objects,
           (double)(c1 - c0) / (double)n_objects, got, expected,
           ok ? "true" : "false", rs.tracked, rs.objects);
    int first = 1;
    for (int p = 0; p < RCGC_PHASE_COUNT; p++) {
        uint64_t d = after[2].phase_ns[p] - before[2].phase_ns[p];
        if (d == 0) continue;
        printf("%s\"%s\": %llu", first ? "" : ", ", rcgc_gc_phase_name(p),
               (unsigned long long)d);
        first = 0;
    }
    printf("}}\n");
    fflush(stdout);
    if (!ok)
        fprintf(stderr, "gc_full: %s %s N=%ld: collect returned %td, "
                        "expected %td\n",
                shape, bench_case, n_objects, got, expected);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 ||
        (strcmp(argv[1], "chain") != 0 && strcmp(argv[1], "pairs") != 0 &&
         strcmp(argv[1], "tree") != 0)) {
        fprintf(stderr, "usage: %s chain|pairs|tree N [STEADY]\n", argv[0]);
        return 1;
    }
    shape = argv[1];
    n_objects = atol(argv[2]);
    int steady = argc > 3 ? atoi(argv[3]) : 1;
    int pairs = strcmp(shape, "pairs") == 0;
    int tree = strcmp(shape, "tree") == 0;
    if (n_objects < 2 || (pairs && n_objects % 2 != 0) || steady < 0) {
        fprintf(stderr, "gc_full: N must be >= 2 (and even for pairs), "
                        "STEADY >= 0\n");
        return 1;
    }
    if (RCGC_DEBUG != 0)
        fprintf(stderr, "gc_full: warning: built with RCGC_DEBUG=%d; the "
                        "numbers are not those of a release build\n",
                RCGC_DEBUG);

    counting cnt = {0, 0, 0, 0};
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0; /* gc.disable() */
    int use_malloc = getenv("GC_FULL_MALLOC") != NULL;
    if (use_malloc) {
        cfg.allocator.ctx = &cnt;
        cfg.allocator.malloc = c_malloc;
        cfg.allocator.calloc = c_calloc;
        cfg.allocator.realloc = c_realloc;
        cfg.allocator.free = c_free;
    }
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) die("rcgc_runtime_new", NULL);

    /* ---- build ---- */
    rcgc_object *head = NULL, *tail = NULL, *hold = NULL;
    long n = n_objects;
    if (pairs) {
        size_t hsize = sizeof(holder) + (size_t)(n / 2) * sizeof(rcgc_object *);
        hold = rcgc_object_new_sized(rt, &holder_type, hsize);
        if (hold == NULL) die("rcgc_object_new_sized", rt);
        if (rcgc_object_track(rt, hold) != 0) die("rcgc_object_track", rt);
    }
    counting c0 = cnt;
    size_t pool0 = pool_bytes(rt);
    long rss0 = rss_bytes();
    uint64_t b0 = now_ns();
    if (pairs) {
        holder *h = (holder *)hold;
        for (long i = 0; i < n / 2; i++) {
            rcgc_object *a = new_node(rt);
            rcgc_object *b = new_node(rt);
            rcgc_incref(a);
            ((node *)b)->ref[0] = a;     /* b = [a] */
            ((node *)a)->ref[0] = b;     /* a.append(b): b's reference */
            h->items[h->n++] = a;        /* holder.append(a): a's reference */
        }
    } else if (tree) {
        head = build_tree(rt, n); /* head: the root */
        for (tail = head; ((node *)tail)->ref[0] != NULL;)
            tail = ((node *)tail)->ref[0]; /* tail: the leftmost leaf */
    } else {
        tail = new_node(rt);
        rcgc_incref(tail); /* the program keeps the tail too */
        head = tail;
        for (long i = 1; i < n; i++) {
            rcgc_object *o = new_node(rt);
            ((node *)o)->ref[0] = head; /* head = [head] */
            head = o;
        }
    }
    uint64_t b1 = now_ns();
    long rss1 = rss_bytes();
    if (!use_malloc) { /* pool blocks: requested == block size here */
        cnt.bytes += pool_bytes(rt) - pool0;
        cnt.usable = cnt.bytes;
        cnt.blocks += (uint64_t)n;
    }
    double bytes = (double)(cnt.bytes - c0.bytes) / (double)n;
    double payload = (double)(sizeof(node) - sizeof(rcgc_object));
    printf("{\"system\": \"rcgc\", \"shape\": \"%s\", \"n\": %ld, "
           "\"case\": \"build\", \"ns\": %llu, \"ns_per_obj\": %.3f, "
           "\"bytes_per_obj\": %.3f, \"payload_per_obj\": %.0f, "
           "\"overhead_per_obj\": %.3f, \"usable_per_obj\": %.3f, "
           "\"rss_per_obj\": %.3f, \"blocks_per_obj\": %.3f, "
           "\"object_header\": %zu, \"rcgc_debug\": %d, "
           "\"allocator\": \"%s\", \"version\": \"%s\"}\n",
           shape, n, (unsigned long long)(b1 - b0),
           (double)(b1 - b0) / (double)n, bytes, payload, bytes - payload,
           (double)(cnt.usable - c0.usable) / (double)n,
           (rss0 >= 0 && rss1 >= 0) ? (double)(rss1 - rss0) / (double)n : -1.0,
           (double)(cnt.blocks - c0.blocks) / (double)n, sizeof(rcgc_object),
           RCGC_DEBUG, use_malloc ? "malloc" : "pool", RCGC_VERSION_STRING);
    fflush(stdout);

    /* ---- alive ---- */
    timed_collect(rt, "alive_first", 0, 0);
    for (int i = 1; i <= steady; i++) timed_collect(rt, "alive_steady", i, 0);

    /* ---- garbage ---- */
    if (pairs) {
        rcgc_decref(rt, hold); /* del holder: freed by reference counting */
    } else if (tree) {
        ((node *)tail)->ref[0] = head; /* leaf.left = root: our reference */
    } else {
        ((node *)tail)->ref[0] = head; /* tail.append(head): our reference */
        rcgc_decref(rt, tail);         /* del head, tail */
    }
    timed_collect(rt, "garbage", 0, (rcgc_ssize)n);

    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    if (rs.objects != 0) {
        fprintf(stderr, "gc_full: %td objects still alive after the garbage "
                        "collection\n",
                rs.objects);
        failures++;
    }
    rcgc_teardown_report rep;
    if (rcgc_runtime_free(rt, &rep) != 0) {
        fprintf(stderr, "gc_full: teardown found %td alive, %td "
                        "uncollectable\n",
                rep.alive, rep.uncollectable);
        failures++;
    }
    print_vmhwm("rcgc");
    return failures ? 2 : 0;
}

/*
 * gc_boehm.c - cost of one full collection, Boehm GC side.
 *
 *   gc_boehm SHAPE N [STEADY]
 *
 * The Boehm-Demers-Weiser collector (libgc, GC_gcollect) on the shapes of
 * bench/gc_full.c (rcgc) and bench/gc_full.py (CPython), same steps and the
 * same output lines, so bench/suite_gc.py can put the three side by side:
 *
 *   chain  N nodes of two pointer fields (GC_MALLOC(16)), each pointing to
 *          the previous one; a global root keeps the newest (the head) and
 *          the oldest (the tail).
 *   pairs  N/2 two-node cycles a <-> b; every a is held by one holder array
 *          of N/2 pointers (GC_MALLOC, scanned), held by a global root.
 *
 * Set-up: GC_INIT, one GC_gcollect so the heap is set up, incremental mode
 * off (never enabled; checked), one marker thread (the program starts no
 * thread, so libgc's parallel markers are not started; GC_get_parallel is
 * printed), automatic collection off while building (GC_disable, the
 * counterpart of gc_enabled = 0 / gc.disable()).  Then, as gc_full:
 *
 *   alive_first   GC_gcollect() right after building (everything reachable).
 *   alive_steady  STEADY more GC_gcollect() calls.
 *   garbage       chain: tail->ref[0] = head, both roots cleared (one N-node
 *                 cycle); pairs: the holder's root cleared.
 *
 * What the time means: Boehm does not collect objects one by one.  A
 * GC_gcollect marks everything reachable from the roots (data segments,
 * registers, stack), then returns every block without a marked object to the
 * free block list at once; blocks with some marked objects are queued and
 * swept lazily by later allocations (not part of the timed call).  So the
 * live cases are the cost of marking N objects, and the garbage case is the
 * cost of marking nothing plus freeing the now-empty blocks.
 *
 * Instead of a count of collected objects, each line gives the heap's bytes
 * in use (GC_get_heap_size - GC_get_free_bytes: the blocks not on the free
 * block list, unmapped memory excluded) before and after
 * the call; "collected" is the reclaimed bytes divided by the bytes one
 * object took in the build, and "ok" says whether the collection did what it
 * must: alive cases keep (at least 99% of) the built bytes, the garbage case
 * reclaims at least 95% of them (conservative scanning could keep a few
 * blocks through a stale word).
 *
 * Exit status: 0 when every collection did what it must, 2 otherwise, 1 on a
 * usage or allocation error.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gc.h>

#include "benchutil.h"

/* Exported by libgc; declared in gc.h only under GC_THREADS. */
extern int GC_get_parallel(void);

typedef struct bnode {
    struct bnode *ref[2];
} bnode;

/* The roots (data segment: scanned by every collection). */
static bnode *volatile g_head;
static bnode *volatile g_tail;
static bnode **volatile g_holder;

static const char *shape;
static long n_objects;
static int failures;
static double build_bytes; /* heap bytes in use added by the build */

static bnode *new_node(void)
{
    bnode *o = GC_MALLOC(sizeof(bnode));
    if (o == NULL) {
        fprintf(stderr, "gc_boehm: GC_MALLOC failed\n");
        exit(1);
    }
    return o;
}

/* Built out of main so that no local of main holds a node. */
static __attribute__((noinline)) void build(int pairs, long n)
{
    if (pairs) {
        bnode **h = GC_MALLOC((size_t)(n / 2) * sizeof(bnode *));
        if (h == NULL) {
            fprintf(stderr, "gc_boehm: GC_MALLOC(holder) failed\n");
            exit(1);
        }
        g_holder = h;
        for (long i = 0; i < n / 2; i++) {
            bnode *a = new_node();
            bnode *b = new_node();
            b->ref[0] = a;
            a->ref[0] = b;
            h[i] = a;
        }
    } else {
        bnode *head = new_node();
        g_tail = head;
        for (long i = 1; i < n; i++) {
            bnode *o = new_node();
            o->ref[0] = head;
            head = o;
        }
        g_head = head;
    }
}

static __attribute__((noinline)) void make_garbage(int pairs)
{
    if (pairs) {
        g_holder = NULL;
    } else {
        g_tail->ref[0] = g_head; /* one N-node cycle */
        g_head = NULL;
        g_tail = NULL;
    }
}

/* Overwrite the stack below us, so no stale copy of a root survives there. */
static __attribute__((noinline)) void clear_stack(void)
{
    volatile uintptr_t buf[16 * 1024]; /* volatile: not a dead store */
    for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++) buf[i] = 0;
}

/* Bytes of the heap in use: heap size - free blocks (both exclude the
 * unmapped memory). */
static size_t in_use(void)
{
    return GC_get_heap_size() - GC_get_free_bytes();
}

static void timed_collect(const char *bench_case, int rep, int garbage)
{
    clear_stack();
    size_t use0 = in_use();
    size_t heap0 = GC_get_heap_size();
    uint64_t t0 = now_ns();
    GC_gcollect();
    uint64_t t1 = now_ns();
    size_t use1 = in_use();
    size_t heap1 = GC_get_heap_size();
    size_t free1 = GC_get_free_bytes();
    double reclaimed = (double)use0 - (double)use1;
    double per_obj = build_bytes / (double)n_objects;
    long collected = per_obj > 0 ? (long)(reclaimed / per_obj + 0.5) : 0;
    long expected = garbage ? n_objects : 0;
    int ok = garbage ? reclaimed >= 0.95 * build_bytes
                     : reclaimed <= 0.01 * build_bytes;
    if (!ok) failures++;
    uint64_t ns = t1 - t0;
    printf("{\"system\": \"boehm\", \"shape\": \"%s\", \"n\": %ld, "
           "\"case\": \"%s\", \"rep\": %d, \"ns\": %llu, "
           "\"ns_per_obj\": %.3f, \"collected\": %ld, \"expected\": %ld, "
           "\"ok\": %s, \"in_use_before\": %zu, \"in_use_after\": %zu, "
           "\"reclaimed_bytes\": %.0f, \"heap_before\": %zu, "
           "\"heap_after\": %zu, \"free_after\": %zu, "
           "\"unmapped_after\": %zu}\n",
           shape, n_objects, bench_case, rep, (unsigned long long)ns,
           (double)ns / (double)n_objects, collected, expected,
           ok ? "true" : "false", use0, use1, reclaimed, heap0, heap1, free1,
           GC_get_unmapped_bytes());
    fflush(stdout);
    if (!ok)
        fprintf(stderr, "gc_boehm: %s %s N=%ld: heap in use %zu -> %zu "
                        "bytes (built %.0f): %s\n",
                shape, bench_case, n_objects, use0, use1, build_bytes,
                garbage ? "garbage not reclaimed" : "live objects freed");
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 ||
        (strcmp(argv[1], "chain") != 0 && strcmp(argv[1], "pairs") != 0)) {
        fprintf(stderr, "usage: %s chain|pairs N [STEADY]\n", argv[0]);
        return 1;
    }
    shape = argv[1];
    n_objects = atol(argv[2]);
    int steady = argc > 3 ? atoi(argv[3]) : 1;
    int pairs = strcmp(shape, "pairs") == 0;
    if (n_objects < 2 || (pairs && n_objects % 2 != 0) || steady < 0) {
        fprintf(stderr, "gc_boehm: N must be >= 2 (and even for pairs), "
                        "STEADY >= 0\n");
        return 1;
    }

    GC_INIT();
    GC_gcollect(); /* heap set up before anything is timed */
    if (GC_is_incremental_mode()) {
        fprintf(stderr, "gc_boehm: incremental mode is on (GC_ENABLE_"
                        "INCREMENTAL in the environment?); refusing\n");
        return 1;
    }

    /* ---- build, automatic collection off ---- */
    GC_disable();
    size_t use0 = in_use();
    long rss0 = rss_bytes();
    uint64_t b0 = now_ns();
    build(pairs, n_objects);
    uint64_t b1 = now_ns();
    long rss1 = rss_bytes();
    size_t use1 = in_use();
    GC_enable();
    build_bytes = (double)use1 - (double)use0;
    double n = (double)n_objects;
    double payload = (double)sizeof(bnode);
    /* pairs: the holder's N/2 pointers are counted in the build bytes, as
     * the other systems count their holder in RSS growth, but not in the
     * per-node bytes. */
    double holder = pairs ? (double)(n_objects / 2) * sizeof(bnode *) : 0.0;
    printf("{\"system\": \"boehm\", \"shape\": \"%s\", \"n\": %ld, "
           "\"case\": \"build\", \"ns\": %llu, \"ns_per_obj\": %.3f, "
           "\"bytes_per_obj\": %.3f, \"payload_per_obj\": %.0f, "
           "\"overhead_per_obj\": %.3f, \"rss_per_obj\": %.3f, "
           "\"heap_size\": %zu, \"parallel\": %d, \"incremental\": %d, "
           "\"version\": \"%d.%d.%d\"}\n",
           shape, n_objects, (unsigned long long)(b1 - b0),
           (double)(b1 - b0) / n, (build_bytes - holder) / n, payload,
           (build_bytes - holder) / n - payload,
           (rss0 >= 0 && rss1 >= 0) ? (double)(rss1 - rss0) / n : -1.0,
           GC_get_heap_size(), GC_get_parallel(), GC_is_incremental_mode(),
           GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO);
    fflush(stdout);

    timed_collect("alive_first", 0, 0);
    for (int i = 1; i <= steady; i++) timed_collect("alive_steady", i, 0);

    make_garbage(pairs);
    timed_collect("garbage", 0, 1);
    print_vmhwm("boehm");
    return failures ? 2 : 0;
}

/*
 * gc_young.c - does a young collection cost in proportion to the young
 * objects, whatever the size of the old heap?  rcgc side (issue 17).
 *
 *   gc_young N_OLD [REPS [YOUNG [HOT]]]
 *
 * N_OLD old objects (default 10^4), REPS timed young collections (default
 * 2000), YOUNG objects per young collection (default 700, CPython's
 * threshold[0]), HOT old objects the young ones refer to (default 256; 0:
 * every old object, chosen at random each time).  bench/gc_young.py is the
 * CPython 3.11 twin (lists, gc.collect(0)), step by step.
 *
 * The old heap: a balanced binary tree of N_OLD two-slot nodes built
 * children-first (binary-trees' long-lived tree; the root is kept),
 * then promoted to the oldest generation by one full collection.  HOT of its
 * nodes, spread evenly over the creation order (every N_OLD / HOT-th), are
 * the old objects the young ones refer to: a program's young objects point
 * at a working set of old ones (its classes, caches, the parts of its data
 * it is using), and that working set stays in the cache whatever the heap's
 * size, so what the two sizes' times differ by is work the collector does in
 * proportion to the heap, not the cache misses of reading a random old
 * object (HOT = 0 measures those too).
 *
 * Each rep, automatic collection off (gc_enabled = 0, as gc.disable()):
 *
 *   build  YOUNG new tracked nodes: YOUNG / 14 pairs of two-node cycles
 *          (a <-> b) interleaved with chains of survivors; every survivor
 *          refers to the previous survivor (ref[0]) and every node, survivor
 *          or cycle member, to one hot old node (ref[1], a new reference).
 *          The program keeps the newest survivor (which keeps them all) and
 *          drops the pairs: 2 * (YOUNG / 14) objects of cyclic garbage
 *          (100 of 700).
 *   time   rcgc_gc_collect(rt, 0): the wall time (CLOCK_MONOTONIC) and the
 *          thread's CPU time (CLOCK_THREAD_CPUTIME_ID) of that call only.
 *          subtract_refs visits every young node's two children: a young one
 *          (a member of the collected set) and an old one (not a member).  It
 *          must return the number of garbage objects.
 *   drop   the survivors (now in generation 1) are freed by the decref of
 *          the newest; every 10th rep an untimed rcgc_gc_collect(rt, 1)
 *          follows, CPython's threshold[1] cadence.
 *
 * 50 untimed reps come first (warm-up).  The output is JSON lines: "build"
 * (the old heap: build time, the full collection's time, RSS growth per old
 * object, tracked count), "summary" (median, p10, p90, min, max of the wall
 * and CPU times in ns over the REPS collections, the median of the library's
 * per-phase times for generation 0, the collected count), and "end" (VmHWM).
 * Exit status 0; 2 when a collection returned a wrong count or teardown
 * found objects left; 1 on a usage or allocation error.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rcgc.h"
#define BENCH_NAME "gc_young"
#include "benchutil.h"

#define WARMUP 50
#define GEN1_EVERY 10 /* CPython's threshold[1] */


/* ---- the old heap ---- */

static long created;      /* old nodes created so far */
static long hot_stride;   /* every hot_stride-th old node is hot */
static rcgc_object **hot; /* borrowed: the tree owns them */
static long n_hot;
static long hot_cap;

/* A balanced tree of n >= 1 nodes, children first (gc_full.c's shape). */
static rcgc_object *build_tree(rcgc_runtime *rt, long n)
{
    rcgc_object *left = NULL, *right = NULL;
    long nl = (n - 1) / 2, nr = n - 1 - nl;
    if (nl > 0) left = build_tree(rt, nl);
    if (nr > 0) right = build_tree(rt, nr);
    rcgc_object *o = new_node(rt);
    ((node *)o)->ref[0] = left; /* the node owns both */
    ((node *)o)->ref[1] = right;
    if (created++ % hot_stride == 0 && n_hot < hot_cap) hot[n_hot++] = o;
    return o;
}

/* ---- the young objects ---- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static rcgc_object *pick_old(void)
{
    rng ^= rng << 13; /* xorshift64 */
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return hot[rng % (uint64_t)n_hot];
}

/* A young node referring to prev (a new reference of the caller's, or NULL)
 * and to an old node (a new reference taken here). */
static rcgc_object *young_node(rcgc_runtime *rt, rcgc_object *prev)
{
    rcgc_object *o = new_node(rt);
    rcgc_object *old = pick_old();
    rcgc_incref(old);
    ((node *)o)->ref[0] = prev;
    ((node *)o)->ref[1] = old;
    return o;
}

/* Build the young set; returns the newest survivor (one reference), the
 * pairs already dropped. */
static rcgc_object *build_young(rcgc_runtime *rt, long young, long pairs)
{
    long survivors = young - 2 * pairs;
    long per = pairs > 0 ? survivors / pairs : survivors;
    rcgc_object *head = NULL;
    long made = 0;
    for (long p = 0; p < pairs; p++) {
        for (long i = 0; i < per; i++, made++) head = young_node(rt, head);
        rcgc_object *a = young_node(rt, NULL);
        rcgc_object *b = young_node(rt, a); /* b owns our reference to a */
        rcgc_incref(b);
        ((node *)a)->ref[0] = b; /* a -> b: a new reference */
        rcgc_decref(rt, b);      /* del a, b: the pair is cyclic garbage */
    }
    for (; made < survivors; made++) head = young_node(rt, head);
    return head;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static uint64_t pct(const uint64_t *v, long n, int p)
{
    long k = (long)((p * n + 99) / 100);
    if (k < 1) k = 1;
    return v[k - 1];
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) goto usage;
    long n_old = atol(argv[1]);
    long reps = argc > 2 ? atol(argv[2]) : 2000;
    long young = argc > 3 ? atol(argv[3]) : 700;
    long want_hot = argc > 4 ? atol(argv[4]) : 256;
    if (n_old < 1 || reps < 1 || young < 2 || want_hot < 0) goto usage;
    if (RCGC_DEBUG != 0)
        fprintf(stderr, "gc_young: warning: built with RCGC_DEBUG=%d; the "
                        "numbers are not those of a release build\n",
                RCGC_DEBUG);
    long pairs = young / 14;
    int spread = want_hot == 0 || want_hot >= n_old;
    hot_cap = spread ? n_old : want_hot;
    hot_stride = spread ? 1 : n_old / want_hot;
    hot = malloc((size_t)hot_cap * sizeof *hot);
    uint64_t *wall = malloc((size_t)reps * sizeof *wall);
    uint64_t *cpu = malloc((size_t)reps * sizeof *cpu);
    uint64_t *phase = malloc((size_t)reps * RCGC_PHASE_COUNT * sizeof *phase);
    if (hot == NULL || wall == NULL || cpu == NULL || phase == NULL)
        die("malloc", NULL);

    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0; /* gc.disable() */
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) die("rcgc_runtime_new", NULL);

    /* ---- the old heap, promoted by a full collection ---- */
    long rss0 = rss_bytes();
    uint64_t b0 = now_ns();
    rcgc_object *root = build_tree(rt, n_old);
    uint64_t b1 = now_ns();
    long rss1 = rss_bytes();
    rcgc_ssize got = rcgc_gc_collect(rt, 2);
    uint64_t b2 = now_ns();
    int failures = 0;
    if (got != 0) {
        fprintf(stderr, "gc_young: the full collection returned %td\n", got);
        failures++;
    }
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    printf("{\"system\": \"rcgc\", \"case\": \"build\", \"n_old\": %ld, "
           "\"hot\": %ld, \"young\": %ld, \"garbage\": %ld, "
           "\"build_ns\": %llu, \"full_collect_ns\": %llu, "
           "\"rss_per_old\": %.2f, \"tracked\": %td, \"rcgc_debug\": %d, "
           "\"version\": \"%s\"}\n",
           n_old, n_hot, young, 2 * pairs, (unsigned long long)(b1 - b0),
           (unsigned long long)(b2 - b1),
           (rss0 >= 0 && rss1 >= 0) ? (double)(rss1 - rss0) / (double)n_old
                                    : -1.0,
           rs.tracked, RCGC_DEBUG, RCGC_VERSION_STRING);
    fflush(stdout);

    /* ---- the young collections ---- */
    rcgc_ssize bad_got = 0;
    long bad = 0;
    for (long r = -WARMUP; r < reps; r++) {
        rcgc_object *head = build_young(rt, young, pairs);
        rcgc_gc_stats before[RCGC_NUM_GENERATIONS];
        rcgc_gc_stats after[RCGC_NUM_GENERATIONS];
        rcgc_gc_get_stats(rt, before);
        uint64_t c0 = cpu_now_ns();
        uint64_t t0 = now_ns();
        got = rcgc_gc_collect(rt, 0);
        uint64_t t1 = now_ns();
        uint64_t c1 = cpu_now_ns();
        rcgc_gc_get_stats(rt, after);
        if (got != 2 * pairs) {
            bad++;
            bad_got = got;
        }
        if (r >= 0) {
            wall[r] = t1 - t0;
            cpu[r] = c1 - c0;
            for (int p = 0; p < RCGC_PHASE_COUNT; p++)
                phase[(size_t)p * (size_t)reps + (size_t)r] =
                    after[0].phase_ns[p] - before[0].phase_ns[p];
        }
        rcgc_decref(rt, head); /* the survivors, now in generation 1 */
        if ((r + WARMUP + 1) % GEN1_EVERY == 0) rcgc_gc_collect(rt, 1);
    }
    if (bad) {
        fprintf(stderr, "gc_young: %ld of %ld young collections returned "
                        "a wrong count (last %td, expected %ld)\n",
                bad, reps + WARMUP, bad_got, 2 * pairs);
        failures++;
    }

    qsort(wall, (size_t)reps, sizeof *wall, cmp_u64);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp_u64);
    printf("{\"system\": \"rcgc\", \"case\": \"summary\", \"n_old\": %ld, "
           "\"hot\": %ld, \"young\": %ld, \"reps\": %ld, \"collected\": %ld, "
           "\"ok\": %s, \"median_ns\": %llu, \"p10_ns\": %llu, "
           "\"p90_ns\": %llu, \"min_ns\": %llu, \"max_ns\": %llu, "
           "\"cpu_median_ns\": %llu, \"cpu_p10_ns\": %llu, "
           "\"cpu_p90_ns\": %llu, \"phases_median_ns\": {",
           n_old, n_hot, young, reps, 2 * pairs, bad ? "false" : "true",
           (unsigned long long)pct(wall, reps, 50),
           (unsigned long long)pct(wall, reps, 10),
           (unsigned long long)pct(wall, reps, 90),
           (unsigned long long)wall[0], (unsigned long long)wall[reps - 1],
           (unsigned long long)pct(cpu, reps, 50),
           (unsigned long long)pct(cpu, reps, 10),
           (unsigned long long)pct(cpu, reps, 90));
    int first = 1;
    for (int p = 0; p < RCGC_PHASE_COUNT; p++) {
        uint64_t *v = phase + (size_t)p * (size_t)reps;
        qsort(v, (size_t)reps, sizeof *v, cmp_u64);
        if (v[reps - 1] == 0) continue;
        printf("%s\"%s\": %llu", first ? "" : ", ", rcgc_gc_phase_name(p),
               (unsigned long long)pct(v, reps, 50));
        first = 0;
    }
    printf("}}\n");
    fflush(stdout);

    /* ---- teardown ---- */
    rcgc_decref(rt, root);
    rcgc_runtime_get_stats(rt, &rs);
    if (rs.objects != 0) {
        fprintf(stderr, "gc_young: %td objects alive after dropping the "
                        "old heap\n",
                rs.objects);
        failures++;
    }
    rcgc_teardown_report rep;
    if (rcgc_runtime_free(rt, &rep) != 0) {
        fprintf(stderr, "gc_young: teardown found %td alive, %td "
                        "uncollectable\n",
                rep.alive, rep.uncollectable);
        failures++;
    }
    free(hot);
    free(wall);
    free(cpu);
    free(phase);
    print_vmhwm("rcgc");
    return failures ? 2 : 0;
usage:
    fprintf(stderr, "usage: %s N_OLD [REPS [YOUNG [HOT]]]  (N_OLD >= 1, "
                    "REPS >= 1, YOUNG >= 2, HOT >= 0)\n",
            argv[0]);
    return 1;
}

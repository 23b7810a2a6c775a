/*
 * gc_pause.c - pause times of automatic collections under a steady
 * allocation workload, rcgc side (bench/gc_pause.py is CPython's, step for
 * step the same workload with lists).
 *
 *   gc_pause LIVE ITERS [MEDIUM]
 *
 * Automatic collection on with CPython's default thresholds (700, 10, 10),
 * collections run inside the allocating call (RCGC_GC_SYNC, CPython 3.11),
 * under the library's default policy (RCGC_BENCH_POLICY=cpython311 or
 * adaptive in the environment chooses; the output names it).
 *
 *   long-lived heap  LIVE nodes (two reference slots) as a complete binary
 *                    tree (node i -> 2i+1, 2i+2), built with automatic
 *                    collection off, then one full collection (so it sits in
 *                    generation 2) and automatic collection on.
 *   each iteration   1. a temporary: a chain of 4 nodes, built and dropped
 *                       (freed by reference counting);
 *                    2. cyclic garbage: a 2-cycle a <-> b, dropped;
 *                    3. a medium-lived node stored in slot i % MEDIUM of a
 *                       table (default 5,000 slots), replacing (and freeing)
 *                       the one stored MEDIUM iterations ago: these survive
 *                       young collections and reach generation 2, which is
 *                       what eventually triggers full collections (3.11's
 *                       long_lived_pending > long_lived_total / 4 rule).
 *
 * Every collection is timed by a gc callback (start/stop, CLOCK_MONOTONIC)
 * and recorded with its generation, together with the thread's CPU time
 * over the same interval (CLOCK_THREAD_CPUTIME_ID: tells the collector's
 * time from preemption on a shared machine).  Output: one JSON line with
 * "pauses": [[generation, wall ns, cpu ns], ...], the loop's wall time, the number of
 * collections and the objects they found.  The unreachable objects found
 * must be exactly the 2-cycles (2 per iteration) not yet collected when the
 * loop ends; the program checks that after a final collection.
 *
 * Exit status 0, 2 on a wrong count, 1 on usage or allocation errors.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcgc.h"
#define BENCH_NAME "gc_pause"
#include "benchutil.h"

/* CPU time of this thread: a pause that is long in wall time but not in CPU
 * time was the machine's doing (preemption), not the collector's. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}


/* ---- the recorder: one entry per collection ---- */

typedef struct pause_log {
    uint64_t t0, c0;
    int recording;
    size_t n, cap;
    uint64_t *ns, *cpu;
    int *gen;
    rcgc_ssize found;
} pause_log;

static int on_gc(rcgc_runtime *rt, rcgc_gc_event event,
                 const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    pause_log *log = ctx;
    if (event == RCGC_GC_START) {
        log->c0 = cpu_ns();
        log->t0 = now_ns();
        return 0;
    }
    uint64_t d = now_ns() - log->t0;
    uint64_t c = cpu_ns() - log->c0;
    if (!log->recording) return 0;
    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 4096;
        uint64_t *ns = realloc(log->ns, cap * sizeof *ns);
        if (ns != NULL) log->ns = ns;
        uint64_t *cp = realloc(log->cpu, cap * sizeof *cp);
        if (cp != NULL) log->cpu = cp;
        int *gen = realloc(log->gen, cap * sizeof *gen);
        if (ns == NULL || cp == NULL || gen == NULL) die("realloc", NULL);
        log->gen = gen;
        log->cap = cap;
    }
    log->ns[log->n] = d;
    log->cpu[log->n] = c;
    log->gen[log->n] = info->generation;
    log->n++;
    log->found += info->collected + info->uncollectable;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s LIVE ITERS [MEDIUM]\n", argv[0]);
        return 1;
    }
    long live = atol(argv[1]);
    long iters = atol(argv[2]);
    long medium = argc > 3 ? atol(argv[3]) : 5000;
    if (live < 1 || iters < 1 || medium < 1) {
        fprintf(stderr, "gc_pause: LIVE, ITERS, MEDIUM must be >= 1\n");
        return 1;
    }
    if (RCGC_DEBUG != 0)
        fprintf(stderr, "gc_pause: warning: built with RCGC_DEBUG=%d\n",
                RCGC_DEBUG);

    rcgc_config cfg;
    rcgc_config_init(&cfg); /* thresholds 700, 10, 10; synchronous */
    const char *policy = bench_policy(&cfg); /* RCGC_BENCH_POLICY */
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) die("rcgc_runtime_new", NULL);
    int th[3];
    rcgc_gc_get_threshold(rt, th);

    /* ---- the long-lived heap ---- */
    rcgc_object **all = malloc((size_t)live * sizeof *all);
    rcgc_object **table = calloc((size_t)medium, sizeof *table);
    if (all == NULL || table == NULL) die("malloc", NULL);
    for (long i = 0; i < live; i++) all[i] = new_node(rt);
    for (long i = 0; i < live; i++) {
        node *p = (node *)all[i];
        if (2 * i + 1 < live) p->ref[0] = all[2 * i + 1];
        if (2 * i + 2 < live) p->ref[1] = all[2 * i + 2];
    }
    rcgc_object *root = all[0];
    free(all);
    rcgc_gc_collect(rt, 2);

    pause_log log;
    memset(&log, 0, sizeof log);
    if (rcgc_gc_callback_add(rt, on_gc, &log) != 0)
        die("rcgc_gc_callback_add", rt);
    log.recording = 1;
    rcgc_gc_enable(rt);

    /* ---- the workload ---- */
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        /* 1. tmp = [None]; tmp = [tmp]; tmp = [tmp]; tmp = [tmp]; del tmp */
        rcgc_object *tmp = new_node(rt);
        for (int k = 0; k < 3; k++) {
            rcgc_object *o = new_node(rt);
            ((node *)o)->ref[0] = tmp; /* our reference moves into o */
            tmp = o;
        }
        rcgc_decref(rt, tmp);
        /* 2. a = [None]; b = [a]; a[0] = b; del a, b */
        rcgc_object *a = new_node(rt);
        rcgc_object *b = new_node(rt);
        rcgc_incref(a);
        ((node *)b)->ref[0] = a;
        ((node *)a)->ref[0] = b; /* our reference to b moves into a */
        rcgc_decref(rt, a);
        /* 3. table[i % MEDIUM] = [None] */
        rcgc_object *m = new_node(rt);
        rcgc_object *old = table[i % medium];
        table[i % medium] = m;
        if (old != NULL) rcgc_decref(rt, old);
    }
    uint64_t t1 = now_ns();
    log.recording = 0;

    /* ---- check: every 2-cycle found once ---- */
    rcgc_ssize found_loop = log.found;
    rcgc_ssize last = rcgc_gc_collect(rt, 2);
    int ok = found_loop + last == 2 * (rcgc_ssize)iters;
    if (!ok)
        fprintf(stderr, "gc_pause: the collections found %td + %td objects, "
                        "expected %ld\n",
                found_loop, last, 2 * iters);

    size_t heap_peak = 0;
    (void)rcgc_runtime_heap_bytes(rt, &heap_peak);
    printf("{\"system\": \"rcgc\", \"policy\": \"%s\", \"heap_bytes_peak\": %zu, "
           "\"live\": %ld, \"iters\": %ld, "
           "\"medium\": %ld, \"threshold\": [%d, %d, %d], "
           "\"wall_ns\": %llu, \"collections\": %zu, \"found\": %td, "
           "\"found_after\": %td, \"ok\": %s, \"rcgc_debug\": %d, "
           "\"pauses\": [",
           policy, heap_peak, live, iters, medium, th[0], th[1], th[2],
           (unsigned long long)(t1 - t0), log.n, found_loop, last,
           ok ? "true" : "false", RCGC_DEBUG);
    for (size_t k = 0; k < log.n; k++)
        printf("%s[%d, %llu, %llu]", k ? ", " : "", log.gen[k],
               (unsigned long long)log.ns[k], (unsigned long long)log.cpu[k]);
    printf("]}\n");

    for (long i = 0; i < medium; i++)
        if (table[i] != NULL) rcgc_decref(rt, table[i]);
    free(table);
    rcgc_decref(rt, root);
    rcgc_gc_callback_remove(rt, on_gc, &log);
    free(log.ns);
    free(log.cpu);
    free(log.gen);
    rcgc_teardown_report rep;
    if (rcgc_runtime_free(rt, &rep) != 0) {
        fprintf(stderr, "gc_pause: teardown found %td alive\n", rep.alive);
        ok = 0;
    }
    return ok ? 0 : 2;
}

/*
 * gc_requests.c - a cycle-heavy request loop: the workload where a policy
 * that collects less often lets cyclic garbage pile up (CPython 3.14's
 * incremental collector, reverted in 3.14.5 for it).  Compares the
 * collection policies on peak memory, time and pauses.
 *
 *   gc_requests REQUESTS [NODES [BLOBS [BLOB_BYTES [LIVE]]]]
 *
 * Defaults: 100,000 requests of 200 nodes and 2 blobs of 16 KiB, over a
 * long-lived heap of 200,000 nodes.  RCGC_BENCH_POLICY=cpython311|adaptive
 * chooses the policy (unset: the library's default); automatic collection
 * on, thresholds (700, 10, 10), synchronous.
 *
 *   long-lived heap  LIVE nodes (two reference slots) in a complete binary
 *                    tree, built with automatic collection off, then one
 *                    full collection, as bench/gc_pause.c.
 *   each request     a request object holding the last of a chain of
 *                    NODES nodes and BLOBS blobs (the first ones, each
 *                    blob before its node), every one of which holds the
 *                    request too (a back reference: each is in a cycle
 *                    with it); a blob is one object of BLOB_BYTES bytes
 *                    more than a node (an instance larger than its type:
 *                    the big objects that object counts ignore).  One request in 100 leaves
 *                    its request object in a table of 1,000 slots (a
 *                    session cache), replacing, and so dropping, the one
 *                    stored 100,000 requests earlier.  Then the program drops
 *                    the request: everything else is cyclic garbage that
 *                    only the collector frees.
 *
 * Every collection is timed by a gc callback.  Output: one JSON line with
 * the policy, the wall time, the peak of the heap's bytes
 * (rcgc_runtime_heap_bytes), the peak resident set (VmHWM), collections per
 * generation, the longest pause and its CPU time, and whether the
 * collections found every request's garbage (checked after a last full
 * collection).  Exit status 0, 2 on a wrong count, 1 on usage or
 * allocation errors.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcgc.h"
#define BENCH_NAME "gc_requests"
#include "benchutil.h"

#define TABLE 1000
#define KEEP_EVERY 100

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static rcgc_object *new_obj(rcgc_runtime *rt, size_t size)
{
    rcgc_object *o = size == sizeof(node) ? rcgc_object_new(rt, &node_type)
                                          : rcgc_object_new_sized(rt, &node_type, size);
    if (o == NULL) die("rcgc_object_new", rt);
    return o;
}

/* A tracked node holding a and b (each a new reference, may be NULL). */
static rcgc_object *make(rcgc_runtime *rt, size_t size, rcgc_object *a,
                         rcgc_object *b)
{
    rcgc_object *o = new_obj(rt, size);
    ((node *)o)->ref[0] = a;
    ((node *)o)->ref[1] = b;
    if (rcgc_object_track(rt, o) != 0) die("rcgc_object_track", rt);
    return o;
}

typedef struct timing_log {
    uint64_t t0, c0, max_ns, max_cpu, total_ns;
    long n;
    rcgc_ssize found;
    int recording;
} timing_log;

static int on_gc(rcgc_runtime *rt, rcgc_gc_event event,
                 const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    timing_log *log = ctx;
    if (event == RCGC_GC_START) {
        log->c0 = cpu_ns();
        log->t0 = now_ns();
        return 0;
    }
    uint64_t d = now_ns() - log->t0, c = cpu_ns() - log->c0;
    if (!log->recording) return 0;
    log->n++;
    log->total_ns += d;
    if (d > log->max_ns) log->max_ns = d;
    if (c > log->max_cpu) log->max_cpu = c;
    log->found += info->collected + info->uncollectable;
    return 0;
}

/* One request: returns the request object (a new reference); the graph
 * hangs from it and refers back to it. */
static rcgc_object *request(rcgc_runtime *rt, long nodes, long blobs,
                            size_t blob_size, long *made)
{
    rcgc_object *req = make(rt, sizeof(node), NULL, NULL);
    rcgc_object *prev = NULL;
    for (long k = 0; k < nodes; k++) {
        if (k < blobs) { /* blob -> request (back), blob -> previous */
            rcgc_incref(req);
            prev = make(rt, blob_size, req, prev);
            (*made)++;
        }
        rcgc_incref(req);
        /* node -> request (back), node -> the previous node or blob */
        prev = make(rt, sizeof(node), req, prev);
        (*made)++;
    }
    ((node *)req)->ref[0] = prev; /* the request holds the last node */
    (*made)++;
    return req;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: %s REQUESTS [NODES [BLOBS [BLOB_BYTES [LIVE]]]]\n",
                argv[0]);
        return 1;
    }
    long requests = atol(argv[1]);
    long nodes = argc > 2 ? atol(argv[2]) : 200;
    long blobs = argc > 3 ? atol(argv[3]) : 2;
    long blob_bytes = argc > 4 ? atol(argv[4]) : 16384;
    long live = argc > 5 ? atol(argv[5]) : 200000;
    if (requests < 1 || nodes < 1 || blobs < 0 || blobs > nodes ||
        blob_bytes < 0 || live < 1) {
        fprintf(stderr, "gc_requests: REQUESTS, NODES, LIVE >= 1; "
                        "0 <= BLOBS <= NODES; BLOB_BYTES >= 0\n");
        return 1;
    }
    size_t blob_size = sizeof(node) + (size_t)blob_bytes;

    rcgc_config cfg;
    rcgc_config_init(&cfg);
    const char *policy = bench_policy(&cfg);
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) die("rcgc_runtime_new", NULL);

    /* ---- the long-lived heap ---- */
    rcgc_object **all = malloc((size_t)live * sizeof *all);
    rcgc_object **table = calloc(TABLE, sizeof *table);
    if (all == NULL || table == NULL) die("malloc", NULL);
    for (long i = 0; i < live; i++) all[i] = make(rt, sizeof(node), NULL, NULL);
    for (long i = 0; i < live; i++) {
        node *p = (node *)all[i];
        if (2 * i + 1 < live) p->ref[0] = all[2 * i + 1];
        if (2 * i + 2 < live) p->ref[1] = all[2 * i + 2];
    }
    rcgc_object *root = all[0];
    free(all);
    rcgc_gc_collect(rt, 2);
    size_t base_bytes = rcgc_runtime_heap_bytes(rt, NULL);

    timing_log log;
    memset(&log, 0, sizeof log);
    if (rcgc_gc_callback_add(rt, on_gc, &log) != 0)
        die("rcgc_gc_callback_add", rt);
    log.recording = 1;
    rcgc_gc_enable(rt);

    /* ---- the loop ---- */
    long made = 0, kept = 0, dropped_kept = 0;
    size_t peak = 0;
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    for (long i = 0; i < requests; i++) {
        rcgc_object *req = request(rt, nodes, blobs, blob_size, &made);
        if (i % KEEP_EVERY == 0) {
            long slot = (i / KEEP_EVERY) % TABLE;
            if (table[slot] != NULL) dropped_kept++;
            rcgc_object *old = table[slot];
            table[slot] = req; /* our reference moves to the table */
            kept++;
            if (old != NULL) rcgc_decref(rt, old);
        } else {
            rcgc_decref(rt, req);
        }
    }
    uint64_t t1 = now_ns(), c1 = cpu_ns();
    (void)rcgc_runtime_heap_bytes(rt, &peak);
    log.recording = 0;

    /* ---- check: every request not in the table was found once ---- */
    rcgc_ssize last = rcgc_gc_collect(rt, 2);
    long per_request = nodes + (blobs < nodes ? blobs : nodes) + 1;
    long expect = (requests - (kept - dropped_kept)) * per_request;
    int ok = log.found + last == expect;
    if (!ok)
        fprintf(stderr, "gc_requests: the collections found %td + %td objects, "
                        "expected %ld\n", log.found, last, expect);
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(rt, gs);

    for (long i = 0; i < TABLE; i++)
        if (table[i] != NULL) rcgc_decref(rt, table[i]);
    free(table);
    rcgc_decref(rt, root);
    rcgc_gc_callback_remove(rt, on_gc, &log);
    rcgc_teardown_report rep;
    if (rcgc_runtime_free(rt, &rep) != 0) {
        fprintf(stderr, "gc_requests: teardown found %td alive\n", rep.alive);
        ok = 0;
    }
    long kb = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
        fclose(f);
    }
    printf("{\"bench\": \"gc_requests\", \"system\": \"rcgc\", \"policy\": \"%s\", "
           "\"requests\": %ld, \"nodes\": %ld, \"blobs\": %ld, \"blob_bytes\": %ld, "
           "\"live\": %ld, \"objects\": %ld, \"wall_s\": %.4f, \"cpu_s\": %.4f, "
           "\"ns_per_object\": %.2f, \"heap_bytes_base\": %zu, \"heap_bytes_peak\": %zu, "
           "\"peak_rss\": %lld, \"collections\": [%td, %td, %td], \"gc_s\": %.4f, "
           "\"max_pause_ms\": %.3f, \"max_pause_cpu_ms\": %.3f, \"found\": %td, "
           "\"found_after\": %td, \"ok\": %s, \"rcgc_debug\": %d}\n",
           policy, requests, nodes, blobs, blob_bytes, live, made,
           (double)(t1 - t0) / 1e9, (double)(c1 - c0) / 1e9,
           (double)(t1 - t0) / (double)made, base_bytes, peak,
           kb < 0 ? -1LL : (long long)kb * 1024, gs[0].collections,
           gs[1].collections, gs[2].collections - 2, (double)log.total_ns / 1e9,
           (double)log.max_ns / 1e6, (double)log.max_cpu / 1e6, log.found, last,
           ok ? "true" : "false", RCGC_DEBUG);
    return ok ? 0 : 2;
}

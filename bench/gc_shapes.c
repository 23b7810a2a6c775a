/*
 * gc_shapes.c - pyperformance's gc shapes and bytes per tracked object, rcgc
 * side (bench/gc_shapes.py is CPython's).
 *
 *   gc_shapes collect [REPS [LIVE]]     pyperformance bm_gc_collect
 *   gc_shapes traversal [REPS [LIVE]]   pyperformance bm_gc_traversal
 *   gc_shapes memory [N]                bytes per tracked object
 *
 * collect: each rep runs an untimed full collection, builds 100 rings of 21
 *   nodes (a node holds next and prev, as pyperformance's Node), drops them
 *   and times the one full collection that frees them; it must return 2100.
 * traversal: 1,000 containers, level n holding n references to level n-1
 *   (499,500 edges) are built once; each rep runs an untimed full collection
 *   and then times one (pyperformance's loop), which must return 0.
 * Both keep a live heap of LIVE tracked objects (default 12,000) beside the
 *   shape, standing for CPython's own interpreter objects (about 12k tracked
 *   objects that pyperformance's collections also walk): LIVE nodes forming a
 *   complete binary tree held by one root.
 * Automatic collection is off (gc_enabled = 0); the Python side runs with
 *   gc.disable() too, so no young collection moves the objects in between.
 *
 * memory: N nodes of the gc_full node type (header + two reference slots,
 *   16 bytes of payload) are allocated and tracked; the pool allocator's
 *   statistics give the bytes of the blocks they took (blocks in use x block
 *   size).  bytes per object - payload = the per-object header bytes
 *   (rcgc_object header + whatever hidden header the block carries in front
 *   of it: the collector's, and at RCGC_DEBUG >= 1 the debug header, so the
 *   line says rcgc_debug).  What lives outside the blocks (per-slot side
 *   bytes, vectors of young objects, pool headers) is not in it: the line
 *   also gives the resident-set growth per object, right after the
 *   allocations (rss_per_obj) and after a full collection moved everything
 *   to the oldest generation (rss_per_obj_old), payload included, and the
 *   growth of rcgc_runtime_heap_bytes per object.
 *
 * Output: one JSON line per rep ("case": "collect"/"traversal", ns; for
 * traversal also cpu_ns, the thread's CPU time over the same collection;
 * collected, expected, ok) and a summary line ("case": "summary") with the
 * median; memory prints one line.  Exit status 0, 2 when a collection
 * returned the wrong count, 1 on usage or allocation errors.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rcgc.h"
#define BENCH_NAME "gc_shapes"
#include "benchutil.h"

/* The node (header + two reference slots) is benchutil.h's. */

/* ---- a variable-size container: n inline references (a Python list) ---- */

typedef struct vec {
    rcgc_object ob;
    rcgc_ssize n;
    rcgc_object *items[];
} vec;

static int vec_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    vec *v = (vec *)self;
    for (rcgc_ssize i = 0; i < v->n; i++) RCGC_VISIT(v->items[i]);
    return 0;
}

static void vec_clear(rcgc_runtime *rt, rcgc_object *self)
{
    vec *v = (vec *)self;
    while (v->n > 0) {
        rcgc_ssize i = --v->n;
        RCGC_CLEAR(rt, v->items[i]);
    }
}

static const rcgc_type vec_type = {
    .name = "vec",
    .size = sizeof(vec),
    .flags = RCGC_TYPE_GC,
    .traverse = vec_traverse,
    .clear = vec_clear};

/* ---- helpers ---- */


static rcgc_object *new_vec(rcgc_runtime *rt, rcgc_ssize n)
{
    size_t size = sizeof(vec) + (size_t)n * sizeof(rcgc_object *);
    rcgc_object *o = rcgc_object_new_sized(rt, &vec_type, size);
    if (o == NULL) die("rcgc_object_new_sized", rt);
    if (rcgc_object_track(rt, o) != 0) die("rcgc_object_track", rt);
    return o;
}

static size_t pool_bytes(rcgc_runtime *rt)
{
    rcgc_pymalloc *pm = rcgc_heap_pymalloc(rcgc_runtime_heap(rt));
    if (pm == NULL) return 0;
    rcgc_pymalloc_stats st;
    rcgc_pymalloc_get_stats(pm, &st);
    return st.allocated_bytes;
}

/* LIVE nodes as a complete binary tree (node i -> 2i+1, 2i+2); returns the
 * root (one reference, held by the caller). */
static rcgc_object *build_live_heap(rcgc_runtime *rt, long live)
{
    if (live <= 0) return NULL;
    rcgc_object **all = malloc((size_t)live * sizeof *all);
    if (all == NULL) die("malloc", NULL);
    for (long i = 0; i < live; i++) all[i] = new_node(rt);
    for (long i = 0; i < live; i++) { /* the parent's reference replaces ours */
        node *p = (node *)all[i];
        if (2 * i + 1 < live) p->ref[0] = all[2 * i + 1];
        if (2 * i + 2 < live) p->ref[1] = all[2 * i + 2];
    }
    rcgc_object *root = all[0];
    free(all);
    return root;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static rcgc_runtime *new_runtime(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) die("rcgc_runtime_new", NULL);
    return rt;
}

static int finish(rcgc_runtime *rt, int failures)
{
    rcgc_teardown_report rep;
    if (rcgc_runtime_free(rt, &rep) != 0) {
        fprintf(stderr, "gc_shapes: teardown found %td alive, %td "
                        "uncollectable\n",
                rep.alive, rep.uncollectable);
        failures++;
    }
    return failures ? 2 : 0;
}

#define CYCLES 100
#define LINKS 20
#define N_LEVELS 1000

static void link_next(node *a, node *b)
{
    /* a.next = b; b.prev = a (the previous values are NULL here) */
    rcgc_incref(&b->ob);
    a->ref[0] = &b->ob;
    rcgc_incref(&a->ob);
    b->ref[1] = &a->ob;
}

static void summary(const char *mode, uint64_t *ns, int reps, long live,
                    long edges, rcgc_runtime *rt, int failures)
{
    qsort(ns, (size_t)reps, sizeof *ns, cmp_u64);
    uint64_t med = reps % 2 ? ns[reps / 2]
                            : (ns[reps / 2 - 1] + ns[reps / 2]) / 2;
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    printf("{\"system\": \"rcgc\", \"case\": \"summary\", \"mode\": \"%s\", "
           "\"reps\": %d, \"median_ns\": %llu, \"min_ns\": %llu, "
           "\"max_ns\": %llu, \"live\": %ld, \"edges\": %ld, "
           "\"tracked\": %td, \"ok\": %s, \"rcgc_debug\": %d}\n",
           mode, reps, (unsigned long long)med, (unsigned long long)ns[0],
           (unsigned long long)ns[reps - 1], live, edges, rs.tracked,
           failures ? "false" : "true", RCGC_DEBUG);
}

static int run_collect(int reps, long live)
{
    rcgc_runtime *rt = new_runtime();
    rcgc_object *live_root = build_live_heap(rt, live);
    uint64_t *ns = calloc((size_t)reps, sizeof *ns);
    if (ns == NULL) die("calloc", NULL);
    int failures = 0;
    rcgc_ssize expected = CYCLES * (LINKS + 1);
    for (int r = 0; r < reps; r++) {
        rcgc_gc_collect(rt, 2);
        /* create_gc_cycles(100, 20): ring heads held by the caller's list */
        rcgc_object *heads[CYCLES];
        for (int c = 0; c < CYCLES; c++) {
            node *first = (node *)new_node(rt);
            heads[c] = &first->ob;
            node *cur = first;
            for (int i = 0; i < LINKS; i++) {
                node *next = (node *)new_node(rt);
                link_next(cur, next);
                if (cur != first) rcgc_decref(rt, &cur->ob);
                cur = next;
            }
            link_next(cur, first);
            rcgc_decref(rt, &cur->ob);
        }
        for (int c = 0; c < CYCLES; c++) rcgc_decref(rt, heads[c]);
        uint64_t t0 = now_ns();
        rcgc_ssize got = rcgc_gc_collect(rt, 2);
        uint64_t t1 = now_ns();
        ns[r] = t1 - t0;
        int ok = got == expected;
        if (!ok) {
            failures++;
            fprintf(stderr, "gc_shapes: collect rep %d returned %td, "
                            "expected %td\n",
                    r, got, expected);
        }
        printf("{\"system\": \"rcgc\", \"case\": \"collect\", \"rep\": %d, "
               "\"ns\": %llu, \"collected\": %td, \"expected\": %td, "
               "\"ok\": %s}\n",
               r, (unsigned long long)ns[r], got, expected,
               ok ? "true" : "false");
    }
    summary("collect", ns, reps, live, 0, rt, failures);
    free(ns);
    if (live_root != NULL) rcgc_decref(rt, live_root);
    return finish(rt, failures);
}

static int run_traversal(int reps, long live)
{
    rcgc_runtime *rt = new_runtime();
    rcgc_object *live_root = build_live_heap(rt, live);
    /* create_recursive_containers(1000) */
    rcgc_object *current = new_vec(rt, 0);
    long edges = 0;
    for (long n = 0; n < N_LEVELS; n++) {
        rcgc_object *nv = new_vec(rt, n);
        vec *v = (vec *)nv;
        for (long i = 0; i < n; i++) {
            rcgc_incref(current);
            v->items[i] = current;
        }
        v->n = n;
        edges += n;
        rcgc_decref(rt, current);
        current = nv;
    }
    uint64_t *ns = calloc((size_t)reps, sizeof *ns);
    if (ns == NULL) die("calloc", NULL);
    int failures = 0;
    for (int r = 0; r < reps; r++) {
        rcgc_gc_collect(rt, 2);
        uint64_t c0 = cpu_now_ns();
        uint64_t t0 = now_ns();
        rcgc_ssize got = rcgc_gc_collect(rt, 2);
        uint64_t t1 = now_ns();
        uint64_t c1 = cpu_now_ns();
        ns[r] = t1 - t0;
        int ok = got == 0;
        if (!ok) {
            failures++;
            fprintf(stderr, "gc_shapes: traversal rep %d returned %td, "
                            "expected 0\n",
                    r, got);
        }
        printf("{\"system\": \"rcgc\", \"case\": \"traversal\", \"rep\": %d, "
               "\"ns\": %llu, \"cpu_ns\": %llu, \"collected\": %td, "
               "\"expected\": 0, \"ok\": %s}\n",
               r, (unsigned long long)ns[r], (unsigned long long)(c1 - c0),
               got, ok ? "true" : "false");
    }
    summary("traversal", ns, reps, live, edges, rt, failures);
    free(ns);
    rcgc_decref(rt, current);
    if (live_root != NULL) rcgc_decref(rt, live_root);
    return finish(rt, failures);
}

static int run_memory(long n)
{
    rcgc_runtime *rt = new_runtime();
    rcgc_object **all = malloc((size_t)n * sizeof *all);
    if (all == NULL) die("malloc", NULL);
    /* its pages before rss0 (not 0: malloc + memset 0 may become calloc) */
    memset(all, 0xff, (size_t)n * sizeof *all);
    rcgc_runtime_stats s0, s1;
    rcgc_runtime_get_stats(rt, &s0);
    size_t p0 = pool_bytes(rt);
    size_t h0 = rcgc_runtime_heap_bytes(rt, NULL);
    long rss0 = rss_bytes();
    for (long i = 0; i < n; i++) all[i] = new_node(rt);
    long rss1 = rss_bytes();
    size_t p1 = pool_bytes(rt);
    size_t h1 = rcgc_runtime_heap_bytes(rt, NULL);
    rcgc_runtime_get_stats(rt, &s1);
    /* The steady state of long-lived objects: everything in the oldest
     * generation (whatever the collector keeps per young object is gone). */
    rcgc_ssize got = rcgc_gc_collect(rt, 2);
    long rss2 = rss_bytes();
    double bytes = (double)(p1 - p0) / (double)n;
    double payload = (double)(sizeof(node) - sizeof(rcgc_object));
    int known = rss0 >= 0 && rss1 >= 0 && rss2 >= 0;
    printf("{\"system\": \"rcgc\", \"case\": \"memory\", \"n\": %ld, "
           "\"bytes_per_obj\": %.3f, \"payload_per_obj\": %.0f, "
           "\"overhead_per_obj\": %.3f, \"object_header\": %zu, "
           "\"type_size\": %zu, \"heap_bytes_per_obj\": %.3f, "
           "\"rss_per_obj\": %.3f, \"rss_per_obj_old\": %.3f, "
           "\"tracked\": %td, \"collected\": %td, \"rcgc_debug\": %d, "
           "\"allocator\": \"%s\"}\n",
           n, bytes, payload, bytes - payload, sizeof(rcgc_object),
           sizeof(node), (double)(h1 - h0) / (double)n,
           known ? (double)(rss1 - rss0) / (double)n : -1.0,
           known ? (double)(rss2 - rss0) / (double)n : -1.0,
           s1.tracked - s0.tracked, got, RCGC_DEBUG,
           p1 > p0 ? "pool" : "none");
    for (long i = 0; i < n; i++) rcgc_decref(rt, all[i]);
    free(all);
    return finish(rt, p1 > p0 && got == 0 ? 0 : 1);
}

int main(int argc, char **argv)
{
    if (argc < 2) goto usage;
    if (RCGC_DEBUG != 0)
        fprintf(stderr, "gc_shapes: warning: built with RCGC_DEBUG=%d\n",
                RCGC_DEBUG);
    if (strcmp(argv[1], "memory") == 0) {
        long n = argc > 2 ? atol(argv[2]) : 1000000;
        if (n < 1) goto usage;
        return run_memory(n);
    }
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    long live = argc > 3 ? atol(argv[3]) : 12000;
    if (reps < 1 || live < 0) goto usage;
    if (strcmp(argv[1], "collect") == 0) return run_collect(reps, live);
    if (strcmp(argv[1], "traversal") == 0) return run_traversal(reps, live);
usage:
    fprintf(stderr, "usage: %s collect|traversal [REPS [LIVE]] | memory [N]\n",
            argv[0]);
    return 1;
}

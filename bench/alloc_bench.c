/*
 * alloc_bench.c - one allocator on a few workloads; bench/alloc_bench.py runs
 * it for every allocator and prints the comparison (bench/README.md,
 * docs/allocator.md), and bench/suite_alloc.py runs binary-trees and GCBench
 * for `make bench`.
 *
 * Built once per allocator (BENCH_RCGC, BENCH_MIMALLOC, BENCH_JEMALLOC,
 * BENCH_BOEHM, or none for glibc), so each binary holds exactly one
 * allocator:
 *
 *   alloc_bench_SYS bintree DEPTH    Benchmarks Game binary-trees, 16-byte nodes
 *   alloc_bench_SYS gcbench DEPTH    Ellis/Kovac/Boehm GCBench, 24-byte nodes;
 *                                    DEPTH = kStretchTreeDepth (18)
 *   alloc_bench_SYS sizemix OPS      16..512-byte blocks with random lifetimes
 *   alloc_bench_SYS frag N           N blocks, free a random 90 %, RSS given back
 *
 * and, in the rcgc binary only, the same two programs on rcgc objects (a GC
 * type with two references, refcounted, tracked, automatic collection on with
 * the default thresholds 700, 10, 10):
 *
 *   alloc_bench_rcgc bintree_obj DEPTH
 *   alloc_bench_rcgc gcbench_obj DEPTH
 *
 * Boehm GC (BENCH_BOEHM) allocates with GC_MALLOC and never frees (the
 * collector reclaims the trees); it runs bintree and gcbench only.
 *
 * Each run prints one JSON object on stdout.  bintree and gcbench check their
 * results (node counts, check sums) and exit with status 3 on a mismatch; the
 * rcgc object modes also fail when any object is left at teardown.
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(BENCH_RCGC)
#include "rcgc_mem.h"
#define SYSTEM "rcgc"
static rcgc_pymalloc *pm;
static void b_init(void)
{
    rcgc_pymalloc_config cfg;
    rcgc_pymalloc_config_init(&cfg);
    const char *retain = getenv("RCGC_RETAIN_FREE_ARENAS"); /* for tuning */
    if (retain != NULL) cfg.retain_free_arenas = atoi(retain);
    const char *percent = getenv("RCGC_RETAIN_FREE_PERCENT");
    if (percent != NULL) cfg.retain_free_percent = atoi(percent);
    pm = rcgc_pymalloc_new(&cfg);
    if (pm == NULL) abort();
}
#define B_MALLOC(n) rcgc_pymalloc_malloc(pm, (n))
#define B_FREE(p) rcgc_pymalloc_free(pm, (p))
static void b_trim(void)
{
    (void)rcgc_pymalloc_trim(pm);
}
#elif defined(BENCH_MIMALLOC)
#include <mimalloc.h>
#define SYSTEM "mimalloc"
static void b_init(void) {}
#define B_MALLOC(n) mi_malloc(n)
#define B_FREE(p) mi_free(p)
static void b_trim(void)
{
    mi_collect(true);
}
#elif defined(BENCH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define SYSTEM "jemalloc"
static void b_init(void) {}
#define B_MALLOC(n) malloc(n)
#define B_FREE(p) free(p)
#define STR_(x) #x
#define STR(x) STR_(x)
static void b_trim(void)
{
    (void)mallctl("arena." STR(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0);
}
#elif defined(BENCH_BOEHM)
#include <gc.h>
/* In gc.h only with GC_THREADS (which this single-threaded program does not
 * define); the library exports it either way.  0: no parallel marking. */
extern int GC_get_parallel(void);
#define SYSTEM "boehm"
#define B_NO_FREE 1 /* the collector reclaims garbage; nothing is freed */
static void b_init(void)
{
    GC_INIT();
}
#define B_MALLOC(n) GC_MALLOC(n)
#define B_FREE(p) ((void)(p))
#else
#include <malloc.h>
#define SYSTEM "glibc"
static void b_init(void) {}
#define B_MALLOC(n) malloc(n)
#define B_FREE(p) free(p)
static void b_trim(void)
{
    (void)malloc_trim(0);
}
#endif

/* ---- measurement ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct cpu {
    double user, sys;
} cpu;

static cpu cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    cpu c = {(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6};
    return c;
}

/* Peak RSS of this program: VmHWM, the high-water mark of the address space
 * made by exec.  ru_maxrss is not used because Linux carries the peak of the
 * process that forked us across exec: run from a driver with 100 MB
 * resident, a 2 MB program would report 100 MB. */
static long peak_rss_kb(void)
{
    long kb = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
        fclose(f);
    }
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

#ifndef B_NO_FREE /* frag only */
static double rss_mb(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    if (f != NULL) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}
#endif

static void *xmalloc(size_t n)
{
    void *p = B_MALLOC(n);
    if (p == NULL) {
        fprintf(stderr, "alloc_bench: out of memory\n");
        exit(1);
    }
    return p;
}


/* splitmix64 state (sizemix, frag; argv[3] sets it) */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* ---- reporting, shared by binary-trees and GCBench ---- */

typedef struct timing {
    cpu c0, c1;
    double t0, t1;
} timing;

static timing timing_start(void)
{
    timing t;
    t.c0 = cpu_now();
    t.t0 = now();
    t.c1 = t.c0;
    t.t1 = t.t0;
    return t;
}

/* The end of the timed part (before any teardown). */
static void timing_stop(timing *t)
{
    t->t1 = now();
    t->c1 = cpu_now();
}

static int exit_status; /* 3 after a failed check */

static void fail(const char *what, long got, long want)
{
    fprintf(stderr, "alloc_bench (%s): %s is %ld, must be %ld\n", SYSTEM, what,
            got, want);
    exit_status = 3;
}

/* One JSON object: the common fields; extra (may be "") is appended, with
 * its leading comma. */
static void report(const char *bench, int depth, long nodes, long check,
                   long expected, timing t, const char *extra)
{
    double secs = t.t1 - t.t0;
    double user = t.c1.user - t.c0.user, sys = t.c1.sys - t.c0.sys;
    printf("{\"bench\": \"%s\", \"system\": \"%s\", \"depth\": %d, "
           "\"nodes\": %ld, \"check\": %ld, \"expected\": %ld, \"ok\": %s, "
           "\"seconds\": %.4f, \"user\": %.4f, \"sys\": %.4f, "
           "\"ns_per_node\": %.3f, \"ns_per_node_user\": %.3f, "
           "\"peak_rss_mb\": %.1f%s}\n",
           bench, SYSTEM, depth, nodes, check, expected,
           exit_status == 0 ? "true" : "false", secs, user, sys,
           secs * 1e9 / (double)nodes, user * 1e9 / (double)nodes,
           (double)peak_rss_kb() / 1024.0, extra);
}

/* ---- binary-trees ---- */

/* The Benchmarks Game rules: a stretch tree of depth max + 1, a long-lived
 * tree of depth max, then for d = min, min + 2, ..., max, 2^(max - d + min)
 * trees of depth d; every tree is walked (its node count is the check). */
#define BT_MIN_DEPTH 4

static int bt_max_depth(int depth)
{
    return depth < BT_MIN_DEPTH + 2 ? BT_MIN_DEPTH + 2 : depth;
}

static long tree_size(int depth)
{
    return (2L << depth) - 1;
}

/* Nodes made, and the sum of the checks: 613,766,494 for depth 21. */
static long bt_expected(int max_depth)
{
    long n = tree_size(max_depth + 1) + tree_size(max_depth);
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2)
        n += (1L << (max_depth - d + BT_MIN_DEPTH)) * tree_size(d);
    return n;
}

typedef struct node {
    struct node *left, *right;
} node;

static long nodes_made;

static node *bottom_up(int depth)
{
    node *n = xmalloc(sizeof *n);
    nodes_made++;
    if (depth > 0) {
        n->left = bottom_up(depth - 1);
        n->right = bottom_up(depth - 1);
    } else {
        n->left = n->right = NULL;
    }
    return n;
}

static long item_check(const node *n)
{
    return n->left == NULL ? 1 : 1 + item_check(n->left) + item_check(n->right);
}

static void delete_tree(node *n)
{
#ifdef B_NO_FREE
    (void)n;
#else
    if (n->left != NULL) {
        delete_tree(n->left);
        delete_tree(n->right);
    }
    B_FREE(n);
#endif
}

/* What the binary's allocator adds to the JSON of bintree and gcbench. */
static const char *system_extra(void)
{
#ifdef B_NO_FREE
    static char buf[96];
    snprintf(buf, sizeof buf, ", \"gc_parallel\": %d, \"gc_collections\": %lu",
             GC_get_parallel(), (unsigned long)GC_get_gc_no());
    return buf;
#else
    return "";
#endif
}

static void bench_bintree(int max_depth)
{
    max_depth = bt_max_depth(max_depth);
    long check = 0;
    timing t = timing_start();
    node *stretch = bottom_up(max_depth + 1);
    check += item_check(stretch);
    delete_tree(stretch);
    node *long_lived = bottom_up(max_depth);
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + BT_MIN_DEPTH);
        for (long i = 0; i < iterations; i++) {
            node *tr = bottom_up(d);
            check += item_check(tr);
            delete_tree(tr);
        }
    }
    check += item_check(long_lived);
    delete_tree(long_lived);
    timing_stop(&t);
    long expected = bt_expected(max_depth);
    if (nodes_made != expected) fail("nodes made", nodes_made, expected);
    if (check != expected) fail("check", check, expected);
    report("bintree", max_depth, nodes_made, check, expected, t,
           system_extra());
}

/* ---- GCBench (Ellis, Kovac, Boehm) ---- */

/* GCBench.c's constants for DEPTH = kStretchTreeDepth = 18; a smaller DEPTH
 * scales the program down (--quick): long-lived and largest trees of depth
 * DEPTH - 2, the array 500000 * 2^(DEPTH - 18) doubles. */
typedef struct gcb_params {
    int stretch, long_lived, min, max;
    long array_size;
} gcb_params;

static gcb_params gcb_params_for(int depth)
{
    gcb_params p;
    if (depth < 8) depth = 8;
    p.stretch = depth;
    p.long_lived = depth - 2;
    p.min = 4;
    p.max = depth - 2;
    p.array_size = depth >= 18 ? 500000L << (depth - 18)
                               : 500000L >> (18 - depth);
    return p;
}

static long gcb_iters(const gcb_params *p, int depth)
{
    return 2 * tree_size(p->stretch) / tree_size(depth);
}

/* GCBench's TreeSize(i) = 2^(i+1) - 1 nodes; ~15.3 M for depth 18. */
static long gcb_expected(const gcb_params *p)
{
    long n = tree_size(p->stretch) + tree_size(p->long_lived);
    for (int d = p->min; d <= p->max; d += 2)
        n += 2 * gcb_iters(p, d) * tree_size(d);
    return n;
}

/* GCBench's Node0: two references and two ints, 24 bytes. */
typedef struct gnode {
    struct gnode *left, *right;
    int i, j;
} gnode;

static gnode *g_new(gnode *l, gnode *r)
{
    gnode *n = xmalloc(sizeof *n);
    nodes_made++;
    n->left = l;
    n->right = r;
    n->i = n->j = 0;
    return n;
}

/* Build tree top down, assigning to older objects. */
static void g_populate(int depth, gnode *n)
{
    if (depth <= 0) return;
    depth--;
    n->left = g_new(NULL, NULL);
    n->right = g_new(NULL, NULL);
    g_populate(depth, n->left);
    g_populate(depth, n->right);
}

/* Build tree bottom-up. */
static gnode *g_make_tree(int depth)
{
    if (depth <= 0) return g_new(NULL, NULL);
    gnode *l = g_make_tree(depth - 1);
    gnode *r = g_make_tree(depth - 1);
    return g_new(l, r);
}

static long g_count(const gnode *n)
{
    return n == NULL ? 0 : 1 + g_count(n->left) + g_count(n->right);
}

/* Where GCBench drops its last reference (C++ version: delete tempTree). */
static void g_free_tree(gnode *n)
{
#ifdef B_NO_FREE
    (void)n;
#else
    if (n == NULL) return;
    g_free_tree(n->left);
    g_free_tree(n->right);
    B_FREE(n);
#endif
}

static void bench_gcbench(int depth)
{
    gcb_params p = gcb_params_for(depth);
    long check = 0;
    timing t = timing_start();
    /* Stretch the memory space quickly. */
    gnode *tmp = g_make_tree(p.stretch);
    check += g_count(tmp);
    g_free_tree(tmp);
    /* A long-lived tree and a long-lived array, half filled. */
    gnode *long_lived = g_new(NULL, NULL);
    g_populate(p.long_lived, long_lived);
#ifdef B_NO_FREE
    double *array = GC_MALLOC_ATOMIC((size_t)p.array_size * sizeof(double));
    if (array == NULL) abort();
#else
    double *array = xmalloc((size_t)p.array_size * sizeof(double));
#endif
    for (long i = 0; i < p.array_size / 2; i++) array[i] = 1.0 / (double)i;
    for (int d = p.min; d <= p.max; d += 2) {
        long iters = gcb_iters(&p, d);
        for (long i = 0; i < iters; i++) { /* top down */
            tmp = g_new(NULL, NULL);
            g_populate(d, tmp);
            if (i == iters - 1) check += g_count(tmp) * 2 * iters;
            g_free_tree(tmp);
        }
        for (long i = 0; i < iters; i++) { /* bottom up */
            tmp = g_make_tree(d);
            if (i == iters - 1 && g_count(tmp) != tree_size(d))
                fail("bottom-up tree", g_count(tmp), tree_size(d));
            g_free_tree(tmp);
        }
    }
    check += g_count(long_lived);
    if (array[1000] != 1.0 / 1000) fail("array[1000] * 1000", (long)(array[1000] * 1000), 1);
    g_free_tree(long_lived);
#ifndef B_NO_FREE
    B_FREE(array);
#endif
    timing_stop(&t);
    long expected = gcb_expected(&p);
    if (nodes_made != expected) fail("nodes made", nodes_made, expected);
    if (check != expected) fail("check", check, expected);
    char extra[260];
    snprintf(extra, sizeof extra,
             ", \"stretch_depth\": %d, \"long_lived_depth\": %d, "
             "\"max_depth\": %d, \"array_size\": %ld, \"node_bytes\": %zu%s",
             p.stretch, p.long_lived, p.max, p.array_size, sizeof(gnode),
             system_extra());
    report("gcbench", depth, nodes_made, check, expected, t, extra);
}

#ifdef BENCH_RCGC
/* ---- the same two programs on rcgc objects ---- */

/* A GC type with two references (binary-trees) or two references and two
 * ints (GCBench): 16-byte rcgc_object header + payload, plus the hidden
 * 16-byte collector header. */
typedef struct onode {
    rcgc_object ob;
    struct onode *left, *right;
    int i, j; /* GCBench only: bintree_obj uses the smaller type below */
} onode;

static int onode_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    onode *n = (onode *)self;
    RCGC_VISIT(n->left);
    RCGC_VISIT(n->right);
    return 0;
}

static void onode_clear(rcgc_runtime *rt, rcgc_object *self)
{
    onode *n = (onode *)self;
    RCGC_CLEAR(rt, n->left);
    RCGC_CLEAR(rt, n->right);
}

/* binary-trees' node: header + left + right = 32 bytes. */
static const rcgc_type bt_node_type = {
    .name = "bt_node",
    .size = offsetof(onode, i),
    .flags = RCGC_TYPE_GC,
    .traverse = onode_traverse,
    .clear = onode_clear};

/* CPython's tuple trick (may_untrack): a node whose children cannot be part
 * of a cycle is untracked by the next collection that sees it survive, so
 * finished trees leave the collector's lists bottom-up.  Sound because a
 * node never changes after it is tracked.  Used by bintree_obj with
 * ALLOC_BENCH_UNTRACK=1 (a diagnostic variant, not the suite's rcgc row). */
static int onode_may_untrack(rcgc_object *self)
{
    onode *n = (onode *)self;
    return (n->left == NULL || !rcgc_may_be_tracked(&n->left->ob)) &&
           (n->right == NULL || !rcgc_may_be_tracked(&n->right->ob));
}

static const rcgc_type bt_node_untrack_type = {
    .name = "bt_node_untrack",
    .size = offsetof(onode, i),
    .flags = RCGC_TYPE_GC,
    .traverse = onode_traverse,
    .clear = onode_clear,
    .may_untrack = onode_may_untrack};

static const rcgc_type *bt_type = &bt_node_type;

/* GCBench's node: header + left + right + i + j = 40 bytes. */
static const rcgc_type gcb_node_type = {
    .name = "gcb_node",
    .size = sizeof(onode),
    .flags = RCGC_TYPE_GC,
    .traverse = onode_traverse,
    .clear = onode_clear};

static rcgc_runtime *ort;
static long big_objects; /* ALLOC_BENCH_BIG: objects beside the nodes */
static int ort_gc_enabled;
static const char *ort_policy = "";

/* CPython's defaults (automatic collection, thresholds 700, 10, 10);
 * ALLOC_BENCH_GC=0 in the environment turns automatic collection off, to see
 * what the collections cost (bench/suite_alloc.py --gc-off-note). */
static void rcgc_start(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    const char *gc = getenv("ALLOC_BENCH_GC");
    if (gc != NULL && strcmp(gc, "0") == 0) cfg.gc_enabled = 0;
    /* RCGC_BENCH_POLICY=cpython311|adaptive: the collection policy (unset:
     * the library's default) */
    const char *policy = getenv("RCGC_BENCH_POLICY");
    if (policy != NULL && strcmp(policy, "cpython311") == 0)
        cfg.gc_policy = RCGC_POLICY_CPYTHON311;
    else if (policy != NULL && strcmp(policy, "adaptive") == 0)
        cfg.gc_policy = RCGC_POLICY_ADAPTIVE;
    /* ALLOC_BENCH_MALLOC=1, objects from the C library
     * (use_pymalloc = 0: every GC object a registry object) */
    const char *plain = getenv("ALLOC_BENCH_MALLOC");
    if (plain != NULL && strcmp(plain, "1") == 0) cfg.heap.use_pymalloc = 0;
    ort_policy = cfg.gc_policy == RCGC_POLICY_ADAPTIVE ? "adaptive" : "cpython311";
    ort_gc_enabled = cfg.gc_enabled;
    ort = rcgc_runtime_new(&cfg);
    if (ort == NULL) abort();
}

static onode *o_alloc(const rcgc_type *type)
{
    onode *n = (onode *)rcgc_object_new(ort, type);
    if (n == NULL) {
        fprintf(stderr, "alloc_bench: rcgc_object_new failed (%d)\n",
                rcgc_runtime_last_error(ort));
        exit(1);
    }
    return n;
}

/* Post-order, as Python evaluates (make(d - 1), make(d - 1)): the children
 * first, then the node, which takes their references and is tracked once
 * initialised (PyObject_GC_Track after the fields are set). */
static onode *o_bottom_up(int depth)
{
    onode *l = NULL, *r = NULL;
    if (depth > 0) {
        l = o_bottom_up(depth - 1);
        r = o_bottom_up(depth - 1);
    }
    onode *n = o_alloc(bt_type);
    n->left = l; /* steals the references */
    n->right = r;
    rcgc_object_track(ort, &n->ob);
    return n;
}

static long o_item_check(const onode *n)
{
    return n->left == NULL ? 1
                           : 1 + o_item_check(n->left) + o_item_check(n->right);
}

/* The runtime's view at the end: gc counts, and nothing may be left. */
static void rcgc_finish(char *extra, size_t size)
{
    rcgc_gc_stats gs[3];
    rcgc_gc_get_stats(ort, gs);
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(ort, &rs);
    size_t heap_peak = 0;
    (void)rcgc_runtime_heap_bytes(ort, &heap_peak);
    if (rs.objects != 0) fail("objects alive after the last decref", (long)rs.objects, 0);
    if (nodes_made + big_objects != (long)rs.allocations)
        fail("allocations", (long)rs.allocations, nodes_made);
    rcgc_teardown_report rep;
    int rc = rcgc_runtime_free(ort, &rep);
    ort = NULL;
    if (rc != 0 || rep.alive != 0 || rep.uncollectable != 0 || rep.leaked != 0)
        fail("teardown (alive + uncollectable + leaked)",
             (long)(rep.alive + rep.uncollectable + rep.leaked), 0);
    long collected = (long)(gs[0].collected + gs[1].collected + gs[2].collected);
    /* Where the full collections' time went, ms per phase. */
    char phases[400];
    size_t off = 0;
    phases[0] = '\0';
    for (int i = 0; i < RCGC_PHASE_COUNT && off < sizeof phases; i++) {
        if (gs[2].phase_ns[i] == 0) continue;
        int w = snprintf(phases + off, sizeof phases - off, "%s\"%s\": %.1f",
                         off ? ", " : "", rcgc_gc_phase_name(i),
                         (double)gs[2].phase_ns[i] * 1e-6);
        if (w < 0) break;
        off += (size_t)w;
    }
    if (off >= sizeof phases) phases[0] = '\0';
    snprintf(extra, size,
             ", \"gc_enabled\": %d, \"gc_policy\": \"%s\", \"gc_collections\": [%ld, %ld, %ld], "
             "\"gc_ms\": [%.1f, %.1f, "
             "%.1f], \"gc_collected\": %ld, \"objects_peak\": %ld, \"heap_bytes_peak\": %zu, "
             "\"objects_at_end\": %ld, \"gen2_phase_ms\": {%s}",
             ort_gc_enabled, ort_policy, (long)gs[0].collections, (long)gs[1].collections,
             (long)gs[2].collections, (double)gs[0].total_ns * 1e-6,
             (double)gs[1].total_ns * 1e-6, (double)gs[2].total_ns * 1e-6,
             collected, (long)rs.objects_peak, heap_peak, (long)rs.objects, phases);
}

static void bench_bintree_obj(int max_depth)
{
    max_depth = bt_max_depth(max_depth);
    const char *untrack = getenv("ALLOC_BENCH_UNTRACK");
    if (untrack != NULL && strcmp(untrack, "1") == 0)
        bt_type = &bt_node_untrack_type;
    /* ALLOC_BENCH_WEAK=1, the node type weakly referenceable
     * (its deallocation takes dealloc_general: untrack, then free) */
    const char *weak = getenv("ALLOC_BENCH_WEAK");
    static rcgc_type weak_type;
    if (weak != NULL && strcmp(weak, "1") == 0) {
        weak_type = *bt_type;
        weak_type.flags |= RCGC_TYPE_WEAKREF;
        bt_type = &weak_type;
    }
    rcgc_start();
    long check = 0;
    timing t = timing_start();
    /* ALLOC_BENCH_BIG=1 keeps one GC object over 512 bytes
     * (a registry object) alive through the run */
    rcgc_object *big = NULL;
    const char *bigenv = getenv("ALLOC_BENCH_BIG");
    if (bigenv != NULL && strcmp(bigenv, "1") == 0) {
        static rcgc_type big_type;
        big_type = *bt_type;
        big_type.name = "big";
        big_type.size = 1024; /* no pool class fits: odd_blocks stays 0 */
        big = rcgc_object_new(ort, &big_type);
        if (big == NULL) abort();
    }
    onode *stretch = o_bottom_up(max_depth + 1);
    check += o_item_check(stretch);
    rcgc_decref(ort, &stretch->ob); /* frees the tree by refcounting */
    onode *long_lived = o_bottom_up(max_depth);
    for (int d = BT_MIN_DEPTH; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + BT_MIN_DEPTH);
        for (long i = 0; i < iterations; i++) {
            onode *tr = o_bottom_up(d);
            check += o_item_check(tr);
            rcgc_decref(ort, &tr->ob);
        }
    }
    check += o_item_check(long_lived);
    rcgc_decref(ort, &long_lived->ob);
    if (big != NULL) rcgc_decref(ort, big);
    timing_stop(&t);
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(ort, &rs);
    big_objects = big != NULL;
    nodes_made = (long)rs.allocations - big_objects;
    long expected = bt_expected(max_depth);
    if (nodes_made != expected) fail("nodes made", nodes_made, expected);
    if (check != expected) fail("check", check, expected);
    char extra[960];
    int len = snprintf(extra, sizeof extra, ", \"lazy_untrack\": %d",
                       bt_type == &bt_node_untrack_type);
    rcgc_finish(extra + len, sizeof extra - (size_t)len);
    report("bintree_obj", max_depth, nodes_made, check, expected, t, extra);
}

static onode *g_onew(void)
{
    onode *n = o_alloc(&gcb_node_type);
    rcgc_object_track(ort, &n->ob); /* fields zeroed: safe to traverse */
    return n;
}

/* Top down: a Python program's `node.left = Node()`: each new node is
 * tracked at creation and stored into its (tracked) parent. */
static void go_populate(int depth, onode *n)
{
    if (depth <= 0) return;
    depth--;
    RCGC_SETREF(ort, n->left, g_onew());
    RCGC_SETREF(ort, n->right, g_onew());
    go_populate(depth, n->left);
    go_populate(depth, n->right);
}

static onode *go_make_tree(int depth)
{
    onode *l = NULL, *r = NULL;
    if (depth > 0) {
        l = go_make_tree(depth - 1);
        r = go_make_tree(depth - 1);
    }
    onode *n = o_alloc(&gcb_node_type);
    n->left = l;
    n->right = r;
    rcgc_object_track(ort, &n->ob);
    return n;
}

static long go_count(const onode *n)
{
    return n == NULL ? 0 : 1 + go_count(n->left) + go_count(n->right);
}

static void bench_gcbench_obj(int depth)
{
    gcb_params p = gcb_params_for(depth);
    rcgc_start();
    long check = 0;
    timing t = timing_start();
    onode *tmp = go_make_tree(p.stretch);
    check += go_count(tmp);
    rcgc_decref(ort, &tmp->ob);
    onode *long_lived = g_onew();
    go_populate(p.long_lived, long_lived);
    double *array = rcgc_mem_malloc(ort, (size_t)p.array_size * sizeof(double));
    if (array == NULL) abort();
    for (long i = 0; i < p.array_size / 2; i++) array[i] = 1.0 / (double)i;
    for (int d = p.min; d <= p.max; d += 2) {
        long iters = gcb_iters(&p, d);
        for (long i = 0; i < iters; i++) {
            tmp = g_onew();
            go_populate(d, tmp);
            if (i == iters - 1) check += go_count(tmp) * 2 * iters;
            rcgc_decref(ort, &tmp->ob);
        }
        for (long i = 0; i < iters; i++) {
            tmp = go_make_tree(d);
            if (i == iters - 1 && go_count(tmp) != tree_size(d))
                fail("bottom-up tree", go_count(tmp), tree_size(d));
            rcgc_decref(ort, &tmp->ob);
        }
    }
    check += go_count(long_lived);
    if (array[1000] != 1.0 / 1000) fail("array[1000] * 1000", (long)(array[1000] * 1000), 1);
    rcgc_decref(ort, &long_lived->ob);
    rcgc_mem_free(ort, array);
    timing_stop(&t);
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(ort, &rs);
    nodes_made = (long)rs.allocations;
    long expected = gcb_expected(&p);
    if (nodes_made != expected) fail("nodes made", nodes_made, expected);
    if (check != expected) fail("check", check, expected);
    char extra[1024];
    int len = snprintf(extra, sizeof extra,
             ", \"stretch_depth\": %d, \"long_lived_depth\": %d, "
             "\"max_depth\": %d, \"array_size\": %ld, \"node_bytes\": %zu",
             p.stretch, p.long_lived, p.max, p.array_size, sizeof(onode));
    rcgc_finish(extra + len, sizeof extra - (size_t)len);
    report("gcbench_obj", depth, nodes_made, check, expected, t, extra);
}
#endif /* BENCH_RCGC */

#ifndef B_NO_FREE /* sizemix and frag free blocks: not for Boehm */
/* splitmix64 */
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* 16..512 bytes, uniform */
static size_t mix_size(void)
{
    return 16 + (size_t)(rnd() % 497);
}

/* ---- size mix with random lifetimes ---- */

/* Every block is freed LIFE ops after its allocation: 80 % live 1..100 ops,
 * 20 % live 1..WHEEL ops (mean live set: about WHEEL / 10 blocks).  A
 * timing wheel holds each block, linked through its first word, in the slot
 * of the op that frees it. */
#define WHEEL (1L << 20)

static void bench_sizemix(long ops)
{
    void **wheel = calloc((size_t)WHEEL, sizeof *wheel);
    if (wheel == NULL) abort();
    uint64_t sum = 0;
    cpu c0 = cpu_now();
    double t0 = now();
    for (long t = 0; t < ops; t++) {
        void **slot = &wheel[t & (WHEEL - 1)];
        for (void *p = *slot; p != NULL;) {
            void *next = *(void **)p;
            sum += ((unsigned char *)p)[8];
            B_FREE(p);
            p = next;
        }
        *slot = NULL;
        uint64_t r = rnd();
        size_t n = 16 + (size_t)(r % 497);
        long life = (r >> 32) % 10 < 8 ? 1 + (long)((r >> 40) % 100)
                                        : 1 + (long)((r >> 36) % (WHEEL - 1));
        unsigned char *p = xmalloc(n);
        p[8] = (unsigned char)t;
        p[n - 1] = (unsigned char)n;
        void **dst = &wheel[(t + life) & (WHEEL - 1)];
        *(void **)(void *)p = *dst;
        *dst = p;
    }
    double secs = now() - t0;
    cpu c1 = cpu_now();
    for (long i = 0; i < WHEEL; i++)
        for (void *p = wheel[i]; p != NULL;) {
            void *next = *(void **)p;
            B_FREE(p);
            p = next;
        }
    free(wheel);
    printf("{\"bench\": \"sizemix\", \"system\": \"%s\", \"ops\": %ld, "
           "\"seconds\": %.4f, \"user\": %.4f, \"sys\": %.4f, "
           "\"ns_per_op\": %.3f, \"peak_rss_mb\": %.1f, \"sum\": %llu}\n",
           SYSTEM, ops, secs, c1.user - c0.user, c1.sys - c0.sys,
           secs * 1e9 / (double)ops, (double)peak_rss_kb() / 1024.0,
           (unsigned long long)sum);
}

/* ---- fragmentation ---- */

static void bench_frag(long n)
{
    void **v = calloc((size_t)n, sizeof *v);
    uint32_t *order = malloc((size_t)n * sizeof *order);
    if (v == NULL || order == NULL) abort();
    memset(v, 0, (size_t)n * sizeof *v); /* resident before "before" */
    for (long i = 0; i < n; i++) order[i] = (uint32_t)i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rnd() % (uint64_t)(i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    double before = rss_mb();
    size_t bytes = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        size_t sz = mix_size();
        bytes += sz;
        v[i] = xmalloc(sz);
        memset(v[i], 0x5a, sz);
    }
    double t_alloc = now() - t0;
    double full = rss_mb();
    long nfree = n - n / 10;
    t0 = now();
    for (long i = 0; i < nfree; i++) {
        B_FREE(v[order[i]]);
        v[order[i]] = NULL;
    }
    double t_free = now() - t0;
    double freed = rss_mb();
    t0 = now();
    b_trim();
    double t_trim = now() - t0;
    double trimmed = rss_mb();
    double grown = full - before;
    printf("{\"bench\": \"frag\", \"system\": \"%s\", \"objects\": %ld, "
           "\"bytes_requested_mb\": %.1f, \"rss_before_mb\": %.1f, "
           "\"rss_full_mb\": %.1f, \"rss_freed_mb\": %.1f, "
           "\"rss_trimmed_mb\": %.1f, \"returned_mb\": %.1f, "
           "\"returned_pct\": %.2f, \"returned_trim_mb\": %.1f, "
           "\"returned_trim_pct\": %.2f, \"alloc_s\": %.3f, \"free_s\": %.3f, "
           "\"trim_s\": %.4f, \"peak_rss_mb\": %.1f}\n",
           SYSTEM, n, (double)bytes / 1048576.0, before, full, freed, trimmed,
           full - freed, 100.0 * (full - freed) / grown, full - trimmed,
           100.0 * (full - trimmed) / grown, t_alloc, t_free, t_trim,
           (double)peak_rss_kb() / 1024.0);
    for (long i = 0; i < n; i++)
        if (v[i] != NULL) B_FREE(v[i]);
    free(order);
    free(v);
}

#endif /* !B_NO_FREE */

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s bintree DEPTH | gcbench DEPTH | "
                "sizemix OPS | frag N [SEED]"
#ifdef BENCH_RCGC
                " | bintree_obj DEPTH | gcbench_obj DEPTH"
#endif
                "\n", argv[0]);
        return 2;
    }
    if (argc > 3) rng_state = strtoull(argv[3], NULL, 0);
    long arg = atol(argv[2]);
    b_init();
    if (strcmp(argv[1], "bintree") == 0)
        bench_bintree((int)arg);
    else if (strcmp(argv[1], "gcbench") == 0)
        bench_gcbench((int)arg);
#ifdef BENCH_RCGC
    else if (strcmp(argv[1], "bintree_obj") == 0)
        bench_bintree_obj((int)arg);
    else if (strcmp(argv[1], "gcbench_obj") == 0)
        bench_gcbench_obj((int)arg);
#endif
#ifndef B_NO_FREE
    else if (strcmp(argv[1], "sizemix") == 0)
        bench_sizemix(arg);
    else if (strcmp(argv[1], "frag") == 0)
        bench_frag(arg);
#endif
    else {
        fprintf(stderr, "alloc_bench (%s): unknown benchmark %s\n", SYSTEM,
                argv[1]);
        return 2;
    }
    return exit_status;
}

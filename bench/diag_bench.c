/*
 * diag_bench.c - leak diagnosis on large graphs, rcgc side.
 *
 *   diag_bench SHAPE N [REPS]
 *
 * Builds N tracked objects (automatic collection off) in one of two shapes,
 * the same as bench/diag_bench.py builds with Python lists:
 *
 *   chain  a root holding the first of N-1 nodes, each holding the next; the
 *          target is the last node (the why-alive chain has N links).
 *   wide   a root holding W = 2000 holders, each holding (N-1)/W - 1 leaf
 *          nodes; the target is the last leaf of the last holder (the
 *          chain has 3 links, but the search reaches nearly everything
 *          first, breadth first).
 *
 * The program keeps a reference to the root only; the target is reached by
 * a borrowed pointer.  Then it times REPS (default 7) runs of each:
 *
 *   count_types   rcgc_diag_count_types (every tracked object, by type)
 *   why_alive     rcgc_diag_why_alive(target)
 *   get_referrers rcgc_gc_get_referrers(target) (CPython's gc.get_referrers)
 *   referrers     rcgc_diag_referrers(target, depth 1), external counts
 *                 included (objgraph.show_backrefs' data at depth 1)
 *
 * and prints one JSON object per operation on stdout: the wall times
 * (CLOCK_MONOTONIC, ns) of every run and what the call found, which the
 * program checks (exit status 2 if a result is wrong).
 *
 *   diag_bench dom SHAPE N [REPS]
 *
 * times the dominator tree instead (what holds the memory), on chain, wide
 * or random: N nodes, node i holding node i+1 (so that all are reachable)
 * and one node picked at random (xorshift, fixed seed): a randomly wired
 * graph, the hard case for dominators.  Operations:
 *
 *   dominators    rcgc_diag_dominators (the whole tree, retained sizes)
 *   retainers     rcgc_diag_top_retainers(20) (plus sizes by type)
 *
 * with the computation's peak side memory (scratch_bytes) and the edges.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcgc_diag.h"

/* A container with inline slots (as a Python list of fixed length). */
typedef struct box {
    rcgc_object ob;
    rcgc_ssize n;
    rcgc_object *items[];
} box;

static int box_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    box *b = (box *)self;
    for (rcgc_ssize i = 0; i < b->n; i++) RCGC_VISIT(b->items[i]);
    return 0;
}

static void box_clear(rcgc_runtime *rt, rcgc_object *self)
{
    box *b = (box *)self;
    while (b->n > 0) {
        rcgc_ssize i = --b->n;
        RCGC_CLEAR(rt, b->items[i]);
    }
}

static const rcgc_type root_type = {.name = "root", .size = sizeof(box),
    .flags = RCGC_TYPE_GC, .traverse = box_traverse, .clear = box_clear};
static const rcgc_type node_type = {.name = "node", .size = sizeof(box),
    .flags = RCGC_TYPE_GC, .traverse = box_traverse, .clear = box_clear};
static const rcgc_type holder_type = {.name = "holder", .size = sizeof(box),
    .flags = RCGC_TYPE_GC, .traverse = box_traverse, .clear = box_clear};
static const rcgc_type leaf_type = {.name = "leaf", .size = sizeof(box),
    .flags = RCGC_TYPE_GC, .traverse = box_traverse, .clear = box_clear};

static rcgc_object *new_box(rcgc_runtime *rt, const rcgc_type *t,
                            rcgc_ssize slots)
{
    rcgc_object *o = rcgc_object_new_sized(
        rt, t, sizeof(box) + (size_t)slots * sizeof(rcgc_object *));
    if (o == NULL) {
        fprintf(stderr, "diag_bench: out of memory\n");
        exit(1);
    }
    rcgc_object_track(rt, o);
    return o;
}

/* Append o (STEALS the reference) to b's next slot. */
static void put(rcgc_object *b, rcgc_object *o)
{
    box *x = (box *)b;
    x->items[x->n++] = o;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void print_runs(const char *shape, long n, const char *op,
                       const uint64_t *ns, int reps, const char *extra)
{
    printf("{\"shape\":\"%s\",\"n\":%ld,\"op\":\"%s\",\"ns\":[", shape, n, op);
    for (int i = 0; i < reps; i++) printf("%s%llu", i ? "," : "", (unsigned long long)ns[i]);
    printf("]%s}\n", extra);
    fflush(stdout);
}

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* chain, wide (as above) or random; *nobjs gets the objects built. */
static rcgc_object *build_shape(rcgc_runtime *rt, const char *shape, long n,
                                long *nobjs, rcgc_object **target)
{
    rcgc_object *root;
    if (strcmp(shape, "random") == 0) {
        rcgc_object **all = calloc((size_t)n, sizeof *all);
        if (all == NULL) exit(1);
        for (long i = 0; i < n; i++) all[i] = new_box(rt, &node_type, 2);
        for (long i = 0; i < n; i++) {
            if (i + 1 < n) {
                rcgc_incref(all[i + 1]);
                put(all[i], all[i + 1]);
            }
            rcgc_object *o = all[rnd() % (uint64_t)n];
            rcgc_incref(o);
            put(all[i], o);
        }
        root = all[0];
        *target = all[n - 1];
        for (long i = 1; i < n; i++) rcgc_decref(rt, all[i]);
        free(all);
        *nobjs = n;
    } else if (strcmp(shape, "chain") == 0) {
        root = new_box(rt, &root_type, 1);
        rcgc_object *cur = root;
        for (long i = 1; i < n; i++) {
            rcgc_object *x = new_box(rt, &node_type, 1);
            put(cur, x);
            cur = x;
        }
        *target = cur;
        *nobjs = n;
    } else {
        const long w = 2000;
        long per = (n - 1) / w - 1;
        if (per < 1) per = 1;
        root = new_box(rt, &root_type, w);
        rcgc_object *last = NULL;
        for (long i = 0; i < w; i++) {
            rcgc_object *h = new_box(rt, &holder_type, per);
            for (long j = 0; j < per; j++) {
                last = new_box(rt, &leaf_type, 0);
                put(h, last);
            }
            put(root, h);
        }
        *target = last;
        *nobjs = 1 + w + w * per;
    }
    return root;
}

/* diag_bench dom SHAPE N REPS */
static int dom_main(const char *shape, long n, int reps)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;
    rcgc_object *target;
    uint64_t t0 = now_ns();
    rcgc_object *root = build_shape(rt, shape, n, &n, &target);
    printf("{\"shape\":\"%s\",\"n\":%ld,\"op\":\"build\",\"ns\":[%llu]}\n",
           shape, n, (unsigned long long)(now_ns() - t0));
    uint64_t *ns = calloc((size_t)reps, sizeof *ns);
    if (ns == NULL) return 1;
    int bad = 0;
    char extra[256];
    rcgc_diag_domtree t;
    for (int r = 0; r < reps; r++) {
        t0 = now_ns();
        int rc = rcgc_diag_dominators(rt, NULL, &t);
        ns[r] = now_ns() - t0;
        if (rc != 0 || t.n != n || t.objs[0] != root || t.idom[0] != -1) bad = 1;
        snprintf(extra, sizeof extra,
                 ",\"objects\":%td,\"edges\":%td,\"scratch_bytes\":%zu",
                 t.objects, t.edges, t.scratch_bytes);
        rcgc_diag_domtree_free(rt, &t);
    }
    print_runs(shape, n, "dominators", ns, reps, extra);
    rcgc_diag_retainers ret;
    for (int r = 0; r < reps; r++) {
        t0 = now_ns();
        int rc = rcgc_diag_top_retainers(rt, 20, NULL, &ret);
        ns[r] = now_ns() - t0;
        if (rc != 0 || ret.n < 1 || ret.items[0].obj != root ||
            ret.items[0].retained_count != n)
            bad = 1;
        snprintf(extra, sizeof extra,
                 ",\"objects\":%td,\"edges\":%td,\"scratch_bytes\":%zu,"
                 "\"total_size\":%zu",
                 ret.objects, ret.edges, ret.scratch_bytes, ret.total_size);
        rcgc_diag_retainers_free(rt, &ret);
    }
    print_runs(shape, n, "retainers", ns, reps, extra);
    free(ns);
    rcgc_decref(rt, root);
    rcgc_gc_collect(rt, 2); /* the random shape's cycles */
    if (rcgc_runtime_free(rt, NULL) != 0) bad = 1;
    if (bad) fprintf(stderr, "diag_bench: a result was wrong\n");
    return bad ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "dom") == 0) {
        long n = atol(argv[3]);
        int reps = argc > 4 ? atoi(argv[4]) : 5;
        if (n < 10 || reps < 1 || reps > 1000 ||
            (strcmp(argv[2], "chain") != 0 && strcmp(argv[2], "wide") != 0 &&
             strcmp(argv[2], "random") != 0)) {
            fprintf(stderr, "usage: diag_bench dom chain|wide|random N [REPS]\n");
            return 1;
        }
        return dom_main(argv[2], n, reps);
    }
    if (argc < 3 || (strcmp(argv[1], "chain") != 0 && strcmp(argv[1], "wide") != 0)) {
        fprintf(stderr, "usage: diag_bench chain|wide N [REPS]\n");
        return 1;
    }
    const char *shape = argv[1];
    long n = atol(argv[2]);
    int reps = argc > 3 ? atoi(argv[3]) : 7;
    if (n < 10 || reps < 1 || reps > 1000) {
        fprintf(stderr, "diag_bench: N >= 10, 1 <= REPS <= 1000\n");
        return 1;
    }
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;

    rcgc_object *root, *target;
    uint64_t t0 = now_ns();
    root = build_shape(rt, shape, n, &n, &target);
    long expect_chain = strcmp(shape, "chain") == 0 ? n : 3;
    uint64_t build = now_ns() - t0;
    rcgc_runtime_stats st;
    rcgc_runtime_get_stats(rt, &st);
    printf("{\"shape\":\"%s\",\"n\":%ld,\"op\":\"build\",\"ns\":[%llu],"
           "\"tracked\":%td}\n",
           shape, n, (unsigned long long)build, st.tracked);

    uint64_t *ns = calloc((size_t)reps, sizeof *ns);
    if (ns == NULL) return 1;
    int bad = 0;
    char extra[256];

    rcgc_diag_counts c;
    for (int r = 0; r < reps; r++) {
        t0 = now_ns();
        int rc = rcgc_diag_count_types(rt, &c);
        ns[r] = now_ns() - t0;
        if (rc != 0 || c.total != st.tracked) bad = 1;
        snprintf(extra, sizeof extra, ",\"total\":%td,\"types\":%td", c.total,
                 c.types);
        rcgc_diag_counts_free(rt, &c);
    }
    print_runs(shape, n, "count_types", ns, reps, extra);

    rcgc_diag_path p;
    for (int r = 0; r < reps; r++) {
        t0 = now_ns();
        int rc = rcgc_diag_why_alive(rt, target, NULL, &p);
        ns[r] = now_ns() - t0;
        if (rc != 0 || p.n != expect_chain || p.links[0].obj != root) bad = 1;
        snprintf(extra, sizeof extra,
                 ",\"chain\":%td,\"roots\":%td,\"visited\":%td,\"objects\":%td",
                 p.n, p.roots, p.visited, p.objects);
        rcgc_diag_path_free(rt, &p);
    }
    print_runs(shape, n, "why_alive", ns, reps, extra);

    for (int r = 0; r < reps; r++) {
        rcgc_object **refs;
        t0 = now_ns();
        rcgc_ssize k = rcgc_gc_get_referrers(rt, &target, 1, &refs);
        ns[r] = now_ns() - t0;
        if (k != 1) bad = 1;
        snprintf(extra, sizeof extra, ",\"found\":%td", k);
        rcgc_objects_free(rt, refs, k > 0 ? k : 0);
    }
    print_runs(shape, n, "get_referrers", ns, reps, extra);

    rcgc_diag_graph g;
    for (int r = 0; r < reps; r++) {
        t0 = now_ns();
        int rc = rcgc_diag_referrers(rt, target, 1, NULL, &g);
        ns[r] = now_ns() - t0;
        if (rc != 0 || g.nnodes != 2) bad = 1;
        snprintf(extra, sizeof extra, ",\"nodes\":%td", g.nnodes);
        rcgc_diag_graph_free(rt, &g);
    }
    print_runs(shape, n, "referrers", ns, reps, extra);

    free(ns);
    rcgc_decref(rt, root);
    if (rcgc_runtime_free(rt, NULL) != 0) bad = 1;
    if (bad) fprintf(stderr, "diag_bench: a result was wrong\n");
    return bad ? 2 : 0;
}

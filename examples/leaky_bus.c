/*
 * leaky_bus.c - the event bus that ate 8 GB, found with the tracer.
 *
 * Every request registers a listener on a long-lived bus and forgets to
 * unregister it: the bus's list keeps each listener (and the buffer its
 * callback captured) alive forever.  Two snapshots around 500 requests,
 * compared by line, put the registering line on top with count +500.
 * Then what holds the memory (retained sizes from the dominator tree: the
 * bus, of course), written also as a heap snapshot that Chrome DevTools'
 * Memory panel and memlab open.  Then the fix: a weak set instead of a
 * list, and the diff comes back empty.
 */
#include <stdio.h>
#include <string.h>

#include "rcgc.h"
#include "rcgc_diag.h"

/* ---- a bus that holds its listeners strongly (the leak) ---- */

typedef struct bus {
    rcgc_object base;
    rcgc_object **listeners;
    size_t n, cap;
} bus;

typedef struct listener {
    rcgc_object base;
    int request;
    char state[]; /* what the callback captured of the request */
} listener;

#define CAPTURED 256

static int listener_traverse(rcgc_object *o, rcgc_visit_fn visit, void *arg)
{
    (void)o, (void)visit, (void)arg; /* holds no references */
    return 0;
}

/* The captured state is inline (rcgc_object_new_sized): sizes count it. */
static size_t listener_extra(const rcgc_object *o)
{
    (void)o;
    return CAPTURED;
}

/* A GC type, as every instance of a Python class is: tracked, so counts by
 * type and why-alive see it. */
static const rcgc_type listener_type = {.name = "listener",
                                        .size = sizeof(listener),
                                        .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
                                        .traverse = listener_traverse,
                                        .extra_size = listener_extra};

static int bus_traverse(rcgc_object *o, rcgc_visit_fn visit, void *arg)
{
    bus *b = (bus *)o;
    for (size_t i = 0; i < b->n; i++) RCGC_VISIT(b->listeners[i]);
    return 0;
}

static void bus_clear(rcgc_runtime *rt, rcgc_object *o)
{
    bus *b = (bus *)o;
    while (b->n > 0) {
        b->n--;
        RCGC_CLEAR(rt, b->listeners[b->n]);
    }
}

static void bus_release(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc_mem_free(rt, ((bus *)o)->listeners);
}

/* The listener array is the bus's own memory. */
static size_t bus_extra(const rcgc_object *o)
{
    return ((const bus *)o)->cap * sizeof(rcgc_object *);
}

static const rcgc_type bus_type = {.name = "bus",
                                   .size = sizeof(bus),
                                   .flags = RCGC_TYPE_GC,
                                   .traverse = bus_traverse,
                                   .clear = bus_clear,
                                   .release = bus_release,
                                   .extra_size = bus_extra};

static int subscribe(rcgc_runtime *rt, rcgc_object *o, rcgc_object *l)
{
    bus *b = (bus *)o;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        void *p = RCGC_REALLOC(rt, b->listeners, cap * sizeof *b->listeners);
        if (p == NULL) return RCGC_ENOMEM;
        b->listeners = p;
        b->cap = cap;
    }
    rcgc_incref(l);
    b->listeners[b->n++] = l;
    return 0;
}

/* ---- a request: register a listener, handle, return ---- */

static int handle_request(rcgc_runtime *rt, rcgc_object *bus_or_set,
                          int weak, int request)
{
    /* Register a listener for this request (the allocating line): */
    listener *l = (listener *)RCGC_NEW_SIZED(rt, &listener_type, sizeof(listener) + CAPTURED);
    if (l == NULL) return RCGC_ENOMEM;
    rcgc_object_track(rt, &l->base);
    l->request = request;
    memset(l->state, request & 0xff, CAPTURED);
    int rc = weak ? rcgc_wset_add(rt, bus_or_set, &l->base) /* the fix */
                  : subscribe(rt, bus_or_set, &l->base);    /* the leak */
    rcgc_decref(rt, &l->base); /* the request is done with it */
    return rc;
}

/* One statistic in CPython's format, the directory left out. */
static void print_stat(const rcgc_statistic *st)
{
    char line[512];
    rcgc_statistic_format(st, RCGC_BY_LINENO, 1, line, sizeof line);
    const char *colon = strchr(line, ':');
    const char *start = line;
    for (const char *p = line; colon != NULL && p < colon; p++)
        if (*p == '/') start = p + 1;
    printf("  %s\n", start);
}

static size_t label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    if (o->type != &listener_type) return 0;
    return (size_t)snprintf(buf, size, "request %d", ((listener *)o)->request);
}

/* What holds the memory: the top 3 retainers and the types. */
static void show_retained(rcgc_runtime *rt, const char *outdir)
{
    rcgc_diag_options opts;
    rcgc_diag_options_init(&opts);
    opts.label = label;
    opts.flags = RCGC_DIAG_NO_ADDRESSES;
    rcgc_diag_retainers r;
    if (rcgc_diag_top_retainers(rt, 3, NULL, &r) != 0) return;
    printf("  what holds the memory (retained sizes):\n");
    rcgc_diag_retainers_write(stdout, &r, 3, &opts, RCGC_DIAG_TEXT);
    if (outdir != NULL) {
        char path[4096];
        snprintf(path, sizeof path, "%s/leaky_bus_retained.json", outdir);
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            rcgc_diag_retainers_write(f, &r, 0, &opts, RCGC_DIAG_JSON);
            fclose(f);
        }
    }
    /* The result's references go first: they would make its objects roots
     * in the heap snapshot. */
    rcgc_diag_retainers_free(rt, &r);
    if (outdir != NULL) { /* for Chrome DevTools (Memory, Load) and memlab */
        char path[4096];
        snprintf(path, sizeof path, "%s/leaky_bus.heapsnapshot", outdir);
        if (rcgc_diag_heapsnapshot_save(rt, path, NULL) != 0)
            fprintf(stderr, "leaky_bus: cannot write %s\n", path);
        /* the dominator tree as a page: an icicle of retained sizes */
        rcgc_diag_domtree t;
        snprintf(path, sizeof path, "%s/leaky_bus_dominators.html", outdir);
        FILE *f = fopen(path, "w");
        if (f != NULL && rcgc_diag_dominators(rt, NULL, &t) == 0) {
            rcgc_diag_domtree_write(rt, f, &t, 0, &opts, RCGC_DIAG_HTML);
            rcgc_diag_domtree_free(rt, &t);
        }
        if (f != NULL) fclose(f);
    }
}

/* With a folder (make demo): the two snapshots, for rcgc-snapshot, and the
 * chain that keeps a listener alive, as Graphviz. */
static void save(rcgc_runtime *rt, const rcgc_snapshot *before,
                 const rcgc_snapshot *after, const char *outdir)
{
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/leaky_bus_before.snap", outdir);
    if (rcgc_snapshot_dump(before, path, err, sizeof err) != 0)
        fprintf(stderr, "leaky_bus: %s\n", err);
    snprintf(path, sizeof path, "%s/leaky_bus_after.snap", outdir);
    if (rcgc_snapshot_dump(after, path, err, sizeof err) != 0)
        fprintf(stderr, "leaky_bus: %s\n", err);
    rcgc_object *one = NULL; /* borrowed: a listener */
    if (rcgc_diag_by_type(rt, "listener", &one, 1) < 1) return;
    rcgc_diag_path chain;
    if (rcgc_diag_why_alive(rt, one, NULL, &chain) != 0) return;
    printf("  why is a listener alive: %td links from a root (the bus)\n",
           chain.n);
    snprintf(path, sizeof path, "%s/leaky_bus_why_alive.dot", outdir);
    rcgc_diag_path_save(&chain, NULL, path);
    snprintf(path, sizeof path, "%s/leaky_bus_why_alive.svg", outdir);
    if (rcgc_diag_path_save(&chain, NULL, path) != 0)
        printf("  (Graphviz is not installed: only the .dot file was written)\n");
    rcgc_diag_path_free(rt, &chain);
}

/* Snapshot, 500 requests, snapshot, and the top 3 lines of the diff.
 * Returns the top statistic's count difference. */
static double run(rcgc_runtime *rt, rcgc_object *target, int weak,
                  const char *outdir)
{
    for (int i = 0; i < 100; i++) handle_request(rt, target, weak, i); /* warm */
    rcgc_diag_growth *growth = rcgc_diag_growth_new(rt);
    rcgc_diag_counts counts;
    if (rcgc_diag_growth_update(rt, growth, &counts) == 0) /* the baseline */
        rcgc_diag_counts_free(rt, &counts);
    rcgc_snapshot *before = rcgc_snapshot_take(rt);
    for (int i = 0; i < 500; i++) handle_request(rt, target, weak, 100 + i);
    rcgc_snapshot *after = rcgc_snapshot_take(rt);
    /* objgraph's show_growth: which types have more objects than before */
    if (rcgc_diag_growth_update(rt, growth, &counts) == 0) {
        printf("  objects by type, growth:%s\n", counts.n == 0 ? " none" : "");
        rcgc_diag_counts_write(stdout, &counts, 3, RCGC_DIAG_TEXT);
        rcgc_diag_counts_free(rt, &counts);
    }
    rcgc_diag_growth_free(rt, growth);
    if (!weak) show_retained(rt, outdir);
    if (outdir != NULL) save(rt, before, after, outdir);
    printf("  the tracer's diff, by line:\n");
    rcgc_statistic *stats = NULL;
    rcgc_ssize n = rcgc_snapshot_compare(after, before, RCGC_BY_LINENO, 0, &stats);
    double top = n > 0 ? stats[0].count_diff : 0;
    int shown = 0;
    for (rcgc_ssize i = 0; i < n && shown < 3; i++) {
        if (stats[i].size_diff == 0 && stats[i].count_diff == 0) continue;
        print_stat(&stats[i]);
        shown++;
    }
    if (shown == 0) printf("  (no growth)\n");
    rcgc_statistics_free(stats);
    rcgc_snapshot_free(before);
    rcgc_snapshot_free(after);
    return top;
}

int main(int argc, char **argv)
{
    const char *outdir = argc > 1 ? argv[1] : NULL;
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL || rcgc_trace_start(rt, NULL) != 0) return 1;

    rcgc_object *b = RCGC_NEW(rt, &bus_type);
    rcgc_object_track(rt, b);
    printf("500 requests on a bus that holds its listeners:\n");
    double leak = run(rt, b, 0, outdir);

    rcgc_object *set = rcgc_wset_new(rt);
    printf("500 requests on a bus that holds them in a weak set:\n");
    double fixed = run(rt, set, 1, NULL);

    rcgc_decref(rt, b);
    rcgc_decref(rt, set);
    rcgc_trace_stop(rt);
    int rc = rcgc_runtime_free(rt, NULL);
    /* The walkthrough's claim, checked: the leak's top line grew by 500. */
    return rc != 0 || leak != 500 || fixed > 0;
}

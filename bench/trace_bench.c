/*
 * trace_bench.c - what the allocation tracer costs an allocation-bound
 * program, rcgc side.  bench/trace_bench.py runs it in every mode beside
 * bench/trace_alloc.py (the same program in Python, untraced and under
 * tracemalloc) and prints the comparison (bench/README.md, "Tracing
 * overhead").
 *
 *   trace_bench MODE [DEPTH [CHURN_OPS [SEED [GC]]]]  (defaults 18 500000 1 0)
 *
 * MODE is how the tracer runs during the workload:
 *
 *   untraced    the tracer is off
 *   callsite    call-site frames (the RCGC_NEW / RCGC_CALLOC site): 1 frame
 *   cstack1     C-stack frames, unwound at allocation time, nframes 1
 *   cstack16    the same, nframes 16
 *   provider1   a frame provider returning a fake interpreter stack (the
 *               program keeps one, as an embedded language would), nframes 1
 *   provider16  the same, nframes 16
 *   sampled     call-site frames, Poisson sampling every 512 KiB on average
 *               (jemalloc's default lg_prof_sample = 19)
 *
 * The workload (identical in bench/trace_alloc.py, with the same random
 * numbers, so both print the same checksum):
 *
 *   trees   Benchmarks Game binary-trees with fewer iterations: a stretch
 *           tree of depth DEPTH+1, a long-lived tree of depth DEPTH, then for
 *           d = 4, 6, .., DEPTH, 2^(DEPTH-d) trees of depth d (each group
 *           about as many nodes as the long-lived tree).  A node is a
 *           tracked GC object with two reference slots (48 bytes with the
 *           collector header, as a CPython instance of a class with
 *           __slots__ = ('left', 'right')), allocated through RCGC_NEW
 *           after its children (post-order, as Python evaluates it).
 *   churn   CHURN_OPS operations on a table of 64 + 16384 slots: each op
 *           stores a new object in a random slot and drops the one that was
 *           there; 80 % of the ops use the 64 "nursery" slots (lifetimes of
 *           about 64 ops), 20 % the others (about 80,000 ops).  Half the
 *           new objects are blobs (an object with 8..504 inline bytes:
 *           Python's bytes(n)), half are buffers (an object owning an
 *           rcgc_mem buffer of 16..4096 zeroed bytes, from RCGC_CALLOC:
 *           Python's bytearray(n)).  The sizes and slots are drawn before
 *           the timed part.
 *
 * Automatic collection is off unless GC is 1 (gc_enabled = 0, as
 * gc.disable() in the Python twin): the workload makes no cycles, reference
 * counting frees everything, and with automatic collection on about 70 %
 * of the untraced run is young collections walking the trees, work the
 * tracer does not touch, which would hide what it costs.  Only the
 * workload is timed: the tracer starts before it, and the measurements
 * that cost something (a snapshot, to count the traced blocks) come after
 * the peak RSS and the tracer's overhead are read.  Output: one JSON
 * object on stdout.
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rcgc.h"

/* ---- measurement ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void cpu_now(double *user, double *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* A field of /proc/self/status in MiB (VmRSS, VmHWM); -1 if unavailable. */
static double status_mb(const char *field)
{
    char line[256];
    double v = -1;
    size_t n = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtod(line + n + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static void die(const char *what)
{
    fprintf(stderr, "trace_bench: %s\n", what);
    exit(1);
}

/* ---- the fake interpreter stack (provider modes) ---- */

/* An embedded language keeps its own call stack; this program keeps one
 * too, in every mode (so the untraced baseline pays for it as well), and
 * the provider hands it to the tracer.  Frames name the Python twin's
 * functions. */
#define STACK_MAX 64
static rcgc_frame fstack[STACK_MAX]; /* oldest first */
static int fdepth;

static void push(const char *function, unsigned lineno)
{
    if (fdepth >= STACK_MAX) die("interpreter stack overflow");
    rcgc_frame *f = &fstack[fdepth++];
    f->filename = "trace_alloc.py";
    f->function = function;
    f->lineno = lineno;
    f->module = NULL;
    f->offset = 0;
}

#define AT(line) (fstack[fdepth - 1].lineno = (line)) /* current line */
#define POP() (fdepth--)

static int fake_provider(void *ctx, rcgc_frame *frames, int max, int *total)
{
    (void)ctx;
    int n = fdepth < max ? fdepth : max;
    for (int i = 0; i < n; i++) frames[i] = fstack[fdepth - 1 - i];
    *total = fdepth;
    return n;
}

/* ---- trees ---- */

typedef struct node {
    rcgc_object ob;
    rcgc_object *left, *right;
} node;

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    RCGC_VISIT(n->left);
    RCGC_VISIT(n->right);
    return 0;
}

static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    node *n = (node *)self;
    RCGC_CLEAR(rt, n->left);
    RCGC_CLEAR(rt, n->right);
}

static const rcgc_type node_type = {.name = "Node",
                                    .size = sizeof(node),
                                    .flags = RCGC_TYPE_GC,
                                    .traverse = node_traverse,
                                    .clear = node_clear};

static rcgc_runtime *rt;
static long nodes_made;

static rcgc_object *bottom_up(int depth)
{
    node *n;
    push("bottom_up", 60);
    if (depth > 0) {
        AT(61);
        rcgc_object *left = bottom_up(depth - 1);
        AT(62);
        rcgc_object *right = bottom_up(depth - 1);
        AT(63);
        n = (node *)RCGC_NEW(rt, &node_type);
        if (n == NULL) die("out of memory");
        n->left = left;
        n->right = right;
    } else {
        AT(67);
        n = (node *)RCGC_NEW(rt, &node_type);
        if (n == NULL) die("out of memory");
    }
    if (rcgc_object_track(rt, &n->ob) != 0) die("track failed");
    nodes_made++;
    POP();
    return &n->ob;
}

static long item_check(const rcgc_object *o)
{
    const node *n = (const node *)o;
    return n->left == NULL ? 1 : 1 + item_check(n->left) + item_check(n->right);
}

/* ---- churn ---- */

typedef struct blob {
    rcgc_object ob;
    size_t n;
    unsigned char data[];
} blob;

static const rcgc_type blob_type = {.name = "bytes", .size = sizeof(blob)};

typedef struct buffer {
    rcgc_object ob;
    size_t n;
    unsigned char *data; /* rcgc_mem, n bytes */
} buffer;

static void buffer_release(rcgc_runtime *r, rcgc_object *self)
{
    rcgc_mem_free(r, ((buffer *)self)->data);
}

static const rcgc_type buffer_type = {.name = "bytearray",
                                      .size = sizeof(buffer),
                                      .release = buffer_release};

#define NURSERY 64
#define SLOTS (NURSERY + 16384)

/* Knuth's MMIX LCG, upper 31 bits: cheap to mirror exactly in Python. */
static uint64_t lcg_state;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * UINT64_C(6364136223846793005) +
                UINT64_C(1442695040888963407);
    return (uint32_t)(lcg_state >> 33);
}

typedef struct script {
    long ops;
    uint8_t *kind;   /* 0 blob, 1 buffer */
    uint16_t *size;  /* payload bytes */
    uint32_t *slot;  /* 0..SLOTS-1 */
} script;

static void make_script(script *s, long ops)
{
    s->ops = ops;
    s->kind = malloc((size_t)ops + 1);
    s->size = malloc(((size_t)ops + 1) * sizeof *s->size);
    s->slot = malloc(((size_t)ops + 1) * sizeof *s->slot);
    if (s->kind == NULL || s->size == NULL || s->slot == NULL)
        die("out of memory (script)");
    for (long t = 0; t < ops; t++) {
        uint32_t r1 = lcg(), r2 = lcg();
        s->kind[t] = (uint8_t)(r1 & 1);
        s->size[t] = (uint16_t)(s->kind[t] ? 16 + (r1 >> 1) % 4081
                                           : 8 + (r1 >> 1) % 497);
        s->slot[t] = r2 % 10 < 8 ? (r2 >> 4) % NURSERY
                                 : NURSERY + (r2 >> 4) % (SLOTS - NURSERY);
    }
}

static uint64_t churn(const script *s)
{
    rcgc_object **live = calloc(SLOTS, sizeof *live);
    if (live == NULL) die("out of memory");
    push("churn", 80);
    for (long t = 0; t < s->ops; t++) {
        size_t n = s->size[t];
        rcgc_object *o;
        if (s->kind[t]) {
            AT(83);
            buffer *b = (buffer *)RCGC_NEW(rt, &buffer_type);
            if (b == NULL) die("out of memory");
            b->data = RCGC_CALLOC(rt, 1, n);
            if (b->data == NULL) die("out of memory");
            b->n = n;
            o = &b->ob;
        } else {
            AT(85);
            blob *b = (blob *)RCGC_NEW_SIZED(rt, &blob_type, sizeof(blob) + n);
            if (b == NULL) die("out of memory");
            b->n = n;
            o = &b->ob;
        }
        rcgc_object *old = live[s->slot[t]];
        live[s->slot[t]] = o;
        if (old != NULL) rcgc_decref(rt, old);
    }
    /* checksum: the payload bytes still alive (+ one byte of each, which
     * is 0: the buffers are zeroed, the blobs come zeroed) */
    uint64_t sum = 0;
    for (long i = 0; i < SLOTS; i++) {
        rcgc_object *o = live[i];
        if (o == NULL) continue;
        if (o->type == &buffer_type) {
            const buffer *b = (const buffer *)o;
            sum += b->n + b->data[b->n - 1];
        } else {
            const blob *b = (const blob *)o;
            sum += b->n + b->data[b->n - 1];
        }
        rcgc_decref(rt, o);
    }
    POP();
    free(live);
    return sum;
}

/* ---- modes ---- */

typedef struct mode {
    const char *name;
    int traced;
    rcgc_frame_source source;
    int nframes;
    size_t sample_bytes;
} mode;

static const mode modes[] = {
    {"untraced", 0, RCGC_FRAMES_CALLSITE, 1, 0},
    {"callsite", 1, RCGC_FRAMES_CALLSITE, 1, 0},
    {"cstack1", 1, RCGC_FRAMES_CSTACK, 1, 0},
    {"cstack16", 1, RCGC_FRAMES_CSTACK, 16, 0},
    {"provider1", 1, RCGC_FRAMES_PROVIDER, 1, 0},
    {"provider16", 1, RCGC_FRAMES_PROVIDER, 16, 0},
    {"sampled", 1, RCGC_FRAMES_CALLSITE, 1, (size_t)512 * 1024},
};

int main(int argc, char **argv)
{
    const mode *m = NULL;
    if (argc >= 2)
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (strcmp(argv[1], modes[i].name) == 0) m = &modes[i];
    if (m == NULL) {
        fprintf(stderr, "usage: %s MODE [DEPTH [CHURN_OPS [SEED [GC]]]]\n"
                "modes:",
                argv[0]);
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            fprintf(stderr, " %s", modes[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    int depth = argc > 2 ? atoi(argv[2]) : 18;
    long ops = argc > 3 ? atol(argv[3]) : 500000;
    lcg_state = argc > 4 ? strtoull(argv[4], NULL, 0) : 1;
    int gc = argc > 5 ? atoi(argv[5]) != 0 : 0;
    const int min_depth = 4;
    if (depth < min_depth + 2) depth = min_depth + 2;
    if (ops < 0) ops = 0;

    script sc;
    make_script(&sc, ops);
    rcgc_config rcfg;
    rcgc_config_init(&rcfg);
    rcfg.gc_enabled = gc;
    rt = rcgc_runtime_new(&rcfg);
    if (rt == NULL) die("cannot create the runtime");
    double rss_start = status_mb("VmRSS");

    push("<module>", 120);
    AT(121);
    push("main", 100);
    if (m->traced) {
        rcgc_trace_config cfg;
        rcgc_trace_config_init(&cfg);
        cfg.source = m->source;
        cfg.nframes = m->nframes;
        cfg.sample_bytes = m->sample_bytes;
        cfg.seed = 1;
        if (m->source == RCGC_FRAMES_PROVIDER) cfg.provider = fake_provider;
        int err = rcgc_trace_start(rt, &cfg);
        if (err != 0) {
            fprintf(stderr, "trace_bench: rcgc_trace_start: %s\n",
                    rcgc_strerror(err));
            return 1;
        }
    }

    double u0, s0, u1, s1;
    cpu_now(&u0, &s0);
    double t0 = now();
    long check = 0;

    /* trees */
    AT(102);
    rcgc_object *stretch = bottom_up(depth + 1);
    check += item_check(stretch);
    rcgc_runtime_stats st;
    rcgc_runtime_get_stats(rt, &st);
    size_t stretch_overhead = rcgc_trace_overhead(rt); /* tables at their */
    long stretch_blocks = (long)st.blocks;             /* largest */
    rcgc_decref(rt, stretch);
    AT(105);
    rcgc_object *long_lived = bottom_up(depth);
    for (int d = min_depth; d <= depth; d += 2) {
        long iterations = 1L << (depth - d);
        for (long i = 0; i < iterations; i++) {
            AT(108);
            rcgc_object *t = bottom_up(d);
            check += item_check(t);
            rcgc_decref(rt, t);
        }
    }
    double t_trees = now() - t0;

    /* churn, with the long-lived tree alive */
    AT(112);
    uint64_t churn_sum = churn(&sc);
    check += item_check(long_lived);
    double secs = now() - t0;
    cpu_now(&u1, &s1);

    /* the measurements, the long-lived tree still alive */
    double peak = peak_rss_mb(), hwm = status_mb("VmHWM");
    size_t overhead = rcgc_trace_overhead(rt);
    size_t cur = 0, tpeak = 0;
    rcgc_trace_get_memory(rt, &cur, &tpeak);
    long traced = 0;
    if (m->traced) {
        rcgc_snapshot *snap = rcgc_snapshot_take(rt);
        if (snap == NULL) die("snapshot failed");
        traced = (long)rcgc_snapshot_count(snap);
        rcgc_snapshot_free(snap);
    }
    rcgc_runtime_get_stats(rt, &st);
    rcgc_decref(rt, long_lived);
    POP();
    POP();
    if (m->traced) rcgc_trace_stop(rt);
    int leaks = rcgc_runtime_free(rt, NULL) != 0;
    free(sc.kind);
    free(sc.size);
    free(sc.slot);

    printf("{\"system\": \"rcgc\", \"mode\": \"%s\", \"depth\": %d, "
           "\"churn_ops\": %ld, \"gc\": %d, \"nodes\": %ld, \"checksum\": %llu, "
           "\"wall_s\": %.4f, \"cpu_s\": %.4f, \"user_s\": %.4f, "
           "\"sys_s\": %.4f, \"trees_wall_s\": %.4f, \"peak_rss_mb\": %.1f, "
           "\"vmhwm_mb\": %.1f, \"rss_start_mb\": %.1f, "
           "\"traced_blocks\": %ld, \"live_blocks\": %ld, "
           "\"overhead_bytes\": %zu, \"traced_current\": %zu, "
           "\"traced_peak\": %zu, \"stretch_blocks\": %ld, "
           "\"stretch_overhead_bytes\": %zu, \"leaks\": %d}\n",
           m->name, depth, ops, gc, nodes_made,
           (unsigned long long)((uint64_t)check + churn_sum), secs,
           (u1 - u0) + (s1 - s0), u1 - u0, s1 - s0, t_trees, peak, hwm,
           rss_start, traced, (long)st.blocks, overhead, cur, tpeak,
           stretch_blocks, stretch_overhead, leaks);
    return leaks;
}

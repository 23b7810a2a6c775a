/*
 * benchutil.h - what the collection benchmarks (gc_full, gc_boehm,
 * gc_shapes, gc_pause) share: a monotonic clock, the resident set, the peak
 * resident set, and, with rcgc.h included first, the two-slot node they all
 * build their shapes from.  Header-only; each program includes it once.
 */
#ifndef RCGC_BENCHUTIL_H
#define RCGC_BENCHUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared
 * machine it leaves out the time spent waiting for a core, which wall time
 * includes. */
static inline uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resident bytes now (/proc/self/statm), -1 if unknown. */
static inline long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* The process's peak RSS (VmHWM), printed last as {"case": "end", ...}: the
 * driver's wait4 figure starts at the driver's own RSS (Linux carries the
 * parent's high-water mark into a forked child), so the program says it. */
static inline void print_vmhwm(const char *system)
{
    long kb = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL)
            if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
        fclose(f);
    }
    printf("{\"system\": \"%s\", \"case\": \"end\", \"vmhwm\": %lld}\n",
           system, kb < 0 ? -1LL : (long long)kb * 1024);
    fflush(stdout);
}

#ifdef RCGC_H
/* The collection policy from RCGC_BENCH_POLICY ("cpython311" or
 * "adaptive"; unset: the library's default) into cfg, and its name. */
static inline const char *bench_policy(rcgc_config *cfg)
{
    const char *p = getenv("RCGC_BENCH_POLICY");
    if (p != NULL && strcmp(p, "cpython311") == 0)
        cfg->gc_policy = RCGC_POLICY_CPYTHON311;
    else if (p != NULL && strcmp(p, "adaptive") == 0)
        cfg->gc_policy = RCGC_POLICY_ADAPTIVE;
    else if (p != NULL && *p != '\0') {
        fprintf(stderr, "RCGC_BENCH_POLICY=%s: cpython311 or adaptive\n", p);
        exit(1);
    }
    return cfg->gc_policy == RCGC_POLICY_ADAPTIVE ? "adaptive" : "cpython311";
}

/* The node: the 16-byte header and two inline reference slots (32 bytes),
 * a GC type with traverse and clear. */
typedef struct node {
    rcgc_object ob;
    rcgc_object *ref[2];
} node;

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    node *n = (node *)self;
    RCGC_VISIT(n->ref[0]);
    RCGC_VISIT(n->ref[1]);
    return 0;
}

static void node_clear(rcgc_runtime *rt, rcgc_object *self)
{
    node *n = (node *)self;
    RCGC_CLEAR(rt, n->ref[1]);
    RCGC_CLEAR(rt, n->ref[0]);
}

static const rcgc_type node_type = {
    .name = "node",
    .size = sizeof(node),
    .flags = RCGC_TYPE_GC,
    .traverse = node_traverse,
    .clear = node_clear};

/* The program's name in error messages: define BENCH_NAME before including
 * this file. */
#ifndef BENCH_NAME
#define BENCH_NAME "bench"
#endif

/* Report what failed (with rt's last error) and exit 1. */
static inline void die(const char *what, rcgc_runtime *rt)
{
    fprintf(stderr, BENCH_NAME ": %s: %s\n", what,
            rt ? rcgc_strerror(rcgc_runtime_last_error(rt)) : "failed");
    exit(1);
}

/* NEW: a tracked node with empty slots, or exit. */
static inline rcgc_object *new_node(rcgc_runtime *rt)
{
    rcgc_object *o = rcgc_object_new(rt, &node_type);
    if (o == NULL) die("rcgc_object_new", rt);
    if (rcgc_object_track(rt, o) != 0) die("rcgc_object_track", rt);
    return o;
}
#endif

#endif /* RCGC_BENCHUTIL_H */

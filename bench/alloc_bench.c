/*
 * alloc_bench.c - one allocator on three workloads; bench/alloc_bench.py runs
 * it for every allocator and prints the comparison (bench/README.md,
 * docs/allocator.md).
 *
 * Built once per allocator (BENCH_RCGC, BENCH_MIMALLOC, BENCH_JEMALLOC, or
 * none for glibc), so each binary holds exactly one allocator:
 *
 *   alloc_bench_SYS bintree DEPTH    Benchmarks Game binary-trees, 16-byte nodes
 *   alloc_bench_SYS sizemix OPS      16..512-byte blocks with random lifetimes
 *   alloc_bench_SYS frag N           N blocks, free a random 90 %, RSS given back
 *
 * Each run prints one JSON object on stdout.
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

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double rss_mb(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    if (f != NULL) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static void *xmalloc(size_t n)
{
    void *p = B_MALLOC(n);
    if (p == NULL) {
        fprintf(stderr, "alloc_bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* splitmix64 */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
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

/* ---- binary-trees ---- */

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
    if (n->left != NULL) {
        delete_tree(n->left);
        delete_tree(n->right);
    }
    B_FREE(n);
}

static void bench_bintree(int max_depth)
{
    const int min_depth = 4;
    if (max_depth < min_depth + 2) max_depth = min_depth + 2;
    long check = 0;
    cpu c0 = cpu_now();
    double t0 = now();
    node *stretch = bottom_up(max_depth + 1);
    check += item_check(stretch);
    delete_tree(stretch);
    node *long_lived = bottom_up(max_depth);
    for (int d = min_depth; d <= max_depth; d += 2) {
        long iterations = 1L << (max_depth - d + min_depth);
        for (long i = 0; i < iterations; i++) {
            node *t = bottom_up(d);
            check += item_check(t);
            delete_tree(t);
        }
    }
    check += item_check(long_lived);
    delete_tree(long_lived);
    double secs = now() - t0;
    cpu c1 = cpu_now();
    printf("{\"bench\": \"bintree\", \"system\": \"%s\", \"depth\": %d, "
           "\"nodes\": %ld, \"check\": %ld, \"seconds\": %.4f, \"user\": %.4f, "
           "\"sys\": %.4f, \"ns_per_node\": %.3f, \"ns_per_node_user\": %.3f, "
           "\"peak_rss_mb\": %.1f}\n",
           SYSTEM, max_depth, nodes_made, check, secs, c1.user - c0.user,
           c1.sys - c0.sys, secs * 1e9 / (double)nodes_made,
           (c1.user - c0.user) * 1e9 / (double)nodes_made,
           (double)peak_rss_kb() / 1024.0);
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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s bintree DEPTH | sizemix OPS | frag N "
                "[SEED]\n", argv[0]);
        return 2;
    }
    if (argc > 3) rng_state = strtoull(argv[3], NULL, 0);
    long arg = atol(argv[2]);
    b_init();
    if (strcmp(argv[1], "bintree") == 0)
        bench_bintree((int)arg);
    else if (strcmp(argv[1], "sizemix") == 0)
        bench_sizemix(arg);
    else if (strcmp(argv[1], "frag") == 0)
        bench_frag(arg);
    else {
        fprintf(stderr, "alloc_bench: unknown benchmark %s\n", argv[1]);
        return 2;
    }
    return 0;
}

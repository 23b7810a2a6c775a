/*
 * weak_mem.c - memory cost of weak references and weak-container entries.
 *
 *   weak_mem [N]
 *
 * Creates N objects of a small weakrefable type, then measures the bytes
 * the runtime requests from its allocator (a counting rcgc_allocator) for:
 * one basic weak reference, one weak reference with a callback, and one
 * entry of each container (weak-value map with 8-byte keys, weak set,
 * weak-key map), each as (bytes after - bytes before) / N.  Also the bytes
 * glibc's malloc would reserve for the same requests (its chunk rounding:
 * request + 8, up to a multiple of 16, at least 32), and the weak slot every
 * weakrefable object carries.  Prints one JSON object per line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"

typedef struct counter {
    long long requested; /* bytes asked for, live */
    long long reserved;  /* usable size + chunk header, live */
} counter;

/* What glibc's malloc reserves for a request of n bytes. */
static long long chunk(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return (long long)(c < 32 ? 32 : c);
}

static void *c_malloc(void *ctx, size_t n)
{
    counter *c = ctx;
    size_t *p = malloc(n + 16);
    if (p == NULL) return NULL;
    p[0] = n;
    c->requested += (long long)n;
    c->reserved += chunk(n);
    return p + 2;
}

static void *c_calloc(void *ctx, size_t k, size_t n)
{
    void *p = c_malloc(ctx, k * n);
    if (p != NULL) memset(p, 0, k * n);
    return p;
}

static void c_free(void *ctx, void *ptr)
{
    counter *c = ctx;
    if (ptr == NULL) return;
    size_t *p = (size_t *)ptr - 2;
    c->requested -= (long long)p[0];
    c->reserved -= chunk(p[0]);
    free(p);
}

static void *c_realloc(void *ctx, void *ptr, size_t n)
{
    counter *c = ctx;
    if (ptr == NULL) return c_malloc(ctx, n);
    size_t *p = (size_t *)ptr - 2;
    size_t old = p[0];
    p = realloc(p, n + 16);
    if (p == NULL) return NULL;
    p[0] = n;
    c->requested += (long long)n - (long long)old;
    c->reserved += chunk(n) - chunk(old);
    return p + 2;
}

typedef struct item {
    rcgc_object base;
    long payload;
} item;

static const rcgc_type weak_item = {
    .name = "item", .size = sizeof(item), .flags = RCGC_TYPE_WEAKREF};
static const rcgc_type plain_item = {.name = "item", .size = sizeof(item)};

static int cb(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt, (void)wr, (void)arg;
    return 0;
}

static counter cnt;

static void report(const char *what, counter before, long n)
{
    printf("{\"system\": \"rcgc\", \"what\": \"%s\", \"requested_per_item\": %.1f, "
           "\"reserved_per_item\": %.1f}\n",
           what, (double)(cnt.requested - before.requested) / (double)n,
           (double)(cnt.reserved - before.reserved) / (double)n);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    rcgc_allocator a = {&cnt, c_malloc, c_calloc, c_realloc, c_free};
    cfg.allocator = a;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    rcgc_object **objs = malloc((size_t)n * sizeof *objs);
    rcgc_object **refs = malloc((size_t)n * sizeof *refs);
    if (rt == NULL || objs == NULL || refs == NULL) return 1;

    counter before = cnt;
    for (long i = 0; i < n; i++) rcgc_decref(rt, rcgc_object_new(rt, &plain_item));
    for (long i = 0; i < n; i++) objs[i] = rcgc_object_new(rt, &plain_item);
    report("object without weak slot", before, n);
    for (long i = 0; i < n; i++) rcgc_decref(rt, objs[i]);
    before = cnt;
    for (long i = 0; i < n; i++) objs[i] = rcgc_object_new(rt, &weak_item);
    report("object with weak slot", before, n);

    before = cnt;
    for (long i = 0; i < n; i++) refs[i] = rcgc_weakref_new(rt, objs[i], NULL, NULL);
    report("basic weak reference", before, n);
    for (long i = 0; i < n; i++) rcgc_decref(rt, refs[i]);
    before = cnt;
    for (long i = 0; i < n; i++) refs[i] = rcgc_weakref_new(rt, objs[i], cb, NULL);
    report("weak reference with callback", before, n);
    for (long i = 0; i < n; i++) rcgc_decref(rt, refs[i]);

    const char *names[3] = {"weak-value map entry (8-byte key)", "weak set entry",
                            "weak-key map entry"};
    for (int kind = 0; kind < 3; kind++) {
        before = cnt;
        rcgc_object *c = kind == 0 ? rcgc_wvmap_new(rt)
                         : kind == 1 ? rcgc_wset_new(rt) : rcgc_wkmap_new(rt);
        for (long i = 0; i < n; i++) {
            if (kind == 0) {
                char key[8];
                memcpy(key, &i, sizeof key);
                rcgc_wvmap_set(rt, c, key, sizeof key, objs[i]);
            } else if (kind == 1) {
                rcgc_wset_add(rt, c, objs[i]);
            } else {
                rcgc_wkmap_set(rt, c, objs[i], objs[(i + 1) % n]);
            }
        }
        report(names[kind], before, n);
        rcgc_decref(rt, c);
    }
    for (long i = 0; i < n; i++) rcgc_decref(rt, objs[i]);
    free(objs);
    free(refs);
    return rcgc_runtime_free(rt, NULL) == 0 ? 0 : 1;
}

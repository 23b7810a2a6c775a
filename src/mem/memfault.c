/*
 * memfault.c - fault injection around any allocator: fail the N-th
 * allocation call, every call after the N-th, or any call that would take
 * the live bytes over a limit; count calls, failures, live blocks and bytes.
 *
 * Invariant: `sizes` holds every block allocated through the wrapper and not
 * yet freed, with its requested size; live_bytes is their sum.  Blocks the
 * wrapper did not allocate are passed through uncounted.
 */
#include <string.h>

#include "mem/alloc_internal.h"

struct rcgc_memfault {
    rcgc_allocator base;   /* the wrapped allocator */
    rcgc_allocator meta;   /* for the table and the wrapper itself */
    rcgc__ptrmap sizes;    /* live block -> requested size */
    long calls, failures;  /* since the last reset */
    long fail_at;          /* call number to fail; 0: none */
    long fail_after;       /* fail calls after this many; -1: none */
    size_t limit;          /* on live_bytes; SIZE_MAX: none */
    size_t live_bytes, peak_bytes;
};

/* Count a call; 1 if it must fail (old: bytes freed by it, new: added). */
static int should_fail(rcgc_memfault *f, size_t old, size_t add)
{
    long n = ++f->calls;
    int fail = (f->fail_at != 0 && n == f->fail_at) ||
               (f->fail_after >= 0 && n > f->fail_after) ||
               (f->limit != SIZE_MAX &&
                (add > f->limit || f->live_bytes - old > f->limit - add));
    if (fail) f->failures++;
    return fail;
}

/* Record a new block; on failure to record, give it back and fail. */
static void *fault_record(rcgc_memfault *f, void *p, size_t size)
{
    if (p == NULL) return NULL;
    if (rcgc__ptrmap_put(&f->sizes, p, size, 0) != 0) {
        f->base.free(f->base.ctx, p);
        f->failures++;
        return NULL;
    }
    f->live_bytes += size;
    if (f->live_bytes > f->peak_bytes) f->peak_bytes = f->live_bytes;
    return p;
}

static void *mf_malloc(void *ctx, size_t size)
{
    rcgc_memfault *f = ctx;
    if (should_fail(f, 0, size)) return NULL;
    return fault_record(f, f->base.malloc(f->base.ctx, size), size);
}

static void *mf_calloc(void *ctx, size_t nelem, size_t elsize)
{
    rcgc_memfault *f = ctx;
    if (elsize != 0 && nelem > SIZE_MAX / elsize) return NULL;
    size_t size = nelem * elsize;
    if (should_fail(f, 0, size)) return NULL;
    return fault_record(f, f->base.calloc(f->base.ctx, nelem, elsize), size);
}

static void *mf_realloc(void *ctx, void *ptr, size_t size)
{
    rcgc_memfault *f = ctx;
    if (ptr == NULL) return mf_malloc(ctx, size);
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(&f->sizes, ptr);
    size_t old = e != NULL ? e->size : 0;
    if (should_fail(f, old, size)) return NULL;
    void *p = f->base.realloc(f->base.ctx, ptr, size);
    if (p == NULL || e == NULL) return p;
    /* removing first guarantees room for the put */
    rcgc__ptrmap_remove(&f->sizes, ptr);
    (void)rcgc__ptrmap_put(&f->sizes, p, size, 0);
    f->live_bytes = f->live_bytes - old + size;
    if (f->live_bytes > f->peak_bytes) f->peak_bytes = f->live_bytes;
    return p;
}

static void mf_free(void *ctx, void *ptr)
{
    rcgc_memfault *f = ctx;
    if (ptr == NULL) return;
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(&f->sizes, ptr);
    if (e != NULL) {
        f->live_bytes -= e->size;
        rcgc__ptrmap_remove(&f->sizes, ptr);
    }
    f->base.free(f->base.ctx, ptr);
}

int rcgc_memfault_create(const rcgc_allocator *base,
                         const rcgc_allocator *meta, rcgc_memfault **out)
{
    if (out == NULL) return RCGC_EINVAL;
    *out = NULL;
    rcgc_allocator m = meta != NULL && meta->malloc != NULL ? *meta
                                                            : rcgc_libc_allocator();
    if (base == NULL || rcgc__allocator_complete(base) != 1 ||
        rcgc__allocator_complete(&m) != 1)
        return RCGC_EINVAL;
    rcgc_memfault *f = m.calloc(m.ctx, 1, sizeof *f);
    if (f == NULL) return RCGC_ENOMEM;
    f->base = *base;
    f->meta = m;
    rcgc__ptrmap_init(&f->sizes, &m);
    rcgc_memfault_reset(f);
    *out = f;
    return 0;
}

rcgc_memfault *rcgc_memfault_new(const rcgc_allocator *base,
                                 const rcgc_allocator *meta)
{
    rcgc_memfault *f;
    return rcgc_memfault_create(base, meta, &f) == 0 ? f : NULL;
}

rcgc_ssize rcgc_memfault_destroy(rcgc_memfault *f)
{
    if (f == NULL) return 0;
    rcgc_ssize live = (rcgc_ssize)f->sizes.count;
    rcgc__ptrmap_fini(&f->sizes);
    f->meta.free(f->meta.ctx, f);
    return live;
}

rcgc_allocator rcgc_memfault_allocator(rcgc_memfault *f)
{
    rcgc_allocator a = {f, mf_malloc, mf_calloc, mf_realloc, mf_free};
    return a;
}

void rcgc_memfault_fail_at(rcgc_memfault *f, long n)
{
    f->fail_at = n > 0 ? f->calls + n : 0;
}

void rcgc_memfault_fail_after(rcgc_memfault *f, long n)
{
    f->fail_after = n >= 0 ? f->calls + n : -1;
}

void rcgc_memfault_set_limit(rcgc_memfault *f, size_t limit)
{
    f->limit = limit;
}

void rcgc_memfault_reset(rcgc_memfault *f)
{
    f->calls = f->failures = 0;
    f->fail_at = 0;
    f->fail_after = -1;
    f->limit = SIZE_MAX;
}

void rcgc_memfault_get_stats(const rcgc_memfault *f,
                             rcgc_memfault_stats *out)
{
    out->calls = f->calls;
    out->failures = f->failures;
    out->live_blocks = (rcgc_ssize)f->sizes.count;
    out->live_bytes = f->live_bytes;
    out->peak_bytes = f->peak_bytes;
}

/*
 * libc.c - the C library's allocator as an rcgc_allocator: the raw domain's
 * default and the base every other part of the allocator layer falls back
 * on (pymalloc's large blocks, the debug layer's and the fault injector's
 * tables).  The bottom of src/mem/: it uses nothing else of the library.
 * Also the process allocator: the one allocator of memory that belongs to
 * no runtime (snapshots, their statistics, the snapshot files' buffers),
 * the C library unless the program installs another.
 */
#include <stdlib.h>

#include "mem/alloc_internal.h"

static void *libc_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size ? size : 1);
}

static void *libc_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    if (nelem == 0 || elsize == 0) nelem = elsize = 1;
    return calloc(nelem, elsize);
}

static void *libc_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size ? size : 1);
}

static void libc_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

rcgc_allocator rcgc_libc_allocator(void)
{
    rcgc_allocator a = {NULL, libc_malloc, libc_calloc, libc_realloc, libc_free};
    return a;
}

int rcgc__allocator_is_libc(const rcgc_allocator *a)
{
    return a->malloc == libc_malloc && a->calloc == libc_calloc &&
           a->realloc == libc_realloc && a->free == libc_free;
}

/* ---- the process allocator ---- */

static rcgc_allocator process_allocator = {NULL, libc_malloc, libc_calloc,
                                           libc_realloc, libc_free};

int rcgc_process_allocator_set(const rcgc_allocator *a)
{
    if (a == NULL) {
        process_allocator = rcgc_libc_allocator();
        return 0;
    }
    if (rcgc__allocator_complete(a) != 1) return RCGC_EINVAL;
    process_allocator = *a;
    return 0;
}

rcgc_allocator rcgc_process_allocator_get(void)
{
    return process_allocator;
}

/*
 * libc.c - the C library's allocator as an rcgc_allocator: the raw domain's
 * default and the base every other part of the allocator layer falls back
 * on (pymalloc's large blocks, the debug layer's and the fault injector's
 * tables).  The bottom of src/mem/: it uses nothing else of the library.
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

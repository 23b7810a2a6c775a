/*
 * platform/assert.h - RCGC_ASSERT, the library's internal assertion (the
 * lowest layer: every module may use it; it needs only the C library).
 *
 *   RCGC_ASSERT(cond)   at RCGC_DEBUG >= 2: if cond is false, print
 *                       "file:line: function: assertion failed: cond" on
 *                       stderr and abort();
 *                       below: compiled out; cond is still type-checked
 *                       (inside sizeof) but never evaluated, so it may call
 *                       functions or be costly.
 *
 * For invariants of the library's own structures (pool and arena states,
 * list membership, counts that cannot go negative, table sizes), never for
 * a caller's input: misuse is reported by the RCGC_DEBUG >= 1 checks, bad
 * input by error codes.  mimalloc's mi_assert_internal at MI_DEBUG 2 is the
 * model.  The debug levels: docs/layout.md.
 */
#ifndef RCGC_PLATFORM_ASSERT_H
#define RCGC_PLATFORM_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#include "rcgc_config.h" /* RCGC_DEBUG */

#if RCGC_DEBUG >= 2

#if defined(__GNUC__)
__attribute__((noreturn, cold))
#endif
static inline void rcgc__assert_fail(const char *expr, const char *file, int line,
                              const char *func)
{
    fflush(stdout); /* what the program printed comes first */
    fprintf(stderr, "%s:%d: %s: rcgc assertion failed: %s\n", file, line,
            func, expr);
    fflush(stderr);
    abort();
}

#define RCGC_ASSERT(cond)                                                     \
    ((cond) ? (void)0 : rcgc__assert_fail(#cond, __FILE__, __LINE__, __func__))

#else

#define RCGC_ASSERT(cond) ((void)sizeof((cond) ? 1 : 0))

#endif

#endif /* RCGC_PLATFORM_ASSERT_H */

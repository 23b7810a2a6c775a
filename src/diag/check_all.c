/*
 * check_all.c - rcgc_check: every invariant checker of a runtime, in one
 * call (Lua's lua_checkmemory, for the whole library).  It sits in diag
 * because it calls into every layer below: mem (the heap's pools and debug
 * guards), core (the collector's lists), weak (weak references and the weak
 * containers) and trace (the tracer's tables).  Each checker describes the
 * first violation it finds; docs/layout.md lists the invariants.
 */
#include "core/internal.h"
#include "trace/tracer_internal.h"
#include "weak/weak_internal.h"

int rcgc_check(rcgc_runtime *rt)
{
    if (rt == NULL) return RCGC_EINVAL;
    int r = rcgc_heap_check(&rt->heap); /* 0, RCGC_ECORRUPT or RCGC_ENOMEM */
    /* The other walks follow the collector's lists: not when they are
     * broken, nor while a collection holds objects in private lists. */
    if (rcgc_gc_check(rt) != 0) return RCGC_ECORRUPT;
    if (rt->collecting) return r;
    if (rcgc__weakref_check(rt) != 0) r = RCGC_ECORRUPT;
    if (rcgc__weakmap_check(rt) != 0) r = RCGC_ECORRUPT;
    if (rcgc__trace_check(rt) != 0) r = RCGC_ECORRUPT;
    if (rcgc__heaptype_check(rt) != 0) r = RCGC_ECORRUPT;
    return r;
}

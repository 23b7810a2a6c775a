/*
 * diag_internal.h - what the files of leak diagnosis (objgraph for rcgc)
 * share: the lists that hold every tracked object, the busy test, the
 * prefetching walk.  Design and invariants: docs/diagnosis.md.
 *
 *   diag_counts.c   counts by type, their growth, objects of a type;
 *   diag_why.c      why an object is alive (the reverse index);
 *   diag_graph.c    the neighbourhoods of an object (referrers, referents);
 *   diagnose_dot.c  the writers (text, JSON, DOT) and Graphviz.
 *
 * Roots are found by the collector's own method, over every tracked object
 * (generations 0-2 and the permanent generation): an object is a root when
 * its reference count exceeds the references the tracked graph holds to it.
 * To count those references fast, the queries borrow the collector's header
 * word `prev` exactly as a collection does between update_refs and
 * move_unreachable (refs bits + COLLECTING, the list singly linked, `next`
 * never written), and give it back before returning:
 *
 *   why_alive       index_graph: a dense index per object in the refs bits,
 *                   edges and internal counts in side arrays;
 *                   restore_and_mark_roots: links back, roots in a bitmap;
 *                   then a backward search on the side arrays only.
 *   graphs          count_internal: the internal count itself in the refs
 *                   bits; restore_links: links back.
 *
 * In both, the count of an object starts the first time it is seen, as
 * referent or in the walk, whichever comes first (COLLECTING tells): CPython
 * copies every refcount in a pass of its own (update_refs) before
 * subtracting; this saves that pass.  Between the two passes only traverse
 * and ephemerons (client code that may not call into rcgc) and the MEM
 * domain's allocator run, and rt->collecting is set, so that nothing can
 * start a collection, and so that a query made from a collection's
 * callbacks is refused: the collection owns the headers then.
 */
#ifndef RCGC_DIAG_INTERNAL_H
#define RCGC_DIAG_INTERNAL_H

#include "core/internal.h"
#include "rcgc_diag.h"

#define DIAG_NLISTS (RCGC_NUM_GENERATIONS + 1)
#define DIAG_DEFAULT_MAX_NODES 200

/* The lists that hold every tracked object between collections. */
static inline gc_head *list_at(rcgc_runtime *rt, int i)
{
    return i < RCGC_NUM_GENERATIONS ? &rt->gen[i].head : &rt->permanent;
}

/* The collector's state is in use during a collection (and its callbacks,
 * finalizers and weak reference callbacks) and during teardown. */
static inline int busy(const rcgc_runtime *rt)
{
    return rt->collecting || rt->tearing_down;
}

/* The next node, with the one after it requested from memory.  Nodes
 * allocated together lie at a constant stride, so next + stride predicts
 * the node after next well before the chase gets there; a wrong guess
 * costs one useless prefetch.  This roughly halves a walk over millions
 * of nodes, which is otherwise one cache miss after another. */
#define WALK_AHEAD 8
static inline gc_head *walk_next(gc_head *g, const gc_head *prev)
{
    gc_head *next = gc_next(g);
#if defined(__GNUC__)
    __builtin_prefetch((const char *)next +
                       ((const char *)g - (const char *)prev) * WALK_AHEAD);
#else
    (void)prev;
#endif
    return next;
}

/* s as a JSON string literal (diagnose_dot.c): quotes, backslashes and
 * control characters escaped; html: '<', '>', '&' too, for a <script>. */
void rcgc__diag_json_string(FILE *f, const char *s, int html);

#endif /* RCGC_DIAG_INTERNAL_H */

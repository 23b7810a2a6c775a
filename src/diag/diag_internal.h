/*
 * diag_internal.h - what the files of leak diagnosis (objgraph for rcgc)
 * share: the busy test, the index map of the tracked objects and their
 * numbering.  Design and invariants: docs/diagnosis.md.
 *
 *   diag_counts.c   counts by type, their growth, objects of a type;
 *   diag_why.c      why an object is alive (the reverse index);
 *   diag_graph.c    the neighbourhoods of an object (referrers, referents);
 *   diagnose_dot.c  the writers (text, JSON, DOT) and Graphviz.
 *
 * Roots are found by the collector's own method, over every tracked object
 * (generations 0-2 and the permanent generation): an object is a root when
 * its reference count exceeds the references the tracked graph holds to it.
 * The queries write nothing into objects or the collector's headers: they
 * enumerate tracked objects through core/gcwalk.h, and keep what they know
 * per object in side tables:
 *
 *   why_alive, dominators, heap snapshots
 *                   number: every tracked object's walk position as a dense
 *                   32-bit index, in an index map (rcgc__idxmap: address ->
 *                   index, allocated before the walk for rt->tracked keys);
 *                   edges: one traverse per object, each referent looked up
 *                   in the map once, internal counts and edges in arrays
 *                   indexed by it; roots: refcount > internal count.
 *   graphs          the external counts of the graph's few nodes: one
 *                   traverse per tracked object, each referent looked up in
 *                   the graph's own small map of nodes.
 *
 * While the walks run, only traverse and ephemerons (client code that may
 * not call into rcgc) and the MEM domain's allocator run, and rt->collecting
 * is set, so that nothing can start a collection (which would reorder or
 * free what the walk enumerates), and so that a query made from a
 * collection's callbacks is refused.
 */
#ifndef RCGC_DIAG_INTERNAL_H
#define RCGC_DIAG_INTERNAL_H

#include <string.h>

#include "core/gcwalk.h"
#include "core/internal.h"
#include "rcgc_diag.h"

#define DIAG_DEFAULT_MAX_NODES 200

/* The collector's state is in use during a collection (and its callbacks,
 * finalizers and weak reference callbacks) and during teardown. */
static inline int busy(const rcgc_runtime *rt)
{
    return rt->collecting || rt->tearing_down;
}

/* An index map for up to n tracked objects, its slots from the MEM domain
 * (zeroed); 0 or RCGC_ENOMEM.  Free with diag_map_free. */
static inline int diag_map_alloc(rcgc_runtime *rt, rcgc__idxmap *m, size_t n)
{
    memset(m, 0, sizeof *m);
    if (n > RCGC__IDXMAP_MAX_KEYS) return RCGC_ENOMEM;
    void *block = rcgc__calloc(rt, rcgc__idxmap_bytes(n), 1);
    if (block == NULL) return RCGC_ENOMEM;
    rcgc__idxmap_init(m, block, n);
    return 0;
}

static inline void diag_map_free(rcgc_runtime *rt, rcgc__idxmap *m)
{
    rcgc__free(rt, (void *)m->keys);
    memset(m, 0, sizeof *m);
}

/* number: every tracked object (walk order: core/gcwalk.h) gets its walk
 * position in m, and in obj[] when obj is not NULL (room for m->max).
 * Returns the count, or -1 when there are more than m->max (rt->tracked is
 * wrong: corrupt). */
static inline rcgc_ssize diag_number(rcgc_runtime *rt, rcgc__idxmap *m,
                                     rcgc_object **obj)
{
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
    uint32_t n = 0;
    for (rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL; n++) {
        if (rcgc__idxmap_add(m, o, n) != 0) return -1;
        if (obj != NULL) obj[n] = o;
    }
    return (rcgc_ssize)n;
}

/* s as a JSON string literal (diagnose_dot.c): quotes, backslashes and
 * control characters escaped; html: '<', '>', '&' too, for a <script>. */
void rcgc__diag_json_string(FILE *f, const char *s, int html);

#endif /* RCGC_DIAG_INTERNAL_H */

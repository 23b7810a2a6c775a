/*
 * diag_dom.h - the dominator tree of the tracked graph (diag_dom.c), for
 * the diagnosis files that report it.  Design: docs/diagnosis.md
 * ("Retained sizes").
 *
 * Numbers are DFS preorder numbers: 1 is the synthetic root (whose children
 * are the roots), 2..last the objects a root reaches, in the order a
 * depth-first search from the roots (in list walk order) first meets them.
 * A dominator always has a smaller number than what it dominates.
 */
#ifndef RCGC_DIAG_DOM_H
#define RCGC_DIAG_DOM_H

#include "core/internal.h"

#define DOM_UNSEEN 0u /* the preorder number of an object no root reaches */
#define DOM_SYNTH 1u  /* the synthetic root's */
#define DOM_EPHEMERON 0x80000000u /* in a forward edge: an ephemeron value */
#define DOM_INDEX 0x7fffffffu     /* in a forward edge: the referent */

/* The node id of the object at walk position v in a heap snapshot
 * (diag_heapsnapshot.c; 1 and 3 are its synthetic nodes). */
#define RCGC__HEAPSNAPSHOT_ID(v) (5 + 2 * (uint64_t)(v))

struct scratch;

/* The forward graph by walk index: object v's referents are
 * child[start[v] .. start[v+1]) (DOM_INDEX bits; DOM_EPHEMERON set for the
 * values a weak-key table holds), traverse order then ephemeron order. */
struct dom_fwd {
    uint32_t *start;  /* index -> first edge; start[n] = edges */
    uint32_t *child;  /* edge -> referent's index (| DOM_EPHEMERON) */
    uint32_t *cnt;    /* index -> internal count */
    rcgc_ssize n, m, ecap;
    rcgc_runtime *rt;
    struct scratch *sc;
    const rcgc__idxmap *map; /* while the edges are read: object -> index */
    int failed;
};

struct domtree {
    uint32_t *pre;          /* walk index -> preorder number, 0: unreachable */
    uint32_t *idom;         /* preorder -> immediate dominator's (1: R) */
    size_t *self;           /* preorder -> rcgc_sizeof */
    size_t *retained;       /* preorder -> self + what it dominates */
    uint8_t *rootp;         /* bit per preorder number: a root */
    uint32_t last;          /* the largest preorder number (1: none) */
    rcgc_ssize objects;     /* tracked objects (walk indexes 0..objects-1) */
    rcgc_ssize edges;       /* references between them */
    rcgc_ssize roots;
    rcgc_ssize inconsistent;
    rcgc_ssize unreachable; /* tracked objects no root reaches */
    size_t unreachable_size;
    size_t total_size;      /* retained[1]: the reachable objects' bytes */
    size_t scratch;         /* peak side memory, bytes */
};

/* Build d for rt (not during a collection or teardown: the caller checks).
 * 0, RCGC_ENOMEM, RCGC_EFAILED (a traverse returned non-zero) or
 * RCGC_ECORRUPT (more tracked objects than rt->tracked); on error d is
 * empty.  Writes
 * nothing into objects: the indexes are in a side table. */
int rcgc__domtree_build(rcgc_runtime *rt, struct domtree *d);

static inline int rcgc__domtree_is_root(const struct domtree *d, uint32_t p)
{
    return (d->rootp[p >> 3] >> (p & 7)) & 1;
}
void rcgc__domtree_free(rcgc_runtime *rt, struct domtree *d);

/* Only the forward graph and the roots (a bit per walk index, *nroots of
 * them): number, edges and roots, with the index map while they run.
 * Errors as rcgc__domtree_build's; free with rcgc__forward_free. */
int rcgc__forward_graph(rcgc_runtime *rt, struct dom_fwd *f, uint8_t **roots,
                        rcgc_ssize *nroots, rcgc_ssize *inconsistent);
void rcgc__forward_free(rcgc_runtime *rt, struct dom_fwd *f, uint8_t **roots);

#endif /* RCGC_DIAG_DOM_H */

/*
 * gcwalk.h - enumerating the tracked objects: one generation, all of them,
 * or the frozen (permanent) generation, with an early stop (leave the loop).
 *
 *     rcgc__gcwalk w;
 *     rcgc__gcwalk_init(&w, rt, RCGC__GCWALK_ALL);
 *     for (rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL;) ...
 *
 * This is how code outside the collector (src/diag) enumerates tracked
 * objects; it never touches the generation lists, gc_next or gc_head_of
 * for that (docs/layout-16.md, step 4: the lists go away for pool objects,
 * and only this header changes).
 *
 * Order.  Today: generation 0, 1, 2, then frozen (for ALL); in each, its
 * list's order, then for generation 0 the young vector's live entries in
 * the vector's order (docs/layout-16.md, step 3a).  The walk changes
 * nothing: it reads the lists, the vector and the side bytes.  From step
 * 3b of docs/layout-16.md: address order for generation 2 and frozen.
 * Callers may rely on the order being the same from one walk to the next
 * while nothing is tracked, untracked or collected in between (a walk
 * position is a dense index), never on which order it is.
 *
 * What may run between two calls of next.  The walk reads the link to the
 * following object before it returns one, so the caller may untrack or
 * free the object just returned, but nothing else: no other object may be
 * tracked, untracked, freed or moved between generations (which a
 * collection, a finalizer or a deallocation could do) until the walk ends.
 * The diagnosis calls only traverse, ephemerons, extra_size (client code
 * with traverse's rules: it does not call into rcgc) and the MEM domain's
 * allocator (whose hooks must not touch objects) between calls; the walks
 * whose results are indexed by walk position also hold rt->collecting, so
 * that no collection can start.
 *
 * Cost: the list walk it replaces, with the stride prefetch (each next is
 * one dependent load; the node RCGC__GCWALK_AHEAD strides further on is
 * requested from memory meanwhile); 3 instructions more per object than
 * the per-list loops it replaced (count_types on 10^6: 19.0 M -> 22.0 M,
 * the same time).
 */
#ifndef RCGC_GCWALK_H
#define RCGC_GCWALK_H

#include "core/internal.h"

/* Which objects: a generation 0 .. RCGC_NUM_GENERATIONS - 1, or: */
#define RCGC__GCWALK_FROZEN RCGC_NUM_GENERATIONS /* the permanent generation */
#define RCGC__GCWALK_ALL (-1) /* generations 0, 1, 2, then frozen */

typedef struct rcgc__gcwalk {
    rcgc_runtime *rt;
    gc_head *list; /* the head of the list being walked */
    gc_head *g;    /* the node next returns (list: this list is done) */
    gc_head *prev; /* the node returned last (list: none yet) */
    rcgc_ssize vi; /* in the young vector: the next entry to look at;
                      -1 while walking a list */
    int at, last;  /* generation being walked, the last one to walk */
    int done;
} rcgc__gcwalk;

static inline gc_head *rcgc__gcwalk_list(rcgc_runtime *rt, int i)
{
    return i < RCGC_NUM_GENERATIONS ? &rt->gen[i].head : &rt->permanent;
}

static inline void rcgc__gcwalk_start(rcgc__gcwalk *w)
{
    w->list = rcgc__gcwalk_list(w->rt, w->at);
    w->prev = w->list;
    w->g = gc_next(w->list);
    w->vi = -1;
}

/* Start a walk of which (a generation, RCGC__GCWALK_FROZEN or
 * RCGC__GCWALK_ALL).  Reads the first link only; changes nothing. */
static inline void rcgc__gcwalk_init(rcgc__gcwalk *w, rcgc_runtime *rt, int which)
{
    RCGC_ASSERT(which >= RCGC__GCWALK_ALL && which <= RCGC__GCWALK_FROZEN);
    w->rt = rt;
    w->at = which == RCGC__GCWALK_ALL ? 0 : which;
    w->last = which == RCGC__GCWALK_ALL ? RCGC__GCWALK_FROZEN : which;
    w->done = 0;
    rcgc__gcwalk_start(w);
}

#define RCGC__GCWALK_AHEAD 8 /* strides of prefetch */

/* The next tracked object (BORROWED), or NULL when the walk is over (and
 * at every later call). */
static inline rcgc_object *rcgc__gcwalk_next(rcgc__gcwalk *w)
{
    for (;;) {
        if (w->done) return NULL;
        if (w->vi >= 0) { /* the vectored objects of generation at */
            const struct rcgc__vec *v = &w->rt->vec[w->at];
            while (w->vi < v->len) {
                gc_head *g = v->v[w->vi++];
                if (rcgc__vec_live(g, w->at)) return gc_object_of(g);
            }
        } else if (w->g != w->list) {
            break;
        } else if (w->at < RCGC__VEC_GENS) {
            w->vi = 0; /* the list is done: the vector's turn */
            continue;
        }
        if (w->at == w->last) {
            w->done = 1;
            return NULL;
        }
        w->at++;
        rcgc__gcwalk_start(w);
    }
    gc_head *g = w->g;
    /* at RCGC_DEBUG >= 2: the node is still tracked and in its list (only
     * the object returned last may have left it) */
    RCGC_ASSERT(gc_is_tracked(g) && gc_next(gc_prev(g)) == g);
    gc_head *next = gc_next(g);
#if defined(__GNUC__)
    /* Nodes allocated together lie at a constant stride: next + stride
     * predicts the node after next long before the chase gets there; a
     * wrong guess costs one useless prefetch. */
    /* (in integers: a prefetch never faults, but pointer arithmetic that
     * leaves its object is undefined, and the distance from a list head in
     * the runtime to a pool object times 8 can wrap: UBSan) */
    __builtin_prefetch((const void *)((uintptr_t)next +
                                      ((uintptr_t)g - (uintptr_t)w->prev) *
                                          RCGC__GCWALK_AHEAD));
#endif
    w->prev = g;
    w->g = next;
    return gc_object_of(g);
}

#endif /* RCGC_GCWALK_H */

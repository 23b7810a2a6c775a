/*
 * weak_internal.h - what the files of src/weak/ share: the weak reference
 * object (weakref.c), the internal weak references that weak containers
 * (weakmap.c) and finalize objects (finalize.c) own.  The layer's part of
 * deaths, collections and teardown reaches the core through rt->up
 * (core/internal.h), installed with the first weak reference (weakref.c)
 * and the first registered finalize object (finalize.c).  Not public.
 */
#ifndef RCGC_WEAK_INTERNAL_H
#define RCGC_WEAK_INTERNAL_H

#include "core/internal.h"

/* ---- weak references (weakref.c) ---- */

enum weakref_kind {
    WR_PLAIN = 0,   /* rcgc_weakref_new */
    WR_METHOD = 1,  /* rcgc_weakmethod_new: struct weakmethod */
    WR_INTERNAL = 2 /* owned by a container or a finalize object */
};

#define WR_DETACHED 1u /* refcount death: the callback is being called */

/* What the owner of an internal weak reference does when its referent dies
 * (wr is dead already; its owner is non-NULL). */
typedef struct weakref_internal weakref_internal;
typedef void (*weakref_fire_fn)(rcgc_runtime *rt, weakref_internal *wr);

struct weakref {
    rcgc_object base;
    rcgc_object *referent;          /* borrowed; NULL once dead */
    weakref *prev, *next;           /* the referent's list */
    union {
        struct {                    /* WR_PLAIN, WR_METHOD */
            rcgc_weakref_callback callback; /* the user's, or NULL */
            rcgc_object *cb_arg;    /* strong, traversed; may be NULL */
        };
        struct {                    /* WR_INTERNAL */
            weakref_fire_fn fire;   /* the owner's reaction */
            void *owner;            /* borrowed; the owner nulls it when it
                                       lets go of the reference */
        };
    };
    unsigned kind;                  /* enum weakref_kind */
    unsigned flags;                 /* WR_DETACHED */
};

/* A weak reference owned by a container or a finalize object. */
struct weakref_internal {
    weakref wr;
    rcgc_ssize slot;                /* the owner's bookkeeping */
};

/* NEW: an internal weak reference to obj (weakrefable, alive), tracked. */
weakref_internal *rcgc__weakref_new_internal(rcgc_runtime *rt,
                                             rcgc_object *obj,
                                             weakref_fire_fn fire, void *owner,
                                             rcgc_ssize slot);

/* Invariant checker of every weak reference and every weakrefable object's
 * list (docs/weakref.md): 0, or RCGC_ECORRUPT with the first violation
 * described on the debug stream. */
int rcgc__weakref_check(rcgc_runtime *rt);
/* The same for the weak containers (weakmap.c): sizes, entries, index, and
 * the internal weak references' back links. */
int rcgc__weakmap_check(rcgc_runtime *rt);

#endif /* RCGC_WEAK_INTERNAL_H */

/*
 * internal.h - declarations shared by the library's modules: the runtime
 * state, the debug header, and the functions modules call across files
 * (rcgc__<module>_<verb>).  Nothing here is part of the public API.
 */
#ifndef RCGC_INTERNAL_H
#define RCGC_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "mem/alloc_internal.h"
#include "core/gchead.h"
#include "rcgc.h"

#if defined(__GNUC__)
#define RCGC__NORETURN __attribute__((noreturn))
#define RCGC__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RCGC__NOINLINE __attribute__((noinline))
#else
#define RCGC__NOINLINE
#define RCGC__NORETURN
#define RCGC__PRINTF(f, a)
#endif

/* Deallocations nested deeper than this are deferred (CPython's trashcan
 * unwind level). */
#define RCGC__TRASH_LIMIT 50

/* ---- the debug header (RCGC_DEBUG >= 1), just before the object ---- */

#define RCGC__MAGIC_ALIVE 0x52434743u /* "RCGC" */
#define RCGC__MAGIC_FREED 0xDDDEADDDu

typedef struct debug_head {
    uint32_t magic;            /* RCGC__MAGIC_ALIVE or RCGC__MAGIC_FREED */
    uint32_t gc_mem;           /* 1 if a gc_head precedes this header */
    rcgc_runtime *rt;          /* owner */
    size_t size;               /* instance size in bytes */
    uint64_t serial;           /* allocation number within the runtime */
    struct debug_head *prev;   /* all live objects of the runtime */
    struct debug_head *next;
} debug_head;

#if RCGC_DEBUG >= 1
_Static_assert(sizeof(debug_head) == RCGC__DEBUG_HEAD_SIZE,
               "debug header size must match gchead.h");
#endif

static inline debug_head *debug_head_of(const rcgc_object *o)
{
    return (debug_head *)(void *)((char *)o - RCGC__DEBUG_HEAD_SIZE);
}

static inline rcgc_object *debug_object_of(const debug_head *d)
{
    return (rcgc_object *)(void *)((char *)d + RCGC__DEBUG_HEAD_SIZE);
}

/* ---- the weak slot (RCGC_TYPE_WEAKREF), in front of the gc_head ---- */

#define RCGC__WEAK_SLOT_SIZE 16

typedef struct weakref weakref; /* weak/weak_internal.h */

static inline int type_is_weakrefable(const rcgc_type *t)
{
    return (t->flags & RCGC_TYPE_WEAKREF) != 0;
}

/* Bytes in front of the object: weak slot, gc_head, debug header.  A table
 * indexed by the three low flag bits (GC, UNTRACK_ON_FULL, WEAKREF): one
 * load on the object paths instead of two tests. */
#define RCGC__PRE_(f)                                                         \
    (((f) & RCGC_TYPE_WEAKREF ? RCGC__WEAK_SLOT_SIZE : 0) +                   \
     ((f) & RCGC_TYPE_GC ? sizeof(gc_head) : 0) + RCGC__DEBUG_HEAD_SIZE)
_Static_assert((RCGC_TYPE_GC | RCGC_TYPE_UNTRACK_ON_FULL | RCGC_TYPE_WEAKREF) == 7,
               "rcgc__pre_size's table covers the flags that add a header");
static inline size_t rcgc__pre_size(const rcgc_type *t)
{
    static const unsigned char pre[8] = {
        RCGC__PRE_(0u), RCGC__PRE_(1u), RCGC__PRE_(2u), RCGC__PRE_(3u),
        RCGC__PRE_(4u), RCGC__PRE_(5u), RCGC__PRE_(6u), RCGC__PRE_(7u)};
    return pre[t->flags & 7u];
}

/* The head of the list of weak references to o (a weakrefable object). */
static inline weakref **weaklist_of(const rcgc_object *o)
{
    char *p = (char *)o - RCGC__DEBUG_HEAD_SIZE -
              (gc_is_gc(o) ? sizeof(gc_head) : 0) - RCGC__WEAK_SLOT_SIZE;
    return (weakref **)(void *)p;
}

/* The slot's second word: the trashcan's link for non-GC weakrefable
 * objects (whose reference count must read 0 while they wait). */
static inline uintptr_t *weak_spare_of(const rcgc_object *o)
{
    return (uintptr_t *)(weaklist_of(o) + 1);
}

/* ---- what the core asks of the layers above it ---- */

/* The core never includes or calls weak/ or trace/: those layers install
 * their part of a death, a collection and a teardown here when they are
 * first used (the first weak reference or finalize object, the tracer's
 * start), so a runtime that never used them pays nothing. */
typedef struct rcgc__upcalls {
    /* weak/weakref.c: refcount death of o, a weakrefable object whose list
     * is not empty: clear its weak references, then run the callbacks */
    void (*clear_weakrefs)(rcgc_runtime *rt, rcgc_object *o);
    /* the same without callbacks (o is being freed by the collector or
     * teardown, or resurrected by a finalizer) */
    void (*clear_weakrefs_silently)(rcgc_object *o);
    /* the collector's phase (CPython's handle_weakrefs): returns the weak
     * references freed, *ran counts the reactions that ran */
    rcgc_ssize (*handle_weakrefs)(rcgc_runtime *rt, gc_head *unreachable,
                                  gc_head *old, rcgc_ssize *ran);
    /* weak/finalize.c: teardown's at-exit stage */
    void (*finalize_atexit)(rcgc_runtime *rt);
    /* trace/tracer.c: teardown stops the tracer */
    void (*trace_fini)(rcgc_runtime *rt);
} rcgc__upcalls;

/* ---- runtime state ---- */

struct gc_generation {
    gc_head head;  /* list of tracked objects */
    int threshold; /* collect when count exceeds it */
    int count;     /* see rcgc_gc_get_count */
};

struct gc_callback {
    rcgc_gc_callback_fn fn;
    void *ctx;
};

/* Freed objects kept unreusable for a while (RCGC_DEBUG >= 2). */
#define RCGC__QUARANTINE_SLOTS 4096

/*
 * What the object paths need of a static type (object.c), worked out at its
 * first allocation in a runtime instead of at every allocation and
 * deallocation: a static type stays unchanged while a runtime uses it
 * (docs/types.md), so its facts do too.  Heap types, which can be freed
 * and their memory reused for another type, are never cached; nor are
 * invalid types and those whose instances do not fit a pool block.  A
 * direct-mapped table indexed by the type's address (bits 3 to 7).
 */
#define RCGC__TCACHE_SLOTS 32
#define RCGC__TF_GC 1u    /* RCGC_TYPE_GC */
#define RCGC__TF_PLAIN 2u /* deallocation is clear then free: no finalize,
                             legacy_finalize or release, not weakrefable */
#define RCGC__TF_ZERO2 4u /* the block's first and last 16 bytes and the
                             object's header (written anyway) cover it: two
                             16-byte stores zero it */
typedef struct rcgc__tfacts {
    const rcgc_type *type; /* RCGC__TCACHE_EMPTY: no type */
    uint16_t bytes;        /* the block: headers and instance, rounded to
                              the pool's class (16-byte units) */
    uint16_t pre;          /* header bytes in front of the object */
    uint8_t kind;          /* RCGC__TF_* */
} rcgc__tfacts;
/* The empty slots' key: no type's address (NULL, which a slot must not
 * match either, is not it). */
#define RCGC__TCACHE_EMPTY ((const rcgc_type *)(uintptr_t)8)

struct rcgc_runtime {
    struct rcgc_heap heap;         /* OBJ: objects; MEM: buffers */
    rcgc_allocator raw;            /* this struct and the quarantine array */
    FILE *debug_stream;            /* messages and reports */
    rcgc_unraisable_fn unraisable; /* failure reporter */
    void *unraisable_ctx;
    int last_error;                /* code of the last failure */

    /* collector (CPython's struct _gc_runtime_state) */
    struct gc_generation gen[RCGC_NUM_GENERATIONS];
    gc_head permanent;             /* frozen objects */
    rcgc_gc_stats stats[RCGC_NUM_GENERATIONS];
    uint64_t gc_cpu_ns[RCGC_NUM_GENERATIONS]; /* the collecting thread's CPU
                                      time in them (rcgc_gc_get_cpu_ns) */
    uint64_t last_cpu_ns;          /* that of the last collection */
    int enabled;                   /* automatic collection on */
    int collecting;                /* a collection (or its callbacks) runs */
    int gc_borrowed;               /* a collection borrows the high bits of
                                      reference counts (update_refs ..
                                      move_unreachable; collect.c): no code
                                      but traverse may run */
    int pending;                   /* deferred mode: a collection is due */
    int lazy_untrack;              /* an object of a type with may_untrack
                                      was allocated: untrack_lazy must run */
    rcgc_gc_mode mode;
    unsigned debug;                /* RCGC_DEBUG_* flags */
    rcgc_ssize long_lived_total;   /* survivors of the last full collection */
    rcgc_ssize long_lived_pending; /* promoted into gen 2 since then */
    rcgc_ssize last_examined;      /* the objects the last collection
                                      examined (its set's members) */
    rcgc_ssize frozen;             /* objects moved to the permanent
                                      generation by the last freeze (an
                                      upper bound once some have died) */

    /* when automatic collections run (policy.c) */
    rcgc_gc_policy policy;
    int young_trigger;             /* rcgc__gc_link takes its slow path once
                                      count[0] passes it: threshold[0]
                                      (cpython311) or young_threshold
                                      (adaptive), INT_MAX while automatic
                                      collection is off */
    int young_threshold;           /* adaptive: the current threshold[0] */
    size_t young_bytes;            /* adaptive: the byte budget of young
                                      collections (0: none) */
    size_t bytes_trigger;          /* adaptive: heap_bytes past which a young
                                      collection is due; SIZE_MAX: never */
    rcgc_ssize full_base_objects;  /* long_lived_total after the last full
                                      collection, less what freeze moved */
    size_t full_base_bytes;        /* heap_bytes after the last full
                                      collection the policy saw */
    rcgc_ssize full_seen;          /* stats[2].collections then */
    size_t heap_limit;             /* the ceiling (0: none) */
    int limit_collect_now;         /* deferred mode: the emergency collection
                                      runs inside the allocating call */
    int emergency_pending;         /* deferred mode: the next safe point runs
                                      a full collection */
    size_t bytes_watch;            /* object_new takes its slow path
                                      (rcgc__heap_reserve) when heap_bytes
                                      would pass it: min(bytes_trigger,
                                      heap_limit), SIZE_MAX for neither */
    uint64_t phase_ns[RCGC_PHASE_COUNT]; /* of the running collection */

    struct gc_callback *callbacks; /* gc.callbacks */
    rcgc_ssize ncallbacks, callbacks_cap;
    rcgc_object **garbage;         /* gc.garbage, strong references */
    rcgc_ssize ngarbage, garbage_cap;
    rcgc_object **immortal;        /* immortal objects, freed at teardown */
    rcgc_ssize nimmortal, immortal_cap;
    struct finalize_obj *fin_first; /* registered finalize objects, in */
    struct finalize_obj *fin_last;  /* creation order (strong references) */
    uint64_t fin_serial;           /* creation counter */
    rcgc_ssize weakrefs;           /* live weak reference objects: without
                                      any, handle_weakrefs has nothing to do */
    rcgc__upcalls up;              /* installed by weak/ and trace/ */
    struct rcgc_tracer *tracer;    /* the allocation tracer, when running */
    struct rcgc__trace_hook {      /* the tracer's wrapper of one domain */
        struct rcgc_tracer *tracer; /* NULL: it only forwards */
        unsigned domain;
        int installed;             /* it sits in the domain's chain */
        rcgc_allocator inner;      /* what it forwards to */
    } trace_hooks[RCGC_DOMAIN_COUNT]; /* in the runtime, so a wrapper that
                                         someone installed over ours stays
                                         valid after the tracer stops */
    const rcgc_site *site;         /* the RCGC_NEW/RCGC_MALLOC call running */
    int trace_limit;               /* traceback limit of the last start */
    int fin_shutdown;              /* teardown passed the at-exit stage:
                                      finalize objects no longer run */

    /* trashcan */
    int trash_depth;               /* nested deallocations */
    rcgc_object *trash_later;      /* deferred ones, linked through refcnt */

    /* the object paths' facts of static types (object.c) */
    rcgc__tfacts tcache[RCGC__TCACHE_SLOTS];

    /* accounting */
    rcgc_ssize objects, objects_peak, tracked, allocations;
    rcgc_ssize blocks;             /* blocks from the runtime's hooks that
                                      are no live object's (buffers, an
                                      object's block before object_init and
                                      after free_memory, the quarantine's):
                                      a live object's block is counted once,
                                      in objects, here and in the heap's
                                      OBJ count (heap.obj_extra) */
    size_t heap_bytes;             /* bytes of the live objects' blocks
                                      (headers included) */
    size_t heap_bytes_peak;        /* highest heap_bytes */
    rcgc__ptrmap sized;            /* instance sizes of the live objects
                                      allocated larger than their type whose
                                      block is no pool block (a pool block
                                      tells its size) */
    struct rcgc__vec {             /* the young vectors (docs/layout-16.md,
                                      step 3a): vec[g] holds the gc_head of
                                      every vectored pool object of
                                      generation g (gchead.h), and stale
                                      entries (the side byte's IN_VECg says
                                      which granules have an entry) */
        gc_head **v;
        rcgc_ssize len, cap;
    } vec[2];
    rcgc_ssize gc_registry;        /* live objects of GC types whose block
                                      is in no arena of heap.pm (the
                                      registry: docs/layout-16.md); while 0,
                                      every GC object is a pool object and
                                      its side byte is found without a
                                      test (rcgc__side_of) */
    rcgc_ssize odd_blocks;         /* live objects of a type that fits a
                                      pool block whose block is none (a
                                      large sized instance, the raw fallback,
                                      another allocator's): while > 0, a
                                      free asks the radix tree (object.c) */
    rcgc__ptrmap heaptypes;        /* the live heap types (heaptype.c) */
    rcgc__ptrmap heaptypes_dead;   /* RCGC_DEBUG >= 1: addresses of freed
                                      heap types, for misuse messages */
    uint64_t serial;               /* allocation counter (debug header) */
    int tearing_down;              /* inside rcgc_runtime_free */
    int attached;                  /* users from higher layers (diagnostics
                                      servers): rcgc_runtime_free is
                                      refused (RCGC_EBUSY) while > 0 */

    /* RCGC_DEBUG >= 1: every live object; >= 2: quarantine ring */
    debug_head all;
    void **quarantine;
    int quarantine_next;
};

/* ---- membership in the side bytes (gchead.h) ---- */

/* An instance of t (its own size) fits a pool block with its headers. */
static inline int rcgc__type_fits_pool(const rcgc_type *t)
{
    return rcgc__pre_size(t) + t->size <= RCGC_PYMALLOC_THRESHOLD;
}

/*
 * The side byte of g when rt has registry objects (rcgc__side_of), or NULL
 * for a registry object.  The object's own type decides first: an instance
 * of a type too big for a pool block is never in one, and one of a type
 * that fits always is unless odd_blocks counts some that are not (a large
 * sized instance, the raw fallback, another allocator's block); only then
 * does the radix tree say whether the block's start is in one of heap.pm's
 * arenas, the test object_new_slow counted them by (an object behind hooks
 * over the pool, 16 bytes into its block, is in an arena and has a byte).
 * So a big object alive costs the others a call and a type compare, not a
 * lookup (the free path's odd_blocks rule).  Out of line (object.c), so
 * that the common path keeps no register for it.  rcgc__side_mixed_fits:
 * the same for an object whose type is known to fit; rcgc__side_odd: the
 * radix tree's answer alone, which the checker compares with.
 */
uint8_t *rcgc__side_mixed(const rcgc_runtime *rt, const gc_head *g);
uint8_t *rcgc__side_mixed_fits(const rcgc_runtime *rt, const gc_head *g);
uint8_t *rcgc__side_odd(const rcgc_runtime *rt, const gc_head *g);

/* The side byte of g, the gc_head of a live object of a GC type of rt, or
 * NULL for a registry object (its block is in none of heap.pm's arenas).
 * While rt has no registry object (gc_registry == 0), one load of the pool
 * header. */
static inline uint8_t *rcgc__side_of(const rcgc_runtime *rt, const gc_head *g)
{
    if (RCGC_LIKELY(rt->gc_registry == 0)) return gc_side_in_pool(g);
    return rcgc__side_mixed(rt, g);
}

/* ---- the young vectors (object.c; docs/layout-16.md, step 3a) ----
 *
 * A tracked pool object of generation 0 is vectored (gchead.h): on no
 * list, its gc_head in vec[0].  A young collection splits on vec[0] itself
 * and links the members in its sweep (collect.c, deduce_unreachable_vec);
 * any other collection first links vec[0]'s live entries onto generation
 * 0's list (rcgc__vec_link).  Survivors join generation 1's list.  An
 * object that dies young is never linked.  A push that cannot grow its
 * vector leaves the object on generation 0's list instead: lists and
 * vectors together always hold every object. */

/* The generations whose pool objects are vectored: generation 0 only.
 * Generation 1 keeps its list: a young collection's survivors join it by
 * an O(1) merge, where pushing them into vec[1] and linking them again at
 * the next generation-1 collection cost 13.6 M + 9.6 M instructions more
 * on bintree_obj 14 with collection on (docs/layout-16.md, step 3a). */
#define RCGC__VEC_GENS 1

/* The most entries a young vector grows to (512 KiB of addresses): a full
 * vector this big is linked onto its generation's list and starts again
 * empty, so that a program that runs no collection (automatic collection
 * off, or deferred) pays at most this much memory for it, and a
 * collection's list gets the objects in the same order. */
#define RCGC__VEC_MAX_LEN ((rcgc_ssize)1 << 16)

/* The empty pools that stale entries may hold (pinned) before the object
 * allocator drops the stale entries (rcgc__vec_compact, when it needs a
 * new pool): 64 pools of 16 KiB, 1 MiB, or one per RCGC__VEC_SCAN_PER_POOL
 * entries of the vector (the drop reads them all), at most 2^16 / 32 =
 * 2048 pools, 32 MiB. */
#define RCGC__VEC_HELD_POOLS 64
#define RCGC__VEC_SCAN_PER_POOL 32

/* Drop vec[0]'s stale entries (their IN_VEC0 bits, their pins: an empty
 * pool whose last pin goes returns to its arena); the live ones stay, in
 * order. */
void rcgc__vec_compact(rcgc_runtime *rt);

/* vec[k] is full: grow it (or link it, at RCGC__VEC_MAX_LEN) and push g
 * (side: its byte); 0 if it cannot. */
int rcgc__vec_push_slow(rcgc_runtime *rt, int k, gc_head *g, uint8_t *side);

/* Put g (a pool object's gc_head, side its byte, IN_VECk clear) in vec[k]
 * if it has room: its pool is pinned while the entry lasts
 * (mem/alloc_internal.h).  1 if done, 0 if the vector is full. */
static inline int rcgc__vec_try_push(rcgc_runtime *rt, int k, gc_head *g,
                                     uint8_t *side)
{
    struct rcgc__vec *v = &rt->vec[k];
    if (RCGC_UNLIKELY(v->len == v->cap)) return 0;
    v->v[v->len++] = g;
    gc_side_set_in_vec(side, k);
    rcgc__pm_pin(g);
    return 1;
}

/* The same, growing a full vector: 0 if it could not. */
static inline int rcgc__vec_push(rcgc_runtime *rt, int k, gc_head *g,
                                 uint8_t *side)
{
    return rcgc__vec_try_push(rt, k, g, side) ||
           rcgc__vec_push_slow(rt, k, g, side);
}

/* A pool object's byte joins generation k (0 or 1): into vec[k] unless it
 * is there already (an entry of an earlier life of the granule is as
 * good).  1 if vec[k] holds it now. */
static inline int rcgc__vec_enter(rcgc_runtime *rt, int k, gc_head *g,
                                  uint8_t *side)
{
    return gc_side_in_vec(*side, k) || rcgc__vec_push(rt, k, g, side);
}

/* Dropping the pins of many entries once per run of entries into one pool
 * (entries follow allocation order): add each entry's g, end after the
 * last.  A run's pins go after the run, not before: an emptied pool may go
 * back to its arena with its last pin. */
struct rcgc__unpin_run {
    const void *pool;
    uint32_t n;
};

static inline void rcgc__unpin_run_end(rcgc_runtime *rt, struct rcgc__unpin_run *r)
{
    if (r->n != 0) rcgc__pm_unpin_n(rt->heap.pm, r->pool, r->n);
    r->n = 0;
}

static inline void rcgc__unpin_run_add(rcgc_runtime *rt, struct rcgc__unpin_run *r,
                                       const gc_head *g)
{
    const void *pool = rcgc__pm_pool_start(g);
    if (pool != r->pool) {
        rcgc__unpin_run_end(rt, r);
        r->pool = pool;
    }
    r->n++;
}

/* An entry g of vec[k] is live: its object is tracked in generation k and
 * vectored (the byte is read first: a stale entry's block may be free). */
static inline int rcgc__vec_live(const gc_head *g, int k)
{
    uint8_t b = *gc_side_in_pool(g); /* its pool is pinned */
    RCGC_ASSERT(gc_side_in_vec(b, k));
    return gc_side_tracked_in(b, k) && gc_is_vectored(g);
}

/* The tracked objects of generation i (RCGC_NUM_GENERATIONS: the permanent
 * one): its list's and, for 0 and 1, its vector's live entries.  O(n). */
rcgc_ssize rcgc__gen_size(const rcgc_runtime *rt, int i);

/* Take vec[k] whole: its live entries (vectored objects of generation k)
 * are appended to gen[k]'s list in the vector's order, every entry goes
 * (IN_VECk cleared, its pool unpinned). */
void rcgc__vec_link(rcgc_runtime *rt, int k);
/* Both young vectors linked: every tracked object on a list (freeze,
 * teardown, rcgc__move_reachable, the first lazily untracked type; the
 * read-only walks read the vector in place: core/gcwalk.h). */
void rcgc__vec_link_all(rcgc_runtime *rt);
/* Teardown: every entry goes (no object is tracked), the vectors' memory
 * too. */
void rcgc__vec_fini(rcgc_runtime *rt);
/* Every object of list joins generation gen (1, 2 or GC_GEN_FROZEN: no
 * collection moves objects into a vectored generation): its side byte's
 * generation set, list merged at the end of gen's.  list ends empty.
 * O(length of list). */
void rcgc__join_gen(rcgc_runtime *rt, gc_head *list, int gen);

/* The common updates of g's side byte, with no test of the byte's address
 * while the runtime has no registry object (tracking: object.c, track). */
/* FINALIZED stays. */
static inline void rcgc__side_untrack(rcgc_runtime *rt, gc_head *g)
{
    if (RCGC_LIKELY(rt->gc_registry == 0)) {
        gc_side_untrack(gc_side_in_pool(g));
    } else {
        uint8_t *side = rcgc__side_mixed(rt, g);
        if (side != NULL) gc_side_untrack(side);
    }
}

/* Untrack g, an object of a plain type (its type fits a pool block and has
 * no finalizer, so it is never FINALIZED): the byte keeps only its IN_VEC
 * bits, all its free needs too. */
static inline void rcgc__side_untrack_unfinalized(rcgc_runtime *rt,
                                                  gc_head *g)
{
    if (RCGC_LIKELY(rt->gc_registry == 0)) {
        gc_side_untrack_unfinalized(gc_side_in_pool(g));
    } else {
        uint8_t *side = rcgc__side_mixed_fits(rt, g);
        if (side != NULL) gc_side_untrack_unfinalized(side);
    }
}

/* g's object is freed (tracked or not: its list is the caller's): its
 * byte keeps only its IN_VEC bits (a stale entry's). */
static inline void rcgc__side_free(rcgc_runtime *rt, gc_head *g)
{
    if (RCGC_LIKELY(rt->gc_registry == 0)) {
        gc_side_free(gc_side_in_pool(g));
    } else {
        uint8_t *side = rcgc__side_mixed(rt, g);
        if (side != NULL) gc_side_free(side);
    }
}

/* Give every pool object of list its generation gen in the side byte
 * (before the list joins generation gen, or the permanent one:
 * GC_GEN_FROZEN).  O(length of list). */
void rcgc__side_set_gen_list(rcgc_runtime *rt, const gc_head *list, int gen);

/* The generation whose list list is (GC_GEN_FROZEN: the permanent one),
 * or -1 for any other list (a collection's private lists). */
static inline int rcgc__list_gen(const rcgc_runtime *rt, const gc_head *list)
{
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++)
        if (list == &rt->gen[i].head) return i;
    return list == &rt->permanent ? GC_GEN_FROZEN : -1;
}

/* gc_list_move(g, list) for a linked object g, whose side byte gets
 * list's generation if list is a generation's (a private list's objects
 * get theirs when the list joins one).  list is never generation 0's (no
 * collection moves objects into a vectored generation). */
void rcgc__gc_move(rcgc_runtime *rt, gc_head *g, gc_head *list);

/* The PEP 442 finalizer of o (a GC object) has run: FINALIZED in both
 * representations. */
void rcgc__set_finalized(rcgc_runtime *rt, rcgc_object *o);

/* Track o (a GC object, untracked) by appending it to list, whose objects
 * have generation gen in their side bytes (a collection's private list that
 * joins gen later: weak/weakref.c's reaction queue). */
void rcgc__track_into(rcgc_runtime *rt, rcgc_object *o, gc_head *list, int gen);

/* ---- runtime.c: memory through the runtime's heap ---- */
/* Object blocks (OBJ domain). */
void *rcgc__obj_calloc(rcgc_runtime *rt, size_t size);
void rcgc__obj_free(rcgc_runtime *rt, void *ptr);
/* Buffers (MEM domain). */
void *rcgc__malloc(rcgc_runtime *rt, size_t size);
void *rcgc__calloc(rcgc_runtime *rt, size_t nelem, size_t elsize);
void *rcgc__realloc(rcgc_runtime *rt, void *ptr, size_t size);
void rcgc__free(rcgc_runtime *rt, void *ptr);
/* Grow *arr (of elsize-byte items, capacity *cap) to hold at least need. */
int rcgc__grow(rcgc_runtime *rt, void **arr, rcgc_ssize *cap, rcgc_ssize need,
               size_t elsize);
void rcgc__unraisable(rcgc_runtime *rt, rcgc_unraisable_kind kind,
                      rcgc_object *obj, int err);
/* A higher layer starts / stops using rt beyond single calls (a server):
 * rcgc_runtime_free refuses to run in between. */
void rcgc__runtime_attach(rcgc_runtime *rt);
void rcgc__runtime_detach(rcgc_runtime *rt);

/* ---- error.c: fatal misuse reports ---- */
RCGC__NORETURN void rcgc__fatal(rcgc_runtime *rt, const rcgc_object *o,
                                const char *fmt, ...) RCGC__PRINTF(3, 4);
void rcgc__dump_object(FILE *f, const rcgc_object *o);
/* The message of a call that reports errors in a caller's buffer (err of
 * errlen bytes, either may be NULL/0: then nothing is written), formatted
 * and cut to fit. */
void rcgc__set_err(char *err, size_t errlen, const char *fmt, ...)
    RCGC__PRINTF(3, 4);

/* ---- object.c ---- */
void rcgc__object_free_memory(rcgc_runtime *rt, rcgc_object *o);
/* Empty the static types' facts (at creation). */
void rcgc__tcache_init(rcgc_runtime *rt);
void rcgc__track(rcgc_runtime *rt, rcgc_object *o);
void rcgc__untrack(rcgc_runtime *rt, rcgc_object *o);
void rcgc__debug_check_object(rcgc_runtime *rt, const rcgc_object *o,
                              const char *what);
int rcgc__call_finalizer(rcgc_runtime *rt, rcgc_object *o);

/* rcgc_object_new_sized without the heap type test: check type and size,
 * allocate and initialise (for heaptype.c). */
rcgc_object *rcgc__object_alloc(rcgc_runtime *rt, const rcgc_type *type,
                                size_t size);

/* ---- heaptype.c: heap types (docs/types.md) ---- */
/* rcgc_object_new of an instance of the heap type type: checks its owner,
 * takes the instance's reference, then rcgc__object_alloc. */
rcgc_object *rcgc__heaptype_object_new(rcgc_runtime *rt, const rcgc_type *type,
                                       size_t size);
/* The memory of an instance of the heap type type was released: drop the
 * instance's reference (the type may be freed). */
void rcgc__heaptype_instance_gone(rcgc_runtime *rt, const rcgc_type *type);
/* Teardown, after every object: free the remaining heap types. */
void rcgc__heaptypes_fini(rcgc_runtime *rt);
/* t's name for a dump of a freed object, without reading a freed heap
 * type (debug builds know those). */
const char *rcgc__type_name_for_dump(rcgc_runtime *rt, const rcgc_type *t);
/* The registry's invariants (for rcgc_check): 0 or RCGC_ECORRUPT. */
int rcgc__heaptype_check(rcgc_runtime *rt);

/* ---- policy.c: when automatic collections run ---- */
/* A GC allocation passed the young trigger (object.c's object_init counts
 * it: one increment and one compare): run or schedule a collection. */
void rcgc__gc_link_slow(rcgc_runtime *rt);
/* Run the automatic collection the policy picks (CPython's
 * gc_collect_generations for cpython311), or the emergency full collection
 * a deferred ceiling scheduled. */
rcgc_ssize rcgc__collect_generations(rcgc_runtime *rt);
/* Set the policy fields from a valid cfg (runtime creation). */
void rcgc__policy_init(rcgc_runtime *rt, const rcgc_config *cfg);
/* Recompute young_trigger and bytes_watch after a change of the enabled
 * flag, the thresholds, the policy, the ceiling or the heap. */
void rcgc__policy_update(rcgc_runtime *rt);
/* object_new's slow path, before it allocates need bytes past bytes_watch:
 * the byte trigger's young collection and the ceiling's emergency full
 * collection.  0: go on; RCGC_ENOMEM: the allocation would pass the
 * ceiling (last_error is set). */
int rcgc__heap_reserve(rcgc_runtime *rt, size_t need);

/* ---- collect.c ---- */
/* One collection (CPython's gc_collect_main); the caller has set
 * rt->collecting.  Returns collected + uncollectable. */
rcgc_ssize rcgc__collect_main(rcgc_runtime *rt, int generation,
                              rcgc_ssize *collected, rcgc_ssize *uncollectable);
/* One collection with callbacks; the caller has set rt->collecting. */
rcgc_ssize rcgc__collect_with_callback(rcgc_runtime *rt, int generation);
int rcgc__garbage_append(rcgc_runtime *rt, rcgc_object *o);
rcgc_ssize rcgc__move_reachable(rcgc_runtime *rt, rcgc_object *const *objs,
                                rcgc_ssize n, gc_head *reached);

/* ---- check.c ---- */
/* rcgc_gc_check; lists_complete: every tracked object must be in the
 * generation lists (false while a collection holds private lists). */
int rcgc__check_all(rcgc_runtime *rt, int lists_complete);
int rcgc__check_list(rcgc_runtime *rt, const gc_head *list, const char *name,
                     int expect_collecting);
/* Call fn(rt, o, arg) for every object the checkers can reach: at
 * RCGC_DEBUG >= 1 every live object (the debug list); in release builds
 * the tracked ones (generations and permanent) and the immortal ones.
 * Stops at the first nonzero return of fn and returns it; 0 otherwise.
 * Not during a collection (its private lists are not walked). */
typedef int (*rcgc__object_fn)(rcgc_runtime *rt, rcgc_object *o, void *arg);
int rcgc__for_each_object(rcgc_runtime *rt, rcgc__object_fn fn, void *arg);

/* ---- for the layers above: the runtime state they may read ---- */
/* The collection mode (rcgc_config.gc_mode). */
static inline rcgc_gc_mode rcgc__runtime_gc_mode(const rcgc_runtime *rt)
{
    return rt->mode;
}
/* 1 while a collection (or its callbacks) or the teardown runs: code
 * called from a finalizer or a callback must not start work that walks
 * the heap (the diagnostics endpoint refuses then). */
static inline int rcgc__runtime_busy(const rcgc_runtime *rt)
{
    return rt->collecting || rt->tearing_down;
}

#endif /* RCGC_INTERNAL_H */

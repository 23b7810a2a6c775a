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
/* Exports are marked once, by RCGC_API on the declarations in include/; this
 * old marker on definitions does nothing and goes once no branch uses it. */
#define RCGC__EXPORT

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

typedef struct weakref weakref;

static inline int type_is_weakrefable(const rcgc_type *t)
{
    return (t->flags & RCGC_TYPE_WEAKREF) != 0;
}

/* Bytes in front of the object: weak slot, gc_head, debug header. */
static inline size_t rcgc__pre_size(const rcgc_type *t)
{
    return (type_is_weakrefable(t) ? RCGC__WEAK_SLOT_SIZE : 0) +
           (gc_type_is_gc(t) ? sizeof(gc_head) : 0) + RCGC__DEBUG_HEAD_SIZE;
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
/* Refcount death of o: clear its weak references, then run the callbacks. */
void rcgc__clear_weakrefs(rcgc_runtime *rt, rcgc_object *o);
/* Clear o's weak references without callbacks. */
void rcgc__clear_weakrefs_silently(rcgc_object *o);
/* The collector's phase (CPython's handle_weakrefs). */
rcgc_ssize rcgc__handle_weakrefs(rcgc_runtime *rt, gc_head *unreachable,
                                 gc_head *old, rcgc_ssize *ran);

/* ---- finalize objects (finalize.c) ---- */
/* Teardown: call every registered at-exit finalize object, newest first. */
void rcgc__finalize_atexit(rcgc_runtime *rt);

/* ---- tracer.c ---- */
/* Stop tracing (teardown). */
void rcgc__trace_fini(rcgc_runtime *rt);

/* ---- snapshot.c: building a snapshot (tracer.c fills it) ---- */

/* An empty snapshot; NULL when out of memory. */
rcgc_snapshot *rcgc__snapshot_new(int traceback_limit, size_t sample_bytes);
/* Add a traceback (frames most recent first; every string is copied, so the
 * snapshot owns all its data) and return its index, or -1 when out of
 * memory.  Adding the same traceback twice is allowed (two indexes). */
long rcgc__snapshot_add_traceback(rcgc_snapshot *s, const rcgc_frame *frames,
                                  int nframe, int total_nframe);
/* Add a trace of traceback index tb; 0 or RCGC_ENOMEM. */
int rcgc__snapshot_add_trace(rcgc_snapshot *s, unsigned domain, size_t size,
                             long tb, double est_size, double est_count);

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
    int enabled;                   /* automatic collection on */
    int collecting;                /* a collection (or its callbacks) runs */
    int pending;                   /* deferred mode: a collection is due */
    int lazy_untrack;              /* an object of a type with may_untrack
                                      was allocated: untrack_lazy must run */
    rcgc_gc_mode mode;
    unsigned debug;                /* RCGC_DEBUG_* flags */
    rcgc_ssize long_lived_total;   /* survivors of the last full collection */
    rcgc_ssize long_lived_pending; /* promoted into gen 2 since then */
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

    /* accounting */
    rcgc_ssize objects, objects_peak, tracked, allocations, blocks;
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

/* ---- object.c ---- */
void rcgc__object_free_memory(rcgc_runtime *rt, rcgc_object *o);
void rcgc__track(rcgc_runtime *rt, rcgc_object *o);
void rcgc__untrack(rcgc_runtime *rt, rcgc_object *o);
void rcgc__debug_check_object(rcgc_runtime *rt, const rcgc_object *o,
                              const char *what);
int rcgc__call_finalizer(rcgc_runtime *rt, rcgc_object *o);

/* ---- collect.c ---- */
/* After a GC allocation: count it and run or schedule a collection. */
void rcgc__gc_link(rcgc_runtime *rt);
/* Run the automatic collection CPython's gc_collect_generations picks. */
rcgc_ssize rcgc__collect_generations(rcgc_runtime *rt);
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

#endif /* RCGC_INTERNAL_H */

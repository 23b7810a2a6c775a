/*
 * rcgc.h - CPython's memory system for C programs: reference counting, a
 * generational cycle collector with PEP 442 finalizers, freeze, and the tools
 * around them.
 *
 * Ownership convention (docs/ownership.md): every function that takes or
 * returns an object says one of
 *   NEW       the caller receives a new strong reference and must drop it;
 *   BORROWED  the caller receives a pointer it does not own;
 *   STEALS    the function takes over the caller's reference.
 * Arguments not marked are borrowed: the function does not keep them.
 *
 * Errors: functions returning int give 0 on success and a negative RCGC_E*
 * code on failure (rcgc_strerror names it); counts are rcgc_ssize, negative
 * on error; allocators return NULL.  API misuse that cannot be reported as a
 * code (a decref below zero, an object used after it was freed) is caught,
 * with a message and abort(), when the library is built with RCGC_DEBUG >= 1.
 *
 * Threads: a runtime is used by one thread at a time.  Different runtimes
 * share nothing and may be used by different threads concurrently.
 */
#ifndef RCGC_H
#define RCGC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rcgc_config.h" /* generated: RCGC_DEBUG, version numbers */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * RCGC_API marks every function the library exports, on its declaration
 * here: the library is compiled with hidden visibility, so these headers are
 * the one list of its interface (tests/check_symbols.sh checks the built
 * libraries against them).  Windows: the library's own build defines
 * RCGC_BUILDING (dllexport); a program using the DLL defines RCGC_DLL
 * (dllimport); a static build needs neither.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(RCGC_BUILDING)
#define RCGC_API __declspec(dllexport)
#elif defined(RCGC_DLL)
#define RCGC_API __declspec(dllimport)
#else
#define RCGC_API
#endif
#elif defined(__GNUC__)
#define RCGC_API __attribute__((visibility("default")))
#else
#define RCGC_API
#endif

#if defined(__GNUC__)
#define RCGC_LIKELY(x) __builtin_expect(!!(x), 1)
#define RCGC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define RCGC_LIKELY(x) (x)
#define RCGC_UNLIKELY(x) (x)
#endif

typedef ptrdiff_t rcgc_ssize;
typedef struct rcgc_runtime rcgc_runtime;
typedef struct rcgc_type rcgc_type;
typedef struct rcgc_object rcgc_object;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* One list generates the codes and their messages. */
#define RCGC_ERROR_LIST(X)                                                    \
    X(NOMEM, -1, "out of memory")                                             \
    X(INVAL, -2, "invalid argument")                                          \
    X(RANGE, -3, "generation out of range (must be 0, 1 or 2)")               \
    X(ALREADY, -4, "object already tracked by the collector")                 \
    X(NOTGC, -5, "type does not support garbage collection")                  \
    X(NOTFOUND, -6, "object not found")                                       \
    X(LIVE, -7, "objects were still alive at teardown")                       \
    X(CORRUPT, -8, "collector invariant violated")                            \
    X(FAILED, -9, "callback reported failure")                               \
    X(NOTWEAK, -10, "type does not support weak references")                 \
    X(NOTTRACING, -11, "the tracer is not tracing")                          \
    X(BUSY, -12, "still in use")                                              \
    X(ABI, -13, "the program and the library were built from different "     \
                "rcgc headers (version, RCGC_DEBUG or struct sizes differ)")  \
    X(FORMAT, -14, "malformed data (a file or request not in its format)")

enum rcgc_error {
    RCGC_OK = 0,
#define RCGC_ERROR_ENUM_(name, value, text) RCGC_E##name = value,
    RCGC_ERROR_LIST(RCGC_ERROR_ENUM_)
#undef RCGC_ERROR_ENUM_
};

/* The message for an error code ("unknown error" for unknown codes). */
RCGC_API const char *rcgc_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Version                                                                   */

/* The library's RCGC_VERSION_NUM (the headers' is the macro), e.g. to log
 * which library a program runs with. */
RCGC_API int rcgc_version(void);

/* ------------------------------------------------------------------------ */
/* Objects and types                                                         */

/*
 * Every object starts with this header; a client type embeds it as its first
 * member.  Tracked objects also carry a hidden 16-byte collector header in
 * front of it (docs/layout.md).
 */
struct rcgc_object {
    intptr_t refcnt;          /* strong references; negative means immortal */
    const rcgc_type *type;    /* set at allocation, never changes */
};

/* Value stored in refcnt of an immortal object (any negative value is). */
#define RCGC_IMMORTAL_REFCNT (INTPTR_MIN / 2)

/* Called by traverse for each reference; a non-zero result stops the walk. */
typedef int (*rcgc_visit_fn)(rcgc_object *child, void *arg);

/* Type flags. */
#define RCGC_TYPE_GC 0x1u /* instances may be tracked; traverse is required */
/* With may_untrack: consult it only on full collections (CPython 3.11's
 * dicts); an untracked instance still counts as "may be tracked". */
#define RCGC_TYPE_UNTRACK_ON_FULL 0x2u
/* Instances may be weakly referenced; they carry a hidden 16-byte slot for
 * the list of their weak references (docs/weakref.md). */
#define RCGC_TYPE_WEAKREF 0x4u
/* Set by the library, never by a program: the type was made by
 * rcgc_type_new and its lifetime is managed (heap types, below).  A
 * program's own type carrying it is misuse (reported at RCGC_DEBUG >= 1,
 * undefined behaviour in release builds, which trust the flag). */
#define RCGC_TYPE_HEAP 0x8u

/* Called by an ephemerons hook for each (key, value) pair. */
typedef int (*rcgc_visit_pair_fn)(rcgc_object *key, rcgc_object *value,
                                  void *arg);

/*
 * A type descriptor, usually a static const object shared by every runtime.
 * Unused hooks are NULL.  A program's own (static) type must stay alive and
 * unchanged until rcgc_runtime_free of every runtime that used it returned:
 * a runtime reads its size, flags and hooks once, at its first allocation
 * (docs/types.md).  Types made at run time: rcgc_type_new below.
 */
struct rcgc_type {
    const char *name;   /* shown in messages: "gc: collectable <name 0x...>" */
    size_t size;        /* bytes of an instance, >= sizeof(rcgc_object) */
    unsigned flags;     /* RCGC_TYPE_* */

    /* Report every strong reference the object holds with RCGC_VISIT and
     * return 0, or the first non-zero visit result.  Must not change the
     * object or any reference count, and must not call into rcgc.  Must not
     * read reference counts either: during a collection the collector
     * borrows the high bits of the count word (docs/layout.md). */
    int (*traverse)(rcgc_object *self, rcgc_visit_fn visit, void *arg);

    /* Drop every reference the object holds, nulling each slot before the
     * decref (RCGC_CLEAR).  Called by the collector to break cycles and by
     * deallocation; afterwards the object must still be safe to use. */
    void (*clear)(rcgc_runtime *rt, rcgc_object *self);

    /* PEP 442 finalizer: runs at most once in the object's lifetime (for GC
     * types), before it is freed, also when it dies in a cycle.  It may
     * resurrect the object by storing a new reference to it.  A non-zero
     * return is reported through the unraisable hook. */
    int (*finalize)(rcgc_runtime *rt, rcgc_object *self);

    /* Legacy finalizer (CPython's tp_del): called at every refcount death
     * and may resurrect; a cycle that holds such an object is uncollectable
     * and goes to the garbage list. */
    int (*legacy_finalize)(rcgc_runtime *rt, rcgc_object *self);

    /* Free the object's own non-object resources (buffers, descriptors);
     * called once, just before the memory is freed.  Must not touch other
     * objects. */
    void (*release)(rcgc_runtime *rt, rcgc_object *self);

    /* Lazily untracked types (CPython's tuples): return non-zero when the
     * object holds nothing that may ever be part of a cycle
     * (rcgc_may_be_tracked is false for every reference); the collector then
     * untracks it.  Called on survivors of every collection, or only of full
     * collections with RCGC_TYPE_UNTRACK_ON_FULL.  Unless that flag is set,
     * the type must never track an instance again once it was untracked. */
    int (*may_untrack)(rcgc_object *self);

    /* Ephemeron tables (weak-key maps): report each (key, value) pair whose
     * value the object holds strongly but only while key is alive, with
     * visit(key, value, arg).  traverse must not report those values; the
     * collector keeps a value alive only while its key is reachable, even
     * when the value refers back to the key.  Same rules as traverse. */
    int (*ephemerons)(rcgc_object *self, rcgc_visit_pair_fn visit, void *arg);

    /* Bytes the object owns beyond type->size: the inline variable part of
     * an instance made by rcgc_object_new_sized, and memory only it holds (a
     * list's item array, a string's buffer).  Used by rcgc_sizeof and by the
     * diagnosis's sizes (rcgc_diag.h); NULL: none.  Same rules as traverse:
     * it may be called while the collector's header words are borrowed. */
    size_t (*extra_size)(const rcgc_object *self);
};

/*
 * Heap types (docs/types.md): descriptors the library allocates and frees,
 * one per class of an interpreter, as CPython's heap types.  A heap type
 * belongs to the runtime that made it; it is reference counted: the program
 * holds the references rcgc_type_new and rcgc_type_incref give, and every
 * instance holds one from its creation until after its memory is released
 * (also for instances freed by the collector, by teardown, resurrected,
 * immortal or frozen ones).  The type is freed when the last of both goes;
 * rcgc_runtime_free frees the remaining ones after every object.  A heap
 * type is a descriptor, not an object: it holds no object, so it is never
 * part of a cycle.  Static types (a program's own rcgc_type) are unchanged
 * and not reference counted.  Heap type calls on a static type, on another
 * runtime's heap type or on one already freed are misuse: a fatal message
 * at RCGC_DEBUG >= 1, RCGC_EINVAL otherwise (a freed one is only recognised
 * in debug builds).
 */

/*
 * NEW: a heap type copied from spec (every field; the name string is copied
 * too, so spec and its name may go right after the call), with
 * RCGC_TYPE_HEAP set; the caller owns one reference.  spec->name must not be
 * NULL, spec->flags may hold RCGC_TYPE_GC, _UNTRACK_ON_FULL, _WEAKREF and
 * (ignored) _HEAP only, and spec must be valid for rcgc_object_new (size at
 * least the header, traverse for GC types).  NULL with
 * rcgc_runtime_last_error RCGC_EINVAL (invalid spec) or RCGC_ENOMEM.
 */
RCGC_API const rcgc_type *rcgc_type_new(rcgc_runtime *rt, const rcgc_type *spec);

/* Add a reference to the heap type type (of rt) that the caller then owns;
 * type may have no reference of the program left as long as an instance
 * lives (as o->type of a live o).  0 or RCGC_EINVAL (misuse, above). */
RCGC_API int rcgc_type_incref(rcgc_runtime *rt, const rcgc_type *type);

/* Drop one of the caller's references to the heap type type (of rt); when
 * no reference of the program and no instance is left, type is freed.
 * Dropping more references than the program holds is misuse even while
 * instances keep the type alive.  0 or RCGC_EINVAL (misuse, above). */
RCGC_API int rcgc_type_decref(rcgc_runtime *rt, const rcgc_type *type);

/* 1 if type is a heap type (RCGC_TYPE_HEAP), 0 if static or NULL. */
RCGC_API int rcgc_type_is_heap(const rcgc_type *type);

/* References to the heap type type of rt: the program's plus one per
 * instance whose memory is not released yet (CPython's sys.getrefcount of
 * a class counts its instances too); RCGC_EINVAL on misuse (above). */
RCGC_API rcgc_ssize rcgc_type_refcount(rcgc_runtime *rt, const rcgc_type *type);

/* The heap types of rt that are not freed yet (a program that makes classes
 * and loses them sees this grow).  RCGC_EINVAL for a NULL rt. */
RCGC_API rcgc_ssize rcgc_type_heap_count(rcgc_runtime *rt);

/* Inside a traverse function whose parameters are named visit and arg. */
#define RCGC_VISIT(op)                                                        \
    do {                                                                      \
        if ((op) != NULL) {                                                   \
            int rcgc_visit_ret_ = visit((rcgc_object *)(op), arg);            \
            if (rcgc_visit_ret_ != 0) return rcgc_visit_ret_;                 \
        }                                                                     \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Runtime                                                                   */

/* Memory hooks, shaped like CPython's PyMemAllocatorEx. */
typedef struct rcgc_allocator {
    void *ctx;                                               /* passed back */
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
} rcgc_allocator;

/* The allocator layer: pool allocator, domains, debug hooks
 * (docs/allocator.md). */
#include "rcgc_mem.h"

/* When an automatic collection runs once count[0] passes threshold[0]. */
typedef enum rcgc_gc_mode {
    RCGC_GC_SYNC = 0,     /* inside the allocating call (CPython 3.11) */
    RCGC_GC_DEFERRED = 1  /* at the next rcgc_gc_collect_pending (3.12+) */
} rcgc_gc_mode;

/*
 * When automatic collections run (docs/collector.md, "Policies").  In both,
 * an automatic collection is considered when count[0] passes the young
 * threshold, and count[], the thresholds and the statistics mean the same
 * (rcgc_gc_get_count, rcgc_gc_get_threshold, rcgc_gc_get_stats).
 */
typedef enum rcgc_gc_policy {
    /* CPython 3.11's cadence, exactly: young threshold threshold[0];
     * generation i is collected when count[i] > threshold[i], the oldest
     * such first, generation 2 only once the objects promoted into it
     * since the last full collection are a quarter of those that survived
     * it (the long-lived rule). */
    RCGC_POLICY_CPYTHON311 = 0,
    /* The young threshold adapts to what young collections find: doubled
     * after a collection where at most 1 % of the objects it examined were
     * unreachable, halved otherwise, never below threshold[0] nor above
     * half the tracked heap (unless threshold[0] is).  A young collection is also due when the
     * heap's bytes grew by gc_young_bytes since the last collection (big
     * objects count).  A full collection runs, instead of a young one,
     * when the tracked heap grew by a quarter since the last full
     * collection, in objects (tracked - long-lived >= long-lived / 4, the
     * frozen objects left out) or in bytes (and by gc_young_bytes at
     * least); threshold[2] and count[2] then play no part. */
    RCGC_POLICY_ADAPTIVE = 1
} rcgc_gc_policy;

/* Debug flags, with CPython's values (gc.DEBUG_*). */
#define RCGC_DEBUG_STATS 1u
#define RCGC_DEBUG_COLLECTABLE 2u
#define RCGC_DEBUG_UNCOLLECTABLE 4u
#define RCGC_DEBUG_SAVEALL 32u
#define RCGC_DEBUG_LEAK 38u /* COLLECTABLE | UNCOLLECTABLE | SAVEALL */

/* Where a reported failure happened (the unraisable hook's first argument). */
typedef enum rcgc_unraisable_kind {
    RCGC_IN_FINALIZER = 0,
    RCGC_IN_LEGACY_FINALIZER = 1,
    RCGC_IN_GC_CALLBACK = 2,
    RCGC_IN_WEAKREF_CALLBACK = 3,
    RCGC_IN_FINALIZE_CALLBACK = 4
} rcgc_unraisable_kind;

/* Receives failures that cannot be returned to a caller (CPython's
 * "Exception ignored in ...").  obj is borrowed and may be NULL. */
typedef void (*rcgc_unraisable_fn)(rcgc_runtime *rt, rcgc_unraisable_kind kind,
                                   rcgc_object *obj, int err, void *ctx);

typedef struct rcgc_config {
    size_t size;                   /* sizeof(rcgc_config), set by
                                      rcgc_config_init (docs/api-rules.md) */
    int threshold[3];              /* 700, 10, 10; threshold[0] == 0: no
                                      automatic collection */
    int gc_enabled;                /* automatic collection on (1) */
    rcgc_gc_mode gc_mode;          /* RCGC_GC_SYNC */
    unsigned debug;                /* RCGC_DEBUG_* flags (0) */
    FILE *debug_stream;            /* debug messages and reports; NULL: stderr */
    rcgc_heap_config heap;         /* where memory comes from: objects from
                                      the OBJ domain, buffers from MEM, the
                                      runtime itself from RAW; by default the
                                      pool allocator serves OBJ and MEM */
    rcgc_allocator allocator;      /* if malloc is set: every block of every
                                      domain through these hooks, without the
                                      pool allocator (heap is then ignored) */
    rcgc_unraisable_fn unraisable; /* NULL: one line on debug_stream */
    void *unraisable_ctx;          /* passed to unraisable */
    rcgc_gc_policy gc_policy;      /* RCGC_POLICY_DEFAULT */
    size_t gc_young_bytes;         /* RCGC_POLICY_ADAPTIVE: a young
                                      collection is due once the heap grew
                                      by this many bytes (4 MiB; 0: count
                                      objects only) */
    size_t heap_limit;             /* the ceiling on the heap's bytes
                                      (rcgc_runtime_set_heap_limit); 0: none */
    int heap_limit_collect_now;    /* RCGC_GC_DEFERRED: run the ceiling's
                                      emergency collection inside the
                                      allocating call (1) instead of at the
                                      next safe point (0) */
} rcgc_config;

/* The policy rcgc_config_init chooses (docs/collector.md says why). */
#define RCGC_POLICY_DEFAULT RCGC_POLICY_ADAPTIVE

/* Fill cfg with the defaults shown above (and its size, and those of the
 * configs it holds). */
RCGC_API void rcgc_config_init(rcgc_config *cfg);

/*
 * What a program was compiled against, for the library to compare with what
 * it was built from: the ABI version (bits 48-63), the debug level (bits
 * 40-47: RCGC_DEBUG changes the object layout) and sizeof(rcgc_config)
 * (bits 0-23).  Computed in the program by the inline constructors below.
 */
#define RCGC_ABI_MAKE(abi_version, debug, config_size)                        \
    (((uint64_t)(abi_version) << 48) | ((uint64_t)(debug) << 40) |            \
     ((uint64_t)(config_size) & 0xFFFFFFu))
#define RCGC_ABI RCGC_ABI_MAKE(RCGC_ABI_VERSION, RCGC_DEBUG, sizeof(rcgc_config))

/*
 * 0 if a program compiled with ABI value abi (RCGC_ABI) can use this
 * library; else RCGC_EABI and, in msg (may be NULL; at most msglen bytes,
 * NUL included), which part differs and both values, e.g. "rcgc: the
 * program was compiled with RCGC_DEBUG=0, the library with RCGC_DEBUG=3:
 * rebuild the program against the library's headers".
 */
RCGC_API int rcgc_abi_check(uint64_t abi, char *msg, size_t msglen);

/*
 * The checked constructor behind rcgc_runtime_create and rcgc_runtime_new
 * (which pass the headers' RCGC_ABI): 0 and a new runtime in *out, or a
 * code and *out = NULL:
 *   RCGC_EABI    abi differs from the library's (the reason, as
 *                rcgc_abi_check gives it, is written to stderr: it is a
 *                build mistake, and the runtime's stream does not exist);
 *   RCGC_EINVAL  out is NULL, or cfg is invalid: a size field that is not
 *                its struct's (cfg, cfg->heap, cfg->heap.pymalloc or
 *                cfg->heap.debug not filled by its *_init), a negative
 *                threshold, an unknown gc_mode or gc_policy, an allocator
 *                with only some hooks set;
 *   RCGC_ENOMEM  an allocation failed.
 * cfg may be NULL for the defaults; it is copied.
 */
RCGC_API int rcgc_runtime_create_abi(const rcgc_config *cfg, uint64_t abi,
                                     rcgc_runtime **out);

/* A new runtime in *out (see rcgc_runtime_create_abi): 0, RCGC_EABI,
 * RCGC_EINVAL or RCGC_ENOMEM. */
static inline int rcgc_runtime_create(const rcgc_config *cfg,
                                      rcgc_runtime **out)
{
    return rcgc_runtime_create_abi(cfg, RCGC_ABI, out);
}

/* A new runtime, or NULL (for any of rcgc_runtime_create's reasons; use it
 * to know which).  cfg may be NULL for the defaults; it is copied. */
static inline rcgc_runtime *rcgc_runtime_new(const rcgc_config *cfg)
{
    rcgc_runtime *rt = NULL;
    (void)rcgc_runtime_create_abi(cfg, RCGC_ABI, &rt);
    return rt;
}

typedef struct rcgc_teardown_report {
    rcgc_ssize collected;     /* found unreachable by teardown's collections */
    rcgc_ssize uncollectable; /* in the garbage list after those collections */
    rcgc_ssize alive;         /* still referenced after them, other than by
                                 uncollectable garbage: references the program
                                 kept, or leaks */
    rcgc_ssize freed;         /* objects teardown then freed by force (the
                                 alive ones and the uncollectable garbage) */
    rcgc_ssize leaked;        /* objects teardown could not find to free (held
                                 only by untracked objects; debug builds find
                                 every object) */
} rcgc_teardown_report;

/*
 * Free a runtime and everything it owns.  Teardown collects until nothing
 * more is found (finalizing what can be finalized), reports uncollectable
 * garbage and objects still alive on the debug stream (CPython's shutdown
 * message), then breaks the references of every object it can find and frees
 * them.  Returns 0 when nothing was alive or uncollectable, RCGC_ELIVE
 * otherwise; report (may be NULL) receives the numbers.
 *
 * RCGC_EINVAL for NULL.  RCGC_EBUSY, and nothing is freed, while the runtime
 * is in use: a diagnostics server still serves it (rcgc_serve_stop first),
 * or the call comes from inside the runtime's own work (a collection, a
 * deallocation, teardown, or a finalizer, clear, weak reference or gc
 * callback they run); that second case is misuse, which debug builds
 * (RCGC_DEBUG >= 1) report with a message and abort().
 */
RCGC_API int rcgc_runtime_free(rcgc_runtime *rt, rcgc_teardown_report *report);

/* The debug stream (BORROWED). */
RCGC_API FILE *rcgc_runtime_debug_stream(rcgc_runtime *rt);

/* BORROWED: the runtime's heap (domains, pool allocator statistics, trim,
 * check; rcgc_mem.h). */
RCGC_API rcgc_heap *rcgc_runtime_heap(rcgc_runtime *rt);

/* The code of the last failed allocation or operation of this runtime. */
RCGC_API int rcgc_runtime_last_error(rcgc_runtime *rt);

typedef struct rcgc_runtime_stats {
    rcgc_ssize objects;        /* live objects (allocated, not yet freed) */
    rcgc_ssize objects_peak;   /* highest value of objects */
    rcgc_ssize tracked;        /* objects in generations 0..2 and frozen */
    rcgc_ssize allocations;    /* objects allocated since creation */
    rcgc_ssize blocks;         /* memory blocks held through the allocator */
} rcgc_runtime_stats;

/* The runtime's object and block counts, copied into *out (rt and out not
 * NULL).  O(1); reads only. */
RCGC_API void rcgc_runtime_get_stats(rcgc_runtime *rt, rcgc_runtime_stats *out);

/*
 * The heap's bytes: what the live objects' blocks take, their hidden
 * headers included (the collector's, the weak slot, the debug header),
 * counted in the allocator's 16-byte units (the size asked of it rounded up
 * to a multiple of 16: a pool block's size class).  Buffers of the MEM domain
 * (rcgc_mem_malloc) are not counted (a heap with debug hooks can limit
 * those: rcgc_memdebug_config).  Returns the current value; *peak (may be
 * NULL) receives the highest since creation.  O(1); reads only.
 */
RCGC_API size_t rcgc_runtime_heap_bytes(rcgc_runtime *rt, size_t *peak);

/*
 * The ceiling: an allocation of an object that would take the heap's bytes
 * (rcgc_runtime_heap_bytes) above limit first runs an emergency full
 * collection, then tries again, and fails with RCGC_ENOMEM (NULL, the code
 * in rcgc_runtime_last_error) if the heap is still too full; nothing else
 * changes.  The emergency collection runs whether or not automatic
 * collection is enabled, but never inside a collection, a deallocation (a
 * finalizer, clear, release or weak reference callback run by a decref) or
 * the teardown: there the allocation fails at once.  In RCGC_GC_DEFERRED
 * mode the allocation fails at once and the collection runs at the next
 * rcgc_gc_collect_pending (if automatic collection is enabled then), unless
 * the config's heap_limit_collect_now asks for it inside the allocating
 * call.  limit 0 removes the ceiling; a limit below the current bytes is
 * accepted (allocations fail until enough is freed).  Returns 0.
 */
RCGC_API int rcgc_runtime_set_heap_limit(rcgc_runtime *rt, size_t limit);
/* The ceiling (0: none). */
RCGC_API size_t rcgc_runtime_get_heap_limit(rcgc_runtime *rt);

/* Memory for an object's own buffers, from the runtime's MEM domain (so
 * fault injection, the debug hooks and accounting see it).  Semantics of malloc/realloc/free;
 * a zero size gives a unique pointer.  Must not be used across runtimes. */
RCGC_API void *rcgc_mem_malloc(rcgc_runtime *rt, size_t size);
RCGC_API void *rcgc_mem_calloc(rcgc_runtime *rt, size_t nelem, size_t elsize);
RCGC_API void *rcgc_mem_realloc(rcgc_runtime *rt, void *ptr, size_t new_size);
RCGC_API void rcgc_mem_free(rcgc_runtime *rt, void *ptr);

/* ------------------------------------------------------------------------ */
/* Object lifetime                                                           */

/*
 * NEW: a zeroed instance of type with refcount 1, not tracked.  Allocating an
 * instance of a GC type adds one to count[0] and may run an automatic
 * collection first (RCGC_GC_SYNC), which may run finalizers.  NULL when out
 * of memory or when type is invalid (rcgc_runtime_last_error says which).
 */
RCGC_API rcgc_object *rcgc_object_new(rcgc_runtime *rt, const rcgc_type *type);

/* NEW: as rcgc_object_new with an instance of size bytes (>= type->size),
 * for objects with inline variable-size data. */
RCGC_API rcgc_object *rcgc_object_new_sized(rcgc_runtime *rt, const rcgc_type *type,
                                            size_t size);

/* Out-of-line parts of the fast paths below, exported because the inline
 * code calls them.  Not for direct use. */
RCGC_API void rcgc_object_dealloc(rcgc_runtime *rt, rcgc_object *o);
RCGC_API void rcgc_incref_checked(rcgc_object *o, const char *file, int line);
RCGC_API void rcgc_decref_checked(rcgc_runtime *rt, rcgc_object *o, const char *file,
                                   int line);

/*
 * The reference calls' argument contract, the same in every build: the
 * object argument of rcgc_incref, rcgc_decref, rcgc_xincref and rcgc_xdecref
 * is an rcgc_object * (mutable), converted as a function parameter of that
 * type would be: in C a void * is accepted; a pointer to the program's own
 * struct needs &p->base or a cast; another struct's pointer, a const
 * pointer or an integer is diagnosed (an error in C++; a warning in C, an
 * error with -Werror, and for the first and last by default from GCC 14).
 * Release builds make them inline functions, debug builds (RCGC_DEBUG >= 1)
 * macros that pass the caller's file and line to a function with the same
 * parameter, so the compiler checks the same types in both
 * (tests/check_headers.sh compiles right and wrong calls at both levels, as
 * C and as C++).  They may be macros: do not take their address.
 * RCGC_CLEAR, RCGC_SETREF and RCGC_VISIT take a slot or expression of any
 * object pointer type (a typed field) and cast it, as CPython's Py_CLEAR,
 * Py_SETREF and Py_VISIT do (docs/api-rules.md).
 */
#if RCGC_DEBUG >= 1
#define rcgc_incref(o) rcgc_incref_checked((o), __FILE__, __LINE__)
#define rcgc_decref(rt, o) rcgc_decref_checked((rt), (o), __FILE__, __LINE__)
#else
/* Add a strong reference.  Immortal objects are not written to. */
static inline void rcgc_incref(rcgc_object *o)
{
    if (RCGC_LIKELY(o->refcnt >= 0)) o->refcnt++;
}

/* Drop a strong reference; the last one frees the object (finalizer, clear,
 * release, free).  Immortal objects are not written to. */
static inline void rcgc_decref(rcgc_runtime *rt, rcgc_object *o)
{
    intptr_t r = o->refcnt;
    if (RCGC_LIKELY(r > 1))
        o->refcnt = r - 1;
    else if (r == 1) {
        o->refcnt = 0;
        rcgc_object_dealloc(rt, o);
    }
}
#endif

/* NULL-tolerant variants (same argument type). */
#define rcgc_xincref(o)                                                       \
    do {                                                                      \
        rcgc_object *rcgc_xo_ = (o);                                          \
        if (rcgc_xo_ != NULL) rcgc_incref(rcgc_xo_);                          \
    } while (0)
#define rcgc_xdecref(rt, o)                                                   \
    do {                                                                      \
        rcgc_object *rcgc_xo_ = (o);                                          \
        if (rcgc_xo_ != NULL) rcgc_decref((rt), rcgc_xo_);                    \
    } while (0)

/* Null the slot, then drop the reference it held (a decref can run code that
 * reads the slot again). */
#define RCGC_CLEAR(rt, slot)                                                  \
    do {                                                                      \
        rcgc_object *rcgc_clear_old_ = (rcgc_object *)(slot);                 \
        if (rcgc_clear_old_ != NULL) {                                        \
            (slot) = NULL;                                                    \
            rcgc_decref((rt), rcgc_clear_old_);                               \
        }                                                                     \
    } while (0)

/* Store value (STEALS a reference to it, may be NULL) into slot, then drop
 * the reference the slot held. */
#define RCGC_SETREF(rt, slot, value)                                          \
    do {                                                                      \
        rcgc_object *rcgc_setref_old_ = (rcgc_object *)(slot);                \
        (slot) = (value);                                                     \
        if (rcgc_setref_old_ != NULL) rcgc_decref((rt), rcgc_setref_old_);    \
    } while (0)

/* The reference count (RCGC_IMMORTAL_REFCNT for immortal objects). */
static inline intptr_t rcgc_object_refcount(const rcgc_object *o)
{
    return o->refcnt;
}

static inline int rcgc_object_is_immortal(const rcgc_object *o)
{
    return o->refcnt < 0;
}

/*
 * Make o immortal: reference counting stops writing to it and it is never
 * freed before its runtime is.  A tracked object is untracked (CPython 3.13):
 * an immortal container is a root, not a collection candidate.  Teardown
 * clears and frees immortal objects last.  RCGC_ENOMEM if the runtime cannot
 * record it (the object is then unchanged).
 */
RCGC_API int rcgc_object_make_immortal(rcgc_runtime *rt, rcgc_object *o);

/*
 * Start tracking o (an instance of a GC type, fully initialised so that
 * traverse is safe): append it to generation 0.  RCGC_EALREADY if it is
 * tracked, RCGC_ENOTGC if its type is not a GC type (debug builds abort with
 * a message for these two), RCGC_EINVAL if it is immortal (in every build:
 * an immortal object stays untracked).
 */
RCGC_API int rcgc_object_track(rcgc_runtime *rt, rcgc_object *o);

/* Stop tracking o; nothing if it is not tracked.  Keeps the finalized mark. */
RCGC_API void rcgc_object_untrack(rcgc_runtime *rt, rcgc_object *o);

/* 1 if o's type is a GC type and o is tracked (gc.is_tracked). */
RCGC_API int rcgc_object_is_tracked(const rcgc_object *o);

/*
 * sys.getsizeof: the bytes o takes, with the headers the library puts in
 * front of it (the collector's links for GC types, the weak-reference slot
 * for RCGC_TYPE_WEAKREF types; not the debug build's own header), its
 * type's size and what the type's extra_size hook adds.  Not the
 * allocator's rounding up to a size class.  o must be alive.
 */
RCGC_API size_t rcgc_sizeof(const rcgc_object *o);

/* 1 if o's type is a GC type and o's finalizer has run (gc.is_finalized). */
RCGC_API int rcgc_object_is_finalized(const rcgc_object *o);

/* 1 if o could take part in a cycle: a GC type and either tracked, or of a
 * type that is not lazily untracked for good (the test may_untrack uses). */
RCGC_API int rcgc_may_be_tracked(const rcgc_object *o);

/* Run o's finalizer now unless it already ran (PyObject_CallFinalizer).
 * Returns the finalizer's result, or 0 when nothing ran. */
RCGC_API int rcgc_object_call_finalizer(rcgc_runtime *rt, rcgc_object *o);

/* ------------------------------------------------------------------------ */
/* The collector (CPython's gc module)                                       */

#define RCGC_NUM_GENERATIONS 3

/*
 * Collect generation (0, 1 or 2) and the younger ones.  Returns the number of
 * unreachable objects found (collected + uncollectable, exactly as CPython's
 * gc.collect), 0 when called during a collection of this runtime (from a
 * finalizer, a clear function or a callback), RCGC_ERANGE for a bad
 * generation.  Works whether or not automatic collection is enabled.
 */
RCGC_API rcgc_ssize rcgc_gc_collect(rcgc_runtime *rt, int generation);

/* Safe point for RCGC_GC_DEFERRED: run the automatic collection that an
 * allocation scheduled, if any and if still enabled.  Returns what the
 * collection found, or 0. */
RCGC_API rcgc_ssize rcgc_gc_collect_pending(rcgc_runtime *rt);

/* Automatic collection on and off; each returns the previous state. */
RCGC_API int rcgc_gc_enable(rcgc_runtime *rt);
RCGC_API int rcgc_gc_disable(rcgc_runtime *rt);
RCGC_API int rcgc_gc_isenabled(rcgc_runtime *rt);

/* Thresholds (gc.get_threshold / set_threshold), as configured, in every
 * policy: under RCGC_POLICY_ADAPTIVE threshold[0] is the floor of the young
 * threshold (rcgc_gc_get_young_threshold, which a set restarts from
 * threshold[0]) and threshold[2] is not used.  RCGC_EINVAL if negative. */
RCGC_API void rcgc_gc_get_threshold(rcgc_runtime *rt, int out[3]);
RCGC_API int rcgc_gc_set_threshold(rcgc_runtime *rt, int t0, int t1, int t2);

/* gc.get_count: count[0] = GC allocations minus GC frees since the last
 * collection; count[1], count[2] = collections of the younger generation
 * since the last collection of this one.  The same in every policy (under
 * RCGC_POLICY_ADAPTIVE count[2] may pass threshold[2]: full collections
 * wait for the heap's growth instead). */
RCGC_API void rcgc_gc_get_count(rcgc_runtime *rt, int out[3]);

/* The collection policy (rcgc_gc_policy).  Setting it takes effect from the
 * next allocation; the adaptive state starts again from threshold[0] and
 * the current heap.  RCGC_EINVAL for an unknown policy (nothing changes). */
RCGC_API int rcgc_gc_set_policy(rcgc_runtime *rt, rcgc_gc_policy policy);
RCGC_API rcgc_gc_policy rcgc_gc_get_policy(rcgc_runtime *rt);

/* The young threshold in force: the count[0] past which the next automatic
 * collection is considered.  threshold[0] under RCGC_POLICY_CPYTHON311;
 * the adapted value under RCGC_POLICY_ADAPTIVE (threshold[0] stays what
 * rcgc_gc_set_threshold set: the floor).  O(1); reads only. */
RCGC_API int rcgc_gc_get_young_threshold(rcgc_runtime *rt);

/* gc.get_debug / gc.set_debug: the RCGC_DEBUG_* flags (CPython's values).
 * STATS, COLLECTABLE and UNCOLLECTABLE print to the debug stream during
 * collections; SAVEALL puts every unreachable object in the garbage list
 * instead of freeing it.  Any unsigned value is accepted and kept (unknown
 * bits are ignored, as CPython does); the change applies from the next
 * collection.  rt: a runtime; takes no objects. */
RCGC_API unsigned rcgc_gc_get_debug(rcgc_runtime *rt);
RCGC_API void rcgc_gc_set_debug(rcgc_runtime *rt, unsigned flags);

/* The phases of a collection, each a function of the collector
 * (docs/collector.md). */
#define RCGC_PHASE_LIST(X)                                                    \
    X(UPDATE_REFS, "update_refs")                                             \
    X(SUBTRACT_REFS, "subtract_refs")                                         \
    X(MOVE_UNREACHABLE, "move_unreachable")                                   \
    X(UNTRACK_LAZY, "untrack_lazy")                                           \
    X(PROMOTE, "promote")                                                     \
    X(MOVE_LEGACY_FINALIZERS, "move_legacy_finalizers")                       \
    X(HANDLE_WEAKREFS, "handle_weakrefs")                                     \
    X(FINALIZE_GARBAGE, "finalize_garbage")                                   \
    X(HANDLE_RESURRECTED, "handle_resurrected_objects")                       \
    X(DELETE_GARBAGE, "delete_garbage")                                       \
    X(HANDLE_LEGACY_FINALIZERS, "handle_legacy_finalizers")

enum rcgc_phase {
#define RCGC_PHASE_ENUM_(name, text) RCGC_PHASE_##name,
    RCGC_PHASE_LIST(RCGC_PHASE_ENUM_)
#undef RCGC_PHASE_ENUM_
    RCGC_PHASE_COUNT
};

/* The function name of a phase, or NULL. */
RCGC_API const char *rcgc_gc_phase_name(int phase);

/* Per generation, since the runtime was created (gc.get_stats plus time),
 * in every policy; the ceiling's emergency collections count as
 * generation 2's. */
typedef struct rcgc_gc_stats {
    rcgc_ssize collections;              /* collections of this generation */
    rcgc_ssize collected;                /* unreachable objects freed */
    rcgc_ssize uncollectable;            /* unreachable, left in garbage */
    uint64_t total_ns;                   /* time in these collections */
    uint64_t phase_ns[RCGC_PHASE_COUNT]; /* of which, per phase */
} rcgc_gc_stats;

RCGC_API void rcgc_gc_get_stats(rcgc_runtime *rt, rcgc_gc_stats out[3]);

/* The CPU time (user + system, CLOCK_THREAD_CPUTIME_ID) that the thread
 * running them spent in the collections of each generation since the
 * runtime was created, in ns: beside rcgc_gc_stats.total_ns, which is wall
 * time, so that time spent waiting for a core (a loaded machine) shows as
 * the difference.  The same collections as rcgc_gc_stats (emergency ones
 * count as generation 2's).  0 where the system has no per-thread CPU
 * clock.  A function of its own, not a field of rcgc_gc_stats: programs
 * compiled against 0.2.0 pass arrays of the old struct size (the struct
 * carries no size field, docs/api-rules.md).  rt: a runtime; out: 3
 * elements, written. */
RCGC_API void rcgc_gc_get_cpu_ns(rcgc_runtime *rt, uint64_t out[3]);

/* gc.callbacks: called before ("start", counts 0) and after ("stop") every
 * collection, automatic or not, in registration order.  A non-zero return is
 * reported through the unraisable hook; the others still run.  Collecting
 * from a callback returns 0. */
typedef enum rcgc_gc_event { RCGC_GC_START = 0, RCGC_GC_STOP = 1 } rcgc_gc_event;

typedef struct rcgc_gc_info {
    int generation;           /* the generation collected */
    rcgc_ssize collected;     /* 0 at start */
    rcgc_ssize uncollectable; /* 0 at start */
    double duration;          /* seconds, wall; 0 at start */
    /* Seconds of the collecting thread's CPU time (rcgc_gc_get_cpu_ns);
     * 0 at start.  Added after 0.2.0, last: the library owns the struct and
     * passes a pointer, so callbacks built earlier read the fields before
     * it. */
    double cpu_duration;
} rcgc_gc_info;

typedef int (*rcgc_gc_callback_fn)(rcgc_runtime *rt, rcgc_gc_event event,
                                   const rcgc_gc_info *info, void *ctx);

/* Register (fn, ctx); the same pair may be registered more than once. */
RCGC_API int rcgc_gc_callback_add(rcgc_runtime *rt, rcgc_gc_callback_fn fn, void *ctx);
/* Remove the first registration of (fn, ctx); RCGC_ENOTFOUND if none. */
RCGC_API int rcgc_gc_callback_remove(rcgc_runtime *rt, rcgc_gc_callback_fn fn,
                                     void *ctx);

/*
 * gc.garbage: objects of unreachable cycles that hold a legacy finalizer (or
 * every unreachable object under RCGC_DEBUG_SAVEALL).  The list holds strong
 * references; the program breaks the cycles and clears it.
 */
RCGC_API rcgc_ssize rcgc_gc_garbage_size(rcgc_runtime *rt);
/* NEW references: *out receives an array (free with rcgc_objects_free). */
RCGC_API rcgc_ssize rcgc_gc_get_garbage(rcgc_runtime *rt, rcgc_object ***out);
/* Remove the first occurrence of o and drop its reference. */
RCGC_API int rcgc_gc_garbage_remove(rcgc_runtime *rt, rcgc_object *o);
/* Empty the list, dropping its references. */
RCGC_API void rcgc_gc_garbage_clear(rcgc_runtime *rt);

/* gc.freeze: move every tracked object to the permanent generation, which
 * collections, get_objects and get_referrers leave out; counts become 0. */
RCGC_API void rcgc_gc_freeze(rcgc_runtime *rt);
/* gc.unfreeze: move them back to the oldest generation. */
RCGC_API void rcgc_gc_unfreeze(rcgc_runtime *rt);
RCGC_API rcgc_ssize rcgc_gc_get_freeze_count(rcgc_runtime *rt);

/*
 * Introspection.  Each returns a count and stores in *out an array of NEW
 * references (free it with rcgc_objects_free), or returns RCGC_ENOMEM.
 * get_objects: tracked objects of one generation, or of all when generation
 * is -1 (RCGC_ERANGE otherwise).  get_referrers: tracked objects (not the
 * frozen ones) whose traverse reports any of objs, or whose ephemerons
 * report one as a value (a weak-key map refers to its values).
 * get_referents: what the traverse of each of objs reports, then the values
 * its ephemerons report, duplicates kept (objects of non-GC types contribute
 * nothing).  For these two, objs is an array of nobjs borrowed objects:
 * RCGC_EINVAL (and *out NULL) if nobjs < 0, or objs is NULL with nobjs > 0.
 */
RCGC_API rcgc_ssize rcgc_gc_get_objects(rcgc_runtime *rt, int generation,
                                        rcgc_object ***out);
RCGC_API rcgc_ssize rcgc_gc_get_referrers(rcgc_runtime *rt, rcgc_object *const *objs,
                                          rcgc_ssize nobjs, rcgc_object ***out);
RCGC_API rcgc_ssize rcgc_gc_get_referents(rcgc_runtime *rt, rcgc_object *const *objs,
                                          rcgc_ssize nobjs, rcgc_object ***out);

/* Drop the n references of an array returned above (STEALS them) and free
 * the array.  NULL is allowed. */
RCGC_API void rcgc_objects_free(rcgc_runtime *rt, rcgc_object **objs, rcgc_ssize n);

/*
 * Check the collector's invariants: every list well linked, no stale flag
 * bits, every tracked object of a GC type with a positive refcount, the
 * counts consistent.  Returns 0 or RCGC_ECORRUPT after describing the first
 * violation on the debug stream.  Runs after every collection when the
 * library is built with RCGC_DEBUG >= 3.
 */
RCGC_API int rcgc_gc_check(rcgc_runtime *rt);

/*
 * Run every invariant checker the library has on rt, in one call: the
 * heap's pools and arenas (and, with debug hooks, every block's guards),
 * the collector's lists (as rcgc_gc_check), every weak reference and every
 * weakly referenceable object's list of them, the weak containers' tables,
 * and the allocation tracer's tables when it runs.  O(objects + blocks +
 * traces); meant for tests and debugging.  In release builds objects the
 * collector does not track are reached only through the weak references to
 * them; at RCGC_DEBUG >= 1 every live object is.
 * rt: a runtime, not being freed.  Reads only; takes no reference.
 * Returns 0; RCGC_ECORRUPT after describing each violation found on the
 * debug stream (a broken collector list stops the walks that follow it);
 * RCGC_ENOMEM if nothing was found wrong but the pool allocator's check
 * could not allocate its table; RCGC_EINVAL if rt is NULL.  During a collection (from its callbacks) the
 * collector's lists are checked as rcgc_gc_check does, and nothing else.
 */
RCGC_API int rcgc_check(rcgc_runtime *rt);

/* ------------------------------------------------------------------------ */
/* Weak references (CPython's weakref module; docs/weakref.md)               */

/*
 * Called once, when the referent of wr dies (wr is already dead: getting its
 * referent gives NULL), with the argument given at creation (BORROWED).  On
 * refcount death the callbacks of an object's weak references run newest
 * first, after its finalizer; in a collection they run before any finalizer,
 * and only for weak references that are not garbage themselves.  A callback
 * may do anything (allocate, drop references, create weak references,
 * collect).  A non-zero return is reported through the unraisable hook.
 */
typedef int (*rcgc_weakref_callback)(rcgc_runtime *rt, rcgc_object *wr,
                                     rcgc_object *arg);

/*
 * NEW: a weak reference to obj (whose type has RCGC_TYPE_WEAKREF), calling
 * callback(rt, wr, arg) when obj dies; the weak reference keeps arg alive.
 * Without callback and arg, the object's shared basic weak reference is
 * returned (the same object every time, as CPython's ref(obj)).  NULL with
 * RCGC_ENOTWEAK (type not weakly referenceable), RCGC_EINVAL (obj is dying),
 * or RCGC_ENOMEM in rcgc_runtime_last_error.
 */
RCGC_API rcgc_object *rcgc_weakref_new(rcgc_runtime *rt, rcgc_object *obj,
                                       rcgc_weakref_callback callback, rcgc_object *arg);

/* NEW: the referent of wr, or NULL once it is dead, or NULL with
 * RCGC_EINVAL in rcgc_runtime_last_error when wr is not a weak reference
 * (checked in every build). */
RCGC_API rcgc_object *rcgc_weakref_get(rcgc_runtime *rt, rcgc_object *wr);

/* 1 if o is a weak reference (of any kind, weak methods included). */
RCGC_API int rcgc_is_weakref(const rcgc_object *o);

/* 1 if wr's callback is still pending (CPython: wr.__callback__ is not
 * None); 0 without a callback, once it was called on refcount death, or
 * when wr is not a weak reference.  A weak method always has one (CPython's
 * WeakMethod passes its own _cb), whether or not the program gave one. */
RCGC_API int rcgc_weakref_has_callback(const rcgc_object *wr);

/* 1 if wr is its referent's basic weak reference: the shared one without
 * callback or argument that rcgc_weakref_new(rt, obj, NULL, NULL) returns
 * (CPython's ref(obj)), first in rcgc_weakref_list while it lives.  0 for
 * every other weak reference (with a callback, weak methods, the internal
 * ones of weak containers and finalize objects), for dead ones, and for
 * objects that are not weak references.  Reads only; takes no reference. */
RCGC_API int rcgc_weakref_is_basic(const rcgc_object *wr);

/* The number of weak references to obj (0 for non-weakrefable types). */
RCGC_API rcgc_ssize rcgc_weakref_count(const rcgc_object *obj);

/* The weak references to obj, in list order (the basic one first, then the
 * others newest first): an array of NEW references (rcgc_objects_free). */
RCGC_API rcgc_ssize rcgc_weakref_list(rcgc_runtime *rt, rcgc_object *obj,
                                      rcgc_object ***out);

/*
 * NEW: a weak reference to the bound method (self, func), CPython's
 * WeakMethod: alive while self and func are both alive (func is held
 * strongly if its type cannot be weakly referenced).  callback (may be NULL)
 * is called once, when the first of the two dies.
 */
RCGC_API rcgc_object *rcgc_weakmethod_new(rcgc_runtime *rt, rcgc_object *self,
                                          rcgc_object *func,
                                          rcgc_weakref_callback callback,
                                          rcgc_object *arg);

/* 1 and NEW references in *self and *func if the method is alive; 0 and
 * NULLs if not; RCGC_EINVAL and NULLs if wm is not a weak method (a plain
 * weak reference included). */
RCGC_API int rcgc_weakmethod_get(rcgc_runtime *rt, rcgc_object *wm, rcgc_object **self,
                                 rcgc_object **func);

/* ------------------------------------------------------------------------ */
/* Weak containers (docs/weakref.md)                                         */
/*
 * Three container types, each a tracked object that may itself be garbage
 * or part of a cycle.  Entries disappear when their weakly held object dies.
 * Keys and values must be of weakly referenceable types where they are held
 * weakly (RCGC_ENOTWEAK otherwise).
 *
 * Keys are compared in one of three ways, fixed when the container is made:
 *   - byte strings (rcgc_wvmap_new: the weak-value map's byte-key calls);
 *   - objects by identity (rcgc_wset_new, rcgc_wkmap_new, and the *_new_keyed
 *     constructors with ops NULL): pointers are compared, no hook runs;
 *   - objects by the embedder's hash and equality (the *_new_keyed
 *     constructors with ops): as a Python dict uses __hash__ and __eq__.
 *
 * Key hooks (rcgc_key_ops), CPython's semantics:
 *   - a key's hash is computed once, when it is looked up or inserted, and
 *     the entry keeps it (CPython's weakref caches its referent's hash): when
 *     a weakly held key dies its entry is found by its weak reference, and
 *     no hook is called; no hook is called by a collection, an iteration,
 *     rcgc_weak_len, rcgc_weak_clear or the container's death either;
 *   - a lookup compares the key given with each entry of the same stored hash:
 *     the same object matches without a call (as PyObject_RichCompareBool),
 *     otherwise eq(rt, stored, given, ctx) decides; equal but distinct keys
 *     find the same entry; setting with an equal key keeps the first key
 *     object and replaces the value (a Python dict keeps its original key);
 *   - a hook that fails (hash returns non-zero, eq returns a negative
 *     number) makes the operation fail with RCGC_EFAILED, whatever code the
 *     hook returned, and the container is left as it was (the embedder
 *     keeps its own error, its "exception", in ctx or in its own state);
 *   - hooks may allocate and run any code: a collection, weak reference
 *     callbacks and finalizers that add, remove or kill entries of this
 *     container, or drop its last outside reference.  The operation stays
 *     memory-safe and correct: it holds references to the container, the
 *     key and the value (and to the stored key it compares) across every
 *     hook call, and when the table changed during an eq call it starts the
 *     lookup again (CPython's dict lookup does the same).  A hook that
 *     changes the table at every call makes that lookup loop forever, as in
 *     CPython;
 *   - hooks must return normally: no longjmp, no C++ exception.
 */

/* The embedder's hash and equality of object keys.  The struct is copied by
 * the constructor; ctx is BORROWED and must stay valid while the container
 * may call the hooks (only inside the set/get/contains/delete/lookup calls
 * on it).  Both hooks are required.  key, a and b are BORROWED, alive for
 * the call; a is the key stored in the container, b the key the program
 * gave. */
typedef struct rcgc_key_ops {
    /* 0 and the key's hash in *hash, or non-zero on failure. */
    int (*hash)(rcgc_runtime *rt, rcgc_object *key, uint64_t *hash, void *ctx);
    /* 1 if a equals b, 0 if not, negative on failure. */
    int (*eq)(rcgc_runtime *rt, rcgc_object *a, rcgc_object *b, void *ctx);
    void *ctx;
} rcgc_key_ops;

/* 1 if o is a weak-value map / weak set / weak-key map (of any key kind),
 * else 0 (NULL included).  Reads only. */
RCGC_API int rcgc_is_wvmap(const rcgc_object *o);
RCGC_API int rcgc_is_wset(const rcgc_object *o);
RCGC_API int rcgc_is_wkmap(const rcgc_object *o);

/* Weak-value map: byte-string keys (copied), values held weakly. */
RCGC_API rcgc_object *rcgc_wvmap_new(rcgc_runtime *rt);                        /* NEW */
RCGC_API int rcgc_wvmap_set(rcgc_runtime *rt, rcgc_object *map, const void *key,
                            size_t key_len, rcgc_object *value);
/* NEW reference to the value, or NULL if absent (or just died). */
RCGC_API rcgc_object *rcgc_wvmap_get(rcgc_runtime *rt, rcgc_object *map,
                                     const void *key, size_t key_len);
RCGC_API int rcgc_wvmap_contains(rcgc_runtime *rt, rcgc_object *map, const void *key,
                                 size_t key_len);
/* RCGC_ENOTFOUND if absent. */
RCGC_API int rcgc_wvmap_delete(rcgc_runtime *rt, rcgc_object *map, const void *key,
                               size_t key_len);

/* NEW: a weak-value map with object keys, held strongly (reported by its
 * traverse), compared with ops (NULL: by identity; a copy is kept).  Only
 * the *_obj calls below apply to it, and they apply only to it: the byte-key
 * calls give RCGC_EINVAL on it, and the *_obj calls on a byte-key map.
 * NULL with RCGC_EINVAL (ops without both hooks) or RCGC_ENOMEM in
 * rcgc_runtime_last_error. */
RCGC_API rcgc_object *rcgc_wvmap_new_keyed(rcgc_runtime *rt, const rcgc_key_ops *ops);
/* Map key to value (held weakly; the map takes its own reference to key
 * when it adds an entry).  An entry for an equal key keeps its key object
 * and gets the new value.  0; RCGC_EFAILED (a hook failed), RCGC_ENOTWEAK,
 * RCGC_EINVAL (NULL or dying key or value, not an object-key map),
 * RCGC_ENOMEM: then the map is unchanged. */
RCGC_API int rcgc_wvmap_set_obj(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                                rcgc_object *value);
/* 1 and a NEW reference to the value in *value if an equal key maps to a
 * live value; 0 and NULL if not; a negative code (RCGC_EFAILED,
 * RCGC_EINVAL) and NULL on failure.  value must not be NULL. */
RCGC_API int rcgc_wvmap_get_obj(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                                rcgc_object **value);
/* 1 / 0, or a negative code (RCGC_EFAILED, RCGC_EINVAL). */
RCGC_API int rcgc_wvmap_contains_obj(rcgc_runtime *rt, rcgc_object *map,
                                     rcgc_object *key);
/* 0, RCGC_ENOTFOUND if absent, RCGC_EFAILED, RCGC_EINVAL. */
RCGC_API int rcgc_wvmap_delete_obj(rcgc_runtime *rt, rcgc_object *map,
                                   rcgc_object *key);

/* Weak set: items held weakly, by identity (rcgc_wset_new) or by ops.
 * rcgc_wset_add, as rcgc_wkmap_set, makes the entry's weak reference first
 * and frees it if the item (key), or an equal one, is there already
 * (CPython's order: the allocation can start a collection).  With ops,
 * contains answers a negative code (RCGC_EFAILED) when a hook fails, and
 * add and discard may return RCGC_EFAILED; contains answers 0 without
 * calling a hook for an item that is not weakly referenceable (CPython's
 * WeakSet.__contains__). */
RCGC_API rcgc_object *rcgc_wset_new(rcgc_runtime *rt);                         /* NEW */
/* NEW: a weak set comparing items with ops (NULL: by identity, as
 * rcgc_wset_new).  NULL with RCGC_EINVAL or RCGC_ENOMEM in
 * rcgc_runtime_last_error. */
RCGC_API rcgc_object *rcgc_wset_new_keyed(rcgc_runtime *rt, const rcgc_key_ops *ops);
RCGC_API int rcgc_wset_add(rcgc_runtime *rt, rcgc_object *set, rcgc_object *item);
RCGC_API int rcgc_wset_contains(rcgc_runtime *rt, rcgc_object *set, rcgc_object *item);
/* RCGC_ENOTFOUND if absent. */
RCGC_API int rcgc_wset_discard(rcgc_runtime *rt, rcgc_object *set, rcgc_object *item);

/* Weak-key map: keys held weakly, by identity (rcgc_wkmap_new) or by ops;
 * values held strongly while their key lives, as ephemerons (a value
 * referring to its key does not keep it alive, unlike CPython's
 * WeakKeyDictionary).  With ops: set and delete may return RCGC_EFAILED,
 * contains a negative code, get NULL with RCGC_EFAILED in
 * rcgc_runtime_last_error (rcgc_wkmap_lookup tells absent from failed). */
RCGC_API rcgc_object *rcgc_wkmap_new(rcgc_runtime *rt);                        /* NEW */
/* NEW: a weak-key map comparing keys with ops (NULL: by identity, as
 * rcgc_wkmap_new).  NULL with RCGC_EINVAL or RCGC_ENOMEM in
 * rcgc_runtime_last_error. */
RCGC_API rcgc_object *rcgc_wkmap_new_keyed(rcgc_runtime *rt, const rcgc_key_ops *ops);
RCGC_API int rcgc_wkmap_set(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                            rcgc_object *value);
/* NEW reference to the value, or NULL if absent. */
RCGC_API rcgc_object *rcgc_wkmap_get(rcgc_runtime *rt, rcgc_object *map,
                                     rcgc_object *key);
/* 1 and a NEW reference to the value in *value if key (or an equal key) is
 * there; 0 and NULL if not; a negative code (RCGC_EFAILED, RCGC_ENOTWEAK
 * for a key that cannot be weakly referenced, RCGC_EINVAL) and NULL on
 * failure.  value must not be NULL. */
RCGC_API int rcgc_wkmap_lookup(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key,
                               rcgc_object **value);
RCGC_API int rcgc_wkmap_contains(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key);
/* RCGC_ENOTFOUND if absent. */
RCGC_API int rcgc_wkmap_delete(rcgc_runtime *rt, rcgc_object *map, rcgc_object *key);

/* For any of the three: the number of entries (exact at all times), and
 * removing every entry.  RCGC_EINVAL for other objects.
 *
 * Every call above checks the kind of container it is given, in every
 * build: a container of another kind, or another object, gives RCGC_EINVAL
 * (NULL with RCGC_EINVAL in rcgc_runtime_last_error for the getters, 0 for
 * the contains predicates of byte-key and identity containers). */
RCGC_API rcgc_ssize rcgc_weak_len(rcgc_runtime *rt, rcgc_object *container);
RCGC_API int rcgc_weak_clear(rcgc_runtime *rt, rcgc_object *container);

/*
 * Iteration over any of the three, in insertion order.  While an iterator
 * runs, entries whose object dies or that the program deletes are not
 * yielded, and entries added are; nothing moves, so this is always safe.
 * After rcgc_witer_next returns 1, the fields describe the entry; the
 * objects are BORROWED from the iterator, which keeps them alive until the
 * next call or rcgc_witer_end, and so is the key of a weak-value map.
 * Every begin must be paired with an end (the container is not compacted,
 * and is kept alive, until then).  As in CPython 3.11, the removal of an
 * entry whose object dies while an iteration runs is pending: the entry
 * (its dead weak reference, a weak-key map's value) stays until a commit
 * point: the weak-value map's next operation, the weak set's next add,
 * discard or clear, or the end of the last iteration (docs/weakref.md).
 */
typedef struct rcgc_witer {
    rcgc_runtime *rt;         /* private */
    rcgc_object *container;   /* private: a reference held by the iterator */
    rcgc_ssize pos;           /* private: next entry index */
    const void *key;          /* byte-key weak-value map: the key bytes */
    size_t key_len;
    rcgc_object *key_obj;     /* weak set: the item; weak-key map and
                                 object-key weak-value map: the key */
    rcgc_object *value;       /* the maps: the value */
} rcgc_witer;

RCGC_API int rcgc_witer_begin(rcgc_runtime *rt, rcgc_object *container, rcgc_witer *it);
RCGC_API int rcgc_witer_next(rcgc_witer *it);
RCGC_API void rcgc_witer_end(rcgc_witer *it);

/* ------------------------------------------------------------------------ */
/* finalize objects (CPython's weakref.finalize)                             */

typedef int (*rcgc_finalize_fn)(rcgc_runtime *rt, rcgc_object *arg,
                                void *ctx);

/*
 * NEW: a finalize object that calls fn(rt, arg, ctx) once: when obj dies,
 * when the program calls it (rcgc_finalize_call), or at runtime teardown
 * (newest first) if its at-exit flag is set, which it is by default.  The
 * runtime keeps it registered (alive) until then, whether or not the caller
 * keeps its reference; arg (may be NULL) is kept alive, and must not refer to
 * obj, or obj never dies.  NULL on error (rcgc_runtime_last_error).
 */
RCGC_API rcgc_object *rcgc_finalize_new(rcgc_runtime *rt, rcgc_object *obj,
                                        rcgc_finalize_fn fn, rcgc_object *arg,
                                        void *ctx);
/* Call it now if still registered: 1 (and *result, may be NULL, gets fn's
 * return), or 0 if it was already called or detached; RCGC_EINVAL if f is
 * not a finalize object.  The predicates below answer 0 for other objects.
 * (Every call here and on the weak containers checks the kind of object it
 * is given, in every build.) */
RCGC_API int rcgc_finalize_call(rcgc_runtime *rt, rcgc_object *f, int *result);
/* 1 while registered (not yet called or detached). */
RCGC_API int rcgc_finalize_alive(const rcgc_object *f);
/* If alive: unregister without calling, give NEW references to the object
 * and the argument (either pointer may be NULL; the object may already be
 * gone: NULL), and return 1; else 0.  RCGC_EINVAL if f is not a finalize
 * object. */
RCGC_API int rcgc_finalize_detach(rcgc_runtime *rt, rcgc_object *f, rcgc_object **obj,
                                  rcgc_object **arg);
/* The same without unregistering: NEW references in *obj and *arg. */
RCGC_API int rcgc_finalize_peek(rcgc_runtime *rt, rcgc_object *f, rcgc_object **obj,
                                rcgc_object **arg);
RCGC_API int rcgc_finalize_atexit(const rcgc_object *f);
/* Ignored once the finalize object is dead. */
RCGC_API void rcgc_finalize_set_atexit(rcgc_object *f, int atexit);

#ifdef __cplusplus
}
#endif

/* The allocation tracer and snapshots (tracemalloc; docs/tracer.md). */
#include "rcgc_trace.h"

#endif /* RCGC_H */

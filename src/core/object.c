/*
 * object.c - object allocation, tracking, and deallocation.
 *
 * Deallocation is generic: when a reference count reaches zero the library
 * runs the type's hooks in CPython's subtype_dealloc order (untrack, PEP 442
 * finalizer once, legacy finalizer, clear, release, free), so every type gets
 * resurrection and the trashcan for free.  The trashcan bounds nesting: past
 * RCGC__TRASH_LIMIT nested deallocations an object is deposited on a list
 * and freed when the outermost deallocation returns, so chains of any depth
 * use bounded C stack.
 *
 * Debug builds (RCGC_DEBUG >= 1) put a debug_head before every object: its
 * magic catches use after free, its runtime pointer catches objects passed to
 * another runtime, and its links let teardown find every object.
 */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define RCGC__MAGIC_DEPOSITED 0x54524153u /* in the trashcan, refcount 0 */

#if defined(__GNUC__)
#define RCGC__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define RCGC__ALWAYS_INLINE inline
#endif

static size_t pre_size(const rcgc_type *t)
{
    return rcgc__pre_size(t);
}

/* Is the block at mem in one of heap.pm's arenas?  The side bytes' test
 * (docs/layout.md): such a block has one at its gc_head's granule, whether
 * it starts a pool block or sits behind hooks over the pool (the debug
 * layer's 16 bytes); any other block is a registry object's.  The radix
 * tree, no division. */
static int in_arena(const rcgc_runtime *rt, const void *mem)
{
    return rt->heap.pm != NULL && rcgc__pm_owns(rt->heap.pm, mem);
}

/* ---- debug checks (compiled always, used when RCGC_DEBUG >= 1) ---- */

/* what names the API call; file and line (NULL, 0 when unknown) the
 * caller's location, given by the incref/decref macros of debug builds. */
/* What is wrong with o as an argument (NULL when nothing is): the checks
 * of debug builds.  The message is formatted only when one fails, so the
 * checked incref/decref of every debug build stay cheap. */
#if RCGC_DEBUG >= 1
static const char other_runtime[] = "object of another runtime";
#endif

static const char *object_problem(rcgc_runtime *rt, const rcgc_object *o)
{
    if (o == NULL) return "NULL object";
#if RCGC_DEBUG >= 1
    const debug_head *d = debug_head_of(o);
    if (RCGC_LIKELY(d->magic == RCGC__MAGIC_ALIVE && (rt == NULL || d->rt == rt)))
        return NULL;
    if (d->magic == RCGC__MAGIC_FREED) return "object used after it was freed";
    if (d->magic == RCGC__MAGIC_DEPOSITED)
        return "object used after its reference count reached zero (its "
               "deallocation is pending)";
    if (d->magic != RCGC__MAGIC_ALIVE) return "not an rcgc object (bad header)";
    return other_runtime; /* the message names both runtimes */
#else
    (void)rt;
    return NULL;
#endif
}

static void check_object_at(rcgc_runtime *rt, const rcgc_object *o,
                            const char *what, const char *file, int line)
{
    const char *problem = object_problem(rt, o);
    if (RCGC_LIKELY(problem == NULL)) return;
    char where[256];
    if (file != NULL)
        snprintf(where, sizeof where, "%s:%d: %s", file, line, what);
    else
        snprintf(where, sizeof where, "%s", what);
#if RCGC_DEBUG >= 1
    if (problem == other_runtime)
        rcgc__fatal(rt, o, "%s: object belongs to runtime %p, passed to "
                           "runtime %p",
                    where, (void *)debug_head_of(o)->rt, (void *)rt);
#endif
    rcgc__fatal(rt, o, "%s: %s", where, problem); /* o NULL: no dump */
}

void rcgc__debug_check_object(rcgc_runtime *rt, const rcgc_object *o,
                              const char *what)
{
    if (RCGC_DEBUG >= 1) check_object_at(rt, o, what, NULL, 0);
}

void rcgc_incref_checked(rcgc_object *o, const char *file,
                                       int line)
{
    check_object_at(NULL, o, "rcgc_incref", file, line);
    if (o->refcnt >= 0) o->refcnt++;
}

void rcgc_decref_checked(rcgc_runtime *rt, rcgc_object *o,
                                       const char *file, int line)
{
    check_object_at(rt, o, "rcgc_decref", file, line);
    intptr_t r = o->refcnt;
    if (r > 1) {
        o->refcnt = r - 1;
    } else if (r == 1) {
        o->refcnt = 0;
        rcgc_object_dealloc(rt, o);
    } else if (r == 0) {
        rcgc__fatal(rt, o,
                    "%s:%d: rcgc_decref: reference count would go below zero",
                    file, line);
    }
}

/* ---- allocation ---- */

static int type_is_valid(const rcgc_type *t, size_t size)
{
    if (t == NULL || t->size < sizeof(rcgc_object) || size < t->size)
        return 0;
    return !gc_type_is_gc(t) || t->traverse != NULL;
}

static void debug_link(rcgc_runtime *rt, rcgc_object *o, size_t size)
{
#if RCGC_DEBUG >= 1
    debug_head *d = debug_head_of(o);
    d->magic = RCGC__MAGIC_ALIVE;
    d->gc_mem = gc_is_gc(o);
    d->rt = rt;
    d->size = size;
    d->serial = ++rt->serial;
    d->prev = rt->all.prev;
    d->next = &rt->all;
    rt->all.prev->next = d;
    rt->all.prev = d;
#else
    (void)rt;
    (void)o;
    (void)size;
#endif
}

/* An object's bytes in the heap's count (rcgc_runtime_heap_bytes): its
 * block in the allocator's 16-byte units, which for a pool block is its
 * size class, so that a pool block tells them at the free (an instance made
 * larger than its type needs no table then). */
static inline size_t block_bytes(size_t need)
{
    return (need + 15) & ~(size_t)15;
}

/* Instances of t may live in pool blocks (their block, headers included,
 * fits the pool's largest class). */
static inline int type_fits_pool(const rcgc_type *t)
{
    return rcgc__pre_size(t) + t->size <= RCGC_PYMALLOC_THRESHOLD;
}

#if defined(__GNUC__)
/* Make x opaque to the optimizer (no instruction): a loop of stores through
 * it is no longer one the compiler turns back into a call to memset. */
#define RCGC__OPAQUE(x) __asm__("" : "+r"(x))
#else
#define RCGC__OPAQUE(x) ((void)0)
#endif

/* Zero the n bytes at p (16 <= n <= 512, multiples of 16 both) with 16-byte
 * stores (fixed-size memsets, which the compiler expands inline), the two
 * at each end overlapping: a block of up to 64 bytes costs 2 or 4 stores,
 * no loop and no call into the C library. */
static inline void zero_block(char *p, size_t n)
{
    char *end = p + n;
    memset(p, 0, 16);
    memset(end - 16, 0, 16);
    if (n <= 32) return;
    memset(p + 16, 0, 16);
    memset(end - 32, 0, 16);
    if (RCGC_LIKELY(n <= 64)) return;
    for (char *q = p + 32; q < end - 32; q += 16) {
        memset(q, 0, 16);
        RCGC__OPAQUE(q);
    }
}

/* A GC allocation passed the young trigger: the collection CPython's
 * gc_alloc runs, then o back (a tail call, so object_new's fast path saves
 * no registers). */
static RCGC__NOINLINE rcgc_object *link_slow(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc__gc_link_slow(rt);
    return o;
}

/* The common end of both allocation paths: count the object o (heap is
 * rt->heap_bytes with its block's bytes added, passed in so that it stays
 * in a register over the stores), initialise the header,
 * count a GC allocation and maybe collect.  CPython's gc_alloc collects
 * before the object is initialised; here it is initialised but untracked,
 * so no collection can see it either, and the collection is the last thing
 * done. */
static inline rcgc_object *object_init(rcgc_runtime *rt, const rcgc_type *type,
                                       rcgc_object *o, size_t size,
                                       size_t heap, int gc)
{
    rt->heap_bytes = heap;
    if (heap > rt->heap_bytes_peak) rt->heap_bytes_peak = heap;
    o->refcnt = 1;
    o->type = type;
    debug_link(rt, o, size);
    rt->allocations++;
    if (++rt->objects > rt->objects_peak) rt->objects_peak = rt->objects;
    /* instance created */
    if (gc && RCGC_UNLIKELY(++rt->gen[0].count > rt->young_trigger))
        return link_slow(rt, o);
    return o;
}

/* The first instance of a lazily untracked type: from now on the order of
 * generation 0 is observable (untrack_lazy walks it: collect.c), so
 * objects are tracked onto the list, in tracking order, and those the
 * young vector holds go first, in its order (docs/layout-16.md, step 3a).
 * Out of line: once per runtime. */
static RCGC__NOINLINE void lazy_untrack_on(rcgc_runtime *rt)
{
    rt->lazy_untrack = 1;
    rcgc__vec_link_all(rt);
    /* no room and no IN_VEC0 bit left: track's inline path never takes
     * a pool object again, and rcgc__vec_push_slow refuses to grow */
    rt->raw.free(rt->raw.ctx, rt->vec[0].v);
    rt->vec[0].v = NULL;
    rt->vec[0].cap = 0;
}

/* A type with may_untrack had an instance (object_init's callers, before
 * it: the cached path relies on tcache_fill having done it). */
static inline void note_lazy_untrack(rcgc_runtime *rt, const rcgc_type *type)
{
    if (gc_type_is_gc(type) && type->may_untrack != NULL &&
        RCGC_UNLIKELY(!rt->lazy_untrack))
        lazy_untrack_on(rt);
}

/* The block at the start of object_init's object counts as the object
 * (rt->objects) from now on, no longer as a block of the runtime's hooks
 * (rcgc__obj_calloc counted it in both block counts): the inline paths,
 * whose blocks the hooks never see, count nothing else.  count_block is
 * the reverse, for a block that outlives its object. */
static inline void uncount_block(rcgc_runtime *rt)
{
    rt->blocks--;
    rt->heap.blocks[RCGC_DOMAIN_OBJ]--;
}

static inline void count_block(rcgc_runtime *rt)
{
    rt->blocks++;
    rt->heap.blocks[RCGC_DOMAIN_OBJ]++;
}

/* Everything object_new does not do inline: bad arguments, blocks larger
 * than the pool's classes, an object domain that is not the runtime's own
 * pool allocator (the tracer's, debug or user hooks), the adaptive policy's
 * byte trigger and the ceiling (policy.c), a pool that needs a new arena.
 * A block that is not a pool block is counted in odd_blocks (if its type
 * fits a pool block) and, for an instance larger than its type, its size
 * goes in rt->sized, for the byte count at its free. */
static RCGC__NOINLINE rcgc_object *object_new_slow(rcgc_runtime *rt,
                                                   const rcgc_type *type,
                                                   size_t size)
{
    if (!type_is_valid(type, size)) {
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, NULL,
                        "rcgc_object_new: invalid type '%s' or size %zu "
                        "(size below the header, or a GC type without "
                        "traverse)",
                        type && type->name ? type->name : "?", size);
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    size_t pre = pre_size(type);
    if (size > SIZE_MAX - pre - 15) {
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    size_t need = pre + size, bytes = block_bytes(need);
    if (rt->heap_bytes + bytes > rt->bytes_watch && rcgc__heap_reserve(rt, bytes) != 0)
        return NULL;
    char *mem = rcgc__obj_calloc(rt, need);
    if (mem == NULL) return NULL;
    rcgc__pm_where w;
    if (rt->heap.pm != NULL && rcgc__pm_locate(rt->heap.pm, mem, &w)) {
        bytes = w.bsize;
    } else {
        if (size != type->size &&
            rcgc__ptrmap_put(&rt->sized, mem + need - size, size, 0) != 0) {
            rcgc__obj_free(rt, mem);
            rt->last_error = RCGC_ENOMEM;
            return NULL;
        }
        if (type_fits_pool(type)) rt->odd_blocks++;
        if (gc_type_is_gc(type) && !in_arena(rt, mem))
            rt->gc_registry++; /* no side byte */
    }
    uncount_block(rt);
    note_lazy_untrack(rt, type);
    return object_init(rt, type, (rcgc_object *)(void *)(mem + pre), size,
                       rt->heap_bytes + bytes, gc_type_is_gc(type));
}

/* object_new's end, for a pool block of the runtime's own pool allocator
 * (bytes, its size class). */
static inline rcgc_object *object_in_pool_block(rcgc_runtime *rt,
                                                const rcgc_type *type, char *mem,
                                                size_t pre, size_t size,
                                                size_t heap, size_t bytes)
{
    zero_block(mem, bytes);
    return object_init(rt, type, (rcgc_object *)(void *)(mem + pre), size,
                       heap + bytes, gc_type_is_gc(type));
}

/* object_new when the pool needs more than a pop (its last free block, a
 * page to carve, a new pool): the pool allocator's full path, then the
 * same as inline; without an arena, object_new_slow (the raw fallback). */
static RCGC__NOINLINE rcgc_object *object_new_refill(rcgc_runtime *rt,
                                                     const rcgc_type *type,
                                                     size_t size)
{
    size_t pre = pre_size(type), need = pre + size;
    /* empty pools that stale entries of vec[0] hold: give them back
     * before the allocator carves another (docs/layout-16.md, step 3a).
     * Every RCGC__VEC_HELD_POOLS pools emptied pinned, count those still
     * empty (where objects churn most are reused at once) and drop the
     * stale entries if at least that many are, and one per
     * RCGC__VEC_SCAN_PER_POOL entries the drop reads */
    rcgc_pymalloc *pm = rt->heap.obj_pm;
    if (RCGC_UNLIKELY(rcgc__pm_pinned_emptied(pm) >= RCGC__VEC_HELD_POOLS)) {
        rcgc__pm_pinned_reset(pm);
        size_t held = rcgc__pm_pinned_empty_pools(pm);
        if (held >= RCGC__VEC_HELD_POOLS &&
            held >= (size_t)rt->vec[0].len / RCGC__VEC_SCAN_PER_POOL)
            rcgc__vec_compact(rt);
    }
    char *mem = rcgc__pm_alloc_pool(rt->heap.obj_pm, need);
    if (mem == NULL) return object_new_slow(rt, type, size);
    note_lazy_untrack(rt, type);
    return object_in_pool_block(rt, type, mem, pre, size, rt->heap_bytes,
                                block_bytes(need));
}

/* The inline path: a block from the runtime's own pool allocator (its
 * heap's obj_pm), below the byte watch, zeroed here; the rest is
 * object_new_slow's.  type is not NULL and size >= type->size. */
static RCGC__ALWAYS_INLINE rcgc_object *object_new(rcgc_runtime *rt,
                                                  const rcgc_type *type,
                                                  size_t size)
{
    unsigned flags = type->flags;
    size_t pre = pre_size(type), need = pre + size, bytes = block_bytes(need);
    size_t heap = rt->heap_bytes;
    rcgc_pymalloc *pm = rt->heap.obj_pm;
    if (RCGC_UNLIKELY(pm == NULL ||
                      /* also below the header, by wrapping around */
                      size - sizeof(rcgc_object) > RCGC_PYMALLOC_THRESHOLD ||
                      need > RCGC_PYMALLOC_THRESHOLD ||
                      ((flags & RCGC_TYPE_GC) && type->traverse == NULL) ||
                      heap + bytes > rt->bytes_watch))
        return object_new_slow(rt, type, size);
    char *mem = rcgc__pm_take(pm, need);
    if (RCGC_UNLIKELY(mem == NULL)) return object_new_refill(rt, type, size);
    note_lazy_untrack(rt, type);
    return object_in_pool_block(rt, type, mem, pre, size, heap, bytes);
}

/* heaptype.c's allocation, after it took the instance's reference. */
rcgc_object *rcgc__object_alloc(rcgc_runtime *rt, const rcgc_type *type,
                                size_t size)
{
    return object_new(rt, type, size);
}

/* ---- the static types' facts (rcgc__tfacts, core/internal.h) ---- */

void rcgc__tcache_init(rcgc_runtime *rt)
{
    for (int i = 0; i < RCGC__TCACHE_SLOTS; i++)
        rt->tcache[i].type = RCGC__TCACHE_EMPTY;
}

/* The slot of t: bits 3 to 7 of its address (descriptors are 8-byte
 * aligned; two static ones side by side, 88 bytes apart, are 11 slots
 * apart). */
static inline rcgc__tfacts *tcache_slot(rcgc_runtime *rt, const rcgc_type *t)
{
    return &rt->tcache[((uintptr_t)t >> 3) & (RCGC__TCACHE_SLOTS - 1)];
}

/* Record the facts of t, a static type (not NULL, not RCGC_TYPE_HEAP), if
 * it is valid and its instances fit a pool block (1; else 0: the rest
 * always takes object_new_slow, where object_new would send it too).  The
 * cached allocation path no longer looks at may_untrack, so its mark is
 * set here. */
static int tcache_fill(rcgc_runtime *rt, const rcgc_type *t)
{
    size_t pre = pre_size(t);
    if (!type_is_valid(t, t->size) || !type_fits_pool(t)) return 0;
    note_lazy_untrack(rt, t);
    rcgc__tfacts *f = tcache_slot(rt, t);
    f->type = t;
    f->bytes = (uint16_t)block_bytes(pre + t->size);
    f->pre = (uint16_t)pre;
    size_t bytes = f->bytes;
    f->kind = (uint8_t)((gc_type_is_gc(t) ? RCGC__TF_GC : 0u) |
                        (t->finalize == NULL && t->legacy_finalize == NULL &&
                                 t->release == NULL && !type_is_weakrefable(t)
                             ? RCGC__TF_PLAIN
                             : 0u) |
                        (bytes <= 32 || (bytes == 48 && pre == 16)
                             ? RCGC__TF_ZERO2
                             : 0u));
    return 1;
}

/* rcgc_object_new of a type whose facts are cached (f): what object_new
 * checks of the type was checked when they were recorded. */
static RCGC__ALWAYS_INLINE rcgc_object *
object_new_cached(rcgc_runtime *rt, const rcgc_type *type,
                  const rcgc__tfacts *f)
{
    size_t bytes = f->bytes, pre = f->pre;
    unsigned kind = f->kind;
    size_t heap = rt->heap_bytes + bytes;
    rcgc_pymalloc *pm = rt->heap.obj_pm;
    if (RCGC_UNLIKELY(pm == NULL || heap > rt->bytes_watch))
        return object_new_slow(rt, type, type->size);
    char *mem = rcgc__pm_take_at(pm, bytes - 16);
    if (RCGC_UNLIKELY(mem == NULL))
        return object_new_refill(rt, type, type->size);
    rcgc_object *o = (rcgc_object *)(void *)(mem + pre);
    if (RCGC_LIKELY(kind & RCGC__TF_ZERO2)) {
        memset(mem, 0, 16);
        memset(mem + bytes - 16, 0, 16);
    } else {
        zero_block(mem, bytes);
    }
    return object_init(rt, type, o, type->size, heap, kind & RCGC__TF_GC);
}

/* object_new_miss adds no frame between rcgc_object_new and what it calls
 * (object_new_slow and the rest): the tracer's C stack calibration
 * measures rcgc's frames once, on a first allocation, and every later one,
 * of a type then cached, must be as deep.  Optimized, it is a sibling call
 * (no frame; inline, it would cost the cached path a register frame);
 * unoptimized, where nothing is a sibling call, it is inline. */
#if defined(__OPTIMIZE__)
#define RCGC__MISS_INLINE RCGC__NOINLINE
#else
#define RCGC__MISS_INLINE RCGC__ALWAYS_INLINE
#endif

/* rcgc_object_new of a type not in the cache: NULL, a heap type, or one
 * seen for the first time (or again after another took its slot). */
static RCGC__MISS_INLINE rcgc_object *object_new_miss(rcgc_runtime *rt,
                                                      const rcgc_type *type)
{
    if (RCGC_UNLIKELY(type == NULL)) return object_new_slow(rt, type, 0);
    /* Heap types: the instance's reference to its type (heaptype.c). */
    if (RCGC_UNLIKELY(type->flags & RCGC_TYPE_HEAP))
        return rcgc__heaptype_object_new(rt, type, type->size);
    if (tcache_fill(rt, type))
        return object_new_cached(rt, type, tcache_slot(rt, type));
    /* invalid, or larger than a pool block: object_new would send it on */
    return object_new_slow(rt, type, type->size);
}

rcgc_object *rcgc_object_new(rcgc_runtime *rt, const rcgc_type *type)
{
    const rcgc__tfacts *f = tcache_slot(rt, type);
    if (RCGC_LIKELY(f->type == type)) return object_new_cached(rt, type, f);
    return object_new_miss(rt, type);
}

rcgc_object *rcgc_object_new_sized(rcgc_runtime *rt, const rcgc_type *type,
                                   size_t size)
{
    if (RCGC_UNLIKELY(type == NULL || size < type->size))
        return object_new_slow(rt, type, size);
    if (RCGC_UNLIKELY(type->flags & RCGC_TYPE_HEAP))
        return rcgc__heaptype_object_new(rt, type, size);
    return object_new(rt, type, size);
}

/* ---- freeing ---- */

#if RCGC_DEBUG >= 1
static void debug_unlink(rcgc_runtime *rt, rcgc_object *o)
{
    debug_head *d = debug_head_of(o);
    d->prev->next = d->next;
    d->next->prev = d->prev;
    d->magic = RCGC__MAGIC_FREED;
    if (RCGC_DEBUG >= 2) /* poison the body; keep the header for messages */
        memset((char *)o + sizeof(rcgc_object), 0xDD,
               d->size - sizeof(rcgc_object));
    (void)rt;
}
#endif

/* Give the memory back (the quarantine keeps it unreusable for a while in
 * RCGC_DEBUG >= 2 builds, so later uses are caught). */
static void release_block(rcgc_runtime *rt, void *mem)
{
#if RCGC_DEBUG >= 2
    void *old = rt->quarantine[rt->quarantine_next];
    rt->quarantine[rt->quarantine_next] = mem;
    rt->quarantine_next = (rt->quarantine_next + 1) % RCGC__QUARANTINE_SLOTS;
    mem = old;
    if (mem == NULL) return;
#endif
    rcgc__obj_free(rt, mem);
}

/* The instance size of o, allocated larger than its type (size) if it is
 * in the runtime's table of those, which forgets it. */
static size_t sized_take(rcgc_runtime *rt, rcgc_object *o, size_t size)
{
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(&rt->sized, o);
    if (e == NULL) return size;
    size = e->size;
    rcgc__ptrmap_remove(&rt->sized, o);
    return size;
}

/* free_memory's other path: the block at mem is not known to be a pool
 * block of the runtime's own pool allocator, or that allocator is not the
 * object domain now, or the quarantine keeps blocks.  The same tests as
 * object_new_slow's tell the object's bytes. */
static RCGC__NOINLINE void free_block_slow(rcgc_runtime *rt, rcgc_object *o,
                                           char *mem)
{
    const rcgc_type *t = o->type;
    rcgc__pm_where w;
    if (rt->heap.pm != NULL && rcgc__pm_locate(rt->heap.pm, mem, &w)) {
        rt->heap_bytes -= w.bsize;
    } else {
        size_t size = t->size;
        if (rt->sized.count != 0) size = sized_take(rt, o, size);
        rt->heap_bytes -= block_bytes(rcgc__pre_size(t) + size);
        if (type_fits_pool(t)) rt->odd_blocks--;
        if (gc_type_is_gc(t) && !in_arena(rt, mem)) rt->gc_registry--;
    }
    count_block(rt); /* rcgc__obj_free uncounts it */
    release_block(rt, mem);
}

/* Give o's block (at mem) back: straight to its pool when the object domain
 * is the runtime's own pool allocator and the block is one of its pool
 * blocks: every block of a type that fits one is, unless odd_blocks says
 * some are not; then the radix tree tells. */
static RCGC__ALWAYS_INLINE void free_block(rcgc_runtime *rt, rcgc_object *o,
                                           const rcgc_type *t, char *mem)
{
    rcgc_pymalloc *pm = rt->heap.obj_pm;
    if (RCGC_DEBUG < 2 && RCGC_LIKELY(pm != NULL && type_fits_pool(t)) &&
        (RCGC_LIKELY(rt->odd_blocks == 0) || rcgc__pm_owns(pm, mem))) {
        rt->heap_bytes -= rcgc__pm_free_block(pm, mem);
    } else {
        free_block_slow(rt, o, mem);
    }
}

/* free_block for an instance of a heap type, then the instance's reference
 * to its type goes, last (heaptype.c).  Out of line, so that the common
 * path keeps nothing alive across the free. */
static RCGC__NOINLINE void free_heap_instance(rcgc_runtime *rt, rcgc_object *o,
                                              const rcgc_type *t, char *mem)
{
    free_block(rt, o, t, mem);
    /* memory released */
    rcgc__heaptype_instance_gone(rt, t);
}

/* The common end of every object: unlink, account, give the memory back.
 * Inline for the deallocation path, which frees most objects. */
/* The free's untrack (CPython's PyObject_GC_Del unlinks too): off its list
 * if it is on one, and its side byte back to 0 in the same write as the
 * untracking's (FINALIZED goes with the object: a new object in the slot
 * starts unfinalized). */
static RCGC__ALWAYS_INLINE void untrack_for_free(rcgc_runtime *rt,
                                                 rcgc_object *o,
                                                 const rcgc_type *t)
{
    gc_head *g = gc_head_of(o);
    if (gc_is_tracked(g)) {
        RCGC_ASSERT(rt->tracked > 0);
        gc_untrack_node(g); /* FINALIZED stays, COLLECTING goes */
        rt->tracked--;
    } else if (t->finalize == NULL) {
        /* untracked, and never finalized (only a type with a
         * finalizer sets FINALIZED): the byte is 0 already */
        return;
    }
    rcgc__side_free(rt, g);
}

static RCGC__ALWAYS_INLINE void free_memory(rcgc_runtime *rt, rcgc_object *o,
                                             const rcgc_type *t, unsigned flags)
{
    RCGC_ASSERT(rt->objects > 0 && o->type == t &&
                (t->flags & ~RCGC_TYPE_WEAKREF) == (flags & ~RCGC_TYPE_WEAKREF));
    char *mem = (char *)o - rcgc__pre_size(t);
    /* Normally empty by now; teardown frees survivors whose lists are not. */
    if ((flags & RCGC_TYPE_WEAKREF) && *weaklist_of(o) != NULL)
        rt->up.clear_weakrefs_silently(o);
    if (flags & RCGC_TYPE_GC) {
        untrack_for_free(rt, o, t);
        if (rt->gen[0].count > 0) rt->gen[0].count--;
    }
    rt->objects--;
#if RCGC_DEBUG >= 1
    debug_unlink(rt, o);
#endif
    if (RCGC_UNLIKELY(flags & RCGC_TYPE_HEAP)) {
        free_heap_instance(rt, o, t, mem);
        return;
    }
    free_block(rt, o, t, mem);
    /* memory released */
}

void rcgc__object_free_memory(rcgc_runtime *rt, rcgc_object *o)
{
    free_memory(rt, o, o->type, o->type->flags);
}

/* CPython's PyObject_CallFinalizerFromDealloc, for either finalizer.  The
 * object (refcount 0) is given a temporary reference and, if it was tracked,
 * tracked again so that a resurrected object stays collectable.  Returns 1
 * if the finalizer resurrected it. */
static int finalize_from_dealloc(rcgc_runtime *rt, rcgc_object *o,
                                 int was_tracked, int legacy)
{
    const rcgc_type *t = o->type;
    o->refcnt = 1;
    if (was_tracked) rcgc__track(rt, o);
    int err = legacy ? t->legacy_finalize(rt, o) : t->finalize(rt, o);
    if (!legacy && gc_type_is_gc(t)) rcgc__set_finalized(rt, o);
    if (err != 0)
        rcgc__unraisable(rt, legacy ? RCGC_IN_LEGACY_FINALIZER
                                    : RCGC_IN_FINALIZER,
                         o, err);
    if (o->refcnt < 0) return 1; /* made immortal */
    if (--o->refcnt > 0) return 1;
    if (gc_type_is_gc(t)) rcgc__untrack(rt, o);
    return 0;
}

/* CPython's subtype_dealloc order: the finalizer (which sees its weak
 * references alive), then the weak references are cleared and their
 * callbacks run, then the legacy finalizer; weak references the finalizers
 * created are cleared without callbacks.  Returns 1 if a finalizer
 * resurrected the object.  Out of line: most objects have none of this. */
static RCGC__NOINLINE int dealloc_finalizers(rcgc_runtime *rt, rcgc_object *o,
                                             int was_tracked)
{
    const rcgc_type *t = o->type;
    if (t->finalize != NULL &&
        !(gc_type_is_gc(t) && gc_is_finalized(gc_head_of(o)))) {
        if (finalize_from_dealloc(rt, o, was_tracked, 0)) return 1;
    }
    /* A non-empty list means weak/ has installed its calls. */
    if (type_is_weakrefable(t) && *weaklist_of(o) != NULL)
        rt->up.clear_weakrefs(rt, o);
    if (t->legacy_finalize != NULL) {
        if (finalize_from_dealloc(rt, o, was_tracked, 1)) return 1;
    }
    if (type_is_weakrefable(t) && (t->finalize || t->legacy_finalize) &&
        *weaklist_of(o) != NULL)
        rt->up.clear_weakrefs_silently(o);
    return 0;
}

/* Every hook of a dying object in CPython's subtype_dealloc order, for
 * the trashcan's deferred objects and for rcgc_object_dealloc's objects
 * with finalizers, weak references or release. */
static RCGC__NOINLINE void dealloc_body(rcgc_runtime *rt, rcgc_object *o,
                                        int was_tracked)
{
    const rcgc_type *t = o->type;
    if (RCGC_UNLIKELY(t->finalize != NULL || t->legacy_finalize != NULL ||
                      type_is_weakrefable(t)) &&
        dealloc_finalizers(rt, o, was_tracked))
        return;
    if (t->clear != NULL) t->clear(rt, o);
    if (t->release != NULL) t->release(rt, o);
    free_memory(rt, o, t, t->flags);
}

/*
 * The trashcan's list is intrusive and the reference count of a deposited
 * object stays 0 where a weak reference could see it.  The link goes in the
 * weak slot's spare word for weakrefable types and in the reference count
 * for the others, which nothing can find (a deposited object is untracked,
 * and nothing refers to it).  The link's bit 0 (links are objects, at least
 * 8-aligned) records whether the object was tracked when it was deposited,
 * so that its finalizer runs with it tracked again.  The gc_head is not
 * used: pool objects lose theirs in step 4 of docs/layout-16.md.
 */
#define TRASH_WAS_TRACKED ((uintptr_t)1)

static void trash_push(rcgc_runtime *rt, rcgc_object *o, int was_tracked)
{
    RCGC_ASSERT(o->refcnt == 0 && rt->trash_depth >= RCGC__TRASH_LIMIT);
    RCGC_ASSERT(((uintptr_t)rt->trash_later & TRASH_WAS_TRACKED) == 0);
    uintptr_t link = (uintptr_t)rt->trash_later | (was_tracked ? TRASH_WAS_TRACKED : 0);
    if (type_is_weakrefable(o->type))
        *weak_spare_of(o) = link;
    else
        o->refcnt = (intptr_t)link;
    rt->trash_later = o;
}

static rcgc_object *trash_pop(rcgc_runtime *rt, int *was_tracked)
{
    rcgc_object *o = rt->trash_later;
    uintptr_t link;
    RCGC_ASSERT(o != NULL);
    if (type_is_weakrefable(o->type)) {
        link = *weak_spare_of(o);
        *weak_spare_of(o) = 0;
    } else {
        link = (uintptr_t)o->refcnt;
        o->refcnt = 0;
    }
    RCGC_ASSERT(o->refcnt == 0); /* deposited objects stay dying */
    *was_tracked = (link & TRASH_WAS_TRACKED) != 0;
    rt->trash_later = (rcgc_object *)(link & ~TRASH_WAS_TRACKED);
    return o;
}

/* Free the deposited objects, one level deep each (CPython's
 * _PyTrash_thread_destroy_chain). */
static void destroy_chain(rcgc_runtime *rt)
{
    rt->trash_depth = 1; /* no recursive chain destruction */
    while (rt->trash_later != NULL) {
        int was_tracked;
        rcgc_object *o = trash_pop(rt, &was_tracked);
#if RCGC_DEBUG >= 1
        debug_head_of(o)->magic = RCGC__MAGIC_ALIVE;
#endif
        dealloc_body(rt, o, was_tracked);
    }
    rt->trash_depth = 0;
}

/* Past RCGC__TRASH_LIMIT nested deallocations: o waits in the trashcan. */
static RCGC__NOINLINE void deposit(rcgc_runtime *rt, rcgc_object *o,
                                   int was_tracked)
{
    trash_push(rt, o, was_tracked);
#if RCGC_DEBUG >= 1
    debug_head_of(o)->magic = RCGC__MAGIC_DEPOSITED;
#endif
}

/* rcgc__untrack for an object of a plain type (its facts say so): such an
 * object is never finalized, so its side byte goes straight to 0, which is
 * what its free needs too. */
static RCGC__ALWAYS_INLINE void untrack_plain(rcgc_runtime *rt, rcgc_object *o)
{
    gc_head *g = gc_head_of(o);
    if (!gc_is_tracked(g)) return;
    RCGC_ASSERT(rt->tracked > 0);
    gc_untrack_node(g);
    rt->tracked--;
    rcgc__side_untrack_unfinalized(rt, g);
}

/* free_memory for an object whose type's facts say it is plain (no
 * weak slot, not a heap type, fits a pool block), at mem: it has a gc_head
 * if mem is further in front than the debug header. */
static RCGC__ALWAYS_INLINE void free_plain(rcgc_runtime *rt, rcgc_object *o,
                                           char *mem)
{
    RCGC_ASSERT(rt->objects > 0 && mem == (char *)o - rcgc__pre_size(o->type));
    if (mem != (char *)o - RCGC__DEBUG_HEAD_SIZE) { /* a GC type */
        /* CPython's PyObject_GC_Del unlinks too; the side byte is 0 after
         * (a plain type is never finalized) */
        untrack_plain(rt, o);
        if (rt->gen[0].count > 0) rt->gen[0].count--;
    }
    rt->objects--;
#if RCGC_DEBUG >= 1
    debug_unlink(rt, o);
#endif
    rcgc_pymalloc *pm = rt->heap.obj_pm;
    if (RCGC_DEBUG < 2 && RCGC_LIKELY(pm != NULL) &&
        (RCGC_LIKELY(rt->odd_blocks == 0) || rcgc__pm_owns(pm, mem)))
        rt->heap_bytes -= rcgc__pm_free_block(pm, mem);
    else
        free_block_slow(rt, o, mem);
    /* memory released */
}

static void dealloc_general(rcgc_runtime *rt, rcgc_object *o);

/* CPython's subtype_dealloc for a type whose cached facts (f) say it has
 * nothing but clear: untrack, clear, free, all inline; everything else in
 * dealloc_general. */
void rcgc_object_dealloc(rcgc_runtime *rt, rcgc_object *o)
{
    const rcgc_type *t = o->type;
    const rcgc__tfacts *f = tcache_slot(rt, t);
    if (RCGC_UNLIKELY(f->type != t || !(f->kind & RCGC__TF_PLAIN))) {
        dealloc_general(rt, o);
        return;
    }
    /* what the free needs after clear, which can run anything (even an
     * allocation that takes f's slot) */
    char *mem = (char *)o - f->pre;
    if (f->kind & RCGC__TF_GC) untrack_plain(rt, o); /* first of all */
    if (RCGC_UNLIKELY(rt->trash_depth >= RCGC__TRASH_LIMIT)) {
        /* whether it was tracked matters to a finalizer only */
        deposit(rt, o, 0);
        return;
    }
    rt->trash_depth++;
    if (t->clear != NULL) t->clear(rt, o);
    free_plain(rt, o, mem);
    if (--rt->trash_depth == 0 && RCGC_UNLIKELY(rt->trash_later != NULL))
        destroy_chain(rt);
}

/* The other types: their hooks in dealloc_body, the common case (only
 * clear, then the memory: no finalizer, weak references or release) here. */
static RCGC__NOINLINE void dealloc_general(rcgc_runtime *rt, rcgc_object *o)
{
    const rcgc_type *t = o->type;
    unsigned flags = t->flags;
    int was_tracked = 0;
    if ((flags & RCGC_TYPE_GC) && gc_is_tracked(gc_head_of(o))) {
        /* First of all: a tracked object with refcount 0 is poison for a
         * collection that a finalizer below could start. */
        rcgc__untrack(rt, o);
        was_tracked = 1;
    }
    if (RCGC_UNLIKELY(rt->trash_depth >= RCGC__TRASH_LIMIT)) {
        deposit(rt, o, was_tracked);
        return;
    }
    rt->trash_depth++;
    if (RCGC_LIKELY(t->finalize == NULL && t->legacy_finalize == NULL &&
                    t->release == NULL && !(flags & RCGC_TYPE_WEAKREF))) {
        if (t->clear != NULL) t->clear(rt, o);
        /* flags read again (one register fewer to keep over the call);
         * the weakref bit is known clear */
        free_memory(rt, o, t, t->flags & ~RCGC_TYPE_WEAKREF);
    } else {
        dealloc_body(rt, o, was_tracked);
    }
    if (--rt->trash_depth == 0 && RCGC_UNLIKELY(rt->trash_later != NULL))
        destroy_chain(rt);
}

/* ---- tracking ---- */

/* A pool object goes to vec[0] (vectored: never linked unless it lives
 * to a collection); anything else, or a pool object whose vector cannot
 * grow, at the end of generation 0's list.  Returns 0. */
static RCGC__NOINLINE int track_slow(rcgc_runtime *rt, rcgc_object *o)
{
    gc_head *g = gc_head_of(o);
    rt->tracked++;
    uint8_t *side = rcgc__side_of(rt, g);
    if (side != NULL) {
        gc_side_track(side);
        /* (a runtime with a lazily untracked type has no room in vec[0]
         * and lists every object, in tracking order: lazy_untrack_on) */
        if (rcgc__vec_enter(rt, 0, g, side)) {
            gc_set_vectored(g);
            return 0;
        }
    }
    gc_list_append(g, &rt->gen[0].head);
    return 0;
}

/* track_slow's common case inline: a pool object (no registry object in
 * the runtime, no lazily untracked type) whose granule has an entry in
 * vec[0] already (its slot's earlier object's: objects that die young
 * leave one), or for which vec[0] has room.  The rest is a tail call, so
 * this path saves no register.  Returns 0. */
static RCGC__ALWAYS_INLINE int track(rcgc_runtime *rt, rcgc_object *o)
{
    gc_head *g = gc_head_of(o);
    RCGC_ASSERT(gc_is_gc(o) && !gc_is_tracked(g));
    if (RCGC_LIKELY(rt->gc_registry == 0)) {
        uint8_t *side = gc_side_in_pool(g);
        if (RCGC_LIKELY(gc_side_in_vec(*side, 0) ||
                        rcgc__vec_try_push(rt, 0, g, side))) {
            gc_side_track(side);
            rt->tracked++;
            gc_set_vectored(g);
            return 0;
        }
    }
    return track_slow(rt, o);
}

void rcgc__track(rcgc_runtime *rt, rcgc_object *o)
{
    (void)track(rt, o);
}

void rcgc__track_into(rcgc_runtime *rt, rcgc_object *o, gc_head *list, int gen)
{
    gc_head *g = gc_head_of(o);
    RCGC_ASSERT(gc_is_gc(o) && !gc_is_tracked(g));
    gc_list_append(g, list);
    uint8_t *side = rcgc__side_of(rt, g);
    if (side != NULL) gc_side_track_gen(side, gen);
    rt->tracked++;
}

void rcgc__untrack(rcgc_runtime *rt, rcgc_object *o)
{
    gc_head *g = gc_head_of(o);
    if (!gc_is_tracked(g)) return;
    RCGC_ASSERT(rt->tracked > 0);
    gc_untrack_node(g); /* FINALIZED stays, COLLECTING goes */
    rt->tracked--;
    rcgc__side_untrack(rt, g); /* FINALIZED stays */
}

RCGC__NOINLINE uint8_t *rcgc__side_odd(const rcgc_runtime *rt,
                                       const gc_head *g)
{
    const rcgc_object *o = gc_object_of(g);
    if (!in_arena(rt, (const char *)o - pre_size(o->type)))
        return NULL; /* a registry object */
    return gc_side_in_pool(g);
}

RCGC__NOINLINE uint8_t *rcgc__side_mixed_fits(const rcgc_runtime *rt,
                                              const gc_head *g)
{
    if (rt->heap.pm == NULL) return NULL; /* no pool: nothing has a byte */
    if (RCGC_LIKELY(rt->odd_blocks == 0)) return gc_side_in_pool(g);
    return rcgc__side_odd(rt, g);
}

RCGC__NOINLINE uint8_t *rcgc__side_mixed(const rcgc_runtime *rt,
                                         const gc_head *g)
{
    if (rt->heap.pm == NULL) return NULL; /* no pool: nothing has a byte */
    if (!rcgc__type_fits_pool(gc_object_of(g)->type)) return NULL;
    if (RCGC_LIKELY(rt->odd_blocks == 0)) return gc_side_in_pool(g);
    return rcgc__side_odd(rt, g);
}

void rcgc__set_finalized(rcgc_runtime *rt, rcgc_object *o)
{
    gc_head *g = gc_head_of(o);
    gc_set_finalized(g);
    uint8_t *side = rcgc__side_of(rt, g);
    if (side != NULL) gc_side_set_finalized(side);
}

void rcgc__gc_move(rcgc_runtime *rt, gc_head *g, gc_head *list)
{
    int gen = rcgc__list_gen(rt, list);
    RCGC_ASSERT(gen < 0 || gen >= RCGC__VEC_GENS);
    gc_list_move(g, list);
    uint8_t *side = gen >= 0 ? rcgc__side_of(rt, g) : NULL;
    if (side != NULL) gc_side_set_gen(side, gen);
}

void rcgc__side_set_gen_list(rcgc_runtime *rt, const gc_head *list, int gen)
{
    RCGC_ASSERT(gen >= 0 && gen <= GC_GEN_FROZEN);
    if (RCGC_LIKELY(rt->gc_registry == 0)) {
        for (const gc_head *g = gc_next(list); g != list; g = gc_next(g))
            gc_side_set_gen(gc_side_in_pool(g), gen);
        return;
    }
    for (const gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        uint8_t *side = rcgc__side_mixed(rt, g);
        if (side != NULL) gc_side_set_gen(side, gen);
    }
}

void rcgc__join_gen(rcgc_runtime *rt, gc_head *list, int gen)
{
    RCGC_ASSERT(gen >= RCGC__VEC_GENS && gen <= GC_GEN_FROZEN);
    rcgc__side_set_gen_list(rt, list, gen);
    gc_list_merge(list, gen == GC_GEN_FROZEN ? &rt->permanent : &rt->gen[gen].head);
}

/* ---- the young vectors ---- */

RCGC__NOINLINE int rcgc__vec_push_slow(rcgc_runtime *rt, int k, gc_head *g,
                                       uint8_t *side)
{
    struct rcgc__vec *v = &rt->vec[k];
    if (rt->lazy_untrack) return 0; /* listed, in order (lazy_untrack_on) */
    if (v->cap >= RCGC__VEC_MAX_LEN) {
        rcgc__vec_link(rt, k); /* its objects listed: room for 2^16 more */
        return rcgc__vec_try_push(rt, k, g, side);
    }
    rcgc_ssize cap = v->cap ? 2 * v->cap : 256;
    gc_head **nv = NULL;
    if ((size_t)cap <= SIZE_MAX / 2 / sizeof *nv)
        nv = rt->raw.realloc(rt->raw.ctx, v->v, (size_t)cap * sizeof *nv);
    if (nv == NULL) return 0; /* g goes on its generation's list */
    v->v = nv;
    v->cap = cap;
    return rcgc__vec_push(rt, k, g, side);
}

void rcgc__vec_compact(rcgc_runtime *rt)
{
    struct rcgc__vec *v = &rt->vec[0];
    rcgc__pm_pinned_reset(rt->heap.pm);
    rcgc_ssize kept = 0;
    struct rcgc__unpin_run run = {NULL, 0}; /* the dropped entries' pins */
    for (rcgc_ssize i = 0; i < v->len; i++) {
        gc_head *g = v->v[i];
        if (rcgc__vec_live(g, 0)) {
            v->v[kept++] = g;
            continue;
        }
        rcgc__unpin_run_add(rt, &run, g);
        gc_side_clear_in_vec(gc_side_in_pool(g), 0);
    }
    rcgc__unpin_run_end(rt, &run);
    v->len = kept;
}

void rcgc__vec_link(rcgc_runtime *rt, int k)
{
    struct rcgc__vec *v = &rt->vec[k];
    if (v->len == 0) return; /* v->v may be NULL: no NULL + 0 below */
    gc_head *list = &rt->gen[k].head;
    gc_head *tail = gc_prev(list);
    struct rcgc__unpin_run run = {NULL, 0}; /* pins dropped once per pool run */
    for (gc_head **e = v->v, **end = e + v->len; e < end; e++) {
        gc_head *g = *e;
        rcgc__unpin_run_add(rt, &run, g);
        uint8_t *side = gc_side_in_pool(g);
        uint8_t b = *side;
        gc_side_clear_in_vec(side, k);
        /* live: tracked in generation k and vectored (the byte first: a
         * stale entry's block may be free) */
        if (gc_side_tracked_in(b, k) && gc_is_vectored(g))
            tail = gc_chain_vectored(tail, g);
    }
    gc_chain_close(list, tail);
    rcgc__unpin_run_end(rt, &run);
    v->len = 0;
}

rcgc_ssize rcgc__gen_size(const rcgc_runtime *rt, int i)
{
    RCGC_ASSERT(i >= 0 && i <= RCGC_NUM_GENERATIONS);
    if (i == RCGC_NUM_GENERATIONS) return gc_list_size(&rt->permanent);
    rcgc_ssize n = gc_list_size(&rt->gen[i].head);
    if (i < 2)
        for (rcgc_ssize e = 0; e < rt->vec[i].len; e++)
            n += rcgc__vec_live(rt->vec[i].v[e], i);
    return n;
}

void rcgc__vec_link_all(rcgc_runtime *rt)
{
    for (int k = 0; k < 2; k++)
        if (rt->vec[k].len > 0) rcgc__vec_link(rt, k);
}

void rcgc__vec_fini(rcgc_runtime *rt)
{
    for (int k = 0; k < 2; k++) {
        struct rcgc__vec *v = &rt->vec[k];
        for (rcgc_ssize i = 0; i < v->len; i++) {
            gc_side_clear_in_vec(gc_side_in_pool(v->v[i]), k);
            rcgc__pm_unpin(rt->heap.pm, v->v[i]);
        }
        rt->raw.free(rt->raw.ctx, v->v);
        v->v = NULL;
        v->len = v->cap = 0;
    }
}

int rcgc_object_track(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc__debug_check_object(rt, o, "rcgc_object_track");
    if (!gc_is_gc(o)) {
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, o, "rcgc_object_track: type '%s' is not a GC type",
                        o->type->name);
        return RCGC_ENOTGC;
    }
    if (gc_is_tracked(gc_head_of(o))) {
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, o, "rcgc_object_track: object already tracked by "
                               "the garbage collector");
        return RCGC_EALREADY;
    }
    if (rcgc_object_is_immortal(o)) return RCGC_EINVAL;
    return track(rt, o);
}

void rcgc_object_untrack(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc__debug_check_object(rt, o, "rcgc_object_untrack");
    if (gc_is_gc(o)) rcgc__untrack(rt, o);
}

int rcgc_object_is_tracked(const rcgc_object *o)
{
    return gc_is_gc(o) && gc_is_tracked(gc_head_of(o));
}

size_t rcgc_sizeof(const rcgc_object *o)
{
    const rcgc_type *t = o->type;
    size_t n = rcgc__pre_size(t) - RCGC__DEBUG_HEAD_SIZE + t->size;
    return t->extra_size != NULL ? n + t->extra_size(o) : n;
}

int rcgc_object_is_finalized(const rcgc_object *o)
{
    return gc_is_gc(o) && gc_is_finalized(gc_head_of(o));
}

int rcgc_may_be_tracked(const rcgc_object *o)
{
    const rcgc_type *t = o->type;
    if (!gc_type_is_gc(t)) return 0;
    if (t->may_untrack == NULL || (t->flags & RCGC_TYPE_UNTRACK_ON_FULL))
        return 1;
    return gc_is_tracked(gc_head_of(o));
}

int rcgc_object_make_immortal(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc__debug_check_object(rt, o, "rcgc_object_make_immortal");
    if (rcgc_object_is_immortal(o)) return 0;
    if (rcgc__grow(rt, (void **)&rt->immortal, &rt->immortal_cap,
                   rt->nimmortal + 1, sizeof(rcgc_object *)) != 0)
        return RCGC_ENOMEM;
    if (gc_is_gc(o)) rcgc__untrack(rt, o);
    o->refcnt = RCGC_IMMORTAL_REFCNT;
    rt->immortal[rt->nimmortal++] = o;
    return 0;
}

int rcgc_object_call_finalizer(rcgc_runtime *rt, rcgc_object *o)
{
    rcgc__debug_check_object(rt, o, "rcgc_object_call_finalizer");
    return rcgc__call_finalizer(rt, o);
}

/* CPython's PyObject_CallFinalizer: nothing if there is no finalizer or it
 * already ran; FINALIZED is set after the call. */
int rcgc__call_finalizer(rcgc_runtime *rt, rcgc_object *o)
{
    const rcgc_type *t = o->type;
    if (t->finalize == NULL) return 0;
    if (gc_type_is_gc(t) && gc_is_finalized(gc_head_of(o))) return 0;
    int err = t->finalize(rt, o);
    if (gc_type_is_gc(t)) rcgc__set_finalized(rt, o);
    return err;
}

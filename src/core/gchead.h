/*
 * gchead.h - the collector's per-object header and the generation lists.
 *
 * This is the only file that knows where the header lives and what its bits
 * mean; the collector, the object code, the trashcan, the checker and the
 * diagnosis queries use these helpers and nothing else (a CTest,
 * tools/check_gchead.sh, fails on a raw bit operation anywhere else).
 * Layout and invariants: docs/layout.md.
 *
 *   memory:  [gc_head (GC types)] [debug_head (RCGC_DEBUG >= 1)] [rcgc_object]
 *
 * The two words hold one of four states:
 *
 *   untracked  next 0; prev 0 or FINALIZED.
 *   listed     next: the next node of its circular list (bit 0,
 *              NEXT_UNREACHABLE, set only while the node sits in
 *              move_unreachable's tentative list); prev: the previous node
 *              | COLLECTING (bit 1: member of the set being collected)
 *              | FINALIZED (bit 0: the PEP 442 finalizer ran; kept for life).
 *   counting   (a collection from update_refs to the end of
 *              move_unreachable, or a diagnosis query's borrowed walk) next
 *              as listed, the list singly linked; prev: gc_refs << 2
 *              | COLLECTING | FINALIZED.  In move_unreachable's mark step
 *              a node without COLLECTING has been reached (its gc_refs bits
 *              are stale until the sweep restores the link, except
 *              GC_REFS_PASSED: reached from behind the cursor), and gc_refs
 *              GC_REFS_PASSED marks a node the cursor passed unreached.
 *   deposited  (the trashcan: refcount 0, deallocation deferred; the object
 *              is untracked) next 0; prev: the next deposited object
 *              | TRASH_TRACKED (bit 2: it was tracked when deposited, so its
 *              finalizer runs with it tracked again) | FINALIZED.
 *
 * TRASH_TRACKED is a bit of its own, not COLLECTING: a deposited object
 * never looks like a member of a collection.  It shares bit 2 with the low
 * bit of gc_refs and of the link, which is safe because the states exclude
 * each other (a deposited object is untracked, so no collection counts it)
 * and every object is at least 8-byte aligned (the heap gives 16); the
 * static checks below hold the masks apart.
 *
 * List heads are gc_head sentinels that never carry flag bits.  The list
 * operations assert their invariants at RCGC_DEBUG >= 2 (RCGC_ASSERT).
 */
#ifndef RCGC_GCHEAD_H
#define RCGC_GCHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "platform/assert.h"
#include "rcgc.h"

typedef struct gc_head {
    uintptr_t _gc_next; /* next node | NEXT_UNREACHABLE; 0 = not tracked */
    uintptr_t _gc_prev; /* prev node or refs << 2 | COLLECTING | FINALIZED;
                           deposited: next deposited | TRASH_TRACKED */
} gc_head;

#define GC_NEXT_UNREACHABLE ((uintptr_t)1)
#define GC_PREV_FINALIZED ((uintptr_t)1)
#define GC_PREV_COLLECTING ((uintptr_t)2)
#define GC_PREV_SHIFT 2
#define GC_PREV_FLAGS ((uintptr_t)3)
#define GC_PREV_MASK (~GC_PREV_FLAGS)
#define GC_PREV_TRASH_TRACKED ((uintptr_t)4) /* deposited state only */
#define GC_PREV_TRASH_BITS (GC_PREV_FINALIZED | GC_PREV_TRASH_TRACKED)
#define GC_LINK_ALIGN 8 /* objects and headers are at least this aligned */
/* The largest gc_refs the prev word holds (diagnosis stores indexes there). */
#define GC_REFS_MAX (UINTPTR_MAX >> GC_PREV_SHIFT)

_Static_assert((GC_PREV_FINALIZED & GC_PREV_COLLECTING) == 0 &&
                   (GC_PREV_TRASH_TRACKED & GC_PREV_FLAGS) == 0,
               "gc_head: the flag bits of prev overlap");
_Static_assert(GC_PREV_FLAGS < ((uintptr_t)1 << GC_PREV_SHIFT),
               "gc_head: gc_refs overlaps the flag bits");
_Static_assert((GC_PREV_TRASH_BITS | GC_PREV_COLLECTING) < GC_LINK_ALIGN &&
                   GC_NEXT_UNREACHABLE < GC_LINK_ALIGN,
               "gc_head: a flag bit overlaps a link");
_Static_assert(_Alignof(max_align_t) >= GC_LINK_ALIGN,
               "gc_head: blocks are not aligned enough for the flag bits");

/* Bytes between the gc_head and the object: the debug header, if any. */
#if RCGC_DEBUG >= 1
#define RCGC__DEBUG_HEAD_SIZE 48
#else
#define RCGC__DEBUG_HEAD_SIZE 0
#endif

static inline int gc_type_is_gc(const rcgc_type *t)
{
    return (t->flags & RCGC_TYPE_GC) != 0;
}

static inline int gc_is_gc(const rcgc_object *o)
{
    return gc_type_is_gc(o->type);
}

static inline gc_head *gc_head_of(const rcgc_object *o)
{
    return (gc_head *)(void *)((char *)o - RCGC__DEBUG_HEAD_SIZE) - 1;
}

static inline rcgc_object *gc_object_of(const gc_head *g)
{
    return (rcgc_object *)(void *)((char *)(g + 1) + RCGC__DEBUG_HEAD_SIZE);
}

/* ---- links ---- */

static inline gc_head *gc_next(const gc_head *g)
{
    return (gc_head *)g->_gc_next;
}

static inline gc_head *gc_prev(const gc_head *g)
{
    return (gc_head *)(g->_gc_prev & GC_PREV_MASK);
}

static inline void gc_set_next(gc_head *g, gc_head *n)
{
    g->_gc_next = (uintptr_t)n;
}

/* Keeps the flag bits. */
static inline void gc_set_prev(gc_head *g, gc_head *p)
{
    g->_gc_prev = (g->_gc_prev & GC_PREV_FLAGS) | (uintptr_t)p;
}

/* A node's link back after a counting walk: COLLECTING and gc_refs go,
 * FINALIZED stays. */
static inline void gc_restore_prev(gc_head *g, gc_head *p)
{
    g->_gc_prev = (g->_gc_prev & GC_PREV_FINALIZED) | (uintptr_t)p;
}

/* A list head's last node, set directly (heads carry no flags). */
static inline void gc_list_set_tail(gc_head *list, gc_head *tail)
{
    RCGC_ASSERT((list->_gc_prev & GC_PREV_FLAGS) == 0);
    list->_gc_prev = (uintptr_t)tail;
}

/*
 * The collector's passes walk lists whose order usually follows memory (a
 * pool hands out neighbouring blocks, and a full collection keeps the order),
 * forwards or backwards.  A walk is a chain of dependent loads, which the
 * hardware does not prefetch far enough ahead; when the next node is a
 * neighbour in memory, ask for the line GC_PREFETCH_NODES nodes further along
 * the same stride (a prefetch never faults, and a wrong guess costs one
 * wasted line).  Measured on a 10^7-object chain: 7.2 -> 4.4 ns per node
 * for a bare walk (docs/collector.md).
 */
#define GC_PREFETCH_NODES 64
#define GC_PREFETCH_STRIDE 256 /* neighbours: at most this many bytes apart */

static inline void gc_prefetch_ahead(const gc_head *g, const gc_head *next)
{
#if defined(__GNUC__)
    intptr_t d = (intptr_t)(uintptr_t)next - (intptr_t)(uintptr_t)g;
    if (d >= -GC_PREFETCH_STRIDE && d <= GC_PREFETCH_STRIDE)
        __builtin_prefetch((const void *)((uintptr_t)g +
                                          (uintptr_t)(d * GC_PREFETCH_NODES)),
                           1);
#else
    (void)g;
    (void)next;
#endif
}

static inline int gc_is_tracked(const gc_head *g)
{
    return g->_gc_next != 0;
}

/* An untracked node keeps FINALIZED only: COLLECTING must go, since
 * untracking may happen in the middle of a collection. */
static inline void gc_reset_untracked(gc_head *g)
{
    g->_gc_prev &= GC_PREV_FINALIZED;
}

/* A list head, or a node of a list at rest: no flag bits in either word
 * but FINALIZED (the checker's test). */
static inline int gc_head_has_flags(const gc_head *list)
{
    return (list->_gc_prev & GC_PREV_FLAGS) != 0 ||
           (list->_gc_next & GC_NEXT_UNREACHABLE) != 0;
}

/* ---- the tentative unreachable list (NEXT_UNREACHABLE on next) ---- */

static inline int gc_is_next_unreachable(const gc_head *g)
{
    return (g->_gc_next & GC_NEXT_UNREACHABLE) != 0;
}

static inline void gc_clear_next_unreachable(gc_head *g)
{
    g->_gc_next &= ~GC_NEXT_UNREACHABLE;
}

/* The next node of a node of the tentative list, without the mark. */
static inline gc_head *gc_next_unmarked(const gc_head *g)
{
    return (gc_head *)(g->_gc_next & ~GC_NEXT_UNREACHABLE);
}

/* Unlink g, the node after prev, where only prev's next word changes (a
 * singly linked list, or the tentative list): prev takes g's next word,
 * mark included. */
static inline void gc_unlink_after(gc_head *prev, gc_head *g)
{
    RCGC_ASSERT(gc_next_unmarked(prev) == g);
    prev->_gc_next = g->_gc_next;
}

/* Append g (already unlinked from young) to the tentative list: its next
 * word and its predecessor's carry NEXT_UNREACHABLE, the head's does not
 * once move_unreachable ends (gc_clear_next_unreachable on the head). */
static inline void gc_unreachable_append(gc_head *g, gc_head *unreachable)
{
    gc_head *last = gc_prev(unreachable);
    RCGC_ASSERT(gc_next_unmarked(last) == unreachable);
    last->_gc_next = GC_NEXT_UNREACHABLE | (uintptr_t)g;
    gc_set_prev(g, last);
    g->_gc_next = GC_NEXT_UNREACHABLE | (uintptr_t)unreachable;
    unreachable->_gc_prev = (uintptr_t)g;
}

/* ---- flags ---- */

static inline int gc_is_finalized(const gc_head *g)
{
    return (g->_gc_prev & GC_PREV_FINALIZED) != 0;
}

static inline void gc_set_finalized(gc_head *g)
{
    g->_gc_prev |= GC_PREV_FINALIZED;
}

static inline int gc_is_collecting(const gc_head *g)
{
    return (g->_gc_prev & GC_PREV_COLLECTING) != 0;
}

/* Candidate of a collection-like walk whose links stay valid. */
static inline void gc_set_collecting(gc_head *g)
{
    RCGC_ASSERT(gc_is_tracked(g));
    g->_gc_prev |= GC_PREV_COLLECTING;
}

static inline void gc_clear_collecting(gc_head *g)
{
    g->_gc_prev &= ~GC_PREV_COLLECTING;
}

/* ---- gc_refs, valid only while a collection owns the list ---- */

static inline intptr_t gc_get_refs(const gc_head *g)
{
    RCGC_ASSERT(gc_is_collecting(g));
    return (intptr_t)(g->_gc_prev >> GC_PREV_SHIFT);
}

static inline void gc_set_refs(gc_head *g, intptr_t refs)
{
    RCGC_ASSERT(refs >= 0 && (uintptr_t)refs <= GC_REFS_MAX);
    g->_gc_prev = (g->_gc_prev & GC_PREV_FLAGS) | ((uintptr_t)refs << GC_PREV_SHIFT);
}

/* Start of a collection: refs := refcount, COLLECTING set, FINALIZED kept. */
static inline void gc_reset_refs(gc_head *g, intptr_t refs)
{
    RCGC_ASSERT(refs >= 0 && (uintptr_t)refs <= GC_REFS_MAX);
    RCGC_ASSERT(gc_is_tracked(g));
    g->_gc_prev = (g->_gc_prev & GC_PREV_FINALIZED) | GC_PREV_COLLECTING |
                  ((uintptr_t)refs << GC_PREV_SHIFT);
}

static inline void gc_decref(gc_head *g)
{
    RCGC_ASSERT(gc_is_collecting(g) && gc_get_refs(g) > 0);
    g->_gc_prev -= (uintptr_t)1 << GC_PREV_SHIFT;
}

static inline void gc_incref(gc_head *g)
{
    RCGC_ASSERT(gc_is_collecting(g) && (uintptr_t)gc_get_refs(g) < GC_REFS_MAX);
    g->_gc_prev += (uintptr_t)1 << GC_PREV_SHIFT;
}

/* move_unreachable's mark step: the cursor passed g while gc_refs was 0, so
 * a reference found later must reach g through the mark stack (the cursor
 * does not come back).  The value is GC_REFS_MAX, which no reference count
 * reaches (UINTPTR_MAX / 4 references would need more pointers than the
 * address space holds); it lives only between the cursor's walk and the
 * sweep, which overwrites it with a link. */
#define GC_REFS_PASSED GC_REFS_MAX

static inline void gc_set_passed(gc_head *g)
{
    gc_set_refs(g, (intptr_t)GC_REFS_PASSED);
}

static inline int gc_is_passed(const gc_head *g)
{
    return (uintptr_t)gc_get_refs(g) == GC_REFS_PASSED;
}

/* The mark step's one test per reference (visit_mark): does a visit to g
 * change anything?  Only when g is COLLECTING (not reached, of the set) and
 * its gc_refs is 0 (ahead of the cursor, not known reachable yet) or
 * GC_REFS_PASSED (behind it): the words 2 and 3, and all ones with or
 * without FINALIZED.  Adding 2 maps exactly those four to 4, 5, 0 and 1,
 * the only results with no bit set but bits 0 and 2 (a word without
 * COLLECTING keeps bit 1; a larger gc_refs sets a bit above 2): one add
 * and one test instead of four. */
static inline int gc_mark_wanted(const gc_head *g)
{
    _Static_assert(GC_PREV_FINALIZED == 1 && GC_PREV_COLLECTING == 2 &&
                       GC_PREV_SHIFT == 2 &&
                       GC_REFS_PASSED == (UINTPTR_MAX >> GC_PREV_SHIFT),
                   "gc_mark_wanted: the encoding changed");
    return ((g->_gc_prev + GC_PREV_COLLECTING) &
            ~(GC_PREV_FINALIZED | ((uintptr_t)1 << GC_PREV_SHIFT))) == 0;
}

/* For a node gc_mark_wanted accepted: gc_refs is GC_REFS_PASSED, not 0
 * (the two differ in gc_refs' low bit). */
static inline int gc_wanted_is_passed(const gc_head *g)
{
    RCGC_ASSERT(gc_mark_wanted(g));
    return (g->_gc_prev & ((uintptr_t)1 << GC_PREV_SHIFT)) != 0;
}

/* After the mark step, for a node the cursor passed and the mark stack
 * reached later: COLLECTING is clear and gc_refs still GC_REFS_PASSED (a
 * node the cursor scanned holds a smaller gc_refs). */
static inline int gc_was_passed(const gc_head *g)
{
    return (g->_gc_prev >> GC_PREV_SHIFT) == GC_REFS_PASSED;
}

/* ---- the trashcan's deposited state ---- */

/* Deposit: g (untracked) links to the next deposited object; FINALIZED is
 * kept. */
static inline void gc_trash_set(gc_head *g, uintptr_t link, int was_tracked)
{
    RCGC_ASSERT(!gc_is_tracked(g));
    RCGC_ASSERT((link & (GC_LINK_ALIGN - 1)) == 0);
    g->_gc_prev = (g->_gc_prev & GC_PREV_FINALIZED) | link |
                  (was_tracked ? GC_PREV_TRASH_TRACKED : 0);
}

/* Take g out of the deposited state (back to untracked, FINALIZED kept);
 * returns the link, *was_tracked what gc_trash_set recorded. */
static inline uintptr_t gc_trash_take(gc_head *g, int *was_tracked)
{
    RCGC_ASSERT(!gc_is_tracked(g));
    uintptr_t link = g->_gc_prev & ~GC_PREV_TRASH_BITS;
    *was_tracked = (g->_gc_prev & GC_PREV_TRASH_TRACKED) != 0;
    g->_gc_prev &= GC_PREV_FINALIZED;
    return link;
}

/* ---- circular lists with a sentinel head ---- */

static inline void gc_list_init(gc_head *list)
{
    list->_gc_prev = (uintptr_t)list;
    list->_gc_next = (uintptr_t)list;
}

static inline int gc_list_is_empty(const gc_head *list)
{
    return list->_gc_next == (uintptr_t)list;
}

/* The list's last node links back to the head, and the head has no flags. */
static inline int gc_list_tail_ok(const gc_head *list)
{
    return (list->_gc_prev & GC_PREV_FLAGS) == 0 &&
           gc_next((const gc_head *)list->_gc_prev) == list;
}

/* node's neighbours point at it (a node of a doubly linked list). */
static inline int gc_node_linked(const gc_head *node)
{
    return gc_is_tracked(node) && gc_next(gc_prev(node)) == node &&
           gc_prev(gc_next(node)) == node;
}

/* Append node (not in any list) to the end of list. */
static inline void gc_list_append(gc_head *node, gc_head *list)
{
    RCGC_ASSERT(node != list && gc_list_tail_ok(list));
    gc_head *last = (gc_head *)list->_gc_prev;
    gc_set_prev(node, last);
    gc_set_next(last, node);
    gc_set_next(node, list);
    list->_gc_prev = (uintptr_t)node;
}

/* Unlink node from its list; it becomes untracked (next == 0). */
static inline void gc_list_remove(gc_head *node)
{
    RCGC_ASSERT(gc_node_linked(node));
    gc_head *prev = gc_prev(node);
    gc_head *next = gc_next(node);
    gc_set_next(prev, next);
    gc_set_prev(next, prev);
    node->_gc_next = 0;
}

/* Move node from its list to the end of list; flag bits are kept. */
static inline void gc_list_move(gc_head *node, gc_head *list)
{
    RCGC_ASSERT(node != list && gc_node_linked(node) && gc_list_tail_ok(list));
    gc_head *from_prev = gc_prev(node);
    gc_head *from_next = gc_next(node);
    gc_set_next(from_prev, from_next);
    gc_set_prev(from_next, from_prev);
    gc_head *to_prev = (gc_head *)list->_gc_prev;
    gc_set_prev(node, to_prev);
    gc_set_next(to_prev, node);
    list->_gc_prev = (uintptr_t)node;
    gc_set_next(node, list);
}

/* Append every node of from to to; from becomes empty. */
static inline void gc_list_merge(gc_head *from, gc_head *to)
{
    RCGC_ASSERT(from != to && gc_list_tail_ok(from) && gc_list_tail_ok(to));
    if (!gc_list_is_empty(from)) {
        gc_head *to_tail = gc_prev(to);
        gc_head *from_head = gc_next(from);
        gc_head *from_tail = gc_prev(from);
        RCGC_ASSERT(gc_prev(from_head) == from);
        gc_set_next(to_tail, from_head);
        gc_set_prev(from_head, to_tail);
        gc_set_next(from_tail, to);
        gc_set_prev(to, from_tail);
    }
    gc_list_init(from);
}

static inline rcgc_ssize gc_list_size(const gc_head *list)
{
    rcgc_ssize n = 0;
    for (const gc_head *g = gc_next(list); g != list; g = gc_next(g)) n++;
    return n;
}

#endif /* RCGC_GCHEAD_H */

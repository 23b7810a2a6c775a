/*
 * gchead.h - the collector's per-object header and the generation lists.
 *
 * This is the only file that knows where the header lives and what its bits
 * mean; the collector, the object code, the trashcan, the checker and the
 * diagnosis walk (core/gcwalk.h) use these helpers and nothing else (a CTest,
 * tests/check_gchead.sh, fails on a raw bit operation anywhere else).
 * Layout and invariants: docs/layout.md.
 *
 *   memory:  [gc_head (GC types)] [debug_head (RCGC_DEBUG >= 1)] [rcgc_object]
 *
 * The two words hold one of four states:
 *
 *   untracked  next 0; prev 0 or FINALIZED.
 *   listed     next: the next node of its circular list (bit 0,
 *              NEXT_UNREACHABLE, set only while the node sits in a split's
 *              tentative unreachable list); prev: the previous node
 *              | COLLECTING (bit 1: a member of the collection's unreachable
 *              set, from the sweep to delete_garbage; or a candidate of
 *              rcgc__move_reachable's walk) | FINALIZED (bit 0: the PEP 442
 *              finalizer ran; kept for life).  The collector's gc_refs is
 *              not here: it lives in the reference count word from
 *              update_refs to the end of move_unreachable ("the
 *              collection's scratch in the refcount word" below), so the
 *              young list stays doubly linked through the counting.
 *   parked     (the mark step while its stack grows) listed, and a member's
 *              mark in prev: COLLECTING | GC_PREV_PARKED (bit 2).
 *   vectored   (docs/layout-16.md, step 3a: a tracked pool object of
 *              generation 0 or 1 that its generation's young vector holds,
 *              on no list) next GC_NEXT_VECTORED (2: no link is 2, and
 *              bit 0 is clear); prev 0 or FINALIZED.  Such an object is
 *              linked into a list only when a collection (or a walk of
 *              every object) takes its vector: gc_link_vectored.
 *
 * An object in the trashcan (refcount 0, deallocation deferred) is
 * untracked; its link is not here (object.c, trash_push), so that the
 * trashcan works for objects without a gc_head too (docs/layout-16.md,
 * step 4).  Every object is at least 8-byte aligned (the heap gives 16), so
 * bits 0-2 of a link are free for the flags; the static checks below hold
 * the masks apart.
 *
 * List heads are gc_head sentinels that never carry flag bits.  The list
 * operations assert their invariants at RCGC_DEBUG >= 2 (RCGC_ASSERT).
 */
#ifndef RCGC_GCHEAD_H
#define RCGC_GCHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "mem/alloc_internal.h"
#include "platform/assert.h"
#include "rcgc.h"

typedef struct gc_head {
    uintptr_t _gc_next; /* next node | NEXT_UNREACHABLE; 0 = not tracked */
    uintptr_t _gc_prev; /* prev node | COLLECTING | FINALIZED (parked: and
                           PARKED) */
} gc_head;

#define GC_NEXT_UNREACHABLE ((uintptr_t)1)
#define GC_NEXT_VECTORED ((uintptr_t)2) /* the vectored state's next word */
#define GC_PREV_FINALIZED ((uintptr_t)1)
#define GC_PREV_COLLECTING ((uintptr_t)2)
#define GC_PREV_FLAGS ((uintptr_t)3)
#define GC_PREV_MASK (~GC_PREV_FLAGS)
#define GC_PREV_PARKED ((uintptr_t)4) /* the parked state only */
#define GC_LINK_ALIGN 8 /* objects and headers are at least this aligned */

_Static_assert((GC_PREV_FINALIZED & GC_PREV_COLLECTING) == 0 &&
                   (GC_PREV_PARKED & GC_PREV_FLAGS) == 0,
               "gc_head: the flag bits of prev overlap");
_Static_assert((GC_PREV_FLAGS | GC_PREV_PARKED) < GC_LINK_ALIGN &&
                   GC_NEXT_UNREACHABLE < GC_LINK_ALIGN,
               "gc_head: a flag bit overlaps a link");
_Static_assert(GC_NEXT_VECTORED != 0 && GC_NEXT_VECTORED < GC_LINK_ALIGN &&
                   (GC_NEXT_VECTORED & GC_NEXT_UNREACHABLE) == 0,
               "gc_head: the vectored state's next word could be a link");
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

/* A node's link back after the split's sweep: COLLECTING goes, FINALIZED
 * stays. */
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

/* ---- the vectored state (layout-16 step 3a) ---- */

static inline int gc_is_vectored(const gc_head *g)
{
    return g->_gc_next == GC_NEXT_VECTORED;
}

/* g (untracked: prev 0 or FINALIZED; a node taken off a list is made so
 * by gc_reset_untracked first) becomes vectored: its young vector holds it
 * (the caller's part). */
static inline void gc_set_vectored(gc_head *g)
{
    RCGC_ASSERT(!gc_is_tracked(g) && (g->_gc_prev & ~GC_PREV_FINALIZED) == 0);
    g->_gc_next = GC_NEXT_VECTORED;
}

/* A vectored g is untracked: FINALIZED stays (its vector entry goes stale:
 * the side byte tells). */
static inline void gc_untrack_vectored(gc_head *g)
{
    RCGC_ASSERT(gc_is_vectored(g) && (g->_gc_prev & ~GC_PREV_FINALIZED) == 0);
    g->_gc_next = 0;
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

/* ---- the collection's scratch in the refcount word ----
 *
 * From update_refs to the end of move_unreachable a collection borrows the
 * high bits of each member's reference count (docs/layout.md, "The
 * reference count during a collection"):
 *
 *   bit 63      0 (the word stays positive: incref and decref would treat
 *               a negative word as immortal)
 *   bit 62      GC_RC_MEMBER: the object is a member of the set being
 *               collected (the old COLLECTING bit, during the counting)
 *   bits 32-61  v: gc_refs + 1 while counting; in the mark step also
 *               GC_RC_V_PASSED (0: the cursor passed it unreached) and
 *               GC_RC_V_REACHED_PASSED (all ones: reached from the mark
 *               stack after the cursor passed it)
 *   bits 0-31   the true reference count, never written while borrowed
 *
 * A reached member the cursor scanned gets its word back at once (the
 * "reached" state is "not a member any more"), an unreached one in the
 * sweep.  Every other object (untracked, of another generation, not GC,
 * immortal: negative, or a root by its count) has a word below
 * GC_RC_MEMBER and is skipped by the same signed compare, so the visits
 * need neither the child's type nor its gc_head.  An object whose count is
 * above GC_RC_COUNT_MAX when the collection starts is not made a member: it
 * is a root for that collection, its word untouched.  Outside update_refs
 * .. move_unreachable no word is at or above GC_RC_MEMBER (check.c). */

#define GC_RC_SHIFT 32
#define GC_RC_LOW ((intptr_t)0xffffffff)           /* the true count */
#define GC_RC_ONE ((intptr_t)1 << GC_RC_SHIFT)     /* one unit of v */
#define GC_RC_MEMBER ((intptr_t)1 << 62)
#define GC_RC_V_MAX ((intptr_t)((1u << 30) - 1))  /* v is 30 bits */
#define GC_RC_V_PASSED ((intptr_t)0)
#define GC_RC_V_REACHED_PASSED GC_RC_V_MAX
/* The largest count of a member: v = count + 1 stays below
 * GC_RC_V_REACHED_PASSED, and visit_mark's one increment (v 1 -> 2) too. */
#define GC_RC_COUNT_MAX (GC_RC_V_MAX - 2)

_Static_assert(sizeof(intptr_t) == 8,
               "gchead.h: the collector borrows the high half of a 64-bit "
               "reference count; 32-bit targets are not supported "
               "(docs/layout.md)");
_Static_assert((GC_RC_MEMBER | (GC_RC_V_MAX << GC_RC_SHIFT) | GC_RC_LOW) ==
                   INTPTR_MAX,
               "gchead.h: MEMBER, v and the count must tile bits 0-62");
_Static_assert(RCGC_IMMORTAL_REFCNT < 0,
               "gchead.h: immortal counts must be negative to be skipped");

/* The value of v in a borrowed word. */
static inline intptr_t gc_rc_v(intptr_t r)
{
    return (r >> GC_RC_SHIFT) & GC_RC_V_MAX;
}

static inline int gc_rc_is_member(const rcgc_object *o)
{
    return o->refcnt >= GC_RC_MEMBER;
}

/* update_refs for one object: make it a member with gc_refs = its count,
 * and return 1; or leave the word alone and return 0 (an immortal or dying
 * count, <= 0, or a root: above GC_RC_COUNT_MAX). */
static inline int gc_rc_borrow(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    RCGC_ASSERT(r < GC_RC_MEMBER);
    if (r <= 0 || r > GC_RC_COUNT_MAX) return 0;
    o->refcnt = GC_RC_MEMBER | ((r + 1) << GC_RC_SHIFT) | r;
    return 1;
}

/* Make o (whose word holds its true count) a member with gc_refs = refs. */
static inline void gc_rc_borrow_refs(rcgc_object *o, intptr_t refs)
{
    intptr_t r = o->refcnt;
    RCGC_ASSERT(r > 0 && r <= GC_RC_COUNT_MAX && refs >= 0 && refs <= r);
    o->refcnt = GC_RC_MEMBER | ((refs + 1) << GC_RC_SHIFT) | r;
}

/* A member's gc_refs while counting (v - 1). */
static inline intptr_t gc_rc_refs(const rcgc_object *o)
{
    RCGC_ASSERT(gc_rc_is_member(o));
    return gc_rc_v(o->refcnt) - 1;
}

/* subtract_refs' visit: one compare and one subtract.  Returns 0, or 1 for
 * a member whose gc_refs is already 0 (a traverse reporting a reference it
 * does not own), which is left at 0. */
static inline int gc_rc_decref(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    if (r >= GC_RC_MEMBER + 2 * GC_RC_ONE) {
        o->refcnt = r - GC_RC_ONE;
        return 0;
    }
    return r >= GC_RC_MEMBER;
}

/* The common visit of subtract_refs: a member whose gc_refs is above 0
 * loses one, with one compare; 0 for every other word (nothing done). */
static inline int gc_rc_try_decref(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    if (r < GC_RC_MEMBER + 2 * GC_RC_ONE) return 0;
    o->refcnt = r - GC_RC_ONE;
    return 1;
}

/* The fused pass's first touch of a tracked object whose count is not
 * above the limit: a member at once, with one reference subtracted
 * (gc_refs = count - 1, so v = count). */
static inline void gc_rc_borrow_minus_one(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    RCGC_ASSERT(r > 0 && r <= GC_RC_COUNT_MAX); /* tracked, not a root */
    o->refcnt = GC_RC_MEMBER | (r << GC_RC_SHIFT) | r;
}

/* The true count back (a member's word only; others are left alone). */
static inline void gc_rc_restore(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    if (r >= GC_RC_MEMBER) o->refcnt = r & GC_RC_LOW;
}

/* For a member's word: its gc_refs is 0 or it was passed (v <= 1). */
static inline int gc_rc_member_refs_zero(intptr_t r)
{
    RCGC_ASSERT(r >= GC_RC_MEMBER);
    return r < GC_RC_MEMBER + 2 * GC_RC_ONE;
}

/* In the cursor's walks: a member whose gc_refs is 0 (v == 1). */
static inline int gc_rc_refs_zero(intptr_t r)
{
    return r >= GC_RC_MEMBER + GC_RC_ONE && r < GC_RC_MEMBER + 2 * GC_RC_ONE;
}

/* The mark step's one test per reference (visit_mark): a member with v 0
 * (passed) or 1 (gc_refs 0, ahead of the cursor).  Any other word (a
 * non-member, negative for immortals, or a member known reachable) fails
 * the single unsigned compare. */
static inline int gc_rc_mark_wanted(intptr_t r)
{
    return (uintptr_t)r - (uintptr_t)GC_RC_MEMBER < (uintptr_t)2 * GC_RC_ONE;
}

/* For a word gc_rc_mark_wanted accepted: passed (v 0), not gc_refs 0. */
static inline int gc_rc_wanted_is_passed(intptr_t r)
{
    RCGC_ASSERT(gc_rc_mark_wanted(r));
    return r < GC_RC_MEMBER + GC_RC_ONE;
}

/* Passed unreached (after the cursor's walk: the member is not reached). */
static inline int gc_rc_is_passed(intptr_t r)
{
    return r >= GC_RC_MEMBER && r < GC_RC_MEMBER + GC_RC_ONE;
}

/* Reached from the mark stack after the cursor passed it. */
static inline int gc_rc_was_passed(intptr_t r)
{
    return r >= GC_RC_MEMBER + (GC_RC_V_REACHED_PASSED << GC_RC_SHIFT);
}

static inline intptr_t gc_rc_with_v(intptr_t r, intptr_t v)
{
    RCGC_ASSERT(v >= 0 && v <= GC_RC_V_MAX);
    return GC_RC_MEMBER | (v << GC_RC_SHIFT) | (r & GC_RC_LOW);
}

/* A word that belongs to a member (borrowed). */
static inline int gc_rc_word_is_member(intptr_t r)
{
    return r >= GC_RC_MEMBER;
}

/* The true count of a word (a member's low half; anything else as is). */
static inline intptr_t gc_rc_true_count(intptr_t r)
{
    return r >= GC_RC_MEMBER ? (r & GC_RC_LOW) : r;
}

/* Above what a member may count: a root by its count, or a member. */
static inline int gc_rc_above_limit(intptr_t r)
{
    return r > GC_RC_COUNT_MAX;
}

/* A count that can be borrowed: positive and at most GC_RC_COUNT_MAX. */
static inline int gc_rc_can_borrow(intptr_t r)
{
    return (uintptr_t)r - 1 < (uintptr_t)GC_RC_COUNT_MAX;
}

/* gc_refs 0 -> 1 (v 1 -> 2): ahead of a cursor, now known reachable. */
static inline void gc_rc_found(rcgc_object *o)
{
    RCGC_ASSERT(gc_rc_refs_zero(o->refcnt));
    o->refcnt += GC_RC_ONE;
}

/* The cursor passes a member whose gc_refs is 0 (v 1 -> 0). */
static inline void gc_rc_pass(rcgc_object *o)
{
    RCGC_ASSERT(gc_rc_refs_zero(o->refcnt));
    o->refcnt -= GC_RC_ONE;
}

/* A passed member is reached (from the mark stack). */
static inline void gc_rc_reach_passed(rcgc_object *o)
{
    RCGC_ASSERT(gc_rc_is_passed(o->refcnt));
    o->refcnt = gc_rc_with_v(o->refcnt, GC_RC_V_REACHED_PASSED);
}

/* Ahead of the mark step's cursor a word is a non-member or a member with
 * gc_refs + 1 (never passed or reached). */
static inline int gc_rc_ahead_ok(intptr_t r)
{
    return r < GC_RC_MEMBER ||
           (gc_rc_v(r) >= 1 && gc_rc_v(r) < GC_RC_V_REACHED_PASSED);
}

/* The split's fallback after the mark stack overflowed: a member reached
 * after being passed gets its word back (a root for the scan), a passed one
 * gets gc_refs 0 back, the others keep theirs. */
static inline void gc_rc_unmark(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    if (r < GC_RC_MEMBER) return;
    if (gc_rc_v(r) == GC_RC_V_REACHED_PASSED)
        o->refcnt = r & GC_RC_LOW;
    else if (gc_rc_v(r) == GC_RC_V_PASSED)
        o->refcnt = r + GC_RC_ONE;
}

/* ---- parked marks: the mark step's state in prev while it calls out ----
 *
 * When the mark stack must grow, the allocation may run hooks (the tracer,
 * an embedder's allocator, fault injection), and no code but traverse may
 * see a borrowed word.  The split parks each member's state in its prev
 * word (COLLECTING and GC_PREV_PARKED), gives every word back,
 * allocates, and borrows again.  One bit is enough: behind the cursor a
 * member is passed (0) or reached after it (1), ahead of it its gc_refs is
 * 0 (0) or not (1). */

static inline void gc_park(gc_head *g, int bit)
{
    RCGC_ASSERT(gc_is_tracked(g) && (g->_gc_prev & GC_PREV_PARKED) == 0);
    g->_gc_prev |= GC_PREV_COLLECTING | (bit ? GC_PREV_PARKED : 0);
}

/* For a parked node (COLLECTING set): its bit, and the node unparked. */
static inline int gc_unpark(gc_head *g)
{
    int bit = (g->_gc_prev & GC_PREV_PARKED) != 0;
    g->_gc_prev &= ~(GC_PREV_COLLECTING | GC_PREV_PARKED);
    return bit;
}

/* Park o (behind: the mark step's cursor has passed it) if it is a member:
 * its mark goes to g's prev, its word back to the true count. */
static inline void gc_rc_park(gc_head *g, rcgc_object *o, int behind)
{
    intptr_t r = o->refcnt;
    if (r < GC_RC_MEMBER) return;
    intptr_t v = gc_rc_v(r);
    RCGC_ASSERT(behind ? v == GC_RC_V_PASSED || v == GC_RC_V_REACHED_PASSED
                       : v >= 1 && v < GC_RC_V_REACHED_PASSED);
    gc_park(g, behind ? v == GC_RC_V_REACHED_PASSED : v >= 2);
    o->refcnt = r & GC_RC_LOW;
}

/* The converse: a parked node's object is a member again, with the mark it
 * had (gc_refs exact no longer: 0 or 1, all the mark step reads). */
static inline void gc_rc_unpark(gc_head *g, rcgc_object *o, int behind)
{
    if (!gc_is_collecting(g)) return;
    int bit = gc_unpark(g);
    RCGC_ASSERT(gc_rc_can_borrow(o->refcnt));
    o->refcnt = gc_rc_with_v(o->refcnt,
                             behind ? (bit ? GC_RC_V_REACHED_PASSED
                                           : GC_RC_V_PASSED)
                                    : (bit ? 2 : 1));
}

/* ---- membership in the side byte (docs/layout-16.md, step 2) ----
 *
 * A tracked object whose block is one of the runtime's pool blocks (a pool
 * object) also records its membership in the side byte of its gc_head's
 * granule (the pool allocator keeps one byte per 16-byte granule outside
 * the pool's pages: mem/alloc_internal.h).  Objects of any other block
 * (over 512 bytes, an embedder's allocator, the raw fallback, a heap
 * without the pool) are the registry: their membership is their gc_head
 * alone.  In this step the links are kept as well and the checker compares
 * the two (check.c); steps 3 and 4 drop the links of pool objects.
 *
 *   bit 0     GC_SIDE_TRACKED
 *   bits 1-2  the generation: 0, 1, 2, or GC_GEN_FROZEN (3, permanent);
 *             0 while untracked
 *   bit 3     GC_SIDE_FINALIZED: the PEP 442 finalizer ran (as FINALIZED
 *             in prev); kept through untrack and re-track
 *   bit 4     GC_SIDE_IN_VEC0, bit 5 GC_SIDE_IN_VEC1: reserved (step 3)
 *   bits 6-7  free
 *
 * Invariants between collections (check.c): an object on generation list
 * g (the permanent list: GC_GEN_FROZEN) is a registry object or a pool
 * object whose byte is TRACKED with generation g; a byte with TRACKED is
 * the byte of an object on the list of its generation; TRACKED bytes plus
 * listed registry objects are rt->tracked; a byte of a granule that is in
 * no block in use is 0.  The last holds because the object's free writes
 * 0 (gc_side_free): FINALIZED goes when the slot goes, so a new object in
 * the slot starts unfinalized, and nothing but tracked objects ever writes
 * a byte.  During a collection the generation bits of the objects in the
 * collector's private lists are those of where they came from; each list
 * is given its generation as it joins one (gc_side_set_gen). */

#define GC_SIDE_TRACKED 0x01u
#define GC_SIDE_GEN_SHIFT 1
#define GC_SIDE_GEN_MASK 0x06u
#define GC_SIDE_FINALIZED 0x08u
#define GC_SIDE_IN_VEC0 0x10u /* vec[0] holds the granule once */
#define GC_SIDE_IN_VEC1 0x20u /* vec[1] holds the granule once */
#define GC_GEN_FROZEN 3 /* the permanent generation's number (not a bit) */

_Static_assert(RCGC_NUM_GENERATIONS == 3,
               "gchead.h: the side byte holds generations 0-2 and frozen");
_Static_assert((GC_SIDE_TRACKED | GC_SIDE_GEN_MASK | GC_SIDE_FINALIZED |
                GC_SIDE_IN_VEC0 | GC_SIDE_IN_VEC1) == 0x3f &&
                   ((unsigned)GC_GEN_FROZEN << GC_SIDE_GEN_SHIFT) ==
                       GC_SIDE_GEN_MASK,
               "gchead.h: the side byte's fields overlap");

/* The side byte of g, the gc_head of a pool object (known to be one). */
static inline uint8_t *gc_side_in_pool(const gc_head *g)
{
    return rcgc__pm_side_byte(g);
}

/* The side byte of g if its block is one of pm's pool blocks (pm may be
 * NULL), else NULL (a registry object). */
static inline uint8_t *gc_side_lookup(const rcgc_pymalloc *pm, const gc_head *g)
{
    return rcgc__pm_side_lookup(pm, g);
}

static inline int gc_side_is_tracked(uint8_t b)
{
    return (b & GC_SIDE_TRACKED) != 0;
}

/* TRACKED in generation gen (0..3), one compare. */
static inline int gc_side_tracked_in(uint8_t b, int gen)
{
    return (b & (GC_SIDE_TRACKED | GC_SIDE_GEN_MASK)) ==
           (GC_SIDE_TRACKED | (unsigned)gen << GC_SIDE_GEN_SHIFT);
}

/* The generation of a tracked byte (GC_GEN_FROZEN: permanent). */
static inline int gc_side_gen(uint8_t b)
{
    return (b & GC_SIDE_GEN_MASK) >> GC_SIDE_GEN_SHIFT;
}

/* The free bits 6-7: set in no byte. */
static inline int gc_side_reserved(uint8_t b)
{
    return (b & ~(GC_SIDE_TRACKED | GC_SIDE_GEN_MASK | GC_SIDE_FINALIZED |
                  GC_SIDE_IN_VEC0 | GC_SIDE_IN_VEC1)) != 0;
}

/* ---- the young vectors' bits (step 3): IN_VECg set <=> vec[g] holds the
 * granule's address exactly once (core/internal.h, rcgc__vec_*) ---- */

static inline uint8_t gc_side_vec_bit(int g)
{
    RCGC_ASSERT(g == 0 || g == 1);
    return (uint8_t)(GC_SIDE_IN_VEC0 << g);
}

static inline int gc_side_in_vec(uint8_t b, int g)
{
    return (b & gc_side_vec_bit(g)) != 0;
}

static inline void gc_side_set_in_vec(uint8_t *s, int g)
{
    RCGC_ASSERT(!gc_side_in_vec(*s, g));
    *s |= gc_side_vec_bit(g);
}

static inline void gc_side_clear_in_vec(uint8_t *s, int g)
{
    RCGC_ASSERT(gc_side_in_vec(*s, g));
    *s &= (uint8_t)~gc_side_vec_bit(g);
}

/* Only IN_VEC bits (a free granule's byte may keep them: its stale
 * entries stay until their vector is consumed). */
static inline int gc_side_only_vec_bits(uint8_t b)
{
    return (b & ~(GC_SIDE_IN_VEC0 | GC_SIDE_IN_VEC1)) == 0;
}

static inline int gc_side_is_finalized(uint8_t b)
{
    return (b & GC_SIDE_FINALIZED) != 0;
}

/* Track into generation 0: an untracked byte has generation bits 0. */
static inline void gc_side_track(uint8_t *s)
{
    RCGC_ASSERT((*s & (GC_SIDE_TRACKED | GC_SIDE_GEN_MASK)) == 0);
    *s |= GC_SIDE_TRACKED;
}

/* Track into generation gen (0..2, or GC_GEN_FROZEN). */
static inline void gc_side_track_gen(uint8_t *s, int gen)
{
    RCGC_ASSERT((*s & (GC_SIDE_TRACKED | GC_SIDE_GEN_MASK)) == 0);
    RCGC_ASSERT(gen >= 0 && gen <= GC_GEN_FROZEN);
    *s |= (uint8_t)(GC_SIDE_TRACKED | (unsigned)gen << GC_SIDE_GEN_SHIFT);
}

/* Untracked: FINALIZED and the IN_VEC bits stay, TRACKED and the
 * generation go. */
static inline void gc_side_untrack(uint8_t *s)
{
    *s &= GC_SIDE_FINALIZED | GC_SIDE_IN_VEC0 | GC_SIDE_IN_VEC1;
}

/* Untracked, for an object that is never finalized (its type has no
 * finalizer): one store of 0, which its free then needs not repeat. */
static inline void gc_side_untrack_unfinalized(uint8_t *s)
{
    RCGC_ASSERT(!gc_side_is_finalized(*s));
    *s &= GC_SIDE_IN_VEC0 | GC_SIDE_IN_VEC1;
}

/* A tracked byte moves to generation gen (promotion, merging, freeze). */
static inline void gc_side_set_gen(uint8_t *s, int gen)
{
    RCGC_ASSERT(gc_side_is_tracked(*s) && gen >= 0 && gen <= GC_GEN_FROZEN);
    *s = (uint8_t)((*s & ~GC_SIDE_GEN_MASK) | (unsigned)gen << GC_SIDE_GEN_SHIFT);
}

static inline void gc_side_set_finalized(uint8_t *s)
{
    *s |= GC_SIDE_FINALIZED;
}

/* The object's block is freed: the byte goes back to its IN_VEC bits
 * alone (FINALIZED goes, so that a new object in the slot is not
 * finalized; TRACKED too when the free untracks in the same write). */
static inline void gc_side_free(uint8_t *s)
{
    *s &= GC_SIDE_IN_VEC0 | GC_SIDE_IN_VEC1; /* a stale entry keeps its bit */
}

/* every tracked byte of s[0..n) to the frozen generation
 * (freeze), or every frozen one to generation 2 (unfreeze); branch-free, so
 * the loop vectorizes. */
static inline void gc_side_freeze_run(uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (uint8_t)(s[i] | (s[i] & GC_SIDE_TRACKED) * GC_SIDE_GEN_MASK);
}

static inline void gc_side_unfreeze_run(uint8_t *s, size_t n)
{
    const unsigned frozen = GC_SIDE_TRACKED | GC_SIDE_GEN_MASK;
    for (size_t i = 0; i < n; i++)
        s[i] = (uint8_t)(s[i] ^ (((s[i] & frozen) == frozen) << GC_SIDE_GEN_SHIFT));
}

/* For the checker's tests: set the byte as it is (to break an invariant
 * on purpose). */
static inline void gc_side_poke(uint8_t *s, uint8_t b)
{
    *s = b;
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
    return gc_is_tracked(node) && !gc_is_vectored(node) &&
           gc_next(gc_prev(node)) == node &&
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

/* A vectored g onto list (its vector entry goes, or stays stale: the
 * caller's part); FINALIZED kept. */
static inline void gc_link_vectored(gc_head *g, gc_head *list)
{
    RCGC_ASSERT(gc_is_vectored(g));
    gc_list_append(g, list);
}

/* Link a vectored g after tail, the last node of a chain being built onto
 * a list (gc_chain_close ends it); returns g, the new last node.  For
 * linking many nodes with the tail in a register (rcgc__vec_link). */
static inline gc_head *gc_chain_vectored(gc_head *tail, gc_head *g)
{
    RCGC_ASSERT(gc_is_vectored(g));
    g->_gc_prev = (g->_gc_prev & GC_PREV_FINALIZED) | (uintptr_t)tail;
    tail->_gc_next = (uintptr_t)g;
    return g;
}

/* The chain built onto list (started at gc_prev(list), its last node
 * then) ends at tail. */
static inline void gc_chain_close(gc_head *list, gc_head *tail)
{
    RCGC_ASSERT((list->_gc_prev & GC_PREV_FLAGS) == 0);
    tail->_gc_next = (uintptr_t)list;
    list->_gc_prev = (uintptr_t)tail;
}

/* Untrack a tracked node, linked or vectored: off its list (or its vector
 * entry goes stale), FINALIZED kept, COLLECTING dropped. */
static inline void gc_untrack_node(gc_head *g)
{
    if (gc_is_vectored(g)) {
        gc_untrack_vectored(g);
    } else {
        gc_list_remove(g);
        gc_reset_untracked(g);
    }
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

/* A tracked node onto list (a collection's private list) from wherever it
 * is: its list, or its vector (the entry goes stale). */
static inline void gc_list_move_any(gc_head *node, gc_head *list)
{
    if (gc_is_vectored(node))
        gc_link_vectored(node, list);
    else
        gc_list_move(node, list);
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

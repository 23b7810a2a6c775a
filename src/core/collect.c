/*
 * collect.c - CPython's classic three-generation cycle collector.
 *
 * One function per phase, named after it; reading rcgc__collect_main is
 * reading the algorithm (docs/collector.md).  A collection of generation g
 * merges the younger generations into g ("young"), finds what only the young
 * set itself references by trial deletion (update_refs, subtract_refs,
 * move_unreachable), promotes the survivors, sets aside what legacy
 * finalizers reach, runs PEP 442 finalizers once, takes back whatever they
 * resurrected, and clears the rest so reference counting frees it.
 *
 * Invariants this file relies on (checked by check.c at RCGC_DEBUG >= 3):
 *   - between collections every list is doubly linked and no node carries
 *     COLLECTING or NEXT_UNREACHABLE;
 *   - from update_refs to the end of move_unreachable the young list is
 *     singly linked (prev holds gc_refs) and no client code but traverse
 *     runs;
 *   - every other list the collector keeps is doubly linked whenever client
 *     code (finalizers, clear, callbacks) runs, so that code may free, track
 *     or untrack any object at any time.
 */
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"

/* Charge the time since *t to phase, and restart *t. */
static void lap(rcgc_runtime *rt, int phase, uint64_t *t)
{
    uint64_t now = rcgc__os_now_ns();
    rt->phase_ns[phase] += now - *t;
    *t = now;
}

static void validate(rcgc_runtime *rt, const gc_head *list, const char *name,
                     int expect_collecting)
{
    if (RCGC_DEBUG >= 3 &&
        rcgc__check_list(rt, list, name, expect_collecting) != 0)
        rcgc__fatal(rt, NULL, "collector list '%s' is corrupt (see above)",
                    name);
}

static void debug_cycle(rcgc_runtime *rt, const char *msg, rcgc_object *o)
{
    fprintf(rt->debug_stream, "gc: %s <%s %p>\n", msg, o->type->name,
            (void *)o);
}

/* ---- the borrowed reference counts ---- */

/* From update_refs to the end of move_unreachable the members' reference
 * count words hold the collection's scratch (gchead.h, "the collection's
 * scratch in the refcount word"); rt->gc_borrowed says so.  Only traverse
 * (and ephemerons) may run then: every other call out of a collection
 * (finalizers, clear, weak reference and gc callbacks, may_untrack, the
 * allocator and its hooks) comes after the words are given back, and
 * check_words_restored says so at each of them: the flag at RCGC_DEBUG >= 1,
 * and at RCGC_DEBUG >= 3 every word of the generations, the permanent
 * generation and the lists the caller names. */
static void check_word_list(rcgc_runtime *rt, const gc_head *list,
                            const char *where)
{
    if (list == NULL) return;
    /* The tentative unreachable list still carries its marks. */
    for (const gc_head *g = gc_next_unmarked(list); g != list;
         g = gc_next_unmarked(g))
        if (gc_rc_is_member(gc_object_of(g)))
            rcgc__fatal(rt, gc_object_of(g),
                        "collector: calls out (%s) with this object's "
                        "reference count still borrowed",
                        where);
}

static void check_words_restored(rcgc_runtime *rt, const gc_head *a,
                                 const gc_head *b, const char *where)
{
    if (RCGC_DEBUG < 1) return;
    if (rt->gc_borrowed)
        rcgc__fatal(rt, NULL, "collector: calls out (%s) while the "
                              "reference counts are borrowed",
                    where);
    if (RCGC_DEBUG < 3) return;
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++)
        check_word_list(rt, &rt->gen[i].head, where);
    check_word_list(rt, &rt->permanent, where);
    check_word_list(rt, a, where);
    check_word_list(rt, b, where);
}

/* ---- trial deletion ---- */

/* gc_refs := refcount, o a member (the first step of trial deletion); an
 * object counted above the limit gchead.h sets stays out, a root. */
static inline void init_refs(rcgc_runtime *rt, rcgc_object *o)
{
    if (RCGC_DEBUG >= 1 && o->refcnt <= 0)
        rcgc__fatal(rt, o, "update_refs: tracked object with refcount %ld "
                           "(a deallocation left it tracked, or it is "
                           "immortal)",
                    (long)o->refcnt);
    (void)gc_rc_borrow(o);
}

/* gc_refs := refcount for every object of the set (each a member): one
 * write to each object's reference count word, none to its gc_head.
 * Returns the number of objects (the candidates). */
static rcgc_ssize update_refs(rcgc_runtime *rt, gc_head *containers)
{
    rcgc_ssize n = 0;
    for (gc_head *g = gc_next(containers); g != containers; g = gc_next(g)) {
        n++;
        init_refs(rt, gc_object_of(g));
    }
    return n;
}

static RCGC__NOINLINE void report_too_small(rcgc_object *child,
                                            const rcgc_object *p)
{
    gc_rc_restore(child); /* the dump shows the true count */
    rcgc__fatal(NULL, child,
                "subtract_refs: refcount is too small: the traverse of "
                "<%s %p> reports a reference to this object that it does "
                "not own, or the object's reference count is too low",
                p->type->name, (const void *)p);
}

/* A compare and a subtract on the child's own word: an object outside the
 * set (older, untracked, not GC, immortal, a root) has no member bit.
 * A member whose gc_refs is already 0 stays at 0 (a release build ignores
 * the extra reference; RCGC_DEBUG >= 1 reports it). */
static int visit_decref(rcgc_object *child, void *parent)
{
    if (gc_rc_decref(child) && RCGC_DEBUG >= 1)
        report_too_small(child, parent);
    return 0;
}

static int visit_decref_value(rcgc_object *key, rcgc_object *value,
                              void *parent)
{
    (void)key;
    return value != NULL ? visit_decref(value, parent) : 0;
}

/* Subtract the references the set holds to itself, ephemeron values
 * included: afterwards gc_refs > 0 exactly for objects referenced from
 * outside the set.  Returns how many objects of the set hold ephemerons. */
static rcgc_ssize subtract_refs(gc_head *containers)
{
    rcgc_ssize nephemeral = 0;
    for (gc_head *g = gc_next(containers); g != containers; g = gc_next(g)) {
        rcgc_object *o = gc_object_of(g);
        const rcgc_type *t = o->type;
        t->traverse(o, visit_decref, o);
        if (t->ephemerons != NULL) {
            t->ephemerons(o, visit_decref_value, o);
            nephemeral++;
        }
    }
    return nephemeral;
}

/*
 * update_refs and subtract_refs in one pass, for a full collection when every
 * tracked object is in the set (no frozen objects, not tearing down): then
 * "tracked" means "in the set", so an object reached through traverse before
 * the walk gets to it is made a member on first touch.  The result is the
 * same gc_refs for every object, with one pass over the objects' memory
 * instead of two.  Returns the number of objects; *nephemeral as
 * subtract_refs.
 */
static int visit_decref_all(rcgc_object *child, void *parent)
{
    intptr_t r = child->refcnt;
    if (gc_rc_try_decref(child)) return 0; /* a member: the common visit */
    if (gc_rc_above_limit(r)) {
        /* A root by its count, or a member whose gc_refs is 0 already. */
        if (RCGC_DEBUG >= 1 && gc_rc_word_is_member(r))
            report_too_small(child, parent);
        return 0;
    }
    /* Not a member yet: tracked means in the set, touched first here (a
     * tracked object's count is positive: immortal objects are
     * untracked). */
    if (gc_is_gc(child) && gc_is_tracked(gc_head_of(child))) {
        if (RCGC_DEBUG >= 1 && r <= 0) init_refs(NULL, child); /* reports */
        gc_rc_borrow_minus_one(child);
    }
    return 0;
}

static int visit_decref_all_value(rcgc_object *key, rcgc_object *value,
                                  void *parent)
{
    (void)key;
    return value != NULL ? visit_decref_all(value, parent) : 0;
}

static rcgc_ssize update_subtract_refs(rcgc_runtime *rt, gc_head *containers,
                                       rcgc_ssize *nephemeral)
{
    rcgc_ssize n = 0, neph = 0;
    for (gc_head *g = gc_next(containers); g != containers; g = gc_next(g)) {
        n++;
        gc_prefetch_ahead(g, gc_next(g));
        rcgc_object *o = gc_object_of(g);
        if (!gc_rc_is_member(o)) init_refs(rt, o);
        const rcgc_type *t = o->type;
        t->traverse(o, visit_decref_all, o);
        if (t->ephemerons != NULL) {
            t->ephemerons(o, visit_decref_all_value, o);
            neph++;
        }
    }
    if (RCGC_DEBUG >= 1 && n != rt->tracked)
        rcgc__fatal(rt, NULL, "full collection: %td objects in the "
                              "generations but %td tracked (a tracked object "
                              "outside the generation lists)",
                    n, rt->tracked);
    *nephemeral = neph;
    return n;
}

/* ---- the split: mark what is reachable, then one sweep ---- */

/*
 * move_unreachable splits young into the reachable objects, which stay in
 * young in memory order (see the sweep), and the tentatively unreachable
 * ones, which move to unreachable in their list order, as CPython's scan
 * leaves them.  Two steps, on the members' borrowed reference count words
 * (gchead.h: v = gc_refs + 1, or passed, or reached after passed):
 *
 *   mark   a cursor walks young in list order.  An object with gc_refs > 0
 *          (or a root, not a member) is reachable: the cursor gives its
 *          word back ("reached" is "not a member any more") and scans its
 *          references.  A referent the cursor has not passed yet only gets
 *          gc_refs = 1 (the cursor will scan it when it gets there, in
 *          memory order); a referent it has passed (the cursor left
 *          "passed" in it) is reached now ("reached after passed")
 *          and goes on an explicit mark stack, depth first, until the
 *          stack is empty again.  No recursion, any depth.
 *   sweep  one walk in list order, after the prefix the cursor settled:
 *          an object still passed was never reached: its word comes back,
 *          it gets COLLECTING (prev) and moves to unreachable; the others
 *          get their prev pointer back (and the reached-after-passed ones
 *          their word), those reached from behind the cursor in reverse
 *          order at the end.
 *
 * The young list's links are not touched before the sweep (gc_refs is in
 * the words, not in prev), so it stays doubly linked through the mark step.
 * Every reachable object is scanned exactly once.  The ephemeron rule runs
 * between the two steps, on the same marks (mark_ephemerons).
 *
 * The stack starts in the C stack frame (MARK_STACK_INLINE entries) and
 * grows by doubling in the runtime's MEM domain; the heap part is freed
 * when the split ends (docs/collector.md says why).  An allocation may run
 * hooks, so the marks are parked in prev and the words given back around
 * it (mark_park).  If it cannot grow, the split falls back to CPython's
 * breadth-first scan (scan_reachable), which needs no memory: the marks
 * made so far are turned into gc_refs that scan understands, and it redoes
 * the split from the start.
 */
#define MARK_STACK_INLINE 256

struct mark_ctx {
    rcgc_runtime *rt;
    gc_head *young;
    gc_head *cursor; /* the object the cursor scans (mark_park): young
                        while it settles (every member is ahead), NULL
                        once the walk ended (every member is behind) */
    gc_head *const *arr; /* the split over vec[0] (split_vec): the
                            members, in place of young's list */
    rcgc_ssize narr;
    rcgc_ssize icursor;  /* arr's cursor: -1 while it settles, narr once
                            the walk ended */
    rcgc_object **items; /* inline, or a MEM block once it grew */
    rcgc_ssize n, cap;
    gc_head *settled;     /* end of the prefix whose links are final */
    rcgc_ssize nsettled;  /* its length */
    int overflow;    /* the stack could not grow: fall back */
    int changed;     /* mark_ephemerons: a value was reached this round */
    rcgc_object *inline_items[MARK_STACK_INLINE];
};

static void mark_init(struct mark_ctx *m, rcgc_runtime *rt, gc_head *young)
{
    m->rt = rt;
    m->young = young;
    m->cursor = young;
    m->arr = NULL;
    m->narr = 0;
    m->icursor = -1;
    m->items = m->inline_items;
    m->n = 0;
    m->cap = MARK_STACK_INLINE;
    m->settled = NULL;
    m->nsettled = 0;
    m->overflow = 0;
    m->changed = 0;
}

static void mark_release(struct mark_ctx *m)
{
    if (m->items != m->inline_items) rcgc__free(m->rt, m->items);
    m->items = m->inline_items;
    m->cap = MARK_STACK_INLINE;
}

/* Give every word of young back before the mark step calls out, the marks
 * kept in prev (gc_park: behind the cursor passed or reached after it,
 * ahead of it gc_refs 0 or not; nothing else is left to know), and take
 * them again afterwards.  O(young) each, only when the stack grows. */
static void mark_park(struct mark_ctx *m)
{
    /* Behind: up to the cursor's object; every member once the walk ended;
     * none while the prefix settles (nothing can be pushed then, since
     * nothing was passed: park runs only from the second loop on). */
    if (m->arr != NULL) {
        for (rcgc_ssize i = 0; i < m->narr; i++)
            gc_rc_park(m->arr[i], gc_object_of(m->arr[i]), i <= m->icursor);
    } else {
        int behind = m->cursor != m->young;
        for (gc_head *g = gc_next(m->young); g != m->young; g = gc_next(g)) {
            gc_rc_park(g, gc_object_of(g), behind);
            if (g == m->cursor) behind = 0;
        }
    }
    m->rt->gc_borrowed = 0;
}

static void mark_unpark(struct mark_ctx *m)
{
    if (m->arr != NULL) {
        for (rcgc_ssize i = 0; i < m->narr; i++)
            gc_rc_unpark(m->arr[i], gc_object_of(m->arr[i]), i <= m->icursor);
    } else {
        int behind = m->cursor != m->young;
        for (gc_head *g = gc_next(m->young); g != m->young; g = gc_next(g)) {
            gc_rc_unpark(g, gc_object_of(g), behind);
            if (g == m->cursor) behind = 0;
        }
    }
    m->rt->gc_borrowed = 1;
}

/* Double the stack; 0, or -1 (nothing changed) when memory ran out. */
static int mark_grow(struct mark_ctx *m)
{
    if (m->cap > PTRDIFF_MAX / 2 / (rcgc_ssize)sizeof(rcgc_object *))
        return -1;
    size_t bytes = (size_t)m->cap * 2 * sizeof(rcgc_object *);
    rcgc_object **p;
    mark_park(m);
    check_words_restored(m->rt, m->young, NULL, "mark stack growth");
    if (m->items == m->inline_items) {
        p = rcgc__malloc(m->rt, bytes);
        if (p != NULL)
            memcpy(p, m->items, (size_t)m->n * sizeof(rcgc_object *));
    } else {
        p = rcgc__realloc(m->rt, m->items, bytes);
    }
    mark_unpark(m);
    if (p == NULL) return -1;
    m->items = p;
    m->cap *= 2;
    return 0;
}

/* mark_push when the stack is full: grow it, or give up (overflow). */
static RCGC__NOINLINE void mark_push_full(struct mark_ctx *m, rcgc_object *o)
{
    if (m->overflow || mark_grow(m) != 0) {
        m->overflow = 1; /* o stays reached; the fallback rescans */
        return;
    }
    m->items[m->n++] = o;
}

/* o was just reached: scan it later.  The growth is out of line so that
 * visit_mark needs no stack frame. */
static inline void mark_push(struct mark_ctx *m, rcgc_object *o)
{
    if (m->n == m->cap) {
        mark_push_full(m, o);
        return;
    }
    m->items[m->n++] = o;
}

/* Called once per reference of every reachable object: the common visits
 * (an object already reached, outside the set, or ahead of the cursor and
 * known reachable) cost one load of the child's own reference count and
 * one compare (gc_rc_mark_wanted): no type, no gc_head. */
static int visit_mark(rcgc_object *child, void *arg)
{
    intptr_t r = child->refcnt;
    if (!gc_rc_mark_wanted(r)) return 0;
    if (gc_rc_wanted_is_passed(r)) {
        gc_rc_reach_passed(child); /* behind the cursor: reached now */
        mark_push(arg, child);
    } else {
        gc_rc_found(child); /* ahead, gc_refs 0 -> 1 */
    }
    return 0;
}

/* Scan what the stack holds until it is empty (or cannot grow). */
static void mark_drain(struct mark_ctx *m)
{
    while (m->n > 0 && !m->overflow) {
        rcgc_object *o = m->items[--m->n];
        o->type->traverse(o, visit_mark, m);
    }
}

/* The cursor scans o (reached): its references marked, the stack drained.
 * 1 if the stack overflowed (the split falls back), else 0. */
static inline int mark_scan(struct mark_ctx *m, rcgc_object *o)
{
    o->type->traverse(o, visit_mark, m);
    /* A push that overflowed found the stack full: n > 0. */
    if (m->n > 0) {
        mark_drain(m);
        return m->overflow;
    }
    return 0;
}

/* The cursor meets o after the settled prefix: 1 if o is a member with
 * gc_refs 0, which the cursor passes (unreachable unless reached later);
 * else 0, and o is reached (its word back; a root keeps its word). */
static inline int mark_passes(rcgc_object *o)
{
    intptr_t r = o->refcnt;
    /* Only objects behind the cursor are ever reached from the stack. */
    RCGC_ASSERT(gc_rc_ahead_ok(r));
    if (gc_rc_word_is_member(r)) {
        if (gc_rc_member_refs_zero(r)) {
            gc_rc_pass(o);
            return 1;
        }
        o->refcnt = gc_rc_true_count(r);
    }
    return 0;
}

/* The cursor's walk.  As long as every object it met was reachable when it
 * got there (nothing passed yet), the list up to the cursor is final: those
 * objects get their word back at once and the sweep starts after them, so
 * a list whose references point forward (a container filled after it was
 * made, the pairs, what an earlier collection left) needs no sweep.  The
 * walk is two loops, the settling one first, so that neither tests which
 * of the two it is in. */
static void mark_reachable(gc_head *young, struct mark_ctx *m)
{
    gc_head *settled = young, *g;
    rcgc_ssize nsettled = 0;
    for (g = gc_next(young); g != young; g = gc_next(g)) {
        gc_prefetch_ahead(g, gc_next(g));
        rcgc_object *o = gc_object_of(g);
        intptr_t r = o->refcnt;
        if (gc_rc_word_is_member(r)) { /* else a root: keeps its word */
            if (gc_rc_member_refs_zero(r)) break; /* the walk below passes it */
            o->refcnt = gc_rc_true_count(r); /* reached */
        }
        RCGC_ASSERT(gc_prev(g) == settled); /* its link is final */
        settled = g;
        nsettled++;
        if (mark_scan(m, o)) return;
    }
    m->settled = settled;
    m->nsettled = nsettled;
    for (; g != young; g = gc_next(g)) {
        gc_prefetch_ahead(g, gc_next(g));
        rcgc_object *o = gc_object_of(g);
        if (mark_passes(o)) continue;
        m->cursor = g;
        if (mark_scan(m, o)) return;
    }
    m->cursor = NULL; /* everything is behind it now */
}

/* A member and not reached (after the cursor's walk: passed). */
static int not_reached(const rcgc_object *o)
{
    return gc_rc_is_passed(o->refcnt);
}

static int visit_mark_value(rcgc_object *key, rcgc_object *value, void *arg)
{
    struct mark_ctx *m = arg;
    if (key == NULL || value == NULL || not_reached(key) || !not_reached(value))
        return 0;
    gc_rc_reach_passed(value);
    mark_push(m, value);
    m->changed = 1;
    return 0;
}

/*
 * The ephemeron rule (docs/weakref.md): marking followed traverse only, so a
 * value that only its table holds is not reached yet.  Reach every such
 * value whose table is reached and whose key is not in the set being split
 * or is reached, with all it reaches, and repeat until a round reaches
 * nothing.  Tables outside the set hold their values as external references
 * anyway.
 */
static void mark_ephemerons(gc_head *young, struct mark_ctx *m)
{
    do {
        m->changed = 0;
        for (gc_head *g = gc_next(young); g != young; g = gc_next(g)) {
            rcgc_object *o = gc_object_of(g);
            if (not_reached(o) || o->type->ephemerons == NULL) continue;
            o->type->ephemerons(o, visit_mark_value, m);
            mark_drain(m);
            if (m->overflow) return;
        }
    } while (m->changed);
}

/* g (a member whose word holds its true count again) goes to the end of the
 * tentative unreachable list, with COLLECTING: from here on membership of
 * the unreachable set is the prev bit, as the later phases read it. */
static void to_unreachable(gc_head *prev, gc_head *g, gc_head *unreachable)
{
    gc_unlink_after(prev, g); /* young is singly linked here */
    gc_unreachable_append(g, unreachable);
    gc_set_collecting(g);
}

/*
 * One walk in list order, after the settled prefix (young itself when there
 * is none): what was never reached gets its word back and moves to
 * unreachable (NEXT_UNREACHABLE on each next word, COLLECTING set), in list
 * order.  Survivors that the cursor scanned stay where they are; survivors
 * it had passed, which the mark stack reached through references to older
 * objects, get their word back and go after them in reverse list order.
 * For a structure built children-first (a chain, a tree) that is descending
 * memory order with every reference pointing forward, so the next
 * collection's cursor reaches everything ahead of itself: no stack and no
 * sweep.  Returns the number of reachable objects it walked.  Afterwards no
 * word of young is borrowed.
 */
static rcgc_ssize sweep_unreachable(gc_head *young, gc_head *settled,
                                    gc_head *unreachable)
{
    rcgc_ssize reachable = 0;
    gc_head *prev = settled;                /* last survivor left in place */
    gc_head *back = young, *back_last = NULL; /* the reversed ones */
    for (gc_head *g = gc_next(settled), *next; g != young; g = next) {
        next = gc_next(g);
        gc_prefetch_ahead(g, next);
        rcgc_object *o = gc_object_of(g);
        intptr_t r = o->refcnt;
        if (gc_rc_is_passed(r)) {
            gc_rc_restore(o);
            to_unreachable(prev, g, unreachable);
            continue;
        }
        reachable++;
        if (gc_rc_was_passed(r)) {
            gc_rc_restore(o);
            gc_unlink_after(prev, g);
            gc_set_next(g, back); /* push on the front of the reversed run */
            if (back == young)
                back_last = g;
            else
                gc_restore_prev(back, g);
            back = g;
        } else {
            RCGC_ASSERT(!gc_rc_word_is_member(r));
            gc_restore_prev(g, prev);
            prev = g;
        }
    }
    if (back_last != NULL) {
        gc_set_next(prev, back);
        gc_restore_prev(back, prev);
        prev = back_last; /* its next is young already */
    }
    gc_list_set_tail(young, prev);
    gc_clear_next_unreachable(unreachable);
    return reachable;
}

/* ---- the fallback: CPython's breadth-first scan, O(1) memory ---- */

/* g sits in the tentative unreachable list but is reachable after all:
 * unlink it by hand (the list functions do not handle the mark), make it a
 * member again with gc_refs 1 and queue it for scanning at the tail of
 * young. */
static void bring_back(gc_head *g, gc_head *young)
{
    gc_head *prev = gc_prev(g);
    gc_head *next = gc_next_unmarked(g);
    gc_unlink_after(prev, g); /* keeps the mark of prev's list */
    gc_set_prev(next, prev);
    gc_clear_collecting(g);
    gc_list_append(g, young);
    gc_rc_borrow_refs(gc_object_of(g), 1);
}

static int visit_reachable(rcgc_object *child, void *arg)
{
    intptr_t r = child->refcnt;
    if (gc_rc_word_is_member(r)) {
        /* Right of the cursor, not scanned yet: with gc_refs 0, it is
         * reachable now. */
        if (gc_rc_refs_zero(r)) gc_rc_found(child);
        return 0;
    }
    /* Objects of other generations, and those left of the scan cursor
     * (already scanned), are neither members nor COLLECTING. */
    if (!gc_is_gc(child)) return 0;
    gc_head *g = gc_head_of(child);
    if (gc_is_collecting(g) && gc_is_next_unreachable(g))
        bring_back(g, arg);
    return 0;
}

/*
 * Split young into reachable (stays in young, words given back, prev
 * pointers restored) and tentatively unreachable (moved to unreachable, with
 * NEXT_UNREACHABLE on each next word, COLLECTING set and the word given
 * back).  One pass, breadth first, O(1) extra memory: objects with gc_refs
 * 0 are moved out eagerly and brought back if a reachable object turns out
 * to reference them.  Returns the number of reachable objects (each is
 * scanned exactly once).  The scan starts after prev: young itself, or the
 * tail of an earlier scan when move_ephemerons brought objects back.
 */
static rcgc_ssize scan_reachable(gc_head *young, gc_head *prev,
                                 gc_head *unreachable)
{
    rcgc_ssize reachable = 0;
    gc_head *g = gc_next(prev);
    while (g != young) {
        gc_prefetch_ahead(g, gc_next(g));
        rcgc_object *o = gc_object_of(g);
        intptr_t r = o->refcnt;
        RCGC_ASSERT(gc_rc_ahead_ok(r));
        if (!gc_rc_refs_zero(r)) {
            o->type->traverse(o, visit_reachable, young);
            gc_set_prev(g, prev); /* restores the link */
            gc_rc_restore(o);
            prev = g;
            reachable++;
        } else {
            gc_rc_restore(o);
            to_unreachable(prev, g, unreachable);
        }
        /* Re-read: traverse may have appended to young. */
        g = gc_next(prev);
    }
    gc_list_set_tail(young, prev);
    gc_clear_next_unreachable(unreachable);
    return reachable;
}

/* In the tentative unreachable list (COLLECTING and the mark). */
static int in_unreachable(const rcgc_object *o)
{
    if (!gc_is_gc(o)) return 0;
    const gc_head *g = gc_head_of(o);
    return gc_is_collecting(g) && gc_is_next_unreachable(g);
}

struct ephemeron_ctx {
    gc_head *young; /* where values brought back go */
    int changed;    /* a value came back this round */
};

static int visit_ephemeron(rcgc_object *key, rcgc_object *value, void *arg)
{
    struct ephemeron_ctx *c = arg;
    if (key == NULL || value == NULL || in_unreachable(key) ||
        !in_unreachable(value))
        return 0;
    bring_back(gc_head_of(value), c->young);
    c->changed = 1;
    return 0;
}

/* The ephemeron rule of mark_ephemerons for the fallback: bring back every
 * value whose table is reachable and whose key is not in the unreachable
 * list, scan what it reaches, and repeat until a round brings nothing back.
 * Returns the number of objects made reachable. */
static rcgc_ssize move_ephemerons(gc_head *young, gc_head *unreachable)
{
    rcgc_ssize reachable = 0;
    struct ephemeron_ctx c = {young, 0};
    do {
        c.changed = 0;
        gc_head *tail = gc_prev(young);
        for (gc_head *g = gc_next(young); g != young; g = gc_next(g)) {
            rcgc_object *o = gc_object_of(g);
            if (o->type->ephemerons != NULL)
                o->type->ephemerons(o, visit_ephemeron, &c);
        }
        if (c.changed) reachable += scan_reachable(young, tail, unreachable);
    } while (c.changed);
    return reachable;
}

/* CPython's split: scan_reachable, then the ephemeron rule. */
static rcgc_ssize scan_split(gc_head *young, gc_head *unreachable,
                             rcgc_ssize nephemeral)
{
    rcgc_ssize reachable = scan_reachable(young, young, unreachable);
    if (nephemeral > 0) reachable += move_ephemerons(young, unreachable);
    return reachable;
}

/* The mark stack could not grow: turn the marks into what scan_reachable
 * reads (reached objects get their word back and are roots, passed ones get
 * gc_refs 0 back, pending ones keep theirs) and split again from the
 * start.  Every reached object is reachable, so the sets are the same. */
static rcgc_ssize split_fallback(gc_head *young, gc_head *unreachable,
                                 rcgc_ssize nephemeral)
{
    for (gc_head *g = gc_next(young); g != young; g = gc_next(g))
        gc_rc_unmark(gc_object_of(g));
    return scan_split(young, unreachable, nephemeral);
}

/*
 * Split young (see above); returns the number of reachable objects.
 * nephemeral: how many objects of young hold ephemerons.
 *
 * Once the runtime has a lazily untracked type (rt->lazy_untrack), the
 * order of the survivors is observable: untrack_lazy walks them in list
 * order, and CPython's breadth-first order puts an inner tuple held only by
 * its outer tuple after it, so each collection untracks one level of
 * nesting (spec §1.4; tests/test_collect_garbage.c).  Such a runtime keeps
 * CPython's scan, order and all (docs/collector.md).
 */
static rcgc_ssize move_unreachable(rcgc_runtime *rt, gc_head *young,
                                   gc_head *unreachable, rcgc_ssize nephemeral)
{
    if (rt->lazy_untrack) return scan_split(young, unreachable, nephemeral);
    struct mark_ctx m;
    mark_init(&m, rt, young);
    mark_reachable(young, &m);
    if (nephemeral > 0 && !m.overflow) mark_ephemerons(young, &m);
    rcgc_ssize reachable =
        m.overflow ? split_fallback(young, unreachable, nephemeral)
                   : m.nsettled + sweep_unreachable(young, m.settled,
                                                    unreachable);
    /* Every word is back: freeing the stack may run the allocator's hooks. */
    rt->gc_borrowed = 0;
    if (m.items != m.inline_items)
        check_words_restored(rt, young, unreachable, "mark stack release");
    mark_release(&m);
    return reachable;
}

/* ---- a young collection's split over vec[0] (docs/layout-16.md, 3a) ----
 *
 * A collection of generation 0 whose every member is vectored (generation
 * 0's list empty) and with no lazily untracked type runs trial deletion on
 * the young vector itself instead of linking it first: the members are
 * compacted in place into an array (stale entries dropped), counted,
 * subtracted and marked with the array's index as the cursor, and the
 * sweep links them, survivors into young (in the order the list split
 * leaves them: scanned ones in place, those reached after the cursor
 * passed them reversed at the end) and the rest into unreachable.  The
 * sets, the counts and the order are those of the list split; only the
 * walk is different: one array read per member instead of a dependent
 * load, and the list is written once, by the sweep.  If the mark stack
 * cannot grow, the members are linked into young and CPython's scan runs
 * on the list, as in the list split. */

/* The live entries of vec[0], in place, in the vector's order: returns how
 * many.  Every entry's IN_VEC0 goes and the pins are dropped by pool run
 * (before any word is borrowed: a pool given back may call the raw
 * allocator).  With generation 0's list empty, TRACKED in generation 0
 * means vectored. */
static rcgc_ssize vec_members(rcgc_runtime *rt)
{
    struct rcgc__vec *v = &rt->vec[0];
    gc_head **mem = v->v;
    rcgc_ssize n = 0;
    struct rcgc__unpin_run run = {NULL, 0};
    for (rcgc_ssize i = 0; i < v->len; i++) {
        gc_head *g = mem[i];
        rcgc__unpin_run_add(rt, &run, g);
        uint8_t *side = gc_side_in_pool(g);
        uint8_t b = *side;
        gc_side_clear_in_vec(side, 0);
        if (gc_side_tracked_in(b, 0)) {
            RCGC_ASSERT(gc_is_vectored(g));
            mem[n++] = g;
        }
    }
    rcgc__unpin_run_end(rt, &run);
    return n;
}

#define VEC_PREFETCH 8 /* members ahead whose object is requested */

static inline void prefetch_member(gc_head *const *mem, rcgc_ssize i,
                                   rcgc_ssize n)
{
#if defined(__GNUC__)
    if (i + VEC_PREFETCH < n) __builtin_prefetch(mem[i + VEC_PREFETCH], 1);
#else
    (void)mem;
    (void)i;
    (void)n;
#endif
}

/* mark_reachable over the array: the same two loops, the index for the
 * cursor. */
static void mark_reachable_vec(struct mark_ctx *m)
{
    gc_head *const *mem = m->arr;
    rcgc_ssize n = m->narr, i;
    for (i = 0; i < n; i++) {
        prefetch_member(mem, i, n);
        rcgc_object *o = gc_object_of(mem[i]);
        intptr_t r = o->refcnt;
        if (gc_rc_word_is_member(r)) { /* else a root: keeps its word */
            if (gc_rc_member_refs_zero(r)) break; /* the walk below passes it */
            o->refcnt = gc_rc_true_count(r); /* reached */
        }
        if (mark_scan(m, o)) return;
    }
    m->nsettled = i;
    for (; i < n; i++) {
        prefetch_member(mem, i, n);
        rcgc_object *o = gc_object_of(mem[i]);
        if (mark_passes(o)) continue;
        m->icursor = i;
        if (mark_scan(m, o)) return;
    }
    m->icursor = n; /* everything is behind it now */
}

static void mark_ephemerons_vec(struct mark_ctx *m)
{
    do {
        m->changed = 0;
        for (rcgc_ssize i = 0; i < m->narr; i++) {
            rcgc_object *o = gc_object_of(m->arr[i]);
            if (not_reached(o) || o->type->ephemerons == NULL) continue;
            o->type->ephemerons(o, visit_mark_value, m);
            mark_drain(m);
            if (m->overflow) return;
        }
    } while (m->changed);
}

/* sweep_unreachable for the array: links every member, the settled prefix
 * and the scanned survivors in order into young (empty), those reached
 * after the cursor passed them reversed after them, the others into
 * unreachable with COLLECTING.  Returns the number of reachable members
 * after the settled prefix.  Afterwards no word is borrowed. */
static rcgc_ssize sweep_vec(gc_head *const *mem, rcgc_ssize n,
                            rcgc_ssize nsettled, gc_head *young,
                            gc_head *unreachable)
{
    RCGC_ASSERT(gc_list_is_empty(young));
    rcgc_ssize reachable = 0, i;
    gc_head *tail = young;
    for (i = 0; i < nsettled; i++) tail = gc_chain_vectored(tail, mem[i]);
    gc_head *back = young, *back_last = NULL; /* the reversed ones */
    for (; i < n; i++) {
        gc_head *g = mem[i];
        prefetch_member(mem, i, n);
        rcgc_object *o = gc_object_of(g);
        intptr_t r = o->refcnt;
        if (gc_rc_is_passed(r)) {
            gc_rc_restore(o);
            gc_unreachable_append(g, unreachable);
            gc_set_collecting(g);
            continue;
        }
        reachable++;
        if (gc_rc_was_passed(r)) {
            gc_rc_restore(o);
            gc_set_next(g, back); /* push on the front of the reversed run */
            if (back == young)
                back_last = g;
            else
                gc_restore_prev(back, g);
            back = g;
        } else {
            RCGC_ASSERT(!gc_rc_word_is_member(r));
            tail = gc_chain_vectored(tail, g);
        }
    }
    if (back_last != NULL) {
        gc_set_next(tail, back);
        gc_restore_prev(back, tail);
        tail = back_last; /* its next is young already */
        gc_list_set_tail(young, tail);
    } else {
        gc_chain_close(young, tail);
    }
    gc_clear_next_unreachable(unreachable);
    return reachable;
}

/* deduce_unreachable for a young collection on vec[0] (see above): young
 * is generation 0's list, empty; afterwards it holds the reachable
 * members and unreachable the others, as deduce_unreachable leaves them,
 * and vec[0] is empty. */
static rcgc_ssize deduce_unreachable_vec(rcgc_runtime *rt, gc_head *young,
                                         gc_head *unreachable,
                                         rcgc_ssize *reachable, uint64_t *t)
{
    gc_head **mem = rt->vec[0].v;
    rcgc_ssize n = vec_members(rt);
    rt->gc_borrowed = 1; /* until the sweep gives every word back */
    for (rcgc_ssize i = 0; i < n; i++) {
        prefetch_member(mem, i, n);
        init_refs(rt, gc_object_of(mem[i]));
    }
    lap(rt, RCGC_PHASE_UPDATE_REFS, t);
    rcgc_ssize nephemeral = 0;
    for (rcgc_ssize i = 0; i < n; i++) {
        prefetch_member(mem, i, n);
        rcgc_object *o = gc_object_of(mem[i]);
        const rcgc_type *ty = o->type;
        ty->traverse(o, visit_decref, o);
        if (ty->ephemerons != NULL) {
            ty->ephemerons(o, visit_decref_value, o);
            nephemeral++;
        }
    }
    lap(rt, RCGC_PHASE_SUBTRACT_REFS, t);
    gc_list_init(unreachable);
    struct mark_ctx m;
    mark_init(&m, rt, young);
    m.arr = mem;
    m.narr = n;
    mark_reachable_vec(&m);
    if (nephemeral > 0 && !m.overflow) mark_ephemerons_vec(&m);
    if (m.overflow) {
        /* CPython's scan on the list: the members linked into young in
         * order (the links are not the marks' business) */
        for (rcgc_ssize i = 0; i < n; i++) gc_link_vectored(mem[i], young);
        *reachable = split_fallback(young, unreachable, nephemeral);
    } else {
        *reachable = m.nsettled + sweep_vec(mem, n, m.nsettled, young,
                                            unreachable);
    }
    rt->vec[0].len = 0; /* every entry consumed */
    rt->gc_borrowed = 0;
    if (m.items != m.inline_items)
        check_words_restored(rt, young, unreachable, "mark stack release");
    mark_release(&m);
    RCGC_ASSERT(*reachable >= 0 && *reachable <= n);
    lap(rt, RCGC_PHASE_MOVE_UNREACHABLE, t);
    return n - *reachable;
}

/* Can this collection split on vec[0] (deduce_unreachable_vec)? */
static int split_on_vector(const rcgc_runtime *rt, int generation)
{
    return generation == 0 && !rt->lazy_untrack && rt->vec[0].len > 0 &&
           gc_list_is_empty(&rt->gen[0].head);
}

/* Trial deletion: base keeps the reachable objects, unreachable gets the
 * rest.  Returns how many are unreachable; *reachable gets the others. */
static rcgc_ssize deduce_unreachable(rcgc_runtime *rt, gc_head *base,
                                     gc_head *unreachable,
                                     rcgc_ssize *reachable, int all_tracked,
                                     uint64_t *t)
{
    rcgc_ssize candidates, nephemeral;
    rt->gc_borrowed = 1; /* until move_unreachable gives every word back */
    if (all_tracked) {
        candidates = update_subtract_refs(rt, base, &nephemeral);
        if (t != NULL) lap(rt, RCGC_PHASE_SUBTRACT_REFS, t);
    } else {
        candidates = update_refs(rt, base);
        if (t != NULL) lap(rt, RCGC_PHASE_UPDATE_REFS, t);
        nephemeral = subtract_refs(base);
        if (t != NULL) lap(rt, RCGC_PHASE_SUBTRACT_REFS, t);
    }
    gc_list_init(unreachable);
    *reachable = move_unreachable(rt, base, unreachable, nephemeral);
    rt->gc_borrowed = 0;
    RCGC_ASSERT(*reachable >= 0 && *reachable <= candidates);
    if (t != NULL) lap(rt, RCGC_PHASE_MOVE_UNREACHABLE, t);
    return candidates - *reachable;
}

/* ---- survivors ---- */

/* Untrack the survivors whose type says they can no longer be part of a
 * cycle, as CPython does: every collection untracks tuple-like types
 * (untrack_tuples), then a full collection examines the types flagged
 * RCGC_TYPE_UNTRACK_ON_FULL (untrack_dicts), so that a dict whose last
 * tracked value was a tuple untracked just before goes too.  Returns how many
 * it untracked.  Skipped (0) while no object of a lazily untracked type was
 * ever allocated in this runtime. */
static rcgc_ssize untrack_lazy(rcgc_runtime *rt, gc_head *young, int full)
{
    rcgc_ssize n = 0;
    if (!rt->lazy_untrack) return 0;
    for (int pass = 0; pass < (full ? 2 : 1); pass++) {
        unsigned want = pass ? RCGC_TYPE_UNTRACK_ON_FULL : 0;
        gc_head *next;
        for (gc_head *g = gc_next(young); g != young; g = next) {
            next = gc_next(g);
            rcgc_object *o = gc_object_of(g);
            const rcgc_type *t = o->type;
            if (t->may_untrack != NULL &&
                (t->flags & RCGC_TYPE_UNTRACK_ON_FULL) == want &&
                t->may_untrack(o)) {
                rcgc__untrack(rt, o);
                n++;
            }
        }
    }
    return n;
}

/* Survivors move up one generation; a full collection resets the long-lived
 * counts that gate the next one. */
static void promote(rcgc_runtime *rt, int generation, gc_head *young,
                    gc_head *old, rcgc_ssize survivors)
{
    RCGC_ASSERT(survivors >= 0 && survivors <= rt->tracked);
    if (young != old) {
        if (generation == RCGC_NUM_GENERATIONS - 2)
            rt->long_lived_pending += survivors;
        rcgc__join_gen(rt, young, generation + 1);
    } else {
        rt->long_lived_pending = 0;
        rt->long_lived_total = survivors;
    }
}

static void clear_collecting(gc_head *list)
{
    for (gc_head *g = gc_next(list); g != list; g = gc_next(g))
        gc_clear_collecting(g);
}

/* ---- legacy finalizers ---- */

static int has_legacy_finalizer(const rcgc_object *o)
{
    return o->type->legacy_finalize != NULL;
}

static int needs_finalize(const gc_head *g)
{
    return !gc_is_finalized(g) && gc_object_of(g)->type->finalize != NULL;
}

/* Clear NEXT_UNREACHABLE everywhere (unreachable becomes a normal list) and
 * move the objects with a legacy finalizer to finalizers.  Returns how many
 * it moved; *to_finalize gets how many of those left still need their PEP
 * 442 finalizer. */
static rcgc_ssize move_legacy_finalizers(gc_head *unreachable,
                                         gc_head *finalizers,
                                         rcgc_ssize *to_finalize)
{
    rcgc_ssize moved = 0;
    *to_finalize = 0;
    gc_head *next;
    for (gc_head *g = gc_next(unreachable); g != unreachable; g = next) {
        gc_clear_next_unreachable(g);
        next = gc_next(g);
        gc_prefetch_ahead(g, next);
        if (has_legacy_finalizer(gc_object_of(g))) {
            gc_clear_collecting(g);
            gc_list_move(g, finalizers);
            moved++;
        } else {
            *to_finalize += needs_finalize(g);
        }
    }
    return moved;
}

struct move_ctx {
    gc_head *list;     /* where reached objects go */
    rcgc_ssize moved;  /* how many went */
    rcgc_ssize finals; /* of those, how many still needed finalizing */
};

static int visit_move(rcgc_object *child, void *arg)
{
    if (gc_is_gc(child)) {
        gc_head *g = gc_head_of(child);
        if (gc_is_collecting(g)) {
            struct move_ctx *c = arg;
            gc_list_move(g, c->list);
            gc_clear_collecting(g);
            c->moved++;
            c->finals += needs_finalize(g);
        }
    }
    return 0;
}

/* An ephemeron table that is kept keeps its values. */
static int visit_move_value(rcgc_object *key, rcgc_object *value, void *arg)
{
    (void)key;
    return value != NULL ? visit_move(value, arg) : 0;
}

static void move_referents(rcgc_object *o, struct move_ctx *c)
{
    o->type->traverse(o, visit_move, c);
    if (o->type->ephemerons != NULL)
        o->type->ephemerons(o, visit_move_value, c);
}

/* Everything a legacy finalizer reaches is uncollectable too; the list grows
 * while it is walked.  Returns how many it moved (*to_finalize is adjusted
 * for them). */
static rcgc_ssize move_legacy_finalizer_reachable(gc_head *finalizers,
                                                  rcgc_ssize *to_finalize)
{
    struct move_ctx c = {finalizers, 0, 0};
    for (gc_head *g = gc_next(finalizers); g != finalizers; g = gc_next(g)) {
        move_referents(gc_object_of(g), &c);
    }
    *to_finalize -= c.finals;
    return c.moved;
}

/* A key that a legacy finalizer keeps keeps its value: the ephemeron rule
 * once more, now that the uncollectable set is known.  CPython's
 * WeakKeyDictionary holds its values strongly, so such a value was never
 * unreachable there; here the split (mark_ephemerons) left it in the unreachable list
 * because its key was.  Every value, in a table of the reachable set, whose
 * key is no longer COLLECTING (kept by a legacy finalizer) but which is,
 * comes back to the reachable set young with all it reaches that is still
 * unreachable; repeated while that keeps more keys.  Runs only when a
 * legacy finalizer kept something.  Returns how many came back
 * (*to_finalize is adjusted for them). */
static int visit_kept_value(rcgc_object *key, rcgc_object *value, void *arg)
{
    if (key == NULL || value == NULL) return 0;
    if (gc_is_gc(key) && gc_is_collecting(gc_head_of(key))) return 0;
    return visit_move(value, arg);
}

static rcgc_ssize move_kept_values(gc_head *young, rcgc_ssize *to_finalize)
{
    struct move_ctx c = {young, 0, 0};
    gc_head *last_old = gc_prev(young); /* what came back goes after it */
    rcgc_ssize before;
    do {
        before = c.moved;
        int came_back = last_old == young; /* young was empty */
        for (gc_head *g = gc_next(young); g != young; g = gc_next(g)) {
            rcgc_object *o = gc_object_of(g);
            if (came_back) o->type->traverse(o, visit_move, &c);
            if (o->type->ephemerons != NULL)
                o->type->ephemerons(o, visit_kept_value, &c);
            if (g == last_old) came_back = 1;
        }
    } while (c.moved != before);
    *to_finalize -= c.finals;
    return c.moved;
}

/* Move every tracked object reachable from objs (them included) out of the
 * generations into reached, by the traversal move_legacy_finalizer_reachable
 * uses; returns how many.  Teardown uses it to tell the objects that
 * uncollectable garbage keeps alive from leaks.  The caller merges reached
 * back. */
rcgc_ssize rcgc__move_reachable(rcgc_runtime *rt, rcgc_object *const *objs,
                                rcgc_ssize n, gc_head *reached)
{
    rcgc__vec_link_all(rt); /* every tracked object on a list */
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
        gc_head *list = &rt->gen[i].head;
        for (gc_head *g = gc_next(list); g != list; g = gc_next(g))
            gc_set_collecting(g); /* candidate; links stay valid */
    }
    struct move_ctx c = {reached, 0, 0};
    for (rcgc_ssize i = 0; i < n; i++) visit_move(objs[i], &c);
    for (gc_head *g = gc_next(reached); g != reached; g = gc_next(g))
        move_referents(gc_object_of(g), &c);
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++)
        clear_collecting(&rt->gen[i].head);
    return c.moved;
}

/* ---- weak references, finalizers, resurrection ---- */

/* Clear weak references to the unreachable objects and run the reactions of
 * those that are not garbage themselves (weak/weakref.c, installed with the
 * first weak reference: without one there is nothing to clear).  Returns
 * the weak reference objects freed by their reactions (they count as
 * collected); *ran is increased by the number of reactions run. */
static rcgc_ssize handle_weakrefs(rcgc_runtime *rt, gc_head *unreachable,
                                  gc_head *old, rcgc_ssize *ran)
{
    if (rt->up.handle_weakrefs == NULL) return 0;
    return rt->up.handle_weakrefs(rt, unreachable, old, ran);
}

/* Run every PEP 442 finalizer that has not run yet.  Each object is moved to
 * seen before its finalizer runs, so finalizers may free or move any other
 * object of the list.  Returns how many finalizers ran. */
static rcgc_ssize finalize_garbage(rcgc_runtime *rt, gc_head *collectable)
{
    rcgc_ssize called = 0;
    gc_head seen;
    gc_list_init(&seen);
    while (!gc_list_is_empty(collectable)) {
        gc_head *g = gc_next(collectable);
        rcgc_object *o = gc_object_of(g);
        gc_list_move(g, &seen);
        if (!gc_is_finalized(g) && o->type->finalize != NULL) {
            check_words_restored(rt, NULL, NULL, "a finalizer");
            rcgc__set_finalized(rt, o);
            rcgc_incref(o);
            int err = o->type->finalize(rt, o);
            if (err != 0) rcgc__unraisable(rt, RCGC_IN_FINALIZER, o, err);
            rcgc_decref(rt, o);
            called++;
        }
    }
    gc_list_merge(&seen, collectable);
    return called;
}

static void clear_unreachable_mask(gc_head *list)
{
    for (gc_head *g = gc_next(list); g != list; g = gc_next(g))
        gc_clear_next_unreachable(g);
    gc_clear_next_unreachable(list);
}

/* Run trial deletion again on the unreachable set: what finalizers made
 * reachable from outside, and everything it reaches, is resurrected and goes
 * to old; the rest goes to still_unreachable (COLLECTING left set).  Returns
 * the size of still_unreachable. */
static rcgc_ssize handle_resurrected_objects(rcgc_runtime *rt,
                                             gc_head *unreachable,
                                             gc_head *still_unreachable,
                                             gc_head *old)
{
    rcgc_ssize resurrected;
    clear_collecting(unreachable);
    rcgc_ssize still = deduce_unreachable(rt, unreachable, still_unreachable,
                                          &resurrected, 0, NULL);
    clear_unreachable_mask(still_unreachable);
    rcgc__join_gen(rt, unreachable, rcgc__list_gen(rt, old));
    return still;
}

/* ---- deletion ---- */

int rcgc__garbage_append(rcgc_runtime *rt, rcgc_object *o)
{
    if (rcgc__grow(rt, (void **)&rt->garbage, &rt->garbage_cap,
                   rt->ngarbage + 1, sizeof(rcgc_object *)) != 0) {
        fprintf(rt->debug_stream,
                "gc: out of memory: <%s %p> not added to the garbage list\n",
                o->type->name, (void *)o);
        return RCGC_ENOMEM;
    }
    rcgc_incref(o);
    rt->garbage[rt->ngarbage++] = o;
    return 0;
}

/* Break the cycles: clear each object (or save it under SAVEALL).  An object
 * that is still first afterwards survived clear and moves to old. */
static void delete_garbage(rcgc_runtime *rt, gc_head *collectable,
                           gc_head *old)
{
    while (!gc_list_is_empty(collectable)) {
        gc_head *g = gc_next(collectable);
        rcgc_object *o = gc_object_of(g);
        if (rt->debug & RCGC_DEBUG_SAVEALL) {
            rcgc__garbage_append(rt, o);
        } else if (o->type->clear != NULL) {
            check_words_restored(rt, NULL, NULL, "clear");
            rcgc_incref(o);
            o->type->clear(rt, o);
            rcgc_decref(rt, o);
        }
        if (gc_next(collectable) == g) {
            gc_clear_collecting(g);
            rcgc__gc_move(rt, g, old);
        }
    }
}

/* Uncollectable objects with a legacy finalizer (all of them under SAVEALL)
 * go to the garbage list; all stay tracked in old. */
static void handle_legacy_finalizers(rcgc_runtime *rt, gc_head *finalizers,
                                     gc_head *old)
{
    for (gc_head *g = gc_next(finalizers); g != finalizers; g = gc_next(g)) {
        rcgc_object *o = gc_object_of(g);
        if ((rt->debug & RCGC_DEBUG_SAVEALL) || has_legacy_finalizer(o)) {
            if (rcgc__garbage_append(rt, o) != 0) break;
        }
    }
    rcgc__join_gen(rt, finalizers, rcgc__list_gen(rt, old));
}

/* ---- one collection ---- */

static void show_stats_each_generations(rcgc_runtime *rt)
{
    fprintf(rt->debug_stream, "gc: objects in each generation:");
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++)
        fprintf(rt->debug_stream, " %td", rcgc__gen_size(rt, i));
    fprintf(rt->debug_stream, "\ngc: objects in permanent generation: %td\n",
            rcgc__gen_size(rt, RCGC_NUM_GENERATIONS));
}

static void update_stats(rcgc_runtime *rt, int generation, rcgc_ssize m,
                         rcgc_ssize n, uint64_t ns, uint64_t cpu_ns)
{
    rcgc_gc_stats *s = &rt->stats[generation];
    s->collections++;
    s->collected += m;
    s->uncollectable += n;
    s->total_ns += ns;
    for (int p = 0; p < RCGC_PHASE_COUNT; p++) s->phase_ns[p] += rt->phase_ns[p];
    rt->gc_cpu_ns[generation] += cpu_ns;
    rt->last_cpu_ns = cpu_ns;
}

rcgc_ssize rcgc__collect_main(rcgc_runtime *rt, int generation,
                              rcgc_ssize *n_collected,
                              rcgc_ssize *n_uncollectable)
{
    rcgc_ssize m = 0; /* objects collected */
    rcgc_ssize n = 0; /* unreachable objects that could not be collected */
    gc_head unreachable, finalizers, final_unreachable;
    memset(rt->phase_ns, 0, sizeof rt->phase_ns);
    if (rt->debug & RCGC_DEBUG_STATS) {
        fprintf(rt->debug_stream, "gc: collecting generation %d...\n",
                generation);
        show_stats_each_generations(rt);
    }
    uint64_t start = rcgc__os_now_ns(), t = start;
    uint64_t cpu_start = rcgc__os_thread_cpu_ns();
    check_words_restored(rt, NULL, NULL, "the start of a collection");

    if (generation + 1 < RCGC_NUM_GENERATIONS) rt->gen[generation + 1].count++;
    for (int i = 0; i <= generation; i++) rt->gen[i].count = 0;
    /* The young vectors of the collected generations onto their lists:
     * every pass below walks lists (docs/layout-16.md, step 3a), but for
     * a young collection that splits on vec[0] itself. */
    int on_vector = split_on_vector(rt, generation);
    for (int i = on_vector; i <= generation && i < RCGC__VEC_GENS; i++)
        rcgc__vec_link(rt, i);
    for (int i = 0; i < generation; i++) {
        /* A full collection's survivors stay where they are: the younger
         * generations' objects get generation 2 now.  A young collection's
         * all leave young for old (promote, or the later phases' moves to
         * old), each given old's generation then. */
        if (generation == RCGC_NUM_GENERATIONS - 1)
            rcgc__side_set_gen_list(rt, &rt->gen[i].head, generation);
        gc_list_merge(&rt->gen[i].head, &rt->gen[generation].head);
    }
    gc_head *young = &rt->gen[generation].head;
    gc_head *old = generation + 1 < RCGC_NUM_GENERATIONS
                       ? &rt->gen[generation + 1].head
                       : young;
    validate(rt, young, "young", 0);

    rcgc_ssize reachable, nunreachable, to_finalize, nfinal;
    /* A full collection sees every tracked object unless some are frozen
     * (or teardown holds some aside): then one pass does both first steps. */
    int all_tracked = young == old && gc_list_is_empty(&rt->permanent) &&
                      !rt->tearing_down;
    nunreachable = on_vector ? deduce_unreachable_vec(rt, young, &unreachable,
                                                      &reachable, &t)
                             : deduce_unreachable(rt, young, &unreachable,
                                                  &reachable, all_tracked, &t);
    rt->last_examined = reachable + nunreachable;
    check_words_restored(rt, &unreachable, NULL, "may_untrack");
    reachable -= untrack_lazy(rt, young, generation == RCGC_NUM_GENERATIONS - 1);
    lap(rt, RCGC_PHASE_UNTRACK_LAZY, &t);

    /* Before promote (CPython promotes first; the lists are apart, so the
     * order shows nothing), so that values a kept key keeps join the
     * survivors and count as such. */
    gc_list_init(&finalizers);
    nunreachable -= move_legacy_finalizers(&unreachable, &finalizers, &to_finalize);
    nunreachable -= move_legacy_finalizer_reachable(&finalizers, &to_finalize);
    if (!gc_list_is_empty(&finalizers)) {
        rcgc_ssize kept = move_kept_values(young, &to_finalize);
        nunreachable -= kept;
        reachable += kept;
    }
    lap(rt, RCGC_PHASE_MOVE_LEGACY_FINALIZERS, &t);
    promote(rt, generation, young, old, reachable);
    lap(rt, RCGC_PHASE_PROMOTE, &t);
    validate(rt, &finalizers, "finalizers", 0);
    validate(rt, &unreachable, "unreachable", 1);

    if (rt->debug & RCGC_DEBUG_COLLECTABLE)
        for (gc_head *g = gc_next(&unreachable); g != &unreachable; g = gc_next(g))
            debug_cycle(rt, "collectable", gc_object_of(g));

    /* Client code that runs from here on (weak reference callbacks,
     * finalizers) may resurrect objects; if none runs, the unreachable set
     * is final as it stands and the second trial deletion is skipped. */
    rcgc_ssize ran = 0;
    check_words_restored(rt, &unreachable, &finalizers, "weak references");
    m += handle_weakrefs(rt, &unreachable, old, &ran);
    lap(rt, RCGC_PHASE_HANDLE_WEAKREFS, &t);
    if (to_finalize > 0) ran += finalize_garbage(rt, &unreachable);
    lap(rt, RCGC_PHASE_FINALIZE_GARBAGE, &t);
    if (ran > 0) {
        nfinal = handle_resurrected_objects(rt, &unreachable,
                                            &final_unreachable, old);
    } else {
        gc_list_init(&final_unreachable);
        gc_list_merge(&unreachable, &final_unreachable);
        nfinal = nunreachable;
    }
    lap(rt, RCGC_PHASE_HANDLE_RESURRECTED, &t);

    m += nfinal;
    RCGC_ASSERT(nfinal >= 0 && m >= 0);
    check_words_restored(rt, &final_unreachable, &finalizers, "clear");
    delete_garbage(rt, &final_unreachable, old);
    RCGC_ASSERT(gc_list_is_empty(&final_unreachable));
    lap(rt, RCGC_PHASE_DELETE_GARBAGE, &t);

    for (gc_head *g = gc_next(&finalizers); g != &finalizers; g = gc_next(g)) {
        n++;
        if (rt->debug & RCGC_DEBUG_UNCOLLECTABLE)
            debug_cycle(rt, "uncollectable", gc_object_of(g));
    }
    if (rt->debug & RCGC_DEBUG_STATS)
        fprintf(rt->debug_stream,
                "gc: done, %td unreachable, %td uncollectable, %.4fs elapsed\n",
                n + m, n, (double)(rcgc__os_now_ns() - start) / 1e9);
    handle_legacy_finalizers(rt, &finalizers, old);
    RCGC_ASSERT(gc_list_is_empty(&finalizers));
    /* The CPU window lies inside the wall window (cpu <= wall). */
    uint64_t cpu_end = rcgc__os_thread_cpu_ns();
    uint64_t cpu_ns = cpu_end >= cpu_start ? cpu_end - cpu_start : 0;
    lap(rt, RCGC_PHASE_HANDLE_LEGACY_FINALIZERS, &t);

    update_stats(rt, generation, m, n, t - start, cpu_ns);
    if (RCGC_DEBUG >= 3 && rcgc__check_all(rt, 1) != 0)
        rcgc__fatal(rt, NULL, "collector invariants violated after a "
                              "collection of generation %d (see above)",
                    generation);
    if (n_collected != NULL) *n_collected = m;
    if (n_uncollectable != NULL) *n_uncollectable = n;
    return n + m;
}

/* ---- callbacks and triggers ---- */

static void invoke_callbacks(rcgc_runtime *rt, rcgc_gc_event event,
                             int generation, rcgc_ssize collected,
                             rcgc_ssize uncollectable, double duration,
                             double cpu_duration)
{
    rcgc_gc_info info = {generation, collected, uncollectable, duration,
                         cpu_duration};
    check_words_restored(rt, NULL, NULL, "a gc callback");
    /* By index over the live array: a callback may add or remove others. */
    for (rcgc_ssize i = 0; i < rt->ncallbacks; i++) {
        struct gc_callback cb = rt->callbacks[i];
        int err = cb.fn(rt, event, &info, cb.ctx);
        if (err != 0) rcgc__unraisable(rt, RCGC_IN_GC_CALLBACK, NULL, err);
    }
}

rcgc_ssize rcgc__collect_with_callback(rcgc_runtime *rt, int generation)
{
    rcgc_ssize collected = 0, uncollectable = 0;
    invoke_callbacks(rt, RCGC_GC_START, generation, 0, 0, 0.0, 0.0);
    uint64_t start = rcgc__os_now_ns();
    rcgc_ssize result =
        rcgc__collect_main(rt, generation, &collected, &uncollectable);
    invoke_callbacks(rt, RCGC_GC_STOP, generation, collected, uncollectable,
                     (double)(rcgc__os_now_ns() - start) / 1e9,
                     (double)rt->last_cpu_ns / 1e9);
    return result;
}

rcgc_ssize rcgc_gc_collect(rcgc_runtime *rt, int generation)
{
    if (generation < 0 || generation >= RCGC_NUM_GENERATIONS)
        return RCGC_ERANGE;
    if (rt->collecting) return 0;
    rt->collecting = 1;
    rcgc_ssize n = rcgc__collect_with_callback(rt, generation);
    rt->collecting = 0;
    return n;
}

rcgc_ssize rcgc_gc_collect_pending(rcgc_runtime *rt)
{
    if (!rt->pending || rt->collecting) return 0;
    rt->pending = 0;
    if (!rt->enabled) return 0;
    rt->collecting = 1;
    rcgc_ssize n = rcgc__collect_generations(rt);
    rt->collecting = 0;
    return n;
}

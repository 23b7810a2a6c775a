/*
 * weakref.c - weak references (CPython's Objects/weakrefobject.c): the weak
 * reference object, the per-referent list, clearing on refcount death, the
 * collector's handle_weakrefs phase, and weak methods.  Design and rules:
 * docs/weakref.md.
 *
 * List invariant: the referent's list starts with its basic reference (plain,
 * no callback, no argument) if it has one, followed by every other reference,
 * newest first.  A weak reference is in its referent's list exactly while its
 * referent pointer is non-NULL.
 */
#include <stddef.h>

#include "weak/weak_internal.h"

/* A weak method: a weak reference to self, plus func, held through an
 * internal weak reference or, for types that cannot be weakly referenced,
 * strongly. */
typedef struct weakmethod {
    weakref wr;
    weakref_internal *func_ref; /* strong; internal reference to func */
    rcgc_object *func_strong; /* strong; when func is not weakrefable */
    int alive;                /* 0 once self or func died */
} weakmethod;

static int weakref_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg);
static void weakref_clear(rcgc_runtime *rt, rcgc_object *self);
static void weakref_release(rcgc_runtime *rt, rcgc_object *self);

static const rcgc_type weakref_type = {
    .name = "weakref",
    .size = sizeof(weakref),
    .flags = RCGC_TYPE_GC,
    .traverse = weakref_traverse,
    .clear = weakref_clear,
    .release = weakref_release};

int rcgc_is_weakref(const rcgc_object *o)
{
    return o->type == &weakref_type;
}

/* ---- the list ---- */

/* Unlink wr from its referent's list and mark it dead (nothing else). */
static void clear_ref(weakref *wr)
{
    rcgc_object *o = wr->referent;
    if (o == NULL) return;
    RCGC_ASSERT(wr->prev != NULL ? wr->prev->next == wr : *weaklist_of(o) == wr);
    RCGC_ASSERT(wr->next == NULL || wr->next->prev == wr);
    if (wr->prev != NULL)
        wr->prev->next = wr->next;
    else
        *weaklist_of(o) = wr->next;
    if (wr->next != NULL) wr->next->prev = wr->prev;
    wr->prev = wr->next = NULL;
    wr->referent = NULL;
}

static int is_basic(const weakref *wr)
{
    return wr->kind == WR_PLAIN && wr->callback == NULL && wr->cb_arg == NULL;
}

static weakref *find_basic(const rcgc_object *o)
{
    weakref *head = *weaklist_of(o);
    return head != NULL && is_basic(head) ? head : NULL;
}

/* Insert: the basic reference at the head, any other right after it (or at
 * the head when there is none), so the others are newest first. */
static void insert_ref(rcgc_object *o, weakref *wr)
{
    weakref **list = weaklist_of(o);
    weakref *prev = NULL;
    RCGC_ASSERT(wr->referent == NULL && wr->prev == NULL && wr->next == NULL);
    RCGC_ASSERT(*list == NULL || (*list)->prev == NULL);
    if (!is_basic(wr) && *list != NULL && is_basic(*list)) prev = *list;
    weakref *next = prev != NULL ? prev->next : *list;
    wr->prev = prev;
    wr->next = next;
    if (prev != NULL)
        prev->next = wr;
    else
        *list = wr;
    if (next != NULL) next->prev = wr;
    wr->referent = o;
}

/* Whether the death of the referent makes wr do something. */
static int has_reaction(const weakref *wr)
{
    if (wr->kind == WR_INTERNAL) return wr->owner != NULL;
    /* A weak method always reacts (CPython's WeakMethod passes its own _cb,
     * which clears _alive, whether or not the user gave a callback): in a
     * collection it is queued, so one that uncollectable garbage holds
     * leaves the uncollectable set for the older generation, as CPython's
     * handle_weakrefs moves it. */
    if (wr->kind == WR_METHOD) return !(wr->flags & WR_DETACHED);
    return wr->callback != NULL && !(wr->flags & WR_DETACHED);
}

/* CPython's wr_callback != NULL: the references of containers, finalize
 * objects and weak methods always have one there (a closure), even when it
 * has nothing left to do; a plain reference has the program's, until its
 * referent's death takes it. */
static int has_callback(const weakref *wr)
{
    if (wr->kind != WR_PLAIN) return 1;
    return wr->callback != NULL && !(wr->flags & WR_DETACHED);
}

/* ---- the weak reference object ---- */

static int weakref_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    weakref *wr = (weakref *)self;
    if (wr->kind == WR_INTERNAL) return 0; /* owner and fire: no objects */
    RCGC_VISIT(wr->cb_arg);
    if (wr->kind == WR_METHOD) {
        weakmethod *m = (weakmethod *)wr;
        RCGC_VISIT(m->func_ref);
        RCGC_VISIT(m->func_strong);
    }
    return 0;
}

/* Unlink first: dropping the argument may free the referent, whose death
 * must not find this (dying) reference in its list. */
static void weakref_clear(rcgc_runtime *rt, rcgc_object *self)
{
    weakref *wr = (weakref *)self;
    clear_ref(wr);
    if (wr->kind == WR_INTERNAL) return; /* its owner lets go of it */
    wr->callback = NULL;
    if (wr->kind == WR_METHOD) {
        weakmethod *m = (weakmethod *)wr;
        if (m->func_ref != NULL) m->func_ref->wr.owner = NULL;
        RCGC_CLEAR(rt, m->func_ref);
        RCGC_CLEAR(rt, m->func_strong);
    }
    RCGC_CLEAR(rt, wr->cb_arg);
}

static void weakref_release(rcgc_runtime *rt, rcgc_object *self)
{
    (void)self;
    RCGC_ASSERT(rt->weakrefs > 0);
    rt->weakrefs--;
}

/* NEW: a weak reference object of size bytes, tracked, not yet linked. */
static void clear_on_death(rcgc_runtime *rt, rcgc_object *o);
static void clear_without_callbacks(rcgc_object *o);
static rcgc_ssize clear_in_collection(rcgc_runtime *rt, gc_head *unreachable,
                                      gc_head *old, rcgc_ssize *ran);

/* The core's calls into this layer (core/internal.h, rcgc__upcalls): set
 * before the first weak reference exists, so an object with a non-empty
 * list always finds them. */
static void install_upcalls(rcgc_runtime *rt)
{
    rt->up.clear_weakrefs = clear_on_death;
    rt->up.clear_weakrefs_silently = clear_without_callbacks;
    rt->up.handle_weakrefs = clear_in_collection;
}

static weakref *weakref_alloc(rcgc_runtime *rt, size_t size, unsigned kind)
{
    install_upcalls(rt);
    weakref *wr = (weakref *)rcgc_object_new_sized(rt, &weakref_type, size);
    if (wr == NULL) return NULL;
    rt->weakrefs++;
    wr->kind = kind;
    rcgc_object_track(rt, &wr->base);
    return wr;
}

static int check_referent(rcgc_runtime *rt, const rcgc_object *obj)
{
    rcgc__debug_check_object(rt, obj, "rcgc_weakref_new");
    if (!type_is_weakrefable(obj->type)) return RCGC_ENOTWEAK;
    /* A count of 0: the object is being freed (weak references already
     * cleared, or waiting in the trashcan). */
    if (obj->refcnt == 0) return RCGC_EINVAL;
    return 0;
}

rcgc_object *rcgc_weakref_new(rcgc_runtime *rt, rcgc_object *obj,
                              rcgc_weakref_callback callback,
                              rcgc_object *arg)
{
    int err = check_referent(rt, obj);
    if (err != 0) {
        rt->last_error = err;
        return NULL;
    }
    int basic = callback == NULL && arg == NULL;
    weakref *wr = basic ? find_basic(obj) : NULL;
    if (wr != NULL) {
        rcgc_incref(&wr->base);
        return &wr->base;
    }
    wr = weakref_alloc(rt, sizeof(weakref), WR_PLAIN);
    if (wr == NULL) return NULL;
    /* The allocation may have run a collection whose callbacks created the
     * basic reference meanwhile: look again (CPython does too). */
    weakref *existing = basic ? find_basic(obj) : NULL;
    if (existing != NULL) {
        rcgc_decref(rt, &wr->base);
        rcgc_incref(&existing->base);
        return &existing->base;
    }
    wr->callback = callback;
    if (arg != NULL) rcgc_incref(arg);
    wr->cb_arg = arg;
    insert_ref(obj, wr);
    return &wr->base;
}

weakref_internal *rcgc__weakref_new_internal(rcgc_runtime *rt,
                                             rcgc_object *obj,
                                             weakref_fire_fn fire, void *owner,
                                             rcgc_ssize slot)
{
    weakref_internal *wi = (weakref_internal *)weakref_alloc(
        rt, sizeof(weakref_internal), WR_INTERNAL);
    if (wi == NULL) return NULL;
    wi->wr.fire = fire;
    wi->wr.owner = owner;
    wi->slot = slot;
    insert_ref(obj, &wi->wr);
    return wi;
}

rcgc_object *rcgc_weakref_get(rcgc_runtime *rt, rcgc_object *wr)
{
    rcgc__debug_check_object(rt, wr, "rcgc_weakref_get");
    if (!rcgc_is_weakref(wr)) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    rcgc_object *o = ((weakref *)wr)->referent;
    if (o == NULL || o->refcnt == 0) return NULL;
    rcgc_incref(o);
    return o;
}

int rcgc_weakref_has_callback(const rcgc_object *wr)
{
    if (!rcgc_is_weakref(wr)) return 0;
    const weakref *w = (const weakref *)wr;
    return w->kind != WR_INTERNAL && has_reaction(w);
}

int rcgc_weakref_is_basic(const rcgc_object *wr)
{
    if (wr == NULL || !rcgc_is_weakref(wr)) return 0;
    const weakref *w = (const weakref *)wr;
    return w->referent != NULL && is_basic(w);
}

rcgc_ssize rcgc_weakref_count(const rcgc_object *obj)
{
    if (!type_is_weakrefable(obj->type)) return 0;
    rcgc_ssize n = 0;
    for (const weakref *wr = *weaklist_of(obj); wr != NULL; wr = wr->next) n++;
    return n;
}

rcgc_ssize rcgc_weakref_list(rcgc_runtime *rt, rcgc_object *obj,
                             rcgc_object ***out)
{
    rcgc_ssize n = rcgc_weakref_count(obj);
    rcgc_object **items = rcgc__malloc(rt, (size_t)n * sizeof *items);
    if (items == NULL) {
        *out = NULL;
        return RCGC_ENOMEM;
    }
    rcgc_ssize i = 0;
    if (n > 0)
        for (weakref *wr = *weaklist_of(obj); wr != NULL; wr = wr->next) {
            rcgc_incref(&wr->base);
            items[i++] = &wr->base;
        }
    *out = items;
    return n;
}

/* ---- reactions ---- */

static void method_fire(rcgc_runtime *rt, weakmethod *m);

/* The referent of wr died: run what wr does about it.  detach: refcount
 * death, where CPython takes the callback out of the reference first. */
static void fire(rcgc_runtime *rt, weakref *wr, int detach)
{
    switch (wr->kind) {
    case WR_PLAIN: {
        rcgc_weakref_callback cb = wr->callback;
        rcgc_object *arg = wr->cb_arg;
        if (detach) {
            wr->callback = NULL;
            wr->cb_arg = NULL;
        }
        int err = cb(rt, &wr->base, arg);
        if (err != 0) rcgc__unraisable(rt, RCGC_IN_WEAKREF_CALLBACK, &wr->base, err);
        if (detach) rcgc_xdecref(rt, arg);
        break;
    }
    case WR_METHOD:
        method_fire(rt, (weakmethod *)wr);
        break;
    case WR_INTERNAL: {
        weakref_internal *wi = (weakref_internal *)wr;
        if (wr->owner != NULL) wr->fire(rt, wi);
        break;
    }
    }
}

/* ---- refcount death (PyObject_ClearWeakRefs) ---- */

/* CPython's PyObject_ClearWeakRefs, whose steps show in what a callback's
 * collection finds alive:
 *   1. up to two references at the head without a callback (the basic
 *      reference, a proxy) are cleared and let go;
 *   2. if one reference is left, it is cleared and, if it has a reaction
 *      and is alive, reacts (held meanwhile, as a call's argument is);
 *   3. if several are left, every one still alive is held, callback or
 *      not (CPython keeps them in a tuple), all are cleared - so no
 *      callback finds o through another - then the reactions run in list
 *      order (newest first), then the held references are let go, last
 *      first (the tuple's deallocation).
 * A reference whose own count is 0 is being freed itself: never held, no
 * call.  The held ones are chained through their list fields, unused once
 * cleared. */
static void clear_on_death(rcgc_runtime *rt, rcgc_object *o)
{
    weakref **list = weaklist_of(o);
    for (int k = 0; k < 2 && *list != NULL && !has_callback(*list); k++)
        clear_ref(*list);
    if (*list == NULL) return;
    int several = (*list)->next != NULL;
    weakref *first = NULL, *last = NULL;
    while (*list != NULL) {
        weakref *wr = *list;
        clear_ref(wr);
        int reacts = has_reaction(wr);
        if (wr->base.refcnt <= 0 || (!several && !reacts)) continue;
        if (reacts && wr->kind == WR_PLAIN) wr->flags |= WR_DETACHED;
        rcgc_incref(&wr->base);
        wr->prev = last;
        wr->next = NULL;
        if (last != NULL)
            last->next = wr;
        else
            first = wr;
        last = wr;
    }
    /* A plain reference that reacts was marked DETACHED above (its callback
     * is taken as it runs); the others are asked again, as an earlier
     * reaction may have let go of their owner. */
    for (weakref *wr = first; wr != NULL; wr = wr->next)
        if (wr->kind == WR_PLAIN ? (wr->flags & WR_DETACHED) != 0 : has_reaction(wr))
            fire(rt, wr, 1);
    while (last != NULL) {
        weakref *wr = last;
        last = wr->prev;
        wr->prev = wr->next = NULL;
        rcgc_decref(rt, &wr->base);
    }
}

static void clear_without_callbacks(rcgc_object *o)
{
    weakref **list = weaklist_of(o);
    while (*list != NULL) clear_ref(*list);
}

/* ---- in a collection (CPython's handle_weakrefs) ---- */

/* The weak references queued for their reactions, in order: each held by
 * a reference and chained through its next field, free once clear_ref
 * took it off its referent's list (a cleared reference never gets a
 * referent again).  The chain, not the private list, drives the
 * reactions: a callback may untrack another queued reference, which takes
 * it off the list (found by the review of layout-16 step 3a). */
struct reaction_queue {
    gc_head list; /* where queued references wait, off their generations */
    weakref *first, *last;
};

/* Queue wr (alive, not garbage, cleared) for its reaction: hold it, chain
 * it and move it to the private list. */
static void queue_reaction(rcgc_runtime *rt, weakref *wr,
                           struct reaction_queue *q)
{
    gc_head *g = gc_head_of(&wr->base);
    gc_head *queue = &q->list;
    RCGC_ASSERT(wr->referent == NULL && wr->prev == NULL && wr->next == NULL);
    rcgc_incref(&wr->base);
    if (q->last != NULL)
        q->last->next = wr;
    else
        q->first = wr;
    q->last = wr;
    if (gc_is_tracked(g)) {
        gc_list_move_any(g, queue); /* from its list or its young vector */
    } else { /* the program untracked it; it comes back tracked */
        rcgc__track_into(rt, &wr->base, queue, 0);
    }
}

static rcgc_ssize clear_in_collection(rcgc_runtime *rt, gc_head *unreachable,
                                      gc_head *old, rcgc_ssize *ran)
{
    /* No weak reference object anywhere: nothing refers weakly to garbage. */
    if (rt->weakrefs == 0) return 0;
    struct reaction_queue queue = {{0, 0}, NULL, NULL};
    gc_list_init(&queue.list);
    /* Pass 1: clear every weak reference that is garbage or refers to
     * garbage; queue those that are not garbage and have a callback in
     * CPython's sense (has_callback: a weak method's or a container's even
     * when it has nothing left to do), which takes them out of whatever
     * list they were on, the legacy finalizers' included.  No client code
     * runs here. */
    for (gc_head *g = gc_next(unreachable); g != unreachable; g = gc_next(g)) {
        rcgc_object *o = gc_object_of(g);
        if (rcgc_is_weakref(o)) clear_ref((weakref *)o);
        if (!type_is_weakrefable(o->type)) continue;
        weakref **list = weaklist_of(o);
        while (*list != NULL) {
            weakref *wr = *list;
            clear_ref(wr);
            if (!has_callback(wr)) continue;
            /* Garbage itself: pretend it died first (bpo-38006). */
            if (gc_is_collecting(gc_head_of(&wr->base))) continue;
            queue_reaction(rt, wr, &queue);
        }
    }
    /* Pass 2: the reactions, in the chain's order.  A reference freed as a
     * result counts as collected; one still alive moves to the older
     * generation, unless a callback untracked it (it stays untracked) or
     * tracked it again (it stays young). */
    rcgc_ssize freed = 0;
    while (queue.first != NULL) {
        weakref *wr = queue.first;
        queue.first = wr->next;
        wr->next = NULL;
        if (has_reaction(wr)) {
            fire(rt, wr, 0);
            (*ran)++;
        }
        gc_head *g = gc_head_of(&wr->base);
        if (wr->base.refcnt == 1) { /* the queue's reference is the last */
            rcgc_decref(rt, &wr->base);
            freed++;
            continue;
        }
        if (gc_is_tracked(g) && !gc_is_vectored(g)) /* in the list */
            rcgc__gc_move(rt, g, old);
        rcgc_decref(rt, &wr->base);
    }
    RCGC_ASSERT(gc_list_is_empty(&queue.list));
    return freed;
}

/* ---- weak methods (CPython's WeakMethod) ---- */

/* The first of self and func died: the method is dead, and its callback
 * runs once. */
static void method_fire(rcgc_runtime *rt, weakmethod *m)
{
    if (!m->alive) return;
    m->alive = 0;
    /* If func died first, the method stays a (live) weak reference to self,
     * in self's list, as CPython's WeakMethod (a ref to the instance whose
     * _alive flag went false) until self dies. */
    rcgc_weakref_callback cb = m->wr.callback;
    if (cb == NULL) return;
    rcgc_incref(&m->wr.base);
    int err = cb(rt, &m->wr.base, m->wr.cb_arg);
    if (err != 0)
        rcgc__unraisable(rt, RCGC_IN_WEAKREF_CALLBACK, &m->wr.base, err);
    rcgc_decref(rt, &m->wr.base);
}

static void method_func_died(rcgc_runtime *rt, weakref_internal *func_ref)
{
    method_fire(rt, func_ref->wr.owner);
}

rcgc_object *rcgc_weakmethod_new(rcgc_runtime *rt,
                                 rcgc_object *self,
                                 rcgc_object *func,
                                 rcgc_weakref_callback callback,
                                 rcgc_object *arg)
{
    int err = check_referent(rt, self);
    if (err == 0 && func == NULL) err = RCGC_EINVAL;
    if (err != 0) {
        rt->last_error = err;
        return NULL;
    }
    weakmethod *m = (weakmethod *)weakref_alloc(rt, sizeof *m, WR_METHOD);
    if (m == NULL) return NULL;
    /* In self's list before the reference to func is made, as CPython's
     * WeakMethod.__new__ (ref.__new__, then ref(func, _cb)): when self and
     * func are one object, the reference to func is the newer. */
    insert_ref(self, &m->wr);
    if (type_is_weakrefable(func->type) && func->refcnt > 0) {
        m->func_ref = rcgc__weakref_new_internal(rt, func, method_func_died, m, 0);
        if (m->func_ref == NULL) {
            rcgc_decref(rt, &m->wr.base);
            return NULL;
        }
    } else {
        rcgc_incref(func);
        m->func_strong = func;
    }
    m->alive = 1;
    m->wr.callback = callback;
    if (arg != NULL) rcgc_incref(arg);
    m->wr.cb_arg = arg;
    return &m->wr.base;
}

int rcgc_weakmethod_get(rcgc_runtime *rt, rcgc_object *wm,
                        rcgc_object **self, rcgc_object **func)
{
    weakmethod *m = (weakmethod *)wm;
    *self = *func = NULL;
    if (!rcgc_is_weakref(wm) || m->wr.kind != WR_METHOD) {
        rt->last_error = RCGC_EINVAL;
        return RCGC_EINVAL;
    }
    if (!m->alive) return 0;
    rcgc_object *s = rcgc_weakref_get(rt, wm);
    if (s == NULL) return 0;
    rcgc_object *f = m->func_strong;
    if (f != NULL)
        rcgc_incref(f);
    else if ((f = rcgc_weakref_get(rt, &m->func_ref->wr.base)) == NULL) {
        rcgc_decref(rt, s);
        return 0;
    }
    *self = s;
    *func = f;
    return 1;
}

/* ---- the invariant checker ---- */

static int wr_violation(rcgc_runtime *rt, const rcgc_object *o,
                        const weakref *wr, const char *what)
{
    fprintf(rt->debug_stream,
            "rcgc: weak reference invariant violated: %s (referent %p, weak "
            "reference %p)\n",
            what, (const void *)o, (const void *)wr);
    if (o != NULL) rcgc__dump_object(rt->debug_stream, o);
    return RCGC_ECORRUPT;
}

/* o's list: doubly linked from a head with no prev, every entry a live
 * weak reference whose referent is o, the basic reference (if any) first.
 * Bounded by the number of weak reference objects, so a loop is reported. */
static int check_list(rcgc_runtime *rt, const rcgc_object *o)
{
    rcgc_ssize n = 0;
    const weakref *prev = NULL;
    for (const weakref *wr = *weaklist_of(o); wr != NULL; wr = wr->next) {
        if (++n > rt->weakrefs)
            return wr_violation(rt, o, wr, "list longer than the number of "
                                           "weak references (a loop)");
        if (!rcgc_is_weakref(&wr->base))
            return wr_violation(rt, o, wr, "list entry is not a weak reference");
        if (wr->prev != prev)
            return wr_violation(rt, o, wr, "prev link does not match");
        if (wr->referent != o)
            return wr_violation(rt, o, wr, "entry's referent is another object");
        if (wr->base.refcnt == 0)
            return wr_violation(rt, o, wr, "dead weak reference in the list");
        if (wr->kind > WR_INTERNAL || (wr->flags & ~WR_DETACHED) != 0)
            return wr_violation(rt, o, wr, "bad kind or flags");
        if (prev != NULL && is_basic(wr))
            return wr_violation(rt, o, wr, "basic reference not at the head");
        prev = wr;
    }
    return 0;
}

/* A weak reference: dead and unlinked, or linked into its referent's list
 * (its neighbours point at it).  O(1): the referent's whole list is walked
 * once, when the walk reaches the referent (every referent in debug
 * builds; the tracked and immortal ones in release builds). */
static int check_ref(rcgc_runtime *rt, const weakref *wr)
{
    const rcgc_object *o = wr->referent;
    if (o == NULL) {
        if (wr->prev != NULL || wr->next != NULL)
            return wr_violation(rt, NULL, wr, "dead weak reference still linked");
        return 0;
    }
    if (!type_is_weakrefable(o->type))
        return wr_violation(rt, o, wr, "referent not weakrefable");
    if (wr->prev != NULL ? wr->prev->next != wr : *weaklist_of(o) != wr)
        return wr_violation(rt, o, wr, "not in its referent's list");
    if (wr->next != NULL && wr->next->prev != wr)
        return wr_violation(rt, o, wr, "next link does not point back");
    return 0;
}

static int check_object(rcgc_runtime *rt, rcgc_object *o, void *arg)
{
    rcgc_ssize *nrefs = arg;
    if (type_is_weakrefable(o->type) && check_list(rt, o) != 0)
        return RCGC_ECORRUPT;
    if (!rcgc_is_weakref(o)) return 0;
    (*nrefs)++;
    return check_ref(rt, (const weakref *)o);
}

int rcgc__weakref_check(rcgc_runtime *rt)
{
    rcgc_ssize nrefs = 0;
    if (rt->weakrefs < 0)
        return wr_violation(rt, NULL, NULL, "negative weak reference count");
    int r = rcgc__for_each_object(rt, check_object, &nrefs);
    if (r != 0) return r;
    /* In debug builds the walk sees every object: the count must match. */
    if (RCGC_DEBUG >= 1 && nrefs != rt->weakrefs) {
        fprintf(rt->debug_stream,
                "rcgc: weak reference invariant violated: %td weak reference "
                "objects alive, the runtime counts %td\n",
                nrefs, rt->weakrefs);
        return RCGC_ECORRUPT;
    }
    return 0;
}

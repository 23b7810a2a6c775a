/*
 * finalize.c - finalize objects (CPython's weakref.finalize).
 *
 * A finalize object calls fn(rt, arg, ctx) at most once: when its object
 * dies (through an internal weak reference), when the program calls it, or
 * at teardown.  The runtime's registry (a list in creation order holding a
 * reference to each) keeps it alive until then, as CPython's
 * finalize._registry does.  At teardown the registered at-exit ones run
 * newest first; after that, nothing runs any more (CPython's _shutdown).
 */
#include "weak/weak_internal.h"

typedef struct finalize_obj {
    rcgc_object base;
    weakref_internal *wr;      /* strong; to the object, owner = this */
    rcgc_finalize_fn fn;
    rcgc_object *arg;          /* strong; may be NULL */
    void *ctx;
    uint64_t serial;           /* creation order */
    int atexit;                /* call at teardown if still registered */
    int registered;            /* in the runtime's registry */
    struct finalize_obj *prev; /* registry links */
    struct finalize_obj *next;
} finalize_obj;

static int fin_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    finalize_obj *f = (finalize_obj *)self;
    RCGC_VISIT(f->wr);
    RCGC_VISIT(f->arg);
    return 0;
}

static void fin_drop_ref(rcgc_runtime *rt, finalize_obj *f)
{
    if (f->wr != NULL) f->wr->wr.owner = NULL;
    RCGC_CLEAR(rt, f->wr);
}

static void fin_clear(rcgc_runtime *rt, rcgc_object *self)
{
    finalize_obj *f = (finalize_obj *)self;
    fin_drop_ref(rt, f);
    RCGC_CLEAR(rt, f->arg);
}

static const rcgc_type finalize_type = {
    .name = "finalize",
    .size = sizeof(finalize_obj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = fin_traverse,
    .clear = fin_clear};

static finalize_obj *as_finalize(const rcgc_object *o)
{
    return o->type == &finalize_type ? (finalize_obj *)o : NULL;
}

/* ---- the registry ---- */

static void finalize_atexit(rcgc_runtime *rt);

static void registry_add(rcgc_runtime *rt, finalize_obj *f)
{
    RCGC_ASSERT(!f->registered && f->prev == NULL && f->next == NULL);
    RCGC_ASSERT(rt->fin_last == NULL || rt->fin_last->next == NULL);
    rcgc_incref(&f->base);
    rt->up.finalize_atexit = finalize_atexit;
    f->registered = 1;
    f->prev = rt->fin_last;
    f->next = NULL;
    if (rt->fin_last != NULL)
        rt->fin_last->next = f;
    else
        rt->fin_first = f;
    rt->fin_last = f;
}

/* Unlink f; the caller drops the registry's reference afterwards. */
static void registry_remove(rcgc_runtime *rt, finalize_obj *f)
{
    RCGC_ASSERT(f->registered);
    RCGC_ASSERT(f->prev != NULL ? f->prev->next == f : rt->fin_first == f);
    RCGC_ASSERT(f->next != NULL ? f->next->prev == f : rt->fin_last == f);
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        rt->fin_first = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    else
        rt->fin_last = f->prev;
    f->prev = f->next = NULL;
    f->registered = 0;
}

/* ---- calling ---- */

/* Unregister f and, unless teardown has passed the at-exit stage, call it.
 * Returns 1 if it was registered. */
static int fin_run(rcgc_runtime *rt, finalize_obj *f, int *result)
{
    if (!f->registered) return 0;
    registry_remove(rt, f); /* first: at most once, even if fn re-enters */
    int r = 0;
    if (!rt->fin_shutdown) {
        r = f->fn(rt, f->arg, f->ctx);
        if (r != 0) rcgc__unraisable(rt, RCGC_IN_FINALIZE_CALLBACK, &f->base, r);
    }
    if (result != NULL) *result = r;
    fin_drop_ref(rt, f);
    RCGC_CLEAR(rt, f->arg);
    rcgc_decref(rt, &f->base); /* the registry's reference */
    return 1;
}

static void fin_died(rcgc_runtime *rt, weakref_internal *wr)
{
    finalize_obj *f = wr->wr.owner;
    rcgc_incref(&f->base);
    fin_run(rt, f, NULL);
    rcgc_decref(rt, &f->base);
}

rcgc_object *rcgc_finalize_new(rcgc_runtime *rt, rcgc_object *obj,
                               rcgc_finalize_fn fn,
                               rcgc_object *arg, void *ctx)
{
    rcgc__debug_check_object(rt, obj, "rcgc_finalize_new");
    if (fn == NULL || obj->refcnt <= 0) {
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    if (!type_is_weakrefable(obj->type)) {
        rt->last_error = RCGC_ENOTWEAK;
        return NULL;
    }
    finalize_obj *f = (finalize_obj *)rcgc_object_new(rt, &finalize_type);
    if (f == NULL) return NULL;
    rcgc_object_track(rt, &f->base);
    f->wr = rcgc__weakref_new_internal(rt, obj, fin_died, f, 0);
    if (f->wr == NULL) {
        rcgc_decref(rt, &f->base);
        return NULL;
    }
    f->fn = fn;
    if (arg != NULL) rcgc_incref(arg);
    f->arg = arg;
    f->ctx = ctx;
    f->atexit = 1;
    f->serial = ++rt->fin_serial;
    registry_add(rt, f);
    return &f->base;
}

int rcgc_finalize_call(rcgc_runtime *rt, rcgc_object *f,
                       int *result)
{
    rcgc__debug_check_object(rt, f, "rcgc_finalize_call");
    finalize_obj *fo = as_finalize(f);
    if (result != NULL) *result = 0;
    return fo != NULL ? fin_run(rt, fo, result) : RCGC_EINVAL;
}

int rcgc_finalize_alive(const rcgc_object *f)
{
    const finalize_obj *fo = as_finalize(f);
    return fo != NULL && fo->registered;
}

/* detach and peek: NEW references to the object (NULL if gone) and arg. */
static int fin_look(rcgc_runtime *rt, rcgc_object *f, rcgc_object **obj,
                    rcgc_object **arg, int detach)
{
    finalize_obj *fo = as_finalize(f);
    if (obj != NULL) *obj = NULL;
    if (arg != NULL) *arg = NULL;
    if (fo == NULL) return RCGC_EINVAL;
    if (!fo->registered) return 0;
    if (obj != NULL) *obj = rcgc_weakref_get(rt, &fo->wr->wr.base);
    if (arg != NULL && fo->arg != NULL) {
        rcgc_incref(fo->arg);
        *arg = fo->arg;
    }
    if (detach) {
        registry_remove(rt, fo);
        fin_drop_ref(rt, fo);
        RCGC_CLEAR(rt, fo->arg);
        rcgc_decref(rt, f); /* the registry's reference */
    }
    return 1;
}

int rcgc_finalize_detach(rcgc_runtime *rt, rcgc_object *f,
                         rcgc_object **obj, rcgc_object **arg)
{
    rcgc__debug_check_object(rt, f, "rcgc_finalize_detach");
    return fin_look(rt, f, obj, arg, 1);
}

int rcgc_finalize_peek(rcgc_runtime *rt, rcgc_object *f,
                       rcgc_object **obj, rcgc_object **arg)
{
    rcgc__debug_check_object(rt, f, "rcgc_finalize_peek");
    return fin_look(rt, f, obj, arg, 0);
}

int rcgc_finalize_atexit(const rcgc_object *f)
{
    const finalize_obj *fo = as_finalize(f);
    return fo != NULL && fo->registered && fo->atexit;
}

void rcgc_finalize_set_atexit(rcgc_object *f, int atexit)
{
    finalize_obj *fo = as_finalize(f);
    if (fo != NULL && fo->registered) fo->atexit = atexit != 0;
}

/* ---- teardown ---- */

/* The newest registered finalize object marked at-exit, or NULL. */
static finalize_obj *newest_atexit(rcgc_runtime *rt)
{
    for (finalize_obj *f = rt->fin_last; f != NULL; f = f->prev)
        if (f->atexit) return f;
    return NULL;
}

/* Teardown's at-exit stage (rt->up.finalize_atexit, installed by the first
 * registration): call every registered at-exit finalize object. */
static void finalize_atexit(rcgc_runtime *rt)
{
    /* As CPython's finalize._exitfunc: newest first, and ones created
     * meanwhile are the newest, so they run next. */
    finalize_obj *f;
    while ((f = newest_atexit(rt)) != NULL) {
        rcgc_incref(&f->base);
        fin_run(rt, f, NULL);
        rcgc_decref(rt, &f->base);
    }
    /* From now on nothing is called; the registry lets go of the rest. */
    rt->fin_shutdown = 1;
    while ((f = rt->fin_first) != NULL) {
        registry_remove(rt, f);
        fin_drop_ref(rt, f);
        rcgc_decref(rt, &f->base);
    }
}

/*
 * types.c - how rcl's classes map onto rcgc types, in one place.
 *
 * Every class gets its own heap type (rcgc_type_new), named after the
 * class, so that the collector's messages, counts by type and heap
 * snapshots say "Listener", not "instance".  The class object owns one
 * reference to its type and drops it in its release hook (value.c); every
 * instance holds one of its own from its allocation until its memory is
 * released, so a class may die before its last instance (in a cycle with
 * it, say) and a program that makes classes without end frees their types
 * as it goes (docs/types.md).
 */
#include <stdio.h>
#include <string.h>

#include "rcl.h"

static int inst_traverse(V *self, rcgc_visit_fn visit, void *arg)
{
    inst_obj *o = (inst_obj *)self;
    RCGC_VISIT(o->cls);
    RCGC_VISIT(o->dict);
    return 0;
}

static void inst_clear(rcgc_runtime *rt, V *self)
{
    inst_obj *o = (inst_obj *)self;
    RCGC_CLEAR(rt, o->dict);
    RCGC_CLEAR(rt, o->cls);
}

/* The spec every class's type copies. */
static const rcgc_type instance_template = {
    .name = "instance", .size = sizeof(inst_obj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = inst_traverse, .clear = inst_clear,
    .finalize = rcl_instance_finalize};

static const rcgc_type *instance_type(class_obj *cls)
{
    if (cls->itype == NULL) {
        rcgc_type spec = instance_template;
        spec.name = cls->name;                   /* copied by rcgc_type_new */
        cls->itype = rcgc_type_new(I->rt, &spec); /* NEW: the class's reference */
    }
    return cls->itype;
}

V *rcl_instance_new(V *cls)
{
    const rcgc_type *t = instance_type((class_obj *)cls);
    inst_obj *o = t != NULL ? (inst_obj *)rcgc_object_new(I->rt, t) : NULL;
    if (o == NULL) return rcl_error("out of memory");
    rcgc_incref(cls);
    o->cls = cls;
    if ((o->dict = rcl_dict_new()) == NULL) return rcl_drop(&o->base);
    rcgc_object_track(I->rt, &o->base);
    return &o->base;
}

/*
 * PEP 442: the collector (or the last decref) calls this at most once per
 * instance, before clear.  It runs the script's __del__ with a reference of
 * its own, so a __del__ that stores self somewhere resurrects it.  An
 * error in __del__ is reported here and goes no further (CPython's
 * "Exception ignored in"): a hook must return, never unwind.
 */
int rcl_instance_finalize(rcgc_runtime *rt, V *self)
{
    inst_obj *o = (inst_obj *)self;
    if (o->cls == NULL) return 0;
    V *del = rcl_dict_get(((class_obj *)o->cls)->methods, I->s_del);
    if (del == NULL) return 0;
    /* The finalizer may run while an error or a return value is on its
     * way up (their decrefs are what killed the object): keep them. */
    char saved[sizeof I->err];
    int failed = I->failed;
    V *retval = I->retval;
    if (failed) memcpy(saved, I->err, sizeof saved);
    I->failed = 0;
    I->retval = NULL;
    rcgc_incref(del);
    V *r = rcl_call(del, &self, 1);
    rcgc_decref(rt, del);
    if (r == NULL) {
        fflush(stdout);
        fprintf(stderr, "Exception ignored in %s.__del__: %s\n",
                ((class_obj *)o->cls)->name, I->err);
    }
    rcgc_xdecref(rt, r);
    I->failed = failed;
    I->retval = retval;
    if (failed) memcpy(I->err, saved, sizeof saved);
    return 0;
}

/*
 * types.c - how rcl's classes map onto rcgc types, in one place.
 *
 * Every class gets its own rcgc_type, named after the class, so that the
 * collector's messages, counts by type and heap snapshots say "Listener",
 * not "instance".  rcgc has no heap types yet (a type whose lifetime the
 * runtime manages): a type descriptor must outlive every instance of it,
 * so these are malloc'd when the class is first instantiated and freed
 * after rcgc_runtime_free (rcl_types_free), when no instance can be left.
 * A program that makes classes without end would grow this list; heap
 * types (with a reference from each instance to its type) are the cure.
 */
#include <stdio.h>
#include <stdlib.h>
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

/* The template every class's type copies. */
static const rcgc_type instance_template = {
    .name = "instance", .size = sizeof(inst_obj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = inst_traverse, .clear = inst_clear,
    .finalize = rcl_instance_finalize};

struct type_node {
    struct type_node *next;
    rcgc_type type;
};
static struct type_node *all_types;

const rcgc_type *rcl_instance_type(class_obj *cls)
{
    if (cls->itype != NULL) return cls->itype;
    struct type_node *t = malloc(sizeof *t);
    if (t == NULL) return NULL;
    t->type = instance_template;
    t->type.name = cls->name; /* interned: lives as long as the types */
    t->next = all_types;
    all_types = t;
    cls->itype = &t->type;
    return cls->itype;
}

void rcl_types_free(void)
{
    while (all_types != NULL) {
        struct type_node *t = all_types;
        all_types = t->next;
        free(t);
    }
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
    } else {
        rcgc_decref(rt, r);
    }
    I->failed = failed;
    I->retval = retval;
    if (failed) memcpy(I->err, saved, sizeof saved);
    return 0;
}

/*
 * opening_puzzle.c - the seed's opening puzzle, in C.
 *
 *     class A: pass
 *     a = A(); b = A(); a.other = b; b.other = a
 *     del a, b
 *     gc.collect()            # -> ?
 *
 * CPython 3.11 answers 2: an instance keeps its attributes inside itself, so
 * the cycle is two objects.  CPython up to 3.10 answered 4: every instance
 * owned a separate attribute-dict object, and those two dicts were garbage
 * too.  Both layouts are built here, as rcgc types, and collected.
 */
#include <stdio.h>
#include <string.h>

#include "rcgc.h"

/* ---- layout 1: attributes inside the object (CPython 3.11) ---- */

typedef struct instance {
    rcgc_object base;
    rcgc_object *other; /* the one attribute this puzzle uses */
} instance;

static int instance_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((instance *)self)->other);
    return 0;
}

static void instance_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((instance *)self)->other);
}

static const rcgc_type instance_type = {
    .name = "A", .size = sizeof(instance), .flags = RCGC_TYPE_GC,
    .traverse = instance_traverse, .clear = instance_clear};

/* ---- layout 2: each instance owns an attribute dict (CPython <= 3.10) ---- */

#define DICT_SLOTS 4

typedef struct dict {
    rcgc_object base;
    int n;
    const char *keys[DICT_SLOTS];
    rcgc_object *values[DICT_SLOTS];
} dict;

static int dict_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    dict *d = (dict *)self;
    for (int i = 0; i < d->n; i++) RCGC_VISIT(d->values[i]);
    return 0;
}

static void dict_clear(rcgc_runtime *rt, rcgc_object *self)
{
    dict *d = (dict *)self;
    while (d->n > 0) {
        d->n--;
        RCGC_CLEAR(rt, d->values[d->n]);
    }
}

static const rcgc_type dict_type = {
    .name = "dict", .size = sizeof(dict), .flags = RCGC_TYPE_GC,
    .traverse = dict_traverse, .clear = dict_clear};

/* d[key] = value (value borrowed; the dict takes its own reference). */
static int dict_set(rcgc_runtime *rt, rcgc_object *self, const char *key,
                    rcgc_object *value)
{
    dict *d = (dict *)self;
    for (int i = 0; i < d->n; i++) {
        if (strcmp(d->keys[i], key) == 0) {
            rcgc_incref(value);
            RCGC_SETREF(rt, d->values[i], value);
            return 0;
        }
    }
    if (d->n == DICT_SLOTS) return RCGC_ENOMEM;
    rcgc_incref(value);
    d->keys[d->n] = key;
    d->values[d->n++] = value;
    return 0;
}

typedef struct instance_with_dict {
    rcgc_object base;
    rcgc_object *dict; /* __dict__, a separate object */
} instance_with_dict;

static int iwd_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((instance_with_dict *)self)->dict);
    return 0;
}

static void iwd_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((instance_with_dict *)self)->dict);
}

static const rcgc_type iwd_type = {
    .name = "A", .size = sizeof(instance_with_dict), .flags = RCGC_TYPE_GC,
    .traverse = iwd_traverse, .clear = iwd_clear};

/* NEW: an instance, tracked; its dict comes on first use. */
static rcgc_object *iwd_new(rcgc_runtime *rt)
{
    rcgc_object *self = rcgc_object_new(rt, &iwd_type);
    if (self != NULL) rcgc_object_track(rt, self);
    return self;
}

/* setattr(self, key, value): materializes the instance's dict if needed. */
static int iwd_setattr(rcgc_runtime *rt, rcgc_object *self, const char *key,
                       rcgc_object *value)
{
    instance_with_dict *i = (instance_with_dict *)self;
    if (i->dict == NULL) {
        i->dict = rcgc_object_new(rt, &dict_type);
        if (i->dict == NULL) return RCGC_ENOMEM;
        rcgc_object_track(rt, i->dict);
    }
    return dict_set(rt, i->dict, key, value);
}

/* ---- the puzzle ---- */

/* Under SAVEALL the collector keeps what it found in the garbage list:
 * print their type names, as `[type(o).__name__ for o in gc.garbage]`. */
static void show_garbage(rcgc_runtime *rt)
{
    rcgc_object **objs;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &objs);
    printf("      what it found:");
    for (rcgc_ssize i = 0; i < n; i++)
        printf("%s %s", i ? "," : "", objs[i]->type->name);
    printf("\n");
    rcgc_objects_free(rt, objs, n);
    /* Break the saved cycles so that teardown finds nothing left. */
    rcgc_gc_set_debug(rt, 0);
    rcgc_gc_garbage_clear(rt);
    rcgc_gc_collect(rt, 2);
}

int main(void)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0; /* gc.disable(): only explicit collections */
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;

    printf("The opening puzzle: two objects refer to each other, the program\n"
           "drops both, and the collector runs.\n\n");

    printf("  a = A(); b = A(); a.other = b; b.other = a; del a, b\n");
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    rcgc_object *a = rcgc_object_new(rt, &instance_type);
    rcgc_object *b = rcgc_object_new(rt, &instance_type);
    if (a == NULL || b == NULL) return 1;
    rcgc_incref(b);
    ((instance *)a)->other = b;
    rcgc_incref(a);
    ((instance *)b)->other = a;
    rcgc_object_track(rt, a);
    rcgc_object_track(rt, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    printf("  collect() -> %td      attributes inside the object "
           "(CPython 3.11+ answers 2)\n",
           rcgc_gc_collect(rt, 2));
    show_garbage(rt);

    printf("\n  the same, each instance owning an attribute dict "
           "(CPython <= 3.10 layout)\n");
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    a = iwd_new(rt);
    b = iwd_new(rt);
    if (a == NULL || b == NULL) return 1;
    if (iwd_setattr(rt, a, "other", b) != 0 || iwd_setattr(rt, b, "other", a) != 0)
        return 1;
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    printf("  collect() -> %td      the two dicts are in the cycle too "
           "(CPython 3.10 answers 4)\n",
           rcgc_gc_collect(rt, 2));
    show_garbage(rt);

    rcgc_teardown_report report;
    int rc = rcgc_runtime_free(rt, &report);
    printf("\nteardown: %td objects alive, %td uncollectable\n", report.alive,
           report.uncollectable);
    return rc == 0 ? 0 : 1;
}

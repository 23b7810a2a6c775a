/*
 * heaptype.c - heap types: type descriptors the library allocates, counts
 * references to and frees (CPython's heap types; docs/types.md).
 *
 * A heap type is a block from the runtime's MEM domain: the public
 * rcgc_type first (what programs and instances point to), then its runtime,
 * the program's references, the instances that hold it, and the copy of
 * its name.  The runtime keeps the live ones in a pointer table (the
 * registry: misuse checks, teardown, rcgc_check); debug builds also keep
 * the addresses of the freed ones, so that a call on a freed type and the
 * dump of a freed object say so instead of reading freed memory.
 *
 * object.c calls in twice, each behind one test of RCGC_TYPE_HEAP: when an
 * instance is created (rcgc__heaptype_object_new takes the instance's
 * reference before the allocation, which may run a collection whose
 * finalizers drop the program's last reference) and after its memory was
 * released (rcgc__heaptype_instance_gone).  Static types never get here.
 */
#include <string.h>

#include "core/internal.h"

typedef struct heaptype {
    rcgc_type type;     /* first: &ht->type is the type programs see */
    rcgc_runtime *rt;   /* owner */
    rcgc_ssize refs;    /* references the program holds */
    rcgc_ssize instances; /* instances whose memory is not released */
    char name[];        /* the copy type.name points to */
} heaptype;

#define HEAP_SPEC_FLAGS                                                       \
    (RCGC_TYPE_GC | RCGC_TYPE_UNTRACK_ON_FULL | RCGC_TYPE_WEAKREF |           \
     RCGC_TYPE_HEAP)

static heaptype *ht_of(const rcgc_type *t)
{
    return (heaptype *)(void *)(uintptr_t)t; /* type is the first member */
}

static void ht_registry_init(rcgc_runtime *rt, rcgc__ptrmap *m)
{
    if (m->meta.calloc == NULL) {
        rcgc_allocator meta = rcgc__heap_raw_base(&rt->heap);
        rcgc__ptrmap_init(m, &meta);
    }
}

/* 1 if t is a live heap type of rt.  Reads the registry only, never *t. */
static int ht_is_live(const rcgc_runtime *rt, const rcgc_type *t)
{
    return t != NULL && rcgc__ptrmap_find(&rt->heaptypes, t) != NULL;
}

static int ht_was_freed(const rcgc_runtime *rt, const rcgc_type *t)
{
    return RCGC_DEBUG >= 1 && rcgc__ptrmap_find(&rt->heaptypes_dead, t) != NULL;
}

/* Misuse of what (a type that is not a live heap type of rt): fatal in
 * debug builds, RCGC_EINVAL otherwise.  Release builds read nothing of t;
 * debug builds read the public rcgc_type only (never the heap type's
 * wrapper, which a static type does not have), unless t is a heap type
 * this runtime freed. */
static int ht_misuse(rcgc_runtime *rt, const rcgc_type *t, const char *what)
{
    if (RCGC_DEBUG >= 1) {
        if (t == NULL) rcgc__fatal(rt, NULL, "%s: NULL type", what);
        if (ht_was_freed(rt, t))
            rcgc__fatal(rt, NULL,
                        "%s: heap type %p was already freed (its reference "
                        "count would go below zero, or a reference was "
                        "used after the last one was dropped)",
                        what, (const void *)t);
        if (!(t->flags & RCGC_TYPE_HEAP))
            rcgc__fatal(rt, NULL,
                        "%s: type '%s' is static (not made by rcgc_type_new): "
                        "it is not reference counted",
                        what, t->name != NULL ? t->name : "?");
        /* Not ht_of(t)->rt: t may be a static type carrying the flag. */
        rcgc__fatal(rt, NULL,
                    "%s: type '%s' is not a heap type of runtime %p: it "
                    "belongs to another runtime, or it is a static type "
                    "carrying RCGC_TYPE_HEAP (only rcgc_type_new sets it)",
                    what, t->name != NULL ? t->name : "?", (void *)rt);
    }
    (void)what;
    if (rt != NULL) rt->last_error = RCGC_EINVAL;
    return RCGC_EINVAL;
}

static void ht_registry_forget(rcgc_runtime *rt, heaptype *ht)
{
    rcgc__ptrmap_remove(&rt->heaptypes, &ht->type);
    /* Debug builds remember the address (out of memory: they forget it,
     * and a later misuse is reported as of an unknown type). */
    if (RCGC_DEBUG >= 1) {
        ht_registry_init(rt, &rt->heaptypes_dead);
        (void)rcgc__ptrmap_put(&rt->heaptypes_dead, &ht->type, 0, 0);
    }
}

static void ht_free(rcgc_runtime *rt, heaptype *ht)
{
    RCGC_ASSERT(ht->refs == 0 && ht->instances == 0);
    ht_registry_forget(rt, ht);
    rcgc__free(rt, ht);
}

static int ht_spec_is_valid(const rcgc_type *spec)
{
    if (spec == NULL || spec->name == NULL) return 0;
    if (spec->size < sizeof(rcgc_object)) return 0;
    if (spec->flags & ~(unsigned)HEAP_SPEC_FLAGS) return 0;
    return !(spec->flags & RCGC_TYPE_GC) || spec->traverse != NULL;
}

const rcgc_type *rcgc_type_new(rcgc_runtime *rt, const rcgc_type *spec)
{
    if (rt == NULL) return NULL;
    if (!ht_spec_is_valid(spec)) {
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, NULL,
                        "rcgc_type_new: invalid spec '%s' (NULL name, size "
                        "below the header, unknown flags, or a GC type "
                        "without traverse)",
                        spec != NULL && spec->name != NULL ? spec->name : "?");
        rt->last_error = RCGC_EINVAL;
        return NULL;
    }
    size_t len = strlen(spec->name) + 1;
    if (len > SIZE_MAX - sizeof(heaptype)) {
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    heaptype *ht = rcgc__malloc(rt, sizeof(heaptype) + len);
    if (ht == NULL) {
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    ht_registry_init(rt, &rt->heaptypes);
    if (rcgc__ptrmap_put(&rt->heaptypes, &ht->type, 0, 0) != 0) {
        rcgc__free(rt, ht);
        rt->last_error = RCGC_ENOMEM;
        return NULL;
    }
    if (RCGC_DEBUG >= 1) rcgc__ptrmap_remove(&rt->heaptypes_dead, &ht->type);
    ht->type = *spec;
    memcpy(ht->name, spec->name, len);
    ht->type.name = ht->name;
    ht->type.flags = spec->flags | RCGC_TYPE_HEAP;
    ht->rt = rt;
    ht->refs = 1;
    ht->instances = 0;
    return &ht->type;
}

int rcgc_type_incref(rcgc_runtime *rt, const rcgc_type *type)
{
    if (rt == NULL) return RCGC_EINVAL;
    if (!ht_is_live(rt, type)) return ht_misuse(rt, type, "rcgc_type_incref");
    ht_of(type)->refs++;
    return 0;
}

int rcgc_type_decref(rcgc_runtime *rt, const rcgc_type *type)
{
    if (rt == NULL) return RCGC_EINVAL;
    if (!ht_is_live(rt, type)) return ht_misuse(rt, type, "rcgc_type_decref");
    heaptype *ht = ht_of(type);
    if (ht->refs <= 0) {
        if (RCGC_DEBUG >= 1)
            rcgc__fatal(rt, NULL,
                        "rcgc_type_decref: heap type '%s': the program's "
                        "reference count would go below zero (%td instances "
                        "hold it)",
                        ht->name, ht->instances);
        rt->last_error = RCGC_EINVAL;
        return RCGC_EINVAL;
    }
    if (--ht->refs == 0 && ht->instances == 0) ht_free(rt, ht);
    return 0;
}

int rcgc_type_is_heap(const rcgc_type *type)
{
    return type != NULL && (type->flags & RCGC_TYPE_HEAP) != 0;
}

rcgc_ssize rcgc_type_refcount(rcgc_runtime *rt, const rcgc_type *type)
{
    if (rt == NULL) return RCGC_EINVAL;
    if (!ht_is_live(rt, type)) return ht_misuse(rt, type, "rcgc_type_refcount");
    const heaptype *ht = ht_of(type);
    return ht->refs + ht->instances;
}

rcgc_ssize rcgc_type_heap_count(rcgc_runtime *rt)
{
    if (rt == NULL) return RCGC_EINVAL;
    return (rcgc_ssize)rt->heaptypes.count;
}

/* ---- the object path (object.c) ---- */

rcgc_object *rcgc__heaptype_object_new(rcgc_runtime *rt, const rcgc_type *type,
                                       size_t size)
{
    /* Release builds trust the flag (only rcgc_type_new sets it) and check
     * the owner; debug builds consult the registry. */
    if (RCGC_DEBUG >= 1 ? !ht_is_live(rt, type) : ht_of(type)->rt != rt) {
        (void)ht_misuse(rt, type, "rcgc_object_new");
        return NULL;
    }
    heaptype *ht = ht_of(type);
    ht->instances++; /* first: the allocation may collect */
    rcgc_object *o = rcgc__object_alloc(rt, type, size);
    if (o == NULL) rcgc__heaptype_instance_gone(rt, type);
    return o;
}

void rcgc__heaptype_instance_gone(rcgc_runtime *rt, const rcgc_type *type)
{
    heaptype *ht = ht_of(type);
    RCGC_ASSERT(ht->rt == rt && ht->instances > 0);
    if (--ht->instances == 0 && ht->refs == 0) ht_free(rt, ht);
}

/* ---- teardown, debug dumps, rcgc_check ---- */

void rcgc__heaptypes_fini(rcgc_runtime *rt)
{
    rcgc__ptrmap *m = &rt->heaptypes;
    /* Every object is freed or leaked by now: leaked ones (release builds:
     * untracked objects still referenced) are never read again. */
    for (size_t i = 0; i < m->cap; i++) {
        const void *key = m->slots[i].key;
        if (key != NULL) rcgc__free(rt, ht_of(key));
    }
    rcgc__ptrmap_fini(m);
    rcgc__ptrmap_fini(&rt->heaptypes_dead);
}

const char *rcgc__type_name_for_dump(rcgc_runtime *rt, const rcgc_type *t)
{
    if (t == NULL) return NULL;
    if (rt != NULL && ht_was_freed(rt, t) && !ht_is_live(rt, t))
        return "(a heap type, freed)";
    return t->name;
}

static int ht_count_instance(rcgc_runtime *rt, rcgc_object *o, void *arg)
{
    (void)arg;
    if (!(o->type->flags & RCGC_TYPE_HEAP)) return 0;
    rcgc__ptrmap_entry *e = rcgc__ptrmap_find(&rt->heaptypes, o->type);
    if (e == NULL) return 1;
    e->size++;
    return 0;
}

int rcgc__heaptype_check(rcgc_runtime *rt)
{
    rcgc__ptrmap *m = &rt->heaptypes;
    FILE *f = rt->debug_stream;
    for (size_t i = 0; i < m->cap; i++) m->slots[i].size = 0; /* scratch */
    int bad = rcgc__for_each_object(rt, ht_count_instance, NULL);
    if (bad)
        fprintf(f, "rcgc: invariant violated: an instance of a heap type "
                   "that is not in the registry\n");
    for (size_t i = 0; i < m->cap && !bad; i++) {
        const rcgc__ptrmap_entry *e = &m->slots[i];
        if (e->key == NULL) continue;
        const heaptype *ht = ht_of(e->key);
        /* Objects the walk cannot see (release builds: untracked ones;
         * the trashcan's deposited ones) hold references too: counted
         * instances are a lower bound. */
        if (ht->rt != rt || ht->refs < 0 || ht->instances < 0 ||
            (rcgc_ssize)e->size > ht->instances ||
            (ht->refs == 0 && ht->instances == 0) ||
            !(ht->type.flags & RCGC_TYPE_HEAP) || ht->type.name != ht->name) {
            fprintf(f, "rcgc: invariant violated: heap type '%s' %p: runtime "
                       "%p, %td references, %td instances (%zu found)\n",
                    ht->name, (const void *)ht, (void *)ht->rt, ht->refs,
                    ht->instances, e->size);
            bad = 1;
        }
    }
    for (size_t i = 0; i < m->cap; i++) m->slots[i].size = 0;
    return bad ? RCGC_ECORRUPT : 0;
}

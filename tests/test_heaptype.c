/*
 * test_heaptype.c - heap types (rcgc_type_new; docs/types.md): a type is
 * freed exactly when the program's last reference and its last instance are
 * gone, in either order, whichever way the instance ends (refcount death,
 * the trashcan, a collection, resurrection, the garbage list, immortality,
 * freeze, teardown); hooks may drop their own type's last reference;
 * diagnosis results outlive the instances with the class name; allocation
 * failures anywhere leave nothing behind; misuse is reported.
 */
#include "test.h"
#include "rcgc_diag.h"
#include "rcgc_trace.h"

/* A heap type copied from the test-suite's static spec, with name. */
static const rcgc_type *heap_from(rcgc_runtime *rt, const rcgc_type *spec,
                                  const char *name)
{
    rcgc_type s = *spec;
    s.name = name;
    return rcgc_type_new(rt, &s);
}

/* ======================================================================== */
/* Basics                                                                   */

TEST(new_copies_spec_and_name)
{
    rcgc_runtime *rt = t_runtime();
    char name[16];
    strcpy(name, "Point");
    rcgc_type spec = t_node_type;
    spec.name = name;
    const rcgc_type *cls = rcgc_type_new(rt, &spec);
    REQUIRE(cls != NULL);
    memset(name, 'x', sizeof name - 1); /* the copy does not change */
    memset(&spec, 0, sizeof spec);
    CHECK_STR(cls->name, "Point");
    CHECK(cls->name != name);
    CHECK_EQ(cls->size, t_node_type.size);
    CHECK(cls->traverse == t_node_type.traverse);
    CHECK(cls->clear == t_node_type.clear);
    CHECK_EQ(cls->flags, t_node_type.flags | RCGC_TYPE_HEAP);
    CHECK(rcgc_type_is_heap(cls));
    CHECK(!rcgc_type_is_heap(&t_node_type));
    CHECK(!rcgc_type_is_heap(NULL));
    CHECK_EQ(rcgc_type_refcount(rt, cls), 1);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_incref(rt, cls), 0);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 2);
    CHECK_EQ(rcgc_type_decref(rt, cls), 0);
    CHECK_EQ(rcgc_type_decref(rt, cls), 0); /* the last one frees it */
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}

/* The program drops its reference first: the instance keeps the type. */
TEST(type_freed_after_last_instance)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *cls = heap_from(rt, &t_node_type, "Cls");
    REQUIRE(cls != NULL);
    rcgc_object *a = t_new(rt, cls, 1), *b = t_new(rt, cls, 2);
    REQUIRE(a != NULL && b != NULL);
    CHECK(a->type == cls);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 3);
    CHECK_EQ(rcgc_type_decref(rt, cls), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 2);
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 1);
    CHECK_STR(b->type->name, "Cls");
    rcgc_decref(rt, b); /* its memory goes, then the type */
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}

/* The instances go first: the program's reference keeps the type. */
TEST(type_freed_after_last_reference)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *cls = heap_from(rt, &t_leaf_type, "Leaf");
    REQUIRE(cls != NULL);
    rcgc_object *a = rcgc_object_new(rt, cls);
    REQUIRE(a != NULL);
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 1);
    /* the program may take a reference again through an instance's type */
    a = rcgc_object_new_sized(rt, cls, cls->size + 64);
    REQUIRE(a != NULL);
    const rcgc_type *again = a->type;
    CHECK_EQ(rcgc_type_incref(rt, again), 0);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 3);
    CHECK_EQ(rcgc_type_decref(rt, cls), 0);
    CHECK_EQ(rcgc_type_decref(rt, again), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}

/* Many classes made and dropped: nothing accumulates. */
TEST(classes_come_and_go)
{
    rcgc_runtime *rt = t_runtime();
    for (int i = 0; i < 500; i++) {
        char name[32];
        snprintf(name, sizeof name, "Class%d", i);
        const rcgc_type *cls = heap_from(rt, &t_wnode_type, name);
        REQUIRE(cls != NULL);
        rcgc_object *o = t_new(rt, cls, i);
        REQUIRE(o != NULL);
        CHECK_STR(o->type->name, name);
        CHECK_EQ(rcgc_type_decref(rt, cls), 0);
        rcgc_decref(rt, o);
    }
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}

TEST(invalid_specs_are_refused)
{
#if RCGC_DEBUG >= 1
    printf("     (the debug build aborts instead: see misuse tests)\n");
#else
    rcgc_runtime *rt = t_runtime();
    rcgc_type s = t_node_type;
    s.name = NULL;
    CHECK(rcgc_type_new(rt, &s) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    s = t_node_type;
    s.traverse = NULL;
    CHECK(rcgc_type_new(rt, &s) == NULL);
    s = t_node_type;
    s.flags |= 0x100u;
    CHECK(rcgc_type_new(rt, &s) == NULL);
    s = t_node_type;
    s.size = 4;
    CHECK(rcgc_type_new(rt, &s) == NULL);
    CHECK(rcgc_type_new(rt, NULL) == NULL);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
#endif
    CHECK(rcgc_type_new(NULL, &t_node_type) == NULL);
    CHECK_EQ(rcgc_type_heap_count(NULL), RCGC_EINVAL);
}

/* A spec that is itself a heap type makes a new, independent one. */
TEST(copy_of_a_heap_type)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *a = heap_from(rt, &t_node_type, "A");
    REQUIRE(a != NULL);
    const rcgc_type *b = rcgc_type_new(rt, a);
    REQUIRE(b != NULL && b != a);
    CHECK(b->name != a->name);
    CHECK_STR(b->name, "A");
    CHECK_EQ(rcgc_type_decref(rt, a), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_decref(rt, b), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}


/* ======================================================================== */
/* Hooks that drop their own type's last reference                          */

/* A GC type whose hooks can drop the program's reference to the type of
 * the instance (the class object's release, in an interpreter), resurrect
 * the instance, or hold another object. */
typedef struct hobj {
    rcgc_object base;
    rcgc_object *ref;  /* strong, traversed */
} hobj;

static struct {
    int drop_in_clear, drop_in_finalize, drop_in_release, drop_in_legacy;
    int resurrect;           /* finalize stores self in holder */
    rcgc_object *holder;     /* a t_node */
    int clears, finalizes, releases, legacies;
    rcgc_ssize heap_types_in_release; /* rcgc_type_heap_count then */
} hk;

static int hobj_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((hobj *)self)->ref);
    return 0;
}

static void drop_type(rcgc_runtime *rt, rcgc_object *self, int *flag)
{
    if (*flag) {
        *flag = 0;
        CHECK_EQ(rcgc_type_decref(rt, self->type), 0);
        CHECK_EQ(rcgc_type_heap_count(rt), 1); /* the instance holds it */
        CHECK(self->type->name != NULL && self->type->clear != NULL);
    }
}

static void hobj_clear(rcgc_runtime *rt, rcgc_object *self)
{
    hk.clears++;
    drop_type(rt, self, &hk.drop_in_clear);
    RCGC_CLEAR(rt, ((hobj *)self)->ref);
}

static int hobj_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    hk.finalizes++;
    drop_type(rt, self, &hk.drop_in_finalize);
    if (hk.resurrect && hk.holder != NULL) t_append(rt, hk.holder, self);
    return 0;
}

static int hobj_legacy(rcgc_runtime *rt, rcgc_object *self)
{
    hk.legacies++;
    drop_type(rt, self, &hk.drop_in_legacy);
    return 0;
}

static void hobj_release(rcgc_runtime *rt, rcgc_object *self)
{
    hk.releases++;
    drop_type(rt, self, &hk.drop_in_release);
    hk.heap_types_in_release = rcgc_type_heap_count(rt);
    CHECK_STR(self->type->name, "Hobj"); /* still readable */
}

static const rcgc_type hobj_spec = {
    .name = "Hobj",
    .size = sizeof(hobj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = hobj_traverse,
    .clear = hobj_clear,
    .finalize = hobj_finalize,
    .release = hobj_release,
};

static const rcgc_type *hobj_type(rcgc_runtime *rt, int legacy)
{
    memset(&hk, 0, sizeof hk);
    rcgc_type s = hobj_spec;
    if (legacy) s.legacy_finalize = hobj_legacy;
    return rcgc_type_new(rt, &s);
}

static rcgc_object *hobj_new(rcgc_runtime *rt, const rcgc_type *t)
{
    rcgc_object *o = rcgc_object_new(rt, t);
    if (o != NULL) rcgc_object_track(rt, o);
    return o;
}

/* Each hook in turn drops the program's last reference while the instance
 * dies by its reference count. */
TEST(hook_drops_last_type_reference_refcount_death)
{
    for (int which = 0; which < 4; which++) {
        rcgc_runtime *rt = t_runtime();
        const rcgc_type *t = hobj_type(rt, 1);
        REQUIRE(t != NULL);
        rcgc_object *o = hobj_new(rt, t);
        REQUIRE(o != NULL);
        int *flags[4] = {&hk.drop_in_clear, &hk.drop_in_finalize,
                         &hk.drop_in_release, &hk.drop_in_legacy};
        *flags[which] = 1;
        rcgc_decref(rt, o);
        CHECK_EQ(*flags[which], 0); /* the hook ran */
        CHECK_EQ(hk.releases, 1);
        CHECK_EQ(hk.heap_types_in_release, 1);
        CHECK_EQ(rcgc_type_heap_count(rt), 0);
        t_teardown(rt);
    }
}

/* The same while the collector frees a cycle of two instances. */
TEST(hook_drops_last_type_reference_in_collection)
{
    for (int which = 0; which < 3; which++) {
        rcgc_runtime *rt = t_runtime();
        const rcgc_type *t = hobj_type(rt, 0);
        REQUIRE(t != NULL);
        rcgc_object *a = hobj_new(rt, t), *b = hobj_new(rt, t);
        REQUIRE(a != NULL && b != NULL);
        ((hobj *)a)->ref = b;
        ((hobj *)b)->ref = a; /* the creation references, given over */
        int *flags[3] = {&hk.drop_in_clear, &hk.drop_in_finalize,
                         &hk.drop_in_release};
        *flags[which] = 1;
        CHECK_EQ(rcgc_type_heap_count(rt), 1);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
        CHECK_EQ(*flags[which], 0);
        CHECK_EQ(hk.releases, 2);
        CHECK_EQ(rcgc_type_heap_count(rt), 0);
        t_teardown(rt);
    }
}

/* A finalizer resurrects a cycle of heap-type instances: the type stays
 * while they live on, and goes when they finally die. */
TEST(resurrected_cycle_keeps_type)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = hobj_type(rt, 0);
    REQUIRE(t != NULL);
    hk.holder = t_node(rt, 0);
    hk.resurrect = 1;
    rcgc_object *a = hobj_new(rt, t), *b = hobj_new(rt, t);
    REQUIRE(a != NULL && b != NULL);
    ((hobj *)a)->ref = b;
    ((hobj *)b)->ref = a; /* each holds the other's creation reference */
    CHECK_EQ(rcgc_type_decref(rt, t), 0); /* only the instances hold it */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0); /* resurrected */
    CHECK_EQ(hk.finalizes, 2);
    CHECK_EQ(hk.releases, 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_refcount(rt, t), 2);
    hk.resurrect = 0;
    t_clear(rt, hk.holder); /* the cycle is garbage again */
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(hk.finalizes, 2); /* PEP 442: once */
    CHECK_EQ(hk.releases, 2);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    rcgc_decref(rt, hk.holder);
    t_teardown(rt);
}

/* ======================================================================== */
/* Weak reference callbacks                                                 */

static const rcgc_type *cb_type;
static int cb_calls;

static int cb_drop_type(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    (void)arg;
    cb_calls++;
    CHECK_EQ(rcgc_type_decref(rt, cb_type), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 1); /* the dying instance holds it */
    return 0;
}

TEST(weakref_callback_drops_last_type_reference)
{
    for (int collect = 0; collect < 2; collect++) {
        rcgc_runtime *rt = t_runtime();
        cb_type = heap_from(rt, &t_wnode_type, "Weakly");
        REQUIRE(cb_type != NULL);
        cb_calls = 0;
        rcgc_object *o = t_new(rt, cb_type, 1);
        REQUIRE(o != NULL);
        rcgc_object *wr = rcgc_weakref_new(rt, o, cb_drop_type, NULL);
        REQUIRE(wr != NULL);
        if (collect) {
            t_append(rt, o, o); /* a self-cycle the collector frees */
            rcgc_decref(rt, o);
            CHECK_EQ(rcgc_type_heap_count(rt), 1);
            CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
        } else {
            rcgc_decref(rt, o);
        }
        CHECK_EQ(cb_calls, 1);
        CHECK_EQ(rcgc_type_heap_count(rt), 0);
        CHECK(!t_wr_alive(rt, wr));
        rcgc_decref(rt, wr);
        t_teardown(rt);
    }
}

/* The weak reference itself may be the last holder of an instance whose
 * finalizer drops the type (t_wfnode: __del__). */
static int fin_drop_type(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    cb_calls++;
    CHECK_EQ(rcgc_type_decref(rt, self->type), 0);
    return 0;
}

TEST(finalizer_drops_last_type_reference_with_weakrefs)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_wfnode_type, "Del");
    REQUIRE(t != NULL);
    cb_calls = 0;
    rcgc_object *o = t_new(rt, t, 1);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = fin_drop_type;
    rcgc_object *wr = rcgc_weakref_new(rt, o, NULL, NULL);
    REQUIRE(wr != NULL);
    rcgc_decref(rt, o);
    CHECK_EQ(cb_calls, 1);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    CHECK(!t_wr_alive(rt, wr));
    rcgc_decref(rt, wr);
    t_teardown(rt);
}

/* ======================================================================== */
/* Other ways an instance ends                                              */

/* An uncollectable cycle (legacy finalizers) sits in the garbage list,
 * which keeps the instances and so their type. */
TEST(garbage_list_keeps_type)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_lnode_type, "Legacy");
    REQUIRE(t != NULL);
    rcgc_object *a = t_new(rt, t, 1), *b = t_new(rt, t, 2);
    REQUIRE(a != NULL && b != NULL);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 2);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_refcount(rt, t), 2);
    t_clean_garbage(rt);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}

/* RCGC_DEBUG_SAVEALL: the collector's garbage goes to the list instead,
 * with the debug messages naming the class. */
TEST(saveall_and_debug_messages_name_the_class)
{
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug_stream = f;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    const rcgc_type *t = heap_from(rt, &t_node_type, "Saved");
    REQUIRE(t != NULL);
    rcgc_object *a = t_new(rt, t, 1), *b = t_new(rt, t, 2);
    REQUIRE(a != NULL && b != NULL);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL | RCGC_DEBUG_COLLECTABLE);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 2);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    rcgc_gc_set_debug(rt, RCGC_DEBUG_COLLECTABLE);
    t_clean_garbage(rt); /* breaks and frees them */
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    /* a cycle freed by the collector itself */
    t = heap_from(rt, &t_node_type, "Freed");
    a = t_new(rt, t, 3);
    REQUIRE(a != NULL);
    t_append(rt, a, a);
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    rcgc_gc_set_debug(rt, 0);
    char buf[4096];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(strstr(buf, "gc: collectable <Saved 0x") != NULL);
    CHECK(strstr(buf, "gc: collectable <Freed 0x") != NULL);
    t_teardown(rt);
    fclose(f);
}

/* Deep chains go through the trashcan's deferred frees. */
TEST(trashcan_chain_keeps_type_to_the_end)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_node_type, "Link");
    REQUIRE(t != NULL);
    rcgc_object *head = t_new(rt, t, 0);
    REQUIRE(head != NULL);
    rcgc_object *cur = head;
    long n = t_scale(20000);
    for (long i = 1; i < n; i++) {
        rcgc_object *next = t_new(rt, t, (int)i);
        REQUIRE(next != NULL);
        REQUIRE(t_append_steal(rt, cur, next) == 0);
        cur = next;
    }
    CHECK_EQ(rcgc_type_refcount(rt, t), n + 1);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    rcgc_decref(rt, head);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* Immortal and frozen instances keep their type until teardown, which
 * frees it after them (t_teardown checks that every byte went back). */
TEST(immortal_and_frozen_instances_keep_type_until_teardown)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *ti = heap_from(rt, &t_node_type, "Immortal");
    const rcgc_type *tf = heap_from(rt, &t_node_type, "Frozen");
    REQUIRE(ti != NULL && tf != NULL);
    rcgc_object *i = t_new(rt, ti, 1), *f = t_new(rt, tf, 2);
    REQUIRE(i != NULL && f != NULL);
    CHECK_EQ(rcgc_object_make_immortal(rt, i), 0);
    t_append(rt, f, f);
    rcgc_decref(rt, f);
    rcgc_gc_freeze(rt);
    CHECK_EQ(rcgc_type_decref(rt, ti), 0);
    CHECK_EQ(rcgc_type_decref(rt, tf), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 2);
    CHECK_STR(i->type->name, "Immortal");
    t_teardown(rt);
}

/* Teardown with live instances and types the program still holds: the
 * objects go first, then the types, and every byte comes back. */
TEST(teardown_with_live_instances_and_types)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_wnode_type, "Live");
    const rcgc_type *unused = heap_from(rt, &t_leaf_type, "Unused");
    REQUIRE(t != NULL && unused != NULL);
    rcgc_object *a = t_new(rt, t, 1), *b = t_new(rt, t, 2);
    REQUIRE(a != NULL && b != NULL);
    t_link2(rt, a, b); /* a cycle teardown collects */
    rcgc_object *wr = rcgc_weakref_new(rt, a, NULL, NULL);
    REQUIRE(wr != NULL);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, wr);
    t_teardown(rt); /* the program's references to t and unused too */
}

TEST(teardown_with_a_held_instance)
{
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug_stream = f;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    const rcgc_type *t = heap_from(rt, &t_node_type, "Held");
    REQUIRE(t != NULL);
    rcgc_object *a = t_new(rt, t, 1); /* tracked, still referenced */
    REQUIRE(a != NULL);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_teardown_report r;
    CHECK_EQ(rcgc_runtime_free(rt, &r), RCGC_ELIVE);
    CHECK_EQ(r.alive, 1);
    CHECK_EQ(t_alloc_state.live_blocks, 0);
    CHECK_EQ(t_alloc_state.live_bytes, 0);
    t_alloc_release(&t_alloc_state);
    char buf[512];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(strstr(buf, "<Held 0x") != NULL); /* named while it lived */
    fclose(f);
}

/* ======================================================================== */
/* Diagnosis results outlive the instances and their type                   */

TEST(counts_by_type_outlive_the_class)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_node_type, "Widget");
    REQUIRE(t != NULL);
    rcgc_object *o[3];
    for (int i = 0; i < 3; i++) REQUIRE((o[i] = t_new(rt, t, i)) != NULL);
    rcgc_diag_counts c;
    REQUIRE(rcgc_diag_count_types(rt, &c) == 0);
    rcgc_diag_growth *g = rcgc_diag_growth_new(rt);
    REQUIRE(g != NULL);
    rcgc_diag_counts gc1;
    REQUIRE(rcgc_diag_growth_update(rt, g, &gc1) == 0);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, o[i]);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 0); /* the class is gone */
    CHECK_EQ(rcgc_diag_counts_get(&c, "Widget"), 3);
    CHECK_EQ(rcgc_diag_counts_get(&gc1, "Widget"), 3);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK_EQ(rcgc_diag_counts_write(f, &c, 0, RCGC_DIAG_TEXT), 0);
    CHECK_EQ(rcgc_diag_counts_write(f, &gc1, 0, RCGC_DIAG_JSON), 0);
    /* the growth state remembers the name after the class went */
    rcgc_diag_counts gc2;
    REQUIRE(rcgc_diag_growth_update(rt, g, &gc2) == 0);
    CHECK_EQ(gc2.n, 0);
    char buf[2048];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(strstr(buf, "Widget") != NULL);
    CHECK(strstr(buf, "\"Widget\"") != NULL);
    fclose(f);
    rcgc_diag_counts_free(rt, &gc2);
    rcgc_diag_counts_free(rt, &gc1);
    rcgc_diag_counts_free(rt, &c);
    rcgc_diag_growth_free(rt, g);
    t_teardown(rt);
}

/* why-alive and top-retainer results hold their objects, so the objects'
 * class lives as long as the result, and its name prints. */
TEST(why_alive_and_retainers_keep_the_class)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_node_type, "Gadget");
    REQUIRE(t != NULL);
    rcgc_object *holder = t_node(rt, 0);
    rcgc_object *x = t_new(rt, t, 1);
    REQUIRE(holder != NULL && x != NULL);
    t_append(rt, holder, x);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, x, NULL, &p) == 0);
    rcgc_diag_retainers r;
    REQUIRE(rcgc_diag_top_retainers(rt, 0, NULL, &r) == 0);
    rcgc_decref(rt, x);
    rcgc_decref(rt, holder);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 1); /* the results hold x */
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK_EQ(rcgc_diag_path_write(f, &p, NULL, RCGC_DIAG_TEXT), 0);
    CHECK_EQ(rcgc_diag_retainers_write(f, &r, 0, NULL, RCGC_DIAG_JSON), 0);
    rcgc_diag_path_free(rt, &p);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    rcgc_diag_retainers_free(rt, &r); /* the last holder of x */
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    char buf[8192];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(strstr(buf, "Gadget") != NULL);
    fclose(f);
    t_teardown(rt);
}

/* ======================================================================== */
/* Misuse (as tests/test_misuse.c: fatal at RCGC_DEBUG >= 1, codes else)    */

#if RCGC_DEBUG >= 1
static void decref_static(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_type_decref(rt, &t_node_type);
}

static void incref_static(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_type_incref(rt, &t_leaf_type);
}

static void decref_below_zero(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_node_type, "Twice");
    rcgc_object *o = t_new(rt, t, 1);
    (void)o;
    rcgc_type_decref(rt, t);
    rcgc_type_decref(rt, t); /* BUG: the instance's reference is not ours */
}

static void decref_after_free(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_node_type, "Gone");
    rcgc_type_decref(rt, t);
    rcgc_type_decref(rt, t);
}

static void new_in_other_runtime(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_runtime *other = rcgc_runtime_new(NULL);
    const rcgc_type *t = heap_from(rt, &t_node_type, "Mine");
    rcgc_object_new(other, t);
}

static void decref_in_other_runtime(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_runtime *other = rcgc_runtime_new(NULL);
    const rcgc_type *t = heap_from(rt, &t_node_type, "Mine");
    rcgc_type_decref(other, t);
}

/* RCGC_TYPE_HEAP is the library's: a program's own type carrying it is
 * refused (debug builds find it missing from the registry). */
static const rcgc_type fake_heap_type = {
    .name = "fake", .size = sizeof(rcgc_object), .flags = RCGC_TYPE_HEAP};

static void static_type_claiming_heap(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object_new(rt, &fake_heap_type);
}

static void invalid_spec(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_type s = t_node_type;
    s.traverse = NULL;
    rcgc_type_new(rt, &s);
}
#endif

#if RCGC_DEBUG >= 2
/* A freed instance (quarantined) whose heap type is freed too: the dump
 * must not read the type. */
static void instance_used_after_type_freed(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *t = heap_from(rt, &t_node_type, "Ghost");
    rcgc_object *o = t_new(rt, t, 1);
    rcgc_type_decref(rt, t);
    rcgc_decref(rt, o); /* the instance, then its type, are freed */
    rcgc_incref(o);
}
#endif

TEST(misuse_is_reported)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(decref_static, NULL, "rcgc: fatal error: ", "rcgc_type_decref",
                "type 'node' is static");
    CHECK_DEATH(incref_static, NULL, "rcgc: fatal error: ", "rcgc_type_incref",
                "type 'leaf' is static");
    CHECK_DEATH(decref_below_zero, NULL, "rcgc: fatal error: ",
                "rcgc_type_decref", "heap type 'Twice'", "below zero",
                "1 instances hold it");
    CHECK_DEATH(decref_after_free, NULL, "rcgc: fatal error: ",
                "rcgc_type_decref", "already freed");
    CHECK_DEATH(new_in_other_runtime, NULL, "rcgc: fatal error: ",
                "rcgc_object_new", "type 'Mine' is not a heap type of runtime",
                "belongs to another runtime");
    CHECK_DEATH(decref_in_other_runtime, NULL, "rcgc: fatal error: ",
                "rcgc_type_decref", "type 'Mine' is not a heap type of runtime");
    CHECK_DEATH(invalid_spec, NULL, "rcgc: fatal error: ", "rcgc_type_new",
                "invalid spec 'node'");
    CHECK_DEATH(static_type_claiming_heap, NULL, "rcgc: fatal error: ",
                "rcgc_object_new", "type 'fake' is not a heap type of runtime",
                "static type carrying RCGC_TYPE_HEAP");
#else
    rcgc_runtime *rt = t_runtime();
    CHECK_EQ(rcgc_type_decref(rt, &t_node_type), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_incref(rt, &t_leaf_type), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_refcount(rt, &t_leaf_type), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_decref(rt, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_decref(NULL, &t_node_type), RCGC_EINVAL);
    /* below zero while an instance holds the type: refused, nothing freed */
    const rcgc_type *t = heap_from(rt, &t_node_type, "Twice");
    REQUIRE(t != NULL);
    rcgc_object *o = t_new(rt, t, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    CHECK_EQ(rcgc_type_decref(rt, t), RCGC_EINVAL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_refcount(rt, t), 1);
    CHECK_STR(o->type->name, "Twice");
    rcgc_decref(rt, o);
    /* after it was freed: the registry answers, *t is not read */
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    CHECK_EQ(rcgc_type_decref(rt, t), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_incref(rt, t), RCGC_EINVAL);
    /* another runtime's heap type */
    rcgc_runtime *other = rcgc_runtime_new(NULL);
    REQUIRE(other != NULL);
    t = heap_from(rt, &t_node_type, "Mine");
    REQUIRE(t != NULL);
    CHECK(rcgc_object_new(other, t) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(other), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_decref(other, t), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_incref(other, t), RCGC_EINVAL);
    CHECK_EQ(rcgc_type_refcount(rt, t), 1);
    CHECK_EQ(rcgc_runtime_free(other, NULL), 0);
    CHECK_EQ(rcgc_type_decref(rt, t), 0);
    t_teardown(rt);
#endif
#if RCGC_DEBUG >= 2
    CHECK_DEATH(instance_used_after_type_freed, NULL, "rcgc: fatal error: ",
                "rcgc_incref", "used after it was freed",
                "object type name: (a heap type, freed)");
#endif
}

/* ======================================================================== */
/* Out of memory                                                            */

/* Fail exactly the n-th allocation from now. */
static void fail_nth(long n)
{
    t_alloc_state.fail_at = t_alloc_state.calls + n;
    t_alloc_state.fail_after = 0;
    t_alloc_state.failures = 0;
}

static void no_faults(void)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = 0;
}

TEST(type_new_out_of_memory)
{
    int succeeded = 0;
    for (long n = 1; n < 100 && !succeeded; n++) {
        rcgc_runtime *rt = t_runtime();
        fail_nth(n);
        const rcgc_type *t = heap_from(rt, &t_node_type, "Scarce");
        long failures = t_alloc_state.failures;
        no_faults();
        if (t == NULL) {
            CHECK(failures > 0);
            CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
            CHECK_EQ(rcgc_type_heap_count(rt), 0);
        } else {
            succeeded = 1;
            if (!t_pool_mode()) CHECK_EQ(failures, 0); /* else absorbed */
            CHECK_EQ(rcgc_type_decref(rt, t), 0);
        }
        t_teardown(rt);
    }
    CHECK(succeeded);
}

/* A workload of an interpreter: classes, instances in cycles with weak
 * references and finalizers, counts by type, collections; the n-th
 * allocation fails, for every n until the workload needs fewer.  Every run
 * ends with rcgc_check, no object and no byte left. */
static int workload(rcgc_runtime *rt)
{
    int failed = 0;
    const rcgc_type *cls[3];
    const rcgc_type *specs[3] = {&t_wnode_type, &t_wfnode_type, &t_leaf_type};
    for (int k = 0; k < 3; k++) {
        char name[16];
        snprintf(name, sizeof name, "C%d", k);
        cls[k] = heap_from(rt, specs[k], name);
        if (cls[k] == NULL) {
            failed = 1;
            if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) return -1;
        }
    }
    /* the GC instances form one cycle (each links to the previous one both
     * ways); the leaves die at once */
    rcgc_object *prev = NULL, *wr = NULL;
    for (int i = 0; i < 6; i++) {
        const rcgc_type *t = cls[i % 3];
        if (t == NULL) continue;
        rcgc_object *o = t_new(rt, t, i);
        if (o == NULL) {
            failed = 1;
            if (rcgc_runtime_last_error(rt) != RCGC_ENOMEM) return -1;
            continue;
        }
        if (wr == NULL && (o->type->flags & RCGC_TYPE_WEAKREF)) {
            wr = rcgc_weakref_new(rt, o, NULL, NULL);
            if (wr == NULL) failed = 1;
        }
        if (!rcgc_object_is_tracked(o)) {
            rcgc_decref(rt, o);
            continue;
        }
        if (prev != NULL) {
            if (t_append(rt, o, prev) != 0) failed = 1;
            if (t_append(rt, prev, o) != 0) failed = 1;
            rcgc_decref(rt, prev);
        }
        prev = o;
    }
    rcgc_diag_counts c;
    if (rcgc_diag_count_types(rt, &c) != 0)
        failed = 1;
    else
        rcgc_diag_counts_free(rt, &c);
    for (int k = 0; k < 3; k++)
        if (cls[k] != NULL && rcgc_type_decref(rt, cls[k]) != 0) return -1;
    if (prev != NULL) rcgc_decref(rt, prev);
    rcgc_gc_collect(rt, 2);
    if (wr != NULL) {
        if (t_wr_alive(rt, wr)) return -1;
        rcgc_decref(rt, wr);
    }
    if (rcgc_type_heap_count(rt) != 0) return -1;
    return failed;
}

TEST(workload_out_of_memory_everywhere)
{
    long n;
    for (n = 1; n < 10000; n++) {
        rcgc_runtime *rt = t_runtime();
        fail_nth(n);
        int r = workload(rt);
        long failures = t_alloc_state.failures;
        no_faults();
        CHECK(r >= 0);
        if (r < 0) printf("     workload broke its rules at n = %ld\n", n);
        CHECK_EQ(rcgc_check(rt), 0);
        t_teardown(rt);
        if (failures == 0) break; /* the run needed fewer than n */
    }
    CHECK(n > 5);
    printf("     %ld runs\n", n);
}

/* ======================================================================== */
/* Allocation runs a collection that drops the class's last reference       */

static const rcgc_type *victim;

static int fin_drop_victim(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    if (victim != NULL) {
        CHECK_EQ(rcgc_type_decref(rt, victim), 0);
        victim = NULL;
    }
    return 0;
}

/* rcgc_object_new(rt, cls) runs an automatic collection (threshold 1)
 * whose finalizer drops the program's last reference to cls: the new
 * instance's reference is taken before, so cls survives and the instance
 * is made (ASan would see a use after free otherwise). */
TEST(collection_during_allocation_drops_the_class)
{
    rcgc_runtime *rt = t_runtime();
    const rcgc_type *cls = heap_from(rt, &t_node_type, "Victim");
    REQUIRE(cls != NULL);
    rcgc_object *f = t_new(rt, &t_fnode_type, 1);
    REQUIRE(f != NULL);
    t_as(f)->on_finalize = fin_drop_victim;
    t_append(rt, f, f);
    rcgc_decref(rt, f); /* garbage the next collection finds */
    victim = cls;
    CHECK_EQ(rcgc_gc_set_threshold(rt, 1, 10, 10), 0);
    rcgc_gc_enable(rt);
    rcgc_object *o = NULL;
    for (int i = 0; i < 4 && victim != NULL; i++) {
        if (o != NULL) rcgc_decref(rt, o);
        o = rcgc_object_new(rt, cls);
        REQUIRE(o != NULL);
    }
    rcgc_gc_disable(rt);
    CHECK(victim == NULL); /* the finalizer ran inside an allocation */
    CHECK(o->type == cls);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    CHECK_EQ(rcgc_type_refcount(rt, cls), 1);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    t_teardown(rt);
}

/* The tracer sees the heap types' memory (MEM domain) come and go while
 * instances die; snapshots keep no types. */
TEST(tracer_and_heap_snapshot_with_classes)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    size_t before, peak;
    rcgc_trace_get_memory(rt, &before, &peak);
    const rcgc_type *cls = heap_from(rt, &t_node_type, "Traced");
    REQUIRE(cls != NULL);
    rcgc_object *a = t_new(rt, cls, 1), *b = t_new(rt, cls, 2);
    REQUIRE(a != NULL && b != NULL);
    t_link2(rt, a, b);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK_EQ(rcgc_diag_heapsnapshot_write(rt, f, NULL), 0);
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    REQUIRE(s != NULL);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_type_heap_count(rt), 1);
    size_t held, after;
    rcgc_trace_get_memory(rt, &held, &peak);
    CHECK(held > before);
    CHECK_EQ(rcgc_type_decref(rt, cls), 0);
    CHECK_EQ(rcgc_type_heap_count(rt), 0);
    rcgc_trace_get_memory(rt, &after, &peak);
    /* the type's block (descriptor + "Traced") was traced and untraced */
    CHECK(after + sizeof(rcgc_type) + 7 <= held);
    CHECK(rcgc_snapshot_count(s) > 0);
    rcgc_snapshot_free(s);
    rcgc_trace_stop(rt);
    static char buf[1 << 16];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(strstr(buf, "\"Traced\"") != NULL);
    fclose(f);
    t_teardown(rt);
}

TEST_MAIN(T(new_copies_spec_and_name), T(type_freed_after_last_instance),
          T(type_freed_after_last_reference), T(classes_come_and_go),
          T(invalid_specs_are_refused), T(copy_of_a_heap_type),
          T(hook_drops_last_type_reference_refcount_death),
          T(hook_drops_last_type_reference_in_collection),
          T(resurrected_cycle_keeps_type),
          T(weakref_callback_drops_last_type_reference),
          T(finalizer_drops_last_type_reference_with_weakrefs),
          T(garbage_list_keeps_type), T(saveall_and_debug_messages_name_the_class),
          T(trashcan_chain_keeps_type_to_the_end),
          T(immortal_and_frozen_instances_keep_type_until_teardown),
          T(teardown_with_live_instances_and_types), T(teardown_with_a_held_instance),
          T(counts_by_type_outlive_the_class), T(why_alive_and_retainers_keep_the_class), T(misuse_is_reported),
          T(type_new_out_of_memory), T(workload_out_of_memory_everywhere),
          T(collection_during_allocation_drops_the_class),
          T(tracer_and_heap_snapshot_with_classes))

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

TEST_MAIN(T(new_copies_spec_and_name), T(type_freed_after_last_instance),
          T(type_freed_after_last_reference), T(classes_come_and_go),
          T(invalid_specs_are_refused), T(copy_of_a_heap_type))

/*
 * test_object.c - objects: allocation, reference counts, tracking,
 * immortality, deallocation order, finalizers on refcount death, the trashcan.
 */
#include "test.h"

TEST(new_object_is_zeroed_refcount_one_untracked)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &t_node_type);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_refcount(o), 1);
    CHECK(o->type == &t_node_type);
    CHECK(!rcgc_object_is_tracked(o));
    CHECK(t_as(o)->items == NULL && t_as(o)->n == 0 && t_as(o)->id == 0);
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK(rcgc_object_is_tracked(o));
    rcgc_object_untrack(rt, o);
    CHECK(!rcgc_object_is_tracked(o));
    rcgc_object_untrack(rt, o); /* a no-op, as in CPython */
    rcgc_decref(rt, o);
    t_teardown(rt);
}

TEST(two_cycle_collects_two)
{
    rcgc_runtime *rt = t_runtime();
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_teardown(rt);
}

TEST_MAIN(T(new_object_is_zeroed_refcount_one_untracked), T(two_cycle_collects_two))

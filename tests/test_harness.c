/*
 * test_harness.c - the harness's per-process option (--fork), tested on
 * itself: the third test aborts and the fourth fails a check on purpose.
 * Run as `test_harness --fork`, the aborting test must be reported FAIL with
 * its signal, the tests after it must still run, and the exit status must be
 * non-zero; tests/support/check_harness.cmake runs it so under CTest.  Run
 * without --fork it dies in the third test, as any program would.
 */
#include "test.h"

static int order; /* a fresh copy in every child under --fork */

TEST(passes_first)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1);
    CHECK(a != NULL);
    rcgc_decref(rt, a);
    CHECK_EQ(order, 0);
    order++;
    t_teardown(rt);
}

TEST(passes_second)
{
    /* Under --fork the first test's order++ happened in another process. */
    rcgc_runtime *rt = t_runtime();
    CHECK(order <= 1);
    order++;
    t_teardown(rt);
}

TEST(aborts_on_purpose)
{
    fprintf(stderr, "test_harness: aborting on purpose\n");
    abort();
}

TEST(fails_a_check_on_purpose)
{
    rcgc_runtime *rt = t_runtime();
    CHECK_EQ(1 + 1, 3);
    t_teardown(rt);
}

TEST(passes_after_the_crash)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    t_teardown(rt);
}

TEST_MAIN(T(passes_first), T(passes_second), T(aborts_on_purpose),
          T(fails_a_check_on_purpose), T(passes_after_the_crash))

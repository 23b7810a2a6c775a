/*
 * test_misuse.c - API misuse.  Builds with RCGC_DEBUG >= 1 abort with
 * "rcgc: fatal error: <what>" and a dump of the object (CPython's
 * _PyObject_AssertFailed format: "object address  :", "object refcount :",
 * "object type     :", "object type name:"); each case runs in a child
 * process (CHECK_DEATH).  Release builds (RCGC_DEBUG == 0) return error
 * codes where the function has one; the cases that have none (a use after
 * free, a lying traverse) are undefined behaviour there and are skipped with
 * a note.
 */
#include "test.h"

#if RCGC_DEBUG >= 1
#define DUMP_LINES "object address  : ", "object refcount : ", "object type name: "
#endif

#define SKIP(why) printf("     skipped (RCGC_DEBUG=%d): %s\n", RCGC_DEBUG, why)

/* ======================================================================== */
/* Tracking                                                                 */

#if RCGC_DEBUG >= 1
/* CPython's _PyObject_GC_TRACK: "object already tracked by the garbage
 * collector" (a fatal error in every build). */
static void track_twice(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1); /* tracked */
    rcgc_object_track(rt, o);
}
#endif

TEST(track_twice_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(track_twice, NULL, "rcgc: fatal error: ", "rcgc_object_track",
                "already tracked", DUMP_LINES, "object type name: node",
                "object refcount : 1");
#else
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_track(rt, o), RCGC_EALREADY);
    CHECK(rcgc_object_is_tracked(o));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_decref(rt, o);
    t_teardown(rt);
#endif
}

#if RCGC_DEBUG >= 1
/* Tracking an instance of a non-GC type (it has no collector header). */
static void track_non_gc(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_leaf(rt, 1);
    rcgc_object_track(rt, o);
}
#endif

TEST(track_non_gc_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(track_non_gc, NULL, "rcgc: fatal error: ", "rcgc_object_track",
                "type 'leaf' is not a GC type", DUMP_LINES,
                "object type name: leaf");
#else
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_leaf(rt, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_track(rt, o), RCGC_ENOTGC);
    CHECK(!rcgc_object_is_tracked(o));
    rcgc_decref(rt, o);
    t_teardown(rt);
#endif
}

/* Not errors in any build: untracking twice (CPython: a no-op), tracking an
 * immortal object (RCGC_EINVAL), tracking after an untrack. */
TEST(untrack_twice_and_immortal_track_are_not_fatal)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL);
    rcgc_object_untrack(rt, o);
    rcgc_object_untrack(rt, o);
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK_EQ(rcgc_object_make_immortal(rt, o), 0);
    CHECK_EQ(rcgc_object_track(rt, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    CHECK_EQ(rcgc_runtime_free(NULL, NULL), RCGC_EINVAL);
    t_teardown(rt);
}

/* ======================================================================== */
/* Reference counts                                                         */

/* A type that stores a borrowed reference to itself and drops it in clear:
 * the decref happens during its own deallocation, at refcount 0
 * (CPython's _Py_NegativeRefcount: "object has negative ref count"). */
static int nop_traverse_(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;
}

typedef struct selfish {
    rcgc_object base;
    rcgc_object *me; /* BUG: never incref'd */
} selfish_obj;

static void selfish_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((selfish_obj *)self)->me);
}

static const rcgc_type selfish_type = {
    .name = "selfish",
    .size = sizeof(selfish_obj),
    .clear = selfish_clear};

#if RCGC_DEBUG >= 1
static void decref_below_zero(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &selfish_type);
    ((selfish_obj *)o)->me = o;
    rcgc_decref(rt, o);
}


/* The same from a release hook, which runs at refcount 0 too. */
static void release_decrefs_self(rcgc_runtime *rt, rcgc_object *self)
{
    rcgc_decref(rt, self);
}

static const rcgc_type bad_release_type = {
    .name = "badrelease",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC,
    .traverse = nop_traverse_,
    .release = release_decrefs_self};

static void decref_below_zero_in_release(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &bad_release_type);
    rcgc_object_track(rt, o);
    rcgc_decref(rt, o);
}
#endif

TEST(decref_below_zero_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(decref_below_zero, NULL, "rcgc: fatal error: ", "rcgc_decref",
                "reference count would go below zero", DUMP_LINES,
                "object refcount : 0", "object type name: selfish");
    CHECK_DEATH(decref_below_zero_in_release, NULL, "rcgc: fatal error: ",
                "below zero", DUMP_LINES, "object refcount : 0",
                "object type name: badrelease");
#else
    /* Release builds do not check: the decref at zero does nothing and
     * the deallocation completes. */
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &selfish_type);
    REQUIRE(o != NULL);
    ((selfish_obj *)o)->me = o;
    rcgc_decref(rt, o);
    t_teardown(rt);
    SKIP("decref below zero is not detected in release builds");
#endif
}

#if RCGC_DEBUG >= 2
/* Use after free: the debug header says FREED, and RCGC_DEBUG >= 2 keeps
 * the memory quarantined so the check reads valid memory (CPython's debug
 * allocator fills freed memory with 0xDD for the same reason). */
static void decref_after_free(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1);
    rcgc_decref(rt, o);
    rcgc_decref(rt, o);
}

static void incref_after_free(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    rcgc_decref(rt, o);
    rcgc_incref(o);
}

static void track_after_free(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &t_node_type);
    rcgc_decref(rt, o);
    rcgc_object_track(rt, o);
}

/* A container that drops a reference it no longer owns: the program freed
 * the child behind its back; the container's clear touches freed memory. */
static void container_holds_freed(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1);
    rcgc_object *b = t_leaf(rt, 2);
    t_append(rt, a, b);
    rcgc_decref(rt, b);
    rcgc_decref(rt, b); /* BUG: a still holds it */
    rcgc_decref(rt, a);
}
#endif

TEST(use_after_free_aborts)
{
#if RCGC_DEBUG >= 2
    CHECK_DEATH(decref_after_free, NULL, "rcgc: fatal error: ", "rcgc_decref",
                "used after it was freed", DUMP_LINES, "object state    : freed",
                "object type name: node");
    CHECK_DEATH(incref_after_free, NULL, "rcgc: fatal error: ", "rcgc_incref",
                "used after it was freed", DUMP_LINES,
                "object type name: fnode");
    CHECK_DEATH(track_after_free, NULL, "rcgc: fatal error: ",
                "rcgc_object_track", "used after it was freed", DUMP_LINES);
    CHECK_DEATH(container_holds_freed, NULL, "rcgc: fatal error: ",
                "used after it was freed", DUMP_LINES,
                "object type name: leaf");
#else
    SKIP("use after free needs RCGC_DEBUG >= 2 (the quarantine)");
#endif
}

#if RCGC_DEBUG >= 1
/* An object passed to a runtime it does not belong to. */
static void decref_in_other_runtime(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_runtime *other = rcgc_runtime_new(NULL);
    rcgc_object *o = t_node(rt, 1);
    rcgc_decref(other, o);
}

static void track_in_other_runtime(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_runtime *other = rcgc_runtime_new(NULL);
    rcgc_object *o = rcgc_object_new(rt, &t_node_type);
    rcgc_object_track(other, o);
}

static void append_across_runtimes(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_runtime *other = rcgc_runtime_new(NULL);
    rcgc_object *a = t_node(rt, 1);
    rcgc_object *b = t_node(other, 2);
    t_append(rt, a, b);
    rcgc_decref(rt, a); /* a's clear drops b through rt */
}
#endif

TEST(object_of_another_runtime_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(decref_in_other_runtime, NULL, "rcgc: fatal error: ",
                "rcgc_decref", "belongs to runtime", "passed to runtime",
                DUMP_LINES, "object type name: node");
    CHECK_DEATH(track_in_other_runtime, NULL, "rcgc: fatal error: ",
                "rcgc_object_track", "belongs to runtime", DUMP_LINES);
    CHECK_DEATH(append_across_runtimes, NULL, "rcgc: fatal error: ",
                "belongs to runtime", DUMP_LINES);
#else
    SKIP("objects are not tied to their runtime in release builds");
#endif
}

#if RCGC_DEBUG >= 1
/* A pointer that is not an rcgc object at all (its debug header is not
 * there), and NULL. */
static void not_an_object(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    static unsigned char *mem;
    mem = calloc(1, 256); /* static: still reachable when the child dies */
    rcgc_object *fake = (rcgc_object *)(void *)(mem + 128);
    fake->refcnt = 2;
    fake->type = &t_node_type;
    rcgc_decref(rt, fake);
}

static void track_null(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object_track(rt, NULL);
}
#endif

TEST(bad_pointer_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(not_an_object, NULL, "rcgc: fatal error: ", "rcgc_decref",
                "not an rcgc object (bad header)", "object address  : ",
                "object state    : not an rcgc object");
    CHECK_DEATH(track_null, NULL, "rcgc: fatal error: ", "rcgc_object_track",
                "NULL object");
#else
    SKIP("pointers are not validated in release builds");
#endif
}

/* ======================================================================== */
/* Invalid types                                                            */

static const rcgc_type tiny_type = {
    .name = "tiny",
    .size = sizeof(intptr_t),
    .flags = RCGC_TYPE_GC,
    .traverse = nop_traverse_};
static const rcgc_type no_traverse_type = {
    .name = "notraverse",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC};

#if RCGC_DEBUG >= 1
static void new_tiny(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object_new(rt, &tiny_type);
}

static void new_no_traverse(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object_new(rt, &no_traverse_type);
}

static void new_sized_too_small(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object_new_sized(rt, &t_node_type, sizeof(t_nodeobj) - 1);
}

static void new_null_type(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object_new(rt, NULL);
}
#endif

/* CPython checks type slots when a type is readied (PyType_Ready: a GC type
 * needs tp_traverse); rcgc checks them at allocation. */
TEST(invalid_type_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(new_tiny, NULL, "rcgc: fatal error: ", "rcgc_object_new",
                "invalid type 'tiny'");
    CHECK_DEATH(new_no_traverse, NULL, "rcgc: fatal error: ",
                "invalid type 'notraverse'", "without traverse");
    CHECK_DEATH(new_sized_too_small, NULL, "rcgc: fatal error: ",
                "invalid type 'node' or size");
    CHECK_DEATH(new_null_type, NULL, "rcgc: fatal error: ", "invalid type");
#else
    rcgc_runtime *rt = t_runtime();
    long calls = t_alloc_state.calls;
    CHECK(rcgc_object_new(rt, &tiny_type) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK(rcgc_object_new(rt, &no_traverse_type) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK(rcgc_object_new_sized(rt, &t_node_type, sizeof(t_nodeobj) - 1) ==
          NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK(rcgc_object_new(rt, NULL) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    CHECK_EQ(t_alloc_state.calls, calls); /* nothing was allocated */
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0);
    t_teardown(rt);
#endif
}

/* ======================================================================== */
/* A traverse that lies (spec §2.13, test_gc.py test_refcount_errors,       */
/* §9.1 item 40)                                                            */

#if RCGC_DEBUG >= 1
/* CPython's test: a = [1, 2, 3]; b = [a]; Py_DecRef(a) artificially; the
 * collection aborts: "gc_decref: Assertion "gc_get_refs(g) > 0" failed:
 * refcount is too small", "object refcount : 1", "object type name: list".
 * Here: a is held by the program and by two containers, and its refcount
 * is lowered by two behind their back. */
static void refcount_too_low(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1);
    rcgc_object *b = t_node(rt, 2), *c = t_node(rt, 3);
    t_append(rt, b, a);
    t_append(rt, c, a);
    a->refcnt -= 2; /* Py_DecRef through ctypes */
    rcgc_gc_collect(rt, 2);
}

/* A traverse that reports a reference its object does not hold. */
static rcgc_object *liar_target;

static int liar_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    (void)self;
    RCGC_VISIT(liar_target);
    return 0;
}

static const rcgc_type liar_type = {
    .name = "liar",
    .size = sizeof(rcgc_object) + 8,
    .flags = RCGC_TYPE_GC,
    .traverse = liar_traverse};

static void lying_traverse(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    liar_target = t_node(rt, 7); /* refcount 1: the program's */
    rcgc_object *l1 = rcgc_object_new(rt, &liar_type);
    rcgc_object *l2 = rcgc_object_new(rt, &liar_type);
    rcgc_object_track(rt, l1);
    rcgc_object_track(rt, l2);
    rcgc_gc_collect(rt, 0);
}
#endif

TEST(refcount_too_small_aborts)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(refcount_too_low, NULL, "rcgc: fatal error: ",
                "subtract_refs", "refcount is too small", "object refcount : 1",
                DUMP_LINES, "object type name: node");
    CHECK_DEATH(lying_traverse, NULL, "rcgc: fatal error: ",
                "refcount is too small", "<liar 0x", DUMP_LINES,
                "object type name: node", "object refcount : 1");
#else
    SKIP("a traverse reporting references it does not own corrupts the "
         "collector in release builds (as in CPython)");
#endif
}

/* ======================================================================== */
/* Teardown at the wrong time                                               */

static int free_rc = 99;

static int h_free_runtime(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    free_rc = rcgc_runtime_free(rt, NULL);
    return 0;
}

static int cb_free_runtime(rcgc_runtime *rt, rcgc_gc_event event,
                           const rcgc_gc_info *info, void *ctx)
{
    (void)event;
    (void)info;
    (void)ctx;
    free_rc = rcgc_runtime_free(rt, NULL);
    return 0;
}

#if RCGC_DEBUG >= 1
static void free_in_finalizer(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    t_as(o)->on_finalize = h_free_runtime;
    t_append(rt, o, o);
    rcgc_decref(rt, o);
    rcgc_gc_collect(rt, 2);
}

static void free_in_callback(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_gc_callback_add(rt, cb_free_runtime, NULL);
    rcgc_gc_collect(rt, 0);
}

static void free_in_teardown_finalizer(void *arg)
{
    (void)arg;
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    t_as(o)->on_finalize = h_free_runtime;
    t_append(rt, o, o);
    rcgc_decref(rt, o);
    rcgc_runtime_free(rt, NULL);
}
#endif

TEST(runtime_free_during_collection)
{
#if RCGC_DEBUG >= 1
    CHECK_DEATH(free_in_finalizer, NULL, "rcgc: fatal error: ",
                "rcgc_runtime_free called during a collection");
    CHECK_DEATH(free_in_callback, NULL, "rcgc: fatal error: ",
                "rcgc_runtime_free called during a collection");
    CHECK_DEATH(free_in_teardown_finalizer, NULL, "rcgc: fatal error: ",
                "rcgc_runtime_free called during a collection or teardown");
#else
    /* Release: RCGC_EBUSY, and the runtime carries on. */
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = h_free_runtime;
    t_append(rt, o, o);
    rcgc_decref(rt, o);
    free_rc = 99;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(free_rc, RCGC_EBUSY);
    free_rc = 99;
    CHECK_EQ(rcgc_gc_callback_add(rt, cb_free_runtime, NULL), 0);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(free_rc, RCGC_EBUSY);
    CHECK_EQ(rcgc_gc_callback_remove(rt, cb_free_runtime, NULL), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* During teardown's own collections. */
    o = t_new(rt, &t_fnode_type, 2);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = h_free_runtime;
    t_append(rt, o, o);
    rcgc_decref(rt, o);
    free_rc = 99;
    t_teardown(rt);
    CHECK_EQ(free_rc, RCGC_EBUSY);
#endif
}

#if RCGC_DEBUG >= 1
/* The fatal report goes to the runtime's debug stream when it has one
 * (here a file), in full. */
static FILE *fatal_file;

static void track_twice_to_stream(void *arg)
{
    (void)arg;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug_stream = fatal_file;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    rcgc_object *o = t_node(rt, 1);
    rcgc_object_track(rt, o);
}
#endif

TEST(fatal_report_on_debug_stream)
{
#if RCGC_DEBUG >= 1
    fatal_file = tmpfile();
    REQUIRE(fatal_file != NULL);
    /* The child writes to the file; its stderr must not get the report. */
    const char *const none[] = {NULL};
    int died = t_expect_death(track_twice_to_stream, NULL, none);
    CHECK(died);
    static char buf[8192];
    rewind(fatal_file);
    size_t n = fread(buf, 1, sizeof buf - 1, fatal_file);
    buf[n] = 0;
    CHECK(strstr(buf, "rcgc: fatal error: rcgc_object_track: object already "
                      "tracked") != NULL);
    CHECK(strstr(buf, "object address  : 0x") != NULL);
    CHECK(strstr(buf, "object refcount : 1\n") != NULL);
    CHECK(strstr(buf, "object type     : 0x") != NULL);
    CHECK(strstr(buf, "object type name: node\n") != NULL);
    fclose(fatal_file);
    fatal_file = NULL;
#else
    SKIP("release builds return RCGC_EALREADY instead of a report");
#endif
}

TEST_MAIN(T(track_twice_aborts), T(track_non_gc_aborts),
          T(untrack_twice_and_immortal_track_are_not_fatal),
          T(decref_below_zero_aborts), T(use_after_free_aborts),
          T(object_of_another_runtime_aborts), T(bad_pointer_aborts),
          T(invalid_type_aborts), T(refcount_too_small_aborts),
          T(runtime_free_during_collection), T(fatal_report_on_debug_stream))

/*
 * test_object.c - objects: allocation, reference counts, tracking,
 * immortality, deallocation order, finalizers on refcount death (PEP 442 and
 * legacy), CPython's test_finalization.py, and the trashcan.
 *
 * Expected numbers marked "python3 3.11.7" were measured on this machine with
 * an equivalent Python script (instances whose __del__ records calls,
 * _testcapi.without_gc / with_tp_del for the non-GC and legacy cases).
 */
#include "test.h"

/* ======================================================================== */
/* Helpers                                                                  */

static rcgc_ssize tracked_of(rcgc_runtime *rt)
{
    rcgc_runtime_stats s;
    rcgc_runtime_get_stats(rt, &s);
    return s.tracked;
}

static int in_node(rcgc_object *node, rcgc_object *item)
{
    t_nodeobj *n = t_as(node);
    for (rcgc_ssize i = 0; i < n->n; i++)
        if (n->items[i] == item) return 1;
    return 0;
}

/* Python's list.clear(): detach the items first, then drop them, so that a
 * finalizer appending to the list meanwhile is kept (t_clear would pop and
 * drop what a resurrecting finalizer appends, forever). */
static void list_clear(rcgc_runtime *rt, rcgc_object *node)
{
    t_nodeobj *n = t_as(node);
    rcgc_object **items = n->items;
    rcgc_ssize count = n->n;
    n->items = NULL;
    n->n = n->cap = 0;
    for (rcgc_ssize i = count; i-- > 0;) rcgc_decref(rt, items[i]);
    rcgc_mem_free(rt, items);
}

/* The state test_finalization.py keeps in class attributes: del_calls,
 * tp_del_calls, survivors, errors, _cleaning. */
static struct fin_state {
    t_log del;              /* ids of PEP 442 finalizer calls */
    t_log tpdel;            /* ids of legacy finalizer calls */
    rcgc_object *survivors; /* a t_node the resurrectors append to */
    int cleaning;           /* finalizers record nothing */
    int errors;             /* failed sanity checks */
} fs;

static void fs_reset(rcgc_runtime *rt)
{
    memset(&fs, 0, sizeof fs);
    fs.survivors = t_node(rt, -1);
}

/* SimpleBase.test()'s cleanup: clear survivors, collect, forget calls. */
static void fs_cleanup(rcgc_runtime *rt)
{
    fs.cleaning = 1;
    list_clear(rt, fs.survivors);
    rcgc_gc_garbage_clear(rt);
    rcgc_gc_collect(rt, 2);
    rcgc_decref(rt, fs.survivors);
    fs.survivors = NULL;
    rcgc_gc_collect(rt, 2);
}

static int h_record(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    if (!fs.cleaning && fs.del.n < 4096) fs.del.ids[fs.del.n++] = t_as(self)->id;
    return 0;
}

static int h_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    if (!fs.cleaning) t_append(rt, fs.survivors, self);
    return 0;
}

/* SuicidalSelfCycle.side_effect: self.ref = None. */
static int h_suicide(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    if (!fs.cleaning) t_clear(rt, self);
    return 0;
}

static int h_tp_record(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)ctx;
    if (!fs.cleaning && fs.tpdel.n < 4096)
        fs.tpdel.ids[fs.tpdel.n++] = t_as(self)->id;
    return 0;
}

static int h_tp_resurrect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_tp_record(rt, self, ctx);
    if (!fs.cleaning) t_append(rt, fs.survivors, self);
    return 0;
}

static rcgc_object *fin_node(rcgc_runtime *rt, const rcgc_type *type, int id,
                             t_hook on_finalize, t_hook on_legacy)
{
    rcgc_object *o = t_new(rt, type, id);
    if (o != NULL) {
        t_as(o)->on_finalize = on_finalize;
        t_as(o)->on_legacy = on_legacy;
    }
    return o;
}

/* ======================================================================== */
/* Allocation, reference counts                                             */

/* CPython PyObject_GC_New / _PyObject_GC_Link (spec §1.3): a new object is
 * zeroed, has refcount 1 and is not tracked until the type tracks it. */
TEST(new_object_is_zeroed_refcount_one_untracked)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &t_node_type);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_refcount(o), 1);
    CHECK(o->type == &t_node_type);
    CHECK(!rcgc_object_is_tracked(o));
    CHECK(!rcgc_object_is_finalized(o));
    CHECK(!rcgc_object_is_immortal(o));
    CHECK(t_as(o)->items == NULL && t_as(o)->n == 0 && t_as(o)->id == 0);
    CHECK(t_as(o)->cap == 0 && t_as(o)->ctx == NULL && t_as(o)->nfinalize == 0);
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK(rcgc_object_is_tracked(o));
    rcgc_object_untrack(rt, o);
    CHECK(!rcgc_object_is_tracked(o));
    rcgc_object_untrack(rt, o); /* a no-op, as in CPython */
    CHECK(!rcgc_object_is_tracked(o));
    rcgc_decref(rt, o);
    t_teardown(rt);
}

/* Same for an instance of a non-GC type: no collector header, never
 * "tracked" (gc.is_tracked of atoms, test_gc.py test_is_tracked). */
TEST(new_non_gc_object)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &t_leaf_type);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_refcount(o), 1);
    CHECK(!rcgc_object_is_tracked(o));
    CHECK(!rcgc_object_is_finalized(o));
    CHECK(!rcgc_may_be_tracked(o));
    rcgc_object_untrack(rt, o); /* allowed, nothing happens */
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(tracked_of(rt), 0);
    rcgc_decref(rt, o);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* Py_INCREF / Py_DECREF: the count moves by one; the last decref frees. */
TEST(incref_decref)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL);
    rcgc_incref(o);
    rcgc_incref(o);
    CHECK_EQ(rcgc_object_refcount(o), 3);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_object_refcount(o), 2);
    rcgc_xincref(o);
    CHECK_EQ(rcgc_object_refcount(o), 3);
    rcgc_xincref(NULL);
    rcgc_xdecref(rt, NULL);
    rcgc_xdecref(rt, o);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_object_refcount(o), 1);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(tracked_of(rt), 1);
    rcgc_decref(rt, o); /* untracked and freed */
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* A holder of one slot, and an item whose finalizer looks at that slot when
 * the item dies: Py_CLEAR must null the slot before the decref; Py_SETREF
 * must store the new value before dropping the old one. */
static struct {
    rcgc_object *slot;
    rcgc_object *seen;
    int calls;
} slot_box;

static int h_look_at_slot(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (void)ctx;
    slot_box.seen = slot_box.slot;
    slot_box.calls++;
    return 0;
}

/* Include/object.h Py_CLEAR / Py_SETREF (spec §4.1 step 4). */
TEST(clear_and_setref_order)
{
    rcgc_runtime *rt = t_runtime();
    memset(&slot_box, 0, sizeof slot_box);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_look_at_slot, NULL);
    REQUIRE(a != NULL);
    slot_box.slot = a;
    slot_box.seen = a;
    RCGC_CLEAR(rt, slot_box.slot); /* a dies: its finalizer sees NULL */
    CHECK(slot_box.slot == NULL);
    CHECK_EQ(slot_box.calls, 1);
    CHECK(slot_box.seen == NULL);
    RCGC_CLEAR(rt, slot_box.slot); /* NULL slot: nothing */
    CHECK_EQ(slot_box.calls, 1);

    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_look_at_slot, NULL);
    rcgc_object *c = t_node(rt, 3);
    REQUIRE(b != NULL && c != NULL);
    slot_box.slot = b;
    RCGC_SETREF(rt, slot_box.slot, c); /* steals c; b dies seeing c */
    CHECK_EQ(slot_box.calls, 2);
    CHECK(slot_box.seen == c);
    CHECK(slot_box.slot == c);
    CHECK_EQ(rcgc_object_refcount(c), 1);
    RCGC_SETREF(rt, slot_box.slot, NULL); /* c dies */
    CHECK(slot_box.slot == NULL);
    RCGC_SETREF(rt, slot_box.slot, NULL); /* old NULL: nothing */
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* A type with three slots whose traverse uses RCGC_VISIT (Py_VISIT). */
typedef struct tri {
    rcgc_object base;
    rcgc_object *a, *b, *c;
} tri_obj;

static int tri_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    tri_obj *t = (tri_obj *)self;
    RCGC_VISIT(t->a);
    RCGC_VISIT(t->b);
    RCGC_VISIT(t->c);
    return 0;
}

static void tri_clear(rcgc_runtime *rt, rcgc_object *self)
{
    tri_obj *t = (tri_obj *)self;
    RCGC_CLEAR(rt, t->a);
    RCGC_CLEAR(rt, t->b);
    RCGC_CLEAR(rt, t->c);
}

static const rcgc_type tri_type = {
    .name = "tri",
    .size = sizeof(tri_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = tri_traverse,
    .clear = tri_clear};

static struct {
    rcgc_object *seen[8];
    int n;
    rcgc_object *stop_at;
} visits;

static int record_visit(rcgc_object *child, void *arg)
{
    (void)arg;
    if (visits.n < 8) visits.seen[visits.n++] = child;
    return child == visits.stop_at ? 7 : 0;
}

/* Include/objimpl.h Py_VISIT: NULL slots are skipped, a non-zero visit
 * result stops the traverse and is returned from it. */
TEST(visit_macro)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &tri_type);
    REQUIRE(o != NULL);
    tri_obj *t = (tri_obj *)o;
    t->b = t_leaf(rt, 2);
    t->c = t_leaf(rt, 3);
    CHECK_EQ(rcgc_object_track(rt, o), 0);

    memset(&visits, 0, sizeof visits);
    CHECK_EQ(tri_type.traverse(o, record_visit, NULL), 0);
    CHECK_EQ(visits.n, 2); /* a is NULL */
    CHECK(visits.seen[0] == t->b && visits.seen[1] == t->c);

    memset(&visits, 0, sizeof visits);
    visits.stop_at = t->b;
    CHECK_EQ(tri_type.traverse(o, record_visit, NULL), 7);
    CHECK_EQ(visits.n, 1); /* c is not visited */

    /* gc.get_referents sees the same two. */
    rcgc_object **refs = NULL;
    CHECK_EQ(rcgc_gc_get_referents(rt, &o, 1, &refs), 2);
    rcgc_objects_free(rt, refs, 2);
    rcgc_decref(rt, o);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* ======================================================================== */
/* Tracking                                                                 */

/* gc.is_tracked / PyObject_GC_Track / PyObject_GC_UnTrack: untracking twice
 * is a no-op; in release builds tracking twice returns RCGC_EALREADY (debug
 * builds abort: test_misuse.c); tracking a non-GC instance RCGC_ENOTGC. */
TEST(track_untrack)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = rcgc_object_new(rt, &t_node_type);
    REQUIRE(o != NULL);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK_EQ(tracked_of(rt), 1);
#if RCGC_DEBUG == 0
    CHECK_EQ(rcgc_object_track(rt, o), RCGC_EALREADY);
    CHECK_EQ(tracked_of(rt), 1);
    rcgc_object *leaf = t_leaf(rt, 1);
    CHECK_EQ(rcgc_object_track(rt, leaf), RCGC_ENOTGC);
    CHECK(!rcgc_object_is_tracked(leaf));
    rcgc_decref(rt, leaf);
#endif
    rcgc_object_untrack(rt, o);
    rcgc_object_untrack(rt, o);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* Untracked objects are invisible to the collector: an untracked
     * self-cycle is not collected (the program must track it). */
    t_append(rt, o, o);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_object_track(rt, o), 0); /* track again: now collectable */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* Spec §10.1 / CPython gc_list_remove keeps _gc_prev's FINALIZED bit:
 * untrack keeps the finalized mark, so a re-tracked object that was
 * finalized is not finalized again (test_finalization: finalize once). */
TEST(untrack_keeps_finalized_mark)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_new(rt, &t_fnode_type, 1);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK_EQ(t_as(o)->nfinalize, 1);
    CHECK(rcgc_object_is_finalized(o));
    rcgc_object_untrack(rt, o);
    CHECK(rcgc_object_is_finalized(o));
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    CHECK(rcgc_object_is_finalized(o));
    /* A self-cycle of it is collected without a second finalizer call. */
    t_append(rt, o, o);
    t_as(o)->on_finalize = h_record;
    memset(&fs, 0, sizeof fs);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 0);
    t_teardown(rt);
}

/* _PyObject_GC_MAY_BE_TRACKED (Objects/tupleobject.c, dictobject.c): false
 * for non-GC objects; for a lazily untracked type (tuple) the tracked state;
 * for ordinary GC types and for types only untracked on full collections
 * (3.11 dicts) always true. */
TEST(may_be_tracked)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *leaf = t_leaf(rt, 1);
    rcgc_object *node = t_node(rt, 2);
    rcgc_object *tup = t_new(rt, &t_tuple_type, 3);
    rcgc_object *dict = t_new(rt, &t_dict_type, 4);
    REQUIRE(leaf && node && tup && dict);
    CHECK(!rcgc_may_be_tracked(leaf));
    CHECK(rcgc_may_be_tracked(node));
    rcgc_object_untrack(rt, node);
    CHECK(rcgc_may_be_tracked(node)); /* an untracked list may be tracked */
    CHECK_EQ(rcgc_object_track(rt, node), 0);
    CHECK(rcgc_may_be_tracked(tup));
    CHECK(rcgc_may_be_tracked(dict));

    /* A tuple of atoms is untracked by the next collection (untrack_tuples),
     * after which it may not be tracked any more. */
    t_append(rt, tup, leaf);
    t_append(rt, dict, leaf);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK(!rcgc_object_is_tracked(tup));
    CHECK(!rcgc_may_be_tracked(tup));
    /* The dict survives young collections tracked; a full collection
     * untracks it, but it still "may be tracked". */
    CHECK(rcgc_object_is_tracked(dict));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK(!rcgc_object_is_tracked(dict));
    CHECK(rcgc_may_be_tracked(dict));

    /* A tuple holding a list stays tracked. */
    rcgc_object *tup2 = t_new(rt, &t_tuple_type, 5);
    REQUIRE(tup2 != NULL);
    t_append(rt, tup2, node);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK(rcgc_object_is_tracked(tup2));
    CHECK(rcgc_may_be_tracked(tup2));

    rcgc_decref(rt, tup2);
    rcgc_decref(rt, tup);
    rcgc_decref(rt, dict);
    rcgc_decref(rt, node);
    rcgc_decref(rt, leaf);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* ======================================================================== */
/* Immortal objects (PEP 683, 3.12+; untracked as in 3.13's update_refs)    */

/* Py_INCREF/Py_DECREF on an immortal object do not write; it is untracked,
 * never collected, and freed only when its runtime is (t_teardown checks
 * that every block came back). */
TEST(immortal_basics)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1);
    REQUIRE(o != NULL);
    t_append(rt, o, o); /* a self-cycle */
    CHECK(rcgc_object_is_tracked(o));
    CHECK_EQ(rcgc_object_make_immortal(rt, o), 0);
    CHECK(rcgc_object_is_immortal(o));
    CHECK(!rcgc_object_is_tracked(o));
    CHECK_EQ(rcgc_object_refcount(o), RCGC_IMMORTAL_REFCNT);
    for (int i = 0; i < 10; i++) rcgc_incref(o);
    CHECK_EQ(rcgc_object_refcount(o), RCGC_IMMORTAL_REFCNT);
    for (int i = 0; i < 20; i++) rcgc_decref(rt, o);
    CHECK_EQ(rcgc_object_refcount(o), RCGC_IMMORTAL_REFCNT);
    CHECK_EQ(rcgc_object_make_immortal(rt, o), 0); /* again: no change */
    CHECK_EQ(rcgc_object_refcount(o), RCGC_IMMORTAL_REFCNT);
    /* It cannot be tracked again. */
    CHECK_EQ(rcgc_object_track(rt, o), RCGC_EINVAL);
    CHECK(!rcgc_object_is_tracked(o));
    /* Never collected, even as a self-cycle with no other reference. */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);

    /* A non-GC immortal too. */
    rcgc_object *leaf = t_leaf(rt, 2);
    REQUIRE(leaf != NULL);
    CHECK_EQ(rcgc_object_make_immortal(rt, leaf), 0);
    rcgc_decref(rt, leaf);
    rcgc_decref(rt, leaf);
    CHECK_EQ(rcgc_object_refcount(leaf), RCGC_IMMORTAL_REFCNT);
    CHECK_EQ(t_live_objects(rt), 2);
    t_teardown(rt); /* frees both; nothing reported alive */
}

/* Spec §1.1 / 3.13 update_refs: an immortal container is a root, not a
 * collection candidate, so what it references is externally referenced:
 * a cycle hanging off it survives collections until the container lets go. */
TEST(immortal_container_children_are_roots)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = t_node(rt, 1);
    rcgc_object *c = t_node(rt, 2), *d = t_node(rt, 3);
    REQUIRE(x && c && d);
    t_link2(rt, c, d);
    t_append(rt, x, c);
    CHECK_EQ(rcgc_object_make_immortal(rt, x), 0);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_object_refcount(c), 2);
    CHECK_EQ(t_live_objects(rt), 3);
    /* The container lets go: the cycle is ordinary garbage. */
    t_clear(rt, x);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* PyObject_CallFinalizerFromDealloc's resurrection check (spec §4.2) meets
 * PEP 683: a finalizer may "resurrect" its object by making it immortal (on
 * refcount death); the deallocation stops (nothing is cleared), the object
 * is untracked and lives until teardown. */
static int h_immortalize(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    t_as(self)->nlegacy = rcgc_object_make_immortal(rt, self);
    return 0;
}

TEST(finalizer_makes_object_immortal)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = fin_node(rt, &t_fnode_type, 1, h_immortalize, NULL);
    REQUIRE(o != NULL);
    rcgc_object *leaf = t_leaf(rt, 2);
    t_append_steal(rt, o, leaf);
    rcgc_decref(rt, o);
    CHECK_EQ(t_live_objects(rt), 2);
    CHECK_EQ(t_as(o)->nfinalize, 1);
    CHECK_EQ(t_as(o)->nlegacy, 0); /* make_immortal's result */
    CHECK(rcgc_object_is_immortal(o));
    CHECK(!rcgc_object_is_tracked(o));
    CHECK_EQ(rcgc_object_refcount(leaf), 1); /* not cleared */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* An immortal keeps what it references alive until teardown; let go
     * of the leaf here (teardown with live children of an immortal object
     * is test_runtime.c's immortal_holds_objects_at_teardown). */
    t_clear(rt, o);
    CHECK_EQ(t_live_objects(rt), 1);
    t_teardown(rt);
}

/* ======================================================================== */
/* rcgc_object_new_sized                                                    */

/* PyObject_GC_NewVar-like inline data: the whole instance is zeroed. */
TEST(new_sized)
{
    rcgc_runtime *rt = t_runtime();
    size_t extra = 1000;
    rcgc_object *o =
        rcgc_object_new_sized(rt, &t_node_type, sizeof(t_nodeobj) + extra);
    REQUIRE(o != NULL);
    unsigned char *tail = (unsigned char *)o + sizeof(t_nodeobj);
    size_t nonzero = 0;
    for (size_t i = 0; i < extra; i++) nonzero += tail[i] != 0;
    CHECK_EQ(nonzero, 0);
    memset(tail, 0xAB, extra); /* all of it is ours */
    CHECK_EQ(rcgc_object_refcount(o), 1);
    CHECK(!rcgc_object_is_tracked(o));
    CHECK(t_alloc_state.live_bytes >= sizeof(t_nodeobj) + extra);
    CHECK_EQ(rcgc_object_track(rt, o), 0);
    t_append(rt, o, o);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);

    /* Exactly the type's size is fine too. */
    o = rcgc_object_new_sized(rt, &t_leaf_type, t_leaf_type.size);
    REQUIRE(o != NULL);
    rcgc_decref(rt, o);

    /* A size the header cannot be added to fails cleanly. */
    long calls = t_alloc_state.calls;
    o = rcgc_object_new_sized(rt, &t_node_type, SIZE_MAX - 8);
    CHECK(o == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOMEM);
    CHECK_EQ(t_alloc_state.calls, calls);
    CHECK_EQ(t_live_objects(rt), 0);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0);
    t_teardown(rt);
}

/* ======================================================================== */
/* Deallocation order                                                       */

/* A type with every hook, recording (event, object id, tracked, refcount). */
enum { EV_FIN = 1, EV_LEG, EV_CLEAR, EV_RELEASE };

typedef struct rec {
    rcgc_object base;
    rcgc_object *child;
    int id;
    int resurrect_in; /* EV_FIN or EV_LEG: resurrect from that finalizer */
    int fin_result;   /* what finalize returns */
} rec_obj;

static struct {
    struct {
        int ev, id, tracked;
        intptr_t refcnt;
    } e[64];
    int n;
    rcgc_object *keep; /* resurrection target (a t_node) */
} evlog;

static void ev(int e, rcgc_object *self)
{
    if (evlog.n < 64) {
        evlog.e[evlog.n].ev = e;
        evlog.e[evlog.n].id = ((rec_obj *)self)->id;
        evlog.e[evlog.n].tracked = rcgc_object_is_tracked(self);
        evlog.e[evlog.n].refcnt = self->refcnt;
        evlog.n++;
    }
}

static int rec_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((rec_obj *)self)->child);
    return 0;
}

static void rec_clear(rcgc_runtime *rt, rcgc_object *self)
{
    ev(EV_CLEAR, self);
    RCGC_CLEAR(rt, ((rec_obj *)self)->child);
}

static int rec_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    ev(EV_FIN, self);
    if (((rec_obj *)self)->resurrect_in == EV_FIN) t_append(rt, evlog.keep, self);
    return ((rec_obj *)self)->fin_result;
}

static int rec_legacy(rcgc_runtime *rt, rcgc_object *self)
{
    ev(EV_LEG, self);
    if (((rec_obj *)self)->resurrect_in == EV_LEG) t_append(rt, evlog.keep, self);
    return 0;
}

static void rec_release(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    ev(EV_RELEASE, self);
}

static const rcgc_type rec_type = {
    .name = "rec",
    .size = sizeof(rec_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = rec_traverse,
    .clear = rec_clear,
    .finalize = rec_finalize,
    .legacy_finalize = rec_legacy,
    .release = rec_release};
static const rcgc_type rec_plain_type = {
    .name = "rec_plain",
    .size = sizeof(rec_obj),
    .traverse = rec_traverse,
    .clear = rec_clear,
    .finalize = rec_finalize,
    .legacy_finalize = rec_legacy,
    .release = rec_release};

static rcgc_object *rec_new(rcgc_runtime *rt, const rcgc_type *t, int id,
                            int track)
{
    rcgc_object *o = rcgc_object_new(rt, t);
    if (o == NULL) return NULL;
    ((rec_obj *)o)->id = id;
    if (track) rcgc_object_track(rt, o);
    return o;
}

#define CHECK_EV(i, e_, id_, tracked_, refcnt_)                               \
    do {                                                                      \
        CHECK_EQ(evlog.e[i].ev, e_);                                          \
        CHECK_EQ(evlog.e[i].id, id_);                                         \
        CHECK_EQ(evlog.e[i].tracked, tracked_);                               \
        CHECK_EQ(evlog.e[i].refcnt, refcnt_);                                 \
    } while (0)

/* Objects/typeobject.c subtype_dealloc (spec §4.1): untrack; re-track and
 * run tp_finalize with a temporary reference; tp_del likewise; then, with
 * the object untracked and refcount 0, clear the references (children die
 * now, nested inside), release, free. */
TEST(dealloc_order)
{
    rcgc_runtime *rt = t_runtime();
    memset(&evlog, 0, sizeof evlog);
    rcgc_object *p = rec_new(rt, &rec_type, 1, 1);
    REQUIRE(p != NULL);
    rcgc_object *c = rec_new(rt, &rec_type, 2, 1);
    REQUIRE(c != NULL);
    ((rec_obj *)p)->child = c; /* steals our reference */
    rcgc_decref(rt, p);
    REQUIRE(evlog.n == 8);
    CHECK_EV(0, EV_FIN, 1, 1, 1);
    CHECK_EV(1, EV_LEG, 1, 1, 1);
    CHECK_EV(2, EV_CLEAR, 1, 0, 0);
    CHECK_EV(3, EV_FIN, 2, 1, 1);
    CHECK_EV(4, EV_LEG, 2, 1, 1);
    CHECK_EV(5, EV_CLEAR, 2, 0, 0);
    CHECK_EV(6, EV_RELEASE, 2, 0, 0);
    CHECK_EV(7, EV_RELEASE, 1, 0, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(tracked_of(rt), 0);

    /* An untracked GC object is not tracked during its finalizers. */
    memset(&evlog, 0, sizeof evlog);
    p = rec_new(rt, &rec_type, 3, 0);
    REQUIRE(p != NULL);
    rcgc_decref(rt, p);
    REQUIRE(evlog.n == 4);
    CHECK_EV(0, EV_FIN, 3, 0, 1);
    CHECK_EV(1, EV_LEG, 3, 0, 1);
    CHECK_EV(2, EV_CLEAR, 3, 0, 0);
    CHECK_EV(3, EV_RELEASE, 3, 0, 0);

    /* Same order for a non-GC type. */
    memset(&evlog, 0, sizeof evlog);
    p = rec_new(rt, &rec_plain_type, 4, 0);
    REQUIRE(p != NULL);
    rcgc_decref(rt, p);
    REQUIRE(evlog.n == 4);
    CHECK_EV(0, EV_FIN, 4, 0, 1);
    CHECK_EV(1, EV_LEG, 4, 0, 1);
    CHECK_EV(2, EV_CLEAR, 4, 0, 0);
    CHECK_EV(3, EV_RELEASE, 4, 0, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* PyObject_CallFinalizerFromDealloc (spec §4.2): a finalizer that stores a
 * new reference stops the deallocation; the object stays alive and tracked
 * with the references the finalizer created, and nothing later in the
 * sequence (tp_del, clear, release) runs.  Same for tp_del. */
TEST(dealloc_stops_on_resurrection)
{
    rcgc_runtime *rt = t_runtime();
    memset(&evlog, 0, sizeof evlog);
    evlog.keep = t_node(rt, 0);
    rcgc_object *p = rec_new(rt, &rec_type, 1, 1);
    REQUIRE(evlog.keep && p);
    ((rec_obj *)p)->resurrect_in = EV_FIN;
    rcgc_decref(rt, p);
    CHECK_EQ(evlog.n, 1);
    CHECK(in_node(evlog.keep, p));
    CHECK_EQ(rcgc_object_refcount(p), 1);
    CHECK(rcgc_object_is_tracked(p));
    CHECK(rcgc_object_is_finalized(p));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* Second death: tp_finalize is not run again, tp_del is. */
    ((rec_obj *)p)->resurrect_in = 0;
    memset(&evlog.e, 0, sizeof evlog.e);
    evlog.n = 0;
    t_remove(rt, evlog.keep, p);
    REQUIRE(evlog.n == 3);
    CHECK_EV(0, EV_LEG, 1, 1, 1);
    CHECK_EV(1, EV_CLEAR, 1, 0, 0);
    CHECK_EV(2, EV_RELEASE, 1, 0, 0);

    /* Resurrected by tp_del: clear and release do not run. */
    evlog.n = 0;
    p = rec_new(rt, &rec_type, 2, 1);
    REQUIRE(p != NULL);
    ((rec_obj *)p)->resurrect_in = EV_LEG;
    rcgc_decref(rt, p);
    REQUIRE(evlog.n == 2);
    CHECK_EV(0, EV_FIN, 2, 1, 1);
    CHECK_EV(1, EV_LEG, 2, 1, 1);
    CHECK(rcgc_object_is_tracked(p));
    CHECK_EQ(rcgc_object_refcount(p), 1);
    ((rec_obj *)p)->resurrect_in = 0;
    evlog.n = 0;
    list_clear(rt, evlog.keep);
    REQUIRE(evlog.n == 3);
    CHECK_EV(0, EV_LEG, 2, 1, 1);

    /* A finalizer that takes several references keeps all but the
     * temporary one. */
    evlog.n = 0;
    p = rec_new(rt, &rec_type, 3, 1);
    REQUIRE(p != NULL);
    ((rec_obj *)p)->resurrect_in = EV_FIN;
    rcgc_incref(p);
    rcgc_decref(rt, p);
    rcgc_decref(rt, p);
    t_append(rt, evlog.keep, p); /* a second reference */
    CHECK_EQ(rcgc_object_refcount(p), 2);
    ((rec_obj *)p)->resurrect_in = 0;
    list_clear(rt, evlog.keep);
    rcgc_decref(rt, evlog.keep);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* Spec §2.9 / §4.2 and Python's "Exception ignored in": a non-zero result
 * of a finalizer run by a deallocation goes to the unraisable hook, with the
 * object; the deallocation goes on. */
static t_unraisable unr;

static int h_fail_legacy(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (void)ctx;
    return RCGC_EFAILED;
}

TEST(finalizer_error_is_unraisable)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.unraisable = t_record_unraisable;
    cfg.unraisable_ctx = &unr;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    memset(&unr, 0, sizeof unr);
    memset(&evlog, 0, sizeof evlog);
    rcgc_object *p = rec_new(rt, &rec_type, 1, 1);
    REQUIRE(p != NULL);
    ((rec_obj *)p)->fin_result = -42;
    rcgc_decref(rt, p);
    CHECK_EQ(unr.n, 1);
    CHECK_EQ(unr.kind[0], RCGC_IN_FINALIZER);
    CHECK(unr.obj[0] == p); /* still alive when reported (address only) */
    CHECK_EQ(unr.err[0], -42);
    CHECK_EQ(evlog.n, 4); /* deallocation went on */
    CHECK_EQ(t_live_objects(rt), 0);

    memset(&unr, 0, sizeof unr);
    rcgc_object *l = fin_node(rt, &t_lnode_type, 2, NULL, h_fail_legacy);
    REQUIRE(l != NULL);
    rcgc_decref(rt, l);
    CHECK_EQ(unr.n, 1);
    CHECK_EQ(unr.kind[0], RCGC_IN_LEGACY_FINALIZER);
    CHECK_EQ(unr.err[0], RCGC_EFAILED);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* ======================================================================== */
/* Lib/test/test_finalization.py (spec §9.2, items 46-59)                   */

/* 46. SimpleFinalizationTest.test_simple: refcount death calls __del__ once;
 * no survivors; a later collection adds no call.  python3 3.11.7: 1 call,
 * gc.collect() == 0 twice. */
TEST(finalization_simple)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 101, h_record, NULL);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_log_count(&fs.del, 101), 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1); /* only the survivors list */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 47. test_simple_resurrect: __del__ stores self: called once, one
 * survivor, still tracked and finalized; after dropping the survivor it is
 * freed without a second call.  python3 3.11.7: del 1, survivor tracked and
 * is_finalized True, collect 0; after clearing: del 1, collect 0. */
TEST(finalization_simple_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 102, h_resurrect, NULL);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(in_node(fs.survivors, s));
    CHECK(rcgc_object_is_tracked(s));
    CHECK(rcgc_object_is_finalized(s));
    CHECK_EQ(rcgc_object_refcount(s), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    list_clear(rt, fs.survivors);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 48. test_non_gc: an instance of a non-GC type is not tracked; __del__ is
 * called once on refcount death.  python3 3.11.7: is_tracked False, 1 call. */
TEST(finalization_non_gc)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_plain_type, 103, h_record, NULL);
    REQUIRE(s != NULL);
    CHECK(!rcgc_object_is_tracked(s));
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 49. test_non_gc_resurrect: a non-GC object cannot remember it was
 * finalized, so __del__ runs at every death: first death 1 call and a
 * survivor, second death 2 calls and a survivor again.  python3 3.11.7:
 * del 1 / surv 1, then del 2 / surv 1. */
TEST(finalization_non_gc_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_plain_type, 104, h_resurrect, NULL);
    REQUIRE(s != NULL);
    CHECK(!rcgc_object_is_tracked(s));
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(!rcgc_object_is_tracked(s));
    CHECK(!rcgc_object_is_finalized(s));
    list_clear(rt, fs.survivors); /* second death */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 2);
    CHECK_EQ(t_log_count(&fs.del, 104), 2);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK_EQ(t_as(s)->nfinalize, 2);
    fs_cleanup(rt); /* cleaning: the third death does not resurrect */
    t_teardown(rt);
}

/* 50. SelfCycleFinalizationTest.test_simple: s.ref = s; the collector calls
 * __del__ once and frees it.  python3 3.11.7: no call before the collection,
 * gc.collect() == 1, 1 call, then 0. */
TEST(finalization_self_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 105, h_record, NULL);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 51. test_simple_resurrect (self-cycle): __del__ once, the survivor is kept
 * (not counted: gc.collect() == 0), finalized and tracked; after clearing
 * the survivors the next collection frees it (returns 1) without calling
 * __del__ again.  python3 3.11.7: 0, del 1, surv 1, finalized, tracked;
 * then 1, del 1. */
TEST(finalization_self_cycle_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 106, h_resurrect, NULL);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(in_node(fs.survivors, s));
    CHECK(rcgc_object_is_finalized(s));
    CHECK(rcgc_object_is_tracked(s));
    CHECK_EQ(t_as(s)->n, 1); /* its self-reference was not cleared */
    CHECK(t_as(s)->items[0] == s);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    list_clear(rt, fs.survivors);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 52. test_simple_suicide: __del__ breaks the self-cycle; the object is
 * freed inside finalize_garbage, so the collection does not count it.
 * python3 3.11.7: gc.collect() == 0, del 1, then 0. */
TEST(finalization_self_cycle_suicide)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_fnode_type, 107, h_suicide, NULL);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* test_finalization.py's ChainedBase: a ring; node i references its left
 * neighbour i-1 and is its right neighbour.  Kinds: Simple, Resurrector,
 * Suicidal (drops both neighbours).  check_sanity verifies the links. */
enum { K_SIMPLE, K_RESURRECT, K_SUICIDE };

typedef struct chain {
    rcgc_object base;
    rcgc_object *left, *right;
    int id, kind, suicided;
} chain_obj;

static chain_obj *ch(rcgc_object *o)
{
    return (chain_obj *)o;
}

static int chain_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(ch(self)->left);
    RCGC_VISIT(ch(self)->right);
    return 0;
}

static void chain_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ch(self)->left);
    RCGC_CLEAR(rt, ch(self)->right);
}

static int chain_sane(rcgc_object *self)
{
    chain_obj *c = ch(self);
    if (c->suicided) return c->left == NULL && c->right == NULL;
    if (c->left == NULL || c->right == NULL) return 0;
    chain_obj *l = ch(c->left), *r = ch(c->right);
    if (l->suicided ? l->right != NULL : l->right != self) return 0;
    if (r->suicided ? r->left != NULL : r->left != self) return 0;
    return 1;
}

static int chain_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    chain_obj *c = ch(self);
    if (fs.cleaning) return 0;
    if (fs.del.n < 4096) fs.del.ids[fs.del.n++] = c->id;
    if (!chain_sane(self)) fs.errors++;
    if (c->kind == K_RESURRECT) {
        t_append(rt, fs.survivors, self);
    } else if (c->kind == K_SUICIDE) {
        c->suicided = 1;
        RCGC_CLEAR(rt, c->left);
        RCGC_CLEAR(rt, c->right);
    }
    return 0;
}

static const rcgc_type chain_type = {
    .name = "chained",
    .size = sizeof(chain_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = chain_traverse,
    .clear = chain_clear,
    .finalize = chain_finalize};

/* build_chain + check_(non_)resurrecting_chain: expect1 and expect2 are
 * gc.collect()'s results before and after clearing the survivors; every
 * node is finalized exactly once, the survivors are exactly the
 * resurrectors, and every __del__ saw consistent links (check_sanity). */
static void run_chain(const int *kinds, int n, rcgc_ssize expect1,
                      rcgc_ssize expect2)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *nodes[8];
    int nres = 0;
    for (int i = 0; i < n; i++) {
        nodes[i] = rcgc_object_new(rt, &chain_type);
        REQUIRE(nodes[i] != NULL);
        ch(nodes[i])->id = 200 + i;
        ch(nodes[i])->kind = kinds[i];
        nres += kinds[i] == K_RESURRECT;
        rcgc_object_track(rt, nodes[i]);
    }
    for (int i = 0; i < n; i++) { /* nodes[i].chain(nodes[i-1]) */
        rcgc_object *left = nodes[(i + n - 1) % n];
        rcgc_incref(left);
        rcgc_incref(nodes[i]);
        ch(nodes[i])->left = left;
        RCGC_SETREF(rt, ch(left)->right, nodes[i]);
    }
    for (int i = 0; i < n; i++) rcgc_decref(rt, nodes[i]);
    CHECK_EQ(rcgc_gc_collect(rt, 2), expect1);
    CHECK_EQ(fs.del.n, n);
    for (int i = 0; i < n; i++) CHECK_EQ(t_log_count(&fs.del, 200 + i), 1);
    CHECK_EQ(t_as(fs.survivors)->n, nres);
    for (rcgc_ssize i = 0; i < t_as(fs.survivors)->n; i++)
        CHECK_EQ(ch(t_as(fs.survivors)->items[i])->kind, K_RESURRECT);
    CHECK_EQ(fs.errors, 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    list_clear(rt, fs.survivors);
    CHECK_EQ(rcgc_gc_collect(rt, 2), expect2);
    CHECK_EQ(fs.del.n, n); /* nobody is finalized twice */
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 53. CycleChainFinalizationTest.test_homogenous: ring of 3 Simple.
 * python3 3.11.7: gc.collect() == 3, 3 calls, then 0. */
TEST(finalization_chain_homogenous)
{
    static const int k[] = {K_SIMPLE, K_SIMPLE, K_SIMPLE};
    run_chain(k, 3, 3, 0);
}

/* 54. test_homogenous_resurrect: all 3 survive, none counted; clearing the
 * survivors frees them (3) with no new call.  python3 3.11.7: 0 then 3. */
TEST(finalization_chain_homogenous_resurrect)
{
    static const int k[] = {K_RESURRECT, K_RESURRECT, K_RESURRECT};
    run_chain(k, 3, 0, 3);
}

/* 55. test_homogenous_suicidal: each __del__ unlinks its neighbours, so all
 * die inside finalize_garbage.  python3 3.11.7: 0 then 0, 3 calls. */
TEST(finalization_chain_homogenous_suicidal)
{
    static const int k[] = {K_SUICIDE, K_SUICIDE, K_SUICIDE};
    run_chain(k, 3, 0, 0);
}

/* 56. test_heterogenous_suicidal_one ([Suicidal, Simple] * 2).
 * python3 3.11.7: 0 then 0, 4 calls. */
TEST(finalization_chain_heterogenous_suicidal_one)
{
    static const int k[] = {K_SUICIDE, K_SIMPLE, K_SUICIDE, K_SIMPLE};
    run_chain(k, 4, 0, 0);
}

/* 56. test_heterogenous_suicidal_two ([Suicidal] * 2 + [Simple] * 2).
 * python3 3.11.7: 4 then 0, 4 calls. */
TEST(finalization_chain_heterogenous_suicidal_two)
{
    static const int k[] = {K_SUICIDE, K_SUICIDE, K_SIMPLE, K_SIMPLE};
    run_chain(k, 4, 4, 0);
}

/* 56. test_heterogenous_resurrect_one ([Resurrector, Simple] * 2).
 * python3 3.11.7: 0 (2 survivors, resurrection is transitive) then 4. */
TEST(finalization_chain_heterogenous_resurrect_one)
{
    static const int k[] = {K_RESURRECT, K_SIMPLE, K_RESURRECT, K_SIMPLE};
    run_chain(k, 4, 0, 4);
}

/* 56. test_heterogenous_resurrect_two ([Resurrector, Simple, Suicidal] * 2).
 * python3 3.11.7: 0 (2 survivors) then 6. */
TEST(finalization_chain_heterogenous_resurrect_two)
{
    static const int k[] = {K_RESURRECT, K_SIMPLE, K_SUICIDE,
                            K_RESURRECT, K_SIMPLE, K_SUICIDE};
    run_chain(k, 6, 0, 6);
}

/* 56. test_heterogenous_resurrect_three ([Resurrector] * 2 + [Simple] * 2 +
 * [Suicidal] * 2).  python3 3.11.7: 0 (2 survivors) then 6. */
TEST(finalization_chain_heterogenous_resurrect_three)
{
    static const int k[] = {K_RESURRECT, K_RESURRECT, K_SIMPLE,
                            K_SIMPLE,    K_SUICIDE,   K_SUICIDE};
    run_chain(k, 6, 0, 6);
}

/* 57. LegacyFinalizationTest.test_legacy: a type with both tp_finalize and
 * tp_del; on refcount death both are called exactly once.  python3 3.11.7:
 * del 1, tp_del 1, gc.collect() == 0, still 1 and 1. */
TEST(finalization_legacy)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_flnode_type, 108, h_record, h_tp_record);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 58. test_legacy_resurrect: tp_del resurrects.  First death: __del__ x1,
 * tp_del x1, survivor; second death: __del__ still x1 (tp_finalize never
 * re-runs) but tp_del x2, survivor again.  python3 3.11.7: del 1 tpdel 1
 * surv 1 (finalized, tracked); then del 1 tpdel 2 surv 1. */
TEST(finalization_legacy_resurrect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s =
        fin_node(rt, &t_flnode_type, 109, h_record, h_tp_resurrect);
    REQUIRE(s != NULL);
    rcgc_decref(rt, s);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK(rcgc_object_is_finalized(s));
    CHECK(rcgc_object_is_tracked(s));
    list_clear(rt, fs.survivors); /* second death */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 2);
    CHECK_EQ(t_log_count(&fs.tpdel, 109), 2);
    CHECK_EQ(t_as(fs.survivors)->n, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* 59. test_legacy_self_cycle: a self-cycle with tp_del is uncollectable:
 * nothing is called, it goes to gc.garbage and stays alive (a later
 * collection finds it reachable from gc.garbage: 0); the test breaks the
 * cycle and clears gc.garbage, and it dies by refcount, running __del__ and
 * tp_del once each.  python3 3.11.7: collect 1, del 0, tp_del 0, garbage
 * [s], collect again 0; after break + clear: freed, del 1, tp_del 1. */
TEST(finalization_legacy_self_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *s = fin_node(rt, &t_flnode_type, 110, h_record, h_tp_record);
    REQUIRE(s != NULL);
    t_append(rt, s, s);
    rcgc_decref(rt, s);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fs.del.n, 0);
    CHECK_EQ(fs.tpdel.n, 0);
    CHECK_EQ(t_as(fs.survivors)->n, 0);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    rcgc_object **garbage = NULL;
    REQUIRE(rcgc_gc_get_garbage(rt, &garbage) == 1);
    CHECK(garbage[0] == s);
    rcgc_objects_free(rt, garbage, 1);
    CHECK(rcgc_object_is_tracked(s));
    CHECK(!rcgc_object_is_finalized(s));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(t_live_objects(rt), 2);
    /* gc.garbage[0].ref = None; gc.garbage.clear() */
    t_clear(rt, s);
    CHECK_EQ(t_live_objects(rt), 2);
    rcgc_gc_garbage_clear(rt);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* Spec §2.6/§2.11 ordering (delete_garbage before the uncollectable
 * objects are counted): an object with tp_del that is unreachable but not
 * part of a cycle, hanging off a collectable cycle, is set aside as
 * uncollectable, then dies by refcount when delete_garbage clears the cycle
 * (running __del__ and tp_del), so it is neither counted nor left in
 * gc.garbage.  python3 3.11.7 (leg2.py): gc.collect() == 2, gc.garbage
 * empty, calls ['del', 'tp_del']. */
TEST(legacy_leaf_of_collectable_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *p = t_node(rt, 1), *q = t_node(rt, 2);
    rcgc_object *l = fin_node(rt, &t_flnode_type, 3, h_record, h_tp_record);
    REQUIRE(p && q && l);
    t_link2(rt, p, q);
    t_append_steal(rt, p, l);
    rcgc_decref(rt, p);
    rcgc_decref(rt, q);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    CHECK_EQ(fs.del.n, 1);
    CHECK_EQ(fs.tpdel.n, 1);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_gc_stats st[3];
    rcgc_gc_get_stats(rt, st);
    CHECK_EQ(st[2].collected, 2);
    CHECK_EQ(st[2].uncollectable, 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* ======================================================================== */
/* rcgc_object_call_finalizer (PyObject_CallFinalizer, spec §4.2)           */

static int h_return_5(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (*(int *)ctx)++;
    return 5;
}

static int h_count_0(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (*(int *)ctx)++;
    return 0;
}

TEST(call_finalizer)
{
    rcgc_runtime *rt = t_runtime();
    int calls = 0;
    /* GC type: runs once, returns the finalizer's result, then never again
     * (not even at refcount death). */
    rcgc_object *o = fin_node(rt, &t_fnode_type, 1, h_return_5, NULL);
    REQUIRE(o != NULL);
    t_as(o)->ctx = &calls;
    CHECK(!rcgc_object_is_finalized(o));
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK_EQ(calls, 1);
    CHECK(rcgc_object_is_finalized(o));
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK_EQ(calls, 1);
    CHECK_EQ(rcgc_object_refcount(o), 1);
    rcgc_decref(rt, o);
    CHECK_EQ(calls, 1);

    /* Untracked GC object: the mark lives in the collector header anyway. */
    calls = 0;
    o = rcgc_object_new(rt, &t_fnode_type);
    REQUIRE(o != NULL);
    t_as(o)->on_finalize = h_return_5;
    t_as(o)->ctx = &calls;
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK(rcgc_object_is_finalized(o));
    CHECK(!rcgc_object_is_tracked(o));
    rcgc_decref(rt, o);
    CHECK_EQ(calls, 1);

    /* Non-GC type: nowhere to keep the mark, runs every time. */
    calls = 0;
    o = fin_node(rt, &t_plain_type, 2, h_return_5, NULL);
    REQUIRE(o != NULL);
    t_as(o)->ctx = &calls;
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 5);
    CHECK(!rcgc_object_is_finalized(o));
    t_as(o)->on_finalize = h_count_0; /* once more at its death */
    rcgc_decref(rt, o);
    CHECK_EQ(calls, 3);

    /* No finalizer: nothing, 0. */
    o = t_node(rt, 3);
    REQUIRE(o != NULL);
    CHECK_EQ(rcgc_object_call_finalizer(rt, o), 0);
    CHECK(!rcgc_object_is_finalized(o));
    rcgc_decref(rt, o);

    /* A finalized object in a cycle is not finalized by the collector. */
    calls = 0;
    o = fin_node(rt, &t_fnode_type, 4, h_return_5, NULL);
    REQUIRE(o != NULL);
    t_as(o)->ctx = &calls;
    t_append(rt, o, o);
    rcgc_object_call_finalizer(rt, o);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(calls, 1);
    t_teardown(rt);
}

/* ======================================================================== */
/* Finalizers that do things (spec §3.11 re-entrancy rules)                 */

static struct {
    rcgc_object *holder; /* a t_node that finalizers append to */
    rcgc_ssize collect_results[16];
    int ncollect;
    int alloc_failed;
} act;

/* Allocates two new tracked nodes and keeps them. */
static int h_allocate(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    h_record(rt, self, ctx);
    for (int i = 0; i < 2; i++) {
        rcgc_object *n = t_node(rt, 900 + i);
        if (n == NULL) {
            act.alloc_failed++;
            continue;
        }
        t_append(rt, n, n); /* a cycle, so the collector has work later */
        t_append_steal(rt, act.holder, n);
    }
    return 0;
}

static int h_collect(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    if (act.ncollect < 16)
        act.collect_results[act.ncollect++] = rcgc_gc_collect(rt, 2);
    return 0;
}

/* Drops the second reference of self (self.d.e = None; self.d = None in
 * fin3.py): item 1 is a node d that is in a cycle with e. */
static int h_kill_other(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    rcgc_object *d = t_as(self)->items[1];
    t_clear(rt, d);         /* d.e = None: e dies */
    t_remove(rt, self, d);  /* self.d = None: d dies */
    return 0;
}

/* self.o = None: breaks its own 2-cycle. */
static int h_break_own(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    h_record(rt, self, ctx);
    t_clear(rt, self);
    return 0;
}

/* python3 3.11.7 (fin3.py): a 2-cycle whose first finalizer allocates
 * containers and keeps them: gc.collect() == 2, both finalized once; the
 * new objects survive (and are young: the next young collection sees
 * them).  On refcount death too. */
TEST(finalizer_allocates)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    memset(&act, 0, sizeof act);
    act.holder = t_node(rt, 0);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_allocate, NULL);
    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_record, NULL);
    REQUIRE(act.holder && a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(fs.del.n, 2);
    CHECK_EQ(t_as(act.holder)->n, 2);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0); /* 2 allocated, 2 freed since the reset */
    for (rcgc_ssize i = 0; i < t_as(act.holder)->n; i++)
        CHECK(rcgc_object_is_tracked(t_as(act.holder)->items[i]));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* Refcount death. */
    a = fin_node(rt, &t_fnode_type, 3, h_allocate, NULL);
    REQUIRE(a != NULL);
    rcgc_decref(rt, a);
    CHECK_EQ(fs.del.n, 3);
    CHECK_EQ(t_as(act.holder)->n, 4);
    /* The kept self-cycles are garbage once the holder lets go. */
    t_clear(rt, act.holder);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    rcgc_decref(rt, act.holder);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* A finalizer that allocates while automatic collection is on with a
 * threshold of 1: every allocation in it may start a collection (SYNC), which
 * must see the dying object (refcount 1, re-tracked) as alive.  test_gc.py
 * test_del_newclass-like "__del__ during tiny thresholds" (item 13). */
TEST(finalizer_allocates_with_tiny_threshold)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.threshold[0] = 1;
    cfg.threshold[1] = 1;
    cfg.threshold[2] = 1;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    fs_reset(rt);
    memset(&act, 0, sizeof act);
    act.holder = t_node(rt, 0);
    REQUIRE(act.holder != NULL);
    for (int i = 0; i < 50; i++) {
        rcgc_object *a = fin_node(rt, &t_fnode_type, 10 + i, h_allocate, NULL);
        REQUIRE(a != NULL);
        if (i % 2) { /* half of them in a self-cycle */
            t_append(rt, a, a);
            rcgc_decref(rt, a);
        } else {
            rcgc_decref(rt, a);
        }
        CHECK_EQ(rcgc_gc_check(rt), 0);
    }
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(fs.del.n, 50);
    for (int i = 0; i < 50; i++) CHECK_EQ(t_log_count(&fs.del, 10 + i), 1);
    CHECK_EQ(t_as(act.holder)->n, 100);
    t_clear(rt, act.holder);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(t_live_objects(rt), 2); /* holder and survivors */
    rcgc_decref(rt, act.holder);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* python3 3.11.7 (fin3.py, "F2c"): cycle a <-> b, a also holds d, d <-> e
 * is a second cycle of finalizer objects created after a and b.  a's
 * finalizer frees d and e by refcount while they sit in the unreachable
 * set: each is finalized once, from its deallocation, in the order a, e, d,
 * b; gc.collect() == 2 (only a and b are left to be counted). */
TEST(finalizer_frees_others_during_collection)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_kill_other, NULL);
    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_record, NULL);
    rcgc_object *d = fin_node(rt, &t_fnode_type, 4, h_record, NULL);
    rcgc_object *e = fin_node(rt, &t_fnode_type, 5, h_record, NULL);
    REQUIRE(a && b && d && e);
    t_link2(rt, a, b); /* a.items = [b, d] */
    t_append(rt, a, d);
    t_link2(rt, d, e);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, d);
    rcgc_decref(rt, e);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    REQUIRE(fs.del.n == 4);
    CHECK_EQ(fs.del.ids[0], 1);
    CHECK_EQ(fs.del.ids[1], 5);
    CHECK_EQ(fs.del.ids[2], 4);
    CHECK_EQ(fs.del.ids[3], 2);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* python3 3.11.7 (fin3.py, "F2b"): a 2-cycle whose first finalizer breaks
 * the cycle: the partner dies by refcount inside finalize_garbage and runs
 * its finalizer from its deallocation; gc.collect() == 0, calls a, b. */
TEST(finalizer_breaks_own_cycle)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    rcgc_object *a = fin_node(rt, &t_fnode_type, 1, h_break_own, NULL);
    rcgc_object *b = fin_node(rt, &t_fnode_type, 2, h_record, NULL);
    REQUIRE(a && b);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    REQUIRE(fs.del.n == 2);
    CHECK_EQ(fs.del.ids[0], 1);
    CHECK_EQ(fs.del.ids[1], 2);
    CHECK_EQ(t_live_objects(rt), 1);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* Spec §8(g) / §3.11: gc.collect() from a finalizer returns 0 during a
 * collection, and collects normally on a refcount death outside one.
 * python3 3.11.7 (trash.py): [2] on refcount death with a pending 2-cycle;
 * 1 and [0] for a finalizer self-cycle collected by gc.collect(). */
TEST(finalizer_calls_collect)
{
    rcgc_runtime *rt = t_runtime();
    fs_reset(rt);
    memset(&act, 0, sizeof act);
    rcgc_object *x = t_node(rt, 1), *y = t_node(rt, 2);
    REQUIRE(x && y);
    t_link2(rt, x, y);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    rcgc_object *c = fin_node(rt, &t_fnode_type, 3, h_collect, NULL);
    REQUIRE(c != NULL);
    rcgc_decref(rt, c);
    REQUIRE(act.ncollect == 1);
    CHECK_EQ(act.collect_results[0], 2);
    CHECK_EQ(t_live_objects(rt), 1);

    c = fin_node(rt, &t_fnode_type, 4, h_collect, NULL);
    REQUIRE(c != NULL);
    t_append(rt, c, c);
    rcgc_decref(rt, c);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    REQUIRE(act.ncollect == 2);
    CHECK_EQ(act.collect_results[1], 0);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    fs_cleanup(rt);
    t_teardown(rt);
}

/* ======================================================================== */
/* The trashcan (spec §4.3)                                                 */

/* A compact chain link (10^7 of them must fit): next is a strong reference.
 * The finalizer variant counts calls per id and may resurrect. */
typedef struct link {
    rcgc_object base;
    rcgc_object *next;
    long id;
} link_obj;

static struct {
    unsigned char *marks;  /* finalizer calls per id (saturating) */
    long resurrect_every;  /* resurrect ids with id % every == every / 2 */
    rcgc_object *holder;   /* where resurrected links go */
    long finalized;
} lk;

static int link_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((link_obj *)self)->next);
    return 0;
}

static void link_clear(rcgc_runtime *rt, rcgc_object *self)
{
    RCGC_CLEAR(rt, ((link_obj *)self)->next);
}

static int link_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    link_obj *l = (link_obj *)self;
    lk.finalized++;
    if (lk.marks != NULL && lk.marks[l->id] < 255) lk.marks[l->id]++;
    if (lk.resurrect_every && l->id % lk.resurrect_every == lk.resurrect_every / 2)
        t_append(rt, lk.holder, self);
    return 0;
}

static const rcgc_type link_type = {
    .name = "link",
    .size = sizeof(link_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = link_traverse,
    .clear = link_clear};
static const rcgc_type flink_type = {
    .name = "flink",
    .size = sizeof(link_obj),
    .flags = RCGC_TYPE_GC,
    .traverse = link_traverse,
    .clear = link_clear,
    .finalize = link_finalize};
static const rcgc_type plink_type = {
    .name = "plink",
    .size = sizeof(link_obj),
    .traverse = link_traverse,
    .clear = link_clear,
    .finalize = link_finalize};

/* n links, each holding the previous one; returns the last (NEW), stores
 * the first (BORROWED) in *first. */
static rcgc_object *build_chain(rcgc_runtime *rt, const rcgc_type *type,
                                long n, rcgc_object **first)
{
    rcgc_object *prev = NULL;
    for (long i = 0; i < n; i++) {
        rcgc_object *o = rcgc_object_new(rt, type);
        if (o == NULL) {
            rcgc_xdecref(rt, prev);
            return NULL;
        }
        ((link_obj *)o)->id = i;
        ((link_obj *)o)->next = prev; /* steals */
        if (type->flags & RCGC_TYPE_GC) rcgc_object_track(rt, o);
        if (i == 0 && first != NULL) *first = o;
        prev = o;
    }
    return prev;
}

/* test_gc.py's deep-nesting cases, spec §4.3 "freeing a 10^6-deep nested
 * list ... no crash": a 10^7-deep chain freed by one decref uses bounded C
 * stack (the default 8 MiB stack would not hold 10^7 frames). */
TEST(trashcan_deep_chain_decref)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(10000000);
    rcgc_object *head = build_chain(rt, &link_type, n, NULL);
    REQUIRE(head != NULL);
    CHECK_EQ(t_live_objects(rt), n);
    CHECK_EQ(tracked_of(rt), n);
    rcgc_decref(rt, head);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    int count[3];
    rcgc_gc_get_count(rt, count);
    CHECK_EQ(count[0], 0);
    t_teardown(rt);
}

/* Spec §8(f) "chain ... link the tail back to the head, drop the head -> one
 * N-object cycle": python3 3.11.7 collects 10^6 of them with gc.collect()
 * == 10^6 (trash.py); here 10^7, freed by delete_garbage's cascade through
 * the trashcan. */
TEST(trashcan_deep_cycle_collect)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(10000000);
    rcgc_object *first = NULL;
    rcgc_object *last = build_chain(rt, &link_type, n, &first);
    REQUIRE(last != NULL && first != NULL);
    ((link_obj *)first)->next = last; /* steals our reference: a ring */
    CHECK_EQ(rcgc_gc_collect(rt, 0), n);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(tracked_of(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_teardown(rt);
}

/* The trashcan also bounds non-GC deallocation chains (3.11 applies it to
 * lists, tuples, dicts and subtype_dealloc, whatever their GC status) and
 * runs each non-GC finalizer once per death.  python3 3.11.7 (trash.py):
 * a 10^6-deep chain with __del__ -> 10^6 calls. */
TEST(trashcan_deep_non_gc_chain)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    memset(&lk, 0, sizeof lk);
    lk.marks = calloc((size_t)n, 1);
    REQUIRE(lk.marks != NULL);
    rcgc_object *head = build_chain(rt, &plink_type, n, NULL);
    REQUIRE(head != NULL);
    CHECK_EQ(tracked_of(rt), 0);
    rcgc_decref(rt, head);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(lk.finalized, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);

    /* Same with the harness's list-like non-GC container. */
    long m = t_scale(1000000);
    rcgc_object *prev = NULL;
    for (long i = 0; i < m; i++) {
        rcgc_object *o = t_new(rt, &t_plain_type, (int)i);
        REQUIRE(o != NULL);
        if (prev != NULL) t_append_steal(rt, o, prev);
        prev = o;
    }
    rcgc_xdecref(rt, prev);
    CHECK_EQ(t_live_objects(rt), 0);
    free(lk.marks);
    memset(&lk, 0, sizeof lk);
    t_teardown(rt);
}

/* test_gc.py test_trashcan_threads' invariant "len(C.inits) == len(C.dels)"
 * (spec §9.1 item 17, every object finalized exactly once) for one deep
 * chain of finalizer objects freed by one decref, and collected as a
 * cycle; python3 3.11.7 (trash.py): 10^6 calls either way. */
TEST(trashcan_deep_chain_finalized_once)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    memset(&lk, 0, sizeof lk);
    lk.marks = calloc((size_t)n, 1);
    REQUIRE(lk.marks != NULL);
    rcgc_object *head = build_chain(rt, &flink_type, n, NULL);
    REQUIRE(head != NULL);
    rcgc_decref(rt, head);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(lk.finalized, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);

    memset(lk.marks, 0, (size_t)n);
    lk.finalized = 0;
    rcgc_object *first = NULL;
    rcgc_object *last = build_chain(rt, &flink_type, n, &first);
    REQUIRE(last != NULL);
    ((link_obj *)first)->next = last;
    CHECK_EQ(rcgc_gc_collect(rt, 2), n);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(lk.finalized, n);
    bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);
    free(lk.marks);
    memset(&lk, 0, sizeof lk);
    t_teardown(rt);
}

/* Resurrection inside the trashcan: every 1000th link's finalizer stores
 * it; the deallocation of the chain stops there (the resurrected link still
 * holds the rest), and deferred objects are re-tracked before their
 * finalizer runs (3.13 keeps the tracked bit with the deposited object).
 * Releasing the survivors frees everything; nobody is finalized twice. */
TEST(trashcan_resurrection)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    memset(&lk, 0, sizeof lk);
    lk.marks = calloc((size_t)n, 1);
    REQUIRE(lk.marks != NULL);
    lk.resurrect_every = 1000;
    lk.holder = t_node(rt, -1);
    REQUIRE(lk.holder != NULL);
    rcgc_object *head = build_chain(rt, &flink_type, n, NULL);
    REQUIRE(head != NULL);
    rcgc_decref(rt, head);
    /* Only the links from the top down to the first resurrector died. */
    long expect_dead = n - 1 - ((n - 1 - 500) / 1000 * 1000 + 500) + 1;
    if (n <= 500) expect_dead = n;
    CHECK_EQ(lk.finalized, expect_dead);
    CHECK_EQ(t_as(lk.holder)->n, n > 500 ? 1 : 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    for (rcgc_ssize i = 0; i < t_as(lk.holder)->n; i++)
        CHECK(rcgc_object_is_tracked(t_as(lk.holder)->items[i]));
    /* Release the survivors until the whole chain is gone. */
    for (int round = 0; round < 100000 && t_as(lk.holder)->n > 0; round++)
        list_clear(rt, lk.holder);
    CHECK_EQ(t_live_objects(rt), 1);
    CHECK_EQ(lk.finalized, n);
    long bad = 0;
    for (long i = 0; i < n; i++) bad += lk.marks[i] != 1;
    CHECK_EQ(bad, 0);
    rcgc_decref(rt, lk.holder);
    free(lk.marks);
    memset(&lk, 0, sizeof lk);
    t_teardown(rt);
}

/* test_gc.py test_trashcan (spec §9.1 item 16): with automatic collection
 * on, build t = [t, Ouch()], u likewise and v = {1: v, 2: Ouch()}, 150 deep,
 * twice; Ouch.__del__ calls gc.collect() every 17th time.  No crash, and
 * python3 3.11.7 (trash.py): 900 Ouch created, 900 finalized. */
static long ouch_n;

static int h_ouch(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    ouch_n++;
    if (ouch_n % 17 == 0) rcgc_gc_collect(rt, 2);
    return 0;
}

static rcgc_object *ouch_nest(rcgc_runtime *rt, const rcgc_type *outer, int n,
                              long *inits)
{
    rcgc_object *t = t_new(rt, outer, 0);
    for (int i = 0; i < n && t != NULL; i++) {
        rcgc_object *nt = t_new(rt, outer, i);
        rcgc_object *ouch = t_new(rt, &t_fnode_type, i);
        if (nt == NULL || ouch == NULL) return NULL;
        t_as(ouch)->on_finalize = h_ouch;
        (*inits)++;
        t_append_steal(rt, nt, t);
        t_append_steal(rt, nt, ouch);
        t = nt;
    }
    return t;
}

TEST(trashcan_under_gc_pressure)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg); /* gc enabled, 700/10/10 */
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    ouch_n = 0;
    long inits = 0;
    rcgc_object *t = NULL, *u = NULL, *v = NULL;
    for (int count = 0; count < 2; count++) {
        rcgc_object *nt = ouch_nest(rt, &t_node_type, 150, &inits);
        REQUIRE(nt != NULL);
        rcgc_xdecref(rt, t);
        t = nt;
        rcgc_object *nu = ouch_nest(rt, &t_node_type, 150, &inits);
        REQUIRE(nu != NULL);
        rcgc_xdecref(rt, u);
        u = nu;
        rcgc_object *nv = ouch_nest(rt, &t_dict_type, 150, &inits);
        REQUIRE(nv != NULL);
        rcgc_xdecref(rt, v);
        v = nv;
        CHECK_EQ(rcgc_gc_check(rt), 0);
    }
    rcgc_decref(rt, t);
    rcgc_decref(rt, u);
    rcgc_decref(rt, v);
    rcgc_gc_disable(rt);
    CHECK_EQ(inits, 900);
    CHECK_EQ(ouch_n, 900);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

/* test_gc.py test_trashcan's hazard ("abusing the type pointer and refcount
 * fields ... problems when gc tries to traverse the structures"), pushed
 * further: every 100th finalizer of a deep chain being torn down creates a
 * 2-cycle and collects; objects deposited in the trashcan (refcount field
 * reused as a link) must stay invisible to the collector, and each
 * collection finds exactly its 2-cycle. */
static int h_collect_every_100(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    if (++ouch_n % 100 == 0) {
        rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
        if (a && b) t_link2(rt, a, b);
        rcgc_xdecref(rt, a);
        rcgc_xdecref(rt, b);
        if (rcgc_gc_collect(rt, 2) != 2) act.alloc_failed++;
    }
    return 0;
}

TEST(trashcan_collect_in_finalizers)
{
    rcgc_runtime *rt = t_runtime();
    memset(&act, 0, sizeof act);
    ouch_n = 0;
    long n = t_scale(100000);
    rcgc_object *prev = NULL;
    for (long i = 0; i < n; i++) {
        rcgc_object *o = t_new(rt, &t_fnode_type, (int)i);
        REQUIRE(o != NULL);
        t_as(o)->on_finalize = h_collect_every_100;
        if (prev != NULL) t_append_steal(rt, o, prev);
        prev = o;
    }
    rcgc_xdecref(rt, prev);
    CHECK_EQ(ouch_n, n);
    CHECK_EQ(act.alloc_failed, 0); /* each collection found its 2-cycle */
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    t_teardown(rt);
}

TEST_MAIN(T(new_object_is_zeroed_refcount_one_untracked), T(new_non_gc_object),
          T(incref_decref), T(clear_and_setref_order), T(visit_macro),
          T(track_untrack), T(untrack_keeps_finalized_mark), T(may_be_tracked),
          T(immortal_basics), T(immortal_container_children_are_roots),
          T(finalizer_makes_object_immortal), T(new_sized), T(dealloc_order),
          T(dealloc_stops_on_resurrection), T(finalizer_error_is_unraisable),
          T(finalization_simple), T(finalization_simple_resurrect),
          T(finalization_non_gc), T(finalization_non_gc_resurrect),
          T(finalization_self_cycle), T(finalization_self_cycle_resurrect),
          T(finalization_self_cycle_suicide), T(finalization_chain_homogenous),
          T(finalization_chain_homogenous_resurrect),
          T(finalization_chain_homogenous_suicidal),
          T(finalization_chain_heterogenous_suicidal_one),
          T(finalization_chain_heterogenous_suicidal_two),
          T(finalization_chain_heterogenous_resurrect_one),
          T(finalization_chain_heterogenous_resurrect_two),
          T(finalization_chain_heterogenous_resurrect_three),
          T(finalization_legacy), T(finalization_legacy_resurrect),
          T(finalization_legacy_self_cycle),
          T(legacy_leaf_of_collectable_cycle), T(call_finalizer),
          T(finalizer_allocates), T(finalizer_allocates_with_tiny_threshold),
          T(finalizer_frees_others_during_collection),
          T(finalizer_breaks_own_cycle), T(finalizer_calls_collect),
          T(trashcan_deep_chain_decref), T(trashcan_deep_cycle_collect),
          T(trashcan_deep_non_gc_chain), T(trashcan_deep_chain_finalized_once),
          T(trashcan_resurrection), T(trashcan_under_gc_pressure),
          T(trashcan_collect_in_finalizers))

/*
 * test_object.c - objects, part 1: allocation, reference counts, tracking,
 * immortality, sized objects, deallocation order, and finalizer errors on
 * refcount death.  Part 2 (test_object_finalize.c) is finalizers on refcount
 * death and in collections (PEP 442 and legacy, CPython's
 * test_finalization.py); part 3 (test_object_trashcan.c) the trashcan.
 *
 * Expected numbers marked "python3 3.11.7" were measured on this machine with
 * an equivalent Python script (instances whose __del__ records calls,
 * _testcapi.without_gc / with_tp_del for the non-GC and legacy cases).
 */
#include "test.h"
#include "object_fixtures.h"

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

TEST_MAIN(T(new_object_is_zeroed_refcount_one_untracked),
          T(new_non_gc_object), T(incref_decref), T(clear_and_setref_order),
          T(visit_macro), T(track_untrack), T(untrack_keeps_finalized_mark),
          T(may_be_tracked), T(immortal_basics),
          T(immortal_container_children_are_roots),
          T(finalizer_makes_object_immortal), T(new_sized), T(dealloc_order),
          T(dealloc_stops_on_resurrection), T(finalizer_error_is_unraisable))

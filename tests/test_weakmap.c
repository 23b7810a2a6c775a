/*
 * test_weakmap.c - the weak containers (CPython's WeakValueDictionary,
 * WeakSet and WeakKeyDictionary, Lib/weakref.py and Lib/_weakrefset.py),
 * part 1: set/get/contains/delete/clear/len of each; entries vanishing when
 * their object dies by refcount and by collection, and what collect()
 * counts; the weak-key map's ephemerons (a value referring to its key is
 * collected, where CPython's WeakKeyDictionary leaks); containers that are
 * garbage or sit in cycles.  Part 2 (iteration, compaction, out of memory)
 * is test_weakmap_iter.c.
 *
 * Expected outcomes are CPython 3.11's where CPython has them; unless a
 * comment says otherwise they were confirmed on this machine's python3
 * (3.11.7), after gc.disable() and a cleaning gc.collect(), with one-GC-
 * object nodes: class N(list): __slots__ = ('__weakref__',) for values and
 * class H: __slots__ = ('__weakref__', 'r') for hashable keys and items (a
 * list is not hashable).  Where rcgc differs on purpose (ephemerons,
 * iteration, byte-string and identity keys; docs/weakref.md, "Differences
 * from CPython") the test asserts rcgc's documented behaviour and the
 * comment says what CPython does.
 */
#include "test.h"
#include "weakmap_fixtures.h"

/* ------------------------------------------------------------------------ */
/* basic operations                                                          */

/* test_weakref.py test_weak_values; spec §5.8, §9.4 item 96: each value
 * has exactly one weak reference (the entry's); d[o.arg] is o; deleting one
 * object drops len by 1, deleting all gives 0; a missing key is absent
 * (KeyError; rcgc: NULL); d[2] = C() is gone at once (python3: [1]*10, 9,
 * 0, False, 0).  Keys are byte strings, copied (CPython: any hashable). */
TEST(wvmap_basic)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wvmap_new(rt);
    REQUIRE(d != NULL);
    CHECK(rcgc_object_is_tracked(d));
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    rcgc_object *objects[10];
    for (int i = 0; i < 10; i++) {
        objects[i] = t_wnode(rt, i);
        CHECK_EQ(c_put(rt, d, K_VMAP, objects[i]), 0);
    }
    char k[32];
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(rcgc_weakref_count(objects[i]), 1);
        CHECK_EQ(objects[i]->refcnt, 1);
        rcgc_object *v = rcgc_wvmap_get(rt, d, k, key_of(i, k));
        CHECK(v == objects[i]);
        CHECK_EQ(objects[i]->refcnt, 2); /* a new reference */
        rcgc_xdecref(rt, v);
    }
    CHECK_EQ(rcgc_weak_len(rt, d), 10);
    rcgc_decref(rt, objects[0]);
    CHECK_EQ(rcgc_weak_len(rt, d), 9);
    CHECK(rcgc_wvmap_get(rt, d, "k0", 2) == NULL);
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "k0", 2), 0);
    for (int i = 1; i < 10; i++) rcgc_decref(rt, objects[i]);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK(rcgc_wvmap_get(rt, d, "k1", 2) == NULL);
    rcgc_object *c = t_wnode(rt, 2);
    CHECK_EQ(rcgc_wvmap_set(rt, d, "2", 1, c), 0);
    rcgc_decref(rt, c);
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "2", 1), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    rcgc_decref(rt, d);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* The weak-value map's operations in detail: replacing a value (len
 * unchanged, the old value loses its weak reference), delete and its
 * RCGC_ENOTFOUND, clear, keys copied (the caller's buffer may change),
 * binary keys with NUL bytes, the empty key. */
TEST(wvmap_set_replace_delete_clear)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wvmap_new(rt);
    rcgc_object *a = t_wnode(rt, 1), *b = t_wnode(rt, 2), *e = t_wnode(rt, 3);
    char buf[8] = "key";
    CHECK_EQ(rcgc_wvmap_set(rt, d, buf, 3, a), 0);
    strcpy(buf, "xyz");
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "key", 3), 1);
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "xyz", 3), 0);
    CHECK_EQ(rcgc_wvmap_set(rt, d, "key", 3, b), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(rcgc_weakref_count(a), 0);
    CHECK_EQ(rcgc_weakref_count(b), 1);
    rcgc_object *v = rcgc_wvmap_get(rt, d, "key", 3);
    CHECK(v == b);
    rcgc_xdecref(rt, v);
    rcgc_decref(rt, a); /* the replaced value's death changes nothing */
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    /* binary keys, a key that is a prefix of another, the empty key */
    CHECK_EQ(rcgc_wvmap_set(rt, d, "a\0b", 3, e), 0);
    CHECK_EQ(rcgc_wvmap_set(rt, d, "a", 1, b), 0);
    CHECK_EQ(rcgc_wvmap_set(rt, d, "", 0, e), 0);
    CHECK_EQ(rcgc_wvmap_set(rt, d, NULL, 0, b), 0); /* the empty key again */
    CHECK_EQ(rcgc_weak_len(rt, d), 4);
    v = rcgc_wvmap_get(rt, d, "", 0);
    CHECK(v == b);
    rcgc_xdecref(rt, v);
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "a\0c", 3), 0);
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "a\0b", 3), 1);
    CHECK_EQ(rcgc_weakref_count(e), 1);
    CHECK_EQ(rcgc_weakref_count(b), 3);
    CHECK_EQ(rcgc_wvmap_delete(rt, d, "a\0b", 3), 0);
    CHECK_EQ(rcgc_wvmap_delete(rt, d, "a\0b", 3), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_wvmap_delete(rt, d, "nope", 4), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_weakref_count(e), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 3);
    CHECK_EQ(rcgc_weak_clear(rt, d), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(rcgc_weakref_count(b), 0);
    CHECK_EQ(rcgc_wvmap_contains(rt, d, "key", 3), 0);
    /* usable after clear */
    CHECK_EQ(rcgc_wvmap_set(rt, d, "key", 3, e), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    rcgc_decref(rt, b);
    rcgc_decref(rt, e);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* Spec §5.10 (WeakSet): add, contains, discard, len, clear; adding twice
 * keeps one entry and one weak reference; an item's death removes it
 * (python3 with H items: len 1 after a double add, 0 after the death). */
TEST(wset_basic)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *s = rcgc_wset_new(rt);
    REQUIRE(s != NULL);
    rcgc_object *a = t_wnode(rt, 1), *b = t_wnode(rt, 2);
    CHECK_EQ(rcgc_wset_add(rt, s, a), 0);
    CHECK_EQ(rcgc_wset_add(rt, s, a), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 1);
    CHECK_EQ(rcgc_weakref_count(a), 1);
    CHECK_EQ(a->refcnt, 1);
    CHECK_EQ(rcgc_wset_contains(rt, s, a), 1);
    CHECK_EQ(rcgc_wset_contains(rt, s, b), 0);
    CHECK_EQ(rcgc_wset_discard(rt, s, b), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_wset_add(rt, s, b), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 2);
    CHECK_EQ(rcgc_wset_discard(rt, s, a), 0);
    CHECK_EQ(rcgc_wset_contains(rt, s, a), 0);
    CHECK_EQ(rcgc_weakref_count(a), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 1);
    CHECK_EQ(rcgc_wset_add(rt, s, a), 0);
    CHECK_ITER(rt, s, K_SET, 2, 1);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_weak_len(rt, s), 1);
    CHECK_EQ(rcgc_weak_clear(rt, s), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 0);
    CHECK_EQ(rcgc_weakref_count(a), 0);
    rcgc_decref(rt, a);
    rcgc_decref(rt, s);
    t_finish(rt);
}

/* test_weakref.py test_weak_keys, test_weak_keyed_bad_delitem; spec §5.9,
 * §9.4 items 96, 100: each key has one weak reference; d[o] is its value;
 * deleting a key object drops len by 1, all -> 0; after d[o] = v, o in d;
 * a missing key -> KeyError (rcgc: NULL / RCGC_ENOTFOUND); a key that
 * cannot be weakly referenced -> TypeError on set (rcgc: RCGC_ENOTWEAK;
 * get/delete simply do not find it).  Values are held strongly and freed
 * with their entry (python3: [1]*10, 9, 0, True). */
TEST(wkmap_basic)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    REQUIRE(d != NULL);
    rcgc_object *objects[10], *values[10];
    for (int i = 0; i < 10; i++) {
        objects[i] = t_wnode(rt, i);
        values[i] = t_wnode(rt, 100 + i);
        CHECK_EQ(rcgc_wkmap_set(rt, d, objects[i], values[i]), 0);
        CHECK_EQ(values[i]->refcnt, 2);
    }
    rcgc_object *w9 = rcgc_weakref_new(rt, values[9], NULL, NULL);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(rcgc_weakref_count(objects[i]), 1);
        rcgc_object *v = rcgc_wkmap_get(rt, d, objects[i]);
        CHECK(v == values[i]);
        rcgc_xdecref(rt, v);
        rcgc_decref(rt, values[i]);
    }
    CHECK_EQ(rcgc_weak_len(rt, d), 10);
    rcgc_decref(rt, objects[0]);
    CHECK_EQ(rcgc_weak_len(rt, d), 9);
    for (int i = 1; i < 10; i++) rcgc_decref(rt, objects[i]);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK(!t_wr_alive(rt, w9)); /* the value went with its key */
    rcgc_decref(rt, w9);
    CHECK_EQ(t_live_objects(rt), 1);

    rcgc_object *o = t_wnode(rt, 42), *v1 = t_wnode(rt, 1), *v2 = t_wnode(rt, 2);
    CHECK_EQ(rcgc_wkmap_set(rt, d, o, v1), 0);
    CHECK_EQ(rcgc_wkmap_contains(rt, d, o), 1);
    CHECK_EQ(rcgc_wkmap_contains(rt, d, v1), 0);
    CHECK(rcgc_wkmap_get(rt, d, v1) == NULL);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, v1), RCGC_ENOTFOUND);
    /* replacing the value drops the old one */
    CHECK_EQ(rcgc_wkmap_set(rt, d, o, v2), 0);
    CHECK_EQ(v1->refcnt, 1);
    CHECK_EQ(v2->refcnt, 2);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(rcgc_weakref_count(o), 1);
    /* bad keys */
    rcgc_object *i13 = t_leaf(rt, 13);
    CHECK_EQ(rcgc_wkmap_set(rt, d, i13, v1), RCGC_ENOTWEAK);
    CHECK(rcgc_wkmap_get(rt, d, i13) == NULL);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, i13), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(v1->refcnt, 1);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, o), 0);
    CHECK_EQ(v2->refcnt, 1);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(rcgc_wkmap_set(rt, d, o, v2), 0);
    CHECK_EQ(rcgc_weak_clear(rt, d), 0);
    CHECK_EQ(v2->refcnt, 1);
    CHECK_EQ(rcgc_weakref_count(o), 0);
    rcgc_decref(rt, i13);
    rcgc_decref(rt, o);
    rcgc_decref(rt, v1);
    rcgc_decref(rt, v2);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* Objects of types that cannot be weakly referenced are refused where they
 * would be held weakly (CPython: TypeError: cannot create weak reference);
 * calls on the wrong kind of container, or on a non-container, are
 * RCGC_EINVAL (CPython: AttributeError/TypeError).  Nothing changes. */
TEST(bad_arguments)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *vm = rcgc_wvmap_new(rt), *s = rcgc_wset_new(rt),
                *km = rcgc_wkmap_new(rt);
    rcgc_object *l = t_node(rt, 1), *i = t_leaf(rt, 2), *o = t_wnode(rt, 3);
    rcgc_ssize before = t_live_objects(rt);
    CHECK_EQ(rcgc_wvmap_set(rt, vm, "a", 1, l), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_wvmap_set(rt, vm, "a", 1, i), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_wset_add(rt, s, l), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_wkmap_set(rt, km, l, o), RCGC_ENOTWEAK);
    /* a non-weakrefable value of a weak-key map is fine: held strongly */
    CHECK_EQ(rcgc_wkmap_set(rt, km, o, l), 0);
    CHECK_EQ(rcgc_wkmap_delete(rt, km, o), 0);
    CHECK_EQ(t_live_objects(rt), before);
    /* wrong kind */
    CHECK_EQ(rcgc_wvmap_set(rt, s, "a", 1, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_wset_add(rt, km, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_wkmap_set(rt, vm, o, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_wset_add(rt, l, o), RCGC_EINVAL);
    CHECK(rcgc_wvmap_get(rt, km, "a", 1) == NULL);
    CHECK(rcgc_wkmap_get(rt, s, o) == NULL);
    CHECK_EQ(rcgc_wset_contains(rt, vm, o), 0);
    CHECK_EQ(rcgc_wset_discard(rt, vm, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_wkmap_delete(rt, s, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_wvmap_delete(rt, s, "a", 1), RCGC_EINVAL);
    CHECK_EQ(rcgc_weak_len(rt, l), RCGC_EINVAL);
    CHECK_EQ(rcgc_weak_clear(rt, o), RCGC_EINVAL);
    rcgc_witer it;
    CHECK_EQ(rcgc_witer_begin(rt, o, &it), RCGC_EINVAL);
    CHECK_EQ(rcgc_witer_next(&it), 0);
    rcgc_witer_end(&it);
    /* NULL items and values */
    CHECK_EQ(rcgc_wset_add(rt, s, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_wkmap_set(rt, km, o, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_wkmap_set(rt, km, NULL, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_wvmap_set(rt, vm, NULL, 3, o), RCGC_EINVAL);
    CHECK_EQ(rcgc_weak_len(rt, vm) + rcgc_weak_len(rt, s) + rcgc_weak_len(rt, km), 0);
    CHECK_EQ(t_live_objects(rt), before);
    CHECK_EQ(rcgc_weakref_count(o), 0);
    rcgc_decref(rt, vm);
    rcgc_decref(rt, s);
    rcgc_decref(rt, km);
    rcgc_decref(rt, l);
    rcgc_decref(rt, i);
    rcgc_decref(rt, o);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* entries vanishing                                                         */

/* Spec §5.8-§5.10: an entry disappears when its object dies by refcount,
 * at once, for each container; the others stay, in order. */
TEST(entries_vanish_on_refcount_death)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[5];
        for (int i = 0; i < 5; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_decref(rt, o[1]);
        rcgc_decref(rt, o[3]);
        CHECK_EQ(rcgc_weak_len(rt, c), 3);
        if (kind == K_VMAP) CHECK(!c_has_id(rt, c, kind, 1, NULL));
        CHECK_ITER(rt, c, kind, 0, 2, 4);
        for (int i = 0; i < 5; i += 2) CHECK(c_has(rt, c, kind, o[i]));
        rcgc_decref(rt, o[0]);
        rcgc_decref(rt, o[2]);
        rcgc_decref(rt, o[4]);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Spec §5.8 ("a self-cycle stored as a value disappears at gc.collect()
 * (len 0) and the collection reports 2 (object + freed KeyedRef)"), the
 * same for WeakSet items and WeakKeyDictionary keys (python3: 2, len 0 for
 * each; the key map with an int value and with a node value the key does
 * not reference: 2, and the node value freed by refcount). */
TEST(entries_vanish_in_collection)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *keep = t_wnode(rt, 9);
        rcgc_object *o = t_self_cycle(rt, &t_wnode_type, 1);
        CHECK_EQ(c_put(rt, c, kind, o), 0);
        CHECK_EQ(c_put(rt, c, kind, keep), 0);
        rcgc_decref(rt, o);
        CHECK_EQ(rcgc_weak_len(rt, c), 2);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
        CHECK_EQ(rcgc_weak_len(rt, c), 1);
        CHECK_ITER(rt, c, kind, 9);
        rcgc_decref(rt, keep);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
    /* the key map with a GC value that does not refer to its key */
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *k = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *v = t_wnode(rt, 2);
    CHECK_EQ(rcgc_wkmap_set(rt, d, k, v), 0);
    rcgc_object *wv = rcgc_weakref_new(rt, v, NULL, NULL);
    rcgc_decref(rt, k);
    rcgc_decref(rt, v);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK(!t_wr_alive(rt, wv));
    rcgc_decref(rt, wv);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* ephemerons                                                                */

/* docs/weakref.md "Ephemerons", cpython#88846: a weak-key map whose value
 * refers to its key.  CPython's WeakKeyDictionary leaks: python3 with
 *     class H: __slots__ = ('__weakref__', 'r')
 *     d = WeakKeyDictionary(); key = H(); v = N([key]); d[key] = v
 *     del key, v; gc.collect() -> 0, len(d) == 1, the key still alive
 * (and so after any number of collections).  rcgc collects the key, the
 * value and the entry's weak reference: len 0, nothing left.
 * collect() returns 1: the entry's reaction drops the value, whose death
 * by refcount frees the key too, before delete_garbage; by CPython's
 * counting rule (spec §2.12: freed weak references + what is still in
 * final_unreachable) objects freed by refcount during the callback and
 * finalizer phases are not counted, just as python3 returns 0 for a
 * "suicidal" self-cycle or 2-cycle whose __del__ breaks it. */
TEST(ephemeron_value_refers_to_key)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *key = t_wnode(rt, 1);
    rcgc_object *v = t_wnode(rt, 2);
    t_append(rt, v, key);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_object *wkey = rcgc_weakref_new(rt, key, NULL, NULL);
    rcgc_object *wval = rcgc_weakref_new(rt, v, NULL, NULL);
    rcgc_decref(rt, key);
    rcgc_decref(rt, v);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    rcgc_ssize n = rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK(!t_wr_alive(rt, wkey));
    CHECK(!t_wr_alive(rt, wval));
    CHECK_EQ(t_live_objects(rt), 3); /* d, wkey, wval */
    CHECK_EQ(n, 1);
    rcgc_decref(rt, wkey);
    rcgc_decref(rt, wval);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* The same when the value is also part of a cycle with another garbage
 * object g (g <-> v, v -> key): the value survives the reaction (g holds
 * it), so key, value and g are still unreachable at delete_garbage: with
 * the freed weak reference, 4 (CPython leaks these too: python3 0, len 1). */
TEST(ephemeron_value_in_cycle)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *key = t_wnode(rt, 1);
    rcgc_object *v = t_wnode(rt, 2);
    rcgc_object *gg = t_wnode(rt, 3);
    t_append(rt, v, key);
    t_link2(rt, v, gg);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_decref(rt, key);
    rcgc_decref(rt, v);
    rcgc_decref(rt, gg);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* Ephemerons, the other way round: while the key is alive its value stays,
 * even when only the map refers to the value and the value refers back to
 * the map and to the key (collect() == 0, get gives the value); when the
 * key dies by refcount its value goes at once. */
TEST(ephemeron_value_kept_while_key_lives)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *key = t_wnode(rt, 1);
    rcgc_object *v = t_wnode(rt, 2);
    t_append(rt, v, d);
    t_append(rt, v, key);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_decref(rt, v);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    rcgc_object *got = rcgc_wkmap_get(rt, d, key);
    CHECK(got == v);
    rcgc_xdecref(rt, got);
    rcgc_object *wv = rcgc_weakref_new(rt, v, NULL, NULL);
    t_remove(rt, v, key);
    rcgc_decref(rt, key);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK(!t_wr_alive(rt, wv));
    CHECK_EQ(d->refcnt, 1);
    rcgc_decref(rt, wv);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* Chains of ephemerons (docs/weakref.md step 3, "repeat until a round
 * changes nothing"): d[k0] = k1, d[k1] = k2, d[k2] = k3, d[k3] = k4 and
 * k4 -> k0, inserted last first so that each round of move_ephemerons
 * brings back only one more value.  While the program holds k0 everything
 * stays (collect() == 0, len 4); once it lets go everything is collected.
 * CPython leaks the whole chain (python3 with H keys: 0, len 4). */
TEST(ephemeron_chain)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *k[5], *w[5];
    for (int i = 0; i < 5; i++) k[i] = t_wnode(rt, i);
    t_append(rt, k[4], k[0]);
    for (int i = 3; i >= 0; i--) CHECK_EQ(rcgc_wkmap_set(rt, d, k[i], k[i + 1]), 0);
    for (int i = 0; i < 5; i++) w[i] = rcgc_weakref_new(rt, k[i], NULL, NULL);
    for (int i = 1; i < 5; i++) rcgc_decref(rt, k[i]);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 4);
    for (int i = 0; i < 5; i++) CHECK(t_wr_alive(rt, w[i]));
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    rcgc_decref(rt, k[0]);
    CHECK_EQ(rcgc_weak_len(rt, d), 4); /* k0 still held by k4 */
    /* the four reactions free the whole chain by refcount: only the four
     * freed weak references count (see ephemeron_value_refers_to_key) */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    for (int i = 0; i < 5; i++) CHECK(!t_wr_alive(rt, w[i]));
    for (int i = 0; i < 5; i++) rcgc_decref(rt, w[i]);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* docs/weakref.md: "A map outside the collected generations keeps its
 * values (its references count as external): the next collection of its
 * generation decides."  The map is in generation 2; a young key whose
 * value refers back to it survives collections of generations 0 and 1 and
 * goes at the next full collection. */
TEST(ephemeron_map_in_older_generation)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0); /* d to generation 2 */
    rcgc_object *key = t_wnode(rt, 1);
    rcgc_object *v = t_wnode(rt, 2);
    t_append(rt, v, key);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_object *wkey = rcgc_weakref_new(rt, key, NULL, NULL);
    rcgc_decref(rt, key);
    rcgc_decref(rt, v);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 1), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK(t_wr_alive(rt, wkey));
    CHECK(rcgc_gc_collect(rt, 2) > 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK(!t_wr_alive(rt, wkey));
    rcgc_decref(rt, wkey);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* docs/weakref.md: "A key of a non-GC type never dies by collection, so
 * neither does its value": a non-GC weakly referenceable key whose value
 * refers to it stays (collect() == 0, len 1); deleting the entry frees
 * both by refcount. */
TEST(ephemeron_non_gc_key)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *key = t_new(rt, &t_wleaf_type, 1);
    rcgc_object *v = t_wnode(rt, 2);
    t_append(rt, v, key);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_decref(rt, key);
    rcgc_decref(rt, v);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(rcgc_wkmap_contains(rt, d, key), 1);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, key), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    /* a non-GC key dies by refcount as any other */
    key = t_new(rt, &t_wleaf_type, 3);
    v = t_wnode(rt, 4);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_decref(rt, v);
    rcgc_decref(rt, key);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* A key that is its own value (d[k] = k), and two maps whose entries refer
 * to each other's keys (m1[k1] = k2, m2[k2] = k1): ephemeron cycles, which
 * the collector frees (CPython's WeakKeyDictionary leaks both: python3
 * collect() == 0, len 1, and 0, 1, 1); while the program holds k1 the
 * cross-map pair stays. */
TEST(ephemeron_self_and_cross_maps)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *k = t_wnode(rt, 1);
    CHECK_EQ(rcgc_wkmap_set(rt, d, k, k), 0);
    rcgc_decref(rt, k);
    CHECK(rcgc_gc_collect(rt, 2) > 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(t_live_objects(rt), 1);

    rcgc_object *m1 = rcgc_wkmap_new(rt), *m2 = rcgc_wkmap_new(rt);
    rcgc_object *k1 = t_wnode(rt, 1), *k2 = t_wnode(rt, 2);
    CHECK_EQ(rcgc_wkmap_set(rt, m1, k1, k2), 0);
    CHECK_EQ(rcgc_wkmap_set(rt, m2, k2, k1), 0);
    rcgc_decref(rt, k2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_weak_len(rt, m1) + rcgc_weak_len(rt, m2), 2);
    rcgc_decref(rt, k1);
    CHECK(rcgc_gc_collect(rt, 2) > 0);
    CHECK_EQ(rcgc_weak_len(rt, m1), 0);
    CHECK_EQ(rcgc_weak_len(rt, m2), 0);
    CHECK_EQ(t_live_objects(rt), 3);
    rcgc_decref(rt, m1);
    rcgc_decref(rt, m2);
    rcgc_decref(rt, d);
    t_finish(rt);
}

static rcgc_object *g_holder;

static int h_resurrect_key(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)ctx;
    return t_append(rt, g_holder, t_as(self)->items[0]);
}

/* An ephemeron value whose __del__ stores its key somewhere reachable: the
 * value dies when the entry goes (key and value were garbage), its
 * finalizer resurrects the key; the key lives on, with its weak references
 * dead (they were cleared before any client code ran, as for any cyclic
 * resurrection, spec §2.8.1) and no entry; nothing is left half-cleared. */
TEST(ephemeron_value_resurrects_key)
{
    rcgc_runtime *rt = t_runtime();
    g_holder = t_node(rt, 0);
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *key = t_wnode(rt, 1);
    t_append_steal(rt, key, t_leaf(rt, 5)); /* some content */
    rcgc_object *v = t_new(rt, &t_wfnode_type, 2);
    t_as(v)->on_finalize = h_resurrect_key;
    t_append(rt, v, key);
    CHECK_EQ(rcgc_wkmap_set(rt, d, key, v), 0);
    rcgc_object *wkey = rcgc_weakref_new(rt, key, NULL, NULL);
    rcgc_decref(rt, key);
    rcgc_decref(rt, v);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(t_as(g_holder)->n, 1);
    CHECK(rcgc_weakref_get(rt, wkey) == NULL);
    if (t_as(g_holder)->n == 1) {
        rcgc_object *k = t_as(g_holder)->items[0];
        CHECK(k == key);
        CHECK_EQ(t_as(k)->n, 1); /* not cleared */
        CHECK_EQ(rcgc_weakref_count(k), 0);
    }
    t_clear(rt, g_holder);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    rcgc_decref(rt, wkey);
    rcgc_decref(rt, g_holder);
    rcgc_decref(rt, d);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.6 / §9.2 item 59 (what a legacy finalizer reaches is left
 * alone): an uncollectable cycle (an object with tp_del) holds a weak-key
 * map whose key is alive; the entry's value is reachable only through the
 * map.  The value belongs to what the uncollectable garbage keeps: it must
 * not be cleared, and the map still gives it (python3 with
 * _testcapi.with_tp_del and a WeakKeyDictionary: len(gc.garbage) == 1,
 * the value intact, d[k] is v). */
TEST(ephemeron_value_reachable_from_uncollectable)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *l = t_self_cycle(rt, &t_wlnode_type, 1);
    rcgc_object *d = rcgc_wkmap_new(rt);
    t_append(rt, l, d);
    rcgc_object *k = t_wnode(rt, 2);
    rcgc_object *v = t_wnode(rt, 3);
    t_append_steal(rt, v, t_wnode(rt, 4));
    CHECK_EQ(rcgc_wkmap_set(rt, d, k, v), 0);
    rcgc_object *wv = rcgc_weakref_new(rt, v, NULL, NULL);
    rcgc_decref(rt, l);
    rcgc_decref(rt, d);
    rcgc_decref(rt, v);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK(t_wr_alive(rt, wv));
    CHECK_EQ(t_as(v)->n, 1); /* v -> its child, not cleared */
    rcgc_object *got = rcgc_wkmap_get(rt, d, k);
    CHECK(got == v);
    rcgc_xdecref(rt, got);
    t_clean_garbage(rt);
    CHECK(!t_wr_alive(rt, wv));
    rcgc_decref(rt, wv);
    rcgc_decref(rt, k);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* The other way round: the map is reachable and its KEY is uncollectable
 * (a legacy finalizer in a garbage cycle).  The key is kept, so its value
 * is too: it survives as reachable - not finalized, not counted, not
 * uncollectable - as with CPython's WeakKeyDictionary, which holds values
 * strongly (python3, a tp_del key via _testcapi.with_tp_del in a cycle: the
 * key in gc.garbage, the entry still there, the value's __del__ not called;
 * the scenario oracle's count for this shape is 1).  Found by the v2
 * campaign (seed 61042, reduced to 8 lines): rcgc finalized the value. */
static int value_finalized;

static int count_value_finalize(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    (void)ctx;
    value_finalized++;
    return 0;
}

TEST(ephemeron_value_of_uncollectable_key_kept)
{
    rcgc_runtime *rt = t_runtime();
    value_finalized = 0;
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *k = t_self_cycle(rt, &t_wlnode_type, 1);
    rcgc_object *v = t_new(rt, &t_wfnode_type, 2);
    t_as(v)->on_finalize = count_value_finalize;
    rcgc_object *child = t_wnode(rt, 3);
    t_append_steal(rt, v, child); /* what the value reaches comes back too */
    CHECK_EQ(rcgc_wkmap_set(rt, d, k, v), 0);
    rcgc_decref(rt, v);
    rcgc_decref(rt, k);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(value_finalized, 0);
    CHECK(rcgc_object_is_tracked(v) && rcgc_object_is_tracked(child));
    CHECK_EQ(t_as(v)->n, 1);
    rcgc_gc_stats st[3];
    rcgc_gc_get_stats(rt, st);
    CHECK_EQ(st[2].uncollectable, 1);
    rcgc_object *got = rcgc_wkmap_get(rt, d, k);
    CHECK(got == v);
    rcgc_xdecref(rt, got);
    t_clean_garbage(rt); /* the key dies: its entry and value go */
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(value_finalized, 1); /* v is freed: not read after this */
    rcgc_decref(rt, d);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* rcgc_runtime_free's report (rcgc.h: "alive: still referenced after
 * [teardown's collections], other than by uncollectable garbage"): an
 * uncollectable cycle holding a weak-key map and its key; the value is
 * reachable from the garbage through the map only.  It is held by the
 * uncollectable garbage, not alive: uncollectable 1, alive 0; everything
 * is freed. */
TEST(teardown_uncollectable_map_value_not_alive)
{
    FILE *devnull = fopen("/dev/null", "w"); /* the teardown messages */
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug_stream = devnull;
    rcgc_runtime *rt = t_runtime_cfg(&cfg);
    REQUIRE(rt != NULL);
    rcgc_object *l = t_self_cycle(rt, &t_wlnode_type, 1);
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *k = t_wnode(rt, 2);
    rcgc_object *v = t_wnode(rt, 3);
    t_append_steal(rt, l, d);
    t_append_steal(rt, l, k);
    CHECK_EQ(rcgc_wkmap_set(rt, d, k, v), 0);
    rcgc_decref(rt, v);
    rcgc_decref(rt, l);
    rcgc_teardown_report r;
    int rc = rcgc_runtime_free(rt, &r);
    CHECK_EQ(rc, RCGC_ELIVE);
    CHECK_EQ(r.uncollectable, 1);
    CHECK_EQ(r.alive, 0);
    CHECK_EQ(r.leaked, 0);
    CHECK_EQ(t_alloc_state.live_blocks, 0);
    if (devnull != NULL) fclose(devnull);
}

/* ------------------------------------------------------------------------ */
/* containers as garbage, in cycles, outlived by their weak references      */

/* Each container is a tracked object and can be garbage.  A weak set held
 * only by a self-cycle n and containing n and a live x: collect() frees n,
 * the set and the two entries' weak references (4; garbage weak references
 * are cleared without their reaction, bpo-38006); x is left with no weak
 * reference and its later death does nothing.  (CPython's WeakSet is
 * several objects, so its count differs; the outcome is the same.) */
TEST(container_in_garbage)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *s = rcgc_wset_new(rt);
    rcgc_object *n = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *x = t_wnode(rt, 2);
    t_append_steal(rt, n, s);
    CHECK_EQ(rcgc_wset_add(rt, s, n), 0);
    CHECK_EQ(rcgc_wset_add(rt, s, x), 0);
    rcgc_decref(rt, n);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    CHECK_EQ(rcgc_weakref_count(x), 0);
    rcgc_decref(rt, x);
    CHECK_EQ(t_live_objects(rt), 0);

    /* a weak-key map in a cycle through its own value: m[k] = v, v -> m;
     * k stays alive: m, v and the entry's weak reference are collected */
    rcgc_object *m = rcgc_wkmap_new(rt);
    rcgc_object *k = t_wnode(rt, 3);
    rcgc_object *v = t_wnode(rt, 4);
    t_append(rt, v, m);
    CHECK_EQ(rcgc_wkmap_set(rt, m, k, v), 0);
    rcgc_decref(rt, v);
    rcgc_decref(rt, m);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    CHECK_EQ(rcgc_weakref_count(k), 0);
    CHECK_EQ(t_live_objects(rt), 1);
    rcgc_decref(rt, k);

    /* a weak-value map freed by refcount before its values */
    rcgc_object *vm = rcgc_wvmap_new(rt);
    rcgc_object *a = t_wnode(rt, 5);
    CHECK_EQ(rcgc_wvmap_set(rt, vm, "a", 1, a), 0);
    CHECK_EQ(rcgc_wvmap_set(rt, vm, "b", 1, a), 0);
    rcgc_decref(rt, vm);
    CHECK_EQ(rcgc_weakref_count(a), 0);
    rcgc_decref(rt, a);
    t_finish(rt);
}

/* docs/weakref.md: "a weak reference that outlives its container (someone
 * kept it) does nothing when it fires".  The entry's weak reference, taken
 * from the value's list, is an ordinary weak reference to the program
 * (alive, no user callback). */
TEST(entry_weakref_outlives_container)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o = t_wnode(rt, 1);
        CHECK_EQ(c_put(rt, c, kind, o), 0);
        rcgc_object **l = NULL;
        rcgc_ssize n = rcgc_weakref_list(rt, o, &l);
        REQUIRE(n == 1);
        rcgc_object *ew = l[0];
        rcgc_incref(ew);
        rcgc_objects_free(rt, l, n);
        CHECK(rcgc_is_weakref(ew));
        CHECK_EQ(rcgc_weakref_has_callback(ew), 0);
        CHECK(t_wr_alive(rt, ew));
        rcgc_decref(rt, c);
        CHECK(t_wr_alive(rt, ew)); /* it still refers to o */
        rcgc_decref(rt, o);
        CHECK(!t_wr_alive(rt, ew));
        rcgc_decref(rt, ew);
        CHECK_EQ(t_live_objects(rt), 0);
        t_finish(rt);
    }
}

/* test_weakref.py test_weak_keyed_cascading_deletes (SF bug 742860);
 * spec §9.4 item 99, adapted (rcgc's keys compare by identity, so the side
 * effect comes from a value's death instead of a key's __eq__): deleting
 * an entry whose value holds the last reference to another key removes
 * that key's entry too; only 2 explicit deletions empty the 4-entry map,
 * len 0 (CPython: count == 2, len(d) == 0). */
TEST(cascading_deletes)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    rcgc_object *k[4], *v[4];
    for (int i = 0; i < 4; i++) {
        k[i] = t_wnode(rt, i);
        v[i] = t_wnode(rt, 10 + i);
    }
    t_append(rt, v[0], k[3]);
    t_append(rt, v[1], k[2]);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(rcgc_wkmap_set(rt, d, k[i], v[i]), 0);
        rcgc_decref(rt, v[i]);
    }
    rcgc_object *w[4];
    for (int i = 0; i < 4; i++) w[i] = rcgc_weakref_new(rt, k[i], NULL, NULL);
    rcgc_decref(rt, k[2]);
    rcgc_decref(rt, k[3]);
    int count = 0;
    for (int i = 0; i < 4; i++) {
        if (!t_wr_alive(rt, w[i])) continue; /* its entry went already */
        count++;
        CHECK_EQ(rcgc_wkmap_delete(rt, d, k[i]), 0);
    }
    CHECK_EQ(count, 2);
    for (int i = 0; i < 4; i++) rcgc_decref(rt, w[i]);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    rcgc_decref(rt, k[0]);
    rcgc_decref(rt, k[1]);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* A finalizer hook that adds an entry (g_add_key -> a new leaf) to the map
 * g_map, the first time it runs. */
static rcgc_object *g_map, *g_add_key;

static int h_add_entry(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    if (g_add_key == NULL) return 0;
    rcgc_object *v = t_leaf(rt, 77);
    int r = rcgc_wkmap_set(rt, g_map, g_add_key, v);
    rcgc_decref(rt, v);
    g_add_key = NULL;
    return r;
}

/* Clearing a weak-key map whose value's finalizer adds an entry to the same
 * map while the clear runs: every entry that was there before the clear is
 * removed (CPython: dict.clear() empties the table before dropping the
 * values, so every old entry goes and the one added meanwhile stays).  The
 * value with the finalizer sits past the middle so that the addition finds
 * half the array tombstones (the point where the table compacts). */
TEST(clear_with_reentrant_addition)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    g_map = d;
    rcgc_object *k[4];
    for (int i = 0; i < 4; i++) {
        k[i] = t_wnode(rt, i);
        rcgc_object *v = i == 2 ? t_new(rt, &t_wfnode_type, 100 + i)
                                : t_wnode(rt, 100 + i);
        if (i == 2) t_as(v)->on_finalize = h_add_entry;
        CHECK_EQ(rcgc_wkmap_set(rt, d, k[i], v), 0);
        rcgc_decref(rt, v);
    }
    rcgc_object *knew = t_wnode(rt, 9);
    g_add_key = knew;
    CHECK_EQ(rcgc_weak_clear(rt, d), 0);
    CHECK(g_add_key == NULL); /* the finalizer ran */
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(rcgc_wkmap_contains(rt, d, k[i]), 0);
        CHECK_EQ(rcgc_weakref_count(k[i]), 0);
    }
    /* len agrees with what iteration shows */
    rcgc_witer it;
    int n = 0;
    CHECK_EQ(rcgc_witer_begin(rt, d, &it), 0);
    while (rcgc_witer_next(&it)) {
        n++;
        CHECK(it.key_obj == knew);
    }
    rcgc_witer_end(&it);
    CHECK_EQ(rcgc_weak_len(rt, d), n);
    CHECK_EQ(rcgc_weak_clear(rt, d), 0);
    for (int i = 0; i < 4; i++) rcgc_decref(rt, k[i]);
    rcgc_decref(rt, knew);
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* The same when the map itself is freed by refcount (its clear runs from
 * the deallocation) while the value's finalizer adds an entry: the map must
 * let go of every entry, old and new, before its memory goes; afterwards
 * the keys have no weak reference left, and their deaths touch nothing
 * (teardown finds no leak; the sanitizers no use after free). */
TEST(container_freed_while_finalizer_adds_entry)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wkmap_new(rt);
    g_map = d;
    rcgc_object *k[4];
    for (int i = 0; i < 4; i++) {
        k[i] = t_wnode(rt, i);
        rcgc_object *v = i == 2 ? t_new(rt, &t_wfnode_type, 100 + i)
                                : t_wnode(rt, 100 + i);
        if (i == 2) t_as(v)->on_finalize = h_add_entry;
        CHECK_EQ(rcgc_wkmap_set(rt, d, k[i], v), 0);
        rcgc_decref(rt, v);
    }
    rcgc_object *knew = t_wnode(rt, 9);
    g_add_key = knew;
    rcgc_decref(rt, d);
    CHECK(g_add_key == NULL);
    for (int i = 0; i < 4; i++) CHECK_EQ(rcgc_weakref_count(k[i]), 0);
    CHECK_EQ(rcgc_weakref_count(knew), 0);
    CHECK_EQ(t_live_objects(rt), 5); /* the keys */
    for (int i = 0; i < 4; i++) rcgc_decref(rt, k[i]);
    rcgc_decref(rt, knew);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

static rcgc_object *g_other;

static int cb_replace_k(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)wr;
    CHECK_EQ(rcgc_wvmap_contains(rt, arg, "k", 1), 0); /* already dead */
    CHECK_EQ(rcgc_weak_len(rt, arg), 1);                /* removal pending */
    return rcgc_wvmap_set(rt, arg, "k", 1, g_other);
}

/* Spec §5.8 (_remove_dead_weakref deletes only if the stored value is
 * still that dead reference): a value dies; a newer weak reference's
 * callback, which runs before the entry's removal, stores another value
 * under the same key; the removal then leaves the new entry alone: d['k']
 * is the new value, len 1 (python3: True, 1); the same in a collection. */
TEST(value_replaced_while_removal_pending)
{
    rcgc_runtime *rt = t_runtime();
    for (int round = 0; round < 2; round++) {
        rcgc_object *d = rcgc_wvmap_new(rt);
        g_other = t_wnode(rt, 1);
        rcgc_object *o = round == 0 ? t_wnode(rt, 2) : t_self_cycle(rt, &t_wnode_type, 2);
        REQUIRE(o != NULL);
        CHECK_EQ(rcgc_wvmap_set(rt, d, "k", 1, o), 0);
        rcgc_object *r = rcgc_weakref_new(rt, o, cb_replace_k, d);
        rcgc_decref(rt, o);
        if (round == 1) CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
        rcgc_object *v = rcgc_wvmap_get(rt, d, "k", 1);
        CHECK(v == g_other);
        rcgc_xdecref(rt, v);
        CHECK_EQ(rcgc_weak_len(rt, d), 1);
        CHECK_EQ(rcgc_weakref_count(g_other), 1);
        rcgc_decref(rt, r);
        rcgc_decref(rt, g_other);
        CHECK_EQ(rcgc_weak_len(rt, d), 0);
        rcgc_decref(rt, d);
    }
    t_finish(rt);
}

/* Containers are weakly referenceable themselves: a weak-value map holding
 * itself as a value, a weak set holding itself, a weak-key map keyed by
 * itself (with a leaf value) are freed by refcount cleanly; a weak-key map
 * keyed by itself whose value is itself is an ephemeron self-cycle: the
 * collector frees it (the map and its entry's weak reference: 2). */
TEST(container_refers_to_itself)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *vm = rcgc_wvmap_new(rt);
    CHECK_EQ(rcgc_wvmap_set(rt, vm, "me", 2, vm), 0);
    CHECK_EQ(rcgc_weak_len(rt, vm), 1);
    rcgc_object *v = rcgc_wvmap_get(rt, vm, "me", 2);
    CHECK(v == vm);
    rcgc_xdecref(rt, v);
    rcgc_decref(rt, vm);
    CHECK_EQ(t_live_objects(rt), 0);
    rcgc_object *s = rcgc_wset_new(rt);
    CHECK_EQ(rcgc_wset_add(rt, s, s), 0);
    CHECK_EQ(rcgc_wset_contains(rt, s, s), 1);
    rcgc_decref(rt, s);
    CHECK_EQ(t_live_objects(rt), 0);
    rcgc_object *km = rcgc_wkmap_new(rt);
    rcgc_object *leaf = t_leaf(rt, 1);
    CHECK_EQ(rcgc_wkmap_set(rt, km, km, leaf), 0);
    rcgc_decref(rt, leaf);
    rcgc_decref(rt, km);
    CHECK_EQ(t_live_objects(rt), 0);
    km = rcgc_wkmap_new(rt);
    CHECK_EQ(rcgc_wkmap_set(rt, km, km, km), 0);
    rcgc_decref(rt, km);
    CHECK_EQ(t_live_objects(rt), 2);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

TEST_MAIN(T(wvmap_basic), T(wvmap_set_replace_delete_clear), T(wset_basic),
          T(wkmap_basic), T(bad_arguments),
          T(entries_vanish_on_refcount_death),
          T(entries_vanish_in_collection), T(ephemeron_value_refers_to_key),
          T(ephemeron_value_in_cycle),
          T(ephemeron_value_kept_while_key_lives), T(ephemeron_chain),
          T(ephemeron_map_in_older_generation), T(ephemeron_non_gc_key),
          T(ephemeron_self_and_cross_maps), T(ephemeron_value_resurrects_key),
          T(ephemeron_value_reachable_from_uncollectable), T(ephemeron_value_of_uncollectable_key_kept),
          T(teardown_uncollectable_map_value_not_alive),
          T(container_in_garbage), T(entry_weakref_outlives_container),
          T(cascading_deletes), T(clear_with_reentrant_addition),
          T(value_replaced_while_removal_pending),
          T(container_refers_to_itself),
          T(container_freed_while_finalizer_adds_entry))

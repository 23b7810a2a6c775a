/*
 * test_weakmap_keys.c - weak containers with object keys compared by the
 * embedder's hash and equality hooks (rcgc_key_ops; docs/weakref.md, "Keys
 * with hooks"): CPython's WeakValueDictionary with object keys,
 * WeakKeyDictionary and WeakSet with keys defining __hash__ and __eq__.
 * The predicates; equal but distinct keys; the first key kept; no hook
 * when an entry's object dies; iteration with object keys; ephemerons with
 * hooks; hooks that fail (RCGC_EFAILED, container unchanged) and hooks that
 * change the container, collect, kill keys or drop the container.  The
 * model-based random test and the fault loops are test_weakmap_model.c.
 *
 * Keys are weakly referenceable test nodes; kh_hash gives id % 3 (most keys
 * collide), kh_eq compares ids (support/keyhooks.h).
 */
#include "keyhooks.h"
#include "test.h"

static rcgc_object *wn(rcgc_runtime *rt, int id)
{
    rcgc_object *o = t_wnode(rt, id);
    if (o == NULL) abort();
    return o;
}

/* The key objects and values an iteration yields, in order. */
static int iter_pairs(rcgc_runtime *rt, rcgc_object *c, rcgc_object **keys,
                      rcgc_object **values, int max)
{
    rcgc_witer it;
    int n = 0;
    if (rcgc_witer_begin(rt, c, &it) != 0) return -1;
    while (rcgc_witer_next(&it)) {
        if (n < max) {
            keys[n] = it.key_obj;
            values[n] = it.value;
            if (it.key != NULL || it.key_len != 0) t_fail(__FILE__, __LINE__, "byte key shown");
        }
        n++;
    }
    rcgc_witer_end(&it);
    return n;
}

/* ------------------------------------------------------------------------ */

TEST(predicates)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *c[9] = {
        rcgc_wvmap_new(rt),          rcgc_wvmap_new_keyed(rt, NULL),
        rcgc_wvmap_new_keyed(rt, &ops), rcgc_wset_new(rt),
        rcgc_wset_new_keyed(rt, NULL), rcgc_wset_new_keyed(rt, &ops),
        rcgc_wkmap_new(rt),          rcgc_wkmap_new_keyed(rt, NULL),
        rcgc_wkmap_new_keyed(rt, &ops)};
    for (int i = 0; i < 9; i++) {
        REQUIRE(c[i] != NULL);
        CHECK(rcgc_object_is_tracked(c[i]));
        CHECK_EQ(rcgc_is_wvmap(c[i]), i / 3 == 0);
        CHECK_EQ(rcgc_is_wset(c[i]), i / 3 == 1);
        CHECK_EQ(rcgc_is_wkmap(c[i]), i / 3 == 2);
        CHECK_EQ(rcgc_weak_len(rt, c[i]), 0);
    }
    rcgc_object *n = wn(rt, 1), *wr = rcgc_weakref_new(rt, n, NULL, NULL);
    REQUIRE(wr != NULL);
    const rcgc_object *others[] = {n, wr, NULL};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(rcgc_is_wvmap(others[i]), 0);
        CHECK_EQ(rcgc_is_wset(others[i]), 0);
        CHECK_EQ(rcgc_is_wkmap(others[i]), 0);
    }
    /* ops without both hooks */
    rcgc_key_ops half = {kh_hash, NULL, &k};
    CHECK(rcgc_wset_new_keyed(rt, &half) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EINVAL);
    half.hash = NULL;
    half.eq = kh_eq;
    CHECK(rcgc_wkmap_new_keyed(rt, &half) == NULL);
    CHECK(rcgc_wvmap_new_keyed(rt, &half) == NULL);
    /* byte-key calls on object-key maps and the reverse; the object calls
     * on other containers */
    rcgc_object *v = NULL;
    CHECK_EQ(rcgc_wvmap_set(rt, c[1], "a", 1, n), RCGC_EINVAL);
    CHECK_EQ(rcgc_wvmap_set(rt, c[2], "a", 1, n), RCGC_EINVAL);
    CHECK(rcgc_wvmap_get(rt, c[2], "a", 1) == NULL);
    CHECK_EQ(rcgc_wvmap_contains(rt, c[2], "a", 1), 0);
    CHECK_EQ(rcgc_wvmap_delete(rt, c[2], "a", 1), RCGC_EINVAL);
    for (int i = 0; i < 9; i++) {
        if (i == 1 || i == 2) continue;
        CHECK_EQ(rcgc_wvmap_set_obj(rt, c[i], n, n), RCGC_EINVAL);
        CHECK_EQ(rcgc_wvmap_get_obj(rt, c[i], n, &v), RCGC_EINVAL);
        CHECK(v == NULL);
        CHECK_EQ(rcgc_wvmap_contains_obj(rt, c[i], n), RCGC_EINVAL);
        CHECK_EQ(rcgc_wvmap_delete_obj(rt, c[i], n), RCGC_EINVAL);
        if (i < 6) CHECK_EQ(rcgc_wkmap_lookup(rt, c[i], n, &v), RCGC_EINVAL);
    }
    CHECK_EQ(rcgc_wvmap_get_obj(rt, c[2], n, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_wkmap_lookup(rt, c[8], n, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, c[2], NULL, n), RCGC_EINVAL);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, c[2], n, NULL), RCGC_EINVAL);
    CHECK_EQ(k.nhash + k.neq, 0);
    CHECK_EQ(k.bad, 0);
    for (int i = 0; i < 9; i++) rcgc_decref(rt, c[i]);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, n);
    CHECK_EQ(rcgc_check(rt), 0);
    t_teardown(rt);
}

/* WeakValueDictionary with object keys: d[k1] = v1; d[k1b] (== k1) is v1;
 * d[k1b] = v2 keeps k1 as the key (python3: list(d.keys())[0] is k1) and
 * holds no reference to k1b; the key is held strongly; when the value dies
 * the entry goes, and no hook runs for it. */
TEST(wvmap_object_keys)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *d = rcgc_wvmap_new_keyed(rt, &ops);
    REQUIRE(d != NULL);
    rcgc_object *k1 = wn(rt, 5), *k1b = wn(rt, 5), *k2 = wn(rt, 8);
    rcgc_object *v1 = wn(rt, 101), *v2 = wn(rt, 102), *v3 = wn(rt, 103);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, k1, v1), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(k1->refcnt, 2); /* held by the map */
    CHECK_EQ(v1->refcnt, 1); /* held weakly */
    rcgc_object *got = NULL;
    CHECK_EQ(rcgc_wvmap_get_obj(rt, d, k1b, &got), 1);
    CHECK(got == v1);
    rcgc_xdecref(rt, got);
    CHECK_EQ(rcgc_wvmap_contains_obj(rt, d, k1b), 1);
    long neq = k.neq;
    CHECK_EQ(rcgc_wvmap_contains_obj(rt, d, k2), 0); /* same hash, not equal */
    CHECK(k.neq > neq);
    neq = k.neq;
    CHECK_EQ(rcgc_wvmap_contains_obj(rt, d, k1), 1); /* the same object: no eq */
    CHECK_EQ(k.neq, neq);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, k1b, v2), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(k1b->refcnt, 1);
    CHECK_EQ(k1->refcnt, 2);
    rcgc_object *keys[8], *values[8];
    CHECK_EQ(iter_pairs(rt, d, keys, values, 8), 1);
    CHECK(keys[0] == k1 && values[0] == v2);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, k2, v3), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 2);
    CHECK_EQ(iter_pairs(rt, d, keys, values, 8), 2);
    CHECK(keys[1] == k2 && values[1] == v3);
    /* v1 is no longer in the map: its death changes nothing */
    rcgc_decref(rt, v1);
    CHECK_EQ(rcgc_weak_len(rt, d), 2);
    /* v2 dies: the entry goes without a hook call; k1 is let go of */
    long calls = k.nhash + k.neq;
    rcgc_decref(rt, v2);
    CHECK_EQ(k.nhash + k.neq, calls);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(k1->refcnt, 1);
    CHECK_EQ(rcgc_wvmap_get_obj(rt, d, k1, &got), 0);
    CHECK(got == NULL);
    /* delete with an equal, distinct key */
    rcgc_object *k2b = wn(rt, 8);
    CHECK_EQ(rcgc_wvmap_delete_obj(rt, d, k2b), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(k2->refcnt, 1);
    CHECK_EQ(rcgc_wvmap_delete_obj(rt, d, k2b), RCGC_ENOTFOUND);
    CHECK_EQ(v3->refcnt, 1);
    /* a key need not be weakly referenceable (it is held strongly) */
    rcgc_object *leaf = t_leaf(rt, 8);
    REQUIRE(leaf != NULL);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, leaf, v3), 0);
    CHECK_EQ(rcgc_wvmap_contains_obj(rt, d, k2b), 1);
    /* a value must be */
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, k2b, leaf), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_decref(rt, d); /* the map dies: its key goes */
    CHECK_EQ(leaf->refcnt, 1);
    rcgc_object *all[] = {k1, k1b, k2, k2b, v3, leaf};
    for (int i = 0; i < 6; i++) rcgc_decref(rt, all[i]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* Identity keys (rcgc_wvmap_new_keyed(rt, NULL)): equal ids are distinct
 * keys; the keys are traversed: a key that refers back to its map makes a
 * cycle the collector frees. */
TEST(wvmap_identity_keys_and_cycles)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = rcgc_wvmap_new_keyed(rt, NULL);
    REQUIRE(d != NULL);
    rcgc_object *k1 = wn(rt, 5), *k1b = wn(rt, 5), *v = wn(rt, 1);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, k1, v), 0);
    CHECK_EQ(rcgc_wvmap_set_obj(rt, d, k1b, v), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 2);
    CHECK_EQ(rcgc_wvmap_delete_obj(rt, d, k1), 0);
    CHECK_EQ(rcgc_wvmap_contains_obj(rt, d, k1), 0);
    CHECK_EQ(rcgc_wvmap_contains_obj(rt, d, k1b), 1);
    /* traverse reports the key: get_referents shows it */
    rcgc_object **refs = NULL;
    rcgc_ssize n = rcgc_gc_get_referents(rt, &d, 1, &refs);
    int seen = 0;
    for (rcgc_ssize i = 0; i < n; i++) seen += refs[i] == k1b;
    CHECK_EQ(seen, 1);
    rcgc_objects_free(rt, refs, n);
    /* key -> map -> key: a cycle; the value stays alive meanwhile */
    CHECK_EQ(t_append(rt, k1b, d), 0);
    rcgc_decref(rt, d);
    rcgc_decref(rt, k1b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3); /* map, key, the entry's weak reference */
    CHECK_EQ(v->refcnt, 1);
    CHECK_EQ(rcgc_weakref_count(v), 0);
    rcgc_decref(rt, k1);
    rcgc_decref(rt, v);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* WeakSet with __hash__/__eq__: s.add(a); s.add(b) with a == b keeps a
 * (python3: len 1, next(iter(s)) is a); b in s; s.discard(b) removes a;
 * a dying removes its entry with no hook call; an item that cannot be
 * weakly referenced is not in the set (no hook runs: WeakSet.__contains__
 * catches the TypeError of ref(item)), discard raises (RCGC_ENOTWEAK). */
TEST(wset_hooks)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *s = rcgc_wset_new_keyed(rt, &ops);
    REQUIRE(s != NULL);
    rcgc_object *a = wn(rt, 4), *b = wn(rt, 4), *c = wn(rt, 7);
    CHECK_EQ(rcgc_wset_add(rt, s, a), 0);
    CHECK_EQ(rcgc_wset_add(rt, s, b), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 1);
    CHECK_EQ(rcgc_weakref_count(b), 0); /* its weak reference went */
    rcgc_object *keys[8], *values[8];
    CHECK_EQ(iter_pairs(rt, s, keys, values, 8), 1);
    CHECK(keys[0] == a && values[0] == NULL);
    CHECK_EQ(rcgc_wset_contains(rt, s, b), 1);
    CHECK_EQ(rcgc_wset_contains(rt, s, c), 0);
    CHECK_EQ(rcgc_wset_discard(rt, s, b), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 0);
    CHECK_EQ(rcgc_weakref_count(a), 0);
    CHECK_EQ(rcgc_wset_discard(rt, s, b), RCGC_ENOTFOUND);
    CHECK_EQ(rcgc_wset_add(rt, s, a), 0);
    CHECK_EQ(rcgc_wset_add(rt, s, c), 0);
    CHECK_EQ(rcgc_weak_len(rt, s), 2);
    long calls = k.nhash + k.neq;
    rcgc_decref(rt, a); /* a dies: b (equal) is alive, but a was the item */
    CHECK_EQ(k.nhash + k.neq, calls);
    CHECK_EQ(rcgc_weak_len(rt, s), 1);
    CHECK_EQ(rcgc_wset_contains(rt, s, b), 0);
    rcgc_object *leaf = t_leaf(rt, 7);
    REQUIRE(leaf != NULL);
    calls = k.nhash + k.neq;
    CHECK_EQ(rcgc_wset_contains(rt, s, leaf), 0);
    CHECK_EQ(k.nhash + k.neq, calls);
    CHECK_EQ(rcgc_wset_discard(rt, s, leaf), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_wset_add(rt, s, leaf), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_weak_len(rt, s), 1);
    /* an identity set (NULL ops) keeps equal ids apart */
    rcgc_object *si = rcgc_wset_new_keyed(rt, NULL);
    REQUIRE(si != NULL);
    CHECK_EQ(rcgc_wset_add(rt, si, b), 0);
    CHECK_EQ(rcgc_wset_add(rt, si, c), 0);
    rcgc_object *c2 = wn(rt, 7);
    CHECK_EQ(rcgc_wset_contains(rt, si, c2), 0);
    CHECK_EQ(rcgc_wset_contains(rt, s, c2), 1);
    CHECK_EQ(rcgc_weak_len(rt, si), 2);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_object *all[] = {s, si, b, c, c2, leaf};
    for (int i = 0; i < 6; i++) rcgc_decref(rt, all[i]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* WeakKeyDictionary with __hash__/__eq__: d[a] = v1; d[b] = v2 (a == b)
 * keeps a and replaces the value (v1 released); d[b] is v2; a's death
 * removes the entry (b is alive and equal: CPython does the same) without
 * a hook call and releases v2; the ephemeron rule holds with hooks: a value
 * referring to its key is collected with it. */
TEST(wkmap_hooks)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *d = rcgc_wkmap_new_keyed(rt, &ops);
    REQUIRE(d != NULL);
    rcgc_object *a = wn(rt, 4), *b = wn(rt, 4), *v1 = wn(rt, 101), *v2 = wn(rt, 102);
    CHECK_EQ(rcgc_wkmap_set(rt, d, a, v1), 0);
    CHECK_EQ(v1->refcnt, 2);
    CHECK_EQ(rcgc_wkmap_set(rt, d, b, v2), 0);
    CHECK_EQ(v1->refcnt, 1);
    CHECK_EQ(v2->refcnt, 2);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    rcgc_object *keys[8], *values[8];
    CHECK_EQ(iter_pairs(rt, d, keys, values, 8), 1);
    CHECK(keys[0] == a && values[0] == v2);
    rcgc_object *got = NULL;
    CHECK_EQ(rcgc_wkmap_lookup(rt, d, b, &got), 1);
    CHECK(got == v2);
    rcgc_xdecref(rt, got);
    got = rcgc_wkmap_get(rt, d, b);
    CHECK(got == v2);
    rcgc_xdecref(rt, got);
    CHECK_EQ(rcgc_wkmap_contains(rt, d, b), 1);
    long calls = k.nhash + k.neq;
    rcgc_decref(rt, a);
    CHECK_EQ(k.nhash + k.neq, calls);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(v2->refcnt, 1);
    CHECK_EQ(rcgc_wkmap_lookup(rt, d, b, &got), 0);
    CHECK(got == NULL);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, b), RCGC_ENOTFOUND);
    /* not weakly referenceable: lookup refuses, contains says no */
    rcgc_object *leaf = t_leaf(rt, 4);
    REQUIRE(leaf != NULL);
    CHECK_EQ(rcgc_wkmap_lookup(rt, d, leaf, &got), RCGC_ENOTWEAK);
    CHECK(rcgc_wkmap_get(rt, d, leaf) == NULL);
    CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_wkmap_contains(rt, d, leaf), 0);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, leaf), RCGC_ENOTWEAK);
    CHECK_EQ(rcgc_wkmap_set(rt, d, leaf, v1), RCGC_ENOTWEAK);
    /* ephemeron: key -> value -> key; delete with an equal key first */
    rcgc_object *e = wn(rt, 10), *ev = wn(rt, 110), *e2 = wn(rt, 10);
    CHECK_EQ(rcgc_wkmap_set(rt, d, e, ev), 0);
    CHECK_EQ(rcgc_wkmap_delete(rt, d, e2), 0);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(ev->refcnt, 1);
    CHECK_EQ(t_append(rt, ev, e), 0);
    CHECK_EQ(rcgc_wkmap_set(rt, d, e2, ev), 0);
    CHECK_EQ(rcgc_wkmap_set(rt, d, e, ev), 0); /* equal: e2 stays the key */
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    rcgc_decref(rt, ev);
    rcgc_decref(rt, e);
    CHECK_EQ(rcgc_weak_len(rt, d), 1); /* e2 is alive */
    calls = k.nhash + k.neq;
    rcgc_decref(rt, e2); /* the value dies with the entry: frees e too */
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(k.nhash + k.neq, calls);
    /* a self-referencing cycle: value refers to its key, both dropped */
    rcgc_object *f = t_self_cycle(rt, &t_wnode_type, 20), *fv = wn(rt, 120);
    REQUIRE(f != NULL);
    CHECK_EQ(t_append(rt, fv, f), 0);
    CHECK_EQ(rcgc_wkmap_set(rt, d, f, fv), 0);
    rcgc_decref(rt, fv);
    rcgc_decref(rt, f);
    CHECK_EQ(rcgc_weak_len(rt, d), 1);
    calls = k.nhash + k.neq;
    /* the entry's weak reference and f (its self-cycle keeps it after fv,
     * which only the map held, goes by refcount with the entry) */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    CHECK_EQ(rcgc_weak_len(rt, d), 0);
    CHECK_EQ(k.nhash + k.neq, calls);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_object *all[] = {d, b, v1, v2, leaf};
    for (int i = 0; i < 5; i++) rcgc_decref(rt, all[i]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* No hook runs outside the calls that take a key: iteration, len, clear,
 * a collection, pending removals' commits, the container's death. */
TEST(no_hooks_outside_key_calls)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *c[3] = {rcgc_wvmap_new_keyed(rt, &ops), rcgc_wset_new_keyed(rt, &ops),
                         rcgc_wkmap_new_keyed(rt, &ops)};
    /* objs: the set's items and the weak-key map's keys (even ones in
     * self-cycles: they die in a collection); vkeys/vals: the weak-value
     * map's; wv: the weak-key map's values */
    rcgc_object *objs[12], *vkeys[12], *vals[12], *wv[12];
    for (int i = 0; i < 12; i++) {
        objs[i] = i % 2 ? wn(rt, i) : t_self_cycle(rt, &t_wnode_type, i);
        vals[i] = i % 2 ? wn(rt, 100 + i) : t_self_cycle(rt, &t_wnode_type, 100 + i);
        vkeys[i] = wn(rt, i);
        wv[i] = wn(rt, 200 + i);
        REQUIRE(objs[i] != NULL && vals[i] != NULL);
        CHECK_EQ(rcgc_wvmap_set_obj(rt, c[0], vkeys[i], vals[i]), 0);
        CHECK_EQ(rcgc_wset_add(rt, c[1], objs[i]), 0);
        CHECK_EQ(rcgc_wkmap_set(rt, c[2], objs[i], wv[i]), 0);
    }
    long calls = k.nhash + k.neq;
    rcgc_witer its[3];
    for (int j = 0; j < 3; j++) {
        CHECK_EQ(rcgc_weak_len(rt, c[j]), 12);
        CHECK_EQ(rcgc_witer_begin(rt, c[j], &its[j]), 0);
        CHECK(rcgc_witer_next(&its[j]));
    }
    /* deaths during the iterations, by refcount and by collection: pending
     * removals */
    for (int i = 0; i < 12; i += 3) {
        rcgc_decref(rt, objs[i]);
        rcgc_decref(rt, vals[i]);
        objs[i] = vals[i] = NULL;
    }
    rcgc_gc_collect(rt, 2);
    /* the iterators hold entry 0's objects (self-cycles): 9 left until
     * they let go and a collection runs */
    for (int j = 0; j < 3; j++) {
        CHECK_EQ(rcgc_weak_len(rt, c[j]), 9);
        while (rcgc_witer_next(&its[j])) {
        }
        rcgc_witer_end(&its[j]); /* commits */
        CHECK_EQ(rcgc_weak_len(rt, c[j]), 9);
    }
    rcgc_gc_collect(rt, 2);
    for (int j = 0; j < 3; j++) CHECK_EQ(rcgc_weak_len(rt, c[j]), 8);
    CHECK_EQ(rcgc_check(rt), 0);
    CHECK_EQ(rcgc_weak_clear(rt, c[1]), 0);
    for (int j = 0; j < 3; j++) rcgc_decref(rt, c[j]);
    for (int i = 0; i < 12; i++) {
        rcgc_xdecref(rt, objs[i]);
        rcgc_xdecref(rt, vals[i]);
        rcgc_decref(rt, vkeys[i]);
        rcgc_decref(rt, wv[i]);
    }
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(k.nhash + k.neq, calls);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* Iteration over an object-key weak-value map: key_obj and value; the
 * iterator keeps both alive while they are current, even when the entry is
 * deleted meanwhile; a value dying during the iteration leaves its entry
 * (and its key) pending until the iteration ends. */
TEST(wvmap_iteration_object_keys)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *d = rcgc_wvmap_new_keyed(rt, &ops);
    REQUIRE(d != NULL);
    rcgc_object *keys[4], *vals[4];
    for (int i = 0; i < 4; i++) {
        keys[i] = wn(rt, i);
        vals[i] = wn(rt, 100 + i);
        CHECK_EQ(rcgc_wvmap_set_obj(rt, d, keys[i], vals[i]), 0);
    }
    rcgc_witer it;
    CHECK_EQ(rcgc_witer_begin(rt, d, &it), 0);
    REQUIRE(rcgc_witer_next(&it));
    CHECK(it.key_obj == keys[0] && it.value == vals[0] && it.key == NULL);
    /* the program lets go of key 0 and deletes its entry: the iterator
     * still holds it */
    rcgc_object *k0 = keys[0];
    rcgc_decref(rt, keys[0]);
    keys[0] = NULL;
    CHECK_EQ(rcgc_wvmap_delete_obj(rt, d, k0), 0);
    CHECK_EQ(k0->refcnt, 1);
    CHECK_EQ(kh_id(it.key_obj), 0);
    /* value 2 dies: pending; its key stays in the entry */
    rcgc_decref(rt, vals[2]);
    vals[2] = NULL;
    CHECK_EQ(keys[2]->refcnt, 2);
    REQUIRE(rcgc_witer_next(&it));
    CHECK(it.key_obj == keys[1] && it.value == vals[1]);
    REQUIRE(rcgc_witer_next(&it));
    CHECK(it.key_obj == keys[3] && it.value == vals[3]);
    CHECK(!rcgc_witer_next(&it));
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_witer_end(&it);
    CHECK_EQ(keys[2]->refcnt, 1); /* committed */
    CHECK_EQ(rcgc_weak_len(rt, d), 2);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_decref(rt, d);
    for (int i = 0; i < 4; i++) {
        rcgc_xdecref(rt, keys[i]);
        rcgc_xdecref(rt, vals[i]);
    }
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* hooks that fail                                                           */

/* Snapshot of a container: the entries' objects in order, and counts. */
typedef struct snap {
    int n;
    rcgc_object *keys[16], *values[16];
    rcgc_ssize len, live;
} snap;

static void take(rcgc_runtime *rt, rcgc_object *c, snap *s)
{
    s->n = iter_pairs(rt, c, s->keys, s->values, 16);
    s->len = rcgc_weak_len(rt, c);
    s->live = t_live_objects(rt);
}

static int same(const snap *a, const snap *b)
{
    if (a->n != b->n || a->len != b->len || a->live != b->live) return 0;
    for (int i = 0; i < a->n && i < 16; i++)
        if (a->keys[i] != b->keys[i] || a->values[i] != b->values[i]) return 0;
    return 1;
}

enum { OP_SET, OP_GET, OP_CONTAINS, OP_DELETE, NOPS };

/* Run op on container kind j (0 wvmap, 1 wset, 2 wkmap) with key and value. */
static int op(rcgc_runtime *rt, int j, rcgc_object *c, int o, rcgc_object *key,
              rcgc_object *value)
{
    rcgc_object *got = NULL;
    int r = 0;
    switch (o) {
    case OP_SET:
        r = j == 0 ? rcgc_wvmap_set_obj(rt, c, key, value)
          : j == 1 ? rcgc_wset_add(rt, c, key)
                   : rcgc_wkmap_set(rt, c, key, value);
        break;
    case OP_GET:
        r = j == 0 ? rcgc_wvmap_get_obj(rt, c, key, &got)
          : j == 1 ? rcgc_wset_contains(rt, c, key)
                   : rcgc_wkmap_lookup(rt, c, key, &got);
        break;
    case OP_CONTAINS:
        r = j == 0 ? rcgc_wvmap_contains_obj(rt, c, key)
          : j == 1 ? rcgc_wset_contains(rt, c, key)
                   : rcgc_wkmap_contains(rt, c, key);
        break;
    default:
        r = j == 0 ? rcgc_wvmap_delete_obj(rt, c, key)
          : j == 1 ? rcgc_wset_discard(rt, c, key)
                   : rcgc_wkmap_delete(rt, c, key);
    }
    rcgc_xdecref(rt, got);
    return r;
}

static rcgc_object *new_container(rcgc_runtime *rt, int j, const rcgc_key_ops *ops)
{
    return j == 0 ? rcgc_wvmap_new_keyed(rt, ops)
         : j == 1 ? rcgc_wset_new_keyed(rt, ops)
                  : rcgc_wkmap_new_keyed(rt, ops);
}

/* For each container, operation and hook: the hook fails; the operation
 * says RCGC_EFAILED (whatever code the hash hook returned) and changes
 * nothing: same entries, same objects alive, no reference kept. */
TEST(failing_hooks_change_nothing)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    static const int codes[] = {-1, RCGC_ENOMEM, 7, RCGC_EFAILED};
    int cases = 0;
    for (int j = 0; j < 3; j++) {
        rcgc_object *c = new_container(rt, j, &ops);
        REQUIRE(c != NULL);
        rcgc_object *ks[4], *vs[4];
        for (int i = 0; i < 4; i++) {
            ks[i] = wn(rt, i * 3); /* all hash to 0 */
            vs[i] = wn(rt, 100 + i);
            CHECK_EQ(op(rt, j, c, OP_SET, ks[i], vs[i]), 0);
        }
        rcgc_object *probe[2] = {wn(rt, 6), wn(rt, 12)}; /* equal to ks[2]; new */
        rcgc_object *nv = wn(rt, 200);
        for (int o = 0; o < NOPS; o++) {
            for (int p = 0; p < 2; p++) {
                for (int hook = 0; hook < 2; hook++) {
                    snap before, after;
                    take(rt, c, &before);
                    intptr_t krc = probe[p]->refcnt, vrc = nv->refcnt;
                    long wrs = rcgc_weakref_count(probe[p]);
                    if (hook == 0) {
                        k.fail_hash_at = k.nhash + 1;
                        k.hash_code = codes[cases % 4];
                    } else {
                        k.fail_eq_at = k.neq + 1;
                    }
                    int r = op(rt, j, c, o, probe[p], nv);
                    CHECK_EQ(r, RCGC_EFAILED);
                    if (r != RCGC_EFAILED)
                        fprintf(stderr, "  container %d op %d probe %d hook %d\n", j, o, p, hook);
                    k.fail_hash_at = k.fail_eq_at = 0;
                    take(rt, c, &after);
                    CHECK(same(&before, &after));
                    CHECK_EQ(probe[p]->refcnt, krc);
                    CHECK_EQ(nv->refcnt, vrc);
                    CHECK_EQ(rcgc_weakref_count(probe[p]), wrs);
                    cases++;
                }
            }
        }
        /* wkmap_get: NULL with RCGC_EFAILED */
        if (j == 2) {
            k.fail_eq_at = k.neq + 1;
            CHECK(rcgc_wkmap_get(rt, c, probe[0]) == NULL);
            CHECK_EQ(rcgc_runtime_last_error(rt), RCGC_EFAILED);
            k.fail_eq_at = 0;
            rcgc_object *v = rcgc_wkmap_get(rt, c, probe[0]);
            CHECK(v == vs[2]);
            rcgc_xdecref(rt, v);
        }
        CHECK_EQ(rcgc_weak_len(rt, c), 4);
        CHECK_EQ(rcgc_check(rt), 0);
        rcgc_decref(rt, c);
        for (int i = 0; i < 4; i++) {
            rcgc_decref(rt, ks[i]);
            rcgc_decref(rt, vs[i]);
        }
        rcgc_decref(rt, probe[0]);
        rcgc_decref(rt, probe[1]);
        rcgc_decref(rt, nv);
    }
    CHECK_EQ(cases, 3 * NOPS * 4);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* hooks that change things                                                  */

typedef struct mut {
    rcgc_runtime *rt;
    rcgc_object *c;       /* the container (the program's reference) */
    int j;                /* its kind */
    int what;             /* the action */
    int fired;            /* times it ran */
    int only_eq;          /* run in eq only */
    rcgc_object *objs[8]; /* the program's references the action uses */
    rcgc_object *added[4];
} mut;

enum {
    M_ADD,          /* add two equal-hash entries to the same container */
    M_DELETE_HIT,   /* delete the entry the lookup is looking for (by identity) */
    M_KILL_STORED,  /* drop the program's reference to the stored key */
    M_COLLECT,      /* collect: kills a zombie key of the container */
    M_DROP_CONTAINER, /* drop the program's (last outside) reference */
    M_CLEAR,        /* clear the container */
    M_KILL_VALUE    /* drop the program's reference to the value being set */
};

static int mutate(khooks *k, int in_eq)
{
    mut *m = k->state;
    if (m->fired || (m->only_eq && !in_eq)) return 0;
    m->fired++;
    rcgc_runtime *rt = m->rt;
    switch (m->what) {
    case M_ADD:
        for (int i = 0; i < 2; i++) {
            m->added[i] = wn(rt, 30 + 3 * i);
            CHECK_EQ(op(rt, m->j, m->c, OP_SET, m->added[i], m->objs[7]), 0);
        }
        break;
    case M_DELETE_HIT:
        CHECK_EQ(op(rt, m->j, m->c, OP_DELETE, m->objs[0], NULL), 0);
        break;
    case M_KILL_STORED:
    case M_KILL_VALUE: {
        int i = m->what == M_KILL_VALUE; /* objs[1]: the value */
        rcgc_decref(rt, m->objs[i]);
        m->objs[i] = NULL;
        break;
    }
    case M_COLLECT:
        rcgc_gc_collect(rt, 2);
        break;
    case M_DROP_CONTAINER:
        rcgc_decref(rt, m->c);
        m->c = NULL;
        break;
    default:
        CHECK_EQ(rcgc_weak_clear(rt, m->c), 0);
    }
    return 0;
}

/* One container of kind j with key A (id 0, the program's objs[0]) mapped
 * to objs[6] (for the maps); the operation looks up B (id 0, distinct):
 * the eq hook (A, B) runs the action, or (in_hash) the hash hook of B,
 * before the lookup. */
static void mutation_case(int j, int what, int o, int in_hash)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    mut m = {.rt = rt, .j = j, .what = what, .only_eq = !in_hash};
    k.state = &m;
    m.c = new_container(rt, j, &ops);
    if (m.c == NULL) abort();
    rcgc_object *a = what == M_COLLECT ? t_self_cycle(rt, &t_wnode_type, 0) : wn(rt, 0);
    rcgc_object *zombie = t_self_cycle(rt, &t_wnode_type, 3); /* same hash */
    m.objs[0] = a;
    m.objs[6] = wn(rt, 100);
    m.objs[7] = wn(rt, 107);
    rcgc_object *b = wn(rt, 0), *nv = wn(rt, 200);
    if (what == M_KILL_VALUE) m.objs[1] = nv;
    CHECK_EQ(op(rt, j, m.c, OP_SET, a, m.objs[6]), 0);
    CHECK_EQ(op(rt, j, m.c, OP_SET, zombie, m.objs[6]), 0);
    if (what == M_COLLECT) {
        rcgc_decref(rt, zombie); /* dies at the next collection */
        if (j != 0) {
            rcgc_decref(rt, a); /* a too, unless the comparison holds it */
            m.objs[0] = NULL;
        }
    }
    rcgc_object *c = m.c;
    rcgc_incref(c); /* the test's own, to look afterwards */
    if (what == M_DROP_CONTAINER) rcgc_decref(rt, c), c = NULL;
    k.action = mutate; /* from here on */
    int r = op(rt, j, m.c != NULL ? m.c : c, o, b, nv);
    CHECK_EQ(k.bad, 0);
    CHECK(m.fired == 1 || what == M_CLEAR);
    /* expected result, with the table as the action left it */
    int present; /* whether an entry equal to b was there when looked up */
    switch (what) {
    case M_ADD:
    case M_DROP_CONTAINER:
    case M_KILL_VALUE:
        present = 1;
        break;
    case M_COLLECT:
        /* the zombie dies; a is held by the map (strongly) or by the
         * comparison running the collection */
        present = 1;
        break;
    case M_KILL_STORED:
        present = j == 0; /* the same */
        break;
    default:
        present = 0;
    }
    /* the hash hook's collection: a (dropped, in a self-cycle) is not held
     * by a comparison yet, and dies unless the weak-value map holds it */
    if (what == M_COLLECT && in_hash && j != 0) present = 0;
    if (what == M_CLEAR && o != OP_SET) present = 0;
    if (what == M_CLEAR && m.fired == 0) present = 1; /* eq never ran */
    int want;
    switch (o) {
    case OP_SET:
        want = 0;
        break;
    case OP_GET:
    case OP_CONTAINS:
        want = present;
        break;
    default:
        want = present ? 0 : RCGC_ENOTFOUND;
    }
    CHECK_EQ(r, want);
    if (r != want)
        fprintf(stderr, "  container %d action %d op %d%s\n", j, what, o, in_hash ? " (hash)" : "");
    if (c != NULL) {
        CHECK_EQ(rcgc_check(rt), 0);
        rcgc_ssize len = rcgc_weak_len(rt, c);
        rcgc_ssize expect_len;
        if (what == M_ADD) expect_len = 4 + (o == OP_SET && !present) - (o == OP_DELETE);
        else if (what == M_CLEAR) expect_len = o == OP_SET ? 1 : 0;
        else if (what == M_KILL_VALUE)
            expect_len = j == 0 && o == OP_SET ? 1 : 2 - (o == OP_DELETE);
        else if (what == M_COLLECT && in_hash && j != 0) expect_len = o == OP_SET;
        else if (what == M_COLLECT) /* the weak-value map holds its keys */
            expect_len = (j == 0 ? 2 : 1) - (o == OP_DELETE);
        else if (what == M_KILL_STORED && j == 0)
            expect_len = 2 - (o == OP_DELETE);
        else expect_len = 1 + (o == OP_SET && !present) - (o == OP_DELETE && present);
        CHECK_EQ(len, expect_len);
        if (len != expect_len)
            fprintf(stderr, "  len: container %d action %d op %d%s\n", j, what, o,
                    in_hash ? " (hash)" : "");
        rcgc_decref(rt, c);
    }
    rcgc_xdecref(rt, m.c);
    for (int i = 0; i < 8; i++) rcgc_xdecref(rt, m.objs[i]);
    for (int i = 0; i < 4; i++) rcgc_xdecref(rt, m.added[i]);
    if (what != M_COLLECT) rcgc_decref(rt, zombie);
    if (what != M_KILL_VALUE) rcgc_decref(rt, nv);
    rcgc_decref(rt, b);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

TEST(mutating_hooks)
{
    static const int actions[] = {M_ADD, M_DELETE_HIT, M_KILL_STORED, M_COLLECT,
                                  M_DROP_CONTAINER, M_CLEAR, M_KILL_VALUE};
    for (int j = 0; j < 3; j++)
        for (size_t w = 0; w < sizeof actions / sizeof *actions; w++)
            for (int o = 0; o < NOPS; o++)
                for (int in_hash = 0; in_hash < 2; in_hash++)
                    mutation_case(j, actions[w], o, in_hash);
}

/* The hash hook itself changes the container: clears it, or adds an equal
 * key first (then the operation finds that entry: the lookup comes after
 * the hash). */
TEST(hash_hook_mutates)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    mut m = {.rt = rt, .j = 2, .what = M_ADD};
    k.action = mutate;
    k.state = &m;
    m.c = rcgc_wkmap_new_keyed(rt, &ops);
    REQUIRE(m.c != NULL);
    m.objs[7] = wn(rt, 107);
    rcgc_object *b = wn(rt, 30), *v = wn(rt, 1); /* equal to added[0] */
    CHECK_EQ(rcgc_wkmap_set(rt, m.c, b, v), 0);
    CHECK_EQ(m.fired, 1);
    CHECK_EQ(rcgc_weak_len(rt, m.c), 2);
    rcgc_object *keys[8], *values[8];
    CHECK_EQ(iter_pairs(rt, m.c, keys, values, 8), 2);
    CHECK(keys[0] == m.added[0] && values[0] == v); /* the value replaced */
    CHECK(keys[1] == m.added[1] && values[1] == m.objs[7]);
    /* the hash hook clears the set before the add */
    m.fired = 0;
    m.what = M_CLEAR;
    CHECK_EQ(rcgc_wkmap_set(rt, m.c, b, m.objs[7]), 0);
    CHECK_EQ(rcgc_weak_len(rt, m.c), 1);
    CHECK_EQ(iter_pairs(rt, m.c, keys, values, 8), 1);
    CHECK(keys[0] == b && values[0] == m.objs[7]);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_object *all[] = {m.c, m.objs[7], m.added[0], m.added[1], b, v};
    for (int i = 0; i < 6; i++) rcgc_decref(rt, all[i]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* The restart: an eq hook that changes the table the first two times it
 * runs (adding an entry of the same hash each time) makes the lookup start
 * again; it still finds the equal key, and compares each stored key with
 * the probe only as often as the restarts require. */
static int add_once_more(khooks *k, int in_eq)
{
    mut *m = k->state;
    if (!in_eq || m->fired >= 2) return 0;
    rcgc_object *x = wn(m->rt, 90 + 3 * m->fired);
    m->added[m->fired++] = x;
    CHECK_EQ(rcgc_wset_add(m->rt, m->c, x), 0);
    return 0;
}

TEST(eq_restart)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    mut m = {.rt = rt};
    k.state = &m;
    m.c = rcgc_wset_new_keyed(rt, &ops);
    REQUIRE(m.c != NULL);
    rcgc_object *x = wn(rt, 3), *y = wn(rt, 6), *probe = wn(rt, 6);
    CHECK_EQ(rcgc_wset_add(rt, m.c, x), 0);
    CHECK_EQ(rcgc_wset_add(rt, m.c, y), 0);
    k.action = add_once_more;
    long neq = k.neq;
    CHECK_EQ(rcgc_wset_contains(rt, m.c, probe), 1);
    CHECK_EQ(m.fired, 2);
    /* eq(x): added 90, restart; eq(x): added 93, restart; eq(x), eq(y):
     * found (the new ones are after y in their probe sequence or not
     * compared once y matched) */
    CHECK(k.neq - neq >= 4);
    CHECK_EQ(rcgc_weak_len(rt, m.c), 4);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    rcgc_object *all[] = {m.c, x, y, probe, m.added[0], m.added[1]};
    for (int i = 0; i < 6; i++) rcgc_decref(rt, all[i]);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* the differential check against CPython's weakref module                  */

/* A fixed sequence of operations, run here and, by
 * tests/weakmap_keys_cpython.py, on CPython 3.11 with a class whose
 * __hash__ is id % 3 and whose __eq__ compares ids: the two transcripts
 * must be equal.  Names stand for objects: "new NAME ID" a key, "val NAME
 * ID" a value, "cyc NAME ID" a key in a self-cycle; v, s, k name the
 * weak-value map (object keys), the weak set, the weak-key map.  With
 * RCGC_WEAKKEYS_TRANSCRIPT=FILE the test writes "op -> result" lines
 * there; without it, it runs the sequence for its memory checks only. */
static const char *const script[] = {
    "new a 0", "new a2 0", "new b 3", "new c 4", "val x 100", "val y 101", "val z 102",
    "vset a x", "vset a2 y", "list v", "vget a2", "vhas b", "vset b z", "list v",
    "del y", "list v", "len v", "vdel a", "vdel b", "len v",
    "sadd a", "sadd a2", "list s", "shas a2", "sdel a2", "shas a", "sdel a",
    "sadd b", "sadd a2", "sadd c", "list s", "del a2", "list s", "len s",
    "kset a x", "new a3 0", "kset a3 z", "list k", "kget a3", "khas c", "kset b x",
    "kset c z", "list k", "kdel a3", "list k", "kset a3 x", "kset a z", "list k",
    "del a", "list k", "len k",
    "fail_hash", "kset c x", "fail_hash", "sadd a3", "fail_hash", "vset a3 x",
    "fail_hash", "vget b", "fail_hash", "khas b", "list k", "list s", "list v",
    "new e 6", "fail_eq", "shas e", "fail_eq", "kget e", "fail_eq", "kset e z",
    "fail_eq", "sdel e", "list k", "list s",
    "vset e x", "fail_eq", "vset b z", "fail_eq", "vdel b", "list v",
    "cyc d 9", "sadd d", "kset d z", "vset d x", "del d", "list s", "list k", "list v",
    "new d2 9", "vdel d2", "del d2", "list s", "collect", "list s", "list k", "len s", "len k",
    "new f 9", "kset f x", "sadd f", "vset f z", "new f2 9", "vget f2", "kget f2",
    "shas f2", "list v", "list k", "list s",
    "del x", "list v", "len v", "del z", "list v", "list k", "len k"};

typedef struct named {
    char name[8];
    rcgc_object *o; /* the program's reference, or NULL once dropped */
    rcgc_object *addr; /* for printing; may be dead */
} named;

static named *find_name(named *t, int n, const char *name)
{
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

static const char *name_of(named *t, int n, const rcgc_object *o)
{
    for (int i = n - 1; i >= 0; i--)
        if (t[i].addr == o) return t[i].name;
    return "?";
}

static void result_code(char *out, size_t size, int r, int found_is_one)
{
    if (r == RCGC_EFAILED) snprintf(out, size, "error");
    else if (found_is_one) snprintf(out, size, "%s", r == 1 ? "True" : r == 0 ? "False" : "bad");
    else snprintf(out, size, "%s", r == 0 ? "ok" : r == RCGC_ENOTFOUND ? "missing" : "bad");
}

TEST(cpython_transcript)
{
    rcgc_runtime *rt = t_runtime();
    khooks k = {.mod = 3};
    rcgc_key_ops ops = kh_ops(&k);
    rcgc_object *c[3] = {rcgc_wvmap_new_keyed(rt, &ops), rcgc_wset_new_keyed(rt, &ops),
                         rcgc_wkmap_new_keyed(rt, &ops)};
    const char *path = getenv("RCGC_WEAKKEYS_TRANSCRIPT");
    FILE *out = path != NULL ? fopen(path, "w") : NULL;
    if (path != NULL) REQUIRE(out != NULL);
    named t[64];
    int n = 0;
    for (size_t i = 0; i < sizeof script / sizeof *script; i++) {
        char op[16] = "", a[8] = "", b[8] = "", res[256] = "";
        int id = 0;
        sscanf(script[i], "%15s %7s %7s", op, a, b);
        named *na = find_name(t, n, a), *nb = find_name(t, n, b);
        rcgc_object *ka = na != NULL ? na->o : NULL, *vb = nb != NULL ? nb->o : NULL;
        int j = a[0] == 'v' ? 0 : a[0] == 's' ? 1 : 2;
        rcgc_object *got = NULL;
        int r;
        if (!strcmp(op, "new") || !strcmp(op, "val") || !strcmp(op, "cyc")) {
            REQUIRE(n < 64);
            id = atoi(b);
            rcgc_object *o = !strcmp(op, "cyc") ? t_self_cycle(rt, &t_wnode_type, id) : wn(rt, id);
            snprintf(t[n].name, sizeof t[n].name, "%s", a);
            t[n].o = t[n].addr = o;
            n++;
        } else if (!strcmp(op, "del")) {
            REQUIRE(na != NULL && na->o != NULL);
            rcgc_decref(rt, na->o);
            na->o = NULL;
        } else if (!strcmp(op, "fail_hash")) {
            k.fail_hash_at = k.nhash + 1;
        } else if (!strcmp(op, "fail_eq")) {
            k.fail_eq_at = k.neq + 1;
        } else if (!strcmp(op, "collect")) {
            rcgc_gc_collect(rt, 2);
        } else if (!strcmp(op, "len")) {
            snprintf(res, sizeof res, "%td", rcgc_weak_len(rt, c[j]));
        } else if (!strcmp(op, "list")) {
            rcgc_witer it;
            REQUIRE(rcgc_witer_begin(rt, c[j], &it) == 0);
            while (rcgc_witer_next(&it)) {
                size_t used = strlen(res);
                if (it.value != NULL && j != 1)
                    snprintf(res + used, sizeof res - used, "%s%s:%s", used ? " " : "",
                             name_of(t, n, it.key_obj), name_of(t, n, it.value));
                else
                    snprintf(res + used, sizeof res - used, "%s%s", used ? " " : "",
                             name_of(t, n, it.key_obj));
            }
            rcgc_witer_end(&it);
        } else {
            REQUIRE(na != NULL && na->o != NULL);
            char kind = op[0], what = op[1];
            int cj = kind == 'v' ? 0 : kind == 's' ? 1 : 2;
            if (what == 's' && !strcmp(op + 1, "set")) {
                r = cj == 0 ? rcgc_wvmap_set_obj(rt, c[0], ka, vb) : rcgc_wkmap_set(rt, c[2], ka, vb);
                result_code(res, sizeof res, r, 0);
            } else if (!strcmp(op, "sadd")) {
                result_code(res, sizeof res, rcgc_wset_add(rt, c[1], ka), 0);
            } else if (what == 'g') {
                r = cj == 0 ? rcgc_wvmap_get_obj(rt, c[0], ka, &got)
                            : rcgc_wkmap_lookup(rt, c[2], ka, &got);
                if (r == RCGC_EFAILED) snprintf(res, sizeof res, "error");
                else snprintf(res, sizeof res, "%s", got != NULL ? name_of(t, n, got) : "None");
                rcgc_xdecref(rt, got);
            } else if (what == 'h') {
                r = cj == 0 ? rcgc_wvmap_contains_obj(rt, c[0], ka)
                  : cj == 1 ? rcgc_wset_contains(rt, c[1], ka)
                            : rcgc_wkmap_contains(rt, c[2], ka);
                result_code(res, sizeof res, r, 1);
            } else {
                r = cj == 0 ? rcgc_wvmap_delete_obj(rt, c[0], ka)
                  : cj == 1 ? rcgc_wset_discard(rt, c[1], ka)
                            : rcgc_wkmap_delete(rt, c[2], ka);
                result_code(res, sizeof res, r, 0);
            }
            k.fail_hash_at = k.fail_eq_at = 0;
        }
        if (out != NULL) fprintf(out, "%s -> %s\n", script[i], res);
    }
    if (out != NULL) fclose(out);
    CHECK_EQ(k.bad, 0);
    CHECK_EQ(rcgc_check(rt), 0);
    for (int j = 0; j < 3; j++) rcgc_decref(rt, c[j]);
    for (int i = 0; i < n; i++) rcgc_xdecref(rt, t[i].o);
    rcgc_gc_collect(rt, 2);
    CHECK_EQ(t_live_objects(rt), 0);
    t_teardown(rt);
}


TEST_MAIN(T(predicates), T(wvmap_object_keys), T(wvmap_identity_keys_and_cycles),
          T(wset_hooks), T(wkmap_hooks), T(no_hooks_outside_key_calls),
          T(wvmap_iteration_object_keys), T(failing_hooks_change_nothing),
          T(mutating_hooks), T(hash_hook_mutates), T(eq_restart),
          T(cpython_transcript))

/*
 * test_weakmap_iter.c - the weak containers, part 2: iteration while entries
 * die and while the program changes the container (docs/weakref.md's rules);
 * compaction; fault injection on every allocation.  Part 1 (operations,
 * vanishing entries, ephemerons, containers in cycles) is test_weakmap.c.
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

static int c_del(rcgc_runtime *rt, rcgc_object *c, int kind, rcgc_object *o)
{
    char k[32];
    switch (kind) {
    case K_VMAP:
        return rcgc_wvmap_delete(rt, c, k, key_of(t_as(o)->id, k));
    case K_SET:
        return rcgc_wset_discard(rt, c, o);
    default:
        return rcgc_wkmap_delete(rt, c, o);
    }
}

/* As iter_ids, by the id of the weakly held object only. */
static int iter_ids_raw(rcgc_runtime *rt, rcgc_object *c, int kind, int *ids,
                        int max)
{
    rcgc_witer it;
    if (rcgc_witer_begin(rt, c, &it) != 0) return -1;
    int n = 0;
    while (rcgc_witer_next(&it)) {
        rcgc_object *o = kind == K_VMAP ? it.value : it.key_obj;
        if (n < max) ids[n] = t_as(o)->id;
        n++;
    }
    rcgc_witer_end(&it);
    return n;
}

/* ------------------------------------------------------------------------ */
/* iteration                                                                 */

/* Iteration in insertion order, for each container; an empty container
 * yields nothing; next after the end and a second end are harmless; the
 * iterator holds the container alive (the program may drop it). */
TEST(iteration_order)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        CHECK_EQ(iter_ids(rt, c, kind, NULL, 0), 0);
        rcgc_object *o[5];
        int ids[5] = {4, 1, 3, 0, 2};
        for (int i = 0; i < 5; i++) {
            o[i] = t_wnode(rt, ids[i]);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        CHECK_ITER(rt, c, kind, 4, 1, 3, 0, 2);
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        rcgc_decref(rt, c); /* the iterator holds it */
        int n = 0;
        while (rcgc_witer_next(&it)) n++;
        CHECK_EQ(n, 5);
        CHECK_EQ(rcgc_witer_next(&it), 0);
        CHECK_EQ(rcgc_weak_len(rt, c), 5);
        rcgc_witer_end(&it); /* frees the container */
        rcgc_witer_end(&it);
        CHECK_EQ(rcgc_witer_next(&it), 0);
        for (int i = 0; i < 5; i++) {
            CHECK_EQ(rcgc_weakref_count(o[i]), 0);
            rcgc_decref(rt, o[i]);
        }
        t_finish(rt);
    }
}

/* test_weakref.py check_weak_destroy_while_iterating (issue #7105); spec
 * §9.4 item 97: 10 entries, one next(), then the last object dies: CPython
 * yields len(objects) or len(objects) - 1 more (python3: 8 for keys, items
 * and values; 9 for valuerefs) and len(d) == 9 once the iterator is gone.
 * rcgc (docs/weakref.md: deaths are removed at once): exactly 8 more, len
 * 9 at once, during the iteration too. */
TEST(iteration_destroy_while_iterating)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[10];
        for (int i = 0; i < 10; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        CHECK_EQ(it_id(&it, kind), 0);
        rcgc_decref(rt, o[9]);
        CHECK_EQ(rcgc_weak_len(rt, c), 9);
        int rest = 0;
        while (rcgc_witer_next(&it)) {
            CHECK(it_id(&it, kind) != 9);
            rest++;
        }
        CHECK_EQ(rest, 8);
        rcgc_witer_end(&it);
        CHECK_EQ(rcgc_weak_len(rt, c), 9);
        for (int i = 0; i < 9; i++) rcgc_decref(rt, o[i]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* test_weakref.py check_len_cycles (test_weak_keyed_len_cycles,
 * test_weak_valued_len_cycles); spec §9.4 item 94: 20 RefCycle objects; an
 * iterator alive after one next(); collect -> len in (0, 1); after the
 * iterator is gone and another collect -> 0 (python3: 1 then 0 for both).
 * rcgc: exactly 1 (the item the iterator holds), then 0; the iterator
 * yields nothing more.  CPython's valued variant uses one key for all 20;
 * here every entry has its own key. */
TEST(iteration_len_cycles)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        for (int i = 0; i < 20; i++) {
            rcgc_object *o = t_self_cycle(rt, &t_wnode_type, i);
            CHECK_EQ(c_put(rt, c, kind, o), 0);
            rcgc_decref(rt, o);
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        CHECK(rcgc_gc_collect(rt, 2) >= 19);
        rcgc_ssize n1 = rcgc_weak_len(rt, c);
        CHECK_EQ(n1, 1);
        CHECK_EQ(rcgc_witer_next(&it), 0);
        rcgc_witer_end(&it);
        CHECK(rcgc_gc_collect(rt, 2) >= 1);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* test_weakref.py check_len_race; spec §9.4 item 95: with thresholds th =
 * 1..99 for every generation, automatic collections happen while the
 * container is filled and iterated: 0 <= n1 <= 20 and 0 <= n2 <= n1
 * (CPython's bounds).  rcgc also keeps len exact: it equals what a full
 * iteration yields, at both points. */
TEST(iteration_len_race)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int th = 1; th < 100; th++) {
            rcgc_config cfg;
            rcgc_config_init(&cfg);
            cfg.threshold[0] = cfg.threshold[1] = cfg.threshold[2] = th;
            rcgc_runtime *rt = t_runtime_cfg(&cfg);
            REQUIRE(rt != NULL);
            rcgc_object *c = c_new(rt, kind);
            for (int i = 0; i < 20; i++) {
                rcgc_object *o = t_self_cycle(rt, &t_wnode_type, i);
                CHECK_EQ(c_put(rt, c, kind, o), 0);
                rcgc_decref(rt, o);
            }
            rcgc_witer it;
            CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
            rcgc_witer_next(&it);
            /* allocations between the steps may collect */
            rcgc_decref(rt, t_node(rt, 0));
            rcgc_ssize n1 = rcgc_weak_len(rt, c);
            int ids[32];
            int seen = iter_ids(rt, c, kind, ids, 32);
            CHECK_EQ(seen, n1);
            rcgc_witer_end(&it);
            rcgc_decref(rt, t_node(rt, 0));
            rcgc_ssize n2 = rcgc_weak_len(rt, c);
            CHECK(n1 >= 0 && n1 <= 20);
            CHECK(n2 >= 0 && n2 <= n1);
            seen = iter_ids(rt, c, kind, ids, 32);
            CHECK_EQ(seen, n2);
            rcgc_decref(rt, c);
            t_finish(rt);
        }
    }
}

/* docs/weakref.md "Iteration": an entry whose object dies in a collection
 * triggered in the middle of the iteration is not yielded and len
 * excludes it at once; its removal is pending (CPython's
 * _pending_removals), so its weak reference is not freed by the collection
 * (not counted) but when the iteration ends; the entries before and after
 * are unaffected. */
TEST(iteration_collection_mid_iteration)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *keep[6];
        for (int i = 0; i < 6; i++) {
            keep[i] = NULL;
            rcgc_object *o = i % 2 ? t_self_cycle(rt, &t_wnode_type, i) : t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o), 0);
            if (i % 2) rcgc_decref(rt, o); else keep[i] = o;
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        CHECK_EQ(it_id(&it, kind), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        CHECK_EQ(it_id(&it, kind), 1); /* held by the iterator now */
        rcgc_ssize live = t_live_objects(rt);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 2); /* 3 and 5; their refs wait */
        CHECK_EQ(t_live_objects(rt), live - 2);
        CHECK_EQ(rcgc_weak_len(rt, c), 4);
        int got[8], n = 0;
        while (rcgc_witer_next(&it)) got[n++] = it_id(&it, kind);
        CHECK_EQ(n, 2);
        if (n == 2) CHECK(got[0] == 2 && got[1] == 4);
        rcgc_witer_end(&it);
        /* committed: the two refs (and the weak-key map's two values,
         * which the pending entries held, as CPython's dict does) */
        CHECK_EQ(t_live_objects(rt), live - (kind == K_KMAP ? 6 : 4));
        CHECK_EQ(rcgc_weak_len(rt, c), 4);
        CHECK_EQ(rcgc_gc_collect(rt, 2), 2); /* 1, released by the iterator */
        CHECK_ITER(rt, c, kind, 0, 2, 4);
        for (int i = 0; i < 6; i += 2) rcgc_decref(rt, keep[i]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* docs/weakref.md "Iteration" / rcgc.h: rcgc_witer_next hands out borrowed
 * pointers that stay valid until the next call: the program may drop its
 * own reference to the current object (it stays alive, in the container);
 * it dies at the next call, and its entry goes then. */
TEST(iteration_current_item_kept_alive)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[3];
        for (int i = 0; i < 3; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        rcgc_object *cur = kind == K_VMAP ? it.value : it.key_obj;
        CHECK(cur == o[0]);
        rcgc_object *wcur = rcgc_weakref_new(rt, cur, NULL, NULL);
        rcgc_decref(rt, o[0]);
        CHECK_EQ(cur->refcnt, 1); /* the iterator's */
        CHECK_EQ(t_as(cur)->id, 0);
        CHECK(t_wr_alive(rt, wcur));
        CHECK_EQ(rcgc_weak_len(rt, c), 3);
        if (kind == K_VMAP) {
            CHECK(it.key_len == 2 && memcmp(it.key, "k0", 2) == 0);
            CHECK_EQ(rcgc_wvmap_delete(rt, c, "k0", 2), 0);
            /* the key bytes stay readable until the next call */
            CHECK(memcmp(it.key, "k0", 2) == 0);
        }
        CHECK_EQ(rcgc_witer_next(&it), 1);
        CHECK(!t_wr_alive(rt, wcur));
        CHECK_EQ(rcgc_weak_len(rt, c), 2);
        CHECK_EQ(it_id(&it, kind), 1);
        rcgc_witer_end(&it);
        CHECK_EQ(rcgc_weak_len(rt, c), 2);
        rcgc_decref(rt, wcur);
        rcgc_decref(rt, o[1]);
        rcgc_decref(rt, o[2]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* docs/weakref.md "Iteration", differences table: changing the container
 * during iteration (CPython: RuntimeError "dictionary changed size during
 * iteration", python3) is allowed: an entry deleted before the cursor
 * reaches it is not yielded, an entry added is yielded (after the others),
 * deleting the current entry is fine, and re-adding a deleted object gives
 * a new entry at the end. */
TEST(iteration_with_changes)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[8];
        for (int i = 0; i < 8; i++) o[i] = t_wnode(rt, i);
        for (int i = 0; i < 5; i++) CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        rcgc_witer it;
        int got[16], n = 0;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        while (rcgc_witer_next(&it)) {
            int id = it_id(&it, kind);
            got[n++] = id;
            if (id == 0) {
                CHECK_EQ(c_del(rt, c, kind, o[0]), 0); /* the current one */
                CHECK_EQ(c_del(rt, c, kind, o[3]), 0); /* a later one */
                CHECK_EQ(c_put(rt, c, kind, o[5]), 0);
                CHECK_EQ(rcgc_weak_len(rt, c), 4);
            } else if (id == 1) {
                CHECK_EQ(c_put(rt, c, kind, o[3]), 0); /* back, at the end */
                CHECK_EQ(c_put(rt, c, kind, o[6]), 0);
                CHECK_EQ(c_put(rt, c, kind, o[1]), 0); /* already there */
            } else if (id == 6) {
                CHECK_EQ(c_put(rt, c, kind, o[7]), 0);
            }
            if (n == 16) break;
        }
        rcgc_witer_end(&it);
        static const int want[] = {0, 1, 2, 4, 5, 3, 6, 7};
        CHECK(ids_are(got, n, want, 8));
        CHECK_EQ(rcgc_weak_len(rt, c), 7);
        CHECK_ITER(rt, c, kind, 1, 2, 4, 5, 3, 6, 7);
        for (int i = 0; i < 8; i++) rcgc_decref(rt, o[i]);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Clearing the container in the middle of an iteration: nothing more is
 * yielded, len 0, and the container works normally afterwards. */
TEST(iteration_clear_midway)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[4];
        for (int i = 0; i < 4; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        CHECK_EQ(rcgc_weak_clear(rt, c), 0);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        CHECK_EQ(rcgc_witer_next(&it), 0);
        rcgc_witer_end(&it);
        CHECK_EQ(c_put(rt, c, kind, o[2]), 0);
        CHECK_ITER(rt, c, kind, 2);
        for (int i = 0; i < 4; i++) rcgc_decref(rt, o[i]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Two iterators at once, interleaved: each skips what died or was deleted
 * behind the other's back; the table is compacted only after the last one
 * ends, and is consistent then. */
TEST(iteration_nested)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[10];
        for (int i = 0; i < 10; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_witer a, b;
        CHECK_EQ(rcgc_witer_begin(rt, c, &a), 0);
        CHECK_EQ(rcgc_witer_begin(rt, c, &b), 0);
        CHECK_EQ(rcgc_witer_next(&a), 1); /* a at 0 */
        for (int i = 0; i < 6; i++) CHECK_EQ(rcgc_witer_next(&b), 1);
        CHECK_EQ(it_id(&b, kind), 5);     /* b at 5 */
        for (int i = 1; i < 9; i += 2) CHECK_EQ(c_del(rt, c, kind, o[i]), 0);
        rcgc_decref(rt, o[8]);
        o[8] = NULL;
        CHECK_EQ(rcgc_weak_len(rt, c), 5); /* 0 2 4 6 9 (5 deleted, held) */
        int got[16], n = 0;
        while (rcgc_witer_next(&a)) got[n++] = it_id(&a, kind);
        static const int want_a[] = {2, 4, 6, 9};
        CHECK(ids_are(got, n, want_a, 4));
        rcgc_witer_end(&a);
        n = 0;
        while (rcgc_witer_next(&b)) got[n++] = it_id(&b, kind);
        static const int want_b[] = {6, 9};
        CHECK(ids_are(got, n, want_b, 2));
        rcgc_witer_end(&b);
        CHECK_ITER(rt, c, kind, 0, 2, 4, 6, 9);
        for (int i = 0; i < 10; i++)
            if (o[i] != NULL)
                CHECK_EQ(c_has(rt, c, kind, o[i]), i % 2 == 0 || i == 9);
        for (int i = 0; i < 10; i++) rcgc_xdecref(rt, o[i]);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Compaction after iteration: 1000 entries, 900 deleted or dead while an
 * iterator runs (so nothing moves); after it ends, len, contents, order,
 * lookups, deletions and insertions are all right, and the next 1000
 * insertions too. */
TEST(iteration_compaction_after_end)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        enum { N = 1000 };
        static rcgc_object *o[2 * N];
        for (int i = 0; i < N; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        int yielded = 0;
        while (rcgc_witer_next(&it)) {
            int id = it_id(&it, kind);
            yielded++;
            if (id == 0)
                for (int i = 1; i < N; i++) {
                    if (i % 10 == 0) continue;
                    if (i % 2) {
                        CHECK_EQ(c_del(rt, c, kind, o[i]), 0);
                    } else {
                        rcgc_decref(rt, o[i]);
                        o[i] = NULL;
                    }
                }
            else
                CHECK_EQ(id % 10, 0);
        }
        rcgc_witer_end(&it);
        CHECK_EQ(yielded, N / 10);
        CHECK_EQ(rcgc_weak_len(rt, c), N / 10);
        int ids[N], n = iter_ids(rt, c, kind, ids, N);
        CHECK_EQ(n, N / 10);
        for (int i = 0; i < n; i++) CHECK_EQ(ids[i], i * 10);
        for (int i = 0; i < N; i++)
            if (o[i] != NULL) CHECK_EQ(c_has(rt, c, kind, o[i]), i % 10 == 0);
        for (int i = N; i < 2 * N; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        CHECK_EQ(rcgc_weak_len(rt, c), N + N / 10);
        for (int i = 0; i < 2 * N; i++)
            if (o[i] != NULL) {
                int in = i >= N || i % 10 == 0;
                CHECK_EQ(c_has(rt, c, kind, o[i]), in);
                if (in && i % 3 == 0) CHECK_EQ(c_del(rt, c, kind, o[i]), 0);
            }
        int left = 0;
        for (int i = 0; i < 2 * N; i++)
            if (o[i] != NULL && (i >= N || i % 10 == 0) && i % 3 != 0) left++;
        CHECK_EQ(rcgc_weak_len(rt, c), left);
        CHECK_EQ(iter_ids(rt, c, kind, ids, N), left);
        for (int i = 0; i < 2 * N; i++) rcgc_xdecref(rt, o[i]);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Delete the first live entry (found with a second iterator). */
static void del_first(rcgc_runtime *rt, rcgc_object *c, int kind,
                      rcgc_object **objs)
{
    rcgc_witer it;
    CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
    if (rcgc_witer_next(&it)) {
        int id = it_id(&it, kind);
        CHECK_EQ(c_del(rt, c, kind, objs[id]), 0);
    }
    rcgc_witer_end(&it);
}

/* Delete the last live entry (CPython's popitem()). */
static void del_last(rcgc_runtime *rt, rcgc_object *c, int kind,
                     rcgc_object **objs)
{
    rcgc_witer it;
    int last = -1;
    CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
    while (rcgc_witer_next(&it)) last = it_id(&it, kind);
    rcgc_witer_end(&it);
    if (last >= 0) CHECK_EQ(c_del(rt, c, kind, objs[last]), 0);
}

static void ctx_enter(rcgc_runtime *rt, rcgc_object *c, rcgc_object **objs,
                      int *nobjs, struct ctx *x)
{
    CHECK_EQ(rcgc_witer_begin(rt, c, &x->it), 0);
    rcgc_witer_next(&x->it);
    x->killed = --*nobjs;
    rcgc_decref(rt, objs[x->killed]);
    objs[x->killed] = NULL;
}

/* test_weakref.py check_weak_destroy_and_mutate_while_iterating and
 * check_weak_del_and_len_while_iterating (issue #21173); spec §9.4 item
 * 98, for the two maps: while an object killed during an iteration is
 * pending removal in CPython (removed at once in rcgc): k not in d; del
 * d[k] -> KeyError (RCGC_ENOTFOUND); d[k] = v works; clear works; and len
 * follows the sequence of deletions, insertions, pops and clears exactly
 * (python3: [9, 8, 9, 8, 7, 6, 5, 4, 3, 0, 0]). */
TEST(iteration_mutate_while_pending)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        if (kind == K_SET) continue;
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *objs[16];
        int nobjs = 10;
        for (int i = 0; i < 10; i++) {
            objs[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, objs[i]), 0);
        }
        struct ctx x;
        ctx_enter(rt, c, objs, &nobjs, &x);
        if (kind == K_VMAP) CHECK(!c_has_id(rt, c, kind, x.killed, NULL));
        CHECK_EQ(rcgc_weak_len(rt, c), 9);
        rcgc_witer_end(&x.it);

        ctx_enter(rt, c, objs, &nobjs, &x);
        if (kind == K_VMAP) {
            char k[32];
            CHECK_EQ(rcgc_wvmap_delete(rt, c, k, key_of(x.killed, k)),
                     RCGC_ENOTFOUND);
        }
        rcgc_witer_end(&x.it);

        ctx_enter(rt, c, objs, &nobjs, &x);
        rcgc_object *nv = t_wnode(rt, x.killed); /* Object(k) */
        objs[x.killed] = nv;
        CHECK_EQ(c_put(rt, c, kind, nv), 0);
        CHECK(c_has(rt, c, kind, nv));
        rcgc_witer_end(&x.it);
        CHECK(c_has(rt, c, kind, nv));
        nobjs++; /* keep it */

        ctx_enter(rt, c, objs, &nobjs, &x); /* kills nv */
        CHECK_EQ(rcgc_weak_clear(rt, c), 0);
        rcgc_witer_end(&x.it);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        for (int i = 0; i < nobjs; i++) rcgc_xdecref(rt, objs[i]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *objs[16] = {NULL};
        int nobjs = 10;
        for (int i = 0; i < 10; i++) {
            objs[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, objs[i]), 0);
        }
        rcgc_ssize lens[16];
        int nl = 0;
        struct ctx x;
        objs[12] = t_wnode(rt, 12); /* o = Object(123456) */
        ctx_enter(rt, c, objs, &nobjs, &x);
        rcgc_ssize n = rcgc_weak_len(rt, c);
        lens[nl++] = n;
        del_first(rt, c, kind, objs);
        lens[nl++] = rcgc_weak_len(rt, c);
        CHECK_EQ(c_put(rt, c, kind, objs[12]), 0);
        lens[nl++] = rcgc_weak_len(rt, c);
        rcgc_witer_end(&x.it);
        ctx_enter(rt, c, objs, &nobjs, &x);
        lens[nl++] = rcgc_weak_len(rt, c);
        del_last(rt, c, kind, objs); /* pops o */
        lens[nl++] = rcgc_weak_len(rt, c);
        rcgc_witer_end(&x.it);
        ctx_enter(rt, c, objs, &nobjs, &x);
        lens[nl++] = rcgc_weak_len(rt, c);
        del_first(rt, c, kind, objs);
        lens[nl++] = rcgc_weak_len(rt, c);
        rcgc_witer_end(&x.it);
        ctx_enter(rt, c, objs, &nobjs, &x);
        lens[nl++] = rcgc_weak_len(rt, c);
        del_last(rt, c, kind, objs);
        lens[nl++] = rcgc_weak_len(rt, c);
        rcgc_witer_end(&x.it);
        ctx_enter(rt, c, objs, &nobjs, &x);
        CHECK_EQ(rcgc_weak_clear(rt, c), 0);
        lens[nl++] = rcgc_weak_len(rt, c);
        rcgc_witer_end(&x.it);
        lens[nl++] = rcgc_weak_len(rt, c);
        static const rcgc_ssize want[] = {9, 8, 9, 8, 7, 6, 5, 4, 3, 0, 0};
        CHECK_EQ(nl, 11);
        for (int i = 0; i < nl && i < 11; i++)
            if (lens[i] != want[i])
                t_fail(__FILE__, __LINE__, "%s: len #%d is %td, expected %td",
                       kind_name[kind], i, lens[i], want[i]);
        for (int i = 0; i < 16; i++) rcgc_xdecref(rt, objs[i]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* ------------------------------------------------------------------------ */
/* out of memory                                                             */

/* c_put with the weak-key map's value made beforehand (so that only the
 * library's allocations are counted). */
static int c_put_v(rcgc_runtime *rt, rcgc_object *c, int kind, rcgc_object *o,
                   rcgc_object *v)
{
    return kind == K_KMAP ? rcgc_wkmap_set(rt, c, o, v) : c_put(rt, c, kind, o);
}

/* The container holds exactly o[0..size) and, if with_x, x (id 100) last:
 * len, lookups, iteration order, one weak reference each. */
static void check_contents(rcgc_runtime *rt, rcgc_object *c, int kind,
                           rcgc_object **o, int size, rcgc_object *x,
                           int with_x)
{
    CHECK_EQ(rcgc_weak_len(rt, c), size + with_x);
    int ids[32];
    int k = iter_ids(rt, c, kind, ids, 32);
    CHECK_EQ(k, size + with_x);
    for (int i = 0; i < size && i < k; i++) {
        CHECK_EQ(ids[i], i);
        CHECK(c_has(rt, c, kind, o[i]));
        CHECK_EQ(rcgc_weakref_count(o[i]), 1);
    }
    if (with_x && k == size + 1) CHECK_EQ(ids[size], 100);
    CHECK_EQ(c_has(rt, c, kind, x), with_x);
    CHECK_EQ(rcgc_weakref_count(x), with_x);
}

/* Fault injection: for containers of every size from 0 to 20 (so every
 * growth of the entry array and every rebuild of the index is met), fail
 * the n-th allocation of set/add, for every n, once alone (fail_at) and
 * once with every later allocation failing too (fail_after): the call
 * returns RCGC_ENOMEM, the container still holds exactly its old entries
 * (len, lookups, iteration order, the objects' weak reference counts), the
 * new value was not kept, and teardown finds nothing leaked; with enough
 * memory it succeeds.  Iteration (begin/next/end) allocates nothing: it
 * works while every allocation fails. */
TEST(set_out_of_memory)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int size = 0; size <= 20; size++) {
            for (int mode = 0; mode < 2; mode++) {
                int succeeded = 0;
                for (long n = 1; n < 30 && !succeeded; n++) {
                    rcgc_runtime *rt = t_runtime();
                    REQUIRE(rt != NULL);
                    rcgc_object *c = c_new(rt, kind);
                    rcgc_object *o[21];
                    for (int i = 0; i < size; i++) {
                        o[i] = t_wnode(rt, i);
                        CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
                    }
                    rcgc_object *x = t_wnode(rt, 100);
                    rcgc_object *v = kind == K_KMAP ? t_leaf(rt, 1100) : NULL;
                    rcgc_ssize live = t_live_objects(rt);
                    if (mode == 1)
                        t_alloc_state.fail_after = t_alloc_state.calls + n - 1;
                    else
                        t_alloc_state.fail_at = t_alloc_state.calls + n;
                    int r = c_put_v(rt, c, kind, x, v);
                    int failed = t_alloc_state.failures > 0;
                    if (mode == 1) { /* iteration with no memory at all */
                        rcgc_witer it;
                        int seen = 0;
                        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
                        while (rcgc_witer_next(&it)) seen++;
                        rcgc_witer_end(&it);
                        CHECK_EQ(seen, rcgc_weak_len(rt, c));
                    }
                    t_alloc_state.fail_at = t_alloc_state.fail_after = 0;
                    if (r != 0) {
                        CHECK_EQ(r, RCGC_ENOMEM);
                        CHECK(failed);
                        CHECK_EQ(t_live_objects(rt), live);
                        if (v != NULL) CHECK_EQ(v->refcnt, 1);
                    } else {
                        CHECK(!failed);
                        succeeded = 1;
                        if (v != NULL) CHECK_EQ(v->refcnt, 2);
                    }
                    check_contents(rt, c, kind, o, size, x, r == 0);
                    rcgc_decref(rt, x);
                    rcgc_xdecref(rt, v);
                    CHECK_EQ(rcgc_weak_len(rt, c), size);
                    for (int i = 0; i < size; i++) rcgc_decref(rt, o[i]);
                    CHECK_EQ(rcgc_weak_len(rt, c), 0);
                    rcgc_decref(rt, c);
                    t_finish(rt);
                }
                if (!succeeded)
                    t_fail(__FILE__, __LINE__, "%s size %d mode %d never succeeded",
                           kind_name[kind], size, mode);
            }
        }
    }
}

/* Fault injection when the key is already there: the weak-value map
 * allocates a new weak reference (and key copy) to replace the value; on
 * failure the old value stays, on success the new one is there (and the
 * old one has no weak reference left).  The weak set and the weak-key map
 * also make their new weak reference first, as CPython's WeakSet.add and
 * WeakKeyDictionary.__setitem__ do (v2 scenario contract 6.3: the
 * allocation counts, and may collect), and free it when the key is there:
 * while every allocation fails, adding the item again, or replacing the
 * value, fails with RCGC_ENOMEM and changes nothing. */
TEST(replace_out_of_memory)
{
    for (int size = 1; size <= 20; size++) {
        int succeeded = 0;
        for (long n = 1; n < 30 && !succeeded; n++) {
            rcgc_runtime *rt = t_runtime();
            rcgc_object *c = rcgc_wvmap_new(rt);
            rcgc_object *o[21];
            for (int i = 0; i < size; i++) {
                o[i] = t_wnode(rt, i);
                CHECK_EQ(c_put(rt, c, K_VMAP, o[i]), 0);
            }
            rcgc_object *x = t_wnode(rt, size - 1); /* same key */
            rcgc_ssize live = t_live_objects(rt);
            t_alloc_state.fail_at = t_alloc_state.calls + n;
            int r = c_put(rt, c, K_VMAP, x);
            t_alloc_state.fail_at = 0;
            char k[32];
            rcgc_object *got = rcgc_wvmap_get(rt, c, k, key_of(size - 1, k));
            if (r != 0) {
                CHECK_EQ(r, RCGC_ENOMEM);
                CHECK(got == o[size - 1]);
                CHECK_EQ(rcgc_weakref_count(x), 0);
                CHECK_EQ(rcgc_weakref_count(o[size - 1]), 1);
                CHECK_EQ(t_live_objects(rt), live);
            } else {
                succeeded = 1;
                CHECK(got == x);
                CHECK_EQ(rcgc_weakref_count(x), 1);
                CHECK_EQ(rcgc_weakref_count(o[size - 1]), 0);
            }
            rcgc_xdecref(rt, got);
            CHECK_EQ(rcgc_weak_len(rt, c), size);
            int ids[32];
            CHECK_EQ(iter_ids(rt, c, K_VMAP, ids, 32), size);
            for (int i = 0; i < size; i++) CHECK_EQ(ids[i], i);
            rcgc_decref(rt, x);
            for (int i = 0; i < size; i++) rcgc_decref(rt, o[i]);
            CHECK_EQ(rcgc_weak_len(rt, c), 0);
            rcgc_decref(rt, c);
            t_finish(rt);
        }
        CHECK(succeeded);
    }
    for (int kind = K_SET; kind <= K_KMAP; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *o[5];
        for (int i = 0; i < 5; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
        }
        rcgc_object *v = t_leaf(rt, 1004);
        rcgc_object *old = kind == K_KMAP ? rcgc_wkmap_get(rt, c, o[4]) : NULL;
        rcgc_ssize live = t_live_objects(rt);
        t_alloc_state.fail_after = t_alloc_state.calls;
        CHECK_EQ(c_put_v(rt, c, kind, o[4], v), RCGC_ENOMEM);
        CHECK_EQ(t_alloc_state.failures, 1);
        t_alloc_state.fail_after = 0;
        CHECK_EQ(t_live_objects(rt), live);
        CHECK_EQ(rcgc_weak_len(rt, c), 5);
        CHECK_EQ(rcgc_weakref_count(o[4]), 1);
        if (kind == K_KMAP) {
            rcgc_object *got = rcgc_wkmap_get(rt, c, o[4]);
            CHECK(got == old);
            rcgc_xdecref(rt, got);
        }
        /* and with memory: the new reference is made and freed */
        CHECK_EQ(c_put_v(rt, c, kind, o[4], v), 0);
        CHECK_EQ(t_live_objects(rt), live);
        CHECK_EQ(rcgc_weakref_count(o[4]), 1);
        if (kind == K_KMAP) {
            rcgc_object *got = rcgc_wkmap_get(rt, c, o[4]);
            CHECK(got == v);
            rcgc_xdecref(rt, got);
        }
        rcgc_xdecref(rt, old);
        rcgc_decref(rt, v);
        for (int i = 0; i < 5; i++) rcgc_decref(rt, o[i]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Fault injection with tombstones: 12 entries of which 8 were deleted (so
 * the next addition compacts the table first, rebuilding its index), then
 * an addition with the n-th allocation failing (alone, or with all later
 * ones): the call either fails with RCGC_ENOMEM or succeeds (a failed index
 * rebuild during compaction is recovered in place), and the table holds
 * exactly the 4 old entries, plus the new one on success, in order. */
TEST(set_out_of_memory_with_tombstones)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int mode = 0; mode < 2; mode++) {
            int succeeded = 0;
            for (long n = 1; n < 30 && !succeeded; n++) {
                rcgc_runtime *rt = t_runtime();
                rcgc_object *c = c_new(rt, kind);
                rcgc_object *o[12], *keep[4];
                for (int i = 0; i < 12; i++) {
                    o[i] = t_wnode(rt, i);
                    CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
                }
                for (int i = 0; i < 12; i++) {
                    if (i % 3 == 0) {
                        keep[i / 3] = o[i];
                        o[i] = NULL;
                    } else if (i % 2) {
                        CHECK_EQ(c_del(rt, c, kind, o[i]), 0);
                    } else {
                        rcgc_decref(rt, o[i]);
                        o[i] = NULL;
                    }
                }
                CHECK_EQ(rcgc_weak_len(rt, c), 4);
                /* keep holds ids 0, 3, 6, 9 in order: renumber for the
                 * check below */
                for (int i = 0; i < 4; i++) t_as(keep[i])->id = i;
                rcgc_object *x = t_wnode(rt, 100);
                rcgc_object *v = kind == K_KMAP ? t_leaf(rt, 1100) : NULL;
                rcgc_ssize live = t_live_objects(rt);
                if (mode == 1)
                    t_alloc_state.fail_after = t_alloc_state.calls + n - 1;
                else
                    t_alloc_state.fail_at = t_alloc_state.calls + n;
                int r = c_put_v(rt, c, kind, x, v);
                int failed = t_alloc_state.failures > 0;
                t_alloc_state.fail_at = t_alloc_state.fail_after = 0;
                if (r != 0) {
                    CHECK_EQ(r, RCGC_ENOMEM);
                    CHECK(failed);
                    CHECK_EQ(t_live_objects(rt), live);
                } else if (!failed) {
                    succeeded = 1;
                }
                /* the value map's keys were "k0", "k3"...: look up by the
                 * objects only for the identity containers */
                CHECK_EQ(rcgc_weak_len(rt, c), 4 + (r == 0));
                int ids[8];
                int k = iter_ids_raw(rt, c, kind, ids, 8);
                CHECK_EQ(k, 4 + (r == 0));
                for (int i = 0; i < 4 && i < k; i++) CHECK_EQ(ids[i], i);
                if (r == 0 && k == 5) CHECK_EQ(ids[4], 100);
                if (kind != K_VMAP)
                    for (int i = 0; i < 4; i++) CHECK(c_has(rt, c, kind, keep[i]));
                CHECK_EQ(c_has(rt, c, kind, x), r == 0);
                rcgc_decref(rt, x);
                rcgc_xdecref(rt, v);
                for (int i = 0; i < 12; i++) rcgc_xdecref(rt, o[i]);
                for (int i = 0; i < 4; i++) rcgc_decref(rt, keep[i]);
                CHECK_EQ(rcgc_weak_len(rt, c), 0);
                rcgc_decref(rt, c);
                t_finish(rt);
            }
            CHECK(succeeded);
        }
    }
}

/* Fault injection while an iterator runs: adding entries (so the array
 * grows while nothing may move) with the n-th allocation failing; the
 * iteration goes on and yields exactly the entries there. */
TEST(set_out_of_memory_during_iteration)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (long n = 1; n < 40; n++) {
            rcgc_runtime *rt = t_runtime();
            rcgc_object *c = c_new(rt, kind);
            rcgc_object *o[16];
            for (int i = 0; i < 16; i++) o[i] = t_wnode(rt, i);
            for (int i = 0; i < 6; i++) CHECK_EQ(c_put(rt, c, kind, o[i]), 0);
            rcgc_witer it;
            CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
            CHECK_EQ(rcgc_witer_next(&it), 1);
            CHECK_EQ(c_del(rt, c, kind, o[1]), 0);
            t_alloc_state.fail_at = t_alloc_state.calls + n;
            int added[16] = {0};
            for (int i = 6; i < 16; i++) added[i] = c_put(rt, c, kind, o[i]) == 0;
            t_alloc_state.fail_at = 0;
            int expect = 5;
            for (int i = 6; i < 16; i++) expect += added[i];
            CHECK_EQ(rcgc_weak_len(rt, c), expect);
            int seen = 1;
            while (rcgc_witer_next(&it)) {
                int id = it_id(&it, kind);
                CHECK(id != 1 && (id < 6 || added[id]));
                seen++;
            }
            rcgc_witer_end(&it);
            CHECK_EQ(seen, expect);
            for (int i = 0; i < 16; i++) {
                CHECK_EQ(c_has(rt, c, kind, o[i]), i != 1 && (i < 6 || added[i]));
                rcgc_decref(rt, o[i]);
            }
            CHECK_EQ(rcgc_weak_len(rt, c), 0);
            rcgc_decref(rt, c);
            t_finish(rt);
        }
    }
}

/* CPython 3.11's commit points (weakref.py): an entry whose object dies
 * while an iteration runs stays pending (its weak reference, and a weak-key
 * map's value, live on) until the weak-value map's next operation (len,
 * contains, get, set, delete, clear, a new iteration), the weak set's next
 * add, discard or clear, or the end of the last iteration (python3, after
 * gc.disable(): WeakValueDictionary: _pending_removals 1 after the death,
 * 0 after "'x' in d"; WeakSet: 1 after "x in s", 0 after s.add(x);
 * WeakKeyDictionary: 1 after in, get, set and len, 0 once the iterator is
 * deleted). */
TEST(pending_removals_commit_points)
{
    for (int kind = 0; kind < K_COUNT; kind++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, kind);
        rcgc_object *a = t_wnode(rt, 1), *b = t_wnode(rt, 2);
        CHECK_EQ(c_put(rt, c, kind, a), 0);
        CHECK_EQ(c_put(rt, c, kind, b), 0);
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        rcgc_ssize live = t_live_objects(rt);
        rcgc_decref(rt, b); /* dies; its entry is pending */
        rcgc_ssize pending_left = live - 1; /* b only */
        CHECK_EQ(t_live_objects(rt), pending_left);
        char k[32];
        /* operations that do not commit */
        if (kind == K_SET) {
            CHECK_EQ(rcgc_wset_contains(rt, c, a), 1);
            CHECK_EQ(rcgc_weak_len(rt, c), 1);
        } else if (kind == K_KMAP) {
            CHECK_EQ(rcgc_wkmap_contains(rt, c, a), 1);
            rcgc_object *v = rcgc_wkmap_get(rt, c, a);
            CHECK(v != NULL);
            rcgc_xdecref(rt, v);
            CHECK_EQ(rcgc_weak_len(rt, c), 1);
            rcgc_object *v2 = t_leaf(rt, 77);
            CHECK_EQ(rcgc_wkmap_set(rt, c, a, v2), 0); /* replaces a's value */
            rcgc_decref(rt, v2);
            /* the old value lives on: the iterator stands on a's entry */
            pending_left++;
        }
        CHECK_EQ(t_live_objects(rt), pending_left);
        /* the commit */
        if (kind == K_VMAP) {
            CHECK_EQ(rcgc_wvmap_contains(rt, c, k, key_of(9, k)), 0);
            CHECK_EQ(t_live_objects(rt), pending_left - 1); /* b's ref */
        } else if (kind == K_SET) {
            CHECK_EQ(rcgc_wset_add(rt, c, a), 0);
            CHECK_EQ(t_live_objects(rt), pending_left - 1);
        }
        rcgc_witer_end(&it);
        /* the end commits what is left: b's ref (and value), then lets go
         * of the entry it stood on (weak-key map: a's old value) */
        CHECK_EQ(t_live_objects(rt), pending_left - (kind == K_KMAP ? 3 : 1));
        CHECK_EQ(rcgc_weak_len(rt, c), 1);
        CHECK_EQ(rcgc_weakref_count(a), 1);
        rcgc_decref(rt, a);
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* WeakKeyDictionary.clear during an iteration (popitem loop) takes the
 * pending entries out of the map but not out of _pending_removals: their
 * weak references live on until len scrubs them (issue 21173) or the
 * iteration ends (python3, gc.disable(): after clear, pending 1, data 0,
 * the pending ref still referenced; after len(k): 0 and 0). */
TEST(weak_key_clear_keeps_pending_refs)
{
    for (int scrub = 0; scrub < 2; scrub++) {
        rcgc_runtime *rt = t_runtime();
        rcgc_object *c = c_new(rt, K_KMAP);
        rcgc_object *o[3];
        for (int i = 0; i < 3; i++) {
            o[i] = t_wnode(rt, i);
            CHECK_EQ(c_put(rt, c, K_KMAP, o[i]), 0);
        }
        rcgc_witer it;
        CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
        CHECK_EQ(rcgc_witer_next(&it), 1);
        rcgc_decref(rt, o[1]); /* pending: its ref and value live on */
        rcgc_ssize live = t_live_objects(rt);
        CHECK_EQ(rcgc_weak_clear(rt, c), 0);
        /* o[2]'s ref and value go; o[1]'s value goes, its ref waits; o[0]'s
         * ref goes, its value is held by the iterator */
        CHECK_EQ(t_live_objects(rt), live - 4);
        if (scrub) {
            CHECK_EQ(rcgc_weak_len(rt, c), 0);
            CHECK_EQ(t_live_objects(rt), live - 5);
        }
        rcgc_witer_end(&it);
        CHECK_EQ(t_live_objects(rt), live - 6); /* the ref, o[0]'s value */
        CHECK_EQ(rcgc_weak_len(rt, c), 0);
        rcgc_decref(rt, o[0]);
        rcgc_decref(rt, o[2]);
        rcgc_decref(rt, c);
        t_finish(rt);
    }
}

/* Pending entries keep their index slots: growing the index while many
 * are pending must size it for them too (found by the v2 differential
 * campaign: the index filled up and a lookup probed forever). */
TEST(index_grows_with_pending_entries)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *c = c_new(rt, K_KMAP);
    rcgc_object *o[40];
    for (int i = 0; i < 8; i++) {
        o[i] = t_wnode(rt, i);
        CHECK_EQ(c_put(rt, c, K_KMAP, o[i]), 0);
    }
    rcgc_witer it;
    CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
    CHECK_EQ(rcgc_witer_next(&it), 1);
    for (int i = 1; i < 8; i++) rcgc_decref(rt, o[i]); /* 7 pending */
    for (int i = 8; i < 40; i++) {
        o[i] = t_wnode(rt, i);
        CHECK_EQ(c_put(rt, c, K_KMAP, o[i]), 0);
        CHECK_EQ(rcgc_wkmap_contains(rt, c, o[i]), 1);
        CHECK_EQ(rcgc_check(rt), 0);
    }
    CHECK_EQ(rcgc_weak_len(rt, c), 33);
    rcgc_witer_end(&it);
    CHECK_EQ(rcgc_weak_len(rt, c), 33);
    rcgc_decref(rt, o[0]);
    for (int i = 8; i < 40; i++) rcgc_decref(rt, o[i]);
    CHECK_EQ(rcgc_weak_len(rt, c), 0);
    rcgc_decref(rt, c);
    t_finish(rt);
}

/* A weak-key map's values are plain strong references while an iteration
 * runs: a key found unreachable by a collection then leaves its entry
 * pending, and the value must live until the commit (CPython: the dict
 * holds it; python3 with an iterator started: the value's weak reference
 * stays alive across gc.collect() and dies when the iteration ends; v2
 * case v2_iter_registered_key_collected). */
TEST(weak_key_values_strong_during_iteration)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *c = c_new(rt, K_KMAP);
    rcgc_object *k1 = t_self_cycle(rt, &t_wnode_type, 1);
    rcgc_object *k2 = t_wnode(rt, 2);
    rcgc_object *v1 = t_wnode(rt, 11);
    rcgc_object *w1 = rcgc_weakref_new(rt, v1, NULL, NULL);
    CHECK_EQ(rcgc_wkmap_set(rt, c, k1, v1), 0);
    CHECK_EQ(c_put(rt, c, K_KMAP, k2), 0);
    rcgc_decref(rt, v1);
    rcgc_witer it;
    CHECK_EQ(rcgc_witer_begin(rt, c, &it), 0);
    rcgc_decref(rt, k1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1); /* k1 only; its entry waits */
    CHECK(t_wr_alive(rt, w1));
    CHECK_EQ(rcgc_weak_len(rt, c), 1);
    CHECK_EQ(rcgc_witer_next(&it), 1);
    CHECK(it.key_obj == k2);
    CHECK_EQ(rcgc_witer_next(&it), 0);
    CHECK(t_wr_alive(rt, w1));
    rcgc_witer_end(&it); /* the commit frees the entry's ref and v1 */
    CHECK(!t_wr_alive(rt, w1));
    rcgc_decref(rt, w1);
    rcgc_decref(rt, k2);
    rcgc_decref(rt, c);
    t_finish(rt);
}

TEST_MAIN(T(iteration_order), T(pending_removals_commit_points),
          T(weak_key_values_strong_during_iteration), T(index_grows_with_pending_entries),
          T(weak_key_clear_keeps_pending_refs), T(iteration_destroy_while_iterating),
          T(iteration_len_cycles), T(iteration_len_race),
          T(iteration_collection_mid_iteration),
          T(iteration_current_item_kept_alive), T(iteration_with_changes),
          T(iteration_clear_midway), T(iteration_nested),
          T(iteration_compaction_after_end),
          T(iteration_mutate_while_pending), T(set_out_of_memory),
          T(replace_out_of_memory), T(set_out_of_memory_with_tombstones),
          T(set_out_of_memory_during_iteration))

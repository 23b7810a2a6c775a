/*
 * test_collect_garbage.c - the collection algorithm, part 2: legacy
 * finalizers and the garbage list, DEBUG_SAVEALL, lazily untracked tuples
 * and dicts, a million-object ring, and the DEBUG_STATS / COLLECTABLE /
 * UNCOLLECTABLE messages.  Part 1 (shapes, resurrection, finalizers and
 * clear functions mid-collection) is test_collect.c.
 *
 * Every expected number is CPython 3.11's.  Unless a comment says otherwise
 * it was confirmed on this machine's python3 (3.11.7) with the equivalent
 * graph built from one-GC-object nodes
 *     class N(list): __slots__ = ('__weakref__',)
 * (a __del__ for t_fnode_type, _testcapi.with_tp_del for t_lnode_type, and a
 * small C extension type with configurable tp_clear / tp_finalize for the
 * "probe" scenarios), after gc.disable() and a cleaning gc.collect().
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "test.h"
#include "collect_fixtures.h"

static int hook_count(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    ((struct fin_ctx *)ctx)->calls++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* legacy finalizers and the garbage list                                    */

/* test_gc.py test_legacy_finalizer; spec §9.1 item 8, §2.6: a tp_del
 * self-cycle plus a plain self-cycle -> 2 (1 collected + 1 uncollectable);
 * gc.garbage holds exactly the tp_del object, its tp_del was not called, the
 * plain cycle was freed (python3: 2, [a], tp_del not called). */
TEST(legacy_finalizer_cycle_goes_to_garbage)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_self_cycle(rt, &t_lnode_type, 1);
    rcgc_object *b = t_self_cycle(rt, &t_node_type, 2);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 1);
    CHECK_EQ(s[2].uncollectable, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 1);
    CHECK(g[0] == a);
    rcgc_objects_free(rt, g, n);
    CHECK_EQ(t_as(a)->nlegacy, 0);
    CHECK_EQ(t_as(a)->n, 1); /* never cleared */
    CHECK(rcgc_object_is_tracked(a));
    CHECK_EQ(t_live_objects(rt), 1);
    t_clean_garbage(rt);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.6 / §9.1 item 39 ("uncollectables are re-counted every time"):
 * while gc.garbage holds the tp_del cycle it is reachable -> 0; after
 * gc.garbage.clear() it is found again -> 1 and is back in gc.garbage
 * (python3: 0, then 1 and len(gc.garbage) == 1). */
TEST(legacy_uncollectable_recounted_after_garbage_clear)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_self_cycle(rt, &t_lnode_type, 1);
    rcgc_decref(rt, a);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    rcgc_gc_garbage_clear(rt);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 0);
    CHECK_EQ(s[2].uncollectable, 2);
    CHECK_EQ(t_as(a)->nlegacy, 0);
    t_clean_garbage(rt);
    t_finish(rt);
}

/* Spec §2.0 steps 7-8, §2.6: everything reachable from a tp_del object is
 * uncollectable too, but only tp_del objects go to gc.garbage.  L <-> N plus
 * L -> c -> d -> 4 (stats +0 collected, +4 uncollectable), gc.garbage ==
 * [L] (python3: 4, (0, 4), ['L']). */
TEST(legacy_reachable_set_uncollectable)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *l = t_new(rt, &t_lnode_type, 1), *b = t_node(rt, 2);
    t_link2(rt, l, b);
    rcgc_object *c = t_node(rt, 3), *d = t_node(rt, 4);
    t_append(rt, l, c);
    t_append(rt, c, d);
    rcgc_decref(rt, l);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 0);
    CHECK_EQ(s[2].uncollectable, 4);
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 1);
    CHECK(g[0] == l);
    rcgc_objects_free(rt, g, n);
    CHECK_EQ(t_live_objects(rt), 4);
    for (int i = 0; i < 4; i++) /* all stay tracked, in generation 2 */
        CHECK_EQ(gen_of(rt, (rcgc_object *[]){l, b, c, d}[i]), 2);
    t_clean_garbage(rt);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.0 steps 7-8 (only what a tp_del object reaches is held back):
 * a plain self-cycle N -> a tp_del self-cycle L: N is collected, L is not
 * -> 2 (stats +1/+1), gc.garbage == [L] (python3: 2, (1, 1), ['L']). */
TEST(garbage_pointing_into_legacy_set)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *n = t_self_cycle(rt, &t_node_type, 1);
    rcgc_object *l = t_self_cycle(rt, &t_lnode_type, 2);
    t_append_steal(rt, n, l);
    rcgc_decref(rt, n);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 1);
    CHECK_EQ(s[2].uncollectable, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(t_live_objects(rt), 1);
    t_clean_garbage(rt);
    t_finish(rt);
}

/* Spec §2.0 steps 7-11, §2.6 (legacy objects and everything they reach
 * leave the unreachable set before finalize_garbage): a cycle of an object
 * with both a tp_del and a __del__ and a plain __del__ object -> 2
 * uncollectable, neither __del__ nor tp_del is called, gc.garbage == [FL],
 * not finalized.  A __del__ self-cycle pointing into a tp_del self-cycle ->
 * 2 (1 + 1): only the __del__ one is finalized (python3: 2, [], ['FL'],
 * [False]; 2, ['del F'], ['L']). */
TEST(legacy_set_is_not_finalized)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *fl = t_new(rt, &t_flnode_type, 1);
    rcgc_object *f = t_new(rt, &t_fnode_type, 2);
    t_link2(rt, fl, f);
    rcgc_decref(rt, fl);
    rcgc_decref(rt, f);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].uncollectable, 2);
    CHECK_EQ(t_as(fl)->nfinalize + t_as(fl)->nlegacy, 0);
    CHECK_EQ(t_as(f)->nfinalize, 0);
    CHECK(!rcgc_object_is_finalized(fl) && !rcgc_object_is_finalized(f));
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 1);
    CHECK(g[0] == fl);
    rcgc_objects_free(rt, g, n);
    t_clear(rt, f);
    t_clean_garbage(rt);
    CHECK_EQ(t_live_objects(rt), 0);

    struct fin_ctx fc = {NULL, NULL, 0, 0, NULL};
    rcgc_object *fs = t_self_cycle(rt, &t_fnode_type, 3);
    t_as(fs)->on_finalize = hook_count;
    t_as(fs)->ctx = &fc;
    rcgc_object *l = t_self_cycle(rt, &t_lnode_type, 4);
    t_append_steal(rt, fs, l);
    rcgc_decref(rt, fs);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 1);
    CHECK_EQ(s[2].uncollectable, 3);
    CHECK_EQ(t_as(l)->nlegacy, 0);
    CHECK_EQ(fc.calls, 1);
    CHECK_EQ(rcgc_gc_garbage_size(rt), 1);
    CHECK_EQ(t_live_objects(rt), 1); /* fs was finalized and freed */
    t_clean_garbage(rt);
    t_finish(rt);
}

/* test_gc.py test_saveall; spec §9.1 item 12, §3.8: under DEBUG_SAVEALL a
 * list self-cycle is saved instead of cleared: collect() -> 1 (still counted
 * as collected), gc.garbage == [l] with l intact.  With SAVEALL off and the
 * garbage list cleared the cycle is found again -> 1 (python3: 1, [l], 1). */
TEST(saveall_keeps_collectable_cycle)
{
    rcgc_runtime *rt = t_runtime();
    CHECK_EQ(rcgc_gc_garbage_size(rt), 0);
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    rcgc_object *l = t_self_cycle(rt, &t_node_type, 1);
    rcgc_decref(rt, l);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 1);
    CHECK_EQ(s[2].uncollectable, 0);
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 1);
    CHECK(g[0] == l);
    rcgc_objects_free(rt, g, n);
    CHECK_EQ(t_as(l)->n, 1);
    CHECK(rcgc_object_is_tracked(l));
    rcgc_gc_set_debug(rt, 0);
    rcgc_gc_garbage_clear(rt);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.0 step 17, §3.8: under SAVEALL every uncollectable object goes to
 * gc.garbage, not only the tp_del ones: L <-> N -> 2 (stats +0/+2),
 * gc.garbage == [L, N] (python3: 2, (0, 2), ['L', 'N']). */
TEST(saveall_saves_whole_uncollectable_set)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    rcgc_object *l = t_new(rt, &t_lnode_type, 1), *b = t_node(rt, 2);
    t_link2(rt, l, b);
    rcgc_decref(rt, l);
    rcgc_decref(rt, b);
    rcgc_gc_stats s[3];
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, 0);
    CHECK_EQ(s[2].uncollectable, 2);
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 2);
    CHECK(g[0] == l);
    CHECK(g[1] == b);
    rcgc_objects_free(rt, g, n);
    rcgc_gc_set_debug(rt, 0);
    t_clean_garbage(rt);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* Spec §2.11 (SAVEALL saves the final set in list order): a <-> b plus
 * a -> c -> 3, gc.garbage holds a, b, c in that order, none cleared
 * (python3: 3, item counts [2, 1, 0]). */
TEST(saveall_saves_in_list_order)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_gc_set_debug(rt, RCGC_DEBUG_SAVEALL);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2), *c = t_node(rt, 3);
    t_link2(rt, a, b);
    t_append(rt, a, c);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    rcgc_object **g = NULL;
    rcgc_ssize n = rcgc_gc_get_garbage(rt, &g);
    REQUIRE(n == 3);
    CHECK(g[0] == a && g[1] == b && g[2] == c);
    CHECK_EQ(t_as(g[0])->n, 2);
    CHECK_EQ(t_as(g[1])->n, 1);
    CHECK_EQ(t_as(g[2])->n, 0);
    rcgc_objects_free(rt, g, n);
    rcgc_gc_set_debug(rt, 0);
    t_clean_garbage(rt);
    CHECK_EQ(t_live_objects(rt), 0);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* lazily untracked tuples and dicts                                         */

/* Spec §1.4, §8 (e) ("tuple(...) built at run time: tracked until a
 * collection examines it"): a tuple of two ints is tracked, and untracked by
 * the first collection, even a young one (python3: True, then False). */
TEST(tuple_of_atoms_untracked_by_young_collection)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *t = t_new(rt, &t_tuple_type, 1);
    t_append_steal(rt, t, t_leaf(rt, 10));
    t_append_steal(rt, t, t_leaf(rt, 11));
    CHECK(rcgc_object_is_tracked(t));
    CHECK(rcgc_may_be_tracked(t));
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK(!rcgc_object_is_tracked(t));
    CHECK(!rcgc_may_be_tracked(t));
    rcgc_decref(rt, t);
    t_finish(rt);
}

/* Spec §1.4 ("nested tuples may need several collections, inner ones
 * first") with the order move_unreachable leaves behind: an inner tuple held
 * only by the outer one is re-queued after it, so each collection untracks
 * one level.  tuple([tuple([x])]) under collect(2): (T,T) -> (T,F) -> (F,F);
 * three levels: (T,T,T) (T,T,F) (T,F,F) (F,F,F); under collect(0),
 * collect(0), collect(1): (T,F) (T,F) (F,F) -- the outer tuple waits in
 * generation 1 (python3: exactly these). */
TEST(nested_tuples_untracked_one_level_per_collection)
{
    rcgc_runtime *rt = t_runtime();
    /* two levels, full collections */
    rcgc_object *inner = t_new(rt, &t_tuple_type, 1);
    t_append_steal(rt, inner, t_leaf(rt, 0));
    rcgc_object *outer = t_new(rt, &t_tuple_type, 2);
    t_append_steal(rt, outer, inner);
    CHECK(rcgc_object_is_tracked(outer) && rcgc_object_is_tracked(inner));
    rcgc_gc_collect(rt, 2);
    CHECK(rcgc_object_is_tracked(outer));
    CHECK(!rcgc_object_is_tracked(inner));
    rcgc_gc_collect(rt, 2);
    CHECK(!rcgc_object_is_tracked(outer));
    rcgc_decref(rt, outer);

    /* three levels */
    rcgc_object *t3 = t_new(rt, &t_tuple_type, 3);
    t_append_steal(rt, t3, t_leaf(rt, 0));
    rcgc_object *t2 = t_new(rt, &t_tuple_type, 2);
    t_append_steal(rt, t2, t3);
    rcgc_object *t1 = t_new(rt, &t_tuple_type, 1);
    t_append_steal(rt, t1, t2);
    static const int want[4][3] = {{1, 1, 1}, {1, 1, 0}, {1, 0, 0}, {0, 0, 0}};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(rcgc_object_is_tracked(t1), want[i][0]);
        CHECK_EQ(rcgc_object_is_tracked(t2), want[i][1]);
        CHECK_EQ(rcgc_object_is_tracked(t3), want[i][2]);
        rcgc_gc_collect(rt, 2);
    }
    rcgc_decref(rt, t1);

    /* two levels, collect(0), collect(0), collect(1) */
    inner = t_new(rt, &t_tuple_type, 1);
    t_append_steal(rt, inner, t_leaf(rt, 0));
    outer = t_new(rt, &t_tuple_type, 2);
    t_append_steal(rt, outer, inner);
    static const int gens[3] = {0, 0, 1};
    static const int want2[3][2] = {{1, 0}, {1, 0}, {0, 0}};
    for (int i = 0; i < 3; i++) {
        rcgc_gc_collect(rt, gens[i]);
        CHECK_EQ(rcgc_object_is_tracked(outer), want2[i][0]);
        CHECK_EQ(rcgc_object_is_tracked(inner), want2[i][1]);
    }
    rcgc_decref(rt, outer);
    t_finish(rt);
}

/* Spec §1.4 (an item "may be tracked" if it is a GC object and not an
 * untracked tuple): a tuple holding a tracked list stays tracked; a tuple
 * holding an (untracked) dict stays tracked too (python3: True; True and
 * the dict untracked). */
TEST(tuple_with_container_stays_tracked)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *t = t_new(rt, &t_tuple_type, 1);
    t_append_steal(rt, t, t_node(rt, 2));
    rcgc_object *d = rcgc_object_new(rt, &t_dict_type); /* {} untracked */
    REQUIRE(d != NULL);
    rcgc_object *t2 = t_new(rt, &t_tuple_type, 3);
    t_append_steal(rt, t2, d);
    CHECK(rcgc_may_be_tracked(d));
    rcgc_gc_collect(rt, 2);
    rcgc_gc_collect(rt, 2);
    CHECK(rcgc_object_is_tracked(t));
    CHECK(rcgc_object_is_tracked(t2));
    CHECK(!rcgc_object_is_tracked(d));
    rcgc_decref(rt, t);
    rcgc_decref(rt, t2);
    t_finish(rt);
}

/* Spec §1.4 ("dict that was given a tracked value and later lost it stays
 * tracked until the next full collection"): d[1] = []; del d[1]: tracked
 * after collect(0) and collect(1), untracked by collect(2) (python3: True,
 * True, True, False).  A dict still holding a list stays tracked. */
TEST(dict_untracked_only_by_full_collection)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = t_new(rt, &t_dict_type, 1);
    rcgc_object *l = t_node(rt, 2);
    t_append(rt, d, l);
    t_remove(rt, d, l);
    CHECK(rcgc_object_is_tracked(d));
    rcgc_object *d2 = t_new(rt, &t_dict_type, 3);
    t_append(rt, d2, l);
    rcgc_gc_collect(rt, 0);
    CHECK(rcgc_object_is_tracked(d));
    rcgc_gc_collect(rt, 1);
    CHECK(rcgc_object_is_tracked(d));
    rcgc_gc_collect(rt, 2);
    CHECK(!rcgc_object_is_tracked(d));
    CHECK(rcgc_object_is_tracked(d2));
    CHECK(rcgc_may_be_tracked(d)); /* a dict may be tracked again */
    rcgc_decref(rt, d);
    rcgc_decref(rt, d2);
    rcgc_decref(rt, l);
    t_finish(rt);
}

/* Spec §2.0 steps 5-6 (untrack_tuples runs on the whole survivor list
 * before untrack_dicts): d = {}; d[1] = []; d[1] = tuple([x]).  One full
 * collection untracks the tuple, and then the dict, whose only value is now
 * an untracked tuple (python3: (False, False) after one gc.collect()). */
TEST(dict_and_its_tuple_untracked_in_same_full_collection)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *d = t_new(rt, &t_dict_type, 1);
    rcgc_object *t = t_new(rt, &t_tuple_type, 2);
    t_append_steal(rt, t, t_leaf(rt, 3));
    t_append_steal(rt, d, t);
    CHECK(rcgc_object_is_tracked(d) && rcgc_object_is_tracked(t));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK(!rcgc_object_is_tracked(t));
    CHECK(!rcgc_object_is_tracked(d));
    rcgc_decref(rt, d);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* deep structures                                                           */

/* Spec §8 (f), §10.7 ("build a 10^6-deep chain and free it"): a ring of
 * 10^6 nodes is one cycle -> collect() returns 1 000 000 and frees them all
 * without exhausting the stack (python3: 1000000). */
TEST(million_ring_collected_as_garbage)
{
    rcgc_runtime *rt = t_runtime();
    const long n = t_scale(1000000);
    rcgc_object *first = t_node(rt, 0), *prev = first;
    REQUIRE(first != NULL);
    for (long i = 1; i < n; i++) {
        rcgc_object *x = t_node(rt, (int)i);
        REQUIRE(x != NULL);
        t_append_steal(rt, prev, x);
        prev = x;
    }
    t_append(rt, prev, first);
    rcgc_decref(rt, first);
    CHECK_EQ(t_live_objects(rt), n);
    CHECK_EQ(rcgc_gc_collect(rt, 2), n);
    CHECK_EQ(t_live_objects(rt), 0);
    rcgc_gc_stats s[3];
    rcgc_gc_get_stats(rt, s);
    CHECK_EQ(s[2].collected, n);
    t_finish(rt);
}

/* Spec §8 (f) (alive chain: nothing found, first and later collections):
 * a 10^6 chain held by its head -> 0 and 0 again; then it dies by reference
 * counting (python3: 0, 0; freed with nothing left for gc.collect()). */
TEST(million_chain_alive_not_collected)
{
    rcgc_runtime *rt = t_runtime();
    const long n = t_scale(1000000);
    rcgc_object *first = t_node(rt, 0), *prev = first;
    REQUIRE(first != NULL);
    for (long i = 1; i < n; i++) {
        rcgc_object *x = t_node(rt, (int)i);
        REQUIRE(x != NULL);
        t_append_steal(rt, prev, x);
        prev = x;
    }
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    CHECK_EQ(t_live_objects(rt), n);
    rcgc_decref(rt, first);
    CHECK_EQ(t_live_objects(rt), 0);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 0);
    t_finish(rt);
}

/* ------------------------------------------------------------------------ */
/* debug output                                                              */

struct capture {
    FILE *f;
    char *buf;
    size_t len;
};

static rcgc_runtime *capture_runtime(struct capture *cap, unsigned debug)
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.debug = debug;
    cap->buf = NULL;
    cap->len = 0;
    cap->f = open_memstream(&cap->buf, &cap->len);
    cfg.debug_stream = cap->f;
    return t_runtime_cfg(&cfg);
}

/* Copy what was written so far (caller frees). */
static char *capture_text(struct capture *cap)
{
    fflush(cap->f);
    char *s = malloc(cap->len + 1);
    if (s == NULL) return NULL;
    memcpy(s, cap->buf, cap->len);
    s[cap->len] = '\0';
    return s;
}

static void capture_close(struct capture *cap)
{
    fclose(cap->f);
    free(cap->buf);
}

/* s must start with prefix and continue with "<digits>.<4 digits>s
 * elapsed\n" and nothing else. */
static int matches_done_line(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0) return 0;
    s += n;
    if (!(*s >= '0' && *s <= '9')) return 0;
    while (*s >= '0' && *s <= '9') s++;
    if (*s++ != '.') return 0;
    for (int i = 0; i < 4; i++, s++)
        if (!(*s >= '0' && *s <= '9')) return 0;
    return strcmp(s, "s elapsed\n") == 0;
}

/* Spec §3.8, Appendix B, §2.0 steps 1, 9, 15, 16 (format and order checked
 * on python3 with STATS|COLLECTABLE|UNCOLLECTABLE: header, per-generation
 * counts taken before the merge, permanent count, one "collectable" line per
 * unreachable object in creation order, "uncollectable" lines, then "done"
 * with unreachable = collected + uncollectable). */
TEST(debug_stats_collectable_uncollectable_format)
{
    struct capture cap;
    rcgc_runtime *rt = capture_runtime(&cap, 0);
    REQUIRE(rt != NULL && cap.f != NULL);
    rcgc_object *frozen = t_node(rt, 10);
    rcgc_gc_freeze(rt);
    rcgc_object *old = t_node(rt, 11);
    rcgc_gc_collect(rt, 2);
    rcgc_object *mid = t_node(rt, 12);
    rcgc_gc_collect(rt, 0);
    rcgc_gc_set_debug(rt, RCGC_DEBUG_STATS | RCGC_DEBUG_COLLECTABLE |
                              RCGC_DEBUG_UNCOLLECTABLE);
    CHECK_EQ(rcgc_gc_get_debug(rt), 7);
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_object *l = t_self_cycle(rt, &t_lnode_type, 3);
    char expect[1024];
    snprintf(expect, sizeof expect,
             "gc: collecting generation 2...\n"
             "gc: objects in each generation: 3 1 1\n"
             "gc: objects in permanent generation: 1\n"
             "gc: collectable <node %p>\n"
             "gc: collectable <node %p>\n"
             "gc: uncollectable <lnode %p>\n",
             (void *)a, (void *)b, (void *)l);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, l);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    char *out = capture_text(&cap);
    REQUIRE(out != NULL);
    size_t n = strlen(expect);
    CHECK(strncmp(out, expect, n) == 0);
    CHECK(matches_done_line(out + (strlen(out) >= n ? n : strlen(out)),
                            "gc: done, 3 unreachable, 1 uncollectable, "));
    if (t_failures) fprintf(stderr, "captured:\n%s", out);
    free(out);

    /* a young collection announces its generation */
    size_t before = cap.len;
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    out = capture_text(&cap);
    REQUIRE(out != NULL);
    /* survivors old, mid and the uncollectable l are all in generation 2 */
    const char *hdr = "gc: collecting generation 0...\n"
                      "gc: objects in each generation: 0 0 3\n"
                      "gc: objects in permanent generation: 1\n";
    CHECK(strncmp(out + before, hdr, strlen(hdr)) == 0);
    CHECK(strstr(out + before, "gc: done, 0 unreachable, 0 uncollectable, ") !=
          NULL);
    free(out);

    rcgc_gc_set_debug(rt, 0);
    t_clean_garbage(rt);
    rcgc_decref(rt, frozen);
    rcgc_decref(rt, old);
    rcgc_decref(rt, mid);
    t_finish(rt);
    capture_close(&cap);
}

/* Spec §3.8 (python3: with DEBUG_COLLECTABLE alone a tp_del cycle prints
 * nothing; with DEBUG_UNCOLLECTABLE alone only "gc: uncollectable <L ...>"
 * is printed, not the collectable plain cycle; with no flag, nothing). */
TEST(debug_flags_print_only_their_lines)
{
    struct capture cap;
    rcgc_runtime *rt = capture_runtime(&cap, RCGC_DEBUG_COLLECTABLE);
    REQUIRE(rt != NULL && cap.f != NULL);
    rcgc_decref(rt, t_self_cycle(rt, &t_lnode_type, 1));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    char *out = capture_text(&cap);
    REQUIRE(out != NULL);
    CHECK_STR(out, "");
    free(out);
    t_clean_garbage(rt);

    rcgc_gc_set_debug(rt, RCGC_DEBUG_UNCOLLECTABLE);
    rcgc_object *l = t_self_cycle(rt, &t_lnode_type, 2);
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 3));
    char expect[128];
    snprintf(expect, sizeof expect, "gc: uncollectable <lnode %p>\n", (void *)l);
    rcgc_decref(rt, l);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    out = capture_text(&cap);
    REQUIRE(out != NULL);
    CHECK_STR(out, expect);
    free(out);
    t_clean_garbage(rt);

    rcgc_gc_set_debug(rt, 0);
    size_t before = cap.len;
    rcgc_decref(rt, t_self_cycle(rt, &t_node_type, 4));
    rcgc_decref(rt, t_self_cycle(rt, &t_lnode_type, 5));
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    fflush(cap.f);
    CHECK_EQ(cap.len, before);
    t_clean_garbage(rt);
    t_finish(rt);
    capture_close(&cap);
}

TEST_MAIN(T(legacy_finalizer_cycle_goes_to_garbage),
          T(legacy_uncollectable_recounted_after_garbage_clear),
          T(legacy_reachable_set_uncollectable),
          T(garbage_pointing_into_legacy_set), T(legacy_set_is_not_finalized),
          T(saveall_keeps_collectable_cycle),
          T(saveall_saves_whole_uncollectable_set),
          T(saveall_saves_in_list_order),
          T(tuple_of_atoms_untracked_by_young_collection),
          T(nested_tuples_untracked_one_level_per_collection),
          T(tuple_with_container_stays_tracked),
          T(dict_untracked_only_by_full_collection),
          T(dict_and_its_tuple_untracked_in_same_full_collection),
          T(million_ring_collected_as_garbage),
          T(million_chain_alive_not_collected),
          T(debug_stats_collectable_uncollectable_format),
          T(debug_flags_print_only_their_lines))

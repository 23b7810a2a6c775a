/*
 * check.c - the collector's invariant checker (Lua's lua_checkmemory, for
 * rcgc).  It walks every list the runtime owns and verifies, node by node,
 * the invariants of docs/layout.md; the first violation is described on the
 * debug stream.  Walks are bounded by the tracked count, so a corrupt list
 * that loops is reported rather than followed forever.
 */
#include <string.h>

#include "core/internal.h"

static int violation(rcgc_runtime *rt, const char *list, const gc_head *g,
                     const char *what)
{
    FILE *f = rt->debug_stream;
    fprintf(f, "rcgc: invariant violated in list '%s' at node %p: %s\n", list,
            (const void *)g, what);
    if (g != NULL) rcgc__dump_object(f, gc_object_of(g));
    return RCGC_ECORRUPT;
}

/* What every tracked object (g's) satisfies between a collection's
 * phases, listed or vectored. */
static int check_tracked_object(rcgc_runtime *rt, const char *name,
                                const gc_head *g)
{
    const rcgc_object *o = gc_object_of(g);
    if (o->type == NULL || !gc_is_gc(o))
        return violation(rt, name, g, "tracked object of a non-GC type");
    if (gc_rc_word_is_member(o->refcnt))
        return violation(rt, name, g,
                         "reference count still borrowed by a "
                         "collection (member bit set)");
    if (o->refcnt <= 0)
        return violation(rt, name, g,
                         "tracked object with a non-positive refcount");
    return 0;
}

/* The live entries of the young vector k (docs/layout-16.md, step 3a):
 * each a tracked object as check_tracked_object says; their number in *n.
 * Every entry must be a granule of a pool with its IN_VEC bit (the side
 * checks below compare the rest). */
static int check_vector(rcgc_runtime *rt, int k, rcgc_ssize *n)
{
    static const char *const names[2] = {"vec[0]", "vec[1]"};
    const struct rcgc__vec *v = &rt->vec[k];
    *n = 0;
    if (v->len < 0 || v->len > v->cap || (v->len > 0 && v->v == NULL))
        return violation(rt, names[k], NULL, "length out of range");
    if (v->len > 0 && rt->heap.pm == NULL)
        return violation(rt, names[k], NULL, "entries without a pool allocator");
    for (rcgc_ssize i = 0; i < v->len; i++) {
        const gc_head *g = v->v[i];
        const uint8_t *s = gc_side_lookup(rt->heap.pm, g);
        if (s == NULL || !gc_side_in_vec(*s, k))
            return violation(rt, names[k], NULL,
                             "an entry whose side byte lacks the vector's "
                             "IN_VEC bit (or is in no pool)");
        if (!rcgc__vec_live(g, k)) continue; /* stale */
        if (check_tracked_object(rt, names[k], g) != 0) return RCGC_ECORRUPT;
        (*n)++;
    }
    return 0;
}

/* Check one doubly linked list; expect_collecting says whether every node
 * must carry COLLECTING (a collection's private lists) or none may. */
int rcgc__check_list(rcgc_runtime *rt, const gc_head *list, const char *name,
                     int expect_collecting)
{
    if (gc_head_has_flags(list))
        return violation(rt, name, NULL, "flag bits on the list head");
    rcgc_ssize limit = rt->tracked + 1, n = 0;
    const gc_head *prev = list;
    for (const gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        if (++n > limit)
            return violation(rt, name, NULL,
                             "longer than the number of tracked objects "
                             "(the links form a loop)");
        if (g == NULL || !gc_is_tracked(g))
            return violation(rt, name, g, "untracked node in a list");
        if (gc_is_next_unreachable(g))
            return violation(rt, name, g, "NEXT_UNREACHABLE left set");
        if (gc_prev(g) != prev)
            return violation(rt, name, g, "prev link does not match");
        if (gc_is_collecting(g) != expect_collecting)
            return violation(rt, name, g,
                             expect_collecting ? "COLLECTING missing"
                                               : "COLLECTING left set");
        if (check_tracked_object(rt, name, g) != 0) return RCGC_ECORRUPT;
        prev = g;
    }
    if (gc_prev(list) != prev)
        return violation(rt, name, NULL, "head's prev is not the last node");
    return 0;
}

/* ---- the side bytes against the lists (docs/layout-16.md, step 2) ---- */

typedef struct side_count {
    rcgc_runtime *rt;
    rcgc_ssize listed[GC_GEN_FROZEN + 1];  /* pool objects on each list */
    rcgc_ssize tracked[GC_GEN_FROZEN + 1]; /* TRACKED bytes per generation */
    rcgc_ssize registry;                    /* registry objects listed */
    rcgc_ssize invec[2];                    /* bytes with IN_VEC0, IN_VEC1 */
    rcgc_ssize vectored[2];                 /* vectored objects by byte */
    rcgc_ssize live[2];                     /* live entries of vec[0], vec[1] */
} side_count;

/* Every node of list (generation gen): a registry object, or a pool object
 * whose side byte says TRACKED, generation gen, and FINALIZED as prev
 * does. */
static int check_side_list(side_count *c, const gc_head *list, int gen,
                           const char *name)
{
    rcgc_runtime *rt = c->rt;
    for (const gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        /* the truth, by the allocator: its type fits and its block's start
         * is a pool block (rcgc__side_odd); then the fast decision the
         * updates take must agree */
        const uint8_t *side =
            rcgc__type_fits_pool(gc_object_of(g)->type) ? rcgc__side_odd(rt, g)
                                                         : NULL;
        if (side == NULL && rt->gc_registry != 0 && rcgc__side_of(rt, g) != NULL)
            return violation(rt, name, g,
                             "registry object that the runtime's counts "
                             "(odd_blocks) take for a pool object");
        if (side == NULL) {
            if (rt->gc_registry == 0)
                return violation(rt, name, g,
                                 "registry object (no pool block) while the "
                                 "runtime counts none");
            c->registry++;
            continue;
        }
        uint8_t b = *side;
        if (!gc_side_is_tracked(b))
            return violation(rt, name, g, "listed, but its side byte has no "
                                          "TRACKED bit");
        if (gc_side_gen(b) != gen)
            return violation(rt, name, g, "its side byte names another "
                                          "generation");
        if (gc_side_is_finalized(b) != gc_is_finalized(g))
            return violation(rt, name, g, "FINALIZED differs between the side "
                                          "byte and the header");
        c->listed[gen]++;
    }
    return 0;
}

static int side_byte_seen(void *arg, const void *granule, uint8_t b,
                          int allocated)
{
    side_count *c = arg;
    rcgc_runtime *rt = c->rt;
    const gc_head *g = granule;
    for (int k = 0; k < 2; k++) c->invec[k] += gc_side_in_vec(b, k);
    if (!allocated && gc_side_only_vec_bits(b))
        return 0; /* a stale entry's granule: its bits stay until consumed */
    if (!allocated) {
        fprintf(rt->debug_stream,
                "rcgc: invariant violated: side byte %#x of %p, a granule in "
                "no block in use (a free slot keeps no bit)\n",
                (unsigned)b, granule);
        return RCGC_ECORRUPT;
    }
    if (gc_side_reserved(b))
        return violation(rt, "side bytes", g, "a reserved side bit is set");
    if (!gc_side_is_tracked(b)) {
        if (gc_side_gen(b) != 0)
            return violation(rt, "side bytes", g,
                             "untracked side byte with a generation");
        if (gc_side_is_finalized(b) && (!gc_is_finalized(g) || gc_is_tracked(g)))
            return violation(rt, "side bytes", g,
                             "FINALIZED in the side byte of an object that is "
                             "tracked or not finalized");
        return 0;
    }
    int gen = gc_side_gen(b);
    c->tracked[gen]++;
    if (gc_is_vectored(g)) {
        if (gen >= RCGC__VEC_GENS)
            return violation(rt, "side bytes", g,
                             "vectored object of a generation that has no "
                             "vector");
        if (!gc_side_in_vec(b, gen))
            return violation(rt, "side bytes", g,
                             "vectored object without its generation's "
                             "IN_VEC bit (its vector does not hold it)");
        if (gc_side_is_finalized(b) != gc_is_finalized(g))
            return violation(rt, "side bytes", g,
                             "FINALIZED differs between the side byte and "
                             "the header of a vectored object");
        c->vectored[gen]++;
    }
    return 0;
}

/* The young vectors: every entry a pool granule whose byte has the
 * vector's IN_VEC bit, as many entries as such bytes (so each once), and
 * each pool pinned once per entry in it (the pins are taken off entry by
 * entry, must then all be 0, and are put back: nothing is allocated). */
static int check_vectors(rcgc_runtime *rt, const side_count *c)
{
    rcgc_ssize done[2] = {0, 0};
    int bad = 0;
    const char *what = NULL;
    for (int k = 0; k < 2 && !bad; k++) {
        const struct rcgc__vec *v = &rt->vec[k];
        if (v->len < 0 || v->len > v->cap) {
            what = "a young vector's length is out of range";
            bad = 1;
            break;
        }
        for (rcgc_ssize i = 0; i < v->len; i++) {
            const uint8_t *s = gc_side_lookup(rt->heap.pm, v->v[i]);
            if (s == NULL || !gc_side_in_vec(*s, k)) {
                what = "a young vector's entry whose side byte lacks its IN_VEC "
                       "bit (or is in no pool)";
                bad = 1;
                break;
            }
            if (rcgc__pm_pins(v->v[i]) == 0) {
                what = "a young vector's entry in a pool with no pin left "
                       "(fewer pins than entries)";
                bad = 1;
                break;
            }
            rcgc__pm_set_pins(v->v[i], rcgc__pm_pins(v->v[i]) - 1);
            done[k]++;
        }
    }
    if (!bad && rcgc__pm_pins_total(rt->heap.pm) != 0) {
        what = "a pool pinned more often than young vector entries point "
               "into it";
        bad = 1;
    }
    for (int k = 0; k < 2; k++)
        for (rcgc_ssize i = 0; i < done[k]; i++) rcgc__pm_pin(rt->vec[k].v[i]);
    if (!bad) {
        for (int k = 0; k < 2; k++)
            if (c->vectored[k] != c->live[k]) {
                fprintf(rt->debug_stream,
                        "rcgc: invariant violated: %td vectored objects of "
                        "generation %d, %td live entries in vec[%d]\n",
                        c->vectored[k], k, c->live[k], k);
                return RCGC_ECORRUPT;
            }
        for (int k = 0; k < 2; k++)
            if (c->invec[k] != rt->vec[k].len) {
                fprintf(rt->debug_stream,
                        "rcgc: invariant violated: %td side bytes with IN_VEC%d, "
                        "%td entries in vec[%d] (an entry twice, or a bit "
                        "without its entry)\n",
                        c->invec[k], k, rt->vec[k].len, k);
                return RCGC_ECORRUPT;
            }
        return 0;
    }
    fprintf(rt->debug_stream, "rcgc: invariant violated: %s\n", what);
    return RCGC_ECORRUPT;
}

/* The side bytes and the lists say the same (lists complete: between
 * collections). */
static int check_side_bytes(rcgc_runtime *rt, const rcgc_ssize live[2])
{
    static const char *const names[GC_GEN_FROZEN + 1] = {
        "generation 0", "generation 1", "generation 2", "permanent"};
    side_count c;
    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.live[0] = live[0];
    c.live[1] = live[1];
    for (int i = 0; i <= GC_GEN_FROZEN; i++) {
        const gc_head *list =
            i < RCGC_NUM_GENERATIONS ? &rt->gen[i].head : &rt->permanent;
        if (check_side_list(&c, list, i, names[i]) != 0) return RCGC_ECORRUPT;
    }
    if (c.registry > rt->gc_registry) {
        fprintf(rt->debug_stream,
                "rcgc: invariant violated: %td registry objects listed, the "
                "runtime counts %td\n", c.registry, rt->gc_registry);
        return RCGC_ECORRUPT;
    }
    if (rt->heap.pm != NULL &&
        (rcgc__pm_side_walk(rt->heap.pm, side_byte_seen, &c) != 0 ||
         check_vectors(rt, &c) != 0))
        return RCGC_ECORRUPT;
    rcgc_ssize pool = 0;
    for (int i = 0; i <= GC_GEN_FROZEN; i++) {
        rcgc_ssize held = c.listed[i] + (i < 2 ? c.live[i] : 0);
        if (c.tracked[i] != held) {
            fprintf(rt->debug_stream,
                    "rcgc: invariant violated: %td side bytes say TRACKED in "
                    "%s, %td pool objects are on its list or in its vector\n",
                    c.tracked[i], names[i], held);
            return RCGC_ECORRUPT;
        }
        pool += c.tracked[i];
    }
    if (pool + c.registry != rt->tracked) {
        fprintf(rt->debug_stream,
                "rcgc: invariant violated: %td TRACKED side bytes + %td "
                "registry objects != %td tracked\n",
                pool, c.registry, rt->tracked);
        return RCGC_ECORRUPT;
    }
    return 0;
}

int rcgc__check_all(rcgc_runtime *rt, int lists_complete)
{
    static const char *const names[RCGC_NUM_GENERATIONS] = {
        "generation 0", "generation 1", "generation 2"};
    rcgc_ssize total = 0;
    for (int i = 0; i < RCGC_NUM_GENERATIONS; i++) {
        if (rcgc__check_list(rt, &rt->gen[i].head, names[i], 0) != 0)
            return RCGC_ECORRUPT;
        if (rt->gen[i].count < 0 || rt->gen[i].threshold < 0)
            return violation(rt, names[i], NULL, "negative count or threshold");
        total += gc_list_size(&rt->gen[i].head);
    }
    if (rcgc__check_list(rt, &rt->permanent, "permanent", 0) != 0)
        return RCGC_ECORRUPT;
    total += gc_list_size(&rt->permanent);
    rcgc_ssize live[2];
    for (int k = 0; k < 2; k++) {
        if (check_vector(rt, k, &live[k]) != 0) return RCGC_ECORRUPT;
        total += live[k];
    }
    /* The side bytes first: they say more precisely what is wrong. */
    if (lists_complete && check_side_bytes(rt, live) != 0) return RCGC_ECORRUPT;
    /* Outside a collection's phases every tracked object is in one of those
     * lists or vectors (during them, some sit in the collection's private
     * lists). */
    if (lists_complete && total != rt->tracked) {
        fprintf(rt->debug_stream,
                "rcgc: invariant violated: %td objects in the generation "
                "lists and young vectors, %td tracked\n",
                total, rt->tracked);
        return RCGC_ECORRUPT;
    }
    for (rcgc_ssize i = 0; i < rt->ngarbage; i++)
        if (rt->garbage[i]->refcnt <= 0)
            return violation(rt, "garbage", NULL, "dead object in the list");
    if (rt->long_lived_pending < 0 || rt->long_lived_total < 0)
        return violation(rt, "long-lived counts", NULL, "negative");
    return 0;
}

int rcgc_gc_check(rcgc_runtime *rt)
{
    return rcgc__check_all(rt, !rt->collecting);
}

/* ---- every object the runtime can find, for the other checkers ---- */

static int walk_list(rcgc_runtime *rt, gc_head *list, rcgc__object_fn fn,
                     void *arg)
{
    for (gc_head *g = gc_next(list); g != list; g = gc_next(g)) {
        int r = fn(rt, gc_object_of(g), arg);
        if (r != 0) return r;
    }
    return 0;
}

int rcgc__for_each_object(rcgc_runtime *rt, rcgc__object_fn fn, void *arg)
{
    int r = 0;
    if (RCGC_DEBUG >= 1) {
        /* Every live object, tracked or not; deposited ones (in the
         * trashcan, refcount 0) are on their way out and skipped. */
        for (debug_head *d = rt->all.next; d != &rt->all && r == 0; d = d->next)
            if (d->magic == RCGC__MAGIC_ALIVE) r = fn(rt, debug_object_of(d), arg);
        return r;
    }
    for (int i = 0; i < RCGC_NUM_GENERATIONS && r == 0; i++)
        r = walk_list(rt, &rt->gen[i].head, fn, arg);
    for (int k = 0; k < 2; k++) /* the vectored objects (fn frees nothing) */
        for (rcgc_ssize i = 0; i < rt->vec[k].len && r == 0; i++)
            if (rcgc__vec_live(rt->vec[k].v[i], k))
                r = fn(rt, gc_object_of(rt->vec[k].v[i]), arg);
    if (r == 0) r = walk_list(rt, &rt->permanent, fn, arg);
    for (rcgc_ssize i = 0; i < rt->nimmortal && r == 0; i++)
        r = fn(rt, rt->immortal[i], arg);
    return r;
}

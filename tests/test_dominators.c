/*
 * test_dominators.c - what holds the memory (rcgc_diag.h): rcgc_sizeof and
 * the extra_size hook; the dominator tree and retained sizes checked
 * against the definition (X dominates Y when removing X leaves Y
 * unreachable from the roots; X retains what removing it frees) on
 * thousands of random graphs with cycles, self-loops, shared children and
 * several roots; retained sizes by type against their definition (Chrome's:
 * the instances no other instance dominates); the top retainers' order; deep chains;
 * unreachable garbage counted apart; the writers; V8 heap snapshots (their
 * structure; memlab's check is tests/heapsnapshot); the headers restored
 * bit for bit; the errors and out of memory at every allocation.
 */
#define _POSIX_C_SOURCE 200809L /* symlink, lstat */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/gchead.h" /* to compare header words bit for bit */
#include "json_check.h"
#include "rcgc_diag.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Random graphs and the definition                                          */

#define MAXN 48

struct graph {
    int n;
    uint64_t adj[MAXN];   /* adj[i] bit j: i refers to j */
    uint64_t roots;       /* held by the test */
    int type[MAXN];       /* 0 node, 1 fnode, 2 wnode */
    rcgc_object *obj[MAXN];
    uint64_t alive;       /* survives the test dropping the others */
};

static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* What a start set reaches, never through (nor into) the nodes of cut. */
static uint64_t reach(const struct graph *g, uint64_t start, uint64_t cut)
{
    uint64_t seen = start & ~cut, todo = seen;
    while (todo) {
        int i = __builtin_ctzll(todo);
        todo &= todo - 1;
        uint64_t next = g->adj[i] & ~seen & ~cut;
        seen |= next;
        todo |= next;
    }
    return seen;
}

static const rcgc_type *const gtypes[3] = {&t_node_type, &t_fnode_type,
                                           &t_wnode_type};

/* Build g in rt: random edges (density varies), random roots; the
 * non-roots' own references are dropped, so what survives is what the roots
 * or a cycle reach. */
static void build(rcgc_runtime *rt, struct graph *g, int n)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    int density = 1 + (int)(rnd() % 4);
    for (int i = 0; i < n; i++) {
        g->type[i] = (int)(rnd() % 3);
        g->obj[i] = t_new(rt, gtypes[g->type[i]], i);
    }
    for (int i = 0; i < n; i++) {
        int k = (int)(rnd() % (unsigned)(density + 1));
        for (int e = 0; e < k; e++) {
            int j = (int)(rnd() % (unsigned)n);
            if (rnd() % 16 == 0) j = i; /* self-loop */
            /* a second reference to the same child is an extra edge */
            t_append(rt, g->obj[i], g->obj[j]);
            g->adj[i] |= 1ull << j;
        }
    }
    int nroots = 1 + (int)(rnd() % 3);
    for (int r = 0; r < nroots; r++) g->roots |= 1ull << (rnd() % (unsigned)n);
    uint64_t on_cycle = 0;
    for (int i = 0; i < n; i++)
        if (reach(g, g->adj[i], 0) & (1ull << i)) on_cycle |= 1ull << i;
    g->alive = reach(g, g->roots | on_cycle, 0);
    for (int i = 0; i < n; i++)
        if (!(g->roots & (1ull << i))) rcgc_decref(rt, g->obj[i]);
    for (int i = 0; i < n; i++)
        if (!(g->alive & (1ull << i))) g->obj[i] = NULL;
}

static void drop(rcgc_runtime *rt, struct graph *g)
{
    for (int i = 0; i < g->n; i++)
        if (g->roots & (1ull << i)) rcgc_decref(rt, g->obj[i]);
    rcgc_gc_collect(rt, 2);
}

static int node_of(const struct graph *g, const rcgc_object *o)
{
    for (int i = 0; i < g->n; i++)
        if (g->obj[i] == o) return i;
    return -1;
}

static size_t bytes_of(const struct graph *g, uint64_t set)
{
    size_t s = 0;
    for (int i = 0; i < g->n; i++)
        if (set & (1ull << i)) s += rcgc_sizeof(g->obj[i]);
    return s;
}

/* The tree against the definition, for every object. */
static void check_tree(const struct graph *g, const rcgc_diag_domtree *t)
{
    uint64_t reachable = reach(g, g->roots, 0);
    CHECK_EQ(t->n, __builtin_popcountll(reachable));
    CHECK_EQ(t->unreachable, __builtin_popcountll(g->alive & ~reachable));
    CHECK_EQ(t->unreachable_size, bytes_of(g, g->alive & ~reachable));
    CHECK_EQ(t->total_size, bytes_of(g, reachable));
    CHECK_EQ(t->roots, __builtin_popcountll(g->roots));
    int at[MAXN];
    for (rcgc_ssize k = 0; k < t->n; k++) {
        int i = node_of(g, t->objs[k]);
        REQUIRE(i >= 0 && (reachable & (1ull << i)));
        at[i] = (int)k;
        /* a dominator comes first */
        CHECK(t->idom[k] < k);
    }
    for (int x = 0; x < g->n; x++) {
        if (!(reachable & (1ull << x))) continue;
        uint64_t dominated = reachable & ~reach(g, g->roots, 1ull << x);
        rcgc_ssize k = at[x];
        CHECK_EQ(t->retained_size[k], bytes_of(g, dominated));
        CHECK_EQ(t->self_size[k], rcgc_sizeof(g->obj[x]));
        /* x's dominators by the tree: its idom chain */
        uint64_t chain = 0;
        for (rcgc_ssize j = k; j >= 0; j = t->idom[j])
            chain |= 1ull << node_of(g, t->objs[j]);
        uint64_t doms = 0;
        for (int y = 0; y < g->n; y++)
            if ((reachable & (1ull << y)) &&
                !(reach(g, g->roots, 1ull << y) & (1ull << x)))
                doms |= 1ull << y;
        CHECK_EQ(chain, doms);
    }
}

/* The report against the definition: per type, what removing every
 * instance frees; the items, the largest retainers in order. */
static void check_report(const struct graph *g, const rcgc_diag_retainers *r,
                         const rcgc_diag_domtree *t)
{
    uint64_t reachable = reach(g, g->roots, 0);
    CHECK_EQ(r->reachable, t->n);
    CHECK_EQ(r->total_size, t->total_size);
    for (rcgc_ssize i = 0; i < r->ntypes; i++) {
        const rcgc_diag_type_size *ts = &r->types[i];
        uint64_t inst = 0;
        for (int x = 0; x < g->n; x++)
            if ((reachable & (1ull << x)) &&
                strcmp(gtypes[g->type[x]]->name, ts->name) == 0)
                inst |= 1ull << x;
        CHECK_EQ(ts->count, __builtin_popcountll(inst));
        CHECK_EQ(ts->self_size, bytes_of(g, inst));
        /* Chrome's rule: the retained sizes of the instances that no
         * other instance dominates; at most what removing them all frees
         * (instances can jointly hold what none holds alone) */
        size_t top = 0;
        for (int x = 0; x < g->n; x++) {
            if (!(inst & (1ull << x))) continue;
            int covered = 0;
            for (int y = 0; y < g->n && !covered; y++)
                covered = y != x && (inst & (1ull << y)) &&
                          !(reach(g, g->roots, 1ull << y) & (1ull << x));
            if (!covered)
                top += bytes_of(g, reachable & ~reach(g, g->roots, 1ull << x));
        }
        CHECK_EQ(ts->retained_size, top);
        CHECK(ts->retained_size <=
              bytes_of(g, reachable & ~reach(g, g->roots, inst)));
        if (i > 0) CHECK(ts->retained_size <= r->types[i - 1].retained_size);
    }
    /* items: the n largest retained sizes, largest first */
    size_t sizes[MAXN];
    rcgc_ssize m = 0;
    for (rcgc_ssize k = 0; k < t->n; k++) sizes[m++] = t->retained_size[k];
    for (rcgc_ssize i = 0; i < r->n; i++) {
        rcgc_ssize best = i;
        for (rcgc_ssize j = i + 1; j < m; j++)
            if (sizes[j] > sizes[best]) best = j;
        size_t tmp = sizes[i];
        sizes[i] = sizes[best];
        sizes[best] = tmp;
        CHECK_EQ(r->items[i].retained_size, sizes[i]);
        int x = node_of(g, r->items[i].obj);
        REQUIRE(x >= 0);
        uint64_t dominated = reachable & ~reach(g, g->roots, 1ull << x);
        CHECK_EQ(r->items[i].retained_count, __builtin_popcountll(dominated));
        CHECK_EQ(r->items[i].root, (g->roots >> x) & 1);
        if (r->items[i].idom >= 0) { /* a listed dominator, listed before */
            CHECK(r->items[i].idom < i);
            int y = node_of(g, r->items[r->items[i].idom].obj);
            CHECK(!(reach(g, g->roots, 1ull << y) & (1ull << x)));
        }
    }
}

TEST(random_graphs_match_definition)
{
    rnd_state = 0x9E3779B97F4A7C15ull;
    long graphs = t_scale(3000);
    for (long k = 0; k < graphs; k++) {
        rcgc_runtime *rt = t_runtime();
        struct graph g;
        build(rt, &g, 1 + (int)(rnd() % MAXN));
        rcgc_diag_domtree t;
        REQUIRE(rcgc_diag_dominators(rt, NULL, &t) == 0);
        check_tree(&g, &t);
        rcgc_diag_retainers r;
        REQUIRE(rcgc_diag_top_retainers(rt, 1 + (rcgc_ssize)(rnd() % 10), NULL, &r) == 0);
        check_report(&g, &r, &t);
        rcgc_diag_retainers_free(rt, &r);
        rcgc_diag_domtree_free(rt, &t);
        CHECK_EQ(rcgc_gc_check(rt), 0);
        drop(rt, &g);
        t_teardown(rt);
    }
}

/* ------------------------------------------------------------------------ */
/* Shapes                                                                    */

/* A diamond under a root, a tail below it, a second root sharing it. */
TEST(diamond_and_shared)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2), *c = t_node(rt, 3),
                *d = t_node(rt, 4), *e = t_node(rt, 5), *s = t_node(rt, 6);
    t_append_steal(rt, a, b);
    t_append_steal(rt, a, c);
    t_append(rt, b, d);
    t_append_steal(rt, c, d);
    t_append_steal(rt, d, e);
    size_t one = rcgc_sizeof(a);
    CHECK_EQ(one, sizeof(t_nodeobj) + 16); /* the collector's header */
    rcgc_diag_domtree t;
    REQUIRE(rcgc_diag_dominators(rt, NULL, &t) == 0);
    CHECK_EQ(t.n, 6);
    CHECK_EQ(t.roots, 2); /* a and s */
    CHECK(t.objs[0] == a);
    CHECK_EQ(t.retained_size[0], 5 * one);
    rcgc_ssize kd = -1, ke = -1;
    for (rcgc_ssize k = 0; k < t.n; k++) {
        if (t.objs[k] == d) kd = k;
        if (t.objs[k] == e) ke = k;
    }
    REQUIRE(kd >= 0 && ke >= 0);
    CHECK(t.objs[t.idom[kd]] == a); /* b and c both lead to d */
    CHECK(t.objs[t.idom[ke]] == d);
    CHECK_EQ(t.retained_size[kd], 2 * one);
    rcgc_diag_domtree_free(rt, &t);

    /* s shares d: d now hangs under the synthetic root */
    t_append(rt, s, d);
    REQUIRE(rcgc_diag_dominators(rt, NULL, &t) == 0);
    for (rcgc_ssize k = 0; k < t.n; k++)
        if (t.objs[k] == d) CHECK_EQ(t.idom[k], -1);
    CHECK_EQ(t.retained_size[0], 3 * one); /* a, b, c */
    rcgc_diag_domtree_free(rt, &t);
    rcgc_decref(rt, a);
    rcgc_decref(rt, s);
    t_teardown(rt);
}

/* 10^5 objects in one chain: no recursion anywhere, sizes add up. */
TEST(deep_chain)
{
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(100000);
    rcgc_object *head = t_node(rt, 0), *cur = head;
    for (long i = 1; i < n; i++) {
        rcgc_object *x = t_node(rt, (int)i);
        t_append_steal(rt, cur, x);
        cur = x;
    }
    t_append(rt, cur, head); /* and a cycle back */
    rcgc_diag_retainers r;
    REQUIRE(rcgc_diag_top_retainers(rt, 3, NULL, &r) == 0);
    CHECK_EQ(r.reachable, n);
    CHECK_EQ(r.n, 3);
    CHECK(r.items[0].obj == head);
    CHECK_EQ(r.items[0].retained_count, n);
    CHECK_EQ(r.items[0].retained_size, (size_t)n * rcgc_sizeof(head));
    CHECK_EQ(r.items[1].retained_count, n - 1);
    CHECK_EQ(r.items[1].idom, 0);
    CHECK_EQ(r.items[2].depth, 3);
    CHECK_EQ(r.ntypes, 1);
    CHECK_EQ(r.types[0].retained_size, r.total_size);
    rcgc_diag_retainers_free(rt, &r);
    t_clear(rt, cur);
    rcgc_decref(rt, head);
    t_teardown(rt);
}

/* Cyclic garbage no root reaches is counted apart, never retained. */
TEST(unreachable_apart)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *keep = t_node(rt, 1);
    rcgc_object *x = t_node(rt, 2), *y = t_node(rt, 3);
    t_link2(rt, x, y);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    rcgc_diag_retainers r;
    REQUIRE(rcgc_diag_top_retainers(rt, 0, NULL, &r) == 0);
    CHECK_EQ(r.objects, 3);
    CHECK_EQ(r.reachable, 1);
    CHECK_EQ(r.unreachable, 2);
    CHECK_EQ(r.unreachable_size, 2 * rcgc_sizeof(keep));
    CHECK_EQ(r.n, 1);
    CHECK(r.items[0].obj == keep);
    CHECK(r.items[0].root);
    rcgc_diag_retainers_free(rt, &r);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_decref(rt, keep);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* Sizes                                                                     */

/* A string-like type with an inline variable part and a buffer. */
typedef struct blob {
    rcgc_object base;
    size_t len;     /* inline bytes after the struct */
    size_t heap;    /* bytes of a buffer it would own */
} blob;

static int blob_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;
}

static size_t blob_extra(const rcgc_object *self)
{
    const blob *b = (const blob *)self;
    return b->len + b->heap;
}

static const rcgc_type blob_type = {.name = "blob",
                                    .size = sizeof(blob),
                                    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
                                    .traverse = blob_traverse,
                                    .extra_size = blob_extra};

TEST(sizeof_and_extra_size)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *leaf = t_leaf(rt, 1);
    CHECK_EQ(rcgc_sizeof(leaf), t_leaf_type.size); /* no GC header */
    rcgc_object *o = rcgc_object_new_sized(rt, &blob_type, sizeof(blob) + 100);
    REQUIRE(o != NULL);
    ((blob *)o)->len = 100;
    ((blob *)o)->heap = 4000;
    rcgc_object_track(rt, o);
    /* weak slot 16 + GC header 16 + struct + 100 + 4000 */
    CHECK_EQ(rcgc_sizeof(o), 32 + sizeof(blob) + 4100);
    rcgc_diag_counts c; /* bytes by type call the hook too */
    REQUIRE(rcgc_diag_count_types(rt, &c) == 0);
    REQUIRE(c.n == 1);
    CHECK_EQ(c.items[0].bytes, 32 + sizeof(blob) + 4100);
    rcgc_diag_counts_free(rt, &c);
    rcgc_object *holder = t_node(rt, 2);
    t_append_steal(rt, holder, o);
    rcgc_diag_retainers r;
    REQUIRE(rcgc_diag_top_retainers(rt, 0, NULL, &r) == 0);
    CHECK(r.items[0].obj == holder);
    CHECK_EQ(r.items[0].retained_size, rcgc_sizeof(holder) + 32 + sizeof(blob) + 4100);
    CHECK_EQ(r.items[1].self_size, 32 + sizeof(blob) + 4100);
    CHECK_STR(r.types[0].name, "node"); /* largest retained first */
    CHECK_EQ(r.types[0].retained_size, r.total_size);
    CHECK_STR(r.types[1].name, "blob");
    CHECK_EQ(r.types[1].retained_size, 32 + sizeof(blob) + 4100);
    rcgc_diag_retainers_free(rt, &r);
    rcgc_decref(rt, holder);
    rcgc_decref(rt, leaf);
    t_teardown(rt);
}

/* Deep sizes against the definition: everything reached; with
 * SKIP_SHARED, once the garbage is collected, exactly the retained size the
 * dominator tree gives (what only x holds is what freeing x frees). */
TEST(deep_size_matches_definition)
{
    rnd_state = 4242;
    for (long k = 0; k < t_scale(500); k++) {
        rcgc_runtime *rt = t_runtime();
        struct graph g;
        build(rt, &g, 1 + (int)(rnd() % MAXN));
        for (int x = 0; x < g.n; x++) {
            if (g.obj[x] == NULL) continue;
            rcgc_diag_deep_result d;
            REQUIRE(rcgc_diag_deep_size(rt, g.obj[x], 0, &d) == 0);
            uint64_t r = reach(&g, 1ull << x, 0);
            CHECK_EQ(d.objects, __builtin_popcountll(r));
            CHECK_EQ(d.size, bytes_of(&g, r));
            CHECK_EQ(d.skipped, 0);
        }
        rcgc_gc_collect(rt, 2); /* no garbage refers into the heap now */
        rcgc_diag_domtree t;
        REQUIRE(rcgc_diag_dominators(rt, NULL, &t) == 0);
        CHECK_EQ(t.unreachable, 0);
        for (rcgc_ssize i = 0; i < t.n; i++) {
            rcgc_diag_deep_result d;
            REQUIRE(rcgc_diag_deep_size(rt, t.objs[i], RCGC_DIAG_DEEP_SKIP_SHARED, &d) == 0);
            CHECK_EQ(d.size, t.retained_size[i]);
        }
        rcgc_diag_domtree_free(rt, &t);
        drop(rt, &g);
        t_teardown(rt);
    }
}

TEST(deep_size_stops)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *o = t_node(rt, 1), *shared = t_node(rt, 2), *mine = t_node(rt, 3);
    rcgc_object *below = t_node(rt, 4), *leaf = t_leaf(rt, 5);
    t_append(rt, o, shared); /* the test holds shared too */
    t_append_steal(rt, o, mine);
    t_append_steal(rt, shared, below);
    t_append_steal(rt, mine, leaf); /* a non-GC leaf: counted, not entered */
    size_t one = rcgc_sizeof(o);
    rcgc_diag_deep_result d;
    REQUIRE(rcgc_diag_deep_size(rt, o, 0, &d) == 0);
    CHECK_EQ(d.objects, 5);
    CHECK_EQ(d.size, 4 * one + rcgc_sizeof(leaf));
    REQUIRE(rcgc_diag_deep_size(rt, o, RCGC_DIAG_DEEP_SKIP_SHARED, &d) == 0);
    CHECK_EQ(d.objects, 3); /* o, mine, leaf */
    CHECK_EQ(d.skipped, 2); /* shared and below */
    /* frozen: shared's subtree stops there */
    rcgc_gc_freeze(rt);
    REQUIRE(rcgc_diag_deep_size(rt, o, RCGC_DIAG_DEEP_SKIP_FROZEN, &d) == 0);
    CHECK_EQ(d.objects, 1); /* o itself is counted, though frozen */
    CHECK_EQ(d.skipped, 2); /* shared and mine; below and leaf are not reached */
    rcgc_gc_unfreeze(rt);
    /* immortal */
    rcgc_object *imm = t_node(rt, 6);
    REQUIRE(rcgc_object_make_immortal(rt, imm) == 0);
    t_append(rt, mine, imm);
    REQUIRE(rcgc_diag_deep_size(rt, o, RCGC_DIAG_DEEP_SKIP_IMMORTAL, &d) == 0);
    CHECK_EQ(d.objects, 5);
    CHECK_EQ(d.skipped, 1);
    REQUIRE(rcgc_diag_deep_size(rt, o, 0, &d) == 0);
    CHECK_EQ(d.objects, 6);
    /* errors */
    CHECK_EQ(rcgc_diag_deep_size(rt, o, 0x100, &d), RCGC_EINVAL);
    CHECK_EQ(d.size, 0);
    CHECK_EQ(rcgc_diag_deep_size(rt, NULL, 0, &d), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_deep_size(NULL, o, 0, &d), RCGC_EINVAL);
    /* out of memory at every allocation */
    int failures = 0, done = 0;
    for (long k = 1; k < 100 && !done; k++) {
        long live = t_alloc_state.live_blocks;
        t_alloc_state.fail_at = t_alloc_state.calls + k;
        int rc = rcgc_diag_deep_size(rt, o, RCGC_DIAG_DEEP_SKIP_SHARED, &d);
        t_alloc_state.fail_at = 0;
        if (rc == 0) done = 1;
        else {
            CHECK_EQ(rc, RCGC_ENOMEM);
            failures++;
        }
        CHECK_EQ(t_alloc_state.live_blocks, live);
    }
    CHECK(done && failures >= 3);
    rcgc_decref(rt, shared);
    rcgc_decref(rt, o);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* Writers                                                                   */

static size_t node_label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    return (size_t)snprintf(buf, size, "#%d", t_as(o)->id);
}

static char out_buf[1 << 16];

static const char *capture(const rcgc_diag_retainers *r, rcgc_ssize limit,
                           rcgc_diag_format fmt)
{
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.label = node_label;
    o.flags = RCGC_DIAG_NO_ADDRESSES;
    FILE *f = tmpfile();
    if (f == NULL) return "";
    CHECK_EQ(rcgc_diag_retainers_write(f, r, limit, &o, fmt), 0);
    rewind(f);
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, f);
    out_buf[n] = 0;
    fclose(f);
    return out_buf;
}

TEST(writers)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *bus = t_node(rt, 1);
    rcgc_object *listeners = t_new(rt, &t_fnode_type, 2);
    t_append_steal(rt, bus, listeners);
    for (int i = 0; i < 10; i++) t_append_steal(rt, listeners, t_node(rt, 10 + i));
    rcgc_diag_retainers r;
    REQUIRE(rcgc_diag_top_retainers(rt, 3, NULL, &r) == 0);
    size_t one = rcgc_sizeof(bus);
    const char *text = capture(&r, 0, RCGC_DIAG_TEXT);
    if (getenv("SHOW")) fputs(text, stderr);
    char want[256];
    snprintf(want, sizeof want, "12 tracked objects, 12 reachable from 1 root: "
                                "%.1f KiB (%zu bytes)\n",
             (double)(12 * one) / 1024, 12 * one);
    CHECK(strncmp(text, want, strlen(want)) == 0);
    CHECK(strstr(text, "root     <node> \"#1\"") != NULL);
    CHECK(strstr(text, "#1       <fnode> \"#2\"") != NULL);
    CHECK(strstr(text, "#2       <node> \"#") != NULL);
    CHECK(strstr(text, "       11  fnode\n") == NULL); /* counts are reachable instances */
    CHECK(strstr(text, "        1  fnode\n") != NULL);
    CHECK(strstr(text, "       11  node\n") != NULL);
    const char *json = capture(&r, 0, RCGC_DIAG_JSON);
    CHECK(json_check_object_line(json, strlen(json)));
    CHECK(strstr(json, "\"retained_objects\":12") != NULL);
    CHECK(strstr(json, "\"label\":\"#2\"") != NULL);
    json = capture(&r, 1, RCGC_DIAG_JSON);
    CHECK(strstr(json, "\"dominator\":-1,\"root\":true,\"snapshot_id\":5}],\"types\":[{") != NULL);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK_EQ(rcgc_diag_retainers_write(f, &r, 0, NULL, RCGC_DIAG_DOT), RCGC_EINVAL);
    fclose(f);
    rcgc_diag_retainers_free(rt, &r);
    rcgc_decref(rt, bus);
    t_teardown(rt);
}

/* The dominator tree's writer: pruning best first, each shown node's
 * dominator shown, the three formats, the errors. */
static char tree_buf[1 << 16];

static const char *capture_tree(rcgc_runtime *rt, const rcgc_diag_domtree *t,
                                rcgc_ssize max, rcgc_diag_format fmt, int *rc)
{
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.label = node_label;
    FILE *f = tmpfile();
    if (f == NULL) return "";
    *rc = rcgc_diag_domtree_write(rt, f, t, max, &o, fmt);
    rewind(f);
    size_t n = fread(tree_buf, 1, sizeof tree_buf - 1, f);
    tree_buf[n] = 0;
    fclose(f);
    return tree_buf;
}

TEST(domtree_writer)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *bus = t_node(rt, 1);
    rcgc_object *listeners = t_new(rt, &t_fnode_type, 2);
    t_append_steal(rt, bus, listeners);
    rcgc_object *big = t_node(rt, 3); /* retains 3 more */
    t_append_steal(rt, listeners, big);
    for (int i = 0; i < 3; i++) t_append_steal(rt, big, t_node(rt, 30 + i));
    for (int i = 0; i < 5; i++) t_append_steal(rt, listeners, t_node(rt, 10 + i));
    rcgc_diag_domtree t;
    REQUIRE(rcgc_diag_dominators(rt, NULL, &t) == 0);
    size_t one = rcgc_sizeof(bus);
    int rc;
    const char *text = capture_tree(rt, &t, 3, RCGC_DIAG_TEXT, &rc);
    CHECK_EQ(rc, 0);
    char want[512];
    snprintf(want, sizeof want,
             "dominator tree: 11 objects reachable from 1 roots, %zu bytes; the 3 largest:\n"
             "  %zu  node \"#1\"\n    %zu  fnode \"#2\"\n      %zu  node \"#3\"\n",
             11 * one, 11 * one, 10 * one, 4 * one);
    CHECK_STR(text, want);
    const char *json = capture_tree(rt, &t, 0, RCGC_DIAG_JSON, &rc);
    CHECK_EQ(rc, 0);
    CHECK(json_check_object_line(json, strlen(json)));
    CHECK(strstr(json, "\"shown\":11,") != NULL);
    snprintf(want, sizeof want, "[-1,\"node\",\"#1\",%zu,%zu],\n[0,\"fnode\",\"#2\",%zu,%zu],\n"
                                "[1,\"node\",\"#3\",%zu,%zu]", one, 11 * one, one, 10 * one,
             one, 4 * one);
    CHECK(strstr(json, want) != NULL);
    const char *html = capture_tree(rt, &t, 0, RCGC_DIAG_HTML, &rc);
    CHECK_EQ(rc, 0);
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(html, "\"\\u0023") == NULL && strstr(html, "\"#3\"") != NULL);
    CHECK(strstr(html, "src=") == NULL && strstr(html, "http") == NULL);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK_EQ(rcgc_diag_domtree_write(rt, f, &t, 0, NULL, RCGC_DIAG_DOT), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_domtree_write(rt, f, &t, -1, NULL, RCGC_DIAG_TEXT), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_domtree_write(rt, f, NULL, 0, NULL, RCGC_DIAG_TEXT), RCGC_EINVAL);
    /* the other writers refuse the page format */
    rcgc_diag_counts c;
    REQUIRE(rcgc_diag_count_types(rt, &c) == 0);
    CHECK_EQ(rcgc_diag_counts_write(f, &c, 0, RCGC_DIAG_HTML), RCGC_EINVAL);
    rcgc_diag_counts_free(rt, &c);
    /* out of memory */
    long live = t_alloc_state.live_blocks;
    t_alloc_state.fail_at = t_alloc_state.calls + 1;
    CHECK_EQ(rcgc_diag_domtree_write(rt, f, &t, 0, NULL, RCGC_DIAG_TEXT), RCGC_ENOMEM);
    t_alloc_state.fail_at = 0;
    CHECK_EQ(t_alloc_state.live_blocks, live);
    fclose(f);
    rcgc_diag_domtree_free(rt, &t);
    rcgc_decref(rt, bus);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* Heap snapshots                                                            */

static size_t edge_named(rcgc_object *from, rcgc_object *to, rcgc_ssize index,
                         char *buf, size_t size, void *ctx)
{
    (void)to;
    (void)ctx;
    if (from->type != &t_node_type || t_as(from)->id != 1 || index < 0)
        return 0; /* only the first node's */
    return (size_t)snprintf(buf, size, "items\"%td\"", index);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* nodes and edges arrays as numbers, for the structure checks */
static long numbers(const char *json, const char *key, long *out, long max)
{
    const char *p = strstr(json, key);
    if (p == NULL) return -1;
    p += strlen(key);
    long n = 0;
    while (*p && *p != ']') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return -1;
        if (n < max) out[n] = v;
        n++;
        p = end;
        while (*p == ',' || *p == '\n') p++;
    }
    return n;
}

TEST(heapsnapshot_structure)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_wnode(rt, 2), *c = t_node(rt, 3);
    t_append(rt, a, b);
    t_append_steal(rt, a, c);
    t_append(rt, c, c); /* a self-loop */
    rcgc_object *map = rcgc_wkmap_new(rt);
    REQUIRE(map != NULL);
    rcgc_object *v = t_node(rt, 4);
    REQUIRE(rcgc_wkmap_set(rt, map, b, v) == 0);
    rcgc_decref(rt, v);
    t_append_steal(rt, a, map);
    rcgc_decref(rt, b);
    rcgc_object *g1 = t_node(rt, 5), *g2 = t_node(rt, 6); /* garbage */
    t_link2(rt, g1, g2);
    rcgc_decref(rt, g1);
    rcgc_decref(rt, g2);

    char dir[] = "/tmp/rcgc-heapsnap-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char path[256], target[256];
    snprintf(path, sizeof path, "%s/heap.heapsnapshot", dir);
    snprintf(target, sizeof target, "%s/target", dir);
    FILE *tf = fopen(target, "w");
    REQUIRE(tf != NULL);
    fputs("untouched", tf);
    fclose(tf);
    REQUIRE(symlink(target, path) == 0); /* replaced, never followed */
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.edge_name = edge_named;
    REQUIRE(rcgc_diag_heapsnapshot_save(rt, path, &o) == 0);
    struct stat st;
    REQUIRE(lstat(path, &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0600);
    CHECK_STR(read_all(target), "untouched");
    const char *json = read_all(path);
    REQUIRE(json != NULL);
    if (getenv("SHOW")) fputs(json, stderr);
    CHECK(json_check_object_line(json, strlen(json)));
    /* 8 objects (a, b, c, map, the map's weak reference to b, v, g1, g2),
     * the root and the garbage node */
    CHECK(strstr(json, "\"node_count\":10,") != NULL);
    long nodes[10 * 7], edges[64];
    REQUIRE(numbers(json, "\"nodes\":[", nodes, 70) == 70);
    long ne = numbers(json, "\"edges\":[", edges, 64);
    /* edges: root -> a; garbage node; garbage -> g1, g2; a: b, c, map;
     * c: c; map: its weak reference, v (ephemeron); g1: g2; g2: g1 */
    CHECK_EQ(ne, 3 * 12);
    CHECK(strstr(json, "\"edge_count\":12,") != NULL);
    long sum = 0;
    for (int i = 0; i < 10; i++) sum += nodes[i * 7 + 4];
    CHECK_EQ(sum, 12); /* edge counts add up */
    CHECK_EQ(nodes[0], 9);  /* synthetic root */
    CHECK_EQ(nodes[4], 2);  /* a root and the garbage node */
    CHECK_EQ(nodes[7], 9);  /* the garbage node, synthetic */
    CHECK_EQ(nodes[11], 2); /* g1 and g2 */
    for (int i = 2; i < 10; i++) CHECK_EQ(nodes[i * 7], 3); /* objects */
    for (long e = 0; e < ne; e += 3) CHECK(edges[e + 2] % 7 == 0 && edges[e + 2] < 70);
    /* the ephemeron value: an internal edge named "value" */
    int internal_value = 0;
    for (long e = 0; e < ne; e += 3) internal_value += edges[e] == 3 && edges[e + 1] == 10;
    CHECK(strstr(json, "\"value\"]}") != NULL); /* string 10, the last */
    CHECK_EQ(internal_value, 1);
    CHECK(strstr(json, "\"items\\\"0\\\"\"") != NULL); /* escaped name */
    CHECK(strstr(json, "\"value\"") != NULL);
    CHECK(strstr(json, "\"(garbage awaiting collection)\"") != NULL);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* errors */
    CHECK_EQ(rcgc_diag_heapsnapshot_save(rt, "", NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_heapsnapshot_write(rt, NULL, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_heapsnapshot_save(rt, "/nonexistent-dir/x.heapsnapshot", NULL),
             RCGC_EFAILED);
    unlink(path);
    unlink(target);
    rmdir(dir);
    rcgc_decref(rt, a);
    rcgc_gc_collect(rt, 2);
    t_teardown(rt);
}

TEST(heapsnapshot_nomem)
{
    rcgc_runtime *rt = t_runtime();
    rnd_state = 777;
    struct graph g;
    build(rt, &g, MAXN);
    int failures = 0, done = 0;
    for (long k = 1; k < 200 && !done; k++) {
        FILE *f = tmpfile();
        REQUIRE(f != NULL);
        long live = t_alloc_state.live_blocks;
        t_alloc_state.fail_at = t_alloc_state.calls + k;
        int rc = rcgc_diag_heapsnapshot_write(rt, f, NULL);
        t_alloc_state.fail_at = 0;
        fclose(f);
        if (rc == 0) {
            done = 1;
        } else {
            CHECK_EQ(rc, RCGC_ENOMEM);
            failures++;
        }
        CHECK_EQ(t_alloc_state.live_blocks, live);
        CHECK_EQ(rcgc_gc_check(rt), 0);
    }
    CHECK(done);
    CHECK(failures >= 5);
    drop(rt, &g);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* Headers, errors, memory                                                   */

static void snap_heads(rcgc_object **objs, int n, uintptr_t *words)
{
    for (int i = 0; i < n; i++) {
        if (objs[i] == NULL || !rcgc_object_is_tracked(objs[i])) continue;
        memcpy(&words[2 * i], gc_head_of(objs[i]), 2 * sizeof(uintptr_t));
    }
}

TEST(headers_restored_and_nomem)
{
    rnd_state = 12345;
    rcgc_runtime *rt = t_runtime();
    struct graph g;
    build(rt, &g, MAXN);
    rcgc_gc_freeze(rt);
    uintptr_t before[2 * MAXN] = {0}, after[2 * MAXN] = {0};
    snap_heads(g.obj, g.n, before);
    for (int what = 0; what < 2; what++) {
        int failures = 0, done = 0;
        for (long k = 1; k < 200 && !done; k++) {
            long live = t_alloc_state.live_blocks;
            t_alloc_state.fail_at = t_alloc_state.calls + k;
            rcgc_diag_domtree t;
            rcgc_diag_retainers r;
            int rc = what == 0 ? rcgc_diag_dominators(rt, NULL, &t)
                               : rcgc_diag_top_retainers(rt, 5, NULL, &r);
            t_alloc_state.fail_at = 0;
            if (rc == 0) {
                if (what == 0) {
                    check_tree(&g, &t);
                    rcgc_diag_domtree_free(rt, &t);
                } else {
                    rcgc_diag_retainers_free(rt, &r);
                }
                done = 1;
            } else {
                CHECK_EQ(rc, RCGC_ENOMEM);
                CHECK_EQ(t_alloc_state.live_blocks, live);
                failures++;
            }
            snap_heads(g.obj, g.n, after);
            CHECK(memcmp(before, after, sizeof before) == 0);
            CHECK_EQ(rcgc_gc_check(rt), 0);
        }
        CHECK(done);
        CHECK(failures >= 5);
    }
    rcgc_gc_unfreeze(rt);
    drop(rt, &g);
    t_teardown(rt);
}

static rcgc_runtime *fin_rt;
static int fin_rc;

static int query_in_finalizer(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    rcgc_diag_retainers r;
    fin_rc = rcgc_diag_top_retainers(rt, 1, NULL, &r);
    CHECK_EQ(r.n, 0);
    CHECK(fin_rt == rt);
    return 0;
}

TEST(errors)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_diag_domtree t;
    rcgc_diag_retainers r;
    CHECK_EQ(rcgc_diag_dominators(NULL, NULL, &t), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_dominators(rt, NULL, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_top_retainers(rt, -1, NULL, &r), RCGC_EINVAL);
    CHECK_EQ(r.items, NULL);
    rcgc_diag_options bad;
    memset(&bad, 0, sizeof bad);
    CHECK_EQ(rcgc_diag_top_retainers(rt, 1, &bad, &r), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_retainers_write(NULL, &r, 0, NULL, RCGC_DIAG_TEXT), RCGC_EINVAL);
    rcgc_diag_retainers_free(rt, NULL);
    rcgc_diag_domtree_free(rt, NULL);
    /* an empty heap */
    REQUIRE(rcgc_diag_top_retainers(rt, 0, NULL, &r) == 0);
    CHECK_EQ(r.n, 0);
    CHECK_EQ(r.objects, 0);
    rcgc_diag_retainers_free(rt, &r);
    /* from a finalizer during a collection: refused */
    rcgc_object *x = t_new(rt, &t_fnode_type, 1);
    t_as(x)->on_finalize = query_in_finalizer;
    t_append(rt, x, x);
    rcgc_decref(rt, x);
    fin_rt = rt;
    fin_rc = 0;
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(fin_rc, RCGC_EINVAL);
    t_teardown(rt);
}

TEST_MAIN(T(random_graphs_match_definition), T(diamond_and_shared), T(deep_chain),
          T(unreachable_apart), T(sizeof_and_extra_size), T(deep_size_matches_definition),
          T(deep_size_stops), T(writers), T(domtree_writer),
          T(heapsnapshot_structure), T(heapsnapshot_nomem),
          T(headers_restored_and_nomem), T(errors))

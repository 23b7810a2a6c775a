/*
 * test_diagnose.c - leak diagnosis (rcgc_diag.h): counts by type and growth
 * on constructed graphs, why-alive chains (plain chains, shortest of two,
 * cycles, untracked containers, C locals, frozen objects, ephemerons, the
 * garbage list, unreachable garbage, 10^5-long chains), the collector's
 * header words restored bit for bit and a control runtime collecting the
 * same, referrer and referent graphs, the text/JSON/DOT writers (DOT run
 * through Graphviz when it is installed), and the errors: NULL arguments,
 * untracked and non-GC targets, calls from a collection's finalizer and
 * callbacks, out of memory at every allocation.  Also the two pieces the
 * queries stand on: the walk of core/gcwalk.h (each generation, frozen,
 * all, early stop) and the index map (rcgc__idxmap, src/mem/ptrmap.c).
 */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <stdlib.h>
#include <unistd.h>

#include "core/gchead.h" /* to compare header words bit for bit */
#include "core/gcwalk.h"   /* the enumeration the queries use */
#include "rcgc_diag.h"
#include "rcgc_trace.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */

/* Labels "#<id>" for the test nodes; edge names "items[i]". */
static size_t node_label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    if (o->type == &t_leaf_type || (o->type->flags & RCGC_TYPE_GC))
        return (size_t)snprintf(buf, size, "#%d", t_as(o)->id);
    return 0;
}

static size_t node_edge(rcgc_object *from, rcgc_object *to, rcgc_ssize index,
                        char *buf, size_t size, void *ctx)
{
    (void)from;
    (void)to;
    (void)ctx;
    if (index < 0) return 0; /* the default name ("value") */
    return (size_t)snprintf(buf, size, "items[%td]", index);
}

static rcgc_diag_options labelled(void)
{
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.label = node_label;
    o.edge_name = node_edge;
    o.flags = RCGC_DIAG_NO_ADDRESSES;
    return o;
}

/* What a writer produced, as a string (static buffer, reused). */
static char out_buf[1 << 20];

static const char *capture_path(const rcgc_diag_path *p,
                                const rcgc_diag_options *o,
                                rcgc_diag_format fmt)
{
    FILE *f = tmpfile();
    if (f == NULL) return "";
    int rc = rcgc_diag_path_write(f, p, o, fmt);
    rewind(f);
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, f);
    out_buf[n] = 0;
    fclose(f);
    return rc == 0 ? out_buf : "";
}

static const char *capture_graph(const rcgc_diag_graph *g,
                                 const rcgc_diag_options *o,
                                 rcgc_diag_format fmt)
{
    FILE *f = tmpfile();
    if (f == NULL) return "";
    int rc = rcgc_diag_graph_write(f, g, o, fmt);
    rewind(f);
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, f);
    out_buf[n] = 0;
    fclose(f);
    return rc == 0 ? out_buf : "";
}

static const char *capture_counts(const rcgc_diag_counts *c, rcgc_ssize limit,
                                  rcgc_diag_format fmt)
{
    FILE *f = tmpfile();
    if (f == NULL) return "";
    int rc = rcgc_diag_counts_write(f, c, limit, fmt);
    rewind(f);
    size_t n = fread(out_buf, 1, sizeof out_buf - 1, f);
    out_buf[n] = 0;
    fclose(f);
    return rc == 0 ? out_buf : "";
}

static int count_substr(const char *s, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + len, needle))
        n++;
    return n;
}

/* The header words of a set of objects, to compare before and after. */
typedef struct headers {
    uintptr_t *words;
    rcgc_ssize n;
} headers;

static headers snap(rcgc_object *const *objs, rcgc_ssize n)
{
    headers h = {malloc((size_t)(2 * n + 1) * sizeof(uintptr_t)), n};
    for (rcgc_ssize i = 0; i < n && h.words != NULL; i++) {
        if (objs[i]->type->flags & RCGC_TYPE_GC) {
            memcpy(&h.words[2 * i], gc_head_of(objs[i]), 2 * sizeof(uintptr_t));
        } else {
            h.words[2 * i] = h.words[2 * i + 1] = 0;
        }
    }
    return h;
}

/* 1 if the objects' header words are what h recorded; frees h. */
static int same_headers(headers h, rcgc_object *const *objs)
{
    headers now = snap(objs, h.n);
    int same = h.words != NULL && now.words != NULL &&
               memcmp(h.words, now.words, (size_t)(2 * h.n) * sizeof(uintptr_t)) == 0;
    free(h.words);
    free(now.words);
    return same;
}

/* A chain root -> n1 -> ... -> n_len; returns the root (NEW) and stores the
 * last node (BORROWED) in *last.  Node ids are 1..len, the root's 0. */
static rcgc_object *make_chain(rcgc_runtime *rt, rcgc_ssize len,
                               rcgc_object **last)
{
    rcgc_object *root = t_node(rt, 0), *cur = root;
    for (rcgc_ssize i = 1; i <= len; i++) {
        rcgc_object *n = t_node(rt, (int)i);
        t_append_steal(rt, cur, n);
        cur = n;
    }
    *last = cur;
    return root;
}

static int link_id(const rcgc_diag_path *p, rcgc_ssize k)
{
    return t_as(p->links[k].obj)->id;
}

/* ------------------------------------------------------------------------ */
/* counts by type                                                            */

static rcgc_object *keep[64];
static int nkeep;

static void hold(rcgc_object *o)
{
    keep[nkeep++] = o;
}

static void drop_all(rcgc_runtime *rt)
{
    while (nkeep > 0) rcgc_decref(rt, keep[--nkeep]);
}

TEST(counts_exact)
{
    rcgc_runtime *rt = t_runtime();
    for (int i = 0; i < 5; i++) hold(t_node(rt, i));
    for (int i = 0; i < 3; i++) hold(t_new(rt, &t_fnode_type, 10 + i));
    for (int i = 0; i < 3; i++) hold(t_new(rt, &t_tuple_type, 20 + i));
    hold(t_leaf(rt, 30));                        /* not a GC type: not counted */
    rcgc_object *u = t_node(rt, 31);             /* untracked: not counted */
    rcgc_object_untrack(rt, u);
    hold(u);
    rcgc_gc_freeze(rt);                          /* frozen ones count */
    for (int i = 0; i < 2; i++) hold(t_new(rt, &t_dict_type, 40 + i));

    rcgc_diag_counts c;
    REQUIRE(rcgc_diag_count_types(rt, &c) == 0);
    CHECK_EQ(c.total, 13);
    CHECK_EQ(c.types, 4);
    REQUIRE(c.n == 4);
    CHECK_STR(c.items[0].name, "node");
    CHECK_EQ(c.items[0].count, 5);
    /* ties: by name */
    CHECK_STR(c.items[1].name, "fnode");
    CHECK_STR(c.items[2].name, "tuple");
    CHECK_EQ(c.items[2].count, 3);
    CHECK_STR(c.items[3].name, "dict");
    CHECK_EQ(c.items[3].count, 2);
    CHECK_EQ(rcgc_diag_counts_get(&c, "fnode"), 3);
    CHECK_EQ(rcgc_diag_counts_get(&c, "leaf"), 0);
    CHECK_STR(capture_counts(&c, 2, RCGC_DIAG_TEXT), "node  5\nfnode 3\n");
    /* bytes: count x rcgc_sizeof (these types have no extra_size) */
    size_t node_b = rcgc_sizeof(u), tuple_b = t_tuple_type.size + 16,
           dict_b = t_dict_type.size + 16;
    CHECK_EQ(c.items[0].bytes, 5 * node_b);
    CHECK_EQ(c.items[1].bytes, 3 * node_b);
    CHECK_EQ(c.items[2].bytes, 3 * tuple_b);
    CHECK_EQ(c.items[3].bytes, 2 * dict_b);
    char want[512];
    snprintf(want, sizeof want,
             "{\"total\":13,\"types\":4,\"items\":[{\"type\":\"node\",\"count\":5,"
             "\"bytes\":%zu},{\"type\":\"fnode\",\"count\":3,\"bytes\":%zu},"
             "{\"type\":\"tuple\",\"count\":3,\"bytes\":%zu},"
             "{\"type\":\"dict\",\"count\":2,\"bytes\":%zu}]}\n",
             5 * node_b, 3 * node_b, 3 * tuple_b, 2 * dict_b);
    CHECK_STR(capture_counts(&c, 0, RCGC_DIAG_JSON), want);
    CHECK(rcgc_diag_counts_write(stdout, &c, 0, RCGC_DIAG_DOT) == RCGC_EINVAL);
    rcgc_diag_counts_free(rt, &c);
    CHECK(c.items == NULL);
    rcgc_gc_unfreeze(rt);
    drop_all(rt);
    t_teardown(rt);
}

/* Two descriptors with one name count together, as objgraph counts by
 * __name__. */
TEST(counts_merge_names)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_type twin = t_node_type; /* same hooks, another descriptor */
    for (int i = 0; i < 4; i++) hold(t_node(rt, i));
    for (int i = 0; i < 3; i++) hold(t_new(rt, &twin, i));
    rcgc_diag_counts c;
    REQUIRE(rcgc_diag_count_types(rt, &c) == 0);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.items[0].count, 7);
    rcgc_diag_counts_free(rt, &c);
    drop_all(rt);
    t_teardown(rt);
}

TEST(growth_peaks)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_diag_growth *g = rcgc_diag_growth_new(rt);
    REQUIRE(g != NULL);
    rcgc_diag_counts c;
    for (int i = 0; i < 3; i++) hold(t_node(rt, i));
    hold(t_new(rt, &t_tuple_type, 9));
    /* first call: everything, from zero */
    REQUIRE(rcgc_diag_growth_update(rt, g, &c) == 0);
    REQUIRE(c.n == 2);
    CHECK_STR(c.items[0].name, "node");
    CHECK_EQ(c.items[0].delta, 3);
    CHECK_EQ(c.items[1].delta, 1);
    CHECK_STR(capture_counts(&c, 0, RCGC_DIAG_TEXT),
              "node         3        +3\ntuple        1        +1\n");
    rcgc_diag_counts_free(rt, &c);
    /* nothing changed */
    REQUIRE(rcgc_diag_growth_update(rt, g, &c) == 0);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(c.total, 4);
    CHECK_STR(capture_counts(&c, 0, RCGC_DIAG_JSON),
              "{\"total\":4,\"types\":2,\"items\":[]}\n");
    rcgc_diag_counts_free(rt, &c);
    /* +2 nodes, a new type */
    hold(t_node(rt, 3));
    hold(t_node(rt, 4));
    hold(t_new(rt, &t_fnode_type, 5));
    REQUIRE(rcgc_diag_growth_update(rt, g, &c) == 0);
    REQUIRE(c.n == 2);
    CHECK_STR(c.items[0].name, "node");
    CHECK_EQ(c.items[0].count, 5);
    CHECK_EQ(c.items[0].delta, 2);
    CHECK_STR(c.items[1].name, "fnode");
    CHECK_EQ(c.items[1].delta, 1);
    rcgc_diag_counts_free(rt, &c);
    /* drop 3 nodes (5 -> 2), add 2 back (4): below the peak, not reported;
     * then 3 more (7): +2 over the peak of 5.  keep[] is: node 0-2, tuple,
     * node 3, node 4, fnode. */
    rcgc_decref(rt, keep[0]);
    rcgc_decref(rt, keep[4]);
    rcgc_decref(rt, keep[5]);
    keep[0] = keep[3]; /* tuple */
    keep[3] = keep[6]; /* fnode */
    nkeep = 4;
    hold(t_node(rt, 6));
    hold(t_node(rt, 7));
    REQUIRE(rcgc_diag_growth_update(rt, g, &c) == 0);
    CHECK_EQ(c.n, 0);
    rcgc_diag_counts_free(rt, &c);
    for (int i = 0; i < 3; i++) hold(t_node(rt, 10 + i));
    REQUIRE(rcgc_diag_growth_update(rt, g, &c) == 0);
    REQUIRE(c.n == 1);
    CHECK_EQ(c.items[0].count, 7);
    CHECK_EQ(c.items[0].delta, 2);
    rcgc_diag_counts_free(rt, &c);
    rcgc_diag_growth_free(rt, g);
    drop_all(rt);
    t_teardown(rt);
}

/* Out of memory at each allocation of a growth update: the peaks stay as
 * they were (the next successful update reports the same growth). */
TEST(growth_nomem)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_diag_growth *g = rcgc_diag_growth_new(rt);
    REQUIRE(g != NULL);
    rcgc_diag_counts c;
    hold(t_node(rt, 1));
    REQUIRE(rcgc_diag_growth_update(rt, g, &c) == 0);
    rcgc_diag_counts_free(rt, &c);
    hold(t_node(rt, 2));
    hold(t_new(rt, &t_fnode_type, 3));
    hold(t_new(rt, &t_tuple_type, 4));
    int failures = 0;
    for (long k = 1; k < 50; k++) {
        t_alloc_state.fail_at = t_alloc_state.calls + k;
        int rc = rcgc_diag_growth_update(rt, g, &c);
        t_alloc_state.fail_at = 0;
        if (rc == 0) break;
        CHECK_EQ(rc, RCGC_ENOMEM);
        CHECK(c.items == NULL);
        failures++;
    }
    CHECK(failures >= 3 || t_pool_mode());
    REQUIRE(c.n == 3);
    CHECK_STR(c.items[0].name, "fnode");
    CHECK_EQ(rcgc_diag_counts_get(&c, "node"), 2);
    CHECK_EQ(c.items[2].delta, 1); /* node: 2 over the peak of 1 */
    rcgc_diag_counts_free(rt, &c);
    rcgc_diag_growth_free(rt, g);
    drop_all(rt);
    t_teardown(rt);
}

TEST(by_type)
{
    rcgc_runtime *rt = t_runtime();
    for (int i = 0; i < 4; i++) hold(t_node(rt, i));
    hold(t_new(rt, &t_fnode_type, 7));
    for (int i = 0; i < 4; i++) hold(t_node(rt, 10 + i));
    rcgc_object *found[5];
    CHECK_EQ(rcgc_diag_by_type(rt, "node", found, 5), 8);
    CHECK_EQ(t_as(found[4])->id, 10);
    CHECK_EQ(rcgc_diag_by_type(rt, "fnode", found, 5), 1);
    CHECK(found[0] == keep[4]);
    CHECK_EQ(found[0]->refcnt, 1); /* borrowed: nothing added */
    CHECK_EQ(rcgc_diag_by_type(rt, "nothing", found, 5), 0);
    CHECK_EQ(rcgc_diag_by_type(rt, "node", NULL, 0), 8);
    CHECK_EQ(rcgc_diag_by_type(rt, NULL, found, 5), RCGC_EINVAL);
    drop_all(rt);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* why alive                                                                 */

TEST(why_chain)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *target;
    rcgc_object *root = make_chain(rt, 3, &target);
    for (int i = 0; i < 10; i++) hold(t_node(rt, 100 + i)); /* other roots */
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, target, NULL, &p) == 0);
    CHECK_EQ(p.status, RCGC_DIAG_ROOTED);
    REQUIRE(p.n == 4);
    for (int k = 0; k < 4; k++) CHECK_EQ(link_id(&p, k), k);
    CHECK_EQ(p.links[0].edge, -2);
    CHECK_EQ(p.links[2].edge, 0);
    CHECK_EQ(p.links[3].refcnt, 1);
    CHECK_EQ(p.root_external, 1);
    CHECK_EQ(p.root_in_garbage, 0);
    CHECK_EQ(p.target_external, 0);
    CHECK_EQ(p.roots, 11);
    CHECK_EQ(p.objects, 14);
    CHECK_EQ(p.inconsistent, 0);
    CHECK_EQ(target->refcnt, 2); /* the result's reference */
    rcgc_diag_options o = labelled();
    CHECK_STR(capture_path(&p, &o, RCGC_DIAG_TEXT),
              "why is <node> \"#3\" alive?\n"
              "  root <node> \"#0\"  refcount 1, 1 external reference\n"
              "  items[0] -> <node> \"#1\"  refcount 1\n"
              "  items[0] -> <node> \"#2\"  refcount 1\n"
              "  items[0] -> <node> \"#3\"  refcount 1  <- target\n"
              "4 objects in the chain; 11 roots among 14 tracked objects, "
              "4 reached by the search\n");
    CHECK_STR(capture_path(&p, &o, RCGC_DIAG_JSON),
              "{\"status\":\"rooted\",\"target\":{\"type\":\"node\",\"label\":\"#3\","
              "\"refcnt\":1},\"chain\":[{\"type\":\"node\",\"label\":\"#0\","
              "\"refcnt\":1,\"external\":1},{\"type\":\"node\",\"label\":\"#1\","
              "\"refcnt\":1,\"edge_index\":0,\"edge\":\"items[0]\"},"
              "{\"type\":\"node\",\"label\":\"#2\",\"refcnt\":1,\"edge_index\":0,"
              "\"edge\":\"items[0]\"},{\"type\":\"node\",\"label\":\"#3\","
              "\"refcnt\":1,\"edge_index\":0,\"edge\":\"items[0]\"}],"
              "\"root_external\":1,\"root_in_garbage\":0,\"target_external\":0,"
              "\"roots\":11,\"objects\":14,\"visited\":4,\"inconsistent\":0}\n");
    /* without options: addresses and "[i]" */
    const char *text = capture_path(&p, NULL, RCGC_DIAG_TEXT);
    CHECK(strstr(text, "[0] -> <node 0x") != NULL);
    rcgc_diag_path_free(rt, &p);
    CHECK_EQ(target->refcnt, 1);
    CHECK(p.links == NULL && p.n == 0);
    rcgc_decref(rt, root);
    drop_all(rt);
    t_teardown(rt);
}

/* Two roots reach the target, one by 4 references and one by 2 (found later
 * in list order): the search returns the shorter. */
TEST(why_shortest)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *target;
    rcgc_object *far = make_chain(rt, 3, &target);
    rcgc_object *near = t_node(rt, 50), *mid = t_node(rt, 51);
    t_append(rt, near, t_node(rt, 60)); /* a dead end first */
    rcgc_decref(rt, t_as(near)->items[0]);
    t_append_steal(rt, near, mid);
    t_append(rt, mid, target);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, target, NULL, &p) == 0);
    REQUIRE(p.n == 3);
    CHECK_EQ(link_id(&p, 0), 50);
    CHECK_EQ(link_id(&p, 1), 51);
    CHECK_EQ(p.links[1].edge, 1);
    CHECK_EQ(p.roots, 2);
    rcgc_diag_path_free(rt, &p);
    rcgc_decref(rt, far);
    rcgc_decref(rt, near);
    t_teardown(rt);
}

TEST(why_cycles)
{
    rcgc_runtime *rt = t_runtime();
    /* root -> a <-> b -> c -> a, target c */
    rcgc_object *root = t_node(rt, 0), *a = t_node(rt, 1), *b = t_node(rt, 2),
                *c = t_node(rt, 3);
    t_append_steal(rt, root, a);
    t_link2(rt, a, b);
    t_append_steal(rt, b, c);
    t_append(rt, c, a);
    rcgc_decref(rt, b);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, c, NULL, &p) == 0);
    REQUIRE(p.n == 4);
    CHECK_EQ(link_id(&p, 1), 1);
    CHECK_EQ(link_id(&p, 2), 2);
    CHECK_EQ(p.links[3].edge, 1);
    rcgc_diag_path_free(rt, &p);
    /* a cycle that itself is held from C: a is the root */
    REQUIRE(rcgc_diag_why_alive(rt, a, NULL, &p) == 0);
    CHECK_EQ(p.n, 2);
    CHECK_EQ(p.root_external, 1);
    rcgc_diag_path_free(rt, &p);
    /* a self-referencing root */
    t_append(rt, root, root);
    REQUIRE(rcgc_diag_why_alive(rt, root, NULL, &p) == 0);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.root_external, 1);
    CHECK_EQ(p.links[0].refcnt, 2);
    rcgc_diag_path_free(rt, &p);
    t_remove(rt, root, root);
    rcgc_decref(rt, root); /* frees root; a, b, c are a cycle */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 3);
    t_teardown(rt);
}

/* Held by an untracked container: the collector cannot see the container,
 * so the object is a root (as in a collection, it is kept alive). */
TEST(why_untracked_container)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *box = t_node(rt, 0);
    rcgc_object_untrack(rt, box);
    rcgc_object *t = t_node(rt, 1), *u = t_node(rt, 2);
    t_append_steal(rt, box, t);
    t_append_steal(rt, t, u);
    rcgc_object *plain = t_new(rt, &t_plain_type, 3); /* non-GC container */
    rcgc_object *v = t_node(rt, 4);
    t_append_steal(rt, plain, v);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, u, NULL, &p) == 0);
    REQUIRE(p.n == 2);
    CHECK(p.links[0].obj == t);
    CHECK_EQ(p.root_external, 1);
    rcgc_diag_path_free(rt, &p);
    REQUIRE(rcgc_diag_why_alive(rt, v, NULL, &p) == 0);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.root_external, 1);
    rcgc_diag_path_free(rt, &p);
    /* an immortal container is a root's holder too */
    rcgc_object *imm = t_node(rt, 5);
    rcgc_object *w = t_node(rt, 6);
    t_append_steal(rt, imm, w);
    REQUIRE(rcgc_object_make_immortal(rt, imm) == 0);
    REQUIRE(rcgc_diag_why_alive(rt, w, NULL, &p) == 0);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.root_external, 1);
    rcgc_diag_path_free(rt, &p);
    rcgc_decref(rt, box);
    rcgc_decref(rt, plain);
    t_teardown(rt);
}

/* Held by a C local only; and the same local subtracted with ignore_refs. */
TEST(why_c_local)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *local = t_node(rt, 7);
    rcgc_object *other = t_node(rt, 8);
    t_append(rt, other, other);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, local, NULL, &p) == 0);
    CHECK_EQ(p.status, RCGC_DIAG_ROOTED);
    CHECK_EQ(p.n, 1);
    CHECK_EQ(p.root_external, 1);
    CHECK_EQ(p.target_external, 1);
    rcgc_diag_options o = labelled();
    CHECK(strstr(capture_path(&p, &o, RCGC_DIAG_TEXT),
                 "  root <node> \"#7\"  refcount 1, 1 external reference  <- target\n") != NULL);
    rcgc_diag_path_free(rt, &p);
    o.ignore_refs = 1;
    REQUIRE(rcgc_diag_why_alive(rt, local, &o, &p) == 0);
    CHECK_EQ(p.status, RCGC_DIAG_UNREACHABLE);
    CHECK_EQ(p.target_external, 0);
    rcgc_diag_path_free(rt, &p);
    /* held by the caller and by a root: ignoring the caller's reference
     * shows the root */
    rcgc_object *holder = t_node(rt, 9);
    t_append(rt, holder, local);
    REQUIRE(rcgc_diag_why_alive(rt, local, &o, &p) == 0);
    REQUIRE(p.n == 2);
    CHECK(p.links[0].obj == holder);
    rcgc_diag_path_free(rt, &p);
    rcgc_decref(rt, holder);
    rcgc_decref(rt, local);
    t_remove(rt, other, other);
    rcgc_decref(rt, other);
    t_teardown(rt);
}

/* Frozen objects are part of the graph: a chain may pass through them, and
 * the permanent generation is restored like the others. */
TEST(why_frozen)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *mid;
    rcgc_object *root = make_chain(rt, 2, &mid);
    rcgc_gc_freeze(rt);
    rcgc_object *target = t_node(rt, 3);
    t_append_steal(rt, mid, target);
    rcgc_object *all[4] = {root, t_as(root)->items[0], mid, target};
    headers h = snap(all, 4);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, target, NULL, &p) == 0);
    REQUIRE(p.n == 4);
    CHECK(p.links[0].obj == root);
    CHECK_EQ(p.objects, 4);
    CHECK_EQ(rcgc_gc_get_freeze_count(rt), 3);
    rcgc_diag_path_free(rt, &p);
    REQUIRE(rcgc_diag_why_alive(rt, mid, NULL, &p) == 0);
    CHECK_EQ(p.n, 3);
    rcgc_diag_path_free(rt, &p);
    CHECK(same_headers(h, all));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    rcgc_gc_unfreeze(rt);
    rcgc_decref(rt, root);
    t_teardown(rt);
}

/* Unreachable garbage that was not collected yet: no root. */
TEST(why_unreachable)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_object *keepalive = t_node(rt, 3);
    rcgc_decref(rt, b);
    rcgc_decref(rt, a); /* a is garbage now; the pointer is still valid */
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, a, NULL, &p) == 0);
    CHECK_EQ(p.status, RCGC_DIAG_UNREACHABLE);
    REQUIRE(p.n == 1);
    CHECK(p.links[0].obj == a);
    CHECK_EQ(p.roots, 1);
    CHECK_EQ(p.root_external, 0);
    CHECK_EQ(p.visited, 2); /* a and its referrer b: the search went back */
    rcgc_diag_options o = labelled();
    CHECK(strstr(capture_path(&p, &o, RCGC_DIAG_TEXT),
                 "no root reaches it: it is unreachable garbage") != NULL);
    CHECK(strstr(capture_path(&p, &o, RCGC_DIAG_JSON),
                 "\"status\":\"unreachable\"") != NULL);
    CHECK(strstr(capture_path(&p, &o, RCGC_DIAG_DOT), "unreachable -> n0") != NULL);
    rcgc_diag_path_free(rt, &p);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    rcgc_decref(rt, keepalive);
    t_teardown(rt);
}

/* An uncollectable cycle in the garbage list: the list is the root's
 * external holder. */
TEST(why_garbage_list)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_new(rt, &t_lnode_type, 1), *b = t_node(rt, 2);
    t_link2(rt, a, b);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 2);
    REQUIRE(rcgc_gc_garbage_size(rt) == 1);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, b, NULL, &p) == 0);
    REQUIRE(p.n == 2);
    CHECK(p.links[0].obj == a);
    CHECK_EQ(p.root_external, 1);
    CHECK_EQ(p.root_in_garbage, 1);
    CHECK(strstr(capture_path(&p, NULL, RCGC_DIAG_TEXT),
                 "(1 from the garbage list)") != NULL);
    rcgc_diag_path_free(rt, &p);
    t_clear(rt, a); /* break the cycle */
    rcgc_gc_garbage_clear(rt);
    t_teardown(rt);
}

/* Weak-key tables hold their values as ephemerons: the chain goes through
 * the table, with the edge named "value"; weak references are no edges. */
TEST(why_ephemeron)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *map = rcgc_wkmap_new(rt);
    rcgc_object *key = t_new(rt, &t_node_type, 1);
    /* t_node_type is not weakly referenceable: use a weakrefable twin */
    rcgc_decref(rt, key);
    rcgc_type wtype = t_node_type;
    wtype.flags |= RCGC_TYPE_WEAKREF;
    key = t_new(rt, &wtype, 1);
    rcgc_object *value = t_new(rt, &wtype, 2);
    REQUIRE(rcgc_wkmap_set(rt, map, key, value) == 0);
    rcgc_object *wr = rcgc_weakref_new(rt, value, NULL, NULL);
    rcgc_decref(rt, value);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, value, NULL, &p) == 0);
    REQUIRE(p.n == 2);
    CHECK(p.links[0].obj == map);
    CHECK_EQ(p.links[1].edge, -1);
    CHECK(strstr(capture_path(&p, NULL, RCGC_DIAG_TEXT), "value -> <node") != NULL);
    rcgc_diag_path_free(rt, &p);
    /* the graph view sees the same edge */
    rcgc_diag_graph g;
    REQUIRE(rcgc_diag_referrers(rt, value, 1, NULL, &g) == 0);
    CHECK_EQ(g.nnodes, 2);
    REQUIRE(g.nedges == 1);
    CHECK_EQ(g.edges[0].index, -1);
    rcgc_diag_graph_free(rt, &g);
    rcgc_decref(rt, wr);
    rcgc_decref(rt, key);
    rcgc_decref(rt, map);
    t_teardown(rt);
}

/* 10^5 references deep: no recursion anywhere (the chain is rebuilt
 * from the queue, the writers loop). */
/* With the tracer on, each link says where it was allocated (text and
 * JSON); without it, nothing is added. */
TEST(why_allocation_site)
{
    rcgc_runtime *rt = t_runtime();
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    rcgc_object *root = RCGC_NEW(rt, &t_node_type); int root_line = __LINE__;
    REQUIRE(root != NULL);
    rcgc_object_track(rt, root);
    t_as(root)->id = 1;
    rcgc_object *leaf = RCGC_NEW(rt, &t_node_type); int leaf_line = __LINE__;
    REQUIRE(leaf != NULL);
    rcgc_object_track(rt, leaf);
    t_as(leaf)->id = 2;
    t_append_steal(rt, root, leaf);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, leaf, NULL, &p) == 0);
    REQUIRE(p.n == 2);
    char want[256];
    snprintf(want, sizeof want, "test_diagnose.c:%d in why_allocation_site", root_line);
    CHECK(p.links[0].allocated_at != NULL && strstr(p.links[0].allocated_at, want) != NULL);
    snprintf(want, sizeof want, "test_diagnose.c:%d in why_allocation_site", leaf_line);
    CHECK(p.links[1].allocated_at != NULL && strstr(p.links[1].allocated_at, want) != NULL);
    rcgc_diag_options o = labelled();
    const char *text = capture_path(&p, &o, RCGC_DIAG_TEXT);
    CHECK(strstr(text, "      allocated at ") != NULL && strstr(text, want) != NULL);
    const char *json = capture_path(&p, &o, RCGC_DIAG_JSON);
    CHECK(strstr(json, "\"allocated_at\":\"") != NULL);
    rcgc_diag_path_free(rt, &p);
    rcgc_trace_stop(rt);
    REQUIRE(rcgc_diag_why_alive(rt, leaf, NULL, &p) == 0);
    CHECK(p.links[0].allocated_at == NULL && p.links[1].allocated_at == NULL);
    CHECK(strstr(capture_path(&p, &o, RCGC_DIAG_TEXT), "allocated at") == NULL);
    rcgc_diag_path_free(rt, &p);
    rcgc_decref(rt, root);
    t_teardown(rt);
}

TEST(why_deep_chain)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_ssize len = t_scale(100000);
    rcgc_object *target;
    rcgc_object *root = make_chain(rt, len, &target);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, target, NULL, &p) == 0);
    REQUIRE(p.n == len + 1);
    CHECK(p.links[0].obj == root);
    CHECK_EQ(link_id(&p, len / 2), (int)(len / 2));
    CHECK_EQ(p.visited, len + 1);
    FILE *f = tmpfile();
    REQUIRE(f != NULL);
    CHECK_EQ(rcgc_diag_path_write(f, &p, NULL, RCGC_DIAG_DOT), 0);
    CHECK(ftell(f) > len * 20);
    fclose(f);
    rcgc_diag_path_free(rt, &p);
    /* and from the target's side: a deep referrer graph stays bounded */
    rcgc_diag_graph g;
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.max_nodes = 50;
    REQUIRE(rcgc_diag_referents(rt, root, 1000000, &o, &g) == 0);
    CHECK_EQ(g.nnodes, 50);
    CHECK(g.nodes[49].flags & RCGC_DIAG_NODE_TRUNCATED);
    rcgc_diag_graph_free(rt, &g);
    rcgc_decref(rt, root);
    t_teardown(rt);
}

/* ---- the collector's state is exactly restored ---- */

/* A random graph, built identically in two runtimes from one seed. */
#define RG_N 600

static unsigned long rg_next(unsigned long *s)
{
    *s = *s * 6364136223846793005ul + 1442695040888963407ul;
    return *s >> 33;
}

static void random_graph(rcgc_runtime *rt, rcgc_object **objs, unsigned long seed)
{
    static const rcgc_type *const types[] = {&t_node_type, &t_fnode_type,
                                             &t_node_type, &t_tuple_type};
    for (int i = 0; i < RG_N; i++) objs[i] = t_new(rt, types[i % 4], i);
    for (int i = 0; i < RG_N * 2; i++) {
        int a = (int)(rg_next(&seed) % RG_N), b = (int)(rg_next(&seed) % RG_N);
        t_append(rt, objs[a], objs[b]);
    }
    if (rcgc_gc_collect(rt, 0) < 0) t_fail(__FILE__, __LINE__, "collect");
}

static void random_drop(rcgc_runtime *rt, rcgc_object **objs, unsigned long seed)
{
    /* keep 1 in 7, drop the rest (cycles among them become garbage) */
    for (int i = 0; i < RG_N; i++)
        if ((rg_next(&seed) % 7) != 0) {
            rcgc_decref(rt, objs[i]);
            objs[i] = NULL;
        }
}

TEST(restored_exactly)
{
    rcgc_object *objs[RG_N], *cobjs[RG_N];
    for (unsigned long seed = 1; seed <= 4; seed++) {
        rcgc_runtime *rt = t_runtime();
        t_alloc control_alloc;
        memset(&control_alloc, 0, sizeof control_alloc);
        rcgc_config cfg;
        rcgc_config_init(&cfg);
        cfg.gc_enabled = 0;
        cfg.allocator = t_allocator(&control_alloc);
        rcgc_runtime *ctl = rcgc_runtime_new(&cfg);
        REQUIRE(ctl != NULL);
        random_graph(rt, objs, seed);
        random_graph(ctl, cobjs, seed);
        if (seed == 2) { /* frozen objects too */
            rcgc_gc_freeze(rt);
            rcgc_gc_freeze(ctl);
        }
        /* every object, including finalized flags set by a collection */
        headers h = snap(objs, RG_N);
        rcgc_diag_path p;
        rcgc_diag_graph g;
        rcgc_diag_counts c;
        for (int i = 0; i < RG_N; i += 37) {
            if (!rcgc_object_is_tracked(objs[i])) continue;
            CHECK_EQ(rcgc_diag_why_alive(rt, objs[i], NULL, &p), 0);
            rcgc_diag_path_free(rt, &p);
        }
        CHECK_EQ(rcgc_diag_referrers(rt, objs[5], 3, NULL, &g), 0);
        rcgc_diag_graph_free(rt, &g);
        CHECK_EQ(rcgc_diag_referents(rt, objs[6], 3, NULL, &g), 0);
        rcgc_diag_graph_free(rt, &g);
        CHECK_EQ(rcgc_diag_count_types(rt, &c), 0);
        rcgc_diag_counts_free(rt, &c);
        CHECK(same_headers(h, objs));
        CHECK_EQ(rcgc_gc_check(rt), 0);
        CHECK_EQ(rcgc_gc_get_freeze_count(rt), rcgc_gc_get_freeze_count(ctl));
        /* the same collections find the same garbage in the same order */
        random_drop(rt, objs, seed * 77);
        random_drop(ctl, cobjs, seed * 77);
        if (seed == 2) {
            rcgc_gc_unfreeze(rt);
            rcgc_gc_unfreeze(ctl);
        }
        for (int gen = 0; gen < 3; gen++) {
            /* one more query between the drops and the collections */
            for (int i = 0; i < RG_N; i++)
                if (objs[i] != NULL) {
                    CHECK_EQ(rcgc_diag_why_alive(rt, objs[i], NULL, &p), 0);
                    rcgc_diag_path_free(rt, &p);
                    break;
                }
            CHECK_EQ(rcgc_gc_collect(rt, gen), rcgc_gc_collect(ctl, gen));
            int c1[3], c2[3];
            rcgc_gc_get_count(rt, c1);
            rcgc_gc_get_count(ctl, c2);
            CHECK(memcmp(c1, c2, sizeof c1) == 0);
            rcgc_object **l1, **l2;
            rcgc_ssize n1 = rcgc_gc_get_objects(rt, -1, &l1);
            rcgc_ssize n2 = rcgc_gc_get_objects(ctl, -1, &l2);
            CHECK_EQ(n1, n2);
            for (rcgc_ssize i = 0; i < n1 && i < n2; i++)
                if (t_as(l1[i])->id != t_as(l2[i])->id) {
                    t_fail(__FILE__, __LINE__, "list order differs at %td", i);
                    break;
                }
            rcgc_objects_free(rt, l1, n1);
            rcgc_objects_free(ctl, l2, n2);
        }
        for (int i = 0; i < RG_N; i++) {
            if (objs[i] != NULL) rcgc_decref(rt, objs[i]);
            if (cobjs[i] != NULL) rcgc_decref(ctl, cobjs[i]);
        }
        CHECK_EQ(rcgc_gc_collect(rt, 2), rcgc_gc_collect(ctl, 2));
        rcgc_runtime_free(ctl, NULL);
        t_alloc_release(&control_alloc);
        t_teardown(rt);
    }
}

/* ---- errors ---- */

struct reentry {
    int why, counts, graph, growth, by_type; /* results seen from inside */
    rcgc_object *probe;
    int calls;
};

static struct reentry reentry;

static int finalizer_probe(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)self;
    (void)ctx;
    rcgc_diag_path p;
    rcgc_diag_counts c;
    rcgc_diag_graph g;
    reentry.why = rcgc_diag_why_alive(rt, reentry.probe, NULL, &p);
    reentry.counts = rcgc_diag_count_types(rt, &c);
    reentry.graph = rcgc_diag_referrers(rt, reentry.probe, 1, NULL, &g);
    if (reentry.why == 0) rcgc_diag_path_free(rt, &p);
    if (reentry.counts == 0) rcgc_diag_counts_free(rt, &c);
    if (reentry.graph == 0) rcgc_diag_graph_free(rt, &g);
    reentry.by_type = (int)rcgc_diag_by_type(rt, "node", NULL, 0);
    reentry.calls++;
    return 0;
}

static int callback_probe(rcgc_runtime *rt, rcgc_gc_event event,
                          const rcgc_gc_info *info, void *ctx)
{
    (void)info;
    (void)ctx;
    if (event == RCGC_GC_START) finalizer_probe(rt, NULL, NULL);
    return 0;
}

TEST(errors)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_diag_path p;
    rcgc_diag_graph g;
    rcgc_diag_counts c;
    rcgc_object *n = t_node(rt, 1), *leaf = t_leaf(rt, 2);
    rcgc_object *u = t_node(rt, 3);
    rcgc_object_untrack(rt, u);
    CHECK_EQ(rcgc_diag_why_alive(NULL, n, NULL, &p), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_why_alive(rt, NULL, NULL, &p), RCGC_EINVAL);
    CHECK(p.links == NULL && p.n == 0);
    CHECK_EQ(rcgc_diag_why_alive(rt, n, NULL, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_why_alive(rt, u, NULL, &p), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_why_alive(rt, leaf, NULL, &p), RCGC_ENOTGC);
    CHECK_EQ(rcgc_diag_count_types(NULL, &c), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_count_types(rt, NULL), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_referrers(rt, NULL, 1, NULL, &g), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_referrers(rt, n, -1, NULL, &g), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_growth_update(rt, NULL, &c), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_path_write(stdout, &p, NULL, RCGC_DIAG_TEXT), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_path_save(NULL, NULL, "x.dot"), RCGC_EINVAL);
    rcgc_diag_path_free(rt, NULL);
    rcgc_diag_graph_free(rt, NULL);
    rcgc_diag_counts_free(rt, NULL);
    rcgc_diag_growth_free(rt, NULL);
    /* untracked and non-GC objects have neighbourhoods all the same */
    t_append(rt, n, leaf);
    t_append(rt, u, n);
    REQUIRE(rcgc_diag_referrers(rt, leaf, 2, NULL, &g) == 0);
    CHECK_EQ(g.nnodes, 2); /* the untracked u is not found */
    CHECK_EQ(g.nodes[0].external, -1);
    CHECK(!(g.nodes[0].flags & RCGC_DIAG_NODE_TRACKED));
    CHECK_EQ(g.nodes[1].external, 2); /* n: held by u and by this test */
    rcgc_diag_graph_free(rt, &g);
    REQUIRE(rcgc_diag_referents(rt, u, 2, NULL, &g) == 0);
    CHECK_EQ(g.nnodes, 3);
    CHECK_EQ(g.nedges, 2);
    rcgc_diag_graph_free(rt, &g);

    /* From a finalizer run by a collection, and from a gc callback: the
     * collector owns the headers, every query refuses. */
    rcgc_object *f = t_new(rt, &t_fnode_type, 4);
    t_as(f)->on_finalize = finalizer_probe;
    t_append(rt, f, f);
    reentry.probe = n;
    rcgc_decref(rt, f);
    CHECK_EQ(rcgc_gc_collect(rt, 2), 1);
    CHECK_EQ(reentry.calls, 1);
    CHECK_EQ(reentry.why, RCGC_EINVAL);
    CHECK_EQ(reentry.counts, RCGC_EINVAL);
    CHECK_EQ(reentry.graph, RCGC_EINVAL);
    CHECK_EQ(reentry.by_type, RCGC_EINVAL);
    REQUIRE(rcgc_gc_callback_add(rt, callback_probe, NULL) == 0);
    CHECK_EQ(rcgc_gc_collect(rt, 0), 0);
    CHECK_EQ(reentry.calls, 2);
    CHECK_EQ(reentry.why, RCGC_EINVAL);
    rcgc_gc_callback_remove(rt, callback_probe, NULL);
    CHECK_EQ(rcgc_gc_check(rt), 0);
    /* a finalizer run by reference counting (no collection): allowed */
    f = t_new(rt, &t_fnode_type, 5);
    t_as(f)->on_finalize = finalizer_probe;
    rcgc_decref(rt, f);
    CHECK_EQ(reentry.calls, 3);
    CHECK_EQ(reentry.why, 0);
    CHECK_EQ(reentry.counts, 0);
    CHECK_EQ(reentry.graph, 0);
    rcgc_decref(rt, u);
    rcgc_decref(rt, n);
    rcgc_decref(rt, leaf);
    t_teardown(rt);
}

/* Out of memory at each allocation of every query: an error, nothing
 * allocated left, headers untouched. */
TEST(nomem_every_step)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *objs[RG_N];
    random_graph(rt, objs, 9);
    headers h = snap(objs, RG_N);
    for (int what = 0; what < 4; what++) {
        int failures = 0, done = 0;
        for (long k = 1; k < 200 && !done; k++) {
            rcgc_diag_path p;
            rcgc_diag_graph g;
            rcgc_diag_counts c;
            long live = t_alloc_state.live_blocks;
            t_alloc_state.fail_at = t_alloc_state.calls + k;
            int rc;
            switch (what) {
            case 0: rc = rcgc_diag_why_alive(rt, objs[10], NULL, &p); break;
            case 1: rc = rcgc_diag_referrers(rt, objs[10], 3, NULL, &g); break;
            case 2: rc = rcgc_diag_referents(rt, objs[10], 3, NULL, &g); break;
            default: rc = rcgc_diag_count_types(rt, &c); break;
            }
            int hit = t_alloc_state.failures > 0 &&
                      t_alloc_state.calls >= t_alloc_state.fail_at;
            t_alloc_state.fail_at = 0;
            if (rc == 0) {
                if (what == 0) rcgc_diag_path_free(rt, &p);
                else if (what == 3) rcgc_diag_counts_free(rt, &c);
                else rcgc_diag_graph_free(rt, &g);
                done = 1;
            } else {
                CHECK_EQ(rc, RCGC_ENOMEM);
                CHECK_EQ(t_alloc_state.live_blocks, live);
                failures++;
            }
            (void)hit;
        }
        CHECK(done);
        CHECK(failures >= 1 || t_pool_mode());
    }
    CHECK(same_headers(h, objs));
    CHECK_EQ(rcgc_gc_check(rt), 0);
    for (int i = 0; i < RG_N; i++) rcgc_decref(rt, objs[i]);
    t_teardown(rt);
}

/* A traverse that reports a reference it does not own: counted, not
 * fatal, and headers still restored. */
static int liar_on;

static int liar_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    t_nodeobj *n = (t_nodeobj *)self;
    for (rcgc_ssize i = 0; i < n->n; i++) {
        RCGC_VISIT(n->items[i]);
        if (liar_on) RCGC_VISIT(n->items[i]);
    }
    return 0;
}

TEST(inconsistent_traverse)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_type liar = t_node_type;
    liar.name = "liar";
    liar.traverse = liar_traverse;
    rcgc_object *a = t_new(rt, &liar, 1);
    rcgc_object *b = t_node(rt, 2);
    t_append_steal(rt, a, b); /* b: refcount 1, reported twice */
    rcgc_object *all[2] = {a, b};
    headers h = snap(all, 2);
    liar_on = 1;
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, b, NULL, &p) == 0);
    liar_on = 0;
    CHECK_EQ(p.inconsistent, 1);
    CHECK_EQ(p.n, 2); /* b is no root (its count reads -1, taken as 0) */
    CHECK(strstr(capture_path(&p, NULL, RCGC_DIAG_TEXT),
                  "1 object with fewer references") != NULL);
    rcgc_diag_path_free(rt, &p);
    CHECK(same_headers(h, all));
    rcgc_decref(rt, a);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* neighbourhoods                                                            */

TEST(graph_referrers)
{
    rcgc_runtime *rt = t_runtime();
    /* r1 -> m1 -> t, r2 -> m1, m2 -> t, m2 <-> m3 (garbage), t -> x */
    rcgc_object *t = t_node(rt, 0), *m1 = t_node(rt, 1), *m2 = t_node(rt, 2),
                *m3 = t_node(rt, 3), *r1 = t_node(rt, 4), *r2 = t_node(rt, 5),
                *x = t_node(rt, 6);
    t_append(rt, m1, t);
    t_append(rt, m1, t); /* twice: one edge */
    t_append(rt, m2, t);
    t_link2(rt, m2, m3);
    t_append_steal(rt, r1, m1);
    t_append(rt, r2, m1);
    t_append_steal(rt, t, x);
    rcgc_decref(rt, m2);
    rcgc_decref(rt, m3);
    rcgc_diag_graph g;
    REQUIRE(rcgc_diag_referrers(rt, t, 2, NULL, &g) == 0);
    CHECK_EQ(g.referrers, 1);
    REQUIRE(g.nnodes == 6);
    CHECK(g.nodes[0].obj == t);
    CHECK(g.nodes[0].flags & RCGC_DIAG_NODE_START);
    CHECK(g.nodes[0].flags & RCGC_DIAG_NODE_ROOT);
    CHECK_EQ(g.nodes[0].external, 1);
    CHECK_EQ(g.nodes[0].refcnt, 4);
    CHECK(g.nodes[1].obj == m1 && g.nodes[1].depth == 1);
    CHECK(g.nodes[2].obj == m2 && g.nodes[2].depth == 1);
    CHECK_EQ(g.nodes[2].external, 0);
    CHECK(!(g.nodes[2].flags & RCGC_DIAG_NODE_ROOT));
    CHECK(g.nodes[3].obj == m3 && g.nodes[3].depth == 2);
    CHECK(g.nodes[4].obj == r1 && g.nodes[4].depth == 2);
    CHECK(g.nodes[4].flags & RCGC_DIAG_NODE_ROOT);
    CHECK(g.nodes[5].obj == r2);
    /* Edges into the last level are not searched (objgraph does not
     * either): m2 -> m3 is left out. */
    CHECK_EQ(g.nedges, 5);
    rcgc_diag_options o = labelled();
    CHECK_STR(capture_graph(&g, &o, RCGC_DIAG_TEXT),
              "referrers of <node> \"#0\": 6 objects to depth 2, 5 references\n"
              "  #0   <node> \"#0\"  refcount 4, root: 1 external reference\n"
              "  #1     <node> \"#1\"  refcount 2\n"
              "  #2     <node> \"#2\"  refcount 1\n"
              "  #3       <node> \"#3\"  refcount 1\n"
              "  #4       <node> \"#4\"  refcount 1, root: 1 external reference\n"
              "  #5       <node> \"#5\"  refcount 1, root: 1 external reference\n"
              "references:\n"
              "  #1 -> #0 items[0]\n"
              "  #2 -> #0 items[0]\n"
              "  #3 -> #2 items[0]\n"
              "  #4 -> #1 items[0]\n"
              "  #5 -> #1 items[0]\n");
    const char *json = capture_graph(&g, &o, RCGC_DIAG_JSON);
    static const char json_head[] =
        "{\"kind\":\"referrers\",\"nodes\":[{\"id\":0,\"type\":\"node\","
        "\"label\":\"#0\",\"refcnt\":4,\"depth\":0,\"tracked\":true,"
        "\"external\":1,\"root\":true,\"start\":true,\"truncated\":false},";
    CHECK(strncmp(json, json_head, sizeof json_head - 1) == 0);
    CHECK_EQ(count_substr(json, "\"from\":"), 5);
    rcgc_diag_graph_free(rt, &g);
    /* max_nodes: the frontier node that lost referrers is marked */
    o.max_nodes = 3;
    REQUIRE(rcgc_diag_referrers(rt, t, 2, &o, &g) == 0);
    CHECK_EQ(g.nnodes, 3);
    CHECK(g.nodes[1].flags & RCGC_DIAG_NODE_TRUNCATED);
    rcgc_diag_graph_free(rt, &g);
    /* without externals */
    o.max_nodes = 0;
    o.flags |= RCGC_DIAG_NO_EXTERNALS;
    REQUIRE(rcgc_diag_referrers(rt, t, 1, &o, &g) == 0);
    CHECK_EQ(g.nnodes, 3);
    CHECK_EQ(g.nodes[0].external, -1);
    CHECK(!(g.nodes[0].flags & RCGC_DIAG_NODE_ROOT));
    rcgc_diag_graph_free(rt, &g);
    rcgc_decref(rt, r1);
    rcgc_decref(rt, r2);
    rcgc_decref(rt, t); /* m1 went with r1, r2: m2, m3, t, x are a cycle */
    CHECK_EQ(rcgc_gc_collect(rt, 2), 4);
    t_teardown(rt);
}

TEST(graph_referents)
{
    rcgc_runtime *rt = t_runtime();
    /* a -> b, a -> c, b -> d, c -> d, d -> a, d -> leaf */
    rcgc_object *a = t_node(rt, 0), *b = t_node(rt, 1), *c = t_node(rt, 2),
                *d = t_node(rt, 3), *leaf = t_leaf(rt, 4);
    t_append(rt, a, b);
    t_append(rt, a, c);
    t_append(rt, b, d);
    t_append(rt, c, d);
    t_append(rt, d, a);
    t_append(rt, d, leaf);
    rcgc_diag_graph g;
    REQUIRE(rcgc_diag_referents(rt, a, 2, NULL, &g) == 0);
    CHECK_EQ(g.referrers, 0);
    REQUIRE(g.nnodes == 4);
    CHECK(g.nodes[3].obj == d && g.nodes[3].depth == 2);
    CHECK(g.nodes[3].flags & RCGC_DIAG_NODE_TRUNCATED); /* at max depth */
    CHECK_EQ(g.nedges, 4);
    rcgc_diag_graph_free(rt, &g);
    REQUIRE(rcgc_diag_referents(rt, a, 3, NULL, &g) == 0);
    REQUIRE(g.nnodes == 5);
    CHECK(g.nodes[4].obj == leaf);
    CHECK(!(g.nodes[4].flags & RCGC_DIAG_NODE_TRACKED));
    CHECK_EQ(g.nedges, 6);
    for (rcgc_ssize i = 0; i < 4; i++) CHECK_EQ(g.nodes[i].external, 1);
    rcgc_diag_graph_free(rt, &g);
    REQUIRE(rcgc_diag_referents(rt, a, 0, NULL, &g) == 0);
    CHECK_EQ(g.nnodes, 1);
    CHECK(g.nodes[0].flags & RCGC_DIAG_NODE_TRUNCATED);
    rcgc_diag_graph_free(rt, &g);
    t_clear(rt, d);
    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    rcgc_decref(rt, d);
    rcgc_decref(rt, leaf);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* DOT                                                                       */

/* Labels with characters DOT must see escaped. */
static size_t nasty_label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    return (size_t)snprintf(buf, size, "say \"hi\" \\N {#%d}\n<x>", t_as(o)->id);
}

/* Nodes declared and edges between declared nodes, braces balanced. */
static void check_dot_structure(const char *dot, int nodes, int edges)
{
    CHECK(strncmp(dot, "digraph ", 8) == 0);
    CHECK_EQ(count_substr(dot, "{"), count_substr(dot, "}") );
    for (int i = 0; i < nodes; i++) {
        char decl[32];
        snprintf(decl, sizeof decl, "  n%d [label=", i);
        CHECK(strstr(dot, decl) != NULL);
    }
    CHECK_EQ(count_substr(dot, " -> n"), edges);
}

static int dot_checked; /* DOT files run through Graphviz */

static void run_dot(const char *dot, const char *stem)
{
    if (!rcgc_diag_have_dot()) {
        static int noted;
        if (!noted++)
            printf("note: Graphviz 'dot' is not installed: DOT output is "
                   "checked for structure only\n");
        return;
    }
    char in[256], svg[256];
    snprintf(in, sizeof in, "/tmp/rcgc_diag_test_%ld_%s.dot", (long)getpid(), stem);
    snprintf(svg, sizeof svg, "/tmp/rcgc_diag_test_%ld_%s.svg", (long)getpid(), stem);
    FILE *f = fopen(in, "w");
    REQUIRE(f != NULL);
    fputs(dot, f);
    fclose(f);
    CHECK_EQ(rcgc_diag_render(in, svg, "svg"), 0);
    FILE *s = fopen(svg, "r");
    CHECK(s != NULL);
    if (s != NULL) {
        char head[256] = {0};
        CHECK(fread(head, 1, sizeof head - 1, s) > 0);
        CHECK(strstr(head, "<svg") != NULL || strstr(head, "<?xml") != NULL);
        fclose(s);
    }
    remove(in);
    remove(svg);
    dot_checked++;
}

TEST(dot_output)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *target;
    rcgc_object *root = make_chain(rt, 3, &target);
    rcgc_object *extra = t_node(rt, 9);
    t_append(rt, extra, target);
    rcgc_diag_options o;
    rcgc_diag_options_init(&o);
    o.label = nasty_label;
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, target, NULL, &p) == 0);
    REQUIRE(p.n == 2);
    const char *dot = capture_path(&p, &o, RCGC_DIAG_DOT);
    check_dot_structure(dot, 2, 2); /* n0 -> n1 and outside -> n0 */
    CHECK(strstr(dot, "outside -> n0 [style=dashed, label=\"1\"]") != NULL);
    CHECK(strstr(dot, "say \\\"hi\\\" \\\\N {#9}\\n<x>") != NULL);
    CHECK(strstr(dot, "root: 1 external reference") != NULL);
    CHECK(strstr(dot, "fillcolor=\"#ff9e9e\"") != NULL); /* the target */
    run_dot(dot, "path");
    rcgc_diag_path_free(rt, &p);

    rcgc_diag_graph g;
    REQUIRE(rcgc_diag_referrers(rt, target, 3, NULL, &g) == 0);
    CHECK_EQ(g.nnodes, 5);
    dot = capture_graph(&g, &o, RCGC_DIAG_DOT);
    check_dot_structure(dot, 5, 4);
    CHECK_EQ(count_substr(dot, "root: 1 external"), 2);
    run_dot(dot, "graph");
    if (rcgc_diag_have_dot()) {
        char name[256];
        snprintf(name, sizeof name, "/tmp/rcgc_diag_test_%ld.svg", (long)getpid());
        CHECK_EQ(rcgc_diag_graph_save(&g, &o, name), 0);
        CHECK(access(name, R_OK) == 0);
        remove(name);
        strcat(name, ".dot");
        CHECK(access(name, R_OK) == 0);
        remove(name);
    }
    rcgc_diag_graph_free(rt, &g);
    if (rcgc_diag_have_dot()) CHECK_EQ(dot_checked, 2);
    rcgc_decref(rt, extra);
    rcgc_decref(rt, root);
    t_teardown(rt);
}

TEST(save_and_missing_dot)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *n = t_node(rt, 1);
    rcgc_diag_path p;
    REQUIRE(rcgc_diag_why_alive(rt, n, NULL, &p) == 0);
    char name[256];
    snprintf(name, sizeof name, "/tmp/rcgc_diag_test_%ld.json", (long)getpid());
    CHECK_EQ(rcgc_diag_path_save(&p, NULL, name), 0);
    FILE *f = fopen(name, "r");
    REQUIRE(f != NULL);
    char buf[64] = {0};
    CHECK(fread(buf, 1, sizeof buf - 1, f) > 0);
    fclose(f);
    CHECK(strncmp(buf, "{\"status\":\"rooted\"", 18) == 0);
    remove(name);
    CHECK_EQ(rcgc_diag_path_save(&p, NULL, "/tmp/x.unknown"), RCGC_EINVAL);
    CHECK_EQ(rcgc_diag_path_save(&p, NULL, "/nonexistent/dir/x.dot"), RCGC_EINVAL);
    /* Graphviz missing: a clear error code (and a message on stderr) */
    const char *old = getenv("RCGC_DOT");
    setenv("RCGC_DOT", "/nonexistent/bin/dot", 1);
    CHECK(!rcgc_diag_have_dot());
    snprintf(name, sizeof name, "/tmp/rcgc_diag_test_%ld.png", (long)getpid());
    CHECK_EQ(rcgc_diag_path_save(&p, NULL, name), RCGC_ENOTFOUND);
    strcat(name, ".dot"); /* the DOT file is still written */
    CHECK(access(name, R_OK) == 0);
    remove(name);
    /* a "dot" that fails */
    setenv("RCGC_DOT", "false", 1);
    CHECK_EQ(rcgc_diag_render("/dev/null", "/tmp/never.svg", "svg"), RCGC_EFAILED);
    if (old != NULL)
        setenv("RCGC_DOT", old, 1);
    else
        unsetenv("RCGC_DOT");
    CHECK_EQ(rcgc_diag_render(NULL, "x", "svg"), RCGC_EINVAL);
    rcgc_diag_path_free(rt, &p);
    rcgc_decref(rt, n);
    t_teardown(rt);
}

/* ------------------------------------------------------------------------ */
/* The enumeration and the index map                                          */

/* Walk which into out (at most max); the number returned. */
static int walk_into(rcgc_runtime *rt, int which, rcgc_object **out, int max)
{
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, which);
    int n = 0;
    for (rcgc_object *o; n < max && (o = rcgc__gcwalk_next(&w)) != NULL;) out[n++] = o;
    return n;
}

TEST(gcwalk_generations)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *got[16];
    CHECK_EQ(walk_into(rt, RCGC__GCWALK_ALL, got, 16), 0);
    rcgc_object *f[2] = {t_node(rt, 1), t_node(rt, 2)};
    rcgc_gc_freeze(rt);
    rcgc_object *c[2] = {t_node(rt, 3), t_node(rt, 4)};
    rcgc_gc_collect(rt, 1); /* c: generation 2 */
    rcgc_object *b[3] = {t_node(rt, 5), t_node(rt, 6), t_node(rt, 7)};
    rcgc_gc_collect(rt, 0); /* b: generation 1 */
    rcgc_object *a = t_node(rt, 8);
    rcgc_object *want[8] = {a, b[0], b[1], b[2], c[0], c[1], f[0], f[1]};
    int starts[5] = {0, 1, 4, 6, 8}; /* of generations 0, 1, 2, frozen */
    for (int g = 0; g <= RCGC__GCWALK_FROZEN; g++) {
        int n = walk_into(rt, g, got, 16);
        CHECK_EQ(n, starts[g + 1] - starts[g]);
        for (int i = 0; i < n && i < 8; i++) CHECK(got[i] == want[starts[g] + i]);
    }
    CHECK_EQ(walk_into(rt, RCGC__GCWALK_ALL, got, 16), 8);
    for (int i = 0; i < 8; i++) CHECK(got[i] == want[i]);
    /* an early stop is leaving the loop; a finished walk stays finished */
    CHECK_EQ(walk_into(rt, RCGC__GCWALK_ALL, got, 3), 3);
    CHECK(got[2] == b[1]);
    rcgc__gcwalk w;
    rcgc__gcwalk_init(&w, rt, 0);
    CHECK(rcgc__gcwalk_next(&w) == a);
    CHECK(rcgc__gcwalk_next(&w) == NULL);
    CHECK(rcgc__gcwalk_next(&w) == NULL);
    /* the object just returned may be untracked before the next call */
    rcgc__gcwalk_init(&w, rt, 1);
    int n = 0;
    for (rcgc_object *o; (o = rcgc__gcwalk_next(&w)) != NULL; n++) rcgc_object_untrack(rt, o);
    CHECK_EQ(n, 3);
    CHECK_EQ(walk_into(rt, 1, got, 16), 0);
    CHECK_EQ(walk_into(rt, RCGC__GCWALK_ALL, got, 16), 5);
    for (int i = 0; i < 3; i++) rcgc_object_track(rt, b[i]);
    rcgc_gc_unfreeze(rt);
    rcgc_decref(rt, a);
    for (int i = 0; i < 3; i++) rcgc_decref(rt, b[i]);
    for (int i = 0; i < 2; i++) {
        rcgc_decref(rt, c[i]);
        rcgc_decref(rt, f[i]);
    }
    t_teardown(rt);
}

/* Keys at addresses never dereferenced: base + i * stride. */
static const void *fake_key(uintptr_t base, size_t i, uintptr_t stride)
{
    return (const void *)(base + (uintptr_t)i * stride);
}

TEST(idxmap_small_and_large)
{
    static const size_t sizes[] = {0, 1, 2, 3, 7, 100, 255, 256, 257, 1000, 20000};
    static const uintptr_t strides[] = {16, 32, 48, 4096, 1u << 20, 4112};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        for (size_t ti = 0; ti < sizeof strides / sizeof *strides; ti++) {
            size_t n = sizes[si];
            uintptr_t base = (uintptr_t)0x7f1234560000ull, stride = strides[ti];
            void *block = calloc(rcgc__idxmap_bytes(n), 1);
            REQUIRE(block != NULL);
            rcgc__idxmap m;
            rcgc__idxmap_init(&m, block, n);
            int bad = 0;
            for (size_t i = 0; i < n; i++)
                bad |= rcgc__idxmap_add(&m, fake_key(base, i, stride), (uint32_t)(n - i)) != 0;
            CHECK_EQ(bad, 0);
            CHECK_EQ(rcgc__idxmap_add(&m, fake_key(base, n, stride), 0), -1); /* full */
            CHECK_EQ(m.count, n);
            for (size_t i = 0; i < n && !bad; i++)
                bad |= rcgc__idxmap_find(&m, fake_key(base, i, stride)) != (uint32_t)(n - i);
            for (size_t i = 0; i <= n && !bad; i++) /* between and after the keys */
                bad |= rcgc__idxmap_find(&m, fake_key(base + 8, i, stride)) != RCGC__IDXMAP_NONE ||
                       rcgc__idxmap_find(&m, fake_key(base, n + i, stride)) != RCGC__IDXMAP_NONE;
            CHECK_EQ(bad, 0);
            CHECK_EQ(rcgc__idxmap_find(&m, NULL), RCGC__IDXMAP_NONE);
            free(block);
        }
    }
}

TEST_MAIN(T(counts_exact), T(counts_merge_names), T(growth_peaks),
          T(growth_nomem), T(by_type), T(why_chain), T(why_shortest),
          T(why_cycles), T(why_untracked_container), T(why_c_local),
          T(why_frozen), T(why_unreachable), T(why_garbage_list),
          T(why_ephemeron), T(why_allocation_site), T(why_deep_chain), T(restored_exactly), T(errors),
          T(nomem_every_step), T(inconsistent_traverse), T(graph_referrers),
          T(graph_referents), T(dot_output), T(save_and_missing_dot),
          T(gcwalk_generations), T(idxmap_small_and_large))

/*
 * test_check.c - rcgc_check and the invariant checkers it runs: a healthy
 * runtime passes; then each structure is corrupted on purpose, through the
 * library's internal headers, and the test checks that its checker reports
 * that very violation (RCGC_ECORRUPT and the message on the debug stream),
 * then repairs it so that teardown sees a consistent runtime again.
 *
 *   collector lists   a wrong prev link, COLLECTING left set, a tracked
 *                     object at refcount 0 (core/check.c);
 *   weak references   a wrong prev link, an entry whose referent is another
 *                     object, a basic reference not at the head, a list
 *                     longer than the weak reference count (weak/weakref.c);
 *   weak containers   len, an internal reference's slot and owner, a stored
 *                     hash, index_used, an entry missing from the index
 *                     (weak/weakmap.c);
 *   tracer tables     the trace count, a side array's used count and slot,
 *                     a traceback's hash, the traceback count, the traced
 *                     bytes (trace/tracer_check.c).
 */
#include "test.h"

#include "core/internal.h"
#include "trace/tracer_internal.h"
#include "weak/weakmap_internal.h"

/* ---- running the checker with its report captured ---- */

/* rcgc_check with the debug stream in a temporary file; returns its result
 * and leaves the report in buf. */
static int check_report(rcgc_runtime *rt, char *buf, size_t size)
{
    FILE *f = tmpfile();
    FILE *old = rt->debug_stream;
    buf[0] = '\0';
    if (f == NULL) return -1;
    rt->debug_stream = f;
    int rc = rcgc_check(rt);
    rt->debug_stream = old;
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return rc;
}

/* 1 if rcgc_check fails with RCGC_ECORRUPT and reports needle. */
static int reports(rcgc_runtime *rt, const char *needle)
{
    char buf[4096];
    int rc = check_report(rt, buf, sizeof buf);
    if (rc == RCGC_ECORRUPT && strstr(buf, needle) != NULL) return 1;
    fprintf(stderr, "  rcgc_check returned %d, expected a report of \"%s\"; "
                    "it reported:\n%s\n", rc, needle, buf);
    return 0;
}

/* 1 if rcgc_check passes and reports nothing. */
static int clean(rcgc_runtime *rt)
{
    char buf[4096];
    int rc = check_report(rt, buf, sizeof buf);
    if (rc == 0 && buf[0] == '\0') return 1;
    fprintf(stderr, "  rcgc_check returned %d, expected 0; it reported:\n%s\n",
            rc, buf);
    return 0;
}

/* ---- types and runtimes ---- */

static int wnode_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    t_nodeobj *n = t_as(self);
    for (rcgc_ssize i = 0; i < n->n; i++) RCGC_VISIT(n->items[i]);
    return 0;
}

static void wnode_clear(rcgc_runtime *rt, rcgc_object *self)
{
    t_nodeobj *n = t_as(self);
    while (n->n > 0) {
        rcgc_object *item = n->items[--n->n];
        n->items[n->n] = NULL;
        rcgc_decref(rt, item);
    }
}

static void wnode_release(rcgc_runtime *rt, rcgc_object *self)
{
    rcgc_mem_free(rt, t_as(self)->items);
    t_as(self)->items = NULL;
}

/* A weakly referenceable GC node (tracked: every build's walk finds it). */
static const rcgc_type wnode_type = {
    .name = "wnode",
    .size = sizeof(t_nodeobj),
    .flags = RCGC_TYPE_GC | RCGC_TYPE_WEAKREF,
    .traverse = wnode_traverse,
    .clear = wnode_clear,
    .release = wnode_release};

static int noop_callback(rcgc_runtime *rt, rcgc_object *wr, rcgc_object *arg)
{
    (void)rt;
    (void)wr;
    (void)arg;
    return 0;
}

/* A runtime on the pool allocator (so that the tracer keeps side arrays),
 * whose raw memory the harness counts. */
static rcgc_runtime *pool_runtime(void)
{
    rcgc_config c;
    rcgc_config_init(&c);
    c.gc_enabled = 0;
    t_alloc_release(&t_alloc_state);
    memset(&t_alloc_state, 0, sizeof t_alloc_state);
    c.heap.raw = t_allocator(&t_alloc_state);
    rcgc_runtime *rt = rcgc_runtime_new(&c);
    if (rt == NULL) t_fail(__FILE__, __LINE__, "rcgc_runtime_new");
    return rt;
}

/* ---- a healthy runtime ---- */

TEST(healthy_runtime_passes)
{
    rcgc_runtime *rt = pool_runtime();
    REQUIRE(rt != NULL);
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    CHECK(clean(rt));
    rcgc_object *keep = rcgc_object_new(rt, &wnode_type);
    REQUIRE(keep != NULL);
    rcgc_object_track(rt, keep);
    rcgc_object *set = rcgc_wset_new(rt), *vmap = rcgc_wvmap_new(rt),
                *kmap = rcgc_wkmap_new(rt);
    REQUIRE(set != NULL && vmap != NULL && kmap != NULL);
    rcgc_object *refs[40];
    for (int i = 0; i < 40; i++) {
        rcgc_object *o = rcgc_object_new(rt, &wnode_type);
        REQUIRE(o != NULL);
        rcgc_object_track(rt, o);
        refs[i] = rcgc_weakref_new(rt, o, i % 2 ? noop_callback : NULL, NULL);
        CHECK(refs[i] != NULL);
        CHECK_EQ(rcgc_wset_add(rt, set, o), 0);
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        CHECK_EQ(rcgc_wvmap_set(rt, vmap, key, strlen(key), o), 0);
        CHECK_EQ(rcgc_wkmap_set(rt, kmap, o, keep), 0);
        if (i % 3 == 0)
            CHECK_EQ(t_append(rt, keep, o), 0); /* survives */
        else if (i % 3 == 1)
            t_link2(rt, o, o); /* a cycle: dies in the collection */
        rcgc_decref(rt, o);
    }
    void *big = rcgc_mem_malloc(rt, 100000); /* a trace in the table */
    CHECK(big != NULL);
    CHECK(clean(rt));
    rcgc_gc_collect(rt, 2);
    CHECK(clean(rt));
    for (int i = 0; i < 40; i++) rcgc_xdecref(rt, refs[i]);
    rcgc_mem_free(rt, big);
    rcgc_decref(rt, set);
    rcgc_decref(rt, vmap);
    rcgc_decref(rt, kmap);
    rcgc_decref(rt, keep);
    CHECK(clean(rt));
    t_teardown(rt);
}

/* ---- the collector's lists ---- */

TEST(gc_lists_corrupted)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *a = t_node(rt, 1), *b = t_node(rt, 2), *c = t_node(rt, 3);
    REQUIRE(a != NULL && b != NULL && c != NULL);
    gc_head *g = gc_head_of(b);
    gc_head *prev = gc_prev(g);

    gc_set_prev(g, g);
    CHECK(reports(rt, "prev link does not match"));
    gc_set_prev(g, prev);
    CHECK(clean(rt));

    gc_set_collecting(g);
    CHECK(reports(rt, "COLLECTING left set"));
    gc_clear_collecting(g);
    CHECK(clean(rt));

    intptr_t refcnt = b->refcnt;
    b->refcnt = 0;
    CHECK(reports(rt, "non-positive refcount"));
    b->refcnt = refcnt;
    CHECK(clean(rt));

    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
    rcgc_decref(rt, c);
    t_teardown(rt);
}

/* ---- weak references ---- */

TEST(weakref_lists_corrupted)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *x = rcgc_object_new(rt, &wnode_type);
    rcgc_object *y = rcgc_object_new(rt, &wnode_type);
    REQUIRE(x != NULL && y != NULL);
    rcgc_object_track(rt, x);
    rcgc_object_track(rt, y);
    rcgc_object *basic = rcgc_weakref_new(rt, x, NULL, NULL);
    rcgc_object *other = rcgc_weakref_new(rt, x, noop_callback, NULL);
    REQUIRE(basic != NULL && other != NULL);
    weakref *w1 = (weakref *)basic, *w2 = (weakref *)other;
    REQUIRE(*weaklist_of(x) == w1 && w1->next == w2 && w2->prev == w1);
    CHECK(clean(rt));

    w2->prev = NULL; /* its predecessor still points at it */
    CHECK(reports(rt, "prev link does not match"));
    w2->prev = w1;
    CHECK(clean(rt));

    w2->referent = y; /* in x's list, pointing at y */
    CHECK(reports(rt, "entry's referent is another object"));
    w2->referent = x;
    CHECK(clean(rt));

    w2->callback = NULL; /* now basic, but second */
    CHECK(reports(rt, "basic reference not at the head"));
    w2->callback = noop_callback;
    CHECK(clean(rt));

    rt->weakrefs--; /* x's list now holds more than every weak reference */
    CHECK(reports(rt, "longer than the number of weak references"));
    rt->weakrefs++;
    CHECK(clean(rt));

    rcgc_decref(rt, basic);
    rcgc_decref(rt, other);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    t_teardown(rt);
}

/* ---- weak containers ---- */

/* The internal weak reference of the container's entry ix. */
static weakref_internal *entry_ref(rcgc_object *container, rcgc_ssize ix)
{
    return ((wcontainer *)container)->entries[ix].wr;
}

TEST(weak_containers_corrupted)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_object *set = rcgc_wset_new(rt);
    rcgc_object *x = rcgc_object_new(rt, &wnode_type);
    rcgc_object *y = rcgc_object_new(rt, &wnode_type);
    REQUIRE(set != NULL && x != NULL && y != NULL);
    CHECK_EQ(rcgc_wset_add(rt, set, x), 0);
    CHECK_EQ(rcgc_wset_add(rt, set, y), 0);
    wcontainer *c = (wcontainer *)set;
    REQUIRE(c->len == 2 && c->nentries == 2);
    CHECK(clean(rt));

    c->len--;
    CHECK(reports(rt, "len is not the number of live entries"));
    c->len++;
    CHECK(clean(rt));

    entry_ref(set, 1)->slot = 0;
    CHECK(reports(rt, "slot is not its entry"));
    entry_ref(set, 1)->slot = 1;
    CHECK(clean(rt));

    entry_ref(set, 0)->wr.owner = NULL;
    CHECK(reports(rt, "owner is not the container"));
    entry_ref(set, 0)->wr.owner = c;
    CHECK(clean(rt));

    c->entries[0].hash ^= 1;
    CHECK(reports(rt, "stored hash is wrong"));
    c->entries[0].hash ^= 1;
    CHECK(clean(rt));

    c->index_used++;
    CHECK(reports(rt, "index_used"));
    c->index_used--;
    CHECK(clean(rt));

    rcgc_ssize at = -1;
    for (rcgc_ssize i = 0; i < c->index_size && at < 0; i++)
        if (c->index[i] == 1) at = i;
    REQUIRE(at >= 0);
    c->index[at] = IX_DUMMY; /* entry 1 can no longer be found */
    CHECK(reports(rt, "index does not hold every live entry once"));
    c->index[at] = 1;
    CHECK(clean(rt));

    rcgc_decref(rt, set);
    rcgc_decref(rt, x);
    rcgc_decref(rt, y);
    t_teardown(rt);
}

/* ---- the tracer's tables ---- */

/* The first side array, or NULL. */
static side *first_side(struct rcgc_tracer *tr)
{
    for (size_t i = 0; i < tr->side_cap; i++)
        if (tr->sides[i] != NULL) return tr->sides[i];
    return NULL;
}

static void corrupt_side(rcgc_runtime *rt, side *sd)
{
    sd->used++;
    CHECK(reports(rt, "side array's used count is wrong"));
    sd->used--;
    CHECK(clean(rt));

    uint32_t k = 0;
    while (k < sd->nslots && sd->slot[k] == 0) k++;
    REQUIRE(k < sd->nslots);
    uint32_t v = sd->slot[k];
    sd->slot[k] = (uint32_t)(rt->tracer->tb_count + 5) << 6 | (v & 63u);
    CHECK(reports(rt, "side array slot names no traceback"));
    sd->slot[k] = v;
    CHECK(clean(rt));
}

TEST(tracer_tables_corrupted)
{
    rcgc_runtime *rt = pool_runtime();
    REQUIRE(rt != NULL);
    REQUIRE(rcgc_trace_start(rt, NULL) == 0);
    void *small[64];
    for (int i = 0; i < 64; i++) small[i] = RCGC_MALLOC(rt, 24);
    void *big = RCGC_MALLOC(rt, 100000); /* not a pool block: the table */
    REQUIRE(big != NULL);
    struct rcgc_tracer *tr = rt->tracer;
    REQUIRE(tr != NULL && tr->count >= 1 && tr->tb_count >= 2);
    CHECK(clean(rt));

    tr->count++;
    CHECK(reports(rt, "trace count is not the table's used slots"));
    tr->count--;
    CHECK(clean(rt));

    side *sd = first_side(tr);
    if (RCGC_DEBUG == 0) CHECK(sd != NULL); /* pool blocks start the blocks */
    if (sd != NULL) corrupt_side(rt, sd);

    ttb *tb = tr->by_id[1];
    tb->hash ^= 1;
    CHECK(reports(rt, "traceback's hash is wrong"));
    tb->hash ^= 1;
    CHECK(clean(rt));

    tr->tb_count++;
    CHECK(reports(rt, "traceback count is not the table's"));
    tr->tb_count--;
    CHECK(clean(rt));

    tr->current += 1000;
    CHECK(reports(rt, "traced bytes are not the sum of the traces' sizes"));
    tr->current -= 1000;
    CHECK(clean(rt));

    for (int i = 0; i < 64; i++) rcgc_mem_free(rt, small[i]);
    rcgc_mem_free(rt, big);
    CHECK(clean(rt));
    rcgc_trace_stop(rt);
    t_teardown(rt);
}

TEST_MAIN(T(healthy_runtime_passes), T(gc_lists_corrupted),
          T(weakref_lists_corrupted), T(weak_containers_corrupted),
          T(tracer_tables_corrupted))

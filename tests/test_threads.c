/*
 * test_threads.c - runtimes in concurrent threads.  A runtime is used by one
 * thread at a time and runtimes share nothing, so two threads, each with
 * its own runtime (and its own counting allocator), may build and collect
 * cyclic garbage with finalizers at the same time.  Run under
 * ThreadSanitizer (-DRCGC_SANITIZE=thread) this finds any state the library
 * shares between runtimes.
 *
 * The threads only record what they see; the checks run in the main thread
 * after the join (the harness's failure counter is not thread-safe).
 */
#define _GNU_SOURCE /* mkdtemp, SOCK_NONBLOCK */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"
#include "rcgc_serve.h"
#include "rcgc_trace.h"

#define NTHREADS 2

struct worker {
    int index;
    t_alloc alloc;       /* this thread's counting allocator */
    long iterations;
    /* what happened */
    long created;        /* finalizer objects created */
    long finalized;      /* finalizer calls */
    long collected_cb;   /* "stop" callbacks' collected, summed */
    long explicit_found; /* results of explicit rcgc_gc_collect calls */
    long resurrected;
    long inits, dels;    /* the trashcan_threads invariant */
    long explicit_calls; /* rcgc_gc_collect calls */
    long auto_collections;
    /* what went wrong */
    long bad;            /* failed expectations, with the first one named */
    const char *first_bad;
    long bad_line;
    int teardown_rc;
    rcgc_teardown_report report;
    long live_blocks;
    size_t live_bytes;
    rcgc_object *holder; /* survivors of resurrecting finalizers */
};

#define EXPECT(w, cond)                                                       \
    do {                                                                      \
        if (!(cond)) {                                                        \
            if ((w)->bad++ == 0) {                                            \
                (w)->first_bad = #cond;                                       \
                (w)->bad_line = __LINE__;                                     \
            }                                                                 \
        }                                                                     \
    } while (0)

static int h_finalize(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    struct worker *w = ctx;
    w->finalized++;
    /* Every 7th object resurrects itself once (PEP 442: the second death
     * does not call the finalizer again). */
    if (t_as(self)->id % 7 == 3 && w->holder != NULL) {
        if (t_append(rt, w->holder, self) == 0) w->resurrected++;
    }
    /* Every 11th allocates a fresh cycle while the collector runs. */
    if (t_as(self)->id % 11 == 5) {
        rcgc_object *n = t_node(rt, -1);
        if (n != NULL) {
            t_append(rt, n, n);
            rcgc_decref(rt, n);
        }
    }
    return 0;
}

static int on_gc(rcgc_runtime *rt, rcgc_gc_event event,
                 const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    struct worker *w = ctx;
    if (event == RCGC_GC_STOP) w->collected_cb += info->collected;
    return 0;
}

static int h_del(rcgc_runtime *rt, rcgc_object *self, void *ctx)
{
    (void)rt;
    (void)self;
    struct worker *w = ctx;
    w->dels++;
    return 0;
}

static rcgc_object *fnode(rcgc_runtime *rt, struct worker *w, int id,
                          t_hook hook)
{
    rcgc_object *o = t_new(rt, &t_fnode_type, id);
    if (o == NULL) return NULL;
    t_as(o)->on_finalize = hook;
    t_as(o)->ctx = w;
    return o;
}

/* test_gc.py test_trashcan_threads' make_nested: x = C([]); 60 times
 * x = [C([x])]; del x -- C's __del__ counts. */
static void make_nested(rcgc_runtime *rt, struct worker *w)
{
    rcgc_object *x = fnode(rt, w, 0, h_del);
    if (x == NULL) {
        EXPECT(w, x != NULL);
        return;
    }
    w->inits++;
    for (int i = 0; i < 60; i++) {
        rcgc_object *c = fnode(rt, w, i, h_del);
        rcgc_object *l = t_node(rt, i);
        if (c == NULL || l == NULL) {
            EXPECT(w, c != NULL && l != NULL);
            return;
        }
        w->inits++;
        t_append_steal(rt, c, x);
        t_append_steal(rt, l, c);
        x = l;
    }
    rcgc_decref(rt, x);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.threshold[0] = 100 + 37 * w->index; /* automatic collections too */
    cfg.allocator = t_allocator(&w->alloc);
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) {
        EXPECT(w, rt != NULL);
        return NULL;
    }
    EXPECT(w, rcgc_gc_callback_add(rt, on_gc, w) == 0);
    w->holder = t_node(rt, -2);
    EXPECT(w, w->holder != NULL);
    unsigned seed = 12345u; /* the same work in every thread */
    int id = 0;
    for (long it = 0; it < w->iterations; it++) {
        /* Rings of 1..6 finalizer objects, with chords, all dropped. */
        for (int r = 0; r < 10; r++) {
            seed = seed * 1103515245u + 12345u;
            int len = 1 + (int)((seed >> 16) % 6);
            rcgc_object *ring[6];
            for (int k = 0; k < len; k++) {
                ring[k] = fnode(rt, w, id++, h_finalize);
                EXPECT(w, ring[k] != NULL);
                if (ring[k] == NULL) return NULL;
                w->created++;
            }
            for (int k = 0; k < len; k++) {
                t_append(rt, ring[k], ring[(k + 1) % len]);
                if ((seed >> (k + 3)) & 1) t_append(rt, ring[k], ring[0]);
            }
            for (int k = 0; k < len; k++) rcgc_decref(rt, ring[k]);
        }
        if (it % 3 == 0) {
            rcgc_ssize n = rcgc_gc_collect(rt, (int)(it % 9) / 3);
            EXPECT(w, n >= 0);
            w->explicit_found += n;
            w->explicit_calls++;
        }
        if (it % 10 == 9) t_clear(rt, w->holder); /* second deaths */
        make_nested(rt, w);
        EXPECT(w, rcgc_gc_check(rt) == 0);
    }
    /* Finish: release the survivors, collect everything. */
    rcgc_gc_disable(rt);
    rcgc_object *h = w->holder;
    w->holder = NULL;
    t_clear(rt, h);
    rcgc_decref(rt, h);
    for (int i = 0; i < 3; i++) {
        w->explicit_found += rcgc_gc_collect(rt, 2);
        w->explicit_calls++;
    }
    rcgc_gc_stats st[3];
    rcgc_gc_get_stats(rt, st);
    w->auto_collections = st[0].collections + st[1].collections +
                          st[2].collections - w->explicit_calls;
    rcgc_runtime_stats rs;
    rcgc_runtime_get_stats(rt, &rs);
    EXPECT(w, rs.objects == 0);
    w->teardown_rc = rcgc_runtime_free(rt, &w->report);
    w->live_blocks = w->alloc.live_blocks;
    w->live_bytes = w->alloc.live_bytes;
    t_alloc_release(&w->alloc);
    return NULL;
}

static void check_worker(const struct worker *w)
{
    if (w->bad)
        t_fail(__FILE__, (int)w->bad_line, "thread %d: %ld failed expectations, "
               "first: %s", w->index, w->bad, w->first_bad);
    CHECK_EQ(w->finalized, w->created); /* each exactly once */
    CHECK(w->resurrected > 0);
    CHECK_EQ(w->inits, w->dels);
    CHECK_EQ(w->inits, w->iterations * 61);
    CHECK(w->explicit_found > 0);
    CHECK(w->collected_cb > 0);
    CHECK(w->auto_collections > 0);
    CHECK_EQ(w->teardown_rc, 0);
    CHECK_EQ(w->report.alive, 0);
    CHECK_EQ(w->report.collected, 0);
    CHECK_EQ(w->live_blocks, 0);
    CHECK_EQ(w->live_bytes, 0);
}

/* Two threads, each with its own runtime, building and collecting cyclic
 * garbage with finalizers (resurrecting, allocating) concurrently, with
 * automatic collections at different thresholds, and test_gc.py
 * test_trashcan_threads' nested structures (spec §9.1 item 17: every object
 * finalized exactly once, len(C.inits) == len(C.dels)).  Both finish with
 * zero leaks. */
TEST(two_threads_two_runtimes)
{
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].index = i;
        w[i].iterations = t_scale(3000);
        if (w[i].iterations < 10) w[i].iterations = 10;
        REQUIRE(pthread_create(&th[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) check_worker(&w[i]);
    /* Same work, same numbers: the runtimes did not disturb each other
     * (only the thresholds differ, which moves work between automatic and
     * explicit collections but not the totals). */
    CHECK_EQ(w[0].created, w[1].created);
    CHECK_EQ(w[0].finalized, w[1].finalized);
    CHECK_EQ(w[0].inits, w[1].inits);
}

/* A runtime handed from one thread to another (one at a time, with the
 * join as the synchronisation) works, and is torn down by the second. */
struct handoff {
    rcgc_runtime *rt;
    t_alloc alloc;
    rcgc_object *keep;
    rcgc_ssize found;
    int rc;
};

static void *handoff_first(void *arg)
{
    struct handoff *h = arg;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_enabled = 0;
    cfg.allocator = t_allocator(&h->alloc);
    h->rt = rcgc_runtime_new(&cfg);
    if (h->rt == NULL) return NULL;
    h->keep = t_node(h->rt, 1);
    for (int i = 0; i < 50; i++) {
        rcgc_object *a = t_node(h->rt, i), *b = t_node(h->rt, i);
        if (a == NULL || b == NULL) return NULL;
        t_link2(h->rt, a, b);
        rcgc_decref(h->rt, a);
        rcgc_decref(h->rt, b);
    }
    return NULL;
}

static void *handoff_second(void *arg)
{
    struct handoff *h = arg;
    h->found = rcgc_gc_collect(h->rt, 2);
    rcgc_decref(h->rt, h->keep);
    h->rc = rcgc_runtime_free(h->rt, NULL);
    return NULL;
}

TEST(runtime_handed_between_threads)
{
    struct handoff h;
    memset(&h, 0, sizeof h);
    pthread_t t1, t2;
    REQUIRE(pthread_create(&t1, NULL, handoff_first, &h) == 0);
    pthread_join(t1, NULL);
    REQUIRE(h.rt != NULL && h.keep != NULL);
    REQUIRE(pthread_create(&t2, NULL, handoff_second, &h) == 0);
    pthread_join(t2, NULL);
    CHECK_EQ(h.found, 100);
    CHECK_EQ(h.rc, 0);
    CHECK_EQ(h.alloc.live_blocks, 0);
    CHECK_EQ(h.alloc.live_bytes, 0);
    t_alloc_release(&h.alloc);
}

/* ---- the whole library per thread ---- */

/* What one thread of the next test saw. */
struct full {
    int index;
    t_alloc alloc;        /* the heap's raw domain: pool state, big blocks */
    long rounds;
    long answers;         /* stats answers read from the endpoint */
    long entries_seen;    /* weak entries alive when counted */
    long bad;
    const char *first_bad;
    long bad_line;
    int teardown_rc;
    rcgc_teardown_report report;
    long live_blocks;
};

/* One request to the thread's own endpoint: connect, send, then poll the
 * server (this thread is its program loop) until the answer is complete.
 * 1 when the answer was {"ok":true,...}. */
static int ask_stats(rcgc_serve *srv, const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return 0;
    }
    static const char req[] = "{\"cmd\":\"stats\",\"token\":\"threads-token-0123\"}\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return 0;
    }
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < 2000 && len < sizeof buf - 1; i++) {
        rcgc_serve_poll(srv, 5);
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, MSG_DONTWAIT);
        if (r > 0) len += (size_t)r;
        else if (r == 0 || (errno != EAGAIN && errno != EINTR)) break;
        if (len > 0 && buf[len - 1] == '\n') break;
    }
    close(fd);
    buf[len] = 0;
    static const char ok[] = "{\"ok\":true,\"cmd\":\"stats\"";
    return strncmp(buf, ok, sizeof ok - 1) == 0;
}

static void *full_work(void *arg)
{
    struct full *w = arg;
    char dir[64], path[96];
    snprintf(dir, sizeof dir, "/tmp/rcgc-threads-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        EXPECT(w, !"mkdtemp");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/sock", dir);
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.threshold[0] = 50 + 13 * w->index;
    cfg.heap.raw = t_allocator(&w->alloc); /* the pool allocator over it */
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    EXPECT(w, rt != NULL);
    if (rt == NULL) return NULL;
    EXPECT(w, rcgc_trace_start(rt, NULL) == 0);
    rcgc_serve_config scfg;
    rcgc_serve_config_init(&scfg);
    scfg.socket_path = path;
    scfg.token = "threads-token-0123";
    rcgc_serve *srv = NULL;
    EXPECT(w, rcgc_serve_start(rt, &scfg, &srv, NULL, 0) == 0);
    rcgc_object *vmap = rcgc_wvmap_new(rt), *set = rcgc_wset_new(rt);
    EXPECT(w, vmap != NULL && set != NULL);
    rcgc_object *keep[8] = {NULL};
    for (long round = 0; round < w->rounds && vmap != NULL && set != NULL; round++) {
        /* churn: weakly held nodes, some in cycles, most dropped at once */
        for (int k = 0; k < 16; k++) {
            rcgc_object *n = t_wnode(rt, (int)(round * 16 + k));
            EXPECT(w, n != NULL);
            if (n == NULL) break;
            char key[32];
            int klen = snprintf(key, sizeof key, "k%d", k);
            EXPECT(w, rcgc_wvmap_set(rt, vmap, key, (size_t)klen, n) == 0);
            EXPECT(w, rcgc_wset_add(rt, set, n) == 0);
            if (k % 3 == 0) t_append(rt, n, n); /* dies in a collection */
            if (k % 5 == 0) {
                rcgc_xdecref(rt, keep[k % 8]);
                keep[k % 8] = n; /* lives on */
            } else {
                rcgc_decref(rt, n);
            }
        }
        w->entries_seen += rcgc_weak_len(rt, set);
        if (round % 25 == 0) w->answers += ask_stats(srv, path);
        if (round % 10 == 0) EXPECT(w, rcgc_check(rt) == 0);
    }
    rcgc_serve_stop(srv);
    for (int i = 0; i < 8; i++) rcgc_xdecref(rt, keep[i]);
    rcgc_xdecref(rt, vmap);
    rcgc_xdecref(rt, set);
    rcgc_gc_collect(rt, 2);
    EXPECT(w, rcgc_check(rt) == 0);
    rcgc_trace_stop(rt);
    w->teardown_rc = rcgc_runtime_free(rt, &w->report);
    w->live_blocks = w->alloc.live_blocks;
    t_alloc_release(&w->alloc);
    EXPECT(w, rmdir(dir) == 0); /* the server removed its socket */
    return NULL;
}

/* Two threads, each with a runtime on the default pool allocator, weak
 * containers under churn, the allocation tracer, automatic collections and
 * a diagnostics endpoint that the same thread asks for statistics: every
 * layer of the library at once in two threads (under ThreadSanitizer in CI,
 * make test-tsan).  Runtimes share nothing, so nothing may race. */
TEST(two_threads_whole_library)
{
    struct full w[NTHREADS];
    pthread_t th[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].index = i;
        w[i].rounds = t_scale(400);
        if (w[i].rounds < 26) w[i].rounds = 26;
        REQUIRE(pthread_create(&th[i], NULL, full_work, &w[i]) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].bad)
            t_fail(__FILE__, (int)w[i].bad_line, "thread %d: %ld failed "
                   "expectations, first: %s", i, w[i].bad, w[i].first_bad);
        CHECK(w[i].answers >= 2);
        CHECK_EQ(w[i].answers, (w[i].rounds + 24) / 25);
        CHECK(w[i].entries_seen > 0);
        CHECK_EQ(w[i].teardown_rc, 0);
        CHECK_EQ(w[i].report.alive, 0);
        CHECK_EQ(w[i].live_blocks, 0);
    }
}

TEST_MAIN(T(two_threads_two_runtimes), T(runtime_handed_between_threads),
          T(two_threads_whole_library))

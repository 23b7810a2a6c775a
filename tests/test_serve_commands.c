/*
 * test_serve_commands.c - the live diagnostics endpoint, part 2: every
 * command and JSON escaping, trace windows (finding a leak, busy, user
 * tracing left on, cancelled), stop with everything pending, integration
 * with the program's poll loop, the request parser on a table and on
 * mutations, its cost; a second instance on the same paths, re-entry from
 * the command hook, a trickling reader, accept4 out of descriptors,
 * callbacks freeing objects during "why", and cut answers.  Part 1 (sockets,
 * authentication, hostile clients) is test_serve.c.  The server and its
 * clients run in this one thread: a client sends, then the test calls
 * rcgc_serve_poll until the answer is there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve_internal.h"
#include "rcgc_serve.h"
#include "test.h"
#include "serve_fixtures.h"

/* ---- commands ---- */

static const rcgc_type *widget_type(void)
{
    static rcgc_type w;
    if (w.name == NULL) {
        w = t_node_type;
        w.name = "widget";
    }
    return &w;
}

static size_t widget_label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    return (size_t)snprintf(buf, size, "%s #%d", o->type->name, t_as(o)->id);
}

static int app_command(void *ctx, const char *cmd, const char *arg, char *msg,
                       size_t msglen)
{
    int *calls = ctx;
    (*calls)++;
    if (strcmp(cmd, "echo") == 0) {
        snprintf(msg, msglen, "echo: %s", arg);
        return 0;
    }
    if (strcmp(cmd, "fail") == 0) {
        snprintf(msg, msglen, "it failed \"%s\"", arg);
        return -1;
    }
    return -1;
}

TEST(commands)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    rcgc_object *root = t_node(rt, 1);
    rcgc_object *mid = t_node(rt, 2);
    t_append(rt, root, mid);
    for (int i = 0; i < 5; i++) {
        rcgc_object *w = t_new(rt, widget_type(), 100 + i);
        t_append_steal(rt, mid, w);
    }
    rcgc_decref(rt, mid);
    int calls = 0;
    rcgc_serve_config cfg;
    base_config(&cfg);
    cfg.diag.label = widget_label;
    cfg.command = app_command;
    cfg.command_ctx = &calls;
    rcgc_serve *srv = start_cfg(rt, &cfg);
    REQUIRE(srv != NULL);

    char *a = askf(srv, "\"cmd\":\"stats\"");
    CHECK_HAS(a, "\"runtime\":{\"objects\":7,");
    CHECK_HAS(a, "\"tracked\":7");
    CHECK_HAS(a, "\"threshold\":[700,10,10]");
    CHECK_HAS(a, "\"tracing\":false");
    CHECK_HAS(a, "\"server\":{\"accepted\":1,");
    /* per generation: wall time, then the collecting thread's CPU time
     * (no collection ran yet: both 0) */
    CHECK_HAS(a, "\"uncollectable\":0,\"total_ns\":0,\"cpu_ns\":0}");
    CHECK_JSON(a);
    free(a);

    /* the counting allocator replaces the pool allocator: no statistics */
    a = askf(srv, "\"cmd\":\"alloc\"");
    CHECK_HAS(a, "\"heap_blocks\":{\"raw\":0,\"mem\":2,\"obj\":7},\"pymalloc\":null}");
    CHECK_JSON(a);
    free(a);

    size_t wsize = rcgc_sizeof(t_as(root)->items[0]->type == widget_type()
                                   ? t_as(root)->items[0] : t_as(t_as(root)->items[0])->items[0]);
    size_t nsize = rcgc_sizeof(root);
    char want[400];
    snprintf(want, sizeof want,
             "\"total\":7,\"types\":2,\"shown\":2,\"items\":[{\"type\":\"widget\","
             "\"count\":5,\"bytes\":%zu},{\"type\":\"node\",\"count\":2,\"bytes\":%zu}]",
             5 * wsize, 2 * nsize);
    a = askf(srv, "\"cmd\":\"counts\"");
    CHECK_HAS(a, want);
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"counts\",\"top\":1");
    snprintf(want, sizeof want, "\"shown\":1,\"items\":[{\"type\":\"widget\",\"count\":5,"
                                "\"bytes\":%zu}]}", 5 * wsize);
    CHECK_HAS(a, want);
    free(a);

    /* what holds the memory: the root node retains everything */
    a = askf(srv, "\"cmd\":\"retained\",\"top\":2");
    snprintf(want, sizeof want,
             "{\"ok\":true,\"cmd\":\"retained\",\"objects\":7,\"reachable\":7,\"roots\":1,"
             "\"total_size\":%zu,\"unreachable\":0,\"unreachable_size\":0,\"items\":[{\"type\":\"node\",",
             2 * nsize + 5 * wsize);
    CHECK_HAS(a, want);
    CHECK_HAS(a, "\"label\":\"node #1\",");
    snprintf(want, sizeof want, "\"retained_size\":%zu,\"retained_objects\":7,", 2 * nsize + 5 * wsize);
    CHECK_HAS(a, want);
    CHECK_HAS(a, "\"label\":\"node #2\",");
    CHECK_HAS(a, "\"depth\":2,\"dominator\":0,\"root\":false}],\"types\":[{\"type\":\"node\",\"count\":2,");
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"retained\",\"top\":0");
    CHECK_HAS(a, "\"top\\\" must be 1..10000");
    free(a);
    a = askf(srv, "\"cmd\":\"retained\",\"path\":\"x\"");
    CHECK_HAS(a, "\\\"retained\\\" does not take \\\"path\\\"");
    free(a);
    a = askf(srv, "\"cmd\":\"heapsnapshot\",\"path\":\"h.heapsnapshot\"");
    CHECK_HAS(a, "heap snapshot files are disabled");
    free(a);

    a = askf(srv, "\"cmd\":\"why\",\"type\":\"widget\",\"limit\":2");
    CHECK_HAS(a, "\"type\":\"widget\",\"objects\":5,\"shown\":2,\"results\":[");
    CHECK_HAS(a, "\"status\":\"rooted\",\"length\":3,\"root_external\":1");
    CHECK_HAS(a, "\"label\":\"node #1\"");
    CHECK_HAS(a, "\"label\":\"widget #100\",\"edge\":\"[0]\"");
    CHECK_HAS(a, "\"label\":\"widget #101\",\"edge\":\"[1]\"");
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"why\",\"type\":\"nosuch\"");
    CHECK_HAS(a, "\"objects\":0,\"shown\":0,\"results\":[]");
    free(a);

    a = askf(srv, "\"cmd\":\"help\"");
    CHECK_HAS(a, "\"commands\":[");
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"echo\",\"arg\":\"h\\u00e9llo \\\"x\\\"\"");
    CHECK_HAS(a, "{\"ok\":true,\"cmd\":\"echo\",\"message\":\"echo: h\xc3\xa9llo \\\"x\\\"\"}");
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"fail\",\"arg\":\"z\"");
    CHECK_HAS(a, "{\"ok\":false,\"error\":\"it failed \\\"z\\\"\"}");
    free(a);
    a = askf(srv, "\"cmd\":\"other\"");
    CHECK_HAS(a, "unknown command \\\"other\\\"");
    free(a);
    a = askf(srv, "\"cmd\":\"echo\",\"seconds\":1");
    CHECK_HAS(a, "does not take \\\"seconds\\\"");
    free(a);
    CHECK_EQ(calls, 3);

    rcgc_serve_stop(srv);
    rcgc_decref(rt, root);
    t_teardown(rt);
    remove_dir();
}

/* A runtime with the default heap: the pool allocator's statistics. */
TEST(alloc_stats)
{
    make_dir();
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    rcgc_object *o = t_node(rt, 1);
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    char *a = askf(srv, "\"cmd\":\"alloc\"");
    CHECK_HAS(a, "\"pymalloc\":{\"arenas_allocated_total\":1,");
    CHECK_HAS(a, "\"arenas_current\":1,");
    CHECK_HAS(a, "\"classes\":[{\"size\":");
    CHECK_JSON(a);
    free(a);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, o);
    CHECK_EQ(rcgc_runtime_free(rt, NULL), 0);
    remove_dir();
}

TEST(json_escaping)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    static rcgc_type odd;
    odd = t_node_type;
    odd.name = "we\"ird\\ty\npe\x01\x7f\xff</>\xc3\xa9";
    rcgc_object *o = t_new(rt, &odd, 1);
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    char *a = askf(srv, "\"cmd\":\"counts\"");
    CHECK_HAS(a, "\"type\":\"we\\\"ird\\\\ty\\npe\\u0001\\u007f\\u00ff</>\xc3\xa9\"");
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"why\",\"type\":\"we\\\"ird\\\\ty\\npe\\u0001\\u007f\"");
    CHECK_JSON(a); /* not the same name (\xff and the rest are missing) */
    CHECK_HAS(a, "\"objects\":0");
    free(a);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, o);
    t_teardown(rt);
    remove_dir();
}

/* ---- trace windows ---- */

static unsigned leak_line;

struct leaker {
    rcgc_runtime *rt;
    rcgc_object *holder;
    int n;
};

static void leak_some(void *arg)
{
    struct leaker *l = arg;
    for (int i = 0; i < 5; i++) {
        rcgc_object *o = RCGC_NEW(l->rt, &t_node_type); leak_line = __LINE__;
        if (o == NULL) continue;
        rcgc_object_track(l->rt, o);
        t_append_steal(l->rt, l->holder, o);
        l->n++;
    }
    /* and some churn that is freed again */
    void *p = RCGC_MALLOC(l->rt, 100);
    rcgc_mem_free(l->rt, p);
}

TEST(trace_finds_leak)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    struct leaker lk = {rt, t_node(rt, 0), 0};
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    CHECK(!rcgc_trace_is_tracing(rt));
    int fd = client();
    const char req[] = "{\"cmd\":\"trace\",\"seconds\":1,\"top\":3,\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req, sizeof req - 1);
    rcgc_serve_poll(srv, 5);
    rcgc_serve_poll(srv, 5);
    rcgc_serve_stats ss;
    rcgc_serve_get_stats(srv, &ss);
    CHECK_EQ(ss.tracing, 1);
    CHECK(rcgc_trace_is_tracing(rt));
    int t = rcgc_serve_timeout(srv);
    CHECK(t > 500 && t <= 1000);
    /* a second window while this one is open: busy */
    char *b = askf(srv, "\"cmd\":\"trace\",\"seconds\":1");
    CHECK_HAS(b, "busy: a trace window is already open (1 s, ends in ");
    CHECK_JSON(b);
    free(b);
    /* other commands are served meanwhile */
    b = askf(srv, "\"cmd\":\"stats\"");
    CHECK_HAS(b, "\"tracing\":true");
    CHECK_HAS(b, "\"trace_window\":true");
    free(b);
    double t0 = now_s();
    char *a = collect_hook(srv, fd, 10, leak_some, &lk);
    double took = now_s() - t0;
    close(fd);
    CHECK(took > 0.5 && took < 5);
    CHECK_JSON(a);
    char want[128];
    snprintf(want, sizeof want, "\"stats\":[{\"file\":\"%s\",\"line\":%u,", __FILE__, leak_line);
    CHECK_HAS(a, "{\"ok\":true,\"cmd\":\"trace\",\"seconds\":1,\"by\":\"lineno\","
                 "\"tracer\":\"started for the window, then stopped\"");
    CHECK_HAS(a, want);
    snprintf(want, sizeof want, "test_serve_commands.c:%u: size=", leak_line);
    CHECK_HAS(a, want);
    CHECK(lk.n > 10);
    CHECK(!rcgc_trace_is_tracing(rt));
    rcgc_serve_get_stats(srv, &ss);
    CHECK_EQ(ss.tracing, 0);
    CHECK_EQ(rcgc_serve_timeout(srv), -1);

    /* by traceback: the frames are listed */
    fd = client();
    const char req2[] = "{\"cmd\":\"trace\",\"seconds\":1,\"by\":\"traceback\",\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req2, sizeof req2 - 1);
    free(a);
    a = collect_hook(srv, fd, 10, leak_some, &lk);
    close(fd);
    snprintf(want, sizeof want, "\"traceback\":[{\"file\":\"%s\",\"line\":%u,\"function\":\"leak_some\"}]",
             __FILE__, leak_line);
    CHECK_HAS(a, want);
    CHECK_JSON(a);
    free(a);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, lk.holder);
    t_teardown(rt);
    remove_dir();
}

TEST(trace_user_tracing_left_on)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    struct leaker lk = {rt, t_node(rt, 0), 0};
    CHECK_EQ(rcgc_trace_start(rt, NULL), 0);
    leak_some(&lk); /* before the window: not growth */
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    int fd = client();
    const char req[] = "{\"cmd\":\"trace\",\"seconds\":1,\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req, sizeof req - 1);
    char *a = collect_hook(srv, fd, 10, leak_some, &lk);
    close(fd);
    CHECK_HAS(a, "\"tracer\":\"already tracing: left on\"");
    char want[64];
    snprintf(want, sizeof want, "\"line\":%u,", leak_line);
    CHECK_HAS(a, want);
    CHECK(strstr(a, "\"traces_before\":0,") == NULL);
    CHECK_JSON(a);
    free(a);
    CHECK(rcgc_trace_is_tracing(rt));

    /* a snapshot file while tracing */
    rcgc_serve_stop(srv);
    rcgc_serve_config cfg;
    base_config(&cfg);
    cfg.snapshot_dir = dir;
    srv = start_cfg(rt, &cfg);
    REQUIRE(srv != NULL);
    a = askf(srv, "\"cmd\":\"snapshot\",\"path\":\"one.snap\"");
    char path[160];
    snprintf(path, sizeof path, "%s/one.snap", dir);
    char want2[300];
    snprintf(want2, sizeof want2, "{\"ok\":true,\"cmd\":\"snapshot\",\"path\":\"%s\",\"traces\":", path);
    CHECK_HAS(a, want2);
    free(a);
    struct stat sst; /* program internals: private to the owner */
    CHECK(lstat(path, &sst) == 0 && S_ISREG(sst.st_mode));
    CHECK_EQ(sst.st_mode & 077, 0);
    char err[256];
    rcgc_snapshot *s = rcgc_snapshot_load(path, err, sizeof err);
    CHECK(s != NULL && rcgc_snapshot_count(s) > 0);
    rcgc_snapshot_free(s);
    a = askf(srv, "\"cmd\":\"snapshot\",\"path\":\"one.snap\"");
    CHECK_HAS(a, "exists already: the server does not replace files");
    free(a);
    /* "-o", "--top": options to a tool run on a glob of the directory */
    const char *unsafe[] = {"../x", "a/b", ".hidden", "", "a b", "/etc/passwd",
                            "-o", "--top", "-.snap"};
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        char req2[128];
        snprintf(req2, sizeof req2, "\"cmd\":\"snapshot\",\"path\":\"%s\"", unsafe[i]);
        a = askf(srv, req2);
        CHECK_HAS(a, "unsafe snapshot name");
        CHECK_JSON(a);
        free(a);
    }
    a = askf(srv, "\"cmd\":\"snapshot\"");
    CHECK_HAS(a, "needs \\\"path\\\"");
    free(a);
    unlink(path);
    /* a V8 heap snapshot, by the same rules */
    a = askf(srv, "\"cmd\":\"heapsnapshot\",\"path\":\"h.heapsnapshot\"");
    snprintf(path, sizeof path, "%s/h.heapsnapshot", dir);
    snprintf(want2, sizeof want2, "{\"ok\":true,\"cmd\":\"heapsnapshot\",\"path\":\"%s\",\"objects\":", path);
    CHECK_HAS(a, want2);
    free(a);
    CHECK(lstat(path, &sst) == 0 && S_ISREG(sst.st_mode));
    CHECK_EQ(sst.st_mode & 077, 0);
    FILE *hf = fopen(path, "r");
    REQUIRE(hf != NULL);
    char head[64] = {0};
    CHECK(fread(head, 1, 19, hf) == 19);
    fclose(hf);
    CHECK(strcmp(head, "{\"snapshot\":{\"meta\"") == 0);
    a = askf(srv, "\"cmd\":\"heapsnapshot\",\"path\":\"h.heapsnapshot\"");
    CHECK_HAS(a, "exists already: the server does not replace files");
    free(a);
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        char req2[128];
        snprintf(req2, sizeof req2, "\"cmd\":\"heapsnapshot\",\"path\":\"%s\"", unsafe[i]);
        a = askf(srv, req2);
        CHECK_HAS(a, "unsafe snapshot name");
        CHECK_JSON(a);
        free(a);
    }
    unlink(path);
    rcgc_trace_stop(rt);
    a = askf(srv, "\"cmd\":\"snapshot\",\"path\":\"two.snap\"");
    CHECK_HAS(a, "the tracer is not tracing");
    free(a);
    rcgc_serve_stop(srv);
    srv = start(rt); /* no snapshot_dir */
    a = askf(srv, "\"cmd\":\"snapshot\",\"path\":\"two.snap\"");
    CHECK_HAS(a, "snapshot files are disabled");
    free(a);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, lk.holder);
    t_teardown(rt);
    remove_dir();
}

TEST(trace_cancelled)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    const char req[] = "{\"cmd\":\"trace\",\"seconds\":30,\"token\":\"" TOKEN "\"}\n";

    /* the client hangs up: the window closes, the tracer stops */
    int fd = client();
    send_str(fd, req, sizeof req - 1);
    for (int k = 0; k < 3; k++) rcgc_serve_poll(srv, 1);
    CHECK(rcgc_trace_is_tracing(rt));
    close(fd);
    for (int k = 0; k < 3; k++) rcgc_serve_poll(srv, 1);
    CHECK(!rcgc_trace_is_tracing(rt));
    rcgc_serve_stats ss;
    rcgc_serve_get_stats(srv, &ss);
    CHECK_EQ(ss.tracing, 0);
    CHECK_EQ(ss.clients, 0);
    CHECK_EQ(ss.dropped, 1);

    /* a half-closed client still gets its answer */
    fd = client();
    const char req1[] = "{\"cmd\":\"trace\",\"seconds\":1,\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req1, sizeof req1 - 1);
    shutdown(fd, SHUT_WR);
    char *a = collect(srv, fd);
    CHECK_HAS(a, "{\"ok\":true,\"cmd\":\"trace\"");
    free(a);
    close(fd);

    /* the program stops the tracer during the window */
    fd = client();
    send_str(fd, req1, sizeof req1 - 1);
    for (int k = 0; k < 3; k++) rcgc_serve_poll(srv, 1);
    rcgc_trace_stop(rt);
    a = collect(srv, fd);
    CHECK_HAS(a, "the program stopped the tracer during the window");
    free(a);
    close(fd);

    /* stop with a window open and clients in every state */
    int f1 = client(), f2 = client(), f3 = client();
    send_str(f1, req, sizeof req - 1);
    send_str(f2, "{\"cmd\":", 7);
    for (int k = 0; k < 3; k++) rcgc_serve_poll(srv, 1);
    rcgc_serve_get_stats(srv, &ss);
    CHECK_EQ(ss.clients, 3);
    CHECK_EQ(ss.tracing, 1);
    rcgc_serve_stop(srv);
    CHECK(!rcgc_trace_is_tracing(rt));
    char buf[16];
    CHECK_EQ(read(f1, buf, sizeof buf), 0); /* closed by the server */
    close(f1);
    close(f2);
    close(f3);
    t_teardown(rt);
    remove_dir();
}

/* ---- integration with the program's own poll loop ---- */

static int poll_from_callback(rcgc_runtime *rt, rcgc_gc_event event,
                              const rcgc_gc_info *info, void *ctx)
{
    (void)rt;
    (void)event;
    (void)info;
    void **c = ctx;
    *(int *)c[1] = rcgc_serve_poll(c[0], 0);
    return 0;
}

TEST(poll_integration)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    struct pollfd p = {rcgc_serve_fd(srv), POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 0), 0); /* nothing to do */
    CHECK_EQ(rcgc_serve_poll(srv, 0), 0);
    int fd = client();
    CHECK_EQ(poll(&p, 1, 1000), 1); /* a connection waits */
    const char req[] = "{\"cmd\":\"ping\",\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req, sizeof req - 1);
    int answered = 0;
    for (int k = 0; k < 100 && answered == 0; k++) {
        if (poll(&p, 1, 100) == 1) answered += rcgc_serve_poll(srv, 0);
    }
    CHECK_EQ(answered, 1);
    char *a = collect(NULL, fd);
    CHECK_HAS(a, "\"ok\":true");
    free(a);
    close(fd);
    /* from a collection's callback: refused, nothing done */
    int from_cb = 1;
    void *ctx[2] = {srv, &from_cb};
    CHECK_EQ(rcgc_gc_callback_add(rt, poll_from_callback, ctx), 0);
    rcgc_gc_collect(rt, 0);
    CHECK_EQ(from_cb, RCGC_EINVAL);
    CHECK_EQ(rcgc_gc_callback_remove(rt, poll_from_callback, ctx), 0);
    /* a zero timeout never waits */
    double t0 = now_s();
    for (int k = 0; k < 100; k++) rcgc_serve_poll(srv, 0);
    CHECK(now_s() - t0 < 0.5);
    rcgc_serve_stop(srv);
    t_teardown(rt);
    remove_dir();
}

/* ---- the parser on its own ---- */

TEST(parser)
{
    serve_req r;
    char err[256];
    const char ok1[] = " {\"cmd\" : \"trace\" ,\t\"seconds\":2,\"top\":10,\"by\":\"lineno\","
                       "\"token\":\"a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00\"} ";
    CHECK_EQ(rcgc__serve_parse(ok1, sizeof ok1 - 1, &r, err, sizeof err), 0);
    CHECK_STR(r.cmd, "trace");
    CHECK_EQ(r.seconds, 2);
    CHECK_EQ(r.top, 10);
    CHECK_STR(r.by, "lineno");
    CHECK_STR(r.token, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
    CHECK_EQ(r.token_len, 13);
    CHECK_EQ(r.have, SERVE_F_CMD | SERVE_F_SECONDS | SERVE_F_TOP | SERVE_F_BY | SERVE_F_TOKEN);
    const char ok2[] = "{\"cmd\":\"why\",\"type\":\"\xc3\xa9t\xc3\xa9\",\"limit\":0}";
    CHECK_EQ(rcgc__serve_parse(ok2, sizeof ok2 - 1, &r, err, sizeof err), 0);
    CHECK_EQ(r.limit, 0);
    /* the parser reads only len bytes: a valid prefix of a longer buffer */
    const char pre[] = "{\"cmd\":\"x\"}GARBAGE";
    CHECK_EQ(rcgc__serve_parse(pre, 11, &r, err, sizeof err), 0);
    CHECK_EQ(rcgc__serve_parse(pre, sizeof pre - 1, &r, err, sizeof err), -1);
    CHECK_HAS(err, "bad request at byte 11: trailing bytes");

    const char *bad[] = {
        "{", "{\"", "{\"cmd", "{\"cmd\"", "{\"cmd\":", "{\"cmd\":\"", "{\"cmd\":\"x",
        "{\"cmd\":\"x\"", "{\"cmd\":\"x\",", "{\"cmd\":\"x\",}", "[]", "{\"cmd\":null}",
        "{\"cmd\":true}", "{\"cmd\":\"x\",\"seconds\":\"1\"}", "{\"cmd\":\"x\",\"top\":}",
        "{\"cmd\":\"x\",\"top\":1e3}", "{\"cmd\":\"x\",\"top\":+1}", "{\"cmd\":\"\\x\"}",
        "{\"cmd\":\"\\u12\"}", "{\"cmd\":\"x\",\"arg\":\"\\udc00\"}",
        "{\"cmd\":\"x\",\"arg\":\"\\ud800\\u0041\"}", "{\"cmd\":\"x\",\"arg\":\"\xc0\xaf\"}",
        "{\"cmd\":\"x\",\"arg\":\"\xed\xa0\x80\"}", "{\"cmd\":\"x\",\"arg\":\"\xf4\x90\x80\x80\"}",
        "{\"cmd\":\"x\",\"arg\":\"\xe2\x82\"}", "{\"cmd\":\"x\" \"top\":1}",
        "{\"cmd\":\"x\"}}", "{\"cmd\":\"x\"}\n", "\xef\xbb\xbf{\"cmd\":\"x\"}",
        "{\"cmd\":\"0123456789012345678901234567890123\"}", "{'cmd':'x'}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int e = rcgc__serve_parse(bad[i], strlen(bad[i]), &r, err, sizeof err);
        if (e != -1) t_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
        CHECK(strncmp(err, "bad request at byte ", 20) == 0);
    }
    /* a string at its limit and one byte over */
    char big[SERVE_STR_MAX + 64];
    int n = snprintf(big, sizeof big, "{\"cmd\":\"x\",\"arg\":\"%0*d\"}", SERVE_STR_MAX - 1, 0);
    CHECK_EQ(rcgc__serve_parse(big, (size_t)n, &r, err, sizeof err), 0);
    n = snprintf(big, sizeof big, "{\"cmd\":\"x\",\"arg\":\"%0*d\"}", SERVE_STR_MAX, 0);
    CHECK_EQ(rcgc__serve_parse(big, (size_t)n, &r, err, sizeof err), -1);
    CHECK_HAS(err, "string longer than 511 bytes");
    /* a tiny error buffer is fine */
    CHECK_EQ(rcgc__serve_parse("x", 1, &r, err, 5), -1);
    CHECK_EQ(strlen(err), 4);
    CHECK_EQ(rcgc__serve_parse("x", 1, &r, NULL, 0), -1);
}

/* Deterministic mutations of valid requests (the fuzz target's work in
 * small): the parser must never crash, read out of bounds (ASan builds) or
 * accept a request without a command; every error names its offset. */
TEST(parser_mutations)
{
    static const char *seeds[] = {
        "{\"cmd\":\"trace\",\"seconds\":2,\"top\":10,\"by\":\"lineno\",\"token\":\"abcdefgh\"}",
        "{\"cmd\":\"why\",\"type\":\"listener\",\"limit\":3,\"token\":\"t\\u00e9\\ud83d\\ude00\"}",
        "{\"cmd\":\"snapshot\",\"path\":\"a.snap\",\"arg\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    };
    const char alphabet[] = "{}[]\":,\\u0123456789abcdefABCDEF \t-+.eE\xc3\xa9\xff\x80\xed\xf0";
    uint64_t x = 88172645463325252u;
    serve_req r;
    char err[256], buf[512];
    long accepted = 0;
    rcgc_runtime *rt = t_runtime();
    rcgc_serve_config cfg;
    rcgc_serve_config_init(&cfg);
    cfg.token = "abcdefgh";
    rcgc_serve *srv = NULL;
    CHECK_EQ(rcgc__serve_new_detached(rt, &cfg, &srv), 0);
    for (long it = 0; it < t_scale(200000); it++) {
        const char *s = seeds[it % 3];
        size_t n = strlen(s);
        memcpy(buf, s, n);
        int nmut = 1 + (int)((x >> 7) % 4);
        for (int m = 0; m < nmut; m++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = n ? (size_t)(x % n) : 0;
            switch ((x >> 32) % 4) {
            case 0: buf[at] = alphabet[(x >> 40) % (sizeof alphabet - 1)]; break;
            case 1: if (n > 1) { memmove(buf + at, buf + at + 1, n - at - 1); n--; } break;
            case 2: if (n < sizeof buf - 1) { memmove(buf + at + 1, buf + at, n - at); buf[at] = alphabet[(x >> 40) % (sizeof alphabet - 1)]; n++; } break;
            default: n = at; break; /* truncate */
            }
        }
        /* a heap copy of exactly n bytes: ASan sees any read past it */
        char *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        int e = rcgc__serve_parse(exact, n, &r, err, sizeof err);
        if (e == 0) {
            accepted++;
            if (r.cmd[0] == 0 || !(r.have & SERVE_F_CMD)) t_fail(__FILE__, __LINE__, "no cmd");
        } else if (strncmp(err, "bad request at byte ", 20) != 0) {
            t_fail(__FILE__, __LINE__, "error without an offset: %s", err);
        }
        if (it % 16 == 0) { /* and the whole request path, without sockets */
            jbuf out;
            rcgc__serve_eval(srv, exact, n, &out);
            if (out.p == NULL || !valid_answer(out.p))
                t_fail(__FILE__, __LINE__, "bad answer to %.*s: %s", (int)n, exact,
                       out.p ? out.p : "(null)");
            rcgc__jb_free(&out);
        }
        free(exact);
    }
    CHECK(accepted > 100);
    rcgc_serve_stop(srv);
    CHECK(!rcgc_trace_is_tracing(rt));
    t_teardown(rt);
}

/* ---- cost ---- */

TEST(counts_cost)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    long n = t_scale(1000000);
    rcgc_object *holder = t_node(rt, 0);
    for (long i = 0; i < n; i++) {
        rcgc_object *o = t_new(rt, i % 3 ? &t_node_type : widget_type(), (int)i);
        if (o == NULL || t_append_steal(rt, holder, o) != 0) break;
    }
    rcgc_serve *srv = start(rt);
    REQUIRE(srv != NULL);
    double t0 = now_s();
    char *a = askf(srv, "\"cmd\":\"counts\"");
    double t1 = now_s();
    CHECK_HAS(a, "\"ok\":true");
    free(a);
    a = askf(srv, "\"cmd\":\"stats\"");
    double t2 = now_s();
    free(a);
    a = askf(srv, "\"cmd\":\"why\",\"type\":\"widget\",\"limit\":1");
    double t3 = now_s();
    CHECK_HAS(a, "\"status\":\"rooted\"");
    free(a);
    printf("     %ld objects: counts %.1f ms, stats %.2f ms, why (1 object) %.1f ms, "
           "round trips included\n", n + 1, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
           (t3 - t2) * 1e3);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, holder);
    t_teardown(rt);
    remove_dir();
}

/* ---- review fixes: a second instance, re-entry, slow drains, EMFILE ---- */

static int read_first_line(const char *path, char *line, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    char *r = fgets(line, (int)size, f);
    fclose(f);
    return r == NULL ? -1 : 0;
}

TEST(second_instance_keeps_token)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    char tpath[160];
    snprintf(tpath, sizeof tpath, "%s/token", dir);
    rcgc_serve_config cfg;
    base_config(&cfg);
    cfg.token = NULL;
    cfg.token_file = tpath;
    rcgc_serve *a = start_cfg(rt, &cfg);
    REQUIRE(a != NULL);
    char tok[80];
    snprintf(tok, sizeof tok, "%s", rcgc_serve_token(a));
    /* B on the same socket and token file: refused, and A's token file is
     * untouched (same content, same inode) */
    struct stat st0, st1;
    CHECK(lstat(tpath, &st0) == 0);
    rcgc_serve *b = (rcgc_serve *)1;
    char err[256];
    CHECK_EQ(rcgc_serve_start(rt, &cfg, &b, err, sizeof err), RCGC_EINVAL);
    CHECK(b == NULL);
    CHECK_HAS(err, "already listening");
    CHECK(lstat(tpath, &st1) == 0 && st1.st_ino == st0.st_ino);
    char line[128] = {0};
    CHECK_EQ(read_first_line(tpath, line, sizeof line), 0);
    CHECK(strncmp(line, tok, 64) == 0 && line[64] == '\n');
    /* no temporary token file left either */
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", tpath, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    /* and A still answers with its token */
    char req[256];
    snprintf(req, sizeof req, "{\"cmd\":\"ping\",\"token\":\"%s\"}", tok);
    char *ans = ask(a, req);
    CHECK_HAS(ans, "\"ok\":true");
    free(ans);
    rcgc_serve_stop(a);
    CHECK(lstat(tpath, &st1) != 0 && errno == ENOENT);
    t_teardown(rt);
    remove_dir();
}

static rcgc_serve *reentry_srv;

static int reentry_poll_rc = 1;

static int reentry_stopped;

static int reentry_command(void *ctx, const char *cmd, const char *arg,
                           char *msg, size_t msglen)
{
    (void)ctx;
    (void)arg;
    if (strcmp(cmd, "nest") == 0) {
        /* a nested poll would accept the waiting client, time out or
         * close slots under the outer one: refused */
        reentry_poll_rc = rcgc_serve_poll(reentry_srv, 50);
        snprintf(msg, msglen, "nested poll: %d", reentry_poll_rc);
        return 0;
    }
    if (strcmp(cmd, "stopme") == 0) {
        rcgc_serve_stop(reentry_srv); /* deferred to the end of the poll */
        reentry_stopped = 1;
        snprintf(msg, msglen, "stopping");
        return 0;
    }
    return -1;
}

TEST(reentrant_poll_and_stop)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    rcgc_serve_config cfg;
    base_config(&cfg);
    cfg.command = reentry_command;
    rcgc_serve *srv = start_cfg(rt, &cfg);
    REQUIRE(srv != NULL);
    reentry_srv = srv;
    /* an unauthenticated client waits in the backlog and another one is
     * connected but silent: neither may get the answer */
    int idle = client();
    for (int k = 0; k < 3; k++) rcgc_serve_poll(srv, 1);
    int fd = client();
    int later = client();
    const char req[] = "{\"cmd\":\"nest\",\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req, sizeof req - 1);
    char *a = collect(srv, fd);
    CHECK_HAS(a, "{\"ok\":true,\"cmd\":\"nest\",\"message\":\"nested poll: -");
    CHECK_EQ(reentry_poll_rc, RCGC_EINVAL);
    CHECK_JSON(a);
    free(a);
    close(fd);
    char buf[64];
    CHECK(recv(idle, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    CHECK(recv(later, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN);
    rcgc_serve_stats ss;
    rcgc_serve_get_stats(srv, &ss);
    CHECK_EQ(ss.answered, 1);
    CHECK_EQ(ss.dropped, 0);
    close(idle);
    close(later);
    for (int k = 0; k < 3; k++) rcgc_serve_poll(srv, 1);
    /* the server still works after the refused nested poll */
    a = askf(srv, "\"cmd\":\"ping\"");
    CHECK_HAS(a, "\"ok\":true");
    free(a);
    /* rcgc_serve_stop from the hook: the poll finishes its work (the
     * answer is written), then stops; srv is gone when it returns */
    fd = client();
    const char stop_req[] = "{\"cmd\":\"stopme\",\"token\":\"" TOKEN "\"}\n";
    send_str(fd, stop_req, sizeof stop_req - 1);
    for (int k = 0; k < 200 && !reentry_stopped; k++) rcgc_serve_poll(srv, 5);
    CHECK(reentry_stopped);
    srv = NULL;
    a = collect(NULL, fd);
    CHECK_HAS(a, "{\"ok\":true,\"cmd\":\"stopme\",\"message\":\"stopping\"}");
    free(a);
    close(fd);
    struct stat st;
    CHECK(lstat(sock_path, &st) != 0 && errno == ENOENT);
    t_teardown(rt); /* the stop freed everything */
    remove_dir();
}

/* An answer cut by an allocation failure (or the limit) is never sent in
 * part: it becomes the fixed out-of-memory answer. */
static void *fail_realloc(void *ctx, void *p, size_t n)
{
    int *left = ctx;
    if ((*left)-- <= 0) return NULL;
    return realloc(p, n);
}

static void plain_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

TEST(json_fallback)
{
    static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
    int left = 1; /* the first buffer, then nothing */
    rcgc_allocator a;
    memset(&a, 0, sizeof a);
    a.ctx = &left;
    a.realloc = fail_realloc;
    a.free = plain_free;
    jbuf b;
    rcgc__jb_init(&b, &a, 1 << 20);
    rcgc__jb_lit(&b, "{\"ok\":true,\"cmd\":\"counts\",\"items\":[");
    for (int i = 0; i < 100; i++) rcgc__jb_str(&b, "a type name that does not fit");
    CHECK(b.nomem);
    CHECK(b.len > 0); /* half an answer is there */
    rcgc__jb_fallback(&b);
    CHECK_STR(b.p, oom);
    CHECK_EQ(b.len, sizeof oom - 1);
    rcgc__jb_free(&b); /* the static text is not freed */
    CHECK(b.p == NULL);
    /* cut by the limit: the same */
    left = 100;
    rcgc__jb_init(&b, &a, 64);
    for (int i = 0; i < 10; i++) rcgc__jb_str(&b, "0123456789");
    CHECK(b.overflow);
    rcgc__jb_fallback(&b);
    CHECK_STR(b.p, oom);
    rcgc__jb_free(&b);
    /* a whole answer is left alone */
    rcgc__jb_init(&b, &a, 4096);
    rcgc__jb_error(&b, "x");
    rcgc__jb_fallback(&b);
    CHECK_STR(b.p, "{\"ok\":false,\"error\":\"x\"}\n");
    rcgc__jb_free(&b);
}

/* rcgc__serve_eval when the server's allocator fails from the n-th
 * allocation on, for every n up to where it no longer fails: the answer is
 * never empty, always one JSON object (the fixed out-of-memory answer
 * when nothing else fits).  Issue 20 item 9. */
static void *counted_malloc(void *ctx, size_t n)
{
    int *left = ctx;
    if ((*left)-- <= 0) return NULL;
    return malloc(n);
}

static void *counted_calloc(void *ctx, size_t k, size_t n)
{
    int *left = ctx;
    if ((*left)-- <= 0) return NULL;
    return calloc(k, n);
}

TEST(eval_out_of_memory)
{
    static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";
    rcgc_runtime *rt = t_runtime();
    rcgc_serve_config cfg;
    rcgc_serve_config_init(&cfg);
    cfg.token = TOKEN;
    rcgc_serve *srv = NULL;
    REQUIRE(rcgc__serve_new_detached(rt, &cfg, &srv) == 0);
    rcgc_allocator saved = srv->a, failing;
    memset(&failing, 0, sizeof failing);
    int left = 0;
    failing.ctx = &left;
    failing.malloc = counted_malloc;
    failing.calloc = counted_calloc;
    failing.realloc = fail_realloc;
    failing.free = plain_free;
    const char *reqs[] = {
        "{\"cmd\":\"stats\",\"token\":\"" TOKEN "\"}",
        "{\"cmd\":\"ping\",\"token\":\"wrong-token\"}",
        "{\"cmd\":1}",
        "{\"cmd\":\"counts\",\"token\":\"" TOKEN "\"}",
        "{\"cmd\":\"trace\",\"seconds\":1,\"token\":\"" TOKEN "\"}",
    };
    for (size_t r = 0; r < sizeof reqs / sizeof reqs[0]; r++) {
        int whole = 0;
        for (int n = 0; n < 64 && !whole; n++) {
            srv->a = failing;
            left = n;
            jbuf out;
            rcgc__serve_eval(srv, reqs[r], strlen(reqs[r]), &out);
            srv->a = saved;
            REQUIRE(out.p != NULL && out.len > 0);
            char *a = strndup(out.p, out.len);
            REQUIRE(a != NULL);
            CHECK_JSON(a);
            whole = strcmp(a, oom) != 0 && strstr(a, "out of memory") == NULL;
            if (n == 0) CHECK_STR(a, oom);
            free(a);
            rcgc__jb_free(&out);
        }
        CHECK(whole); /* with enough memory, the real answer */
    }
    rcgc_serve_stop(srv);
    t_teardown(rt);
}

/* A label callback that frees the other objects of the type "why" is
 * listing: the borrowed pointers are never used after it. */
static rcgc_runtime *freeing_rt;

static rcgc_object *freeing_holder;

static size_t freeing_label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    if (freeing_holder != NULL && o->type == widget_type()) {
        t_clear(freeing_rt, freeing_holder); /* the other widgets die */
        freeing_holder = NULL;
    }
    return (size_t)snprintf(buf, size, "%s #%d", o->type->name, t_as(o)->id);
}

TEST(why_callback_frees)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    rcgc_object *holder = t_node(rt, 1);
    for (int i = 0; i < 5; i++)
        t_append_steal(rt, holder, t_new(rt, widget_type(), 100 + i));
    rcgc_serve_config cfg;
    base_config(&cfg);
    cfg.diag.label = freeing_label;
    rcgc_serve *srv = start_cfg(rt, &cfg);
    REQUIRE(srv != NULL);
    freeing_rt = rt;
    freeing_holder = holder;
    char *a = askf(srv, "\"cmd\":\"why\",\"type\":\"widget\",\"limit\":4");
    CHECK_HAS(a, "\"objects\":5,\"shown\":4,\"results\":[{\"object\":\"0x");
    CHECK_HAS(a, "\"label\":\"widget #100\"");
    CHECK_HAS(a, "{\"object\":null,\"error\":\"gone: objects were freed "
                 "during the command\"}]}");
    CHECK(strstr(a, "widget #101") == NULL);
    CHECK_JSON(a);
    free(a);
    a = askf(srv, "\"cmd\":\"counts\"");
    CHECK_HAS(a, "\"total\":1,\"types\":1");
    free(a);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, holder);
    t_teardown(rt);
    remove_dir();
}

/* A large answer (~2.8 MB): NTYPES types with 900-byte names. */
static rcgc_type *long_types;
static char (*long_names)[912];

TEST(slow_drain_dropped)
{
    make_dir();
    rcgc_runtime *rt = t_runtime();
    rcgc_object *holder = t_node(rt, 0);
    long_types = calloc(NTYPES, sizeof *long_types);
    long_names = calloc(NTYPES, sizeof *long_names);
    for (int i = 0; i < NTYPES; i++) {
        snprintf(long_names[i], sizeof long_names[i], "type_%04d_%0890d", i, 0);
        long_types[i] = t_node_type;
        long_types[i].name = long_names[i];
        t_append_steal(rt, holder, t_new(rt, &long_types[i], i));
    }
    rcgc_serve_config cfg;
    base_config(&cfg);
    cfg.write_timeout_ms = 2000;
    cfg.max_response = (size_t)8 << 20;
    uint64_t rate = rcgc__serve_drain_rate;
    rcgc__serve_drain_rate = 8u << 20; /* 8 MiB/s: ~0.35 s for the answer */
    rcgc_serve *srv = start_cfg(rt, &cfg);
    REQUIRE(srv != NULL);
    /* a client that keeps reading, at ~550 KB/s: the server makes progress
     * (about every second, as the socket buffer empties) within every
     * write timeout, so the timeout alone never drops it; but the whole
     * answer would take it ~5 s, and the drain deadline (2 s + 0.35 s)
     * drops it */
    int fd = client();
    const char req[] = "{\"cmd\":\"counts\",\"top\":0,\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req, sizeof req - 1);
    double t0 = now_s(), last_read = t0, dropped_at = 0;
    size_t got = 0;
    int eof = 0;
    rcgc_serve_stats ss;
    char buf[16384];
    while (now_s() - t0 < 8 && !eof) {
        rcgc_serve_poll(srv, 5);
        rcgc_serve_get_stats(srv, &ss);
        if (dropped_at == 0 && ss.dropped > 0) dropped_at = now_s() - t0;
        if (now_s() - last_read >= 0.03) {
            last_read = now_s();
            ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0) got += (size_t)r;
            else if (r == 0 || (errno != EAGAIN && errno != EINTR)) eof = 1;
        }
    }
    printf("     a client reading ~550 KB/s of a 2.8 MB answer: dropped after "
           "%.2f s, %zu bytes read\n", dropped_at, got);
    CHECK(eof); /* the drop closed the connection */
    /* Only bounds a loaded machine cannot break: the drop comes after the
     * deadline (never before), the client read more than two socket
     * buffers' worth (the server made progress after the first fill, so
     * the write timeout alone did not drop it), and not the whole answer.
     * How much sooner than the 8 s of the loop the drop comes, and how
     * much the client read, depend on the machine's load (an ASan run at
     * load 9 read less than 900 KB): printed, not asserted. */
    int bufsize = 0; /* the default socket buffer (the server's is the same) */
    socklen_t sl = sizeof bufsize;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, &sl), 0);
    CHECK(bufsize > 0);
    CHECK_EQ(ss.dropped, 1);
    CHECK(dropped_at > 2.0);
    CHECK(got > 2 * (size_t)bufsize);
    CHECK(got < 2500000); /* but not the whole answer */
    close(fd);
    rcgc__serve_drain_rate = rate;
    /* a reader at full speed gets everything */
    char *a = askf(srv, "\"cmd\":\"counts\",\"top\":0");
    CHECK(strlen(a) > 2700000);
    CHECK_HAS(a, "\"total\":3001,\"types\":3001,\"shown\":3001");
    CHECK_JSON(a);
    free(a);
    rcgc_serve_stop(srv);
    rcgc_decref(rt, holder);
    t_teardown(rt);
    free(long_types);
    free(long_names);
    remove_dir();
}

/* In a child (its descriptor limit is lowered): with no descriptor left
 * for accept4, the listener leaves the epoll set (the descriptor is not
 * readable, so a poll loop does not spin) and comes back after 100 ms. */
static int emfile_child(void)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL) return 10;
    rcgc_serve_config cfg;
    base_config(&cfg);
    rcgc_serve *srv = NULL;
    if (rcgc_serve_start(rt, &cfg, &srv, NULL, 0) != 0) return 11;
    int fd = client();
    if (fd < 0) return 12;
    /* the lowest free descriptor: the limit just above it leaves none */
    int probe = dup(0);
    if (probe < 0) return 13;
    close(probe);
    struct rlimit old, rl;
    if (getrlimit(RLIMIT_NOFILE, &old) != 0) return 14;
    rl = old;
    rl.rlim_cur = (rlim_t)probe;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return 15;
    rcgc_serve_poll(srv, 0); /* accept4: EMFILE */
    struct pollfd p = {rcgc_serve_fd(srv), POLLIN, 0};
    int readable = poll(&p, 1, 20);
    int t = rcgc_serve_timeout(srv);
    rcgc_serve_stats ss;
    rcgc_serve_get_stats(srv, &ss);
    if (setrlimit(RLIMIT_NOFILE, &old) != 0) return 16;
    if (ss.accepted != 0) return 17;
    if (readable != 0) return 18;  /* would spin */
    if (t < 0 || t > 100) return 19;
    /* descriptors again: the connection that waited in the backlog is
     * served after the back-off (under valgrind it is gone: valgrind
     * closes the descriptor accept4 got above its emulated limit, so an
     * empty answer is accepted there), and new ones are */
    const char req[] = "{\"cmd\":\"ping\",\"token\":\"" TOKEN "\"}\n";
    send_str(fd, req, sizeof req - 1);
    char *a = collect(srv, fd);
    int ok = a[0] == 0 || strstr(a, "\"ok\":true") != NULL;
    free(a);
    close(fd);
    a = ask(srv, "{\"cmd\":\"ping\",\"token\":\"" TOKEN "\"}");
    ok = ok && strstr(a, "\"ok\":true") != NULL;
    free(a);
    rcgc_serve_stop(srv);
    rcgc_runtime_free(rt, NULL);
    return ok ? 0 : 20;
}

TEST(accept_out_of_descriptors)
{
    make_dir();
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(emfile_child());
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    unlink(sock_path);
    remove_dir();
}

TEST_MAIN(T(commands), T(alloc_stats), T(json_escaping), T(trace_finds_leak),
          T(trace_user_tracing_left_on), T(trace_cancelled),
          T(poll_integration), T(parser), T(parser_mutations),
          T(second_instance_keeps_token), T(reentrant_poll_and_stop),
          T(why_callback_frees), T(json_fallback), T(eval_out_of_memory), T(slow_drain_dropped),
          T(accept_out_of_descriptors), T(counts_cost))

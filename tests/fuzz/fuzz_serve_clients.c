/*
 * fuzz_serve_clients.c - libFuzzer target: the live diagnostics endpoint's
 * socket and client state machine (src/serve/serve.c, serve_client.c)
 * driven by several real clients at once over its Unix domain socket.
 * fuzz_serve feeds request lines to the parser and the commands without
 * sockets; this one reaches what it cannot: accepting (and refusing when
 * full), reading requests that arrive in arbitrary pieces, half-closed and
 * vanished clients, answers that do not fit the socket and drain slowly,
 * request and write deadlines, trace windows ended or cancelled, the
 * wrong-token lockout.  Built with ASan+UBSan by `make fuzz`.
 *
 * An input is a script, one operation per byte op (then its operands):
 *   op & 7   what                      operands
 *   0        connect client c          -
 *   1        send bytes                a length byte L, then L bytes
 *   2        send a request            a byte choosing one of the
 *                                      templates (right token), a byte
 *                                      saying where to split it in two
 *   3        half-close (shutdown SHUT_WR)
 *   4        close
 *   5        poll the server           a byte: how many polls (1..4);
 *                                      c == 5: one poll with the server's
 *                                      (byte % 16 + 1)-th allocation failing
 *   6        read what came            -; c == 5: one poll with every
 *                                      descriptor taken (accept fails with
 *                                      EMFILE and pauses)
 *   7        c < 5: expire every deadline of the server (client reads
 *            and writes, the trace window, accept back-off), then poll;
 *            c == 5: restart the server (every client hangs up first;
 *            at most 8 restarts per input, in a directory on tmpfs when
 *            /dev/shm is one, so the token file's fsync is cheap)
 *                                      a byte choosing the configuration:
 *                                      bit 0 a token file instead of a
 *                                      static token, bits 1-2 allowed uids
 *                                      (default, others only, a list with
 *                                      ours), bits 3-4 max_clients 1..4,
 *                                      bit 5 max_response 4096
 * with client c = (op >> 3) % 6; the server takes 4 clients at once by
 * default, so the fifth and sixth are refused while four are in.  A
 * template's token is the server's current one (a generated token when it
 * writes a token file).  The "echo" command polls the server from inside
 * (which must be refused) and, with the argument "stop", stops it from
 * inside a poll (deferred to the poll's end; the script restarts it).  An
 * input that changed the configuration ends with a restart to the default
 * one, so every input starts from the same server.  Deadlines are
 * expired by rewriting them (white-box), so no input sleeps.  The
 * server-side send buffer of every new client is shrunk to the minimum, so
 * answers of a few KiB block and drain over several polls.
 *
 * Checked: everything a client receives is at most one answer line, and
 * each complete line is one valid JSON object starting {"ok":; after the
 * script, every client hangs up and the server must come back to no
 * client, no trace window, no tracer and exactly the heap blocks it had
 * before the input (the runtime's allocator counts them); ASan's leak
 * check sees the rest.  With RCGC_FUZZ_SEEDS=DIR, start-up writes seed
 * scripts into DIR (the seed corpus `make fuzz` passes).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rcgc_diag.h"
#include "rcgc_mem.h"
#include "serve/serve_internal.h"
#include "../support/json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define TOKEN "fuzz-token-0123"
#define NCLIENTS 6
#define MAX_CLIENTS 4
#define RECV_MAX (256 * 1024)
#define FD_LIMIT 256 /* the process's descriptor limit while fuzzing */
#define MAX_RESTARTS 8 /* per input (a restart costs a token file's fsync) */

static rcgc_runtime *rt;
static rcgc_serve *srv;
static rcgc_memfault *counter; /* every block of the runtime goes through it */
static char sock_path[108];
static char sock_dir[64];

/* ---- a graph with many type names, so some answers are KiB long ---- */

typedef struct node {
    rcgc_object base;
    rcgc_object *ref[2];
} node;

static int node_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    RCGC_VISIT(((node *)self)->ref[0]);
    RCGC_VISIT(((node *)self)->ref[1]);
    return 0;
}

static void node_clear(rcgc_runtime *r, rcgc_object *self)
{
    RCGC_CLEAR(r, ((node *)self)->ref[0]);
    RCGC_CLEAR(r, ((node *)self)->ref[1]);
}

#define NTYPES 400
static rcgc_type types[NTYPES];
static char type_names[NTYPES][48];

static int stopped_inside; /* the echo command stopped the server */

static int command(void *ctx, const char *cmd, const char *arg, char *msg,
                   size_t msglen)
{
    (void)ctx;
    if (strcmp(cmd, "echo") != 0) return -1;
    if (rcgc_serve_poll(srv, 0) != RCGC_EINVAL) abort(); /* no re-entry */
    if (strcmp(arg, "stop") == 0) {
        rcgc_serve_stop(srv); /* deferred to the end of the poll */
        stopped_inside = 1;
    }
    snprintf(msg, msglen, "%s", arg);
    return 0;
}

/* ---- the requests a script can send whole ---- */

static const char *const templates[] = {
    "{\"cmd\":\"ping\",\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"stats\",\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"counts\",\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"counts\",\"top\":3,\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"alloc\",\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"trace\",\"seconds\":1,\"top\":5,\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"trace\",\"seconds\":2,\"by\":\"traceback\",\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"why\",\"type\":\"t7-\\u00e9\",\"limit\":2,\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"echo\",\"arg\":\"hi\",\"token\":\"" TOKEN "\"}\r\n",
    "{\"cmd\":\"ping\",\"token\":\"wrong-token-99\"}\n",
    "{\"cmd\":\"ping\"}\n",
    "{\"cmd\":\"nosuch\",\"token\":\"" TOKEN "\"}\n",
    "not json at all\n",
    "{\"cmd\":\"snapshot\",\"path\":\"x.snap\",\"token\":\"" TOKEN "\"}\n",
    "\n",
    "{\"cmd\":\"counts\",\"top\":0,\"token\":\"" TOKEN "\"}\n",
    "{\"cmd\":\"echo\",\"arg\":\"stop\",\"token\":\"" TOKEN "\"}\n",
};
#define NTEMPLATES (sizeof templates / sizeof templates[0])

/* ---- the clients ---- */

struct client {
    int fd;          /* -1: not connected */
    int wr_closed;   /* shut down for writing */
    size_t got;
    char buf[RECV_MAX + 1];
};
static struct client clients[NCLIENTS];

static void fail(const char *what, const struct client *c)
{
    fprintf(stderr, "fuzz_serve_clients: %s\n", what);
    if (c != NULL) fprintf(stderr, "received (%zu bytes): %.*s\n", c->got, (int)c->got, c->buf);
    abort();
}

/* Everything received so far: at most one line, and a complete one is one
 * JSON object answer. */
static void check_received(const struct client *c)
{
    const char *nl = memchr(c->buf, '\n', c->got);
    if (nl == NULL) return; /* cut by a dropped write, or still coming */
    size_t len = (size_t)(nl - c->buf) + 1;
    if (len != c->got) fail("bytes after the answer's newline", c);
    if (!json_check_object_line(c->buf, len)) fail("an answer is not one JSON object", c);
    if (strncmp(c->buf, "{\"ok\":", 6) != 0) fail("an answer without \"ok\" first", c);
}

/* Read what is there; 1 at end of stream (or an error), else 0. */
static int client_read(struct client *c)
{
    if (c->fd < 0) return 1;
    for (;;) {
        char tmp[4096];
        ssize_t r = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (r > 0) {
            size_t n = (size_t)r;
            if (c->got + n > RECV_MAX) fail("an answer larger than max_response", c);
            memcpy(c->buf + c->got, tmp, n);
            c->got += n;
            c->buf[c->got] = 0;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            check_received(c);
            return 0;
        }
        if (r < 0 && errno == EINTR) continue;
        check_received(c);
        return 1; /* 0: the server closed; ECONNRESET and friends */
    }
}

static void client_close(struct client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->wr_closed = 0;
    c->got = 0;
    c->buf[0] = 0;
}

static void client_connect(struct client *c)
{
    if (c->fd >= 0) return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        close(fd); /* the backlog is full: as a client that gave up */
        return;
    }
    c->fd = fd;
    c->got = 0;
    c->wr_closed = 0;
}

static void client_send(struct client *c, const uint8_t *p, size_t n)
{
    if (c->fd < 0 || c->wr_closed) return;
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0) return; /* full, or the server closed: the rest is lost */
        p += w;
        n -= (size_t)w;
    }
}

/* ---- the server side ---- */

static char token_path[128];
static unsigned cur_variant;

/* Start the server with configuration variant v (0: the default). */
static void server_start(unsigned v)
{
    static const uint32_t *no_uids;
    uint32_t others[1] = {(uint32_t)geteuid() + 1};
    uint32_t mine[3] = {12345, (uint32_t)geteuid(), 7};
    rcgc_serve_config cfg;
    rcgc_serve_config_init(&cfg);
    cfg.socket_path = sock_path;
    cfg.token = (v & 1) ? NULL : TOKEN;
    cfg.token_file = (v & 1) ? token_path : NULL;
    switch ((v >> 1) & 3) {
    case 1:
        cfg.allowed_uids = others;
        cfg.nallowed_uids = 1;
        break;
    case 2:
        cfg.allowed_uids = mine;
        cfg.nallowed_uids = 3;
        break;
    case 3:
        cfg.allowed_uids = no_uids; /* NULL: only ours */
        break;
    }
    cfg.max_clients = v == 0 ? MAX_CLIENTS : 1 + (int)((v >> 3) & 3);
    cfg.max_response = (v & 32) ? 4096 : 65536;
    cfg.command = command;
    char err[256];
    if (rcgc_serve_start(rt, &cfg, &srv, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_serve_clients: %s\n", err);
        abort();
    }
    if (rcgc_serve_fd(srv) < 0 || strlen(rcgc_serve_token(srv)) < 8) abort();
    cur_variant = v;
}

/* New clients' answers block after a few KiB (white-box: the server's
 * descriptors are in its client slots). */
static void shrink_send_buffers(void)
{
    static int shrunk[64];
    for (int id = 0; id < srv->cfg.max_clients; id++) {
        const serve_client *c = &srv->clients[id];
        if (c->st == C_FREE) {
            shrunk[id] = -1;
            continue;
        }
        if (shrunk[id] == c->fd) continue;
        int v = 1; /* the kernel rounds up to its minimum */
        (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
        shrunk[id] = c->fd;
    }
}

static void server_poll(int n)
{
    for (int i = 0; i < n; i++) {
        int r = rcgc_serve_poll(srv, 0);
        if (r < 0) fail("rcgc_serve_poll failed", NULL);
        if (stopped_inside) { /* stopped from inside that poll: srv is gone */
            stopped_inside = 0;
            srv = NULL;
            /* the restart is the script's, not the server's: no injected
             * allocation failure (op 5 of client 5 may have armed one) */
            rcgc_memfault_fail_at(counter, 0);
            server_start(cur_variant);
            continue;
        }
        shrink_send_buffers();
    }
}

static void clients_hang_up(void);

/* Every client hangs up, then the server restarts with variant v. */
static void server_restart(unsigned v)
{
    clients_hang_up();
    rcgc_serve_stop(srv);
    srv = NULL;
    server_start(v);
}

static void expire_deadlines(void)
{
    uint64_t now = 1; /* every deadline is in the past */
    for (int id = 0; id < srv->cfg.max_clients; id++) {
        serve_client *c = &srv->clients[id];
        if (c->st == C_READ || c->st == C_WRITE) {
            c->deadline = now;
            if (c->st == C_WRITE) c->drain_end = now;
        }
    }
    if (srv->tw.active) srv->tw.deadline = now;
    if (srv->accept_paused) srv->accept_resume = now;
}

/* The end of a script or a restart: each client hangs up after reading
 * what is there; the server must let every one go. */
static void clients_hang_up(void)
{
    for (int k = 0; k < NCLIENTS; k++) {
        (void)client_read(&clients[k]);
        client_close(&clients[k]);
    }
    for (int round = 0;
         round < 64 && (srv->nclients > 0 || srv->tw.active || srv->accept_paused);
         round++) {
        expire_deadlines();
        server_poll(1);
    }
    if (srv->nclients != 0) fail("clients left after every peer hung up", NULL);
    if (srv->tw.active) fail("a trace window left open", NULL);
    if (srv->accept_paused) fail("accepting still paused after its back-off", NULL);
}

/* A template with the server's current token in place of TOKEN. */
static void template_text(const char *t, char *out, size_t size)
{
    const char *tok = rcgc_serve_token(srv);
    const char *at = strstr(t, TOKEN);
    if (at == NULL)
        snprintf(out, size, "%s", t);
    else
        snprintf(out, size, "%.*s%s%s", (int)(at - t), t, tok, at + strlen(TOKEN));
}

/* One poll while every descriptor is taken (the process's limit is low:
 * see LLVMFuzzerInitialize), so an accept fails with EMFILE. */
static void poll_without_descriptors(void)
{
    static int fds[FD_LIMIT];
    int n = 0;
    while (n < FD_LIMIT) {
        int fd = dup(0);
        if (fd < 0) break;
        fds[n++] = fd;
    }
    server_poll(1);
    while (n > 0) close(fds[--n]);
}

static long live_blocks(void)
{
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(counter, &st);
    return (long)st.live_blocks;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long blocks = live_blocks();
    /* each input starts with no lockout: a script of wrong tokens must not
     * lock out the next ones (it is the same uid) */
    memset(srv->fails, 0, sizeof srv->fails);
    int restarts = 0;
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        struct client *c = &clients[(op >> 3) % NCLIENTS];
        switch (op & 7) {
        case 0:
            client_connect(c);
            break;
        case 1: {
            size_t n = i < size ? data[i++] : 0;
            if (n > size - i) n = size - i;
            client_send(c, data + i, n);
            i += n;
            break;
        }
        case 2: {
            char t[512];
            template_text(templates[(i < size ? data[i++] : 0) % NTEMPLATES], t,
                          sizeof t);
            size_t len = strlen(t);
            size_t cut = (i < size ? data[i++] : 0) % (len + 1);
            client_send(c, (const uint8_t *)t, cut);
            server_poll(1);
            client_send(c, (const uint8_t *)t + cut, len - cut);
            break;
        }
        case 3:
            if (c->fd >= 0 && !c->wr_closed) {
                shutdown(c->fd, SHUT_WR);
                c->wr_closed = 1;
            }
            break;
        case 4:
            client_close(c);
            break;
        case 5: {
            unsigned k = i < size ? data[i++] : 0;
            if (c == &clients[5]) {
                rcgc_memfault_fail_at(counter, (long)(k % 16) + 1);
                server_poll(1);
                rcgc_memfault_fail_at(counter, 0);
            } else {
                server_poll(1 + (int)(k % 4));
            }
            break;
        }
        case 6:
            if (c == &clients[5])
                poll_without_descriptors();
            else if (client_read(c))
                client_close(c);
            break;
        case 7:
            if (c == &clients[5]) {
                unsigned v = i < size ? data[i++] : 0;
                if (restarts++ < MAX_RESTARTS) server_restart(v);
                break;
            }
            expire_deadlines();
            server_poll(1);
            break;
        }
    }
    clients_hang_up();
    if (cur_variant != 0) server_restart(0);
    rcgc_serve_stats st;
    rcgc_serve_get_stats(srv, &st);
    if (st.clients != 0 || st.tracing) fail("clients or a window in the stats", NULL);
    if (srv->tw.active) fail("a trace window left open", NULL);
    if (rcgc_trace_is_tracing(rt)) fail("the tracer left running", NULL);
    if (srv->in_poll || srv->accept_paused) fail("server state left behind", NULL);
    if (live_blocks() != blocks) {
        fprintf(stderr, "fuzz_serve_clients: %ld heap blocks before the input, %ld after\n",
                blocks, live_blocks());
        abort();
    }
    return 0;
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "fuzz_serve_clients: cannot write seed %s\n", path);
        return;
    }
    fwrite(p, 1, n, f);
    fclose(f);
}

#define C(k, op) ((uint8_t)(((k) << 3) | (op)))

static void seeds(const char *dir)
{
    /* one client per template, whole, answered and read */
    for (size_t t = 0; t < NTEMPLATES; t++) {
        const uint8_t s[] = {C(0, 0), C(0, 5), 1, C(0, 2), (uint8_t)t, 0,
                             C(0, 5), 3, C(0, 6), C(0, 5), 3, C(0, 6)};
        char name[32];
        snprintf(name, sizeof name, "template-%02zu", t);
        seed(dir, name, s, sizeof s);
    }
    /* six clients, four admitted; requests in two pieces; one half-closes
     * mid-request, one vanishes; deadlines expire */
    const uint8_t many[] = {C(0, 0), C(1, 0), C(2, 0), C(3, 0), C(4, 0), C(5, 0),
                            C(0, 5), 3, C(0, 2), 2, 7, C(1, 2), 5, 20, C(2, 1), 5,
                            '{', '"', 'c', 'm', 'd', C(2, 3), C(3, 4), C(0, 5), 3,
                            C(0, 6), C(1, 6), C(2, 6), C(4, 6), C(5, 6), C(0, 7),
                            C(0, 5), 2, C(1, 6), C(0, 6)};
    seed(dir, "many", many, sizeof many);
    /* a big answer that blocks, read slowly, then the write deadline */
    const uint8_t big[] = {C(1, 0), C(1, 5), 0, C(1, 2), 15, 0, C(1, 5), 3, C(1, 6),
                           C(1, 5), 3, C(1, 6), C(1, 7), C(1, 6)};
    seed(dir, "big", big, sizeof big);
    /* a trace window ended by its deadline, another cancelled by a hang-up */
    const uint8_t trace[] = {C(0, 0), C(1, 0), C(0, 5), 1, C(0, 2), 5, 0, C(1, 2), 6, 9,
                             C(0, 5), 1, C(1, 6), C(0, 3), C(0, 5), 1, C(0, 7),
                             C(0, 6), C(1, 0), C(1, 5), 1, C(1, 2), 6, 3, C(1, 5), 1,
                             C(1, 4), C(1, 5), 2};
    seed(dir, "trace", trace, sizeof trace);
    /* wrong tokens until the lockout */
    uint8_t lock[64];
    size_t n = 0;
    for (int k = 0; k < 8; k++) {
        lock[n++] = C(k % 4, 0);
        lock[n++] = C(k % 4, 2);
        lock[n++] = 9;
        lock[n++] = 0;
        lock[n++] = C(k % 4, 5);
        lock[n++] = 1;
        lock[n++] = C(k % 4, 6);
    }
    seed(dir, "lockout", lock, n);
    /* a request too long, in pieces; and a truncated one */
    uint8_t longreq[6000];
    n = 0;
    longreq[n++] = C(2, 0);
    for (int k = 0; k < 20; k++) {
        longreq[n++] = C(2, 1);
        longreq[n++] = 255;
        memset(longreq + n, 'a', 255);
        n += 255;
        if (k % 5 == 4) longreq[n++] = C(2, 5), longreq[n++] = 0;
    }
    longreq[n++] = C(2, 5);
    longreq[n++] = 1;
    longreq[n++] = C(2, 6);
    seed(dir, "long-request", longreq, n);
    const uint8_t trunc[] = {C(3, 0), C(3, 1), 4, '{', '"', 'c', 'm', C(3, 3),
                             C(3, 5), 2, C(3, 6)};
    seed(dir, "truncated", trunc, sizeof trunc);
    /* each configuration: restart, two clients, a request each, read */
    static const uint8_t variants[] = {1, 2, 4, 6, 8, 24, 32, 33, 3};
    for (size_t v = 0; v < sizeof variants; v++) {
        const uint8_t r[] = {C(5, 7), variants[v], C(0, 0), C(1, 0), C(0, 5), 1,
                             C(0, 2), 0, 3, C(1, 2), 15, 9, C(0, 5), 2, C(0, 6),
                             C(1, 6), C(1, 5), 2, C(1, 6)};
        char name[32];
        snprintf(name, sizeof name, "restart-%u", variants[v]);
        seed(dir, name, r, sizeof r);
    }
    /* stopped from inside a poll by a command, restarted, used again */
    const uint8_t stop[] = {C(0, 0), C(1, 0), C(0, 5), 1, C(0, 2), 16, 0, C(0, 5), 2,
                            C(1, 2), 0, 0, C(1, 5), 2, C(1, 6), C(0, 6)};
    seed(dir, "stop-inside", stop, sizeof stop);
    /* allocations failing in the server; accepting without descriptors */
    const uint8_t oom[] = {C(0, 0), C(5, 5), 0, C(0, 2), 15, 3, C(5, 5), 1, C(5, 5), 2,
                           C(5, 5), 4, C(0, 6), C(1, 0), C(1, 2), 5, 0, C(5, 5), 1,
                           C(5, 5), 0, C(1, 6), C(0, 6)};
    seed(dir, "server-oom", oom, sizeof oom);
    const uint8_t emfile[] = {C(0, 0), C(1, 0), C(5, 6), C(0, 5), 1, C(0, 7),
                              C(2, 0), C(2, 5), 1, C(0, 7), C(2, 2), 0, 0, C(2, 5), 1,
                              C(2, 6)};
    seed(dir, "emfile", emfile, sizeof emfile);
}

/* The server lives as long as the process; at its end, stop it (which
 * unlinks the socket) and remove the directory. */
static void at_exit(void)
{
    for (int k = 0; k < NCLIENTS; k++) client_close(&clients[k]);
    rcgc_serve_stop(srv);
    unlink(token_path);
    rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur > FD_LIMIT) {
        lim.rlim_cur = FD_LIMIT;
        (void)setrlimit(RLIMIT_NOFILE, &lim);
    }
    rcgc_allocator libc = rcgc_libc_allocator();
    counter = rcgc_memfault_new(&libc, NULL);
    if (counter == NULL) abort();
    rcgc_config rc;
    rcgc_config_init(&rc);
    rc.allocator = rcgc_memfault_allocator(counter);
    rt = rcgc_runtime_new(&rc);
    if (rt == NULL) abort();
    for (int k = 0; k < NTYPES; k++) {
        snprintf(type_names[k], sizeof type_names[k], "t%d-\xc3\xa9-some-longer-type-name", k);
        types[k] = (rcgc_type){.name = type_names[k], .size = sizeof(node),
                               .flags = RCGC_TYPE_GC, .traverse = node_traverse,
                               .clear = node_clear};
    }
    rcgc_object *prev = NULL;
    for (int k = 0; k < 3 * NTYPES; k++) {
        rcgc_object *o = rcgc_object_new(rt, &types[k % NTYPES]);
        if (o == NULL) abort();
        ((node *)o)->ref[0] = prev; /* a chain, each holding the previous */
        rcgc_object_track(rt, o);
        prev = o;
    }
    (void)prev; /* the runtime lives as long as the process */

    /* tmpfs when there is one: a restart with a token file fsyncs it */
    struct stat shm;
    const char *base = stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(sock_dir, sizeof sock_dir, "%s/rcgc-fuzz-clients-%ld", base, (long)getpid());
    if (mkdir(sock_dir, 0700) != 0 && errno != EEXIST) abort();
    snprintf(sock_path, sizeof sock_path, "%s/s", sock_dir);
    snprintf(token_path, sizeof token_path, "%s/token", sock_dir);
    server_start(0);
    for (int k = 0; k < NCLIENTS; k++) clients[k].fd = -1;
    atexit(at_exit);
    const char *dir = getenv("RCGC_FUZZ_SEEDS");
    if (dir != NULL) seeds(dir);
    return 0;
}

/*
 * serve_client.c - the endpoint's clients and rcgc_serve_poll: a poller
 * (epoll on Linux, through the platform seam) holding the listener and the
 * clients, and a state machine per client.
 *
 *   client      FREE -> READ (request being received; deadline)
 *                    -> TRACE (a "trace" window is open for it)
 *                    -> WRITE (answer being sent; deadline without progress,
 *                       capped by one for the whole answer)
 *                    -> closed.  One request per connection.
 *
 * Answers come from the server's allocator (the runtime's raw base), never
 * a traced domain, so a trace window does not see the server itself.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "platform/os.h"
#include "serve/serve_internal.h"

#define ACCEPTS_PER_POLL 16
#define EVENTS_PER_POLL 16
#define ACCEPT_BACKOFF_NS 100000000u /* out of descriptors: 100 ms */

/* bytes/s an answer must drain at, on average (tests lower it) */
uint64_t rcgc__serve_drain_rate = 65536;

/* ---- one client ---- */

static void set_events(rcgc_serve *srv, int id, unsigned events)
{
    serve_client *c = &srv->clients[id];
    if (c->events == events) return;
    (void)rcgc__os_poller_mod(srv->pfd, c->fd, events, (uint32_t)id);
    c->events = events;
}

void rcgc__serve_client_close(rcgc_serve *srv, int id, int dropped)
{
    serve_client *c = &srv->clients[id];
    if (c->st == C_FREE) return;
    if (srv->tw.active && srv->tw.client == id) rcgc__serve_trace_cancel(srv);
    (void)rcgc__os_poller_del(srv->pfd, c->fd);
    rcgc__os_close(c->fd);
    rcgc__jb_free(&c->out);
    c->fd = -1;
    c->st = C_FREE;
    c->inlen = 0;
    srv->nclients--;
    srv->stats.clients = srv->nclients;
    if (dropped) srv->stats.dropped++;
    if (srv->accept_paused) srv->slot_closed = 1; /* a descriptor is free */
}

/* Write what the socket takes; close when done or failed. */
static void client_flush(rcgc_serve *srv, int id)
{
    serve_client *c = &srv->clients[id];
    while (c->outpos < c->out.len) {
        size_t w = 0;
        int e = rcgc__os_send(c->fd, c->out.p + c->outpos,
                              c->out.len - c->outpos, &w);
        if (e == 0 && w > 0) {
            c->outpos += w;
            c->deadline = rcgc__os_now_ns() +
                          (uint64_t)srv->cfg.write_timeout_ms * 1000000u;
            if (c->deadline > c->drain_end) c->deadline = c->drain_end;
            continue;
        }
        if (e == EAGAIN) {
            set_events(srv, id, RCGC__OS_EV_OUT);
            return;
        }
        rcgc__serve_client_close(srv, id, 1);
        return;
    }
    rcgc__serve_client_close(srv, id, 0);
}

static void client_answer(rcgc_serve *srv, int id, jbuf *b)
{
    serve_client *c = &srv->clients[id];
    rcgc__jb_free(&c->out);
    c->out = *b;
    rcgc__jb_fallback(&c->out); /* a cut or failed answer is never sent */
    c->outpos = 0;
    c->st = C_WRITE;
    uint64_t now = rcgc__os_now_ns();
    c->deadline = now + (uint64_t)srv->cfg.write_timeout_ms * 1000000u;
    /* an overall bound too, so that a trickle of progress cannot hold the
     * slot: the write timeout plus the answer at rcgc__serve_drain_rate */
    uint64_t rate = rcgc__serve_drain_rate ? rcgc__serve_drain_rate : 1;
    c->drain_end = c->deadline + (uint64_t)c->out.len * 1000000000u / rate;
    srv->stats.answered++;
    set_events(srv, id, RCGC__OS_EV_OUT);
    client_flush(srv, id);
}

static void client_answer_error(rcgc_serve *srv, int id, const char *msg)
{
    jbuf b;
    rcgc__jb_init(&b, &srv->a, srv->cfg.max_response);
    rcgc__jb_error(&b, msg);
    client_answer(srv, id, &b);
}

static void client_request(rcgc_serve *srv, int id, size_t len)
{
    serve_client *c = &srv->clients[id];
    if (len > 0 && c->in[len - 1] == '\r') len--;
    jbuf b;
    rcgc__jb_init(&b, &srv->a, srv->cfg.max_response);
    serve_req *req = rcgc__serve_alloc(srv, sizeof *req);
    int auth = SERVE_AUTH_BAD_REQUEST;
    if (req == NULL) {
        rcgc__jb_error(&b, "out of memory");
    } else if (rcgc__serve_locked_out(srv, c->uid, &b) == 0) {
        /* a locked-out uid's request is not even parsed */
        auth = rcgc__serve_authenticate(srv, c->in, len, req, &b);
        if (auth != SERVE_AUTH_BAD_REQUEST)
            rcgc__serve_token_result(srv, c->uid, auth == 0);
    }
    if (auth == 0) {
        unsigned trace_fields = SERVE_F_SECONDS | SERVE_F_TOP | SERVE_F_BY;
        if (strcmp(req->cmd, "trace") == 0 &&
            rcgc__serve_check_fields(req, trace_fields, &b) == 0 &&
            rcgc__serve_trace_begin(srv, req, id, &b) == 0) {
            /* the answer comes at the window's end */
            c->st = C_TRACE;
            set_events(srv, id, RCGC__OS_EV_IN | RCGC__OS_EV_RDHUP);
            rcgc__serve_free(srv, req);
            rcgc__jb_free(&b);
            return;
        }
        if (strcmp(req->cmd, "trace") != 0) rcgc__serve_dispatch(srv, req, &b);
    }
    rcgc__serve_free(srv, req);
    client_answer(srv, id, &b);
}

/* TRACE: the request is in and the answer waits for the window's end.
 * Bytes after the request are read and ignored; a client that hangs up
 * is closed (which cancels its window); a half-closed one still waits. */
static void client_drain(rcgc_serve *srv, int id, unsigned revents)
{
    serve_client *c = &srv->clients[id];
    char junk[512];
    for (int k = 0; k < 8; k++) { /* bounded: a flood waits its turn */
        size_t r = 0;
        int e = rcgc__os_recv(c->fd, junk, sizeof junk, &r);
        if (e == 0 && r > 0) continue; /* after the request: ignored */
        if (e == EAGAIN) return;
        if (e == 0 && !(revents & (RCGC__OS_EV_HUP | RCGC__OS_EV_ERR))) {
            /* half-closed: it still waits for the answer */
            set_events(srv, id, 0);
            return;
        }
        rcgc__serve_client_close(srv, id, 1); /* gone: the window is cancelled */
        return;
    }
}

static void client_readable(rcgc_serve *srv, int id, unsigned revents)
{
    serve_client *c = &srv->clients[id];
    if (c->st == C_TRACE) {
        client_drain(srv, id, revents);
        return;
    }
    if (c->st != C_READ) return;
    for (;;) {
        size_t room = sizeof c->in - c->inlen;
        if (room == 0) {
            srv->stats.bad_requests++;
            char msg[128];
            snprintf(msg, sizeof msg, "request larger than %d bytes (the "
                     "limit, newline included)", RCGC_SERVE_MAX_REQUEST);
            client_answer_error(srv, id, msg);
            return;
        }
        size_t r = 0;
        int e = rcgc__os_recv(c->fd, c->in + c->inlen, room, &r);
        if (e == EAGAIN) return;
        if (e != 0) {
            rcgc__serve_client_close(srv, id, 1);
            return;
        }
        if (r == 0) {
            if (c->inlen == 0) {
                rcgc__serve_client_close(srv, id, 0); /* connected, said nothing, left */
                return;
            }
            srv->stats.bad_requests++;
            char msg[160];
            snprintf(msg, sizeof msg, "truncated request: the connection was "
                     "closed after %zu bytes, before the newline that ends a "
                     "request", c->inlen);
            client_answer_error(srv, id, msg);
            return;
        }
        const char *nl = memchr(c->in + c->inlen, '\n', r);
        c->inlen += r;
        if (nl != NULL) {
            client_request(srv, id, (size_t)(nl - c->in));
            return;
        }
    }
}

/* ---- accepting ---- */

/* Best effort: one non-blocking send of a fixed error, then close. */
static void refuse(int fd, const char *msg)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "{\"ok\":false,\"error\":\"%s\"}\n", msg);
    if (n > 0 && (size_t)n < sizeof buf) {
        size_t w;
        (void)rcgc__os_send(fd, buf, (size_t)n, &w);
    }
    rcgc__os_close(fd);
}

static int uid_allowed(const rcgc_serve *srv, uint32_t uid)
{
    if (srv->cfg.allowed_uids == NULL) return uid == rcgc__os_euid();
    for (size_t i = 0; i < srv->cfg.nallowed_uids; i++)
        if (srv->cfg.allowed_uids[i] == uid) return 1;
    return 0;
}

/* Out of descriptors (or kernel memory): the pending connection stays in
 * the backlog and the listener stays readable, so a loop polling
 * rcgc_serve_fd would spin.  Take the listener out of the poller until
 * a client slot closes or ACCEPT_BACKOFF_NS passed (rcgc_serve_timeout
 * includes that deadline). */
static void accept_pause(rcgc_serve *srv)
{
    if (srv->accept_paused) return;
    if (rcgc__os_poller_del(srv->pfd, srv->lfd) != 0) return;
    srv->accept_paused = 1;
    srv->slot_closed = 0;
    srv->accept_resume = rcgc__os_now_ns() + ACCEPT_BACKOFF_NS;
}

static void accept_resume_check(rcgc_serve *srv)
{
    if (!srv->accept_paused) return;
    if (!srv->slot_closed && rcgc__os_now_ns() < srv->accept_resume) return;
    int e = rcgc__os_poller_add(srv->pfd, srv->lfd, RCGC__OS_EV_IN,
                                SERVE_LISTENER_ID);
    if (e != 0 && e != EEXIST) {
        srv->accept_resume = rcgc__os_now_ns() + ACCEPT_BACKOFF_NS; /* try later */
        return;
    }
    srv->accept_paused = 0;
    srv->slot_closed = 0;
}

/* 0 when the peer of a new connection may come in; otherwise refused
 * (answered and closed) and counted. */
static int admit(rcgc_serve *srv, int fd, uint32_t *peer)
{
    char msg[96];
    uint32_t uid = 0;
    if (srv->nclients >= srv->cfg.max_clients) {
        snprintf(msg, sizeof msg, "too many clients (at most %d at once); "
                 "try again later", srv->cfg.max_clients);
        srv->stats.refused_full++;
        refuse(fd, msg);
        return -1;
    }
    if (rcgc__os_peer_uid(fd, &uid) != 0) {
        srv->stats.refused_peer++;
        refuse(fd, "cannot read the peer's credentials");
        return -1;
    }
    if (!uid_allowed(srv, uid)) {
        snprintf(msg, sizeof msg, "peer uid %lu is not allowed",
                 (unsigned long)uid);
        srv->stats.refused_peer++;
        refuse(fd, msg);
        return -1;
    }
    *peer = uid;
    return 0;
}

static void accept_clients(rcgc_serve *srv)
{
    for (int k = 0; k < ACCEPTS_PER_POLL; k++) {
        int fd;
        int e = rcgc__os_accept(srv->lfd, &fd);
        if (e != 0) {
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                accept_pause(srv);
            return; /* EAGAIN, or out of descriptors: next time */
        }
        srv->stats.accepted++;
        uint32_t uid = 0;
        if (admit(srv, fd, &uid) != 0) continue;
        int id = 0;
        while (srv->clients[id].st != C_FREE) id++;
        serve_client *c = &srv->clients[id];
        unsigned events = RCGC__OS_EV_IN | RCGC__OS_EV_RDHUP;
        if (rcgc__os_poller_add(srv->pfd, fd, events, (uint32_t)id) != 0) {
            refuse(fd, "server error: epoll_ctl failed");
            continue;
        }
        c->fd = fd;
        c->uid = uid;
        c->st = C_READ;
        c->events = events;
        c->inlen = 0;
        c->outpos = 0;
        rcgc__jb_init(&c->out, &srv->a, srv->cfg.max_response);
        c->deadline = rcgc__os_now_ns() + (uint64_t)srv->cfg.request_timeout_ms * 1000000u;
        srv->nclients++;
        srv->stats.clients = srv->nclients;
    }
}

/* ---- the poll ---- */

static void check_deadlines(rcgc_serve *srv)
{
    uint64_t now = rcgc__os_now_ns();
    if (srv->tw.active && now >= srv->tw.deadline) {
        int id = srv->tw.client;
        jbuf b;
        rcgc__jb_init(&b, &srv->a, srv->cfg.max_response);
        srv->tw.client = -1; /* so that closing the client does not cancel */
        rcgc__serve_trace_finish(srv, &b);
        if (id >= 0 && srv->clients[id].st == C_TRACE)
            client_answer(srv, id, &b);
        else
            rcgc__jb_free(&b);
    }
    for (int id = 0; id < srv->cfg.max_clients; id++) {
        serve_client *c = &srv->clients[id];
        if ((c->st == C_READ || c->st == C_WRITE) && now >= c->deadline) {
            if (c->st == C_READ) {
                srv->stats.bad_requests++;
                char msg[160];
                snprintf(msg, sizeof msg, "request timed out: no complete "
                         "request within %d ms (%zu bytes received)",
                         srv->cfg.request_timeout_ms, c->inlen);
                client_answer_error(srv, id, msg);
            } else {
                rcgc__serve_client_close(srv, id, 1);
            }
        }
    }
}

int rcgc_serve_timeout(const rcgc_serve *srv)
{
    uint64_t next = UINT64_MAX, now = rcgc__os_now_ns();
    if (srv->tw.active) next = srv->tw.deadline;
    if (srv->accept_paused && srv->accept_resume < next) next = srv->accept_resume;
    for (int id = 0; id < srv->cfg.max_clients; id++) {
        const serve_client *c = &srv->clients[id];
        if ((c->st == C_READ || c->st == C_WRITE) && c->deadline < next)
            next = c->deadline;
    }
    if (next == UINT64_MAX) return -1;
    if (next <= now) return 0;
    uint64_t ms = (next - now + 999999u) / 1000000u;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}


static int serve_poll(rcgc_serve *srv, int timeout_ms);

int rcgc_serve_poll(rcgc_serve *srv, int timeout_ms)
{
    if (srv == NULL || srv->pfd < 0) return RCGC_EINVAL;
    if (srv->in_poll || srv->stop_requested)
        return RCGC_EINVAL; /* from inside itself (a command hook, a diag
                               callback): the outer poll owns the state */
    if (rcgc__runtime_busy(srv->rt))
        return RCGC_EINVAL; /* from a finalizer or a callback: not now */
    srv->in_poll = 1;
    int r = serve_poll(srv, timeout_ms);
    srv->in_poll = 0;
    if (srv->stop_requested) rcgc__serve_stop_now(srv); /* deferred from inside */
    return r;
}

/* One ready member of the poller. */
static void handle_event(rcgc_serve *srv, const rcgc__os_event *ev)
{
    uint32_t id = ev->id;
    if (id == SERVE_LISTENER_ID) {
        /* paused: taken out of the poller by this batch */
        if (!srv->accept_paused) accept_clients(srv);
        return;
    }
    if (id >= (uint32_t)srv->cfg.max_clients) return;
    serve_client *c = &srv->clients[id];
    /* an earlier event of this batch may have closed the slot (and an
     * accept reused it: its events then come with the next wait) */
    if (c->st == C_FREE) return;
    unsigned re = ev->events;
    if (c->st == C_WRITE) {
        if (re & (RCGC__OS_EV_OUT | RCGC__OS_EV_ERR | RCGC__OS_EV_HUP))
            client_flush(srv, (int)id);
        return;
    }
    if (re & (RCGC__OS_EV_IN | RCGC__OS_EV_RDHUP | RCGC__OS_EV_HUP | RCGC__OS_EV_ERR))
        client_readable(srv, (int)id, re);
}

static int serve_poll(rcgc_serve *srv, int timeout_ms)
{
    uint64_t answered = srv->stats.answered;
    int t = rcgc_serve_timeout(srv);
    int wait = timeout_ms;
    if (t >= 0 && (wait < 0 || t < wait)) wait = t;
    rcgc__os_event ev[EVENTS_PER_POLL];
    int n = 0;
    if (rcgc__os_poller_wait(srv->pfd, ev, EVENTS_PER_POLL, wait, &n) != 0)
        return RCGC_EFAILED;
    for (int i = 0; i < n && !srv->stop_requested; i++) handle_event(srv, &ev[i]);
    if (!srv->stop_requested) {
        check_deadlines(srv);
        accept_resume_check(srv);
    }
    return (int)(srv->stats.answered - answered);
}

int rcgc_serve_fd(const rcgc_serve *srv)
{
    return srv == NULL ? -1 : srv->pfd;
}

const char *rcgc_serve_token(const rcgc_serve *srv)
{
    return srv->token;
}

void rcgc_serve_get_stats(const rcgc_serve *srv,
                          rcgc_serve_stats *out)
{
    *out = srv->stats;
    out->clients = srv->nclients;
    out->tracing = srv->tw.active;
}

/*
 * serve.c - the live diagnostics endpoint (include/rcgc_serve.h,
 * docs/serve.md): starting and stopping it.  Start checks the
 * configuration, copies it, binds and listens on a Unix domain socket
 * (0600, refusing to replace anything but a stale socket), and writes the
 * token file when the program gave no token; stop undoes all of it.
 *
 * The other files: serve_client.c (clients, rcgc_serve_poll),
 * serve_cmd.c (the commands), serve_trace.c (trace windows),
 * serve_req.c (requests), serve_json.c (answers); serve_internal.h lists
 * them and the state they share.  Every OS call goes through the platform
 * seam (platform/os.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "mem/alloc_internal.h"
#include "platform/os.h"
#include "rcgc_diag.h"
#include "serve/serve_internal.h"

#define MAX_ALLOWED_UIDS 65536

static char *s_strdup(rcgc_serve *srv, const char *s)
{
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *p = srv->a.malloc(srv->a.ctx, n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

/* ---- configuration ---- */

void rcgc_serve_config_init(rcgc_serve_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->max_clients = 4;
    cfg->request_timeout_ms = 5000;
    cfg->write_timeout_ms = 5000;
    cfg->max_response = (size_t)1 << 20;
    cfg->max_trace_seconds = 3600;
    rcgc_trace_config_init(&cfg->trace);
    rcgc_diag_options_init(&cfg->diag);
}

static int check_config(const rcgc_serve_config *cfg, int need_socket,
                        char *err, size_t errlen)
{
    if (!RCGC__SIZE_OK(cfg) || !RCGC__SIZE_OK(&cfg->trace) ||
        !RCGC__SIZE_OK(&cfg->diag)) {
        rcgc__set_err(err, errlen, "the config's size fields are not its "
                             "structs' (use rcgc_serve_config_init)");
        return RCGC_EINVAL;
    }
    if (need_socket && (cfg->socket_path == NULL || cfg->socket_path[0] == 0)) {
        rcgc__set_err(err, errlen, "no socket_path");
        return RCGC_EINVAL;
    }
    if (need_socket && strlen(cfg->socket_path) > rcgc__os_unix_path_max()) {
        rcgc__set_err(err, errlen, "socket_path is longer than %zu bytes",
                rcgc__os_unix_path_max());
        return RCGC_EINVAL;
    }
    if (cfg->token != NULL) {
        size_t n = strlen(cfg->token);
        if (n < SERVE_TOKEN_MIN || n > SERVE_TOKEN_MAX) {
            rcgc__set_err(err, errlen, "the token must be %d..%d bytes",
                    SERVE_TOKEN_MIN, SERVE_TOKEN_MAX);
            return RCGC_EINVAL;
        }
        for (size_t i = 0; i < n; i++)
            if (cfg->token[i] <= ' ' || cfg->token[i] >= 0x7F) {
                rcgc__set_err(err, errlen, "the token must be printable ASCII without spaces");
                return RCGC_EINVAL;
            }
    } else if (cfg->token_file == NULL || cfg->token_file[0] == 0) {
        rcgc__set_err(err, errlen, "no token and no token_file: a token is required");
        return RCGC_EINVAL;
    }
    if (cfg->allowed_uids == NULL && cfg->nallowed_uids != 0) {
        rcgc__set_err(err, errlen, "nallowed_uids without allowed_uids");
        return RCGC_EINVAL;
    }
    if (cfg->nallowed_uids > MAX_ALLOWED_UIDS) {
        rcgc__set_err(err, errlen, "nallowed_uids is %zu: at most %d uids",
                cfg->nallowed_uids, MAX_ALLOWED_UIDS);
        return RCGC_EINVAL;
    }
    if (cfg->max_clients < 1 || cfg->max_clients > 64 ||
        cfg->request_timeout_ms < 1 || cfg->write_timeout_ms < 1 ||
        cfg->max_response < 4096 || cfg->max_response > ((size_t)1 << 30) ||
        cfg->max_trace_seconds < 1 || cfg->max_trace_seconds > 86400) {
        rcgc__set_err(err, errlen, "a limit is out of range (max_clients 1..64, "
                "timeouts >= 1 ms, max_response 4 KiB..1 GiB, "
                "max_trace_seconds 1..86400)");
        return RCGC_EINVAL;
    }
    if (cfg->snapshot_dir != NULL && strlen(cfg->snapshot_dir) > 4096) {
        rcgc__set_err(err, errlen, "snapshot_dir is too long");
        return RCGC_EINVAL;
    }
    return 0;
}

static void srv_free(rcgc_serve *srv)
{
    rcgc__serve_free(srv, (void *)(uintptr_t)srv->cfg.socket_path);
    rcgc__serve_free(srv, (void *)(uintptr_t)srv->cfg.token_file);
    rcgc__serve_free(srv, (void *)(uintptr_t)srv->cfg.snapshot_dir);
    rcgc__serve_free(srv, (void *)(uintptr_t)srv->cfg.allowed_uids);
    rcgc__serve_free(srv, srv->clients);
    rcgc__runtime_detach(srv->rt);
    rcgc_allocator a = srv->a;
    a.free(a.ctx, srv);
}

static int srv_new(rcgc_runtime *rt, const rcgc_serve_config *cfg,
                   rcgc_serve **out)
{
    rcgc_allocator a = rcgc__heap_raw_base(rcgc_runtime_heap(rt));
    rcgc_serve *srv = a.calloc(a.ctx, 1, sizeof *srv);
    if (srv == NULL) return RCGC_ENOMEM;
    srv->rt = rt;
    rcgc__runtime_attach(rt); /* rcgc_runtime_free is refused until stop */
    srv->a = a;
    srv->cfg = *cfg;
    srv->cfg.token = NULL; /* kept in srv->token */
    srv->cfg.socket_path = NULL;
    srv->cfg.token_file = NULL;
    srv->cfg.snapshot_dir = NULL;
    srv->cfg.allowed_uids = NULL;
    srv->lfd = srv->pfd = -1;
    srv->tw.client = -1;
    int bad = 0;
    if (cfg->socket_path) bad |= !(srv->cfg.socket_path = s_strdup(srv, cfg->socket_path));
    if (cfg->token == NULL && cfg->token_file)
        bad |= !(srv->cfg.token_file = s_strdup(srv, cfg->token_file));
    if (cfg->snapshot_dir)
        bad |= !(srv->cfg.snapshot_dir = s_strdup(srv, cfg->snapshot_dir));
    if (cfg->allowed_uids != NULL) {
        uint32_t *u = rcgc__serve_alloc(srv, (cfg->nallowed_uids + 1) * sizeof *u);
        if (u != NULL && cfg->nallowed_uids > 0)
            memcpy(u, cfg->allowed_uids, cfg->nallowed_uids * sizeof *u);
        srv->cfg.allowed_uids = u;
        bad |= u == NULL;
    }
    srv->clients =
        rcgc__serve_alloc(srv, (size_t)cfg->max_clients * sizeof *srv->clients);
    bad |= srv->clients == NULL;
    if (bad) {
        srv_free(srv);
        return RCGC_ENOMEM;
    }
    for (int i = 0; i < cfg->max_clients; i++) srv->clients[i].fd = -1;
    if (cfg->token != NULL) {
        srv->token_len = strlen(cfg->token);
        memcpy(srv->token, cfg->token, srv->token_len + 1);
    }
    *out = srv;
    return 0;
}

/* ---- the token file ---- */

/* A new random token (64 hex digits) in srv->token. */
static int new_token(rcgc_serve *srv, char *err, size_t errlen)
{
    unsigned char rnd[32];
    int e = rcgc__os_random(rnd, sizeof rnd);
    if (e != 0) {
        rcgc__set_err(err, errlen, "getrandom failed: %s", strerror(e));
        return RCGC_EFAILED;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof rnd; i++) {
        srv->token[2 * i] = hex[rnd[i] >> 4];
        srv->token[2 * i + 1] = hex[rnd[i] & 15];
    }
    srv->token_len = 2 * sizeof rnd;
    srv->token[srv->token_len] = 0;
    memset(rnd, 0, sizeof rnd);
    return 0;
}

/* The token and a newline into the new file fd, to the disk; its identity
 * into *st.  0 or an errno value. */
static int write_token(rcgc_serve *srv, int fd, rcgc__os_stat *st)
{
    char line[SERVE_TOKEN_MAX + 2];
    memcpy(line, srv->token, srv->token_len);
    line[srv->token_len] = '\n';
    int e = rcgc__os_fd_chmod(fd, 0600);
    if (e == 0) e = rcgc__os_write_all(fd, line, srv->token_len + 1);
    if (e == 0) e = rcgc__os_fsync(fd);
    if (e == 0) e = rcgc__os_fstat(fd, st);
    memset(line, 0, sizeof line);
    return e;
}

/* A new token in srv->token, written to the token file (0600, created
 * fresh under a temporary name, then renamed over the path). */
static int make_token(rcgc_serve *srv, char *err, size_t errlen)
{
    int e = new_token(srv, err, errlen);
    if (e != 0) return e;
    const char *path = srv->cfg.token_file;
    size_t n = strlen(path) + 32;
    char *tmp = rcgc__serve_alloc(srv, n);
    if (tmp == NULL) return RCGC_ENOMEM;
    snprintf(tmp, n, "%s.tmp-%ld", path, rcgc__os_pid());
    rcgc__os_unlink(tmp); /* ours from an earlier run of this pid, if any */
    int fd;
    e = rcgc__os_file_create(tmp, &fd);
    if (e != 0) {
        rcgc__set_err(err, errlen, "cannot create the token file %s: %s", tmp, strerror(e));
        rcgc__serve_free(srv, tmp);
        return RCGC_EFAILED;
    }
    rcgc__os_stat st;
    e = write_token(srv, fd, &st);
    int ce = rcgc__os_close(fd);
    if (e == 0) e = ce;
    if (e == 0) e = rcgc__os_rename(tmp, path);
    if (e != 0) {
        rcgc__os_unlink(tmp);
        rcgc__set_err(err, errlen, "cannot write the token file %s: %s", path, strerror(e));
        rcgc__serve_free(srv, tmp);
        return RCGC_EFAILED;
    }
    rcgc__serve_free(srv, tmp);
    srv->token_made = 1;
    srv->tok_dev = st.dev;
    srv->tok_ino = st.ino;
    return 0;
}

/* ---- the socket ---- */

/* Remove a stale socket at path, or refuse anything else. */
static int clear_path(const char *path, char *err, size_t errlen)
{
    rcgc__os_stat st;
    int e = rcgc__os_lstat(path, &st);
    if (e == ENOENT) return 0;
    if (e != 0) {
        rcgc__set_err(err, errlen, "cannot examine %s: %s", path, strerror(e));
        return RCGC_EFAILED;
    }
    if (st.kind != RCGC__OS_FILE_SOCKET) {
        rcgc__set_err(err, errlen, "%s exists and is not a socket: refusing to "
                "replace it", path);
        return RCGC_EINVAL;
    }
    /* A socket: stale unless something accepts connections on it. */
    int fd;
    e = rcgc__os_unix_socket(&fd);
    if (e != 0) {
        rcgc__set_err(err, errlen, "socket: %s", strerror(e));
        return RCGC_EFAILED;
    }
    e = rcgc__os_unix_connect(fd, path);
    rcgc__os_close(fd);
    if (e == 0 || e == EAGAIN || e == EINPROGRESS) {
        rcgc__set_err(err, errlen, "%s: a server is already listening there", path);
        return RCGC_EINVAL;
    }
    if (e != ECONNREFUSED) {
        rcgc__set_err(err, errlen, "cannot probe the socket %s: %s", path, strerror(e));
        return RCGC_EFAILED;
    }
    e = rcgc__os_unlink(path);
    if (e != 0 && e != ENOENT) {
        rcgc__set_err(err, errlen, "cannot remove the stale socket %s: %s", path,
                strerror(e));
        return RCGC_EFAILED;
    }
    return 0;
}

/* Record the socket file at path as ours (stop unlinks it): 0, or an
 * errno value when no socket is there. */
static int claim_socket(rcgc_serve *srv, const char *path, rcgc__os_stat *st)
{
    int e = rcgc__os_lstat(path, st);
    if (e == 0 && st->kind != RCGC__OS_FILE_SOCKET) e = ENOENT;
    if (e != 0) return e;
    srv->sock_made = 1;
    srv->sock_dev = st->dev;
    srv->sock_ino = st->ino;
    return 0;
}

/* A new socket in srv->lfd, bound to the path and listening. */
static int bind_listen(rcgc_serve *srv, const char *path, char *err,
                       size_t errlen)
{
    int fd;
    int e = rcgc__os_unix_socket(&fd);
    if (e != 0) {
        rcgc__set_err(err, errlen, "socket: %s", strerror(e));
        return RCGC_EFAILED;
    }
    srv->lfd = fd;
    /* Linux creates the socket file with the socket inode's mode minus the
     * umask: both are narrowed, so the file is 0600 from its creation. */
    e = rcgc__os_fd_chmod(srv->lfd, 0600);
    if (e != 0) {
        rcgc__set_err(err, errlen, "fchmod on the socket: %s", strerror(e));
        return RCGC_EFAILED;
    }
    e = rcgc__os_unix_bind(srv->lfd, path);
    if (e != 0) {
        rcgc__set_err(err, errlen, "cannot bind %s: %s", path, strerror(e));
        return e == EADDRINUSE ? RCGC_EINVAL : RCGC_EFAILED;
    }
    /* listen at once: between bind and listen a second server's probe
     * (clear_path) would get ECONNREFUSED and unlink our socket as stale.
     * Nobody can connect before the checks below: accepting happens only
     * in rcgc_serve_poll, after start returned. */
    e = rcgc__os_listen(srv->lfd, srv->cfg.max_clients + 8);
    if (e != 0) {
        rcgc__os_stat st;
        (void)claim_socket(srv, path, &st); /* ours if there: stop unlinks it */
        rcgc__set_err(err, errlen, "listen: %s", strerror(e));
        return RCGC_EFAILED;
    }
    return 0;
}

static int open_socket(rcgc_serve *srv, char *err, size_t errlen)
{
    const char *path = srv->cfg.socket_path;
    int e = clear_path(path, err, errlen);
    if (e == 0) e = bind_listen(srv, path, err, errlen);
    if (e != 0) return e;
    rcgc__os_stat st;
    if (claim_socket(srv, path, &st) != 0) {
        rcgc__set_err(err, errlen, "%s vanished after bind", path);
        return RCGC_EFAILED;
    }
    if (st.perm & 077 || st.uid != rcgc__os_euid()) {
        rcgc__set_err(err, errlen, "%s was created with mode %03o, owner %lu: refusing",
                path, st.perm, (unsigned long)st.uid);
        return RCGC_EFAILED;
    }
    e = rcgc__os_poller_new(&srv->pfd);
    if (e != 0) {
        rcgc__set_err(err, errlen, "epoll_create1: %s", strerror(e));
        return RCGC_EFAILED;
    }
    e = rcgc__os_poller_add(srv->pfd, srv->lfd, RCGC__OS_EV_IN, SERVE_LISTENER_ID);
    if (e != 0) {
        rcgc__set_err(err, errlen, "epoll_ctl: %s", strerror(e));
        return RCGC_EFAILED;
    }
    return 0;
}

/* ---- start and stop ---- */

int rcgc_serve_start(rcgc_runtime *rt,
                     const rcgc_serve_config *cfg,
                     rcgc_serve **out, char *err, size_t errlen)
{
    rcgc__set_err(err, errlen, "%s", "");
    if (out != NULL) *out = NULL;
    if (rt == NULL || cfg == NULL || out == NULL) {
        rcgc__set_err(err, errlen, "NULL argument");
        return RCGC_EINVAL;
    }
    int e = check_config(cfg, 1, err, errlen);
    if (e != 0) return e;
    rcgc_serve *srv;
    e = srv_new(rt, cfg, &srv);
    if (e != 0) {
        rcgc__set_err(err, errlen, "out of memory");
        return e;
    }
    /* the socket first: a start that fails there (a server already
     * listening on the path) must not touch that server's token file */
    e = open_socket(srv, err, errlen);
    if (e == 0 && cfg->token == NULL) e = make_token(srv, err, errlen);
    if (e != 0) {
        rcgc_serve_stop(srv);
        return e;
    }
    *out = srv;
    return 0;
}

int rcgc__serve_new_detached(rcgc_runtime *rt, const rcgc_serve_config *cfg,
                             rcgc_serve **out)
{
    if (cfg->token == NULL) return RCGC_EINVAL;
    int e = check_config(cfg, 0, NULL, 0);
    return e != 0 ? e : srv_new(rt, cfg, out);
}

/* Unlink path if it is still the file we made. */
static void unlink_ours(const char *path, uint64_t dev, uint64_t ino)
{
    rcgc__os_stat st;
    if (path != NULL && rcgc__os_lstat(path, &st) == 0 && st.dev == dev &&
        st.ino == ino)
        rcgc__os_unlink(path);
}

void rcgc_serve_stop(rcgc_serve *srv)
{
    if (srv == NULL) return;
    if (srv->in_poll) {
        /* from inside rcgc_serve_poll (a command hook, a diag callback):
         * freeing now would pull the state from under the poll.  It
         * finishes the work in hand, then stops before it returns. */
        srv->stop_requested = 1;
        return;
    }
    rcgc__serve_stop_now(srv);
}

void rcgc__serve_stop_now(rcgc_serve *srv)
{
    for (int id = 0; id < srv->cfg.max_clients; id++)
        rcgc__serve_client_close(srv, id, 0);
    rcgc__serve_trace_cancel(srv);
    rcgc__os_close(srv->pfd);
    rcgc__os_close(srv->lfd);
    if (srv->sock_made) unlink_ours(srv->cfg.socket_path, srv->sock_dev, srv->sock_ino);
    if (srv->token_made) unlink_ours(srv->cfg.token_file, srv->tok_dev, srv->tok_ino);
    memset(srv->token, 0, sizeof srv->token);
    srv_free(srv);
}

/*
 * rcgc_serve.h - a live diagnostics endpoint: an optional in-process server
 * on a Unix domain socket that answers an operator's questions about a
 * running program (statistics, counts by type, "trace for N seconds",
 * snapshot files, why objects are alive) as JSON.  Protocol, security model
 * and limits: docs/serve.md; the client is build/bin/rcgc-ctl.
 *
 * Off unless the program starts it.  It never runs on its own: requests are
 * read, answered and written only inside rcgc_serve_poll, which the program
 * calls from its main loop (on the runtime's thread), and every socket is
 * non-blocking, so a slow or hostile client can neither block the program
 * nor make it buffer more than the configured bounds.
 *
 * Every client is checked, in this order: its peer credentials
 * (SO_PEERCRED: the process's own uid, or one of allowed_uids), the size and
 * deadline of its request, the request's syntax, then its token (compared
 * in constant time; after 5 wrong tokens in a row, each further one locks
 * the peer's uid out for 0.1 s doubling to 60 s, during which its requests
 * are refused unread: docs/serve.md).  Linux only (SO_PEERCRED, epoll).
 *
 * Memory comes from the runtime's raw base allocator (never a traced
 * domain, so the server's own buffers do not show in traces); stop the
 * server before freeing its runtime.
 */
#ifndef RCGC_SERVE_H
#define RCGC_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "rcgc.h"
#include "rcgc_diag.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rcgc_serve rcgc_serve;

#define RCGC_SERVE_MAX_REQUEST 4096 /* bytes of a request, newline included */

/*
 * An application command: called, after authentication, for a request whose
 * "cmd" is not a built-in command, with its optional "arg" string ("" when
 * absent).  Write a message (NUL-terminated, at most msglen bytes) to msg
 * and return 0 for {"ok":true,"cmd":..,"message":msg}, or a negative value
 * for {"ok":false,"error":msg} (an empty msg: "unknown command").  Called
 * from rcgc_serve_poll; it may use the runtime.  Re-entry (here, or in the
 * diag label/edge_name callbacks, or anything else that runs inside
 * rcgc_serve_poll): rcgc_serve_poll returns RCGC_EINVAL and does nothing;
 * rcgc_serve_stop is deferred (see rcgc_serve_stop).
 */
typedef int (*rcgc_serve_command_fn)(void *ctx, const char *cmd,
                                     const char *arg, char *msg,
                                     size_t msglen);

typedef struct rcgc_serve_config {
    size_t size;                 /* sizeof(rcgc_serve_config), set by
                                    rcgc_serve_config_init (with those of
                                    trace and diag) */
    const char *socket_path;     /* required: where to listen (shorter than
                                    108 bytes); a stale socket there is
                                    replaced, anything else is refused */
    const char *token;           /* the shared secret (8..256 printable
                                    ASCII bytes, no space), or NULL: one is
                                    generated (32 random bytes, 64 hex
                                    digits) and written to token_file */
    const char *token_file;      /* with token NULL: where to write the
                                    generated token (mode 0600, replaced
                                    atomically, removed by stop); ignored
                                    when token is set */
    const uint32_t *allowed_uids; /* peers allowed in; NULL: only the
                                     process's effective uid */
    size_t nallowed_uids;        /* at most 65536 */
    int max_clients;             /* connections served at once (4; 1..64);
                                    more get an error and are closed */
    int request_timeout_ms;      /* to send the whole request (5000) */
    int write_timeout_ms;        /* for the answer to drain, without any
                                    progress (5000); and the whole answer
                                    must be out within write_timeout_ms
                                    plus its size at 64 KiB/s */
    size_t max_response;         /* bytes of an answer (1 MiB; >= 4096);
                                    a larger one becomes an error answer */
    int max_trace_seconds;       /* longest "trace" window (3600) */
    const char *snapshot_dir;    /* the "snapshot" command writes
                                    snapshot_dir/NAME; NULL: disabled */
    rcgc_trace_config trace;     /* how "trace" starts the tracer when it is
                                    off (rcgc_trace_config_init's defaults) */
    rcgc_diag_options diag;      /* labels and edge names for "why" */
    rcgc_serve_command_fn command; /* application commands; NULL: none */
    void *command_ctx;
} rcgc_serve_config;

/* Fill cfg with the defaults above (socket_path and token NULL). */
RCGC_API void rcgc_serve_config_init(rcgc_serve_config *cfg);

/*
 * Start serving rt on cfg->socket_path (cfg is copied, strings included).
 * The socket is created with mode 0600 (no window where it is wider); an
 * existing socket file is replaced only when nothing listens on it.  The
 * socket is bound and listening before the token file is written, so a
 * start that fails (another server listens on the path) never touches an
 * existing token file.  0 and
 * *out, or a negative code and a message in err (may be NULL): RCGC_EINVAL
 * (bad configuration, a non-socket file at the path, a server already
 * listening there), RCGC_EFAILED (a system call failed), RCGC_ENOMEM.
 */
RCGC_API int rcgc_serve_start(rcgc_runtime *rt, const rcgc_serve_config *cfg,
                              rcgc_serve **out, char *err, size_t errlen);

/*
 * Serve: wait up to timeout_ms (0: do not wait; -1: until something
 * happens) for activity, then accept connections, read requests, answer
 * complete ones, write answers, finish "trace" windows that have ended and
 * drop clients past their deadline.  The wait is cut short by the next
 * deadline.  Returns the number of answers completed (written out or
 * queued), or a negative code (RCGC_EFAILED: epoll failed; RCGC_EINVAL:
 * called from inside itself (the command hook, a diag callback), or during
 * a collection of the runtime (a finalizer, a callback): it does nothing).
 * Must be called on the runtime's thread.  When accept4 runs out of
 * descriptors, the listener leaves the epoll set until a client slot
 * closes or 100 ms passed (rcgc_serve_timeout counts that deadline), so a
 * loop polling rcgc_serve_fd does not spin.
 */
RCGC_API int rcgc_serve_poll(rcgc_serve *srv, int timeout_ms);

/* A descriptor that becomes readable when rcgc_serve_poll has work (an
 * epoll descriptor: add it to the program's poll/epoll set for POLLIN). */
RCGC_API int rcgc_serve_fd(const rcgc_serve *srv);

/* Milliseconds until the next deadline (a "trace" window ending, a client
 * timing out, accepting again after running out of descriptors), 0 if one
 * has passed, -1 if there is none: call rcgc_serve_poll by then even if
 * the descriptor stays quiet. */
RCGC_API int rcgc_serve_timeout(const rcgc_serve *srv);

/* BORROWED: the token clients must send (given or generated). */
RCGC_API const char *rcgc_serve_token(const rcgc_serve *srv);

typedef struct rcgc_serve_stats {
    uint64_t accepted;       /* connections accepted */
    uint64_t answered;       /* answers completed (ok or error) */
    uint64_t refused_full;   /* closed at once: too many clients */
    uint64_t refused_peer;   /* closed at once: uid not allowed */
    uint64_t refused_token;  /* bad or missing token (requests refused
                                unread while their uid is locked out are
                                the "stats" command's refused_lockout) */
    uint64_t bad_requests;   /* oversized, malformed, truncated, late */
    uint64_t dropped;        /* closed without their answer (client gone,
                                write timeout) */
    int clients;             /* connections open now */
    int tracing;             /* a "trace" window is open */
} rcgc_serve_stats;

RCGC_API void rcgc_serve_get_stats(const rcgc_serve *srv, rcgc_serve_stats *out);

/*
 * Stop: close every client (an answer not yet written is lost), end a
 * pending "trace" window (stopping the tracer if the window started it),
 * close and unlink the socket (only if the path still names it) and the
 * generated token file, and free everything.  NULL is a no-op.
 *
 * Called from inside rcgc_serve_poll (the command hook, a diag callback, a
 * finalizer or gc callback run by a command's work), the stop is deferred:
 * that poll finishes the request in hand (its answer is queued and written
 * as far as the socket takes it), handles no further events, then stops
 * the server as above before it returns.  srv is invalid once that
 * rcgc_serve_poll returns, as after any stop; rcgc_serve_poll must not be
 * called with it again.
 */
RCGC_API void rcgc_serve_stop(rcgc_serve *srv);

#ifdef __cplusplus
}
#endif

#endif /* RCGC_SERVE_H */

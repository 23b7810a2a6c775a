/*
 * serve_internal.h - what the server's files share.  Not public.
 *
 *   serve.c         start and stop: configuration, socket, token file
 *   serve_client.c  clients and rcgc_serve_poll: accept, read, write,
 *                   deadlines (the client state machine)
 *   serve_cmd.c     the commands, dispatch, the token check
 *   serve_trace.c   "trace" windows
 *   serve_req.c     the request parser
 *   serve_json.c    the JSON writer (rcgc__jb_*)
 *
 * Every OS call goes through the platform seam (platform/os.h); runtime
 * state through the public API and the owning layer's accessors.
 */
#ifndef RCGC_SERVE_INTERNAL_H
#define RCGC_SERVE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "rcgc.h"
#include "rcgc_serve.h"

/* ---- requests (serve_req.c) ---- */

#define SERVE_CMD_MAX 32     /* bytes of "cmd", NUL included */
#define SERVE_STR_MAX 512    /* bytes of the other strings, NUL included */

/* Fields present in a request. */
#define SERVE_F_CMD 0x001u
#define SERVE_F_TOKEN 0x002u
#define SERVE_F_SECONDS 0x004u
#define SERVE_F_TOP 0x008u
#define SERVE_F_BY 0x010u
#define SERVE_F_TYPE 0x020u
#define SERVE_F_LIMIT 0x040u
#define SERVE_F_PATH 0x080u
#define SERVE_F_ARG 0x100u

typedef struct serve_req {
    unsigned have;               /* SERVE_F_* */
    char cmd[SERVE_CMD_MAX];
    char token[SERVE_STR_MAX];
    size_t token_len;
    char by[SERVE_CMD_MAX];
    char type[SERVE_STR_MAX];
    char path[SERVE_STR_MAX];
    char arg[SERVE_STR_MAX];
    long seconds, top, limit;    /* 0..999999999 when present */
} serve_req;

/*
 * Parse one request: a JSON object on one line (docs/serve.md), the
 * trailing "\n" (or "\r\n") already removed.  0 and *out filled, or -1 and
 * a message in err (which names the byte offset).  Never reads outside
 * [line, line + len); needs no terminating NUL.
 */
int rcgc__serve_parse(const char *line, size_t len, serve_req *out, char *err,
                      size_t errlen);

/* 1 if the two byte strings are equal, in time that depends only on their
 * lengths (and mostly on expected's). */
int rcgc__serve_token_equal(const char *expected, size_t elen,
                            const char *given, size_t glen);

/* ---- JSON output (serve_json.c) ---- */

typedef struct jbuf {
    rcgc_allocator a;  /* where the bytes come from */
    char *p;
    size_t len, cap;
    size_t max;        /* never more than this many bytes */
    int overflow;      /* max was reached: the content is cut */
    int nomem;         /* allocation failed */
} jbuf;

void rcgc__jb_init(jbuf *b, const rcgc_allocator *a, size_t max);
void rcgc__jb_free(jbuf *b);
void rcgc__jb_raw(jbuf *b, const char *s, size_t n);
void rcgc__jb_lit(jbuf *b, const char *s);      /* as is */
void rcgc__jb_str(jbuf *b, const char *s);      /* a JSON string; NULL: null */
void rcgc__jb_strn(jbuf *b, const char *s, size_t n);
void rcgc__jb_int(jbuf *b, long long v);
void rcgc__jb_uint(jbuf *b, unsigned long long v);
void rcgc__jb_num(jbuf *b, double v);           /* integral values as ints */
/* "key": (with a comma first unless the byte before is '{' or '[') */
void rcgc__jb_key(jbuf *b, const char *key);
void rcgc__jb_sep(jbuf *b);                     /* a comma if needed */
/* A whole {"ok":false,"error":msg}\n answer into b (reset first). */
void rcgc__jb_error(jbuf *b, const char *msg);
/* If b is cut (max reached) or incomplete (out of memory) or empty: a
 * fixed, static {"ok":false,"error":"out of memory"}\n instead
 * (rcgc__jb_free stays right: the static text is never freed).  Every
 * answer goes through it before it is sent. */
void rcgc__jb_fallback(jbuf *b);

/* ---- without sockets (serve_cmd.c, serve_client.c, serve.c) ---- */

/*
 * Answer a request line (without its newline) as an authenticated client's,
 * token check included; the answer (with its newline) goes to *out (freed
 * with jb_free).  A "trace" request is started and ended at once (its
 * answer says "started"); a pending one makes it "busy".
 */
void rcgc__serve_eval(rcgc_serve *srv, const char *line, size_t len,
                      jbuf *out);
/* The same after parsing and the token check: the command itself. */
void rcgc__serve_dispatch(rcgc_serve *srv, const serve_req *req, jbuf *out);
/* An empty answer buffer on the server's allocator and limit. */
void rcgc__serve_jbuf_init(rcgc_serve *srv, jbuf *b);
/* The slowest average rate (bytes/s) an answer may drain at: a client has
 * write_timeout_ms + size / rate for the whole answer, however it trickles
 * (65536; tests change it to keep their clients quick). */
extern uint64_t rcgc__serve_drain_rate;
/* A server without a socket (for the fuzz target); stop it as usual. */
int rcgc__serve_new_detached(rcgc_runtime *rt, const rcgc_serve_config *cfg,
                             rcgc_serve **out);

/* ---- the server's state (every file below the parser and the writer) ---- */

#define SERVE_LISTENER_ID UINT32_MAX /* the listener's id in the poller */
#define SERVE_TOKEN_MIN 8
#define SERVE_TOKEN_MAX 256

enum serve_cstate { C_FREE = 0, C_READ, C_TRACE, C_WRITE };

/* Wrong tokens are rate-limited per peer uid (a connection carries one
 * request, so a guesser opens one per guess): the first SERVE_FREE_FAILS
 * failures in a row are free; each later one locks the uid out for
 * SERVE_LOCK_BASE_NS, doubled per failure, at most SERVE_LOCK_MAX_NS.
 * While locked out, a request of that uid is refused at once without its
 * token being looked at (nothing waits: rcgc_serve_poll never sleeps).
 * The right token, or SERVE_FAIL_FORGET_NS without a failure, clears the
 * count.  SERVE_FAIL_SLOTS uids are followed at once (the least recently
 * failed one is replaced). */
#define SERVE_FAIL_SLOTS 16
#define SERVE_FREE_FAILS 5
#define SERVE_LOCK_BASE_NS 100000000ull        /* 100 ms */
#define SERVE_LOCK_MAX_NS 60000000000ull       /* 60 s */
#define SERVE_FAIL_FORGET_NS 900000000000ull   /* 15 min */

struct serve_fails {
    int used;
    uint32_t uid;
    uint32_t count;       /* failures in a row */
    uint64_t last;        /* ns (monotonic) of the last one */
    uint64_t until;       /* locked out until then */
};

typedef struct serve_client {
    int fd;
    uint32_t uid;         /* the peer's (SO_PEERCRED, at accept) */
    enum serve_cstate st;
    unsigned events;      /* poller interest now (RCGC__OS_EV_*) */
    uint64_t deadline;    /* READ, WRITE: ns (monotonic) */
    uint64_t drain_end;   /* WRITE: the whole answer must be out by then */
    size_t inlen;
    char in[RCGC_SERVE_MAX_REQUEST];
    jbuf out;             /* WRITE: the answer */
    size_t outpos;
} serve_client;

struct serve_trace_window {
    int active;
    int client;           /* its client's index, -1 for none (eval) */
    int we_started;       /* the window started the tracer */
    rcgc_snapshot *before;
    uint64_t deadline;
    long seconds, top;
    rcgc_stat_key key;
};

struct rcgc_serve {
    rcgc_runtime *rt;
    rcgc_allocator a;     /* the runtime's raw base allocator */
    rcgc_serve_config cfg; /* strings and arrays below are copies */
    int lfd, pfd;         /* listener, poller */
    int sock_made;        /* we created the socket file: unlink at stop */
    uint64_t sock_dev, sock_ino;
    int token_made;       /* we wrote the token file: unlink at stop */
    uint64_t tok_dev, tok_ino;
    char token[SERVE_TOKEN_MAX + 1];
    size_t token_len;
    serve_client *clients; /* cfg.max_clients slots */
    int nclients;
    struct serve_trace_window tw;
    rcgc_serve_stats stats;
    uint64_t refused_lockout; /* requests refused while their uid was
                                 locked out (the "stats" command shows it) */
    struct serve_fails fails[SERVE_FAIL_SLOTS];
    int in_poll;          /* rcgc_serve_poll is running (no re-entry) */
    int stop_requested;   /* rcgc_serve_stop was called inside it */
    int accept_paused;    /* out of descriptors: the listener is out of
                             the poller until accept_resume or a client
                             slot closes */
    int slot_closed;      /* a client closed while accept_paused */
    uint64_t accept_resume;
};

/* The server's own memory: the runtime's raw base allocator, never a
 * traced domain. */
static inline void *rcgc__serve_alloc(rcgc_serve *srv, size_t n)
{
    return srv->a.calloc(srv->a.ctx, 1, n);
}
static inline void rcgc__serve_free(rcgc_serve *srv, void *p)
{
    if (p != NULL) srv->a.free(srv->a.ctx, p);
}

/* serve_cmd.c: answers */
/* An error answer with a formatted message (replaces what b holds). */
void rcgc__serve_answer_err(jbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* {"ok":true,"cmd":cmd ... : the start of a success answer. */
void rcgc__serve_begin_ok(jbuf *b, const char *cmd);
/* Close the answer; a cut or failed one becomes an error answer. */
void rcgc__serve_end_ok(rcgc_serve *srv, jbuf *b);
/* 0, or an error answer for a field the command does not take. */
int rcgc__serve_check_fields(const serve_req *r, unsigned allowed, jbuf *out);
/* Parse line, check the token: 0 and *req, or SERVE_AUTH_BAD_REQUEST (a
 * parse error) or SERVE_AUTH_BAD_TOKEN (missing or wrong) with an error
 * answer in b (and the refusal counted). */
#define SERVE_AUTH_BAD_REQUEST (-1)
#define SERVE_AUTH_BAD_TOKEN (-2)
int rcgc__serve_authenticate(rcgc_serve *srv, const char *line, size_t len,
                             serve_req *req, jbuf *b);
/* Wrong tokens, per peer uid: 0 if uid may try a token now; -1 with the
 * lockout's error answer in b (counted) while it is locked out. */
int rcgc__serve_locked_out(rcgc_serve *srv, uint32_t uid, jbuf *b);
/* Record a token check of uid: ok forgets its failures; a failure past
 * SERVE_FREE_FAILS locks it out (see struct serve_fails). */
void rcgc__serve_token_result(rcgc_serve *srv, uint32_t uid, int ok);

/* serve_trace.c: the one trace window */
/* Open a window for client_id (-1: none): 0, or -1 with an error answer in
 * out (busy, bad fields, the tracer or the first snapshot failed). */
int rcgc__serve_trace_begin(rcgc_serve *srv, const serve_req *r,
                            int client_id, jbuf *out);
/* The window's end: its answer (the comparison) into out; the tracer as it
 * was before the window. */
void rcgc__serve_trace_finish(rcgc_serve *srv, jbuf *out);
/* Drop an open window without an answer (nothing if none is open). */
void rcgc__serve_trace_cancel(rcgc_serve *srv);

/* serve_client.c: close client slot id (nothing if free), cancelling its
 * window; dropped: count it as dropped. */
void rcgc__serve_client_close(rcgc_serve *srv, int id, int dropped);
/* serve.c: stop and free everything at once (rcgc_serve_stop, or the end
 * of the rcgc_serve_poll it was called from). */
void rcgc__serve_stop_now(rcgc_serve *srv);

#endif /* RCGC_SERVE_INTERNAL_H */

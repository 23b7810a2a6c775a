/*
 * serve_internal.h - what the server's files share: the request parser
 * (serve_req.c), the JSON writer (serve_json.c) and the entry points the
 * fuzz target and tests call without sockets (serve.c).  Not public.
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

void jb_init(jbuf *b, const rcgc_allocator *a, size_t max);
void jb_free(jbuf *b);
void jb_raw(jbuf *b, const char *s, size_t n);
void jb_lit(jbuf *b, const char *s);            /* as is */
void jb_str(jbuf *b, const char *s);            /* a JSON string; NULL: null */
void jb_strn(jbuf *b, const char *s, size_t n);
void jb_int(jbuf *b, long long v);
void jb_uint(jbuf *b, unsigned long long v);
void jb_num(jbuf *b, double v);                 /* integral values as ints */
/* "key": (with a comma first unless the byte before is '{' or '[') */
void jb_key(jbuf *b, const char *key);
void jb_sep(jbuf *b);                           /* a comma if needed */
/* A whole {"ok":false,"error":msg}\n answer into b (reset first). */
void jb_error(jbuf *b, const char *msg);
/* If b is cut (max reached) or incomplete (out of memory) or empty: a
 * fixed, static {"ok":false,"error":"out of memory"}\n instead (jb_free
 * stays right: the static text is never freed).  Every answer goes through
 * it before it is sent. */
void jb_fallback(jbuf *b);

/* ---- without sockets (serve.c) ---- */

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

#endif /* RCGC_SERVE_INTERNAL_H */

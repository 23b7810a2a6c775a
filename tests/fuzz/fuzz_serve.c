/*
 * fuzz_serve.c - libFuzzer target: any bytes as one request line of the
 * live diagnostics endpoint (src/serve/serve_req.c, docs/serve.md), through the
 * whole request path without sockets: the parser, the token check, and
 * every command on a small runtime (counts, why-alive, stats, the
 * allocator's statistics, a trace window opened and closed, an
 * application command echoing its argument).  Built with ASan+UBSan by
 * `make fuzz`, so a crash, a leak, a sanitizer report or an abort here is a
 * finding.
 *
 * Each input is tried as it is (so the token check refuses most), then, if
 * it parses, dispatched with the token taken as right (so the mutations
 * reach the commands).  Every answer must be one valid JSON object and a
 * newline; every parse error must name its byte offset.  With
 * RCGC_FUZZ_SEEDS=DIR set, start-up writes a few valid requests into DIR
 * (the seed corpus `make fuzz` passes).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_internal.h"
#include "rcgc_diag.h"
#include "../support/json_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define TOKEN "fuzz-token-0123"

static rcgc_runtime *rt;
static rcgc_serve *srv;

/* ---- a small graph to answer about ---- */

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

static const rcgc_type types[] = {
    {.name = "node", .size = sizeof(node), .flags = RCGC_TYPE_GC,
     .traverse = node_traverse, .clear = node_clear},
    {.name = "we\"ird\\\n\x01\xff", .size = sizeof(node), .flags = RCGC_TYPE_GC,
     .traverse = node_traverse, .clear = node_clear},
    {.name = "listener", .size = sizeof(node), .flags = RCGC_TYPE_GC,
     .traverse = node_traverse, .clear = node_clear},
};

static size_t label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    return (size_t)snprintf(buf, size, "<%s> \"%p\"", o->type->name, (void *)o);
}

static int command(void *ctx, const char *cmd, const char *arg, char *msg,
                   size_t msglen)
{
    (void)ctx;
    if (strcmp(cmd, "echo") != 0) return -1;
    snprintf(msg, msglen, "%s", arg);
    return 0;
}

static void check_answer(const jbuf *b, const char *what)
{
    if (!json_check_object_line(b->p, b->len)) {
        fprintf(stderr, "%s: bad answer: %s\n", what, b->p ? b->p : "(null)");
        abort();
    }
    if (strncmp(b->p, "{\"ok\":", 6) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > RCGC_SERVE_MAX_REQUEST) return 0; /* the server cuts there */
    /* an exact-size copy: ASan sees any read past the end */
    char *line = malloc(size ? size : 1);
    if (line == NULL) return 0;
    memcpy(line, data, size);

    serve_req *req = malloc(sizeof *req);
    char err[256];
    int e = req ? rcgc__serve_parse(line, size, req, err, sizeof err) : -1;
    if (req != NULL && e != 0 && strncmp(err, "bad request at byte ", 20) != 0) abort();
    if (req != NULL && e == 0 && (req->cmd[0] == 0 || !(req->have & SERVE_F_CMD))) abort();

    jbuf out;
    rcgc__serve_eval(srv, line, size, &out);
    check_answer(&out, "eval");
    rcgc__jb_free(&out);

    if (req != NULL && e == 0) {
        jbuf b;
        rcgc__serve_jbuf_init(srv, &b);
        rcgc__serve_dispatch(srv, req, &b);
        check_answer(&b, "dispatch");
        rcgc__jb_free(&b);
    }
    if (rcgc_trace_is_tracing(rt)) abort(); /* windows are closed at once */
    free(req);
    free(line);
    return 0;
}

/* ---- seeds ---- */

static void seed(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "fuzz_serve: cannot write seed %s\n", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    rt = rcgc_runtime_new(NULL);
    rcgc_object *prev = NULL;
    for (int i = 0; i < 12; i++) {
        rcgc_object *o = rcgc_object_new(rt, &types[i % 3]);
        ((node *)o)->ref[0] = prev; /* a chain, each holding the previous */
        rcgc_object_track(rt, o);
        prev = o;
    }
    (void)prev; /* the runtime lives as long as the process */
    rcgc_serve_config cfg;
    rcgc_serve_config_init(&cfg);
    cfg.token = TOKEN;
    cfg.max_response = 65536;
    cfg.diag.label = label;
    cfg.command = command;
    if (rcgc__serve_new_detached(rt, &cfg, &srv) != 0) abort();

    const char *dir = getenv("RCGC_FUZZ_SEEDS");
    if (dir == NULL) return 0;
    seed(dir, "ping", "{\"cmd\":\"ping\",\"token\":\"" TOKEN "\"}");
    seed(dir, "stats", "{\"cmd\":\"stats\",\"token\":\"" TOKEN "\"}");
    seed(dir, "alloc", "{\"cmd\":\"alloc\",\"token\":\"" TOKEN "\"}");
    seed(dir, "counts", "{\"cmd\":\"counts\",\"top\":2,\"token\":\"" TOKEN "\"}");
    seed(dir, "trace", "{\"cmd\":\"trace\",\"seconds\":1,\"top\":5,\"by\":\"traceback\",\"token\":\"" TOKEN "\"}");
    seed(dir, "why", "{\"cmd\":\"why\",\"type\":\"listener\",\"limit\":2,\"token\":\"" TOKEN "\"}");
    seed(dir, "snapshot", "{\"cmd\":\"snapshot\",\"path\":\"a.snap\",\"token\":\"" TOKEN "\"}");
    seed(dir, "echo", "{ \"cmd\" : \"echo\" , \"arg\" : \"\\u00e9\\ud83d\\ude00\\n\\\"\" , \"token\" : \"" TOKEN "\" }");
    seed(dir, "weird", "{\"cmd\":\"why\",\"type\":\"we\\\"ird\\\\\\n\\u0001\",\"token\":\"x\"}");
    return 0;
}

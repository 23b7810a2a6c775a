/*
 * serve_leak.c - a long-running program with the live diagnostics endpoint
 * on (rcgc_serve.h, docs/serve.md), and a leak to find with it.
 *
 * The program is the event bus that ate 8 GB again: every request it
 * handles subscribes a listener to the bus, and nothing ever unsubscribes
 * it.  Tracing is off, as in production; the operator asks the running
 * program:
 *
 *   rcgc-ctl --token-file TOKEN SOCKET trace 1     what grew, by line
 *   rcgc-ctl --token-file TOKEN SOCKET counts      objects by type
 *   rcgc-ctl --token-file TOKEN SOCKET why listener   who holds them
 *   rcgc-ctl --token-file TOKEN SOCKET quit        (this program's own
 *                                                   command)
 *
 * usage: serve_leak SOCKET TOKEN_FILE [MAX_SECONDS]   (30 by default)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rcgc.h"
#include "rcgc_diag.h"
#include "rcgc_serve.h"

typedef struct listener {
    rcgc_object base;
    long id;
    char topic[48];
} listener;

typedef struct bus {
    rcgc_object base;
    rcgc_object **subs;
    rcgc_ssize n, cap;
} bus;

static int bus_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    bus *b = (bus *)self;
    for (rcgc_ssize i = 0; i < b->n; i++) RCGC_VISIT(b->subs[i]);
    return 0;
}

static int no_refs(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    (void)self;
    (void)visit;
    (void)arg;
    return 0;
}

static void bus_clear(rcgc_runtime *rt, rcgc_object *self)
{
    bus *b = (bus *)self;
    while (b->n > 0) {
        b->n--;
        RCGC_CLEAR(rt, b->subs[b->n]);
    }
}

static void bus_release(rcgc_runtime *rt, rcgc_object *self)
{
    rcgc_mem_free(rt, ((bus *)self)->subs);
}

static const rcgc_type bus_type = {
    .name = "bus", .size = sizeof(bus), .flags = RCGC_TYPE_GC,
    .traverse = bus_traverse, .clear = bus_clear, .release = bus_release};

static const rcgc_type listener_type = {
    .name = "listener", .size = sizeof(listener), .flags = RCGC_TYPE_GC,
    .traverse = no_refs};

static int subscribe(rcgc_runtime *rt, rcgc_object *bo, rcgc_object *l)
{
    bus *b = (bus *)bo;
    if (b->n == b->cap) {
        rcgc_ssize cap = b->cap ? 2 * b->cap : 16;
        rcgc_object **p = RCGC_REALLOC(rt, b->subs, (size_t)cap * sizeof *p);
        if (p == NULL) return -1;
        b->subs = p;
        b->cap = cap;
    }
    rcgc_incref(l);
    b->subs[b->n++] = l;
    return 0;
}

/* One request: a scratch buffer (freed: no leak), and a listener for the
 * request's events that nobody ever unsubscribes (the leak). */
static void handle_request(rcgc_runtime *rt, rcgc_object *b, long id)
{
    char *scratch = RCGC_MALLOC(rt, 200);
    if (scratch != NULL) snprintf(scratch, 200, "request %ld", id);
    rcgc_object *l = RCGC_NEW(rt, &listener_type); /* serve_leak: the leak */
    if (l != NULL) {
        ((listener *)l)->id = id;
        snprintf(((listener *)l)->topic, sizeof ((listener *)l)->topic, "req.%ld", id);
        rcgc_object_track(rt, l);
        subscribe(rt, b, l);
        rcgc_decref(rt, l);
    }
    rcgc_mem_free(rt, scratch);
}

static size_t label(rcgc_object *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    if (o->type == &listener_type)
        return (size_t)snprintf(buf, size, "listener #%ld", ((listener *)o)->id);
    return 0;
}

static int quit_requested;

static int command(void *ctx, const char *cmd, const char *arg, char *msg,
                   size_t msglen)
{
    (void)ctx;
    (void)arg;
    if (strcmp(cmd, "quit") != 0) return -1; /* "unknown command" */
    quit_requested = 1;
    snprintf(msg, msglen, "quitting");
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: serve_leak SOCKET TOKEN_FILE [MAX_SECONDS]\n");
        return 2;
    }
    double max_s = argc > 3 ? atof(argv[3]) : 30;
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    rcgc_object *b = rcgc_object_new(rt, &bus_type);
    rcgc_object_track(rt, b);

    rcgc_serve_config cfg;
    rcgc_serve_config_init(&cfg);
    cfg.socket_path = argv[1];
    cfg.token_file = argv[2];  /* a generated token, written there (0600) */
    cfg.diag.label = label;
    cfg.command = command;     /* "quit" */
    rcgc_serve *srv;
    char err[512];
    if (rcgc_serve_start(rt, &cfg, &srv, err, sizeof err) != 0) {
        fprintf(stderr, "serve_leak: %s\n", err);
        return 1;
    }
    printf("serving on %s (token in %s)\n", argv[1], argv[2]);
    fflush(stdout);

    double start = now_s();
    long id = 0;
    while (!quit_requested && now_s() - start < max_s) {
        handle_request(rt, b, id++);   /* the program's work */
        rcgc_serve_poll(srv, 2);       /* and the operator's questions */
    }
    rcgc_serve_stop(srv);
    printf("%s after %ld requests; %td listeners on the bus\n",
           quit_requested ? "asked to quit" : "time is up", id, ((bus *)b)->n);
    rcgc_decref(rt, b);
    rcgc_teardown_report rep;
    int r = rcgc_runtime_free(rt, &rep);
    printf("teardown: %td objects alive\n", rep.alive);
    return r == 0 ? 0 : 1;
}

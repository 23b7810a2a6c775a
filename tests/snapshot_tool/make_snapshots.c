/*
 * make_snapshots DIR [--big N] - write the snapshot files rcgc-snapshot's
 * tests read, with the real tracer:
 *
 *   old.snap, new.snap  an interpreter's frames (RCGC_FRAMES_PROVIDER, a
 *                       fake script stack up to 6 deep): the event-bus
 *                       story, where new.snap has 500 more listeners
 *                       registered at bus.py:42 (never unregistered), a
 *                       cache that grew a little, a decoder that shrank,
 *                       and a few blocks of a program domain (42);
 *   callsite.snap       the call-site source (RCGC_MALLOC lines here);
 *   sampled.snap        the story's allocations, sampled (1 per 4096 B);
 *   cstack.snap         C stack frames (module + offset), when available;
 *   weird.snap          file and function names with quotes, backslashes,
 *                       control characters, terminal escape sequences,
 *                       "</script>" and bad UTF-8;
 *   big.snap            with --big N: N traces over thousands of distinct
 *                       script stacks, for the HTML report's timing.
 *
 * Everything is deterministic (sizes, stacks, the sampling seed), so the
 * text reports can be compared with expected files.  Exit status 0, or 1
 * with a message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcgc.h"

/* ---- a fake interpreter stack ---- */

#define MAX_DEPTH 16

typedef struct script_stack {
    rcgc_frame frames[MAX_DEPTH]; /* oldest first (pushed in call order) */
    int depth;
} script_stack;

static script_stack stack;

static void call(const char *file, unsigned line, const char *function)
{
    if (stack.depth < MAX_DEPTH)
        stack.frames[stack.depth] = (rcgc_frame){file, line, function, NULL, 0};
    stack.depth++;
}

static void ret(void) { stack.depth--; }

/* The provider: the stack most recent first, as the tracer wants it. */
static int script_frames(void *ctx, rcgc_frame *out, int max, int *total)
{
    const script_stack *s = ctx;
    int depth = s->depth < MAX_DEPTH ? s->depth : MAX_DEPTH;
    int n = depth < max ? depth : max;
    for (int i = 0; i < n; i++) out[i] = s->frames[depth - 1 - i];
    *total = s->depth;
    return n;
}

/* ---- helpers ---- */

static int failed;

static void *alloc(rcgc_runtime *rt, size_t size)
{
    void *p = rcgc_mem_malloc(rt, size);
    if (p == NULL) {
        fprintf(stderr, "make_snapshots: out of memory\n");
        exit(1);
    }
    return p;
}

static void dump(rcgc_runtime *rt, const char *dir, const char *name)
{
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rcgc_snapshot *s = rcgc_snapshot_take(rt);
    if (s == NULL || rcgc_snapshot_dump(s, path, err, sizeof err) != 0) {
        fprintf(stderr, "make_snapshots: %s: %s\n", path,
                s == NULL ? "cannot take a snapshot" : err);
        failed = 1;
    }
    rcgc_snapshot_free(s);
}

static int start(rcgc_runtime *rt, rcgc_frame_source source, size_t sample)
{
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.source = source;
    cfg.nframes = 8;
    cfg.sample_bytes = sample;
    cfg.seed = 12345;
    if (source == RCGC_FRAMES_PROVIDER) {
        cfg.provider = script_frames;
        cfg.provider_ctx = &stack;
    }
    return rcgc_trace_start(rt, &cfg);
}

/* ---- the event-bus story ---- */

#define NBLOCKS 2000

typedef struct story {
    void *blocks[NBLOCKS];
    int n;
} story;

static void allocate(rcgc_runtime *rt, story *st, int count, size_t size)
{
    for (int i = 0; i < count && st->n < NBLOCKS; i++)
        st->blocks[st->n++] = alloc(rt, size);
}

/* main.py's request loop down to one handler. */
static void enter_request(const char *handler_file, unsigned line,
                          const char *handler)
{
    call("main.py", 120, "<module>");
    call("main.py", 14, "main");
    call("server.py", 77, "serve_forever");
    call("app.py", 31, "on_request");
    call(handler_file, line, handler);
}

static void leave_request(void)
{
    for (int i = 0; i < 5; i++) ret();
}

static void register_listeners(rcgc_runtime *rt, story *st, int count)
{
    enter_request("app.py", 52, "subscribe_client");
    call("bus.py", 42, "register_listener");
    allocate(rt, st, count, 96);
    ret();
    leave_request();
}

static void decode_json(rcgc_runtime *rt, story *st, int count)
{
    enter_request("app.py", 36, "parse_body");
    call("json.py", 88, "decode");
    allocate(rt, st, count, 256);
    ret();
    leave_request();
}

static void fill_cache(rcgc_runtime *rt, story *st, int count)
{
    enter_request("cache.py", 17, "put");
    allocate(rt, st, count, 64);
    leave_request();
}

/* Program-managed memory in domain 42 (rcgc_trace_track). */
static void upload_textures(rcgc_runtime *rt, int count)
{
    call("main.py", 120, "<module>");
    call("render.py", 9, "draw");
    call("gpu.py", 5, "upload");
    for (int i = 0; i < count; i++)
        rcgc_trace_track(rt, 42, (void *)(uintptr_t)(0x1000 * (i + 1)), 4096);
    ret(), ret(), ret();
}

/* Free the decoder's first count blocks (the story's blocks 0..). */
static void free_some_decoded(rcgc_runtime *rt, story *st, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        rcgc_mem_free(rt, st->blocks[i]);
        st->blocks[i] = NULL;
    }
}

static void free_story(rcgc_runtime *rt, story *st)
{
    for (int i = 0; i < st->n; i++) rcgc_mem_free(rt, st->blocks[i]);
    st->n = 0;
}

/* The old state, the new one after the leak; old.snap and new.snap when
 * names are given (the sampled run dumps only its last state). */
static void event_bus(rcgc_runtime *rt, const char *dir, const char *old_name,
                      const char *new_name)
{
    story *st = calloc(1, sizeof *st);
    if (st == NULL) exit(1);
    decode_json(rt, st, 200); /* blocks 0..199 */
    fill_cache(rt, st, 100);
    register_listeners(rt, st, 20);
    upload_textures(rt, 4);
    if (old_name != NULL) dump(rt, dir, old_name);
    free_some_decoded(rt, st, 0, 50);
    fill_cache(rt, st, 10);
    register_listeners(rt, st, 500); /* the leak */
    dump(rt, dir, new_name);
    free_story(rt, st);
    free(st);
}

static void provider_snapshots(const char *dir)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL || start(rt, RCGC_FRAMES_PROVIDER, 0) != 0) exit(1);
    event_bus(rt, dir, "old.snap", "new.snap");
    rcgc_trace_stop(rt);
    if (start(rt, RCGC_FRAMES_PROVIDER, 4096) != 0) exit(1);
    event_bus(rt, dir, NULL, "sampled.snap");
    rcgc_trace_stop(rt);
    rcgc_runtime_free(rt, NULL);
}

/* ---- hostile strings ---- */

/* Frames whose names need every kind of escaping in JSON and HTML. */
static void weird_snapshot(const char *dir)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL || start(rt, RCGC_FRAMES_PROVIDER, 0) != 0) exit(1);
    void *a[4];
    call("main.py", 1, "<module>");
    call("q\"uote\\back\tslash\x01.py", 7, "</script><b>&amp;");
    a[0] = alloc(rt, 100);
    ret();
    call("bad\xff\xfeutf8.py", 8, "caf\xc3\xa9 \xed\xa0\x80 \xe2\x82");
    a[1] = alloc(rt, 200);
    a[2] = alloc(rt, 300);
    ret();
    /* terminal escape sequences: OSC (set the title), CSI (clear the
     * screen), a raw C1 CSI byte and U+009B in UTF-8 */
    call("\x1b]0;owned\x07\x1b[2Jesc.py", 9, "\x9b" "31m\xc2\x9b" "0m\x7f");
    a[3] = alloc(rt, 400);
    ret(), ret();
    dump(rt, dir, "weird.snap");
    for (int i = 0; i < 4; i++) rcgc_mem_free(rt, a[i]);
    rcgc_trace_stop(rt);
    rcgc_runtime_free(rt, NULL);
}

/* ---- the call-site source ---- */

static void callsite_snapshot(const char *dir)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL || start(rt, RCGC_FRAMES_CALLSITE, 0) != 0) exit(1);
    void *a[30];
    for (int i = 0; i < 20; i++) a[i] = RCGC_MALLOC(rt, 48);
    for (int i = 20; i < 30; i++) a[i] = RCGC_MALLOC(rt, 1000);
    dump(rt, dir, "callsite.snap");
    for (int i = 0; i < 30; i++) rcgc_mem_free(rt, a[i]);
    rcgc_trace_stop(rt);
    rcgc_runtime_free(rt, NULL);
}

/* ---- C stack frames ---- */

/* noinline so each level is a real frame of the C stack. */
__attribute__((noinline)) static void *cstack_leaf(rcgc_runtime *rt)
{
    return rcgc_mem_malloc(rt, 128);
}

__attribute__((noinline)) static void *cstack_middle(rcgc_runtime *rt)
{
    void *p = cstack_leaf(rt);
    __asm__ volatile("" ::: "memory"); /* no tail call */
    return p;
}

static void cstack_snapshot(const char *dir)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL) exit(1);
    if (start(rt, RCGC_FRAMES_CSTACK, 0) != 0) { /* no unwinder here */
        rcgc_runtime_free(rt, NULL);
        return;
    }
    void *a[10];
    for (int i = 0; i < 10; i++) a[i] = cstack_middle(rt);
    dump(rt, dir, "cstack.snap");
    for (int i = 0; i < 10; i++) rcgc_mem_free(rt, a[i]);
    rcgc_trace_stop(rt);
    rcgc_runtime_free(rt, NULL);
}

/* ---- a big snapshot ---- */

static const char *const modules[] = {"app.py", "db.py", "orm.py",
    "http.py", "json.py", "cache.py", "template.py", "auth.py", "log.py",
    "util.py", "queue.py", "worker.py"};
static const char *const functions[] = {"handle", "query", "load", "parse",
    "render", "put", "get", "check", "emit", "split", "push", "run",
    "build", "visit", "format", "merge"};

/* Trace i's stack: stack ids s with Zipf-like frequencies (P(s) ~ 1/s,
 * tens of thousands of them), frame d chosen by s's low base-7 digits so
 * that stacks share prefixes as real call trees do: a few hot paths and a
 * long tail, which is what pruning is for. */
static void big_stack(unsigned long i)
{
    double u = (double)(i * 2654435761u % 1000003u) / 1000003.0;
    unsigned long s = (unsigned long)exp(u * log(40000.0));
    int depth = 3 + (int)(s % 5);
    unsigned long prefix = 1;
    stack.depth = 0;
    call("main.py", 120, "<module>");
    for (int d = 1; d < depth; d++) {
        prefix *= 7;
        unsigned long k = (s % prefix) * 2654435761u + (unsigned long)d * 40503u;
        k ^= k >> 13;
        call(modules[k % 12], (unsigned)(10 + (k >> 4) % 190),
             functions[(k >> 12) % 16]);
    }
}

static void big_snapshot(const char *dir, unsigned long n)
{
    rcgc_runtime *rt = rcgc_runtime_new(NULL);
    if (rt == NULL || start(rt, RCGC_FRAMES_PROVIDER, 0) != 0) exit(1);
    /* Tracked fake addresses in a program domain: the traces without
     * holding the memory. */
    for (unsigned long i = 0; i < n; i++) {
        big_stack(i);
        size_t size = 16 + (i * 7919u) % 500;
        if (rcgc_trace_track(rt, 7, (void *)(uintptr_t)(16 * (i + 1)), size) != 0) {
            fprintf(stderr, "make_snapshots: cannot track\n");
            exit(1);
        }
    }
    stack.depth = 0;
    dump(rt, dir, "big.snap");
    rcgc_trace_stop(rt);
    rcgc_runtime_free(rt, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--big") == 0)) {
        fprintf(stderr, "usage: make_snapshots DIR [--big N]\n");
        return 2;
    }
    const char *dir = argv[1];
    if (argc == 4) {
        big_snapshot(dir, strtoul(argv[3], NULL, 10));
        return failed;
    }
    provider_snapshots(dir);
    callsite_snapshot(dir);
    cstack_snapshot(dir);
    weird_snapshot(dir);
    return failed;
}

/*
 * builtins.c - rcl's builtin functions: printing and basics, the gc module
 * (collect, counts, thresholds, freeze, referrers, counts by type,
 * why-alive), weak references and weak containers, tracemalloc-style
 * tracing whose frames are the script's own lines, and fork.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rcl.h"

const rcgc_type *t_wset, *t_wvmap, *t_wkmap, *t_weakref;

#define ARGS(lo, hi, what)                                                    \
    do {                                                                      \
        if (n < (lo) || n > (hi))                                             \
            return rcl_error("%s takes %d to %d arguments (%d given)", what,  \
                             lo, hi, n);                                      \
    } while (0)

static int want(V *o, const rcgc_type *t, const char *what)
{
    if (o->type == t) return 1;
    rcl_error("%s expects %s, not %s", what, t->name, rcl_type_name(o));
    return 0;
}

static int64_t ival(V *o)
{
    return ((int_obj *)o)->v;
}

/* ---- basics ---- */

static V *b_print(V **a, int n, V *self)
{
    (void)self;
    static char buf[8192];
    for (int i = 0; i < n; i++) {
        rcl_repr(a[i], buf, sizeof buf, 0);
        fputs(buf, stdout);
        if (i + 1 < n) fputc(' ', stdout);
    }
    fputc('\n', stdout);
    return I->none;
}

static V *b_str(V **a, int n, V *self)
{
    (void)self;
    char buf[4096];
    ARGS(1, 1, "str()");
    int k = rcl_repr(a[0], buf, sizeof buf, 0);
    return rcl_str(buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1);
}

static V *b_len(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "len()");
    V *o = a[0];
    if (rcl_is(o, &t_list)) return rcl_int((int64_t)((list_obj *)o)->n);
    if (rcl_is(o, &t_dict)) return rcl_int((int64_t)((dict_obj *)o)->used);
    if (rcl_is(o, &t_str)) return rcl_int((int64_t)((str_obj *)o)->len);
    if (o->type == t_wset || o->type == t_wvmap || o->type == t_wkmap)
        return rcl_int(rcgc_weak_len(I->rt, o));
    return rcl_error("%s has no len()", rcl_type_name(o));
}

static V *b_range(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 2, "range()");
    if (!want(a[0], &t_int, "range()") || (n == 2 && !want(a[1], &t_int, "range()")))
        return NULL;
    int64_t lo = n == 2 ? ival(a[0]) : 0, hi = ival(a[n - 1]);
    if (hi - lo > 100000000) return rcl_error("range too large");
    V *l = rcl_list_new(hi > lo ? (size_t)(hi - lo) : 0);
    for (int64_t i = lo; l != NULL && i < hi; i++) {
        V *v = rcl_int(i);
        if (v == NULL || rcl_list_append(l, v) != 0) {
            if (v != NULL) rcgc_decref(I->rt, v);
            rcgc_decref(I->rt, l);
            return NULL;
        }
        rcgc_decref(I->rt, v);
    }
    return l;
}

static V *b_type_name(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "type_name()");
    const char *s = rcl_type_name(a[0]);
    return rcl_str(s, strlen(s));
}

static V *b_error(V **a, int n, V *self)
{
    (void)self;
    char buf[256] = "error";
    if (n > 0) rcl_repr(a[0], buf, sizeof buf, 0);
    return rcl_error("%s", buf);
}

/* clock_ns(): the process's CPU time in ns (Python's
 * time.process_time_ns), for benchmarks on a shared machine. */
static V *b_getenv(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "getenv()");
    if (!want(a[0], &t_str, "getenv()")) return NULL;
    const char *v = getenv(((str_obj *)a[0])->s);
    return v != NULL ? rcl_str(v, strlen(v)) : I->none;
}

static V *b_clock_ns(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return rcl_int((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* ---- the gc module ---- */

static V *b_collect(V **a, int n, V *self)
{
    (void)self;
    ARGS(0, 1, "collect()");
    if (n == 1 && !want(a[0], &t_int, "collect()")) return NULL;
    rcgc_ssize r = rcgc_gc_collect(I->rt, n ? (int)ival(a[0]) : 2);
    if (r < 0) return rcl_error("collect(): %s", rcgc_strerror((int)r));
    return rcl_int(r);
}

static V *three(const int v[3])
{
    V *l = rcl_list_new(3);
    for (int i = 0; l != NULL && i < 3; i++) {
        V *x = rcl_int(v[i]);
        if (x == NULL) return NULL;
        rcl_list_append(l, x);
        rcgc_decref(I->rt, x);
    }
    return l;
}

static V *b_get_count(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    int c[3];
    rcgc_gc_get_count(I->rt, c);
    return three(c);
}

static V *b_get_threshold(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    int t[3];
    rcgc_gc_get_threshold(I->rt, t);
    return three(t);
}

static V *b_set_threshold(V **a, int n, V *self)
{
    (void)self;
    ARGS(3, 3, "set_threshold()");
    for (int i = 0; i < 3; i++)
        if (!want(a[i], &t_int, "set_threshold()")) return NULL;
    if (rcgc_gc_set_threshold(I->rt, (int)ival(a[0]), (int)ival(a[1]), (int)ival(a[2])) != 0)
        return rcl_error("set_threshold(): thresholds must not be negative");
    return I->none;
}

static V *b_is_tracked(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "is_tracked()");
    return rcl_bool(rcgc_object_is_tracked(a[0]));
}

static V *b_freeze(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    rcgc_gc_freeze(I->rt);
    return rcl_int(rcgc_gc_get_freeze_count(I->rt));
}

static V *b_unfreeze(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    rcgc_gc_unfreeze(I->rt);
    return I->none;
}

static V *b_set_debug(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "set_debug()");
    if (!want(a[0], &t_int, "set_debug()")) return NULL;
    rcgc_gc_set_debug(I->rt, (unsigned)ival(a[0]));
    return I->none;
}

/* A list of n NEW references from an array of rcgc's (freed here). */
static V *list_of(V **objs, rcgc_ssize k)
{
    if (k < 0) return rcl_error("out of memory");
    V *l = rcl_list_new((size_t)k);
    for (rcgc_ssize i = 0; l != NULL && i < k; i++) rcl_list_append(l, objs[i]);
    rcgc_objects_free(I->rt, objs, k);
    return l;
}

static V *b_garbage(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    V **objs;
    rcgc_ssize k = rcgc_gc_get_garbage(I->rt, &objs);
    return list_of(objs, k);
}

static V *b_clear_garbage(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    rcgc_gc_garbage_clear(I->rt);
    return I->none;
}

static V *b_get_referrers(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "get_referrers()");
    V **objs;
    rcgc_ssize k = rcgc_gc_get_referrers(I->rt, a, 1, &objs);
    return list_of(objs, k);
}

/* counts_by_type(): a dict type name -> tracked objects, most first. */
static V *b_counts_by_type(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    rcgc_diag_counts c;
    if (rcgc_diag_count_types(I->rt, &c) != 0) return rcl_error("counts_by_type() failed");
    V *d = rcl_dict_new();
    for (rcgc_ssize i = 0; d != NULL && i < c.n; i++) {
        V *k = rcl_str(c.items[i].name, strlen(c.items[i].name)), *v = rcl_int(c.items[i].count);
        if (k != NULL && v != NULL) rcl_dict_set(d, k, v);
        if (k != NULL) rcgc_decref(I->rt, k);
        if (v != NULL) rcgc_decref(I->rt, v);
    }
    rcgc_diag_counts_free(I->rt, &c);
    return d;
}

/* show_growth(): objgraph's show_growth, printed; show_growth(false)
 * only records the counts (the next call's baseline). */
static V *b_show_growth(V **a, int n, V *self)
{
    (void)self;
    ARGS(0, 1, "show_growth()");
    if (I->growth == NULL && (I->growth = rcgc_diag_growth_new(I->rt)) == NULL)
        return rcl_error("out of memory");
    rcgc_diag_counts c;
    if (rcgc_diag_growth_update(I->rt, I->growth, &c) != 0) return rcl_error("show_growth() failed");
    if (n == 0 || rcl_truthy(a[0])) {
        if (c.n == 0) printf("(no growth)\n");
        fflush(stdout);
        rcgc_diag_counts_write(stdout, &c, 10, RCGC_DIAG_TEXT);
    }
    rcgc_diag_counts_free(I->rt, &c);
    return I->none;
}

/* heap_types(): the runtime's heap types not freed yet (one per class
 * instantiated and still alive, or with live instances). */
static V *b_heap_types(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    return rcl_int(rcgc_type_heap_count(I->rt));
}

/* count_type(name): tracked objects whose type is named name. */
static V *b_count_type(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "count_type()");
    if (!want(a[0], &t_str, "count_type()")) return NULL;
    return rcl_int(rcgc_diag_by_type(I->rt, ((str_obj *)a[0])->s, NULL, 0));
}

/* Labels and edge names for the diagnosis: what the script calls things. */
size_t rcl_label(V *o, char *buf, size_t size, void *ctx)
{
    (void)ctx;
    int k = 0;
    if (rcl_is_instance(o) && ((inst_obj *)o)->dict != NULL) {
        V *name = rcl_dict_get(((inst_obj *)o)->dict, I->s_name);
        if (name != NULL && rcl_is(name, &t_str))
            k = snprintf(buf, size, "%s", ((str_obj *)name)->s);
    } else if (rcl_is(o, &t_env)) {
        env_obj *e = (env_obj *)o;
        k = snprintf(buf, size, e->parent == NULL ? "module scope" : "scope of %s()", e->owner);
    } else if (rcl_is(o, &t_func)) {
        k = snprintf(buf, size, "%s()", ((func_obj *)o)->def->name);
    } else if (rcl_is(o, &t_class)) {
        k = snprintf(buf, size, "class %s", ((class_obj *)o)->name);
    }
    return k > 0 ? (size_t)k : 0;
}

size_t rcl_edge_name(V *from, V *to, rcgc_ssize index, char *buf, size_t size, void *ctx)
{
    (void)to, (void)ctx;
    int k = 0;
    if (rcl_is(from, &t_env)) {
        env_obj *e = (env_obj *)from;
        rcgc_ssize i = index - (e->parent != NULL);
        if (i < 0) k = snprintf(buf, size, "(enclosing scope)");
        else if ((size_t)i < e->n) k = snprintf(buf, size, "%s", e->names[i]);
    } else if (rcl_is(from, &t_list)) {
        k = snprintf(buf, size, "[%td]", index);
    } else if (rcl_is(from, &t_dict)) {
        dict_obj *d = (dict_obj *)from;
        size_t e = (size_t)index / 2; /* traverse: key, value, key, value... */
        if (index % 2 == 1 && e < d->n && d->e[e].key != NULL) {
            char kb[64];
            rcl_repr(d->e[e].key, kb, sizeof kb, 1);
            k = snprintf(buf, size, "[%s]", kb);
        }
    } else if (rcl_is(from, &t_func)) {
        k = snprintf(buf, size, "(closure)");
    } else if (rcl_is_instance(from)) {
        k = snprintf(buf, size, index == 0 ? ".__class__" : ".__dict__");
    } else if (rcl_is(from, &t_method)) {
        k = snprintf(buf, size, index == 0 ? ".__self__" : ".__func__");
    }
    return k > 0 ? (size_t)k : 0;
}

/*
 * why_alive(x): the shortest chain of references from a root to x.  The
 * call itself holds one reference to x: the argument, evaluated into the
 * interpreter's args array (a C local, not a tracked object), so
 * ignore_refs is 1.  A reference from a variable is not counted there: the
 * variable lives in a scope, a tracked object, and shows in the chain.
 */
static V *b_why_alive(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "why_alive()");
    if (!rcgc_object_is_tracked(a[0]))
        return rcl_error("why_alive(): %s objects are not tracked", rcl_type_name(a[0]));
    rcgc_diag_options opts;
    rcgc_diag_options_init(&opts);
    opts.label = rcl_label;
    opts.edge_name = rcl_edge_name;
    opts.ignore_refs = 1;
    opts.flags = RCGC_DIAG_NO_ADDRESSES;
    rcgc_diag_path p;
    int r = rcgc_diag_why_alive(I->rt, a[0], &opts, &p);
    if (r != 0) return rcl_error("why_alive(): %s", rcgc_strerror(r));
    fflush(stdout);
    rcgc_diag_path_write(stdout, &p, &opts, RCGC_DIAG_TEXT);
    rcgc_diag_path_free(I->rt, &p);
    return I->none;
}

/* ---- weak references and weak containers ---- */

static int weak_callback(rcgc_runtime *rt, V *wr, V *fn)
{
    V *r = rcl_call(fn, &wr, 1);
    if (r == NULL) {
        fflush(stdout);
        fprintf(stderr, "Exception ignored in a weakref callback: %s\n", I->err);
        I->failed = 0;
        return 0;
    }
    rcgc_decref(rt, r);
    return 0;
}

static V *b_weakref(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 2, "weakref()");
    V *w = rcgc_weakref_new(I->rt, a[0], n == 2 ? weak_callback : NULL, n == 2 ? a[1] : NULL);
    if (w == NULL)
        return rcl_error("cannot create a weak reference to a value of type %s", rcl_type_name(a[0]));
    return w;
}

/* Keys of the weak containers compare as the language's dict keys do:
 * by value (ints, strings), by the class's __hash__ and __eq__, else by
 * identity.  The hooks run script code; a failure leaves its message in
 * I->err and the container unchanged (RCGC_EFAILED). */
static int key_hash(rcgc_runtime *rt, V *key, uint64_t *h, void *ctx)
{
    (void)rt, (void)ctx;
    return rcl_hash(key, h);
}

static int key_eq(rcgc_runtime *rt, V *a, V *b, void *ctx)
{
    (void)rt, (void)ctx;
    return rcl_equal(a, b);
}

static const rcgc_key_ops key_ops = {key_hash, key_eq, NULL};

/* An rcgc error code of a weak container call as a script error (always -1). */
int rcl_weak_failed(int r, V *container, V *o)
{
    if (r == RCGC_EFAILED) /* a hook failed: its message is the error */
        rcl_error("%s: a __hash__ or __eq__ failed", rcl_type_name(container));
    else if (r == RCGC_ENOTWEAK)
        rcl_error("cannot create a weak reference to a value of type %s", rcl_type_name(o));
    else
        rcl_error("%s: %s", rcl_type_name(container), rcgc_strerror(r));
    return -1;
}

static V *b_wset(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    V *o = rcgc_wset_new_keyed(I->rt, &key_ops);
    return o ? o : rcl_error("out of memory");
}

static V *b_wvmap(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    V *o = rcgc_wvmap_new_keyed(I->rt, &key_ops);
    return o ? o : rcl_error("out of memory");
}

static V *b_wkmap(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    V *o = rcgc_wkmap_new_keyed(I->rt, &key_ops);
    return o ? o : rcl_error("out of memory");
}

/* ---- tracing: tracemalloc with the script's frames ---- */

/* The frame provider: the script's call stack, most recent first.  The
 * strings are interned and outlive the runtime, as the tracer requires;
 * it allocates nothing. */
int rcl_frame_provider(void *ctx, rcgc_frame *frames, int max, int *total)
{
    (void)ctx;
    int k = 0;
    for (int i = I->depth - 1; i >= 0 && k < max; i--, k++)
        frames[k] = (rcgc_frame){I->file, I->frames[i].line, I->frames[i].function, NULL, 0};
    *total = I->depth;
    return k;
}

static V *b_trace_start(V **a, int n, V *self)
{
    (void)self;
    ARGS(0, 1, "trace_start()");
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.nframes = n == 1 && rcl_is(a[0], &t_int) ? (int)ival(a[0]) : 1;
    cfg.source = RCGC_FRAMES_PROVIDER;
    cfg.provider = rcl_frame_provider;
    int r = rcgc_trace_start(I->rt, &cfg);
    return r == 0 ? I->none : rcl_error("trace_start(): %s", rcgc_strerror(r));
}

static V *b_trace_stop(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    rcgc_trace_stop(I->rt);
    return I->none;
}

static V *b_take_snapshot(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    rcgc_snapshot *s = rcgc_snapshot_take(I->rt);
    if (s == NULL) return rcl_error("take_snapshot(): %s", rcgc_strerror(rcgc_runtime_last_error(I->rt)));
    snap_obj *o = (snap_obj *)rcgc_object_new(I->rt, &t_snapshot);
    if (o == NULL) {
        rcgc_snapshot_free(s);
        return rcl_error("out of memory");
    }
    o->s = s;
    return &o->base;
}

/* snapshot_diff(new, old, top): compare_to(old, 'lineno'), printed as
 * CPython prints StatisticDiff. */
static V *b_snapshot_diff(V **a, int n, V *self)
{
    (void)self;
    ARGS(3, 3, "snapshot_diff()");
    if (!want(a[0], &t_snapshot, "snapshot_diff()") || !want(a[1], &t_snapshot, "snapshot_diff()") ||
        !want(a[2], &t_int, "snapshot_diff()"))
        return NULL;
    rcgc_statistic *st;
    rcgc_ssize k = rcgc_snapshot_compare(((snap_obj *)a[0])->s, ((snap_obj *)a[1])->s,
                                         RCGC_BY_LINENO, 0, &st);
    if (k < 0) return rcl_error("snapshot_diff(): %s", rcgc_strerror((int)k));
    int shown = 0;
    for (rcgc_ssize i = 0; i < k && shown < ival(a[2]); i++) {
        if (st[i].size_diff == 0 && st[i].count_diff == 0) continue;
        char buf[512];
        rcgc_statistic_format(&st[i], RCGC_BY_LINENO, 1, buf, sizeof buf);
        printf("%s\n", buf);
        shown++;
    }
    if (shown == 0) printf("(no growth)\n");
    rcgc_statistics_free(st);
    return I->none;
}

/* ---- fork ---- */

static V *b_fork(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return rcl_error("fork() failed");
    return rcl_int(pid);
}

static V *b_wait(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "wait()");
    if (!want(a[0], &t_int, "wait()")) return NULL;
    int status;
    if (waitpid((pid_t)ival(a[0]), &status, 0) < 0) return rcl_error("wait() failed");
    return rcl_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* _exit(code): leave a forked child at once: no teardown, which would
 * write to every inherited page. */
static V *b_exit_now(V **a, int n, V *self)
{
    (void)self;
    fflush(NULL);
    _exit(n == 1 && rcl_is(a[0], &t_int) ? (int)ival(a[0]) : 0);
}

static V *b_private_dirty_kb(V **a, int n, V *self)
{
    (void)a, (void)n, (void)self;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    long kb = -1;
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Private_Dirty: %ld kB", &kb) == 1) break;
    if (f != NULL) fclose(f);
    return rcl_int(kb);
}

/* ---- the diagnostics endpoint ---- */

/* The program's own command: "quit" (rcgc-ctl SOCKET quit). */
static int serve_command(void *ctx, const char *cmd, const char *arg, char *msg,
                         size_t msglen)
{
    (void)ctx, (void)arg;
    if (strcmp(cmd, "quit") != 0) return -1; /* "unknown command" */
    I->quit = 1;
    snprintf(msg, msglen, "quitting");
    return 0;
}

/* serve(socket_path, token_file): start the endpoint, with the script's
 * names for the diagnosis and its lines for "trace"; it is polled at the
 * safe points (every 256th) and by serve_poll(ms). */
static V *b_serve(V **a, int n, V *self)
{
    (void)self;
    ARGS(2, 2, "serve()");
    if (!want(a[0], &t_str, "serve()") || !want(a[1], &t_str, "serve()")) return NULL;
    if (I->srv != NULL) return rcl_error("serve(): already serving");
    rcgc_serve_config sc;
    rcgc_serve_config_init(&sc);
    sc.socket_path = ((str_obj *)a[0])->s;
    sc.token_file = ((str_obj *)a[1])->s;
    sc.diag.label = rcl_label;
    sc.diag.edge_name = rcl_edge_name;
    sc.trace.source = RCGC_FRAMES_PROVIDER;
    sc.trace.provider = rcl_frame_provider;
    sc.command = serve_command;
    char err[256];
    if (rcgc_serve_start(I->rt, &sc, &I->srv, err, sizeof err) != 0)
        return rcl_error("serve(): %s", err);
    return I->none;
}

/* serve_poll(ms): answer the endpoint's requests, waiting up to ms;
 * returns false once an operator asked to quit. */
static V *b_serve_poll(V **a, int n, V *self)
{
    (void)self;
    ARGS(1, 1, "serve_poll()");
    if (!want(a[0], &t_int, "serve_poll()")) return NULL;
    if (I->srv == NULL) return rcl_error("serve_poll(): not serving");
    rcgc_serve_poll(I->srv, (int)ival(a[0]));
    return rcl_bool(!I->quit);
}

/* ---- methods of the builtin types ---- */

static V *m_append(V **a, int n, V *self)
{
    ARGS(1, 1, "append()");
    return rcl_list_append(self, a[0]) == 0 ? I->none : NULL;
}

static V *m_pop(V **a, int n, V *self)
{
    (void)a;
    ARGS(0, 0, "pop()");
    list_obj *l = (list_obj *)self;
    if (l->n == 0) return rcl_error("pop from an empty list");
    return l->items[--l->n]; /* the list's reference becomes the caller's */
}

static V *m_get(V **a, int n, V *self)
{
    ARGS(1, 2, "get()");
    V *r;
    if (self->type == t_wvmap || self->type == t_wkmap) {
        int found = self->type == t_wvmap ? rcgc_wvmap_get_obj(I->rt, self, a[0], &r)
                                          : rcgc_wkmap_lookup(I->rt, self, a[0], &r);
        if (found < 0) {
            rcl_weak_failed(found, self, a[0]);
            return NULL;
        }
    } else {
        r = rcl_dict_get(self, a[0]);
        if (r == NULL && I->failed) return NULL;
        if (r != NULL) rcgc_incref(r);
    }
    if (r != NULL) return r;
    r = n == 2 ? a[1] : I->none;
    rcgc_incref(r);
    return r;
}

static V *m_remove(V **a, int n, V *self)
{
    ARGS(1, 1, "remove()");
    int r;
    if (self->type == t_wset) r = rcgc_wset_discard(I->rt, self, a[0]);
    else if (self->type == t_wkmap) r = rcgc_wkmap_delete(I->rt, self, a[0]);
    else if (self->type == t_wvmap) r = rcgc_wvmap_delete_obj(I->rt, self, a[0]);
    else if ((r = rcl_dict_del(self, a[0])) < 0) return NULL;
    else r = r == 0 ? 0 : RCGC_ENOTFOUND;
    if (r == 0 || r == RCGC_ENOTFOUND) return I->none;
    rcl_weak_failed(r, self, a[0]);
    return NULL;
}

static V *m_add(V **a, int n, V *self)
{
    ARGS(1, 1, "add()");
    int r = rcgc_wset_add(I->rt, self, a[0]);
    if (r == 0) return I->none;
    rcl_weak_failed(r, self, a[0]);
    return NULL;
}

static const struct method {
    const rcgc_type **type; /* NULL: list, dict */
    const rcgc_type *static_type;
    const char *name;
    builtin_fn fn;
} methods[] = {
    {NULL, &t_list, "append", m_append}, {NULL, &t_list, "pop", m_pop},
    {NULL, &t_dict, "get", m_get},       {NULL, &t_dict, "remove", m_remove},
    {&t_wset, NULL, "add", m_add},       {&t_wset, NULL, "remove", m_remove},
    {&t_wvmap, NULL, "get", m_get},      {&t_wvmap, NULL, "remove", m_remove},
    {&t_wkmap, NULL, "get", m_get},      {&t_wkmap, NULL, "remove", m_remove},
};
static V *method_objs[sizeof methods / sizeof methods[0]];

V *rcl_builtin_method(V *o, const char *name)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const struct method *m = &methods[i];
        const rcgc_type *t = m->type ? *m->type : m->static_type;
        if (o->type != t || strcmp(m->name, name) != 0) continue;
        if (method_objs[i] == NULL && (method_objs[i] = rcl_builtin(m->name, m->fn)) == NULL)
            return NULL;
        method_obj *bm = (method_obj *)rcgc_object_new(I->rt, &t_method);
        if (bm == NULL) return rcl_error("out of memory");
        rcgc_incref(o);
        bm->self = o;
        bm->func = method_objs[i];
        rcgc_object_track(I->rt, &bm->base);
        return &bm->base;
    }
    return rcl_error("'%s' object has no attribute '%s'", rcl_type_name(o), name);
}

/* ---- registration ---- */

static const struct {
    const char *name;
    builtin_fn fn;
} table[] = {
    {"print", b_print}, {"str", b_str}, {"len", b_len}, {"range", b_range},
    {"type_name", b_type_name}, {"error", b_error}, {"clock_ns", b_clock_ns},
    {"getenv", b_getenv},
    {"collect", b_collect}, {"get_count", b_get_count}, {"get_threshold", b_get_threshold},
    {"set_threshold", b_set_threshold}, {"is_tracked", b_is_tracked}, {"freeze", b_freeze},
    {"unfreeze", b_unfreeze}, {"set_debug", b_set_debug}, {"garbage", b_garbage},
    {"clear_garbage", b_clear_garbage}, {"get_referrers", b_get_referrers},
    {"counts_by_type", b_counts_by_type}, {"show_growth", b_show_growth},
    {"count_type", b_count_type}, {"heap_types", b_heap_types}, {"why_alive", b_why_alive}, {"weakref", b_weakref},
    {"WeakSet", b_wset}, {"WeakValueDict", b_wvmap}, {"WeakKeyDict", b_wkmap},
    {"trace_start", b_trace_start}, {"trace_stop", b_trace_stop},
    {"take_snapshot", b_take_snapshot}, {"snapshot_diff", b_snapshot_diff},
    {"fork", b_fork}, {"wait", b_wait}, {"_exit", b_exit_now},
    {"private_dirty_kb", b_private_dirty_kb}, {"serve", b_serve},
    {"serve_poll", b_serve_poll},
};

int rcl_builtins_init(void)
{
    /* The weak containers' and weak references' types, from one of each. */
    V *probe[3] = {rcgc_wset_new(I->rt), rcgc_wvmap_new(I->rt), rcgc_wkmap_new(I->rt)};
    V *w = probe[0] ? rcgc_weakref_new(I->rt, probe[0], NULL, NULL) : NULL;
    if (probe[1] == NULL || probe[2] == NULL || w == NULL) return -1;
    t_wset = probe[0]->type;
    t_wvmap = probe[1]->type;
    t_wkmap = probe[2]->type;
    t_weakref = w->type;
    rcgc_decref(I->rt, w);
    for (int i = 0; i < 3; i++) rcgc_decref(I->rt, probe[i]);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        V *b = rcl_builtin(rcl_intern(table[i].name, strlen(table[i].name)), table[i].fn);
        if (b == NULL || rcl_env_define(I->builtins, rcl_intern(table[i].name, strlen(table[i].name)), b) != 0)
            return -1;
    }
    return 0;
}

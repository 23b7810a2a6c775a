/*
 * builtins.c - rcl's builtin functions: printing and basics, the gc module
 * (collect, counts, thresholds, freeze, referrers, counts by type,
 * why-alive), weak references and weak containers, tracemalloc-style
 * tracing whose frames are the script's own lines, and fork.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rcl.h"

const rcgc_type *t_wset, *t_wvmap, *t_wkmap, *t_weakref;

/* Every builtin has the signature of builtin_spec's fn; many use only
 * some of the arguments.  Arity and argument types are checked before the
 * call, from the table at the end (rcl_call_builtin).  A method's self is
 * a[0]. */
#define BUILTIN(f) static V *f(V **a UNUSED, int n UNUSED, const builtin_spec *spec UNUSED)

/* ---- basics ---- */

BUILTIN(b_print)
{
    static char buf[8192];
    for (int i = 0; i < n; i++) {
        rcl_repr(a[i], buf, sizeof buf, 0);
        printf(i > 0 ? " %s" : "%s", buf);
    }
    putchar('\n');
    return I->none;
}

BUILTIN(b_str)
{
    char buf[4096];
    int k = rcl_repr(a[0], buf, sizeof buf, 0);
    return rcl_str(buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1);
}

BUILTIN(b_len)
{
    V *o = a[0];
    if (rcl_is(o, &t_list)) return rcl_int((int64_t)((list_obj *)o)->n);
    if (rcl_is(o, &t_dict)) return rcl_int((int64_t)((dict_obj *)o)->n);
    if (rcl_is(o, &t_str)) return rcl_int((int64_t)((str_obj *)o)->len);
    if (rcl_is_weak(o)) return rcl_int(rcgc_weak_len(I->rt, o));
    return rcl_error("%s has no len()", rcl_type_name(o));
}

BUILTIN(b_range)
{
    int64_t lo = n == 2 ? IVAL(a[0]) : 0, hi = IVAL(a[n - 1]);
    if (hi > lo && (uint64_t)hi - (uint64_t)lo > 100000000) return rcl_error("range too large");
    V *l = rcl_list_new(hi > lo ? (size_t)(hi - lo) : 0);
    for (int64_t i = lo; l != NULL && i < hi; i++)
        if (rcl_list_push(l, rcl_int(i)) != 0) return rcl_drop(l);
    return l;
}

BUILTIN(b_type_name)
{
    const char *s = rcl_type_name(a[0]);
    return rcl_str(s, strlen(s));
}

/* clock_ns(): the process's CPU time in ns (Python's
 * time.process_time_ns), for benchmarks on a shared machine. */
BUILTIN(b_clock_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return rcl_int((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* ---- the gc module ---- */

BUILTIN(b_collect)
{
    rcgc_ssize r = rcgc_gc_collect(I->rt, n ? (int)IVAL(a[0]) : 2);
    return r >= 0 ? rcl_int(r) : rcl_error("collect(): %s", rcgc_strerror((int)r));
}

/* get_count() (op 0), get_threshold(): three ints, one per generation. */
BUILTIN(b_gc_three)
{
    int v[3];
    if (spec->op == 0) rcgc_gc_get_count(I->rt, v);
    else rcgc_gc_get_threshold(I->rt, v);
    V *l = rcl_list_new(3);
    for (int i = 0; l != NULL && i < 3; i++)
        if (rcl_list_push(l, rcl_int(v[i])) != 0) return rcl_drop(l);
    return l;
}

BUILTIN(b_set_threshold)
{
    if (rcgc_gc_set_threshold(I->rt, (int)IVAL(a[0]), (int)IVAL(a[1]), (int)IVAL(a[2])) != 0)
        return rcl_error("set_threshold(): thresholds must not be negative");
    return I->none;
}

BUILTIN(b_is_tracked)
{
    return rcl_bool(rcgc_object_is_tracked(a[0]));
}

BUILTIN(b_freeze)
{
    rcgc_gc_freeze(I->rt);
    return rcl_int(rcgc_gc_get_freeze_count(I->rt));
}

BUILTIN(b_unfreeze)
{
    rcgc_gc_unfreeze(I->rt);
    return I->none;
}

BUILTIN(b_set_debug)
{
    rcgc_gc_set_debug(I->rt, (unsigned)IVAL(a[0]));
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

BUILTIN(b_garbage)
{
    V **objs;
    rcgc_ssize k = rcgc_gc_get_garbage(I->rt, &objs);
    return list_of(objs, k);
}

BUILTIN(b_clear_garbage)
{
    rcgc_gc_garbage_clear(I->rt);
    return I->none;
}

BUILTIN(b_get_referrers)
{
    V **objs;
    rcgc_ssize k = rcgc_gc_get_referrers(I->rt, a, 1, &objs);
    return list_of(objs, k);
}

/* counts_by_type(): a dict type name -> tracked objects, most first. */
BUILTIN(b_counts_by_type)
{
    rcgc_diag_counts c;
    if (rcgc_diag_count_types(I->rt, &c) != 0) return rcl_error("counts_by_type() failed");
    V *d = rcl_dict_new();
    for (rcgc_ssize i = 0; d != NULL && i < c.n; i++)
        rcl_dict_put(d, rcl_str(c.items[i].name, strlen(c.items[i].name)), rcl_int(c.items[i].count));
    rcgc_diag_counts_free(I->rt, &c);
    return d;
}

/* show_growth(): objgraph's show_growth, printed; show_growth(false)
 * only records the counts (the next call's baseline). */
BUILTIN(b_show_growth)
{
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
BUILTIN(b_heap_types)
{
    return rcl_int(rcgc_type_heap_count(I->rt));
}

/* count_type(name): tracked objects whose type is named name. */
BUILTIN(b_count_type)
{
    return rcl_int(rcgc_diag_by_type(I->rt, ((str_obj *)a[0])->s, NULL, 0));
}

/* Labels and edge names for the diagnosis: what the script calls things. */
static size_t rcl_label(V *o, char *buf, size_t size, void *ctx UNUSED)
{
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

static size_t rcl_edge_name(V *from, V *to UNUSED, rcgc_ssize index, char *buf, size_t size,
                            void *ctx UNUSED)
{
    int k = 0;
    if (rcl_is(from, &t_env)) {
        env_obj *e = (env_obj *)from;
        rcgc_ssize i = index - (e->parent != NULL);
        if (i < 0) k = snprintf(buf, size, "(enclosing scope)");
        else if ((size_t)i < e->n) k = snprintf(buf, size, "%s", e->s[i].name);
    } else if (rcl_is(from, &t_list)) {
        k = snprintf(buf, size, "[%td]", index);
    } else if (rcl_is(from, &t_dict)) {
        dict_obj *d = (dict_obj *)from;
        size_t e = (size_t)index / 2; /* traverse: key, value, key, value... */
        if (index % 2 == 1 && e < d->n) {
            char kb[64];
            rcl_repr(d->e[e].key, kb, sizeof kb, 1);
            k = snprintf(buf, size, "[%s]", kb);
        }
    } else if (rcl_is(from, &t_func)) {
        k = snprintf(buf, size, "(closure)");
    } else if (rcl_is_instance(from)) {
        k = snprintf(buf, size, index == 0 ? ".__class__" : ".__dict__");
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
BUILTIN(b_why_alive)
{
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
    }
    rcgc_xdecref(rt, r);
    return 0;
}

BUILTIN(b_weakref)
{
    V *w = rcgc_weakref_new(I->rt, a[0], n == 2 ? weak_callback : NULL, n == 2 ? a[1] : NULL);
    return w != NULL ? w : rcl_error("cannot create a weak reference to a value of type %s",
                                     rcl_type_name(a[0]));
}

/* Keys of the weak containers compare as the language's dict keys do:
 * by value (ints, strings), by the class's __hash__ and __eq__, else by
 * identity.  The hooks run script code; a failure leaves its message in
 * I->err and the container unchanged (RCGC_EFAILED). */
static int key_hash(rcgc_runtime *rt UNUSED, V *key, uint64_t *h, void *ctx UNUSED)
{
    return rcl_hash(key, h);
}

static int key_eq(rcgc_runtime *rt UNUSED, V *a, V *b, void *ctx UNUSED)
{
    return rcl_equal(a, b);
}

static const rcgc_key_ops key_ops = {key_hash, key_eq, NULL};

/* An rcgc error code of a weak container call as a script error (always
 * -1).  RCGC_EFAILED: a key hook failed, and its message is the error
 * already (the innermost message wins). */
int rcl_weak_failed(int r, V *container, V *o)
{
    if (r == RCGC_ENOTWEAK)
        return rcl_fail("cannot create a weak reference to a value of type %s", rcl_type_name(o));
    return rcl_fail("%s: %s", rcl_type_name(container), rcgc_strerror(r));
}

/* WeakSet() (op 0), WeakValueDict() (1), WeakKeyDict() (2): rcgc's weak
 * containers, keyed by the language's rules (key_ops). */
BUILTIN(b_weak_new)
{
    V *o = spec->op == 0   ? rcgc_wset_new_keyed(I->rt, &key_ops)
           : spec->op == 1 ? rcgc_wvmap_new_keyed(I->rt, &key_ops)
                        : rcgc_wkmap_new_keyed(I->rt, &key_ops);
    return o ? o : rcl_error("out of memory");
}

/* ---- tracing: tracemalloc with the script's frames ---- */

/* The frame provider: the script's call stack, most recent first.  The
 * strings are interned and outlive the runtime, as the tracer requires;
 * it allocates nothing. */
static int rcl_frame_provider(void *ctx UNUSED, rcgc_frame *frames, int max, int *total)
{
    int k = 0;
    for (int i = I->depth - 1; i >= 0 && k < max; i--, k++)
        frames[k] = (rcgc_frame){I->file, I->frames[i].line, I->frames[i].function, NULL, 0};
    *total = I->depth;
    return k;
}

BUILTIN(b_trace_start)
{
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.nframes = n == 1 ? (int)IVAL(a[0]) : 1;
    cfg.source = RCGC_FRAMES_PROVIDER;
    cfg.provider = rcl_frame_provider;
    int r = rcgc_trace_start(I->rt, &cfg);
    return r == 0 ? I->none : rcl_error("trace_start(): %s", rcgc_strerror(r));
}

BUILTIN(b_trace_stop)
{
    rcgc_trace_stop(I->rt);
    return I->none;
}

BUILTIN(b_take_snapshot)
{
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
BUILTIN(b_snapshot_diff)
{
    rcgc_statistic *st;
    rcgc_ssize k = rcgc_snapshot_compare(((snap_obj *)a[0])->s, ((snap_obj *)a[1])->s,
                                         RCGC_BY_LINENO, 0, &st);
    if (k < 0) return rcl_error("snapshot_diff(): %s", rcgc_strerror((int)k));
    int shown = 0;
    for (rcgc_ssize i = 0; i < k && shown < IVAL(a[2]); i++) {
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

BUILTIN(b_fork)
{
    fflush(NULL);
    pid_t pid = fork();
    return pid >= 0 ? rcl_int(pid) : rcl_error("fork() failed");
}

BUILTIN(b_wait)
{
    int status;
    if (waitpid((pid_t)IVAL(a[0]), &status, 0) < 0) return rcl_error("wait() failed");
    return rcl_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* _exit(code): leave a forked child at once: no teardown, which would
 * write to every inherited page. */
BUILTIN(b_exit_now)
{
    fflush(NULL);
    _exit(n == 1 ? (int)IVAL(a[0]) : 0);
}

BUILTIN(b_private_dirty_kb)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    long kb = -1;
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Private_Dirty: %ld kB", &kb) == 1) break;
    if (f != NULL) fclose(f);
    return rcl_int(kb);
}

/* ---- methods of the builtin types ---- */

BUILTIN(m_append)
{
    return rcl_list_append(a[0], a[1]) == 0 ? I->none : NULL;
}

BUILTIN(m_pop)
{
    list_obj *l = (list_obj *)a[0];
    if (l->n == 0) return rcl_error("pop from an empty list");
    return l->items[--l->n]; /* the list's reference becomes the caller's */
}

/* o[k] for a dict or a weak map: 1 with the value (NEW) in *r, 0 when
 * absent, -1 on error, -2 when o is neither (getitem, get(), in). */
int rcl_map_get(V *o, V *k, V **r)
{
    *r = NULL;
    if (rcl_is(o, &t_dict)) {
        if ((*r = rcl_dict_get(o, k)) != NULL) rcgc_incref(*r);
        return *r != NULL ? 1 : I->failed ? -1 : 0;
    }
    if (o->type != t_wvmap && o->type != t_wkmap) return -2;
    int found = o->type == t_wvmap ? rcgc_wvmap_get_obj(I->rt, o, k, r)
                                   : rcgc_wkmap_lookup(I->rt, o, k, r);
    return found < 0 ? rcl_weak_failed(found, o, k) : found;
}

/* d.get(key[, default]) of a dict or a weak map */
BUILTIN(m_get)
{
    V *r;
    int found = rcl_map_get(a[0], a[1], &r);
    if (found != 0) return r; /* NULL on error */
    r = n == 3 ? a[2] : I->none;
    rcgc_incref(r);
    return r;
}

BUILTIN(m_add)
{
    int r = rcgc_wset_add(I->rt, a[0], a[1]);
    return r == 0 ? I->none : (rcl_weak_failed(r, a[0], a[1]), NULL);
}

/* ---- registration ---- */

/* The methods' types: the weak containers' are known only at start-up,
 * hence pointers to the type pointers. */
static const rcgc_type *const p_list = &t_list, *const p_dict = &t_dict;

/* Name, function, fewest and most arguments, op, the arguments' types
 * (one letter each, 'i' int, 's' str, 'S' snapshot, '.' any; checked by
 * rcl_call_builtin before the call).  Then the methods, each with
 * its type (self is the first argument, counted). */
static const builtin_spec table[] = {
    {"print", b_print, 0, 16, 0, "", NULL},
    {"str", b_str, 1, 1, 0, "", NULL},
    {"len", b_len, 1, 1, 0, "", NULL},
    {"range", b_range, 1, 2, 0, "ii", NULL},
    {"type_name", b_type_name, 1, 1, 0, "", NULL},
    {"clock_ns", b_clock_ns, 0, 0, 0, "", NULL},
    /* the gc module */
    {"collect", b_collect, 0, 1, 0, "i", NULL},
    {"get_count", b_gc_three, 0, 0, 0, "", NULL},
    {"get_threshold", b_gc_three, 0, 0, 1, "", NULL},
    {"set_threshold", b_set_threshold, 3, 3, 0, "iii", NULL},
    {"is_tracked", b_is_tracked, 1, 1, 0, "", NULL},
    {"freeze", b_freeze, 0, 0, 0, "", NULL},
    {"unfreeze", b_unfreeze, 0, 0, 0, "", NULL},
    {"set_debug", b_set_debug, 1, 1, 0, "i", NULL},
    {"garbage", b_garbage, 0, 0, 0, "", NULL},
    {"clear_garbage", b_clear_garbage, 0, 0, 0, "", NULL},
    {"get_referrers", b_get_referrers, 1, 1, 0, "", NULL},
    {"counts_by_type", b_counts_by_type, 0, 0, 0, "", NULL},
    {"show_growth", b_show_growth, 0, 1, 0, "", NULL},
    {"count_type", b_count_type, 1, 1, 0, "s", NULL},
    {"heap_types", b_heap_types, 0, 0, 0, "", NULL},
    {"why_alive", b_why_alive, 1, 1, 0, "", NULL},
    /* weak references and containers */
    {"weakref", b_weakref, 1, 2, 0, "", NULL},
    {"WeakSet", b_weak_new, 0, 0, 0, "", NULL},
    {"WeakValueDict", b_weak_new, 0, 0, 1, "", NULL},
    {"WeakKeyDict", b_weak_new, 0, 0, 2, "", NULL},
    /* tracing */
    {"trace_start", b_trace_start, 0, 1, 0, "i", NULL},
    {"trace_stop", b_trace_stop, 0, 0, 0, "", NULL},
    {"take_snapshot", b_take_snapshot, 0, 0, 0, "", NULL},
    {"snapshot_diff", b_snapshot_diff, 3, 3, 0, "SSi", NULL},
    /* fork */
    {"fork", b_fork, 0, 0, 0, "", NULL},
    {"wait", b_wait, 1, 1, 0, "i", NULL},
    {"_exit", b_exit_now, 0, 1, 0, "i", NULL},
    {"private_dirty_kb", b_private_dirty_kb, 0, 0, 0, "", NULL},
    /* methods of the builtin types */
    {"append", m_append, 2, 2, 0, "", &p_list},
    {"pop", m_pop, 1, 1, 0, "", &p_list},
    {"get", m_get, 2, 3, 0, "", &p_dict},
    {"get", m_get, 2, 3, 0, "", &t_wvmap},
    {"get", m_get, 2, 3, 0, "", &t_wkmap},
    {"add", m_add, 2, 2, 0, "", &t_wset},
};
#define NBUILTINS (sizeof table / sizeof table[0])
static V *objs[NBUILTINS]; /* the builtin objects (immortal), made at start-up */

static V *builtin_new(const builtin_spec *spec)
{
    builtin_obj *b = (builtin_obj *)rcgc_object_new(I->rt, &t_builtin);
    if (b == NULL) return rcl_error("out of memory");
    b->spec = spec;
    rcgc_object_make_immortal(I->rt, &b->base);
    return &b->base;
}

V *rcl_builtin_method(V *o, const char *name)
{
    for (size_t i = 0; i < NBUILTINS; i++)
        if (table[i].type != NULL && *table[i].type == o->type && strcmp(table[i].name, name) == 0)
            return objs[i];
    return NULL;
}

V *rcl_call_builtin(V *callee, V **args, int n)
{
    const builtin_spec *s = ((builtin_obj *)callee)->spec;
    int self = s->type != NULL; /* a method's messages do not count self */
    if (self && (n == 0 || args[0]->type != *s->type)) /* o.m taken alone, called on another */
        return rcl_error("%s() is a method of %s: call it as x.%s(...)", s->name, (*s->type)->name, s->name);
    if (n < s->min || n > s->max)
        return rcl_error("%s() takes %d to %d arguments (%d given)", s->name, s->min - self,
                         s->max - self, n - self);
    for (int i = 0; i < n && s->args[i] != 0; i++) {
        char c = s->args[i];
        const rcgc_type *t = c == 'i' ? &t_int : c == 's' ? &t_str : c == 'S' ? &t_snapshot : NULL;
        if (t != NULL && args[i]->type != t)
            return rcl_error("%s() expects %s, not %s", s->name, t->name, rcl_type_name(args[i]));
    }
    return s->fn(args, n, s);
}

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
    I->builtins = rcl_env_new(NULL, rcl_intern("<builtins>", 10), (int)NBUILTINS);
    for (size_t i = 0; i < NBUILTINS; i++) {
        const char *name = rcl_intern(table[i].name, strlen(table[i].name));
        if (I->builtins == NULL || (objs[i] = builtin_new(&table[i])) == NULL) return -1;
        if (table[i].type == NULL && rcl_env_define(I->builtins, name, objs[i]) != 0) return -1;
    }
    return 0;
}

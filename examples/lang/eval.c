/*
 * eval.c - rcl's evaluator: walks the AST with every intermediate value a
 * strong reference held by a C local, so that whatever runs in between (a
 * __del__ started by a decref, a collection at a safe point) cannot free
 * what the evaluator is using.
 *
 * Safe points.  The runtime runs in RCGC_GC_DEFERRED mode: an allocation
 * that passes the threshold only schedules the automatic collection, and
 * exec_block runs it (rcgc_gc_collect_pending) before each statement,
 * where the interpreter holds nothing half-built.  In RCGC_GC_SYNC mode
 * any allocation (an int, a list's growth is not one, an instance is) could
 * run a collection, and with it any script's __del__, in the middle of C
 * code that is building an object or walking a list (docs/embedding.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rcl.h"

enum { X_ERR = -1, X_OK, X_RET }; /* X_ERR and X_OK: also the -1 and 0 of calls */

static V *eval(node *n, V *env);
static int exec_block(node *b, V *env);

V *rcl_error(const char *fmt, ...)
{
    if (I->failed) return NULL; /* the innermost message wins */
    I->failed = 1;
    unsigned line = I->frames[I->depth > 0 ? I->depth - 1 : 0].line; /* the innermost frame's */
    int k = snprintf(I->err, sizeof I->err, "%s:%u: ", I->file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(I->err + k, sizeof I->err - (size_t)k, fmt, ap);
    va_end(ap);
    return NULL;
}

int rcl_stack_ok(void)
{
    uintptr_t used = (uintptr_t)I->stack_base - (uintptr_t)__builtin_frame_address(0);
    return used <= RCL_MAX_STACK;
}

/* ---- operators ---- */

static int contains(V *c, V *x)
{
    if (rcl_is(c, &t_list)) {
        list_obj *l = (list_obj *)c;
        for (size_t i = 0; i < l->n; i++) { /* re-read: an __eq__ may change l */
            V *item = l->items[i];
            rcgc_incref(item);
            int r = rcl_equal(item, x);
            rcgc_decref(I->rt, item);
            if (r != 0) return r;
        }
        return 0;
    }
    if (c->type == t_wset) {
        int r = rcgc_wset_contains(I->rt, c, x);
        return r >= 0 ? r : rcl_weak_failed(r, c, x);
    }
    V *v;
    int r = rcl_map_get(c, x, &v); /* dicts and weak maps */
    if (r == 1) rcgc_decref(I->rt, v);
    return r != -2 ? r : rcl_fail("'in' is not supported by %s", rcl_type_name(c));
}

static V *binop(int op, V *a, V *b)
{
    if (op == OP_IS || op == OP_ISNOT) return rcl_bool((a == b) == (op == OP_IS));
    if (op == OP_EQ || op == OP_NE || op == OP_IN) {
        int r = op == OP_IN ? contains(b, a) : rcl_equal(a, b);
        return r < 0 ? NULL : rcl_bool(op == OP_NE ? !r : r);
    }
    str_obj *x = (str_obj *)a, *y = (str_obj *)b;
    if (op == OP_ADD && rcl_is(a, &t_str) && rcl_is(b, &t_str))
        return rcl_str2(x->s, x->len, y->s, y->len);
    if (!rcl_is(a, &t_int) || !rcl_is(b, &t_int))
        return rcl_error("unsupported operand types for an operator: %s and %s",
                         rcl_type_name(a), rcl_type_name(b));
    int64_t i = IVAL(a), j = IVAL(b), r = 0;
    int over = 0; /* overflow is an error, not undefined behaviour */
    switch (op) {
    case OP_ADD: over = __builtin_add_overflow(i, j, &r); break;
    case OP_SUB: over = __builtin_sub_overflow(i, j, &r); break;
    case OP_MUL: over = __builtin_mul_overflow(i, j, &r); break;
    case OP_DIV:
    case OP_MOD:
        if (j == 0) return rcl_error("division by zero");
        if (!(over = i == INT64_MIN && j == -1)) r = op == OP_DIV ? i / j : i % j;
        break;
    case OP_LT: return rcl_bool(i < j);
    case OP_LE: return rcl_bool(i <= j);
    case OP_GT: return rcl_bool(i > j);
    default: return rcl_bool(i >= j);
    }
    return over ? rcl_error("integer overflow") : rcl_int(r);
}

/* ---- attributes and items ---- */

/*
 * o.key (key: a str): NEW or NULL.  An instance's attribute, else a
 * function of its class; a class's function; a builtin type's method.  A
 * method is the plain function, as in JavaScript: o.m(...) passes o as
 * self (*method set), and o.m alone is m, unbound (there are no
 * bound-method objects).
 */
static V *getattr(V *o, V *key, int *method)
{
    const char *name = ((str_obj *)key)->s;
    V *r, *cls = rcl_is(o, &t_class) ? o : NULL;
    if (rcl_is_instance(o)) {
        inst_obj *in = (inst_obj *)o;
        if (in->dict != NULL && (r = rcl_dict_get(in->dict, key)) != NULL) {
            rcgc_incref(r);
            return r;
        }
        cls = in->cls;
    }
    if (cls != NULL) r = rcl_dict_get(((class_obj *)cls)->methods, key);
    else r = rcl_is_instance(o) ? NULL : rcl_builtin_method(o, name);
    if (r == NULL) return rcl_error("'%s' object has no attribute '%s'", rcl_type_name(o), name);
    if (method != NULL && cls != o) *method = 1; /* (a class's own function is not) */
    rcgc_incref(r);
    return r;
}

static int list_index(V *l, V *k, size_t *out)
{
    if (!rcl_is(k, &t_int)) return rcl_fail("list indices must be integers");
    int64_t i = IVAL(k), n = (int64_t)((list_obj *)l)->n;
    if (i < 0) i += n;
    if (i < 0 || i >= n) return rcl_fail("list index out of range");
    *out = (size_t)i;
    return 0;
}

static V *getitem(V *o, V *k)
{
    V *r = NULL;
    size_t i;
    if (rcl_is(o, &t_list)) {
        if (list_index(o, k, &i) != 0) return NULL;
        r = ((list_obj *)o)->items[i];
        rcgc_incref(r);
        return r;
    }
    int found = rcl_map_get(o, k, &r);
    if (found == -2) return rcl_error("%s object is not subscriptable", rcl_type_name(o));
    if (found != 0) return r; /* NULL on error */
    char buf[128];
    rcl_repr(k, buf, sizeof buf, 1);
    return rcl_error("key not found: %s", buf);
}

static int setitem(V *o, V *k, V *v)
{
    size_t i;
    int r;
    if (rcl_is(o, &t_list)) {
        if (list_index(o, k, &i) != 0) return -1;
        rcgc_incref(v);
        RCGC_SETREF(I->rt, ((list_obj *)o)->items[i], v);
        return 0;
    }
    if (rcl_is(o, &t_dict)) return rcl_dict_set(o, k, v);
    if (o->type != t_wvmap && o->type != t_wkmap)
        return rcl_fail("%s object does not support item assignment", rcl_type_name(o));
    r = o->type == t_wvmap ? rcgc_wvmap_set_obj(I->rt, o, k, v) : rcgc_wkmap_set(I->rt, o, k, v);
    return r == 0 ? 0 : rcl_weak_failed(r, o, o->type == t_wvmap ? v : k);
}

/* ---- calls ---- */

static V *call_function(func_obj *f, V **args, int n)
{
    node *def = f->def;
    if (n != def->n)
        return rcl_error("%s() takes %d arguments (%d given)", def->name, def->n, n);
    if (I->depth >= RCL_MAX_DEPTH) return rcl_error("maximum recursion depth exceeded");
    V *env = rcl_env_new(f->env, def->name, def->slots);
    if (env == NULL) return NULL;
    for (int i = 0; i < n; i++)
        if (rcl_env_define(env, def->list[i]->name, args[i]) != 0) return rcl_drop(env);
    I->frames[I->depth++] = (frame){def->name, def->line};
    int x = exec_block(def->a, env);
    I->depth--;
    rcgc_decref(I->rt, env);
    if (x != X_RET) return x == X_ERR ? NULL : I->none;
    V *r = I->retval;
    I->retval = NULL;
    return r;
}

V *rcl_call(V *callee, V **args, int n)
{
    if (rcl_is(callee, &t_func)) return call_function((func_obj *)callee, args, n);
    if (rcl_is(callee, &t_builtin)) return rcl_call_builtin(callee, args, n);
    if (rcl_is(callee, &t_class)) {
        class_obj *c = (class_obj *)callee;
        V *init = rcl_dict_get(c->methods, I->s_init);
        if (init == NULL && n > 0) return rcl_error("%s() takes no arguments", c->name);
        if (n > 16) return rcl_error("too many arguments");
        V *o = rcl_instance_new(callee), *argv[17];
        if (o == NULL || init == NULL) return o;
        argv[0] = o; /* __init__(self, args...) */
        memcpy(argv + 1, args, (size_t)n * sizeof *args);
        rcgc_incref(init);
        V *r = rcl_call(init, argv, n + 1);
        rcgc_decref(I->rt, init);
        if (r == NULL) return rcl_drop(o);
        rcgc_decref(I->rt, r);
        return o;
    }
    if (callee->type == t_weakref) {
        if (n != 0) return rcl_error("a weak reference takes no arguments");
        V *r = rcgc_weakref_get(I->rt, callee);
        return r != NULL ? r : I->none;
    }
    return rcl_error("'%s' object is not callable", rcl_type_name(callee));
}

static V *eval_call(node *n, V *env)
{
    V *argv[17], **args = argv + 1, *f, *self = NULL;
    if (n->n > 16) return rcl_error("too many arguments");
    if (n->a->kind == N_ATTR) { /* o.m(...): o is passed as self, in argv[0] */
        if ((self = eval(n->a->a, env)) == NULL) return NULL;
        int method = 0;
        f = getattr(self, n->a->konst, &method);
        if (!method) self = rcl_drop(self); /* an attribute's value: called without self */
    } else {
        f = eval(n->a, env);
    }
    if (f == NULL) return NULL;
    int k = 0;
    V *r = NULL;
    for (; k < n->n; k++)
        if ((args[k] = eval(n->list[k], env)) == NULL) goto out;
    I->frames[I->depth - 1].line = n->line;
    argv[0] = self;
    r = self != NULL ? rcl_call(f, argv, k + 1) : rcl_call(f, args, k);
out:
    while (k-- > 0) rcgc_decref(I->rt, args[k]);
    rcgc_decref(I->rt, f);
    rcgc_xdecref(I->rt, self);
    return r;
}

/* ---- expressions ---- */

static V *make_function(node *n, V *env)
{
    func_obj *f = (func_obj *)rcgc_object_new(I->rt, &t_func);
    if (f == NULL) return rcl_error("out of memory");
    f->def = n;
    rcgc_incref(env);
    f->env = env;
    rcgc_object_track(I->rt, &f->base);
    return &f->base;
}

static V *eval(node *n, V *env)
{
    V *a, *b, *r, **slot;
    if (!rcl_stack_ok()) return rcl_error("maximum recursion depth exceeded");
    switch (n->kind) {
    case N_CONST: return n->konst; /* immortal */
    case N_NAME: /* the scopes out to the module's, then the builtins */
        if ((slot = rcl_env_find(env, n->name)) == NULL &&
            (slot = rcl_env_find(I->builtins, n->name)) == NULL)
            return rcl_error("name '%s' is not defined", n->name);
        rcgc_incref(*slot);
        return *slot;
    case N_FUNC: return make_function(n, env);
    case N_CALL: return eval_call(n, env);
    case N_LIST:
        if ((r = rcl_list_new((size_t)n->n)) == NULL) return NULL;
        for (int i = 0; i < n->n; i++)
            if (rcl_list_push(r, eval(n->list[i], env)) != 0) return rcl_drop(r);
        return r;
    case N_DICT:
        if ((r = rcl_dict_new()) == NULL) return NULL;
        for (int i = 0; i + 1 < n->n; i += 2) {
            a = eval(n->list[i], env);
            b = a != NULL ? eval(n->list[i + 1], env) : NULL;
            if (rcl_dict_put(r, a, b) != 0) return rcl_drop(r);
        }
        return r;
    case N_AND:
    case N_OR:
        if ((a = eval(n->a, env)) == NULL) return NULL;
        if (rcl_truthy(a) == (n->kind == N_OR)) return a;
        rcgc_decref(I->rt, a);
        return eval(n->b, env);
    case N_NOT:
    case N_NEG:
    case N_ATTR: /* one operand */
        if ((a = eval(n->a, env)) == NULL) return NULL;
        r = n->kind == N_NOT   ? rcl_bool(!rcl_truthy(a))
            : n->kind == N_NEG ? binop(OP_SUB, rcl_int(0), a)
                               : getattr(a, n->konst, NULL);
        rcgc_decref(I->rt, a);
        return r;
    case N_BIN:
    case N_INDEX: /* two operands */
        if ((a = eval(n->a, env)) == NULL) return NULL;
        if ((b = eval(n->b, env)) == NULL) return rcl_drop(a);
        r = n->kind == N_BIN ? binop(n->op, a, b) : getitem(a, b);
        rcgc_decref(I->rt, a);
        rcgc_decref(I->rt, b);
        return r;
    default: return rcl_error("internal error: node %d", n->kind);
    }
}

/* ---- statements ---- */

static int assign(node *t, V *val, V *env)
{
    if (t->kind == N_NAME) {
        V **slot = rcl_env_find(env, t->name);
        if (slot == NULL)
            return rcl_fail("name '%s' is not defined (declare it with let)", t->name);
        rcgc_incref(val);
        RCGC_SETREF(I->rt, *slot, val);
        return 0;
    }
    V *o = eval(t->a, env), *k = NULL;
    if (o == NULL) return -1;
    int r = -1;
    if (t->kind == N_ATTR && (!rcl_is_instance(o) || ((inst_obj *)o)->dict == NULL)) {
        rcl_error("cannot set attribute '%s' on %s", t->name, rcl_type_name(o));
    } else if (t->kind == N_ATTR) {
        k = ((inst_obj *)o)->dict;
        rcgc_incref(k); /* the store may run a __del__ that clears the instance */
        r = rcl_dict_set(k, t->konst, val);
    } else if ((k = eval(t->b, env)) != NULL) {
        r = setitem(o, k, val);
    }
    rcgc_xdecref(I->rt, k);
    rcgc_decref(I->rt, o);
    return r;
}

/* The items a for loop walks: a strong list (a copy for dicts and weak
 * containers, so that the loop's body may change them). */
static V *iter_items(V *o)
{
    if (rcl_is(o, &t_list)) {
        rcgc_incref(o);
        return o;
    }
    if (!rcl_is(o, &t_dict) && !rcl_is_weak(o))
        return rcl_error("%s object is not iterable", rcl_type_name(o));
    V *l = rcl_list_new(0);
    if (l == NULL) return NULL;
    if (rcl_is(o, &t_dict)) {
        dict_obj *d = (dict_obj *)o;
        for (size_t i = 0; i < d->n; i++)
            if (rcl_list_append(l, d->e[i].key) != 0) return rcl_drop(l);
        return l;
    }
    rcgc_witer it;
    if (rcgc_witer_begin(I->rt, o, &it) != 0) return rcl_drop(l);
    int bad = 0;
    while (!bad && rcgc_witer_next(&it) == 1)
        bad = rcl_list_append(l, it.key_obj) != 0; /* item or key */
    rcgc_witer_end(&it);
    return bad ? rcl_drop(l) : l;
}

static int exec_for(node *s, V *env)
{
    V *o = eval(s->a, env), *l = o != NULL ? iter_items(o) : NULL;
    rcgc_xdecref(I->rt, o);
    if (l == NULL) return X_ERR;
    int x = X_OK;
    for (size_t i = 0; x == X_OK && i < ((list_obj *)l)->n; i++) { /* re-read: the body may grow it */
        x = rcl_env_define(env, s->name, ((list_obj *)l)->items[i]);
        if (x == X_OK) x = exec_block(s->b, env);
    }
    rcgc_decref(I->rt, l);
    return x;
}

static int exec_class(node *s, V *env)
{
    V *c = rcl_class_new(s->name);
    int x = c != NULL ? X_OK : X_ERR;
    for (int i = 0; i < s->n && x == X_OK; i++) {
        V *f = make_function(s->list[i], env), *k = rcl_name(s->list[i]->name); /* immortal */
        x = f != NULL ? rcl_dict_set(((class_obj *)c)->methods, k, f) : X_ERR;
        rcgc_xdecref(I->rt, f);
    }
    if (x == X_OK) x = rcl_env_define(env, s->name, c);
    rcgc_xdecref(I->rt, c);
    return x;
}

/* A condition's truth: 1, 0, or -1 on error. */
static int test(node *n, V *env)
{
    V *v = eval(n, env);
    if (v == NULL) return -1;
    int t = rcl_truthy(v);
    rcgc_decref(I->rt, v);
    return t;
}

static int exec_stmt(node *s, V *env)
{
    V *v;
    int x;
    switch (s->kind) {
    case S_EXPR:
    case S_LET:
    case S_ASSIGN: /* a value, then what to do with it */
        if ((v = eval(s->kind == S_ASSIGN ? s->b : s->a, env)) == NULL) return X_ERR;
        x = s->kind == S_EXPR ? X_OK
            : s->kind == S_LET ? rcl_env_define(env, s->name, v) : assign(s->a, v, env);
        rcgc_decref(I->rt, v);
        return x;
    case S_IF:
        if ((x = test(s->a, env)) < 0) return X_ERR;
        if (x) return exec_block(s->b, env);
        return s->c != NULL ? exec_block(s->c, env) : X_OK;
    case S_WHILE:
        while ((x = test(s->a, env)) > 0)
            if ((x = exec_block(s->b, env)) != X_OK) return x;
        return x; /* X_OK, or X_ERR from the test */
    case S_FOR: return exec_for(s, env);
    case S_RETURN:
        if ((v = s->a ? eval(s->a, env) : I->none) == NULL) return X_ERR;
        I->retval = v;
        return X_RET;
    case S_CLASS: return exec_class(s, env);
    case S_DEL:
        if (rcl_env_remove(env, s->name) == 0) return X_OK;
        return rcl_fail("name '%s' is not defined here", s->name);
    default: return rcl_fail("internal error: statement %d", s->kind);
    }
}

static int exec_block(node *b, V *env)
{
    for (int i = 0; i < b->n; i++) {
        node *s = b->list[i];
        I->frames[I->depth - 1].line = s->line;
        rcgc_gc_collect_pending(I->rt); /* the safe point */
        int x = exec_stmt(s, env);
        if (x != X_OK) return x;
    }
    return X_OK;
}

int rcl_run(node *program)
{
    const char *module = rcl_intern("<module>", 8);
    if ((I->globals = rcl_env_new(NULL, module, program->slots)) == NULL) return -1;
    I->frames[I->depth++] = (frame){module, 1};
    int x = exec_block(program, I->globals);
    I->depth--;
    if (x == X_RET) I->retval = rcl_drop(I->retval); /* a return at the top level */
    return x == X_ERR ? -1 : 0;
}

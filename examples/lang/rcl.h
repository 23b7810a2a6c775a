/*
 * rcl.h - rcl, a small scripting language on rcgc: the interpreter's shared
 * declarations (docs/embedding.md walks through it).
 *
 * Every value of the language is an rcgc object (V).  The parser builds an
 * AST of plain C structs (code, not values: malloc'd, freed after the
 * runtime); the evaluator walks it.  Errors are values of nothing: a failing
 * call returns NULL with a message "file:line: ..." in the interpreter, and
 * every caller passes NULL up, so a script error never crashes and never
 * longjmps (rcgc's hooks must not be unwound through).
 */
#ifndef RCL_H
#define RCL_H

#include <stddef.h>
#include <stdint.h>

#include "rcgc.h"
#include "rcgc_diag.h"

typedef rcgc_object V;

/* ---- the AST ---- */

enum node_kind {
    N_CONST, N_NAME, N_LIST, N_DICT, N_BIN, N_NOT, N_NEG, N_AND, N_OR, N_CALL,
    N_ATTR, N_INDEX, N_FUNC,
    S_EXPR, S_LET, S_ASSIGN, S_IF, S_WHILE, S_FOR, S_RETURN, S_BLOCK, S_CLASS,
    S_DEL
};

enum bin_op { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT,
              OP_LE, OP_GT, OP_GE, OP_IS, OP_ISNOT, OP_IN };

typedef struct node {
    int kind, op;
    unsigned line;
    const char *name;       /* interned: names, attributes, functions */
    V *konst;               /* N_CONST: the literal, nil, true or false;
                               N_ATTR: the name as a str (immortal) */
    struct node *a, *b, *c; /* children */
    struct node **list;     /* arguments, statements, parameters, items */
    int n, slots;           /* slots: N_FUNC and the program: the most names
                               its scope can hold (parameters, let, def,
                               class, for), counted by the parser */
} node;

/* ---- the interpreter ---- */

#define RCL_MAX_DEPTH 400       /* frames: calls deeper fail */
#define RCL_MAX_STACK (2u << 20) /* bytes of C stack a script may use (of 8 MiB) */

/* A call in progress: its function's name (interned; "<module>" at the
 * top) and the line running (the statement's, then the call's). */
typedef struct { const char *function; unsigned line; } frame;

typedef struct interp {
    rcgc_runtime *rt;
    const char *file;       /* the script's path (interned) */
    V *globals;             /* the module's scope */
    V *none, *true_, *false_;
    V *builtins;            /* the scope of the builtins */
    V *s_init, *s_del, *s_name, *s_eq, *s_hash; /* "__init__", ... (immortal) */
    frame frames[RCL_MAX_DEPTH];
    int depth;
    char err[512];          /* the pending error: "file:line: message" */
    int failed;
    V *retval;              /* a return statement's value (NEW) */
    rcgc_diag_growth *growth;
    char *stack_base;       /* main's frame, near the bottom of the C stack */
} interp;

extern interp *I;

/* Names and strings the tracer and the diagnosis keep pointers to: they live
 * with the AST, until rcl_free_ast, after the runtime is freed. */
const char *rcl_intern(const char *s, size_t len);
uint64_t rcl_hash_bytes(const char *s, size_t len); /* FNV-1a */
/* The interned name as an immortal str, one object per name (so that
 * attribute and method lookups compare pointers).  Out of memory ends the
 * interpreter, as for the AST: names are part of the program text. */
V *rcl_name(const char *interned);

/* printf-style checking of the message functions' arguments, and hooks'
 * parameters they need not use (rcl is GNU C: it uses
 * __builtin_add_overflow and __builtin_frame_address too). */
#define RCL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))

/* Set the error (always returns NULL, for `return rcl_error(...)`). */
V *rcl_error(const char *fmt, ...) RCL_PRINTF(1, 2);
#define rcl_fail(...) (rcl_error(__VA_ARGS__), -1) /* the same, returning -1 */
/* Drop o on an error path: `return rcl_drop(list);` (always NULL). */
V *rcl_drop(V *o);
/* The parser and the evaluator recurse on the script's structure: each
 * recursive step checks that the C stack in use is below RCL_MAX_STACK (0:
 * too deep), so that no script can overflow it. */
int rcl_stack_ok(void);
#define IVAL(o) (((int_obj *)(o))->v) /* an int's value */

/* ---- values (value.c) ---- */

extern const rcgc_type t_none, t_bool, t_int, t_str, t_list, t_dict, t_func,
    t_env, t_class, t_builtin, t_snapshot;

/* A builtin function, or a method of the builtin type *type (self is
 * args[0], counted in min and max): its arity and argument types (one
 * letter per argument: 'i' int, 's' str, 'S' snapshot, '.' any), checked
 * before fn is called; op tells apart the builtins one fn serves. */
typedef struct builtin_spec {
    const char *name;
    V *(*fn)(V **args, int n, const struct builtin_spec *s);
    int min, max, op;
    const char *args;
    const rcgc_type *const *type; /* a method's type; NULL: a function */
} builtin_spec;

typedef struct { V base; int64_t v; } int_obj;
typedef struct { V base; size_t len; uint64_t hash; char s[]; } str_obj;
typedef struct { V base; V **items; size_t n, cap; } list_obj;
typedef struct { V *key, *val; uint64_t hash; } dict_entry;
typedef struct {
    V base;
    dict_entry *e;          /* the entries in insertion order */
    size_t n, cap;
    uint64_t version;       /* changes with the entries (lookups restart) */
    int32_t *index;         /* 2 * cap slots, open addressing into e, -1 empty */
} dict_obj;
typedef struct { V base; node *def; V *env; } func_obj;
typedef struct { const char *name; V *val; } env_slot;
typedef struct {
    V base;
    V *parent;
    const char *owner;      /* the function whose call made it */
    size_t n, cap;          /* cap: the parser's count (node.slots) */
    env_slot s[];           /* inline: a scope never grows */
} env_obj;
typedef struct { V base; const char *name; V *methods; const rcgc_type *itype; } class_obj;
typedef struct { V base; V *cls; V *dict; } inst_obj;
typedef struct { V base; const builtin_spec *spec; } builtin_obj;
typedef struct { V base; rcgc_snapshot *s; } snap_obj;

V *rcl_int(int64_t v);
/* A str of s's len bytes, then t's tlen (a concatenation): NEW or NULL. */
V *rcl_str2(const char *s, size_t len, const char *t, size_t tlen);
#define rcl_str(s, len) rcl_str2((s), (len), "", 0)
#define rcl_bool(b) ((b) ? I->true_ : I->false_) /* immortal */
V *rcl_list_new(size_t cap);
int rcl_list_append(V *list, V *item); /* borrows item */
int rcl_list_push(V *list, V *item);   /* steals item (NULL: fails) */
V *rcl_dict_new(void);
/* Keys compare by value (ints, strings), by the class's __hash__ and
 * __eq__ (instances that define them), else by identity.  get: BORROWED,
 * or NULL when absent or (I->failed) on error; set: -1 on error. */
V *rcl_dict_get(V *d, V *key);
int rcl_dict_set(V *d, V *key, V *val); /* borrows both */
int rcl_dict_put(V *d, V *key, V *val); /* steals both (NULL: fails) */
V *rcl_env_new(V *parent, const char *owner, int slots);
V **rcl_env_find(V *env, const char *name); /* the slot, or NULL */
int rcl_env_define(V *env, const char *name, V *val); /* borrows val */
int rcl_env_remove(V *env, const char *name);
V *rcl_class_new(const char *name);
V *rcl_instance_new(V *cls);

#define rcl_is(o, t) ((o)->type == (t))
/* Every instance type has the same finalize hook (types.c). */
#define rcl_is_instance(o) ((o)->type->finalize == rcl_instance_finalize)
#define rcl_type_name(o) ((o)->type->name)
int rcl_truthy(V *o);
int rcl_equal(V *a, V *b);           /* 1, 0, or -1 on error (a user __eq__) */
int rcl_hash(V *o, uint64_t *h);     /* 0, or -1 on error */
/* str(o) into buf (as snprintf), for print and messages. */
int rcl_repr(V *o, char *buf, size_t size, int quote);

/* The finalize hook of every instance: runs the class's __del__. */
int rcl_instance_finalize(rcgc_runtime *rt, V *self);

/* A weak container call's error code as a script error (returns -1). */
int rcl_weak_failed(int r, V *container, V *o);
/* The weak containers (rcgc's own objects); set at start-up. */
extern const rcgc_type *t_wset, *t_wvmap, *t_wkmap, *t_weakref;
#define rcl_is_weak(o) ((o)->type == t_wset || (o)->type == t_wvmap || (o)->type == t_wkmap)

/* ---- evaluation (eval.c) ---- */

node *rcl_parse(const char *src, size_t len, const char *file);
void rcl_free_ast(void); /* and the interned strings */
int rcl_run(node *program);   /* 0, or -1 with I->err set */
V *rcl_call(V *callee, V **args, int n); /* NEW or NULL */

/* ---- builtins (builtins.c) ---- */

int rcl_builtins_init(void);
V *rcl_builtin_method(V *o, const char *name); /* BORROWED, or NULL (no error) */
V *rcl_call_builtin(V *callee, V **args, int n); /* NEW or NULL */
/* o[k] for a dict or a weak map: 1 with the value (NEW) in *r, 0 when
 * absent, -1 on error, -2 when o is neither. */
int rcl_map_get(V *o, V *k, V **r);

#endif

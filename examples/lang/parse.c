/*
 * parse.c - rcl's tokenizer and recursive-descent parser, to an AST of
 * plain C structs (code, not values: freed after the runtime, because the
 * tracer's frames and the functions point into it).
 *
 *   program := stmt*
 *   stmt    := 'let' NAME '=' expr | 'def' NAME '(' names ')' block
 *            | 'class' NAME '{' ('def' ...)* '}' | 'if' expr block
 *              ['else' block] | 'while' expr block
 *            | 'for' NAME 'in' expr block | 'return' [expr] | 'del' NAME
 *            | expr ['=' expr]
 *   expr    := or; or := and ('or' and)*; and := not ('and' not)*
 *   not     := 'not' not | cmp; cmp := sum (('=='|'!='|'<'|'<='|'>'|'>='
 *              |'is' ['not']|'in') sum)?
 *   sum     := term (('+'|'-') term)*; term := unary (('*'|'/'|'%') unary)*
 *   unary   := '-' unary | postfix; postfix := primary ('(' args ')' |
 *              '.' NAME | '[' expr ']')*
 *   primary := INT | STRING | NAME | 'nil' | 'true' | 'false' | '(' expr ')'
 *            | '[' items ']' | '{' pairs '}' | 'fn' '(' names ')' block
 *
 * Statements end at a newline or ';'; newlines inside (), [] and dict
 * literals are ignored; '#' starts a comment.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcl.h"

/* ---- the AST's memory, and interned strings ---- */

/* Every block the parser allocates, on one list (the AST and the interned
 * strings), freed at once by rcl_free_ast. */
static void *ast_blocks;

static void *must(void *p) /* the program text's memory: out of it, stop */
{
    if (p != NULL) return p;
    fprintf(stderr, "rcl: out of memory\n");
    exit(2);
}

static void *ast_alloc(size_t size)
{
    void **m = must(calloc(1, sizeof(void *) + size)); /* the list's link, then the block */
    *m = ast_blocks;
    ast_blocks = m;
    return m + 1;
}

struct istr {
    struct istr *next;
    V *str;                 /* the name as an immortal str, made on demand */
    char s[];
};
static struct istr *interned[1024];

const char *rcl_intern(const char *s, size_t len)
{
    struct istr **b = &interned[rcl_hash_bytes(s, len) & 1023];
    for (struct istr *p = *b; p != NULL; p = p->next)
        if (strncmp(p->s, s, len) == 0 && p->s[len] == 0) return p->s;
    struct istr *p = ast_alloc(sizeof *p + len + 1);
    memcpy(p->s, s, len);
    p->next = *b;
    *b = p;
    return p->s;
}

V *rcl_name(const char *name)
{
    struct istr *p = (struct istr *)(void *)(name - offsetof(struct istr, s));
    if (p->str == NULL) {
        p->str = must(rcl_str(p->s, strlen(p->s)));
        rcgc_object_make_immortal(I->rt, p->str);
    }
    return p->str;
}

void rcl_free_ast(void)
{
    while (ast_blocks != NULL) {
        void **m = ast_blocks;
        ast_blocks = *m;
        free(m);
    }
    memset(interned, 0, sizeof interned);
}

/* ---- tokens ---- */

enum tok { T_EOF, T_NL, T_INT, T_STR, T_NAME, T_OP };

typedef struct parser {
    const char *p, *end, *file;
    unsigned line;
    int nest;               /* () and [] depth: newlines ignored inside
                               (block() sets it to 0 inside its braces) */
    enum tok t;
    char op[3];
    const char *start;      /* the token's text */
    size_t len;
    V *konst;               /* T_INT, T_STR: the value, made immortal */
    int slots;              /* names the function being parsed defines */
} parser;

/* A syntax error at the current line (rcl_error takes the line of frame 0
 * while no function runs); the parser stops at the first (I->failed). */
#define perr(ps, ...) (I->frames[0].line = (ps)->line, rcl_error("syntax error: " __VA_ARGS__))

static void next(parser *ps)
{
    for (; ps->p < ps->end; ps->p++) { /* blanks, comments, newlines inside () and [] */
        if (*ps->p == '#')
            while (ps->p + 1 < ps->end && ps->p[1] != '\n') ps->p++;
        else if (*ps->p == '\n' && ps->nest > 0)
            ps->line++;
        else if (*ps->p != ' ' && *ps->p != '\t' && *ps->p != '\r')
            break;
    }
    ps->start = ps->p;
    char c = ps->p < ps->end ? *ps->p : 0;
    if (I->failed || ps->p >= ps->end) {
        ps->t = T_EOF;
    } else if (c == '\n' || c == ';') {
        if (c == '\n') ps->line++;
        ps->p++;
        ps->t = T_NL;
    } else if (isdigit((unsigned char)c)) {
        int64_t v = 0;
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p) && v <= (INT64_MAX - 9) / 10)
            v = v * 10 + (*ps->p++ - '0');
        if (ps->p < ps->end && isdigit((unsigned char)*ps->p)) perr(ps, "integer literal too large");
        ps->t = T_INT;
        ps->konst = rcl_int(v);
    } else if (isalpha((unsigned char)c) || c == '_') {
        while (ps->p < ps->end && (isalnum((unsigned char)*ps->p) || *ps->p == '_')) ps->p++;
        ps->t = T_NAME;
    } else if (c == '"' || c == '\'') {
        ps->p++;
        char *buf = ast_alloc((size_t)(ps->end - ps->p) + 1);
        size_t n = 0;
        while (ps->p < ps->end && *ps->p != c && *ps->p != '\n') {
            char ch = *ps->p++;
            if (ch == '\\' && ps->p < ps->end) {
                ch = *ps->p++;
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
            }
            buf[n++] = ch;
        }
        if (ps->p < ps->end && *ps->p == c) ps->p++;
        else perr(ps, "unterminated string");
        ps->t = T_STR;
        ps->konst = rcl_str(buf, n);
    } else {
        ps->t = T_OP; /* one character, or == != <= >= */
        ps->op[0] = c;
        ps->op[1] = ps->end - ps->p >= 2 && strchr("=!<>", c) && ps->p[1] == '=' ? '=' : 0;
        ps->p += ps->op[1] ? 2 : 1;
        if (strchr("+-*/%=<>!()[]{}.,:", c) == NULL) perr(ps, "unexpected character '%c'", c);
        if (c == '(' || c == '[') ps->nest++;
        if ((c == ')' || c == ']') && ps->nest > 0) ps->nest--;
    }
    ps->len = (size_t)(ps->p - ps->start);
    if (ps->t == T_INT || ps->t == T_STR) { /* a literal: made once, immortal */
        if (ps->konst == NULL) perr(ps, "out of memory");
        else rcgc_object_make_immortal(I->rt, ps->konst);
    }
}

static int is_op(parser *ps, const char *op)
{
    return ps->t == T_OP && strcmp(ps->op, op) == 0;
}

static int is_kw(parser *ps, const char *kw)
{
    return ps->t == T_NAME && ps->len == strlen(kw) && memcmp(ps->start, kw, ps->len) == 0;
}

static void expect(parser *ps, const char *op)
{
    if (!is_op(ps, op)) perr(ps, "expected '%s'", op);
    next(ps);
}

static const char *expect_name(parser *ps)
{
    if (ps->t != T_NAME) perr(ps, "expected a name");
    const char *s = rcl_intern(ps->start, ps->len);
    next(ps);
    return s;
}

static void skip_nl(parser *ps)
{
    while (ps->t == T_NL) next(ps);
}

static node *mk(parser *ps, int kind)
{
    node *n = ast_alloc(sizeof *n);
    n->kind = kind;
    n->line = ps->line;
    return n;
}

/* A node at the current token, which it consumes (a keyword, an operator). */
static node *take(parser *ps, int kind)
{
    node *n = mk(ps, kind);
    next(ps);
    return n;
}

static void push(node *parent, node *child)
{
    if ((parent->n & (parent->n - 1)) == 0) { /* 0, 1, 2, 4...: grow */
        node **l = ast_alloc((size_t)(parent->n ? parent->n * 2 : 1) * sizeof *l);
        if (parent->n) memcpy(l, parent->list, (size_t)parent->n * sizeof *l);
        parent->list = l;
    }
    parent->list[parent->n++] = child;
}

/* ---- expressions ---- */

static node *level(parser *ps, int lv);
#define expr(ps) level((ps), 0) /* an expression: its lowest precedence level */
static node *block(parser *ps);

/* Items separated by commas up to close (the opening token is read), each
 * parsed by item into n's list.  Newlines between them are skipped: inside
 * () and [] the tokenizer drops them, but a dict literal's braces are read
 * as a block's. */
static void items(parser *ps, node *n, const char *close, void (*item)(parser *, node *))
{
    for (skip_nl(ps); !I->failed && !is_op(ps, close); skip_nl(ps)) {
        item(ps, n);
        skip_nl(ps);
        if (!is_op(ps, close)) expect(ps, ",");
    }
    expect(ps, close);
}

static void arg(parser *ps, node *n)
{
    push(n, expr(ps));
}

static void pair(parser *ps, node *n) /* key: value, as two items */
{
    push(n, expr(ps));
    expect(ps, ":");
    push(n, expr(ps));
}

static void param(parser *ps, node *f)
{
    node *p = mk(ps, N_NAME);
    p->name = expect_name(ps);
    push(f, p);
}

/* A function's parameters and body, after 'fn' or 'def NAME'.  Its scope's
 * slots are the parameters and the names its body defines (not those of
 * the functions inside it, which have their own scopes). */
static node *function(parser *ps, node *f, const char *name)
{
    int outer = ps->slots;
    f->name = name;
    ps->slots = 0;
    expect(ps, "(");
    items(ps, f, ")", param);
    f->a = block(ps);
    f->slots = f->n + ps->slots;
    ps->slots = outer;
    return f;
}

static node *primary(parser *ps)
{
    node *n;
    if (ps->t == T_INT || ps->t == T_STR || is_kw(ps, "nil") || is_kw(ps, "true") ||
        is_kw(ps, "false")) {
        n = mk(ps, N_CONST); /* nil, true and false are immortal too */
        n->konst = ps->t != T_NAME ? ps->konst : is_kw(ps, "nil") ? I->none : rcl_bool(is_kw(ps, "true"));
        next(ps);
    } else if (is_kw(ps, "fn")) {
        n = function(ps, take(ps, N_FUNC), rcl_intern("<fn>", 4));
    } else if (ps->t == T_NAME) {
        n = mk(ps, N_NAME);
        n->name = expect_name(ps);
    } else if (is_op(ps, "(")) {
        next(ps);
        n = expr(ps);
        expect(ps, ")");
    } else if (is_op(ps, "[") || is_op(ps, "{")) {
        int list = is_op(ps, "[");
        n = take(ps, list ? N_LIST : N_DICT);
        items(ps, n, list ? "]" : "}", list ? arg : pair);
    } else {
        if (ps->t == T_EOF) perr(ps, "unexpected end of file");
        else perr(ps, "unexpected '%.*s'", (int)ps->len, ps->start);
        return mk(ps, N_CONST);
    }
    return n;
}

static node *postfix(parser *ps)
{
    node *n = primary(ps);
    while (!I->failed) {
        node *m;
        if (is_op(ps, "(")) {
            m = take(ps, N_CALL);
            items(ps, m, ")", arg);
        } else if (is_op(ps, ".")) {
            m = take(ps, N_ATTR);
            m->name = expect_name(ps);
            m->konst = rcl_name(m->name);
        } else if (is_op(ps, "[")) {
            m = take(ps, N_INDEX);
            m->b = expr(ps);
            expect(ps, "]");
        } else {
            break;
        }
        m->a = n;
        n = m;
    }
    return n;
}

/* The binary operators by precedence level, lowest first: 'or', 'and',
 * (level 2 is the prefix 'not'), comparisons, + -, * /, % (level 6 is the
 * prefix '-').  A keyword operator is a name token. */
static const struct binop {
    const char *tok;
    int level, kind, op;
} binops[] = {
    {"or", 0, N_OR, 0},       {"and", 1, N_AND, 0},     {"==", 3, N_BIN, OP_EQ},
    {"!=", 3, N_BIN, OP_NE},  {"<", 3, N_BIN, OP_LT},   {"<=", 3, N_BIN, OP_LE},
    {">", 3, N_BIN, OP_GT},   {">=", 3, N_BIN, OP_GE},  {"in", 3, N_BIN, OP_IN},
    {"is", 3, N_BIN, OP_IS},  {"+", 4, N_BIN, OP_ADD},  {"-", 4, N_BIN, OP_SUB},
    {"*", 5, N_BIN, OP_MUL},  {"/", 5, N_BIN, OP_DIV},  {"%", 5, N_BIN, OP_MOD},
};

static const struct binop *binop_at(parser *ps, int level)
{
    for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++)
        if (binops[i].level == level && (is_op(ps, binops[i].tok) || is_kw(ps, binops[i].tok)))
            return &binops[i];
    return NULL;
}

/* The expression at a precedence level: a prefix operator, or left-deep
 * chains of the level's operators (a comparison does not chain: "a < b <
 * c" is an error); past the last level, postfix expressions.  Every
 * nesting (parentheses, prefix operators) recurses through here, where the
 * C stack is checked. */
static node *level(parser *ps, int lv)
{
    if (!rcl_stack_ok()) {
        perr(ps, "expression nested too deeply");
        return mk(ps, N_CONST);
    }
    if (lv == 7) return postfix(ps);
    if ((lv == 2 && is_kw(ps, "not")) || (lv == 6 && is_op(ps, "-"))) {
        node *n = take(ps, lv == 2 ? N_NOT : N_NEG);
        n->a = level(ps, lv);
        return n;
    }
    node *n = level(ps, lv + 1);
    const struct binop *b;
    while ((b = binop_at(ps, lv)) != NULL) {
        node *m = take(ps, b->kind);
        m->op = b->op;
        m->a = n;
        if (b->op == OP_IS && is_kw(ps, "not")) {
            m->op = OP_ISNOT;
            next(ps);
        }
        m->b = level(ps, lv + 1);
        n = m;
        if (lv == 3) break;
    }
    return n;
}

/* ---- statements ---- */

static node *stmt(parser *ps);

/* A block: statements, whose newlines count even inside parentheses (a
 * function literal passed to a call); blocks nest by recursion, bounded by
 * the C stack as expressions are. */
static node *block(parser *ps)
{
    node *b = mk(ps, S_BLOCK);
    int outer = ps->nest;
    if (!rcl_stack_ok()) perr(ps, "blocks nested too deeply");
    ps->nest = 0; /* before the token after '{' is read */
    expect(ps, "{");
    for (skip_nl(ps); !I->failed && !is_op(ps, "}"); skip_nl(ps)) {
        if (ps->t == T_EOF) perr(ps, "missing '}'");
        else push(b, stmt(ps));
    }
    ps->nest = outer; /* before the token after '}' is read */
    expect(ps, "}");
    return b;
}

static node *def(parser *ps)
{
    node *f = take(ps, N_FUNC);
    return function(ps, f, expect_name(ps));
}

static node *stmt(parser *ps)
{
    node *n;
    if (is_kw(ps, "let") || is_kw(ps, "def") || is_kw(ps, "class") || is_kw(ps, "for"))
        ps->slots++; /* a name the scope may hold */
    if (is_kw(ps, "let")) {
        n = take(ps, S_LET);
        n->name = expect_name(ps);
        expect(ps, "=");
        n->a = expr(ps);
    } else if (is_kw(ps, "def")) {
        n = mk(ps, S_LET);
        n->a = def(ps);
        n->name = n->a->name;
    } else if (is_kw(ps, "class")) {
        n = take(ps, S_CLASS);
        n->name = expect_name(ps);
        expect(ps, "{");
        for (skip_nl(ps); !I->failed && is_kw(ps, "def"); skip_nl(ps)) push(n, def(ps));
        expect(ps, "}");
    } else if (is_kw(ps, "if") || is_kw(ps, "while") || is_kw(ps, "for")) {
        n = take(ps, is_kw(ps, "if") ? S_IF : is_kw(ps, "while") ? S_WHILE : S_FOR);
        if (n->kind == S_FOR) { /* for NAME in expr block */
            n->name = expect_name(ps);
            if (!is_kw(ps, "in")) perr(ps, "expected 'in'");
            next(ps);
        }
        n->a = expr(ps);
        n->b = block(ps);
        if (n->kind == S_IF && is_kw(ps, "else")) {
            next(ps);
            n->c = block(ps);
        }
    } else if (is_kw(ps, "return")) {
        n = take(ps, S_RETURN);
        if (ps->t != T_NL && !is_op(ps, "}") && ps->t != T_EOF) n->a = expr(ps);
    } else if (is_kw(ps, "del")) {
        n = take(ps, S_DEL);
        n->name = expect_name(ps);
    } else {
        n = mk(ps, S_EXPR);
        n->a = expr(ps);
        if (is_op(ps, "=")) {
            int k = n->a->kind;
            if (k != N_NAME && k != N_ATTR && k != N_INDEX) perr(ps, "cannot assign to this");
            n->kind = S_ASSIGN;
            next(ps);
            n->b = expr(ps);
        }
    }
    if (ps->t != T_NL && ps->t != T_EOF && !is_op(ps, "}"))
        perr(ps, "unexpected '%.*s' after a statement", (int)ps->len, ps->start);
    return n;
}

node *rcl_parse(const char *src, size_t len, const char *file)
{
    parser ps = {.p = src, .end = src + len, .file = file, .line = 1};
    node *prog = mk(&ps, S_BLOCK);
    next(&ps);
    skip_nl(&ps);
    while (!I->failed && ps.t != T_EOF) {
        push(prog, stmt(&ps));
        skip_nl(&ps);
    }
    prog->slots = ps.slots; /* the module scope's */
    return I->failed ? NULL : prog;
}

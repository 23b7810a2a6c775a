/*
 * main.c - rcl SCRIPT: run a script of the small language (examples/lang,
 * docs/embedding.md).  Exit status 0, or 1 after a message "file:line:
 * ..." on stderr when the script fails; 2 when the interpreter cannot
 * start.  RCL_TEARDOWN=1 prints what teardown found (objects still alive,
 * uncollectable) on stdout at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcl.h"

static interp the_interp;
interp *I = &the_interp;

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long size = f != NULL && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *buf = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
    if (buf != NULL) *len = fread(buf, 1, (size_t)size, f);
    if (f != NULL) fclose(f);
    return buf;
}

/* nil, true and false: made once, immortal. */
static V *constant(const rcgc_type *t, int64_t v)
{
    V *o = rcgc_object_new(I->rt, t);
    if (o != NULL && t == &t_bool) IVAL(o) = v;
    if (o != NULL) rcgc_object_make_immortal(I->rt, o);
    return o;
}

static int start(void)
{
    I->none = constant(&t_none, 0);
    I->true_ = constant(&t_bool, 1);
    I->false_ = constant(&t_bool, 0);
    I->s_init = rcl_name(rcl_intern("__init__", 8));
    I->s_del = rcl_name(rcl_intern("__del__", 7));
    I->s_name = rcl_name(rcl_intern("name", 4));
    I->s_eq = rcl_name(rcl_intern("__eq__", 6));
    I->s_hash = rcl_name(rcl_intern("__hash__", 8));
    for (int i = -5; i <= 256; i++) /* the small ints, made once (CPython's) */
        if (rcl_int(i) == NULL) return -1;
    if (I->none == NULL || I->true_ == NULL || I->false_ == NULL) return -1;
    return rcl_builtins_init();
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rcl SCRIPT\n");
        return 2;
    }
    size_t len;
    char *src = read_file(argv[1], &len);
    if (src == NULL) {
        fprintf(stderr, "rcl: cannot read %s\n", argv[1]);
        return 2;
    }
    I->stack_base = __builtin_frame_address(0);
    I->file = rcl_intern(argv[1], strlen(argv[1]));

    /* Deferred collections: automatic collections run only at the safe
     * points of the evaluator's loop (eval.c, exec_block). */
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.gc_mode = RCGC_GC_DEFERRED;
    if (rcgc_runtime_create(&cfg, &I->rt) != 0 || start() != 0) {
        fprintf(stderr, "rcl: cannot start the interpreter\n");
        return 2;
    }

    node *prog = rcl_parse(src, len, I->file);
    free(src);
    int status = prog == NULL || rcl_run(prog) != 0; /* 1: the script failed */
    if (status) {
        fflush(stdout);
        fprintf(stderr, "%s\n", I->err);
    }
    I->failed = 0;

    /* Teardown: the module's scope first (its objects' __del__ run with the
     * interpreter still whole), then the runtime (it frees the heap types
     * last); the AST and the interned strings (which the tracer's frames
     * point to) after it. */
    rcgc_xdecref(I->rt, I->globals);
    rcgc_gc_collect(I->rt, 2);
    if (I->growth != NULL) rcgc_diag_growth_free(I->rt, I->growth);
    rcgc_decref(I->rt, I->builtins);
    rcgc_teardown_report rep;
    fflush(stdout);
    rcgc_runtime_free(I->rt, &rep);
    const char *td = getenv("RCL_TEARDOWN");
    if (td != NULL && *td == '1')
        printf("teardown: %td objects alive, %td uncollectable\n", rep.alive, rep.uncollectable);
    rcl_free_ast();
    return status;
}

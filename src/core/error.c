/*
 * error.c - error codes and the fatal report for API misuse.
 *
 * Misuse that cannot be returned as a code (detected in debug builds) ends
 * the process with a message modelled on CPython's _PyObject_AssertFailed:
 * what was wrong, where, and a dump of the object involved.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "core/internal.h"

const char *rcgc_strerror(int err)
{
    switch (err) {
    case RCGC_OK:
        return "success";
#define RCGC_ERROR_CASE_(name, value, text)                                   \
    case value:                                                               \
        return text;
        RCGC_ERROR_LIST(RCGC_ERROR_CASE_)
#undef RCGC_ERROR_CASE_
    default:
        return "unknown error";
    }
}

void rcgc__set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void rcgc__dump_object(FILE *f, const rcgc_object *o)
{
    fprintf(f, "object address  : %p\n", (const void *)o);
    if (o == NULL) return;
    fprintf(f, "object refcount : %ld\n", (long)o->refcnt);
    fprintf(f, "object type     : %p\n", (const void *)o->type);
#if RCGC_DEBUG >= 1
    const debug_head *d = debug_head_of(o);
    if (d->magic != RCGC__MAGIC_ALIVE) {
        fprintf(f, "object state    : %s\n",
                d->magic == RCGC__MAGIC_FREED ? "freed" : "not an rcgc object");
        if (d->magic != RCGC__MAGIC_FREED) return;
    } else {
        fprintf(f, "object serial   : %llu\n", (unsigned long long)d->serial);
    }
#endif
#if RCGC_DEBUG >= 1
    /* A freed object's heap type may be freed too (heaptype.c knows). */
    const char *name = d->magic == RCGC__MAGIC_FREED
                           ? rcgc__type_name_for_dump(d->rt, o->type)
                           : o->type != NULL ? o->type->name : NULL;
#else
    const char *name = o->type != NULL ? o->type->name : NULL;
#endif
    if (name != NULL) fprintf(f, "object type name: %s\n", name);
}

/* The stream of rt, or of o's runtime when rt is unknown (debug builds). */
static FILE *fatal_stream(rcgc_runtime *rt, const rcgc_object *o)
{
#if RCGC_DEBUG >= 1
    if (rt == NULL && o != NULL) {
        const debug_head *d = debug_head_of(o);
        if (d->magic == RCGC__MAGIC_ALIVE) rt = d->rt;
    }
#else
    (void)o;
#endif
    return (rt != NULL && rt->debug_stream != NULL) ? rt->debug_stream : stderr;
}

void rcgc__fatal(rcgc_runtime *rt, const rcgc_object *o, const char *fmt, ...)
{
    FILE *f = fatal_stream(rt, o);
    va_list ap;
    va_start(ap, fmt);
    fputs("rcgc: fatal error: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
    if (o != NULL) rcgc__dump_object(f, o);
    fflush(f);
    abort();
}

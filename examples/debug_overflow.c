/*
 * debug_overflow.c - the debug allocator catching a buffer overflow.
 *
 * With heap.debug_hooks = 1 (CPython's PYTHONMALLOC=debug) every block gets
 * 16 bytes of header before it and 8 FORBIDDENBYTE (0xFD) guard bytes after
 * it.  Writing one byte past the end of a 16-byte buffer damages the first
 * trailing guard; rcgc_heap_check walks every live block and reports it.
 * The default report hook prints the block dump and aborts (CPython's
 * "Fatal Python error: _PyMem_DebugRawFree: bad trailing pad byte"); this
 * program installs a hook that records the report instead, so it can show
 * it, repair the guard and free the buffer.
 *
 * With the tracer started first, the report also says where the block was
 * allocated ("Memory block allocated at ..."): the RCGC_MALLOC call site.
 * Addresses differ from run to run, so only the kind, the message and the
 * traceback line (file basename and line number) are printed.
 */
#include <stdio.h>
#include <string.h>

#include "rcgc.h"

typedef struct recorded {
    int count;
    rcgc_memdebug_kind kind;
    char func[64];
    char message[128];
    size_t size;
    char api;
    char where[256]; /* the traceback line after "allocated at" */
} recorded;

static const char *kind_name(rcgc_memdebug_kind k)
{
    switch (k) {
    case RCGC_MEMDEBUG_BAD_ID: return "BAD_ID";
    case RCGC_MEMDEBUG_BAD_LEADING_PAD: return "BAD_LEADING_PAD";
    case RCGC_MEMDEBUG_BAD_SIZE: return "BAD_SIZE";
    case RCGC_MEMDEBUG_BAD_TRAILING_PAD: return "BAD_TRAILING_PAD";
    case RCGC_MEMDEBUG_NOT_ALLOCATED: return "NOT_ALLOCATED";
    case RCGC_MEMDEBUG_USE_AFTER_FREE: return "USE_AFTER_FREE";
    }
    return "?";
}

/* Record the report instead of aborting: copy what we want to show. */
static void on_report(void *ctx, const rcgc_memdebug_report *r)
{
    recorded *rec = ctx;
    rec->count++;
    rec->kind = r->kind;
    snprintf(rec->func, sizeof rec->func, "%s", r->func);
    snprintf(rec->message, sizeof rec->message, "%s", r->message);
    rec->size = r->size;
    rec->api = r->api;
    rec->where[0] = 0;
    const char *at = r->text ? strstr(r->text, "Memory block allocated at") : NULL;
    if (at != NULL) {
        const char *line = strchr(at, '\n'); /* the first frame's line */
        if (line != NULL) {
            line++;
            size_t n = strcspn(line, "\n");
            if (n >= sizeof rec->where) n = sizeof rec->where - 1;
            memcpy(rec->where, line, n);
            rec->where[n] = 0;
        }
    }
}

/* "  File "/long/path/examples/debug_overflow.c", line 97" -> keep the
 * basename only, so the output does not depend on the build directory. */
static void print_where(const char *line)
{
    line += strspn(line, " ");
    const char *q = strchr(line, '"');
    const char *e = q ? strchr(q + 1, '"') : NULL;
    if (q == NULL || e == NULL) {
        printf("  allocated at: %s\n", line);
        return;
    }
    const char *base = q + 1;
    for (const char *s = q + 1; s < e; s++)
        if (*s == '/' || *s == '\\') base = s + 1;
    printf("  allocated at: %.*s%.*s%s\n", (int)(q + 1 - line), line,
           (int)(e - base), base, e);
}

int main(void)
{
    static recorded rec;
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.heap.debug_hooks = 1;
    cfg.heap.debug.report = on_report;
    cfg.heap.debug.report_ctx = &rec;
    rcgc_runtime *rt = rcgc_runtime_new(&cfg);
    if (rt == NULL) return 1;
    if (rcgc_trace_start(rt, NULL) != 0) return 1;
    rcgc_heap *heap = rcgc_runtime_heap(rt);

    unsigned char *buf = RCGC_MALLOC(rt, 16); /* the line the report names */
    if (buf == NULL) return 1;
    printf("heap check before the bug: %s, %d report(s)\n",
           rcgc_heap_check(heap) == 0 ? "ok" : "CORRUPT", rec.count);

    /* The bug: an off-by-one loop writes 17 bytes into a 16-byte buffer. */
    for (int i = 0; i <= 16; i++) buf[i] = (unsigned char)i;

    int rc = rcgc_heap_check(heap);
    printf("heap check after writing buf[16]: %s, %d report(s)\n",
           rc == 0 ? "ok" : "CORRUPT", rec.count);
    if (rec.count > 0) {
        printf("  kind: %s\n", kind_name(rec.kind));
        printf("  in: %s\n", rec.func);
        printf("  message: %s\n", rec.message);
        printf("  block: %zu bytes, API '%c'\n", rec.size, rec.api);
        if (rec.where[0] != 0) print_where(rec.where);
        else printf("  allocated at: (no traceback)\n");
    }

    /* Repair: put the guard byte back, then the block can be freed. */
    buf[16] = RCGC_MEMDEBUG_FORBIDDENBYTE;
    rec.count = 0;
    printf("heap check after the repair: %s, %d report(s)\n",
           rcgc_heap_check(heap) == 0 ? "ok" : "CORRUPT", rec.count);
    rcgc_mem_free(rt, buf);
    printf("freed; reports while freeing: %d\n", rec.count);

    rcgc_trace_stop(rt);
    return rcgc_runtime_free(rt, NULL);
}

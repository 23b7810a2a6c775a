/*
 * test_snapshot_faults.c - the snapshot and report layer out of memory.
 * Snapshots belong to no runtime, so their memory comes from the process
 * allocator (rcgc_process_allocator_set, rcgc_mem.h); here it is the test
 * allocator of the runtime too, so one call counter sees every allocation
 * of an operation: the tracer's scratch buffer while taking, the snapshot,
 * the statistics' tables, the file writer's and loader's buffers.
 *
 * For each operation (take, dump, read from a file and from memory,
 * filter, statistics by line, file and traceback, --cumulative, compare,
 * symbolize, rcgc-snapshot's text and JSON reports): for N = 1, 2, ...
 * the N-th allocation fails until a run needs fewer than N; then every
 * allocation after the N-th fails, for every N.  Each failed run must
 * return RCGC_ENOMEM (take: NULL with RCGC_ENOMEM as the runtime's last
 * error; filter: NULL), leave no block behind and no file (a failed dump);
 * each run that succeeds must give exactly the result of a run without
 * faults.  The teardown checks zero blocks and zero bytes.
 */
#include <unistd.h>

#include "rcgc_mem.h"
#include "rcgc_trace.h"
#include "snapshot_fixtures.h"
#include "snapshot_report.h"
#include "test.h"
#include "trace/snapshot_internal.h"

#define MAX_N 100000 /* safety net for the N loops */

static void fail_nth(long n)
{
    t_alloc_state.fail_at = t_alloc_state.calls + n;
    t_alloc_state.fail_after = 0;
    t_alloc_state.failures = 0;
}

static void fail_after(long n)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = t_alloc_state.calls + n;
    t_alloc_state.failures = 0;
}

static void no_faults(void)
{
    t_alloc_state.fail_at = 0;
    t_alloc_state.fail_after = 0;
}

/* ---- a traced runtime with deep, varied tracebacks ---- */

static int prov_k;

/* 2..5 frames over four files, the oldest a C frame of a module that does
 * not exist (so the file gets a module table entry attempt, and symbolize
 * finds nothing to run addr2line on). */
static int provider(void *ctx, rcgc_frame *frames, int max, int *total)
{
    (void)ctx;
    static const char *const files[] = {"alpha.c", "beta.c", "gamma.c", "d/delta.c"};
    int k = prov_k++;
    int n = 2 + k % 4;
    if (n > max) n = max;
    for (int i = 0; i < n; i++) {
        frames[i] = (rcgc_frame){files[(k + i) % 4], (unsigned)(100 * i + k % 151 + 1),
                                 i == 0 ? "leaf" : "caller", NULL, 0};
    }
    frames[n - 1] = (rcgc_frame){"<unknown>", 0, NULL,
                                 "/nonexistent/rcgc-test/libfake.so",
                                 0x1000u + (uint64_t)(k % 7)};
    *total = n + k % 3;
    return n;
}

#define NBLOCKS 400

struct fx {
    rcgc_runtime *rt;
    void *blocks[NBLOCKS];
    rcgc_snapshot *old, *cur;  /* reference snapshots (no faults) */
    rcgc_snapshot *sym;        /* C frames of modules that do not exist */
    char path[256];            /* cur dumped here */
    unsigned char *bytes;      /* and its bytes */
    size_t nbytes;
    char dump_path[256];       /* where the dump loop writes */
};

static int fx_setup(struct fx *fx)
{
    memset(fx, 0, sizeof *fx);
    prov_k = 0;
    fx->rt = t_runtime();
    rcgc_allocator a = t_allocator(&t_alloc_state);
    if (rcgc_process_allocator_set(&a) != 0) return 0;
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.nframes = 5;
    cfg.source = RCGC_FRAMES_PROVIDER;
    cfg.provider = provider;
    if (rcgc_trace_start(fx->rt, &cfg) != 0) return 0;
    for (int i = 0; i < NBLOCKS / 2; i++)
        fx->blocks[i] = rcgc_mem_malloc(fx->rt, (size_t)(16 + 8 * (i % 97)));
    fx->old = rcgc_snapshot_take(fx->rt);
    for (int i = 0; i < NBLOCKS / 2; i += 3) {
        rcgc_mem_free(fx->rt, fx->blocks[i]);
        fx->blocks[i] = NULL;
    }
    for (int i = NBLOCKS / 2; i < NBLOCKS; i++)
        fx->blocks[i] = rcgc_mem_malloc(fx->rt, (size_t)(900 - 2 * i));
    fx->cur = rcgc_snapshot_take(fx->rt);
    if (fx->old == NULL || fx->cur == NULL) return 0;
    fx->sym = rcgc__snapshot_new(2, 0);
    for (int i = 0; fx->sym != NULL && i < 6; i++) {
        rcgc_frame f[2] = {{"<unknown>", 0, NULL, "/nonexistent/rcgc-test/liba.so", 0x40u + (uint64_t)i},
                           {"<unknown>", 0, NULL, "/nonexistent/rcgc-test/libb.so", 0x80u}};
        long tb = rcgc__snapshot_add_traceback(fx->sym, f, 2, 2);
        if (tb < 0 || rcgc__snapshot_add_trace(fx->sym, 0, 32, tb, 32, 1) != 0) return 0;
    }
    if (fx->sym == NULL) return 0;
    snprintf(fx->path, sizeof fx->path, "%s", scratch("faults-ref"));
    snprintf(fx->dump_path, sizeof fx->dump_path, "%s", scratch("faults-dump"));
    char err[256];
    if (rcgc_snapshot_dump(fx->cur, fx->path, err, sizeof err) != 0) return 0;
    FILE *f = fopen(fx->path, "rb");
    if (f == NULL) return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    fx->bytes = malloc(len > 0 ? (size_t)len : 1);
    fx->nbytes = fread(fx->bytes, 1, (size_t)len, f);
    fclose(f);
    return fx->nbytes == (size_t)len && len > 0;
}

static void fx_teardown(struct fx *fx)
{
    no_faults();
    rcgc_snapshot_free(fx->old);
    rcgc_snapshot_free(fx->cur);
    rcgc_snapshot_free(fx->sym);
    free(fx->bytes);
    unlink(fx->path);
    unlink(fx->dump_path);
    for (int i = 0; i < NBLOCKS; i++) rcgc_mem_free(fx->rt, fx->blocks[i]);
    rcgc_trace_stop(fx->rt);
    CHECK_EQ(rcgc_process_allocator_set(NULL), 0);
    t_teardown(fx->rt);
}

/* ---- the operations: 0, or the failure's code; on success each checks
 * its result against the run without faults (*ok = 0 when it differs) ---- */

typedef int (*op_fn)(struct fx *fx, int *ok);

/* The allocator's call count when an operation ended, before it checks
 * its result against a run without faults (-1: not marked: at its return). */
static long op_end = -1;

static void mark_end(void)
{
    op_end = t_alloc_state.calls;
    no_faults();
}

static int op_take(struct fx *fx, int *ok)
{
    rcgc_snapshot *s = rcgc_snapshot_take(fx->rt);
    if (s == NULL) return rcgc_runtime_last_error(fx->rt);
    *ok = snap_equal(s, fx->cur);
    rcgc_snapshot_free(s);
    return 0;
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int op_dump(struct fx *fx, int *ok)
{
    char err[256];
    unlink(fx->dump_path);
    int r = rcgc_snapshot_dump(fx->cur, fx->dump_path, err, sizeof err);
    if (r != 0) {
        /* a failed dump leaves no file, and says why */
        if (file_exists(fx->dump_path) || strstr(err, "memory") == NULL) *ok = 0;
        return r;
    }
    FILE *f = fopen(fx->dump_path, "rb");
    unsigned char *b = malloc(fx->nbytes + 1);
    size_t n = f != NULL && b != NULL ? fread(b, 1, fx->nbytes + 1, f) : 0;
    *ok = n == fx->nbytes && memcmp(b, fx->bytes, n) == 0;
    if (f != NULL) fclose(f);
    free(b);
    return 0;
}

static int op_read(struct fx *fx, int *ok)
{
    char err[256];
    rcgc_snapshot *s = (rcgc_snapshot *)1;
    int r = rcgc_snapshot_read(fx->path, &s, err, sizeof err);
    if (r != 0) {
        if (s != NULL || strstr(err, "out of memory") == NULL) *ok = 0;
        return r;
    }
    *ok = snap_equal(s, fx->cur);
    rcgc_snapshot_free(s);
    return 0;
}

static int op_read_bytes(struct fx *fx, int *ok)
{
    char err[256];
    rcgc_snapshot *s = (rcgc_snapshot *)1;
    int r = rcgc_snapshot_read_bytes(fx->bytes, fx->nbytes, &s, err, sizeof err);
    if (r != 0) {
        if (s != NULL || strstr(err, "out of memory") == NULL) *ok = 0;
        return r;
    }
    *ok = snap_equal(s, fx->cur);
    rcgc_snapshot_free(s);
    return 0;
}

static const rcgc_trace_filter filters[] = {
    {1, "*.c", -1, 1, -1},       /* keeps all */
    {0, "beta.c", 11, 0, -1},    /* drops some */
};

static int op_filter(struct fx *fx, int *ok)
{
    rcgc_snapshot *s = rcgc_snapshot_filter(fx->cur, filters, 2);
    if (s == NULL) return RCGC_ENOMEM; /* the only way it fails here */
    mark_end();
    rcgc_snapshot *ref = rcgc_snapshot_filter(fx->cur, filters, 2);
    *ok = ref != NULL && snap_equal(s, ref) && rcgc_snapshot_count(s) > 0;
    rcgc_snapshot_free(ref);
    rcgc_snapshot_free(s);
    return 0;
}

/* Symbolizing fx->sym (frames of modules that do not exist: the tracer's
 * provider frames carry no module, C stack frames would name real ones)
 * gathers the frames, finds no file and resolves nothing. */
static int op_symbolize(struct fx *fx, int *ok)
{
    char err[256];
    rcgc_ssize n = rcgc_snapshot_symbolize(fx->sym, err, sizeof err);
    if (n < 0) {
        if (strstr(err, "out of memory") == NULL) *ok = 0;
        return (int)n;
    }
    *ok = n == 0;
    return 0;
}

/* Statistics (old == NULL) or a comparison, against the same call without
 * faults: the same groups in the same order with the same numbers. */
static rcgc_stat_key cur_key;
static int cur_cumulative;

static int same_stats(const rcgc_statistic *a, const rcgc_statistic *b, rcgc_ssize n)
{
    for (rcgc_ssize i = 0; i < n; i++) {
        const rcgc_traceback *x = a[i].traceback, *y = b[i].traceback;
        if (a[i].size != b[i].size || a[i].count != b[i].count ||
            a[i].size_diff != b[i].size_diff || a[i].count_diff != b[i].count_diff ||
            x->nframe != y->nframe)
            return 0;
        for (int k = 0; k < x->nframe; k++)
            if (!str_eq(x->frames[k].filename, y->frames[k].filename) ||
                x->frames[k].lineno != y->frames[k].lineno)
                return 0;
    }
    return 1;
}

static int stats_op(struct fx *fx, int *ok, int diff)
{
    rcgc_statistic *st = (rcgc_statistic *)1;
    rcgc_ssize n = diff ? rcgc_snapshot_compare(fx->cur, fx->old, cur_key, cur_cumulative, &st)
                        : rcgc_snapshot_statistics(fx->cur, cur_key, cur_cumulative, &st);
    if (n < 0) {
        if (st != NULL) *ok = 0;
        return (int)n;
    }
    mark_end();
    rcgc_statistic *ref = NULL;
    rcgc_ssize m = diff ? rcgc_snapshot_compare(fx->cur, fx->old, cur_key, cur_cumulative, &ref)
                        : rcgc_snapshot_statistics(fx->cur, cur_key, cur_cumulative, &ref);
    *ok = n == m && n > 1 && same_stats(st, ref, n);
    rcgc_statistics_free(ref);
    rcgc_statistics_free(st);
    return 0;
}

static int op_statistics(struct fx *fx, int *ok) { return stats_op(fx, ok, 0); }
static int op_compare(struct fx *fx, int *ok) { return stats_op(fx, ok, 1); }

/* rcgc-snapshot's reports (tools/snapshot_report.c, whose own small
 * buffers stay on the C library): the text is written only when the
 * statistics could be built, and then it is the text of a run without
 * faults. */
static report_format cur_format;

static char *report_text(struct fx *fx, int diff, int *code)
{
    report_options opt = {diff, cur_key, cur_cumulative, 0, cur_format,
                          {"old.snap", "new.snap"}};
    report r;
    *code = report_build(&r, &opt, fx->cur, diff ? fx->old : NULL);
    if (*code != 0) return NULL;
    FILE *f = tmpfile();
    if (f == NULL) {
        report_free(&r);
        return NULL;
    }
    int w = cur_format == REPORT_JSON ? report_write_json(&r, f) : report_write_text(&r, f);
    report_free(&r);
    long len = ftell(f);
    rewind(f);
    char *text = calloc(1, len > 0 ? (size_t)len + 1 : 1);
    if (w != 0 || text == NULL || fread(text, 1, (size_t)len, f) != (size_t)len) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

static int report_op(struct fx *fx, int *ok, int diff)
{
    int code;
    char *text = report_text(fx, diff, &code);
    if (code != 0) return code;
    mark_end();
    int rc;
    char *ref = report_text(fx, diff, &rc);
    *ok = text != NULL && ref != NULL && strcmp(text, ref) == 0 && strlen(text) > 100;
    free(text);
    free(ref);
    return 0;
}

static int op_report(struct fx *fx, int *ok) { return report_op(fx, ok, 0); }
static int op_report_diff(struct fx *fx, int *ok) { return report_op(fx, ok, 1); }

/* ---- the loops ---- */

/* Run op with the N-th allocation failing, N = 1, 2, ..., until a run
 * needs fewer; then with every allocation after the N-th failing, for
 * every N below what a clean run needs.  Returns the allocations a clean
 * run made. */
static long fault_loops(struct fx *fx, const char *name, op_fn op)
{
    long n, clean = 0;
    for (n = 1; n < MAX_N; n++) {
        fail_nth(n);
        long blocks = t_alloc_state.live_blocks, calls = t_alloc_state.calls;
        size_t bytes = t_alloc_state.live_bytes;
        int ok = 1;
        op_end = -1;
        int r = op(fx, &ok);
        long failures = t_alloc_state.failures;
        long used = (op_end >= 0 ? op_end : t_alloc_state.calls) - calls;
        no_faults();
        if (t_alloc_state.live_blocks != blocks || t_alloc_state.live_bytes != bytes)
            t_fail(__FILE__, __LINE__, "%s, allocation %ld failing: %ld blocks, "
                   "%zu bytes left", name, n, t_alloc_state.live_blocks - blocks,
                   t_alloc_state.live_bytes - bytes);
        if (!ok) t_fail(__FILE__, __LINE__, "%s, allocation %ld failing: wrong "
                        "result or message (code %d)", name, n, r);
        if (failures == 0) {
            if (r != 0) t_fail(__FILE__, __LINE__, "%s: code %d without a fault", name, r);
            clean = used;
            break;
        }
        if (r != 0 && r != RCGC_ENOMEM)
            t_fail(__FILE__, __LINE__, "%s, allocation %ld failing: code %d, "
                   "expected RCGC_ENOMEM", name, n, r);
    }
    if (n >= MAX_N) t_fail(__FILE__, __LINE__, "%s: no end to the N loop", name);
    if (n < 2) t_fail(__FILE__, __LINE__, "%s allocated nothing", name);
    for (long k = 0; k < n; k++) {
        fail_after(k);
        long blocks = t_alloc_state.live_blocks;
        size_t bytes = t_alloc_state.live_bytes;
        int ok = 1;
        int r = op(fx, &ok);
        long failures = t_alloc_state.failures;
        no_faults();
        if (t_alloc_state.live_blocks != blocks || t_alloc_state.live_bytes != bytes)
            t_fail(__FILE__, __LINE__, "%s, allocations after %ld failing: %ld "
                   "blocks left", name, k, t_alloc_state.live_blocks - blocks);
        if (!ok) t_fail(__FILE__, __LINE__, "%s, allocations after %ld failing: "
                        "wrong result or message (code %d)", name, k, r);
        if (failures > 0 && r != 0 && r != RCGC_ENOMEM)
            t_fail(__FILE__, __LINE__, "%s, allocations after %ld failing: code "
                   "%d", name, k, r);
        if (failures > 0 && r == 0 && k == 0)
            t_fail(__FILE__, __LINE__, "%s succeeded with every allocation failing", name);
    }
    return clean;
}

TEST(snapshot_take_dump_read_out_of_memory)
{
    struct fx fx;
    REQUIRE(fx_setup(&fx));
    long take = fault_loops(&fx, "take", op_take);
    long dump = fault_loops(&fx, "dump", op_dump);
    long read = fault_loops(&fx, "read", op_read);
    long bytes = fault_loops(&fx, "read_bytes", op_read_bytes);
    long filt = fault_loops(&fx, "filter", op_filter);
    long sym = fault_loops(&fx, "symbolize", op_symbolize);
    printf("    allocations: take %ld, dump %ld, read %ld, read_bytes %ld, "
           "filter %ld, symbolize %ld\n", take, dump, read, bytes, filt, sym);
    fx_teardown(&fx);
}

TEST(snapshot_statistics_out_of_memory)
{
    struct fx fx;
    REQUIRE(fx_setup(&fx));
    static const struct {
        rcgc_stat_key key;
        int cumulative;
        const char *name;
    } runs[] = {
        {RCGC_BY_LINENO, 0, "lineno"},     {RCGC_BY_FILENAME, 0, "filename"},
        {RCGC_BY_TRACEBACK, 0, "traceback"}, {RCGC_BY_LINENO, 1, "lineno cumulative"},
        {RCGC_BY_FILENAME, 1, "filename cumulative"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        cur_key = runs[i].key;
        cur_cumulative = runs[i].cumulative;
        char name[64];
        snprintf(name, sizeof name, "statistics %s", runs[i].name);
        long a = fault_loops(&fx, name, op_statistics);
        snprintf(name, sizeof name, "compare %s", runs[i].name);
        long b = fault_loops(&fx, name, op_compare);
        printf("    allocations: statistics %s %ld, compare %ld\n", runs[i].name, a, b);
    }
    fx_teardown(&fx);
}

TEST(snapshot_reports_out_of_memory)
{
    struct fx fx;
    REQUIRE(fx_setup(&fx));
    for (int format = 0; format < 2; format++) {
        cur_format = format ? REPORT_JSON : REPORT_TEXT;
        for (int cumulative = 0; cumulative < 2; cumulative++) {
            cur_key = RCGC_BY_LINENO;
            cur_cumulative = cumulative;
            long a = fault_loops(&fx, "report", op_report);
            long b = fault_loops(&fx, "report diff", op_report_diff);
            printf("    allocations: %s report%s %ld, diff %ld\n",
                   format ? "JSON" : "text", cumulative ? " --cumulative" : "", a, b);
        }
    }
    fx_teardown(&fx);
}

/* A snapshot and a statistics array are freed through the allocator they
 * came from, whatever the process allocator is by then. */
TEST(process_allocator_followed_by_each_snapshot)
{
    struct fx fx;
    REQUIRE(fx_setup(&fx));
    rcgc_snapshot *s = rcgc_snapshot_filter(fx.cur, NULL, 0);
    rcgc_statistic *st = NULL;
    REQUIRE(s != NULL);
    REQUIRE(rcgc_snapshot_statistics(fx.cur, RCGC_BY_LINENO, 0, &st) > 0);
    long blocks = t_alloc_state.live_blocks;
    CHECK_EQ(rcgc_process_allocator_set(NULL), 0); /* the C library from now on */
    rcgc_statistics_free(st);
    rcgc_snapshot_free(s);
    CHECK(t_alloc_state.live_blocks < blocks - 1); /* both went back to it */
    /* made now: from the C library, nothing counted */
    blocks = t_alloc_state.live_blocks;
    s = rcgc_snapshot_filter(fx.cur, NULL, 0);
    CHECK_EQ(t_alloc_state.live_blocks, blocks);
    rcgc_allocator a = t_allocator(&t_alloc_state);
    CHECK_EQ(rcgc_process_allocator_set(&a), 0);
    rcgc_snapshot_free(s);
    CHECK_EQ(t_alloc_state.live_blocks, blocks);
    /* an incomplete allocator is refused and changes nothing */
    rcgc_allocator half = a;
    half.realloc = NULL;
    CHECK_EQ(rcgc_process_allocator_set(&half), RCGC_EINVAL);
    rcgc_allocator now = rcgc_process_allocator_get();
    CHECK(now.ctx == a.ctx && now.malloc == a.malloc && now.realloc == a.realloc);
    fx_teardown(&fx);
}

TEST_MAIN(T(snapshot_take_dump_read_out_of_memory), T(snapshot_statistics_out_of_memory),
          T(snapshot_reports_out_of_memory), T(process_allocator_followed_by_each_snapshot))

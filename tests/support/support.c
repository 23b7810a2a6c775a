/*
 * support.c - the test harness, allocator and object types of test.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- harness ---- */

int t_failures;
const char *t_current;

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: %s: ", file, line, t_current ? t_current : "?");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    t_failures++;
}

/* The per-process option.  With --fork (or RCGC_TEST_FORK=1 in the
 * environment) every test runs in a child process of its own, forked from a
 * parent that runs no test, so each starts from the program's initial state.
 * The child ends with exit() (so a sanitizer's exit-time checks, such as
 * LeakSanitizer's, run for each test) and a status only the harness uses:
 * T_CHILD_PASS or T_CHILD_FAIL.  Anything else (a signal, abort(), a
 * sanitizer's report, a test that calls exit() itself) is that test's FAIL,
 * with the signal or status, and the next test still runs.
 *
 * Where it is used: the sanitizer builds set RCGC_TEST_FORK=1 for every test
 * program (tests/CMakeLists.txt), because there a finding ends the process,
 * and one heap error in one test would otherwise hide every later test of
 * its file in the same CI run; a fork per test costs little next to the
 * sanitizers themselves.  The plain builds run in one process, as a user
 * program does, so that state one test leaves behind (a mistake the fork
 * would hide) is still seen by the next; valgrind runs in one process too
 * (valgrind.sh keeps children silent, so it would miss their errors). */
#define T_CHILD_PASS 0
#define T_CHILD_FAIL 97

static int fork_wanted(int argc, char **argv)
{
    int on = 0;
    const char *env = getenv("RCGC_TEST_FORK");
    if (env != NULL && *env != 0 && strcmp(env, "0") != 0) on = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fork") == 0) on = 1;
        if (strcmp(argv[i], "--no-fork") == 0) on = 0;
    }
    return on;
}

/* Run one test in a child; 1 if it passed.  why receives the reason of a
 * failure that the child could not report itself. */
static int run_forked(const struct test_case *tc, char *why, size_t size)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, size, " (fork failed)");
        return 0;
    }
    if (pid == 0) {
        t_current = tc->name;
        t_failures = 0;
        tc->fn();
        exit(t_failures ? T_CHILD_FAIL : T_CHILD_PASS);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(why, size, " (waitpid failed)");
            return 0;
        }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = sig == SIGSEGV   ? "SIGSEGV"
                           : sig == SIGABRT ? "SIGABRT"
                           : sig == SIGBUS  ? "SIGBUS"
                           : sig == SIGFPE  ? "SIGFPE"
                           : sig == SIGILL  ? "SIGILL"
                           : sig == SIGKILL ? "SIGKILL"
                                            : "signal";
        snprintf(why, size, " (killed by signal %d, %s)", sig, name);
        return 0;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == T_CHILD_PASS) return 1;
    if (code != T_CHILD_FAIL)
        snprintf(why, size, " (exited with status %d before the test ended)",
                 code);
    return 0;
}

int t_run_all(const struct test_case *cases, size_t n, int argc, char **argv)
{
    int failed = 0, ran = 0, list = 0;
    const char *filter = NULL;
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else if (strcmp(argv[i], "--fork") == 0 ||
                 strcmp(argv[i], "--no-fork") == 0)
            ;
        else if (strncmp(argv[i], "--", 2) == 0 || filter != NULL) {
            fprintf(stderr, "usage: %s [--fork | --no-fork] [--list] [NAME]\n"
                    "  runs the tests whose name contains NAME (all by default);\n"
                    "  --fork or RCGC_TEST_FORK=1: each test in its own process\n",
                    argv[0]);
            return 2;
        } else
            filter = argv[i];
    }
    int forked = fork_wanted(argc, argv);
    for (size_t i = 0; i < n; i++) {
        if (filter != NULL && strstr(cases[i].name, filter) == NULL) continue;
        if (list) {
            printf("%s\n", cases[i].name);
            continue;
        }
        char why[96] = "";
        int pass;
        if (forked)
            pass = run_forked(&cases[i], why, sizeof why);
        else {
            t_current = cases[i].name;
            t_failures = 0;
            cases[i].fn();
            pass = t_failures == 0;
        }
        ran++;
        printf("%-4s %s%s\n", pass ? "ok" : "FAIL", cases[i].name, why);
        if (!pass) failed++;
    }
    if (list) return 0;
    printf("%d of %d tests passed%s\n", ran - failed, ran,
           forked ? " (each in its own process)" : "");
    return failed ? 1 : (ran ? 0 : 1);
}

long t_scale(long full)
{
    const char *s = getenv("RCGC_TEST_SCALE");
    long div = s ? atol(s) : 1;
    return div > 1 ? full / div : full;
}

int t_expect_death(void (*fn)(void *), void *arg, const char *const *needles)
{
    int fds[2];
    if (pipe(fds) != 0) return 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        fn(arg);
        _exit(0); /* survived: the caller reports it */
    }
    close(fds[1]);
    char buf[16384];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) {
        len += (size_t)r;
        if (len == sizeof buf - 1) break;
    }
    buf[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    int ok = WIFSIGNALED(status);
    for (const char *const *p = needles; *p != NULL; p++)
        if (strstr(buf, *p) == NULL) ok = 0;
    if (!ok)
        fprintf(stderr, "death test: status %d, stderr was:\n%s\n", status,
                buf);
    return ok;
}

/* ---- allocator: the library's fault-injection wrapper (rcgc_memfault,
 * src/memfault.c) over the C library.  Tests set absolute call numbers in
 * t_alloc (fail_at, fail_after); before each call they are turned into the
 * wrapper's settings, which count from now, and after it the wrapper's
 * counters are carried over (calls and failures as increments, since tests
 * may reset them). ---- */

t_alloc t_alloc_state;

static rcgc_memfault *fault_of(t_alloc *a)
{
    if (a->fault == NULL) {
        rcgc_allocator libc = rcgc_libc_allocator();
        a->fault = rcgc_memfault_new(&libc, NULL);
        if (a->fault == NULL) {
            fprintf(stderr, "test support: cannot create the fault wrapper\n");
            abort();
        }
    }
    return a->fault;
}

static rcgc_allocator before_call(t_alloc *a)
{
    rcgc_memfault *f = fault_of(a);
    rcgc_memfault_get_stats(f, &a->before);
    long calls = a->calls;
    rcgc_memfault_fail_at(f, a->fail_at > calls ? a->fail_at - calls : 0);
    rcgc_memfault_fail_after(f, a->fail_after == 0 ? -1
                                : a->fail_after > calls ? a->fail_after - calls : 0);
    return rcgc_memfault_allocator(f);
}

static void after_call(t_alloc *a)
{
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(a->fault, &st);
    a->calls += st.calls - a->before.calls;
    a->failures += st.failures - a->before.failures;
    a->live_blocks = (long)st.live_blocks;
    a->live_bytes = st.live_bytes;
}

static void *ta_malloc(void *ctx, size_t size)
{
    rcgc_allocator f = before_call(ctx);
    void *p = f.malloc(f.ctx, size);
    after_call(ctx);
    return p;
}

static void *ta_calloc(void *ctx, size_t nelem, size_t elsize)
{
    rcgc_allocator f = before_call(ctx);
    void *p = f.calloc(f.ctx, nelem, elsize);
    after_call(ctx);
    return p;
}

static void *ta_realloc(void *ctx, void *ptr, size_t size)
{
    rcgc_allocator f = before_call(ctx);
    void *p = f.realloc(f.ctx, ptr, size);
    after_call(ctx);
    return p;
}

static void ta_free(void *ctx, void *ptr)
{
    rcgc_allocator f = rcgc_memfault_allocator(fault_of(ctx));
    rcgc_memfault_get_stats(((t_alloc *)ctx)->fault, &((t_alloc *)ctx)->before);
    f.free(f.ctx, ptr);
    after_call(ctx);
}

rcgc_allocator t_allocator(t_alloc *state)
{
    rcgc_allocator al = {state, ta_malloc, ta_calloc, ta_realloc, ta_free};
    return al;
}

void t_alloc_release(t_alloc *state)
{
    if (state->fault != NULL) rcgc_memfault_destroy(state->fault);
    state->fault = NULL;
}

/* t_runtime_cfg and t_runtime_pool: pool 1 puts objects and buffers in the
 * pool allocator, with the counting allocator as its raw memory. */
static rcgc_runtime *runtime_on(const rcgc_config *cfg, int pool)
{
    rcgc_config c;
    if (cfg != NULL)
        c = *cfg;
    else {
        rcgc_config_init(&c);
        c.gc_enabled = 0;
        c.gc_policy = RCGC_POLICY_CPYTHON311; /* CPython's cadence */
    }
    t_alloc_release(&t_alloc_state);
    memset(&t_alloc_state, 0, sizeof t_alloc_state);
    /* pool (RCGC_TEST_POOL=1 for t_runtime_cfg): objects and buffers from
     * the pool allocator, the counting allocator its raw memory, so the
     * collector's tests run on pool objects with side bytes */
    if (pool && c.allocator.malloc == NULL)
        c.heap.raw = t_allocator(&t_alloc_state);
    else
        c.allocator = t_allocator(&t_alloc_state);
    rcgc_runtime *rt = rcgc_runtime_new(&c);
    if (rt == NULL) t_fail(__FILE__, __LINE__, "rcgc_runtime_new failed");
    return rt;
}

int t_pool_mode(void)
{
    const char *pool = getenv("RCGC_TEST_POOL");
    return pool != NULL && strcmp(pool, "1") == 0;
}

rcgc_runtime *t_runtime_cfg(const rcgc_config *cfg)
{
    return runtime_on(cfg, t_pool_mode());
}

rcgc_runtime *t_runtime_pool(const rcgc_config *cfg)
{
    return runtime_on(cfg, 1);
}

rcgc_runtime *t_runtime(void)
{
    return t_runtime_cfg(NULL);
}

void t_teardown(rcgc_runtime *rt)
{
    rcgc_teardown_report r;
    if (rcgc_check(rt) != 0) /* every invariant checker, while rt lives */
        t_fail(__FILE__, __LINE__, "teardown: rcgc_check failed (see above)");
    int rc = rcgc_runtime_free(rt, &r);
    if (rc != 0 || r.alive != 0 || r.uncollectable != 0)
        t_fail(__FILE__, __LINE__,
               "teardown: rc %d, %td alive, %td uncollectable, %td leaked", rc,
               r.alive, r.uncollectable, r.leaked);
    if (t_alloc_state.live_blocks != 0 || t_alloc_state.live_bytes != 0)
        t_fail(__FILE__, __LINE__, "teardown: %ld blocks, %zu bytes not freed",
               t_alloc_state.live_blocks, t_alloc_state.live_bytes);
    t_alloc_release(&t_alloc_state);
}

/*
 * test_platform.c - the platform seam (src/platform/os.h) against its
 * contract: the monotonic clock, page mapping and its alignment, the C
 * stack and module lookup, files (exclusive 0600 creation, reads, stat,
 * rename), running a helper (captured output, a missing program, a
 * non-zero exit, a signal, close-on-exec), random bytes, Unix sockets with
 * peer credentials, and the readiness set.
 *
 * The seam takes no memory from a runtime, so each test's teardown checks
 * what it could leak instead: every descriptor it opened is closed again
 * (the count of /proc/self/fd is the same as at the start).
 */
#define _GNU_SOURCE /* mkdtemp, symlink, nanosleep, umask */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "platform/os.h"

/* ---- fixtures ---- */

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    int n = 0;
    while (readdir(d) != NULL) n++;
    closedir(d);
    return n;
}

static int fds_at_start;
static char dir[64];

/* A fresh directory for the test's files; the descriptor count now. */
static void setup(void)
{
    fds_at_start = open_fds();
    snprintf(dir, sizeof dir, "/tmp/rcgc-platform-XXXXXX");
    if (mkdtemp(dir) == NULL) t_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
}

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Remove the test's directory and check that no descriptor leaked. */
static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    CHECK_EQ(open_fds(), fds_at_start);
}

static int fcntl_cloexec_set(int fd)
{
    int f = fcntl(fd, F_GETFD);
    return f >= 0 && (f & FD_CLOEXEC) != 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- clock and process ---- */

TEST(clock_is_monotonic)
{
    setup();
    uint64_t prev = rcgc__os_now_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = rcgc__os_now_ns();
        CHECK(now >= prev);
        if (now < prev) break;
        prev = now;
    }
    uint64_t t0 = rcgc__os_now_ns();
    sleep_ms(20);
    uint64_t d = rcgc__os_now_ns() - t0;
    CHECK(d >= 20000000u);        /* slept at least 20 ms */
    CHECK(d < 10000000000u);      /* and not 10 s */
    teardown();
}

/* The thread's CPU clock: never goes back, advances while the thread
 * works (the loop runs until it has, however loaded the machine), and
 * counts no more than the wall clock saw (one thread). */
TEST(thread_cpu_clock)
{
    setup();
    uint64_t w0 = rcgc__os_now_ns();
    uint64_t c0 = rcgc__os_thread_cpu_ns();
    REQUIRE(c0 > 0); /* Linux has the clock, and the thread ran already */
    uint64_t prev = c0, now = c0;
    volatile uint64_t sink = 0;
    for (long i = 0; now - c0 < 2000000u; i++) { /* 2 ms of CPU time */
        sink += (uint64_t)i * i;
        if (i % 1024 == 0) {
            now = rcgc__os_thread_cpu_ns();
            CHECK(now >= prev);
            if (now < prev) break;
            prev = now;
        }
    }
    uint64_t c1 = rcgc__os_thread_cpu_ns();
    uint64_t w1 = rcgc__os_now_ns();
    CHECK(c1 - c0 >= 2000000u);
    CHECK(c1 - c0 <= w1 - w0 + 1000000u); /* 1 ms for the clocks' steps */
    /* Sleeping takes wall time, hardly any CPU time. */
    uint64_t c2 = rcgc__os_thread_cpu_ns();
    sleep_ms(20);
    CHECK(rcgc__os_thread_cpu_ns() - c2 < 20000000u);
    (void)sink;
    teardown();
}

TEST(process_ids)
{
    setup();
    CHECK_EQ(rcgc__os_pid(), (long)getpid());
    CHECK_EQ(rcgc__os_euid(), (uint32_t)geteuid());
    teardown();
}

/* ---- pages ---- */

TEST(pages_map_aligned)
{
    setup();
    size_t page = rcgc__os_page_size();
    CHECK(page >= 4096 && (page & (page - 1)) == 0);
    CHECK(rcgc__os_pages_map(0, 0) == NULL);
    /* page-aligned, zeroed, writable */
    unsigned char *p = rcgc__os_pages_map(3 * page, 0);
    REQUIRE(p != NULL);
    CHECK_EQ((uintptr_t)p % page, 0);
    for (size_t i = 0; i < 3 * page; i += 512) CHECK_EQ(p[i], 0);
    memset(p, 0xAB, 3 * page);
    rcgc__os_pages_unmap(p, 3 * page);
    /* 1 MiB-aligned (the arenas), several times so that an unaligned
     * first answer and the trim path are exercised */
    size_t mib = (size_t)1 << 20;
    void *keep[8];
    for (int i = 0; i < 8; i++) {
        keep[i] = rcgc__os_pages_map(mib, mib);
        REQUIRE(keep[i] != NULL);
        CHECK_EQ((uintptr_t)keep[i] % mib, 0);
        memset(keep[i], i, mib);
    }
    /* an alignment larger than the size: 4 MiB */
    unsigned char *q = rcgc__os_pages_map(page, 4 * mib);
    REQUIRE(q != NULL);
    CHECK_EQ((uintptr_t)q % (4 * mib), 0);
    q[page - 1] = 1;
    rcgc__os_pages_unmap(q, page);
    for (int i = 0; i < 8; i++) {
        unsigned char *b = keep[i];
        CHECK(b[0] == i && b[mib - 1] == i);
        rcgc__os_pages_unmap(keep[i], mib);
    }
    rcgc__os_pages_unmap(NULL, mib); /* nothing */
    teardown();
}

TEST(pages_decommit_reads_zero)
{
    setup();
    size_t page = rcgc__os_page_size();
    unsigned char *p = rcgc__os_pages_map(4 * page, 0);
    REQUIRE(p != NULL);
    memset(p, 0x5A, 4 * page);
    rcgc__os_pages_decommit(p + page, 2 * page);
    CHECK_EQ(p[0], 0x5A);
    CHECK_EQ(p[page], 0);            /* still mapped, reads zero */
    CHECK_EQ(p[3 * page - 1], 0);
    CHECK_EQ(p[3 * page], 0x5A);
    p[page] = 7;                     /* and writable again */
    CHECK_EQ(p[page], 7);
    rcgc__os_pages_unmap(p, 4 * page);
    teardown();
}

/* ---- the stack and modules ---- */

__attribute__((noinline)) static int frames_here(void **pcs, int max)
{
    return rcgc__os_backtrace(pcs, max);
}

TEST(backtrace_and_modules)
{
    setup();
    void *pcs[64];
    int n = frames_here(pcs, 64);
    if (RCGC__OS_HAVE_BACKTRACE) {
        CHECK(n >= 2);
        CHECK(n <= 64);
        CHECK_EQ(rcgc__os_backtrace(pcs, 1), 1);
    } else {
        CHECK_EQ(n, 0);
    }
    CHECK_EQ(rcgc__os_backtrace(pcs, 0), 0);
    rcgc__os_module m;
    /* this program's own code */
    REQUIRE(rcgc__os_module_of((const void *)(uintptr_t)&open_fds, &m) == 1);
    CHECK(m.path != NULL && m.base != 0);
    CHECK((uintptr_t)&open_fds >= m.base);
    /* a function of the C library (div: sanitizers intercept strlen and
     * the like, whose address is then their runtime's) */
    REQUIRE(rcgc__os_module_of((const void *)(uintptr_t)&div, &m) == 1);
    CHECK(strstr(m.path, "libc") != NULL);
    /* nothing is loaded at address 16 */
    CHECK_EQ(rcgc__os_module_of((const void *)16, &m), 0);
    teardown();
}

/* ---- files ---- */

TEST(file_create_exclusive_0600)
{
    setup();
    char a[128], b[128], link[128];
    path_in(a, sizeof a, "a");
    path_in(b, sizeof b, "b");
    path_in(link, sizeof link, "link");
    mode_t old = umask(022);
    int fd = -1;
    REQUIRE(rcgc__os_file_create(a, &fd) == 0);
    rcgc__os_stat st;
    REQUIRE(rcgc__os_fstat(fd, &st) == 0);
    CHECK_EQ(st.kind, RCGC__OS_FILE_REGULAR);
    CHECK_EQ(st.perm, 0600);
    CHECK_EQ(st.uid, (uint32_t)geteuid());
    CHECK_EQ(st.size, 0);
    /* close-on-exec */
    CHECK(fcntl_cloexec_set(fd));
    CHECK_EQ(rcgc__os_write_all(fd, "hello\n", 6), 0);
    CHECK_EQ(rcgc__os_fsync(fd), 0);
    CHECK_EQ(rcgc__os_close(fd), 0);
    /* exclusive: an existing file, or a symbolic link (even dangling) */
    int fd2 = -1;
    CHECK_EQ(rcgc__os_file_create(a, &fd2), EEXIST);
    REQUIRE(symlink(b, link) == 0);
    CHECK_EQ(rcgc__os_file_create(link, &fd2), EEXIST);
    CHECK_EQ(rcgc__os_lstat(b, &st), ENOENT); /* the link was not followed */
    CHECK_EQ(rcgc__os_lstat(link, &st), 0);
    CHECK_EQ(st.kind, RCGC__OS_FILE_SYMLINK);
    /* the umask narrows the mode, never widens it */
    umask(077);
    REQUIRE(rcgc__os_file_create(b, &fd2) == 0);
    CHECK_EQ(rcgc__os_fstat(fd2, &st), 0);
    CHECK_EQ(st.perm, 0600);
    CHECK_EQ(rcgc__os_fd_chmod(fd2, 0640), 0);
    CHECK_EQ(rcgc__os_fstat(fd2, &st), 0);
    CHECK_EQ(st.perm, 0640);
    CHECK_EQ(rcgc__os_close(fd2), 0);
    umask(old);
    char missing[160];
    path_in(missing, sizeof missing, "no/such/dir/x");
    CHECK_EQ(rcgc__os_file_create(missing, &fd2), ENOENT);
    CHECK_EQ(rcgc__os_close(-1), 0);
    teardown();
}

TEST(file_read_stat_rename)
{
    setup();
    char a[128], b[128];
    path_in(a, sizeof a, "data");
    path_in(b, sizeof b, "renamed");
    int fd;
    REQUIRE(rcgc__os_file_create(a, &fd) == 0);
    char big[10000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
    CHECK_EQ(rcgc__os_write_all(fd, big, sizeof big), 0);
    CHECK_EQ(rcgc__os_close(fd), 0);
    CHECK_EQ(rcgc__os_rename(a, b), 0);
    rcgc__os_stat st;
    CHECK_EQ(rcgc__os_lstat(a, &st), ENOENT);
    REQUIRE(rcgc__os_lstat(b, &st) == 0);
    CHECK_EQ(st.kind, RCGC__OS_FILE_REGULAR);
    CHECK_EQ(st.size, sizeof big);
    REQUIRE(rcgc__os_file_open_read(b, &fd) == 0);
    rcgc__os_stat st2;
    CHECK_EQ(rcgc__os_fstat(fd, &st2), 0);
    CHECK(st2.dev == st.dev && st2.ino == st.ino);
    char back[sizeof big];
    size_t n = 0, got;
    do {
        got = 0;
        CHECK_EQ(rcgc__os_read(fd, back + n, sizeof back - n, &got), 0);
        n += got;
    } while (got > 0 && n < sizeof back);
    CHECK_EQ(n, sizeof big);
    CHECK(memcmp(back, big, sizeof big) == 0);
    CHECK_EQ(rcgc__os_read(fd, back, sizeof back, &got), 0);
    CHECK_EQ(got, 0); /* end of file */
    char four[4];
    CHECK_EQ(rcgc__os_pread_all(fd, four, 4, 26), 0);
    CHECK(memcmp(four, "abcd", 4) == 0);
    CHECK_EQ(rcgc__os_pread_all(fd, four, 4, sizeof big - 2), EIO); /* past the end */
    CHECK_EQ(rcgc__os_close(fd), 0);
    CHECK_EQ(rcgc__os_lstat(dir, &st), 0);
    CHECK_EQ(st.kind, RCGC__OS_FILE_DIRECTORY);
    CHECK_EQ(rcgc__os_file_open_read(a, &fd), ENOENT);
    CHECK_EQ(rcgc__os_unlink(b), 0);
    CHECK_EQ(rcgc__os_unlink(b), ENOENT);
    teardown();
}

/* Paths named by untrusted data: only regular files are opened, and a
 * FIFO never blocks (issue 20 items 2 and 3). */
TEST(file_open_regular_only)
{
    setup();
    char reg[128], fifo[128], link[128];
    path_in(reg, sizeof reg, "reg");
    path_in(fifo, sizeof fifo, "fifo");
    path_in(link, sizeof link, "link");
    int fd;
    REQUIRE(rcgc__os_file_create(reg, &fd) == 0);
    CHECK_EQ(rcgc__os_write_all(fd, "hello", 5), 0);
    CHECK_EQ(rcgc__os_close(fd), 0);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    REQUIRE(symlink(reg, link) == 0);
    rcgc__os_stat st, l;
    REQUIRE(rcgc__os_file_open_regular(reg, &fd, &st) == 0);
    CHECK_EQ(st.kind, RCGC__OS_FILE_REGULAR);
    CHECK_EQ(st.size, 5);
    CHECK(st.mtime_ns > 0);
    char buf[8];
    CHECK_EQ(rcgc__os_pread_all(fd, buf, 5, 0), 0);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(rcgc__os_close(fd), 0);
    REQUIRE(rcgc__os_lstat(reg, &l) == 0);
    CHECK(l.mtime_ns == st.mtime_ns && l.ino == st.ino);
    /* a symbolic link to a regular file is followed */
    REQUIRE(rcgc__os_file_open_regular(link, &fd, &st) == 0);
    CHECK(st.ino == l.ino);
    CHECK_EQ(rcgc__os_close(fd), 0);
    /* a FIFO without a writer: refused at once, never opened (open would
     * wait for a writer) */
    fd = -1;
    CHECK_EQ(rcgc__os_file_open_regular(fifo, &fd, &st), EINVAL);
    CHECK_EQ(fd, -1);
    CHECK_EQ(rcgc__os_file_open_regular("/dev/null", &fd, &st), EINVAL);
    CHECK_EQ(rcgc__os_file_open_regular(dir, &fd, &st), EISDIR);
    CHECK_EQ(rcgc__os_file_open_regular("/nonexistent/x", &fd, &st), ENOENT);
    CHECK_EQ(rcgc__os_unlink(link), 0);
    CHECK_EQ(rcgc__os_unlink(fifo), 0);
    CHECK_EQ(rcgc__os_unlink(reg), 0);
    teardown();
}

/* ---- running a helper ---- */

TEST(run_captures_output)
{
    setup();
    const char *argv[] = {"sh", "-c", "echo hello; echo to-stderr >&2", NULL};
    rcgc__os_run_result r;
    REQUIRE(rcgc__os_run(argv, RCGC__OS_RUN_STDIN_NULL | RCGC__OS_RUN_STDOUT_PIPE |
                                   RCGC__OS_RUN_STDERR_NULL, &r) == 0);
    CHECK_EQ(r.exec_error, 0);
    CHECK_EQ(r.status, 0);
    REQUIRE(r.out != NULL);
    CHECK_STR(r.out, "hello\n");
    CHECK_EQ(r.out_len, 6);
    free(r.out);
    /* more than a pipe holds: the parent reads while the helper writes */
    const char *big[] = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x", NULL};
    REQUIRE(rcgc__os_run(big, RCGC__OS_RUN_STDOUT_PIPE, &r) == 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.out_len, 300000);
    CHECK(r.out != NULL && r.out[0] == 'x' && r.out[299999] == 'x' &&
          r.out[300000] == '\0');
    free(r.out);
    /* stdin from /dev/null: cat ends at once */
    const char *cat[] = {"cat", NULL};
    REQUIRE(rcgc__os_run(cat, RCGC__OS_RUN_STDIN_NULL | RCGC__OS_RUN_STDOUT_PIPE, &r) == 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.out_len, 0);
    CHECK(r.out != NULL && r.out[0] == '\0');
    free(r.out);
    /* without capture: no buffer */
    const char *quiet[] = {"sh", "-c", "echo not-shown", NULL};
    REQUIRE(rcgc__os_run(quiet, RCGC__OS_RUN_STDOUT_NULL, &r) == 0);
    CHECK_EQ(r.status, 0);
    CHECK(r.out == NULL);
    teardown();
}

TEST(run_missing_program_and_failures)
{
    setup();
    rcgc__os_run_result r;
    const char *missing[] = {"rcgc-no-such-program-4711", "x", NULL};
    REQUIRE(rcgc__os_run(missing, RCGC__OS_RUN_STDOUT_PIPE | RCGC__OS_RUN_STDERR_NULL,
                         &r) == 0);
    CHECK_EQ(r.exec_error, ENOENT);
    CHECK_EQ(r.status, 127);
    free(r.out);
    const char *abs[] = {"/nonexistent/rcgc-helper", NULL};
    REQUIRE(rcgc__os_run(abs, 0, &r) == 0);
    CHECK_EQ(r.exec_error, ENOENT);
    /* a program that runs and fails: not an exec error */
    const char *three[] = {"sh", "-c", "echo partial; exit 3", NULL};
    REQUIRE(rcgc__os_run(three, RCGC__OS_RUN_STDOUT_PIPE, &r) == 0);
    CHECK_EQ(r.exec_error, 0);
    CHECK_EQ(r.status, 3);
    CHECK(r.out != NULL && strcmp(r.out, "partial\n") == 0);
    free(r.out);
    /* a program that exits 127 itself is not "missing" */
    const char *own127[] = {"sh", "-c", "exit 127", NULL};
    REQUIRE(rcgc__os_run(own127, 0, &r) == 0);
    CHECK_EQ(r.exec_error, 0);
    CHECK_EQ(r.status, 127);
    /* killed by a signal: 128 + its number */
    const char *killed[] = {"sh", "-c", "kill -9 $$", NULL};
    REQUIRE(rcgc__os_run(killed, 0, &r) == 0);
    CHECK_EQ(r.status, 128 + 9);
    /* bad arguments */
    const char *none[] = {NULL};
    CHECK_EQ(rcgc__os_run(none, 0, &r), EINVAL);
    CHECK_EQ(rcgc__os_run(NULL, 0, &r), EINVAL);
    CHECK_EQ(rcgc__os_run(three, RCGC__OS_RUN_STDOUT_PIPE | RCGC__OS_RUN_STDOUT_NULL,
                          &r), EINVAL);
    teardown();
}

TEST(run_keeps_descriptors_out)
{
    setup();
    if (access("/proc/self/fd", F_OK) != 0) {
        teardown();
        return; /* no /proc: nothing to look at */
    }
    /* a descriptor the seam opened is close-on-exec: the helper does not
     * have it */
    int fd;
    REQUIRE(rcgc__os_file_open_read("/dev/null", &fd) == 0);
    char script[96];
    snprintf(script, sizeof script, "test -e /proc/self/fd/%d && exit 1; exit 0", fd);
    const char *argv[] = {"sh", "-c", script, NULL};
    rcgc__os_run_result r;
    REQUIRE(rcgc__os_run(argv, 0, &r) == 0);
    CHECK_EQ(r.status, 0);
    /* the check itself can fail: a descriptor without close-on-exec is
     * seen */
    int plain = dup(fd); /* dup: not close-on-exec */
    REQUIRE(plain >= 0);
    snprintf(script, sizeof script, "test -e /proc/self/fd/%d && exit 1; exit 0", plain);
    REQUIRE(rcgc__os_run(argv, 0, &r) == 0);
    CHECK_EQ(r.status, 1);
    close(plain);
    CHECK_EQ(rcgc__os_close(fd), 0);
    teardown();
}

/* ---- random bytes ---- */

TEST(random_bytes)
{
    setup();
    unsigned char a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    CHECK_EQ(rcgc__os_random(a, sizeof a), 0);
    CHECK_EQ(rcgc__os_random(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0); /* 2^-256 to fail by chance */
    int zero = 0;
    for (size_t i = 0; i < sizeof a; i++) zero += a[i] == 0;
    CHECK(zero < 8);
    CHECK_EQ(rcgc__os_random(a, 0), 0);
    teardown();
}

/* ---- sockets and readiness ---- */

/* A listening socket at dir/name, registered in a new poller as id 7. */
static int listen_at(const char *name, char *path, size_t n, int *lfd, int *pfd)
{
    path_in(path, n, name);
    if (rcgc__os_unix_socket(lfd) != 0) return -1;
    if (rcgc__os_fd_chmod(*lfd, 0600) != 0 || rcgc__os_unix_bind(*lfd, path) != 0 ||
        rcgc__os_listen(*lfd, 4) != 0 || rcgc__os_poller_new(pfd) != 0)
        return -1;
    return rcgc__os_poller_add(*pfd, *lfd, RCGC__OS_EV_IN, 7) == 0 ? 0 : -1;
}

TEST(unix_socket_roundtrip)
{
    setup();
    char path[128];
    int lfd = -1, pfd = -1, cfd = -1, sfd = -1;
    REQUIRE(listen_at("sock", path, sizeof path, &lfd, &pfd) == 0);
    rcgc__os_stat st;
    REQUIRE(rcgc__os_lstat(path, &st) == 0);
    CHECK_EQ(st.kind, RCGC__OS_FILE_SOCKET);
    CHECK_EQ(st.perm & 077, 0); /* the bind's umask */
    /* nothing pending yet */
    rcgc__os_event ev[4];
    int n = -1;
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 4, 0, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(rcgc__os_accept(lfd, &sfd), EAGAIN);
    /* connect: the listener becomes readable with its id */
    REQUIRE(rcgc__os_unix_socket(&cfd) == 0);
    int e = rcgc__os_unix_connect(cfd, path);
    CHECK(e == 0 || e == EINPROGRESS || e == EAGAIN);
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 4, 2000, &n), 0);
    REQUIRE(n == 1);
    CHECK_EQ(ev[0].id, 7);
    CHECK(ev[0].events & RCGC__OS_EV_IN);
    REQUIRE(rcgc__os_accept(lfd, &sfd) == 0);
    uint32_t uid = 0;
    CHECK_EQ(rcgc__os_peer_uid(sfd, &uid), 0);
    CHECK_EQ(uid, (uint32_t)geteuid());
    /* a message through, with the readiness of the server's end */
    CHECK_EQ(rcgc__os_poller_add(pfd, sfd, RCGC__OS_EV_IN | RCGC__OS_EV_RDHUP, 3), 0);
    CHECK_EQ(rcgc__os_poller_add(pfd, sfd, RCGC__OS_EV_IN, 3), EEXIST);
    char buf[64];
    size_t got = 0, sent = 0;
    CHECK_EQ(rcgc__os_recv(sfd, buf, sizeof buf, &got), EAGAIN);
    CHECK_EQ(rcgc__os_send(cfd, "ping\n", 5, &sent), 0);
    CHECK_EQ(sent, 5);
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 4, 2000, &n), 0);
    REQUIRE(n == 1);
    CHECK_EQ(ev[0].id, 3);
    CHECK(ev[0].events & RCGC__OS_EV_IN);
    CHECK_EQ(rcgc__os_recv(sfd, buf, sizeof buf, &got), 0);
    CHECK_EQ(got, 5);
    CHECK(memcmp(buf, "ping\n", 5) == 0);
    /* interest changed to writable: reported at once */
    CHECK_EQ(rcgc__os_poller_mod(pfd, sfd, RCGC__OS_EV_OUT, 4), 0);
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 4, 2000, &n), 0);
    REQUIRE(n == 1);
    CHECK_EQ(ev[0].id, 4);
    CHECK(ev[0].events & RCGC__OS_EV_OUT);
    /* the client hangs up: end of stream, then no SIGPIPE on a send */
    CHECK_EQ(rcgc__os_poller_mod(pfd, sfd, RCGC__OS_EV_IN | RCGC__OS_EV_RDHUP, 5), 0);
    CHECK_EQ(rcgc__os_close(cfd), 0);
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 4, 2000, &n), 0);
    REQUIRE(n == 1);
    CHECK(ev[0].events & (RCGC__OS_EV_RDHUP | RCGC__OS_EV_HUP));
    CHECK_EQ(rcgc__os_recv(sfd, buf, sizeof buf, &got), 0);
    CHECK_EQ(got, 0);
    CHECK_EQ(rcgc__os_send(sfd, "x", 1, &sent), EPIPE);
    CHECK_EQ(rcgc__os_poller_del(pfd, sfd), 0);
    CHECK_EQ(rcgc__os_poller_del(pfd, sfd), ENOENT);
    CHECK_EQ(rcgc__os_close(sfd), 0);
    CHECK_EQ(rcgc__os_close(pfd), 0);
    CHECK_EQ(rcgc__os_close(lfd), 0);
    teardown();
}

TEST(unix_socket_errors)
{
    setup();
    char path[128];
    int lfd = -1, pfd = -1, fd = -1;
    REQUIRE(listen_at("s", path, sizeof path, &lfd, &pfd) == 0);
    /* the path is taken */
    REQUIRE(rcgc__os_unix_socket(&fd) == 0);
    CHECK_EQ(rcgc__os_unix_bind(fd, path), EADDRINUSE);
    CHECK_EQ(rcgc__os_close(fd), 0);
    /* a socket file nobody listens on any more: refused */
    CHECK_EQ(rcgc__os_close(lfd), 0);
    REQUIRE(rcgc__os_unix_socket(&fd) == 0);
    CHECK_EQ(rcgc__os_unix_connect(fd, path), ECONNREFUSED);
    CHECK_EQ(rcgc__os_close(fd), 0);
    /* too long a path */
    size_t max = rcgc__os_unix_path_max();
    CHECK(max >= 90 && max < 4096);
    char *longp = malloc(max + 2);
    REQUIRE(longp != NULL);
    memset(longp, 'a', max + 1);
    longp[0] = '/';
    longp[max + 1] = '\0';
    REQUIRE(rcgc__os_unix_socket(&fd) == 0);
    CHECK_EQ(rcgc__os_unix_bind(fd, longp), ENAMETOOLONG);
    CHECK_EQ(rcgc__os_unix_connect(fd, longp), ENAMETOOLONG);
    CHECK_EQ(rcgc__os_close(fd), 0);
    free(longp);
    /* a wait that times out */
    rcgc__os_event ev[2];
    int n = -1;
    uint64_t t0 = rcgc__os_now_ns();
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 2, 30, &n), 0);
    CHECK_EQ(n, 0);
    CHECK(rcgc__os_now_ns() - t0 >= 25000000u);
    CHECK_EQ(rcgc__os_poller_wait(pfd, ev, 0, 0, &n), EINVAL);
    CHECK_EQ(rcgc__os_close(pfd), 0);
    teardown();
}

TEST_MAIN(T(clock_is_monotonic), T(thread_cpu_clock), T(process_ids), T(pages_map_aligned),
          T(pages_decommit_reads_zero), T(backtrace_and_modules),
          T(file_create_exclusive_0600), T(file_open_regular_only), T(file_read_stat_rename),
          T(run_captures_output), T(run_missing_program_and_failures),
          T(run_keeps_descriptors_out), T(random_bytes), T(unix_socket_roundtrip),
          T(unix_socket_errors))

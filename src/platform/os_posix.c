/*
 * os_posix.c - the platform seam (os.h) on POSIX systems.  Linux-only
 * facilities sit here too, each in one function: epoll (the readiness
 * set), SO_PEERCRED (the peer's uid), getrandom (random bytes), accept4
 * and pipe2 (descriptors born close-on-exec).  A port to another system
 * replaces those functions (kqueue, getpeereid, getentropy) and nothing
 * above this file changes.
 *
 * Contract (os.h): 0 or a positive errno value; EINTR retried; every
 * descriptor close-on-exec.
 */
#define _GNU_SOURCE /* accept4, pipe2, SO_PEERCRED, struct ucred, dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "platform/os.h"

#if RCGC__OS_HAVE_BACKTRACE
#include <execinfo.h>
#endif

/* errno as a return value: never 0 after a failed call. */
static int err_of(void)
{
    return errno != 0 ? errno : EIO;
}

/* ---- clock ---- */

uint64_t rcgc__os_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t rcgc__os_thread_cpu_ns(void)
{
#if defined(CLOCK_THREAD_CPUTIME_ID)
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#else
    return 0;
#endif
}

/* ---- the process ---- */

long rcgc__os_pid(void)
{
    return (long)getpid();
}

uint32_t rcgc__os_euid(void)
{
    return (uint32_t)geteuid();
}

/* ---- pages ---- */

size_t rcgc__os_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

static void *map_anon(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *rcgc__os_pages_map(size_t size, size_t align)
{
    if (size == 0) return NULL;
    uint8_t *p = map_anon(size);
    if (p == NULL || align == 0 || ((uintptr_t)p & (align - 1)) == 0) return p;
    /* Not aligned: map size + align and trim both ends to the first
     * aligned start. */
    munmap(p, size);
    if (size > SIZE_MAX - align) return NULL;
    uint8_t *q = map_anon(size + align);
    if (q == NULL) return NULL;
    uint8_t *a = (uint8_t *)(((uintptr_t)q + align - 1) & ~(uintptr_t)(align - 1));
    if (a > q) munmap(q, (size_t)(a - q));
    if (a + size < q + size + align) munmap(a + size, (size_t)(q + align - a));
    return a;
}

void rcgc__os_pages_unmap(void *p, size_t size)
{
    if (p != NULL && size != 0) munmap(p, size);
}

void rcgc__os_pages_decommit(void *p, size_t size)
{
    if (p != NULL && size != 0) (void)madvise(p, size, MADV_DONTNEED);
}

/* ---- the call stack and loaded modules ---- */

int rcgc__os_backtrace(void **pcs, int max)
{
#if RCGC__OS_HAVE_BACKTRACE
    return max > 0 ? backtrace(pcs, max) : 0;
#else
    (void)pcs;
    (void)max;
    return 0;
#endif
}

int rcgc__os_module_of(const void *addr, rcgc__os_module *out)
{
    Dl_info info;
    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL) return 0;
    out->path = info.dli_fname;
    out->base = (uintptr_t)info.dli_fbase;
    out->symbol = info.dli_sname;
    return 1;
}

/* ---- files ---- */

static void stat_out(const struct stat *st, rcgc__os_stat *out)
{
    out->kind = S_ISREG(st->st_mode)    ? RCGC__OS_FILE_REGULAR
                : S_ISDIR(st->st_mode)  ? RCGC__OS_FILE_DIRECTORY
                : S_ISSOCK(st->st_mode) ? RCGC__OS_FILE_SOCKET
                : S_ISLNK(st->st_mode)  ? RCGC__OS_FILE_SYMLINK
                                        : RCGC__OS_FILE_OTHER;
    out->perm = (unsigned)(st->st_mode & 0777);
    out->uid = (uint32_t)st->st_uid;
    out->dev = (uint64_t)st->st_dev;
    out->ino = (uint64_t)st->st_ino;
    out->size = st->st_size > 0 ? (uint64_t)st->st_size : 0;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + (int64_t)st->st_mtim.tv_nsec;
}

int rcgc__os_lstat(const char *path, rcgc__os_stat *out)
{
    struct stat st;
    if (lstat(path, &st) != 0) return err_of();
    stat_out(&st, out);
    return 0;
}

int rcgc__os_fstat(int fd, rcgc__os_stat *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return err_of();
    stat_out(&st, out);
    return 0;
}

static int open_retry(const char *path, int flags, unsigned mode, int *fd)
{
    int r;
    do {
        r = open(path, flags, (mode_t)mode);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return err_of();
    *fd = r;
    return 0;
}

int rcgc__os_file_create(const char *path, int *fd)
{
    return open_retry(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600, fd);
}

int rcgc__os_file_stream(int fd, FILE **out)
{
    *out = fdopen(fd, "w");
    return *out != NULL ? 0 : err_of();
}

int rcgc__os_file_open_read(const char *path, int *fd)
{
    return open_retry(path, O_RDONLY | O_CLOEXEC, 0, fd);
}

int rcgc__os_file_open_regular(const char *path, int *fd, rcgc__os_stat *out)
{
    struct stat before;
    if (stat(path, &before) != 0) return err_of();
    if (S_ISDIR(before.st_mode)) return EISDIR;
    if (!S_ISREG(before.st_mode)) return EINVAL;
    int f;
    int e = open_retry(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0, &f);
    if (e != 0) return e;
    struct stat st;
    if (fstat(f, &st) != 0) e = err_of();
    else if (!S_ISREG(st.st_mode) || st.st_dev != before.st_dev ||
             st.st_ino != before.st_ino)
        e = EINVAL;
    if (e != 0) {
        close(f);
        return e;
    }
    stat_out(&st, out);
    *fd = f;
    return 0;
}

int rcgc__os_fd_chmod(int fd, unsigned mode)
{
    return fchmod(fd, (mode_t)(mode & 0777)) != 0 ? err_of() : 0;
}

int rcgc__os_write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    for (size_t off = 0; off < n;) {
        ssize_t k = write(fd, b + off, n - off);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return err_of();
        if (k == 0) return EIO;
        off += (size_t)k;
    }
    return 0;
}

int rcgc__os_read(int fd, void *p, size_t n, size_t *got)
{
    for (;;) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return err_of();
        *got = (size_t)k;
        return 0;
    }
}

int rcgc__os_pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *b = p;
    for (size_t done = 0; done < n;) {
        ssize_t k = pread(fd, b + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return err_of();
        if (k == 0) return EIO;
        done += (size_t)k;
    }
    return 0;
}

int rcgc__os_fsync(int fd)
{
    for (;;) {
        if (fsync(fd) == 0) return 0;
        if (errno != EINTR) return err_of();
    }
}

int rcgc__os_close(int fd)
{
    if (fd < 0) return 0;
    /* Linux releases the descriptor even when close fails (EINTR
     * included): retrying could close another thread's new one. */
    if (close(fd) == 0 || errno == EINTR) return 0;
    return err_of();
}

int rcgc__os_rename(const char *from, const char *to)
{
    return rename(from, to) != 0 ? err_of() : 0;
}

int rcgc__os_unlink(const char *path)
{
    return unlink(path) != 0 ? err_of() : 0;
}

/* ---- running a helper program ---- */

static int cloexec_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC) != 0 ? err_of() : 0;
}

/* The child, between fork and exec: only async-signal-safe calls. */
static void child_exec(const char *const argv[], unsigned flags, int out_w,
                       int err_w)
{
    int null = -1;
    if (flags & (RCGC__OS_RUN_STDIN_NULL | RCGC__OS_RUN_STDOUT_NULL |
                 RCGC__OS_RUN_STDERR_NULL))
        null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        if (flags & RCGC__OS_RUN_STDIN_NULL) dup2(null, 0);
        if (flags & RCGC__OS_RUN_STDOUT_NULL) dup2(null, 1);
        if (flags & RCGC__OS_RUN_STDERR_NULL) dup2(null, 2);
        if (null > 2) close(null);
    }
    if (out_w >= 0) dup2(out_w, 1); /* dup2 clears close-on-exec */
    execvp(argv[0], (char *const *)(uintptr_t)argv);
    int e = errno;
    ssize_t w = write(err_w, &e, sizeof e); /* exec failed: tell the parent */
    (void)w;
    _exit(127);
}

/* Everything until end of file on fd into a malloc'ed, NUL-terminated
 * buffer.  On ENOMEM the rest is drained, so the helper never blocks. */
static int read_all(int fd, char **out, size_t *len)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    int e = buf == NULL ? ENOMEM : 0;
    for (;;) {
        char junk[512];
        if (e == 0 && cap - n < 1024) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) e = ENOMEM;
            else buf = nb, cap *= 2;
        }
        size_t got = 0;
        int r = e == 0 ? rcgc__os_read(fd, buf + n, cap - n - 1, &got)
                       : rcgc__os_read(fd, junk, sizeof junk, &got);
        if (r != 0 || got == 0) break;
        if (e == 0) n += got;
    }
    if (e != 0) {
        free(buf);
        return e;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 0; /* reaped elsewhere (os.h) */
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 128;
}

int rcgc__os_run(const char *const argv[], unsigned flags,
                 rcgc__os_run_result *res)
{
    memset(res, 0, sizeof *res);
    int capture = (flags & RCGC__OS_RUN_STDOUT_PIPE) != 0;
    if (argv == NULL || argv[0] == NULL ||
        (capture && (flags & RCGC__OS_RUN_STDOUT_NULL)))
        return EINVAL;
    int errp[2] = {-1, -1}, outp[2] = {-1, -1};
    int e = cloexec_pipe(errp);
    if (e == 0 && capture) e = cloexec_pipe(outp);
    if (e != 0) goto fail;
    fflush(NULL); /* no buffered output written twice, nor out of order */
    pid_t pid = fork();
    if (pid < 0) {
        e = err_of();
        goto fail;
    }
    if (pid == 0) child_exec(argv, flags, outp[1], errp[1]);
    rcgc__os_close(errp[1]);
    rcgc__os_close(outp[1]);
    errp[1] = outp[1] = -1;
    /* The error pipe closes empty at a successful exec: read it first. */
    int exec_errno = 0;
    size_t got = 0;
    if (rcgc__os_read(errp[0], &exec_errno, sizeof exec_errno, &got) != 0 ||
        got != sizeof exec_errno)
        exec_errno = 0;
    if (capture) e = read_all(outp[0], &res->out, &res->out_len);
    res->status = wait_child(pid);
    res->exec_error = exec_errno;
    if (exec_errno != 0) res->status = 127;
fail:
    for (int i = 0; i < 2; i++) {
        rcgc__os_close(errp[i]);
        rcgc__os_close(outp[i]);
    }
    if (e != 0) {
        free(res->out);
        res->out = NULL;
        res->out_len = 0;
    }
    return e;
}

/* ---- random bytes ---- */

int rcgc__os_random(void *buf, size_t n)
{
    unsigned char *b = buf;
    for (size_t got = 0; got < n;) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? err_of() : EIO;
        got += (size_t)r;
    }
    return 0;
}

/* ---- local sockets ---- */

size_t rcgc__os_unix_path_max(void)
{
    struct sockaddr_un sa;
    return sizeof sa.sun_path - 1;
}

/* path into *sa, or ENAMETOOLONG. */
static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    size_t n = strlen(path);
    if (n > rcgc__os_unix_path_max()) return ENAMETOOLONG;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n + 1);
    return 0;
}

int rcgc__os_unix_socket(int *fd)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) return err_of();
    *fd = s;
    return 0;
}

int rcgc__os_unix_bind(int fd, const char *path)
{
    struct sockaddr_un sa;
    int e = unix_addr(path, &sa);
    if (e != 0) return e;
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    e = r != 0 ? err_of() : 0;
    umask(old);
    return e;
}

int rcgc__os_listen(int fd, int backlog)
{
    return listen(fd, backlog) != 0 ? err_of() : 0;
}

int rcgc__os_unix_connect(int fd, const char *path)
{
    struct sockaddr_un sa;
    int e = unix_addr(path, &sa);
    if (e != 0) return e;
    /* not retried on EINTR: the connection goes on in the background, and
     * a second connect would report EALREADY */
    return connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ? err_of() : 0;
}

int rcgc__os_accept(int lfd, int *fd)
{
    for (;;) {
        int s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (s >= 0) {
            *fd = s;
            return 0;
        }
        if (errno != EINTR) return err_of();
    }
}

int rcgc__os_peer_uid(int fd, uint32_t *uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return err_of();
    if (len != sizeof cred) return EPROTO;
    *uid = (uint32_t)cred.uid;
    return 0;
}

/* EAGAIN for EWOULDBLOCK too (they may differ). */
static int again(int e)
{
    return e == EWOULDBLOCK ? EAGAIN : e;
}

int rcgc__os_send(int fd, const void *p, size_t n, size_t *sent)
{
    for (;;) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            *sent = (size_t)w;
            return 0;
        }
        if (errno != EINTR) return again(err_of());
    }
}

int rcgc__os_recv(int fd, void *p, size_t n, size_t *got)
{
    for (;;) {
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r >= 0) {
            *got = (size_t)r;
            return 0;
        }
        if (errno != EINTR) return again(err_of());
    }
}

/* ---- readiness: epoll ---- */

static uint32_t to_epoll(unsigned ev)
{
    return (ev & RCGC__OS_EV_IN ? EPOLLIN : 0u) |
           (ev & RCGC__OS_EV_OUT ? EPOLLOUT : 0u) |
           (ev & RCGC__OS_EV_RDHUP ? EPOLLRDHUP : 0u) |
           (ev & RCGC__OS_EV_HUP ? EPOLLHUP : 0u) |
           (ev & RCGC__OS_EV_ERR ? EPOLLERR : 0u);
}

static unsigned from_epoll(uint32_t ev)
{
    return (ev & EPOLLIN ? RCGC__OS_EV_IN : 0u) |
           (ev & EPOLLOUT ? RCGC__OS_EV_OUT : 0u) |
           (ev & EPOLLRDHUP ? RCGC__OS_EV_RDHUP : 0u) |
           (ev & EPOLLHUP ? RCGC__OS_EV_HUP : 0u) |
           (ev & EPOLLERR ? RCGC__OS_EV_ERR : 0u);
}

int rcgc__os_poller_new(int *pfd)
{
    int p = epoll_create1(EPOLL_CLOEXEC);
    if (p < 0) return err_of();
    *pfd = p;
    return 0;
}

static int poller_ctl(int pfd, int op, int fd, unsigned events, uint32_t id)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = to_epoll(events);
    ev.data.u32 = id;
    return epoll_ctl(pfd, op, fd, &ev) != 0 ? err_of() : 0;
}

int rcgc__os_poller_add(int pfd, int fd, unsigned events, uint32_t id)
{
    return poller_ctl(pfd, EPOLL_CTL_ADD, fd, events, id);
}

int rcgc__os_poller_mod(int pfd, int fd, unsigned events, uint32_t id)
{
    return poller_ctl(pfd, EPOLL_CTL_MOD, fd, events, id);
}

int rcgc__os_poller_del(int pfd, int fd)
{
    return poller_ctl(pfd, EPOLL_CTL_DEL, fd, 0, 0);
}

int rcgc__os_poller_wait(int pfd, rcgc__os_event *ev, int max, int timeout_ms,
                         int *n)
{
    enum { BATCH = 64 };
    struct epoll_event raw[BATCH];
    if (max > BATCH) max = BATCH;
    *n = 0;
    if (max < 1) return EINVAL;
    int r = epoll_wait(pfd, raw, max, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : err_of();
    for (int i = 0; i < r; i++) {
        ev[i].events = from_epoll(raw[i].events);
        ev[i].id = raw[i].data.u32;
    }
    *n = r;
    return 0;
}

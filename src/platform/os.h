/*
 * os.h - the platform seam: every operating-system facility the library
 * uses, and nothing else (src/platform/README.md).  One implementation,
 * os_posix.c (POSIX, with the Linux-only parts - epoll, SO_PEERCRED,
 * getrandom - behind it).  No other file of the library calls the OS or
 * includes a system header beyond the C standard library's (and two that
 * only define things: <elf.h>, the sanitizers' interface);
 * check_os_calls.sh checks it.
 *
 * Conventions, for every function below unless its comment says otherwise:
 *
 *   - A fallible function returns 0 on success or a positive errno value
 *     (EAGAIN, ENOENT, ...) on failure, and leaves its out-parameters
 *     unspecified on failure.  errno itself is not part of the contract.
 *     The caller turns the value into the library's RCGC_E* code and, where
 *     it reports one, a message (strerror(e) names the OS's reason).
 *   - EINTR never escapes: an interrupted call is retried.
 *   - Every descriptor the seam creates is close-on-exec; socket
 *     descriptors are non-blocking.
 *   - No function allocates from the runtime's heap; the ones that return
 *     memory say which allocator it comes from.
 *   - Functions are safe to call from any thread unless noted; the seam
 *     keeps no state of its own.
 *
 * This header includes only the C standard library: a layer above may use
 * the seam without seeing a system header.
 */
#ifndef RCGC_PLATFORM_OS_H
#define RCGC_PLATFORM_OS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h> /* FILE, for rcgc__os_file_stream */

/* ---- clock ---- */

/* Nanoseconds on a monotonic clock (CLOCK_MONOTONIC): never goes back, not
 * set by the wall clock; its zero is arbitrary, so only differences mean
 * anything.  Cannot fail. */
uint64_t rcgc__os_now_ns(void);

/* Nanoseconds of CPU time the calling thread has used
 * (CLOCK_THREAD_CPUTIME_ID): user and system time together, not time spent
 * waiting for a core or for I/O.  Only differences taken on one thread
 * mean anything.  0 where the system has no per-thread CPU clock.  Cannot
 * fail.  A system call on Linux (some 0.1 to 0.5 us), not a vDSO read. */
uint64_t rcgc__os_thread_cpu_ns(void);

/* ---- the process ---- */

/* The calling process's id.  Cannot fail. */
long rcgc__os_pid(void);
/* The calling process's effective user id.  Cannot fail. */
uint32_t rcgc__os_euid(void);

/* ---- pages ---- */

/* The OS page size in bytes (a power of two).  Cannot fail. */
size_t rcgc__os_page_size(void);

/*
 * Map size bytes of fresh, zeroed, private read-write memory.
 *   size   > 0; rounded up to the page size by the OS.
 *   align  0 for page alignment, or a power of two that is a multiple of
 *          the page size: the start is then a multiple of align (the OS is
 *          asked for size + align bytes when its first answer is not
 *          aligned, and the excess is unmapped).
 * Returns the start, or NULL (out of address space or memory).  Release
 * with rcgc__os_pages_unmap(p, size).
 */
void *rcgc__os_pages_map(size_t size, size_t align);
/* Unmap [p, p + size) of a region rcgc__os_pages_map returned (a part of
 * one is allowed: whole pages).  p NULL or size 0: nothing. */
void rcgc__os_pages_unmap(void *p, size_t size);
/* Tell the OS that [p, p + size) (mapped by rcgc__os_pages_map) is not
 * needed for now: its physical pages may be reclaimed, and the next access
 * reads zeroes.  The range stays mapped.  Best effort: cannot fail. */
void rcgc__os_pages_decommit(void *p, size_t size);

/* ---- the call stack and loaded modules ---- */

/* 1 when rcgc__os_backtrace can capture the C stack on this platform. */
#if defined(__GLIBC__)
#define RCGC__OS_HAVE_BACKTRACE 1
#else
#define RCGC__OS_HAVE_BACKTRACE 0
#endif

/* Up to max return addresses of the calling thread's stack, innermost
 * first, into pcs (max >= 0).  Returns how many were stored (0 where
 * RCGC__OS_HAVE_BACKTRACE is 0).  glibc loads its unwinder, with malloc,
 * on the first call in a process; later calls do not allocate. */
int rcgc__os_backtrace(void **pcs, int max);

/* The loaded module (executable or shared object) an address is in. */
typedef struct rcgc__os_module {
    const char *path;      /* the module's file name as the loader has it */
    uintptr_t base;        /* its load address: offsets are from here */
    const char *symbol;    /* the nearest exported symbol, or NULL */
} rcgc__os_module;

/* 1 and *out filled when addr is inside a loaded module with a file name;
 * 0 otherwise.  The strings are the loader's: valid while the module stays
 * loaded.  Not async-signal-safe. */
int rcgc__os_module_of(const void *addr, rcgc__os_module *out);

/* ---- files ---- */

/* What the seam reports about a file. */
enum {
    RCGC__OS_FILE_REGULAR = 1,
    RCGC__OS_FILE_DIRECTORY,
    RCGC__OS_FILE_SOCKET,
    RCGC__OS_FILE_SYMLINK,
    RCGC__OS_FILE_OTHER
};
typedef struct rcgc__os_stat {
    int kind;              /* RCGC__OS_FILE_* */
    unsigned perm;         /* permission bits (0777) */
    uint32_t uid;          /* owner */
    uint64_t dev, ino;     /* identity: equal pairs are the same file */
    uint64_t size;         /* bytes (regular files) */
    int64_t mtime_ns;      /* last modification, ns since the epoch */
} rcgc__os_stat;

/* Facts about the file at path; a symbolic link is described itself, not
 * followed (lstat).  ENOENT when nothing is there. */
int rcgc__os_lstat(const char *path, rcgc__os_stat *out);
/* Facts about an open descriptor (fstat). */
int rcgc__os_fstat(int fd, rcgc__os_stat *out);

/* Create path as a new, empty regular file open for writing, with mode
 * 0600 minus the process umask, and store its descriptor in *fd.
 * Exclusive: EEXIST when anything (a symbolic link included) is already
 * at path.  Close with rcgc__os_close. */
int rcgc__os_file_create(const char *path, int *fd);
/* A stdio stream writing to fd (fdopen "w"), which then owns fd: fclose
 * closes both.  0 or the error (fd is then still open). */
int rcgc__os_file_stream(int fd, FILE **out);
/* Open an existing file for reading; its descriptor in *fd. */
int rcgc__os_file_open_read(const char *path, int *fd);
/*
 * Open path for reading only if it is a regular file, never blocking and
 * never opening anything else (a path named by untrusted data: a snapshot
 * file, a module named in one).  The path is checked first (stat, symbolic
 * links followed): a directory gives EISDIR, a FIFO, device or socket
 * EINVAL, and it is not opened.  The open is non-blocking (O_NONBLOCK,
 * O_NOCTTY: if the path is replaced by a FIFO between the check and the
 * open, the open does not wait for a writer), and the opened file is
 * checked again (fstat: a regular file, the same device and inode as
 * checked), else it is closed and EINVAL returned.  On success its
 * descriptor is in *fd (reads from a regular file are not affected by
 * O_NONBLOCK) and its facts in *st.  Close with rcgc__os_close.
 */
int rcgc__os_file_open_regular(const char *path, int *fd, rcgc__os_stat *st);
/* Set the permission bits of an open file or socket to mode (0777 bits). */
int rcgc__os_fd_chmod(int fd, unsigned mode);
/* Write all n bytes of p to fd, in as many writes as it takes (EIO when a
 * write makes no progress).  On failure some bytes may have been
 * written. */
int rcgc__os_write_all(int fd, const void *p, size_t n);
/* One read of at most n bytes into p; *got is 0 at the end of the file. */
int rcgc__os_read(int fd, void *p, size_t n, size_t *got);
/* Exactly n bytes at offset off into p: EIO when the file ends first. */
int rcgc__os_pread_all(int fd, void *p, size_t n, uint64_t off);
/* Flush the file's data and metadata to the storage device (fsync). */
int rcgc__os_fsync(int fd);
/* Close fd.  The descriptor is released even when an error is returned
 * (EIO: data written earlier may be lost); never retried.  fd < 0: 0. */
int rcgc__os_close(int fd);
/* Rename from to to, atomically replacing to (same file system). */
int rcgc__os_rename(const char *from, const char *to);
/* Remove the name path (not a directory). */
int rcgc__os_unlink(const char *path);

/* ---- running a helper program ---- */

/* Where a helper's standard streams go (rcgc__os_run flags). */
#define RCGC__OS_RUN_STDIN_NULL 0x1u   /* stdin from /dev/null */
#define RCGC__OS_RUN_STDOUT_NULL 0x2u  /* stdout to /dev/null */
#define RCGC__OS_RUN_STDOUT_PIPE 0x4u  /* stdout captured into res->out */
#define RCGC__OS_RUN_STDERR_NULL 0x8u  /* stderr to /dev/null */
/* Without a flag, a stream is the program's own (inherited). */

/* What happened to a helper. */
typedef struct rcgc__os_run_result {
    int exec_error;    /* != 0: the program could not be started (the errno
                          of exec: ENOENT when it is not installed); then
                          status is 127 */
    int status;        /* its exit status 0..255; 128 + the signal number
                          when a signal ended it; 0 when the status was
                          lost (SIGCHLD ignored, or a handler reaped the
                          child first): the output decides then */
    char *out;         /* RCGC__OS_RUN_STDOUT_PIPE: everything it wrote to
                          stdout, NUL-terminated (malloc: free() it), also
                          when it failed; NULL otherwise */
    size_t out_len;    /* bytes in out, NUL not counted */
} rcgc__os_run_result;

/*
 * Run the program argv[0] (looked up in PATH when it has no '/') with the
 * arguments argv[0..] (NULL-terminated), without a shell, and wait for it.
 * Standard streams as flags say (STDOUT_NULL and STDOUT_PIPE exclusive);
 * every other descriptor of the program stays out of it (close-on-exec).
 * The program's stdio buffers are flushed first (fflush(NULL)), so output
 * written before the call comes before the helper's.
 * Returns 0 when the helper was started or found missing, and *res says
 * which and how it ended; EINVAL for bad flags; otherwise the errno of
 * pipe or fork (nothing ran), or ENOMEM when a captured stdout did not
 * fit in memory (the helper ran; res->out is NULL).  Blocks until the
 * helper exits: not for a signal handler.
 */
int rcgc__os_run(const char *const argv[], unsigned flags,
                 rcgc__os_run_result *res);

/* ---- random bytes ---- */

/* n bytes from the OS's cryptographic random source (getrandom on Linux);
 * blocks only until the source is seeded at boot. */
int rcgc__os_random(void *buf, size_t n);

/* ---- local sockets ---- */

/* The longest path a Unix domain socket can be bound to, in bytes without
 * the NUL. */
size_t rcgc__os_unix_path_max(void);
/* A new Unix domain stream socket (non-blocking, close-on-exec) in *fd. */
int rcgc__os_unix_socket(int *fd);
/* Bind fd to path (length <= rcgc__os_unix_path_max(), else ENAMETOOLONG).
 * The socket file is created under a umask of 0177, so that it is never
 * more than 0600 (on Linux its mode is the socket's mode minus the umask:
 * narrow the socket with rcgc__os_fd_chmod first).  The umask is the
 * process's: a file another thread creates during the call gets it too.
 * EADDRINUSE when something is at path. */
int rcgc__os_unix_bind(int fd, const char *path);
/* Listen on a bound socket with a backlog of at most backlog connections. */
int rcgc__os_listen(int fd, int backlog);
/* Connect a non-blocking socket to path: 0 connected, EINPROGRESS or
 * EAGAIN when it will be, ECONNREFUSED when nothing listens there. */
int rcgc__os_unix_connect(int fd, const char *path);
/* Accept one pending connection on a listening socket: a non-blocking,
 * close-on-exec descriptor in *fd.  EAGAIN when none is pending; EMFILE,
 * ENFILE, ENOBUFS or ENOMEM when out of descriptors or memory (the
 * connection stays pending). */
int rcgc__os_accept(int lfd, int *fd);
/* The effective user id of the process at the other end of a connected
 * Unix domain socket (SO_PEERCRED on Linux), as it was when it connected. */
int rcgc__os_peer_uid(int fd, uint32_t *uid);
/* One non-blocking send of at most n bytes; *sent bytes went.  EAGAIN when
 * the socket buffer is full; EPIPE (never SIGPIPE) when the peer is
 * gone. */
int rcgc__os_send(int fd, const void *p, size_t n, size_t *sent);
/* One non-blocking receive of at most n bytes; *got is 0 when the peer
 * closed its end.  EAGAIN when nothing is there. */
int rcgc__os_recv(int fd, void *p, size_t n, size_t *got);

/* ---- readiness (epoll on Linux) ---- */

/* Event bits: interest (add, mod) and readiness (wait). */
#define RCGC__OS_EV_IN 0x01u    /* readable (or a connection is pending) */
#define RCGC__OS_EV_OUT 0x02u   /* writable */
#define RCGC__OS_EV_RDHUP 0x04u /* the peer closed its writing end */
#define RCGC__OS_EV_HUP 0x08u   /* hung up (reported without asking) */
#define RCGC__OS_EV_ERR 0x10u   /* an error is pending (same) */

typedef struct rcgc__os_event {
    unsigned events;   /* RCGC__OS_EV_* */
    uint32_t id;       /* what add or mod gave for the descriptor */
} rcgc__os_event;

/* A new readiness set in *pfd: itself a descriptor that polls readable
 * when one of its members is ready (so a program can put it in its own
 * loop).  Close with rcgc__os_close. */
int rcgc__os_poller_new(int *pfd);
/* Add fd to the set with interest events and a caller's id (EEXIST when it
 * is a member already). */
int rcgc__os_poller_add(int pfd, int fd, unsigned events, uint32_t id);
/* Change a member's interest and id. */
int rcgc__os_poller_mod(int pfd, int fd, unsigned events, uint32_t id);
/* Take fd out of the set (ENOENT when it is not a member). */
int rcgc__os_poller_del(int pfd, int fd);
/* Wait up to timeout_ms (-1: without limit, 0: do not wait) for members
 * to be ready; at most max (1..64) events into ev, their count in *n (0 on
 * time out).  An interrupted wait returns 0 with *n == 0 (not retried: the
 * caller's deadlines decide). */
int rcgc__os_poller_wait(int pfd, rcgc__os_event *ev, int max, int timeout_ms,
                         int *n);

#endif /* RCGC_PLATFORM_OS_H */

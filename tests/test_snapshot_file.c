/*
 * test_snapshot_file.c - the snapshot layer, part 2
 * (src/trace/snapshot_write.c, snapshot_read.c): dump and load round trips; every error the
 * loader reports (truncation at every byte, each field corrupted, bad
 * checksum, hostile counts, unknown version); a snapshot of the real tracer;
 * large snapshots.  Part 1 (statistics, compare, filters, text) is
 * test_snapshot.c.
 *
 * The expected values come from CPython 3.11's tracemalloc.py: the
 * create_snapshots() data of test_tracemalloc.py, and tables generated with
 * python3 from tracemalloc._format_size, Filter._match_frame and
 * Snapshot.statistics / compare_to on random snapshots (the generator is
 * described above each table).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "core/internal.h"
#include "trace/snapshot_internal.h"
#include "platform/os.h"
#include "snapshot_fixtures.h"

/* NEW (malloc): the file s dumps to. */
static unsigned char *dump_bytes(const rcgc_snapshot *s, size_t *len)
{
    char err[256];
    const char *path = scratch("bytes");
    if (rcgc_snapshot_dump(s, path, err, sizeof err) != 0) {
        t_fail(__FILE__, __LINE__, "dump: %s", err);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(1 << 20);
    *len = f && buf ? fread(buf, 1, 1 << 20, f) : 0;
    if (f) fclose(f);
    unlink(path);
    return buf;
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t v = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        v ^= p[i];
        for (int k = 0; k < 8; k++) v = v & 1 ? 0xEDB88320u ^ (v >> 1) : v >> 1;
    }
    return v ^ 0xFFFFFFFFu;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Recompute the trailer, so a corrupted field reaches the parser. */
static void fix_crc(unsigned char *p, size_t n)
{
    put32(p + n - 4, crc32_of(p, n - 4));
}

/* ---- files ---- */

/* A snapshot using every field: functions, modules, offsets, empty and
 * long tracebacks, non-ASCII names, domains, estimates. */
static rcgc_snapshot *varied(size_t sample)
{
    rcgc_snapshot *s = rcgc__snapshot_new(7, sample);
    rcgc_frame f[7] = {
        {"src/a.c", 12, "alloc_node", NULL, 0},
        {"<unknown>", 0, "dlsym_thing", "/lib/x86_64-linux-gnu/libc.so.6", 0x29d90},
        {"\xc3\xa9t\xc3\xa9.py", 4294967295u, NULL, NULL, 0},
        {"src/a.c", 40, "main", NULL, UINT64_MAX},
        {"b.c", 1, "f", "m", 1},
        {"", 0, "", "", 0},
        {"src/a.c", 12, "alloc_node", NULL, 0}};
    long t0 = rcgc__snapshot_add_traceback(s, f, 7, 70000);
    long t1 = rcgc__snapshot_add_traceback(s, f + 2, 1, 1);
    long t2 = rcgc__snapshot_add_traceback(s, NULL, 0, 0);
    long t3 = rcgc__snapshot_add_traceback(s, f + 1, 3, 3);
    (void)rcgc__snapshot_add_traceback(s, f + 4, 1, 1); /* unused */
    double e = sample ? 1.5 : 1;
    rcgc__snapshot_add_trace(s, 0, 48, t0, sample ? 1000.25 : 48, e);
    rcgc__snapshot_add_trace(s, 65535, ((size_t)1 << 48) - 1, t1,
                             (double)(((size_t)1 << 48) - 1), 1);
    rcgc__snapshot_add_trace(s, 2, 0, t2, 0, sample ? 0 : 1);
    rcgc__snapshot_add_trace(s, 1, 7, t3, 7, 1);
    rcgc__snapshot_add_trace(s, 0, 48, t0, sample ? 3e9 : 48, sample ? 1e-3 : 1);
    return s;
}

TEST(dump_load_round_trip)
{
    char err[256];
    for (int sampled = 0; sampled < 2; sampled++) {
        rcgc_snapshot *s = varied(sampled ? 512 : 0);
        char path[256]; /* scratch()'s buffer is reused by dump_bytes */
        snprintf(path, sizeof path, "%s", scratch("rt"));
        CHECK_EQ(rcgc_snapshot_dump(s, path, err, sizeof err), 0);
        rcgc_snapshot *l = rcgc_snapshot_load(path, err, sizeof err);
        REQUIRE(l != NULL);
        CHECK(snap_equal(s, l));
        CHECK_EQ(rcgc_snapshot_traceback_limit(l), 7);
        CHECK_EQ(rcgc_snapshot_sample_bytes(l), sampled ? 512 : 0);
        /* shared tracebacks stay shared; the unused one is dropped */
        CHECK(rcgc_snapshot_trace(l, 0)->traceback == rcgc_snapshot_trace(l, 4)->traceback);
        CHECK_EQ(l->ntb, 4);
        /* same statistics */
        rcgc_statistic *a, *b;
        rcgc_ssize na = rcgc_snapshot_statistics(s, RCGC_BY_LINENO, 1, &a);
        rcgc_ssize nb = rcgc_snapshot_statistics(l, RCGC_BY_LINENO, 1, &b);
        CHECK(na == nb && na > 0);
        for (rcgc_ssize i = 0; i < na && i < nb; i++) {
            char x[256], y[256];
            rcgc_statistic_format(&a[i], RCGC_BY_LINENO, 0, x, sizeof x);
            rcgc_statistic_format(&b[i], RCGC_BY_LINENO, 0, y, sizeof y);
            CHECK_STR(x, y);
        }
        rcgc_statistics_free(a);
        rcgc_statistics_free(b);
        /* dumping what was loaded gives the same bytes */
        size_t n1, n2;
        unsigned char *b1 = dump_bytes(s, &n1), *b2 = dump_bytes(l, &n2);
        CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
        rcgc_snapshot *m = rcgc_snapshot_load_bytes(b1, n1, err, sizeof err);
        CHECK(m != NULL && snap_equal(m, s));
        rcgc_snapshot_free(m);
        free(b1);
        free(b2);
        /* dump replaces an existing file, and leaves no temporary behind */
        rcgc_snapshot *e = rcgc__snapshot_new(1, 0);
        CHECK_EQ(rcgc_snapshot_dump(e, path, err, sizeof err), 0);
        rcgc_snapshot *le = rcgc_snapshot_load(path, err, sizeof err);
        CHECK(le != NULL && rcgc_snapshot_count(le) == 0);
        unlink(path);
        rcgc_snapshot_free(le);
        rcgc_snapshot_free(e);
        rcgc_snapshot_free(l);
        rcgc_snapshot_free(s);
    }
}

/* The smallest useful file: limit 3, one string "a.c", one traceback of
 * one frame (a.c:7), one trace (domain 1, 40 bytes).  Field offsets: */
enum {
    O_VERSION = 8, O_FLAGS = 12, O_BODY = 16, O_LIMIT = 24, O_SAMPLE = 28,
    O_NSTR = 36, O_STRLEN = 40, O_STR = 44, O_NTB = 47, O_NFRAME = 51,
    O_TOTAL = 55, O_FILE = 59, O_LINE = 63, O_FUNC = 67, O_MOD = 71,
    O_OFFSET = 75, O_NTRACE = 83, O_TB = 91, O_DOMAIN = 95, O_SIZE = 99,
    O_CRC = 107, SMALL_LEN = 111
};

static unsigned char *small_file(size_t *len)
{
    rcgc_snapshot *s = rcgc__snapshot_new(3, 0);
    add_spec(s, "1 40 1 a.c:7");
    unsigned char *b = dump_bytes(s, len);
    rcgc_snapshot_free(s);
    return b;
}

/* Load data with one field changed (checksum fixed unless keep_crc) and
 * check the message. */
static void check_corrupt(const unsigned char *good, size_t len, size_t at,
                          int width, uint64_t value, int keep_crc,
                          const char *want, int line)
{
    unsigned char buf[512];
    memcpy(buf, good, len);
    if (width == 1) buf[at] = (unsigned char)value;
    else if (width == 4) put32(buf + at, (uint32_t)value);
    else put64(buf + at, value);
    if (!keep_crc) fix_crc(buf, len);
    char err[256] = "";
    rcgc_snapshot *s = rcgc_snapshot_load_bytes(buf, len, err, sizeof err);
    if (s != NULL) {
        t_fail(__FILE__, line, "loaded; expected \"%s\"", want);
        rcgc_snapshot_free(s);
    } else if (strstr(err, want) == NULL) {
        t_fail(__FILE__, line, "error \"%s\", expected \"%s\"", err, want);
    }
}

#define CORRUPT(at, width, value, want)                                       \
    check_corrupt(good, len, (at), (width), (value), 0, (want), __LINE__)

TEST(load_small_file_layout)
{
    size_t len;
    unsigned char *good = small_file(&len);
    REQUIRE(good != NULL && len == SMALL_LEN);
    CHECK(memcmp(good, "RCGCSNAP", 8) == 0);
    CHECK_EQ(good[O_VERSION], 1);
    CHECK_EQ(good[O_BODY], O_CRC - 24);
    CHECK_EQ(good[O_LIMIT], 3);
    CHECK(memcmp(good + O_STR, "a.c", 3) == 0);
    CHECK_EQ(good[O_LINE], 7);
    CHECK_EQ(good[O_FUNC], 0xFF);
    CHECK_EQ(good[O_DOMAIN], 1);
    CHECK_EQ(good[O_SIZE], 40);
    char err[256];
    rcgc_snapshot *s = rcgc_snapshot_load_bytes(good, len, err, sizeof err);
    REQUIRE(s != NULL);
    CHECK_EQ(rcgc_snapshot_count(s), 1);
    CHECK_STR(rcgc_snapshot_trace(s, 0)->traceback->frames[0].filename, "a.c");
    rcgc_snapshot_free(s);
    free(good);
}

TEST(load_corrupt_fields)
{
    size_t len;
    unsigned char *good = small_file(&len);
    REQUIRE(good != NULL && len == SMALL_LEN);
    CORRUPT(0, 1, 'X', "offset 0: not an rcgc snapshot file");
    CORRUPT(O_VERSION, 4, 2, "offset 8: version 2 not supported (this build reads 1)");
    CORRUPT(O_VERSION, 4, 0, "offset 8: version 0 not supported");
    CORRUPT(O_FLAGS, 4, 6, "offset 12: unknown flags 0x6");
    CORRUPT(O_FLAGS, 4, 1, "offset 83: 1 traces need at least 32 bytes, 16 left");
    CORRUPT(O_BODY, 8, O_CRC - 24 + 1, "offset 16: truncated: the header announces 84 body bytes");
    CORRUPT(O_BODY, 8, UINT64_MAX, "offset 16: truncated");
    CORRUPT(O_BODY, 8, O_CRC - 24 - 2, "offset 109: 2 bytes of trailing garbage");
    CORRUPT(O_LIMIT, 4, 65536, "offset 24: traceback limit 65536 > 65535");
    CORRUPT(O_NSTR, 4, 0x40000000, "offset 36: 1073741824 strings need at least 4294967296 bytes, 67 left");
    CORRUPT(O_NSTR, 4, 0xFFFFFFFF, "offset 36: string count 4294967295 is reserved");
    /* no strings: the length 3 reads as the traceback count, "a.c\1" as
     * the first nframe */
    CORRUPT(O_NSTR, 4, 0, "offset 44: traceback 0: nframe 23277153 > 65535");
    CORRUPT(O_STRLEN, 4, 1000, "offset 40: string 0: length 1000 runs past the end of the body (63 bytes left)");
    CORRUPT(O_STR + 1, 1, 0, "offset 45: string 0 contains a NUL byte");
    CORRUPT(O_NTB, 4, 0xFFFFFFFF, "offset 47: 4294967295 tracebacks need at least 34359738360 bytes, 56 left");
    CORRUPT(O_NTB, 4, 0, "offset 51: 4294967297 traces need at least");
    CORRUPT(O_NFRAME, 4, 65536, "offset 51: traceback 0: nframe 65536 > 65535");
    CORRUPT(O_NFRAME, 4, 2, "offset 55: traceback 0: total_nframe 1 out of range (2..2147483647)");
    CORRUPT(O_TOTAL, 4, 0, "offset 55: traceback 0: total_nframe 0 out of range (1..");
    CORRUPT(O_TOTAL, 4, 0x80000000u, "total_nframe 2147483648 out of range");
    CORRUPT(O_FILE, 4, 5, "offset 59: traceback 0 frame 0: filename: string index 5 out of range (1 strings)");
    CORRUPT(O_FILE, 4, 0xFFFFFFFF, "offset 59: traceback 0 frame 0: filename: string index 4294967295 out of range");
    CORRUPT(O_FUNC, 4, 1, "offset 67: traceback 0 frame 0: function: string index 1 out of range (1 strings)");
    CORRUPT(O_MOD, 4, 99, "offset 71: traceback 0 frame 0: module: string index 99 out of range (1 strings)");
    CORRUPT(O_NTRACE, 8, (uint64_t)1 << 60, "offset 83: 1152921504606846976 traces need at least");
    /* the bytes needed, exactly, also past 2^64 (they printed as
     * 18446744073709551615, UINT64_MAX, once the product overflowed) */
    CORRUPT(O_NTRACE, 8, (uint64_t)1 << 60, "offset 83: 1152921504606846976 traces need at least 18446744073709551616 bytes, 16 left");
    CORRUPT(O_NTRACE, 8, UINT64_MAX, "offset 83: 18446744073709551615 traces need at least 295147905179352825840 bytes, 16 left");
    CORRUPT(O_NTRACE, 8, ((uint64_t)1 << 60) - 1, "offset 83: 1152921504606846975 traces need at least 18446744073709551600 bytes, 16 left");
    CORRUPT(O_NTRACE, 8, 10, "offset 83: 10 traces need at least 160 bytes, 16 left");
    CORRUPT(O_NTRACE, 8, 0, "offset 91: 16 unexpected bytes at the end of the body");
    CORRUPT(O_NTRACE, 8, 2, "offset 83: 2 traces need at least 32 bytes, 16 left");
    CORRUPT(O_TB, 4, 1, "offset 91: trace 0: traceback index 1 out of range (1 tracebacks)");
    CORRUPT(O_DOMAIN, 4, 65536, "offset 95: trace 0: domain 65536 > 65535");
    CORRUPT(O_SIZE, 8, (uint64_t)1 << 48, "offset 99: trace 0: size 281474976710656 does not fit in 48 bits");
    /* checksum: any byte changed without fixing it */
    check_corrupt(good, len, O_LINE, 1, 8, 1, "offset 107: checksum mismatch", __LINE__);
    check_corrupt(good, len, O_CRC, 1, good[O_CRC] ^ 1, 1, "checksum mismatch", __LINE__);
    /* every single flipped bit of a valid file is caught */
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            unsigned char buf[SMALL_LEN];
            memcpy(buf, good, len);
            buf[i] ^= (unsigned char)(1 << bit);
            char err[256] = "";
            rcgc_snapshot *s = rcgc_snapshot_load_bytes(buf, len, err, sizeof err);
            if (s != NULL || strncmp(err, "offset ", 7) != 0)
                t_fail(__FILE__, __LINE__, "bit %d of byte %zu: \"%s\"", bit, i, err);
            rcgc_snapshot_free(s);
        }
    free(good);
}

TEST(load_estimate_fields)
{
    rcgc_snapshot *s = rcgc__snapshot_new(3, 100);
    add_spec_est(s, "1 40 1 a.c:7", 60, 1.5);
    size_t len;
    unsigned char *good = dump_bytes(s, &len);
    REQUIRE(good != NULL && len == SMALL_LEN + 16);
    CHECK_EQ(good[O_FLAGS], 1);
    uint64_t nan_bits, neg_bits, inf_bits;
    double nan = NAN, neg = -1, inf = INFINITY;
    memcpy(&nan_bits, &nan, 8);
    memcpy(&neg_bits, &neg, 8);
    memcpy(&inf_bits, &inf, 8);
    CORRUPT(O_CRC, 8, nan_bits, "offset 107: trace 0: est_size nan is not a finite non-negative number");
    CORRUPT(O_CRC + 8, 8, neg_bits, "offset 115: trace 0: est_count -1 is not a finite non-negative number");
    CORRUPT(O_CRC, 8, inf_bits, "est_size inf is not");
    CORRUPT(O_FLAGS, 4, 0, "offset 107: 16 unexpected bytes at the end of the body");
    /* sampled snapshots cannot be dumped with bad estimates either */
    char err[256];
    rcgc_snapshot *b = rcgc__snapshot_new(3, 100);
    add_spec_est(b, "1 40 1 a.c:7", NAN, 1);
    CHECK_EQ(rcgc_snapshot_dump(b, scratch("bad"), err, sizeof err), RCGC_EINVAL);
    CHECK(strstr(err, "trace 0 cannot be stored") != NULL);
    CHECK(access(scratch("bad"), F_OK) != 0);
    rcgc_snapshot_free(b);
    rcgc_snapshot_free(s);
    free(good);
}

TEST(load_truncated_everywhere)
{
    rcgc_snapshot *s = varied(100);
    size_t len;
    unsigned char *good = dump_bytes(s, &len);
    REQUIRE(good != NULL);
    char err[256];
    for (size_t n = 0; n < len; n++) {
        /* a copy of just n bytes, so ASan sees any read past them */
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, good, n);
        err[0] = '\0';
        rcgc_snapshot *l = rcgc_snapshot_load_bytes(cut, n, err, sizeof err);
        if (l != NULL || strncmp(err, "offset ", 7) != 0)
            t_fail(__FILE__, __LINE__, "%zu of %zu bytes: \"%s\"", n, len, err);
        rcgc_snapshot_free(l);
        free(cut);
    }
    /* one byte more is trailing garbage */
    unsigned char *more = malloc(len + 1);
    memcpy(more, good, len);
    more[len] = 0;
    CHECK(rcgc_snapshot_load_bytes(more, len + 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "1 bytes of trailing garbage") != NULL);
    rcgc_snapshot *l = rcgc_snapshot_load_bytes(more, len, NULL, 0); /* no err */
    CHECK(l != NULL && snap_equal(l, s));
    rcgc_snapshot_free(l);
    CHECK(rcgc_snapshot_load_bytes(NULL, 0, err, sizeof err) == NULL);
    CHECK(strstr(err, "not an rcgc snapshot file") != NULL);
    /* a tiny error buffer is still a terminated string */
    char tiny[5];
    CHECK(rcgc_snapshot_load_bytes(good, 3, tiny, sizeof tiny) == NULL);
    CHECK_STR(tiny, "offs");
    free(more);
    free(good);
    rcgc_snapshot_free(s);
}

/* Corrupt random fields of valid files (checksum fixed): whatever loads
 * must be usable; nothing may crash or leak.  The seed is printed. */
TEST(load_random_corruption)
{
    unsigned seed = (unsigned)time(NULL);
    printf("  load_random_corruption: seed %u\n", seed);
    srand(seed);
    rcgc_snapshot *s = varied(0);
    size_t len;
    unsigned char *good = dump_bytes(s, &len);
    REQUIRE(good != NULL);
    unsigned char *buf = malloc(len);
    long loaded = 0;
    for (int iter = 0; iter < t_scale(20000); iter++) {
        memcpy(buf, good, len);
        int nchange = 1 + rand() % 3;
        for (int k = 0; k < nchange; k++) {
            size_t at = 24 + (size_t)rand() % (len - 28);
            buf[at] = (unsigned char)(rand() % 4 == 0 ? 0xFF : rand() % 256);
        }
        fix_crc(buf, len);
        char err[256];
        rcgc_snapshot *l = rcgc_snapshot_load_bytes(buf, len, err, sizeof err);
        if (l == NULL) continue;
        loaded++;
        rcgc_statistic *st;
        rcgc_ssize n = rcgc_snapshot_statistics(l, RCGC_BY_TRACEBACK, 0, &st);
        for (rcgc_ssize i = 0; i < n; i++)
            rcgc_statistic_format(&st[i], RCGC_BY_TRACEBACK, 0, err, sizeof err);
        rcgc_statistics_free(st);
        rcgc_snapshot_free(l);
    }
    CHECK(loaded > 0);
    free(buf);
    free(good);
    rcgc_snapshot_free(s);
}

TEST(load_and_dump_file_errors)
{
    char err[256];
    CHECK(rcgc_snapshot_load("/nonexistent/dir/x.snap", err, sizeof err) == NULL);
    CHECK_STR(err, "cannot open /nonexistent/dir/x.snap: No such file or directory");
    CHECK(rcgc_snapshot_load("/tmp", err, sizeof err) == NULL);
    CHECK(strstr(err, "Is a directory") != NULL);
    CHECK(rcgc_snapshot_load(NULL, err, sizeof err) == NULL);
    rcgc_snapshot *s = from_specs(raw1, 2);
    CHECK_EQ(rcgc_snapshot_dump(s, "/nonexistent/dir/x.snap", err, sizeof err),
             RCGC_EFAILED);
    CHECK(strstr(err, "/nonexistent/dir/x.snap") != NULL);
    CHECK(strstr(err, "No such file or directory") != NULL);
    CHECK_EQ(rcgc_snapshot_dump(NULL, "x", err, sizeof err), RCGC_EINVAL);
    /* a snapshot the format cannot hold: refused, and no file appears */
    rcgc_snapshot *big = rcgc__snapshot_new(70000, 0);
    CHECK_EQ(rcgc_snapshot_dump(big, scratch("big"), err, sizeof err), RCGC_EINVAL);
    CHECK(strstr(err, "traceback limit 70000") != NULL);
    rcgc_snapshot_free(big);
    rcgc_snapshot *dom = rcgc__snapshot_new(1, 0);
    add_spec(dom, "70000 1 1 a.c:1");
    CHECK_EQ(rcgc_snapshot_dump(dom, scratch("dom"), err, sizeof err), RCGC_EINVAL);
    CHECK(access(scratch("dom"), F_OK) != 0);
    rcgc_snapshot_free(dom);
    /* an empty file, and a file that is not a snapshot */
    const char *path = scratch("junk");
    FILE *f = fopen(path, "wb");
    fclose(f);
    CHECK(rcgc_snapshot_load(path, err, sizeof err) == NULL);
    CHECK(strstr(err, "offset 0: not an rcgc snapshot file") != NULL);
    unlink(path);
    rcgc_snapshot_free(s);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* rcgc_snapshot_read in a child process, which must finish within secs:
 * its code (a code fits in the exit status as its negation), or -1000
 * when it hung (killed) or crashed. */
static int read_in_child(const char *path, int secs, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0) return -1000;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm((unsigned)secs);
        rcgc_snapshot *s = NULL;
        char msg[256] = "";
        int code = rcgc_snapshot_read(path, &s, msg, sizeof msg);
        if (write(fds[1], msg, strlen(msg)) < 0) _exit(99);
        rcgc_snapshot_free(s);
        _exit(-code);
    }
    close(fds[1]);
    ssize_t n = pid > 0 ? read(fds[0], err, errlen - 1) : -1;
    err[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1000;
    return -WEXITSTATUS(status);
}

/* Issue 20 item 3: the reader opens only regular files (a FIFO hung it in
 * open(), /dev/zero was read forever), checks the header against the
 * file's size before reading the body, and reads the body only as far as
 * its counts allow (a 3 GB sparse file with the right magic: 21 s and
 * 3.1 GB before, at once with a few MB now). */
TEST(read_refuses_non_regular_and_huge_files)
{
    char err[256];
    const char *fifo = scratch("fifo");
    unlink(fifo);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    CHECK_EQ(read_in_child(fifo, 10, err, sizeof err), RCGC_EFAILED);
    CHECK(strstr(err, "not a regular file") != NULL);
    unlink(fifo);
    CHECK_EQ(read_in_child("/dev/zero", 10, err, sizeof err), RCGC_EFAILED);
    CHECK(strstr(err, "cannot open /dev/zero: not a regular file") != NULL);
    /* 3 GB, sparse: the right magic and version, then zeros */
    char path[256]; /* scratch()'s buffer is reused by dump_bytes */
    snprintf(path, sizeof path, "%s", scratch("sparse"));
    const uint64_t size = (uint64_t)3 << 30;
    for (int right_body = 0; right_body < 2; right_body++) {
        unsigned char h[24] = "RCGCSNAP";
        put32(h + 8, 1);
        put32(h + 12, 0);
        put64(h + 16, right_body ? size - 28 : 12345);
        FILE *f = fopen(path, "wb");
        REQUIRE(f != NULL);
        CHECK_EQ(fwrite(h, 1, sizeof h, f), sizeof h);
        fclose(f);
        if (truncate(path, (off_t)size) != 0) {
            printf("    no 3 GB sparse file here (%s): skipped\n", strerror(errno));
            unlink(path);
            return;
        }
        struct rusage before, after;
        getrusage(RUSAGE_SELF, &before);
        double t = mono_s();
        rcgc_snapshot *s = NULL;
        CHECK_EQ(rcgc_snapshot_read(path, &s, err, sizeof err), RCGC_EFORMAT);
        t = mono_s() - t;
        getrusage(RUSAGE_SELF, &after);
        CHECK(s == NULL);
        CHECK(strstr(err, right_body ? "offset 52: 3221225416 unexpected bytes "
                                       "at the end of the body"
                                     : "bytes of trailing garbage") != NULL);
        printf("    3 GB sparse file (body size %s): %.3f s, peak RSS +%ld KB: %s\n",
               right_body ? "right" : "wrong", t, after.ru_maxrss - before.ru_maxrss, err);
        /* memory, not time, is checked: tests never fail on timing */
        CHECK(after.ru_maxrss - before.ru_maxrss < 64 * 1024);
    }
    unlink(path);
    /* a valid file still loads, its checksum checked after the body */
    rcgc_snapshot *v = varied(0);
    REQUIRE(rcgc_snapshot_dump(v, path, err, sizeof err) == 0);
    rcgc_snapshot *l = NULL;
    CHECK_EQ(rcgc_snapshot_read(path, &l, err, sizeof err), 0);
    CHECK(l != NULL && snap_equal(l, v));
    rcgc_snapshot_free(l);
    size_t len;
    unsigned char *b = dump_bytes(v, &len);
    REQUIRE(b != NULL);
    b[len - 10] ^= 1; /* inside the last trace's size: still well-formed */
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    CHECK_EQ(fwrite(b, 1, len, f), len);
    fclose(f);
    CHECK_EQ(rcgc_snapshot_read(path, &l, err, sizeof err), RCGC_EFORMAT);
    CHECK(strstr(err, "checksum mismatch") != NULL);
    free(b);
    unlink(path);
    rcgc_snapshot_free(v);
}

/* The file reader (header first, body read as parsed, checksum last)
 * accepts exactly what the memory reader accepts: every truncation and
 * random corruptions (checksum fixed or not) of a file with estimates and
 * a module table. */
TEST(file_reader_agrees_with_memory_reader)
{
    rcgc_snapshot *v = varied(100);
    size_t len;
    unsigned char *good = dump_bytes(v, &len);
    REQUIRE(good != NULL);
    unsigned char *buf = malloc(len);
    REQUIRE(buf != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s", scratch("agree"));
    srand(20);
    long loaded = 0;
    for (int iter = 0; iter < (int)len + t_scale(2000); iter++) {
        memcpy(buf, good, len);
        size_t n = len;
        if (iter < (int)len) {
            n = (size_t)iter; /* every truncation */
        } else {
            for (int k = 0; k < 1 + rand() % 3; k++)
                buf[(size_t)rand() % len] = (unsigned char)rand();
            if (rand() % 2) fix_crc(buf, len);
        }
        char e1[256], e2[256];
        rcgc_snapshot *a = rcgc_snapshot_load_bytes(buf, n, e1, sizeof e1);
        FILE *f = fopen(path, "wb");
        REQUIRE(f != NULL);
        CHECK_EQ(fwrite(buf, 1, n, f), n);
        fclose(f);
        rcgc_snapshot *b = NULL;
        int code = rcgc_snapshot_read(path, &b, e2, sizeof e2);
        if ((a != NULL) != (code == 0) || (a != NULL && !snap_equal(a, b)) ||
            (a == NULL && strncmp(e2, "offset ", 7) != 0)) {
            t_fail(__FILE__, __LINE__, "iteration %d: memory \"%s\", file %d \"%s\"",
                   iter, a ? "" : e1, code, e2);
            rcgc_snapshot_free(a);
            rcgc_snapshot_free(b);
            break;
        }
        loaded += a != NULL;
        rcgc_snapshot_free(a);
        rcgc_snapshot_free(b);
    }
    CHECK(loaded > 0);
    unlink(path);
    free(buf);
    free(good);
    rcgc_snapshot_free(v);
}

/* ---- symbolizing: which module files are used (issue 20 item 2) ---- */

__attribute__((noinline)) int symbolize_target(int x);
__attribute__((noinline)) int symbolize_target(int x) { return x * 3 + 1; }

/* A snapshot of one trace whose one frame is module+offset. */
static rcgc_snapshot *module_frame(const char *module, uint64_t offset)
{
    rcgc_snapshot *s = rcgc__snapshot_new(1, 0);
    rcgc_frame f = {"<unknown>", 0, NULL, module, offset};
    long tb = rcgc__snapshot_add_traceback(s, &f, 1, 1);
    rcgc__snapshot_add_trace(s, 0, 8, tb, 8, 1);
    return s;
}

static const rcgc_frame *first_frame(const rcgc_snapshot *s)
{
    return &rcgc_snapshot_trace(s, 0)->traceback->frames[0];
}

/* rcgc_snapshot_symbolize of a one-frame snapshot naming module, in a child
 * that must finish within 10 s: its result (>= 0), or -1000 (hung). */
static int symbolize_in_child(const char *module)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        rcgc_snapshot *s = module_frame(module, 0x1234);
        char err[256];
        rcgc_ssize r = rcgc_snapshot_symbolize(s, err, sizeof err);
        rcgc_snapshot_free(s);
        _exit(r < 0 ? 100 : (int)r);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1000;
    return WEXITSTATUS(status);
}

TEST(symbolize_uses_only_recorded_modules)
{
    char err[512];
    /* a FIFO or a device named as a module is never opened: no hang */
    const char *fifo = scratch("modfifo");
    unlink(fifo);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    CHECK_EQ(symbolize_in_child(fifo), 0);
    unlink(fifo);
    CHECK_EQ(symbolize_in_child("/dev/zero"), 0);

    rcgc__os_module m;
    uintptr_t fn = (uintptr_t)&symbolize_target;
    REQUIRE(rcgc__os_module_of((const void *)fn, &m) == 1);
    uint64_t off = fn - m.base + 1; /* a "return address" inside it */
    /* a snapshot of this process: the file at the path is used */
    rcgc_snapshot *s = module_frame(m.path, off);
    rcgc_ssize r = rcgc_snapshot_symbolize(s, err, sizeof err);
    if (r == RCGC_EFAILED && strstr(err, "not found") != NULL) {
        printf("    %s: skipped\n", err);
        rcgc_snapshot_free(s);
        return;
    }
    CHECK_EQ(r, 1);
    CHECK_STR(err, "");
    CHECK(first_frame(s)->function != NULL &&
          strcmp(first_frame(s)->function, "symbolize_target") == 0);
    rcgc_snapshot_free(s);

    /* dumped by this process, read back: the file recorded its identity,
     * which still matches */
    s = module_frame(m.path, off);
    size_t len;
    unsigned char *b = dump_bytes(s, &len);
    REQUIRE(b != NULL && len > 64);
    CHECK_EQ(b[12], 2); /* FLAG_MODULES */
    rcgc_snapshot *l = rcgc_snapshot_load_bytes(b, len, err, sizeof err);
    REQUIRE(l != NULL);
    CHECK_EQ(rcgc_snapshot_symbolize(l, err, sizeof err), 1);
    CHECK_STR(err, "");
    rcgc_snapshot_free(l);
    /* ... and survives a filter and another dump */
    l = rcgc_snapshot_load_bytes(b, len, err, sizeof err);
    REQUIRE(l != NULL);
    rcgc_snapshot *kept = rcgc_snapshot_filter(l, NULL, 0);
    REQUIRE(kept != NULL);
    size_t len2;
    unsigned char *b2 = dump_bytes(kept, &len2);
    CHECK(b2 != NULL && len2 == len && memcmp(b, b2, len) == 0);
    free(b2);
    CHECK_EQ(rcgc_snapshot_symbolize(kept, err, sizeof err), 1);
    rcgc_snapshot_free(kept);
    rcgc_snapshot_free(l);

    /* the recorded identity differs (another machine, a rebuilt module:
     * here its mtime, the last field before the checksum): left as
     * module+offset, and said so; RCGC_SYMBOLIZE_ANY_MODULE uses it */
    b[len - 4 - 8] ^= 1;
    fix_crc(b, len);
    l = rcgc_snapshot_load_bytes(b, len, err, sizeof err);
    REQUIRE(l != NULL);
    CHECK_EQ(rcgc_snapshot_symbolize(l, err, sizeof err), 0);
    CHECK(strstr(err, "1 module left as module+offset: not the file this "
                      "snapshot recorded") != NULL);
    CHECK(first_frame(l)->lineno == 0 && first_frame(l)->function == NULL);
    CHECK_EQ(rcgc_snapshot_symbolize_modules(l, 2, err, sizeof err), RCGC_EINVAL);
    CHECK_EQ(rcgc_snapshot_symbolize_modules(l, RCGC_SYMBOLIZE_ANY_MODULE, err,
                                             sizeof err), 1);
    CHECK_STR(err, "");
    rcgc_snapshot_free(l);

    /* a file without the module table (flag bit 1 clear, the 40 bytes of
     * the table gone): nothing recorded, nothing used */
    unsigned char *c = malloc(len);
    REQUIRE(c != NULL);
    memcpy(c, b, len - 44);
    c[12] = 0;
    put64(c + 16, len - 44 - 24);
    fix_crc(c, len - 40);
    l = rcgc_snapshot_load_bytes(c, len - 40, err, sizeof err);
    REQUIRE(l != NULL);
    CHECK_EQ(rcgc_snapshot_symbolize(l, err, sizeof err), 0);
    CHECK(strstr(err, "1 module left as module+offset") != NULL);
    rcgc_snapshot_free(l);
    /* a module record naming a string that is not there */
    put32(b + len - 4 - 36, 99);
    fix_crc(b, len);
    CHECK(rcgc_snapshot_load_bytes(b, len, err, sizeof err) == NULL);
    CHECK(strstr(err, "module 0: string index 99 out of range") != NULL);
    free(c);
    free(b);
    rcgc_snapshot_free(s);
}

/* ---- the real tracer ---- */

/* RCGC_DEBUG >= 2 keeps freed objects in a quarantine a while. */
#define OBJECTS_FREED_AT_ONCE (RCGC_DEBUG < 2)

TEST(snapshot_of_the_tracer)
{
    rcgc_runtime *rt = t_runtime();
    rcgc_trace_config cfg;
    rcgc_trace_config_init(&cfg);
    cfg.nframes = 3;
    REQUIRE(rcgc_trace_start(rt, &cfg) == 0);
    rcgc_object *small[10];
    const unsigned line_small = __LINE__ + 1;
    for (int i = 0; i < 10; i++) small[i] = RCGC_NEW(rt, &t_leaf_type);
    const unsigned line_big = __LINE__ + 1;
    rcgc_object *big = RCGC_NEW_SIZED(rt, &t_leaf_type, t_leaf_type.size + 4000);
    rcgc_snapshot *s1 = rcgc_snapshot_take(rt);
    REQUIRE(s1 != NULL);
    CHECK_EQ(rcgc_snapshot_traceback_limit(s1), 3);
    /* only this file's allocations */
    rcgc_trace_filter mine = {1, "*test_snapshot_file.c", -1, 0, -1};
    rcgc_snapshot *m1 = rcgc_snapshot_filter(s1, &mine, 1);
    rcgc_statistic *st;
    REQUIRE(rcgc_snapshot_statistics(m1, RCGC_BY_LINENO, 0, &st) == 2);
    CHECK_EQ(st[0].traceback->frames[0].lineno, line_big);
    CHECK_EQ(st[0].count, 1);
    CHECK(st[0].size > 4000);
    CHECK_EQ(st[1].traceback->frames[0].lineno, line_small);
    CHECK_EQ(st[1].count, 10);
    CHECK_STR(st[1].traceback->frames[0].function, "snapshot_of_the_tracer");
    char buf[256], want[64];
    rcgc_statistic_format(&st[1], RCGC_BY_LINENO, 0, buf, sizeof buf);
    snprintf(want, sizeof want, "test_snapshot_file.c:%u: size=", line_small);
    CHECK(strstr(buf, want) != NULL && strstr(buf, "count=10, average=") != NULL);
    rcgc_statistics_free(st);
    /* the line filter keeps exactly the ten */
    rcgc_trace_filter line = {1, "*test_snapshot_file.c", (long)line_small, 0, -1};
    rcgc_snapshot *m2 = rcgc_snapshot_filter(s1, &line, 1);
    CHECK_EQ(rcgc_snapshot_count(m2), 10);
    /* through a file and back */
    char err[256];
    const char *path = scratch("tracer");
    CHECK_EQ(rcgc_snapshot_dump(s1, path, err, sizeof err), 0);
    rcgc_snapshot *l = rcgc_snapshot_load(path, err, sizeof err);
    CHECK(l != NULL && snap_equal(l, s1));
    unlink(path);
    /* free the ten: the compare shows them gone */
    for (int i = 0; i < 10; i++) rcgc_decref(rt, small[i]);
    rcgc_snapshot *s2 = rcgc_snapshot_take(rt);
    rcgc_snapshot *m3 = rcgc_snapshot_filter(s2, &mine, 1);
    rcgc_ssize n = rcgc_snapshot_compare(m3, m1, RCGC_BY_LINENO, 0, &st);
    REQUIRE(n == 2);
    if (OBJECTS_FREED_AT_ONCE) {
        CHECK_EQ(st[0].traceback->frames[0].lineno, line_small);
        CHECK_EQ(st[0].count, 0);
        CHECK_EQ(st[0].count_diff, -10);
        CHECK_EQ(st[1].size_diff, 0);
    }
    rcgc_statistics_free(st);
    rcgc_decref(rt, big);
    rcgc_snapshot *snaps[] = {s1, m1, m2, l, s2, m3};
    for (size_t i = 0; i < sizeof snaps / sizeof snaps[0]; i++) rcgc_snapshot_free(snaps[i]);
    rcgc_trace_stop(rt);
    t_teardown(rt);
}

/* ---- scale ---- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* n traces over ntb distinct 3-frame tracebacks of 50 files (the 10^6
 * timings of docs/tracer.md: RCGC_SNAPSHOT_TRACES=1000000). */
static rcgc_snapshot *large(long n, long ntb, unsigned salt)
{
    rcgc_snapshot *s = rcgc__snapshot_new(3, 0);
    long *tbs = malloc((size_t)ntb * sizeof *tbs);
    char names[50][32];
    for (int i = 0; i < 50; i++) snprintf(names[i], sizeof names[i], "src/module_%02d.c", i);
    for (long i = 0; i < ntb; i++) {
        rcgc_frame f[3] = {{names[i % 50], (unsigned)(i % 97 + i / 1000 * 100), "fn", NULL, 0},
                           {names[(i * 7) % 50], (unsigned)(i % 13), "caller", NULL, 0},
                           {names[0], 1, "main", NULL, 0}};
        tbs[i] = rcgc__snapshot_add_traceback(s, f, 3, 3 + (int)(i % 5));
    }
    uint32_t r = 12345 + salt;
    for (long i = 0; i < n; i++) {
        r = r * 1103515245u + 12345u;
        size_t size = 16 + (r >> 20) % 512;
        rcgc__snapshot_add_trace(s, r % 3, size, tbs[(i * 7919 + (r >> 8)) % ntb],
                                 (double)size, 1);
    }
    free(tbs);
    return s;
}

static double timed_stats(const rcgc_snapshot *s, const rcgc_snapshot *old,
                          rcgc_stat_key key, int cumulative, long n, long *nkeys)
{
    rcgc_statistic *st;
    double t = now();
    rcgc_ssize m = old ? rcgc_snapshot_compare(s, old, key, cumulative, &st)
                       : rcgc_snapshot_statistics(s, key, cumulative, &st);
    t = now() - t;
    CHECK(m > 0);
    double total = 0;
    for (rcgc_ssize i = 0; i < m; i++) total += st[i].count;
    if (!cumulative && !old) CHECK_EQ(total, n);
    rcgc_statistics_free(st);
    *nkeys = (long)m;
    return t;
}

static void large_run(long n, long ntb)
{
    static const char *const names[] = {"traceback", "filename", "lineno"};
    rcgc_snapshot *a = large(n, ntb, 0), *b = large(n, ntb, 1);
    long keys;
    printf("  %ld traces, %ld tracebacks:\n", n, ntb);
    for (int k = 0; k < 3; k++) {
        double t = timed_stats(a, NULL, (rcgc_stat_key)k, 0, n, &keys);
        printf("    statistics by %-9s %.3f s (%ld keys)\n", names[k], t, keys);
    }
    double t = timed_stats(a, NULL, RCGC_BY_LINENO, 1, n, &keys);
    printf("    cumulative by lineno   %.3f s (%ld keys)\n", t, keys);
    t = timed_stats(b, a, RCGC_BY_TRACEBACK, 0, n, &keys);
    printf("    compare by traceback   %.3f s (%ld keys)\n", t, keys);
    t = timed_stats(b, a, RCGC_BY_LINENO, 0, n, &keys);
    printf("    compare by lineno      %.3f s (%ld keys)\n", t, keys);
    rcgc_trace_filter f = {1, "src/module_1*", -1, 0, -1};
    t = now();
    rcgc_snapshot *g = rcgc_snapshot_filter(a, &f, 1);
    printf("    filter                 %.3f s (%ld kept)\n", now() - t,
           (long)rcgc_snapshot_count(g));
    rcgc_snapshot_free(g);
    char err[256];
    const char *path = scratch("large");
    t = now();
    CHECK_EQ(rcgc_snapshot_dump(a, path, err, sizeof err), 0);
    double dump_s = now() - t;
    struct stat sb;
    stat(path, &sb);
    t = now();
    rcgc_snapshot *l = rcgc_snapshot_load(path, err, sizeof err);
    printf("    dump %.3f s, load %.3f s, file %lld bytes\n", dump_s, now() - t,
           (long long)sb.st_size);
    CHECK(l != NULL && snap_equal(l, a));
    unlink(path);
    rcgc_snapshot_free(l);
    rcgc_snapshot_free(a);
    rcgc_snapshot_free(b);
}

TEST(large_snapshots)
{
    const char *env = getenv("RCGC_SNAPSHOT_TRACES");
    long n = env ? atol(env) : t_scale(200000);
    large_run(n, 1000); /* typical: few distinct stacks */
    large_run(n, n);    /* worst: every trace its own stack */
}

TEST_MAIN(T(dump_load_round_trip), T(load_small_file_layout),
          T(load_corrupt_fields), T(load_estimate_fields),
          T(load_truncated_everywhere), T(load_random_corruption),
          T(load_and_dump_file_errors), T(read_refuses_non_regular_and_huge_files),
          T(file_reader_agrees_with_memory_reader),
          T(symbolize_uses_only_recorded_modules), T(snapshot_of_the_tracer),
          T(large_snapshots))

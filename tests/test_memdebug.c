/*
 * test_memdebug.c - the debug allocator (src/mem/memdebug.c): CPython's block
 * layout and fill patterns, and every corruption case detected and reported
 * with CPython's dump text: overflow by one, underflow, a damaged size field,
 * double free (with and without quarantine), writes to freed memory, free
 * through the wrong domain, realloc of a damaged block, the whole-heap check,
 * the traceback hook and the default (fatal) report.
 *
 * A recording report hook lets each case run without dying; every test
 * repairs what it broke, frees everything and checks that no block is left
 * in the debug layer or below it.
 */
#include "test.h"
#include "rcgc_mem.h"

/* ---- a recording report hook ---- */

#define MAXREP 8

typedef struct record {
    int n;
    rcgc_memdebug_kind kind[MAXREP];
    const void *ptr[MAXREP];
    size_t size[MAXREP];
    char api[MAXREP];
    char func[MAXREP][48];
    char msg[MAXREP][160];
    char text[MAXREP][4096];
} record;

static void rec_hook(void *ctx, const rcgc_memdebug_report *r)
{
    record *rec = ctx;
    if (rec->n >= MAXREP) return;
    int i = rec->n++;
    rec->kind[i] = r->kind;
    rec->ptr[i] = r->ptr;
    rec->size[i] = r->size;
    rec->api[i] = r->api;
    snprintf(rec->func[i], sizeof rec->func[i], "%s", r->func);
    snprintf(rec->msg[i], sizeof rec->msg[i], "%s", r->message);
    snprintf(rec->text[i], sizeof rec->text[i], "%s", r->text);
}

/* The pool allocator below, a debug layer on top, one wrap 'o'. */
typedef struct fixture {
    rcgc_pymalloc *pm;
    rcgc_memdebug *md;
    rcgc_allocator o; /* the wrapped hooks */
    record rec;
} fixture;

static void setup(fixture *f, size_t quarantine)
{
    memset(f, 0, sizeof *f);
    f->pm = rcgc_pymalloc_new(NULL);
    rcgc_memdebug_config cfg;
    rcgc_memdebug_config_init(&cfg);
    cfg.report = rec_hook;
    cfg.report_ctx = &f->rec;
    cfg.quarantine = quarantine;
    f->md = rcgc_memdebug_new(&cfg);
    rcgc_allocator base = rcgc_pymalloc_allocator(f->pm);
    if (f->md != NULL) (void)rcgc_memdebug_wrap(f->md, 'o', &base, &f->o);
}

static void teardown(fixture *f)
{
    CHECK_EQ(rcgc_memdebug_live_blocks(f->md), 0);
    CHECK_EQ(rcgc_memdebug_live_bytes(f->md), 0);
    CHECK_EQ(rcgc_memdebug_destroy(f->md), 0);
    CHECK_EQ(rcgc_pymalloc_allocated_blocks(f->pm), 0);
    CHECK_EQ(rcgc_pymalloc_check(f->pm, stderr), 0);
    CHECK_EQ(rcgc_pymalloc_destroy(f->pm), 0);
}

static unsigned char *dmalloc(fixture *f, size_t n)
{
    return f->o.malloc(f->o.ctx, n);
}

static void dfree(fixture *f, void *p)
{
    f->o.free(f->o.ctx, p);
}

/* The trailer lines of a dump without a tracer. */
#define NO_TRACER "\nEnable the tracer to get the memory block allocation traceback\n\n"

/* ---- layout ---- */

TEST(layout_of_a_block)
{
    fixture f;
    setup(&f, 1);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10);
    REQUIRE(p != NULL);
    CHECK_EQ((uintptr_t)p % 16, 0);
    /* CPython 3.11 on PyMem_Malloc(10), with API 'o' */
    static const unsigned char head[16] = {0, 0, 0, 0, 0, 0, 0, 0x0a, 'o', 0xfd,
                                           0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd};
    CHECK(memcmp(p - 16, head, 16) == 0);
    int ok = 1;
    for (int i = 0; i < 10; i++) ok &= p[i] == 0xcd;
    for (int i = 10; i < 18; i++) ok &= p[i] == 0xfd;
    CHECK(ok);
    CHECK_EQ(rcgc_memdebug_live_blocks(f.md), 1);
    CHECK_EQ(rcgc_memdebug_live_bytes(f.md), 10);
    dfree(&f, p);
    /* quarantined, so still readable: everything is DEADBYTE */
    ok = 1;
    for (int i = -16; i < 18; i++) ok &= p[i] == 0xdd;
    CHECK(ok);
    rcgc_memdebug_flush(f.md);
    CHECK_EQ(f.rec.n, 0);
    teardown(&f);
}

TEST(calloc_realloc_fill)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = f.o.calloc(f.o.ctx, 4, 4);
    REQUIRE(p != NULL);
    int ok = 1;
    for (int i = 0; i < 16; i++) ok &= p[i] == 0;
    CHECK(ok && p[-9] == 0x10 && p[16] == 0xfd);
    p = f.o.realloc(f.o.ctx, p, 40); /* growth: CLEANBYTE */
    REQUIRE(p != NULL);
    ok = 1;
    for (int i = 0; i < 16; i++) ok &= p[i] == 0;
    for (int i = 16; i < 40; i++) ok &= p[i] == 0xcd;
    for (int i = 40; i < 48; i++) ok &= p[i] == 0xfd;
    CHECK(ok && p[-9] == 40 && p[-8] == 'o');
    p = f.o.realloc(f.o.ctx, p, 8);
    REQUIRE(p != NULL);
    CHECK(p[0] == 0 && p[7] == 0 && p[8] == 0xfd && p[-9] == 8);
    CHECK(f.o.calloc(f.o.ctx, SIZE_MAX / 2, 4) == NULL);
    CHECK(f.o.malloc(f.o.ctx, SIZE_MAX - 8) == NULL);
    dfree(&f, p);
    dfree(&f, NULL);
    CHECK_EQ(f.rec.n, 0);
    teardown(&f);
}

/* CPython's realloc saves 64 bytes from each end of a large block. */
TEST(realloc_large_blocks_keep_data)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 1000);
    REQUIRE(p != NULL);
    for (int i = 0; i < 1000; i++) p[i] = (unsigned char)(i * 7);
    p = f.o.realloc(f.o.ctx, p, 3000);
    REQUIRE(p != NULL);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= p[i] == (unsigned char)(i * 7);
    for (int i = 1000; i < 3000; i++) ok &= p[i] == 0xcd;
    CHECK(ok);
    p = f.o.realloc(f.o.ctx, p, 100);
    REQUIRE(p != NULL);
    ok = 1;
    for (int i = 0; i < 100; i++) ok &= p[i] == (unsigned char)(i * 7);
    CHECK(ok && p[100] == 0xfd);
    unsigned char *q = f.o.realloc(f.o.ctx, NULL, 5); /* NULL: malloc */
    REQUIRE(q != NULL);
    CHECK(q[4] == 0xcd);
    dfree(&f, p);
    dfree(&f, q);
    CHECK_EQ(f.rec.n, 0);
    teardown(&f);
}

/* ---- corruption, detected on free ---- */

TEST(overflow_by_one)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10);
    REQUIRE(p != NULL);
    p[10] = 'A';
    dfree(&f, p);
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_BAD_TRAILING_PAD);
    CHECK_STR(f.rec.func[0], "rcgc_memdebug_free");
    CHECK_STR(f.rec.msg[0], "bad trailing pad byte");
    CHECK(f.rec.ptr[0] == p);
    CHECK_EQ(f.rec.size[0], 10);
    CHECK_EQ(f.rec.api[0], 'o');
    char want[2048];
    snprintf(want, sizeof want,
             "Debug memory block at address p=%p: API 'o'\n"
             "    10 bytes originally requested\n"
             "    The 7 pad bytes at p-7 are FORBIDDENBYTE, as expected.\n"
             "    The 8 pad bytes at tail=%p are not all FORBIDDENBYTE (0xfd):\n"
             "        at tail+0: 0x41 *** OUCH\n"
             "        at tail+1: 0xfd\n"
             "        at tail+2: 0xfd\n"
             "        at tail+3: 0xfd\n"
             "        at tail+4: 0xfd\n"
             "        at tail+5: 0xfd\n"
             "        at tail+6: 0xfd\n"
             "        at tail+7: 0xfd\n"
             "    Data at p: cd cd cd cd cd cd cd cd cd cd\n" NO_TRACER,
             (void *)p, (void *)(p + 10));
    CHECK_STR(f.rec.text[0], want);
    /* the free was not done; repaired, the block frees normally */
    CHECK_EQ(rcgc_memdebug_live_blocks(f.md), 1);
    p[10] = 0xfd;
    dfree(&f, p);
    CHECK_EQ(f.rec.n, 1);
    teardown(&f);
}

TEST(underflow)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 24);
    REQUIRE(p != NULL);
    memset(p, 'x', 24);
    p[-1] = 'B';
    dfree(&f, p);
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_BAD_LEADING_PAD);
    CHECK_STR(f.rec.msg[0], "bad leading pad byte");
    char want[2048];
    snprintf(want, sizeof want,
             "Debug memory block at address p=%p: API 'o'\n"
             "    24 bytes originally requested\n"
             "    The 7 pad bytes at p-7 are not all FORBIDDENBYTE (0xfd):\n"
             "        at p-7: 0xfd\n"
             "        at p-6: 0xfd\n"
             "        at p-5: 0xfd\n"
             "        at p-4: 0xfd\n"
             "        at p-3: 0xfd\n"
             "        at p-2: 0xfd\n"
             "        at p-1: 0x42 *** OUCH\n"
             "    Because memory is corrupted at the start, the count of bytes "
             "requested\n"
             "       may be bogus, and checking the trailing pad bytes may "
             "segfault.\n"
             "    The 8 pad bytes at tail=%p are FORBIDDENBYTE, as expected.\n"
             "    Data at p: 78 78 78 78 78 78 78 78 ... 78 78 78 78 78 78 78 78\n"
             NO_TRACER,
             (void *)p, (void *)(p + 24));
    CHECK_STR(f.rec.text[0], want);
    p[-1] = 0xfd;
    dfree(&f, p);
    CHECK_EQ(f.rec.n, 1);
    teardown(&f);
}

TEST(damaged_size_field)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10);
    REQUIRE(p != NULL);
    p[-9] = 0xff; /* low byte of the size: 255 */
    dfree(&f, p);
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_BAD_SIZE);
    CHECK_STR(f.rec.msg[0], "bad size field");
    CHECK(strstr(f.rec.text[0], "    255 bytes originally requested\n") != NULL);
    CHECK(strstr(f.rec.text[0], "    The allocator recorded 10 bytes: the size "
                                "field is damaged; the tail is read there.\n") != NULL);
    CHECK(strstr(f.rec.text[0], "are FORBIDDENBYTE, as expected.\n    Data at p:") != NULL);
    p[-9] = 10;
    dfree(&f, p);
    CHECK_EQ(f.rec.n, 1);
    teardown(&f);
}

TEST(double_free)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10);
    dfree(&f, p);
    dfree(&f, p); /* the memory is not read: ASan would say so */
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_NOT_ALLOCATED);
    CHECK_STR(f.rec.msg[0], "pointer not allocated by this allocator, or already freed");
    char want[512];
    snprintf(want, sizeof want,
             "Debug memory block at address p=%p: not a live block of this "
             "debug allocator; its memory is not read.\n" NO_TRACER, (void *)p);
    CHECK_STR(f.rec.text[0], want);
    /* a pointer that never was a block, realloc included */
    int local;
    dfree(&f, &local);
    CHECK(f.o.realloc(f.o.ctx, &local, 8) == NULL);
    CHECK_EQ(f.rec.n, 3);
    CHECK_STR(f.rec.func[2], "rcgc_memdebug_realloc");
    teardown(&f);
}

TEST(double_free_quarantined)
{
    fixture f;
    setup(&f, 4);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10);
    dfree(&f, p);
    dfree(&f, p);
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_NOT_ALLOCATED);
    CHECK_STR(f.rec.msg[0], "double free: the block was already freed");
    CHECK_EQ(f.rec.size[0], 10);
    char want[512];
    snprintf(want, sizeof want,
             "Debug memory block at address p=%p: freed, API 'o'\n"
             "    10 bytes originally requested\n"
             "    Data at p: dd dd dd dd dd dd dd dd dd dd\n" NO_TRACER,
             (void *)p);
    CHECK_STR(f.rec.text[0], want);
    rcgc_memdebug_flush(f.md);
    CHECK_EQ(f.rec.n, 1);
    teardown(&f);
}

TEST(write_after_free)
{
    fixture f;
    setup(&f, 1);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10), *q = dmalloc(&f, 20);
    dfree(&f, p);
    p[3] = 'X';      /* the program writes to freed memory */
    dfree(&f, q);    /* p leaves quarantine: checked */
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_USE_AFTER_FREE);
    CHECK_STR(f.rec.func[0], "rcgc_memdebug_free");
    CHECK_STR(f.rec.msg[0], "freed memory was written to");
    CHECK(f.rec.ptr[0] == p);
    CHECK(strstr(f.rec.text[0], "The first byte that is not DEADBYTE (0xdd) is "
                                "at p+3: 0x58\n") != NULL);
    CHECK(strstr(f.rec.text[0], "Data at p: dd dd dd 58 dd dd dd dd dd dd\n") != NULL);
    q[-16] = 0; /* q is in quarantine now: caught by flush */
    rcgc_memdebug_flush(f.md);
    REQUIRE(f.rec.n == 2);
    CHECK_STR(f.rec.func[1], "rcgc_memdebug_flush");
    CHECK(strstr(f.rec.text[1], "is at p-16: 0x00\n") != NULL);
    teardown(&f);
}

/* A block freed through another domain: CPython's "bad ID". */
TEST(free_through_wrong_domain)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    rcgc_allocator base = rcgc_pymalloc_allocator(f.pm), m;
    CHECK_EQ(rcgc_memdebug_wrap(f.md, 'm', &base, &m), 0);
    unsigned char *p = m.malloc(m.ctx, 16);
    REQUIRE(p != NULL);
    dfree(&f, p); /* through 'o' */
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_BAD_ID);
    CHECK_STR(f.rec.msg[0], "bad ID: Allocated using API 'm', verified using API 'o'");
    CHECK_EQ(f.rec.api[0], 'o');
    CHECK(strncmp(f.rec.text[0], "Debug memory block at address p=", 32) == 0);
    CHECK(strstr(f.rec.text[0], ": API 'm'\n    16 bytes originally requested\n") != NULL);
    CHECK_EQ(rcgc_memdebug_live_blocks(f.md), 1);
    m.free(m.ctx, p); /* the right domain */
    CHECK_EQ(f.rec.n, 1);
    /* an id byte damaged by an underwrite reads as a foreign API */
    p = dmalloc(&f, 8);
    p[-8] = 0x01;
    dfree(&f, p);
    REQUIRE(f.rec.n == 2);
    CHECK_STR(f.rec.msg[1], "bad ID: Allocated using API '\\x01', verified using API 'o'");
    p[-8] = 'o';
    dfree(&f, p);
    teardown(&f);
}

TEST(realloc_of_a_damaged_block)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    unsigned char *p = dmalloc(&f, 10);
    p[10] = 'A';
    CHECK(f.o.realloc(f.o.ctx, p, 100) == NULL);
    REQUIRE(f.rec.n == 1);
    CHECK_EQ(f.rec.kind[0], RCGC_MEMDEBUG_BAD_TRAILING_PAD);
    CHECK_STR(f.rec.func[0], "rcgc_memdebug_realloc");
    /* untouched */
    CHECK(p[0] == 0xcd && p[9] == 0xcd && p[10] == 'A' && p[-9] == 10);
    p[10] = 0xfd;
    p = f.o.realloc(f.o.ctx, p, 100);
    REQUIRE(p != NULL);
    CHECK(p[9] == 0xcd && p[100] == 0xfd);
    dfree(&f, p);
    CHECK_EQ(f.rec.n, 1);
    teardown(&f);
}

/* ---- the whole-heap check ---- */

TEST(whole_heap_check)
{
    fixture f;
    setup(&f, 2);
    REQUIRE(f.md != NULL);
    rcgc_allocator base = rcgc_pymalloc_allocator(f.pm), m;
    CHECK_EQ(rcgc_memdebug_wrap(f.md, 'm', &base, &m), 0);
    unsigned char *a = dmalloc(&f, 10), *b = dmalloc(&f, 600), *c = m.malloc(m.ctx, 30);
    unsigned char *d = dmalloc(&f, 1), *e = dmalloc(&f, 40), *g = dmalloc(&f, 0);
    CHECK_EQ(rcgc_memdebug_check(f.md), 0);
    a[10] = 1;   /* overflow */
    b[-3] = 2;   /* underflow */
    c[-8] = 'o'; /* wrong id */
    dfree(&f, e);
    e[39] = 3;   /* write after free (quarantined) */
    CHECK_EQ(rcgc_memdebug_check(f.md), 4);
    REQUIRE(f.rec.n == 4);
    int seen[8] = {0};
    for (int i = 0; i < 4; i++) {
        CHECK_STR(f.rec.func[i], "rcgc_memdebug_check");
        seen[f.rec.kind[i]]++;
    }
    CHECK(seen[RCGC_MEMDEBUG_BAD_TRAILING_PAD] == 1 &&
          seen[RCGC_MEMDEBUG_BAD_LEADING_PAD] == 1 && seen[RCGC_MEMDEBUG_BAD_ID] == 1 &&
          seen[RCGC_MEMDEBUG_USE_AFTER_FREE] == 1);
    a[10] = 0xfd;
    b[-3] = 0xfd;
    c[-8] = 'm';
    e[39] = 0xdd;
    CHECK_EQ(rcgc_memdebug_check(f.md), 0);
    dfree(&f, a);
    dfree(&f, b);
    m.free(m.ctx, c);
    dfree(&f, d);
    dfree(&f, g);
    rcgc_memdebug_flush(f.md);
    CHECK_EQ(f.rec.n, 4);
    teardown(&f);
}

/* Through a heap: rcgc_heap_check runs the debug check too. */
TEST(heap_check_with_hooks)
{
    record rec = {0};
    rcgc_heap_config cfg;
    rcgc_heap_config_init(&cfg);
    cfg.debug_hooks = 1;
    cfg.debug.report = rec_hook;
    cfg.debug.report_ctx = &rec;
    rcgc_heap *h = rcgc_heap_new(&cfg);
    REQUIRE(h != NULL);
    unsigned char *p = rcgc_heap_malloc(h, RCGC_DOMAIN_MEM, 8);
    unsigned char *q = rcgc_heap_malloc(h, RCGC_DOMAIN_RAW, 8);
    CHECK_EQ(rcgc_heap_check(h), 0);
    p[8] = 'Z';
    CHECK_EQ(rcgc_heap_check(h), RCGC_ECORRUPT);
    REQUIRE(rec.n == 1);
    CHECK_EQ(rec.api[0], 'm');
    p[8] = 0xfd;
    rcgc_heap_free(h, RCGC_DOMAIN_MEM, p);
    rcgc_heap_free(h, RCGC_DOMAIN_RAW, q);
    CHECK_EQ(rcgc_heap_check(h), 0);
    CHECK_EQ(rcgc_heap_destroy(h), 0);
}

/* ---- hooks ---- */

static size_t fake_tracer(void *ctx, const void *ptr, char *buf, size_t size)
{
    (void)ctx;
    (void)ptr;
    return (size_t)snprintf(buf, size, "  File \"demo.c\", line 42\n");
}

TEST(traceback_hook)
{
    fixture f;
    setup(&f, 0);
    REQUIRE(f.md != NULL);
    rcgc_memdebug_destroy(f.md);
    rcgc_memdebug_config cfg;
    rcgc_memdebug_config_init(&cfg);
    cfg.report = rec_hook;
    cfg.report_ctx = &f.rec;
    cfg.traceback = fake_tracer;
    f.md = rcgc_memdebug_new(&cfg);
    REQUIRE(f.md != NULL);
    rcgc_allocator base = rcgc_pymalloc_allocator(f.pm);
    CHECK_EQ(rcgc_memdebug_wrap(f.md, 'o', &base, &f.o), 0);
    unsigned char *p = dmalloc(&f, 4);
    p[4] = 0;
    dfree(&f, p);
    REQUIRE(f.rec.n == 1);
    CHECK(strstr(f.rec.text[0], "    Data at p: cd cd cd cd\n\n"
                                "Memory block allocated at (most recent call first):\n"
                                "  File \"demo.c\", line 42\n\n") != NULL);
    CHECK(strstr(f.rec.text[0], "Enable the tracer") == NULL);
    p[4] = 0xfd;
    dfree(&f, p);
    teardown(&f);
}

static void overflow_and_free(void *arg)
{
    (void)arg;
    rcgc_memdebug *md = rcgc_memdebug_new(NULL); /* default report: fatal */
    rcgc_allocator base = rcgc_libc_allocator(), a;
    rcgc_memdebug_wrap(md, 'm', &base, &a);
    unsigned char *p = a.malloc(a.ctx, 10);
    p[10] = 'A';
    a.free(a.ctx, p);
}

TEST(default_report_is_fatal)
{
    CHECK_DEATH(overflow_and_free, NULL, "Debug memory block at address p=",
                ": API 'm'\n    10 bytes originally requested\n",
                "        at tail+0: 0x41 *** OUCH\n",
                "Enable the tracer to get the memory block allocation traceback",
                "rcgc: fatal error: rcgc_memdebug_free: bad trailing pad byte\n");
}

/* ---- failures below the debug layer ---- */

TEST(failed_realloc_keeps_the_block)
{
    rcgc_allocator libc = rcgc_libc_allocator();
    rcgc_memfault *mf = rcgc_memfault_new(&libc, NULL);
    REQUIRE(mf != NULL);
    rcgc_allocator base = rcgc_memfault_allocator(mf), a;
    record rec = {0};
    rcgc_memdebug_config cfg;
    rcgc_memdebug_config_init(&cfg);
    cfg.report = rec_hook;
    cfg.report_ctx = &rec;
    rcgc_memdebug *md = rcgc_memdebug_new(&cfg);
    REQUIRE(md != NULL);
    CHECK_EQ(rcgc_memdebug_wrap(md, 'r', &base, &a), 0);
    unsigned char *p = a.malloc(a.ctx, 300);
    REQUIRE(p != NULL);
    for (int i = 0; i < 300; i++) p[i] = (unsigned char)i;
    rcgc_memfault_fail_at(mf, 1);
    CHECK(a.realloc(a.ctx, p, 5000) == NULL);
    /* header, trailer and the saved bytes are back */
    CHECK_EQ(rcgc_memdebug_check(md), 0);
    int ok = 1;
    for (int i = 0; i < 300; i++) ok &= p[i] == (unsigned char)i;
    CHECK(ok);
    rcgc_memfault_fail_at(mf, 1);
    CHECK(a.malloc(a.ctx, 10) == NULL);
    a.free(a.ctx, p);
    CHECK_EQ(rec.n, 0);
    CHECK_EQ(rcgc_memdebug_destroy(md), 0);
    CHECK_EQ(rcgc_memfault_destroy(mf), 0);
}

/* The debug layer's own table cannot grow: the allocation fails cleanly. */
TEST(table_failure)
{
    rcgc_allocator libc = rcgc_libc_allocator();
    rcgc_memfault *meta = rcgc_memfault_new(&libc, NULL);
    rcgc_memfault *below = rcgc_memfault_new(&libc, NULL);
    REQUIRE(meta != NULL && below != NULL);
    rcgc_memdebug_config cfg;
    rcgc_memdebug_config_init(&cfg);
    cfg.meta = rcgc_memfault_allocator(meta);
    rcgc_memfault_fail_at(meta, 1);
    CHECK(rcgc_memdebug_new(&cfg) == NULL);
    rcgc_memdebug *md = rcgc_memdebug_new(&cfg);
    REQUIRE(md != NULL);
    rcgc_allocator base = rcgc_memfault_allocator(below), a;
    CHECK_EQ(rcgc_memdebug_wrap(md, 'o', &base, &a), 0);
    rcgc_memfault_fail_after(meta, 0); /* the table's first slots */
    CHECK(a.malloc(a.ctx, 10) == NULL);
    rcgc_memfault_stats st;
    rcgc_memfault_get_stats(below, &st);
    CHECK_EQ(st.live_blocks, 0); /* the block went back */
    rcgc_memfault_reset(meta);
    void *p = a.malloc(a.ctx, 10);
    CHECK(p != NULL);
    a.free(a.ctx, p);
    rcgc_allocator bad = base;
    bad.free = NULL;
    CHECK_EQ(rcgc_memdebug_wrap(md, 'x', &bad, &a), RCGC_EINVAL);
    CHECK_EQ(rcgc_memdebug_destroy(md), 0);
    rcgc_memfault_get_stats(meta, &st);
    CHECK_EQ(st.live_blocks, 0);
    CHECK_EQ(rcgc_memfault_destroy(meta), 0);
    CHECK_EQ(rcgc_memfault_destroy(below), 0);
}

TEST_MAIN(T(layout_of_a_block), T(calloc_realloc_fill),
          T(realloc_large_blocks_keep_data), T(overflow_by_one), T(underflow),
          T(damaged_size_field), T(double_free), T(double_free_quarantined),
          T(write_after_free), T(free_through_wrong_domain),
          T(realloc_of_a_damaged_block), T(whole_heap_check),
          T(heap_check_with_hooks), T(traceback_hook),
          T(default_report_is_fatal), T(failed_realloc_keeps_the_block),
          T(table_failure))

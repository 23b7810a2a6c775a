// test_cxx.cpp - the public headers used from C++17 (issue 18, item 3).
//
// Every call-site macro (RCGC_HERE, RCGC_NEW, RCGC_NEW_SIZED, RCGC_MALLOC,
// RCGC_CALLOC, RCGC_REALLOC) and every reference macro or call (RCGC_VISIT,
// RCGC_CLEAR, RCGC_SETREF, rcgc_incref, rcgc_decref, rcgc_xincref,
// rcgc_xdecref) compiled as C++ and run against the library of the build
// (RCGC_DEBUG 0 in the release build, 3 in the debug build).
// tests/check_cxx.sh builds it with g++ and clang++ (-std=c++17 -Wall
// -Wextra -Wpedantic -Werror), each also with RCGC_CXX_PORTABLE_SITE (the
// standard C++ form of RCGC_HERE), and runs each program.  The tracer checks
// that each site names this file, the calling function and the line; the
// teardown checks that no object, no trace and no byte is left.
#include "rcgc.h"
#include "rcgc_diag.h"
#include "rcgc_mem.h"
#include "rcgc_serve.h"
#include "rcgc_trace.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int failures = 0;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,      \
                         __LINE__, #cond);                                    \
            failures++;                                                       \
        }                                                                     \
    } while (0)

// Every block of the runtime through a counting allocator, as
// tests/support's t_teardown counts them: none may be left.
struct Counter {
    long blocks;
    size_t bytes;
};
Counter counter = {0, 0};
const size_t kHeader = 16; // keeps the blocks 16-byte aligned

void *count_malloc(void *ctx, size_t size)
{
    Counter *c = static_cast<Counter *>(ctx);
    unsigned char *p = static_cast<unsigned char *>(std::malloc(kHeader + size));
    if (p == nullptr) return nullptr;
    std::memcpy(p, &size, sizeof size);
    c->blocks++;
    c->bytes += size;
    return p + kHeader;
}

void *count_calloc(void *ctx, size_t nelem, size_t elsize)
{
    if (elsize != 0 && nelem > (size_t)-1 / elsize) return nullptr;
    void *p = count_malloc(ctx, nelem * elsize);
    if (p != nullptr) std::memset(p, 0, nelem * elsize);
    return p;
}

void count_free(void *ctx, void *ptr)
{
    if (ptr == nullptr) return;
    Counter *c = static_cast<Counter *>(ctx);
    unsigned char *p = static_cast<unsigned char *>(ptr) - kHeader;
    size_t size;
    std::memcpy(&size, p, sizeof size);
    c->blocks--;
    c->bytes -= size;
    std::free(p);
}

void *count_realloc(void *ctx, void *ptr, size_t size)
{
    if (ptr == nullptr) return count_malloc(ctx, size);
    size_t old;
    std::memcpy(&old, static_cast<unsigned char *>(ptr) - kHeader, sizeof old);
    void *q = count_malloc(ctx, size);
    if (q == nullptr) return nullptr;
    std::memcpy(q, ptr, old < size ? old : size);
    count_free(ctx, ptr);
    return q;
}

// A C-style object: the header as first member, one untyped and one typed
// reference (RCGC_VISIT, RCGC_CLEAR and RCGC_SETREF cast a typed slot).
struct Pair {
    rcgc_object base;
    rcgc_object *left;
    Pair *right;
};

int pair_traverse(rcgc_object *self, rcgc_visit_fn visit, void *arg)
{
    Pair *p = reinterpret_cast<Pair *>(self);
    RCGC_VISIT(p->left);
    RCGC_VISIT(p->right);
    return 0;
}

void pair_clear(rcgc_runtime *rt, rcgc_object *self)
{
    Pair *p = reinterpret_cast<Pair *>(self);
    RCGC_CLEAR(rt, p->left);
    RCGC_CLEAR(rt, p->right);
}

int finalized = 0;

int pair_finalize(rcgc_runtime *rt, rcgc_object *self)
{
    (void)rt;
    (void)self;
    finalized++;
    return 0;
}

rcgc_type make_pair_type()
{
    rcgc_type t = {};
    t.name = "Pair";
    t.size = sizeof(Pair);
    t.flags = RCGC_TYPE_GC;
    t.traverse = pair_traverse;
    t.clear = pair_clear;
    t.finalize = pair_finalize;
    return t;
}
const rcgc_type pair_type = make_pair_type();

// A C++-style object: derived from the header, so a Node * converts to
// rcgc_object * implicitly and the reference calls take it as it is.
struct Node : rcgc_object {
    double payload[4];
};

rcgc_type make_node_type()
{
    rcgc_type t = {};
    t.name = "Node";
    t.size = sizeof(Node);
    return t;
}
const rcgc_type node_type = make_node_type();

// The most recent frame the tracer recorded for obj (or the block at ptr).
bool frame_is(const rcgc_frame &f, int n, int line, const char *function)
{
    return n == 1 && std::strcmp(f.filename, __FILE__) == 0 &&
           f.lineno == static_cast<unsigned>(line) && f.function != nullptr &&
           std::strcmp(f.function, function) == 0;
}

bool object_site_is(rcgc_runtime *rt, const rcgc_object *o, int line,
                    const char *function)
{
    rcgc_frame f[2];
    int n = rcgc_trace_object_traceback(rt, o, f, 2);
    return frame_is(f[0], n, line, function);
}

bool block_site_is(rcgc_runtime *rt, const void *p, int line, const char *function)
{
    rcgc_frame f[2];
    int n = rcgc_trace_block_traceback(rt, RCGC_DOMAIN_MEM, p, f, 2);
    return frame_is(f[0], n, line, function);
}

#if defined(__GNUC__) && !defined(RCGC_CXX_PORTABLE_SITE)
// The GNU form gives each site one static record: the same address at
// every call, valid after the call.
const int one_site_line = __LINE__ + 3;
const rcgc_site *one_site()
{
    return RCGC_HERE;
}

void test_static_site()
{
    const int line = one_site_line;
    const rcgc_site *a = one_site();
    const rcgc_site *b = one_site();
    CHECK(a == b);
    CHECK(std::strcmp(a->filename, __FILE__) == 0);
    CHECK(std::strcmp(a->function, "one_site") == 0);
    CHECK(a->lineno == static_cast<unsigned>(line));
}
const char *const site_form = "static record (GNU statement expression)";
#else
void test_static_site() {}
const char *const site_form = "temporary record (standard C++)";
#endif

void test_call_sites(rcgc_runtime *rt)
{
    // Objects: each site is named, and two sites are told apart.
    const int line_a = __LINE__ + 1;
    rcgc_object *a = RCGC_NEW(rt, &pair_type);
    const int line_b = __LINE__ + 1;
    rcgc_object *b = RCGC_NEW_SIZED(rt, &pair_type, sizeof(Pair) + 64);
    CHECK(a != nullptr && b != nullptr);
    CHECK(object_site_is(rt, a, line_a, __func__));
    CHECK(object_site_is(rt, b, line_b, __func__));
    CHECK(rcgc_object_refcount(a) == 1);

    // Buffers: malloc, calloc (zeroed), realloc (the new site).
    const int line_m = __LINE__ + 1;
    char *m = static_cast<char *>(RCGC_MALLOC(rt, 40));
    const int line_c = __LINE__ + 1;
    int *c = static_cast<int *>(RCGC_CALLOC(rt, 10, sizeof(int)));
    CHECK(m != nullptr && c != nullptr);
    CHECK(block_site_is(rt, m, line_m, __func__));
    CHECK(block_site_is(rt, c, line_c, __func__));
    for (int i = 0; i < 10; i++) CHECK(c[i] == 0);
    std::memcpy(m, "call sites from C++", 20);
    const int line_r = __LINE__ + 1;
    char *r = static_cast<char *>(RCGC_REALLOC(rt, m, 4000));
    CHECK(r != nullptr);
    if (r != nullptr) {
        CHECK(std::strcmp(r, "call sites from C++") == 0);
        CHECK(block_site_is(rt, r, line_r, __func__));
        m = r;
    }
    rcgc_mem_free(rt, m);
    rcgc_mem_free(rt, c);

    // A record passed on explicitly (the form every macro above uses).
    const int line_h = __LINE__ + 1;
    rcgc_object *h = rcgc_object_new_at(rt, &node_type, RCGC_HERE);
    CHECK(h != nullptr && object_site_is(rt, h, line_h, __func__));
    rcgc_decref(rt, h);

    rcgc_decref(rt, a);
    rcgc_decref(rt, b);
}

void test_references(rcgc_runtime *rt)
{
    // rcgc_object * and a derived Node *, in every build.
    Node *n = static_cast<Node *>(RCGC_NEW(rt, &node_type));
    CHECK(n != nullptr);
    rcgc_object *o = n;
    rcgc_incref(n);
    rcgc_incref(o);
    CHECK(rcgc_object_refcount(n) == 3);
    rcgc_decref(rt, n);
    rcgc_decref(rt, o);
    CHECK(rcgc_object_refcount(o) == 1);

    // NULL-tolerant forms.
    rcgc_object *none = nullptr;
    rcgc_xincref(none);
    rcgc_xdecref(rt, none);
    rcgc_xincref(nullptr);
    rcgc_xdecref(rt, nullptr);
    rcgc_xincref(n);
    CHECK(rcgc_object_refcount(n) == 2);
    rcgc_xdecref(rt, n);
    CHECK(rcgc_object_refcount(n) == 1);

    // A cycle through an untyped and a typed slot, set with RCGC_SETREF
    // (which steals the new reference and drops the old one).
    Pair *p = reinterpret_cast<Pair *>(RCGC_NEW(rt, &pair_type));
    Pair *q = reinterpret_cast<Pair *>(RCGC_NEW(rt, &pair_type));
    CHECK(p != nullptr && q != nullptr);
    rcgc_incref(n);
    RCGC_SETREF(rt, p->left, static_cast<rcgc_object *>(n)); // p -> n
    rcgc_incref(&q->base);
    RCGC_SETREF(rt, p->right, q);                            // p -> q
    rcgc_incref(&p->base);
    q->left = &p->base;                                      // q -> p
    rcgc_incref(&q->base);
    RCGC_SETREF(rt, p->right, q); // replaces p -> q by itself: one reference
    CHECK(rcgc_object_refcount(&q->base) == 2);
    rcgc_object_track(rt, &p->base);
    rcgc_object_track(rt, &q->base);

    rcgc_decref(rt, n);
    CHECK(rcgc_object_refcount(n) == 1); // held by p
    const int finalized_before = finalized;
    rcgc_decref(rt, &p->base);
    rcgc_decref(rt, &q->base);
    CHECK(finalized == finalized_before); // the cycle keeps both
    CHECK(rcgc_gc_collect(rt, 2) == 2);
    CHECK(finalized == finalized_before + 2);
}

} // namespace

int main()
{
    rcgc_config cfg;
    rcgc_config_init(&cfg);
    cfg.allocator.ctx = &counter;
    cfg.allocator.malloc = count_malloc;
    cfg.allocator.calloc = count_calloc;
    cfg.allocator.realloc = count_realloc;
    cfg.allocator.free = count_free;
    rcgc_runtime *rt = nullptr;
    int rc = rcgc_runtime_create(&cfg, &rt);
    if (rc != 0) {
        std::fprintf(stderr, "rcgc_runtime_create: %s\n", rcgc_strerror(rc));
        return 1;
    }
    CHECK(rcgc_trace_start(rt, nullptr) == 0);

    test_static_site();
    test_call_sites(rt);
    test_references(rt);

    // Teardown: the invariants, then nothing alive, no byte left.
    rcgc_trace_stop(rt);
    CHECK(rcgc_check(rt) == 0);
    rcgc_teardown_report report;
    CHECK(rcgc_runtime_free(rt, &report) == 0);
    CHECK(report.alive == 0 && report.uncollectable == 0 && report.leaked == 0);
    CHECK(counter.blocks == 0 && counter.bytes == 0);

    std::printf("test_cxx: %s (RCGC_DEBUG=%d, RCGC_HERE: %s)\n",
                failures == 0 ? "ok" : "FAILED", RCGC_DEBUG, site_form);
    return failures == 0 ? 0 : 1;
}

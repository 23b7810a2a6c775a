/*
 * rcgc_all.c - the whole library as one translation unit (as mimalloc's
 * static.c): `cc -c src/rcgc_all.c -Isrc -Iinclude -I<build>/include` builds
 * librcgc in one step, and gives the compiler every function at once.  The
 * build makes it too (target rcgc_unity), so a file that only compiles on
 * its own (a static name used twice, a missing include) fails at once.  It
 * lists exactly the sources of CMakeLists.txt, in their order (CMake checks).
 */
#define _GNU_SOURCE /* the union of what the files ask for */

/* platform */
#include "platform/os_posix.c"

/* mem */
#include "mem/libc.c"
#include "mem/pymalloc.c"
#include "mem/arenamap.c"
#include "mem/pmcheck.c"
#include "mem/memdomain.c"
#include "mem/memdebug.c"
#include "mem/memfault.c"
#include "mem/ptrmap.c"

/* core */
#include "core/error.c"
#include "core/runtime.c"
#include "core/teardown.c"
#include "core/object.c"
#include "core/collect.c"
#include "core/policy.c"
#include "core/gcmodule.c"
#include "core/check.c"
#include "core/heaptype.c"

/* weak */
#include "weak/weakref.c"
#include "weak/weakmap.c"
#include "weak/finalize.c"

/* trace */
#include "trace/tracer.c"
#include "trace/traceback.c"
#include "trace/tracer_api.c"
#include "trace/tracer_check.c"
#include "trace/snapshot.c"
#include "trace/snapshot_stats.c"
#include "trace/snapshot_write.c"
#include "trace/snapshot_read.c"
#include "trace/symbolize.c"

/* diag */
#include "diag/diag_counts.c"
#include "diag/diag_why.c"
#include "diag/diag_graph.c"
#include "diag/diag_dom.c"
#include "diag/diag_retained.c"
#include "diag/diag_heapsnapshot.c"
#include "diag/diag_size.c"
#include "diag/diag_domtree_write.c"
#include "diag/check_all.c"
#include "diag/diagnose_dot.c"

/* serve */
#include "serve/serve.c"
#include "serve/serve_client.c"
#include "serve/serve_cmd.c"
#include "serve/serve_trace.c"
#include "serve/serve_json.c"
#include "serve/serve_req.c"

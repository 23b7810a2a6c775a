#!/bin/sh
# check_gchead.sh SRC_DIR - fail if a raw operation on the collector's header
# appears outside src/core/gchead.h (docs/layout.md: gchead.h owns every bit
# of the header and the trashcan's state).  Raw means: the header's fields
# (_gc_next, _gc_prev) or its bit masks and shifts (GC_PREV_*, GC_NEXT_*),
# the collection's layout of a borrowed reference count (GC_RC_*), and the
# side byte's bits (GC_SIDE_*: docs/layout.md, "The side byte").
# Everything else goes through gchead.h's named accessors.
# With --self-test, also check that a planted violation is caught.
set -eu
src=${1:?usage: check_gchead.sh SRC_DIR [--self-test]}
pattern='\b_gc_(next|prev)\b|\bGC_(PREV|NEXT|RC|SIDE)_[A-Z0-9_]+\b'

scan() {
    grep -rnE --include='*.c' --include='*.h' "$pattern" "$1" |
        grep -v '^[^:]*src/core/gchead\.h:' || true
}

if [ "${2:-}" = "--self-test" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/src/core"
    printf 'void f(gc_head *g) { g->_gc_prev |= GC_PREV_COLLECTING; }\n' > "$tmp/src/core/x.c"
    printf 'void h(rcgc_object *o) { o->refcnt &= GC_RC_LOW; }\n' > "$tmp/src/core/y.c"
    printf 'void k(uint8_t *s) { *s |= GC_SIDE_TRACKED; }\n' > "$tmp/src/core/z.c"
    printf '#define GC_PREV_X 1\n' > "$tmp/src/core/gchead.h"
    for f in x.c y.c z.c; do
        if ! scan "$tmp/src" | grep -q "/$f:"; then
            echo "check_gchead.sh: self-test failed: the raw bit operation planted in $f was not found" >&2
            exit 1
        fi
    done
fi

found=$(scan "$src")
if [ -n "$found" ]; then
    echo "raw collector-header operations outside src/core/gchead.h (use its accessors):" >&2
    echo "$found" >&2
    exit 1
fi
echo "check_gchead: no raw header-bit operation outside src/core/gchead.h"

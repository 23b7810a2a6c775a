#!/bin/sh
# check_diag_walk.sh SRC_DIR - fail if the diagnosis (src/diag) reaches into
# the collector's header or its generation lists: it enumerates tracked
# objects through src/core/gcwalk.h only and keeps its per-object state in
# side tables (src/diag/README.md, docs/layout-16.md: the lists and the
# gc_head go away for pool objects, and then only gcwalk.h changes).
# With --self-test, also check that a planted violation is caught.
set -eu
src=${1:?usage: check_diag_walk.sh SRC_DIR [--self-test]}
pattern='\bgc_(next|prev|head_of|object_of|list_[a-z_]+|reset_refs|get_refs|incref|restore_prev|set_prev|is_collecting|set_collecting|is_tracked|head)\b|->(gen\[|permanent\b)'

scan() {
    grep -rnE --include='*.c' --include='*.h' "$pattern" "$1/diag" || true
}

if [ "${2:-}" = "--self-test" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/src/diag"
    printf 'void f(rcgc_runtime *rt) { gc_head *g = gc_next(&rt->permanent); }\n' > "$tmp/src/diag/x.c"
    if [ -z "$(scan "$tmp/src")" ]; then
        echo "check_diag_walk.sh: self-test failed: a planted list walk was not found" >&2
        exit 1
    fi
fi

found=$(scan "$src")
if [ -n "$found" ]; then
    echo "src/diag uses the collector's header or lists (enumerate through core/gcwalk.h):" >&2
    echo "$found" >&2
    exit 1
fi
echo "check_diag_walk: src/diag enumerates through core/gcwalk.h only"

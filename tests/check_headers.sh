#!/bin/sh
# check_headers.sh CC CXX_LIST INCLUDE_DIR GENERATED_INCLUDE_DIR
#
# At both debug levels (RCGC_DEBUG 0 and 3: the generated rcgc_config.h with
# its level replaced), as C11 and as C++17 with each compiler of CXX_LIST (a
# space-separated list, may be empty: the C++ half is skipped, said so), with
# the warnings the library uses and -Werror:
#   1. every public header compiles on its own, first in a translation unit;
#   2. the reference calls' argument contract (rcgc.h, docs/api-rules.md):
#      rcgc_incref, rcgc_decref, rcgc_xincref and rcgc_xdecref accept an
#      rcgc_object * (and in C a void *), and each wrong argument (another
#      struct's pointer, a const pointer, an integer) fails to compile, at
#      both levels alike; RCGC_CLEAR and RCGC_SETREF take typed slots.
set -u
CC=$1 CXXS=$2 inc=$3 geninc=$4
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0 ncontract=0
warn="-Wall -Wextra -Wpedantic -Wshadow -Wundef -Werror"

for level in 0 3; do
    mkdir -p "$tmp/cfg$level"
    sed "s/^#define RCGC_DEBUG .*/#define RCGC_DEBUG $level/" "$geninc/rcgc_config.h" \
        >"$tmp/cfg$level/rcgc_config.h" || exit 1
done

# compile LANG COMPILER LEVEL FILE: 0 when FILE compiles cleanly.
compile() {
    if [ "$1" = c ]; then
        "$2" -std=c11 $warn -Wstrict-prototypes -I"$inc" -I"$tmp/cfg$3" \
            -fsyntax-only -x c "$4" 2>"$tmp/err"
    else
        "$2" -std=c++17 $warn -I"$inc" -I"$tmp/cfg$3" -fsyntax-only -x c++ "$4" 2>"$tmp/err"
    fi
}

# The contract's program: GOOD compiles; BAD_n replaces the good calls by
# the nth wrong one.
cat >"$tmp/contract.h" <<'EOF'
#include "rcgc.h"
struct mine { rcgc_object base; struct mine *typed; rcgc_object *plain; };
void rcgc_check_contract(rcgc_runtime *rt, rcgc_object *o, struct mine *m,
                         const rcgc_object *c, void *v, long i);
void rcgc_check_contract(rcgc_runtime *rt, rcgc_object *o, struct mine *m,
                         const rcgc_object *c, void *v, long i)
{
    (void)o; (void)m; (void)c; (void)v; (void)i;
EOF
good='rcgc_incref(o); rcgc_decref(rt, o); rcgc_xincref(o); rcgc_xdecref(rt, o);
    rcgc_xincref(NULL); rcgc_xdecref(rt, NULL);
    rcgc_incref(&m->base); rcgc_decref(rt, (rcgc_object *)m);
    RCGC_CLEAR(rt, m->typed); RCGC_CLEAR(rt, m->plain);
    RCGC_SETREF(rt, m->typed, m); RCGC_SETREF(rt, m->plain, o);
#ifndef __cplusplus
    rcgc_incref(v); rcgc_decref(rt, v); rcgc_xincref(v); rcgc_xdecref(rt, v);
#endif'
set -- 'rcgc_incref(m);' 'rcgc_decref(rt, m);' 'rcgc_xincref(m);' 'rcgc_xdecref(rt, m);' \
       'rcgc_incref(c);' 'rcgc_decref(rt, c);' 'rcgc_incref(i);' 'rcgc_xdecref(rt, i);'
{ cat "$tmp/contract.h"; printf '    %s\n}\n' "$good"; } >"$tmp/good.c"

for h in "$inc"/*.h; do
    name=$(basename "$h")
    printf '#include "%s"\nint rcgc_check_headers_main(void);\nint rcgc_check_headers_main(void) { return 0; }\n' \
        "$name" >"$tmp/t.c"
    for level in 0 3; do
        if ! compile c "$CC" $level "$tmp/t.c"; then
            cat "$tmp/err" >&2
            echo "check_headers: $name does not compile as C11 (RCGC_DEBUG=$level)" >&2; fail=1
        fi
        for cxx in $CXXS; do
            if ! compile c++ "$cxx" $level "$tmp/t.c"; then
                cat "$tmp/err" >&2
                echo "check_headers: $name does not compile as C++17 with $cxx (RCGC_DEBUG=$level)" >&2
                fail=1
            fi
        done
    done
    n=$((n + 1))
done

for level in 0 3; do
    for lc in "c:$CC" $(for cxx in $CXXS; do printf 'c++:%s ' "$cxx"; done); do
        lang=${lc%%:*} comp=${lc#*:}
        if ! compile $lang "$comp" $level "$tmp/good.c"; then
            cat "$tmp/err" >&2
            echo "check_headers: the right reference calls do not compile ($lang, $comp, RCGC_DEBUG=$level)" >&2
            fail=1
        fi
        k=0
        for bad in "$@"; do
            k=$((k + 1))
            { cat "$tmp/contract.h"; printf '    %s\n}\n' "$bad"; } >"$tmp/bad$k.c"
            if compile $lang "$comp" $level "$tmp/bad$k.c"; then
                echo "check_headers: '$bad' compiles ($lang, $comp, RCGC_DEBUG=$level): the contract says it must not" >&2
                fail=1
            else
                ncontract=$((ncontract + 1))
            fi
        done
    done
done

[ -n "$CXXS" ] || echo "check_headers: no C++ compiler: C++17 not checked"
echo "check_headers: $n headers alone, $ncontract wrong reference calls refused, RCGC_DEBUG 0 and 3, C11 ($CC) and C++17 (${CXXS:-none})"
exit $fail

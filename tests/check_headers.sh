#!/bin/sh
# check_headers.sh CC CXX INCLUDE_DIR GENERATED_INCLUDE_DIR
#
# Every public header compiles on its own, first in a translation unit, as
# C11 and as C++17, with the warnings the library uses and -Werror.  CXX
# may be empty (no C++ compiler: the C++ half is skipped, said so).
set -u
CC=$1 CXX=$2 inc=$3 geninc=$4
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
flags="-Wall -Wextra -Wpedantic -Wshadow -Wundef -Werror -I$inc -I$geninc"
for h in "$inc"/*.h; do
    name=$(basename "$h")
    printf '#include "%s"\nint rcgc_check_headers_main(void);\nint rcgc_check_headers_main(void) { return 0; }\n' \
        "$name" >"$tmp/t.c"
    if ! "$CC" -std=c11 $flags -Wstrict-prototypes -fsyntax-only -x c "$tmp/t.c"; then
        echo "check_headers: $name does not compile as C11" >&2; fail=1
    fi
    if [ -n "$CXX" ]; then
        if ! "$CXX" -std=c++17 $flags -fsyntax-only -x c++ "$tmp/t.c"; then
            echo "check_headers: $name does not compile as C++17" >&2; fail=1
        fi
    fi
    n=$((n + 1))
done
[ -n "$CXX" ] || echo "check_headers: no C++ compiler: C++17 not checked"
echo "check_headers: $n headers"
exit $fail

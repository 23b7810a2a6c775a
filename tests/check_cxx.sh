#!/bin/sh
# check_cxx.sh SOURCE LIBRARY INCLUDE_DIR GENERATED_INCLUDE_DIR WORK_DIR CXX...
#
# tests/test_cxx.cpp built with each C++ compiler given (-std=c++17 -Wall
# -Wextra -Wpedantic -Werror), once as it is (RCGC_HERE's static record under
# GCC and Clang) and once with RCGC_CXX_PORTABLE_SITE (its standard C++
# form), linked with the build's static library (so at the build's
# RCGC_DEBUG), and run.  A compiler that is not installed is named and
# skipped; with none at all the test is skipped (exit 77).
set -u
src=$1 lib=$2 inc=$3 geninc=$4 work=$5
shift 5
mkdir -p "$work" || exit 1
fail=0 ran=0
for cxx in "$@"; do
    if ! command -v "$cxx" >/dev/null 2>&1; then
        echo "check_cxx: $cxx is not installed: skipped"
        continue
    fi
    for form in static portable; do
        def=
        [ $form = portable ] && def=-DRCGC_CXX_PORTABLE_SITE
        out="$work/test_cxx_$(basename "$cxx")_$form"
        if ! "$cxx" -std=c++17 -Wall -Wextra -Wpedantic -Werror -O1 -g $def \
                -I"$inc" -I"$geninc" "$src" "$lib" -lm -ldl -o "$out"; then
            echo "check_cxx: $cxx ($form site) did not compile $src" >&2
            fail=1
            continue
        fi
        printf '%s, %s site: ' "$(basename "$cxx")" $form
        "$out" || { echo "check_cxx: $out failed" >&2; fail=1; }
        ran=$((ran + 1))
    done
done
if [ $ran -eq 0 ] && [ $fail -eq 0 ]; then
    echo "check_cxx: no C++ compiler: skipped"
    exit 77
fi
exit $fail

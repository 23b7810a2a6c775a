#!/bin/sh
# check_symbols.sh STATIC_LIB SHARED_LIB INCLUDE_DIR [NM]
#
# What the libraries export (docs/api-rules.md, "Symbols"):
#   static  every defined global symbol starts with rcgc_ (internal
#           cross-file names are rcgc__*, public ones rcgc_*);
#   shared  every dynamic export starts with rcgc_ and none with rcgc__, and
#           the exports are exactly the functions declared RCGC_API in
#           INCLUDE_DIR/*.h;
#   headers every function declared at file scope in INCLUDE_DIR/*.h
#           (other than static inline ones) carries RCGC_API.
# Symbols the sanitizers' instrumentation adds (__asan*, __ubsan*, ...)
# are not the library's and are ignored.
set -u
static_lib=$1 shared_lib=$2 incdir=$3 NM=${4:-nm}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "check_symbols: $*" >&2; fail=1; }

tool_symbol='^(__asan|__odr_asan|__ubsan|__sancov|__tsan|__msan|__lsan|___asan)'
# Linker-defined names some toolchains put in a shared library's table.
linker_symbol='^(_init|_fini|_edata|_end|__bss_start|_DYNAMIC|_GLOBAL_OFFSET_TABLE_)$'

# Names not yet renamed, each with the reason (none today: the last ones,
# the JSON writer's jb_*, became rcgc__jb_*).  A line here is
# "name) return 0 ;;" under a comment saying why.
allowed() {
    case $1 in
    esac
    return 1
}

# ---- static library ----
"$NM" -g --defined-only "$static_lib" >"$tmp/static.nm" 2>"$tmp/nm.err" ||
    { bad "nm failed on $static_lib: $(cat "$tmp/nm.err")"; exit 1; }
awk 'NF == 3 { print $3 }' "$tmp/static.nm" | grep -Ev "$tool_symbol" |
    sort -u >"$tmp/static"
nstatic=$(wc -l <"$tmp/static")
nallowed=0
for s in $(grep -v '^rcgc_' "$tmp/static"); do
    if allowed "$s"; then
        nallowed=$((nallowed + 1))
    else
        bad "$static_lib defines the unprefixed global symbol $s"
    fi
done

# ---- shared library ----
"$NM" -D --defined-only "$shared_lib" >"$tmp/shared.nm" 2>"$tmp/nm.err" ||
    { bad "nm failed on $shared_lib: $(cat "$tmp/nm.err")"; exit 1; }
awk 'NF >= 3 { print $3 }' "$tmp/shared.nm" | sed 's/@.*//' |
    grep -Ev "$tool_symbol|$linker_symbol" | sort -u >"$tmp/shared"
for s in $(grep -v '^rcgc_' "$tmp/shared"); do
    bad "$shared_lib exports the unprefixed symbol $s"
done
for s in $(grep '^rcgc__' "$tmp/shared"); do
    bad "$shared_lib exports the internal symbol $s"
done

# ---- headers ----
# A declaration starts at column 0 with its type and names rcgc_*( on its
# first line (the style of every public header).
cat "$incdir"/*.h >"$tmp/headers"
grep -E '^[A-Za-z].*\brcgc_[a-z0-9_]+\(' "$tmp/headers" |
    grep -Ev '^(typedef|static|struct|enum|union|RCGC_API)\b' >"$tmp/unmarked"
while IFS= read -r line; do
    bad "declared without RCGC_API: $line"
done <"$tmp/unmarked"
grep -E '^RCGC_API ' "$tmp/headers" |
    sed -E 's/^([^(]*[^a-z0-9_(])?(rcgc_[a-z0-9_]+)\(.*/\2/' | sort -u >"$tmp/declared"
for s in $(comm -23 "$tmp/declared" "$tmp/shared"); do
    bad "$s is declared RCGC_API but $shared_lib does not export it"
done
for s in $(comm -13 "$tmp/declared" "$tmp/shared" | grep '^rcgc_' | grep -v '^rcgc__'); do
    bad "$shared_lib exports $s, which no header declares RCGC_API"
done

ndecl=$(wc -l <"$tmp/declared")
nshared=$(wc -l <"$tmp/shared")
echo "check_symbols: static $nstatic global symbols ($nallowed allowed" \
     "unprefixed), shared $nshared exports, $ndecl RCGC_API declarations"
[ $fail -eq 0 ] && echo "check_symbols: ok"
exit $fail

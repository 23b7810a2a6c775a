#!/bin/sh
# gc_full_instr.sh [BINDIR] - instructions per steady full collection, from
# callgrind (exact and repeatable on a loaded machine, where times are not).
#
#   sh bench/gc_full_instr.sh build/bin          (N=1000000 by default)
#   N=200000 sh bench/gc_full_instr.sh build/bin
#
# For each gc_full shape (chain, pairs, tree) the whole program runs twice
# under callgrind, with STEADY 1 and STEADY 3; the difference is two steady
# full collections and nothing else (same build, same garbage step), so
# (Ir(3) - Ir(1)) / 2 / N is the instructions per object of one steady full
# collection.  The same for gc_shapes traversal with REPS 1 and 3 (each rep
# is two full collections): per collection and per edge (499,500 edges).
# Needs valgrind.  Takes about a minute per shape at N = 10^6.
set -eu
bindir=${1:-build/bin}
n=${N:-1000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v valgrind >/dev/null || { echo "gc_full_instr.sh: valgrind not found" >&2; exit 1; }

ir() { # program args...: total instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$@" \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    awk '/^totals:/ {print $2}' "$tmp/out"
}

for shape in chain pairs tree; do
    a=$(ir "$bindir/gc_full" "$shape" "$n" 1)
    b=$(ir "$bindir/gc_full" "$shape" "$n" 3)
    awk -v a="$a" -v b="$b" -v n="$n" -v s="$shape" \
        'BEGIN {printf "%-9s N=%d: %.1f instructions per object per steady full collection\n", s, n, (b - a) / 2 / n}'
done
a=$(ir "$bindir/gc_shapes" traversal 1)
b=$(ir "$bindir/gc_shapes" traversal 3)
awk -v a="$a" -v b="$b" \
    'BEGIN {printf "traversal: %.0f instructions per full collection, %.1f per edge\n", (b - a) / 4, (b - a) / 4 / 499500}'

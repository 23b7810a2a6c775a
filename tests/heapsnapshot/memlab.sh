#!/bin/sh
# memlab.sh - memlab (Meta's heap analysis, npm) opens the heap snapshots
# rcgc writes and finds the same retained sizes (check_memlab.js): the
# leaky event bus of examples/leaky_bus.c and a random heap with cycles,
# garbage and ephemerons (heapsnap_random.c).
#
#   memlab.sh BIN_DIR NPM_DIR WORK_DIR SRC_DIR
#
# memlab is installed into NPM_DIR once (npm_install.sh).  Without node and
# npm, or when the npm registry cannot be reached, the test says so and is
# skipped (exit 77); any other failure fails it.
set -u
bin=$1 npmdir=$2 work=$3 src=$4
. "$src/tests/heapsnapshot/npm_install.sh"
rm -rf "$work" && mkdir -p "$work" || exit 1
status=0
"$bin/leaky_bus" "$work" >"$work/leaky_bus.out" 2>&1 || { cat "$work/leaky_bus.out"; exit 1; }
node "$src/tests/heapsnapshot/check_memlab.js" "$mods" "$work/leaky_bus.heapsnapshot" \
  "$work/leaky_bus_retained.json" 2>/dev/null || status=1
for seed in 1 2 3; do
  "$bin/heapsnap_random" "$work" 5000 "$seed" || exit 1
  node "$src/tests/heapsnapshot/check_memlab.js" "$mods" "$work/random.heapsnapshot" \
    "$work/random_retained.json" 2>/dev/null || status=1
done
exit $status

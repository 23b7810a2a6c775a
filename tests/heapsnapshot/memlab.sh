#!/bin/sh
# memlab.sh - memlab (Meta's heap analysis, npm) opens the heap snapshots
# rcgc writes and finds the same retained sizes (check_memlab.js): the
# leaky event bus of examples/leaky_bus.c and a random heap with cycles,
# garbage and ephemerons (heapsnap_random.c).
#
#   memlab.sh BIN_DIR NPM_DIR WORK_DIR SRC_DIR
#
# memlab is installed into NPM_DIR once (npm, with Puppeteer's browser
# download skipped: only the heap parser is used).  Without node and npm, or
# when the npm registry cannot be reached, the test says so and is skipped
# (exit 77); any other failure fails it.
set -u
bin=$1 npmdir=$2 work=$3 src=$4
MEMLAB_VERSION=2.0.5
mods=$npmdir/node_modules
if [ ! -f "$mods/@memlab/heap-analysis/package.json" ]; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIPPED: node and npm are not installed (Debian packages nodejs, npm): cannot install memlab"
    exit 77
  fi
  tmp=$npmdir.tmp.$$
  rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
  echo "installing memlab $MEMLAB_VERSION from the npm registry into $npmdir ..."
  if ! (cd "$tmp" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund \
          --loglevel=error "memlab@$MEMLAB_VERSION" >install.log 2>&1); then
    if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH' "$tmp/install.log"; then
      echo "SKIPPED: the npm registry cannot be reached; memlab was not installed:"
      tail -3 "$tmp/install.log"
      rm -rf "$tmp"
      exit 77
    fi
    cat "$tmp/install.log"
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$npmdir" && mv "$tmp" "$npmdir" || exit 1
fi
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

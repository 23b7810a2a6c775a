#!/bin/sh
# pprof.sh - the npm package pprof-format decodes the allocation profiles
# of rcgc-snapshot --format pprof, and they hold what its JSON report says
# (check_pprof.js): show and diff of the leaky bus's snapshots, and show of
# the snapshots the snapshot_tool tests generate (C stack frames, sampling,
# several domains, deep tracebacks, hostile strings).
#
#   pprof.sh BIN_DIR NPM_DIR WORK_DIR SRC_DIR SNAP_DATA
#
# Skipped (exit 77), saying why, without node/npm or the npm registry.
set -u
bin=$1 npmdir=$2 work=$3 src=$4 data=$5
. "$src/tests/heapsnapshot/npm_install.sh"
rm -rf "$work" && mkdir -p "$work" || exit 1
snap=$bin/rcgc-snapshot
check() { # NAME then rcgc-snapshot's arguments
  name=$1
  shift
  "$snap" "$@" --format pprof -o "$work/$name.pb.gz" || return 1
  "$snap" "$@" --format json --top 0 -o "$work/$name.json" || return 1
  printf '%s: ' "$name"
  node "$src/tests/heapsnapshot/check_pprof.js" "$mods" "$work/$name.pb.gz" "$work/$name.json"
}
status=0
"$bin/leaky_bus" "$work" >"$work/leaky_bus.out" 2>&1 || { cat "$work/leaky_bus.out"; exit 1; }
check bus_show show "$work/leaky_bus_after.snap" || status=1
check bus_diff diff "$work/leaky_bus_before.snap" "$work/leaky_bus_after.snap" || status=1
# the snapshots make_snapshots writes (other tests add damaged ones there)
for name in old new sampled weird callsite cstack; do
  f=$data/$name.snap
  [ -f "$f" ] || { echo "missing $f (snapshot_tool_generate)"; status=1; continue; }
  check "data_$name" show "$f" --no-symbolize || status=1
done
exit $status

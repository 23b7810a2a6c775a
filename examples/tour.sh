#!/bin/sh
# tour.sh BUILD OUTDIR: the tour `make demo` runs.  Every example, each
# introduced in one line, with its real output; pictures and reports go to
# OUTDIR, named at the end.
set -u
build=$1
out=$2
bin=$build/bin
mkdir -p "$out" || exit 1
status=0

run() { # NAME INTRO [ARGS...]
  name=$1; intro=$2; shift 2
  printf '\n== %s: %s\n' "$name" "$intro"
  "$bin/$name" "$@" || { echo "   ($name exited with status $?)"; status=1; }
}

run opening_puzzle "the collector's answer to the puzzle every Python programmer meets: how many objects does a cycle leave?"
run readme_example "a type, a cycle, a collection: the README's first program"
run weak_cache "a weak-value cache: entries go when nobody else holds the value"
run event_bus "listeners in a weak set: the bus never keeps one alive"
run thresholds "thresholds and get_count: when automatic collections run (700, 10, 10)"
run generations "collecting one generation at a time: young garbage, and an old cycle only a full collection finds"
run resurrection "PEP 442: a finalizer resurrects its object, and never runs again"
run legacy_garbage "a legacy finalizer in a cycle: uncollectable, in the garbage list, until the program breaks the cycle"
run batch_job "a batch job with collection disabled: 142 collections that find nothing, avoided"
run registry_leak "a class-level registry keeps every instance alive; a weak-value map fixes it"
run callback_buffer "a callback that captures a large buffer keeps it alive while registered"
run weak_parent_tree "a tree with weak parent links dies by reference counting alone"
run slots "the __slots__ lesson: bytes per object with an attribute dict and with a fixed layout"
run debug_overflow "the debug allocator catches a one-byte overflow and shows where the block was allocated"
run spike_vs_leak "memory that stays high after a spike, told apart from a real leak"
run freeze_fork "freeze before fork: workers' full collections stop copying the heap"
run leaky_bus "the event bus that ate 8 GB, found with the tracer, and what holds the memory (snapshots, a why-alive picture and a heap snapshot for Chrome DevTools in $out)" "$out"
if [ -f "$out/leaky_bus.heapsnapshot" ]; then
  printf '   open %s in Chrome DevTools (Memory, Load) or memlab: the bus retains the listeners\n' \
    "$out/leaky_bus.heapsnapshot"
fi

if [ -f "$out/leaky_bus_before.snap" ]; then
  printf '\n== rcgc-snapshot: the same leak, as tracemalloc would report it\n'
  "$bin/rcgc-snapshot" diff "$out/leaky_bus_before.snap" "$out/leaky_bus_after.snap" --top 3 || status=1
  "$bin/rcgc-snapshot" diff "$out/leaky_bus_before.snap" "$out/leaky_bus_after.snap" \
    --format html -o "$out/leaky_bus.html" || status=1
fi

# rcl, the small language of examples/lang (docs/embedding.md): every value
# an rcgc object, __del__ a PEP 442 finalizer, the tracer's frames the
# script's own lines.
rcl() { # SCRIPT INTRO
  printf '\n== rcl %s: %s\n' "$1" "$2"
  rcl_bin=$(cd "$(dirname "$bin/rcl")" && pwd)/rcl
  (cd "$(dirname "$0")/lang/tests" && "$rcl_bin" "$1") || { echo "   (rcl exited with status $?)"; status=1; }
}
rcl opening_puzzle.rcl "the opening puzzle, in a script: a cycle of two instances, collected"
rcl leaky_bus.rcl "the leaking bus in a script: growth by type and a snapshot diff at the script's own lines; a WeakSet fixes it"

# The production pattern: the program runs with tracing off and the live
# diagnostics endpoint on; rcgc-ctl asks it for a one-second trace window.
if [ -x "$bin/serve_leak" ] && [ -x "$bin/rcgc-ctl" ]; then
  printf '\n== serve_leak + rcgc-ctl: ask a running program what grew, over its diagnostics socket\n'
  rm -f "$out/serve.sock" "$out/serve.token"
  "$bin/serve_leak" "$out/serve.sock" "$out/serve.token" 20 >"$out/serve_leak.out" 2>&1 &
  spid=$!
  i=0
  while { [ ! -S "$out/serve.sock" ] || [ ! -s "$out/serve.token" ]; } && [ $i -lt 100 ]; do
    i=$((i + 1)); sleep 0.1
  done
  echo "\$ rcgc-ctl --token-file serve.token serve.sock trace 1"
  "$bin/rcgc-ctl" --token-file "$out/serve.token" "$out/serve.sock" trace 1 || status=1
  echo "\$ rcgc-ctl --token-file serve.token serve.sock counts"
  "$bin/rcgc-ctl" --token-file "$out/serve.token" "$out/serve.sock" counts || status=1
  "$bin/rcgc-ctl" --token-file "$out/serve.token" "$out/serve.sock" quit >/dev/null || status=1
  wait $spid || { echo "   (serve_leak exited with status $?)"; status=1; }
fi

printf '\nPictures and reports are in %s:\n' "$out"
ls "$out" | sed 's/^/  /'
exit $status

#!/bin/sh
# valgrind.sh BUILD_DIR: every test program under valgrind memcheck; fails on
# any error or leak.  Deep-chain tests shrink 100x (RCGC_TEST_SCALE).
set -u
bin=$1/bin
status=0
for t in "$bin"/test_*; do
  [ -x "$t" ] || continue
  case "$t" in
    *test_threads) continue ;;  # ThreadSanitizer covers it
    *test_harness) continue ;;  # crashes on purpose (CTest harness_fork)
  esac
  echo "== valgrind $t"
  if ! RCGC_TEST_SCALE=100 valgrind -q --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite,indirect --child-silent-after-fork=yes \
      "$t" >"$t.valgrind.log" 2>&1; then
    cat "$t.valgrind.log"
    status=1
  else
    tail -n 1 "$t.valgrind.log"
  fi
done
exit $status

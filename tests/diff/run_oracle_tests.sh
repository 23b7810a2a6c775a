#!/bin/sh
# run_oracle_tests.sh RUNNER: the live differential test of `make test`:
# every hand-written case, 500 random version-1 scenarios (seeds 1-500) and
# 2,000 random version-2 scenarios (gen.py --v2, seeds 1-2000), the CPython
# oracle (batch mode: one process per job, a fork per file) against RUNNER.  The oracle must be CPython 3.11 (the contract's);
# with another python3 the test is skipped (exit 77), and the stored
# expectations (diff_expected) still check the runner.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if ! python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "skipped: python3 is $(python3 -V 2>&1), the oracle needs CPython 3.11"
  exit 77
fi
python3 "$here/compare.py" -q -j 2 --batch -b "$1" --gen-seeds 1-500 "$here"/cases/*.scn
exec python3 "$here/compare.py" -q -j 2 --batch -b "$1" --gen-seeds 1-2000 --gen-args=--v2

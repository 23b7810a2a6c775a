#!/bin/sh
# check_install.sh SOURCE_DIR BUILD_DIR WORK_DIR
# Installs the build into a scratch prefix, then builds the README example
# against it twice: with the pkg-config file and with find_package(rcgc).
set -eu
src=$1 build=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
pc=$(find "$work/prefix" -name rcgc.pc | head -n 1)
[ -n "$pc" ] || { echo "rcgc.pc was not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")

if command -v pkg-config >/dev/null 2>&1; then
  export PKG_CONFIG_PATH="$(dirname "$pc")"
  cflags=$(pkg-config --cflags rcgc)
  libs=$(pkg-config --libs rcgc)
else
  # No pkg-config: resolve the file's variables ourselves (python3 is assumed).
  eval "$(python3 - "$pc" <<'PY'
import os, re, sys
vars = {'pcfiledir': os.path.dirname(os.path.abspath(sys.argv[1]))}
out = {}
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.match(r'^(\w+)=(.*)$', line) or re.match(r'^(\w+):\s*(.*)$', line)
    if not m: continue
    val = re.sub(r'\$\{(\w+)\}', lambda v: vars[v.group(1)], m.group(2))
    (vars if '=' in line.split(':')[0] else out)[m.group(1)] = val
print("cflags='%s'\nlibs='%s'" % (out.get('Cflags', ''), out.get('Libs', '')))
PY
)"
fi
cc -std=c11 $cflags "$src/examples/readme_example.c" $libs -o "$work/readme_pc"
LD_LIBRARY_PATH="$libdir" "$work/readme_pc" | grep -q "collect() found 2 unreachable objects"
echo "pkg-config: ok ($cflags $libs)"

cmake -S "$src/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer" | grep -q "collect() found 2 unreachable objects"
echo "find_package(rcgc): ok"

#!/bin/sh
# check_install.sh SOURCE_DIR BUILD_DIR WORK_DIR
# Installs the build into a scratch prefix (not one the loader searches),
# then builds the README example against it and RUNS it, with
# LD_LIBRARY_PATH unset, as a user would (README, "Using it"):
#   1. the README's pkg-config line: linked with librcgc.so, found at run time
#      through the rpath the installed rcgc.pc adds for such a prefix;
#   2. pkg-config, static: the README's line for librcgc.a;
#   3. find_package(rcgc): rcgc::rcgc (static) and rcgc::rcgc_shared.
# Then installs to /usr under a DESTDIR: that rcgc.pc has no rpath.
set -eu
src=$1 build=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
unset LD_LIBRARY_PATH
expect="collect() found 2 unreachable objects"

cmake --install "$build" --prefix "$work/prefix" >/dev/null
pc=$(find "$work/prefix" -name rcgc.pc | head -n 1)
[ -n "$pc" ] || { echo "rcgc.pc was not installed"; exit 1; }

# The installed file, its variables resolved as pkg-config does; without
# pkg-config, by python3.
pcvar() { # pkg-config ARGS...
  if command -v pkg-config >/dev/null 2>&1; then
    PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config "$@" rcgc
  else
    python3 - "$pc" "$@" <<'PY'
import os, re, sys
vars = {'pcfiledir': os.path.dirname(os.path.abspath(sys.argv[1]))}
out = {}
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.match(r'^(\w+)=(.*)$', line) or re.match(r'^([\w.]+):\s*(.*)$', line)
    if not m: continue
    val = re.sub(r'\$\{(\w+)\}', lambda v: vars[v.group(1)], m.group(2))
    (vars if '=' in line.split(':')[0] else out)[m.group(1)] = val
args = sys.argv[2:]
if args[0] == '--cflags': print(out.get('Cflags', ''))
elif args[0] == '--libs': print(out.get('Libs', ''))
elif args[0].startswith('--variable='): print(vars[args[0].split('=', 1)[1]])
PY
  fi
}
cflags=$(pcvar --cflags)
libs=$(pcvar --libs)
libdir=$(pcvar --variable=libdir)
case "$libs" in
  *-Wl,-rpath,*) ;;
  *) echo "rcgc.pc installed to a custom prefix has no rpath in Libs: $libs"; exit 1 ;;
esac

# linked_rcgc PROGRAM: the librcgc the loader resolves for it ("" if none).
linked_rcgc() { ldd "$1" 2>/dev/null | sed -n 's/^[[:space:]]*\(librcgc[^ ]*\) => \([^ ]*\).*/\1 \2/p'; }

# 1. Shared, the README's line.
cc -std=c11 $cflags "$src/examples/readme_example.c" $libs -o "$work/readme_pc"
so=$(linked_rcgc "$work/readme_pc")
case "$so" in
  *"$work/prefix/"*) ;;
  *) echo "readme_pc: librcgc not resolved from the prefix (ldd: '${so:-nothing}')"; exit 1 ;;
esac
out=$("$work/readme_pc") || { echo "readme_pc failed to run (status $?): $out"; exit 1; }
echo "$out" | grep -q "$expect" || { echo "readme_pc printed: $out"; exit 1; }
echo "pkg-config, shared: ok ($so, no LD_LIBRARY_PATH)"

# 2. Static, the README's line.
cc -std=c11 $cflags "$src/examples/readme_example.c" "$libdir/librcgc.a" -lm -ldl \
   -o "$work/readme_pc_static"
[ -z "$(linked_rcgc "$work/readme_pc_static")" ] || { echo "readme_pc_static needs librcgc.so"; exit 1; }
"$work/readme_pc_static" | grep -q "$expect"
echo "pkg-config, static: ok"

# 3. CMake.
cmake -S "$src/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
[ -z "$(linked_rcgc "$work/consumer/consumer")" ] || { echo "consumer (rcgc::rcgc) needs librcgc.so"; exit 1; }
"$work/consumer/consumer" | grep -q "$expect"
so=$(linked_rcgc "$work/consumer/consumer_shared")
case "$so" in
  *"$work/prefix/"*) ;;
  *) echo "consumer_shared: librcgc not resolved from the prefix (ldd: '${so:-nothing}')"; exit 1 ;;
esac
"$work/consumer/consumer_shared" | grep -q "$expect"
echo "find_package(rcgc): ok (rcgc::rcgc static, rcgc::rcgc_shared $so)"

# A system prefix: no rpath (the loader searches there by itself).
DESTDIR="$work/root" cmake --install "$build" --prefix /usr >/dev/null
syspc=$(find "$work/root" -name rcgc.pc | head -n 1)
[ -n "$syspc" ] || { echo "rcgc.pc was not installed under DESTDIR"; exit 1; }
if grep -q rpath "$syspc"; then echo "rcgc.pc for /usr has an rpath: $(grep '^Libs:' "$syspc")"; exit 1; fi
echo "prefix /usr: rcgc.pc without rpath: ok"

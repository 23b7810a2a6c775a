#!/bin/sh
# The live diagnostics endpoint end to end: start examples/serve_leak (a
# program leaking one listener per request from one line), ask it with
# rcgc-ctl for a one-second trace, check that the leaking file:line is on
# top (table and JSON), that the bus holds the memory (retained), check that server strings reach the terminal
# without control bytes, check rcgc-ctl's error exits, then ask the program
# to quit and check it left nothing behind (no object, no socket, no token
# file).
#
# usage: serve_leak_test.sh SERVE_LEAK RCGC_CTL SERVE_LEAK_SOURCE
set -u
prog=$1
ctl=$2
src=$3
dir=$(mktemp -d /tmp/rcgc-serve-test.XXXXXX) || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$dir/out" ] && { echo "--- program output:"; cat "$dir/out"; }
    exit 1
}

"$prog" "$dir/sock" "$dir/token" 60 >"$dir/out" 2>&1 &
pid=$!
i=0
while [ ! -S "$dir/sock" ] || [ ! -s "$dir/token" ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && fail "the program did not start serving"
    sleep 0.1
done
mode=$(stat -c %a "$dir/sock")
[ "$mode" = 600 ] || fail "socket mode $mode, expected 600"
mode=$(stat -c %a "$dir/token")
[ "$mode" = 600 ] || fail "token file mode $mode, expected 600"

line=$(grep -n 'serve_leak: the leak' "$src" | cut -d: -f1)
[ -n "$line" ] || fail "cannot find the leaking line in $src"

# The table: a header line, then the statistics, largest growth first.
out=$("$ctl" --token-file "$dir/token" "$dir/sock" trace 1) || fail "trace 1 failed: $out"
echo "$out"
top=$(echo "$out" | sed -n 2p)
case "$top" in
*"serve_leak.c:$line: size="*) ;;
*) fail "the top of the trace is not serve_leak.c:$line: $top" ;;
esac

# What holds the memory: the bus, which retains every listener.
out=$("$ctl" --token-file "$dir/token" "$dir/sock" retained 3) || fail "retained 3 failed: $out"
echo "$out"
first=$(echo "$out" | sed -n 4p)
case "$first" in
*" root "*"<bus "*) ;;
*) fail "the largest retainer is not the bus: $first" ;;
esac
echo "$out" | grep -q ' listener$' || fail "no listener row among the types"

# The JSON: the first statistic names the line.
json=$(RCGC_CTL_TOKEN=$(cat "$dir/token") "$ctl" --json "$dir/sock" trace 1 3) || fail "trace --json failed"
first=$(echo "$json" | sed 's/.*"stats":\[{//' | cut -d'}' -f1)
case "$first" in
*'serve_leak.c","line":'"$line"','*) ;;
*) fail "the first JSON statistic is not line $line: $first" ;;
esac

# why: the bus holds the listeners.
out=$("$ctl" --token-file "$dir/token" "$dir/sock" why listener 1) || fail "why failed"
echo "$out"
echo "$out" | grep -q "root bus" || fail "why does not name the bus: $out"

# Server strings reach the terminal without control bytes: the type name
# (echoed back by the server) carries an escape sequence and a BEL; the
# table shows '?' for them, --json keeps the exact (escaped) JSON.
esc=$(printf 'a\033]0;x\007b')
out=$("$ctl" --token-file "$dir/token" "$dir/sock" why "$esc" 1) || fail "why (escape) failed"
echo "$out" | grep -q "of type a?]0;x?b;" || fail "control bytes not replaced: $out"
printf '%s' "$out" | tr -d '\n' | LC_ALL=C grep -q "$(printf '[\001-\037\177]')" &&
    fail "a control byte reached the terminal"
json=$("$ctl" --json --token-file "$dir/token" "$dir/sock" why "$esc" 1) || fail "why --json failed"
echo "$json" | grep -q '"type":"a\\u001b\]0;x\\u0007b"' || fail "--json changed: $json"

# Errors and exit codes: bad token 1, usage 2, no server 3.
"$ctl" --token wrong-token "$dir/sock" stats 2>"$dir/err"
rc=$?
[ $rc -eq 1 ] || fail "bad token: exit $rc, expected 1"
grep -q "bad token" "$dir/err" || fail "bad token: message: $(cat "$dir/err")"
"$ctl" --token-file "$dir/token" "$dir/sock" trace 2>/dev/null
[ $? -eq 2 ] || fail "usage error: expected exit 2"
"$ctl" --token x "$dir/nosuch" stats 2>/dev/null
[ $? -eq 3 ] || fail "no server: expected exit 3"

# Quit, and nothing left behind.
"$ctl" --token-file "$dir/token" "$dir/sock" quit || fail "quit failed"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "the program exited with $rc"
grep -q "teardown: 0 objects alive" "$dir/out" || fail "objects left at teardown"
[ -e "$dir/sock" ] && fail "the socket file is still there"
[ -e "$dir/token" ] && fail "the token file is still there"
echo "ok: serve_leak.c:$line found by a one-second trace"
exit 0

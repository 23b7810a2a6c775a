#!/bin/sh
# serve_test.sh RCL RCGC_CTL: run serve_leak.rcl with the endpoint and ask
# it, with rcgc-ctl, for counts, a one-second trace (which must name the
# script's line) and why a Listener is alive, then quit.  CTest rcl_serve.
set -u
rcl=$1
ctl=$2
cd "$(dirname "$0")" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
RCL_SOCKET=$tmp/sock RCL_TOKEN=$tmp/token "$rcl" serve_leak.rcl >"$tmp/out" 2>&1 &
pid=$!
i=0
while { [ ! -S "$tmp/sock" ] || [ ! -s "$tmp/token" ]; } && [ $i -lt 100 ]; do
  i=$((i + 1)); sleep 0.1
done
fail=0
ask() { "$ctl" --token-file "$tmp/token" "$tmp/sock" "$@" >"$tmp/answer" 2>&1; cat "$tmp/answer"; }
expect() { grep -q "$1" "$tmp/answer" || { echo "FAIL: no '$1' in the answer"; fail=1; }; }
ask counts 3; expect "Listener"
ask trace 1; expect "serve_leak.rcl:13: size="
ask why Listener 1; expect "listeners"
ask quit; expect "quitting"
wait $pid || { echo "FAIL: rcl exited with $?"; fail=1; }
cat "$tmp/out"
grep -q "^served [0-9]* requests" "$tmp/out" || { echo "FAIL: no 'served' line"; fail=1; }
exit $fail

#!/bin/sh
# rcgc-ctl against a fake server (fake_server.c) at the socket path, which
# answers whatever the test tells it to (issue 20):
#   uid      the server's uid is checked before anything is sent: a server
#            of another uid than the expected one gets nothing (not even the
#            token); --server-uid names the expected uid
#   json     --json escapes the control bytes of a hostile answer; the
#            table output shows them as '?'
#   memory   --max-answer bounds the answer (a clear error past it); a
#            50 MB answer is read within a 300 MB address-space limit
#            (the issue measured 1.2 GB)
#   timeout  --timeout works, and values that would overflow the poll
#            timeout (past 24.8 days) are refused with a message
#
# usage: ctl_test.sh FAKE_SERVER RCGC_CTL [PART...]
set -u
fake=$1
ctl=$2
shift 2
parts=${*:-uid json memory timeout}
dir=$(mktemp -d /tmp/rcgc-ctl-test.XXXXXX) || exit 1
spid=
failures=0
cleanup() {
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -s "$dir/err" ] && { echo "--- stderr:"; head -c 2000 "$dir/err"; echo; }
    failures=$((failures + 1))
}
# serve ANSWER [COMMAND PREFIX...]: a fake server at $dir/sock, listening
# when this returns
serve() {
    rm -f "$dir/sock" "$dir/sock.ready" "$dir/sock.recv"
    answer=$1
    shift
    "$@" "$fake" "$dir/sock" "$answer" &
    spid=$!
    i=0
    while [ ! -e "$dir/sock.ready" ]; do
        i=$((i + 1))
        [ $i -gt 200 ] && { echo "FAIL: the fake server did not start"; exit 1; }
        sleep 0.02
    done
}
# done_serving: the fake server has finished (or is stopped)
done_serving() {
    [ -n "$spid" ] || return 0
    i=0
    while kill -0 "$spid" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 250 ] && { kill "$spid" 2>/dev/null; break; }
        sleep 0.02
    done
    wait "$spid" 2>/dev/null
    spid=
}
# run ARGS...: rcgc-ctl with the token, stdout in $dir/out, stderr in
# $dir/err, exit status in $rc
run() {
    "$ctl" --token test-token-secret "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
}
me=$(id -u)
other=$((me + 1))
printf '{"ok":true,"cmd":"ping","pid":77,"version":"9.9.9"}\n' >"$dir/ping.json"

part_uid() {
    # the expected uid (ours, by default): the token is sent, the answer read
    serve "file:$dir/ping.json"
    run "$dir/sock" ping
    done_serving
    [ $rc -eq 0 ] || fail "uid: own server: exit $rc, expected 0"
    grep -q "pong: pid 77, rcgc 9.9.9" "$dir/out" || fail "uid: own server: $(cat "$dir/out")"
    grep -q "test-token-secret" "$dir/sock.recv" || fail "uid: the token did not reach the server"

    # a server of another uid than expected: refused, nothing sent
    serve "file:$dir/ping.json"
    run --server-uid "$other" "$dir/sock" ping
    done_serving
    [ $rc -eq 3 ] || fail "uid: unexpected server uid: exit $rc, expected 3"
    grep -q "the server runs as uid $me, not $other: refusing" "$dir/err" ||
        fail "uid: unexpected server uid: message: $(cat "$dir/err")"
    [ -s "$dir/sock.recv" ] && fail "uid: bytes were sent to a server of another uid: $(cat "$dir/sock.recv")"
    grep -q "pong" "$dir/out" && fail "uid: the answer of a refused server was printed"

    # as root: the attack itself, a server of another user (nobody) that
    # got the socket path first; rcgc-ctl expects its own uid by default
    if [ "$me" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
        chmod 0777 "$dir"
        serve "file:$dir/ping.json" setpriv --reuid=65534 --regid=65534 --clear-groups
        run "$dir/sock" ping
        done_serving
        chmod 0700 "$dir"
        [ $rc -eq 3 ] || fail "uid: a server run by nobody: exit $rc, expected 3"
        grep -q "the server runs as uid 65534, not 0: refusing" "$dir/err" ||
            fail "uid: a server run by nobody: message: $(cat "$dir/err")"
        [ -s "$dir/sock.recv" ] && fail "uid: the token was sent to a server run by nobody: $(cat "$dir/sock.recv")"
    else
        echo "     (not root: the server run by another user is skipped)"
    fi

    # --server-uid naming the server's uid (by number and by name)
    serve "file:$dir/ping.json"
    run --server-uid "$me" "$dir/sock" ping
    done_serving
    [ $rc -eq 0 ] || fail "uid: --server-uid $me: exit $rc, expected 0"
    name=$(id -un 2>/dev/null)
    if [ -n "$name" ]; then
        serve "file:$dir/ping.json"
        run --server-uid "$name" "$dir/sock" ping
        done_serving
        [ $rc -eq 0 ] || fail "uid: --server-uid $name: exit $rc, expected 0"
    fi
    run --server-uid no-such-user-xyz "$dir/sock" ping
    [ $rc -eq 2 ] || fail "uid: --server-uid no-such-user-xyz: exit $rc, expected 2"
    run --server-uid 4294967295 "$dir/sock" ping
    [ $rc -eq 2 ] || fail "uid: --server-uid 4294967295: exit $rc, expected 2"
}

part_json() {
    # raw control bytes, DEL, a C1 control (U+009B as UTF-8) and an invalid
    # UTF-8 byte inside strings; an escaped one (\u001b) stays as it is
    printf '{"ok":true,"cmd":"ping","pid":77,"version":"a\033]0;x\007b\r\177c\302\233d\377e","note":"f\\u001bg","n\033k":1}\n' \
        >"$dir/hostile.json"
    serve "file:$dir/hostile.json"
    run --json "$dir/sock" ping
    done_serving
    [ $rc -eq 0 ] || fail "json: exit $rc, expected 0"
    tr -d '\n' <"$dir/out" | LC_ALL=C grep -q "$(printf '[\001-\037\177]')" &&
        fail "json: a control byte reached the terminal: $(od -c "$dir/out" | head -5)"
    LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$dir/out" &&
        fail "json: a C1 control reached the terminal"
    LC_ALL=C grep -q "$(printf '[\200-\377]')" "$dir/out" &&
        fail "json: a byte that is not ASCII was printed raw"
    want='{"ok":true,"cmd":"ping","pid":77,"version":"a\u001b]0;x\u0007b\r\u007fc\u009bd\u00ffe","note":"f\u001bg","n\u001bk":1}'
    [ "$(cat "$dir/out")" = "$want" ] || fail "json: got $(cat "$dir/out"), expected $want"
    [ "$(wc -l <"$dir/out")" -eq 1 ] || fail "json: not one line"
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json,sys; json.load(sys.stdin)' <"$dir/out" ||
            fail "json: the output is not valid JSON"
    fi
    # the table output: '?' for each
    serve "file:$dir/hostile.json"
    run "$dir/sock" ping
    done_serving
    [ $rc -eq 0 ] || fail "json: table: exit $rc"
    grep -q "pong: pid 77, rcgc a?]0;x?b??c?d?e" "$dir/out" || fail "json: table: $(od -c "$dir/out" | head)"
    # an error answer's message on stderr: the same
    printf '{"ok":false,"error":"bad\033[2Jthing"}\n' >"$dir/err.json"
    serve "file:$dir/err.json"
    "$ctl" --token t --json "$dir/sock" ping >"$dir/out" 2>"$dir/err2"
    rc=$?
    done_serving
    [ $rc -eq 1 ] || fail "json: error answer: exit $rc, expected 1"
    grep -q 'server: bad?\[2Jthing' "$dir/err2" || fail "json: error message: $(cat "$dir/err2")"
    grep -q '"error":"bad\\u001b\[2Jthing"' "$dir/out" || fail "json: error answer: $(cat "$dir/out")"
}

part_memory() {
    # past --max-answer: a clear error, exit 3
    serve "counts:2000000"
    run --max-answer 1000000 "$dir/sock" counts 0
    done_serving
    [ $rc -eq 3 ] || fail "memory: over --max-answer: exit $rc, expected 3"
    grep -q "the answer is larger than 1000000 bytes (--max-answer)" "$dir/err" ||
        fail "memory: over --max-answer: message: $(cat "$dir/err")"
    serve "string:2000000"
    run --max-answer 1M "$dir/sock" x
    done_serving
    [ $rc -eq 3 ] || fail "memory: over --max-answer 1M: exit $rc, expected 3"
    grep -q "larger than 1048576 bytes" "$dir/err" || fail "memory: 1M: $(cat "$dir/err")"
    run --max-answer 100 "$dir/sock" ping
    [ $rc -eq 2 ] || fail "memory: --max-answer 100: exit $rc, expected 2"
    # under the limit: every item printed
    serve "counts:2000000"
    run "$dir/sock" counts 0
    done_serving
    [ $rc -eq 0 ] || fail "memory: 2 MB answer: exit $rc"
    n=$(wc -l <"$dir/out")
    [ "$n" -ge 66000 ] || fail "memory: 2 MB answer: $n lines"
    # a 50 MB answer (1.7 million items) within 300 MB of address space,
    # as a table and as JSON (sanitizer builds reserve terabytes: skipped)
    if (ulimit -v 300000 && "$ctl" --version) >/dev/null 2>&1; then
        for mode in table json; do
            flag=
            [ $mode = json ] && flag=--json
            serve "counts:50000000"
            (ulimit -v 300000 && exec "$ctl" --token t $flag "$dir/sock" counts 0) \
                >"$dir/out" 2>"$dir/err"
            rc=$?
            done_serving
            [ $rc -eq 0 ] || fail "memory: 50 MB answer ($mode) in 300 MB: exit $rc"
            size=$(wc -c <"$dir/out")
            [ "$size" -gt 25000000 ] || fail "memory: 50 MB answer ($mode): $size bytes out"
        done
    else
        echo "     (address-space limit not usable here: the 50 MB part is skipped)"
    fi
}

part_timeout() {
    # a server that never answers: given up after --timeout
    serve "silent:4"
    t0=$(date +%s)
    run --timeout 1 "$dir/sock" ping
    t1=$(date +%s)
    kill "$spid" 2>/dev/null
    done_serving
    [ $rc -eq 3 ] || fail "timeout: exit $rc, expected 3"
    grep -q "no answer within 1 s" "$dir/err" || fail "timeout: message: $(cat "$dir/err")"
    [ $((t1 - t0)) -le 3 ] || fail "timeout: took $((t1 - t0)) s"
    # past what a poll timeout holds (24.8 days): refused, not waited on
    for t in 2147484 999999999; do
        run --timeout $t "$dir/nosuch" ping
        [ $rc -eq 2 ] || fail "timeout: --timeout $t: exit $rc, expected 2"
        grep -q -- "--timeout must be a number from 0 to 86400" "$dir/err" ||
            fail "timeout: --timeout $t: message: $(cat "$dir/err")"
    done
    run "$dir/nosuch" trace 999999999
    [ $rc -eq 2 ] || fail "timeout: trace 999999999: exit $rc, expected 2"
    grep -q "SECONDS must be a number from 0 to 86400" "$dir/err" ||
        fail "timeout: trace 999999999: message: $(cat "$dir/err")"
}

for p in $parts; do
    before=$failures
    "part_$p"
    [ $failures -eq "$before" ] && echo "ok   $p"
done
[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
exit 0

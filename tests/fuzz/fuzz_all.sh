#!/bin/sh
# fuzz_all.sh FUZZ_BUILD_DIR SECONDS SOURCE_DIR [TARGET...]
#
# Run every libFuzzer target (or the ones named) for SECONDS each, one
# after the other, in FUZZ_BUILD_DIR (make fuzz builds it there; make fuzz
# and make fuzz-long call this).  Each target grows its own corpus there
# (corpus-NAME; seeds-NAME holds its seeds) and leaves its findings as
# NAME-crash-*, NAME-leak-*, NAME-timeout-*, NAME-oom-* files there; its
# whole libFuzzer log is NAME.log.  A target stops at its first finding (the
# others still run).  At the end, one line per target: executions,
# libFuzzer's coverage (cov: edges, ft: features), corpus files and bytes,
# findings.  Exit status 1 when a target found something or failed to run.
set -u
dir=${1:?usage: fuzz_all.sh FUZZ_BUILD_DIR SECONDS SOURCE_DIR [TARGET...]}
secs=${2:?seconds per target}
src=${3:?source directory}
shift 3
targets=${*:-scenario snapshot serve serve_clients}
cd "$dir" || exit 1

run_one() {
    name=$1
    shift
    mkdir -p "corpus-$name" "seeds-$name"
    # seeds kept in the source tree (tests/fuzz/seeds-NAME), if any
    if [ -d "$src/tests/fuzz/seeds-$name" ]; then
        find "$src/tests/fuzz/seeds-$name" -type f ! -name README.md \
            -exec cp {} "seeds-$name/" \;
    fi
    rm -f "$name.log"
    # RCGC_FUZZ_SEEDS: the targets that write their own seeds at start-up
    RCGC_FUZZ_SEEDS="seeds-$name" "./bin/fuzz_$name" -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -artifact_prefix="./$name-" \
        -print_final_stats=1 "$@" "corpus-$name" "seeds-$name" >"$name.log" 2>&1
    echo "$?" >"$name.status"
}

for t in $targets; do
    echo "fuzz_all: fuzz_$t for $secs s (log: $dir/$t.log)"
    case $t in
    scenario)
        mkdir -p seeds-scenario
        cp "$src"/tests/diff/cases/*.scn "$src"/tests/fuzz/seeds/*.scn seeds-scenario/
        run_one scenario -dict="$src/tests/fuzz/scenario.dict" ;;
    snapshot) run_one snapshot ;;
    serve) run_one serve -max_len=4096 ;;
    serve_clients) run_one serve_clients -max_len=8192 ;;
    *) echo "fuzz_all: no target $t"; exit 2 ;;
    esac
done

status=0
echo
printf '%-14s %12s %8s %8s %8s %10s  %s\n' target executions cov ft corpus bytes findings
for t in $targets; do
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$t.log" | tail -n 1)
    # the last status line that carries cov: and ft:
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$t.log" | tail -n 1)
    cov=$(printf '%s\n' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    files=$(find "corpus-$t" -type f | wc -l)
    bytes=$(find "corpus-$t" -type f -exec cat {} + 2>/dev/null | wc -c)
    found=$(ls -d "$t"-crash-* "$t"-leak-* "$t"-timeout-* "$t"-oom-* "$t"-slow-unit-* 2>/dev/null | tr '\n' ' ')
    rc=$(cat "$t.status" 2>/dev/null || echo '?')
    [ -n "$found" ] || [ "$rc" != 0 ] && status=1
    [ -n "$found" ] || found="none"
    [ "$rc" = 0 ] || found="$found (exit $rc; see $t.log)"
    printf '%-14s %12s %8s %8s %8s %10s  %s\n' "$t" "${execs:-?}" "${cov:-?}" \
        "${ft:-?}" "$files" "$bytes" "$found"
done
exit $status

#!/bin/sh
# coverage.sh [TARGET...] - line coverage of the fuzz corpora (run from the
# source directory after make fuzz or make fuzz-long).  Builds the targets
# (default: serve serve_clients) with clang's source-based coverage into
# build/fuzz-cov (no sanitizers), runs each over build/fuzz/corpus-NAME and
# build/fuzz/seeds-NAME once (-runs=0), and prints llvm-cov's report for
# FILES (default: src/serve/serve.c src/serve/serve_client.c).  Needs
# clang, llvm-profdata and llvm-cov (Debian: clang, llvm).
set -eu
targets=${*:-serve serve_clients}
files=${FILES:-src/serve/serve.c src/serve/serve_client.c}
cov=build/fuzz-cov
CC=clang cmake -S . -B "$cov" -DCMAKE_BUILD_TYPE=Debug -DRCGC_FUZZ=ON \
    -DRCGC_BUILD_TESTS=OFF -DRCGC_BUILD_EXAMPLES=OFF -DRCGC_BUILD_BENCH=OFF \
    "-DCMAKE_C_FLAGS=-fprofile-instr-generate -fcoverage-mapping" \
    "-DCMAKE_EXE_LINKER_FLAGS=-fprofile-instr-generate" >/dev/null
for t in $targets; do
    cmake --build "$cov" -j2 --target "fuzz_$t" >/dev/null
    rm -f "$cov/$t.profraw"
    mkdir -p "build/fuzz/corpus-$t" "build/fuzz/seeds-$t"
    (cd build/fuzz && LLVM_PROFILE_FILE="../../$cov/$t.profraw" \
        "../../$cov/bin/fuzz_$t" -runs=0 "corpus-$t" "seeds-$t" >"../../$cov/$t.log" 2>&1)
    llvm-profdata merge -o "$cov/$t.profdata" "$cov/$t.profraw"
    echo "== fuzz_$t ($(find "build/fuzz/corpus-$t" "build/fuzz/seeds-$t" -type f | wc -l) inputs)"
    # shellcheck disable=SC2086 # FILES is a list
    llvm-cov report "$cov/bin/fuzz_$t" -instr-profile="$cov/$t.profdata" $files
done

# rcgc - top-level commands.  Everything builds with CMake under build/.
#
#   make          build the library, tools, examples and tests (build/bin/)
#   make demo     build what the tour needs, then run it (examples/tour.sh)
#   make test     build and run the whole suite, in the release build and in
#                 the debug build (RCGC_DEBUG=3: misuse checks, quarantine,
#                 invariant checks after every collection)
#   make test-sanitize   the suite under AddressSanitizer + UBSan
#   make test-tsan       the threads test under ThreadSanitizer
#   make test-valgrind   the suite under valgrind memcheck
#   make fuzz            fuzz the scenario runner, the snapshot loader, the
#                        diagnostics endpoint's requests and its clients
#                        over the socket (FUZZ_TIME=seconds each, 60; clang)
#   make fuzz-long       the same for FUZZ_LONG_TIME seconds each (3600),
#                        corpora kept in build/fuzz/corpus-*; prints each
#                        target's executions, coverage (cov:, ft:), corpus
#                        size and findings (files in build/fuzz/)
#   make difftest N=100000   N random v2 scenarios on rcgc and on CPython
#                            (difftest-v1: version-1 scenarios)
#   make bench           rcgc against glibc, mimalloc, jemalloc, Boehm GC and
#                        CPython, side by side: Markdown tables on stdout,
#                        records in build/bench/results.json
#                        (docs/performance.md; BENCH_ARGS=--quick to check)
#   make bench-alloc     the pool allocator against glibc, mimalloc, jemalloc
#   make bench-gc        full-collection cost against CPython (bench/README.md;
#                        BENCH_ARGS=--quick for 10^6 only)
#   make bench-diag      leak diagnosis on 2 million objects against CPython
#                        (docs/diagnosis.md; BENCH_ARGS=--quick for 200,000)
#   make bench-trace     the tracer's overhead against CPython's tracemalloc
#                        (bench/README.md; BENCH_ARGS=--quick for small sizes)
#   make install PREFIX=/usr/local
#
# CMAKE_FLAGS adds CMake options to every configuration (CI passes
# -DRCGC_WERROR=ON).

BUILD       ?= build
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE       ?= cmake
CMAKE_FLAGS ?=
PREFIX      ?= /usr/local

MAKEFLAGS += --no-print-directory

configure = $(CMAKE) -S . -B $(1) $(CMAKE_FLAGS) $(2) >/dev/null
ctest     = cd $(1) && ctest --output-on-failure -j$(JOBS) $(2)

.PHONY: all demo test test-release test-debug test-sanitize test-tsan \
        test-valgrind bench bench-gc bench-alloc bench-diag bench-trace fuzz \
        difftest difftest-v1 install clean

all:
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	$(CMAKE) --build $(BUILD) -j$(JOBS)

# make demo: only what the tour runs (CMake target demo: the library, the
# examples and the two tools examples/tour.sh calls), in the same build
# directory and configuration as `make`, so `make` and `make test` go on
# from there; then the tour.
demo:
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target demo
	@examples/tour.sh $(BUILD) $(BUILD)/demo

test: test-release test-debug

test-release: all
	$(call ctest,$(BUILD))

test-debug:
	@$(call configure,$(BUILD)/debug,-DCMAKE_BUILD_TYPE=Debug -DRCGC_DEBUG=3 -DRCGC_BUILD_BENCH=OFF)
	$(CMAKE) --build $(BUILD)/debug -j$(JOBS)
	$(call ctest,$(BUILD)/debug)

test-sanitize:
	@$(call configure,$(BUILD)/asan,-DCMAKE_BUILD_TYPE=Debug -DRCGC_DEBUG=3 -DRCGC_SANITIZE=address$(,)undefined -DRCGC_BUILD_BENCH=OFF)
	$(CMAKE) --build $(BUILD)/asan -j$(JOBS)
	$(call ctest,$(BUILD)/asan)

test-tsan:
	@$(call configure,$(BUILD)/tsan,-DCMAKE_BUILD_TYPE=Debug -DRCGC_SANITIZE=thread -DRCGC_BUILD_BENCH=OFF -DRCGC_BUILD_EXAMPLES=OFF)
	$(CMAKE) --build $(BUILD)/tsan -j$(JOBS) --target test_threads
	$(call ctest,$(BUILD)/tsan,-R threads)

test-valgrind: all
	tests/valgrind.sh $(BUILD)

# make bench: every suite of bench/bench.py.  The peers come from Debian
# (libgc-dev, libmimalloc-dev, libjemalloc-dev): installed here when one is
# missing and we are root with apt-get; otherwise the missing peer's rows are
# skipped with a note.
bench:
	@if { [ ! -e /usr/include/gc.h ] || [ ! -e /usr/include/mimalloc.h ] || [ ! -e /usr/include/jemalloc/jemalloc.h ]; } && \
	    [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing the peers to measure against (libgc-dev libmimalloc-dev libjemalloc-dev)"; \
	  apt-get install -y -qq libgc-dev libmimalloc-dev libjemalloc-dev >/dev/null 2>&1 || true; fi
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	$(CMAKE) --build $(BUILD) -j$(JOBS)
	python3 bench/bench.py --build $(BUILD) $(BENCH_ARGS)

bench-gc: all
	python3 bench/gc_collect.py --bin $(BUILD)/bin/gc_full $(BENCH_ARGS)

# make bench-diag: counts by type, why-alive and get_referrers on 2 million
# objects, rcgc against CPython's gc module and objgraph's algorithm
# (bench/diag_bench.py; table on stdout, records in build/bench/diag.json).
bench-diag:
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target diag_bench
	python3 bench/diag_bench.py --bin $(BUILD)/bin/diag_bench --json $(BUILD)/bench/diag.json $(BENCH_ARGS)

# Fuzz with libFuzzer (clang) for FUZZ_TIME seconds per target, one after
# the other (tests/fuzz/fuzz_all.sh): the scenario parser and runner, the
# snapshot loader (with everything it feeds), the endpoint's request path,
# and the endpoint's sockets and client state machine (scripts of several
# clients).  Each target NAME grows build/fuzz/corpus-NAME from
# build/fuzz/seeds-NAME (the scenario cases; the others write theirs at
# start-up), logs to build/fuzz/NAME.log and leaves findings as
# build/fuzz/NAME-crash-* (-leak-, -timeout-, -oom-); a summary table ends
# the run, and its status is 1 when something was found.  fuzz-long: the
# same for FUZZ_LONG_TIME seconds per target (an hour: four hours in all on
# one core), for the CPU-hour runs; FUZZ_TARGETS="serve_clients" runs some.
FUZZ_TIME ?= 60
FUZZ_LONG_TIME ?= 3600
FUZZ_TARGETS ?= scenario snapshot serve serve_clients
.PHONY: fuzz-build fuzz-long
fuzz-build:
	@command -v clang >/dev/null || { echo "make fuzz needs clang and libclang-rt-14-dev (Debian packages)"; exit 1; }
	@CC=clang $(call configure,$(BUILD)/fuzz,-DCMAKE_BUILD_TYPE=Debug -DRCGC_DEBUG=3 -DRCGC_SANITIZE=address$(,)undefined -DRCGC_FUZZ=ON -DRCGC_BUILD_TESTS=OFF -DRCGC_BUILD_EXAMPLES=OFF -DRCGC_BUILD_BENCH=OFF)
	$(CMAKE) --build $(BUILD)/fuzz -j$(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-build
	tests/fuzz/fuzz_all.sh $(BUILD)/fuzz $(FUZZ_TIME) $(CURDIR) $(FUZZ_TARGETS)

fuzz-long: fuzz-build
	tests/fuzz/fuzz_all.sh $(BUILD)/fuzz $(FUZZ_LONG_TIME) $(CURDIR) $(FUZZ_TARGETS)

# A long differential campaign: N random version-2 scenarios (gen.py --v2,
# seeds 1..N) on the C runner and on CPython's oracle in batch mode; differing
# scenarios are kept in build/difftest-failures.  difftest-v1: the same with
# version-1 scenarios.
N ?= 100000
difftest: all
	python3 tests/diff/compare.py -q -j$(JOBS) --batch -b $(BUILD)/bin/rcgc-scenario \
	  --gen-seeds 1-$(N) --gen-args=--v2 --keep $(BUILD)/difftest-failures
difftest-v1: all
	python3 tests/diff/compare.py -q -j$(JOBS) --batch -b $(BUILD)/bin/rcgc-scenario \
	  --gen-seeds 1-$(N) --keep $(BUILD)/difftest-failures

# make bench-alloc: the pool allocator against glibc malloc, mimalloc and
# jemalloc (bench/alloc_bench.py; BENCH_ARGS=--quick for small sizes).
# Missing allocator libraries are installed with apt-get where possible.
bench-alloc:
	@python3 bench/alloc_bench.py --install-deps
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target alloc_benches
	python3 bench/alloc_bench.py --bin-dir $(BUILD)/bin $(BENCH_ARGS)

# make bench-trace: what the allocation tracer costs, in each of its modes,
# beside CPython's tracemalloc (bench/trace_bench.py; BENCH_ARGS=--quick for
# small sizes; table on stdout, records in $(BUILD)/bench/trace.json).
bench-trace:
	@$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=RelWithDebInfo)
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target trace_bench
	python3 bench/trace_bench.py --bin $(BUILD)/bin/trace_bench --json $(BUILD)/bench/trace.json $(BENCH_ARGS)

install: all
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)

, := ,

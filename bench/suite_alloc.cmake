# Allocation-side benchmarks of `make bench` (bench/suite_alloc.py):
# binary-trees and GCBench on rcgc objects (alloc_bench_rcgc bintree_obj /
# gcbench_obj), glibc, mimalloc, jemalloc (the alloc_bench_* binaries of
# CMakeLists.txt) and Boehm GC (alloc_bench_boehm, below).  A missing library
# only removes its binary; the suite notes it and skips that system.
set(RCGC_SUITE_ALLOC_BENCHES ${RCGC_ALLOC_BENCHES})
find_path(RCGC_BOEHM_INCLUDE gc.h)
find_library(RCGC_BOEHM_LIB gc)
if(RCGC_BOEHM_INCLUDE AND RCGC_BOEHM_LIB)
  add_executable(alloc_bench_boehm alloc_bench.c)
  target_compile_definitions(alloc_bench_boehm PRIVATE BENCH_BOEHM=1)
  target_include_directories(alloc_bench_boehm PRIVATE ${RCGC_BOEHM_INCLUDE})
  target_link_libraries(alloc_bench_boehm PRIVATE ${RCGC_BOEHM_LIB} rcgc_warnings)
  target_compile_options(alloc_bench_boehm PRIVATE -O2)
  list(APPEND RCGC_SUITE_ALLOC_BENCHES alloc_bench_boehm)
else()
  message(STATUS "rcgc bench: Boehm GC (gc.h, libgc) not found: no alloc_bench_boehm")
endif()
add_custom_target(suite_alloc_benches DEPENDS ${RCGC_SUITE_ALLOC_BENCHES})

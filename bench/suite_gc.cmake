# Collection-side benchmarks of `make bench` (bench/suite_gc.py).
# gc_full (full collections, rcgc side) is defined in bench/CMakeLists.txt;
# these are the other programs suite_gc.py runs.  Every binary lands in
# <build>/bin (CMAKE_RUNTIME_OUTPUT_DIRECTORY of the top-level CMakeLists).

# gc_shapes: pyperformance's gc_collect and gc_traversal shapes, and bytes per
# tracked object (bench/gc_shapes.py is CPython's side).
add_executable(gc_shapes gc_shapes.c)
target_link_libraries(gc_shapes PRIVATE rcgc_static rcgc_warnings)
target_compile_options(gc_shapes PRIVATE -O2)

# gc_pause: pause times of automatic collections under a steady allocation
# workload (bench/gc_pause.py is CPython's side).
add_executable(gc_pause gc_pause.c)
target_link_libraries(gc_pause PRIVATE rcgc_static rcgc_warnings)
target_compile_options(gc_pause PRIVATE -O2)

# gc_requests: a cycle-heavy request loop, each request's object graph
# dropped as cyclic garbage: peak memory, time and pauses of the collection
# policies (bench/gc_policy.py runs it with the others under each policy).
add_executable(gc_requests gc_requests.c)
target_link_libraries(gc_requests PRIVATE rcgc_static rcgc_warnings)
target_compile_options(gc_requests PRIVATE -O2)

# gc_young: young collections of 700 objects beside 10^4 and 10^7 old ones
# (issue 17: the same time whatever the old heap; bench/gc_young.py is
# CPython's side).
add_executable(gc_young gc_young.c)
target_link_libraries(gc_young PRIVATE rcgc_static rcgc_warnings)
target_compile_options(gc_young PRIVATE -O2)

set(RCGC_GC_BENCHES gc_full gc_shapes gc_pause gc_requests gc_young)

# gc_boehm: the full-collection shapes on the Boehm GC (libgc-dev); without
# the library there is no binary and suite_gc.py skips the Boehm column.
find_path(RCGC_BOEHM_INCLUDE gc.h)
find_library(RCGC_BOEHM_LIB gc)
if(RCGC_BOEHM_INCLUDE AND RCGC_BOEHM_LIB)
  add_executable(gc_boehm gc_boehm.c)
  target_include_directories(gc_boehm PRIVATE ${RCGC_BOEHM_INCLUDE})
  target_link_libraries(gc_boehm PRIVATE ${RCGC_BOEHM_LIB} rcgc_warnings)
  target_compile_options(gc_boehm PRIVATE -O2)
  list(APPEND RCGC_GC_BENCHES gc_boehm)
endif()
add_custom_target(gc_benches DEPENDS ${RCGC_GC_BENCHES})

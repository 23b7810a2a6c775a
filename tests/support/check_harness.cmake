# cmake -DPROG=path/to/test_harness -P check_harness.cmake
#
# The per-process option must keep running after a crash: test_harness
# --fork has one test that aborts and one that fails a check; the others must
# pass, the crash must be reported with its signal, the summary must count
# 3 of 5, and the exit status must be non-zero.  The same through
# RCGC_TEST_FORK=1.  Without the option the abort ends the program after the
# first two tests.
function(run_case label)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  set(rc "${rc}" PARENT_SCOPE)
  set(out "${out}" PARENT_SCOPE)
  message(STATUS "${label}: exit ${rc}\n${out}")
endfunction()

function(expect label text)
  string(FIND "${out}" "${text}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${label}: output lacks \"${text}\"")
  endif()
endfunction()

foreach(mode flag env)
  if(mode STREQUAL flag)
    run_case("--fork" ${PROG} --fork)
  else()
    run_case("RCGC_TEST_FORK=1" ${CMAKE_COMMAND} -E env RCGC_TEST_FORK=1 ${PROG})
  endif()
  if(rc EQUAL 0)
    message(FATAL_ERROR "${mode}: exit status 0 although two tests failed")
  endif()
  expect(${mode} "ok   passes_first\n")
  expect(${mode} "ok   passes_second\n")
  expect(${mode} "FAIL aborts_on_purpose (killed by signal 6, SIGABRT)\n")
  expect(${mode} "FAIL fails_a_check_on_purpose\n")
  expect(${mode} "ok   passes_after_the_crash\n")
  expect(${mode} "3 of 5 tests passed")
endforeach()

# In one process the abort ends the run: the last test never runs.
run_case("--no-fork" ${CMAKE_COMMAND} -E env RCGC_TEST_FORK=1 ${PROG} --no-fork)
if(rc EQUAL 0)
  message(FATAL_ERROR "--no-fork: exit status 0 after an abort")
endif()
expect("--no-fork" "ok   passes_second\n")
string(FIND "${out}" "passes_after_the_crash" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "--no-fork: a test ran after the abort in one process")
endif()

# A filter selects by name in fork mode too.
run_case("filter" ${PROG} --fork after_the)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "filter: exit status ${rc} for one passing test")
endif()
expect("filter" "1 of 1 tests passed")

# cmake -DRCL=rcl -DDIR=tests -DNAME=script -P run_script.cmake
# Runs `rcl NAME.rcl` in DIR (so messages say NAME.rcl:LINE) with
# RCL_TEARDOWN=1, and fails unless its standard output equals NAME.out; with
# NAME.err, the script must fail (status 1) with that standard error,
# otherwise succeed with nothing on standard error.
set(ENV{RCL_TEARDOWN} 1)
execute_process(COMMAND ${RCL} ${NAME}.rcl WORKING_DIRECTORY ${DIR}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
file(READ ${DIR}/${NAME}.out expected)
if(EXISTS ${DIR}/${NAME}.err)
  file(READ ${DIR}/${NAME}.err expected_err)
  set(expected_rc 1)
else()
  set(expected_err "")
  set(expected_rc 0)
endif()
if(NOT rc EQUAL expected_rc)
  message(FATAL_ERROR "rcl ${NAME}.rcl exited with ${rc}, expected ${expected_rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT out STREQUAL expected)
  message(FATAL_ERROR "rcl ${NAME}.rcl: standard output differs\n--- expected\n${expected}\n--- actual\n${out}")
endif()
if(NOT err STREQUAL expected_err)
  message(FATAL_ERROR "rcl ${NAME}.rcl: standard error differs\n--- expected\n${expected_err}\n--- actual\n${err}")
endif()

# cmake -DCMD=program -DEXPECTED=file -P run_and_compare.cmake
# Runs the program; fails unless it exits 0 and its standard output equals the file.
execute_process(COMMAND ${CMD} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${CMD} exited with ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
file(READ ${EXPECTED} expected)
if(NOT out STREQUAL expected)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/actual_output.txt "${out}")
  message(FATAL_ERROR "output of ${CMD} differs from ${EXPECTED}\n--- expected\n${expected}\n--- actual\n${out}")
endif()

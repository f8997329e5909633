# CLI tests: tests/cli/cli_test.py runs the built `kiln` binary on tiny ONNX models it writes
# itself. One ctest test per test case (label "cli"), listed from the script at configure time.
set(KILN_CLI_TEST_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli_test.py)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${KILN_CLI_TEST_SCRIPT})
execute_process(
  COMMAND ${Python3_EXECUTABLE} ${KILN_CLI_TEST_SCRIPT} --list
  OUTPUT_VARIABLE kiln_cli_cases
  ERROR_VARIABLE kiln_cli_list_error
  RESULT_VARIABLE kiln_cli_list_result
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT kiln_cli_list_result EQUAL 0)
  message(WARNING "CLI tests disabled: cli_test.py --list failed (needs python3 with numpy "
                  "and onnx): ${kiln_cli_list_error}")
else()
  string(REPLACE "\n" ";" kiln_cli_cases "${kiln_cli_cases}")
  foreach(kiln_cli_case ${kiln_cli_cases})
    string(REPLACE "CliTest." "" kiln_cli_short ${kiln_cli_case})
    add_test(NAME cli.${kiln_cli_short}
             COMMAND ${Python3_EXECUTABLE} ${KILN_CLI_TEST_SCRIPT}
                     --kiln $<TARGET_FILE:kiln_cli> ${kiln_cli_case})
    set_tests_properties(cli.${kiln_cli_short} PROPERTIES LABELS cli TIMEOUT 300)
  endforeach()
endif()

# No binary kiln builds searches the current directory for shared libraries (docs/security.md).
set(kiln_runpath_checked $<TARGET_FILE:kiln_cli> $<TARGET_FILE:kiln_unit_tests>)
if(TARGET _kiln)
  list(APPEND kiln_runpath_checked $<TARGET_FILE:_kiln>)
endif()
add_test(NAME cli.runpath
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/check_runpath.py
                 ${kiln_runpath_checked})
set_tests_properties(cli.runpath PROPERTIES LABELS cli)

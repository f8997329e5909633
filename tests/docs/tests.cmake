# docs/operators.md is generated from the registries; this test fails when it is stale.
# Only where the CUDA backend is built: its column comes from the CUDA kernel registry.
if(KILN_CUDA)
  add_test(NAME docs.operators_up_to_date
           COMMAND ${CMAKE_COMMAND} -DGENERATOR=$<TARGET_FILE:kiln_operators_doc>
                   -DDOC=${CMAKE_SOURCE_DIR}/docs/operators.md
                   -P ${CMAKE_CURRENT_LIST_DIR}/check_operators_doc.cmake)
  set_tests_properties(docs.operators_up_to_date PROPERTIES LABELS unit)
endif()

# Unit tests of the dtype probe behind that doc (tools/operators_doc), of the restriction table
# it prints (src/ops/op_restrictions.cpp) and of the files it says each op is defined in.
add_executable(kiln_docs_tests ${CMAKE_CURRENT_LIST_DIR}/dtype_probe_test.cpp
                               ${CMAKE_CURRENT_LIST_DIR}/op_sources_test.cpp)
target_link_libraries(kiln_docs_tests PRIVATE kiln_operators_probe GTest::gtest GTest::gtest_main)
gtest_discover_tests(kiln_docs_tests PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)

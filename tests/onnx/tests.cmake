# src/onnx/onnx_schema_table.cpp is generated from the pinned onnx package (the importer checks
# attributes against it); this test fails when it is stale, e.g. after scripts/update-pins.
add_test(NAME onnx.schema_table_up_to_date
         COMMAND ${CMAKE_COMMAND} -DPYTHON=${Python3_EXECUTABLE}
                 -DGENERATOR=${CMAKE_SOURCE_DIR}/tools/onnx_schema/generate_onnx_schema.py
                 -DTABLE=${CMAKE_SOURCE_DIR}/src/onnx/onnx_schema_table.cpp
                 -P ${CMAKE_CURRENT_LIST_DIR}/check_onnx_schema_table.cmake)
set_tests_properties(onnx.schema_table_up_to_date PROPERTIES LABELS onnx)

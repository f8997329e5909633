execute_process(COMMAND ${PYTHON} ${GENERATOR} OUTPUT_VARIABLE generated RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${GENERATOR} failed (${rc})")
endif()
file(READ ${TABLE} committed)
if(NOT generated STREQUAL committed)
  message(FATAL_ERROR "src/onnx/onnx_schema_table.cpp is stale (the installed onnx differs from "
                      "the one it was generated from): regenerate it with "
                      "python3 tools/onnx_schema/generate_onnx_schema.py > "
                      "src/onnx/onnx_schema_table.cpp")
endif()
message(STATUS "src/onnx/onnx_schema_table.cpp is up to date")

# The ONNX conformance run (tools/conformance, docs/conformance.md) as one ctest test,
# conformance.cpu: every backend test of the onnx package and of Debian's libonnx-testdata,
# checked against tests/conformance/expectations.txt. Suites that are not installed are reported
# as empty and skipped. Cases get 60 s each (20 s by default): ctest may run the big model tests
# beside this one on a small machine.

# onnx wheels since 1.16 ship no node folder: tools/conformance writes it into the build.
set(kiln_onnx_node ${ONNX_PY_DIR}/backend/test/data/node)
if(NOT EXISTS ${kiln_onnx_node})
  set(kiln_onnx_node ${KILN_CONFORMANCE_DATA_DIR}/node)
endif()
set(kiln_conformance_suites --suite onnx/node=${kiln_onnx_node})
set(kiln_onnx_data ${ONNX_PY_DIR}/backend/test/data)
set(kiln_debian_data /usr/share/libonnx-testdata/data)
foreach(kiln_suite simple pytorch-converted pytorch-operator light real)
  list(APPEND kiln_conformance_suites --suite onnx/${kiln_suite}=${kiln_onnx_data}/${kiln_suite})
endforeach()
foreach(kiln_suite node simple pytorch-converted pytorch-operator real)
  list(APPEND kiln_conformance_suites
       --suite debian/${kiln_suite}=${kiln_debian_data}/${kiln_suite})
endforeach()
add_test(NAME conformance.cpu
         COMMAND kiln_conformance --backend cpu --jobs 2 --timeout 60
                 --expectations ${CMAKE_CURRENT_LIST_DIR}/expectations.txt
                 --report ${CMAKE_BINARY_DIR}/conformance_report.json
                 ${kiln_conformance_suites})
set_tests_properties(conformance.cpu PROPERTIES LABELS conformance TIMEOUT 1200 PROCESSORS 2)

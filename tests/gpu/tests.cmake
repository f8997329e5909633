# kiln_gpu_tests: the CUDA backend against the CPU backend (every op with a CUDA kernel, on
# random inputs) and model fixtures against onnxruntime, on the GPU. Each test that needs a GPU
# skips, saying so, where there is none; the builder-side checks (tactic choice, errors, plan
# round trip) run everywhere. Built with or without the CUDA backend (without it, the tests
# check that GPU builds fail clearly).
file(GLOB kiln_gpu_test_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gpu/*.cpp)
add_executable(kiln_gpu_tests ${kiln_gpu_test_sources})
target_link_libraries(kiln_gpu_tests PRIVATE kiln GTest::gtest GTest::gtest_main)
if(KILN_CUDA)
  # The tests allocate device buffers and streams themselves.
  target_link_libraries(kiln_gpu_tests PRIVATE CUDA::cudart_static)
endif()
target_include_directories(kiln_gpu_tests PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests
                           ${ONNX_PROTO_INCLUDE_DIR})
target_compile_definitions(kiln_gpu_tests PRIVATE
  KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}" KILN_BINARY_DIR="${CMAKE_BINARY_DIR}")
gtest_discover_tests(kiln_gpu_tests PROPERTIES LABELS gpu DISCOVERY_TIMEOUT 60)

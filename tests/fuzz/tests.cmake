# libFuzzer targets (docs/security.md), built only in a fuzzing build: scripts/fuzz configures
# one (clang, -DKILN_FUZZ=ON -DKILN_SANITIZE=address,undefined -DKILN_CUDA=OFF). Each target
# also becomes a ctest test, fuzz.<target> (label "fuzz"), that replays its seed corpus and then
# fuzzes for KILN_FUZZ_SECONDS (default 60) seconds with a fixed seed, so that CI repeats the same
# run (long random runs are scripts/fuzz's); a crash, leak or sanitizer report fails it.
if(NOT KILN_FUZZ)
  return()
endif()
set(KILN_FUZZ_SECONDS 60 CACHE STRING "Seconds each fuzz.<target> ctest test fuzzes for")
set(kiln_fuzz_corpus_dir ${CMAKE_BINARY_DIR}/fuzz-corpus)
foreach(kiln_fuzz_target plan_reader onnx_import timing_cache npy_reader)
  set(exe kiln_fuzz_${kiln_fuzz_target})
  add_executable(${exe} ${CMAKE_CURRENT_LIST_DIR}/${kiln_fuzz_target}_fuzz.cpp)
  target_link_libraries(${exe} PRIVATE kiln)
  target_include_directories(${exe} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tools/kiln
                             ${ONNX_PROTO_INCLUDE_DIR})
  target_link_options(${exe} PRIVATE -fsanitize=fuzzer)
  add_test(NAME fuzz.${kiln_fuzz_target}
           COMMAND ${CMAKE_SOURCE_DIR}/scripts/fuzz ${kiln_fuzz_target}
                   --seconds ${KILN_FUZZ_SECONDS} --seed 1 --build-dir ${CMAKE_BINARY_DIR} --no-build)
  set_tests_properties(fuzz.${kiln_fuzz_target} PROPERTIES LABELS fuzz TIMEOUT 1800)
endforeach()
# The .npy reader lives in the CLI: its target compiles the CLI's npy.cpp.
target_sources(kiln_fuzz_npy_reader PRIVATE ${CMAKE_SOURCE_DIR}/tools/kiln/npy.cpp)

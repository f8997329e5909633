# Dependencies, all from Debian's packages and PyPI (scripts/setup installs them).

# Protobuf: linked statically so that kiln's binaries run on machines without libprotobuf.
find_program(KILN_PROTOC protoc REQUIRED)
find_library(KILN_PROTOBUF_LIB NAMES libprotobuf.a protobuf REQUIRED)
# Debian's libprotobuf.a is not position-independent (local-exec TLS), so shared modules (the
# Python extension) link libprotobuf.so instead: a target that sets the property
# KILN_SHARED_PROTOBUF gets the shared library through kiln_static's link interface.
find_library(KILN_PROTOBUF_SHARED_LIB NAMES libprotobuf.so)
if(KILN_PROTOBUF_SHARED_LIB)
  set(KILN_PROTOBUF_LIB "$<IF:$<BOOL:$<TARGET_PROPERTY:KILN_SHARED_PROTOBUF>>,${KILN_PROTOBUF_SHARED_LIB},${KILN_PROTOBUF_LIB}>")
endif()

# onnx.proto comes from the installed onnx Python package (scripts/setup installs it), so the
# schema always matches the onnx release we test against.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
execute_process(
  COMMAND ${Python3_EXECUTABLE} -c "import onnx, os; print(os.path.dirname(onnx.__file__))"
  OUTPUT_VARIABLE ONNX_PY_DIR OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE onnx_found)
if(NOT onnx_found EQUAL 0 OR NOT EXISTS ${ONNX_PY_DIR}/onnx.proto)
  message(FATAL_ERROR "onnx.proto not found: install the onnx Python package (scripts/setup)")
endif()
set(ONNX_PROTO_INCLUDE_DIR ${CMAKE_BINARY_DIR}/generated)
set(ONNX_PROTO_OUT ${ONNX_PROTO_INCLUDE_DIR}/onnx)
file(MAKE_DIRECTORY ${ONNX_PROTO_OUT})
set(ONNX_PROTO_SRCS ${ONNX_PROTO_OUT}/onnx.pb.cc)
add_custom_command(
  OUTPUT ${ONNX_PROTO_OUT}/onnx.pb.cc ${ONNX_PROTO_OUT}/onnx.pb.h
  COMMAND ${CMAKE_COMMAND} -E copy ${ONNX_PY_DIR}/onnx.proto ${ONNX_PROTO_OUT}/onnx.proto
  COMMAND ${KILN_PROTOC} --proto_path=${ONNX_PROTO_INCLUDE_DIR} --cpp_out=${ONNX_PROTO_INCLUDE_DIR}
          ${ONNX_PROTO_OUT}/onnx.proto
  DEPENDS ${ONNX_PY_DIR}/onnx.proto
  COMMENT "Generating onnx.pb.cc from the onnx package's onnx.proto")

# BLAS for the CPU backend's fast convolution and matrix multiply: OpenBLAS, static.
find_library(KILN_BLAS_LIB NAMES libopenblas.a openblas REQUIRED)
find_path(KILN_CBLAS_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread
          /usr/include/openblas /usr/include REQUIRED)
include_directories(${KILN_CBLAS_INCLUDE})
if(KILN_BLAS_LIB MATCHES "\\.a$")
  # static OpenBLAS needs the Fortran runtime it was built with
  find_library(KILN_GFORTRAN_LIB NAMES libgfortran.a gfortran
               PATHS /usr/lib/gcc/x86_64-linux-gnu/12 /usr/lib/gcc/x86_64-linux-gnu/13)
  if(KILN_GFORTRAN_LIB)
    list(APPEND KILN_BLAS_LIB ${KILN_GFORTRAN_LIB})
  endif()
endif()

if(KILN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# The CUDA backend (src/backends/cuda): on by default when a CUDA compiler is found. The build
# never needs a GPU; only the GPU tests do (they skip, saying so, where none is present).
#
# Every file under src/backends/cuda is a .cu (compiled by nvcc) or a header, so the top-level
# src/**/*.cpp glob never picks up CUDA code: with KILN_CUDA off nothing of it is compiled, and
# building an engine for DeviceType::kGPU fails with "this kiln was built without CUDA".
include(CheckLanguage)
check_language(CUDA)
set(kiln_cuda_default OFF)
if(CMAKE_CUDA_COMPILER)
  set(kiln_cuda_default ON)
endif()
option(KILN_CUDA "Build the CUDA backend" ${kiln_cuda_default})

if(NOT KILN_CUDA)
  message(STATUS "kiln: CUDA backend off (no CUDA compiler found, or -DKILN_CUDA=OFF)")
  return()
endif()

# One architecture keeps compile time small (the CI machine has 2 cores): Hopper by default.
# sm_90a (not sm_90) so that later Hopper-only kernels (wgmma, TMA) need no build change.
set(CMAKE_CUDA_ARCHITECTURES 90a CACHE STRING "CUDA architectures to compile kiln's kernels for")
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
# CMake 3.25 does not know that nvcc 12+ speaks C++20 (kiln_static's CXX_STANDARD 20 also
# applies to its CUDA sources): tell it the flag.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
# kiln_static exists already, so its CUDA properties are set here rather than through the
# CMAKE_CUDA_* defaults.
set_target_properties(kiln_static PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
                                             CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON)

file(GLOB KILN_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/cuda/*.cu)
target_sources(kiln_static PRIVATE ${KILN_CUDA_SOURCES})
target_compile_definitions(kiln_static PUBLIC KILN_HAVE_CUDA=1)
target_link_libraries(kiln_static PUBLIC CUDA::cudart_static CUDA::cublasLt)

# The top-level file gives kiln_static GCC warning flags that nvcc does not accept: keep them
# for C++ and hand them to nvcc's host compiler instead.
get_target_property(kiln_cxx_options kiln_static COMPILE_OPTIONS)
if(kiln_cxx_options)
  set(kiln_wrapped_options)
  foreach(option IN LISTS kiln_cxx_options)
    list(APPEND kiln_wrapped_options "$<$<COMPILE_LANGUAGE:CXX>:${option}>")
  endforeach()
  set_property(TARGET kiln_static PROPERTY COMPILE_OPTIONS ${kiln_wrapped_options})
endif()
target_compile_options(kiln_static PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-O3 --expt-relaxed-constexpr
    -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter>)
message(STATUS "kiln: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES})")

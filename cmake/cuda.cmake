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

# cuDNN 9 (src/backends/cuda/cudnn_*.cu: convolutions through its graph API). Looked for, in
# this order: -DCUDNN_ROOT / $CUDNN_ROOT, the CUDA toolkit, /usr/local/cuda, the Python
# package nvidia-cudnn-cu13 (site-packages/nvidia/cudnn, which ships only libcudnn.so.9), and
# the system (Debian's nvidia-cudnn puts its headers under include/x86_64-linux-gnu).
# libcudnn.so is a small shim that loads its sub-libraries (libcudnn_graph, the engines) from
# its own directory at run time, so those must stay beside it.
set(kiln_cudnn_roots)
if(CUDNN_ROOT)
  list(APPEND kiln_cudnn_roots ${CUDNN_ROOT})
endif()
if(DEFINED ENV{CUDNN_ROOT})
  list(APPEND kiln_cudnn_roots $ENV{CUDNN_ROOT})
endif()
get_filename_component(kiln_cuda_root "${CUDAToolkit_LIBRARY_DIR}" DIRECTORY)
list(APPEND kiln_cudnn_roots ${CUDAToolkit_LIBRARY_ROOT} ${kiln_cuda_root} /usr/local/cuda)
find_program(KILN_PYTHON3 NAMES python3)
if(KILN_PYTHON3)
  execute_process(
    COMMAND ${KILN_PYTHON3} -c "import nvidia.cudnn as m; print(list(m.__path__)[0])"
    OUTPUT_VARIABLE kiln_cudnn_wheel OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(kiln_cudnn_wheel)
    list(APPEND kiln_cudnn_roots ${kiln_cudnn_wheel})
  endif()
endif()
find_path(KILN_CUDNN_INCLUDE_DIR NAMES cudnn_graph.h
          HINTS ${kiln_cudnn_roots}
          PATH_SUFFIXES include include/x86_64-linux-gnu targets/x86_64-linux/include)
find_library(KILN_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
             HINTS ${kiln_cudnn_roots} ${CUDAToolkit_LIBRARY_DIR}
             PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu targets/x86_64-linux/lib)
if(NOT KILN_CUDNN_INCLUDE_DIR OR NOT KILN_CUDNN_LIBRARY)
  set(kiln_cudnn_missing)
  if(NOT KILN_CUDNN_INCLUDE_DIR)
    list(APPEND kiln_cudnn_missing "the header cudnn_graph.h")
  endif()
  if(NOT KILN_CUDNN_LIBRARY)
    list(APPEND kiln_cudnn_missing "the library libcudnn.so (or libcudnn.so.9)")
  endif()
  list(JOIN kiln_cudnn_missing " and " kiln_cudnn_missing)
  list(JOIN kiln_cudnn_roots ", " kiln_cudnn_searched)
  message(FATAL_ERROR "kiln: the CUDA backend needs cuDNN 9, but ${kiln_cudnn_missing} "
          "could not be found (searched ${kiln_cudnn_searched} and the system paths). Install "
          "cuDNN 9 (Debian: nvidia-cudnn; PyPI: nvidia-cudnn-cu13), point -DCUDNN_ROOT=<dir> at "
          "it, or configure with -DKILN_CUDA=OFF.")
endif()
file(STRINGS ${KILN_CUDNN_INCLUDE_DIR}/cudnn_version.h kiln_cudnn_major REGEX "define CUDNN_MAJOR ")
string(REGEX MATCH "[0-9]+" kiln_cudnn_major "${kiln_cudnn_major}")
if(NOT kiln_cudnn_major STREQUAL "9")
  message(FATAL_ERROR "kiln: found cuDNN ${kiln_cudnn_major} headers in ${KILN_CUDNN_INCLUDE_DIR}, "
          "but the CUDA backend needs cuDNN 9 (point -DCUDNN_ROOT=<dir> at a cuDNN 9)")
endif()
target_include_directories(kiln_static PRIVATE ${KILN_CUDNN_INCLUDE_DIR})
target_link_libraries(kiln_static PUBLIC ${KILN_CUDNN_LIBRARY})

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
               "architectures ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${KILN_CUDNN_LIBRARY})")

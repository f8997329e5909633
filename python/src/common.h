// Shared helpers of the kiln Python bindings: conversions between Python objects (sequences,
// numpy dtypes, buffers) and kiln's value types, and the per-file binding entry points.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdint>
#include <string>

#include "kiln/kiln.h"

namespace kiln::python {

namespace nb = nanobind;

// repr(object) as a std::string, for error messages.
std::string repr_of(nb::handle object);

// Dims as a Python tuple of ints (TensorRT's Python API returns tuple-like Dims).
nb::tuple dims_to_tuple(const Dims& dims);
// Any sequence of integers (tuple, list, numpy array, kiln Dims) as Dims; a clear
// InvalidArgumentError naming `what` otherwise.
Dims dims_from_object(nb::handle object, const char* what);

// kiln.DataType for a kiln.DataType, a numpy dtype, a numpy scalar type (np.float32) or a
// dtype name ("float32"); InvalidArgumentError naming the unsupported dtype otherwise.
DataType data_type_from_object(nb::handle object);
// The numpy dtype holding a kiln DataType. bfloat16 and float8 come from ml_dtypes (installed
// with onnx); UnsupportedError when it is missing.
nb::object numpy_dtype(DataType type);

// A read-only, C-contiguous view of a Python buffer (bytes, bytearray, memoryview, numpy
// array), released when the view goes out of scope.
class BufferView {
 public:
  BufferView(nb::handle object, const char* what);
  ~BufferView();
  BufferView(const BufferView&) = delete;
  BufferView& operator=(const BufferView&) = delete;

  const void* data() const { return buffer_.buf; }
  size_t size() const { return size_t(buffer_.len); }

 private:
  Py_buffer buffer_{};
};

// Throws kiln::Error(kInvalidArgument) with `message`: the same exception a C++ caller gets.
[[noreturn]] void invalid_argument(const std::string& message);

// A CUDA stream as cudaStream_t: None (nullptr), an int handle, or a stream object (torch's
// .cuda_stream, cupy's .ptr, kiln.Stream's .handle, or anything int() accepts).
void* stream_from_object(nb::handle stream);

void bind_errors(nb::module_& m);
void bind_types(nb::module_& m);
void bind_logger(nb::module_& m);
void bind_network(nb::module_& m);
void bind_builder(nb::module_& m);
void bind_runtime(nb::module_& m);
void bind_cuda(nb::module_& m);
void bind_profiler(nb::module_& m);
void bind_output_allocator(nb::module_& m);

}  // namespace kiln::python

// The GPU side of the bindings: kiln.query_gpu / built_with_cuda, kiln.Stream (a CUDA stream
// kiln owns), kiln.DeviceArray (device memory kiln owns, for callers without torch or cupy and
// for the numpy path of GPU engines), and the conversion of stream objects (ints, torch and
// cupy streams, kiln.Stream) to a cudaStream_t.
//
// The extension carries kiln's static CUDA runtime; torch and cupy carry their own. All of them
// use the driver's primary context of the device, so device pointers and stream handles pass
// freely between them.
#include <nanobind/stl/string.h>

#include <cstdint>
#include <string>

#include "bindings.h"
#include "common.h"
#include "core/checked_size.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::python {
namespace {

#ifdef KILN_HAVE_CUDA
void check_cuda(cudaError_t status, const std::string& what) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a sticky-free error so that later calls are not poisoned
  throw Error(ErrorCode::kRuntime, what + ": " + cudaGetErrorString(status));
}
#endif

#ifndef KILN_HAVE_CUDA
[[noreturn]] void no_cuda(const std::string& what) {
  throw Error(ErrorCode::kUnsupported,
              what + " needs the CUDA backend, but this kiln was built without CUDA");
}
#endif

uintptr_t int_of(nb::handle value, const char* what) {
  nb::object number = nb::steal(PyNumber_Long(value.ptr()));
  if (!number.is_valid()) {
    PyErr_Clear();
    throw nb::type_error((std::string(what) + ": expected an int, got " + repr_of(value)).c_str());
  }
  const unsigned long long result = PyLong_AsUnsignedLongLong(number.ptr());
  if (result == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Clear();
    invalid_argument(std::string(what) + ": " + repr_of(value) + " is not a valid handle");
  }
  return uintptr_t(result);
}

// kiln.Stream: a non-blocking CUDA stream (it does not wait for the legacy default stream).
class Stream {
 public:
  Stream() {
#ifdef KILN_HAVE_CUDA
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
#else
    no_cuda("kiln.Stream");
#endif
  }
  ~Stream() {
#ifdef KILN_HAVE_CUDA
    if (stream_) cudaStreamDestroy(stream_);
#endif
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uintptr_t handle() const { return reinterpret_cast<uintptr_t>(stream_); }
  void synchronize() const {
#ifdef KILN_HAVE_CUDA
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
#endif
  }

 private:
#ifdef KILN_HAVE_CUDA
  cudaStream_t stream_ = nullptr;
#else
  void* stream_ = nullptr;
#endif
};

// kiln.DeviceArray: a C-contiguous tensor in device memory, freed with the object. It exposes
// __cuda_array_interface__, so torch.as_tensor(a, device="cuda") and cupy.asarray(a) view it
// without a copy.
class DeviceArray {
 public:
  DeviceArray(Dims shape, DataType dtype) : shape_(std::move(shape)), dtype_(dtype) {
    for (int64_t d : shape_) {
      if (d < 0) invalid_argument("DeviceArray: negative extent in shape " + to_string(shape_));
    }
    nbytes_ = checked_bytes(dtype_, checked_numel(shape_, "DeviceArray"), "DeviceArray");
#ifdef KILN_HAVE_CUDA
    check_cuda(cudaGetDevice(&device_), "cudaGetDevice");
    if (nbytes_ > 0) {
      check_cuda(cudaMalloc(&data_, nbytes_),
                 "DeviceArray: cudaMalloc of " + std::to_string(nbytes_) + " bytes");
    }
#else
    no_cuda("kiln.DeviceArray");
#endif
  }
  ~DeviceArray() {
#ifdef KILN_HAVE_CUDA
    if (data_) cudaFree(data_);
#endif
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  uintptr_t ptr() const { return reinterpret_cast<uintptr_t>(data_); }
  const Dims& shape() const { return shape_; }
  DataType dtype() const { return dtype_; }
  size_t nbytes() const { return nbytes_; }
  int device() const { return device_; }

  // Copies the first `nbytes` of this array from or to host memory at `host` (the Python
  // layer checks shapes and dtypes; buffers reused across calls may be larger than a copy). On
  // a stream the copy is ordered with the work there; with no stream it is synchronous.
  void copy_from_host(uintptr_t host, size_t nbytes, void* stream) {
    check_size(nbytes, "copy from host");
#ifdef KILN_HAVE_CUDA
    if (nbytes == 0) return;
    const void* src = reinterpret_cast<const void*>(host);
    if (stream) {
      check_cuda(cudaMemcpyAsync(data_, src, nbytes, cudaMemcpyHostToDevice,
                                 static_cast<cudaStream_t>(stream)),
                 "DeviceArray: copy from host");
    } else {
      check_cuda(cudaMemcpy(data_, src, nbytes, cudaMemcpyHostToDevice),
                 "DeviceArray: copy from host");
    }
#endif
  }
  // Copies `nbytes` from another device address (a buffer of the same device) into this array.
  void copy_from_device(uintptr_t device, size_t nbytes, void* stream) {
    check_size(nbytes, "copy from device");
#ifdef KILN_HAVE_CUDA
    if (nbytes == 0) return;
    const void* src = reinterpret_cast<const void*>(device);
    if (stream) {
      check_cuda(cudaMemcpyAsync(data_, src, nbytes, cudaMemcpyDeviceToDevice,
                                 static_cast<cudaStream_t>(stream)),
                 "DeviceArray: copy from device");
    } else {
      check_cuda(cudaMemcpy(data_, src, nbytes, cudaMemcpyDeviceToDevice),
                 "DeviceArray: copy from device");
    }
#endif
  }
  void copy_to_host(uintptr_t host, size_t nbytes, void* stream) const {
    check_size(nbytes, "copy to host");
#ifdef KILN_HAVE_CUDA
    if (nbytes == 0) return;
    void* dst = reinterpret_cast<void*>(host);
    if (stream) {
      check_cuda(cudaMemcpyAsync(dst, data_, nbytes, cudaMemcpyDeviceToHost,
                                 static_cast<cudaStream_t>(stream)),
                 "DeviceArray: copy to host");
    } else {
      check_cuda(cudaMemcpy(dst, data_, nbytes, cudaMemcpyDeviceToHost),
                 "DeviceArray: copy to host");
    }
#endif
  }

 private:
  void check_size(size_t nbytes, const char* what) const {
    if (nbytes > nbytes_) {
      invalid_argument(std::string("DeviceArray: ") + what + " of " + std::to_string(nbytes) +
                       " bytes into an array of " + std::to_string(nbytes_) + " bytes (" +
                       kiln::to_string(dtype_) + " " + to_string(shape_) + ")");
    }
  }

  Dims shape_;
  DataType dtype_;
  size_t nbytes_ = 0;
  int device_ = 0;
  void* data_ = nullptr;
};

// numpy's array-interface type string ("<f4", "|b1", ...) of a kiln type. bfloat16 and
// float8 have none: consumers see raw bytes of that width ("<V2"), as they do for numpy.
std::string typestr(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return "<f4";
    case DataType::kFloat16:
      return "<f2";
    case DataType::kFloat64:
      return "<f8";
    case DataType::kInt8:
      return "|i1";
    case DataType::kUInt8:
      return "|u1";
    case DataType::kInt16:
      return "<i2";
    case DataType::kInt32:
      return "<i4";
    case DataType::kInt64:
      return "<i8";
    case DataType::kUInt16:
      return "<u2";
    case DataType::kUInt32:
      return "<u4";
    case DataType::kUInt64:
      return "<u8";
    case DataType::kBool:
      return "|b1";
    default:
      return "|V" + std::to_string(element_size(type));
  }
}

}  // namespace

void* stream_from_object(nb::handle stream) {
  if (stream.is_none()) return nullptr;
  // An int handle (cudaStream_t as TensorRT's Python API takes it), or a stream object: torch's
  // (.cuda_stream), cupy's (.ptr), kiln's (.handle).
  if (PyLong_Check(stream.ptr()) || PyIndex_Check(stream.ptr())) {
    return reinterpret_cast<void*>(int_of(stream, "stream"));
  }
  for (const char* attribute : {"cuda_stream", "ptr", "handle"}) {
    if (nb::hasattr(stream, attribute)) {
      return reinterpret_cast<void*>(int_of(stream.attr(attribute), "stream"));
    }
  }
  // cuda-python's cudaStream_t / CUstream objects convert with int().
  return reinterpret_cast<void*>(int_of(stream, "stream"));
}

void bind_cuda(nb::module_& m) {
  nb::class_<GpuInfo>(m, "GpuInfo",
                      "The GPU kiln runs on (the current CUDA device); bool(info) is whether "
                      "one is usable.")
      .def_ro("available", &GpuInfo::available)
      .def_ro("why_not", &GpuInfo::why_not,
              "Why no GPU is usable (empty when one is): no CUDA in this build, no GPU, ...")
      .def_ro("name", &GpuInfo::name)
      .def_prop_ro(
          "compute_capability",
          [](const GpuInfo& g) { return nb::make_tuple(g.compute_major, g.compute_minor); })
      .def_ro("multiprocessors", &GpuInfo::multiprocessors)
      .def_ro("memory_bytes", &GpuInfo::memory_bytes)
      .def("__bool__", [](const GpuInfo& g) { return g.available; })
      .def("__repr__", [](const GpuInfo& g) {
        if (!g.available) return "<kiln.GpuInfo unavailable: " + g.why_not + ">";
        return "<kiln.GpuInfo " + g.name + ", sm_" + std::to_string(g.compute_major) +
               std::to_string(g.compute_minor) + ", " + std::to_string(g.multiprocessors) +
               " SMs, " + std::to_string(g.memory_bytes >> 20) + " MiB>";
      });
  m.def("query_gpu", &query_gpu,
        "The GPU kiln would run on (the current CUDA device); never raises. "
        "`kiln.query_gpu().available` is what kiln.build(device='auto') asks.");
  m.def("built_with_cuda", &built_with_cuda, "Whether this kiln has its CUDA backend.");
  m.def(
      "_cuda_current_device",
      []() {
#ifdef KILN_HAVE_CUDA
        int device = -1;
        if (cudaGetDevice(&device) != cudaSuccess) {
          cudaGetLastError();
          return -1;
        }
        return device;
#else
        return -1;
#endif
      },
      "The current CUDA device's index (-1 without CUDA): where GPU engines run.");

  nb::class_<Stream>(m, "Stream",
                     "A CUDA stream owned by kiln (non-blocking). Pass it, or its int `handle`, "
                     "to ExecutionContext.execute_async_v3.")
      .def(nb::init<>())
      .def_prop_ro("handle", &Stream::handle, "The cudaStream_t as an int.")
      .def_prop_ro("ptr", &Stream::handle, "Same as handle (cupy's name).")
      .def("__int__", &Stream::handle)
      .def("synchronize", &Stream::synchronize, nb::call_guard<nb::gil_scoped_release>(),
           "Waits until all work enqueued on the stream has finished.");

  nb::class_<DeviceArray>(
      m, "DeviceArray",
      "A C-contiguous tensor in GPU memory owned by kiln (freed with the object). `ptr` is the "
      "device address for set_tensor_address; __cuda_array_interface__ lets torch and cupy "
      "view it without a copy. DeviceArray.from_numpy(a) and a.numpy() copy to and from the "
      "host.")
      .def(
          "__init__",
          [](DeviceArray* self, nb::handle shape, nb::handle dtype) {
            new (self) DeviceArray(dims_from_object(shape, "DeviceArray shape"),
                                   data_type_from_object(dtype));
          },
          nb::arg("shape"), nb::arg("dtype"), "Uninitialized device memory for shape and dtype.")
      .def_prop_ro("ptr", &DeviceArray::ptr, "The device address (an int).")
      .def("data_ptr", &DeviceArray::ptr, "The device address (torch's name).")
      .def_prop_ro("shape", [](const DeviceArray& a) { return dims_to_tuple(a.shape()); })
      .def_prop_ro(
          "dtype", [](const DeviceArray& a) { return numpy_dtype(a.dtype()); }, "The numpy dtype.")
      .def_prop_ro("data_type", &DeviceArray::dtype, "The kiln.DataType.")
      .def_prop_ro("nbytes", &DeviceArray::nbytes)
      .def_prop_ro("device_id", &DeviceArray::device, "The CUDA device holding the memory.")
      .def(
          "_copy_from_host",
          [](DeviceArray& a, uintptr_t host, size_t nbytes, nb::handle stream) {
            void* handle = stream_from_object(stream);
            nb::gil_scoped_release release;
            a.copy_from_host(host, nbytes, handle);
          },
          nb::arg("host"), nb::arg("nbytes"), nb::arg("stream").none() = nb::none())
      .def(
          "_copy_from_device",
          [](DeviceArray& a, uintptr_t device, size_t nbytes, nb::handle stream) {
            void* handle = stream_from_object(stream);
            nb::gil_scoped_release release;
            a.copy_from_device(device, nbytes, handle);
          },
          nb::arg("device"), nb::arg("nbytes"), nb::arg("stream").none() = nb::none())
      .def(
          "_copy_to_host",
          [](const DeviceArray& a, uintptr_t host, size_t nbytes, nb::handle stream) {
            void* handle = stream_from_object(stream);
            nb::gil_scoped_release release;
            a.copy_to_host(host, nbytes, handle);
          },
          nb::arg("host"), nb::arg("nbytes"), nb::arg("stream").none() = nb::none())
      .def_prop_ro("__cuda_array_interface__",
                   [](const DeviceArray& a) {
                     nb::dict interface;
                     interface["shape"] = dims_to_tuple(a.shape());
                     interface["typestr"] = typestr(a.dtype());
                     // A zero-size array may have no allocation: numba's convention is (0, False).
                     interface["data"] = nb::make_tuple(a.ptr(), false);
                     interface["strides"] = nb::none();  // C-contiguous
                     interface["version"] = 3;
                     // kiln finishes its own copies before handing an array out: no stream to wait
                     // on.
                     interface["stream"] = nb::none();
                     return interface;
                   })
      .def("__repr__", [](const DeviceArray& a) {
        return "<kiln.DeviceArray " + std::string(kiln::to_string(a.dtype())) + " " +
               to_string(a.shape()) + " on cuda:" + std::to_string(a.device()) + ">";
      });
}

}  // namespace kiln::python

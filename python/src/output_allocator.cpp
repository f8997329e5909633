// kiln.OutputAllocator: TensorRT's IOutputAllocator. Set on an execution context for an output
// whose extents depend on the input values (NonZero, Unique, NonMaxSuppression, ...): during
// the run kiln asks it for memory once the size is known (reallocate_output) and then tells it
// the output's shape (notify_shape). kiln.IOutputAllocator (python/kiln) is the same class.
#include <nanobind/stl/string.h>
#include <nanobind/trampoline.h>

#include "bindings.h"
#include "common.h"

namespace kiln::python {
namespace {

class TrampolineOutputAllocator : public PyOutputAllocator {
 public:
#if NB_VERSION_MAJOR >= 3
  NB_TRAMPOLINE(PyOutputAllocator);
#else
  NB_TRAMPOLINE(PyOutputAllocator, 2);
#endif

  nb::object reallocate_py(const std::string& name, uintptr_t memory, uint64_t size,
                           uint64_t alignment) override {
    NB_OVERRIDE_NAME("reallocate_output", reallocate_py, name, memory, size, alignment);
  }
  void notify_shape_py(const std::string& name, nb::tuple shape) override {
    NB_OVERRIDE_NAME("notify_shape", notify_shape_py, name, shape);
  }
};

}  // namespace

// kiln calls from inside execute / enqueue, which released the GIL: take it back first. An
// exception raised by the override cannot cross kiln's executor: it is reported as
// "unraisable" (printed by Python) and the allocation fails, which fails the run with a kiln
// error naming the output.
void* PyOutputAllocator::reallocate_output(const std::string& name, void* current, uint64_t size,
                                           uint64_t alignment) {
  if (!Py_IsInitialized()) return nullptr;
  nb::gil_scoped_acquire gil;
  try {
    nb::object address = reallocate_py(name, uintptr_t(current), size, alignment);
    if (address.is_none()) return nullptr;
    unsigned long long value = 0;
    if (!nb::try_cast<unsigned long long>(address, value)) {
      PyErr_WarnEx(PyExc_RuntimeWarning,
                   ("kiln.OutputAllocator.reallocate_output for '" + name +
                    "' must return an int address, got " + repr_of(address))
                       .c_str(),
                   1);
      return nullptr;
    }
    return reinterpret_cast<void*>(uintptr_t(value));
  } catch (nb::python_error& error) {
    error.discard_as_unraisable("kiln.OutputAllocator.reallocate_output");
  } catch (...) {
  }
  return nullptr;
}

void PyOutputAllocator::notify_shape(const std::string& name, const Dims& dims) {
  if (!Py_IsInitialized()) return;
  nb::gil_scoped_acquire gil;
  try {
    notify_shape_py(name, dims_to_tuple(dims));
  } catch (nb::python_error& error) {
    error.discard_as_unraisable("kiln.OutputAllocator.notify_shape");
  } catch (...) {
  }
}

// The base class has no memory to give.
nb::object PyOutputAllocator::reallocate_py(const std::string&, uintptr_t, uint64_t, uint64_t) {
  return nb::int_(0);
}

void PyOutputAllocator::notify_shape_py(const std::string&, nb::tuple) {}

void bind_output_allocator(nb::module_& m) {
  nb::class_<PyOutputAllocator, TrampolineOutputAllocator> allocator(
      m, "OutputAllocator",
      "Gives memory to an output whose shape depends on the input values (NonZero, Unique, "
      "NonMaxSuppression, ...), as TensorRT's IOutputAllocator: subclass it (call "
      "OutputAllocator.__init__ in your __init__), override reallocate_output(tensor_name, "
      "memory, size, alignment) to return an address (int) of at least `size` bytes (host "
      "memory for CPU engines, device memory for GPU engines; `memory` is what you returned "
      "last time, or 0, and may be returned again when large enough) and notify_shape("
      "tensor_name, shape), then context.set_output_allocator(name, allocator).");
  allocator.def(nb::init<>())
      .def("reallocate_output", &PyOutputAllocator::reallocate_py, nb::arg("tensor_name"),
           nb::arg("memory"), nb::arg("size"), nb::arg("alignment"),
           "Returns the address the output is written to; the base class returns 0, which "
           "fails the run.")
      .def("notify_shape", &PyOutputAllocator::notify_shape_py, nb::arg("tensor_name"),
           nb::arg("shape"), "Called once the output is written, with its shape.");
}

}  // namespace kiln::python

// Runtime, Engine and ExecutionContext: loading and running engines. Addresses are plain
// integers (host pointers for CPU engines, device pointers for GPU engines), as in TensorRT's
// Python API; kiln.Engine.__call__-style numpy convenience lives in python/kiln/_io.py.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>

#include <filesystem>

#include "bindings.h"
#include "common.h"

namespace kiln::python {
namespace {

nb::bytes to_bytes(const std::vector<uint8_t>& data) {
  return nb::bytes(reinterpret_cast<const char*>(data.data()), data.size());
}

void* address_from_int(nb::handle address, const std::string& name) {
  if (address.is_none()) return nullptr;
  nb::object index = nb::steal(PyNumber_Index(address.ptr()));
  if (!index.is_valid()) {
    PyErr_Clear();
    throw nb::type_error(
        ("address of '" + name + "' must be an int (e.g. arr.ctypes.data), got " + repr_of(address))
            .c_str());
  }
  const unsigned long long value = PyLong_AsUnsignedLongLong(index.ptr());
  if (value == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Clear();
    invalid_argument("address of '" + name + "' is not a valid pointer value");
  }
  return reinterpret_cast<void*>(uintptr_t(value));
}

void set_input_shape(PyExecutionContext& c, const std::string& name, nb::handle shape) {
  const Dims dims = dims_from_object(shape, "set_input_shape");
  // kiln checks dynamic inputs against the profile; a static input may only be "set" to its own
  // shape (anything else would disagree with the plan).
  if (c.engine->tensor_io_mode(name) == TensorIOMode::kINPUT) {
    const Dims declared = c.engine->tensor_shape(name);
    if (volume(declared) >= 0 && dims != declared) {
      invalid_argument("input '" + name + "' has the static shape " + to_string(declared) +
                       "; it cannot take shape " + to_string(dims));
    }
  }
  c.context->set_input_shape(name, dims);
}

bool enqueue(PyExecutionContext& c, nb::handle stream) {
  void* handle = stream_from_object(stream);
  nb::gil_scoped_release release;
  c.context->enqueue(handle);
  return true;
}

}  // namespace

void bind_runtime(nb::module_& m) {
  nb::class_<Runtime> runtime(m, "Runtime", "Loads serialized engines (plans).");
  nb::class_<Engine> engine(m, "Engine",
                            "An optimized network for one target: immutable, shareable across "
                            "threads. Run it through an ExecutionContext.");
  // dynamic_attr: the Python layer (python/kiln/_io.py) keeps its per-context device buffers
  // and stream on the context object itself.
  nb::class_<PyExecutionContext> context(
      m, "ExecutionContext",
      "Per-run state of an engine: input shapes, tensor addresses and activation memory. One "
      "context per thread; it keeps its engine alive.",
      nb::dynamic_attr());

  auto deserialize = [](const Runtime& runtime, nb::handle plan) {
    BufferView bytes(plan, "deserialize_engine");
    nb::gil_scoped_release release;
    return runtime.deserialize_engine(bytes.data(), bytes.size());
  };
  runtime
      .def(
          "__init__", [](Runtime* self, PyLogger& logger) { new (self) Runtime(logger); },
          nb::arg("logger"), nb::keep_alive<1, 2>())
      .def("deserialize_engine", deserialize, nb::arg("plan"),
           "An engine from a plan held in memory (bytes-like). Raises kiln.InvalidPlanError for "
           "corrupt or truncated data, kiln.VersionMismatchError for another kiln's plan.")
      .def("deserialize_cuda_engine", deserialize, nb::arg("plan"),
           "Same as deserialize_engine (TensorRT's name).")
      .def(
          "load_engine_file",
          [](const Runtime& runtime, const std::filesystem::path& path) {
            const std::string file = path.string();
            nb::gil_scoped_release release;
            return runtime.load_engine_file(file);
          },
          nb::arg("path"), "An engine from a plan file.");

  engine.def_prop_ro("num_io_tensors", &Engine::num_io_tensors)
      .def(
          "get_tensor_name",
          [](const Engine& e, int index) {
            if (index < 0 || index >= e.num_io_tensors()) {
              throw nb::index_error(("I/O tensor index " + std::to_string(index) +
                                     " is out of range (the engine has " +
                                     std::to_string(e.num_io_tensors()) + ")")
                                        .c_str());
            }
            return e.io_tensor_name(index);
          },
          nb::arg("index"), "Name of I/O tensor `index`: inputs first, then outputs.")
      .def("get_tensor_mode", &Engine::tensor_io_mode, nb::arg("name"),
           "TensorIOMode.INPUT, OUTPUT, or NONE for a name that is neither.")
      .def(
          "get_tensor_dtype",
          [](const Engine& e, const std::string& name) {
            return numpy_dtype(e.tensor_dtype(name));
          },
          nb::arg("name"), "The tensor's numpy dtype.")
      .def("get_tensor_data_type", &Engine::tensor_dtype, nb::arg("name"),
           "The tensor's kiln.DataType.")
      .def(
          "get_tensor_shape",
          [](const Engine& e, const std::string& name) {
            return dims_to_tuple(e.tensor_shape(name));
          },
          nb::arg("name"), "Dims as built; -1 where a dim depends on input shapes.")
      .def(
          "get_tensor_profile_shape",
          [](const Engine& e, const std::string& name, int profile) {
            nb::list shapes;
            for (OptProfileSelector which :
                 {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
              shapes.append(dims_to_tuple(e.profile_shape(name, profile, which)));
            }
            return shapes;
          },
          nb::arg("name"), nb::arg("profile_index") = 0, "[min, opt, max] of a dynamic input.")
      .def_prop_ro("num_optimization_profiles", &Engine::num_optimization_profiles)
      .def_prop_ro("num_layers", &Engine::num_layers)
      .def_prop_ro("device", &Engine::device)
      .def_prop_ro("device_memory_size", &Engine::arena_bytes,
                   "Bytes of activation memory a context uses (TensorRT's name).")
      .def_prop_ro("arena_bytes", &Engine::arena_bytes)
      .def_prop_ro("total_activation_bytes", &Engine::total_activation_bytes,
                   "Sum of all activations as if none shared memory.")
      .def_prop_ro("weight_bytes", &Engine::weight_bytes)
      .def("describe", &Engine::describe,
           "Inputs, outputs, layers with their kernels and shapes, and memory, as text.")
      .def(
          "serialize", [](const Engine& e) { return to_bytes(e.serialize()); },
          "The plan as bytes (Runtime.deserialize_engine reads it back).")
      .def(
          "save",
          [](const Engine& e, const std::filesystem::path& path) {
            const std::string file = path.string();
            nb::gil_scoped_release release;
            e.save(file);
          },
          nb::arg("path"), "Writes the plan atomically: on failure nothing is left at path.")
      .def(
          "create_execution_context",
          [](nb::handle self) {
            const Engine& e = nb::cast<const Engine&>(self);
            auto holder = std::make_unique<PyExecutionContext>();
            holder->context = e.create_execution_context();
            holder->engine = &e;
            holder->engine_object = nb::borrow(self);
            return holder;
          },
          "A new execution context (one per thread).")
      .def("__repr__", [](const Engine& e) {
        return std::string("<kiln.Engine ") + (e.device() == DeviceType::kCPU ? "cpu" : "gpu") +
               ", " + std::to_string(e.num_io_tensors()) + " I/O tensors, " +
               std::to_string(e.num_layers()) + " layers>";
      });

  context.def_prop_ro("engine", [](const PyExecutionContext& c) { return c.engine_object; })
      .def("set_input_shape", &set_input_shape, nb::arg("name"), nb::arg("shape"),
           "Sets a dynamic input's shape; it must lie within the optimization profile.")
      .def(
          "get_tensor_shape",
          [](const PyExecutionContext& c, const std::string& name) {
            return dims_to_tuple(c.context->tensor_shape(name));
          },
          nb::arg("name"), "Resolved extents once every input shape is known.")
      .def(
          "set_tensor_address",
          [](PyExecutionContext& c, const std::string& name, nb::handle address) {
            c.context->set_tensor_address(name, address_from_int(address, name));
          },
          nb::arg("name"), nb::arg("address").none(),
          "Where a tensor is read from or written to: an int (arr.ctypes.data for numpy). The "
          "memory must stay valid until the run finishes.")
      .def(
          "get_tensor_address",
          [](const PyExecutionContext& c, const std::string& name) {
            return uintptr_t(c.context->tensor_address(name));
          },
          nb::arg("name"))
      .def_prop_ro(
          "all_input_shapes_specified",
          [](const PyExecutionContext& c) { return c.context->all_input_shapes_specified(); })
      .def(
          "execute", [](PyExecutionContext& c) { c.context->execute(); },
          nb::call_guard<nb::gil_scoped_release>(),
          "Runs the engine on the addresses set; returns when the outputs are written.")
      .def(
          "execute_v2",
          [](PyExecutionContext& c, nb::handle bindings) {
            const int count = c.engine->num_io_tensors();
            if (nb::len(bindings) != size_t(count)) {
              invalid_argument("execute_v2: expected " + std::to_string(count) +
                               " addresses (one per I/O tensor, in engine order), got " +
                               std::to_string(nb::len(bindings)));
            }
            int index = 0;
            for (nb::handle address : bindings) {
              const std::string& name = c.engine->io_tensor_name(index++);
              c.context->set_tensor_address(name, address_from_int(address, name));
            }
            nb::gil_scoped_release release;
            c.context->execute();
            return true;
          },
          nb::arg("bindings"),
          "Sets every I/O tensor's address (a list of ints in engine order) and runs. Returns "
          "True; errors raise kiln.KilnError.")
      .def("execute_async_v3", &enqueue, nb::arg("stream_handle").none() = 0,
           "Enqueues the run on a CUDA stream and returns without waiting for it: an int "
           "handle (cudaStream_t; 0 is the legacy default stream), or a stream object "
           "(torch.cuda.Stream, cupy.cuda.Stream, kiln.Stream). CPU engines take 0 or None "
           "and run synchronously. Returns True; errors raise kiln.KilnError.")
      .def("execute_async", &enqueue, nb::arg("stream_handle").none() = 0,
           "Same as execute_async_v3.")
      .def("enqueue", &enqueue, nb::arg("stream_handle").none() = 0,
           "Same as execute_async_v3 (the C++ API's name).")
      .def(
          "set_output_allocator",
          [](PyExecutionContext& c, const std::string& name, nb::handle allocator) {
            if (allocator.is_none()) {
              c.context->set_output_allocator(name, nullptr);
              c.output_allocators.erase(name);
              return true;
            }
            PyOutputAllocator* native = nullptr;
            if (!nb::try_cast<PyOutputAllocator*>(allocator, native) || native == nullptr) {
              throw nb::type_error(("set_output_allocator takes a kiln.OutputAllocator (a "
                                    "subclass overriding reallocate_output and notify_shape) "
                                    "or None, got " +
                                    repr_of(allocator))
                                       .c_str());
            }
            c.context->set_output_allocator(name, native);
            c.output_allocators[name] = nb::borrow(allocator);  // kept alive while it is set
            return true;
          },
          nb::arg("name"), nb::arg("output_allocator").none(),
          "Sets the kiln.OutputAllocator that gives memory to output `name` (needed where its "
          "shape depends on the input values); None removes it. Returns True.")
      .def(
          "get_output_allocator",
          [](const PyExecutionContext& c, const std::string& name) -> nb::object {
            auto it = c.output_allocators.find(name);
            return it == c.output_allocators.end() ? nb::none() : it->second;
          },
          nb::arg("name"))
      .def(
          "has_data_dependent_shape",
          [](const PyExecutionContext& c, const std::string& name) {
            return c.context->has_data_dependent_shape(name);
          },
          nb::arg("name"),
          "True when the output's extents are known only after a run (for the input shapes "
          "set now): it needs an output allocator; get_tensor_shape gives the last run's shape.")
      .def_prop_rw(
          "profiler",
          [](const PyExecutionContext& c) {
            return c.profiler_object.is_valid() ? c.profiler_object : nb::none();
          },
          [](PyExecutionContext& c, nb::handle profiler) {
            if (profiler.is_none()) {
              c.context->set_profiler(nullptr);
              c.profiler_object = nb::none();
              return;
            }
            PyProfiler* native = nullptr;
            if (!nb::try_cast<PyProfiler*>(profiler, native) || native == nullptr) {
              throw nb::type_error(("context.profiler takes a kiln.Profiler (or a subclass "
                                    "overriding report_layer_time) or None, got " +
                                    repr_of(profiler))
                                       .c_str());
            }
            c.context->set_profiler(native);
            c.profiler_object = nb::borrow(profiler);  // kept alive while it is set
          },
          nb::arg("profiler").none(),
          "The kiln.Profiler receiving each layer's time after every run (None: off).");
}

}  // namespace kiln::python

// C++ classes that exist only for the Python bindings.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common.h"

namespace kiln::python {

// The C++ side of kiln.Logger: a kiln::Logger with a stderr default that Python subclasses
// override.
class PyLogger : public Logger {
 public:
  explicit PyLogger(Severity min_severity = Severity::kWarning) : min_severity(min_severity) {}
  void log(Severity severity, std::string_view message) noexcept override;

  Severity min_severity;
};

// The C++ side of kiln.Profiler: used as is, it prints each layer's time (as trt.Profiler);
// a Python subclass overriding `report_layer_time(layer_name, ms)` receives them instead.
class PyProfiler : public Profiler {
 public:
  void report_layer_time(const std::string& layer_name, float milliseconds) override;
};

// The C++ side of kiln.OutputAllocator (TensorRT's IOutputAllocator): Python subclasses
// override reallocate_output(tensor_name, memory, size, alignment) -> int address and
// notify_shape(tensor_name, shape). The base class has no memory to give: it returns 0, which
// fails the run naming the output.
class PyOutputAllocator : public OutputAllocator {
 public:
  // kiln's calls: take the GIL, call the Python methods below, turn their results and errors
  // into what kiln expects (an exception in Python fails the allocation, hence the run).
  void* reallocate_output(const std::string& name, void* current, uint64_t size,
                          uint64_t alignment) final;
  void notify_shape(const std::string& name, const Dims& dims) final;

  // What Python overrides (bound as reallocate_output / notify_shape).
  virtual nb::object reallocate_py(const std::string& name, uintptr_t memory, uint64_t size,
                                   uint64_t alignment);
  virtual void notify_shape_py(const std::string& name, nb::tuple shape);
};

// kiln.ExecutionContext: the context and the engine it runs, whose Python object it keeps
// alive (TensorRT's context.engine), and the Python profiler and output allocators it reports
// to (kept alive while set).
struct PyExecutionContext {
  std::unique_ptr<ExecutionContext> context;
  const Engine* engine = nullptr;
  nb::object engine_object;
  nb::object profiler_object;
  std::map<std::string, nb::object> output_allocators;
};

// kiln.OnnxParser: the parser and the network it fills (to check that it is empty first).
struct PyOnnxParser {
  PyOnnxParser(NetworkDefinition& network, Logger& logger)
      : parser(network, logger), network(&network) {}
  OnnxParser parser;
  NetworkDefinition* network;
};

}  // namespace kiln::python

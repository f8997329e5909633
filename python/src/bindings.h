// C++ classes that exist only for the Python bindings.
#pragma once

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

// kiln.ExecutionContext: the context and the engine it runs, whose Python object it keeps
// alive (TensorRT's context.engine), and the Python profiler it reports to.
struct PyExecutionContext {
  std::unique_ptr<ExecutionContext> context;
  const Engine* engine = nullptr;
  nb::object engine_object;
  nb::object profiler_object;
};

// kiln.OnnxParser: the parser and the network it fills (to check that it is empty first).
struct PyOnnxParser {
  PyOnnxParser(NetworkDefinition& network, Logger& logger)
      : parser(network, logger), network(&network) {}
  OnnxParser parser;
  NetworkDefinition* network;
};

}  // namespace kiln::python

// kiln.Logger: TensorRT's logger model. Used as is, it prints messages at or above
// `min_severity` to stderr; a Python subclass overriding `log(severity, message)` receives every
// message instead (kiln.ILogger is the same class, for code written against trt.ILogger).
#include <nanobind/stl/string_view.h>
#include <nanobind/trampoline.h>

#include <cstdio>

#include "bindings.h"
#include "common.h"

namespace kiln::python {
namespace {

using Severity = Logger::Severity;

class TrampolineLogger : public PyLogger {
 public:
#if NB_VERSION_MAJOR >= 3
  NB_TRAMPOLINE(PyLogger);
#else
  NB_TRAMPOLINE(PyLogger, 1);
#endif

  // kiln may log from a call that released the GIL (build, execute): take it back first. An
  // exception raised by the Python override cannot cross kiln's noexcept log(); it is reported
  // as "unraisable" (printed by Python) and the build goes on.
  void log(Severity severity, std::string_view message) noexcept override {
    if (!Py_IsInitialized()) return;
    nb::gil_scoped_acquire gil;
    try {
      NB_OVERRIDE(log, severity, message);
    } catch (nb::python_error& error) {
      error.discard_as_unraisable("kiln.Logger.log");
    } catch (...) {
    }
  }
};

}  // namespace

void PyLogger::log(Severity severity, std::string_view message) noexcept {
  if (int(severity) > int(min_severity)) return;
  static const char kLetters[] = {'F', 'E', 'W', 'I', 'V'};
  std::fprintf(stderr, "[kiln] %c: %.*s\n", kLetters[int(severity)], int(message.size()),
               message.data());
}

void bind_logger(nb::module_& m) {
  nb::class_<PyLogger, TrampolineLogger> logger(
      m, "Logger",
      "Receives kiln's messages. Logger(min_severity) prints those at or above min_severity "
      "to stderr; subclass it and override log(severity, message) to route them elsewhere "
      "(call Logger.__init__ in your __init__).");
  nb::enum_<Severity>(logger, "Severity")
      .value("INTERNAL_ERROR", Severity::kInternalError)
      .value("ERROR", Severity::kError)
      .value("WARNING", Severity::kWarning)
      .value("INFO", Severity::kInfo)
      .value("VERBOSE", Severity::kVerbose)
      .export_values();  // Logger.WARNING, as in TensorRT
  logger.def(nb::init<Severity>(), nb::arg("min_severity") = Severity::kWarning)
      .def_rw("min_severity", &PyLogger::min_severity,
              "Messages less severe than this are not printed by the default log().")
      .def("log", &PyLogger::log, nb::arg("severity"), nb::arg("message"),
           "Called for every message; the default prints it to stderr if severe enough.");
}

}  // namespace kiln::python

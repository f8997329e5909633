// kiln.Profiler: TensorRT's IProfiler. Set on an execution context (context.profiler = p), it
// receives each layer's time after every run. Used as is it prints them, as trt.Profiler does;
// a Python subclass overrides report_layer_time(layer_name, ms) (kiln.IProfiler is the same
// class, for code written against trt.IProfiler).
#include <nanobind/stl/string.h>
#include <nanobind/trampoline.h>

#include <cstdio>

#include "bindings.h"
#include "common.h"

namespace kiln::python {
namespace {

class TrampolineProfiler : public PyProfiler {
 public:
#if NB_VERSION_MAJOR >= 3
  NB_TRAMPOLINE(PyProfiler);
#else
  NB_TRAMPOLINE(PyProfiler, 1);
#endif

  // kiln reports from inside execute / enqueue, which released the GIL: take it back first. An
  // exception raised by the override cannot cross kiln's executor; it is reported as
  // "unraisable" (printed by Python) and the run goes on, as for kiln.Logger.
  void report_layer_time(const std::string& layer_name, float milliseconds) override {
    if (!Py_IsInitialized()) return;
    nb::gil_scoped_acquire gil;
    try {
      NB_OVERRIDE(report_layer_time, layer_name, milliseconds);
    } catch (nb::python_error& error) {
      error.discard_as_unraisable("kiln.Profiler.report_layer_time");
    } catch (...) {
    }
  }
};

}  // namespace

void PyProfiler::report_layer_time(const std::string& layer_name, float milliseconds) {
  if (!Py_IsInitialized()) return;
  nb::gil_scoped_acquire gil;
  // Python's print, so that the lines go where sys.stdout goes (and can be captured).
  char time[32];
  std::snprintf(time, sizeof(time), "%.5fms", double(milliseconds));
  try {
    nb::print(nb::str((layer_name + ": " + time).c_str()));
  } catch (nb::python_error& error) {
    error.discard_as_unraisable("kiln.Profiler.report_layer_time");
  }
}

void bind_profiler(nb::module_& m) {
  nb::class_<PyProfiler, TrampolineProfiler>(
      m, "Profiler",
      "Receives each layer's time after a run (context.profiler = profiler). Used as is it "
      "prints '<layer>: <ms>ms' lines; subclass it and override report_layer_time(layer_name, "
      "ms) to collect them (call Profiler.__init__ in your __init__). With a profiler set, a "
      "GPU run times every layer with CUDA events and waits for the GPU before returning.")
      .def(nb::init<>())
      .def("report_layer_time", &PyProfiler::report_layer_time, nb::arg("layer_name"),
           nb::arg("ms"), "Called once per layer and run; the default prints the time.");
}

}  // namespace kiln::python

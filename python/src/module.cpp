// The `kiln._kiln` extension module: kiln's public C++ API (include/kiln/kiln.h) with
// TensorRT's Python object model. The `kiln` package (python/kiln/) re-exports it and adds the
// short path (kiln.build, kiln.load) in pure Python.
#include <cstdlib>

#include "common.h"

NB_MODULE(_kiln, m) {
  using namespace kiln::python;
  m.doc() = "kiln's C++ API bound with nanobind; import the `kiln` package instead.";
  m.attr("__version__") = kiln::version_string();
  // nanobind reports objects still alive when the interpreter exits; a Python subclass of
  // kiln.Logger whose __init__ uses super() is such an object (its class sits in a reference
  // cycle collected after the check), so the report would alarm users for nothing. Set
  // KILN_PYTHON_LEAK_WARNINGS=1 to see it when hunting reference leaks in the bindings.
  const char* leak_warnings = std::getenv("KILN_PYTHON_LEAK_WARNINGS");
  nb::set_leak_warnings(leak_warnings != nullptr && leak_warnings[0] == '1');
  bind_errors(m);
  bind_types(m);
  bind_logger(m);
  bind_network(m);
  bind_builder(m);
  bind_cuda(m);
  bind_profiler(m);
  bind_output_allocator(m);
  bind_runtime(m);
}

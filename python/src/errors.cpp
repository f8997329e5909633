// kiln::Error → Python exceptions: kiln.KilnError (a RuntimeError) with one subclass per
// ErrorCode, each also deriving from the builtin exception a Python programmer would catch
// (InvalidArgumentError is a ValueError, FileError an OSError, UnsupportedError a
// NotImplementedError). The exception carries kiln's message and `.code` (a kiln.ErrorCode).
// Other C++ failures are kiln's too: std::bad_alloc becomes kiln.OutOfMemoryError (also a
// MemoryError), any other std::exception kiln.InternalError naming what was thrown; nanobind's
// own exceptions (argument conversion, Python errors passing through) keep their meaning.
#include <array>
#include <new>
#include <vector>

#include "common.h"

namespace kiln::python {
namespace {

constexpr int kNumErrorCodes = int(ErrorCode::kInternal) + 1;

struct ErrorClasses {
  PyObject* base = nullptr;
  PyObject* out_of_memory = nullptr;
  std::array<PyObject*, kNumErrorCodes> by_code{};
};

// Created once with the module and kept for the life of the interpreter.
ErrorClasses& error_classes() {
  static ErrorClasses classes;
  return classes;
}

// A new exception class kiln.<name> deriving from `bases`, stored on the module.
PyObject* add_exception_class(nb::module_& m, const char* name, const std::vector<PyObject*>& bases,
                              const char* doc) {
  nb::tuple base_tuple = nb::steal<nb::tuple>(PyTuple_New(Py_ssize_t(bases.size())));
  Py_ssize_t i = 0;
  for (PyObject* base : bases) {
    Py_INCREF(base);
    PyTuple_SET_ITEM(base_tuple.ptr(), i++, base);
  }
  const std::string qualified = std::string("kiln.") + name;
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base_tuple.ptr(), nullptr);
  if (!cls) throw nb::python_error();
  m.attr(name) = nb::handle(cls);  // the module holds a reference; `cls` keeps ours
  return cls;
}

void raise_kiln_error(const Error& error, PyObject* type = nullptr) {
  const ErrorClasses& classes = error_classes();
  const int code = int(error.code());
  if (!type) {
    type = code >= 0 && code < kNumErrorCodes ? classes.by_code[size_t(code)] : classes.base;
  }
  const std::string message = error.what();
  // File names in messages may hold bytes that are not UTF-8: never fail on them.
  nb::object text =
      nb::steal(PyUnicode_DecodeUTF8(message.data(), Py_ssize_t(message.size()), "replace"));
  if (!text.is_valid()) return;  // a Python error is already set
  nb::object instance = nb::steal(PyObject_CallOneArg(type, text.ptr()));
  if (!instance.is_valid()) return;
  nb::object code_value = nb::cast(error.code());
  if (PyObject_SetAttrString(instance.ptr(), "code", code_value.ptr()) != 0) return;
  PyErr_SetObject(type, instance.ptr());
}

}  // namespace

void bind_errors(nb::module_& m) {
  ErrorClasses& classes = error_classes();
  classes.base = add_exception_class(
      m, "KilnError", {PyExc_RuntimeError},
      "An error reported by kiln. `str(error)` is kiln's message (what was wrong and where); "
      "`error.code` is a kiln.ErrorCode. Subclasses exist per code.");
  auto add = [&](ErrorCode code, const char* name, std::initializer_list<PyObject*> extra,
                 const char* doc) {
    std::vector<PyObject*> bases{classes.base};
    bases.insert(bases.end(), extra.begin(), extra.end());
    classes.by_code[size_t(code)] = add_exception_class(m, name, bases, doc);
  };
  add(ErrorCode::kInvalidArgument, "InvalidArgumentError", {PyExc_ValueError},
      "A wrong argument: unknown tensor name, shape outside the profile, wrong dtype, bad flag.");
  add(ErrorCode::kInvalidModel, "InvalidModelError", {},
      "The model (ONNX file or network definition) is malformed or inconsistent.");
  add(ErrorCode::kUnsupported, "UnsupportedError", {PyExc_NotImplementedError},
      "Valid input that kiln cannot handle yet (the message lists what and why).");
  add(ErrorCode::kInvalidPlan, "InvalidPlanError", {},
      "A plan (serialized engine) that is corrupt, truncated or not a plan.");
  add(ErrorCode::kVersionMismatch, "VersionMismatchError", {},
      "A plan built by another kiln version or for another target (both are named).");
  add(ErrorCode::kIO, "FileError", {PyExc_OSError}, "A file could not be read or written.");
  add(ErrorCode::kRuntime, "ExecutionError", {}, "A failure while executing an engine.");
  add(ErrorCode::kInternal, "InternalError", {}, "A bug in kiln: please report it.");
  classes.out_of_memory = add_exception_class(
      m, "OutOfMemoryError", {classes.base, PyExc_MemoryError},
      "kiln could not allocate host memory for what it was asked to do (code kRuntime).");

  nb::register_exception_translator([](const std::exception_ptr& thrown, void*) {
    try {
      std::rethrow_exception(thrown);
    } catch (const Error& error) {
      raise_kiln_error(error);
    } catch (const nb::builtin_exception&) {
      throw;  // nanobind's own (TypeError for a wrong argument, ...): its translator's
    } catch (const nb::python_error&) {
      throw;
    } catch (const std::bad_alloc&) {
      raise_kiln_error(
          Error(ErrorCode::kRuntime, "out of host memory: an allocation failed (std::bad_alloc)"),
          error_classes().out_of_memory);
    } catch (const std::exception& e) {
      raise_kiln_error(
          Error(ErrorCode::kInternal,
                std::string("internal error (a bug in kiln, please report it): ") + e.what()));
    }
  });
}

void invalid_argument(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

}  // namespace kiln::python

// Internal side of the error policy: build messages cheaply and throw kiln::Error.
//   KILN_CHECK(cond, ErrorCode::kInvalidModel, "Reshape '", name, "': shape has ", n, " -1s");
#pragma once

#include <sstream>
#include <string>
#include <utility>

#include "kiln/error.h"

namespace kiln {

// Concatenates anything printable with operator<<.
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorCode code, Args&&... args) {
  throw Error(code, cat(std::forward<Args>(args)...));
}

}  // namespace kiln

#define KILN_CHECK(cond, code, ...)                 \
  do {                                              \
    if (!(cond)) ::kiln::fail((code), __VA_ARGS__); \
  } while (0)

// An invariant of kiln itself; failing it is a kiln bug, reported with file and line.
#define KILN_ASSERT(cond)                                                                          \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::kiln::fail(::kiln::ErrorCode::kInternal, "internal error: ", #cond, " at ", __FILE__, ":", \
                   __LINE__);                                                                      \
  } while (0)

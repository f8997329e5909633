// Where a registration (an op, an ONNX importer, a CPU or CUDA kernel) is in the source tree, so
// that docs/operators.md can point a reader at each op's files. The registration macros record
// KILN_SOURCE_FILE; it is relative to the repository ("src/ops/convolution.cpp") because the
// committed doc must not depend on where the tree was checked out, while __FILE__ is whatever
// path the build handed the compiler (absolute under CMake).
#pragma once

#include <string_view>

namespace kiln {

// `file` without the leading `source_dir` and its '/'; `file` itself when it is not under
// `source_dir` (a build that does not define KILN_SOURCE_DIR, or a relative __FILE__).
constexpr std::string_view relative_source_path(std::string_view file,
                                                std::string_view source_dir) {
  if (source_dir.empty() || file.size() <= source_dir.size() ||
      file.substr(0, source_dir.size()) != source_dir || file[source_dir.size()] != '/') {
    return file;
  }
  return file.substr(source_dir.size() + 1);
}

}  // namespace kiln

// The build defines KILN_SOURCE_DIR (the repository's top directory) for kiln's own sources.
#ifdef KILN_SOURCE_DIR
#define KILN_SOURCE_FILE (::kiln::relative_source_path(__FILE__, KILN_SOURCE_DIR))
#else
#define KILN_SOURCE_FILE (::std::string_view(__FILE__))
#endif

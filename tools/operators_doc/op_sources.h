// Where a kiln op is in the source tree, for docs/operators.md: the files its registrations
// recorded (KILN_SOURCE_FILE, src/core/source_file.h) and the test files named after them.
// Used by kiln_operators_doc and its unit test (tests/docs).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ops/op.h"

namespace kiln::opsdoc {

// Paths relative to the repository, each file once, sorted (the tests in the order below).
struct OpSources {
  std::string definition;  // the file whose KILN_REGISTER_OP registers the op
  // Files registering an importer of the ONNX op of the same name, the shared pass-through list
  // (kPassThroughImporters) left out: it names a hundred ops and tells nothing about one.
  std::vector<std::string> importers;
  bool imported_as_is = false;            // the pass-through list has the op
  std::vector<std::string> cpu_kernels;   // files with a KILN_REGISTER_CPU_KERNEL of the op
  std::vector<std::string> cuda_kernels;  // files registering a CUDA kernel of the op
  // Those of the tests named after the files above that exist: tests/ops/<family>_test.cpp and
  // tests/gpu/gpu_<family>_test.cpp for the definition's src/ops/<family>.cpp, and
  // tests/gpu/gpu_<family>_test.cpp for each src/backends/cuda/<family>.cu.
  std::vector<std::string> tests;
};

inline constexpr const char* kPassThroughImporters = "src/onnx/import_passthrough.cpp";

// `source_dir`: the repository, where the test files are looked for.
OpSources op_sources(const ops::OpDef& def, const std::filesystem::path& source_dir);

}  // namespace kiln::opsdoc

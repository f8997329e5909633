// Where docs/operators.md says each op is defined (tools/operators_doc/op_sources.h): the files
// the registration macros recorded, relative to the repository, and the tests named after them.
#include "op_sources.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernel.h"
#include "onnx/op_importer.h"
#include "ops/op.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_kernel.h"
#endif

namespace kiln::opsdoc {
namespace {

bool contains(const std::vector<std::string>& files, const std::string& file) {
  return std::find(files.begin(), files.end(), file) != files.end();
}

OpSources sources_of(const char* op) {
  const ops::OpDef* def = ops::OpRegistry::instance().find(op);
  if (!def) {
    ADD_FAILURE() << "no op " << op;
    return {};
  }
  return op_sources(*def, KILN_SOURCE_DIR);
}

// A path the doc can link to: relative to the repository, under src/.
::testing::AssertionResult under_src(const std::string& file) {
  if (file.rfind("src/", 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << file << "' is not a path under src/";
}

TEST(OpSources, ConvNamesItsDefinitionImporterKernelsAndTests) {
  const OpSources s = sources_of("Conv");
  EXPECT_EQ(s.definition, "src/ops/convolution.cpp");
  EXPECT_TRUE(s.imported_as_is);
  EXPECT_TRUE(contains(s.cpu_kernels, "src/backends/cpu/conv_kernels.cpp"));
  EXPECT_TRUE(contains(s.tests, "tests/ops/convolution_test.cpp"));
#ifdef KILN_HAVE_CUDA
  EXPECT_TRUE(contains(s.cuda_kernels, "src/backends/cuda/cudnn_conv.cu"));
  EXPECT_TRUE(contains(s.tests, "tests/gpu/gpu_cudnn_conv_test.cpp"));
#endif
}

TEST(OpSources, DedicatedImporterFilesAreListedAndThePassThroughListIsNot) {
  const OpSources add = sources_of("Add");
  EXPECT_TRUE(contains(add.importers, "src/onnx/import_elementwise.cpp"));
  EXPECT_FALSE(contains(add.importers, kPassThroughImporters));
  EXPECT_TRUE(sources_of("Relu").importers.empty());
}

TEST(OpSources, KilnOnlyOpHasNoImporter) {
  const OpSources s = sources_of("FusedConv");
  EXPECT_EQ(s.definition, "src/ops/fused_conv.cpp");
  EXPECT_TRUE(s.importers.empty());
  EXPECT_FALSE(s.imported_as_is);
}

// A registration that bypasses the macros (or a build without KILN_SOURCE_DIR) would leave its
// file empty or absolute, and the doc's link broken.
TEST(OpSources, EveryRegistrationRecordsItsFileUnderSrc) {
  for (const ops::OpDef* def : ops::OpRegistry::instance().all()) {
    EXPECT_TRUE(under_src(def->defined_in)) << "op " << def->name;
  }
  for (const std::string& op : onnx_import::ImporterRegistry::instance().op_names()) {
    for (const auto* importer : onnx_import::ImporterRegistry::instance().for_op(op)) {
      EXPECT_TRUE(under_src(importer->defined_in)) << "importer of " << op;
    }
  }
  for (const cpu::CpuKernel& k : cpu::CpuKernelRegistry::instance().kernels()) {
    EXPECT_TRUE(under_src(k.defined_in)) << "CPU kernel " << k.name;
  }
#ifdef KILN_HAVE_CUDA
  for (const cuda::CudaKernel& k : cuda::CudaKernelRegistry::instance().kernels()) {
    EXPECT_TRUE(under_src(k.defined_in)) << "CUDA kernel " << k.name << " of " << k.op;
  }
#endif
}

}  // namespace
}  // namespace kiln::opsdoc

// Real ONNX files from the ONNX backend test data (Debian's libonnx-testdata), at the opsets
// they were written with. These check that files import with the expected structure; the
// numbers they compute are checked by the conformance tests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

const char* const kTestData = "/usr/share/libonnx-testdata/data";

std::unique_ptr<ir::Graph> import_test_model(const std::string& relative) {
  return onnx_import::import_onnx_file(std::string(kTestData) + "/" + relative + "/model.onnx",
                                       null_logger(), any_op_is_defined());
}

struct Expected {
  const char* model;
  std::vector<std::string> ops;
  size_t inputs;
  size_t outputs;
};

TEST(RealOnnxFiles, ImportWithTheExpectedStructure) {
  if (!fs::exists(kTestData)) GTEST_SKIP() << kTestData << " is not installed";
  const std::vector<Expected> cases = {
      {"node/test_abs", {"Abs"}, 1, 1},
      {"node/test_softmax_axis_1", {"Softmax"}, 1, 1},
      // opset 9: Upsample becomes Resize (its scales are a graph input here)
      {"node/test_upsample_nearest", {"Resize"}, 2, 1},
      {"node/test_split_equal_parts_1d", {"Split"}, 1, 3},
      {"node/test_reshape_extended_dims", {"Reshape"}, 2, 1},
      {"node/test_batchnorm_epsilon", {"BatchNormalization"}, 5, 1},
      // a Constant node is a constant value, not a node
      {"node/test_constant", {}, 0, 1},
      {"node/test_dropout_default_mask", {"Dropout"}, 1, 2},
      {"node/test_top_k", {"TopK"}, 2, 2},
      {"node/test_if", {"If"}, 1, 1},
      {"node/test_loop11", {"Loop"}, 3, 2},
      {"node/test_scan9_sum", {"Scan"}, 2, 2},
      {"node/test_cast_FLOAT_to_FLOAT16", {"Cast"}, 1, 1},
      {"node/test_resize_downsample_scales_linear", {"Resize"}, 2, 1},
      // opset 6 files (older than kiln's supported range: imported on a best-effort basis)
      {"pytorch-operator/test_operator_basic", {"Add", "Mul", "Tanh", "Sigmoid", "Neg"}, 2, 1},
      {"pytorch-operator/test_operator_chunk", {"Split"}, 1, 2},
      {"pytorch-operator/test_operator_clip", {"Clip"}, 1, 1},
      {"pytorch-operator/test_operator_pad", {"Pad"}, 1, 1},
      {"pytorch-operator/test_operator_index", {"Slice", "Squeeze"}, 1, 1},
      {"pytorch-operator/test_operator_reduced_mean", {"ReduceMean"}, 1, 1},
      {"pytorch-converted/test_GLU", {"Split", "Sigmoid", "Mul"}, 1, 1},
      {"pytorch-converted/test_BatchNorm2d_eval", {"BatchNormalization"}, 1, 1},
      {"pytorch-converted/test_PReLU_2d_multiparam", {"PRelu"}, 1, 1},
  };
  for (const Expected& c : cases) {
    SCOPED_TRACE(c.model);
    if (!fs::exists(std::string(kTestData) + "/" + c.model + "/model.onnx")) {
      ADD_FAILURE() << "missing test file";
      continue;
    }
    auto g = import_test_model(c.model);
    EXPECT_EQ(op_sequence(*g), c.ops);
    EXPECT_EQ(g->inputs().size(), c.inputs);
    EXPECT_EQ(g->outputs().size(), c.outputs);
  }
}

TEST(RealOnnxFiles, OldOpsetAttributesBecomeInputs) {
  if (!fs::exists(kTestData)) GTEST_SKIP() << kTestData << " is not installed";
  // Opset 6 Clip: min/max attributes became scalar constants.
  auto clip = import_test_model("pytorch-operator/test_operator_clip");
  const ir::Node& c = *clip->nodes().front();
  ASSERT_EQ(c.inputs.size(), 3u);
  EXPECT_TRUE(c.inputs[1]->is_constant());
  EXPECT_TRUE(c.inputs[2]->is_constant());
  EXPECT_EQ(c.inputs[1]->constant->rank(), 0u);

  // Opset 6 PRelu: the per-channel slope [3] is aligned with dim 1 of the [2,3,4,5] input.
  auto prelu = import_test_model("pytorch-converted/test_PReLU_2d_multiparam");
  const ir::Node& pr = *prelu->nodes().front();
  ASSERT_TRUE(pr.inputs[1]->is_constant());
  EXPECT_EQ(pr.inputs[1]->constant->shape(), (Dims{3, 1, 1}));

  // Opset 6 Pad: pads attribute became an int64 input.
  auto pad = import_test_model("pytorch-operator/test_operator_pad");
  const ir::Node& p = *pad->nodes().front();
  ASSERT_GE(p.inputs.size(), 2u);
  ASSERT_TRUE(p.inputs[1]->is_constant());
  EXPECT_EQ(p.inputs[1]->constant->dtype(), DataType::kInt64);
}

// Every file of the test data either imports or is refused as unsupported with a message that
// names a node; none may be reported as malformed or crash the importer.
TEST(RealOnnxFiles, EveryFileImportsOrIsReportedUnsupported) {
  if (!fs::exists(kTestData)) GTEST_SKIP() << kTestData << " is not installed";
  int imported = 0, unsupported = 0;
  for (const char* folder : {"node", "pytorch-operator", "pytorch-converted", "simple"}) {
    const fs::path dir = fs::path(kTestData) / folder;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const fs::path model = entry.path() / "model.onnx";
      if (!fs::exists(model)) continue;
      try {
        onnx_import::import_onnx_file(model.string(), null_logger(), any_op_is_defined());
        ++imported;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << model << ": " << e.what();
        ++unsupported;
        if (std::getenv("KILN_TEST_VERBOSE")) std::cout << model << ": " << e.what() << "\n";
      }
    }
  }
  std::cout << "[          ] " << imported << " test files imported, " << unsupported
            << " unsupported\n";
  // Most of ONNX's node tests use ops kiln imports.
  EXPECT_GT(imported, 3 * unsupported);
}

}  // namespace
}  // namespace kiln::testing

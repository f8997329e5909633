// The CPU backend's fast float32 kernels (conv_kernels.cpp, gemm_kernels.cpp) against the ops'
// reference computes (float64 accumulation) on random inputs over many shapes and attribute
// combinations. The fast result starts as NaN everywhere, so an unwritten element fails.
#include <gtest/gtest.h>

#include <variant>

#include "ops/nn_test_util.h"

namespace kiln {
namespace {

using testing::random_f32;
using testing::relative_l2;
using testing::run_fast_and_reference;

constexpr double kTolerance = 1e-5;

struct Case {
  std::string label;
  Dims x, w;
  ir::Attributes attrs;
  bool bias;
  std::string kernel;  // the fast kernel expected to take it
};

int64_t group_of(const ir::Attributes& attrs) {
  auto it = attrs.find("group");
  return it == attrs.end() ? 1 : std::get<int64_t>(it->second);
}

void check_case(const std::string& op, const Case& c, uint32_t seed) {
  SCOPED_TRACE(op + " " + c.label);
  std::vector<Tensor> inputs{random_f32(c.x, seed), random_f32(c.w, seed + 1)};
  if (c.bias) {
    const int64_t channels = op == "Conv" ? c.w[0] : c.w[1] * group_of(c.attrs);
    inputs.push_back(random_f32({channels}, seed + 2));
  }
  auto r = run_fast_and_reference(op, inputs, c.attrs);
  ASSERT_EQ(r.kernel, c.kernel);
  ASSERT_EQ(r.fast.shape(), r.reference.shape());
  EXPECT_LT(relative_l2(r.fast, r.reference), kTolerance);
}

const std::string kIm2col = "conv_im2col_sgemm";
const std::string kPointwise = "conv_pointwise_sgemm";
const std::string kDepthwise = "conv_depthwise_direct";

TEST(CpuFastConv, MatchesReferenceOverManyShapes) {
  const std::string same_upper = "SAME_UPPER", same_lower = "SAME_LOWER", valid = "VALID";
  const std::vector<Case> cases = {
      {"1x1 bottleneck, batch 2", {2, 16, 7, 7}, {32, 16, 1, 1}, {}, true, kPointwise},
      {"1x1 no bias", {1, 8, 5, 6}, {4, 8, 1, 1}, {}, false, kPointwise},
      {"1x1 explicit zero pads",
       {1, 8, 5, 6},
       {4, 8, 1, 1},
       {{"pads", Dims{0, 0, 0, 0}}},
       true,
       kPointwise},
      {"1x1 stride 2 (downsample)",
       {1, 16, 9, 9},
       {8, 16, 1, 1},
       {{"strides", Dims{2, 2}}},
       true,
       kIm2col},
      {"1x1 with pads", {1, 4, 5, 5}, {4, 4, 1, 1}, {{"pads", Dims{1, 0, 0, 1}}}, true, kIm2col},
      {"3x3 pad 1", {1, 8, 10, 12}, {16, 8, 3, 3}, {{"pads", Dims{1, 1, 1, 1}}}, true, kIm2col},
      {"3x3 stride 2 pad 1, batch 3",
       {3, 8, 11, 10},
       {8, 8, 3, 3},
       {{"pads", Dims{1, 1, 1, 1}}, {"strides", Dims{2, 2}}},
       true,
       kIm2col},
      {"7x7 stride 2 pad 3 stem",
       {1, 3, 32, 32},
       {16, 3, 7, 7},
       {{"pads", Dims{3, 3, 3, 3}}, {"strides", Dims{2, 2}}},
       true,
       kIm2col},
      {"dilation 2",
       {1, 4, 12, 12},
       {6, 4, 3, 3},
       {{"dilations", Dims{2, 2}}, {"pads", Dims{2, 2, 2, 2}}},
       false,
       kIm2col},
      {"asymmetric pads, strides, dilations",
       {2, 3, 13, 9},
       {5, 3, 3, 2},
       {{"pads", Dims{0, 2, 3, 1}}, {"strides", Dims{3, 2}}, {"dilations", Dims{2, 3}}},
       true,
       kIm2col},
      {"SAME_UPPER stride 2",
       {1, 4, 9, 8},
       {4, 4, 4, 3},
       {{"auto_pad", same_upper}, {"strides", Dims{2, 2}}},
       true,
       kIm2col},
      {"SAME_LOWER", {1, 4, 7, 6}, {4, 4, 2, 4}, {{"auto_pad", same_lower}}, true, kIm2col},
      {"VALID", {1, 4, 7, 6}, {4, 4, 3, 3}, {{"auto_pad", valid}}, true, kIm2col},
      {"grouped 4",
       {2, 16, 8, 8},
       {16, 4, 3, 3},
       {{"group", int64_t(4)}, {"pads", Dims{1, 1, 1, 1}}},
       true,
       kIm2col},
      {"grouped pointwise", {1, 8, 6, 6}, {12, 4, 1, 1}, {{"group", int64_t(2)}}, true, kPointwise},
      {"depthwise 3x3",
       {2, 8, 10, 10},
       {8, 1, 3, 3},
       {{"group", int64_t(8)}, {"pads", Dims{1, 1, 1, 1}}},
       true,
       kDepthwise},
      {"depthwise 3x3 stride 2",
       {1, 6, 11, 12},
       {6, 1, 3, 3},
       {{"group", int64_t(6)}, {"pads", Dims{1, 1, 1, 1}}, {"strides", Dims{2, 2}}},
       false,
       kDepthwise},
      {"depthwise 5x5 dilated, SAME_UPPER",
       {1, 4, 9, 9},
       {4, 1, 5, 5},
       {{"group", int64_t(4)}, {"auto_pad", same_upper}, {"dilations", Dims{2, 1}}},
       true,
       kDepthwise},
      {"depthwise multiplier 2",
       {1, 3, 7, 8},
       {6, 1, 3, 3},
       {{"group", int64_t(3)}, {"pads", Dims{0, 1, 2, 1}}},
       true,
       kDepthwise},
      {"single input channel, many outputs", {1, 1, 9, 9}, {8, 1, 3, 3}, {}, true, kIm2col},
      {"1-D",
       {2, 6, 20},
       {8, 3, 5},
       {{"group", int64_t(2)}, {"pads", Dims{2, 1}}, {"strides", Dims{2}}},
       true,
       kIm2col},
      {"1-D depthwise",
       {1, 4, 15},
       {4, 1, 3},
       {{"group", int64_t(4)}, {"dilations", Dims{3}}},
       true,
       kDepthwise},
      {"3-D",
       {1, 4, 5, 6, 7},
       {6, 2, 3, 2, 3},
       {{"group", int64_t(2)}, {"pads", Dims{1, 0, 1, 1, 1, 0}}, {"strides", Dims{1, 2, 2}}},
       true,
       kIm2col},
      {"3-D pointwise", {2, 4, 3, 4, 5}, {3, 4, 1, 1, 1}, {}, true, kPointwise},
      {"kernel larger than input with padding",
       {1, 2, 3, 3},
       {2, 2, 5, 5},
       {{"pads", Dims{2, 2, 2, 2}}},
       true,
       kIm2col},
  };
  uint32_t seed = 100;
  for (const Case& c : cases) check_case("Conv", c, seed += 3);
}

TEST(CpuFastConv, LeavesOtherDtypesToTheReference) {
  ir::Graph graph;
  ir::Node* node = graph.add_node("Conv", "node", {}, {"y"});
  const std::vector<ops::TensorDesc> f64{{DataType::kFloat64, {1, 2, 4, 4}},
                                         {DataType::kFloat64, {2, 2, 3, 3}}};
  EXPECT_EQ(cpu::CpuKernelRegistry::instance().select(*node, f64), nullptr);
  const std::vector<ops::TensorDesc> f16{{DataType::kFloat16, {1, 2, 4, 4}},
                                         {DataType::kFloat16, {2, 2, 3, 3}}};
  EXPECT_EQ(cpu::CpuKernelRegistry::instance().select(*node, f16), nullptr);
}

TEST(CpuFastConvTranspose, MatchesReferenceOverManyShapes) {
  const std::string kernel = "conv_transpose_sgemm_col2im";
  const std::vector<Case> cases = {
      {"3x3 stride 1", {1, 4, 5, 6}, {4, 3, 3, 3}, {}, true, kernel},
      {"stride 2 pads output_padding, batch 2",
       {2, 4, 5, 5},
       {4, 6, 3, 3},
       {{"strides", Dims{2, 2}}, {"pads", Dims{1, 1, 0, 1}}, {"output_padding", Dims{1, 0}}},
       true,
       kernel},
      {"grouped dilated",
       {1, 6, 4, 5},
       {6, 2, 2, 3},
       {{"group", int64_t(3)}, {"dilations", Dims{2, 1}}, {"strides", Dims{1, 3}}},
       true,
       kernel},
      {"output_shape",
       {1, 3, 4, 4},
       {3, 2, 3, 3},
       {{"strides", Dims{2, 2}}, {"output_shape", Dims{8, 9}}},
       false,
       kernel},
      {"SAME_LOWER",
       {1, 3, 4, 5},
       {3, 2, 4, 3},
       {{"strides", Dims{2, 2}}, {"auto_pad", std::string("SAME_LOWER")}},
       true,
       kernel},
      {"SAME_UPPER",
       {1, 3, 4, 5},
       {3, 2, 4, 3},
       {{"strides", Dims{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}},
       true,
       kernel},
      {"1x1 kernel", {1, 8, 4, 4}, {8, 4, 1, 1}, {}, true, kernel},
      {"1-D", {2, 4, 7}, {4, 3, 4}, {{"strides", Dims{3}}, {"pads", Dims{1, 2}}}, true, kernel},
      {"3-D", {1, 2, 3, 4, 3}, {2, 3, 2, 3, 2}, {{"strides", Dims{2, 1, 2}}}, true, kernel},
      {"output larger than covered (negative pads)",
       {1, 2, 3, 3},
       {2, 2, 2, 2},
       {{"output_shape", Dims{9, 8}}, {"strides", Dims{2, 2}}},
       true,
       kernel},
  };
  uint32_t seed = 500;
  for (const Case& c : cases) check_case("ConvTranspose", c, seed += 3);
}

struct MatMulCase {
  Dims a, b;
};

TEST(CpuFastMatMul, MatchesReferenceWithBatchesAndBroadcasting) {
  const std::vector<MatMulCase> cases = {
      {{7, 13}, {13, 5}},           {{64, 96}, {96, 80}},   {{2, 3, 9, 8}, {8, 6}},
      {{4, 10, 12}, {4, 12, 7}},    {{1, 5, 6}, {3, 6, 4}}, {{3, 1, 5, 6}, {2, 6, 4}},
      {{5, 6}, {3, 6, 4}},          {{12}, {12, 5}},        {{4, 12}, {12}},
      {{2, 3, 12}, {12}},           {{12}, {2, 12, 3}},     {{16}, {16}},
      {{1, 1, 7, 3}, {2, 3, 3, 2}},
  };
  uint32_t seed = 900;
  for (const MatMulCase& c : cases) {
    SCOPED_TRACE(to_string(c.a) + " x " + to_string(c.b));
    auto r = run_fast_and_reference("MatMul", {random_f32(c.a, seed), random_f32(c.b, seed + 1)});
    seed += 2;
    ASSERT_EQ(r.kernel, "matmul_sgemm");
    ASSERT_EQ(r.fast.shape(), r.reference.shape());
    EXPECT_LT(relative_l2(r.fast, r.reference), kTolerance);
  }
}

TEST(CpuFastMatMul, EmptyInnerDimensionGivesZeros) {
  auto r = run_fast_and_reference("MatMul", {Tensor::zeros(DataType::kFloat32, {3, 0}),
                                             Tensor::zeros(DataType::kFloat32, {0, 4})});
  ASSERT_EQ(r.kernel, "matmul_sgemm");
  ASSERT_EQ(r.fast.shape(), (Dims{3, 4}));
  for (int64_t i = 0; i < r.fast.numel(); ++i) EXPECT_EQ(r.fast.data<float>()[i], 0.0f);
}

TEST(CpuFastGemm, MatchesReferenceForTransposesScalesAndC) {
  struct GemmCase {
    Dims a, b;
    std::optional<Dims> c;
    bool trans_a, trans_b;
    double alpha, beta;
  };
  const std::vector<GemmCase> cases = {
      {{8, 16}, {16, 10}, Dims{10}, false, false, 1.0, 1.0},
      {{16, 8}, {16, 10}, Dims{8, 10}, true, false, 0.5, 2.0},
      {{8, 16}, {10, 16}, Dims{8, 1}, false, true, 1.0, -1.0},
      {{16, 8}, {10, 16}, Dims{}, true, true, -2.0, 0.25},
      {{1, 2048}, {1000, 2048}, Dims{1000}, false, true, 1.0, 1.0},  // a classifier head
      {{5, 7}, {7, 3}, std::nullopt, false, false, 1.5, 1.0},
      {{5, 7}, {7, 3}, Dims{1, 3}, false, false, 1.0, 0.0},
  };
  uint32_t seed = 1300;
  for (const GemmCase& c : cases) {
    SCOPED_TRACE(to_string(c.a) + " x " + to_string(c.b));
    std::vector<Tensor> inputs{random_f32(c.a, seed), random_f32(c.b, seed + 1)};
    if (c.c) inputs.push_back(random_f32(*c.c, seed + 2));
    seed += 3;
    auto r = run_fast_and_reference("Gemm", inputs,
                                    {{"transA", int64_t(c.trans_a)},
                                     {"transB", int64_t(c.trans_b)},
                                     {"alpha", c.alpha},
                                     {"beta", c.beta}});
    ASSERT_EQ(r.kernel, "gemm_sgemm");
    ASSERT_EQ(r.fast.shape(), r.reference.shape());
    EXPECT_LT(relative_l2(r.fast, r.reference), kTolerance);
  }
}

}  // namespace
}  // namespace kiln

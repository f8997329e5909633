// The convolution passes (passes/conv_fusion.h, passes/transpose_cancellation.h) on a small
// residual block: epilogues fold into FusedConv, FP16 convolutions go channels-last, the
// Transposes between them cancel, and the rewritten graph computes what the original did
// (both evaluated on the host by the reference computes: FusedConv's is Conv's reference on
// NCHW copies plus the epilogue, so this compares channels-last weights and data handling
// with plain Conv, Add and Relu).
#include "passes/conv_fusion.h"

#include <gtest/gtest.h>

#include "passes/batch_norm_folding.h"
#include "passes/transpose_cancellation.h"
#include "unit/pass_tester.h"

namespace kiln::passes {
namespace {

using namespace pass_testing;

// x [1,8,6,6] -> Conv(3x3, pad 1) -> Relu -> Conv(3x3, pad 1, bias) -> Add(x) -> Relu -> "y"
struct Block {
  ir::Graph g;
  explicit Block(DataType dtype) {
    ir::Value* x = g.add_input(
        "x", dtype, {ir::Dim::fixed(1), ir::Dim::fixed(8), ir::Dim::fixed(6), ir::Dim::fixed(6)});
    const ir::Attributes conv_attrs{{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
    ir::Value* v = g.add_node("Conv", "conv1",
                              {x, g.add_constant("w1", random_tensor(dtype, {8, 8, 3, 3}, 1))},
                              {"c1"}, conv_attrs)
                       ->outputs[0];
    v = g.add_node("Relu", "relu1", {v}, {"r1"})->outputs[0];
    v = g.add_node("Conv", "conv2",
                   {v, g.add_constant("w2", random_tensor(dtype, {8, 8, 3, 3}, 2)),
                    g.add_constant("b2", random_tensor(dtype, {8}, 3))},
                   {"c2"}, conv_attrs)
            ->outputs[0];
    v = g.add_node("Add", "add", {v, x}, {"sum"})->outputs[0];
    g.mark_output(g.add_node("Relu", "relu2", {v}, {"y"})->outputs[0]);
  }
};

// The convolutions to channels-last (at the tester's current points), then the Transposes
// between them cancelled: a rewrite for PassTester::run returning the convolutions converted.
auto channels_last(const PassTester& t, bool float32_too = false) {
  return [&t, float32_too](ir::Graph& g) {
    const size_t converted = convert_convs_to_channels_last(g, t.points(), float32_too);
    cancel_transposes(g);
    return converted;
  };
}

TEST(ConvFusion, EpiloguesFoldIntoFusedConv) {
  Block b(DataType::kFloat32);
  PassTester t(b.g, {{"x", random_tensor(DataType::kFloat32, {1, 8, 6, 6}, 9)}});
  EXPECT_EQ(t.run([&](ir::Graph& g) { return fuse_conv_epilogues(g, t.points()); }), 2u);
  ASSERT_EQ(count_ops(b.g, "FusedConv"), 2u);
  EXPECT_EQ(b.g.nodes().size(), 2u);  // the Relus and the Add are gone
  const ir::Node* second = b.g.nodes().back().get();
  EXPECT_EQ(second->attr_string("activation"), "relu");
  ASSERT_EQ(second->inputs.size(), 4u);  // X, W, B, Z
  EXPECT_EQ(second->inputs[3]->name, "x");
  EXPECT_EQ(b.g.outputs()[0]->name, "y");
  // float32 convert_convs_to_channels_last leaves alone unless TF32 is allowed.
  EXPECT_EQ(convert_convs_to_channels_last(b.g, t.points()), 0u);
  t.expect_same_values({.abs = 1e-5});
  EXPECT_EQ(t.run(channels_last(t, /*float32_too=*/true)), 2u);
  EXPECT_EQ(count_ops(b.g, "Transpose"), 2u);
  t.expect_same_values({.abs = 1e-5});
}

TEST(ConvFusion, Fp16ConvolutionsGoChannelsLastWithOnlyBoundaryTransposes) {
  Block b(DataType::kFloat16);
  PassTester t(b.g, {{"x", random_tensor(DataType::kFloat16, {1, 8, 6, 6}, 9)}});
  t.run([&](ir::Graph& g) { return fuse_conv_epilogues(g, t.points()); });
  EXPECT_EQ(t.run(channels_last(t)), 2u);
  EXPECT_EQ(count_ops(b.g, "FusedConv"), 2u);
  for (const auto& node : b.g.nodes()) {
    if (node->op == "FusedConv") EXPECT_EQ(node->attr_string("layout"), "NHWC");
  }
  // x into NHWC once (read by the first convolution and as the residual), y back once.
  EXPECT_EQ(count_ops(b.g, "Transpose"), 2u);
  EXPECT_EQ(b.g.outputs()[0]->name, "y");
  t.expect_same_values({.abs = 2e-2, .rel = 2e-2});
}

// 3 input channels are padded to 4, 6 to 8 (padded_channels in conv_fusion.cpp).
TEST(ConvFusion, FewInputChannelsArePadded) {
  for (const auto& channels_padded : std::vector<std::pair<int64_t, int64_t>>{{3, 4}, {6, 8}}) {
    // Not a structured binding: clang 14 (the sanitizer build) cannot capture one in a lambda.
    const int64_t channels = channels_padded.first, padded = channels_padded.second;
    SCOPED_TRACE(channels);
    ir::Graph g;
    ir::Value* x = g.add_input(
        "x", DataType::kFloat16,
        {ir::Dim::fixed(2), ir::Dim::fixed(channels), ir::Dim::fixed(7), ir::Dim::fixed(7)});
    ir::Value* y =
        g.add_node(
             "Conv", "conv",
             {x, g.add_constant("w", random_tensor(DataType::kFloat16, {8, channels, 3, 3}, 1))},
             {"y"}, {{"strides", std::vector<int64_t>{2, 2}}})
            ->outputs[0];
    g.mark_output(y);
    PassTester t(g, {{"x", random_tensor(DataType::kFloat16, {2, channels, 7, 7}, 2)}});
    EXPECT_EQ(
        t.run([&](ir::Graph& graph) { return convert_convs_to_channels_last(graph, t.points()); }),
        1u);
    ASSERT_EQ(count_ops(g, "Pad"), 1u);
    for (const auto& node : g.nodes()) {
      if (node->op == "FusedConv")
        EXPECT_EQ(node->inputs[1]->constant->shape(), (Dims{8, 3, 3, padded}));
    }
    t.expect_same_values({.abs = 1e-2, .rel = 1e-2});
  }
}

TEST(BatchNormFolding, FoldsIntoTheConvolutionsWeightsAndBias) {
  for (bool conv_bias : {false, true}) {
    SCOPED_TRACE(conv_bias ? "conv with bias" : "conv without bias");
    ir::Graph g;
    ir::Value* x =
        g.add_input("x", DataType::kFloat32,
                    {ir::Dim::fixed(1), ir::Dim::fixed(8), ir::Dim::fixed(6), ir::Dim::fixed(6)});
    std::vector<ir::Value*> conv_inputs{
        x, g.add_constant("w", random_tensor(DataType::kFloat32, {4, 8, 3, 3}, 1))};
    if (conv_bias)
      conv_inputs.push_back(g.add_constant("b", random_tensor(DataType::kFloat32, {4}, 2)));
    ir::Value* c = g.add_node("Conv", "conv", conv_inputs, {"c"})->outputs[0];
    Tensor var = random_tensor(DataType::kFloat32, {4}, 6);
    for (int64_t i = 0; i < 4; ++i) var.data<float>()[i] = std::abs(var.data<float>()[i]) + 0.1f;
    ir::Value* y =
        g.add_node("BatchNormalization", "bn",
                   {c, g.add_constant("scale", random_tensor(DataType::kFloat32, {4}, 3)),
                    g.add_constant("shift", random_tensor(DataType::kFloat32, {4}, 4)),
                    g.add_constant("mean", random_tensor(DataType::kFloat32, {4}, 5)),
                    g.add_constant("var", var)},
                   {"y"}, {{"epsilon", 1e-3}})
            ->outputs[0];
    g.mark_output(y);
    PassTester t(g, {{"x", random_tensor(DataType::kFloat32, {1, 8, 6, 6}, 9)}});
    EXPECT_EQ(t.run(fold_batch_norms), 1u);
    ASSERT_EQ(g.nodes().size(), 1u);
    EXPECT_EQ(g.nodes().front()->op, "Conv");
    EXPECT_EQ(g.outputs()[0]->name, "y");
    t.expect_same_values({.abs = 1e-4, .rel = 1e-4});
  }
}

TEST(TransposeCancellation, MovesThroughPointwiseOpsOnlyWhenAPairCancels) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32,
                             {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(4)});
  const ir::Attributes forward{{"perm", std::vector<int64_t>{0, 2, 1}}};
  ir::Value* t = g.add_node("Transpose", "t", {x}, {"t_out"}, forward)->outputs[0];
  ir::Value* two =
      g.add_constant("two", Tensor::from_vector<float>(DataType::kFloat32, {}, {2.0f}));
  ir::Value* v = g.add_node("Mul", "mul", {t, two}, {"scaled"})->outputs[0];
  v = g.add_node("Sigmoid", "sig", {v}, {"sig_out"})->outputs[0];
  ir::Value* back =
      g.add_node("Transpose", "back", {v}, {"back_out"}, forward)->outputs[0];  // undoes t
  g.mark_output(g.add_node("Neg", "neg", {back}, {"y"})->outputs[0]);
  g.mark_output(
      g.add_node("Relu", "other", {t}, {"z"})->outputs[0]);  // keeps t alive, no inverse after

  PassTester tester(g, {{"x", random_tensor(DataType::kFloat32, {2, 3, 4}, 1)}});
  EXPECT_EQ(tester.run(cancel_transposes), 1u);
  EXPECT_EQ(count_ops(g, "Transpose"),
            1u);  // t stays for the Relu; the pair around Mul/Sigmoid is gone
  EXPECT_EQ(g.users(g.find_value("x")).size(), 2u);
  tester.expect_same_values({.abs = 1e-6});  // both outputs
}

// ResNet's stem in FP16: Conv -> Relu -> MaxPool(3x3, stride 2, pad 1) -> Conv, and an
// AveragePool beside it. Channels-last leaves Transposes around the pools, which then run NHWC
// (layout attribute) so that only the graph's boundary Transposes stay.
TEST(TransposeCancellation, PoolsBetweenChannelsLastConvolutionsRunChannelsLast) {
  ir::Graph g;
  const DataType f16 = DataType::kFloat16;
  ir::Value* x = g.add_input(
      "x", f16, {ir::Dim::fixed(2), ir::Dim::fixed(8), ir::Dim::fixed(9), ir::Dim::fixed(9)});
  const ir::Attributes conv_attrs{{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  ir::Value* v =
      g.add_node("Conv", "conv1", {x, g.add_constant("w1", random_tensor(f16, {16, 8, 3, 3}, 1))},
                 {"c1"}, conv_attrs)
          ->outputs[0];
  v = g.add_node("Relu", "relu1", {v}, {"r1"})->outputs[0];
  ir::Value* pooled = g.add_node("MaxPool", "pool", {v}, {"p1"},
                                 {{"kernel_shape", std::vector<int64_t>{3, 3}},
                                  {"strides", std::vector<int64_t>{2, 2}},
                                  {"pads", std::vector<int64_t>{1, 1, 1, 1}}})
                          ->outputs[0];
  ir::Value* averaged = g.add_node("AveragePool", "avg", {pooled}, {"a1"},
                                   {{"kernel_shape", std::vector<int64_t>{2, 2}},
                                    {"pads", std::vector<int64_t>{0, 0, 1, 1}},
                                    {"count_include_pad", int64_t(1)}})
                            ->outputs[0];
  v = g.add_node("Conv", "conv2",
                 {averaged, g.add_constant("w2", random_tensor(f16, {8, 16, 3, 3}, 2))}, {"c2"},
                 conv_attrs)
          ->outputs[0];
  g.mark_output(v);
  PassTester t(g, {{"x", random_tensor(f16, {2, 8, 9, 9}, 3)}});
  t.run([&](ir::Graph& graph) { return fuse_conv_epilogues(graph, t.points()); });
  EXPECT_EQ(t.run(channels_last(t)), 2u);
  EXPECT_EQ(count_ops(g, "Transpose"), 2u);  // x into NHWC, the output back
  for (const auto& node : g.nodes()) {
    if (node->op == "MaxPool" || node->op == "AveragePool")
      EXPECT_EQ(node->attr_string("layout", "NCHW"), "NHWC");
  }
  t.expect_same_values({.abs = 2e-2, .rel = 2e-2});
}

}  // namespace
}  // namespace kiln::passes

// The mixed precision pass (passes/mixed_precision.h) on a small graph: which nodes move to
// FP16/BF16, where casts go, what stays float32, and that the outputs keep their names and
// types and agree with the float32 graph (evaluated on the host by the reference computes).
#include "passes/mixed_precision.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "unit/pass_tester.h"

namespace kiln::passes {
namespace {

using namespace pass_testing;

const ir::Node* producer_of(const ir::Graph& g, const std::string& value) {
  const ir::Value* v = g.find_value(value);
  return v ? v->producer : nullptr;
}

// x -> MatMul(W) -> Add(b) -> Relu -> Softmax -> "probs"
//                              Relu -> Add(1e-12) -> ReduceSum -> "total"
struct Fixture {
  ir::Graph g;
  Fixture() {
    ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2), ir::Dim::fixed(3)});
    ir::Value* w =
        g.add_constant("w", f32({3, 4}, {0.5f, -1, 2, 0.25f, 1, 1, -0.5f, 3, -2, 0.75f, 1.5f, -1}));
    ir::Value* b = g.add_constant("b", f32({4}, {0.1f, -0.2f, 0.3f, -0.4f}));
    ir::Value* eps = g.add_constant("eps", f32({}, {1e-12f}));  // flushes to 0 in FP16
    ir::Node* mm = g.add_node("MatMul", "mm", {x, w}, {"mm_out"});
    ir::Node* add = g.add_node("Add", "add_b", {mm->outputs[0], b}, {"biased"});
    ir::Node* relu = g.add_node("Relu", "relu", {add->outputs[0]}, {"act"});
    ir::Node* sm =
        g.add_node("Softmax", "softmax", {relu->outputs[0]}, {"probs"}, {{"axis", int64_t(-1)}});
    ir::Node* add_eps = g.add_node("Add", "add_eps", {relu->outputs[0], eps}, {"act_eps"});
    ir::Node* sum = g.add_node("ReduceSum", "sum", {add_eps->outputs[0]}, {"total"},
                               {{"keepdims", int64_t(0)}});
    g.mark_output(sm->outputs[0]);
    g.mark_output(sum->outputs[0]);
  }
};

size_t run_pass(ir::Graph& g, DataType low, std::vector<std::string>* asked = nullptr) {
  ops::ResolvedShapes r = ops::resolve_shapes(g, {{"x", ir::to_dims(g.inputs()[0]->shape)}});
  MixedPrecisionOptions options;
  options.low = low;
  options.resolved = &r;
  options.backend_supports = [&](const ir::Node& node, const std::vector<DataType>&,
                                 const std::vector<DataType>&) {
    if (asked) asked->push_back(node.name);
    return node.op != "Relu" || low == DataType::kFloat16;  // a backend without a BF16 Relu
  };
  size_t n = apply_mixed_precision(g, options);
  clean_up(g);
  return n;
}

TEST(MixedPrecision, MovesAllowedWorkToFp16AndKeepsInterfaceTypes) {
  Fixture f;
  PassTester t(f.g, {{"x", f32({2, 3}, {1, -2, 0.5f, 3, 0.25f, -1})}});
  std::vector<std::string> asked;
  EXPECT_EQ(t.run([&](ir::Graph& g) { return run_pass(g, DataType::kFloat16, &asked); }),
            4u);  // mm, add_b, relu, softmax
  // ReduceSum is not on the allow-list: never offered to the backend.
  EXPECT_EQ(std::count(asked.begin(), asked.end(), "sum"), 0);

  ops::ResolvedShapes r = ops::resolve_shapes(f.g, {{"x", {2, 3}}});
  // Inputs and outputs keep their names and float32.
  ASSERT_EQ(f.g.outputs().size(), 2u);
  EXPECT_EQ(f.g.outputs()[0]->name, "probs");
  EXPECT_EQ(f.g.outputs()[1]->name, "total");
  EXPECT_EQ(r.of(f.g.outputs()[0]).dtype, DataType::kFloat32);
  EXPECT_EQ(r.of(f.g.outputs()[1]).dtype, DataType::kFloat32);
  EXPECT_EQ(producer_of(f.g, "probs")->op, "Cast");
  // The weight is converted at build time; x gets one Cast.
  const ir::Node* mm = producer_of(f.g, "mm_out");
  ASSERT_NE(mm, nullptr);
  EXPECT_EQ(mm->inputs[0]->producer->op, "Cast");
  ASSERT_TRUE(mm->inputs[1]->is_constant());
  EXPECT_EQ(mm->inputs[1]->constant->dtype(), DataType::kFloat16);
  EXPECT_EQ(r.of(mm->outputs[0]).dtype, DataType::kFloat16);
  // add_eps stays float32 (1e-12 would flush to zero) and reads relu's output cast back.
  const ir::Node* add_eps = producer_of(f.g, "act_eps");
  EXPECT_EQ(r.of(add_eps->outputs[0]).dtype, DataType::kFloat32);
  ASSERT_NE(add_eps->inputs[0]->producer, nullptr);
  EXPECT_EQ(add_eps->inputs[0]->producer->op, "Cast");
  EXPECT_EQ(add_eps->inputs[0]->producer->inputs[0]->name, "act");
  EXPECT_EQ(r.of(f.g.find_value("act")).dtype, DataType::kFloat16);

  // Same results within FP16 rounding (about 1e-3 relative per step).
  t.expect_same_values({.abs = 4e-3, .rel = 4e-3});
}

TEST(MixedPrecision, LargeConstantsSaturateInsteadOfBecomingInfinite) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
  ir::Value* mask =
      g.add_constant("mask", f32({2}, {0, -3.0e38f}));  // an attention mask's "minus infinity"
  ir::Node* add = g.add_node("Add", "add", {x, mask}, {"y"});
  g.mark_output(add->outputs[0]);
  EXPECT_EQ(run_pass(g, DataType::kFloat16), 1u);
  const ir::Node* low_add = producer_of(g, "y")->inputs[0]->producer;
  ASSERT_EQ(low_add->op, "Add");
  EXPECT_EQ(low_add->inputs[1]->constant->as_double(1), -65504.0);
  const Outputs y = evaluate(g, {{"x", f32({2}, {1.5f, 2})}});
  EXPECT_EQ(y[0][0], 1.5);
  EXPECT_EQ(y[0][1], -65504.0);
}

// A bias whose tiniest entries flush to zero in FP16 (normal, std 1e-6, as freshly initialized
// ViT MLP biases: about 2% of the entries, a tiny share of the magnitude) still moves to FP16;
// one made only of values that flush keeps its node in float32.
TEST(MixedPrecision, TinyEntriesFlushOnlyWhenTheyCarryLittleOfTheMagnitude) {
  auto graph_with_bias = [](const Tensor& bias) {
    auto g = std::make_unique<ir::Graph>();
    ir::Value* x = g->add_input("x", DataType::kFloat32, {ir::Dim::fixed(2), ir::Dim::fixed(4096)});
    ir::Node* add = g->add_node("Add", "add", {x, g->add_constant("b", bias)}, {"y"});
    g->mark_output(add->outputs[0]);
    return g;
  };
  std::vector<float> normal(4096), tiny(4096);
  uint32_t state = 12345;
  for (size_t i = 0; i < normal.size(); i += 2) {  // Box-Muller from a fixed LCG
    auto uniform = [&] {
      state = state * 1664525u + 1013904223u;
      return (double(state >> 8) + 0.5) / double(1u << 24);
    };
    const double r = std::sqrt(-2.0 * std::log(uniform())), a = 6.283185307179586 * uniform();
    normal[i] = float(1e-6 * r * std::cos(a));
    normal[i + 1] = float(1e-6 * r * std::sin(a));
    tiny[i] = 1e-9f;
    tiny[i + 1] = -2e-9f;
  }
  int flushing = 0;
  for (float v : normal) flushing += fp16_to_float(float_to_fp16(v)) == 0.0f && v != 0.0f;
  EXPECT_GT(flushing, 4096 / 100);  // more than 1% of the entries flush

  auto lowered = graph_with_bias(f32({4096}, normal));
  EXPECT_EQ(run_pass(*lowered, DataType::kFloat16), 1u);
  auto kept = graph_with_bias(f32({4096}, tiny));
  EXPECT_EQ(run_pass(*kept, DataType::kFloat16), 0u);
  ops::ResolvedShapes r = ops::resolve_shapes(*kept, {{"x", {2, 4096}}});
  EXPECT_EQ(r.of(producer_of(*kept, "y")->outputs[0]).dtype, DataType::kFloat32);
}

TEST(MixedPrecision, NodesWithoutALowKernelStayFloat32) {
  Fixture f;
  // mm, add_b, add_eps (1e-12 is representable in BF16, which has float32's exponent range)
  // and softmax; Relu has no BF16 kernel in this backend.
  EXPECT_EQ(run_pass(f.g, DataType::kBFloat16), 4u);
  ops::ResolvedShapes r = ops::resolve_shapes(f.g, {{"x", {2, 3}}});
  EXPECT_EQ(r.of(f.g.find_value("act")).dtype, DataType::kFloat32);
  EXPECT_EQ(r.of(f.g.find_value("biased")).dtype, DataType::kBFloat16);
  EXPECT_EQ(r.of(f.g.find_value("act_eps")).dtype, DataType::kBFloat16);
  // Relu reads add_b's BF16 output through a Cast to float32.
  EXPECT_EQ(producer_of(f.g, "act")->inputs[0]->producer->op, "Cast");
  // softmax reads relu's float32 output through a Cast to BF16.
  const ir::Node* sm = nullptr;
  for (const auto& n : f.g.nodes()) {
    if (n->op == "Softmax") sm = n.get();
  }
  ASSERT_NE(sm, nullptr);
  EXPECT_EQ(sm->inputs[0]->producer->op, "Cast");
  EXPECT_EQ(r.of(f.g.outputs()[0]).dtype, DataType::kFloat32);
}

TEST(MixedPrecision, RejectsOtherLowTypes) {
  Fixture f;
  ops::ResolvedShapes r = ops::resolve_shapes(f.g, {{"x", {2, 3}}});
  MixedPrecisionOptions options;
  options.low = DataType::kInt8;
  options.resolved = &r;
  options.backend_supports = [](const ir::Node&, const std::vector<DataType>&,
                                const std::vector<DataType>&) { return true; };
  EXPECT_THROW(apply_mixed_precision(f.g, options), Error);
}

}  // namespace
}  // namespace kiln::passes

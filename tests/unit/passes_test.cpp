// Each pass twice: the rewritten graph equals the expected graph, and the outputs before and
// after the pass agree.
#include <gtest/gtest.h>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "ops/shape_inference.h"
#include "passes/constant_folding.h"
#include "passes/identity_elimination.h"

namespace kiln::passes {
namespace {

Tensor f32(Dims shape, std::vector<float> v) { return Tensor::from_vector<float>(DataType::kFloat32, shape, v); }

// Evaluates every output of a graph whose inputs are given (all small: shape-time evaluation
// computes them on the host).
std::vector<std::vector<double>> evaluate(const ir::Graph& g, const std::map<std::string, Tensor>& inputs) {
  auto copy = g.clone();
  std::map<std::string, Dims> shapes;
  for (ir::Value* in : copy->inputs()) {
    in->constant = inputs.at(in->name);
    shapes[in->name] = inputs.at(in->name).shape();
  }
  ops::ResolvedShapes r = ops::resolve_shapes(*copy, shapes);
  std::vector<std::vector<double>> out;
  for (const ir::Value* o : copy->outputs()) out.push_back(r.values.at(o).to_double_vector());
  return out;
}

TEST(ConstantFolding, FoldsWeightTransposeAndKeepsDataPath) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(1), ir::Dim::fixed(2)});
  ir::Value* w = g.add_constant("w", f32({3, 2}, {1, 2, 3, 4, 5, 6}));
  ir::Node* t = g.add_node("Transpose", "wt", {w}, {"w_t"}, {{"perm", std::vector<int64_t>{1, 0}}});
  ir::Node* mm = g.add_node("MatMul", "mm", {x, t->outputs[0]}, {"y"});
  g.mark_output(mm->outputs[0]);
  std::map<std::string, Tensor> in{{"x", f32({1, 2}, {0.5f, -2})}};
  auto before = evaluate(g, in);

  std::vector<std::unique_ptr<Pass>> pipeline;
  pipeline.push_back(make_constant_folding());
  run_pipeline(g, pipeline);

  // Expected: MatMul(x, w_t) with w_t a constant holding W transposed.
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.nodes().front()->op, "MatMul");
  const ir::Value* folded = g.find_value("w_t");
  ASSERT_NE(folded, nullptr);
  ASSERT_TRUE(folded->is_constant());
  EXPECT_EQ(folded->constant->shape(), (Dims{2, 3}));
  EXPECT_EQ(folded->constant->to_double_vector(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
  EXPECT_EQ(g.find_value("w"), nullptr);  // the original weight is dead and removed
  EXPECT_EQ(evaluate(g, in), before);
}

TEST(IdentityElimination, RemovesIdentityAndInferenceDropout) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(3)});
  ir::Node* relu = g.add_node("Relu", "relu", {x}, {"r"});
  ir::Node* id = g.add_node("Identity", "id", {relu->outputs[0]}, {"i"});
  ir::Node* drop = g.add_node("Dropout", "drop", {id->outputs[0]}, {"d"});
  ir::Node* neg = g.add_node("Neg", "neg", {drop->outputs[0]}, {"y"});
  g.mark_output(neg->outputs[0]);
  std::map<std::string, Tensor> in{{"x", f32({3}, {-1, 2, -3})}};
  auto before = evaluate(g, in);

  std::vector<std::unique_ptr<Pass>> pipeline;
  pipeline.push_back(make_identity_elimination());
  run_pipeline(g, pipeline);

  // Expected: y = Neg(Relu(x))
  EXPECT_EQ(ir::print(g), "input x: float32[3]\n%r = Relu(x)  # relu\n%y = Neg(r)  # neg\noutput y: float32[?]\n");
  EXPECT_EQ(evaluate(g, in), before);
}

TEST(IdentityElimination, GraphOutputKeepsItsName) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
  ir::Node* relu = g.add_node("Relu", "relu", {x}, {"r"});
  ir::Node* id = g.add_node("Identity", "id", {relu->outputs[0]}, {"output"});
  g.mark_output(id->outputs[0]);
  std::vector<std::unique_ptr<Pass>> pipeline;
  pipeline.push_back(make_identity_elimination());
  run_pipeline(g, pipeline);
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.outputs()[0]->name, "output");
  EXPECT_EQ(g.outputs()[0]->producer, g.nodes().front().get());
}

TEST(IdentityElimination, KeepsTrainingDropoutWithNonzeroRatio) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
  ir::Value* ratio = g.add_constant("ratio", f32({}, {0.5f}));
  ir::Value* train = g.add_constant("train", Tensor::from_vector<uint8_t>(DataType::kBool, {}, {1}));
  ir::Node* drop = g.add_node("Dropout", "drop", {x, ratio, train}, {"y"});
  g.mark_output(drop->outputs[0]);
  std::vector<std::unique_ptr<Pass>> pipeline;
  pipeline.push_back(make_identity_elimination());
  run_pipeline(g, pipeline);
  EXPECT_EQ(g.nodes().size(), 1u);  // left for shape inference to report
}

}  // namespace
}  // namespace kiln::passes

// Each pass twice: the rewritten graph equals the expected graph, and the outputs before and
// after the pass agree.
#include <gtest/gtest.h>

#include "ir/printer.h"
#include "passes/constant_folding.h"
#include "passes/identity_elimination.h"
#include "unit/pass_tester.h"

namespace kiln::passes {
namespace {

using namespace pass_testing;

// run_pipeline with `pass` alone (it does dead-code elimination and verification itself).
void run_alone(ir::Graph& g, std::unique_ptr<Pass> pass) {
  std::vector<std::unique_ptr<Pass>> pipeline;
  pipeline.push_back(std::move(pass));
  run_pipeline(g, pipeline);
}

TEST(ConstantFolding, FoldsWeightTransposeAndKeepsDataPath) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(1), ir::Dim::fixed(2)});
  ir::Value* w = g.add_constant("w", f32({3, 2}, {1, 2, 3, 4, 5, 6}));
  ir::Node* t = g.add_node("Transpose", "wt", {w}, {"w_t"}, {{"perm", std::vector<int64_t>{1, 0}}});
  ir::Node* mm = g.add_node("MatMul", "mm", {x, t->outputs[0]}, {"y"});
  g.mark_output(mm->outputs[0]);
  PassTester tester(g, {{"x", f32({1, 2}, {0.5f, -2})}});
  tester.run([](ir::Graph& graph) { run_alone(graph, make_constant_folding()); });

  // Expected: MatMul(x, w_t) with w_t a constant holding W transposed.
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.nodes().front()->op, "MatMul");
  const ir::Value* folded = g.find_value("w_t");
  ASSERT_NE(folded, nullptr);
  ASSERT_TRUE(folded->is_constant());
  EXPECT_EQ(folded->constant->shape(), (Dims{2, 3}));
  EXPECT_EQ(folded->constant->to_double_vector(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
  EXPECT_EQ(g.find_value("w"), nullptr);  // the original weight is dead and removed
  ir::Graph expected;
  ir::Value* ex =
      expected.add_input("x", DataType::kFloat32, {ir::Dim::fixed(1), ir::Dim::fixed(2)});
  ir::Value* wt = expected.add_constant("w_t", f32({2, 3}, {1, 3, 5, 2, 4, 6}));
  expected.mark_output(expected.add_node("MatMul", "mm", {ex, wt}, {"y"})->outputs[0]);
  EXPECT_EQ(structure(g), structure(expected));
  tester.expect_same_values();
}

TEST(IdentityElimination, RemovesIdentityAndInferenceDropout) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(3)});
  ir::Node* relu = g.add_node("Relu", "relu", {x}, {"r"});
  ir::Node* id = g.add_node("Identity", "id", {relu->outputs[0]}, {"i"});
  ir::Node* drop = g.add_node("Dropout", "drop", {id->outputs[0]}, {"d"});
  ir::Node* neg = g.add_node("Neg", "neg", {drop->outputs[0]}, {"y"});
  g.mark_output(neg->outputs[0]);
  PassTester t(g, {{"x", f32({3}, {-1, 2, -3})}});
  t.run([](ir::Graph& graph) { run_alone(graph, make_identity_elimination()); });

  // Expected: y = Neg(Relu(x))
  EXPECT_EQ(
      ir::print(g),
      "input x: float32[3]\n%r = Relu(x)  # relu\n%y = Neg(r)  # neg\noutput y: float32[?]\n");
  t.expect_same_values();
}

TEST(IdentityElimination, GraphOutputKeepsItsName) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
  ir::Node* relu = g.add_node("Relu", "relu", {x}, {"r"});
  ir::Node* id = g.add_node("Identity", "id", {relu->outputs[0]}, {"output"});
  g.mark_output(id->outputs[0]);
  run_alone(g, make_identity_elimination());
  ASSERT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.outputs()[0]->name, "output");
  EXPECT_EQ(g.outputs()[0]->producer, g.nodes().front().get());
}

TEST(IdentityElimination, KeepsTrainingDropoutWithNonzeroRatio) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
  ir::Value* ratio = g.add_constant("ratio", f32({}, {0.5f}));
  ir::Value* train =
      g.add_constant("train", Tensor::from_vector<uint8_t>(DataType::kBool, {}, {1}));
  ir::Node* drop = g.add_node("Dropout", "drop", {x, ratio, train}, {"y"});
  g.mark_output(drop->outputs[0]);
  run_alone(g, make_identity_elimination());
  EXPECT_EQ(g.nodes().size(), 1u);  // left for shape inference to report
}

// The tester's structural comparison: node names and inner value names do not count; ops,
// operand wiring, attributes, constants' contents and the graph's input and output names do.
TEST(PassTester, StructureComparesWhatAGraphComputesNotItsNames) {
  auto build = [](const std::string& inner, float c, int64_t axis, bool swapped) {
    auto g = std::make_unique<ir::Graph>();
    ir::Value* x = g->add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
    ir::Value* k = g->add_constant(inner + "_k", f32({}, {c}));
    ir::Value* m =
        g->add_node("Mul", inner + "_mul",
                    swapped ? std::vector<ir::Value*>{k, x} : std::vector<ir::Value*>{x, k},
                    {inner})
            ->outputs[0];
    g->mark_output(g->add_node("Softmax", inner + "_sm", {m}, {"y"}, {{"axis", axis}})->outputs[0]);
    return g;
  };
  const std::string reference = structure(*build("a", 2, 0, false));
  EXPECT_EQ(structure(*build("b", 2, 0, false)), reference);
  EXPECT_NE(structure(*build("a", 3, 0, false)), reference);   // another constant
  EXPECT_NE(structure(*build("a", 2, -1, false)), reference);  // another attribute
  EXPECT_NE(structure(*build("a", 2, 0, true)), reference);    // operands swapped
  // Values: the same graph agrees with itself exactly, a changed constant does not.
  auto g = build("a", 2, 0, false);
  PassTester t(*g, {{"x", f32({2}, {1, -1})}});
  t.run([](ir::Graph&) {});
  t.expect_same_values();
  EXPECT_NE(evaluate(*build("a", 3, 0, false), {{"x", f32({2}, {1, -1})}}), t.before());
}

}  // namespace
}  // namespace kiln::passes

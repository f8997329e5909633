// The epilogue fusion pass (passes/matmul_epilogue_fusion.h): which chains fold into one
// FusedMatMul, which stay, and that the fused graph computes what the original did (both
// evaluated on the host by the reference computes; FusedMatMul's reference is its
// decomposition, so the check below also compares it with a plain float64 loop).
#include "passes/matmul_epilogue_fusion.h"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/pass_tester.h"

namespace kiln::passes {
namespace {

using namespace pass_testing;

Tensor random_f32(Dims shape, uint32_t seed) {
  return random_tensor(DataType::kFloat32, shape, seed);
}

// x [2,3,4] -> MatMul(w [4,5]) -> Add(bias [1,5]) -> Add(r) -> Relu -> "y"
struct Chain {
  ir::Graph g;
  Tensor w = random_f32({4, 5}, 1), bias = random_f32({1, 5}, 2);
  explicit Chain(const std::string& activation = "Relu", bool residual = true) {
    ir::Value* x = g.add_input("x", DataType::kFloat32,
                               {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(4)});
    ir::Value* r = g.add_input("r", DataType::kFloat32,
                               {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(5)});
    ir::Value* v = g.add_node("MatMul", "mm", {x, g.add_constant("w", w)}, {"mm_out"})->outputs[0];
    v = g.add_node("Add", "add_bias", {g.add_constant("bias", bias), v}, {"biased"})->outputs[0];
    if (residual) v = g.add_node("Add", "add_r", {v, r}, {"summed"})->outputs[0];
    if (!activation.empty()) v = g.add_node(activation, "act", {v}, {"activated"})->outputs[0];
    g.mark_output(v);
  }
};

std::map<std::string, Dims> shapes() { return {{"x", {2, 3, 4}}, {"r", {2, 3, 5}}}; }

// The pass at the shapes above, then dead-code elimination and the verifier.
size_t fuse(ir::Graph& g, bool gelu_as_tanh = false) {
  std::vector<ops::ResolvedShapes> points{ops::resolve_shapes(g, shapes())};
  const size_t n = fuse_matmul_epilogues(g, points, gelu_as_tanh);
  clean_up(g);
  return n;
}

// A tester of `g` at the inputs x and r; run(fuse) applies the pass.
PassTester tester(ir::Graph& g, const Tensor& x, const Tensor& r) {
  return PassTester(g, {{"x", x}, {"r", r}});
}

TEST(MatMulEpilogueFusion, FoldsBiasResidualAndReluKeepingTheOutputName) {
  Chain c;
  const Tensor x = random_f32({2, 3, 4}, 3), r = random_f32({2, 3, 5}, 4);
  PassTester t = tester(c.g, x, r);
  ASSERT_EQ(t.run([](ir::Graph& g) { return fuse(g); }), 1u);
  const ir::Node* n = only_node(c.g);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->op, "FusedMatMul");
  EXPECT_EQ(n->attr_string("activation"), "relu");
  ASSERT_EQ(n->inputs.size(), 4u);
  EXPECT_EQ(n->inputs[2]->constant->shape(), (Dims{5}));  // the [1,5] bias as a row
  EXPECT_EQ(c.g.outputs()[0]->name, "activated");
  // Against a float64 loop over the original definition.
  const std::vector<double> got = t.after()[0];
  const std::vector<double> xs = x.to_double_vector(), rs = r.to_double_vector();
  const std::vector<double> ws = c.w.to_double_vector(), bs = c.bias.to_double_vector();
  for (int64_t row = 0; row < 6; ++row) {
    for (int64_t j = 0; j < 5; ++j) {
      double v = bs[size_t(j)] + rs[size_t(row * 5 + j)];
      for (int64_t k = 0; k < 4; ++k) v += xs[size_t(row * 4 + k)] * ws[size_t(k * 5 + j)];
      EXPECT_NEAR(got[size_t(row * 5 + j)], std::max(v, 0.0), 1e-5) << row << "," << j;
    }
  }
}

TEST(MatMulEpilogueFusion, ExactGeluFoldsOnlyWhenItsTanhFormIsAllowed) {
  Chain exact("Gelu", false);
  EXPECT_EQ(fuse(exact.g, /*gelu_as_tanh=*/false), 1u);  // bias only; Gelu stays
  EXPECT_EQ(exact.g.nodes().size(), 2u);
  EXPECT_EQ(exact.g.nodes().front()->attr_string("activation"), "none");
  EXPECT_EQ(exact.g.nodes().back()->op, "Gelu");

  Chain low("Gelu", false);
  PassTester t = tester(low.g, random_f32({2, 3, 4}, 5), random_f32({2, 3, 5}, 6));
  EXPECT_EQ(t.run([](ir::Graph& g) { return fuse(g, /*gelu_as_tanh=*/true); }), 1u);
  const ir::Node* n = only_node(low.g);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->attr_string("activation"), "gelu_tanh");
  t.expect_same_values({.abs = 5e-4});  // the tanh form
}

// Gemm(A, W, bias) with alpha 1, beta 1 and no transposes is MatMul plus bias (GPT-2's
// exported addmm): a Gelu after it folds. A transposed or scaled Gemm stays.
TEST(MatMulEpilogueFusion, PlainGemmFoldsLikeMatMul) {
  auto build = [](bool transposed) {
    auto g = std::make_unique<ir::Graph>();
    // Transposed, x is A^T: [4, 6].
    ir::Value* x =
        g->add_input("x", DataType::kFloat32,
                     {ir::Dim::fixed(transposed ? 4 : 6), ir::Dim::fixed(transposed ? 6 : 4)});
    ir::Node* gemm = g->add_node(
        "Gemm", "gemm",
        {x, g->add_constant("w", random_f32({4, 5}, 7)), g->add_constant("c", random_f32({5}, 8))},
        {"p"});
    if (transposed) gemm->attrs["transA"] = int64_t(1);
    g->mark_output(g->add_node("Gelu", "act", {gemm->outputs[0]}, {"y"},
                               {{"approximate", std::string("tanh")}})
                       ->outputs[0]);
    return g;
  };
  auto plain = build(false);
  PassTester t(*plain, {{"x", random_f32({6, 4}, 9)}});
  EXPECT_EQ(t.run([&](ir::Graph& g) { return fuse_matmul_epilogues(g, t.points(), false); }), 1u);
  const ir::Node* n = only_node(*plain);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->op, "FusedMatMul");
  EXPECT_EQ(n->attr_string("activation"), "gelu_tanh");
  ASSERT_GE(n->inputs.size(), 3u);
  EXPECT_EQ(n->inputs[2]->name, "c");  // Gemm's C is the bias
  t.expect_same_values({.abs = 1e-6});

  auto transposed = build(true);
  std::vector<ops::ResolvedShapes> other{ops::resolve_shapes(*transposed, {{"x", {4, 6}}})};
  EXPECT_EQ(fuse_matmul_epilogues(*transposed, other, false), 0u);
}

TEST(MatMulEpilogueFusion, ConsecutiveProductsBothFold) {
  // x -> MatMul -> Add(b1) -> Relu -> MatMul -> Add(b2) -> "y": the second product reads the
  // first fusion's output.
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32,
                             {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(4)});
  ir::Value* r = g.add_input("r", DataType::kFloat32,
                             {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(5)});
  ir::Value* v =
      g.add_node("MatMul", "mm1", {x, g.add_constant("w1", random_f32({4, 5}, 1))}, {"h"})
          ->outputs[0];
  v = g.add_node("Add", "add1", {v, g.add_constant("b1", random_f32({5}, 2))}, {"hb"})->outputs[0];
  v = g.add_node("Relu", "relu", {v}, {"ha"})->outputs[0];
  v = g.add_node("MatMul", "mm2", {v, g.add_constant("w2", random_f32({5, 5}, 3))}, {"o"})
          ->outputs[0];
  v = g.add_node("Add", "add2", {v, g.add_constant("b2", random_f32({5}, 4))}, {"ob"})->outputs[0];
  g.mark_output(g.add_node("Add", "add_r", {v, r}, {"y"})->outputs[0]);
  PassTester t = tester(g, random_f32({2, 3, 4}, 5), random_f32({2, 3, 5}, 6));
  EXPECT_EQ(t.run([](ir::Graph& graph) { return fuse(graph); }), 2u);
  EXPECT_EQ(g.nodes().size(), 2u);
  EXPECT_EQ(g.nodes().back()->inputs.size(), 4u);  // bias and residual
  t.expect_same_values({.abs = 1e-5});
}

TEST(MatMulEpilogueFusion, LeavesChainsThatAreNotEpilogues) {
  {  // the product is also read elsewhere
    Chain c("", false);
    c.g.mark_output(c.g.find_value("mm_out"));
    EXPECT_EQ(fuse(c.g), 0u);
  }
  {  // weights that are an input, not a constant
    ir::Graph g;
    ir::Value* x = g.add_input("x", DataType::kFloat32,
                               {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(4)});
    ir::Value* w = g.add_input("r", DataType::kFloat32, {ir::Dim::fixed(4), ir::Dim::fixed(5)});
    ir::Value* mm = g.add_node("MatMul", "mm", {x, w}, {"mm_out"})->outputs[0];
    g.mark_output(g.add_node("Relu", "act", {mm}, {"y"})->outputs[0]);
    std::vector<ops::ResolvedShapes> points{
        ops::resolve_shapes(g, {{"x", {2, 3, 4}}, {"r", {4, 5}}})};
    EXPECT_EQ(fuse_matmul_epilogues(g, points, true), 0u);
  }
  {  // a bias of the wrong length broadcasts over rows, not columns
    ir::Graph g;
    ir::Value* x = g.add_input("x", DataType::kFloat32,
                               {ir::Dim::fixed(2), ir::Dim::fixed(3), ir::Dim::fixed(4)});
    ir::Value* mm =
        g.add_node("MatMul", "mm", {x, g.add_constant("w", random_f32({4, 5}, 1))}, {"mm_out"})
            ->outputs[0];
    ir::Value* col = g.add_constant("col", random_f32({3, 1}, 2));
    g.mark_output(g.add_node("Add", "add", {mm, col}, {"y"})->outputs[0]);
    std::vector<ops::ResolvedShapes> points{ops::resolve_shapes(g, {{"x", {2, 3, 4}}})};
    EXPECT_EQ(fuse_matmul_epilogues(g, points, true), 0u);
  }
}

}  // namespace
}  // namespace kiln::passes

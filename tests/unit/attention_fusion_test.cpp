// The attention fusion pass on hand-built graphs: exported forms become one Attention node
// with the right operands and scale, the outputs before and after agree (the reference computes
// both on the host), and near misses stay unfused.
#include "passes/attention_fusion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>

#include "unit/pass_tester.h"

namespace kiln::passes {
namespace {

using namespace pass_testing;

constexpr int64_t kB = 2, kH = 2, kS = 5, kD = 4;

ir::Shape shape_of(const Dims& d) { return ir::from_dims(d); }

Tensor int64s(std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(v.size())}, v);
}

// Deterministic values in [-1, 1).
Tensor values(Dims shape, int seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n), 0.0f);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(std::sin(double(i * 7 + seed * 13) * 0.37));
  return f32(shape, v);
}

std::map<std::string, Tensor> inputs_for(const ir::Graph& g) {
  std::map<std::string, Tensor> in;
  int seed = 1;
  for (const ir::Value* v : g.inputs()) {
    const Dims d = ir::to_dims(v->shape);
    if (v->dtype == DataType::kBool) {
      Tensor t = Tensor::zeros(DataType::kBool, d);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<bool>()[i] = (i % 5) != 3;
      in[v->name] = t;
    } else {
      in[v->name] = values(d, seed++);
    }
  }
  return in;
}

// The pass at the inputs' declared shapes, then dead-code elimination and the verifier.
size_t fuse(ir::Graph& g) {
  std::map<std::string, Dims> shapes;
  for (const ir::Value* v : g.inputs()) shapes[v->name] = ir::to_dims(v->shape);
  const std::vector<ops::ResolvedShapes> points = {ops::resolve_shapes(g, shapes)};
  const size_t fused = fuse_attention(g, points);
  clean_up(g);
  return fused;
}

constexpr Tolerance kSameValues{.abs = 1e-5};

// What torch.onnx.export(dynamo=True) writes for scaled_dot_product_attention with a boolean
// mask: Q and K^T scaled by 0.5 each, K^T through Reshape -> Transpose -> Reshape, the mask made
// additive by Where, and an IsNaN guard after the softmax.
struct Sdpa {
  ir::Graph g;
  ir::Value *q, *k, *v, *keep, *probs, *bias;
  ir::Node* out;

  explicit Sdpa(bool guard = true) {
    q = g.add_input("q", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
    k = g.add_input("k", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
    v = g.add_input("v", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
    keep = g.add_input("keep", DataType::kBool, shape_of({kB, 1, kS, kS}));
    ir::Value* half = g.add_constant("half", scalar(0.5f));
    ir::Node* flat =
        g.add_node("Reshape", "flat", {k, g.add_constant("s1", int64s({-1, kS, kD}))}, {"k_flat"});
    ir::Node* flat_t = g.add_node("Transpose", "flat_t", {flat->outputs[0]}, {"k_flat_t"},
                                  {{"perm", std::vector<int64_t>{0, 2, 1}}});
    ir::Node* kt =
        g.add_node("Reshape", "kt",
                   {flat_t->outputs[0], g.add_constant("s2", int64s({kB, kH, kD, kS}))}, {"k_t"});
    ir::Node* qs = g.add_node("Mul", "qs", {q, half}, {"q_scaled"});
    ir::Node* ks = g.add_node("Mul", "ks", {kt->outputs[0], half}, {"k_t_scaled"});
    ir::Node* where =
        g.add_node("Where", "bias",
                   {keep, g.add_constant("zero", scalar(0.0f)),
                    g.add_constant("lowest", scalar(-std::numeric_limits<float>::max()))},
                   {"bias"});
    bias = where->outputs[0];
    ir::Node* mm = g.add_node("MatMul", "qk", {qs->outputs[0], ks->outputs[0]}, {"logits"});
    ir::Node* add = g.add_node("Add", "add", {mm->outputs[0], bias}, {"scores"});
    ir::Node* sm =
        g.add_node("Softmax", "softmax", {add->outputs[0]}, {"probs"}, {{"axis", int64_t(-1)}});
    probs = sm->outputs[0];
    ir::Value* p = probs;
    if (guard) {
      ir::Node* nan = g.add_node("IsNaN", "isnan", {probs}, {"nan"});
      ir::Node* w =
          g.add_node("Where", "guard",
                     {nan->outputs[0], g.add_constant("zero2", scalar(0.0f)), probs}, {"guarded"});
      p = w->outputs[0];
    }
    out = g.add_node("MatMul", "pv", {p, v}, {"y"});
    g.mark_output(out->outputs[0]);
  }
};

TEST(AttentionFusion, FusesTheDynamoSdpaExport) {
  Sdpa s;
  PassTester t(s.g, inputs_for(s.g));
  ASSERT_EQ(t.before()[0].size(), size_t(kB * kH * kS * kD));
  ASSERT_EQ(t.run(fuse), 1u);

  const ir::Node* attention = only_node(s.g, "Attention");
  ASSERT_NE(attention, nullptr);
  ASSERT_EQ(attention->inputs.size(), 4u);
  EXPECT_EQ(attention->inputs[0], s.q);
  EXPECT_EQ(attention->inputs[1], s.k);  // the K^T chain is absorbed
  EXPECT_EQ(attention->inputs[2], s.v);
  EXPECT_EQ(attention->inputs[3], s.bias);  // the additive mask, as the pattern added it
  EXPECT_DOUBLE_EQ(attention->attr_float("scale"), 0.25);
  EXPECT_EQ(attention->outputs[0]->name, "y");  // the output keeps its name
  for (const char* gone : {"Softmax", "MatMul", "IsNaN", "Transpose", "Mul"}) {
    EXPECT_EQ(only_node(s.g, gone), nullptr) << gone;
  }

  t.expect_same_values(kSameValues);
}

TEST(AttentionFusion, FusesTheEagerFormWithTransposeAndDiv) {
  ir::Graph g;
  ir::Value* q = g.add_input("q", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
  ir::Value* k = g.add_input("k", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
  ir::Value* v = g.add_input("v", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
  ir::Value* mask = g.add_input("mask", DataType::kFloat32, shape_of({kB, 1, 1, kS}));
  ir::Node* kt =
      g.add_node("Transpose", "kt", {k}, {"k_t"}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
  ir::Node* mm = g.add_node("MatMul", "qk", {q, kt->outputs[0]}, {"logits"});
  ir::Node* div =
      g.add_node("Div", "div", {mm->outputs[0], g.add_constant("root", scalar(2.0f))}, {"scaled"});
  ir::Node* add = g.add_node("Add", "add", {mask, div->outputs[0]}, {"scores"});  // mask first
  ir::Node* sm =
      g.add_node("Softmax", "softmax", {add->outputs[0]}, {"probs"}, {{"axis", int64_t(3)}});
  ir::Node* pv = g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"});
  g.mark_output(pv->outputs[0]);
  PassTester t(g, inputs_for(g));
  ASSERT_EQ(t.run(fuse), 1u);

  const ir::Node* attention = only_node(g, "Attention");
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->inputs[1], k);
  EXPECT_EQ(attention->inputs[3], mask);
  EXPECT_DOUBLE_EQ(attention->attr_float("scale"), 0.5);
  EXPECT_EQ(g.nodes().size(), 1u);
  t.expect_same_values(kSameValues);
}

TEST(AttentionFusion, FusesWithoutMaskOrScale) {
  ir::Graph g;
  ir::Value* q = g.add_input("q", DataType::kFloat32, shape_of({1, 3, 4, 8}));
  ir::Value* k = g.add_input("k", DataType::kFloat32, shape_of({1, 3, 6, 8}));
  ir::Value* v = g.add_input("v", DataType::kFloat32, shape_of({1, 3, 6, 5}));
  ir::Node* kt =
      g.add_node("Transpose", "kt", {k}, {"k_t"}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
  ir::Node* mm = g.add_node("MatMul", "qk", {q, kt->outputs[0]}, {"logits"});
  ir::Node* sm = g.add_node("Softmax", "softmax", {mm->outputs[0]}, {"probs"});
  ir::Node* pv = g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"});
  g.mark_output(pv->outputs[0]);
  PassTester t(g, inputs_for(g));
  ASSERT_EQ(t.run(fuse), 1u);
  const ir::Node* attention = only_node(g, "Attention");
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->inputs.size(), 3u);
  EXPECT_DOUBLE_EQ(attention->attr_float("scale"), 1.0);  // explicit: the default is 1/sqrt(8)
  // As built by hand: Attention(q, k, v) {scale=1} -> "y".
  ir::Graph expected;
  ir::Node* fused =
      expected.add_node("Attention", "attention",
                        {expected.add_input("q", DataType::kFloat32, shape_of({1, 3, 4, 8})),
                         expected.add_input("k", DataType::kFloat32, shape_of({1, 3, 6, 8})),
                         expected.add_input("v", DataType::kFloat32, shape_of({1, 3, 6, 5}))},
                        {"y"}, {{"scale", 1.0}});
  expected.mark_output(fused->outputs[0]);
  EXPECT_EQ(structure(g), structure(expected));
  t.expect_same_values(kSameValues);
}

// torchvision's ViT (scaled_dot_product_attention through the dynamo exporter): no 4-D K
// exists; K^T is Reshape(Transpose([B * H, S, D], [0, 2, 1]), [B, H, D, S]), and the scale is
// split over Q and K^T as Mul by a [1]-shaped constant. The pass reshapes K to [-1, H, S, D].
TEST(AttentionFusion, FusesTorchvisionVitWithFlatKeys) {
  ir::Graph g;
  ir::Value* q = g.add_input("q", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
  ir::Value* k_flat = g.add_input("k_flat", DataType::kFloat32, shape_of({kB * kH, kS, kD}));
  ir::Value* v = g.add_input("v", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
  ir::Value* root = g.add_constant("root", f32({1}, {0.6f}));
  ir::Node* flat_t = g.add_node("Transpose", "flat_t", {k_flat}, {"k_flat_t"},
                                {{"perm", std::vector<int64_t>{0, 2, 1}}});
  ir::Node* kt =
      g.add_node("Reshape", "kt",
                 {flat_t->outputs[0], g.add_constant("s", int64s({kB, kH, kD, kS}))}, {"k_t"});
  ir::Node* qs = g.add_node("Mul", "qs", {q, root}, {"q_scaled"});
  ir::Node* ks = g.add_node("Mul", "ks", {kt->outputs[0], root}, {"k_t_scaled"});
  ir::Node* mm = g.add_node("MatMul", "qk", {qs->outputs[0], ks->outputs[0]}, {"logits"});
  ir::Node* sm = g.add_node("Softmax", "softmax", {mm->outputs[0]}, {"probs"});
  ir::Node* pv = g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"});
  g.mark_output(pv->outputs[0]);
  PassTester t(g, inputs_for(g));
  ASSERT_EQ(t.run(fuse), 1u);

  const ir::Node* attention = only_node(g, "Attention");
  ASSERT_NE(attention, nullptr);
  ASSERT_EQ(attention->inputs.size(), 3u);
  EXPECT_EQ(attention->inputs[0], q);
  EXPECT_EQ(attention->inputs[2], v);
  const ir::Node* reshape = attention->inputs[1]->producer;
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(reshape->op, "Reshape");
  EXPECT_EQ(reshape->inputs[0], k_flat);
  ASSERT_TRUE(reshape->inputs[1]->is_constant());
  EXPECT_EQ(reshape->inputs[1]->constant->to_double_vector(),
            (std::vector<double>{-1, double(kH), double(kS), double(kD)}));
  EXPECT_NEAR(attention->attr_float("scale"), 0.36, 1e-6);
  EXPECT_EQ(g.nodes().size(), 2u);  // the Reshape and Attention
  t.expect_same_values(kSameValues);
}

// A constant lower-triangular mask (HF GPT-2's, folded: 0 where key j <= query i, float
// lowest elsewhere) added to the scores.
Tensor triangle(int64_t rows, int64_t cols, float masked) {
  std::vector<float> m(size_t(rows * cols), 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = i + 1; j < cols; ++j) m[size_t(i * cols + j)] = masked;
  }
  return f32({1, 1, rows, cols}, m);
}

struct MaskedChain {
  ir::Graph g;
  ir::Value *q, *k, *v;

  // `mask` is added to the scores (additive), or selects them with Where (boolean).
  MaskedChain(Tensor mask, bool boolean) {
    q = g.add_input("q", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
    k = g.add_input("k", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
    v = g.add_input("v", DataType::kFloat32, shape_of({kB, kH, kS, kD}));
    ir::Node* kt =
        g.add_node("Transpose", "kt", {k}, {"k_t"}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    ir::Node* mm = g.add_node("MatMul", "qk", {q, kt->outputs[0]}, {"logits"});
    ir::Node* scaled =
        g.add_node("Mul", "scale", {mm->outputs[0], g.add_constant("c", scalar(0.5f))}, {"s"});
    ir::Value* m = g.add_constant("mask", mask);
    ir::Node* masked =
        boolean ? g.add_node("Where", "where",
                             {m, scaled->outputs[0],
                              g.add_constant("lowest", scalar(-std::numeric_limits<float>::max()))},
                             {"scores"})
                : g.add_node("Add", "add", {scaled->outputs[0], m}, {"scores"});
    ir::Node* sm = g.add_node("Softmax", "softmax", {masked->outputs[0]}, {"probs"});
    ir::Node* pv = g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"});
    g.mark_output(pv->outputs[0]);
  }
};

TEST(AttentionFusion, RecognizesAConstantTriangularMaskAsCausal) {
  for (float masked :
       {-std::numeric_limits<float>::max(), -std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(masked);
    MaskedChain c(triangle(kS, kS, masked), false);
    PassTester t(c.g, inputs_for(c.g));
    ASSERT_EQ(t.run(fuse), 1u);
    const ir::Node* attention = only_node(c.g, "Attention");
    ASSERT_NE(attention, nullptr);
    EXPECT_EQ(attention->inputs.size(), 3u);  // no mask input
    EXPECT_EQ(attention->attr_int("is_causal", 0), 1);
    EXPECT_DOUBLE_EQ(attention->attr_float("scale"), 0.5);
    t.expect_same_values(kSameValues);
  }
}

TEST(AttentionFusion, RecognizesABooleanLowerTriangleAsCausal) {
  Tensor keep = Tensor::zeros(DataType::kBool, {1, 1, kS, kS});
  for (int64_t i = 0; i < kS; ++i) {
    for (int64_t j = 0; j <= i; ++j) keep.data<bool>()[i * kS + j] = true;
  }
  MaskedChain c(keep, true);
  PassTester t(c.g, inputs_for(c.g));
  ASSERT_EQ(t.run(fuse), 1u);
  const ir::Node* attention = only_node(c.g, "Attention");
  ASSERT_NE(attention, nullptr);
  EXPECT_EQ(attention->inputs.size(), 3u);
  EXPECT_EQ(attention->attr_int("is_causal", 0), 1);
  t.expect_same_values(kSameValues);
}

// Almost triangular masks stay masks: one kept key above the diagonal, a masked value that is
// not "-inf" enough, an upper triangle.
TEST(AttentionFusion, KeepsNearlyTriangularMasksAsMasks) {
  Tensor extra = triangle(kS, kS, -1e38f);
  extra.data<float>()[1] = 0.0f;  // query 0 sees key 1
  Tensor shallow = triangle(kS, kS, -1e4f);
  Tensor upper = triangle(kS, kS, -1e38f);
  for (int64_t i = 0; i < kS; ++i) {
    for (int64_t j = 0; j < kS; ++j) {
      upper.data<float>()[i * kS + j] = j >= i ? 0.0f : -1e38f;
    }
  }
  for (const Tensor& mask : {extra, shallow, upper}) {
    MaskedChain c(mask, false);
    PassTester t(c.g, inputs_for(c.g));
    ASSERT_EQ(t.run(fuse), 1u);
    const ir::Node* attention = only_node(c.g, "Attention");
    ASSERT_NE(attention, nullptr);
    ASSERT_EQ(attention->inputs.size(), 4u);
    EXPECT_TRUE(attention->inputs[3]->is_constant());
    EXPECT_EQ(attention->attr_int("is_causal", 0), 0);
    t.expect_same_values(kSameValues);
  }
}

// On by default (FP16/BF16 GPU engines; the builder checks the precision); "0" switches it off.
TEST(AttentionFusion, EnabledUnlessTheVariableSaysZero) {
  const char* old = std::getenv("KILN_ATTENTION_FUSION");
  const std::string previous = old ? old : "";
  unsetenv("KILN_ATTENTION_FUSION");
  EXPECT_TRUE(attention_fusion_enabled());
  setenv("KILN_ATTENTION_FUSION", "0", 1);
  EXPECT_FALSE(attention_fusion_enabled());
  setenv("KILN_ATTENTION_FUSION", "1", 1);
  EXPECT_TRUE(attention_fusion_enabled());
  if (old) {
    setenv("KILN_ATTENTION_FUSION", previous.c_str(), 1);
  } else {
    unsetenv("KILN_ATTENTION_FUSION");
  }
}

// The heads' split ([B, S, H * D] -> Reshape -> Transpose) before Q, K and V and their merge
// after Y (Transpose -> Reshape) are absorbed: Attention reads and writes the 3-D tensors.
TEST(AttentionFusion, AbsorbsTheHeadTransposesInThreeDimensionalForm) {
  ir::Graph g;
  const int64_t hidden = kH * kD;
  ir::Value* x = g.add_input("x", DataType::kFloat32, shape_of({kB, kS, 3 * hidden}));
  ir::Value* split_sizes = g.add_constant("sizes", int64s({hidden, hidden, hidden}));
  ir::Node* split =
      g.add_node("Split", "split", {x, split_sizes}, {"xq", "xk", "xv"}, {{"axis", int64_t(2)}});
  ir::Value* heads_shape = g.add_constant("heads_shape", int64s({kB, kS, kH, kD}));
  std::vector<ir::Value*> qkv;
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i);
    ir::Node* r =
        g.add_node("Reshape", "r" + n, {split->outputs[size_t(i)], heads_shape}, {"r" + n});
    ir::Node* t = g.add_node("Transpose", "t" + n, {r->outputs[0]}, {"t" + n},
                             {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
    qkv.push_back(t->outputs[0]);
  }
  ir::Node* kt = g.add_node("Transpose", "kt", {qkv[1]}, {"k_t"},
                            {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
  ir::Node* mm = g.add_node("MatMul", "qk", {qkv[0], kt->outputs[0]}, {"logits"});
  ir::Node* mul =
      g.add_node("Mul", "mul", {mm->outputs[0], g.add_constant("c", scalar(0.5f))}, {"scaled"});
  ir::Node* sm = g.add_node("Softmax", "softmax", {mul->outputs[0]}, {"probs"});
  ir::Node* pv = g.add_node("MatMul", "pv", {sm->outputs[0], qkv[2]}, {"ctx"});
  ir::Node* back = g.add_node("Transpose", "back", {pv->outputs[0]}, {"ctx_t"},
                              {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
  ir::Node* merge = g.add_node(
      "Reshape", "merge", {back->outputs[0], g.add_constant("flat", int64s({kB * kS, -1}))}, {"y"});
  g.mark_output(merge->outputs[0]);
  PassTester t(g, inputs_for(g));
  ASSERT_EQ(t.before()[0].size(), size_t(kB * kS * hidden));
  ASSERT_EQ(t.run(fuse), 1u);

  const ir::Node* attention = only_node(g, "Attention");
  ASSERT_NE(attention, nullptr);
  ASSERT_EQ(attention->inputs.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(attention->inputs[i], split->outputs[i]) << i;
  EXPECT_EQ(attention->attr_int("q_num_heads"), kH);
  EXPECT_EQ(attention->attr_int("kv_num_heads"), kH);
  EXPECT_DOUBLE_EQ(attention->attr_float("scale"), 0.5);
  EXPECT_EQ(only_node(g, "Transpose"), nullptr);
  const ir::Node* reshape = only_node(g, "Reshape");
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(reshape->inputs[0], attention->outputs[0]);
  t.expect_same_values(kSameValues);
}

// Near misses: each leaves the graph as it was.
TEST(AttentionFusion, LeavesNearMissesAlone) {
  {
    Sdpa s;  // the probabilities are also a graph output
    s.g.mark_output(s.probs);
    EXPECT_EQ(fuse(s.g), 0u);
    EXPECT_EQ(only_node(s.g, "Attention"), nullptr);
    EXPECT_NE(only_node(s.g, "Softmax"), nullptr);
  }
  {
    Sdpa s;  // another node reads the probabilities
    ir::Node* extra = s.g.add_node("Relu", "extra", {s.probs}, {"extra"});
    s.g.mark_output(extra->outputs[0]);
    EXPECT_EQ(fuse(s.g), 0u);
  }
  {
    // Softmax over another axis.
    ir::Graph g;
    ir::Value* q = g.add_input("q", DataType::kFloat32, shape_of({1, 2, 4, 8}));
    ir::Value* k = g.add_input("k", DataType::kFloat32, shape_of({1, 2, 4, 8}));
    ir::Value* v = g.add_input("v", DataType::kFloat32, shape_of({1, 2, 4, 8}));
    ir::Node* kt =
        g.add_node("Transpose", "kt", {k}, {"k_t"}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    ir::Node* mm = g.add_node("MatMul", "qk", {q, kt->outputs[0]}, {"logits"});
    ir::Node* sm =
        g.add_node("Softmax", "softmax", {mm->outputs[0]}, {"probs"}, {{"axis", int64_t(2)}});
    g.mark_output(g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"})->outputs[0]);
    EXPECT_EQ(fuse(g), 0u);
  }
  {
    // K not transposed (perm swaps the heads instead), and a mask whose last extent
    // broadcasts over the keys.
    ir::Graph g;
    ir::Value* q = g.add_input("q", DataType::kFloat32, shape_of({1, 2, 4, 4}));
    ir::Value* k = g.add_input("k", DataType::kFloat32, shape_of({1, 2, 4, 4}));
    ir::Value* v = g.add_input("v", DataType::kFloat32, shape_of({1, 2, 4, 4}));
    ir::Value* mask = g.add_input("mask", DataType::kFloat32, shape_of({1, 1, 4, 1}));
    ir::Node* kt =
        g.add_node("Transpose", "kt", {k}, {"k_t"}, {{"perm", std::vector<int64_t>{1, 0, 2, 3}}});
    ir::Node* mm = g.add_node("MatMul", "qk", {q, kt->outputs[0]}, {"logits"});
    ir::Node* add = g.add_node("Add", "add", {mm->outputs[0], mask}, {"scores"});
    ir::Node* sm = g.add_node("Softmax", "softmax", {add->outputs[0]}, {"probs"});
    g.mark_output(g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"})->outputs[0]);
    EXPECT_EQ(fuse(g), 0u);
    ir::Node* good_kt =
        g.add_node("Transpose", "kt2", {k}, {"k_t2"}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    for (auto& n : g.nodes()) {
      if (n->name == "qk") n->inputs[1] = good_kt->outputs[0];
    }
    // Keep the order topological: the new Transpose must precede the MatMul.
    g.nodes().splice(g.nodes().begin(), g.nodes(), std::prev(g.nodes().end()));
    EXPECT_EQ(fuse(g), 0u);  // the [.., 1] mask still refuses
  }
  {
    // The scores are divided by a value known only at run time.
    ir::Graph g;
    ir::Value* q = g.add_input("q", DataType::kFloat32, shape_of({1, 2, 4, 8}));
    ir::Value* k = g.add_input("k", DataType::kFloat32, shape_of({1, 2, 4, 8}));
    ir::Value* v = g.add_input("v", DataType::kFloat32, shape_of({1, 2, 4, 8}));
    ir::Value* divisor = g.add_input("divisor", DataType::kFloat32, shape_of({}));
    ir::Node* kt =
        g.add_node("Transpose", "kt", {k}, {"k_t"}, {{"perm", std::vector<int64_t>{0, 1, 3, 2}}});
    ir::Node* mm = g.add_node("MatMul", "qk", {q, kt->outputs[0]}, {"logits"});
    ir::Node* div = g.add_node("Div", "div", {mm->outputs[0], divisor}, {"scaled"});
    ir::Node* sm = g.add_node("Softmax", "softmax", {div->outputs[0]}, {"probs"});
    g.mark_output(g.add_node("MatMul", "pv", {sm->outputs[0], v}, {"y"})->outputs[0]);
    EXPECT_EQ(fuse(g), 0u);
  }
}

}  // namespace
}  // namespace kiln::passes

// The GELU recognition pass (passes/gelu_recognition.h): the tanh and erf forms exporters write
// out, in their different groupings, become one Gelu node (the graph compared with one built by
// hand) computing the same values (pass_tester.h evaluates the graph before and after with the
// reference computes); near misses stay as they are.
#include "passes/gelu_recognition.h"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/pass_tester.h"

namespace kiln::passes {
namespace {

using namespace pass_testing;

enum class Half { kTimesX, kTimesProduct, kTimesBracket };

// 0.5 * x * (1 + tanh(0.7978846 * (x + 0.044715 * x^3))) over x = input (or its reshape).
std::unique_ptr<ir::Graph> tanh_form(Half half, bool pow, bool reshaped, float cubic = 0.044715f) {
  auto g = std::make_unique<ir::Graph>();
  ir::Value* x = g->add_input("x", DataType::kFloat32, {ir::Dim::fixed(2), ir::Dim::fixed(6)});
  if (reshaped) {
    x = g->add_node("Reshape", "view",
                    {x, g->add_constant("shape", Tensor::from_vector<int64_t>(DataType::kInt64, {3},
                                                                              {1, 2, 6}))},
                    {"viewed"})
            ->outputs[0];
  }
  ir::Value* cube =
      pow ? g->add_node("Pow", "pow", {x, g->add_constant("three", scalar(3))}, {"cube"})
                ->outputs[0]
          : g->add_node("Mul", "cube",
                        {x, g->add_node("Mul", "square", {x, x}, {"sq"})->outputs[0]}, {"cube"})
                ->outputs[0];
  ir::Value* c1 = g->add_node("Mul", "c1", {g->add_constant("k1", scalar(cubic)), cube}, {"c1_out"})
                      ->outputs[0];
  ir::Value* sum = g->add_node("Add", "sum", {c1, x}, {"sum_out"})->outputs[0];
  ir::Value* arg =
      g->add_node("Mul", "scale", {sum, g->add_constant("k2", scalar(0.7978846f))}, {"arg"})
          ->outputs[0];
  ir::Value* t = g->add_node("Tanh", "tanh", {arg}, {"t"})->outputs[0];
  ir::Value* bracket =
      g->add_node("Add", "plus_one", {g->add_constant("one", scalar(1)), t}, {"bracket"})
          ->outputs[0];
  ir::Value* y = nullptr;
  ir::Value* half_c = g->add_constant("half", scalar(0.5f));
  switch (half) {
    case Half::kTimesX: {
      ir::Value* hx = g->add_node("Mul", "hx", {x, half_c}, {"hx_out"})->outputs[0];
      y = g->add_node("Mul", "last", {hx, bracket}, {"y"})->outputs[0];
      break;
    }
    case Half::kTimesProduct: {
      ir::Value* xb = g->add_node("Mul", "xb", {bracket, x}, {"xb_out"})->outputs[0];
      y = g->add_node("Mul", "last", {half_c, xb}, {"y"})->outputs[0];
      break;
    }
    case Half::kTimesBracket: {
      ir::Value* hb = g->add_node("Mul", "hb", {bracket, half_c}, {"hb_out"})->outputs[0];
      y = g->add_node("Mul", "last", {x, hb}, {"y"})->outputs[0];
      break;
    }
  }
  g->mark_output(y);
  return g;
}

const Tensor kX =
    f32({2, 6}, {-3.0f, -1.5f, -0.5f, -0.01f, 0.0f, 0.2f, 0.7f, 1.0f, 1.9f, 2.5f, 4.0f, -6.0f});
constexpr Tolerance kSameValues{.abs = 2e-6};

size_t recognize(ir::Graph& g) { return recognize_gelu(g); }

// What the pass should leave: x [-> Reshape] -> Gelu -> "y", or x -> Gelu -> Reshape -> "y".
std::unique_ptr<ir::Graph> expected_gelu(const std::string& approximate, bool reshaped) {
  auto g = std::make_unique<ir::Graph>();
  ir::Value* x = g->add_input("x", DataType::kFloat32, {ir::Dim::fixed(2), ir::Dim::fixed(6)});
  ir::Attributes attrs;
  if (!approximate.empty()) attrs["approximate"] = approximate;
  ir::Value* y = g->add_node("Gelu", "gelu", {x}, {reshaped ? "gelu_out" : "y"}, attrs)->outputs[0];
  if (reshaped) {
    ir::Value* shape =
        g->add_constant("shape", Tensor::from_vector<int64_t>(DataType::kInt64, {3}, {1, 2, 6}));
    y = g->add_node("Reshape", "view", {y, shape}, {"y"})->outputs[0];
  }
  g->mark_output(y);
  return g;
}

TEST(GeluRecognition, TanhFormInEveryGroupingBecomesOneGelu) {
  for (Half half : {Half::kTimesX, Half::kTimesProduct, Half::kTimesBracket}) {
    for (bool pow : {true, false}) {
      SCOPED_TRACE(cat("grouping ", int(half), pow ? " Pow" : " x*x*x"));
      auto g = tanh_form(half, pow, false);
      PassTester t(*g, {{"x", kX}});
      EXPECT_EQ(t.run(recognize), 1u);
      EXPECT_EQ(ops_of(*g), (std::vector<std::string>{"Gelu"}));
      EXPECT_EQ(g->nodes().front()->attr_string("approximate", ""), "tanh");
      EXPECT_EQ(g->outputs()[0]->name, "y");
      EXPECT_EQ(structure(*g), structure(*expected_gelu("tanh", false)));
      t.expect_same_values(kSameValues);
    }
  }
}

TEST(GeluRecognition, MovesBeforeAReshapeOnlyThePatternReads) {
  auto g = tanh_form(Half::kTimesX, true, true);
  PassTester t(*g, {{"x", kX}});
  EXPECT_EQ(t.run(recognize), 1u);
  EXPECT_EQ(ops_of(*g), (std::vector<std::string>{"Gelu", "Reshape"}));
  EXPECT_EQ(g->outputs()[0]->name, "y");
  EXPECT_EQ(structure(*g), structure(*expected_gelu("tanh", true)));
  t.expect_same_values(kSameValues);
}

TEST(GeluRecognition, ErfForm) {
  for (bool divide : {true, false}) {
    auto g = std::make_unique<ir::Graph>();
    ir::Value* x = g->add_input("x", DataType::kFloat32, {ir::Dim::fixed(2), ir::Dim::fixed(6)});
    ir::Value* arg =
        divide ? g->add_node("Div", "d", {x, g->add_constant("r2", scalar(1.4142135f))}, {"a"})
                     ->outputs[0]
               : g->add_node("Mul", "d", {g->add_constant("ir2", scalar(0.70710678f)), x}, {"a"})
                     ->outputs[0];
    ir::Value* e = g->add_node("Erf", "erf", {arg}, {"e"})->outputs[0];
    ir::Value* b =
        g->add_node("Add", "p1", {e, g->add_constant("one", scalar(1))}, {"b"})->outputs[0];
    ir::Value* xb = g->add_node("Mul", "xb", {x, b}, {"xb_out"})->outputs[0];
    g->mark_output(
        g->add_node("Mul", "last", {xb, g->add_constant("half", scalar(0.5f))}, {"y"})->outputs[0]);
    PassTester t(*g, {{"x", kX}});
    EXPECT_EQ(t.run(recognize), 1u);
    EXPECT_EQ(ops_of(*g), (std::vector<std::string>{"Gelu"}));
    EXPECT_EQ(g->nodes().front()->attr_string("approximate", "none"), "none");
    EXPECT_EQ(structure(*g), structure(*expected_gelu("", false)));
    t.expect_same_values(kSameValues);
  }
}

TEST(GeluRecognition, NearMissesStayAsTheyAre) {
  // Another cubic coefficient: not GELU.
  auto other = tanh_form(Half::kTimesX, true, false, 0.05f);
  const std::string other_before = structure(*other);
  EXPECT_EQ(recognize_gelu(*other), 0u);
  EXPECT_EQ(other->nodes().size(), 8u);
  EXPECT_EQ(structure(*other), other_before);
  // An intermediate value that is also a graph output must survive.
  auto exposed = tanh_form(Half::kTimesX, true, false);
  exposed->mark_output(exposed->find_value("t"));
  const std::string exposed_before = structure(*exposed);
  EXPECT_EQ(recognize_gelu(*exposed), 0u);
  EXPECT_EQ(structure(*exposed), exposed_before);
}

}  // namespace
}  // namespace kiln::passes

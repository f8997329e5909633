// If, Loop and Scan: bodies built by hand, run through the ops' inference and reference compute
// (op_harness: every node input is a constant) and checked against hand-computed values.
#include <gtest/gtest.h>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

// A body input of unknown shape (as ONNX bodies often declare them).
ir::Value* body_input(ir::Graph& body, const std::string& name, DataType dtype, ir::Shape) {
  ir::Value* v = body.add_input(name, dtype, {});
  v->has_shape = false;
  return v;
}

Tensor boolean(bool v) {
  Tensor t = Tensor::zeros(DataType::kBool, {});
  t.data<uint8_t>()[0] = v;
  return t;
}

std::vector<float> floats(const Tensor& t) {
  std::vector<float> out;
  for (double v : t.to_double_vector()) out.push_back(float(v));
  return out;
}

// then: x + x; else: -x. Both read the captured x (the branches' only input).
ir::Attributes doubling_or_negating_if() {
  auto then_g = std::make_shared<ir::Graph>();
  ir::Value* x = body_input(*then_g, "x", DataType::kFloat32, {});
  then_g->mark_output(then_g->add_node("Add", "twice", {x, x}, {"y"})->outputs[0]);
  auto else_g = std::make_shared<ir::Graph>();
  ir::Value* x2 = body_input(*else_g, "x", DataType::kFloat32, {});
  else_g->mark_output(else_g->add_node("Neg", "neg", {x2}, {"y"})->outputs[0]);
  return {{"then_branch", then_g}, {"else_branch", else_g}, {"captured_inputs", int64_t(1)}};
}

TEST(If, RunsTheBranchTheConditionPicks) {
  Tensor x = f32({3}, {1, -2, 3});
  auto taken = run_op("If", {boolean(true), x}, doubling_or_negating_if());
  EXPECT_EQ(floats(taken[0]), (std::vector<float>{2, -4, 6}));
  auto other = run_op("If", {boolean(false), x}, doubling_or_negating_if());
  EXPECT_EQ(floats(other[0]), (std::vector<float>{-1, 2, -3}));
}

// Infers a one-node graph whose inputs are described but (except those in `values`) unknown.
ops::InferContext infer_with(const std::string& op, const std::vector<ops::TensorDesc>& inputs,
                             const std::map<size_t, Tensor>& values, ir::Attributes attrs,
                             int outputs, ir::Graph& graph) {
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ins.push_back(graph.add_input("in" + std::to_string(i), inputs[i].dtype, {}));
  }
  std::vector<std::string> names;
  for (int i = 0; i < outputs; ++i) names.push_back("out" + std::to_string(i));
  ir::Node* node = graph.add_node(op, "node", ins, names, std::move(attrs));
  ops::ResolvedShapes known;
  for (size_t i = 0; i < inputs.size(); ++i) {
    known.desc[ins[i]] = inputs[i];
    if (auto it = values.find(i); it != values.end()) known.values[ins[i]] = it->second;
  }
  return ops::infer_node(*node, known);
}

TEST(If, BranchesOfDifferentShapesMakeADataDependentOutput) {
  // then: Concat(x, x) (6 elements); else: x (3 elements).
  auto then_g = std::make_shared<ir::Graph>();
  ir::Value* x = body_input(*then_g, "x", DataType::kFloat32, {});
  then_g->mark_output(
      then_g->add_node("Concat", "cat", {x, x}, {"y"}, {{"axis", int64_t(0)}})->outputs[0]);
  auto else_g = std::make_shared<ir::Graph>();
  else_g->mark_output(body_input(*else_g, "x", DataType::kFloat32, {}));
  ir::Attributes attrs{
      {"then_branch", then_g}, {"else_branch", else_g}, {"captured_inputs", int64_t(1)}};
  const std::vector<ops::TensorDesc> descs{{DataType::kBool, {}}, {DataType::kFloat32, {3}}};

  ir::Graph unknown_graph;
  ops::InferContext unknown = infer_with("If", descs, {}, attrs, 1, unknown_graph);
  ASSERT_TRUE(unknown.data_dependent_ranks()[0].has_value());
  EXPECT_EQ(*unknown.data_dependent_ranks()[0], 1u);

  // Known at shape time: the branch is picked then, and the shape is static.
  ir::Graph known_graph;
  ops::InferContext known = infer_with("If", descs, {{0, boolean(true)}}, attrs, 1, known_graph);
  EXPECT_FALSE(known.data_dependent_ranks()[0].has_value());
  EXPECT_EQ(known.outputs()[0]->shape, (Dims{6}));

  auto out = run_op("If", {boolean(true), f32({3}, {1, 2, 3})}, attrs);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 2, 3, 1, 2, 3}));
}

TEST(If, BranchOutputCountMismatchIsAnError) {
  auto then_g = std::make_shared<ir::Graph>();
  then_g->mark_output(then_g->add_constant("a", f32({1}, {1})));
  auto else_g = std::make_shared<ir::Graph>();
  else_g->mark_output(else_g->add_constant("a", f32({1}, {1})));
  else_g->mark_output(else_g->add_constant("b", f32({1}, {2})));
  ir::Graph graph;
  try {
    infer_with("If", {{DataType::kBool, {}}}, {},
               {{"then_branch", then_g}, {"else_branch", else_g}}, 1, graph);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("If 'node': then_branch has 1 outputs but else_branch "
                                         "has 2"),
              std::string::npos)
        << e.what();
  }
}

TEST(If, MissingBranchAttributeIsAnError) {
  auto then_g = std::make_shared<ir::Graph>();
  then_g->mark_output(then_g->add_constant("a", f32({1}, {1})));
  ir::Graph graph;
  try {
    infer_with("If", {{DataType::kBool, {}}}, {}, {{"then_branch", then_g}}, 1, graph);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("If 'node': missing required attribute 'else_branch'"),
              std::string::npos)
        << e.what();
  }
}

// Loop body: sum_out = sum + x * float(i); the scan output is sum_out; the condition passes
// through. x is captured.
std::shared_ptr<ir::Graph> accumulate_body() {
  auto body = std::make_shared<ir::Graph>();
  ir::Value* i = body_input(*body, "i", DataType::kInt64, {});
  ir::Value* cond = body_input(*body, "cond", DataType::kBool, {});
  ir::Value* sum = body_input(*body, "sum", DataType::kFloat32, {});
  ir::Value* x = body_input(*body, "x", DataType::kFloat32, {});
  ir::Value* fi = body->add_node("Cast", "cast", {i}, {"fi"}, {{"to", int64_t(DataType::kFloat32)}})
                      ->outputs[0];
  ir::Value* step = body->add_node("Mul", "mul", {x, fi}, {"step"})->outputs[0];
  ir::Value* next = body->add_node("Add", "add", {sum, step}, {"next"})->outputs[0];
  body->mark_output(body->add_node("Identity", "cond_out", {cond}, {"cond_out"})->outputs[0]);
  body->mark_output(next);
  body->mark_output(body->add_node("Identity", "scan", {next}, {"scan"})->outputs[0]);
  return body;
}

TEST(Loop, TripCountCarriedValueAndScanOutput) {
  ir::Attributes attrs{{"body", accumulate_body()}, {"captured_inputs", int64_t(1)}};
  auto out =
      run_op("Loop", {i64({}, {4}), boolean(true), f32({2}, {0, 0}), f32({2}, {1, 2})}, attrs, 2);
  // i = 0..3: sum = x * (0 + 1 + 2 + 3)
  EXPECT_EQ(floats(out[0]), (std::vector<float>{6, 12}));
  ASSERT_EQ(out[1].shape(), (Dims{4, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{0, 0, 1, 2, 3, 6, 6, 12}));
}

TEST(Loop, TripCountUnknownAtShapeTimeMakesScanOutputsDataDependent) {
  ir::Attributes attrs{{"body", accumulate_body()}, {"captured_inputs", int64_t(1)}};
  const std::vector<ops::TensorDesc> descs{{DataType::kInt64, {}},
                                           {DataType::kBool, {}},
                                           {DataType::kFloat32, {2}},
                                           {DataType::kFloat32, {2}}};
  ir::Graph g1;
  ops::InferContext dynamic = infer_with("Loop", descs, {}, attrs, 2, g1);
  EXPECT_FALSE(dynamic.data_dependent_ranks()[0].has_value());  // the carried value keeps [2]
  EXPECT_EQ(dynamic.outputs()[0]->shape, (Dims{2}));
  ASSERT_TRUE(dynamic.data_dependent_ranks()[1].has_value());
  EXPECT_EQ(*dynamic.data_dependent_ranks()[1], 2u);

  ir::Graph g2;
  ops::InferContext fixed =
      infer_with("Loop", descs, {{0, i64({}, {5})}, {1, boolean(true)}}, attrs, 2, g2);
  EXPECT_FALSE(fixed.data_dependent_ranks()[1].has_value());
  EXPECT_EQ(fixed.outputs()[1]->shape, (Dims{5, 2}));
}

TEST(Loop, ConditionComputedByTheBodyEndsTheLoop) {
  // No trip count: sum += 1.5 while sum < 5 -> 1.5, 3, 4.5, 6 (the fourth pass ends it).
  auto body = std::make_shared<ir::Graph>();
  body_input(*body, "i", DataType::kInt64, {});
  body_input(*body, "cond", DataType::kBool, {});
  ir::Value* sum = body_input(*body, "sum", DataType::kFloat32, {});
  ir::Value* step = body->add_constant("step", f32({}, {1.5f}));
  ir::Value* limit = body->add_constant("limit", f32({}, {5}));
  ir::Value* next = body->add_node("Add", "add", {sum, step}, {"next"})->outputs[0];
  body->mark_output(body->add_node("Less", "less", {next, limit}, {"go_on"})->outputs[0]);
  body->mark_output(next);
  body->mark_output(body->add_node("Identity", "scan", {next}, {"scan"})->outputs[0]);
  ir::Attributes attrs{{"body", body}};
  auto out = run_op("Loop", {Tensor(), Tensor(), f32({}, {0})}, attrs, 2);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{6}));
  ASSERT_EQ(out[1].shape(), (Dims{4}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1.5f, 3, 4.5f, 6}));
}

TEST(Loop, ZeroIterationsGiveTheInitialValuesAndEmptyScans) {
  ir::Attributes attrs{{"body", accumulate_body()}, {"captured_inputs", int64_t(1)}};
  auto out =
      run_op("Loop", {i64({}, {3}), boolean(false), f32({2}, {7, 8}), f32({2}, {1, 2})}, attrs, 2);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{7, 8}));
  EXPECT_EQ(out[1].shape(), (Dims{0, 2}));
}

TEST(Loop, NoTripCountAndAConditionThatStaysTrueIsRefused) {
  ir::Attributes attrs{{"body", accumulate_body()}, {"captured_inputs", int64_t(1)}};
  try {
    run_op("Loop", {Tensor(), boolean(true), f32({2}, {0, 0}), f32({2}, {1, 2})}, attrs, 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("would never end"), std::string::npos) << e.what();
  }
}

TEST(Loop, BodyInputCountMismatchIsAnError) {
  // Two carried values given, the body takes one.
  ir::Attributes attrs{{"body", accumulate_body()}, {"captured_inputs", int64_t(1)}};
  try {
    run_op("Loop",
           {i64({}, {1}), boolean(true), f32({2}, {0, 0}), f32({2}, {0, 0}), f32({2}, {1, 2})},
           attrs, 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("its body has 4 inputs but the node passes 5"),
              std::string::npos)
        << e.what();
  }
}

// Scan body: acc_out = acc + slice; the per-step output is acc_out.
std::shared_ptr<ir::Graph> running_sum_body() {
  auto body = std::make_shared<ir::Graph>();
  ir::Value* acc = body_input(*body, "acc", DataType::kFloat32, {});
  ir::Value* slice = body_input(*body, "slice", DataType::kFloat32, {});
  ir::Value* next = body->add_node("Add", "add", {acc, slice}, {"next"})->outputs[0];
  body->mark_output(next);
  body->mark_output(body->add_node("Identity", "step", {next}, {"step"})->outputs[0]);
  return body;
}

TEST(Scan, ForwardAlongAxisZero) {
  ir::Attributes attrs{{"body", running_sum_body()}, {"num_scan_inputs", int64_t(1)}};
  auto out = run_op("Scan", {f32({2}, {0, 0}), f32({3, 2}, {1, 2, 3, 4, 5, 6})}, attrs, 2);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{9, 12}));
  EXPECT_EQ(out[1].shape(), (Dims{3, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1, 2, 4, 6, 9, 12}));
}

TEST(Scan, ReverseInputAlongAxisOneAndOutputAxes) {
  // x = [[1, 2, 3], [4, 5, 6]] scanned over its columns from the last: acc = [3, 6], [5, 11],
  // [6, 15].
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  ir::Attributes forward_out{{"body", running_sum_body()},
                             {"num_scan_inputs", int64_t(1)},
                             {"scan_input_axes", std::vector<int64_t>{1}},
                             {"scan_input_directions", std::vector<int64_t>{1}},
                             {"scan_output_axes", std::vector<int64_t>{-1}}};
  auto out = run_op("Scan", {f32({2}, {0, 0}), x}, forward_out, 2);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{6, 15}));
  ASSERT_EQ(out[1].shape(), (Dims{2, 3}));  // step t at [:, t]
  EXPECT_EQ(floats(out[1]), (std::vector<float>{3, 5, 6, 6, 11, 15}));

  ir::Attributes reverse_out = forward_out;
  reverse_out["scan_output_directions"] = std::vector<int64_t>{1};
  auto reversed = run_op("Scan", {f32({2}, {0, 0}), x}, reverse_out, 2);
  EXPECT_EQ(floats(reversed[1]), (std::vector<float>{6, 5, 3, 15, 11, 6}));  // step t at [:, 2-t]
}

TEST(Scan, ScanInputsOfDifferentLengthsAreAnError) {
  auto body = std::make_shared<ir::Graph>();
  ir::Value* a = body_input(*body, "a", DataType::kFloat32, {});
  ir::Value* b = body_input(*body, "b", DataType::kFloat32, {});
  body->mark_output(body->add_node("Add", "add", {a, b}, {"s"})->outputs[0]);
  ir::Attributes attrs{{"body", body}, {"num_scan_inputs", int64_t(2)}};
  try {
    run_op("Scan", {f32({3}, {1, 2, 3}), f32({2}, {1, 2})}, attrs, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scan input 1 has 2 steps along axis 0 but scan input 0 "
                                         "has 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(Loop, ErrorsInsideTheBodyNameTheIteration) {
  // The body reshapes its carried value to [2]: fine at iteration 0 ([2]), not for a [3] value.
  auto body = std::make_shared<ir::Graph>();
  body_input(*body, "i", DataType::kInt64, {});
  ir::Value* cond = body_input(*body, "cond", DataType::kBool, {});
  ir::Value* v = body_input(*body, "v", DataType::kFloat32, {});
  ir::Value* shape = body->add_constant("shape", i64({1}, {2}));
  ir::Value* r = body->add_node("Reshape", "reshape", {v, shape}, {"r"})->outputs[0];
  body->mark_output(cond);
  body->mark_output(
      body->add_node("Concat", "grow", {r, r}, {"grown"}, {{"axis", int64_t(0)}})->outputs[0]);
  ir::Attributes attrs{{"body", body}};
  try {
    run_op("Loop", {i64({}, {2}), boolean(true), f32({2}, {1, 2})}, attrs, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Loop 'node': iteration 1 of its body: Reshape 'reshape'"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kiln

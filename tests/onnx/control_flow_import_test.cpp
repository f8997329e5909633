// ONNX If/Loop/Scan import: bodies' reads of enclosing values become captured inputs (nested
// bodies too), malformed nodes are refused with clear errors, and a model with If and Loop runs
// through the builder, a plan round trip and the CPU executor.
#include <algorithm>

#include "ir/verifier.h"
#include "kiln/kiln.h"
#include "onnx/onnx_test_util.h"

namespace kiln {
namespace {

using testing::ModelBuilder;
using testing::set_graph;
using testing::set_int;

std::vector<std::string> input_names(const ir::Node& node) {
  std::vector<std::string> names;
  for (const ir::Value* v : node.inputs) names.push_back(v ? v->name : "");
  return names;
}

std::vector<std::string> input_names(const ir::Graph& g) {
  std::vector<std::string> names;
  for (const ir::Value* v : g.inputs()) names.push_back(v->name);
  return names;
}

const ir::Graph& graph_attr(const ir::Node& node, const std::string& key) {
  return node.attr_graph(key);
}

TEST(ControlFlowImport, IfBranchReadsBecomeCapturedInputs) {
  ModelBuilder m(17);
  m.input("cond", {}, onnx::TensorProto::BOOL);
  m.input("x", {"3"});
  m.input("y", {"3"});
  onnx::NodeProto* node = m.node("If", {"cond"}, {"out"}, "choose");
  onnx::GraphProto* then_g = set_graph(node, "then_branch");
  ModelBuilder::node_in(then_g, "Add", {"x", "y"}, {"sum"});
  ModelBuilder::output_to(then_g, "sum");
  onnx::GraphProto* else_g = set_graph(node, "else_branch");
  ModelBuilder::node_in(else_g, "Identity", {"x"}, {"same"});
  ModelBuilder::output_to(else_g, "same");
  m.output("out");

  auto graph = m.import();
  ir::verify(*graph);
  const ir::Node* n = testing::find_node(*graph, "If");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(input_names(*n), (std::vector<std::string>{"cond", "x", "y"}));
  EXPECT_EQ(n->attr_int("captured_inputs"), 2);
  // Both branches take every captured value, in the node's order (else reads only x).
  EXPECT_EQ(input_names(graph_attr(*n, "then_branch")), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(input_names(graph_attr(*n, "else_branch")), (std::vector<std::string>{"x", "y"}));
  const ir::Graph& then_body = graph_attr(*n, "then_branch");
  EXPECT_EQ(then_body.nodes().front()->inputs[0], then_body.inputs()[0]);
}

TEST(ControlFlowImport, BranchOutputCountMismatchIsRefused) {
  ModelBuilder m(17);
  m.input("cond", {}, onnx::TensorProto::BOOL);
  m.input("x", {"3"});
  onnx::NodeProto* node = m.node("If", {"cond"}, {"out"}, "choose");
  onnx::GraphProto* then_g = set_graph(node, "then_branch");
  ModelBuilder::node_in(then_g, "Identity", {"x"}, {"a"});
  ModelBuilder::output_to(then_g, "a");
  onnx::GraphProto* else_g = set_graph(node, "else_branch");
  ModelBuilder::node_in(else_g, "Identity", {"x"}, {"b"});
  ModelBuilder::node_in(else_g, "Neg", {"x"}, {"c"});
  ModelBuilder::output_to(else_g, "b");
  ModelBuilder::output_to(else_g, "c");
  m.output("out");
  std::string message = testing::error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(
      message.find("ONNX node 'choose' (If): then_branch has 1 outputs but else_branch has 2"),
      std::string::npos)
      << message;
}

TEST(ControlFlowImport, MissingBodyAttributeIsRefused) {
  ModelBuilder m(17);
  m.input("cond", {}, onnx::TensorProto::BOOL);
  m.input("x", {"3"});
  onnx::NodeProto* node = m.node("If", {"cond"}, {"out"}, "choose");
  onnx::GraphProto* then_g = set_graph(node, "then_branch");
  ModelBuilder::node_in(then_g, "Identity", {"x"}, {"a"});
  ModelBuilder::output_to(then_g, "a");
  m.output("out");
  std::string message = testing::error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(message.find("ONNX node 'choose' (If): it has no 'else_branch' attribute"),
            std::string::npos)
      << message;

  ModelBuilder loop(17);
  loop.input("n", {}, onnx::TensorProto::INT64);
  loop.node("Loop", {"n", ""}, {}, "spin");
  message = testing::error_message([&] { loop.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(message.find("ONNX node 'spin' (Loop): it has no 'body' attribute"), std::string::npos)
      << message;
}

// cond, n, a, z -> picked = If(cond) {Concat(z, z)} else {z}     (the shape depends on cond)
//                  final, trace = Loop(n, "", a) with body
//                    acc_out = If(i < two) {acc + z} else {acc - z}   (two: an initializer)
//                  and trace the per-iteration acc_out. The Loop's body reads `two` and `z` from
// the main graph; its inner If reads `z` through the Loop body and `acc` from the Loop body.
ModelBuilder if_and_loop_model() {
  ModelBuilder m(17);
  m.input("cond", {}, onnx::TensorProto::BOOL);
  m.input("n", {}, onnx::TensorProto::INT64);
  m.input("a", {"2"});
  m.input("z", {"2"});
  m.initializer("two", Tensor::scalar_int64(2));

  onnx::NodeProto* pick = m.node("If", {"cond"}, {"picked"}, "pick");
  onnx::GraphProto* twice = set_graph(pick, "then_branch");
  set_int(ModelBuilder::node_in(twice, "Concat", {"z", "z"}, {"zz"}), "axis", 0);
  ModelBuilder::output_to(twice, "zz");
  onnx::GraphProto* once = set_graph(pick, "else_branch");
  ModelBuilder::node_in(once, "Identity", {"z"}, {"z_once"});
  ModelBuilder::output_to(once, "z_once");

  onnx::NodeProto* loop = m.node("Loop", {"n", "", "a"}, {"final", "trace"}, "accumulate");
  onnx::GraphProto* body = set_graph(loop, "body");
  ModelBuilder::input_to(body, "i", {}, onnx::TensorProto::INT64);
  ModelBuilder::input_to(body, "c", {}, onnx::TensorProto::BOOL);
  ModelBuilder::input_to(body, "acc", {"2"});
  ModelBuilder::node_in(body, "Less", {"i", "two"}, {"early"});
  onnx::NodeProto* inner = ModelBuilder::node_in(body, "If", {"early"}, {"acc_out"}, "step");
  onnx::GraphProto* add = set_graph(inner, "then_branch");
  ModelBuilder::node_in(add, "Add", {"acc", "z"}, {"added"});
  ModelBuilder::output_to(add, "added");
  onnx::GraphProto* sub = set_graph(inner, "else_branch");
  ModelBuilder::node_in(sub, "Sub", {"acc", "z"}, {"subtracted"});
  ModelBuilder::output_to(sub, "subtracted");
  ModelBuilder::node_in(body, "Identity", {"c"}, {"c_out"});
  ModelBuilder::node_in(body, "Identity", {"acc_out"}, {"acc_trace"});
  ModelBuilder::output_to(body, "c_out");
  ModelBuilder::output_to(body, "acc_out");
  ModelBuilder::output_to(body, "acc_trace");

  m.output("picked");
  m.output("final");
  m.output("trace");
  return m;
}

TEST(ControlFlowImport, NestedBodiesCaptureThroughEachLevel) {
  auto graph = if_and_loop_model().import();
  ir::verify(*graph);
  const ir::Node* loop = testing::find_node(*graph, "Loop");
  ASSERT_NE(loop, nullptr);
  EXPECT_EQ(input_names(*loop), (std::vector<std::string>{"n", "", "a", "two", "z"}));
  EXPECT_EQ(loop->attr_int("captured_inputs"), 2);
  const ir::Graph& body = graph_attr(*loop, "body");
  EXPECT_EQ(input_names(body), (std::vector<std::string>{"i", "c", "acc", "two", "z"}));
  const ir::Node* inner = testing::find_node(body, "If");
  ASSERT_NE(inner, nullptr);
  EXPECT_EQ(input_names(*inner), (std::vector<std::string>{"early", "acc", "z"}));
  EXPECT_EQ(inner->inputs[2], body.inputs()[4]);  // the Loop body's own input, by identity
}

class VectorAllocator : public OutputAllocator {
 public:
  std::vector<float> storage;
  Dims shape;
  void* reallocate_output(const std::string&, void*, uint64_t size, uint64_t) override {
    storage.resize(std::max<uint64_t>(size / sizeof(float), 1));
    return storage.data();
  }
  void notify_shape(const std::string&, const Dims& dims) override { shape = dims; }
  std::vector<float> values() const {
    return {storage.begin(), storage.begin() + std::ptrdiff_t(volume(shape))};
  }
};

TEST(ControlFlowImport, IfAndLoopRunThroughAPlanRoundTrip) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  const std::string bytes = if_and_loop_model().bytes();
  OnnxParser(*network, logger).parse(bytes.data(), bytes.size());
  std::vector<uint8_t> plan = builder.build_serialized_network(*network, BuilderConfig{});
  auto engine = Runtime(logger).deserialize_engine(plan.data(), plan.size());
  // The subgraphs survive serialization unchanged.
  EXPECT_EQ(engine->serialize(), plan);
  auto ctx = engine->create_execution_context();
  EXPECT_TRUE(ctx->has_data_dependent_shape("picked"));  // which branch runs is data
  EXPECT_TRUE(ctx->has_data_dependent_shape("trace"));   // so is the trip count
  EXPECT_FALSE(ctx->has_data_dependent_shape("final"));  // the carried value keeps its shape

  uint8_t cond = 1;
  int64_t n = 3;
  std::vector<float> a{1, 1}, z{10, 20}, final_value(2);
  ctx->set_tensor_address("cond", &cond);
  ctx->set_tensor_address("n", &n);
  ctx->set_tensor_address("a", a.data());
  ctx->set_tensor_address("z", z.data());
  ctx->set_tensor_address("final", final_value.data());
  VectorAllocator picked, trace;
  ctx->set_output_allocator("picked", &picked);
  ctx->set_output_allocator("trace", &trace);
  ctx->execute();
  EXPECT_EQ(picked.shape, (Dims{4}));
  EXPECT_EQ(picked.values(), (std::vector<float>{10, 20, 10, 20}));
  // i = 0, 1 add z; i = 2 subtracts it.
  EXPECT_EQ(final_value, (std::vector<float>{11, 21}));
  EXPECT_EQ(trace.shape, (Dims{3, 2}));
  EXPECT_EQ(trace.values(), (std::vector<float>{11, 21, 21, 41, 11, 21}));

  cond = 0;
  n = 0;
  ctx->execute();
  EXPECT_EQ(picked.shape, (Dims{2}));
  EXPECT_EQ(picked.values(), (std::vector<float>{10, 20}));
  EXPECT_EQ(final_value, (std::vector<float>{1, 1}));
  EXPECT_EQ(trace.shape, (Dims{0, 2}));
}

}  // namespace
}  // namespace kiln

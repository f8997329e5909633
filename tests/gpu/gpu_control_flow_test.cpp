// If, Loop and Scan on the CUDA backend: ONNX models built in C++ run on the GPU and on the CPU
// backend (the reference, which interprets bodies on the host), over several runs of one
// context so that trip counts, taken branches and data-dependent extents change between runs
// and the runtime buffers are reused and grown. The build-side checks run without a GPU.
#include "gpu/cpu_only_op.h"
#include "gpu/engine_runner.h"
#include "gpu/gpu_test_util.h"
#include "onnx/onnx_test_util.h"

#ifdef KILN_HAVE_CUDA
#include "backends/cuda/control_flow.cuh"

namespace kiln {
namespace {

using gpu_test::has;
using gpu_test::random_tensor;
using gpu_test::Runner;
using testing::ModelBuilder;
using testing::set_graph;
using testing::set_int;
using testing::set_ints;

constexpr int32_t kBool = onnx::TensorProto::BOOL;
constexpr int32_t kInt64 = onnx::TensorProto::INT64;

// The network the ONNX model defines.
std::function<void(NetworkDefinition&)> parsed(const ModelBuilder& model) {
  return [bytes = model.bytes()](NetworkDefinition& network) {
    StderrLogger logger(Logger::Severity::kError);
    OnnxParser(network, logger).parse(bytes.data(), bytes.size());
  };
}

// Both backends over every run (control-flow nodes run as the engine runs).
void expect_runs_match(const ModelBuilder& model, const std::vector<std::vector<Tensor>>& runs) {
  gpu_test::expect_runs_match(parsed(model), runs, {}, 1e-5);
}

Tensor boolean(bool v) {
  Tensor t = Tensor::zeros(DataType::kBool, {});
  t.data<uint8_t>()[0] = v;
  return t;
}

Tensor floats(const Dims& shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v);
}

// ---------------------------------------------------------------------------------------------

// cond, x[2,3] -> y = If(cond) {MatMul(x, W)} else {Concat(x, x, axis 1)}  (the shape follows
//                     cond: [2,4] or [2,6]),
//                 z = If(cond) {Relu(x)} else {Neg(x)}  (the same shape either way)
TEST(GpuControlFlow, IfTakesTheBranchTheConditionPicks) {
  ModelBuilder m(17);
  m.input("cond", {}, kBool);
  m.input("x", {"2", "3"});
  m.initializer("W", random_tensor(DataType::kFloat32, {3, 4}, 1));
  onnx::NodeProto* pick = m.node("If", {"cond"}, {"y", "z"}, "pick");
  onnx::GraphProto* then_g = set_graph(pick, "then_branch");
  ModelBuilder::node_in(then_g, "MatMul", {"x", "W"}, {"xw"});
  ModelBuilder::node_in(then_g, "Relu", {"x"}, {"rx"});
  ModelBuilder::output_to(then_g, "xw");
  ModelBuilder::output_to(then_g, "rx");
  onnx::GraphProto* else_g = set_graph(pick, "else_branch");
  set_int(ModelBuilder::node_in(else_g, "Concat", {"x", "x"}, {"xx"}), "axis", 1);
  ModelBuilder::node_in(else_g, "Neg", {"x"}, {"nx"});
  ModelBuilder::output_to(else_g, "xx");
  ModelBuilder::output_to(else_g, "nx");
  m.output("y");
  m.output("z");
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3}, 2);
  expect_runs_match(m, {{boolean(true), x}, {boolean(false), x}, {boolean(true), x}});
}

// go, x[4], limit -> final, trace = Loop("", go, acc = 0) with body
//   acc_out = acc + x;  cond_out = ReduceSum(acc_out) < limit;  trace the per-iteration acc_out.
// A while loop: the trip count is found by running (the body's condition is read each time).
ModelBuilder while_loop_model() {
  ModelBuilder m(17);
  m.input("go", {}, kBool);
  m.input("x", {"4"});
  m.input("limit", {});
  m.initializer("zeros", Tensor::zeros(DataType::kFloat32, {4}));
  onnx::NodeProto* loop = m.node("Loop", {"", "go", "zeros"}, {"final", "trace"}, "grow");
  onnx::GraphProto* body = set_graph(loop, "body");
  ModelBuilder::input_to(body, "i", {}, kInt64);
  ModelBuilder::input_to(body, "c", {}, kBool);
  ModelBuilder::input_to(body, "acc", {"4"});
  ModelBuilder::node_in(body, "Add", {"acc", "x"}, {"acc_out"});
  set_int(ModelBuilder::node_in(body, "ReduceSum", {"acc_out"}, {"total"}), "keepdims", 0);
  ModelBuilder::node_in(body, "Less", {"total", "limit"}, {"c_out"});
  ModelBuilder::node_in(body, "Identity", {"acc_out"}, {"acc_trace"});
  ModelBuilder::output_to(body, "c_out");
  ModelBuilder::output_to(body, "acc_out");
  ModelBuilder::output_to(body, "acc_trace");
  m.output("final");
  m.output("trace");
  return m;
}

TEST(GpuControlFlow, WhileLoopEndsWhenItsBodySaysSo) {
  const Tensor x = floats({4}, {1, 2, 3, 4});
  expect_runs_match(while_loop_model(), {
                                            {boolean(true), x, floats({}, {50})},   // 5 trips
                                            {boolean(true), x, floats({}, {5})},    // 1 trip
                                            {boolean(false), x, floats({}, {50})},  // none
                                            {boolean(true), x, floats({}, {900})},  // 90 trips
                                            {boolean(true), x, floats({}, {25})},   // 3 trips
                                        });
}

// n, a[3], b[3] -> a_final, b_final, products = Loop(n, "", a, b) with body
//   a_next = b;  b_next = a + float(i);  trace a * b.
// The body returns one of its inputs as the other's next value (the carried values are swapped),
// and reads the iteration number, which the executor knows on the host.
TEST(GpuControlFlow, LoopCarriesSwappedValuesAndReadsTheIterationNumber) {
  ModelBuilder m(17);
  m.input("n", {}, kInt64);
  m.input("a", {"3"});
  m.input("b", {"3"});
  onnx::NodeProto* loop =
      m.node("Loop", {"n", "", "a", "b"}, {"a_final", "b_final", "products"}, "swap");
  onnx::GraphProto* body = set_graph(loop, "body");
  ModelBuilder::input_to(body, "i", {}, kInt64);
  ModelBuilder::input_to(body, "c", {}, kBool);
  ModelBuilder::input_to(body, "a_in", {"3"});
  ModelBuilder::input_to(body, "b_in", {"3"});
  set_int(ModelBuilder::node_in(body, "Cast", {"i"}, {"fi"}), "to", onnx::TensorProto::FLOAT);
  ModelBuilder::node_in(body, "Add", {"a_in", "fi"}, {"b_next"});
  ModelBuilder::node_in(body, "Mul", {"a_in", "b_in"}, {"product"});
  ModelBuilder::node_in(body, "Identity", {"c"}, {"c_out"});
  ModelBuilder::output_to(body, "c_out");
  ModelBuilder::output_to(body, "b_in");
  ModelBuilder::output_to(body, "b_next");
  ModelBuilder::output_to(body, "product");
  m.output("a_final");
  m.output("b_final");
  m.output("products");
  const Tensor a = random_tensor(DataType::kFloat32, {3}, 3);
  const Tensor b = random_tensor(DataType::kFloat32, {3}, 4);
  std::vector<std::vector<Tensor>> runs;
  for (int64_t n : {4, 0, 1, 7}) runs.push_back({Tensor::scalar_int64(n), a, b});
  expect_runs_match(m, runs);
}

// n, x[2] -> seq = Loop(n, "", start[1]) with body seq_out = Concat(seq, x): the carried value
// grows by two elements per iteration, so its final extent is known only by running.
TEST(GpuControlFlow, LoopCarriedValueThatGrowsEachIteration) {
  ModelBuilder m(17);
  m.input("n", {}, kInt64);
  m.input("x", {"2"});
  m.initializer("start", floats({1}, {0.5f}));
  onnx::NodeProto* loop = m.node("Loop", {"n", "", "start"}, {"seq"}, "append");
  onnx::GraphProto* body = set_graph(loop, "body");
  ModelBuilder::input_to(body, "i", {}, kInt64);
  ModelBuilder::input_to(body, "c", {}, kBool);
  ModelBuilder::input_to(body, "seq_in", {"?"});
  set_int(ModelBuilder::node_in(body, "Concat", {"seq_in", "x"}, {"seq_out"}), "axis", 0);
  ModelBuilder::node_in(body, "Identity", {"c"}, {"c_out"});
  ModelBuilder::output_to(body, "c_out");
  ModelBuilder::output_to(body, "seq_out");
  m.output("seq");
  const Tensor x = floats({2}, {1.5f, -2});
  std::vector<std::vector<Tensor>> runs;
  for (int64_t n : {3, 40, 1, 0}) runs.push_back({Tensor::scalar_int64(n), x});
  expect_runs_match(m, runs);
}

// init[2], xs[5,2] (scanned along axis 0), ys[2,5] (along axis 1, in reverse) ->
//   final, o1[5,2] (stacked along axis 0), o2[2,5] (along axis 1, in reverse) with body
//   s_out = s + x + y;  o1 = s_out * x;  o2 = s - y.
TEST(GpuControlFlow, ScanAlongAxesAndDirections) {
  ModelBuilder m(17);
  m.input("init", {"2"});
  m.input("xs", {"5", "2"});
  m.input("ys", {"2", "5"});
  onnx::NodeProto* scan = m.node("Scan", {"init", "xs", "ys"}, {"final", "o1", "o2"}, "scan");
  set_int(scan, "num_scan_inputs", 2);
  set_ints(scan, "scan_input_axes", {0, 1});
  set_ints(scan, "scan_input_directions", {0, 1});
  set_ints(scan, "scan_output_axes", {0, 1});
  set_ints(scan, "scan_output_directions", {0, 1});
  onnx::GraphProto* body = set_graph(scan, "body");
  ModelBuilder::input_to(body, "s", {"2"});
  ModelBuilder::input_to(body, "x", {"2"});
  ModelBuilder::input_to(body, "y", {"2"});
  ModelBuilder::node_in(body, "Add", {"s", "x"}, {"sx"});
  ModelBuilder::node_in(body, "Add", {"sx", "y"}, {"s_out"});
  ModelBuilder::node_in(body, "Mul", {"s_out", "x"}, {"o1_step"});
  ModelBuilder::node_in(body, "Sub", {"s", "y"}, {"o2_step"});
  ModelBuilder::output_to(body, "s_out");
  ModelBuilder::output_to(body, "o1_step");
  ModelBuilder::output_to(body, "o2_step");
  m.output("final");
  m.output("o1");
  m.output("o2");
  std::vector<std::vector<Tensor>> runs;
  for (uint32_t seed : {5u, 6u}) {
    runs.push_back({random_tensor(DataType::kFloat32, {2}, seed),
                    random_tensor(DataType::kFloat32, {5, 2}, seed + 10),
                    random_tensor(DataType::kFloat32, {2, 5}, seed + 20)});
  }
  expect_runs_match(m, runs);
}

// n, h[2,4] -> h_final, trace = Loop(n, "", h) with body
//   t = MatMul(h, W);  h_out = If(i < two) {Tanh(t)} else {Relu(t)};  trace ReduceMean(h_out, 1).
// Nested control flow, and a cuBLASLt MatMul in a body reading the engine's weights.
TEST(GpuControlFlow, LoopWithAnIfAndAMatMulInside) {
  ModelBuilder m(17);
  m.input("n", {}, kInt64);
  m.input("h", {"2", "4"});
  m.initializer("W", random_tensor(DataType::kFloat32, {4, 4}, 7, -0.8, 0.8));
  m.initializer("two", Tensor::scalar_int64(2));
  onnx::NodeProto* loop = m.node("Loop", {"n", "", "h"}, {"h_final", "trace"}, "rnn");
  onnx::GraphProto* body = set_graph(loop, "body");
  ModelBuilder::input_to(body, "i", {}, kInt64);
  ModelBuilder::input_to(body, "c", {}, kBool);
  ModelBuilder::input_to(body, "h_in", {"2", "4"});
  ModelBuilder::node_in(body, "MatMul", {"h_in", "W"}, {"t"});
  ModelBuilder::node_in(body, "Less", {"i", "two"}, {"early"});
  onnx::NodeProto* inner = ModelBuilder::node_in(body, "If", {"early"}, {"h_out"}, "activation");
  onnx::GraphProto* tanh_g = set_graph(inner, "then_branch");
  ModelBuilder::node_in(tanh_g, "Tanh", {"t"}, {"tanh_t"});
  ModelBuilder::output_to(tanh_g, "tanh_t");
  onnx::GraphProto* relu_g = set_graph(inner, "else_branch");
  ModelBuilder::node_in(relu_g, "Relu", {"t"}, {"relu_t"});
  ModelBuilder::output_to(relu_g, "relu_t");
  onnx::NodeProto* mean = ModelBuilder::node_in(body, "ReduceMean", {"h_out"}, {"row_mean"});
  set_ints(mean, "axes", {1});
  set_int(mean, "keepdims", 0);
  ModelBuilder::node_in(body, "Identity", {"c"}, {"c_out"});
  ModelBuilder::output_to(body, "c_out");
  ModelBuilder::output_to(body, "h_out");
  ModelBuilder::output_to(body, "row_mean");
  m.output("h_final");
  m.output("trace");
  const Tensor h = random_tensor(DataType::kFloat32, {2, 4}, 8);
  std::vector<std::vector<Tensor>> runs;
  for (int64_t n : {5, 1, 2}) runs.push_back({Tensor::scalar_int64(n), h});
  expect_runs_match(m, runs);
}

TEST(GpuControlFlow, ControlFlowRunsCannotBeCapturedIntoACudaGraph) {
  gpu_test::Engines e = gpu_test::build_both(parsed(while_loop_model()));
  KILN_SKIP_WITHOUT_GPU();
  Runner gpu(*e.gpu);
  // One ordinary run sets the addresses and allocators up; the captured one must refuse.
  gpu.run({boolean(true), floats({4}, {1, 2, 3, 4}), floats({}, {50})});
  cudaStream_t stream = gpu.stream();
  gpu_test::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                  "begin capture");
  std::string message;
  try {
    gpu.context().enqueue(stream);
  } catch (const Error& err) {
    message = err.what();
  }
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream, &graph);
  if (graph) cudaGraphDestroy(graph);
  EXPECT_TRUE(has(message, "'grow'") && has(message, "CUDA graph")) << message;
}

// A body node of an op without a CUDA kernel fails the build, naming the control-flow node, the
// body and the body node.
TEST(GpuControlFlow, BodyNodeWithoutCudaKernelFailsTheBuild) {
  auto body = std::make_shared<ir::Graph>();
  ir::Value* i = body->add_input("i", DataType::kInt64, {});
  ir::Value* c = body->add_input("c", DataType::kBool, {});
  ir::Value* x = body->add_input("x", DataType::kFloat32, {ir::Dim::fixed(3)});
  body->mark_output(body->add_node("Identity", "keep_going", {c}, {"c_out"})->outputs[0]);
  body->mark_output(body->add_node(gpu_test::kCpuOnlyOp, "host_only", {x}, {"x_out"})->outputs[0]);
  (void)i;
  ir::Graph graph;
  ir::Value* n = graph.add_input("n", DataType::kInt64, {});
  ir::Value* x0 = graph.add_input("x0", DataType::kFloat32, {ir::Dim::fixed(3)});
  ir::Node* loop = graph.add_node("Loop", "spin", {n, nullptr, x0}, {"x_final"},
                                  {{"body", body}, {"captured_inputs", int64_t(0)}});
  std::string message;
  try {
    cuda::check_bodies_run_on_gpu(*loop);
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kUnsupported);
    message = err.what();
  }
  EXPECT_TRUE(has(message, "'spin'") && has(message, "in its body") &&
              has(message, "'host_only'") && has(message, gpu_test::kCpuOnlyOp))
      << message;
}

}  // namespace
}  // namespace kiln
#endif

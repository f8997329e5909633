// Shapes that wait for data on the CUDA backend: nodes whose output extents depend on runtime
// values (a Reshape to a shape given as an engine input, Slice with runtime starts, NonZero,
// Compress, and everything computed from them) get the plan tactic "runtime_select"; the
// executor resolves them as it runs. Every case is compared with the CPU backend, over several
// runs of one context (so the runtime buffers are reused and grown). The builder-side checks
// run without a GPU.
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "gpu/cpu_only_op.h"
#include "gpu/engine_runner.h"
#include "gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>

namespace kiln {
namespace {

using gpu_test::constant;
using gpu_test::expect_outputs_match;
using gpu_test::has;
using gpu_test::ints;
using gpu_test::random_tensor;

using gpu_test::build_both;
using gpu_test::check;
using gpu_test::Engines;
using gpu_test::expect_runs_match;
using gpu_test::Profile;
using gpu_test::Runner;

Tensor floats(const Dims& shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v);
}

Tensor bools(const std::vector<uint8_t>& v) {
  return Tensor::from_bytes(DataType::kBool, {int64_t(v.size())}, v.data(), v.size());
}

// ---------------------------------------------------------------------------------------------

TEST(GpuDynamicShapes, ReshapeToAShapeGivenAsInput) {
  // x -> Reshape(shape) -> Relu -> y: the shape is an engine input, so both nodes wait for it.
  auto define = [](NetworkDefinition& n) {
    ITensor* x = n.add_input("x", DataType::kFloat32, {2, 3, 4});
    ITensor* shape = n.add_input("shape", DataType::kInt64, {3});
    ILayer* reshape = n.add_reshape(*x, *shape);
    ILayer* relu = n.add_activation(*reshape->output(0), ActivationType::kRELU);
    relu->output(0)->set_name("y");
    n.mark_output(*relu->output(0));
  };
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 4}, 11);
  expect_runs_match(define, {{x, ints({4, -1, 2})}, {x, ints({1, 24, 1})}, {x, ints({0, 3, 4})}});
}

TEST(GpuDynamicShapes, SliceWithStartsGivenAsInput) {
  // Slice(x, starts (input), ends, axes) -> Mul(2): the extents follow the runtime starts.
  auto define = [](NetworkDefinition& n) {
    ITensor* x = n.add_input("x", DataType::kFloat32, {6, 8});
    ITensor* starts = n.add_input("starts", DataType::kInt64, {2});
    ILayer* slice =
        n.add_layer("Slice", {x, starts, &constant(n, ints({5, 100})), &constant(n, ints({0, 1}))});
    ILayer* twice = n.add_elementwise(*slice->output(0), constant(n, floats({1}, {2.0f})),
                                      ElementWiseOperation::kPROD);
    twice->output(0)->set_name("y");
    n.mark_output(*twice->output(0));
  };
  const Tensor x = random_tensor(DataType::kFloat32, {6, 8}, 12);
  expect_runs_match(define,
                    {{x, ints({1, 2})}, {x, ints({0, -3})}, {x, ints({4, 0})}, {x, ints({5, 7})}});
}

TEST(GpuDynamicShapes, NonZeroThroughAnOutputAllocator) {
  auto define = [](NetworkDefinition& n) {
    ITensor* x = n.add_input("x", DataType::kFloat32, {5, 7});
    ILayer* nz = n.add_layer("NonZero", {x});
    nz->output(0)->set_name("indices");
    n.mark_output(*nz->output(0));
  };
  Tensor sparse = random_tensor(DataType::kInt64, {5, 7}, 13, 0, 2).cast(DataType::kFloat32);
  // Negative zero is zero, NaN is not.
  sparse.data<float>()[3] = -0.0f;
  sparse.data<float>()[4] = std::numeric_limits<float>::quiet_NaN();
  const Tensor dense = random_tensor(DataType::kFloat32, {5, 7}, 14, 1, 2);
  const Tensor zeros = Tensor::zeros(DataType::kFloat32, {5, 7});
  // Sizes change from run to run: fewer, none, all (the runtime buffers grow).
  expect_runs_match(define, {{sparse}, {zeros}, {dense}, {sparse}});

  // The allocator sees the shape of each run.
  Engines e = build_both(define);
  KILN_SKIP_WITHOUT_GPU();
  Runner gpu(*e.gpu);
  const std::vector<Tensor> got = gpu.run({dense});
  EXPECT_EQ(gpu.allocator("indices")->shape, (Dims{2, 35}));
  EXPECT_EQ(got[0].as_int64(34), 4);       // row of the last element
  EXPECT_EQ(got[0].as_int64(35 + 34), 6);  // its column
  gpu.run({zeros});
  EXPECT_EQ(gpu.context().tensor_shape("indices"), (Dims{2, 0}));
}

TEST(GpuDynamicShapes, NonZeroOfIntegersBooleansAndHalves) {
  for (DataType dtype : {DataType::kInt32, DataType::kBool, DataType::kFloat16, DataType::kInt8}) {
    SCOPED_TRACE(to_string(dtype));
    auto define = [dtype](NetworkDefinition& n) {
      ITensor* x = n.add_input("x", dtype, {3, 4, 5});
      ILayer* nz = n.add_layer("NonZero", {x});
      n.mark_output(*nz->output(0));
    };
    Tensor x = random_tensor(DataType::kInt64, {3, 4, 5}, 15, -1, 1).cast(dtype);
    expect_runs_match(define, {{x}});
  }
}

TEST(GpuDynamicShapes, CompressAlongAnAxisAndFlattened) {
  for (bool with_axis : {true, false}) {
    SCOPED_TRACE(with_axis ? "axis 1" : "flattened");
    auto define = [with_axis](NetworkDefinition& n) {
      ITensor* x = n.add_input("x", DataType::kFloat32, {4, 5, 3});
      ITensor* condition = n.add_input("condition", DataType::kBool, {-1});
      ILayer* compress = n.add_layer("Compress", {x, condition});
      if (with_axis) compress->set_int("axis", -2);
      n.mark_output(*compress->output(0));
    };
    const Tensor x = random_tensor(DataType::kFloat32, {4, 5, 3}, 16);
    expect_runs_match(define,
                      {{x, bools({0, 1, 1, 0, 1})},
                       {x, bools({1, 0, 0})},
                       {x, bools({0, 0, 0, 0})},
                       {x, bools({1, 1, 1, 1, 1})}},
                      {{"condition", {Dims{1}, Dims{4}, Dims{8}}}});
  }
}

TEST(GpuDynamicShapes, CompressWithATrueEntryPastTheExtentIsAClearError) {
  auto define = [](NetworkDefinition& n) {
    ITensor* x = n.add_input("x", DataType::kFloat32, {2, 3});
    ITensor* condition = n.add_input("condition", DataType::kBool, {5});
    ILayer* compress = n.add_layer("Compress", {x, condition});
    compress->set_int("axis", 1);
    compress->set_name("pick");
    n.mark_output(*compress->output(0));
  };
  Engines e = build_both(define);
  KILN_SKIP_WITHOUT_GPU();
  Runner gpu(*e.gpu);
  try {
    gpu.run({random_tensor(DataType::kFloat32, {2, 3}, 17), bools({1, 0, 0, 0, 1})});
    FAIL() << "expected kiln::Error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(has(err.what(), "Compress 'pick'")) << err.what();
    EXPECT_TRUE(has(err.what(), "has only 3 entries")) << err.what();
  }
}

// x -> Relu (static) -> NonZero -> Transpose -> GatherND(relu) -> Shape -> Concat(1) ->
// Reshape -> Mul(row of 3) = "scaled" (waits for data), then "after" = relu + 1 (static, after
// the deferred part in node order, in the caller's buffer): a chain mixing planned kernels,
// kernels chosen as it runs, and shape arithmetic on the host.
void define_chain(NetworkDefinition& n) {
  ITensor* x = n.add_input("x", DataType::kFloat32, {-1, 6});
  ILayer* relu = n.add_activation(*x, ActivationType::kRELU);
  ILayer* nz = n.add_layer("NonZero", {relu->output(0)});
  ILayer* coords = n.add_transpose(*nz->output(0), {1, 0});
  ILayer* values = n.add_layer("GatherND", {relu->output(0), coords->output(0)});
  ILayer* count = n.add_shape(*values->output(0));
  ILayer* target = n.add_concatenation({count->output(0), &constant(n, ints({1}))}, 0);
  ILayer* column = n.add_reshape(*values->output(0), *target->output(0));
  ILayer* scaled = n.add_elementwise(*column->output(0), constant(n, floats({1, 3}, {1, -2, 0.5f})),
                                     ElementWiseOperation::kPROD);
  scaled->output(0)->set_name("scaled");
  n.mark_output(*scaled->output(0));
  ILayer* after = n.add_elementwise(*relu->output(0), constant(n, floats({1}, {1.0f})),
                                    ElementWiseOperation::kSUM);
  after->output(0)->set_name("after");
  n.mark_output(*after->output(0));
}

const Profile kChainProfile = {{"x", {Dims{1, 6}, Dims{4, 6}, Dims{4, 6}}}};

TEST(GpuDynamicShapes, ChainMixingStaticAndDeferredParts) {
  Engines e = build_both(define_chain, kChainProfile);
  // The Relu before and the Add after keep their planned kernels.
  EXPECT_TRUE(has(e.gpu_description, "cuda_unary")) << e.gpu_description;
  EXPECT_TRUE(has(e.gpu_description, "runtime_select")) << e.gpu_description;
  KILN_SKIP_WITHOUT_GPU();
  Runner cpu(*e.cpu), gpu(*e.gpu);
  for (int64_t rows : {4, 1, 3, 4}) {
    SCOPED_TRACE(cat("rows ", rows));
    const std::vector<Tensor> inputs{
        random_tensor(DataType::kFloat32, {rows, 6}, uint32_t(20 + rows))};
    const std::vector<Tensor> want = cpu.run(inputs);
    expect_outputs_match(gpu.run(inputs), want, 1e-6, "GPU vs CPU");
  }
}

TEST(GpuDynamicShapes, DeferredRunsCannotBeCapturedIntoACudaGraph) {
  Engines e = build_both(define_chain, kChainProfile);
  KILN_SKIP_WITHOUT_GPU();
  Runner gpu(*e.gpu);
  const Tensor x = random_tensor(DataType::kFloat32, {2, 6}, 30);
  gpu.run({x});  // sets addresses and allocators up
  cudaStream_t stream = gpu.stream();
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  try {
    gpu.context().enqueue(stream);
    ADD_FAILURE() << "expected kiln::Error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kUnsupported);
    EXPECT_TRUE(has(err.what(), "CUDA graph")) << err.what();
  }
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream, &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
  // The context still runs afterwards.
  Runner cpu(*e.cpu);
  expect_outputs_match(gpu.run({x}), cpu.run({x}), 1e-6, "after the capture");
}

TEST(GpuDynamicShapes, OperandReadOnTheHostComputedAtRunTime) {
  // Pad's constant value is an engine input: the output shape is known when building, but the
  // kernel reads the value on the host, so the node is resolved as it runs (no longer a build
  // error), writing straight into the caller's buffer.
  const std::string d = gpu_test::expect_gpu_matches_cpu(
      [](NetworkDefinition& n) {
        ITensor* x = n.add_input("x", DataType::kFloat32, {3, 4});
        ITensor* value = n.add_input("value", DataType::kFloat32, {});
        ILayer* pad = n.add_layer("Pad", {x, &constant(n, ints({1, 0, 2, 3})), value});
        n.mark_output(*pad->output(0));
      },
      {random_tensor(DataType::kFloat32, {3, 4}, 31), gpu_test::scalar(7.5f)});
  EXPECT_TRUE(has(d, "runtime_select")) << d;
}

TEST(GpuDynamicShapes, DeferredNodeOfAnOpWithoutCudaKernelFailsTheBuild) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  ITensor* x = network->add_input("x", DataType::kFloat32, {2, 3, 3});
  ITensor* shape = network->add_input("shape", DataType::kInt64, {3});
  ILayer* reshape = network->add_reshape(*x, *shape);
  ILayer* op = network->add_layer(gpu_test::kCpuOnlyOp, {reshape->output(0)});
  op->set_name("copy");
  network->mark_output(*op->output(0));
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
  try {
    builder.build_engine(*network, config);
    FAIL() << "expected kiln::Error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kUnsupported);
    EXPECT_TRUE(has(err.what(), "KilnTestCpuOnly 'copy'")) << err.what();
    EXPECT_TRUE(has(err.what(), "no kernel for op KilnTestCpuOnly")) << err.what();
  }
}

TEST(GpuDynamicShapes, MissingOutputAllocatorIsAClearError) {
  Engines e = build_both(define_chain, kChainProfile);
  KILN_SKIP_WITHOUT_GPU();
  auto ctx = e.gpu->create_execution_context();
  ctx->set_input_shape("x", {2, 6});
  EXPECT_TRUE(ctx->has_data_dependent_shape("scaled"));
  EXPECT_FALSE(ctx->has_data_dependent_shape("after"));
  void* buffer = nullptr;
  check(cudaMalloc(&buffer, 4096), "cudaMalloc");
  ctx->set_tensor_address("x", buffer);
  ctx->set_tensor_address("after", static_cast<std::byte*>(buffer) + 1024);
  try {
    ctx->execute();
    ADD_FAILURE() << "expected kiln::Error";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(has(err.what(), "'scaled'")) << err.what();
    EXPECT_TRUE(has(err.what(), "OutputAllocator")) << err.what();
  }
  cudaFree(buffer);
}

}  // namespace
}  // namespace kiln

#endif  // KILN_HAVE_CUDA

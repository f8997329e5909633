// Building for the GPU (tactic per node, clear errors, plan round trip: these run everywhere)
// and the CUDA runtime (dynamic shapes, shape-time values, two contexts, asynchronous enqueue
// captured into a CUDA graph: these need a GPU).
#include <cstring>

#include "gpu/cpu_only_op.h"
#include "gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln {
namespace {

using gpu_test::random_tensor;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// x[batch, 16] -> MatMul W -> Add b -> Relu -> Softmax = "y"; and "z" = x + Expand(1.5, Shape(x)),
// whose second operand is computed on the host from the input shape (a shape-time value the
// GPU reads as data, different for every batch size).
struct DynamicNet {
  static constexpr int64_t K = 16, N = 10;
  Tensor w = random_tensor(DataType::kFloat32, {K, N}, 1);
  Tensor b = random_tensor(DataType::kFloat32, {1, N}, 2);
  std::unique_ptr<NetworkDefinition> network = std::make_unique<NetworkDefinition>();

  DynamicNet() {
    NetworkDefinition& n = *network;
    ITensor* x = n.add_input("x", DataType::kFloat32, {-1, K});
    ILayer* mm = n.add_matrix_multiply(*x, MatrixOperation::kNONE, gpu_test::constant(n, w),
                                       MatrixOperation::kNONE);
    ILayer* add =
        n.add_elementwise(*mm->output(0), gpu_test::constant(n, b), ElementWiseOperation::kSUM);
    ILayer* relu = n.add_activation(*add->output(0), ActivationType::kRELU);
    ILayer* sm = n.add_softmax(*relu->output(0), -1);
    sm->output(0)->set_name("y");
    n.mark_output(*sm->output(0));
    ILayer* shape = n.add_shape(*x);
    ILayer* fill = n.add_layer(
        "Expand",
        {&gpu_test::constant(n, Tensor::from_vector<float>(DataType::kFloat32, {1, 1}, {1.5f})),
         shape->output(0)});
    ILayer* z = n.add_elementwise(*x, *fill->output(0), ElementWiseOperation::kSUM);
    z->output(0)->set_name("z");
    n.mark_output(*z->output(0));
  }

  BuilderConfig config(DeviceType device) const {
    BuilderConfig c;
    c.set_device(device);
    c.clear_flag(BuilderFlag::kTF32);
    OptimizationProfile p;
    p.set_dimensions("x", OptProfileSelector::kMIN, {1, K});
    p.set_dimensions("x", OptProfileSelector::kOPT, {4, K});
    p.set_dimensions("x", OptProfileSelector::kMAX, {8, K});
    c.add_optimization_profile(p);
    return c;
  }
};

// ---------------------------------------------------------------------------------------------
// Builder side (no GPU needed)

#ifdef KILN_HAVE_CUDA

TEST(GpuBuild, EveryNodeGetsACudaTactic) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  auto engine = Builder(logger).build_engine(*net.network, net.config(DeviceType::kGPU));
  EXPECT_EQ(engine->device(), DeviceType::kGPU);
  const std::string d = engine->describe();
  EXPECT_TRUE(has(d, "target cuda:sm_90")) << d;
  // MatMul -> Add(b) -> Relu is one cuBLASLt call with a bias and ReLU epilogue.
  EXPECT_TRUE(has(d, "cublaslt_matmul_epilogue")) << d;
  EXPECT_FALSE(has(d, "cuda_unary")) << d;
  EXPECT_TRUE(has(d, "cuda_binary_broadcast")) << d;
  EXPECT_TRUE(has(d, "cuda_softmax")) << d;
  // Shape -> Expand is evaluated on the host while shapes are resolved.
  EXPECT_TRUE(has(d, "host_shape_time")) << d;
  EXPECT_FALSE(has(d, "kernel reference")) << d;
  EXPECT_GT(engine->arena_bytes(), 0u);
}

TEST(GpuBuild, PlanRoundTripKeepsTargetAndTactics) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  const std::vector<uint8_t> plan =
      Builder(logger).build_serialized_network(*net.network, net.config(DeviceType::kGPU));
  auto engine = Runtime(logger).deserialize_engine(plan.data(), plan.size());
  EXPECT_EQ(engine->device(), DeviceType::kGPU);
  EXPECT_TRUE(has(engine->describe(), "target cuda:sm_90"));
  EXPECT_TRUE(has(engine->describe(), "cublaslt_matmul"));
}

TEST(GpuBuild, NodeWithoutCudaKernelFailsTheBuildNamingNodeAndOp) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  ITensor* x = network->add_input("x", DataType::kFloat32, {2, 5, 5});
  ILayer* op = network->add_layer(gpu_test::kCpuOnlyOp, {x});
  op->set_name("pick");
  network->mark_output(*op->output(0));
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
  try {
    builder.build_engine(*network, config);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_TRUE(has(e.what(), "KilnTestCpuOnly 'pick'")) << e.what();
    EXPECT_TRUE(has(e.what(), "no kernel for op KilnTestCpuOnly")) << e.what();
    EXPECT_TRUE(has(e.what(), "float32[2x5x5]")) << e.what();
  }
  // The same network builds for the CPU.
  BuilderConfig cpu;
  EXPECT_NO_THROW(builder.build_engine(*network, cpu));
}

TEST(GpuBuild, UnsupportedDtypeFailsTheBuild) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  // cuBLASLt's products here are of float types only.
  ITensor* x = network->add_input("x", DataType::kInt64, {3, 3});
  ILayer* product = network->add_layer("MatMul", {x, x});
  network->mark_output(*product->output(0));
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
  try {
    builder.build_engine(*network, config);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_TRUE(has(e.what(), "no kernel for op MatMul with inputs int64[3x3], int64[3x3]"))
        << e.what();
  }
}

TEST(GpuBuild, RunningWithoutAGpuIsAClearError) {
  if (gpu_test::no_gpu_reason().empty()) GTEST_SKIP() << "a GPU is present: nothing to check";
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  auto engine = Builder(logger).build_engine(*net.network, net.config(DeviceType::kGPU));
  auto ctx = engine->create_execution_context();
  ctx->set_input_shape("x", {2, DynamicNet::K});
  float dummy[64];
  for (const char* name : {"x", "y", "z"}) ctx->set_tensor_address(name, dummy);
  try {
    ctx->enqueue(nullptr);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kRuntime);
    EXPECT_TRUE(has(e.what(), "no CUDA GPU")) << e.what();
  }
}

#else  // built without CUDA

TEST(GpuBuild, BuildingForTheGpuWithoutCudaIsAClearError) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  try {
    Builder(logger).build_engine(*net.network, net.config(DeviceType::kGPU));
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_TRUE(has(e.what(), "built without CUDA")) << e.what();
  }
}

#endif

// ---------------------------------------------------------------------------------------------
// Runtime (GPU)

#ifdef KILN_HAVE_CUDA

void check(cudaError_t status) { ASSERT_EQ(status, cudaSuccess) << cudaGetErrorString(status); }

TEST(GpuRuntime, DynamicBatchAndShapeTimeValuesMatchTheCpu) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  Builder builder(logger);
  auto cpu = builder.build_engine(*net.network, net.config(DeviceType::kCPU));
  auto gpu = builder.build_engine(*net.network, net.config(DeviceType::kGPU));
  KILN_SKIP_WITHOUT_GPU();
  // One context through several shapes: the arena and shape-time values follow.
  auto ctx = gpu->create_execution_context();
  void* x_dev = nullptr;
  void* y_dev = nullptr;
  void* z_dev = nullptr;
  const size_t max_bytes = 8 * DynamicNet::K * sizeof(float);
  check(cudaMalloc(&x_dev, max_bytes));
  check(cudaMalloc(&y_dev, max_bytes));
  check(cudaMalloc(&z_dev, max_bytes));
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream));
  for (int64_t batch : {4, 1, 8, 3, 4}) {
    SCOPED_TRACE(batch);
    const Tensor x = random_tensor(DataType::kFloat32, {batch, DynamicNet::K}, uint32_t(batch));
    const std::vector<Tensor> want = gpu_test::run_on_cpu(*cpu, {x});
    ctx->set_input_shape("x", x.shape());
    check(cudaMemcpy(x_dev, x.raw(), x.nbytes(), cudaMemcpyHostToDevice));
    ctx->set_tensor_address("x", x_dev);
    ctx->set_tensor_address("y", y_dev);
    ctx->set_tensor_address("z", z_dev);
    EXPECT_EQ(ctx->tensor_shape("y"), (Dims{batch, DynamicNet::N}));
    ctx->enqueue(stream);
    check(cudaStreamSynchronize(stream));
    std::vector<Tensor> got{Tensor::zeros(DataType::kFloat32, {batch, DynamicNet::N}),
                            Tensor::zeros(DataType::kFloat32, {batch, DynamicNet::K})};
    check(cudaMemcpy(got[0].raw(), y_dev, got[0].nbytes(), cudaMemcpyDeviceToHost));
    check(cudaMemcpy(got[1].raw(), z_dev, got[1].nbytes(), cudaMemcpyDeviceToHost));
    gpu_test::expect_outputs_match(got, want, 1e-5, "dynamic batch");
  }
  // execute() runs synchronously on the default stream.
  const Tensor x = random_tensor(DataType::kFloat32, {2, DynamicNet::K}, 99);
  ctx->set_input_shape("x", x.shape());
  check(cudaMemcpy(x_dev, x.raw(), x.nbytes(), cudaMemcpyHostToDevice));
  ctx->execute();
  Tensor y = Tensor::zeros(DataType::kFloat32, {2, DynamicNet::N});
  check(cudaMemcpy(y.raw(), y_dev, y.nbytes(), cudaMemcpyDeviceToHost));
  gpu_test::expect_outputs_match({y}, {gpu_test::run_on_cpu(*cpu, {x})[0]}, 1e-5, "execute()");
  cudaStreamDestroy(stream);
  cudaFree(x_dev);
  cudaFree(y_dev);
  cudaFree(z_dev);
}

// After a first run, enqueue only launches work on the caller's stream (no allocation, no host
// synchronization, no host copies), so it can be captured into a CUDA graph and replayed.
TEST(GpuRuntime, EnqueueIsCapturableIntoACudaGraph) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  Builder builder(logger);
  auto cpu = builder.build_engine(*net.network, net.config(DeviceType::kCPU));
  auto gpu = builder.build_engine(*net.network, net.config(DeviceType::kGPU));
  KILN_SKIP_WITHOUT_GPU();
  const int64_t batch = 5;
  auto ctx = gpu->create_execution_context();
  void *x_dev = nullptr, *y_dev = nullptr, *z_dev = nullptr;
  check(cudaMalloc(&x_dev, batch * DynamicNet::K * sizeof(float)));
  check(cudaMalloc(&y_dev, batch * DynamicNet::N * sizeof(float)));
  check(cudaMalloc(&z_dev, batch * DynamicNet::K * sizeof(float)));
  ctx->set_input_shape("x", {batch, DynamicNet::K});
  ctx->set_tensor_address("x", x_dev);
  ctx->set_tensor_address("y", y_dev);
  ctx->set_tensor_address("z", z_dev);
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream));
  const Tensor x0 = random_tensor(DataType::kFloat32, {batch, DynamicNet::K}, 1);
  check(cudaMemcpy(x_dev, x0.raw(), x0.nbytes(), cudaMemcpyHostToDevice));
  ctx->enqueue(stream);  // first run: allocations, weight upload
  check(cudaStreamSynchronize(stream));

  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  try {
    ctx->enqueue(stream);
  } catch (const Error& e) {
    cudaGraph_t broken = nullptr;
    cudaStreamEndCapture(stream, &broken);
    if (broken) cudaGraphDestroy(broken);
    FAIL() << "enqueue under stream capture failed: " << e.what();
  }
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiate(&exec, graph, 0));

  const Tensor x1 = random_tensor(DataType::kFloat32, {batch, DynamicNet::K}, 2);
  check(cudaMemcpy(x_dev, x1.raw(), x1.nbytes(), cudaMemcpyHostToDevice));
  check(cudaGraphLaunch(exec, stream));
  check(cudaStreamSynchronize(stream));
  std::vector<Tensor> got{Tensor::zeros(DataType::kFloat32, {batch, DynamicNet::N}),
                          Tensor::zeros(DataType::kFloat32, {batch, DynamicNet::K})};
  check(cudaMemcpy(got[0].raw(), y_dev, got[0].nbytes(), cudaMemcpyDeviceToHost));
  check(cudaMemcpy(got[1].raw(), z_dev, got[1].nbytes(), cudaMemcpyDeviceToHost));
  gpu_test::expect_outputs_match(got, gpu_test::run_on_cpu(*cpu, {x1}), 1e-5, "graph replay");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  cudaFree(x_dev);
  cudaFree(y_dev);
  cudaFree(z_dev);
}

TEST(GpuRuntime, TwoContextsOfOneDeserializedEngine) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  Builder builder(logger);
  auto cpu = builder.build_engine(*net.network, net.config(DeviceType::kCPU));
  const std::vector<uint8_t> plan =
      builder.build_serialized_network(*net.network, net.config(DeviceType::kGPU));
  KILN_SKIP_WITHOUT_GPU();
  auto gpu = Runtime(logger).deserialize_engine(plan.data(), plan.size());
  const Tensor a = random_tensor(DataType::kFloat32, {2, DynamicNet::K}, 5);
  const Tensor b = random_tensor(DataType::kFloat32, {7, DynamicNet::K}, 6);
  // run_on_gpu makes a context per call; both share the engine's uploaded weights.
  gpu_test::expect_outputs_match(gpu_test::run_on_gpu(*gpu, {a}), gpu_test::run_on_cpu(*cpu, {a}),
                                 1e-5, "a");
  gpu_test::expect_outputs_match(gpu_test::run_on_gpu(*gpu, {b}), gpu_test::run_on_cpu(*cpu, {b}),
                                 1e-5, "b");
}

TEST(GpuRuntime, MissingDeviceAddressIsAClearError) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicNet net;
  auto gpu = Builder(logger).build_engine(*net.network, net.config(DeviceType::kGPU));
  auto ctx = gpu->create_execution_context();
  ctx->set_input_shape("x", {2, DynamicNet::K});
  try {
    ctx->enqueue(nullptr);
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(has(e.what(), "no address set for input 'x'")) << e.what();
  }
}

#endif

}  // namespace
}  // namespace kiln

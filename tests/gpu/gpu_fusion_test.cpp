// Builder optimizations of GPU engines against the unoptimized CPU engine of the same
// network: matrix-product epilogues folded into cuBLASLt (passes/matmul_epilogue_fusion.h),
// Gemm's bias added by the epilogue, and views that share their source's memory
// (builder/view_aliases.h). Each test also checks, from the engine's description, that the
// optimization happened.
#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::constant;
using gpu_test::expect_gpu_matches_cpu;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::random_tensor;

// x [4,16,32] -> MatMul(w [32,48]) -> Add(bias [48]) [-> Add(r)] [-> activation] -> "y"
std::string check_epilogue(const std::string& activation, bool residual, GpuOptions options,
                           DataType dtype = DataType::kFloat32) {
  const Tensor x = random_tensor(dtype, {4, 16, 32}, 1);
  const Tensor r = random_tensor(dtype, {4, 16, 48}, 2);
  const Tensor w = random_tensor(dtype, {32, 48}, 3, -0.3, 0.3);
  const Tensor bias = random_tensor(dtype, {48}, 4);
  std::vector<Tensor> inputs{x};
  if (residual) inputs.push_back(r);
  SCOPED_TRACE(activation + (residual ? " with residual" : ""));
  return expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        ITensor* xi = n.add_input("x", dtype, x.shape());
        ITensor* v = n.add_layer("MatMul", {xi, &constant(n, w)})->output(0);
        v = n.add_layer("Add", {v, &constant(n, bias)})->output(0);
        if (residual) v = n.add_layer("Add", {n.add_input("r", dtype, r.shape()), v})->output(0);
        if (!activation.empty()) v = n.add_layer(activation, {v})->output(0);
        n.mark_output(*v);
      },
      inputs, options);
}

TEST(GpuFusion, MatMulBiasResidualReluIsOneCublasLtCall) {
  const std::string d = check_epilogue("Relu", true, GpuOptions{});
  EXPECT_TRUE(has(d, "cublaslt_matmul_epilogue")) << d;
  EXPECT_FALSE(has(d, "cuda_binary")) << d;  // no separate Add kernels left
  check_epilogue("", true, GpuOptions{});
  check_epilogue("", false, GpuOptions{});
  check_epilogue("Relu", false, GpuOptions{5e-3, /*tf32=*/true});
}

TEST(GpuFusion, GeluFoldsInFp16AndStaysExactInFp32) {
  // FP32: the bias folds, exact Gelu stays a kernel of its own.
  const std::string fp32 = check_epilogue("Gelu", false, GpuOptions{});
  EXPECT_TRUE(has(fp32, "cublaslt_matmul_epilogue")) << fp32;
  // FP16 mixed precision: Gelu in its tanh form inside the epilogue (< 5e-4 from exact).
  GpuOptions fp16{2e-2};
  fp16.fp16 = true;
  const std::string low = check_epilogue("Gelu", true, fp16);
  EXPECT_TRUE(has(low, "cublaslt_matmul_epilogue")) << low;
  // A model that is FP16 already.
  check_epilogue("Relu", true, GpuOptions{2e-2}, DataType::kFloat16);
}

TEST(GpuFusion, GemmRowBiasComesFromTheEpilogue) {
  const Tensor a = random_tensor(DataType::kFloat32, {24, 32}, 1);
  const Tensor b = random_tensor(DataType::kFloat32, {40, 32}, 2);
  for (const Dims& c_shape : {Dims{40}, Dims{1, 40}, Dims{24, 1}, Dims{24, 40}}) {
    SCOPED_TRACE(to_string(c_shape));
    const Tensor c = random_tensor(DataType::kFloat32, c_shape, 3);
    expect_gpu_matches_cpu(
        [&](NetworkDefinition& n) {
          ILayer* gemm = n.add_layer("Gemm", {n.add_input("a", DataType::kFloat32, a.shape()),
                                              &constant(n, b), &constant(n, c)});
          gemm->set_int("transB", 1);
          n.mark_output(*gemm->output(0));
        },
        {a});
  }
}

// GPT-2's exported MLP: x [2,8,32] -> Reshape [16,32] -> Gemm(W, c) -> Reshape [2,8,64] ->
// 0.5 * v * (1 + tanh(0.7978846 * (v + 0.044715 * v^3))). The written-out GELU becomes one Gelu
// (passes/gelu_recognition.h), moves before the Reshape and folds into the Gemm's epilogue.
TEST(GpuFusion, WrittenOutGeluAfterAGemmFoldsIntoItsEpilogue) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 8, 32}, 1);
  const Tensor w = random_tensor(DataType::kFloat32, {32, 64}, 2, -0.3, 0.3);
  const Tensor c = random_tensor(DataType::kFloat32, {64}, 3);
  auto scalar = [](NetworkDefinition& n, float v) -> ITensor& {
    return constant(n, gpu_test::scalar(v));
  };
  auto define = [&](NetworkDefinition& n) {
    ITensor* v = n.add_layer("Reshape", {n.add_input("x", DataType::kFloat32, x.shape()),
                                         &constant(n, gpu_test::ints({16, 32}))})
                     ->output(0);
    v = n.add_layer("Gemm", {v, &constant(n, w), &constant(n, c)})->output(0);
    v = n.add_layer("Reshape", {v, &constant(n, gpu_test::ints({2, 8, 64}))})->output(0);
    ITensor* half = n.add_layer("Mul", {v, &scalar(n, 0.5f)})->output(0);
    ITensor* cube = n.add_layer("Pow", {v, &scalar(n, 3.0f)})->output(0);
    ITensor* t = n.add_layer("Mul", {cube, &scalar(n, 0.044715f)})->output(0);
    t = n.add_layer("Add", {v, t})->output(0);
    t = n.add_layer("Mul", {t, &scalar(n, 0.7978846f)})->output(0);
    t = n.add_layer("Tanh", {t})->output(0);
    t = n.add_layer("Add", {t, &scalar(n, 1.0f)})->output(0);
    n.mark_output(*n.add_layer("Mul", {half, t})->output(0));
  };
  const std::string d = expect_gpu_matches_cpu(define, {x}, GpuOptions{1e-5});
  EXPECT_TRUE(has(d, "FusedMatMul")) << d;
  EXPECT_FALSE(has(d, "[Tanh]")) << d;
  EXPECT_FALSE(has(d, "[Pow]")) << d;
  GpuOptions fp16{3e-3};
  fp16.fp16 = true;
  const std::string low = expect_gpu_matches_cpu(define, {x}, fp16);
  EXPECT_TRUE(has(low, "FusedMatMul")) << low;
}

TEST(GpuFusion, ViewsShareTheirSourcesMemory) {
  // x -> Relu -> Reshape -> Unsqueeze -> Flatten -> Relu -> "y", and the Reshape also read
  // by an Add after the second view.
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 4, 5}, 1);
  const std::string d = expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        ITensor* v =
            n.add_layer("Relu", {n.add_input("x", DataType::kFloat32, x.shape())})->output(0);
        ITensor* reshaped =
            n.add_layer("Reshape", {v, &constant(n, gpu_test::ints({6, 20}))})->output(0);
        ITensor* unsq =
            n.add_layer("Unsqueeze", {reshaped, &constant(n, gpu_test::ints({0}))})->output(0);
        ILayer* flat = n.add_layer("Flatten", {unsq});
        flat->set_int("axis", 2);
        ITensor* neg = n.add_layer("Neg", {flat->output(0)})->output(0);
        ITensor* back =
            n.add_layer("Reshape", {neg, &constant(n, gpu_test::ints({6, 20}))})->output(0);
        n.mark_output(*n.add_layer("Add", {back, reshaped})->output(0));
        n.mark_output(*n.add_layer("Reshape", {v, &constant(n, gpu_test::ints({-1}))})->output(0));
      },
      {x});
  EXPECT_TRUE(has(d, "view_alias")) << d;
}

// A residual block: x -> Conv -> Relu -> Conv(bias) -> Add(x) -> Relu -> MaxPool -> "y",
// with a second output read between the convolutions.
std::string check_residual_block(GpuOptions options, DataType dtype = DataType::kFloat32) {
  const Tensor x = random_tensor(dtype, {2, 16, 12, 12}, 1);
  const Tensor w1 = random_tensor(dtype, {16, 16, 3, 3}, 2, -0.2, 0.2);
  const Tensor w2 = random_tensor(dtype, {16, 16, 3, 3}, 3, -0.2, 0.2);
  const Tensor b2 = random_tensor(dtype, {16}, 4);
  return expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        ITensor* xi = n.add_input("x", dtype, x.shape());
        auto conv = [&](ITensor* in, const Tensor& w, const Tensor* b) {
          std::vector<ITensor*> ins{in, &constant(n, w)};
          if (b) ins.push_back(&constant(n, *b));
          ILayer* c = n.add_layer("Conv", ins);
          c->set_ints("pads", {1, 1, 1, 1});
          return c->output(0);
        };
        ITensor* v = n.add_layer("Relu", {conv(xi, w1, nullptr)})->output(0);
        n.mark_output(*n.add_layer("Sigmoid", {v})->output(0));
        v = n.add_layer("Add", {conv(v, w2, &b2), xi})->output(0);
        v = n.add_layer("Relu", {v})->output(0);
        ILayer* pool = n.add_layer("MaxPool", {v});
        pool->set_ints("kernel_shape", {2, 2});
        pool->set_ints("strides", {2, 2});
        n.mark_output(*pool->output(0));
      },
      {x}, options);
}

TEST(GpuFusion, ConvolutionEpiloguesAndChannelsLast) {
  // FP32: epilogues folded (cuDNN's fused graph or kiln's epilogue kernel), NCHW.
  const std::string fp32 = check_residual_block(GpuOptions{});
  EXPECT_TRUE(has(fp32, "cudnn_fused_conv")) << fp32;
  check_residual_block(GpuOptions{5e-3, /*tf32=*/true});
  // FP16 mixed precision and an FP16 model: channels-last convolutions.
  GpuOptions fp16{2e-2};
  fp16.fp16 = true;
  const std::string low = check_residual_block(fp16);
  EXPECT_TRUE(has(low, "cudnn_fused_conv")) << low;
  check_residual_block(GpuOptions{2e-2}, DataType::kFloat16);
}

// ResNet's stem in FP16: Conv(7x7, stride 2) on 3 channels (padded to 8) -> Relu ->
// MaxPool(3x3, stride 2) -> Conv -> Relu -> AveragePool: channels-last throughout, the pools
// included (no Transposes left but the boundary ones).
TEST(GpuFusion, ChannelsLastStemWithPools) {
  const Tensor x = random_tensor(DataType::kFloat32, {2, 3, 32, 32}, 1);
  const Tensor w1 = random_tensor(DataType::kFloat32, {16, 3, 7, 7}, 2, -0.2, 0.2);
  const Tensor w2 = random_tensor(DataType::kFloat32, {16, 16, 3, 3}, 3, -0.2, 0.2);
  GpuOptions fp16{2e-2};
  fp16.fp16 = true;
  const std::string d = expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        ITensor* v = n.add_input("x", DataType::kFloat32, x.shape());
        ILayer* c1 = n.add_layer("Conv", {v, &constant(n, w1)});
        c1->set_ints("pads", {3, 3, 3, 3});
        c1->set_ints("strides", {2, 2});
        v = n.add_layer("Relu", {c1->output(0)})->output(0);
        ILayer* pool = n.add_layer("MaxPool", {v});
        pool->set_ints("kernel_shape", {3, 3});
        pool->set_ints("strides", {2, 2});
        pool->set_ints("pads", {1, 1, 1, 1});
        ILayer* c2 = n.add_layer("Conv", {pool->output(0), &constant(n, w2)});
        c2->set_ints("pads", {1, 1, 1, 1});
        v = n.add_layer("Relu", {c2->output(0)})->output(0);
        ILayer* avg = n.add_layer("AveragePool", {v});
        avg->set_ints("kernel_shape", {2, 2});
        avg->set_ints("strides", {2, 2});
        ILayer* c3 = n.add_layer("Conv", {avg->output(0), &constant(n, w2)});
        n.mark_output(*c3->output(0));
      },
      {x}, fp16);
  // Both pools run channels-last: the engine has only x's and the output's Transposes.
  size_t transposes = 0;
  for (size_t at = d.find("[Transpose]"); at != std::string::npos;
       at = d.find("[Transpose]", at + 1))
    ++transposes;
  EXPECT_EQ(transposes, 2u) << d;
}

}  // namespace
}  // namespace kiln

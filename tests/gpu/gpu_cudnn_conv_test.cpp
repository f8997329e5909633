// Conv and ConvTranspose through cuDNN (src/backends/cuda/cudnn_conv.cu) against the CPU
// backend, on random inputs, through one-node networks built with the public API.
//
// Tolerances (relative L2 over the output): float32 1e-5 (TF32 excluded unless the builder
// flag is set; with it, 5e-3 as for matrix products). float16 3e-3 and bfloat16 1e-2: cuDNN
// accumulates in float32 and rounds the convolution to the storage type, then the bias kernel
// rounds again, while the CPU reference accumulates in double and rounds once; one rounding is
// about 3e-4 (float16) and 2e-3 (bfloat16) relative.
//
// Each test also checks that the builder chose the cuDNN kernel (the engine's description
// lists each node's tactic). Where there is no GPU, each test still builds its GPU engine
// (checking the tactic choice) and runs the CPU reference, then skips.
#include <cstdint>
#include <optional>

#include "gpu/gpu_test_util.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln {
namespace {

using gpu_test::expect_gpu_matches_cpu;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::random_tensor;

constexpr double kFloat16Tolerance = 3e-3;
constexpr double kBfloat16Tolerance = 1e-2;
constexpr double kTf32Tolerance = 5e-3;

// One `op` node over X (a network input), W and the optional bias B (constants, as a model's
// weights are), attributes set by `attrs`. Returns the GPU engine's description.
std::string check_conv(const std::string& op, const Tensor& x, const Tensor& w,
                       const std::optional<Tensor>& b, const std::function<void(ILayer&)>& attrs,
                       GpuOptions options = {}) {
  SCOPED_TRACE(op + " of X" + to_string(x.shape()) + " by W" + to_string(w.shape()));
  return expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        std::vector<ITensor*> ins{n.add_input("x", x.dtype(), x.shape()),
                                  &gpu_test::constant(n, w)};
        if (b) ins.push_back(&gpu_test::constant(n, *b));
        ILayer* layer = n.add_layer(op, ins);
        if (attrs) attrs(*layer);
        n.mark_output(*layer->output(0));
      },
      {x}, options);
}

Tensor noise(const Dims& shape, uint32_t seed, DataType t = DataType::kFloat32) {
  return random_tensor(t, shape, seed);
}

void no_attrs(ILayer&) {}

// ---------------------------------------------------------------------------------------------
// Conv

TEST(GpuCudnnConv, Conv2dPad1WithBiasUsesCudnn) {
  const std::string d = check_conv("Conv", noise({2, 8, 9, 9}, 1), noise({16, 8, 3, 3}, 2),
                                   noise({16}, 3), [](ILayer& l) {
                                     l.set_ints("pads", {1, 1, 1, 1});
                                   });
  // cuDNN outranks kiln's own implicit-GEMM kernel for this node.
  EXPECT_TRUE(has(d, "cudnn_conv")) << d;
  EXPECT_FALSE(has(d, "cuda_conv_implicit_gemm")) << d;
}

TEST(GpuCudnnConv, StridedDilatedAndAsymmetricPads) {
  // Strided.
  EXPECT_TRUE(has(check_conv("Conv", noise({1, 4, 11, 10}, 1), noise({8, 4, 3, 3}, 2), std::nullopt,
                             [](ILayer& l) {
                               l.set_ints("strides", {2, 2});
                               l.set_ints("pads", {1, 1, 1, 1});
                             }),
                  "cudnn_conv"));
  // Dilated, different per axis, with bias.
  check_conv("Conv", noise({2, 3, 12, 13}, 3), noise({5, 3, 3, 2}, 4), noise({5}, 5),
             [](ILayer& l) {
               l.set_ints("dilations", {2, 3});
             });
  // Asymmetric pads (begin != end on both axes) with strides and dilations together.
  check_conv("Conv", noise({1, 4, 11, 10}, 6), noise({6, 4, 3, 3}, 7), std::nullopt, [](ILayer& l) {
    l.set_ints("strides", {2, 1});
    l.set_ints("dilations", {2, 1});
    l.set_ints("pads", {1, 0, 2, 1});
  });
  // auto_pad SAME_LOWER with an odd total padding (the extra element goes first).
  check_conv("Conv", noise({1, 2, 8, 7}, 8), noise({3, 2, 4, 4}, 9), noise({3}, 10),
             [](ILayer& l) { l.set_string("auto_pad", "SAME_LOWER"); });
}

TEST(GpuCudnnConv, GroupedDepthwiseAndPointwise) {
  // Grouped: 2 groups of 3 input channels, 4 output channels each.
  EXPECT_TRUE(has(check_conv("Conv", noise({2, 6, 7, 7}, 1), noise({8, 3, 3, 3}, 2), noise({8}, 3),
                             [](ILayer& l) {
                               l.set_int("group", 2);
                               l.set_ints("pads", {1, 1, 1, 1});
                             }),
                  "cudnn_conv"));
  // Depthwise, strided, with bias (kiln's own kernel for this is cuda_conv_direct).
  const std::string d = check_conv("Conv", noise({2, 6, 8, 8}, 4), noise({6, 1, 3, 3}, 5),
                                   noise({6}, 6), [](ILayer& l) {
                                     l.set_int("group", 6);
                                     l.set_ints("pads", {1, 1, 1, 1});
                                     l.set_ints("strides", {2, 2});
                                   });
  EXPECT_TRUE(has(d, "cudnn_conv")) << d;
  // Depthwise with a channel multiplier of 2.
  check_conv("Conv", noise({1, 4, 9, 9}, 7), noise({8, 1, 5, 5}, 8), std::nullopt, [](ILayer& l) {
    l.set_int("group", 4);
    l.set_ints("pads", {2, 2, 2, 2});
  });
  // 1x1 with many channels.
  check_conv("Conv", noise({1, 96, 7, 7}, 9), noise({80, 96, 1, 1}, 10), noise({80}, 11), no_attrs);
}

TEST(GpuCudnnConv, OneDimensional) {
  // SAME_UPPER with a stride (runs as 2-D with a unit height).
  EXPECT_TRUE(has(check_conv("Conv", noise({2, 4, 20}, 1), noise({16, 4, 5}, 2), noise({16}, 3),
                             [](ILayer& l) {
                               l.set_string("auto_pad", "SAME_UPPER");
                               l.set_ints("strides", {2});
                             }),
                  "cudnn_conv"));
  // Asymmetric pads, dilation, groups.
  check_conv("Conv", noise({3, 6, 17}, 4), noise({4, 3, 3}, 5), std::nullopt, [](ILayer& l) {
    l.set_ints("pads", {0, 2});
    l.set_ints("dilations", {2});
    l.set_int("group", 2);
  });
}

TEST(GpuCudnnConv, ThreeDimensional) {
  // kiln's own CUDA kernels handle 1-D and 2-D only: 3-D runs through cuDNN alone.
  EXPECT_TRUE(
      has(check_conv("Conv", noise({1, 3, 6, 7, 5}, 1), noise({4, 3, 3, 3, 3}, 2), noise({4}, 3),
                     [](ILayer& l) {
                       l.set_ints("pads", {1, 1, 1, 1, 1, 1});
                     }),
          "cudnn_conv"));
  check_conv("Conv", noise({2, 4, 8, 9, 7}, 4), noise({6, 2, 2, 3, 3}, 5), std::nullopt,
             [](ILayer& l) {
               l.set_int("group", 2);
               l.set_ints("strides", {2, 1, 2});
               l.set_ints("dilations", {1, 2, 1});
               l.set_ints("pads", {0, 1, 1, 1, 2, 0});
             });
}

TEST(GpuCudnnConv, Float16AndBfloat16AccumulateInFloat32) {
  for (auto [t, tolerance] : {std::pair{DataType::kFloat16, kFloat16Tolerance},
                              std::pair{DataType::kBFloat16, kBfloat16Tolerance}}) {
    SCOPED_TRACE(to_string(t));
    // 72 terms per output: float16 accumulation would be visibly off at this tolerance.
    // (Channels-last, as FusedConv: passes/conv_fusion.h.)
    EXPECT_TRUE(
        has(check_conv(
                "Conv", noise({2, 8, 9, 9}, 1, t), noise({16, 8, 3, 3}, 2, t), noise({16}, 3, t),
                [](ILayer& l) {
                  l.set_ints("pads", {1, 1, 1, 1});
                },
                GpuOptions{tolerance}),
            "cudnn_fused_conv"));
    check_conv(
        "Conv", noise({2, 6, 8, 8}, 4, t), noise({6, 1, 3, 3}, 5, t), std::nullopt,
        [](ILayer& l) {
          l.set_int("group", 6);
          l.set_ints("strides", {2, 2});
          l.set_ints("pads", {0, 1, 1, 0});
        },
        GpuOptions{tolerance});
  }
  const DataType half = DataType::kFloat16;
  check_conv(
      "Conv", noise({1, 4, 5, 6, 7}, 6, half), noise({8, 4, 3, 3, 3}, 7, half), noise({8}, 8, half),
      [](ILayer& l) {
        l.set_ints("pads", {1, 1, 1, 1, 1, 1});
      },
      GpuOptions{kFloat16Tolerance});
}

TEST(GpuCudnnConv, Tf32OnlyWithTheBuilderFlag) {
  // Without the flag the float32 tests above hold to 1e-5, which TF32 (10-bit mantissa
  // inputs) would not meet on 288-term sums; with it, TF32's tolerance applies.
  const Tensor x = noise({2, 32, 10, 10}, 1);
  const Tensor w = noise({64, 32, 3, 3}, 2);
  auto pads = [](ILayer& l) { l.set_ints("pads", {1, 1, 1, 1}); };
  check_conv("Conv", x, w, std::nullopt, pads, GpuOptions{1e-5, false});
  check_conv("Conv", x, w, std::nullopt, pads, GpuOptions{kTf32Tolerance, true});
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose (cuDNN's backward-data operation)

TEST(GpuCudnnConv, ConvTranspose) {
  // Strided with output_padding and bias.
  const std::string d = check_conv("ConvTranspose", noise({2, 8, 5, 5}, 1), noise({8, 4, 3, 3}, 2),
                                   noise({4}, 3), [](ILayer& l) {
                                     l.set_ints("strides", {2, 2});
                                     l.set_ints("pads", {1, 1, 1, 1});
                                     l.set_ints("output_padding", {1, 1});
                                   });
  EXPECT_TRUE(has(d, "cudnn_conv_transpose")) << d;
  // Grouped, dilated, asymmetric pads.
  check_conv("ConvTranspose", noise({1, 6, 4, 5}, 4), noise({6, 2, 3, 2}, 5), std::nullopt,
             [](ILayer& l) {
               l.set_int("group", 3);
               l.set_ints("dilations", {2, 1});
               l.set_ints("strides", {1, 2});
               l.set_ints("pads", {0, 1, 2, 0});
             });
  // 1-D with output_shape (the padding follows from it), and 3-D with SAME_UPPER.
  check_conv("ConvTranspose", noise({2, 3, 7}, 6), noise({3, 5, 4}, 7), noise({5}, 8),
             [](ILayer& l) {
               l.set_ints("strides", {3});
               l.set_ints("output_shape", {20});
             });
  check_conv("ConvTranspose", noise({1, 2, 3, 4, 3}, 9), noise({2, 3, 3, 3, 3}, 10), std::nullopt,
             [](ILayer& l) {
               l.set_string("auto_pad", "SAME_UPPER");
               l.set_ints("strides", {2, 2, 2});
             });
  // float16.
  check_conv(
      "ConvTranspose", noise({2, 8, 5, 5}, 11, DataType::kFloat16),
      noise({8, 4, 3, 3}, 12, DataType::kFloat16), noise({4}, 13, DataType::kFloat16),
      [](ILayer& l) {
        l.set_ints("strides", {2, 2});
      },
      GpuOptions{kFloat16Tolerance});
}

// A node no CUDA kernel takes fails the build with each candidate kernel's reason, so that a
// user sees what to change (the type, the rank, the tactic sources) without reading kernels.
TEST(GpuCudnnConv, NodeNoKernelTakesListsEachKernelsReason) {
#ifdef KILN_HAVE_CUDA
  auto build_error = [](DataType dtype, const Dims& x_shape, const Dims& w_shape,
                        uint32_t tactic_sources) {
    StderrLogger logger(Logger::Severity::kError);
    Builder builder(logger);
    auto network = builder.create_network();
    ITensor* x = network->add_input("x", dtype, x_shape);
    ILayer* conv =
        network->add_layer("Conv", {x, &gpu_test::constant(*network, noise(w_shape, 1, dtype))});
    conv->set_name("the_conv");
    network->mark_output(*conv->output(0));
    BuilderConfig config;
    config.set_device(DeviceType::kGPU);
    config.set_tactic_sources(tactic_sources);
    try {
      builder.build_engine(*network, config);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // float64: every Conv kernel refuses the type.
  std::string e = build_error(DataType::kFloat64, {1, 2, 5, 5}, {3, 2, 3, 3}, kAllTacticSources);
  EXPECT_TRUE(has(e, "Conv 'the_conv'")) << e;
  EXPECT_TRUE(has(e, "cudnn_conv: takes float16, bfloat16 or float32, not float64")) << e;
  EXPECT_TRUE(has(e, "cuda_conv_direct: takes float16, bfloat16 or float32, not float64")) << e;
  // 3-D without cuDNN: kiln's own kernels stop at 2-D, cuDNN is turned off.
  e = build_error(DataType::kFloat32, {1, 2, 4, 4, 4}, {3, 2, 3, 3, 3},
                  1u << uint32_t(TacticSource::kCUBLAS_LT));
  EXPECT_TRUE(has(e, "cudnn_conv: its library is not among the BuilderConfig's tactic sources"))
      << e;
  EXPECT_TRUE(has(e, "cuda_conv_implicit_gemm: takes 1-D and 2-D convolutions, not rank 5")) << e;
  EXPECT_TRUE(has(e, "cuda_conv_direct: takes 1-D and 2-D convolutions, not rank 5")) << e;
#else
  GTEST_SKIP() << "built without CUDA";
#endif
}

// An output_padding of a whole stride (ONNX allows it when the dilation is larger) has no
// backward-data equivalent: the capability check must refuse it rather than fail at run time.
TEST(GpuCudnnConv, ConvTransposeCudnnCannotExpressIsRefusedAtBuildTime) {
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  ITensor* x = network->add_input("x", DataType::kFloat32, {1, 2, 5, 5});
  ILayer* layer = network->add_layer("ConvTranspose",
                                     {x, &gpu_test::constant(*network, noise({2, 2, 3, 3}, 1))});
  layer->set_ints("dilations", {2, 2});
  layer->set_ints("output_padding", {1, 1});  // stride 1: output_padding == stride
  network->mark_output(*layer->output(0));
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
#ifdef KILN_HAVE_CUDA
  try {
    auto engine = builder.build_engine(*network, config);
    EXPECT_FALSE(has(engine->describe(), "cudnn_conv_transpose")) << engine->describe();
  } catch (const Error& e) {
    // No other CUDA kernel runs ConvTranspose: the build names the node and op.
    EXPECT_TRUE(has(e.what(), "ConvTranspose")) << e.what();
  }
#else
  EXPECT_THROW(builder.build_engine(*network, config), Error);
#endif
}

// What cuDNN cannot express runs on kiln's direct ConvTranspose kernel (conv_transpose.cu), as do
// float64 and builds without cuDNN.
TEST(GpuCudnnConv, DirectConvTransposeCoversWhatCudnnCannot) {
  const std::string direct = "cuda_conv_transpose_direct";
  // output_padding reaching the stride (dilation 2 allows it).
  std::string d = check_conv("ConvTranspose", noise({1, 2, 5, 5}, 1), noise({2, 2, 3, 3}, 2),
                             noise({2}, 3), [](ILayer& l) {
                               l.set_ints("dilations", {2, 2});
                               l.set_ints("output_padding", {1, 1});
                             });
  EXPECT_TRUE(has(d, direct)) << d;
  // output_shape larger than the full transposed convolution: a negative end padding.
  d = check_conv("ConvTranspose", noise({1, 1, 3, 3}, 4), noise({1, 2, 3, 3}, 5), noise({2}, 6),
                 [](ILayer& l) {
                   l.set_ints("strides", {3, 2});
                   l.set_ints("output_shape", {10, 8});
                 });
  EXPECT_TRUE(has(d, direct)) << d;
  // float64, 3-D, grouped, strided and padded.
  d = check_conv(
      "ConvTranspose", noise({2, 4, 3, 4, 2}, 7, DataType::kFloat64),
      noise({4, 3, 2, 3, 2}, 8, DataType::kFloat64), noise({6}, 9, DataType::kFloat64),
      [](ILayer& l) {
        l.set_int("group", 2);
        l.set_ints("strides", {2, 1, 2});
        l.set_ints("pads", {1, 0, 0, 0, 1, 1});
      },
      GpuOptions{1e-12});
  EXPECT_TRUE(has(d, direct)) << d;
  // float16 without cuDNN (tactic sources), 1-D and 2-D.
  GpuOptions own{kFloat16Tolerance};
  own.tactic_sources = 1u << uint32_t(TacticSource::kCUBLAS_LT);
  d = check_conv(
      "ConvTranspose", noise({2, 3, 7}, 10, DataType::kFloat16),
      noise({3, 4, 3}, 11, DataType::kFloat16), std::nullopt,
      [](ILayer& l) { l.set_ints("strides", {2}); }, own);
  EXPECT_TRUE(has(d, direct)) << d;
  d = check_conv(
      "ConvTranspose", noise({1, 4, 6, 5}, 12, DataType::kFloat16),
      noise({4, 2, 3, 3}, 13, DataType::kFloat16), noise({4}, 14, DataType::kFloat16),
      [](ILayer& l) {
        l.set_int("group", 2);
        l.set_ints("strides", {2, 2});
        l.set_ints("dilations", {1, 2});
        l.set_ints("pads", {1, 0, 0, 1});
        l.set_ints("output_padding", {1, 0});
      },
      own);
  EXPECT_TRUE(has(d, direct)) << d;
}

// ---------------------------------------------------------------------------------------------
// One execution context through several batch sizes (a plan per shape, cached), new buffers
// (a new variant pack), and a replay of the captured launch sequence.

#ifdef KILN_HAVE_CUDA

void check(cudaError_t status) { ASSERT_EQ(status, cudaSuccess) << cudaGetErrorString(status); }

struct DynamicConv {
  static constexpr int64_t C = 4, K = 8, H = 9, W = 10;
  Tensor w = noise({K, C, 3, 3}, 1);
  Tensor b = noise({K}, 2);
  std::unique_ptr<NetworkDefinition> network = std::make_unique<NetworkDefinition>();

  DynamicConv() {
    NetworkDefinition& n = *network;
    ITensor* x = n.add_input("x", DataType::kFloat32, {-1, C, H, W});
    ILayer* conv = n.add_layer("Conv", {x, &gpu_test::constant(n, w), &gpu_test::constant(n, b)});
    conv->set_ints("pads", {1, 1, 1, 1});
    conv->output(0)->set_name("y");
    n.mark_output(*conv->output(0));
  }

  BuilderConfig config(DeviceType device) const {
    BuilderConfig c;
    c.set_device(device);
    c.clear_flag(BuilderFlag::kTF32);
    c.set_builder_optimization_level(0);  // no timing: the test checks the cuDNN kernel
    OptimizationProfile p;
    p.set_dimensions("x", OptProfileSelector::kMIN, {1, C, H, W});
    p.set_dimensions("x", OptProfileSelector::kOPT, {2, C, H, W});
    p.set_dimensions("x", OptProfileSelector::kMAX, {4, C, H, W});
    c.add_optimization_profile(p);
    return c;
  }
};

TEST(GpuCudnnConv, OneContextThroughShapesBuffersAndGraphReplay) {
  StderrLogger logger(Logger::Severity::kError);
  DynamicConv net;
  Builder builder(logger);
  auto cpu = builder.build_engine(*net.network, net.config(DeviceType::kCPU));
  auto gpu = builder.build_engine(*net.network, net.config(DeviceType::kGPU));
  EXPECT_TRUE(has(gpu->describe(), "cudnn_conv")) << gpu->describe();
  KILN_SKIP_WITHOUT_GPU();
  auto ctx = gpu->create_execution_context();
  const size_t max_x = 4 * DynamicConv::C * DynamicConv::H * DynamicConv::W * sizeof(float);
  const size_t max_y = 4 * DynamicConv::K * DynamicConv::H * DynamicConv::W * sizeof(float);
  void* x_dev[2] = {nullptr, nullptr};
  void* y_dev[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    check(cudaMalloc(&x_dev[i], max_x));
    check(cudaMalloc(&y_dev[i], max_y));
  }
  cudaStream_t stream = nullptr;
  check(cudaStreamCreate(&stream));
  auto fetch = [&](void* y, int64_t batch) {
    Tensor got =
        Tensor::zeros(DataType::kFloat32, {batch, DynamicConv::K, DynamicConv::H, DynamicConv::W});
    check(cudaMemcpy(got.raw(), y, got.nbytes(), cudaMemcpyDeviceToHost));
    return got;
  };
  int step = 0;
  for (int64_t batch : {2, 1, 4, 2}) {
    const int buffer = step++ % 2;  // alternate buffers: the variant pack follows the pointers
    SCOPED_TRACE(cat("batch ", batch, ", buffer ", buffer));
    const Tensor x =
        noise({batch, DynamicConv::C, DynamicConv::H, DynamicConv::W}, uint32_t(10 + step));
    ctx->set_input_shape("x", x.shape());
    check(cudaMemcpy(x_dev[buffer], x.raw(), x.nbytes(), cudaMemcpyHostToDevice));
    ctx->set_tensor_address("x", x_dev[buffer]);
    ctx->set_tensor_address("y", y_dev[buffer]);
    ctx->enqueue(stream);
    check(cudaStreamSynchronize(stream));
    gpu_test::expect_outputs_match({fetch(y_dev[buffer], batch)}, gpu_test::run_on_cpu(*cpu, {x}),
                                   1e-5, "dynamic batch");
  }

  // The last run planned nothing: capture it and replay it on new data.
  const int64_t batch = 2;
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
  const Tensor x = noise({batch, DynamicConv::C, DynamicConv::H, DynamicConv::W}, 99);
  const int buffer = (step - 1) % 2;
  check(cudaMemcpy(x_dev[buffer], x.raw(), x.nbytes(), cudaMemcpyHostToDevice));
  check(cudaMemset(y_dev[buffer], 0x7f, max_y));
  check(cudaGraphLaunch(exec, stream));
  check(cudaStreamSynchronize(stream));
  gpu_test::expect_outputs_match({fetch(y_dev[buffer], batch)}, gpu_test::run_on_cpu(*cpu, {x}),
                                 1e-5, "graph replay");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
  for (int i = 0; i < 2; ++i) {
    cudaFree(x_dev[i]);
    cudaFree(y_dev[i]);
  }
}

#endif  // KILN_HAVE_CUDA

}  // namespace
}  // namespace kiln

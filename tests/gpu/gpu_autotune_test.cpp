// Build-time autotuning (src/backends/cuda/autotune.cu) and the timing cache: a GPU build times
// the candidates of every node with a choice (cuDNN vs kiln's convolutions, cuBLASLt's
// algorithms, cuDNN's engine configurations) and records the fastest in the plan; a build with
// a cache that knows the layers times nothing; the engine runs the stored algorithms and
// matches the CPU backend, also after a save/load round trip. Where there is no GPU, the build
// chooses by priority and says so in the verbose log, and the GPU parts skip.
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"
#include "plan/plan.h"

namespace kiln {
namespace {

using gpu_test::has;
using gpu_test::random_tensor;

class CapturingLogger : public Logger {
 public:
  void log(Severity severity, std::string_view message) noexcept override {
    text += std::string(message) + "\n";
  }
  std::string text;
};

// Three 3x3 convolutions with bias and ReLU that differ only in their weights (one layer
// signature, timed once, as ResNet's repeated blocks), then a matrix product with a constant
// weight (cuBLASLt's algorithms).
struct TunedNet {
  Tensor w[3] = {random_tensor(DataType::kFloat32, {16, 16, 3, 3}, 11, -0.3, 0.3),
                 random_tensor(DataType::kFloat32, {16, 16, 3, 3}, 21, -0.3, 0.3),
                 random_tensor(DataType::kFloat32, {16, 16, 3, 3}, 31, -0.3, 0.3)};
  Tensor b = random_tensor(DataType::kFloat32, {16}, 12);
  Tensor m = random_tensor(DataType::kFloat32, {256, 96}, 13, -0.2, 0.2);

  void define(NetworkDefinition& n) const {
    ITensor* x = n.add_input("x", DataType::kFloat32, {2, 16, 16, 16});
    ITensor* h = x;
    for (int i = 0; i < 3; ++i) {
      ILayer* conv =
          n.add_layer("Conv", {h, &gpu_test::constant(n, w[i]), &gpu_test::constant(n, b)});
      conv->set_ints("pads", {1, 1, 1, 1});
      h = n.add_activation(*conv->output(0), ActivationType::kRELU)->output(0);
    }
    ILayer* flat = n.add_shuffle(*h, {32, 256});
    ILayer* mm = n.add_matrix_multiply(*flat->output(0), MatrixOperation::kNONE,
                                       gpu_test::constant(n, m), MatrixOperation::kNONE);
    mm->output(0)->set_name("y");
    n.mark_output(*mm->output(0));
  }
};

BuilderConfig gpu_config() {
  BuilderConfig c;
  c.set_device(DeviceType::kGPU);
  c.clear_flag(BuilderFlag::kTF32);  // exact float32, so that CPU and GPU agree to 1e-5
  return c;
}

// "autotune: timed N layers" from the builder's log, or -1.
int timed_layers(const std::string& log) {
  std::smatch match;
  static const std::regex pattern("autotune: timed ([0-9]+) layers");
  return std::regex_search(log, match, pattern) ? std::stoi(match[1]) : -1;
}

TEST(GpuAutotune, TimesOnceThenTakesTheCacheAndRunsTheStoredAlgorithms) {
#ifndef KILN_HAVE_CUDA
  GTEST_SKIP() << "this kiln was built without CUDA";
#endif
  TunedNet net;
  const Tensor x = random_tensor(DataType::kFloat32, {2, 16, 16, 16}, 1);
  CapturingLogger first_log;
  Builder builder(first_log);
  auto network = builder.create_network();
  net.define(*network);
  BuilderConfig config = gpu_config();
  std::shared_ptr<TimingCache> cache = config.create_timing_cache();
  config.set_timing_cache(cache);
  std::unique_ptr<Engine> first = builder.build_engine(*network, config);

  if (std::string why = gpu_test::no_gpu_reason(); !why.empty()) {
    // No GPU: priority choice, no parameters, nothing cached, and the log says why.
    EXPECT_TRUE(has(first_log.text, "no CUDA GPU visible at build time")) << first_log.text;
    EXPECT_FALSE(has(first->describe(), "cuBLASLt algo")) << first->describe();
    EXPECT_EQ(cache->size(), 0u);
    GTEST_SKIP() << "no CUDA GPU: " << why;
  }

  // The first build timed the convolution once (three layers of one signature) and the product.
  EXPECT_EQ(timed_layers(first_log.text), 2) << first_log.text;
  EXPECT_TRUE(has(first_log.text, "from the timing cache")) << first_log.text;  // conv 2 and 3
  EXPECT_TRUE(has(first_log.text, "chosen: ")) << first_log.text;
  EXPECT_EQ(cache->size(), 2u);
  const std::string described = first->describe();
  EXPECT_TRUE(has(described, " (cuBLASLt algo")) << described;
  std::printf("first build's choices:\n%s", described.c_str());

  // A second build with the cache, through its bytes: no timing, the same choices.
  const std::vector<uint8_t> cache_bytes = cache->serialize();
  CapturingLogger second_log;
  Builder second_builder(second_log);
  BuilderConfig second_config = gpu_config();
  second_config.set_timing_cache(
      second_config.create_timing_cache(cache_bytes.data(), cache_bytes.size()));
  std::unique_ptr<Engine> second = second_builder.build_engine(*network, second_config);
  EXPECT_EQ(timed_layers(second_log.text), 0) << second_log.text;
  EXPECT_EQ(second->describe(), described);

  // The engine runs the stored algorithms and matches the CPU backend; so does a loaded copy.
  BuilderConfig cpu_config;
  std::unique_ptr<Engine> cpu = builder.build_engine(*network, cpu_config);
  const std::vector<Tensor> want = gpu_test::run_on_cpu(*cpu, {x});
  gpu_test::expect_outputs_match(gpu_test::run_on_gpu(*first, {x}), want, 1e-5, "tuned engine");
  gpu_test::expect_outputs_match(gpu_test::run_on_gpu(*second, {x}), want, 1e-5, "cached engine");
  const std::vector<uint8_t> plan_bytes = first->serialize();
  std::unique_ptr<Engine> loaded =
      Runtime(first_log).deserialize_engine(plan_bytes.data(), plan_bytes.size());
  EXPECT_EQ(loaded->describe(), described);
  gpu_test::expect_outputs_match(gpu_test::run_on_gpu(*loaded, {x}), want, 1e-5, "loaded engine");
}

TEST(GpuAutotune, LevelZeroTimesNothing) {
#ifndef KILN_HAVE_CUDA
  GTEST_SKIP() << "this kiln was built without CUDA";
#endif
  TunedNet net;
  CapturingLogger log;
  Builder builder(log);
  auto network = builder.create_network();
  net.define(*network);
  BuilderConfig config = gpu_config();
  config.set_builder_optimization_level(0);
  std::unique_ptr<Engine> engine = builder.build_engine(*network, config);
  EXPECT_TRUE(has(log.text, "autotune: off (builder optimization level 0)")) << log.text;
  EXPECT_EQ(timed_layers(log.text), -1);
  EXPECT_FALSE(has(engine->describe(), "cuBLASLt algo")) << engine->describe();
}

// The executor hands the plan's parameters to the kernel: bytes that are not the kernel's are
// refused, naming the node; parameters tuned for another problem fall back to heuristics.
TEST(GpuAutotune, PlanParametersReachTheKernel) {
#ifndef KILN_HAVE_CUDA
  GTEST_SKIP() << "this kiln was built without CUDA";
#endif
  KILN_SKIP_WITHOUT_GPU();
  TunedNet net;
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  net.define(*network);
  BuilderConfig config = gpu_config();
  const std::vector<uint8_t> bytes = builder.build_serialized_network(*network, config);
  plan::PlanContents plan = plan::deserialize_plan(bytes.data(), bytes.size());
  std::string matmul;
  for (const auto& [node, tactic] : plan.tactics) {
    if (tactic.rfind("cublaslt_matmul", 0) == 0) matmul = node;
  }
  ASSERT_FALSE(matmul.empty());
  ASSERT_TRUE(plan.tactic_params.count(matmul));
  const Tensor x = random_tensor(DataType::kFloat32, {2, 16, 16, 16}, 2);
  BuilderConfig cpu_config;
  const std::vector<Tensor> want =
      gpu_test::run_on_cpu(*builder.build_engine(*network, cpu_config), {x});

  // Tuned for another product (m changed in the stored key): heuristics, same results.
  std::vector<uint8_t> other = plan.tactic_params[matmul];
  other[8] ^= 1;
  plan.tactic_params[matmul] = other;
  std::vector<uint8_t> patched = plan::serialize_plan(plan);
  auto engine = Runtime(logger).deserialize_engine(patched.data(), patched.size());
  gpu_test::expect_outputs_match(gpu_test::run_on_gpu(*engine, {x}), want, 1e-5, "other key");

  // Not cuBLASLt parameters at all.
  plan.tactic_params[matmul] = {1, 2, 3};
  patched = plan::serialize_plan(plan);
  engine = Runtime(logger).deserialize_engine(patched.data(), patched.size());
  try {
    gpu_test::run_on_gpu(*engine, {x});
    ADD_FAILURE() << "expected the run to fail";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), matmul)) << e.what();
    EXPECT_TRUE(has(e.what(), "cuBLASLt algorithm parameters")) << e.what();
  }
}

}  // namespace
}  // namespace kiln

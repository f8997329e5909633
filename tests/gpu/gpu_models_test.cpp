// Model fixtures (tests/models/generate_models.py: ONNX models with onnxruntime's outputs) run
// on the GPU through the ONNX parser, a GPU build with one profile spanning every data set,
// and a plan round trip. Tolerances (relative L2 against onnxruntime's float32 outputs):
// float32 without TF32 1e-4, as the CPU backend; TF32 matrix products 5e-3; mixed precision
// (FP16 and BF16 builder flags: matrix and convolution work in the low type with float32
// accumulation) 2e-2 for FP16 (4e-2 for MobileNetV2) and 6e-2 for BF16, whose 8-bit mantissa loses
// about 2-3 digits through a deep network.
#include <filesystem>

#include "gpu/gpu_test_util.h"
#include "models/model_fixtures.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

using testing::DataSet;
using testing::load_data_sets;
using testing::models_dir;

enum class Precision { kFP32, kTF32, kFP16, kBF16 };

const char* label(Precision p) {
  switch (p) {
    case Precision::kFP32:
      return "";
    case Precision::kTF32:
      return " (TF32)";
    case Precision::kFP16:
      return " (FP16)";
    case Precision::kBF16:
      return " (BF16)";
  }
  return "";
}

void run_model(const std::string& name, Precision precision, double tolerance) {
#ifndef KILN_HAVE_CUDA
  GTEST_SKIP() << "no CUDA GPU: this kiln was built without CUDA";
#endif
  const fs::path dir = models_dir() / name;
  if (!fs::exists(dir / "model.onnx")) {
    GTEST_SKIP() << "model fixture " << dir
                 << " missing: run python3 tests/models/generate_models.py "
                 << models_dir().string() << " (or set KILN_MODELS_DIR)";
  }
  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  auto network = builder.create_network();
  OnnxParser(*network, logger).parse_from_file((dir / "model.onnx").string());
  const std::vector<DataSet> sets = load_data_sets(dir);
  ASSERT_FALSE(sets.empty());
  OptimizationProfile profile = testing::profile_spanning(*network, sets, /*opt_is_max=*/true);
  BuilderConfig config;
  config.set_device(DeviceType::kGPU);
  if (precision == Precision::kFP32) config.clear_flag(BuilderFlag::kTF32);
  if (precision == Precision::kTF32) config.set_flag(BuilderFlag::kTF32);
  if (precision == Precision::kFP16) config.set_flag(BuilderFlag::kFP16);
  if (precision == Precision::kBF16) config.set_flag(BuilderFlag::kBF16);
  config.add_optimization_profile(profile);
  const std::vector<uint8_t> plan = builder.build_serialized_network(*network, config);
  auto engine = Runtime(logger).deserialize_engine(plan.data(), plan.size());
  EXPECT_EQ(engine->device(), DeviceType::kGPU);
  if (std::getenv("KILN_TEST_DESCRIBE")) std::printf("%s", engine->describe().c_str());
  KILN_SKIP_WITHOUT_GPU();
  for (size_t s = 0; s < sets.size(); ++s) {
    std::vector<Tensor> got = gpu_test::run_on_gpu(*engine, sets[s].inputs);
    ASSERT_EQ(got.size(), sets[s].outputs.size());
    for (size_t o = 0; o < got.size(); ++o) {
      ASSERT_EQ(got[o].shape(), sets[s].outputs[o].shape()) << name << " output " << o;
      // outputs keep their declared type whatever precision the layers ran in
      ASSERT_EQ(got[o].dtype(), sets[s].outputs[o].dtype()) << name << " output " << o;
      const double err = gpu_test::relative_l2(got[o], sets[s].outputs[o]);
      EXPECT_LT(err, tolerance) << name << " output " << o << " data set " << s;
      std::printf("[ gpu model ] %s%s data set %zu output %zu: relative L2 error %.3g\n",
                  name.c_str(), label(precision), s, o, err);
    }
  }
  // Latency, for the record (not a check): the last data set, steady state.
  const Dims first_shape = sets.back().inputs.at(0).shape();
  std::printf("[ gpu model ] %s%s input %s: %.3f ms per run\n", name.c_str(), label(precision),
              to_string(first_shape).c_str(),
              gpu_test::time_on_gpu(*engine, sets.back().inputs, 10));
}

TEST(GpuModels, MlpDynamic) { run_model("mlp_dynamic", Precision::kFP32, 1e-4); }
TEST(GpuModels, TransformerTiny) { run_model("transformer_tiny", Precision::kFP32, 1e-4); }
TEST(GpuModels, TransformerTinyTf32) { run_model("transformer_tiny", Precision::kTF32, 5e-3); }
TEST(GpuModels, TransformerTinyFp16) { run_model("transformer_tiny", Precision::kFP16, 2e-2); }
TEST(GpuModels, TransformerTinyBf16) { run_model("transformer_tiny", Precision::kBF16, 6e-2); }
TEST(GpuModels, CnnSmall) { run_model("cnn_small", Precision::kFP32, 1e-4); }
TEST(GpuModels, CnnSmallFp16) { run_model("cnn_small", Precision::kFP16, 2e-2); }
TEST(GpuModels, ResNet50) { run_model("resnet50", Precision::kFP32, 1e-4); }
TEST(GpuModels, ResNet50Tf32) { run_model("resnet50", Precision::kTF32, 5e-3); }
TEST(GpuModels, ResNet50Fp16) { run_model("resnet50", Precision::kFP16, 2e-2); }
TEST(GpuModels, ResNet50Bf16) { run_model("resnet50", Precision::kBF16, 6e-2); }
TEST(GpuModels, MobileNetV2) { run_model("mobilenetv2", Precision::kFP32, 1e-4); }
// 52 layers of depthwise convolutions on random weights: FP16 rounding compounds to ~2.3e-2.
TEST(GpuModels, MobileNetV2Fp16) { run_model("mobilenetv2", Precision::kFP16, 4e-2); }
TEST(GpuModels, BertBase) { run_model("bert_base", Precision::kFP32, 1e-4); }
TEST(GpuModels, BertBaseTf32) { run_model("bert_base", Precision::kTF32, 5e-3); }
TEST(GpuModels, BertBaseFp16) { run_model("bert_base", Precision::kFP16, 2e-2); }
TEST(GpuModels, BertBaseBf16) { run_model("bert_base", Precision::kBF16, 6e-2); }

}  // namespace
}  // namespace kiln

// Model fixtures (tests/models/generate_models.py: ONNX models with onnxruntime's outputs) run
// on the GPU through the ONNX parser, a GPU build with one profile spanning every data set,
// and a plan round trip. float32 without TF32 must match onnxruntime to 1e-4 relative L2, as
// the CPU backend does; with TF32 matrix products, to 5e-3.
#include <filesystem>

#include "gpu/gpu_test_util.h"
#include "models/model_fixtures.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

using testing::DataSet;
using testing::load_data_sets;
using testing::models_dir;

void run_model(const std::string& name, bool tf32, double tolerance) {
#ifndef KILN_HAVE_CUDA
  GTEST_SKIP() << "no CUDA GPU: this kiln was built without CUDA";
#endif
  const fs::path dir = models_dir() / name;
  if (!fs::exists(dir / "model.onnx")) {
    GTEST_SKIP() << "model fixture " << dir << " missing: run python3 tests/models/generate_models.py "
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
  if (tf32) {
    config.set_flag(BuilderFlag::kTF32);
  } else {
    config.clear_flag(BuilderFlag::kTF32);
  }
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
      const double err = gpu_test::relative_l2(got[o], sets[s].outputs[o]);
      EXPECT_LT(err, tolerance) << name << " output " << o << " data set " << s;
      std::printf("[ gpu model ] %s%s data set %zu output %zu: relative L2 error %.3g\n", name.c_str(),
                  tf32 ? " (TF32)" : "", s, o, err);
    }
  }
  // Latency, for the record (not a check): the last data set, steady state.
  const Dims first_shape = sets.back().inputs.at(0).shape();
  std::printf("[ gpu model ] %s%s input %s: %.3f ms per run\n", name.c_str(), tf32 ? " (TF32)" : "",
              to_string(first_shape).c_str(), gpu_test::time_on_gpu(*engine, sets.back().inputs, 10));
}

TEST(GpuModels, MlpDynamic) { run_model("mlp_dynamic", false, 1e-4); }
TEST(GpuModels, TransformerTiny) { run_model("transformer_tiny", false, 1e-4); }
TEST(GpuModels, TransformerTinyTf32) { run_model("transformer_tiny", true, 5e-3); }
TEST(GpuModels, CnnSmall) { run_model("cnn_small", false, 1e-4); }
TEST(GpuModels, ResNet50) { run_model("resnet50", false, 1e-4); }
TEST(GpuModels, ResNet50Tf32) { run_model("resnet50", true, 5e-3); }
TEST(GpuModels, MobileNetV2) { run_model("mobilenetv2", false, 1e-4); }
TEST(GpuModels, BertBase) { run_model("bert_base", false, 1e-4); }
TEST(GpuModels, BertBaseTf32) { run_model("bert_base", true, 5e-3); }

}  // namespace
}  // namespace kiln

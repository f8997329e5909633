// libFuzzer target: the ONNX importer and the CPU builder. Any bytes are parsed as a
// ModelProto; a model that imports is built for the CPU (no autotuning) and run once
// (fuzz_util.h). External data is resolved against an empty directory made for the run.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    kiln::Logger& logger = kiln::null_logger();
    kiln::Builder builder(logger);
    auto network = builder.create_network();
    kiln::OnnxParser(*network, logger).parse(data, size, "/nonexistent-kiln-fuzz-dir");
    auto config = builder.create_config();
    config->set_device(kiln::DeviceType::kCPU);
    config->set_builder_optimization_level(0);
    std::unique_ptr<kiln::Engine> engine = builder.build_engine(*network, *config);
    kiln::fuzz::run_once(*engine);
  } catch (const kiln::Error&) {
  }
  return 0;
}

// Every input that once crashed a fuzz target (tests/fuzz/regressions/TARGET/, one file each,
// named after what it found) is replayed here, in every build: it must end in a kiln::Error or a
// clean run. Under the sanitizer build (scripts/sanitize) that also means no ASan or UBSan
// report. Plans and timing caches were found with checksums ignored, so their checksum is
// recomputed first, as an attacker would.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/checked_size.h"
#include "fuzz/fuzz_util.h"
#include "plan/checksum.h"
#include "plan/plan_format.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::vector<uint8_t>>> regression_inputs(
    const std::string& target) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> inputs;
  const fs::path dir = fs::path(KILN_SOURCE_DIR) / "tests" / "fuzz" / "regressions" / target;
  if (!fs::is_directory(dir)) return inputs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    inputs.emplace_back(entry.path().filename().string(),
                        std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {}));
  }
  return inputs;
}

// The fuzzers ran with a small tensor limit (scripts/fuzz); replays use one too, so that an input
// asking for a huge but legal allocation (a 32 GiB arena) is refused on any machine rather than
// allocated where there happens to be room.
class FuzzLimits {
 public:
  FuzzLimits() { set_max_tensor_bytes(size_t(256) << 20); }
  ~FuzzLimits() { set_max_tensor_bytes(0); }
};

TEST(FuzzRegressions, PlanReaderInputsFailCleanlyOrRun) {
  const FuzzLimits limits;
  for (auto& [name, bytes] : regression_inputs("plan_reader")) {
    SCOPED_TRACE(name);
    if (bytes.size() >= plan::format::kChecksumOffset + 4) {
      const uint32_t crc = plan::format::compute_checksum(bytes.data(), bytes.size());
      std::memcpy(bytes.data() + plan::format::kChecksumOffset, &crc, sizeof crc);
    }
    try {
      std::unique_ptr<Engine> engine =
          Runtime(null_logger()).deserialize_engine(bytes.data(), bytes.size());
      fuzz::run_once(*engine);
    } catch (const Error&) {
    }
  }
}

TEST(FuzzRegressions, OnnxImportInputsFailCleanlyOrRun) {
  const FuzzLimits limits;
  for (auto& [name, bytes] : regression_inputs("onnx_import")) {
    SCOPED_TRACE(name);
    try {
      Builder builder(null_logger());
      auto network = builder.create_network();
      OnnxParser(*network, null_logger())
          .parse(bytes.data(), bytes.size(), "/nonexistent-kiln-fuzz-dir");
      auto config = builder.create_config();
      config->set_device(DeviceType::kCPU);
      config->set_builder_optimization_level(0);
      fuzz::run_once(*builder.build_engine(*network, *config));
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace kiln

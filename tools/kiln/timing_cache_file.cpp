#include "timing_cache_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/temporary_files.h"
#include "kiln/error.h"

namespace kiln::cli {

std::shared_ptr<TimingCache> attach_timing_cache(BuilderConfig& config, const std::string& path) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "--timingCacheFile: empty path");
  std::error_code ec;
  std::shared_ptr<TimingCache> cache;
  if (!std::filesystem::exists(path, ec)) {
    cache = config.create_timing_cache();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw Error(ErrorCode::kIO,
                  "cannot read timing cache '" + path + "': " + std::strerror(errno));
    }
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      cache = config.create_timing_cache(bytes.data(), bytes.size());
    } catch (const Error& e) {
      throw Error(e.code(), "timing cache '" + path + "': " + e.what());
    }
  }
  config.set_timing_cache(cache);
  return cache;
}

std::shared_ptr<TimingCache> apply_tuning_flags(const ParsedArgs& args, BuilderConfig& config) {
  if (const std::optional<std::string> level = args.value("--builderOptimizationLevel")) {
    const uint64_t value = parse_uint(*level, "--builderOptimizationLevel");
    if (value > 5) {
      throw Error(ErrorCode::kInvalidArgument,
                  "--builderOptimizationLevel: '" + *level + "' must be 0 to 5");
    }
    config.set_builder_optimization_level(int(value));
  }
  const std::optional<std::string> path = args.value("--timingCacheFile");
  return path ? attach_timing_cache(config, *path) : nullptr;
}

void save_timing_cache(const TimingCache& cache, const std::string& path) {
  const std::vector<uint8_t> bytes = cache.serialize();
  write_file_atomically(path, bytes.data(), bytes.size(), "timing cache");
}

}  // namespace kiln::cli

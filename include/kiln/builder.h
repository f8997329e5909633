// The builder turns a NetworkDefinition into an optimized engine for one target, as TensorRT's
// IBuilder does: Builder + BuilderConfig (+ OptimizationProfiles for dynamic shapes).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/logger.h"
#include "kiln/network.h"
#include "kiln/timing_cache.h"
#include "kiln/types.h"

namespace kiln {

class Engine;

enum class BuilderFlag : uint32_t {
  kFP16 = 0,  // allow float16 kernels (mixed precision)
  kBF16 = 1,  // allow bfloat16 kernels
  kTF32 = 2,  // allow TF32 matrix math (on by default on GPUs that have it)
  kINT8 = 3,
  kFP8 = 4,
};

enum class DeviceType { kCPU, kGPU };

// Libraries the GPU builder may take kernels from, as TensorRT's TacticSource: a bit mask of
// 1 << TacticSource. kiln's own kernels are always allowed; cuBLASLt is where matrix products
// come from (without it a MatMul has no kernel).
enum class TacticSource : uint32_t { kCUBLAS_LT = 0, kCUDNN = 1 };
inline constexpr uint32_t kAllTacticSources =
    (1u << uint32_t(TacticSource::kCUBLAS_LT)) | (1u << uint32_t(TacticSource::kCUDNN));

enum class OptProfileSelector { kMIN = 0, kOPT = 1, kMAX = 2 };

// Ranges of input shapes an engine must accept: per dynamic input, min <= opt <= max
// elementwise. Kernels are chosen for `opt`; memory is planned for `max`.
class OptimizationProfile {
 public:
  void set_dimensions(const std::string& input, OptProfileSelector which, const Dims& dims);
  // Throws kiln::Error when the input has no dims set in this profile.
  const Dims& get_dimensions(const std::string& input, OptProfileSelector which) const;
  bool has(const std::string& input) const { return shapes_.count(input) != 0; }
  std::vector<std::string> inputs() const;

 private:
  std::map<std::string, std::array<Dims, 3>> shapes_;
};

class BuilderConfig {
 public:
  void set_flag(BuilderFlag flag) { flags_ |= 1u << uint32_t(flag); }
  void clear_flag(BuilderFlag flag) { flags_ &= ~(1u << uint32_t(flag)); }
  bool get_flag(BuilderFlag flag) const { return (flags_ >> uint32_t(flag)) & 1u; }
  uint32_t flags() const { return flags_; }

  void set_tactic_sources(uint32_t sources) { tactic_sources_ = sources; }
  uint32_t tactic_sources() const { return tactic_sources_; }

  void set_device(DeviceType device) { device_ = device; }
  DeviceType device() const { return device_; }

  // Returns the profile's index.
  int add_optimization_profile(const OptimizationProfile& profile);
  const std::vector<OptimizationProfile>& optimization_profiles() const { return profiles_; }

  // How hard the GPU builder works (TensorRT's builder optimization level, 0-5, default 3).
  // Level 0 times nothing: each node gets its kernel of highest priority, and cuBLASLt/cuDNN
  // algorithms are chosen by heuristics at the first run. Levels 1 and up time the candidates
  // of every node that has a choice (autotuning) where a GPU is present at build time.
  void set_builder_optimization_level(int level);
  int builder_optimization_level() const { return optimization_level_; }

  // Timing cache (TensorRT: createTimingCache / setTimingCache / getTimingCache). A new cache,
  // empty (size 0) or parsed from bytes that TimingCache::serialize wrote (throws kiln::Error for
  // bytes that are corrupt or from another kiln version). GPU builds look layers up in the attached
  // cache before timing them and add what they time to it; without one, a build still reuses
  // timings of identical layers within itself.
  std::shared_ptr<TimingCache> create_timing_cache(const void* data = nullptr,
                                                   size_t size = 0) const;
  void set_timing_cache(std::shared_ptr<TimingCache> cache) { timing_cache_ = std::move(cache); }
  std::shared_ptr<TimingCache> get_timing_cache() const { return timing_cache_; }

 private:
  uint32_t flags_ = 1u << uint32_t(BuilderFlag::kTF32);
  uint32_t tactic_sources_ = kAllTacticSources;
  DeviceType device_ = DeviceType::kCPU;
  std::vector<OptimizationProfile> profiles_;
  std::shared_ptr<TimingCache> timing_cache_;
  int optimization_level_ = 3;
};

class Builder {
 public:
  explicit Builder(Logger& logger);
  std::unique_ptr<NetworkDefinition> create_network() const;
  std::unique_ptr<BuilderConfig> create_config() const;

  // Optimizes the network and returns the serialized engine (a plan). The network is not
  // modified. Throws kiln::Error naming the input, layer or op that prevents the build.
  std::vector<uint8_t> build_serialized_network(const NetworkDefinition& network,
                                                const BuilderConfig& config) const;
  // Same, returning a ready engine without a serialization round trip.
  std::unique_ptr<Engine> build_engine(const NetworkDefinition& network,
                                       const BuilderConfig& config) const;

 private:
  Logger* logger_;
};

}  // namespace kiln

// Builder, BuilderConfig and OptimizationProfile: the public face of src/builder.
#include "kiln/builder.h"

#include "builder/engine_builder.h"
#include "builder/network_impl.h"
#include "kiln/engine.h"
#include "runtime/engine_impl.h"

namespace kiln {

void OptimizationProfile::set_dimensions(const std::string& input, OptProfileSelector which,
                                         const Dims& dims) {
  for (int64_t d : dims) {
    KILN_CHECK(d >= 0, ErrorCode::kInvalidArgument, "optimization profile shape ", to_string(dims),
               " for input '", input, "' has a negative extent");
  }
  auto [it, added] = shapes_.try_emplace(input);
  if (added) it->second = {dims, dims, dims};  // one selector set: the others follow until set
  it->second[size_t(which)] = dims;
}

const Dims& OptimizationProfile::get_dimensions(const std::string& input,
                                                OptProfileSelector which) const {
  auto it = shapes_.find(input);
  KILN_CHECK(it != shapes_.end(), ErrorCode::kInvalidArgument,
             "optimization profile has no shapes for input '", input, "'");
  return it->second[size_t(which)];
}

std::vector<std::string> OptimizationProfile::inputs() const {
  std::vector<std::string> names;
  for (const auto& [name, dims] : shapes_) names.push_back(name);
  return names;
}

int BuilderConfig::add_optimization_profile(const OptimizationProfile& profile) {
  profiles_.push_back(profile);
  return int(profiles_.size()) - 1;
}

void BuilderConfig::set_builder_optimization_level(int level) {
  KILN_CHECK(level >= 0 && level <= 5, ErrorCode::kInvalidArgument,
             "builder optimization level must be 0 to 5, got ", level);
  optimization_level_ = level;
}

Builder::Builder(Logger& logger) : logger_(&logger) {}

std::unique_ptr<NetworkDefinition> Builder::create_network() const {
  return std::make_unique<NetworkDefinition>();
}

std::unique_ptr<BuilderConfig> Builder::create_config() const {
  return std::make_unique<BuilderConfig>();
}

std::vector<uint8_t> Builder::build_serialized_network(const NetworkDefinition& network,
                                                       const BuilderConfig& config) const {
  return plan::serialize_plan(builder::build_plan(*network.impl().graph, config, *logger_));
}

std::unique_ptr<Engine> Builder::build_engine(const NetworkDefinition& network,
                                              const BuilderConfig& config) const {
  return detail::EngineImpl::create(builder::build_plan(*network.impl().graph, config, *logger_));
}

}  // namespace kiln

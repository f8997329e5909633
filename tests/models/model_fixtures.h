// The generated model fixtures (tests/models/generate_models.py): where they are, their data
// sets (inputs and onnxruntime's outputs, ONNX backend-test layout), and one optimization
// profile spanning every data set's input shapes. Shared by the CPU and GPU model tests.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kiln/kiln.h"
#include "onnx/tensor_proto.h"

namespace kiln::testing {

inline std::filesystem::path models_dir() {
  if (const char* env = std::getenv("KILN_MODELS_DIR")) return env;
  return std::filesystem::path(KILN_BINARY_DIR) / "models";
}

struct DataSet {
  std::vector<Tensor> inputs, outputs;
};

// test_data_set_0, test_data_set_1, ... until one is missing.
inline std::vector<DataSet> load_data_sets(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::vector<DataSet> sets;
  for (int s = 0;; ++s) {
    const fs::path set_dir = dir / ("test_data_set_" + std::to_string(s));
    if (!fs::exists(set_dir)) break;
    DataSet d;
    for (int i = 0; fs::exists(set_dir / ("input_" + std::to_string(i) + ".pb")); ++i) {
      d.inputs.push_back(
          onnx_import::read_tensor_pb_file(set_dir / ("input_" + std::to_string(i) + ".pb")));
    }
    for (int i = 0; fs::exists(set_dir / ("output_" + std::to_string(i) + ".pb")); ++i) {
      d.outputs.push_back(
          onnx_import::read_tensor_pb_file(set_dir / ("output_" + std::to_string(i) + ".pb")));
    }
    sets.push_back(std::move(d));
  }
  return sets;
}

// min = the smallest extents over the data sets, max = the largest; opt = min or max.
inline OptimizationProfile profile_spanning(const NetworkDefinition& network,
                                            const std::vector<DataSet>& sets, bool opt_is_max) {
  OptimizationProfile profile;
  for (int i = 0; i < network.num_inputs(); ++i) {
    Dims mn = sets.at(0).inputs.at(size_t(i)).shape(), mx = mn;
    for (const DataSet& d : sets) {
      for (size_t k = 0; k < mn.size(); ++k) {
        mn[k] = std::min(mn[k], d.inputs[size_t(i)].shape()[k]);
        mx[k] = std::max(mx[k], d.inputs[size_t(i)].shape()[k]);
      }
    }
    const std::string& in = network.input(i)->name();
    profile.set_dimensions(in, OptProfileSelector::kMIN, mn);
    profile.set_dimensions(in, OptProfileSelector::kOPT, opt_is_max ? mx : mn);
    profile.set_dimensions(in, OptProfileSelector::kMAX, mx);
  }
  return profile;
}

}  // namespace kiln::testing

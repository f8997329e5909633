// Which GPU kiln would run on: tools and applications ask before choosing a GPU or a CPU
// engine ("on the GPU where there is one, on the CPU otherwise").
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

struct GpuInfo {
  bool available = false;
  std::string why_not;  // when not available: "kiln was built without CUDA", "no CUDA GPU", ...
  std::string name;     // "NVIDIA H100 80GB HBM3"
  int compute_major = 0;
  int compute_minor = 0;
  int multiprocessors = 0;
  uint64_t memory_bytes = 0;
};

// Whether this kiln has its CUDA backend.
bool built_with_cuda();

// The current CUDA device (device 0 unless the application chose another). Never throws.
GpuInfo query_gpu();

}  // namespace kiln

// Shared by the libFuzzer targets: run an engine once, with zero inputs at the shapes its
// profile allows, when the run is small enough to be worth a fuzzing iteration. Any kiln::Error
// is an accepted outcome; anything else (a crash, a sanitizer report, another exception) is a
// finding.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::fuzz {

// Bytes an iteration may allocate for inputs and outputs; larger engines are loaded and checked
// but not run, so that a mutated extent does not turn a fuzzer iteration into a memory test.
inline constexpr uint64_t kMaxRunBytes = 64ull << 20;

// A deferred-shape output's memory, grown on request.
class GrowingAllocator : public OutputAllocator {
 public:
  void* reallocate_output(const std::string&, void*, uint64_t size, uint64_t) override {
    if (size > kMaxRunBytes) return nullptr;  // the context reports this as a kiln::Error
    if (storage_.size() < size) storage_.resize(size_t(size));
    return storage_.data();
  }
  void notify_shape(const std::string&, const Dims&) override {}

 private:
  std::vector<uint8_t> storage_;
};

// Runs `engine` once on the CPU with zero-filled inputs at each input's profile opt shape.
inline void run_once(Engine& engine) {
  if (engine.device() != DeviceType::kCPU) return;
  auto context = engine.create_execution_context();
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<std::unique_ptr<GrowingAllocator>> allocators;
  uint64_t total = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
    Dims dims = engine.tensor_shape(name);
    if (volume(dims) < 0 && engine.num_optimization_profiles() > 0) {
      dims = engine.profile_shape(name, 0, OptProfileSelector::kOPT);
    }
    context->set_input_shape(name, dims);
  }
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) == TensorIOMode::kOUTPUT &&
        context->has_data_dependent_shape(name)) {
      allocators.push_back(std::make_unique<GrowingAllocator>());
      context->set_output_allocator(name, allocators.back().get());
      continue;
    }
    const Dims dims = context->tensor_shape(name);
    const int64_t count = volume(dims);
    if (count < 0) return;
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(uint64_t(count), uint64_t(element_size(engine.tensor_dtype(name))),
                               &bytes) ||
        (total += bytes) > kMaxRunBytes) {
      return;
    }
    buffers.emplace_back(size_t(bytes) + 1);  // + 1: never a null address for an empty tensor
    context->set_tensor_address(name, buffers.back().data());
  }
  context->execute();
}

}  // namespace kiln::fuzz

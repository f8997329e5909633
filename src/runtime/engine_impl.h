// The state behind Engine and ExecutionContext.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kiln/engine.h"
#include "ops/shape_inference.h"
#include "plan/plan.h"

// The CUDA backend's device state (backends/cuda/cuda_backend.h); null for CPU engines.
namespace kiln::cuda {
struct EngineResources;
struct ContextResources;
}  // namespace kiln::cuda

namespace kiln::detail {

struct IOTensor {
  std::string name;
  TensorIOMode mode = TensorIOMode::kNONE;
  DataType dtype = DataType::kFloat32;
  Dims dims;  // -1 where dynamic
  const ir::Value* value = nullptr;
};

struct EngineImpl {
  plan::PlanContents plan;
  std::vector<IOTensor> io;                     // inputs first, then outputs
  std::shared_ptr<cuda::EngineResources> cuda;  // weights on the GPU (CUDA targets)

  static std::unique_ptr<Engine> create(plan::PlanContents plan);
  const IOTensor& io_tensor(const std::string& name) const;  // throws naming the tensor
  const IOTensor* find_io(const std::string& name) const;
  std::unique_ptr<ExecutionContext> create_context(const Engine& engine) const;
};

struct ContextImpl {
  const EngineImpl* engine = nullptr;
  std::map<std::string, Dims> input_shapes;
  std::map<std::string, void*> addresses;
  std::map<std::string, OutputAllocator*> output_allocators;
  // Shapes of data-dependent outputs from the last run.
  std::map<std::string, Dims> data_dependent_shapes;
  // Shapes and shape-time values for the current input shapes; reset when a shape changes.
  std::optional<ops::ResolvedShapes> resolved;
  std::vector<std::byte> arena_storage;
  // CUDA targets: device arena and handles; `resolve_generation` counts resolutions, so that
  // shape-time values are uploaded to the GPU again only when they change.
  std::shared_ptr<cuda::ContextResources> cuda;
  uint64_t resolve_generation = 0;
  Profiler* profiler = nullptr;
  // The thread inside a call of this context now (default id: none); see ExclusiveUse.
  std::atomic<std::thread::id> user{};

  const ops::ResolvedShapes& resolve();
  std::byte* arena();
};

// Held for the length of every ExecutionContext call. A context is per-thread state (as
// TensorRT's IExecutionContext): two threads inside one at once would race on its shapes,
// arena and buffers, so the second is refused with a clear error instead. Re-entrant within
// one thread (a call that makes another, or an OutputAllocator or Profiler callback that
// reads the context).
class ExclusiveUse {
 public:
  explicit ExclusiveUse(ContextImpl& impl);
  ~ExclusiveUse();
  ExclusiveUse(const ExclusiveUse&) = delete;
  ExclusiveUse& operator=(const ExclusiveUse&) = delete;

 private:
  ContextImpl& impl_;
  bool owns_ = false;
};

}  // namespace kiln::detail

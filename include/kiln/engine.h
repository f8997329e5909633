// Engine: an optimized network for one target, immutable and shareable across threads; and
// ExecutionContext: the per-stream state (shapes, addresses, activation memory) to run it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/builder.h"
#include "kiln/types.h"

namespace kiln {

namespace detail {
struct EngineImpl;
struct ContextImpl;
}  // namespace detail

enum class TensorIOMode { kNONE, kINPUT, kOUTPUT };

class ExecutionContext;

// Receives the time of each layer after a run, as TensorRT's IProfiler does (layer names are
// the plan's node names, as `kiln inspect` lists them). With a profiler set, a GPU run times
// every layer with CUDA events and waits for the GPU before enqueue returns.
class Profiler {
 public:
  virtual ~Profiler() = default;
  virtual void report_layer_time(const std::string& layer_name, float milliseconds) = 0;
};

// Receives outputs whose extents depend on the input data (NonZero, Unique, ...), as
// TensorRT's IOutputAllocator does: the context asks for memory once the size is known, then
// tells the shape.
class OutputAllocator {
 public:
  virtual ~OutputAllocator() = default;
  // Returns memory of at least `size` bytes (host memory for CPU engines) aligned to
  // `alignment`; `current` is what was returned last time (or nullptr), and may be reused.
  virtual void* reallocate_output(const std::string& name, void* current, uint64_t size,
                                  uint64_t alignment) = 0;
  virtual void notify_shape(const std::string& name, const Dims& dims) = 0;
};

class Engine {
 public:
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int num_io_tensors() const;
  // Inputs first (in network order), then outputs.
  const std::string& io_tensor_name(int index) const;
  TensorIOMode tensor_io_mode(const std::string& name) const;
  DataType tensor_dtype(const std::string& name) const;
  // Dims as built; -1 where the dim depends on input shapes. Throws for an unknown name.
  Dims tensor_shape(const std::string& name) const;
  int num_optimization_profiles() const;
  Dims profile_shape(const std::string& input, int profile, OptProfileSelector which) const;

  int num_layers() const;
  DeviceType device() const;
  // Bytes of the activation arena an execution context allocates, and the sum of all
  // activations as if none shared memory (the difference is what the memory planner saved).
  uint64_t arena_bytes() const;
  uint64_t total_activation_bytes() const;
  uint64_t weight_bytes() const;

  // A human-readable description: inputs, outputs, layers with kernels and shapes, memory.
  std::string describe() const;

  std::vector<uint8_t> serialize() const;
  // Writes atomically: on failure nothing is left at `path`.
  void save(const std::string& path) const;

  std::unique_ptr<ExecutionContext> create_execution_context() const;

  const detail::EngineImpl& impl() const { return *impl_; }

 private:
  friend struct detail::EngineImpl;
  explicit Engine(std::unique_ptr<detail::EngineImpl> impl);
  std::unique_ptr<detail::EngineImpl> impl_;
};

// One context serves one thread at a time (TensorRT's rule): a call made while another thread
// is inside a call of the same context throws kiln::Error (kInvalidArgument) and changes
// nothing. Threads that run the same engine at once each create their own context.
class ExecutionContext {
 public:
  ~ExecutionContext();
  ExecutionContext(const ExecutionContext&) = delete;
  ExecutionContext& operator=(const ExecutionContext&) = delete;

  // Sets a dynamic input's extents; must lie within the profile (clear error otherwise).
  void set_input_shape(const std::string& name, const Dims& dims);
  // Resolved extents of any I/O tensor once every input shape is known.
  Dims tensor_shape(const std::string& name) const;
  // Where an input is read from or an output written to: host memory for CPU engines, device
  // memory for GPU engines. The caller keeps it valid until the run finishes.
  void set_tensor_address(const std::string& name, void* address);
  void* tensor_address(const std::string& name) const;
  bool all_input_shapes_specified() const;

  // Runs the engine and returns when results are in the output buffers.
  void execute();
  // Enqueues the run on a CUDA stream (cudaStream_t, or nullptr for the CPU backend, which
  // runs synchronously).
  void enqueue(void* stream);

  // For an output whose shape depends on the input data (Engine::tensor_shape has -1 dims
  // that no input shape determines): where its memory comes from. The allocator must outlive
  // the runs. tensor_shape(name) gives the shape of the last run's result.
  void set_output_allocator(const std::string& name, OutputAllocator* allocator);
  // True when the output's extents (perhaps even its rank) are known only after a run, for the
  // input shapes set now; such an output needs an OutputAllocator.
  bool has_data_dependent_shape(const std::string& name) const;

  // nullptr turns profiling off.
  void set_profiler(Profiler* profiler);
  Profiler* profiler() const;

 private:
  friend class Engine;
  explicit ExecutionContext(std::unique_ptr<detail::ContextImpl> impl);
  std::unique_ptr<detail::ContextImpl> impl_;
};

}  // namespace kiln

// Helpers of the GPU tests: random inputs, running an engine on the CPU (host buffers) and on
// the GPU (device buffers, a stream), and comparing the two backends on one network.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kiln/kiln.h"

namespace kiln::gpu_test {

// Empty when a CUDA GPU can be used here, else the reason why not.
std::string no_gpu_reason();

#define KILN_SKIP_WITHOUT_GPU()                                              \
  do {                                                                       \
    if (std::string why = ::kiln::gpu_test::no_gpu_reason(); !why.empty()) { \
      GTEST_SKIP() << "no CUDA GPU: " << why;                                \
    }                                                                        \
  } while (0)

// Uniform values in [lo, hi) of any float dtype (drawn in float32, then rounded), or integers
// in [lo, hi] for integer dtypes, or random booleans.
Tensor random_tensor(DataType dtype, const Dims& shape, uint32_t seed, double lo = -2.0,
                     double hi = 2.0);

// Host outputs of one run (inputs in the engine's input order, shapes set from the tensors).
std::vector<Tensor> run_on_cpu(const Engine& engine, const std::vector<Tensor>& inputs);
// The same on the GPU: inputs copied to device buffers, enqueue on a fresh stream, outputs
// copied back. Throws kiln::Error when the engine fails.
std::vector<Tensor> run_on_gpu(const Engine& engine, const std::vector<Tensor>& inputs);

// Steady-state milliseconds per run on the GPU: one context, one warm-up run, then the mean of
// `runs` enqueues on a stream, timed with CUDA events.
double time_on_gpu(const Engine& engine, const std::vector<Tensor>& inputs, int runs);

// ||got - want|| / ||want|| over all elements (0 for two empty tensors).
double relative_l2(const Tensor& got, const Tensor& want);

// Expects outputs equal within `tolerance` relative L2 (floats) or exactly (integers, bool).
void expect_outputs_match(const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                          double tolerance, const std::string& what);

struct GpuOptions {
  double tolerance = 1e-5;                      // relative L2 against the CPU backend
  bool tf32 = false;                            // BuilderFlag::kTF32 for the GPU engine
  uint32_t tactic_sources = kAllTacticSources;  // e.g. without cuDNN, to test kiln's own kernels
  bool fp16 = false;  // BuilderFlag::kFP16 (mixed precision) for the GPU engine
  // Autotuning (timing candidates at build time). Off by default, so that each test checks
  // the kernel of highest priority whatever the timings say (builder optimization level 0).
  bool autotune = false;
};

// Defines a network with `define` (its inputs must be static and match `inputs`), builds a
// CPU and a GPU engine, and checks that the GPU engine's tactic choice succeeds; then, where a
// GPU exists, runs both and compares every output. Returns the GPU engine's description (for
// checks of the chosen tactics); skips the run where there is no GPU.
std::string expect_gpu_matches_cpu(const std::function<void(NetworkDefinition&)>& define,
                                   const std::vector<Tensor>& inputs, GpuOptions options = {});

// A constant layer's output holding `t` (the network copies the values).
ITensor& constant(NetworkDefinition& network, const Tensor& t);

// An operand of a one-node test network: a network input, or a constant layer (weights and
// shape operands, which kernels read at shape time).
struct Operand {
  Tensor value;
  bool constant = false;
};
inline Operand in(Tensor t) { return {std::move(t), false}; }
inline Operand cst(Tensor t) { return {std::move(t), true}; }
Tensor ints(const std::vector<int64_t>& v);  // int64 [n]
Tensor scalar(float v);                      // float32 []

// expect_gpu_matches_cpu on one `op` node over the operands (nullopt: an omitted optional
// input), attributes set by `attrs`, every output marked. Returns the GPU engine's description.
std::string check_op(const std::string& op, const std::vector<std::optional<Operand>>& operands,
                     const std::function<void(ILayer&)>& attrs = {}, GpuOptions options = {},
                     int num_outputs = 1);

#ifdef KILN_HAVE_CUDA
// Memory for outputs whose extents depend on the data: device memory for GPU engines (as
// TensorRT's IOutputAllocator gives), host memory for CPU engines. Grows, never shrinks; checks
// that the context passes back the memory it was given last.
class GrowingAllocator : public OutputAllocator {
 public:
  explicit GrowingAllocator(bool device) : device_(device) {}
  GrowingAllocator(const GrowingAllocator&) = delete;
  GrowingAllocator& operator=(const GrowingAllocator&) = delete;
  ~GrowingAllocator() override { release(); }

  void* reallocate_output(const std::string& name, void* current, uint64_t size,
                          uint64_t alignment) override;
  void notify_shape(const std::string&, const Dims& dims) override { shape = dims; }

  // The last output, copied to the host. A type and shape that take more bytes than the
  // context asked for (the engine reporting the wrong type, say) fail the test instead.
  Tensor read(DataType dtype) const;

  Dims shape;
  int reallocations = 0;

 private:
  void release();
  bool device_;
  void* data_ = nullptr;
  uint64_t capacity_ = 0;
  uint64_t requested_ = 0;
};
#endif

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace kiln::gpu_test

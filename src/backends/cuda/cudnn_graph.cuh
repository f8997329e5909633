// A thin layer over cuDNN 9's graph (backend descriptor) API, for kernels that hand an
// operation to cuDNN: owned descriptors, tensor descriptors of contiguous tensors, engine
// choice through the heuristics with kiln's numerics policy, execution with a cached variant
// pack, and the cuDNN handles (one per execution context for runs, one per process for the
// builder's capability checks).
//
// Failures inside cuDNN throw CudnnFailure (status and what was being done) rather than
// kiln::Error: a capability check turns it into "not supported", a run into kiln::Error
// naming the node.
#pragma once

#include <cudnn_graph.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/cuda/cuda_kernel.h"

namespace kiln::cuda::cudnn {

// The device workspace each execution context gives its kernels (ContextResources in
// cuda_executor.cu). Capability checks at build time choose engines under this bound; runs
// use RunContext::workspace_bytes.
inline constexpr size_t kContextWorkspaceBytes = size_t(32) << 20;

class CudnnFailure : public std::runtime_error {
 public:
  CudnnFailure(cudnnStatus_t status, const std::string& what);
  cudnnStatus_t status() const { return status_; }

 private:
  cudnnStatus_t status_;
};

// "CUDNN_STATUS_NOT_SUPPORTED (cuDNN's last error message, when it has one)".
std::string status_text(cudnnStatus_t status);

// Throws CudnnFailure unless `status` is CUDNN_STATUS_SUCCESS.
void check(cudnnStatus_t status, const char* what);

// Owns one backend descriptor.
class Descriptor {
 public:
  Descriptor() = default;
  explicit Descriptor(cudnnBackendDescriptorType_t type);
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Descriptor(Descriptor&& other) noexcept : desc_(other.desc_) { other.desc_ = nullptr; }
  Descriptor& operator=(Descriptor&& other) noexcept;
  ~Descriptor();

  cudnnBackendDescriptor_t get() const { return desc_; }
  explicit operator bool() const { return desc_ != nullptr; }

  // Typed setters (each throws CudnnFailure naming the attribute's purpose).
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
           const void* values, const char* what);
  void set_int(cudnnBackendAttributeName_t name, int64_t value, const char* what);
  void set_ints(cudnnBackendAttributeName_t name, const std::vector<int64_t>& values,
                const char* what);
  void set_descriptor(cudnnBackendAttributeName_t name, const Descriptor& value, const char* what);
  void finalize(const char* what);

 private:
  cudnnBackendDescriptor_t desc_ = nullptr;
};

cudnnDataType_t data_type(DataType t);  // float32, float16, bfloat16

// A finalized tensor descriptor of a contiguous (row-major) tensor of `dims`, whose data
// pointer will be aligned to `alignment` bytes.
Descriptor tensor_descriptor(int64_t uid, DataType dtype, const std::vector<int64_t>& dims,
                             int64_t alignment);

// The same with explicit element strides (dims stay in the order cuDNN names them, e.g.
// N, C, H, W; channels-last data has the smallest stride on C). A virtual tensor is an
// intermediate of a fused graph that never reaches memory (its alignment is ignored).
Descriptor tensor_descriptor(int64_t uid, DataType dtype, const std::vector<int64_t>& dims,
                             const std::vector<int64_t>& strides, int64_t alignment,
                             bool is_virtual = false);

// The largest power of two (at most 16) that divides the address: the byte alignment a tensor
// descriptor may promise for it.
int64_t alignment_of(const void* pointer);

// Which engine configurations are acceptable. Engines that convert inputs down or reduce in
// reduced precision are never taken.
struct EnginePolicy {
  // Tensor-core engines on float32 data compute in TF32: allowed only with BuilderFlag::kTF32.
  bool allow_tensor_cores = true;
  // FFT and Winograd engines transform the data, with errors well above a float32 sum's: not
  // taken where float32 results must match kiln's other backends to float32 rounding.
  bool allow_transforms = true;
  size_t max_workspace_bytes = kContextWorkspaceBytes;
};

// An engine configuration as the plan stores it: cuDNN's global engine index and its knob
// choices (type, value). Encoded into tactic parameters by the kernels (cudnn_conv.cu).
struct EngineChoice {
  int64_t engine = -1;
  std::vector<std::pair<int64_t, int64_t>> knobs;
  std::string describe() const;  // "engine 12, knobs 3=1 5=0"
};

// One operation graph with the execution plan of the first acceptable engine configuration.
// Built once per shape; executing it allocates nothing (the variant pack is rebuilt, on the
// host, only when the data pointers change).
class ExecutionPlan {
 public:
  // Finalizes an operation graph of `operations` (finalized operation descriptors) and takes
  // the first configuration of heuristics mode A, then of the fallback mode, that the policy
  // accepts and that finalizes. `parts` (the tensors and other descriptors the operations
  // were built from) are kept alive with the plan, as the operations are. Throws CudnnFailure
  // when no configuration can be used (with the last status cuDNN returned).
  // With `wanted`, takes exactly that configuration instead (no heuristics; throws
  // CudnnFailure when it does not finalize). With `proposals`, also lists the acceptable
  // configurations of both modes (up to kMaxTacticProposals, the chosen one first) for the
  // builder to time.
  ExecutionPlan(cudnnHandle_t handle, std::vector<Descriptor> operations,
                std::vector<Descriptor> parts, const EnginePolicy& policy,
                const EngineChoice* wanted = nullptr,
                std::vector<EngineChoice>* proposals = nullptr);

  const EngineChoice& choice() const { return choice_; }

  int64_t workspace_bytes() const { return workspace_bytes_; }

  // Enqueues the plan on `stream` (throws CudnnFailure). `pointers[i]` is the data of the
  // tensor with unique id `uids[i]`.
  void execute(cudnnHandle_t handle, cudaStream_t stream, const std::vector<int64_t>& uids,
               const std::vector<void*>& pointers, void* workspace);

 private:
  std::vector<Descriptor> keep_alive_;  // parts, operations, graph, engine configuration
  Descriptor plan_;
  int64_t workspace_bytes_ = 0;
  EngineChoice choice_;
  Descriptor pack_;
  std::vector<void*> pack_pointers_;
  void* pack_workspace_ = nullptr;
};

// The cuDNN handle of the execution context that `rc` runs in (RunContext::cudnn: created on
// first use, shared by every cuDNN kernel of that context, destroyed with the context).
cudnnHandle_t context_handle(const RunContext& rc);

// Runs `probe` with the process-wide handle used by capability checks, serialized under a
// mutex, and returns its answer; `when_no_device` where no CUDA GPU is visible (a build on a
// machine without one); false where there is a GPU but cuDNN cannot be initialized (kiln's
// own kernels are used then), or when `probe` throws.
bool with_probe_handle(bool when_no_device, const std::function<bool(cudnnHandle_t)>& probe);

}  // namespace kiln::cuda::cudnn

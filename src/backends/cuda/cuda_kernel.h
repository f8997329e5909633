// CUDA tactics: per op, kernels with a capability check and a launch step, registered from
// their family's .cu file with KILN_REGISTER_CUDA_KERNEL. The builder records in the plan the
// kernel of highest priority whose `supports` accepts a node (at the profile's opt shapes), or,
// where a GPU is present at build time, the fastest of the kernels that accept it and of the
// algorithms each proposes (autotune.cu); the executor runs exactly that kernel with the
// recorded algorithm parameters. Included by .cu files only.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/source_file.h"
#include "kiln/builder.h"
#include "ops/op.h"
#include "ops/shape_inference.h"

namespace kiln::cuda {

// The type and extents of one input or output, and its contents when known on the host at
// shape time (constants, shape arithmetic), else nullptr.
struct TensorInfo {
  bool present = false;  // false for an omitted optional input
  DataType dtype = DataType::kFloat32;
  Dims shape;
  const Tensor* host_value = nullptr;
};

// What a capability check sees: the node at the profile's opt shapes, and the builder flags.
struct NodeQuery {
  const ir::Node* node = nullptr;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  uint32_t builder_flags = 0;
  uint32_t tactic_sources = kAllTacticSources;  // BuilderConfig::tactic_sources()

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present; }
  const TensorInfo& input(size_t i) const { return inputs.at(i); }
  bool has_output(size_t i) const { return i < outputs.size() && outputs[i].present; }
};

// A capability check's answer: yes, or no with why. When no kernel takes a node, the build
// error lists each candidate kernel with its reason. A bool converts, so a check that has no
// reason to give may still `return false;` (reported as giving none).
class KernelSupport {
 public:
  KernelSupport(bool yes) : yes_(yes) {}  // NOLINT(google-explicit-constructor): on purpose
  static KernelSupport no(std::string reason) {
    KernelSupport s(false);
    s.reason_ = std::move(reason);
    return s;
  }
  explicit operator bool() const { return yes_; }
  const std::string& reason() const { return reason_; }

 private:
  bool yes_;
  std::string reason_;
};

// A tensor in device memory.
struct DeviceTensor {
  bool present = false;  // false for an omitted optional input
  DataType dtype = DataType::kFloat32;
  Dims shape;
  void* data = nullptr;                // nullptr for an omitted input, or one read on the host only
  const Tensor* host_value = nullptr;  // contents when known at shape time

  int64_t numel() const { return volume(shape); }
  size_t nbytes() const { return size_t(numel()) * element_size(dtype); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

// One node's launch: device tensors (outputs preallocated with the resolved shapes), the
// caller's stream, and per-context resources.
struct RunContext {
  explicit RunContext(const ir::Node& n) : node(n) {}

  const ir::Node& node;
  std::vector<DeviceTensor> inputs;
  std::vector<DeviceTensor> outputs;
  cudaStream_t stream = nullptr;
  uint32_t builder_flags = 0;
  void* cublaslt = nullptr;   // cublasLtHandle_t of the context
  void* workspace = nullptr;  // device scratch for cuBLASLt
  size_t workspace_bytes = 0;
  std::shared_ptr<void>* state = nullptr;  // the kernel's per-node, per-context cache
  // The context's cuDNN handle, created by the first cuDNN kernel that runs in the context
  // (most engines need none), shared by all of them.
  std::shared_ptr<void>* cudnn = nullptr;
  // Outputs whose extents depend on the input values (NonZero, Compress, ...) come with
  // data == nullptr and an empty shape. The kernel computes the extents (on the GPU, then
  // copied to the host: the executor has already synchronized the stream for such nodes) and
  // calls allocate_output(i, shape), which gives the output memory of the context and returns
  // outputs[i] with data and shape set. Null where every output shape is known beforehand.
  std::function<DeviceTensor&(size_t i, const Dims& shape)> allocate_output;
  // Autotuning (kernels with CudaKernel::tunable). `tactic_params`: the algorithm the builder
  // chose for this node (the plan's bytes, which only this kernel reads), or null/empty for
  // "choose by heuristics". A kernel given parameters builds exactly that algorithm for the
  // problem they were tuned for (no heuristic query), throws kiln::Error(kRuntime) naming the
  // node when that algorithm cannot run here (another GPU or library version), and uses its
  // heuristics for other problems (other shapes within the profile's range).
  // `tactic_proposals`: set by the builder's timing run only; the kernel (running as by
  // heuristics) appends the parameters of up to kMaxTacticProposals algorithms it could run
  // instead, best guess first, each to be timed with `tactic_params` set to it.
  const std::vector<uint8_t>* tactic_params = nullptr;
  std::vector<std::vector<uint8_t>>* tactic_proposals = nullptr;
  // Autotuning, kernels with CudaKernel::plans_ahead: make the state (plan the algorithm that
  // `tactic_params` names) and return without launching anything. The builder plans several
  // proposals at once this way, on threads of their own, and then times them one at a time.
  bool plan_only = false;

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present; }
  const DeviceTensor& input(size_t i) const { return inputs.at(i); }
  const DeviceTensor& output(size_t i) const { return outputs.at(i); }
  // The contents of an input read on the host (a shape operand); throws naming the node when
  // it is not known at shape time.
  const Tensor& host_input(size_t i, const char* what) const;
};

struct CudaKernel {
  std::string op;
  std::string name;  // shown by inspect: "cuda_binary_broadcast", "cublaslt_matmul", ...
  // Inputs read on the host only (shape operands such as Reshape's shape): they must be known
  // at shape time and are never uploaded.
  std::vector<size_t> host_inputs;
  std::function<KernelSupport(const NodeQuery&)> supports;
  std::function<void(RunContext&)> run;
  // Among the kernels that support a node, the builder takes the one with the highest priority
  // (registration order breaks ties): library-backed kernels (cuDNN) outrank kiln's own.
  int priority = 0;
  // The library the kernel comes from (a TacticSource bit), or 0 for kiln's own: the builder
  // skips kernels whose source the BuilderConfig does not allow.
  uint32_t source = 0;
  // Whether the kernel proposes algorithms through RunContext::tactic_proposals and runs the
  // one RunContext::tactic_params names (cuBLASLt, cuDNN).
  bool tunable = false;
  // Text for parameters this kernel proposed ("cuBLASLt algo 21, tile 128x128, ..."), shown
  // by inspect and the builder's log; null: none.
  std::function<std::string(const std::vector<uint8_t>&)> describe_params = nullptr;
  // Whether the kernel honours RunContext::plan_only, its planning being thread-safe given a
  // state and a cuDNN handle of its own (cuDNN's plan finalization, which may compile kernels).
  bool plans_ahead = false;
  // The file that registers the kernel, relative to the repository, set by
  // KILN_REGISTER_CUDA_KERNEL and KILN_ADD_CUDA_KERNEL: docs/operators.md shows it. Last, with
  // a default, so that registrations need not name it.
  std::string defined_in{};
};

// Most algorithms a tunable kernel proposes for one node.
inline constexpr size_t kMaxTacticProposals = 8;

class CudaKernelRegistry {
 public:
  static CudaKernelRegistry& instance();
  void add(CudaKernel kernel);
  // The kernel for node.op of highest priority that supports the query (the first registered
  // among equals), or nullptr.
  const CudaKernel* select(const NodeQuery& query) const;
  // Every kernel for node.op whose source is allowed and that supports the query, highest
  // priority first (registration order among equals): the candidates autotuning times.
  std::vector<const CudaKernel*> candidates(const NodeQuery& query) const;
  const CudaKernel* find(const std::string& op, const std::string& name) const;
  // Why each kernel for node.op refuses the query, one "name: reason" per line (indented), for
  // the build error of a node no kernel takes; "" when the op has no kernel at all.
  std::string explain_refusals(const NodeQuery& query) const;
  // Whether any kernel is registered for `op`.
  bool has_op(const std::string& op) const;
  // Every registered kernel, in registration order (for docs/operators.md).
  const std::vector<CudaKernel>& kernels() const { return kernels_; }

 private:
  std::vector<CudaKernel> kernels_;
};

// Adds `kernel`, registered in `file`, to the registry (KILN_REGISTER_CUDA_KERNEL and
// KILN_ADD_CUDA_KERNEL pass their KILN_SOURCE_FILE).
inline void register_kernel(CudaKernel kernel, std::string_view file) {
  kernel.defined_in = file;
  CudaKernelRegistry::instance().add(std::move(kernel));
}

struct CudaKernelRegistration {
  CudaKernelRegistration(CudaKernel k, std::string_view file) {
    register_kernel(std::move(k), file);
  }
};

// Ops whose outputs are computed from their input extents alone (Shape, Size): on the host,
// wherever the extents become known; they need no kernel.
bool computed_from_extents(const std::string& op);

// What a kernel's capability check sees of `node`, with the types and shapes resolved in `r`.
NodeQuery make_query(const ir::Node& node, const ops::ResolvedShapes& r, uint32_t builder_flags,
                     uint32_t tactic_sources);

// "float32[1x3x224x224], (none), int64[2]": the query's inputs, for messages.
std::string describe_inputs(const NodeQuery& q);
// Throws kiln::Error(kUnsupported) for a node no kernel takes: the node, its inputs, `context`
// (why there is no way around it) and each of the op's kernels with its reason.
[[noreturn]] void fail_no_kernel(const NodeQuery& q, std::string_view context);

// Throws kiln::Error(kRuntime) "<Op 'name'>: <what>: <CUDA error string>" unless `status` is
// cudaSuccess.
void check_cuda(cudaError_t status, const ir::Node& node, const char* what);

}  // namespace kiln::cuda

#define KILN_REGISTER_CUDA_KERNEL(...)                              \
  static const ::kiln::cuda::CudaKernelRegistration KILN_OP_CONCAT( \
      kiln_cuda_kernel_, __COUNTER__)(__VA_ARGS__, KILN_SOURCE_FILE)
// KILN_ADD_CUDA_KERNEL(CudaKernel{...}); inside a function: for kernels added in a loop over a
// table, which the static registration above cannot express.
#define KILN_ADD_CUDA_KERNEL(...) ::kiln::cuda::register_kernel(__VA_ARGS__, KILN_SOURCE_FILE)

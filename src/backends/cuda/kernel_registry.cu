// The CUDA kernel registry (cuda_kernel.h): kernels registered by their family's .cu files,
// selected per node by capability and priority, and the helpers every family shares.
#include <algorithm>
#include <string>
#include <vector>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

CudaKernelRegistry& CudaKernelRegistry::instance() {
  static CudaKernelRegistry registry;
  return registry;
}

void CudaKernelRegistry::add(CudaKernel kernel) { kernels_.push_back(std::move(kernel)); }

const CudaKernel* CudaKernelRegistry::select(const NodeQuery& query) const {
  const CudaKernel* best = nullptr;
  for (const CudaKernel& k : kernels_) {
    if (k.op != query.node->op || (best && k.priority <= best->priority)) continue;
    if (k.source != 0 && (query.tactic_sources & k.source) == 0) continue;
    if (k.supports(query)) best = &k;
  }
  return best;
}

std::vector<const CudaKernel*> CudaKernelRegistry::candidates(const NodeQuery& query) const {
  std::vector<const CudaKernel*> found;
  for (const CudaKernel& k : kernels_) {
    if (k.op != query.node->op) continue;
    if (k.source != 0 && (query.tactic_sources & k.source) == 0) continue;
    if (k.supports(query)) found.push_back(&k);
  }
  std::stable_sort(found.begin(), found.end(), [](const CudaKernel* a, const CudaKernel* b) {
    return a->priority > b->priority;
  });
  return found;
}

std::string CudaKernelRegistry::explain_refusals(const NodeQuery& query) const {
  std::string out;
  for (const CudaKernel& k : kernels_) {
    if (k.op != query.node->op) continue;
    std::string reason;
    if (k.source != 0 && (query.tactic_sources & k.source) == 0) {
      reason = "its library is not among the BuilderConfig's tactic sources";
    } else if (const KernelSupport answer = k.supports(query); answer) {
      reason = "takes it";  // only when asked about a node another rule refused
    } else {
      reason = answer.reason().empty() ? "does not take these inputs (no reason given)"
                                       : answer.reason();
    }
    out += cat("\n  ", k.name, ": ", reason);
  }
  return out;
}

bool CudaKernelRegistry::has_op(const std::string& op) const {
  return std::any_of(kernels_.begin(), kernels_.end(),
                     [&](const CudaKernel& k) { return k.op == op; });
}

bool computed_from_extents(const std::string& op) { return op == "Shape" || op == "Size"; }

const CudaKernel* CudaKernelRegistry::find(const std::string& op, const std::string& name) const {
  for (const CudaKernel& k : kernels_) {
    if (k.op == op && k.name == name) return &k;
  }
  return nullptr;
}

void check_cuda(cudaError_t status, const ir::Node& node, const char* what) {
  if (status == cudaSuccess) return;
  fail(ErrorCode::kRuntime, node.describe(), ": ", what, ": CUDA error ", cudaGetErrorName(status),
       " (", cudaGetErrorString(status), ")");
}

const Tensor& RunContext::host_input(size_t i, const char* what) const {
  const Tensor* t = i < inputs.size() ? inputs[i].host_value : nullptr;
  KILN_CHECK(t != nullptr, ErrorCode::kRuntime, node.describe(), ": ", what,
             " must be known when shapes are resolved (a constant or shape arithmetic) for the "
             "CUDA kernel, which reads it on the host");
  return *t;
}

Dims broadcast_strides_to(const Dims& shape, const Dims& out) {
  Dims strides(out.size(), 0);
  const Dims own = contiguous_strides(shape);
  const size_t offset = out.size() - shape.size();
  for (size_t d = 0; d < shape.size(); ++d) {
    strides[offset + d] = shape[d] == 1 ? 0 : own[d];
  }
  return strides;
}

bool is_float16_or_32(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

KernelSupport ranks_fit(const NodeQuery& q) {
  for (const auto* list : {&q.inputs, &q.outputs}) {
    for (size_t i = 0; i < list->size(); ++i) {
      const TensorInfo& t = (*list)[i];
      if (t.present && t.shape.size() > size_t(kMaxRank)) {
        return KernelSupport::no(cat(list == &q.inputs ? "input " : "output ", i, " has rank ",
                                     t.shape.size(), ", more than the CUDA kernels' ", kMaxRank));
      }
    }
  }
  return true;
}

bool is_cuda_target(const std::string& target) { return target.rfind("cuda", 0) == 0; }

std::string describe_inputs(const NodeQuery& q) {
  std::string s;
  for (const TensorInfo& t : q.inputs) {
    if (!s.empty()) s += ", ";
    s += t.present ? cat(to_string(t.dtype), "[", to_string(t.shape), "]") : "(none)";
  }
  return s;
}

void fail_no_kernel(const NodeQuery& q, std::string_view context) {
  const ir::Node& node = *q.node;
  const std::string why = CudaKernelRegistry::instance().explain_refusals(q);
  fail(ErrorCode::kUnsupported, node.describe(), ": the CUDA backend has no kernel for op ",
       node.op, " with inputs ", describe_inputs(q), " (", context, ")",
       why.empty() ? std::string() : cat(". Its CUDA kernels:", why));
}

std::string describe_tactic_params(const std::string& op, const std::string& kernel,
                                   const std::vector<uint8_t>& params) {
  if (params.empty()) return "";
  const CudaKernel* k = CudaKernelRegistry::instance().find(op, kernel);
  if (!k || !k->describe_params) return cat(params.size(), " bytes of parameters");
  try {
    return k->describe_params(params);
  } catch (const std::exception& e) {
    return cat("unreadable parameters (", e.what(), ")");
  }
}

}  // namespace kiln::cuda

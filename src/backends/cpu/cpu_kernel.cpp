#include "backends/cpu/cpu_kernel.h"

namespace kiln::cpu {

CpuKernelRegistry& CpuKernelRegistry::instance() {
  static CpuKernelRegistry registry;
  return registry;
}

void CpuKernelRegistry::add(CpuKernel kernel) { kernels_.push_back(std::move(kernel)); }

const CpuKernel* CpuKernelRegistry::select(const ir::Node& node,
                                           const std::vector<ops::TensorDesc>& inputs) const {
  for (const CpuKernel& k : kernels_) {
    if (k.op == node.op && k.supports(node, inputs)) return &k;
  }
  return nullptr;
}

const CpuKernel* CpuKernelRegistry::find(const std::string& op, const std::string& name) const {
  for (const CpuKernel& k : kernels_) {
    if (k.op == op && k.name == name) return &k;
  }
  return nullptr;
}

}  // namespace kiln::cpu

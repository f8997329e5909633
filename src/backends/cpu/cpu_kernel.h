// Faster CPU kernels that stand beside an op's reference compute. The CPU executor uses a
// registered kernel when its `supports` accepts the node and its input types/shapes, and the
// op's reference compute otherwise. A kernel must compute exactly the op's function; its test
// compares it with the reference compute.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/op.h"

namespace kiln::cpu {

struct CpuKernel {
  std::string op;
  std::string name;  // e.g. "conv2d_im2col_sgemm", shown by inspect and the profiler
  std::function<bool(const ir::Node&, const std::vector<ops::TensorDesc>& inputs)> supports;
  std::function<void(ops::ComputeContext&)> run;
  // The file that registers the kernel, relative to the repository, set by
  // KILN_REGISTER_CPU_KERNEL: docs/operators.md shows it.
  std::string defined_in{};
};

class CpuKernelRegistry {
 public:
  static CpuKernelRegistry& instance();
  void add(CpuKernel kernel);
  // The first registered kernel for node.op that supports it, or nullptr.
  const CpuKernel* select(const ir::Node& node, const std::vector<ops::TensorDesc>& inputs) const;
  // The kernel registered for `op` under `name`, or nullptr (a loaded plan's tactic is checked
  // with it).
  const CpuKernel* find(const std::string& op, const std::string& name) const;
  // Every registered kernel, in registration order (for docs/operators.md).
  const std::vector<CpuKernel>& kernels() const { return kernels_; }

 private:
  std::vector<CpuKernel> kernels_;
};

struct CpuKernelRegistration {
  CpuKernelRegistration(CpuKernel k, std::string_view file) {
    k.defined_in = file;
    CpuKernelRegistry::instance().add(std::move(k));
  }
};

}  // namespace kiln::cpu

#define KILN_REGISTER_CPU_KERNEL(...)                                                            \
  static const ::kiln::cpu::CpuKernelRegistration KILN_OP_CONCAT(kiln_cpu_kernel_, __COUNTER__)( \
      __VA_ARGS__, KILN_SOURCE_FILE)

// Automatic mixed precision: with the FP16 or BF16 builder flag, float32 work moves to the low
// precision type where it is safe and a kernel exists; the engine's inputs and outputs keep
// their declared types.
//
// Per node, in topological order:
// - Ops in a fixed allow-list (matrix and convolution work, pointwise math, pooling,
//   normalization, softmax, data movement) run in the low type when the backend has a kernel
//   for them in that type. Their kernels compute in float32 (accumulation, softmax, statistics)
//   and store in the low type. Their float32 constant operands are converted at build time
//   (saturating at the low type's largest finite value, as a large negative mask must stay
//   finite); float32 activations get one Cast per value, shared by every low consumer.
// - Every other op (sums that can leave the FP16 range such as ReduceSum, CumSum, Exp, Pow,
//   Cast, integer and index work) stays in float32, and so does an allowed node whose constant
//   operand would flush to zero in the low type (an epsilon such as 1e-12 in FP16): low
//   values they read are cast back to float32 once.
// - A graph output produced in the low type is cast back to its declared type under its name.
#pragma once

#include <functional>
#include <vector>

#include "ir/graph.h"
#include "ops/shape_inference.h"
#include "passes/pass.h"

namespace kiln::passes {

struct MixedPrecisionOptions {
  DataType low = DataType::kFloat16;  // kFloat16 or kBFloat16
  // The graph's types and shapes (at the profile's opt point): which values are float32, which
  // are known on the host at shape time.
  const ops::ResolvedShapes* resolved = nullptr;
  // Whether the backend can run `node` with these input and output types.
  std::function<bool(const ir::Node& node, const std::vector<DataType>& inputs,
                     const std::vector<DataType>& outputs)>
      backend_supports;
};

// Rewrites `graph` as above; returns how many nodes now run in the low type. The caller
// resolves shapes again afterwards.
size_t apply_mixed_precision(ir::Graph& graph, const MixedPrecisionOptions& options);

// Whether the backend can run `node`, shapes as in `resolved`, with these input and output types.
using BackendTypeSupport =
    std::function<bool(const ir::Node& node, const ops::ResolvedShapes& resolved,
                       const std::vector<DataType>& inputs, const std::vector<DataType>& outputs)>;
// apply_mixed_precision as a Pass, at the first profile's opt point in `context` (points[1]).
std::unique_ptr<Pass> make_mixed_precision(const PassContext& context, DataType low,
                                           BackendTypeSupport supports);

// Which inputs and outputs of `op` carry its data type T and may move to the low type; null
// for ops that stay in float32. -1 in `inputs` means every input.
struct LowPrecisionPositions {
  std::vector<int> inputs;
  std::vector<int> outputs;
};
const LowPrecisionPositions* low_precision_positions(const std::string& op);

}  // namespace kiln::passes

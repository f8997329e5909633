// Folds the pointwise work that follows a matrix product into the product's epilogue
// (GPU engines; cuBLASLt applies it while writing the result, saving a pass over memory per
// folded node):
//   MatMul(A, W) [+ bias] [+ residual] [-> Relu | Gelu]  =>  FusedMatMul(A, W, bias, residual)
// (a Gemm without transposes, alpha 1 and its C a bias row is such a MatMul plus bias)
// W is a constant matrix (a layer's weights), bias a constant of N values (shape [N] or
// [1, ..., N]), residual a tensor of the product's shape (a skip connection); the adds may
// come in either order. Each folded node must be the only reader of the value before it, and
// no folded value may be a graph output except the last. Exact Gelu is folded only when
// `gelu_as_tanh` allows its tanh form (cuBLASLt's GELU epilogue; the two differ by < 5e-4,
// below FP16/BF16 resolution, so the builder allows it for FP16/BF16 engines).
#pragma once

#include <vector>

#include "ir/graph.h"
#include "ops/shape_inference.h"
#include "passes/pass.h"

namespace kiln::passes {

// `points`: the graph resolved at every profile point (shapes must fit at each). Returns how
// many FusedMatMul nodes were made; the caller resolves shapes again afterwards.
size_t fuse_matmul_epilogues(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points,
                             bool gelu_as_tanh);
// The same as a Pass, at the points in `context`.
std::unique_ptr<Pass> make_matmul_epilogue_fusion(const PassContext& context, bool gelu_as_tanh);

}  // namespace kiln::passes

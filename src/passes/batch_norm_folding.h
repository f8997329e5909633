// Folds an inference BatchNormalization that follows a convolution into the convolution's
// weights and bias, as TensorRT does (GPU engines): with s = scale / sqrt(var + epsilon),
//   W'[k, ...] = W[k, ...] * s[k],   B'[k] = (B[k] - mean[k]) * s[k] + bias[k]
// (B = 0 when the Conv has none), computed in float64 and rounded once to W's type. Applies
// when every operand is a constant and the BatchNormalization is the Conv's only reader.
#pragma once

#include "ir/graph.h"
#include "passes/pass.h"

namespace kiln::passes {

// Returns how many BatchNormalizations were folded; the caller removes dead code.
size_t fold_batch_norms(ir::Graph& graph);
std::unique_ptr<Pass> make_batch_norm_folding();

}  // namespace kiln::passes

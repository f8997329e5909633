// Removes Transposes that undo each other, moving them through pointwise ops to meet:
// - Transpose(q) of Transpose(p) where q undoes p: readers read the first one's input;
// - a one-input pointwise op (Relu, Sigmoid, Clip with scalar bounds, ...) or a two-input one
//   (Add, Mul, ... with both operands transposed alike, or one a scalar constant) reading
//   transposed values is computed on the untransposed values and transposed after, so that a
//   following inverse Transpose cancels;
// - a 2-D MaxPool (without Indices) or AveragePool reading NHWC data transposed to NCHW runs
//   on the NHWC data (kiln's attribute layout = "NHWC") and is transposed after, likewise.
// The channels-last conversion (conv_fusion.h) relies on it: between two NHWC convolutions
// only pointwise work remains, and with it no Transpose.
#pragma once

#include "ir/graph.h"

namespace kiln::passes {

// Returns how many Transposes were cancelled; the caller removes dead code and resolves
// shapes again afterwards.
size_t cancel_transposes(ir::Graph& graph);

}  // namespace kiln::passes

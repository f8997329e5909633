// Recognizes GELU written out in elementary ops, as exporters emit it, and puts one Gelu node in
// its place (GPU engines, before the matrix product epilogues fold, which take a Gelu):
//   tanh form:  0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   -> Gelu(approximate=tanh)
//               (Hugging Face's GPT-2 "gelu_new")
//   erf form:   0.5 * x * (1 + erf(x / sqrt(2)))                           ->  Gelu
// The 0.5 may multiply x, the bracket or their product; x^3 may be Pow(x, 3) or x * x * x;
// the operands of Add and Mul may come in either order. Every value inside the pattern must be
// read only by the pattern (x may have other readers). Where x is a Reshape's output read by
// nothing but the pattern, the Gelu moves before the Reshape (pointwise work commutes with it),
// so that the matrix product before the Reshape can take it into its epilogue.
#pragma once

#include <cstddef>

#include "ir/graph.h"
#include "passes/pass.h"

namespace kiln::passes {

// Returns how many patterns were replaced; the caller removes the dead nodes.
size_t recognize_gelu(ir::Graph& graph);
std::unique_ptr<Pass> make_gelu_recognition();

}  // namespace kiln::passes

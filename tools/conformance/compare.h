// Output comparison with the ONNX backend test runner's rules.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace kiln::conformance {

// Compares one output with its reference as onnx's runner does (numpy assert_allclose):
// dtypes and shapes must be equal; floating-point values must satisfy
// |got - want| <= atol + rtol * |want|, NaN matching NaN and an infinity only the same infinity
// (bfloat16 uses rtol >= 2^-6, two bfloat16 ulps, as the runner does); integers and bools must
// be exactly equal. Returns "" on a match, otherwise what differs, naming `what` ("output 0
// 'y'"), the first differing element and how many differ. Elements marked in `undefined`
// (unspecified.h: values the spec leaves undefined) are not compared; the message counts them.
std::string compare_output(const Tensor& got, const Tensor& want, double rtol, double atol,
                           const std::string& what, const std::vector<bool>& undefined = {});

}  // namespace kiln::conformance

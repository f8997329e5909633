// Elements of a reference output whose value the ONNX spec leaves undefined.
//
// The node tests' expected outputs are computed by the onnx package's Python reference at the
// moment the data is generated, so where the spec says a result is undefined, the expected value
// is whatever the installed numpy / ml_dtypes happen to produce (ml_dtypes 0.7 casts -9.0 to int4
// as 0, earlier versions as 7). A verdict must not depend on that. The runner therefore skips
// such elements when it compares, and compares all the others as usual.
//
// The rules, each with the spec's words:
//   Cast, CastLike: "Casting from floating point to ... fixed point: undefined if OOR (out of
//   range)". An element of a floating-point input that is NaN, infinite, or whose value truncated
//   toward zero lies outside the destination integer type is undefined in the output.
// The rule applies where a graph output is produced by a Cast or CastLike node that reads a graph
// input directly (the node tests, and CastLike's expanded form, which is a single Cast).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "onnx/onnx.pb.h"

namespace kiln::conformance {

// For one graph output: which graph input its elements come from, element for element, and the
// integer type they are cast to.
struct UndefinedCastRule {
  std::string input_name;
  DataType to = DataType::kFloat32;
};

// The rules of a model, by graph output name (empty for most models).
std::map<std::string, UndefinedCastRule> undefined_element_rules(const onnx::ModelProto& model);

// Per element of `input`: whether casting it to `to` is undefined by the spec (see above).
// Empty when `input` is not floating point or `to` is not an integer type.
std::vector<bool> undefined_cast_elements(const Tensor& input, DataType to);

}  // namespace kiln::conformance

// Value: an edge of the graph — a tensor with a name, an element type and a shape whose dims
// are static extents or named symbols. A value is a graph input, a constant (weights), or the
// output of exactly one node.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace kiln::ir {

class Node;

// One dimension: a static extent (value >= 0) or a named symbol (value == -1), e.g. "batch".
struct Dim {
  int64_t value = -1;
  std::string symbol;

  static Dim fixed(int64_t v) { return Dim{v, {}}; }
  static Dim named(std::string s) { return Dim{-1, std::move(s)}; }
  bool is_static() const { return value >= 0; }
  bool operator==(const Dim&) const = default;
};

using Shape = std::vector<Dim>;

// "1x3xbatchx?" style for the printer; unnamed dynamic dims print as '?'.
std::string to_string(const Shape& shape);
// Static extents, -1 for symbolic dims.
Dims to_dims(const Shape& shape);
Shape from_dims(const Dims& dims);

class Value {
 public:
  std::string name;
  DataType dtype = DataType::kFloat32;
  // Unknown rank until shape inference runs when has_shape is false.
  Shape shape;
  bool has_shape = false;
  // Set for constants (initializers, folded values): the value's contents.
  std::optional<Tensor> constant;
  // The node that produces this value; nullptr for graph inputs and constants.
  Node* producer = nullptr;

  bool is_constant() const { return constant.has_value(); }
};

}  // namespace kiln::ir

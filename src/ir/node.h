// Node: one operation. `op` names an op defined in src/ops (kiln's op set follows ONNX's
// semantics at the newest opset; see docs/architecture.md). Omitted optional inputs are
// nullptr entries in `inputs`.
#pragma once

#include <string>
#include <vector>

#include "ir/attribute.h"
#include "ir/value.h"

namespace kiln::ir {

class Node {
 public:
  std::string op;
  std::string name;
  std::vector<Value*> inputs;
  std::vector<Value*> outputs;
  Attributes attrs;

  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }

  // Typed attribute access; the default is returned when the attribute is absent, a missing
  // required attribute or a wrong kind throws kiln::Error naming the node.
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  int64_t attr_int(const std::string& key) const;
  double attr_float(const std::string& key, double fallback) const;
  double attr_float(const std::string& key) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::string attr_string(const std::string& key) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key) const;
  std::vector<double> attr_floats(const std::string& key, std::vector<double> fallback) const;
  std::vector<std::string> attr_strings(const std::string& key,
                                        std::vector<std::string> fallback) const;
  const Tensor& attr_tensor(const std::string& key) const;
  const Graph& attr_graph(const std::string& key) const;

  // "Conv 'conv1'" — how messages refer to a node.
  std::string describe() const;
};

}  // namespace kiln::ir

// The state behind NetworkDefinition: the ir::Graph being built, and the ITensor/ILayer
// handles given out for its values and nodes (created on first use, stable addresses).
#pragma once

#include <memory>
#include <unordered_map>

#include "ir/graph.h"
#include "kiln/network.h"

namespace kiln::detail {

struct NetworkImpl {
  std::unique_ptr<ir::Graph> graph = std::make_unique<ir::Graph>();
  std::unordered_map<const ir::Value*, std::unique_ptr<ITensor>> tensors;
  std::unordered_map<const ir::Node*, std::unique_ptr<ILayer>> layers;
  int64_t next_layer_id = 0;

  ITensor* handle(ir::Value* value);
  ILayer* handle(ir::Node* node);
  static ir::Value& value(const ITensor& tensor) { return *static_cast<ir::Value*>(tensor.value_); }
  static ir::Node& node(const ILayer& layer) { return *static_cast<ir::Node*>(layer.node_); }

  // Replaces the whole graph (the ONNX parser imports into a fresh graph); old handles die.
  void reset(std::unique_ptr<ir::Graph> new_graph);

  ir::Node* add_node(const std::string& op, std::vector<ir::Value*> inputs, int num_outputs,
                     ir::Attributes attrs = {});
  ir::Value* add_constant(Tensor tensor, const std::string& base_name);

  // Type and dims of a value before the network is built, by running shape inference with
  // each dynamic input dim set to two different extents: dims that agree are static, others
  // -1. Leaves dims empty when inference fails (e.g. the network is still incomplete).
  void infer_declared(const ir::Value* value, DataType* dtype, Dims* dims) const;
};

}  // namespace kiln::detail

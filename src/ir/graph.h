// Graph: owns its values and nodes. Nodes are kept in topological order; graph inputs and
// outputs are values. If/Loop/Scan bodies are Graphs held in node attributes; a body may read
// values of the enclosing graph by name.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/node.h"
#include "ir/value.h"

namespace kiln::ir {

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;

  // Values. Names are unique within a graph; add_value makes a name unique by suffixing.
  Value* add_value(std::string name, DataType dtype, Shape shape, bool has_shape = true);
  Value* add_input(std::string name, DataType dtype, Shape shape);
  Value* add_constant(std::string name, Tensor tensor);
  // Appends `value` (a value of this graph that no node produces and that is not a constant)
  // to the inputs: how an If/Loop/Scan body's read of an enclosing value becomes an explicit
  // body input.
  void promote_to_input(Value* value);
  Value* find_value(const std::string& name) const;
  // Renames a value; the caller makes sure `name` is unused.
  void rename_value(Value* value, const std::string& name);
  void mark_output(Value* value) { outputs_.push_back(value); }

  // Appends a node whose outputs are new values named after `output_names` (types and shapes
  // are filled in by shape inference).
  Node* add_node(std::string op, std::string name, std::vector<Value*> inputs,
                 const std::vector<std::string>& output_names, Attributes attrs = {});
  // Inserts before `position` (for passes); the caller keeps the order topological.
  Node* insert_node(std::list<std::unique_ptr<Node>>::iterator position, std::string op,
                    std::string name, std::vector<Value*> inputs,
                    const std::vector<std::string>& output_names, Attributes attrs = {});

  // Every use of `from` (node inputs and graph outputs) now reads `to`.
  void replace_all_uses(Value* from, Value* to);
  // Removes nodes whose outputs are unused and values nothing refers to. Returns nodes removed.
  size_t remove_dead_code();
  void erase_node(Node* node);

  std::vector<Node*> users(const Value* value) const;
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  std::vector<Value*>& mutable_outputs() { return outputs_; }
  std::list<std::unique_ptr<Node>>& nodes() { return nodes_; }
  const std::list<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  // Deep copy (subgraphs included).
  std::unique_ptr<Graph> clone() const;
  // A name not used by any value yet, built from `base`.
  std::string unique_name(const std::string& base) const;

 private:
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> by_name_;
  std::list<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
};

}  // namespace kiln::ir

// Operator definitions. Each op is defined once, in its own file under src/ops/, by an OpDef:
// its input/output counts, its shape/type inference on concrete shapes, and its reference
// compute on host tensors. The CPU backend runs the reference compute; faster backends are
// checked against it. Register with KILN_REGISTER_OP in the op's .cpp file.
//
// Shape inference works on concrete extents: the builder runs it at each optimization
// profile's min, opt and max shapes (dims that differ become dynamic), and an execution
// context runs it when input shapes are set. Values needed at shape time (Reshape's shape,
// Slice's starts, ...) are available through InferContext::input_value when they are
// constants or computable from shapes (Shape -> Gather -> Concat chains are evaluated on the
// host as TensorRT does with shape tensors).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/source_file.h"
#include "core/tensor.h"
#include "ir/node.h"

namespace kiln::ops {

// Thrown by InferContext::require_value when a value an op needs to infer its shapes is not
// known at shape time (it comes from runtime data). The shape-inference driver catches it and
// defers the node to the executor, which knows every value when it runs the node.
class ShapeValueUnavailable : public Error {
 public:
  using Error::Error;
};

// The type and concrete extents of one tensor.
struct TensorDesc {
  DataType dtype = DataType::kFloat32;
  Dims shape;
};

class InferContext {
 public:
  InferContext(const ir::Node& node, std::vector<std::optional<TensorDesc>> inputs,
               std::vector<const Tensor*> input_values);

  const ir::Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return node_.outputs.size(); }
  // False for an omitted optional input.
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i].has_value(); }
  const TensorDesc& input(size_t i) const;
  DataType input_dtype(size_t i) const { return input(i).dtype; }
  const Dims& input_shape(size_t i) const { return input(i).shape; }
  // The input's contents if known at shape time, else nullptr.
  const Tensor* input_value(size_t i) const;
  // The input's contents; throws a clear error naming the node when not known at shape time.
  const Tensor& require_value(size_t i, std::string_view what) const;
  // require_value for an operand ONNX types as integers (Expand's shape, Slice's starts, TopK's
  // K, ...): refuses any dtype but int64 and int32 (TensorRT's shape tensor types), so that a
  // float NaN never becomes an extent.
  const Tensor& require_integer_value(size_t i, std::string_view what) const;
  // A shape operand (Expand's, Reshape's, ConstantOfShape's shape): a 1-D integer tensor of at
  // most kMaxTensorRank entries, as int64 values.
  std::vector<int64_t> require_shape_value(size_t i, std::string_view what) const;
  // require_integer_value for an optional input: nullptr when it is omitted.
  const Tensor* optional_integer_value(size_t i, std::string_view what) const;

  void set_output(size_t i, DataType dtype, Dims shape);
  // For ops whose result is known from shapes alone (Shape, Size): also record the value.
  void set_output_value(size_t i, Tensor value);
  // For outputs whose extents depend on input VALUES (NonZero, Unique, NonMaxSuppression):
  // only the type and rank are known before compute, which then calls allocate_output.
  void set_output_data_dependent(size_t i, DataType dtype, size_t rank);

  // Throws kiln::Error(kInvalidModel) "<Op> '<name>': <message>" unless `cond`.
  template <typename... Args>
  void check(bool cond, Args&&... args) const {
    if (!cond) fail(ErrorCode::kInvalidModel, node_.describe(), ": ", std::forward<Args>(args)...);
  }

  const std::vector<std::optional<TensorDesc>>& outputs() const { return outputs_; }
  // Rank of each output declared data-dependent (nullopt for the others).
  const std::vector<std::optional<size_t>>& data_dependent_ranks() const { return data_dependent_; }
  std::vector<std::optional<Tensor>>& output_values() { return output_values_; }

 private:
  const ir::Node& node_;
  std::vector<std::optional<TensorDesc>> inputs_;
  std::vector<const Tensor*> input_values_;
  std::vector<std::optional<TensorDesc>> outputs_;
  std::vector<std::optional<Tensor>> output_values_;
  std::vector<std::optional<size_t>> data_dependent_;
};

class ComputeContext {
 public:
  ComputeContext(const ir::Node& node, std::vector<const Tensor*> inputs,
                 std::vector<Tensor*> outputs)
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {}

  const ir::Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Tensor& input(size_t i) const;
  size_t num_outputs() const { return outputs_.size(); }
  bool has_output(size_t i) const { return i < outputs_.size() && outputs_[i] != nullptr; }
  // Preallocated with the inferred dtype and shape; the compute fills it.
  Tensor& output(size_t i);
  // For a data-dependent output: allocates it (host memory) once its extents are known.
  Tensor& allocate_output(size_t i, DataType dtype, Dims shape);

 private:
  const ir::Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
};

struct OpDef {
  std::string name;
  int min_inputs = 0;
  int max_inputs = 0;  // -1: variadic
  int min_outputs = 1;
  int max_outputs = 1;
  std::function<void(InferContext&)> infer;
  std::function<void(ComputeContext&)> compute;
  // The file that registers the op, relative to the repository ("src/ops/convolution.cpp"), set
  // by KILN_REGISTER_OP: docs/operators.md shows it.
  std::string defined_in{};
};

class OpRegistry {
 public:
  static OpRegistry& instance();
  void add(OpDef def);
  const OpDef* find(std::string_view name) const;
  // Throws kiln::Error(kUnsupported) naming the node when the op is unknown.
  const OpDef& get(const ir::Node& node) const;
  std::vector<const OpDef*> all() const;

 private:
  std::map<std::string, std::unique_ptr<OpDef>, std::less<>> defs_;
};

struct OpRegistration {
  OpRegistration(OpDef def, std::string_view file) {
    def.defined_in = file;
    OpRegistry::instance().add(std::move(def));
  }
};

}  // namespace kiln::ops

#define KILN_OP_CONCAT_INNER(a, b) a##b
#define KILN_OP_CONCAT(a, b) KILN_OP_CONCAT_INNER(a, b)
// KILN_REGISTER_OP(OpDef{...}); at namespace scope in the op's .cpp file.
#define KILN_REGISTER_OP(...)                                                                  \
  static const ::kiln::ops::OpRegistration KILN_OP_CONCAT(kiln_op_registration_, __COUNTER__)( \
      __VA_ARGS__, KILN_SOURCE_FILE)

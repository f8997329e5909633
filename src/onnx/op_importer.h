// The per-op importer registry. Each importer file under src/onnx/ translates one ONNX op family
// into kiln IR nodes and registers, per op name, the ai.onnx opset range it handles:
//
//   KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
//       .ops = {"Squeeze", "Unsqueeze"}, .min_opset = 1, .max_opset = 12,
//       .import = [](ImportContext& ctx) { ... ctx.emit(ctx.op_type(), inputs, attrs); }});
//
// kiln's IR follows the newest ONNX opset, so an importer for an older opset rewrites the node
// into the newest form (attributes that became inputs turn into constants, and so on). An
// importer that meets something it cannot translate calls ctx.unsupported(reason); the driver
// collects every such node and reports them all at once.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/source_file.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace onnx {
class AttributeProto;
class GraphProto;
class NodeProto;
class TensorProto;
}  // namespace onnx

namespace kiln::onnx_import {

// The newest ai.onnx opset kiln knows: that of the onnx release kiln is tested against
// (onnx 1.23: python3 -c "import onnx; print(onnx.defs.onnx_opset_version())").
inline constexpr int64_t kNewestOpset = 28;
// The oldest opset kiln promises to import; older models import on a best-effort basis.
inline constexpr int64_t kOldestSupportedOpset = 7;
// max_opset of an importer that also handles opsets newer than kNewestOpset.
inline constexpr int64_t kNoMaxOpset = std::numeric_limits<int64_t>::max();

// The graph an importer adds to, with its table from ONNX value names to kiln values.
// Implemented by the import driver (onnx_importer.cpp).
class ImportScope {
 public:
  virtual ~ImportScope() = default;
  virtual ir::Graph& graph() = 0;
  // The value an ONNX name refers to, or nullptr. Names of enclosing graphs are found too: a
  // subgraph's read of an outer value becomes a value of the subgraph with the same name and
  // no producer.
  virtual ir::Value* find(const std::string& onnx_name) = 0;
  // Records that `onnx_name` now refers to `value`; throws when the name is already defined.
  virtual void bind(const std::string& onnx_name, ir::Value* value) = 0;
  // A value name used by no ONNX value of the model and no kiln value of this graph.
  virtual std::string fresh_name(const std::string& base) = 0;
  // Whether any node (in any graph of the model) or graph output reads this ONNX name.
  virtual bool is_used(const std::string& onnx_name) const = 0;
  virtual std::shared_ptr<ir::Graph> import_subgraph(const onnx::GraphProto& body,
                                                     const std::string& attr_name) = 0;
  // For a value that `find` made in a subgraph to stand for a value of the enclosing graph:
  // that enclosing value (of the graph this scope's subgraph is nested in). nullptr otherwise.
  virtual ir::Value* outer_value(const ir::Value* placeholder) const {
    (void)placeholder;
    return nullptr;
  }
  // TensorProto to Tensor, with external data relative to the model's folder.
  virtual Tensor tensor(const onnx::TensorProto& proto) = 0;
};

// Thrown (through ImportContext::unsupported) when an importer cannot translate its node.
class UnsupportedNode : public std::exception {
 public:
  explicit UnsupportedNode(std::string reason) : reason_(std::move(reason)) {}
  const char* what() const noexcept override { return reason_.c_str(); }

 private:
  std::string reason_;
};

// What an importer sees: the ONNX node, the model's ai.onnx opset, and ways to read values,
// add constants and add kiln nodes. Errors thrown from here carry no node prefix: the driver
// adds "ONNX node '<name>' (<op>): ".
class ImportContext {
 public:
  ImportContext(const onnx::NodeProto& node, int64_t opset, std::string node_name,
                ImportScope& scope);

  const onnx::NodeProto& proto() const { return node_; }
  const std::string& op_type() const;
  // The ONNX node's name, or "<op>_<index>" when it has none; kiln nodes are named after it.
  const std::string& name() const { return name_; }
  int64_t opset() const { return opset_; }
  ir::Graph& graph() { return scope_.graph(); }
  ImportScope& scope() { return scope_; }

  // ----- inputs
  size_t num_inputs() const;
  // False for an omitted optional input ("" or past the end).
  bool has_input(size_t i) const;
  // The kiln value of input i, nullptr when omitted.
  ir::Value* input(size_t i);
  // The kiln value of input i; throws kInvalidModel when it is omitted.
  ir::Value* required_input(size_t i);
  // Every input, nullptr for the omitted ones (trailing omitted inputs are dropped).
  std::vector<ir::Value*> inputs();
  // The contents of input i when it is a constant (an initializer or a Constant node's value).
  const Tensor* constant_input(size_t i);
  // The value of an ONNX name; throws kInvalidModel when no value has that name.
  ir::Value* lookup(const std::string& onnx_name);
  // The rank of a value when it is known while importing (constants and graph inputs).
  static std::optional<size_t> known_rank(const ir::Value* value);

  // ----- outputs
  size_t num_outputs() const;
  bool has_output(size_t i) const;
  // The ONNX name of output i; throws kInvalidModel when the node has no such output.
  const std::string& output_name(size_t i) const;
  // Whether output i exists and anything reads it.
  bool output_used(size_t i) const;
  // ONNX output i is `value` (for outputs that alias an existing or a helper's value).
  void bind_output(size_t i, ir::Value* value);

  // ----- attributes
  const onnx::AttributeProto* attr(std::string_view name) const;
  bool has_attr(std::string_view name) const { return attr(name) != nullptr; }
  int64_t attr_int(std::string_view name, int64_t fallback) const;
  double attr_float(std::string_view name, double fallback) const;
  std::string attr_string(std::string_view name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(std::string_view name, std::vector<int64_t> fallback = {}) const;
  std::vector<double> attr_floats(std::string_view name, std::vector<double> fallback = {}) const;
  // Every attribute converted to kiln's kinds (INT -> int64_t, FLOAT -> double, STRING,
  // TENSOR -> Tensor, GRAPH -> imported subgraph, and the lists), except those named in `skip`
  // and the legacy "consumed_inputs". ONNX type numbers in dtype attributes (Cast's `to`,
  // EyeLike's `dtype`, ...) become int64(kiln::DataType).
  ir::Attributes convert_attributes(std::initializer_list<std::string_view> skip = {});
  // One attribute converted as convert_attributes does.
  ir::Attribute convert_attribute(const onnx::AttributeProto& attr);

  // ----- building
  // A constant value named after the node and `role`.
  ir::Value* add_constant(const std::string& role, Tensor tensor);
  // A 1-D int64 constant (axes, pads, shapes, ...).
  ir::Value* add_int64_constant(const std::string& role, const std::vector<int64_t>& values);
  // A scalar holding `value` in the element type of `like`: a constant of that type when the
  // type is known at import, else a float32 constant cast with CastLike.
  ir::Value* add_scalar_like(const std::string& role, double value, ir::Value* like);
  // A helper node named "<node>/<role>" with one output under a fresh name; returns the output.
  ir::Value* emit_helper(std::string op, const std::string& role, std::vector<ir::Value*> inputs,
                         ir::Attributes attrs = {});
  // The node that produces the ONNX node's outputs: named after it, its outputs carrying the
  // ONNX output names (the first `num_outputs` of them when given) and bound to them.
  ir::Node* emit(std::string op, std::vector<ir::Value*> inputs, ir::Attributes attrs = {},
                 std::optional<size_t> num_outputs = std::nullopt);
  // Full control: outputs named exactly `output_names` ("" for an omitted output).
  ir::Node* add_node(std::string op, std::string node_name, std::vector<ir::Value*> inputs,
                     const std::vector<std::string>& output_names, ir::Attributes attrs = {});
  std::string fresh_name(const std::string& role);

  // ----- failing
  template <typename... Args>
  [[noreturn]] void unsupported(Args&&... args) const {
    throw UnsupportedNode(cat(std::forward<Args>(args)...));
  }
  template <typename... Args>
  [[noreturn]] void invalid(Args&&... args) const {
    fail(ErrorCode::kInvalidModel, std::forward<Args>(args)...);
  }

 private:
  const onnx::NodeProto& node_;
  int64_t opset_;
  std::string name_;
  ImportScope& scope_;
};

using ImportFn = std::function<void(ImportContext&)>;

struct OnnxImporterDef {
  std::vector<std::string> ops;
  int64_t min_opset = 1;
  int64_t max_opset = kNoMaxOpset;
  ImportFn import;
  // The file that registers the importer, relative to the repository, set by
  // KILN_REGISTER_ONNX_IMPORTER: docs/operators.md shows it.
  std::string defined_in{};
};

class ImporterRegistry {
 public:
  static ImporterRegistry& instance();
  void add(OnnxImporterDef def);
  // The importer of `op` whose range holds `opset`, or nullptr.
  const OnnxImporterDef* find(std::string_view op, int64_t opset) const;
  // Every importer registered for `op` (to explain an opset that is out of range).
  std::vector<const OnnxImporterDef*> for_op(std::string_view op) const;
  std::vector<std::string> op_names() const;

 private:
  std::vector<std::unique_ptr<OnnxImporterDef>> defs_;
};

struct OnnxImporterRegistration {
  OnnxImporterRegistration(OnnxImporterDef def, std::string_view file) {
    def.defined_in = file;
    ImporterRegistry::instance().add(std::move(def));
  }
};

// The 1:1 translation: same op name, same inputs, attributes converted.
void import_as_is(ImportContext& ctx);

}  // namespace kiln::onnx_import

#define KILN_ONNX_CONCAT_INNER(a, b) a##b
#define KILN_ONNX_CONCAT(a, b) KILN_ONNX_CONCAT_INNER(a, b)
// KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{...}); at namespace scope in an importer file.
#define KILN_REGISTER_ONNX_IMPORTER(...)                                       \
  static const ::kiln::onnx_import::OnnxImporterRegistration KILN_ONNX_CONCAT( \
      kiln_onnx_importer_registration_, __COUNTER__)(__VA_ARGS__, KILN_SOURCE_FILE)

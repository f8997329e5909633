// The import driver: model loading, graphs (inputs, initializers, node order, outputs,
// subgraphs), dispatch to the per-op importers and the all-at-once unsupported-node report.
#include "onnx/onnx_importer.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/display_name.h"
#include "core/error.h"
#include "onnx/onnx.pb.h"
#include "onnx/onnx_schema.h"
#include "onnx/op_importer.h"
#include "onnx/tensor_proto.h"
#include "ops/op.h"
#include "ops/shape_inference.h"

namespace kiln::onnx_import {

namespace {

namespace fs = std::filesystem;

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

// A graph output's or value_info's declared type, checked against kiln's inference once the
// main graph is imported.
struct DeclaredType {
  const ir::Value* value;
  std::string what;  // "graph output 'y'", "value_info 'h'" (names already display_name'd)
  int32_t elem_type;
  bool has_shape;
  std::vector<int64_t> dims;  // > 0 where the model gives an extent, -1 elsewhere
  std::string shape_text;     // as declared: "[batch, 3, ?]"
};

struct UnsupportedEntry {
  std::string node;
  std::string op;
  std::string domain;
  int64_t opset;
  std::string reason;
};

// What every graph of one model shares while it is imported.
struct ModelState {
  std::string base_dir;
  Logger& logger;
  std::function<bool(const std::string&)> kiln_has_op;
  int64_t opset = 0;  // of ai.onnx; 0 when the model declares none
  std::map<std::string, int64_t> domain_versions = {};
  std::set<std::pair<std::string, std::string>> local_functions = {};  // (domain, name)
  std::unordered_set<std::string> onnx_names = {};   // every value name of every graph
  std::unordered_set<std::string> used_names = {};   // names some node or graph output reads
  std::unordered_set<std::string> fresh_names = {};  // names handed out for helper values
  // Each placeholder a subgraph reads an enclosing value through -> that enclosing value.
  std::unordered_map<const ir::Value*, ir::Value*> outer_of = {};
  std::vector<UnsupportedEntry> unsupported = {};
  std::vector<DeclaredType> declared = {};  // of the main graph
};

std::string node_label(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? cat(node.op_type(), "_", index) : node.name();
}

// Also refuses subgraphs nested deeper than kMaxSubgraphDepth, before anything recurses
// further (`depth` is the number of bodies `graph` is inside of; `path` names them).
void collect_names(const onnx::GraphProto& graph, ModelState& state, int depth = 0,
                   const std::string& path = "") {
  for (const auto& vi : graph.input()) state.onnx_names.insert(vi.name());
  for (const auto& init : graph.initializer()) state.onnx_names.insert(init.name());
  for (const auto& vi : graph.output()) {
    state.onnx_names.insert(vi.name());
    state.used_names.insert(vi.name());
  }
  for (const auto& node : graph.node()) {
    for (const auto& in : node.input()) {
      state.onnx_names.insert(in);
      state.used_names.insert(in);
    }
    for (const auto& out : node.output()) state.onnx_names.insert(out);
    for (const auto& attr : node.attribute()) {
      if (!attr.has_g() && attr.graphs_size() == 0) continue;
      const std::string& label = node.name().empty() ? node.op_type() : node.name();
      KILN_CHECK(depth < kMaxSubgraphDepth, ErrorCode::kInvalidModel, "ONNX node '",
                 display_name(label), "' (", display_name(node.op_type()), ") in '",
                 display_name(path), "' holds a subgraph nested ", depth + 1,
                 " levels deep; kiln imports subgraphs (If/Loop/Scan bodies) nested at most ",
                 kMaxSubgraphDepth, " levels deep");
      const std::string inner = cat(path, label, "/", attr.name(), "/");
      if (attr.has_g()) collect_names(attr.g(), state, depth + 1, inner);
      for (const auto& g : attr.graphs()) collect_names(g, state, depth + 1, inner);
    }
  }
}

// Names a node reads, including everything its subgraphs read (which over-approximates their
// reads of enclosing scopes: ONNX names are unique across scopes, so the extra names are never
// produced by the enclosing graph's nodes).
void collect_reads(const onnx::NodeProto& node, std::vector<std::string>& reads) {
  for (const auto& in : node.input()) {
    if (!in.empty()) reads.push_back(in);
  }
  for (const auto& attr : node.attribute()) {
    std::vector<const onnx::GraphProto*> bodies;
    if (attr.has_g()) bodies.push_back(&attr.g());
    for (const auto& g : attr.graphs()) bodies.push_back(&g);
    for (const onnx::GraphProto* body : bodies) {
      for (const auto& inner : body->node()) collect_reads(inner, reads);
      for (const auto& out : body->output()) reads.push_back(out.name());
    }
  }
}

// The order to import nodes in: the file's order when it is topological (as ONNX requires),
// else a topological sort that keeps the file's order where it can.
std::vector<int> topological_order(const onnx::GraphProto& graph) {
  const int n = graph.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const auto& out : graph.node(i).output()) {
      if (!out.empty()) producer.emplace(out, i);
    }
  }
  std::vector<std::vector<std::string>> reads(static_cast<size_t>(n));
  bool in_order = true;
  for (int i = 0; i < n; ++i) {
    collect_reads(graph.node(i), reads[size_t(i)]);
    for (const auto& name : reads[size_t(i)]) {
      auto it = producer.find(name);
      if (it != producer.end() && it->second >= i) in_order = false;
    }
  }
  std::vector<int> order;
  order.reserve(size_t(n));
  if (in_order) {
    for (int i = 0; i < n; ++i) order.push_back(i);
    return order;
  }

  std::vector<int> pending(static_cast<size_t>(n), 0);
  std::vector<std::vector<int>> consumers(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    for (const auto& name : reads[size_t(i)]) {
      auto it = producer.find(name);
      if (it == producer.end()) continue;
      ++pending[size_t(i)];
      consumers[size_t(it->second)].push_back(i);
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<>> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[size_t(i)] == 0) ready.push(i);
  }
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int consumer : consumers[size_t(i)]) {
      if (--pending[size_t(consumer)] == 0) ready.push(consumer);
    }
  }
  if (int(order.size()) < n) {
    std::string members;
    int listed = 0;
    for (int i = 0; i < n && listed < 10; ++i) {
      if (pending[size_t(i)] == 0) continue;
      members += cat(listed++ ? ", " : "", "'", display_name(node_label(graph.node(i), i)), "'");
    }
    fail(ErrorCode::kInvalidModel, "graph '", display_name(graph.name()),
         "' has a cycle: these nodes depend on each other's outputs: ", members);
  }
  return order;
}

std::string format_report(const std::vector<UnsupportedEntry>& entries) {
  std::string out =
      cat("kiln cannot import ", entries.size(), " ONNX node", entries.size() == 1 ? "" : "s", ":");
  for (const auto& e : entries) {
    out += cat("\n  node '", display_name(e.node), "' (op ", display_name(e.op), ", domain ",
               display_name(e.domain), ", opset ", e.opset, "): ", e.reason);
  }
  return out;
}

class GraphImporter final : public ImportScope {
 public:
  GraphImporter(ModelState& state, ir::Graph& graph, GraphImporter* parent, std::string path)
      : state_(state), graph_(graph), parent_(parent), path_(std::move(path)) {}

  void import(const onnx::GraphProto& proto) {
    graph_.name = proto.name();
    if (proto.sparse_initializer_size() > 0) {
      fail(ErrorCode::kUnsupported, "graph '", display_name(proto.name()),
           "' has sparse initializers ('",
           display_name(proto.sparse_initializer(0).values().name()),
           "'), which kiln does not support");
    }
    std::unordered_set<std::string> initializer_names;
    for (const auto& init : proto.initializer()) {
      KILN_CHECK(initializer_names.insert(init.name()).second, ErrorCode::kInvalidModel,
                 "initializer '", display_name(init.name()), "' is defined twice");
      bind(init.name(), graph_.add_constant(init.name(), tensor(init)));
    }
    for (const auto& vi : proto.input()) {
      // ONNX IR < 4 listed initializers among the inputs; they stay constants.
      if (initializer_names.count(vi.name())) continue;
      add_graph_input(vi);
    }
    for (int index : topological_order(proto)) import_node(proto.node(index), index);
    for (const auto& vi : proto.output()) add_graph_output(vi);
    if (is_main_graph()) {
      for (const auto& vi : proto.value_info()) {
        auto it = values_.find(vi.name());
        if (it != values_.end()) declare(it->second, "value_info", vi);
      }
    }
  }

  ir::Graph& graph() override { return graph_; }

  ir::Value* find(const std::string& onnx_name) override {
    auto it = values_.find(onnx_name);
    if (it != values_.end()) return it->second;
    if (parent_ == nullptr) return nullptr;
    ir::Value* outer = parent_->find(onnx_name);
    if (outer == nullptr) return nullptr;
    // A read of the enclosing graph: a value of this graph with the outer value's name and no
    // producer; the If/Loop/Scan importers turn it into a body input that the node is passed
    // (outer_value says which enclosing value it stands for).
    ir::Value* local = graph_.add_value(outer->name, outer->dtype, {}, false);
    values_.emplace(onnx_name, local);
    state_.outer_of.emplace(local, outer);
    return local;
  }

  ir::Value* outer_value(const ir::Value* placeholder) const override {
    auto it = state_.outer_of.find(placeholder);
    return it == state_.outer_of.end() ? nullptr : it->second;
  }

  void bind(const std::string& onnx_name, ir::Value* value) override {
    KILN_CHECK(values_.emplace(onnx_name, value).second, ErrorCode::kInvalidModel, "value '",
               display_name(onnx_name), "' is defined twice");
  }

  std::string fresh_name(const std::string& base) override {
    std::string candidate = base;
    for (int k = 1; state_.onnx_names.count(candidate) || state_.fresh_names.count(candidate) ||
                    graph_.find_value(candidate) != nullptr;
         ++k) {
      candidate = cat(base, "_", k);
    }
    state_.fresh_names.insert(candidate);
    return candidate;
  }

  bool is_used(const std::string& onnx_name) const override {
    return state_.used_names.count(onnx_name) != 0;
  }

  std::shared_ptr<ir::Graph> import_subgraph(const onnx::GraphProto& body,
                                             const std::string& attr_name) override {
    auto sub = std::make_shared<ir::Graph>();
    GraphImporter importer(state_, *sub, this, cat(path_, current_node_, "/", attr_name, "/"));
    importer.import(body);
    return sub;
  }

  Tensor tensor(const onnx::TensorProto& proto) override {
    return tensor_from_proto(proto, state_.base_dir);
  }

 private:
  bool is_main_graph() const { return parent_ == nullptr; }

  // Records what a graph output or value_info of the main graph declares, to be checked against
  // inference when the whole graph is imported.
  void declare(const ir::Value* value, const char* kind, const onnx::ValueInfoProto& vi) {
    if (!vi.type().has_tensor_type()) return;
    const auto& tensor_type = vi.type().tensor_type();
    DeclaredType d{.value = value,
                   .what = cat(kind, " '", display_name(vi.name()), "'"),
                   .elem_type = tensor_type.elem_type(),
                   .has_shape = tensor_type.has_shape()};
    std::string text;
    for (const auto& dim : tensor_type.shape().dim()) {
      // A dim_value of 0 is read as unknown here: exporters write it for dims they do not know.
      const bool known = dim.has_dim_value() && dim.dim_value() > 0;
      d.dims.push_back(known ? dim.dim_value() : -1);
      text += text.empty() ? "" : ", ";
      text += known                 ? std::to_string(dim.dim_value())
              : dim.has_dim_param() ? display_name(dim.dim_param())
              : dim.has_dim_value() ? std::to_string(dim.dim_value())
                                    : std::string("?");
    }
    d.shape_text = cat("[", text, "]");
    state_.declared.push_back(std::move(d));
  }

  void add_graph_input(const onnx::ValueInfoProto& vi) {
    const std::string what = cat("graph input '", display_name(vi.name()), "'");
    const auto& type = vi.type();
    DataType dtype = DataType::kFloat32;
    ir::Shape shape;
    bool has_shape = false;
    if (type.has_tensor_type()) {
      const auto& tensor_type = type.tensor_type();
      if (tensor_type.elem_type() != onnx::TensorProto::UNDEFINED || is_main_graph()) {
        dtype = require_kiln_dtype(tensor_type.elem_type(), what);
      }
      has_shape = tensor_type.has_shape();
      for (const auto& dim : tensor_type.shape().dim()) {
        if (dim.has_dim_value() && dim.dim_value() >= 0) {
          shape.push_back(ir::Dim::fixed(dim.dim_value()));
        } else if (dim.has_dim_param() && !dim.dim_param().empty()) {
          shape.push_back(ir::Dim::named(dim.dim_param()));
        } else {
          if (dim.has_dim_value()) {
            state_.logger.log(Logger::Severity::kWarning, cat(what, " has dim ", dim.dim_value(),
                                                              "; kiln reads it as a "
                                                              "dynamic dim"));
          }
          shape.push_back(ir::Dim{});
        }
      }
    } else if (type.value_case() != onnx::TypeProto::VALUE_NOT_SET) {
      fail(ErrorCode::kUnsupported, what,
           " is not a tensor (a sequence, map, optional or "
           "sparse tensor); kiln supports tensor inputs only");
    } else {
      // Subgraph inputs may leave their type to inference; the main graph's may not.
      KILN_CHECK(!is_main_graph(), ErrorCode::kInvalidModel, what, " has no type");
    }
    ir::Value* value = graph_.add_input(vi.name(), dtype, std::move(shape));
    value->has_shape = has_shape;
    bind(vi.name(), value);
  }

  void add_graph_output(const onnx::ValueInfoProto& vi) {
    ir::Value* value = find(vi.name());
    KILN_CHECK(value != nullptr, ErrorCode::kInvalidModel, "graph output '",
               display_name(vi.name()),
               "' is not computed by any node, graph input or initializer");
    if (value->name != vi.name()) {
      // The output aliases another value (a Constant node's, a pass-through output): keep
      // the name the model promises its users.
      ir::Node* copy = graph_.add_node("Identity", cat(vi.name(), "/output"), {value}, {vi.name()});
      value = copy->outputs[0];
    }
    // The declared element type stands until shape inference knows better; it is what an
    // engine reports for outputs resolved only at run time.
    if (vi.type().has_tensor_type() && value->producer != nullptr) {
      if (auto dtype = kiln_dtype_from_onnx(vi.type().tensor_type().elem_type()))
        value->dtype = *dtype;
    }
    graph_.mark_output(value);
    if (is_main_graph()) declare(value, "graph output", vi);
  }

  void record_unsupported(const onnx::NodeProto& node, const std::string& name, int64_t opset,
                          std::string reason) {
    state_.unsupported.push_back(UnsupportedEntry{cat(path_, name), node.op_type(),
                                                  node.domain().empty() ? "ai.onnx" : node.domain(),
                                                  opset, std::move(reason)});
  }

  // Later nodes still read the outputs of a node that failed to import; placeholders let the
  // import go on and find every other unsupported node.
  void bind_placeholders(const onnx::NodeProto& node) {
    for (const auto& out : node.output()) {
      if (out.empty() || values_.count(out)) continue;
      bind(out, graph_.add_value(out, DataType::kFloat32, {}, false));
    }
  }

  std::string opset_ranges(const std::string& op) const {
    std::string ranges;
    for (const OnnxImporterDef* def : ImporterRegistry::instance().for_op(op)) {
      if (!ranges.empty()) ranges += ", ";
      ranges += def->max_opset == kNoMaxOpset ? cat(def->min_opset, " and later")
                                              : cat(def->min_opset, " to ", def->max_opset);
    }
    return ranges;
  }

  void import_node(const onnx::NodeProto& node, int index) {
    const std::string name = node_label(node, index);
    const std::string& op = node.op_type();
    current_node_ = name;

    // Importers read an attribute by name; a second one of the same name would be ignored.
    if (node.attribute_size() > 1) {
      std::unordered_set<std::string_view> attribute_names;
      for (const auto& attr : node.attribute()) {
        KILN_CHECK(attribute_names.insert(attr.name()).second, ErrorCode::kInvalidModel,
                   "ONNX node '", display_name(path_ + name), "' (", display_name(op),
                   ") has two attributes named '", display_name(attr.name()), "'");
      }
    }

    if (!is_default_domain(node.domain())) {
      auto version = state_.domain_versions.find(node.domain());
      int64_t opset = version == state_.domain_versions.end() ? 0 : version->second;
      std::string reason = state_.local_functions.count({node.domain(), op})
                               ? cat("it calls the model-local function '", node.domain(), ".", op,
                                     "', which kiln does not inline")
                               : cat("domain '", node.domain(), "' is not supported: kiln imports ",
                                     "only the default ONNX domain (ai.onnx)");
      record_unsupported(node, name, opset, std::move(reason));
      bind_placeholders(node);
      return;
    }
    KILN_CHECK(state_.opset > 0, ErrorCode::kInvalidModel, "ONNX node '",
               display_name(path_ + name), "' (", display_name(op),
               ") is in the ai.onnx domain but the model declares no ai.onnx opset");

    // Every attribute must be one the op declares at the model's opset, of the declared type,
    // and required ones present (ONNX's schemas, src/onnx/onnx_schema_table.cpp): an importer
    // reads attributes by name, so a misspelled one would otherwise be ignored.
    try {
      check_node_attributes(node, state_.opset, display_name(path_ + name), state_.logger);
    } catch (const UnsupportedNode& e) {
      record_unsupported(node, name, state_.opset, e.what());
      bind_placeholders(node);
      return;
    }

    const OnnxImporterDef* def = ImporterRegistry::instance().find(op, state_.opset);
    if (def == nullptr) {
      std::string ranges = opset_ranges(op);
      record_unsupported(node, name, state_.opset,
                         ranges.empty()
                             ? std::string("no importer for this op")
                             : cat("opset ", state_.opset, " is out of range (kiln imports ", op,
                                   " at opsets ", ranges, ")"));
      bind_placeholders(node);
      return;
    }

    auto& nodes = graph_.nodes();
    const bool was_empty = nodes.empty();
    const auto last_before = was_empty ? nodes.end() : std::prev(nodes.end());
    try {
      ImportContext ctx(node, state_.opset, name, *this);
      def->import(ctx);
    } catch (const UnsupportedNode& e) {
      record_unsupported(node, name, state_.opset, e.what());
      bind_placeholders(node);
      return;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kUnsupported) {
        record_unsupported(node, name, state_.opset, e.what());
        bind_placeholders(node);
        return;
      }
      throw Error(e.code(), cat("ONNX node '", display_name(path_ + name), "' (", display_name(op),
                                "): ", e.what()));
    }

    std::vector<std::string> missing;
    for (auto it = was_empty ? nodes.begin() : std::next(last_before); it != nodes.end(); ++it) {
      const std::string& kiln_op = (*it)->op;
      if (!state_.kiln_has_op(kiln_op) &&
          std::find(missing.begin(), missing.end(), kiln_op) == missing.end()) {
        missing.push_back(kiln_op);
      }
    }
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += cat(list.empty() ? "" : ", ", "'", m, "'");
      record_unsupported(node, name, state_.opset,
                         cat("kiln has no op ", list,
                             (missing.size() == 1 && missing[0] == op) ? std::string()
                                                                       : " (needed to import it)"));
      bind_placeholders(node);
      return;
    }
    // An importer may drop outputs nothing reads (training-only ones); never a used one.
    for (const auto& out : node.output()) {
      KILN_CHECK(out.empty() || values_.count(out) || !is_used(out), ErrorCode::kInternal,
                 "the importer of ", display_name(op), " left output '", display_name(out),
                 "' of node '", display_name(path_ + name), "' undefined");
    }
  }

  ModelState& state_;
  ir::Graph& graph_;
  GraphImporter* parent_;
  std::string path_;  // "" for the main graph, "<node>/<attribute>/" for a body
  std::string current_node_;
  std::unordered_map<std::string, ir::Value*> values_;
};

// ir_version 0 means the field was never set; a version newer than the compiled onnx.proto
// knows may carry fields this parser dropped without a word.
void check_ir_version(const onnx::ModelProto& model) {
  KILN_CHECK(model.ir_version() > 0, ErrorCode::kInvalidModel, "the ONNX model has ir_version ",
             model.ir_version(),
             ": every ONNX model states the IR version it was written for "
             "(1 or later; onnx.helper.make_model sets it)");
  KILN_CHECK(model.ir_version() <= onnx::Version::IR_VERSION, ErrorCode::kUnsupported,
             "the ONNX model has IR version ", model.ir_version(),
             ", newer than the newest this kiln knows (", int(onnx::Version::IR_VERSION),
             "); convert it with an older onnx or update kiln");
}

void read_opsets(const onnx::ModelProto& model, ModelState& state) {
  bool declared = false;
  for (const auto& entry : model.opset_import()) {
    if (is_default_domain(entry.domain())) {
      // kiln reads every op with the meaning of its newest opset (or an older one); an opset
      // past that may have changed what an op means.
      KILN_CHECK(entry.version() <= kNewestOpset, ErrorCode::kUnsupported, "opset ",
                 entry.version(), " of domain '", display_name(entry.domain()),
                 "' is newer than the newest kiln supports (", kNewestOpset, ")");
      state.opset = entry.version();
      declared = true;
    } else {
      state.domain_versions[entry.domain()] = entry.version();
    }
  }
  auto warn = [&](const std::string& message) {
    state.logger.log(Logger::Severity::kWarning, message);
  };
  if (!declared) {
    // Models before IR version 3 had no opset_import; they meant opset 1.
    if (model.ir_version() < 3) {
      state.opset = 1;
      warn(cat("the ONNX model (IR version ", model.ir_version(),
               ") declares no opset; importing it as ai.onnx opset 1"));
    }
    return;
  }
  if (state.opset < kOldestSupportedOpset) {
    warn(cat("the ONNX model uses ai.onnx opset ", state.opset, "; kiln supports opsets ",
             kOldestSupportedOpset, " to ", kNewestOpset,
             " and imports older ones as far as its importers can"));
  }
}

onnx::ModelProto parse_model(const void* data, size_t size, const std::string& what) {
  KILN_CHECK(size <= size_t(std::numeric_limits<int>::max()), ErrorCode::kInvalidModel, what,
             " is ", size,
             " bytes: protobuf cannot read an ONNX model over 2 GB, so its "
             "weights must be stored as external data (onnx.save_model(..., "
             "save_as_external_data=True))");
  // Parsing recurses once per nested message: the limit keeps a hostile file from exhausting
  // the stack, and is set here rather than left to protobuf's default so that it is known.
  const auto parse = [&](onnx::ModelProto& model, int nesting_limit) {
    google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(data), int(size));
    in.SetRecursionLimit(nesting_limit);
    return model.ParseFromCodedStream(&in) && in.ConsumedEntireMessage();
  };
  onnx::ModelProto model;
  if (!parse(model, kMaxMessageNesting)) {
    // Only nesting depth depends on the limit: a file that parses with a larger one nests
    // too deep (the larger limit still keeps the stack small).
    onnx::ModelProto probe;
    KILN_CHECK(!parse(probe, 2 * kMaxMessageNesting), ErrorCode::kInvalidModel, what,
               " nests protobuf messages more than ", kMaxMessageNesting,
               " levels deep, the parser's limit (If/Loop/Scan bodies nested within each other "
               "cost three levels each; kiln imports at most ",
               kMaxSubgraphDepth, " levels of subgraphs)");
    fail(ErrorCode::kInvalidModel, what,
         " is not a valid ONNX model (protobuf parse failed): the file is corrupt or truncated, "
         "or nests messages more than ",
         kMaxMessageNesting, " levels deep, the parser's limit");
  }
  KILN_CHECK(model.has_graph(), ErrorCode::kInvalidModel, what,
             " is not a valid ONNX model (it has no graph)");
  return model;
}

// The extents of a resolved value as text, '?' for those that differ between the two probes.
std::string inferred_shape_text(const Dims& a, const Dims* b) {
  std::string text;
  for (size_t i = 0; i < a.size(); ++i) {
    text += i ? ", " : "";
    text += (b && (*b)[i] != a[i]) ? std::string("?") : std::to_string(a[i]);
  }
  return cat("[", text, "]");
}

// Checks each declared graph output and value_info against kiln's inference. Inference needs
// extents, so the graph is resolved twice with every dynamic input dim set to 2 and then to 3:
// an extent that comes out the same both times does not depend on them. Only definite
// conflicts are errors: a declared dim that is symbolic, unknown or 0 (which some exporters
// write for unknown) is not compared, nor is an inferred extent that differs between the two
// probes, nor a declared rank 0 (an empty shape, which some exporters write for unknown). When
// the graph cannot be resolved this way (an input of unknown rank, extents that only some
// sizes satisfy, an op kiln lacks), nothing is checked here: the builder reports real problems.
void check_declared_types(const ir::Graph& graph, const std::vector<DeclaredType>& declared) {
  if (declared.empty()) return;
  for (const ir::Value* in : graph.inputs()) {
    if (!in->has_shape) return;
  }
  std::optional<ops::ResolvedShapes> probes[2];
  for (int k = 0; k < 2; ++k) {
    std::map<std::string, Dims> shapes;
    for (const ir::Value* in : graph.inputs()) {
      Dims dims = ir::to_dims(in->shape);
      for (int64_t& d : dims) {
        if (d < 0) d = 2 + k;
      }
      shapes[in->name] = std::move(dims);
    }
    try {
      probes[k] = ops::resolve_shapes(graph, shapes);
    } catch (const std::exception&) {
      return;
    }
  }
  for (const DeclaredType& d : declared) {
    const auto first = probes[0]->desc.find(d.value);
    const auto second = probes[1]->desc.find(d.value);
    const bool resolved = first != probes[0]->desc.end() && second != probes[1]->desc.end();
    std::optional<DataType> inferred;
    if (resolved) {
      inferred = first->second.dtype;
    } else if (auto deferred = probes[0]->deferred.find(d.value);
               deferred != probes[0]->deferred.end()) {
      inferred = deferred->second.dtype;
    }
    const std::optional<DataType> stated = kiln_dtype_from_onnx(d.elem_type);
    if (inferred && stated && *inferred != *stated) {
      fail(ErrorCode::kInvalidModel, d.what, " is declared with element type ",
           onnx_dtype_name(d.elem_type), " but kiln infers ",
           onnx_dtype_name(onnx_dtype_from_kiln(*inferred)),
           " for it from the nodes that compute it");
    }
    if (!resolved || !d.has_shape || d.dims.empty()) continue;
    const Dims& a = first->second.shape;
    const Dims& b = second->second.shape;
    if (a.size() != b.size()) continue;
    if (a.size() != d.dims.size()) {
      fail(ErrorCode::kInvalidModel, d.what, " is declared with shape ", d.shape_text, " (rank ",
           d.dims.size(), ") but kiln infers shape ", inferred_shape_text(a, &b), " (rank ",
           a.size(), ")");
    }
    for (size_t i = 0; i < a.size(); ++i) {
      if (d.dims[i] > 0 && a[i] == b[i] && a[i] != d.dims[i]) {
        fail(ErrorCode::kInvalidModel, d.what, " is declared with shape ", d.shape_text,
             " but kiln infers shape ", inferred_shape_text(a, &b), ": dim ", i, " is ", a[i],
             ", not ", d.dims[i]);
      }
    }
  }
}

}  // namespace

std::unique_ptr<ir::Graph> import_onnx_model(const onnx::ModelProto& model,
                                             const std::string& base_dir, Logger& logger,
                                             const ImportOptions& options) {
  KILN_CHECK(model.has_graph(), ErrorCode::kInvalidModel, "the ONNX model has no graph");
  ModelState state{.base_dir = base_dir.empty() ? std::string(".") : base_dir,
                   .logger = logger,
                   .kiln_has_op = options.kiln_has_op};
  if (!state.kiln_has_op) {
    state.kiln_has_op = [](const std::string& op) {
      return ops::OpRegistry::instance().find(op) != nullptr;
    };
  }
  check_ir_version(model);
  read_opsets(model, state);
  for (const auto& function : model.functions()) {
    state.local_functions.insert({function.domain(), function.name()});
  }
  collect_names(model.graph(), state);

  auto graph = std::make_unique<ir::Graph>();
  GraphImporter importer(state, *graph, nullptr, "");
  importer.import(model.graph());
  if (!state.unsupported.empty()) fail(ErrorCode::kUnsupported, format_report(state.unsupported));
  check_declared_types(*graph, state.declared);
  logger.log(Logger::Severity::kInfo,
             cat("imported ONNX graph '", graph->name, "' (ai.onnx opset ", state.opset,
                 "): ", graph->nodes().size(), " nodes, ", graph->inputs().size(), " inputs, ",
                 graph->outputs().size(), " outputs"));
  return graph;
}

std::unique_ptr<ir::Graph> import_onnx_bytes(const void* data, size_t size,
                                             const std::string& base_dir, Logger& logger,
                                             const ImportOptions& options) {
  onnx::ModelProto model = parse_model(data, size, "the given bytes");
  return import_onnx_model(model, base_dir, logger, options);
}

std::unique_ptr<ir::Graph> import_onnx_file(const std::string& path, Logger& logger,
                                            const ImportOptions& options) {
  std::error_code ec;
  KILN_CHECK(!fs::is_directory(path, ec), ErrorCode::kIO, "cannot read ONNX model '", path,
             "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), ErrorCode::kIO, "cannot open ONNX model '", path,
             "': ", std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  KILN_CHECK(!in.bad(), ErrorCode::kIO, "failed reading ONNX model '", path, "'");
  onnx::ModelProto model = parse_model(bytes.data(), bytes.size(), cat("'", path, "'"));
  bytes.clear();
  bytes.shrink_to_fit();
  std::string base_dir = fs::path(path).parent_path().string();
  return import_onnx_model(model, base_dir, logger, options);
}

}  // namespace kiln::onnx_import

// The import driver: model loading, graphs (inputs, initializers, node order, outputs,
// subgraphs), dispatch to the per-op importers and the all-at-once unsupported-node report.
#include "onnx/onnx_importer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "onnx/onnx.pb.h"
#include "onnx/op_importer.h"
#include "onnx/tensor_proto.h"
#include "ops/op.h"

namespace kiln::onnx_import {

namespace {

namespace fs = std::filesystem;

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

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
};

void collect_names(const onnx::GraphProto& graph, ModelState& state) {
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
      if (attr.has_g()) collect_names(attr.g(), state);
      for (const auto& g : attr.graphs()) collect_names(g, state);
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

std::string node_label(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? cat(node.op_type(), "_", index) : node.name();
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
      members += cat(listed++ ? ", " : "", "'", node_label(graph.node(i), i), "'");
    }
    fail(ErrorCode::kInvalidModel, "graph '", graph.name(),
         "' has a cycle: these nodes depend on each other's outputs: ", members);
  }
  return order;
}

std::string format_report(const std::vector<UnsupportedEntry>& entries) {
  std::string out =
      cat("kiln cannot import ", entries.size(), " ONNX node", entries.size() == 1 ? "" : "s", ":");
  for (const auto& e : entries) {
    out += cat("\n  node '", e.node, "' (op ", e.op, ", domain ", e.domain, ", opset ", e.opset,
               "): ", e.reason);
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
      fail(ErrorCode::kUnsupported, "graph '", proto.name(), "' has sparse initializers ('",
           proto.sparse_initializer(0).values().name(), "'), which kiln does not support");
    }
    std::unordered_set<std::string> initializer_names;
    for (const auto& init : proto.initializer()) {
      KILN_CHECK(initializer_names.insert(init.name()).second, ErrorCode::kInvalidModel,
                 "initializer '", init.name(), "' is defined twice");
      bind(init.name(), graph_.add_constant(init.name(), tensor(init)));
    }
    for (const auto& vi : proto.input()) {
      // ONNX IR < 4 listed initializers among the inputs; they stay constants.
      if (initializer_names.count(vi.name())) continue;
      add_graph_input(vi);
    }
    for (int index : topological_order(proto)) import_node(proto.node(index), index);
    for (const auto& vi : proto.output()) add_graph_output(vi);
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
               onnx_name, "' is defined twice");
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

  void add_graph_input(const onnx::ValueInfoProto& vi) {
    const std::string what = cat("graph input '", vi.name(), "'");
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
    KILN_CHECK(value != nullptr, ErrorCode::kInvalidModel, "graph output '", vi.name(),
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
      if (auto dtype = kiln_dtype_from_onnx(vi.type().tensor_type().elem_type())) value->dtype = *dtype;
    }
    graph_.mark_output(value);
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
    KILN_CHECK(state_.opset > 0, ErrorCode::kInvalidModel, "ONNX node '", path_, name, "' (", op,
               ") is in the ai.onnx domain but the model declares no ai.onnx opset");

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
      throw Error(e.code(), cat("ONNX node '", path_, name, "' (", op, "): ", e.what()));
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
                 "the importer of ", op, " left output '", out, "' of node '", path_, name,
                 "' undefined");
    }
  }

  ModelState& state_;
  ir::Graph& graph_;
  GraphImporter* parent_;
  std::string path_;  // "" for the main graph, "<node>/<attribute>/" for a body
  std::string current_node_;
  std::unordered_map<std::string, ir::Value*> values_;
};

void read_opsets(const onnx::ModelProto& model, ModelState& state) {
  bool declared = false;
  for (const auto& entry : model.opset_import()) {
    if (is_default_domain(entry.domain())) {
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
  } else if (state.opset > kNewestOpset) {
    warn(cat("the ONNX model uses ai.onnx opset ", state.opset, ", newer than the newest kiln ",
             "knows (", kNewestOpset, "); its ops are read with their opset-", kNewestOpset,
             " meaning"));
  }
}

onnx::ModelProto parse_model(const void* data, size_t size, const std::string& what) {
  KILN_CHECK(size <= size_t(std::numeric_limits<int>::max()), ErrorCode::kInvalidModel, what,
             " is ", size,
             " bytes: protobuf cannot read an ONNX model over 2 GB, so its "
             "weights must be stored as external data (onnx.save_model(..., "
             "save_as_external_data=True))");
  onnx::ModelProto model;
  KILN_CHECK(model.ParseFromArray(data, int(size)), ErrorCode::kInvalidModel, what,
             " is not a valid ONNX model (protobuf parse failed)");
  KILN_CHECK(model.has_graph(), ErrorCode::kInvalidModel, what,
             " is not a valid ONNX model (it has no graph)");
  return model;
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
  read_opsets(model, state);
  for (const auto& function : model.functions()) {
    state.local_functions.insert({function.domain(), function.name()});
  }
  collect_names(model.graph(), state);

  auto graph = std::make_unique<ir::Graph>();
  GraphImporter importer(state, *graph, nullptr, "");
  importer.import(model.graph());
  if (!state.unsupported.empty()) fail(ErrorCode::kUnsupported, format_report(state.unsupported));
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

// Helpers for the ONNX importer tests: build small ModelProtos in C++ (no generation step),
// import them, and find things in the imported graph.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/logger.h"
#include "onnx/onnx.pb.h"
#include "onnx/onnx_importer.h"
#include "onnx/tensor_proto.h"

namespace kiln::testing {

// Records messages so tests can check warnings.
class RecordingLogger : public Logger {
 public:
  void log(Severity severity, std::string_view message) noexcept override {
    messages.push_back({severity, std::string(message)});
  }
  int count(Severity severity) const {
    int n = 0;
    for (const auto& m : messages) n += m.first == severity;
    return n;
  }
  std::string all() const {
    std::string out;
    for (const auto& m : messages) out += m.second + "\n";
    return out;
  }
  std::vector<std::pair<Severity, std::string>> messages;
};

// Translation tests look at what the importer produced, whichever ops kiln defines today.
inline onnx_import::ImportOptions any_op_is_defined() {
  onnx_import::ImportOptions options;
  options.kiln_has_op = [](const std::string&) { return true; };
  return options;
}

// "batch" -> named dim, "?" -> dim with neither value nor name, "3" -> fixed.
using DimSpec = std::vector<std::string>;

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 17) {
    model.set_ir_version(8);
    auto* entry = model.add_opset_import();
    entry->set_domain("");
    entry->set_version(opset);
    graph = model.mutable_graph();
    graph->set_name("test_graph");
  }

  static void set_type(onnx::ValueInfoProto* vi, int32_t elem_type, const DimSpec* dims) {
    auto* tensor_type = vi->mutable_type()->mutable_tensor_type();
    tensor_type->set_elem_type(elem_type);
    if (dims == nullptr) return;
    auto* shape = tensor_type->mutable_shape();
    for (const std::string& d : *dims) {
      auto* dim = shape->add_dim();
      if (d == "?") continue;
      if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) {
        dim->set_dim_value(std::stoll(d));
      } else {
        dim->set_dim_param(d);
      }
    }
  }

  onnx::ValueInfoProto* input(const std::string& name, const DimSpec& dims,
                              int32_t elem_type = onnx::TensorProto::FLOAT) {
    return input_to(graph, name, dims, elem_type);
  }
  static onnx::ValueInfoProto* input_to(onnx::GraphProto* g, const std::string& name,
                                        const DimSpec& dims,
                                        int32_t elem_type = onnx::TensorProto::FLOAT) {
    auto* vi = g->add_input();
    vi->set_name(name);
    set_type(vi, elem_type, &dims);
    return vi;
  }
  // An input with an element type but no shape at all (unknown rank).
  onnx::ValueInfoProto* input_unranked(const std::string& name,
                                       int32_t elem_type = onnx::TensorProto::FLOAT) {
    auto* vi = graph->add_input();
    vi->set_name(name);
    set_type(vi, elem_type, nullptr);
    return vi;
  }
  void output(const std::string& name) { output_to(graph, name); }
  static void output_to(onnx::GraphProto* g, const std::string& name) {
    g->add_output()->set_name(name);
  }
  void initializer(const std::string& name, const Tensor& t) {
    onnx_import::tensor_to_proto(t, name, *graph->add_initializer());
  }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    return node_in(graph, op, inputs, outputs, name);
  }
  static onnx::NodeProto* node_in(onnx::GraphProto* g, const std::string& op,
                                  const std::vector<std::string>& inputs,
                                  const std::vector<std::string>& outputs,
                                  const std::string& name = "") {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }

  std::string bytes() const { return model.SerializeAsString(); }

  std::unique_ptr<ir::Graph> import(Logger& logger,
                                    const onnx_import::ImportOptions& options = any_op_is_defined(),
                                    const std::string& base_dir = ".") const {
    std::string b = bytes();
    return onnx_import::import_onnx_bytes(b.data(), b.size(), base_dir, logger, options);
  }
  std::unique_ptr<ir::Graph> import() const { return import(null_logger()); }

  onnx::ModelProto model;
  onnx::GraphProto* graph;
};

// y = x * w with w a float [2] initializer stored as external data at `location`.
inline ModelBuilder model_with_external_weights(const std::string& location) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  auto* w = m.graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value(location);
  m.node("Mul", {"x", "w"}, {"y"});
  m.output("y");
  return m;
}

// ----- attribute setters
inline void set_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void set_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
inline void set_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
inline void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void set_floats(onnx::NodeProto* n, const std::string& name, const std::vector<float>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOATS);
  for (float x : v) a->add_floats(x);
}
inline void set_tensor(onnx::NodeProto* n, const std::string& name, const Tensor& t) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::TENSOR);
  onnx_import::tensor_to_proto(t, "", *a->mutable_t());
}
inline onnx::GraphProto* set_graph(onnx::NodeProto* n, const std::string& name) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name(name);
  return a->mutable_g();
}

// ----- looking at the imported graph
inline std::vector<std::string> op_sequence(const ir::Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes()) ops.push_back(n->op);
  return ops;
}
inline const ir::Node* find_node(const ir::Graph& g, const std::string& op, int occurrence = 0) {
  for (const auto& n : g.nodes()) {
    if (n->op == op && occurrence-- == 0) return n.get();
  }
  return nullptr;
}
// The node producing graph output i.
inline const ir::Node* output_producer(const ir::Graph& g, size_t i = 0) {
  return g.outputs().at(i)->producer;
}
inline std::vector<int64_t> constant_ints(const ir::Value* v) {
  EXPECT_NE(v, nullptr);
  if (v == nullptr || !v->is_constant()) {
    ADD_FAILURE() << "value " << (v ? v->name : "null") << " is not a constant";
    return {};
  }
  return v->constant->to_int64_vector();
}
inline std::vector<double> constant_doubles(const ir::Value* v) {
  EXPECT_NE(v, nullptr);
  if (v == nullptr || !v->is_constant()) {
    ADD_FAILURE() << "value " << (v ? v->name : "null") << " is not a constant";
    return {};
  }
  return v->constant->to_double_vector();
}

inline Tensor f32_tensor(Dims shape, std::vector<float> values) {
  return Tensor::from_vector<float>(DataType::kFloat32, std::move(shape), values);
}
inline Tensor i64_tensor(Dims shape, std::vector<int64_t> values) {
  return Tensor::from_vector<int64_t>(DataType::kInt64, std::move(shape), values);
}

// A fresh, empty folder under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("kiln_onnx_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const std::string& bytes) const {
    std::filesystem::create_directories((path_ / name).parent_path());
    std::ofstream out(path_ / name, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
  }

 private:
  std::filesystem::path path_;
};

// Runs `fn`, expecting kiln::Error with `code`; returns the message ("" when none was thrown).
template <typename Fn>
std::string error_message(Fn&& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kiln::Error(" << to_string(code) << ")";
  return "";
}

}  // namespace kiln::testing

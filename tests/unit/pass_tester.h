// The one tester of graph passes: each pass test checks the rewritten graph's structure (ops,
// operands, attributes, or the whole graph against one built by hand as the pass should leave
// it) and that the outputs before and after the rewrite agree. Graphs are evaluated on the host
// by the reference computes: the inputs are set as constants on a copy and shape-time
// evaluation computes every output (so the graphs stay small, see ops::kMaxShapeTimeElements).
//
//   PassTester t(g, {{"x", x}});              // evaluates g once, before
//   EXPECT_EQ(t.run([&](ir::Graph& graph) { return recognize_gelu(graph); }), 1u);
//   EXPECT_EQ(structure(g), structure(*expected));
//   t.expect_same_values({.abs = 2e-6});      // after, against before
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "ir/graph.h"
#include "ir/verifier.h"
#include "ops/shape_inference.h"

namespace kiln::pass_testing {

// A graph's inputs by name.
using Inputs = std::map<std::string, Tensor>;
// Every output's values, in the graph's output order.
using Outputs = std::vector<std::vector<double>>;

inline Tensor f32(Dims shape, std::vector<float> v) {
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v);
}
inline Tensor scalar(float v) { return f32({}, {v}); }

// Values uniform in [-1, 1) from a seeded mt19937, drawn in float32 and cast to `dtype`.
inline Tensor random_tensor(DataType dtype, Dims shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(size_t(volume(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v).cast(dtype);
}

inline std::map<std::string, Dims> shapes_of(const Inputs& inputs) {
  std::map<std::string, Dims> shapes;
  for (const auto& [name, tensor] : inputs) shapes[name] = tensor.shape();
  return shapes;
}

// Every output of `graph` with its inputs set to `inputs` (each input named there).
inline Outputs evaluate(const ir::Graph& graph, const Inputs& inputs) {
  auto copy = graph.clone();
  for (ir::Value* in : copy->inputs()) in->constant = inputs.at(in->name);
  const ops::ResolvedShapes r = ops::resolve_shapes(*copy, shapes_of(inputs));
  Outputs out;
  for (const ir::Value* o : copy->outputs()) out.push_back(r.values.at(o).to_double_vector());
  return out;
}

// What a rewritten value may differ by: |got - want| <= abs + rel * |want|. Zero: equal.
struct Tolerance {
  double abs = 0;
  double rel = 0;
};

inline void expect_close(const Outputs& got, const Outputs& want, Tolerance tolerance) {
  ASSERT_EQ(got.size(), want.size()) << "outputs";
  for (size_t o = 0; o < want.size(); ++o) {
    ASSERT_EQ(got[o].size(), want[o].size()) << "output " << o;
    for (size_t i = 0; i < want[o].size(); ++i) {
      if (tolerance.abs == 0 && tolerance.rel == 0) {
        EXPECT_EQ(got[o][i], want[o][i]) << "output " << o << ", element " << i;
      } else {
        EXPECT_NEAR(got[o][i], want[o][i], tolerance.abs + tolerance.rel * std::abs(want[o][i]))
            << "output " << o << ", element " << i;
      }
    }
  }
}

// What run_pipeline does after every pass: dead-code elimination, then the verifier.
inline void clean_up(ir::Graph& graph) {
  graph.remove_dead_code();
  ir::verify(graph);
}

// Holds a graph under test and its inputs; remembers the outputs from before any rewrite.
class PassTester {
 public:
  PassTester(ir::Graph& graph, Inputs inputs)
      : graph_(graph), inputs_(std::move(inputs)), before_(evaluate(graph_, inputs_)) {}

  // The graph resolved at the inputs' shapes: the one profile point passes are given.
  std::vector<ops::ResolvedShapes> points() const {
    return {ops::resolve_shapes(graph_, shapes_of(inputs_))};
  }

  // Applies `rewrite` (a callable taking ir::Graph&: a pass's function, or a lambda running
  // several), then clean_up; returns what the rewrite returned (its count of rewrites). May be
  // called again for the next pass: values are always compared with those before the first.
  template <typename Rewrite>
  decltype(auto) run(Rewrite&& rewrite) {
    if constexpr (std::is_void_v<std::invoke_result_t<Rewrite&, ir::Graph&>>) {
      rewrite(graph_);
      clean_up(graph_);
    } else {
      auto result = rewrite(graph_);
      clean_up(graph_);
      return result;
    }
  }

  const Outputs& before() const { return before_; }
  Outputs after() const { return evaluate(graph_, inputs_); }

  // The outputs now agree with those before the first rewrite.
  void expect_same_values(Tolerance tolerance = {}) const {
    expect_close(after(), before_, tolerance);
  }

 private:
  ir::Graph& graph_;
  Inputs inputs_;
  Outputs before_;
};

// ---- Structure ----

inline std::vector<std::string> ops_of(const ir::Graph& graph) {
  std::vector<std::string> ops;
  for (const auto& n : graph.nodes()) ops.push_back(n->op);
  return ops;
}

inline size_t count_ops(const ir::Graph& graph, const std::string& op) {
  size_t n = 0;
  for (const auto& node : graph.nodes()) n += node->op == op ? 1 : 0;
  return n;
}

// The graph's only node (expected to be the only one); nullptr when it has none.
inline const ir::Node* only_node(const ir::Graph& graph) {
  EXPECT_EQ(graph.nodes().size(), 1u);
  return graph.nodes().empty() ? nullptr : graph.nodes().front().get();
}

// The only node with `op` (expected to be at most one); nullptr when there is none.
inline const ir::Node* only_node(const ir::Graph& graph, const std::string& op) {
  const ir::Node* found = nullptr;
  for (const auto& n : graph.nodes()) {
    if (n->op == op) {
      EXPECT_EQ(found, nullptr) << "more than one " << op;
      found = n.get();
    }
  }
  return found;
}

namespace detail {

template <typename T>
std::string join(const std::vector<T>& items) {
  std::ostringstream out;
  out.precision(17);
  for (size_t i = 0; i < items.size(); ++i) out << (i ? "," : "") << items[i];
  return out.str();
}

inline std::string attribute_text(const ir::Attribute& attr) {
  struct Visitor {
    std::string operator()(int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const {
      std::ostringstream o;
      o.precision(17);
      o << v;
      return o.str();
    }
    std::string operator()(const std::string& v) const { return '"' + v + '"'; }
    std::string operator()(const Tensor& t) const {
      return cat("tensor<", to_string(t.dtype()), "[", to_string(t.shape()), "]>");
    }
    std::string operator()(const std::shared_ptr<ir::Graph>& g) const {
      return cat("graph<", g ? g->nodes().size() : 0, " nodes>");
    }
    std::string operator()(const std::vector<int64_t>& v) const { return cat("[", join(v), "]"); }
    std::string operator()(const std::vector<double>& v) const { return cat("[", join(v), "]"); }
    std::string operator()(const std::vector<std::string>& v) const {
      return cat("[", join(v), "]");
    }
    std::string operator()(const std::vector<Tensor>& v) const {
      return cat("tensors<", v.size(), ">");
    }
    std::string operator()(const std::vector<std::shared_ptr<ir::Graph>>& v) const {
      return cat("graphs<", v.size(), ">");
    }
  };
  return std::visit(Visitor{}, attr);
}

// A constant by its contents: type, extents and values (small ones in full, larger ones as a
// hash of the values), never by its name.
inline std::string constant_text(const Tensor& t) {
  const std::vector<double> v = t.to_double_vector();
  std::ostringstream out;
  out.precision(9);
  out << "const " << to_string(t.dtype()) << "[" << to_string(t.shape()) << "]";
  if (v.size() <= 8) {
    out << "{";
    for (size_t i = 0; i < v.size(); ++i) out << (i ? "," : "") << v[i];
    out << "}";
  } else {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the values' bits
    for (double d : v) {
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      for (int b = 0; b < 8; ++b) h = (h ^ ((bits >> (8 * b)) & 0xff)) * 1099511628211ull;
    }
    out << "#" << std::hex << h;
  }
  return out.str();
}

}  // namespace detail

// The graph as what it computes, one node a line in order: op, operands, attributes, and the
// graph's inputs and outputs by name. Node names and the names of values inside the graph are
// left out (values made inside are numbered in order of definition, constants appear by
// contents), so a graph a pass rewrote compares equal to one built by hand as it should be.
inline std::string structure(const ir::Graph& graph) {
  std::unordered_map<const ir::Value*, std::string> names;
  std::ostringstream out;
  for (const ir::Value* in : graph.inputs()) {
    names[in] = in->name;
    out << "input " << in->name << ": " << to_string(in->dtype) << "\n";
  }
  auto operand = [&](const ir::Value* v) -> std::string {
    if (!v) return "_";
    if (auto it = names.find(v); it != names.end()) return it->second;
    if (v->is_constant()) return detail::constant_text(*v->constant);
    return "?" + v->name;  // defined by nothing before this node
  };
  size_t defined = 0;
  for (const auto& node : graph.nodes()) {
    std::ostringstream line;
    for (size_t i = 0; i < node->outputs.size(); ++i) {
      std::string name = "_";
      if (const ir::Value* o = node->outputs[i]) names[o] = name = "%" + std::to_string(defined++);
      line << (i ? ", " : "") << name;
    }
    line << " = " << node->op << "(";
    for (size_t i = 0; i < node->inputs.size(); ++i)
      line << (i ? ", " : "") << operand(node->inputs[i]);
    line << ")";
    if (!node->attrs.empty()) {
      line << " {";
      bool first = true;
      for (const auto& [key, attr] : node->attrs) {  // Attributes is an ordered map
        line << (first ? "" : ", ") << key << "=" << detail::attribute_text(attr);
        first = false;
      }
      line << "}";
    }
    out << line.str() << "\n";
  }
  for (const ir::Value* o : graph.outputs())
    out << "output " << o->name << " = " << operand(o) << "\n";
  return out.str();
}

}  // namespace kiln::pass_testing

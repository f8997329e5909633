#include "passes/gelu_recognition.h"

#include <cmath>
#include <optional>
#include <unordered_set>

#include "passes/graph_queries.h"

namespace kiln::passes {

namespace {

class GeluMatcher {
 public:
  explicit GeluMatcher(ir::Graph& graph) : graph_(graph) {}

  size_t run() {
    std::vector<ir::Node*> anchors;
    for (auto& node : graph_.nodes()) {
      if ((node->op == "Tanh" || node->op == "Erf") && node->inputs.size() == 1)
        anchors.push_back(node.get());
    }
    size_t replaced = 0;
    for (ir::Node* anchor : anchors) replaced += match(anchor) ? 1 : 0;
    return replaced;
  }

 private:
  // Whether `v` is x cubed (Pow(x, 3), x * (x * x) or (x * x) * x), recording its nodes.
  bool is_cube_of(const ir::Value* v, const ir::Value* x, const ir::Node* reader) {
    if (ir::Node* p = producer_read_only_by(graph_, v, "Pow", reader)) {
      if (p->inputs.size() == 2 && p->inputs[0] == x && is_scalar_near(p->inputs[1], 3.0)) {
        nodes_.push_back(p);
        return true;
      }
      return false;
    }
    ir::Node* outer = producer_read_only_by(graph_, v, "Mul", reader);
    if (!outer || outer->inputs.size() != 2) return false;
    for (int i = 0; i < 2; ++i) {
      if (outer->inputs[size_t(i)] != x) continue;
      ir::Node* square = producer_read_only_by(graph_, outer->inputs[size_t(1 - i)], "Mul", outer);
      if (square && square->inputs.size() == 2 && square->inputs[0] == x &&
          square->inputs[1] == x) {
        nodes_.push_back(outer);
        nodes_.push_back(square);
        return true;
      }
    }
    return false;
  }

  // tanh's argument sqrt(2/pi) * (x + 0.044715 * x^3): x, or nullptr.
  ir::Value* tanh_argument(ir::Node* tanh) {
    ir::Node* scale = producer_read_only_by(graph_, tanh->inputs[0], "Mul", tanh);
    ir::Value* sum_value = operand_times_scalar(scale, 0.7978845608028654);
    ir::Node* sum = producer_read_only_by(graph_, sum_value, "Add", scale);
    if (!sum || sum->inputs.size() != 2) return nullptr;
    for (int i = 0; i < 2; ++i) {
      ir::Value* x = sum->inputs[size_t(i)];
      ir::Node* cubic = producer_read_only_by(graph_, sum->inputs[size_t(1 - i)], "Mul", sum);
      ir::Value* cube = operand_times_scalar(cubic, 0.044715);
      const size_t mark = nodes_.size();
      if (cube && is_cube_of(cube, x, cubic)) {
        nodes_.insert(nodes_.end(), {scale, sum, cubic});
        return x;
      }
      nodes_.resize(mark);
    }
    return nullptr;
  }

  // erf's argument x / sqrt(2) or x * (1 / sqrt(2)): x, or nullptr.
  ir::Value* erf_argument(ir::Node* erf) {
    const ir::Value* v = erf->inputs[0];
    if (ir::Node* div = producer_read_only_by(graph_, v, "Div", erf)) {
      if (div->inputs.size() == 2 && is_scalar_near(div->inputs[1], std::sqrt(2.0))) {
        nodes_.push_back(div);
        return div->inputs[0];
      }
      return nullptr;
    }
    ir::Node* mul = producer_read_only_by(graph_, v, "Mul", erf);
    ir::Value* x = operand_times_scalar(mul, 1.0 / std::sqrt(2.0));
    if (x) nodes_.push_back(mul);
    return x;
  }

  // 0.5 * x * bracket, in any of its groupings, from the node reading `bracket`: the final node.
  ir::Node* half_x_times(ir::Value* bracket, const ir::Value* x) {
    ir::Node* reader = sole_reader(graph_, bracket);
    if (!reader || reader->op != "Mul") return nullptr;
    ir::Value* other = other_operand(reader, bracket);
    if (!other) return nullptr;
    if (other == x) {  // (x * bracket) * 0.5
      ir::Node* half = sole_reader(graph_, reader->outputs[0]);
      if (!half || half->op != "Mul" || operand_times_scalar(half, 0.5) != reader->outputs[0]) {
        return nullptr;
      }
      nodes_.push_back(reader);
      return half;
    }
    if (ir::Node* half_x = producer_read_only_by(graph_, other, "Mul", reader);
        half_x && operand_times_scalar(half_x, 0.5) == x) {
      nodes_.push_back(half_x);  // (0.5 * x) * bracket
      return reader;
    }
    if (is_scalar_near(other, 0.5)) {  // (bracket * 0.5) * x
      ir::Node* last = sole_reader(graph_, reader->outputs[0]);
      if (!last || last->op != "Mul" || other_operand(last, reader->outputs[0]) != x)
        return nullptr;
      nodes_.push_back(reader);
      return last;
    }
    return nullptr;
  }

  bool match(ir::Node* anchor) {
    nodes_.clear();
    const bool tanh = anchor->op == "Tanh";
    ir::Value* x = tanh ? tanh_argument(anchor) : erf_argument(anchor);
    if (!x) return false;
    ir::Node* plus_one = sole_reader(graph_, anchor->outputs[0]);
    if (!plus_one || plus_one->op != "Add" || !operand_times_scalar(plus_one, 1.0)) return false;
    ir::Node* last = half_x_times(plus_one->outputs[0], x);
    if (!last || !last->outputs[0]) return false;
    nodes_.insert(nodes_.end(), {anchor, plus_one, last});

    ir::Attributes attrs;
    if (tanh) attrs["approximate"] = std::string("tanh");
    const std::string name = graph_.unique_name(anchor->name + "_gelu");
    // Moved before a Reshape whose output only the pattern reads.
    ir::Node* reshape = x->producer;
    if (reshape && reshape->op == "Reshape" && reshape->inputs.size() == 2 &&
        !is_graph_output(graph_, x) && only_pattern_reads(x)) {
      ir::Value* y = reshape->inputs[0];
      ir::Node* gelu = graph_.insert_node(position_of(graph_, last), "Gelu", name, {y},
                                          {graph_.unique_name(name + "_out")}, attrs);
      insert_replacement(graph_, last, "Reshape", graph_.unique_name(reshape->name + "_after_gelu"),
                         {gelu->outputs[0], reshape->inputs[1]}, reshape->attrs);
    } else {
      insert_replacement(graph_, last, "Gelu", name, {x}, attrs);
    }
    graph_.erase_node(last);
    return true;
  }

  bool only_pattern_reads(const ir::Value* x) const {
    const std::unordered_set<const ir::Node*> pattern(nodes_.begin(), nodes_.end());
    for (const ir::Node* reader : graph_.users(x)) {
      if (!pattern.count(reader)) return false;
    }
    return true;
  }

  ir::Graph& graph_;
  std::vector<ir::Node*> nodes_;  // the current match's nodes
};

}  // namespace

size_t recognize_gelu(ir::Graph& graph) { return GeluMatcher(graph).run(); }

namespace {

class GeluRecognition : public Pass {
 public:
  std::string name() const override { return "gelu_recognition"; }
  bool apply(ir::Graph& graph) override {
    recognized_ = recognize_gelu(graph);
    return recognized_ > 0;
  }
  std::string summary() const override {
    return recognized_ ? cat("GELU written out in elementary ops: ", recognized_) : std::string();
  }

 private:
  size_t recognized_ = 0;
};

}  // namespace

std::unique_ptr<Pass> make_gelu_recognition() { return std::make_unique<GeluRecognition>(); }

}  // namespace kiln::passes

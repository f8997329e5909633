#include "passes/mixed_precision.h"

#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/half.h"

namespace kiln::passes {

namespace {

constexpr int kAll = -1;

const std::map<std::string, LowPrecisionPositions, std::less<>>& allow_list() {
  static const std::map<std::string, LowPrecisionPositions, std::less<>> table = [] {
    std::map<std::string, LowPrecisionPositions, std::less<>> t;
    // Every input and output is T.
    for (const char* op : {"Add",
                           "Sub",
                           "Mul",
                           "Div",
                           "Max",
                           "Min",
                           "Sum",
                           "Mean",
                           "Concat",
                           "Relu",
                           "Sigmoid",
                           "Tanh",
                           "Erf",
                           "Gelu",
                           "Sqrt",
                           "Neg",
                           "Abs",
                           "Reciprocal",
                           "LeakyRelu",
                           "Elu",
                           "Selu",
                           "HardSigmoid",
                           "HardSwish",
                           "Softplus",
                           "Softsign",
                           "Mish",
                           "PRelu",
                           "Clip",
                           "Identity",
                           "Softmax",
                           "LogSoftmax",
                           "MatMul",
                           "FusedMatMul",
                           "Gemm",
                           "Conv",
                           "ConvTranspose",
                           "InstanceNormalization",
                           "GroupNormalization"}) {
      t[op] = {{kAll}, {kAll}};
    }
    // T is the first input (the others are indices, shapes or axes) and the outputs.
    for (const char* op :
         {"Transpose",  "Reshape",      "Flatten",        "Squeeze",           "Unsqueeze",
          "Slice",      "Gather",       "GatherElements", "GatherND",          "Split",
          "Expand",     "Tile",         "Resize",         "ReduceMean",        "ReduceMax",
          "ReduceMin",  "DepthToSpace", "SpaceToDepth",   "GlobalAveragePool", "GlobalMaxPool",
          "AveragePool"}) {
      t[op] = {{0}, {kAll}};
    }
    t["MaxPool"] = {{0}, {0}};                   // output 1: int64 indices
    t["Pad"] = {{0, 2}, {0}};                    // input 2: the constant value
    t["Where"] = {{1, 2}, {0}};                  // input 0: the condition
    t["LayerNormalization"] = {{0, 1, 2}, {0}};  // mean and inverse std stay float32
    // Q, K, V, a float mask, past key/value (a boolean mask and nonpad_kv_seqlen are not
    // float32, so they stay); the fused kernel keeps the softmax in float32.
    t["Attention"] = {{0, 1, 2, 3, 4, 5}, {kAll}};
    t["BatchNormalization"] = {{0, 1, 2, 3, 4}, {0}};  // inference form
    // Tests of float values: the inputs may be low, the bool result is not T.
    for (const char* op :
         {"IsNaN", "IsInf", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) {
      t[op] = {{kAll}, {}};
    }
    return t;
  }();
  return table;
}

bool listed(const std::vector<int>& positions, size_t i) {
  for (int p : positions) {
    if (p == kAll || p == int(i)) return true;
  }
  return false;
}

// Ops that read only their input's shape: they may read a low value as it is.
bool reads_only_shape(const std::string& op) { return op == "Shape" || op == "Size"; }

float largest_finite(DataType low) {
  return low == DataType::kFloat16 ? 65504.0f : std::numeric_limits<float>::max();
}

uint16_t to_low_bits(float v, DataType low) {
  return low == DataType::kFloat16 ? float_to_fp16(v) : float_to_bf16(v);
}
float from_low_bits(uint16_t v, DataType low) {
  return low == DataType::kFloat16 ? fp16_to_float(v) : bf16_to_float(v);
}

// The constant in the low type, saturated; nullopt when small values it depends on would
// become zero: any of a small constant's (an epsilon, a scale), or, of a large one's, values
// carrying more than 1% of its magnitude (the sum of |v|). Weights and biases whose tiniest
// entries flush are fine, as in TensorRT, which converts them with a warning: those entries
// hardly move a product or a sum (freshly initialized biases of std 1e-6, ViT's, flush 2% of
// their entries by count but 0.1% of their magnitude), while a tensor of nothing but tiny values
// stays float32.
std::optional<Tensor> convert_constant(const Tensor& t, DataType low) {
  Tensor out = Tensor::zeros(low, t.shape());
  const float* src = t.data<float>();
  uint16_t* dst = out.data<uint16_t>();
  const float limit = largest_finite(low);
  double magnitude = 0.0, flushed_magnitude = 0.0;
  bool flushed = false;
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v = src[i];
    if (std::isfinite(v)) v = std::clamp(v, -limit, limit);
    dst[i] = to_low_bits(v, low);
    if (v == 0.0f || !std::isfinite(v)) continue;
    magnitude += std::fabs(double(v));
    if (from_low_bits(dst[i], low) == 0.0f) {
      flushed = true;
      flushed_magnitude += std::fabs(double(v));
    }
  }
  constexpr int64_t kSmallConstant = 64;
  if (flushed && (t.numel() <= kSmallConstant || flushed_magnitude > 0.01 * magnitude)) {
    return std::nullopt;
  }
  return out;
}

class MixedPrecision {
 public:
  MixedPrecision(ir::Graph& graph, const MixedPrecisionOptions& options)
      : graph_(graph), options_(options), resolved_(*options.resolved) {}

  size_t run() {
    std::vector<ir::Node*> order;
    for (auto& node : graph_.nodes()) order.push_back(node.get());
    size_t converted = 0;
    for (ir::Node* node : order) {
      if (try_lower(*node)) {
        ++converted;
      } else {
        read_float32(*node);
      }
    }
    restore_graph_outputs();
    return converted;
  }

 private:
  bool is_float32(const ir::Value* v) const {
    return v && resolved_.desc.count(v) && resolved_.of(v).dtype == DataType::kFloat32;
  }
  bool host_known(const ir::Value* v) const { return resolved_.values.count(v) != 0; }
  std::list<std::unique_ptr<ir::Node>>::iterator position_of(const ir::Node& node) {
    for (auto it = graph_.nodes().begin(); it != graph_.nodes().end(); ++it) {
      if (it->get() == &node) return it;
    }
    fail(ErrorCode::kInternal, "mixed precision: ", node.describe(), " is not in the graph");
  }

  // A Cast of `value` to `to`, inserted before `user`; one per value and type.
  ir::Value* cast_before(ir::Node& user, ir::Value* value, DataType to) {
    auto& cache = to == DataType::kFloat32 ? float32_twin_ : low_twin_;
    if (auto it = cache.find(value); it != cache.end()) return it->second;
    const std::string suffix = to == DataType::kFloat32 ? "_fp32" : "_lowp";
    ir::Node* cast = graph_.insert_node(position_of(user), "Cast",
                                        graph_.unique_name(value->name + "_cast" + suffix), {value},
                                        {value->name + suffix}, {{"to", int64_t(to)}});
    cache[value] = cast->outputs[0];
    return cast->outputs[0];
  }

  bool try_lower(ir::Node& node) {
    const LowPrecisionPositions* positions = low_precision_positions(node.op);
    if (!positions) return false;
    bool all_outputs_host = true;
    for (const ir::Value* out : node.outputs) {
      if (out && !host_known(out)) all_outputs_host = false;
    }
    if (all_outputs_host) return false;  // shape arithmetic stays as it is

    // The types the node would have: float32 (or already low) T operands become low.
    std::vector<DataType> in_types, out_types;
    std::vector<std::optional<Tensor>> converted(node.inputs.size());
    bool any = false;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ir::Value* in = node.inputs[i];
      DataType t = in && resolved_.desc.count(in) ? resolved_.of(in).dtype : DataType::kFloat32;
      if (in && listed(positions->inputs, i) && (is_float32(in) || low_values_.count(in))) {
        if (in->is_constant()) {
          converted[i] = convert_constant(*in->constant, options_.low);
          if (!converted[i]) return false;  // would lose a small constant such as an epsilon
        }
        t = options_.low;
        any = true;
      }
      in_types.push_back(t);
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ir::Value* out = node.outputs[i];
      DataType t = out && resolved_.desc.count(out) ? resolved_.of(out).dtype : DataType::kFloat32;
      if (out && listed(positions->outputs, i) && is_float32(out)) t = options_.low;
      out_types.push_back(t);
    }
    if (!any || !options_.backend_supports(node, in_types, out_types)) return false;

    for (size_t i = 0; i < node.inputs.size(); ++i) {
      ir::Value* in = node.inputs[i];
      if (!in || in_types[i] != options_.low || low_values_.count(in)) continue;
      if (converted[i]) {
        auto it = low_constants_.find(in);
        if (it == low_constants_.end()) {
          it = low_constants_
                   .emplace(in, graph_.add_constant(in->name + "_lowp", std::move(*converted[i])))
                   .first;
        }
        node.inputs[i] = it->second;
      } else {
        node.inputs[i] = cast_before(node, in, options_.low);
      }
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] && out_types[i] == options_.low && is_float32(node.outputs[i])) {
        low_values_.insert(node.outputs[i]);
      }
    }
    // Positions that are not T but read a low value (rare): float32 twins.
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      ir::Value* in = node.inputs[i];
      if (in && low_values_.count(in) && !listed(positions->inputs, i)) {
        node.inputs[i] = cast_before(node, in, DataType::kFloat32);
      }
    }
    return true;
  }

  void read_float32(ir::Node& node) {
    if (reads_only_shape(node.op)) return;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      ir::Value* in = node.inputs[i];
      if (in && low_values_.count(in)) node.inputs[i] = cast_before(node, in, DataType::kFloat32);
    }
  }

  // Graph outputs keep their names and float32: the low value is renamed, and a Cast at the
  // end of the graph writes the output.
  void restore_graph_outputs() {
    for (ir::Value*& out : graph_.mutable_outputs()) {
      if (!low_values_.count(out)) continue;
      const std::string name = out->name;
      ir::Value* low = out;
      graph_.rename_value(low, graph_.unique_name(name + "_lowp"));
      ir::Node* cast = graph_.add_node("Cast", graph_.unique_name(name + "_cast_fp32"), {low},
                                       {name}, {{"to", int64_t(DataType::kFloat32)}});
      out = cast->outputs[0];
    }
  }

  ir::Graph& graph_;
  const MixedPrecisionOptions& options_;
  const ops::ResolvedShapes& resolved_;
  std::unordered_set<const ir::Value*> low_values_;  // float32 values now computed low
  std::unordered_map<const ir::Value*, ir::Value*> low_twin_, float32_twin_;
  std::unordered_map<const ir::Value*, ir::Value*> low_constants_;
};

}  // namespace

const LowPrecisionPositions* low_precision_positions(const std::string& op) {
  auto it = allow_list().find(op);
  return it == allow_list().end() ? nullptr : &it->second;
}

size_t apply_mixed_precision(ir::Graph& graph, const MixedPrecisionOptions& options) {
  KILN_CHECK(options.low == DataType::kFloat16 || options.low == DataType::kBFloat16,
             ErrorCode::kInvalidArgument,
             "mixed precision: the low type must be float16 or bfloat16");
  KILN_CHECK(options.resolved && options.backend_supports, ErrorCode::kInternal,
             "mixed precision: resolved shapes and a backend check are required");
  return MixedPrecision(graph, options).run();
}

namespace {

class MixedPrecisionPass : public Pass {
 public:
  MixedPrecisionPass(const PassContext& context, DataType low, BackendTypeSupport supports)
      : context_(context), low_(low), supports_(std::move(supports)) {}
  std::string name() const override { return "mixed_precision"; }
  bool apply(ir::Graph& graph) override {
    const ops::ResolvedShapes& opt_point = context_.points.at(1);  // the first profile's opt shapes
    MixedPrecisionOptions options;
    options.low = low_;
    options.resolved = &opt_point;
    options.backend_supports = [&](const ir::Node& node, const std::vector<DataType>& ins,
                                   const std::vector<DataType>& outs) {
      return supports_(node, opt_point, ins, outs);
    };
    const size_t nodes_before = graph.nodes().size();
    lowered_ = apply_mixed_precision(graph, options);
    return lowered_ > 0 ||
           graph.nodes().size() != nodes_before;  // Casts may come without a layer moving
  }
  std::string summary() const override {
    return cat("mixed precision: ", lowered_, " layers run in ", to_string(low_));
  }

 private:
  const PassContext& context_;
  const DataType low_;
  const BackendTypeSupport supports_;
  size_t lowered_ = 0;
};

}  // namespace

std::unique_ptr<Pass> make_mixed_precision(const PassContext& context, DataType low,
                                           BackendTypeSupport supports) {
  return std::make_unique<MixedPrecisionPass>(context, low, std::move(supports));
}

}  // namespace kiln::passes

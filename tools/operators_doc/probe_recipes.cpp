// Probe recipes (dtype_probe.h): how to build a small valid node of each op. The generic
// default suits ops whose inputs all share one type and any shape; the table below covers ops
// with index, shape, axis or condition inputs, attributes they require, or shapes they need.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "dtype_probe.h"
#include "ir/graph.h"

namespace kiln::opsdoc {
namespace {

using Kind = ProbeInput::Kind;

const Dims kDefaultShape = {1, 2, 2, 2};

ProbeInput data(Dims shape = kDefaultShape, std::vector<double> values = {}) {
  return ProbeInput{Kind::kProbed, DataType::kFloat32, std::move(shape), std::move(values)};
}
ProbeInput fixed(DataType dtype, Dims shape, std::vector<double> values = {}) {
  return ProbeInput{Kind::kFixed, dtype, std::move(shape), std::move(values)};
}
// A 1-D int64 operand with the given contents (shapes, axes, pads, ...).
ProbeInput ints(std::vector<double> values) {
  const int64_t n = int64_t(values.size());
  return fixed(DataType::kInt64, {n}, std::move(values));
}
ProbeInput omitted() { return ProbeInput{Kind::kOmitted, DataType::kFloat32, {}, {}}; }

ProbeRecipe recipe(std::vector<ProbeInput> inputs, ir::Attributes attrs = {}, int outputs = 1) {
  return ProbeRecipe{"", std::move(inputs), std::move(attrs), outputs, "", nullptr};
}
ProbeRecipe labeled(std::string label, ProbeRecipe r) {
  r.label = std::move(label);
  return r;
}

ProbeRecipe with_dtype_attr(std::string attr, ProbeRecipe r) {
  r.dtype_attr = std::move(attr);
  return r;
}

// A body graph for If/Loop/Scan: `inputs` (name, dtype, shape; kProbedType stands for the probed
// dtype) and one Identity per output, passing through body input output_sources[k].
struct BodyInput {
  std::string name;
  std::optional<DataType> dtype;  // nullopt: the probed dtype
  Dims shape;
};

std::shared_ptr<ir::Graph> identity_body(const std::vector<BodyInput>& inputs,
                                         const std::vector<size_t>& output_sources,
                                         DataType probed) {
  auto body = std::make_shared<ir::Graph>();
  body->name = "body";
  std::vector<ir::Value*> values;
  values.reserve(inputs.size());
  for (const BodyInput& in : inputs) {
    values.push_back(body->add_input(in.name, in.dtype.value_or(probed), ir::from_dims(in.shape)));
  }
  for (size_t k = 0; k < output_sources.size(); ++k) {
    ir::Node* n =
        body->add_node("Identity", cat("pass", k), {values[output_sources[k]]}, {cat("out", k)});
    body->mark_output(n->outputs[0]);
  }
  return body;
}

std::map<std::string, std::vector<ProbeRecipe>> make_table() {
  using T = DataType;
  const T f32 = T::kFloat32, i64 = T::kInt64, u8 = T::kUInt8, b = T::kBool;
  std::map<std::string, std::vector<ProbeRecipe>> t;
  auto one = [&](const std::string& op, ProbeRecipe r) { t[op] = {std::move(r)}; };

  // ----- elementwise with a fixed-type operand, or several inputs of independent types
  one("Where", recipe({fixed(b, kDefaultShape), data(), data()}));
  t["Pow"] = {labeled("X", recipe({data(), fixed(f32, kDefaultShape)})),
              labeled("Y", recipe({fixed(f32, kDefaultShape), data()}))};
  one("BitShift", recipe({data(), data()}, {{"direction", std::string("LEFT")}}));
  for (const char* op : {"Max", "Min", "Mean", "Sum"}) one(op, recipe({data(), data()}));
  t["CastLike"] = {labeled("input", recipe({data(), fixed(f32, {1})})),
                   labeled("target_type", recipe({fixed(f32, kDefaultShape), data({1})}))};
  t["Cast"] = {labeled("input", recipe({data()}, {{"to", int64_t(f32)}})),
               labeled("to", with_dtype_attr("to", recipe({fixed(f32, kDefaultShape)})))};
  // The probed type is both the input's and `to` (BitCast needs equal widths).
  one("BitCast", with_dtype_attr("to", recipe({data()})));
  one("Clip", recipe({data(), data({}, {0}), data({}, {6})}));

  // ----- shape and data movement: int64 operands
  one("Concat", recipe({data(), data()}, {{"axis", int64_t(1)}}));
  one("Split", recipe({data()}, {{"axis", int64_t(1)}, {"num_outputs", int64_t(2)}}, 2));
  one("Reshape", recipe({data(), ints({2, 4})}));
  one("Expand", recipe({data(), ints({2, 1, 2, 2})}));
  one("Tile", recipe({data(), ints({1, 1, 1, 2})}));
  one("Unsqueeze", recipe({data({2, 2}), ints({0})}));
  one("Squeeze", recipe({data(), ints({0})}));
  one("Slice", recipe({data(), ints({0}), ints({1}), ints({1})}));
  one("Pad", recipe({data(), ints({0, 0, 1, 1, 0, 0, 1, 1})}));
  one("CenterCropPad", recipe({data(), ints({1, 2, 1, 3})}));
  one("ConstantOfShape", labeled("value", [] {
        ProbeRecipe r = recipe({ints({2, 3})});
        r.typed_attrs = [](ir::Attributes& a, T d) {
          a["value"] = Tensor::from_vector<double>(T::kFloat64, {1}, {1}).cast(d);
        };
        return r;
      }()));
  t["EyeLike"] = {labeled("input", recipe({data({2, 3})})),
                  labeled("dtype", with_dtype_attr("dtype", recipe({fixed(f32, {2, 3})})))};
  one("Range", recipe({data({}, {0}), data({}, {4}), data({}, {1})}));
  for (const char* op : {"RandomNormal", "RandomUniform"}) {
    one(op, with_dtype_attr("dtype", recipe({}, {{"shape", std::vector<int64_t>{2, 3}}})));
  }
  one("Compress", recipe({data(), fixed(b, {2}, {1, 0})}, {{"axis", int64_t(1)}}));
  one("DepthToSpace", recipe({data({1, 4, 1, 1})}, {{"blocksize", int64_t(2)}}));
  one("SpaceToDepth", recipe({data()}, {{"blocksize", int64_t(2)}}));
  one("ReverseSequence", recipe({data({2, 2}), fixed(i64, {2}, {1, 2})},
                                {{"time_axis", int64_t(0)}, {"batch_axis", int64_t(1)}}));
  one("Col2Im", recipe({data({1, 2, 4}), ints({2, 2}), ints({1, 1})}));

  // ----- indexing: data and indices have independent types
  t["Gather"] = {labeled("data", recipe({data({2, 2}), fixed(i64, {1}, {1})})),
                 labeled("indices", recipe({fixed(f32, {2, 2}), data({1}, {1})}))};
  t["GatherElements"] = {
      labeled("data", recipe({data({2, 2}), fixed(i64, {2, 2}, {0, 1, 1, 0})})),
      labeled("indices", recipe({fixed(f32, {2, 2}), data({2, 2}, {0, 1, 1, 0})}))};
  t["GatherND"] = {labeled("data", recipe({data({2, 2}), fixed(i64, {1, 2}, {1, 0})})),
                   labeled("indices", recipe({fixed(f32, {2, 2}), data({1, 2}, {1, 0})}))};
  t["ScatterElements"] = {
      labeled("data", recipe({data({2, 2}), fixed(i64, {1, 2}, {1, 0}), data({1, 2})})),
      labeled("indices", recipe({fixed(f32, {2, 2}), data({1, 2}, {1, 0}), fixed(f32, {1, 2})}))};
  t["ScatterND"] = {
      labeled("data", recipe({data({2, 2}), fixed(i64, {1, 1}, {1}), data({1, 2})})),
      labeled("indices", recipe({fixed(f32, {2, 2}), data({1, 1}, {1}), fixed(f32, {1, 2})}))};
  t["OneHot"] = {
      labeled("indices", recipe({data({2}, {0, 2}), fixed(i64, {}, {3}), fixed(f32, {2}, {0, 1})})),
      labeled("values", recipe({fixed(i64, {2}, {0, 2}), fixed(i64, {}, {3}), data({2}, {0, 1})}))};
  one("TopK", recipe({data(), fixed(i64, {1}, {1})}, {}, 2));
  for (const char* op : {"CumSum", "CumProd"}) one(op, recipe({data(), fixed(i64, {}, {1})}));
  one("MaxUnpool", recipe({data({1, 1, 2, 2}), fixed(i64, {1, 1, 2, 2}, {0, 2, 8, 10})},
                          {{"kernel_shape", std::vector<int64_t>{2, 2}},
                           {"strides", std::vector<int64_t>{2, 2}}}));

  // ----- convolution, pooling, matrix products
  // 16 output channels: the implicit-GEMM CUDA kernel takes no fewer.
  one("Conv", recipe({data(), data({16, 2, 1, 1}), data({16})}));
  // X [1, 2, 3, 3], W [2, 2, 1, 1], offsets [1, 2 * 1 * 1, 3, 3].
  one("DeformConv", recipe({data({1, 2, 3, 3}), data({2, 2, 1, 1}), data({1, 2, 3, 3})}));
  one("ConvTranspose", recipe({data(), data({2, 1, 2, 2})}));
  for (const char* op : {"AveragePool", "MaxPool", "LpPool"}) {
    one(op, recipe({data()}, {{"kernel_shape", std::vector<int64_t>{2, 2}}}));
  }
  one("LRN", recipe({data()}, {{"size", int64_t(3)}}));
  one("Gemm", recipe({data({2, 2}), data({2, 2}), data({2})}));
  one("FusedMatMul", recipe({data({2, 2}), data({2, 2})}));
  one("Einsum", recipe({data({2, 2}), data({2, 2})}, {{"equation", std::string("ij,jk->ik")}}));
  t["ConvInteger"] = {labeled("x", recipe({data(), fixed(u8, {1, 2, 2, 2})})),
                      labeled("w", recipe({fixed(u8, kDefaultShape), data({1, 2, 2, 2})}))};
  t["MatMulInteger"] = {labeled("A", recipe({data({2, 2}), fixed(u8, {2, 2})})),
                        labeled("B", recipe({fixed(u8, {2, 2}), data({2, 2})}))};
  // Quantized types: x, w and y (and their zero points) share the probed type.
  one("QLinearConv", recipe({data(), fixed(f32, {}), data({}, {0}), data({1, 2, 1, 1}),
                             fixed(f32, {}), data({}, {0}), fixed(f32, {}), data({}, {0})}));
  one("QLinearMatMul", recipe({data({2, 2}), fixed(f32, {}), data({}, {0}), data({2, 2}),
                               fixed(f32, {}), data({}, {0}), fixed(f32, {}), data({}, {0})}));
  t["QuantizeLinear"] = {
      labeled("x", recipe({data(), data({})})),
      labeled("y", recipe({fixed(f32, kDefaultShape), fixed(f32, {}), data({}, {0})}))};
  t["DequantizeLinear"] = {labeled("x", recipe({data(), fixed(f32, {})})),
                           labeled("x_scale", recipe({fixed(T::kInt8, kDefaultShape), data({})}))};

  // ----- normalization
  for (const char* op : {"BatchNormalization"}) {
    one(op, recipe({data(), data({2}), data({2}), data({2}, {0, 0}), data({2})}));
  }
  one("InstanceNormalization", recipe({data(), data({2}), data({2})}));
  one("GroupNormalization", recipe({data(), data({2}), data({2})}, {{"num_groups", int64_t(1)}}));
  one("LayerNormalization", recipe({data(), data({2}), data({2})}));
  one("RMSNormalization", recipe({data(), data({2})}));
  one("RotaryEmbedding", recipe({data(), data({1, 2, 1}), data({1, 2, 1})}));

  // ----- recurrent: X [seq 1, batch 1, input 2], hidden 2, gates per op
  auto rnn = [&](int64_t gates) {
    return recipe({data({1, 1, 2}), data({1, gates * 2, 2}), data({1, gates * 2, 2})},
                  {{"hidden_size", int64_t(2)}});
  };
  one("RNN", rnn(1));
  one("GRU", rnn(3));
  one("LSTM", rnn(4));

  // ----- vision
  t["GridSample"] = {
      labeled("X",
              recipe({data({1, 1, 2, 2}), fixed(f32, {1, 2, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0})})),
      labeled("grid",
              recipe({fixed(f32, {1, 1, 2, 2}), data({1, 2, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0})}))};
  one("AffineGrid", recipe({data({1, 2, 3}, {1, 0, 0, 0, 1, 0}), ints({1, 1, 2, 2})}));
  one("RoiAlign", recipe({data({1, 1, 2, 2}), data({1, 4}, {0, 0, 1, 1}), fixed(i64, {1}, {0})}));
  one("NonMaxSuppression", recipe({data({1, 2, 4}, {0, 0, 1, 1, 0, 0, 1, 1}), data({1, 1, 2})}));
  one("Resize", recipe({data({1, 1, 2, 2}), omitted(), fixed(f32, {4}, {1, 1, 2, 2})}));

  // ----- losses: scores and labels
  t["NegativeLogLikelihoodLoss"] = {
      labeled("input", recipe({data({1, 2}), fixed(i64, {1}, {0})})),
      labeled("target", recipe({fixed(f32, {1, 2}), data({1}, {0})}))};
  t["SoftmaxCrossEntropyLoss"] = {labeled("scores", recipe({data({1, 2}), fixed(i64, {1}, {0})})),
                                  labeled("labels", recipe({fixed(f32, {1, 2}), data({1}, {0})}))};

  // ----- signal processing: sizes are int32/int64 scalars, the output type an attribute
  for (const char* op : {"HannWindow", "HammingWindow", "BlackmanWindow"}) {
    t[op] = {labeled("size", recipe({data({}, {4})})),
             labeled("output_datatype",
                     with_dtype_attr("output_datatype", recipe({fixed(i64, {}, {4})})))};
  }
  one("STFT", recipe({data({1, 8, 1}), fixed(i64, {}, {2}), omitted(), fixed(i64, {}, {4})}));
  t["MelWeightMatrix"] = {
      labeled("lower/upper_edge_hertz",
              recipe({fixed(i64, {}, {2}), fixed(i64, {}, {8}), fixed(i64, {}, {16000}),
                      data({}, {0}), data({}, {8000})})),
      labeled(
          "output_datatype",
          with_dtype_attr("output_datatype",
                          recipe({fixed(i64, {}, {2}), fixed(i64, {}, {8}), fixed(i64, {}, {16000}),
                                  fixed(f32, {}, {0}), fixed(f32, {}, {8000})})))};
  one("TfIdfVectorizer",
      recipe({data({4}, {1, 2, 3, 1})}, {{"mode", std::string("TF")},
                                         {"min_gram_length", int64_t(1)},
                                         {"max_gram_length", int64_t(1)},
                                         {"max_skip_count", int64_t(0)},
                                         {"ngram_counts", std::vector<int64_t>{0}},
                                         {"ngram_indexes", std::vector<int64_t>{0, 1}},
                                         {"pool_int64s", std::vector<int64_t>{1, 2}}}));

  // ----- control flow: bodies that pass their inputs through
  {
    ProbeRecipe r = recipe({fixed(b, {}, {1}), data({2})}, {{"captured_inputs", int64_t(1)}});
    r.typed_attrs = [](ir::Attributes& a, T d) {
      a["then_branch"] = identity_body({{"x", std::nullopt, {2}}}, {0}, d);
      a["else_branch"] = identity_body({{"x", std::nullopt, {2}}}, {0}, d);
    };
    one("If", r);
  }
  {
    ProbeRecipe r = recipe({fixed(i64, {}, {2}), fixed(b, {}, {1}), data({2})});
    r.typed_attrs = [](ir::Attributes& a, T d) {
      a["body"] = identity_body(
          {{"i", T::kInt64, {}}, {"cond", T::kBool, {}}, {"v", std::nullopt, {2}}}, {1, 2}, d);
    };
    one("Loop", r);
  }
  {
    ProbeRecipe r = recipe({data({2}), data({3, 2})}, {{"num_scan_inputs", int64_t(1)}}, 2);
    r.typed_attrs = [](ir::Attributes& a, T d) {
      a["body"] =
          identity_body({{"state", std::nullopt, {2}}, {"x", std::nullopt, {2}}}, {0, 1}, d);
    };
    one("Scan", r);
  }
  return t;
}

}  // namespace

std::vector<ProbeRecipe> recipes_for(const ops::OpDef& def) {
  static const std::map<std::string, std::vector<ProbeRecipe>> table = make_table();
  if (auto it = table.find(def.name); it != table.end()) return it->second;
  const int n = def.min_inputs == 0 && def.max_inputs != 0 ? 1 : def.min_inputs;
  std::vector<ProbeInput> inputs(size_t(n), data());
  return {recipe(std::move(inputs), {}, std::max(def.min_outputs, 1))};
}

}  // namespace kiln::opsdoc

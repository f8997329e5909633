// NetworkDefinition: the layer API over an ir::Graph. Each add_* creates one kiln op (or a
// short chain) with the ONNX-semantics attributes documented in docs/operators.md.
#include <algorithm>
#include <limits>
#include <map>
#include <optional>

#include "builder/network_impl.h"
#include "core/error.h"
#include "ir/printer.h"
#include "ops/op.h"
#include "ops/shape_inference.h"

namespace kiln {

using detail::NetworkImpl;

namespace detail {

ITensor* NetworkImpl::handle(ir::Value* value) {
  if (value == nullptr) return nullptr;
  auto& slot = tensors[value];
  if (!slot) {
    slot.reset(new ITensor());
    slot->value_ = value;
    slot->network_ = this;
  }
  return slot.get();
}

ILayer* NetworkImpl::handle(ir::Node* node) {
  auto& slot = layers[node];
  if (!slot) {
    slot.reset(new ILayer());
    slot->node_ = node;
    slot->network_ = this;
  }
  return slot.get();
}

void NetworkImpl::reset(std::unique_ptr<ir::Graph> new_graph) {
  tensors.clear();
  layers.clear();
  graph = std::move(new_graph);
}

ir::Node* NetworkImpl::add_node(const std::string& op, std::vector<ir::Value*> inputs,
                                int num_outputs, ir::Attributes attrs) {
  KILN_CHECK(ops::OpRegistry::instance().find(op) != nullptr, ErrorCode::kUnsupported,
             "kiln has no op '", op, "' (see docs/operators.md)");
  std::string name = cat(op, "_", next_layer_id++);
  while (graph->find_value(name + "_output_0")) name = cat(op, "_", next_layer_id++);
  std::vector<std::string> outs;
  outs.reserve(size_t(std::max(num_outputs, 0)));
  for (int i = 0; i < num_outputs; ++i) outs.push_back(cat(name, "_output_", i));
  return graph->add_node(op, name, std::move(inputs), outs, std::move(attrs));
}

ir::Value* NetworkImpl::add_constant(Tensor tensor, const std::string& base_name) {
  return graph->add_constant(graph->unique_name(base_name), std::move(tensor));
}

void NetworkImpl::infer_declared(const ir::Value* value, DataType* dtype, Dims* dims) const {
  dims->clear();
  std::optional<ops::TensorDesc> results[2];
  for (int k = 0; k < 2; ++k) {
    std::map<std::string, Dims> shapes;
    for (const ir::Value* in : graph->inputs()) {
      Dims d = ir::to_dims(in->shape);
      for (int64_t& e : d) {
        if (e < 0) e = 2 + k;
      }
      shapes[in->name] = d;
    }
    try {
      ops::ResolvedShapes r = ops::resolve_shapes(*graph, shapes);
      auto it = r.desc.find(value);
      if (it != r.desc.end()) results[k] = it->second;
      if (auto d = r.deferred.find(value); d != r.deferred.end()) {
        // Extents known only when the network runs: the type alone, if inference knows it.
        if (d->second.dtype) *dtype = *d->second.dtype;
        return;
      }
    } catch (const Error&) {
      return;
    }
  }
  if (!results[0] || !results[1] || results[0]->shape.size() != results[1]->shape.size()) return;
  *dtype = results[0]->dtype;
  for (size_t i = 0; i < results[0]->shape.size(); ++i) {
    dims->push_back(results[0]->shape[i] == results[1]->shape[i] ? results[0]->shape[i] : -1);
  }
}

}  // namespace detail

namespace {

Tensor weights_tensor(const Weights& w, Dims dims, const char* what) {
  KILN_CHECK(w.count >= 0 && (w.count == 0 || w.values != nullptr), ErrorCode::kInvalidArgument,
             what, ": weights have count ", w.count, " but no values");
  KILN_CHECK(volume(dims) == w.count, ErrorCode::kInvalidArgument, what, ": expected ",
             volume(dims), " weights for shape ", to_string(dims), ", got ", w.count);
  return Tensor::from_bytes(w.type, std::move(dims), w.values,
                            size_t(w.count) * element_size(w.type));
}

Tensor int64_tensor(const std::vector<int64_t>& v) {
  return Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(v.size())}, v);
}

}  // namespace

// ---- ITensor ----

const std::string& ITensor::name() const { return NetworkImpl::value(*this).name; }

void ITensor::set_name(const std::string& name) {
  ir::Value& v = NetworkImpl::value(*this);
  if (name == v.name) return;
  KILN_CHECK(network_->graph->find_value(name) == nullptr, ErrorCode::kInvalidArgument,
             "a tensor named '", name, "' already exists in the network");
  // Graph keeps a name index; re-adding under the new name keeps it consistent.
  network_->graph->rename_value(&v, name);
}

DataType ITensor::type() const {
  const ir::Value& v = NetworkImpl::value(*this);
  if (v.has_shape || v.is_constant()) return v.dtype;
  Dims unused;
  DataType t = v.dtype;
  network_->infer_declared(&v, &t, &unused);
  return t;
}

Dims ITensor::dims() const {
  const ir::Value& v = NetworkImpl::value(*this);
  if (v.has_shape) return ir::to_dims(v.shape);
  DataType unused;
  Dims d;
  network_->infer_declared(&v, &unused, &d);
  return d;
}

bool ITensor::is_network_input() const {
  for (const ir::Value* in : network_->graph->inputs()) {
    if (in == value_) return true;
  }
  return false;
}

bool ITensor::is_network_output() const {
  for (const ir::Value* out : network_->graph->outputs()) {
    if (out == value_) return true;
  }
  return false;
}

// ---- ILayer ----

const std::string& ILayer::type() const { return NetworkImpl::node(*this).op; }
const std::string& ILayer::name() const { return NetworkImpl::node(*this).name; }
void ILayer::set_name(const std::string& name) { NetworkImpl::node(*this).name = name; }
int ILayer::num_inputs() const { return int(NetworkImpl::node(*this).inputs.size()); }
int ILayer::num_outputs() const { return int(NetworkImpl::node(*this).outputs.size()); }

ITensor* ILayer::input(int index) const {
  ir::Node& n = NetworkImpl::node(*this);
  KILN_CHECK(index >= 0 && index < int(n.inputs.size()), ErrorCode::kInvalidArgument, n.describe(),
             " has no input ", index);
  return network_->handle(n.inputs[size_t(index)]);
}

ITensor* ILayer::output(int index) const {
  ir::Node& n = NetworkImpl::node(*this);
  KILN_CHECK(index >= 0 && index < int(n.outputs.size()), ErrorCode::kInvalidArgument, n.describe(),
             " has no output ", index);
  return network_->handle(n.outputs[size_t(index)]);
}

void ILayer::set_int(const std::string& key, int64_t value) {
  NetworkImpl::node(*this).attrs[key] = value;
}
void ILayer::set_float(const std::string& key, double value) {
  NetworkImpl::node(*this).attrs[key] = value;
}
void ILayer::set_ints(const std::string& key, const std::vector<int64_t>& values) {
  NetworkImpl::node(*this).attrs[key] = values;
}
void ILayer::set_string(const std::string& key, const std::string& value) {
  NetworkImpl::node(*this).attrs[key] = value;
}

void ILayer::set_padding(const Dims& pre, const Dims& post) {
  KILN_CHECK(pre.size() == post.size(), ErrorCode::kInvalidArgument,
             NetworkImpl::node(*this).describe(),
             ": padding before and after must have the same length");
  Dims pads = pre;
  pads.insert(pads.end(), post.begin(), post.end());
  set_ints("pads", pads);
}

// ---- NetworkDefinition ----

NetworkDefinition::NetworkDefinition() : impl_(std::make_unique<NetworkImpl>()) {}
NetworkDefinition::~NetworkDefinition() = default;

ITensor* NetworkDefinition::add_input(const std::string& name, DataType type, const Dims& dims) {
  ir::Shape shape;
  for (size_t i = 0; i < dims.size(); ++i) {
    KILN_CHECK(dims[i] >= -1, ErrorCode::kInvalidArgument, "input '", name, "': dim ", i, " is ",
               dims[i], " (use -1 for a dynamic dim)");
    shape.push_back(dims[i] >= 0 ? ir::Dim::fixed(dims[i]) : ir::Dim::named(cat(name, "_dim", i)));
  }
  return impl_->handle(impl_->graph->add_input(name, type, shape));
}

void NetworkDefinition::mark_output(ITensor& tensor) {
  if (!tensor.is_network_output()) impl_->graph->mark_output(&NetworkImpl::value(tensor));
}

void NetworkDefinition::unmark_output(ITensor& tensor) {
  auto& outs = impl_->graph->mutable_outputs();
  std::erase(outs, &NetworkImpl::value(tensor));
}

ILayer* NetworkDefinition::add_constant(const Dims& dims, const Weights& weights) {
  ir::Value* c = impl_->add_constant(weights_tensor(weights, dims, "constant layer"), "constant");
  return impl_->handle(impl_->add_node("Identity", {c}, 1));
}

ILayer* NetworkDefinition::add_convolution(ITensor& input, int64_t num_output_maps,
                                           const Dims& kernel_size, const Weights& kernel,
                                           const Weights& bias) {
  int64_t per_map = num_output_maps * volume(kernel_size);
  KILN_CHECK(per_map > 0 && kernel.count % per_map == 0, ErrorCode::kInvalidArgument,
             "convolution: ", kernel.count, " kernel weights do not fit ", num_output_maps,
             " output maps of ", kiln::to_string(kernel_size));
  Dims wdims{num_output_maps, kernel.count / per_map};
  wdims.insert(wdims.end(), kernel_size.begin(), kernel_size.end());
  std::vector<ir::Value*> ins{
      &NetworkImpl::value(input),
      impl_->add_constant(weights_tensor(kernel, wdims, "convolution"), "conv_weight")};
  if (bias.count)
    ins.push_back(impl_->add_constant(weights_tensor(bias, {num_output_maps}, "convolution bias"),
                                      "conv_bias"));
  return impl_->handle(impl_->add_node("Conv", ins, 1, {{"kernel_shape", kernel_size}}));
}

ILayer* NetworkDefinition::add_deconvolution(ITensor& input, int64_t num_output_maps,
                                             const Dims& kernel_size, const Weights& kernel,
                                             const Weights& bias) {
  int64_t per_channel = num_output_maps * volume(kernel_size);
  KILN_CHECK(per_channel > 0 && kernel.count % per_channel == 0, ErrorCode::kInvalidArgument,
             "deconvolution: ", kernel.count, " kernel weights do not fit ", num_output_maps,
             " output maps of ", kiln::to_string(kernel_size));
  Dims wdims{kernel.count / per_channel, num_output_maps};
  wdims.insert(wdims.end(), kernel_size.begin(), kernel_size.end());
  std::vector<ir::Value*> ins{
      &NetworkImpl::value(input),
      impl_->add_constant(weights_tensor(kernel, wdims, "deconvolution"), "deconv_weight")};
  if (bias.count)
    ins.push_back(impl_->add_constant(weights_tensor(bias, {num_output_maps}, "deconvolution bias"),
                                      "deconv_bias"));
  return impl_->handle(impl_->add_node("ConvTranspose", ins, 1, {{"kernel_shape", kernel_size}}));
}

ILayer* NetworkDefinition::add_matrix_multiply(ITensor& a, MatrixOperation op_a, ITensor& b,
                                               MatrixOperation op_b) {
  auto maybe_transpose = [&](ITensor& t, MatrixOperation op) -> ir::Value* {
    if (op == MatrixOperation::kNONE) return &NetworkImpl::value(t);
    int64_t rank = int64_t(t.dims().size());
    KILN_CHECK(rank >= 2, ErrorCode::kInvalidArgument, "matrix multiply: tensor '", t.name(),
               "' needs rank >= 2 to be transposed");
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < rank; ++i) perm.push_back(i);
    std::swap(perm[size_t(rank - 1)], perm[size_t(rank - 2)]);
    return impl_->add_node("Transpose", {&NetworkImpl::value(t)}, 1, {{"perm", perm}})->outputs[0];
  };
  ir::Value* va = maybe_transpose(a, op_a);
  ir::Value* vb = maybe_transpose(b, op_b);
  return impl_->handle(impl_->add_node("MatMul", {va, vb}, 1));
}

ILayer* NetworkDefinition::add_elementwise(ITensor& a, ITensor& b, ElementWiseOperation op) {
  const char* name = nullptr;
  switch (op) {
    case ElementWiseOperation::kSUM:
      name = "Add";
      break;
    case ElementWiseOperation::kSUB:
      name = "Sub";
      break;
    case ElementWiseOperation::kPROD:
      name = "Mul";
      break;
    case ElementWiseOperation::kDIV:
      name = "Div";
      break;
    case ElementWiseOperation::kPOW:
      name = "Pow";
      break;
    case ElementWiseOperation::kMAX:
      name = "Max";
      break;
    case ElementWiseOperation::kMIN:
      name = "Min";
      break;
    case ElementWiseOperation::kEQUAL:
      name = "Equal";
      break;
    case ElementWiseOperation::kLESS:
      name = "Less";
      break;
    case ElementWiseOperation::kGREATER:
      name = "Greater";
      break;
    case ElementWiseOperation::kAND:
      name = "And";
      break;
    case ElementWiseOperation::kOR:
      name = "Or";
      break;
    case ElementWiseOperation::kXOR:
      name = "Xor";
      break;
    case ElementWiseOperation::kFLOOR_DIV: {
      ir::Node* div = impl_->add_node("Div", {&NetworkImpl::value(a), &NetworkImpl::value(b)}, 1);
      return impl_->handle(impl_->add_node("Floor", {div->outputs[0]}, 1));
    }
  }
  return impl_->handle(impl_->add_node(name, {&NetworkImpl::value(a), &NetworkImpl::value(b)}, 1));
}

ILayer* NetworkDefinition::add_unary(ITensor& input, UnaryOperation op) {
  const char* name = nullptr;
  switch (op) {
    case UnaryOperation::kEXP:
      name = "Exp";
      break;
    case UnaryOperation::kLOG:
      name = "Log";
      break;
    case UnaryOperation::kSQRT:
      name = "Sqrt";
      break;
    case UnaryOperation::kRECIP:
      name = "Reciprocal";
      break;
    case UnaryOperation::kABS:
      name = "Abs";
      break;
    case UnaryOperation::kNEG:
      name = "Neg";
      break;
    case UnaryOperation::kSIN:
      name = "Sin";
      break;
    case UnaryOperation::kCOS:
      name = "Cos";
      break;
    case UnaryOperation::kTAN:
      name = "Tan";
      break;
    case UnaryOperation::kSINH:
      name = "Sinh";
      break;
    case UnaryOperation::kCOSH:
      name = "Cosh";
      break;
    case UnaryOperation::kASIN:
      name = "Asin";
      break;
    case UnaryOperation::kACOS:
      name = "Acos";
      break;
    case UnaryOperation::kATAN:
      name = "Atan";
      break;
    case UnaryOperation::kASINH:
      name = "Asinh";
      break;
    case UnaryOperation::kACOSH:
      name = "Acosh";
      break;
    case UnaryOperation::kATANH:
      name = "Atanh";
      break;
    case UnaryOperation::kCEIL:
      name = "Ceil";
      break;
    case UnaryOperation::kFLOOR:
      name = "Floor";
      break;
    case UnaryOperation::kERF:
      name = "Erf";
      break;
    case UnaryOperation::kNOT:
      name = "Not";
      break;
    case UnaryOperation::kSIGN:
      name = "Sign";
      break;
    case UnaryOperation::kROUND:
      name = "Round";
      break;
    case UnaryOperation::kISINF:
      name = "IsInf";
      break;
    case UnaryOperation::kISNAN:
      name = "IsNaN";
      break;
  }
  return impl_->handle(impl_->add_node(name, {&NetworkImpl::value(input)}, 1));
}

ILayer* NetworkDefinition::add_activation(ITensor& input, ActivationType type, float alpha,
                                          float beta) {
  ir::Value* x = &NetworkImpl::value(input);
  switch (type) {
    case ActivationType::kRELU:
      return impl_->handle(impl_->add_node("Relu", {x}, 1));
    case ActivationType::kSIGMOID:
      return impl_->handle(impl_->add_node("Sigmoid", {x}, 1));
    case ActivationType::kTANH:
      return impl_->handle(impl_->add_node("Tanh", {x}, 1));
    case ActivationType::kLEAKY_RELU:
      return impl_->handle(impl_->add_node("LeakyRelu", {x}, 1, {{"alpha", double(alpha)}}));
    case ActivationType::kELU:
      return impl_->handle(impl_->add_node("Elu", {x}, 1, {{"alpha", double(alpha)}}));
    case ActivationType::kSELU:
      return impl_->handle(
          impl_->add_node("Selu", {x}, 1, {{"alpha", double(alpha)}, {"gamma", double(beta)}}));
    case ActivationType::kSOFTSIGN:
      return impl_->handle(impl_->add_node("Softsign", {x}, 1));
    case ActivationType::kSOFTPLUS:
      return impl_->handle(impl_->add_node("Softplus", {x}, 1));
    case ActivationType::kCLIP: {
      ir::Value* lo = impl_->add_constant(
          Tensor::from_vector<float>(DataType::kFloat32, {}, {alpha}), "clip_min");
      ir::Value* hi = impl_->add_constant(
          Tensor::from_vector<float>(DataType::kFloat32, {}, {beta}), "clip_max");
      return impl_->handle(impl_->add_node("Clip", {x, lo, hi}, 1));
    }
    case ActivationType::kHARD_SIGMOID:
      return impl_->handle(impl_->add_node("HardSigmoid", {x}, 1,
                                           {{"alpha", double(alpha)}, {"beta", double(beta)}}));
    case ActivationType::kHARD_SWISH:
      return impl_->handle(impl_->add_node("HardSwish", {x}, 1));
    case ActivationType::kGELU_ERF:
      return impl_->handle(impl_->add_node("Gelu", {x}, 1));
    case ActivationType::kGELU_TANH:
      return impl_->handle(impl_->add_node("Gelu", {x}, 1, {{"approximate", std::string("tanh")}}));
    case ActivationType::kTHRESHOLDED_RELU:
      return impl_->handle(impl_->add_node("ThresholdedRelu", {x}, 1, {{"alpha", double(alpha)}}));
  }
  fail(ErrorCode::kInvalidArgument, "unknown activation type ", int(type));
}

ILayer* NetworkDefinition::add_pooling(ITensor& input, PoolingType type, const Dims& window) {
  const char* op = type == PoolingType::kMAX ? "MaxPool" : "AveragePool";
  return impl_->handle(
      impl_->add_node(op, {&NetworkImpl::value(input)}, 1, {{"kernel_shape", window}}));
}

ILayer* NetworkDefinition::add_softmax(ITensor& input, int axis) {
  return impl_->handle(
      impl_->add_node("Softmax", {&NetworkImpl::value(input)}, 1, {{"axis", int64_t(axis)}}));
}

ILayer* NetworkDefinition::add_shuffle(ITensor& input, const Dims& reshape_dims) {
  ir::Value* shape = impl_->add_constant(int64_tensor(reshape_dims), "reshape_dims");
  return impl_->handle(impl_->add_node("Reshape", {&NetworkImpl::value(input), shape}, 1));
}

ILayer* NetworkDefinition::add_reshape(ITensor& input, ITensor& shape) {
  return impl_->handle(
      impl_->add_node("Reshape", {&NetworkImpl::value(input), &NetworkImpl::value(shape)}, 1));
}

ILayer* NetworkDefinition::add_transpose(ITensor& input, const std::vector<int64_t>& permutation) {
  return impl_->handle(
      impl_->add_node("Transpose", {&NetworkImpl::value(input)}, 1, {{"perm", permutation}}));
}

ILayer* NetworkDefinition::add_concatenation(const std::vector<ITensor*>& inputs, int axis) {
  std::vector<ir::Value*> ins;
  for (ITensor* t : inputs) {
    KILN_CHECK(t != nullptr, ErrorCode::kInvalidArgument, "concatenation: null input tensor");
    ins.push_back(&NetworkImpl::value(*t));
  }
  return impl_->handle(impl_->add_node("Concat", ins, 1, {{"axis", int64_t(axis)}}));
}

ILayer* NetworkDefinition::add_slice(ITensor& input, const Dims& start, const Dims& size,
                                     const Dims& stride) {
  KILN_CHECK(start.size() == size.size() && size.size() == stride.size(),
             ErrorCode::kInvalidArgument, "slice: start, size and stride must have equal length");
  std::vector<int64_t> ends, axes;
  for (size_t i = 0; i < start.size(); ++i) {
    int64_t end = start[i] + size[i] * stride[i];
    // A negative stride that runs to the front needs an end before index 0.
    if (stride[i] < 0 && end < 0) end = std::numeric_limits<int64_t>::min();
    ends.push_back(end);
    axes.push_back(int64_t(i));
  }
  std::vector<ir::Value*> ins{&NetworkImpl::value(input),
                              impl_->add_constant(int64_tensor(start), "slice_starts"),
                              impl_->add_constant(int64_tensor(ends), "slice_ends"),
                              impl_->add_constant(int64_tensor(axes), "slice_axes"),
                              impl_->add_constant(int64_tensor(stride), "slice_steps")};
  return impl_->handle(impl_->add_node("Slice", ins, 1));
}

ILayer* NetworkDefinition::add_gather(ITensor& data, ITensor& indices, int axis) {
  return impl_->handle(impl_->add_node("Gather",
                                       {&NetworkImpl::value(data), &NetworkImpl::value(indices)}, 1,
                                       {{"axis", int64_t(axis)}}));
}

ILayer* NetworkDefinition::add_reduce(ITensor& input, ReduceOperation op,
                                      const std::vector<int64_t>& axes, bool keep_dims) {
  const char* name = nullptr;
  switch (op) {
    case ReduceOperation::kSUM:
      name = "ReduceSum";
      break;
    case ReduceOperation::kPROD:
      name = "ReduceProd";
      break;
    case ReduceOperation::kMAX:
      name = "ReduceMax";
      break;
    case ReduceOperation::kMIN:
      name = "ReduceMin";
      break;
    case ReduceOperation::kAVG:
      name = "ReduceMean";
      break;
  }
  ir::Value* ax = impl_->add_constant(int64_tensor(axes), "reduce_axes");
  return impl_->handle(impl_->add_node(name, {&NetworkImpl::value(input), ax}, 1,
                                       {{"keepdims", int64_t(keep_dims)}}));
}

ILayer* NetworkDefinition::add_normalization(ITensor& input, ITensor& scale, ITensor& bias,
                                             NormalizationType type, int axis, float epsilon) {
  std::vector<ir::Value*> ins{&NetworkImpl::value(input), &NetworkImpl::value(scale),
                              &NetworkImpl::value(bias)};
  switch (type) {
    case NormalizationType::kLAYER:
      return impl_->handle(impl_->add_node(
          "LayerNormalization", ins, 1, {{"axis", int64_t(axis)}, {"epsilon", double(epsilon)}}));
    case NormalizationType::kINSTANCE:
      return impl_->handle(
          impl_->add_node("InstanceNormalization", ins, 1, {{"epsilon", double(epsilon)}}));
    case NormalizationType::kGROUP:
      return impl_->handle(
          impl_->add_node("GroupNormalization", ins, 1,
                          {{"epsilon", double(epsilon)}, {"num_groups", int64_t(1)}}));
  }
  fail(ErrorCode::kInvalidArgument, "unknown normalization type ", int(type));
}

ILayer* NetworkDefinition::add_resize(ITensor& input, ResizeMode mode,
                                      const std::vector<float>& scales) {
  const char* mode_name = mode == ResizeMode::kNEAREST  ? "nearest"
                          : mode == ResizeMode::kLINEAR ? "linear"
                                                        : "cubic";
  ir::Value* s = impl_->add_constant(
      Tensor::from_vector<float>(DataType::kFloat32, {int64_t(scales.size())}, scales),
      "resize_scales");
  return impl_->handle(impl_->add_node("Resize", {&NetworkImpl::value(input), nullptr, s}, 1,
                                       {{"mode", std::string(mode_name)}}));
}

ILayer* NetworkDefinition::add_cast(ITensor& input, DataType to) {
  return impl_->handle(
      impl_->add_node("Cast", {&NetworkImpl::value(input)}, 1, {{"to", int64_t(to)}}));
}

ILayer* NetworkDefinition::add_select(ITensor& condition, ITensor& then_input,
                                      ITensor& else_input) {
  return impl_->handle(
      impl_->add_node("Where",
                      {&NetworkImpl::value(condition), &NetworkImpl::value(then_input),
                       &NetworkImpl::value(else_input)},
                      1));
}

ILayer* NetworkDefinition::add_shape(ITensor& input) {
  return impl_->handle(impl_->add_node("Shape", {&NetworkImpl::value(input)}, 1));
}

ILayer* NetworkDefinition::add_identity(ITensor& input) {
  return impl_->handle(impl_->add_node("Identity", {&NetworkImpl::value(input)}, 1));
}

ILayer* NetworkDefinition::add_layer(const std::string& op, const std::vector<ITensor*>& inputs,
                                     int num_outputs) {
  std::vector<ir::Value*> ins;
  ins.reserve(inputs.size());
  for (ITensor* t : inputs) ins.push_back(t ? &NetworkImpl::value(*t) : nullptr);
  return impl_->handle(impl_->add_node(op, ins, num_outputs));
}

int NetworkDefinition::num_inputs() const { return int(impl_->graph->inputs().size()); }
int NetworkDefinition::num_outputs() const { return int(impl_->graph->outputs().size()); }
int NetworkDefinition::num_layers() const { return int(impl_->graph->nodes().size()); }

ITensor* NetworkDefinition::input(int index) const {
  KILN_CHECK(index >= 0 && index < num_inputs(), ErrorCode::kInvalidArgument,
             "network has no input ", index);
  return impl_->handle(impl_->graph->inputs()[size_t(index)]);
}

ITensor* NetworkDefinition::output(int index) const {
  KILN_CHECK(index >= 0 && index < num_outputs(), ErrorCode::kInvalidArgument,
             "network has no output ", index);
  return impl_->handle(impl_->graph->outputs()[size_t(index)]);
}

ILayer* NetworkDefinition::layer(int index) const {
  KILN_CHECK(index >= 0 && index < num_layers(), ErrorCode::kInvalidArgument,
             "network has no layer ", index);
  auto it = impl_->graph->nodes().begin();
  std::advance(it, index);
  return impl_->handle(it->get());
}

ITensor* NetworkDefinition::tensor(const std::string& name) const {
  ir::Value* v = impl_->graph->find_value(name);
  return v ? impl_->handle(v) : nullptr;
}

std::string NetworkDefinition::to_string() const { return ir::print(*impl_->graph); }

}  // namespace kiln

#include "ops/shape_inference.h"

#include "core/checked_size.h"
#include "core/display_name.h"

namespace kiln::ops {

const TensorDesc& ResolvedShapes::of(const ir::Value* v) const {
  auto it = desc.find(v);
  KILN_CHECK(it != desc.end(), ErrorCode::kInternal, "no resolved shape for value '", v->name, "'");
  return it->second;
}

namespace {

const TensorDesc* lookup_desc(const ir::Value* v, const ResolvedShapes& known,
                              const ResolvedShapes* outer) {
  if (auto it = known.desc.find(v); it != known.desc.end()) return &it->second;
  if (outer) {
    for (const auto& [ov, d] : outer->desc) {
      if (ov->name == v->name) return &d;
    }
  }
  return nullptr;
}

const Tensor* lookup_value(const ir::Value* v, const ResolvedShapes& known,
                           const ResolvedShapes* outer) {
  if (auto it = known.values.find(v); it != known.values.end()) return &it->second;
  if (outer) {
    for (const auto& [ov, t] : outer->values) {
      if (ov->name == v->name) return &t;
    }
  }
  return nullptr;
}

void check_input_shape(const ir::Value& input, const Dims& dims) {
  if (!input.has_shape) return;
  KILN_CHECK(dims.size() == input.shape.size(), ErrorCode::kInvalidArgument, "input '", input.name,
             "' has rank ", input.shape.size(), " (", ir::to_string(input.shape),
             ") but was given shape ", to_string(dims));
  for (size_t i = 0; i < dims.size(); ++i) {
    KILN_CHECK(dims[i] >= 0, ErrorCode::kInvalidArgument, "input '", input.name,
               "' was given a negative extent in shape ", to_string(dims));
    KILN_CHECK(!input.shape[i].is_static() || input.shape[i].value == dims[i],
               ErrorCode::kInvalidArgument, "input '", input.name, "' dimension ", i,
               " is fixed at ", input.shape[i].value, " but was given shape ", to_string(dims));
  }
}

}  // namespace

InferContext infer_node(const ir::Node& node, const ResolvedShapes& known,
                        const ResolvedShapes* outer) {
  const OpDef& def = OpRegistry::instance().get(node);
  const int n_in = int(node.inputs.size());
  KILN_CHECK(n_in >= def.min_inputs && (def.max_inputs < 0 || n_in <= def.max_inputs),
             ErrorCode::kInvalidModel, node.describe(), ": has ", n_in, " inputs, expected ",
             def.min_inputs, (def.max_inputs < 0 ? " or more" : cat(" to ", def.max_inputs)));
  const int n_out = int(node.outputs.size());
  KILN_CHECK(n_out >= def.min_outputs && n_out <= def.max_outputs, ErrorCode::kInvalidModel,
             node.describe(), ": has ", n_out, " outputs, expected ", def.min_outputs, " to ",
             def.max_outputs);
  std::vector<std::optional<TensorDesc>> descs(node.inputs.size());
  std::vector<const Tensor*> values(node.inputs.size(), nullptr);
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ir::Value* in = node.inputs[i];
    if (!in) continue;
    const TensorDesc* d = lookup_desc(in, known, outer);
    KILN_CHECK(d != nullptr, ErrorCode::kInvalidModel, node.describe(), ": input '", in->name,
               "' is not produced before it is used");
    descs[i] = *d;
    values[i] = lookup_value(in, known, outer);
  }
  InferContext ctx(node, std::move(descs), std::move(values));
  try {
    def.infer(ctx);
  } catch (const SizeOverflow& e) {  // an extent product that does not fit: name the node
    throw SizeOverflow(
        cat("Op '", display_name(node.name), "' (", display_name(node.op), "): ", e.what()));
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] && !ctx.outputs()[i]) {
      fail(ErrorCode::kInternal, node.describe(), ": inference left output ", i, " unset");
    }
  }
  // Every output is refused here, before anything is allocated, when its size overflows or
  // exceeds KILN_MAX_TENSOR_BYTES (core/checked_size.h).
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.outputs[i] || ctx.data_dependent_ranks()[i]) continue;
    check_tensor_size(ctx.outputs()[i]->dtype, ctx.outputs()[i]->shape,
                      describe_tensor(node.outputs[i]->name, node.name, node.op));
  }
  return ctx;
}

namespace {

void add_constants(const ir::Graph& graph, ResolvedShapes& r) {
  for (const auto& v : graph.values()) {
    if (v->constant) {
      r.desc[v.get()] = TensorDesc{v->constant->dtype(), v->constant->shape()};
      r.values[v.get()] = *v->constant;
    }
  }
}

void resolve_nodes(const ir::Graph& graph, ResolvedShapes& r, const ResolvedShapes* outer);

}  // namespace

ResolvedShapes resolve_shapes(const ir::Graph& graph,
                              const std::map<std::string, Dims>& input_shapes,
                              const ResolvedShapes* outer) {
  ResolvedShapes r;
  add_constants(graph, r);
  for (const ir::Value* in : graph.inputs()) {
    auto it = input_shapes.find(in->name);
    Dims dims;
    if (it != input_shapes.end()) {
      dims = it->second;
    } else {
      KILN_CHECK(in->has_shape && volume(ir::to_dims(in->shape)) >= 0, ErrorCode::kInvalidArgument,
                 "input '", in->name, "' has dynamic shape ", ir::to_string(in->shape),
                 " and no shape was given for it");
      dims = ir::to_dims(in->shape);
    }
    check_input_shape(*in, dims);
    check_tensor_size(in->dtype, dims, cat("input '", in->name, "'"));
    r.desc[in] = TensorDesc{in->dtype, dims};
  }
  resolve_nodes(graph, r, outer);
  return r;
}

ResolvedShapes resolve_subgraph(const ir::Graph& body, const std::vector<TensorDesc>& inputs,
                                const std::vector<const Tensor*>& values) {
  KILN_CHECK(inputs.size() == body.inputs().size() && values.size() == inputs.size(),
             ErrorCode::kInvalidModel, "subgraph '", body.name, "' has ", body.inputs().size(),
             " inputs but is given ", inputs.size());
  ResolvedShapes r;
  add_constants(body, r);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Value* in = body.inputs()[i];
    // A body input's declared element type may be absent (ONNX lets bodies leave it to
    // inference), so the type given is the one that counts; a declared rank must agree.
    KILN_CHECK(!in->has_shape || in->shape.size() == inputs[i].shape.size(),
               ErrorCode::kInvalidModel, "subgraph '", body.name, "' input '", in->name,
               "' is declared with rank ", in->shape.size(), " (", ir::to_string(in->shape),
               ") but receives shape ", to_string(inputs[i].shape));
    r.desc[in] = inputs[i];
    if (values[i]) r.values[in] = *values[i];
  }
  resolve_nodes(body, r, nullptr);
  return r;
}

namespace {

// Stand-in inputs for output_types_of_deferred: at most this many elements get a value.
constexpr int64_t kMaxStandInElements = 64;

// The element types of a deferred node's outputs, so that the graph's declared types (and an
// engine's I/O types) are right before the executor resolves the node. ONNX types never depend
// on values, so inference on stand-ins gives them: a deferred input becomes extents of ones of
// its rank (1 when unknown), and a small input unknown at shape time becomes ones. Where that
// inference fails (an op that needs other extents), the types stay unknown.
std::vector<std::optional<DataType>> output_types_of_deferred(const ir::Node& node,
                                                              const ResolvedShapes& r,
                                                              const ResolvedShapes* outer) {
  std::vector<std::optional<DataType>> types(node.outputs.size());
  ResolvedShapes trial;
  for (const ir::Value* in : node.inputs) {
    if (!in) continue;
    TensorDesc desc;
    if (const TensorDesc* known = lookup_desc(in, r, outer)) {
      desc = *known;
    } else {
      auto d = r.deferred.find(in);
      const ResolvedShapes::Deferred* deferred = d != r.deferred.end() ? &d->second : nullptr;
      if (!deferred && outer) {
        for (const auto& [ov, od] : outer->deferred) {
          if (ov->name == in->name) deferred = &od;
        }
      }
      if (!deferred || !deferred->dtype) return types;
      const size_t rank = deferred->rank == ResolvedShapes::kUnknownRank ? 1 : deferred->rank;
      desc = TensorDesc{*deferred->dtype, Dims(rank, 1)};
    }
    trial.desc[in] = desc;
    if (const Tensor* value = lookup_value(in, r, outer)) {
      trial.values[in] = *value;
    } else if (volume(desc.shape) <= kMaxStandInElements) {
      try {
        Tensor ones = Tensor::zeros(DataType::kFloat32, desc.shape);
        for (int64_t i = 0; i < ones.numel(); ++i) ones.data<float>()[i] = 1.0f;
        trial.values[in] = ones.cast(desc.dtype);
      } catch (const Error&) {
      }
    }
  }
  try {
    InferContext ctx = infer_node(node, trial, nullptr);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] && ctx.outputs()[i]) types[i] = ctx.outputs()[i]->dtype;
    }
  } catch (const std::exception&) {
  }
  return types;
}

void defer_outputs(const ir::Node& node, ResolvedShapes& r, const ResolvedShapes* outer) {
  const std::vector<std::optional<DataType>> types = output_types_of_deferred(node, r, outer);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i]) r.deferred[node.outputs[i]] = {ResolvedShapes::kUnknownRank, types[i]};
  }
}

void resolve_nodes(const ir::Graph& graph, ResolvedShapes& r, const ResolvedShapes* outer) {
  for (const auto& node_ptr : graph.nodes()) {
    const ir::Node& node = *node_ptr;
    bool reads_deferred = false;
    for (const ir::Value* in : node.inputs) {
      if (in && (r.is_deferred(in) || (outer && outer->is_deferred(in)))) reads_deferred = true;
    }
    if (reads_deferred) {  // resolved by the executor once the data is there
      defer_outputs(node, r, outer);
      continue;
    }
    std::optional<InferContext> inferred;
    try {
      inferred.emplace(infer_node(node, r, outer));
    } catch (const ShapeValueUnavailable&) {
      // Shapes that depend on runtime data (Reshape to a computed shape, Range with a data
      // bound): the executor resolves this node, and those after it, as it runs them.
      defer_outputs(node, r, outer);
      continue;
    }
    InferContext& ctx = *inferred;
    bool evaluate = true;  // all inputs known and outputs small: compute them on the host now
    int64_t out_elems = 0;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] && !lookup_value(node.inputs[i], r, outer)) evaluate = false;
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!node.outputs[i]) continue;
      if (ctx.data_dependent_ranks()[i]) {
        r.deferred[node.outputs[i]] = {*ctx.data_dependent_ranks()[i], ctx.outputs()[i]->dtype};
        continue;
      }
      r.desc[node.outputs[i]] = *ctx.outputs()[i];
      if (ctx.output_values()[i]) r.values[node.outputs[i]] = *ctx.output_values()[i];
      out_elems += volume(ctx.outputs()[i]->shape);
    }
    // Ops with subgraphs are left to the executor: their bodies may be large.
    for (const auto& [key, attr] : node.attrs) {
      if (std::holds_alternative<std::shared_ptr<ir::Graph>>(attr)) evaluate = false;
    }
    if (!evaluate || out_elems > kMaxShapeTimeElements) continue;
    bool all_known = true;
    for (const ir::Value* out : node.outputs) {
      if (out && !r.values.count(out)) all_known = false;
    }
    for (const auto& rank : ctx.data_dependent_ranks()) {
      if (rank) all_known = false;
    }
    if (all_known) continue;
    const OpDef& def = OpRegistry::instance().get(node);
    std::vector<const Tensor*> inputs;
    for (const ir::Value* in : node.inputs)
      inputs.push_back(in ? lookup_value(in, r, outer) : nullptr);
    std::vector<Tensor> outputs;
    outputs.reserve(node.outputs.size());
    std::vector<Tensor*> output_ptrs;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!node.outputs[i]) {
        output_ptrs.push_back(nullptr);
        continue;
      }
      outputs.push_back(Tensor::zeros(ctx.outputs()[i]->dtype, ctx.outputs()[i]->shape));
      output_ptrs.push_back(&outputs.back());
    }
    ComputeContext cctx(node, std::move(inputs), std::move(output_ptrs));
    def.compute(cctx);
    size_t k = 0;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!node.outputs[i]) continue;
      Tensor& t = outputs[k++];
      // A data-dependent output computed here from known inputs is known after all.
      r.deferred.erase(node.outputs[i]);
      r.desc[node.outputs[i]] = TensorDesc{t.dtype(), t.shape()};
      r.values[node.outputs[i]] = std::move(t);
    }
  }
}

}  // namespace

}  // namespace kiln::ops

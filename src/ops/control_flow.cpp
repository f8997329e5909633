// Control flow: If, Loop and Scan, ops whose bodies are subgraphs held in node attributes.
//
// A body reads nothing of the enclosing graph by name: every enclosing value it reads is passed
// to the node as a trailing "captured" input (the node's int attribute `captured_inputs` says
// how many), and each body has one trailing input per captured value, in the same order (the
// ONNX importer rewrites ONNX's by-name reads this way). So the node's inputs say everything it
// reads: passes, the memory planner and shape-time evaluation need no knowledge of bodies.
//
// Shapes. If picks its branch at shape time when the condition is known then; otherwise an
// output whose branches agree is static and the others are data-dependent. Loop's carried
// values are static when one pass of the body keeps their shapes; its scan outputs are static
// when the trip count is known at shape time (M known, and the body's condition passed through
// unchanged or a true constant), data-dependent otherwise. Scan's sequence length is an input
// extent, so its outputs are static whenever its body's are.
//
// The reference compute interprets a body node by node with each op's inference and
// reference compute, all on the host.
#include "ops/control_flow.h"

#include <cstring>
#include <exception>
#include <limits>
#include <unordered_map>

#include "ops/op.h"
#include "ops/shape_inference.h"

namespace kiln::ops {

constexpr const char* kCapturedAttr = "captured_inputs";

size_t captured_count(const ir::Node& node) {
  const int64_t count = node.attr_int(kCapturedAttr, 0);
  KILN_CHECK(count >= 0 && size_t(count) <= node.inputs.size(), ErrorCode::kInvalidModel,
             node.describe(), ": attribute '", kCapturedAttr, "' is ", count, " but the node has ",
             node.inputs.size(), " inputs");
  return size_t(count);
}

Tensor bool_scalar(bool v) {
  Tensor t = Tensor::zeros(DataType::kBool, {});
  t.data<uint8_t>()[0] = v ? 1 : 0;
  return t;
}

bool scalar_truth(const Tensor& t, const ir::Node& node, const char* what) {
  KILN_CHECK(t.numel() == 1, ErrorCode::kInvalidModel, node.describe(), ": ", what,
             " must hold one element, not shape ", to_string(t.shape()));
  return t.as_double(0) != 0.0;
}

namespace {

// What shape inference knows of one body output.
struct BodyOutput {
  DataType dtype = DataType::kFloat32;
  std::optional<Dims> shape;   // nullopt: data-dependent
  std::optional<size_t> rank;  // known even for some data-dependent outputs
  const Tensor* value = nullptr;
};

BodyOutput body_output(const ir::Node& node, const ir::Graph& body, const ResolvedShapes& r,
                       size_t i) {
  const ir::Value* v = body.outputs()[i];
  BodyOutput out;
  out.dtype = v->dtype;
  if (auto d = r.deferred.find(v); d != r.deferred.end()) {
    if (d->second.dtype) out.dtype = *d->second.dtype;
    if (d->second.rank != ResolvedShapes::kUnknownRank) out.rank = d->second.rank;
    return out;
  }
  auto it = r.desc.find(v);
  KILN_CHECK(it != r.desc.end(), ErrorCode::kInvalidModel, node.describe(), ": body '", body.name,
             "' output '", v->name, "' is computed by no node, input or constant of the body");
  out.dtype = it->second.dtype;
  out.shape = it->second.shape;
  out.rank = it->second.shape.size();
  if (auto val = r.values.find(v); val != r.values.end()) out.value = &val->second;
  return out;
}

bool all_inputs_known(const InferContext& ctx) {
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && !ctx.input_value(i)) return false;
  }
  return true;
}

// Declares output i data-dependent. Without a known rank the node waits for its data: at shape
// time that defers it (ShapeValueUnavailable); when the executor resolves it, every input is
// known and the rank given is only a placeholder, since compute allocates what it finds.
void declare_data_dependent(InferContext& ctx, size_t i, DataType dtype,
                            std::optional<size_t> rank) {
  if (rank) {
    ctx.set_output_data_dependent(i, dtype, *rank);
    return;
  }
  if (!all_inputs_known(ctx)) {
    throw ShapeValueUnavailable(
        ErrorCode::kUnsupported,
        cat(ctx.node().describe(), ": the rank of output ", i, " depends on runtime data"));
  }
  ctx.set_output_data_dependent(i, dtype, 0);
}

// Body input descriptors and shape-time values for the captured inputs (the trailing ones).
void add_captured(const InferContext& ctx, size_t first, std::vector<TensorDesc>& descs,
                  std::vector<const Tensor*>& values) {
  for (size_t i = first; i < ctx.num_inputs(); ++i) {
    ctx.check(ctx.has_input(i), "captured input ", i, " is missing");
    descs.push_back(ctx.input(i));
    values.push_back(ctx.input_value(i));
  }
}

void check_body_inputs(const InferContext& ctx, const ir::Graph& body, const char* attr,
                       size_t expected, const std::string& what) {
  ctx.check(body.inputs().size() == expected, "its '", attr, "' body has ", body.inputs().size(),
            " inputs but the node passes ", expected, " (", what, ")");
}

// Interprets a body on host tensors; returns its outputs in order.
std::vector<Tensor> run_body(const ir::Node& owner, const ir::Graph& body,
                             const std::vector<Tensor>& inputs) {
  KILN_CHECK(inputs.size() == body.inputs().size(), ErrorCode::kInvalidModel, owner.describe(),
             ": its body '", body.name, "' has ", body.inputs().size(), " inputs but is given ",
             inputs.size());
  std::unordered_map<const ir::Value*, Tensor> live;
  for (size_t i = 0; i < inputs.size(); ++i) live[body.inputs()[i]] = inputs[i];
  auto tensor_of = [&](const ir::Value* v) -> const Tensor& {
    if (auto it = live.find(v); it != live.end()) return it->second;
    if (v->constant) return *v->constant;
    fail(ErrorCode::kInvalidModel, "'", v->name,
         "' is not a body input, a constant or the output of an earlier body node (a body reads "
         "enclosing values only through captured inputs)");
  };
  for (const auto& node_ptr : body.nodes()) {
    const ir::Node& node = *node_ptr;
    ResolvedShapes known;
    std::vector<const Tensor*> ins;
    for (const ir::Value* in : node.inputs) {
      if (!in) {
        ins.push_back(nullptr);
        continue;
      }
      const Tensor& t = tensor_of(in);
      known.desc[in] = TensorDesc{t.dtype(), t.shape()};
      known.values[in] = t;
      ins.push_back(&t);
    }
    InferContext ictx = infer_node(node, known);
    const size_t n = node.outputs.size();
    bool all_known = true;  // values worked out by inference (Shape, Size, a decided If)
    for (size_t i = 0; i < n; ++i) {
      if (node.outputs[i] && !ictx.output_values()[i]) all_known = false;
    }
    std::vector<Tensor> outs(n);
    if (all_known) {
      for (size_t i = 0; i < n; ++i) {
        if (node.outputs[i]) outs[i] = *ictx.output_values()[i];
      }
    } else {
      std::vector<Tensor*> out_ptrs(n, nullptr);
      for (size_t i = 0; i < n; ++i) {
        if (!node.outputs[i]) continue;
        if (!ictx.data_dependent_ranks()[i]) {
          outs[i] = Tensor::zeros(ictx.outputs()[i]->dtype, ictx.outputs()[i]->shape);
        }
        out_ptrs[i] = &outs[i];
      }
      ComputeContext cctx(node, ins, out_ptrs);
      OpRegistry::instance().get(node).compute(cctx);
    }
    for (size_t i = 0; i < n; ++i) {
      if (!node.outputs[i]) continue;
      KILN_CHECK(outs[i].defined(), ErrorCode::kInternal, node.describe(), ": output ", i,
                 " was never allocated");
      live[node.outputs[i]] = std::move(outs[i]);
    }
  }
  std::vector<Tensor> results;
  results.reserve(body.outputs().size());
  for (const ir::Value* v : body.outputs()) results.push_back(tensor_of(v));
  return results;
}

// Writes a computed result into output i: into the preallocated tensor when inference fixed
// its shape, else (a data-dependent output) into a fresh allocation.
void emit_output(ComputeContext& ctx, size_t i, const Tensor& value) {
  if (!ctx.has_output(i)) return;
  Tensor& out = ctx.output(i);
  if (out.defined() && out.dtype() == value.dtype() && out.shape() == value.shape()) {
    if (out.raw() != value.raw() && value.nbytes()) {
      std::memcpy(out.raw(), value.raw(), value.nbytes());
    }
    return;
  }
  KILN_CHECK(!out.defined() || out.numel() == 0, ErrorCode::kInternal, ctx.node().describe(),
             ": output ", i, " was inferred as ", to_string(out.dtype()), " ",
             to_string(out.shape()), " but computes as ", to_string(value.dtype()), " ",
             to_string(value.shape()));
  Tensor& fresh = ctx.allocate_output(i, value.dtype(), value.shape());
  if (value.nbytes()) std::memcpy(fresh.raw(), value.raw(), value.nbytes());
}

// Copies `part` (shape without `axis`) into `whole` at position `index` along `axis`, or (when
// `gather` is set) the other way round: slice `index` of `whole` into `part`.
void copy_along_axis(Tensor& whole, Tensor& part, size_t axis, int64_t index, bool gather) {
  const Dims& shape = whole.shape();
  int64_t outer = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  int64_t inner = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  const size_t chunk = size_t(inner) * element_size(whole.dtype());
  const int64_t extent = shape[axis];
  auto* w = static_cast<uint8_t*>(whole.raw());
  auto* p = static_cast<uint8_t*>(part.raw());
  if (chunk == 0) return;
  for (int64_t o = 0; o < outer; ++o) {
    uint8_t* w_at = w + size_t(o * extent + index) * chunk;
    uint8_t* p_at = p + size_t(o) * chunk;
    if (gather) {
      std::memcpy(p_at, w_at, chunk);
    } else {
      std::memcpy(w_at, p_at, chunk);
    }
  }
}

}  // namespace

Dims insert_dim(Dims shape, size_t axis, int64_t extent) {
  shape.insert(shape.begin() + std::ptrdiff_t(axis), extent);
  return shape;
}

namespace {

// Stacks per-iteration tensors along a new axis at `axis`, each at its slot in `order`.
Tensor stack(const ir::Node& node, const std::string& what, const std::vector<Tensor>& parts,
             const std::vector<int64_t>& slots, size_t axis) {
  const Tensor& first = parts.front();
  Tensor whole =
      Tensor::zeros(first.dtype(), insert_dim(first.shape(), axis, int64_t(parts.size())));
  for (size_t t = 0; t < parts.size(); ++t) {
    KILN_CHECK(parts[t].dtype() == first.dtype() && parts[t].shape() == first.shape(),
               ErrorCode::kInvalidModel, node.describe(), ": ", what, " is ",
               to_string(first.dtype()), " ", to_string(first.shape()), " at iteration 0 but ",
               to_string(parts[t].dtype()), " ", to_string(parts[t].shape()), " at iteration ", t,
               "; iterations must agree to be concatenated");
    Tensor part = parts[t];
    copy_along_axis(whole, part, axis, slots[t], /*gather=*/false);
  }
  return whole;
}

// ---------------------------------------------------------------------------------------------
// If: inputs cond, captured...; attributes then_branch, else_branch (graphs with one input per
// captured value). Outputs: those of the branch taken.

void infer_if(InferContext& ctx) {
  const ir::Node& node = ctx.node();
  const ir::Graph& then_g = node.attr_graph("then_branch");
  const ir::Graph& else_g = node.attr_graph("else_branch");
  const size_t captured = captured_count(node);
  ctx.check(captured + 1 == node.inputs.size(), "has ", node.inputs.size(),
            " inputs: the condition and ", captured, " captured values expected");
  ctx.check(then_g.outputs().size() == else_g.outputs().size(), "then_branch has ",
            then_g.outputs().size(), " outputs but else_branch has ", else_g.outputs().size());
  ctx.check(ctx.num_outputs() <= then_g.outputs().size(), "has ", ctx.num_outputs(),
            " outputs but its branches compute ", then_g.outputs().size());
  const TensorDesc& cond = ctx.input(0);
  ctx.check(volume(cond.shape) == 1, "the condition must hold one element, not shape ",
            to_string(cond.shape));
  check_body_inputs(ctx, then_g, "then_branch", captured, "captured values");
  check_body_inputs(ctx, else_g, "else_branch", captured, "captured values");
  std::vector<TensorDesc> descs;
  std::vector<const Tensor*> values;
  add_captured(ctx, 1, descs, values);

  auto resolve = [&](const ir::Graph& g, const char* which) {
    return in_body(node, cat("in ", which), [&] { return resolve_subgraph(g, descs, values); });
  };
  if (const Tensor* c = ctx.input_value(0)) {
    // Known at shape time: the other branch does not exist for this engine.
    const bool take_then = c->as_double(0) != 0.0;
    const ir::Graph& g = take_then ? then_g : else_g;
    ResolvedShapes r = resolve(g, take_then ? "then_branch" : "else_branch");
    bool all_values = true;
    std::vector<BodyOutput> outs;
    for (size_t i = 0; i < ctx.num_outputs(); ++i) {
      outs.push_back(body_output(node, g, r, i));
      if (node.outputs[i] && !outs.back().value) all_values = false;
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!node.outputs[i]) continue;
      if (!outs[i].shape) {
        declare_data_dependent(ctx, i, outs[i].dtype, outs[i].rank);
        continue;
      }
      ctx.set_output(i, outs[i].dtype, *outs[i].shape);
      // Only all at once: a node with some outputs known and others computed has no place
      // for the known ones in the engine's memory plan.
      if (all_values) ctx.set_output_value(i, *outs[i].value);
    }
    return;
  }
  // With the condition unknown, a branch may be one that these shapes never take (exporters
  // guard rank- or size-specific code with If): a branch whose shapes do not resolve leaves
  // the outputs data-dependent, and fails only if a run ever takes it.
  std::exception_ptr then_error, else_error;
  auto try_resolve = [&](const ir::Graph& g, const char* which, std::exception_ptr& error) {
    std::optional<ResolvedShapes> r;
    try {
      r = resolve(g, which);
    } catch (const ShapeValueUnavailable&) {
      throw;
    } catch (const Error&) {
      error = std::current_exception();
    }
    return r;
  };
  std::optional<ResolvedShapes> rt = try_resolve(then_g, "then_branch", then_error);
  std::optional<ResolvedShapes> re = try_resolve(else_g, "else_branch", else_error);
  if (!rt && !re) std::rethrow_exception(then_error);
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    if (!node.outputs[i]) continue;
    if (!rt || !re) {
      BodyOutput known = rt ? body_output(node, then_g, *rt, i) : body_output(node, else_g, *re, i);
      declare_data_dependent(ctx, i, known.dtype, known.rank);
      continue;
    }
    BodyOutput a = body_output(node, then_g, *rt, i);
    BodyOutput b = body_output(node, else_g, *re, i);
    ctx.check(a.dtype == b.dtype, "output ", i, " is ", to_string(a.dtype), " in then_branch but ",
              to_string(b.dtype), " in else_branch");
    if (a.shape && b.shape && *a.shape == *b.shape) {
      ctx.set_output(i, a.dtype, *a.shape);
    } else {
      // Which shape it has depends on the condition, known only when the node runs.
      declare_data_dependent(ctx, i, a.dtype,
                             a.rank && b.rank && *a.rank == *b.rank ? a.rank : std::nullopt);
    }
  }
}

void compute_if(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const bool take_then = scalar_truth(ctx.input(0), node, "the condition");
  const char* which = take_then ? "then_branch" : "else_branch";
  const ir::Graph& g = node.attr_graph(which);
  std::vector<Tensor> inputs;
  for (size_t i = 1; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.input(i));
  std::vector<Tensor> outs =
      in_body(node, cat("in ", which), [&] { return run_body(node, g, inputs); });
  for (size_t i = 0; i < ctx.num_outputs(); ++i) emit_output(ctx, i, outs[i]);
}

// ---------------------------------------------------------------------------------------------
// Loop: inputs M (optional trip count), cond (optional), N loop-carried initial values,
// captured...; attribute body with inputs (iteration number, condition, N carried, captured)
// and outputs (condition, N carried, K scan outputs). Outputs: N final carried values, then K
// scan outputs, each the per-iteration values stacked along a new axis 0.
// (LoopLayout: ops/control_flow.h.)

}  // namespace

LoopLayout loop_layout(const ir::Node& node, const ir::Graph& body) {
  LoopLayout l;
  l.captured = captured_count(node);
  KILN_CHECK(node.inputs.size() >= 2 + l.captured, ErrorCode::kInvalidModel, node.describe(),
             ": has ", node.inputs.size(), " inputs: expected M, cond and ", l.captured,
             " captured values at least");
  l.carried = node.inputs.size() - 2 - l.captured;
  KILN_CHECK(body.inputs().size() == 2 + l.carried + l.captured, ErrorCode::kInvalidModel,
             node.describe(), ": its body has ", body.inputs().size(),
             " inputs but the node passes ", 2 + l.carried + l.captured,
             " (iteration number, condition, ", l.carried, " loop-carried and ", l.captured,
             " captured values)");
  KILN_CHECK(body.outputs().size() >= 1 + l.carried, ErrorCode::kInvalidModel, node.describe(),
             ": its body has ", body.outputs().size(),
             " outputs but must return the condition and ", l.carried, " loop-carried values");
  l.scans = body.outputs().size() - 1 - l.carried;
  KILN_CHECK(node.outputs.size() <= l.carried + l.scans, ErrorCode::kInvalidModel, node.describe(),
             ": has ", node.outputs.size(), " outputs but its body computes ", l.carried,
             " loop-carried values and ", l.scans, " scan outputs");
  return l;
}

// Whether the body's condition output stays true once the loop has started: it is the
// condition input passed through unchanged (through Identity nodes), or a true constant. Then
// the trip count alone decides how many times the body runs.
bool condition_stays_true(const ir::Graph& body) {
  const ir::Value* v = body.outputs()[0];
  while (v && v->producer && v->producer->op == "Identity" && v->producer->has_input(0)) {
    v = v->producer->inputs[0];
  }
  if (v && v->is_constant()) return v->constant->numel() == 1 && v->constant->as_double(0) != 0;
  return v == body.inputs()[1];
}

TensorDesc empty_loop_scan(const ir::Node& node, const ir::Graph& body, const LoopLayout& l,
                           const std::vector<TensorDesc>& carried,
                           const std::vector<TensorDesc>& captured,
                           const std::vector<const Tensor*>& captured_values, size_t k) {
  std::vector<TensorDesc> descs{{DataType::kInt64, {}}, {DataType::kBool, {}}};
  std::vector<const Tensor*> values(2 + l.carried, nullptr);
  descs.insert(descs.end(), carried.begin(), carried.end());
  descs.insert(descs.end(), captured.begin(), captured.end());
  values.insert(values.end(), captured_values.begin(), captured_values.end());
  const ResolvedShapes r =
      in_body(node, "in its body", [&] { return resolve_subgraph(body, descs, values); });
  const BodyOutput out = body_output(node, body, r, 1 + l.carried + k);
  return {out.dtype, out.shape ? insert_dim(*out.shape, 0, 0) : Dims{0}};
}

namespace {

void infer_loop(InferContext& ctx) {
  const ir::Node& node = ctx.node();
  const ir::Graph& body = node.attr_graph("body");
  const LoopLayout l = loop_layout(node, body);
  if (ctx.has_input(0)) {
    ctx.check(ctx.input_dtype(0) == DataType::kInt64 && volume(ctx.input_shape(0)) == 1,
              "the trip count M must be one int64, not ", to_string(ctx.input_dtype(0)), " ",
              to_string(ctx.input_shape(0)));
  }
  if (ctx.has_input(1)) {
    ctx.check(volume(ctx.input_shape(1)) == 1, "the condition must hold one element, not shape ",
              to_string(ctx.input_shape(1)));
  }
  std::vector<TensorDesc> descs{{DataType::kInt64, {}}, {DataType::kBool, {}}};
  std::vector<const Tensor*> values{nullptr, nullptr};
  for (size_t j = 0; j < l.carried; ++j) {
    ctx.check(ctx.has_input(2 + j), "loop-carried input ", j, " is missing");
    descs.push_back(ctx.input(2 + j));
    // Not the initial contents: they change from one iteration to the next.
    values.push_back(nullptr);
  }
  add_captured(ctx, 2 + l.carried, descs, values);
  ResolvedShapes r =
      in_body(node, "in its body", [&] { return resolve_subgraph(body, descs, values); });

  // The trip count, when shape time knows it.
  std::optional<int64_t> trips;
  const Tensor* m = ctx.has_input(0) ? ctx.input_value(0) : nullptr;
  const Tensor* c = ctx.has_input(1) ? ctx.input_value(1) : nullptr;
  const bool starts = !ctx.has_input(1) || (c && c->as_double(0) != 0.0);
  if (ctx.has_input(1) && c && !starts) {
    trips = 0;
  } else if (starts && m && condition_stays_true(body)) {
    trips = std::max<int64_t>(m->as_int64(0), 0);
  }

  for (size_t j = 0; j < l.carried && j < ctx.num_outputs(); ++j) {
    if (!node.outputs[j]) continue;
    const TensorDesc& initial = ctx.input(2 + j);
    BodyOutput out = body_output(node, body, r, 1 + j);
    ctx.check(out.dtype == initial.dtype, "loop-carried value ", j, " starts as ",
              to_string(initial.dtype), " but the body returns ", to_string(out.dtype));
    if ((out.shape && *out.shape == initial.shape) || trips == int64_t(0)) {
      ctx.set_output(j, initial.dtype, initial.shape);
    } else {
      // Its shape changes from one iteration to the next: the final one depends on the count.
      declare_data_dependent(ctx, j, initial.dtype,
                             out.rank == initial.shape.size() ? out.rank : std::nullopt);
    }
  }
  for (size_t k = 0; k < l.scans && l.carried + k < ctx.num_outputs(); ++k) {
    const size_t i = l.carried + k;
    if (!node.outputs[i]) continue;
    BodyOutput out = body_output(node, body, r, 1 + l.carried + k);
    if (out.shape && trips) {
      ctx.set_output(i, out.dtype, insert_dim(*out.shape, 0, *trips));
    } else {
      declare_data_dependent(ctx, i, out.dtype,
                             out.rank ? std::optional<size_t>(*out.rank + 1) : std::nullopt);
    }
  }
}

void compute_loop(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const ir::Graph& body = node.attr_graph("body");
  const LoopLayout l = loop_layout(node, body);
  const int64_t max_trips =
      ctx.has_input(0) ? ctx.input(0).as_int64(0) : std::numeric_limits<int64_t>::max();
  bool cond = ctx.has_input(1) ? scalar_truth(ctx.input(1), node, "the condition") : true;
  KILN_CHECK(ctx.has_input(0) || !cond || !condition_stays_true(body), ErrorCode::kInvalidModel,
             node.describe(),
             ": has no trip count and its body's condition output stays true, so it would "
             "never end");
  std::vector<Tensor> carried;
  for (size_t j = 0; j < l.carried; ++j) carried.push_back(ctx.input(2 + j));
  std::vector<Tensor> captured;
  for (size_t i = 2 + l.carried; i < ctx.num_inputs(); ++i) captured.push_back(ctx.input(i));
  std::vector<std::vector<Tensor>> scans(l.scans);
  int64_t iteration = 0;
  for (; iteration < max_trips && cond; ++iteration) {
    std::vector<Tensor> inputs{Tensor::scalar_int64(iteration), bool_scalar(cond)};
    inputs.insert(inputs.end(), carried.begin(), carried.end());
    inputs.insert(inputs.end(), captured.begin(), captured.end());
    std::vector<Tensor> outs = in_body(node, cat("iteration ", iteration, " of its body"),
                                       [&] { return run_body(node, body, inputs); });
    cond = scalar_truth(outs[0], node, "the body's condition output");
    for (size_t j = 0; j < l.carried; ++j) carried[j] = std::move(outs[1 + j]);
    for (size_t k = 0; k < l.scans; ++k) scans[k].push_back(std::move(outs[1 + l.carried + k]));
  }
  for (size_t j = 0; j < l.carried && j < ctx.num_outputs(); ++j) emit_output(ctx, j, carried[j]);
  std::vector<TensorDesc> carried_descs, captured_descs;
  std::vector<const Tensor*> captured_values;
  for (const Tensor& t : carried) carried_descs.push_back({t.dtype(), t.shape()});
  for (const Tensor& t : captured) {
    captured_descs.push_back({t.dtype(), t.shape()});
    captured_values.push_back(&t);
  }
  for (size_t k = 0; k < l.scans && l.carried + k < ctx.num_outputs(); ++k) {
    const size_t i = l.carried + k;
    if (!ctx.has_output(i)) continue;
    if (scans[k].empty()) {
      const TensorDesc d =
          empty_loop_scan(node, body, l, carried_descs, captured_descs, captured_values, k);
      emit_output(ctx, i, Tensor::zeros(d.dtype, d.shape));
      continue;
    }
    std::vector<int64_t> slots(scans[k].size());
    for (size_t t = 0; t < slots.size(); ++t) slots[t] = int64_t(t);
    emit_output(ctx, i, stack(node, cat("scan output ", k), scans[k], slots, 0));
  }
}

// ---------------------------------------------------------------------------------------------
// Scan (opset 9+): inputs N initial states, M scan inputs, captured...; attributes body
// (inputs: N states, M slices, captured; outputs: N states, K per-iteration values),
// num_scan_inputs, scan_input_axes/directions, scan_output_axes/directions.

}  // namespace

ScanLayout scan_layout(const ir::Node& node, const ir::Graph& body) {
  ScanLayout l;
  l.captured = captured_count(node);
  const int64_t m = node.attr_int("num_scan_inputs");
  const size_t own = node.inputs.size() - l.captured;
  KILN_CHECK(m >= 1 && size_t(m) <= own, ErrorCode::kInvalidModel, node.describe(),
             ": num_scan_inputs is ", m, " but the node has ", own, " state and scan inputs");
  l.inputs = size_t(m);
  l.states = own - l.inputs;
  KILN_CHECK(body.inputs().size() == own + l.captured, ErrorCode::kInvalidModel, node.describe(),
             ": its body has ", body.inputs().size(), " inputs but the node passes ",
             own + l.captured, " (", l.states, " states, ", l.inputs, " scan slices, ", l.captured,
             " captured values)");
  KILN_CHECK(body.outputs().size() >= l.states, ErrorCode::kInvalidModel, node.describe(),
             ": its body has ", body.outputs().size(), " outputs but must return ", l.states,
             " states");
  l.outputs = body.outputs().size() - l.states;
  KILN_CHECK(node.outputs.size() <= l.states + l.outputs, ErrorCode::kInvalidModel, node.describe(),
             ": has ", node.outputs.size(), " outputs but its body computes ",
             l.states + l.outputs);
  auto list = [&](const char* key, size_t n) {
    std::vector<int64_t> v = node.attr_ints(key, std::vector<int64_t>(n, 0));
    KILN_CHECK(v.size() == n, ErrorCode::kInvalidModel, node.describe(), ": ", key, " has ",
               v.size(), " entries, expected ", n);
    return v;
  };
  l.input_axes = list("scan_input_axes", l.inputs);
  l.input_directions = list("scan_input_directions", l.inputs);
  l.output_axes = list("scan_output_axes", l.outputs);
  l.output_directions = list("scan_output_directions", l.outputs);
  for (int64_t d : l.input_directions) {
    KILN_CHECK(d == 0 || d == 1, ErrorCode::kInvalidModel, node.describe(),
               ": a scan input direction is ", d, "; 0 (forward) or 1 (reverse) expected");
  }
  for (int64_t d : l.output_directions) {
    KILN_CHECK(d == 0 || d == 1, ErrorCode::kInvalidModel, node.describe(),
               ": a scan output direction is ", d, "; 0 (forward) or 1 (reverse) expected");
  }
  return l;
}

namespace {

size_t normalize_axis(const ir::Node& node, int64_t axis, size_t rank, const char* what) {
  const int64_t r = int64_t(rank);
  KILN_CHECK(axis >= -r && axis < r, ErrorCode::kInvalidModel, node.describe(), ": ", what, " ",
             axis, " is out of range for rank ", rank);
  return size_t(axis < 0 ? axis + r : axis);
}

}  // namespace

// The sequence length and each scan input's axis.
int64_t scan_length(const ir::Node& node, const ScanLayout& l, const std::vector<Dims>& shapes,
                    std::vector<size_t>& axes) {
  int64_t length = -1;
  for (size_t j = 0; j < l.inputs; ++j) {
    const Dims& s = shapes[l.states + j];
    axes.push_back(normalize_axis(node, l.input_axes[j], s.size(), "scan input axis"));
    const int64_t extent = s[axes.back()];
    KILN_CHECK(length < 0 || extent == length, ErrorCode::kInvalidModel, node.describe(),
               ": scan input ", j, " has ", extent, " steps along axis ", axes.back(),
               " but scan input 0 has ", length);
    length = extent;
  }
  return length;
}

size_t scan_output_axis(const ir::Node& node, const ScanLayout& l, size_t k, size_t rank) {
  return normalize_axis(node, l.output_axes[k], rank, "scan output axis");
}

Dims remove_dim(Dims shape, size_t axis) {
  shape.erase(shape.begin() + std::ptrdiff_t(axis));
  return shape;
}

namespace {

void infer_scan(InferContext& ctx) {
  const ir::Node& node = ctx.node();
  const ir::Graph& body = node.attr_graph("body");
  const ScanLayout l = scan_layout(node, body);
  std::vector<Dims> shapes;
  for (size_t i = 0; i < l.states + l.inputs; ++i) shapes.push_back(ctx.input_shape(i));
  std::vector<size_t> axes;
  const int64_t length = scan_length(node, l, shapes, axes);
  std::vector<TensorDesc> descs;
  std::vector<const Tensor*> values;
  for (size_t j = 0; j < l.states; ++j) {
    descs.push_back(ctx.input(j));
    values.push_back(nullptr);
  }
  for (size_t j = 0; j < l.inputs; ++j) {
    descs.push_back({ctx.input_dtype(l.states + j), remove_dim(shapes[l.states + j], axes[j])});
    values.push_back(nullptr);
  }
  add_captured(ctx, l.states + l.inputs, descs, values);
  ResolvedShapes r =
      in_body(node, "in its body", [&] { return resolve_subgraph(body, descs, values); });
  for (size_t j = 0; j < l.states && j < ctx.num_outputs(); ++j) {
    if (!node.outputs[j]) continue;
    const TensorDesc& initial = ctx.input(j);
    BodyOutput out = body_output(node, body, r, j);
    ctx.check(out.dtype == initial.dtype, "state ", j, " starts as ", to_string(initial.dtype),
              " but the body returns ", to_string(out.dtype));
    if ((out.shape && *out.shape == initial.shape) || length == 0) {
      ctx.set_output(j, initial.dtype, initial.shape);
    } else {
      declare_data_dependent(ctx, j, initial.dtype,
                             out.rank == initial.shape.size() ? out.rank : std::nullopt);
    }
  }
  for (size_t k = 0; k < l.outputs && l.states + k < ctx.num_outputs(); ++k) {
    const size_t i = l.states + k;
    if (!node.outputs[i]) continue;
    BodyOutput out = body_output(node, body, r, l.states + k);
    if (!out.shape) {
      declare_data_dependent(ctx, i, out.dtype,
                             out.rank ? std::optional<size_t>(*out.rank + 1) : std::nullopt);
      continue;
    }
    const size_t axis = scan_output_axis(node, l, k, out.shape->size() + 1);
    ctx.set_output(i, out.dtype, insert_dim(*out.shape, axis, length));
  }
}

void compute_scan(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const ir::Graph& body = node.attr_graph("body");
  const ScanLayout l = scan_layout(node, body);
  std::vector<Dims> shapes;
  for (size_t i = 0; i < l.states + l.inputs; ++i) shapes.push_back(ctx.input(i).shape());
  std::vector<size_t> axes;
  const int64_t length = scan_length(node, l, shapes, axes);
  std::vector<Tensor> states;
  for (size_t j = 0; j < l.states; ++j) states.push_back(ctx.input(j));
  std::vector<Tensor> captured;
  for (size_t i = l.states + l.inputs; i < ctx.num_inputs(); ++i) captured.push_back(ctx.input(i));
  std::vector<std::vector<Tensor>> outs_by_step(l.outputs);
  for (int64_t t = 0; t < length; ++t) {
    std::vector<Tensor> inputs = states;
    for (size_t j = 0; j < l.inputs; ++j) {
      Tensor whole = ctx.input(l.states + j);
      Tensor slice = Tensor::zeros(whole.dtype(), remove_dim(whole.shape(), axes[j]));
      const int64_t index = l.input_directions[j] ? length - 1 - t : t;
      copy_along_axis(whole, slice, axes[j], index, /*gather=*/true);
      inputs.push_back(std::move(slice));
    }
    inputs.insert(inputs.end(), captured.begin(), captured.end());
    std::vector<Tensor> outs = in_body(node, cat("step ", t, " of its body"),
                                       [&] { return run_body(node, body, inputs); });
    for (size_t j = 0; j < l.states; ++j) states[j] = std::move(outs[j]);
    for (size_t k = 0; k < l.outputs; ++k) outs_by_step[k].push_back(std::move(outs[l.states + k]));
  }
  for (size_t j = 0; j < l.states && j < ctx.num_outputs(); ++j) emit_output(ctx, j, states[j]);
  for (size_t k = 0; k < l.outputs && l.states + k < ctx.num_outputs(); ++k) {
    const size_t i = l.states + k;
    if (!ctx.has_output(i)) continue;
    if (outs_by_step[k].empty()) {
      // Zero steps: inference sized it when the body's shapes are static; otherwise an empty
      // tensor is all there is to say.
      if (!ctx.output(i).defined()) {
        ctx.allocate_output(i, body.outputs()[l.states + k]->dtype, {0});
      }
      continue;
    }
    const size_t axis = scan_output_axis(node, l, k, outs_by_step[k][0].rank() + 1);
    std::vector<int64_t> slots(static_cast<size_t>(length));
    for (int64_t t = 0; t < length; ++t) {
      slots[size_t(t)] = l.output_directions[k] ? length - 1 - t : t;
    }
    emit_output(ctx, i, stack(node, cat("scan output ", k), outs_by_step[k], slots, axis));
  }
}

constexpr int kAnyCount = std::numeric_limits<int>::max();

KILN_REGISTER_OP(OpDef{.name = "If",
                       .min_inputs = 1,
                       .max_inputs = -1,
                       .min_outputs = 1,
                       .max_outputs = kAnyCount,
                       .infer = infer_if,
                       .compute = compute_if});

KILN_REGISTER_OP(OpDef{.name = "Loop",
                       .min_inputs = 2,
                       .max_inputs = -1,
                       .min_outputs = 1,
                       .max_outputs = kAnyCount,
                       .infer = infer_loop,
                       .compute = compute_loop});

KILN_REGISTER_OP(OpDef{.name = "Scan",
                       .min_inputs = 1,
                       .max_inputs = -1,
                       .min_outputs = 1,
                       .max_outputs = kAnyCount,
                       .infer = infer_scan,
                       .compute = compute_scan});

}  // namespace
}  // namespace kiln::ops

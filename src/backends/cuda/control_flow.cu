// If, Loop and Scan on the GPU: control_flow.cuh explains how they run.
#include <limits>
#include <variant>

#include "backends/cuda/control_flow.cuh"
#include "backends/cuda/cuda_kernel.h"
#include "ops/control_flow.h"

namespace kiln::cuda {

bool is_control_flow(const std::string& op) { return op == "If" || op == "Loop" || op == "Scan"; }

namespace {

std::vector<std::pair<std::string, const ir::Graph*>> bodies_of(const ir::Node& node) {
  std::vector<std::pair<std::string, const ir::Graph*>> bodies;
  for (const auto& [key, attr] : node.attrs) {
    if (const auto* g = std::get_if<std::shared_ptr<ir::Graph>>(&attr); g && *g) {
      bodies.emplace_back(key, g->get());
    }
  }
  return bodies;
}

void check_body(const ir::Node& owner, const std::string& where, const ir::Graph& body) {
  for (const auto& n : body.nodes()) {
    if (is_control_flow(n->op)) {
      for (const auto& [key, inner] : bodies_of(*n)) {
        check_body(owner, cat(where, ", in ", n->describe(), "'s ", key), *inner);
      }
      continue;
    }
    KILN_CHECK(CudaKernelRegistry::instance().has_op(n->op) || computed_from_extents(n->op),
               ErrorCode::kUnsupported, owner.describe(), ": ", where, ": ", n->describe(),
               ": the CUDA backend has no kernel for op ", n->op,
               " (and no fallback to the CPU); build for DeviceType::kCPU, or change the model");
  }
}

size_t bytes_of(const ops::TensorDesc& d) {
  return size_t(volume(d.shape)) * element_size(d.dtype);
}

// Binds body input `inner` to the contents of `outer`, without a copy: bodies never write
// their inputs.
void alias(ValueScope& s, const ir::Value* inner, const ir::Value* outer) {
  const ops::TensorDesc d = s.desc(outer);
  if (const Tensor* host = s.host_contents(outer)) {
    const Tensor contents = *host;  // `bind` may move what `host` points into
    s.bind(inner, d, nullptr, &contents);
    return;
  }
  s.bind(inner, d, s.device_data(outer), nullptr);
}

void run_body(ValueScope& s, const ir::Graph& body) {
  for (const auto& n : body.nodes()) {
    for (const ir::Value* out : n->outputs) {
      if (out) s.forget(out);  // what the previous iteration computed
    }
    s.run_node(*n);
  }
}

// Copies the contents of `from` to device memory `to`, on the stream.
void copy_value(ValueScope& s, const ir::Node& node, const ir::Value* from, void* to) {
  const size_t bytes = bytes_of(s.desc(from));
  if (bytes == 0) return;
  if (const Tensor* host = s.host_contents(from)) {
    check_cuda(cudaMemcpyAsync(to, host->raw(), bytes, cudaMemcpyHostToDevice, s.stream()), node,
               cat("copying '", from->name, "' to the GPU").c_str());
    return;
  }
  const void* src = s.device_data(from);
  if (src == to) return;
  check_cuda(cudaMemcpyAsync(to, src, bytes, cudaMemcpyDeviceToDevice, s.stream()), node,
             cat("copying '", from->name, "'").c_str());
}

// Output i of the node gets the contents of body value `from`.
void emit(ValueScope& s, const ir::Node& node, size_t i, const ir::Value* from) {
  if (i >= node.outputs.size() || !node.outputs[i]) return;
  const ops::TensorDesc d = s.desc(from);
  copy_value(s, node, from, s.place_result(node, i, d));
}

// Loop-carried values and Scan states: body outputs `from[j]` become body inputs `to[j]` for
// the next iteration. Device contents are copied (the next iteration overwrites the body's
// outputs while it still reads its inputs) into one of two buffers per input, used in turn
// (a body may return its inputs swapped); contents known on the host stay there.
void carry_over(ValueScope& s, const ir::Node& node, const std::vector<const ir::Value*>& from,
                const std::vector<const ir::Value*>& to, int64_t iteration) {
  struct Next {
    ops::TensorDesc desc;
    void* data = nullptr;
    std::optional<Tensor> host;
  };
  std::vector<Next> next(from.size());
  for (size_t j = 0; j < from.size(); ++j) {
    next[j].desc = s.desc(from[j]);
    if (const Tensor* host = s.host_contents(from[j])) {
      next[j].host = *host;
      continue;
    }
    next[j].data = s.scratch(to[j], 1 + int(iteration % 2), bytes_of(next[j].desc), 0);
    copy_value(s, node, from[j], next[j].data);
  }
  for (size_t j = 0; j < to.size(); ++j) {
    s.bind(to[j], next[j].desc, next[j].data, next[j].host ? &*next[j].host : nullptr);
  }
}

void check_same_step(const ir::Node& node, const char* what, size_t k, const ops::TensorDesc& first,
                     const ops::TensorDesc& now, int64_t iteration) {
  KILN_CHECK(first.dtype == now.dtype && first.shape == now.shape, ErrorCode::kInvalidModel,
             node.describe(), ": ", what, " ", k, " is ", to_string(first.dtype), " ",
             to_string(first.shape), " at iteration 0 but ", to_string(now.dtype), " ",
             to_string(now.shape), " at iteration ", iteration,
             "; iterations must agree to be concatenated");
}

// ---------------------------------------------------------------------------------------------

void run_if(const ir::Node& node, ValueScope& s) {
  const size_t captured = ops::captured_count(node);
  const bool take_then = ops::scalar_truth(s.fetch(node.inputs.at(0), node), node, "the condition");
  const char* which = take_then ? "then_branch" : "else_branch";
  const ir::Graph& g = node.attr_graph(which);
  KILN_CHECK(g.inputs().size() == captured && node.inputs.size() == captured + 1,
             ErrorCode::kInvalidModel, node.describe(), ": its ", which, " has ", g.inputs().size(),
             " inputs but the node passes ", node.inputs.size() - 1, " captured values");
  ops::in_body(node, cat("in ", which), [&] {
    for (size_t i = 0; i < captured; ++i) alias(s, g.inputs()[i], node.inputs[1 + i]);
    run_body(s, g);
  });
  for (size_t i = 0; i < node.outputs.size() && i < g.outputs().size(); ++i) {
    emit(s, node, i, g.outputs()[i]);
  }
}

void run_loop(const ir::Node& node, ValueScope& s) {
  const ir::Graph& body = node.attr_graph("body");
  const ops::LoopLayout l = ops::loop_layout(node, body);
  const int64_t max_trips = node.has_input(0) ? s.fetch(node.inputs[0], node).as_int64(0)
                                              : std::numeric_limits<int64_t>::max();
  bool cond =
      !node.has_input(1) || ops::scalar_truth(s.fetch(node.inputs[1], node), node, "the condition");
  const bool stays_true = ops::condition_stays_true(body);
  KILN_CHECK(node.has_input(0) || !cond || !stays_true, ErrorCode::kInvalidModel, node.describe(),
             ": has no trip count and its body's condition output stays true, so it would "
             "never end");
  std::vector<const ir::Value*> carried_in, carried_out;
  for (size_t j = 0; j < l.carried; ++j) {
    carried_in.push_back(body.inputs()[2 + j]);
    carried_out.push_back(body.outputs()[1 + j]);
    alias(s, body.inputs()[2 + j], node.inputs[2 + j]);
  }
  for (size_t c = 0; c < l.captured; ++c) {
    alias(s, body.inputs()[2 + l.carried + c], node.inputs[2 + l.carried + c]);
  }
  // Scan outputs accumulate, one iteration after the other, in grow-only scratch memory.
  std::vector<ops::TensorDesc> step(l.scans);
  std::vector<void*> stacked(l.scans, nullptr);
  int64_t iteration = 0;
  for (; iteration < max_trips && cond; ++iteration) {
    ops::in_body(node, cat("iteration ", iteration, " of its body"), [&] {
      const Tensor number = Tensor::scalar_int64(iteration);
      const Tensor condition = ops::bool_scalar(cond);
      s.bind(body.inputs()[0], {DataType::kInt64, {}}, nullptr, &number);
      s.bind(body.inputs()[1], {DataType::kBool, {}}, nullptr, &condition);
      run_body(s, body);
      if (!stays_true) {
        cond = ops::scalar_truth(s.fetch(body.outputs()[0], node), node,
                                 "the body's condition output");
      }
      for (size_t k = 0; k < l.scans; ++k) {
        const ir::Value* from = body.outputs()[1 + l.carried + k];
        const ops::TensorDesc d = s.desc(from);
        if (iteration == 0) step[k] = d;
        check_same_step(node, "scan output", k, step[k], d, iteration);
        const size_t each = bytes_of(d);
        stacked[k] = s.scratch(from, 3, size_t(iteration + 1) * each, size_t(iteration) * each);
        copy_value(s, node, from, static_cast<std::byte*>(stacked[k]) + size_t(iteration) * each);
      }
      carry_over(s, node, carried_out, carried_in, iteration);
    });
  }
  for (size_t j = 0; j < l.carried; ++j) emit(s, node, j, carried_in[j]);
  for (size_t k = 0; k < l.scans && l.carried + k < node.outputs.size(); ++k) {
    const size_t i = l.carried + k;
    if (!node.outputs[i]) continue;
    if (iteration == 0) {
      const ops::TensorDesc* resolved = s.resolved_desc(node.outputs[i]);
      if (resolved) {
        s.place_result(node, i, *resolved);
        continue;
      }
      std::vector<ops::TensorDesc> carried, captured;
      std::vector<const Tensor*> captured_values;
      for (const ir::Value* v : carried_in) carried.push_back(s.desc(v));
      for (size_t c = 0; c < l.captured; ++c) {
        const ir::Value* v = node.inputs[2 + l.carried + c];
        captured.push_back(s.desc(v));
        captured_values.push_back(s.host_contents(v));
      }
      s.place_result(node, i,
                     ops::empty_loop_scan(node, body, l, carried, captured, captured_values, k));
      continue;
    }
    const ops::TensorDesc whole{step[k].dtype, ops::insert_dim(step[k].shape, 0, iteration)};
    void* dst = s.place_result(node, i, whole);
    if (bytes_of(whole)) {
      check_cuda(
          cudaMemcpyAsync(dst, stacked[k], bytes_of(whole), cudaMemcpyDeviceToDevice, s.stream()),
          node, cat("copying scan output ", k).c_str());
    }
  }
}

// Extents before and after `axis` as (outer elements, inner bytes), for strided copies of one
// slice of a tensor stacked along `axis`.
std::pair<size_t, size_t> around_axis(const Dims& shape, size_t axis, size_t element_bytes) {
  size_t outer = 1, inner = element_bytes;
  for (size_t d = 0; d < axis; ++d) outer *= size_t(shape[d]);
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= size_t(shape[d]);
  return {outer, inner};
}

void run_scan(const ir::Node& node, ValueScope& s) {
  const ir::Graph& body = node.attr_graph("body");
  const ops::ScanLayout l = ops::scan_layout(node, body);
  std::vector<Dims> shapes;
  for (size_t i = 0; i < l.states + l.inputs; ++i) shapes.push_back(s.desc(node.inputs[i]).shape);
  std::vector<size_t> axes;
  const int64_t length = ops::scan_length(node, l, shapes, axes);
  std::vector<const ir::Value*> states_in, states_out;
  for (size_t j = 0; j < l.states; ++j) {
    states_in.push_back(body.inputs()[j]);
    states_out.push_back(body.outputs()[j]);
    alias(s, body.inputs()[j], node.inputs[j]);
  }
  const size_t first_captured = l.states + l.inputs;
  for (size_t c = 0; c < l.captured; ++c) {
    alias(s, body.inputs()[first_captured + c], node.inputs[first_captured + c]);
  }
  std::vector<ops::TensorDesc> step(l.outputs);
  std::vector<std::byte*> stacked(l.outputs, nullptr);
  for (int64_t t = 0; t < length; ++t) {
    ops::in_body(node, cat("step ", t, " of its body"), [&] {
      for (size_t j = 0; j < l.inputs; ++j) {
        const ir::Value* whole = node.inputs[l.states + j];
        const ops::TensorDesc d = s.desc(whole);
        const size_t axis = axes[j];
        const int64_t index = l.input_directions[j] ? length - 1 - t : t;
        const auto [outer, inner] = around_axis(d.shape, axis, element_size(d.dtype));
        const auto* src =
            static_cast<const std::byte*>(s.device_data(whole)) + size_t(index) * inner;
        const ops::TensorDesc slice{d.dtype, ops::remove_dim(d.shape, axis)};
        const ir::Value* to = body.inputs()[l.states + j];
        if (outer == 1) {
          s.bind(to, slice, src, nullptr);  // contiguous: read in place
          continue;
        }
        void* dst = s.scratch(to, 1, outer * inner, 0);
        if (inner > 0) {
          check_cuda(cudaMemcpy2DAsync(dst, inner, src, size_t(length) * inner, inner, outer,
                                       cudaMemcpyDeviceToDevice, s.stream()),
                     node, cat("slicing scan input ", j).c_str());
        }
        s.bind(to, slice, dst, nullptr);
      }
      run_body(s, body);
      for (size_t k = 0; k < l.outputs; ++k) {
        const ir::Value* from = body.outputs()[l.states + k];
        const ops::TensorDesc d = s.desc(from);
        const size_t i = l.states + k;
        const size_t axis = ops::scan_output_axis(node, l, k, d.shape.size() + 1);
        if (t == 0) {
          step[k] = d;
          // The stacked output's place is known once the first step gives its extents; a
          // node output nobody reads still needs the body to run, not memory.
          if (i < node.outputs.size() && node.outputs[i]) {
            const ops::TensorDesc whole{d.dtype, ops::insert_dim(d.shape, axis, length)};
            stacked[k] = static_cast<std::byte*>(s.place_result(node, i, whole));
          }
        }
        check_same_step(node, "scan output", k, step[k], d, t);
        if (!stacked[k]) continue;
        const int64_t index = l.output_directions[k] ? length - 1 - t : t;
        const auto [outer, inner] =
            around_axis(ops::insert_dim(d.shape, axis, length), axis, element_size(d.dtype));
        if (outer * inner == 0) continue;
        check_cuda(cudaMemcpy2DAsync(stacked[k] + size_t(index) * inner, size_t(length) * inner,
                                     s.device_data(from), inner, inner, outer,
                                     cudaMemcpyDeviceToDevice, s.stream()),
                   node, cat("stacking scan output ", k).c_str());
      }
      carry_over(s, node, states_out, states_in, t);
    });
  }
  for (size_t j = 0; j < l.states; ++j) emit(s, node, j, states_in[j]);
  if (length > 0) return;
  for (size_t k = 0; k < l.outputs && l.states + k < node.outputs.size(); ++k) {
    const size_t i = l.states + k;
    if (!node.outputs[i]) continue;
    // Zero steps: the build's extents when it resolved them, else an empty tensor.
    const ops::TensorDesc* resolved = s.resolved_desc(node.outputs[i]);
    s.place_result(
        node, i,
        resolved ? *resolved : ops::TensorDesc{body.outputs()[l.states + k]->dtype, Dims{0}});
  }
}

}  // namespace

void check_bodies_run_on_gpu(const ir::Node& node) {
  for (const auto& [key, body] : bodies_of(node)) check_body(node, cat("in its ", key), *body);
}

void run_control_flow(const ir::Node& node, ValueScope& scope) {
  if (node.op == "If") return run_if(node, scope);
  if (node.op == "Loop") return run_loop(node, scope);
  if (node.op == "Scan") return run_scan(node, scope);
  fail(ErrorCode::kInternal, node.describe(), ": is not a control-flow node");
}

}  // namespace kiln::cuda

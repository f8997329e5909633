// How If, Loop and Scan nodes lay out their inputs, body inputs and outputs, checked once
// against the node and its body: shared by the reference compute (control_flow.cpp, which
// explains the conventions) and the CUDA backend's runner (backends/cuda/control_flow.cu).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/op.h"
#include "ops/shape_inference.h"

namespace kiln::ops {

// How many trailing inputs are enclosing values the bodies read (attribute captured_inputs).
size_t captured_count(const ir::Node& node);

// Runs `fn`; errors from inside a body name the node and `where` in it, and keep their code.
template <typename Fn>
auto in_body(const ir::Node& node, const std::string& where, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ShapeValueUnavailable&) {
    throw;
  } catch (const Error& e) {
    throw Error(e.code(), cat(node.describe(), ": ", where, ": ", e.what()));
  }
}

// A bool scalar (a Loop body's condition input).
Tensor bool_scalar(bool v);
// The truth of a one-element condition; kInvalidModel naming the node and `what` otherwise.
bool scalar_truth(const Tensor& t, const ir::Node& node, const char* what);

// Loop: inputs M, cond, N carried, C captured; body inputs (iteration number, condition,
// N carried, C captured); body outputs (condition, N carried, K scan outputs).
struct LoopLayout {
  size_t carried = 0;   // N
  size_t scans = 0;     // K
  size_t captured = 0;  // C
};
LoopLayout loop_layout(const ir::Node& node, const ir::Graph& body);

// Whether the body's condition output stays true once the loop has started (the condition
// input passed through, or a true constant): then the trip count alone ends the loop.
bool condition_stays_true(const ir::Graph& body);

// The type and extents of Loop scan output k when no iteration runs: an empty stack of what
// one iteration would give, when the body's shapes tell it from the carried and captured
// values (`captured_values[i]`: contents when known, else null), else float [0].
TensorDesc empty_loop_scan(const ir::Node& node, const ir::Graph& body, const LoopLayout& l,
                           const std::vector<TensorDesc>& carried,
                           const std::vector<TensorDesc>& captured,
                           const std::vector<const Tensor*>& captured_values, size_t k);

// Scan: inputs N states, M scan inputs, C captured; body inputs (N states, M slices, C
// captured); body outputs (N states, K per-step values); axes and directions per scan input
// and output.
struct ScanLayout {
  size_t states = 0;    // N
  size_t inputs = 0;    // M
  size_t outputs = 0;   // K
  size_t captured = 0;  // C
  std::vector<int64_t> input_axes, input_directions, output_axes, output_directions;
};
ScanLayout scan_layout(const ir::Node& node, const ir::Graph& body);

// The number of steps, given the extents of the node's inputs; appends each scan input's
// (normalized) axis to `axes`.
int64_t scan_length(const ir::Node& node, const ScanLayout& l, const std::vector<Dims>& shapes,
                    std::vector<size_t>& axes);

// A scan output's axis, normalized for a stacked output of rank `rank`.
size_t scan_output_axis(const ir::Node& node, const ScanLayout& l, size_t k, size_t rank);

Dims insert_dim(Dims shape, size_t axis, int64_t extent);
Dims remove_dim(Dims shape, size_t axis);

}  // namespace kiln::ops

// If, Loop and Scan on the GPU. A control-flow node runs as the engine runs (its plan tactic
// is kRuntimeSelectTactic): the executor synchronizes the stream when it reaches it, as for any
// node whose shapes wait for data, and hands it to run_control_flow, which reads the condition
// and trip count on the host, binds the body's inputs to device memory (aliases of the node's
// inputs; loop-carried values in two buffers used in turn, since a body may return its inputs
// swapped), runs the body's nodes one by one through the executor (each resolved and given a
// CUDA kernel for the shapes it then has, exactly like top-level nodes that wait for data;
// nested control flow recurses), and copies the body's outputs to the node's outputs. Loop
// waits for the GPU once per iteration to read the body's condition, unless the condition
// stays true (then the trip count alone ends it). Runs with control flow cannot be captured
// into a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "ir/graph.h"
#include "ops/op.h"

namespace kiln::cuda {

bool is_control_flow(const std::string& op);

// Build time: throws kiln::Error(kUnsupported) naming the node, the body and the body node when
// some node of a body (at any depth) has an op without a CUDA kernel.
void check_bodies_run_on_gpu(const ir::Node& node);

// What running a control-flow node needs of the run that reaches it (cuda_executor.cu's
// GraphRun). Body values live there like any value resolved as the engine runs.
class ValueScope {
 public:
  virtual ~ValueScope() = default;
  virtual cudaStream_t stream() const = 0;
  // The type and extents of a value computed or bound so far.
  virtual const ops::TensorDesc& desc(const ir::Value* v) = 0;
  // Where its contents are on the device (a value known only on the host is uploaded).
  virtual const void* device_data(const ir::Value* v) = 0;
  // Its contents on the host when known without copying from the device, else nullptr.
  virtual const Tensor* host_contents(const ir::Value* v) = 0;
  // Its contents on the host, copied from the device when needed (waits for the stream).
  virtual const Tensor& fetch(const ir::Value* v, const ir::Node& reader) = 0;
  // Makes body value `v` hold contents of type and extents `d`, at `data` on the device and/or
  // `host` (at least one of them) until it is bound again or forgotten.
  virtual void bind(const ir::Value* v, const ops::TensorDesc& d, const void* data,
                    const Tensor* host) = 0;
  virtual void forget(const ir::Value* v) = 0;
  // Runs one body node, resolved as it runs.
  virtual void run_node(const ir::Node& node) = 0;
  // Memory for output i of the control-flow node, which holds contents of type and extents `d`
  // (checked against what the build resolved, when it resolved them).
  virtual void* place_result(const ir::Node& node, size_t i, const ops::TensorDesc& d) = 0;
  // The type and extents the build resolved for a node output, or nullptr where they wait
  // for the data.
  virtual const ops::TensorDesc* resolved_desc(const ir::Value* v) const = 0;
  // Grow-only device memory of at least `bytes` for (`owner`, `slot`), kept across runs. Growing
  // keeps the first `keep_bytes` bytes of the contents.
  virtual void* scratch(const void* owner, int slot, size_t bytes, size_t keep_bytes) = 0;
};

// Runs an If, Loop or Scan node whose inputs are bound in `scope`; its outputs are placed
// through scope.place_result. Errors from inside a body name the node and the iteration.
void run_control_flow(const ir::Node& node, ValueScope& scope);

}  // namespace kiln::cuda

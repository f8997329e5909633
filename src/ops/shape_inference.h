// Resolves concrete types and shapes of every value of a graph for given input shapes, by
// running each op's inference in order. Small values computable on the host (shape
// arithmetic: Shape -> Gather -> Concat -> Reshape) are evaluated along the way, so that ops
// reading shape inputs see them.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "ops/op.h"

namespace kiln::ops {

struct ResolvedShapes {
  std::unordered_map<const ir::Value*, TensorDesc> desc;
  // Values known at shape time (constants and host-evaluated shape arithmetic).
  std::unordered_map<const ir::Value*, Tensor> values;
  // Values whose extents depend on runtime data (outputs of NonZero-like ops, and everything
  // computed from them). The executor resolves them as it runs.
  struct Deferred {
    size_t rank = size_t(-1);       // kUnknownRank when even the rank waits for the data
    std::optional<DataType> dtype;  // known for data-dependent outputs of an op
  };
  std::unordered_map<const ir::Value*, Deferred> deferred;

  static constexpr size_t kUnknownRank = size_t(-1);
  const TensorDesc& of(const ir::Value* v) const;
  bool is_deferred(const ir::Value* v) const { return deferred.count(v) != 0; }
};

// Largest number of elements a node's outputs may have to be evaluated at shape time.
inline constexpr int64_t kMaxShapeTimeElements = 1 << 16;

// `input_shapes` gives every graph input's extents; each must agree with the input's declared
// rank and static dims (a clear error names the input otherwise). `outer` resolves values of
// an enclosing graph that a subgraph reads by name.
ResolvedShapes resolve_shapes(const ir::Graph& graph,
                              const std::map<std::string, Dims>& input_shapes,
                              const ResolvedShapes* outer = nullptr);

// Resolves an If/Loop/Scan body for the given types and extents of its inputs (in order);
// `values[i]` is input i's contents when known at shape time, else nullptr. The body reads
// nothing of the enclosing graph except through its inputs.
ResolvedShapes resolve_subgraph(const ir::Graph& body, const std::vector<TensorDesc>& inputs,
                                const std::vector<const Tensor*>& values);

// Runs one node's inference given descriptors/values of its inputs; used by the driver above
// and by executors that resolve as they go.
InferContext infer_node(const ir::Node& node, const ResolvedShapes& known,
                        const ResolvedShapes* outer = nullptr);

}  // namespace kiln::ops

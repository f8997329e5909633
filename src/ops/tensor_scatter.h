// TensorScatter's layout, shared by the reference compute (tensor_scatter.cpp) and the CUDA
// kernel (backends/cuda/tensor_scatter.cu).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln::ops {

struct TensorScatterLayout {
  int64_t outer = 1;      // product of the dims before the axis
  int64_t cache_len = 1;  // past_cache's extent along the axis (max_sequence_length)
  int64_t update_len = 1;
  size_t row_bytes = 0;  // bytes of one step along the axis: product of the dims after it
};

TensorScatterLayout tensor_scatter_layout(const ir::Node& node, const Dims& cache,
                                          const Dims& update, DataType dtype);

// Whether mode is "circular" (else "linear"; anything else is a kInvalidModel error).
bool tensor_scatter_is_circular(const ir::Node& node);

}  // namespace kiln::ops

// Text form of a graph, one line per input, constant, node and output:
//   input x: float32[batch x 3 x 224 x 224]
//   %conv1_out = Conv(x, conv1.weight, conv1.bias) {kernel_shape=[7,7], strides=[2,2]}
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::ir {

std::string print(const Graph& graph);
std::string print(const Node& node);

}  // namespace kiln::ir

// An op that exists only in the GPU test binary and has a CPU kernel but no CUDA kernel:
// every ONNX op kiln defines now has one, and the tests of "a node without a CUDA kernel fails
// the build, naming the node and op" still need such a node.
#pragma once

namespace kiln::gpu_test {

// The op's name: `network->add_layer(kCpuOnlyOp, {x})` copies x (any type, any shape).
inline constexpr const char* kCpuOnlyOp = "KilnTestCpuOnly";

}  // namespace kiln::gpu_test

// The integer and bool instantiations of the binary elementwise ops (registered in
// elementwise.cu), apart so that the two halves compile in parallel. Integer ops are rarely
// hot on a GPU (shape arithmetic runs at build time), so each dtype has one arithmetic and one
// predicate kernel that switch on the op at run time.
#include "backends/cuda/elementwise.cuh"

namespace kiln::cuda {

void launch_binary_integer(const ir::Node& node, BinaryOp op, const DeviceTensor& a,
                           const DeviceTensor& b, const DeviceTensor& out, cudaStream_t stream) {
  dispatch_integer_types(node, a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (is_predicate(op)) {
      launch_binary_map<T, uint8_t>(node, a, b, out, DynamicPredicate{op}, stream);
    } else {
      launch_binary_map<T, T>(node, a, b, out, DynamicArith{op}, stream);
    }
  });
}

}  // namespace kiln::cuda

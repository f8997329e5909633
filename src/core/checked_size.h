// Checked size arithmetic: the one place where element counts and byte sizes of tensors are
// computed from extents. Every product is checked for overflow (a shape such as
// [2^32, 2^32, 2^32] must not become an empty tensor), and every tensor kiln is about to
// allocate is compared with a limit first (KILN_MAX_TENSOR_BYTES, default the machine's
// physical memory), so that absurd shapes give an error naming the tensor instead of a crash
// or a bare "out of memory".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "kiln/types.h"

namespace kiln {

// Thrown where an element count or byte size does not fit in 64 bits. A kiln::Error
// (kInvalidArgument); shape inference catches it to prefix the node.
class SizeOverflow : public Error {
 public:
  explicit SizeOverflow(const std::string& message) : Error(ErrorCode::kInvalidArgument, message) {}
};

// Product of the extents (1 for a scalar, 0 if any extent is 0). Throws SizeOverflow naming
// `context` and the shape when the product of the non-zero extents does not fit in int64 (so
// [2^62, 2^62, 0] is refused too: every partial product of an accepted shape fits), and
// kInvalidArgument for a negative (dynamic) extent.
int64_t checked_numel(const Dims& dims, std::string_view context);
// The most dimensions a kiln tensor has. ONNX sets no limit, but no model needs more than a
// handful (TensorRT stops at 8, kiln's CUDA kernels too); the bound keeps a mutated shape
// operand of a million entries from becoming a million-dimensional tensor.
inline constexpr size_t kMaxTensorRank = 64;
// Throws kInvalidArgument naming `context` when `rank` exceeds kMaxTensorRank.
void check_rank(size_t rank, std::string_view context);
// numel * element_size(dtype); throws SizeOverflow naming `context` when it does not fit.
size_t checked_bytes(DataType dtype, int64_t numel, std::string_view context);
// a * b and a + b for sizes; throw SizeOverflow naming `context` on overflow.
size_t checked_mul(size_t a, size_t b, std::string_view context);
size_t checked_add(size_t a, size_t b, std::string_view context);
// A size or count computed in floating point (Resize's floor(extent * scale), Range's
// ceil((limit - start) / delta)) as an int64. Throws SizeOverflow naming `context` when it is
// NaN, infinite or outside int64's range, where a plain conversion is undefined behaviour.
int64_t checked_int64_from_double(double value, std::string_view context);

// The largest tensor kiln allocates, in bytes: KILN_MAX_TENSOR_BYTES if set (a positive
// integer), else the value given to set_max_tensor_bytes, else the machine's physical memory.
size_t max_tensor_bytes();
// Overrides the default limit for this process (0 restores the default). The environment
// variable still wins, so a user can always raise or lower it.
void set_max_tensor_bytes(size_t bytes);

// Throws kiln::Error (kInvalidArgument) unless a tensor of `dtype` and `dims` (all extents
// known, >= 0) fits in max_tensor_bytes(). `what` names it, e.g. "tensor 'y' (output of node
// 'Expand_0', op Expand)"; the message reads "<what> of shape <dims> <dtype> needs <n> bytes,
// more than the limit of <limit> bytes (KILN_MAX_TENSOR_BYTES)". The size is computed without
// overflow, so shapes whose element count wraps are refused too. Dims with a negative extent
// (dynamic) are not checked.
void check_tensor_size(DataType dtype, const Dims& dims, std::string_view what);
// As check_tensor_size, for a byte count already known (an arena, a file's payload).
void check_allocation_size(size_t bytes, std::string_view what);

// "tensor 'name' (output of node 'n', op Op)" for messages; `node`/`op` may be empty.
std::string describe_tensor(std::string_view name, std::string_view node, std::string_view op);

}  // namespace kiln

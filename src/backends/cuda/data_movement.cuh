// Kernels that move elements without computing on them: device copies (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout), strided copies (Transpose, Slice, Expand, Split),
// Concat and Gather. The strided copy is shared with other families (Gemm broadcasts C with it;
// DepthToSpace and SpaceToDepth are permutations of a 6-D view).
#pragma once

#include <array>
#include <optional>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

// Unsigned 32-bit division by a divisor fixed at launch: a multiply-high, an add and a shift
// instead of the ~20-instruction integer division, for the index arithmetic of copy kernels
// (which is what limits them once the memory accesses are coalesced). With s = ceil(log2 d)
// and m = floor(2^32 * (2^s - d) / d) + 1, n / d == (umulhi(n, m) + n) >> s for every
// n < 2^31 and d in [1, 2^31); callers use it only within those bounds.
struct FastDivmod {
  uint32_t divisor = 1;
  uint32_t multiplier = 1;
  uint32_t shift = 0;

  FastDivmod() = default;
  explicit FastDivmod(uint32_t d) : divisor(d) {
    while ((uint64_t(1) << shift) < d) ++shift;
    multiplier = uint32_t((uint64_t(1) << 32) * ((uint64_t(1) << shift) - d) / d + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    return (__umulhi(n, multiplier) + n) >> shift;
  }
  // n / divisor, with n % divisor in `rem`.
  __device__ __forceinline__ uint32_t divmod(uint32_t n, uint32_t& rem) const {
    const uint32_t q = div(n);
    rem = n - q * divisor;
    return q;
  }
};

// Largest 32-bit-safe count: FastDivmod's bound.
inline constexpr int64_t kMax32BitIndex = (int64_t(1) << 31) - 1;

// StridedMap in 32-bit arithmetic: FastDivmod per dim, unsigned strides. For tensors below
// kMax32BitIndex elements read with non-negative strides (broadcasts), where the 64-bit
// divisions of StridedMap would be what limits a kernel.
template <int N>
struct FastStridedMap {
  int rank = 0;
  FastDivmod dims[kMaxRank];
  uint32_t strides[N][kMaxRank] = {};

  __device__ __forceinline__ void offsets(uint32_t flat, uint32_t (&out)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      uint32_t i;
      flat = dims[d].divmod(flat, i);
#pragma unroll
      for (int k = 0; k < N; ++k) out[k] += i * strides[k][d];
    }
  }
};

// The 32-bit form of `m` for `n` output elements whose operands each have fewer than
// kMax32BitIndex elements, or nullopt where it does not apply (a negative stride, too many
// elements).
template <int N>
std::optional<FastStridedMap<N>> fast_strided_map(const StridedMap<N>& m, int64_t n,
                                                  const std::array<int64_t, N>& operand_sizes) {
  if (n > kMax32BitIndex) return std::nullopt;
  for (int64_t size : operand_sizes) {
    if (size > kMax32BitIndex) return std::nullopt;
  }
  FastStridedMap<N> f;
  f.rank = m.rank;
  for (int d = 0; d < m.rank; ++d) {
    f.dims[d] = FastDivmod(uint32_t(m.dims[d]));
    for (int k = 0; k < N; ++k) {
      if (m.strides[k][d] < 0) return std::nullopt;
      f.strides[k][d] = uint32_t(m.strides[k][d]);
    }
  }
  return f;
}

// out[i] = in[in_offset + sum(index(i)[d] * in_strides[d])] for every element i of out_shape
// (row-major), elements of `element_bytes` bytes. Strides are in elements, 0 broadcasts.
// Picks the fastest of: one contiguous copy, a copy of contiguous rows in 16/8/4-byte words,
// a shared-memory tiled transpose (when the input's contiguous dim is not the output's), or an
// element-wise gather through the strides.
void launch_strided_copy(const ir::Node& node, const void* in, void* out, size_t element_bytes,
                         const Dims& out_shape, const Dims& in_strides, int64_t in_offset,
                         cudaStream_t stream);

// out = transpose(in, perm) for a contiguous `in` of `in_shape` (out[i_perm[0], ...] =
// in[i_0, ...]), through launch_strided_copy.
void launch_permute(const ir::Node& node, const void* in, void* out, size_t element_bytes,
                    const Dims& in_shape, const std::vector<int64_t>& perm, cudaStream_t stream);

// A stream-ordered device-to-device copy; nothing when the pointers are equal or bytes is 0.
void copy_device(const ir::Node& node, const void* in, void* out, size_t bytes,
                 cudaStream_t stream);

// Element sizes the byte-moving kernels handle (1, 2, 4 or 8 bytes).
bool movable_element_size(DataType t);

}  // namespace kiln::cuda

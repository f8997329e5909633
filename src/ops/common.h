// Helpers shared by op definitions: axes, broadcasting, dtype dispatch.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "core/half.h"
#include "core/tensor.h"
#include "ops/op.h"

namespace kiln::ops {

// Maps a possibly negative axis into [0, rank); throws naming the node when out of range.
int64_t normalize_axis(const ir::Node& node, int64_t axis, int64_t rank);
std::vector<int64_t> normalize_axes(const ir::Node& node, std::vector<int64_t> axes, int64_t rank);

// Window geometry (kernel extents, strides, dilations, pads) is bounded by TensorRT's int32
// range, so that the sums and products of window arithmetic with an extent (itself bounded by
// the tensor size limit) cannot overflow int64. Throws naming the node and `key` otherwise.
inline constexpr int64_t kMaxWindowValue = (int64_t(1) << 31) - 1;
void check_window_values(const InferContext& ctx, const char* key, const Dims& values);

// Numpy-style multidirectional broadcast of two or more shapes; throws naming the node.
Dims broadcast_shapes(const ir::Node& node, const std::vector<Dims>& shapes);

// Strides (in elements) for reading a tensor of `shape` as if broadcast to `out_shape`
// (0 where the tensor's extent is 1 and the output's is not).
Dims broadcast_strides(const Dims& shape, const Dims& out_shape);

// Calls fn(out_index, in_offsets...) over every element of out_shape, with each input's offset
// computed from its broadcast strides. Iterates in row-major order.
template <size_t N, typename Fn>
void for_each_broadcast(const Dims& out_shape, const std::array<Dims, N>& strides, Fn&& fn) {
  const size_t rank = out_shape.size();
  int64_t total = 1;
  for (int64_t d : out_shape) total *= d;
  if (total == 0) return;
  std::vector<int64_t> index(rank, 0);
  std::array<int64_t, N> offsets{};
  for (int64_t flat = 0; flat < total; ++flat) {
    fn(flat, offsets);
    // increment the multi-index, updating offsets incrementally
    for (size_t d = rank; d-- > 0;) {
      ++index[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
      if (index[d] < out_shape[d]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * index[d];
      index[d] = 0;
    }
  }
}

// Calls fn(T{}) with T the C++ storage type of `dtype`; float16/bfloat16/fp8 map to their
// uint16_t/uint8_t storage — ops that compute on them convert through float (see to_float).
template <typename Fn>
decltype(auto) dispatch_storage(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      return fn(float{});
    case DataType::kFloat64:
      return fn(double{});
    case DataType::kInt8:
      return fn(int8_t{});
    case DataType::kUInt8:
      return fn(uint8_t{});
    case DataType::kInt16:
      return fn(int16_t{});
    case DataType::kUInt16:
      return fn(uint16_t{});
    case DataType::kInt32:
      return fn(int32_t{});
    case DataType::kUInt32:
      return fn(uint32_t{});
    case DataType::kInt64:
      return fn(int64_t{});
    case DataType::kUInt64:
      return fn(uint64_t{});
    case DataType::kBool:
      return fn(bool{});
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return fn(uint16_t{});
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    case DataType::kUInt4:
    case DataType::kUInt2:
    case DataType::kFloat4E2M1:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
    case DataType::kInt4:  // the 4- or 2-bit code in the low bits (kiln/types.h)
    case DataType::kInt2:
      return fn(uint8_t{});
  }
  fail(ErrorCode::kInternal, "dispatch_storage: unknown dtype");
}

// Element i of a floating-point tensor as float32 / stored from float32 (any float dtype).
float load_float(const Tensor& t, int64_t i);
void store_float(Tensor& t, int64_t i, float v);

// A float tensor converted to a float32 copy (or the same tensor when it already is float32);
// reference computes use this for float16/bfloat16/fp8 storage with float32 math.
Tensor to_float32(const Tensor& t);
// Writes a float32 tensor's values into `out` (any float dtype), rounding as the dtype does.
void store_from_float32(const Tensor& values, Tensor& out);

}  // namespace kiln::ops

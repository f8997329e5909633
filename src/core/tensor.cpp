#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "core/checked_size.h"
#include "core/half.h"
#include "core/narrow_types.h"

namespace kiln {

namespace {
// Owned storage is 64-byte aligned so that vectorized kernels can read it directly.
std::shared_ptr<void> allocate(size_t bytes) {
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  KILN_CHECK(p != nullptr, ErrorCode::kRuntime, "out of host memory allocating ", bytes, " bytes");
  std::memset(p, 0, rounded ? rounded : 64);
  return std::shared_ptr<void>(p, std::free);
}
}  // namespace

int64_t Tensor::numel() const {
  // As checked_numel: the non-zero extents' product must fit even when another extent is 0.
  int64_t n = 1;
  bool zero = false;
  for (int64_t d : shape_) {
    if (d == 0) {
      zero = true;
    } else if (__builtin_mul_overflow(n, d, &n)) {
      throw SizeOverflow(
          cat("the element count of tensor shape ", to_string(shape_), " overflows 64 bits"));
    }
  }
  return zero ? 0 : n;
}

Tensor Tensor::zeros(DataType dtype, Dims shape) {
  for (int64_t d : shape) {
    KILN_CHECK(d >= 0, ErrorCode::kInvalidArgument, "tensor shape ", to_string(shape),
               " has a negative extent");
  }
  // Refused before allocating: sizes that overflow or exceed KILN_MAX_TENSOR_BYTES.
  check_tensor_size(dtype, shape, "tensor");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  auto storage = allocate(checked_bytes(dtype, t.numel(), "tensor"));
  t.data_ = storage.get();
  t.owner_ = std::move(storage);
  t.defined_ = true;
  return t;
}

Tensor Tensor::from_bytes(DataType dtype, Dims shape, const void* bytes, size_t size) {
  Tensor t = zeros(dtype, std::move(shape));
  KILN_CHECK(size == t.nbytes(), ErrorCode::kInvalidArgument, "tensor of shape ",
             to_string(t.shape_), " and type ", to_string(dtype), " needs ", t.nbytes(),
             " bytes, got ", size);
  if (size) std::memcpy(t.data_, bytes, size);
  return t;
}

Tensor Tensor::view(DataType dtype, Dims shape, void* data) {
  return view(dtype, std::move(shape), data, nullptr);
}

Tensor Tensor::view(DataType dtype, Dims shape, void* data, std::shared_ptr<const void> owner) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.data_ = data;
  t.owner_ = std::move(owner);
  t.defined_ = true;
  return t;
}

Tensor Tensor::reshaped(Dims shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  KILN_ASSERT(t.numel() == numel());
  return t;
}

Tensor Tensor::clone() const { return from_bytes(dtype_, shape_, data_, nbytes()); }

double Tensor::as_double(int64_t i) const {
  switch (dtype_) {
    case DataType::kFloat32:
      return data<float>()[i];
    case DataType::kFloat16:
      return fp16_to_float(data<uint16_t>()[i]);
    case DataType::kBFloat16:
      return bf16_to_float(data<uint16_t>()[i]);
    case DataType::kFloat64:
      return data<double>()[i];
    case DataType::kInt8:
      return data<int8_t>()[i];
    case DataType::kUInt8:
      return data<uint8_t>()[i];
    case DataType::kInt16:
      return data<int16_t>()[i];
    case DataType::kInt32:
      return data<int32_t>()[i];
    case DataType::kInt64:
      return double(data<int64_t>()[i]);
    case DataType::kBool:
      return data<uint8_t>()[i] ? 1.0 : 0.0;
    case DataType::kFloat8E4M3:
      return fp8e4m3_to_float(data<uint8_t>()[i]);
    case DataType::kFloat8E5M2:
      return fp8e5m2_to_float(data<uint8_t>()[i]);
    case DataType::kUInt16:
      return data<uint16_t>()[i];
    case DataType::kUInt32:
      return data<uint32_t>()[i];
    case DataType::kUInt64:
      return double(data<uint64_t>()[i]);
    case DataType::kInt4:
      return int4_value(data<uint8_t>()[i]);
    case DataType::kUInt4:
      return uint4_value(data<uint8_t>()[i]);
    case DataType::kInt2:
      return int2_value(data<uint8_t>()[i]);
    case DataType::kUInt2:
      return uint2_value(data<uint8_t>()[i]);
    case DataType::kFloat4E2M1:
      return fp4e2m1_to_float(data<uint8_t>()[i]);
    case DataType::kFloat8E4M3FNUZ:
      return fp8e4m3fnuz_to_float(data<uint8_t>()[i]);
    case DataType::kFloat8E5M2FNUZ:
      return fp8e5m2fnuz_to_float(data<uint8_t>()[i]);
    case DataType::kFloat8E8M0:
      return fp8e8m0_to_float(data<uint8_t>()[i]);
  }
  return 0;
}

int64_t Tensor::as_int64(int64_t i) const {
  switch (dtype_) {
    case DataType::kInt64:
      return data<int64_t>()[i];
    case DataType::kInt32:
      return data<int32_t>()[i];
    case DataType::kUInt64:
      return int64_t(data<uint64_t>()[i]);
    // NaN, infinities and values past int64 would be undefined behaviour in a plain conversion.
    default:
      return checked_int64_from_double(as_double(i), "a tensor element");
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[size_t(i)] = as_int64(i);
  return out;
}

std::vector<double> Tensor::to_double_vector() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[size_t(i)] = as_double(i);
  return out;
}

namespace {
// Float to integer truncates toward zero as C does; values outside the target's range (which
// ONNX leaves undefined) are first clamped to int64 and then wrapped, so no conversion is
// undefined behaviour. NaN becomes 0.
template <typename T>
void store_from_double(Tensor& out, int64_t i, double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) v = 0;
    v = std::trunc(v);
    if constexpr (std::is_unsigned_v<T>) {
      if (v >= 18446744073709551616.0) v = 18446744073709551615.0;
      out.data<T>()[i] =
          v < 0 ? static_cast<T>(static_cast<int64_t>(std::max(v, -9223372036854775808.0)))
                : static_cast<T>(static_cast<uint64_t>(std::min(v, 18446744073709549568.0)));
    } else {
      v = std::clamp(v, -9223372036854775808.0, 9223372036854774784.0);
      out.data<T>()[i] = static_cast<T>(static_cast<int64_t>(v));
    }
  } else {
    out.data<T>()[i] = static_cast<T>(v);
  }
}

int64_t truncate_to_int64(double v) {
  if (std::isnan(v)) return 0;
  return static_cast<int64_t>(
      std::clamp(std::trunc(v), -9223372036854775808.0, 9223372036854774784.0));
}
}  // namespace

Tensor Tensor::cast(DataType to) const {
  Tensor out = zeros(to, shape_);
  const int64_t n = numel();
  if (to == dtype_) {
    if (n) std::memcpy(out.raw(), data_, nbytes());
    return out;
  }
  // Integer-to-integer casts go through int64 so that large values keep every bit.
  if (is_integer(dtype_) && is_integer(to)) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = as_int64(i);
      switch (to) {
        case DataType::kInt8:
          out.data<int8_t>()[i] = int8_t(v);
          break;
        case DataType::kUInt8:
          out.data<uint8_t>()[i] = uint8_t(v);
          break;
        case DataType::kInt16:
          out.data<int16_t>()[i] = int16_t(v);
          break;
        case DataType::kUInt16:
          out.data<uint16_t>()[i] = uint16_t(v);
          break;
        case DataType::kInt32:
          out.data<int32_t>()[i] = int32_t(v);
          break;
        case DataType::kUInt32:
          out.data<uint32_t>()[i] = uint32_t(v);
          break;
        case DataType::kInt64:
          out.data<int64_t>()[i] = v;
          break;
        case DataType::kUInt64:
          out.data<uint64_t>()[i] = uint64_t(v);
          break;
        case DataType::kInt4:
          out.data<uint8_t>()[i] = int4_code(v);
          break;
        case DataType::kUInt4:
          out.data<uint8_t>()[i] = uint4_code(v);
          break;
        case DataType::kInt2:
          out.data<uint8_t>()[i] = int2_code(v);
          break;
        case DataType::kUInt2:
          out.data<uint8_t>()[i] = uint2_code(v);
          break;
        default:
          break;
      }
    }
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    double v = as_double(i);
    switch (to) {
      case DataType::kFloat32:
        store_from_double<float>(out, i, v);
        break;
      case DataType::kFloat64:
        store_from_double<double>(out, i, v);
        break;
      case DataType::kFloat16:
        out.data<uint16_t>()[i] = float_to_fp16(float(v));
        break;
      case DataType::kBFloat16:
        out.data<uint16_t>()[i] = float_to_bf16(float(v));
        break;
      case DataType::kFloat8E4M3:
        out.data<uint8_t>()[i] = float_to_fp8e4m3(float(v));
        break;
      case DataType::kFloat8E5M2:
        out.data<uint8_t>()[i] = float_to_fp8e5m2(float(v));
        break;
      case DataType::kBool:
        out.data<uint8_t>()[i] = v != 0.0;
        break;
      // float to integer: truncate toward zero, as C and ONNX's Cast do
      case DataType::kInt8:
        store_from_double<int8_t>(out, i, v);
        break;
      case DataType::kUInt8:
        store_from_double<uint8_t>(out, i, v);
        break;
      case DataType::kInt16:
        store_from_double<int16_t>(out, i, v);
        break;
      case DataType::kUInt16:
        store_from_double<uint16_t>(out, i, v);
        break;
      case DataType::kInt32:
        store_from_double<int32_t>(out, i, v);
        break;
      case DataType::kUInt32:
        store_from_double<uint32_t>(out, i, v);
        break;
      case DataType::kInt64:
        store_from_double<int64_t>(out, i, v);
        break;
      case DataType::kUInt64:
        store_from_double<uint64_t>(out, i, v);
        break;
      // sub-byte integers: truncated to int64 as above, then the low bits kept
      case DataType::kInt4:
      case DataType::kUInt4:
      case DataType::kInt2:
      case DataType::kUInt2: {
        const int64_t w = truncate_to_int64(v);
        // int4 and uint4 (int2 and uint2) keep the same low bits
        out.data<uint8_t>()[i] = packed_bits(to) == 4 ? int4_code(w) : int2_code(w);
        break;
      }
      case DataType::kFloat4E2M1:
        out.data<uint8_t>()[i] = float_to_fp4e2m1(v);
        break;
      case DataType::kFloat8E4M3FNUZ:
        out.data<uint8_t>()[i] = float_to_fp8e4m3fnuz(v);
        break;
      case DataType::kFloat8E5M2FNUZ:
        out.data<uint8_t>()[i] = float_to_fp8e5m2fnuz(v);
        break;
      case DataType::kFloat8E8M0:
        out.data<uint8_t>()[i] = float_to_fp8e8m0(float(v));
        break;
    }
  }
  return out;
}

Dims contiguous_strides(const Dims& shape) {
  Dims strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

}  // namespace kiln

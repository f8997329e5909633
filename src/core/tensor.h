// Tensor: a typed, shaped view of host memory, owned (shared) or borrowed. Used for weights
// and constants in the IR, for values known at shape time, and by the CPU backend.
#pragma once

#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "core/error.h"
#include "kiln/types.h"

namespace kiln {

class Tensor {
 public:
  Tensor() = default;

  // Zero-initialized owned tensor.
  static Tensor zeros(DataType dtype, Dims shape);
  // Owned copy of `bytes` (must be exactly volume(shape) * element_size(dtype) long).
  static Tensor from_bytes(DataType dtype, Dims shape, const void* bytes, size_t size);
  // Borrowed view of memory someone else keeps alive.
  static Tensor view(DataType dtype, Dims shape, void* data);
  // Shares ownership of `owner` while pointing at `data` (e.g. a slice of a mapped file).
  static Tensor view(DataType dtype, Dims shape, void* data, std::shared_ptr<const void> owner);

  template <typename T>
  static Tensor from_vector(DataType dtype, Dims shape, const std::vector<T>& values) {
    KILN_ASSERT(sizeof(T) == element_size(dtype));
    return from_bytes(dtype, std::move(shape), values.data(), values.size() * sizeof(T));
  }
  static Tensor scalar_int64(int64_t v) { return from_vector<int64_t>(DataType::kInt64, {}, {v}); }

  bool defined() const { return defined_; }
  DataType dtype() const { return dtype_; }
  const Dims& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t i) const { return shape_[i]; }
  int64_t numel() const;
  size_t nbytes() const { return size_t(numel()) * element_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  template <typename T>
  std::span<const T> span() const {
    return {data<T>(), size_t(numel())};
  }

  // Same memory, another shape with the same element count.
  Tensor reshaped(Dims shape) const;
  // Deep copy into owned memory.
  Tensor clone() const;

  // Element i converted to double / int64 whatever the dtype (for shape-time values and tests);
  // as_int64 of a floating-point element truncates, and throws when it is NaN, infinite or
  // outside int64.
  double as_double(int64_t i) const;
  int64_t as_int64(int64_t i) const;
  // All elements as int64 (shape inputs such as Reshape's shape, Slice's starts).
  std::vector<int64_t> to_int64_vector() const;
  std::vector<double> to_double_vector() const;
  // Converted copy (float16/bfloat16/fp8 storage via float32; saturating for fp8).
  Tensor cast(DataType to) const;

 private:
  DataType dtype_ = DataType::kFloat32;
  Dims shape_;
  void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
  bool defined_ = false;
};

// Row-major strides (in elements) of a shape.
Dims contiguous_strides(const Dims& shape);

}  // namespace kiln

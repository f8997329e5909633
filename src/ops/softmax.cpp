// Softmax, LogSoftmax and Hardmax along one axis (ONNX opset 13 semantics: the axis alone is
// normalized, default -1). Softmax and LogSoftmax subtract the maximum of each line before
// exponentiating, so large inputs do not overflow. float16/bfloat16 compute in float32;
// float64 computes in double; sums of exponentials accumulate in double.
//
// The float32 path runs on real model activations (attention scores), so the kernels are plain
// loops over contiguous memory: a line is either contiguous (the axis is the last dimension) or
// processed a whole [n x inner] block at a time with contiguous inner loops.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// The tensor seen as [outer, n, inner] around `axis`.
struct AxisSplit {
  int64_t outer = 1;
  int64_t n = 1;
  int64_t inner = 1;
};

AxisSplit split_at(const Dims& shape, int64_t axis) {
  AxisSplit s;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < axis)
      s.outer *= shape[size_t(d)];
    else if (d == axis)
      s.n = shape[size_t(d)];
    else
      s.inner *= shape[size_t(d)];
  }
  return s;
}

// One contiguous line of n elements. x and y may be the same memory.
template <typename T>
void softmax_line(const T* x, T* y, int64_t n, SoftmaxKind kind) {
  if (n == 0) return;
  if (kind == SoftmaxKind::kHardmax) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (x[i] > x[best]) best = i;
    }
    for (int64_t i = 0; i < n; ++i) y[i] = i == best ? T(1) : T(0);
    return;
  }
  // Four partial maxima and sums let consecutive iterations overlap instead of each waiting on
  // the previous one's result.
  T partial_max[4] = {x[0], x[0], x[0], x[0]};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int k = 0; k < 4; ++k) partial_max[k] = std::max(partial_max[k], x[i + k]);
  }
  for (; i < n; ++i) partial_max[0] = std::max(partial_max[0], x[i]);
  const T max_value =
      std::max(std::max(partial_max[0], partial_max[1]), std::max(partial_max[2], partial_max[3]));
  double partial_sum[4] = {0, 0, 0, 0};
  i = 0;
  if (kind == SoftmaxKind::kSoftmax) {
    for (; i + 4 <= n; i += 4) {
      for (int k = 0; k < 4; ++k) {
        const T e = std::exp(x[i + k] - max_value);
        y[i + k] = e;
        partial_sum[k] += e;
      }
    }
    for (; i < n; ++i) {
      const T e = std::exp(x[i] - max_value);
      y[i] = e;
      partial_sum[0] += e;
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      for (int k = 0; k < 4; ++k) partial_sum[k] += std::exp(x[i + k] - max_value);
    }
    for (; i < n; ++i) partial_sum[0] += std::exp(x[i] - max_value);
  }
  const double sum = (partial_sum[0] + partial_sum[1]) + (partial_sum[2] + partial_sum[3]);
  if (kind == SoftmaxKind::kSoftmax) {
    const T inv_sum = T(1.0 / sum);
    for (int64_t j = 0; j < n; ++j) y[j] *= inv_sum;
  } else {
    const T log_sum = T(std::log(sum));
    for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - max_value) - log_sum;
  }
}

// One [n x inner] block where the axis has stride `inner`: the statistics of the `inner` lines
// are kept in small arrays so that every loop walks memory contiguously.
template <typename T>
void softmax_block(const T* x, T* y, int64_t n, int64_t inner, SoftmaxKind kind,
                   std::vector<T>& max_values, std::vector<double>& sums,
                   std::vector<int64_t>& best) {
  if (n == 0) return;
  if (kind == SoftmaxKind::kHardmax) {
    best.assign(size_t(inner), 0);
    for (int64_t i = 1; i < n; ++i) {
      for (int64_t j = 0; j < inner; ++j) {
        if (x[i * inner + j] > x[best[size_t(j)] * inner + j]) best[size_t(j)] = i;
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < inner; ++j) y[i * inner + j] = best[size_t(j)] == i ? T(1) : T(0);
    }
    return;
  }
  max_values.assign(x, x + inner);
  for (int64_t i = 1; i < n; ++i) {
    for (int64_t j = 0; j < inner; ++j) {
      max_values[size_t(j)] = std::max(max_values[size_t(j)], x[i * inner + j]);
    }
  }
  sums.assign(size_t(inner), 0.0);
  if (kind == SoftmaxKind::kSoftmax) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < inner; ++j) {
        T e = std::exp(x[i * inner + j] - max_values[size_t(j)]);
        y[i * inner + j] = e;
        sums[size_t(j)] += e;
      }
    }
    for (int64_t j = 0; j < inner; ++j) sums[size_t(j)] = 1.0 / sums[size_t(j)];
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < inner; ++j) y[i * inner + j] *= T(sums[size_t(j)]);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < inner; ++j) {
        sums[size_t(j)] += std::exp(x[i * inner + j] - max_values[size_t(j)]);
      }
    }
    for (int64_t j = 0; j < inner; ++j) sums[size_t(j)] = std::log(sums[size_t(j)]);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < inner; ++j) {
        y[i * inner + j] = (x[i * inner + j] - max_values[size_t(j)]) - T(sums[size_t(j)]);
      }
    }
  }
}

template <typename T>
void softmax_all(const T* x, T* y, const AxisSplit& s, SoftmaxKind kind) {
  const int64_t block = s.n * s.inner;
  if (s.inner == 1) {
    for (int64_t o = 0; o < s.outer; ++o) softmax_line(x + o * block, y + o * block, s.n, kind);
    return;
  }
  std::vector<T> max_values;
  std::vector<double> sums;
  std::vector<int64_t> best;
  for (int64_t o = 0; o < s.outer; ++o) {
    softmax_block(x + o * block, y + o * block, s.n, s.inner, kind, max_values, sums, best);
  }
}

void infer_softmax(InferContext& ctx) {
  DataType dtype = ctx.input_dtype(0);
  ctx.check(dtype == DataType::kFloat32 || dtype == DataType::kFloat64 ||
                dtype == DataType::kFloat16 || dtype == DataType::kBFloat16,
            "input type ", to_string(dtype),
            " is not supported (float16, bfloat16, float32 or "
            "float64 expected)");
  const Dims& shape = ctx.input_shape(0);
  ctx.check(!shape.empty(), "input must have rank 1 or more");
  normalize_axis(ctx.node(), ctx.node().attr_int("axis", -1), int64_t(shape.size()));
  ctx.set_output(0, dtype, shape);
}

void compute_softmax(ComputeContext& ctx, SoftmaxKind kind) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", -1), int64_t(x.rank()));
  const AxisSplit split = split_at(x.shape(), axis);
  switch (x.dtype()) {
    case DataType::kFloat32:
      softmax_all(x.data<float>(), y.data<float>(), split, kind);
      break;
    case DataType::kFloat64:
      softmax_all(x.data<double>(), y.data<double>(), split, kind);
      break;
    default: {  // float16 / bfloat16: float32 math, rounded once on the way out
      Tensor xf = to_float32(x);
      Tensor yf = Tensor::zeros(DataType::kFloat32, y.shape());
      softmax_all(xf.data<float>(), yf.data<float>(), split, kind);
      store_from_float32(yf, y);
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Softmax",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_softmax,
    .compute = [](ComputeContext& ctx) { compute_softmax(ctx, SoftmaxKind::kSoftmax); },
});

KILN_REGISTER_OP(OpDef{
    .name = "LogSoftmax",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_softmax,
    .compute = [](ComputeContext& ctx) { compute_softmax(ctx, SoftmaxKind::kLogSoftmax); },
});

KILN_REGISTER_OP(OpDef{
    .name = "Hardmax",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_softmax,
    .compute = [](ComputeContext& ctx) { compute_softmax(ctx, SoftmaxKind::kHardmax); },
});

}  // namespace
}  // namespace kiln::ops

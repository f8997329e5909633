// Reductions: ReduceMean/Sum/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare (axes as the optional
// second input, keepdims, noop_with_empty_axes), ArgMax/ArgMin, CumSum and TopK.
//
// Floating-point reductions accumulate in double (float16/bfloat16 are read as float32), so
// sums over long axes stay accurate. Integer sums, products and means accumulate in 64-bit
// integers and wrap as the element type does; L2 and the log reductions of integers compute in
// double and truncate toward zero, as numpy's astype does.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

bool is_wide_integer(DataType t) {
  return t == DataType::kInt32 || t == DataType::kInt64 || t == DataType::kUInt32 ||
         t == DataType::kUInt64;
}

// Calls fn(T{}) for the integer and bool types, by storage type.
template <typename Fn>
void dispatch_integer(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kInt8:
      fn(int8_t{});
      return;
    case DataType::kUInt8:
      fn(uint8_t{});
      return;
    case DataType::kInt16:
      fn(int16_t{});
      return;
    case DataType::kUInt16:
      fn(uint16_t{});
      return;
    case DataType::kInt32:
      fn(int32_t{});
      return;
    case DataType::kUInt32:
      fn(uint32_t{});
      return;
    case DataType::kInt64:
      fn(int64_t{});
      return;
    case DataType::kUInt64:
      fn(uint64_t{});
      return;
    case DataType::kBool:
      fn(bool{});
      return;
    default:
      fail(ErrorCode::kInternal, "dispatch_integer: ", to_string(dtype));
  }
}

// Calls fn(const T* data) with the elements of a floating-point tensor as float (float32,
// float16 and bfloat16, the latter two widened into a copy) or double (float64).
template <typename Fn>
void with_float_data(const Tensor& t, Fn&& fn) {
  if (t.dtype() == DataType::kFloat64) {
    fn(t.data<double>());
  } else if (t.dtype() == DataType::kFloat32) {
    fn(t.data<float>());
  } else {
    Tensor widened = to_float32(t);
    fn(static_cast<const float*>(widened.data<float>()));
  }
}

// Writes a double into element i of a float tensor of any float dtype.
void store_double(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DataType::kFloat64) {
    t.data<double>()[i] = v;
  } else {
    store_float(t, i, float(v));
  }
}

// Converts a double to an integer type as numpy's astype does for in-range values (truncation
// toward zero), saturating out-of-range values and mapping NaN to 0 instead of undefined
// behaviour.
template <typename T>
T truncate_to(double v) {
  if (std::isnan(v)) return T(0);
  if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else {
    const double lo = double(std::numeric_limits<T>::lowest());
    const double hi = double(std::numeric_limits<T>::max());
    if (v <= lo) return std::numeric_limits<T>::lowest();
    if (v >= hi) return std::numeric_limits<T>::max();
    return T(v);
  }
}

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

// =============================================================================================
// Reduce*

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Which axes a Reduce* node reduces over, for an input of `rank`. `noop` is set (and nothing is
// reduced) when the axes are empty and noop_with_empty_axes is 1.
struct ReducePlan {
  std::vector<bool> reduced;
  bool noop = false;
};

ReducePlan plan_reduction(const ir::Node& node, const Tensor* axes_tensor, int64_t rank) {
  ReducePlan plan;
  plan.reduced.assign(size_t(rank), false);
  std::vector<int64_t> axes;
  if (axes_tensor != nullptr) {
    KILN_CHECK(axes_tensor->dtype() == DataType::kInt64 || axes_tensor->dtype() == DataType::kInt32,
               ErrorCode::kInvalidModel, node.describe(), ": axes must be int64, got ",
               to_string(axes_tensor->dtype()));
    KILN_CHECK(axes_tensor->rank() <= 1, ErrorCode::kInvalidModel, node.describe(),
               ": axes must be a 1-D tensor, got shape ", to_string(axes_tensor->shape()));
    axes = axes_tensor->to_int64_vector();
  }
  if (axes.empty()) {
    if (node.attr_int("noop_with_empty_axes", 0) != 0) {
      plan.noop = true;
    } else {
      plan.reduced.assign(size_t(rank), true);
    }
    return plan;
  }
  for (int64_t a : axes) {
    KILN_CHECK(a >= -rank && a < rank, ErrorCode::kInvalidModel, node.describe(), ": axis ", a,
               " is out of range for rank ", rank);
    const size_t axis = size_t(a < 0 ? a + rank : a);
    KILN_CHECK(!plan.reduced[axis], ErrorCode::kInvalidModel, node.describe(), ": axis ", a,
               " appears more than once in axes");
    plan.reduced[axis] = true;
  }
  return plan;
}

// The input shape with the reduced axes set to 1 (the keepdims=1 output shape).
Dims kept_shape(const Dims& shape, const ReducePlan& plan) {
  Dims out = shape;
  for (size_t d = 0; d < out.size(); ++d) {
    if (plan.reduced[d]) out[d] = 1;
  }
  return out;
}

bool reduce_allows(ReduceKind kind, DataType dtype) {
  if (is_float_type(dtype) || is_wide_integer(dtype)) return true;
  const bool small_integer =
      dtype == DataType::kInt8 || dtype == DataType::kUInt8 || dtype == DataType::kBool;
  return small_integer && (kind == ReduceKind::kMax || kind == ReduceKind::kMin);
}

void infer_reduce(InferContext& ctx, ReduceKind kind) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(reduce_allows(kind, dtype), "input type ", to_string(dtype),
            " is not supported by this reduction");
  const Dims& shape = ctx.input_shape(0);
  const Tensor* axes = ctx.optional_integer_value(1, "axes");
  const ReducePlan plan = plan_reduction(ctx.node(), axes, int64_t(shape.size()));
  if (plan.noop) {
    ctx.set_output(0, dtype, shape);
    return;
  }
  const bool keepdims = ctx.node().attr_int("keepdims", 1) != 0;
  Dims out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!plan.reduced[d])
      out.push_back(shape[d]);
    else if (keepdims)
      out.push_back(1);
  }
  ctx.set_output(0, dtype, out);
}

// Visits every input element in row-major order with the offset of its output slot.
template <typename Fn>
void for_each_slot(const Dims& shape, const Dims& slot_strides, Fn&& fn) {
  for_each_broadcast<1>(shape, std::array<Dims, 1>{slot_strides},
                        [&](int64_t i, const std::array<int64_t, 1>& slot) { fn(i, slot[0]); });
}

// Any reduction in double, for float inputs (and the L2/log reductions of integers).
template <typename T>
std::vector<double> reduce_in_double(const T* x, const Dims& shape, const Dims& slot_strides,
                                     int64_t slots, double count, ReduceKind kind) {
  std::vector<double> acc(size_t(slots), 0.0);
  auto visit = [&](auto&& step) {
    for_each_slot(shape, slot_strides,
                  [&](int64_t i, int64_t s) { step(acc[size_t(s)], double(x[i])); });
  };
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kMean:
    case ReduceKind::kLogSum:
      visit([](double& a, double v) { a += v; });
      break;
    case ReduceKind::kSumSquare:
    case ReduceKind::kL2:
      visit([](double& a, double v) { a += v * v; });
      break;
    case ReduceKind::kL1:
      visit([](double& a, double v) { a += std::fabs(v); });
      break;
    case ReduceKind::kProd:
      std::fill(acc.begin(), acc.end(), 1.0);
      visit([](double& a, double v) { a *= v; });
      break;
    case ReduceKind::kMax:  // NaN propagates, as numpy's max does
      std::fill(acc.begin(), acc.end(), -INFINITY);
      visit([](double& a, double v) {
        if (v > a || std::isnan(v)) a = v;
      });
      break;
    case ReduceKind::kMin:
      std::fill(acc.begin(), acc.end(), INFINITY);
      visit([](double& a, double v) {
        if (v < a || std::isnan(v)) a = v;
      });
      break;
    case ReduceKind::kLogSumExp: {
      // log(sum(exp(x))) = m + log(sum(exp(x - m))) with m the maximum, so exp cannot overflow.
      std::vector<double> max_values(size_t(slots), -INFINITY);
      for_each_slot(shape, slot_strides, [&](int64_t i, int64_t s) {
        const double v = double(x[i]);
        if (v > max_values[size_t(s)] || std::isnan(v)) max_values[size_t(s)] = v;
      });
      for_each_slot(shape, slot_strides, [&](int64_t i, int64_t s) {
        acc[size_t(s)] += std::exp(double(x[i]) - max_values[size_t(s)]);
      });
      for (size_t s = 0; s < acc.size(); ++s) {
        const double m = max_values[s];
        acc[s] = std::isfinite(m) ? m + std::log(acc[s]) : m;
      }
      return acc;
    }
  }
  for (double& a : acc) {
    if (kind == ReduceKind::kMean) a /= count;
    if (kind == ReduceKind::kL2) a = std::sqrt(a);
    if (kind == ReduceKind::kLogSum) a = std::log(a);
  }
  return acc;
}

// Sums, products, means and extrema of integers, exactly (wrapping as the type does).
template <typename T>
void reduce_integer(const T* x, T* y, const Dims& shape, const Dims& slot_strides, int64_t slots,
                    int64_t count, ReduceKind kind) {
  if (kind == ReduceKind::kMax || kind == ReduceKind::kMin) {
    const bool is_max = kind == ReduceKind::kMax;
    std::fill(y, y + slots,
              is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max());
    for_each_slot(shape, slot_strides, [&](int64_t i, int64_t s) {
      if (is_max ? x[i] > y[s] : x[i] < y[s]) y[s] = x[i];
    });
    return;
  }
  if constexpr (!std::is_same_v<T, bool>) {
    // Modular arithmetic in uint64 gives the wrapped result of any narrower or signed type.
    std::vector<uint64_t> acc(size_t(slots), kind == ReduceKind::kProd ? 1 : 0);
    auto as_u64 = [](T v) { return uint64_t(v); };
    auto visit = [&](auto&& step) {
      for_each_slot(shape, slot_strides, [&](int64_t i, int64_t s) { step(acc[size_t(s)], x[i]); });
    };
    switch (kind) {
      case ReduceKind::kSum:
      case ReduceKind::kMean:
        visit([&](uint64_t& a, T v) { a += as_u64(v); });
        break;
      case ReduceKind::kProd:
        visit([&](uint64_t& a, T v) { a *= as_u64(v); });
        break;
      case ReduceKind::kSumSquare:
        visit([&](uint64_t& a, T v) { a += as_u64(v) * as_u64(v); });
        break;
      case ReduceKind::kL1:
        visit([&](uint64_t& a, T v) { a += v < T(0) ? uint64_t(0) - as_u64(v) : as_u64(v); });
        break;
      default:
        fail(ErrorCode::kInternal, "reduce_integer: unexpected kind");
    }
    for (int64_t s = 0; s < slots; ++s) {
      uint64_t a = acc[size_t(s)];
      if (kind == ReduceKind::kMean) {
        if (count == 0) {
          a = 0;
        } else if constexpr (std::is_signed_v<T>) {
          a = uint64_t(int64_t(a) / count);  // truncates toward zero
        } else {
          a /= uint64_t(count);
        }
      }
      y[s] = T(a);
    }
  }
}

void compute_reduce(ComputeContext& ctx, ReduceKind kind) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  const ReducePlan plan =
      plan_reduction(ctx.node(), ctx.has_input(1) ? &ctx.input(1) : nullptr, int64_t(x.rank()));
  if (plan.noop) {
    if (x.nbytes() && y.raw() != x.raw()) std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  const Dims slot_shape = kept_shape(x.shape(), plan);
  const Dims slot_strides = broadcast_strides(slot_shape, x.shape());
  const int64_t slots = volume(slot_shape);
  const int64_t count = slots == 0 ? 0 : x.numel() / slots;
  if (is_float_type(x.dtype())) {
    with_float_data(x, [&](const auto* data) {
      const std::vector<double> r =
          reduce_in_double(data, x.shape(), slot_strides, slots, double(count), kind);
      for (int64_t s = 0; s < slots; ++s) store_double(y, s, r[size_t(s)]);
    });
    return;
  }
  dispatch_integer(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* data = x.data<T>();
    T* out = y.data<T>();
    if (kind == ReduceKind::kL2 || kind == ReduceKind::kLogSum || kind == ReduceKind::kLogSumExp) {
      const std::vector<double> r =
          reduce_in_double(data, x.shape(), slot_strides, slots, double(count), kind);
      for (int64_t s = 0; s < slots; ++s) out[s] = truncate_to<T>(r[size_t(s)]);
    } else {
      reduce_integer(data, out, x.shape(), slot_strides, slots, count, kind);
    }
  });
}

#define KILN_REGISTER_REDUCE(op_name, kind)                                \
  KILN_REGISTER_OP(OpDef{                                                  \
      .name = op_name,                                                     \
      .min_inputs = 1,                                                     \
      .max_inputs = 2,                                                     \
      .infer = [](InferContext& ctx) { infer_reduce(ctx, (kind)); },       \
      .compute = [](ComputeContext& ctx) { compute_reduce(ctx, (kind)); }, \
  })

KILN_REGISTER_REDUCE("ReduceSum", ReduceKind::kSum);
KILN_REGISTER_REDUCE("ReduceMean", ReduceKind::kMean);
KILN_REGISTER_REDUCE("ReduceMax", ReduceKind::kMax);
KILN_REGISTER_REDUCE("ReduceMin", ReduceKind::kMin);
KILN_REGISTER_REDUCE("ReduceProd", ReduceKind::kProd);
KILN_REGISTER_REDUCE("ReduceL1", ReduceKind::kL1);
KILN_REGISTER_REDUCE("ReduceL2", ReduceKind::kL2);
KILN_REGISTER_REDUCE("ReduceLogSum", ReduceKind::kLogSum);
KILN_REGISTER_REDUCE("ReduceLogSumExp", ReduceKind::kLogSumExp);
KILN_REGISTER_REDUCE("ReduceSumSquare", ReduceKind::kSumSquare);

#undef KILN_REGISTER_REDUCE

// =============================================================================================
// ArgMax / ArgMin: index of the first (or, with select_last_index, last) extreme along an axis.
// A NaN counts as the extreme, as in numpy.

template <typename T>
void arg_extreme(const T* x, int64_t* y, const AxisSplit& s, bool is_max, bool select_last) {
  auto better = [&](T v, T best) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(best)) return select_last && std::isnan(v);
      if (std::isnan(v)) return true;
    }
    if (v == best) return select_last;
    return is_max ? v > best : v < best;
  };
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t j = 0; j < s.inner; ++j) {
      const T* line = x + o * s.n * s.inner + j;
      int64_t best = 0;
      for (int64_t i = 1; i < s.n; ++i) {
        if (better(line[i * s.inner], line[best * s.inner])) best = i;
      }
      y[o * s.inner + j] = best;
    }
  }
}

void infer_arg(InferContext& ctx) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(is_float_type(dtype) ||
                (is_integer(dtype) && dtype != DataType::kBool && !is_sub_byte(dtype)),
            "input type ", to_string(dtype), " is not supported");
  const Dims& shape = ctx.input_shape(0);
  ctx.check(!shape.empty(), "input must have rank 1 or more");
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(shape.size()));
  ctx.check(shape[size_t(axis)] > 0, "cannot take the index of an extreme along axis ", axis,
            " of extent 0");
  Dims out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (int64_t(d) != axis)
      out.push_back(shape[d]);
    else if (ctx.node().attr_int("keepdims", 1) != 0)
      out.push_back(1);
  }
  ctx.set_output(0, DataType::kInt64, out);
}

void compute_arg(ComputeContext& ctx, bool is_max) {
  const Tensor& x = ctx.input(0);
  const int64_t axis =
      normalize_axis(ctx.node(), ctx.node().attr_int("axis", 0), int64_t(x.rank()));
  const AxisSplit split = split_at(x.shape(), axis);
  const bool select_last = ctx.node().attr_int("select_last_index", 0) != 0;
  int64_t* y = ctx.output(0).data<int64_t>();
  if (is_float_type(x.dtype())) {
    with_float_data(x, [&](const auto* data) { arg_extreme(data, y, split, is_max, select_last); });
  } else {
    dispatch_integer(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      arg_extreme(x.data<T>(), y, split, is_max, select_last);
    });
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "ArgMax",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_arg,
    .compute = [](ComputeContext& ctx) { compute_arg(ctx, true); },
});

KILN_REGISTER_OP(OpDef{
    .name = "ArgMin",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_arg,
    .compute = [](ComputeContext& ctx) { compute_arg(ctx, false); },
});

// =============================================================================================
// CumSum: running sums along the axis given as the second input; `exclusive` leaves out the
// element itself, `reverse` sums from the end.

int64_t cumsum_axis(const ir::Node& node, const Tensor& axis, int64_t rank) {
  KILN_CHECK(axis.dtype() == DataType::kInt64 || axis.dtype() == DataType::kInt32,
             ErrorCode::kInvalidModel, node.describe(), ": axis must be int32 or int64, got ",
             to_string(axis.dtype()));
  KILN_CHECK(axis.numel() == 1 && axis.rank() <= 1, ErrorCode::kInvalidModel, node.describe(),
             ": axis must be a scalar, got shape ", to_string(axis.shape()));
  return normalize_axis(node, axis.as_int64(0), rank);
}

// Acc is double for float inputs and uint64 (wrapping) for integers.
template <typename Acc, typename T, typename Out>
void cumulative_sum(const T* x, Out* y, const AxisSplit& s, bool exclusive, bool reverse) {
  std::vector<Acc> acc(size_t(s.inner));
  for (int64_t o = 0; o < s.outer; ++o) {
    std::fill(acc.begin(), acc.end(), Acc(0));
    for (int64_t step = 0; step < s.n; ++step) {
      const int64_t i = reverse ? s.n - 1 - step : step;
      const int64_t base = (o * s.n + i) * s.inner;
      for (int64_t j = 0; j < s.inner; ++j) {
        if (exclusive) {
          y[base + j] = Out(acc[size_t(j)]);
          acc[size_t(j)] += Acc(x[base + j]);
        } else {
          acc[size_t(j)] += Acc(x[base + j]);
          y[base + j] = Out(acc[size_t(j)]);
        }
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "CumSum",
    .min_inputs = 2,
    .max_inputs = 2,
    .infer =
        [](InferContext& ctx) {
          const DataType dtype = ctx.input_dtype(0);
          ctx.check(is_float_type(dtype) || is_wide_integer(dtype), "input type ", to_string(dtype),
                    " is not supported");
          const Dims& shape = ctx.input_shape(0);
          ctx.check(!shape.empty(), "input must have rank 1 or more");
          if (const Tensor* axis = ctx.input_value(1)) {
            cumsum_axis(ctx.node(), *axis, int64_t(shape.size()));
          }
          ctx.set_output(0, dtype, shape);
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          Tensor& y = ctx.output(0);
          const AxisSplit split =
              split_at(x.shape(), cumsum_axis(ctx.node(), ctx.input(1), int64_t(x.rank())));
          const bool exclusive = ctx.node().attr_int("exclusive", 0) != 0;
          const bool reverse = ctx.node().attr_int("reverse", 0) != 0;
          switch (x.dtype()) {
            case DataType::kFloat32:
              cumulative_sum<double>(x.data<float>(), y.data<float>(), split, exclusive, reverse);
              break;
            case DataType::kFloat64:
              cumulative_sum<double>(x.data<double>(), y.data<double>(), split, exclusive, reverse);
              break;
            case DataType::kFloat16:
            case DataType::kBFloat16: {
              Tensor xf = to_float32(x);
              Tensor yf = Tensor::zeros(DataType::kFloat32, y.shape());
              cumulative_sum<double>(static_cast<const float*>(xf.data<float>()), yf.data<float>(),
                                     split, exclusive, reverse);
              store_from_float32(yf, y);
              break;
            }
            default:
              dispatch_integer(x.dtype(), [&](auto tag) {
                using T = decltype(tag);
                if constexpr (!std::is_same_v<T, bool>) {
                  cumulative_sum<uint64_t>(x.data<T>(), y.data<T>(), split, exclusive, reverse);
                }
              });
          }
        },
});

// =============================================================================================
// TopK: the k largest (or smallest) elements along an axis and their indices, sorted, ties
// broken by the lower index. NaN counts as larger than every number.

template <typename K>
bool key_greater(K a, K b) {
  if constexpr (std::is_floating_point_v<K>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

int64_t topk_k(const ir::Node& node, const Tensor& k_tensor, int64_t extent) {
  KILN_CHECK(k_tensor.dtype() == DataType::kInt64 || k_tensor.dtype() == DataType::kInt32,
             ErrorCode::kInvalidModel, node.describe(), ": K must be int64, got ",
             to_string(k_tensor.dtype()));
  KILN_CHECK(k_tensor.numel() == 1 && k_tensor.rank() <= 1, ErrorCode::kInvalidModel,
             node.describe(), ": K must hold one value, got shape ", to_string(k_tensor.shape()));
  const int64_t k = k_tensor.as_int64(0);
  KILN_CHECK(k >= 0 && k <= extent, ErrorCode::kInvalidModel, node.describe(), ": K = ", k,
             " is out of range for an axis of extent ", extent);
  return k;
}

// Writes the selected elements (raw bytes, so every dtype is copied exactly) and indices.
template <typename K>
void top_k(const std::vector<K>& keys, const Tensor& x, Tensor& values, int64_t* indices,
           const AxisSplit& s, int64_t k, bool largest) {
  const size_t elem = element_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(values.raw());
  std::vector<int64_t> order(size_t(s.n));
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t j = 0; j < s.inner; ++j) {
      const int64_t in_base = o * s.n * s.inner + j;
      auto key = [&](int64_t i) { return keys[size_t(in_base + i * s.inner)]; };
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
        const K ka = key(a), kb = key(b);
        const bool before = largest ? key_greater(ka, kb) : key_greater(kb, ka);
        const bool after = largest ? key_greater(kb, ka) : key_greater(ka, kb);
        return before || (!after && a < b);
      });
      const int64_t out_base = o * k * s.inner + j;
      for (int64_t r = 0; r < k; ++r) {
        const int64_t from = in_base + order[size_t(r)] * s.inner;
        const int64_t to = out_base + r * s.inner;
        std::memcpy(dst + size_t(to) * elem, src + size_t(from) * elem, elem);
        indices[to] = order[size_t(r)];
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "TopK",
    .min_inputs = 2,
    .max_inputs = 2,
    .min_outputs = 2,
    .max_outputs = 2,
    .infer =
        [](InferContext& ctx) {
          const DataType dtype = ctx.input_dtype(0);
          ctx.check(is_float_type(dtype) ||
                        (is_integer(dtype) && dtype != DataType::kBool && !is_sub_byte(dtype)),
                    "input type ", to_string(dtype), " is not supported");
          const Dims& shape = ctx.input_shape(0);
          ctx.check(!shape.empty(), "input must have rank 1 or more");
          const size_t axis = size_t(
              normalize_axis(ctx.node(), ctx.node().attr_int("axis", -1), int64_t(shape.size())));
          Dims out = shape;
          out[axis] = topk_k(ctx.node(), ctx.require_integer_value(1, "K"), shape[axis]);
          ctx.set_output(0, dtype, out);
          ctx.set_output(1, DataType::kInt64, out);
        },
    .compute =
        [](ComputeContext& ctx) {
          const Tensor& x = ctx.input(0);
          const int64_t axis =
              normalize_axis(ctx.node(), ctx.node().attr_int("axis", -1), int64_t(x.rank()));
          const AxisSplit split = split_at(x.shape(), axis);
          const int64_t k = topk_k(ctx.node(), ctx.input(1), split.n);
          const bool largest = ctx.node().attr_int("largest", 1) != 0;
          int64_t* indices = ctx.output(1).data<int64_t>();
          if (is_float_type(x.dtype())) {
            std::vector<double> keys(size_t(x.numel()));
            for (int64_t i = 0; i < x.numel(); ++i) keys[size_t(i)] = x.as_double(i);
            top_k(keys, x, ctx.output(0), indices, split, k, largest);
          } else {
            dispatch_integer(x.dtype(), [&](auto tag) {
              using T = decltype(tag);
              const std::vector<T> keys(x.data<T>(), x.data<T>() + x.numel());
              top_k(keys, x, ctx.output(0), indices, split, k, largest);
            });
          }
        },
});

}  // namespace
}  // namespace kiln::ops

#include <limits>
#include <type_traits>

#include "backends/cuda/data_movement.cuh"
#include "backends/cuda/reduce.cuh"

namespace kiln::cuda {

namespace {

__device__ __forceinline__ double reduce_init(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kProd:
      return 1.0;
    case ReduceKind::kMax:
      return -INFINITY;
    case ReduceKind::kMin:
      return INFINITY;
    default:
      return 0.0;
  }
}

// Folds one element into the accumulator; NaN wins for Max and Min (as numpy's max).
__device__ __forceinline__ double reduce_step(ReduceKind kind, double acc, double v) {
  switch (kind) {
    case ReduceKind::kSumSquare:
    case ReduceKind::kL2:
      return acc + v * v;
    case ReduceKind::kL1:
      return acc + fabs(v);
    case ReduceKind::kLogSumExp:
      return acc + exp(v);  // v already shifted by the maximum
    case ReduceKind::kLp:
      return acc;  // handled by the caller (needs p)
    case ReduceKind::kProd:
      return acc * v;
    case ReduceKind::kMax:
      return (v > acc || isnan(v)) ? v : acc;
    case ReduceKind::kMin:
      return (v < acc || isnan(v)) ? v : acc;
    default:
      return acc + v;
  }
}

// Combines two partial accumulators.
__device__ __forceinline__ double reduce_merge(ReduceKind kind, double a, double b) {
  switch (kind) {
    case ReduceKind::kProd:
      return a * b;
    case ReduceKind::kMax:
    case ReduceKind::kMin:
      return reduce_step(kind, a, b);
    default:
      return a + b;
  }
}

// The result from the accumulator; `shift` is the maximum subtracted by kLogSumExp, `p` the
// exponent of kLp.
__device__ __forceinline__ double reduce_finish(ReduceKind kind, double acc, int64_t count,
                                                double shift, double p) {
  switch (kind) {
    case ReduceKind::kMean:
      return acc / double(count);
    case ReduceKind::kL2:
      return sqrt(acc);
    case ReduceKind::kLogSum:
      return log(acc);
    case ReduceKind::kLogSumExp:
      return isfinite(shift) ? shift + log(acc) : shift;
    case ReduceKind::kLp:
      return p == 2.0 ? sqrt(acc) : (p == 1.0 ? acc : pow(acc, 1.0 / p));
    default:
      return acc;
  }
}

// Folds element v (for kLogSumExp already shifted by the maximum) into the accumulator.
__device__ __forceinline__ double reduce_fold(ReduceKind kind, double acc, double v, double p) {
  if (kind == ReduceKind::kLp) {
    const double a = fabs(v);
    return acc + (p == 2.0 ? a * a : (p == 1.0 ? a : pow(a, p)));
  }
  return reduce_step(kind, acc, v);
}

// One block per output slot: for reductions over long contiguous runs.
template <typename T>
__global__ void reduce_block_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t slots,
                                    int64_t count, StridedMap<1> kept, StridedMap<1> red,
                                    ReduceKind kind, double p) {
  __shared__ double scratch[32];
  for (int64_t s = blockIdx.x; s < slots; s += gridDim.x) {
    int64_t base[1];
    kept.offsets(s, base);
    auto at = [&](int64_t r) {
      int64_t off[1];
      red.offsets(r, off);
      return base[0] + off[0];
    };
    // LogSumExp: exp(x - max) cannot overflow; a first pass finds the maximum.
    double shift = 0.0;
    if (kind == ReduceKind::kLogSumExp) {
      double m = -INFINITY;
      for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
        m = reduce_step(ReduceKind::kMax, m, widen_to<double>(x[at(r)]));
      }
      shift = block_reduce(
          m, [](double a, double b) { return reduce_step(ReduceKind::kMax, a, b); }, scratch);
    }
    double acc = reduce_init(kind);
    for (int64_t r = threadIdx.x; r < count; r += blockDim.x) {
      acc = reduce_fold(kind, acc, widen_to<double>(x[at(r)]) - shift, p);
    }
    acc = block_reduce(
        acc, [kind](double a, double b) { return reduce_merge(kind, a, b); }, scratch);
    if (threadIdx.x == 0) y[s] = narrow_to<T>(reduce_finish(kind, acc, count, shift, p));
  }
}

// One thread per output slot: for short reductions, or reductions across outer dims (where
// neighbouring threads then read neighbouring elements).
template <typename T>
__global__ void reduce_thread_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t slots,
                                     int64_t count, StridedMap<1> kept, StridedMap<1> red,
                                     ReduceKind kind, double p) {
  KILN_GRID_STRIDE_LOOP(s, slots) {
    int64_t base[1];
    kept.offsets(s, base);
    auto at = [&](int64_t r) {
      int64_t off[1];
      red.offsets(r, off);
      return base[0] + off[0];
    };
    double shift = 0.0;
    if (kind == ReduceKind::kLogSumExp) {
      shift = -INFINITY;
      for (int64_t r = 0; r < count; ++r) {
        shift = reduce_step(ReduceKind::kMax, shift, widen_to<double>(x[at(r)]));
      }
    }
    double acc = reduce_init(kind);
    for (int64_t r = 0; r < count; ++r) {
      acc = reduce_fold(kind, acc, widen_to<double>(x[at(r)]) - shift, p);
    }
    y[s] = narrow_to<T>(reduce_finish(kind, acc, count, shift, p));
  }
}

// Integers, one thread per slot: sums, products, means (truncating) and L1 in wrapping 64-bit
// arithmetic, max/min exactly, L2 and the log reductions in double then truncated toward zero
// and saturated (NaN gives 0), as the reference does.
template <typename T>
__device__ __forceinline__ T truncate_to(double v) {
  if (isnan(v)) return T(0);
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

template <typename T>
__global__ void reduce_integer_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t slots,
                                      int64_t count, StridedMap<1> kept, StridedMap<1> red,
                                      ReduceKind kind) {
  KILN_GRID_STRIDE_LOOP(s, slots) {
    int64_t base[1];
    kept.offsets(s, base);
    auto value = [&](int64_t r) {
      int64_t off[1];
      red.offsets(r, off);
      return x[base[0] + off[0]];
    };
    if (kind == ReduceKind::kMax || kind == ReduceKind::kMin) {
      const bool is_max = kind == ReduceKind::kMax;
      T best = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
      for (int64_t r = 0; r < count; ++r) {
        const T v = value(r);
        if (is_max ? v > best : v < best) best = v;
      }
      y[s] = best;
    } else if (kind == ReduceKind::kL2 || kind == ReduceKind::kLogSum ||
               kind == ReduceKind::kLogSumExp) {
      double shift = 0.0;
      if (kind == ReduceKind::kLogSumExp) {
        shift = -INFINITY;
        for (int64_t r = 0; r < count; ++r) shift = fmax(shift, double(value(r)));
      }
      double acc = 0.0;
      for (int64_t r = 0; r < count; ++r) acc = reduce_step(kind, acc, double(value(r)) - shift);
      y[s] = truncate_to<T>(reduce_finish(kind, acc, count, shift, 2.0));
    } else if constexpr (!std::is_same_v<T, bool>) {
      uint64_t acc = kind == ReduceKind::kProd ? 1 : 0;
      for (int64_t r = 0; r < count; ++r) {
        const T v = value(r);
        const uint64_t u = uint64_t(v);  // sign-extended for signed types: wraps as they do
        switch (kind) {
          case ReduceKind::kProd:
            acc *= u;
            break;
          case ReduceKind::kSumSquare:
            acc += u * u;
            break;
          case ReduceKind::kL1:
            if constexpr (std::is_signed_v<T>) {
              acc += v < T(0) ? uint64_t(0) - u : u;
            } else {
              acc += u;
            }
            break;
          default:
            acc += u;
            break;
        }
      }
      if (kind == ReduceKind::kMean) {
        if (count == 0) {
          acc = 0;
        } else if constexpr (std::is_signed_v<T>) {
          acc = uint64_t(int64_t(acc) / count);
        } else {
          acc /= uint64_t(count);
        }
      }
      y[s] = T(acc);
    }
  }
}

}  // namespace

namespace {

// Calls fn(Tag<T>{}) for the integer storage types and bool.
template <typename Fn>
bool dispatch_integer(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kInt8:
      fn(Tag<int8_t>{});
      return true;
    case DataType::kUInt8:
      fn(Tag<uint8_t>{});
      return true;
    case DataType::kInt16:
      fn(Tag<int16_t>{});
      return true;
    case DataType::kUInt16:
      fn(Tag<uint16_t>{});
      return true;
    case DataType::kInt32:
      fn(Tag<int32_t>{});
      return true;
    case DataType::kUInt32:
      fn(Tag<uint32_t>{});
      return true;
    case DataType::kInt64:
      fn(Tag<int64_t>{});
      return true;
    case DataType::kUInt64:
      fn(Tag<uint64_t>{});
      return true;
    case DataType::kBool:
      fn(Tag<bool>{});
      return true;
    default:
      return false;
  }
}

}  // namespace

void launch_reduce(const ir::Node& node, ReduceKind kind, DataType dtype, const void* x, void* y,
                   const Dims& shape, const std::vector<bool>& reduced, cudaStream_t stream,
                   double p) {
  const Dims strides = contiguous_strides(shape);
  Dims kept_dims, kept_strides, red_dims, red_strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    (reduced[d] ? red_dims : kept_dims).push_back(shape[d]);
    (reduced[d] ? red_strides : kept_strides).push_back(strides[d]);
  }
  const int64_t slots = volume(kept_dims);
  const int64_t count = volume(red_dims);
  if (slots == 0) return;
  const StridedMap<1> kept = make_strided_map<1>(node, kept_dims, {kept_strides});
  const StridedMap<1> red = make_strided_map<1>(node, red_dims, {red_strides});
  // The innermost input dim is reduced: a block per slot reads it contiguously.
  const bool inner_reduced = !shape.empty() && reduced.back() && shape.back() > 1;
  const bool integer = dispatch_integer(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    reduce_integer_kernel<T><<<grid_for(slots), kBlock, 0, stream>>>(
        static_cast<const T*>(x), static_cast<T*>(y), slots, count, kept, red, kind);
  });
  if (integer) return;
  auto launch_float = [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (inner_reduced && count > 64) {
      const unsigned blocks = unsigned(slots < 65536 * 8 ? slots : 65536 * 8);
      reduce_block_kernel<T><<<blocks, kBlock, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), slots, count, kept, red, kind, p);
    } else {
      reduce_thread_kernel<T><<<grid_for(slots), kBlock, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), slots, count, kept, red, kind, p);
    }
  };
  if (!dispatch_float_or_double(dtype, launch_float)) {
    fail(ErrorCode::kInternal, node.describe(), ": reduction launched for type ", to_string(dtype));
  }
}

namespace {

// The input types a reduction runs on, as the reference allows them: float types and the wide
// integers for every kind; int8, uint8 and bool for Max and Min.
bool reduce_type_supported(ReduceKind kind, DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kFloat64:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt32:
    case DataType::kUInt64:
      return true;
    case DataType::kInt8:
    case DataType::kUInt8:
    case DataType::kBool:
      return kind == ReduceKind::kMax || kind == ReduceKind::kMin;
    default:
      return false;
  }
}

void register_reduce(const char* name, ReduceKind kind) {
  KILN_ADD_CUDA_KERNEL(CudaKernel{
      name,
      "cuda_reduce",
      {1},
      [kind](const NodeQuery& q) {
        return reduce_type_supported(kind, q.input(0).dtype) && ranks_fit(q);
      },
      [kind](RunContext& rc) {
        const DeviceTensor& x = rc.input(0);
        const int64_t rank = int64_t(x.shape.size());
        std::vector<int64_t> axes;
        if (rc.has_input(1)) axes = rc.host_input(1, "axes").to_int64_vector();
        std::vector<bool> reduced(size_t(rank), axes.empty());
        if (axes.empty() && rc.node.attr_int("noop_with_empty_axes", 0) != 0) {
          return copy_device(rc.node, x.data, rc.output(0).data, rc.output(0).nbytes(), rc.stream);
        }
        for (int64_t a : axes) reduced[size_t(a < 0 ? a + rank : a)] = true;
        launch_reduce(rc.node, kind, x.dtype, x.data, rc.output(0).data, x.shape, reduced,
                      rc.stream);
      }});
}

void register_global_pool(const char* name, ReduceKind kind) {
  KILN_ADD_CUDA_KERNEL(CudaKernel{
      name,
      "cuda_reduce",
      {},
      [](const NodeQuery& q) {
        return is_float16_or_32(q.input(0).dtype) && q.input(0).shape.size() >= 2 && ranks_fit(q);
      },
      [kind](RunContext& rc) {
        const DeviceTensor& x = rc.input(0);
        std::vector<bool> reduced(x.shape.size(), true);
        reduced[0] = false;
        reduced[1] = false;
        launch_reduce(rc.node, kind, x.dtype, x.data, rc.output(0).data, x.shape, reduced,
                      rc.stream, double(rc.node.attr_int("p", 2)));
      }});
}

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin along one axis: one thread per line of the [outer, n, inner] view. The first
// extreme wins (the last with select_last_index); a NaN counts as the extreme, as in numpy.

template <typename T>
__device__ __forceinline__ double as_double(T v) {
  if constexpr (std::is_integral_v<T>) {
    return double(v);
  } else {
    return double(to_float(v));
  }
}

template <typename T>
__global__ void arg_extreme_kernel(const T* __restrict__ x, int64_t* __restrict__ y, int64_t lines,
                                   int64_t n, int64_t inner, bool is_max, bool select_last) {
  KILN_GRID_STRIDE_LOOP(line, lines) {
    const T* in = x + (line / inner) * n * inner + line % inner;
    int64_t best = 0;
    T best_value = in[0];
    for (int64_t i = 1; i < n; ++i) {
      const T v = in[i * inner];
      bool better;
      if constexpr (std::is_integral_v<T>) {
        better = v == best_value ? select_last : (is_max ? v > best_value : v < best_value);
      } else {
        const float a = to_float(v), b = to_float(best_value);
        if (isnan(b)) {
          better = select_last && isnan(a);
        } else if (isnan(a)) {
          better = true;
        } else {
          better = a == b ? select_last : (is_max ? a > b : a < b);
        }
      }
      if (better) {
        best = i;
        best_value = v;
      }
    }
    y[line] = best;
  }
}

// Calls fn(Tag<T>{}) for the float types and int32/int64.
template <typename Fn>
void dispatch_float_or_int(const ir::Node& node, DataType dtype, Fn&& fn) {
  if (dtype == DataType::kInt32) return fn(Tag<int32_t>{});
  if (dtype == DataType::kInt64) return fn(Tag<int64_t>{});
  dispatch_float(node, dtype, fn);
}

// ArgMax/ArgMin take every integer type but bool.
bool arg_type_supported(DataType t) {
  return is_float16_or_32(t) || (t != DataType::kBool && dispatch_integer(t, [](auto) {}));
}

// The [outer, n, inner] view of `shape` around `axis`.
void split_at(const Dims& shape, int64_t axis, int64_t* outer, int64_t* n, int64_t* inner) {
  *outer = *n = *inner = 1;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < axis)
      *outer *= shape[size_t(d)];
    else if (d == axis)
      *n = shape[size_t(d)];
    else
      *inner *= shape[size_t(d)];
  }
}

void register_arg(const char* name, bool is_max) {
  KILN_ADD_CUDA_KERNEL(CudaKernel{
      name,
      "cuda_arg_extreme",
      {},
      [](const NodeQuery& q) { return arg_type_supported(q.input(0).dtype); },
      [is_max](RunContext& rc) {
        const DeviceTensor& x = rc.input(0);
        const int64_t rank = int64_t(x.shape.size());
        int64_t axis = rc.node.attr_int("axis", 0);
        if (axis < 0) axis += rank;
        int64_t outer, n, inner;
        split_at(x.shape, axis, &outer, &n, &inner);
        const int64_t lines = outer * inner;
        if (lines == 0) return;
        const bool select_last = rc.node.attr_int("select_last_index", 0) != 0;
        auto launch = [&](auto tag) {
          using T = typename decltype(tag)::type;
          if constexpr (!std::is_same_v<T, bool>) {
            arg_extreme_kernel<T><<<grid_for(lines), kBlock, 0, rc.stream>>>(
                x.as<T>(), rc.output(0).as<int64_t>(), lines, n, inner, is_max, select_last);
          }
        };
        if (!dispatch_integer(x.dtype, launch)) dispatch_float(rc.node, x.dtype, launch);
      }});
}

const bool registered = [] {
  register_reduce("ReduceSum", ReduceKind::kSum);
  register_reduce("ReduceMean", ReduceKind::kMean);
  register_reduce("ReduceMax", ReduceKind::kMax);
  register_reduce("ReduceMin", ReduceKind::kMin);
  register_reduce("ReduceProd", ReduceKind::kProd);
  register_reduce("ReduceSumSquare", ReduceKind::kSumSquare);
  register_reduce("ReduceL1", ReduceKind::kL1);
  register_reduce("ReduceL2", ReduceKind::kL2);
  register_reduce("ReduceLogSum", ReduceKind::kLogSum);
  register_reduce("ReduceLogSumExp", ReduceKind::kLogSumExp);
  register_global_pool("GlobalAveragePool", ReduceKind::kMean);
  register_global_pool("GlobalMaxPool", ReduceKind::kMax);
  register_global_pool("GlobalLpPool", ReduceKind::kLp);
  register_arg("ArgMax", true);
  register_arg("ArgMin", false);
  return true;
}();

}  // namespace
}  // namespace kiln::cuda

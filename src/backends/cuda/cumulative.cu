// CumSum and CumProd along the axis given as input 1: running sums or products, `exclusive`
// leaving out the element itself, `reverse` running from the end. As the reference, floats
// (float16/bfloat16/float32/float64) accumulate in double and round once per output, and
// integers (int32/int64/uint32/uint64) in 64-bit arithmetic that wraps.
//
// The axis may be a network input: when it is not known on the host at shape time, each
// thread reads it on the device and splits the shape there. Two kernels:
//   - one thread per line, walking it serially (neighbouring threads take neighbouring lines,
//     so a line of stride `inner` > 1 is read coalesced); also used when the axis is on the
//     device;
//   - one block per line for long contiguous lines (inner == 1) that are few: a block-wide
//     parallel scan over chunks of the line, carrying the running total between chunks.
// The parallel scan associates floating-point sums and products differently from the serial
// reference (double precision keeps the difference far below the output's rounding).
//
// This CumSum kernel outranks reduce.cu's cuda_cumsum (priority 1): it also covers float64,
// unsigned types and an axis computed at run time.
#include <type_traits>

#include "backends/cuda/data_movement.cuh"

namespace kiln::cuda {
namespace {

struct ScanShape {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t axis = 0;  // used when axis_device is null
  const void* axis_device = nullptr;
  bool axis_is_int64 = true;

  // [outer, n, inner] around the axis.
  __device__ __forceinline__ void split(int64_t& outer, int64_t& n, int64_t& inner) const {
    int64_t a = axis;
    if (axis_device) {
      a = axis_is_int64 ? *static_cast<const int64_t*>(axis_device)
                        : int64_t(*static_cast<const int32_t*>(axis_device));
      if (a < 0) a += rank;
      a = a < 0 ? 0 : (a >= rank ? rank - 1 : a);  // out of range: the CPU errors; clamp here
    }
    outer = 1;
    n = 1;
    inner = 1;
    for (int d = 0; d < rank; ++d) {
      if (d < a) outer *= dims[d];
      if (d == a) n = dims[d];
      if (d > a) inner *= dims[d];
    }
  }
};

template <bool kProduct, typename Acc>
__device__ __forceinline__ Acc scan_combine(Acc a, Acc b) {
  if constexpr (kProduct) {
    return a * b;
  } else {
    return a + b;
  }
}

// The accumulator: double for floats, uint64 (wrapping) for integers.
template <typename T>
using AccOf = std::conditional_t<std::is_integral_v<T>, uint64_t, double>;

template <typename T>
__device__ __forceinline__ AccOf<T> load_acc(T v) {
  if constexpr (std::is_integral_v<T>) {
    return uint64_t(v);  // signed values wrap modulo 2^64, as the reference converts them
  } else if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    return double(to_float(v));
  }
}

template <typename T>
__device__ __forceinline__ T store_acc(AccOf<T> v) {
  if constexpr (std::is_integral_v<T> || std::is_same_v<T, double>) {
    return T(v);
  } else {
    return from_float<T>(float(v));
  }
}

template <typename T, bool kProduct>
__global__ void scan_lines_kernel(const T* __restrict__ x, T* __restrict__ y, ScanShape shape,
                                  bool exclusive, bool reverse) {
  using Acc = AccOf<T>;
  int64_t outer, n, inner;
  shape.split(outer, n, inner);
  const int64_t lines = outer * inner;
  KILN_GRID_STRIDE_LOOP(line, lines) {
    const int64_t base = (line / inner) * n * inner + line % inner;
    Acc acc = Acc(kProduct ? 1 : 0);
    for (int64_t step = 0; step < n; ++step) {
      const int64_t at = base + (reverse ? n - 1 - step : step) * inner;
      const Acc v = load_acc(x[at]);
      if (exclusive) y[at] = store_acc<T>(acc);
      acc = scan_combine<kProduct>(acc, v);
      if (!exclusive) y[at] = store_acc<T>(acc);
    }
  }
}

constexpr int kScanBlock = 256;

// Inclusive scan of one value per thread of the block; `carry` (the total of earlier chunks) is
// folded in, and the block's total comes back in `total`.
template <bool kProduct, typename Acc>
__device__ __forceinline__ Acc block_inclusive_scan(Acc v, Acc* warp_totals, Acc& total) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
#pragma unroll
  for (int offset = 1; offset < 32; offset *= 2) {
    const Acc other = __shfl_up_sync(0xffffffffu, v, offset);
    if (lane >= offset) v = scan_combine<kProduct>(other, v);
  }
  if (lane == 31) warp_totals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    constexpr int kWarps = kScanBlock / 32;
    Acc w = lane < kWarps ? warp_totals[lane] : Acc(kProduct ? 1 : 0);
#pragma unroll
    for (int offset = 1; offset < kWarps; offset *= 2) {
      const Acc other = __shfl_up_sync(0xffffffffu, w, offset);
      if (lane >= offset) w = scan_combine<kProduct>(other, w);
    }
    if (lane < kWarps) warp_totals[lane] = w;  // inclusive prefix over warps
  }
  __syncthreads();
  if (warp > 0) v = scan_combine<kProduct>(warp_totals[warp - 1], v);
  total = warp_totals[kScanBlock / 32 - 1];
  return v;
}

template <typename T, bool kProduct>
__global__ void __launch_bounds__(kScanBlock)
    scan_block_per_line_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t lines, int64_t n,
                               bool exclusive, bool reverse) {
  using Acc = AccOf<T>;
  __shared__ Acc warp_totals[kScanBlock / 32];
  __shared__ Acc inclusive[kScanBlock];
  for (int64_t line = blockIdx.x; line < lines; line += gridDim.x) {
    const T* xl = x + line * n;
    T* yl = y + line * n;
    Acc carry = Acc(kProduct ? 1 : 0);
    for (int64_t chunk = 0; chunk < n; chunk += kScanBlock) {
      const int64_t step = chunk + threadIdx.x;
      const int64_t at = reverse ? n - 1 - step : step;
      const Acc v = step < n ? load_acc(xl[at]) : Acc(kProduct ? 1 : 0);
      Acc total;
      const Acc mine =
          scan_combine<kProduct>(carry, block_inclusive_scan<kProduct>(v, warp_totals, total));
      if (exclusive) inclusive[threadIdx.x] = mine;
      __syncthreads();
      if (step < n) {
        yl[at] = store_acc<T>(!exclusive         ? mine
                              : threadIdx.x == 0 ? carry
                                                 : inclusive[threadIdx.x - 1]);
      }
      carry = scan_combine<kProduct>(carry, total);
      __syncthreads();  // warp_totals and inclusive are rewritten by the next chunk
    }
  }
}

bool scan_type(DataType t) {
  switch (t) {
    case DataType::kFloat32:
    case DataType::kFloat64:
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kUInt32:
    case DataType::kUInt64:
      return true;
    default:
      return false;
  }
}

template <typename Fn>
void dispatch_scan(const ir::Node& node, DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      return fn(Tag<float>{});
    case DataType::kFloat64:
      return fn(Tag<double>{});
    case DataType::kFloat16:
      return fn(Tag<half>{});
    case DataType::kBFloat16:
      return fn(Tag<bfloat16>{});
    case DataType::kInt32:
      return fn(Tag<int32_t>{});
    case DataType::kInt64:
      return fn(Tag<int64_t>{});
    case DataType::kUInt32:
      return fn(Tag<uint32_t>{});
    case DataType::kUInt64:
      return fn(Tag<uint64_t>{});
    default:
      break;
  }
  fail(ErrorCode::kInternal, node.describe(), ": no CUDA scan for ", to_string(dtype));
}

template <bool kProduct>
void run_scan(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& y = rc.output(0);
  const int64_t total = x.numel();
  if (total == 0) return;
  const int rank = int(x.shape.size());
  ScanShape shape;
  shape.rank = rank;
  for (int d = 0; d < rank; ++d) shape.dims[d] = x.shape[size_t(d)];
  const DeviceTensor& axis = rc.input(1);
  const bool exclusive = rc.node.attr_int("exclusive", 0) != 0;
  const bool reverse = rc.node.attr_int("reverse", 0) != 0;
  if (!axis.host_value) {
    shape.axis_device = axis.data;
    shape.axis_is_int64 = axis.dtype == DataType::kInt64;
    dispatch_scan(rc.node, x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      scan_lines_kernel<T, kProduct><<<grid_for(total), kBlock, 0, rc.stream>>>(
          x.as<T>(), y.as<T>(), shape, exclusive, reverse);
    });
    return;
  }
  int64_t a = axis.host_value->as_int64(0);
  if (a < 0) a += rank;
  shape.axis = a;
  int64_t inner = 1;
  for (int d = int(a) + 1; d < rank; ++d) inner *= x.shape[size_t(d)];
  const int64_t n = x.shape[size_t(a)];
  const int64_t lines = total / n;
  // Long contiguous lines, too few for a thread each to fill the GPU: a block per line.
  const bool block_per_line = inner == 1 && n >= 2 * kScanBlock && lines < 64 * 1024;
  dispatch_scan(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (block_per_line) {
      const unsigned grid = unsigned(std::min<int64_t>(lines, 65535));
      scan_block_per_line_kernel<T, kProduct>
          <<<grid, kScanBlock, 0, rc.stream>>>(x.as<T>(), y.as<T>(), lines, n, exclusive, reverse);
    } else {
      scan_lines_kernel<T, kProduct><<<grid_for(lines), kBlock, 0, rc.stream>>>(
          x.as<T>(), y.as<T>(), shape, exclusive, reverse);
    }
  });
}

bool scan_supported(const NodeQuery& q) {
  const DataType axis = q.input(1).dtype;
  return scan_type(q.input(0).dtype) && q.input(0).shape.size() <= size_t(kMaxRank) &&
         (axis == DataType::kInt32 || axis == DataType::kInt64);
}

CudaKernel scan_kernel(std::string op, std::string name, void (*run)(RunContext&)) {
  CudaKernel k{std::move(op), std::move(name), {}, scan_supported, run};
  k.priority = 1;
  return k;
}

KILN_REGISTER_CUDA_KERNEL(scan_kernel("CumSum", "cuda_cumsum_scan", run_scan<false>));
KILN_REGISTER_CUDA_KERNEL(scan_kernel("CumProd", "cuda_cumprod_scan", run_scan<true>));

}  // namespace
}  // namespace kiln::cuda

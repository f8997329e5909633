// Cast and CastLike between every kiln dtype (float8 included, honouring `saturate`), and
// BitCast. Conversions are those of the CPU reference (src/ops/cast.cpp) bit for bit: each
// element goes source -> Wide (a double for float types, the integer bits otherwise) ->
// target, so float to integer truncates (NaN gives 0, out-of-range values saturate at the int64
// range and wrap), integers keep their low bits, anything to bool is "not zero", and float64 to
// float16/bfloat16/float8 rounds through float32 as the CPU does.
//
// The general kernel switches on both dtypes at run time (uniform branches: one kernel for all
// 225 pairs); the casts of mixed-precision engines (float32 <-> float16 / bfloat16) have
// vectorized kernels of their own. Casts from or to the narrow storage types (int4, uint4,
// int2, uint2, float4e2m1, the FNUZ float8s, e8m0; one element per byte) have a kernel of their
// own that calls core/narrow_types.h, the CPU's conversions compiled for the device.
#include "backends/cuda/elementwise.cuh"
#include "core/narrow_types.h"
#include "ops/cast_options.h"

namespace kiln::cuda {

namespace {

__device__ inline void store_wide(void* p, int64_t i, DataType t, const Wide& w, bool saturate) {
  switch (t) {
    case DataType::kFloat32:
      static_cast<float*>(p)[i] = w.to_float();
      return;
    case DataType::kFloat64:
      static_cast<double*>(p)[i] = w.to_double();
      return;
    case DataType::kFloat16:
      static_cast<half*>(p)[i] = __float2half_rn(w.to_float());
      return;
    case DataType::kBFloat16:
      static_cast<bfloat16*>(p)[i] = __float2bfloat16_rn(w.to_float());
      return;
    case DataType::kFloat8E4M3:
      static_cast<uint8_t*>(p)[i] = encode_e4m3(w.to_float(), saturate);
      return;
    case DataType::kFloat8E5M2:
      static_cast<uint8_t*>(p)[i] = encode_e5m2(w.to_float(), saturate);
      return;
    case DataType::kBool:
      static_cast<uint8_t*>(p)[i] = w.nonzero();
      return;
    case DataType::kInt8:
      static_cast<int8_t*>(p)[i] = w.to_integer<int8_t>();
      return;
    case DataType::kInt16:
      static_cast<int16_t*>(p)[i] = w.to_integer<int16_t>();
      return;
    case DataType::kInt32:
      static_cast<int32_t*>(p)[i] = w.to_integer<int32_t>();
      return;
    case DataType::kInt64:
      static_cast<int64_t*>(p)[i] = w.to_integer<int64_t>();
      return;
    case DataType::kUInt8:
      static_cast<uint8_t*>(p)[i] = w.to_integer<uint8_t>();
      return;
    case DataType::kUInt16:
      static_cast<uint16_t*>(p)[i] = w.to_integer<uint16_t>();
      return;
    case DataType::kUInt32:
      static_cast<uint32_t*>(p)[i] = w.to_integer<uint32_t>();
      return;
    case DataType::kUInt64:
      static_cast<uint64_t*>(p)[i] = w.to_integer<uint64_t>();
      return;
  }
}

__global__ void cast_kernel(const void* __restrict__ in, void* __restrict__ out, int64_t n,
                            DataType src, DataType dst, bool saturate) {
  KILN_GRID_STRIDE_LOOP(i, n) { store_wide(out, i, dst, load_wide(in, i, src), saturate); }
}

// ---------------------------------------------------------------------------------------------
// Narrow storage types, through the same Wide value as the general kernel.

__device__ inline Wide load_narrow_or_wide(const void* p, int64_t i, DataType t) {
  const uint8_t code = static_cast<const uint8_t*>(p)[i];
  switch (t) {
    case DataType::kInt4:
      return wide_signed(int4_value(code));
    case DataType::kUInt4:
      return wide_signed(uint4_value(code));
    case DataType::kInt2:
      return wide_signed(int2_value(code));
    case DataType::kUInt2:
      return wide_signed(uint2_value(code));
    case DataType::kFloat4E2M1:
      return wide_float(fp4e2m1_to_float(code));
    case DataType::kFloat8E4M3FNUZ:
      return wide_float(fp8e4m3fnuz_to_float(code));
    case DataType::kFloat8E5M2FNUZ:
      return wide_float(fp8e5m2fnuz_to_float(code));
    case DataType::kFloat8E8M0:
      return wide_float(fp8e8m0_to_float(code));
    default:
      return load_wide(p, i, t);
  }
}

__device__ inline void store_narrow_or_wide(void* p, int64_t i, DataType t, const Wide& w,
                                            bool saturate, E8M0Rounding rounding) {
  uint8_t* out = static_cast<uint8_t*>(p);
  switch (t) {
    case DataType::kInt4:
      out[i] = int4_code(w.to_integer<int64_t>());
      return;
    case DataType::kUInt4:
      out[i] = uint4_code(w.to_integer<int64_t>());
      return;
    case DataType::kInt2:
      out[i] = int2_code(w.to_integer<int64_t>());
      return;
    case DataType::kUInt2:
      out[i] = uint2_code(w.to_integer<int64_t>());
      return;
    case DataType::kFloat4E2M1:
      out[i] = float_to_fp4e2m1(w.to_double());
      return;
    case DataType::kFloat8E4M3FNUZ:
      out[i] = float_to_fp8e4m3fnuz(w.to_double(), saturate);
      return;
    case DataType::kFloat8E5M2FNUZ:
      out[i] = float_to_fp8e5m2fnuz(w.to_double(), saturate);
      return;
    case DataType::kFloat8E8M0:
      out[i] = float_to_fp8e8m0(w.to_float(), saturate, rounding);
      return;
    default:
      store_wide(p, i, t, w, saturate);
  }
}

__global__ void cast_narrow_kernel(const void* __restrict__ in, void* __restrict__ out, int64_t n,
                                   DataType src, DataType dst, bool saturate,
                                   E8M0Rounding rounding) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    store_narrow_or_wide(out, i, dst, load_narrow_or_wide(in, i, src), saturate, rounding);
  }
}

bool is_narrow(DataType t) { return ew::type_in(t, ew::kNarrowStorageTypes); }

// float32 / float16 / bfloat16 to one another: the value in float32, rounded by the store.
struct Convert {
  __device__ float operator()(float x) const { return x; }
};

template <typename Fn>
bool dispatch_float16_or_32(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat32:
      fn(Tag<float>{});
      return true;
    case DataType::kFloat16:
      fn(Tag<half>{});
      return true;
    case DataType::kBFloat16:
      fn(Tag<bfloat16>{});
      return true;
    default:
      return false;
  }
}

void run_cast(RunContext& rc) {
  const DeviceTensor& in = rc.input(0);
  const DeviceTensor& out = rc.output(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  if (in.dtype == out.dtype) {
    return copy_device(rc.node, in.data, out.data, out.nbytes(), rc.stream);
  }
  bool done = false;
  if (is_float16_or_32(in.dtype) && is_float16_or_32(out.dtype)) {
    dispatch_float16_or_32(in.dtype, [&](auto in_tag) {
      done = dispatch_float16_or_32(out.dtype, [&](auto out_tag) {
        using In = typename decltype(in_tag)::type;
        using Out = typename decltype(out_tag)::type;
        launch_map(in.as<In>(), out.as<Out>(), n, Convert{}, rc.stream);
      });
    });
  }
  if (done) return;
  const bool saturate = rc.node.attr_int("saturate", 1) != 0;
  if (is_narrow(in.dtype) || is_narrow(out.dtype)) {
    cast_narrow_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(
        in.data, out.data, n, in.dtype, out.dtype, saturate, ops::e8m0_rounding_of(rc.node));
    return;
  }
  cast_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(in.data, out.data, n, in.dtype, out.dtype,
                                                     saturate);
}

bool cast_supported(const NodeQuery& q) {
  return q.has_output(0) && ew::type_in(q.input(0).dtype, ew::kAllTypes) &&
         ew::type_in(q.outputs[0].dtype, ew::kAllTypes);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Cast", "cuda_cast", {}, cast_supported, run_cast});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{"CastLike", "cuda_cast", {}, cast_supported, run_cast});

// BitCast: the bytes reinterpreted (inference has checked that the widths match).
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "BitCast",
    "cuda_bitcast",
    {},
    [](const NodeQuery& q) {
      return q.has_output(0) && element_size(q.input(0).dtype) == element_size(q.outputs[0].dtype);
    },
    [](RunContext& rc) {
      copy_device(rc.node, rc.input(0).data, rc.output(0).data, rc.output(0).nbytes(), rc.stream);
    }});

}  // namespace
}  // namespace kiln::cuda

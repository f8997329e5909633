// The quantization ops' CUDA kernels (src/backends/cuda/quantize.cu, quantized_matmul.cu,
// quantized_conv.cu) against the CPU backend. Every comparison is exact: integer outputs
// element for element, float and float8 outputs bit for bit (the network bit-casts them to
// unsigned integers of the same width), since the kernels promise the CPU's rounding (half to
// even, saturation, the scales' precision). Inputs include exact ties (x / scale = k + 0.5),
// out-of-range values and every parameter layout (per tensor, per axis, blocked; per row and per
// column for the matmuls; per channel for the convolutions). Where there is no GPU, each test
// still builds its GPU engine, which checks that a CUDA kernel is chosen, and skips the run.
#include <cmath>
#include <cstdint>
#include <optional>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::cst;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::Operand;
using gpu_test::random_tensor;

using Operands = std::vector<std::optional<Operand>>;

// The unsigned integer type of `t`'s width (float outputs are compared through it).
DataType bits_type(DataType t) {
  switch (element_size(t)) {
    case 1:
      return DataType::kUInt8;
    case 2:
      return DataType::kUInt16;
    case 4:
      return DataType::kUInt32;
    default:
      return DataType::kUInt64;
  }
}

// check_op with every output of a float type (given in `out_types`) bit-cast to an unsigned
// integer, so that expect_outputs_match compares it exactly. Returns the GPU engine's
// description.
std::string check_exact(const std::string& op, const Operands& operands,
                        const std::vector<DataType>& out_types,
                        const std::function<void(ILayer&)>& attrs = {}, GpuOptions options = {}) {
  std::vector<Tensor> inputs;
  for (const auto& o : operands) {
    if (o && !o->constant) inputs.push_back(o->value);
  }
  SCOPED_TRACE(op);
  return gpu_test::expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        std::vector<ITensor*> ins;
        int k = 0;
        for (const auto& o : operands) {
          if (!o) {
            ins.push_back(nullptr);
          } else if (o->constant) {
            ins.push_back(&gpu_test::constant(n, o->value));
          } else {
            ins.push_back(n.add_input(cat("in", k++), o->value.dtype(), o->value.shape()));
          }
        }
        ILayer* layer = n.add_layer(op, ins, int(out_types.size()));
        if (attrs) attrs(*layer);
        for (size_t i = 0; i < out_types.size(); ++i) {
          ITensor* out = layer->output(int(i));
          if (is_floating_point(out_types[i])) {
            ILayer* cast = n.add_layer("BitCast", {out});
            cast->set_int("to", int64_t(bits_type(out_types[i])));
            out = cast->output(0);
          }
          n.mark_output(*out);
        }
      },
      inputs, options);
}

// Options that leave cuBLASLt out, so that kiln's own kernels run.
GpuOptions without_cublaslt() {
  GpuOptions o;
  o.tactic_sources = 0;
  return o;
}

Tensor floats(const Dims& shape, const std::vector<float>& v) {
  return Tensor::from_vector<float>(DataType::kFloat32, shape, v);
}

// x values whose quotient by `scale` is an exact tie (k + 0.5 for k in [-span, span)), then
// random values in a range wide enough to saturate 8-bit types; `n` elements.
Tensor ties_and_randoms(int64_t n, float scale, uint32_t seed) {
  const Tensor r = random_tensor(DataType::kFloat32, {n}, seed, -200.0, 200.0);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    v[size_t(i)] = i % 2 == 0 ? (float(i % 64) - 32.0f + 0.5f) * scale : r.data<float>()[i];
  }
  return floats({n}, v);
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear

TEST(GpuQuantization, QuantizePerTensorEveryIntegerTypeWithTies) {
  const float scale = 0.25f;
  // 999 elements: whole vectors and a tail.
  const Tensor x = ties_and_randoms(999, scale, 1);
  for (DataType t : {DataType::kUInt8, DataType::kInt8, DataType::kInt16, DataType::kUInt16}) {
    const int64_t zp = t == DataType::kInt8 ? -3 : t == DataType::kInt16 ? -300 : 7;
    const Tensor zero = random_tensor(t, {}, 0, double(zp), double(zp));
    const std::string d =
        check_exact("QuantizeLinear", {in(x), cst(gpu_test::scalar(scale)), cst(zero)}, {t});
    EXPECT_TRUE(has(d, "cuda_quantize_linear")) << d;
    // A scale of shape [1] as a network input, and values large enough for int16 to saturate.
    check_exact("QuantizeLinear",
                {in(random_tensor(DataType::kFloat32, {64}, 2, -1e6, 1e6)), in(floats({1}, {3.0f})),
                 in(random_tensor(t, {1}, 3, 0, 5))},
                {t});
  }
  // No zero point: uint8, or output_dtype.
  check_exact("QuantizeLinear", {in(x), cst(gpu_test::scalar(scale))}, {DataType::kUInt8});
  check_exact("QuantizeLinear", {in(x), cst(gpu_test::scalar(scale))}, {DataType::kInt16},
              [](ILayer& l) { l.set_int("output_dtype", int64_t(DataType::kInt16)); });
}

TEST(GpuQuantization, QuantizeHalfPrecisionsAndInt32) {
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    const Tensor x = ties_and_randoms(515, 0.125f, 4).cast(t);
    const Tensor scale = floats({}, {0.125f}).cast(t);
    check_exact("QuantizeLinear",
                {in(x), cst(scale), cst(random_tensor(DataType::kInt8, {}, 5, -4, 4))},
                {DataType::kInt8});
    // Odd scales, where dividing in the half type rounds differently from float32.
    check_exact("QuantizeLinear",
                {in(random_tensor(t, {3, 70}, 6, -30, 30)), cst(floats({}, {0.0371f}).cast(t))},
                {DataType::kUInt8});
  }
  // float32 x and scale divided in float16 / bfloat16 (the precision attribute).
  for (DataType p : {DataType::kFloat16, DataType::kBFloat16}) {
    check_exact(
        "QuantizeLinear",
        {in(random_tensor(DataType::kFloat32, {200}, 7, -20, 20)), cst(floats({}, {0.0371f}))},
        {DataType::kInt8}, [p](ILayer& l) {
          l.set_int("precision", int64_t(p));
          l.set_int("output_dtype", int64_t(DataType::kInt8));
        });
  }
  // int32 x and scale: the quotient in double.
  check_exact("QuantizeLinear",
              {in(random_tensor(DataType::kInt32, {100}, 8, -100000, 100000)),
               cst(Tensor::from_vector<int32_t>(DataType::kInt32, {}, {7})),
               cst(random_tensor(DataType::kInt16, {}, 9, -10, 10))},
              {DataType::kInt16});
}

TEST(GpuQuantization, QuantizePerAxisAndBlockedLayouts) {
  auto scales = [](const Dims& shape, uint32_t seed) {
    return random_tensor(DataType::kFloat32, shape, seed, 0.05, 0.5);
  };
  // Per axis: whole vectors per channel (inner 16), one vector over channels (inner 1, 16
  // channels), and the general path (inner 5).
  struct AxisCase {
    Dims x;
    int64_t axis;
  };
  for (const AxisCase& c : {AxisCase{{2, 3, 16}, 1}, AxisCase{{4, 16}, 1}, AxisCase{{2, 3, 5}, 1},
                            AxisCase{{6, 5, 4}, 0}, AxisCase{{3, 4, 7}, -1}}) {
    const int64_t axis = c.axis < 0 ? c.axis + int64_t(c.x.size()) : c.axis;
    const Dims p = {c.x[size_t(axis)]};
    const std::string d =
        check_exact("QuantizeLinear",
                    {in(random_tensor(DataType::kFloat32, c.x, 10, -40, 40)), cst(scales(p, 11)),
                     cst(random_tensor(DataType::kUInt8, p, 12, 100, 150))},
                    {DataType::kUInt8}, [&](ILayer& l) { l.set_int("axis", c.axis); });
    EXPECT_TRUE(has(d, "cuda_quantize_linear")) << d;
  }
  // Blocked: along the last axis with whole vectors in a block, along axis 0 (contiguous
  // parameters), and a partial last block (general path).
  struct BlockCase {
    Dims x, scale;
    int64_t axis, block;
  };
  for (const BlockCase& c :
       {BlockCase{{4, 64}, {4, 2}, 1, 32}, BlockCase{{64, 16}, {4, 16}, 0, 16},
        BlockCase{{3, 10}, {3, 3}, 1, 4}, BlockCase{{2, 9, 3}, {2, 5, 3}, 1, 2}}) {
    check_exact("QuantizeLinear",
                {in(random_tensor(DataType::kFloat32, c.x, 13, -40, 40)), cst(scales(c.scale, 14)),
                 cst(random_tensor(DataType::kInt8, c.scale, 15, -20, 20))},
                {DataType::kInt8}, [&](ILayer& l) {
                  l.set_int("axis", c.axis);
                  l.set_int("block_size", c.block);
                });
  }
}

TEST(GpuQuantization, QuantizeFloat8SaturateAndNot) {
  // Values past float8's range (448 for e4m3, 57344 for e5m2) and tiny ones (subnormals).
  std::vector<float> v;
  for (int i = -40; i < 40; ++i) v.push_back(float(i) * 37.3f);
  for (int i = -40; i < 40; ++i) v.push_back(float(i) * 2113.7f);
  for (int i = -20; i < 20; ++i) v.push_back(float(i) * 0.00037f);
  const Tensor x = floats({int64_t(v.size())}, v);
  for (DataType t : {DataType::kFloat8E4M3, DataType::kFloat8E5M2}) {
    for (int64_t saturate : {1, 0}) {
      check_exact("QuantizeLinear", {in(x), cst(gpu_test::scalar(0.5f)), cst(Tensor::zeros(t, {}))},
                  {t}, [saturate](ILayer& l) { l.set_int("saturate", saturate); });
    }
    // Per-axis float8 with a zero point of 1.
    check_exact("QuantizeLinear",
                {in(random_tensor(DataType::kFloat32, {4, 24}, 16, -100, 100)),
                 cst(random_tensor(DataType::kFloat32, {24}, 17, 0.1, 2.0)),
                 cst(floats({24}, std::vector<float>(24, 1.0f)).cast(t))},
                {t});
  }
}

// int4, uint4, int2, uint2 (held one element per byte), the fnuz float8s and float4 e2m1: both
// directions, per tensor and per axis, with ties and saturation.
TEST(GpuQuantization, SubByteAndFnuzTypesBothWays) {
  const Tensor x = ties_and_randoms(333, 0.25f, 40);
  struct Narrow {
    DataType t;
    float zero_point;
    double lo, hi;
  };
  for (const Narrow& n :
       {Narrow{DataType::kInt4, -1.0f, -8, 7}, Narrow{DataType::kUInt4, 3.0f, 0, 15},
        Narrow{DataType::kInt2, -1.0f, -2, 1}, Narrow{DataType::kUInt2, 1.0f, 0, 3}}) {
    SCOPED_TRACE(to_string(n.t));
    const Tensor zero = floats({}, {n.zero_point}).cast(n.t);
    const std::string d =
        check_exact("QuantizeLinear", {in(x), cst(gpu_test::scalar(0.25f)), cst(zero)}, {n.t});
    EXPECT_TRUE(has(d, "cuda_quantize_linear")) << d;
    check_exact("QuantizeLinear",
                {in(random_tensor(DataType::kFloat32, {4, 24}, 41, -5, 5)),
                 cst(random_tensor(DataType::kFloat32, {24}, 42, 0.1, 2.0)),
                 cst(floats({24}, std::vector<float>(24, n.zero_point)).cast(n.t))},
                {n.t});
    const Tensor q = random_tensor(DataType::kFloat32, {5, 24}, 43, n.lo, n.hi).cast(n.t);
    const std::string dd = check_exact(
        "DequantizeLinear", {in(q), cst(gpu_test::scalar(0.37f)), cst(zero)}, {DataType::kFloat32});
    EXPECT_TRUE(has(dd, "cuda_dequantize_linear")) << dd;
    check_exact("DequantizeLinear",
                {in(q), cst(random_tensor(DataType::kFloat32, {24}, 44, 0.1, 2.0))},
                {DataType::kFloat32}, [](ILayer& l) { l.set_int("axis", 1); });
  }
  std::vector<float> wide;
  for (int i = -60; i < 60; ++i) wide.push_back(float(i) * 1013.7f);  // past every range
  for (int i = -20; i < 20; ++i) wide.push_back(float(i) * 0.137f);
  const Tensor y = floats({int64_t(wide.size())}, wide);
  for (DataType t : {DataType::kFloat8E4M3FNUZ, DataType::kFloat8E5M2FNUZ, DataType::kFloat4E2M1}) {
    SCOPED_TRACE(to_string(t));
    for (int64_t saturate : {1, 0}) {
      check_exact("QuantizeLinear", {in(y), cst(gpu_test::scalar(0.5f)), cst(Tensor::zeros(t, {}))},
                  {t}, [saturate](ILayer& l) { l.set_int("saturate", saturate); });
    }
    const Tensor q = random_tensor(DataType::kFloat32, {77}, 45, -6, 6).cast(t);
    check_exact("DequantizeLinear", {in(q), cst(gpu_test::scalar(1.7f))}, {DataType::kFloat32});
    check_exact("DequantizeLinear",
                {in(q), cst(floats({1}, {0.3f})), cst(floats({1}, {1.5f}).cast(t))},
                {DataType::kFloat32});
  }
}

// ---------------------------------------------------------------------------------------------
// DequantizeLinear

TEST(GpuQuantization, DequantizeEveryTypeAndLayout) {
  struct TypeRange {
    DataType t;
    double lo, hi;
  };
  for (const TypeRange& r :
       {TypeRange{DataType::kInt8, -128, 127}, TypeRange{DataType::kUInt8, 0, 255},
        TypeRange{DataType::kInt16, -32768, 32767}, TypeRange{DataType::kUInt16, 0, 65535},
        TypeRange{DataType::kInt32, -2147483647.0, 2147483647.0}}) {
    const Tensor x = random_tensor(r.t, {3, 8, 21}, 20, r.lo, r.hi);
    const std::string d = check_exact(
        "DequantizeLinear",
        {in(x), cst(gpu_test::scalar(0.0173f)), cst(random_tensor(r.t, {}, 21, r.lo, r.hi))},
        {DataType::kFloat32});
    EXPECT_TRUE(has(d, "cuda_dequantize_linear")) << d;
    // Per axis: axis 1 of [3, 8, 21] (inner 21, element by element), of [3, 8, 16] (whole
    // vectors per channel).
    check_exact("DequantizeLinear",
                {in(x), cst(random_tensor(DataType::kFloat32, {8}, 22, 0.01, 1.0)),
                 cst(random_tensor(r.t, {8}, 23, r.lo, r.hi))},
                {DataType::kFloat32});
    check_exact("DequantizeLinear",
                {in(random_tensor(r.t, {3, 8, 16}, 24, r.lo, r.hi)),
                 cst(random_tensor(DataType::kFloat32, {8}, 25, 0.01, 1.0))},
                {DataType::kFloat32});
    // Blocked along the last axis.
    check_exact("DequantizeLinear",
                {in(x), cst(random_tensor(DataType::kFloat32, {3, 8, 6}, 26, 0.01, 1.0)),
                 cst(random_tensor(r.t, {3, 8, 6}, 27, r.lo, r.hi))},
                {DataType::kFloat32}, [](ILayer& l) {
                  l.set_int("axis", 2);
                  l.set_int("block_size", 4);
                });
  }
  // float16 / bfloat16 scales (the output's type), and output_dtype.
  for (DataType s : {DataType::kFloat16, DataType::kBFloat16}) {
    check_exact(
        "DequantizeLinear",
        {in(random_tensor(DataType::kUInt8, {1000}, 28, 0, 255)),
         cst(floats({}, {0.0173f}).cast(s)), cst(random_tensor(DataType::kUInt8, {}, 29, 0, 255))},
        {s});
    check_exact("DequantizeLinear",
                {in(random_tensor(DataType::kInt8, {5, 64}, 30, -128, 127)),
                 cst(random_tensor(DataType::kFloat32, {5, 4}, 31, 0.01, 1.0))},
                {s}, [s](ILayer& l) {
                  l.set_int("axis", 1);
                  l.set_int("block_size", 16);
                  l.set_int("output_dtype", int64_t(s));
                });
  }
  // float8 inputs, with and without a zero point.
  for (DataType t : {DataType::kFloat8E4M3, DataType::kFloat8E5M2}) {
    const Tensor x = random_tensor(t, {77}, 32, -300, 300);
    check_exact("DequantizeLinear", {in(x), cst(gpu_test::scalar(1.7f))}, {DataType::kFloat32});
    check_exact("DequantizeLinear",
                {in(x), cst(floats({1}, {0.3f})), cst(floats({1}, {1.5f}).cast(t))},
                {DataType::kFloat32});
  }
}

TEST(GpuQuantization, DynamicQuantizeLinear) {
  const std::vector<DataType> outs = {DataType::kUInt8, DataType::kFloat32, DataType::kUInt8};
  const std::string d = check_exact(
      "DynamicQuantizeLinear", {in(random_tensor(DataType::kFloat32, {7, 1000}, 40, -3, 5))}, outs);
  EXPECT_TRUE(has(d, "cuda_dynamic_quantize_linear")) << d;
  // All positive (the range is extended to 0), all negative, a single element, all equal.
  check_exact("DynamicQuantizeLinear", {in(random_tensor(DataType::kFloat32, {3, 4}, 41, 1, 9))},
              outs);
  check_exact("DynamicQuantizeLinear", {in(random_tensor(DataType::kFloat32, {513}, 42, -9, -1))},
              outs);
  check_exact("DynamicQuantizeLinear", {in(floats({1}, {2.5f}))}, outs);
  check_exact("DynamicQuantizeLinear", {in(floats({4}, {0.0f, 0.0f, 0.0f, 0.0f}))}, outs);
}

// ---------------------------------------------------------------------------------------------
// MatMulInteger

Tensor int8s(DataType t, const Dims& shape, uint32_t seed) {
  return t == DataType::kInt8 ? random_tensor(t, shape, seed, -128, 127)
                              : random_tensor(t, shape, seed, 0, 255);
}

TEST(GpuQuantization, MatMulIntegerCublasLtAndTiled) {
  const std::vector<DataType> i32 = {DataType::kInt32};
  for (DataType bt : {DataType::kInt8, DataType::kUInt8}) {
    const Tensor a = int8s(DataType::kInt8, {2, 3, 40, 64}, 50);
    const Tensor b = int8s(bt, {64, 72}, 51);
    // Per tensor, per row of A / per column of B (1-D and N-D), and no zero points.
    const std::vector<Operands> cases = {
        {in(a), in(b), cst(int8s(DataType::kInt8, {}, 52)), cst(int8s(bt, {1}, 53))},
        {in(a), in(b), cst(int8s(DataType::kInt8, {40}, 54)), cst(int8s(bt, {72}, 55))},
        {in(a), in(b), cst(int8s(DataType::kInt8, {3, 40, 1}, 56)), cst(int8s(bt, {1, 72}, 57))},
        {in(a), in(b)},
    };
    for (const Operands& ops : cases) {
      const std::string d = check_exact("MatMulInteger", ops, i32);
      EXPECT_TRUE(has(d, "cublaslt_matmul_integer")) << d;
      const std::string own = check_exact("MatMulInteger", ops, i32, {}, without_cublaslt());
      EXPECT_TRUE(has(own, "cuda_matmul_integer_tiled")) << own;
    }
  }
  // What cuBLASLt's int8 GEMM cannot take: uint8 A, odd K, broadcast batches of B, vectors.
  check_exact("MatMulInteger",
              {in(int8s(DataType::kUInt8, {33, 20}, 60)), in(int8s(DataType::kInt8, {20, 17}, 61)),
               cst(int8s(DataType::kUInt8, {33}, 62)), cst(int8s(DataType::kInt8, {17}, 63))},
              i32);
  const std::string odd =
      check_exact("MatMulInteger",
                  {in(int8s(DataType::kInt8, {5, 31}, 64)), in(int8s(DataType::kInt8, {31, 8}, 65)),
                   cst(int8s(DataType::kInt8, {}, 66)), cst(int8s(DataType::kInt8, {}, 67))},
                  i32);
  EXPECT_TRUE(has(odd, "cuda_matmul_integer_tiled")) << odd;
  check_exact(
      "MatMulInteger",
      {in(int8s(DataType::kUInt8, {2, 1, 5, 8}, 68)), in(int8s(DataType::kUInt8, {3, 8, 7}, 69)),
       cst(int8s(DataType::kUInt8, {}, 70)), cst(int8s(DataType::kUInt8, {3, 1, 7}, 71))},
      i32);
  check_exact("MatMulInteger",
              {in(int8s(DataType::kInt8, {19}, 72)), in(int8s(DataType::kUInt8, {19}, 73))}, i32);
  check_exact("MatMulInteger",
              {in(int8s(DataType::kInt8, {19}, 74)), in(int8s(DataType::kUInt8, {4, 19, 6}, 75))},
              i32);
  // A long K (beyond one tile many times over), large enough for int32 sums to need care.
  check_exact(
      "MatMulInteger",
      {in(int8s(DataType::kUInt8, {3, 4096}, 76)), in(int8s(DataType::kUInt8, {4096, 5}, 77))},
      i32);
}

// ---------------------------------------------------------------------------------------------
// QLinearMatMul

TEST(GpuQuantization, QLinearMatMulIntegerTypesAndScales) {
  for (DataType t : {DataType::kInt8, DataType::kUInt8}) {
    for (DataType s : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
      auto scale = [s](const Dims& shape, uint32_t seed, double lo, double hi) {
        return random_tensor(DataType::kFloat32, shape, seed, lo, hi).cast(s);
      };
      const Tensor a = int8s(DataType::kInt8, {3, 24, 32}, 80);
      const Tensor b = int8s(t, {32, 16}, 81);
      // Per tensor, then per row / per column.
      const Operands per_tensor = {in(a),
                                   cst(scale({}, 82, 0.01, 0.05)),
                                   cst(int8s(DataType::kInt8, {}, 83)),
                                   in(b),
                                   cst(scale({1}, 84, 0.01, 0.05)),
                                   cst(int8s(t, {1}, 85)),
                                   cst(scale({}, 86, 0.5, 2.0)),
                                   cst(int8s(t, {}, 87))};
      const Operands per_channel = {in(a),
                                    cst(scale({24}, 88, 0.01, 0.05)),
                                    cst(int8s(DataType::kInt8, {24}, 89)),
                                    in(b),
                                    cst(scale({16}, 90, 0.01, 0.05)),
                                    cst(int8s(t, {16}, 91)),
                                    cst(scale({}, 92, 0.5, 2.0)),
                                    cst(int8s(t, {}, 93))};
      for (const Operands& ops : {per_tensor, per_channel}) {
        const std::string d = check_exact("QLinearMatMul", ops, {t});
        EXPECT_TRUE(has(d, "cublaslt_qlinear_matmul")) << d;
        const std::string own = check_exact("QLinearMatMul", ops, {t}, {}, without_cublaslt());
        EXPECT_TRUE(has(own, "cuda_qlinear_matmul_tiled")) << own;
      }
      // uint8 A, odd shapes, no y_zero_point (the output takes A's type).
      check_exact("QLinearMatMul",
                  {in(int8s(DataType::kUInt8, {2, 7, 9}, 94)), cst(scale({}, 95, 0.01, 0.05)),
                   cst(int8s(DataType::kUInt8, {}, 96)), in(int8s(t, {2, 9, 5}, 97)),
                   cst(scale({}, 98, 0.01, 0.05)), cst(int8s(t, {}, 99)),
                   cst(scale({}, 100, 0.05, 0.2)), std::nullopt},
                  {DataType::kUInt8});
    }
  }
}

TEST(GpuQuantization, QLinearMatMulFloat8) {
  for (DataType t : {DataType::kFloat8E4M3, DataType::kFloat8E5M2}) {
    const Tensor a = random_tensor(t, {2, 6, 20}, 110, -8, 8);
    const Tensor b = random_tensor(t, {20, 9}, 111, -8, 8);
    const std::string d = check_exact(
        "QLinearMatMul",
        {in(a), cst(gpu_test::scalar(0.5f)), cst(Tensor::zeros(t, {})), in(b),
         cst(random_tensor(DataType::kFloat32, {9}, 112, 0.2, 1.0)), cst(Tensor::zeros(t, {9})),
         cst(gpu_test::scalar(0.25f)), cst(Tensor::zeros(t, {}))},
        {t});
    EXPECT_TRUE(has(d, "cuda_qlinear_matmul_tiled")) << d;
  }
}

// ---------------------------------------------------------------------------------------------
// ConvInteger and QLinearConv

struct ConvCase {
  Dims x, w;
  Dims strides, dilations, pads;
  int64_t group = 1;
  std::string auto_pad;
};

std::function<void(ILayer&)> conv_attrs(const ConvCase& c) {
  return [c](ILayer& l) {
    if (!c.strides.empty()) l.set_ints("strides", c.strides);
    if (!c.dilations.empty()) l.set_ints("dilations", c.dilations);
    if (!c.pads.empty()) l.set_ints("pads", c.pads);
    if (c.group != 1) l.set_int("group", c.group);
    if (!c.auto_pad.empty()) l.set_string("auto_pad", c.auto_pad);
  };
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 3, 9, 11}, {8, 3, 3, 3}, {}, {}, {1, 1, 1, 1}},
      {{1, 4, 10, 9}, {6, 2, 3, 2}, {2, 1}, {1, 2}, {1, 0, 2, 1}, 2},
      {{1, 6, 7, 7}, {6, 1, 3, 3}, {1, 1}, {}, {}, 6, "SAME_UPPER"},          // depthwise
      {{2, 5, 13}, {4, 5, 4}, {3}, {2}, {2, 1}},                              // 1-D
      {{1, 2, 5, 6, 4}, {3, 2, 2, 3, 2}, {1, 2, 1}, {}, {1, 0, 1, 0, 1, 1}},  // 3-D
      {{1, 70, 6, 6}, {65, 70, 1, 1}, {}, {}, {}},  // more channels than one tile
  };
  return cases;
}

TEST(GpuQuantization, ConvIntegerGeometries) {
  uint32_t seed = 120;
  for (const ConvCase& c : conv_cases()) {
    for (DataType t : {DataType::kUInt8, DataType::kInt8}) {
      const int64_t channels = c.w[0];
      const std::string d =
          check_exact("ConvInteger",
                      {in(int8s(t, c.x, seed++)), in(int8s(DataType::kInt8, c.w, seed++)),
                       cst(int8s(t, {}, seed++)), cst(int8s(DataType::kInt8, {channels}, seed++))},
                      {DataType::kInt32}, conv_attrs(c));
      EXPECT_TRUE(has(d, "cuda_conv_integer_implicit_gemm")) << d;
    }
  }
  // No zero points; a per-tensor w zero point of shape [1].
  const ConvCase& c = conv_cases()[0];
  check_exact("ConvInteger",
              {in(int8s(DataType::kUInt8, c.x, 150)), in(int8s(DataType::kUInt8, c.w, 151))},
              {DataType::kInt32}, conv_attrs(c));
  check_exact("ConvInteger",
              {in(int8s(DataType::kUInt8, c.x, 152)), in(int8s(DataType::kUInt8, c.w, 153)),
               std::nullopt, cst(int8s(DataType::kUInt8, {1}, 154))},
              {DataType::kInt32}, conv_attrs(c));
}

TEST(GpuQuantization, QLinearConvPerChannelWithBias) {
  uint32_t seed = 200;
  for (const ConvCase& c : conv_cases()) {
    for (DataType t : {DataType::kUInt8, DataType::kInt8}) {
      const int64_t channels = c.w[0];
      const Operands ops = {in(int8s(t, c.x, seed++)),
                            cst(gpu_test::scalar(0.02f)),
                            cst(int8s(t, {}, seed++)),
                            in(int8s(DataType::kInt8, c.w, seed++)),
                            cst(random_tensor(DataType::kFloat32, {channels}, seed++, 0.001, 0.01)),
                            cst(Tensor::zeros(DataType::kInt8, {channels})),
                            cst(gpu_test::scalar(0.05f)),
                            cst(int8s(t, {}, seed++)),
                            cst(random_tensor(DataType::kInt32, {channels}, seed++, -5000, 5000))};
      const std::string d = check_exact("QLinearConv", ops, {t}, conv_attrs(c));
      EXPECT_TRUE(has(d, "cuda_qlinear_conv_implicit_gemm")) << d;
    }
  }
  // Per-tensor w scale, a w zero point, no bias, no y zero point.
  const ConvCase& c = conv_cases()[1];
  check_exact("QLinearConv",
              {in(int8s(DataType::kUInt8, c.x, 250)), cst(gpu_test::scalar(0.03f)),
               cst(int8s(DataType::kUInt8, {}, 251)), in(int8s(DataType::kUInt8, c.w, 252)),
               cst(gpu_test::scalar(0.004f)), cst(int8s(DataType::kUInt8, {}, 253)),
               cst(gpu_test::scalar(0.1f)), std::nullopt},
              {DataType::kUInt8}, conv_attrs(c));
}

}  // namespace
}  // namespace kiln

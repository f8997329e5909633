// Cast, CastLike, QuantizeLinear and DequantizeLinear over the narrow types (int4, uint4,
// int2, uint2, float4e2m1, float8 e4m3fnuz / e5m2fnuz, float8 e8m0). Expected codes are worked
// out by hand from the formats (see core/narrow_types.h); the float-to-int4 and float4 cases
// are the ones the ONNX reference (ml_dtypes) gives too.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

Tensor codes(DataType type, Dims shape, std::vector<uint8_t> values) {
  return Tensor::from_vector<uint8_t>(type, std::move(shape), values);
}

std::vector<uint8_t> codes_of(const Tensor& t) {
  return {t.data<uint8_t>(), t.data<uint8_t>() + t.numel()};
}

Tensor cast(const Tensor& in, DataType to, ir::Attributes extra = {}) {
  extra["to"] = int64_t(to);
  auto out = run_op("Cast", {in}, std::move(extra));
  EXPECT_EQ(out[0].dtype(), to);
  return out[0];
}

const float kInf = std::numeric_limits<float>::infinity();

TEST(NarrowCast, FloatToSubByteIntegersWraps) {
  // numpy arange(-9, 16) as in ONNX's cast tests: int4 wraps modulo 16 (two's complement).
  std::vector<float> x;
  for (int v = -9; v < 16; ++v) x.push_back(float(v));
  const Tensor in = f32({25}, x);
  std::vector<int64_t> int4, uint4, int2;
  for (int v = -9; v < 16; ++v) {
    int4.push_back(((v % 16) + 16 + 8) % 16 - 8);
    uint4.push_back(((v % 16) + 16) % 16);
    int2.push_back(((v % 4) + 4 + 2) % 4 - 2);
  }
  EXPECT_EQ(cast(in, DataType::kInt4).to_int64_vector(), int4);
  EXPECT_EQ(cast(in, DataType::kUInt4).to_int64_vector(), uint4);
  EXPECT_EQ(cast(in, DataType::kInt2).to_int64_vector(), int2);
  // Truncation toward zero first, NaN gives 0.
  EXPECT_EQ(cast(f32({4}, {-1.9f, 1.9f, 2.5f, NAN}), DataType::kInt4).to_int64_vector(),
            (std::vector<int64_t>{-1, 1, 2, 0}));
  // Held as codes: int4 -1 is 0x0f.
  EXPECT_EQ(codes_of(cast(f32({2}, {-1, -8}), DataType::kInt4)),
            (std::vector<uint8_t>{0x0f, 0x08}));
}

TEST(NarrowCast, SubByteIntegersToWiderTypes) {
  const Tensor int4 = codes(DataType::kInt4, {4}, {0x0f, 0x08, 0x07, 0x00});
  EXPECT_EQ(cast(int4, DataType::kInt8).to_int64_vector(), (std::vector<int64_t>{-1, -8, 7, 0}));
  EXPECT_EQ(cast(int4, DataType::kFloat32).to_double_vector(), (std::vector<double>{-1, -8, 7, 0}));
  // float16 1.0 is 0x3c00, -8 is 0xc800.
  const Tensor half = cast(int4, DataType::kFloat16);
  EXPECT_EQ(half.data<uint16_t>()[0], 0xbc00);
  EXPECT_EQ(half.data<uint16_t>()[1], 0xc800);
  const Tensor uint2 = codes(DataType::kUInt2, {4}, {0, 1, 2, 3});
  EXPECT_EQ(cast(uint2, DataType::kUInt8).to_int64_vector(), (std::vector<int64_t>{0, 1, 2, 3}));
  const Tensor int2 = codes(DataType::kInt2, {4}, {0, 1, 2, 3});
  EXPECT_EQ(cast(int2, DataType::kInt8).to_int64_vector(), (std::vector<int64_t>{0, 1, -2, -1}));
  // int4 -> uint4 keeps the bits.
  EXPECT_EQ(codes_of(cast(int4, DataType::kUInt4)), (std::vector<uint8_t>{0x0f, 0x08, 0x07, 0}));
}

TEST(NarrowCast, FloatToFloat4E2M1) {
  // ONNX's cast test input: 0.48, 0.25, 1.05, -3.5, -8, 9, 1e6, 1e-7, NaN, inf, -inf, -4, 0.01,
  // -0.0 -> codes 1, 0, 2, e, f, 7, 7, 0, 8, 7, f, e, 0, 8.
  const Tensor in = f32(
      {14}, {0.48f, 0.25f, 1.05f, -3.5f, -8, 9, 1e6f, 1e-7f, NAN, kInf, -kInf, -4, 0.01f, -0.0f});
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat4E2M1)),
            (std::vector<uint8_t>{1, 0, 2, 0xe, 0xf, 7, 7, 0, 8, 7, 0xf, 0xe, 0, 8}));
  const Tensor back =
      cast(codes(DataType::kFloat4E2M1, {4}, {0x1, 0x7, 0xb, 0x8}), DataType::kFloat32);
  EXPECT_EQ(back.to_double_vector(), (std::vector<double>{0.5, 6, -1.5, 0}));
}

TEST(NarrowCast, FnuzSaturateAttribute) {
  const Tensor in = f32({6}, {1e6f, -1e6f, kInf, NAN, -0.0f, 0.47892547f});
  // saturate (default): +-max; NaN 0x80; no -0; 0.4789 -> 0.46875 (0x37).
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E4M3FNUZ)),
            (std::vector<uint8_t>{0x7f, 0xff, 0x7f, 0x80, 0x00, 0x37}));
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E4M3FNUZ, {{"saturate", int64_t(0)}})),
            (std::vector<uint8_t>{0x80, 0x80, 0x80, 0x80, 0x00, 0x37}));
  // e5m2fnuz: 0.4789 -> 0.5 (0x3c).
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E5M2FNUZ)),
            (std::vector<uint8_t>{0x7f, 0xff, 0x7f, 0x80, 0x00, 0x3c}));
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E5M2FNUZ, {{"saturate", int64_t(0)}})),
            (std::vector<uint8_t>{0x80, 0x80, 0x80, 0x80, 0x00, 0x3c}));
  const Tensor back =
      cast(codes(DataType::kFloat8E4M3FNUZ, {3}, {0x80, 0x7f, 0x01}), DataType::kFloat32);
  EXPECT_TRUE(std::isnan(back.as_double(0)));
  EXPECT_EQ(back.as_double(1), 240.0);
  EXPECT_EQ(back.as_double(2), std::ldexp(1.0, -10));
}

TEST(NarrowCast, E8M0RoundModes) {
  // ONNX's e8m0 test: 0, 0.124, 0.25, 0.5, 1.1, 2, 4, 8 -> 0x00 7c 7d 7e 80 80 81 82 (up).
  const Tensor in = f32({8}, {0, 0.124f, 0.25f, 0.5f, 1.1f, 2, 4, 8});
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E8M0, {{"round_mode", std::string("up")}})),
            (std::vector<uint8_t>{0x00, 0x7c, 0x7d, 0x7e, 0x80, 0x80, 0x81, 0x82}));
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E8M0, {{"round_mode", std::string("down")}})),
            (std::vector<uint8_t>{0x00, 0x7b, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82}));
  // 0.124 = 2^-3 * 0.992: nearest 0x7c; 1.1: nearest 0x7f.
  EXPECT_EQ(codes_of(cast(in, DataType::kFloat8E8M0, {{"round_mode", std::string("nearest")}})),
            (std::vector<uint8_t>{0x00, 0x7c, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0x82}));
  EXPECT_THROW(cast(in, DataType::kFloat8E8M0, {{"round_mode", std::string("sideways")}}), Error);
  const Tensor back =
      cast(codes(DataType::kFloat8E8M0, {3}, {0x7c, 0x82, 0xff}), DataType::kFloat32);
  EXPECT_EQ(back.as_double(0), 0.125);
  EXPECT_EQ(back.as_double(1), 8.0);
  EXPECT_TRUE(std::isnan(back.as_double(2)));
}

TEST(NarrowCast, CastLikeTakesNarrowTypes) {
  auto out = run_op("CastLike", {f32({3}, {1, 2, 3}), codes(DataType::kUInt4, {1}, {0})});
  EXPECT_EQ(out[0].dtype(), DataType::kUInt4);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{1, 2, 3}));
  auto back = run_op("CastLike", {out[0], f32({1}, {0})});
  EXPECT_EQ(back[0].to_double_vector(), (std::vector<double>{1, 2, 3}));
}

// ---------------------------------------------------------------------------------------------
// QuantizeLinear / DequantizeLinear

TEST(NarrowQuantize, IntegersSaturateToTheirRange) {
  // x / 2 rounded half to even, + zero point, clamped: int4 [-8, 7], uint4 [0, 15],
  // int2 [-2, 1], uint2 [0, 3].
  const Tensor x = f32({6}, {-100, -3, 1, 3, 5, 100});  // /2: -50, -1.5, 0.5, 1.5, 2.5, 50
  auto q4 = run_op("QuantizeLinear", {x, f32({}, {2}), codes(DataType::kInt4, {}, {0x1})});
  ASSERT_EQ(q4[0].dtype(), DataType::kInt4);
  EXPECT_EQ(q4[0].to_int64_vector(), (std::vector<int64_t>{-8, -1, 1, 3, 3, 7}));
  auto qu4 = run_op("QuantizeLinear", {x, f32({}, {2}), codes(DataType::kUInt4, {}, {8})});
  EXPECT_EQ(qu4[0].to_int64_vector(), (std::vector<int64_t>{0, 6, 8, 10, 10, 15}));
  auto q2 = run_op("QuantizeLinear", {x, f32({}, {2}), codes(DataType::kInt2, {}, {0})});
  EXPECT_EQ(q2[0].to_int64_vector(), (std::vector<int64_t>{-2, -2, 0, 1, 1, 1}));
  auto qu2 = run_op("QuantizeLinear", {x, f32({}, {2}), codes(DataType::kUInt2, {}, {1})});
  EXPECT_EQ(qu2[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 1, 3, 3, 3}));
  // output_dtype without a zero point.
  auto by_attr =
      run_op("QuantizeLinear", {x, f32({}, {2})}, {{"output_dtype", int64_t(DataType::kInt4)}});
  EXPECT_EQ(by_attr[0].dtype(), DataType::kInt4);
  EXPECT_EQ(by_attr[0].to_int64_vector(), (std::vector<int64_t>{-8, -2, 0, 2, 2, 7}));
}

TEST(NarrowQuantize, FloatTypes) {
  const Tensor x = f32({4}, {1, 7, -1000, 0.3f});
  // x / 0.5: 2, 14, -2000, 0.6 -> float4: 2 (0x4), 6 (0x7, saturated), -6 (0xf), 0.5 (0x1).
  auto f4 = run_op("QuantizeLinear", {x, f32({}, {0.5f}), codes(DataType::kFloat4E2M1, {}, {0})});
  ASSERT_EQ(f4[0].dtype(), DataType::kFloat4E2M1);
  EXPECT_EQ(codes_of(f4[0]), (std::vector<uint8_t>{0x4, 0x7, 0xf, 0x1}));
  // e4m3fnuz: 2 -> 0x48, 14 -> 0x5e, -2000 -> -240 (0xff) or NaN without saturation.
  auto fnuz =
      run_op("QuantizeLinear", {x, f32({}, {0.5f}), codes(DataType::kFloat8E4M3FNUZ, {}, {0})});
  EXPECT_EQ(codes_of(fnuz[0])[0], 0x48);
  EXPECT_EQ(codes_of(fnuz[0])[1], 0x5e);
  EXPECT_EQ(codes_of(fnuz[0])[2], 0xff);
  auto overflow =
      run_op("QuantizeLinear", {x, f32({}, {0.5f}), codes(DataType::kFloat8E4M3FNUZ, {}, {0})},
             {{"saturate", int64_t(0)}});
  EXPECT_EQ(codes_of(overflow[0])[2], 0x80);
  // float8e8m0 is a scale type, not a quantized type.
  EXPECT_THROW(
      run_op("QuantizeLinear", {x, f32({}, {0.5f}), codes(DataType::kFloat8E8M0, {}, {0x7f})}),
      Error);
}

TEST(NarrowQuantize, DequantizeSubtractsAndScales) {
  // int4 codes 0xf (-1), 0x8 (-8), 0x7 (7) with zero point 1 and scale 0.5.
  auto y = run_op("DequantizeLinear", {codes(DataType::kInt4, {3}, {0x0f, 0x08, 0x07}),
                                       f32({}, {0.5f}), codes(DataType::kInt4, {}, {0x1})});
  EXPECT_EQ(y[0].to_double_vector(), (std::vector<double>{-1, -4.5, 3}));
  // Per axis uint2: [[0, 3], [1, 2]] with scales [1, 10] along axis 0 and zero points [1, 2].
  auto p = run_op("DequantizeLinear",
                  {codes(DataType::kUInt2, {2, 2}, {0, 3, 1, 2}), f32({2}, {1, 10}),
                   codes(DataType::kUInt2, {2}, {1, 2})},
                  {{"axis", int64_t(0)}});
  EXPECT_EQ(p[0].to_double_vector(), (std::vector<double>{-1, 2, -10, 0}));
  // float4: 0xb is -1.5, times 2.
  auto f =
      run_op("DequantizeLinear", {codes(DataType::kFloat4E2M1, {2}, {0xb, 0x7}), f32({}, {2})});
  EXPECT_EQ(f[0].to_double_vector(), (std::vector<double>{-3, 12}));
  // fnuz NaN stays NaN.
  auto n =
      run_op("DequantizeLinear", {codes(DataType::kFloat8E5M2FNUZ, {1}, {0x80}), f32({}, {2})});
  EXPECT_TRUE(std::isnan(n[0].as_double(0)));
}

}  // namespace
}  // namespace kiln

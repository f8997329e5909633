// The narrow types' conversions (core/narrow_types.h) against hand-computed bit patterns:
// every special value (NaN, infinities, max, min normal, subnormals, -0) and round-to-nearest-
// even ties, plus ONNX's sub-byte packing and Tensor::as_double / Tensor::cast over them.
#include "core/narrow_types.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "core/tensor.h"

namespace kiln {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

// ---------------------------------------------------------------------------------------------
// float8 e4m3fnuz: bias 8, 3 mantissa bits, max 240 (0x7f), 0x80 the only NaN.

TEST(NarrowTypes, Float8E4M3FnuzEncode) {
  EXPECT_EQ(float_to_fp8e4m3fnuz(1.0), 0x40);  // exponent field 8
  EXPECT_EQ(float_to_fp8e4m3fnuz(-1.0), 0xc0);
  EXPECT_EQ(float_to_fp8e4m3fnuz(240.0), 0x7f);  // max
  EXPECT_EQ(float_to_fp8e4m3fnuz(-240.0), 0xff);
  EXPECT_EQ(float_to_fp8e4m3fnuz(std::ldexp(1.0, -7)), 0x08);   // min normal
  EXPECT_EQ(float_to_fp8e4m3fnuz(std::ldexp(7.0, -10)), 0x07);  // max subnormal
  EXPECT_EQ(float_to_fp8e4m3fnuz(std::ldexp(1.0, -10)), 0x01);  // min subnormal
  // No negative zero: -0 and negatives that round to zero are 0x00.
  EXPECT_EQ(float_to_fp8e4m3fnuz(-0.0), 0x00);
  EXPECT_EQ(float_to_fp8e4m3fnuz(-std::ldexp(1.0, -12)), 0x00);
  // Ties to even: 1.0625 between 1.0 (0x40) and 1.125 (0x41); 1.1875 between 0x41 and 0x42.
  EXPECT_EQ(float_to_fp8e4m3fnuz(1.0625), 0x40);
  EXPECT_EQ(float_to_fp8e4m3fnuz(1.1875), 0x42);
  EXPECT_EQ(float_to_fp8e4m3fnuz(std::ldexp(1.0, -11)), 0x00);  // half the min subnormal
  EXPECT_EQ(float_to_fp8e4m3fnuz(std::ldexp(3.0, -11)), 0x02);  // 1.5 min subnormals
  // NaN, infinities and overflow, saturating (default) and not.
  EXPECT_EQ(float_to_fp8e4m3fnuz(kNaN), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(-kNaN, false), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(kInf), 0x7f);
  EXPECT_EQ(float_to_fp8e4m3fnuz(-kInf), 0xff);
  EXPECT_EQ(float_to_fp8e4m3fnuz(kInf, false), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(-kInf, false), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(1e6), 0x7f);
  EXPECT_EQ(float_to_fp8e4m3fnuz(1e6, false), 0x80);
  EXPECT_EQ(float_to_fp8e4m3fnuz(247.0, false), 0x7f);  // rounds down to 240
  EXPECT_EQ(float_to_fp8e4m3fnuz(248.0, false), 0x80);  // tie: rounds (even) to 256
}

TEST(NarrowTypes, Float8E4M3FnuzDecode) {
  EXPECT_TRUE(std::isnan(fp8e4m3fnuz_to_float(0x80)));
  EXPECT_EQ(fp8e4m3fnuz_to_float(0x00), 0.0f);
  EXPECT_EQ(fp8e4m3fnuz_to_float(0x40), 1.0f);
  EXPECT_EQ(fp8e4m3fnuz_to_float(0x7f), 240.0f);
  EXPECT_EQ(fp8e4m3fnuz_to_float(0xff), -240.0f);
  EXPECT_EQ(fp8e4m3fnuz_to_float(0x01), std::ldexp(1.0f, -10));
  EXPECT_EQ(fp8e4m3fnuz_to_float(0x08), std::ldexp(1.0f, -7));
  EXPECT_EQ(fp8e4m3fnuz_to_float(0x37), 0.46875f);  // exponent 6, mantissa 7: 15/8 * 2^-2
  // Every code but NaN round-trips.
  for (int code = 0; code < 256; ++code) {
    if (code == 0x80) continue;
    EXPECT_EQ(float_to_fp8e4m3fnuz(fp8e4m3fnuz_to_float(uint8_t(code)), false), code) << code;
  }
}

// ---------------------------------------------------------------------------------------------
// float8 e5m2fnuz: bias 16, 2 mantissa bits, max 57344 (0x7f), 0x80 the only NaN.

TEST(NarrowTypes, Float8E5M2Fnuz) {
  EXPECT_EQ(float_to_fp8e5m2fnuz(1.0), 0x40);
  EXPECT_EQ(float_to_fp8e5m2fnuz(57344.0), 0x7f);
  EXPECT_EQ(float_to_fp8e5m2fnuz(std::ldexp(1.0, -15)), 0x04);  // min normal
  EXPECT_EQ(float_to_fp8e5m2fnuz(std::ldexp(3.0, -17)), 0x03);  // max subnormal
  EXPECT_EQ(float_to_fp8e5m2fnuz(std::ldexp(1.0, -17)), 0x01);  // min subnormal
  EXPECT_EQ(float_to_fp8e5m2fnuz(-0.0), 0x00);
  EXPECT_EQ(float_to_fp8e5m2fnuz(1.125), 0x40);  // tie between 1.0 and 1.25
  EXPECT_EQ(float_to_fp8e5m2fnuz(1.375), 0x42);  // tie between 1.25 and 1.5
  EXPECT_EQ(float_to_fp8e5m2fnuz(kNaN), 0x80);
  EXPECT_EQ(float_to_fp8e5m2fnuz(kInf), 0x7f);
  EXPECT_EQ(float_to_fp8e5m2fnuz(-kInf), 0xff);
  EXPECT_EQ(float_to_fp8e5m2fnuz(-kInf, false), 0x80);
  EXPECT_EQ(float_to_fp8e5m2fnuz(61440.0), 0x7f);
  EXPECT_EQ(float_to_fp8e5m2fnuz(61440.0, false), 0x80);  // tie: rounds (even) to 65536
  EXPECT_EQ(float_to_fp8e5m2fnuz(61439.0, false), 0x7f);

  EXPECT_TRUE(std::isnan(fp8e5m2fnuz_to_float(0x80)));
  EXPECT_EQ(fp8e5m2fnuz_to_float(0x7f), 57344.0f);
  EXPECT_EQ(fp8e5m2fnuz_to_float(0xc0), -1.0f);
  EXPECT_EQ(fp8e5m2fnuz_to_float(0x01), std::ldexp(1.0f, -17));
  for (int code = 0; code < 256; ++code) {
    if (code == 0x80) continue;
    EXPECT_EQ(float_to_fp8e5m2fnuz(fp8e5m2fnuz_to_float(uint8_t(code)), false), code) << code;
  }
}

// ---------------------------------------------------------------------------------------------
// float4 e2m1: 0, 0.5, 1, 1.5, 2, 3, 4, 6 (codes 0..7), sign in bit 3.

TEST(NarrowTypes, Float4E2M1) {
  const std::vector<float> magnitudes = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (uint8_t code = 0; code < 8; ++code) {
    EXPECT_EQ(fp4e2m1_to_float(code), magnitudes[code]);
    EXPECT_EQ(fp4e2m1_to_float(uint8_t(code | 8)), -magnitudes[code]);
    EXPECT_EQ(float_to_fp4e2m1(magnitudes[code]), code);
    EXPECT_EQ(float_to_fp4e2m1(-magnitudes[code]), code | 8);
  }
  EXPECT_TRUE(std::signbit(fp4e2m1_to_float(0x8)));  // -0
  // Ties to even: 0.25 -> 0, 0.75 -> 1.0, 1.25 -> 1.0, 1.75 -> 2.0, 2.5 -> 2, 3.5 -> 4, 5 -> 4.
  EXPECT_EQ(float_to_fp4e2m1(0.25), 0x0);
  EXPECT_EQ(float_to_fp4e2m1(0.75), 0x2);
  EXPECT_EQ(float_to_fp4e2m1(1.25), 0x2);
  EXPECT_EQ(float_to_fp4e2m1(1.75), 0x4);
  EXPECT_EQ(float_to_fp4e2m1(2.5), 0x4);
  EXPECT_EQ(float_to_fp4e2m1(3.5), 0x6);
  EXPECT_EQ(float_to_fp4e2m1(5.0), 0x6);
  EXPECT_EQ(float_to_fp4e2m1(-0.25), 0x8);  // rounds to -0
  EXPECT_EQ(float_to_fp4e2m1(0.26), 0x1);
  // Always saturating; NaN gives 0x8 as the ONNX reference (ml_dtypes) does.
  EXPECT_EQ(float_to_fp4e2m1(7.0), 0x7);
  EXPECT_EQ(float_to_fp4e2m1(1e6), 0x7);
  EXPECT_EQ(float_to_fp4e2m1(-1e6), 0xf);
  EXPECT_EQ(float_to_fp4e2m1(kInf), 0x7);
  EXPECT_EQ(float_to_fp4e2m1(-kInf), 0xf);
  EXPECT_EQ(float_to_fp4e2m1(kNaN), 0x8);
  EXPECT_EQ(float_to_fp4e2m1(-0.0), 0x8);
}

// ---------------------------------------------------------------------------------------------
// float8 e8m0: 2^(code - 127), 0xff NaN.

float from_bits(uint32_t bits) { return std::bit_cast<float>(bits); }

TEST(NarrowTypes, Float8E8M0) {
  EXPECT_EQ(fp8e8m0_to_float(0x7f), 1.0f);
  EXPECT_EQ(fp8e8m0_to_float(0x80), 2.0f);
  EXPECT_EQ(fp8e8m0_to_float(0xfe), std::ldexp(1.0f, 127));
  EXPECT_EQ(fp8e8m0_to_float(0x00), std::ldexp(1.0f, -127));  // a float32 subnormal
  EXPECT_TRUE(std::isnan(fp8e8m0_to_float(0xff)));

  using R = E8M0Rounding;
  EXPECT_EQ(float_to_fp8e8m0(1.0f), 0x7f);
  EXPECT_EQ(float_to_fp8e8m0(0.25f), 0x7d);
  EXPECT_EQ(float_to_fp8e8m0(0.0f), 0x00);
  // 3.0 = 2^1 * 1.5: up 4, down 2, nearest 4 (a fraction of one half rounds up).
  EXPECT_EQ(float_to_fp8e8m0(3.0f, true, R::kUp), 0x81);
  EXPECT_EQ(float_to_fp8e8m0(3.0f, true, R::kDown), 0x80);
  EXPECT_EQ(float_to_fp8e8m0(3.0f, true, R::kNearest), 0x81);
  EXPECT_EQ(float_to_fp8e8m0(2.9f, true, R::kNearest), 0x80);
  EXPECT_EQ(float_to_fp8e8m0(1.1f, true, R::kUp), 0x80);
  EXPECT_EQ(float_to_fp8e8m0(1.1f, true, R::kDown), 0x7f);
  // float32 subnormals have exponent 0: up gives 2^-126, down 2^-127.
  EXPECT_EQ(float_to_fp8e8m0(from_bits(0x00000100), true, R::kUp), 0x01);
  EXPECT_EQ(float_to_fp8e8m0(from_bits(0x00000100), true, R::kDown), 0x00);
  // nearest with exponent 0 rounds up only past one half: 0x400000 is exactly one half.
  EXPECT_EQ(float_to_fp8e8m0(from_bits(0x00400000), true, R::kNearest), 0x00);
  EXPECT_EQ(float_to_fp8e8m0(from_bits(0x00600000), true, R::kNearest), 0x01);
  // The top: FLT_MAX rounds up past 2^127 only without saturation (to 0xff, NaN).
  const float flt_max = std::numeric_limits<float>::max();
  EXPECT_EQ(float_to_fp8e8m0(flt_max, true, R::kUp), 0xfe);
  EXPECT_EQ(float_to_fp8e8m0(flt_max, false, R::kUp), 0xff);
  EXPECT_EQ(float_to_fp8e8m0(flt_max, false, R::kDown), 0xfe);
  // NaN is NaN; infinity saturates to the max (the spec's table) or is NaN.
  EXPECT_EQ(float_to_fp8e8m0(std::nanf("")), 0xff);
  EXPECT_EQ(float_to_fp8e8m0(std::numeric_limits<float>::infinity(), true), 0xfe);
  EXPECT_EQ(float_to_fp8e8m0(std::numeric_limits<float>::infinity(), false), 0xff);
  // Every finite code round-trips in every mode, but code 0: 2^-127 is a float32 subnormal
  // with a nonzero fraction, which the reference's bit rule rounds up to 0x01 in mode up.
  EXPECT_EQ(float_to_fp8e8m0(fp8e8m0_to_float(0x00), true, R::kUp), 0x01);
  for (int code = 1; code < 255; ++code) {
    const float v = fp8e8m0_to_float(uint8_t(code));
    for (R mode : {R::kUp, R::kDown, R::kNearest}) {
      EXPECT_EQ(float_to_fp8e8m0(v, false, mode), code) << code;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sub-byte integers and packing

TEST(NarrowTypes, SubByteIntegersKeepLowBits) {
  EXPECT_EQ(int4_code(-1), 0x0f);
  EXPECT_EQ(int4_code(-8), 0x08);
  EXPECT_EQ(int4_code(9), 0x09);  // wraps: reads back as -7
  EXPECT_EQ(int4_value(0x09), -7);
  EXPECT_EQ(int4_value(0x07), 7);
  EXPECT_EQ(int4_value(0xf8), -8);  // bits above the nibble are ignored
  EXPECT_EQ(uint4_code(-1), 0x0f);
  EXPECT_EQ(uint4_value(0x1f), 15);
  EXPECT_EQ(int2_code(-2), 0x2);
  EXPECT_EQ(int2_code(5), 0x1);
  EXPECT_EQ(int2_value(0x3), -1);
  EXPECT_EQ(int2_value(0x2), -2);
  EXPECT_EQ(uint2_value(0x3), 3);
}

TEST(NarrowTypes, PackingIsLowBitsFirst) {
  // int4 [1, -2, 3]: codes 1, 0xe, 3 -> bytes 0xe1, 0x03 (odd count: high nibble 0).
  const std::vector<uint8_t> int4_codes = {0x1, 0xe, 0x3};
  std::vector<uint8_t> packed(packed_size(3, 4));
  ASSERT_EQ(packed.size(), 2u);
  pack_sub_byte(DataType::kInt4, int4_codes.data(), 3, packed.data());
  EXPECT_EQ(packed, (std::vector<uint8_t>{0xe1, 0x03}));
  std::vector<uint8_t> back(3);
  unpack_sub_byte(DataType::kInt4, packed.data(), 3, back.data());
  EXPECT_EQ(back, int4_codes);

  // uint2 [1, 2, 3, 0, 3]: 1 | 2 << 2 | 3 << 4 | 0 << 6 = 0x39, then 0x03.
  const std::vector<uint8_t> uint2_codes = {1, 2, 3, 0, 3};
  packed.assign(packed_size(5, 2), 0xaa);
  ASSERT_EQ(packed.size(), 2u);
  pack_sub_byte(DataType::kUInt2, uint2_codes.data(), 5, packed.data());
  EXPECT_EQ(packed, (std::vector<uint8_t>{0x39, 0x03}));
  back.assign(5, 0);
  unpack_sub_byte(DataType::kUInt2, packed.data(), 5, back.data());
  EXPECT_EQ(back, uint2_codes);
}

TEST(NarrowTypes, DataTypeProperties) {
  for (DataType t :
       {DataType::kInt4, DataType::kUInt4, DataType::kInt2, DataType::kUInt2, DataType::kFloat4E2M1,
        DataType::kFloat8E4M3FNUZ, DataType::kFloat8E5M2FNUZ, DataType::kFloat8E8M0}) {
    EXPECT_EQ(element_size(t), 1u) << to_string(t);
    EXPECT_EQ(data_type_from_string(to_string(t)), t);
  }
  EXPECT_STREQ(to_string(DataType::kFloat8E4M3FNUZ), "float8e4m3fnuz");
  EXPECT_STREQ(to_string(DataType::kInt4), "int4");
  EXPECT_TRUE(is_integer(DataType::kInt2));
  EXPECT_TRUE(is_floating_point(DataType::kFloat8E8M0));
  EXPECT_TRUE(is_sub_byte(DataType::kFloat4E2M1));
  EXPECT_FALSE(is_sub_byte(DataType::kFloat8E4M3FNUZ));
  EXPECT_EQ(packed_bits(DataType::kUInt2), 2);
  EXPECT_EQ(packed_bits(DataType::kFloat32), 32);
  EXPECT_FALSE(is_valid_data_type(kDataTypeCount));
}

// ---------------------------------------------------------------------------------------------
// Tensor::as_double and Tensor::cast

TEST(NarrowTypes, TensorCastAndAsDouble) {
  const Tensor x = Tensor::from_vector<float>(DataType::kFloat32, {6},
                                              {-9.0f, -2.5f, 7.9f, 300.0f, 1.5f, -0.0f});
  // float to int4: truncate toward zero, keep the low 4 bits: -9 -> 7, -2 -> -2, 7, 300 -> -4.
  const Tensor i4 = x.cast(DataType::kInt4);
  EXPECT_EQ(i4.to_int64_vector(), (std::vector<int64_t>{7, -2, 7, -4, 1, 0}));
  EXPECT_EQ(i4.data<uint8_t>()[1], 0x0e);
  EXPECT_EQ(x.cast(DataType::kUInt2).to_int64_vector(), (std::vector<int64_t>{3, 2, 3, 0, 1, 0}));
  // Integer to int2 through the integer path: 6 -> -2.
  const Tensor ints = Tensor::from_vector<int64_t>(DataType::kInt64, {2}, {6, -1});
  EXPECT_EQ(ints.cast(DataType::kInt2).to_int64_vector(), (std::vector<int64_t>{-2, -1}));
  // Floats: saturating conversions.
  EXPECT_EQ(x.cast(DataType::kFloat4E2M1).to_double_vector(),
            (std::vector<double>{-6, -2, 6, 6, 1.5, 0}));
  const Tensor fnuz = x.cast(DataType::kFloat8E4M3FNUZ);
  EXPECT_EQ(fnuz.data<uint8_t>()[3], 0x7f);  // 300 saturates to 240
  EXPECT_EQ(fnuz.data<uint8_t>()[5], 0x00);  // no -0
  EXPECT_EQ(fnuz.as_double(1), -2.5);
  const Tensor e8m0 =
      Tensor::from_vector<float>(DataType::kFloat32, {2}, {0.3f, 8.0f}).cast(DataType::kFloat8E8M0);
  EXPECT_EQ(e8m0.to_double_vector(), (std::vector<double>{0.5, 8.0}));  // rounded up
}

}  // namespace
}  // namespace kiln

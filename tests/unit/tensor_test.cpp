#include "core/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/half.h"

namespace kiln {
namespace {

TEST(Half, RoundTripsRepresentableValues) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(fp16_to_float(float_to_fp16(v)), v) << v;
  }
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1.0).
  EXPECT_EQ(fp16_to_float(float_to_fp16(1.0f + 0x1p-11f)), 1.0f);
  EXPECT_EQ(fp16_to_float(float_to_fp16(1.0f + 3 * 0x1p-11f)), 1.0f + 0x1p-9f);
  EXPECT_TRUE(std::isinf(fp16_to_float(float_to_fp16(70000.0f))));
}

TEST(BFloat16, RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.5f)), 1.5f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f + 0x1p-8f)), 1.0f);  // tie to even
}

TEST(Fp8, E4M3SaturatesAndRoundTrips) {
  EXPECT_EQ(fp8e4m3_to_float(float_to_fp8e4m3(448.0f)), 448.0f);
  EXPECT_EQ(fp8e4m3_to_float(float_to_fp8e4m3(1000.0f)), 448.0f);
  EXPECT_EQ(fp8e4m3_to_float(float_to_fp8e4m3(-0.5f)), -0.5f);
  EXPECT_TRUE(std::isnan(fp8e4m3_to_float(0x7f)));
}

TEST(Tensor, CastFloatToIntTruncatesTowardZero) {
  Tensor t = Tensor::from_vector<float>(DataType::kFloat32, {3}, {1.7f, -1.7f, 2.0f});
  Tensor i = t.cast(DataType::kInt32);
  EXPECT_EQ(i.data<int32_t>()[0], 1);
  EXPECT_EQ(i.data<int32_t>()[1], -1);
  EXPECT_EQ(i.data<int32_t>()[2], 2);
}

TEST(Tensor, AsInt64OfFloatTruncatesAndRefusesNonIntegers) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor t =
      Tensor::from_vector<float>(DataType::kFloat32, {5}, {2.9f, -2.9f, std::nanf(""), inf, 1e19f});
  EXPECT_EQ(t.as_int64(0), 2);
  EXPECT_EQ(t.as_int64(1), -2);
  for (int64_t i : {2, 3, 4}) EXPECT_THROW(t.as_int64(i), Error) << i;
}

TEST(Tensor, FromBytesChecksSize) {
  float v[2] = {1, 2};
  EXPECT_THROW(Tensor::from_bytes(DataType::kFloat32, {3}, v, sizeof(v)), Error);
}

}  // namespace
}  // namespace kiln

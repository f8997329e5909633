// Swish and SwiGLU against x / (1 + exp(-alpha * x)) computed in double here.
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

double reference_swish(double x, double alpha) { return x / (1.0 + std::exp(-alpha * x)); }

const std::vector<float> kInputs = {-3.0f, -0.5f, 0.0f, 0.75f, 2.0f, 6.0f};

TEST(Swish, DefaultAndCustomAlpha) {
  auto plain = run_op("Swish", {f32({2, 3}, kInputs)});
  auto sharp = run_op("Swish", {f32({2, 3}, kInputs)}, {{"alpha", 1.702}});
  ASSERT_EQ(plain[0].shape(), (Dims{2, 3}));
  for (size_t i = 0; i < kInputs.size(); ++i) {
    EXPECT_NEAR(plain[0].as_double(int64_t(i)), reference_swish(kInputs[i], 1.0), 1e-6);
    EXPECT_NEAR(sharp[0].as_double(int64_t(i)), reference_swish(kInputs[i], 1.702), 1e-6);
  }
  // Far from 0 neither side overflows: swish(-1000) = -0 (to float precision), swish(1000) = 1000.
  auto extreme = run_op("Swish", {f32({2}, {-1000.0f, 1000.0f})});
  EXPECT_NEAR(extreme[0].as_double(0), 0.0, 1e-30);
  EXPECT_EQ(extreme[0].as_double(1), 1000.0);
}

TEST(SwiGLU, GateTimesValueInFloat32AndFloat16) {
  const std::vector<float> values = {1.0f, -2.0f, 0.5f, 3.0f, -1.0f, 0.25f};
  auto out = run_op("SwiGLU", {f32({3, 2}, kInputs), f32({3, 2}, values)}, {{"alpha", 0.5}});
  for (size_t i = 0; i < kInputs.size(); ++i) {
    EXPECT_NEAR(out[0].as_double(int64_t(i)), reference_swish(kInputs[i], 0.5) * values[i], 1e-6);
  }
  // float16: inputs are exact in float16; the result is rounded once (relative error 2^-11).
  std::vector<uint16_t> a_bits, b_bits;
  for (float v : kInputs) a_bits.push_back(float_to_fp16(v));
  for (float v : values) b_bits.push_back(float_to_fp16(v));
  auto half = run_op("SwiGLU", {Tensor::from_vector<uint16_t>(DataType::kFloat16, {6}, a_bits),
                                Tensor::from_vector<uint16_t>(DataType::kFloat16, {6}, b_bits)});
  ASSERT_EQ(half[0].dtype(), DataType::kFloat16);
  for (size_t i = 0; i < kInputs.size(); ++i) {
    const double expected = reference_swish(kInputs[i], 1.0) * values[i];
    EXPECT_NEAR(half[0].as_double(int64_t(i)), expected, 1e-3 * std::abs(expected) + 1e-7);
  }
}

TEST(SwiGLU, RejectsMismatchedShapesAndTypes) {
  EXPECT_THROW(run_op("SwiGLU", {f32({2}, {1, 2}), f32({1}, {1})}), Error);
  EXPECT_THROW(run_op("SwiGLU", {f32({2}, {1, 2}), testing::i64({2}, {1, 2})}), Error);
  EXPECT_THROW(run_op("Swish", {testing::i64({2}, {1, 2})}), Error);
}

}  // namespace
}  // namespace kiln

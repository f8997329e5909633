// RMSNormalization against a float64 loop written here; RotaryEmbedding against values from
// onnx.reference.ReferenceEvaluator (onnx 1.23), pasted in.
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

// x [rows, n] normalized per row by its RMS, times scale [n].
std::vector<double> reference_rms(const std::vector<float>& x, int64_t rows, int64_t n,
                                  const std::vector<float>& scale, double epsilon) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double sum_squares = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = x[size_t(r * n + i)];
      sum_squares += v * v;
    }
    const double rms = std::sqrt(sum_squares / double(n) + epsilon);
    for (int64_t i = 0; i < n; ++i) {
      y[size_t(r * n + i)] = x[size_t(r * n + i)] / rms * scale[size_t(i)];
    }
  }
  return y;
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float((i * 7) % 11) - 2.0f;
  return v;
}

TEST(RMSNormalization, LastAxisAndLeadingAxis) {
  const std::vector<float> x = ramp(24, 0.6f);
  const std::vector<float> scale4 = {0.5f, 1.0f, -2.0f, 1.5f};
  auto last = run_op("RMSNormalization", {f32({2, 3, 4}, x), f32({4}, scale4)});
  ASSERT_EQ(last[0].shape(), (Dims{2, 3, 4}));
  expect_near_all(last[0], reference_rms(x, 6, 4, scale4, 1e-5), 1e-5);

  // axis 1 normalizes over [3, 4]; the scale is [3, 4], and epsilon is 0.1.
  const std::vector<float> scale12 = ramp(12, 0.3f);
  auto from_axis1 = run_op("RMSNormalization", {f32({2, 3, 4}, x), f32({3, 4}, scale12)},
                           {{"axis", int64_t(1)}, {"epsilon", 0.1}});
  expect_near_all(from_axis1[0], reference_rms(x, 2, 12, scale12, 0.1), 1e-5);
}

TEST(RMSNormalization, ScaleVaryingAcrossRowsAndFloat64) {
  // A [2, 1, 4] scale broadcasts over the middle dim and differs between the two outer
  // blocks, so each [3, 4] block is checked against its own scale row. X is float64 and the
  // scale float32 (the spec lets their types differ).
  const std::vector<float> x = ramp(24, 0.45f);
  const std::vector<float> scale = {1, 2, 3, 4, -1, -0.5f, 0.25f, 2};
  std::vector<double> xd(x.begin(), x.end());
  auto out = run_op(
      "RMSNormalization",
      {Tensor::from_vector<double>(DataType::kFloat64, {2, 3, 4}, xd), f32({2, 1, 4}, scale)});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat64);
  for (int64_t outer = 0; outer < 2; ++outer) {
    const std::vector<float> x_part(x.begin() + outer * 12, x.begin() + (outer + 1) * 12);
    const std::vector<float> s_part(scale.begin() + outer * 4, scale.begin() + (outer + 1) * 4);
    const std::vector<double> expected = reference_rms(x_part, 3, 4, s_part, 1e-5);
    for (size_t i = 0; i < 12; ++i) {
      EXPECT_NEAR(out[0].as_double(outer * 12 + int64_t(i)), expected[i], 1e-12);
    }
  }
}

TEST(RMSNormalization, RejectsBadAxisScaleAndStashType) {
  const Tensor x = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_THROW(run_op("RMSNormalization", {x, f32({2}, {1, 1})}, {{"axis", int64_t(2)}}), Error);
  EXPECT_THROW(run_op("RMSNormalization", {x, f32({3}, {1, 1, 1})}), Error);
  EXPECT_THROW(run_op("RMSNormalization", {x, f32({1, 2, 2}, {1, 1, 1, 1})}), Error);
  EXPECT_THROW(run_op("RMSNormalization", {x, f32({2}, {1, 1})}, {{"stash_type", int64_t(7)}}),
               Error);
}

// Caches for positions 0..2 and rot/2 = 2: cos/sin of [[0, 0.1], [0.5, 1.0], [2.0, 0.3]].
Tensor cos_cache() {
  return f32({3, 2}, {1.0f, 0.9950041770935059f, 0.8775825500488281f, 0.5403022766113281f,
                      -0.41614681482315063f, 0.9553365111351013f});
}
Tensor sin_cache() {
  return f32({3, 2}, {0.0f, 0.0998334214091301f, 0.4794255495071411f, 0.8414710164070129f,
                      0.9092974066734314f, 0.29552021622657776f});
}
// X [1, 1, 2, 4] = arange(8) * 0.5 - 1.
Tensor rotary_input() { return f32({1, 1, 2, 4}, {-1, -0.5f, 0, 0.5f, 1, 1.5f, 2, 2.5f}); }

TEST(RotaryEmbedding, HalvesAndInterleavedWithPositionIds) {
  // Token 0 at position 2, token 1 at position 1. Pair (x[0], x[2]) of token 0 with
  // cos = -0.4161, sin = 0.9093: (-1, 0) -> (0.4161, -0.9093).
  const Tensor positions = i64({1, 2}, {2, 1});
  auto halves = run_op("RotaryEmbedding", {rotary_input(), cos_cache(), sin_cache(), positions});
  ASSERT_EQ(halves[0].shape(), (Dims{1, 1, 2, 4}));
  expect_near_all(
      halves[0],
      {0.41614681482315063, -0.6254283785820007, -0.9092974066734314, 0.3299081325531006,
       -0.0812685489654541, -1.2932240962982178, 2.234590530395508, 2.612962245941162},
      1e-6);
  auto interleaved =
      run_op("RotaryEmbedding", {rotary_input(), cos_cache(), sin_cache(), positions},
             {{"interleaved", int64_t(1)}});
  expect_near_all(
      interleaved[0],
      {0.870795488357544, -0.7012239694595337, -0.14776010811328888, 0.47766825556755066,
       0.15844422578811646, 1.7957993745803833, -1.0230729579925537, 3.0336976051330566},
      1e-6);
}

TEST(RotaryEmbedding, ThreeDInputPartialRotationWithoutPositionIds) {
  // X [1, 1, 8] as 2 heads of 4; only the first 2 elements of each head rotate, with the
  // [batch, seq, 1] caches cos(0.5), sin(0.5).
  const Tensor x = f32({1, 1, 8}, {0.5f, 0.75f, 1, 1.25f, 1.5f, 1.75f, 2, 2.25f});
  const Tensor cos_values = f32({1, 1, 1}, {0.8775825500488281f});
  const Tensor sin_values = f32({1, 1, 1}, {0.4794255495071411f});
  auto out = run_op("RotaryEmbedding", {x, cos_values, sin_values},
                    {{"num_heads", int64_t(2)}, {"rotary_embedding_dim", int64_t(2)}});
  expect_near_all(out[0],
                  {0.07922211289405823, 0.8978996872901917, 1.0, 1.25, 0.47737908363342285,
                   2.2549078464508057, 2.0, 2.25},
                  1e-6);
}

TEST(RotaryEmbedding, RejectsBadShapesAndPositions) {
  const Tensor positions = i64({1, 2}, {2, 1});
  // 3-D input without num_heads.
  EXPECT_THROW(run_op("RotaryEmbedding", {f32({1, 2, 4}, std::vector<float>(8, 1.0f)), cos_cache(),
                                          sin_cache(), positions}),
               Error);
  // Cache width must be rotary_dim / 2 (= 2 here, not 1).
  EXPECT_THROW(run_op("RotaryEmbedding",
                      {rotary_input(), f32({3, 1}, {1, 1, 1}), f32({3, 1}, {0, 0, 0}), positions}),
               Error);
  // A position outside the caches' 3 rows.
  EXPECT_THROW(
      run_op("RotaryEmbedding", {rotary_input(), cos_cache(), sin_cache(), i64({1, 2}, {0, 3})}),
      Error);
  // Odd rotary dimension.
  EXPECT_THROW(run_op("RotaryEmbedding", {rotary_input(), cos_cache(), sin_cache(), positions},
                      {{"rotary_embedding_dim", int64_t(3)}}),
               Error);
}

}  // namespace
}  // namespace kiln

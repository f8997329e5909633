// RandomUniform / RandomNormal (and *Like), Bernoulli, TensorScatter and DeformConv against
// hand-computed values and plain loops written here.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

TEST(RandomOps, UniformRangeShapeAndSeed) {
  ir::Attributes attrs = {
      {"shape", std::vector<int64_t>{1000}}, {"low", 2.0}, {"high", 5.0}, {"seed", 7.0}};
  auto a = run_op("RandomUniform", {}, attrs);
  ASSERT_EQ(a[0].dtype(), DataType::kFloat32);
  ASSERT_EQ(a[0].shape(), (Dims{1000}));
  double sum = 0;
  for (double v : a[0].to_double_vector()) {
    EXPECT_GE(v, 2.0);
    EXPECT_LT(v, 5.0);
    sum += v;
  }
  EXPECT_NEAR(sum / 1000, 3.5, 0.15);  // mean of U(2, 5); sd of the mean ~0.027
  // The same seed gives the same values.
  EXPECT_EQ(run_op("RandomUniform", {}, attrs)[0].to_double_vector(), a[0].to_double_vector());
}

TEST(RandomOps, NormalLikeTakesShapeAndDtype) {
  auto out = run_op(
      "RandomNormalLike", {i64({4, 500}, std::vector<int64_t>(2000, 0))},
      {{"dtype", int64_t(DataType::kFloat64)}, {"mean", 10.0}, {"scale", 2.0}, {"seed", 1.0}});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat64);
  ASSERT_EQ(out[0].shape(), (Dims{4, 500}));
  double sum = 0, sum_sq = 0;
  for (double v : out[0].to_double_vector()) sum += v, sum_sq += v * v;
  const double mean = sum / 2000, var = sum_sq / 2000 - mean * mean;
  EXPECT_NEAR(mean, 10.0, 0.2);
  EXPECT_NEAR(std::sqrt(var), 2.0, 0.15);
  // A non-float input needs dtype.
  EXPECT_THROW(run_op("RandomUniformLike", {i64({2}, {1, 2})}), Error);
}

TEST(RandomOps, BernoulliFollowsProbabilities) {
  std::vector<float> p(3000);
  for (size_t i = 0; i < p.size(); ++i) p[i] = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? 1.0f : 0.5f);
  auto y = run_op("Bernoulli", {f32({3000}, p)}, {{"dtype", int64_t(DataType::kInt32)}});
  ASSERT_EQ(y[0].dtype(), DataType::kInt32);
  int64_t halves = 0;
  for (int64_t i = 0; i < 3000; ++i) {
    const int64_t v = y[0].as_int64(i);
    if (i % 3 == 0) EXPECT_EQ(v, 0);
    if (i % 3 == 1) EXPECT_EQ(v, 1);
    if (i % 3 == 2) halves += v;
  }
  EXPECT_NEAR(double(halves) / 1000, 0.5, 0.08);
}

TEST(TensorScatter, LinearAndCircularWrites) {
  // cache [2, 4, 1] (batch 2, 4 steps), update [2, 2, 1], axis 1 (= -2).
  const Tensor cache = f32({2, 4, 1}, {0, 1, 2, 3, 10, 11, 12, 13});
  const Tensor update = f32({2, 2, 1}, {-1, -2, -3, -4});
  auto linear = run_op("TensorScatter", {cache, update, i64({2}, {1, 2})});
  EXPECT_EQ(linear[0].to_double_vector(), (std::vector<double>{0, -1, -2, 3, 10, 11, -3, -4}));
  // No write indices: from 0.
  auto from_zero = run_op("TensorScatter", {cache, update});
  EXPECT_EQ(from_zero[0].to_double_vector(), (std::vector<double>{-1, -2, 2, 3, -3, -4, 12, 13}));
  // Circular: batch 1 writes at 3 and then 0.
  auto circular = run_op("TensorScatter", {cache, update, i64({2}, {0, 3})},
                         {{"mode", std::string("circular")}});
  EXPECT_EQ(circular[0].to_double_vector(), (std::vector<double>{-1, -2, 2, 3, -4, 11, 12, -3}));
  // Linear past the end is an error.
  EXPECT_THROW(run_op("TensorScatter", {cache, update, i64({2}, {0, 3})}), Error);
  EXPECT_THROW(run_op("TensorScatter", {cache, update}, {{"axis", int64_t(0)}}), Error);
}

TEST(DeformConv, ZeroOffsetsAreAConvolutionAndOffsetsInterpolate) {
  // X [1, 1, 3, 3] = 0..8, W [1, 1, 2, 2] = ones: with zero offsets each output is the sum of a
  // 2x2 window.
  std::vector<float> x(9);
  for (int i = 0; i < 9; ++i) x[size_t(i)] = float(i);
  const Tensor w = f32({1, 1, 2, 2}, {1, 1, 1, 1});
  const Tensor zero_offsets = f32({1, 8, 2, 2}, std::vector<float>(32, 0));
  auto y = run_op("DeformConv", {f32({1, 1, 3, 3}, x), w, zero_offsets});
  EXPECT_EQ(y[0].to_double_vector(), (std::vector<double>{8, 12, 20, 24}));
  // Moving every tap by +0.5 in h: each tap reads the average of two rows; taps that fall
  // below the image see a zero neighbour. Output (0,0): taps at (0.5,0) (0.5,1) (1.5,0) (1.5,1)
  // = 1.5 + 2.5 + 4.5 + 5.5 = 14; with bias 1 and a mask of 0.5 on every tap: 8.
  std::vector<float> offsets(32, 0);
  for (int tap = 0; tap < 4; ++tap) {
    for (int at = 0; at < 4; ++at) offsets[size_t(tap * 2 * 4 + at)] = 0.5f;  // h offsets
  }
  auto shifted =
      run_op("DeformConv", {f32({1, 1, 3, 3}, x), w, f32({1, 8, 2, 2}, offsets), f32({1}, {1}),
                            f32({1, 4, 2, 2}, std::vector<float>(16, 0.5f))});
  EXPECT_DOUBLE_EQ(shifted[0].as_double(0), 8.0);
  // Output (1,0): taps at rows 1.5 and 2.5 (2.5 interpolates row 2 with a zero row 3):
  // 4.5 + 5.5 + 0.5*6 + 0.5*7 = 16.5 -> 0.5 * 16.5 + 1.
  EXPECT_DOUBLE_EQ(shifted[0].as_double(2), 9.25);
}

}  // namespace
}  // namespace kiln

// Normalization ops against plain float64 loops written here (and a few hand-computed values).
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

std::vector<float> ramp(size_t n, float scale, float offset = 0.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * float((i * 5) % 13) + offset;
  return v;
}

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

// Standardizes each of `groups` consecutive blocks of x, in double; returns the normalized values
// and each block's mean and 1/sqrt(var + eps).
struct Standardized {
  std::vector<double> values, mean, inv_std;
};
Standardized standardize_blocks(const std::vector<float>& x, size_t groups, double eps) {
  Standardized s;
  const size_t block = x.size() / groups;
  for (size_t g = 0; g < groups; ++g) {
    double mean = 0, var = 0;
    for (size_t i = 0; i < block; ++i) mean += x[g * block + i];
    mean /= double(block);
    for (size_t i = 0; i < block; ++i) var += (x[g * block + i] - mean) * (x[g * block + i] - mean);
    var /= double(block);
    const double inv_std = 1 / std::sqrt(var + eps);
    for (size_t i = 0; i < block; ++i) s.values.push_back((x[g * block + i] - mean) * inv_std);
    s.mean.push_back(mean);
    s.inv_std.push_back(inv_std);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(BatchNormalization, MatchesFloat64Loop) {
  const Dims shape{2, 3, 2, 2};
  const std::vector<float> x = ramp(24, 0.5f, -1.0f);
  const std::vector<float> scale{1.5f, -0.5f, 2.0f}, bias{0.1f, 0.2f, -0.3f},
      mean{0.5f, 1.0f, -2.0f}, var{4.0f, 0.25f, 1.0f};
  auto out = run_op("BatchNormalization",
                    {f32(shape, x), f32({3}, scale), f32({3}, bias), f32({3}, mean), f32({3}, var)},
                    {{"epsilon", 1e-3}});
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 4) % 3;
    expected.push_back((x[i] - mean[c]) / std::sqrt(double(var[c]) + 1e-3) * scale[c] + bias[c]);
  }
  ASSERT_EQ(out[0].shape(), shape);
  expect_near_all(out[0], expected, 1e-5);
}

TEST(BatchNormalization, RankTwoAndFloat16) {
  // [N, C] with no spatial dims; float16 storage with float32 parameters.
  const std::vector<float> x{1, 2, -3, 0.5f, 4, -1};
  std::vector<uint16_t> bits;
  for (float v : x) bits.push_back(float_to_fp16(v));
  auto out = run_op("BatchNormalization",
                    {Tensor::from_vector<uint16_t>(DataType::kFloat16, {3, 2}, bits),
                     f32({2}, {2, 1}), f32({2}, {0, 1}), f32({2}, {1, -1}), f32({2}, {1, 3})});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat16);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = i % 2;
    const double m = c ? -1 : 1, v = c ? 3 : 1, s = c ? 1 : 2, b = c ? 1 : 0;
    expected.push_back((x[i] - m) / std::sqrt(v + 1e-5) * s + b);
  }
  expect_near_all(out[0], expected, 5e-3);
}

TEST(BatchNormalization, RejectsTrainingModeAndBadParameters) {
  const Tensor x = f32({1, 2, 1, 1}, {1, 2});
  const Tensor p = f32({2}, {1, 1});
  try {
    run_op("BatchNormalization", {x, p, p, p, p}, {{"training_mode", int64_t(1)}});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("BatchNormalization 'node'"), std::string::npos);
  }
  EXPECT_THROW(run_op("BatchNormalization", {x, f32({3}, {1, 1, 1}), p, p, p}), Error);
  EXPECT_THROW(run_op("BatchNormalization", {x, p, p, p, testing::i64({2}, {1, 1})}), Error);
  // running_mean / running_var outputs exist only in training mode
  EXPECT_THROW(run_op("BatchNormalization", {x, p, p, p, p}, {}, 3), Error);
}

// ---------------------------------------------------------------------------------------------

TEST(LayerNormalization, LastAxisWithMeanAndInvStdDev) {
  const std::vector<float> x = ramp(24, 0.3f, -1.0f);
  const std::vector<float> scale{1, -2, 0.5f, 3}, bias{0.5f, 0, -1, 2};
  auto out = run_op("LayerNormalization", {f32({2, 3, 4}, x), f32({4}, scale), f32({4}, bias)},
                    {{"epsilon", 1e-4}}, 3);
  const Standardized s = standardize_blocks(x, 6, 1e-4);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i)
    expected.push_back(s.values[i] * scale[i % 4] + bias[i % 4]);
  expect_near_all(out[0], expected, 1e-5);
  ASSERT_EQ(out[1].shape(), (Dims{2, 3, 1}));
  ASSERT_EQ(out[1].dtype(), DataType::kFloat32);
  expect_near_all(out[1], s.mean, 1e-6);
  ASSERT_EQ(out[2].shape(), (Dims{2, 3, 1}));
  expect_near_all(out[2], s.inv_std, 1e-5);
}

TEST(LayerNormalization, EarlierAxisWithoutBias) {
  const std::vector<float> x = ramp(24, 1.1f);
  const std::vector<float> scale = ramp(12, 0.25f, 0.5f);
  auto out =
      run_op("LayerNormalization", {f32({2, 3, 4}, x), f32({3, 4}, scale)}, {{"axis", int64_t(1)}});
  const Standardized s = standardize_blocks(x, 2, 1e-5);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) expected.push_back(s.values[i] * scale[i % 12]);
  expect_near_all(out[0], expected, 1e-5);
}

TEST(LayerNormalization, ScaleThatVariesAcrossRows) {
  // Scale [2, 1, 1] broadcasts over the normalized axis but differs between the two batches.
  const std::vector<float> x = ramp(8, 0.7f);
  auto out = run_op("LayerNormalization", {f32({2, 1, 4}, x), f32({2, 1, 1}, {2, -1})});
  const Standardized s = standardize_blocks(x, 2, 1e-5);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) expected.push_back(s.values[i] * (i < 4 ? 2 : -1));
  expect_near_all(out[0], expected, 1e-5);
}

TEST(LayerNormalization, BFloat16AndFloat64) {
  const std::vector<float> x{1, 2, 3, 4, -1, 0, 1, 8};
  std::vector<uint16_t> bits;
  for (float v : x) bits.push_back(float_to_bf16(v));  // exactly representable
  auto out = run_op(
      "LayerNormalization",
      {Tensor::from_vector<uint16_t>(DataType::kBFloat16, {2, 4}, bits), f32({4}, {1, 1, 1, 1})});
  ASSERT_EQ(out[0].dtype(), DataType::kBFloat16);
  const Standardized s = standardize_blocks(x, 2, 1e-5);
  expect_near_all(out[0], s.values, 2e-2);  // bfloat16 keeps 8 significant bits

  std::vector<double> xd(x.begin(), x.end());
  auto out64 = run_op("LayerNormalization",
                      {Tensor::from_vector<double>(DataType::kFloat64, {2, 4}, xd),
                       Tensor::from_vector<double>(DataType::kFloat64, {4}, {1, 1, 1, 1})});
  expect_near_all(out64[0], s.values, 1e-12);
}

TEST(LayerNormalization, LongRowsWithALengthNotMultipleOfFour) {
  // 37 values per row exercise the unrolled statistics loop and its remainder.
  const std::vector<float> x = ramp(3 * 37, 0.37f, -2.0f);
  const std::vector<float> scale = ramp(37, 0.1f, 0.5f);
  auto out = run_op("LayerNormalization", {f32({3, 37}, x), f32({37}, scale)}, {}, 3);
  const Standardized s = standardize_blocks(x, 3, 1e-5);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) expected.push_back(s.values[i] * scale[i % 37]);
  expect_near_all(out[0], expected, 1e-5);
  expect_near_all(out[1], s.mean, 1e-6);
  expect_near_all(out[2], s.inv_std, 1e-5);
}

TEST(LayerNormalization, RejectsBadShapesAndAttributes) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THROW(run_op("LayerNormalization", {x, f32({2}, {1, 1})}), Error);
  EXPECT_THROW(run_op("LayerNormalization", {x, f32({3}, {1, 1, 1})}, {{"axis", int64_t(2)}}),
               Error);
  EXPECT_THROW(run_op("LayerNormalization", {x, f32({3}, {1, 1, 1}), f32({4}, {0, 0, 0, 0})}),
               Error);
  EXPECT_THROW(run_op("LayerNormalization", {x, f32({3}, {1, 1, 1})}, {{"stash_type", int64_t(7)}}),
               Error);
}

// ---------------------------------------------------------------------------------------------

TEST(InstanceNormalization, MatchesFloat64Loop) {
  const std::vector<float> x = ramp(2 * 3 * 5, 0.9f, -2.0f);
  const std::vector<float> scale{1, 2, -1}, bias{0, 0.5f, 1};
  auto out = run_op("InstanceNormalization", {f32({2, 3, 5}, x), f32({3}, scale), f32({3}, bias)},
                    {{"epsilon", 1e-2}});
  const Standardized s = standardize_blocks(x, 6, 1e-2);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 5) % 3;
    expected.push_back(s.values[i] * scale[c] + bias[c]);
  }
  expect_near_all(out[0], expected, 1e-5);
  // No channels: an empty result rather than a division by zero.
  auto empty = run_op("InstanceNormalization", {f32({1, 0, 3}, {}), f32({0}, {}), f32({0}, {})});
  EXPECT_EQ(empty[0].shape(), (Dims{1, 0, 3}));
  EXPECT_THROW(
      run_op("InstanceNormalization", {f32({2, 3, 5}, x), f32({2}, {1, 1}), f32({3}, bias)}),
      Error);
}

TEST(GroupNormalization, MatchesFloat64Loop) {
  // 4 channels in 2 groups: each (batch, group) block is 2 channels x 3 positions.
  const std::vector<float> x = ramp(2 * 4 * 3, 0.6f, -1.0f);
  const std::vector<float> scale{1, -1, 2, 0.5f}, bias{0, 1, 2, 3};
  auto out = run_op("GroupNormalization", {f32({2, 4, 3}, x), f32({4}, scale), f32({4}, bias)},
                    {{"num_groups", int64_t(2)}});
  const Standardized s = standardize_blocks(x, 4, 1e-5);
  std::vector<double> expected;
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 3) % 4;
    expected.push_back(s.values[i] * scale[c] + bias[c]);
  }
  expect_near_all(out[0], expected, 1e-5);
}

TEST(GroupNormalization, RejectsChannelsNotDivisibleByGroups) {
  const Tensor x = f32({1, 3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor p = f32({3}, {1, 1, 1});
  EXPECT_THROW(run_op("GroupNormalization", {x, p, p}, {{"num_groups", int64_t(2)}}), Error);
  EXPECT_THROW(run_op("GroupNormalization", {x, p, p}, {{"num_groups", int64_t(0)}}), Error);
  EXPECT_THROW(run_op("GroupNormalization", {x, p, p}), Error);  // num_groups is required
}

// ---------------------------------------------------------------------------------------------

TEST(LpNormalization, L1AndL2AlongAnAxis) {
  // Rows [3, -4] and [0, 0]: L2 gives [0.6, -0.8] and zeros, L1 gives [3/7, -4/7] and zeros.
  const Tensor x = f32({2, 2}, {3, -4, 0, 0});
  expect_near_all(run_op("LpNormalization", {x})[0], {0.6, -0.8, 0, 0}, 1e-7);
  expect_near_all(run_op("LpNormalization", {x}, {{"p", int64_t(1)}})[0], {3.0 / 7, -4.0 / 7, 0, 0},
                  1e-7);
  // Along axis 0: columns [3, 0] and [-4, 0].
  expect_near_all(run_op("LpNormalization", {x}, {{"axis", int64_t(0)}})[0], {1, -1, 0, 0}, 0);
  EXPECT_THROW(run_op("LpNormalization", {x}, {{"p", int64_t(3)}}), Error);
}

TEST(MeanVarianceNormalization, DefaultAxesMatchFloat64Loop) {
  // Default axes [0, 2, 3]: statistics per channel over batch and space.
  const Dims shape{2, 3, 2, 2};
  const std::vector<float> x = ramp(24, 0.4f, 1.0f);
  auto out = run_op("MeanVarianceNormalization", {f32(shape, x)});
  std::vector<double> expected(24);
  for (size_t c = 0; c < 3; ++c) {
    std::vector<size_t> members;
    for (size_t n = 0; n < 2; ++n) {
      for (size_t s = 0; s < 4; ++s) members.push_back((n * 3 + c) * 4 + s);
    }
    double mean = 0, var = 0;
    for (size_t i : members) mean += x[i];
    mean /= 8;
    for (size_t i : members) var += (x[i] - mean) * (x[i] - mean);
    const double std_dev = std::sqrt(var / 8);
    for (size_t i : members) expected[i] = (x[i] - mean) / (std_dev + 1e-9);
  }
  expect_near_all(out[0], expected, 1e-5);
}

TEST(MeanVarianceNormalization, CustomAxes) {
  // axes [1] on [2, 3]: each row standardized (population variance, no epsilon inside sqrt).
  auto out = run_op("MeanVarianceNormalization", {f32({2, 3}, {1, 2, 3, 10, 10, 40})},
                    {{"axes", std::vector<int64_t>{-1}}});
  const double s0 = std::sqrt(2.0 / 3), s1 = std::sqrt(200.0);  // row 1: mean 20, var 200
  expect_near_all(out[0], {-1 / s0, 0, 1 / s0, -10 / s1, -10 / s1, 20 / s1}, 1e-6);
  EXPECT_THROW(run_op("MeanVarianceNormalization", {f32({2, 3}, {1, 2, 3, 4, 5, 6})},
                      {{"axes", std::vector<int64_t>{1, 1}}}),
               Error);
}

TEST(LRN, MatchesSpecFormula) {
  const Dims shape{1, 5, 2, 1};
  const std::vector<float> x = ramp(10, 0.8f, -3.0f);
  for (int64_t size : {3, 2}) {
    const double alpha = 0.02, beta = 0.6, bias = 1.5;
    auto out = run_op("LRN", {f32(shape, x)},
                      {{"size", size}, {"alpha", alpha}, {"beta", beta}, {"bias", bias}});
    std::vector<double> expected;
    for (int64_t c = 0; c < 5; ++c) {
      for (int64_t s = 0; s < 2; ++s) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, c - (size - 1) / 2);
             k <= std::min<int64_t>(4, c + size / 2); ++k) {
          sq += double(x[size_t(k * 2 + s)]) * x[size_t(k * 2 + s)];
        }
        expected.push_back(x[size_t(c * 2 + s)] / std::pow(bias + alpha / double(size) * sq, beta));
      }
    }
    expect_near_all(out[0], expected, 1e-5);
  }
  EXPECT_THROW(run_op("LRN", {f32(shape, x)}), Error);  // size is required
}

}  // namespace
}  // namespace kiln

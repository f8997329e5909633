// Attention against a plain float64 loop written here and against numbers from the ONNX
// reference implementation (onnx 1.23, onnx.reference.ReferenceEvaluator on a one-node model).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ((i * a) % m - m / 2) / 4: the pattern the pasted reference numbers were produced from
// (numpy: ((np.arange(n) * a % m - m // 2) / 4.0)).
std::vector<float> pattern(size_t n, int64_t a, int64_t m) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(int64_t(i) * a % m - m / 2) / 4.0f;
  return v;
}

Tensor bool_tensor(Dims shape, const std::vector<uint8_t>& values) {
  return Tensor::from_bytes(DataType::kBool, std::move(shape), values.data(), values.size());
}

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isinf(expected[i])) {
      EXPECT_EQ(t.as_double(int64_t(i)), expected[i]) << "element " << i;
    } else {
      EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
    }
  }
}

// softmax(Q K^T / sqrt(D)) V for 4-D (1, heads, seq, D) inputs, in double.
std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int64_t heads, int64_t q_seq,
                                        int64_t kv_seq, int64_t d, int64_t dv) {
  std::vector<double> y(size_t(heads * q_seq * dv), 0.0);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < q_seq; ++i) {
      std::vector<double> score(static_cast<size_t>(kv_seq));
      double max_score = -kInf;
      for (int64_t j = 0; j < kv_seq; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < d; ++e) {
          dot += double(q[size_t((h * q_seq + i) * d + e)]) *
                 double(k[size_t((h * kv_seq + j) * d + e)]);
        }
        score[size_t(j)] = dot / std::sqrt(double(d));
        max_score = std::max(max_score, score[size_t(j)]);
      }
      double sum = 0;
      for (double& s : score) sum += (s = std::exp(s - max_score));
      for (int64_t j = 0; j < kv_seq; ++j) {
        for (int64_t e = 0; e < dv; ++e) {
          y[size_t((h * q_seq + i) * dv + e)] +=
              score[size_t(j)] / sum * double(v[size_t((h * kv_seq + j) * dv + e)]);
        }
      }
    }
  }
  return y;
}

TEST(Attention, FourDimensionalMatchesFloat64Loop) {
  const std::vector<float> q = pattern(2 * 3 * 4, 7, 11);
  const std::vector<float> k = pattern(2 * 5 * 4, 5, 7);
  const std::vector<float> v = pattern(2 * 5 * 3, 3, 5);
  auto out =
      run_op("Attention", {f32({1, 2, 3, 4}, q), f32({1, 2, 5, 4}, k), f32({1, 2, 5, 3}, v)});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 3, 3}));
  expect_near_all(out[0], reference_attention(q, k, v, 2, 3, 5, 4, 3), 1e-6);

  // float64 inputs compute in double.
  auto as_f64 = [](Dims shape, const std::vector<float>& x) {
    return Tensor::from_vector<double>(DataType::kFloat64, std::move(shape),
                                       std::vector<double>(x.begin(), x.end()));
  };
  auto out64 = run_op("Attention",
                      {as_f64({1, 2, 3, 4}, q), as_f64({1, 2, 5, 4}, k), as_f64({1, 2, 5, 3}, v)});
  ASSERT_EQ(out64[0].dtype(), DataType::kFloat64);
  expect_near_all(out64[0], reference_attention(q, k, v, 2, 3, 5, 4, 3), 1e-14);
}

TEST(Attention, ThreeDimensionalGqaCausalWithPastAndBoolMask) {
  // Two query heads share one key/value head; one past token makes the causal frontier
  // j <= i + 1; the (q, kv) bool mask removes key 1 from query 1. Numbers from the ONNX
  // reference with q_num_heads=2, kv_num_heads=1, is_causal=1, qk_matmul_output_mode=2.
  const Tensor q = f32({1, 2, 4}, pattern(8, 7, 11));
  const Tensor k = f32({1, 2, 2}, pattern(4, 5, 7));
  const Tensor v = f32({1, 2, 2}, pattern(4, 3, 5));
  const Tensor mask = bool_tensor({2, 3}, {1, 1, 1, 1, 0, 1});
  const Tensor past_key = f32({1, 1, 1, 2}, {-0.25f, 0.0f});
  const Tensor past_value = f32({1, 1, 1, 2}, {-0.25f, 0.25f});
  auto out = run_op("Attention", {q, k, v, mask, past_key, past_value},
                    {{"q_num_heads", int64_t(2)},
                     {"kv_num_heads", int64_t(1)},
                     {"is_causal", int64_t(1)},
                     {"qk_matmul_output_mode", int64_t(2)}},
                    4);
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 4}));
  expect_near_all(
      out[0], {-0.41248176, 0.25, -0.41248176, 0.25, -0.25, 0.3941822, -0.25, 0.38601986}, 1e-6);
  // present = past ++ new, as (batch, kv_heads, total_kv, head_size).
  expect_near_all(out[1], {-0.25, 0, -0.75, 0.5, 0, -0.5}, 0);
  expect_near_all(out[2], {-0.25, 0.25, -0.5, 0.25, -0.25, 0.5}, 0);
  ASSERT_EQ(out[3].shape(), (Dims{1, 2, 2, 3}));
  expect_near_all(out[3],
                  {0.22097087, 0.8396893, -kInf, -0.044194177, -kInf, 0.26516506, 0.08838835,
                   0.7071068, -kInf, -0.1767767, -kInf, 0},
                  1e-6);
}

TEST(Attention, ShortFloatMaskNonpadWindowAndSoftcap) {
  // 4-D, scale 0.5, softcap 0.75, left_window_size 1, a float mask covering 3 of the 4 keys
  // (the 4th is masked), nonpad_kv_seqlen (4, 2); qk_matmul_output_mode 1 (after softcap).
  // Numbers from the ONNX reference (opset 25).
  const Tensor q = f32({2, 1, 3, 2}, pattern(12, 7, 11));
  const Tensor k = f32({2, 1, 4, 2}, pattern(16, 5, 7));
  const Tensor v = f32({2, 1, 4, 3}, pattern(24, 3, 5));
  const Tensor mask = f32({1, 3}, {0.5f, -1.0f, 0.25f});
  auto out = run_op("Attention", {q, k, v, mask, Tensor(), Tensor(), i64({2}, {4, 2})},
                    {{"left_window_size", int64_t(1)},
                     {"softcap", 0.75},
                     {"qk_matmul_output_mode", int64_t(1)},
                     {"scale", 0.5}},
                    4);
  expect_near_all(out[0],
                  {-0.24717185, 0.116041906, -0.10095386, 0.29507348, -0.20492649, 0.319706, 0.25,
                   -0.25, 0.5, -0.2802693, 0.4697307, -0.03026929, -0.32741857, 0.42258143,
                   -0.07741857, -0.28521, 0.46479, -0.03521},
                  1e-6);
  expect_near_all(out[3],
                  {0.494514108,
                   -0.123855308,
                   -0.370686412,
                   -0.0312319174,
                   0.437087178,
                   -0.29558894,
                   -0.0312319156,
                   -0.370686412,
                   -0.268768013,
                   0.183688983,
                   0,
                   0.241134524,
                   0.241134554,
                   -0.241134554,
                   0.123855308,
                   -0.346587837,
                   -0.241134554,
                   0.457222939,
                   -0.212751061,
                   0.476361692,
                   -0.0623557195,
                   -0.370686412,
                   0.123855315,
                   -0.212751061},
                  1e-6);
}

TEST(Attention, FullyMaskedRowIsZeroEvenWithNanScores) {
  // Query 0 may attend nothing (its mask row is all false): Y and the mode-3 probabilities
  // are zero for it, although its scores are NaN. Query 1 attends key 1 only.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor q = f32({1, 1, 2, 2}, {nan, 1, 1, 0});
  const Tensor k = f32({1, 1, 2, 2}, {1, 0, 0, 1});
  const Tensor v = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor mask = bool_tensor({2, 2}, {0, 0, 0, 1});
  auto out = run_op("Attention", {q, k, v, mask}, {{"qk_matmul_output_mode", int64_t(3)}}, 4);
  expect_near_all(out[0], {0, 0, 3, 4}, 0);
  expect_near_all(out[3], {0, 0, 0, 1}, 0);
}

TEST(Attention, Float16StorageAndIsCausal) {
  // Causal self-attention of 2 tokens: query 0 sees key 0 only, so Y[0] = V[0] exactly; query
  // 1 sees both with scores (q1 . k) / sqrt(2) = (0, 1) / sqrt(2).
  auto half = [](Dims shape, const std::vector<float>& values) {
    std::vector<uint16_t> bits;
    for (float x : values) bits.push_back(float_to_fp16(x));
    return Tensor::from_vector<uint16_t>(DataType::kFloat16, std::move(shape), bits);
  };
  auto out = run_op("Attention",
                    {half({1, 1, 2, 2}, {1, 0, 0, 1}), half({1, 1, 2, 2}, {1, 0, 0, 1}),
                     half({1, 1, 2, 2}, {2, -2, 4, 6})},
                    {{"is_causal", int64_t(1)}});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat16);
  const double p1 = 1.0 / (1.0 + std::exp(1.0 / std::sqrt(2.0)));  // weight of key 0
  expect_near_all(out[0], {2, -2, p1 * 2 + (1 - p1) * 4, p1 * -2 + (1 - p1) * 6}, 4e-3);
}

TEST(Attention, RejectsBadShapesAndAttributes) {
  const Tensor q3 = f32({1, 2, 4}, pattern(8, 7, 11));
  // 3-D inputs without head counts.
  EXPECT_THROW(run_op("Attention", {q3, q3, q3}), Error);
  // Query heads not a multiple of key/value heads.
  EXPECT_THROW(run_op("Attention",
                      {f32({1, 3, 2, 2}, pattern(12, 7, 11)), f32({1, 2, 2, 2}, pattern(8, 5, 7)),
                       f32({1, 2, 2, 2}, pattern(8, 3, 5))}),
               Error);
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  // A mask that does not broadcast over the query length, and one longer than the keys.
  EXPECT_THROW(run_op("Attention", {x, x, x, f32({3, 2}, {0, 0, 0, 0, 0, 0})}), Error);
  EXPECT_THROW(run_op("Attention", {x, x, x, f32({2, 3}, {0, 0, 0, 0, 0, 0})}), Error);
  // past_key without past_value.
  EXPECT_THROW(run_op("Attention", {x, x, x, Tensor(), x}), Error);
  EXPECT_THROW(run_op("Attention", {x, x, x}, {{"qk_matmul_output_mode", int64_t(4)}}), Error);
  EXPECT_THROW(run_op("Attention", {x, x, x}, {{"left_window_size", int64_t(-2)}}), Error);
}

}  // namespace
}  // namespace kiln

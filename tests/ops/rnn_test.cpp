// RNN, GRU and LSTM against onnxruntime and a hand-computed step. The expected numbers were
// produced with onnxruntime 1.32 (CPU, float32) from inputs built by `pattern` below; the numpy
// spelling of each input is given with the test. onnxruntime is the reference for what the ONNX
// text leaves open (clip, alpha/beta consumption, sequence_lens, input_forget).
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

// numpy: (scale * ((np.arange(n) * mult % 11) - 5) / 5).astype(np.float32).reshape(shape)
Tensor pattern(Dims shape, int64_t mult, float scale) {
  std::vector<float> v(size_t(volume(shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = scale * float(int64_t(i) * mult % 11 - 5) / 5.0f;
  }
  return f32(std::move(shape), v);
}

Tensor i32(Dims shape, std::vector<int32_t> values) {
  return Tensor::from_vector<int32_t>(DataType::kInt32, std::move(shape), values);
}

void expect_values(const Tensor& t, Dims shape, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

constexpr int64_t S = 2, B = 2, I = 2, H = 2;

TEST(Rnn, SingleStepByHand) {
  // h = tanh(W x + R h0 + Wb + Rb) = tanh(0.5*1 - 1*2 + 0.25*0.4 + 0.1 + 0.2) = tanh(-1.1)
  auto out = run_op("RNN",
                    {f32({1, 1, 2}, {1, 2}), f32({1, 1, 2}, {0.5f, -1}), f32({1, 1, 1}, {0.25f}),
                     f32({1, 2}, {0.1f, 0.2f}), Tensor(), f32({1, 1, 1}, {0.4f})},
                    {{"hidden_size", int64_t(1)}}, 2);
  expect_values(out[0], {1, 1, 1, 1}, {std::tanh(-1.1)}, 1e-6);
  expect_values(out[1], {1, 1, 1}, {std::tanh(-1.1)}, 1e-6);
}

// X = pattern((2,2,2),3,1), W = pattern((2,2,2),5,1.5), R = pattern((2,2,2),7,1),
// B = pattern((2,4),2,0.5), sequence_lens = [2,1], initial_h = pattern((2,2,2),4,0.8).
TEST(Rnn, BidirectionalActivationsAlphaBetaClipAndSequenceLengths) {
  ir::Attributes attrs = {{"hidden_size", H},
                          {"direction", std::string("bidirectional")},
                          {"activations", std::vector<std::string>{"LeakyRelu", "ScaledTanh"}},
                          {"activation_alpha", std::vector<double>{0.3, 1.5}},
                          {"activation_beta", std::vector<double>{0.8}},
                          {"clip", 0.7}};
  auto out =
      run_op("RNN",
             {pattern({S, B, I}, 3, 1), pattern({2, H, I}, 5, 1.5f), pattern({2, H, H}, 7, 1),
              pattern({2, 2 * H}, 2, 0.5f), i32({B}, {2, 1}), pattern({2, B, H}, 4, 0.8f)},
             attrs, 2);
  expect_values(out[0], {S, 2, B, H},
                {0.7, -0.21, -0.21, -0.21, -0.7619661, -0.7619661, -0.6024565, -0.6922318,
                 -0.05519999, -0.21, 0, 0, -0.7619661, -0.2845124, 0, 0},
                1e-5);
  expect_values(out[1], {2, B, H},
                {-0.05519999, -0.21, -0.21, -0.21, -0.7619661, -0.7619661, -0.6024565, -0.6922318},
                1e-5);
}

// X, W (3 gates), R, B, initial_h as above with 3*H rows; sequence_lens = [2,1].
std::vector<Tensor> gru_inputs() {
  return {pattern({S, B, I}, 3, 1),
          pattern({1, 3 * H, I}, 5, 1.5f),
          pattern({1, 3 * H, H}, 7, 1),
          pattern({1, 6 * H}, 2, 0.5f),
          i32({B}, {2, 1}),
          pattern({1, B, H}, 4, 0.8f)};
}

TEST(Gru, ReverseLinearBeforeResetWithCustomActivations) {
  ir::Attributes attrs = {{"hidden_size", H},
                          {"direction", std::string("reverse")},
                          {"linear_before_reset", int64_t(1)},
                          {"clip", 0.9},
                          {"activations", std::vector<std::string>{"HardSigmoid", "Affine"}},
                          {"activation_alpha", std::vector<double>{0.3, 0.6}},
                          {"activation_beta", std::vector<double>{0.4, 0.1}}};
  auto out = run_op("GRU", gru_inputs(), attrs, 2);
  expect_values(out[0], {S, 1, B, H},
                {-0.218882, 0.464729, -0.2173864, -0.3201006, -0.4668215, 0.3457415, 0, 0}, 1e-5);
  expect_values(out[1], {1, B, H}, {-0.218882, 0.464729, -0.2173864, -0.3201006}, 1e-5);
}

TEST(Gru, DefaultsInFloat32Float64AndFloat16) {
  // X, W, R, B of gru_inputs() only.
  const std::vector<double> y = {0.1852032, 0.252746,     -0.106896,  -0.4953747,
                                 0.3066844, -0.009261951, -0.2906604, -0.7098073};
  std::vector<Tensor> inputs = gru_inputs();
  inputs.resize(4);
  auto out = run_op("GRU", inputs, {{"hidden_size", H}}, 2);
  expect_values(out[0], {S, 1, B, H}, y, 1e-5);
  expect_values(out[1], {1, B, H}, {y.begin() + 4, y.end()}, 1e-5);

  std::vector<Tensor> as_f64, as_f16;
  for (const Tensor& t : inputs) {
    as_f64.push_back(t.cast(DataType::kFloat64));
    as_f16.push_back(t.cast(DataType::kFloat16));
  }
  auto out64 = run_op("GRU", as_f64, {{"hidden_size", H}}, 1);
  ASSERT_EQ(out64[0].dtype(), DataType::kFloat64);
  expect_values(out64[0], {S, 1, B, H}, y, 1e-6);  // the inputs are exact in float32
  // float16 inputs (pattern values are multiples of 0.06 and 0.1: rounded) and output.
  auto out16 = run_op("GRU", as_f16, {{"hidden_size", H}}, 1);
  ASSERT_EQ(out16[0].dtype(), DataType::kFloat16);
  expect_values(out16[0], {S, 1, B, H}, y, 3e-3);
}

// X, W, R, B as above with 4 gates and 2 directions; sequence_lens = [2,0];
// initial_h = pattern((2,2,2),4,0.8), initial_c = pattern((2,2,2),6,0.9), P = pattern((2,6),9,1).
std::vector<Tensor> lstm_inputs() {
  return {pattern({S, B, I}, 3, 1),
          pattern({2, 4 * H, I}, 5, 1.5f),
          pattern({2, 4 * H, H}, 7, 1),
          pattern({2, 8 * H}, 2, 0.5f),
          i32({B}, {2, 0}),
          pattern({2, B, H}, 4, 0.8f),
          pattern({2, B, H}, 6, 0.9f),
          pattern({2, 3 * H}, 9, 1)};
}

ir::Attributes lstm_attrs() {
  return {{"hidden_size", H},
          {"direction", std::string("bidirectional")},
          {"input_forget", int64_t(1)},
          {"clip", 0.5}};
}

TEST(Lstm, BidirectionalPeepholesInputForgetClipAndEmptySequence) {
  auto out = run_op("LSTM", lstm_inputs(), lstm_attrs(), 3);
  // The second batch entry has length 0: its outputs and final states are zero.
  expect_values(out[0], {S, 2, B, H},
                {-0.2100199, -0.02353755, 0, 0, -0.2745392, 0.108668, 0, 0, -0.1816688, -0.03088255,
                 0, 0, -0.2834822, 0.1687838, 0, 0},
                1e-5);
  expect_values(out[1], {2, B, H}, {-0.1816688, -0.03088255, 0, 0, -0.2745392, 0.108668, 0, 0},
                1e-5);
  expect_values(out[2], {2, B, H}, {-0.5245317, -0.08198245, 0, 0, -0.4735408, 0.1763853, 0, 0},
                1e-5);
}

// Swaps the first two axes of a float tensor.
Tensor swap_leading_axes(const Tensor& t) {
  const Dims& s = t.shape();
  Dims swapped = s;
  std::swap(swapped[0], swapped[1]);
  const int64_t inner = volume(s) / (s[0] * s[1]);
  std::vector<float> v(size_t(t.numel()));
  for (int64_t a = 0; a < s[0]; ++a) {
    for (int64_t b = 0; b < s[1]; ++b) {
      for (int64_t k = 0; k < inner; ++k) {
        v[size_t((b * s[0] + a) * inner + k)] = float(t.as_double((a * s[1] + b) * inner + k));
      }
    }
  }
  return f32(swapped, v);
}

TEST(Lstm, BatchMajorLayoutTransposesInputsAndOutputs) {
  auto seq_major = run_op("LSTM", lstm_inputs(), lstm_attrs(), 3);
  std::vector<Tensor> inputs = lstm_inputs();
  for (size_t i : {0, 5, 6}) inputs[i] = swap_leading_axes(inputs[i]);  // X, initial_h/c
  ir::Attributes attrs = lstm_attrs();
  attrs["layout"] = int64_t(1);
  auto batch_major = run_op("LSTM", inputs, attrs, 3);
  // Y: [seq, dirs, batch, hidden] vs [batch, seq, dirs, hidden].
  ASSERT_EQ(batch_major[0].shape(), (Dims{B, S, 2, H}));
  for (int64_t t = 0; t < S; ++t) {
    for (int64_t d = 0; d < 2; ++d) {
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < H; ++h) {
          EXPECT_EQ(batch_major[0].as_double(((b * S + t) * 2 + d) * H + h),
                    seq_major[0].as_double(((t * 2 + d) * B + b) * H + h));
        }
      }
    }
  }
  for (int k : {1, 2}) {
    const Tensor expected = swap_leading_axes(seq_major[size_t(k)]);
    expect_values(batch_major[size_t(k)], {B, 2, H}, expected.to_double_vector(), 0);
  }
}

TEST(Rnn, RejectsInconsistentShapesAndAttributes) {
  const Tensor x = pattern({S, B, I}, 3, 1);
  const Tensor w = pattern({1, H, I}, 5, 1);
  const Tensor r = pattern({1, H, H}, 7, 1);
  auto run = [&](std::vector<Tensor> in, ir::Attributes attrs) {
    attrs["hidden_size"] = H;
    return run_op("RNN", in, attrs, 2);
  };
  EXPECT_NO_THROW(run({x, w, r}, {}));
  EXPECT_THROW(run({x, pattern({1, H, 3}, 5, 1), r}, {}), Error);  // W's input size
  EXPECT_THROW(run({x, w, r}, {{"direction", std::string("bidirectional")}}), Error);
  EXPECT_THROW(run({x, w, r}, {{"direction", std::string("sideways")}}), Error);
  EXPECT_THROW(run({x, w, r}, {{"activations", std::vector<std::string>{"Gelu"}}}), Error);
  EXPECT_THROW(run({x, w, r}, {{"layout", int64_t(2)}}), Error);
  EXPECT_THROW(run({x, w, r, pattern({1, H}, 1, 1)}, {}), Error);       // B too short
  EXPECT_THROW(run({pattern({S, B}, 3, 1), w, r}, {}), Error);          // X rank 2
  EXPECT_THROW(run({x, w, r, Tensor(), i32({B}, {3, 1})}, {}), Error);  // length > seq
  EXPECT_THROW(run_op("RNN", {x, w, r}, {{"hidden_size", int64_t(3)}}, 2), Error);
  EXPECT_THROW(run_op("GRU", {x, w, r}, {{"hidden_size", H}}, 2), Error);  // 1 gate, not 3
}

}  // namespace
}  // namespace kiln

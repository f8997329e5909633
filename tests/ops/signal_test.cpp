// DFT, STFT, the window generators and MelWeightMatrix against plain float64 loops written
// here, hand-computed values, and numbers from numpy / the ONNX reference pasted in.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

using Complex = std::complex<double>;

// sum_t x[t] e^(-2 pi i k t / n) for k in [0, n), straight from the definition.
std::vector<Complex> reference_dft(const std::vector<Complex>& x) {
  const size_t n = x.size();
  std::vector<Complex> y(n);
  for (size_t k = 0; k < n; ++k) {
    for (size_t t = 0; t < n; ++t) {
      const double angle = -2.0 * std::numbers::pi * double(k * t) / double(n);
      y[k] += x[t] * Complex(std::cos(angle), std::sin(angle));
    }
  }
  return y;
}

void expect_complex_near(const Tensor& t, const std::vector<Complex>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(2 * expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(2 * i)), expected[i].real(), tol) << "real " << i;
    EXPECT_NEAR(t.as_double(int64_t(2 * i + 1)), expected[i].imag(), tol) << "imag " << i;
  }
}

void expect_near_all(const Tensor& t, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

TEST(Dft, RealForwardMatchesDefinition) {
  const std::vector<float> x = {1, 2, 0, -1, 3};
  auto out = run_op("DFT", {f32({1, 5, 1}, x)});
  ASSERT_EQ(out[0].shape(), (Dims{1, 5, 2}));
  expect_complex_near(out[0], reference_dft({1, 2, 0, -1, 3}), 1e-5);
}

TEST(Dft, AxisZeroOnComplexInput) {
  // x[t, j] = (t + j, t - 2j): two independent complex signals along axis 0.
  std::vector<float> x;
  for (int t = 0; t < 3; ++t) {
    for (int j = 0; j < 2; ++j) {
      x.push_back(float(t + j));
      x.push_back(float(t - 2 * j));
    }
  }
  auto out = run_op("DFT", {f32({3, 2, 2}, x), Tensor(), i64({}, {0})});
  ASSERT_EQ(out[0].shape(), (Dims{3, 2, 2}));
  for (int j = 0; j < 2; ++j) {
    std::vector<Complex> line;
    for (int t = 0; t < 3; ++t) line.emplace_back(t + j, t - 2 * j);
    const std::vector<Complex> expected = reference_dft(line);
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(out[0].as_double((k * 2 + j) * 2), expected[size_t(k)].real(), 1e-5);
      EXPECT_NEAR(out[0].as_double((k * 2 + j) * 2 + 1), expected[size_t(k)].imag(), 1e-5);
    }
  }
}

TEST(Dft, OnesidedZeroPaddedMatchesNumpyRfft) {
  // numpy: np.fft.rfft([1, 2, 0, -1, 3], n=6) = [5, 1.5+0.8660254j, -2.5-4.33012702j, 3]
  auto out =
      run_op("DFT", {f32({1, 5, 1}, {1, 2, 0, -1, 3}), i64({}, {6})}, {{"onesided", int64_t(1)}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 4, 2}));
  expect_complex_near(out[0], {{5, 0}, {1.5, 0.8660254}, {-2.5, -4.33012702}, {3, 0}}, 1e-5);
}

TEST(Dft, InverseUndoesForward) {
  const Tensor x = f32({1, 4, 2}, {1, -1, 2, 0.5f, -3, 2, 0.25f, 4});
  auto spectrum = run_op("DFT", {x});
  auto back = run_op("DFT", {spectrum[0]}, {{"inverse", int64_t(1)}});
  ASSERT_EQ(back[0].shape(), (Dims{1, 4, 2}));
  expect_near_all(back[0], x.to_double_vector(), 1e-5);
}

TEST(Dft, IrfftRebuildsRealSignal) {
  // numpy: np.fft.rfft([1, 2, 0, -1, 3, 0.5]) = [5.5, 1.75+1.29903811j, -2.75-3.89711432j, 2.5];
  // the default dft_length of an IRFFT is 2 * (4 - 1) = 6.
  auto out =
      run_op("DFT", {f32({1, 4, 2}, {5.5f, 0, 1.75f, 1.29903811f, -2.75f, -3.89711432f, 2.5f, 0})},
             {{"inverse", int64_t(1)}, {"onesided", int64_t(1)}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 6, 1}));
  expect_near_all(out[0], {1, 2, 0, -1, 3, 0.5}, 1e-5);
}

TEST(Dft, RejectsBadAxisAndShape) {
  // Axis -1 is the complex-parts dimension.
  EXPECT_THROW(run_op("DFT", {f32({1, 4, 1}, {1, 2, 3, 4}), Tensor(), i64({}, {-1})}), Error);
  EXPECT_THROW(run_op("DFT", {f32({2, 3}, {1, 2, 3, 4, 5, 6})}), Error);
  EXPECT_THROW(run_op("DFT", {f32({1, 4, 1}, {1, 2, 3, 4}), i64({}, {0})}), Error);
}

TEST(Stft, WindowedFramesMatchDefinition) {
  std::vector<float> signal(10);
  for (size_t i = 0; i < signal.size(); ++i) signal[i] = float(std::sin(0.7 * double(i)) + 0.1 * i);
  const std::vector<float> window = {0.25f, 1.0f, 0.5f, 0.75f};
  auto out = run_op("STFT", {f32({1, 10, 1}, signal), i64({}, {3}), f32({4}, window)});
  // frames = (10 - 4) / 3 + 1 = 3; onesided bins = 4 / 2 + 1 = 3.
  ASSERT_EQ(out[0].shape(), (Dims{1, 3, 3, 2}));
  for (int f = 0; f < 3; ++f) {
    std::vector<Complex> frame;
    for (int t = 0; t < 4; ++t)
      frame.emplace_back(double(window[size_t(t)]) * signal[size_t(f * 3 + t)]);
    const std::vector<Complex> expected = reference_dft(frame);
    for (int k = 0; k < 3; ++k) {
      EXPECT_NEAR(out[0].as_double((f * 3 + k) * 2), expected[size_t(k)].real(), 1e-5);
      EXPECT_NEAR(out[0].as_double((f * 3 + k) * 2 + 1), expected[size_t(k)].imag(), 1e-5);
    }
  }
}

TEST(Stft, FrameLengthWithoutWindowAndTwoSided) {
  auto out =
      run_op("STFT", {f32({1, 5, 1}, {1, 2, 0, -1, 3}), i64({}, {1}), Tensor(), i64({}, {5})},
             {{"onesided", int64_t(0)}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 1, 5, 2}));
  expect_complex_near(out[0], reference_dft({1, 2, 0, -1, 3}), 1e-5);
  // A window that disagrees with frame_length, and a frame longer than the signal.
  EXPECT_THROW(run_op("STFT", {f32({1, 5, 1}, {1, 2, 0, -1, 3}), i64({}, {1}), f32({3}, {1, 1, 1}),
                               i64({}, {4})}),
               Error);
  EXPECT_THROW(
      run_op("STFT", {f32({1, 5, 1}, {1, 2, 0, -1, 3}), i64({}, {1}), Tensor(), i64({}, {6})}),
      Error);
}

TEST(Windows, HandComputedValues) {
  // Hann periodic 4: 0.5 - 0.5 cos(2 pi n / 4) = [0, 0.5, 1, 0.5]
  expect_near_all(run_op("HannWindow", {i64({}, {4})})[0], {0, 0.5, 1, 0.5}, 1e-7);
  // Hann symmetric 5: denominator 4: [0, 0.5, 1, 0.5, 0]
  expect_near_all(run_op("HannWindow", {i64({}, {5})}, {{"periodic", int64_t(0)}})[0],
                  {0, 0.5, 1, 0.5, 0}, 1e-7);
  // Hamming symmetric 3, alpha = 25/46: ends alpha - (1 - alpha) = 4/46, middle 1.
  expect_near_all(run_op("HammingWindow", {i64({}, {3})}, {{"periodic", int64_t(0)}})[0],
                  {4.0 / 46, 1, 4.0 / 46}, 1e-7);
  // Blackman periodic 4: 0.42 - 0.5 cos(pi n / 2) + 0.08 cos(pi n) = [0, 0.34, 1, 0.34]
  auto blackman =
      run_op("BlackmanWindow", {i64({}, {4})}, {{"output_datatype", int64_t(DataType::kFloat64)}});
  EXPECT_EQ(blackman[0].dtype(), DataType::kFloat64);
  expect_near_all(blackman[0], {0, 0.34, 1, 0.34}, 1e-12);
  // Integer output truncates: only the peak 1.0 survives.
  auto ints =
      run_op("HannWindow", {i64({}, {4})}, {{"output_datatype", int64_t(DataType::kInt32)}});
  EXPECT_EQ(ints[0].dtype(), DataType::kInt32);
  EXPECT_EQ(ints[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 1, 0}));
  EXPECT_THROW(run_op("HannWindow", {i64({}, {-1})}), Error);
  EXPECT_THROW(run_op("HannWindow", {f32({}, {4})}), Error);
}

TEST(MelWeightMatrix, MatchesOnnxReference) {
  // onnx.reference.ops.op_mel_weight_matrix.MelWeightMatrix with num_mel_bins=3,
  // dft_length=16, sample_rate=8000, lower_edge_hertz=0, upper_edge_hertz=4000.
  auto out = run_op("MelWeightMatrix",
                    {i64({}, {3}), i64({}, {16}), i64({}, {8000}), f32({}, {0}), f32({}, {4000})});
  ASSERT_EQ(out[0].shape(), (Dims{9, 3}));
  expect_near_all(out[0], {1,   0, 0, 0, 1, 0, 0, 0.5, 0.5, 0, 0, 1, 0, 0,
                           0.5, 0, 0, 0, 0, 0, 0, 0,   0,   0, 0, 0, 0},
                  1e-7);
  // Same reference with num_mel_bins=2, dft_length=10, sample_rate=1000, edges 50 and 400.
  auto small = run_op("MelWeightMatrix", {i64({}, {2}), i64({}, {10}), i64({}, {1000}),
                                          f32({}, {50}), f32({}, {400})});
  expect_near_all(small[0], {0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}, 1e-7);
  EXPECT_THROW(run_op("MelWeightMatrix", {i64({}, {0}), i64({}, {16}), i64({}, {8000}),
                                          f32({}, {0}), f32({}, {4000})}),
               Error);
}

}  // namespace
}  // namespace kiln

// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul,
// ConvInteger and QLinearConv against hand-computed values and plain loops written here.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

template <typename T>
Tensor make(DataType type, Dims shape, std::vector<T> values) {
  return Tensor::from_vector<T>(type, std::move(shape), values);
}
Tensor u8(Dims shape, std::vector<uint8_t> v) { return make(DataType::kUInt8, shape, v); }
Tensor s8(Dims shape, std::vector<int8_t> v) { return make(DataType::kInt8, shape, v); }
Tensor i32(Dims shape, std::vector<int32_t> v) { return make(DataType::kInt32, shape, v); }

std::vector<double> values_of(const Tensor& t) { return t.to_double_vector(); }

// ---------------------------------------------------------------------------------------------
// QuantizeLinear

TEST(QuantizeLinear, PerTensorRoundsHalfToEvenAndSaturates) {
  // x / 2 + 128: 0 -> 128, 1 -> 129, 1.5 -> 2 (even) -> 130, 2.5 -> 2 -> 130, 500 -> 255,
  // -127 -> 1, -500 -> 0.
  auto y = run_op("QuantizeLinear",
                  {f32({7}, {0, 2, 3, 5, 1000, -254, -1000}), f32({}, {2}), u8({}, {128})});
  ASSERT_EQ(y[0].dtype(), DataType::kUInt8);
  EXPECT_EQ(values_of(y[0]), (std::vector<double>{128, 129, 130, 130, 255, 1, 0}));
  // Without a zero point: uint8, zero point 0.
  auto plain = run_op("QuantizeLinear", {f32({3}, {-3, 7.4f, 300}), f32({}, {1})});
  ASSERT_EQ(plain[0].dtype(), DataType::kUInt8);
  EXPECT_EQ(values_of(plain[0]), (std::vector<double>{0, 7, 255}));
}

TEST(QuantizeLinear, PerAxisAndBlockedMatchLoops) {
  // Per axis 1 of a [2, 3, 2] tensor, int8.
  std::vector<float> x(12);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) * 7.3f - 40.0f;
  const std::vector<float> scale = {0.5f, 2.0f, 0.25f};
  const std::vector<int8_t> zero = {-3, 0, 100};
  auto y = run_op("QuantizeLinear", {f32({2, 3, 2}, x), f32({3}, scale), s8({3}, zero)});
  ASSERT_EQ(y[0].dtype(), DataType::kInt8);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 2) % 3;
    const double expected =
        std::clamp(std::nearbyint(double(x[i] / scale[c])) + zero[c], -128.0, 127.0);
    EXPECT_EQ(y[0].as_double(int64_t(i)), expected) << "element " << i;
  }

  // Blocked along axis 1 of a [2, 5] tensor, block 2 (blocks {0,1}, {2,3}, {4}), int16 chosen
  // through output_dtype with no zero point.
  std::vector<float> xb = {1, -2, 30, 41, 500, -6, 7.5f, -8.5f, 9, 1000};
  std::vector<float> sb = {0.5f, 0.1f, 2.0f, 4.0f, 0.02f, 0.001f};
  auto yb = run_op("QuantizeLinear", {f32({2, 5}, xb), f32({2, 3}, sb)},
                   {{"axis", int64_t(1)},
                    {"block_size", int64_t(2)},
                    {"output_dtype", int64_t(DataType::kInt16)}});
  ASSERT_EQ(yb[0].dtype(), DataType::kInt16);
  for (size_t r = 0; r < 2; ++r) {
    for (size_t c = 0; c < 5; ++c) {
      const float s = sb[r * 3 + c / 2];
      const double expected =
          std::clamp(std::nearbyint(double(xb[r * 5 + c] / s)), -32768.0, 32767.0);
      EXPECT_EQ(yb[0].as_double(int64_t(r * 5 + c)), expected) << r << "," << c;
    }
  }
}

TEST(QuantizeLinear, Float8SaturatesOrOverflows) {
  const Tensor x = f32({4}, {0.0f, 1.0f, 500.0f, -1e6f});
  auto sat =
      run_op("QuantizeLinear", {x, f32({}, {1}), make<uint8_t>(DataType::kFloat8E4M3, {}, {0})});
  ASSERT_EQ(sat[0].dtype(), DataType::kFloat8E4M3);
  // e4m3fn codes: 0 -> 0x00, 1 -> 0x38, 500 clamps to 448 (0x7e), -1e6 to -448 (0xfe).
  const uint8_t* s = sat[0].data<uint8_t>();
  EXPECT_EQ(std::vector<int>(s, s + 4), (std::vector<int>{0x00, 0x38, 0x7e, 0xfe}));
  auto nosat =
      run_op("QuantizeLinear", {x, f32({}, {1}), make<uint8_t>(DataType::kFloat8E5M2, {}, {0})},
             {{"saturate", int64_t(0)}});
  // e5m2 codes: 1 -> 0x3c, 500 -> 512 (0x60), -1e6 -> -inf (0xfc) without saturation.
  const uint8_t* n = nosat[0].data<uint8_t>();
  EXPECT_EQ(std::vector<int>(n, n + 4), (std::vector<int>{0x00, 0x3c, 0x60, 0xfc}));
}

TEST(QuantizeLinear, Float16ScaleDividesInFloat16) {
  // The scale's type sets the division's precision: float32 x = 701.3 rounds to float16 701.5
  // (spacing 0.5 there), a tie that goes to 702 (even); float32 division would give 701.
  // 2.5 / 1 is a tie in any precision: 2.
  const Tensor x = f32({2}, {701.3f, 2.5f});
  auto y =
      run_op("QuantizeLinear", {x, make<uint16_t>(DataType::kFloat16, {}, {float_to_fp16(1.0f)}),
                                make<uint16_t>(DataType::kUInt16, {}, {0})});
  ASSERT_EQ(y[0].dtype(), DataType::kUInt16);
  EXPECT_EQ(values_of(y[0]), (std::vector<double>{702, 2}));
  auto y32 =
      run_op("QuantizeLinear", {x, f32({}, {1}), make<uint16_t>(DataType::kUInt16, {}, {0})});
  EXPECT_EQ(values_of(y32[0]), (std::vector<double>{701, 2}));
}

TEST(QuantizeLinear, RejectsInconsistentParameters) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  // Per-axis scale of the wrong length (axis 1 has 3).
  EXPECT_THROW(run_op("QuantizeLinear", {x, f32({2}, {1, 1})}), Error);
  // Zero point shape differs from the scale's.
  EXPECT_THROW(run_op("QuantizeLinear", {x, f32({3}, {1, 1, 1}), u8({1}, {0})}), Error);
  // output_dtype disagrees with the zero point.
  EXPECT_THROW(run_op("QuantizeLinear", {x, f32({}, {1}), u8({}, {0})},
                      {{"output_dtype", int64_t(DataType::kInt8)}}),
               Error);
  // Not a quantized type; a blocked scale that does not fit block_size; a bad axis.
  EXPECT_THROW(
      run_op("QuantizeLinear", {x, f32({}, {1})}, {{"output_dtype", int64_t(DataType::kInt32)}}),
      Error);
  EXPECT_THROW(run_op("QuantizeLinear", {x, f32({2, 1}, {1, 1})},
                      {{"axis", int64_t(1)}, {"block_size", int64_t(2)}}),
               Error);
  EXPECT_THROW(run_op("QuantizeLinear", {x, f32({3}, {1, 1, 1})}, {{"axis", int64_t(2)}}), Error);
}

// ---------------------------------------------------------------------------------------------
// DequantizeLinear

TEST(DequantizeLinear, PerTensorPerAxisAndBlocked) {
  // (x - zp) * scale: (0-128)*2, (3-128)*2, (128-128)*2, (255-128)*2.
  auto y = run_op("DequantizeLinear", {u8({4}, {0, 3, 128, 255}), f32({}, {2}), u8({}, {128})});
  ASSERT_EQ(y[0].dtype(), DataType::kFloat32);
  EXPECT_EQ(values_of(y[0]), (std::vector<double>{-256, -250, 0, 254}));

  // Per axis 0 of a [2, 3] int8 tensor.
  auto axis = run_op("DequantizeLinear",
                     {s8({2, 3}, {-128, 0, 127, 5, 6, 7}), f32({2}, {0.5f, 3}), s8({2}, {1, -1})},
                     {{"axis", int64_t(0)}});
  EXPECT_EQ(values_of(axis[0]), (std::vector<double>{-64.5, -0.5, 63, 18, 21, 24}));

  // Blocked along axis 0 of a [3, 2] tensor with block 2: rows {0, 1} and {2}.
  auto blocked = run_op(
      "DequantizeLinear",
      {u8({3, 2}, {10, 20, 30, 40, 50, 60}), f32({2, 2}, {1, 2, 3, 4}), u8({2, 2}, {10, 0, 50, 1})},
      {{"axis", int64_t(0)}, {"block_size", int64_t(2)}});
  EXPECT_EQ(values_of(blocked[0]), (std::vector<double>{0, 40, 20, 80, 0, 236}));
}

TEST(DequantizeLinear, Int32Float8AndOutputDtype) {
  // int32 with no zero point; output float16 through output_dtype.
  auto y = run_op("DequantizeLinear", {i32({3}, {-120000, 3, 7}), f32({}, {0.5f})},
                  {{"output_dtype", int64_t(DataType::kFloat16)}});
  ASSERT_EQ(y[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(values_of(y[0]), (std::vector<double>{-60000, 1.5, 3.5}));
  // float8 e4m3fn codes 0x38 (1.0), 0xc4 (-3.0), 0x7e (448) times a float16 scale of 0.5.
  auto f8 =
      run_op("DequantizeLinear", {make<uint8_t>(DataType::kFloat8E4M3, {3}, {0x38, 0xc4, 0x7e}),
                                  make<uint16_t>(DataType::kFloat16, {}, {float_to_fp16(0.5f)})});
  ASSERT_EQ(f8[0].dtype(), DataType::kFloat16);
  EXPECT_EQ(values_of(f8[0]), (std::vector<double>{0.5, -1.5, 224}));
}

TEST(DequantizeLinear, RejectsBadTypes) {
  EXPECT_THROW(run_op("DequantizeLinear", {f32({2}, {1, 2}), f32({}, {1})}), Error);
  EXPECT_THROW(run_op("DequantizeLinear", {u8({2}, {1, 2}), f32({}, {1}), s8({}, {0})}), Error);
  EXPECT_THROW(run_op("DequantizeLinear", {u8({2}, {1, 2}), f32({}, {1})},
                      {{"output_dtype", int64_t(DataType::kInt32)}}),
               Error);
}

// ---------------------------------------------------------------------------------------------
// DynamicQuantizeLinear

TEST(DynamicQuantizeLinear, SpecExample) {
  // The ONNX spec's example; values from the formulas in float32 with numpy:
  // scale = (2 - -3) / 255 = 0.019607844, zero point = rint(3 / scale) = 153.
  auto out = run_op("DynamicQuantizeLinear", {f32({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f})}, {}, 3);
  EXPECT_EQ(values_of(out[0]), (std::vector<double>{153, 255, 0, 26, 221, 179}));
  EXPECT_FLOAT_EQ(out[1].data<float>()[0], 5.0f / 255.0f);
  EXPECT_EQ(out[2].data<uint8_t>()[0], 153);
  // All positive: the range is extended to 0, so the zero point is 0.
  auto pos = run_op("DynamicQuantizeLinear", {f32({3}, {1, 2, 5.1f})}, {}, 3);
  EXPECT_EQ(out[2].shape(), Dims{});
  EXPECT_EQ(pos[2].data<uint8_t>()[0], 0);
  EXPECT_EQ(values_of(pos[0]), (std::vector<double>{50, 100, 255}));
  EXPECT_THROW(run_op("DynamicQuantizeLinear", {u8({1}, {1})}, {}, 3), Error);
}

// ---------------------------------------------------------------------------------------------
// MatMulInteger and QLinearMatMul

TEST(MatMulInteger, ZeroPointsAndSignedOperands) {
  // (A - 1) @ (B - (-2)) with A uint8 [2, 3] and B int8 [3, 2]:
  // A-1 = [[0, 1, 2], [9, 19, 29]], B+2 = [[3, -1], [2, 0], [-3, 4]]
  // rows: [0*3+1*2+2*-3, 0*-1+0+2*4] = [-4, 8]; [27+38-87, -9+0+116] = [-22, 107].
  auto y = run_op("MatMulInteger", {u8({2, 3}, {1, 2, 3, 10, 20, 30}),
                                    s8({3, 2}, {1, -3, 0, -2, -5, 2}), u8({}, {1}), s8({}, {-2})});
  ASSERT_EQ(y[0].dtype(), DataType::kInt32);
  EXPECT_EQ(values_of(y[0]), (std::vector<double>{-4, 8, -22, 107}));
}

TEST(MatMulInteger, BatchBroadcastAndPerRowZeroPointMatchLoop) {
  // A [2, 1, 2, 3] against B [3, 3, 2]: batch broadcasts to [2, 3]; A's zero point per row.
  std::vector<uint8_t> a(12), b(18);
  for (size_t i = 0; i < a.size(); ++i) a[i] = uint8_t((i * 37) % 256);
  for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t((i * 91 + 7) % 256);
  const std::vector<uint8_t> a_zero = {3, 200};
  auto y = run_op("MatMulInteger", {u8({2, 1, 2, 3}, a), u8({3, 3, 2}, b), u8({2}, a_zero)});
  ASSERT_EQ(y[0].shape(), (Dims{2, 3, 2, 2}));
  for (int p = 0; p < 2; ++p) {
    for (int q = 0; q < 3; ++q) {
      for (int m = 0; m < 2; ++m) {
        for (int n = 0; n < 2; ++n) {
          int64_t sum = 0;
          for (int k = 0; k < 3; ++k) {
            sum += (int64_t(a[size_t(p * 6 + m * 3 + k)]) - a_zero[size_t(m)]) *
                   int64_t(b[size_t(q * 6 + k * 2 + n)]);
          }
          EXPECT_EQ(y[0].as_int64(((p * 3 + q) * 2 + m) * 2 + n), sum);
        }
      }
    }
  }
  // Inner extents that differ.
  EXPECT_THROW(run_op("MatMulInteger", {u8({2, 3}, a), u8({2, 2}, {1, 2, 3, 4})}), Error);
}

TEST(QLinearMatMul, PerRowAndPerColumnScalesMatchDoubleLoop) {
  const std::vector<uint8_t> a = {10, 20, 30, 40, 50, 60};
  const std::vector<uint8_t> b = {1, 2, 3, 4, 5, 6};
  const std::vector<float> a_scale = {0.1f, 0.2f}, b_scale = {0.5f, 0.25f};
  const std::vector<uint8_t> a_zero = {5, 6}, b_zero = {1, 2};
  auto y = run_op("QLinearMatMul",
                  {u8({2, 3}, a), f32({2, 1}, a_scale), u8({2, 1}, a_zero), u8({3, 2}, b),
                   f32({2}, b_scale), u8({2}, b_zero), f32({}, {0.3f}), u8({}, {10})});
  ASSERT_EQ(y[0].dtype(), DataType::kUInt8);
  for (int m = 0; m < 2; ++m) {
    for (int n = 0; n < 2; ++n) {
      double acc = 0;
      for (int k = 0; k < 3; ++k) {
        acc += (double(a[size_t(m * 3 + k)]) - a_zero[size_t(m)]) *
               (double(b[size_t(k * 2 + n)]) - b_zero[size_t(n)]);
      }
      const double multiplier = double(a_scale[size_t(m)] * b_scale[size_t(n)] / 0.3f);
      const double expected = std::clamp(std::nearbyint(acc * multiplier + 10), 0.0, 255.0);
      EXPECT_EQ(y[0].as_double(m * 2 + n), expected) << m << "," << n;
    }
  }
  // The same numbers hand-checked once: acc[0][0] = 5*0 + 15*2 + 25*4 = 130, times
  // 0.1*0.5/0.3 = 1/6 -> 21.67, + 10 -> 32.
  EXPECT_EQ(y[0].as_double(0), 32);
}

TEST(QLinearMatMul, Int8OutputSaturatesAndChecksScaleTypes) {
  // 1-D operands: a [2] @ b [2] is a scalar. acc = 100*100 + 100*100 = 20000, * 1 -> 127.
  auto y =
      run_op("QLinearMatMul", {s8({2}, {100, 100}), f32({}, {1}), s8({}, {0}), s8({2}, {100, 100}),
                               f32({}, {1}), s8({}, {0}), f32({}, {1}), s8({}, {0})});
  ASSERT_EQ(y[0].shape(), Dims{});
  EXPECT_EQ(y[0].as_double(0), 127);
  const Tensor half_scale = make<uint16_t>(DataType::kFloat16, {}, {float_to_fp16(1.0f)});
  EXPECT_THROW(run_op("QLinearMatMul", {s8({2}, {1, 1}), f32({}, {1}), s8({}, {0}), s8({2}, {1, 1}),
                                        half_scale, s8({}, {0}), f32({}, {1}), s8({}, {0})}),
               Error);
}

// ---------------------------------------------------------------------------------------------
// ConvInteger and QLinearConv

TEST(ConvInteger, PaddedExampleFromTheOnnxDocs) {
  // x = 2..10 as 3x3, x_zero_point 1, w all ones 2x2, pads 1: each output sums the window of
  // (x - 1) = 1..9 with zeros outside.
  auto y = run_op(
      "ConvInteger",
      {u8({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10}), u8({1, 1, 2, 2}, {1, 1, 1, 1}), u8({}, {1})},
      {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  ASSERT_EQ(y[0].dtype(), DataType::kInt32);
  ASSERT_EQ(y[0].shape(), (Dims{1, 1, 4, 4}));
  EXPECT_EQ(values_of(y[0]),
            (std::vector<double>{1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}));
}

// Plain 2-D grouped convolution with strides and pads, on shifted integer operands.
std::vector<int64_t> reference_conv(const std::vector<int>& x, const std::vector<int>& w,
                                    int n_batch, int c_in, int h, int wd, int m_out, int kh, int kw,
                                    int group, int stride, int pad, int oh, int ow) {
  std::vector<int64_t> y(size_t(n_batch * m_out * oh * ow), 0);
  const int cg = c_in / group, mg = m_out / group;
  for (int n = 0; n < n_batch; ++n)
    for (int m = 0; m < m_out; ++m)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          int64_t sum = 0;
          for (int c = 0; c < cg; ++c)
            for (int p = 0; p < kh; ++p)
              for (int q = 0; q < kw; ++q) {
                const int r = i * stride - pad + p, s = j * stride - pad + q;
                if (r < 0 || r >= h || s < 0 || s >= wd) continue;
                const int channel = (m / mg) * cg + c;
                sum += int64_t(x[size_t(((n * c_in + channel) * h + r) * wd + s)]) *
                       w[size_t(((m * cg + c) * kh + p) * kw + q)];
              }
          y[size_t(((n * m_out + m) * oh + i) * ow + j)] = sum;
        }
  return y;
}

TEST(QLinearConv, GroupsStridesPerChannelScaleAndBiasMatchLoop) {
  // x [1, 4, 5, 5] int8, w [4, 2, 3, 3] int8, group 2, stride 2, pads 1 -> [1, 4, 3, 3].
  std::vector<int8_t> x(100), w(72);
  for (size_t i = 0; i < x.size(); ++i) x[i] = int8_t(int(i * 29 % 256) - 128);
  for (size_t i = 0; i < w.size(); ++i) w[i] = int8_t(int(i * 53 % 31) - 15);
  const int8_t x_zero = -3;
  const std::vector<int8_t> w_zero = {0, 1, -1, 2};
  const std::vector<float> w_scale = {0.01f, 0.02f, 0.005f, 0.03f};
  const std::vector<int32_t> bias = {100, -200, 0, 5000};
  const float x_scale = 0.05f, y_scale = 0.7f;
  const int8_t y_zero = 4;
  auto y = run_op(
      "QLinearConv",
      {s8({1, 4, 5, 5}, x), f32({}, {x_scale}), s8({}, {x_zero}), s8({4, 2, 3, 3}, w),
       f32({4}, w_scale), s8({4}, w_zero), f32({}, {y_scale}), s8({}, {y_zero}), i32({4}, bias)},
      {{"group", int64_t(2)},
       {"strides", std::vector<int64_t>{2, 2}},
       {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  ASSERT_EQ(y[0].shape(), (Dims{1, 4, 3, 3}));
  ASSERT_EQ(y[0].dtype(), DataType::kInt8);
  std::vector<int> xs(x.size()), ws(w.size());
  for (size_t i = 0; i < x.size(); ++i) xs[i] = x[i] - x_zero;
  for (size_t i = 0; i < w.size(); ++i) ws[i] = w[i] - w_zero[i / 18];
  const auto acc = reference_conv(xs, ws, 1, 4, 5, 5, 4, 3, 3, 2, 2, 1, 3, 3);
  int saturated = 0;
  for (size_t i = 0; i < acc.size(); ++i) {
    const size_t m = i / 9;
    const double multiplier = double(x_scale * w_scale[m] / y_scale);
    const double value = std::nearbyint(double(acc[i] + bias[m]) * multiplier + y_zero);
    saturated += value < -128 || value > 127;
    EXPECT_EQ(y[0].as_double(int64_t(i)), std::clamp(value, -128.0, 127.0)) << "element " << i;
  }
  EXPECT_LT(saturated, 18);  // most values are in range, so the loop checks real arithmetic
}

TEST(QLinearConv, RejectsMismatchedChannelsAndScales) {
  const Tensor x = u8({1, 2, 3, 3}, std::vector<uint8_t>(18, 1));
  const Tensor w = u8({1, 1, 1, 1}, {1});  // expects 1 input channel, x has 2
  EXPECT_THROW(run_op("ConvInteger", {x, w}), Error);
  const Tensor w2 = u8({2, 2, 1, 1}, {1, 1, 1, 1});
  // w_scale with 3 entries for 2 output channels.
  EXPECT_THROW(run_op("QLinearConv", {x, f32({}, {1}), u8({}, {0}), w2, f32({3}, {1, 1, 1}),
                                      u8({}, {0}), f32({}, {1}), u8({}, {0})}),
               Error);
}

}  // namespace
}  // namespace kiln

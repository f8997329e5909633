#include <gtest/gtest.h>

#include <array>

#include "ops/nn_test_util.h"

namespace kiln {
namespace {

using testing::b_pattern;
using testing::expect_values;
using testing::f32;
using testing::random_f32;
using testing::run_op;
using testing::w_pattern;
using testing::x_pattern;

// Direct float64 convolution for up to 3 spatial dims, written from the definition:
// y[n, m, o] = b[m] + sum_{c in group, k} x[n, c, o * s + k * d - pad] * w[m, c, k].
struct NaiveConvParams {
  Dims strides, dilations, pads;  // pads: begins then ends
  int64_t group = 1;
};

std::vector<double> naive_conv(const Tensor& x, const Tensor& w, const Tensor* b,
                               const NaiveConvParams& p, Dims& out_shape) {
  const size_t rank = x.rank() - 2;
  auto get = [](const Dims& v, size_t i, int64_t fallback) {
    return i < v.size() ? v[i] : fallback;
  };
  // Normalize to three spatial dims by prepending unit extents.
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, pe{0, 0, 0},
      out{1, 1, 1};
  for (size_t i = 0; i < rank; ++i) {
    const size_t j = 3 - rank + i;
    in[j] = x.dim(2 + i);
    k[j] = w.dim(2 + i);
    s[j] = get(p.strides, i, 1);
    d[j] = get(p.dilations, i, 1);
    pb[j] = get(p.pads, i, 0);
    pe[j] = get(p.pads, rank + i, 0);
    out[j] = (in[j] + pb[j] + pe[j] - (k[j] - 1) * d[j] - 1) / s[j] + 1;
  }
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), Cg = C / p.group, Mg = M / p.group;
  out_shape = {N, M};
  for (size_t i = 0; i < rank; ++i) out_shape.push_back(out[3 - rank + i]);
  std::vector<double> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o0 = 0; o0 < out[0]; ++o0)
        for (int64_t o1 = 0; o1 < out[1]; ++o1)
          for (int64_t o2 = 0; o2 < out[2]; ++o2) {
            double sum = b ? b->as_double(m) : 0.0;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t k0 = 0; k0 < k[0]; ++k0)
                for (int64_t k1 = 0; k1 < k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                    const int64_t i0 = o0 * s[0] + k0 * d[0] - pb[0];
                    const int64_t i1 = o1 * s[1] + k1 * d[1] - pb[1];
                    const int64_t i2 = o2 * s[2] + k2 * d[2] - pb[2];
                    if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                      continue;
                    const int64_t ic = (m / Mg) * Cg + c;
                    const int64_t xi = (((n * C + ic) * in[0] + i0) * in[1] + i1) * in[2] + i2;
                    const int64_t wi = (((m * Cg + c) * k[0] + k0) * k[1] + k1) * k[2] + k2;
                    sum += x.as_double(xi) * w.as_double(wi);
                  }
            y.push_back(sum);
          }
  return y;
}

ir::Attributes conv_attrs(const NaiveConvParams& p) {
  ir::Attributes a;
  if (!p.strides.empty()) a["strides"] = p.strides;
  if (!p.dilations.empty()) a["dilations"] = p.dilations;
  if (!p.pads.empty()) a["pads"] = p.pads;
  a["group"] = p.group;
  return a;
}

TEST(Conv, HandComputed2x2Kernel) {
  // 3x3 input 1..9, 2x2 kernel of ones: each output sums a 2x2 block.
  auto out = run_op(
      "Conv", {f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), f32({1, 1, 2, 2}, {1, 1, 1, 1})});
  ASSERT_EQ(out[0].shape(), (Dims{1, 1, 2, 2}));
  expect_values(out[0], {12, 16, 24, 28});
}

TEST(Conv, BiasAndTwoOutputChannels) {
  // Kernel 1 picks the top-left element, kernel 2 doubles the bottom-right one.
  auto out = run_op("Conv", {f32({1, 1, 2, 2}, {1, 2, 3, 4}),
                             f32({2, 1, 2, 2}, {1, 0, 0, 0, 0, 0, 0, 2}), f32({2}, {10, -1})});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 1, 1}));
  expect_values(out[0], {11, 7});
}

TEST(Conv, SameUpperPadsTheEndAndSameLowerTheBeginning) {
  // in 4, kernel 2, stride 1: one element of padding; y[i] = x[i] + 10 x[i+1] around it.
  const Tensor x = f32({1, 1, 4}, {1, 2, 3, 4});
  const Tensor w = f32({1, 1, 2}, {1, 10});
  auto upper = run_op("Conv", {x, w}, {{"auto_pad", std::string("SAME_UPPER")}});
  expect_values(upper[0], {21, 32, 43, 4});
  auto lower = run_op("Conv", {x, w}, {{"auto_pad", std::string("SAME_LOWER")}});
  expect_values(lower[0], {10, 21, 32, 43});
}

TEST(Conv, ValidAutoPadAndDilation) {
  const Tensor x = f32({1, 1, 7}, {1, 2, 3, 4, 5, 6, 7});
  auto valid = run_op("Conv", {x, f32({1, 1, 3}, {1, 1, 1})},
                      {{"auto_pad", std::string("VALID")}, {"pads", Dims{5, 5}}});
  expect_values(valid[0], {6, 9, 12, 15, 18});
  // Dilation 2: y[i] = x[i] + x[i+2] + x[i+4].
  auto dilated = run_op("Conv", {x, f32({1, 1, 3}, {1, 1, 1})}, {{"dilations", Dims{2}}});
  expect_values(dilated[0], {9, 12, 15});
}

TEST(Conv, GroupsScaleTheirOwnChannels) {
  auto out = run_op("Conv", {f32({1, 2, 1, 2}, {1, 2, 3, 4}), f32({2, 1, 1, 1}, {2, -1})},
                    {{"group", int64_t(2)}});
  expect_values(out[0], {2, 4, -3, -4});
}

// Expected values from onnxruntime 1.x (and onnx.reference, which agrees) on x_pattern /
// w_pattern / b_pattern inputs; see tests/ops/nn_test_util.h for the formulas.
TEST(Conv, MatchesOnnxruntimeWithAsymmetricPadsAndStrides) {
  auto out = run_op("Conv", {x_pattern({1, 2, 5, 5}), w_pattern({3, 2, 3, 3}), b_pattern(3)},
                    {{"pads", Dims{1, 0, 2, 1}}, {"strides", Dims{2, 1}}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 3, 3, 4}));
  expect_values(out[0], {0.5,    -2.125, 2.125,  -3.25,  -1.375, -2.625, -1.125, 3.5,    -3.125,
                         -2.625, -0.75,  -1.5,   2.25,   1.375,  -0.875, -0.875, -5.25,  3.0,
                         3.0,    -1.75,  2.25,   -3.75,  1.25,   0.5,    -2.125, -1.25,  -0.375,
                         3.25,   -0.375, -1.875, -3.375, 0.0,    1.5,    -1.375, -2.875, -0.125});
}

TEST(Conv, MatchesOnnxruntimeWithSamePaddingGroupsAndStrides) {
  const Tensor x = x_pattern({1, 4, 5, 6});
  const Tensor w = w_pattern({2, 2, 2, 3});
  ir::Attributes attrs{{"strides", Dims{2, 2}}, {"group", int64_t(2)}};
  attrs["auto_pad"] = std::string("SAME_LOWER");
  auto lower = run_op("Conv", {x, w}, attrs);
  ASSERT_EQ(lower[0].shape(), (Dims{1, 2, 3, 3}));
  expect_values(lower[0], {0.5, -2.25, -2.5, -1.25, 5.5, -1.375, -2.875, -1.375, 2.75, -1.5, 0.375,
                           1.375, 0.25, -1.625, 0.75, 2.25, -1.125, -2.875});
  attrs["auto_pad"] = std::string("SAME_UPPER");
  auto upper = run_op("Conv", {x, w}, attrs);
  expect_values(upper[0], {-1.375, 5.5, -1.25, -1.375, -5.5, 1.75, 4.5, 0.625, -2.5, 0.375, -2.75,
                           1.0, 2.25, 3.25, 1.25, -1.125, 4.375, -2.0});
}

TEST(Conv, MatchesFloat64LoopIn1D2D3D) {
  struct Case {
    Dims x, w;
    NaiveConvParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {{2, 4, 11}, {6, 2, 3}, {{2}, {2}, {1, 2}, 2}, true},
      {{1, 3, 9, 8}, {4, 3, 3, 2}, {{2, 1}, {1, 2}, {1, 0, 2, 1}, 1}, true},
      {{2, 6, 7, 7}, {6, 1, 3, 3}, {{1, 1}, {1, 1}, {1, 1, 1, 1}, 6}, false},
      {{1, 4, 5, 6, 5}, {4, 2, 2, 3, 2}, {{1, 2, 1}, {2, 1, 1}, {0, 1, 1, 1, 0, 1}, 2}, true},
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const Tensor x = random_f32(c.x, seed++);
    const Tensor w = random_f32(c.w, seed++);
    const Tensor b = random_f32({c.w[0]}, seed++);
    std::vector<Tensor> inputs{x, w};
    if (c.bias) inputs.push_back(b);
    auto out = run_op("Conv", inputs, conv_attrs(c.p));
    Dims expected_shape;
    const std::vector<double> expected =
        naive_conv(x, w, c.bias ? &b : nullptr, c.p, expected_shape);
    ASSERT_EQ(out[0].shape(), expected_shape) << to_string(c.x);
    expect_values(out[0], expected, 1e-5);
  }
}

TEST(Conv, HalfPrecisionAndDoubleAgreeWithFloat32) {
  const Tensor x = x_pattern({1, 2, 4, 4});
  const Tensor w = w_pattern({2, 2, 3, 3});
  const Tensor b = b_pattern(2);
  const ir::Attributes attrs{{"pads", Dims{1, 1, 1, 1}}};
  const Tensor want = run_op("Conv", {x, w, b}, attrs)[0];
  // The patterns are multiples of 1/8 with small sums: exact in every one of these dtypes.
  for (DataType t : {DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16}) {
    auto out = run_op("Conv", {x.cast(t), w.cast(t), b.cast(t)}, attrs);
    ASSERT_EQ(out[0].dtype(), t);
    EXPECT_EQ(testing::relative_l2(out[0], want), 0.0) << to_string(t);
  }
}

TEST(Conv, RejectsBadInputs) {
  const Tensor x = x_pattern({1, 2, 5, 5});
  const Tensor w = w_pattern({3, 2, 3, 3});
  // channel mismatch (W expects 4 input channels with group 1)
  EXPECT_THROW(run_op("Conv", {x, w_pattern({3, 4, 3, 3})}), Error);
  // group does not divide the output channels
  EXPECT_THROW(run_op("Conv", {x, w_pattern({3, 1, 3, 3})}, {{"group", int64_t(2)}}), Error);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"auto_pad", std::string("SAME")}}), Error);
  EXPECT_THROW(run_op("Conv", {x, w, b_pattern(4)}), Error);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"kernel_shape", Dims{2, 2}}}), Error);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"strides", Dims{1}}}), Error);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"strides", Dims{0, 1}}}), Error);
  EXPECT_THROW(run_op("Conv", {x, w}, {{"pads", Dims{-1, 0, 0, 0}}}), Error);
  EXPECT_THROW(run_op("Conv", {f32({2, 5}, std::vector<float>(10)), w}), Error);
  EXPECT_THROW(run_op("Conv", {x_pattern({1, 2, 2, 2}), w}), Error);  // input smaller than kernel
  EXPECT_THROW(run_op("Conv", {x.cast(DataType::kInt32), w.cast(DataType::kInt32)}), Error);
  EXPECT_THROW(run_op("Conv", {x, w.cast(DataType::kFloat64)}), Error);
  try {
    run_op("Conv", {x, w_pattern({3, 4, 3, 3})});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Conv 'node'"), std::string::npos) << e.what();
  }
}

// Direct float64 transposed convolution (scatter form) for one spatial layout of up to 3 dims:
// every x[n, c, i] adds x * w[c, m, k] to y[n, g * Mg + m, i * s + k * d - pad_begin].
std::vector<double> naive_conv_transpose(const Tensor& x, const Tensor& w, const Tensor* b,
                                         int64_t group, const Dims& strides, const Dims& dilations,
                                         const Dims& pad_begin, const Dims& out_spatial) {
  const size_t rank = x.rank() - 2;
  std::array<int64_t, 3> in{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0}, out{1, 1, 1};
  for (size_t i = 0; i < rank; ++i) {
    const size_t j = 3 - rank + i;
    in[j] = x.dim(2 + i);
    k[j] = w.dim(2 + i);
    s[j] = strides[i];
    d[j] = dilations[i];
    pb[j] = pad_begin[i];
    out[j] = out_spatial[i];
  }
  const int64_t N = x.dim(0), C = x.dim(1), Mg = w.dim(1), M = Mg * group, Cg = C / group;
  const int64_t out_size = out[0] * out[1] * out[2];
  std::vector<double> y(size_t(N * M * out_size), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < out_size; ++o)
        y[size_t((n * M + m) * out_size + o)] = b ? b->as_double(m) : 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i0 = 0; i0 < in[0]; ++i0)
        for (int64_t i1 = 0; i1 < in[1]; ++i1)
          for (int64_t i2 = 0; i2 < in[2]; ++i2)
            for (int64_t mg = 0; mg < Mg; ++mg)
              for (int64_t k0 = 0; k0 < k[0]; ++k0)
                for (int64_t k1 = 0; k1 < k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k[2]; ++k2) {
                    const int64_t o0 = i0 * s[0] + k0 * d[0] - pb[0];
                    const int64_t o1 = i1 * s[1] + k1 * d[1] - pb[1];
                    const int64_t o2 = i2 * s[2] + k2 * d[2] - pb[2];
                    if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1] || o2 < 0 || o2 >= out[2])
                      continue;
                    const int64_t m = (c / Cg) * Mg + mg;
                    const double xv =
                        x.as_double((((n * C + c) * in[0] + i0) * in[1] + i1) * in[2] + i2);
                    const double wv =
                        w.as_double((((c * Mg + mg) * k[0] + k0) * k[1] + k1) * k[2] + k2);
                    y[size_t((n * M + m) * out_size + (o0 * out[1] + o1) * out[2] + o2)] += xv * wv;
                  }
  return y;
}

TEST(ConvTranspose, HandComputed2x2) {
  // Each input element stamps a 2x2 block of itself; overlaps add.
  auto out =
      run_op("ConvTranspose", {f32({1, 1, 2, 2}, {1, 2, 3, 4}), f32({1, 1, 2, 2}, {1, 1, 1, 1})});
  ASSERT_EQ(out[0].shape(), (Dims{1, 1, 3, 3}));
  expect_values(out[0], {1, 3, 2, 4, 10, 6, 3, 7, 4});
}

TEST(ConvTranspose, StrideTwoInterleavesStamps) {
  auto out = run_op("ConvTranspose", {f32({1, 1, 3}, {1, 2, 3}), f32({1, 1, 2}, {1, 10})},
                    {{"strides", Dims{2}}});
  expect_values(out[0], {1, 10, 2, 20, 3, 30});
}

// onnxruntime (and onnx.reference) results on the x/w/b patterns.
TEST(ConvTranspose, MatchesOnnxruntimeWithPadsAndOutputPadding) {
  auto out =
      run_op("ConvTranspose", {x_pattern({1, 2, 3, 3}), w_pattern({2, 2, 3, 3}), b_pattern(2)},
             {{"strides", Dims{2, 2}}, {"pads", Dims{1, 0, 0, 1}}, {"output_padding", Dims{1, 0}}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 7, 6}));
  expect_values(
      out[0], {-0.875, -2.125, -1.75,  -0.5,  1.625,  -3.0,   -2.25,  3.5,    -3.25, -2.125, 4.125,
               -2.25,  -3.0,   1.375,  0.125, -1.125, -2.0,   -0.875, -3.25,  -1.0,  -0.375, -2.5,
               1.5,    1.5,    -2.375, 0.75,  0.625,  -1.75,  -1.5,   -1.5,   -1.75, -2.125, 0.875,
               -2.125, -1.875, 2.0,    -1.0,  -1.0,   -1.0,   -1.0,   -1.0,   -1.0,  -1.125, -0.625,
               2.75,   -0.5,   -1.875, 1.0,   -1.625, -2.875, 2.625,  0.125,  -2.5,  -1.0,   0.125,
               -1.625, -1.5,   -0.125, -2.0,  -1.375, 0.875,  -2.125, -0.375, 0.875, -1.375, -1.625,
               0.0,    -1.25,  -1.625, 0.25,  -2.125, -1.0,   0.625,  -0.625, -2.25, -0.125, 0.125,
               -1.0,   -0.5,   -0.5,   -0.5,  -0.5,   -0.5,   -0.5});
}

TEST(ConvTranspose, OutputShapeAndSamePaddingSplitAsTheSpecSays) {
  // Full extent 2 * 3 + 3 = 9, output 8: one element of padding. SAME_UPPER drops the last
  // element, SAME_LOWER and explicit output_shape drop the first (onnxruntime agrees).
  const Tensor x = x_pattern({1, 1, 4});
  const Tensor w = w_pattern({1, 1, 3});
  auto upper = run_op("ConvTranspose", {x, w},
                      {{"strides", Dims{2}}, {"auto_pad", std::string("SAME_UPPER")}});
  expect_values(upper[0], {1.875, -1.25, -0.75, 0.5, 0.75, -0.5, -1.875, 1.25});
  const std::vector<double> drop_first{-1.25, -0.75, 0.5, 0.75, -0.5, -1.875, 1.25, 0.0};
  auto lower = run_op("ConvTranspose", {x, w},
                      {{"strides", Dims{2}}, {"auto_pad", std::string("SAME_LOWER")}});
  expect_values(lower[0], drop_first);
  auto shaped = run_op("ConvTranspose", {x, w}, {{"strides", Dims{2}}, {"output_shape", Dims{8}}});
  expect_values(shaped[0], drop_first);
  // The N and C prefix some exporters write is accepted.
  auto full =
      run_op("ConvTranspose", {x, w}, {{"strides", Dims{2}}, {"output_shape", Dims{1, 1, 8}}});
  expect_values(full[0], drop_first);
}

TEST(ConvTranspose, MatchesOnnxruntimeGroupedDilated) {
  auto out = run_op("ConvTranspose", {x_pattern({1, 4, 3}), w_pattern({4, 1, 2}), b_pattern(2)},
                    {{"group", int64_t(2)}, {"dilations", Dims{2}}});
  ASSERT_EQ(out[0].shape(), (Dims{1, 2, 5}));
  expect_values(out[0], {0.875, -1.75, -2.75, -0.75, -0.75, 0.625, -0.375, -2.0, -0.125, 0.875});
}

TEST(ConvTranspose, MatchesFloat64LoopIn2DAnd3D) {
  {
    const Tensor x = random_f32({2, 4, 4, 5}, 11);
    const Tensor w = random_f32({4, 3, 3, 2}, 12);
    const Tensor b = random_f32({6}, 13);
    auto out = run_op("ConvTranspose", {x, w, b},
                      {{"group", int64_t(2)},
                       {"strides", Dims{2, 3}},
                       {"dilations", Dims{1, 2}},
                       {"pads", Dims{1, 2, 0, 1}},
                       {"output_padding", Dims{1, 0}}});
    // out = s * (in - 1) + op + (k - 1) * d + 1 - pads
    const Dims spatial{2 * 3 + 1 + 3 - 1, 3 * 4 + 0 + 3 - 3};
    ASSERT_EQ(out[0].shape(), (Dims{2, 6, spatial[0], spatial[1]}));
    expect_values(out[0], naive_conv_transpose(x, w, &b, 2, {2, 3}, {1, 2}, {1, 2}, spatial));
  }
  {
    const Tensor x = random_f32({1, 2, 3, 2, 3}, 14);
    const Tensor w = random_f32({2, 2, 2, 2, 3}, 15);
    auto out = run_op("ConvTranspose", {x, w}, {{"strides", Dims{1, 2, 2}}});
    const Dims spatial{4, 4, 7};
    ASSERT_EQ(out[0].shape(), (Dims{1, 2, 4, 4, 7}));
    expect_values(out[0],
                  naive_conv_transpose(x, w, nullptr, 1, {1, 2, 2}, {1, 1, 1}, {0, 0, 0}, spatial));
  }
}

TEST(ConvTranspose, RejectsBadInputs) {
  const Tensor x = x_pattern({1, 2, 3, 3});
  const Tensor w = w_pattern({2, 2, 3, 3});
  EXPECT_THROW(run_op("ConvTranspose", {x, w_pattern({3, 2, 3, 3})}), Error);  // W[0] != C
  EXPECT_THROW(run_op("ConvTranspose", {x, w}, {{"output_padding", Dims{1, 1}}}), Error);
  EXPECT_THROW(run_op("ConvTranspose", {x, w}, {{"output_shape", Dims{5}}}), Error);
  EXPECT_THROW(run_op("ConvTranspose", {x, w}, {{"group", int64_t(3)}}), Error);
  EXPECT_THROW(run_op("ConvTranspose", {x, w, b_pattern(3)}), Error);
  EXPECT_THROW(run_op("ConvTranspose", {x, w}, {{"pads", Dims{3, 3, 3, 3}}}), Error);
}

}  // namespace
}  // namespace kiln

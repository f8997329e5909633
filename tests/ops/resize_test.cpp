// Resize against hand-computed values and against numbers pasted from the ONNX reference
// implementation (onnx 1.23, onnx.reference.ReferenceEvaluator, opset 19), which onnxruntime
// 1.x matched to 1e-5 in every case below where it supports the configuration. They were
// produced by building a one-node model per case with float32 X = arange(1, 17).reshape(1, 1,
// 4, 4) (or the input named in the test) and printing the output.
#include <gtest/gtest.h>

#include <string>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

Tensor arange_4x4() {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[size_t(i)] = float(i + 1);
  return f32({1, 1, 4, 4}, v);
}

// Runs Resize with either scales or sizes (the other empty) and an optional roi.
Tensor resize(const Tensor& x, ir::Attributes attrs, std::vector<float> scales,
              std::vector<int64_t> sizes = {}, std::vector<float> roi = {}) {
  std::vector<Tensor> inputs{x, Tensor(), Tensor(), Tensor()};
  if (!roi.empty()) inputs[1] = f32({int64_t(roi.size())}, roi);
  if (!scales.empty()) inputs[2] = f32({int64_t(scales.size())}, scales);
  if (!sizes.empty()) inputs[3] = i64({int64_t(sizes.size())}, sizes);
  while (!inputs.back().defined()) inputs.pop_back();
  return run_op("Resize", inputs, std::move(attrs))[0];
}

void expect_near_all(const Tensor& t, const Dims& shape, const std::vector<double>& expected,
                     double tol = 1e-5) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

ir::Attributes mode(const std::string& m, ir::Attributes more = {}) {
  more["mode"] = m;
  return more;
}

// mode plus coordinate_transformation_mode.
ir::Attributes mode_coords(const std::string& m, const std::string& coordinates) {
  return mode(m, {{"coordinate_transformation_mode", coordinates}});
}

TEST(Resize, NearestUpsampleByScales) {
  // Hand-checkable: every input pixel becomes a 2x3 block.
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  expect_near_all(resize(x, {}, {1, 1, 2, 3}), {1, 1, 4, 6},
                  {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}, 0);
}

TEST(Resize, NearestModes) {
  const Tensor x = arange_4x4();
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"round_prefer_floor",
       {1, 1, 2, 2, 3, 4, 4, 5, 5, 6, 6, 7, 8, 8, 13, 13, 14, 14, 15, 16, 16}},
      {"round_prefer_ceil",
       {1, 1, 2, 3, 3, 4, 4, 9, 9, 10, 11, 11, 12, 12, 13, 13, 14, 15, 15, 16, 16}},
      {"floor", {1, 1, 1, 2, 3, 3, 4, 5, 5, 5, 6, 7, 7, 8, 9, 9, 9, 10, 11, 11, 12}},
      {"ceil", {5, 6, 6, 7, 8, 8, 8, 9, 10, 10, 11, 12, 12, 12, 13, 14, 14, 15, 16, 16, 16}},
  };
  for (const auto& [nearest_mode, expected] : cases) {
    SCOPED_TRACE(nearest_mode);
    expect_near_all(resize(x, {{"nearest_mode", nearest_mode}}, {}, {1, 1, 3, 7}), {1, 1, 3, 7},
                    expected, 0);
  }
  expect_near_all(resize(x, mode_coords("nearest", "asymmetric"), {1, 1, 0.6f, 0.6f}), {1, 1, 2, 2},
                  {1, 3, 9, 11}, 0);
}

TEST(Resize, LinearCoordinateModes) {
  const Tensor x22 = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  // half_pixel 2x: hand-checkable bilinear weights 1/4, 3/4.
  expect_near_all(resize(x22, mode("linear"), {1, 1, 2, 2}), {1, 1, 4, 4},
                  {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4});
  expect_near_all(resize(x22, mode_coords("linear", "align_corners"), {}, {1, 1, 3, 4}),
                  {1, 1, 3, 4},
                  {1, 1.3333333333, 1.6666666667, 2, 2, 2.3333333333, 2.6666666667, 3, 3,
                   3.3333333333, 3.6666666667, 4});
  const Tensor x = arange_4x4();
  expect_near_all(resize(x, mode_coords("linear", "pytorch_half_pixel"), {}, {1, 1, 3, 1}),
                  {1, 1, 3, 1}, {1.6666666269302368, 7.0, 12.333333015441895});
  expect_near_all(resize(x, mode_coords("linear", "half_pixel_symmetric"), {1, 1, 0.7f, 1.3f}),
                  {1, 1, 2, 5},
                  {4.142857074737549, 4.873626232147217, 5.642857074737549, 6.412087917327881,
                   7.142857074737549, 9.857142448425293, 10.587912559509277, 11.357142448425293,
                   12.126373291015625, 12.857142448425293});
}

TEST(Resize, Cubic) {
  const Tensor x = arange_4x4();
  // The reference evaluates the cubic coefficients in float32 (numpy keeps the float32
  // cubic_coeff_a's precision), kiln in double: they differ by up to 1.3e-5 here. The last
  // value, checked in double by hand from the spec's formulas, is 16.43402777777778.
  expect_near_all(resize(x, mode("cubic"), {1, 1, 1.5f, 1.5f}), {1, 1, 6, 6},
                  {0.5659727454185486,
                   1.0590282678604126,
                   1.8657431602478027,
                   2.4398159980773926,
                   3.2465291023254395,
                   3.739586591720581,
                   2.5381956100463867,
                   3.03125,
                   3.837965488433838,
                   4.4120378494262695,
                   5.21875,
                   5.711807727813721,
                   5.765054225921631,
                   6.258107662200928,
                   7.064825057983398,
                   7.638897895812988,
                   8.445609092712402,
                   8.938668251037598,
                   8.061346054077148,
                   8.554398536682129,
                   9.361116409301758,
                   9.935189247131348,
                   10.741899490356445,
                   11.234959602355957,
                   11.288199424743652,
                   11.78125,
                   12.587968826293945,
                   13.162041664123535,
                   13.96875,
                   14.461812019348145,
                   13.260427474975586,
                   13.753478050231934,
                   14.560197830200195,
                   15.134270668029785,
                   15.94097900390625,
                   16.43404197692871},
                  3e-5);
  EXPECT_NEAR(resize(x, mode("cubic"), {1, 1, 1.5f, 1.5f}).data<float>()[35], 16.43402777777778,
              1e-6);
  expect_near_all(
      resize(x,
             mode("cubic", {{"cubic_coeff_a", -0.5},
                            {"exclude_outside", int64_t(1)},
                            {"coordinate_transformation_mode", std::string("asymmetric")}}),
             {1, 1, 0.8f, 1.6f}),
      {1, 1, 3, 6},
      {1.0, 1.556594967842102, 2.25, 2.875, 3.5882351398468018, 4.052238941192627, 6.0,
       6.5565948486328125, 7.25, 7.875, 8.588234901428223, 9.052238464355469, 11.352940559387207,
       11.90953540802002, 12.602940559387207, 13.227940559387207, 13.941176414489746,
       14.405179977416992});
}

TEST(Resize, PytorchHalfPixelToOneRowSamplesRowZero) {
  // The spec maps a length-1 output to coordinate 0, so the row is input row 0 exactly; the
  // width (4 -> 4) is unchanged.
  auto out = resize(arange_4x4(), mode_coords("cubic", "pytorch_half_pixel"), {}, {1, 1, 1, 4});
  expect_near_all(out, {1, 1, 1, 4}, {1, 2, 3, 4}, 1e-12);
}

TEST(Resize, TfHalfPixelForNnFromOpset11) {
  // x_original = (x + 0.5) / scale: outputs 0 and 1 sample input positions 1 and 3.
  expect_near_all(
      resize(f32({4}, {1, 2, 3, 4}), mode_coords("nearest", "tf_half_pixel_for_nn"), {0.5f}), {2},
      {2, 4}, 0);
}

TEST(Resize, TfCropAndResizeExtrapolates) {
  const Tensor x = arange_4x4();
  const std::vector<float> roi{0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f};
  expect_near_all(
      resize(x,
             mode("linear", {{"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                             {"extrapolation_value", 10.0}}),
             {}, {1, 1, 3, 3}, roi),
      {1, 1, 3, 3}, {7.600000381469727, 10, 10, 12.40000057220459, 10, 10, 10, 10, 10});
  expect_near_all(resize(x,
                         {{"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                          {"extrapolation_value", -1.0}},
                         {}, {1, 1, 3, 3}, roi),
                  {1, 1, 3, 3}, {7, -1, -1, 11, -1, -1, -1, -1, -1}, 0);
}

TEST(Resize, Antialias) {
  const Tensor x = arange_4x4();
  expect_near_all(
      resize(x, mode("linear", {{"antialias", int64_t(1)}}), {}, {1, 1, 2, 3}), {1, 1, 2, 3},
      {3.7727272510528564, 5.0, 6.2272725105285645, 10.772727012634277, 12.0, 13.227272987365723});
  expect_near_all(resize(x, mode("cubic", {{"antialias", int64_t(1)}}), {1, 1, 0.5f, 0.75f}),
                  {1, 1, 2, 3},
                  {3.1159393787384033, 4.4609375, 5.805935859680176, 11.194064140319824,
                   12.539063453674316, 13.884060859680176});
}

TEST(Resize, AxesAndKeepAspectRatio) {
  const Tensor x = arange_4x4().reshaped({4, 4});
  // not_larger: scale = min(2/4, 3/4) = 0.5 on both axes -> 2x2.
  expect_near_all(resize(x,
                         mode("linear", {{"axes", std::vector<int64_t>{0, 1}},
                                         {"keep_aspect_ratio_policy", std::string("not_larger")}}),
                         {}, {2, 3}),
                  {2, 2}, {3.5, 5.5, 11.5, 13.5});
  // not_smaller with axes listed in reverse: scale = max(6/4, 2/4) = 1.5 -> 6x6.
  expect_near_all(resize(x,
                         {{"axes", std::vector<int64_t>{-1, 0}},
                          {"keep_aspect_ratio_policy", std::string("not_smaller")}},
                         {}, {6, 2}),
                  {6, 6}, {1, 1, 2,  3,  3,  4,  1, 1, 2,  3,  3,  4,  5,  5,  6,  7,  7,  8,
                           9, 9, 10, 11, 11, 12, 9, 9, 10, 11, 11, 12, 13, 13, 14, 15, 15, 16},
                  0);
}

TEST(Resize, ThreeDimensionalLinearAndCubic) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[size_t(i)] = 0.5f * float(i);
  const Tensor x = f32({2, 3, 4}, v);
  expect_near_all(resize(x, mode("linear"), {1.5f, 0.7f, 1.25f}), {3, 2, 5},
                  {0.4285714626312256, 0.7785714268684387, 1.1785714626312256, 1.5785714387893677,
                   1.9285714626312256, 3.2857143878936768, 3.635714292526245,  4.035714149475098,
                   4.435714244842529,  4.785714149475098,  3.4285714626312256, 3.778571367263794,
                   4.1785712242126465, 4.578571319580078,  4.9285712242126465, 6.285714149475098,
                   6.635714530944824,  7.035714149475098,  7.435714244842529,  7.785714149475098,
                   6.4285712242126465, 6.778571605682373,  7.1785712242126465, 7.578571319580078,
                   7.9285712242126465, 9.285714149475098,  9.635714530944824,  10.035714149475098,
                   10.435714721679688, 10.785714149475098});
  // onnxruntime does not support this one (cubic on two axes of a 3-D tensor): reference only.
  expect_near_all(
      resize(x, mode("cubic", {{"axes", std::vector<int64_t>{1, 2}}}), {}, {4, 3}), {2, 4, 3},
      {-0.08047559857368469, 0.6064453125,       1.2933666706085205, 1.122649908065796,
       1.8095703125,         2.4964921474456787, 3.003509998321533,  3.6904296875,
       4.377352237701416,    4.206635475158691,  4.8935546875,       5.580477714538574,
       5.919527053833008,    6.6064453125,       7.293369293212891,  7.122652530670166,
       7.8095703125,         8.49649429321289,   9.003512382507324,  9.6904296875,
       10.377354621887207,   10.20663833618164,  10.8935546875,      11.580480575561523});
}

TEST(Resize, IntegerLinearRoundsHalfToEven) {
  // The ONNX reference rounds (57.5 -> 58, 64.75 -> 65); onnxruntime truncates (57, 64).
  const Tensor x = Tensor::from_vector<uint8_t>(DataType::kUInt8, {1, 1, 2, 2}, {10, 200, 3, 250});
  const Tensor out = resize(x, mode("linear"), {1, 1, 1.5f, 2});
  ASSERT_EQ(out.dtype(), DataType::kUInt8);
  expect_near_all(out, {1, 1, 3, 4}, {10, 58, 152, 200, 6, 61, 170, 225, 3, 65, 188, 250}, 0);
}

TEST(Resize, NearestCopiesAnyDtypeExactly) {
  const int64_t big = (int64_t(1) << 62) + 3;
  const Tensor out = resize(i64({1, 2}, {big, -big}), {}, {1, 2});
  ASSERT_EQ(out.shape(), (Dims{1, 4}));
  EXPECT_EQ(out.data<int64_t>()[0], big);
  EXPECT_EQ(out.data<int64_t>()[3], -big);
}

TEST(Resize, RejectsBadInputs) {
  const Tensor x = arange_4x4();
  const Tensor scales = f32({4}, {1, 1, 2, 2});
  const Tensor sizes = i64({4}, {1, 1, 8, 8});
  EXPECT_THROW(run_op("Resize", {x, Tensor(), scales, sizes}), Error);  // both
  EXPECT_THROW(run_op("Resize", {x}), Error);                           // neither
  EXPECT_THROW(resize(x, mode("bilinear"), {1, 1, 2, 2}), Error);
  EXPECT_THROW(resize(x, {{"nearest_mode", std::string("round")}}, {1, 1, 2, 2}), Error);
  EXPECT_THROW(resize(x, {}, {1, 2, 2}), Error);     // wrong count
  EXPECT_THROW(resize(x, {}, {1, 1, 0, 2}), Error);  // non-positive scale
  EXPECT_THROW(resize(x, {{"axes", std::vector<int64_t>{2, 2}}}, {2, 2}), Error);
  EXPECT_THROW(resize(x, {{"coordinate_transformation_mode", std::string("tf_crop_and_resize")}},
                      {1, 1, 2, 2}),
               Error);  // no roi
  const Tensor flags = Tensor::from_vector<uint8_t>(DataType::kBool, {2}, {1, 0});
  try {
    resize(flags, mode("linear"), {2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
}

}  // namespace
}  // namespace kiln

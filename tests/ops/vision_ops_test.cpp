// NonMaxSuppression, RoiAlign, Col2Im, MaxUnpool and TfIdfVectorizer on small hand-computed
// examples, and the RoiAlign importer for opset 10.
#include <gtest/gtest.h>

#include "onnx/onnx_test_util.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

void expect_values(const Tensor& t, Dims shape, const std::vector<double>& expected,
                   double tol = 1e-6) {
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(t.numel(), int64_t(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(t.as_double(int64_t(i)), expected[i], tol) << "element " << i;
  }
}

// ----- NonMaxSuppression

// Corner boxes [y1, x1, y2, x2]: box 1 overlaps box 0 with IoU 0.9 / 1.1 = 0.82, box 2 is
// apart, box 3 is box 0 with its corners swapped (IoU 1 with box 0).
Tensor corner_boxes() {
  return f32({1, 4, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 2, 1, 3, 1, 1, 0, 0});
}
// class 0: [.9, .8, .7, .95]; class 1: [.1, .6, .2, .3]
Tensor two_class_scores() { return f32({1, 2, 4}, {.9f, .8f, .7f, .95f, .1f, .6f, .2f, .3f}); }

TEST(NonMaxSuppression, KeepsBestBoxesPerClassAndAppliesThresholds) {
  auto out = run_op("NonMaxSuppression", {corner_boxes(), two_class_scores(), i64({1}, {3}),
                                          f32({1}, {0.5f}), f32({1}, {0.25f})});
  // class 0: box 3 (.95), then box 0 and box 1 overlap it, box 2 is kept;
  // class 1: only boxes 1 (.6) and 3 (.3) pass the score threshold, and 3 overlaps 1.
  EXPECT_EQ(out[0].shape(), (Dims{3, 3}));
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 3, 0, 0, 2, 0, 1, 1}));

  // At most one box per class. Then an IoU threshold of 0.9 lets box 1 (and in class 1, box 3)
  // through, but not box 0 (IoU 1 with box 3).
  auto one = run_op("NonMaxSuppression",
                    {corner_boxes(), two_class_scores(), i64({1}, {1}), f32({1}, {0.5f})});
  EXPECT_EQ(one[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 3, 0, 1, 1}));
  auto loose = run_op("NonMaxSuppression",
                      {corner_boxes(), two_class_scores(), i64({1}, {4}), f32({1}, {0.9f})});
  EXPECT_EQ(loose[0].to_int64_vector(),
            (std::vector<int64_t>{0, 0, 3, 0, 0, 1, 0, 0, 2, 0, 1, 1, 0, 1, 3, 0, 1, 2}));
}

TEST(NonMaxSuppression, DefaultsSelectNothingAndCenterPointBoxes) {
  auto none = run_op("NonMaxSuppression", {corner_boxes(), two_class_scores()});
  EXPECT_EQ(none[0].shape(), (Dims{0, 3}));
  // [x_center, y_center, width, height]: boxes 0 and 1 overlap (IoU 0.82), box 2 is apart.
  Tensor centers = f32({1, 3, 4}, {0.5f, 0.5f, 1, 1, 0.5f, 0.6f, 1, 1, 5, 5, 1, 1});
  auto out = run_op("NonMaxSuppression",
                    {centers, f32({1, 1, 3}, {.5f, .9f, .1f}), i64({1}, {3}), f32({1}, {0.5f})},
                    {{"center_point_box", int64_t(1)}});
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 1, 0, 0, 2}));
}

TEST(NonMaxSuppression, RejectsBadShapes) {
  EXPECT_THROW(
      run_op("NonMaxSuppression", {f32({1, 2, 3}, std::vector<float>(6)), f32({1, 1, 2}, {1, 2})}),
      Error);
  EXPECT_THROW(run_op("NonMaxSuppression", {corner_boxes(), f32({1, 1, 3}, {1, 2, 3})}), Error);
  EXPECT_THROW(run_op("NonMaxSuppression", {corner_boxes(), two_class_scores()},
                      {{"center_point_box", int64_t(2)}}),
               Error);
}

// ----- RoiAlign

// A 4x4 map whose value is linear in the position, x + 4 y, so that bilinear samples and their
// averages are easy to compute by hand; a second image adds 100.
Tensor linear_maps() {
  std::vector<float> v;
  for (int n = 0; n < 2; ++n) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) v.push_back(float(x + 4 * y + 100 * n));
    }
  }
  return f32({2, 1, 4, 4}, v);
}

ir::Attributes roi_attrs(const std::string& transform, int64_t out, int64_t ratio,
                         const std::string& mode = "avg") {
  return {{"coordinate_transformation_mode", transform},
          {"output_height", out},
          {"output_width", out},
          {"sampling_ratio", ratio},
          {"mode", mode}};
}

TEST(RoiAlign, SamplesBilinearlyInBothCoordinateModes) {
  const Tensor roi = f32({1, 4}, {0, 0, 2, 2});
  // output_half_pixel: one sample at the bin center (1, 1): 1 + 4.
  auto plain =
      run_op("RoiAlign", {linear_maps(), roi, i64({1}, {0})}, roi_attrs("output_half_pixel", 1, 1));
  expect_values(plain[0], {1, 1, 1, 1}, {5});
  // half_pixel shifts the region by -0.5: sample at (0.5, 0.5): 0.5 + 2.
  auto shifted =
      run_op("RoiAlign", {linear_maps(), roi, i64({1}, {0})}, roi_attrs("half_pixel", 1, 1));
  expect_values(shifted[0], {1, 1, 1, 1}, {2.5});
  // spatial_scale 0.5 maps [0, 0, 4, 4] onto the same region; batch index 1 adds 100.
  ir::Attributes scaled = roi_attrs("output_half_pixel", 1, 1);
  scaled["spatial_scale"] = 0.5;
  auto second =
      run_op("RoiAlign", {linear_maps(), f32({1, 4}, {0, 0, 4, 4}), i64({1}, {1})}, scaled);
  expect_values(second[0], {1, 1, 1, 1}, {105});
}

TEST(RoiAlign, AveragesSamplesAndClampsAtTheBorder) {
  // 2x2 bins of 2 pixels, 2x2 samples each at 0.5 and 1.5 (+2). Samples at 3.5 lie in the last
  // pixel row/column and are clamped to 3, so the last bins average 2.5 and 3: 2.75.
  auto out = run_op("RoiAlign", {linear_maps(), f32({1, 4}, {0, 0, 4, 4}), i64({1}, {0})},
                    roi_attrs("output_half_pixel", 2, 2));
  expect_values(out[0], {1, 1, 2, 2}, {1 + 4 * 1, 2.75 + 4 * 1, 1 + 4 * 2.75, 2.75 + 4 * 2.75});
  // float64 goes the same way.
  auto out64 = run_op("RoiAlign",
                      {linear_maps().cast(DataType::kFloat64),
                       f32({1, 4}, {0, 0, 4, 4}).cast(DataType::kFloat64), i64({1}, {0})},
                      roi_attrs("output_half_pixel", 2, 2));
  ASSERT_EQ(out64[0].dtype(), DataType::kFloat64);
  expect_values(out64[0], {1, 1, 2, 2}, {5, 6.75, 12, 13.75}, 1e-12);
}

TEST(RoiAlign, MaxModeTakesTheLargestWeightedCorner) {
  // Samples at the pixel positions (1|3, 1|3): each is one pixel with weight 1.
  auto grid = run_op("RoiAlign", {linear_maps(), f32({1, 4}, {0, 0, 4, 4}), i64({1}, {0})},
                     roi_attrs("output_half_pixel", 1, 2, "max"));
  expect_values(grid[0], {1, 1, 1, 1}, {15});
  // One sample at (0.5, 0.5) between pixels 0, 1, 4, 5, each weighted 0.25: the largest term is
  // 0.25 * 5 (onnxruntime's definition), not the interpolated 2.5.
  auto between = run_op("RoiAlign", {linear_maps(), f32({1, 4}, {0, 0, 1, 1}), i64({1}, {0})},
                        roi_attrs("output_half_pixel", 1, 1, "max"));
  expect_values(between[0], {1, 1, 1, 1}, {1.25});
}

TEST(RoiAlign, RejectsBadInputs) {
  const Tensor roi = f32({1, 4}, {0, 0, 2, 2});
  EXPECT_THROW(run_op("RoiAlign", {linear_maps(), roi, i64({1}, {2})}), Error);  // no image 2
  EXPECT_THROW(run_op("RoiAlign", {linear_maps(), f32({1, 3}, {0, 0, 2}), i64({1}, {0})}), Error);
  EXPECT_THROW(run_op("RoiAlign", {linear_maps(), roi, i64({2}, {0, 0})}), Error);
  EXPECT_THROW(run_op("RoiAlign", {linear_maps(), roi, i64({1}, {0})},
                      roi_attrs("half_pixel", 1, 1, "median")),
               Error);
  EXPECT_THROW(
      run_op("RoiAlign", {linear_maps(), roi, i64({1}, {0})}, roi_attrs("align_corners", 1, 1)),
      Error);
}

TEST(ImportRoiAlign, Opset10MeansOutputHalfPixel) {
  for (int64_t opset : {10, 16}) {
    testing::ModelBuilder m(opset);
    m.input("x", {"1", "1", "4", "4"});
    m.input("rois", {"1", "4"});
    m.input("batch_indices", {"1"}, onnx::TensorProto::INT64);
    m.node("RoiAlign", {"x", "rois", "batch_indices"}, {"y"});
    m.output("y");
    auto graph = m.import();
    const ir::Node* node = testing::find_node(*graph, "RoiAlign");
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->attr_string("coordinate_transformation_mode", "half_pixel"),
              opset == 10 ? "output_half_pixel" : "half_pixel");
  }
}

// ----- Col2Im

TEST(Col2Im, SumsOverlappingBlocks) {
  // 2x2 blocks over a 3x3 image with stride 1: 4 positions; each pixel gets one term per block
  // covering it.
  auto out = run_op(
      "Col2Im", {f32({1, 4, 4}, std::vector<float>(16, 1)), i64({2}, {3, 3}), i64({2}, {2, 2})});
  expect_values(out[0], {1, 1, 3, 3}, {1, 2, 1, 2, 4, 2, 1, 2, 1});
  // Padding 1 on every side: 3x3 positions over a padded 4x4 image, every real pixel covered 4x.
  auto padded = run_op(
      "Col2Im",
      {Tensor::from_vector<int32_t>(DataType::kInt32, {1, 4, 9}, std::vector<int32_t>(36, 1)),
       i64({2}, {2, 2}), i64({2}, {2, 2})},
      {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  ASSERT_EQ(padded[0].dtype(), DataType::kInt32);
  expect_values(padded[0], {1, 1, 2, 2}, {4, 4, 4, 4}, 0);
}

TEST(Col2Im, NonOverlappingBlocksRearrangeValues) {
  // Two channels, 2x2 blocks with stride 2 tile a 4x4 image: column (c * 4 + k, p) holds
  // 100 c + 10 k + p and lands at pixel (2 py + ky, 2 px + kx).
  std::vector<float> in;
  for (int c = 0; c < 2; ++c) {
    for (int k = 0; k < 4; ++k) {
      for (int p = 0; p < 4; ++p) in.push_back(float(100 * c + 10 * k + p));
    }
  }
  auto out = run_op("Col2Im", {f32({1, 8, 4}, in), i64({2}, {4, 4}), i64({2}, {2, 2})},
                    {{"strides", std::vector<int64_t>{2, 2}}});
  std::vector<double> expected;
  for (int c = 0; c < 2; ++c) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 4; ++x) {
        const int k = (y % 2) * 2 + x % 2, p = (y / 2) * 2 + x / 2;
        expected.push_back(100 * c + 10 * k + p);
      }
    }
  }
  expect_values(out[0], {1, 2, 4, 4}, expected, 0);
}

TEST(Col2Im, RejectsInconsistentShapes) {
  const Tensor ones = f32({1, 4, 4}, std::vector<float>(16, 1));
  EXPECT_THROW(run_op("Col2Im", {ones, i64({2}, {4, 4}), i64({2}, {2, 2})}), Error);  // 9 blocks
  EXPECT_THROW(run_op("Col2Im", {ones, i64({2}, {3, 3}), i64({2}, {3, 3})}), Error);  // 4 % 9
  EXPECT_THROW(run_op("Col2Im", {ones, i64({2}, {3, 3}), i64({1}, {2})}), Error);
  EXPECT_THROW(run_op("Col2Im", {ones, i64({2}, {1, 1}), i64({2}, {2, 2})}), Error);  // too big
}

// ----- MaxUnpool

TEST(MaxUnpool, PutsValuesAtTheirIndices) {
  // The ONNX example: 2x2 pooled values back into 4x4.
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor indices = i64({1, 1, 2, 2}, {5, 7, 13, 15});
  const ir::Attributes attrs = {{"kernel_shape", std::vector<int64_t>{2, 2}},
                                {"strides", std::vector<int64_t>{2, 2}}};
  auto out = run_op("MaxUnpool", {x, indices}, attrs);
  expect_values(out[0], {1, 1, 4, 4}, {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4}, 0);
  // A larger output_shape keeps the 4x4 result at its origin (the ONNX reference's reading).
  auto larger = run_op("MaxUnpool", {x, indices, i64({4}, {1, 1, 5, 5})}, attrs);
  expect_values(larger[0], {1, 1, 5, 5},
                {0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0, 0}, 0);
}

TEST(MaxUnpool, IndicesSpanBatchAndChannels) {
  // 1-D, two channels: kernel 2, stride 2 gives length 4; channel 1's indices are 4..7.
  auto out =
      run_op("MaxUnpool", {f32({1, 2, 2}, {1, 2, 3, 4}), i64({1, 2, 2}, {1, 2, 4, 7})},
             {{"kernel_shape", std::vector<int64_t>{2}}, {"strides", std::vector<int64_t>{2}}});
  expect_values(out[0], {1, 2, 4}, {0, 1, 2, 0, 3, 0, 0, 4}, 0);
}

TEST(MaxUnpool, RejectsBadIndicesAndShapes) {
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  const ir::Attributes attrs = {{"kernel_shape", std::vector<int64_t>{2, 2}},
                                {"strides", std::vector<int64_t>{2, 2}}};
  EXPECT_THROW(run_op("MaxUnpool", {x, i64({1, 1, 2, 2}, {5, 7, 13, 16})}, attrs), Error);
  EXPECT_THROW(
      run_op("MaxUnpool", {x, i64({1, 1, 2, 2}, {5, 7, 13, 15}), i64({4}, {1, 1, 3, 3})}, attrs),
      Error);
  EXPECT_THROW(run_op("MaxUnpool", {x, i64({1, 1, 4}, {5, 7, 13, 15})}, attrs), Error);
  EXPECT_THROW(run_op("MaxUnpool", {x, i64({1, 1, 2, 2}, {5, 7, 13, 15})}), Error);  // no kernel
}

// ----- TfIdfVectorizer

// Pool: 1-grams {1, 3}, 2-grams {(1, 2), (1, 3)}, in output columns 0..3.
ir::Attributes tfidf_attrs(int64_t min_gram, int64_t max_gram, int64_t max_skip,
                           const std::string& mode = "TF") {
  return {{"mode", mode},
          {"min_gram_length", min_gram},
          {"max_gram_length", max_gram},
          {"max_skip_count", max_skip},
          {"ngram_counts", std::vector<int64_t>{0, 2}},
          {"ngram_indexes", std::vector<int64_t>{0, 1, 2, 3}},
          {"pool_int64s", std::vector<int64_t>{1, 3, 1, 2, 1, 3}}};
}

TEST(TfIdfVectorizer, CountsNGramsWithSkips) {
  const Tensor x = i64({5}, {1, 2, 1, 2, 3});
  // 1 twice, 3 once, (1, 2) twice, (1, 3) never adjacent.
  expect_values(run_op("TfIdfVectorizer", {x}, tfidf_attrs(1, 2, 0))[0], {4}, {2, 1, 2, 0});
  // Skipping one token, (1, 3) appears once (positions 2 and 4); 1-grams still count once.
  expect_values(run_op("TfIdfVectorizer", {x}, tfidf_attrs(1, 2, 1))[0], {4}, {2, 1, 2, 1});
  // Only 2-grams.
  expect_values(run_op("TfIdfVectorizer", {x}, tfidf_attrs(2, 2, 1))[0], {4}, {0, 0, 2, 1});
  // Permuted columns.
  ir::Attributes permuted = tfidf_attrs(1, 2, 0);
  permuted["ngram_indexes"] = std::vector<int64_t>{3, 2, 1, 0};
  expect_values(run_op("TfIdfVectorizer", {x}, permuted)[0], {4}, {0, 2, 1, 2});
}

TEST(TfIdfVectorizer, BatchRowsAndWeightings) {
  const Tensor x = Tensor::from_vector<int32_t>(DataType::kInt32, {2, 3}, {1, 2, 3, 3, 3, 1});
  expect_values(run_op("TfIdfVectorizer", {x}, tfidf_attrs(1, 2, 0))[0], {2, 4},
                {1, 1, 1, 0, 1, 2, 0, 0});
  ir::Attributes idf = tfidf_attrs(1, 2, 0, "IDF");
  idf["weights"] = std::vector<double>{0.5, 1, 2, 4};
  expect_values(run_op("TfIdfVectorizer", {x}, idf)[0], {2, 4}, {0.5, 1, 2, 0, 0.5, 1, 0, 0});
  ir::Attributes tfidf = tfidf_attrs(1, 2, 0, "TFIDF");
  tfidf["weights"] = std::vector<double>{0.5, 1, 2, 4};
  expect_values(run_op("TfIdfVectorizer", {x}, tfidf)[0], {2, 4}, {0.5, 1, 2, 0, 0.5, 2, 0, 0});
  // IDF without weights marks presence.
  expect_values(run_op("TfIdfVectorizer", {x}, tfidf_attrs(1, 2, 0, "IDF"))[0], {2, 4},
                {1, 1, 1, 0, 1, 1, 0, 0});
}

TEST(TfIdfVectorizer, RejectsUnsupportedInputs) {
  const Tensor x = i64({3}, {1, 2, 3});
  EXPECT_THROW(run_op("TfIdfVectorizer", {f32({3}, {1, 2, 3})}, tfidf_attrs(1, 2, 0)), Error);
  ir::Attributes strings = tfidf_attrs(1, 2, 0);
  strings.erase("pool_int64s");
  strings["pool_strings"] = std::vector<std::string>{"a", "b", "a", "c", "a", "b"};
  EXPECT_THROW(run_op("TfIdfVectorizer", {x}, strings), Error);
  ir::Attributes odd = tfidf_attrs(1, 2, 0);
  odd["pool_int64s"] = std::vector<int64_t>{1, 3, 1, 2, 1};  // half a 2-gram
  EXPECT_THROW(run_op("TfIdfVectorizer", {x}, odd), Error);
  EXPECT_THROW(run_op("TfIdfVectorizer", {x}, tfidf_attrs(2, 1, 0)), Error);
  EXPECT_THROW(run_op("TfIdfVectorizer", {x}, tfidf_attrs(1, 2, 0, "BM25")), Error);
}

}  // namespace
}  // namespace kiln

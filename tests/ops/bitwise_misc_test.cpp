// BitCast, Unique, Compress, CumProd, ReverseSequence and CenterCropPad against hand-computed
// values (the Unique, CumProd and ReverseSequence cases are the ONNX spec's examples).
#include <gtest/gtest.h>

#include <cmath>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

Tensor i32(Dims shape, std::vector<int32_t> values) {
  return Tensor::from_vector<int32_t>(DataType::kInt32, std::move(shape), values);
}

TEST(BitCast, ReinterpretsIeeeBits) {
  // 1.0f is 0x3F800000 = 1065353216; -2.0f is 0xC0000000 = -1073741824 as int32.
  auto out = run_op("BitCast", {f32({2}, {1.0f, -2.0f})}, {{"to", int64_t(DataType::kInt32)}});
  EXPECT_EQ(out[0].dtype(), DataType::kInt32);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{1065353216, -1073741824}));
  auto back = run_op("BitCast", {out[0]}, {{"to", int64_t(DataType::kFloat32)}});
  EXPECT_EQ(back[0].to_double_vector(), (std::vector<double>{1.0, -2.0}));
  // Widths differ.
  EXPECT_THROW(run_op("BitCast", {f32({1}, {1})}, {{"to", int64_t(DataType::kInt16)}}), Error);
}

TEST(Unique, UnsortedFirstOccurrenceOrder) {
  // Spec example 1: X = [2, 1, 1, 3, 4, 3], sorted = 0.
  auto out = run_op("Unique", {f32({6}, {2, 1, 1, 3, 4, 3})}, {{"sorted", int64_t(0)}}, 4);
  EXPECT_EQ(out[0].to_double_vector(), (std::vector<double>{2, 1, 3, 4}));
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{0, 1, 3, 4}));
  EXPECT_EQ(out[2].to_int64_vector(), (std::vector<int64_t>{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(out[3].to_int64_vector(), (std::vector<int64_t>{1, 2, 2, 1}));
}

TEST(Unique, SortedFlattenedWithNaN) {
  // Spec example 2 ([[1, 3], [2, 3]] -> [1, 2, 3]) plus two NaNs, which collapse into one
  // entry sorted last (numpy.unique's equal_nan).
  auto out = run_op("Unique", {f32({2, 3}, {1, 3, NAN, 2, 3, NAN})}, {}, 4);
  ASSERT_EQ(out[0].shape(), (Dims{4}));
  EXPECT_EQ(out[0].as_double(0), 1);
  EXPECT_EQ(out[0].as_double(1), 2);
  EXPECT_EQ(out[0].as_double(2), 3);
  EXPECT_TRUE(std::isnan(out[0].as_double(3)));
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{0, 3, 1, 2}));
  EXPECT_EQ(out[2].to_int64_vector(), (std::vector<int64_t>{0, 2, 3, 1, 2, 3}));
  EXPECT_EQ(out[3].to_int64_vector(), (std::vector<int64_t>{1, 1, 2, 2}));
}

TEST(Unique, SlicesAlongAxisOne) {
  // Spec example 4: slices along axis 1 of a [2, 4, 2] tensor, sorted lexicographically.
  auto out = run_op("Unique", {f32({2, 4, 2}, {1, 1, 0, 1, 2, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1})},
                    {{"axis", int64_t(1)}}, 4);
  ASSERT_EQ(out[0].shape(), (Dims{2, 3, 2}));
  EXPECT_EQ(out[0].to_double_vector(), (std::vector<double>{0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1}));
  EXPECT_EQ(out[1].to_int64_vector(), (std::vector<int64_t>{1, 0, 2}));
  EXPECT_EQ(out[2].to_int64_vector(), (std::vector<int64_t>{1, 0, 2, 0}));
  EXPECT_EQ(out[3].to_int64_vector(), (std::vector<int64_t>{2, 1, 1}));
  EXPECT_THROW(run_op("Unique", {f32({2}, {1, 2})}, {{"axis", int64_t(1)}}), Error);
}

TEST(Compress, AxisAndFlattened) {
  const Tensor x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor rows = Tensor::from_vector<uint8_t>(DataType::kBool, {3}, {0, 1, 1});
  auto out = run_op("Compress", {x, rows}, {{"axis", int64_t(0)}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  EXPECT_EQ(out[0].to_double_vector(), (std::vector<double>{3, 4, 5, 6}));
  // Along the last axis, and a condition shorter than the flattened input.
  const Tensor cols = Tensor::from_vector<uint8_t>(DataType::kBool, {2}, {0, 1});
  out = run_op("Compress", {x, cols}, {{"axis", int64_t(-1)}});
  EXPECT_EQ(out[0].shape(), (Dims{3, 1}));
  EXPECT_EQ(out[0].to_double_vector(), (std::vector<double>{2, 4, 6}));
  const Tensor some = Tensor::from_vector<uint8_t>(DataType::kBool, {4}, {1, 0, 0, 1});
  out = run_op("Compress", {x, some});
  EXPECT_EQ(out[0].to_double_vector(), (std::vector<double>{1, 4}));
  // A true entry past the axis' end.
  const Tensor too_long = Tensor::from_vector<uint8_t>(DataType::kBool, {3}, {0, 0, 1});
  EXPECT_THROW(run_op("Compress", {x, too_long}, {{"axis", int64_t(1)}}), Error);
}

TEST(CumProd, ExclusiveAndReverse) {
  // Spec example: x = [1, 2, 3].
  const Tensor x = f32({3}, {1, 2, 3});
  const Tensor axis = i64({}, {0});
  EXPECT_EQ(run_op("CumProd", {x, axis})[0].to_double_vector(), (std::vector<double>{1, 2, 6}));
  EXPECT_EQ(run_op("CumProd", {x, axis}, {{"exclusive", int64_t(1)}})[0].to_double_vector(),
            (std::vector<double>{1, 1, 2}));
  EXPECT_EQ(run_op("CumProd", {x, axis}, {{"reverse", int64_t(1)}})[0].to_double_vector(),
            (std::vector<double>{6, 6, 3}));
  EXPECT_EQ(run_op("CumProd", {x, axis}, {{"exclusive", int64_t(1)}, {"reverse", int64_t(1)}})[0]
                .to_double_vector(),
            (std::vector<double>{6, 3, 1}));
}

TEST(CumProd, IntegerAlongLastAxis) {
  auto out = run_op("CumProd", {i32({2, 3}, {1, 2, 3, -4, 5, 6}), i32({}, {-1})});
  EXPECT_EQ(out[0].dtype(), DataType::kInt32);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{1, 2, 6, -4, -20, -120}));
  EXPECT_THROW(run_op("CumProd", {f32({2}, {1, 2}), i64({}, {1})}), Error);
  EXPECT_THROW(
      run_op("CumProd", {Tensor::from_vector<int8_t>(DataType::kInt8, {1}, {1}), i64({}, {0})}),
      Error);
}

TEST(ReverseSequence, SpecExamples) {
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[size_t(i)] = float(i);
  // Example 2: batch_axis 0, time_axis 1, sequence_lens [1, 2, 3, 4].
  auto rows = run_op("ReverseSequence", {f32({4, 4}, x), i64({4}, {1, 2, 3, 4})},
                     {{"batch_axis", int64_t(0)}, {"time_axis", int64_t(1)}});
  EXPECT_EQ(rows[0].to_double_vector(),
            (std::vector<double>{0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 15, 14, 13, 12}));
  // Example 1: time_axis 0, batch_axis 1 (the defaults), input transposed, lens [4, 3, 2, 1].
  std::vector<float> xt(16);
  for (int i = 0; i < 16; ++i) xt[size_t(i)] = float((i % 4) * 4 + i / 4);
  auto cols = run_op("ReverseSequence", {f32({4, 4}, xt), i64({4}, {4, 3, 2, 1})});
  EXPECT_EQ(cols[0].to_double_vector(),
            (std::vector<double>{3, 6, 9, 12, 2, 5, 8, 13, 1, 4, 10, 14, 0, 7, 11, 15}));
  EXPECT_THROW(run_op("ReverseSequence", {f32({4, 4}, x), i64({4}, {1, 2, 3, 5})},
                      {{"batch_axis", int64_t(0)}, {"time_axis", int64_t(1)}}),
               Error);
  EXPECT_THROW(run_op("ReverseSequence", {f32({4, 4}, x), i64({3}, {1, 2, 3})}), Error);
}

TEST(CenterCropPad, CropsAndPadsAroundTheCentre) {
  // Crop 5 -> 3 starts at floor(2 / 2) = 1; pad 5 -> 8 puts floor(3 / 2) = 1 zero before.
  const Tensor x = f32({5}, {1, 2, 3, 4, 5});
  EXPECT_EQ(run_op("CenterCropPad", {x, i64({1}, {3})})[0].to_double_vector(),
            (std::vector<double>{2, 3, 4}));
  EXPECT_EQ(run_op("CenterCropPad", {x, i64({1}, {8})})[0].to_double_vector(),
            (std::vector<double>{0, 1, 2, 3, 4, 5, 0, 0}));
  // 2-D, only axis 1 listed: [2, 4] -> [2, 1] keeps column floor(3 / 2) = 1.
  auto out = run_op("CenterCropPad", {f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), i64({1}, {1})},
                    {{"axes", std::vector<int64_t>{-1}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 1}));
  EXPECT_EQ(out[0].to_double_vector(), (std::vector<double>{2, 6}));
  EXPECT_THROW(run_op("CenterCropPad", {x, i64({2}, {3, 3})}), Error);
}

}  // namespace
}  // namespace kiln

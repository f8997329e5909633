// Concat and Split: hand-worked examples, an element-by-element reference loop for a 3-D
// concat, Split's rules for equal and uneven parts, and the shape errors.
#include <gtest/gtest.h>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

std::vector<float> as_floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

Tensor counting(Dims shape, float first) {
  Tensor t = Tensor::zeros(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = first + float(i);
  return t;
}

TEST(Concat, MiddleAxisMatchesElementLoop) {
  Tensor a = counting({2, 1, 3}, 0);
  Tensor b = counting({2, 2, 3}, 100);
  Tensor c = counting({2, 0, 3}, 500);  // empty along the axis: contributes nothing
  auto out = run_op("Concat", {a, c, b}, {{"axis", int64_t{-2}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3, 3}));
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 3; ++j) {
      for (int64_t k = 0; k < 3; ++k) {
        const float expected =
            j < 1 ? a.data<float>()[(i * 1 + j) * 3 + k] : b.data<float>()[(i * 2 + j - 1) * 3 + k];
        EXPECT_EQ(out[0].data<float>()[(i * 3 + j) * 3 + k], expected) << i << j << k;
      }
    }
  }
}

TEST(Concat, ShapeVectorsOfInt64) {
  auto out =
      run_op("Concat", {i64({2}, {4, 5}), i64({1}, {-1}), i64({0}, {})}, {{"axis", int64_t{0}}});
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{4, 5, -1}));
}

TEST(Concat, LastAxisOfInt8) {
  Tensor a = Tensor::from_vector<int8_t>(DataType::kInt8, {2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<int8_t>(DataType::kInt8, {2, 1}, {-5, -6});
  auto out = run_op("Concat", {a, b}, {{"axis", int64_t{1}}});
  std::vector<int8_t> expected = {1, 2, -5, 3, 4, -6};
  EXPECT_EQ(std::vector<int8_t>(out[0].data<int8_t>(), out[0].data<int8_t>() + 6), expected);
}

TEST(Concat, RejectsMismatches) {
  Tensor a = counting({2, 3}, 0);
  EXPECT_THROW(run_op("Concat", {a, counting({3, 3}, 0)}, {{"axis", int64_t{1}}}), Error);
  EXPECT_THROW(run_op("Concat", {a, counting({2, 3, 1}, 0)}, {{"axis", int64_t{0}}}), Error);
  EXPECT_THROW(run_op("Concat", {a, i64({2, 3}, {1, 2, 3, 4, 5, 6})}, {{"axis", int64_t{0}}}),
               Error);
  EXPECT_THROW(run_op("Concat", {a, a}, {{"axis", int64_t{2}}}), Error);
  EXPECT_THROW(run_op("Concat", {a, a}), Error);  // axis is required
}

TEST(Split, GivenSizes) {
  Tensor x = counting({2, 5}, 0);
  auto out = run_op("Split", {x, i64({2}, {2, 3})}, {{"axis", int64_t{1}}}, 2);
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  ASSERT_EQ(out[1].shape(), (Dims{2, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 1, 5, 6}));
  EXPECT_EQ(as_floats(out[1]), (std::vector<float>{2, 3, 4, 7, 8, 9}));
}

TEST(Split, NumOutputsWithSmallerLastChunk) {
  // 7 into 3 parts: ceil(7/3) = 3, so [3, 3, 1] as the newest spec (and numpy.array_split's
  // cousin torch.chunk) has it.
  Tensor x = counting({7}, 0);
  auto out = run_op("Split", {x}, {{"num_outputs", int64_t{3}}}, 3);
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(as_floats(out[1]), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(as_floats(out[2]), (std::vector<float>{6}));
}

TEST(Split, EqualPartsFromOutputCount) {
  Tensor x = counting({4, 2}, 0);
  auto out = run_op("Split", {x}, {{"axis", int64_t{-2}}}, 2);
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(as_floats(out[1]), (std::vector<float>{4, 5, 6, 7}));
}

TEST(Split, ZeroSizedPart) {
  Tensor x = counting({3}, 0);
  auto out = run_op("Split", {x, i64({3}, {0, 3, 0})}, {}, 3);
  EXPECT_EQ(out[0].shape(), (Dims{0}));
  EXPECT_EQ(as_floats(out[1]), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(out[2].shape(), (Dims{0}));
}

TEST(Split, RejectsInconsistentSizes) {
  Tensor x = counting({2, 5}, 0);
  EXPECT_THROW(run_op("Split", {x, i64({2}, {2, 2})}, {{"axis", int64_t{1}}}, 2), Error);
  EXPECT_THROW(run_op("Split", {x, i64({3}, {2, 2, 1})}, {{"axis", int64_t{1}}}, 2), Error);
  EXPECT_THROW(run_op("Split", {x, i64({2}, {2, 3})},
                      {{"axis", int64_t{1}}, {"num_outputs", int64_t{2}}}, 2),
               Error);
  EXPECT_THROW(run_op("Split", {x}, {{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}}, 2), Error);
  // 5 into 4 parts of ceil(5/4) = 2 leaves nothing (-1) for the last one.
  EXPECT_THROW(run_op("Split", {x}, {{"axis", int64_t{1}}, {"num_outputs", int64_t{4}}}, 4), Error);
  EXPECT_THROW(run_op("Split", {x}, {{"axis", int64_t{2}}}, 2), Error);
}

}  // namespace
}  // namespace kiln

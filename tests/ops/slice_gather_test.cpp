// Slice and the gather/scatter family. Expected values come from numpy slicing (Slice) and from
// onnxruntime 1.32 at opset 18 (scatter reductions, GatherND), as noted per test, or are worked
// out by hand from the ONNX spec's examples.
#include <gtest/gtest.h>

#include <limits>

#include "core/half.h"
#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::i64;
using testing::run_op;

std::vector<float> as_floats(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

Tensor counting(Dims shape) {
  Tensor t = Tensor::zeros(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(i);
  return t;
}

Tensor i32(Dims shape, std::vector<int32_t> values) {
  return Tensor::from_vector<int32_t>(DataType::kInt32, std::move(shape), values);
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// ----- Slice: d = np.arange(60).reshape(3, 4, 5); expected values printed by numpy -----

TEST(Slice, PositiveStepsWithAxesAndClamping) {
  // d[0:2, :, 1:]  (ends 1000 and INT64_MAX clamp to the extent)
  auto out = run_op(
      "Slice", {counting({3, 4, 5}), i64({2}, {0, 1}), i64({2}, {2, kMax}), i64({2}, {0, -1})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 4, 4}));
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{1,  2,  3,  4,  6,  7,  8,  9,  11, 12, 13, 14, 16, 17, 18, 19,
                                21, 22, 23, 24, 26, 27, 28, 29, 31, 32, 33, 34, 36, 37, 38, 39}));
}

TEST(Slice, NegativeStepFromEnd) {
  // d[:, 3::-2, :]  as starts [-1], ends [INT64_MIN], axes [1], steps [-2]
  auto out = run_op("Slice", {counting({3, 4, 5}), i64({1}, {-1}), i64({1}, {kMin}), i64({1}, {1}),
                              i64({1}, {-2})});
  ASSERT_EQ(out[0].shape(), (Dims{3, 2, 5}));
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{15, 16, 17, 18, 19, 5,  6,  7,  8,  9,  35, 36, 37, 38, 39,
                                25, 26, 27, 28, 29, 55, 56, 57, 58, 59, 45, 46, 47, 48, 49}));
}

TEST(Slice, MixedStepsInt32Inputs) {
  // d[-1:-4:-1, 1:3, ::2]
  auto out = run_op("Slice", {counting({3, 4, 5}), i32({3}, {-1, 1, 0}), i32({3}, {-4, 3, 5}),
                              i32({3}, {0, 1, 2}), i32({3}, {-1, 1, 2})});
  ASSERT_EQ(out[0].shape(), (Dims{3, 2, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{45, 47, 49, 50, 52, 54, 25, 27, 29, 30, 32, 34,
                                                   5, 7, 9, 10, 12, 14}));
}

TEST(Slice, NegativeStepEndClampsBeforeFirst) {
  // d[:, :, 4:-6:-2]: end -6 + 5 = -1 clamps to -1, i.e. through index 0
  auto out = run_op(
      "Slice", {counting({3, 4, 5}), i64({1}, {4}), i64({1}, {-6}), i64({1}, {2}), i64({1}, {-2})});
  ASSERT_EQ(out[0].shape(), (Dims{3, 4, 3}));
  EXPECT_EQ(as_floats(out[0]).front(), 4.0f);
  EXPECT_EQ(std::vector<float>(out[0].data<float>(), out[0].data<float>() + 6),
            (std::vector<float>{4, 2, 0, 9, 7, 5}));
  EXPECT_EQ(as_floats(out[0]).back(), 55.0f);
}

TEST(Slice, EmptyResults) {
  // start past end with positive step, start before end with negative step, zero-extent input
  EXPECT_EQ(run_op("Slice", {counting({5}), i64({1}, {3}), i64({1}, {1})})[0].shape(), (Dims{0}));
  EXPECT_EQ(run_op("Slice",
                   {counting({5}), i64({1}, {1}), i64({1}, {3}), i64({1}, {0}), i64({1}, {-1})})[0]
                .shape(),
            (Dims{0}));
  EXPECT_EQ(run_op("Slice", {Tensor::zeros(DataType::kFloat32, {0, 2}), i64({1}, {-1}),
                             i64({1}, {kMin}), i64({1}, {0}), i64({1}, {-1})})[0]
                .shape(),
            (Dims{0, 2}));
}

TEST(Slice, Float16Bytes) {
  std::vector<uint16_t> h;
  for (int i = 0; i < 6; ++i) h.push_back(float_to_fp16(float(i) + 0.5f));
  Tensor x = Tensor::from_vector<uint16_t>(DataType::kFloat16, {2, 3}, h);
  auto out = run_op("Slice", {x, i64({1}, {1}), i64({1}, {3}), i64({1}, {1})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  EXPECT_EQ(fp16_to_float(out[0].data<uint16_t>()[0]), 1.5f);
  EXPECT_EQ(fp16_to_float(out[0].data<uint16_t>()[3]), 5.5f);
}

TEST(Slice, RejectsBadInputs) {
  Tensor x = counting({3, 4});
  EXPECT_THROW(run_op("Slice", {x, i64({1}, {0}), i64({2}, {1, 1})}), Error);  // lengths differ
  EXPECT_THROW(run_op("Slice", {x, i64({1}, {0}), i64({1}, {1}), i64({1}, {2})}), Error);
  EXPECT_THROW(run_op("Slice", {x, i64({2}, {0, 0}), i64({2}, {1, 1}), i64({2}, {1, -1})}),
               Error);  // axis 1 twice
  EXPECT_THROW(run_op("Slice", {x, i64({1}, {0}), i64({1}, {1}), i64({1}, {0}), i64({1}, {0})}),
               Error);                                                      // step 0
  EXPECT_THROW(run_op("Slice", {x, f32({1}, {0}), f32({1}, {1})}), Error);  // float starts
}

// ----- Gather -----

TEST(Gather, Axis0WithNegativeIndices) {
  Tensor data = f32({3, 2}, {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f});
  auto out = run_op("Gather", {data, i64({2, 2}, {0, 1, -1, 2})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2, 2}));
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f, 4.5f, 5.7f}));
}

TEST(Gather, Axis1Int32IndicesAndScalarIndex) {
  Tensor data = counting({2, 3, 2});
  auto out = run_op("Gather", {data, i32({2}, {2, 0})}, {{"axis", int64_t{1}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2, 2}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{4, 5, 0, 1, 10, 11, 6, 7}));
  out = run_op("Gather", {data, i64({}, {-1})}, {{"axis", int64_t{-1}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{1, 3, 5, 7, 9, 11}));
}

TEST(Gather, ShapeElementAsDoneOnShapeTensors) {
  auto out = run_op("Gather", {i64({4}, {8, 128, 12, 64}), i64({1}, {1})});
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{128}));
}

TEST(Gather, RejectsOutOfRangeIndexAndBadAxis) {
  Tensor data = counting({3, 2});
  EXPECT_THROW(run_op("Gather", {data, i64({1}, {3})}), Error);
  EXPECT_THROW(run_op("Gather", {data, i64({1}, {-4})}), Error);
  EXPECT_THROW(run_op("Gather", {data, i64({1}, {0})}, {{"axis", int64_t{2}}}), Error);
  EXPECT_THROW(run_op("Gather", {data, f32({1}, {0})}), Error);
}

// ----- GatherElements (examples of the ONNX spec) -----

TEST(GatherElements, SpecExamples) {
  auto out = run_op("GatherElements", {f32({2, 2}, {1, 2, 3, 4}), i64({2, 2}, {0, 0, 1, 0})},
                    {{"axis", int64_t{1}}});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{1, 1, 4, 3}));
  out = run_op("GatherElements",
               {f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), i32({2, 3}, {1, 2, 0, 2, 0, -3})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{4, 8, 3, 7, 2, 3}));
}

TEST(GatherElements, RejectsBadIndices) {
  Tensor data = f32({2, 2}, {1, 2, 3, 4});
  EXPECT_THROW(run_op("GatherElements", {data, i64({1, 1}, {2})}), Error);
  EXPECT_THROW(run_op("GatherElements", {data, i64({2}, {0, 1})}), Error);        // rank
  EXPECT_THROW(run_op("GatherElements", {data, i64({1, 3}, {0, 0, 0})}), Error);  // dim 1 > 2
}

// ----- GatherND (g = np.arange(24).reshape(2, 3, 4); expected from onnxruntime) -----

TEST(GatherND, SpecExamples) {
  auto out = run_op("GatherND", {f32({2, 2}, {0, 1, 2, 3}), i64({2, 2}, {0, 0, 1, 1})});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 3}));
  out = run_op("GatherND", {f32({2, 2}, {0, 1, 2, 3}), i64({2, 1}, {1, 0})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{2, 3, 0, 1}));
}

TEST(GatherND, BatchDims) {
  Tensor g = counting({2, 3, 4});
  auto out = run_op("GatherND", {g, i64({2, 1}, {1, 0})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3, 4}));
  EXPECT_EQ(as_floats(out[0]).front(), 12.0f);
  EXPECT_EQ(as_floats(out[0]).back(), 11.0f);

  out = run_op("GatherND", {g, i64({2, 2, 2}, {1, 2, 0, -1, 2, 0, 1, 1})},
               {{"batch_dims", int64_t{1}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 2}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{6, 3, 20, 17}));

  out = run_op("GatherND", {g, i64({2, 3, 1}, {3, 0, 1, 2, 2, 0})}, {{"batch_dims", int64_t{2}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{3, 4, 9, 14, 18, 20}));
}

TEST(GatherND, RejectsBadShapes) {
  Tensor g = counting({2, 3, 4});
  EXPECT_THROW(run_op("GatherND", {g, i64({1, 4}, {0, 0, 0, 0})}), Error);  // k > rank
  EXPECT_THROW(run_op("GatherND", {g, i64({3, 1}, {0, 0, 0})}, {{"batch_dims", int64_t{1}}}),
               Error);                                             // batch dim 3 vs 2
  EXPECT_THROW(run_op("GatherND", {g, i64({1, 1}, {2})}), Error);  // index out of range
}

// ----- ScatterElements (data 3x4, indices [[1,0,-1],[2,2,0]] on axis 1; onnxruntime) -----

Tensor scatter_data() { return f32({3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); }
Tensor scatter_indices() { return i64({2, 3}, {1, 0, -1, 2, 2, 0}); }
Tensor scatter_updates() { return f32({2, 3}, {10, 20, 30, 40, 50, 60}); }

TEST(ScatterElements, Reductions) {
  struct Case {
    const char* reduction;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {"add", {21, 12, 3, 34, 65, 6, 97, 8, 9, 10, 11, 12}},
      {"mul", {20, 20, 3, 120, 300, 6, 14000, 8, 9, 10, 11, 12}},
      {"max", {20, 10, 3, 30, 60, 6, 50, 8, 9, 10, 11, 12}},
      {"min", {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
  };
  for (const Case& c : cases) {
    auto out = run_op("ScatterElements", {scatter_data(), scatter_indices(), scatter_updates()},
                      {{"axis", int64_t{1}}, {"reduction", std::string(c.reduction)}});
    EXPECT_EQ(as_floats(out[0]), c.expected) << c.reduction;
  }
}

TEST(ScatterElements, NoneAlongAxis0) {
  auto out = run_op("ScatterElements",
                    {scatter_data(), i64({1, 4}, {1, 0, 2, 0}), f32({1, 4}, {-1, -2, -3, -4})});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{1, -2, 3, -4, -1, 6, 7, 8, 9, 10, -3, 12}));
}

TEST(ScatterElements, IntAndBoolAndFloat16) {
  Tensor data = Tensor::from_vector<int32_t>(DataType::kInt32, {4}, {1, 2, 3, 4});
  auto out = run_op("ScatterElements",
                    {data, i64({3}, {3, 3, 0}),
                     Tensor::from_vector<int32_t>(DataType::kInt32, {3}, {10, 20, -5})},
                    {{"reduction", std::string("add")}});
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{-4, 2, 3, 34}));

  Tensor flags = Tensor::from_vector<uint8_t>(DataType::kBool, {3}, {0, 1, 0});
  out =
      run_op("ScatterElements",
             {flags, i64({2}, {0, 1}), Tensor::from_vector<uint8_t>(DataType::kBool, {2}, {1, 0})},
             {{"reduction", std::string("mul")}});  // "and" on booleans
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 0}));

  std::vector<uint16_t> h = {float_to_fp16(1.5f), float_to_fp16(2.0f)};
  std::vector<uint16_t> u = {float_to_fp16(0.25f), float_to_fp16(0.5f)};
  out = run_op("ScatterElements",
               {Tensor::from_vector<uint16_t>(DataType::kFloat16, {2}, h), i64({2}, {1, 1}),
                Tensor::from_vector<uint16_t>(DataType::kFloat16, {2}, u)},
               {{"reduction", std::string("add")}});
  EXPECT_EQ(fp16_to_float(out[0].data<uint16_t>()[1]), 2.75f);
}

TEST(ScatterElements, RejectsBadInputs) {
  EXPECT_THROW(run_op("ScatterElements", {scatter_data(), scatter_indices(), scatter_updates()},
                      {{"axis", int64_t{1}}, {"reduction", std::string("sum")}}),
               Error);
  EXPECT_THROW(run_op("ScatterElements", {scatter_data(), scatter_indices(), f32({3}, {1, 2, 3})},
                      {{"axis", int64_t{1}}}),
               Error);  // updates shape != indices shape
  EXPECT_THROW(run_op("ScatterElements", {scatter_data(), i64({1, 1}, {4}), f32({1, 1}, {0})},
                      {{"axis", int64_t{1}}}),
               Error);  // index out of range
}

// ----- ScatterND (data = arange(1, 17).reshape(4, 4), rows [0, 2, 0]; onnxruntime) -----

TEST(ScatterND, RowReductions) {
  struct Case {
    const char* reduction;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {"add", {5, 6, 7, 8, 5, 6, 7, 8, 11, 12, 13, 14, 13, 14, 15, 16}},
      {"mul", {3, 6, 9, 12, 5, 6, 7, 8, 18, 20, 22, 24, 13, 14, 15, 16}},
      {"max", {3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
      {"min", {1, 1, 1, 1, 5, 6, 7, 8, 2, 2, 2, 2, 13, 14, 15, 16}},
  };
  Tensor updates = f32({3, 4}, {1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  for (const Case& c : cases) {
    Tensor data = counting({4, 4});
    for (int64_t i = 0; i < 16; ++i) data.data<float>()[i] += 1;
    auto out = run_op("ScatterND", {data, i64({3, 1}, {0, 2, 0}), updates},
                      {{"reduction", std::string(c.reduction)}});
    EXPECT_EQ(as_floats(out[0]), c.expected) << c.reduction;
  }
}

TEST(ScatterND, SingleElementsWithNegativeIndex) {
  Tensor data = counting({4, 4});
  for (int64_t i = 0; i < 16; ++i) data.data<float>()[i] += 1;
  auto out = run_op("ScatterND", {data, i64({2, 2}, {1, -1, 3, 0}), f32({2}, {100, 200})});
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 100, 9, 10, 11, 12, 200, 14, 15, 16}));
}

TEST(ScatterND, RejectsBadShapes) {
  Tensor data = counting({4, 4});
  EXPECT_THROW(run_op("ScatterND", {data, i64({1, 1}, {0}), f32({3}, {1, 2, 3})}), Error);
  EXPECT_THROW(run_op("ScatterND", {data, i64({1, 3}, {0, 0, 0}), f32({1}, {1})}), Error);
  EXPECT_THROW(run_op("ScatterND", {data, i64({1, 1}, {4}), f32({1, 4}, {1, 2, 3, 4})}), Error);
}

}  // namespace
}  // namespace kiln

// Shape, Size, ConstantOfShape, Expand, Range, Tile, Pad, EyeLike, Trilu, OneHot, DepthToSpace,
// SpaceToDepth. Expected values are worked out by hand or printed by numpy (np.pad, np.tile,
// np.triu/np.tril, and the reshape/transpose formulas of the ONNX spec for DepthToSpace and
// SpaceToDepth), as noted per test.
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

Tensor counting(Dims shape, float first = 0) {
  Tensor t = Tensor::zeros(DataType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = first + float(i);
  return t;
}

// ----- Shape, Size -----

TEST(Shape, StartEndClampAsSpecified) {
  Tensor x = Tensor::zeros(DataType::kFloat16, {2, 3, 4});
  using V = std::vector<int64_t>;
  EXPECT_EQ(run_op("Shape", {x})[0].to_int64_vector(), (V{2, 3, 4}));
  EXPECT_EQ(run_op("Shape", {x}, {{"start", int64_t{-1}}})[0].to_int64_vector(), (V{4}));
  EXPECT_EQ(run_op("Shape", {x}, {{"end", int64_t{-1}}})[0].to_int64_vector(), (V{2, 3}));
  EXPECT_EQ(run_op("Shape", {x}, {{"start", int64_t{1}}, {"end", int64_t{2}}})[0].to_int64_vector(),
            (V{3}));
  EXPECT_EQ(
      run_op("Shape", {x}, {{"start", int64_t{-10}}, {"end", int64_t{10}}})[0].to_int64_vector(),
      (V{2, 3, 4}));
  auto empty = run_op("Shape", {x}, {{"start", int64_t{2}}, {"end", int64_t{1}}});
  EXPECT_EQ(empty[0].shape(), (Dims{0}));
  EXPECT_EQ(run_op("Shape", {f32({}, {1})})[0].shape(), (Dims{0}));
}

TEST(Size, CountsElements) {
  auto out = run_op("Size", {Tensor::zeros(DataType::kBool, {2, 3, 4})});
  EXPECT_EQ(out[0].shape(), Dims{});
  EXPECT_EQ(out[0].dtype(), DataType::kInt64);
  EXPECT_EQ(out[0].as_int64(0), 24);
}

// A graph whose input has a dynamic batch: Shape and Size must give their values at shape
// time (the input's contents are unknown), so the Shape -> Gather -> Concat -> Reshape chain
// resolves, as BERT-style exports need.
TEST(Shape, ValuesKnownAtShapeTimeDriveReshape) {
  ir::Graph g;
  ir::Value* x = g.add_input("x", DataType::kFloat32,
                             {ir::Dim::named("batch"), ir::Dim::fixed(3), ir::Dim::fixed(4)});
  ir::Value* shape = g.add_node("Shape", "shape", {x}, {"s"})->outputs[0];
  ir::Value* size = g.add_node("Size", "size", {x}, {"n"})->outputs[0];
  ir::Value* batch =
      g.add_node("Gather", "gather", {shape, g.add_constant("i", i64({1}, {0}))}, {"b"})
          ->outputs[0];
  ir::Value* target = g.add_node("Concat", "concat", {batch, g.add_constant("m", i64({1}, {-1}))},
                                 {"t"}, {{"axis", int64_t{0}}})
                          ->outputs[0];
  ir::Value* y = g.add_node("Reshape", "reshape", {x, target}, {"y"})->outputs[0];
  g.mark_output(y);
  ops::ResolvedShapes r = ops::resolve_shapes(g, {{"x", {5, 3, 4}}});
  EXPECT_EQ(r.of(y).shape, (Dims{5, 12}));
  ASSERT_TRUE(r.values.count(shape));
  EXPECT_EQ(r.values.at(shape).to_int64_vector(), (std::vector<int64_t>{5, 3, 4}));
  ASSERT_TRUE(r.values.count(size));
  EXPECT_EQ(r.values.at(size).as_int64(0), 60);
}

// ----- ConstantOfShape -----

TEST(ConstantOfShape, DefaultFloatZeroAndGivenValue) {
  auto out = run_op("ConstantOfShape", {i64({2}, {2, 3})});
  EXPECT_EQ(out[0].dtype(), DataType::kFloat32);
  EXPECT_EQ(as_floats(out[0]), std::vector<float>(6, 0.0f));

  out = run_op("ConstantOfShape", {i64({3}, {3, 1, 2})}, {{"value", i64({1}, {-7})}});
  EXPECT_EQ(out[0].dtype(), DataType::kInt64);
  EXPECT_EQ(out[0].shape(), (Dims{3, 1, 2}));
  EXPECT_EQ(out[0].to_int64_vector(), std::vector<int64_t>(6, -7));

  Tensor half_one = Tensor::from_vector<uint16_t>(DataType::kFloat16, {1}, {float_to_fp16(1.0f)});
  out = run_op("ConstantOfShape", {i64({0}, {})}, {{"value", half_one}});
  EXPECT_EQ(out[0].shape(), Dims{});
  EXPECT_EQ(fp16_to_float(out[0].data<uint16_t>()[0]), 1.0f);
}

TEST(ConstantOfShape, RejectsBadInputs) {
  EXPECT_THROW(run_op("ConstantOfShape", {i64({2}, {2, -1})}), Error);
  EXPECT_THROW(run_op("ConstantOfShape", {i64({2}, {2, 1})}, {{"value", i64({2}, {1, 2})}}), Error);
}

// ----- Expand -----

TEST(Expand, BroadcastsBothWays) {
  auto out = run_op("Expand", {f32({3, 1}, {1, 2, 3}), i64({3}, {2, 1, 4})});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3, 4}));
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 3; ++i) {
      for (int64_t j = 0; j < 4; ++j) {
        EXPECT_EQ(out[0].data<float>()[(b * 3 + i) * 4 + j], float(i + 1));
      }
    }
  }
  // a 1 in the shape keeps the input's extent
  out = run_op("Expand", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({1}, {1})});
  EXPECT_EQ(out[0].shape(), (Dims{2, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // inner dims kept whole: rows copied as runs
  out = run_op("Expand", {f32({1, 3}, {7, 8, 9}), i64({3}, {2, 2, 3})});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{7, 8, 9, 7, 8, 9, 7, 8, 9, 7, 8, 9}));
}

TEST(Expand, RejectsIncompatibleShape) {
  EXPECT_THROW(run_op("Expand", {f32({3}, {1, 2, 3}), i64({1}, {2})}), Error);
  EXPECT_THROW(run_op("Expand", {f32({3}, {1, 2, 3}), i64({1}, {-1})}), Error);
}

// Shape operands are integer tensors of at most kMaxTensorRank entries: a float NaN must not
// become an extent (a fuzzing finding: Expand with a float shape), and a shape of thousands of
// entries must not become a tensor of that rank (another: a run that took 27 s).
TEST(ShapeOperands, RefuseFloatsAndAbsurdRanks) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto message = [](auto&& run) {
    try {
      run();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(
      message([&] {
        run_op("Expand", {f32({1}, {1}), f32({1}, {nan})});
      }).find("Expand 'node': its shape (input 1) must be an int64 or int32 tensor, got float32"),
      std::string::npos);
  EXPECT_NE(message([&] {
              run_op("ConstantOfShape", {f32({2}, {2, 3})});
            }).find("must be an int64 or int32 tensor"),
            std::string::npos);
  EXPECT_NE(message([&] {
              run_op("Reshape", {f32({1}, {1}), f32({1}, {1})});
            }).find("must be an int64 or int32 tensor"),
            std::string::npos);
  EXPECT_NE(message([&] {
              run_op("Slice", {f32({4}, {1, 2, 3, 4}), f32({1}, {0}), i64({1}, {2})});
            }).find("its starts (input 1) must be an int64 or int32 tensor"),
            std::string::npos);
  const std::vector<int64_t> ones(100000, 1);
  EXPECT_NE(message([&] {
              run_op("ConstantOfShape", {i64({100000}, ones)});
            }).find("has 100000 entries, more than kiln's limit of 64 dimensions"),
            std::string::npos);
  EXPECT_NE(message([&] {
              run_op("Unsqueeze", {f32({1}, {1}), i64({64}, std::vector<int64_t>(64, 0))});
            }).find("repeat an axis"),
            std::string::npos);
  std::vector<int64_t> axes(64);
  for (size_t i = 0; i < axes.size(); ++i) axes[i] = int64_t(i);
  EXPECT_NE(message([&] {
              run_op("Unsqueeze", {f32({1}, {1}), i64({64}, axes)});
            }).find("would have rank 65, more than kiln's limit of 64 dimensions"),
            std::string::npos);
  // at the limit it still works
  axes.pop_back();
  EXPECT_EQ(run_op("Unsqueeze", {f32({1}, {1}), i64({63}, axes)})[0].rank(), 64u);
}

// ----- Range -----

TEST(Range, SpecExamplesAndTypes) {
  auto out = run_op("Range", {i64({}, {3}), i64({}, {9}), i64({}, {3})});
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{3, 6}));
  out = run_op("Range", {i64({}, {10}), i64({}, {4}), i64({}, {-2})});
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{10, 8, 6}));
  out = run_op("Range", {i64({}, {4}), i64({}, {10}), i64({}, {-2})});
  EXPECT_EQ(out[0].shape(), (Dims{0}));

  auto i32 = [](int32_t v) { return Tensor::from_vector<int32_t>(DataType::kInt32, {}, {v}); };
  out = run_op("Range", {i32(-3), i32(2), i32(2)});
  EXPECT_EQ(out[0].dtype(), DataType::kInt32);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{-3, -1, 1}));

  out = run_op("Range", {f32({}, {0}), f32({}, {1}), f32({}, {0.25f})});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));

  // 1 / 0.3 = 3.33: ceil gives 4 elements
  out = run_op("Range", {Tensor::from_vector<double>(DataType::kFloat64, {}, {0.0}),
                         Tensor::from_vector<double>(DataType::kFloat64, {}, {1.0}),
                         Tensor::from_vector<double>(DataType::kFloat64, {}, {0.3})});
  ASSERT_EQ(out[0].numel(), 4);
  EXPECT_DOUBLE_EQ(out[0].data<double>()[3], 0.9);

  auto f16 = [](float v) {
    return Tensor::from_vector<uint16_t>(DataType::kFloat16, {}, {float_to_fp16(v)});
  };
  // 2048 + i in float16: exact up to 2048, then only even values (2049 rounds to 2048, tie to
  // even; 2051 to 2052)
  out = run_op("Range", {f16(2046), f16(2052), f16(1)});
  ASSERT_EQ(out[0].numel(), 6);
  std::vector<float> got;
  for (int64_t i = 0; i < 6; ++i) got.push_back(fp16_to_float(out[0].data<uint16_t>()[i]));
  EXPECT_EQ(got, (std::vector<float>{2046, 2047, 2048, 2048, 2050, 2052}));
}

TEST(Range, RejectsBadInputs) {
  EXPECT_THROW(run_op("Range", {i64({}, {0}), i64({}, {5}), i64({}, {0})}), Error);
  EXPECT_THROW(run_op("Range", {i64({}, {0}), f32({}, {5}), i64({}, {1})}), Error);
  EXPECT_THROW(run_op("Range", {i64({2}, {0, 1}), i64({}, {5}), i64({}, {1})}), Error);
  Tensor b = Tensor::from_vector<uint8_t>(DataType::kBool, {}, {1});
  EXPECT_THROW(run_op("Range", {b, b, b}), Error);
}

// ----- Tile -----

TEST(Tile, RepeatsEachDim) {
  // np.tile(np.arange(1, 7).reshape(2, 3), (2, 2))
  auto out = run_op("Tile", {counting({2, 3}, 1), i64({2}, {2, 2})});
  ASSERT_EQ(out[0].shape(), (Dims{4, 6}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6,
                                                   1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}));
  out = run_op("Tile", {counting({2, 1, 2}), i64({3}, {1, 3, 1})});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3}));
  EXPECT_EQ(run_op("Tile", {counting({2, 3}), i64({2}, {0, 2})})[0].shape(), (Dims{0, 6}));
}

TEST(Tile, RejectsBadRepeats) {
  EXPECT_THROW(run_op("Tile", {counting({2, 3}), i64({1}, {2})}), Error);
  EXPECT_THROW(run_op("Tile", {counting({2, 3}), i64({2}, {1, -1})}), Error);
}

// ----- Pad (x = np.arange(1, 7).reshape(2, 3); expected from np.pad) -----

TEST(Pad, ReflectBeyondExtentRepeatsReflection) {
  // np.pad(x, ((1, 2), (4, 3)), mode='reflect')
  auto out = run_op("Pad", {counting({2, 3}, 1), i64({4}, {1, 4, 2, 3})},
                    {{"mode", std::string("reflect")}});
  ASSERT_EQ(out[0].shape(), (Dims{5, 10}));
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{4, 5, 6, 5, 4, 5, 6, 5, 4, 5, 1, 2, 3, 2, 1, 2, 3,
                                2, 1, 2, 4, 5, 6, 5, 4, 5, 6, 5, 4, 5, 1, 2, 3, 2,
                                1, 2, 3, 2, 1, 2, 4, 5, 6, 5, 4, 5, 6, 5, 4, 5}));
}

TEST(Pad, Wrap) {
  // np.pad(x, ((2, 1), (1, 4)), mode='wrap')
  auto out =
      run_op("Pad", {counting({2, 3}, 1), i64({4}, {2, 1, 1, 4})}, {{"mode", std::string("wrap")}});
  ASSERT_EQ(out[0].shape(), (Dims{5, 8}));
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{3, 1, 2, 3, 1, 2, 3, 1, 6, 4, 5, 6, 4, 5, 6, 4, 3, 1, 2, 3,
                                1, 2, 3, 1, 6, 4, 5, 6, 4, 5, 6, 4, 3, 1, 2, 3, 1, 2, 3, 1}));
}

TEST(Pad, Edge) {
  // np.pad(x, ((0, 1), (2, 1)), mode='edge')
  auto out =
      run_op("Pad", {counting({2, 3}, 1), i64({4}, {0, 2, 1, 1})}, {{"mode", std::string("edge")}});
  EXPECT_EQ(as_floats(out[0]),
            (std::vector<float>{1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6}));
}

TEST(Pad, ConstantWithNegativePadCropping) {
  // pads [1, -1, 0, 2]: crop the first column, then np.pad(x[:, 1:], ((1, 0), (0, 2)), 9)
  auto out = run_op("Pad", {counting({2, 3}, 1), i64({4}, {1, -1, 0, 2}), f32({}, {9})});
  ASSERT_EQ(out[0].shape(), (Dims{3, 4}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{9, 9, 9, 9, 2, 3, 9, 9, 5, 6, 9, 9}));
}

TEST(Pad, AxesInputAndDefaultZero) {
  // np.pad(x, ((0, 0), (1, 1))): only the last axis, given as -1
  auto out = run_op("Pad", {counting({2, 3}, 1), i64({2}, {1, 1}), Tensor(), i64({1}, {-1})});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 1, 2, 3, 0, 0, 4, 5, 6, 0}));
  Tensor bf = Tensor::from_vector<uint16_t>(DataType::kBFloat16, {1}, {float_to_bf16(3.0f)});
  Tensor fill = Tensor::from_vector<uint16_t>(DataType::kBFloat16, {}, {float_to_bf16(-1.0f)});
  out = run_op("Pad", {bf, i64({2}, {1, 0}), fill});
  EXPECT_EQ(bf16_to_float(out[0].data<uint16_t>()[0]), -1.0f);
  EXPECT_EQ(bf16_to_float(out[0].data<uint16_t>()[1]), 3.0f);
}

TEST(Pad, RejectsBadPads) {
  Tensor x = counting({2, 3}, 1);
  EXPECT_THROW(run_op("Pad", {x, i64({2}, {1, 1})}), Error);         // 2 axes need 4 pads
  EXPECT_THROW(run_op("Pad", {x, i64({4}, {0, -4, 0, 0})}), Error);  // crops past the extent
  EXPECT_THROW(run_op("Pad", {x, i64({4}, {0, 0, 0, 0})}, {{"mode", std::string("mirror")}}),
               Error);
  EXPECT_THROW(run_op("Pad", {Tensor::zeros(DataType::kFloat32, {0, 2}), i64({4}, {1, 0, 0, 0})},
                      {{"mode", std::string("edge")}}),
               Error);  // nothing to take the edge of
  EXPECT_THROW(run_op("Pad", {x, i64({4}, {0, 0, 0, 0}), i64({}, {1})}), Error);  // value type
}

// ----- EyeLike, Trilu -----

TEST(EyeLike, DiagonalsAndDtype) {
  auto out = run_op("EyeLike", {counting({3, 4})}, {{"k", int64_t{1}}});
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  // the IR's dtype attribute holds a kiln::DataType (the importer translates ONNX's numbers)
  out = run_op("EyeLike", {counting({3, 2})},
               {{"k", int64_t{-2}}, {"dtype", int64_t(DataType::kInt64)}});
  EXPECT_EQ(out[0].dtype(), DataType::kInt64);
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 0, 1, 0}));
  out = run_op("EyeLike", {Tensor::zeros(DataType::kBFloat16, {2, 2})});
  EXPECT_EQ(bf16_to_float(out[0].data<uint16_t>()[3]), 1.0f);
  EXPECT_EQ(bf16_to_float(out[0].data<uint16_t>()[1]), 0.0f);
  EXPECT_THROW(run_op("EyeLike", {counting({2, 2, 2})}), Error);
}

TEST(Trilu, UpperAndLowerWithK) {
  // np.triu / np.tril of np.arange(1, 13).reshape(3, 4)
  Tensor x = counting({3, 4}, 1);
  EXPECT_EQ(as_floats(run_op("Trilu", {x})[0]),
            (std::vector<float>{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}));
  EXPECT_EQ(as_floats(run_op("Trilu", {x, i64({}, {1})})[0]),
            (std::vector<float>{0, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 12}));
  EXPECT_EQ(as_floats(run_op("Trilu", {x, i64({}, {-1})}, {{"upper", int64_t{0}}})[0]),
            (std::vector<float>{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
  EXPECT_EQ(as_floats(run_op("Trilu", {x, i64({}, {2})}, {{"upper", int64_t{0}}})[0]),
            (std::vector<float>{1, 2, 3, 0, 5, 6, 7, 8, 9, 10, 11, 12}));
  // batched: each 2x2 matrix separately
  EXPECT_EQ(as_floats(run_op("Trilu", {counting({2, 2, 2}, 1)}, {{"upper", int64_t{0}}})[0]),
            (std::vector<float>{1, 0, 3, 4, 5, 0, 7, 8}));
  EXPECT_THROW(run_op("Trilu", {counting({4})}), Error);
}

// ----- OneHot -----

TEST(OneHot, LastAndFirstAxisWithNegativeAndOutOfRange) {
  Tensor indices = i64({4}, {1, -1, 5, 0});  // -1 is depth - 1; 5 is out of range: all off
  Tensor values = f32({2}, {-1, 7});
  auto out = run_op("OneHot", {indices, i64({}, {3}), values});
  ASSERT_EQ(out[0].shape(), (Dims{4, 3}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{-1, 7, -1, -1, -1, 7, -1, -1, -1, 7, -1, -1}));
  out = run_op("OneHot", {indices, f32({1}, {3}), values}, {{"axis", int64_t{0}}});
  ASSERT_EQ(out[0].shape(), (Dims{3, 4}));
  EXPECT_EQ(as_floats(out[0]), (std::vector<float>{-1, -1, -1, 7, 7, -1, -1, -1, -1, 7, -1, -1}));
}

TEST(OneHot, MiddleAxisFloatIndicesInt64Values) {
  // indices [[0, 2], [1, 1]] at axis 1: out[i, d, j] = on where indices[i, j] == d
  auto out = run_op("OneHot", {f32({2, 2}, {0, 2, 1, 1}), i64({}, {3}), i64({2}, {0, 1})},
                    {{"axis", int64_t{1}}});
  ASSERT_EQ(out[0].shape(), (Dims{2, 3, 2}));
  EXPECT_EQ(out[0].to_int64_vector(), (std::vector<int64_t>{1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0}));
  EXPECT_THROW(
      run_op("OneHot", {f32({2}, {0, 1}), i64({}, {3}), i64({2}, {0, 1})}, {{"axis", int64_t{2}}}),
      Error);
  EXPECT_THROW(run_op("OneHot", {f32({2}, {0, 1}), i64({}, {3}), i64({3}, {0, 1, 2})}), Error);
}

// ----- DepthToSpace, SpaceToDepth (numpy reshape/transpose of the ONNX spec) -----

TEST(DepthToSpace, DcrAndCrd) {
  Tensor y = counting({2, 8, 2, 3});
  auto dcr = run_op("DepthToSpace", {y}, {{"blocksize", int64_t{2}}});
  ASSERT_EQ(dcr[0].shape(), (Dims{2, 2, 4, 6}));
  std::vector<float> dcr_expected = {
      0,  12, 1,  13, 2,  14, 24, 36, 25, 37, 26, 38, 3,  15, 4,  16, 5,  17, 27, 39,
      28, 40, 29, 41, 6,  18, 7,  19, 8,  20, 30, 42, 31, 43, 32, 44, 9,  21, 10, 22,
      11, 23, 33, 45, 34, 46, 35, 47, 48, 60, 49, 61, 50, 62, 72, 84, 73, 85, 74, 86,
      51, 63, 52, 64, 53, 65, 75, 87, 76, 88, 77, 89, 54, 66, 55, 67, 56, 68, 78, 90,
      79, 91, 80, 92, 57, 69, 58, 70, 59, 71, 81, 93, 82, 94, 83, 95};
  EXPECT_EQ(as_floats(dcr[0]), dcr_expected);
  auto crd = run_op("DepthToSpace", {y}, {{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}});
  std::vector<float> crd_expected = {
      0,  6,  1,  7,  2,  8,  12, 18, 13, 19, 14, 20, 3,  9,  4,  10, 5,  11, 15, 21,
      16, 22, 17, 23, 24, 30, 25, 31, 26, 32, 36, 42, 37, 43, 38, 44, 27, 33, 28, 34,
      29, 35, 39, 45, 40, 46, 41, 47, 48, 54, 49, 55, 50, 56, 60, 66, 61, 67, 62, 68,
      51, 57, 52, 58, 53, 59, 63, 69, 64, 70, 65, 71, 72, 78, 73, 79, 74, 80, 84, 90,
      85, 91, 86, 92, 75, 81, 76, 82, 77, 83, 87, 93, 88, 94, 89, 95};
  EXPECT_EQ(as_floats(crd[0]), crd_expected);
  EXPECT_THROW(run_op("DepthToSpace", {counting({1, 6, 2, 2})}, {{"blocksize", int64_t{2}}}),
               Error);
  EXPECT_THROW(run_op("DepthToSpace", {y}, {{"blocksize", int64_t{0}}}), Error);
  EXPECT_THROW(run_op("DepthToSpace", {y}), Error);  // blocksize is required
}

TEST(SpaceToDepth, DcrAndCrdInvertDepthToSpace) {
  Tensor z = counting({1, 2, 4, 6});
  auto dcr = run_op("SpaceToDepth", {z}, {{"blocksize", int64_t{2}}});
  ASSERT_EQ(dcr[0].shape(), (Dims{1, 8, 2, 3}));
  EXPECT_EQ(as_floats(dcr[0]),
            (std::vector<float>{0,  2,  4,  12, 14, 16, 24, 26, 28, 36, 38, 40, 1,  3,  5,  13,
                                15, 17, 25, 27, 29, 37, 39, 41, 6,  8,  10, 18, 20, 22, 30, 32,
                                34, 42, 44, 46, 7,  9,  11, 19, 21, 23, 31, 33, 35, 43, 45, 47}));
  auto crd = run_op("SpaceToDepth", {z}, {{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}});
  EXPECT_EQ(as_floats(crd[0]),
            (std::vector<float>{0,  2,  4,  12, 14, 16, 1,  3,  5,  13, 15, 17, 6,  8,  10, 18,
                                20, 22, 7,  9,  11, 19, 21, 23, 24, 26, 28, 36, 38, 40, 25, 27,
                                29, 37, 39, 41, 30, 32, 34, 42, 44, 46, 31, 33, 35, 43, 45, 47}));
  for (const char* mode : {"DCR", "CRD"}) {
    ir::Attributes attrs = {{"blocksize", int64_t{2}}, {"mode", std::string(mode)}};
    auto back = run_op("DepthToSpace", {run_op("SpaceToDepth", {z}, attrs)[0]}, attrs);
    EXPECT_EQ(as_floats(back[0]), as_floats(z)) << mode;
  }
  EXPECT_THROW(run_op("SpaceToDepth", {counting({1, 1, 3, 4})}, {{"blocksize", int64_t{2}}}),
               Error);
  EXPECT_THROW(run_op("SpaceToDepth", {counting({4, 4})}, {{"blocksize", int64_t{2}}}), Error);
}

}  // namespace
}  // namespace kiln

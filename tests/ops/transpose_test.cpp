// Transpose against a plain reference written here: each output element's multi-index is
// recovered by division and mapped through perm. Covers every element size (the compute moves
// bytes), dims of extent 1 (which the compute drops), the tiled 2-D path, and BERT-size shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "ops/op_harness.h"

namespace kiln {
namespace {

using testing::f32;
using testing::run_op;

// A tensor of `dtype` filled with distinct-ish random bytes.
Tensor random_tensor(DataType dtype, Dims shape, uint32_t seed) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  std::mt19937 rng(seed);
  auto* bytes = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = uint8_t(rng());
  return t;
}

Tensor reference_transpose(const Tensor& in, const std::vector<int64_t>& perm) {
  Dims out_shape;
  for (int64_t p : perm) out_shape.push_back(in.dim(size_t(p)));
  Tensor out = Tensor::zeros(in.dtype(), out_shape);
  const size_t element = element_size(in.dtype());
  const Dims in_strides = contiguous_strides(in.shape());
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    int64_t rest = flat;
    int64_t in_offset = 0;
    for (size_t d = out_shape.size(); d-- > 0;) {
      const int64_t coord = rest % out_shape[d];
      rest /= out_shape[d];
      in_offset += coord * in_strides[size_t(perm[d])];
    }
    std::memcpy(static_cast<uint8_t*>(out.raw()) + size_t(flat) * element,
                static_cast<const uint8_t*>(in.raw()) + size_t(in_offset) * element, element);
  }
  return out;
}

void expect_same_bytes(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.shape(), expected.shape());
  ASSERT_EQ(actual.dtype(), expected.dtype());
  EXPECT_EQ(std::memcmp(actual.raw(), expected.raw(), expected.nbytes()), 0);
}

TEST(Transpose, DefaultReversesDims) {
  auto out = run_op("Transpose", {f32({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_EQ(out[0].shape(), (Dims{3, 2}));
  std::vector<float> expected = {1, 4, 2, 5, 3, 6};
  EXPECT_EQ(std::vector<float>(out[0].data<float>(), out[0].data<float>() + 6), expected);
}

TEST(Transpose, EveryPermutationOfRank4EveryElementSize) {
  const Dims shape = {2, 3, 1, 5};
  std::vector<int64_t> perm = {0, 1, 2, 3};
  uint32_t seed = 1;
  for (DataType dtype : {DataType::kUInt8, DataType::kBool, DataType::kFloat16, DataType::kBFloat16,
                         DataType::kFloat32, DataType::kInt32, DataType::kFloat64, DataType::kInt64,
                         DataType::kFloat8E4M3}) {
    Tensor in = random_tensor(dtype, shape, seed++);
    do {
      SCOPED_TRACE(::testing::Message() << to_string(dtype) << " perm " << to_string(perm));
      auto out = run_op("Transpose", {in}, {{"perm", perm}});
      expect_same_bytes(out[0], reference_transpose(in, perm));
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
}

TEST(Transpose, Rank6WithUnitDimsAndLargeTiles) {
  // Extents above the 32-element tile and not multiples of it exercise the tile edges.
  struct Case {
    Dims shape;
    std::vector<int64_t> perm;
  };
  const std::vector<Case> cases = {
      {{1, 70, 1, 45}, {3, 1, 2, 0}},
      {{3, 1, 2, 4, 1, 5}, {5, 2, 0, 4, 3, 1}},
      {{2, 33, 65}, {0, 2, 1}},
      {{2, 33, 65}, {2, 0, 1}},
      {{4, 5, 6, 7}, {0, 2, 3, 1}},
      {{4, 5, 6, 7}, {3, 2, 1, 0}},
      {{1}, {0}},
      {{}, {}},
      {{3, 0, 2}, {2, 0, 1}},
  };
  uint32_t seed = 100;
  for (const Case& c : cases) {
    for (DataType dtype :
         {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt8}) {
      SCOPED_TRACE(::testing::Message() << to_string(dtype) << " shape " << to_string(c.shape)
                                        << " perm " << to_string(c.perm));
      Tensor in = random_tensor(dtype, c.shape, seed++);
      auto out = run_op("Transpose", {in}, {{"perm", c.perm}});
      expect_same_bytes(out[0], reference_transpose(in, c.perm));
    }
  }
}

TEST(Transpose, BertAttentionShapes) {
  // [batch, seq, heads, head_dim] -> heads first, and K^T, as an attention block does them.
  Tensor x = random_tensor(DataType::kFloat32, {2, 128, 12, 64}, 7);
  for (const std::vector<int64_t>& perm :
       std::vector<std::vector<int64_t>>{{0, 2, 1, 3}, {0, 2, 3, 1}, {0, 1, 3, 2}}) {
    SCOPED_TRACE(::testing::Message() << "perm " << to_string(perm));
    const auto start = std::chrono::steady_clock::now();
    auto out = run_op("Transpose", {x}, {{"perm", perm}});
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ::testing::Test::RecordProperty("ms_perm_" + std::to_string(perm[2]) + std::to_string(perm[3]),
                                    std::to_string(ms));
    expect_same_bytes(out[0], reference_transpose(x, perm));
  }
}

TEST(Transpose, RejectsBadPerm) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THROW(run_op("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 0}}}), Error);
  EXPECT_THROW(run_op("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 2}}}), Error);
  EXPECT_THROW(run_op("Transpose", {x}, {{"perm", std::vector<int64_t>{0}}}), Error);
  EXPECT_THROW(run_op("Transpose", {x}, {{"perm", std::vector<int64_t>{-1, 0}}}), Error);
}

}  // namespace
}  // namespace kiln

// The CUDA TensorScatter kernel (KV-cache update) against the CPU backend, through one-node
// networks on random inputs: linear and circular modes, write_indices given at run time or
// omitted, the axis in the middle or last, rows of 1 to 8-byte elements (the kernel moves
// words). Elements are moved, so every result must match exactly. Without a GPU each case
// still builds its GPU engine and skips.
#include <cstdint>
#include <optional>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::random_tensor;

TEST(GpuTensorScatter, LinearAndCircularOverTypesAndAxes) {
  struct Case {
    Dims cache;
    int64_t axis, update_len;
  };
  const std::vector<Case> cases = {
      {{2, 3, 10, 8}, -2, 3},  // [batch, heads, max_seq, head_dim]
      {{3, 12, 5}, 1, 4},      // [batch, max_seq, hidden]
      {{2, 4, 9}, -1, 2},      // axis last: rows of one element
      {{1, 6, 7, 3}, 2, 7},    // the whole cache
  };
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt8, DataType::kInt64}) {
    for (size_t k = 0; k < cases.size(); ++k) {
      const Case& c = cases[k];
      const int64_t axis = c.axis < 0 ? c.axis + int64_t(c.cache.size()) : c.axis;
      Dims update = c.cache;
      update[size_t(axis)] = c.update_len;
      const int64_t cache_len = c.cache[size_t(axis)];
      for (const char* mode : {"linear", "circular"}) {
        SCOPED_TRACE(cat(to_string(t), " case ", k, " ", mode));
        const bool circular = std::string(mode) == "circular";
        const uint32_t seed = 7 * uint32_t(k);
        const Tensor past = random_tensor(t, c.cache, seed + 1, -50, 50);
        const Tensor rows = random_tensor(t, update, seed + 2, -50, 50);
        // Linear: every write inside the cache; circular: any start, wrapping (and negative).
        const Tensor starts = circular
                                  ? random_tensor(DataType::kInt64, {c.cache[0]}, seed + 3, -13, 25)
                                  : random_tensor(DataType::kInt64, {c.cache[0]}, seed + 3, 0,
                                                  double(cache_len - c.update_len));
        auto attrs = [&](ILayer& l) {
          l.set_int("axis", c.axis);
          l.set_string("mode", mode);
        };
        const std::string d =
            check_op("TensorScatter", {in(past), in(rows), in(starts)}, attrs, GpuOptions{1e-12});
        EXPECT_TRUE(has(d, "cuda_tensor_scatter")) << d;
        check_op("TensorScatter", {in(past), in(rows)}, attrs, GpuOptions{1e-12});  // no indices
      }
    }
  }
}

}  // namespace
}  // namespace kiln

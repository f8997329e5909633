// Transpose: output dim i is input dim perm[i] (default: the dims reversed).
//
// This compute is on the hot path of every attention layer (heads split and merged, K^T), so
// it is faster than a plain per-element loop: dims of extent 1 are dropped and output dims that
// are adjacent in the input too are merged, then
//   - when the innermost output dim is contiguous in the input, whole runs are memcpy'd;
//   - when the last two output dims are a 2-D transpose of the input's innermost dim, the copy
//     goes tile by tile so that reads and writes both stay in cache;
//   - otherwise a typed strided loop over the innermost dim.
// The outer dims are walked with an incremental multi-index, never by division per element.
#include <algorithm>
#include <cstring>

#include "ops/common.h"

namespace kiln::ops {
namespace {

std::vector<int64_t> read_perm(const ir::Node& node, size_t rank) {
  std::vector<int64_t> perm;
  if (node.has_attr("perm")) {
    perm = node.attr_ints("perm");
  } else {
    for (size_t i = rank; i-- > 0;) perm.push_back(int64_t(i));
  }
  return perm;
}

void infer_transpose(InferContext& ctx) {
  const Dims& in = ctx.input_shape(0);
  std::vector<int64_t> perm = read_perm(ctx.node(), in.size());
  ctx.check(perm.size() == in.size(), "perm ", to_string(perm), " has ", perm.size(),
            " entries for an input of rank ", in.size());
  std::vector<bool> seen(in.size(), false);
  Dims out;
  for (int64_t p : perm) {
    ctx.check(p >= 0 && p < int64_t(in.size()) && !seen[size_t(p)], "perm ", to_string(perm),
              " is not a permutation of 0..", int64_t(in.size()) - 1);
    seen[size_t(p)] = true;
    out.push_back(in[size_t(p)]);
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
}

// The transpose reduced to its essential dims: output extents and, for each, the stride (in
// elements) of that dim in the input.
struct StridedCopy {
  Dims shape;
  Dims in_strides;
};

StridedCopy simplify(const Dims& in_shape, const std::vector<int64_t>& perm) {
  // Dims of extent 1 contribute nothing to any offset: squeeze them out, renumbering axes.
  std::vector<int64_t> squeezed_axis(in_shape.size(), -1);
  Dims shape;
  for (size_t i = 0; i < in_shape.size(); ++i) {
    if (in_shape[i] == 1) continue;
    squeezed_axis[i] = int64_t(shape.size());
    shape.push_back(in_shape[i]);
  }
  const Dims strides = contiguous_strides(shape);
  StridedCopy plan;
  int64_t previous = -2;
  for (int64_t original : perm) {
    const int64_t axis = squeezed_axis[size_t(original)];
    if (axis < 0) continue;
    if (axis == previous + 1) {
      // Adjacent in the output and in the input: one longer dim with the inner stride.
      plan.shape.back() *= shape[size_t(axis)];
      plan.in_strides.back() = strides[size_t(axis)];
    } else {
      plan.shape.push_back(shape[size_t(axis)]);
      plan.in_strides.push_back(strides[size_t(axis)]);
    }
    previous = axis;
  }
  return plan;
}

// Calls fn(in_offset, out_offset) for every index of the first `outer_rank` dims of `plan`;
// the remaining dims form contiguous output blocks of `block` elements.
template <typename Fn>
void for_each_outer(const StridedCopy& plan, size_t outer_rank, int64_t block, Fn&& fn) {
  int64_t count = 1;
  for (size_t d = 0; d < outer_rank; ++d) count *= plan.shape[d];
  std::vector<int64_t> index(outer_rank, 0);
  int64_t in_offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    fn(in_offset, i * block);
    for (size_t d = outer_rank; d-- > 0;) {
      in_offset += plan.in_strides[d];
      if (++index[d] < plan.shape[d]) break;
      in_offset -= plan.in_strides[d] * index[d];
      index[d] = 0;
    }
  }
}

// out[..., r, c] = in[... + r * row_stride + c * col_stride] where col_stride is large and
// row_stride is 1: copied in square tiles.
template <typename T>
void copy_tiled(const T* in, T* out, int64_t rows, int64_t cols, int64_t col_stride) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r) {
        const T* src = in + r;
        T* dst = out + r * cols;
        for (int64_t c = c0; c < c1; ++c) dst[c] = src[c * col_stride];
      }
    }
  }
}

template <typename T>
void copy_strided(const StridedCopy& plan, const T* in, T* out) {
  const size_t rank = plan.shape.size();
  const int64_t cols = plan.shape[rank - 1];
  const int64_t col_stride = plan.in_strides[rank - 1];
  if (rank >= 2 && plan.in_strides[rank - 2] == 1) {
    const int64_t rows = plan.shape[rank - 2];
    for_each_outer(plan, rank - 2, rows * cols, [&](int64_t in_offset, int64_t out_offset) {
      copy_tiled(in + in_offset, out + out_offset, rows, cols, col_stride);
    });
    return;
  }
  for_each_outer(plan, rank - 1, cols, [&](int64_t in_offset, int64_t out_offset) {
    const T* src = in + in_offset;
    T* dst = out + out_offset;
    for (int64_t c = 0; c < cols; ++c) dst[c] = src[c * col_stride];
  });
}

void compute_transpose(ComputeContext& ctx) {
  const Tensor& in = ctx.input(0);
  Tensor& out = ctx.output(0);
  if (out.numel() == 0) return;
  const StridedCopy plan = simplify(in.shape(), read_perm(ctx.node(), in.rank()));
  const size_t rank = plan.shape.size();
  const size_t element = element_size(in.dtype());
  const auto* src = static_cast<const std::byte*>(in.raw());
  auto* dst = static_cast<std::byte*>(out.raw());
  if (rank == 0 || plan.in_strides[rank - 1] == 1) {
    // The innermost output dim is contiguous in the input: copy whole runs.
    const int64_t run = rank == 0 ? 1 : plan.shape[rank - 1];
    const size_t run_bytes = size_t(run) * element;
    for_each_outer(plan, rank == 0 ? 0 : rank - 1, run, [&](int64_t in_offset, int64_t out_offset) {
      std::memcpy(dst + size_t(out_offset) * element, src + size_t(in_offset) * element, run_bytes);
    });
    return;
  }
  // Elements are moved as unsigned integers of their size, so every dtype takes these paths.
  switch (element) {
    case 1:
      return copy_strided(plan, in.data<uint8_t>(), out.data<uint8_t>());
    case 2:
      return copy_strided(plan, in.data<uint16_t>(), out.data<uint16_t>());
    case 4:
      return copy_strided(plan, in.data<uint32_t>(), out.data<uint32_t>());
    case 8:
      return copy_strided(plan, in.data<uint64_t>(), out.data<uint64_t>());
  }
  fail(ErrorCode::kInternal, ctx.node().describe(), ": no copy for elements of ", element,
       " bytes");
}

KILN_REGISTER_OP(OpDef{
    .name = "Transpose",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = infer_transpose,
    .compute = compute_transpose,
});

}  // namespace
}  // namespace kiln::ops

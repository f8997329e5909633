// RotaryEmbedding (ONNX opset 23), as the reference (src/ops/rotary_embedding.cpp): X is
// [batch, heads, seq, head_size] or [batch, seq, heads * head_size]; the first rotary_dim
// elements of each head form rotary_dim / 2 pairs (i, i + rotary_dim / 2), or (2i, 2i + 1) when
// interleaved, each rotated by its token's angle (cos/sin rows picked by position_ids, or
// [batch, seq] rows of the caches without them); the rest of the head is copied. float32 math,
// rounded once on store. One thread per pair (and per copied element).
//
// A position id outside the caches cannot be reported from the GPU (the CPU throws): that
// token's rotated elements are written as 0.
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

namespace {

struct RotaryArgs {
  int64_t batch, seq, heads, head_size, rotary_dim;
  bool heads_before_seq;  // 4-D X
  bool interleaved;
  int64_t max_position;  // rows of the caches with position_ids
};

template <typename T>
__global__ void rotary_kernel(const T* __restrict__ x, const T* __restrict__ cos_cache,
                              const T* __restrict__ sin_cache,
                              const int64_t* __restrict__ position_ids, T* __restrict__ y,
                              RotaryArgs a) {
  const int64_t half = a.rotary_dim / 2;
  // Per head: `half` pairs, then head_size - rotary_dim copied elements.
  const int64_t per_head = half + (a.head_size - a.rotary_dim);
  const int64_t total = a.batch * a.seq * a.heads * per_head;
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t item = i % per_head;
    const int64_t h = (i / per_head) % a.heads;
    const int64_t s = (i / (per_head * a.heads)) % a.seq;
    const int64_t b = i / (per_head * a.heads * a.seq);
    const int64_t base = a.heads_before_seq ? ((b * a.heads + h) * a.seq + s) * a.head_size
                                            : ((b * a.seq + s) * a.heads + h) * a.head_size;
    if (item >= half) {
      const int64_t d = a.rotary_dim + (item - half);
      y[base + d] = x[base + d];
      continue;
    }
    int64_t row = b * a.seq + s;
    bool valid = true;
    if (position_ids) {
      row = position_ids[b * a.seq + s];
      valid = row >= 0 && row < a.max_position;
    }
    const int64_t first = base + (a.interleaved ? 2 * item : item);
    const int64_t second = base + (a.interleaved ? 2 * item + 1 : item + half);
    if (!valid) {
      y[first] = from_float<T>(0.0f);
      y[second] = from_float<T>(0.0f);
      continue;
    }
    const float c = to_float(cos_cache[row * half + item]);
    const float sn = to_float(sin_cache[row * half + item]);
    const float x1 = to_float(x[first]);
    const float x2 = to_float(x[second]);
    y[first] = from_float<T>(c * x1 - sn * x2);
    y[second] = from_float<T>(sn * x1 + c * x2);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "RotaryEmbedding",
    "cuda_rotary_embedding",
    {},
    [](const NodeQuery& q) {
      const DataType t = q.input(0).dtype;
      if (!is_float16_or_32(t) || q.input(1).dtype != t || q.input(2).dtype != t) return false;
      const size_t rank = q.input(0).shape.size();
      return (rank == 3 || rank == 4) && (!q.has_input(3) || q.input(3).dtype == DataType::kInt64);
    },
    [](RunContext& rc) {
      const DeviceTensor& x = rc.input(0);
      const ir::Node& node = rc.node;
      RotaryArgs a{};
      a.batch = x.shape[0];
      if (x.shape.size() == 4) {
        a.heads_before_seq = true;
        a.heads = x.shape[1];
        a.seq = x.shape[2];
        a.head_size = x.shape[3];
      } else {
        a.seq = x.shape[1];
        a.heads = node.attr_int("num_heads", 0);
        a.head_size = x.shape[2] / a.heads;
      }
      const int64_t rotary_dim = node.attr_int("rotary_embedding_dim", 0);
      a.rotary_dim = rotary_dim == 0 ? a.head_size : rotary_dim;
      a.interleaved = node.attr_int("interleaved", 0) != 0;
      a.max_position = rc.input(1).shape[0];
      const int64_t total = a.batch * a.seq * a.heads * (a.head_size - a.rotary_dim / 2);
      if (total == 0) return;
      const int64_t* position_ids = rc.has_input(3) ? rc.input(3).as<int64_t>() : nullptr;
      dispatch_float(node, x.dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        rotary_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(
            x.as<T>(), rc.input(1).as<T>(), rc.input(2).as<T>(), position_ids, rc.output(0).as<T>(),
            a);
      });
    }});

}  // namespace
}  // namespace kiln::cuda

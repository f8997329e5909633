// NonMaxSuppression as the CPU backend computes it (ONNX opset 11): per batch and class, the
// boxes scoring above score_threshold (when given; NaN scores never) in decreasing score order
// (lower index first among equal scores), each kept unless its IoU with a box kept before
// exceeds iou_threshold, at most max_output_boxes_per_class of them; the output is the
// (batch, class, box) triples ordered by batch, class and rank. Coordinates and the IoU are
// computed in double with the CPU's operations (no fused multiply-add).
//
// On the GPU: order-preserving score keys (0 for the boxes left out) sorted per (batch, class)
// by CUB's stable segmented radix sort; one block per (batch, class) then walks its sorted
// boxes a tile at a time: each thread first checks its box against the boxes kept by earlier
// tiles, then the survivors of the tile are settled in order, each kept one suppressing the
// later ones. The counts go to the host (the output's length), and a last kernel writes the
// triples. max_output_boxes_per_class, iou_threshold and score_threshold are read on the host.
#include <cub/device/device_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "backends/cuda/misc_ops.cuh"

namespace kiln::cuda {
namespace {

constexpr size_t kBoxes = 0, kScores = 1, kMaxOutput = 2, kIouThreshold = 3, kScoreThreshold = 4;
constexpr int kThreads = 256;

struct CornerBox {
  double x_min, y_min, x_max, y_max;
};

__device__ __forceinline__ double min_of(double a, double b) { return b < a ? b : a; }
__device__ __forceinline__ double max_of(double a, double b) { return a < b ? b : a; }

template <typename T>
__global__ void decode_boxes_kernel(const T* boxes, int64_t count, bool center_point,
                                    CornerBox* out) {
  KILN_GRID_STRIDE_LOOP(i, count) {
    const double a = widen_to<double>(boxes[i * 4]), b = widen_to<double>(boxes[i * 4 + 1]);
    const double c = widen_to<double>(boxes[i * 4 + 2]), d = widen_to<double>(boxes[i * 4 + 3]);
    if (center_point) {  // [x_center, y_center, width, height]
      out[i] = CornerBox{a - c / 2, b - d / 2, a + c / 2, b + d / 2};
    } else {  // [y1, x1, y2, x2], either corner first
      out[i] = CornerBox{min_of(b, d), min_of(a, c), max_of(b, d), max_of(a, c)};
    }
  }
}

__device__ __forceinline__ double area_of(const CornerBox& b) {
  return __dmul_rn(b.x_max - b.x_min, b.y_max - b.y_min);
}

__device__ bool overlaps_too_much(const CornerBox& p, const CornerBox& q, double iou_threshold) {
  const double ix = min_of(p.x_max, q.x_max) - max_of(p.x_min, q.x_min);
  const double iy = min_of(p.y_max, q.y_max) - max_of(p.y_min, q.y_min);
  if (ix <= 0 || iy <= 0) return false;
  const double intersection = __dmul_rn(ix, iy);
  const double pa = area_of(p), qa = area_of(q);
  const double union_area = __dsub_rn(__dadd_rn(pa, qa), intersection);
  if (pa <= 0 || qa <= 0 || union_area <= 0) return false;
  return intersection / union_area > iou_threshold;
}

template <typename T>
__global__ void score_keys_kernel(const T* scores, int64_t total, int64_t num_boxes,
                                  bool has_threshold, double threshold,
                                  typename KeyOf<T>::type* keys, int32_t* positions) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const T s = scores[i];
    const double score = widen_to<double>(s);
    const bool candidate = !isnan(score) && (!has_threshold || score > threshold);
    keys[i] = candidate ? order_key(s) : 0;  // every real score's key is above 0
    positions[i] = int32_t(i % num_boxes);
  }
}

__global__ void nms_offsets_kernel(int* offsets, int64_t segments, int64_t length) {
  KILN_GRID_STRIDE_LOOP(s, segments + 1) offsets[s] = int(s * length);
}

// One block per (batch, class): kept[segment * limit + r] for r < counts[segment].
template <typename Key>
__global__ void nms_select_kernel(const Key* sorted_keys, const int32_t* sorted_positions,
                                  const CornerBox* boxes, int64_t classes, int64_t num_boxes,
                                  int64_t limit, double iou_threshold, int64_t* kept,
                                  int64_t* counts) {
  __shared__ bool alive[kThreads];
  __shared__ int32_t candidate[kThreads];
  const int64_t segment = blockIdx.x;
  const int64_t batch = segment / classes;
  const Key* keys = sorted_keys + segment * num_boxes;
  const int32_t* positions = sorted_positions + segment * num_boxes;
  const CornerBox* own_boxes = boxes + batch * num_boxes;
  int64_t* own_kept = kept + segment * limit;
  int64_t count = 0;  // the same in every thread
  const int tid = int(threadIdx.x);
  for (int64_t base = 0; base < num_boxes && count < limit; base += kThreads) {
    const int64_t p = base + tid;
    const bool valid = p < num_boxes && keys[p] != 0;
    const int32_t box = valid ? positions[p] : -1;
    bool survives = valid;
    if (survives) {
      const CornerBox mine = own_boxes[box];
      for (int64_t q = 0; q < count; ++q) {
        if (overlaps_too_much(mine, own_boxes[own_kept[q]], iou_threshold)) {
          survives = false;
          break;
        }
      }
    }
    alive[tid] = survives;
    candidate[tid] = box;
    __syncthreads();
    for (int t = 0; t < kThreads && count < limit; ++t) {
      if (!alive[t]) continue;  // uniform: written before the last barrier
      if (tid == 0) own_kept[count] = candidate[t];
      if (tid > t && alive[tid] &&
          overlaps_too_much(own_boxes[candidate[tid]], own_boxes[candidate[t]], iou_threshold)) {
        alive[tid] = false;
      }
      ++count;
      __syncthreads();
    }
    __syncthreads();
  }
  if (tid == 0) counts[segment] = count;
}

__global__ void nms_write_kernel(const int64_t* kept, const int64_t* counts,
                                 const int64_t* inclusive, int64_t segments, int64_t classes,
                                 int64_t limit, int64_t* out) {
  KILN_GRID_STRIDE_LOOP(t, segments * limit) {
    const int64_t segment = t / limit, r = t % limit;
    if (r >= counts[segment]) continue;
    const int64_t row = inclusive[segment] - counts[segment] + r;
    out[row * 3] = segment / classes;
    out[row * 3 + 1] = segment % classes;
    out[row * 3 + 2] = kept[t];
  }
}

double optional_scalar(const RunContext& rc, size_t i, double fallback, const char* what) {
  if (!rc.has_input(i)) return fallback;
  const Tensor& t = rc.host_input(i, what);
  return t.numel() == 0 ? fallback : t.as_double(0);
}

void run_nms(RunContext& rc) {
  KILN_CHECK(rc.allocate_output != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": NonMaxSuppression's output size is computed when it runs, but the executor gave "
             "no way to allocate it");
  const DeviceTensor& boxes = rc.input(kBoxes);
  const DeviceTensor& scores = rc.input(kScores);
  const bool center_point = rc.node.attr_int("center_point_box", 0) == 1;
  const int64_t batches = scores.shape[0], classes = scores.shape[1], num_boxes = scores.shape[2];
  const int64_t max_per_class = std::max<int64_t>(
      int64_t(optional_scalar(rc, kMaxOutput, 0, "max_output_boxes_per_class")), 0);
  const double iou_threshold = optional_scalar(rc, kIouThreshold, 0, "iou_threshold");
  const bool has_score_threshold = rc.has_input(kScoreThreshold) &&
                                   rc.host_input(kScoreThreshold, "score_threshold").numel() > 0;
  const double score_threshold = optional_scalar(rc, kScoreThreshold, 0, "score_threshold");
  const int64_t segments = batches * classes;
  const int64_t limit = std::min(max_per_class, num_boxes);
  if (segments == 0 || limit == 0) {
    rc.allocate_output(0, {0, 3});
    return;
  }
  const int64_t total = segments * num_boxes;

  dispatch_float_or_double(scores.dtype, [&](auto tag) {
    using S = typename decltype(tag)::type;
    using Key = typename KeyOf<S>::type;
    size_t sort_bytes = 0, scan_bytes = 0;
    check_cuda(
        cub::DeviceSegmentedRadixSort::SortPairsDescending(
            nullptr, sort_bytes, static_cast<const Key*>(nullptr), static_cast<Key*>(nullptr),
            static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), int(total),
            int(segments), static_cast<const int*>(nullptr), static_cast<const int*>(nullptr), 0,
            int(sizeof(Key) * 8), rc.stream),
        rc.node, "sizing the score sort");
    check_cuda(cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<int64_t*>(nullptr),
                                             static_cast<int64_t*>(nullptr), segments, rc.stream),
               rc.node, "sizing the count scan");
    ScratchLayout layout;
    const size_t keys_in = layout.add(size_t(total) * sizeof(Key));
    const size_t keys_out = layout.add(size_t(total) * sizeof(Key));
    const size_t pos_in = layout.add(size_t(total) * sizeof(int32_t));
    const size_t pos_out = layout.add(size_t(total) * sizeof(int32_t));
    const size_t offsets_at = layout.add(size_t(segments + 1) * sizeof(int));
    const size_t boxes_at = layout.add(size_t(batches * num_boxes) * sizeof(CornerBox));
    const size_t kept_at = layout.add(size_t(segments * limit) * sizeof(int64_t));
    const size_t counts_at = layout.add(size_t(segments) * sizeof(int64_t));
    const size_t inclusive_at = layout.add(size_t(segments) * sizeof(int64_t));
    const size_t temp_at = layout.add(std::max(sort_bytes, scan_bytes));
    std::byte* base = node_state<DeviceScratch>(rc).get(rc.node, layout.total());
    auto* ki = reinterpret_cast<Key*>(base + keys_in);
    auto* ko = reinterpret_cast<Key*>(base + keys_out);
    auto* pi = reinterpret_cast<int32_t*>(base + pos_in);
    auto* po = reinterpret_cast<int32_t*>(base + pos_out);
    auto* offsets = reinterpret_cast<int*>(base + offsets_at);
    auto* corner = reinterpret_cast<CornerBox*>(base + boxes_at);
    auto* kept = reinterpret_cast<int64_t*>(base + kept_at);
    auto* counts = reinterpret_cast<int64_t*>(base + counts_at);
    auto* inclusive = reinterpret_cast<int64_t*>(base + inclusive_at);

    score_keys_kernel<S><<<grid_for(total), kBlock, 0, rc.stream>>>(
        scores.as<S>(), total, num_boxes, has_score_threshold, score_threshold, ki, pi);
    nms_offsets_kernel<<<grid_for(segments + 1), kBlock, 0, rc.stream>>>(offsets, segments,
                                                                         num_boxes);
    dispatch_float_or_double(boxes.dtype, [&](auto box_tag) {
      using B = typename decltype(box_tag)::type;
      decode_boxes_kernel<B><<<grid_for(batches * num_boxes), kBlock, 0, rc.stream>>>(
          boxes.as<B>(), batches * num_boxes, center_point, corner);
    });
    check_cuda(cudaGetLastError(), rc.node, "launching the NMS preparation");
    size_t temp_bytes = sort_bytes;
    check_cuda(cub::DeviceSegmentedRadixSort::SortPairsDescending(
                   base + temp_at, temp_bytes, ki, ko, pi, po, int(total), int(segments), offsets,
                   offsets + 1, 0, int(sizeof(Key) * 8), rc.stream),
               rc.node, "sorting the scores");
    nms_select_kernel<Key><<<unsigned(segments), kThreads, 0, rc.stream>>>(
        ko, po, corner, classes, num_boxes, limit, iou_threshold, kept, counts);
    check_cuda(cudaGetLastError(), rc.node, "launching the NMS selection");
    temp_bytes = scan_bytes;
    check_cuda(cub::DeviceScan::InclusiveSum(base + temp_at, temp_bytes, counts, inclusive,
                                             segments, rc.stream),
               rc.node, "summing the counts");
    int64_t selected = 0;
    check_cuda(cudaMemcpyAsync(&selected, inclusive + (segments - 1), sizeof(int64_t),
                               cudaMemcpyDeviceToHost, rc.stream),
               rc.node, "copying the output size to the host");
    check_cuda(cudaStreamSynchronize(rc.stream), rc.node, "computing the output size");
    DeviceTensor& out = rc.allocate_output(0, {selected, 3});
    if (selected == 0) return;
    nms_write_kernel<<<grid_for(segments * limit), kBlock, 0, rc.stream>>>(
        kept, counts, inclusive, segments, classes, limit, out.as<int64_t>());
    check_cuda(cudaGetLastError(), rc.node, "launching the NMS output");
  });
}

bool supports_nms(const NodeQuery& q) {
  auto float_type = [](DataType t) { return is_float16_or_32(t) || t == DataType::kFloat64; };
  if (!float_type(q.input(kBoxes).dtype) || !float_type(q.input(kScores).dtype)) return false;
  const Dims& s = q.input(kScores).shape;
  const Dims& b = q.input(kBoxes).shape;
  if (s.size() != 3 || b.size() != 3 || b[2] != 4) return false;
  // CUB's counts and the segment grid are int.
  return volume(s) < (int64_t(1) << 31) && s[0] * s[1] < (int64_t(1) << 31);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"NonMaxSuppression",
                                     "cuda_non_max_suppression",
                                     {kMaxOutput, kIouThreshold, kScoreThreshold},
                                     supports_nms,
                                     run_nms});

}  // namespace
}  // namespace kiln::cuda

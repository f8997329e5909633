// TopK: the k largest (or smallest) elements along an axis and their indices, sorted, ties
// broken by the lower index, NaN above every number (as the CPU backend orders them).
//
// Every element becomes an item: its order-preserving key (inverted for smallest) and its
// inverted index, compared as one number (a 64-bit integer for types up to 4 bytes), so that
// "k largest items" is exactly the wanted selection and order, with no ties left.
//
// k <= kMaxBlockK (classification heads, beam search): each block keeps its current best k
// items sorted at the front of a shared-memory buffer and appends the items of each tile of the
// row that beat the current k-th best; when the buffer could overflow it bitonic-sorts the
// whole buffer, which keeps the best k in front and raises the threshold. Few rows with long
// extents are split into chunks whose best k go through a second pass of the same routine.
// Larger k: CUB's segmented radix sort of (key, index) pairs per row (stable, so equal keys
// keep the lower index first), then a gather.
#include <cub/device/device_segmented_radix_sort.cuh>

#include "backends/cuda/misc_ops.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlockK = 1024;

// Items: larger is better; the all-zero item is below every real one (a real item's inverted
// index is never 0 since extents stay below 2^32 - 1).
struct WideItem {
  uint64_t key;
  uint32_t inverted_index;
};

__device__ __forceinline__ bool item_greater(unsigned long long a, unsigned long long b) {
  return a > b;
}
__device__ __forceinline__ bool item_greater(const WideItem& a, const WideItem& b) {
  return a.key > b.key || (a.key == b.key && a.inverted_index > b.inverted_index);
}

template <typename Key>
struct ItemFor;
template <>
struct ItemFor<uint32_t> {
  using type = unsigned long long;
  static __device__ __forceinline__ type make(uint32_t key, uint32_t index) {
    return (static_cast<type>(key) << 32) | static_cast<type>(0xFFFFFFFFu - index);
  }
  static __device__ __forceinline__ uint32_t index(type item) {
    return 0xFFFFFFFFu - static_cast<uint32_t>(item);
  }
  static __device__ __forceinline__ type none() { return 0; }
};
template <>
struct ItemFor<uint64_t> {
  using type = WideItem;
  static __device__ __forceinline__ type make(uint64_t key, uint32_t index) {
    return WideItem{key, 0xFFFFFFFFu - index};
  }
  static __device__ __forceinline__ uint32_t index(const type& item) {
    return 0xFFFFFFFFu - item.inverted_index;
  }
  static __device__ __forceinline__ type none() { return WideItem{0, 0}; }
};

// Sorts buf[0, size) (a power of two) in decreasing order; every thread of the block calls it.
template <typename Item>
__device__ void bitonic_sort_descending(Item* buf, int size) {
  for (int span = 2; span <= size; span <<= 1) {
    for (int stride = span / 2; stride > 0; stride >>= 1) {
      for (int i = int(threadIdx.x); i < size / 2; i += int(blockDim.x)) {
        const int lo = 2 * i - (i & (stride - 1));
        const int hi = lo + stride;
        const bool descending = (lo & span) == 0;
        const Item a = buf[lo], b = buf[hi];
        if (descending ? item_greater(b, a) : item_greater(a, b)) {
          buf[lo] = b;
          buf[hi] = a;
        }
      }
      __syncthreads();
    }
  }
}

// Leaves the best k of the `count` items load(0..count) sorted in buf[0, k) (padded with
// none() when count < k). buf holds `size` items (a power of two >= k + 2 * blockDim.x).
template <typename Item, typename None, typename Load>
__device__ void block_select(Item* buf, int size, int k, int64_t count, None none, Load load) {
  __shared__ int appended;
  for (int i = int(threadIdx.x); i < size; i += int(blockDim.x)) buf[i] = none();
  if (threadIdx.x == 0) appended = 0;
  __syncthreads();
  Item threshold = none();
  const int64_t tile = blockDim.x;
  for (int64_t base = 0; base < count; base += tile) {
    const int64_t at = base + threadIdx.x;
    if (at < count) {
      const Item item = load(at);
      if (item_greater(item, threshold)) buf[k + atomicAdd(&appended, 1)] = item;
    }
    __syncthreads();
    const int pending = appended;
    __syncthreads();  // every thread has read `appended` before it changes again
    const bool last = base + tile >= count;
    if (pending > 0 && (last || k + pending + tile > size)) {
      if (threadIdx.x == 0) appended = 0;
      for (int i = k + pending + int(threadIdx.x); i < size; i += int(blockDim.x)) buf[i] = none();
      __syncthreads();
      bitonic_sort_descending(buf, size);
      threshold = buf[k - 1];
    }
  }
  __syncthreads();
}

struct RowLayout {
  int64_t n = 0;      // extent of the axis
  int64_t inner = 1;  // product of the dims after the axis
  int64_t k = 0;
  int64_t chunk = 0;  // elements per chunk (first pass)
  int chunks = 1;
  bool largest = true;
};

// First pass (or the only one when chunks == 1): the best k of each chunk of each row.
template <typename T>
__global__ void topk_chunk_kernel(const T* x, RowLayout rl, int size,
                                  typename ItemFor<typename KeyOf<T>::type>::type* candidates,
                                  T* values, int64_t* indices) {
  using Key = typename KeyOf<T>::type;
  using IF = ItemFor<Key>;
  using Item = typename IF::type;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  Item* buf = reinterpret_cast<Item*>(shared_raw);
  const int64_t row = blockIdx.x;
  const int chunk = int(blockIdx.y);
  const int64_t o = row / rl.inner, j = row % rl.inner;
  const int64_t in_base = o * rl.n * rl.inner + j;
  const int64_t begin = int64_t(chunk) * rl.chunk;
  const int64_t end = begin + rl.chunk < rl.n ? begin + rl.chunk : rl.n;
  const int k = int(rl.k);
  block_select(
      buf, size, k, end > begin ? end - begin : 0, []() { return IF::none(); },
      [&](int64_t i) {
        const int64_t e = begin + i;
        Key key = order_key(x[in_base + e * rl.inner]);
        if (!rl.largest) key = ~key;
        return IF::make(key, uint32_t(e));
      });
  if (rl.chunks > 1) {
    Item* out = candidates + (row * rl.chunks + chunk) * rl.k;
    for (int r = int(threadIdx.x); r < k; r += int(blockDim.x)) out[r] = buf[r];
    return;
  }
  const int64_t out_base = o * rl.k * rl.inner + j;
  for (int r = int(threadIdx.x); r < k; r += int(blockDim.x)) {
    const int64_t index = IF::index(buf[r]);
    values[out_base + r * rl.inner] = x[in_base + index * rl.inner];
    indices[out_base + r * rl.inner] = index;
  }
}

// Second pass: the best k of each row's chunks' candidates.
template <typename T>
__global__ void topk_merge_kernel(const T* x, RowLayout rl, int size,
                                  const typename ItemFor<typename KeyOf<T>::type>::type* candidates,
                                  T* values, int64_t* indices) {
  using IF = ItemFor<typename KeyOf<T>::type>;
  using Item = typename IF::type;
  extern __shared__ __align__(16) unsigned char shared_raw[];
  Item* buf = reinterpret_cast<Item*>(shared_raw);
  const int64_t row = blockIdx.x;
  const int64_t o = row / rl.inner, j = row % rl.inner;
  const Item* own = candidates + row * rl.chunks * rl.k;
  const int k = int(rl.k);
  block_select(
      buf, size, k, int64_t(rl.chunks) * rl.k, []() { return IF::none(); },
      [&](int64_t i) { return own[i]; });
  const int64_t in_base = o * rl.n * rl.inner + j;
  const int64_t out_base = o * rl.k * rl.inner + j;
  for (int r = int(threadIdx.x); r < k; r += int(blockDim.x)) {
    const int64_t index = IF::index(buf[r]);
    values[out_base + r * rl.inner] = x[in_base + index * rl.inner];
    indices[out_base + r * rl.inner] = index;
  }
}

// ----- Large k: segmented radix sort

template <typename T>
__global__ void topk_keys_kernel(const T* x, RowLayout rl, int64_t rows,
                                 typename KeyOf<T>::type* keys, int32_t* positions) {
  const int64_t total = rows * rl.n;
  KILN_GRID_STRIDE_LOOP(t, total) {
    const int64_t row = t / rl.n, e = t % rl.n;
    const int64_t o = row / rl.inner, j = row % rl.inner;
    auto key = order_key(x[(o * rl.n + e) * rl.inner + j]);
    keys[t] = rl.largest ? key : ~key;
    positions[t] = int32_t(e);
  }
}

__global__ void segment_offsets_kernel(int* offsets, int64_t segments, int64_t length) {
  KILN_GRID_STRIDE_LOOP(s, segments + 1) offsets[s] = int(s * length);
}

template <typename T>
__global__ void topk_gather_kernel(const T* x, RowLayout rl, int64_t rows,
                                   const int32_t* sorted_positions, T* values, int64_t* indices) {
  const int64_t total = rows * rl.k;
  KILN_GRID_STRIDE_LOOP(t, total) {
    const int64_t row = t / rl.k, r = t % rl.k;
    const int64_t o = row / rl.inner, j = row % rl.inner;
    const int64_t index = sorted_positions[row * rl.n + r];
    const int64_t to = (o * rl.k + r) * rl.inner + j;
    values[to] = x[(o * rl.n + index) * rl.inner + j];
    indices[to] = index;
  }
}

int64_t next_power_of_two(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

int sm_count() {
  static const int count = [] {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      return 100;
    }
    return sms;
  }();
  return count;
}

template <typename T>
void run_typed(RunContext& rc, const RowLayout& base_layout, int64_t rows) {
  using Key = typename KeyOf<T>::type;
  using Item = typename ItemFor<Key>::type;
  const DeviceTensor& x = rc.input(0);
  const T* xd = x.as<T>();
  T* values = rc.outputs[0].as<T>();
  int64_t* indices = rc.outputs[1].as<int64_t>();
  RowLayout rl = base_layout;
  auto& scratch = node_state<DeviceScratch>(rc);

  if (rl.k <= kMaxBlockK) {
    // Split long rows when there are too few rows to fill the GPU.
    const int64_t min_chunk = std::max<int64_t>(1024, 8 * rl.k);
    const int64_t wanted = (2 * int64_t(sm_count()) + rows - 1) / rows;
    const int64_t chunks =
        std::max<int64_t>(1, std::min(wanted, (rl.n + min_chunk - 1) / min_chunk));
    rl.chunks = int(chunks);
    rl.chunk = (rl.n + chunks - 1) / chunks;
    // The buffer: the best k, then room for two tiles of candidates (or all of them).
    auto buffer_size = [&](int64_t count) {
      return int(next_power_of_two(rl.k + std::min<int64_t>(2 * kThreads, count)));
    };
    const int size = buffer_size(rl.chunk);
    const size_t shared = size_t(size) * sizeof(Item);
    Item* candidates = nullptr;
    if (chunks > 1) {
      candidates = reinterpret_cast<Item*>(
          scratch.get(rc.node, size_t(rows * chunks * rl.k) * sizeof(Item)));
    }
    topk_chunk_kernel<T><<<dim3(unsigned(rows), unsigned(chunks)), kThreads, shared, rc.stream>>>(
        xd, rl, size, candidates, values, indices);
    check_cuda(cudaGetLastError(), rc.node, "launching the TopK selection");
    if (chunks > 1) {
      const int merge_size = buffer_size(chunks * rl.k);
      topk_merge_kernel<T>
          <<<unsigned(rows), kThreads, size_t(merge_size) * sizeof(Item), rc.stream>>>(
              xd, rl, merge_size, candidates, values, indices);
      check_cuda(cudaGetLastError(), rc.node, "launching the TopK merge");
    }
    return;
  }

  const int64_t total = rows * rl.n;
  size_t temp_bytes = 0;
  check_cuda(cub::DeviceSegmentedRadixSort::SortPairsDescending(
                 nullptr, temp_bytes, static_cast<const Key*>(nullptr), static_cast<Key*>(nullptr),
                 static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), int(total),
                 int(rows), static_cast<const int*>(nullptr), static_cast<const int*>(nullptr), 0,
                 int(sizeof(Key) * 8), rc.stream),
             rc.node, "sizing the TopK sort");
  ScratchLayout layout;
  const size_t keys_in = layout.add(size_t(total) * sizeof(Key));
  const size_t keys_out = layout.add(size_t(total) * sizeof(Key));
  const size_t pos_in = layout.add(size_t(total) * sizeof(int32_t));
  const size_t pos_out = layout.add(size_t(total) * sizeof(int32_t));
  const size_t offsets = layout.add(size_t(rows + 1) * sizeof(int));
  const size_t temp = layout.add(temp_bytes);
  std::byte* base = scratch.get(rc.node, layout.total());
  auto* ki = reinterpret_cast<Key*>(base + keys_in);
  auto* ko = reinterpret_cast<Key*>(base + keys_out);
  auto* pi = reinterpret_cast<int32_t*>(base + pos_in);
  auto* po = reinterpret_cast<int32_t*>(base + pos_out);
  auto* off = reinterpret_cast<int*>(base + offsets);
  topk_keys_kernel<T><<<grid_for(total), kBlock, 0, rc.stream>>>(xd, rl, rows, ki, pi);
  segment_offsets_kernel<<<grid_for(rows + 1), kBlock, 0, rc.stream>>>(off, rows, rl.n);
  check_cuda(cudaGetLastError(), rc.node, "launching the TopK keys");
  check_cuda(cub::DeviceSegmentedRadixSort::SortPairsDescending(
                 base + temp, temp_bytes, ki, ko, pi, po, int(total), int(rows), off, off + 1, 0,
                 int(sizeof(Key) * 8), rc.stream),
             rc.node, "sorting for TopK");
  topk_gather_kernel<T>
      <<<grid_for(rows * rl.k), kBlock, 0, rc.stream>>>(xd, rl, rows, po, values, indices);
  check_cuda(cudaGetLastError(), rc.node, "launching the TopK gather");
}

int64_t topk_axis(const ir::Node& node, size_t rank) {
  int64_t axis = node.attr_int("axis", -1);
  if (axis < 0) axis += int64_t(rank);
  KILN_CHECK(axis >= 0 && axis < int64_t(rank), ErrorCode::kInvalidModel, node.describe(),
             ": axis ", node.attr_int("axis", -1), " is out of range for rank ", rank);
  return axis;
}

void run_top_k(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const int64_t axis = topk_axis(rc.node, x.shape.size());
  RowLayout rl;
  rl.n = x.shape[size_t(axis)];
  for (size_t d = size_t(axis) + 1; d < x.shape.size(); ++d) rl.inner *= x.shape[d];
  int64_t outer = 1;
  for (size_t d = 0; d < size_t(axis); ++d) outer *= x.shape[d];
  rl.k = rc.outputs[0].shape[size_t(axis)];
  rl.largest = rc.node.attr_int("largest", 1) != 0;
  const int64_t rows = outer * rl.inner;
  if (rl.k == 0 || rows == 0) return;
  dispatch_keyed(x.dtype, [&](auto tag) { run_typed<typename decltype(tag)::type>(rc, rl, rows); });
}

bool supports_top_k(const NodeQuery& q) {
  const DataType t = q.input(0).dtype;
  if (!has_order_key(t) || t == DataType::kBool || q.input(0).shape.empty()) return false;
  const Dims& shape = q.input(0).shape;
  int64_t axis = q.node->attr_int("axis", -1);
  if (axis < 0) axis += int64_t(shape.size());
  if (axis < 0 || axis >= int64_t(shape.size())) return false;
  // Indices fit the items' 32 bits; rows fit the grid; the sort path's counts fit int.
  const int64_t n = shape[size_t(axis)];
  if (n >= (int64_t(1) << 31) || volume(shape) >= (int64_t(1) << 31)) return false;
  return true;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"TopK", "cuda_top_k", {1}, supports_top_k, run_top_k});

}  // namespace
}  // namespace kiln::cuda

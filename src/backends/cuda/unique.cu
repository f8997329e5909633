// Unique as the CPU backend computes it (numpy.unique): the distinct elements of the flattened
// input, or with `axis` the distinct slices along it, sorted ascending (slices
// lexicographically) or, with sorted=0, in order of first occurrence; outputs Y, the first
// occurrence of each, the inverse indices and the counts. NaNs equal each other and sort last,
// -0.0 equals +0.0 (order-preserving keys, misc_ops.cuh).
//
// On the GPU: the slice numbers are sorted stably by their keys (CUB's radix sort for single
// elements, its merge sort with a lexicographic comparison for slices), so each run of equal
// slices starts with its first occurrence. Run heads are flagged and numbered by a prefix sum;
// the number of runs goes to the host (the outputs' extents); then each run's first
// occurrence, count and rank (its own number, or with sorted=0 its first occurrence's place
// among all first occurrences, from another prefix sum) give the outputs.
#include <cub/device/device_merge_sort.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include "backends/cuda/misc_ops.cuh"

namespace kiln::cuda {
namespace {

// The input as n slices of len = outer * inner elements each.
struct Slices {
  int64_t n = 1, inner = 1, len = 1;
  __host__ __device__ int64_t element(int64_t slice, int64_t k) const {
    return ((k / inner) * n + slice) * inner + k % inner;
  }
};

template <typename Key>
struct SliceLess {
  const Key* keys;
  Slices s;
  __device__ bool operator()(int64_t a, int64_t b) const {
    for (int64_t k = 0; k < s.len; ++k) {
      const Key ka = keys[s.element(a, k)], kb = keys[s.element(b, k)];
      if (ka != kb) return ka < kb;
    }
    return false;
  }
};

template <typename Key>
__device__ bool slices_equal(const Key* keys, const Slices& s, int64_t a, int64_t b) {
  for (int64_t k = 0; k < s.len; ++k) {
    if (keys[s.element(a, k)] != keys[s.element(b, k)]) return false;
  }
  return true;
}

template <typename T>
__global__ void unique_keys_kernel(const T* x, int64_t count, typename KeyOf<T>::type* keys) {
  KILN_GRID_STRIDE_LOOP(i, count) keys[i] = order_key(x[i]);
}

__global__ void iota_kernel(int64_t* out, int64_t n) { KILN_GRID_STRIDE_LOOP(i, n) out[i] = i; }

// group[p] = 1 where sorted position p starts a run of equal slices.
template <typename Key>
__global__ void run_heads_kernel(const Key* keys, Slices s, const int64_t* order, int64_t* group) {
  KILN_GRID_STRIDE_LOOP(p, s.n) {
    group[p] = (p == 0 || !slices_equal(keys, s, order[p - 1], order[p])) ? 1 : 0;
  }
}

// After the prefix sum group[p] is the 1-based run of sorted position p.
__global__ void runs_kernel(const int64_t* order, const int64_t* group, int64_t n, int64_t* first,
                            int64_t* head) {
  KILN_GRID_STRIDE_LOOP(p, n) {
    if (p == 0 || group[p] != group[p - 1]) {
      first[group[p] - 1] = order[p];
      head[group[p] - 1] = p;
    }
  }
}

__global__ void mark_first_kernel(const int64_t* first, int64_t count, int64_t* marks) {
  KILN_GRID_STRIDE_LOOP(u, count) marks[first[u]] = 1;
}

// rank[u]: the output slot of run u.
__global__ void ranks_kernel(const int64_t* first, const int64_t* marks, int64_t count, bool sorted,
                             int64_t* rank) {
  KILN_GRID_STRIDE_LOOP(u, count) rank[u] = sorted ? u : marks[first[u]] - 1;
}

__global__ void run_outputs_kernel(const int64_t* first, const int64_t* head, const int64_t* rank,
                                   int64_t count, int64_t n, int64_t* indices, int64_t* counts) {
  KILN_GRID_STRIDE_LOOP(u, count) {
    if (indices) indices[rank[u]] = first[u];
    if (counts) counts[rank[u]] = (u + 1 < count ? head[u + 1] : n) - head[u];
  }
}

__global__ void inverse_kernel(const int64_t* order, const int64_t* group, const int64_t* rank,
                               int64_t n, int64_t* inverse) {
  KILN_GRID_STRIDE_LOOP(p, n) inverse[order[p]] = rank[group[p] - 1];
}

template <typename Bits>
__global__ void unique_values_kernel(const Bits* x, Slices s, const int64_t* first,
                                     const int64_t* rank, int64_t count, Bits* y) {
  const Slices out{count, s.inner, s.len};
  KILN_GRID_STRIDE_LOOP(t, count * s.len) {
    const int64_t u = t / s.len, k = t % s.len;
    y[out.element(rank[u], k)] = x[s.element(first[u], k)];
  }
}

template <typename T>
void run_typed(RunContext& rc, const Slices& s, const Dims& y_shape_template,
               std::optional<int64_t> axis) {
  using Key = typename KeyOf<T>::type;
  const DeviceTensor& x = rc.input(0);
  const int64_t numel = x.numel();
  const int64_t n = s.n;
  const bool sorted = rc.node.attr_int("sorted", 1) != 0;
  const bool single = s.len == 1;

  size_t sort_bytes = 0, scan_bytes = 0;
  if (single) {
    check_cuda(cub::DeviceRadixSort::SortPairs(
                   nullptr, sort_bytes, static_cast<const Key*>(nullptr),
                   static_cast<Key*>(nullptr), static_cast<const int64_t*>(nullptr),
                   static_cast<int64_t*>(nullptr), n, 0, int(sizeof(Key) * 8), rc.stream),
               rc.node, "sizing the sort");
  } else {
    check_cuda(
        cub::DeviceMergeSort::StableSortKeys(nullptr, sort_bytes, static_cast<int64_t*>(nullptr), n,
                                             SliceLess<Key>{nullptr, s}, rc.stream),
        rc.node, "sizing the sort");
  }
  check_cuda(cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<int64_t*>(nullptr),
                                           static_cast<int64_t*>(nullptr), n, rc.stream),
             rc.node, "sizing the prefix sum");
  ScratchLayout layout;
  const size_t keys_at = layout.add(size_t(numel) * sizeof(Key));
  const size_t sorted_keys_at = layout.add(single ? size_t(n) * sizeof(Key) : 0);
  const size_t iota_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t order_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t group_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t first_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t head_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t marks_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t rank_at = layout.add(size_t(n) * sizeof(int64_t));
  const size_t temp_at = layout.add(std::max(sort_bytes, scan_bytes));
  std::byte* base = node_state<DeviceScratch>(rc).get(rc.node, layout.total());
  auto* keys = reinterpret_cast<Key*>(base + keys_at);
  auto* sorted_keys = reinterpret_cast<Key*>(base + sorted_keys_at);
  auto* iota = reinterpret_cast<int64_t*>(base + iota_at);
  auto* order = reinterpret_cast<int64_t*>(base + order_at);
  auto* group = reinterpret_cast<int64_t*>(base + group_at);
  auto* first = reinterpret_cast<int64_t*>(base + first_at);
  auto* head = reinterpret_cast<int64_t*>(base + head_at);
  auto* marks = reinterpret_cast<int64_t*>(base + marks_at);
  auto* rank = reinterpret_cast<int64_t*>(base + rank_at);
  void* temp = base + temp_at;

  unique_keys_kernel<T><<<grid_for(numel), kBlock, 0, rc.stream>>>(x.as<T>(), numel, keys);
  if (single) {
    iota_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(iota, n);
    check_cuda(cudaGetLastError(), rc.node, "launching the keys");
    size_t bytes = sort_bytes;
    check_cuda(cub::DeviceRadixSort::SortPairs(temp, bytes, keys, sorted_keys, iota, order, n, 0,
                                               int(sizeof(Key) * 8), rc.stream),
               rc.node, "sorting the elements");
  } else {
    iota_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(order, n);
    check_cuda(cudaGetLastError(), rc.node, "launching the keys");
    size_t bytes = sort_bytes;
    check_cuda(cub::DeviceMergeSort::StableSortKeys(temp, bytes, order, n, SliceLess<Key>{keys, s},
                                                    rc.stream),
               rc.node, "sorting the slices");
  }
  run_heads_kernel<Key><<<grid_for(n), kBlock, 0, rc.stream>>>(keys, s, order, group);
  check_cuda(cudaGetLastError(), rc.node, "launching the run heads");
  size_t bytes = scan_bytes;
  check_cuda(cub::DeviceScan::InclusiveSum(temp, bytes, group, group, n, rc.stream), rc.node,
             "numbering the runs");
  int64_t count = 0;
  check_cuda(
      cudaMemcpyAsync(&count, group + (n - 1), sizeof(int64_t), cudaMemcpyDeviceToHost, rc.stream),
      rc.node, "copying the output size to the host");
  check_cuda(cudaStreamSynchronize(rc.stream), rc.node, "computing the output size");

  Dims y_shape = y_shape_template;
  y_shape[axis ? size_t(*axis) : 0] = count;
  DeviceTensor& y = rc.allocate_output(0, y_shape);
  int64_t* indices = rc.outputs.size() > 1 && rc.outputs[1].present
                         ? rc.allocate_output(1, {count}).as<int64_t>()
                         : nullptr;
  int64_t* inverse =
      rc.outputs.size() > 2 && rc.outputs[2].present ? rc.outputs[2].as<int64_t>() : nullptr;
  int64_t* counts = rc.outputs.size() > 3 && rc.outputs[3].present
                        ? rc.allocate_output(3, {count}).as<int64_t>()
                        : nullptr;

  runs_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(order, group, n, first, head);
  if (!sorted) {
    check_cuda(cudaMemsetAsync(marks, 0, size_t(n) * sizeof(int64_t), rc.stream), rc.node,
               "clearing the marks");
    mark_first_kernel<<<grid_for(count), kBlock, 0, rc.stream>>>(first, count, marks);
    bytes = scan_bytes;
    check_cuda(cub::DeviceScan::InclusiveSum(temp, bytes, marks, marks, n, rc.stream), rc.node,
               "ordering the runs by first occurrence");
  }
  ranks_kernel<<<grid_for(count), kBlock, 0, rc.stream>>>(first, marks, count, sorted, rank);
  if (indices || counts) {
    run_outputs_kernel<<<grid_for(count), kBlock, 0, rc.stream>>>(first, head, rank, count, n,
                                                                  indices, counts);
  }
  if (inverse)
    inverse_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(order, group, rank, n, inverse);
  if (count * s.len > 0) {
    dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
      using Bits = typename decltype(tag)::type;
      unique_values_kernel<Bits><<<grid_for(count * s.len), kBlock, 0, rc.stream>>>(
          x.as<Bits>(), s, first, rank, count, y.as<Bits>());
    });
  }
  check_cuda(cudaGetLastError(), rc.node, "launching the Unique outputs");
}

void run_unique(RunContext& rc) {
  KILN_CHECK(rc.allocate_output != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": Unique's output size is computed when it runs, but the executor gave no way to "
             "allocate it");
  const DeviceTensor& x = rc.input(0);
  const int64_t rank = int64_t(x.shape.size());
  std::optional<int64_t> axis;
  if (rc.node.has_attr("axis")) {
    int64_t a = rc.node.attr_int("axis");
    if (a < 0) a += rank;
    KILN_CHECK(a >= 0 && a < rank, ErrorCode::kInvalidModel, rc.node.describe(), ": axis ",
               rc.node.attr_int("axis"), " is out of range for rank ", rank);
    axis = a;
  }
  Slices s;
  Dims y_shape = {0};
  if (axis) {
    s.n = x.shape[size_t(*axis)];
    int64_t outer = 1;
    for (int64_t d = 0; d < *axis; ++d) outer *= x.shape[size_t(d)];
    for (int64_t d = *axis + 1; d < rank; ++d) s.inner *= x.shape[size_t(d)];
    s.len = outer * s.inner;
    y_shape = x.shape;
  } else {
    s.n = x.numel();
  }
  if (s.n == 0) {
    y_shape[axis ? size_t(*axis) : 0] = 0;
    rc.allocate_output(0, y_shape);
    if (rc.outputs.size() > 1 && rc.outputs[1].present) rc.allocate_output(1, {0});
    if (rc.outputs.size() > 3 && rc.outputs[3].present) rc.allocate_output(3, {0});
    return;
  }
  dispatch_keyed(x.dtype,
                 [&](auto tag) { run_typed<typename decltype(tag)::type>(rc, s, y_shape, axis); });
}

bool supports_unique(const NodeQuery& q) { return has_order_key(q.input(0).dtype); }

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Unique", "cuda_unique", {}, supports_unique, run_unique});

}  // namespace
}  // namespace kiln::cuda

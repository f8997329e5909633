// Ops whose output extents are known only after computing: NonZero and Compress. Both flag
// the positions to keep on the GPU, turn the flags into output slots with CUB's inclusive
// prefix sum, copy the count to the host, ask the executor for the output
// (RunContext::allocate_output), and scatter. They run only where shapes wait for data: the
// executor has synchronized the stream before such nodes, so waiting for the count here costs
// one more round trip and nothing else.
#include <cub/device/device_scan.cuh>

#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {
namespace {

// Per node and context: one device buffer holding the positions and CUB's temporary storage,
// grown when a run needs more (freeing the old one is safe: the stream was synchronized).
struct SelectScratch {
  void* data = nullptr;
  size_t capacity = 0;
  ~SelectScratch() {
    if (data) cudaFree(data);
  }
};

void* scratch(RunContext& rc, size_t bytes) {
  KILN_CHECK(rc.state != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": no per-node state for the CUDA kernel");
  if (!*rc.state) *rc.state = std::make_shared<SelectScratch>();
  auto& s = *std::static_pointer_cast<SelectScratch>(*rc.state);
  if (s.capacity < bytes) {
    if (s.data) cudaFree(s.data);
    s.data = nullptr;
    s.capacity = 0;
    check_cuda(cudaMalloc(&s.data, bytes), rc.node, "allocating scratch memory");
    s.capacity = bytes;
  }
  return s.data;
}

// `slots` (n int64), `extra` more int64 after them, and CUB's scan storage, carved from one
// scratch buffer.
struct ScanBuffers {
  int64_t* slots = nullptr;
  int64_t* extra = nullptr;
  void* temp = nullptr;
  size_t temp_bytes = 0;
};

ScanBuffers scan_buffers(RunContext& rc, int64_t n, int64_t extra = 0) {
  ScanBuffers b;
  check_cuda(cub::DeviceScan::InclusiveSum(nullptr, b.temp_bytes, static_cast<int64_t*>(nullptr),
                                           static_cast<int64_t*>(nullptr), n, rc.stream),
             rc.node, "sizing the prefix sum");
  const size_t slot_bytes = (size_t(n + extra) * sizeof(int64_t) + 255) / 256 * 256;
  auto* base = static_cast<std::byte*>(scratch(rc, slot_bytes + b.temp_bytes + 256));
  b.slots = reinterpret_cast<int64_t*>(base);
  b.extra = b.slots + n;
  b.temp = base + slot_bytes;
  return b;
}

// slots[i] = number of flagged positions in [0, i] (the flags were written into slots).
void inclusive_sum(RunContext& rc, const ScanBuffers& b, int64_t n) {
  size_t temp_bytes = b.temp_bytes;
  check_cuda(cub::DeviceScan::InclusiveSum(b.temp, temp_bytes, b.slots, b.slots, n, rc.stream),
             rc.node, "running the prefix sum");
}

// Copies `count` int64 values from the device and waits for them.
void read_back(RunContext& rc, const int64_t* device, int64_t* host, size_t count) {
  check_cuda(
      cudaMemcpyAsync(host, device, count * sizeof(int64_t), cudaMemcpyDeviceToHost, rc.stream),
      rc.node, "copying the output size to the host");
  check_cuda(cudaStreamSynchronize(rc.stream), rc.node, "computing the output size");
}

// ---------------------------------------------------------------------------------------------
// NonZero: an element is non-zero when any bit other than a float's sign bit is set (so -0.0
// is zero and NaN is not), which works on the raw bits of every type.

template <typename Bits>
Bits nonzero_mask(DataType dtype) {
  const Bits all = Bits(~Bits(0));
  if (!is_floating_point(dtype)) return all;
  return Bits(all >> 1);  // every bit but the sign
}

template <typename Bits>
__global__ void nonzero_flags_kernel(const Bits* x, Bits mask, int64_t* flags, int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) flags[i] = (x[i] & mask) != 0 ? 1 : 0;
}

struct IndexShape {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
};

// out is [max(rank, 1), count]: row d holds the d-th coordinate of each non-zero element.
template <typename Bits>
__global__ void nonzero_write_kernel(const Bits* x, Bits mask, const int64_t* slots, int64_t n,
                                     IndexShape shape, int64_t count, int64_t* out) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    if ((x[i] & mask) == 0) continue;
    const int64_t k = slots[i] - 1;
    int64_t rest = i;
    for (int d = shape.rank - 1; d >= 0; --d) {
      out[d * count + k] = rest % shape.dims[d];
      rest /= shape.dims[d];
    }
    if (shape.rank == 0) out[k] = 0;
  }
}

void run_nonzero(RunContext& rc) {
  KILN_CHECK(rc.allocate_output != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": NonZero's output size is computed when it runs, but the executor gave no way to "
             "allocate it");
  const DeviceTensor& x = rc.input(0);
  const int64_t n = x.numel();
  const int64_t rows = std::max<int64_t>(int64_t(x.shape.size()), 1);
  if (n == 0) {
    rc.allocate_output(0, {rows, 0});
    return;
  }
  IndexShape shape;
  shape.rank = int(x.shape.size());
  for (int d = 0; d < shape.rank; ++d) shape.dims[d] = x.shape[size_t(d)];
  const ScanBuffers b = scan_buffers(rc, n);
  dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
    using Bits = typename decltype(tag)::type;
    const Bits mask = nonzero_mask<Bits>(x.dtype);
    nonzero_flags_kernel<Bits>
        <<<grid_for(n), kBlock, 0, rc.stream>>>(x.as<Bits>(), mask, b.slots, n);
    check_cuda(cudaGetLastError(), rc.node, "launching the NonZero flags");
    inclusive_sum(rc, b, n);
    int64_t count = 0;
    read_back(rc, b.slots + (n - 1), &count, 1);
    DeviceTensor& out = rc.allocate_output(0, {rows, count});
    if (count == 0) return;
    nonzero_write_kernel<Bits><<<grid_for(n), kBlock, 0, rc.stream>>>(
        x.as<Bits>(), mask, b.slots, n, shape, count, out.as<int64_t>());
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "NonZero",
    "cuda_nonzero",
    {},
    [](const NodeQuery& q) {
      const size_t bytes = element_size(q.input(0).dtype);
      // The bit test does not fit the narrow float codes (FNUZ NaN is 0x80, float4 -0 is 0x8,
      // e8m0 has no zero).
      const DataType t = q.input(0).dtype;
      const bool narrow_float = t == DataType::kFloat4E2M1 || t == DataType::kFloat8E4M3FNUZ ||
                                t == DataType::kFloat8E5M2FNUZ || t == DataType::kFloat8E8M0;
      return (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8) && ranks_fit(q) &&
             !narrow_float;
    },
    run_nonzero});

// ---------------------------------------------------------------------------------------------
// Compress: keeps the slices (along `axis`, or the elements of the flattened input) whose
// condition entry is true. A true entry past the input's extent is an error, as on the CPU.

__global__ void condition_flags_kernel(const uint8_t* condition, int64_t* flags, int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) flags[i] = condition[i] != 0 ? 1 : 0;
}

// kept[k] = the position of the k-th true entry among the first `n`.
__global__ void kept_positions_kernel(const uint8_t* condition, const int64_t* slots, int64_t n,
                                      int64_t* kept) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    if (condition[i] != 0) kept[slots[i] - 1] = i;
  }
}

// out[o, k, j] = x[o, kept[k], j] over [outer, count, inner].
template <typename Bits>
__global__ void compress_gather_kernel(const Bits* x, const int64_t* kept, int64_t extent,
                                       int64_t count, int64_t inner, Bits* out, int64_t total) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t j = i % inner;
    const int64_t k = (i / inner) % count;
    const int64_t o = i / (inner * count);
    out[i] = x[(o * extent + kept[k]) * inner + j];
  }
}

void run_compress(RunContext& rc) {
  KILN_CHECK(rc.allocate_output != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": Compress's output size is computed when it runs, but the executor gave no way "
             "to allocate it");
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& condition = rc.input(1);
  const int64_t rank = int64_t(x.shape.size());
  std::optional<int64_t> axis;
  if (rc.node.has_attr("axis")) {
    int64_t a = rc.node.attr_int("axis");
    if (a < 0) a += rank;
    KILN_CHECK(a >= 0 && a < rank, ErrorCode::kInvalidModel, rc.node.describe(), ": axis ",
               rc.node.attr_int("axis"), " is out of range for rank ", rank);
    axis = a;
  }
  int64_t outer = 1, extent = x.numel(), inner = 1;
  if (axis) {
    extent = x.shape[size_t(*axis)];
    for (int64_t d = 0; d < *axis; ++d) outer *= x.shape[size_t(d)];
    for (int64_t d = *axis + 1; d < rank; ++d) inner *= x.shape[size_t(d)];
  }
  auto output_shape = [&](int64_t count) {
    if (!axis) return Dims{count};
    Dims s = x.shape;
    s[size_t(*axis)] = count;
    return s;
  };
  const int64_t length = condition.numel();
  if (length == 0) {
    rc.allocate_output(0, output_shape(0));
    return;
  }
  const int64_t usable = std::min(length, extent);
  const ScanBuffers b = scan_buffers(rc, length, usable);  // extra: the kept positions
  const auto* cond = condition.as<uint8_t>();
  condition_flags_kernel<<<grid_for(length), kBlock, 0, rc.stream>>>(cond, b.slots, length);
  check_cuda(cudaGetLastError(), rc.node, "launching the Compress flags");
  inclusive_sum(rc, b, length);
  // The count among the first `extent` entries, and among all of them: they differ when a
  // true entry lies past the input's extent.
  int64_t counts[2] = {0, 0};
  if (usable > 0) read_back(rc, b.slots + (usable - 1), &counts[0], 1);
  read_back(rc, b.slots + (length - 1), &counts[1], 1);
  KILN_CHECK(counts[0] == counts[1], ErrorCode::kInvalidArgument, rc.node.describe(),
             ": condition has a true entry at or past position ", extent, " but the ",
             (axis ? "axis" : "flattened input"), " has only ", extent, " entries");
  const int64_t count = counts[0];
  DeviceTensor& out = rc.allocate_output(0, output_shape(count));
  const int64_t total = outer * count * inner;
  if (total == 0) return;
  int64_t* kept = b.extra;
  kept_positions_kernel<<<grid_for(usable), kBlock, 0, rc.stream>>>(cond, b.slots, usable, kept);
  check_cuda(cudaGetLastError(), rc.node, "launching the Compress positions");
  dispatch_bits(rc.node, element_size(x.dtype), [&](auto tag) {
    using Bits = typename decltype(tag)::type;
    compress_gather_kernel<Bits><<<grid_for(total), kBlock, 0, rc.stream>>>(
        x.as<Bits>(), kept, extent, count, inner, out.as<Bits>(), total);
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Compress",
                                     "cuda_compress",
                                     {},
                                     [](const NodeQuery& q) {
                                       const size_t bytes = element_size(q.input(0).dtype);
                                       return (bytes == 1 || bytes == 2 || bytes == 4 ||
                                               bytes == 8) &&
                                              q.input(1).dtype == DataType::kBool;
                                     },
                                     run_compress});

}  // namespace
}  // namespace kiln::cuda

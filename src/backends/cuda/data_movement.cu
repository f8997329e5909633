#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "backends/cuda/data_movement.cuh"

namespace kiln::cuda {

bool movable_element_size(DataType t) {
  const size_t b = element_size(t);
  return b == 1 || b == 2 || b == 4 || b == 8;
}

namespace {

// fn(Tag<W>{}) with W an unsigned word of `bytes` bytes: the copy kernels move elements (or
// groups of elements) as words of 1 to 16 bytes.
template <typename Fn>
void dispatch_word(const ir::Node& node, size_t bytes, Fn&& fn) {
  if (bytes == 16) return fn(Tag<uint4>{});
  dispatch_bits(node, bytes, fn);
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// ---------------------------------------------------------------------------------------------
// Strided copy: planning on the host

// A copy into a contiguous output of `dims` (outermost first) from the input through `strides`
// plus `offset`, all counted in words of `bytes` bytes.
struct CopyPlan {
  std::vector<int64_t> dims;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  size_t bytes = 0;
};

// Drops extent-1 dims and merges each dim into its inner neighbour where the input is
// contiguous across the pair (the output always is).
CopyPlan merge_dims(const Dims& shape, const Dims& strides, int64_t offset, size_t bytes) {
  CopyPlan p;
  p.offset = offset;
  p.bytes = bytes;
  for (size_t d = shape.size(); d-- > 0;) {  // innermost first, reversed below
    if (shape[d] == 1) continue;
    if (!p.dims.empty() && strides[d] == p.strides.back() * p.dims.back()) {
      p.dims.back() *= shape[d];
      continue;
    }
    p.dims.push_back(shape[d]);
    p.strides.push_back(strides[d]);
  }
  std::reverse(p.dims.begin(), p.dims.end());
  std::reverse(p.strides.begin(), p.strides.end());
  return p;
}

// Where the innermost dim is contiguous in both tensors, moves whole words of up to 16 bytes
// (one 128-bit access per thread instead of eight 16-bit ones): every stride, the offset and
// the innermost extent must be whole words and both pointers word-aligned.
void widen(CopyPlan& p, const void* in, const void* out) {
  if (p.dims.empty() || p.strides.back() != 1) return;
  for (size_t width : {16, 8, 4, 2}) {
    if (width <= p.bytes) return;
    const int64_t k = int64_t(width / p.bytes);
    bool fits =
        p.dims.back() % k == 0 && p.offset % k == 0 && aligned(in, width) && aligned(out, width);
    for (size_t d = 0; d + 1 < p.dims.size(); ++d) fits = fits && p.strides[d] % k == 0;
    if (!fits) continue;
    p.dims.back() /= k;
    for (size_t d = 0; d + 1 < p.dims.size(); ++d) p.strides[d] /= k;
    p.offset /= k;
    p.bytes = width;
    return;
  }
}

// ---------------------------------------------------------------------------------------------
// Strided copy: kernels

// The element-wise path with 32-bit index arithmetic (FastDivmod), rank fixed at compile time
// so that the per-dim loop unrolls and the geometry stays in registers / the constant bank.
template <int R>
struct Geometry32 {
  FastDivmod dims[R];
  int64_t strides[R] = {};
};

template <typename T, int R>
__global__ void strided_copy_32(const T* __restrict__ in, T* __restrict__ out, uint32_t n,
                                Geometry32<R> g, int64_t offset) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    uint32_t rest = i;
    int64_t at = offset;
#pragma unroll
    for (int d = R - 1; d > 0; --d) {
      uint32_t r;
      rest = g.dims[d].divmod(rest, r);
      at += int64_t(r) * g.strides[d];
    }
    out[i] = in[at + int64_t(rest) * g.strides[0]];
  }
}

template <typename T, int R>
void launch_strided_32(const CopyPlan& p, const void* in, void* out, uint32_t n,
                       cudaStream_t stream) {
  Geometry32<R> g;
  for (int d = 0; d < R; ++d) {
    g.dims[d] = FastDivmod(uint32_t(p.dims[size_t(d)]));
    g.strides[d] = p.strides[size_t(d)];
  }
  strided_copy_32<T, R><<<grid_for(n), kBlock, 0, stream>>>(static_cast<const T*>(in),
                                                            static_cast<T*>(out), n, g, p.offset);
}

// The general path (64-bit index arithmetic, any size).
template <typename T>
__global__ void strided_copy_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n,
                                    StridedMap<1> map, int64_t in_offset) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t off[1];
    map.offsets(i, off);
    out[i] = in[in_offset + off[0]];
  }
}

// Tiled transpose: the input's contiguous dim `a` is not the output's contiguous dim `b`. Each
// block moves 32x32 tiles of (a, b) for one position of the other ("batch") dims: it reads rows
// contiguous along a into shared memory and writes rows contiguous along b, so both sides are
// coalesced (the element-wise path reads one element per 32-byte sector here).
constexpr int kTile = 32;
constexpr int kTileRows = 8;  // blockDim = (kTile, kTileRows): each thread moves 4 elements

template <int BR>
struct TileGeometry {
  uint32_t a = 0, b = 0;  // extents
  int64_t b_in = 0;       // input stride of b (a's is 1)
  int64_t a_out = 0;      // output stride of a (b's is 1)
  FastDivmod tiles_a, tiles_b;
  uint32_t tiles = 0;
  FastDivmod batch[BR > 0 ? BR : 1];
  int64_t batch_in[BR > 0 ? BR : 1] = {};
  int64_t batch_out[BR > 0 ? BR : 1] = {};
};

template <typename T, int BR>
__global__ void __launch_bounds__(kTile* kTileRows)
    tiled_transpose_kernel(const T* __restrict__ in, T* __restrict__ out, TileGeometry<BR> g,
                           int64_t offset) {
  __shared__ T tile[kTile][kTile + 1];  // +1: the column reads hit 32 different banks
  for (uint32_t t = blockIdx.x; t < g.tiles; t += gridDim.x) {
    uint32_t tb, ta;
    uint32_t rest = g.tiles_b.divmod(t, tb);
    rest = g.tiles_a.divmod(rest, ta);
    int64_t in_base = offset, out_base = 0;
#pragma unroll
    for (int d = BR - 1; d >= 0; --d) {
      uint32_t r = rest;
      if (d > 0) rest = g.batch[d].divmod(rest, r);
      in_base += int64_t(r) * g.batch_in[d];
      out_base += int64_t(r) * g.batch_out[d];
    }
    const uint32_t a0 = ta * kTile, b0 = tb * kTile;
#pragma unroll
    for (uint32_t j = threadIdx.y; j < kTile; j += kTileRows) {
      const uint32_t a = a0 + threadIdx.x, b = b0 + j;
      if (a < g.a && b < g.b) tile[j][threadIdx.x] = in[in_base + a + int64_t(b) * g.b_in];
    }
    __syncthreads();
#pragma unroll
    for (uint32_t j = threadIdx.y; j < kTile; j += kTileRows) {
      const uint32_t b = b0 + threadIdx.x, a = a0 + j;
      if (a < g.a && b < g.b) out[out_base + int64_t(a) * g.a_out + b] = tile[threadIdx.x][j];
    }
    __syncthreads();  // the tile is refilled by the next iteration
  }
}

template <typename T, int BR>
void launch_tiled(const CopyPlan& p, size_t a_dim, const void* in, void* out, cudaStream_t stream) {
  const size_t last = p.dims.size() - 1;
  const Dims out_strides = contiguous_strides(p.dims);
  TileGeometry<BR> g;
  g.a = uint32_t(p.dims[a_dim]);
  g.b = uint32_t(p.dims[last]);
  g.b_in = p.strides[last];
  g.a_out = out_strides[a_dim];
  const uint32_t tiles_a = (g.a + kTile - 1) / kTile, tiles_b = (g.b + kTile - 1) / kTile;
  g.tiles_a = FastDivmod(tiles_a);
  g.tiles_b = FastDivmod(tiles_b);
  uint64_t tiles = uint64_t(tiles_a) * tiles_b;
  int k = 0;
  for (size_t d = 0; d < last; ++d) {
    if (d == a_dim) continue;
    g.batch[k] = FastDivmod(uint32_t(p.dims[d]));
    g.batch_in[k] = p.strides[d];
    g.batch_out[k] = out_strides[d];
    tiles *= uint64_t(p.dims[d]);
    ++k;
  }
  g.tiles = uint32_t(tiles);
  const unsigned grid = unsigned(std::min<uint64_t>(tiles, uint64_t(1) << 20));
  tiled_transpose_kernel<T, BR><<<grid, dim3(kTile, kTileRows), 0, stream>>>(
      static_cast<const T*>(in), static_cast<T*>(out), g, p.offset);
}

template <typename T, size_t... R>
void launch_strided_32_rank(const CopyPlan& p, const void* in, void* out, uint32_t n,
                            cudaStream_t stream, std::index_sequence<R...>) {
  const size_t rank = p.dims.size();
  ((rank == R + 1 ? launch_strided_32<T, int(R) + 1>(p, in, out, n, stream) : void()), ...);
}

template <typename T, size_t... BR>
void launch_tiled_rank(const CopyPlan& p, size_t a_dim, const void* in, void* out,
                       cudaStream_t stream, std::index_sequence<BR...>) {
  const size_t batch_rank = p.dims.size() - 2;
  ((batch_rank == BR ? launch_tiled<T, int(BR)>(p, a_dim, in, out, stream) : void()), ...);
}

// The input dim (other than the innermost) with stride 1, when a tiled transpose suits the
// copy: both it and the innermost dim span at least a few words, so that tiles are mostly full.
std::optional<size_t> tiled_transpose_dim(const CopyPlan& p) {
  constexpr int64_t kMinExtent = 8;
  if (p.dims.size() < 2 || p.strides.back() == 1 || p.dims.back() < kMinExtent) return {};
  for (size_t d = 0; d + 1 < p.dims.size(); ++d) {
    if (p.strides[d] == 1 && p.dims[d] >= kMinExtent) return d;
  }
  return {};
}

}  // namespace

void launch_strided_copy(const ir::Node& node, const void* in, void* out, size_t element_bytes,
                         const Dims& out_shape, const Dims& in_strides, int64_t in_offset,
                         cudaStream_t stream) {
  const int64_t n = volume(out_shape);
  if (n == 0) return;
  CopyPlan p = merge_dims(out_shape, in_strides, in_offset, element_bytes);
  const auto* src = static_cast<const std::byte*>(in);
  if (p.dims.empty() || (p.dims.size() == 1 && p.strides[0] == 1)) {  // one contiguous block
    copy_device(node, src + size_t(in_offset) * element_bytes, out, size_t(n) * element_bytes,
                stream);
    return;
  }
  KILN_CHECK(p.dims.size() <= size_t(kMaxRank), ErrorCode::kUnsupported, node.describe(),
             ": the CUDA kernels handle up to ", kMaxRank, " non-mergeable dims, got shape ",
             to_string(out_shape));
  widen(p, in, out);
  const int64_t words = volume(p.dims);
  if (words > kMax32BitIndex) {
    const StridedMap<1> map = make_strided_map<1>(node, out_shape, {in_strides});
    dispatch_bits(node, element_bytes, [&](auto tag) {
      using T = typename decltype(tag)::type;
      strided_copy_kernel<T><<<grid_for(n), kBlock, 0, stream>>>(
          static_cast<const T*>(in), static_cast<T*>(out), n, map, in_offset);
    });
    return;
  }
  if (const std::optional<size_t> a_dim = tiled_transpose_dim(p)) {
    dispatch_bits(node, p.bytes, [&](auto tag) {
      using T = typename decltype(tag)::type;
      launch_tiled_rank<T>(p, *a_dim, in, out, stream, std::make_index_sequence<kMaxRank - 1>{});
    });
    return;
  }
  dispatch_word(node, p.bytes, [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_strided_32_rank<T>(p, in, out, uint32_t(words), stream,
                              std::make_index_sequence<kMaxRank>{});
  });
}

void launch_permute(const ir::Node& node, const void* in, void* out, size_t element_bytes,
                    const Dims& in_shape, const std::vector<int64_t>& perm, cudaStream_t stream) {
  const Dims contiguous = contiguous_strides(in_shape);
  Dims out_shape, strides;
  for (int64_t p : perm) {
    out_shape.push_back(in_shape[size_t(p)]);
    strides.push_back(contiguous[size_t(p)]);
  }
  launch_strided_copy(node, in, out, element_bytes, out_shape, strides, 0, stream);
}

void copy_device(const ir::Node& node, const void* in, void* out, size_t bytes,
                 cudaStream_t stream) {
  if (bytes == 0 || in == out) return;
  check_cuda(cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, stream), node,
             "device copy");
}

namespace {

// ---------------------------------------------------------------------------------------------
// Copies: the output holds the input's bytes (another shape, or the same).

void run_copy(RunContext& rc) {
  copy_device(rc.node, rc.input(0).data, rc.output(0).data, rc.output(0).nbytes(), rc.stream);
}

CudaKernel copy_kernel(std::string op, std::vector<size_t> host_inputs) {
  return CudaKernel{std::move(op), "device_copy", std::move(host_inputs),
                    [](const NodeQuery&) { return true; }, run_copy};
}

KILN_REGISTER_CUDA_KERNEL(copy_kernel("Reshape", {1}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Flatten", {}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Squeeze", {1}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Unsqueeze", {1}));
KILN_REGISTER_CUDA_KERNEL(copy_kernel("Identity", {}));

// Dropout at inference is the identity; its optional mask is all true.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Dropout",
    "device_copy",
    {1, 2},
    [](const NodeQuery&) { return true; },
    [](RunContext& rc) {
      run_copy(rc);
      if (rc.outputs.size() > 1 && rc.outputs[1].present && rc.outputs[1].nbytes()) {
        check_cuda(cudaMemsetAsync(rc.outputs[1].data, 1, rc.outputs[1].nbytes(), rc.stream),
                   rc.node, "filling the dropout mask");
      }
    }});

// ---------------------------------------------------------------------------------------------
// Transpose, Expand, Slice, Split: strided copies

std::vector<int64_t> transpose_perm(const ir::Node& node, size_t rank) {
  if (node.has_attr("perm")) return node.attr_ints("perm");
  std::vector<int64_t> perm;
  for (size_t i = rank; i-- > 0;) perm.push_back(int64_t(i));
  return perm;
}

// The kernel keeps its historical name: launch_strided_copy picks a contiguous copy, a copy
// of contiguous rows (permutations that keep the innermost dim) or a tiled transpose.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Transpose",
    "cuda_strided_copy",
    {},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      launch_permute(rc.node, in.data, rc.output(0).data, element_size(in.dtype), in.shape,
                     transpose_perm(rc.node, in.shape.size()), rc.stream);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Expand",
    "cuda_strided_copy",
    {1},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const DeviceTensor& out = rc.output(0);
      launch_strided_copy(rc.node, in.data, out.data, element_size(in.dtype), out.shape,
                          broadcast_strides_to(in.shape, out.shape), 0, rc.stream);
    }});

// Slice: first element and step per input dim, clamped as the ONNX spec says (the output's
// extents come from shape inference).
void run_slice(RunContext& rc) {
  const DeviceTensor& in = rc.input(0);
  const DeviceTensor& out = rc.output(0);
  if (out.numel() == 0) return;
  const int64_t rank = int64_t(in.shape.size());
  const std::vector<int64_t> starts = rc.host_input(1, "starts").to_int64_vector();
  const std::vector<int64_t> ends = rc.host_input(2, "ends").to_int64_vector();
  std::vector<int64_t> axes;
  if (rc.has_input(3)) {
    axes = rc.host_input(3, "axes").to_int64_vector();
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(int64_t(i));
  }
  std::vector<int64_t> steps(starts.size(), 1);
  if (rc.has_input(4)) steps = rc.host_input(4, "steps").to_int64_vector();
  Dims start(size_t(rank), 0), step(size_t(rank), 1);
  for (size_t i = 0; i < starts.size(); ++i) {
    const size_t axis = size_t(axes[i] < 0 ? axes[i] + rank : axes[i]);
    const int64_t dim = in.shape[axis];
    int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
    s = steps[i] > 0 ? std::clamp<int64_t>(s, 0, dim) : std::clamp<int64_t>(s, 0, dim - 1);
    start[axis] = s;
    step[axis] = steps[i];
  }
  const Dims contiguous = contiguous_strides(in.shape);
  int64_t offset = 0;
  Dims strides(size_t(rank), 0);
  for (size_t d = 0; d < size_t(rank); ++d) {
    offset += start[d] * contiguous[d];
    strides[d] = step[d] * contiguous[d];
  }
  launch_strided_copy(rc.node, in.data, out.data, element_size(in.dtype), out.shape, strides,
                      offset, rc.stream);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Slice",
    "cuda_strided_copy",
    {1, 2, 3, 4},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype); },
    run_slice});

// Split: output k is the slab of the input along `axis` after outputs 0..k-1.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Split",
    "cuda_strided_copy",
    {1},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const int64_t rank = int64_t(in.shape.size());
      int64_t axis = rc.node.attr_int("axis", 0);
      if (axis < 0) axis += rank;
      const Dims contiguous = contiguous_strides(in.shape);
      int64_t begin = 0;
      for (const DeviceTensor& out : rc.outputs) {
        if (!out.present) continue;  // (an omitted output still advances nothing: none exist)
        launch_strided_copy(rc.node, in.data, out.data, element_size(in.dtype), out.shape,
                            contiguous, begin * contiguous[size_t(axis)], rc.stream);
        begin += out.shape[size_t(axis)];
      }
    }});

// ---------------------------------------------------------------------------------------------
// Concat: each input is a [outer, row_k] block of rows placed side by side in the output. One
// kernel per group of up to kConcatInputs inputs moves words of up to 16 bytes (the largest
// that divides every row and aligns every pointer); each thread finds its input by comparing
// its column with the group's column boundaries.

constexpr int kConcatInputs = 8;

struct ConcatGroup {
  const void* inputs[kConcatInputs] = {};
  uint32_t begin[kConcatInputs + 1] = {};  // first column of each input, in the group's words
  int count = 0;
  FastDivmod columns;         // words per row of the group
  uint32_t out_row = 0;       // words per output row
  uint32_t first_column = 0;  // the group's first column in the output row
};

template <typename W>
__global__ void concat_kernel(W* __restrict__ out, uint32_t n, ConcatGroup g) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    uint32_t column;
    const uint32_t row = g.columns.divmod(i, column);
    int k = 0;
#pragma unroll
    for (int j = 1; j < kConcatInputs; ++j) {
      if (j < g.count && column >= g.begin[j]) k = j;
    }
    const uint32_t begin = g.begin[k];
    const uint32_t width = g.begin[k + 1] - begin;
    const W* src = static_cast<const W*>(g.inputs[k]);
    out[uint64_t(row) * g.out_row + g.first_column + column] =
        src[uint64_t(row) * width + (column - begin)];
  }
}

void run_concat(RunContext& rc) {
  const DeviceTensor& out = rc.output(0);
  if (out.numel() == 0) return;
  const int64_t rank = int64_t(out.shape.size());
  int64_t axis = rc.node.attr_int("axis");
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out.shape[size_t(d)];
  const size_t out_row = out.nbytes() / size_t(outer);
  // The word: the largest size dividing every row, with every pointer aligned to it.
  size_t word = 16;
  auto fits = [&](size_t w) {
    if (out_row % w || !aligned(out.data, w)) return false;
    for (const DeviceTensor& in : rc.inputs) {
      const size_t row = in.nbytes() / size_t(outer);
      if (row && (row % w || !aligned(in.data, w))) return false;
    }
    return true;
  };
  while (word > 1 && !fits(word)) word /= 2;
  if (int64_t(out.nbytes() / word) > kMax32BitIndex) {
    // Beyond 32-bit indices: one strided 2-D copy per input.
    size_t column = 0;
    for (const DeviceTensor& in : rc.inputs) {
      const size_t row = in.nbytes() / size_t(outer);
      if (row == 0) continue;
      check_cuda(cudaMemcpy2DAsync(static_cast<std::byte*>(out.data) + column, out_row, in.data,
                                   row, row, size_t(outer), cudaMemcpyDeviceToDevice, rc.stream),
                 rc.node, "concatenating");
      column += row;
    }
    return;
  }
  ConcatGroup g;
  g.out_row = uint32_t(out_row / word);
  uint32_t column = 0;  // in words, of the output row
  auto flush = [&] {
    if (g.count == 0) return;
    const uint32_t columns = g.begin[g.count];
    g.columns = FastDivmod(columns);
    const uint32_t n = uint32_t(outer) * columns;
    dispatch_word(rc.node, word, [&](auto tag) {
      using W = typename decltype(tag)::type;
      concat_kernel<W><<<grid_for(n), kBlock, 0, rc.stream>>>(out.as<W>(), n, g);
    });
    column += columns;
    g = ConcatGroup{};
    g.out_row = uint32_t(out_row / word);
    g.first_column = column;
  };
  for (const DeviceTensor& in : rc.inputs) {
    const uint32_t row = uint32_t(in.nbytes() / size_t(outer) / word);
    if (row == 0) continue;
    g.inputs[g.count] = in.data;
    g.begin[g.count + 1] = g.begin[g.count] + row;
    if (++g.count == kConcatInputs) flush();
  }
  flush();
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Concat", "cuda_copy_2d", {}, [](const NodeQuery&) { return true; }, run_concat});

// ---------------------------------------------------------------------------------------------
// Pad (all modes) and Tile: each output position maps, per dim, to a source position computed in
// the kernel. Pad crops first for negative pads, then extends what is kept (as the reference);
// Tile is a wrap-around "pad" of the input to the output's extents.

enum PadMode : int { kConstant, kReflect, kEdge, kWrap };

struct PadMap {
  int rank = 0;
  int mode = kConstant;
  int64_t out_dims[kMaxRank] = {};
  int64_t kept[kMaxRank] = {};    // extent of the input left after cropping
  int64_t before[kMaxRank] = {};  // output positions before the kept part
  int64_t lo[kMaxRank] = {};      // input positions cropped at the start
  int64_t stride[kMaxRank] = {};  // input strides (elements)
};

template <typename T, typename I>
__global__ void pad_kernel(const T* __restrict__ in, T* __restrict__ out, I n, PadMap m, T value) {
  for (I i = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); i < n;
       i += I(blockDim.x) * I(gridDim.x)) {
    I rest = i, offset = 0;
    bool fill = false;
    for (int d = m.rank - 1; d >= 0; --d) {
      const I extent = I(m.out_dims[d]);
      const I o = rest % extent;
      rest /= extent;
      I x = o - I(m.before[d]);
      const I k = I(m.kept[d]);
      if (x < 0 || x >= k) {
        switch (m.mode) {
          case kConstant:
            fill = true;
            break;
          case kEdge:
            x = x < 0 ? 0 : k - 1;
            break;
          case kWrap:
            x = ((x % k) + k) % k;
            break;
          default:  // reflect: period 2 (k - 1), the edge not repeated
            if (k == 1) {
              x = 0;
            } else {
              const I period = 2 * (k - 1);
              x = ((x % period) + period) % period;
              if (x >= k) x = period - x;
            }
        }
      }
      offset += (x + I(m.lo[d])) * I(m.stride[d]);
    }
    out[i] = fill ? value : in[offset];
  }
}

// The same map over fewer dims: neighbouring dims that neither pad nor crop merge into one,
// and (constant padding) so does such a dim into the padded dim before it, since whole rows of
// it are either kept or filled. Padding an image's channels ([N, H, W, 3] -> [N, H, W, 8]) becomes
// a 2-D map, which saves the kernel most of its index divisions.
PadMap coalesced(const PadMap& m) {
  PadMap c = m;
  c.rank = 0;
  for (int d = 0; d < m.rank; ++d) {
    const bool untouched = m.before[d] == 0 && m.lo[d] == 0 && m.kept[d] == m.out_dims[d];
    if (c.rank > 0 && untouched) {
      const int last = c.rank - 1;
      const bool last_untouched =
          c.before[last] == 0 && c.lo[last] == 0 && c.kept[last] == c.out_dims[last];
      if (last_untouched || m.mode == kConstant) {
        const int64_t e = m.out_dims[d];
        c.out_dims[last] *= e;
        c.kept[last] *= e;
        c.before[last] *= e;
        c.lo[last] *= e;
        c.stride[last] = m.stride[d];
        continue;
      }
    }
    c.out_dims[c.rank] = m.out_dims[d];
    c.kept[c.rank] = m.kept[d];
    c.before[c.rank] = m.before[d];
    c.lo[c.rank] = m.lo[d];
    c.stride[c.rank] = m.stride[d];
    ++c.rank;
  }
  return c;
}

void launch_pad(RunContext& rc, const PadMap& map, uint64_t value_bits) {
  const DeviceTensor& in = rc.input(0);
  const DeviceTensor& out = rc.output(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  const PadMap m = coalesced(map);
  // 32-bit index arithmetic where every offset (and offset + a grid stride) fits.
  const bool narrow = std::max(n, in.numel()) < (int64_t(1) << 30);
  dispatch_bits(rc.node, element_size(in.dtype), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value;
    std::memcpy(&value, &value_bits, sizeof(T));
    if (narrow) {
      pad_kernel<T, int32_t>
          <<<grid_for(n), kBlock, 0, rc.stream>>>(in.as<T>(), out.as<T>(), int32_t(n), m, value);
    } else {
      pad_kernel<T, int64_t>
          <<<grid_for(n), kBlock, 0, rc.stream>>>(in.as<T>(), out.as<T>(), n, m, value);
    }
  });
}

PadMode pad_mode(const ir::Node& node) {
  const std::string mode = node.attr_string("mode", "constant");
  if (mode == "reflect") return kReflect;
  if (mode == "edge") return kEdge;
  if (mode == "wrap") return kWrap;
  return kConstant;
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Pad",
    "cuda_pad",
    {1, 2, 3},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype) && ranks_fit(q); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      const int64_t rank = int64_t(in.shape.size());
      std::vector<int64_t> axes;
      if (rc.has_input(3)) {
        for (int64_t a : rc.host_input(3, "axes").to_int64_vector())
          axes.push_back(a < 0 ? a + rank : a);
      } else {
        for (int64_t a = 0; a < rank; ++a) axes.push_back(a);
      }
      const std::vector<int64_t> pads = rc.host_input(1, "pads").to_int64_vector();
      std::vector<int64_t> begin(size_t(rank), 0), end(size_t(rank), 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        begin[size_t(axes[i])] = pads[i];
        end[size_t(axes[i])] = pads[axes.size() + i];
      }
      PadMap m;
      m.rank = int(rank);
      m.mode = pad_mode(rc.node);
      const Dims strides = contiguous_strides(in.shape);
      for (size_t d = 0; d < size_t(rank); ++d) {
        m.out_dims[d] = rc.output(0).shape[d];
        m.lo[d] = std::max<int64_t>(-begin[d], 0);
        m.kept[d] = in.shape[d] - m.lo[d] - std::max<int64_t>(-end[d], 0);
        m.before[d] = std::max<int64_t>(begin[d], 0);
        m.stride[d] = strides[d];
      }
      uint64_t value_bits = 0;
      if (rc.has_input(2)) {
        const Tensor& v = rc.host_input(2, "constant_value");
        if (v.numel() > 0) std::memcpy(&value_bits, v.raw(), element_size(v.dtype()));
      }
      launch_pad(rc, m, value_bits);
    }});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Tile",
    "cuda_pad",
    {1},
    [](const NodeQuery& q) { return movable_element_size(q.input(0).dtype) && ranks_fit(q); },
    [](RunContext& rc) {
      const DeviceTensor& in = rc.input(0);
      if (in.numel() == 0) return;
      PadMap m;
      m.rank = int(in.shape.size());
      m.mode = kWrap;
      const Dims strides = contiguous_strides(in.shape);
      for (size_t d = 0; d < in.shape.size(); ++d) {
        m.out_dims[d] = rc.output(0).shape[d];
        m.kept[d] = in.shape[d];
        m.stride[d] = strides[d];
      }
      launch_pad(rc, m, 0);
    }});

// ---------------------------------------------------------------------------------------------
// Gather along `axis`: the output is [outer, count, inner] with slab j of each outer entry the
// input's slab indices[j]. Negative indices count from the end; an index out of range (which
// the CPU backend reports as an error) cannot be reported from the GPU and gives zeros. Slabs
// move as words of up to 16 bytes where their size and the pointers allow, with 32-bit index
// arithmetic below 2^31 words; selecting one of a stacked tensor's parts (q, k, v) with a scalar
// index is then a copy at full bandwidth.

template <typename T, typename I>
__global__ void gather_kernel(const T* __restrict__ data, const I* __restrict__ indices,
                              T* __restrict__ out, int64_t n, int64_t count, int64_t inner,
                              int64_t dim) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t within = i % inner;
    const int64_t j = (i / inner) % count;
    const int64_t o = i / (inner * count);
    int64_t k = int64_t(indices[j]);
    if (k < 0) k += dim;
    out[i] = (k >= 0 && k < dim) ? data[(o * dim + k) * inner + within] : T{};
  }
}

template <typename W, typename I>
__global__ void gather_words_kernel(const W* __restrict__ data, const I* __restrict__ indices,
                                    W* __restrict__ out, uint32_t n, FastDivmod inner,
                                    FastDivmod count, int64_t dim) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    uint32_t within, j;
    const uint32_t o = count.divmod(inner.divmod(i, within), j);
    int64_t k = int64_t(__ldg(indices + j));
    if (k < 0) k += dim;
    out[i] = (k >= 0 && k < dim) ? data[(int64_t(o) * dim + k) * inner.divisor + within] : W{};
  }
}

void run_gather(RunContext& rc) {
  const DeviceTensor& data = rc.input(0);
  const DeviceTensor& indices = rc.input(1);
  const DeviceTensor& out = rc.output(0);
  const int64_t n = out.numel();
  if (n == 0) return;
  const int64_t rank = int64_t(data.shape.size());
  int64_t axis = rc.node.attr_int("axis", 0);
  if (axis < 0) axis += rank;
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d) inner *= data.shape[size_t(d)];
  const int64_t count = indices.numel();
  const int64_t dim = data.shape[size_t(axis)];
  const size_t bytes = element_size(data.dtype);
  auto launch = [&](auto index_tag) {
    using I = typename decltype(index_tag)::type;
    const I* index = indices.as<I>();
    auto fits = [&](size_t w) {
      return size_t(inner) * bytes % w == 0 && aligned(data.data, w) && aligned(out.data, w);
    };
    size_t word = 16;
    while (word > bytes && !fits(word)) word /= 2;
    const int64_t words = int64_t(out.nbytes() / word);
    const int64_t inner_words = int64_t(size_t(inner) * bytes / word);
    if (words <= kMax32BitIndex) {
      dispatch_word(rc.node, word, [&](auto tag) {
        using W = typename decltype(tag)::type;
        gather_words_kernel<W, I><<<grid_for(words), kBlock, 0, rc.stream>>>(
            data.as<W>(), index, out.as<W>(), uint32_t(words), FastDivmod(uint32_t(inner_words)),
            FastDivmod(uint32_t(count)), dim);
      });
      return;
    }
    dispatch_bits(rc.node, bytes, [&](auto tag) {
      using T = typename decltype(tag)::type;
      gather_kernel<T, I><<<grid_for(n), kBlock, 0, rc.stream>>>(data.as<T>(), index, out.as<T>(),
                                                                 n, count, inner, dim);
    });
  };
  if (indices.dtype == DataType::kInt64) {
    launch(Tag<int64_t>{});
  } else {
    launch(Tag<int32_t>{});
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Gather",
                                     "cuda_gather",
                                     {},
                                     [](const NodeQuery& q) {
                                       const DataType it = q.input(1).dtype;
                                       return movable_element_size(q.input(0).dtype) &&
                                              (it == DataType::kInt32 || it == DataType::kInt64);
                                     },
                                     run_gather});

// ---------------------------------------------------------------------------------------------
// GatherND: the output is [batch, tuples, slice] with each tuple of k indices picking a slice of
// data's dims batch_dims .. batch_dims+k-1 in its batch. Negative indices count from the end;
// one out of range (an error on the CPU) gives zeros.

constexpr int kMaxGatherNdIndex = 8;

struct GatherNdGeometry {
  int k = 0;
  int64_t dims[kMaxGatherNdIndex] = {};
  int64_t strides[kMaxGatherNdIndex] = {};  // of those dims in data, in elements
  int64_t batch_stride = 0;                 // elements of data per batch entry
  int64_t tuples = 0;                       // per batch entry
  int64_t slice = 0;                        // elements per gathered slice
};

template <typename T>
__global__ void gather_nd_kernel(const T* __restrict__ data, const int64_t* __restrict__ indices,
                                 T* __restrict__ out, int64_t n, GatherNdGeometry g) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    const int64_t within = i % g.slice;
    const int64_t tuple = i / g.slice;  // batch * tuples + j
    const int64_t batch = tuple / g.tuples;
    const int64_t* index = indices + tuple * g.k;
    int64_t offset = batch * g.batch_stride + within;
    bool inside = true;
    for (int t = 0; t < g.k; ++t) {
      int64_t v = index[t];
      if (v < 0) v += g.dims[t];
      inside = inside && v >= 0 && v < g.dims[t];
      offset += v * g.strides[t];
    }
    out[i] = inside ? data[offset] : T(0);
  }
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "GatherND",
    "cuda_gather_nd",
    {},
    [](const NodeQuery& q) {
      const TensorInfo& indices = q.input(1);
      return movable_element_size(q.input(0).dtype) && indices.dtype == DataType::kInt64 &&
             !indices.shape.empty() && indices.shape.back() <= kMaxGatherNdIndex;
    },
    [](RunContext& rc) {
      const DeviceTensor& data = rc.input(0);
      const DeviceTensor& indices = rc.input(1);
      const DeviceTensor& out = rc.output(0);
      const int64_t n = out.numel();
      if (n == 0) return;
      const int64_t b = rc.node.attr_int("batch_dims", 0);
      GatherNdGeometry g;
      g.k = int(indices.shape.back());
      const Dims strides = contiguous_strides(data.shape);
      for (int t = 0; t < g.k; ++t) {
        g.dims[t] = data.shape[size_t(b + t)];
        g.strides[t] = strides[size_t(b + t)];
      }
      g.batch_stride = b > 0 ? strides[size_t(b - 1)] : volume(data.shape);
      g.slice = 1;
      for (size_t d = size_t(b + g.k); d < data.shape.size(); ++d) g.slice *= data.shape[d];
      int64_t batches = 1;
      for (int64_t d = 0; d < b; ++d) batches *= data.shape[size_t(d)];
      g.tuples = g.slice == 0 || batches == 0 ? 1 : n / (g.slice * batches);
      dispatch_bits(rc.node, element_size(data.dtype), [&](auto tag) {
        using T = typename decltype(tag)::type;
        gather_nd_kernel<<<grid_for(n), kBlock, 0, rc.stream>>>(data.as<T>(), indices.as<int64_t>(),
                                                                out.as<T>(), n, g);
      });
    }});

}  // namespace
}  // namespace kiln::cuda

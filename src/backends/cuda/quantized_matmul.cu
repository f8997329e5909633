// MatMulInteger and QLinearMatMul (src/ops/quantized_matmul.cpp): numpy-style matmul of
// zero-point-shifted 8-bit operands (1-D operands promoted, batch dims broadcast), zero points
// and scales per tensor, per row of A and per column of B; QLinearMatMul requantizes with the
// multiplier a_scale * b_scale / y_scale computed in the scales' type and stores int8/uint8 or
// float8, bit for bit as the CPU does.
//
// Two kernels per op:
//  - cuBLASLt's int8 GEMM (CUBLAS_COMPUTE_32I) when A is int8, B one matrix (A's batches are
//    then rows of one product), K and N multiples of 4: B is transposed into the workspace
//    (cuBLASLt's int8 GEMM wants both operands k-contiguous; a uint8 B is shifted to int8 by
//    -128 there), and the zero points become corrections with row sums of A and column sums of
//    B applied with the requantization in one epilogue kernel:
//      sum_k (a - za)(b - zb) = sum_k a b - zb * rowsum(a) - za * colsum(b) + K za zb.
//    Where a launch's shapes or addresses do not allow it, it runs the tiled kernel instead.
//  - kiln's tiled kernel (quantized_common.cuh) for everything else: uint8 A, odd K, broadcast
//    batches, float8 operands (accumulated in double, as the CPU does).
#include <cublasLt.h>

#include <map>

#include "backends/cuda/data_movement.cuh"
#include "backends/cuda/quantized_common.cuh"

namespace kiln::cuda {
namespace {

using quant::QType;

// ---------------------------------------------------------------------------------------------
// Geometry

// Element offsets of batch `b` (flat over the broadcast batch dims) in A, B and the parameters
// (scale / zero point) of A and of B.
struct BatchMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t a[kMaxRank] = {}, b[kMaxRank] = {}, pa[kMaxRank] = {}, pb[kMaxRank] = {};

  struct Offsets {
    int64_t a = 0, b = 0, pa = 0, pb = 0;
  };
  __device__ __forceinline__ Offsets offsets(int64_t batch) const {
    Offsets o;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t i = batch % dims[d];
      batch /= dims[d];
      o.a += i * a[d];
      o.b += i * b[d];
      o.pa += i * pa[d];
      o.pb += i * pb[d];
    }
    return o;
  }
};

struct Geometry {
  int64_t m = 1, n = 1, k = 1, batches = 1;
  int64_t count_b = 1;  // B's own matrices
  int64_t pa_row = 0;   // A's parameter stride along M (0 per tensor)
  int64_t pb_col = 0;   // B's parameter stride along N
  BatchMap map;
};

// quantized_matmul.cpp's row_param_shape / column_param_shape (shapes validated by inference).
Dims row_param_shape(const Dims& shape, bool a_vector, int64_t m) {
  if (volume(shape) == 1) return {};
  if (shape.size() == 1 && !a_vector) return {m, 1};
  return shape;
}
Dims column_param_shape(const Dims& shape, bool b_vector) {
  if (volume(shape) == 1) return {};
  if (shape.size() == 1 && !b_vector) return shape;
  return shape;
}

// `a_param` / `b_param`: the shapes of A's and B's scales or zero points (nullptr: none).
Geometry make_geometry(const ir::Node& node, const Dims& a, const Dims& b, const Dims* a_param,
                       const Dims* b_param) {
  Geometry g;
  const bool a_vector = a.size() == 1, b_vector = b.size() == 1;
  const Dims a_full = a_vector ? Dims{1, a[0]} : a;
  const Dims b_full = b_vector ? Dims{b[0], 1} : b;
  g.m = a_full[a_full.size() - 2];
  g.k = a_full.back();
  g.n = b_full.back();
  const Dims a_batch(a_full.begin(), a_full.end() - 2), b_batch(b_full.begin(), b_full.end() - 2);
  Dims out_batch(std::max(a_batch.size(), b_batch.size()), 1);
  for (size_t i = 0; i < out_batch.size(); ++i) {
    const size_t oa = out_batch.size() - a_batch.size(), ob = out_batch.size() - b_batch.size();
    const int64_t ea = i >= oa ? a_batch[i - oa] : 1, eb = i >= ob ? b_batch[i - ob] : 1;
    out_batch[i] = ea == 1 ? eb : ea;
  }
  KILN_CHECK(out_batch.size() <= size_t(kMaxRank), ErrorCode::kUnsupported, node.describe(),
             ": the CUDA kernel handles up to ", kMaxRank, " batch dims");
  g.batches = volume(out_batch);
  g.count_b = volume(b_batch);
  Dims out_full = out_batch;
  out_full.push_back(g.m);
  out_full.push_back(g.n);
  const size_t rank = out_full.size();
  const Dims sa = broadcast_strides_to(a_batch, out_batch);
  const Dims sb = broadcast_strides_to(b_batch, out_batch);
  const Dims spa = a_param
                       ? broadcast_strides_to(row_param_shape(*a_param, a_vector, g.m), out_full)
                       : Dims(rank, 0);
  const Dims spb = b_param ? broadcast_strides_to(column_param_shape(*b_param, b_vector), out_full)
                           : Dims(rank, 0);
  g.pa_row = spa[rank - 2];
  g.pb_col = spb[rank - 1];
  g.map.rank = int(out_batch.size());
  for (size_t d = 0; d < out_batch.size(); ++d) {
    g.map.dims[d] = out_batch[d];
    g.map.a[d] = sa[d] * g.m * g.k;
    g.map.b[d] = sb[d] * g.k * g.n;
    g.map.pa[d] = spa[d];
    g.map.pb[d] = spb[d];
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Operand loads (tiled kernel) and output stores (tiled kernel and cuBLASLt epilogue)

struct Operand {
  const uint8_t* data = nullptr;
  const uint8_t* zero_point = nullptr;  // nullptr: 0
  QType type = QType::kS8;
};

template <typename Elem>
__device__ __forceinline__ Elem load_elem(const uint8_t* p, int64_t i, QType t) {
  if constexpr (std::is_same_v<Elem, double>) {
    return quant::load_q_double(p, i, t);
  } else {
    return quant::load_int8(p, i, t);
  }
}

template <typename Elem>
struct LoadA {
  Operand op;
  int64_t k, pa_row;
  BatchMap map;

  struct View {
    const uint8_t* data;
    const uint8_t* zero_point;
    QType type;
    int64_t k, pa_row;
    __device__ __forceinline__ Elem operator()(int64_t row, int64_t kk) const {
      const Elem v = load_elem<Elem>(data, row * k + kk, type);
      return zero_point ? v - load_elem<Elem>(zero_point, row * pa_row, type) : v;
    }
  };
  __device__ __forceinline__ View at(int64_t batch) const {
    const BatchMap::Offsets o = map.offsets(batch);
    return {op.data + o.a, op.zero_point ? op.zero_point + o.pa : nullptr, op.type, k, pa_row};
  }
};

template <typename Elem>
struct LoadB {
  Operand op;
  int64_t n, pb_col;
  BatchMap map;

  struct View {
    const uint8_t* data;
    const uint8_t* zero_point;
    QType type;
    int64_t n, pb_col;
    __device__ __forceinline__ Elem operator()(int64_t kk, int64_t col) const {
      const Elem v = load_elem<Elem>(data, kk * n + col, type);
      return zero_point ? v - load_elem<Elem>(zero_point, col * pb_col, type) : v;
    }
  };
  __device__ __forceinline__ View at(int64_t batch) const {
    const BatchMap::Offsets o = map.offsets(batch);
    return {op.data + o.b, op.zero_point ? op.zero_point + o.pb : nullptr, op.type, n, pb_col};
  }
};

// The accumulated value as the CPU holds it: a uint32 sum is the wrapped int32.
template <typename Sum>
__device__ __forceinline__ double sum_as_double(Sum s) {
  if constexpr (std::is_same_v<Sum, uint32_t>) {
    return double(int32_t(s));
  } else {
    return double(s);
  }
}

// MatMulInteger: the int32 result.
struct StoreInt32 {
  int32_t* y;
  int64_t m, n;
  struct View {
    int32_t* y;
    int64_t n;
    template <typename Sum>
    __device__ __forceinline__ void operator()(int64_t row, int64_t col, Sum acc) const {
      y[row * n + col] = int32_t(acc);
    }
  };
  __device__ __forceinline__ View at(int64_t batch) const { return {y + batch * m * n, n}; }
};

// QLinearMatMul: requantized into y's type.
struct StoreRequantized {
  uint8_t* y;
  QType y_type;
  int64_t m, n, pa_row, pb_col;
  const void* a_scale;
  const void* b_scale;
  DataType scale_type;
  int64_t scale_bytes;  // element_size(scale_type), which is host code
  const void* y_scale_ptr;
  const uint8_t* y_zero_point;  // nullptr: 0
  BatchMap map;

  struct View {
    uint8_t* y;
    QType y_type;
    int64_t n, pa_row, pb_col;
    const void* a_scale;
    const void* b_scale;
    DataType scale_type;
    float y_scale;
    double y_zero;
    template <typename Sum>
    __device__ __forceinline__ void operator()(int64_t row, int64_t col, Sum acc) const {
      const double multiplier = quant::requantize_multiplier(
          scale_type, quant::load_scale(a_scale, row * pa_row, scale_type),
          quant::load_scale(b_scale, col * pb_col, scale_type), y_scale);
      quant::store_quantized(y, row * n + col, y_type,
                             __dadd_rn(__dmul_rn(sum_as_double(acc), multiplier), y_zero));
    }
  };
  __device__ __forceinline__ View at(int64_t batch) const {
    const BatchMap::Offsets o = map.offsets(batch);
    const double zero = y_zero_point ? quant::load_q_double(y_zero_point, 0, y_type) : 0.0;
    return {y + batch * m * n,
            y_type,
            n,
            pa_row,
            pb_col,
            static_cast<const char*>(a_scale) + o.pa * scale_bytes,
            static_cast<const char*>(b_scale) + o.pb * scale_bytes,
            scale_type,
            quant::load_scale(y_scale_ptr, 0, scale_type),
            zero};
  }
};

// ---------------------------------------------------------------------------------------------
// The node's operands, whichever op it is.

struct Problem {
  bool qlinear = false;
  Operand a, b;
  Geometry g;
  DataType a_type = DataType::kInt8, b_type = DataType::kInt8;
  StoreInt32 store_int32{};
  StoreRequantized store_requantized{};
};

const uint8_t* bytes_of(const RunContext& rc, size_t i) {
  return rc.has_input(i) ? static_cast<const uint8_t*>(rc.input(i).data) : nullptr;
}

Problem make_problem(const RunContext& rc) {
  Problem p;
  p.qlinear = rc.node.op == "QLinearMatMul";
  const size_t ia = 0, ib = p.qlinear ? 3 : 1;
  const size_t a_zero = 2, b_zero = p.qlinear ? 5 : 3;
  p.a_type = rc.input(ia).dtype;
  p.b_type = rc.input(ib).dtype;
  quant::qtype_of(p.a_type, p.a.type);
  quant::qtype_of(p.b_type, p.b.type);
  p.a.data = bytes_of(rc, ia);
  p.b.data = bytes_of(rc, ib);
  p.a.zero_point = bytes_of(rc, a_zero);
  p.b.zero_point = bytes_of(rc, b_zero);
  // Parameter shapes: the scales' for QLinearMatMul (zero points share them), else the zero
  // points'.
  const size_t a_param = p.qlinear ? 1 : a_zero, b_param = p.qlinear ? 4 : b_zero;
  const Dims* a_shape = rc.has_input(a_param) ? &rc.input(a_param).shape : nullptr;
  const Dims* b_shape = rc.has_input(b_param) ? &rc.input(b_param).shape : nullptr;
  p.g = make_geometry(rc.node, rc.input(ia).shape, rc.input(ib).shape, a_shape, b_shape);
  const DeviceTensor& y = rc.output(0);
  p.store_int32 = StoreInt32{y.as<int32_t>(), p.g.m, p.g.n};
  if (p.qlinear) {
    StoreRequantized& s = p.store_requantized;
    s.y = y.as<uint8_t>();
    quant::qtype_of(y.dtype, s.y_type);
    s.m = p.g.m;
    s.n = p.g.n;
    s.pa_row = p.g.pa_row;
    s.pb_col = p.g.pb_col;
    s.a_scale = rc.input(1).data;
    s.b_scale = rc.input(4).data;
    s.scale_type = rc.input(1).dtype;
    s.scale_bytes = int64_t(element_size(s.scale_type));
    s.y_scale_ptr = rc.input(6).data;
    s.y_zero_point = bytes_of(rc, 7);
    s.map = p.g.map;
  }
  return p;
}

// QLinearMatMul's int32 sums are exact (as the CPU's double sums are) while K * 255 * 255 fits.
inline constexpr int64_t kExactInt32K = 33025;

template <typename Sum, typename Store>
void launch_tiled_int(const RunContext& rc, const Problem& p, const Store& store) {
  using Elem = std::conditional_t<std::is_same_v<Sum, double>, double, int32_t>;
  const Geometry& g = p.g;
  quant::launch_tiled_gemm<Elem, Sum>(rc.node, g.batches, g.m, g.n, g.k,
                                      LoadA<Elem>{p.a, g.k, g.pa_row, g.map},
                                      LoadB<Elem>{p.b, g.n, g.pb_col, g.map}, store, rc.stream);
}

void run_tiled(const RunContext& rc, const Problem& p) {
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  if (!p.qlinear) return launch_tiled_int<uint32_t>(rc, p, p.store_int32);
  if (quant::is_int8_type(p.a_type) && quant::is_int8_type(p.b_type)) {
    if (p.g.k <= kExactInt32K) return launch_tiled_int<uint32_t>(rc, p, p.store_requantized);
    return launch_tiled_int<int64_t>(rc, p, p.store_requantized);
  }
  launch_tiled_int<double>(rc, p, p.store_requantized);  // float8 operands
}

// ---------------------------------------------------------------------------------------------
// cuBLASLt path

constexpr uint32_t kCublasLtSource = 1u << uint32_t(TacticSource::kCUBLAS_LT);
inline constexpr size_t kAlign = 256;

size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// The workspace the path needs besides cuBLASLt's own: B transposed, the sums, and (for
// QLinearMatMul) the int32 product.
size_t scratch_bytes(int64_t rows, int64_t n, int64_t k, bool qlinear) {
  return round_up(size_t(n * k)) + round_up(size_t(n) * 4) + round_up(size_t(rows) * 4) +
         (qlinear ? round_up(size_t(rows * n) * 4) : 0);
}

// Conditions on types and shapes (addresses are checked per launch).
bool lt_shapes_ok(DataType a_type, DataType b_type, int64_t count_b, int64_t k, int64_t n,
                  bool qlinear) {
  if (a_type != DataType::kInt8 || !quant::is_int8_type(b_type)) return false;
  if (count_b != 1 || k <= 0 || k % 4 != 0 || n % 4 != 0) return false;
  // Raw int8 sums stay exact in int32 up to K = 2^31 / 128^2; QLinearMatMul's corrected sums
  // must be exact too (the CPU's are).
  return k <= (qlinear ? kExactInt32K : (int64_t(1) << 17));
}

void check_lt(cublasStatus_t status, const ir::Node& node, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(ErrorCode::kRuntime, node.describe(), ": cuBLASLt ", what, " failed with status ",
       int(status));
}

struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool found = false;

  LtPlan() = default;
  LtPlan(const LtPlan&) = delete;
  LtPlan& operator=(const LtPlan&) = delete;
  ~LtPlan() {
    for (cublasLtMatrixLayout_t l : {a, b, d}) {
      if (l) cublasLtMatrixLayoutDestroy(l);
    }
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

// rows, n, k, alignment of A / D, workspace given to cuBLASLt.
using LtKey = std::array<int64_t, 6>;
struct LtCache {
  std::map<LtKey, std::unique_ptr<LtPlan>> plans;
};

size_t alignment_of(const void* p, int64_t row_bytes) {
  size_t a = 16;
  while (a > 1 && (reinterpret_cast<uintptr_t>(p) % a != 0 || size_t(row_bytes) % a != 0)) a /= 2;
  return a;
}

// Row-major D[rows, n] = A[rows, k] * B[k, n] with B given as bt[n, k]: column-major that is
// D^T[n, rows] = bt^T... i.e. cuBLASLt's first operand is bt (stored k x n column-major,
// transposed), its second A (stored k x rows column-major): the "TN" form its int8 GEMM wants.
std::unique_ptr<LtPlan> make_lt_plan(const RunContext& rc, int64_t rows, int64_t n, int64_t k,
                                     size_t align_a, size_t align_d, size_t workspace) {
  const ir::Node& node = rc.node;
  auto plan = std::make_unique<LtPlan>();
  check_lt(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32I, CUDA_R_32I), node,
           "matmul descriptor");
  const cublasOperation_t transpose = CUBLAS_OP_T, keep = CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                          sizeof(transpose)),
           node, "transpose attribute");
  check_lt(
      cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &keep, sizeof(keep)),
      node, "transpose attribute");
  check_lt(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_8I, uint64_t(k), uint64_t(n), k), node,
           "matrix layout");
  check_lt(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_8I, uint64_t(k), uint64_t(rows), k), node,
           "matrix layout");
  check_lt(cublasLtMatrixLayoutCreate(&plan->d, CUDA_R_32I, uint64_t(n), uint64_t(rows), n), node,
           "matrix layout");
  cublasLtMatmulPreference_t preference = nullptr;
  check_lt(cublasLtMatmulPreferenceCreate(&preference), node, "preference");
  const uint64_t workspace_bytes = workspace;
  const uint32_t bt_align = uint32_t(std::min<size_t>(16, alignment_of(nullptr, k)));
  const uint32_t a_align = uint32_t(align_a), d_align = uint32_t(align_d);
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                       &workspace_bytes, sizeof(workspace_bytes));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                       &bt_align, sizeof(bt_align));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                       &a_align, sizeof(a_align));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                       &d_align, sizeof(d_align));
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                       &d_align, sizeof(d_align));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      static_cast<cublasLtHandle_t>(rc.cublaslt), plan->desc, plan->a, plan->b, plan->d, plan->d,
      preference, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(preference);
  // No algorithm is not an error: the launch takes the tiled kernel.
  plan->found = status == CUBLAS_STATUS_SUCCESS && found > 0;
  if (plan->found) plan->algo = result.algo;
  return plan;
}

// Row sums of an int8 matrix [rows, k] (one warp per row), after flipping each byte's top bit in
// place when `flip` (uint8 to int8 minus 128). `sums` may be nullptr.
__global__ void row_sums_kernel(uint8_t* __restrict__ data, int64_t rows, int64_t k, bool flip,
                                int32_t* __restrict__ sums) {
  const int lane = int(threadIdx.x) % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t row = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; row < rows;
       row += warps) {
    uint8_t* p = data + row * k;
    int32_t sum = 0;
    for (int64_t i = lane; i < k; i += 32) {
      uint8_t v = p[i];
      if (flip) {
        v ^= 0x80;
        p[i] = v;
      }
      sum += int8_t(v);
    }
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0 && sums) sums[row] = sum;
  }
}

void launch_row_sums(uint8_t* data, int64_t rows, int64_t k, bool flip, int32_t* sums,
                     cudaStream_t stream) {
  const int64_t blocks = (rows * 32 + kBlock - 1) / kBlock;
  row_sums_kernel<<<unsigned(std::min<int64_t>(std::max<int64_t>(blocks, 1), 65535 * 8)), kBlock, 0,
                    stream>>>(data, rows, k, flip, sums);
}

// The zero-point corrections and the store: raw[r, col] is sum_k a * b' (b' = B shifted to
// int8 by `b_shift`) for row r = batch * m + row.
template <typename Store>
__global__ void lt_epilogue_kernel(const int32_t* __restrict__ raw, int64_t rows, int64_t m,
                                   int64_t n, int64_t k, Operand a, Operand b, int32_t b_shift,
                                   int64_t pa_row, int64_t pb_col, BatchMap map,
                                   const int32_t* __restrict__ a_row_sums,
                                   const int32_t* __restrict__ b_col_sums, Store store) {
  KILN_GRID_STRIDE_LOOP(i, rows * n) {
    const int64_t r = i / n, col = i % n;
    const int64_t batch = r / m, row = r % m;
    const BatchMap::Offsets o = map.offsets(batch);
    const uint32_t za =
        a.zero_point ? uint32_t(quant::load_int8(a.zero_point + o.pa, row * pa_row, a.type)) : 0u;
    const uint32_t zb = uint32_t(
        (b.zero_point ? quant::load_int8(b.zero_point + o.pb, col * pb_col, b.type) : 0) - b_shift);
    uint32_t acc = uint32_t(raw[i]);
    if (a_row_sums) acc -= zb * uint32_t(a_row_sums[r]);
    if (b_col_sums) acc -= za * uint32_t(b_col_sums[col]);
    acc += uint32_t(k) * za * zb;
    store.at(batch)(row, col, acc);
  }
}

struct MatmulState {
  LtCache lt;
};

// Runs the product through cuBLASLt; false (nothing launched) where this launch cannot.
bool run_cublaslt(RunContext& rc, const Problem& p) {
  const Geometry& g = p.g;
  if (!lt_shapes_ok(p.a_type, p.b_type, g.count_b, g.k, g.n, p.qlinear)) return false;
  const int64_t rows = g.batches * g.m;  // B is one matrix: A's batches are rows
  const size_t scratch = scratch_bytes(rows, g.n, g.k, p.qlinear);
  if (scratch > rc.workspace_bytes || rows > int64_t(INT32_MAX)) return false;
  if (!*rc.state) *rc.state = std::make_shared<MatmulState>();
  auto& state = *static_cast<MatmulState*>(rc.state->get());

  char* ws = static_cast<char*>(rc.workspace);
  auto* bt = reinterpret_cast<uint8_t*>(ws);
  auto* col_sums = reinterpret_cast<int32_t*>(ws + round_up(size_t(g.n * g.k)));
  auto* row_sums =
      reinterpret_cast<int32_t*>(reinterpret_cast<char*>(col_sums) + round_up(size_t(g.n) * 4));
  char* after_sums = reinterpret_cast<char*>(row_sums) + round_up(size_t(rows) * 4);
  int32_t* product =
      p.qlinear ? reinterpret_cast<int32_t*>(after_sums) : rc.output(0).as<int32_t>();
  char* lt_workspace = p.qlinear ? after_sums + round_up(size_t(rows * g.n) * 4) : after_sums;
  const size_t lt_workspace_bytes = rc.workspace_bytes - size_t(lt_workspace - ws);

  const size_t align_a = alignment_of(p.a.data, g.k);
  const size_t align_d = alignment_of(product, g.n * 4);
  if (align_a < 4 || align_d < 4) return false;
  const LtKey key{rows, g.n, g.k, int64_t(align_a), int64_t(align_d), int64_t(lt_workspace_bytes)};
  std::unique_ptr<LtPlan>& plan = state.lt.plans[key];
  if (!plan) plan = make_lt_plan(rc, rows, g.n, g.k, align_a, align_d, lt_workspace_bytes);
  if (!plan->found) return false;

  // B^T (k-contiguous), shifted to int8 when uint8; its column sums when A has a zero point.
  const bool b_unsigned = p.b_type == DataType::kUInt8;
  launch_permute(rc.node, p.b.data, bt, 1, {g.k, g.n}, {1, 0}, rc.stream);
  const bool need_col_sums = p.a.zero_point != nullptr;
  const bool need_row_sums = p.b.zero_point != nullptr || b_unsigned;
  if (b_unsigned || need_col_sums) {
    launch_row_sums(bt, g.n, g.k, b_unsigned, need_col_sums ? col_sums : nullptr, rc.stream);
  }
  if (need_row_sums) {
    // Not flipped, so A is only read.
    launch_row_sums(const_cast<uint8_t*>(p.a.data), rows, g.k, false, row_sums, rc.stream);
  }
  const int32_t alpha = 1, beta = 0;
  check_lt(cublasLtMatmul(static_cast<cublasLtHandle_t>(rc.cublaslt), plan->desc, &alpha, bt,
                          plan->a, p.a.data, plan->b, &beta, product, plan->d, product, plan->d,
                          &plan->algo, lt_workspace, lt_workspace_bytes, rc.stream),
           rc.node, "int8 matmul");
  if (!p.qlinear && !need_row_sums && !need_col_sums) return true;  // no correction to apply
  const int32_t b_shift = b_unsigned ? 128 : 0;
  auto epilogue = [&](const auto& store) {
    lt_epilogue_kernel<<<grid_for(rows * g.n), kBlock, 0, rc.stream>>>(
        product, rows, g.m, g.n, g.k, p.a, p.b, b_shift, g.pa_row, g.pb_col, g.map,
        need_row_sums ? row_sums : nullptr, need_col_sums ? col_sums : nullptr, store);
  };
  if (p.qlinear) {
    epilogue(p.store_requantized);
  } else {
    epilogue(p.store_int32);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Registration

bool is_qlinear_operand(DataType t) {
  QType q;
  return quant::qtype_of(t, q);
}

bool matmul_integer_supported(const NodeQuery& q) {
  if (!quant::is_int8_type(q.input(0).dtype) || !quant::is_int8_type(q.input(1).dtype)) {
    return false;
  }
  if (q.has_input(2) && q.input(2).dtype != q.input(0).dtype) return false;
  if (q.has_input(3) && q.input(3).dtype != q.input(1).dtype) return false;
  return q.has_output(0) && q.outputs[0].dtype == DataType::kInt32 && ranks_fit(q);
}

bool qlinear_matmul_supported(const NodeQuery& q) {
  if (!is_qlinear_operand(q.input(0).dtype) || !is_qlinear_operand(q.input(3).dtype)) return false;
  if (q.has_input(2) && q.input(2).dtype != q.input(0).dtype) return false;
  if (q.has_input(5) && q.input(5).dtype != q.input(3).dtype) return false;
  const DataType scale_type = q.input(1).dtype;
  if (!is_float16_or_32(scale_type) || q.input(4).dtype != scale_type ||
      q.input(6).dtype != scale_type) {
    return false;
  }
  if (q.has_input(7) && !is_qlinear_operand(q.input(7).dtype)) return false;
  return q.has_output(0) && is_qlinear_operand(q.outputs[0].dtype) && ranks_fit(q);
}

// B's matrix count, K and N at the query's shapes.
bool lt_query_ok(const NodeQuery& q, size_t ia, size_t ib, bool qlinear) {
  const Dims& a = q.input(ia).shape;
  const Dims& b = q.input(ib).shape;
  if (a.empty() || b.empty() || b.size() == 1) return false;
  const int64_t k = a.back(), n = b.back();
  const int64_t count_b = volume(Dims(b.begin(), b.end() - 2));
  return lt_shapes_ok(q.input(ia).dtype, q.input(ib).dtype, count_b, k, n, qlinear);
}

void run_matmul_tiled(RunContext& rc) { run_tiled(rc, make_problem(rc)); }

void run_matmul_cublaslt(RunContext& rc) {
  const Problem p = make_problem(rc);
  if (rc.output(0).numel() == 0) return;
  if (!run_cublaslt(rc, p)) run_tiled(rc, p);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "MatMulInteger",
    "cublaslt_matmul_integer",
    {},
    [](const NodeQuery& q) { return matmul_integer_supported(q) && lt_query_ok(q, 0, 1, false); },
    run_matmul_cublaslt,
    1,
    kCublasLtSource});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "MatMulInteger", "cuda_matmul_integer_tiled", {}, matmul_integer_supported, run_matmul_tiled});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "QLinearMatMul",
    "cublaslt_qlinear_matmul",
    {},
    [](const NodeQuery& q) { return qlinear_matmul_supported(q) && lt_query_ok(q, 0, 3, true); },
    run_matmul_cublaslt,
    1,
    kCublasLtSource});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "QLinearMatMul", "cuda_qlinear_matmul_tiled", {}, qlinear_matmul_supported, run_matmul_tiled});

}  // namespace
}  // namespace kiln::cuda

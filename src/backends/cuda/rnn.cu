// RNN, GRU and LSTM (ONNX semantics of src/ops/rnn.cpp): forward, reverse and bidirectional,
// layout 0 ([seq, batch, input]) and 1 ([batch, seq, input]), optional bias, per-batch
// sequence lengths, initial hidden (and cell) state, LSTM peepholes and input_forget, GRU's
// linear_before_reset, clip, and every activation of the reference with its alpha/beta.
//
// Two phases:
//   1. the input projection of every time step and direction as one product
//      P[rows, dirs * gates * hidden] = X[rows, input] . W_all^T, where the rows are X's rows
//      in X's own order (both layouts keep X contiguous) and W_all is W seen as
//      [dirs * gates * hidden, input]. cuBLASLt computes it (float32/float16/bfloat16; P in
//      X's type), or kiln's own tiled kernel (every float type, P in the accumulation type)
//      where cuBLASLt is not allowed or for float64.
//   2. the recurrence: one persistent block per (direction, batch entry) walks that entry's
//      own steps, with h (and c) in shared memory, so no step needs a grid-wide barrier. Each
//      step computes the recurrent products h . R^T (one warp per row of R, coalesced) and
//      then the gates, one thread per hidden unit. Activations are ids with alpha/beta, chosen
//      at run time, so every combination runs through the same kernel.
// Math is float32 for float32/float16/bfloat16 storage and float64 for float64. A batch entry
// with sequence length L runs steps 0..L-1 (reverse: L-1..0); Y is zero past L and Y_h / Y_c
// hold the state after its last step (zero when L is 0), as the reference.
#include <algorithm>
#include <cctype>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/matmul.cuh"

namespace kiln::cuda {
namespace {

enum class CellKind : int { kRnn = 0, kGru = 1, kLstm = 2 };

int64_t gates_of(CellKind kind) {
  switch (kind) {
    case CellKind::kRnn:
      return 1;
    case CellKind::kGru:
      return 3;
    case CellKind::kLstm:
      return 4;
  }
  return 1;
}

// Activation ids understood by the device code.
enum ActivationId : int {
  kActRelu,
  kActTanh,
  kActSigmoid,
  kActAffine,
  kActLeakyRelu,
  kActThresholdedRelu,
  kActScaledTanh,
  kActHardSigmoid,
  kActElu,
  kActSoftsign,
  kActSoftplus
};

struct ActivationParams {
  int id = kActTanh;
  double alpha = 0;
  double beta = 0;
};

struct ActivationName {
  const char* name;  // lower case
  int id;
  bool takes_alpha, takes_beta;
  double default_alpha, default_beta;  // those of the ONNX operator of the same name
};

constexpr ActivationName kActivationNames[] = {
    {"relu", kActRelu, false, false, 0, 0},
    {"tanh", kActTanh, false, false, 0, 0},
    {"sigmoid", kActSigmoid, false, false, 0, 0},
    {"affine", kActAffine, true, true, 1.0, 0.0},
    {"leakyrelu", kActLeakyRelu, true, false, 0.01, 0},
    {"thresholdedrelu", kActThresholdedRelu, true, false, 1.0, 0},
    {"scaledtanh", kActScaledTanh, true, true, 1.0, 1.0},
    {"hardsigmoid", kActHardSigmoid, true, true, 0.2, 0.5},
    {"elu", kActElu, true, false, 1.0, 0},
    {"softsign", kActSoftsign, false, false, 0, 0},
    {"softplus", kActSoftplus, false, false, 0, 0},
};

constexpr int kMaxActivationsPerDirection = 3;

// The node's attributes, resolved as the reference resolves them.
struct CellConfig {
  CellKind kind = CellKind::kRnn;
  int directions = 1;
  bool reverse = false;
  bool batch_major = false;
  bool has_clip = false;
  double clip = 0;
  bool linear_before_reset = false;
  bool input_forget = false;
  ActivationParams activations[2][kMaxActivationsPerDirection];
};

// Throws kiln::Error naming the node on attributes the reference also rejects (the build's
// shape inference has normally rejected them first).
CellConfig parse_config(const ir::Node& node, CellKind kind) {
  auto require = [&](bool cond, const std::string& what) {
    KILN_CHECK(cond, ErrorCode::kInvalidModel, node.describe(), ": ", what);
  };
  CellConfig config;
  config.kind = kind;
  const std::string direction = node.attr_string("direction", "forward");
  require(direction == "forward" || direction == "reverse" || direction == "bidirectional",
          "direction '" + direction + "' is not forward, reverse or bidirectional");
  config.directions = direction == "bidirectional" ? 2 : 1;
  config.reverse = direction == "reverse";
  const int64_t layout = node.attr_int("layout", 0);
  require(layout == 0 || layout == 1, "layout must be 0 or 1");
  config.batch_major = layout == 1;
  if (node.has_attr("clip")) {
    config.has_clip = true;
    config.clip = node.attr_float("clip");
    require(config.clip > 0, "clip must be positive");
  }
  if (kind == CellKind::kGru)
    config.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  if (kind == CellKind::kLstm) config.input_forget = node.attr_int("input_forget", 0) != 0;

  const std::vector<std::string> defaults =
      kind == CellKind::kRnn   ? std::vector<std::string>{"Tanh"}
      : kind == CellKind::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                               : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
  const size_t per_direction = defaults.size();
  std::vector<std::string> names = node.attr_strings("activations", {});
  if (names.empty()) {
    for (int d = 0; d < config.directions; ++d)
      names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (names.size() == 2 * per_direction && config.directions == 1) {
    names.resize(per_direction);  // RNN's schema default names both directions' activation
  } else if (names.size() == per_direction && config.directions == 2) {
    const std::vector<std::string> one = names;
    names.insert(names.end(), one.begin(), one.end());
  }
  require(names.size() == per_direction * size_t(config.directions),
          "activations lists " + std::to_string(names.size()) + " functions; " +
              std::to_string(per_direction * size_t(config.directions)) + " expected");
  // alpha/beta values are consumed in order by the activations that take them.
  const std::vector<double> alphas = node.attr_floats("activation_alpha", {});
  const std::vector<double> betas = node.attr_floats("activation_beta", {});
  size_t next_alpha = 0, next_beta = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string lower = names[i];
    for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    const ActivationName* spec = nullptr;
    for (const ActivationName& s : kActivationNames) {
      if (lower == s.name) spec = &s;
    }
    require(spec != nullptr, "activation '" + names[i] + "' is not supported");
    ActivationParams p{spec->id, spec->default_alpha, spec->default_beta};
    if (spec->takes_alpha && next_alpha < alphas.size()) p.alpha = alphas[next_alpha++];
    if (spec->takes_beta && next_beta < betas.size()) p.beta = betas[next_beta++];
    config.activations[i / per_direction][i % per_direction] = p;
  }
  return config;
}

// Input indices (LSTM adds initial_c and P).
constexpr size_t kX = 0, kW = 1, kR = 2, kB = 3, kSequenceLens = 4, kInitialH = 5, kInitialC = 6,
                 kPeepholes = 7;

// ---------------------------------------------------------------------------------------------
// Device math in the accumulation type (float or double).

__device__ __forceinline__ float dev_exp(float x) { return expf(x); }
__device__ __forceinline__ double dev_exp(double x) { return exp(x); }
__device__ __forceinline__ float dev_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dev_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float dev_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double dev_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float dev_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double dev_expm1(double x) { return expm1(x); }

template <typename Acc>
__device__ __forceinline__ Acc activate(const ActivationParams& p, Acc x) {
  const Acc alpha = Acc(p.alpha), beta = Acc(p.beta);
  switch (p.id) {
    case kActRelu:
      return x > Acc(0) ? x : Acc(0);
    case kActTanh:
      return dev_tanh(x);
    case kActSigmoid:
      return Acc(1) / (Acc(1) + dev_exp(-x));
    case kActAffine:
      return alpha * x + beta;
    case kActLeakyRelu:
      return x >= Acc(0) ? x : alpha * x;
    case kActThresholdedRelu:
      return x > alpha ? x : Acc(0);
    case kActScaledTanh:
      return alpha * dev_tanh(beta * x);
    case kActHardSigmoid: {
      const Acc v = alpha * x + beta;
      return v < Acc(0) ? Acc(0) : (v > Acc(1) ? Acc(1) : v);
    }
    case kActElu:
      return x >= Acc(0) ? x : alpha * dev_expm1(x);
    case kActSoftsign:
      return x / (Acc(1) + (x < Acc(0) ? -x : x));
    case kActSoftplus: {
      // log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
      const Acc magnitude = x < Acc(0) ? -x : x;
      return (x > Acc(0) ? x : Acc(0)) + dev_log1p(dev_exp(-magnitude));
    }
    default:
      return x;
  }
}

template <typename T, typename Acc>
__device__ __forceinline__ Acc load_acc(T v) {
  if constexpr (std::is_same_v<T, double>) {
    return Acc(v);
  } else {
    return Acc(to_float(v));
  }
}

template <typename T, typename Acc>
__device__ __forceinline__ T store_acc(Acc v) {
  if constexpr (std::is_same_v<T, double>) {
    return T(v);
  } else {
    return from_float<T>(float(v));
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 1 without cuBLASLt: P[rows, cols] = X[rows, k] . W[cols, k]^T, 16x16 tiles.

constexpr int kTile = 16;

template <typename T, typename Acc>
__global__ void projection_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                  Acc* __restrict__ p, int64_t rows, int64_t cols, int64_t k) {
  __shared__ Acc x_tile[kTile][kTile + 1];
  __shared__ Acc w_tile[kTile][kTile + 1];
  const int tx = int(threadIdx.x), ty = int(threadIdx.y);
  const int64_t row0 = int64_t(blockIdx.x) * kTile, col0 = int64_t(blockIdx.y) * kTile;
  Acc sum = Acc(0);
  for (int64_t k0 = 0; k0 < k; k0 += kTile) {
    const int64_t kk = k0 + tx;
    x_tile[ty][tx] =
        row0 + ty < rows && kk < k ? load_acc<T, Acc>(x[(row0 + ty) * k + kk]) : Acc(0);
    w_tile[ty][tx] =
        col0 + ty < cols && kk < k ? load_acc<T, Acc>(w[(col0 + ty) * k + kk]) : Acc(0);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < kTile; ++i) sum += x_tile[ty][i] * w_tile[tx][i];
    __syncthreads();
  }
  if (row0 + ty < rows && col0 + tx < cols) p[(row0 + ty) * cols + col0 + tx] = sum;
}

// ---------------------------------------------------------------------------------------------
// Phase 2: the recurrence.

template <typename T, typename P>
struct RecurrenceArgs {
  int kind = 0;  // CellKind
  int64_t seq = 0, batch = 0, hidden = 0;
  int directions = 1;
  bool reverse = false, batch_major = false;
  bool has_clip = false;
  double clip = 0;
  bool linear_before_reset = false, input_forget = false;
  ActivationParams activations[2][kMaxActivationsPerDirection];
  const P* projection = nullptr;  // [rows, directions * gates * hidden]
  const T* r = nullptr;           // [directions, gates * hidden, hidden]
  const T* bias = nullptr;        // [directions, 2 * gates * hidden] or null
  const void* lengths = nullptr;  // [batch] int32/int64 or null
  bool lengths_int64 = false;
  const T* initial_h = nullptr;
  const T* initial_c = nullptr;
  const T* peepholes = nullptr;  // [directions, 3 * hidden] or null
  T* y = nullptr;
  T* y_h = nullptr;
  T* y_c = nullptr;
};

constexpr int kRecurrenceBlock = 256;

// out[row - first] = R[row, :] . v for rows [first, last): one warp per row, lanes along the
// row (coalesced), then a warp reduction.
template <typename T, typename Acc>
__device__ __forceinline__ void recurrent_products(const T* __restrict__ r, const Acc* v, Acc* out,
                                                   int64_t first, int64_t last, int64_t hidden) {
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const int warps = int(blockDim.x) / 32;
  for (int64_t row = first + warp; row < last; row += warps) {
    const T* line = r + row * hidden;
    Acc sum = Acc(0);
    for (int64_t k = lane; k < hidden; k += 32) sum += load_acc<T, Acc>(line[k]) * v[k];
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) out[row - first] = sum;
  }
}

template <typename T, typename P, typename Acc>
__global__ void __launch_bounds__(kRecurrenceBlock) recurrence_kernel(RecurrenceArgs<T, P> a) {
  extern __shared__ __align__(16) unsigned char shared_raw[];
  const int64_t hidden = a.hidden;
  const CellKind kind = CellKind(a.kind);
  const int64_t gates = kind == CellKind::kRnn ? 1 : (kind == CellKind::kGru ? 3 : 4);
  Acc* h = reinterpret_cast<Acc*>(shared_raw);  // [hidden]
  Acc* c = h + hidden;                          // [hidden] (LSTM)
  Acc* scratch = c + hidden;                    // [hidden] (GRU: z, then r * h)
  Acc* products = scratch + hidden;             // [gates * hidden] recurrent products

  const int d = int(blockIdx.x / a.batch);
  const int64_t b = int64_t(blockIdx.x % a.batch);
  int64_t length = a.seq;
  if (a.lengths) {
    length = a.lengths_int64 ? static_cast<const int64_t*>(a.lengths)[b]
                             : int64_t(static_cast<const int32_t*>(a.lengths)[b]);
    length = length < 0 ? 0 : (length > a.seq ? a.seq : length);  // the CPU rejects these
  }
  const bool backwards = a.reverse || d == 1;
  const int64_t state_offset =
      (a.batch_major ? b * a.directions + d : int64_t(d) * a.batch + b) * hidden;
  const int64_t gh = gates * hidden;
  const T* r = a.r + int64_t(d) * gh * hidden;
  const T* w_bias = a.bias ? a.bias + int64_t(d) * 2 * gh : nullptr;
  const T* r_bias = a.bias ? w_bias + gh : nullptr;
  const T* peep = a.peepholes ? a.peepholes + int64_t(d) * 3 * hidden : nullptr;
  const ActivationParams f = a.activations[d][0];
  const ActivationParams g = a.activations[d][1];
  const ActivationParams h_act = a.activations[d][2];
  const Acc clip = Acc(a.clip);
  auto clipped = [&](Acc v) {
    return a.has_clip ? (v < -clip ? -clip : (v > clip ? clip : v)) : v;
  };
  // W's and R's biases of gate row `i` (0 without B).
  auto biases = [&](int64_t i) {
    return w_bias ? load_acc<T, Acc>(w_bias[i]) + load_acc<T, Acc>(r_bias[i]) : Acc(0);
  };

  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    h[j] = a.initial_h ? load_acc<T, Acc>(a.initial_h[state_offset + j]) : Acc(0);
    c[j] = a.initial_c ? load_acc<T, Acc>(a.initial_c[state_offset + j]) : Acc(0);
  }
  __syncthreads();

  for (int64_t step = 0; step < length; ++step) {
    const int64_t t = backwards ? length - 1 - step : step;
    const int64_t row = a.batch_major ? b * a.seq + t : t * a.batch + b;
    const P* x_proj = a.projection + row * a.directions * gh + int64_t(d) * gh;
    T* y = a.y ? a.y + (a.batch_major ? (row * a.directions + d) * hidden
                                      : ((t * a.directions + d) * a.batch + b) * hidden)
               : nullptr;
    auto input_part = [&](int64_t i) { return load_acc<P, Acc>(x_proj[i]); };

    if (kind == CellKind::kRnn) {
      recurrent_products(r, h, products, 0, hidden, hidden);
      __syncthreads();
      for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
        const Acc v = activate(f, clipped(input_part(j) + products[j] + biases(j)));
        h[j] = v;
        if (y) y[j] = store_acc<T, Acc>(v);
      }
    } else if (kind == CellKind::kGru) {
      constexpr int64_t kZ = 0, kReset = 1, kCandidate = 2;
      if (a.linear_before_reset) {
        // The reset gate scales R's product (and its bias): every product comes from h.
        recurrent_products(r, h, products, 0, 3 * hidden, hidden);
        __syncthreads();
        for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
          const int64_t iz = kZ * hidden + j, ir = kReset * hidden + j,
                        ih = kCandidate * hidden + j;
          const Acc z = activate(f, clipped(input_part(iz) + products[iz] + biases(iz)));
          const Acc reset = activate(f, clipped(input_part(ir) + products[ir] + biases(ir)));
          const Acc w_b = w_bias ? load_acc<T, Acc>(w_bias[ih]) : Acc(0);
          const Acc r_b = r_bias ? load_acc<T, Acc>(r_bias[ih]) : Acc(0);
          const Acc candidate =
              activate(g, clipped(input_part(ih) + reset * (products[ih] + r_b) + w_b));
          const Acc v = (Acc(1) - z) * candidate + z * h[j];
          h[j] = v;
          if (y) y[j] = store_acc<T, Acc>(v);
        }
      } else {
        // The candidate's product takes (reset * h), known only after the gates z and r.
        recurrent_products(r, h, products, 0, 2 * hidden, hidden);
        __syncthreads();
        for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
          const int64_t iz = kZ * hidden + j, ir = kReset * hidden + j;
          const Acc z = activate(f, clipped(input_part(iz) + products[iz] + biases(iz)));
          const Acc reset = activate(f, clipped(input_part(ir) + products[ir] + biases(ir)));
          products[iz] = z;  // kept for the update below
          scratch[j] = reset * h[j];
        }
        __syncthreads();
        recurrent_products(r, scratch, products + 2 * hidden, 2 * hidden, 3 * hidden, hidden);
        __syncthreads();
        for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
          const int64_t ih = kCandidate * hidden + j;
          const Acc z = products[j];
          const Acc candidate = activate(g, clipped(input_part(ih) + products[ih] + biases(ih)));
          const Acc v = (Acc(1) - z) * candidate + z * h[j];
          h[j] = v;
          if (y) y[j] = store_acc<T, Acc>(v);
        }
      }
    } else {
      constexpr int64_t kI = 0, kO = 1, kF = 2, kC = 3;
      recurrent_products(r, h, products, 0, 4 * hidden, hidden);
      __syncthreads();
      for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
        auto pre = [&](int64_t gate) {
          const int64_t i = gate * hidden + j;
          return input_part(i) + products[i] + biases(i);
        };
        const Acc p_i = peep ? load_acc<T, Acc>(peep[j]) : Acc(0);
        const Acc p_o = peep ? load_acc<T, Acc>(peep[hidden + j]) : Acc(0);
        const Acc p_f = peep ? load_acc<T, Acc>(peep[2 * hidden + j]) : Acc(0);
        const Acc c_prev = c[j];
        const Acc in_gate = activate(f, clipped(pre(kI) + p_i * c_prev));
        const Acc forget =
            a.input_forget ? Acc(1) - in_gate : activate(f, clipped(pre(kF) + p_f * c_prev));
        const Acc candidate = activate(g, clipped(pre(kC)));
        const Acc c_next = forget * c_prev + in_gate * candidate;
        const Acc out_gate = activate(f, clipped(pre(kO) + p_o * c_next));
        const Acc v = out_gate * activate(h_act, c_next);
        c[j] = c_next;
        h[j] = v;
        if (y) y[j] = store_acc<T, Acc>(v);
      }
    }
    __syncthreads();  // the next step's products read every h
  }

  // An empty sequence leaves its final state zero, as the reference.
  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    if (a.y_h) a.y_h[state_offset + j] = store_acc<T, Acc>(length > 0 ? h[j] : Acc(0));
    if (a.y_c) a.y_c[state_offset + j] = store_acc<T, Acc>(length > 0 ? c[j] : Acc(0));
  }
}

// Shared memory of one recurrence block: h, c, scratch and the products.
size_t recurrence_shared_bytes(CellKind kind, int64_t hidden, size_t acc_bytes) {
  return size_t(3 + gates_of(kind)) * size_t(hidden) * acc_bytes;
}

constexpr size_t kMaxSharedBytes = 200 * 1024;  // below the H100's 227 KB per block

// ---------------------------------------------------------------------------------------------
// Host side.

// Per node and context: the projection buffer (grown when a run needs more) and the matmul
// helper's own cache.
struct RnnState {
  void* projection = nullptr;
  size_t capacity = 0;
  std::shared_ptr<void> gemm_cache;
  ~RnnState() {
    if (projection) cudaFree(projection);
  }
};

RnnState& state_of(RunContext& rc) {
  KILN_CHECK(rc.state != nullptr, ErrorCode::kInternal, rc.node.describe(),
             ": no per-node state for the CUDA kernel");
  if (!*rc.state) *rc.state = std::make_shared<RnnState>();
  return *std::static_pointer_cast<RnnState>(*rc.state);
}

void* projection_buffer(RunContext& rc, RnnState& s, size_t bytes) {
  if (s.capacity < bytes) {
    // cudaFree waits for the device, so no earlier run still reads the old buffer.
    if (s.projection) cudaFree(s.projection);
    s.projection = nullptr;
    s.capacity = 0;
    check_cuda(cudaMalloc(&s.projection, bytes), rc.node, "allocating the RNN projection buffer");
    s.capacity = bytes;
  }
  return s.projection;
}

// T: storage type; P: the projection's type; Acc: the math type.
template <typename T, typename P, typename Acc>
void run_cell(RunContext& rc, const CellConfig& config, bool use_cublaslt) {
  const ir::Node& node = rc.node;
  const DeviceTensor& x = rc.input(kX);
  const int64_t seq = config.batch_major ? x.shape[1] : x.shape[0];
  const int64_t batch = config.batch_major ? x.shape[0] : x.shape[1];
  const int64_t input = x.shape[2];
  const int64_t hidden = rc.input(kR).shape[2];
  const int64_t gates = gates_of(config.kind);
  const int64_t rows = seq * batch;
  const int64_t cols = config.directions * gates * hidden;
  const bool has_lengths = rc.has_input(kSequenceLens);
  const DeviceTensor* outputs[3] = {nullptr, nullptr, nullptr};
  for (size_t i = 0; i < 3 && i < rc.outputs.size(); ++i) {
    if (rc.outputs[i].present && rc.outputs[i].data) outputs[i] = &rc.outputs[i];
  }
  if (config.kind != CellKind::kLstm) outputs[2] = nullptr;
  if (batch == 0 || hidden == 0) return;
  // Past a sequence's length Y stays zero.
  if (outputs[0] && has_lengths && outputs[0]->numel() > 0) {
    check_cuda(cudaMemsetAsync(outputs[0]->data, 0, outputs[0]->nbytes(), rc.stream), node,
               "zero-filling Y");
  }

  RnnState& state = state_of(rc);
  P* projection = nullptr;
  if (rows > 0) {
    projection = static_cast<P*>(projection_buffer(rc, state, size_t(rows * cols) * sizeof(P)));
    if (input == 0) {
      check_cuda(cudaMemsetAsync(projection, 0, size_t(rows * cols) * sizeof(P), rc.stream), node,
                 "zero-filling the projection");
    } else if (use_cublaslt) {
      GemmCall call;
      call.dtype = x.dtype;
      call.m = rows;
      call.n = cols;
      call.k = input;
      call.transpose_b = true;  // W_all is [cols, input]
      call.a = x.data;
      call.b = rc.input(kW).data;
      call.d = projection;
      // The matmul helper keeps its descriptors in rc.state: give it a slot of its own.
      std::shared_ptr<void>* own_state = rc.state;
      rc.state = &state.gemm_cache;
      try {
        launch_gemm(rc, call);
      } catch (...) {
        rc.state = own_state;
        throw;
      }
      rc.state = own_state;
    } else {
      const dim3 block(kTile, kTile);
      const dim3 grid(unsigned((rows + kTile - 1) / kTile), unsigned((cols + kTile - 1) / kTile));
      projection_kernel<T, P><<<grid, block, 0, rc.stream>>>(
          rc.input(kX).as<T>(), rc.input(kW).as<T>(), projection, rows, cols, input);
    }
  }

  RecurrenceArgs<T, P> a;
  a.kind = int(config.kind);
  a.seq = seq;
  a.batch = batch;
  a.hidden = hidden;
  a.directions = config.directions;
  a.reverse = config.reverse;
  a.batch_major = config.batch_major;
  a.has_clip = config.has_clip;
  a.clip = config.clip;
  a.linear_before_reset = config.linear_before_reset;
  a.input_forget = config.input_forget;
  for (int d = 0; d < 2; ++d) {
    for (int i = 0; i < kMaxActivationsPerDirection; ++i)
      a.activations[d][i] = config.activations[d][i];
  }
  a.projection = projection;
  a.r = rc.input(kR).as<T>();
  a.bias = rc.has_input(kB) ? rc.input(kB).as<T>() : nullptr;
  if (has_lengths) {
    a.lengths = rc.input(kSequenceLens).data;
    a.lengths_int64 = rc.input(kSequenceLens).dtype == DataType::kInt64;
  }
  a.initial_h = rc.has_input(kInitialH) ? rc.input(kInitialH).as<T>() : nullptr;
  if (config.kind == CellKind::kLstm) {
    a.initial_c = rc.has_input(kInitialC) ? rc.input(kInitialC).as<T>() : nullptr;
    a.peepholes = rc.has_input(kPeepholes) ? rc.input(kPeepholes).as<T>() : nullptr;
  }
  a.y = outputs[0] ? outputs[0]->as<T>() : nullptr;
  a.y_h = outputs[1] ? outputs[1]->as<T>() : nullptr;
  a.y_c = outputs[2] ? outputs[2]->as<T>() : nullptr;

  const size_t shared = recurrence_shared_bytes(config.kind, hidden, sizeof(Acc));
  if (shared > 48 * 1024) {
    check_cuda(cudaFuncSetAttribute(recurrence_kernel<T, P, Acc>,
                                    cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared)),
               node, "allowing the recurrence kernel its shared memory");
  }
  const unsigned blocks = unsigned(int64_t(config.directions) * batch);
  recurrence_kernel<T, P, Acc><<<blocks, kRecurrenceBlock, shared, rc.stream>>>(a);
}

bool cell_dtype(DataType t, bool with_float64) {
  return is_float16_or_32(t) || (with_float64 && t == DataType::kFloat64);
}

bool supports_cell(const NodeQuery& q, CellKind kind, bool cublaslt) {
  if (!q.has_input(kX) || !q.has_input(kW) || !q.has_input(kR)) return false;
  const DataType t = q.input(kX).dtype;
  if (!cell_dtype(t, !cublaslt)) return false;
  const size_t last = kind == CellKind::kLstm ? kPeepholes : kInitialH;
  for (size_t i = 0; i <= last && i < q.inputs.size(); ++i) {
    if (!q.has_input(i)) continue;
    if (i == kSequenceLens) {
      const DataType lt = q.input(i).dtype;
      if (lt != DataType::kInt32 && lt != DataType::kInt64) return false;
    } else if (q.input(i).dtype != t) {
      return false;
    }
  }
  if (q.inputs.size() > last + 1) {
    for (size_t i = last + 1; i < q.inputs.size(); ++i) {
      if (q.has_input(i)) return false;
    }
  }
  for (const TensorInfo& out : q.outputs) {
    if (out.present && out.dtype != t) return false;
  }
  const Dims& x = q.input(kX).shape;
  const Dims& r = q.input(kR).shape;
  if (x.size() != 3 || r.size() != 3 || q.input(kW).shape.size() != 3) return false;
  try {
    parse_config(*q.node, kind);
  } catch (const Error&) {
    return false;
  }
  const size_t acc_bytes = t == DataType::kFloat64 ? sizeof(double) : sizeof(float);
  if (recurrence_shared_bytes(kind, r[2], acc_bytes) > kMaxSharedBytes) return false;
  // One block per (direction, batch entry).
  const int64_t batch = q.node->attr_int("layout", 0) == 1 ? x[0] : x[1];
  return batch * 2 < (int64_t(1) << 31);
}

void run_cell_any(RunContext& rc, CellKind kind, bool cublaslt) {
  const CellConfig config = parse_config(rc.node, kind);
  const DataType t = rc.input(kX).dtype;
  switch (t) {
    case DataType::kFloat32:
      return run_cell<float, float, float>(rc, config, cublaslt);
    case DataType::kFloat16:
      return cublaslt ? run_cell<half, half, float>(rc, config, true)
                      : run_cell<half, float, float>(rc, config, false);
    case DataType::kBFloat16:
      return cublaslt ? run_cell<bfloat16, bfloat16, float>(rc, config, true)
                      : run_cell<bfloat16, float, float>(rc, config, false);
    case DataType::kFloat64:
      return run_cell<double, double, double>(rc, config, false);
    default:
      break;
  }
  fail(ErrorCode::kInternal, rc.node.describe(), ": CUDA RNN kernel launched for dtype ",
       to_string(t));
}

constexpr uint32_t kCublasLtSource = 1u << uint32_t(TacticSource::kCUBLAS_LT);

#define KILN_REGISTER_CELL(OP, KIND, LOWER)                                        \
  KILN_REGISTER_CUDA_KERNEL(                                                       \
      CudaKernel{OP,                                                               \
                 "cuda_" LOWER "_cublaslt",                                        \
                 {},                                                               \
                 [](const NodeQuery& q) { return supports_cell(q, KIND, true); },  \
                 [](RunContext& rc) { run_cell_any(rc, KIND, true); },             \
                 1,                                                                \
                 kCublasLtSource});                                                \
  KILN_REGISTER_CUDA_KERNEL(                                                       \
      CudaKernel{OP,                                                               \
                 "cuda_" LOWER,                                                    \
                 {},                                                               \
                 [](const NodeQuery& q) { return supports_cell(q, KIND, false); }, \
                 [](RunContext& rc) { run_cell_any(rc, KIND, false); }})

KILN_REGISTER_CELL("RNN", CellKind::kRnn, "rnn");
KILN_REGISTER_CELL("GRU", CellKind::kGru, "gru");
KILN_REGISTER_CELL("LSTM", CellKind::kLstm, "lstm");

#undef KILN_REGISTER_CELL

}  // namespace
}  // namespace kiln::cuda

#include <cublasLt.h>

#include <array>
#include <cstring>
#include <map>

#include "backends/cuda/data_movement.cuh"
#include "backends/cuda/matmul.cuh"
#include "kiln/builder.h"

namespace kiln::cuda {

namespace {

void check_lt(cublasStatus_t status, const ir::Node& node, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(ErrorCode::kRuntime, node.describe(), ": cuBLASLt ", what, " failed with status ",
       int(status));
}

cudaDataType_t cuda_type(DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return CUDA_R_16F;
    case DataType::kBFloat16:
      return CUDA_R_16BF;
    case DataType::kFloat64:
      return CUDA_R_64F;
    default:
      return CUDA_R_32F;
  }
}

// Descriptors and algorithm for one problem shape.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};

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

// Plans by problem: m, n, k, batch, the three batch strides, the transposes and TF32. A plain
// array key, so that looking a plan up on every launch allocates nothing.
using MatmulKey = std::array<int64_t, 12>;
struct MatmulCache {
  std::map<MatmulKey, std::unique_ptr<LtPlan>> plans;
};

// Tactic parameters of the cuBLASLt kernels (plan_format.md, "tactic parameters"): u32 magic
// "LTMM", u32 version 1, the MatmulKey of the tuned product (12 x i64), then the
// cublasLtMatmulAlgo_t bytes.
constexpr uint32_t kParamsMagic = 0x4D4D544Cu;  // "LTMM" little-endian
constexpr uint32_t kParamsVersion = 1;
constexpr size_t kParamsBytes = 8 + sizeof(MatmulKey) + sizeof(cublasLtMatmulAlgo_t);

std::vector<uint8_t> encode_params(const MatmulKey& key, const cublasLtMatmulAlgo_t& algo) {
  std::vector<uint8_t> out(kParamsBytes);
  std::memcpy(out.data(), &kParamsMagic, 4);
  std::memcpy(out.data() + 4, &kParamsVersion, 4);
  std::memcpy(out.data() + 8, key.data(), sizeof(MatmulKey));
  std::memcpy(out.data() + 8 + sizeof(MatmulKey), &algo, sizeof algo);
  return out;
}

// Throws kiln::Error(kInvalidPlan) for bytes that are not this kernel's parameters.
std::pair<MatmulKey, cublasLtMatmulAlgo_t> decode_params(const std::vector<uint8_t>& bytes,
                                                         const std::string& where) {
  uint32_t magic = 0, version = 0;
  if (bytes.size() == kParamsBytes) {
    std::memcpy(&magic, bytes.data(), 4);
    std::memcpy(&version, bytes.data() + 4, 4);
  }
  KILN_CHECK(bytes.size() == kParamsBytes && magic == kParamsMagic && version == kParamsVersion,
             ErrorCode::kInvalidPlan, where, ": the plan's cuBLASLt algorithm parameters are not ",
             "ones this kiln wrote (", bytes.size(), " bytes)");
  std::pair<MatmulKey, cublasLtMatmulAlgo_t> out;
  std::memcpy(out.first.data(), bytes.data() + 8, sizeof(MatmulKey));
  std::memcpy(&out.second, bytes.data() + 8 + sizeof(MatmulKey), sizeof(cublasLtMatmulAlgo_t));
  return out;
}

std::string describe_algo(const cublasLtMatmulAlgo_t& algo) {
  auto attr = [&](cublasLtMatmulAlgoConfigAttributes_t which) -> int64_t {
    uint32_t v32 = 0;
    size_t written = 0;
    if (which == CUBLASLT_ALGO_CONFIG_ID || which == CUBLASLT_ALGO_CONFIG_SPLITK_NUM ||
        which == CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING) {
      int32_t v = 0;
      if (cublasLtMatmulAlgoConfigGetAttribute(&algo, which, &v, sizeof v, &written) !=
          CUBLAS_STATUS_SUCCESS)
        return -1;
      return v;
    }
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo, which, &v32, sizeof v32, &written) !=
        CUBLAS_STATUS_SUCCESS)
      return -1;
    return v32;
  };
  return cat("cuBLASLt algo ", attr(CUBLASLT_ALGO_CONFIG_ID), " (tile ",
             attr(CUBLASLT_ALGO_CONFIG_TILE_ID), ", stages ", attr(CUBLASLT_ALGO_CONFIG_STAGES_ID),
             ", split-k ", attr(CUBLASLT_ALGO_CONFIG_SPLITK_NUM), ", swizzle ",
             attr(CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING), ")");
}

std::string describe_params(const std::vector<uint8_t>& bytes) {
  const auto [key, algo] = decode_params(bytes, "tactic parameters");
  return cat(describe_algo(algo), " for m=", key[0], " n=", key[1], " k=", key[2], " batch ",
             key[3]);
}

cublasLtMatrixLayout_t make_layout(const ir::Node& node, DataType dtype, int64_t rows, int64_t cols,
                                   int64_t ld, int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t layout = nullptr;
  check_lt(
      cublasLtMatrixLayoutCreate(&layout, cuda_type(dtype), uint64_t(rows), uint64_t(cols), ld),
      node, "matrix layout");
  if (batch > 1) {
    const int32_t count = int32_t(batch);
    check_lt(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                              sizeof(count)),
             node, "batch count");
    check_lt(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                              &stride, sizeof(stride)),
             node, "batch stride");
  }
  return layout;
}

// Row-major D[m, n] = op(A)[m, k] op(B)[k, n] is column-major D^T[n, m] = op(B)^T op(A)^T:
// cuBLASLt's first operand is our B, its second our A.
std::unique_ptr<LtPlan> make_plan(const RunContext& rc, const GemmCall& c, bool tf32,
                                  const MatmulKey& key) {
  const ir::Node& node = rc.node;
  auto plan = std::make_unique<LtPlan>();
  const bool in_double = c.dtype == DataType::kFloat64;
  const cublasComputeType_t compute = in_double ? CUBLAS_COMPUTE_64F
                                      : c.dtype == DataType::kFloat32 && tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  check_lt(cublasLtMatmulDescCreate(&plan->desc, compute, in_double ? CUDA_R_64F : CUDA_R_32F),
           node, "matmul descriptor");
  const cublasOperation_t op_first = c.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = c.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_first,
                                          sizeof(op_first)),
           node, "transpose attribute");
  check_lt(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_second,
                                          sizeof(op_second)),
           node, "transpose attribute");
  // The epilogue; the bias pointer is set at each launch.
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  switch (c.activation) {
    case GemmActivation::kNone:
      epilogue = c.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
      break;
    case GemmActivation::kRelu:
      epilogue = c.bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
      break;
    case GemmActivation::kGeluTanh:
      epilogue = c.bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
      break;
  }
  if (epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    check_lt(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                            sizeof(epilogue)),
             node, "epilogue attribute");
  }
  if (c.bias) {
    check_lt(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c.bias,
                                            sizeof(c.bias)),
             node, "bias pointer");
  }
  // Stored (column-major) extents of each operand before its op.
  plan->a = c.transpose_b ? make_layout(node, c.dtype, c.k, c.n, c.k, c.batch, c.stride_b)
                          : make_layout(node, c.dtype, c.n, c.k, c.n, c.batch, c.stride_b);
  plan->b = c.transpose_a ? make_layout(node, c.dtype, c.m, c.k, c.m, c.batch, c.stride_a)
                          : make_layout(node, c.dtype, c.k, c.m, c.k, c.batch, c.stride_a);
  plan->d = make_layout(node, c.dtype, c.n, c.m, c.n, c.batch, c.stride_d);

  const auto handle = static_cast<cublasLtHandle_t>(rc.cublaslt);
  // The builder's choice, for the product it was tuned for: exactly that algorithm.
  if (rc.tactic_params && !rc.tactic_params->empty()) {
    const auto [tuned_key, algo] = decode_params(*rc.tactic_params, node.describe());
    if (tuned_key == key) {
      cublasLtMatmulHeuristicResult_t check{};
      const cublasStatus_t status = cublasLtMatmulAlgoCheck(handle, plan->desc, plan->a, plan->b,
                                                            plan->d, plan->d, &algo, &check);
      KILN_CHECK(status == CUBLAS_STATUS_SUCCESS && check.workspaceSize <= rc.workspace_bytes,
                 ErrorCode::kRuntime, node.describe(), ": the plan's ", describe_algo(algo),
                 " cannot run this product here (cuBLASLt status ", int(status), ", workspace ",
                 check.workspaceSize, " of ", rc.workspace_bytes,
                 " bytes): the engine was built for "
                 "another GPU or cuBLASLt version; rebuild it");
      plan->algo = algo;
      return plan;
    }
  }

  cublasLtMatmulPreference_t preference = nullptr;
  check_lt(cublasLtMatmulPreferenceCreate(&preference), node, "preference");
  const uint64_t workspace = rc.workspace_bytes;
  cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                       &workspace, sizeof(workspace));
  // The builder's timing run asks for the heuristics' top candidates; a run asks for one.
  std::array<cublasLtMatmulHeuristicResult_t, kMaxTacticProposals> results{};
  const int wanted = rc.tactic_proposals ? int(kMaxTacticProposals) : 1;
  int found = 0;
  const cublasStatus_t status =
      cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->a, plan->b, plan->d, plan->d,
                                     preference, wanted, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(preference);
  check_lt(status, node, "algorithm heuristic");
  KILN_CHECK(found > 0, ErrorCode::kRuntime, node.describe(), ": cuBLASLt has no algorithm for a ",
             to_string(c.dtype), " product of [", c.m, "x", c.k, "] by [", c.k, "x", c.n,
             "] (batch ", c.batch, ")");
  plan->algo = results[0].algo;
  if (rc.tactic_proposals && rc.tactic_proposals->empty()) {
    for (int i = 0; i < found; ++i) {
      if (results[size_t(i)].state == CUBLAS_STATUS_SUCCESS) {
        rc.tactic_proposals->push_back(encode_params(key, results[size_t(i)].algo));
      }
    }
  }
  return plan;
}

}  // namespace

void launch_gemm(RunContext& rc, const GemmCall& c) {
  if (c.m == 0 || c.n == 0 || c.batch == 0) return;
  const bool tf32 = (rc.builder_flags >> uint32_t(BuilderFlag::kTF32)) & 1u;
  if (!*rc.state) *rc.state = std::make_shared<MatmulCache>();
  auto& cache = *static_cast<MatmulCache*>(rc.state->get());
  const MatmulKey key{c.m,
                      c.n,
                      c.k,
                      c.batch,
                      c.stride_a,
                      c.stride_b,
                      c.stride_d,
                      int64_t(c.transpose_a),
                      int64_t(c.transpose_b),
                      int64_t(tf32),
                      int64_t(c.bias != nullptr),
                      int64_t(c.activation)};
  std::unique_ptr<LtPlan>& plan = cache.plans[key];
  if (!plan) {
    plan = make_plan(rc, c, tf32, key);
  } else if (c.bias) {  // the same shapes, perhaps another bias
    check_lt(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c.bias,
                                            sizeof(c.bias)),
             rc.node, "bias pointer");
  }
  const void* source = c.c ? c.c : c.d;
  // The scale type is the compute type's: double for float64 products.
  const double alpha_d = c.alpha, beta_d = c.beta;
  const bool in_double = c.dtype == DataType::kFloat64;
  const void* alpha = in_double ? static_cast<const void*>(&alpha_d) : &c.alpha;
  const void* beta = in_double ? static_cast<const void*>(&beta_d) : &c.beta;
  check_lt(cublasLtMatmul(static_cast<cublasLtHandle_t>(rc.cublaslt), plan->desc, alpha, c.b,
                          plan->a, c.a, plan->b, beta, source, plan->d, c.d, plan->d, &plan->algo,
                          rc.workspace, rc.workspace_bytes, rc.stream),
           rc.node, "matmul");
}

namespace {

bool matmul_dtype(DataType t) { return is_float16_or_32(t); }
// MatMul and Gemm run float64 too (cuBLASLt's double GEMM), without epilogues.
bool plain_matmul_dtype(DataType t) { return matmul_dtype(t) || t == DataType::kFloat64; }

// Every kernel here is cuBLASLt's: BuilderConfig::set_tactic_sources can leave them out.
constexpr uint32_t kCublasLtSource = 1u << uint32_t(TacticSource::kCUBLAS_LT);

// MatMul with numpy semantics: 1-D operands are promoted (and the dims dropped from the
// result), batch dims broadcast.
void run_matmul(RunContext& rc) {
  const DeviceTensor& a = rc.input(0);
  const DeviceTensor& b = rc.input(1);
  const DeviceTensor& out = rc.output(0);
  if (out.numel() == 0) return;
  Dims as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  if (k == 0) {
    check_cuda(cudaMemsetAsync(out.data, 0, out.nbytes(), rc.stream), rc.node, "zero-filling");
    return;
  }
  const Dims batch_a(as.begin(), as.end() - 2), batch_b(bs.begin(), bs.end() - 2);
  Dims batch_out = batch_a.size() >= batch_b.size() ? batch_a : batch_b;
  for (size_t i = 0; i < batch_out.size(); ++i) {
    const size_t oa = batch_out.size() - batch_a.size(), ob = batch_out.size() - batch_b.size();
    const int64_t ea = i >= oa ? batch_a[i - oa] : 1, eb = i >= ob ? batch_b[i - ob] : 1;
    batch_out[i] = ea == 1 ? eb : ea;
  }
  const int64_t count_a = volume(batch_a), count_b = volume(batch_b), count = volume(batch_out);
  GemmCall c;
  c.dtype = a.dtype;
  c.n = n;
  c.k = k;
  c.a = a.data;
  c.b = b.data;
  c.d = out.data;
  if (count_b == 1) {
    // B is one matrix: A's batches are just more rows.
    c.m = m * count_a;
    launch_gemm(rc, c);
  } else if (count_a == count && count_b == count) {
    c.m = m;
    c.batch = count;
    c.stride_a = m * k;
    c.stride_b = k * n;
    c.stride_d = m * n;
    launch_gemm(rc, c);
  } else {
    // General broadcast: one product per output matrix.
    const Dims sa = broadcast_strides_to(batch_a, batch_out),
               sb = broadcast_strides_to(batch_b, batch_out);
    const size_t bytes = element_size(a.dtype);
    c.m = m;
    for (int64_t i = 0; i < count; ++i) {
      int64_t rest = i, ia = 0, ib = 0;
      for (size_t d = batch_out.size(); d-- > 0;) {
        const int64_t idx = rest % batch_out[d];
        rest /= batch_out[d];
        ia += idx * sa[d];
        ib += idx * sb[d];
      }
      c.a = static_cast<const std::byte*>(a.data) + size_t(ia * m * k) * bytes;
      c.b = static_cast<const std::byte*>(b.data) + size_t(ib * k * n) * bytes;
      c.d = static_cast<std::byte*>(out.data) + size_t(i * m * n) * bytes;
      launch_gemm(rc, c);
    }
  }
}

// C shaped [n] or [1, n]: one value per output column, as a bias.
bool is_row_vector(const Dims& shape, int64_t n) {
  return (shape.size() == 1 && shape[0] == n) ||
         (shape.size() == 2 && shape[0] == 1 && shape[1] == n);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"MatMul",
                                     "cublaslt_matmul",
                                     {},
                                     [](const NodeQuery& q) {
                                       return plain_matmul_dtype(q.input(0).dtype) &&
                                              q.input(1).dtype == q.input(0).dtype && ranks_fit(q);
                                     },
                                     run_matmul,
                                     0,
                                     kCublasLtSource,
                                     true,
                                     describe_params});

// Gemm: Y = alpha * op(A) op(B) + beta * C, with C broadcast into Y first.
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "Gemm",
    "cublaslt_gemm",
    {},
    [](const NodeQuery& q) {
      const DataType t = q.input(0).dtype;
      if (!plain_matmul_dtype(t) || q.input(1).dtype != t) return false;
      return !q.has_input(2) || q.input(2).dtype == t;
    },
    [](RunContext& rc) {
      const DeviceTensor& a = rc.input(0);
      const DeviceTensor& out = rc.output(0);
      if (out.numel() == 0) return;
      GemmCall c;
      c.dtype = a.dtype;
      c.transpose_a = rc.node.attr_int("transA", 0) != 0;
      c.transpose_b = rc.node.attr_int("transB", 0) != 0;
      c.m = out.shape[0];
      c.n = out.shape[1];
      c.k = c.transpose_a ? a.shape[0] : a.shape[1];
      c.a = a.data;
      c.b = rc.input(1).data;
      c.d = out.data;
      c.alpha = float(rc.node.attr_float("alpha", 1.0));
      const float beta = float(rc.node.attr_float("beta", 1.0));
      if (rc.has_input(2) && beta == 1.0f && is_row_vector(rc.input(2).shape, c.n) &&
          a.dtype != DataType::kFloat64) {
        c.bias = rc.input(2).data;  // added by cuBLASLt's epilogue, no copy into Y first
      } else if (rc.has_input(2) && beta != 0.0f) {
        const DeviceTensor& bias = rc.input(2);
        launch_strided_copy(rc.node, bias.data, out.data, element_size(bias.dtype), out.shape,
                            broadcast_strides_to(bias.shape, out.shape), 0, rc.stream);
        c.beta = beta;
      }
      if (c.k == 0) {  // alpha * (empty product) is 0
        if (c.beta == 0.0f) {
          check_cuda(cudaMemsetAsync(out.data, 0, out.nbytes(), rc.stream), rc.node,
                     "zero-filling");
        } else if (c.beta != 1.0f) {
          fail(ErrorCode::kUnsupported, rc.node.describe(),
               ": Gemm with K = 0 and beta != 1 on the GPU");
        }
        return;
      }
      launch_gemm(rc, c);
    },
    0,
    kCublasLtSource,
    true,
    describe_params});

// FusedMatMul (passes/matmul_epilogue_fusion.h): act(A W + bias + residual), B one matrix,
// so A's batches are rows of one product; the residual is cuBLASLt's C (beta = 1).
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "FusedMatMul",
    "cublaslt_matmul_epilogue",
    {},
    [](const NodeQuery& q) {
      const DataType t = q.input(0).dtype;
      if (!matmul_dtype(t)) return false;
      for (size_t i = 1; i < q.inputs.size(); ++i) {
        if (q.has_input(i) && q.input(i).dtype != t) return false;
      }
      const std::string activation = q.node->attr_string("activation", "none");
      return activation == "none" || activation == "relu" || activation == "gelu_tanh";
    },
    [](RunContext& rc) {
      const DeviceTensor& a = rc.input(0);
      const DeviceTensor& w = rc.input(1);
      const DeviceTensor& out = rc.output(0);
      if (out.numel() == 0) return;
      GemmCall c;
      c.dtype = a.dtype;
      c.k = w.shape[0];
      c.n = w.shape[1];
      KILN_CHECK(c.k > 0, ErrorCode::kUnsupported, rc.node.describe(),
                 ": an empty inner dimension");
      c.m = a.numel() / c.k;
      c.a = a.data;
      c.b = w.data;
      c.d = out.data;
      if (rc.has_input(2)) c.bias = rc.input(2).data;
      if (rc.has_input(3)) {
        c.c = rc.input(3).data;
        c.beta = 1.0f;
      }
      const std::string activation = rc.node.attr_string("activation", "none");
      c.activation = activation == "relu"        ? GemmActivation::kRelu
                     : activation == "gelu_tanh" ? GemmActivation::kGeluTanh
                                                 : GemmActivation::kNone;
      launch_gemm(rc, c);
    },
    0,
    kCublasLtSource,
    true,
    describe_params});

}  // namespace
}  // namespace kiln::cuda

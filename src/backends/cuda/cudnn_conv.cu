// Conv and ConvTranspose through cuDNN 9's graph API: one convolution operation per node
// (forward for Conv, backward-data for ConvTranspose), NCHW / NCDHW contiguous tensors, 1-D
// as 2-D with a unit height, grouped and depthwise through the filter's channel extent
// (cuDNN infers the group count from it), asymmetric padding as pre/post paddings. Float32
// computes in plain float32 (no tensor cores, FFT or Winograd), or with BuilderFlag::kTF32 on
// any engine; float16 and bfloat16 accumulate in float32. The bias is added by a small kernel
// after the convolution.
//
// FusedConv (passes/conv_fusion.h) adds its epilogue — bias, residual Z, ReLU — as pointwise
// operations of the same cuDNN graph (runtime fusion, one pass over memory), and may be
// channels-last (NHWC data, KRSC filters: the same dims with other strides). Where cuDNN has
// no engine for the fused graph (float32 without TF32, say), the convolution runs alone and
// one kernel of kiln's applies the whole epilogue.
//
// These kernels outrank kiln's own (priority 10). Their capability check refuses what cuDNN
// cannot express; where a GPU is visible at build time it also plans the convolution (at the
// profile's opt shapes, on a process-wide handle) and refuses it when no engine configuration
// finalizes, so that kiln's own kernel is chosen instead. At run time each node plans once
// per shape in each execution context (cached in the node's state) and then only executes.
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>

#include "backends/cuda/cuda_common.cuh"
#include "backends/cuda/cudnn_graph.cuh"
#include "kiln/builder.h"
#include "ops/convolution.h"
#include "ops/window_geometry.h"

namespace kiln::cuda {
namespace {

enum class ConvKind { kForward, kTranspose };

const char* kind_name(ConvKind kind) {
  return kind == ConvKind::kForward ? "forward convolution" : "transposed convolution";
}

// Unique ids of the three tensors in the cuDNN graph.
constexpr int64_t kImageUid = 1, kFilterUid = 2, kResponseUid = 3;
// ... and of the epilogue's operands and intermediates (FusedConv).
constexpr int64_t kBiasUid = 4, kResidualUid = 5, kFirstVirtualUid = 100;

// A convolution in the terms of cuDNN's forward operation: `image` is the forward input
// (Conv's X, ConvTranspose's Y), `response` the forward output (Conv's Y, ConvTranspose's X),
// `filter` the weights [K, C / group, spatial...] (both ops store W in that order). Shapes are
// 4-D or 5-D; a 1-D op gets a unit height in front of its width.
struct ConvProblem {
  ConvKind kind = ConvKind::kForward;
  DataType dtype = DataType::kFloat32;
  Dims image, filter, response;
  Dims pre, post, strides, dilations;  // one per spatial dim
  // FusedConv: data channels-last, and the epilogue cuDNN applies (none for Conv).
  bool channels_last = false;
  bool bias = false, residual = false, relu = false;

  bool has_epilogue() const { return bias || residual || relu; }
  std::string key() const {
    return cat(int(kind), ",", int(dtype), ",", to_string(image), to_string(filter),
               to_string(response), to_string(pre), to_string(post), to_string(strides),
               to_string(dilations), channels_last, bias, residual, relu);
  }
  std::string describe() const {
    return cat(kind_name(kind), " of ", to_string(dtype), " image ", to_string(image),
               " by filter ", to_string(filter), " giving ", to_string(response), " (pre-padding ",
               to_string(pre), ", post-padding ", to_string(post), ", strides ", to_string(strides),
               ", dilations ", to_string(dilations), ")");
  }
};

// The node's geometry as kiln's shape inference resolves it (ops/convolution.h), in cuDNN's
// terms. nullopt when cuDNN cannot express the convolution (negative padding, an output_padding
// that adds a whole stride, a rank other than 1-D to 3-D) or the shapes are not those of a valid
// convolution.
std::optional<ConvProblem> resolve(const ir::Node& node, ConvKind kind, DataType dtype,
                                   const Dims& x, const Dims& w, const Dims& y) {
  const size_t rank = x.size();
  if (rank < 3 || rank > 5 || w.size() != rank || y.size() != rank) return std::nullopt;
  const size_t spatial = rank - 2;
  ops::ConvGeometry g;
  try {
    g = kind == ConvKind::kForward ? ops::resolve_conv(node, dtype, x, w)
                                   : ops::resolve_conv_transpose(node, dtype, x, w);
  } catch (const Error&) {
    return std::nullopt;
  }
  if (ops::conv_output_shape(g) != y) return std::nullopt;
  ConvProblem p;
  p.kind = kind;
  p.dtype = dtype;
  p.strides = g.strides;
  p.dilations = g.dilations;
  p.pre = g.pads_begin;
  p.post = g.pads_end;
  p.image = kind == ConvKind::kForward ? x : y;
  p.response = kind == ConvKind::kForward ? y : x;
  p.filter = w;

  // What cuDNN needs: non-negative padding, and the forward convolution of the image giving
  // exactly the response (a ConvTranspose whose output_padding reaches a whole stride, which
  // ONNX allows when the dilation is larger, fails here).
  for (size_t d = 0; d < spatial; ++d) {
    if (p.pre[d] < 0 || p.post[d] < 0) return std::nullopt;
    const int64_t span =
        p.image[2 + d] + p.pre[d] + p.post[d] - ops::dilated_extent(w[2 + d], p.dilations[d]);
    if (span < 0 || span / p.strides[d] + 1 != p.response[2 + d]) return std::nullopt;
  }

  if (spatial == 1) {
    for (Dims* t : {&p.image, &p.filter, &p.response}) t->insert(t->begin() + 2, 1);
    p.pre.insert(p.pre.begin(), 0);
    p.post.insert(p.post.begin(), 0);
    p.strides.insert(p.strides.begin(), 1);
    p.dilations.insert(p.dilations.begin(), 1);
  }
  return p;
}

bool tf32_allowed(uint32_t builder_flags) {
  return (builder_flags >> uint32_t(BuilderFlag::kTF32)) & 1u;
}

// Float32 without TF32 is plain float32 arithmetic: no tensor cores, no FFT or Winograd.
cudnn::EnginePolicy engine_policy(DataType dtype, bool tf32, size_t workspace_bytes) {
  const bool exact_float32 = dtype == DataType::kFloat32 && !tf32;
  cudnn::EnginePolicy policy;
  policy.allow_tensor_cores = !exact_float32;
  policy.allow_transforms = !exact_float32;
  policy.max_workspace_bytes = workspace_bytes;
  return policy;
}

// Appends the pointwise operations of p's epilogue to a graph whose convolution writes the
// virtual tensor parts[2]: + bias [1, K, 1, 1], + residual, ReLU; the last writes the response.
template <typename MakeTensor>
void add_epilogue(const ConvProblem& p, int64_t response_alignment, MakeTensor&& tensor,
                  std::vector<cudnn::Descriptor>& parts,
                  std::vector<cudnn::Descriptor>& operations) {
  enum Step { kAddBias, kAddResidual, kRelu };
  std::vector<Step> steps;
  if (p.bias) steps.push_back(kAddBias);
  if (p.residual) steps.push_back(kAddResidual);
  if (p.relu) steps.push_back(kRelu);
  // Descriptors live in `parts` (kept alive by the plan); refer to them by index, since the
  // vector grows.
  size_t current = 2;
  int64_t next_virtual = kFirstVirtualUid + 1;
  for (size_t i = 0; i < steps.size(); ++i) {
    const bool last = i + 1 == steps.size();
    size_t operand = 0;
    if (steps[i] == kAddBias) {
      Dims bias_dims(p.response.size(), 1);
      bias_dims[1] = p.response[1];
      parts.push_back(tensor(kBiasUid, bias_dims, 16));
      operand = parts.size() - 1;
    } else if (steps[i] == kAddResidual) {
      parts.push_back(tensor(kResidualUid, p.response, response_alignment));
      operand = parts.size() - 1;
    }
    parts.push_back(last ? tensor(kResponseUid, p.response, response_alignment)
                         : tensor(next_virtual++, p.response, 16, true));
    const size_t output = parts.size() - 1;

    cudnn::Descriptor mode_desc(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    const cudnnPointwiseMode_t mode =
        steps[i] == kRelu ? CUDNN_POINTWISE_RELU_FWD : CUDNN_POINTWISE_ADD;
    mode_desc.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "pointwise mode");
    const cudnnDataType_t precision = CUDNN_DATA_FLOAT;
    mode_desc.set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &precision,
                  "pointwise precision");
    mode_desc.finalize("finalizing a pointwise descriptor");

    cudnn::Descriptor op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, mode_desc,
                      "pointwise descriptor");
    op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, parts[current], "pointwise X");
    if (steps[i] != kRelu)
      op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, parts[operand], "pointwise B");
    op.set_descriptor(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, parts[output], "pointwise Y");
    op.finalize("finalizing a pointwise operation");
    parts.push_back(std::move(mode_desc));
    operations.push_back(std::move(op));
    current = output;
  }
}

// Tactic parameters of the cuDNN kernels (plan_format.md, "tactic parameters"): u32 magic
// "CDNN", u32 version 1, str problem (the plan cache key of the tuned problem: shapes,
// layout, epilogue, TF32, pointer alignments), i64 cuDNN global engine index, u32 knob count,
// (i64 knob type, i64 value)[count].
constexpr uint32_t kParamsMagic = 0x4E4E4443u;  // "CDNN" little-endian
constexpr uint32_t kParamsVersion = 1;

struct TunedConfig {
  std::string problem;
  cudnn::EngineChoice choice;
};

std::vector<uint8_t> encode_params(const std::string& problem, const cudnn::EngineChoice& choice) {
  std::vector<uint8_t> out;
  auto put = [&](const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    out.insert(out.end(), bytes, bytes + size);
  };
  const uint32_t length = uint32_t(problem.size()), knobs = uint32_t(choice.knobs.size());
  put(&kParamsMagic, 4);
  put(&kParamsVersion, 4);
  put(&length, 4);
  put(problem.data(), problem.size());
  put(&choice.engine, 8);
  put(&knobs, 4);
  for (const auto& [type, value] : choice.knobs) {
    put(&type, 8);
    put(&value, 8);
  }
  return out;
}

// Throws kiln::Error(kInvalidPlan) for bytes that are not this kernel's parameters.
TunedConfig decode_params(const std::vector<uint8_t>& bytes, const std::string& where) {
  size_t at = 0;
  auto get = [&](void* data, size_t size) {
    KILN_CHECK(size <= bytes.size() - at, ErrorCode::kInvalidPlan, where,
               ": the plan's cuDNN engine parameters are truncated (", bytes.size(), " bytes)");
    std::memcpy(data, bytes.data() + at, size);
    at += size;
  };
  uint32_t magic = 0, version = 0, length = 0, knobs = 0;
  get(&magic, 4);
  get(&version, 4);
  KILN_CHECK(magic == kParamsMagic && version == kParamsVersion, ErrorCode::kInvalidPlan, where,
             ": the plan's cuDNN engine parameters are not ones this kiln wrote");
  get(&length, 4);
  TunedConfig out;
  KILN_CHECK(length <= bytes.size() - at, ErrorCode::kInvalidPlan, where,
             ": the plan's cuDNN engine parameters are truncated");
  out.problem.assign(reinterpret_cast<const char*>(bytes.data() + at), length);
  at += length;
  get(&out.choice.engine, 8);
  get(&knobs, 4);
  KILN_CHECK(knobs <= (bytes.size() - at) / 16, ErrorCode::kInvalidPlan, where,
             ": the plan's cuDNN engine parameters are truncated");
  for (uint32_t i = 0; i < knobs; ++i) {
    int64_t type = 0, value = 0;
    get(&type, 8);
    get(&value, 8);
    out.choice.knobs.emplace_back(type, value);
  }
  KILN_CHECK(at == bytes.size(), ErrorCode::kInvalidPlan, where,
             ": unexpected bytes after the plan's cuDNN engine parameters");
  return out;
}

std::string describe_params(const std::vector<uint8_t>& bytes) {
  return decode_params(bytes, "tactic parameters").choice.describe();
}

// Plans `p` on `handle` with the given pointer alignments: with `wanted`, exactly that engine
// configuration; with `proposals`, also listing others for the builder to time.
std::unique_ptr<cudnn::ExecutionPlan> make_plan(
    cudnnHandle_t handle, const ConvProblem& p, const cudnn::EnginePolicy& policy,
    int64_t image_alignment, int64_t filter_alignment, int64_t response_alignment,
    const cudnn::EngineChoice* wanted = nullptr,
    std::vector<cudnn::EngineChoice>* proposals = nullptr) {
  // Every tensor is laid out NCHW or NHWC; cuDNN names dims N, C, spatial... either way.
  auto strides_of = [&](const Dims& dims) {
    Dims strides(dims.size(), 1);
    if (p.channels_last) {  // C fastest, then the spatial dims from the last, then N
      int64_t s = dims[1];
      for (size_t d = dims.size(); d-- > 2;) {
        strides[d] = s;
        s *= dims[d];
      }
      strides[0] = s;
    } else {
      for (size_t d = dims.size() - 1; d-- > 0;) strides[d] = strides[d + 1] * dims[d + 1];
    }
    return strides;
  };
  auto tensor = [&](int64_t uid, const Dims& dims, int64_t alignment, bool is_virtual = false) {
    return cudnn::tensor_descriptor(uid, is_virtual ? DataType::kFloat32 : p.dtype, dims,
                                    strides_of(dims), alignment, is_virtual);
  };
  // With an epilogue, the convolution writes a virtual float32 tensor the pointwise
  // operations read; the last of them writes the response.
  const bool fused = p.kind == ConvKind::kForward && p.has_epilogue();
  std::vector<cudnn::Descriptor> parts;
  parts.push_back(tensor(kImageUid, p.image, image_alignment));
  parts.push_back(tensor(kFilterUid, p.filter, filter_alignment));
  parts.push_back(fused ? tensor(kFirstVirtualUid, p.response, 16, true)
                        : tensor(kResponseUid, p.response, response_alignment));
  const cudnn::Descriptor& image = parts[0];
  const cudnn::Descriptor& filter = parts[1];
  const cudnn::Descriptor& response = parts[2];

  cudnn::Descriptor conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;  // float32 accumulation for every dtype
  conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute, "compute type");
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;  // ONNX's Conv does not flip W
  conv.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode, "mode");
  conv.set_int(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, int64_t(p.strides.size()), "spatial dims");
  conv.set_ints(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, p.pre, "pre-paddings");
  conv.set_ints(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, p.post, "post-paddings");
  conv.set_ints(CUDNN_ATTR_CONVOLUTION_DILATIONS, p.dilations, "dilations");
  conv.set_ints(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, p.strides, "strides");
  conv.finalize("finalizing the convolution descriptor");

  const float alpha = 1.0f, beta = 0.0f;  // float scalars for float/half/bfloat16 data
  std::vector<cudnn::Descriptor> operations;
  if (p.kind == ConvKind::kForward) {
    cudnn::Descriptor op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, image, "forward X");
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, filter, "forward W");
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, response, "forward Y");
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv, "forward conv");
    op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha, "alpha");
    op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta, "beta");
    op.finalize("finalizing the forward convolution operation");
    operations.push_back(std::move(op));
    if (fused) add_epilogue(p, response_alignment, tensor, parts, operations);
  } else {
    cudnn::Descriptor op(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, image, "backward-data DX");
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, filter, "backward-data W");
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, response, "backward-data DY");
    op.set_descriptor(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, conv,
                      "backward-data conv");
    op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha, "alpha");
    op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, &beta, "beta");
    op.finalize("finalizing the backward-data convolution operation");
    operations.push_back(std::move(op));
  }
  parts.push_back(std::move(conv));
  return std::make_unique<cudnn::ExecutionPlan>(handle, std::move(operations), std::move(parts),
                                                policy, wanted, proposals);
}

// ---------------------------------------------------------------------------------------------
// Capability check

// cuDNN's kernels index with 32-bit integers in places (the frontend refuses filters past
// INT32_MAX elements for that reason): larger tensors stay with kiln's own kernels.
bool fits_int32(const Dims& shape) { return volume(shape) <= int64_t(INT32_MAX); }

// Plans `p` on the probe handle (answers cached for the process).
bool cudnn_can_plan(const ConvProblem& p, bool tf32) {
  return cudnn::with_probe_handle(/*when_no_device=*/true, [&](cudnnHandle_t handle) {
    static std::map<std::string, bool> answers;  // guarded by with_probe_handle's mutex
    const std::string key = cat(p.key(), tf32);
    if (auto it = answers.find(key); it != answers.end()) return it->second;
    bool ok = true;
    try {
      // The executor's buffers are at least 256-byte aligned.
      make_plan(handle, p, engine_policy(p.dtype, tf32, cudnn::kContextWorkspaceBytes), 16, 16, 16);
    } catch (const cudnn::CudnnFailure&) {
      ok = false;
    }
    cudaGetLastError();  // drop what engines that failed to finalize may have left behind
    answers[key] = ok;
    return ok;
  });
}

// The problem of a Conv/ConvTranspose node (kind), or of a FusedConv (epilogue and layout
// from its attributes and inputs), at the given shapes; nullopt when cuDNN cannot express it.
std::optional<ConvProblem> node_problem(const ir::Node& node, ConvKind kind, bool fused_conv,
                                        DataType dtype, Dims x, Dims w, Dims y, bool has_bias,
                                        bool has_residual) {
  if (!fused_conv) return resolve(node, kind, dtype, x, w, y);
  const bool channels_last = node.attr_string("layout", "NCHW") == "NHWC";
  if (channels_last) {
    if (x.size() != 4 || w.size() != 4 || y.size() != 4) return std::nullopt;
    x = {x[0], x[3], x[1], x[2]};
    w = {w[0], w[3], w[1], w[2]};
    y = {y[0], y[3], y[1], y[2]};
  }
  std::optional<ConvProblem> p = resolve(node, ConvKind::kForward, dtype, x, w, y);
  if (!p) return p;
  p->channels_last = channels_last;
  p->bias = has_bias;
  p->residual = has_residual;
  p->relu = node.attr_string("activation", "none") == "relu";
  return p;
}

// Plans `p` on the probe handle (answers cached for the process): the fused graph where there
// is one, else the convolution alone (the run falls back to it), which must plan.
template <ConvKind kKind, bool kFused>
KernelSupport supports_conv(const NodeQuery& q) {
  try {
    const DataType t = q.input(0).dtype;
    if (!is_float16_or_32(t)) {
      return KernelSupport::no(cat("takes float16, bfloat16 or float32, not ", to_string(t)));
    }
    bool same_types = q.input(1).dtype == t && q.has_output(0) && q.outputs[0].dtype == t;
    for (size_t i = 2; i < q.inputs.size(); ++i) {
      if (q.has_input(i) && q.input(i).dtype != t) same_types = false;
    }
    if (!same_types) return KernelSupport::no("takes every input and the output of X's type only");
    const Dims& x = q.input(0).shape;
    const Dims& w = q.input(1).shape;
    const Dims& y = q.outputs[0].shape;
    std::optional<ConvProblem> p =
        node_problem(*q.node, kKind, kFused, t, x, w, y, q.has_input(2), q.has_input(3));
    if (!p) {
      return KernelSupport::no(
          "cuDNN cannot express this convolution (1-D to 3-D only, no negative padding, an "
          "output_padding below the stride)");
    }
    if (!fits_int32(x) || !fits_int32(w) || !fits_int32(y)) {
      return KernelSupport::no("an extent or element count does not fit in int32");
    }
    // Empty convolutions never reach cuDNN (the run fills the output with the epilogue).
    if (volume(x) == 0 || volume(w) == 0 || volume(y) == 0) return true;
    p->bias = p->residual = p->relu = false;
    if (!cudnn_can_plan(*p, tf32_allowed(q.builder_flags))) {
      return KernelSupport::no(cat("cuDNN has no engine for the ", p->describe()));
    }
    return true;
  } catch (const std::exception& e) {
    // A malformed attribute: another kernel (or the op's own inference) reports it.
    return KernelSupport::no(e.what());
  } catch (...) {
    return KernelSupport::no("its capability check failed");
  }
}

// ---------------------------------------------------------------------------------------------
// Run

// y = act(y + bias[channel] + z) in one pass: Conv's bias, and FusedConv's epilogue where
// cuDNN could not fuse it. `plane` is the spatial size (NCHW), or 1 with channels last.
template <typename T>
__global__ void conv_epilogue_kernel(T* __restrict__ y, const T* __restrict__ bias,
                                     const T* __restrict__ z, bool relu, int64_t n, int64_t plane,
                                     int64_t channels) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    float v = to_float(y[i]);
    if (bias) v += to_float(bias[(i / plane) % channels]);
    if (z) v += to_float(z[i]);
    y[i] = from_float<T>(relu && v < 0.0f ? 0.0f : v);
  }
}

struct Epilogue {
  const void* bias = nullptr;
  const void* residual = nullptr;
  bool relu = false;
  bool channels_last = false;
};

void apply_epilogue(RunContext& rc, const Epilogue& e) {
  if (!e.bias && !e.residual && !e.relu) return;
  const DeviceTensor& y = rc.output(0);
  const int64_t n = y.numel();
  const int64_t channels = e.channels_last ? y.shape.back() : y.shape[1];
  if (n == 0 || channels == 0) return;
  const int64_t plane = e.channels_last ? 1 : n / (y.shape[0] * channels);
  dispatch_float(rc.node, y.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    conv_epilogue_kernel<T><<<grid_for(n), kBlock, 0, rc.stream>>>(
        y.as<T>(), static_cast<const T*>(e.bias), static_cast<const T*>(e.residual), e.relu, n,
        plane, channels);
  });
}

// Per node and execution context: one plan per problem, and the last launch's plan with what
// chose it, so that steady-state launches (same shapes, same buffer alignments) neither
// resolve the problem again nor build its string key. `epilogue_fused`: whether the last plan
// applies the node's epilogue itself.
struct ConvState {
  std::map<std::string, std::unique_ptr<cudnn::ExecutionPlan>> plans;
  std::map<std::string, bool> unfusable;  // fused problems cuDNN had no engine for
  struct Launch {
    Dims x, w, y;
    std::array<int64_t, 3> alignments{};
    bool tf32 = false;
  };
  Launch last;
  cudnn::ExecutionPlan* last_plan = nullptr;
  bool epilogue_fused = false;
};

// The plan for `p` from the state's cache, planned on first use; nullptr when `may_fail` and
// cuDNN has no engine for it.
cudnn::ExecutionPlan* plan_for(RunContext& rc, ConvState& state, const ConvProblem& p, bool tf32,
                               const std::array<int64_t, 3>& alignments, bool may_fail) {
  const auto& [image_alignment, filter_alignment, response_alignment] = alignments;
  const std::string problem =
      cat(p.key(), tf32, ",", image_alignment, ",", filter_alignment, ",", response_alignment);
  const std::string key = cat(problem, ",", rc.workspace_bytes);
  if (state.unfusable.count(key)) return nullptr;
  std::unique_ptr<cudnn::ExecutionPlan>& plan = state.plans[key];
  if (!plan) {
    // The builder's choice, where it was made for this problem.
    std::optional<TunedConfig> tuned;
    if (rc.tactic_params && !rc.tactic_params->empty()) {
      tuned = decode_params(*rc.tactic_params, rc.node.describe());
      if (tuned->problem != problem) tuned.reset();
    }
    std::vector<cudnn::EngineChoice> proposals;
    const bool propose = rc.tactic_proposals && rc.tactic_proposals->empty() && !tuned;
    try {
      plan =
          make_plan(cudnn::context_handle(rc), p, engine_policy(p.dtype, tf32, rc.workspace_bytes),
                    image_alignment, filter_alignment, response_alignment,
                    tuned ? &tuned->choice : nullptr, propose ? &proposals : nullptr);
    } catch (const cudnn::CudnnFailure& e) {
      state.plans.erase(key);
      cudaGetLastError();
      if (tuned) {
        fail(ErrorCode::kRuntime, rc.node.describe(), ": the plan's ", tuned->choice.describe(),
             " cannot run the ", p.describe(), " here (", e.what(),
             "): the engine was built for "
             "another GPU or cuDNN version; rebuild it");
      }
      if (may_fail) {
        state.unfusable[key] = true;
        return nullptr;
      }
      fail(ErrorCode::kRuntime, rc.node.describe(), ": cuDNN could not plan the ", p.describe(),
           ": ", e.what());
    }
    // Engines that failed to finalize may leave a (non-sticky) CUDA error behind, which the
    // executor's launch check would otherwise blame on this node.
    cudaGetLastError();
    for (const cudnn::EngineChoice& choice : proposals) {
      rc.tactic_proposals->push_back(encode_params(problem, choice));
    }
  }
  return plan.get();
}

template <ConvKind kKind, bool kFused>
void run_conv(RunContext& rc) {
  const DeviceTensor& x = rc.input(0);
  const DeviceTensor& w = rc.input(1);
  const DeviceTensor& y = rc.output(0);
  if (y.numel() == 0) return;
  const DeviceTensor& image = kKind == ConvKind::kForward ? x : y;
  const DeviceTensor& response = kKind == ConvKind::kForward ? y : x;
  Epilogue epilogue;
  epilogue.bias = rc.has_input(2) ? rc.input(2).data : nullptr;
  if (kFused) {
    epilogue.residual = rc.has_input(3) ? rc.input(3).data : nullptr;
    epilogue.relu = rc.node.attr_string("activation", "none") == "relu";
    epilogue.channels_last = rc.node.attr_string("layout", "NCHW") == "NHWC";
  }
  if (!*rc.state) *rc.state = std::make_shared<ConvState>();
  auto& state = *static_cast<ConvState*>(rc.state->get());
  const std::array<int64_t, 3> alignments{cudnn::alignment_of(image.data),
                                          cudnn::alignment_of(w.data),
                                          cudnn::alignment_of(response.data)};
  const bool tf32 = tf32_allowed(rc.builder_flags);
  const ConvState::Launch& last = state.last;
  const bool as_last = state.last_plan && last.x == x.shape && last.w == w.shape &&
                       last.y == y.shape && last.alignments == alignments && last.tf32 == tf32;
  if (!as_last) {
    std::optional<ConvProblem> p = node_problem(rc.node, kKind, kFused, x.dtype, x.shape, w.shape,
                                                y.shape, rc.has_input(2), rc.has_input(3));
    KILN_CHECK(p.has_value(), ErrorCode::kRuntime, rc.node.describe(), ": cuDNN cannot run this ",
               kind_name(kKind), " at input shapes ", to_string(x.shape), " and ",
               to_string(w.shape), " (output ", to_string(y.shape), ")");
    if (x.numel() == 0 || w.numel() == 0) {  // no terms: the output is the epilogue alone
      if (rc.plan_only) return;
      check_cuda(cudaMemsetAsync(y.data, 0, y.nbytes(), rc.stream), rc.node, "zero-filling");
      apply_epilogue(rc, epilogue);
      return;
    }
    // The fused graph where cuDNN has an engine for it, else the convolution alone.
    cudnn::ExecutionPlan* plan =
        p->has_epilogue() ? plan_for(rc, state, *p, tf32, alignments, true) : nullptr;
    state.epilogue_fused = plan != nullptr;
    if (!plan) {
      p->bias = p->residual = p->relu = false;
      plan = plan_for(rc, state, *p, tf32, alignments, false);
    }
    state.last = {x.shape, w.shape, y.shape, alignments, tf32};
    state.last_plan = plan;
  }
  if (rc.plan_only) return;
  try {
    if (state.epilogue_fused) {
      std::vector<int64_t> uids{kImageUid, kFilterUid, kResponseUid};
      std::vector<void*> pointers{image.data, w.data, response.data};
      for (const auto& [uid, data] :
           {std::pair{kBiasUid, epilogue.bias}, std::pair{kResidualUid, epilogue.residual}}) {
        if (!data) continue;
        uids.push_back(uid);
        pointers.push_back(const_cast<void*>(data));
      }
      state.last_plan->execute(cudnn::context_handle(rc), rc.stream, uids, pointers, rc.workspace);
    } else {
      state.last_plan->execute(cudnn::context_handle(rc), rc.stream,
                               {kImageUid, kFilterUid, kResponseUid},
                               {image.data, w.data, response.data}, rc.workspace);
    }
  } catch (const cudnn::CudnnFailure& e) {
    fail(ErrorCode::kRuntime, rc.node.describe(), ": cuDNN failed on the ", kind_name(kKind),
         " at input shapes ", to_string(x.shape), " and ", to_string(w.shape), ": ", e.what());
  }
  if (!state.epilogue_fused) apply_epilogue(rc, epilogue);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    .op = "Conv",
    .name = "cudnn_conv",
    .host_inputs = {},
    .supports = supports_conv<ConvKind::kForward, false>,
    .run = run_conv<ConvKind::kForward, false>,
    .priority = 10,
    .source = 1u << uint32_t(TacticSource::kCUDNN),
    .tunable = true,
    .describe_params = describe_params,
    .plans_ahead = true,
});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    .op = "ConvTranspose",
    .name = "cudnn_conv_transpose",
    .host_inputs = {},
    .supports = supports_conv<ConvKind::kTranspose, false>,
    .run = run_conv<ConvKind::kTranspose, false>,
    .priority = 10,
    .source = 1u << uint32_t(TacticSource::kCUDNN),
    .tunable = true,
    .describe_params = describe_params,
    .plans_ahead = true,
});

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    .op = "FusedConv",
    .name = "cudnn_fused_conv",
    .host_inputs = {},
    .supports = supports_conv<ConvKind::kForward, true>,
    .run = run_conv<ConvKind::kForward, true>,
    .priority = 10,
    .source = 1u << uint32_t(TacticSource::kCUDNN),
    .tunable = true,
    .describe_params = describe_params,
    .plans_ahead = true,
});

}  // namespace
}  // namespace kiln::cuda

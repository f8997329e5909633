// Einsum as the CPU backend accepts it (numpy.einsum semantics): any number of operands,
// explicit or implicit output, ellipsis broadcasting, repeated labels (diagonals), extent-1
// broadcasting, summation over the labels missing from the output.
//
// Two operands of float32/float16/bfloat16 whose labels split into batch (both operands and
// the output), m (first operand and output), n (second operand and output) and k (both
// operands, summed) labels, with no diagonal, no label summed within one operand and no
// broadcasting, are one batched GEMM through cuBLASLt: each operand is used in place when its
// dims are already [batch, m, k] / [batch, k, m] (and [batch, k, n] / [batch, n, k]), else
// permuted into scratch memory; the product goes straight to the output when the output's
// labels are [batch, m, n], else through scratch and a permutation.
//
// Everything else runs a generic kernel: per output element (one thread, or a warp when the
// summation is long), the sum over every combination of the summed labels of the product of
// the operands, read through one stride per label and operand (a repeated label gets the sum
// of its strides, which reads the diagonal). Float types accumulate in double and round once,
// integers in wrapping 64-bit arithmetic, as on the CPU.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "backends/cuda/matmul.cuh"
#include "backends/cuda/misc_ops.cuh"

namespace kiln::cuda {
namespace {

constexpr int kEllipsisLabel = 256;
constexpr int kEllipsisMarker = -1;
constexpr int kMaxOperands = 8;
constexpr int kMaxLabels = 16;

struct EinsumPlan {
  std::vector<std::vector<int>> operand_labels;
  std::vector<int> output_labels;
  std::map<int, int64_t> extents;
};

template <typename... Args>
[[noreturn]] void bad_equation(const ir::Node& node, const std::string& equation, Args&&... args) {
  fail(ErrorCode::kInvalidModel, node.describe(), ": equation '", equation,
       "': ", std::forward<Args>(args)...);
}

std::vector<int> parse_term(const ir::Node& node, const std::string& equation,
                            const std::string& term) {
  std::vector<int> labels;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (term.compare(i, 3, "...") == 0) {
      if (std::count(labels.begin(), labels.end(), kEllipsisMarker) != 0) {
        bad_equation(node, equation, "term '", term, "' has more than one ellipsis");
      }
      labels.push_back(kEllipsisMarker);
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      labels.push_back(int(c));
    } else {
      bad_equation(node, equation, "unexpected character '", c, "'");
    }
  }
  return labels;
}

EinsumPlan plan_einsum(const ir::Node& node, const std::vector<Dims>& shapes) {
  const std::string raw = node.attr_string("equation");
  std::string equation;
  for (char c : raw) {
    if (c != ' ') equation += c;
  }
  const size_t arrow = equation.find("->");
  const bool explicit_output = arrow != std::string::npos;
  const std::string lhs = explicit_output ? equation.substr(0, arrow) : equation;
  std::vector<std::string> terms(1);
  for (char c : lhs) {
    if (c == ',') {
      terms.emplace_back();
    } else {
      terms.back() += c;
    }
  }
  if (terms.size() != shapes.size()) {
    bad_equation(node, raw, "has ", terms.size(), " input terms but the node has ", shapes.size(),
                 " inputs");
  }
  std::vector<std::vector<int>> parsed;
  int64_t ellipsis_rank = 0;
  for (size_t t = 0; t < terms.size(); ++t) {
    parsed.push_back(parse_term(node, raw, terms[t]));
    const auto& labels = parsed.back();
    const int64_t markers = std::count(labels.begin(), labels.end(), kEllipsisMarker);
    const int64_t letters = int64_t(labels.size()) - markers;
    const int64_t rank = int64_t(shapes[t].size());
    if (markers ? rank < letters : rank != letters) {
      bad_equation(node, raw, "term '", terms[t], "' does not fit input ", t, " of shape ",
                   to_string(shapes[t]));
    }
    if (markers) ellipsis_rank = std::max(ellipsis_rank, rank - letters);
  }
  EinsumPlan plan;
  std::map<int, int> lhs_counts;
  for (size_t t = 0; t < parsed.size(); ++t) {
    const Dims& shape = shapes[t];
    std::vector<int> labels;
    for (int label : parsed[t]) {
      if (label != kEllipsisMarker) {
        labels.push_back(label);
        ++lhs_counts[label];
        continue;
      }
      const int64_t covered = int64_t(shape.size() + 1 - parsed[t].size());
      for (int64_t j = ellipsis_rank - covered; j < ellipsis_rank; ++j) {
        labels.push_back(kEllipsisLabel + int(j));
      }
    }
    for (size_t d = 0; d < labels.size(); ++d) {
      auto [it, inserted] = plan.extents.emplace(labels[d], shape[d]);
      if (!inserted && it->second != shape[d]) {
        if (it->second == 1) {
          it->second = shape[d];
        } else if (shape[d] != 1) {
          bad_equation(node, raw, "input ", t, " of shape ", to_string(shape), " has extent ",
                       shape[d], " where another dimension has ", it->second);
        }
      }
    }
    plan.operand_labels.push_back(std::move(labels));
  }
  for (int64_t j = 0; j < ellipsis_rank; ++j) plan.extents.emplace(kEllipsisLabel + int(j), 1);
  if (explicit_output) {
    for (int label : parse_term(node, raw, equation.substr(arrow + 2))) {
      if (label == kEllipsisMarker) {
        for (int64_t j = 0; j < ellipsis_rank; ++j) {
          plan.output_labels.push_back(kEllipsisLabel + int(j));
        }
      } else {
        if (!lhs_counts.count(label)) {
          bad_equation(node, raw, "output label '", char(label), "' is not in any input term");
        }
        plan.output_labels.push_back(label);
      }
    }
  } else {
    for (int64_t j = 0; j < ellipsis_rank; ++j) {
      plan.output_labels.push_back(kEllipsisLabel + int(j));
    }
    for (const auto& [label, count] : lhs_counts) {
      if (count == 1) plan.output_labels.push_back(label);
    }
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// Generic kernel

struct GenericArgs {
  int operands = 0;
  int out_labels = 0;  // labels [0, out_labels) index the output, the rest are summed
  int labels = 0;
  int64_t extents[kMaxLabels] = {};
  int64_t strides[kMaxOperands][kMaxLabels] = {};
  const void* inputs[kMaxOperands] = {};
  int64_t out_total = 0;
  int64_t sum_total = 0;
};

template <typename T, typename Acc>
__device__ __forceinline__ Acc load_as(const void* p, int64_t at) {
  return widen_to<Acc>(static_cast<const T*>(p)[at]);
}

__device__ __forceinline__ double shuffle_down(double v, int offset) {
  return __shfl_down_sync(0xffffffffu, v, offset);
}
__device__ __forceinline__ uint64_t shuffle_down(uint64_t v, int offset) {
  return static_cast<uint64_t>(
      __shfl_down_sync(0xffffffffu, static_cast<unsigned long long>(v), offset));
}

// `group` threads (1 or 32) per output element.
template <typename T, typename Acc>
__global__ void einsum_generic_kernel(GenericArgs a, int group, T* out) {
  const int64_t thread = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int lane = int(thread % group);
  const int64_t first = thread / group;
  const int64_t step = int64_t(gridDim.x) * blockDim.x / group;
  for (int64_t o = first; o < a.out_total; o += step) {
    int64_t base[kMaxOperands] = {};
    int64_t rest = o;
    for (int l = a.out_labels - 1; l >= 0; --l) {
      const int64_t i = rest % a.extents[l];
      rest /= a.extents[l];
      for (int op = 0; op < a.operands; ++op) base[op] += i * a.strides[op][l];
    }
    Acc sum = Acc(0);
    for (int64_t s = lane; s < a.sum_total; s += group) {
      int64_t offsets[kMaxOperands];
      for (int op = 0; op < a.operands; ++op) offsets[op] = base[op];
      int64_t r = s;
      for (int l = a.labels - 1; l >= a.out_labels; --l) {
        const int64_t i = r % a.extents[l];
        r /= a.extents[l];
        for (int op = 0; op < a.operands; ++op) offsets[op] += i * a.strides[op][l];
      }
      Acc product = Acc(1);
      for (int op = 0; op < a.operands; ++op) product *= load_as<T, Acc>(a.inputs[op], offsets[op]);
      sum += product;
    }
    if (group > 1) {
      for (int offset = 16; offset > 0; offset /= 2) sum += shuffle_down(sum, offset);
    }
    if (lane == 0) {
      if constexpr (std::is_same_v<Acc, double>) {
        if constexpr (std::is_same_v<T, double>) {
          out[o] = sum;
        } else {
          out[o] = from_float<T>(float(sum));
        }
      } else {
        out[o] = T(sum);
      }
    }
  }
}

template <typename Fn>
bool dispatch_einsum(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32:
      fn(Tag<float>{}, Tag<double>{});
      return true;
    case DataType::kFloat16:
      fn(Tag<half>{}, Tag<double>{});
      return true;
    case DataType::kBFloat16:
      fn(Tag<bfloat16>{}, Tag<double>{});
      return true;
    case DataType::kFloat64:
      fn(Tag<double>{}, Tag<double>{});
      return true;
    case DataType::kInt8:
      fn(Tag<int8_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kUInt8:
      fn(Tag<uint8_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kInt16:
      fn(Tag<int16_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kUInt16:
      fn(Tag<uint16_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kInt32:
      fn(Tag<int32_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kUInt32:
      fn(Tag<uint32_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kInt64:
      fn(Tag<int64_t>{}, Tag<uint64_t>{});
      return true;
    case DataType::kUInt64:
      fn(Tag<uint64_t>{}, Tag<uint64_t>{});
      return true;
    default:
      return false;
  }
}

// Every label: the output's first, then the summed ones.
std::vector<int> all_labels(const EinsumPlan& plan) {
  std::vector<int> labels = plan.output_labels;
  for (const auto& [label, extent] : plan.extents) {
    if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
  }
  return labels;
}

void run_generic(RunContext& rc, const EinsumPlan& plan) {
  DeviceTensor& y = rc.outputs[0];
  const std::vector<int> labels = all_labels(plan);
  GenericArgs a;
  a.operands = int(rc.inputs.size());
  a.out_labels = int(plan.output_labels.size());
  a.labels = int(labels.size());
  a.out_total = 1;
  a.sum_total = 1;
  for (size_t l = 0; l < labels.size(); ++l) {
    a.extents[l] = plan.extents.at(labels[l]);
    (l < plan.output_labels.size() ? a.out_total : a.sum_total) *= a.extents[l];
  }
  if (a.out_total == 0) return;
  if (a.sum_total == 0) {
    check_cuda(cudaMemsetAsync(y.data, 0, y.nbytes(), rc.stream), rc.node, "clearing the output");
    return;
  }
  for (size_t op = 0; op < rc.inputs.size(); ++op) {
    const Dims& shape = rc.inputs[op].shape;
    a.inputs[op] = rc.inputs[op].data;
    int64_t stride = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      if (shape[d] != 1) {
        const int label = plan.operand_labels[op][d];
        const size_t l = size_t(std::find(labels.begin(), labels.end(), label) - labels.begin());
        a.strides[op][l] += stride;
      }
      stride *= shape[d];
    }
  }
  const int group = a.sum_total >= 64 ? 32 : 1;
  const int64_t threads = a.out_total * group;
  dispatch_einsum(y.dtype, [&](auto t_tag, auto acc_tag) {
    using T = typename decltype(t_tag)::type;
    using Acc = typename decltype(acc_tag)::type;
    einsum_generic_kernel<T, Acc><<<grid_for(threads), kBlock, 0, rc.stream>>>(a, group, y.as<T>());
  });
  check_cuda(cudaGetLastError(), rc.node, "launching Einsum");
}

// ---------------------------------------------------------------------------------------------
// Batched GEMM

struct GemmShape {
  std::vector<int> batch, m, n, k;
};

// The label groups when the equation is one batched product of two operands.
std::optional<GemmShape> gemm_shape(const EinsumPlan& plan, const std::vector<Dims>& shapes) {
  if (plan.operand_labels.size() != 2) return std::nullopt;
  const auto& la = plan.operand_labels[0];
  const auto& lb = plan.operand_labels[1];
  const auto& lo = plan.output_labels;
  auto has = [](const std::vector<int>& v, int l) {
    return std::find(v.begin(), v.end(), l) != v.end();
  };
  auto distinct = [](std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return std::adjacent_find(v.begin(), v.end()) == v.end();
  };
  if (!distinct(la) || !distinct(lb) || !distinct(lo)) return std::nullopt;
  // Every dim has the label's full extent (no extent-1 broadcasting).
  for (size_t op = 0; op < 2; ++op) {
    for (size_t d = 0; d < shapes[op].size(); ++d) {
      if (shapes[op][d] != plan.extents.at(plan.operand_labels[op][d])) return std::nullopt;
    }
  }
  GemmShape g;
  for (int l : lo) {
    const bool a = has(la, l), b = has(lb, l);
    if (a && b) {
      g.batch.push_back(l);
    } else if (a) {
      g.m.push_back(l);
    } else if (b) {
      g.n.push_back(l);
    } else {
      return std::nullopt;  // an output label of extent 1 from nowhere (cannot happen)
    }
  }
  for (int l : la) {
    if (has(lo, l)) continue;
    if (!has(lb, l)) return std::nullopt;  // summed within the first operand alone
    g.k.push_back(l);
  }
  for (int l : lb) {
    if (!has(lo, l) && !has(la, l)) return std::nullopt;
  }
  return g;
}

std::vector<int> concat(std::initializer_list<const std::vector<int>*> parts) {
  std::vector<int> out;
  for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

struct PermuteArgs {
  int rank = 0;
  int64_t dims[kMaxLabels] = {};
  int64_t strides[kMaxLabels] = {};  // source strides, in target dim order
  int64_t total = 0;
};

template <typename Bits>
__global__ void permute_kernel(const Bits* src, PermuteArgs p, Bits* dst) {
  KILN_GRID_STRIDE_LOOP(i, p.total) {
    int64_t rest = i, from = 0;
    for (int d = p.rank - 1; d >= 0; --d) {
      from += (rest % p.dims[d]) * p.strides[d];
      rest /= p.dims[d];
    }
    dst[i] = src[from];
  }
}

// Copies a tensor whose dims carry `from` labels into the layout of `to` labels.
void permute(RunContext& rc, const void* src, const std::vector<int>& from, void* dst,
             const std::vector<int>& to, const EinsumPlan& plan, DataType dtype) {
  PermuteArgs p;
  p.rank = int(to.size());
  p.total = 1;
  std::vector<int64_t> src_strides(from.size());
  int64_t stride = 1;
  for (size_t d = from.size(); d-- > 0;) {
    src_strides[d] = stride;
    stride *= plan.extents.at(from[d]);
  }
  for (size_t d = 0; d < to.size(); ++d) {
    p.dims[d] = plan.extents.at(to[d]);
    p.strides[d] = src_strides[size_t(std::find(from.begin(), from.end(), to[d]) - from.begin())];
    p.total *= p.dims[d];
  }
  if (p.total == 0) return;
  dispatch_bits(rc.node, element_size(dtype), [&](auto tag) {
    using Bits = typename decltype(tag)::type;
    permute_kernel<Bits><<<grid_for(p.total), kBlock, 0, rc.stream>>>(static_cast<const Bits*>(src),
                                                                      p, static_cast<Bits*>(dst));
  });
  check_cuda(cudaGetLastError(), rc.node, "launching the Einsum permutation");
}

struct EinsumState {
  std::shared_ptr<void> gemm;  // launch_gemm's cache
  DeviceScratch scratch;
};

void run_gemm(RunContext& rc, const EinsumPlan& plan, const GemmShape& g) {
  auto product = [&](const std::vector<int>& labels) {
    int64_t v = 1;
    for (int l : labels) v *= plan.extents.at(l);
    return v;
  };
  const int64_t batch = product(g.batch), m = product(g.m), n = product(g.n), k = product(g.k);
  DeviceTensor& y = rc.outputs[0];
  if (y.numel() == 0) return;
  if (k == 0) {
    check_cuda(cudaMemsetAsync(y.data, 0, y.nbytes(), rc.stream), rc.node, "clearing the output");
    return;
  }
  const auto& la = plan.operand_labels[0];
  const auto& lb = plan.operand_labels[1];
  const std::vector<int> a_mk = concat({&g.batch, &g.m, &g.k}),
                         a_km = concat({&g.batch, &g.k, &g.m});
  const std::vector<int> b_kn = concat({&g.batch, &g.k, &g.n}),
                         b_nk = concat({&g.batch, &g.n, &g.k});
  const std::vector<int> d_mn = concat({&g.batch, &g.m, &g.n});
  const size_t elem = element_size(y.dtype);
  const bool a_direct = la == a_mk || la == a_km;
  const bool b_direct = lb == b_kn || lb == b_nk;
  const bool d_direct = plan.output_labels == d_mn;
  ScratchLayout layout;
  const size_t a_at = layout.add(a_direct ? 0 : size_t(batch * m * k) * elem);
  const size_t b_at = layout.add(b_direct ? 0 : size_t(batch * k * n) * elem);
  const size_t d_at = layout.add(d_direct ? 0 : size_t(batch * m * n) * elem);
  auto& state = node_state<EinsumState>(rc);
  std::byte* base =
      (a_direct && b_direct && d_direct) ? nullptr : state.scratch.get(rc.node, layout.total());
  GemmCall c;
  c.dtype = y.dtype;
  c.m = m;
  c.n = n;
  c.k = k;
  c.batch = batch;
  c.stride_a = m * k;
  c.stride_b = k * n;
  c.stride_d = m * n;
  c.a = rc.inputs[0].data;
  c.b = rc.inputs[1].data;
  c.transpose_a = la != a_mk && la == a_km;
  c.transpose_b = lb != b_kn && lb == b_nk;
  if (!a_direct) {
    permute(rc, rc.inputs[0].data, la, base + a_at, a_mk, plan, y.dtype);
    c.a = base + a_at;
  }
  if (!b_direct) {
    permute(rc, rc.inputs[1].data, lb, base + b_at, b_kn, plan, y.dtype);
    c.b = base + b_at;
  }
  c.d = d_direct ? y.data : static_cast<void*>(base + d_at);
  RunContext gemm_rc = rc;
  gemm_rc.state = &state.gemm;
  launch_gemm(gemm_rc, c);
  if (!d_direct) permute(rc, base + d_at, d_mn, y.data, plan.output_labels, plan, y.dtype);
}

std::vector<Dims> input_shapes(const std::vector<TensorInfo>& inputs) {
  std::vector<Dims> shapes;
  for (const TensorInfo& t : inputs) shapes.push_back(t.shape);
  return shapes;
}

bool uses_gemm(const EinsumPlan& plan, const std::vector<Dims>& shapes, DataType dtype,
               uint32_t tactic_sources) {
  const uint32_t lt = 1u << uint32_t(TacticSource::kCUBLAS_LT);
  return is_float16_or_32(dtype) && (tactic_sources & lt) != 0 &&
         plan.output_labels.size() <= size_t(kMaxLabels) &&
         plan.extents.size() <= size_t(kMaxLabels) && gemm_shape(plan, shapes).has_value();
}

void run_einsum(RunContext& rc) {
  std::vector<Dims> shapes;
  for (const DeviceTensor& t : rc.inputs) shapes.push_back(t.shape);
  const EinsumPlan plan = plan_einsum(rc.node, shapes);
  // The plan does not record the builder's tactic sources: cuBLASLt is always there at run time.
  if (uses_gemm(plan, shapes, rc.outputs[0].dtype, kAllTacticSources)) {
    return run_gemm(rc, plan, *gemm_shape(plan, shapes));
  }
  run_generic(rc, plan);
}

bool supports_einsum(const NodeQuery& q) {
  if (q.inputs.empty() || q.inputs.size() > size_t(kMaxOperands)) return false;
  const DataType t = q.input(0).dtype;
  for (const TensorInfo& in : q.inputs) {
    if (!in.present || in.dtype != t) return false;
  }
  bool typed = false;
  dispatch_einsum(t, [&](auto, auto) { typed = true; });
  if (!typed) return false;
  const EinsumPlan plan = plan_einsum(*q.node, input_shapes(q.inputs));
  return plan.extents.size() <= size_t(kMaxLabels);
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{"Einsum", "cuda_einsum", {}, supports_einsum, run_einsum});

}  // namespace
}  // namespace kiln::cuda

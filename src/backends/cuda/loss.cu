// Classification losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (reductions
// none, sum and mean; ignore_index; per-class weights; SoftmaxCrossEntropyLoss's optional
// log_prob output), as the reference (src/ops/loss.cpp) defines them.
//
// The input is seen as [N, C, inner]; one thread per sample (n, i) computes, in double, the
// sample's log-probabilities (SoftmaxCrossEntropyLoss: log-softmax over the C classes, written
// out when log_prob is wanted), its loss -logp[target] * weight[target] and its weight. For
// "none" the thread stores the loss; for "sum" and "mean" each block adds its samples' losses
// and weights into a partial in the context's workspace, and one block then adds the partials
// (a fixed order: the result does not vary from run to run). A target outside [0, C) that is
// not the ignore_index cannot be reported from the GPU (the CPU throws): such a sample counts
// as ignored (loss 0, weight 0).
#include "backends/cuda/cuda_common.cuh"

namespace kiln::cuda {

namespace {

enum class Reduction : int { kNone, kSum, kMean };

struct LossArgs {
  const void* input;
  const void* target;
  const void* weight;  // nullptr: every class weighs 1
  void* loss;
  void* log_prob;    // nullptr: not wanted (or NegativeLogLikelihoodLoss)
  double* partials;  // 2 per block: loss sum, weight sum
  int64_t samples;   // N * inner
  int64_t classes;
  int64_t inner;
  bool target64;
  bool softmax;
  bool has_ignore;
  int64_t ignore_index;
  Reduction reduction;
};

inline constexpr int kLossThreads = 256;
inline constexpr int kMaxLossBlocks = 1024;

template <typename T>
__global__ void __launch_bounds__(kLossThreads) loss_sample_kernel(LossArgs a) {
  __shared__ double scratch[32];
  const T* __restrict__ input = static_cast<const T*>(a.input);
  const T* __restrict__ weight = static_cast<const T*>(a.weight);
  T* __restrict__ log_prob = static_cast<T*>(a.log_prob);
  double loss_sum = 0.0, weight_sum = 0.0;
  // Every thread of the block runs the same number of iterations (the block reduction below
  // needs them all).
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t first = int64_t(blockIdx.x) * blockDim.x; first < a.samples; first += step) {
    const int64_t sample = first + threadIdx.x;
    if (sample >= a.samples) continue;
    const int64_t n = sample / a.inner;
    const int64_t i = sample % a.inner;
    const int64_t base = n * a.classes * a.inner + i;  // class c at base + c * inner
    double shift = 0.0;                                // logp = x - shift
    if (a.softmax) {
      double m = -INFINITY;
      for (int64_t c = 0; c < a.classes; ++c)
        m = fmax(m, double(to_float(input[base + c * a.inner])));
      double s = 0.0;
      for (int64_t c = 0; c < a.classes; ++c)
        s += exp(double(to_float(input[base + c * a.inner])) - m);
      shift = m + log(s);
      if (log_prob) {
        for (int64_t c = 0; c < a.classes; ++c) {
          const int64_t at = base + c * a.inner;
          log_prob[at] = from_float<T>(float(double(to_float(input[at])) - shift));
        }
      }
    }
    const int64_t label = a.target64 ? static_cast<const int64_t*>(a.target)[sample]
                                     : int64_t(static_cast<const int32_t*>(a.target)[sample]);
    double loss = 0.0;
    const bool counted =
        !(a.has_ignore && label == a.ignore_index) && label >= 0 && label < a.classes;
    if (counted) {
      const double w = weight ? double(to_float(weight[label])) : 1.0;
      const double logp = double(to_float(input[base + label * a.inner])) - shift;
      loss = -logp * w;
      loss_sum += loss;
      weight_sum += w;
    }
    if (a.reduction == Reduction::kNone)
      static_cast<T*>(a.loss)[sample] = from_float<T>(float(loss));
  }
  if (a.reduction == Reduction::kNone) return;
  const auto add = [](double x, double y) { return x + y; };
  loss_sum = block_reduce(loss_sum, add, scratch);
  weight_sum = block_reduce(weight_sum, add, scratch);
  if (threadIdx.x == 0) {
    a.partials[2 * blockIdx.x] = loss_sum;
    a.partials[2 * blockIdx.x + 1] = weight_sum;
  }
}

template <typename T>
__global__ void __launch_bounds__(kLossThreads)
    loss_finish_kernel(const double* __restrict__ partials, int blocks, T* __restrict__ out,
                       bool mean) {
  __shared__ double scratch[32];
  double loss_sum = 0.0, weight_sum = 0.0;
  for (int b = int(threadIdx.x); b < blocks; b += blockDim.x) {
    loss_sum += partials[2 * b];
    weight_sum += partials[2 * b + 1];
  }
  const auto add = [](double x, double y) { return x + y; };
  loss_sum = block_reduce(loss_sum, add, scratch);
  weight_sum = block_reduce(weight_sum, add, scratch);
  // With every sample ignored, mean is 0 / 0 = NaN, as on the CPU.
  if (threadIdx.x == 0) out[0] = from_float<T>(float(mean ? loss_sum / weight_sum : loss_sum));
}

Reduction reduction_of(const ir::Node& node) {
  const std::string r = node.attr_string("reduction", "mean");
  return r == "none" ? Reduction::kNone : (r == "sum" ? Reduction::kSum : Reduction::kMean);
}

bool loss_supported(const NodeQuery& q) {
  const TensorInfo& x = q.input(0);
  if (!is_float16_or_32(x.dtype) || x.shape.size() < 2) return false;
  const DataType t = q.input(1).dtype;
  if (t != DataType::kInt32 && t != DataType::kInt64) return false;
  if (q.has_input(2) && q.input(2).dtype != x.dtype) return false;
  for (size_t i = 0; i < q.outputs.size(); ++i) {
    if (q.has_output(i) && q.outputs[i].dtype != x.dtype) return false;
  }
  return true;
}

void run_loss(RunContext& rc, bool softmax) {
  const DeviceTensor& x = rc.input(0);
  LossArgs a{};
  a.input = x.data;
  a.target = rc.input(1).data;
  a.weight = rc.has_input(2) ? rc.input(2).data : nullptr;
  a.loss = rc.output(0).data;
  a.log_prob =
      softmax && rc.outputs.size() > 1 && rc.outputs[1].present ? rc.outputs[1].data : nullptr;
  a.classes = x.shape[1];
  a.inner = 1;
  for (size_t d = 2; d < x.shape.size(); ++d) a.inner *= x.shape[d];
  a.samples = x.shape[0] * a.inner;
  a.target64 = rc.input(1).dtype == DataType::kInt64;
  a.softmax = softmax;
  a.has_ignore = rc.node.has_attr("ignore_index");
  a.ignore_index = a.has_ignore ? rc.node.attr_int("ignore_index") : 0;
  a.reduction = reduction_of(rc.node);
  a.partials = static_cast<double*>(rc.workspace);
  const int64_t wanted = (a.samples + kLossThreads - 1) / kLossThreads;
  const int blocks = int(wanted < 1 ? 1 : (wanted > kMaxLossBlocks ? kMaxLossBlocks : wanted));
  KILN_CHECK(
      a.reduction == Reduction::kNone || size_t(blocks) * 2 * sizeof(double) <= rc.workspace_bytes,
      ErrorCode::kRuntime, rc.node.describe(), ": the workspace is too small for the loss");
  dispatch_float(rc.node, x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (a.samples == 0) {
      // No samples: sum is 0 and mean 0 / 0.
      if (a.reduction != Reduction::kNone) {
        loss_finish_kernel<T><<<1, kLossThreads, 0, rc.stream>>>(
            a.partials, 0, static_cast<T*>(a.loss), a.reduction == Reduction::kMean);
      }
      return;
    }
    loss_sample_kernel<T><<<blocks, kLossThreads, 0, rc.stream>>>(a);
    if (a.reduction != Reduction::kNone) {
      loss_finish_kernel<T><<<1, kLossThreads, 0, rc.stream>>>(
          a.partials, blocks, static_cast<T*>(a.loss), a.reduction == Reduction::kMean);
    }
  });
}

KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "NegativeLogLikelihoodLoss", "cuda_loss", {}, loss_supported, [](RunContext& rc) {
      run_loss(rc, false);
    }});
KILN_REGISTER_CUDA_KERNEL(CudaKernel{
    "SoftmaxCrossEntropyLoss", "cuda_loss", {}, loss_supported, [](RunContext& rc) {
      run_loss(rc, true);
    }});

}  // namespace
}  // namespace kiln::cuda

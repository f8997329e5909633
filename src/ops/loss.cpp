// Classification losses: NegativeLogLikelihoodLoss (ONNX opset 22) and SoftmaxCrossEntropyLoss
// (opset 13).
//
// The input is [N, C, d1, ..., dk] (k >= 0) and the target (labels) [N, d1, ..., dk] holds one
// class index per sample. Each sample's loss is -logp[n, target, d...] * weight[target]
// (weight 1 when no weight input is given), and 0 when the target equals ignore_index.
// NegativeLogLikelihoodLoss takes logp as its input; SoftmaxCrossEntropyLoss first computes
// logp = LogSoftmax(scores) along the class axis (and can return it as `log_prob`).
// reduction "none" returns the per-sample losses, "sum" their sum, and "mean" (the default) the
// sum divided by the sum of the weights of the samples that are not ignored (their count when
// there is no weight input), as PyTorch's NLLLoss and CrossEntropyLoss do.
//
// Everything is computed in double and rounded once to the input's float type.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

enum class Reduction { kNone, kSum, kMean };

Reduction reduction_of(const ir::Node& node) {
  const std::string r = node.attr_string("reduction", "mean");
  if (r == "none") return Reduction::kNone;
  if (r == "sum") return Reduction::kSum;
  if (r == "mean") return Reduction::kMean;
  fail(ErrorCode::kInvalidModel, node.describe(), ": reduction '", r,
       "' is not one of 'none', 'sum', 'mean'");
}

std::optional<int64_t> ignore_index_of(const ir::Node& node) {
  if (!node.has_attr("ignore_index")) return std::nullopt;
  return node.attr_int("ignore_index");
}

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

void infer_loss(InferContext& ctx) {
  const DataType dtype = ctx.input_dtype(0);
  ctx.check(is_float_type(dtype), "input 0 has type ", to_string(dtype),
            "; float16, bfloat16, float32 or float64 expected");
  const Dims& shape = ctx.input_shape(0);
  ctx.check(shape.size() >= 2, "input 0 must have shape [N, C, d1, ..., dk], got ",
            to_string(shape));
  const DataType target_dtype = ctx.input_dtype(1);
  ctx.check(target_dtype == DataType::kInt32 || target_dtype == DataType::kInt64,
            "the target has type ", to_string(target_dtype), "; int32 or int64 expected");
  // The target's shape is the input's without the class axis.
  Dims per_sample = shape;
  per_sample.erase(per_sample.begin() + 1);
  ctx.check(ctx.input_shape(1) == per_sample, "the target has shape ",
            to_string(ctx.input_shape(1)), " but input 0 of shape ", to_string(shape),
            " needs a target of shape ", to_string(per_sample));
  if (ctx.has_input(2)) {
    ctx.check(ctx.input_dtype(2) == dtype, "the weight has type ", to_string(ctx.input_dtype(2)),
              " but input 0 has type ", to_string(dtype), "; they must match");
    ctx.check(ctx.input_shape(2) == Dims{shape[1]}, "the weight must have shape [", shape[1],
              "] (one value per class), got ", to_string(ctx.input_shape(2)));
  }
  const Reduction reduction = reduction_of(ctx.node());
  ctx.set_output(0, dtype, reduction == Reduction::kNone ? per_sample : Dims{});
  if (ctx.num_outputs() > 1 && ctx.node().outputs[1] != nullptr) ctx.set_output(1, dtype, shape);
}

void store_double(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DataType::kFloat64) {
    t.data<double>()[i] = v;
  } else {
    store_float(t, i, float(v));
  }
}

// The input seen as [N, C, inner] with inner = d1 * ... * dk.
struct ClassLayout {
  int64_t batch = 1;
  int64_t classes = 1;
  int64_t inner = 1;

  explicit ClassLayout(const Dims& shape) : batch(shape[0]), classes(shape[1]) {
    for (size_t d = 2; d < shape.size(); ++d) inner *= shape[d];
  }
  int64_t at(int64_t n, int64_t c, int64_t i) const { return (n * classes + c) * inner + i; }
};

// log_softmax along the class axis, in place; the maximum is subtracted first so that large
// scores do not overflow.
void log_softmax_classes(std::vector<double>& x, const ClassLayout& layout) {
  for (int64_t n = 0; n < layout.batch; ++n) {
    for (int64_t i = 0; i < layout.inner; ++i) {
      double max_value = -INFINITY;
      for (int64_t c = 0; c < layout.classes; ++c) {
        max_value = std::max(max_value, x[size_t(layout.at(n, c, i))]);
      }
      double sum = 0;
      for (int64_t c = 0; c < layout.classes; ++c) {
        sum += std::exp(x[size_t(layout.at(n, c, i))] - max_value);
      }
      const double log_sum = std::log(sum);
      for (int64_t c = 0; c < layout.classes; ++c) {
        double& v = x[size_t(layout.at(n, c, i))];
        v = (v - max_value) - log_sum;
      }
    }
  }
}

void compute_loss(ComputeContext& ctx, bool apply_log_softmax) {
  const ir::Node& node = ctx.node();
  const Tensor& input = ctx.input(0);
  const Tensor& target = ctx.input(1);
  const ClassLayout layout(input.shape());
  std::vector<double> log_probs = input.to_double_vector();
  if (apply_log_softmax) {
    log_softmax_classes(log_probs, layout);
    if (ctx.has_output(1)) {
      Tensor& out = ctx.output(1);
      for (int64_t i = 0; i < out.numel(); ++i) store_double(out, i, log_probs[size_t(i)]);
    }
  }
  const bool has_weight = ctx.has_input(2);
  const std::vector<double> weight =
      has_weight ? ctx.input(2).to_double_vector() : std::vector<double>{};
  const std::optional<int64_t> ignore_index = ignore_index_of(node);
  const Reduction reduction = reduction_of(node);
  Tensor& out = ctx.output(0);

  double loss_sum = 0;
  double weight_sum = 0;
  for (int64_t n = 0; n < layout.batch; ++n) {
    for (int64_t i = 0; i < layout.inner; ++i) {
      const int64_t sample = n * layout.inner + i;
      const int64_t label = target.as_int64(sample);
      double loss = 0;
      const bool ignored = ignore_index.has_value() && label == *ignore_index;
      if (!ignored) {
        KILN_CHECK(label >= 0 && label < layout.classes, ErrorCode::kInvalidArgument,
                   node.describe(), ": target ", label, " at sample ", sample,
                   " is not a class index in [0, ", layout.classes, ") nor the ignore_index");
        const double w = has_weight ? weight[size_t(label)] : 1.0;
        loss = -log_probs[size_t(layout.at(n, label, i))] * w;
        weight_sum += w;
      }
      loss_sum += loss;
      if (reduction == Reduction::kNone) store_double(out, sample, loss);
    }
  }
  // With every sample ignored, mean is 0 / 0 = NaN, as in the ONNX reference and PyTorch.
  if (reduction == Reduction::kSum) store_double(out, 0, loss_sum);
  if (reduction == Reduction::kMean) store_double(out, 0, loss_sum / weight_sum);
}

KILN_REGISTER_OP(OpDef{
    .name = "NegativeLogLikelihoodLoss",
    .min_inputs = 2,
    .max_inputs = 3,
    .infer = infer_loss,
    .compute = [](ComputeContext& ctx) { compute_loss(ctx, /*apply_log_softmax=*/false); },
});

KILN_REGISTER_OP(OpDef{
    .name = "SoftmaxCrossEntropyLoss",
    .min_inputs = 2,
    .max_inputs = 3,
    .min_outputs = 1,
    .max_outputs = 2,
    .infer = infer_loss,
    .compute = [](ComputeContext& ctx) { compute_loss(ctx, /*apply_log_softmax=*/true); },
});

}  // namespace
}  // namespace kiln::ops

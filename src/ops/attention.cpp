// Attention (ONNX opset 25 semantics): scaled dot-product attention over 3-D (batch, seq,
// heads * head_size) or 4-D (batch, heads, seq, head_size) Q, K and V, with grouped-query heads
// (kv_num_heads divides q_num_heads; query head h reads key/value head h / (q_heads /
// kv_heads)), an optional boolean or additive attn_mask, is_causal, a left/right sliding
// window, past_key/past_value concatenated in front of K/V (and returned as present_key/
// present_value), nonpad_kv_seqlen for an external cache, scale, softcap, softmax_precision and
// the optional qk_matmul_output (mode 0: Q*K^T scaled, 1: after softcap, 2: plus the bias, 3:
// the softmax probabilities).
//
// The computation follows the operator's pattern step by step (the ONNX reference
// implementation, onnx/reference/ops/op_attention.py, and the function body agree on it):
//   logits = (Q * sqrt(scale)) @ (K * sqrt(scale))^T
//   capped = softcap > 0 ? softcap * tanh(logits / softcap) : logits
//   probs  = softmax(capped + bias), rows whose bias is -inf everywhere set to 0
//   Y      = probs @ V
// The additive bias is built from the mask (boolean: 0 where true, -inf where false; other
// types: the value itself; keys past the mask's last extent: -inf), plus -inf for keys outside
// the causal frontier (key j <= query i + offset), outside the window, or at/after
// nonpad_kv_seqlen[b]. `offset` is the past length, else nonpad_kv_seqlen[b] - q_seq, else 0.
//
// Arithmetic is in double; each tensor the pattern materializes (the scaled Q and K, the
// logits, the capped logits, the biased logits, the probabilities) is rounded to Q's type, and
// the softmax runs in softmax_precision's type (Q's type when absent) step by step, so
// float16/bfloat16 results land where the ONNX pattern run in that type lands (the backend
// tests' expected float16 outputs differ by 2 ulp from a softmax rounded only once).
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

enum Input : size_t { kQ, kK, kV, kMask, kPastKey, kPastValue, kNonpadKvSeqlen };
enum Output : size_t { kY, kPresentKey, kPresentValue, kQkMatmul };

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

// `v` rounded to the nearest value of the float type `t` (float16/bfloat16/float32/float64).
double round_to(DataType t, double v) {
  switch (t) {
    case DataType::kFloat32:
      return double(float(v));
    case DataType::kFloat16:
      return double(fp16_to_float(float_to_fp16(float(v))));
    case DataType::kBFloat16:
      return double(bf16_to_float(float_to_bf16(float(v))));
    default:
      return v;
  }
}

void store_value(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DataType::kFloat64) {
    t.data<double>()[i] = v;
  } else {
    store_float(t, i, float(v));
  }
}

struct AttentionAttrs {
  std::optional<double> scale;
  bool is_causal = false;
  double softcap = 0;
  int64_t qk_output_mode = 0;
  std::optional<DataType> softmax_precision;
  int64_t left_window = -1;
  int64_t right_window = -1;
};

AttentionAttrs read_attrs(const ir::Node& node) {
  const std::string who = node.describe();
  AttentionAttrs a;
  if (node.has_attr("scale")) a.scale = node.attr_float("scale");
  const int64_t causal = node.attr_int("is_causal", 0);
  KILN_CHECK(causal == 0 || causal == 1, ErrorCode::kInvalidModel, who,
             ": is_causal must be 0 or 1, got ", causal);
  a.is_causal = causal == 1;
  a.softcap = node.attr_float("softcap", 0.0);
  KILN_CHECK(a.softcap >= 0, ErrorCode::kInvalidModel, who, ": softcap must be >= 0, got ",
             a.softcap);
  a.qk_output_mode = node.attr_int("qk_matmul_output_mode", 0);
  KILN_CHECK(a.qk_output_mode >= 0 && a.qk_output_mode <= 3, ErrorCode::kInvalidModel, who,
             ": qk_matmul_output_mode must be 0, 1, 2 or 3, got ", a.qk_output_mode);
  if (node.has_attr("softmax_precision")) {
    // kiln's IR holds int64(kiln::DataType) here (the importer converts ONNX's type number).
    const int64_t p = node.attr_int("softmax_precision");
    const bool known = p >= 0 && p <= int64_t(DataType::kUInt64);
    KILN_CHECK(known && is_float_type(DataType(p)), ErrorCode::kInvalidModel, who,
               ": softmax_precision must be float32, float16, bfloat16 or float64");
    a.softmax_precision = DataType(p);
  }
  a.left_window = node.attr_int("left_window_size", -1);
  a.right_window = node.attr_int("right_window_size", -1);
  KILN_CHECK(a.left_window >= -1 && a.right_window >= -1, ErrorCode::kInvalidModel, who,
             ": left_window_size and right_window_size must be -1 or nonnegative");
  return a;
}

// Extents of the computation, from the input shapes (checked).
struct Geometry {
  bool input_3d = false;
  int64_t batch = 0;
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t q_seq = 0;
  int64_t kv_seq = 0;    // new keys/values in K and V
  int64_t past_seq = 0;  // keys/values in past_key/past_value
  int64_t total_kv = 0;  // past_seq + kv_seq
  int64_t head_size = 0;
  int64_t v_head_size = 0;
};

template <typename Ctx>
Geometry geometry(const Ctx& ctx, const std::vector<const Dims*>& shapes) {
  const ir::Node& node = ctx.node();
  const std::string who = node.describe();
  const Dims& q = *shapes[kQ];
  const Dims& k = *shapes[kK];
  const Dims& v = *shapes[kV];
  KILN_CHECK((q.size() == 3 || q.size() == 4) && k.size() == q.size() && v.size() == q.size(),
             ErrorCode::kInvalidModel, who, ": Q, K and V must all be 3-D or all 4-D, got ",
             to_string(q), ", ", to_string(k), ", ", to_string(v));
  Geometry g;
  g.input_3d = q.size() == 3;
  g.batch = q[0];
  KILN_CHECK(k[0] == g.batch && v[0] == g.batch, ErrorCode::kInvalidModel, who,
             ": Q, K and V have different batch sizes (", to_string(q), ", ", to_string(k), ", ",
             to_string(v), ")");
  const bool has_q_heads = node.has_attr("q_num_heads");
  const bool has_kv_heads = node.has_attr("kv_num_heads");
  if (g.input_3d) {
    KILN_CHECK(has_q_heads && has_kv_heads, ErrorCode::kInvalidModel, who,
               ": 3-D inputs need the q_num_heads and kv_num_heads attributes");
    g.q_heads = node.attr_int("q_num_heads");
    g.kv_heads = node.attr_int("kv_num_heads");
    KILN_CHECK(g.q_heads > 0 && g.kv_heads > 0, ErrorCode::kInvalidModel, who,
               ": q_num_heads and kv_num_heads must be positive");
    KILN_CHECK(q[2] % g.q_heads == 0 && k[2] % g.kv_heads == 0 && v[2] % g.kv_heads == 0,
               ErrorCode::kInvalidModel, who, ": hidden sizes of Q (", q[2], "), K (", k[2],
               ") and V (", v[2], ") must be multiples of their head counts (", g.q_heads, ", ",
               g.kv_heads, ")");
    g.q_seq = q[1];
    g.kv_seq = k[1];
    KILN_CHECK(v[1] == g.kv_seq, ErrorCode::kInvalidModel, who,
               ": K and V have different sequence lengths (", k[1], " vs ", v[1], ")");
    g.head_size = q[2] / g.q_heads;
    KILN_CHECK(k[2] / g.kv_heads == g.head_size, ErrorCode::kInvalidModel, who,
               ": Q and K have different head sizes (", g.head_size, " vs ", k[2] / g.kv_heads,
               ")");
    g.v_head_size = v[2] / g.kv_heads;
  } else {
    g.q_heads = q[1];
    g.kv_heads = k[1];
    // Opsets 23 and 24 allowed the head attributes on 4-D inputs; they must then agree.
    KILN_CHECK(!has_q_heads || node.attr_int("q_num_heads") == g.q_heads, ErrorCode::kInvalidModel,
               who, ": q_num_heads disagrees with Q's shape ", to_string(q));
    KILN_CHECK(!has_kv_heads || node.attr_int("kv_num_heads") == g.kv_heads,
               ErrorCode::kInvalidModel, who, ": kv_num_heads disagrees with K's shape ",
               to_string(k));
    KILN_CHECK(v[1] == g.kv_heads && v[2] == k[2], ErrorCode::kInvalidModel, who,
               ": K and V must have the same heads and sequence length (", to_string(k), " vs ",
               to_string(v), ")");
    KILN_CHECK(k[3] == q[3], ErrorCode::kInvalidModel, who, ": Q and K have different head sizes (",
               to_string(q), " vs ", to_string(k), ")");
    g.q_seq = q[2];
    g.kv_seq = k[2];
    g.head_size = q[3];
    g.v_head_size = v[3];
  }
  KILN_CHECK(g.kv_heads > 0 && g.q_heads % g.kv_heads == 0, ErrorCode::kInvalidModel, who,
             ": the number of query heads (", g.q_heads,
             ") must be a multiple of the number of key/value heads (", g.kv_heads, ")");

  const Dims* past_key = shapes[kPastKey];
  const Dims* past_value = shapes[kPastValue];
  KILN_CHECK((past_key == nullptr) == (past_value == nullptr), ErrorCode::kInvalidModel, who,
             ": past_key and past_value must be given together");
  if (past_key) {
    KILN_CHECK(shapes[kNonpadKvSeqlen] == nullptr, ErrorCode::kInvalidModel, who,
               ": nonpad_kv_seqlen cannot be combined with past_key/past_value");
    const Dims& pk = *past_key;
    const Dims& pv = *past_value;
    KILN_CHECK(pk.size() == 4 && pk[0] == g.batch && pk[1] == g.kv_heads && pk[3] == g.head_size,
               ErrorCode::kInvalidModel, who, ": past_key must be (", g.batch, ", ", g.kv_heads,
               ", past_seq, ", g.head_size, "), got ", to_string(pk));
    KILN_CHECK(pv.size() == 4 && pv[0] == g.batch && pv[1] == g.kv_heads && pv[2] == pk[2] &&
                   pv[3] == g.v_head_size,
               ErrorCode::kInvalidModel, who, ": past_value must be (", g.batch, ", ", g.kv_heads,
               ", ", pk[2], ", ", g.v_head_size, "), got ", to_string(pv));
    g.past_seq = pk[2];
  }
  g.total_kv = g.past_seq + g.kv_seq;

  if (const Dims* mask = shapes[kMask]) {
    KILN_CHECK(!mask->empty() && mask->size() <= 4, ErrorCode::kInvalidModel, who,
               ": attn_mask must have rank 1 to 4, got ", to_string(*mask));
    const Dims target = {g.batch, g.q_heads, g.q_seq, g.total_kv};
    const size_t offset = 4 - mask->size();
    for (size_t d = 0; d + 1 < mask->size(); ++d) {
      const int64_t want = target[offset + d];
      KILN_CHECK((*mask)[d] == 1 || (*mask)[d] == want, ErrorCode::kInvalidModel, who,
                 ": attn_mask ", to_string(*mask),
                 " does not broadcast to (batch, q_heads, "
                 "q_seq, kv_seq) = ",
                 to_string(target));
    }
    // A shorter last extent is padded (as masked keys); a longer one has no meaning.
    KILN_CHECK(mask->back() <= g.total_kv, ErrorCode::kInvalidModel, who, ": attn_mask ",
               to_string(*mask), " covers more keys than the ", g.total_kv, " present");
  }
  if (const Dims* nonpad = shapes[kNonpadKvSeqlen]) {
    KILN_CHECK(nonpad->size() == 1 && (*nonpad)[0] == g.batch, ErrorCode::kInvalidModel, who,
               ": nonpad_kv_seqlen must have shape (", g.batch, "), got ", to_string(*nonpad));
  }
  return g;
}

void infer_attention(InferContext& ctx) {
  const ir::Node& node = ctx.node();
  read_attrs(node);
  std::vector<const Dims*> shapes(7, nullptr);
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (ctx.has_input(i)) shapes[i] = &ctx.input_shape(i);
  }
  const DataType t1 = ctx.input_dtype(kQ);
  const DataType t2 = ctx.input_dtype(kV);
  ctx.check(is_float_type(t1) && is_float_type(t2),
            "Q, K and V must be float16, bfloat16, float32 or float64, got ", to_string(t1),
            " and ", to_string(t2));
  ctx.check(ctx.input_dtype(kK) == t1, "K must have Q's type ", to_string(t1), ", got ",
            to_string(ctx.input_dtype(kK)));
  if (ctx.has_input(kPastKey)) {
    ctx.check(ctx.input_dtype(kPastKey) == t1, "past_key must have Q's type ", to_string(t1));
  }
  if (ctx.has_input(kPastValue)) {
    ctx.check(ctx.input_dtype(kPastValue) == t2, "past_value must have V's type ", to_string(t2));
  }
  if (ctx.has_input(kMask)) {
    const DataType m = ctx.input_dtype(kMask);
    ctx.check(m != DataType::kFloat8E4M3 && m != DataType::kFloat8E5M2, "attn_mask of type ",
              to_string(m), " is not supported");
  }
  if (ctx.has_input(kNonpadKvSeqlen)) {
    ctx.check(ctx.input_dtype(kNonpadKvSeqlen) == DataType::kInt64,
              "nonpad_kv_seqlen must be int64, got ", to_string(ctx.input_dtype(kNonpadKvSeqlen)));
  }
  const Geometry g = geometry(ctx, shapes);

  const auto wanted = [&](size_t i) { return i < node.outputs.size() && node.outputs[i]; };
  if (g.input_3d) {
    ctx.set_output(kY, t1, {g.batch, g.q_seq, g.q_heads * g.v_head_size});
  } else {
    ctx.set_output(kY, t1, {g.batch, g.q_heads, g.q_seq, g.v_head_size});
  }
  if (wanted(kPresentKey)) {
    ctx.set_output(kPresentKey, t1, {g.batch, g.kv_heads, g.total_kv, g.head_size});
  }
  if (wanted(kPresentValue)) {
    ctx.set_output(kPresentValue, t2, {g.batch, g.kv_heads, g.total_kv, g.v_head_size});
  }
  if (wanted(kQkMatmul)) {
    ctx.set_output(kQkMatmul, t1, {g.batch, g.q_heads, g.q_seq, g.total_kv});
  }
}

// Element (b, h, s, d) of Q, K or V, whether 3-D (b, s, h * size + d) or 4-D (b, h, s, d).
int64_t qkv_offset(const Geometry& g, bool is_query, int64_t heads, int64_t size, int64_t b,
                   int64_t h, int64_t s, int64_t d) {
  const int64_t seq = is_query ? g.q_seq : g.kv_seq;
  if (g.input_3d) return ((b * seq + s) * heads + h) * size + d;
  return ((b * heads + h) * seq + s) * size + d;
}

// past ++ new along the sequence, as (batch, kv_heads, total_kv, size) in double.
std::vector<double> present(const Geometry& g, const Tensor* past, const Tensor& current,
                            int64_t size) {
  std::vector<double> out(size_t(g.batch * g.kv_heads * g.total_kv * size));
  size_t at = 0;
  for (int64_t b = 0; b < g.batch; ++b) {
    for (int64_t h = 0; h < g.kv_heads; ++h) {
      for (int64_t s = 0; s < g.total_kv; ++s) {
        for (int64_t d = 0; d < size; ++d) {
          out[at++] = s < g.past_seq
                          ? past->as_double(((b * g.kv_heads + h) * g.past_seq + s) * size + d)
                          : current.as_double(
                                qkv_offset(g, false, g.kv_heads, size, b, h, s - g.past_seq, d));
        }
      }
    }
  }
  return out;
}

void write_all(Tensor& out, const std::vector<double>& values) {
  for (int64_t i = 0; i < out.numel(); ++i) store_value(out, i, values[size_t(i)]);
}

// The additive bias of every (b, h, i, j), computed one query row at a time.
class AttentionBias {
 public:
  AttentionBias(const Geometry& g, const AttentionAttrs& a, const Tensor* mask,
                const Tensor* nonpad, DataType t1)
      : g_(g), a_(a), mask_(mask), t1_(t1) {
    if (mask_) {
      mask_len_ = mask_->shape().back();
      const Dims target = {g.batch, g.q_heads, g.q_seq, mask_len_};
      mask_strides_ = broadcast_strides(mask_->shape(), target);
    }
    if (nonpad) nonpad_ = nonpad->to_int64_vector();
  }

  // Keys before this query block: the past length, else nonpad_kv_seqlen[b] - q_seq, else 0.
  int64_t offset(int64_t b) const {
    if (g_.past_seq > 0 || nonpad_.empty()) return g_.past_seq;
    return nonpad_[size_t(b)] - g_.q_seq;
  }

  void row(int64_t b, int64_t h, int64_t i, std::vector<double>& bias) const {
    bias.assign(size_t(g_.total_kv), 0.0);
    const int64_t position = offset(b) + i;
    for (int64_t j = 0; j < g_.total_kv; ++j) {
      double v = 0;
      if (mask_) v = mask_value(b, h, i, j);
      if (a_.is_causal && j > position) v += kNegInf;
      const int64_t distance = position - j;  // > 0: the key precedes the query
      const bool in_window = (a_.left_window < 0 || distance <= a_.left_window) &&
                             (a_.right_window < 0 || -distance <= a_.right_window);
      if (!in_window) v += kNegInf;
      if (!nonpad_.empty() && j >= nonpad_[size_t(b)]) v += kNegInf;
      bias[size_t(j)] = round_to(t1_, v);
    }
  }

 private:
  double mask_value(int64_t b, int64_t h, int64_t i, int64_t j) const {
    if (j >= mask_len_) return kNegInf;  // keys past the mask's extent are masked
    const int64_t at =
        b * mask_strides_[0] + h * mask_strides_[1] + i * mask_strides_[2] + j * mask_strides_[3];
    if (mask_->dtype() == DataType::kBool) return mask_->data<bool>()[at] ? 0.0 : kNegInf;
    return mask_->as_double(at);
  }

  const Geometry& g_;
  const AttentionAttrs& a_;
  const Tensor* mask_;
  DataType t1_;
  int64_t mask_len_ = 0;
  Dims mask_strides_;
  std::vector<int64_t> nonpad_;
};

// Softmax of one row in place, in the float type `t`: the shifted scores, their exponentials,
// their sum and the quotients are each rounded to `t`, as the softmax computed in that type
// does (a float16 softmax accumulates visibly coarser than a float32 one rounded once).
// NaN-propagating like numpy; a row whose maximum is -inf gives zeros, not NaN.
void softmax_row(std::vector<double>& x, DataType t) {
  double max_value = kNegInf;
  for (double v : x) {
    if (std::isnan(v) || v > max_value) max_value = v;
    if (std::isnan(v)) break;
  }
  const double shift = max_value == kNegInf ? 0.0 : max_value;
  double sum = 0;
  for (double& v : x) {
    v = round_to(t, std::exp(round_to(t, v - shift)));
    sum += v;
  }
  sum = round_to(t, sum);
  if (sum == 0) sum = 1;
  for (double& v : x) v = round_to(t, v / sum);
}

void compute_attention(ComputeContext& ctx) {
  const ir::Node& node = ctx.node();
  const AttentionAttrs a = read_attrs(node);
  std::vector<const Dims*> shapes(7, nullptr);
  for (size_t i = 0; i < shapes.size(); ++i) {
    if (ctx.has_input(i)) shapes[i] = &ctx.input(i).shape();
  }
  const Geometry g = geometry(ctx, shapes);
  const Tensor& q = ctx.input(kQ);
  const DataType t1 = q.dtype();
  const Tensor* past_key = ctx.has_input(kPastKey) ? &ctx.input(kPastKey) : nullptr;
  const Tensor* past_value = ctx.has_input(kPastValue) ? &ctx.input(kPastValue) : nullptr;
  const std::vector<double> keys = present(g, past_key, ctx.input(kK), g.head_size);
  const std::vector<double> values = present(g, past_value, ctx.input(kV), g.v_head_size);
  if (ctx.has_output(kPresentKey)) write_all(ctx.output(kPresentKey), keys);
  if (ctx.has_output(kPresentValue)) write_all(ctx.output(kPresentValue), values);

  const AttentionBias bias_of(
      g, a, ctx.has_input(kMask) ? &ctx.input(kMask) : nullptr,
      ctx.has_input(kNonpadKvSeqlen) ? &ctx.input(kNonpadKvSeqlen) : nullptr, t1);
  // sqrt(scale) multiplies both Q and K, in Q's type.
  const double scale = a.scale ? *a.scale : 1.0 / std::sqrt(double(g.head_size));
  const double factor = round_to(t1, std::sqrt(scale));
  // Without softmax_precision the attention weights stay in Q's type through the softmax.
  const DataType softmax_type = a.softmax_precision.value_or(t1);
  const int64_t group = g.q_heads / g.kv_heads;
  Tensor& y = ctx.output(kY);
  Tensor* qk_out = ctx.has_output(kQkMatmul) ? &ctx.output(kQkMatmul) : nullptr;

  std::vector<double> scaled_q(size_t(g.head_size));
  std::vector<double> scaled_k(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) scaled_k[i] = round_to(t1, keys[i] * factor);
  std::vector<double> bias, logits, capped, with_bias, probs;
  for (int64_t b = 0; b < g.batch; ++b) {
    for (int64_t h = 0; h < g.q_heads; ++h) {
      const int64_t kv_head = h / group;
      const double* k_head =
          &scaled_k[size_t((b * g.kv_heads + kv_head) * g.total_kv * g.head_size)];
      const double* v_head =
          &values[size_t((b * g.kv_heads + kv_head) * g.total_kv * g.v_head_size)];
      for (int64_t i = 0; i < g.q_seq; ++i) {
        for (int64_t d = 0; d < g.head_size; ++d) {
          const double x = q.as_double(qkv_offset(g, true, g.q_heads, g.head_size, b, h, i, d));
          scaled_q[size_t(d)] = round_to(t1, x * factor);
        }
        bias_of.row(b, h, i, bias);
        logits.assign(size_t(g.total_kv), 0.0);
        capped.assign(size_t(g.total_kv), 0.0);
        with_bias.assign(size_t(g.total_kv), 0.0);
        probs.assign(size_t(g.total_kv), 0.0);
        bool all_masked = true;
        for (int64_t j = 0; j < g.total_kv; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < g.head_size; ++d) {
            dot += scaled_q[size_t(d)] * k_head[j * g.head_size + d];
          }
          const size_t jj = size_t(j);
          logits[jj] = round_to(t1, dot);
          capped[jj] = a.softcap > 0 ? round_to(t1, a.softcap * std::tanh(logits[jj] / a.softcap))
                                     : logits[jj];
          with_bias[jj] = round_to(t1, capped[jj] + bias[jj]);
          probs[jj] = round_to(softmax_type, with_bias[jj]);
          // Decided on the bias, not the logits, so NaN/inf scores cannot unmask a row.
          if (!(bias[jj] == kNegInf)) all_masked = false;
        }
        softmax_row(probs, softmax_type);
        for (double& p : probs) p = all_masked ? 0.0 : round_to(t1, p);
        const int64_t row = ((b * g.q_heads + h) * g.q_seq + i) * g.total_kv;
        if (qk_out) {
          const std::vector<double>* chosen = &logits;
          if (a.qk_output_mode == 1) chosen = &capped;
          if (a.qk_output_mode == 2) chosen = &with_bias;
          if (a.qk_output_mode == 3) chosen = &probs;
          for (int64_t j = 0; j < g.total_kv; ++j) {
            store_value(*qk_out, row + j, (*chosen)[size_t(j)]);
          }
        }
        for (int64_t d = 0; d < g.v_head_size; ++d) {
          double sum = 0;
          for (int64_t j = 0; j < g.total_kv; ++j) {
            sum += probs[size_t(j)] * v_head[j * g.v_head_size + d];
          }
          // Y is (b, s, h * v_head_size + d) for 3-D inputs, (b, h, s, d) for 4-D.
          const int64_t at = g.input_3d ? ((b * g.q_seq + i) * g.q_heads + h) * g.v_head_size + d
                                        : ((b * g.q_heads + h) * g.q_seq + i) * g.v_head_size + d;
          store_value(y, at, sum);
        }
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "Attention",
    .min_inputs = 3,
    .max_inputs = 7,
    .min_outputs = 1,
    .max_outputs = 4,
    .infer = infer_attention,
    .compute = compute_attention,
});

}  // namespace
}  // namespace kiln::ops

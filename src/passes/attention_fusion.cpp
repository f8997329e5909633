#include "passes/attention_fusion.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/error.h"
#include "passes/graph_queries.h"

namespace kiln::passes {

namespace {

// One match, before the rewrite.
struct Match {
  ir::Value* q = nullptr;
  ir::Value* k = nullptr;  // [B, H, S, D]: the K^T chain is absorbed
  ir::Value* v = nullptr;
  ir::Value* mask = nullptr;  // additive float mask, boolean mask, or none
  bool causal = false;        // the mask was a constant lower triangle: is_causal instead
  double scale = 1.0;
  // K arrives as [B * H, S, D] (torchvision's ViT: no 4-D K exists): the rewrite reshapes it to
  // k_shape ([-1, H, S, D]) first, and `k` is null.
  ir::Value* k_flat = nullptr;
  std::vector<int64_t> k_shape;
  ir::Node* output_matmul = nullptr;
  // The 3-D form: Q, K and V each come from a [B, S, H * D] tensor through Reshape([B, S, H, D])
  // -> Transpose([0, 2, 1, 3]), and Y goes back through Transpose([0, 2, 1, 3]) -> Reshape.
  // Attention then reads and writes the 3-D tensors (q_num_heads = kv_num_heads = heads) and
  // the four head transposes disappear. Null when not all of it matches.
  ir::Value* q3 = nullptr;
  ir::Value* k3 = nullptr;
  ir::Value* v3 = nullptr;
  ir::Node* output_reshape = nullptr;  // reads the fused 3-D output instead of the transpose
  int64_t heads = 0;
};

class Matcher {
 public:
  Matcher(const ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points)
      : graph_(graph), readers_(graph), descs_(points) {}

  std::optional<Match> match(ir::Node& softmax) const {
    if (softmax.op != "Softmax" || !softmax.has_input(0) || !softmax.outputs[0]) return {};
    ir::Value* scores = softmax.inputs[0];
    const auto score_shapes = descs_.extents(scores);
    if (!score_shapes || score_shapes->front().size() != 4) return {};
    const int64_t axis = softmax.attr_int("axis", -1);
    if (axis != -1 && axis != 3) return {};

    // Softmax -> [IsNaN/Where guard] -> MatMul(P, V).
    ir::Value* probs = softmax.outputs[0];
    if (is_graph_output(graph_, probs)) return {};
    const std::vector<ir::Node*>& prob_users = readers_.of(probs);
    ir::Node* consumer = nullptr;
    if (prob_users.size() == 1) {
      consumer = prob_users[0];
    } else if (prob_users.size() == 2) {
      ir::Node* is_nan = prob_users[0]->op == "IsNaN" ? prob_users[0] : prob_users[1];
      ir::Node* where = is_nan == prob_users[0] ? prob_users[1] : prob_users[0];
      if (is_nan->op != "IsNaN" || where->op != "Where" || !is_nan->outputs[0] ||
          !where->outputs[0] || where->inputs.size() != 3) {
        return {};
      }
      ir::Value* nan_flags = is_nan->outputs[0];
      if (is_graph_output(graph_, nan_flags) || readers_.of(nan_flags).size() != 1 ||
          where->inputs[0] != nan_flags || !scalar_constant_is(where->inputs[1], 0.0) ||
          where->inputs[2] != probs) {
        return {};
      }
      ir::Value* guarded = where->outputs[0];
      if (is_graph_output(graph_, guarded) || readers_.of(guarded).size() != 1 ||
          !descs_.same_extents(guarded, probs)) {
        return {};
      }
      consumer = readers_.of(guarded)[0];
      if (consumer->inputs.size() != 2 || consumer->inputs[0] != guarded) return {};
    } else {
      return {};
    }
    if (consumer->op != "MatMul" || consumer->inputs.size() != 2 || !consumer->outputs[0])
      return {};
    if (prob_users.size() == 1 && consumer->inputs[0] != probs) return {};

    Match m;
    m.output_matmul = consumer;
    m.v = consumer->inputs[1];
    if (!m.v) return {};

    // The scores: [Add mask | Where(mask)] over [scale] over MatMul(Q', K').
    ir::Node* producer = readers_.private_producer(scores);
    if (!producer) return {};
    if (producer->op == "Add" && producer->inputs.size() == 2) {
      for (int first = 0; first < 2; ++first) {
        ir::Value* logits = producer->inputs[size_t(first)];
        ir::Value* mask = producer->inputs[size_t(1 - first)];
        Match attempt = m;
        attempt.mask = mask;
        if (match_mask(mask, scores, false) && match_logits(logits, attempt)) {
          if (is_causal_mask(mask, scores, false)) {
            attempt.mask = nullptr;
            attempt.causal = true;
          }
          return finish(attempt, scores);
        }
      }
      return {};
    }
    if (producer->op == "Where" && producer->inputs.size() == 3 && producer->inputs[0] &&
        producer->inputs[1]) {
      ir::Value* cond = producer->inputs[0];
      if (!scalar_constant_at_most(producer->inputs[2], -1e30)) return {};
      if (!match_mask(cond, scores, true)) return {};
      m.mask = cond;
      if (!match_logits(producer->inputs[1], m)) return {};
      if (is_causal_mask(cond, scores, true)) {
        m.mask = nullptr;
        m.causal = true;
      }
      return finish(m, scores);
    }
    if (!match_logits(scores, m)) return {};
    return finish(m, scores);
  }

 private:
  // A mask that Attention reads as the pattern did: it broadcasts to the scores without
  // growing them (rank <= 4, every extent 1 or the scores'), and its last extent is the key
  // count (Attention pads a shorter last extent with masked keys, unlike broadcasting).
  bool match_mask(const ir::Value* mask, const ir::Value* scores, bool boolean) const {
    const auto mask_type = descs_.dtype(mask), score_type = descs_.dtype(scores);
    if (!mask_type || !score_type) return false;
    if (boolean ? *mask_type != DataType::kBool : *mask_type != *score_type) return false;
    const auto ms = descs_.extents(mask), ss = descs_.extents(scores);
    if (!ms || !ss) return false;
    for (size_t p = 0; p < ms->size(); ++p) {
      const Dims& m = (*ms)[p];
      const Dims& s = (*ss)[p];
      if (m.empty() || m.size() > 4 || m.back() != s.back()) return false;
      const size_t offset = s.size() - m.size();
      for (size_t d = 0; d < m.size(); ++d) {
        if (m[d] != 1 && m[d] != s[offset + d]) return false;
      }
    }
    return true;
  }

  // Peels scalar Mul/Div nodes off `v`, multiplying their factor into `scale`; returns the
  // value under them. `private_only`: only nodes whose output nothing else reads (the scores
  // chain); Q's and K's scalings may have other readers, which keep them.
  ir::Value* peel_scale(ir::Value* v, double& scale, bool private_only) const {
    for (int guard = 0; guard < 8 && v && v->producer; ++guard) {
      ir::Node* n = v->producer;
      if (private_only && !readers_.private_producer(v)) return v;
      if ((n->op != "Mul" && n->op != "Div") || n->inputs.size() != 2) return v;
      const std::optional<double> second = scalar_constant(n->inputs[1]);
      const std::optional<double> first = scalar_constant(n->inputs[0]);
      ir::Value* other = nullptr;
      double factor = 1;
      if (second) {
        other = n->inputs[0];
        factor = n->op == "Mul" ? *second : 1.0 / *second;
      } else if (first && n->op == "Mul") {
        other = n->inputs[1];
        factor = *first;
      } else {
        return v;
      }
      // The constant must not broadcast the result beyond the other operand's shape.
      if (!other || !descs_.same_extents(other, v) || !std::isfinite(factor) || factor == 0) {
        return v;
      }
      scale *= factor;
      v = other;
    }
    return v;
  }

  // K^T -> K: Transpose(K, [0, 1, 3, 2]) or Reshape -> Transpose([0, 2, 1]) -> Reshape that
  // only swaps the last two dims of a 4-D K.
  ir::Value* untranspose(ir::Value* kt) const {
    if (!kt || !kt->producer) return nullptr;
    ir::Node* n = kt->producer;
    if (n->op == "Transpose" && n->has_input(0)) {
      if (n->attr_ints("perm", {}) != std::vector<int64_t>{0, 1, 3, 2}) return nullptr;
      return n->inputs[0];
    }
    if (n->op != "Reshape" || !n->has_input(0)) return nullptr;
    ir::Node* t = n->inputs[0]->producer;
    if (!t || t->op != "Transpose" || !t->has_input(0) ||
        t->attr_ints("perm", {}) != std::vector<int64_t>{0, 2, 1}) {
      return nullptr;
    }
    ir::Node* r = t->inputs[0]->producer;
    if (!r || r->op != "Reshape" || !r->has_input(0)) return nullptr;
    ir::Value* k = r->inputs[0];
    const auto ks = descs_.extents(k), rs = descs_.extents(r->outputs[0]),
               ts = descs_.extents(t->outputs[0]), out = descs_.extents(kt);
    if (!ks || !rs || !ts || !out) return nullptr;
    for (size_t p = 0; p < ks->size(); ++p) {
      const Dims& K = (*ks)[p];
      if (K.size() != 4) return nullptr;
      const Dims flat = {K[0] * K[1], K[2], K[3]};
      if ((*rs)[p] != flat || (*ts)[p] != Dims{flat[0], K[3], K[2]} ||
          (*out)[p] != Dims{K[0], K[1], K[3], K[2]}) {
        return nullptr;
      }
    }
    return k;
  }

  // K^T = Reshape(Transpose(X, [0, 2, 1]), [B, H, D, S]) with X = [B * H, S, D] at every profile
  // point, H, S and D the same at all of them: the shape [-1, H, S, D] that makes K of X.
  std::optional<std::vector<int64_t>> flat_key_shape(const ir::Value* kt) const {
    ir::Node* r = kt ? kt->producer : nullptr;
    if (!r || r->op != "Reshape" || !r->has_input(0)) return std::nullopt;
    ir::Node* t = r->inputs[0]->producer;
    if (!t || t->op != "Transpose" || !t->has_input(0) ||
        t->attr_ints("perm", {}) != std::vector<int64_t>{0, 2, 1}) {
      return std::nullopt;
    }
    const auto xs = descs_.extents(t->inputs[0]), out = descs_.extents(kt);
    if (!xs || !out) return std::nullopt;
    std::optional<std::vector<int64_t>> shape;
    for (size_t p = 0; p < xs->size(); ++p) {
      const Dims& X = (*xs)[p];
      const Dims& KT = (*out)[p];
      if (X.size() != 3 || KT.size() != 4 || KT[0] * KT[1] != X[0] || KT[2] != X[2] ||
          KT[3] != X[1]) {
        return std::nullopt;
      }
      const std::vector<int64_t> here = {-1, KT[1], KT[3], KT[2]};
      if (shape && *shape != here) return std::nullopt;
      shape = here;
    }
    return shape;
  }

  // A constant mask that is exactly Attention's is_causal for these scores: every extent but
  // the last two 1, those [S_q, S_k], and key j of query i kept (0 additive, or true) where
  // j <= i and masked (at or below -1e30, or false) elsewhere.
  bool is_causal_mask(const ir::Value* mask, const ir::Value* scores, bool boolean) const {
    if (!mask || !mask->is_constant()) return false;
    const Tensor& c = *mask->constant;
    const Dims& ms = c.shape();
    const auto ss = descs_.extents(scores);
    if (!ss || ms.size() < 2) return false;
    const int64_t rows = ms[ms.size() - 2], cols = ms.back();
    for (size_t d = 0; d + 2 < ms.size(); ++d) {
      if (ms[d] != 1) return false;
    }
    for (const Dims& s : *ss) {
      if (s.size() != 4 || s[2] != rows || s[3] != cols) return false;
    }
    if (boolean ? c.dtype() != DataType::kBool : !is_compute_float(c.dtype())) return false;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const double v = c.as_double(i * cols + j);
        const bool kept = boolean ? v != 0.0 : v == 0.0;
        const bool masked = boolean ? v == 0.0 : v <= -1e30;
        if (j <= i ? !kept : !masked) return false;
      }
    }
    return true;
  }

  // logits = [scale] MatMul([a] Q, [b] K^T): fills q, k and the scale.
  bool match_logits(ir::Value* logits, Match& m) const {
    double scale = 1.0;
    ir::Value* product = peel_scale(logits, scale, true);
    ir::Node* mm = readers_.private_producer(product);
    if (!mm || mm->op != "MatMul" || mm->inputs.size() != 2) return false;
    ir::Value* q = peel_scale(mm->inputs[0], scale, false);
    ir::Value* kt = peel_scale(mm->inputs[1], scale, false);
    ir::Value* k = untranspose(kt);
    if (!q) return false;
    if (!k) {
      // [B * H, S, D] -> Transpose([0, 2, 1]) -> Reshape([B, H, D, S]) without a 4-D K.
      const std::optional<std::vector<int64_t>> shape = flat_key_shape(kt);
      if (!shape) return false;
      m.k_flat = kt->producer->inputs[0]->producer->inputs[0];
      m.k_shape = *shape;
    }
    m.q = q;
    m.k = k;
    m.scale = scale;
    return true;
  }

  // Shape and type checks of the whole match at every profile point.
  std::optional<Match> finish(Match m, const ir::Value* scores) const {
    const ir::Value* key = m.k ? m.k : m.k_flat;
    const auto qt = descs_.dtype(m.q), kt = descs_.dtype(key), vt = descs_.dtype(m.v),
               st = descs_.dtype(scores);
    if (!qt || !is_compute_float(*qt) || kt != qt || vt != qt || st != qt) return {};
    const auto qs = descs_.extents(m.q), ks = descs_.extents(key), vs = descs_.extents(m.v),
               ss = descs_.extents(scores), ys = descs_.extents(m.output_matmul->outputs[0]);
    if (!qs || !ks || !vs || !ss || !ys) return {};
    for (size_t p = 0; p < qs->size(); ++p) {
      const Dims &q = (*qs)[p], &v = (*vs)[p], &flat = (*ks)[p];
      if (q.size() != 4) return {};
      // A [B * H, S, D] key seen as [B, H, S, D] (flat_key_shape checked the split).
      if (!m.k && (flat.size() != 3 || q[0] * m.k_shape[1] != flat[0])) return {};
      const Dims k = m.k ? flat : Dims{q[0], m.k_shape[1], flat[1], flat[2]};
      if (q.size() != 4 || k.size() != 4 || v.size() != 4) return {};
      if (k[0] != q[0] || v[0] != q[0] || k[1] != q[1] || v[1] != q[1]) return {};
      if (k[3] != q[3] || v[2] != k[2]) return {};
      if ((*ss)[p] != Dims{q[0], q[1], q[2], k[2]}) return {};
      if ((*ys)[p] != Dims{q[0], q[1], q[2], v[3]}) return {};
    }
    if (!std::isfinite(m.scale) || m.scale <= 0) return {};
    match_three_dimensional(m);
    return m;
  }

  // [B, S, H * D] -> Reshape [B, S, H, D] -> Transpose [0, 2, 1, 3] = `v`: the 3-D tensor.
  ir::Value* three_dimensional_source(const ir::Value* v) const {
    ir::Node* t = v ? v->producer : nullptr;
    if (!t || t->op != "Transpose" || !t->has_input(0) ||
        t->attr_ints("perm", {}) != std::vector<int64_t>{0, 2, 1, 3}) {
      return nullptr;
    }
    ir::Node* r = t->inputs[0]->producer;
    if (!r || r->op != "Reshape" || !r->has_input(0)) return nullptr;
    ir::Value* x = r->inputs[0];
    const auto xs = descs_.extents(x), rs = descs_.extents(r->outputs[0]);
    if (!xs || !rs) return nullptr;
    for (size_t p = 0; p < xs->size(); ++p) {
      const Dims& X = (*xs)[p];
      const Dims& R = (*rs)[p];
      if (X.size() != 3 || R.size() != 4 || R[0] != X[0] || R[1] != X[1] || R[2] * R[3] != X[2]) {
        return nullptr;
      }
    }
    return x;
  }

  void match_three_dimensional(Match& m) const {
    if (!m.k) return;
    ir::Value* q3 = three_dimensional_source(m.q);
    ir::Value* k3 = three_dimensional_source(m.k);
    ir::Value* v3 = three_dimensional_source(m.v);
    if (!q3 || !k3 || !v3) return;
    // Y's only reader is Transpose [0, 2, 1, 3], whose only reader is a Reshape's data input.
    ir::Value* y = m.output_matmul->outputs[0];
    if (is_graph_output(graph_, y) || readers_.of(y).size() != 1) return;
    ir::Node* t = readers_.of(y)[0];
    if (t->op != "Transpose" || t->attr_ints("perm", {}) != std::vector<int64_t>{0, 2, 1, 3} ||
        !t->outputs[0] || is_graph_output(graph_, t->outputs[0]) ||
        readers_.of(t->outputs[0]).size() != 1) {
      return;
    }
    ir::Node* r = readers_.of(t->outputs[0])[0];
    if (r->op != "Reshape" || r->inputs.size() < 2 || r->inputs[0] != t->outputs[0] ||
        r->inputs[1] == t->outputs[0]) {
      return;
    }
    m.q3 = q3;
    m.k3 = k3;
    m.v3 = v3;
    m.output_reshape = r;
    m.heads = (*descs_.extents(m.q))[0][1];
  }

  const ir::Graph& graph_;
  const Readers readers_;
  const ValueDescs descs_;
};

}  // namespace

bool attention_fusion_enabled() {
  const char* env = std::getenv("KILN_ATTENTION_FUSION");
  return !(env && std::strcmp(env, "0") == 0);
}

size_t fuse_attention(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points) {
  if (points.empty()) return 0;
  std::vector<Match> matches;
  {
    const Matcher matcher(graph, points);
    for (auto& node : graph.nodes()) {
      if (auto m = matcher.match(*node)) matches.push_back(*m);
    }
  }
  for (const Match& m : matches) {
    ir::Node* old = m.output_matmul;
    auto position = position_of(graph, old);
    KILN_ASSERT(position != graph.nodes().end());
    ir::Value* y = old->outputs[0];
    const std::string name = graph.unique_name(old->name + "_attention");
    ir::Attributes attrs = {{"scale", m.scale}};
    if (m.causal) attrs["is_causal"] = int64_t(1);
    if (m.output_reshape) {
      // 3-D: the Reshape after the output transpose reads the fused output; the MatMul and the
      // transposes around the heads are left unread for dead-code elimination.
      attrs["q_num_heads"] = m.heads;
      attrs["kv_num_heads"] = m.heads;
      ir::Node* fused = graph.insert_node(position, "Attention", name, {m.q3, m.k3, m.v3, m.mask},
                                          {graph.unique_name(y->name + "_attention")}, attrs);
      if (!m.mask) fused->inputs.pop_back();
      m.output_reshape->inputs[0] = fused->outputs[0];
      continue;
    }
    ir::Value* k = m.k;
    if (!k) {
      const Tensor shape =
          Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(m.k_shape.size())}, m.k_shape);
      ir::Node* reshape = graph.insert_node(
          position, "Reshape", graph.unique_name(old->name + "_key"),
          {m.k_flat, graph.add_constant(graph.unique_name(old->name + "_key_shape"), shape)},
          {graph.unique_name(m.k_flat->name + "_heads")});
      k = reshape->outputs[0];
    }
    ir::Node* fused = graph.insert_node(position, "Attention", name, {m.q, k, m.v, m.mask},
                                        {graph.unique_name(y->name + "_unfused")}, attrs);
    if (!m.mask) fused->inputs.pop_back();
    // The fused node produces the MatMul's value itself (its name, its readers, and the
    // pointers other matches hold stay valid); the old MatMul is left with an unread value
    // for dead-code elimination.
    ir::Value* spare = fused->outputs[0];
    fused->outputs[0] = y;
    y->producer = fused;
    old->outputs[0] = spare;
    spare->producer = old;
  }
  return matches.size();
}

namespace {

class AttentionFusion : public Pass {
 public:
  explicit AttentionFusion(const PassContext& context) : context_(context) {}
  std::string name() const override { return "attention_fusion"; }
  bool apply(ir::Graph& graph) override {
    fused_ = fuse_attention(graph, context_.points);
    return fused_ > 0;
  }
  std::string summary() const override {
    return fused_ ? cat("attention fusion: ", fused_, " attention blocks") : std::string();
  }

 private:
  const PassContext& context_;
  size_t fused_ = 0;
};

}  // namespace

std::unique_ptr<Pass> make_attention_fusion(const PassContext& context) {
  return std::make_unique<AttentionFusion>(context);
}

}  // namespace kiln::passes

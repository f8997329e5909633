// Attention fusion: rewrites the scaled dot-product attention that exporters spell out op by op
// into one ONNX `Attention` node (4-D [batch, heads, seq, head_size] operands), so that a fused
// kernel runs it without materializing the [batch, heads, q_seq, kv_seq] score tensor.
//
// Matched, in the forms torch.onnx.export writes for HuggingFace BERT/GPT-2 (both the dynamo
// exporter's scaled_dot_product_attention and the eager "MatMul / Div / Add" form) and for
// torchvision's ViT:
//
//   Q' = Q [* a]        K' = K^T [* b]        (a, b scalar constants)
//   S  = MatMul(Q', K') [* c | / c]           (c a scalar constant)
//   S  = S + M          (optional: a float mask broadcasting to S without growing it), or
//   S  = Where(C, S, n) (optional: a boolean mask C, n a scalar constant at or below -1e30)
//   P  = Softmax(S, axis = last) [-> Where(IsNaN(P), 0, P)]
//   Y  = MatMul(P, V)
//
// K^T is Transpose(K, perm = [0, 1, 3, 2]), or the exporter's Reshape([B*H, S, D]) ->
// Transpose([0, 2, 1]) -> Reshape([B, H, D, S]) chain; where no 4-D K exists (torchvision's
// ViT splits the heads of a [B * H, S, D] key), the rewrite reshapes that key to
// [-1, H, S, D] itself. Q, K and V are 4-D with the same batch and head count at every
// profile point. The result is
//   Y = Attention(Q, K, V, M or C, scale = a * b * c (or / c)).
// A constant M or C that is exactly a lower triangle over [S_q, S_k] (0 or true where key
// j <= query i, at or below -1e30 or false elsewhere; GPT-2's causal mask once folded) becomes
// is_causal = 1 instead: the kernel skips the masked key tiles rather than reading a mask.
// Where Q, K and V each come from a [B, S, H * D] tensor through Reshape([B, S, H, D]) ->
// Transpose([0, 2, 1, 3]) and Y leaves through Transpose([0, 2, 1, 3]) -> Reshape (as the
// exporters write the heads' split and merge), Attention takes the 3-D form instead
// (q_num_heads = kv_num_heads = H) and those four transposes disappear too.
// Numerics are the pattern's, with two documented edge cases: where every key of a row is
// masked, a finite "-inf" (Where's n, or a huge negative additive mask) gave the pattern a
// uniform average where Attention with a boolean mask gives 0, and the IsNaN guard's zeroing
// of NaN probabilities coming from NaN inputs is not reproduced (Attention gives 0 only for
// rows masked with -inf).
//
// Anything else (an intermediate read by another node or marked as output, other shapes,
// non-constant scales, a mask whose last extent broadcasts) is left unfused.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "ops/shape_inference.h"
#include "passes/pass.h"

namespace kiln::passes {

// Fuses every exact match in `graph`, whose types and shapes are resolved at each profile
// point in `points` (the checks hold at every point). Returns the number of Attention nodes
// created; the caller removes dead code and resolves shapes again.
size_t fuse_attention(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points);

// Whether the builder runs the fusion (FP16/BF16 GPU engines): yes unless the environment
// variable KILN_ATTENTION_FUSION is "0" (to compare with the unfused chain). Measured on an H100
// (FP16, kiln exec --useCudaGraph medians), the one-pass kernel against the unfused chain
// (cuBLASLt products + softmax): BERT-base batch 32 3.27 -> 2.13 ms, ViT-B/16 batch 64
// 14.97 -> 13.50 ms, GPT-2 batch 1 0.867 -> 0.796 ms (12 blocks fused in each).
bool attention_fusion_enabled();

// fuse_attention as a Pass, at the points in `context`.
std::unique_ptr<Pass> make_attention_fusion(const PassContext& context);

}  // namespace kiln::passes

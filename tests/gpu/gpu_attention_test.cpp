// The fused CUDA Attention kernel against the CPU backend's reference (src/ops/attention.cpp),
// on random inputs through one-node networks; and the attention fusion pass end to end: an
// unfused MatMul -> scale -> mask -> Softmax -> MatMul network built for the GPU with FP16
// (fused into one Attention node, then lowered) against the same network on the CPU in float32.
//
// Tolerances (relative L2): float32 1e-5 (FP32 math throughout). float16 2e-3 and bfloat16
// 1.5e-2: the reference rounds each intermediate of the ONNX pattern to the type, as the
// kernel does, but accumulates in double and rounds every probability before P @ V, where the
// kernel accumulates in float32 and divides by the sum once at the end. The fused FP16
// networks are compared with float32 CPU results: 1e-2 (float16 storage of Q, K, V and the
// probabilities).
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::cst;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::ints;
using gpu_test::random_tensor;

constexpr double kFp16Tolerance = 2e-3;
constexpr double kBf16Tolerance = 1.5e-2;

GpuOptions tolerance_for(DataType t) {
  if (t == DataType::kFloat16) return GpuOptions{kFp16Tolerance};
  if (t == DataType::kBFloat16) return GpuOptions{kBf16Tolerance};
  return GpuOptions{1e-5};
}

// ---------------------------------------------------------------------------------------------
// The Attention op

TEST(GpuAttention, FourDimensionalEveryFloatType) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(to_string(t));
    const std::string d =
        check_op("Attention",
                 {in(random_tensor(t, {2, 3, 5, 8}, 1)), in(random_tensor(t, {2, 3, 7, 8}, 2)),
                  in(random_tensor(t, {2, 3, 7, 8}, 3))},
                 {}, tolerance_for(t));
    EXPECT_TRUE(has(d, "cuda_flash_attention")) << d;
  }
}

// BERT-base's shape (head size 64, 128 tokens: two key tiles, two query blocks) with an
// additive padding mask, and the same causal.
TEST(GpuAttention, BertShapeWithPaddingMaskAndCausal) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(to_string(t));
    Tensor mask32 = random_tensor(DataType::kFloat32, {2, 1, 1, 128}, 4, -1.0, 1.0);
    for (int64_t j = 100; j < 128; ++j) mask32.data<float>()[128 + j] = -10000.0f;  // batch 1 pads
    const Tensor mask = mask32.cast(t);
    const Tensor q = random_tensor(t, {2, 12, 128, 64}, 5);
    const Tensor k = random_tensor(t, {2, 12, 128, 64}, 6);
    const Tensor v = random_tensor(t, {2, 12, 128, 64}, 7);
    check_op("Attention", {in(q), in(k), in(v), in(mask)}, {}, tolerance_for(t));
    check_op(
        "Attention", {in(q), in(k), in(v)}, [](ILayer& l) { l.set_int("is_causal", 1); },
        tolerance_for(t));
  }
}

// Odd extents: 100 queries and 77 keys (partial tiles), head sizes 24 (padded to 32) and 80/96
// (padded to 128), V's head size different from Q's.
TEST(GpuAttention, PartialTilesAndPaddedHeadSizes) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(to_string(t));
    check_op("Attention",
             {in(random_tensor(t, {1, 2, 100, 24}, 1)), in(random_tensor(t, {1, 2, 77, 24}, 2)),
              in(random_tensor(t, {1, 2, 77, 24}, 3))},
             {}, tolerance_for(t));
    check_op(
        "Attention",
        {in(random_tensor(t, {2, 2, 70, 80}, 4)), in(random_tensor(t, {2, 2, 65, 80}, 5)),
         in(random_tensor(t, {2, 2, 65, 96}, 6))},
        [](ILayer& l) { l.set_int("is_causal", 1); }, tolerance_for(t));
    check_op("Attention",
             {in(random_tensor(t, {1, 1, 33, 128}, 7)), in(random_tensor(t, {1, 1, 40, 128}, 8)),
              in(random_tensor(t, {1, 1, 40, 128}, 9))},
             {}, tolerance_for(t));
  }
}

// 3-D inputs with grouped-query heads (8 query heads read 2 key/value heads) and a boolean
// mask broadcast over batch and heads (random: some rows are fully masked and must give 0).
TEST(GpuAttention, ThreeDimensionalGroupedQueryWithBooleanMask) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(to_string(t));
    const auto heads = [](ILayer& l) {
      l.set_int("q_num_heads", 8);
      l.set_int("kv_num_heads", 2);
    };
    const Tensor q = random_tensor(t, {2, 9, 8 * 48}, 1);
    const Tensor k = random_tensor(t, {2, 6, 2 * 48}, 2);
    const Tensor v = random_tensor(t, {2, 6, 2 * 48}, 3);
    check_op("Attention", {in(q), in(k), in(v), in(random_tensor(DataType::kBool, {9, 6}, 4))},
             heads, tolerance_for(t));
    check_op("Attention", {in(q), in(k), in(v)}, heads, tolerance_for(t));
  }
}

// The one-pass kernel over many key tiles (online softmax rescaling): 300 keys (five tiles of
// 64, the last partial), head sizes 64 and 128, a padding mask, causal with grouped-query heads
// in the 3-D layout, past keys with a window, softmax in float32.
TEST(GpuAttention, OnePassKernelOverManyKeyTiles) {
  for (DataType t : {DataType::kFloat16, DataType::kBFloat16}) {
    SCOPED_TRACE(to_string(t));
    Tensor mask32 = random_tensor(DataType::kFloat32, {2, 1, 1, 300}, 4, -2.0, 2.0);
    for (int64_t j = 250; j < 300; ++j) mask32.data<float>()[300 + j] = -INFINITY;
    check_op("Attention",
             {in(random_tensor(t, {2, 3, 130, 64}, 1)), in(random_tensor(t, {2, 3, 300, 64}, 2)),
              in(random_tensor(t, {2, 3, 300, 64}, 3)), in(mask32.cast(t))},
             {}, tolerance_for(t));
    check_op(
        "Attention",
        {in(random_tensor(t, {1, 200, 8 * 128}, 5)), in(random_tensor(t, {1, 200, 2 * 128}, 6)),
         in(random_tensor(t, {1, 200, 2 * 128}, 7))},
        [](ILayer& l) {
          l.set_int("q_num_heads", 8);
          l.set_int("kv_num_heads", 2);
          l.set_int("is_causal", 1);
        },
        tolerance_for(t));
    check_op(
        "Attention",
        {in(random_tensor(t, {1, 2, 70, 128}, 8)),
         in(random_tensor(t, {1, 2, 70, 128}, 9)),
         in(random_tensor(t, {1, 2, 70, 128}, 10)),
         {},
         in(random_tensor(t, {1, 2, 190, 128}, 11)),
         in(random_tensor(t, {1, 2, 190, 128}, 12))},
        [](ILayer& l) {
          l.set_int("is_causal", 1);
          l.set_int("left_window_size", 100);
          l.set_int("softmax_precision", 1);  // float32
          l.set_float("scale", 0.3f);
        },
        tolerance_for(t), 3);
  }
}

// past_key/past_value in front of K/V, present_key/present_value returned, causal with the
// past as offset, a float mask covering past and new keys.
TEST(GpuAttention, PastAndPresent) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(to_string(t));
    check_op(
        "Attention",
        {in(random_tensor(t, {2, 4, 3, 16}, 1)), in(random_tensor(t, {2, 2, 3, 16}, 2)),
         in(random_tensor(t, {2, 2, 3, 24}, 3)), in(random_tensor(t, {3, 83}, 4)),
         in(random_tensor(t, {2, 2, 80, 16}, 5)), in(random_tensor(t, {2, 2, 80, 24}, 6))},
        [](ILayer& l) { l.set_int("is_causal", 1); }, tolerance_for(t), 3);
  }
}

// scale, softcap, a sliding window, and nonpad_kv_seqlen (an external cache: keys past each
// batch's length are masked, queries sit at its end).
TEST(GpuAttention, ScaleSoftcapWindowAndNonpadLengths) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(to_string(t));
    const Tensor q = random_tensor(t, {2, 2, 4, 32}, 1);
    const Tensor k = random_tensor(t, {2, 2, 90, 32}, 2);
    const Tensor v = random_tensor(t, {2, 2, 90, 32}, 3);
    check_op(
        "Attention", {in(q), in(k), in(v)},
        [](ILayer& l) {
          l.set_float("scale", 0.3);
          l.set_float("softcap", 2.0);
        },
        tolerance_for(t));
    check_op(
        "Attention",
        {in(q), in(k), in(v), std::nullopt, std::nullopt, std::nullopt, in(ints({70, 90}))},
        [](ILayer& l) {
          l.set_int("is_causal", 1);
          l.set_int("left_window_size", 20);
        },
        tolerance_for(t));
  }
}

// qk_matmul_output in each mode (the per-row kernel), beside Y.
TEST(GpuAttention, QkMatmulOutputModes) {
  for (int mode = 0; mode < 4; ++mode) {
    SCOPED_TRACE(mode);
    check_op(
        "Attention",
        {in(random_tensor(DataType::kFloat32, {2, 3, 4, 8}, 1)),
         in(random_tensor(DataType::kFloat32, {2, 3, 6, 8}, 2)),
         in(random_tensor(DataType::kFloat32, {2, 3, 6, 8}, 3)),
         in(random_tensor(DataType::kFloat32, {4, 6}, 4))},
        [mode](ILayer& l) {
          l.set_int("qk_matmul_output_mode", mode);
          l.set_float("softcap", 1.5);
        },
        {}, 4);
  }
}

// ---------------------------------------------------------------------------------------------
// Fusion: unfused networks built for the GPU with FP16 become one Attention node. The builder
// fuses unless KILN_ATTENTION_FUSION=0 (passes/attention_fusion.h); these tests set it to 1
// while they run, whatever the environment says.

class FusionEnabled {
 public:
  FusionEnabled() {
    if (const char* old = std::getenv(kVariable)) previous_ = old;
    setenv(kVariable, "1", 1);
  }
  ~FusionEnabled() {
    if (previous_) {
      setenv(kVariable, previous_->c_str(), 1);
    } else {
      unsetenv(kVariable);
    }
  }

 private:
  static constexpr const char* kVariable = "KILN_ATTENTION_FUSION";
  std::optional<std::string> previous_;
};

ITensor& op(NetworkDefinition& n, const std::string& name, std::vector<ITensor*> inputs,
            const std::function<void(ILayer&)>& attrs = {}) {
  ILayer* layer = n.add_layer(name, inputs);
  if (attrs) attrs(*layer);
  return *layer->output(0);
}
ITensor& scalar_constant(NetworkDefinition& n, float v) {
  return gpu_test::constant(n, Tensor::from_vector<float>(DataType::kFloat32, {}, {v}));
}

// The form torch.onnx.export(dynamo=True) gives scaled_dot_product_attention (HF BERT): Q and
// K^T each scaled by sqrt(scale), K^T through Reshape -> Transpose -> Reshape, a boolean
// padding mask turned additive by Where, and the IsNaN guard after the softmax.
TEST(GpuAttentionFusion, DynamoExportedBertPattern) {
  const FusionEnabled fusion;
  const int64_t b = 2, h = 4, s = 96, d = 64;
  Tensor keep = Tensor::zeros(DataType::kBool, {b, 1, 1, s});
  for (int64_t i = 0; i < b * s; ++i) keep.data<bool>()[i] = !(i >= s && i % s >= 80);
  const std::vector<Tensor> inputs = {random_tensor(DataType::kFloat32, {b, h, s, d}, 1),
                                      random_tensor(DataType::kFloat32, {b, h, s, d}, 2),
                                      random_tensor(DataType::kFloat32, {b, h, s, d}, 3), keep};
  const std::string desc = gpu_test::expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        ITensor* q = n.add_input("q", DataType::kFloat32, {b, h, s, d});
        ITensor* k = n.add_input("k", DataType::kFloat32, {b, h, s, d});
        ITensor* v = n.add_input("v", DataType::kFloat32, {b, h, s, d});
        ITensor* m = n.add_input("keep", DataType::kBool, {b, 1, 1, s});
        ITensor& factor = scalar_constant(n, float(1.0 / std::sqrt(std::sqrt(double(d)))));
        ITensor& flat = op(n, "Reshape", {k, &gpu_test::constant(n, ints({-1, s, d}))});
        ITensor& flat_t = op(n, "Transpose", {&flat}, [](ILayer& l) {
          l.set_ints("perm", {0, 2, 1});
        });
        ITensor& kt = op(n, "Reshape", {&flat_t, &gpu_test::constant(n, ints({b, h, d, s}))});
        ITensor& qs = op(n, "Mul", {q, &factor});
        ITensor& kts = op(n, "Mul", {&kt, &factor});
        ITensor& bias = op(n, "Where",
                           {m, &scalar_constant(n, 0.0f),
                            &scalar_constant(n, -std::numeric_limits<float>::max())});
        ITensor& scores = op(n, "Add", {&op(n, "MatMul", {&qs, &kts}), &bias});
        ITensor& probs = op(n, "Softmax", {&scores}, [](ILayer& l) { l.set_int("axis", -1); });
        ITensor& guarded =
            op(n, "Where", {&op(n, "IsNaN", {&probs}), &scalar_constant(n, 0.0f), &probs});
        n.mark_output(op(n, "MatMul", {&guarded, v}));
      },
      inputs, GpuOptions{1e-2, false, kAllTacticSources, true});
  EXPECT_TRUE(has(desc, "[Attention] kernel cuda_flash_attention -> float16")) << desc;
  EXPECT_FALSE(has(desc, "[Softmax]")) << desc;
}

// The eager form (the generated BERT fixtures, ViT-style without a mask too): Transpose(K),
// MatMul, Div by sqrt(head size), Add of a [B, 1, 1, S] mask, Softmax, MatMul.
TEST(GpuAttentionFusion, EagerPatternWithAndWithoutMask) {
  const FusionEnabled fusion;
  const int64_t b = 2, h = 3, s = 50, d = 32;
  for (bool with_mask : {true, false}) {
    SCOPED_TRACE(with_mask);
    std::vector<Tensor> inputs = {random_tensor(DataType::kFloat32, {b, h, s, d}, 1),
                                  random_tensor(DataType::kFloat32, {b, h, s, d}, 2),
                                  random_tensor(DataType::kFloat32, {b, h, s, d}, 3)};
    if (with_mask) inputs.push_back(random_tensor(DataType::kFloat32, {b, 1, 1, s}, 4, -3.0, 0.0));
    const std::string desc = gpu_test::expect_gpu_matches_cpu(
        [&](NetworkDefinition& n) {
          ITensor* q = n.add_input("q", DataType::kFloat32, {b, h, s, d});
          ITensor* k = n.add_input("k", DataType::kFloat32, {b, h, s, d});
          ITensor* v = n.add_input("v", DataType::kFloat32, {b, h, s, d});
          ITensor& kt = op(n, "Transpose", {k}, [](ILayer& l) {
            l.set_ints("perm", {0, 1, 3, 2});
          });
          ITensor* scores =
              &op(n, "Div", {&op(n, "MatMul", {q, &kt}), &scalar_constant(n, std::sqrt(float(d)))});
          if (with_mask) {
            ITensor* m = n.add_input("mask", DataType::kFloat32, {b, 1, 1, s});
            scores = &op(n, "Add", {scores, m});
          }
          ITensor& probs = op(n, "Softmax", {scores}, [](ILayer& l) { l.set_int("axis", 3); });
          n.mark_output(op(n, "MatMul", {&probs, v}));
        },
        inputs, GpuOptions{1e-2, false, kAllTacticSources, true});
    EXPECT_TRUE(has(desc, "[Attention] kernel cuda_flash_attention")) << desc;
    EXPECT_FALSE(has(desc, "[Softmax]")) << desc;
  }
}

// Without FP16/BF16 the builder leaves the pattern alone (cuBLASLt products in float32), even
// with the fusion switched on.
TEST(GpuAttentionFusion, Float32EnginesStayUnfused) {
  const FusionEnabled fusion;
  const int64_t b = 1, h = 2, s = 8, d = 16;
  const std::vector<Tensor> inputs = {random_tensor(DataType::kFloat32, {b, h, s, d}, 1),
                                      random_tensor(DataType::kFloat32, {b, h, s, d}, 2),
                                      random_tensor(DataType::kFloat32, {b, h, s, d}, 3)};
  const std::string desc = gpu_test::expect_gpu_matches_cpu(
      [&](NetworkDefinition& n) {
        ITensor* q = n.add_input("q", DataType::kFloat32, {b, h, s, d});
        ITensor* k = n.add_input("k", DataType::kFloat32, {b, h, s, d});
        ITensor* v = n.add_input("v", DataType::kFloat32, {b, h, s, d});
        ITensor& kt = op(n, "Transpose", {k}, [](ILayer& l) { l.set_ints("perm", {0, 1, 3, 2}); });
        ITensor& probs = op(n, "Softmax", {&op(n, "MatMul", {q, &kt})});
        n.mark_output(op(n, "MatMul", {&probs, v}));
      },
      inputs);
  EXPECT_FALSE(has(desc, "[Attention]")) << desc;
  EXPECT_TRUE(has(desc, "[Softmax]")) << desc;
}

}  // namespace
}  // namespace kiln

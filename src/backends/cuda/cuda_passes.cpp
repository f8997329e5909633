#include "backends/cuda/cuda_passes.h"

#include "core/error.h"
#include "passes/attention_fusion.h"
#include "passes/batch_norm_folding.h"
#include "passes/conv_fusion.h"
#include "passes/gelu_recognition.h"
#include "passes/matmul_epilogue_fusion.h"
#include "passes/mixed_precision.h"
#include "passes/shape_value_freezing.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace kiln::cuda {

namespace {

// Whether a CUDA kernel runs `node` with these types: what mixed precision asks.
passes::BackendTypeSupport type_support(const BuilderConfig& config) {
  return [flags = config.flags(), sources = config.tactic_sources()](
             const ir::Node& node, const ops::ResolvedShapes& resolved,
             const std::vector<DataType>& inputs, const std::vector<DataType>& outputs) -> bool {
#ifdef KILN_HAVE_CUDA
    return supports_types(node, resolved, inputs, outputs, flags, sources);
#else
    (void)flags, (void)sources;
    fail(ErrorCode::kUnsupported, "this kiln was built without CUDA");
#endif
  };
}

}  // namespace

passes::PassList pass_list(const BuilderConfig& config, const passes::PassContext& context) {
  using passes::Reresolve;
  const bool low_precision =
      config.get_flag(BuilderFlag::kFP16) || config.get_flag(BuilderFlag::kBF16);
  const DataType low =
      config.get_flag(BuilderFlag::kFP16) ? DataType::kFloat16 : DataType::kBFloat16;
  // FusedConv is cuDNN's.
  const bool cudnn_allowed =
      (config.tactic_sources() & (1u << uint32_t(TacticSource::kCUDNN))) != 0;

  passes::PassList list;
  list.add(passes::make_shape_value_freezing(context));
  // MatMul -> scale -> mask -> Softmax -> MatMul chains become one Attention node (a
  // tensor-core kernel) before mixed precision lowers it; KILN_ATTENTION_FUSION=0 turns it off.
  list.add(passes::make_attention_fusion(context),
           low_precision && passes::attention_fusion_enabled());
  // Folding changes no shape: the epilogue fusion after it sees the points from before it
  // unless GELU recognition changed the graph (as the builder always resolved).
  list.add(passes::make_batch_norm_folding(), true, Reresolve::kNever);
  list.add(passes::make_gelu_recognition(), true, Reresolve::kIfChanged);
  // Exact GELU folds into cuBLASLt's epilogue as its tanh form in FP16/BF16 engines only.
  list.add(passes::make_matmul_epilogue_fusion(context, /*gelu_as_tanh=*/low_precision));
  list.add(passes::make_mixed_precision(context, low, type_support(config)), low_precision);
  list.add(passes::make_conv_epilogue_fusion(context), cudnn_allowed);
  // cuDNN's channels-last TF32 kernels beat its NCHW ones too.
  list.add(passes::make_channels_last(context, /*float32_too=*/config.get_flag(BuilderFlag::kTF32)),
           cudnn_allowed);
  return list;
}

}  // namespace kiln::cuda

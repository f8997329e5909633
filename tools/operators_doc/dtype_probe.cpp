// The probing machinery of dtype_probe.h: builds a one-node graph per recipe and dtype, runs the
// op's inference and reference compute, and asks each CUDA kernel of the op whether it
// supports the node.
#include "dtype_probe.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>

#include "core/error.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "ops/shape_inference.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_kernel.h"
#endif

namespace kiln::opsdoc {
namespace {

bool has(DtypeSet set, DataType t) { return (set & dtype_bit(t)) != 0; }

// An input's contents: the recipe's values (all ones by default) in the input's dtype.
Tensor probe_tensor(DataType dtype, const Dims& shape, const std::vector<double>& values) {
  std::vector<double> v = values;
  if (v.empty()) v.assign(size_t(volume(shape)), 1.0);
  KILN_CHECK(int64_t(v.size()) == volume(shape), ErrorCode::kInternal, "probe recipe: ", v.size(),
             " values for shape ", to_string(shape));
  return Tensor::from_vector<double>(DataType::kFloat64, shape, v).cast(dtype);
}

// One probe node in its own graph; every input is a constant of the graph.
struct ProbeGraph {
  ir::Graph graph;
  ir::Node* node = nullptr;
};

std::unique_ptr<ProbeGraph> build_probe(const ops::OpDef& def, const ProbeRecipe& recipe,
                                        DataType dtype) {
  auto p = std::make_unique<ProbeGraph>();
  std::vector<ir::Value*> inputs;
  for (size_t i = 0; i < recipe.inputs.size(); ++i) {
    const ProbeInput& in = recipe.inputs[i];
    if (in.kind == ProbeInput::Kind::kOmitted) {
      inputs.push_back(nullptr);
      continue;
    }
    const DataType t = in.kind == ProbeInput::Kind::kProbed ? dtype : in.dtype;
    inputs.push_back(p->graph.add_constant(cat("input", i), probe_tensor(t, in.shape, in.values)));
  }
  ir::Attributes attrs = recipe.attrs;
  if (!recipe.dtype_attr.empty()) attrs[recipe.dtype_attr] = int64_t(dtype);
  if (recipe.typed_attrs) recipe.typed_attrs(attrs, dtype);
  std::vector<std::string> outputs;
  outputs.reserve(size_t(std::max(recipe.outputs, 0)));
  for (int i = 0; i < recipe.outputs; ++i) outputs.push_back(cat("output", i));
  p->node = p->graph.add_node(def.name, "probe", std::move(inputs), outputs, std::move(attrs));
  return p;
}

// What one dtype's node gave: inference's output descriptors, and the computed outputs when
// the compute ran.
struct CpuRun {
  bool inferred = false;
  bool computed = false;
  std::vector<std::optional<ops::TensorDesc>> outputs;  // shapes for the CUDA query
  std::string error;
};

CpuRun run_cpu(const ops::OpDef& def, const ProbeGraph& p) {
  CpuRun run;
  const ir::Node& node = *p.node;
  try {
    ops::ResolvedShapes known;
    for (const ir::Value* in : node.inputs) {
      if (!in) continue;
      known.desc[in] = ops::TensorDesc{in->constant->dtype(), in->constant->shape()};
      known.values[in] = *in->constant;
    }
    ops::InferContext ctx = ops::infer_node(node, known);
    run.inferred = true;
    run.outputs.resize(node.outputs.size());
    std::vector<Tensor> results(node.outputs.size());
    std::vector<Tensor*> result_ptrs;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (ctx.data_dependent_ranks()[i]) {
        // Extents known after the compute; until then a rank-only stand-in of empty extents.
        run.outputs[i] =
            ops::TensorDesc{ctx.outputs()[i]->dtype, Dims(*ctx.data_dependent_ranks()[i], 0)};
      } else {
        run.outputs[i] = *ctx.outputs()[i];
        results[i] = Tensor::zeros(run.outputs[i]->dtype, run.outputs[i]->shape);
      }
      result_ptrs.push_back(&results[i]);
    }
    std::vector<const Tensor*> inputs;
    for (const ir::Value* in : node.inputs) inputs.push_back(in ? &*in->constant : nullptr);
    ops::ComputeContext cctx(node, std::move(inputs), std::move(result_ptrs));
    def.compute(cctx);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (results[i].defined())
        run.outputs[i] = ops::TensorDesc{results[i].dtype(), results[i].shape()};
    }
    run.computed = true;
  } catch (const std::exception& e) {
    run.error = e.what();
  }
  return run;
}

#ifdef KILN_HAVE_CUDA
// Every precision the builder can allow: the probe asks which types a kernel accepts at all.
constexpr uint32_t kAllPrecisionFlags =
    (1u << uint32_t(BuilderFlag::kFP16)) | (1u << uint32_t(BuilderFlag::kBF16)) |
    (1u << uint32_t(BuilderFlag::kTF32)) | (1u << uint32_t(BuilderFlag::kINT8)) |
    (1u << uint32_t(BuilderFlag::kFP8));

bool kernel_supports(const cuda::CudaKernel& kernel, const ProbeRecipe& recipe, const ProbeGraph& p,
                     const CpuRun& run) {
  const ir::Node& node = *p.node;
  cuda::NodeQuery q;
  q.node = &node;
  q.builder_flags = kAllPrecisionFlags;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ir::Value* in = node.inputs[i];
    cuda::TensorInfo t;
    if (in) {
      t = cuda::TensorInfo{true, in->constant->dtype(), in->constant->shape(), nullptr};
      // Operands the recipe gives values for, and those the kernel reads on the host, are known
      // at shape time in a real model too; data inputs usually are not.
      bool host = i < recipe.inputs.size() && !recipe.inputs[i].values.empty();
      for (size_t h : kernel.host_inputs) host = host || h == i;
      if (host) t.host_value = &*in->constant;
    }
    q.inputs.push_back(std::move(t));
  }
  for (const auto& out : run.outputs) {
    cuda::TensorInfo t;
    if (out) t = cuda::TensorInfo{true, out->dtype, out->shape, nullptr};
    q.outputs.push_back(std::move(t));
  }
  try {
    return bool(kernel.supports(q));
  } catch (const std::exception&) {
    return false;  // a kernel that throws on a node cannot be chosen for it either
  }
}
#endif

}  // namespace

std::string format_dtypes(DtypeSet set) {
  if (set == 0) return "—";
  if (set == kAllDtypes) return "all";
  std::vector<std::string> parts;
  auto add_if = [&](DataType t, const char* name) {
    if (has(set, t)) parts.push_back(name);
  };
  add_if(DataType::kFloat32, "f32");
  add_if(DataType::kFloat64, "f64");
  add_if(DataType::kFloat16, "f16");
  add_if(DataType::kBFloat16, "bf16");
  const DtypeSet signed_ints = dtype_bit(DataType::kInt8) | dtype_bit(DataType::kInt16) |
                               dtype_bit(DataType::kInt32) | dtype_bit(DataType::kInt64);
  const DtypeSet unsigned_ints = dtype_bit(DataType::kUInt8) | dtype_bit(DataType::kUInt16) |
                                 dtype_bit(DataType::kUInt32) | dtype_bit(DataType::kUInt64);
  if ((set & (signed_ints | unsigned_ints)) == (signed_ints | unsigned_ints)) {
    parts.push_back("i8..u64");
  } else {
    if ((set & signed_ints) == signed_ints) {
      parts.push_back("i8..i64");
    } else {
      add_if(DataType::kInt8, "i8");
      add_if(DataType::kInt16, "i16");
      add_if(DataType::kInt32, "i32");
      add_if(DataType::kInt64, "i64");
    }
    if ((set & unsigned_ints) == unsigned_ints) {
      parts.push_back("u8..u64");
    } else {
      add_if(DataType::kUInt8, "u8");
      add_if(DataType::kUInt16, "u16");
      add_if(DataType::kUInt32, "u32");
      add_if(DataType::kUInt64, "u64");
    }
  }
  add_if(DataType::kBool, "bool");
  if (has(set, DataType::kFloat8E4M3) && has(set, DataType::kFloat8E5M2)) {
    parts.push_back("fp8");
  } else {
    add_if(DataType::kFloat8E4M3, "f8e4m3");
    add_if(DataType::kFloat8E5M2, "f8e5m2");
  }
  add_if(DataType::kFloat8E4M3FNUZ, "f8e4m3fnuz");
  add_if(DataType::kFloat8E5M2FNUZ, "f8e5m2fnuz");
  add_if(DataType::kFloat8E8M0, "f8e8m0");
  add_if(DataType::kFloat4E2M1, "f4e2m1");
  add_if(DataType::kInt4, "i4");
  add_if(DataType::kUInt4, "u4");
  add_if(DataType::kInt2, "i2");
  add_if(DataType::kUInt2, "u2");
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

bool probe_cpu(const ops::OpDef& def, const ProbeRecipe& recipe, DataType dtype,
               std::string* error) {
  CpuRun run;
  try {
    run = run_cpu(def, *build_probe(def, recipe, dtype));
  } catch (const std::exception& e) {
    run.error = e.what();
  }
  if (error) *error = run.error;
  return run.computed;
}

OpProbe probe_op(const ops::OpDef& def) {
  OpProbe result;
#ifdef KILN_HAVE_CUDA
  std::vector<const cuda::CudaKernel*> kernels;
  for (const cuda::CudaKernel& k : cuda::CudaKernelRegistry::instance().kernels()) {
    if (k.op != def.name) continue;
    kernels.push_back(&k);
    result.cuda_kernels.push_back(k.name);
  }
#endif
  for (const ProbeRecipe& recipe : recipes_for(def)) {
    AxisResult axis;
    axis.label = recipe.label;
#ifdef KILN_HAVE_CUDA
    for (const cuda::CudaKernel* k : kernels) axis.cuda.emplace_back(k->name, 0);
#endif
    for (int i = 0; i < kNumDataTypes; ++i) {
      const DataType dtype = DataType(i);
      std::unique_ptr<ProbeGraph> p;
      CpuRun run;
      try {
        p = build_probe(def, recipe, dtype);
        run = run_cpu(def, *p);
      } catch (const std::exception& e) {
        run.error = e.what();
      }
      if (!run.error.empty()) axis.errors[dtype] = run.error;
      if (run.computed) axis.cpu |= dtype_bit(dtype);
      if (!run.inferred) continue;
      axis.inferred |= dtype_bit(dtype);
#ifdef KILN_HAVE_CUDA
      for (size_t k = 0; k < kernels.size(); ++k) {
        if (kernel_supports(*kernels[k], recipe, *p, run)) axis.cuda[k].second |= dtype_bit(dtype);
      }
#endif
    }
    result.axes.push_back(std::move(axis));
  }
  return result;
}

}  // namespace kiln::opsdoc

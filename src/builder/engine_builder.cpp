#include "builder/engine_builder.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

#include "backends/cpu/cpu_executor.h"
#include "backends/cpu/cpu_passes.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif
#include "backends/cuda/cuda_passes.h"
#include "builder/memory_planner.h"
#include "builder/view_aliases.h"
#include "core/checked_size.h"
#include "ir/verifier.h"
#include "ops/shape_inference.h"
#include "passes/constant_folding.h"
#include "passes/identity_elimination.h"

namespace kiln::builder {

namespace {

bool is_dynamic(const ir::Value& input) {
  for (const ir::Dim& d : input.shape) {
    if (!d.is_static()) return true;
  }
  return false;
}

// The profiles to build for: the user's, checked against the inputs, or one implicit
// profile when every input is static.
std::vector<plan::ProfileData> make_profiles(const ir::Graph& graph, const BuilderConfig& config) {
  std::vector<plan::ProfileData> out;
  const auto& profiles = config.optimization_profiles();
  for (const ir::Value* in : graph.inputs()) {
    KILN_CHECK(in->has_shape, ErrorCode::kInvalidModel, "input '", in->name, "' has no shape");
    if (is_dynamic(*in)) {
      KILN_CHECK(!profiles.empty(), ErrorCode::kInvalidArgument, "input '", in->name,
                 "' has dynamic shape ", ir::to_string(in->shape),
                 ": add an optimization profile giving its min/opt/max shapes "
                 "(kiln build --minShapes/--optShapes/--maxShapes or --shapes)");
    }
  }
  std::vector<OptimizationProfile> effective = profiles;
  if (effective.empty()) effective.emplace_back();
  for (size_t p = 0; p < effective.size(); ++p) {
    const OptimizationProfile& profile = effective[p];
    for (const std::string& name : profile.inputs()) {
      bool found = std::any_of(graph.inputs().begin(), graph.inputs().end(),
                               [&](const ir::Value* v) { return v->name == name; });
      KILN_CHECK(found, ErrorCode::kInvalidArgument, "optimization profile ", p, " names input '",
                 name, "', which the network does not have");
    }
    plan::ProfileData data;
    for (const ir::Value* in : graph.inputs()) {
      Dims declared = ir::to_dims(in->shape);
      Dims mn = declared, op = declared, mx = declared;
      if (profile.has(in->name)) {
        mn = profile.get_dimensions(in->name, OptProfileSelector::kMIN);
        op = profile.get_dimensions(in->name, OptProfileSelector::kOPT);
        mx = profile.get_dimensions(in->name, OptProfileSelector::kMAX);
      } else {
        KILN_CHECK(!is_dynamic(*in), ErrorCode::kInvalidArgument, "input '", in->name,
                   "' has dynamic shape ", ir::to_string(in->shape), " but optimization profile ",
                   p, " gives no shapes for it");
      }
      for (const Dims* d : {&mn, &op, &mx}) {
        KILN_CHECK(d->size() == declared.size(), ErrorCode::kInvalidArgument, "profile shape ",
                   to_string(*d), " for input '", in->name, "' has rank ", d->size(),
                   ", the input has rank ", declared.size(), " (", ir::to_string(in->shape), ")");
        for (size_t i = 0; i < d->size(); ++i) {
          KILN_CHECK(declared[i] < 0 || (*d)[i] == declared[i], ErrorCode::kInvalidArgument,
                     "profile shape ", to_string(*d), " for input '", in->name, "' changes dim ", i,
                     ", which is fixed at ", declared[i]);
        }
      }
      for (size_t i = 0; i < declared.size(); ++i) {
        KILN_CHECK(mn[i] >= 0 && mn[i] <= op[i] && op[i] <= mx[i], ErrorCode::kInvalidArgument,
                   "profile for input '", in->name,
                   "' must have 0 <= min <= opt <= max in every dim; got min ", to_string(mn),
                   ", opt ", to_string(op), ", max ", to_string(mx));
      }
      data.input_names.push_back(in->name);
      data.min.push_back(mn);
      data.opt.push_back(op);
      data.max.push_back(mx);
    }
    out.push_back(std::move(data));
  }
  return out;
}

std::map<std::string, Dims> shapes_at(const plan::ProfileData& p, OptProfileSelector which) {
  std::map<std::string, Dims> shapes;
  for (size_t i = 0; i < p.input_names.size(); ++i) {
    shapes[p.input_names[i]] = which == OptProfileSelector::kMIN   ? p.min[i]
                               : which == OptProfileSelector::kOPT ? p.opt[i]
                                                                   : p.max[i];
  }
  return shapes;
}

// The graph resolved at every profile's min, opt and max shapes, in that order.
std::vector<ops::ResolvedShapes> resolve_at_profile_points(
    const ir::Graph& graph, const std::vector<plan::ProfileData>& profiles) {
  std::vector<ops::ResolvedShapes> points;
  for (const auto& p : profiles) {
    for (auto which :
         {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
      points.push_back(ops::resolve_shapes(graph, shapes_at(p, which)));
    }
  }
  return points;
}

// Shape resolution at the profile points, and the build log, for the passes.
passes::PassContext pass_context(const std::vector<plan::ProfileData>& profiles, Logger& logger) {
  passes::PassContext context;
  context.resolve = [&profiles](const ir::Graph& graph) {
    return resolve_at_profile_points(graph, profiles);
  };
  context.logger = &logger;
  return context;
}

// The graph rewrites: those every backend wants, which need no shapes; then, with the graph
// resolved at every profile point, the backend's list (shape-time values frozen first).
// Leaves `context.points` resolved for the final graph.
void optimize(ir::Graph& graph, const BuilderConfig& config, passes::PassContext& context) {
  passes::PassList common;
  common.add(passes::make_identity_elimination());
  common.add(passes::make_constant_folding());
  passes::run_pipeline(graph, common, context);

  context.points = context.resolve(graph);
  const bool gpu = config.device() == DeviceType::kGPU;
  passes::run_pipeline(graph, gpu ? cuda::pass_list(config, context) : cpu::pass_list(context),
                       context);
}

// Types and shapes into the graph's values: a dim is static when it agrees at every profile
// point; values whose extents wait for data keep their rank with -1 dims.
void annotate_values(ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points) {
  for (const auto& v : graph.values()) {
    if (v->is_constant()) continue;
    const ops::TensorDesc* first = nullptr;
    Dims dims;
    for (const auto& r : points) {
      if (auto d = r.deferred.find(v.get()); d != r.deferred.end()) {
        // extents known only at run time: -1 dims of the declared rank (if the op knows it)
        if (d->second.rank != ops::ResolvedShapes::kUnknownRank) {
          v->shape = ir::Shape(d->second.rank, ir::Dim{});
          v->has_shape = true;
        }
        if (d->second.dtype) v->dtype = *d->second.dtype;
        first = nullptr;
        break;
      }
      auto it = r.desc.find(v.get());
      if (it == r.desc.end()) continue;
      if (!first) {
        first = &it->second;
        dims = first->shape;
      } else {
        for (size_t i = 0; i < dims.size() && i < it->second.shape.size(); ++i) {
          if (dims[i] != it->second.shape[i]) dims[i] = -1;
        }
      }
    }
    if (!first) continue;
    bool is_input =
        std::find(graph.inputs().begin(), graph.inputs().end(), v.get()) != graph.inputs().end();
    if (!is_input) {
      v->dtype = first->dtype;
      v->shape = ir::from_dims(dims);
    }
    v->has_shape = true;
  }
}

// A view's value (Reshape, Squeeze, ... of a GPU engine) -> the value whose memory it shares.
using ViewAliases = std::unordered_map<const ir::Value*, const ir::Value*>;

// Memory: every computed activation, sized for the largest profile point; views, values known
// at shape time and values whose extents wait for data get none.
plan::MemoryPlanData plan_activation_memory(const ir::Graph& graph,
                                            const std::vector<ops::ResolvedShapes>& points,
                                            const ViewAliases& aliases) {
  auto alias_root = [&](const ir::Value* v) {
    for (auto it = aliases.find(v); it != aliases.end(); it = aliases.find(v)) v = it->second;
    return v;
  };
  std::unordered_map<const ir::Value*, int64_t> last_use;
  std::unordered_map<const ir::Value*, int64_t> first_use;
  int64_t index = 0;
  for (const auto& node : graph.nodes()) {
    for (const ir::Value* in : node->inputs) {
      if (in) last_use[alias_root(in)] = index;  // reading a view reads its source
    }
    for (const ir::Value* out : node->outputs) {
      if (out) first_use[out] = index;
    }
    ++index;
  }
  for (const ir::Value* out : graph.outputs()) last_use[out] = index;
  std::vector<BufferRequest> requests;
  for (const auto& [value, first] : first_use) {
    bool host_known = true;
    uint64_t bytes = 0;
    bool deferred = false;
    for (const auto& r : points) deferred = deferred || r.is_deferred(value);
    if (deferred) continue;              // allocated by the executor when its extents are known
    if (aliases.count(value)) continue;  // a view: no memory of its own
    for (const auto& r : points) {
      if (!r.values.count(value)) host_known = false;
      const auto& d = r.of(value);
      const std::string what = cat("tensor '", value->name, "'");
      bytes = std::max<uint64_t>(bytes, checked_bytes(d.dtype, checked_numel(d.shape, what), what));
    }
    if (host_known) continue;
    auto lu = last_use.find(value);
    requests.push_back({value->name, bytes, first, lu == last_use.end() ? first : lu->second});
  }
  std::sort(requests.begin(), requests.end(),
            [](const BufferRequest& a, const BufferRequest& b) { return a.name < b.name; });
  return plan_memory(requests);
}

// Kernels, chosen at the first profile's opt shapes (points[1]); on GPU engines then timed
// where a GPU is present.
void choose_tactics(const ir::Graph& graph, const std::vector<ops::ResolvedShapes>& points,
                    const ViewAliases& aliases, const BuilderConfig& config, Logger& logger,
                    plan::PlanContents& plan) {
  [[maybe_unused]] const bool gpu = config.device() == DeviceType::kGPU;
  const ops::ResolvedShapes& opt = points[1];
  for (const auto& node : graph.nodes()) {
#ifdef KILN_HAVE_CUDA
    // GPU engines: a CUDA kernel per node (the build fails naming a node that has none).
    if (gpu) {
      if (node->outputs.size() == 1 && aliases.count(node->outputs[0])) {
        plan.tactics[node->name] = cuda::kViewAliasTactic;
        continue;
      }
      plan.tactics[node->name] =
          cuda::choose_tactic(*node, points, 1, config.flags(), config.tactic_sources());
      continue;
    }
#endif
    std::vector<ops::TensorDesc> descs;
    for (const ir::Value* in : node->inputs) {
      descs.push_back(in && !opt.is_deferred(in) ? opt.of(in) : ops::TensorDesc{});
    }
    plan.tactics[node->name] = cpu::select_kernel_name(*node, descs);
  }

#ifdef KILN_HAVE_CUDA
  // Where a GPU is present: the fastest of the kernels (and of their cuBLASLt/cuDNN algorithms)
  // for each node with a choice, timed at the first profile's opt shapes or taken from the
  // timing cache; the parameters of the algorithms chosen go into the plan.
  if (gpu && config.builder_optimization_level() == 0) {
    logger.log(Logger::Severity::kVerbose,
               "autotune: off (builder optimization level 0): kernels "
               "chosen by priority, cuBLASLt/cuDNN algorithms by heuristics at the first run");
  } else if (gpu) {
    cuda::autotune_tactics(graph, points, 1, config.flags(), config.tactic_sources(),
                           config.get_timing_cache().get(), logger, plan.tactics,
                           plan.tactic_params);
  }
#endif
}

}  // namespace

plan::PlanContents build_plan(const ir::Graph& network, const BuilderConfig& config,
                              Logger& logger) {
  auto start = std::chrono::steady_clock::now();
  const bool gpu = config.device() == DeviceType::kGPU;
#ifndef KILN_HAVE_CUDA
  KILN_CHECK(!gpu, ErrorCode::kUnsupported,
             "this kiln was built without CUDA: build for DeviceType::kCPU, or rebuild kiln where "
             "the CUDA toolkit is installed (cmake -DKILN_CUDA=ON)");
#endif
  KILN_CHECK(!network.outputs().empty(), ErrorCode::kInvalidModel,
             "the network has no outputs: mark at least one tensor as output");
  std::unique_ptr<ir::Graph> graph = network.clone();
  ir::verify(*graph);

  plan::PlanContents plan;
  plan.profiles = make_profiles(*graph, config);
  plan.builder_flags = config.flags();
  plan.target = gpu ? "cuda:sm_90" : "cpu";

  passes::PassContext context = pass_context(plan.profiles, logger);
  optimize(*graph, config, context);
  const std::vector<ops::ResolvedShapes>& points = context.points;
  annotate_values(*graph, points);
  // GPU engines: views (Reshape, Squeeze, ...) share their source's memory; the executor
  // skips them. The CPU backend keeps its copies (it runs reference computes directly).
  const ViewAliases aliases = gpu ? find_view_aliases(*graph, points) : ViewAliases{};
  plan.memory = plan_activation_memory(*graph, points, aliases);
  choose_tactics(*graph, points, aliases, config, logger, plan);

  plan.graph = std::move(graph);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  logger.log(Logger::Severity::kInfo,
             cat("built engine: ", plan.graph->nodes().size(), " layers, arena ",
                 plan.memory.arena_bytes, " bytes (activations total ",
                 plan.memory.total_activation_bytes, " bytes), ", ms, " ms"));
  return plan;
}

}  // namespace kiln::builder

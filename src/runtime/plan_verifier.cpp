// The runtime's checks of a loaded plan (plan_verifier.h; plan_format.md "What the runtime
// verifies"). The reader has bounded every count, offset and enum; this re-derives what the
// builder derived (types and shapes from the ops' inference at every profile point, buffer
// sizes from those) and compares it with what the file says, so that every buffer a run uses
// is sized from the same types and shapes its kernel writes.
#include "runtime/plan_verifier.h"

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "backends/cpu/cpu_kernel.h"
#include "builder/memory_planner.h"
#include "core/error.h"
#include "ir/verifier.h"
#include "kiln/builder.h"
#include "ops/shape_inference.h"
#include "plan/byte_io.h"

namespace kiln::detail {

namespace {

template <typename... Args>
[[noreturn]] void invalid(Args&&... args) {
  fail(ErrorCode::kInvalidPlan, "plan is invalid: ", std::forward<Args>(args)...);
}

std::string quoted(const std::string& name) { return cat("'", plan::printable(name), "'"); }

// Bytes of a tensor of these extents, or nullopt when an extent is negative or the size
// overflows or exceeds kMaxPlanTensorBytes.
std::optional<uint64_t> tensor_bytes(const Dims& shape, DataType dtype) {
  uint64_t bytes = element_size(dtype);
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d != 0 && bytes > kMaxPlanTensorBytes / uint64_t(d)) return std::nullopt;
    bytes *= uint64_t(d);
  }
  if (bytes > kMaxPlanTensorBytes) return std::nullopt;
  // An empty tensor is 0 bytes whatever its other extents.
  return bytes;
}

const char* point_name(OptProfileSelector which) {
  return which == OptProfileSelector::kMIN   ? "min"
         : which == OptProfileSelector::kOPT ? "opt"
                                             : "max";
}

// How messages name a value: "value 'y' (output 0 of Relu 'r')".
std::string describe_value(const ir::Value& v) {
  std::string out = cat("value ", quoted(v.name));
  if (const ir::Node* p = v.producer) {
    for (size_t i = 0; i < p->outputs.size(); ++i) {
      if (p->outputs[i] == &v)
        return cat(out, " (output ", i, " of ", p->op, " ", quoted(p->name), ")");
    }
  }
  return out;
}

// Every node of `graph` and its bodies: a registered op, with input and output counts the op
// accepts. Attribute kinds are checked where the op reads them (a wrong kind is a kiln::Error
// naming the node), which inference over the top-level graph does for every node there.
void check_ops(const ir::Graph& graph, const std::string& where) {
  for (const auto& node : graph.nodes()) {
    const ops::OpDef* def = ops::OpRegistry::instance().find(node->op);
    if (def == nullptr) {
      invalid(where, " > node ", quoted(node->name), ": op ", quoted(node->op),
              " is not an op of this kiln");
    }
    const int n_in = int(node->inputs.size());
    const int n_out = int(node->outputs.size());
    if (n_in < def->min_inputs || (def->max_inputs >= 0 && n_in > def->max_inputs)) {
      invalid(where, " > ", node->describe(), ": has ", n_in, " inputs; ", node->op, " takes ",
              def->min_inputs, def->max_inputs < 0 ? " or more" : cat(" to ", def->max_inputs));
    }
    if (n_out < def->min_outputs || n_out > def->max_outputs) {
      invalid(where, " > ", node->describe(), ": has ", n_out, " outputs; ", node->op, " has ",
              def->min_outputs, " to ", def->max_outputs);
    }
    for (const auto& [key, attr] : node->attrs) {
      std::vector<const ir::Graph*> bodies;
      if (auto* g = std::get_if<std::shared_ptr<ir::Graph>>(&attr)) {
        if (*g) bodies.push_back(g->get());
      } else if (auto* gs = std::get_if<std::vector<std::shared_ptr<ir::Graph>>>(&attr)) {
        for (const auto& b : *gs) {
          if (b) bodies.push_back(b.get());
        }
      }
      for (const ir::Graph* body : bodies) {
        check_ops(*body,
                  cat(where, " > ", node->describe(), " > attribute '", plan::printable(key), "'"));
      }
    }
  }
}

// A constant's value-table type and shape must be its tensor's (engine outputs and messages
// read the former, kernels the latter).
void check_constants(const ir::Graph& graph) {
  for (const auto& v : graph.values()) {
    if (!v->constant) continue;
    const Tensor& t = *v->constant;
    if (!t.defined()) invalid("constant ", quoted(v->name), " has no tensor");
    if (v->dtype != t.dtype()) {
      invalid("constant ", quoted(v->name), " is stored as ", to_string(v->dtype),
              " but its tensor is ", to_string(t.dtype()));
    }
    if (v->has_shape && ir::to_dims(v->shape) != t.shape()) {
      invalid("constant ", quoted(v->name), " is stored with shape [", ir::to_string(v->shape),
              "] but its tensor has [", to_string(t.shape()), "]");
    }
  }
}

// Profiles: at least one; each names the graph's inputs in order, with the inputs' ranks and
// static extents, and sizes that fit.
void check_profiles(const plan::PlanContents& plan) {
  const ir::Graph& g = *plan.graph;
  if (plan.profiles.empty()) invalid("profiles: the plan has no optimization profile");
  for (size_t p = 0; p < plan.profiles.size(); ++p) {
    const plan::ProfileData& profile = plan.profiles[p];
    if (profile.input_names.size() != g.inputs().size()) {
      invalid("profile ", p, " gives shapes for ", profile.input_names.size(),
              " inputs; the graph has ", g.inputs().size());
    }
    for (size_t i = 0; i < g.inputs().size(); ++i) {
      const ir::Value& in = *g.inputs()[i];
      if (profile.input_names[i] != in.name) {
        invalid("profile ", p, " input ", i, " is ", quoted(profile.input_names[i]),
                " but graph input ", i, " is ", quoted(in.name));
      }
      if (!in.has_shape) invalid("input ", quoted(in.name), " has no shape");
      const Dims declared = ir::to_dims(in.shape);
      for (const Dims* d : {&profile.min[i], &profile.opt[i], &profile.max[i]}) {
        if (d->size() != declared.size()) {
          invalid("profile ", p, " input ", quoted(in.name), ": shape [", to_string(*d),
                  "] has rank ", d->size(), ", the input has rank ", declared.size(), " [",
                  ir::to_string(in.shape), "]");
        }
        for (size_t k = 0; k < d->size(); ++k) {
          if (declared[k] >= 0 && (*d)[k] != declared[k]) {
            invalid("profile ", p, " input ", quoted(in.name), ": shape [", to_string(*d),
                    "] changes dim ", k, ", which the input fixes at ", declared[k]);
          }
        }
      }
      if (!tensor_bytes(profile.max[i], in.dtype)) {
        invalid("profile ", p, " input ", quoted(in.name), ": max shape [",
                to_string(profile.max[i]), "] is larger than ", kMaxPlanTensorBytes, " bytes");
      }
    }
  }
}

struct Point {
  size_t profile;
  OptProfileSelector which;
  ops::ResolvedShapes shapes;
  std::string describe() const {
    return cat("profile ", profile, " ", point_name(which), " shapes");
  }
};

std::vector<Point> resolve_points(const plan::PlanContents& plan) {
  std::vector<Point> points;
  for (size_t p = 0; p < plan.profiles.size(); ++p) {
    const plan::ProfileData& profile = plan.profiles[p];
    for (auto which :
         {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
      std::map<std::string, Dims> shapes;
      for (size_t i = 0; i < profile.input_names.size(); ++i) {
        shapes[profile.input_names[i]] = which == OptProfileSelector::kMIN   ? profile.min[i]
                                         : which == OptProfileSelector::kOPT ? profile.opt[i]
                                                                             : profile.max[i];
      }
      Point point{p, which, {}};
      try {
        point.shapes = ops::resolve_shapes(*plan.graph, shapes);
      } catch (const std::exception& e) {
        invalid("the graph does not infer at ", point.describe(), ": ", e.what());
      }
      points.push_back(std::move(point));
    }
  }
  return points;
}

// Stored types and shapes against inference, at every point.
void check_types_and_shapes(const ir::Graph& g, const std::vector<Point>& points) {
  for (const auto& v : g.values()) {
    if (v->constant) continue;
    bool first_deferred = true;
    for (const Point& point : points) {
      const ops::ResolvedShapes& r = point.shapes;
      if (auto it = r.desc.find(v.get()); it != r.desc.end()) {
        const ops::TensorDesc& d = it->second;
        if (v->dtype != d.dtype) {
          invalid(describe_value(*v), " is stored as ", to_string(v->dtype), " but ",
                  v->producer ? v->producer->describe() : std::string("inference"), " infers ",
                  to_string(d.dtype), " (at ", point.describe(), ")");
        }
        if (!tensor_bytes(d.shape, d.dtype)) {
          invalid(describe_value(*v), " would be larger than ", kMaxPlanTensorBytes,
                  " bytes: ", to_string(d.dtype), " [", to_string(d.shape), "] at ",
                  point.describe());
        }
        if (!v->has_shape) {
          invalid(describe_value(*v), " is stored without a shape, but inference gives [",
                  to_string(d.shape), "] at ", point.describe());
        }
        const Dims stored = ir::to_dims(v->shape);
        bool same = stored.size() == d.shape.size();
        for (size_t k = 0; same && k < stored.size(); ++k) {
          if (stored[k] >= 0 && stored[k] != d.shape[k]) same = false;
        }
        if (!same) {
          invalid(describe_value(*v), " is stored with shape [", ir::to_string(v->shape), "] but ",
                  v->producer ? v->producer->describe() : std::string("inference"), " infers [",
                  to_string(d.shape), "] at ", point.describe());
        }
      } else if (auto dit = r.deferred.find(v.get()); dit != r.deferred.end()) {
        const ops::ResolvedShapes::Deferred& d = dit->second;
        if (d.dtype && *d.dtype != v->dtype) {
          invalid(describe_value(*v), " is stored as ", to_string(v->dtype), " but ",
                  v->producer ? v->producer->describe() : std::string("inference"), " infers ",
                  to_string(*d.dtype), " (its extents wait for the data at ", point.describe(),
                  ")");
        }
        // Where the rank is known, the builder stores that many dims, all -1 (extents known
        // only when the node runs); as it does, this looks at the first point that defers it.
        if (first_deferred && d.rank != ops::ResolvedShapes::kUnknownRank &&
            (!v->has_shape || v->shape.size() != d.rank ||
             std::any_of(v->shape.begin(), v->shape.end(),
                         [](const ir::Dim& dim) { return dim.is_static(); }))) {
          invalid(describe_value(*v), " is stored with shape [", ir::to_string(v->shape), "] but ",
                  v->producer ? v->producer->describe() : std::string("inference"), " infers rank ",
                  d.rank, " with extents that wait for the data (at ", point.describe(), ")");
        }
        first_deferred = false;
      }
    }
  }
}

// The memory plan against the activations the executors place in the arena: values computed
// by a node, not known at shape time at every point, not waiting for data at any point, and
// (GPU) not views of another value. Each needs a block at least as large as its largest size
// at the profile points (the builder reserves exactly that, rounded up to the alignment);
// graph outputs are written to the caller's buffers and may have one. The arena is the end of
// the last block and the activation total the sum of the sizes, as the builder computes them.
void check_memory(const plan::PlanContents& plan, const std::vector<Point>& points, bool gpu) {
  const ir::Graph& g = *plan.graph;
  const plan::MemoryPlanData& memory = plan.memory;
  constexpr uint64_t kAlign = builder::kArenaAlignment;
  std::unordered_set<const ir::Value*> outputs(g.outputs().begin(), g.outputs().end());
  std::unordered_map<std::string, uint64_t> needed;  // arena values -> bytes
  for (const auto& node : g.nodes()) {
    if (gpu) {
      auto t = plan.tactics.find(node->name);
      if (t != plan.tactics.end() && t->second == "view_alias") continue;
    }
    for (const ir::Value* out : node->outputs) {
      if (!out) continue;
      bool deferred = false, host_known = true;
      uint64_t bytes = 0;
      for (const Point& point : points) {
        if (point.shapes.is_deferred(out)) deferred = true;
        if (!point.shapes.values.count(out)) host_known = false;
        if (auto it = point.shapes.desc.find(out); it != point.shapes.desc.end()) {
          bytes = std::max(
              bytes,
              tensor_bytes(it->second.shape, it->second.dtype).value_or(0));  // bounded above
        }
      }
      if (deferred || host_known) continue;
      needed[out->name] = bytes;
      if (!outputs.count(out) && !memory.offsets.count(out->name)) {
        invalid("memory plan: ", describe_value(*out), " has no place in the arena");
      }
    }
  }
  uint64_t end = 0, total = 0;
  for (const auto& [name, offset] : memory.offsets) {
    auto size_it = memory.sizes.find(name);
    if (size_it == memory.sizes.end()) invalid("memory plan: entry ", quoted(name), " has no size");
    const uint64_t size = size_it->second;
    auto it = needed.find(name);
    if (it == needed.end()) {
      invalid("memory plan: entry ", quoted(name), " names no activation that the arena holds");
    }
    const uint64_t need = it->second;
    const uint64_t reserved = (std::max<uint64_t>(need, 1) + kAlign - 1) / kAlign * kAlign;
    if (size < need || size > reserved) {
      invalid("memory plan: entry ", quoted(name), " reserves ", size, " bytes; the value needs ",
              need, " at the profiles' largest shapes (", reserved, " reserved with alignment)");
    }
    if (offset % kAlign != 0) {
      invalid("memory plan: entry ", quoted(name), " offset ", offset, " is not a multiple of ",
              kAlign);
    }
    // The reader checked offset + size <= arena_bytes, so neither overflows.
    end = std::max(end, offset + size);
    total += need;
  }
  if (memory.arena_bytes != end) {
    invalid("memory plan: arena_bytes is ", memory.arena_bytes, " but its blocks end at ", end);
  }
  if (memory.total_activation_bytes != total) {
    invalid("memory plan: total_activation_bytes is ", memory.total_activation_bytes,
            " but the activations it places add up to ", total);
  }
}

bool is_view_op(const std::string& op) {
  static constexpr std::array<std::string_view, 5> kViews = {"Reshape", "Flatten", "Squeeze",
                                                             "Unsqueeze", "Identity"};
  return std::find(kViews.begin(), kViews.end(), op) != kViews.end();
}

// Every node has a tactic of this kiln for its op, and every tactic names a node; a view
// (GPU) is a view op whose output has its input's bytes.
void check_tactics(const plan::PlanContents& plan, const std::vector<Point>& points, bool gpu) {
  const ir::Graph& g = *plan.graph;
  std::set<std::string> node_names;
  for (const auto& node : g.nodes()) {
    node_names.insert(node->name);
    auto t = plan.tactics.find(node->name);
    if (t == plan.tactics.end()) invalid("tactics: ", node->describe(), " has no tactic");
    const std::string& tactic = t->second;
    const bool has_params = plan.tactic_params.count(node->name) != 0;
    if (!gpu) {
      if (tactic != "reference" && !cpu::CpuKernelRegistry::instance().find(node->op, tactic)) {
        invalid("tactics: ", node->describe(), ": tactic ", quoted(tactic),
                " is not a CPU kernel of ", node->op);
      }
      if (has_params) invalid("tactic parameters: ", node->describe(), ": CPU kernels take none");
      continue;
    }
#ifdef KILN_HAVE_CUDA
    const std::string problem = cuda::check_loaded_tactic(*node, tactic, has_params);
    if (!problem.empty()) invalid("tactics: ", node->describe(), ": ", problem);
#endif
    if (tactic == "view_alias") {
      const ir::Value* in = node->inputs.empty() ? nullptr : node->inputs[0];
      const ir::Value* out = node->outputs.size() == 1 ? node->outputs[0] : nullptr;
      if (!is_view_op(node->op) || !in || !out) {
        invalid("tactics: ", node->describe(),
                ": tactic 'view_alias' is only for a view op's one output");
      }
      for (const Point& point : points) {
        auto a = point.shapes.desc.find(in);
        auto b = point.shapes.desc.find(out);
        if (a == point.shapes.desc.end() || b == point.shapes.desc.end() ||
            a->second.dtype != b->second.dtype ||
            volume(a->second.shape) != volume(b->second.shape)) {
          invalid("tactics: ", node->describe(),
                  ": tactic 'view_alias' but its output is not its "
                  "input's bytes at ",
                  point.describe());
        }
      }
    }
  }
  for (const auto& [name, tactic] : plan.tactics) {
    if (!node_names.count(name))
      invalid("tactics: entry for ", quoted(name), ", which is no node of the graph");
  }
}

}  // namespace

void verify_loaded_plan(const plan::PlanContents& plan) {
  if (!plan.graph) invalid("it has no graph");
  const ir::Graph& g = *plan.graph;
  if (plan.target != "cpu" && plan.target.rfind("cuda:", 0) != 0) {
    invalid("target ", quoted(plan.target), " is neither 'cpu' nor 'cuda:...'");
  }
  const bool gpu = plan.target != "cpu";
  check_ops(g, cat("graph ", quoted(g.name)));
  try {
    ir::verify(g);
  } catch (const Error& e) {
    invalid(e.what());
  }
  if (g.outputs().empty()) invalid("the graph has no outputs");
  check_constants(g);
  check_profiles(plan);
  const std::vector<Point> points = resolve_points(plan);
  check_types_and_shapes(g, points);
  check_tactics(plan, points, gpu);
  check_memory(plan, points, gpu);
}

}  // namespace kiln::detail

#include <algorithm>
#include <sstream>

#include "kiln/version.h"
#include "runtime/engine_impl.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace kiln {

namespace detail {

std::unique_ptr<Engine> EngineImpl::create(plan::PlanContents plan) {
  auto impl = std::make_unique<EngineImpl>();
  impl->plan = std::move(plan);
  const ir::Graph& g = *impl->plan.graph;
  for (const ir::Value* in : g.inputs()) {
    impl->io.push_back({in->name, TensorIOMode::kINPUT, in->dtype, ir::to_dims(in->shape), in});
  }
  for (const ir::Value* out : g.outputs()) {
    bool seen = std::any_of(impl->io.begin(), impl->io.end(),
                            [&](const IOTensor& t) { return t.name == out->name; });
    KILN_CHECK(
        !seen, ErrorCode::kUnsupported, "tensor '", out->name,
        "' is both a network input and output (or an output twice); insert an Identity layer");
    impl->io.push_back(
        {out->name, TensorIOMode::kOUTPUT, out->dtype, ir::to_dims(out->shape), out});
  }
#ifdef KILN_HAVE_CUDA
  // CUDA engines: device state, filled (weights uploaded) on the first run.
  if (cuda::is_cuda_target(impl->plan.target)) impl->cuda = cuda::create_engine_resources();
#endif
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const IOTensor* EngineImpl::find_io(const std::string& name) const {
  for (const IOTensor& t : io) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const IOTensor& EngineImpl::io_tensor(const std::string& name) const {
  const IOTensor* t = find_io(name);
  if (!t) {
    std::string names;
    for (const IOTensor& x : io) names += (names.empty() ? "" : ", ") + x.name;
    fail(ErrorCode::kInvalidArgument, "the engine has no input or output named '", name,
         "' (it has: ", names, ")");
  }
  return *t;
}

}  // namespace detail

Engine::Engine(std::unique_ptr<detail::EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

int Engine::num_io_tensors() const { return int(impl_->io.size()); }

const std::string& Engine::io_tensor_name(int index) const {
  KILN_CHECK(index >= 0 && index < num_io_tensors(), ErrorCode::kInvalidArgument,
             "I/O tensor index ", index, " is out of range (the engine has ", num_io_tensors(),
             ")");
  return impl_->io[size_t(index)].name;
}

TensorIOMode Engine::tensor_io_mode(const std::string& name) const {
  const detail::IOTensor* t = impl_->find_io(name);
  return t ? t->mode : TensorIOMode::kNONE;
}

DataType Engine::tensor_dtype(const std::string& name) const {
  return impl_->io_tensor(name).dtype;
}
Dims Engine::tensor_shape(const std::string& name) const { return impl_->io_tensor(name).dims; }
int Engine::num_optimization_profiles() const { return int(impl_->plan.profiles.size()); }

Dims Engine::profile_shape(const std::string& input, int profile, OptProfileSelector which) const {
  KILN_CHECK(profile >= 0 && profile < num_optimization_profiles(), ErrorCode::kInvalidArgument,
             "optimization profile ", profile, " does not exist");
  const plan::ProfileData& p = impl_->plan.profiles[size_t(profile)];
  for (size_t i = 0; i < p.input_names.size(); ++i) {
    if (p.input_names[i] != input) continue;
    return which == OptProfileSelector::kMIN   ? p.min[i]
           : which == OptProfileSelector::kOPT ? p.opt[i]
                                               : p.max[i];
  }
  fail(ErrorCode::kInvalidArgument, "the engine has no input named '", input, "'");
}

int Engine::num_layers() const { return int(impl_->plan.graph->nodes().size()); }
DeviceType Engine::device() const {
  return impl_->plan.target == "cpu" ? DeviceType::kCPU : DeviceType::kGPU;
}
uint64_t Engine::arena_bytes() const { return impl_->plan.memory.arena_bytes; }
uint64_t Engine::total_activation_bytes() const {
  return impl_->plan.memory.total_activation_bytes;
}

uint64_t Engine::weight_bytes() const {
  uint64_t total = 0;
  for (const auto& v : impl_->plan.graph->values()) {
    if (v->is_constant()) total += v->constant->nbytes();
  }
  return total;
}

std::string Engine::describe() const {
  std::ostringstream out;
  const plan::PlanContents& p = impl_->plan;
  out << "engine: target " << p.target << ", built by kiln "
      << (p.kiln_version.empty() ? version_string() : p.kiln_version) << "\n";
  for (const detail::IOTensor& t : impl_->io) {
    out << (t.mode == TensorIOMode::kINPUT ? "input  " : "output ") << t.name << ": "
        << to_string(t.dtype) << " [" << to_string(t.dims) << "]\n";
  }
  for (size_t i = 0; i < p.profiles.size(); ++i) {
    const plan::ProfileData& pr = p.profiles[i];
    for (size_t k = 0; k < pr.input_names.size(); ++k) {
      if (pr.min[k] == pr.max[k]) continue;
      out << "profile " << i << " " << pr.input_names[k] << ": min " << to_string(pr.min[k])
          << ", opt " << to_string(pr.opt[k]) << ", max " << to_string(pr.max[k]) << "\n";
    }
  }
  out << "layers: " << num_layers() << "\n";
  for (const auto& node : p.graph->nodes()) {
    auto tactic = p.tactics.find(node->name);
    out << "  " << node->name << " [" << node->op << "] kernel "
        << (tactic == p.tactics.end() ? std::string("?") : tactic->second);
    if (auto params = p.tactic_params.find(node->name);
        params != p.tactic_params.end() && tactic != p.tactics.end()) {
#ifdef KILN_HAVE_CUDA
      out << " (" << cuda::describe_tactic_params(node->op, tactic->second, params->second) << ")";
#else
      out << " (" << params->second.size() << " bytes of algorithm parameters)";
#endif
    }
    out << " ->";
    for (const ir::Value* o : node->outputs) {
      if (o) out << " " << to_string(o->dtype) << "[" << ir::to_string(o->shape) << "]";
    }
    out << "\n";
  }
  out << "memory: weights " << weight_bytes() << " bytes, activation arena " << arena_bytes()
      << " bytes (sum of all activations " << total_activation_bytes() << " bytes)\n";
  return out.str();
}

std::vector<uint8_t> Engine::serialize() const { return plan::serialize_plan(impl_->plan); }
void Engine::save(const std::string& path) const { plan::write_plan_file(path, impl_->plan); }

std::unique_ptr<ExecutionContext> Engine::create_execution_context() const {
  auto ctx = std::make_unique<detail::ContextImpl>();
  ctx->engine = impl_.get();
  return std::unique_ptr<ExecutionContext>(new ExecutionContext(std::move(ctx)));
}

}  // namespace kiln

#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <utility>

#include "backends/cuda/cudnn_graph.cuh"
#include "core/error.h"

namespace kiln::cuda::cudnn {

CudnnFailure::CudnnFailure(cudnnStatus_t status, const std::string& what)
    : std::runtime_error(what + ": " + status_text(status)), status_(status) {}

std::string status_text(cudnnStatus_t status) {
  std::string text = cudnnGetErrorString(status);
  std::array<char, 512> detail{};
  cudnnGetLastErrorString(detail.data(), detail.size());
  if (detail[0] != '\0') text += cat(" (", detail.data(), ")");
  return text;
}

void check(cudnnStatus_t status, const char* what) {
  if (status != CUDNN_STATUS_SUCCESS) throw CudnnFailure(status, what);
}

// ---------------------------------------------------------------------------------------------
// Descriptors

Descriptor::Descriptor(cudnnBackendDescriptorType_t type) {
  check(cudnnBackendCreateDescriptor(type, &desc_), "creating a backend descriptor");
}

Descriptor& Descriptor::operator=(Descriptor&& other) noexcept {
  if (this != &other) {
    if (desc_) cudnnBackendDestroyDescriptor(desc_);
    desc_ = other.desc_;
    other.desc_ = nullptr;
  }
  return *this;
}

Descriptor::~Descriptor() {
  if (desc_) cudnnBackendDestroyDescriptor(desc_);
}

void Descriptor::set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                     int64_t count, const void* values, const char* what) {
  check(cudnnBackendSetAttribute(desc_, name, type, count, values), what);
}

void Descriptor::set_int(cudnnBackendAttributeName_t name, int64_t value, const char* what) {
  set(name, CUDNN_TYPE_INT64, 1, &value, what);
}

void Descriptor::set_ints(cudnnBackendAttributeName_t name, const std::vector<int64_t>& values,
                          const char* what) {
  set(name, CUDNN_TYPE_INT64, int64_t(values.size()), values.data(), what);
}

void Descriptor::set_descriptor(cudnnBackendAttributeName_t name, const Descriptor& value,
                                const char* what) {
  cudnnBackendDescriptor_t raw = value.get();
  set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw, what);
}

void Descriptor::finalize(const char* what) { check(cudnnBackendFinalize(desc_), what); }

cudnnDataType_t data_type(DataType t) {
  switch (t) {
    case DataType::kFloat16:
      return CUDNN_DATA_HALF;
    case DataType::kBFloat16:
      return CUDNN_DATA_BFLOAT16;
    case DataType::kFloat32:
      return CUDNN_DATA_FLOAT;
    default:
      break;
  }
  fail(ErrorCode::kInternal, "cuDNN tensor of unsupported dtype ", to_string(t));
}

Descriptor tensor_descriptor(int64_t uid, DataType dtype, const std::vector<int64_t>& dims,
                             int64_t alignment) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t d = dims.size() - 1; d-- > 0;) strides[d] = strides[d + 1] * dims[d + 1];
  return tensor_descriptor(uid, dtype, dims, strides, alignment);
}

Descriptor tensor_descriptor(int64_t uid, DataType dtype, const std::vector<int64_t>& dims,
                             const std::vector<int64_t>& strides, int64_t alignment,
                             bool is_virtual) {
  Descriptor t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = data_type(dtype);
  t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor data type");
  t.set_ints(CUDNN_ATTR_TENSOR_DIMENSIONS, dims, "tensor dimensions");
  t.set_ints(CUDNN_ATTR_TENSOR_STRIDES, strides, "tensor strides");
  t.set_int(CUDNN_ATTR_TENSOR_UNIQUE_ID, uid, "tensor unique id");
  t.set_int(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, alignment, "tensor alignment");
  if (is_virtual) {
    const bool yes = true;
    t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes, "virtual tensor");
  }
  t.finalize("finalizing a tensor descriptor");
  return t;
}

int64_t alignment_of(const void* pointer) {
  const auto address = reinterpret_cast<uintptr_t>(pointer);
  if (address == 0) return 16;
  const uintptr_t lowest_bit = address & (~address + 1);
  return int64_t(lowest_bit < 16 ? lowest_bit : 16);
}

// ---------------------------------------------------------------------------------------------
// Engine choice and execution

namespace {

// Whether the engine behind `config` computes as kiln's numerics allow.
bool numerics_acceptable(const Descriptor& config, const EnginePolicy& policy) {
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t count = 0;
  check(cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &raw),
        "reading the engine of an engine configuration");
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  int64_t note_count = 0;
  check(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                 CUDNN_TYPE_NUMERICAL_NOTE, int64_t(notes.size()), &note_count,
                                 notes.data()),
        "reading an engine's numerical notes");
  for (int64_t i = 0; i < note_count && i < int64_t(notes.size()); ++i) {
    switch (notes[size_t(i)]) {
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
        return false;
      case CUDNN_NUMERICAL_NOTE_TENSOR_CORE:
        if (!policy.allow_tensor_cores) return false;
        break;
      case CUDNN_NUMERICAL_NOTE_FFT:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13:
        if (!policy.allow_transforms) return false;
        break;
      default:
        break;
    }
  }
  return true;
}

// The engine configurations heuristics `mode` proposes for `graph`, best first.
std::vector<Descriptor> heuristic_configs(const Descriptor& graph, cudnnBackendHeurMode_t mode) {
  Descriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heuristics.set_descriptor(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "heuristics graph");
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics mode");
  heuristics.finalize("running the engine heuristics");
  int64_t available = 0;
  check(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr),
        "counting the heuristics' results");
  std::vector<Descriptor> configs;
  if (available <= 0) return configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < available; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t returned = 0;
  check(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, available, &returned, raw.data()),
        "reading the heuristics' results");
  configs.resize(size_t(std::max<int64_t>(0, std::min(returned, available))));
  return configs;
}

// The engine and knob choices of a finalized engine configuration.
EngineChoice read_choice(const Descriptor& config) {
  EngineChoice choice;
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw_engine = engine.get();
  int64_t count = 0;
  check(cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count, &raw_engine),
        "reading the engine of an engine configuration");
  check(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                 &count, &choice.engine),
        "reading an engine's index");
  std::vector<Descriptor> knobs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; ++i) {
    knobs.emplace_back(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
    raw.push_back(knobs.back().get());
  }
  int64_t returned = 0;
  check(cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(raw.size()), &returned,
                                 raw.data()),
        "reading an engine configuration's knob choices");
  for (int64_t i = 0; i < returned && i < int64_t(knobs.size()); ++i) {
    cudnnBackendKnobType_t type{};
    int64_t value = 0;
    check(cudnnBackendGetAttribute(knobs[size_t(i)].get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                   CUDNN_TYPE_KNOB_TYPE, 1, &count, &type),
          "reading a knob's type");
    check(cudnnBackendGetAttribute(knobs[size_t(i)].get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                   CUDNN_TYPE_INT64, 1, &count, &value),
          "reading a knob's value");
    choice.knobs.emplace_back(int64_t(type), value);
  }
  return choice;
}

// A finalized engine configuration of `choice` for `graph`; its engine and knob descriptors go
// to `keep` (the configuration refers to them).
Descriptor make_config(const Descriptor& graph, const EngineChoice& choice,
                       std::vector<Descriptor>& keep) {
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  engine.set_descriptor(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph, "engine graph");
  engine.set_int(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, choice.engine, "engine index");
  engine.finalize("finalizing the engine");
  std::vector<cudnnBackendDescriptor_t> raw;
  std::vector<Descriptor> knobs;
  for (const auto& [type, value] : choice.knobs) {
    Descriptor knob(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
    const auto knob_type = cudnnBackendKnobType_t(type);
    knob.set(CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &knob_type, "knob type");
    knob.set_int(CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, value, "knob value");
    knob.finalize("finalizing a knob choice");
    raw.push_back(knob.get());
    knobs.push_back(std::move(knob));
  }
  Descriptor config(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
  config.set_descriptor(CUDNN_ATTR_ENGINECFG_ENGINE, engine, "configuration engine");
  if (!raw.empty()) {
    config.set(CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
               int64_t(raw.size()), raw.data(), "configuration knobs");
  }
  config.finalize("finalizing the engine configuration");
  keep.push_back(std::move(engine));
  for (Descriptor& k : knobs) keep.push_back(std::move(k));
  return config;
}

}  // namespace

std::string EngineChoice::describe() const {
  std::string text = cat("cuDNN engine ", engine);
  if (!knobs.empty()) {
    text += ", knobs";
    for (const auto& [type, value] : knobs) text += cat(" ", type, "=", value);
  }
  return text;
}

ExecutionPlan::ExecutionPlan(cudnnHandle_t handle, std::vector<Descriptor> operations,
                             std::vector<Descriptor> parts, const EnginePolicy& policy,
                             const EngineChoice* wanted, std::vector<EngineChoice>* proposals)
    : keep_alive_(std::move(parts)) {
  Descriptor graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  std::vector<cudnnBackendDescriptor_t> ops;
  for (Descriptor& op : operations) {
    ops.push_back(op.get());
    keep_alive_.push_back(std::move(op));
  }
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(ops.size()),
            ops.data(), "graph operations");
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
  graph.finalize("finalizing the operation graph");

  // A finalized plan of `config`, or an empty descriptor (with `last` set) when it does not
  // finalize or needs more workspace than allowed.
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  int refused = 0;
  auto finalize_plan = [&](const Descriptor& config, int64_t& workspace) {
    Descriptor plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "plan handle");
    plan.set_descriptor(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config,
                        "plan engine configuration");
    const cudnnStatus_t status = cudnnBackendFinalize(plan.get());
    if (status != CUDNN_STATUS_SUCCESS) {
      last = status;
      return Descriptor();
    }
    int64_t count = 0;
    check(cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                   CUDNN_TYPE_INT64, 1, &count, &workspace),
          "reading the plan's workspace size");
    if (workspace < 0 || uint64_t(workspace) > policy.max_workspace_bytes) {
      ++refused;
      return Descriptor();
    }
    return plan;
  };

  if (wanted) {  // the builder's choice: exactly this configuration
    std::vector<Descriptor> keep;
    Descriptor config = make_config(graph, *wanted, keep);
    int64_t workspace = 0;
    Descriptor plan = finalize_plan(config, workspace);
    if (!plan) {
      throw CudnnFailure(last, cat("the ", wanted->describe(), " does not finalize for this graph",
                                   refused ? " within the workspace limit" : ""));
    }
    workspace_bytes_ = workspace;
    plan_ = std::move(plan);
    choice_ = *wanted;
    for (Descriptor& d : keep) keep_alive_.push_back(std::move(d));
    keep_alive_.push_back(std::move(config));
    keep_alive_.push_back(std::move(graph));
    return;
  }

  int tried = 0;
  std::vector<Descriptor> kept_configs;
  auto done = [&] { return plan_ && (!proposals || proposals->size() >= kMaxTacticProposals); };
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    if (done()) break;
    std::vector<Descriptor> configs;
    try {
      configs = heuristic_configs(graph, mode);
    } catch (const CudnnFailure& e) {
      last = e.status();  // e.g. no fallback engine for this graph: try the next mode
      continue;
    }
    for (Descriptor& config : configs) {
      if (done()) break;
      ++tried;
      int64_t config_workspace = 0;
      int64_t count = 0;
      if (cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE,
                                   CUDNN_TYPE_INT64, 1, &count,
                                   &config_workspace) == CUDNN_STATUS_SUCCESS &&
          uint64_t(config_workspace) > policy.max_workspace_bytes) {
        ++refused;
        continue;
      }
      try {
        if (!numerics_acceptable(config, policy)) {
          ++refused;
          continue;
        }
      } catch (const CudnnFailure& e) {  // notes unreadable: take the next configuration
        last = e.status();
        continue;
      }
      if (plan_) {  // listing more configurations for the builder to time (finalized then)
        try {
          EngineChoice choice = read_choice(config);
          bool seen = false;
          for (const EngineChoice& p : *proposals) {
            seen = seen || (p.engine == choice.engine && p.knobs == choice.knobs);
          }
          if (!seen) proposals->push_back(std::move(choice));
        } catch (const CudnnFailure&) {
        }
        continue;
      }
      int64_t workspace = 0;
      Descriptor plan = finalize_plan(config, workspace);
      if (!plan) continue;
      workspace_bytes_ = workspace;
      plan_ = std::move(plan);
      try {
        choice_ = read_choice(config);
        if (proposals) proposals->push_back(choice_);
      } catch (const CudnnFailure&) {
        choice_ = EngineChoice{};
      }
      kept_configs.push_back(std::move(config));
    }
  }
  if (plan_) {
    keep_alive_.push_back(std::move(graph));
    for (Descriptor& d : kept_configs) keep_alive_.push_back(std::move(d));
    return;
  }
  const std::string why =
      cat("no engine configuration could be used (", tried, " proposed by the heuristics, ",
          refused, " of them refused for their numerics or for needing more than ",
          policy.max_workspace_bytes, " bytes of workspace, the others failed to finalize)");
  throw CudnnFailure(last, why);
}

void ExecutionPlan::execute(cudnnHandle_t handle, cudaStream_t stream,
                            const std::vector<int64_t>& uids, const std::vector<void*>& pointers,
                            void* workspace) {
  if (!pack_ || pointers != pack_pointers_ || workspace != pack_workspace_) {
    Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, int64_t(uids.size()),
             uids.data(), "variant pack ids");
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, int64_t(pointers.size()),
             pointers.data(), "variant pack pointers");
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace,
             "variant pack workspace");
    pack.finalize("finalizing the variant pack");
    pack_ = std::move(pack);
    pack_pointers_ = pointers;
    pack_workspace_ = workspace;
  }
  check(cudnnSetStream(handle, stream), "setting the stream");
  check(cudnnBackendExecute(handle, plan_.get(), pack_.get()), "executing the plan");
}

// ---------------------------------------------------------------------------------------------
// Handles

namespace {

std::shared_ptr<cudnnHandle_t> create_handle() {
  cudnnHandle_t raw = nullptr;
  check(cudnnCreate(&raw), "creating a cuDNN handle");
  return std::shared_ptr<cudnnHandle_t>(new cudnnHandle_t(raw), [](cudnnHandle_t* h) {
    cudnnDestroy(*h);
    delete h;
  });
}

}  // namespace

cudnnHandle_t context_handle(const RunContext& rc) {
  if (!*rc.cudnn) {
    std::shared_ptr<cudnnHandle_t> handle = create_handle();
    *rc.cudnn = std::shared_ptr<void>(handle, handle.get());
  }
  return *static_cast<cudnnHandle_t*>(rc.cudnn->get());
}

bool with_probe_handle(bool when_no_device, const std::function<bool(cudnnHandle_t)>& probe) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();  // clear the (non-sticky) error so that later CUDA calls start clean
    return when_no_device;
  }
  // Created once and never destroyed: destroying it at exit could run after the CUDA
  // runtime has shut down.
  static cudnnHandle_t* handle = [] {
    cudnnHandle_t raw = nullptr;
    return cudnnCreate(&raw) == CUDNN_STATUS_SUCCESS ? new cudnnHandle_t(raw) : nullptr;
  }();
  if (!handle) return false;
  try {
    return probe(*handle);
  } catch (...) {
    return false;
  }
}

}  // namespace kiln::cuda::cudnn

#include "run_case.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <sstream>

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "compare.h"
#include "core/error.h"
#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"
#include "onnx/tensor_proto.h"
#include "unspecified.h"

namespace kiln::conformance {

namespace {

namespace fs = std::filesystem;

struct NamedTensor {
  std::string name;  // the TensorProto's name; may be empty
  Tensor tensor;
};

struct DataSet {
  std::string label;  // "test_data_set_0"
  std::vector<NamedTensor> inputs, outputs;
};

// A failure found by the runner itself (not a kiln::Error): wrong outputs, inconsistent data.
struct Mismatch {
  std::string message;
};

// GPU engines read and write device memory: one buffer per input and output, copied from and
// to the host tensors around the run. On CPU engines it just hands out the host tensors.
class IoBuffers {
 public:
  explicit IoBuffers(bool on_gpu) : on_gpu_(on_gpu) {}
  ~IoBuffers() {
#ifdef KILN_HAVE_CUDA
    for (void* p : device_) cudaFree(p);
#endif
  }
  IoBuffers(const IoBuffers&) = delete;
  IoBuffers& operator=(const IoBuffers&) = delete;

  // The address the engine reads `t` from.
  void* input(const Tensor& t) {
    void* p = place(t);
#ifdef KILN_HAVE_CUDA
    if (on_gpu_ && t.nbytes())
      check(cudaMemcpy(p, t.raw(), t.nbytes(), cudaMemcpyHostToDevice), "copying an input");
#endif
    return p;
  }
  // The address the engine writes `t` at; copy_back() fills `t` after the run.
  void* output(Tensor& t) {
    void* p = place(t);
    if (on_gpu_) outputs_.push_back({&t, p});
    return p;
  }
  void copy_back() {
#ifdef KILN_HAVE_CUDA
    for (auto& [t, p] : outputs_) {
      if (t->nbytes())
        check(cudaMemcpy(t->raw(), p, t->nbytes(), cudaMemcpyDeviceToHost), "copying an output");
    }
#endif
  }

 private:
  void* place(const Tensor& t) {
    if (!on_gpu_) return const_cast<void*>(t.raw());
#ifdef KILN_HAVE_CUDA
    void* p = nullptr;
    check(cudaMalloc(&p, std::max<size_t>(t.nbytes(), 1)), "allocating a device buffer");
    device_.push_back(p);
    return p;
#else
    fail(ErrorCode::kUnsupported, "this kiln was built without CUDA");
#endif
  }
#ifdef KILN_HAVE_CUDA
  static void check(cudaError_t status, const char* what) {
    if (status != cudaSuccess) fail(ErrorCode::kRuntime, what, ": ", cudaGetErrorString(status));
  }
#endif

  bool on_gpu_;
  std::vector<void*> device_;
  std::vector<std::pair<Tensor*, void*>> outputs_;
};

bool read_model(const std::string& path, onnx::ModelProto& model) {
  std::ifstream in(path, std::ios::binary);
  return in && model.ParseFromIstream(&in);
}

NamedTensor read_tensor_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::TensorProto proto;
  if (!in || !proto.ParseFromIstream(&in)) {
    throw Mismatch{"cannot read " + path.filename().string() + " as an ONNX TensorProto"};
  }
  return {proto.name(), onnx_import::tensor_from_proto(proto, path.parent_path().string())};
}

std::vector<DataSet> load_data_sets(const TestCase& test_case) {
  std::vector<DataSet> sets;
  for (int s = 0;; ++s) {
    fs::path set_dir = fs::path(test_case.dir) / ("test_data_set_" + std::to_string(s));
    if (!fs::is_directory(set_dir)) break;
    DataSet set;
    set.label = set_dir.filename().string();
    for (int i = 0;; ++i) {
      fs::path file = set_dir / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(file)) break;
      set.inputs.push_back(read_tensor_file(file));
    }
    for (int i = 0;; ++i) {
      fs::path file = set_dir / ("output_" + std::to_string(i) + ".pb");
      if (!fs::exists(file)) break;
      set.outputs.push_back(read_tensor_file(file));
    }
    sets.push_back(std::move(set));
  }
  if (sets.empty()) throw Mismatch{"the test folder has no test_data_set_0"};
  return sets;
}

// The onnx runner's inputs for a light model: arange(n) / n in float32, with dims that are not
// fixed in the model taken as 1.
DataSet light_model_data_set(const TestCase& test_case, const NetworkDefinition& network) {
  DataSet set;
  set.label = "generated inputs";
  for (int i = 0; i < network.num_inputs(); ++i) {
    const ITensor& input = *network.input(i);
    if (input.type() != DataType::kFloat32) {
      throw Mismatch{"light model input '" + input.name() + "' is not float32; the onnx runner " +
                     "generates only float32 inputs"};
    }
    Dims dims = input.dims();
    for (int64_t& d : dims) d = d < 0 ? 1 : d;
    Tensor t = Tensor::zeros(DataType::kFloat32, dims);
    const int64_t n = t.numel();
    for (int64_t k = 0; k < n; ++k) t.data<float>()[k] = float(double(k) / double(n));
    set.inputs.push_back({input.name(), std::move(t)});
  }
  fs::path dir(test_case.dir);
  for (int o = 0;; ++o) {
    fs::path file = dir / (test_case.light_stem + "_output_" + std::to_string(o) + ".pb");
    if (!fs::exists(file)) break;
    set.outputs.push_back(read_tensor_file(file));
  }
  return set;
}

// The value for a network input or output: the one of that name, else the one at its position.
NamedTensor* find_value(std::vector<NamedTensor>& values, const std::string& name, int position) {
  for (NamedTensor& v : values) {
    if (!v.name.empty() && v.name == name) return &v;
  }
  if (position < int(values.size())) return &values[size_t(position)];
  return nullptr;
}

// onnx before 1.14 wrote bfloat16 test data as UINT16 tensors holding the bit patterns (numpy
// had no bfloat16); Debian's older suites still do. Read those as the bfloat16 the model declares.
void reinterpret_old_bfloat16(Tensor& value, DataType declared) {
  if (declared == DataType::kBFloat16 && value.dtype() == DataType::kUInt16) {
    value = Tensor::from_bytes(DataType::kBFloat16, value.shape(), value.raw(), value.nbytes());
  }
}

// Memory for outputs whose extents depend on the data (NonZero, Unique, ...).
class GrowingAllocator : public OutputAllocator {
 public:
  void* reallocate_output(const std::string&, void*, uint64_t size, uint64_t) override {
    if (storage_.size() < size) storage_.assign(size_t(size), 0);
    return storage_.data();
  }
  void notify_shape(const std::string&, const Dims& dims) override { shape_ = dims; }

 private:
  std::vector<unsigned char> storage_;
  Dims shape_;
};

class EngineHolder {
 public:
  EngineHolder(const Builder& builder, const NetworkDefinition& network, const RunOptions& options)
      : builder_(builder), network_(network), options_(options) {}

  // Builds for exactly these input shapes unless the current engine already was.
  ExecutionContext& context_for(const std::map<std::string, Dims>& shapes,
                                const StageCallback& on_stage) {
    if (engine_ && shapes == built_for_) return *context_;
    on_stage("build");
    context_.reset();
    engine_.reset();
    auto config = builder_.create_config();
    config->set_device(options_.device);
    // No autotuning: a test checks results, builds for one small shape, and timing every
    // candidate algorithm would dominate the run. The tuned tactics have their own GPU tests
    // (GpuAutotune), and every candidate computes the same op.
    config->set_builder_optimization_level(0);
    OptimizationProfile profile;
    bool any_dynamic = false;
    for (int i = 0; i < network_.num_inputs(); ++i) {
      const ITensor& input = *network_.input(i);
      if (volume(input.dims()) >= 0 && input.dims().size() == shapes.at(input.name()).size()) {
        continue;
      }
      const Dims& dims = shapes.at(input.name());
      for (auto which :
           {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
        profile.set_dimensions(input.name(), which, dims);
      }
      any_dynamic = true;
    }
    if (any_dynamic) config->add_optimization_profile(profile);
    if (options_.plan_round_trip) {
      std::vector<uint8_t> plan = builder_.build_serialized_network(network_, *config);
      engine_ = Runtime(null_logger()).deserialize_engine(plan.data(), plan.size());
    } else {
      engine_ = builder_.build_engine(network_, *config);
    }
    context_ = engine_->create_execution_context();
    built_for_ = shapes;
    return *context_;
  }

  const Engine& engine() const { return *engine_; }

 private:
  const Builder& builder_;
  const NetworkDefinition& network_;
  const RunOptions& options_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<ExecutionContext> context_;
  std::map<std::string, Dims> built_for_;
};

void run_data_set(EngineHolder& holder, const NetworkDefinition& network, DataSet& set,
                  const TestCase& test_case,
                  const std::map<std::string, UndefinedCastRule>& undefined_rules,
                  const StageCallback& on_stage) {
  std::map<std::string, Dims> shapes;
  std::vector<NamedTensor*> inputs;
  for (int i = 0; i < network.num_inputs(); ++i) {
    const std::string& name = network.input(i)->name();
    NamedTensor* value = find_value(set.inputs, name, i);
    if (!value) {
      throw Mismatch{set.label + " has no value for network input '" + name + "' (it has " +
                     std::to_string(set.inputs.size()) + " inputs)"};
    }
    reinterpret_old_bfloat16(value->tensor, network.input(i)->type());
    shapes[name] = value->tensor.shape();
    inputs.push_back(value);
  }
  ExecutionContext& context = holder.context_for(shapes, on_stage);
  const Engine& engine = holder.engine();
  IoBuffers buffers(engine.device() == DeviceType::kGPU);
  for (int i = 0; i < network.num_inputs(); ++i) {
    const std::string& name = network.input(i)->name();
    context.set_input_shape(name, inputs[size_t(i)]->tensor.shape());
    context.set_tensor_address(name, buffers.input(inputs[size_t(i)]->tensor));
  }
  if (int(set.outputs.size()) != network.num_outputs()) {
    throw Mismatch{"the network has " + std::to_string(network.num_outputs()) + " outputs, " +
                   set.label + " " + std::to_string(set.outputs.size())};
  }
  std::vector<Tensor> got(size_t(network.num_outputs()));
  std::vector<std::unique_ptr<GrowingAllocator>> allocators(got.size());
  for (int o = 0; o < network.num_outputs(); ++o) {
    const std::string& name = network.output(o)->name();
    Dims dims = context.tensor_shape(name);
    if (volume(dims) < 0 || context.has_data_dependent_shape(name)) {
      allocators[size_t(o)] = std::make_unique<GrowingAllocator>();
      context.set_output_allocator(name, allocators[size_t(o)].get());
    } else {
      got[size_t(o)] = Tensor::zeros(engine.tensor_dtype(name), dims);
      context.set_tensor_address(name, buffers.output(got[size_t(o)]));
    }
  }
  on_stage("execute");
  context.execute();
  buffers.copy_back();
  on_stage("compare");
  std::string differences;
  for (int o = 0; o < network.num_outputs(); ++o) {
    const std::string& name = network.output(o)->name();
    if (allocators[size_t(o)]) {
      got[size_t(o)] = Tensor::view(engine.tensor_dtype(name), context.tensor_shape(name),
                                    context.tensor_address(name));
    }
    NamedTensor* want = find_value(set.outputs, name, o);  // non-null: the counts match
    reinterpret_old_bfloat16(want->tensor, engine.tensor_dtype(name));
    std::string what = "output " + std::to_string(o) + " '" + name + "'";
    std::vector<bool> undefined;
    if (auto rule = undefined_rules.find(name); rule != undefined_rules.end()) {
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (network.input(int(i))->name() == rule->second.input_name) {
          undefined = undefined_cast_elements(inputs[i]->tensor, rule->second.to);
        }
      }
    }
    std::string diff = compare_output(got[size_t(o)], want->tensor, test_case.rtol, test_case.atol,
                                      what, undefined);
    if (!diff.empty()) differences += (differences.empty() ? "" : "; ") + diff;
  }
  if (!differences.empty()) throw Mismatch{set.label + ": " + differences};
}

bool is_non_tensor_type(const onnx::TypeProto& type) {
  switch (type.value_case()) {
    case onnx::TypeProto::kTensorType:
      return type.tensor_type().elem_type() == onnx::TensorProto::STRING;
    case onnx::TypeProto::kSequenceType:
    case onnx::TypeProto::kMapType:
    case onnx::TypeProto::kOptionalType:
      return true;
    default:
      return false;
  }
}

bool is_non_tensor_op(const std::string& op) {
  for (const char* prefix : {"Sequence", "Optional", "String"}) {
    if (op.rfind(prefix, 0) == 0) return true;
  }
  return op == "SplitToSequence" || op == "ConcatFromSequence" || op == "RegexFullMatch";
}

bool is_training_op(const onnx::NodeProto& node) {
  const std::string& op = node.op_type();
  return node.domain() == "ai.onnx.preview.training" || op == "Adam" || op == "Adagrad" ||
         op == "Momentum" || op == "Gradient";
}

struct ModelTraits {
  bool training = false;
  bool non_tensor = false;
};

void inspect_graph(const onnx::GraphProto& graph, ModelTraits& traits) {
  for (const auto* values : {&graph.input(), &graph.output(), &graph.value_info()}) {
    for (const onnx::ValueInfoProto& v : *values) {
      if (v.has_type() && is_non_tensor_type(v.type())) traits.non_tensor = true;
    }
  }
  for (const onnx::TensorProto& t : graph.initializer()) {
    if (t.data_type() == onnx::TensorProto::STRING) traits.non_tensor = true;
  }
  for (const onnx::NodeProto& node : graph.node()) {
    if (is_training_op(node)) traits.training = true;
    if (is_non_tensor_op(node.op_type())) traits.non_tensor = true;
    for (const onnx::AttributeProto& a : node.attribute()) {
      if (a.has_t() && a.t().data_type() == onnx::TensorProto::STRING) traits.non_tensor = true;
      if (a.has_g()) inspect_graph(a.g(), traits);
      for (const onnx::GraphProto& g : a.graphs()) inspect_graph(g, traits);
    }
  }
}

}  // namespace

std::string category_from_model(const TestCase& test_case) {
  ModelTraits traits;
  onnx::ModelProto model;
  if (read_model(test_case.model_path, model)) inspect_graph(model.graph(), traits);
  std::string leaf = test_case.name.substr(test_case.name.rfind('/') + 1);
  if (traits.training || leaf.find("_training") != std::string::npos) return "training-only";
  if (traits.non_tensor) return "sequence-map-optional-string";
  return "";
}

CaseResult run_case(const TestCase& test_case, const RunOptions& options,
                    const StageCallback& on_stage) {
  CaseResult result;
  if (test_case.layout == CaseLayout::kSkip) {
    result.outcome = Outcome::kSkip;
    result.reason = test_case.skip_reason;
    return result;
  }
  std::string stage = "parse";
  auto enter = [&](const std::string& name) {
    stage = name;
    on_stage(name);
  };
  // The category a failure gets when the model does not explain it.
  std::string fallback_category;
  try {
    enter("parse");
    Logger& logger = null_logger();
    Builder builder(logger);
    auto network = builder.create_network();
    OnnxParser(*network, logger).parse_from_file(test_case.model_path);
    enter("data");
    std::vector<DataSet> sets;
    if (test_case.layout == CaseLayout::kLightModel) {
      sets.push_back(light_model_data_set(test_case, *network));
    } else {
      sets = load_data_sets(test_case);
    }
    onnx::ModelProto model;
    std::map<std::string, UndefinedCastRule> undefined_rules;
    if (read_model(test_case.model_path, model)) undefined_rules = undefined_element_rules(model);
    EngineHolder holder(builder, *network, options);
    for (DataSet& set : sets) {
      run_data_set(holder, *network, set, test_case, undefined_rules, enter);
    }
    result.outcome = Outcome::kPass;
    return result;
  } catch (const Mismatch& m) {
    result.reason = m.message;
    fallback_category = "other";
  } catch (const Error& e) {
    result.reason = stage + ": " + e.what();
    fallback_category = "not-implemented";
  } catch (const std::bad_alloc&) {
    result.reason = stage + ": out of memory (std::bad_alloc)";
    fallback_category = "other";
  } catch (const std::exception& e) {
    result.reason = stage + ": unexpected exception: " + e.what();
    fallback_category = "other";
  }
  result.outcome = Outcome::kFail;
  std::string from_model = category_from_model(test_case);
  result.auto_category = from_model.empty() ? fallback_category : from_model;
  result.note = one_line(result.reason);
  return result;
}

}  // namespace kiln::conformance

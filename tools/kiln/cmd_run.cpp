// kiln run: run a model (a plan, or an ONNX model built in memory) once on given or random
// inputs, print a summary of each output and optionally save the outputs as .npy files.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>
#include <set>

#include "commands.h"
#include "device_buffers.h"
#include "model.h"
#include "npy.h"
#include "output_dir.h"
#include "values.h"

namespace kiln::cli {
namespace {

constexpr size_t kValuesShown = 8;

// Storage-only types that numpy cannot hold: their .npy files are float32.
bool stored_as_float32(DataType type) { return !has_npy_descr(type); }

struct GivenInput {
  std::string path;
  NpyArray array;
};

// Resolves each --input NAME=FILE against the model's input names (a name may itself contain
// '=', so the longest input name followed by '=' wins) and reads the files.
std::map<std::string, GivenInput> read_given_inputs(const std::vector<std::string>& specs,
                                                    const std::vector<InputInfo>& inputs) {
  std::map<std::string, GivenInput> given;
  for (const std::string& spec : specs) {
    const InputInfo* match = nullptr;
    for (const InputInfo& input : inputs) {
      if (spec.size() > input.name.size() + 1 &&
          spec.compare(0, input.name.size(), input.name) == 0 && spec[input.name.size()] == '=' &&
          (!match || input.name.size() > match->name.size())) {
        match = &input;
      }
    }
    if (!match) {
      const size_t equals = spec.find('=');
      if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
        throw Error(ErrorCode::kInvalidArgument, "--input '" + spec + "': expected NAME=FILE.npy");
      }
      std::string names;
      for (const InputInfo& input : inputs) names += (names.empty() ? "" : ", ") + input.name;
      throw Error(ErrorCode::kInvalidArgument,
                  "--input '" + spec + "': the model has no input named '" +
                      spec.substr(0, equals) + "' (inputs: " + (names.empty() ? "none" : names) +
                      ")");
    }
    const InputInfo& input = *match;
    if (given.count(input.name)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "--input: input '" + input.name + "' is given more than once");
    }
    GivenInput file;
    file.path = spec.substr(input.name.size() + 1);
    check_input_file(file.path, "input file");
    file.array = read_npy(file.path);
    const DataType held = file.array.dtype;
    const bool convertible = stored_as_float32(input.dtype) && held == DataType::kFloat32;
    if (held != input.dtype && !convertible) {
      const char* wanted = stored_as_float32(input.dtype) ? "float32" : to_string(input.dtype);
      throw Error(ErrorCode::kInvalidArgument,
                  "input '" + input.name + "' is " + to_string(input.dtype) + ", but '" +
                      file.path + "' holds " + to_string(held) + "; save it as " + wanted +
                      " (e.g. arr.astype(np." + wanted + "))");
    }
    check_fits(input, file.array.shape, "'" + file.path + "'");
    given.emplace(input.name, std::move(file));
  }
  return given;
}

// DIR/NAME.npy with NAME's characters outside [A-Za-z0-9._-] replaced by '_'; names that
// collide once sanitized get a numeric suffix.
void print_summary(const Summary& summary) {
  if (summary.count == 0) {
    std::printf("  empty (no elements)\n");
    return;
  }
  std::printf("  min %s  max %s  mean %s", format_number(summary.min).c_str(),
              format_number(summary.max).c_str(), format_number(summary.mean).c_str());
  if (summary.nan_count) std::printf("  nan %zu", summary.nan_count);
  if (summary.inf_count) std::printf("  inf %zu", summary.inf_count);
  std::printf("\n  first %zu of %zu:", summary.first_values.size(), summary.count);
  for (const std::string& value : summary.first_values) std::printf(" %s", value.c_str());
  std::printf("\n");
}

int run_run(const ParsedArgs& args) {
  if (args.positionals.size() != 1) {
    throw UsageError(args.positionals.empty()
                         ? "missing the model (MODEL.onnx or MODEL.plan)"
                         : "expected one model, got " + std::to_string(args.positionals.size()));
  }
  const std::string model_path = args.positionals[0];
  const ShapeFlags shape_flags = read_shape_flags(args);
  const uint64_t seed = args.has("--seed") ? parse_uint(*args.value("--seed"), "--seed") : 0;
  const std::optional<std::string> output_dir = args.value("--output-dir");
  if (output_dir && output_dir->empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--output-dir: empty directory name");
  }

  std::unique_ptr<Engine> engine;
  std::map<std::string, GivenInput> given;
  if (is_onnx_path(model_path)) {
    Builder builder(cli_logger());
    ParsedModel model = parse_onnx(builder, model_path);
    const std::vector<InputInfo> inputs = network_inputs(*model.network);
    given = read_given_inputs(args.values("--input"), inputs);
    std::map<std::string, Dims> given_dims;
    for (const auto& [name, file] : given) given_dims[name] = file.array.shape;
    std::unique_ptr<BuilderConfig> config = builder.create_config();
    config->set_device(choose_device(args));
    if (config->device() == DeviceType::kGPU) require_gpu("--device=gpu");
    if (args.has("--fp16")) config->set_flag(BuilderFlag::kFP16);
    if (args.has("--bf16")) config->set_flag(BuilderFlag::kBF16);
    if (args.has("--noTF32")) config->clear_flag(BuilderFlag::kTF32);
    OptimizationProfile profile;
    if (make_profile(inputs, shape_flags, given_dims,
                     " or give it a file with --input {name}=FILE.npy", profile)) {
      config->add_optimization_profile(profile);
    }
    auto start = std::chrono::steady_clock::now();
    engine = builder.build_engine(*model.network, *config);
    std::printf("built %s for the %s (%s) in %.1f ms\n", model_path.c_str(),
                engine->device() == DeviceType::kGPU ? "GPU" : "CPU",
                describe_precision(*config).c_str(), milliseconds_since(start));
  } else {
    for (const char* flag : {"--device", "--fp16", "--bf16", "--noTF32"}) {
      if (args.has(flag)) {
        throw Error(ErrorCode::kInvalidArgument,
                    std::string(flag) +
                        " applies when building an ONNX model; a plan was built with its device "
                        "and precision already");
      }
    }
    engine = load_plan(model_path);
    const std::vector<InputInfo> inputs = engine_inputs(*engine);
    for (const auto& [name, dims] : shape_flags.shapes) {
      bool known = false;
      for (const InputInfo& input : inputs) known = known || input.name == name;
      if (!known) {
        throw Error(ErrorCode::kInvalidArgument,
                    "--shapes names '" + name + "', which is not an input of the plan");
      }
    }
    given = read_given_inputs(args.values("--input"), inputs);
    std::printf("loaded %s\n", model_path.c_str());
  }
  const bool on_gpu = engine->device() == DeviceType::kGPU;
  if (on_gpu) require_gpu("'" + model_path + "' is a GPU engine");

  std::unique_ptr<ExecutionContext> context = engine->create_execution_context();
  std::map<std::string, std::unique_ptr<HostBuffer>> buffers;

  // Input shapes: from the input's file, else --shapes, else the profile's opt shape.
  const std::vector<InputInfo> inputs = engine_inputs(*engine);
  std::map<std::string, Dims> input_dims;
  for (const InputInfo& input : inputs) {
    auto file = given.find(input.name);
    auto flag = shape_flags.shapes.find(input.name);
    Dims dims = input.dims;
    if (file != given.end()) {
      dims = file->second.array.shape;
      if (flag != shape_flags.shapes.end() && flag->second != dims) {
        throw Error(ErrorCode::kInvalidArgument, "input '" + input.name + "': --shapes gives " +
                                                     to_string(flag->second) + " but '" +
                                                     file->second.path + "' is " + to_string(dims));
      }
    } else if (flag != shape_flags.shapes.end()) {
      dims = flag->second;
      check_fits(input, dims, "--shapes");
    } else if (is_dynamic(input.dims)) {
      if (engine->num_optimization_profiles() == 0) {
        throw Error(ErrorCode::kInvalidArgument,
                    "input '" + input.name + "' has dynamic shape " + to_string(input.dims) +
                        "; give it with --shapes=" + input.name + ":DIMS");
      }
      dims = engine->profile_shape(input.name, 0, OptProfileSelector::kOPT);
    }
    if (is_dynamic(input.dims)) context->set_input_shape(input.name, dims);
    input_dims[input.name] = dims;
  }
  if (!context->all_input_shapes_specified()) {
    throw Error(ErrorCode::kInvalidArgument, "not every input shape is known");
  }

  for (const InputInfo& input : inputs) {
    const Dims& dims = input_dims[input.name];
    const std::string what = "input '" + input.name + "'";
    const size_t count = tensor_element_count(what, input.dtype, dims);
    auto buffer = std::make_unique<HostBuffer>(tensor_buffer_bytes(what, input.dtype, dims));
    auto file = given.find(input.name);
    if (file != given.end()) {
      const NpyArray& array = file->second.array;
      if (array.dtype == input.dtype) {
        if (!array.data.empty()) std::memcpy(buffer->data(), array.data.data(), array.data.size());
      } else {  // float32 file for a bfloat16/float8 input
        std::vector<float> values(count);
        if (count) std::memcpy(values.data(), array.data.data(), count * sizeof(float));
        store_floats(input.dtype, values.data(), count, buffer->data());
      }
      std::printf("input %s: %s %s from %s\n", input.name.c_str(), to_string(input.dtype),
                  to_string(dims).c_str(), file->second.path.c_str());
    } else {
      fill_random(input.dtype, buffer->data(), count, seed, input.name);
      const char* range = input.dtype == DataType::kBool   ? "true/false"
                          : is_floating_point(input.dtype) ? "uniform in [-1, 1)"
                                                           : "integers in [0, 10)";
      std::printf("input %s: %s %s random %s, seed %llu\n", input.name.c_str(),
                  to_string(input.dtype), to_string(dims).c_str(), range,
                  static_cast<unsigned long long>(seed));
    }
    context->set_tensor_address(input.name, buffer->data());
    buffers[input.name] = std::move(buffer);
  }
#ifdef KILN_HAVE_CUDA
  // GPU engines read and write device memory: inputs are copied in before the run, outputs
  // back after it.
  std::map<std::string, std::unique_ptr<DeviceBuffer>> device_buffers;
  auto on_device = [&](const std::string& name) -> DeviceBuffer& {
    auto& buffer = device_buffers[name];
    buffer = std::make_unique<DeviceBuffer>(buffers[name]->size());
    context->set_tensor_address(name, buffer->data());
    return *buffer;
  };
  if (on_gpu) {
    for (const InputInfo& input : inputs) {
      on_device(input.name).copy_from_host(buffers[input.name]->data());
    }
  }
#endif

  const std::vector<std::string> outputs = engine_outputs(*engine);
  std::map<std::string, Dims> output_dims;
  std::vector<std::unique_ptr<HostOutputAllocator>> allocators;
  for (const std::string& name : outputs) {
    const Dims dims = context->tensor_shape(name);
    if (context->has_data_dependent_shape(name) || is_dynamic(dims)) {
      if (on_gpu) {
        throw Error(ErrorCode::kUnsupported,
                    "output '" + name +
                        "' has a shape that depends on the input data, which GPU engines do "
                        "not support yet; run the model on the CPU (--device=cpu)");
      }
      allocators.push_back(std::make_unique<HostOutputAllocator>(buffers[name]));
      context->set_output_allocator(name, allocators.back().get());
      continue;
    }
    auto buffer = std::make_unique<HostBuffer>(
        tensor_buffer_bytes("output '" + name + "'", engine->tensor_dtype(name), dims));
    context->set_tensor_address(name, buffer->data());
    buffers[name] = std::move(buffer);
    output_dims[name] = dims;
#ifdef KILN_HAVE_CUDA
    if (on_gpu) on_device(name);
#endif
  }

  auto start = std::chrono::steady_clock::now();
  context->execute();
  std::printf("ran on the %s in %.3f ms\n", on_gpu ? "GPU" : "CPU", milliseconds_since(start));
#ifdef KILN_HAVE_CUDA
  if (on_gpu) {
    for (const std::string& name : outputs) {
      device_buffers.at(name)->copy_to_host(buffers[name]->data());
    }
  }
#endif
  for (const std::string& name : outputs) {
    if (!output_dims.count(name)) output_dims[name] = context->tensor_shape(name);
  }

  // Created before the first output is written; committed after the last, so that DIR gets
  // every output or none.
  std::optional<OutputDirectory> output_files;
  if (output_dir) output_files.emplace(*output_dir);
  for (const std::string& name : outputs) {
    const DataType dtype = engine->tensor_dtype(name);
    const Dims& dims = output_dims[name];
    HostBuffer& buffer = *buffers[name];
    const size_t count = tensor_element_count("output '" + name + "'", dtype, dims);
    std::printf("output %s: %s %s\n", name.c_str(), to_string(dtype), to_string(dims).c_str());
    print_summary(summarize(dtype, buffer.data(), count, kValuesShown));
    if (!output_dir) continue;

    if (stored_as_float32(dtype)) {
      std::vector<float> values(count);
      for (size_t i = 0; i < count; ++i)
        values[i] = float(element_as_double(dtype, buffer.data(), i));
      const std::string path =
          output_files->add(name, DataType::kFloat32, dims, values.data(), count * sizeof(float));
      std::printf("  writing %s (%s saved as float32)\n", path.c_str(), to_string(dtype));
    } else {
      const std::string path = output_files->add(name, dtype, dims, buffer.data(), buffer.size());
      std::printf("  writing %s\n", path.c_str());
    }
  }
  if (output_files) {
    output_files->commit();
    std::printf("wrote %zu outputs to %s\n", outputs.size(), output_dir->c_str());
  }
  return 0;
}

}  // namespace

const Command& run_command() {
  static const Command command{
      .name = "run",
      .summary = "run a model once on given or random inputs and summarize its outputs",
      .usage = "kiln run MODEL.onnx|MODEL.plan [--input NAME=FILE.npy ...] [options]",
      .help =
          "  --input NAME=FILE.npy  take input NAME from a .npy file (repeatable); its dims set\n"
          "                         the input's shape. Other inputs get random values: floats\n"
          "                         uniform in [-1, 1), integers in [0, 10), random bools\n"
          "  --shapes=SPEC          shapes of dynamic inputs not given as files\n"
          "                         (NAME:DIMS[,NAME:DIMS...]); a plan's inputs default to the\n"
          "                         profile's opt shapes, an ONNX model's dynamic inputs need one\n"
          "  --output-dir DIR       save every output as DIR/NAME.npy (NAME with characters\n"
          "                         outside [A-Za-z0-9._-] replaced by '_'); creates DIR\n"
          "  --seed N               seed of the random inputs (default 0)\n"
          "  --device=gpu|cpu       for an ONNX model: the device to build it for and run it\n"
          "                         on (default: the GPU when one can be used, else the CPU);\n"
          "                         a plan runs on the device it was built for\n"
          "  --fp16, --bf16         for an ONNX model: allow float16 / bfloat16 kernels\n"
          "  --noTF32               for an ONNX model: forbid TF32 matrix math\n"
          "  --verbose              log everything kiln does\n"
          "An ONNX model is built in memory first, with one profile fixed at the given shapes.\n"
          "GPU engines get their inputs copied to the device and their outputs copied back.\n",
      .flags =
          {
              value_flag("--input", {"-i"}, true),
              value_flag("--shapes", {}, true),
              value_flag("--output-dir", {"--outputDir"}),
              value_flag("--seed"),
              value_flag("--device"),
              switch_flag("--fp16"),
              switch_flag("--bf16"),
              switch_flag("--noTF32"),
          },
      .run = run_run,
  };
  return command;
}

}  // namespace kiln::cli

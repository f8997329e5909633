#include "model.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace kiln::cli {
namespace {

std::string extension_of(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  for (char& c : extension) c = char(std::tolower(static_cast<unsigned char>(c)));
  return extension;
}

std::string join_names(const std::vector<InputInfo>& inputs) {
  std::string names;
  for (const InputInfo& input : inputs) names += (names.empty() ? "" : ", ") + input.name;
  return names.empty() ? "none" : names;
}

// A concrete example shape for a dynamic input: each dynamic dim as 1.
std::string example_dims(const Dims& dims) {
  Dims example = dims;
  for (int64_t& dim : example) {
    if (dim < 0) dim = 1;
  }
  return to_string(example);
}

// `text` with every "{name}" replaced by `name`.
std::string with_name(std::string text, const std::string& name) {
  for (size_t at = text.find("{name}"); at != std::string::npos;
       at = text.find("{name}", at + name.size())) {
    text.replace(at, 6, name);
  }
  return text;
}

}  // namespace

StderrLogger& cli_logger() {
  static StderrLogger logger(Logger::Severity::kWarning);
  return logger;
}

void check_input_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    throw Error(ErrorCode::kIO, "cannot open " + what + " '" + path + "': no such file");
  }
  if (std::filesystem::is_directory(status)) {
    throw Error(ErrorCode::kIO, "cannot open " + what + " '" + path + "': it is a directory");
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) {
    throw Error(ErrorCode::kIO, "cannot open " + what + " '" + path + "': " + std::strerror(errno));
  }
  std::fclose(file);
}

bool is_onnx_path(const std::string& path) { return extension_of(path) == ".onnx"; }

bool is_dynamic(const Dims& dims) {
  for (int64_t dim : dims) {
    if (dim < 0) return true;
  }
  return false;
}

std::vector<InputInfo> network_inputs(const NetworkDefinition& network) {
  std::vector<InputInfo> inputs;
  for (int i = 0; i < network.num_inputs(); ++i) {
    const ITensor* tensor = network.input(i);
    inputs.push_back({tensor->name(), tensor->type(), tensor->dims()});
  }
  return inputs;
}

std::vector<InputInfo> engine_inputs(const Engine& engine) {
  std::vector<InputInfo> inputs;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
    inputs.push_back({name, engine.tensor_dtype(name), engine.tensor_shape(name)});
  }
  return inputs;
}

std::vector<std::string> engine_outputs(const Engine& engine) {
  std::vector<std::string> outputs;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const std::string& name = engine.io_tensor_name(i);
    if (engine.tensor_io_mode(name) == TensorIOMode::kOUTPUT) outputs.push_back(name);
  }
  return outputs;
}

ShapeFlags read_shape_flags(const ParsedArgs& args) {
  ShapeFlags flags;
  const std::pair<const char*, std::map<std::string, Dims>*> targets[] = {
      {"--shapes", &flags.shapes},
      {"--minShapes", &flags.min},
      {"--optShapes", &flags.opt},
      {"--maxShapes", &flags.max},
  };
  for (auto [flag, target] : targets) {
    for (const std::string& value : args.values(flag)) {
      for (ShapeSpec& spec : parse_shape_list(value, flag)) {
        if (!target->emplace(spec.name, spec.dims).second) {
          throw Error(ErrorCode::kInvalidArgument,
                      std::string(flag) + ": input '" + spec.name + "' is given more than once");
        }
      }
    }
  }
  return flags;
}

void check_fits(const InputInfo& input, const Dims& dims, const std::string& source) {
  const std::string prefix =
      source + " gives input '" + input.name + "' the shape " + to_string(dims) + ", but ";
  if (dims.size() != input.dims.size()) {
    throw Error(ErrorCode::kInvalidArgument, prefix + "it has " +
                                                 std::to_string(input.dims.size()) + " dims (" +
                                                 to_string(input.dims) + ")");
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    if (input.dims[i] >= 0 && input.dims[i] != dims[i]) {
      throw Error(ErrorCode::kInvalidArgument, prefix + "its dim " + std::to_string(i) +
                                                   " is fixed at " + std::to_string(input.dims[i]) +
                                                   " (declared " + to_string(input.dims) + ")");
    }
  }
}

bool make_profile(const std::vector<InputInfo>& inputs, const ShapeFlags& flags,
                  const std::map<std::string, Dims>& given, const std::string& missing_hint,
                  OptimizationProfile& profile) {
  // Every name in the flags must be an input of the model.
  const std::pair<const char*, const std::map<std::string, Dims>*> sources[] = {
      {"--shapes", &flags.shapes},
      {"--minShapes", &flags.min},
      {"--optShapes", &flags.opt},
      {"--maxShapes", &flags.max},
  };
  for (auto [flag, map] : sources) {
    for (const auto& [name, dims] : *map) {
      bool known = false;
      for (const InputInfo& input : inputs) known = known || input.name == name;
      if (!known) {
        throw Error(ErrorCode::kInvalidArgument,
                    std::string(flag) + " names '" + name +
                        "', which is not an input of the model (inputs: " + join_names(inputs) +
                        ")");
      }
    }
  }

  bool any = false;
  for (const InputInfo& input : inputs) {
    auto find = [&](const std::map<std::string, Dims>& map) -> const Dims* {
      auto it = map.find(input.name);
      return it == map.end() ? nullptr : &it->second;
    };
    const Dims* shapes = find(flags.shapes);
    const Dims* min = find(flags.min);
    const Dims* opt = find(flags.opt);
    const Dims* max = find(flags.max);
    const Dims* file_dims = find(given);

    Dims range[3];  // min, opt, max
    std::string source[3];
    if (shapes) {
      if (min || opt || max) {
        throw Error(ErrorCode::kInvalidArgument,
                    "input '" + input.name +
                        "' is given both in --shapes and in --minShapes/--optShapes/--maxShapes; "
                        "use one or the other");
      }
      for (int i = 0; i < 3; ++i) {
        range[i] = *shapes;
        source[i] = "--shapes";
      }
    } else if (min || opt || max) {
      // Missing ends of a range default to the ones given: opt to max (else min), min and max
      // to opt.
      const Dims* opt_or = opt ? opt : (max ? max : min);
      range[0] = min ? *min : *opt_or;
      range[1] = *opt_or;
      range[2] = max ? *max : *opt_or;
      source[0] = min ? "--minShapes" : opt ? "--optShapes" : "--maxShapes";
      source[1] = opt ? "--optShapes" : max ? "--maxShapes" : "--minShapes";
      source[2] = max ? "--maxShapes" : opt ? "--optShapes" : "--minShapes";
    } else if (file_dims) {
      for (int i = 0; i < 3; ++i) {
        range[i] = *file_dims;
        source[i] = "the input file";
      }
    } else if (is_dynamic(input.dims)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "input '" + input.name + "' has dynamic shape " + to_string(input.dims) +
                      "; give its shape with --shapes=" + input.name + ":" +
                      example_dims(input.dims) + with_name(missing_hint, input.name));
    } else {
      continue;  // static input, nothing to choose
    }

    for (int i = 0; i < 3; ++i) check_fits(input, range[i], source[i]);
    for (size_t d = 0; d < input.dims.size(); ++d) {
      if (range[0][d] > range[1][d] || range[1][d] > range[2][d]) {
        throw Error(ErrorCode::kInvalidArgument,
                    "input '" + input.name +
                        "': the shapes must satisfy min <= opt <= max in "
                        "every dim, but min is " +
                        to_string(range[0]) + ", opt " + to_string(range[1]) + ", max " +
                        to_string(range[2]));
      }
    }
    if (!is_dynamic(input.dims)) continue;  // fits the static dims: nothing to add
    profile.set_dimensions(input.name, OptProfileSelector::kMIN, range[0]);
    profile.set_dimensions(input.name, OptProfileSelector::kOPT, range[1]);
    profile.set_dimensions(input.name, OptProfileSelector::kMAX, range[2]);
    any = true;
  }
  return any;
}

ParsedModel parse_onnx(const Builder& builder, const std::string& path) {
  check_input_file(path, "model");
  auto start = std::chrono::steady_clock::now();
  ParsedModel model;
  model.network = builder.create_network();
  OnnxParser parser(*model.network, cli_logger());
  parser.parse_from_file(path);
  model.parse_ms = milliseconds_since(start);
  return model;
}

std::unique_ptr<Engine> load_plan(const std::string& path) {
  check_input_file(path, "plan");
  Runtime runtime(cli_logger());
  try {
    return runtime.load_engine_file(path);
  } catch (const Error& error) {
    const std::string extension = extension_of(path);
    if (error.code() == ErrorCode::kInvalidPlan && extension != ".plan" && extension != ".engine" &&
        extension != ".trt") {
      throw Error(error.code(), std::string(error.what()) +
                                    " (kiln reads files whose name does not end in .onnx as "
                                    "plans; name an ONNX model MODEL.onnx)");
    }
    throw;
  }
}

std::string format_bytes(uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = double(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string describe_tensor_shape(const Engine& engine, const std::string& name) {
  Dims dims = engine.tensor_shape(name);
  std::string text = to_string(dims);
  if (engine.tensor_io_mode(name) != TensorIOMode::kINPUT || !is_dynamic(dims)) return text;
  for (int p = 0; p < engine.num_optimization_profiles(); ++p) {
    text += std::string(p == 0 ? "  " : ", ") + "profile " + std::to_string(p) + ": min " +
            to_string(engine.profile_shape(name, p, OptProfileSelector::kMIN)) + " opt " +
            to_string(engine.profile_shape(name, p, OptProfileSelector::kOPT)) + " max " +
            to_string(engine.profile_shape(name, p, OptProfileSelector::kMAX));
  }
  return text;
}

std::string describe_io(const Engine& engine) {
  std::ostringstream out;
  for (auto mode : {TensorIOMode::kINPUT, TensorIOMode::kOUTPUT}) {
    out << (mode == TensorIOMode::kINPUT ? "inputs:\n" : "outputs:\n");
    for (int i = 0; i < engine.num_io_tensors(); ++i) {
      const std::string& name = engine.io_tensor_name(i);
      if (engine.tensor_io_mode(name) != mode) continue;
      out << "  " << name << "  " << to_string(engine.tensor_dtype(name)) << "  "
          << describe_tensor_shape(engine, name) << "\n";
    }
  }
  return out.str();
}

std::string describe_memory(const Engine& engine) {
  const uint64_t arena = engine.arena_bytes();
  const uint64_t total = engine.total_activation_bytes();
  std::ostringstream out;
  out << "activation arena " << format_bytes(arena) << " for " << format_bytes(total)
      << " of activations";
  if (total > 0 && arena <= total) {
    char saved[32];
    std::snprintf(saved, sizeof(saved), "%.0f%%", 100.0 * double(total - arena) / double(total));
    out << " (" << saved << " saved by sharing memory)";
  }
  out << "; weights " << format_bytes(engine.weight_bytes());
  return out.str();
}

std::string describe_device(const Engine& engine) {
  return engine.device() == DeviceType::kGPU ? "gpu" : "cpu";
}

std::string describe_gpu(const GpuInfo& gpu) {
  if (!gpu.available) return "none (" + gpu.why_not + ")";
  return gpu.name + " (sm_" + std::to_string(gpu.compute_major) +
         std::to_string(gpu.compute_minor) + ", " + std::to_string(gpu.multiprocessors) + " SMs, " +
         format_bytes(gpu.memory_bytes) + ")";
}

std::string describe_precision(const BuilderConfig& config) {
  std::string text = "model's own types";
  if (config.get_flag(BuilderFlag::kFP16)) text += ", fp16 allowed";
  if (config.get_flag(BuilderFlag::kBF16)) text += ", bf16 allowed";
  if (!config.get_flag(BuilderFlag::kTF32)) text += ", tf32 off";
  return text;
}

DeviceType device_flag(const ParsedArgs& args, DeviceType fallback) {
  const std::optional<std::string> value = args.value("--device");
  if (!value) return fallback;
  std::string device = *value;
  for (char& c : device) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (device == "gpu" || device == "cuda") return DeviceType::kGPU;
  if (device == "cpu") return DeviceType::kCPU;
  throw Error(ErrorCode::kInvalidArgument,
              "--device: '" + *value + "' is not a device (expected gpu or cpu)");
}

DeviceType choose_device(const ParsedArgs& args) {
  if (args.has("--device")) return device_flag(args, DeviceType::kCPU);
  const GpuInfo gpu = query_gpu();
  if (gpu.available) return DeviceType::kGPU;
  std::printf("note: no GPU can be used (%s); using the CPU\n", gpu.why_not.c_str());
  return DeviceType::kCPU;
}

double milliseconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace kiln::cli

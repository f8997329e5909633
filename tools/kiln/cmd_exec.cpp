// kiln exec: build (or load) an engine and measure its performance as trtexec does, with
// trtexec's flag spellings and its performance summary. The loops are in exec_runner.h, the
// statistics and reports in exec_timing.h.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "commands.h"
#include "core/temporary_files.h"
#include "exec_runner.h"
#include "exec_timing.h"
#include "model.h"
#include "npy.h"
#include "timing_cache_file.h"
#include "values.h"

namespace kiln::cli {
namespace {

constexpr uint64_t kMaxStreams = 64;

// trtexec flags kiln accepts so that trtexec command lines run, but that change nothing here.
const char* const kIgnoredValueFlags[] = {"--workspace", "--memPoolSize"};
const char* const kIgnoredSwitches[] = {"--useSpinWait", "--threads", "--exposeDMA"};

double parse_decimal(const std::string& text, const std::string& flag, const char* unit) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value) || value < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                flag + ": '" + text + "' is not a non-negative number of " + unit);
  }
  return value;
}

uint64_t parse_count(const ParsedArgs& args, const std::string& flag, uint64_t fallback,
                     uint64_t max = UINT64_MAX) {
  const std::optional<std::string> text = args.value(flag);
  if (!text) return fallback;
  const uint64_t value = parse_uint(*text, flag);
  if (value < 1 || value > max) {
    throw Error(ErrorCode::kInvalidArgument,
                flag + ": '" + *text + "' must be at least 1" +
                    (max == UINT64_MAX ? std::string() : " and at most " + std::to_string(max)));
  }
  return value;
}

std::vector<double> parse_percentages(const std::string& text) {
  std::vector<double> percentages;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    if (!item.empty() && item.back() == '%') item.pop_back();
    const double value = parse_decimal(item, "--percentile", "percent");
    if (value > 100) {
      throw Error(ErrorCode::kInvalidArgument, "--percentile: " + item + " is above 100");
    }
    percentages.push_back(value);
    start = comma + 1;
  }
  return percentages;
}

// Fails before a long build or run when a file could not be written afterwards.
void check_writable_path(const std::string& path, const std::string& flag) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, flag + ": empty path");
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    throw Error(ErrorCode::kIO, flag + ": cannot write '" + path + "': directory '" +
                                    parent.string() + "' does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorCode::kIO, flag + ": cannot write '" + path + "': it is a directory");
  }
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomically(path, text.data(), text.size(), "file");
}

// Where the model comes from: --onnx, --loadEngine, or one positional (by its extension).
struct ModelSource {
  std::string path;
  bool onnx = false;
};

ModelSource model_source(const ParsedArgs& args) {
  if (args.positionals.size() > 1) {
    throw UsageError("expected at most one model, got " + std::to_string(args.positionals.size()));
  }
  const int given =
      int(args.has("--onnx")) + int(args.has("--loadEngine")) + int(!args.positionals.empty());
  if (given == 0)
    throw UsageError("missing the model: give --onnx=MODEL.onnx or --loadEngine=PLAN");
  if (given > 1) {
    throw UsageError("give one model: --onnx=MODEL.onnx, --loadEngine=PLAN or a model path");
  }
  if (args.has("--onnx")) return {*args.value("--onnx"), true};
  if (args.has("--loadEngine")) return {*args.value("--loadEngine"), false};
  return {args.positionals[0], is_onnx_path(args.positionals[0])};
}

// The run's inputs (random values of each input's dtype, fixed seed) and outputs, at the
// shapes of --shapes, else the profile's opt shapes.
RunSetup make_setup(const Engine& engine, const std::map<std::string, Dims>& shapes) {
  const std::vector<InputInfo> inputs = engine_inputs(engine);
  for (const auto& [name, dims] : shapes) {
    bool known = false;
    for (const InputInfo& input : inputs) known = known || input.name == name;
    if (!known) {
      std::string names;
      for (const InputInfo& input : inputs) names += (names.empty() ? "" : ", ") + input.name;
      throw Error(ErrorCode::kInvalidArgument, "--shapes names '" + name +
                                                   "', which is not an input of the engine "
                                                   "(inputs: " +
                                                   (names.empty() ? "none" : names) + ")");
    }
  }
  RunSetup setup;
  for (const InputInfo& input : inputs) {
    TensorSetup tensor;
    tensor.name = input.name;
    tensor.dtype = input.dtype;
    tensor.dynamic_input = is_dynamic(input.dims);
    tensor.dims = input.dims;
    if (auto it = shapes.find(input.name); it != shapes.end()) {
      check_fits(input, it->second, "--shapes");
      tensor.dims = it->second;
    } else if (tensor.dynamic_input) {
      if (engine.num_optimization_profiles() == 0) {
        throw Error(ErrorCode::kInvalidArgument,
                    "input '" + input.name + "' has dynamic shape " + to_string(input.dims) +
                        "; give it with --shapes=" + input.name + ":DIMS");
      }
      tensor.dims = engine.profile_shape(input.name, 0, OptProfileSelector::kOPT);
    }
    const std::string what = "input '" + tensor.name + "'";
    const size_t count = tensor_element_count(what, tensor.dtype, tensor.dims);
    tensor.values =
        std::make_shared<HostBuffer>(tensor_buffer_bytes(what, tensor.dtype, tensor.dims));
    fill_random(tensor.dtype, tensor.values->data(), count, 0, tensor.name);
    setup.inputs.push_back(std::move(tensor));
  }
  // A context resolves the outputs' shapes (and checks the inputs' against the profile).
  std::unique_ptr<ExecutionContext> context = make_context(engine, setup);
  for (const std::string& name : engine_outputs(engine)) {
    TensorSetup tensor;
    tensor.name = name;
    tensor.dtype = engine.tensor_dtype(name);
    tensor.dims = context->tensor_shape(name);
    tensor.data_dependent_output =
        context->has_data_dependent_shape(name) || is_dynamic(tensor.dims);
    setup.outputs.push_back(std::move(tensor));
  }
  return setup;
}

void print_setup(const RunSetup& setup) {
  std::printf("inputs (random values, seed 0):\n");
  for (const TensorSetup& t : setup.inputs) {
    std::printf("  %s  %s  %s\n", t.name.c_str(), to_string(t.dtype), to_string(t.dims).c_str());
  }
  std::printf("outputs:\n");
  for (const TensorSetup& t : setup.outputs) {
    std::printf("  %s  %s  %s\n", t.name.c_str(), to_string(t.dtype),
                t.data_dependent_output ? "(known after each run)" : to_string(t.dims).c_str());
  }
}

int run_exec(const ParsedArgs& args) {
  const ModelSource source = model_source(args);
  const ShapeFlags shape_flags = read_shape_flags(args);
  const bool verbose = args.has("--verbose");

  BenchmarkOptions options;
  options.iterations = parse_count(args, "--iterations", 10);
  if (auto text = args.value("--duration")) {
    options.duration_ms = parse_decimal(*text, "--duration", "seconds") * 1000;
  }
  if (auto text = args.value("--warmUp")) {
    options.warmup_ms = parse_decimal(*text, "--warmUp", "milliseconds");
  }
  options.streams = int(parse_count(args, "--infStreams", 1, kMaxStreams));
  options.cuda_graph = args.has("--useCudaGraph");
  options.data_transfers = !args.has("--noDataTransfers");
  ReportOptions report;
  report.verbose = verbose;
  report.average_runs = parse_count(args, "--avgRuns", 10);
  report.streams = options.streams;
  report.data_transfers = options.data_transfers;
  if (auto text = args.value("--percentile")) report.percentages = parse_percentages(*text);
  const bool skip_inference = args.has("--skipInference");
  const bool dump_profile = args.has("--dumpProfile");
  const std::optional<std::string> times_path = args.value("--exportTimes");
  const std::optional<std::string> profile_path = args.value("--exportProfile");
  const std::optional<std::string> save_path = args.value("--saveEngine");
  if (times_path) check_writable_path(*times_path, "--exportTimes");
  if (profile_path) check_writable_path(*profile_path, "--exportProfile");
  if (save_path) {
    if (!source.onnx) {
      throw Error(ErrorCode::kInvalidArgument, "--saveEngine saves an engine built from --onnx; '" +
                                                   source.path + "' is loaded as a plan already");
    }
    check_writable_path(*save_path, "--saveEngine");
  }
  for (const char* flag : kIgnoredValueFlags) {
    if (args.has(flag)) std::printf("note: %s is accepted for trtexec and ignored\n", flag);
  }
  for (const char* flag : kIgnoredSwitches) {
    if (args.has(flag)) std::printf("note: %s is accepted for trtexec and ignored\n", flag);
  }

  std::unique_ptr<Engine> engine;
  if (source.onnx) {
    const DeviceType device = choose_device(args);
    if (device == DeviceType::kGPU && !skip_inference) require_gpu("--device=gpu");
    Builder builder(cli_logger());
    ParsedModel model = parse_onnx(builder, source.path);
    std::printf("parsed %s in %.1f ms: %d layers\n", source.path.c_str(), model.parse_ms,
                model.network->num_layers());
    std::unique_ptr<BuilderConfig> config = builder.create_config();
    if (args.has("--fp16")) config->set_flag(BuilderFlag::kFP16);
    if (args.has("--bf16")) config->set_flag(BuilderFlag::kBF16);
    if (args.has("--noTF32")) config->clear_flag(BuilderFlag::kTF32);
    config->set_device(device);
    // As in trtexec, an input with a --minShapes/--optShapes/--maxShapes range gets its
    // profile from the range and its run shape from --shapes; others from --shapes alone.
    ShapeFlags profile_flags = shape_flags;
    std::erase_if(profile_flags.shapes, [&](const auto& item) {
      return shape_flags.min.count(item.first) || shape_flags.opt.count(item.first) ||
             shape_flags.max.count(item.first);
    });
    OptimizationProfile profile;
    if (make_profile(network_inputs(*model.network), profile_flags, {},
                     " (or a range with --minShapes/--optShapes/--maxShapes)", profile)) {
      config->add_optimization_profile(profile);
    }
    if (device == DeviceType::kGPU) {
      std::printf("device: gpu, %s\n", describe_gpu(query_gpu()).c_str());
    }
    std::printf("building engine for %s (precision: %s) ...\n",
                device == DeviceType::kGPU ? "GPU" : "CPU", describe_precision(*config).c_str());
    std::fflush(stdout);
    const std::optional<std::string> cache_path = args.value("--timingCacheFile");
    std::shared_ptr<TimingCache> cache;
    cache = apply_tuning_flags(args, *config);
    auto start = std::chrono::steady_clock::now();
    engine = builder.build_engine(*model.network, *config);
    const double build_ms = milliseconds_since(start);
    if (cache) save_timing_cache(*cache, *cache_path);
    std::printf("built the engine in %.1f ms (%.3f s): %d layers\n", build_ms, build_ms / 1000,
                engine->num_layers());
    if (save_path) {
      engine->save(*save_path);
      std::printf("saved engine to %s\n", save_path->c_str());
    }
  } else {
    if (!shape_flags.min.empty() || !shape_flags.opt.empty() || !shape_flags.max.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "--minShapes/--optShapes/--maxShapes apply when building from --onnx; a "
                  "plan's profile was fixed when it was built (--shapes picks the run's shapes)");
    }
    for (const char* flag : {"--fp16", "--bf16", "--noTF32"}) {
      if (args.has(flag)) std::printf("note: %s applies when building; ignored for a plan\n", flag);
    }
    auto start = std::chrono::steady_clock::now();
    engine = load_plan(source.path);
    std::printf("loaded engine %s in %.1f ms: %d layers, built for the %s\n", source.path.c_str(),
                milliseconds_since(start), engine->num_layers(),
                engine->device() == DeviceType::kGPU ? "GPU" : "CPU");
    if (args.has("--device") && device_flag(args, engine->device()) != engine->device()) {
      throw Error(ErrorCode::kInvalidArgument, "--device=" + *args.value("--device") + ", but '" +
                                                   source.path + "' is a " +
                                                   describe_device(*engine) + " engine");
    }
    if (engine->device() == DeviceType::kGPU && !skip_inference) {
      require_gpu("'" + source.path + "' is a GPU engine");
      std::printf("device: gpu, %s\n", describe_gpu(query_gpu()).c_str());
    }
  }
  const bool cpu = engine->device() == DeviceType::kCPU;
  report.cpu = cpu;
  if (skip_inference) {
    std::printf("--skipInference: not running the engine\n");
    return 0;
  }

  const RunSetup setup = make_setup(*engine, shape_flags.shapes);
  print_setup(setup);
  if (cpu && options.cuda_graph) {
    std::printf("note: --useCudaGraph applies to GPU engines; ignored on the CPU\n");
    options.cuda_graph = false;
  }
  if (cpu && !options.data_transfers) {
    std::printf("note: --noDataTransfers changes nothing on the CPU (there are no transfers)\n");
  }
  std::printf(
      "running: at least %llu iterations and %s s after %s ms of warm-up, %d stream%s%s%s\n",
      static_cast<unsigned long long>(options.iterations),
      format_number(options.duration_ms / 1000).c_str(), format_number(options.warmup_ms).c_str(),
      options.streams, options.streams == 1 ? "" : "s", options.cuda_graph ? ", CUDA graphs" : "",
      !cpu && !options.data_transfers ? ", no data transfers" : "");
  std::fflush(stdout);

  const BenchmarkResult result = benchmark(*engine, setup, options);
  for (const std::string& note : result.notes) std::printf("note: %s\n", note.c_str());
  print_performance_report(result.traces, result.warmup_queries, result.warmup_ms, report);
  if (times_path) {
    write_text(*times_path, traces_json(result.traces));
    std::printf("wrote %zu iterations' times to %s\n", result.traces.size(), times_path->c_str());
  }

  if (dump_profile || profile_path) {
    LayerProfiler profiler;
    profile_layers(*engine, setup, options, profiler);
    if (dump_profile) print_layer_profile(profiler, cpu);
    if (profile_path) {
      write_text(*profile_path, layer_profile_json(profiler));
      std::printf("wrote the profile of %zu layers to %s\n", profiler.layers().size(),
                  profile_path->c_str());
    }
  }
  return 0;
}

}  // namespace

const Command& exec_command() {
  static std::vector<FlagSpec> flags = [] {
    std::vector<FlagSpec> specs = {
        value_flag("--onnx"),
        value_flag("--loadEngine"),
        value_flag("--saveEngine"),
        value_flag("--timingCacheFile"),
        value_flag("--builderOptimizationLevel"),
        value_flag("--device"),
        switch_flag("--fp16"),
        switch_flag("--bf16"),
        switch_flag("--noTF32"),
        value_flag("--shapes", {}, true),
        value_flag("--minShapes", {}, true),
        value_flag("--optShapes", {}, true),
        value_flag("--maxShapes", {}, true),
        value_flag("--iterations"),
        value_flag("--duration"),
        value_flag("--warmUp"),
        value_flag("--avgRuns"),
        value_flag("--percentile"),
        switch_flag("--useCudaGraph"),
        switch_flag("--noDataTransfers"),
        value_flag("--infStreams", {"--streams"}),
        switch_flag("--dumpProfile"),
        switch_flag("--separateProfileRun"),
        value_flag("--exportTimes"),
        value_flag("--exportProfile"),
        switch_flag("--skipInference"),
    };
    for (const char* flag : kIgnoredValueFlags) specs.push_back(value_flag(flag));
    for (const char* flag : kIgnoredSwitches) specs.push_back(switch_flag(flag));
    return specs;
  }();
  static const Command command{
      .name = "exec",
      .summary = "build or load an engine and measure its performance, as trtexec does",
      .usage = "kiln exec --onnx=MODEL.onnx|--loadEngine=PLAN [options]",
      .help =
          "  --onnx=FILE            build the engine from this ONNX model\n"
          "  --loadEngine=FILE      or load this plan (a model path alone works too)\n"
          "  --saveEngine=FILE      save the engine built from --onnx\n"
          "  --timingCacheFile=F    timing cache for the build from --onnx: read F when it\n"
          "                         exists, write it after the build\n"
          "  --builderOptimizationLevel=N  0-5 (default 3); 0 times no kernels (priority\n"
          "                         choice, library heuristics at the first run)\n"
          "  --device=gpu|cpu       build for this device (default: the GPU when one can be\n"
          "                         used, else the CPU)\n"
          "  --fp16, --bf16         allow float16 / bfloat16 kernels (mixed precision)\n"
          "  --noTF32               forbid TF32 matrix math\n"
          "  --shapes=SPEC          the run's shapes of dynamic inputs (default: the profile's\n"
          "                         opt shapes); with --onnx also the profile of inputs given\n"
          "                         no --minShapes/--optShapes/--maxShapes range\n"
          "  --minShapes/--optShapes/--maxShapes=SPEC   a profile range (with --onnx)\n"
          "  --iterations=N         run at least N measured inferences (default 10)\n"
          "  --duration=S           and for at least S seconds (default 3; decimals allowed)\n"
          "  --warmUp=MS            run unmeasured for MS milliseconds first (default 200)\n"
          "  --avgRuns=N            with --verbose, print averages of every N runs (default 10)\n"
          "  --percentile=P1,P2...  percentiles to report (default 90,95,99)\n"
          "  --useCudaGraph         capture the enqueue in a CUDA graph and launch that\n"
          "  --noDataTransfers      do not copy inputs in and outputs out on each inference\n"
          "  --infStreams=N         run N execution contexts concurrently, one stream each\n"
          "                         (CPU engines: one thread each)\n"
          "  --dumpProfile          print each layer's time, from a separate profiled run\n"
          "  --separateProfileRun   accepted: kiln always profiles in a separate run\n"
          "  --exportTimes=FILE     write each inference's times as JSON\n"
          "  --exportProfile=FILE   write each layer's times as JSON (a separate profiled run)\n"
          "  --skipInference        build (and save) only\n"
          "  --verbose              log everything; print trace averages and what the\n"
          "                         metrics mean\n"
          "Inputs get random values of their dtype (fixed seed). The summary's lines are\n"
          "trtexec's: Throughput, Latency, Enqueue Time, H2D Latency, GPU Compute Time, D2H\n"
          "Latency, Total Host Walltime, Total GPU Compute Time. Accepted and ignored:\n"
          "--workspace, --memPoolSize,\n"
          "--useSpinWait, --threads, --exposeDMA.\n",
      .flags = flags,
      .run = run_exec,
  };
  return command;
}

}  // namespace kiln::cli

// kiln build: ONNX model -> optimized engine saved as a plan file.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "model.h"
#include "timing_cache_file.h"

namespace kiln::cli {
namespace {

int run_build(const ParsedArgs& args) {
  if (args.positionals.size() != 1) {
    throw UsageError(args.positionals.empty()
                         ? "missing the ONNX model to build"
                         : "expected one model, got " + std::to_string(args.positionals.size()));
  }
  const std::string model_path = args.positionals[0];
  const std::optional<std::string> plan_path = args.value("-o");
  if (!plan_path) throw UsageError("missing -o PLAN: where to save the engine");
  if (plan_path->empty()) throw Error(ErrorCode::kInvalidArgument, "-o: empty output path");
  std::error_code ec;
  if (std::filesystem::equivalent(model_path, *plan_path, ec)) {
    throw Error(ErrorCode::kInvalidArgument,
                "-o '" + *plan_path + "' is the model itself; choose another output path");
  }
  // Fail before a long build rather than after it.
  const std::filesystem::path parent = std::filesystem::path(*plan_path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    throw Error(ErrorCode::kIO, "cannot write '" + *plan_path + "': directory '" + parent.string() +
                                    "' does not exist");
  }
  const ShapeFlags shape_flags = read_shape_flags(args);
  const DeviceType device = choose_device(args);

  Builder builder(cli_logger());
  ParsedModel model = parse_onnx(builder, model_path);
  std::unique_ptr<BuilderConfig> config = builder.create_config();
  if (args.has("--fp16")) config->set_flag(BuilderFlag::kFP16);
  if (args.has("--bf16")) config->set_flag(BuilderFlag::kBF16);
  if (args.has("--noTF32")) config->clear_flag(BuilderFlag::kTF32);
  config->set_device(device);
  OptimizationProfile profile;
  if (make_profile(network_inputs(*model.network), shape_flags, {},
                   " (or a range with --minShapes/--optShapes/--maxShapes)", profile)) {
    config->add_optimization_profile(profile);
  }

  const std::optional<std::string> cache_path = args.value("--timingCacheFile");
  std::shared_ptr<TimingCache> cache;
  cache = apply_tuning_flags(args, *config);

  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Engine> engine = builder.build_engine(*model.network, *config);
  const double build_ms = milliseconds_since(start);
  engine->save(*plan_path);
  if (cache) save_timing_cache(*cache, *cache_path);
  const uint64_t plan_bytes = std::filesystem::file_size(*plan_path, ec);

  std::printf("parsed %s in %.1f ms: %d layers\n", model_path.c_str(), model.parse_ms,
              model.network->num_layers());
  std::printf("%s", describe_io(*engine).c_str());
  std::printf("layers: %d after optimization, on %s\n", engine->num_layers(),
              describe_device(*engine).c_str());
  std::printf("precision: %s\n", describe_precision(*config).c_str());
  std::printf("memory: %s\n", describe_memory(*engine).c_str());
  std::printf("built in %.1f ms\n", build_ms);
  std::printf("saved %s, %s\n", plan_path->c_str(),
              ec ? "size unknown" : format_bytes(plan_bytes).c_str());
  if (cache) std::printf("timing cache: %s, %zu entries\n", cache_path->c_str(), cache->size());
  return 0;
}

}  // namespace

const Command& build_command() {
  static const Command command{
      .name = "build",
      .summary = "optimize an ONNX model and save the engine as a plan file",
      .usage = "kiln build MODEL.onnx -o MODEL.plan [options]",
      .help =
          "  -o, --output PATH    where to save the plan (written atomically); required\n"
          "  --shapes=SPEC        fix the shapes of dynamic inputs (min = opt = max)\n"
          "  --minShapes=SPEC     smallest shapes the engine must accept\n"
          "  --optShapes=SPEC     shapes the kernels are chosen for\n"
          "  --maxShapes=SPEC     largest shapes the engine must accept (memory is planned\n"
          "                       for these)\n"
          "  --fp16               allow float16 kernels (mixed precision)\n"
          "  --bf16               allow bfloat16 kernels\n"
          "  --noTF32             forbid TF32 matrix math\n"
          "  --device=gpu|cpu     the device the engine runs on (default: the GPU when one\n"
          "                       can be used, else the CPU)\n"
          "  --timingCacheFile=F  timing cache: read F when it exists (layers found there\n"
          "                       are not timed again), write it after the build\n"
          "  --builderOptimizationLevel=N  0-5 (default 3); 0 times no kernels: each\n"
          "                       layer gets its kernel of highest priority\n"
          "  --verbose            log everything the builder does (the autotuner's\n"
          "                       candidates and times per layer)\n"
          "SPEC is NAME:DIMS[,NAME:DIMS...], e.g. input:1x3x224x224,mask:1x128; a name may\n"
          "contain ':' (the dims follow the last one). Every dynamic input needs a shape.\n",
      .flags =
          {
              value_flag("-o", {"--output", "--saveEngine"}),
              value_flag("--shapes", {}, true),
              value_flag("--minShapes", {}, true),
              value_flag("--optShapes", {}, true),
              value_flag("--maxShapes", {}, true),
              switch_flag("--fp16"),
              switch_flag("--bf16"),
              switch_flag("--noTF32"),
              value_flag("--device"),
              value_flag("--timingCacheFile"),
              value_flag("--builderOptimizationLevel"),
          },
      .run = run_build,
  };
  return command;
}

}  // namespace kiln::cli

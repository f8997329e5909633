// kiln inspect: what an engine holds (inputs, outputs, layers, memory). An ONNX model is built
// in memory first, so what is shown is what `kiln build` would save.
#include <cstdio>

#include "commands.h"
#include "model.h"

namespace kiln::cli {
namespace {

int run_inspect(const ParsedArgs& args) {
  if (args.positionals.size() != 1) {
    throw UsageError(args.positionals.empty()
                         ? "missing the model (MODEL.onnx or MODEL.plan)"
                         : "expected one model, got " + std::to_string(args.positionals.size()));
  }
  const std::string model_path = args.positionals[0];
  const ShapeFlags shape_flags = read_shape_flags(args);

  std::unique_ptr<Engine> engine;
  std::string origin;
  if (is_onnx_path(model_path)) {
    Builder builder(cli_logger());
    ParsedModel model = parse_onnx(builder, model_path);
    std::unique_ptr<BuilderConfig> config = builder.create_config();
    config->set_device(choose_device(args));
    OptimizationProfile profile;
    if (make_profile(network_inputs(*model.network), shape_flags, {},
                     " (or a range with --minShapes/--optShapes/--maxShapes)", profile)) {
      config->add_optimization_profile(profile);
    }
    engine = builder.build_engine(*model.network, *config);
    const int layers = model.network->num_layers();
    origin = "ONNX model with " + std::to_string(layers) + (layers == 1 ? " layer" : " layers") +
             ", built in memory for this report";
  } else {
    if (!shape_flags.shapes.empty() || !shape_flags.min.empty() || !shape_flags.opt.empty() ||
        !shape_flags.max.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "shape flags apply to ONNX models only; a plan's shapes were fixed when it "
                  "was built");
    }
    if (args.has("--device")) {
      throw Error(ErrorCode::kInvalidArgument,
                  "--device applies to ONNX models; a plan was built for one device already");
    }
    engine = load_plan(model_path);
    origin = "kiln plan";
  }

  std::printf("model: %s\n", model_path.c_str());
  std::printf("format: %s\n", origin.c_str());
  std::printf("kiln: %s\n", version_string());
  std::printf("device: %s\n", describe_device(*engine).c_str());
  std::printf("optimization profiles: %d\n", engine->num_optimization_profiles());
  std::printf("%s", describe_io(*engine).c_str());
  std::printf("layers: %d\n", engine->num_layers());
  std::printf("memory: %s\n", describe_memory(*engine).c_str());
  std::printf("\n%s", engine->describe().c_str());
  return 0;
}

}  // namespace

const Command& inspect_command() {
  static const Command command{
      .name = "inspect",
      .summary = "show an engine's inputs, outputs, layers and memory",
      .usage = "kiln inspect MODEL.onnx|MODEL.plan [--shapes=SPEC]",
      .help =
          "  --shapes=SPEC        for an ONNX model: shapes of its dynamic inputs\n"
          "                       (NAME:DIMS[,NAME:DIMS...]); static models need none\n"
          "  --minShapes/--optShapes/--maxShapes=SPEC   a shape range instead, as for build\n"
          "  --device=gpu|cpu     for an ONNX model: the device to build for, as for build\n"
          "  --verbose            log everything kiln does\n",
      .flags =
          {
              value_flag("--shapes", {}, true),
              value_flag("--minShapes", {}, true),
              value_flag("--optShapes", {}, true),
              value_flag("--maxShapes", {}, true),
              value_flag("--device"),
          },
      .run = run_inspect,
  };
  return command;
}

}  // namespace kiln::cli

// What the kiln commands share: loading an ONNX model or a plan, turning the shape flags into
// an optimization profile, and printing an engine's inputs, outputs and memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "kiln/kiln.h"

namespace kiln::cli {

// The logger every command uses: warnings and errors by default, everything with --verbose.
StderrLogger& cli_logger();

// Throws kiln::Error (kIO) unless `path` names a readable regular file.
void check_input_file(const std::string& path, const std::string& what);

// ".onnx" files are ONNX models; anything else is read as a plan.
bool is_onnx_path(const std::string& path);

struct InputInfo {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;  // -1 where dynamic
};

std::vector<InputInfo> network_inputs(const NetworkDefinition& network);
std::vector<InputInfo> engine_inputs(const Engine& engine);
std::vector<std::string> engine_outputs(const Engine& engine);
bool is_dynamic(const Dims& dims);

// The values of --shapes / --minShapes / --optShapes / --maxShapes, merged over repeats.
struct ShapeFlags {
  std::map<std::string, Dims> shapes, min, opt, max;
};
ShapeFlags read_shape_flags(const ParsedArgs& args);

// Throws kiln::Error unless `dims` fits an input declared as `declared` (same rank, equal
// static extents). `source` says where the dims came from ("--shapes", "'a.npy'").
void check_fits(const InputInfo& input, const Dims& dims, const std::string& source);

// Fills `profile` with min/opt/max for every dynamic input, from the shape flags or else from
// `given` (dims of .npy inputs). Returns false when no input needed a profile. Throws
// kiln::Error for a name that is not an input, dims that do not fit, and a dynamic input with
// no shape, saying which flag gives one (`missing_hint` is appended to that message, with
// "{name}" replaced by the input's name).
bool make_profile(const std::vector<InputInfo>& inputs, const ShapeFlags& flags,
                  const std::map<std::string, Dims>& given, const std::string& missing_hint,
                  OptimizationProfile& profile);

// An ONNX model parsed into a network, with the time it took.
struct ParsedModel {
  std::unique_ptr<NetworkDefinition> network;
  double parse_ms = 0;
};
ParsedModel parse_onnx(const Builder& builder, const std::string& path);

// Loads a plan file; a file that is not a plan gets a hint when its name does not say plan.
std::unique_ptr<Engine> load_plan(const std::string& path);

// "72 B", "1.5 KiB"
std::string format_bytes(uint64_t bytes);
// "-1x4 (min 1x4, opt 2x4, max 8x4)" for dynamic inputs of profile 0, else just the dims.
std::string describe_tensor_shape(const Engine& engine, const std::string& name);
// Inputs and outputs, one per line, indented.
std::string describe_io(const Engine& engine);
// "arena X for Y of activations (Z saved by sharing); weights W"
std::string describe_memory(const Engine& engine);
std::string describe_device(const Engine& engine);
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"
std::string describe_gpu(const GpuInfo& gpu);
// "model's own types, fp16 allowed, tf32 off"
std::string describe_precision(const BuilderConfig& config);

// The device of --device=gpu|cpu; without the flag, `fallback`. Throws kiln::Error for
// another value.
DeviceType device_flag(const ParsedArgs& args, DeviceType fallback);
// The device to build for: --device when given, else the GPU when one can be used, else the
// CPU, printing one line that says why.
DeviceType choose_device(const ParsedArgs& args);

double milliseconds_since(std::chrono::steady_clock::time_point start);

}  // namespace kiln::cli

// What an engine plan holds, independent of its file encoding (src/plan/plan_format.md
// describes the bytes). The writer and reader live in plan_writer.cpp / plan_reader.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/types.h"

namespace kiln::plan {

// One optimization profile: for each engine input, in the order of graph inputs, its
// min/opt/max extents.
struct ProfileData {
  std::vector<std::string> input_names;
  std::vector<Dims> min;
  std::vector<Dims> opt;
  std::vector<Dims> max;
};

// Where each activation lives in the context's arena, planned at the profile's max shapes.
struct MemoryPlanData {
  uint64_t arena_bytes = 0;                 // size of the one arena an execution context allocates
  uint64_t total_activation_bytes = 0;      // sum of all activations, as if none were reused
  std::map<std::string, uint64_t> offsets;  // value name -> byte offset in the arena
  std::map<std::string, uint64_t> sizes;    // value name -> bytes reserved
};

struct PlanContents {
  std::unique_ptr<ir::Graph> graph;  // the optimized graph, constants (weights) included
  std::vector<ProfileData> profiles;
  MemoryPlanData memory;
  std::string target = "cpu";  // "cpu", or "cuda:sm_90" etc.
  uint32_t builder_flags = 0;
  // Per node name, the kernel (tactic) chosen by the builder.
  std::map<std::string, std::string> tactics;
  // Per node name, the chosen kernel's algorithm parameters where autotuning picked them
  // (a cuBLASLt algorithm, a cuDNN engine configuration: bytes only that kernel reads); nodes
  // without an entry choose by heuristics when they first run.
  std::map<std::string, std::vector<uint8_t>> tactic_params;
  // Read back from the file: the kiln version that wrote it (the writer fills it itself).
  std::string kiln_version;
};

// Serializes to the plan format (header with magic, format version, kiln version, target,
// checksum; body; 64-byte aligned weights section).
std::vector<uint8_t> serialize_plan(const PlanContents& plan);

// Parses and validates a plan. Throws kiln::Error: kInvalidPlan for a file that is not a
// plan, truncated or corrupted (checksum, any offset or size out of range), kVersionMismatch
// for a plan written by another kiln version or plan format version (naming both versions).
PlanContents deserialize_plan(const void* data, size_t size);

// File helpers. Writing goes to a temporary file renamed into place, so a failure never
// leaves a half-written plan; kIO errors name the path.
void write_plan_file(const std::string& path, const PlanContents& plan);
PlanContents read_plan_file(const std::string& path);

}  // namespace kiln::plan

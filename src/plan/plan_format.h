// Constants of the engine plan file format (plan_format.md describes the bytes), and the
// helpers that the writer shares with tests that craft files by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plan/plan.h"

namespace kiln::plan::format {

// Bump on any change to the bytes. Plans load only into the kiln version that wrote them, so
// this mostly serves tools and messages; it must still change whenever the layout does.
inline constexpr uint32_t kFormatVersion = 2;  // 2: tactic parameters section

inline constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};

// The fixed header. The first kStablePrefixSize bytes (magic, format version, header size,
// kiln version) keep this layout in every format version, so that any kiln can name the
// version that wrote any plan.
inline constexpr size_t kHeaderSize = 128;
inline constexpr size_t kMagicOffset = 0;          // char[8]
inline constexpr size_t kFormatVersionOffset = 8;  // u32
inline constexpr size_t kHeaderSizeOffset = 12;    // u32, == kHeaderSize
inline constexpr size_t kKilnVersionOffset = 16;   // char[16], NUL-padded
inline constexpr size_t kKilnVersionField = 16;
inline constexpr size_t kStablePrefixSize = 32;
inline constexpr size_t kBodySizeOffset = 32;      // u64
inline constexpr size_t kWeightsSizeOffset = 40;   // u64, a multiple of kWeightsAlignment
inline constexpr size_t kBuilderFlagsOffset = 48;  // u32
inline constexpr size_t kChecksumOffset = 52;      // u32, CRC-32C (see checksum.h)
inline constexpr size_t kTargetOffset = 56;        // char[72], NUL-padded
inline constexpr size_t kTargetField = 72;
static_assert(kTargetOffset + kTargetField == kHeaderSize);

// The weights section starts at the first multiple of this after the body, and every tensor
// in it starts at a multiple of it, so that a loader can map the file and use tensors in place.
inline constexpr size_t kWeightsAlignment = 64;

// The body is these sections, each exactly once, in this order: u32 id, u64 length, payload.
enum class SectionId : uint32_t {
  kGraph = 1,
  kProfiles = 2,
  kMemory = 3,
  kTactics = 4,
  kTacticParams = 5,
};

// A value index meaning "omitted" (optional node inputs and outputs).
inline constexpr uint32_t kNoValue = 0xFFFFFFFFu;

// Value flags (u8); other bits must be zero.
inline constexpr uint8_t kValueHasShape = 1;
inline constexpr uint8_t kValueIsConstant = 2;

// Attribute kinds: the index of the alternative in ir::Attribute (the writer static_asserts
// that the variant still has exactly these alternatives in this order).
enum class AttributeKind : uint8_t {
  kInt = 0,
  kFloat = 1,
  kString = 2,
  kTensor = 3,
  kGraph = 4,
  kInts = 5,
  kFloats = 6,
  kStrings = 7,
  kTensors = 8,
  kGraphs = 9,
};

// Subgraphs (If/Loop/Scan bodies) nest at most this deep; the top-level graph is depth 0. The
// reader recurses once per level, so this bounds its stack use on a hostile file.
inline constexpr int kMaxSubgraphDepth = 32;

// The header fields that are not derived from the body and weights.
struct HeaderFields {
  std::string kiln_version;
  uint32_t format_version = kFormatVersion;
  std::string target;
  uint32_t builder_flags = 0;
};

// Bytes of one tensor in the weights section, at `offset` from the section's start.
struct WeightBlob {
  const void* data;
  size_t size;
  uint64_t offset;
};

// Lays out header + body + zero padding + weights (zero padding between and after blobs up to
// `weights_size`) and fills in the checksum. Throws kInvalidArgument for fields that do not fit.
std::vector<uint8_t> assemble_plan(std::span<const uint8_t> body,
                                   std::span<const WeightBlob> weights, uint64_t weights_size,
                                   const HeaderFields& header);

// The checksum the header should hold for a complete plan file (its own field counts as zero).
uint32_t compute_checksum(const uint8_t* file, size_t size);

// Test hook: serialize_plan, but claiming another kiln version and format version.
std::vector<uint8_t> serialize_plan_as(const PlanContents& plan, std::string_view kiln_version,
                                       uint32_t format_version);

}  // namespace kiln::plan::format

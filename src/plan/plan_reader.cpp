// Plan deserialization. Nothing in the file is trusted: the header is checked in the order
// magic, version, sizes, checksum; then the body is parsed with a bounds-checked reader, and
// every count, length, index, offset and enum value is validated before it is used. Any
// failure is a kiln::Error (kInvalidPlan, or kVersionMismatch) saying what and where.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/checked_size.h"
#include "core/error.h"
#include "core/fuzzing.h"
#include "ir/graph.h"
#include "kiln/version.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

namespace kiln::plan {

namespace {

using format::AttributeKind;
using format::SectionId;

uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename... Args>
[[noreturn]] void invalid(Args&&... args) {
  fail(ErrorCode::kInvalidPlan, std::forward<Args>(args)...);
}

[[noreturn]] void truncated(size_t needed, const char* what, size_t size) {
  invalid("plan is truncated: ", what, " needs ", needed, " bytes, file has ", size);
}

// A NUL-padded text field of the header. `strict` also requires the padding to be zero.
std::string header_text(const uint8_t* field, size_t field_size, const char* what, bool strict) {
  const auto* text = reinterpret_cast<const char*>(field);
  const size_t length = strnlen(text, field_size);
  if (strict) {
    if (length == field_size) invalid("plan header is invalid: ", what, " is not terminated");
    for (size_t i = length; i < field_size; ++i) {
      if (field[i] != 0) invalid("plan header is invalid: ", what, " has non-zero padding");
    }
  }
  return std::string(text, length);
}

class BodyReader {
 public:
  // `owner`, when set, keeps `weights` alive; tensors then point into it instead of copying.
  BodyReader(const uint8_t* weights, uint64_t weights_size, std::shared_ptr<const void> owner)
      : weights_(weights), weights_size_(weights_size), owner_(std::move(owner)) {}

  std::unique_ptr<ir::Graph> read_graph(ByteReader& r, int depth);
  std::vector<ProfileData> read_profiles(ByteReader& r);
  MemoryPlanData read_memory(ByteReader& r);
  std::map<std::string, std::string> read_tactics(ByteReader& r);
  std::map<std::string, std::vector<uint8_t>> read_tactic_params(
      ByteReader& r, const std::map<std::string, std::string>& tactics);

 private:
  DataType read_dtype(ByteReader& r) {
    const uint8_t v = r.u8();
    if (!is_valid_data_type(v)) r.fail("unknown data type ", int(v));
    return DataType(v);
  }
  Dims read_extents(ByteReader& r, const char* what);
  Tensor read_tensor(ByteReader& r);
  ir::Attribute read_attribute(ByteReader& r, int depth);
  std::shared_ptr<ir::Graph> read_optional_graph(ByteReader& r, int depth) {
    const uint8_t present = r.u8();
    if (present > 1) r.fail("graph presence flag is ", int(present), ", not 0 or 1");
    if (!present) return nullptr;
    return std::shared_ptr<ir::Graph>(read_graph(r, depth + 1));
  }

  const uint8_t* weights_;
  uint64_t weights_size_;
  std::shared_ptr<const void> owner_;
};

Dims BodyReader::read_extents(ByteReader& r, const char* what) {
  const size_t rank = r.count(8, "dims");
  Dims dims(rank);
  for (size_t i = 0; i < rank; ++i) {
    dims[i] = r.i64();
    if (dims[i] < 0) r.fail(what, " dim ", i, " is ", dims[i], ", which is negative");
  }
  return dims;
}

Tensor BodyReader::read_tensor(ByteReader& r) {
  const uint8_t defined = r.u8();
  if (defined > 1) r.fail("tensor presence flag is ", int(defined), ", not 0 or 1");
  if (!defined) return Tensor();
  const DataType dtype = read_dtype(r);
  Dims shape = read_extents(r, "tensor");
  const uint64_t offset = r.u64();
  const uint64_t size = r.u64();
  // Element and byte counts through the overflow-checked helpers (core/checked_size.h), so
  // that nothing downstream overflows on this shape.
  size_t needed = 0;
  try {
    needed = checked_bytes(dtype, checked_numel(shape, "tensor"), "tensor");
  } catch (const SizeOverflow&) {
    r.fail("tensor of shape ", to_string(shape), " and type ", to_string(dtype),
           " has too many elements");
  }
  if (needed > weights_size_) {
    r.fail("tensor of shape ", to_string(shape), " and type ", to_string(dtype),
           " is larger than the weights section (", weights_size_, " bytes)");
  }
  if (size != needed) {
    r.fail("tensor of shape ", to_string(shape), " and type ", to_string(dtype), " needs ", needed,
           " bytes but its weights entry has ", size);
  }
  if (offset > weights_size_ || size > weights_size_ - offset) {
    r.fail("tensor refers to weights [", offset, ", ", offset, " + ", size,
           ") beyond the weights section (", weights_size_, " bytes)");
  }
  if (offset % format::kWeightsAlignment != 0) {
    r.fail("tensor weights offset ", offset, " is not a multiple of ", format::kWeightsAlignment);
  }
  const uint8_t* bytes = weights_ + offset;
  if (owner_) {
    // The owner's memory is ours (read_plan_file's buffer), so dropping const is safe.
    return Tensor::view(dtype, std::move(shape), const_cast<uint8_t*>(bytes), owner_);
  }
  return Tensor::from_bytes(dtype, std::move(shape), bytes, size_t(size));
}

std::unique_ptr<ir::Graph> BodyReader::read_graph(ByteReader& r, int depth) {
  if (depth > format::kMaxSubgraphDepth) {
    r.fail("subgraphs nest deeper than ", format::kMaxSubgraphDepth, " levels");
  }
  auto g = std::make_unique<ir::Graph>();
  g->name = r.str("graph name");
  auto graph_scope = r.scope(cat("graph '", printable(g->name), "'"));

  const size_t input_count = r.u32();
  // Smallest value: name length (4), dtype (1), flags (1), rank (4).
  const size_t value_count = r.count(10, "values");
  if (input_count > value_count) {
    r.fail(input_count, " graph inputs but only ", value_count, " values");
  }
  std::vector<ir::Value*> values(value_count);
  for (size_t i = 0; i < value_count; ++i) {
    auto value_scope = r.scope(cat("value ", i));
    std::string name = r.str("value name");
    auto name_scope = r.scope(cat("'", printable(name), "'"));
    const DataType dtype = read_dtype(r);
    const uint8_t flags = r.u8();
    if (flags & ~(format::kValueHasShape | format::kValueIsConstant)) {
      r.fail("unknown value flags ", int(flags));
    }
    const size_t rank = r.count(12, "dims");  // i64 + an empty symbol's length
    ir::Shape shape(rank);
    for (size_t d = 0; d < rank; ++d) {
      shape[d].value = r.i64();
      if (shape[d].value < -1) r.fail("dim ", d, " is ", shape[d].value);
      shape[d].symbol = r.str("dim symbol");
    }
    std::optional<Tensor> constant;
    if (flags & format::kValueIsConstant) constant = read_tensor(r);
    if (g->find_value(name)) r.fail("two values have this name");
    ir::Value* v = i < input_count ? g->add_input(std::move(name), dtype, std::move(shape))
                                   : g->add_value(std::move(name), dtype, std::move(shape));
    v->has_shape = (flags & format::kValueHasShape) != 0;
    v->constant = std::move(constant);
    values[i] = v;
  }

  auto value_at = [&](uint32_t index, bool optional) -> ir::Value* {
    if (index == format::kNoValue && optional) return nullptr;
    if (index >= value_count) {
      r.fail("value index ", index, " is out of range (the graph has ", value_count, " values)");
    }
    return values[index];
  };

  {
    const size_t output_count = r.count(4, "graph outputs");
    for (size_t i = 0; i < output_count; ++i) {
      auto scope = r.scope(cat("output ", i));
      g->mark_output(value_at(r.u32(), false));
    }
  }

  // Nodes: each value produced at most once, never a graph input, and only before its uses.
  // A value never produced in this graph is an input, a constant, or (in a subgraph) read
  // from the enclosing graph by name.
  std::vector<uint8_t> produced(value_count, 0);  // 0: not yet, 1: by an earlier node
  // Smallest node: op, name, input count, output count, attribute count.
  const size_t node_count = r.count(20, "nodes");
  // A value used before it is produced means the nodes are not in topological order.
  std::vector<uint8_t> used(value_count, 0);
  for (size_t n = 0; n < node_count; ++n) {
    auto node_scope = r.scope(cat("node ", n));
    std::string op = r.str("op name");
    std::string name = r.str("node name");
    auto name_scope = r.scope(cat(printable(op), " '", printable(name), "'"));
    std::vector<ir::Value*> inputs(r.count(4, "node inputs"));
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto scope = r.scope(cat("input ", i));
      const uint32_t index = r.u32();
      inputs[i] = value_at(index, true);
      if (inputs[i]) used[index] = 1;
    }
    std::vector<ir::Value*> outputs(r.count(4, "node outputs"));
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto scope = r.scope(cat("output ", i));
      const uint32_t index = r.u32();
      outputs[i] = value_at(index, true);
      if (!outputs[i]) continue;
      if (index < input_count) r.fail("a graph input cannot be a node output");
      if (produced[index]) r.fail("value ", index, " is produced twice");
      // Used already (by an earlier node, or by this node's own inputs): not topological.
      if (used[index]) r.fail("value ", index, " is used before the node that produces it");
      produced[index] = 1;
    }
    ir::Attributes attrs;
    const size_t attr_count = r.count(5, "attributes");  // key length + kind
    for (size_t a = 0; a < attr_count; ++a) {
      std::string key = r.str("attribute name");
      auto scope = r.scope(cat("attribute '", printable(key), "'"));
      ir::Attribute attr = read_attribute(r, depth);
      if (!attrs.emplace(std::move(key), std::move(attr)).second) {
        r.fail("the attribute appears twice");
      }
    }
    ir::Node* node =
        g->add_node(std::move(op), std::move(name), std::move(inputs), {}, std::move(attrs));
    node->outputs = std::move(outputs);
    for (ir::Value* o : node->outputs) {
      if (o) o->producer = node;
    }
  }
  return g;
}

ir::Attribute BodyReader::read_attribute(ByteReader& r, int depth) {
  const uint8_t kind = r.u8();
  switch (AttributeKind(kind)) {
    case AttributeKind::kInt:
      return r.i64();
    case AttributeKind::kFloat:
      return r.f64();
    case AttributeKind::kString:
      return r.str("string attribute");
    case AttributeKind::kTensor:
      return read_tensor(r);
    case AttributeKind::kGraph:
      return read_optional_graph(r, depth);
    case AttributeKind::kInts: {
      std::vector<int64_t> v(r.count(8, "ints"));
      for (int64_t& x : v) x = r.i64();
      return v;
    }
    case AttributeKind::kFloats: {
      std::vector<double> v(r.count(8, "floats"));
      for (double& x : v) x = r.f64();
      return v;
    }
    case AttributeKind::kStrings: {
      std::vector<std::string> v(r.count(4, "strings"));
      for (std::string& x : v) x = r.str("string");
      return v;
    }
    case AttributeKind::kTensors: {
      std::vector<Tensor> v(r.count(1, "tensors"));
      for (size_t i = 0; i < v.size(); ++i) {
        auto scope = r.scope(cat("tensor ", i));
        v[i] = read_tensor(r);
      }
      return v;
    }
    case AttributeKind::kGraphs: {
      std::vector<std::shared_ptr<ir::Graph>> v(r.count(1, "graphs"));
      for (size_t i = 0; i < v.size(); ++i) {
        auto scope = r.scope(cat("graph ", i));
        v[i] = read_optional_graph(r, depth);
      }
      return v;
    }
  }
  r.fail("unknown attribute kind ", int(kind));
}

std::vector<ProfileData> BodyReader::read_profiles(ByteReader& r) {
  std::vector<ProfileData> profiles(r.count(4, "profiles"));
  for (size_t p = 0; p < profiles.size(); ++p) {
    auto scope = r.scope(cat("profile ", p));
    ProfileData& profile = profiles[p];
    // Smallest input: name length + three ranks.
    const size_t n = r.count(16, "profile inputs");
    for (size_t i = 0; i < n; ++i) {
      std::string name = r.str("input name");
      auto input_scope = r.scope(cat("input '", printable(name), "'"));
      Dims min = read_extents(r, "min");
      Dims opt = read_extents(r, "opt");
      Dims max = read_extents(r, "max");
      if (opt.size() != min.size() || max.size() != min.size()) {
        r.fail("min/opt/max have ranks ", min.size(), "/", opt.size(), "/", max.size());
      }
      for (size_t d = 0; d < min.size(); ++d) {
        if (!(min[d] <= opt[d] && opt[d] <= max[d])) {
          r.fail("dim ", d, " does not satisfy min <= opt <= max (", min[d], ", ", opt[d], ", ",
                 max[d], ")");
        }
      }
      profile.input_names.push_back(std::move(name));
      profile.min.push_back(std::move(min));
      profile.opt.push_back(std::move(opt));
      profile.max.push_back(std::move(max));
    }
  }
  return profiles;
}

MemoryPlanData BodyReader::read_memory(ByteReader& r) {
  MemoryPlanData memory;
  memory.arena_bytes = r.u64();
  memory.total_activation_bytes = r.u64();
  const size_t n = r.count(20, "memory plan entries");  // name length + offset + size
  for (size_t i = 0; i < n; ++i) {
    std::string name = r.str("value name");
    auto scope = r.scope(cat("memory plan entry '", printable(name), "'"));
    const uint64_t offset = r.u64();
    const uint64_t size = r.u64();
    if (offset > memory.arena_bytes || size > memory.arena_bytes - offset) {
      r.fail("[", offset, ", ", offset, " + ", size, ") does not fit in the arena of ",
             memory.arena_bytes, " bytes");
    }
    if (memory.offsets.count(name)) r.fail("the value appears twice");
    memory.offsets.emplace(name, offset);
    memory.sizes.emplace(std::move(name), size);
  }
  return memory;
}

std::map<std::string, std::string> BodyReader::read_tactics(ByteReader& r) {
  std::map<std::string, std::string> tactics;
  const size_t n = r.count(8, "tactics");
  for (size_t i = 0; i < n; ++i) {
    auto scope = r.scope(cat("tactic ", i));
    std::string node = r.str("node name");
    std::string tactic = r.str("tactic name");
    if (!tactics.emplace(std::move(node), std::move(tactic)).second) {
      r.fail("two tactics for the same node");
    }
  }
  return tactics;
}

std::map<std::string, std::vector<uint8_t>> BodyReader::read_tactic_params(
    ByteReader& r, const std::map<std::string, std::string>& tactics) {
  std::map<std::string, std::vector<uint8_t>> params;
  const size_t n = r.count(8, "tactic parameters");
  for (size_t i = 0; i < n; ++i) {
    auto scope = r.scope(cat("tactic parameters ", i));
    std::string node = r.str("node name");
    const std::string bytes = r.str("parameters");
    if (bytes.empty()) r.fail("empty parameters (the writer leaves such nodes out)");
    if (!tactics.count(node))
      r.fail("parameters for node '", printable(node), "', which has no tactic");
    if (!params.emplace(std::move(node), std::vector<uint8_t>(bytes.begin(), bytes.end())).second) {
      r.fail("two sets of parameters for the same node");
    }
  }
  return params;
}

const char* section_name(SectionId id) {
  switch (id) {
    case SectionId::kGraph:
      return "graph section";
    case SectionId::kProfiles:
      return "profiles section";
    case SectionId::kMemory:
      return "memory plan section";
    case SectionId::kTactics:
      return "tactics section";
    case SectionId::kTacticParams:
      return "tactic parameters section";
  }
  return "section";
}

// Reads the next section, which must be `id`, with `read`, which must consume all of it.
template <typename ReadFn>
auto read_section(ByteReader& body, SectionId id, ReadFn&& read) {
  auto scope = body.scope(section_name(id));
  const uint32_t found = body.u32();
  if (found != uint32_t(id)) {
    body.fail("expected section ", uint32_t(id), " but found ", found);
  }
  ByteReader section = body.sub(body.u64(), "the section");
  auto result = read(section);
  if (!section.at_end()) {
    section.fail(section.remaining(), " unexpected bytes after the section's contents");
  }
  return result;
}

PlanContents deserialize(const uint8_t* data, size_t size, std::shared_ptr<const void> owner) {
  using namespace format;
  // 1. Magic: whatever part of it the file has must match.
  if (size > 0 && std::memcmp(data, kMagic, std::min(size, sizeof kMagic)) != 0) {
    invalid("not a kiln plan (bad magic)");
  }
  // 2. Versions, from the prefix every format version shares.
  if (size < kStablePrefixSize) truncated(kHeaderSize, "header", size);
  const uint32_t format_version = get_u32(data + kFormatVersionOffset);
  const std::string kiln_version =
      header_text(data + kKilnVersionOffset, kKilnVersionField, "kiln version", false);
  if (format_version != kFormatVersion || kiln_version != version_string()) {
    fail(ErrorCode::kVersionMismatch, "plan was built by kiln ", printable(kiln_version),
         " (format ", format_version, "); this is kiln ", version_string(), " (format ",
         kFormatVersion, "): rebuild the engine");
  }
  // 3. Sizes.
  if (size < kHeaderSize) truncated(kHeaderSize, "header", size);
  const uint32_t header_size = get_u32(data + kHeaderSizeOffset);
  if (header_size != kHeaderSize) {
    invalid("plan header is invalid: header size ", header_size, ", expected ", kHeaderSize);
  }
  const uint64_t body_size = get_u64(data + kBodySizeOffset);
  const uint64_t weights_size = get_u64(data + kWeightsSizeOffset);
  if (weights_size % kWeightsAlignment != 0) {
    invalid("plan header is invalid: weights size ", weights_size, " is not a multiple of ",
            kWeightsAlignment);
  }
  // Compared against the actual size before any arithmetic can overflow.
  if (body_size > size || weights_size > size) {
    invalid("plan is truncated: header says body ", body_size, " bytes and weights ", weights_size,
            " bytes, file has ", size);
  }
  const uint64_t weights_start =
      (kHeaderSize + body_size + kWeightsAlignment - 1) / kWeightsAlignment * kWeightsAlignment;
  const uint64_t expected = weights_start + weights_size;
  if (size < expected) truncated(expected, "the plan (header, body and weights)", size);
  if (size > expected) {
    invalid("plan is invalid: ", size - expected, " unexpected bytes after the weights section");
  }
  // 4. Checksum.
  if (get_u32(data + kChecksumOffset) != compute_checksum(data, size) && !checksums_ignored()) {
    invalid("plan checksum mismatch: the file is corrupted");
  }
  // 5. Parse.
  PlanContents plan;
  plan.kiln_version = kiln_version;
  header_text(data + kKilnVersionOffset, kKilnVersionField, "kiln version", true);
  plan.target = header_text(data + kTargetOffset, kTargetField, "target", true);
  plan.builder_flags = get_u32(data + kBuilderFlagsOffset);

  BodyReader reader(data + weights_start, weights_size, std::move(owner));
  ByteReader body(data + kHeaderSize, size_t(body_size), kHeaderSize);
  plan.graph =
      read_section(body, SectionId::kGraph, [&](ByteReader& r) { return reader.read_graph(r, 0); });
  plan.profiles = read_section(body, SectionId::kProfiles,
                               [&](ByteReader& r) { return reader.read_profiles(r); });
  plan.memory =
      read_section(body, SectionId::kMemory, [&](ByteReader& r) { return reader.read_memory(r); });
  plan.tactics = read_section(body, SectionId::kTactics,
                              [&](ByteReader& r) { return reader.read_tactics(r); });
  plan.tactic_params = read_section(body, SectionId::kTacticParams, [&](ByteReader& r) {
    return reader.read_tactic_params(r, plan.tactics);
  });
  if (!body.at_end()) body.fail(body.remaining(), " unexpected bytes after the last section");
  return plan;
}

}  // namespace

PlanContents deserialize_plan(const void* data, size_t size) {
  if (data == nullptr && size > 0) fail(ErrorCode::kInvalidArgument, "plan data is null");
  return deserialize(static_cast<const uint8_t*>(data), size, nullptr);
}

PlanContents read_plan_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    fail(ErrorCode::kIO, "cannot open plan file '", path, "': ", std::strerror(err));
  }
  auto io_error = [&](const char* action, int err) {
    ::close(fd);
    fail(ErrorCode::kIO, "cannot read plan file '", path, "': ", action, ": ", std::strerror(err));
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error("stat", errno);
  if (!S_ISREG(st.st_mode)) io_error("not a regular file", EINVAL);
  const size_t size = size_t(st.st_size);
  // One 64-byte aligned buffer: the weights section (64-byte aligned within the file) is then
  // aligned in memory too, and the loaded tensors point into it instead of being copied.
  void* memory = std::aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (memory == nullptr) io_error("allocating memory for the file", ENOMEM);
  std::shared_ptr<void> buffer(memory, std::free);
  auto* bytes = static_cast<uint8_t*>(memory);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_error("reading", errno);
    if (n == 0) break;  // the file shrank while we read; the size checks below report it
    done += size_t(n);
  }
  ::close(fd);
  try {
    return deserialize(bytes, done, buffer);
  } catch (const Error& e) {
    throw Error(e.code(), cat(e.what(), " (file '", path, "')"));
  }
}

}  // namespace kiln::plan

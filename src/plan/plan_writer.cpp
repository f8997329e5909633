// Plan serialization (plan_format.md describes the bytes). The writer checks the same
// structural rules that the reader enforces, so that whatever it writes loads again; a graph
// that breaks one is a bug upstream and is reported as kInvalidArgument naming the spot.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "core/error.h"
#include "core/temporary_files.h"
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

static_assert(std::variant_size_v<ir::Attribute> == 10,
              "ir::Attribute changed: give the new kind an AttributeKind and a format version");
static_assert(
    std::is_same_v<std::variant_alternative_t<0, ir::Attribute>, int64_t> &&
        std::is_same_v<std::variant_alternative_t<1, ir::Attribute>, double> &&
        std::is_same_v<std::variant_alternative_t<2, ir::Attribute>, std::string> &&
        std::is_same_v<std::variant_alternative_t<3, ir::Attribute>, Tensor> &&
        std::is_same_v<std::variant_alternative_t<4, ir::Attribute>, std::shared_ptr<ir::Graph>> &&
        std::is_same_v<std::variant_alternative_t<5, ir::Attribute>, std::vector<int64_t>> &&
        std::is_same_v<std::variant_alternative_t<6, ir::Attribute>, std::vector<double>> &&
        std::is_same_v<std::variant_alternative_t<7, ir::Attribute>, std::vector<std::string>> &&
        std::is_same_v<std::variant_alternative_t<8, ir::Attribute>, std::vector<Tensor>> &&
        std::is_same_v<std::variant_alternative_t<9, ir::Attribute>,
                       std::vector<std::shared_ptr<ir::Graph>>>,
    "ir::Attribute's alternatives must match format::AttributeKind");

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

template <typename... Args>
[[noreturn]] void reject(const std::string& where, Args&&... args) {
  fail(ErrorCode::kInvalidArgument, "cannot serialize plan: ", where, ": ",
       std::forward<Args>(args)...);
}

class BodyWriter {
 public:
  ByteWriter out;
  std::vector<format::WeightBlob> blobs;
  uint64_t weights_end = 0;

  // Section framing: id, then a u64 length patched once the payload is written.
  size_t begin_section(SectionId id) {
    out.u32(uint32_t(id));
    size_t length_at = out.size();
    out.u64(0);
    return length_at;
  }
  void end_section(size_t length_at) { out.patch_u64(length_at, out.size() - length_at - 8); }

  void write_dims(const Dims& dims, const std::string& where) {
    out.count(dims.size(), "a shape");
    for (int64_t d : dims) {
      if (d < 0) reject(where, "extent ", d, " is negative");
      out.i64(d);
    }
  }

  // Tensor bytes go to the weights section, each blob 64-byte aligned; the body holds a
  // reference (dtype, shape, offset, size).
  void write_tensor(const Tensor& t, const std::string& where) {
    out.u8(t.defined() ? 1 : 0);
    if (!t.defined()) return;
    out.u8(uint8_t(t.dtype()));
    write_dims(t.shape(), where);
    const size_t size = t.nbytes();
    if (size > 0 && t.raw() == nullptr) reject(where, "tensor has no data");
    const uint64_t offset = align_up(weights_end, format::kWeightsAlignment);
    blobs.push_back({t.raw(), size, offset});
    weights_end = offset + size;
    out.u64(offset);
    out.u64(size);
  }

  void write_graph(const ir::Graph& g, int depth, const std::string& where);
  void write_attribute(const ir::Attribute& attr, int depth, const std::string& where);
};

void BodyWriter::write_graph(const ir::Graph& g, int depth, const std::string& where) {
  if (depth > format::kMaxSubgraphDepth) {
    reject(where, "subgraphs nest deeper than ", format::kMaxSubgraphDepth, " levels");
  }
  // Values in a canonical order, graph inputs first (the reader recreates those with
  // add_input), then the others in the graph's own order.
  std::unordered_set<const ir::Value*> owned;
  for (const auto& v : g.values()) owned.insert(v.get());
  std::vector<const ir::Value*> order;
  std::unordered_map<const ir::Value*, uint32_t> index;
  auto add = [&](const ir::Value* v) {
    index.emplace(v, uint32_t(order.size()));
    order.push_back(v);
  };
  for (const ir::Value* in : g.inputs()) {
    if (!in || !owned.count(in)) reject(where, "a graph input is not a value of the graph");
    if (index.count(in)) reject(where, "graph input '", in->name, "' is listed twice");
    add(in);
  }
  for (const auto& v : g.values()) {
    if (!index.count(v.get())) add(v.get());
  }

  out.str(g.name);
  out.count(g.inputs().size(), "graph inputs");
  out.count(order.size(), "graph values");
  std::unordered_set<std::string> names;
  for (const ir::Value* v : order) {
    const std::string here = cat(where, " > value '", v->name, "'");
    if (!names.insert(v->name).second) reject(here, "two values have this name");
    out.str(v->name);
    out.u8(uint8_t(v->dtype));
    out.u8(uint8_t((v->has_shape ? format::kValueHasShape : 0) |
                   (v->constant ? format::kValueIsConstant : 0)));
    out.count(v->shape.size(), "a shape");
    for (const ir::Dim& d : v->shape) {
      if (d.value < -1) reject(here, "dim ", d.value, " is neither static nor symbolic");
      out.i64(d.value);
      out.str(d.symbol);
    }
    if (v->constant) write_tensor(*v->constant, here);
  }

  auto value_index = [&](const ir::Value* v, const std::string& here) -> uint32_t {
    if (v == nullptr) return format::kNoValue;
    auto it = index.find(v);
    if (it == index.end()) reject(here, "refers to value '", v->name, "' of another graph");
    return it->second;
  };

  out.count(g.outputs().size(), "graph outputs");
  for (const ir::Value* v : g.outputs()) {
    if (!v) reject(where, "a graph output is null");
    out.u32(value_index(v, cat(where, " > output '", v->name, "'")));
  }

  // Every value is produced by at most one node, never a graph input, and before any use.
  std::unordered_set<const ir::Value*> inputs(g.inputs().begin(), g.inputs().end());
  std::unordered_set<const ir::Value*> produced_by_any, produced_so_far;
  for (const auto& node : g.nodes()) {
    for (const ir::Value* o : node->outputs) {
      if (o) produced_by_any.insert(o);
    }
  }
  out.count(g.nodes().size(), "graph nodes");
  size_t node_number = 0;
  for (const auto& node : g.nodes()) {
    const std::string here = cat(where, " > node ", node_number++, " ", node->describe());
    out.str(node->op);
    out.str(node->name);
    out.count(node->inputs.size(), "node inputs");
    for (const ir::Value* in : node->inputs) {
      if (in && produced_by_any.count(in) && !produced_so_far.count(in)) {
        reject(here, "input '", in->name, "' is produced by a later node (not topological)");
      }
      out.u32(value_index(in, here));
    }
    out.count(node->outputs.size(), "node outputs");
    for (const ir::Value* o : node->outputs) {
      if (o && inputs.count(o)) reject(here, "output '", o->name, "' is a graph input");
      if (o && !produced_so_far.insert(o).second) {
        reject(here, "output '", o->name, "' is produced twice");
      }
      out.u32(value_index(o, here));
    }
    out.count(node->attrs.size(), "node attributes");
    for (const auto& [key, attr] : node->attrs) {  // std::map: sorted, so deterministic
      out.str(key);
      write_attribute(attr, depth, cat(here, " > attribute '", key, "'"));
    }
  }
}

void BodyWriter::write_attribute(const ir::Attribute& attr, int depth, const std::string& where) {
  out.u8(uint8_t(attr.index()));
  auto write_subgraph = [&](const std::shared_ptr<ir::Graph>& g, const std::string& here) {
    out.u8(g ? 1 : 0);
    if (g) write_graph(*g, depth + 1, here);
  };
  switch (AttributeKind(attr.index())) {
    case AttributeKind::kInt:
      out.i64(std::get<int64_t>(attr));
      break;
    case AttributeKind::kFloat:
      out.f64(std::get<double>(attr));
      break;
    case AttributeKind::kString:
      out.str(std::get<std::string>(attr));
      break;
    case AttributeKind::kTensor:
      write_tensor(std::get<Tensor>(attr), where);
      break;
    case AttributeKind::kGraph:
      write_subgraph(std::get<std::shared_ptr<ir::Graph>>(attr), where);
      break;
    case AttributeKind::kInts: {
      const auto& v = std::get<std::vector<int64_t>>(attr);
      out.count(v.size(), "an ints attribute");
      for (int64_t x : v) out.i64(x);
      break;
    }
    case AttributeKind::kFloats: {
      const auto& v = std::get<std::vector<double>>(attr);
      out.count(v.size(), "a floats attribute");
      for (double x : v) out.f64(x);
      break;
    }
    case AttributeKind::kStrings: {
      const auto& v = std::get<std::vector<std::string>>(attr);
      out.count(v.size(), "a strings attribute");
      for (const std::string& x : v) out.str(x);
      break;
    }
    case AttributeKind::kTensors: {
      const auto& v = std::get<std::vector<Tensor>>(attr);
      out.count(v.size(), "a tensors attribute");
      for (size_t i = 0; i < v.size(); ++i) write_tensor(v[i], cat(where, " > tensor ", i));
      break;
    }
    case AttributeKind::kGraphs: {
      const auto& v = std::get<std::vector<std::shared_ptr<ir::Graph>>>(attr);
      out.count(v.size(), "a graphs attribute");
      for (size_t i = 0; i < v.size(); ++i) write_subgraph(v[i], cat(where, " > graph ", i));
      break;
    }
  }
}

void write_profiles(BodyWriter& w, const std::vector<ProfileData>& profiles) {
  w.out.count(profiles.size(), "profiles");
  for (size_t p = 0; p < profiles.size(); ++p) {
    const ProfileData& profile = profiles[p];
    const std::string where = cat("profile ", p);
    const size_t n = profile.input_names.size();
    if (profile.min.size() != n || profile.opt.size() != n || profile.max.size() != n) {
      reject(where, "has ", n, " input names but ", profile.min.size(), "/", profile.opt.size(),
             "/", profile.max.size(), " min/opt/max shapes");
    }
    w.out.count(n, "profile inputs");
    for (size_t i = 0; i < n; ++i) {
      const std::string here = cat(where, " > input '", profile.input_names[i], "'");
      const Dims& min = profile.min[i];
      const Dims& opt = profile.opt[i];
      const Dims& max = profile.max[i];
      if (opt.size() != min.size() || max.size() != min.size()) {
        reject(here, "min/opt/max have different ranks");
      }
      for (size_t d = 0; d < min.size(); ++d) {
        if (!(0 <= min[d] && min[d] <= opt[d] && opt[d] <= max[d])) {
          reject(here, "dim ", d, " does not satisfy 0 <= min <= opt <= max (", min[d], ", ",
                 opt[d], ", ", max[d], ")");
        }
      }
      w.out.str(profile.input_names[i]);
      w.write_dims(min, here);
      w.write_dims(opt, here);
      w.write_dims(max, here);
    }
  }
}

void write_memory(BodyWriter& w, const MemoryPlanData& memory) {
  w.out.u64(memory.arena_bytes);
  w.out.u64(memory.total_activation_bytes);
  if (memory.offsets.size() != memory.sizes.size()) {
    reject("memory plan", memory.offsets.size(), " offsets but ", memory.sizes.size(), " sizes");
  }
  w.out.count(memory.offsets.size(), "memory plan entries");
  auto size_it = memory.sizes.begin();
  for (const auto& [name, offset] : memory.offsets) {
    const std::string here = cat("memory plan > value '", name, "'");
    if (size_it->first != name) reject(here, "has an offset but no size");
    const uint64_t size = size_it->second;
    ++size_it;
    if (offset > memory.arena_bytes || size > memory.arena_bytes - offset) {
      reject(here, "[", offset, ", +", size, ") does not fit in the arena of ", memory.arena_bytes,
             " bytes");
    }
    w.out.str(name);
    w.out.u64(offset);
    w.out.u64(size);
  }
}

void write_tactics(BodyWriter& w, const std::map<std::string, std::string>& tactics) {
  w.out.count(tactics.size(), "tactics");
  for (const auto& [node, tactic] : tactics) {
    w.out.str(node);
    w.out.str(tactic);
  }
}

void write_tactic_params(BodyWriter& w, const std::map<std::string, std::vector<uint8_t>>& params,
                         const std::map<std::string, std::string>& tactics) {
  size_t n = 0;
  for (const auto& [node, bytes] : params) {
    if (bytes.empty()) continue;
    KILN_CHECK(tactics.count(node), ErrorCode::kInvalidArgument,
               "cannot serialize plan: tactic "
               "parameters for node '",
               printable(node), "', which has no tactic");
    ++n;
  }
  w.out.count(n, "tactic parameters");
  for (const auto& [node, bytes] : params) {
    if (bytes.empty()) continue;
    w.out.str(node);
    w.out.str(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
}

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }

void put_text(uint8_t* field, size_t field_size, const std::string& text, const char* what) {
  // NUL-padded with at least one NUL, so that the reader can find the end.
  if (text.size() >= field_size || text.find('\0') != std::string::npos) {
    fail(ErrorCode::kInvalidArgument, "cannot serialize plan: ", what, " '", printable(text),
         "' must be shorter than ", field_size, " bytes and contain no NUL");
  }
  // The field is zeroed beforehand, so the copy stays NUL-terminated.
  std::memcpy(field, text.data(), text.size());  // NOLINT(bugprone-not-null-terminated-result)
}

std::vector<uint8_t> serialize_with(const PlanContents& plan, format::HeaderFields header) {
  if (!plan.graph) fail(ErrorCode::kInvalidArgument, "cannot serialize plan: it has no graph");
  BodyWriter w;
  size_t at = w.begin_section(SectionId::kGraph);
  w.write_graph(*plan.graph, 0, cat("graph '", plan.graph->name, "'"));
  w.end_section(at);
  at = w.begin_section(SectionId::kProfiles);
  write_profiles(w, plan.profiles);
  w.end_section(at);
  at = w.begin_section(SectionId::kMemory);
  write_memory(w, plan.memory);
  w.end_section(at);
  at = w.begin_section(SectionId::kTactics);
  write_tactics(w, plan.tactics);
  w.end_section(at);
  at = w.begin_section(SectionId::kTacticParams);
  write_tactic_params(w, plan.tactic_params, plan.tactics);
  w.end_section(at);
  header.target = plan.target;
  header.builder_flags = plan.builder_flags;
  return format::assemble_plan(w.out.bytes(), w.blobs,
                               align_up(w.weights_end, format::kWeightsAlignment), header);
}

}  // namespace

namespace format {

uint32_t compute_checksum(const uint8_t* file, size_t size) {
  KILN_ASSERT(size >= kHeaderSize);
  const uint8_t zeros[4] = {0, 0, 0, 0};
  uint32_t crc = crc32c(file, kChecksumOffset);
  crc = crc32c(zeros, sizeof zeros, crc);
  return crc32c(file + kChecksumOffset + 4, size - kChecksumOffset - 4, crc);
}

std::vector<uint8_t> assemble_plan(std::span<const uint8_t> body,
                                   std::span<const WeightBlob> weights, uint64_t weights_size,
                                   const HeaderFields& header) {
  KILN_ASSERT(weights_size % kWeightsAlignment == 0);
  const uint64_t weights_start = align_up(kHeaderSize + body.size(), kWeightsAlignment);
  const uint64_t total = weights_start + weights_size;
  KILN_CHECK(total <= std::numeric_limits<size_t>::max(), ErrorCode::kInvalidArgument,
             "cannot serialize plan: ", total, " bytes do not fit in memory");
  std::vector<uint8_t> file(size_t(total), 0);
  uint8_t* h = file.data();
  std::memcpy(h + kMagicOffset, kMagic, sizeof kMagic);
  put_u32(h + kFormatVersionOffset, header.format_version);
  put_u32(h + kHeaderSizeOffset, uint32_t(kHeaderSize));
  put_text(h + kKilnVersionOffset, kKilnVersionField, header.kiln_version, "kiln version");
  put_u64(h + kBodySizeOffset, body.size());
  put_u64(h + kWeightsSizeOffset, weights_size);
  put_u32(h + kBuilderFlagsOffset, header.builder_flags);
  put_text(h + kTargetOffset, kTargetField, header.target, "target");
  if (!body.empty()) std::memcpy(h + kHeaderSize, body.data(), body.size());
  for (const WeightBlob& blob : weights) {
    KILN_ASSERT(blob.offset % kWeightsAlignment == 0 && blob.offset + blob.size <= weights_size);
    if (blob.size) std::memcpy(h + weights_start + blob.offset, blob.data, blob.size);
  }
  put_u32(h + kChecksumOffset, compute_checksum(file.data(), file.size()));
  return file;
}

std::vector<uint8_t> serialize_plan_as(const PlanContents& plan, std::string_view kiln_version,
                                       uint32_t format_version) {
  HeaderFields header;
  header.kiln_version = std::string(kiln_version);
  header.format_version = format_version;
  return serialize_with(plan, std::move(header));
}

}  // namespace format

std::vector<uint8_t> serialize_plan(const PlanContents& plan) {
  return format::serialize_plan_as(plan, version_string(), format::kFormatVersion);
}

void write_plan_file(const std::string& path, const PlanContents& plan) {
  // Serialize first: a plan that cannot be encoded never touches the file system.
  const std::vector<uint8_t> bytes = serialize_plan(plan);
  write_file_atomically(path, bytes.data(), bytes.size(), "plan file");
}

}  // namespace kiln::plan

// Engine plan format: round trips, determinism, version checks, and a loader that survives
// truncated, corrupted and hand-crafted hostile files (plan_format.md describes the bytes).
#include "plan/plan.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/half.h"
#include "ir/graph.h"
#include "kiln/version.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan_format.h"

namespace kiln::plan {
namespace {

using format::kHeaderSize;

// ---------------------------------------------------------------------------------------------
// Comparing graphs: the original in-memory graph is the reference for the loaded one.

void expect_same_tensor(const Tensor& a, const Tensor& b, const std::string& where) {
  ASSERT_EQ(a.defined(), b.defined()) << where;
  if (!a.defined()) return;
  EXPECT_EQ(a.dtype(), b.dtype()) << where;
  EXPECT_EQ(a.shape(), b.shape()) << where;
  ASSERT_EQ(a.nbytes(), b.nbytes()) << where;
  if (a.nbytes()) {
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << where;
  }
}

std::string name_or_null(const ir::Value* v) { return v ? v->name : "<omitted>"; }

void expect_same_graph(const ir::Graph& a, const ir::Graph& b, const std::string& where);

void expect_same_attribute(const ir::Attribute& a, const ir::Attribute& b,
                           const std::string& where) {
  ASSERT_EQ(a.index(), b.index()) << where;
  switch (a.index()) {
    case 0:
      EXPECT_EQ(std::get<int64_t>(a), std::get<int64_t>(b)) << where;
      break;
    case 1:  // bit patterns, so that NaN and -0.0 count
      EXPECT_EQ(std::bit_cast<uint64_t>(std::get<double>(a)),
                std::bit_cast<uint64_t>(std::get<double>(b)))
          << where;
      break;
    case 2:
      EXPECT_EQ(std::get<std::string>(a), std::get<std::string>(b)) << where;
      break;
    case 3:
      expect_same_tensor(std::get<Tensor>(a), std::get<Tensor>(b), where);
      break;
    case 4: {
      const auto& ga = std::get<std::shared_ptr<ir::Graph>>(a);
      const auto& gb = std::get<std::shared_ptr<ir::Graph>>(b);
      ASSERT_EQ(ga == nullptr, gb == nullptr) << where;
      if (ga) expect_same_graph(*ga, *gb, where);
      break;
    }
    case 5:
      EXPECT_EQ(std::get<std::vector<int64_t>>(a), std::get<std::vector<int64_t>>(b)) << where;
      break;
    case 6: {
      const auto& va = std::get<std::vector<double>>(a);
      const auto& vb = std::get<std::vector<double>>(b);
      ASSERT_EQ(va.size(), vb.size()) << where;
      for (size_t i = 0; i < va.size(); ++i) {
        EXPECT_EQ(std::bit_cast<uint64_t>(va[i]), std::bit_cast<uint64_t>(vb[i])) << where;
      }
      break;
    }
    case 7:
      EXPECT_EQ(std::get<std::vector<std::string>>(a), std::get<std::vector<std::string>>(b))
          << where;
      break;
    case 8: {
      const auto& va = std::get<std::vector<Tensor>>(a);
      const auto& vb = std::get<std::vector<Tensor>>(b);
      ASSERT_EQ(va.size(), vb.size()) << where;
      for (size_t i = 0; i < va.size(); ++i) expect_same_tensor(va[i], vb[i], where);
      break;
    }
    case 9: {
      const auto& va = std::get<std::vector<std::shared_ptr<ir::Graph>>>(a);
      const auto& vb = std::get<std::vector<std::shared_ptr<ir::Graph>>>(b);
      ASSERT_EQ(va.size(), vb.size()) << where;
      for (size_t i = 0; i < va.size(); ++i) {
        ASSERT_EQ(va[i] == nullptr, vb[i] == nullptr) << where;
        if (va[i]) expect_same_graph(*va[i], *vb[i], where);
      }
      break;
    }
    default:
      FAIL() << "unknown attribute kind at " << where;
  }
}

void expect_same_graph(const ir::Graph& a, const ir::Graph& b, const std::string& where) {
  EXPECT_EQ(a.name, b.name) << where;
  ASSERT_EQ(a.values().size(), b.values().size()) << where;
  for (const auto& va : a.values()) {
    const std::string here = where + " value " + va->name;
    const ir::Value* vb = b.find_value(va->name);
    ASSERT_NE(vb, nullptr) << here;
    EXPECT_EQ(va->dtype, vb->dtype) << here;
    EXPECT_EQ(va->shape, vb->shape) << here;  // Dim == compares value and symbol
    EXPECT_EQ(va->has_shape, vb->has_shape) << here;
    ASSERT_EQ(va->constant.has_value(), vb->constant.has_value()) << here;
    if (va->constant) expect_same_tensor(*va->constant, *vb->constant, here);
    EXPECT_EQ(va->producer == nullptr, vb->producer == nullptr) << here;
    if (va->producer) {
      EXPECT_EQ(va->producer->name, vb->producer->name) << here;
    }
  }
  ASSERT_EQ(a.inputs().size(), b.inputs().size()) << where;
  for (size_t i = 0; i < a.inputs().size(); ++i) {
    EXPECT_EQ(a.inputs()[i]->name, b.inputs()[i]->name) << where;
  }
  ASSERT_EQ(a.outputs().size(), b.outputs().size()) << where;
  for (size_t i = 0; i < a.outputs().size(); ++i) {
    EXPECT_EQ(a.outputs()[i]->name, b.outputs()[i]->name) << where;
  }
  ASSERT_EQ(a.nodes().size(), b.nodes().size()) << where;
  auto ia = a.nodes().begin();
  auto ib = b.nodes().begin();
  for (; ia != a.nodes().end(); ++ia, ++ib) {
    const ir::Node& na = **ia;
    const ir::Node& nb = **ib;
    const std::string here = where + " node " + na.name;
    EXPECT_EQ(na.op, nb.op) << here;
    EXPECT_EQ(na.name, nb.name) << here;
    ASSERT_EQ(na.inputs.size(), nb.inputs.size()) << here;
    for (size_t i = 0; i < na.inputs.size(); ++i) {
      EXPECT_EQ(name_or_null(na.inputs[i]), name_or_null(nb.inputs[i])) << here;
      // Loaded inputs must be values of the loaded graph itself.
      if (nb.inputs[i]) {
        EXPECT_EQ(b.find_value(nb.inputs[i]->name), nb.inputs[i]) << here;
      }
    }
    ASSERT_EQ(na.outputs.size(), nb.outputs.size()) << here;
    for (size_t i = 0; i < na.outputs.size(); ++i) {
      EXPECT_EQ(name_or_null(na.outputs[i]), name_or_null(nb.outputs[i])) << here;
      if (nb.outputs[i]) {
        EXPECT_EQ(nb.outputs[i]->producer, &nb) << here;
      }
    }
    ASSERT_EQ(na.attrs.size(), nb.attrs.size()) << here;
    for (const auto& [key, attr] : na.attrs) {
      ASSERT_TRUE(nb.attrs.count(key)) << here << " attribute " << key;
      expect_same_attribute(attr, nb.attrs.at(key), here + " attribute " + key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A plan that uses every feature of the format.

Tensor f32(Dims shape, std::vector<float> v) {
  return Tensor::from_vector<float>(DataType::kFloat32, std::move(shape), v);
}

// Loop-like body: reads "sum" of the enclosing graph by name (its own value of that name,
// which no node produces), has its own constant, and nests one more subgraph.
std::shared_ptr<ir::Graph> make_body(const std::string& name, float scale) {
  auto body = std::make_shared<ir::Graph>();
  body->name = name;
  ir::Value* i = body->add_input("iter", DataType::kInt64, {});
  ir::Value* outer =
      body->add_value("sum", DataType::kFloat32, {ir::Dim::named("batch"), ir::Dim::fixed(4)});
  ir::Value* k = body->add_constant(name + "_scale", f32({1}, {scale}));
  ir::Node* mul = body->add_node("Mul", name + "_mul", {outer, k}, {name + "_out"});
  ir::Value* out = mul->outputs[0];
  auto inner = std::make_shared<ir::Graph>();
  inner->name = name + "_inner";
  ir::Value* c = inner->add_constant("inner_c", Tensor::scalar_int64(7));
  inner->mark_output(c);
  std::shared_ptr<ir::Graph> other(inner->clone());
  body->add_node("If", name + "_if", {i}, {name + "_if_out"},
                 {{"then_branch", inner}, {"else_branch", other}});
  body->mark_output(out);
  return body;
}

PlanContents make_plan() {
  PlanContents plan;
  plan.graph = std::make_unique<ir::Graph>();
  ir::Graph& g = *plan.graph;
  g.name = "main";
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::named("batch"), ir::Dim::fixed(4)});
  ir::Value* ids = g.add_input("ids", DataType::kInt32, {ir::Dim{}, ir::Dim::named("seq")});
  // Constants of several dtypes, including a scalar and an empty tensor.
  ir::Value* w = g.add_constant("w", f32({4}, {1.5f, -2.0f, 3.25f, 0.0f}));
  g.add_constant("w_f16", Tensor::from_vector<uint16_t>(
                              DataType::kFloat16, {3},
                              {float_to_fp16(1.0f), float_to_fp16(-0.5f), float_to_fp16(2.0f)}));
  g.add_constant("w_bf16",
                 Tensor::from_vector<uint16_t>(DataType::kBFloat16, {2},
                                               {float_to_bf16(3.0f), float_to_bf16(-1.0f)}));
  g.add_constant("w_f64", Tensor::from_vector<double>(DataType::kFloat64, {2}, {1e300, -0.0}));
  g.add_constant("w_i8", Tensor::from_vector<int8_t>(DataType::kInt8, {2, 2}, {-128, 127, 0, 5}));
  g.add_constant("w_bool", Tensor::from_vector<uint8_t>(DataType::kBool, {3}, {1, 0, 1}));
  ir::Value* maxv = g.add_constant("max", Tensor::scalar_int64(6));
  g.add_constant("empty", Tensor::zeros(DataType::kFloat64, {0, 5}));

  ir::Node* add = g.add_node("Add", "add0", {x, w}, {"sum"});
  add->outputs[0]->shape = {ir::Dim::named("batch"), ir::Dim::fixed(4)};
  add->outputs[0]->has_shape = true;
  // An omitted optional input (Clip's min) and an omitted optional output (Dropout's mask).
  ir::Node* clip = g.add_node("Clip", "clip0", {add->outputs[0], nullptr, maxv}, {"clipped"});
  ir::Node* drop = g.add_node("Dropout", "drop0", {clip->outputs[0]}, {"dropped", ""});

  ir::Attributes attrs;
  attrs["an_int"] = int64_t{-42};
  attrs["a_float"] = 0.1;
  attrs["nan"] = std::bit_cast<double>(uint64_t{0x7ff8000000000123});
  attrs["neg_zero"] = -0.0;
  attrs["a_string"] = std::string("hello\0world", 11);
  attrs["a_tensor"] = Tensor::from_vector<int32_t>(DataType::kInt32, {2}, {7, -7});
  attrs["no_tensor"] = Tensor();
  attrs["body"] = make_body("body", 2.0f);
  attrs["no_graph"] = std::shared_ptr<ir::Graph>();
  attrs["ints"] = std::vector<int64_t>{1, -2, INT64_MAX, INT64_MIN};
  attrs["no_ints"] = std::vector<int64_t>{};
  attrs["floats"] = std::vector<double>{1.0, -2.5, INFINITY};
  attrs["strings"] = std::vector<std::string>{"a", "", "ccc"};
  attrs["tensors"] =
      std::vector<Tensor>{f32({2}, {9.0f, 8.0f}), Tensor(),
                          Tensor::from_vector<uint64_t>(DataType::kUInt64, {1}, {UINT64_MAX})};
  attrs["graphs"] = std::vector<std::shared_ptr<ir::Graph>>{make_body("g0", 3.0f), nullptr,
                                                            make_body("g1", 4.0f)};
  ir::Node* custom = g.add_node("Loop", "loop0", {drop->outputs[0], ids}, {"loop_out"}, attrs);
  g.mark_output(custom->outputs[0]);
  g.mark_output(drop->outputs[0]);

  ProfileData p0;
  p0.input_names = {"x", "ids"};
  p0.min = {{1, 4}, {1, 1}};
  p0.opt = {{8, 4}, {1, 64}};
  p0.max = {{32, 4}, {2, 512}};
  ProfileData p1 = p0;
  p1.min[0] = {64, 4};
  p1.opt[0] = {64, 4};
  p1.max[0] = {64, 4};
  plan.profiles = {p0, p1};
  plan.memory.arena_bytes = 4096;
  plan.memory.total_activation_bytes = 6144;
  plan.memory.offsets = {{"sum", 0}, {"clipped", 2048}, {"dropped", 0}};
  plan.memory.sizes = {{"sum", 2048}, {"clipped", 2048}, {"dropped", 2048}};
  plan.target = "cuda:sm_90a";
  plan.builder_flags = 0x25;
  plan.tactics = {{"add0", "cpu.reference"}, {"loop0", "cuda.loop.v2"}};
  return plan;
}

void expect_same_plan(const PlanContents& a, const PlanContents& b) {
  ASSERT_NE(b.graph, nullptr);
  expect_same_graph(*a.graph, *b.graph, "graph");
  ASSERT_EQ(a.profiles.size(), b.profiles.size());
  for (size_t i = 0; i < a.profiles.size(); ++i) {
    EXPECT_EQ(a.profiles[i].input_names, b.profiles[i].input_names);
    EXPECT_EQ(a.profiles[i].min, b.profiles[i].min);
    EXPECT_EQ(a.profiles[i].opt, b.profiles[i].opt);
    EXPECT_EQ(a.profiles[i].max, b.profiles[i].max);
  }
  EXPECT_EQ(a.memory.arena_bytes, b.memory.arena_bytes);
  EXPECT_EQ(a.memory.total_activation_bytes, b.memory.total_activation_bytes);
  EXPECT_EQ(a.memory.offsets, b.memory.offsets);
  EXPECT_EQ(a.memory.sizes, b.memory.sizes);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.builder_flags, b.builder_flags);
  EXPECT_EQ(a.tactics, b.tactics);
}

// A small plan for the exhaustive truncation and corruption loops.
PlanContents make_small_plan() {
  PlanContents plan;
  plan.graph = std::make_unique<ir::Graph>();
  ir::Graph& g = *plan.graph;
  g.name = "small";
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::named("n"), ir::Dim::fixed(2)});
  ir::Value* w = g.add_constant("w", f32({2}, {0.5f, 2.0f}));
  ir::Node* mul = g.add_node("Mul", "mul", {x, w}, {"y"}, {{"k", int64_t{3}}});
  g.mark_output(mul->outputs[0]);
  plan.profiles.push_back({{"x"}, {{1, 2}}, {{4, 2}}, {{8, 2}}});
  plan.memory.arena_bytes = 64;
  plan.memory.offsets = {{"y", 0}};
  plan.memory.sizes = {{"y", 64}};
  plan.tactics = {{"mul", "cpu.reference"}};
  return plan;
}

uint32_t read_u32(const std::vector<uint8_t>& bytes, size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}
uint64_t read_u64(const std::vector<uint8_t>& bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}
void fix_checksum(std::vector<uint8_t>& bytes) {
  const uint32_t crc = format::compute_checksum(bytes.data(), bytes.size());
  std::memcpy(bytes.data() + format::kChecksumOffset, &crc, sizeof crc);
}

// Runs `fn`, which must throw kiln::Error with `code`; returns the message.
std::string error_of(const std::function<void()>& fn, ErrorCode code) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kiln::Error (" << to_string(code) << ")";
  return {};
}

std::string load_error(const std::vector<uint8_t>& bytes,
                       ErrorCode code = ErrorCode::kInvalidPlan) {
  return error_of([&] { deserialize_plan(bytes.data(), bytes.size()); }, code);
}

// ---------------------------------------------------------------------------------------------
// Checksum.

TEST(PlanChecksum, Crc32cKnownValues) {
  // The standard CRC-32C check value, and RFC 3720 (iSCSI) B.4 test vectors.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xff), ascending(32);
  for (int i = 0; i < 32; ++i) ascending[size_t(i)] = uint8_t(i);
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(ascending.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(PlanChecksum, FastAndPortableAgreeAndChain) {
  std::vector<uint8_t> data(1000);
  uint32_t state = 12345;
  for (auto& b : data) b = uint8_t((state = state * 1103515245u + 12345u) >> 16);
  for (size_t start : {0, 1, 3, 7}) {
    for (size_t len : {0, 1, 7, 8, 9, 63, 64, 65, 500, 993}) {
      EXPECT_EQ(crc32c(data.data() + start, len), crc32c_portable(data.data() + start, len))
          << start << " " << len;
    }
  }
  const uint32_t whole = crc32c(data.data(), data.size());
  EXPECT_EQ(crc32c(data.data() + 333, 667, crc32c(data.data(), 333)), whole);
  EXPECT_EQ(crc32c_portable(data.data() + 5, 995, crc32c_portable(data.data(), 5)), whole);
}

// ---------------------------------------------------------------------------------------------
// Round trips and layout.

TEST(Plan, RoundTripKeepsEverything) {
  PlanContents plan = make_plan();
  const std::vector<uint8_t> bytes = serialize_plan(plan);
  PlanContents loaded = deserialize_plan(bytes.data(), bytes.size());
  expect_same_plan(plan, loaded);
  EXPECT_EQ(loaded.kiln_version, version_string());
  // Spot checks against the numbers the test put in, independent of the comparison helper.
  const ir::Value* w = loaded.graph->find_value("w");
  ASSERT_TRUE(w && w->constant);
  EXPECT_EQ(w->constant->data<float>()[2], 3.25f);
  EXPECT_EQ(loaded.graph->find_value("x")->shape[0].symbol, "batch");
  EXPECT_EQ(loaded.graph->find_value("ids")->shape[0], ir::Dim{});
  EXPECT_FALSE(loaded.graph->find_value("loop_out")->has_shape);
  const ir::Node& clip = **std::next(loaded.graph->nodes().begin());
  EXPECT_EQ(clip.inputs[1], nullptr);
  const ir::Node& drop = **std::next(loaded.graph->nodes().begin(), 2);
  EXPECT_EQ(drop.outputs[1], nullptr);
  const ir::Node& loop = *loaded.graph->nodes().back();
  EXPECT_EQ(loop.attr_int("an_int"), -42);
  EXPECT_TRUE(std::isnan(loop.attr_float("nan")));
  EXPECT_EQ(loop.attr_string("a_string").size(), 11u);
  const ir::Graph& body = loop.attr_graph("body");
  EXPECT_EQ(body.find_value("body_scale")->constant->data<float>()[0], 2.0f);
  EXPECT_EQ(body.nodes().back()->attr_graph("then_branch").outputs()[0]->constant->as_int64(0), 7);
}

TEST(Plan, EmptyGraphRoundTrips) {
  PlanContents plan;
  plan.graph = std::make_unique<ir::Graph>();
  plan.target = "";
  const std::vector<uint8_t> bytes = serialize_plan(plan);
  EXPECT_EQ(read_u64(bytes, format::kWeightsSizeOffset), 0u);
  PlanContents loaded = deserialize_plan(bytes.data(), bytes.size());
  expect_same_plan(plan, loaded);
}

TEST(Plan, SerializationIsDeterministic) {
  PlanContents plan = make_plan();
  const std::vector<uint8_t> first = serialize_plan(plan);
  EXPECT_EQ(serialize_plan(plan), first);
  // An equal plan built separately (other allocations), a deep copy, and a reloaded plan all
  // give the same bytes.
  EXPECT_EQ(serialize_plan(make_plan()), first);
  PlanContents copy = make_plan();
  copy.graph = plan.graph->clone();
  EXPECT_EQ(serialize_plan(copy), first);
  PlanContents loaded = deserialize_plan(first.data(), first.size());
  EXPECT_EQ(serialize_plan(loaded), first);
}

TEST(Plan, HeaderLayoutAndAlignedWeights) {
  PlanContents plan = make_plan();
  const std::vector<uint8_t> bytes = serialize_plan(plan);
  ASSERT_GE(bytes.size(), kHeaderSize);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "KILNPLAN");
  EXPECT_EQ(read_u32(bytes, 8), format::kFormatVersion);
  EXPECT_EQ(read_u32(bytes, 12), kHeaderSize);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data() + 16)), version_string());
  EXPECT_EQ(read_u32(bytes, 48), 0x25u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data() + 56)), "cuda:sm_90a");
  const uint64_t body = read_u64(bytes, 32);
  const uint64_t weights = read_u64(bytes, 40);
  const uint64_t weights_start = (kHeaderSize + body + 63) / 64 * 64;
  EXPECT_EQ(weights % 64, 0u);
  EXPECT_EQ(bytes.size(), weights_start + weights);
  // Each constant's bytes are in the weights section at a 64-byte aligned file offset.
  for (const char* name : {"w", "w_f16", "w_bf16", "w_f64", "w_i8", "w_bool", "max"}) {
    const Tensor& t = *plan.graph->find_value(name)->constant;
    const auto* p = static_cast<const uint8_t*>(t.raw());
    bool found = false;
    for (size_t at = weights_start; at + t.nbytes() <= bytes.size(); at += 64) {
      if (std::memcmp(bytes.data() + at, p, t.nbytes()) == 0) found = true;
    }
    EXPECT_TRUE(found) << name;
  }
}

TEST(Plan, LoadedTensorsOwnTheirBytes) {
  PlanContents plan = make_small_plan();
  std::vector<uint8_t> bytes = serialize_plan(plan);
  PlanContents loaded = deserialize_plan(bytes.data(), bytes.size());
  std::fill(bytes.begin(), bytes.end(), 0xAB);  // the caller's buffer may go away
  EXPECT_EQ(loaded.graph->find_value("w")->constant->data<float>()[1], 2.0f);
}

TEST(Plan, WriterRejectsWhatTheReaderWouldReject) {
  PlanContents no_graph;
  no_graph.graph = nullptr;
  error_of([&] { serialize_plan(no_graph); }, ErrorCode::kInvalidArgument);

  PlanContents long_target = make_small_plan();
  long_target.target = std::string(80, 'x');
  EXPECT_NE(
      error_of([&] { serialize_plan(long_target); }, ErrorCode::kInvalidArgument).find("target"),
      std::string::npos);

  PlanContents bad_profile = make_small_plan();
  bad_profile.profiles[0].max[0] = {2, 2};  // opt 4 > max 2
  error_of([&] { serialize_plan(bad_profile); }, ErrorCode::kInvalidArgument);

  PlanContents bad_memory = make_small_plan();
  bad_memory.memory.sizes["y"] = 65;  // past the 64-byte arena
  error_of([&] { serialize_plan(bad_memory); }, ErrorCode::kInvalidArgument);

  // A node reading a value of another graph.
  PlanContents foreign = make_small_plan();
  ir::Graph other;
  ir::Value* stranger = other.add_input("stranger", DataType::kFloat32, {});
  foreign.graph->add_node("Neg", "neg", {stranger}, {"z"});
  EXPECT_NE(
      error_of([&] { serialize_plan(foreign); }, ErrorCode::kInvalidArgument).find("another graph"),
      std::string::npos);

  // Nodes out of topological order.
  PlanContents unsorted = make_small_plan();
  ir::Value* y = unsorted.graph->find_value("y");
  auto& nodes = unsorted.graph->nodes();
  unsorted.graph->insert_node(nodes.begin(), "Neg", "early", {y}, {"z"});
  EXPECT_NE(error_of([&] { serialize_plan(unsorted); }, ErrorCode::kInvalidArgument)
                .find("not topological"),
            std::string::npos);
}

TEST(Plan, WriterRejectsTooDeepSubgraphs) {
  PlanContents plan = make_small_plan();
  std::shared_ptr<ir::Graph> g = std::make_shared<ir::Graph>();
  for (int depth = 0; depth < format::kMaxSubgraphDepth + 5; ++depth) {
    auto outer = std::make_shared<ir::Graph>();
    outer->add_node("If", "if", {}, {}, {{"then_branch", g}});
    g = outer;
  }
  plan.graph->add_node("If", "deep", {}, {}, {{"then_branch", g}});
  EXPECT_NE(
      error_of([&] { serialize_plan(plan); }, ErrorCode::kInvalidArgument).find("deeper than"),
      std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Versions and header checks.

TEST(Plan, VersionMismatchNamesBothVersions) {
  PlanContents plan = make_small_plan();
  const std::vector<uint8_t> old = format::serialize_plan_as(plan, "0.0.9", format::kFormatVersion);
  EXPECT_EQ(load_error(old, ErrorCode::kVersionMismatch),
            cat("plan was built by kiln 0.0.9 (format ", format::kFormatVersion, "); this is kiln ",
                version_string(), " (format ", format::kFormatVersion, "): rebuild the engine"));
  const std::vector<uint8_t> other_format =
      format::serialize_plan_as(plan, version_string(), format::kFormatVersion + 1);
  EXPECT_NE(load_error(other_format, ErrorCode::kVersionMismatch)
                .find(cat("(format ", format::kFormatVersion + 1, ")")),
            std::string::npos);
  // The version check comes before the size checks: a truncated old plan still says so.
  std::vector<uint8_t> old_prefix(old.begin(), old.begin() + 40);
  load_error(old_prefix, ErrorCode::kVersionMismatch);
  // Patching the version in the bytes of a current plan (checksum recomputed) is the same.
  std::vector<uint8_t> patched = serialize_plan(plan);
  std::memset(patched.data() + format::kKilnVersionOffset, 0, format::kKilnVersionField);
  std::memcpy(patched.data() + format::kKilnVersionOffset, "9.9.9", 5);
  fix_checksum(patched);
  EXPECT_NE(load_error(patched, ErrorCode::kVersionMismatch).find("kiln 9.9.9 (format"),
            std::string::npos);
}

TEST(Plan, BadMagicAndEmptyInput) {
  std::vector<uint8_t> bytes = serialize_plan(make_small_plan());
  bytes[3] = 'X';
  EXPECT_EQ(load_error(bytes), "not a kiln plan (bad magic)");
  const std::string text = "hello, this is not a plan at all";
  EXPECT_EQ(load_error(std::vector<uint8_t>(text.begin(), text.end())),
            "not a kiln plan (bad magic)");
  EXPECT_EQ(load_error({}), "plan is truncated: header needs 128 bytes, file has 0");
  EXPECT_EQ(error_of([] { deserialize_plan(nullptr, 0); }, ErrorCode::kInvalidPlan),
            "plan is truncated: header needs 128 bytes, file has 0");
}

TEST(Plan, TrailingBytesAreRejected) {
  std::vector<uint8_t> bytes = serialize_plan(make_small_plan());
  bytes.push_back(0);
  fix_checksum(bytes);
  EXPECT_NE(load_error(bytes).find("1 unexpected bytes after the weights"), std::string::npos);
}

TEST(Plan, TruncationAtEveryLengthThrows) {
  const std::vector<uint8_t> bytes = serialize_plan(make_small_plan());
  for (size_t length = 0; length < bytes.size(); ++length) {
    // An exact-size copy, so that a read past the end would touch memory we do not own.
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + long(length));
    const std::string message = load_error(prefix);
    EXPECT_NE(message.find("plan is truncated"), std::string::npos)
        << "length " << length << ": " << message;
  }
  EXPECT_EQ(load_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 12)),
            "plan is truncated: header needs 128 bytes, file has 12");
}

// The checksum covers every byte of the file except its own field, and CRC-32C detects every
// single-byte error, so a corrupted byte anywhere (header, body, padding or weights) is an
// error: nothing corrupted ever loads.
TEST(Plan, SingleByteCorruptionAnywhereThrows) {
  const std::vector<uint8_t> bytes = serialize_plan(make_small_plan());
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> corrupt = bytes;
      corrupt[at] ^= flip;
      // The version text and its terminating NUL (later padding bytes are not compared, so
      // corrupting them is caught by the checksum instead).
      const size_t version_end = format::kKilnVersionOffset + std::strlen(version_string()) + 1;
      const bool version_field = (at >= format::kFormatVersionOffset && at < 12) ||
                                 (at >= format::kKilnVersionOffset && at < version_end);
      const std::string message = load_error(
          corrupt, version_field ? ErrorCode::kVersionMismatch : ErrorCode::kInvalidPlan);
      if (at < 8) {
        EXPECT_EQ(message, "not a kiln plan (bad magic)");
      } else if (at >= format::kBuilderFlagsOffset) {
        EXPECT_EQ(message, "plan checksum mismatch: the file is corrupted") << "byte " << at;
      }
    }
  }
}

// A file whose checksum is right but whose body is hostile: every byte of the body replaced in
// turn by a few values, checksum recomputed. The loader must reject it with kiln::Error or
// load something the writer accepts again; anything else (a crash, another exception type, a
// huge allocation) fails.
TEST(Plan, HostileBodiesWithValidChecksumNeverCrash) {
  const std::vector<uint8_t> bytes = serialize_plan(make_small_plan());
  const size_t body_end = kHeaderSize + read_u64(bytes, format::kBodySizeOffset);
  size_t rejected = 0, loaded = 0;
  for (size_t at = kHeaderSize; at < body_end; ++at) {
    for (uint8_t value : {uint8_t{0x00}, uint8_t{0x7f}, uint8_t{0xff}}) {
      if (bytes[at] == value) continue;
      std::vector<uint8_t> hostile = bytes;
      hostile[at] = value;
      fix_checksum(hostile);
      try {
        PlanContents plan = deserialize_plan(hostile.data(), hostile.size());
        EXPECT_NO_THROW(serialize_plan(plan)) << "byte " << at;
        ++loaded;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan) << e.what();
        EXPECT_NE(std::string(e.what()).find("plan is invalid at "), std::string::npos) << e.what();
        ++rejected;
      }
    }
  }
  // Both outcomes occur (e.g. a changed name byte loads; a changed count does not).
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(loaded, 0u);
}

// ---------------------------------------------------------------------------------------------
// Hand-crafted bodies: each structural rule of the reader, with the message it gives.

struct ValueSpec {
  ValueSpec(std::string name, uint8_t dtype = 0, uint8_t flags = format::kValueHasShape,
            std::vector<int64_t> dims = {}, std::vector<int64_t> tensor_dims = {},
            uint64_t offset = 0, uint64_t size = 0)
      : name(std::move(name)),
        dtype(dtype),
        flags(flags),
        dims(std::move(dims)),
        tensor_dims(std::move(tensor_dims)),
        offset(offset),
        size(size) {}
  std::string name;
  uint8_t dtype;
  uint8_t flags;
  std::vector<int64_t> dims;
  // For constants (flags has kValueIsConstant): the tensor reference's dims, offset and size.
  std::vector<int64_t> tensor_dims;
  uint64_t offset, size;
};

void write_value(ByteWriter& w, const ValueSpec& v) {
  w.str(v.name);
  w.u8(v.dtype);
  w.u8(v.flags);
  w.u32(uint32_t(v.dims.size()));
  for (int64_t d : v.dims) {
    w.i64(d);
    w.str("");
  }
  if (v.flags & format::kValueIsConstant) {
    w.u8(1);
    w.u8(v.dtype);
    w.u32(uint32_t(v.tensor_dims.size()));
    for (int64_t d : v.tensor_dims) w.i64(d);
    w.u64(v.offset);
    w.u64(v.size);
  }
}

// A whole plan around a hand-written graph section; `weights` bytes (a multiple of 64).
std::vector<uint8_t> craft(const std::function<void(ByteWriter&)>& graph,
                           const std::vector<uint8_t>& weights = {},
                           const std::function<void(ByteWriter&)>& memory = nullptr) {
  ByteWriter body;
  auto section = [&](format::SectionId id, const std::function<void(ByteWriter&)>& payload) {
    ByteWriter s;
    payload(s);
    body.u32(uint32_t(id));
    body.u64(s.size());
    body.raw(s.bytes().data(), s.size());
  };
  section(format::SectionId::kGraph, graph);
  section(format::SectionId::kProfiles, [](ByteWriter& s) { s.u32(0); });
  section(
      format::SectionId::kMemory, memory ? memory : [](ByteWriter& s) {
        s.u64(0);
        s.u64(0);
        s.u32(0);
      });
  section(format::SectionId::kTactics, [](ByteWriter& s) { s.u32(0); });
  section(format::SectionId::kTacticParams, [](ByteWriter& s) { s.u32(0); });
  format::HeaderFields header;
  header.kiln_version = version_string();
  header.target = "cpu";
  std::vector<format::WeightBlob> blobs;
  if (!weights.empty()) blobs.push_back({weights.data(), weights.size(), 0});
  return format::assemble_plan(body.bytes(), blobs, weights.size(), header);
}

// graph: name, input count, values, outputs, nodes (given as raw writers).
void write_graph(ByteWriter& w, uint32_t inputs, const std::vector<ValueSpec>& values,
                 const std::vector<uint32_t>& outputs,
                 const std::function<void(ByteWriter&)>& nodes) {
  w.str("g");
  w.u32(inputs);
  w.u32(uint32_t(values.size()));
  for (const ValueSpec& v : values) write_value(w, v);
  w.u32(uint32_t(outputs.size()));
  for (uint32_t o : outputs) w.u32(o);
  nodes(w);
}

void write_node(ByteWriter& w, const std::string& op, const std::vector<uint32_t>& inputs,
                const std::vector<uint32_t>& outputs) {
  w.str(op);
  w.str(op + "_node");
  w.u32(uint32_t(inputs.size()));
  for (uint32_t i : inputs) w.u32(i);
  w.u32(uint32_t(outputs.size()));
  for (uint32_t o : outputs) w.u32(o);
  w.u32(0);  // attributes
}

std::function<void(ByteWriter&)> one_node(const std::string& op, std::vector<uint32_t> inputs,
                                          std::vector<uint32_t> outputs) {
  return [=](ByteWriter& w) {
    w.u32(1);
    write_node(w, op, inputs, outputs);
  };
}

TEST(PlanHostile, CraftedValidPlanLoads) {
  // The crafting helpers themselves produce a plan the reader accepts.
  std::vector<uint8_t> weights(64, 0);
  const float values[2] = {1.0f, -1.0f};
  std::memcpy(weights.data(), values, sizeof values);
  const auto bytes = craft(
      [&](ByteWriter& w) {
        write_graph(w, 1, {{"x", 0, 1, {2}}, {"c", 0, 3, {2}, {2}, 0, 8}, {"y", 0, 0, {}}}, {2},
                    one_node("Add", {0, 1}, {2}));
      },
      weights);
  PlanContents plan = deserialize_plan(bytes.data(), bytes.size());
  EXPECT_EQ(plan.graph->find_value("c")->constant->data<float>()[1], -1.0f);
  EXPECT_EQ(plan.graph->find_value("y")->producer, plan.graph->nodes().front().get());
}

TEST(PlanHostile, ValueIndexOutOfRange) {
  const auto bytes = craft([](ByteWriter& w) {
    write_graph(w, 1, {{"x"}, {"y"}}, {1}, one_node("Neg", {5}, {1}));
  });
  const std::string message = load_error(bytes);
  EXPECT_NE(message.find("graph 'g' > node 0 > Neg 'Neg_node' > input 0"), std::string::npos)
      << message;
  EXPECT_NE(message.find("value index 5 is out of range (the graph has 2 values)"),
            std::string::npos)
      << message;
}

TEST(PlanHostile, WeightsBeyondTheSection) {
  const auto bytes = craft(
      [](ByteWriter& w) {
        write_graph(w, 0, {{"c", 0, 3, {4}, {4}, 64, 16}}, {0}, [](ByteWriter& n) { n.u32(0); });
      },
      std::vector<uint8_t>(64, 0));
  const std::string message = load_error(bytes);
  EXPECT_NE(message.find("value 0 > 'c'"), std::string::npos) << message;
  EXPECT_NE(message.find("tensor refers to weights [64, 64 + 16) beyond the weights section (64 "
                         "bytes)"),
            std::string::npos)
      << message;
}

TEST(PlanHostile, TensorSizeMustMatchShapeAndAlignment) {
  auto with = [](ValueSpec spec) {
    auto graph = [=](ByteWriter& w) {
      write_graph(w, 0, {spec}, {0}, [](ByteWriter& n) { n.u32(0); });
    };
    return craft(graph, std::vector<uint8_t>(128, 0));
  };
  EXPECT_NE(load_error(with({"c", 0, 3, {4}, {4}, 0, 12})).find("needs 16 bytes"),
            std::string::npos);
  EXPECT_NE(load_error(with({"c", 0, 3, {1}, {1}, 4, 4})).find("not a multiple of 64"),
            std::string::npos);
  // Extents whose product overflows, and a huge tensor that cannot be in 128 bytes.
  EXPECT_NE(load_error(with({"c", 0, 3, {}, {INT64_MAX / 2, 4, 0}, 0, 0})).find("too many"),
            std::string::npos);
  EXPECT_NE(load_error(with({"c", 0, 3, {}, {1 << 20}, 0, 4 << 20})).find("larger than"),
            std::string::npos);
  EXPECT_NE(load_error(with({"c", 0, 3, {}, {-3}, 0, 0})).find("negative"), std::string::npos);
}

TEST(PlanHostile, UnknownDataTypeAndFlags) {
  auto with = [](ValueSpec spec) {
    return craft(
        [=](ByteWriter& w) { write_graph(w, 0, {spec}, {}, [](ByteWriter& n) { n.u32(0); }); });
  };
  EXPECT_NE(load_error(with({"v", 200})).find("unknown data type 200"), std::string::npos);
  EXPECT_NE(load_error(with({"v", 0, 0x10})).find("unknown value flags 16"), std::string::npos);
  EXPECT_NE(load_error(with({"v", 0, 1, {-2}})).find("dim 0 is -2"), std::string::npos);
}

TEST(PlanHostile, UnknownAttributeKind) {
  const auto bytes = craft([](ByteWriter& w) {
    write_graph(w, 0, {}, {}, [](ByteWriter& n) {
      n.u32(1);
      n.str("Op");
      n.str("node");
      n.u32(0);
      n.u32(0);
      n.u32(1);
      n.str("weird");
      n.u8(42);
    });
  });
  const std::string message = load_error(bytes);
  EXPECT_NE(message.find("attribute 'weird'"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown attribute kind 42"), std::string::npos) << message;
}

TEST(PlanHostile, DuplicateAttributeAndValueNames) {
  const auto dup_attr = craft([](ByteWriter& w) {
    write_graph(w, 0, {}, {}, [](ByteWriter& n) {
      n.u32(1);
      n.str("Op");
      n.str("node");
      n.u32(0);
      n.u32(0);
      n.u32(2);
      for (int i = 0; i < 2; ++i) {
        n.str("k");
        n.u8(0);
        n.i64(i);
      }
    });
  });
  EXPECT_NE(load_error(dup_attr).find("appears twice"), std::string::npos);
  const auto dup_value = craft([](ByteWriter& w) {
    write_graph(w, 0, {{"v"}, {"v"}}, {}, [](ByteWriter& n) { n.u32(0); });
  });
  EXPECT_NE(load_error(dup_value).find("two values have this name"), std::string::npos);
}

TEST(PlanHostile, HugeCountsFailBeforeAllocating) {
  const auto values = craft([](ByteWriter& w) {
    w.str("g");
    w.u32(0);
    w.u32(0xFFFFFFFFu);  // values
  });
  EXPECT_NE(load_error(values).find("4294967295 values cannot fit"), std::string::npos);
  const auto name = craft([](ByteWriter& w) { w.u32(0x7FFFFFFFu); });  // graph name length
  EXPECT_NE(load_error(name).find("graph name of 2147483647 bytes runs past the end"),
            std::string::npos);
  const auto inputs =
      craft([](ByteWriter& w) { write_graph(w, 3, {{"x"}}, {}, [](ByteWriter& n) { n.u32(0); }); });
  EXPECT_NE(load_error(inputs).find("3 graph inputs but only 1 values"), std::string::npos);
}

TEST(PlanHostile, NodeStructureRules) {
  // Produced twice; a graph input as a node output; a use before the producing node.
  const auto twice = craft([](ByteWriter& w) {
    write_graph(w, 1, {{"x"}, {"y"}}, {1}, [](ByteWriter& n) {
      n.u32(2);
      write_node(n, "Neg", {0}, {1});
      write_node(n, "Abs", {0}, {1});
    });
  });
  EXPECT_NE(load_error(twice).find("value 1 is produced twice"), std::string::npos);
  const auto input_out =
      craft([](ByteWriter& w) { write_graph(w, 1, {{"x"}}, {}, one_node("Neg", {}, {0})); });
  EXPECT_NE(load_error(input_out).find("a graph input cannot be a node output"), std::string::npos);
  const auto unsorted = craft([](ByteWriter& w) {
    write_graph(w, 1, {{"x"}, {"y"}, {"z"}}, {2}, [](ByteWriter& n) {
      n.u32(2);
      write_node(n, "Neg", {1}, {2});
      write_node(n, "Abs", {0}, {1});
    });
  });
  EXPECT_NE(load_error(unsorted).find("used before the node that produces it"), std::string::npos);
  // The sentinel is fine for node inputs but not for graph outputs.
  const auto sentinel_output = craft([](ByteWriter& w) {
    write_graph(w, 0, {{"x"}}, {format::kNoValue}, [](ByteWriter& n) { n.u32(0); });
  });
  EXPECT_NE(load_error(sentinel_output).find("output 0"), std::string::npos);
}

TEST(PlanHostile, SubgraphNestingIsBounded) {
  // Each level: a graph with one node whose "body" attribute, its last field, holds the next
  // level; so `levels` nested graphs are that prefix repeated, then an empty graph.
  auto nested = [](ByteWriter& w, int levels) {
    for (int level = 0; level < levels; ++level) {
      w.str("level");
      w.u32(0);  // inputs
      w.u32(0);  // values
      w.u32(0);  // outputs
      w.u32(1);  // nodes
      w.str("If");
      w.str("if");
      w.u32(0);
      w.u32(0);
      w.u32(1);  // attributes
      w.str("body");
      w.u8(uint8_t(format::AttributeKind::kGraph));
      w.u8(1);  // present
    }
    w.str("leaf");
    for (int i = 0; i < 4; ++i) w.u32(0);
  };
  const auto ok = craft([&](ByteWriter& w) { nested(w, format::kMaxSubgraphDepth); });
  EXPECT_NO_THROW(deserialize_plan(ok.data(), ok.size()));
  const auto deep = craft([&](ByteWriter& w) { nested(w, format::kMaxSubgraphDepth + 1); });
  EXPECT_NE(load_error(deep).find("nest deeper than 32"), std::string::npos);
  // Far deeper than the stack could take if the depth were not checked.
  const auto very_deep = craft([&](ByteWriter& w) { nested(w, 100000); });
  load_error(very_deep);
}

TEST(PlanHostile, SectionFramingAndMemoryPlan) {
  // A graph section with bytes left over after the graph.
  const auto extra = craft([](ByteWriter& w) {
    write_graph(w, 0, {}, {}, [](ByteWriter& n) { n.u32(0); });
    w.u8(0);
  });
  EXPECT_NE(load_error(extra).find("graph section (near byte"), std::string::npos);
  EXPECT_NE(load_error(extra).find("1 unexpected bytes after the section"), std::string::npos);
  // Memory plan entry outside the arena.
  auto empty_graph = [](ByteWriter& w) {
    write_graph(w, 0, {}, {}, [](ByteWriter& n) { n.u32(0); });
  };
  auto bad_memory = [](ByteWriter& m) {
    m.u64(100);  // arena bytes
    m.u64(100);  // total activation bytes
    m.u32(1);
    m.str("v");
    m.u64(64);  // offset
    m.u64(64);  // size: 64 + 64 > 100
  };
  const auto memory = craft(empty_graph, {}, bad_memory);
  EXPECT_NE(load_error(memory).find("memory plan entry 'v'"), std::string::npos);
  EXPECT_NE(load_error(memory).find("does not fit in the arena of 100 bytes"), std::string::npos);
  // Sections out of order: swap the first section id.
  std::vector<uint8_t> swapped = craft(empty_graph);
  swapped[kHeaderSize] = uint8_t(format::SectionId::kTactics);
  fix_checksum(swapped);
  EXPECT_NE(load_error(swapped).find("expected section 1 but found 4"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Files.

class PlanFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "kiln_plan_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    for (const std::string& name : entries()) std::remove((dir_ + "/" + name).c_str());
    rmdir((dir_ + "/sub").c_str());
    rmdir(dir_.c_str());
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    if (DIR* d = opendir(dir_.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static bool exists(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0;
  }
  std::string dir_;
};

TEST_F(PlanFile, WriteThenReadRoundTripsWithAlignedWeights) {
  PlanContents plan = make_plan();
  const std::string path = dir_ + "/model.plan";
  write_plan_file(path, plan);
  EXPECT_EQ(entries(), std::vector<std::string>{"model.plan"});  // no temporary left behind
  PlanContents loaded = read_plan_file(path);
  expect_same_plan(plan, loaded);
  // Tensors point into the 64-byte aligned file buffer.
  for (const auto& v : loaded.graph->values()) {
    if (v->constant && v->constant->nbytes()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(v->constant->raw()) % 64, 0u) << v->name;
    }
  }
  // Overwriting replaces the plan.
  PlanContents small = make_small_plan();
  write_plan_file(path, small);
  expect_same_plan(small, read_plan_file(path));
  EXPECT_EQ(entries(), std::vector<std::string>{"model.plan"});
}

TEST_F(PlanFile, WriteIntoMissingDirectoryLeavesNothing) {
  const std::string path = dir_ + "/no_such_dir/model.plan";
  const std::string message =
      error_of([&] { write_plan_file(path, make_small_plan()); }, ErrorCode::kIO);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_FALSE(exists(path));
  EXPECT_TRUE(entries().empty());
}

TEST_F(PlanFile, FailedRenameRemovesTheTemporary) {
  // The path is a directory with content, so the final rename fails after the data is written.
  const std::string path = dir_ + "/sub";
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((path + "/x").c_str(), 0755), 0);
  const std::string message =
      error_of([&] { write_plan_file(path, make_small_plan()); }, ErrorCode::kIO);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(entries(), std::vector<std::string>{"sub"});
  rmdir((path + "/x").c_str());
}

TEST_F(PlanFile, UnserializablePlanWritesNothing) {
  PlanContents plan = make_small_plan();
  plan.target = std::string(100, 't');
  error_of([&] { write_plan_file(dir_ + "/model.plan", plan); }, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(entries().empty());
}

TEST_F(PlanFile, ReadErrorsNameThePath) {
  const std::string missing = dir_ + "/missing.plan";
  EXPECT_NE(error_of([&] { read_plan_file(missing); }, ErrorCode::kIO).find(missing),
            std::string::npos);
  // A corrupt file: the kInvalidPlan message names the file too.
  const std::string path = dir_ + "/bad.plan";
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("KILNPLAN but short", f);
  std::fclose(f);
  const std::string message = error_of([&] { read_plan_file(path); }, ErrorCode::kInvalidPlan);
  EXPECT_NE(message.find("plan is truncated"), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

}  // namespace
}  // namespace kiln::plan

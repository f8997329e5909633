// TimingCache (include/kiln/timing_cache.h): serialization round trip, corrupt and foreign
// bytes, combine, BuilderConfig's create/set/get; and the plan's per-node tactic parameters
// (plan_format.md, section 5) through a serialization round trip. No GPU needed.
#include "kiln/timing_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/error.h"
#include "kiln/version.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

namespace kiln {
namespace {

TimingCache::Entry entry(const std::string& kernel, std::vector<uint8_t> params, double ms) {
  return TimingCache::Entry{kernel, std::move(params), ms};
}

TimingCache sample_cache() {
  TimingCache cache;
  cache.insert("H100 sm_90|Conv|in:float32[1x64x56x56]",
               entry("cudnn_conv", {1, 2, 0, 255}, 0.125));
  cache.insert("H100 sm_90|MatMul|in:float32[8x512]", entry("cublaslt_matmul", {}, 0.0078125));
  // Any bytes in keys and parameters, NUL included.
  cache.insert(std::string("key\0with nul", 12), entry("k", std::vector<uint8_t>(300, 0), -0.0));
  return cache;
}

Error error_of(const std::vector<uint8_t>& bytes) {
  try {
    TimingCache::deserialize(bytes.data(), bytes.size());
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected the timing cache to be rejected";
  return Error(ErrorCode::kInternal, "");
}

// A cache's bytes as the format describes them (timing_cache.cpp), with any header fields.
std::vector<uint8_t> crafted(uint32_t format, const std::string& kiln_version,
                             bool fix_crc = true) {
  plan::ByteWriter w;
  w.raw("KILNTCCH", 8);
  w.u32(format);
  w.str(kiln_version);
  w.u32(1);
  w.str("key");
  w.str("kernel");
  w.str("");
  w.f64(1.5);
  w.u32(fix_crc ? plan::crc32c(w.bytes().data(), w.size()) : 0);
  return w.take();
}

TEST(TimingCache, RoundTripKeepsEveryEntryExactly) {
  const TimingCache cache = sample_cache();
  const std::vector<uint8_t> bytes = cache.serialize();
  std::shared_ptr<TimingCache> back = TimingCache::deserialize(bytes.data(), bytes.size());
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ(back->keys(), cache.keys());
  for (const std::string& key : cache.keys()) {
    const auto want = cache.lookup(key);
    const auto got = back->lookup(key);
    ASSERT_TRUE(got.has_value()) << key;
    EXPECT_EQ(got->kernel, want->kernel);
    EXPECT_EQ(got->params, want->params);
    EXPECT_EQ(std::memcmp(&got->milliseconds, &want->milliseconds, sizeof(double)), 0);  // -0.0 too
  }
  EXPECT_EQ(back->serialize(), bytes);  // deterministic
  EXPECT_FALSE(back->lookup("missing").has_value());
}

TEST(TimingCache, HandWrittenBytesParse) {
  const std::vector<uint8_t> bytes = crafted(1, version_string());
  auto cache = TimingCache::deserialize(bytes.data(), bytes.size());
  ASSERT_EQ(cache->size(), 1u);
  EXPECT_EQ(cache->lookup("key")->kernel, "kernel");
  EXPECT_EQ(cache->lookup("key")->milliseconds, 1.5);
  EXPECT_EQ(cache->serialize(), bytes);
}

TEST(TimingCache, CorruptBytesAreRejectedClearly) {
  const std::vector<uint8_t> bytes = sample_cache().serialize();
  // Not a cache at all.
  const std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', ' ', 'c', 'a', 'c', 'h', 'e'};
  Error e = error_of(garbage);
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("not a kiln timing cache"), std::string::npos) << e.what();
  // Every single flipped byte after the version fields: the checksum catches it.
  const size_t first = 8 + 4 + 4 + std::strlen(version_string());
  for (size_t i = first; i < bytes.size(); ++i) {
    std::vector<uint8_t> bad = bytes;
    bad[i] ^= 0x5a;
    e = error_of(bad);
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << "byte " << i;
    EXPECT_NE(std::string(e.what()).find("timing cache is invalid"), std::string::npos) << e.what();
  }
  // Every truncation.
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(n));
    e = error_of(cut);
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << "length " << n << ": " << e.what();
  }
  // A count larger than the bytes can hold, with a valid checksum.
  std::vector<uint8_t> huge = crafted(1, version_string());
  std::memset(huge.data() + first, 0xff, 4);
  const uint32_t crc = plan::crc32c(huge.data(), huge.size() - 4);
  std::memcpy(huge.data() + huge.size() - 4, &crc, 4);
  e = error_of(huge);
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(e.what()).find("cannot fit"), std::string::npos) << e.what();
}

TEST(TimingCache, OtherVersionsAreNamed) {
  Error e = error_of(crafted(1, "0.0.9"));
  EXPECT_EQ(e.code(), ErrorCode::kVersionMismatch);
  EXPECT_NE(std::string(e.what()).find("written by kiln 0.0.9 (cache format 1)"), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find(std::string("this is kiln ") + version_string()),
            std::string::npos)
      << e.what();
  // Version checks come before the checksum, so an old cache is named as such.
  e = error_of(crafted(7, version_string(), /*fix_crc=*/false));
  EXPECT_EQ(e.code(), ErrorCode::kVersionMismatch);
  EXPECT_NE(std::string(e.what()).find("(cache format 7)"), std::string::npos) << e.what();
}

TEST(TimingCache, CombineAddsOnlyMissingKeys) {
  TimingCache a;
  a.insert("shared", entry("mine", {1}, 1.0));
  a.insert("only a", entry("ka", {}, 2.0));
  TimingCache b;
  b.insert("shared", entry("theirs", {2}, 0.5));
  b.insert("only b", entry("kb", {3, 4}, 3.0));
  EXPECT_EQ(a.combine(b), 1u);
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(a.lookup("shared")->kernel, "mine");  // this cache's entry wins
  EXPECT_EQ(a.lookup("only b")->params, (std::vector<uint8_t>{3, 4}));
  EXPECT_EQ(b.size(), 2u);  // the other is unchanged
  EXPECT_EQ(a.combine(b), 0u);
  EXPECT_EQ(a.combine(a), 0u);
  a.reset();
  EXPECT_EQ(a.size(), 0u);
}

TEST(TimingCache, BuilderConfigCreatesAttachesAndReturnsIt) {
  BuilderConfig config;
  EXPECT_EQ(config.get_timing_cache(), nullptr);
  std::shared_ptr<TimingCache> empty = config.create_timing_cache();
  EXPECT_EQ(empty->size(), 0u);
  const std::vector<uint8_t> bytes = sample_cache().serialize();
  std::shared_ptr<TimingCache> loaded = config.create_timing_cache(bytes.data(), bytes.size());
  EXPECT_EQ(loaded->size(), 3u);
  config.set_timing_cache(loaded);
  EXPECT_EQ(config.get_timing_cache(), loaded);
  const std::vector<uint8_t> bad = {1, 2, 3};
  EXPECT_THROW(config.create_timing_cache(bad.data(), bad.size()), Error);
  EXPECT_EQ(config.builder_optimization_level(), 3);
  config.set_builder_optimization_level(0);
  EXPECT_EQ(config.builder_optimization_level(), 0);
  EXPECT_THROW(config.set_builder_optimization_level(6), Error);
}

// ---------------------------------------------------------------------------------------------
// Tactic parameters in the plan

plan::PlanContents two_node_plan() {
  plan::PlanContents plan;
  plan.graph = std::make_unique<ir::Graph>();
  ir::Graph& g = *plan.graph;
  g.name = "tuned";
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::fixed(2), ir::Dim::fixed(2)});
  ir::Node* mm = g.add_node("MatMul", "mm", {x, x}, {"y"}, {});
  ir::Node* relu = g.add_node("Relu", "relu", {mm->outputs[0]}, {"z"}, {});
  g.mark_output(relu->outputs[0]);
  plan.profiles.push_back({{"x"}, {{2, 2}}, {{2, 2}}, {{2, 2}}});
  plan.memory.arena_bytes = 64;
  plan.memory.offsets = {{"y", 0}};
  plan.memory.sizes = {{"y", 64}};
  plan.target = "cuda:sm_90";
  plan.tactics = {{"mm", "cublaslt_matmul"}, {"relu", "cuda_unary"}};
  return plan;
}

TEST(PlanTacticParams, RoundTripPerNode) {
  plan::PlanContents plan = two_node_plan();
  std::vector<uint8_t> blob(168);
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = uint8_t(i * 7 + 1);
  blob[5] = 0;  // NUL bytes are data
  plan.tactic_params["mm"] = blob;
  plan.tactic_params["relu"] = {};  // empty: left out of the file
  const std::vector<uint8_t> bytes = plan::serialize_plan(plan);
  plan::PlanContents back = plan::deserialize_plan(bytes.data(), bytes.size());
  ASSERT_EQ(back.tactic_params.size(), 1u);
  EXPECT_EQ(back.tactic_params.at("mm"), blob);
  EXPECT_EQ(back.tactics, plan.tactics);
  EXPECT_EQ(plan::serialize_plan(back), bytes);  // reading and writing again: the same bytes
  EXPECT_EQ(plan::format::kFormatVersion, 2u);

  // A plan without parameters still has the (empty) section.
  plan::PlanContents bare = two_node_plan();
  const std::vector<uint8_t> bare_bytes = plan::serialize_plan(bare);
  EXPECT_TRUE(plan::deserialize_plan(bare_bytes.data(), bare_bytes.size()).tactic_params.empty());
  // The section adds its entry (node name and byte string, each with a length) once; the
  // file's end is padded to the weights alignment, so compare within that.
  const size_t added = bytes.size() - bare_bytes.size();
  const size_t entry = 4 + 2 + 4 + blob.size();
  EXPECT_LT(added, entry + plan::format::kWeightsAlignment);
  EXPECT_GT(added + plan::format::kWeightsAlignment, entry);
}

TEST(PlanTacticParams, ParametersForAnUnknownNodeAreRefused) {
  plan::PlanContents plan = two_node_plan();
  plan.tactic_params["ghost"] = {1, 2, 3};
  try {
    plan::serialize_plan(plan);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'ghost', which has no tactic"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kiln

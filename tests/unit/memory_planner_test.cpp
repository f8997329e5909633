#include "builder/memory_planner.h"

#include <gtest/gtest.h>

namespace kiln::builder {
namespace {

bool overlaps(const plan::MemoryPlanData& p, const std::string& a, const std::string& b) {
  uint64_t a0 = p.offsets.at(a), a1 = a0 + p.sizes.at(a);
  uint64_t b0 = p.offsets.at(b), b1 = b0 + p.sizes.at(b);
  return a0 < b1 && b0 < a1;
}

TEST(MemoryPlanner, ReusesMemoryOfDeadValues) {
  // A chain a -> b -> c -> d: a and c never live together, nor b and d.
  std::vector<BufferRequest> chain{
      {"a", 1000, 0, 1}, {"b", 1000, 1, 2}, {"c", 1000, 2, 3}, {"d", 1000, 3, 4}};
  plan::MemoryPlanData p = plan_memory(chain);
  EXPECT_EQ(p.total_activation_bytes, 4000u);
  EXPECT_EQ(p.arena_bytes, 2 * 1024u);  // two 256-aligned blocks of 1024
  EXPECT_FALSE(overlaps(p, "a", "b"));
  EXPECT_FALSE(overlaps(p, "b", "c"));
  EXPECT_FALSE(overlaps(p, "c", "d"));
}

TEST(MemoryPlanner, LiveValuesNeverOverlap) {
  // Random intervals: every pair alive at the same time must get disjoint bytes.
  std::vector<BufferRequest> reqs;
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
  for (int i = 0; i < 200; ++i) {
    int64_t first = next() % 100;
    reqs.push_back(
        {"v" + std::to_string(i), 1 + next() % 5000, first, first + int64_t(next() % 20)});
  }
  plan::MemoryPlanData p = plan_memory(reqs);
  uint64_t peak_live = 0;
  for (int64_t t = 0; t < 120; ++t) {
    uint64_t live = 0;
    for (const auto& r : reqs) {
      if (r.first_use <= t && t <= r.last_use) live += p.sizes.at(r.name);
    }
    peak_live = std::max(peak_live, live);
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(p.offsets.at(reqs[i].name) % kArenaAlignment, 0u);
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      bool live_together =
          reqs[i].first_use <= reqs[j].last_use && reqs[j].first_use <= reqs[i].last_use;
      if (live_together) EXPECT_FALSE(overlaps(p, reqs[i].name, reqs[j].name)) << i << " " << j;
    }
  }
  EXPECT_GE(p.arena_bytes, peak_live);                 // can't beat the peak
  EXPECT_LT(p.arena_bytes, p.total_activation_bytes);  // but reuses a lot
}

}  // namespace
}  // namespace kiln::builder

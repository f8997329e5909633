#include "builder/memory_planner.h"

#include <algorithm>

namespace kiln::builder {

namespace {
uint64_t align_up(uint64_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}
}  // namespace

plan::MemoryPlanData plan_memory(const std::vector<BufferRequest>& requests) {
  struct Placed {
    uint64_t offset, bytes;
    int64_t first, last;
  };
  std::vector<size_t> order(requests.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Largest first; ties by earlier start so the result is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    return requests[a].first_use < requests[b].first_use;
  });
  plan::MemoryPlanData plan;
  std::vector<Placed> placed;
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    uint64_t bytes = align_up(std::max<uint64_t>(r.bytes, 1));
    plan.total_activation_bytes += r.bytes;
    // Collect the blocks alive at the same time, by offset, and take the first gap that fits.
    std::vector<const Placed*> conflicts;
    for (const Placed& p : placed) {
      if (p.first <= r.last_use && r.first_use <= p.last) conflicts.push_back(&p);
    }
    std::sort(conflicts.begin(), conflicts.end(),
              [](const Placed* a, const Placed* b) { return a->offset < b->offset; });
    uint64_t offset = 0;
    for (const Placed* p : conflicts) {
      if (offset + bytes <= p->offset) break;
      offset = std::max(offset, p->offset + p->bytes);
    }
    placed.push_back({offset, bytes, r.first_use, r.last_use});
    plan.offsets[r.name] = offset;
    plan.sizes[r.name] = bytes;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + bytes);
  }
  return plan;
}

}  // namespace kiln::builder

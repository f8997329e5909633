// A timing cache, as TensorRT's ITimingCache: what the GPU builder learned by timing kernels,
// keyed by layer signature (op, attributes, input and output types and shapes, builder flags)
// and environment (GPU name and SM, cuBLASLt and cuDNN versions, kiln version). A build that
// finds a layer's key in the cache takes the recorded kernel and algorithm without timing, so
// a second build of the same model (or of another model with the same layers) is fast.
//
// Attach one to BuilderConfig (create_timing_cache / set_timing_cache); the builder adds the
// entries it times to it. Serialized caches load only into the kiln version that wrote them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

class TimingCache {
 public:
  // What was measured for one layer signature: the fastest kernel, its algorithm parameters
  // (opaque bytes the kernel understands: a cuBLASLt algorithm, a cuDNN engine
  // configuration; empty where the kernel has no choices) and its median time.
  struct Entry {
    std::string kernel;
    std::vector<uint8_t> params;
    double milliseconds = 0;
  };

  TimingCache() = default;
  TimingCache(const TimingCache& other);
  TimingCache& operator=(const TimingCache& other);

  // Parses bytes written by serialize(). Throws kiln::Error: kInvalidArgument for bytes that
  // are not a timing cache, truncated or corrupted (checksum); kVersionMismatch for a cache
  // written by another kiln version or cache format version (naming both).
  static std::shared_ptr<TimingCache> deserialize(const void* data, size_t size);
  std::vector<uint8_t> serialize() const;

  // Adds the entries of `other` whose keys this cache lacks (TensorRT's combine); returns how
  // many were added. Entries present in both keep this cache's.
  size_t combine(const TimingCache& other);
  size_t size() const;
  void reset();

  // For the builder.
  std::optional<Entry> lookup(const std::string& key) const;
  void insert(const std::string& key, Entry entry);
  // Every key, in order (inspection and tests).
  std::vector<std::string> keys() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace kiln

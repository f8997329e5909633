// TimingCache (include/kiln/timing_cache.h) and its byte format:
//
//   char[8] magic "KILNTCCH", u32 cache format version, str kiln version,
//   count n, (str key, str kernel, str params, f64 milliseconds)[n]  (keys sorted, unique),
//   u32 CRC-32C of every byte before it.
//
// Integers little-endian; str = u32 length + bytes; count = u32 (plan/byte_io.h). Keys hold
// the environment (GPU, library versions) themselves, so one cache may carry the timings of
// several GPUs; the kiln version is checked for the whole cache, as for plans.
#include "kiln/timing_cache.h"

#include <cstring>

#include "core/error.h"
#include "core/fuzzing.h"
#include "kiln/builder.h"
#include "kiln/version.h"
#include "plan/byte_io.h"
#include "plan/checksum.h"

namespace kiln {

namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'T', 'C', 'C', 'H'};
constexpr uint32_t kCacheFormatVersion = 1;

[[noreturn]] void corrupt(const std::string& what) {
  fail(ErrorCode::kInvalidArgument, "timing cache is invalid: ", what,
       " (delete the file to start a new cache)");
}

}  // namespace

TimingCache::TimingCache(const TimingCache& other) {
  std::lock_guard<std::mutex> lock(other.mutex_);
  entries_ = other.entries_;
}

TimingCache& TimingCache::operator=(const TimingCache& other) {
  if (this == &other) return *this;
  std::map<std::string, Entry> copy;
  {
    std::lock_guard<std::mutex> lock(other.mutex_);
    copy = other.entries_;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  entries_ = std::move(copy);
  return *this;
}

std::vector<uint8_t> TimingCache::serialize() const {
  plan::ByteWriter w;
  w.raw(kMagic, sizeof kMagic);
  w.u32(kCacheFormatVersion);
  w.str(version_string());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    w.count(entries_.size(), "timing cache entries");
    for (const auto& [key, entry] : entries_) {
      w.str(key);
      w.str(entry.kernel);
      w.str(std::string_view(reinterpret_cast<const char*>(entry.params.data()),
                             entry.params.size()));
      w.f64(entry.milliseconds);
    }
  }
  const uint32_t crc = plan::crc32c(w.bytes().data(), w.size());
  w.u32(crc);
  return w.take();
}

std::shared_ptr<TimingCache> TimingCache::deserialize(const void* data, size_t size) {
  KILN_CHECK(data != nullptr || size == 0, ErrorCode::kInvalidArgument,
             "timing cache data is null");
  const auto* bytes = static_cast<const uint8_t*>(data);
  if (size < sizeof kMagic || std::memcmp(bytes, kMagic, sizeof kMagic) != 0) {
    corrupt("not a kiln timing cache (bad magic)");
  }
  // Versions before the checksum, so that a cache of another version is named as such.
  auto cache = std::make_shared<TimingCache>();
  try {
    plan::ByteReader head(bytes, size);
    head.sub(sizeof kMagic, "magic");
    const uint32_t format = head.u32();
    const std::string writer = head.str("kiln version");
    if (format != kCacheFormatVersion || writer != version_string()) {
      fail(ErrorCode::kVersionMismatch, "timing cache was written by kiln ",
           plan::printable(writer), " (cache format ", format, "); this is kiln ", version_string(),
           " (cache format ", kCacheFormatVersion,
           "): timing caches load only into the kiln version that wrote them; "
           "delete it to start a new one");
    }
    if (size < sizeof kMagic + 8) corrupt("truncated");
    uint32_t stored = 0;
    std::memcpy(&stored, bytes + size - 4, 4);
    if (plan::crc32c(bytes, size - 4) != stored && !checksums_ignored()) {
      corrupt("checksum mismatch: the file is corrupted");
    }
    plan::ByteReader r(bytes, size - 4);
    r.sub(head.position(), "header");
    const size_t n = r.count(4 * 3 + 8, "timing cache entries");
    for (size_t i = 0; i < n; ++i) {
      std::string key = r.str("key");
      Entry e;
      e.kernel = r.str("kernel");
      const std::string params = r.str("parameters");
      e.params.assign(params.begin(), params.end());
      e.milliseconds = r.f64();
      if (!cache->entries_.emplace(std::move(key), std::move(e)).second)
        corrupt("a key appears twice");
    }
    if (!r.at_end()) corrupt(cat(r.remaining(), " unexpected bytes after the entries"));
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidPlan) {  // a ByteReader bounds failure: keep its detail
      const std::string message = e.what();
      const size_t detail = message.find("): ");
      corrupt(detail == std::string::npos ? message : "truncated: " + message.substr(detail + 3));
    }
    throw;
  }
  return cache;
}

size_t TimingCache::combine(const TimingCache& other) {
  if (this == &other) return 0;
  std::map<std::string, Entry> theirs;
  {
    std::lock_guard<std::mutex> lock(other.mutex_);
    theirs = other.entries_;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  size_t added = 0;
  for (auto& [key, entry] : theirs) added += entries_.emplace(key, std::move(entry)).second ? 1 : 0;
  return added;
}

size_t TimingCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void TimingCache::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

std::optional<TimingCache::Entry> TimingCache::lookup(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void TimingCache::insert(const std::string& key, Entry entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_[key] = std::move(entry);
}

std::vector<std::string> TimingCache::keys() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [key, entry] : entries_) out.push_back(key);
  return out;
}

std::shared_ptr<TimingCache> BuilderConfig::create_timing_cache(const void* data,
                                                                size_t size) const {
  if (size == 0) return std::make_shared<TimingCache>();  // as TensorRT: no bytes, an empty cache
  return TimingCache::deserialize(data, size);
}

}  // namespace kiln

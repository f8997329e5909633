// Little-endian byte encoding for the plan format: a growing ByteWriter and a bounds-checked
// ByteReader. The reader never reads past its end and never trusts a length or a count: each
// is checked against the bytes that remain before anything is allocated or copied, and every
// failure is a kiln::Error (kInvalidPlan) that says where in the plan it happened.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace kiln::plan {

static_assert(std::endian::native == std::endian::little,
              "the plan format is little-endian; a big-endian host needs byte swapping here");

// Keeps what is printed from a file readable and short: non-printable bytes become \xNN and
// long texts are cut, so that a corrupted name cannot flood or garble an error message.
inline std::string printable(std::string_view text, size_t max_chars = 64) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u32(uint32_t v) { raw(&v, sizeof v); }
  void u64(uint64_t v) { raw(&v, sizeof v); }
  void i64(int64_t v) { raw(&v, sizeof v); }
  // The exact bit pattern, so NaN payloads and -0.0 survive.
  void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }
  void raw(const void* data, size_t size) {
    if (size == 0) return;
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  // A count or length as u32; larger ones cannot be encoded.
  void count(size_t n, const char* what) {
    KILN_CHECK(n <= std::numeric_limits<uint32_t>::max(), ErrorCode::kInvalidArgument,
               "cannot serialize plan: ", what, " has ", n, " entries, more than the format's ",
               std::numeric_limits<uint32_t>::max());
    u32(uint32_t(n));
  }
  // u32 length, then the bytes (no terminator).
  void str(std::string_view s) {
    count(s.size(), "a string");
    raw(s.data(), s.size());
  }
  // Overwrites a u64 written earlier at `offset` (section lengths are known only afterwards).
  void patch_u64(size_t offset, uint64_t v) {
    KILN_ASSERT(offset + sizeof v <= bytes_.size());
    std::memcpy(bytes_.data() + offset, &v, sizeof v);
  }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> take() { return std::move(bytes_); }

 private:
  std::vector<uint8_t> bytes_;
};

// Test hook (tests/unit/plan_mutation_test.cpp): while `field_reads` is set on a thread, every
// ByteReader on that thread records each field it reads there: where it starts in the file,
// its width (1, 4 or 8 bytes; 0 for the bytes of a string, `size` of them), and the scopes open
// at the time. A mutation test can then change every field of a real plan, whatever the format
// version, without a second parser of its own.
struct FieldRead {
  size_t offset = 0;
  size_t width = 0;
  size_t size = 0;
  std::string where;
};
inline thread_local std::vector<FieldRead>* field_reads = nullptr;

class ByteReader {
 public:
  // `file_offset` is where data[0] sits in the plan file, for messages.
  ByteReader(const uint8_t* data, size_t size, size_t file_offset = 0)
      : data_(data),
        size_(size),
        file_offset_(file_offset),
        context_(std::make_shared<std::vector<std::string>>()) {}

  // Names what is being read while it lives ("graph 'main'", "node 3 'Conv' 'c1'"); errors
  // list the open scopes, outermost first.
  class Scope {
   public:
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    ~Scope() { context_->pop_back(); }

   private:
    friend class ByteReader;
    Scope(std::vector<std::string>* context, std::string what) : context_(context) {
      context_->push_back(std::move(what));
    }
    std::vector<std::string>* context_;
  };
  [[nodiscard]] Scope scope(std::string what) { return Scope(context_.get(), std::move(what)); }

  // Throws kInvalidPlan: "plan is invalid at <scopes> (near byte N): <message>", N being the
  // file offset where reading stopped.
  template <typename... Args>
  [[noreturn]] void fail(Args&&... args) const {
    std::string where;
    for (const std::string& s : *context_) {
      if (!where.empty()) where += " > ";
      where += s;
    }
    ::kiln::fail(ErrorCode::kInvalidPlan, "plan is invalid at ", where.empty() ? "body" : where,
                 " (near byte ", file_offset_ + pos_, "): ", std::forward<Args>(args)...);
  }

  size_t remaining() const { return size_ - pos_; }
  size_t position() const { return pos_; }
  bool at_end() const { return pos_ == size_; }

  uint8_t u8() { return fixed<uint8_t>("a byte"); }
  uint32_t u32() { return fixed<uint32_t>("a 4-byte integer"); }
  uint64_t u64() { return fixed<uint64_t>("an 8-byte integer"); }
  int64_t i64() { return fixed<int64_t>("an 8-byte integer"); }
  double f64() { return std::bit_cast<double>(fixed<uint64_t>("an 8-byte float")); }

  // A u32 count of items that each take at least `min_item_bytes` in the file: a count the
  // remaining bytes cannot hold is rejected before anything is allocated for it.
  size_t count(size_t min_item_bytes, const char* what) {
    const size_t before = pos_;
    const uint32_t n = u32();
    if (min_item_bytes > 0 && n > remaining() / min_item_bytes) {
      pos_ = before;
      fail(n, " ", what, " cannot fit in the ", remaining() - 4,
           " bytes left (each needs at least ", min_item_bytes, ")");
    }
    return n;
  }

  std::string str(const char* what = "string") {
    const size_t before = pos_;
    const uint32_t n = u32();
    if (n > remaining()) {
      pos_ = before;
      fail(what, " of ", n, " bytes runs past the end (", remaining() - 4, " bytes left)");
    }
    if (field_reads) [[unlikely]]
      record(0, n);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

  // A reader over the next `length` bytes (sharing this one's scopes); this one skips them.
  ByteReader sub(uint64_t length, const char* what) {
    if (length > remaining())
      fail(what, " of ", length, " bytes runs past the end (", remaining(), " bytes left)");
    ByteReader r(data_ + pos_, size_t(length), file_offset_ + pos_);
    r.context_ = context_;
    pos_ += size_t(length);
    return r;
  }

 private:
  template <typename T>
  T fixed(const char* what) {
    if (remaining() < sizeof(T)) fail("needs ", what, " but only ", remaining(), " bytes are left");
    if (field_reads) [[unlikely]]
      record(sizeof(T), sizeof(T));
    T v;
    std::memcpy(&v, data_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }

  void record(size_t width, size_t size) const {
    std::string where;
    for (const std::string& s : *context_) where += (where.empty() ? "" : " > ") + s;
    field_reads->push_back({file_offset_ + pos_, width, size, std::move(where)});
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t file_offset_;
  std::shared_ptr<std::vector<std::string>> context_;
};

}  // namespace kiln::plan

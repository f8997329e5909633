#include "npy.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "core/checked_size.h"
#include "core/temporary_files.h"
#include "kiln/error.h"

namespace kiln::cli {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DescrEntry {
  const char* descr;
  DataType dtype;
};

// The dtypes kiln reads and writes. One-byte types have no byte order ('|'); numpy also
// accepts '<' for them, and so do we when reading.
constexpr DescrEntry kDescrs[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<f2", DataType::kFloat16},
    {"|i1", DataType::kInt8},    {"|u1", DataType::kUInt8},   {"<i2", DataType::kInt16},
    {"<u2", DataType::kUInt16},  {"<i4", DataType::kInt32},   {"<u4", DataType::kUInt32},
    {"<i8", DataType::kInt64},   {"<u8", DataType::kUInt64},  {"|b1", DataType::kBool},
};

[[noreturn]] void bad_file(const std::string& source, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "'" + source + "' is not a valid .npy file: " + why);
}

// A reader of the header's Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderReader {
 public:
  HeaderReader(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }
  char peek() {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool accept(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c, const char* what) {
    if (!accept(c)) fail(std::string("expected ") + what);
  }

  std::string read_string() {
    char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    ++pos_;
    size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }

  bool read_bool() {
    skip_space();
    for (auto [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      size_t n = std::strlen(word);
      if (text_.substr(pos_, n) == word) {
        pos_ += n;
        return value;
      }
    }
    fail("expected True or False");
  }

  int64_t read_int() {
    skip_space();
    size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      int digit = text_[pos_] - '0';
      if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) fail("dimension too large");
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) fail("expected a non-negative integer dimension");
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // written by Python 2's numpy
    return value;
  }

  // "()", "(3,)", "(2, 3)" and "(2, 3,)".
  Dims read_shape() {
    expect('(', "'(' starting the shape");
    Dims shape;
    while (!accept(')')) {
      shape.push_back(read_int());
      if (accept(')')) break;
      expect(',', "',' or ')' in the shape");
    }
    return shape;
  }

  [[noreturn]] void fail(const std::string& why) {
    bad_file(source_, "header " + why + " at offset " + std::to_string(pos_) + " of \"" +
                          std::string(text_) + "\"");
  }

 private:
  std::string_view text_;
  const std::string& source_;
  size_t pos_ = 0;
};

DataType dtype_from_descr(const std::string& descr, const std::string& source) {
  for (const DescrEntry& entry : kDescrs) {
    if (descr == entry.descr) return entry.dtype;
    // One-byte types: '<i1', '=b1' and the like mean the same as '|i1'.
    if (entry.descr[0] == '|' && descr.size() == 3 && (descr[0] == '<' || descr[0] == '=') &&
        descr.compare(1, 2, entry.descr + 1) == 0) {
      return entry.dtype;
    }
  }
  if (!descr.empty() && descr[0] == '>') {
    std::string little = descr;
    little[0] = '<';
    throw Error(ErrorCode::kInvalidArgument,
                "'" + source + "' holds big-endian data (dtype '" + descr +
                    "'); kiln reads little-endian .npy files only: save arr.astype('" + little +
                    "') instead");
  }
  throw Error(ErrorCode::kInvalidArgument,
              "'" + source + "' has dtype '" + descr +
                  "', which kiln cannot read (supported: <f4 <f8 <f2 |i1 |u1 <i2 <u2 <i4 <u4 "
                  "<i8 <u8 |b1)");
}

uint32_t read_le(const uint8_t* p, int bytes) {
  uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

bool has_npy_descr(DataType dtype) {
  for (const DescrEntry& entry : kDescrs) {
    if (entry.dtype == dtype) return true;
  }
  return false;
}

const char* npy_descr(DataType dtype) {
  for (const DescrEntry& entry : kDescrs) {
    if (entry.dtype == dtype) return entry.descr;
  }
  throw Error(ErrorCode::kUnsupported,
              std::string("numpy has no standard dtype for ") + to_string(dtype));
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& source) {
  if (size < kMagicSize || std::memcmp(bytes, kMagic, kMagicSize) != 0) {
    bad_file(source, "it does not start with the .npy magic \\x93NUMPY");
  }
  if (size < kMagicSize + 2) bad_file(source, "truncated header");
  int major = bytes[kMagicSize];
  int minor = bytes[kMagicSize + 1];
  if (minor != 0 || major < 1 || major > 3) {
    bad_file(source, "unsupported format version " + std::to_string(major) + "." +
                         std::to_string(minor) + " (kiln reads 1.0, 2.0 and 3.0)");
  }
  // Version 1.0 stores the header length in 2 bytes, 2.0 and 3.0 in 4 (3.0 allows UTF-8 in the
  // header, which only matters for structured dtypes' field names, which we refuse anyway).
  const int length_bytes = major == 1 ? 2 : 4;
  const size_t preamble = kMagicSize + 2 + length_bytes;
  if (size < preamble) bad_file(source, "truncated header");
  const size_t header_length = read_le(bytes + kMagicSize + 2, length_bytes);
  if (size - preamble < header_length) bad_file(source, "truncated header");
  std::string_view header(reinterpret_cast<const char*>(bytes + preamble), header_length);

  HeaderReader reader(header, source);
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<Dims> shape;
  reader.expect('{', "'{' starting the header dict");
  while (!reader.accept('}')) {
    std::string key = reader.read_string();
    reader.expect(':', "':' after a key");
    if (key == "descr") {
      if (reader.peek() == '[') {
        throw Error(ErrorCode::kInvalidArgument,
                    "'" + source + "' holds a structured array; kiln reads plain numeric arrays");
      }
      descr = reader.read_string();
    } else if (key == "fortran_order") {
      fortran_order = reader.read_bool();
    } else if (key == "shape") {
      shape = reader.read_shape();
    } else {
      reader.fail("has unknown key '" + key + "'");
    }
    if (reader.accept('}')) break;
    reader.expect(',', "',' or '}' after a value");
  }
  if (!reader.at_end()) reader.fail("has text after the dict");
  if (!descr || !fortran_order || !shape) {
    bad_file(source, "header lacks one of 'descr', 'fortran_order', 'shape'");
  }

  NpyArray array;
  array.dtype = dtype_from_descr(*descr, source);
  if (*fortran_order) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + source +
                    "' holds a Fortran-order array; kiln reads C-order arrays only: save "
                    "np.ascontiguousarray(arr) instead");
  }
  array.shape = *shape;

  uint64_t nbytes = 0;
  try {
    nbytes = checked_bytes(array.dtype, checked_numel(array.shape, "shape"), "shape");
  } catch (const SizeOverflow&) {
    bad_file(source, "its shape " + to_string(array.shape) + " is too large");
  }
  const size_t data_size = size - preamble - header_length;
  if (data_size < nbytes) {
    bad_file(source, "data truncated: the header promises " + std::to_string(nbytes) +
                         " bytes of data, the file holds " + std::to_string(data_size));
  }
  if (data_size > nbytes) {
    bad_file(source, std::to_string(data_size - nbytes) + " unexpected bytes after the data");
  }
  const uint8_t* data = bytes + preamble + header_length;
  array.data.assign(data, data + nbytes);
  return array;
}

NpyArray read_npy(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorCode::kIO, "cannot read '" + path + "': it is a directory");
  }
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw Error(ErrorCode::kIO, "cannot open '" + path + "': " + errno_text());
  const std::streamoff size = file.tellg();
  file.seekg(0);
  std::vector<uint8_t> bytes(size > 0 ? size_t(size) : 0);
  if (size < 0 ||
      !file.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()))) {
    throw Error(ErrorCode::kIO, "cannot read '" + path + "': " + errno_text());
  }
  return parse_npy(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_npy(DataType dtype, const Dims& shape, const void* data,
                                size_t nbytes) {
  for (int64_t dim : shape) {
    if (dim < 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "cannot write a .npy array with dynamic dims " + to_string(shape));
    }
  }
  // Overflow-checked: a shape whose element count wraps must not pass as an empty array.
  const size_t expected =
      checked_bytes(dtype, checked_numel(shape, "writing a .npy array"), "writing a .npy array");
  if (expected != nbytes) {
    throw Error(ErrorCode::kInternal, "encode_npy: " + std::to_string(nbytes) +
                                          " bytes do not match shape " + to_string(shape));
  }

  std::ostringstream dict;
  dict << "{'descr': '" << npy_descr(dtype) << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) dict << ",";
  dict << "), }";
  std::string header = dict.str();

  // Pad with spaces so that the data starts on a 64-byte boundary, as numpy does; the header
  // ends with a newline. Version 2.0 only when the header does not fit version 1.0's 2 bytes.
  int major = 1;
  size_t preamble = kMagicSize + 2 + 2;
  if (preamble + header.size() + 1 > 65535) {
    major = 2;
    preamble = kMagicSize + 2 + 4;
  }
  size_t total_header = preamble + header.size() + 1;
  header.append((64 - total_header % 64) % 64, ' ');
  header.push_back('\n');
  const size_t header_length = header.size();

  std::string head(kMagic, kMagicSize);
  head += char(major);
  head += '\0';
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) head += char(uint8_t(header_length >> (8 * i)));
  head += header;
  std::vector<uint8_t> out(head.size() + nbytes);
  std::memcpy(out.data(), head.data(), head.size());
  if (nbytes) std::memcpy(out.data() + head.size(), data, nbytes);
  return out;
}

void write_npy(const std::string& path, DataType dtype, const Dims& shape, const void* data,
               size_t nbytes) {
  const std::vector<uint8_t> bytes = encode_npy(dtype, shape, data, nbytes);
  write_file_atomically(path, bytes.data(), bytes.size(), ".npy file");
}

}  // namespace kiln::cli

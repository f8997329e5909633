#include "onnx/tensor_proto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/checked_size.h"
#include "core/display_name.h"
#include "core/error.h"
#include "core/narrow_types.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx_import {

// raw_data and external data are little-endian; kiln's tensors are host-endian.
static_assert(std::endian::native == std::endian::little, "kiln assumes a little-endian host");

namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

std::string describe(const TensorProto& proto) {
  return proto.name().empty() ? std::string("an unnamed tensor")
                              : cat("tensor '", display_name(proto.name()), "'");
}

// Copies a repeated field element by element into the tensor's storage type. The 16- and 8-bit
// types travel in int32_data holding their bit patterns, so truncating to the storage type
// recovers them.
template <typename Storage, typename Field>
void copy_field(const Field& field, Tensor& out) {
  Storage* dst = out.data<Storage>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Storage>(field.Get(i));
}

// The repeated field that holds a type's values when raw_data is not used, and its length.
std::pair<const char*, int> typed_field(const TensorProto& proto, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return {"float_data", proto.float_data_size()};
    case DataType::kFloat64:
      return {"double_data", proto.double_data_size()};
    case DataType::kInt64:
      return {"int64_data", proto.int64_data_size()};
    case DataType::kUInt32:
    case DataType::kUInt64:
      return {"uint64_data", proto.uint64_data_size()};
    default:
      return {"int32_data", proto.int32_data_size()};
  }
}

void fill_from_typed_fields(const TensorProto& proto, Tensor& out) {
  switch (out.dtype()) {
    case DataType::kFloat32:
      copy_field<float>(proto.float_data(), out);
      return;
    case DataType::kFloat64:
      copy_field<double>(proto.double_data(), out);
      return;
    case DataType::kInt64:
      copy_field<int64_t>(proto.int64_data(), out);
      return;
    case DataType::kUInt32:
      copy_field<uint32_t>(proto.uint64_data(), out);
      return;
    case DataType::kUInt64:
      copy_field<uint64_t>(proto.uint64_data(), out);
      return;
    case DataType::kInt32:
      copy_field<int32_t>(proto.int32_data(), out);
      return;
    case DataType::kInt16:
      copy_field<int16_t>(proto.int32_data(), out);
      return;
    case DataType::kUInt16:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      copy_field<uint16_t>(proto.int32_data(), out);
      return;
    case DataType::kInt8:
      copy_field<int8_t>(proto.int32_data(), out);
      return;
    case DataType::kUInt8:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
      copy_field<uint8_t>(proto.int32_data(), out);
      return;
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat4E2M1: {
      // Each int32_data entry holds one byte of packed elements.
      std::vector<uint8_t> packed(size_t(proto.int32_data_size()));
      for (int i = 0; i < proto.int32_data_size(); ++i) {
        packed[size_t(i)] = uint8_t(proto.int32_data(i));
      }
      unpack_sub_byte(out.dtype(), packed.data(), out.numel(), out.data<uint8_t>());
      return;
    }
    case DataType::kBool: {
      uint8_t* dst = out.data<uint8_t>();
      for (int i = 0; i < proto.int32_data_size(); ++i) dst[i] = proto.int32_data(i) != 0;
      return;
    }
  }
  fail(ErrorCode::kInternal, "tensor_from_proto: unhandled dtype");
}

uint64_t parse_size_field(const TensorProto& proto, const std::string& key,
                          const std::string& text) {
  size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  KILN_CHECK(used == text.size() && !text.empty() && text[0] != '-', ErrorCode::kInvalidModel,
             describe(proto), ": external data ", key, " '", display_name(text),
             "' is not a byte count");
  return v;
}

// What kind of file a status describes, for messages.
const char* file_kind(fs::file_type type) {
  switch (type) {
    case fs::file_type::regular:
      return "a regular file";
    case fs::file_type::directory:
      return "a directory";
    case fs::file_type::symlink:
      return "a symbolic link";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// An open file descriptor, closed with the object.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Whether `path` is `folder` or lies below it (both absolute and free of symlinks, `.`, `..`).
bool is_within(const fs::path& path, const fs::path& folder) {
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f, ++p) {
    if (f->empty()) continue;  // the empty last element of a folder written with a trailing '/'
    if (p == path.end() || *p != *f) return false;
  }
  return true;
}

// Weights stored beside the model: `location` is a path relative to the model's folder, and
// `offset` / `length` select a byte range of that file.
//
// A model must not make kiln read anything but regular files inside its own folder: the
// location is refused when it is absolute or starts with "..", and when, with every symbolic
// link resolved, it leads out of the folder (a link "sub -> /etc" makes "sub/passwd" a read of
// /etc/passwd) or to something other than a regular file (a FIFO would block, a device could
// be endless or have side effects on open). The resolved path is opened with O_NOFOLLOW and
// O_NONBLOCK and checked again with fstat on the open descriptor, so that a link or FIFO
// swapped in after the check is refused too. (A hard link to a file outside the folder cannot
// be told from a file of the folder; whoever can make one in the model's folder could write
// the weights anyway.)
Tensor read_external(const TensorProto& proto, const std::string& base_dir, DataType dtype,
                     const Dims& shape, uint64_t expected) {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset") {
      offset = parse_size_field(proto, "offset", entry.value());
    } else if (entry.key() == "length") {
      length = parse_size_field(proto, "length", entry.value());
    }
  }
  KILN_CHECK(!location.empty(), ErrorCode::kInvalidModel, describe(proto),
             " is stored as external data but names no location");
  const std::string shown = display_name(location);
  KILN_CHECK(location.find('\0') == std::string::npos, ErrorCode::kInvalidModel, describe(proto),
             ": external data location '", shown, "' contains a NUL byte");
  const fs::path relative = fs::path(location).lexically_normal();
  KILN_CHECK(!relative.is_absolute() && !relative.has_root_name() && !relative.empty() &&
                 *relative.begin() != "..",
             ErrorCode::kInvalidModel, describe(proto), ": external data location '", shown,
             "' points outside the model's folder");

  // The folder and the file with every symbolic link resolved.
  std::error_code ec;
  const fs::path folder = fs::canonical(base_dir.empty() ? "." : base_dir, ec);
  KILN_CHECK(!ec, ErrorCode::kIO, describe(proto), ": cannot resolve the model's folder '",
             display_name(base_dir), "' to read external data '", shown, "': ", ec.message());
  const fs::path file = fs::weakly_canonical(folder / relative, ec);
  KILN_CHECK(!ec, ErrorCode::kIO, describe(proto), ": cannot resolve external data location '",
             shown, "' in '", display_name(folder.string()), "': ", ec.message());
  KILN_CHECK(is_within(file, folder), ErrorCode::kInvalidModel, describe(proto),
             ": external data location '", shown, "' leads outside the model's folder '",
             display_name(folder.string()), "' through a symbolic link (it resolves to '",
             display_name(file.string()), "')");
  const fs::file_status status = fs::status(file, ec);
  KILN_CHECK(!ec && status.type() != fs::file_type::not_found, ErrorCode::kIO, describe(proto),
             ": cannot read external data file '", display_name(file.string()), "' (location '",
             shown, "'): ", ec ? ec.message() : std::string("No such file or directory"));
  KILN_CHECK(status.type() == fs::file_type::regular, ErrorCode::kInvalidModel, describe(proto),
             ": external data location '", shown, "' is ", file_kind(status.type()),
             ", not a regular file");

  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  KILN_CHECK(fd.get() >= 0, ErrorCode::kIO, describe(proto), ": cannot open external data file '",
             display_name(file.string()), "' (location '", shown, "'): ", std::strerror(errno));
  struct stat st {};
  KILN_CHECK(::fstat(fd.get(), &st) == 0, ErrorCode::kIO, describe(proto),
             ": cannot stat external data file '", display_name(file.string()),
             "': ", std::strerror(errno));
  KILN_CHECK(S_ISREG(st.st_mode), ErrorCode::kInvalidModel, describe(proto),
             ": external data location '", shown,
             "' is not a regular file (it changed while kiln was reading the model)");
  const uint64_t file_size = uint64_t(st.st_size);
  const std::string file_shown = display_name(file.string());

  const uint64_t available = offset <= file_size ? file_size - offset : 0;
  KILN_CHECK(offset <= file_size, ErrorCode::kInvalidModel, describe(proto),
             ": external data offset ", offset, " is past the end of '", file_shown, "' (",
             file_size, " bytes)");
  const uint64_t size = length.value_or(available);
  KILN_CHECK(size <= available, ErrorCode::kInvalidModel, describe(proto), ": external data '",
             file_shown, "' has ", file_size, " bytes, fewer than offset ", offset, " + length ",
             size);
  KILN_CHECK(size == expected, ErrorCode::kInvalidModel, describe(proto), " has shape ",
             to_string(shape), " and type ", to_string(dtype), " (", expected,
             " bytes) but its external data in '", file_shown, "' is ", size, " bytes");

  Tensor out = Tensor::zeros(dtype, shape);
  char* dst = static_cast<char*>(out.raw());
  uint64_t done = 0;
  while (done < size) {
    const size_t chunk = size_t(std::min<uint64_t>(size - done, uint64_t(1) << 30));
    const ssize_t got = ::pread(fd.get(), dst + done, chunk, off_t(offset + done));
    if (got < 0 && errno == EINTR) continue;
    KILN_CHECK(got > 0, ErrorCode::kIO, describe(proto), ": failed reading ", size,
               " bytes at offset ", offset, " of '", file_shown,
               "': ", got < 0 ? std::strerror(errno) : "the file ended early");
    done += uint64_t(got);
  }
  return out;
}

// A tensor of a sub-byte type from its packed bytes.
Tensor unpacked(DataType dtype, const Dims& shape, const uint8_t* packed) {
  Tensor out = Tensor::zeros(dtype, shape);
  unpack_sub_byte(dtype, packed, out.numel(), out.data<uint8_t>());
  return out;
}

}  // namespace

std::optional<DataType> kiln_dtype_from_onnx(int32_t onnx_type) {
  switch (onnx_type) {
    case TensorProto::FLOAT:
      return DataType::kFloat32;
    case TensorProto::UINT8:
      return DataType::kUInt8;
    case TensorProto::INT8:
      return DataType::kInt8;
    case TensorProto::UINT16:
      return DataType::kUInt16;
    case TensorProto::INT16:
      return DataType::kInt16;
    case TensorProto::INT32:
      return DataType::kInt32;
    case TensorProto::INT64:
      return DataType::kInt64;
    case TensorProto::BOOL:
      return DataType::kBool;
    case TensorProto::FLOAT16:
      return DataType::kFloat16;
    case TensorProto::DOUBLE:
      return DataType::kFloat64;
    case TensorProto::UINT32:
      return DataType::kUInt32;
    case TensorProto::UINT64:
      return DataType::kUInt64;
    case TensorProto::BFLOAT16:
      return DataType::kBFloat16;
    case TensorProto::FLOAT8E4M3FN:
      return DataType::kFloat8E4M3;
    case TensorProto::FLOAT8E5M2:
      return DataType::kFloat8E5M2;
    case TensorProto::FLOAT8E4M3FNUZ:
      return DataType::kFloat8E4M3FNUZ;
    case TensorProto::FLOAT8E5M2FNUZ:
      return DataType::kFloat8E5M2FNUZ;
    case TensorProto::FLOAT8E8M0:
      return DataType::kFloat8E8M0;
    case TensorProto::FLOAT4E2M1:
      return DataType::kFloat4E2M1;
    case TensorProto::INT4:
      return DataType::kInt4;
    case TensorProto::UINT4:
      return DataType::kUInt4;
    case TensorProto::INT2:
      return DataType::kInt2;
    case TensorProto::UINT2:
      return DataType::kUInt2;
    default:
      return std::nullopt;
  }
}

std::string onnx_dtype_name(int32_t onnx_type) {
  if (onnx::TensorProto_DataType_IsValid(onnx_type)) {
    return onnx::TensorProto_DataType_Name(static_cast<TensorProto::DataType>(onnx_type));
  }
  return std::to_string(onnx_type);
}

DataType require_kiln_dtype(int32_t onnx_type, const std::string& what) {
  if (auto dtype = kiln_dtype_from_onnx(onnx_type)) return *dtype;
  KILN_CHECK(onnx_type != TensorProto::UNDEFINED && onnx::TensorProto_DataType_IsValid(onnx_type),
             ErrorCode::kInvalidModel, what, " has element type ", onnx_dtype_name(onnx_type),
             ", which is not an ONNX tensor type");
  fail(ErrorCode::kUnsupported, what, " has ONNX type ", onnx_dtype_name(onnx_type),
       ", which kiln does not support");
}

int32_t onnx_dtype_from_kiln(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return TensorProto::FLOAT;
    case DataType::kFloat16:
      return TensorProto::FLOAT16;
    case DataType::kBFloat16:
      return TensorProto::BFLOAT16;
    case DataType::kFloat64:
      return TensorProto::DOUBLE;
    case DataType::kInt8:
      return TensorProto::INT8;
    case DataType::kUInt8:
      return TensorProto::UINT8;
    case DataType::kInt16:
      return TensorProto::INT16;
    case DataType::kInt32:
      return TensorProto::INT32;
    case DataType::kInt64:
      return TensorProto::INT64;
    case DataType::kBool:
      return TensorProto::BOOL;
    case DataType::kFloat8E4M3:
      return TensorProto::FLOAT8E4M3FN;
    case DataType::kFloat8E5M2:
      return TensorProto::FLOAT8E5M2;
    case DataType::kUInt16:
      return TensorProto::UINT16;
    case DataType::kUInt32:
      return TensorProto::UINT32;
    case DataType::kUInt64:
      return TensorProto::UINT64;
    case DataType::kInt4:
      return TensorProto::INT4;
    case DataType::kUInt4:
      return TensorProto::UINT4;
    case DataType::kInt2:
      return TensorProto::INT2;
    case DataType::kUInt2:
      return TensorProto::UINT2;
    case DataType::kFloat4E2M1:
      return TensorProto::FLOAT4E2M1;
    case DataType::kFloat8E4M3FNUZ:
      return TensorProto::FLOAT8E4M3FNUZ;
    case DataType::kFloat8E5M2FNUZ:
      return TensorProto::FLOAT8E5M2FNUZ;
    case DataType::kFloat8E8M0:
      return TensorProto::FLOAT8E8M0;
  }
  fail(ErrorCode::kInternal, "onnx_dtype_from_kiln: unknown dtype");
}

Tensor tensor_from_proto(const TensorProto& proto, const std::string& base_dir) {
  const DataType dtype = require_kiln_dtype(proto.data_type(), describe(proto));
  KILN_CHECK(!proto.has_segment(), ErrorCode::kUnsupported, describe(proto),
             " is split into segments, which kiln does not support");
  Dims shape;
  shape.reserve(size_t(proto.dims_size()));
  for (int64_t d : proto.dims()) {
    KILN_CHECK(d >= 0, ErrorCode::kInvalidModel, describe(proto), " has a negative dim ", d);
    shape.push_back(d);
  }
  // Reject sizes whose element or byte count overflows, or that exceed KILN_MAX_TENSOR_BYTES,
  // before allocating anything (core/checked_size.h).
  int64_t elements = 0;
  try {
    elements = checked_numel(shape, describe(proto));
    checked_bytes(dtype, elements, describe(proto));
  } catch (const SizeOverflow& e) {
    fail(ErrorCode::kInvalidModel, e.what());
  }
  check_tensor_size(dtype, shape, describe(proto));
  // Every size is checked against the data before anything is allocated, so that a corrupt
  // file cannot make kiln allocate what its dims claim. Sub-byte types are packed in the file
  // (nbytes is the packed size) and unpacked to a byte each in memory.
  const uint64_t nbytes = packed_size(elements, packed_bits(dtype));
  if (proto.data_location() == TensorProto::EXTERNAL) {
    if (!is_sub_byte(dtype)) return read_external(proto, base_dir, dtype, shape, nbytes);
    const Tensor packed =
        read_external(proto, base_dir, DataType::kUInt8, {int64_t(nbytes)}, nbytes);
    return unpacked(dtype, shape, packed.data<uint8_t>());
  }
  if (proto.has_raw_data()) {
    const std::string& raw = proto.raw_data();
    KILN_CHECK(raw.size() == nbytes, ErrorCode::kInvalidModel, describe(proto), " has shape ",
               to_string(shape), " and type ", to_string(dtype), " (", nbytes,
               " bytes) but its raw_data is ", raw.size(), " bytes");
    if (is_sub_byte(dtype)) {
      return unpacked(dtype, shape, reinterpret_cast<const uint8_t*>(raw.data()));
    }
    return Tensor::from_bytes(dtype, shape, raw.data(), raw.size());
  }
  const auto [field, count] = typed_field(proto, dtype);
  // int32_data holds one packed byte per entry for the sub-byte types.
  const int64_t expected_count = is_sub_byte(dtype) ? int64_t(nbytes) : elements;
  KILN_CHECK(int64_t(count) == expected_count, ErrorCode::kInvalidModel, describe(proto),
             " has shape ", to_string(shape), " (", elements, " elements) but its ", field,
             " holds ", count, " values");
  Tensor out = Tensor::zeros(dtype, shape);
  fill_from_typed_fields(proto, out);
  return out;
}

Tensor read_tensor_pb_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), ErrorCode::kIO, "cannot open tensor file '", path, "'");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  KILN_CHECK(!in.bad(), ErrorCode::kIO, "failed reading tensor file '", path, "'");
  TensorProto proto;
  KILN_CHECK(bytes.size() <= size_t(std::numeric_limits<int>::max()) &&
                 proto.ParseFromArray(bytes.data(), int(bytes.size())),
             ErrorCode::kInvalidModel, "'", path,
             "' is not a valid ONNX TensorProto (protobuf parse failed)");
  return tensor_from_proto(proto, fs::path(path).parent_path().string());
}

void tensor_to_proto(const Tensor& tensor, const std::string& name, TensorProto& proto) {
  proto.Clear();
  proto.set_name(name);
  proto.set_data_type(onnx_dtype_from_kiln(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  if (is_sub_byte(tensor.dtype())) {
    std::string packed(packed_size(tensor.numel(), packed_bits(tensor.dtype())), '\0');
    pack_sub_byte(tensor.dtype(), tensor.data<uint8_t>(), tensor.numel(),
                  reinterpret_cast<uint8_t*>(packed.data()));
    proto.set_raw_data(std::move(packed));
    return;
  }
  proto.set_raw_data(tensor.nbytes() ? static_cast<const char*>(tensor.raw()) : "",
                     tensor.nbytes());
}

}  // namespace kiln::onnx_import

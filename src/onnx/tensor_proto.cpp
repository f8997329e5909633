#include "onnx/tensor_proto.h"

#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/checked_size.h"
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
                              : cat("tensor '", proto.name(), "'");
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
             describe(proto), ": external data ", key, " '", text, "' is not a byte count");
  return v;
}

// Weights stored beside the model: `location` is a path relative to the model's folder, and
// `offset` / `length` select a byte range of that file.
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
  const fs::path relative = fs::path(location).lexically_normal();
  // A model must not make kiln read files outside its own folder.
  KILN_CHECK(!relative.is_absolute() && !relative.has_root_name() && !relative.empty() &&
                 *relative.begin() != "..",
             ErrorCode::kInvalidModel, describe(proto), ": external data location '", location,
             "' points outside the model's folder");
  const fs::path file = fs::path(base_dir.empty() ? "." : base_dir) / relative;

  std::error_code ec;
  const uintmax_t file_size = fs::file_size(file, ec);
  KILN_CHECK(!ec, ErrorCode::kIO, describe(proto), ": cannot read external data file '",
             file.string(), "': ", ec.message());
  const uint64_t available = offset <= file_size ? file_size - offset : 0;
  KILN_CHECK(offset <= file_size, ErrorCode::kInvalidModel, describe(proto),
             ": external data offset ", offset, " is past the end of '", file.string(), "' (",
             file_size, " bytes)");
  const uint64_t size = length.value_or(available);
  KILN_CHECK(size <= available, ErrorCode::kInvalidModel, describe(proto), ": external data '",
             file.string(), "' has ", file_size, " bytes, fewer than offset ", offset, " + length ",
             size);
  KILN_CHECK(size == expected, ErrorCode::kInvalidModel, describe(proto), " has shape ",
             to_string(shape), " and type ", to_string(dtype), " (", expected,
             " bytes) but its external data in '", file.string(), "' is ", size, " bytes");

  Tensor out = Tensor::zeros(dtype, shape);
  std::ifstream in(file, std::ios::binary);
  KILN_CHECK(in.good(), ErrorCode::kIO, describe(proto), ": cannot open external data file '",
             file.string(), "'");
  in.seekg(std::streamoff(offset));
  if (size) in.read(static_cast<char*>(out.raw()), std::streamsize(size));
  KILN_CHECK(in.good(), ErrorCode::kIO, describe(proto), ": failed reading ", size,
             " bytes at offset ", offset, " of '", file.string(), "'");
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

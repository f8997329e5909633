// TensorProto -> Tensor: element types, every data field, external data and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

using onnx::TensorProto;
using onnx_import::kiln_dtype_from_onnx;
using onnx_import::tensor_from_proto;

TensorProto make_proto(const std::string& name, int32_t type, const Dims& dims) {
  TensorProto p;
  p.set_name(name);
  p.set_data_type(type);
  for (int64_t d : dims) p.add_dims(d);
  return p;
}

TEST(OnnxDtype, MapsEveryKilnType) {
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT), DataType::kFloat32);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::DOUBLE), DataType::kFloat64);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT16), DataType::kFloat16);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::BFLOAT16), DataType::kBFloat16);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT8E4M3FN), DataType::kFloat8E4M3);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT8E5M2), DataType::kFloat8E5M2);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::INT8), DataType::kInt8);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::UINT8), DataType::kUInt8);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::INT16), DataType::kInt16);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::UINT16), DataType::kUInt16);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::INT32), DataType::kInt32);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::UINT32), DataType::kUInt32);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::INT64), DataType::kInt64);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::UINT64), DataType::kUInt64);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::BOOL), DataType::kBool);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::INT4), DataType::kInt4);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::UINT4), DataType::kUInt4);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::INT2), DataType::kInt2);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::UINT2), DataType::kUInt2);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT4E2M1), DataType::kFloat4E2M1);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT8E4M3FNUZ), DataType::kFloat8E4M3FNUZ);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT8E5M2FNUZ), DataType::kFloat8E5M2FNUZ);
  EXPECT_EQ(kiln_dtype_from_onnx(TensorProto::FLOAT8E8M0), DataType::kFloat8E8M0);
  for (int32_t t : {int32_t(TensorProto::STRING), int32_t(TensorProto::COMPLEX64),
                    int32_t(TensorProto::FLOAT6E2M3), int32_t(TensorProto::FLOAT6E3M2)}) {
    EXPECT_FALSE(kiln_dtype_from_onnx(t).has_value()) << t;
  }
  // Every kiln type maps back to the ONNX type it came from.
  for (int32_t t = 1; t <= 28; ++t) {
    if (auto k = kiln_dtype_from_onnx(t)) EXPECT_EQ(onnx_import::onnx_dtype_from_kiln(*k), t);
  }
}

TEST(OnnxDtype, UnsupportedTypesNameTheTensor) {
  TensorProto p = make_proto("words", TensorProto::STRING, {2});
  p.add_string_data("a");
  p.add_string_data("b");
  std::string msg = error_message([&] { tensor_from_proto(p, "."); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("'words'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("STRING"), std::string::npos) << msg;

  TensorProto six_bit = make_proto("packed", TensorProto::FLOAT6E2M3, {2});
  msg = error_message([&] { tensor_from_proto(six_bit, "."); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("FLOAT6E2M3"), std::string::npos) << msg;

  TensorProto bogus = make_proto("bogus", 999, {1});
  error_message([&] { tensor_from_proto(bogus, "."); }, ErrorCode::kInvalidModel);
}

TEST(TensorProto, RawDataIsCopied) {
  TensorProto p = make_proto("w", TensorProto::FLOAT, {2, 3});
  const float values[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
  p.set_raw_data(values, sizeof(values));
  Tensor t = tensor_from_proto(p, ".");
  EXPECT_EQ(t.dtype(), DataType::kFloat32);
  EXPECT_EQ(t.shape(), (Dims{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], values[i]);
}

TEST(TensorProto, TypedFields) {
  TensorProto f = make_proto("f", TensorProto::FLOAT, {3});
  for (float v : {1.5f, -2.0f, 0.25f}) f.add_float_data(v);
  EXPECT_EQ(tensor_from_proto(f, ".").to_double_vector(), (std::vector<double>{1.5, -2, 0.25}));

  TensorProto d = make_proto("d", TensorProto::DOUBLE, {2});
  d.add_double_data(0.1);
  d.add_double_data(-1e300);
  Tensor dt = tensor_from_proto(d, ".");
  EXPECT_EQ(dt.dtype(), DataType::kFloat64);
  EXPECT_EQ(dt.data<double>()[0], 0.1);
  EXPECT_EQ(dt.data<double>()[1], -1e300);

  TensorProto l = make_proto("l", TensorProto::INT64, {2});
  l.add_int64_data(int64_t(1) << 40);
  l.add_int64_data(-7);
  EXPECT_EQ(tensor_from_proto(l, ".").to_int64_vector(),
            (std::vector<int64_t>{int64_t(1) << 40, -7}));

  TensorProto u64 = make_proto("u64", TensorProto::UINT64, {1});
  u64.add_uint64_data(~uint64_t(0));
  EXPECT_EQ(tensor_from_proto(u64, ".").data<uint64_t>()[0], ~uint64_t(0));

  TensorProto u32 = make_proto("u32", TensorProto::UINT32, {1});
  u32.add_uint64_data(4000000000u);
  EXPECT_EQ(tensor_from_proto(u32, ".").data<uint32_t>()[0], 4000000000u);
}

TEST(TensorProto, NarrowTypesTravelInInt32Data) {
  TensorProto i8 = make_proto("i8", TensorProto::INT8, {3});
  for (int v : {-128, -3, 127}) i8.add_int32_data(v);
  Tensor t8 = tensor_from_proto(i8, ".");
  EXPECT_EQ(t8.dtype(), DataType::kInt8);
  EXPECT_EQ(t8.to_int64_vector(), (std::vector<int64_t>{-128, -3, 127}));

  TensorProto u16 = make_proto("u16", TensorProto::UINT16, {1});
  u16.add_int32_data(65535);
  EXPECT_EQ(tensor_from_proto(u16, ".").data<uint16_t>()[0], 65535);

  TensorProto i16 = make_proto("i16", TensorProto::INT16, {1});
  i16.add_int32_data(-30000);
  EXPECT_EQ(tensor_from_proto(i16, ".").data<int16_t>()[0], -30000);

  TensorProto b = make_proto("b", TensorProto::BOOL, {3});
  for (int v : {1, 0, 1}) b.add_int32_data(v);
  Tensor tb = tensor_from_proto(b, ".");
  EXPECT_EQ(tb.dtype(), DataType::kBool);
  EXPECT_EQ(tb.to_int64_vector(), (std::vector<int64_t>{1, 0, 1}));

  // float16 / bfloat16 / fp8 hold their bit patterns: 0x3C00 is 1.0 in float16, 0xC000 is
  // -2.0; 0x3F80 is 1.0 in bfloat16; 0x38 is 1.0 in e4m3fn and 0x3C in e5m2.
  TensorProto h = make_proto("h", TensorProto::FLOAT16, {2});
  h.add_int32_data(0x3C00);
  h.add_int32_data(0xC000);
  EXPECT_EQ(tensor_from_proto(h, ".").to_double_vector(), (std::vector<double>{1.0, -2.0}));

  TensorProto bf = make_proto("bf", TensorProto::BFLOAT16, {1});
  bf.add_int32_data(0x3F80);
  EXPECT_EQ(tensor_from_proto(bf, ".").as_double(0), 1.0);

  TensorProto e4 = make_proto("e4", TensorProto::FLOAT8E4M3FN, {1});
  e4.add_int32_data(0x38);
  Tensor te4 = tensor_from_proto(e4, ".");
  EXPECT_EQ(te4.dtype(), DataType::kFloat8E4M3);
  EXPECT_EQ(te4.as_double(0), 1.0);

  TensorProto e5 = make_proto("e5", TensorProto::FLOAT8E5M2, {1});
  e5.add_int32_data(0x3C);
  EXPECT_EQ(tensor_from_proto(e5, ".").as_double(0), 1.0);
}

TEST(TensorProto, EmptyAndScalarTensors) {
  TensorProto empty = make_proto("empty", TensorProto::FLOAT, {0, 4});
  EXPECT_EQ(tensor_from_proto(empty, ".").numel(), 0);
  TensorProto scalar = make_proto("s", TensorProto::INT64, {});
  scalar.add_int64_data(42);
  Tensor t = tensor_from_proto(scalar, ".");
  EXPECT_EQ(t.rank(), 0u);
  EXPECT_EQ(t.as_int64(0), 42);
}

TEST(TensorProto, SizeMismatchesAreClearErrors) {
  TensorProto p = make_proto("weights", TensorProto::FLOAT, {2, 3});
  for (int i = 0; i < 5; ++i) p.add_float_data(1.0f);
  std::string msg = error_message([&] { tensor_from_proto(p, "."); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("'weights'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("6 elements"), std::string::npos) << msg;
  EXPECT_NE(msg.find("holds 5"), std::string::npos) << msg;

  TensorProto raw = make_proto("raw", TensorProto::INT32, {4});
  raw.set_raw_data(std::string(15, '\0'));
  msg = error_message([&] { tensor_from_proto(raw, "."); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("16 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("15 bytes"), std::string::npos) << msg;

  TensorProto negative = make_proto("neg", TensorProto::FLOAT, {-1});
  error_message([&] { tensor_from_proto(negative, "."); }, ErrorCode::kInvalidModel);
}

void set_external(TensorProto& p, const std::string& location, int64_t offset, int64_t length) {
  p.set_data_location(TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = p.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  if (offset >= 0) add("offset", std::to_string(offset));
  if (length >= 0) add("length", std::to_string(length));
}

TEST(TensorProtoExternal, ReadsRangeRelativeToModelFolder) {
  TempDir dir;
  const float values[3] = {4.0f, -5.5f, 6.25f};
  std::string file(10, 'x');  // 10 bytes of padding before the tensor
  file.append(reinterpret_cast<const char*>(values), sizeof(values));
  file += "tail";
  dir.write("weights/data.bin", file);

  TensorProto p = make_proto("ext", TensorProto::FLOAT, {3});
  set_external(p, "weights/data.bin", 10, 12);
  Tensor t = tensor_from_proto(p, dir.path());
  EXPECT_EQ(t.to_double_vector(), (std::vector<double>{4.0, -5.5, 6.25}));

  // Without length the tensor runs to the end of the file.
  dir.write("only.bin", std::string(reinterpret_cast<const char*>(values), sizeof(values)));
  TensorProto whole = make_proto("whole", TensorProto::FLOAT, {3});
  set_external(whole, "./weights/../only.bin", -1, -1);
  EXPECT_EQ(tensor_from_proto(whole, dir.path()).as_double(2), 6.25);
}

TEST(TensorProtoExternal, Errors) {
  TempDir dir;
  dir.write("small.bin", std::string(8, '\0'));

  TensorProto missing = make_proto("m", TensorProto::FLOAT, {2});
  set_external(missing, "nowhere.bin", 0, 8);
  std::string msg = error_message([&] { tensor_from_proto(missing, dir.path()); }, ErrorCode::kIO);
  EXPECT_NE(msg.find("nowhere.bin"), std::string::npos) << msg;

  TensorProto escaping = make_proto("esc", TensorProto::FLOAT, {2});
  set_external(escaping, "../secret.bin", 0, 8);
  msg = error_message([&] { tensor_from_proto(escaping, dir.path()); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("outside the model's folder"), std::string::npos) << msg;

  TensorProto sneaky = make_proto("sneaky", TensorProto::FLOAT, {2});
  set_external(sneaky, "a/../../secret.bin", 0, 8);
  error_message([&] { tensor_from_proto(sneaky, dir.path()); }, ErrorCode::kInvalidModel);

  TensorProto absolute = make_proto("abs", TensorProto::FLOAT, {2});
  set_external(absolute, dir.file("small.bin"), 0, 8);
  error_message([&] { tensor_from_proto(absolute, dir.path()); }, ErrorCode::kInvalidModel);

  TensorProto too_long = make_proto("long", TensorProto::FLOAT, {2});
  set_external(too_long, "small.bin", 4, 8);
  msg = error_message([&] { tensor_from_proto(too_long, dir.path()); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("'long'"), std::string::npos) << msg;

  TensorProto wrong_size = make_proto("wrong", TensorProto::FLOAT, {3});
  set_external(wrong_size, "small.bin", 0, 8);
  msg = error_message([&] { tensor_from_proto(wrong_size, dir.path()); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("12 bytes"), std::string::npos) << msg;

  TensorProto bad_offset = make_proto("bad", TensorProto::FLOAT, {2});
  set_external(bad_offset, "small.bin", -1, -1);
  auto* e = bad_offset.add_external_data();
  e->set_key("offset");
  e->set_value("12abc");
  error_message([&] { tensor_from_proto(bad_offset, dir.path()); }, ErrorCode::kInvalidModel);
}

TEST(TensorPbFile, RoundTripsAndRejectsGarbage) {
  TempDir dir;
  TensorProto p = make_proto("x", TensorProto::INT32, {2, 2});
  for (int v : {1, -2, 3, -4}) p.add_int32_data(v);
  dir.write("input_0.pb", p.SerializeAsString());
  Tensor t = onnx_import::read_tensor_pb_file(dir.file("input_0.pb"));
  EXPECT_EQ(t.dtype(), DataType::kInt32);
  EXPECT_EQ(t.shape(), (Dims{2, 2}));
  EXPECT_EQ(t.to_int64_vector(), (std::vector<int64_t>{1, -2, 3, -4}));

  error_message([&] { onnx_import::read_tensor_pb_file(dir.file("absent.pb")); }, ErrorCode::kIO);
  dir.write("garbage.pb", std::string("\xff\xff\xff\xff\xff", 5));
  error_message([&] { onnx_import::read_tensor_pb_file(dir.file("garbage.pb")); },
                ErrorCode::kInvalidModel);
}

// The ONNX backend test data of test_abs: output_0 must be |input_0| element by element.
TEST(TensorPbFile, ReadsOnnxBackendTestData) {
  const std::string dir = "/usr/share/libonnx-testdata/data/node/test_abs/test_data_set_0";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " is not installed";
  Tensor in = onnx_import::read_tensor_pb_file(dir + "/input_0.pb");
  Tensor out = onnx_import::read_tensor_pb_file(dir + "/output_0.pb");
  ASSERT_EQ(in.dtype(), DataType::kFloat32);
  EXPECT_EQ(in.shape(), (Dims{3, 4, 5}));
  ASSERT_EQ(in.shape(), out.shape());
  bool has_negative = false;
  for (int64_t i = 0; i < in.numel(); ++i) {
    has_negative |= in.as_double(i) < 0;
    EXPECT_EQ(out.as_double(i), std::fabs(in.as_double(i))) << i;
  }
  EXPECT_TRUE(has_negative);
}

}  // namespace
}  // namespace kiln::testing

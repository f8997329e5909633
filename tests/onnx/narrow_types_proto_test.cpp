// TensorProto <-> Tensor for the narrow types: the sub-byte ones are packed in ONNX (low bits
// first) in raw_data, int32_data (one packed byte per entry) and external data, and held one
// element per byte in kiln; the float8 FNUZ / e8m0 types are plain bytes.
#include <gtest/gtest.h>

#include <cmath>

#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

using onnx::TensorProto;
using onnx_import::tensor_from_proto;
using onnx_import::tensor_to_proto;

TensorProto proto_of(int32_t type, const Dims& dims) {
  TensorProto p;
  p.set_name("t");
  p.set_data_type(type);
  for (int64_t d : dims) p.add_dims(d);
  return p;
}

std::vector<uint8_t> codes_of(const Tensor& t) {
  return {t.data<uint8_t>(), t.data<uint8_t>() + t.numel()};
}

TEST(NarrowTensorProto, RawDataIsUnpacked) {
  // int4 [1, -2, 3]: bytes 0xe1 0x03 -> codes 1, 0xe, 3.
  TensorProto i4 = proto_of(TensorProto::INT4, {3});
  i4.set_raw_data(std::string("\xe1\x03", 2));
  const Tensor t = tensor_from_proto(i4, ".");
  EXPECT_EQ(t.dtype(), DataType::kInt4);
  EXPECT_EQ(t.to_int64_vector(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(codes_of(t), (std::vector<uint8_t>{0x1, 0xe, 0x3}));

  // uint2 [1, 2, 3, 0, 3] in 0x39 0x03; int2 reads the same bits as [1, -2, -1, 0, -1].
  TensorProto u2 = proto_of(TensorProto::UINT2, {5});
  u2.set_raw_data(std::string("\x39\x03", 2));
  EXPECT_EQ(tensor_from_proto(u2, ".").to_int64_vector(), (std::vector<int64_t>{1, 2, 3, 0, 3}));
  u2.set_data_type(TensorProto::INT2);
  EXPECT_EQ(tensor_from_proto(u2, ".").to_int64_vector(), (std::vector<int64_t>{1, -2, -1, 0, -1}));

  // float4 [0.5, -6] in one byte 0xf1.
  TensorProto f4 = proto_of(TensorProto::FLOAT4E2M1, {2});
  f4.set_raw_data(std::string("\xf1", 1));
  EXPECT_EQ(tensor_from_proto(f4, ".").to_double_vector(), (std::vector<double>{0.5, -6}));

  // The packed size is checked: 3 int4 values need 2 bytes.
  TensorProto short_data = proto_of(TensorProto::UINT4, {3});
  short_data.set_raw_data(std::string("\x21", 1));
  const std::string msg =
      error_message([&] { tensor_from_proto(short_data, "."); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("2 bytes"), std::string::npos) << msg;
}

TEST(NarrowTensorProto, Int32DataHoldsPackedBytes) {
  TensorProto u4 = proto_of(TensorProto::UINT4, {2, 2});
  u4.add_int32_data(0x21);
  u4.add_int32_data(0xf3);
  EXPECT_EQ(tensor_from_proto(u4, ".").to_int64_vector(), (std::vector<int64_t>{1, 2, 3, 15}));
  // One entry per element is the wrong count for a packed type.
  TensorProto wrong = proto_of(TensorProto::UINT4, {2});
  wrong.add_int32_data(1);
  wrong.add_int32_data(2);
  error_message([&] { tensor_from_proto(wrong, "."); }, ErrorCode::kInvalidModel);

  // FNUZ and e8m0 hold one byte each.
  TensorProto fnuz = proto_of(TensorProto::FLOAT8E4M3FNUZ, {2});
  fnuz.add_int32_data(0x40);
  fnuz.add_int32_data(0x80);
  const Tensor tf = tensor_from_proto(fnuz, ".");
  EXPECT_EQ(tf.dtype(), DataType::kFloat8E4M3FNUZ);
  EXPECT_EQ(tf.as_double(0), 1.0);
  EXPECT_TRUE(std::isnan(tf.as_double(1)));
  TensorProto e8 = proto_of(TensorProto::FLOAT8E8M0, {1});
  e8.set_raw_data(std::string("\x82", 1));
  EXPECT_EQ(tensor_from_proto(e8, ".").as_double(0), 8.0);
}

TEST(NarrowTensorProto, ExternalDataIsUnpacked) {
  TempDir dir;
  dir.write("w.bin", std::string("xx\x7f\x08", 4));  // int4 [-1, 7, -8, 0] after 2 bytes
  TensorProto p = proto_of(TensorProto::INT4, {3});
  p.set_data_location(TensorProto::EXTERNAL);
  for (auto [k, v] : {std::pair<const char*, const char*>{"location", "w.bin"},
                      {"offset", "2"},
                      {"length", "2"}}) {
    auto* e = p.add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  EXPECT_EQ(tensor_from_proto(p, dir.path()).to_int64_vector(), (std::vector<int64_t>{-1, 7, -8}));
}

TEST(NarrowTensorProto, ExportPacksAndRoundTrips) {
  for (DataType type : {DataType::kInt4, DataType::kUInt4, DataType::kInt2, DataType::kUInt2,
                        DataType::kFloat4E2M1}) {
    const int bits = packed_bits(type);
    std::vector<uint8_t> codes;
    for (int i = 0; i < 7; ++i) codes.push_back(uint8_t((i * 5 + 3) & ((1 << bits) - 1)));
    const Tensor t = Tensor::from_vector<uint8_t>(type, {7}, codes);
    TensorProto proto;
    tensor_to_proto(t, "x", proto);
    EXPECT_EQ(proto.raw_data().size(), size_t((7 * bits + 7) / 8)) << to_string(type);
    const Tensor back = tensor_from_proto(proto, ".");
    EXPECT_EQ(back.dtype(), type);
    EXPECT_EQ(codes_of(back), codes) << to_string(type);
  }
  // The first element sits in the low bits.
  const Tensor two = Tensor::from_vector<uint8_t>(DataType::kUInt4, {2}, {0x1, 0x2});
  TensorProto proto;
  tensor_to_proto(two, "x", proto);
  EXPECT_EQ(proto.raw_data(), std::string("\x21", 1));
}

}  // namespace
}  // namespace kiln::testing

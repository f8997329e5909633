// Checked size arithmetic (core/checked_size.h): element counts and byte sizes that overflow,
// and tensors above KILN_MAX_TENSOR_BYTES, are kiln::Errors naming the tensor, never a crash or
// an empty tensor, from the helper through shape resolution, the builder, the executor and the
// ONNX importer.
#include "core/checked_size.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/tensor.h"
#include "kiln/kiln.h"
#include "onnx/onnx.pb.h"
#include "onnx/tensor_proto.h"

namespace kiln {
namespace {

constexpr int64_t k2p32 = int64_t(1) << 32;
constexpr int64_t k2p40 = int64_t(1) << 40;
constexpr int64_t k2p62 = int64_t(1) << 62;

// Runs `f`, which must throw kiln::Error, and returns its message.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-kiln exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "did not throw";
  return {};
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Unsets KILN_MAX_TENSOR_BYTES (and any override) for a test, restoring it afterwards.
class LimitGuard {
 public:
  LimitGuard() {
    if (const char* v = std::getenv("KILN_MAX_TENSOR_BYTES")) saved_ = v, had_ = true;
    unsetenv("KILN_MAX_TENSOR_BYTES");
  }
  ~LimitGuard() {
    set_max_tensor_bytes(0);
    if (had_) {
      setenv("KILN_MAX_TENSOR_BYTES", saved_.c_str(), 1);
    } else {
      unsetenv("KILN_MAX_TENSOR_BYTES");
    }
  }

 private:
  std::string saved_;
  bool had_ = false;
};

TEST(CheckedSize, NumelAndBytes) {
  EXPECT_EQ(checked_numel({}, "t"), 1);
  EXPECT_EQ(checked_numel({2, 3, 4}, "t"), 24);
  EXPECT_EQ(checked_numel({k2p62, 0}, "t"), 0);
  // Empty, but a partial product overflows: refused, so strides never overflow.
  EXPECT_THROW(checked_numel({k2p62, k2p62, 0}, "t"), SizeOverflow);
  EXPECT_THROW(checked_numel({0, k2p62, k2p62}, "t"), SizeOverflow);
  EXPECT_EQ(checked_numel({k2p62}, "t"), k2p62);
  const std::string wrap = error_of([] { checked_numel({k2p32, k2p32, k2p32}, "tensor 'x'"); });
  EXPECT_TRUE(contains(wrap, "tensor 'x'")) << wrap;
  EXPECT_TRUE(contains(wrap, "4294967296x4294967296x4294967296")) << wrap;
  EXPECT_THROW(checked_numel({k2p62, 4}, "t"), SizeOverflow);
  EXPECT_THROW(checked_numel({-1, 2}, "t"), Error);

  EXPECT_EQ(checked_bytes(DataType::kFloat32, 10, "t"), 40u);
  EXPECT_EQ(checked_bytes(DataType::kInt64, k2p32, "t"), size_t(8) << 32);
  EXPECT_THROW(checked_bytes(DataType::kFloat32, k2p62, "t"), SizeOverflow);  // 2^64 bytes
  EXPECT_THROW(checked_mul(size_t(1) << 40, size_t(1) << 40, "t"), SizeOverflow);
  EXPECT_THROW(checked_add(~size_t(0), 1, "t"), SizeOverflow);
}

TEST(CheckedSize, VolumeDetectsOverflow) {
  EXPECT_EQ(volume({2, -1}), -1);
  EXPECT_EQ(volume({k2p62, 0, 1}), 0);
  EXPECT_THROW(volume({k2p62, k2p62, 0}), SizeOverflow);
  EXPECT_THROW(volume({k2p32, k2p32, k2p32}), SizeOverflow);
  EXPECT_THROW(volume({k2p62, k2p62}), Error);
}

TEST(CheckedSize, LimitFromEnvironmentAndSetter) {
  LimitGuard guard;
  EXPECT_GT(max_tensor_bytes(), size_t(1) << 20);  // physical memory
  set_max_tensor_bytes(1000);
  EXPECT_EQ(max_tensor_bytes(), 1000u);
  check_tensor_size(DataType::kFloat32, {250}, "tensor 'a'");
  std::string msg = error_of([] { check_tensor_size(DataType::kFloat32, {251}, "tensor 'a'"); });
  EXPECT_EQ(msg,
            "tensor 'a' of shape 251 float32 needs 1004 bytes, more than the limit of 1000 "
            "bytes (KILN_MAX_TENSOR_BYTES)");
  setenv("KILN_MAX_TENSOR_BYTES", "2000", 1);  // the environment wins over the setter
  EXPECT_EQ(max_tensor_bytes(), 2000u);
  check_tensor_size(DataType::kFloat32, {500}, "tensor 'a'");
  setenv("KILN_MAX_TENSOR_BYTES", "lots", 1);
  EXPECT_TRUE(contains(error_of([] { max_tensor_bytes(); }), "KILN_MAX_TENSOR_BYTES='lots'"));
  unsetenv("KILN_MAX_TENSOR_BYTES");
  set_max_tensor_bytes(0);
  check_tensor_size(DataType::kFloat32, {-1, 5}, "dynamic dims are not checked");
}

TEST(CheckedSize, ExactBytesEvenWhenTheyWrap) {
  LimitGuard guard;
  set_max_tensor_bytes(size_t(24) << 30);
  std::string msg = error_of([] {
    check_tensor_size(DataType::kFloat32, {k2p62}, describe_tensor("y", "Expand_0", "Expand"));
  });
  EXPECT_EQ(msg,
            "tensor 'y' (output of node 'Expand_0', op Expand) of shape 4611686018427387904 "
            "float32 needs 18446744073709551616 bytes, more than the limit of 25769803776 "
            "bytes (KILN_MAX_TENSOR_BYTES)");
  msg = error_of([] {
    check_tensor_size(DataType::kFloat32, {k2p32, k2p32, k2p32}, "tensor 'x'");
  });
  EXPECT_TRUE(contains(msg, "needs 316912650057057350374175801344 bytes")) << msg;  // 2^98
  msg = error_of([] {
    check_tensor_size(DataType::kFloat32, {k2p62, k2p62, k2p62}, "tensor 'x'");
  });
  EXPECT_TRUE(contains(msg, "needs about 3.9")) << msg;  // beyond 128 bits: approximate
}

TEST(CheckedSize, TensorZerosRefusesBeforeAllocating) {
  const std::string msg = error_of([] { Tensor::zeros(DataType::kFloat32, {k2p62}); });
  EXPECT_TRUE(contains(msg, "KILN_MAX_TENSOR_BYTES")) << msg;
  EXPECT_THROW(Tensor::zeros(DataType::kFloat32, {k2p32, k2p32, k2p32}), Error);
  EXPECT_EQ(Tensor::zeros(DataType::kFloat32, {k2p62, 0}).numel(), 0);
  const std::string empty = error_of([] { Tensor::zeros(DataType::kFloat32, {k2p62, k2p62, 0}); });
  EXPECT_TRUE(contains(empty, "product of its non-zero extents overflows")) << empty;
  const Tensor view = Tensor::view(DataType::kFloat32, {k2p32, k2p32, k2p32}, nullptr);
  EXPECT_THROW(view.numel(), SizeOverflow);
}

// Memory for the deferred (data-dependent) output "out".
class VectorAllocator : public OutputAllocator {
 public:
  std::vector<uint8_t> storage;
  void* reallocate_output(const std::string&, void*, uint64_t size, uint64_t) override {
    storage.resize(std::max<uint64_t>(size, 1));
    return storage.data();
  }
  void notify_shape(const std::string&, const Dims&) override {}
  float value() const { return *reinterpret_cast<const float*>(storage.data()); }
};

std::unique_ptr<Engine> build(NetworkDefinition& net, const BuilderConfig& config = {}) {
  StderrLogger logger(Logger::Severity::kError);
  return Builder(logger).build_engine(net, config);
}

ILayer* int64_constant(NetworkDefinition& net, const std::vector<int64_t>& values) {
  return net.add_constant({int64_t(values.size())},
                          Weights{DataType::kInt64, values.data(), int64_t(values.size())});
}

void mark_reduce_max(NetworkDefinition& net, ITensor& x) {
  ILayer* r = net.add_reduce(x, ReduceOperation::kMAX, {}, false);
  r->output(0)->set_name("out");
  net.mark_output(*r->output(0));
}

TEST(CheckedSize, StaticInputDimOf2p62) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {k2p62});
  mark_reduce_max(net, *x);
  const std::string msg = error_of([&] { build(net); });
  EXPECT_TRUE(contains(msg,
                       "input 'x' of shape 4611686018427387904 float32 needs "
                       "18446744073709551616 bytes"))
      << msg;
  EXPECT_TRUE(contains(msg, "KILN_MAX_TENSOR_BYTES")) << msg;
}

TEST(CheckedSize, ProfileInputDimOf2p62) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {-1});
  mark_reduce_max(net, *x);
  BuilderConfig config;
  OptimizationProfile p;
  p.set_dimensions("x", OptProfileSelector::kMIN, {1});
  p.set_dimensions("x", OptProfileSelector::kOPT, {k2p62});
  p.set_dimensions("x", OptProfileSelector::kMAX, {k2p62});
  config.add_optimization_profile(p);
  const std::string msg = error_of([&] { build(net, config); });
  EXPECT_TRUE(contains(msg, "input 'x'")) << msg;
  EXPECT_TRUE(contains(msg, "KILN_MAX_TENSOR_BYTES")) << msg;
}

TEST(CheckedSize, InputWhoseElementCountWraps) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {k2p32, k2p32, k2p32});
  mark_reduce_max(net, *x);
  const std::string msg = error_of([&] { build(net); });
  EXPECT_TRUE(contains(msg, "input 'x' of shape 4294967296x4294967296x4294967296")) << msg;

  NetworkDefinition net2;  // 2^40 x 2^40 through a profile, as `--shapes=x:2^40x2^40`
  ITensor* x2 = net2.add_input("x", DataType::kFloat32, {-1, -1});
  mark_reduce_max(net2, *x2);
  BuilderConfig config;
  OptimizationProfile p;
  p.set_dimensions("x", OptProfileSelector::kMIN, {1, 1});
  p.set_dimensions("x", OptProfileSelector::kOPT, {k2p40, k2p40});
  p.set_dimensions("x", OptProfileSelector::kMAX, {k2p40, k2p40});
  config.add_optimization_profile(p);
  const std::string msg2 = error_of([&] { build(net2, config); });
  EXPECT_TRUE(contains(msg2, "input 'x' of shape 1099511627776x1099511627776")) << msg2;
}

TEST(CheckedSize, ConstantOfShapeFromAConstant) {
  NetworkDefinition net;
  ILayer* shape = int64_constant(net, {k2p62, k2p62});
  ILayer* cos = net.add_layer("ConstantOfShape", {shape->output(0)});
  cos->set_name("fill");
  cos->output(0)->set_name("big");
  mark_reduce_max(net, *cos->output(0));
  const std::string msg = error_of([&] { build(net); });
  EXPECT_TRUE(contains(msg,
                       "tensor 'big' (output of node 'fill', op ConstantOfShape) of shape "
                       "4611686018427387904x4611686018427387904 float32"))
      << msg;
}

TEST(CheckedSize, ConstantOfShapeFromARuntimeShape) {
  // The shape is an engine input: the node is resolved as the engine runs, and refused there.
  NetworkDefinition net;
  ITensor* shape = net.add_input("shape", DataType::kInt64, {2});
  ILayer* cos = net.add_layer("ConstantOfShape", {shape});
  cos->set_name("fill");
  cos->output(0)->set_name("big");
  mark_reduce_max(net, *cos->output(0));
  auto engine = build(net);
  auto ctx = engine->create_execution_context();
  std::vector<int64_t> dims{k2p62, k2p62};
  ctx->set_tensor_address("shape", dims.data());
  VectorAllocator out;
  ctx->set_output_allocator("out", &out);
  const std::string msg = error_of([&] { ctx->execute(); });
  EXPECT_TRUE(contains(msg, "tensor 'big' (output of node 'fill', op ConstantOfShape)")) << msg;
  EXPECT_TRUE(contains(msg, "KILN_MAX_TENSOR_BYTES")) << msg;
  // A sane shape still runs on the same context.
  dims = {2, 3};
  ctx->execute();
  EXPECT_EQ(out.value(), 0.0f);
}

TEST(CheckedSize, ExpandTo2p62ThenReduceMax) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1});
  ILayer* shape = int64_constant(net, {k2p62});
  ILayer* expand = net.add_layer("Expand", {x, shape->output(0)});
  expand->set_name("Expand_0");
  expand->output(0)->set_name("y");
  mark_reduce_max(net, *expand->output(0));
  const std::string msg = error_of([&] { build(net); });
  EXPECT_TRUE(contains(msg,
                       "tensor 'y' (output of node 'Expand_0', op Expand) of shape "
                       "4611686018427387904 float32 needs 18446744073709551616 bytes, more "
                       "than the limit of "))
      << msg;
}

TEST(CheckedSize, ExpandToARuntimeShapeThenReduceMax) {
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1});
  ITensor* shape = net.add_input("shape", DataType::kInt64, {1});
  ILayer* expand = net.add_layer("Expand", {x, shape});
  expand->set_name("Expand_0");
  expand->output(0)->set_name("y");
  mark_reduce_max(net, *expand->output(0));
  auto engine = build(net);
  auto ctx = engine->create_execution_context();
  float xv = 3.5f;
  std::vector<int64_t> dims{k2p62};
  ctx->set_tensor_address("x", &xv);
  ctx->set_tensor_address("shape", dims.data());
  VectorAllocator out;
  ctx->set_output_allocator("out", &out);
  const std::string msg = error_of([&] { ctx->execute(); });
  EXPECT_TRUE(contains(msg, "tensor 'y' (output of node 'Expand_0', op Expand)")) << msg;
  dims = {4};
  ctx->execute();
  EXPECT_EQ(out.value(), 3.5f);
}

TEST(CheckedSize, LimitBelowAnActivationNamesIt) {
  LimitGuard guard;
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1});
  ILayer* shape = int64_constant(net, {1000});
  ILayer* expand = net.add_layer("Expand", {x, shape->output(0)});
  expand->set_name("Expand_0");
  expand->output(0)->set_name("y");
  mark_reduce_max(net, *expand->output(0));
  setenv("KILN_MAX_TENSOR_BYTES", "3999", 1);
  const std::string msg = error_of([&] { build(net); });
  EXPECT_EQ(msg,
            "tensor 'y' (output of node 'Expand_0', op Expand) of shape 1000 float32 needs "
            "4000 bytes, more than the limit of 3999 bytes (KILN_MAX_TENSOR_BYTES)");
  setenv("KILN_MAX_TENSOR_BYTES", "4000", 1);
  EXPECT_NE(build(net), nullptr);
}

TEST(CheckedSize, OnnxModelWithConstantOfShape) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name("g");
  onnx::TensorProto* shape = g->add_initializer();
  shape->set_name("shape");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(k2p62);
  shape->add_int64_data(k2p62);
  onnx::NodeProto* cos = g->add_node();
  cos->set_op_type("ConstantOfShape");
  cos->set_name("fill");
  cos->add_input("shape");
  cos->add_output("big");
  onnx::NodeProto* reduce = g->add_node();
  reduce->set_op_type("ReduceMax");
  reduce->set_name("reduce");
  reduce->add_input("big");
  reduce->add_output("out");
  onnx::AttributeProto* keep = reduce->add_attribute();
  keep->set_name("keepdims");
  keep->set_type(onnx::AttributeProto::INT);
  keep->set_i(0);
  onnx::ValueInfoProto* out = g->add_output();
  out->set_name("out");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  const std::string bytes = model.SerializeAsString();

  StderrLogger logger(Logger::Severity::kError);
  Builder builder(logger);
  NetworkDefinition net;
  OnnxParser parser(net, logger);
  parser.parse(bytes.data(), bytes.size());
  const std::string msg = error_of([&] { builder.build_engine(net, BuilderConfig{}); });
  EXPECT_TRUE(contains(msg, "tensor 'big' (output of node 'fill', op ConstantOfShape)")) << msg;
}

TEST(CheckedSize, OnnxInitializerWhoseSizeWraps) {
  onnx::TensorProto proto;
  proto.set_name("w");
  proto.set_data_type(onnx::TensorProto::FLOAT);
  for (int i = 0; i < 3; ++i) proto.add_dims(k2p32);
  proto.set_raw_data("");
  std::string msg = error_of([&] { onnx_import::tensor_from_proto(proto, "."); });
  EXPECT_TRUE(contains(msg, "tensor 'w'")) << msg;
  onnx::TensorProto big;
  big.set_name("w2");
  big.set_data_type(onnx::TensorProto::FLOAT);
  big.add_dims(k2p62);
  big.set_raw_data("");
  msg = error_of([&] { onnx_import::tensor_from_proto(big, "."); });
  EXPECT_TRUE(contains(msg, "tensor 'w2'")) << msg;
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// Found by the plan_reader fuzzer (UBSan: 7.09e22 outside the range of long): an extent
// computed in floating point must be checked before it becomes an int64.
TEST(CheckedSize, ResizeScaleWhoseExtentIsNotAnInt64) {
  EXPECT_EQ(checked_int64_from_double(-0x1p63, "x"), INT64_MIN);
  EXPECT_EQ(checked_int64_from_double(12.0, "x"), 12);
  for (double bad : {0x1p63, 7.09478e22, -1e300, std::nan(""), HUGE_VAL}) {
    EXPECT_THROW(checked_int64_from_double(bad, "x"), SizeOverflow) << bad;
  }
  NetworkDefinition net;
  ITensor* x = net.add_input("x", DataType::kFloat32, {1, 1, 4, 4});
  ILayer* resize = net.add_resize(*x, ResizeMode::kNEAREST, {1.0f, 1.0f, 1e30f, 1.0f});
  mark_reduce_max(net, *resize->output(0));
  const std::string msg = error_of([&] { build(net); });
  EXPECT_TRUE(contains(msg, "Resize")) << msg;
  EXPECT_TRUE(contains(msg, "is not a 64-bit integer")) << msg;
}

TEST(CheckedSize, RangeWhoseLengthIsNotAnInt64) {
  NetworkDefinition net;
  const float start = 0, limit = 1e30f, delta = 1e-10f;
  ILayer* s = net.add_constant({}, Weights{DataType::kFloat32, &start, 1});
  ILayer* l = net.add_constant({}, Weights{DataType::kFloat32, &limit, 1});
  ILayer* d = net.add_constant({}, Weights{DataType::kFloat32, &delta, 1});
  ILayer* range = net.add_layer("Range", {s->output(0), l->output(0), d->output(0)});
  mark_reduce_max(net, *range->output(0));
  const std::string msg = error_of([&] { build(net); });
  EXPECT_TRUE(contains(msg, "Range")) << msg;
  EXPECT_TRUE(contains(msg, "is not a 64-bit integer")) << msg;
}

}  // namespace
}  // namespace kiln

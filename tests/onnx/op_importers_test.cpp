// Per-op importers: older opsets rewritten into the newest form (attributes that became
// inputs, changed semantics), and the registry's coverage.
#include <gtest/gtest.h>

#include <map>

#include "onnx/op_importer.h"
#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

using onnx::TensorProto;

// One-node model: inputs named in1.. as float graph inputs of the given shapes.
struct OneNode {
  explicit OneNode(int64_t opset, const std::string& op, std::vector<DimSpec> input_shapes,
                   int num_outputs = 1)
      : m(opset) {
    std::vector<std::string> ins, outs;
    for (size_t i = 0; i < input_shapes.size(); ++i) {
      ins.push_back("in" + std::to_string(i));
      m.input(ins.back(), input_shapes[i]);
    }
    for (int i = 0; i < num_outputs; ++i) outs.push_back("out" + std::to_string(i));
    node = m.node(op, ins, outs, "n");
    for (const auto& o : outs) m.output(o);
  }
  std::unique_ptr<ir::Graph> import() { return m.import(); }
  ModelBuilder m;
  onnx::NodeProto* node;
};

// The only node of `op` in the graph.
const ir::Node& the(const ir::Graph& g, const std::string& op) {
  const ir::Node* n = find_node(g, op);
  if (n == nullptr) throw std::runtime_error("no " + op + " node");
  EXPECT_EQ(find_node(g, op, 1), nullptr) << "more than one " << op;
  return *n;
}

TEST(ImportReshape, Opset4ShapeAttributeBecomesInput) {
  OneNode t(4, "Reshape", {{"2", "6"}});
  set_ints(t.node, "shape", {3, -1});
  auto g = t.import();
  const ir::Node& r = the(*g, "Reshape");
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[0], g->inputs()[0]);
  EXPECT_EQ(constant_ints(r.inputs[1]), (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(r.inputs[1]->constant->dtype(), DataType::kInt64);
  EXPECT_FALSE(r.has_attr("shape"));
  EXPECT_EQ(r.outputs[0]->name, "out0");
  EXPECT_EQ(g->outputs()[0], r.outputs[0]);
}

TEST(ImportReshape, Opset14PassesThrough) {
  ModelBuilder m(14);
  m.input("x", {"2", "6"});
  m.initializer("shape", i64_tensor({2}, {0, -1}));
  auto* n = m.node("Reshape", {"x", "shape"}, {"y"});
  set_int(n, "allowzero", 1);
  m.output("y");
  auto g = m.import();
  const ir::Node& r = the(*g, "Reshape");
  EXPECT_EQ(r.inputs[1], g->find_value("shape"));
  EXPECT_EQ(r.attr_int("allowzero"), 1);
}

TEST(ImportSqueeze, Opset11AxesAttributeBecomesInput) {
  OneNode sq(11, "Squeeze", {{"1", "3", "1"}});
  set_ints(sq.node, "axes", {0, -1});
  auto g = sq.import();
  const ir::Node& s = the(*g, "Squeeze");
  ASSERT_EQ(s.inputs.size(), 2u);
  EXPECT_EQ(constant_ints(s.inputs[1]), (std::vector<int64_t>{0, -1}));
  EXPECT_TRUE(s.attrs.empty());

  OneNode all(11, "Squeeze", {{"1", "3", "1"}});  // no axes: every size-1 dim, no input
  EXPECT_EQ(the(*all.import(), "Squeeze").inputs.size(), 1u);

  OneNode un(12, "Unsqueeze", {{"3"}});
  set_ints(un.node, "axes", {0, 2});
  auto gu = un.import();
  EXPECT_EQ(constant_ints(the(*gu, "Unsqueeze").inputs[1]), (std::vector<int64_t>{0, 2}));

  OneNode missing(12, "Unsqueeze", {{"3"}});
  std::string msg = error_message([&] { missing.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("'axes'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ONNX node 'n' (Unsqueeze)"), std::string::npos) << msg;
}

TEST(ImportSlice, Opset9AttributesBecomeInputs) {
  OneNode t(9, "Slice", {{"4", "6"}});
  set_ints(t.node, "starts", {1, 0});
  set_ints(t.node, "ends", {3, -1});
  set_ints(t.node, "axes", {0, 1});
  auto g = t.import();
  const ir::Node& s = the(*g, "Slice");
  ASSERT_EQ(s.inputs.size(), 4u);
  EXPECT_EQ(constant_ints(s.inputs[1]), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(constant_ints(s.inputs[2]), (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(constant_ints(s.inputs[3]), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(s.attrs.empty());

  OneNode no_axes(1, "Slice", {{"4"}});
  set_ints(no_axes.node, "starts", {1});
  set_ints(no_axes.node, "ends", {2});
  EXPECT_EQ(the(*no_axes.import(), "Slice").inputs.size(), 3u);
}

TEST(ImportSplit, OlderOpsets) {
  // Opset 11: sizes in the `split` attribute.
  OneNode sized(11, "Split", {{"6", "2"}}, 2);
  set_ints(sized.node, "split", {2, 4});
  set_int(sized.node, "axis", 0);
  auto g = sized.import();
  const ir::Node& s = the(*g, "Split");
  ASSERT_EQ(s.inputs.size(), 2u);
  EXPECT_EQ(constant_ints(s.inputs[1]), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(s.attr_int("axis"), 0);
  EXPECT_FALSE(s.has_attr("num_outputs"));
  EXPECT_EQ(s.outputs.size(), 2u);

  // No sizes: an even split into the node's outputs, which opset 18 says with num_outputs.
  for (int64_t opset : {2, 11, 13, 17}) {
    OneNode even(opset, "Split", {{"6"}}, 3);
    auto ge = even.import();
    const ir::Node& e = the(*ge, "Split");
    EXPECT_EQ(e.inputs.size(), 1u) << opset;
    EXPECT_EQ(e.attr_int("num_outputs"), 3) << opset;
    EXPECT_EQ(e.outputs.size(), 3u);
  }

  // Opset 13: sizes as an input, kept.
  ModelBuilder m(13);
  m.input("x", {"6"});
  m.initializer("sizes", i64_tensor({2}, {1, 5}));
  m.node("Split", {"x", "sizes"}, {"a", "b"});
  m.output("a");
  m.output("b");
  auto g13 = m.import();
  EXPECT_EQ(the(*g13, "Split").inputs[1], g13->find_value("sizes"));

  // Opset 18 passes through.
  OneNode newest(18, "Split", {{"6"}}, 2);
  set_int(newest.node, "num_outputs", 2);
  EXPECT_EQ(the(*newest.import(), "Split").attr_int("num_outputs"), 2);
}

TEST(ImportClip, Opset6MinMaxAttributesBecomeInputsOfTheInputType) {
  ModelBuilder m(6);
  m.input("x", {"4"}, TensorProto::FLOAT16);
  auto* n = m.node("Clip", {"x"}, {"y"}, "clip");
  set_float(n, "min", -1.5f);
  set_float(n, "max", 2.0f);
  m.output("y");
  auto g = m.import();
  const ir::Node& c = the(*g, "Clip");
  ASSERT_EQ(c.inputs.size(), 3u);
  for (int i : {1, 2}) {
    ASSERT_TRUE(c.inputs[size_t(i)]->is_constant());
    EXPECT_EQ(c.inputs[size_t(i)]->constant->dtype(), DataType::kFloat16);
    EXPECT_EQ(c.inputs[size_t(i)]->constant->rank(), 0u);
  }
  EXPECT_EQ(constant_doubles(c.inputs[1]), (std::vector<double>{-1.5}));
  EXPECT_EQ(constant_doubles(c.inputs[2]), (std::vector<double>{2.0}));
  EXPECT_TRUE(c.attrs.empty());
}

TEST(ImportClip, OnlyMaxAndUnknownInputType) {
  // The input comes from a node: its type is known only at shape inference, so the bound is a
  // float32 constant cast with CastLike; the absent min is an omitted input.
  ModelBuilder m(10);
  m.input("x", {"4"});
  m.node("Relu", {"x"}, {"r"});
  auto* n = m.node("Clip", {"r"}, {"y"}, "clip");
  set_float(n, "max", 6.0f);
  m.output("y");
  auto g = m.import();
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Relu", "CastLike", "Clip"}));
  const ir::Node& c = the(*g, "Clip");
  ASSERT_EQ(c.inputs.size(), 3u);
  EXPECT_EQ(c.inputs[1], nullptr);
  const ir::Node* cast = c.inputs[2]->producer;
  ASSERT_NE(cast, nullptr);
  EXPECT_EQ(cast->op, "CastLike");
  EXPECT_EQ(constant_doubles(cast->inputs[0]), (std::vector<double>{6.0}));
  EXPECT_EQ(cast->inputs[0]->constant->dtype(), DataType::kFloat32);
  EXPECT_EQ(cast->inputs[1], c.inputs[0]);

  OneNode plain(6, "Clip", {{"4"}});
  EXPECT_EQ(the(*plain.import(), "Clip").inputs.size(), 1u);
}

TEST(ImportPad, Opset2AttributesBecomeInputs) {
  OneNode t(2, "Pad", {{"2", "3"}});
  set_ints(t.node, "pads", {0, 1, 0, 2});
  set_float(t.node, "value", 1.5f);
  auto g = t.import();
  const ir::Node& p = the(*g, "Pad");
  ASSERT_EQ(p.inputs.size(), 3u);
  EXPECT_EQ(constant_ints(p.inputs[1]), (std::vector<int64_t>{0, 1, 0, 2}));
  EXPECT_EQ(constant_doubles(p.inputs[2]), (std::vector<double>{1.5}));
  EXPECT_EQ(p.inputs[2]->constant->dtype(), DataType::kFloat32);
  EXPECT_EQ(p.attr_string("mode"), "constant");

  // Zero fill (the default) and non-constant modes need no constant_value; opset 1 said
  // `paddings`.
  OneNode reflect(1, "Pad", {{"4"}});
  set_ints(reflect.node, "paddings", {1, 1});
  set_string(reflect.node, "mode", "reflect");
  set_float(reflect.node, "value", 3.0f);
  auto gr = reflect.import();
  const ir::Node& r = the(*gr, "Pad");
  EXPECT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(constant_ints(r.inputs[1]), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r.attr_string("mode"), "reflect");
}

TEST(ImportReduce, AxesAttributeBecomesInputBeforeTheOpsetThatMovedIt) {
  struct Case {
    const char* op;
    int64_t opset;
    bool converted;
  };
  for (const Case& c :
       {Case{"ReduceSum", 11, true}, Case{"ReduceSum", 13, false}, Case{"ReduceMean", 13, true},
        Case{"ReduceMean", 17, true}, Case{"ReduceMax", 18, false}, Case{"ReduceL2", 11, true},
        Case{"ReduceProd", 1, true}, Case{"ReduceMin", 12, true}}) {
    SCOPED_TRACE(std::string(c.op) + " opset " + std::to_string(c.opset));
    OneNode t(c.opset, c.op, {{"2", "3", "4"}});
    set_int(t.node, "keepdims", 0);
    if (c.converted) set_ints(t.node, "axes", {1, -1});
    auto g = t.import();
    const ir::Node& r = the(*g, c.op);
    EXPECT_EQ(r.attr_int("keepdims"), 0);
    EXPECT_FALSE(r.has_attr("axes"));
    if (c.converted) {
      ASSERT_EQ(r.inputs.size(), 2u);
      EXPECT_EQ(constant_ints(r.inputs[1]), (std::vector<int64_t>{1, -1}));
    } else {
      EXPECT_EQ(r.inputs.size(), 1u);
    }
  }
  // Without axes every axis is reduced: no axes input.
  OneNode all(13, "ReduceMean", {{"2", "3"}});
  EXPECT_EQ(the(*all.import(), "ReduceMean").inputs.size(), 1u);
}

TEST(ImportTopK, Opset9KBecomesInput) {
  OneNode t(9, "TopK", {{"10"}}, 2);
  set_int(t.node, "k", 3);
  set_int(t.node, "axis", -1);
  auto g = t.import();
  const ir::Node& k = the(*g, "TopK");
  ASSERT_EQ(k.inputs.size(), 2u);
  EXPECT_EQ(k.inputs[1]->constant->shape(), (Dims{1}));
  EXPECT_EQ(constant_ints(k.inputs[1]), (std::vector<int64_t>{3}));
  EXPECT_EQ(k.attr_int("axis"), -1);
  EXPECT_FALSE(k.has_attr("k"));
  EXPECT_EQ(k.outputs.size(), 2u);
}

TEST(ImportSoftmax, Opset11CoercesTo2DThroughFlatten) {
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    SCOPED_TRACE(op);
    ModelBuilder m(11);
    m.input("x", {"batch", "3", "4"});
    m.node("Relu", {"x"}, {"r"});  // rank unknown at import
    auto* n = m.node(op, {"r"}, {"y"}, "sm");
    set_int(n, "axis", 1);
    m.output("y");
    auto g = m.import();
    EXPECT_EQ(op_sequence(*g),
              (std::vector<std::string>{"Relu", "Shape", "Flatten", op, "Reshape"}));
    const ir::Node& shape = the(*g, "Shape");
    const ir::Node& flatten = the(*g, "Flatten");
    const ir::Node& soft = the(*g, op);
    const ir::Node& reshape = the(*g, "Reshape");
    const ir::Value* r = find_node(*g, "Relu")->outputs[0];
    EXPECT_EQ(shape.inputs[0], r);
    EXPECT_EQ(flatten.inputs[0], r);
    EXPECT_EQ(flatten.attr_int("axis"), 1);
    EXPECT_EQ(soft.inputs[0], flatten.outputs[0]);
    EXPECT_EQ(soft.attr_int("axis"), -1);
    EXPECT_EQ(soft.name, "sm");
    EXPECT_EQ(reshape.inputs, (std::vector<ir::Value*>{soft.outputs[0], shape.outputs[0]}));
    EXPECT_EQ(g->outputs()[0], reshape.outputs[0]);
    EXPECT_EQ(g->outputs()[0]->name, "y");
  }
}

TEST(ImportSoftmax, LastAxisNeedsNoReshape) {
  OneNode last(11, "Softmax", {{"2", "3", "4"}});
  set_int(last.node, "axis", 2);  // the input's rank is known: axis 2 is the last
  auto g = last.import();
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Softmax"}));
  EXPECT_EQ(the(*g, "Softmax").attr_int("axis"), -1);

  OneNode minus_one(12, "LogSoftmax", {{"?"}});
  set_int(minus_one.node, "axis", -1);
  EXPECT_EQ(op_sequence(*minus_one.import()), (std::vector<std::string>{"LogSoftmax"}));

  // Opset 1's default axis is 1, which is the last axis of a 2-D input.
  OneNode rank2(9, "Softmax", {{"2", "5"}});
  EXPECT_EQ(op_sequence(*rank2.import()), (std::vector<std::string>{"Softmax"}));

  OneNode newest(13, "Softmax", {{"2", "3", "4"}});
  set_int(newest.node, "axis", 1);
  auto gn = newest.import();
  EXPECT_EQ(op_sequence(*gn), (std::vector<std::string>{"Softmax"}));
  EXPECT_EQ(the(*gn, "Softmax").attr_int("axis"), 1);
}

TEST(ImportConstant, ValuesBecomeConstantsWithoutNodes) {
  ModelBuilder m(13);
  auto* t = m.node("Constant", {}, {"t"});
  set_tensor(t, "value", f32_tensor({2}, {1.5f, 2.5f}));
  auto* f = m.node("Constant", {}, {"f"});
  set_float(f, "value_float", 0.25f);
  auto* fs = m.node("Constant", {}, {"fs"});
  set_floats(fs, "value_floats", {1, 2, 3});
  auto* i = m.node("Constant", {}, {"i"});
  set_int(i, "value_int", -4);
  auto* is = m.node("Constant", {}, {"is"});
  set_ints(is, "value_ints", {5, 6});
  m.node("Add", {"t", "f"}, {"sum"});
  for (const char* o : {"sum", "fs", "i", "is"}) m.output(o);
  auto g = m.import();
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Add"}));
  const ir::Node& add = the(*g, "Add");
  EXPECT_EQ(constant_doubles(add.inputs[0]), (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(add.inputs[1]->constant->rank(), 0u);
  EXPECT_EQ(constant_doubles(add.inputs[1]), (std::vector<double>{0.25}));
  EXPECT_EQ(g->find_value("fs")->constant->dtype(), DataType::kFloat32);
  EXPECT_EQ(constant_doubles(g->find_value("fs")), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(g->find_value("i")->constant->dtype(), DataType::kInt64);
  EXPECT_EQ(g->find_value("i")->constant->rank(), 0u);
  EXPECT_EQ(constant_ints(g->find_value("i")), (std::vector<int64_t>{-4}));
  EXPECT_EQ(constant_ints(g->find_value("is")), (std::vector<int64_t>{5, 6}));
}

TEST(ImportConstant, StringsAndMalformedConstants) {
  ModelBuilder strings(13);
  auto* s = strings.node("Constant", {}, {"s"}, "words");
  set_string(s, "value_string", "hello");
  strings.output("s");
  std::string msg = error_message([&] { strings.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("'words'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("string constants"), std::string::npos) << msg;

  ModelBuilder two(13);
  auto* t = two.node("Constant", {}, {"c"}, "two_values");
  set_int(t, "value_int", 1);
  set_float(t, "value_float", 1);
  two.output("c");
  error_message([&] { two.import(); }, ErrorCode::kInvalidModel);
}

TEST(ImportCast, OnnxTypeNumbersBecomeKilnDataTypes) {
  OneNode cast(13, "Cast", {{"3"}});
  set_int(cast.node, "to", TensorProto::FLOAT16);
  EXPECT_EQ(the(*cast.import(), "Cast").attr_int("to"), int64_t(DataType::kFloat16));

  OneNode fp8(19, "Cast", {{"3"}});
  set_int(fp8.node, "to", TensorProto::FLOAT8E4M3FN);
  set_int(fp8.node, "saturate", 1);
  auto gf = fp8.import();
  EXPECT_EQ(the(*gf, "Cast").attr_int("to"), int64_t(DataType::kFloat8E4M3));
  EXPECT_EQ(the(*gf, "Cast").attr_int("saturate"), 1);

  OneNode named(1, "Cast", {{"3"}});  // opset 1 named the type
  set_string(named.node, "to", "INT64");
  EXPECT_EQ(the(*named.import(), "Cast").attr_int("to"), int64_t(DataType::kInt64));

  OneNode eye(9, "EyeLike", {{"3", "3"}});
  set_int(eye.node, "dtype", TensorProto::INT32);
  EXPECT_EQ(the(*eye.import(), "EyeLike").attr_int("dtype"), int64_t(DataType::kInt32));

  OneNode rnd(1, "RandomUniformLike", {{"3"}});
  set_int(rnd.node, "dtype", TensorProto::DOUBLE);
  EXPECT_EQ(the(*rnd.import(), "RandomUniformLike").attr_int("dtype"), int64_t(DataType::kFloat64));

  OneNode to_text(13, "Cast", {{"3"}});
  set_int(to_text.node, "to", TensorProto::STRING);
  std::string msg = error_message([&] { to_text.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("STRING"), std::string::npos) << msg;
}

TEST(ImportResize, Resize10AndUpsampleUseTheirOldCoordinateRules) {
  // Resize-10 mapped x_in = x_out / scale and truncated for nearest when enlarging
  // (onnxruntime rounds up instead on shrinking axes).
  ModelBuilder m(10);
  m.input("x", {"1", "1", "4", "4"});
  m.initializer("scales", f32_tensor({4}, {1, 1, 2, 2}));
  m.node("Resize", {"x", "scales"}, {"y"}, "up");
  m.output("y");
  auto g = m.import();
  const ir::Node& r = the(*g, "Resize");
  ASSERT_EQ(r.inputs.size(), 3u);
  EXPECT_EQ(r.inputs[1], nullptr);  // no roi
  EXPECT_EQ(r.inputs[2], g->find_value("scales"));
  EXPECT_EQ(r.attr_string("mode"), "nearest");
  EXPECT_EQ(r.attr_string("coordinate_transformation_mode"), "asymmetric");
  EXPECT_EQ(r.attr_string("nearest_mode"), "floor");

  ModelBuilder down(10);
  down.input("x", {"1", "1", "4", "4"});
  down.initializer("scales", f32_tensor({4}, {1, 1, 0.5f, 0.5f}));
  down.node("Resize", {"x", "scales"}, {"y"});
  down.output("y");
  EXPECT_EQ(the(*down.import(), "Resize").attr_string("nearest_mode"), "ceil");

  ModelBuilder mixed(10);
  mixed.input("x", {"1", "1", "4", "4"});
  mixed.initializer("scales", f32_tensor({4}, {1, 1, 0.5f, 2}));
  mixed.node("Resize", {"x", "scales"}, {"y"}, "mixed");
  mixed.output("y");
  std::string msg = error_message([&] { mixed.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("'mixed'"), std::string::npos) << msg;

  // Upsample-7: scales attribute, linear mode.
  OneNode up7(7, "Upsample", {{"1", "1", "2", "2"}});
  set_floats(up7.node, "scales", {1, 1, 2, 3});
  set_string(up7.node, "mode", "linear");
  auto g7 = up7.import();
  const ir::Node& r7 = the(*g7, "Resize");
  EXPECT_EQ(constant_doubles(r7.inputs[2]), (std::vector<double>{1, 1, 2, 3}));
  EXPECT_EQ(r7.inputs[2]->constant->dtype(), DataType::kFloat32);
  EXPECT_EQ(r7.attr_string("mode"), "linear");
  EXPECT_EQ(r7.attr_string("coordinate_transformation_mode"), "asymmetric");
  EXPECT_FALSE(r7.has_attr("nearest_mode"));

  // Upsample-9: scales input.
  ModelBuilder up9(9);
  up9.input("x", {"1", "1", "2", "2"});
  up9.initializer("s", f32_tensor({4}, {1, 1, 2, 2}));
  up9.node("Upsample", {"x", "s"}, {"y"});
  up9.output("y");
  auto g9 = up9.import();
  EXPECT_EQ(op_sequence(*g9), (std::vector<std::string>{"Resize"}));
  EXPECT_EQ(the(*g9, "Resize").inputs[2], g9->find_value("s"));
}

TEST(ImportResize, Opset11EmptyRoiAndScalesAreOmitted) {
  ModelBuilder m(11);
  m.input("x", {"1", "1", "4", "4"});
  m.initializer("roi", f32_tensor({0}, {}));
  m.initializer("scales", f32_tensor({0}, {}));
  m.initializer("sizes", i64_tensor({4}, {1, 1, 8, 8}));
  auto* n = m.node("Resize", {"x", "roi", "scales", "sizes"}, {"y"});
  set_string(n, "coordinate_transformation_mode", "align_corners");
  m.output("y");
  auto g = m.import();
  const ir::Node& r = the(*g, "Resize");
  ASSERT_EQ(r.inputs.size(), 4u);
  EXPECT_EQ(r.inputs[1], nullptr);
  EXPECT_EQ(r.inputs[2], nullptr);
  EXPECT_EQ(r.inputs[3], g->find_value("sizes"));
  EXPECT_EQ(r.attr_string("coordinate_transformation_mode"), "align_corners");
}

TEST(ImportDropout, RatioAttributeAndOldMask) {
  OneNode d10(10, "Dropout", {{"4"}});
  set_float(d10.node, "ratio", 0.25f);
  auto g = d10.import();
  const ir::Node& d = the(*g, "Dropout");
  ASSERT_EQ(d.inputs.size(), 2u);
  EXPECT_EQ(constant_doubles(d.inputs[1]), (std::vector<double>{0.25}));
  EXPECT_TRUE(d.attrs.empty());
  EXPECT_EQ(d.outputs.size(), 1u);

  // Opset 6: is_test dropped; the mask had the input's type, so a used mask gets a CastLike.
  OneNode d6(6, "Dropout", {{"4"}}, 2);
  set_int(d6.node, "is_test", 1);
  auto g6 = d6.import();
  EXPECT_EQ(op_sequence(*g6), (std::vector<std::string>{"Dropout", "CastLike"}));
  const ir::Node& drop = the(*g6, "Dropout");
  const ir::Node& cast = the(*g6, "CastLike");
  EXPECT_EQ(constant_doubles(drop.inputs[1]), (std::vector<double>{0.5}));
  EXPECT_EQ(cast.inputs, (std::vector<ir::Value*>{drop.outputs[1], g6->inputs()[0]}));
  EXPECT_EQ(g6->outputs()[1], cast.outputs[0]);
  EXPECT_EQ(g6->outputs()[1]->name, "out1");

  // An unused mask is dropped.
  ModelBuilder m(7);
  m.input("x", {"4"});
  m.node("Dropout", {"x"}, {"y", "unused_mask"});
  m.output("y");
  auto gu = m.import();
  EXPECT_EQ(op_sequence(*gu), (std::vector<std::string>{"Dropout"}));
  EXPECT_EQ(the(*gu, "Dropout").outputs.size(), 1u);
}

TEST(ImportBatchNormalization, LegacyAttributesAndOutputs) {
  ModelBuilder m(7);
  m.input("x", {"1", "2", "3", "3"});
  for (const char* p : {"scale", "bias", "mean", "var"}) {
    m.initializer(p, f32_tensor({2}, {1, 2}));
  }
  auto* n = m.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"},
                   {"y", "running_mean", "running_var", "saved_mean", "saved_var"}, "bn");
  set_int(n, "spatial", 1);
  set_float(n, "epsilon", 1e-3f);
  set_float(n, "momentum", 0.9f);
  m.output("y");
  m.output("running_mean");  // at inference: the mean input, unchanged
  auto g = m.import();
  const ir::Node& bn = the(*g, "BatchNormalization");
  EXPECT_EQ(bn.inputs.size(), 5u);
  EXPECT_EQ(bn.outputs.size(), 1u);
  EXPECT_FALSE(bn.has_attr("spatial"));
  EXPECT_EQ(bn.attr_float("epsilon"), double(1e-3f));
  EXPECT_EQ(bn.attr_float("momentum"), double(0.9f));
  ASSERT_EQ(g->outputs().size(), 2u);
  // The model promises an output named running_mean: an Identity of the mean keeps the name.
  EXPECT_EQ(g->outputs()[1]->name, "running_mean");
  ASSERT_NE(g->outputs()[1]->producer, nullptr);
  EXPECT_EQ(g->outputs()[1]->producer->op, "Identity");
  EXPECT_EQ(g->outputs()[1]->producer->inputs[0], g->find_value("mean"));

  ModelBuilder spatial(8);
  spatial.input("x", {"1", "2", "3"});
  for (const char* p : {"scale", "bias", "mean", "var"}) {
    spatial.initializer(p, f32_tensor({2, 3}, {1, 2, 3, 4, 5, 6}));
  }
  auto* s = spatial.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"},
                         "per_element");
  set_int(s, "spatial", 0);
  spatial.output("y");
  std::string msg = error_message([&] { spatial.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("spatial=0"), std::string::npos) << msg;

  ModelBuilder saved(9);
  saved.input("x", {"1", "2"});
  for (const char* p : {"scale", "bias", "mean", "var"})
    saved.initializer(p, f32_tensor({2}, {1, 2}));
  saved.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"},
             {"y", "", "", "saved_mean"}, "training");
  saved.output("saved_mean");
  msg = error_message([&] { saved.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("exists only in training"), std::string::npos) << msg;
}

TEST(ImportBinaryOps, Opset6LegacyBroadcastAlignsAtAxis) {
  // A: [2,3,4,5], B: [3,4] at axis 1 -> B viewed as [3,4,1].
  ModelBuilder m(6);
  m.input("a", {"2", "3", "4", "5"});
  m.initializer("b", f32_tensor({3, 4}, std::vector<float>(12, 1.0f)));
  auto* n = m.node("Add", {"a", "b"}, {"y"});
  set_int(n, "broadcast", 1);
  set_int(n, "axis", 1);
  m.output("y");
  auto g = m.import();
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Add"}));
  const ir::Node& add = the(*g, "Add");
  EXPECT_TRUE(add.attrs.empty());
  ASSERT_TRUE(add.inputs[1]->is_constant());
  EXPECT_EQ(add.inputs[1]->constant->shape(), (Dims{3, 4, 1}));

  // B a graph input of known rank: an Unsqueeze adds the trailing dims.
  ModelBuilder u(6);
  u.input("a", {"2", "3", "4", "5"});
  u.input("b", {"3"});
  auto* un = u.node("Mul", {"a", "b"}, {"y"});
  set_int(un, "broadcast", 1);
  set_int(un, "axis", 1);
  u.output("y");
  auto gu = u.import();
  EXPECT_EQ(op_sequence(*gu), (std::vector<std::string>{"Unsqueeze", "Mul"}));
  EXPECT_EQ(constant_ints(the(*gu, "Unsqueeze").inputs[1]), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(the(*gu, "Mul").inputs[1], the(*gu, "Unsqueeze").outputs[0]);

  // Without axis the alignment is numpy's: nothing to do.
  ModelBuilder p(6);
  p.input("a", {"2", "3"});
  p.input("b", {"3"});
  auto* pn = p.node("Sub", {"a", "b"}, {"y"});
  set_int(pn, "broadcast", 1);
  p.output("y");
  auto gp = p.import();
  EXPECT_EQ(op_sequence(*gp), (std::vector<std::string>{"Sub"}));
  EXPECT_EQ(the(*gp, "Sub").inputs[1], gp->inputs()[1]);
}

TEST(ImportBinaryOps, Opset6LegacyBroadcastWithUnknownRankUsesShapes) {
  // The common legacy case: a bias per channel added to a node's output at axis 1.
  ModelBuilder m(6);
  m.input("x", {"1", "3", "8", "8"});
  m.initializer("bias", f32_tensor({3}, {1, 2, 3}));
  m.node("Relu", {"x"}, {"r"});
  auto* n = m.node("Add", {"r", "bias"}, {"y"}, "add");
  set_int(n, "broadcast", 1);
  set_int(n, "axis", 1);
  m.output("y");
  auto g = m.import();
  EXPECT_EQ(op_sequence(*g),
            (std::vector<std::string>{"Relu", "Shape", "Shape", "Shape", "Sub", "ConstantOfShape",
                                      "Concat", "Reshape", "Add"}));
  const ir::Node& sub = the(*g, "Sub");
  // ones = rank(A) - (axis + rank(B)) = rank(A) - 2
  EXPECT_EQ(constant_ints(sub.inputs[1]), (std::vector<int64_t>{2}));
  const ir::Node& reshape = the(*g, "Reshape");
  EXPECT_EQ(reshape.inputs[0], g->find_value("bias"));
  EXPECT_EQ(the(*g, "Add").inputs[1], reshape.outputs[0]);
  EXPECT_EQ(the(*g, "ConstantOfShape").attr_tensor("value").as_int64(0), 1);
}

TEST(ImportPRelu, Opset6OneDimensionalSlopeIsPerChannel) {
  ModelBuilder m(6);
  m.input("x", {"2", "3", "4", "5"});
  m.initializer("slope", f32_tensor({3}, {0.1f, 0.2f, 0.3f}));
  m.node("PRelu", {"x", "slope"}, {"y"});
  m.output("y");
  auto g = m.import();
  const ir::Node& p = the(*g, "PRelu");
  ASSERT_TRUE(p.inputs[1]->is_constant());
  EXPECT_EQ(p.inputs[1]->constant->shape(), (Dims{3, 1, 1}));

  // A single shared slope stays as it is.
  ModelBuilder shared(6);
  shared.input("x", {"2", "3", "4", "5"});
  shared.initializer("slope", f32_tensor({1}, {0.1f}));
  shared.node("PRelu", {"x", "slope"}, {"y"});
  shared.output("y");
  auto gs = shared.import();
  EXPECT_EQ(the(*gs, "PRelu").inputs[1], gs->find_value("slope"));

  // Opset 7 and later broadcast as numpy does.
  ModelBuilder newer(7);
  newer.input("x", {"2", "3", "4", "5"});
  newer.initializer("slope", f32_tensor({5}, {1, 2, 3, 4, 5}));
  newer.node("PRelu", {"x", "slope"}, {"y"});
  newer.output("y");
  auto gn = newer.import();
  EXPECT_EQ(the(*gn, "PRelu").inputs[1], gn->find_value("slope"));
}

TEST(ImportGemm, Opset6BroadcastAttributeIsDropped) {
  OneNode t(6, "Gemm", {{"2", "3"}, {"3", "4"}, {"4"}});
  set_int(t.node, "broadcast", 1);
  set_int(t.node, "transB", 0);
  set_float(t.node, "alpha", 2.0f);
  auto g = t.import();
  const ir::Node& gemm = the(*g, "Gemm");
  EXPECT_FALSE(gemm.has_attr("broadcast"));
  EXPECT_EQ(gemm.attr_float("alpha"), 2.0);
  EXPECT_EQ(gemm.inputs.size(), 3u);
}

TEST(ImportConcat, Opset3DefaultAxisIsOne) {
  OneNode t(3, "Concat", {{"2", "3"}, {"2", "4"}});
  EXPECT_EQ(the(*t.import(), "Concat").attr_int("axis"), 1);
  OneNode explicit_axis(3, "Concat", {{"2", "3"}, {"4", "3"}});
  set_int(explicit_axis.node, "axis", 0);
  EXPECT_EQ(the(*explicit_axis.import(), "Concat").attr_int("axis"), 0);
}

TEST(ImportScatter, Opset10BecomesScatterElements) {
  OneNode t(10, "Scatter", {{"3", "3"}, {"2", "3"}, {"2", "3"}});
  set_int(t.node, "axis", 1);
  auto g = t.import();
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"ScatterElements"}));
  EXPECT_EQ(the(*g, "ScatterElements").attr_int("axis"), 1);
}

TEST(ImportGroupNormalization, Opset18PerGroupParametersBecomePerChannel) {
  ModelBuilder m(18);
  m.input("x", {"1", "4", "5"});
  m.initializer("scale", f32_tensor({2}, {1, 2}));
  m.initializer("bias", f32_tensor({2}, {3, 4}));
  auto* n = m.node("GroupNormalization", {"x", "scale", "bias"}, {"y"}, "gn");
  set_int(n, "num_groups", 2);
  set_float(n, "epsilon", 1e-5f);
  m.output("y");
  auto g = m.import();
  const ir::Node& gn = the(*g, "GroupNormalization");
  EXPECT_EQ(gn.attr_int("num_groups"), 2);
  EXPECT_EQ(gn.name, "gn");
  // scale' = Reshape(Expand(Unsqueeze(scale, [1]), [2, C/2]), [-1])
  for (size_t i : {1u, 2u}) {
    const ir::Node* reshape = gn.inputs[i]->producer;
    ASSERT_NE(reshape, nullptr);
    EXPECT_EQ(reshape->op, "Reshape");
    EXPECT_EQ(constant_ints(reshape->inputs[1]), (std::vector<int64_t>{-1}));
    const ir::Node* expand = reshape->inputs[0]->producer;
    ASSERT_NE(expand, nullptr);
    EXPECT_EQ(expand->op, "Expand");
    const ir::Node* column = expand->inputs[0]->producer;
    ASSERT_NE(column, nullptr);
    EXPECT_EQ(column->op, "Unsqueeze");
    EXPECT_EQ(column->inputs[0], g->find_value(i == 1 ? "scale" : "bias"));
    const ir::Node* grid = expand->inputs[1]->producer;
    ASSERT_NE(grid, nullptr);
    EXPECT_EQ(grid->op, "Concat");
    EXPECT_EQ(constant_ints(grid->inputs[0]), (std::vector<int64_t>{2}));
    const ir::Node* div = grid->inputs[1]->producer;
    ASSERT_NE(div, nullptr);
    EXPECT_EQ(div->op, "Div");
    const ir::Node* channels = div->inputs[0]->producer;
    ASSERT_NE(channels, nullptr);
    EXPECT_EQ(channels->op, "Shape");
    EXPECT_EQ(channels->attr_int("start"), 1);
    EXPECT_EQ(channels->attr_int("end"), 2);
    EXPECT_EQ(channels->inputs[0], g->inputs()[0]);
  }

  OneNode newest(21, "GroupNormalization", {{"1", "4", "5"}, {"4"}, {"4"}});
  set_int(newest.node, "num_groups", 2);
  EXPECT_EQ(op_sequence(*newest.import()), (std::vector<std::string>{"GroupNormalization"}));
}

TEST(ImportGridSample, Opset16ModesAreRenamed) {
  OneNode t(16, "GridSample", {{"1", "1", "4", "4"}, {"1", "2", "2", "2"}});
  set_string(t.node, "mode", "bicubic");
  EXPECT_EQ(the(*t.import(), "GridSample").attr_string("mode"), "cubic");
  OneNode d(19, "GridSample", {{"1", "1", "4", "4"}, {"1", "2", "2", "2"}});
  EXPECT_EQ(the(*d.import(), "GridSample").attr_string("mode"), "linear");
}

// ----- registry

TEST(ImporterRegistry, RangesOfOneOpNeverOverlap) {
  auto& registry = onnx_import::ImporterRegistry::instance();
  for (const std::string& op : registry.op_names()) {
    auto defs = registry.for_op(op);
    for (size_t i = 0; i < defs.size(); ++i) {
      for (size_t j = i + 1; j < defs.size(); ++j) {
        const bool disjoint =
            defs[i]->max_opset < defs[j]->min_opset || defs[j]->max_opset < defs[i]->min_opset;
        EXPECT_TRUE(disjoint) << op << ": [" << defs[i]->min_opset << ", " << defs[i]->max_opset
                              << "] and [" << defs[j]->min_opset << ", " << defs[j]->max_opset
                              << "]";
      }
    }
  }
}

TEST(ImporterRegistry, EveryRequiredOpImportsFromItsFirstOpsetToTheNewest) {
  // The op and the first opset (at least 7) at which ONNX defines it.
  const std::map<std::string, int64_t> required = {{"Conv", 7},
                                                   {"ConvTranspose", 7},
                                                   {"Gemm", 7},
                                                   {"MatMul", 7},
                                                   {"Add", 7},
                                                   {"Sub", 7},
                                                   {"Mul", 7},
                                                   {"Div", 7},
                                                   {"Pow", 7},
                                                   {"Mod", 10},
                                                   {"Sqrt", 7},
                                                   {"Reciprocal", 7},
                                                   {"Exp", 7},
                                                   {"Log", 7},
                                                   {"Erf", 9},
                                                   {"Tanh", 7},
                                                   {"Sigmoid", 7},
                                                   {"Relu", 7},
                                                   {"LeakyRelu", 7},
                                                   {"PRelu", 7},
                                                   {"Elu", 7},
                                                   {"Selu", 7},
                                                   {"Clip", 7},
                                                   {"HardSigmoid", 7},
                                                   {"HardSwish", 14},
                                                   {"Gelu", 20},
                                                   {"Softplus", 7},
                                                   {"Abs", 7},
                                                   {"Neg", 7},
                                                   {"Floor", 7},
                                                   {"Ceil", 7},
                                                   {"Round", 11},
                                                   {"Sign", 9},
                                                   {"Sin", 7},
                                                   {"Cos", 7},
                                                   {"BatchNormalization", 7},
                                                   {"LayerNormalization", 17},
                                                   {"InstanceNormalization", 7},
                                                   {"GroupNormalization", 18},
                                                   {"MaxPool", 7},
                                                   {"AveragePool", 7},
                                                   {"GlobalAveragePool", 7},
                                                   {"GlobalMaxPool", 7},
                                                   {"Softmax", 7},
                                                   {"LogSoftmax", 7},
                                                   {"ReduceMean", 7},
                                                   {"ReduceSum", 7},
                                                   {"ReduceMax", 7},
                                                   {"ReduceMin", 7},
                                                   {"ReduceProd", 7},
                                                   {"ReduceL2", 7},
                                                   {"ArgMax", 7},
                                                   {"ArgMin", 7},
                                                   {"TopK", 7},
                                                   {"CumSum", 11},
                                                   {"Flatten", 7},
                                                   {"Reshape", 7},
                                                   {"Transpose", 7},
                                                   {"Squeeze", 7},
                                                   {"Unsqueeze", 7},
                                                   {"Concat", 7},
                                                   {"Split", 7},
                                                   {"Slice", 7},
                                                   {"Gather", 7},
                                                   {"GatherElements", 11},
                                                   {"GatherND", 11},
                                                   {"ScatterElements", 11},
                                                   {"ScatterND", 11},
                                                   {"Shape", 7},
                                                   {"Size", 7},
                                                   {"Cast", 7},
                                                   {"CastLike", 15},
                                                   {"Constant", 7},
                                                   {"ConstantOfShape", 9},
                                                   {"Expand", 8},
                                                   {"Where", 9},
                                                   {"Equal", 7},
                                                   {"Less", 7},
                                                   {"Greater", 7},
                                                   {"LessOrEqual", 12},
                                                   {"GreaterOrEqual", 12},
                                                   {"Not", 7},
                                                   {"And", 7},
                                                   {"Or", 7},
                                                   {"Xor", 7},
                                                   {"IsNaN", 9},
                                                   {"IsInf", 10},
                                                   {"Range", 11},
                                                   {"Resize", 10},
                                                   {"Upsample", 7},
                                                   {"Identity", 7},
                                                   {"Dropout", 7},
                                                   {"Tile", 7},
                                                   {"Pad", 7},
                                                   {"Max", 7},
                                                   {"Min", 7},
                                                   {"Sum", 7},
                                                   {"Mean", 7},
                                                   {"DepthToSpace", 7},
                                                   {"SpaceToDepth", 7},
                                                   {"Trilu", 14},
                                                   {"OneHot", 9},
                                                   {"If", 7},
                                                   {"Loop", 7},
                                                   {"Scan", 9},
                                                   {"Hardmax", 7},
                                                   {"EyeLike", 9}};
  auto& registry = onnx_import::ImporterRegistry::instance();
  for (const auto& [op, first] : required) {
    for (int64_t opset = first; opset <= onnx_import::kNewestOpset + 1; ++opset) {
      EXPECT_NE(registry.find(op, opset), nullptr) << op << " at opset " << opset;
    }
  }
}

}  // namespace
}  // namespace kiln::testing

// Attributes are checked against ONNX's own schemas (src/onnx/onnx_schema_table.cpp, generated
// from the pinned onnx package): undeclared (misspelled) attributes, attributes of the wrong
// type and missing required attributes are errors naming the node, op, opset and attribute,
// at the model's opset (an attribute of an older opset is fine there and only there), in
// subgraphs too.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "onnx/onnx_schema.h"
#include "onnx/op_importer.h"
#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

using onnx::AttributeProto;
using onnx_import::find_onnx_schema;
using onnx_import::OnnxAttrType;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// x [1,2,8,8] -> Conv(w [4,2,3,3]) -> y, with pads [1,1,1,1] (or `pads_name`) as given.
ModelBuilder conv_model(int64_t opset, const std::string& pads_name = "pads") {
  ModelBuilder m(opset);
  m.input("x", {"1", "2", "8", "8"});
  m.initializer("w", Tensor::zeros(DataType::kFloat32, {4, 2, 3, 3}));
  auto* conv = m.node("Conv", {"x", "w"}, {"y"}, "conv1");
  set_ints(conv, "kernel_shape", {3, 3});
  set_ints(conv, pads_name, {1, 1, 1, 1});
  m.output("y");
  return m;
}

std::string import_error(const ModelBuilder& m, ErrorCode code = ErrorCode::kInvalidModel) {
  return error_message([&] { m.import(); }, code);
}

// ----- the table

TEST(OnnxSchema, LookupFindsTheVersionInForceAtAnOpset) {
  const auto* conv = find_onnx_schema("Conv", 13);
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->since_version, 11);
  ASSERT_NE(conv->find("pads"), nullptr);
  EXPECT_EQ(conv->find("pads")->type, OnnxAttrType::INTS);
  EXPECT_EQ(conv->find("Pads"), nullptr);
  EXPECT_FALSE(conv->find("pads")->required);

  // Reshape-1 had the target shape as an attribute, Reshape-5 made it an input, Reshape-14
  // added allowzero.
  ASSERT_NE(find_onnx_schema("Reshape", 4), nullptr);
  EXPECT_EQ(find_onnx_schema("Reshape", 4)->since_version, 1);
  EXPECT_NE(find_onnx_schema("Reshape", 4)->find("shape"), nullptr);
  EXPECT_EQ(find_onnx_schema("Reshape", 13)->since_version, 13);
  EXPECT_TRUE(find_onnx_schema("Reshape", 13)->attributes.empty());
  EXPECT_NE(find_onnx_schema("Reshape", 14)->find("allowzero"), nullptr);
  EXPECT_EQ(find_onnx_schema("Reshape", onnx_import::kNewestOpset)->find("shape"), nullptr);

  const auto* cast = find_onnx_schema("Cast", 13);
  ASSERT_NE(cast, nullptr);
  ASSERT_NE(cast->find("to"), nullptr);
  EXPECT_TRUE(cast->find("to")->required);
  EXPECT_EQ(cast->find("to")->type, OnnxAttrType::INT);
  EXPECT_EQ(find_onnx_schema("Cast", 1)->find("to")->type, OnnxAttrType::STRING);

  EXPECT_EQ(find_onnx_schema("Gelu", 13), nullptr);  // came with opset 20
  EXPECT_NE(find_onnx_schema("Gelu", 20), nullptr);
  EXPECT_EQ(find_onnx_schema("NoSuchOp", 13), nullptr);
  EXPECT_EQ(find_onnx_schema("conv", 13), nullptr);  // op names are case-sensitive
  // The only ai.onnx schema whose undeclared attributes ONNX's checker lets through.
  EXPECT_TRUE(find_onnx_schema("LayerNormalization", 17)->unchecked_attributes);
  EXPECT_FALSE(conv->unchecked_attributes);
}

TEST(OnnxSchema, TableIsSortedAndCoversEveryOpsetOfTheNewestOps) {
  const auto& table = onnx_import::onnx_schema_table();
  ASSERT_GT(table.size(), 500u);
  for (size_t i = 1; i < table.size(); ++i) {
    const auto& a = table[i - 1];
    const auto& b = table[i];
    EXPECT_TRUE(a.op < b.op || (a.op == b.op && a.since_version < b.since_version))
        << a.op << "-" << a.since_version << " before " << b.op << "-" << b.since_version;
  }
  int newest = 0;
  for (const auto& s : table) {
    newest = std::max(newest, s.since_version);
    EXPECT_TRUE(std::is_sorted(s.attributes.begin(), s.attributes.end(),
                               [](const auto& x, const auto& y) { return x.name < y.name; }))
        << s.op;
  }
  EXPECT_EQ(newest, onnx_import::kNewestOpset);
}

// ----- undeclared attributes

TEST(AttributeSchema, MisspelledAttributeIsRefusedWithASuggestion) {
  const std::string msg = import_error(conv_model(13, "Pads"));
  EXPECT_TRUE(contains(msg,
                       "ONNX node 'conv1' (Conv): attribute 'Pads' is not declared by Conv "
                       "at opset 13 (did you mean 'pads'?); Conv has auto_pad, dilations, "
                       "group, kernel_shape, pads, strides"))
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  ModelBuilder typo = conv_model(13);
  set_ints(typo.graph->mutable_node(0), "kernal_shape", {3, 3});
  EXPECT_TRUE(contains(import_error(typo),
                       "'kernal_shape' is not declared by Conv at opset 13 "
                       "(did you mean 'kernel_shape'?)"));

  // Nothing near: no suggestion, just the list.
  ModelBuilder far = conv_model(13);
  set_int(far.graph->mutable_node(0), "padding_mode", 0);
  const std::string far_msg = import_error(far);
  EXPECT_TRUE(contains(far_msg,
                       "attribute 'padding_mode' is not declared by Conv at opset 13; "
                       "Conv has auto_pad"))
      << far_msg;
  EXPECT_FALSE(contains(far_msg, "did you mean")) << far_msg;

  // An op without attributes says so.
  ModelBuilder relu(13);
  relu.input("x", {"2"});
  set_float(relu.node("Relu", {"x"}, {"y"}, "r"), "alpha", 0.5f);
  relu.output("y");
  EXPECT_TRUE(contains(import_error(relu),
                       "ONNX node 'r' (Relu): attribute 'alpha' is not "
                       "declared by Relu at opset 13; Relu has no attributes"));
}

TEST(AttributeSchema, NodeAndAttributeNamesAreEscaped) {
  ModelBuilder m = conv_model(13, "pads\x1b[2J");
  m.graph->mutable_node(0)->set_name("conv\n1");
  const std::string msg = import_error(m);
  EXPECT_TRUE(contains(msg, "ONNX node 'conv\\n1' (Conv): attribute 'pads\\x1B[2J'")) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

// ----- types

TEST(AttributeSchema, AttributeOfTheWrongTypeIsRefused) {
  ModelBuilder m(13);
  m.input("x", {"1", "2", "8", "8"});
  m.initializer("w", Tensor::zeros(DataType::kFloat32, {4, 2, 3, 3}));
  set_int(m.node("Conv", {"x", "w"}, {"y"}, "conv1"), "pads", 1);
  m.output("y");
  EXPECT_TRUE(contains(import_error(m),
                       "ONNX node 'conv1' (Conv): attribute 'pads' is INT, but "
                       "Conv declares it INTS at opset 13"));

  ModelBuilder leaky(13);
  leaky.input("x", {"2"});
  set_int(leaky.node("LeakyRelu", {"x"}, {"y"}, "lr"), "alpha", 1);
  leaky.output("y");
  EXPECT_TRUE(contains(import_error(leaky),
                       "attribute 'alpha' is INT, but LeakyRelu declares it "
                       "FLOAT at opset 13"));

  // Cast-1 named the type as a string; Cast-6 on takes the TensorProto number.
  ModelBuilder cast(13);
  cast.input("x", {"2"});
  set_string(cast.node("Cast", {"x"}, {"y"}, "c"), "to", "FLOAT16");
  cast.output("y");
  EXPECT_TRUE(contains(import_error(cast), "attribute 'to' is STRING, but Cast declares it INT"));
}

TEST(AttributeSchema, UntypedAttributesAreTypedByTheirValue) {
  // Very old models leave AttributeProto.type unset: the filled field tells the type.
  ModelBuilder m(13);
  m.input("x", {"2"});
  auto* node = m.node("LeakyRelu", {"x"}, {"y"}, "lr");
  auto* alpha = node->add_attribute();
  alpha->set_name("alpha");
  alpha->set_f(0.25f);
  m.output("y");
  auto g = m.import();
  EXPECT_EQ(find_node(*g, "LeakyRelu")->attr_float("alpha"), 0.25);

  // No value and no type: an empty list is fine where a list is declared, not for a scalar.
  ModelBuilder empty_list = conv_model(13);
  empty_list.graph->mutable_node(0)->add_attribute()->set_name("strides");
  EXPECT_NO_THROW(empty_list.import());
  alpha->clear_f();
  EXPECT_TRUE(contains(import_error(m),
                       "attribute 'alpha' is UNDEFINED (it has no value), but "
                       "LeakyRelu declares it FLOAT"));
}

// ----- required attributes

TEST(AttributeSchema, MissingRequiredAttributeIsRefused) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.node("Cast", {"x"}, {"y"}, "c");
  m.output("y");
  EXPECT_TRUE(contains(import_error(m),
                       "ONNX node 'c' (Cast): it has no 'to' attribute, which "
                       "Cast requires at opset 13 (INT)"));
}

// ----- opsets

TEST(AttributeSchema, AttributeOfAnOlderOpsetIsValidOnlyThere) {
  // Reshape's target shape was the `shape` attribute until opset 5 made it an input.
  auto reshape = [](int64_t opset) {
    ModelBuilder m(opset);
    m.input("x", {"2", "3"});
    if (opset >= 5) m.initializer("s", Tensor::from_vector<int64_t>(DataType::kInt64, {1}, {6}));
    auto* node = m.node(
        "Reshape", opset >= 5 ? std::vector<std::string>{"x", "s"} : std::vector<std::string>{"x"},
        {"y"}, "r");
    set_ints(node, "shape", {6});
    m.output("y");
    return m;
  };
  auto g = reshape(4).import();
  const ir::Node* r = find_node(*g, "Reshape");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(constant_ints(r->inputs.at(1)), std::vector<int64_t>{6});

  EXPECT_TRUE(contains(import_error(reshape(13)),
                       "ONNX node 'r' (Reshape): attribute 'shape' is "
                       "not declared by Reshape at opset 13; Reshape "
                       "has no attributes"));
  EXPECT_TRUE(contains(import_error(reshape(14)),
                       "attribute 'shape' is not declared by Reshape "
                       "at opset 14; Reshape has allowzero"));

  // The legacy memory hint `consumed_inputs` of opsets < 6 is declared there only.
  auto relu = [](int64_t opset) {
    ModelBuilder m(opset);
    m.input("x", {"2"});
    set_ints(m.node("Relu", {"x"}, {"y"}, "r"), "consumed_inputs", {0});
    m.output("y");
    return m;
  };
  EXPECT_NO_THROW(relu(5).import());
  EXPECT_TRUE(contains(import_error(relu(6)),
                       "attribute 'consumed_inputs' is not declared by "
                       "Relu at opset 6"));
}

TEST(AttributeSchema, OpOlderThanItsFirstVersionIsCheckedAgainstThatVersion) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  set_string(m.node("Gelu", {"x"}, {"y"}, "g"), "aproximate", "tanh");
  m.output("y");
  EXPECT_TRUE(contains(import_error(m),
                       "attribute 'aproximate' is not declared by Gelu in its "
                       "oldest version (opset 20) (did you mean 'approximate'?)"));
}

// ----- what is accepted

TEST(AttributeSchema, ValidModelImportsUnchanged) {
  auto g = conv_model(13).import();
  const ir::Node* conv = find_node(*g, "Conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->attr_ints("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(conv->attr_ints("kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(conv->attrs.size(), 2u);

  // ONNX's checker accepts names starting with "__" (internal symbols) on any op.
  ModelBuilder internal = conv_model(13);
  set_int(internal.graph->mutable_node(0), "__exporter_hint", 1);
  EXPECT_NO_THROW(internal.import());
}

TEST(AttributeSchema, UndeclaredAttributeOfAnOpenSchemaIsAWarning) {
  // LayerNormalization-17 allows unchecked attributes in ONNX (AllowUncheckedAttributes).
  ModelBuilder m(17);
  m.input("x", {"2", "4"});
  m.initializer("scale", Tensor::zeros(DataType::kFloat32, {4}));
  auto* ln = m.node("LayerNormalization", {"x", "scale"}, {"y"}, "ln");
  set_float(ln, "epsilom", 1e-3f);
  m.output("y");
  RecordingLogger logger;
  EXPECT_NO_THROW(m.import(logger));
  EXPECT_TRUE(contains(logger.all(),
                       "ONNX node 'ln' (LayerNormalization): attribute 'epsilom' "
                       "is not declared by LayerNormalization at opset 17 (did you "
                       "mean 'epsilon'?)"))
      << logger.all();
}

TEST(AttributeSchema, FunctionAttributeReferenceIsUnsupported) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  auto* attr = m.node("LeakyRelu", {"x"}, {"y"}, "lr")->add_attribute();
  attr->set_name("alpha");
  attr->set_type(AttributeProto::FLOAT);
  attr->set_ref_attr_name("slope");
  m.output("y");
  const std::string msg = import_error(m, ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(msg,
                       "node 'lr' (op LeakyRelu, domain ai.onnx, opset 13): attribute 'alpha' "
                       "refers to a function attribute ('slope')"))
      << msg;
}

// ----- subgraphs

TEST(AttributeSchema, SubgraphNodesAreCheckedToo) {
  ModelBuilder m(17);
  m.input("cond", {}, onnx::TensorProto::BOOL);
  m.input("x", {"3"});
  onnx::NodeProto* node = m.node("If", {"cond"}, {"out"}, "choose");
  onnx::GraphProto* then_g = set_graph(node, "then_branch");
  auto* inner = ModelBuilder::node_in(then_g, "Transpose", {"x"}, {"a"}, "t");
  set_ints(inner, "perms", {0});
  ModelBuilder::output_to(then_g, "a");
  onnx::GraphProto* else_g = set_graph(node, "else_branch");
  ModelBuilder::node_in(else_g, "Identity", {"x"}, {"b"});
  ModelBuilder::output_to(else_g, "b");
  m.output("out");
  const std::string msg = import_error(m);
  EXPECT_TRUE(contains(msg,
                       "ONNX node 'choose/then_branch/t' (Transpose): attribute 'perms' is "
                       "not declared by Transpose at opset 17 (did you mean 'perm'?)"))
      << msg;

  // Fixed, it imports.
  inner->mutable_attribute(0)->set_name("perm");
  EXPECT_NO_THROW(m.import());
}

}  // namespace
}  // namespace kiln::testing

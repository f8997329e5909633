// The import driver: loading, graph inputs/initializers/outputs, node order and names,
// subgraphs, opset warnings, and the all-at-once unsupported report.
#include <gtest/gtest.h>

#include <set>

#include "onnx/op_importer.h"
#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

using onnx::TensorProto;
using Severity = Logger::Severity;

TEST(OnnxImport, InputsWithTypesAndSymbolicShapes) {
  ModelBuilder m(17);
  m.input("images", {"batch", "3", "?", "224"});
  m.input("mask", {"batch"}, TensorProto::BOOL);
  m.input_unranked("anything", TensorProto::FLOAT16);
  m.node("Identity", {"images"}, {"out"});
  m.output("out");
  auto g = m.import();

  ASSERT_EQ(g->inputs().size(), 3u);
  const ir::Value* images = g->inputs()[0];
  EXPECT_EQ(images->name, "images");
  EXPECT_EQ(images->dtype, DataType::kFloat32);
  EXPECT_TRUE(images->has_shape);
  ASSERT_EQ(images->shape.size(), 4u);
  EXPECT_EQ(images->shape[0], ir::Dim::named("batch"));
  EXPECT_EQ(images->shape[1], ir::Dim::fixed(3));
  EXPECT_EQ(images->shape[2], ir::Dim{});
  EXPECT_EQ(images->shape[3], ir::Dim::fixed(224));
  EXPECT_EQ(g->inputs()[1]->dtype, DataType::kBool);
  EXPECT_EQ(g->inputs()[1]->shape, (ir::Shape{ir::Dim::named("batch")}));
  EXPECT_EQ(g->inputs()[2]->dtype, DataType::kFloat16);
  EXPECT_FALSE(g->inputs()[2]->has_shape);
  EXPECT_EQ(g->name, "test_graph");
}

TEST(OnnxImport, InitializersBecomeConstantsEvenWhenListedAsInputs) {
  ModelBuilder m(9);
  m.input("x", {"2", "2"});
  m.input("w", {"2", "2"});  // ONNX IR < 4 style: initializer also listed as an input
  m.initializer("w", f32_tensor({2, 2}, {1, 2, 3, 4}));
  m.initializer("b", i64_tensor({1}, {7}));
  m.node("MatMul", {"x", "w"}, {"y"}, "mm");
  m.output("y");
  auto g = m.import();

  ASSERT_EQ(g->inputs().size(), 1u);
  EXPECT_EQ(g->inputs()[0]->name, "x");
  const ir::Value* w = g->find_value("w");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->is_constant());
  EXPECT_EQ(w->constant->to_double_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(w->shape, (ir::Shape{ir::Dim::fixed(2), ir::Dim::fixed(2)}));
  EXPECT_EQ(constant_ints(g->find_value("b")), (std::vector<int64_t>{7}));

  ASSERT_EQ(g->nodes().size(), 1u);
  const ir::Node& mm = *g->nodes().front();
  EXPECT_EQ(mm.op, "MatMul");
  EXPECT_EQ(mm.name, "mm");
  EXPECT_EQ(mm.inputs, (std::vector<ir::Value*>{g->inputs()[0], g->find_value("w")}));
  ASSERT_EQ(g->outputs().size(), 1u);
  EXPECT_EQ(g->outputs()[0]->name, "y");
  EXPECT_EQ(g->outputs()[0]->producer, &mm);
}

TEST(OnnxImport, UnnamedNodesAreNamedOpIndex) {
  ModelBuilder m(13);
  m.input("x", {"4"});
  m.node("Relu", {"x"}, {"a"});
  m.node("Neg", {"a"}, {"b"}, "named");
  m.node("Abs", {"b"}, {"c"});
  m.output("c");
  auto g = m.import();
  std::vector<std::string> names;
  for (const auto& n : g->nodes()) names.push_back(n->name);
  EXPECT_EQ(names, (std::vector<std::string>{"Relu_0", "named", "Abs_2"}));
}

TEST(OnnxImport, AttributesAreConverted) {
  ModelBuilder m(22);
  m.input("x", {"1", "3", "8", "8"});
  m.input("w", {"4", "3", "3", "3"});
  auto* conv = m.node("Conv", {"x", "w"}, {"y"}, "conv");
  set_ints(conv, "pads", {1, 1, 1, 1});
  set_string(conv, "auto_pad", "NOTSET");
  set_int(conv, "group", 1);
  auto* leaky = m.node("LeakyRelu", {"y"}, {"z"}, "leaky");
  set_float(leaky, "alpha", 0.1f);
  auto* cos = m.node("ConstantOfShape", {"shape"}, {"filled"}, "fill");
  set_tensor(cos, "value", Tensor::from_vector<int32_t>(DataType::kInt32, {1}, {5}));
  m.initializer("shape", i64_tensor({1}, {3}));
  m.output("z");
  m.output("filled");
  auto g = m.import();

  const ir::Node* c = find_node(*g, "Conv");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->attr_ints("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(c->attr_string("auto_pad"), "NOTSET");
  EXPECT_EQ(c->attr_int("group"), 1);
  const ir::Node* l = find_node(*g, "LeakyRelu");
  ASSERT_NE(l, nullptr);
  // FLOAT attributes hold the float32 value exactly, as a double.
  EXPECT_EQ(l->attr_float("alpha"), double(0.1f));
  const ir::Node* f = find_node(*g, "ConstantOfShape");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->attr_tensor("value").dtype(), DataType::kInt32);
  EXPECT_EQ(f->attr_tensor("value").as_int64(0), 5);
}

TEST(OnnxImport, LegacyConsumedInputsAttributeIsDropped) {
  ModelBuilder m(5);
  m.input("x", {"2"});
  auto* relu = m.node("Relu", {"x"}, {"y"});
  set_ints(relu, "consumed_inputs", {0});
  m.output("y");
  auto g = m.import();
  EXPECT_TRUE(g->nodes().front()->attrs.empty());
}

TEST(OnnxImport, NodesOutOfOrderAreSorted) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.node("Neg", {"b"}, {"c"}, "third");
  m.node("Relu", {"x"}, {"a"}, "first");
  m.node("Abs", {"a"}, {"b"}, "second");
  m.output("c");
  auto g = m.import();
  std::vector<std::string> names;
  for (const auto& n : g->nodes()) names.push_back(n->name);
  EXPECT_EQ(names, (std::vector<std::string>{"first", "second", "third"}));
}

TEST(OnnxImport, CycleIsReported) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.node("Add", {"x", "b"}, {"a"}, "left");
  m.node("Neg", {"a"}, {"b"}, "right");
  m.output("a");
  std::string msg = error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'left'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'right'"), std::string::npos) << msg;
}

TEST(OnnxImport, UndefinedInputNamesTheNode) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.node("Add", {"x", "ghost"}, {"y"}, "adder");
  m.output("y");
  std::string msg = error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("'adder'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'ghost'"), std::string::npos) << msg;
}

TEST(OnnxImport, OutputsMustExist) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.output("nothing");
  std::string msg = error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("'nothing'"), std::string::npos) << msg;
}

TEST(OnnxImport, OutputsKeepTheirNamesWhenTheyAliasOtherValues) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  auto* c = m.node("Constant", {}, {"const_out"});
  set_tensor(c, "value", f32_tensor({2}, {1, 2}));
  m.node("Identity", {"x"}, {"same"});
  m.output("const_out");  // a Constant node's output is a constant value, no node
  m.output("x");          // a graph input passed straight through
  auto g = m.import();
  ASSERT_EQ(g->outputs().size(), 2u);
  EXPECT_EQ(g->outputs()[0]->name, "const_out");
  EXPECT_TRUE(g->outputs()[0]->is_constant());
  EXPECT_EQ(g->outputs()[1], g->inputs()[0]);
}

TEST(OnnxImport, GraphInputThatIsNotATensorIsUnsupported) {
  ModelBuilder m(13);
  auto* seq = m.graph->add_input();
  seq->set_name("seq");
  seq->mutable_type()
      ->mutable_sequence_type()
      ->mutable_elem_type()
      ->mutable_tensor_type()
      ->set_elem_type(TensorProto::FLOAT);
  m.node("Identity", {"seq"}, {"y"});
  m.output("y");
  std::string msg = error_message([&] { m.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("'seq'"), std::string::npos) << msg;

  ModelBuilder s(13);
  s.input("text", {"2"}, TensorProto::STRING);
  s.output("text");
  msg = error_message([&] { s.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("'text'"), std::string::npos) << msg;
}

TEST(OnnxImport, IfBranchesAreSubgraphsReadingTheOuterScope) {
  ModelBuilder m(13);
  m.input("cond", {}, TensorProto::BOOL);
  m.input("x", {"3"});
  m.node("Relu", {"x"}, {"rx"}, "outer_relu");
  auto* if_node = m.node("If", {"cond"}, {"y"}, "branch");
  onnx::GraphProto* then_branch = set_graph(if_node, "then_branch");
  ModelBuilder::node_in(then_branch, "Neg", {"rx"}, {"then_y"}, "then_neg");
  ModelBuilder::output_to(then_branch, "then_y");
  onnx::GraphProto* else_branch = set_graph(if_node, "else_branch");
  ModelBuilder::output_to(else_branch, "x");  // the outer input itself
  m.output("y");
  auto g = m.import();

  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Relu", "If"}));
  const ir::Node* branch = find_node(*g, "If");
  ASSERT_NE(branch, nullptr);
  const ir::Graph& then_graph = branch->attr_graph("then_branch");
  EXPECT_EQ(then_graph.name, "then_branch");
  // Reads of enclosing values (rx here, x in else_branch) become trailing branch inputs that
  // the node passes as captured inputs (src/onnx/import_control_flow.cpp).
  EXPECT_EQ(branch->attr_int("captured_inputs"), 2);
  ASSERT_EQ(then_graph.inputs().size(), 2u);
  ASSERT_EQ(then_graph.nodes().size(), 1u);
  const ir::Node& neg = *then_graph.nodes().front();
  EXPECT_EQ(neg.op, "Neg");
  // The outer value appears in the body under its own name, with no producer and no shape.
  ASSERT_EQ(neg.inputs.size(), 1u);
  EXPECT_EQ(neg.inputs[0]->name, "rx");
  EXPECT_EQ(neg.inputs[0]->producer, nullptr);
  EXPECT_FALSE(neg.inputs[0]->has_shape);
  EXPECT_FALSE(neg.inputs[0]->is_constant());
  ASSERT_EQ(then_graph.outputs().size(), 1u);
  EXPECT_EQ(then_graph.outputs()[0]->name, "then_y");

  const ir::Graph& else_graph = branch->attr_graph("else_branch");
  EXPECT_TRUE(else_graph.nodes().empty());
  ASSERT_EQ(else_graph.outputs().size(), 1u);
  EXPECT_EQ(else_graph.outputs()[0]->name, "x");
  EXPECT_EQ(else_graph.outputs()[0]->producer, nullptr);
}

TEST(OnnxImport, LoopBodyHasItsOwnInputsAndInitializers) {
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.initializer("trip", i64_tensor({}, {3}));
  m.initializer("keep_going", Tensor::from_vector<uint8_t>(DataType::kBool, {}, {1}));
  auto* loop = m.node("Loop", {"trip", "keep_going", "x"}, {"final"}, "loop");
  onnx::GraphProto* body = set_graph(loop, "body");
  ModelBuilder::input_to(body, "i", {}, TensorProto::INT64);
  ModelBuilder::input_to(body, "cond_in", {}, TensorProto::BOOL);
  auto* carried = body->add_input();  // a loop-carried value with no type: allowed in a body
  carried->set_name("acc");
  onnx_import::tensor_to_proto(f32_tensor({2}, {0.5f, 0.5f}), "step", *body->add_initializer());
  ModelBuilder::node_in(body, "Identity", {"cond_in"}, {"cond_out"});
  ModelBuilder::node_in(body, "Add", {"acc", "step"}, {"acc_out"});
  ModelBuilder::output_to(body, "cond_out");
  ModelBuilder::output_to(body, "acc_out");
  m.output("final");
  auto g = m.import();

  const ir::Node* l = find_node(*g, "Loop");
  ASSERT_NE(l, nullptr);
  const ir::Graph& b = l->attr_graph("body");
  ASSERT_EQ(b.inputs().size(), 3u);
  EXPECT_EQ(b.inputs()[0]->dtype, DataType::kInt64);
  EXPECT_EQ(b.inputs()[2]->name, "acc");
  EXPECT_FALSE(b.inputs()[2]->has_shape);
  EXPECT_EQ(op_sequence(b), (std::vector<std::string>{"Identity", "Add"}));
  EXPECT_EQ(constant_doubles(b.find_value("step")), (std::vector<double>{0.5, 0.5}));
  ASSERT_EQ(b.outputs().size(), 2u);
  EXPECT_EQ(b.outputs()[1]->name, "acc_out");
}

TEST(OnnxImport, HelperNamesNeverCollideWithModelNames) {
  // The Softmax-11 rewrite names a helper value after the node ("sm/input_shape"); a model value
  // already has that name, which must win.
  ModelBuilder m(11);
  m.input("x", {"2", "3", "4"});
  m.node("Softmax", {"x"}, {"y"}, "sm");
  m.node("Relu", {"y"}, {"sm/input_shape"}, "r");
  m.output("sm/input_shape");
  auto g = m.import();
  EXPECT_EQ(g->outputs()[0]->name, "sm/input_shape");
  EXPECT_EQ(g->outputs()[0]->producer->op, "Relu");
  std::set<std::string> names;
  for (const auto& v : g->values()) EXPECT_TRUE(names.insert(v->name).second) << v->name;
}

TEST(OnnxImport, UnsupportedNodesAreReportedAllAtOnce) {
  ModelBuilder m(13);
  auto* ms = m.model.add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  m.input("x", {"1", "4"});
  m.node("FooBar", {"x"}, {"a"}, "mystery");
  auto* fused = m.node("FusedGemm", {"a"}, {"b"}, "ms_node");
  fused->set_domain("com.microsoft");
  m.node("Gelu", {"b"}, {"c"}, "too_new");  // Gelu appeared in opset 20
  auto* sparse = m.node("Constant", {}, {"k"}, "sparse_const");
  auto* attr = sparse->add_attribute();
  attr->set_name("sparse_value");
  attr->set_type(onnx::AttributeProto::SPARSE_TENSOR);
  m.node("Add", {"c", "k"}, {"d"}, "fine");
  m.node("Softplus", {"d"}, {"e"});  // kiln "lacks" it in this test
  m.output("e");

  onnx_import::ImportOptions options;
  options.kiln_has_op = [](const std::string& op) { return op != "Softplus"; };
  RecordingLogger logger;
  std::string msg = error_message([&] { m.import(logger, options); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("cannot import 5 ONNX nodes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'mystery' (op FooBar, domain ai.onnx, opset 13): no importer for this "
                     "op"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("node 'ms_node' (op FusedGemm, domain com.microsoft, opset 1): domain "
                     "'com.microsoft' is not supported"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("node 'too_new' (op Gelu, domain ai.onnx, opset 13): opset 13 is out of "
                     "range (kiln imports Gelu at opsets 20 and later)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("node 'sparse_const' (op Constant, domain ai.onnx, opset 13): sparse "
                     "constants"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("node 'Softplus_5' (op Softplus, domain ai.onnx, opset 13): kiln has no op "
                     "'Softplus'"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find("'fine'"), std::string::npos) << msg;
}

TEST(OnnxImport, UnsupportedNodesInsideSubgraphsAreReportedWithTheirPath) {
  ModelBuilder m(13);
  m.input("cond", {}, TensorProto::BOOL);
  m.input("x", {"2"});
  auto* if_node = m.node("If", {"cond"}, {"y"}, "branch");
  onnx::GraphProto* then_branch = set_graph(if_node, "then_branch");
  ModelBuilder::node_in(then_branch, "Mystery", {"x"}, {"t"}, "inner");
  ModelBuilder::output_to(then_branch, "t");
  onnx::GraphProto* else_branch = set_graph(if_node, "else_branch");
  ModelBuilder::output_to(else_branch, "x");
  m.output("y");
  std::string msg = error_message([&] { m.import(); }, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("node 'branch/then_branch/inner' (op Mystery"), std::string::npos) << msg;
}

TEST(OnnxImport, KilnOpsComeFromTheOpRegistryByDefault) {
  // Identity is defined by kiln (src/ops/identity.cpp); a made-up op name never is.
  ModelBuilder m(13);
  m.input("x", {"2"});
  m.node("Identity", {"x"}, {"y"});
  m.output("y");
  auto g = m.import(null_logger(), onnx_import::ImportOptions{});
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Identity"}));

  // Registered once per process (the registry is global).
  static const bool registered = [] {
    onnx_import::ImporterRegistry::instance().add(onnx_import::OnnxImporterDef{
        .ops = {"KilnTestOnlyOp"}, .import = [](onnx_import::ImportContext& ctx) {
          ctx.emit("KilnTestOnlyOpThatNoOneDefines", ctx.inputs());
        }});
    return true;
  }();
  ASSERT_TRUE(registered);
  ModelBuilder u(13);
  u.input("x", {"2"});
  u.node("KilnTestOnlyOp", {"x"}, {"y"}, "t");
  u.output("y");
  std::string msg = error_message([&] { u.import(null_logger(), onnx_import::ImportOptions{}); },
                                  ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("kiln has no op 'KilnTestOnlyOpThatNoOneDefines' (needed to import it)"),
            std::string::npos)
      << msg;
}

// Older opsets import as far as the importers can, with a warning; newer ones are refused
// (import_hardening_test.cpp checks the message).
TEST(OnnxImport, OpsetOlderThanSupportedWarnsNewerIsAnError) {
  {
    ModelBuilder m(6);
    m.input("x", {"2"});
    m.node("Relu", {"x"}, {"y"});
    m.output("y");
    RecordingLogger logger;
    auto g = m.import(logger);
    EXPECT_EQ(logger.count(Severity::kWarning), 1) << logger.all();
    EXPECT_NE(logger.all().find("opset 6"), std::string::npos) << logger.all();
    EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Relu"}));
  }
  {
    ModelBuilder m(onnx_import::kNewestOpset + 2);
    m.input("x", {"2"});
    m.node("Relu", {"x"}, {"y"});
    m.output("y");
    RecordingLogger logger;
    error_message([&] { m.import(logger); }, ErrorCode::kUnsupported);
  }
  {
    ModelBuilder m(13);
    m.input("x", {"2"});
    m.node("Relu", {"x"}, {"y"});
    m.output("y");
    RecordingLogger logger;
    m.import(logger);
    EXPECT_EQ(logger.count(Severity::kWarning), 0) << logger.all();
  }
}

TEST(OnnxImport, NoDefaultOpsetIsAnError) {
  ModelBuilder m(13);
  m.model.clear_opset_import();
  m.input("x", {"2"});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
}

// ----- loading

TEST(OnnxLoad, CorruptBytes) {
  const std::string garbage = "\x0a\xff\xff\xff\xff\x0f garbage that is not protobuf";
  std::string msg = error_message(
      [&] { onnx_import::import_onnx_bytes(garbage.data(), garbage.size(), ".", null_logger()); },
      ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("is not a valid ONNX model (protobuf parse failed)"), std::string::npos)
      << msg;
}

TEST(OnnxLoad, EmptyBytesHaveNoGraph) {
  std::string msg = error_message(
      [&] { onnx_import::import_onnx_bytes("", 0, ".", null_logger()); }, ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("not a valid ONNX model"), std::string::npos) << msg;
}

ModelBuilder model_with_weights() {
  ModelBuilder m(13);
  m.input("x", {"64"});
  std::vector<float> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i) * 0.5f;
  m.initializer("w", f32_tensor({64}, w));
  m.node("Add", {"x", "w"}, {"y"});
  m.output("y");
  return m;
}

TEST(OnnxLoad, FileRoundTrip) {
  TempDir dir;
  dir.write("model.onnx", model_with_weights().bytes());
  auto g =
      onnx_import::import_onnx_file(dir.file("model.onnx"), null_logger(), any_op_is_defined());
  EXPECT_EQ(op_sequence(*g), (std::vector<std::string>{"Add"}));
  EXPECT_EQ(g->find_value("w")->constant->as_double(63), 31.5);
}

TEST(OnnxLoad, TruncatedFile) {
  TempDir dir;
  std::string bytes = model_with_weights().bytes();
  dir.write("cut.onnx", bytes.substr(0, bytes.size() / 2));
  std::string msg =
      error_message([&] { onnx_import::import_onnx_file(dir.file("cut.onnx"), null_logger()); },
                    ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("cut.onnx"), std::string::npos) << msg;
  EXPECT_NE(msg.find("protobuf parse failed"), std::string::npos) << msg;
}

TEST(OnnxLoad, MissingFileNamesThePath) {
  std::string msg = error_message(
      [&] { onnx_import::import_onnx_file("/nonexistent/dir/model.onnx", null_logger()); },
      ErrorCode::kIO);
  EXPECT_NE(msg.find("/nonexistent/dir/model.onnx"), std::string::npos) << msg;
  TempDir dir;
  error_message([&] { onnx_import::import_onnx_file(dir.path(), null_logger()); }, ErrorCode::kIO);
}

TEST(OnnxLoad, ExternalDataBesideTheModelFile) {
  TempDir dir;
  const float w[2] = {3.0f, -1.0f};
  dir.write("model.onnx", model_with_external_weights("model.weights").bytes());
  dir.write("model.weights", std::string(reinterpret_cast<const char*>(w), sizeof(w)));
  auto g =
      onnx_import::import_onnx_file(dir.file("model.onnx"), null_logger(), any_op_is_defined());
  EXPECT_EQ(constant_doubles(g->find_value("w")), (std::vector<double>{3.0, -1.0}));

  // From memory, external data is found relative to base_dir.
  std::string bytes = model_with_external_weights("model.weights").bytes();
  auto g2 = onnx_import::import_onnx_bytes(bytes.data(), bytes.size(), dir.path(), null_logger(),
                                           any_op_is_defined());
  EXPECT_EQ(constant_doubles(g2->find_value("w")), (std::vector<double>{3.0, -1.0}));
}

TEST(OnnxLoad, MissingExternalDataFile) {
  TempDir dir;
  dir.write("model.onnx", model_with_external_weights("gone.bin").bytes());
  std::string msg =
      error_message([&] { onnx_import::import_onnx_file(dir.file("model.onnx"), null_logger()); },
                    ErrorCode::kIO);
  EXPECT_NE(msg.find("gone.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
}

TEST(OnnxLoad, ExternalDataEscapingTheModelFolder) {
  TempDir dir;
  const float w[2] = {1.0f, 2.0f};
  dir.write("secret.bin", std::string(reinterpret_cast<const char*>(w), sizeof(w)));
  dir.write("models/model.onnx", model_with_external_weights("../secret.bin").bytes());
  std::string msg = error_message(
      [&] { onnx_import::import_onnx_file(dir.file("models/model.onnx"), null_logger()); },
      ErrorCode::kInvalidModel);
  EXPECT_NE(msg.find("../secret.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("outside the model's folder"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

// A model with a bit of everything the loader reads: typed inputs, initializers in raw_data
// and typed fields, attributes of several kinds, a subgraph, and an old-opset conversion.
ModelBuilder varied_model() {
  ModelBuilder m(11);
  m.input("x", {"batch", "3"});
  m.input("cond", {}, TensorProto::BOOL);
  m.initializer("w", f32_tensor({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto* typed = m.graph->add_initializer();
  typed->set_name("axes");
  typed->set_data_type(TensorProto::INT64);
  typed->add_dims(1);
  typed->add_int64_data(1);
  m.node("MatMul", {"x", "w"}, {"mm"});
  auto* sm = m.node("Softmax", {"mm"}, {"sm"});
  set_int(sm, "axis", 1);
  auto* if_node = m.node("If", {"cond"}, {"y"});
  onnx::GraphProto* then_branch = set_graph(if_node, "then_branch");
  ModelBuilder::node_in(then_branch, "Relu", {"sm"}, {"r"});
  ModelBuilder::output_to(then_branch, "r");
  onnx::GraphProto* else_branch = set_graph(if_node, "else_branch");
  ModelBuilder::output_to(else_branch, "sm");
  m.node("ReduceSum", {"y", "axes"}, {"s"});
  m.output("s");
  return m;
}

// Corrupt files must end in a kiln::Error (or, when the damage happens to leave a valid model,
// an import), never in a crash, a huge allocation or another exception type.
TEST(OnnxLoad, CorruptedModelsFailCleanly) {
  const std::string good = varied_model().bytes();
  ASSERT_NO_THROW(varied_model().import());
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(state >> 33);
  };
  int refused = 0;
  for (int trial = 0; trial < 600; ++trial) {
    std::string bytes = good;
    const int flips = 1 + int(next() % 4);
    for (int f = 0; f < flips; ++f) bytes[next() % bytes.size()] = char(next() & 0xff);
    if (trial % 3 == 0) bytes.resize(next() % bytes.size());
    try {
      onnx_import::import_onnx_bytes(bytes.data(), bytes.size(), ".", null_logger(),
                                     any_op_is_defined());
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace kiln::testing

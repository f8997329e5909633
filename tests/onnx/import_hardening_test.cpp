// Hostile and inconsistent models: external data that leaves the model's folder through symbolic
// links or names a FIFO or device, duplicate attributes, declared types that contradict
// inference, versions newer than kiln knows, names that would garble messages, and subgraphs
// nested deeper than the importer's and the parser's limits.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <string>

#include "onnx/op_importer.h"
#include "onnx_test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string kTwoFloats("\x00\x00\x40\x40\x00\x00\x80\xbf", 8);  // 3.0f, -1.0f

std::string import_error(const TempDir& dir, const std::string& location, ErrorCode code) {
  dir.write("model.onnx", model_with_external_weights(location).bytes());
  return error_message(
      [&] {
        onnx_import::import_onnx_file(dir.file("model.onnx"), null_logger(), any_op_is_defined());
      },
      code);
}

// ----- external data

TEST(ImportHardening, ExternalDataThroughASymlinkedFolderLeavingTheModelFolderIsRefused) {
  TempDir outside;
  outside.write("passwd", kTwoFloats);
  TempDir dir;
  fs::create_directory_symlink(outside.path(), dir.file("sub"));
  const std::string msg = import_error(dir, "sub/passwd", ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "tensor 'w'")) << msg;
  EXPECT_TRUE(contains(msg, "'sub/passwd'")) << msg;
  EXPECT_TRUE(contains(msg, "outside the model's folder")) << msg;
  EXPECT_TRUE(contains(msg, "symbolic link")) << msg;

  // The same through a symlink to the file itself, and to a system file.
  fs::create_symlink(outside.file("passwd"), dir.file("link.bin"));
  EXPECT_TRUE(contains(import_error(dir, "link.bin", ErrorCode::kInvalidModel),
                       "outside the model's folder"));
  fs::create_directory_symlink("/etc", dir.file("etc"));
  EXPECT_TRUE(contains(import_error(dir, "etc/passwd", ErrorCode::kInvalidModel),
                       "outside the model's folder"));
}

TEST(ImportHardening, ExternalDataThroughSymlinksWithinTheModelFolderIsRead) {
  TempDir dir;
  dir.write("weights/real.bin", kTwoFloats);
  fs::create_symlink("weights/real.bin", dir.file("link.bin"));          // relative link
  fs::create_directory_symlink(dir.file("weights"), dir.file("alias"));  // absolute link
  for (const std::string location : {"link.bin", "alias/real.bin", "alias/../link.bin"}) {
    dir.write("model.onnx", model_with_external_weights(location).bytes());
    auto g =
        onnx_import::import_onnx_file(dir.file("model.onnx"), null_logger(), any_op_is_defined());
    EXPECT_EQ(constant_doubles(g->find_value("w")), (std::vector<double>{3.0, -1.0})) << location;
  }

  // The model's folder may itself be reached through a symlink.
  TempDir parent;
  fs::create_directory_symlink(dir.path(), parent.file("models"));
  auto g = onnx_import::import_onnx_file(parent.file("models/model.onnx"), null_logger(),
                                         any_op_is_defined());
  EXPECT_EQ(constant_doubles(g->find_value("w")), (std::vector<double>{3.0, -1.0}));
}

TEST(ImportHardening, ExternalDataThatIsNotARegularFileIsRefusedUnopened) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  // Opening a FIFO for reading would block until a writer comes: the test would hang.
  std::string msg = import_error(dir, "fifo", ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "tensor 'w'")) << msg;
  EXPECT_TRUE(contains(msg, "'fifo'")) << msg;
  EXPECT_TRUE(contains(msg, "a FIFO, not a regular file")) << msg;

  fs::create_symlink("fifo", dir.file("to_fifo"));
  EXPECT_TRUE(contains(import_error(dir, "to_fifo", ErrorCode::kInvalidModel), "a FIFO"));

  fs::create_directory(dir.file("folder"));
  EXPECT_TRUE(contains(import_error(dir, "folder", ErrorCode::kInvalidModel),
                       "a directory, not a regular file"));

  // A device node in the model's folder (making one needs CAP_MKNOD).
  if (::mknod(dir.file("zero").c_str(), S_IFCHR | 0600, makedev(1, 5)) == 0) {
    msg = import_error(dir, "zero", ErrorCode::kInvalidModel);
    EXPECT_TRUE(contains(msg, "a character device, not a regular file")) << msg;
  }
}

// ----- strict models

TEST(ImportHardening, DuplicateAttributesAreAnError) {
  ModelBuilder m(17);
  m.input("x", {"2", "3"});
  auto* n = m.node("Softmax", {"x"}, {"y"}, "soft");
  set_int(n, "axis", 0);
  set_int(n, "axis", 1);
  m.output("y");
  const std::string msg = error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "'soft'")) << msg;
  EXPECT_TRUE(contains(msg, "two attributes named 'axis'")) << msg;

  // In a subgraph too.
  ModelBuilder sub(17);
  sub.input("c", {}, TensorProto::BOOL);
  sub.input("x", {"2"});
  auto* if_node = sub.node("If", {"c"}, {"y"}, "branch");
  for (const char* branch : {"then_branch", "else_branch"}) {
    onnx::GraphProto* body = set_graph(if_node, branch);
    auto* inner = ModelBuilder::node_in(body, "Flatten", {"x"}, {std::string(branch) + "_y"},
                                        std::string(branch) + "_flat");
    set_int(inner, "axis", 0);
    set_int(inner, "axis", 0);
    ModelBuilder::output_to(body, std::string(branch) + "_y");
  }
  sub.output("y");
  const std::string sub_msg = error_message([&] { sub.import(); }, ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(sub_msg, "then_branch_flat")) << sub_msg;
  EXPECT_TRUE(contains(sub_msg, "two attributes named 'axis'")) << sub_msg;
}

// x [batch, 3] -> Relu -> y, y declared as `elem_type` with `dims`.
ModelBuilder relu_declared(int32_t elem_type, const DimSpec& dims,
                           const DimSpec& input = {"batch", "3"}) {
  ModelBuilder m(17);
  m.input("x", input);
  m.node("Relu", {"x"}, {"y"});
  auto* out = m.graph->add_output();
  out->set_name("y");
  ModelBuilder::set_type(out, elem_type, &dims);
  return m;
}

TEST(ImportHardening, DeclaredOutputTypeContradictingInferenceIsAnError) {
  const std::string msg = error_message(
      [&] {
        relu_declared(TensorProto::INT64, {"batch", "3"}).import(null_logger(), {});
      },
      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "graph output 'y'")) << msg;
  EXPECT_TRUE(contains(msg, "declared with element type INT64")) << msg;
  EXPECT_TRUE(contains(msg, "kiln infers FLOAT")) << msg;

  // value_info too.
  ModelBuilder m(17);
  m.input("x", {"2"});
  m.node("Relu", {"x"}, {"h"});
  m.node("Neg", {"h"}, {"y"});
  m.output("y");
  auto* vi = m.graph->add_value_info();
  vi->set_name("h");
  ModelBuilder::set_type(vi, TensorProto::FLOAT16, nullptr);
  const std::string vi_msg =
      error_message([&] { m.import(null_logger(), {}); }, ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(vi_msg, "value_info 'h'")) << vi_msg;
  EXPECT_TRUE(contains(vi_msg, "FLOAT16")) << vi_msg;

  // A data-dependent output's type is known before its extents.
  ModelBuilder nz(17);
  nz.input("x", {"4"});
  nz.node("NonZero", {"x"}, {"idx"});
  auto* idx = nz.graph->add_output();
  idx->set_name("idx");
  ModelBuilder::set_type(idx, TensorProto::INT32, nullptr);
  const std::string nz_msg =
      error_message([&] { nz.import(null_logger(), {}); }, ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(nz_msg, "graph output 'idx'")) << nz_msg;
  EXPECT_TRUE(contains(nz_msg, "INT32")) << nz_msg;
  EXPECT_TRUE(contains(nz_msg, "INT64")) << nz_msg;
}

TEST(ImportHardening, DeclaredShapeContradictingInferenceIsAnError) {
  std::string msg = error_message(
      [&] {
        relu_declared(TensorProto::FLOAT, {"batch", "4"}).import(null_logger(), {});
      },
      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "graph output 'y'")) << msg;
  EXPECT_TRUE(contains(msg, "[batch, 4]")) << msg;
  EXPECT_TRUE(contains(msg, "[?, 3]")) << msg;
  EXPECT_TRUE(contains(msg, "dim 1 is 3, not 4")) << msg;

  msg = error_message([&] { relu_declared(TensorProto::FLOAT, {"3"}).import(null_logger(), {}); },
                      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "rank 1")) << msg;
  EXPECT_TRUE(contains(msg, "rank 2")) << msg;

  msg = error_message(
      [&] {
        relu_declared(TensorProto::FLOAT, {"2", "3"}, {"5", "3"}).import(null_logger(), {});
      },
      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "dim 0 is 5, not 2")) << msg;
}

TEST(ImportHardening, DeclaredShapesThatDoNotContradictAreAccepted) {
  // Symbolic, unknown and 0 dims say nothing definite; a static dim where kiln's extent follows
  // a dynamic input is not a definite conflict; an empty shape is read as unknown (exporters
  // write it); a type kiln lacks or UNDEFINED is not compared.
  const std::vector<std::pair<int32_t, DimSpec>> fine = {
      {TensorProto::FLOAT, {"batch", "3"}},     {TensorProto::FLOAT, {"N", "3"}},
      {TensorProto::FLOAT, {"?", "?"}},         {TensorProto::FLOAT, {"0", "3"}},
      {TensorProto::FLOAT, {"7", "3"}},         {TensorProto::FLOAT, {}},
      {TensorProto::UNDEFINED, {"batch", "3"}},
  };
  for (const auto& [type, dims] : fine) {
    EXPECT_NO_THROW(relu_declared(type, dims).import(null_logger(), {})) << dims.size();
  }
  // Outputs with no type at all, and a graph kiln cannot resolve without real input shapes.
  ModelBuilder untyped(17);
  untyped.input("x", {"2"});
  untyped.node("Relu", {"x"}, {"y"});
  untyped.output("y");
  EXPECT_NO_THROW(untyped.import(null_logger(), {}));
  ModelBuilder unranked(17);
  unranked.input_unranked("x");
  unranked.node("Relu", {"x"}, {"y"});
  auto* out = unranked.graph->add_output();
  out->set_name("y");
  const DimSpec dims = {"2", "3"};
  ModelBuilder::set_type(out, TensorProto::FLOAT, &dims);
  EXPECT_NO_THROW(unranked.import(null_logger(), {}));
}

TEST(ImportHardening, OpsetNewerThanKilnSupportsIsAnError) {
  ModelBuilder m(99);
  m.input("x", {"2"});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  const std::string msg = error_message([&] { m.import(); }, ErrorCode::kUnsupported);
  EXPECT_EQ(msg, cat("opset 99 of domain '' is newer than the newest kiln supports (",
                     onnx_import::kNewestOpset, ")"));

  ModelBuilder named(onnx_import::kNewestOpset + 1);
  named.model.mutable_opset_import(0)->set_domain("ai.onnx");
  named.input("x", {"2"});
  named.node("Relu", {"x"}, {"y"});
  named.output("y");
  EXPECT_TRUE(contains(error_message([&] { named.import(); }, ErrorCode::kUnsupported),
                       "of domain 'ai.onnx' is newer"));

  ModelBuilder newest(onnx_import::kNewestOpset);
  newest.input("x", {"2"});
  newest.node("Relu", {"x"}, {"y"});
  newest.output("y");
  EXPECT_NO_THROW(newest.import());
}

TEST(ImportHardening, IrVersionZeroOrNewerThanKnownIsAnError) {
  ModelBuilder m(17);
  m.input("x", {"2"});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  m.model.set_ir_version(0);
  EXPECT_TRUE(
      contains(error_message([&] { m.import(); }, ErrorCode::kInvalidModel), "ir_version 0"));
  m.model.set_ir_version(int64_t(onnx::Version::IR_VERSION) + 1);
  const std::string msg = error_message([&] { m.import(); }, ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(msg, cat("IR version ", int(onnx::Version::IR_VERSION) + 1))) << msg;
  EXPECT_TRUE(contains(msg, cat("(", int(onnx::Version::IR_VERSION), ")"))) << msg;
  m.model.set_ir_version(onnx::Version::IR_VERSION);
  EXPECT_NO_THROW(m.import());
}

// ----- names in messages

TEST(ImportHardening, NamesInMessagesAreEscapedAndShortened) {
  const std::string hostile = "evil\n\x1b[31mred\x1b[0m" + std::string(1 << 20, 'n');
  ModelBuilder m(17);
  m.input("x", {"2"});
  auto* n = m.node("Softmax", {"x"}, {"y"}, hostile);
  set_int(n, "axis", 0);
  set_int(n, "axis", 0);
  m.output("y");
  const std::string msg = error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_LT(msg.size(), 600u) << msg.substr(0, 600);
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_TRUE(contains(msg, "evil\\n\\x1B[31mred\\x1B[0mnnn")) << msg;
  EXPECT_TRUE(contains(msg, cat("...(", hostile.size(), " bytes, hash "))) << msg;

  // The unsupported-node report, one line per node, with each name on its line.
  ModelBuilder u(17);
  u.input("x", {"2"});
  u.node("No\nSuch\x1b]0;title\x07Op", {"x"}, {"y"}, "line1\nline2");
  u.output("y");
  const std::string report =
      error_message([&] { u.import(null_logger(), {}); }, ErrorCode::kUnsupported);
  EXPECT_TRUE(contains(report, "node 'line1\\nline2' (op No\\nSuch\\x1B]0;title\\x07Op")) << report;
  EXPECT_EQ(report.find('\x1b'), std::string::npos) << report;
}

// ----- nesting

// x -> If(c) -> If(c) -> ... `depth` Ifs deep; each level's else branch and the innermost then
// branch copy x.
ModelBuilder nested_ifs(int depth) {
  ModelBuilder m(17);
  m.input("c", {}, TensorProto::BOOL);
  m.input("x", {"2"});
  onnx::GraphProto* graph = m.graph;
  std::string out = "y";
  for (int level = 0; level < depth; ++level) {
    auto* node = ModelBuilder::node_in(graph, "If", {"c"}, {out}, cat("if", level));
    onnx::GraphProto* then_branch = set_graph(node, "then_branch");
    onnx::GraphProto* else_branch = set_graph(node, "else_branch");
    ModelBuilder::node_in(else_branch, "Identity", {"x"}, {cat("e", level)});
    ModelBuilder::output_to(else_branch, cat("e", level));
    out = cat("t", level);
    ModelBuilder::output_to(then_branch, out);
    graph = then_branch;
  }
  ModelBuilder::node_in(graph, "Identity", {"x"}, {out});
  m.output("y");
  return m;
}

TEST(ImportHardening, SubgraphsNestedUpToTheLimitImport) {
  for (int depth : {32, onnx_import::kMaxSubgraphDepth}) {
    auto g = nested_ifs(depth).import();
    ASSERT_EQ(g->nodes().size(), 1u);
    EXPECT_EQ(g->nodes().front()->op, "If");
  }
}

TEST(ImportHardening, SubgraphsNestedPastTheLimitAreAClearError) {
  const int depth = onnx_import::kMaxSubgraphDepth + 1;
  // Parsed from bytes (within the parser's limit) and imported from memory alike.
  ModelBuilder m = nested_ifs(depth);
  std::string msg = error_message([&] { m.import(); }, ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, cat("nested ", depth, " levels deep"))) << msg;
  EXPECT_TRUE(contains(msg, cat("at most ", onnx_import::kMaxSubgraphDepth, " levels"))) << msg;
  EXPECT_TRUE(contains(msg, cat("if", depth - 1))) << msg;
  msg = error_message([&] { onnx_import::import_onnx_model(m.model, ".", null_logger()); },
                      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, cat("nested ", depth, " levels deep"))) << msg;
}

TEST(ImportHardening, FilesNestedPastTheParsersLimitSaySo) {
  // 3 message levels per If: past kMaxMessageNesting, within twice it.
  const std::string bytes = nested_ifs(onnx_import::kMaxMessageNesting / 3 + 5).bytes();
  std::string msg = error_message(
      [&] { onnx_import::import_onnx_bytes(bytes.data(), bytes.size(), ".", null_logger()); },
      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, cat("more than ", onnx_import::kMaxMessageNesting, " levels deep")))
      << msg;
  EXPECT_TRUE(contains(msg, "parser's limit")) << msg;
  EXPECT_FALSE(contains(msg, "corrupt")) << msg;

  // Deeper still: the parser cannot tell, so the message names both causes.
  const std::string deeper = nested_ifs(onnx_import::kMaxMessageNesting).bytes();
  msg = error_message(
      [&] { onnx_import::import_onnx_bytes(deeper.data(), deeper.size(), ".", null_logger()); },
      ErrorCode::kInvalidModel);
  EXPECT_TRUE(contains(msg, "protobuf parse failed")) << msg;
  EXPECT_TRUE(contains(msg, cat("more than ", onnx_import::kMaxMessageNesting, " levels deep")))
      << msg;
}

}  // namespace
}  // namespace kiln::testing

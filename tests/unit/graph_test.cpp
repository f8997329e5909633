#include "ir/graph.h"

#include <gtest/gtest.h>

#include "ir/printer.h"
#include "ir/verifier.h"

namespace kiln::ir {
namespace {

TEST(Graph, DeadCodeEliminationKeepsOnlyWhatOutputsNeed) {
  Graph g;
  Value* x = g.add_input("x", DataType::kFloat32, {Dim::named("batch"), Dim::fixed(4)});
  Node* used = g.add_node("Relu", "used", {x}, {"y"});
  g.add_node("Sigmoid", "unused", {x}, {"z"});
  g.mark_output(used->outputs[0]);
  EXPECT_EQ(g.remove_dead_code(), 1u);
  EXPECT_EQ(g.nodes().size(), 1u);
  EXPECT_EQ(g.find_value("z"), nullptr);
  EXPECT_NE(g.find_value("y"), nullptr);
  verify(g);
}

TEST(Graph, CloneIsDeepAndEqual) {
  Graph g;
  Value* x = g.add_input("x", DataType::kFloat32, {Dim::fixed(2)});
  Value* w = g.add_constant("w", Tensor::from_vector<float>(DataType::kFloat32, {2}, {1, 2}));
  Node* n = g.add_node("Add", "add", {x, w}, {"y"}, {{"note", std::string("hi")}});
  g.mark_output(n->outputs[0]);
  auto copy = g.clone();
  EXPECT_EQ(print(*copy), print(g));
  copy->nodes().front()->name = "changed";
  EXPECT_EQ(g.nodes().front()->name, "add");
  EXPECT_EQ(copy->find_value("y")->producer, copy->nodes().front().get());
}

TEST(Graph, AddValueMakesNamesUnique) {
  Graph g;
  Value* a = g.add_value("t", DataType::kFloat32, {});
  Value* b = g.add_value("t", DataType::kFloat32, {});
  EXPECT_NE(a->name, b->name);
}

TEST(Verifier, RejectsUseBeforeDefinition) {
  Graph g;
  Value* x = g.add_input("x", DataType::kFloat32, {Dim::fixed(1)});
  Node* second = g.add_node("Relu", "second", {x}, {"b"});
  // Insert a node at the front that reads `b`, which is produced later.
  g.insert_node(g.nodes().begin(), "Relu", "first", {second->outputs[0]}, {"a"});
  g.mark_output(g.find_value("a"));
  try {
    verify(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Relu 'first'"), std::string::npos) << e.what();
  }
}

TEST(Printer, ShowsInputsNodesAndSymbols) {
  Graph g;
  Value* x = g.add_input("x", DataType::kFloat16, {Dim::named("batch"), Dim::fixed(3)});
  Node* n = g.add_node("Softmax", "sm", {x}, {"y"}, {{"axis", int64_t(-1)}});
  g.mark_output(n->outputs[0]);
  std::string text = print(g);
  EXPECT_NE(text.find("input x: float16[batchx3]"), std::string::npos) << text;
  EXPECT_NE(text.find("%y = Softmax(x) {axis=-1}"), std::string::npos) << text;
}

}  // namespace
}  // namespace kiln::ir

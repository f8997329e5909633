// run_pipeline on toy pass lists: a disabled pass is skipped, a pass that changed the graph is
// followed by dead-code elimination, the verifier, shape resolution as its entry asks and a
// verbose log line; one that changed nothing by none of them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

struct RecordingLogger : Logger {
  std::vector<std::pair<Severity, std::string>> lines;
  void log(Severity severity, std::string_view message) noexcept override {
    lines.emplace_back(severity, message);
  }
  std::vector<std::string> at(Severity severity) const {
    std::vector<std::string> out;
    for (const auto& [s, m] : lines) {
      if (s == severity) out.push_back(m);
    }
    return out;
  }
};

// y = Neg(Relu(x)).
std::unique_ptr<ir::Graph> relu_neg() {
  auto g = std::make_unique<ir::Graph>();
  ir::Value* x = g->add_input("x", DataType::kFloat32, {ir::Dim::fixed(2)});
  ir::Node* relu = g->add_node("Relu", "relu", {x}, {"r"});
  ir::Node* neg = g->add_node("Neg", "neg", {relu->outputs[0]}, {"y"});
  g->mark_output(neg->outputs[0]);
  return g;
}

// "Neg(Relu(x)) -> Neg(x)": the Relu is left behind, dead, for the pipeline to remove.
class BypassRelu : public Pass {
 public:
  std::string name() const override { return "bypass_relu"; }
  bool apply(ir::Graph& graph) override {
    ++applied;
    for (auto& node : graph.nodes()) {
      if (node->op == "Relu") {
        graph.replace_all_uses(node->outputs[0], node->inputs[0]);
        return true;
      }
    }
    return false;
  }
  std::string summary() const override { return "relus bypassed"; }
  int applied = 0;
};

// Changes nothing.
class LookOnly : public Pass {
 public:
  std::string name() const override { return "look_only"; }
  bool apply(ir::Graph&) override { return false; }
};

// Breaks the graph (an output whose producer pointer disagrees) and says whether it changed it.
class BreakProducer : public Pass {
 public:
  explicit BreakProducer(bool says_changed) : says_changed_(says_changed) {}
  std::string name() const override { return "break_producer"; }
  bool apply(ir::Graph& graph) override {
    graph.nodes().back()->outputs[0]->producer = nullptr;
    return says_changed_;
  }

 private:
  bool says_changed_;
};

// A context whose resolution only counts its calls (and yields one empty point per call).
struct CountingContext {
  PassContext context;
  int resolutions = 0;
  explicit CountingContext(Logger* logger, bool with_points = true) {
    if (with_points) context.points.resize(3);
    context.resolve = [this](const ir::Graph&) {
      ++resolutions;
      return std::vector<ops::ResolvedShapes>(3);
    };
    context.logger = logger;
  }
};

TEST(Pipeline, DisabledPassIsSkipped) {
  auto g = relu_neg();
  RecordingLogger logger;
  CountingContext shapes(&logger);
  auto bypass = std::make_unique<BypassRelu>();
  BypassRelu* pass = bypass.get();
  PassList list;
  list.add(std::move(bypass), /*enabled=*/false);
  run_pipeline(*g, list, shapes.context);
  EXPECT_EQ(pass->applied, 0);
  EXPECT_EQ(g->nodes().size(), 2u);
  EXPECT_EQ(shapes.resolutions, 0);
  EXPECT_TRUE(logger.lines.empty());
}

TEST(Pipeline, ChangingPassIsFollowedByDeadCodeEliminationResolutionAndALogLine) {
  auto g = relu_neg();
  RecordingLogger logger;
  CountingContext shapes(&logger);
  PassList list;
  list.add(std::make_unique<LookOnly>());
  list.add(std::make_unique<BypassRelu>());
  run_pipeline(*g, list, shapes.context);

  ASSERT_EQ(g->nodes().size(), 1u);  // the dead Relu went
  EXPECT_EQ(g->nodes().front()->op, "Neg");
  EXPECT_EQ(g->find_value("r"), nullptr);
  EXPECT_EQ(shapes.resolutions, 1);  // after bypass_relu only
  const std::vector<std::string> verbose = logger.at(Logger::Severity::kVerbose);
  ASSERT_EQ(verbose.size(), 1u) << "look_only changed nothing and logs nothing";
  EXPECT_EQ(verbose[0].rfind("pass bypass_relu: 2 -> 1 nodes, ", 0), 0u) << verbose[0];
  EXPECT_NE(verbose[0].find(" ms"), std::string::npos) << verbose[0];
  EXPECT_EQ(logger.at(Logger::Severity::kInfo), std::vector<std::string>{"relus bypassed"});
}

TEST(Pipeline, ChangingPassIsVerified) {
  {
    auto g = relu_neg();
    PassList list;
    list.add(std::make_unique<BreakProducer>(/*says_changed=*/true));
    PassContext context;
    try {
      run_pipeline(*g, list, context);
      FAIL() << "the verifier did not run";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInternal);
      EXPECT_NE(std::string(e.what()).find("after pass break_producer"), std::string::npos)
          << e.what();
    }
  }
  {
    auto g = relu_neg();  // the same damage, but the pass says nothing changed: not verified
    PassList list;
    list.add(std::make_unique<BreakProducer>(/*says_changed=*/false));
    PassContext context;
    EXPECT_NO_THROW(run_pipeline(*g, list, context));
  }
}

TEST(Pipeline, ResolutionFollowsTheEntry) {
  RecordingLogger logger;
  {  // kNever: the next pass sees the old points; the pipeline still ends resolved
    auto g = relu_neg();
    CountingContext shapes(&logger);
    PassList list;
    list.add(std::make_unique<BypassRelu>(), true, Reresolve::kNever);
    list.add(std::make_unique<LookOnly>(), true, Reresolve::kIfChanged);
    run_pipeline(*g, list, shapes.context);
    EXPECT_EQ(shapes.resolutions, 1);
  }
  {  // kIfStale after a kNever: resolves for the change before it
    auto g = relu_neg();
    CountingContext shapes(&logger);
    PassList list;
    list.add(std::make_unique<BypassRelu>(), true, Reresolve::kNever);
    list.add(std::make_unique<LookOnly>(), true, Reresolve::kIfStale);
    list.add(std::make_unique<LookOnly>(), true, Reresolve::kIfStale);
    run_pipeline(*g, list, shapes.context);
    EXPECT_EQ(shapes.resolutions, 1);
  }
  {  // no points yet (the passes before shapes exist): nothing is resolved
    auto g = relu_neg();
    CountingContext shapes(&logger, /*with_points=*/false);
    PassList list;
    list.add(std::make_unique<BypassRelu>());
    run_pipeline(*g, list, shapes.context);
    EXPECT_EQ(shapes.resolutions, 0);
    EXPECT_EQ(g->nodes().size(), 1u);
  }
}

}  // namespace
}  // namespace kiln::passes

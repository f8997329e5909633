// Structure-aware mutation test of the plan loader. A few small CPU engines (Conv + Relu,
// MatMul + Add with a dynamic batch, NonZero, If) are built and serialized; then every field
// the reader reads (the header's fields and, through the ByteReader's field trace, every
// integer, count, length, index, offset, enum and string of the body) is changed to boundary
// values (0, -1, 2^31, 2^62, 2^63, neighbours, every DataType value for bytes, a random value)
// with the checksum recomputed, as a fuzzer that knows the format would. Each mutant must
// either fail to load or run with a kiln::Error, or load and run on buffers sized exactly from
// what the engine reports (types, and shapes from the context) without writing past them:
// never a crash, never another exception. The cases the fuzzer found are named regressions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "builder/engine_builder.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/kiln.h"
#include "plan/byte_io.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

namespace kiln {
namespace {

// ---------------------------------------------------------------------------------------------
// The engines.

Tensor f32(Dims shape, std::vector<float> v) {
  return Tensor::from_vector<float>(DataType::kFloat32, std::move(shape), v);
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (float(i % 7) - 3.0f) * scale;
  return v;
}

plan::PlanContents build(const ir::Graph& g, const BuilderConfig& config = BuilderConfig{}) {
  StderrLogger logger(Logger::Severity::kError);
  return builder::build_plan(g, config, logger);
}

plan::PlanContents conv_relu_plan() {
  ir::Graph g;
  g.name = "conv_relu";
  ir::Value* x = g.add_input("x", DataType::kFloat32, ir::from_dims({1, 2, 5, 5}));
  ir::Value* w = g.add_constant("w", f32({3, 2, 3, 3}, ramp(54, 0.1f)));
  ir::Value* b = g.add_constant("b", f32({3}, {0.5f, -0.25f, 0.0f}));
  ir::Node* conv = g.add_node("Conv", "conv", {x, w, b}, {"c"},
                              {{"pads", std::vector<int64_t>{1, 1, 1, 1}},
                               {"kernel_shape", std::vector<int64_t>{3, 3}},
                               {"strides", std::vector<int64_t>{1, 1}}});
  ir::Node* relu = g.add_node("Relu", "relu", {conv->outputs[0]}, {"y"});
  g.mark_output(relu->outputs[0]);
  return build(g);
}

plan::PlanContents matmul_add_plan() {
  ir::Graph g;
  g.name = "matmul_add";
  ir::Value* x = g.add_input("x", DataType::kFloat32, {ir::Dim::named("batch"), ir::Dim::fixed(4)});
  ir::Value* w = g.add_constant("w", f32({4, 3}, ramp(12, 0.5f)));
  ir::Value* b = g.add_constant("b", f32({3}, {1.0f, 2.0f, 3.0f}));
  ir::Node* mm = g.add_node("MatMul", "mm", {x, w}, {"m"});
  ir::Node* add = g.add_node("Add", "add", {mm->outputs[0], b}, {"y"});
  g.mark_output(add->outputs[0]);
  BuilderConfig config;
  OptimizationProfile p;
  p.set_dimensions("x", OptProfileSelector::kMIN, {1, 4});
  p.set_dimensions("x", OptProfileSelector::kOPT, {2, 4});
  p.set_dimensions("x", OptProfileSelector::kMAX, {4, 4});
  config.add_optimization_profile(p);
  return build(g, config);
}

plan::PlanContents nonzero_plan() {
  ir::Graph g;
  g.name = "nonzero";
  ir::Value* x = g.add_input("x", DataType::kFloat32, ir::from_dims({6}));
  ir::Node* relu = g.add_node("Relu", "relu", {x}, {"r"});
  ir::Node* nz = g.add_node("NonZero", "nz", {relu->outputs[0]}, {"idx"});
  ir::Node* cast = g.add_node("Cast", "cast", {nz->outputs[0]}, {"idx_f"},
                              {{"to", int64_t(DataType::kFloat32)}});
  g.mark_output(relu->outputs[0]);
  g.mark_output(cast->outputs[0]);
  return build(g);
}

plan::PlanContents if_plan() {
  auto branch = [](const std::string& name, const std::string& op, float k) {
    auto body = std::make_shared<ir::Graph>();
    body->name = name;
    ir::Value* in = body->add_input(name + "_x", DataType::kFloat32, ir::from_dims({4}));
    ir::Value* c = body->add_constant(name + "_k", f32({1}, {k}));
    ir::Node* n = body->add_node(op, name + "_op", {in, c}, {name + "_out"});
    n->outputs[0]->dtype = DataType::kFloat32;
    n->outputs[0]->shape = ir::from_dims({4});
    n->outputs[0]->has_shape = true;
    body->mark_output(n->outputs[0]);
    return body;
  };
  ir::Graph g;
  g.name = "if";
  ir::Value* cond = g.add_input("cond", DataType::kBool, ir::from_dims({}));
  ir::Value* x = g.add_input("x", DataType::kFloat32, ir::from_dims({4}));
  ir::Node* iff = g.add_node("If", "if", {cond, x}, {"v"},
                             {{"then_branch", branch("then", "Add", 1.0f)},
                              {"else_branch", branch("else", "Mul", -2.0f)},
                              {"captured_inputs", int64_t(1)}});
  ir::Node* relu = g.add_node("Relu", "relu", {iff->outputs[0]}, {"y"});
  g.mark_output(relu->outputs[0]);
  return build(g);
}

struct EngineCase {
  std::string name;
  std::vector<uint8_t> bytes;
};

const std::vector<EngineCase>& engine_cases() {
  static const std::vector<EngineCase> cases = [] {
    std::vector<EngineCase> out;
    out.push_back({"conv_relu", plan::serialize_plan(conv_relu_plan())});
    out.push_back({"matmul_add", plan::serialize_plan(matmul_add_plan())});
    out.push_back({"nonzero", plan::serialize_plan(nonzero_plan())});
    out.push_back({"if", plan::serialize_plan(if_plan())});
    return out;
  }();
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Loading and running with buffers sized from what the engine reports.

// Heap memory of exactly `bytes` usable bytes followed by a guard zone of a known pattern
// (large enough to hold a run that writes 8-byte elements where 1-byte ones were reported), so
// that a write past the end is caught in a normal build, not only under valgrind or ASan.
class GuardedBuffer {
 public:
  static constexpr uint8_t kPattern = 0xA5;
  explicit GuardedBuffer(size_t bytes)
      : bytes_(bytes), storage_(new uint8_t[bytes + guard(bytes)]) {
    std::memset(storage_.get() + bytes_, kPattern, guard(bytes_));
  }
  uint8_t* data() { return storage_.get(); }
  size_t bytes() const { return bytes_; }
  bool intact() const {
    for (size_t i = 0; i < guard(bytes_); ++i) {
      if (storage_[bytes_ + i] != kPattern) return false;
    }
    return true;
  }

 private:
  static size_t guard(size_t bytes) { return 8 * bytes + 256; }
  size_t bytes_;
  std::unique_ptr<uint8_t[]> storage_;
};

class GuardedAllocator : public OutputAllocator {
 public:
  std::vector<std::unique_ptr<GuardedBuffer>> buffers;
  void* reallocate_output(const std::string&, void*, uint64_t size, uint64_t) override {
    if (size > (uint64_t(1) << 28)) return nullptr;  // a mutant asking for absurd memory
    buffers.push_back(std::make_unique<GuardedBuffer>(size_t(size)));
    return buffers.back()->data();
  }
  void notify_shape(const std::string&, const Dims&) override {}
};

enum class Outcome { kLoadError, kRunError, kRan };

struct RunResult {
  Outcome outcome = Outcome::kRan;
  std::string message;  // the kiln::Error's text, or what went wrong (failure)
  bool failed = false;  // a crash-class problem: another exception, a write past a buffer
};

// Fills a buffer with data of `dtype`: a pattern for float32, bool and the common integer
// types (small values, valid as indices), zeros for the rest.
void fill(GuardedBuffer& buffer, DataType dtype) {
  uint8_t* p = buffer.data();
  const size_t n = buffer.bytes() / std::max<size_t>(element_size(dtype), 1);
  std::memset(p, 0, buffer.bytes());
  for (size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DataType::kFloat32:
        reinterpret_cast<float*>(p)[i] = (float(i % 5) - 2.0f) * 0.75f;
        break;
      case DataType::kBool:
        p[i] = uint8_t((i + 1) % 2);
        break;
      case DataType::kInt32:
        reinterpret_cast<int32_t*>(p)[i] = int32_t(i % 3);
        break;
      case DataType::kInt64:
        reinterpret_cast<int64_t*>(p)[i] = int64_t(i % 3);
        break;
      default:
        break;
    }
  }
}

RunResult load_and_run(const std::vector<uint8_t>& bytes) {
  RunResult result;
  StderrLogger logger(Logger::Severity::kInternalError);
  Runtime runtime(logger);
  std::unique_ptr<Engine> engine;
  try {
    engine = runtime.deserialize_engine(bytes.data(), bytes.size());
  } catch (const Error& e) {
    result.outcome = Outcome::kLoadError;
    result.message = e.what();
    return result;
  } catch (const std::exception& e) {
    result.failed = true;
    result.message = cat("loading threw a non-kiln exception: ", e.what());
    return result;
  }
  std::vector<std::unique_ptr<GuardedBuffer>> buffers;
  GuardedAllocator allocator;
  try {
    auto ctx = engine->create_execution_context();
    for (int i = 0; i < engine->num_io_tensors(); ++i) {
      const std::string& name = engine->io_tensor_name(i);
      if (engine->tensor_io_mode(name) != TensorIOMode::kINPUT) continue;
      ctx->set_input_shape(name, engine->profile_shape(name, 0, OptProfileSelector::kOPT));
    }
    for (int i = 0; i < engine->num_io_tensors(); ++i) {
      const std::string& name = engine->io_tensor_name(i);
      const bool input = engine->tensor_io_mode(name) == TensorIOMode::kINPUT;
      if (!input && ctx->has_data_dependent_shape(name)) {
        ctx->set_output_allocator(name, &allocator);
        continue;
      }
      const Dims shape = ctx->tensor_shape(name);
      uint64_t size = element_size(engine->tensor_dtype(name));
      for (int64_t d : shape) {
        if (d < 0 || (d > 0 && size > (uint64_t(1) << 28) / uint64_t(d))) {
          result.failed = true;
          result.message = cat("the engine reports ", input ? "input" : "output", " '", name,
                               "' as ", to_string(engine->tensor_dtype(name)), " [",
                               to_string(shape), "], which cannot be allocated");
          return result;
        }
        size *= uint64_t(d);
      }
      buffers.push_back(std::make_unique<GuardedBuffer>(size_t(size)));
      if (input) fill(*buffers.back(), engine->tensor_dtype(name));
      ctx->set_tensor_address(name, buffers.back()->data());
    }
    ctx->execute();
  } catch (const Error& e) {
    result.outcome = Outcome::kRunError;
    result.message = e.what();
  } catch (const std::exception& e) {
    result.failed = true;
    result.message = cat("running threw a non-kiln exception: ", e.what());
  }
  for (const auto& b : buffers) {
    if (!b->intact()) {
      result.failed = true;
      result.message = cat("the run wrote past the end of a ", b->bytes(), "-byte I/O buffer");
    }
  }
  for (const auto& b : allocator.buffers) {
    if (!b->intact()) {
      result.failed = true;
      result.message =
          cat("the run wrote past the end of a ", b->bytes(), "-byte output allocation");
    }
  }
  return result;
}

void fix_checksum(std::vector<uint8_t>& bytes) {
  const uint32_t crc = plan::format::compute_checksum(bytes.data(), bytes.size());
  std::memcpy(bytes.data() + plan::format::kChecksumOffset, &crc, sizeof crc);
}

// ---------------------------------------------------------------------------------------------
// Mutants.

struct Field {
  size_t offset;
  size_t width;  // 1, 4, 8; 0: the bytes of a string (`size` of them)
  size_t size;
  std::string where;
};

// Every field of `bytes`: the header's, then those the reader reads from the body.
std::vector<Field> fields_of(const std::vector<uint8_t>& bytes) {
  using namespace plan::format;
  std::vector<Field> fields = {
      {kFormatVersionOffset, 4, 4, "header > format_version"},
      {kHeaderSizeOffset, 4, 4, "header > header_size"},
      {kBodySizeOffset, 8, 8, "header > body_size"},
      {kWeightsSizeOffset, 8, 8, "header > weights_size"},
      {kBuilderFlagsOffset, 4, 4, "header > builder_flags"},
      {kKilnVersionOffset, 0, 1, "header > kiln_version"},
      {kTargetOffset, 0, 3, "header > target"},
  };
  std::vector<plan::FieldRead> reads;
  plan::field_reads = &reads;
  try {
    plan::deserialize_plan(bytes.data(), bytes.size());
  } catch (...) {
    plan::field_reads = nullptr;
    throw;
  }
  plan::field_reads = nullptr;
  for (plan::FieldRead& r : reads)
    fields.push_back({r.offset, r.width, r.size, std::move(r.where)});
  return fields;
}

struct Mutant {
  std::vector<uint8_t> bytes;
  std::string what;
};

template <typename T>
T get(const std::vector<uint8_t>& bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

// The values a field is changed to.
std::vector<uint64_t> values_for(const Field& f, uint64_t current, std::mt19937_64& rng) {
  std::vector<uint64_t> v;
  if (f.width == 1) {
    for (int i = 0; i <= kDataTypeCount; ++i)
      v.push_back(uint64_t(i));  // every DataType, and one past
    v.insert(v.end(), {0x7F, 0x80, 0xFF, current ^ 1});
  } else if (f.width == 4) {
    v = {0,          1,          current - 1, current + 1,       current * 2,
         0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,  rng() & 0xFFFFFFFF};
  } else {
    v = {0,
         1,
         ~uint64_t(0),  // -1
         current - 1,
         current + 1,
         current + 64,
         current - 64,
         current * 2,
         uint64_t(1) << 31,
         uint64_t(1) << 32,
         uint64_t(1) << 62,
         uint64_t(1) << 63,
         (uint64_t(1) << 63) - 1,
         rng()};
  }
  return v;
}

std::vector<Mutant> mutants_of(const std::vector<uint8_t>& original) {
  std::vector<Mutant> out;
  std::mt19937_64 rng(20261125);
  for (const Field& f : fields_of(original)) {
    auto add = [&](std::vector<uint8_t> bytes, const std::string& change) {
      if (bytes == original) return;
      fix_checksum(bytes);
      out.push_back({std::move(bytes), cat(f.where, " (byte ", f.offset, "): ", change)});
    };
    if (f.width == 0) {  // a string's bytes: change the first and the last
      if (f.size == 0) continue;
      for (size_t at : {f.offset, f.offset + f.size - 1}) {
        std::vector<uint8_t> bytes = original;
        bytes[at] ^= 1;
        add(std::move(bytes), cat("text byte ", at - f.offset, " ^= 1"));
      }
      continue;
    }
    uint64_t current = 0;
    std::memcpy(&current, original.data() + f.offset, f.width);
    for (uint64_t value : values_for(f, current, rng)) {
      std::vector<uint8_t> bytes = original;
      std::memcpy(bytes.data() + f.offset, &value, f.width);  // little-endian: the low bytes
      add(std::move(bytes),
          cat(current, " -> ",
              f.width == 8 ? value : value & ((uint64_t(1) << (8 * f.width)) - 1)));
    }
  }
  // Whole-field replacements of the header's target.
  for (const char* target : {"cuda:sm_90", "cpu2", "", "gpu"}) {
    std::vector<uint8_t> bytes = original;
    std::memset(bytes.data() + plan::format::kTargetOffset, 0, plan::format::kTargetField);
    std::memcpy(bytes.data() + plan::format::kTargetOffset, target, std::strlen(target));
    fix_checksum(bytes);
    out.push_back({std::move(bytes), cat("header > target: '", target, "'")});
  }
  return out;
}

TEST(PlanMutation, OriginalEnginesLoadAndRun) {
  for (const EngineCase& c : engine_cases()) {
    SCOPED_TRACE(c.name);
    RunResult r = load_and_run(c.bytes);
    EXPECT_FALSE(r.failed) << r.message;
    EXPECT_EQ(r.outcome, Outcome::kRan) << r.message;
  }
}

TEST(PlanMutation, EveryFieldAtBoundaryValuesFailsCleanlyOrRuns) {
  for (const EngineCase& c : engine_cases()) {
    SCOPED_TRACE(c.name);
    size_t load_errors = 0, run_errors = 0, ran = 0, failures = 0;
    const std::vector<Mutant> mutants = mutants_of(c.bytes);
    // KILN_MUTATION_VERBOSE=1 lists the mutants that loaded.
    const bool verbose = std::getenv("KILN_MUTATION_VERBOSE") != nullptr;
    for (const Mutant& m : mutants) {
      RunResult r = load_and_run(m.bytes);
      if (r.failed) {
        if (++failures <= 50) ADD_FAILURE() << c.name << ": " << m.what << ": " << r.message;
        continue;
      }
      // Errors at run time are for what only a run can know; the file's own fields are the
      // loader's to refuse. A kInvalidPlan error at run time means the loader let one through.
      if (r.outcome == Outcome::kRunError &&
          r.message.find("plan is invalid") != std::string::npos) {
        ADD_FAILURE() << c.name << ": " << m.what
                      << ": loaded, then failed at run time: " << r.message;
      }
      (r.outcome == Outcome::kLoadError  ? load_errors
       : r.outcome == Outcome::kRunError ? run_errors
                                         : ran)++;
      if (verbose && r.outcome != Outcome::kLoadError) {
        std::cout << "  " << (r.outcome == Outcome::kRan ? "ran: " : "run error: ") << m.what << " "
                  << r.message << "\n";
      }
    }
    EXPECT_EQ(failures, 0u);
    std::cout << "[ mutants  ] " << c.name << ": " << mutants.size() << " mutants: " << load_errors
              << " refused at load, " << run_errors << " failed at run time, " << ran << " ran\n";
    EXPECT_GT(load_errors, mutants.size() / 2) << "most mutants should be refused";
  }
}

// ---------------------------------------------------------------------------------------------
// The cases the fuzzer found.

std::string expect_load_error(const plan::PlanContents& plan,
                              const std::vector<std::string>& mentions) {
  const std::vector<uint8_t> bytes = plan::serialize_plan(plan);  // checksum computed afresh
  RunResult r = load_and_run(bytes);
  EXPECT_FALSE(r.failed) << r.message;
  EXPECT_EQ(r.outcome, Outcome::kLoadError) << r.message;
  for (const std::string& m : mentions)
    EXPECT_NE(r.message.find(m), std::string::npos) << r.message;
  return r.message;
}

ir::Value* value_named(plan::PlanContents& plan, const std::string& name) {
  ir::Value* v = plan.graph->find_value(name);
  EXPECT_NE(v, nullptr) << name;
  return v;
}

TEST(PlanMutationRegression, GraphOutputDtypeChangedWithChecksumRecomputed) {
  // Was: the output buffer sized from the plan's type while the kernel writes float32
  // (SIGSEGV, SIGABRT, or a silent heap overflow with exit 0).
  for (DataType dtype : {DataType::kBool, DataType::kFloat16, DataType::kUInt8, DataType::kInt4}) {
    SCOPED_TRACE(to_string(dtype));
    const std::string stored = cat("stored as ", to_string(dtype));
    plan::PlanContents plan = conv_relu_plan();
    value_named(plan, "y")->dtype = dtype;
    expect_load_error(plan, {"value 'y'", "Relu 'relu'", stored, "infers float32"});
    plan = matmul_add_plan();
    value_named(plan, "y")->dtype = dtype;
    expect_load_error(plan, {"value 'y'", "Add 'add'", stored, "infers float32"});
  }
}

TEST(PlanMutationRegression, OutputDtypeChangedInPlaceInTheFile) {
  // The same at the byte level, as the fuzzer did it: the dtype byte of the output's value
  // entry patched, the checksum recomputed.
  const std::vector<uint8_t> original = plan::serialize_plan(conv_relu_plan());
  size_t patched = 0;
  for (const Field& f : fields_of(original)) {
    if (f.width != 1 || f.where.find("'y'") == std::string::npos ||
        f.where.find("tensor") != std::string::npos)
      continue;
    if (original[f.offset] != uint8_t(DataType::kFloat32)) continue;  // the dtype (flags are 1)
    for (DataType dtype :
         {DataType::kBool, DataType::kFloat16, DataType::kUInt8, DataType::kInt4}) {
      std::vector<uint8_t> bytes = original;
      bytes[f.offset] = uint8_t(dtype);
      fix_checksum(bytes);
      RunResult r = load_and_run(bytes);
      EXPECT_FALSE(r.failed) << r.message;
      EXPECT_EQ(r.outcome, Outcome::kLoadError) << r.message;
      EXPECT_NE(r.message.find("stored as " + std::string(to_string(dtype))), std::string::npos)
          << r.message;
      ++patched;
    }
  }
  EXPECT_EQ(patched, 4u);
}

TEST(PlanMutationRegression, DataDependentOutputDtype) {
  // An output whose extents wait for the data still has a type known at load: the one the
  // caller reads its OutputAllocator's memory as.
  plan::PlanContents plan = nonzero_plan();
  value_named(plan, "idx_f")->dtype = DataType::kFloat16;
  expect_load_error(plan, {"value 'idx_f'", "Cast 'cast'", "stored as float16", "infers float32"});
}

TEST(PlanMutationRegression, HugeArenaBytes) {
  // Was: loaded, then "cannot create std::vector larger than max_size()" on the first run.
  for (uint64_t arena :
       {uint64_t(1) << 63, ~uint64_t(0), (uint64_t(1) << 63) - 1, uint64_t(1) << 62}) {
    SCOPED_TRACE(arena);
    plan::PlanContents plan = conv_relu_plan();
    plan.memory.arena_bytes = arena;
    expect_load_error(plan, {"arena_bytes is " + std::to_string(arena)});
  }
}

TEST(PlanMutationRegression, MemoryBlocksMustHoldTheirValues) {
  plan::PlanContents plan = conv_relu_plan();
  ASSERT_TRUE(plan.memory.sizes.count("c"));
  plan.memory.sizes["c"] = 4;  // smaller than the Conv's output
  expect_load_error(plan, {"'c'", "reserves 4 bytes"});

  plan = conv_relu_plan();
  plan.memory.offsets.erase("c");
  plan.memory.sizes.erase("c");
  expect_load_error(plan, {"'c'", "no place in the arena"});

  plan = conv_relu_plan();
  plan.memory.offsets["nothing"] = 0;
  plan.memory.sizes["nothing"] = 256;
  expect_load_error(plan, {"'nothing'", "names no activation"});
}

TEST(PlanMutationRegression, StoredShapesMustBeInferred) {
  plan::PlanContents plan = conv_relu_plan();
  value_named(plan, "y")->shape = ir::from_dims({1, 3, 5, 6});
  expect_load_error(plan,
                    {"'y'", "Relu 'relu'", "stored with shape [1x3x5x6]", "infers [1x3x5x5]"});
}

TEST(PlanMutationRegression, OpsAndTacticsMustExist) {
  plan::PlanContents plan = conv_relu_plan();
  plan.graph->nodes().back()->op = "NoSuchOp";
  expect_load_error(plan, {"'NoSuchOp'", "is not an op"});

  plan = conv_relu_plan();
  plan.tactics["relu"] = "no_such_kernel";
  expect_load_error(plan, {"tactic 'no_such_kernel'", "Relu 'relu'"});

  plan = conv_relu_plan();
  plan.tactics["ghost"] = "reference";
  expect_load_error(plan, {"'ghost'"});
}

TEST(PlanMutationRegression, AttributeOfTheWrongKind) {
  plan::PlanContents plan = conv_relu_plan();
  for (auto& node : plan.graph->nodes()) {
    if (node->op == "Conv") node->attrs["strides"] = std::string("1,1");
  }
  expect_load_error(plan, {"strides"});
}

TEST(PlanMutationRegression, GpuEnginesLoadAndTheirTacticsAreChecked) {
  // A GPU engine builds without a GPU (kernels chosen by capability, no autotuning); loading
  // checks its CUDA tactics without touching a device.
  plan::PlanContents plan;
  try {
    ir::Graph g;
    g.name = "gpu";
    ir::Value* x = g.add_input("x", DataType::kFloat32, ir::from_dims({2, 4}));
    ir::Value* w = g.add_constant("w", f32({4, 3}, ramp(12, 0.5f)));
    ir::Node* mm = g.add_node("MatMul", "mm", {x, w}, {"m"});
    ir::Node* shape =
        g.add_node("Reshape", "flat",
                   {mm->outputs[0],
                    g.add_constant("s", Tensor::from_vector<int64_t>(DataType::kInt64, {1}, {6}))},
                   {"f"});
    ir::Node* relu = g.add_node("Relu", "relu", {shape->outputs[0]}, {"y"});
    g.mark_output(relu->outputs[0]);
    BuilderConfig config;
    config.set_device(DeviceType::kGPU);
    plan = build(g, config);
  } catch (const Error& e) {
    GTEST_SKIP() << "no GPU engines in this build: " << e.what();
  }
  const std::vector<uint8_t> bytes = plan::serialize_plan(plan);
  StderrLogger logger(Logger::Severity::kError);
  EXPECT_NO_THROW(Runtime(logger).deserialize_engine(bytes.data(), bytes.size()));
  for (const auto& [node, tactic] : plan.tactics) {
    SCOPED_TRACE(node + ": " + tactic);
    plan::PlanContents bad = plan::deserialize_plan(bytes.data(), bytes.size());
    bad.tactics[node] = "reference";  // a CPU tactic
    const std::vector<uint8_t> mutated = plan::serialize_plan(bad);
    try {
      Runtime(logger).deserialize_engine(mutated.data(), mutated.size());
      ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidPlan) << e.what();
      EXPECT_NE(std::string(e.what()).find("tactic 'reference'"), std::string::npos) << e.what();
    }
  }
  // Every field mutated: loading (no GPU needed) gives a kiln::Error or an engine.
  size_t refused = 0;
  const std::vector<Mutant> mutants = mutants_of(bytes);
  for (const Mutant& m : mutants) {
    try {
      Runtime(logger).deserialize_engine(m.bytes.data(), m.bytes.size());
    } catch (const Error&) {
      ++refused;
    } catch (const std::exception& e) {
      ADD_FAILURE() << m.what << ": loading threw a non-kiln exception: " << e.what();
    }
  }
  EXPECT_GT(refused, mutants.size() / 2);
}

TEST(PlanMutationRegression, ProfilesMustMatchTheInputs) {
  plan::PlanContents plan = matmul_add_plan();
  plan.profiles[0].max[0] = {int64_t(1) << 62, 4};
  expect_load_error(plan, {"profile 0"});

  plan = matmul_add_plan();
  plan.profiles.clear();
  expect_load_error(plan, {"no optimization profile"});
}

}  // namespace
}  // namespace kiln

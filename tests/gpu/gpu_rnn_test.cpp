// RNN, GRU and LSTM on the GPU against the CPU backend (src/ops/rnn.cpp computes in double):
// directions, layouts, sequence lengths, initial states, bias or none, peepholes,
// input_forget, linear_before_reset, clip and every activation with alpha/beta, over float32
// (cuBLASLt projection and kiln's own), float16, bfloat16 and float64. Where there is no GPU
// each case still builds its GPU engine and checks the tactic chosen.
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "builder/network_impl.h"
#include "gpu/gpu_test_util.h"

namespace kiln {
namespace {

using gpu_test::check_op;
using gpu_test::GpuOptions;
using gpu_test::has;
using gpu_test::in;
using gpu_test::Operand;
using gpu_test::random_tensor;

struct CellCase {
  std::string op = "LSTM";
  DataType dtype = DataType::kFloat32;
  int64_t seq = 5, batch = 3, input = 4, hidden = 6;
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = true;
  bool initial_state = true;
  std::vector<int32_t> lengths;  // empty: no sequence_lens
  bool lengths_int64 = false;
  bool peepholes = false;
  int64_t input_forget = 0;
  int64_t linear_before_reset = 0;
  std::optional<double> clip;
  std::vector<std::string> activations;
  std::vector<double> alphas, betas;
  int outputs = 0;  // 0: every output of the op
  uint32_t seed = 1;
};

int64_t gates(const std::string& op) { return op == "RNN" ? 1 : (op == "GRU" ? 3 : 4); }

// Checks the case against the CPU backend; returns the GPU engine's description.
std::string check_cell(const CellCase& c, GpuOptions options = {}) {
  const int64_t dirs = c.direction == "bidirectional" ? 2 : 1;
  const int64_t g = gates(c.op);
  const Dims x_shape =
      c.layout == 1 ? Dims{c.batch, c.seq, c.input} : Dims{c.seq, c.batch, c.input};
  const Dims state_shape =
      c.layout == 1 ? Dims{c.batch, dirs, c.hidden} : Dims{dirs, c.batch, c.hidden};
  uint32_t seed = c.seed * 100;
  // Weights small enough that the recurrence neither saturates nor blows up.
  auto weights = [&](const Dims& shape) {
    return random_tensor(c.dtype, shape, seed++, -0.6, 0.6);
  };
  std::vector<std::optional<Operand>> operands;
  operands.push_back(in(random_tensor(c.dtype, x_shape, seed++, -1.5, 1.5)));
  operands.push_back(in(weights({dirs, g * c.hidden, c.input})));
  operands.push_back(in(weights({dirs, g * c.hidden, c.hidden})));
  operands.push_back(c.bias ? std::optional<Operand>(in(weights({dirs, 2 * g * c.hidden})))
                            : std::nullopt);
  if (c.lengths.empty()) {
    operands.push_back(std::nullopt);
  } else if (c.lengths_int64) {
    const std::vector<int64_t> wide(c.lengths.begin(), c.lengths.end());
    operands.push_back(
        in(Tensor::from_vector<int64_t>(DataType::kInt64, {int64_t(wide.size())}, wide)));
  } else {
    operands.push_back(
        in(Tensor::from_vector<int32_t>(DataType::kInt32, {int64_t(c.lengths.size())}, c.lengths)));
  }
  operands.push_back(c.initial_state ? std::optional<Operand>(in(weights(state_shape)))
                                     : std::nullopt);
  if (c.op == "LSTM") {
    operands.push_back(c.initial_state ? std::optional<Operand>(in(weights(state_shape)))
                                       : std::nullopt);
    operands.push_back(c.peepholes ? std::optional<Operand>(in(weights({dirs, 3 * c.hidden})))
                                   : std::nullopt);
  }
  while (!operands.empty() && !operands.back()) operands.pop_back();
  const int outputs = c.outputs > 0 ? c.outputs : (c.op == "LSTM" ? 3 : 2);
  SCOPED_TRACE(c.op + " " + c.direction + " layout " + std::to_string(c.layout) + " " +
               to_string(c.dtype));
  return check_op(
      c.op, operands,
      [&](ILayer& layer) {
        layer.set_string("direction", c.direction);
        layer.set_int("layout", c.layout);
        layer.set_int("hidden_size", c.hidden);
        if (c.op == "LSTM") layer.set_int("input_forget", c.input_forget);
        if (c.op == "GRU") layer.set_int("linear_before_reset", c.linear_before_reset);
        if (c.clip) layer.set_float("clip", *c.clip);
        // The public API has no list-of-strings or list-of-floats setter: set them on the node.
        ir::Node& node = detail::NetworkImpl::node(layer);
        if (!c.activations.empty()) node.attrs["activations"] = c.activations;
        if (!c.alphas.empty()) node.attrs["activation_alpha"] = c.alphas;
        if (!c.betas.empty()) node.attrs["activation_beta"] = c.betas;
      },
      options, outputs);
}

std::string lower(std::string s) {
  for (char& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

TEST(GpuRnn, DirectionsLayoutsLengthsAndStates) {
  uint32_t seed = 1;
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    for (const char* direction : {"forward", "reverse", "bidirectional"}) {
      for (int64_t layout : {0, 1}) {
        CellCase c;
        c.op = op;
        c.direction = direction;
        c.layout = layout;
        c.seed = seed++;
        // Lengths 0, full and in between; every other case without them.
        if (layout == 0) c.lengths = {5, 0, 3};
        c.linear_before_reset = layout;
        const std::string d = check_cell(c);
        EXPECT_TRUE(has(d, "cuda_" + lower(op) + "_cublaslt")) << d;
      }
    }
  }
}

TEST(GpuRnn, WithoutBiasStateOrLengthsAndFewerOutputs) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    CellCase c;
    c.op = op;
    c.bias = false;
    c.initial_state = false;
    c.direction = "bidirectional";
    check_cell(c);
    c.outputs = 1;  // Y only
    check_cell(c);
    c.outputs = 2;  // Y and Y_h
    c.lengths = {2, 5, 1};
    c.layout = 1;
    check_cell(c);
  }
}

TEST(GpuRnn, LstmPeepholesAndInputForget) {
  for (int64_t input_forget : {0, 1}) {
    for (const char* direction : {"forward", "bidirectional"}) {
      CellCase c;
      c.peepholes = true;
      c.input_forget = input_forget;
      c.direction = direction;
      c.lengths = {4, 5, 2};
      check_cell(c);
    }
  }
}

TEST(GpuRnn, GruLinearBeforeResetBothWays) {
  for (int64_t lbr : {0, 1}) {
    for (const char* direction : {"forward", "reverse", "bidirectional"}) {
      CellCase c;
      c.op = "GRU";
      c.linear_before_reset = lbr;
      c.direction = direction;
      c.seed = uint32_t(7 + lbr);
      check_cell(c);
    }
  }
}

TEST(GpuRnn, ClipBoundsTheGateInputs) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    CellCase c;
    c.op = op;
    c.clip = 0.3;
    c.direction = "bidirectional";
    check_cell(c);
  }
}

// Every activation of the reference, with its alpha/beta where it takes them, in each slot of
// each cell (the list is rotated so that each activation meets each position).
TEST(GpuRnn, EveryActivationInEverySlot) {
  const std::vector<std::string> names = {
      "Relu",       "Tanh",        "Sigmoid", "Affine",   "LeakyRelu", "ThresholdedRelu",
      "ScaledTanh", "HardSigmoid", "Elu",     "Softsign", "Softplus"};
  const size_t n = names.size();
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    const size_t per_direction = size_t(gates(op) == 1 ? 1 : (gates(op) == 3 ? 2 : 3));
    for (size_t shift = 0; shift < n; ++shift) {
      CellCase c;
      c.op = op;
      c.direction = shift % 2 == 0 ? "bidirectional" : "forward";
      const size_t count = per_direction * (c.direction == "bidirectional" ? 2 : 1);
      for (size_t i = 0; i < count; ++i) c.activations.push_back(names[(shift + i * 4) % n]);
      c.alphas = {0.7, 0.4, 1.3, 0.25, 0.9, 0.6};
      c.betas = {0.3, -0.2, 0.6, 0.45};
      c.seed = uint32_t(20 + shift);
      check_cell(c);
    }
  }
}

TEST(GpuRnn, DefaultAlphasAndCaseInsensitiveNames) {
  CellCase c;
  c.op = "LSTM";
  c.activations = {"hardsigmoid", "SCALEDTANH", "elu"};
  check_cell(c);
  c.op = "RNN";
  c.activations = {"leakyrelu"};
  check_cell(c);
}

TEST(GpuRnn, LargerHiddenSpansManyWarps) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    CellCase c;
    c.op = op;
    c.seq = 9;
    c.batch = 4;
    c.input = 37;
    c.hidden = 72;
    c.direction = "bidirectional";
    c.lengths = {9, 1, 6, 0};
    c.peepholes = true;
    c.linear_before_reset = 0;
    check_cell(c, GpuOptions{3e-5});
    c.layout = 1;
    c.lengths.clear();
    c.linear_before_reset = 1;
    check_cell(c, GpuOptions{3e-5});
  }
}

TEST(GpuRnn, OwnProjectionKernelWithoutCublasLt) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    CellCase c;
    c.op = op;
    c.direction = "bidirectional";
    c.lengths = {3, 5, 1};
    c.input = 21;  // more than one 16-wide tile
    c.hidden = 18;
    GpuOptions options;
    options.tactic_sources = 0;
    const std::string d = check_cell(c, options);
    EXPECT_TRUE(has(d, "cuda_" + lower(op))) << d;
    EXPECT_FALSE(has(d, "cublaslt")) << d;
  }
}

TEST(GpuRnn, HalfBfloat16AndDouble) {
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    for (DataType t : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64}) {
      CellCase c;
      c.op = op;
      c.dtype = t;
      c.direction = "bidirectional";
      c.lengths = {5, 2, 4};
      c.peepholes = true;
      const double tolerance =
          t == DataType::kFloat64 ? 1e-12 : (t == DataType::kFloat16 ? 4e-3 : 2e-2);
      const std::string d = check_cell(c, GpuOptions{tolerance});
      if (t == DataType::kFloat64) {
        EXPECT_TRUE(has(d, "cuda_" + lower(op))) << d;
      } else {
        EXPECT_TRUE(has(d, "cuda_" + lower(op) + "_cublaslt")) << d;
      }
      // kiln's own projection keeps float16/bfloat16 products in float32.
      GpuOptions own{tolerance};
      own.tactic_sources = 0;
      if (t != DataType::kFloat64) check_cell(c, own);
    }
  }
}

TEST(GpuRnn, Int64SequenceLengthsAndEmptyBatchEntries) {
  // sequence_lens as int64 goes through the same kernel (the CPU accepts both).
  CellCase c;
  c.op = "GRU";
  c.lengths = {4, 0, 5};
  c.lengths_int64 = true;
  c.direction = "bidirectional";
  check_cell(c);
  c.op = "LSTM";
  c.lengths = {0, 0, 0};  // every entry empty: Y, Y_h and Y_c all zero
  check_cell(c);
}

}  // namespace
}  // namespace kiln

// RNN, GRU and LSTM (ONNX opset 22 semantics): forward, reverse and bidirectional recurrences
// over a [seq, batch, input] sequence (or [batch, seq, input] with layout = 1), with optional
// bias, per-batch sequence lengths, initial hidden (and cell) state and LSTM peepholes.
//
// Gate layouts follow ONNX: W is [directions, gates * hidden, input], R is
// [directions, gates * hidden, hidden], B is [directions, 2 * gates * hidden] (the W biases then
// the R biases). Gate order: RNN (i), GRU (z, r, h), LSTM (i, o, f, c); peepholes P are
// [directions, 3 * hidden] in the order (i, o, f).
//
// Details the ONNX text leaves open follow onnxruntime, the reference runtime:
//   * activation_alpha / activation_beta are consumed in order by those activations (of all
//     directions, forward first) that take an alpha / a beta; missing ones take the defaults of
//     the corresponding ONNX operator.
//   * clip bounds the input of the gate activations (f and g), not of LSTM's output activation
//     h, nor the cell state.
//   * a batch entry with sequence length L only runs steps 0..L-1 (reverse: L-1..0); Y is zero
//     past L, and Y_h / Y_c hold the state after its last step (zero when L is 0).
//   * LSTM's input_forget couples the gates: f = 1 - i.
//
// The reference compute works in double whatever the storage type and rounds once on the way
// out; every batch entry and direction is an independent, plainly written loop.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

enum class RnnKind { kRnn, kGru, kLstm };

int64_t gate_count(RnnKind kind) {
  switch (kind) {
    case RnnKind::kRnn:
      return 1;
    case RnnKind::kGru:
      return 3;
    case RnnKind::kLstm:
      return 4;
  }
  return 1;
}

// The activations one direction uses: RNN (f), GRU (f, g), LSTM (f, g, h).
std::vector<std::string> default_activations(RnnKind kind) {
  switch (kind) {
    case RnnKind::kRnn:
      return {"Tanh"};
    case RnnKind::kGru:
      return {"Sigmoid", "Tanh"};
    case RnnKind::kLstm:
      return {"Sigmoid", "Tanh", "Tanh"};
  }
  return {};
}

enum class ActivationFn {
  kRelu,
  kTanh,
  kSigmoid,
  kAffine,
  kLeakyRelu,
  kThresholdedRelu,
  kScaledTanh,
  kHardSigmoid,
  kElu,
  kSoftsign,
  kSoftplus
};

struct ActivationSpec {
  const char* name;  // lower case; names compare case-insensitively
  ActivationFn fn;
  bool takes_alpha;
  bool takes_beta;
  double default_alpha;  // those of the ONNX operator of the same name
  double default_beta;
};

constexpr ActivationSpec kActivations[] = {
    {"relu", ActivationFn::kRelu, false, false, 0, 0},
    {"tanh", ActivationFn::kTanh, false, false, 0, 0},
    {"sigmoid", ActivationFn::kSigmoid, false, false, 0, 0},
    {"affine", ActivationFn::kAffine, true, true, 1.0, 0.0},
    {"leakyrelu", ActivationFn::kLeakyRelu, true, false, 0.01, 0},
    {"thresholdedrelu", ActivationFn::kThresholdedRelu, true, false, 1.0, 0},
    {"scaledtanh", ActivationFn::kScaledTanh, true, true, 1.0, 1.0},
    {"hardsigmoid", ActivationFn::kHardSigmoid, true, true, 0.2, 0.5},
    {"elu", ActivationFn::kElu, true, false, 1.0, 0},
    {"softsign", ActivationFn::kSoftsign, false, false, 0, 0},
    {"softplus", ActivationFn::kSoftplus, false, false, 0, 0},
};

struct Activation {
  ActivationFn fn = ActivationFn::kTanh;
  double alpha = 0;
  double beta = 0;

  double operator()(double x) const {
    switch (fn) {
      case ActivationFn::kRelu:
        return std::max(x, 0.0);
      case ActivationFn::kTanh:
        return std::tanh(x);
      case ActivationFn::kSigmoid:
        return 1.0 / (1.0 + std::exp(-x));
      case ActivationFn::kAffine:
        return alpha * x + beta;
      case ActivationFn::kLeakyRelu:
        return x >= 0 ? x : alpha * x;
      case ActivationFn::kThresholdedRelu:
        return x > alpha ? x : 0.0;
      case ActivationFn::kScaledTanh:
        return alpha * std::tanh(beta * x);
      case ActivationFn::kHardSigmoid:
        return std::clamp(alpha * x + beta, 0.0, 1.0);
      case ActivationFn::kElu:
        return x >= 0 ? x : alpha * (std::exp(x) - 1.0);
      case ActivationFn::kSoftsign:
        return x / (1.0 + std::abs(x));
      case ActivationFn::kSoftplus:
        return std::log1p(std::exp(x));
    }
    return x;
  }
};

// Everything the attributes say, validated; shared by inference and compute.
struct RnnConfig {
  RnnKind kind = RnnKind::kRnn;
  int64_t directions = 1;
  bool reverse = false;      // direction == "reverse" (bidirectional runs direction 1 reversed)
  bool batch_major = false;  // layout == 1
  std::optional<double> clip;
  bool linear_before_reset = false;  // GRU
  bool input_forget = false;         // LSTM
  // directions * activations-per-direction entries, direction 0 first.
  std::vector<Activation> activations;

  const Activation& activation(int64_t direction, size_t which) const {
    const size_t per_direction = activations.size() / size_t(directions);
    return activations[size_t(direction) * per_direction + which];
  }
};

// Throws kiln::Error "<Op> '<name>': <message>" unless `cond`.
template <typename... Args>
void check(const ir::Node& node, bool cond, Args&&... args) {
  if (!cond) fail(ErrorCode::kInvalidModel, node.describe(), ": ", std::forward<Args>(args)...);
}

// Reads and checks the attributes (used by both inference and compute).
RnnConfig parse_config(const ir::Node& node, RnnKind kind) {
  auto check_attr = [&](bool cond, auto&&... args) { check(node, cond, args...); };
  RnnConfig config;
  config.kind = kind;
  const std::string direction = node.attr_string("direction", "forward");
  check_attr(direction == "forward" || direction == "reverse" || direction == "bidirectional",
             "direction '", direction, "' is not forward, reverse or bidirectional");
  config.directions = direction == "bidirectional" ? 2 : 1;
  config.reverse = direction == "reverse";
  const int64_t layout = node.attr_int("layout", 0);
  check_attr(layout == 0 || layout == 1, "layout ", layout, " is not 0 or 1");
  config.batch_major = layout == 1;
  if (node.has_attr("clip")) {
    const double clip = node.attr_float("clip");
    check_attr(clip > 0, "clip ", clip, " must be positive");
    config.clip = clip;
  }
  if (kind == RnnKind::kGru) {
    const int64_t lbr = node.attr_int("linear_before_reset", 0);
    check_attr(lbr == 0 || lbr == 1, "linear_before_reset ", lbr, " is not 0 or 1");
    config.linear_before_reset = lbr == 1;
  }
  if (kind == RnnKind::kLstm) {
    const int64_t input_forget = node.attr_int("input_forget", 0);
    check_attr(input_forget == 0 || input_forget == 1, "input_forget ", input_forget,
               " is not 0 or 1");
    config.input_forget = input_forget == 1;
  }

  const size_t per_direction = default_activations(kind).size();
  std::vector<std::string> names = node.attr_strings("activations", {});
  if (names.empty()) {
    for (int64_t d = 0; d < config.directions; ++d) {
      for (const std::string& n : default_activations(kind)) names.push_back(n);
    }
  } else if (names.size() == per_direction * 2 && config.directions == 1) {
    // RNN's schema default lists both directions' activation even for one direction.
    names.resize(per_direction);
  } else if (names.size() == per_direction && config.directions == 2) {
    // One direction's list given for both.
    const std::vector<std::string> one_direction = names;
    names.insert(names.end(), one_direction.begin(), one_direction.end());
  }
  check_attr(names.size() == per_direction * size_t(config.directions), "activations lists ",
             names.size(), " functions; ", per_direction * size_t(config.directions), " expected (",
             per_direction, " per direction)");
  const std::vector<double> alphas = node.attr_floats("activation_alpha", {});
  const std::vector<double> betas = node.attr_floats("activation_beta", {});
  size_t next_alpha = 0;
  size_t next_beta = 0;
  for (const std::string& name : names) {
    std::string lower = name;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    const ActivationSpec* spec = nullptr;
    for (const ActivationSpec& s : kActivations) {
      if (lower == s.name) spec = &s;
    }
    check_attr(spec != nullptr, "activation '", name, "' is not supported");
    Activation act{spec->fn, spec->default_alpha, spec->default_beta};
    if (spec->takes_alpha && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (spec->takes_beta && next_beta < betas.size()) act.beta = betas[next_beta++];
    config.activations.push_back(act);
  }
  return config;
}

// Input indices (LSTM adds initial_c and P).
constexpr size_t kX = 0, kW = 1, kR = 2, kB = 3, kSequenceLens = 4, kInitialH = 5, kInitialC = 6,
                 kPeepholes = 7;

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat64 || t == DataType::kFloat16 ||
         t == DataType::kBFloat16;
}

// Checks the inputs against each other and sets the outputs.
void infer_rnn(InferContext& ctx, RnnKind kind) {
  const RnnConfig config = parse_config(ctx.node(), kind);
  const DataType dtype = ctx.input_dtype(kX);
  ctx.check(is_float_type(dtype), "input type ", to_string(dtype),
            " is not supported (float16, bfloat16, float32 or float64 expected)");
  const Dims& x = ctx.input_shape(kX);
  const Dims& w = ctx.input_shape(kW);
  const Dims& r = ctx.input_shape(kR);
  ctx.check(x.size() == 3, "X must have rank 3, not ", x.size(), " (shape ", to_string(x), ")");
  ctx.check(w.size() == 3 && r.size() == 3, "W and R must have rank 3 (shapes ", to_string(w),
            " and ", to_string(r), ")");
  const int64_t hidden = r[2];
  if (ctx.node().has_attr("hidden_size")) {
    ctx.check(ctx.node().attr_int("hidden_size") == hidden, "hidden_size ",
              ctx.node().attr_int("hidden_size"), " does not match R's shape ", to_string(r));
  }
  const int64_t seq = config.batch_major ? x[1] : x[0];
  const int64_t batch = config.batch_major ? x[0] : x[1];
  const int64_t dirs = config.directions;
  const int64_t gates = gate_count(kind);
  auto same_type = [&](size_t i, const char* what) {
    ctx.check(ctx.input_dtype(i) == dtype, what, " has type ", to_string(ctx.input_dtype(i)),
              ", X has ", to_string(dtype));
  };
  same_type(kW, "W");
  same_type(kR, "R");
  ctx.check(w == Dims{dirs, gates * hidden, x[2]}, "W has shape ", to_string(w), "; ",
            to_string(Dims{dirs, gates * hidden, x[2]}), " expected");
  ctx.check(r == Dims{dirs, gates * hidden, hidden}, "R has shape ", to_string(r), "; ",
            to_string(Dims{dirs, gates * hidden, hidden}), " expected");
  if (ctx.has_input(kB)) {
    same_type(kB, "B");
    ctx.check(ctx.input_shape(kB) == Dims{dirs, 2 * gates * hidden}, "B has shape ",
              to_string(ctx.input_shape(kB)), "; ", to_string(Dims{dirs, 2 * gates * hidden}),
              " expected");
  }
  if (ctx.has_input(kSequenceLens)) {
    const DataType t = ctx.input_dtype(kSequenceLens);
    ctx.check(t == DataType::kInt32 || t == DataType::kInt64, "sequence_lens has type ",
              to_string(t), "; int32 expected");
    ctx.check(ctx.input_shape(kSequenceLens) == Dims{batch}, "sequence_lens has shape ",
              to_string(ctx.input_shape(kSequenceLens)), "; ", to_string(Dims{batch}), " expected");
  }
  const Dims state_shape =
      config.batch_major ? Dims{batch, dirs, hidden} : Dims{dirs, batch, hidden};
  const size_t last_state_input = kind == RnnKind::kLstm ? kInitialC : kInitialH;
  for (size_t i = kInitialH; i <= last_state_input; ++i) {
    if (!ctx.has_input(i)) continue;
    const char* what = i == kInitialH ? "initial_h" : "initial_c";
    same_type(i, what);
    ctx.check(ctx.input_shape(i) == state_shape, what, " has shape ", to_string(ctx.input_shape(i)),
              "; ", to_string(state_shape), " expected");
  }
  if (kind == RnnKind::kLstm && ctx.has_input(kPeepholes)) {
    same_type(kPeepholes, "P");
    ctx.check(ctx.input_shape(kPeepholes) == Dims{dirs, 3 * hidden}, "P has shape ",
              to_string(ctx.input_shape(kPeepholes)), "; ", to_string(Dims{dirs, 3 * hidden}),
              " expected");
  }

  const Dims y_shape =
      config.batch_major ? Dims{batch, seq, dirs, hidden} : Dims{seq, dirs, batch, hidden};
  ctx.set_output(0, dtype, y_shape);
  for (size_t i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, dtype, state_shape);
}

// One direction's weights as doubles, with row-major accessors.
struct DirectionWeights {
  int64_t hidden = 0;
  int64_t input = 0;
  std::vector<double> w;     // [gates * hidden, input]
  std::vector<double> r;     // [gates * hidden, hidden]
  std::vector<double> wb;    // [gates * hidden]
  std::vector<double> rb;    // [gates * hidden]
  std::vector<double> peep;  // [3 * hidden] (LSTM; zeros when absent)

  // W[gate*hidden + row, :] . x
  double w_dot(int64_t gate, int64_t row, const std::vector<double>& x) const {
    double sum = 0;
    const double* line = &w[size_t((gate * hidden + row) * input)];
    for (int64_t k = 0; k < input; ++k) sum += line[k] * x[size_t(k)];
    return sum;
  }
  // R[gate*hidden + row, :] . h
  double r_dot(int64_t gate, int64_t row, const std::vector<double>& h) const {
    double sum = 0;
    const double* line = &r[size_t((gate * hidden + row) * hidden)];
    for (int64_t k = 0; k < hidden; ++k) sum += line[k] * h[size_t(k)];
    return sum;
  }
  double w_bias(int64_t gate, int64_t row) const { return wb[size_t(gate * hidden + row)]; }
  double r_bias(int64_t gate, int64_t row) const { return rb[size_t(gate * hidden + row)]; }
};

// The recurrent state of one batch entry in one direction.
struct State {
  std::vector<double> h;
  std::vector<double> c;  // LSTM only
};

// One time step: updates `state` from input `x`.
void step(const RnnConfig& config, int64_t direction, const DirectionWeights& wt,
          const std::vector<double>& x, State& state) {
  const int64_t hidden = wt.hidden;
  auto clipped = [&](double v) {
    return config.clip ? std::clamp(v, -*config.clip, *config.clip) : v;
  };
  const Activation& f = config.activation(direction, 0);
  std::vector<double> next_h(static_cast<size_t>(hidden));
  switch (config.kind) {
    case RnnKind::kRnn: {
      for (int64_t j = 0; j < hidden; ++j) {
        next_h[size_t(j)] = f(clipped(wt.w_dot(0, j, x) + wt.r_dot(0, j, state.h) +
                                      wt.w_bias(0, j) + wt.r_bias(0, j)));
      }
      break;
    }
    case RnnKind::kGru: {
      const Activation& g = config.activation(direction, 1);
      constexpr int64_t kZ = 0, kReset = 1, kH = 2;
      std::vector<double> z(static_cast<size_t>(hidden)), reset(static_cast<size_t>(hidden));
      for (int64_t j = 0; j < hidden; ++j) {
        z[size_t(j)] = f(clipped(wt.w_dot(kZ, j, x) + wt.r_dot(kZ, j, state.h) + wt.w_bias(kZ, j) +
                                 wt.r_bias(kZ, j)));
        reset[size_t(j)] = f(clipped(wt.w_dot(kReset, j, x) + wt.r_dot(kReset, j, state.h) +
                                     wt.w_bias(kReset, j) + wt.r_bias(kReset, j)));
      }
      std::vector<double> reset_h(static_cast<size_t>(hidden));
      for (int64_t j = 0; j < hidden; ++j)
        reset_h[size_t(j)] = reset[size_t(j)] * state.h[size_t(j)];
      for (int64_t j = 0; j < hidden; ++j) {
        // linear_before_reset applies the reset gate after R's product (and its bias).
        const double recurrent =
            config.linear_before_reset
                ? reset[size_t(j)] * (wt.r_dot(kH, j, state.h) + wt.r_bias(kH, j))
                : wt.r_dot(kH, j, reset_h) + wt.r_bias(kH, j);
        const double candidate = g(clipped(wt.w_dot(kH, j, x) + recurrent + wt.w_bias(kH, j)));
        next_h[size_t(j)] = (1.0 - z[size_t(j)]) * candidate + z[size_t(j)] * state.h[size_t(j)];
      }
      break;
    }
    case RnnKind::kLstm: {
      const Activation& g = config.activation(direction, 1);
      const Activation& h_act = config.activation(direction, 2);
      constexpr int64_t kI = 0, kO = 1, kF = 2, kC = 3;
      auto pre = [&](int64_t gate, int64_t j) {
        return wt.w_dot(gate, j, x) + wt.r_dot(gate, j, state.h) + wt.w_bias(gate, j) +
               wt.r_bias(gate, j);
      };
      std::vector<double> next_c(static_cast<size_t>(hidden));
      for (int64_t j = 0; j < hidden; ++j) {
        const double c_prev = state.c[size_t(j)];
        const double i = f(clipped(pre(kI, j) + wt.peep[size_t(j)] * c_prev));
        const double forget =
            config.input_forget ? 1.0 - i
                                : f(clipped(pre(kF, j) + wt.peep[size_t(2 * hidden + j)] * c_prev));
        const double candidate = g(clipped(pre(kC, j)));
        const double c = forget * c_prev + i * candidate;
        const double o = f(clipped(pre(kO, j) + wt.peep[size_t(hidden + j)] * c));
        next_c[size_t(j)] = c;
        next_h[size_t(j)] = o * h_act(c);
      }
      state.c = std::move(next_c);
      break;
    }
  }
  state.h = std::move(next_h);
}

// Element [index..index+count) of a tensor as doubles.
std::vector<double> load_range(const Tensor& t, int64_t index, int64_t count) {
  std::vector<double> out(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) out[size_t(k)] = t.as_double(index + k);
  return out;
}

void store_double(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DataType::kFloat64)
    t.data<double>()[i] = v;
  else
    store_float(t, i, float(v));
}

void zero_fill(Tensor& t) {
  if (t.numel() > 0) std::memset(t.raw(), 0, t.nbytes());
}

void compute_rnn(ComputeContext& ctx, RnnKind kind) {
  const ir::Node& node = ctx.node();
  const RnnConfig config = parse_config(node, kind);

  const Tensor& x = ctx.input(kX);
  const int64_t seq = config.batch_major ? x.dim(1) : x.dim(0);
  const int64_t batch = config.batch_major ? x.dim(0) : x.dim(1);
  const int64_t input_size = x.dim(2);
  const int64_t hidden = ctx.input(kR).dim(2);
  const int64_t dirs = config.directions;
  const int64_t gates = gate_count(kind);

  // Flat offsets of X[t, b, :], of a state [d, b, :] and of Y[t, d, b, :] in either layout.
  auto x_offset = [&](int64_t t, int64_t b) {
    return (config.batch_major ? b * seq + t : t * batch + b) * input_size;
  };
  auto state_offset = [&](int64_t d, int64_t b) {
    return (config.batch_major ? b * dirs + d : d * batch + b) * hidden;
  };
  auto y_offset = [&](int64_t t, int64_t d, int64_t b) {
    return (config.batch_major ? (b * seq + t) * dirs + d : (t * dirs + d) * batch + b) * hidden;
  };

  Tensor* y = ctx.has_output(0) ? &ctx.output(0) : nullptr;
  Tensor* y_h = ctx.has_output(1) ? &ctx.output(1) : nullptr;
  Tensor* y_c = kind == RnnKind::kLstm && ctx.has_output(2) ? &ctx.output(2) : nullptr;
  for (Tensor* out : {y, y_h, y_c}) {
    if (out) zero_fill(*out);
  }

  std::vector<int64_t> lengths(size_t(batch), seq);
  if (ctx.has_input(kSequenceLens)) {
    lengths = ctx.input(kSequenceLens).to_int64_vector();
    for (int64_t b = 0; b < batch; ++b) {
      KILN_CHECK(lengths[size_t(b)] >= 0 && lengths[size_t(b)] <= seq, ErrorCode::kInvalidArgument,
                 node.describe(), ": sequence_lens[", b, "] = ", lengths[size_t(b)],
                 " is outside [0, ", seq, "]");
    }
  }

  for (int64_t d = 0; d < dirs; ++d) {
    DirectionWeights wt;
    wt.hidden = hidden;
    wt.input = input_size;
    wt.w = load_range(ctx.input(kW), d * gates * hidden * input_size, gates * hidden * input_size);
    wt.r = load_range(ctx.input(kR), d * gates * hidden * hidden, gates * hidden * hidden);
    if (ctx.has_input(kB)) {
      wt.wb = load_range(ctx.input(kB), d * 2 * gates * hidden, gates * hidden);
      wt.rb = load_range(ctx.input(kB), d * 2 * gates * hidden + gates * hidden, gates * hidden);
    } else {
      wt.wb.assign(size_t(gates * hidden), 0.0);
      wt.rb.assign(size_t(gates * hidden), 0.0);
    }
    wt.peep.assign(size_t(3 * hidden), 0.0);
    if (kind == RnnKind::kLstm && ctx.has_input(kPeepholes)) {
      wt.peep = load_range(ctx.input(kPeepholes), d * 3 * hidden, 3 * hidden);
    }
    const bool backwards = config.reverse || d == 1;

    for (int64_t b = 0; b < batch; ++b) {
      State state;
      state.h = ctx.has_input(kInitialH)
                    ? load_range(ctx.input(kInitialH), state_offset(d, b), hidden)
                    : std::vector<double>(size_t(hidden), 0.0);
      if (kind == RnnKind::kLstm) {
        state.c = ctx.has_input(kInitialC)
                      ? load_range(ctx.input(kInitialC), state_offset(d, b), hidden)
                      : std::vector<double>(size_t(hidden), 0.0);
      }
      const int64_t length = lengths[size_t(b)];
      for (int64_t k = 0; k < length; ++k) {
        const int64_t t = backwards ? length - 1 - k : k;
        step(config, d, wt, load_range(x, x_offset(t, b), input_size), state);
        if (y) {
          for (int64_t j = 0; j < hidden; ++j) {
            store_double(*y, y_offset(t, d, b) + j, state.h[size_t(j)]);
          }
        }
      }
      // An empty sequence leaves its final state zero, as onnxruntime does.
      if (length == 0) continue;
      for (int64_t j = 0; j < hidden; ++j) {
        if (y_h) store_double(*y_h, state_offset(d, b) + j, state.h[size_t(j)]);
        if (y_c) store_double(*y_c, state_offset(d, b) + j, state.c[size_t(j)]);
      }
    }
  }
}

KILN_REGISTER_OP(OpDef{
    .name = "RNN",
    .min_inputs = 3,
    .max_inputs = 6,
    .min_outputs = 0,
    .max_outputs = 2,
    .infer = [](InferContext& ctx) { infer_rnn(ctx, RnnKind::kRnn); },
    .compute = [](ComputeContext& ctx) { compute_rnn(ctx, RnnKind::kRnn); },
});

KILN_REGISTER_OP(OpDef{
    .name = "GRU",
    .min_inputs = 3,
    .max_inputs = 6,
    .min_outputs = 0,
    .max_outputs = 2,
    .infer = [](InferContext& ctx) { infer_rnn(ctx, RnnKind::kGru); },
    .compute = [](ComputeContext& ctx) { compute_rnn(ctx, RnnKind::kGru); },
});

KILN_REGISTER_OP(OpDef{
    .name = "LSTM",
    .min_inputs = 3,
    .max_inputs = 8,
    .min_outputs = 0,
    .max_outputs = 3,
    .infer = [](InferContext& ctx) { infer_rnn(ctx, RnnKind::kLstm); },
    .compute = [](ComputeContext& ctx) { compute_rnn(ctx, RnnKind::kLstm); },
});

}  // namespace
}  // namespace kiln::ops

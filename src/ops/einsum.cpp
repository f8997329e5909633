// Einsum (ONNX opset 12+ semantics, which follow numpy.einsum): any number of operands,
// explicit ("ij,jk->ik") or implicit ("ij,jk": the labels used exactly once, in ASCII order)
// output, ellipsis broadcasting ("...ij"), repeated labels within an operand (diagonals: "ii"),
// summation over every label missing from the output. Spaces are ignored.
//
// As numpy does: a label's extent 1 broadcasts against another operand's extent for that label;
// ellipsis dimensions are right-aligned across operands and broadcast the same way; in explicit
// mode the output must contain "..." when the operands' ellipses cover any dimension.
//
// The reference compute walks every combination of label values (output labels outside,
// summed labels inside) with one stride per label and operand; a label repeated in an operand
// gets the sum of its strides, which reads the diagonal. Float types accumulate in double and
// round once; integer types accumulate in 64-bit modular arithmetic, so the result wraps as an
// accumulation in the type itself would.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ops/common.h"

namespace kiln::ops {
namespace {

// Labels: letters are their ASCII code; ellipsis dimension j (of E, outermost first) is
// kEllipsisLabel + j.
constexpr int kEllipsisLabel = 256;
constexpr int kEllipsisMarker = -1;

struct EinsumPlan {
  std::vector<std::vector<int>> operand_labels;  // per operand, one label per dimension
  std::vector<int> output_labels;
  std::map<int, int64_t> extents;
  Dims output_shape;
};

template <typename... Args>
[[noreturn]] void invalid_equation(const ir::Node& node, const std::string& equation,
                                   Args&&... args) {
  fail(ErrorCode::kInvalidModel, node.describe(), ": equation '", equation,
       "': ", std::forward<Args>(args)...);
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// One term's letters and at most one ellipsis (kEllipsisMarker).
std::vector<int> parse_term(const ir::Node& node, const std::string& equation,
                            const std::string& term) {
  std::vector<int> labels;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term.compare(i, 3, "...") == 0) {
      if (std::count(labels.begin(), labels.end(), kEllipsisMarker) != 0) {
        invalid_equation(node, equation, "term '", term, "' has more than one ellipsis");
      }
      labels.push_back(kEllipsisMarker);
      i += 2;
    } else if (is_letter(term[i])) {
      labels.push_back(int(term[i]));
    } else {
      invalid_equation(node, equation, "unexpected character '", term[i], "'");
    }
  }
  return labels;
}

EinsumPlan plan_einsum(const ir::Node& node, const std::vector<Dims>& shapes) {
  const std::string raw = node.attr_string("equation");
  std::string equation;
  for (char c : raw) {
    if (c != ' ') equation += c;
  }
  const size_t arrow = equation.find("->");
  const bool explicit_output = arrow != std::string::npos;
  const std::string lhs = explicit_output ? equation.substr(0, arrow) : equation;

  std::vector<std::string> terms(1);
  for (char c : lhs) {
    if (c == ',')
      terms.emplace_back();
    else
      terms.back() += c;
  }
  if (terms.size() != shapes.size()) {
    invalid_equation(node, raw, "has ", terms.size(), " input terms but the node has ",
                     shapes.size(), " inputs");
  }

  // Expand each operand's ellipsis into its share of the E right-aligned ellipsis labels.
  std::vector<std::vector<int>> parsed;
  int64_t ellipsis_rank = 0;
  for (size_t t = 0; t < terms.size(); ++t) {
    parsed.push_back(parse_term(node, raw, terms[t]));
    const auto& labels = parsed.back();
    const int64_t letters =
        int64_t(labels.size()) - int64_t(std::count(labels.begin(), labels.end(), kEllipsisMarker));
    const int64_t rank = int64_t(shapes[t].size());
    const bool has_ellipsis = int64_t(labels.size()) != letters;
    if (has_ellipsis ? rank < letters : rank != letters) {
      invalid_equation(node, raw, "term '", terms[t], "' does not fit input ", t, " of shape ",
                       to_string(shapes[t]));
    }
    if (has_ellipsis) ellipsis_rank = std::max(ellipsis_rank, rank - letters);
  }
  EinsumPlan plan;
  std::map<int, int> lhs_counts;
  for (size_t t = 0; t < parsed.size(); ++t) {
    const Dims& shape = shapes[t];
    std::vector<int> labels;
    for (int label : parsed[t]) {
      if (label != kEllipsisMarker) {
        labels.push_back(label);
        ++lhs_counts[label];
        continue;
      }
      const int64_t covered = int64_t(shape.size() + 1 - parsed[t].size());
      for (int64_t j = ellipsis_rank - covered; j < ellipsis_rank; ++j) {
        labels.push_back(kEllipsisLabel + int(j));
      }
    }
    // Extents: equal within an operand; across operands, 1 broadcasts.
    std::map<int, int64_t> own;
    for (size_t d = 0; d < labels.size(); ++d) {
      const int label = labels[d];
      const int64_t extent = shape[d];
      if (own.count(label) && own[label] != extent) {
        invalid_equation(node, raw, "input ", t, " of shape ", to_string(shape),
                         " repeats a label over dimensions of different extents");
      }
      own[label] = extent;
      auto [it, inserted] = plan.extents.emplace(label, extent);
      if (!inserted && it->second != extent) {
        if (it->second == 1)
          it->second = extent;
        else if (extent != 1) {
          invalid_equation(node, raw, "input ", t, " of shape ", to_string(shape), " has extent ",
                           extent, " where another input has ", it->second);
        }
      }
    }
    plan.operand_labels.push_back(std::move(labels));
  }
  for (int64_t j = 0; j < ellipsis_rank; ++j) {
    plan.extents.emplace(kEllipsisLabel + int(j), 1);  // operands may all lack that dim
  }

  if (explicit_output) {
    const std::string rhs = equation.substr(arrow + 2);
    const std::vector<int> parsed_output = parse_term(node, raw, rhs);
    const bool has_ellipsis =
        std::count(parsed_output.begin(), parsed_output.end(), kEllipsisMarker) != 0;
    if (ellipsis_rank > 0 && !has_ellipsis) {
      invalid_equation(node, raw, "the inputs' ellipses cover ", ellipsis_rank,
                       " dimensions, so the output needs '...'");
    }
    for (int label : parsed_output) {
      if (label == kEllipsisMarker) {
        for (int64_t j = 0; j < ellipsis_rank; ++j) {
          plan.output_labels.push_back(kEllipsisLabel + int(j));
        }
        continue;
      }
      if (!lhs_counts.count(label)) {
        invalid_equation(node, raw, "output label '", char(label), "' is not in any input term");
      }
      if (std::count(plan.output_labels.begin(), plan.output_labels.end(), label) != 0) {
        invalid_equation(node, raw, "output label '", char(label), "' appears twice");
      }
      plan.output_labels.push_back(label);
    }
  } else {
    for (int64_t j = 0; j < ellipsis_rank; ++j) {
      plan.output_labels.push_back(kEllipsisLabel + int(j));
    }
    for (const auto& [label, count] : lhs_counts) {  // std::map: ASCII order
      if (count == 1) plan.output_labels.push_back(label);
    }
  }
  for (int label : plan.output_labels) plan.output_shape.push_back(plan.extents.at(label));
  return plan;
}

bool is_einsum_type(DataType t) {
  switch (t) {
    case DataType::kBool:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
      return false;
    default:
      return true;
  }
}

void infer_einsum(InferContext& ctx) {
  ctx.check(ctx.num_inputs() >= 1, "needs at least one input");
  std::vector<Dims> shapes;
  const DataType type = ctx.input_dtype(0);
  ctx.check(is_einsum_type(type), "input type ", to_string(type), " is not supported");
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    ctx.check(ctx.has_input(i), "input ", i, " is missing");
    ctx.check(ctx.input_dtype(i) == type, "input ", i, " has type ", to_string(ctx.input_dtype(i)),
              " but input 0 has type ", to_string(type));
    shapes.push_back(ctx.input_shape(i));
  }
  ctx.set_output(0, type, plan_einsum(ctx.node(), shapes).output_shape);
}

// Sums the products over every label combination; Acc is double (float types) or uint64_t
// (integer types, modular). load(operand, offset) reads one element as Acc; store(i, sum).
template <typename Acc, typename Load, typename Store>
void run_einsum(const EinsumPlan& plan, const std::vector<const Tensor*>& inputs, Load load,
                Store store) {
  // Every label: the output's first, then the summed ones.
  std::vector<int> labels = plan.output_labels;
  for (const auto& [label, extent] : plan.extents) {
    if (std::count(labels.begin(), labels.end(), label) == 0) labels.push_back(label);
  }
  const size_t num_out = plan.output_labels.size();
  Dims extents;
  for (int label : labels) extents.push_back(plan.extents.at(label));
  // strides[op][k]: how far operand op's offset moves when label k advances by one.
  std::vector<Dims> strides(inputs.size(), Dims(labels.size(), 0));
  for (size_t op = 0; op < inputs.size(); ++op) {
    const Dims own = contiguous_strides(inputs[op]->shape());
    const auto& op_labels = plan.operand_labels[op];
    for (size_t d = 0; d < op_labels.size(); ++d) {
      if (inputs[op]->shape()[d] == 1) continue;  // broadcast: stays on element 0
      const size_t k =
          size_t(std::find(labels.begin(), labels.end(), op_labels[d]) - labels.begin());
      strides[op][k] += own[d];
    }
  }
  for (int64_t e : extents) {
    if (e == 0) {  // nothing to sum: the output (if any) is all zeros
      for (int64_t i = 0; i < volume(plan.output_shape); ++i) store(i, Acc(0));
      return;
    }
  }
  const Dims out_extents(extents.begin(), extents.begin() + int64_t(num_out));
  const Dims sum_extents(extents.begin() + int64_t(num_out), extents.end());
  const int64_t sum_total = volume(sum_extents);
  std::vector<int64_t> index(labels.size(), 0);
  std::vector<int64_t> offsets(inputs.size(), 0);
  const int64_t out_total = volume(out_extents);
  for (int64_t out = 0; out < out_total; ++out) {
    Acc sum = Acc(0);
    for (int64_t s = 0; s < sum_total; ++s) {
      Acc product = Acc(1);
      for (size_t op = 0; op < inputs.size(); ++op) product *= load(op, offsets[op]);
      sum += product;
      // Advance the odometer over all labels (the summed ones turn fastest); after the last
      // summed combination it carries into the output labels, which is the next output element.
      for (size_t k = labels.size(); k-- > 0;) {
        ++index[k];
        for (size_t op = 0; op < inputs.size(); ++op) offsets[op] += strides[op][k];
        if (index[k] < extents[k]) break;
        for (size_t op = 0; op < inputs.size(); ++op) offsets[op] -= strides[op][k] * index[k];
        index[k] = 0;
      }
    }
    store(out, sum);
  }
}

void compute_einsum(ComputeContext& ctx) {
  std::vector<const Tensor*> inputs;
  std::vector<Dims> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    inputs.push_back(&ctx.input(i));
    shapes.push_back(ctx.input(i).shape());
  }
  const EinsumPlan plan = plan_einsum(ctx.node(), shapes);
  Tensor& y = ctx.output(0);
  if (is_floating_point(y.dtype())) {
    run_einsum<double>(
        plan, inputs, [&](size_t op, int64_t at) { return inputs[op]->as_double(at); },
        [&](int64_t i, double v) {
          if (y.dtype() == DataType::kFloat64)
            y.data<double>()[i] = v;
          else
            store_float(y, i, float(v));
        });
    return;
  }
  dispatch_storage(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    run_einsum<uint64_t>(
        plan, inputs, [&](size_t op, int64_t at) { return uint64_t(inputs[op]->data<T>()[at]); },
        [&](int64_t i, uint64_t v) { y.data<T>()[i] = T(v); });
  });
}

KILN_REGISTER_OP(OpDef{
    .name = "Einsum",
    .min_inputs = 1,
    .max_inputs = -1,
    .infer = infer_einsum,
    .compute = compute_einsum,
});

}  // namespace
}  // namespace kiln::ops

// ONNX If, Loop and Scan. ONNX bodies read values of enclosing graphs by name; kiln's control
// flow ops take every such value as a trailing "captured" input instead (src/ops/
// control_flow.cpp says why), so these importers turn each read into a body input and pass the
// enclosing value to the node. Scan-8 (a batch axis in front of everything) becomes a Loop over
// the batch whose body runs a Scan-9 on one batch entry.
#include <algorithm>

#include "onnx/onnx.pb.h"
#include "onnx/op_importer.h"

namespace kiln::onnx_import {
namespace {

constexpr const char* kCapturedAttr = "captured_inputs";

std::shared_ptr<ir::Graph> body_attribute(ImportContext& ctx, const char* name) {
  const onnx::AttributeProto* a = ctx.attr(name);
  if (a == nullptr) ctx.invalid("it has no '", name, "' attribute (its body graph)");
  ir::Attribute converted = ctx.convert_attribute(*a);
  auto* g = std::get_if<std::shared_ptr<ir::Graph>>(&converted);
  if (g == nullptr || *g == nullptr) {
    ctx.invalid("attribute '", name, "' is ", ir::attribute_kind(converted), ", not a graph");
  }
  return *g;
}

bool is_graph_input(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.inputs().begin(), g.inputs().end(), v) != g.inputs().end();
}

// Every enclosing value that any of `bodies` reads becomes a trailing input of each body (the
// same list for all, so that If's two branches line up); returns those enclosing values, in
// order, for the node to pass.
std::vector<ir::Value*> capture_enclosing_reads(ImportContext& ctx,
                                                const std::vector<ir::Graph*>& bodies) {
  std::vector<ir::Value*> captured;
  // Per body: (placeholder the body reads through, the enclosing value it stands for).
  std::vector<std::vector<std::pair<ir::Value*, ir::Value*>>> reads(bodies.size());
  for (size_t b = 0; b < bodies.size(); ++b) {
    for (const auto& v : bodies[b]->values()) {
      if (v->producer || v->is_constant() || is_graph_input(*bodies[b], v.get())) continue;
      ir::Value* outer = ctx.scope().outer_value(v.get());
      // Not a read of an enclosing value: a stand-in for the output of a body node that failed
      // to import, which the import's final report names.
      if (outer == nullptr) continue;
      reads[b].push_back({v.get(), outer});
      if (std::find(captured.begin(), captured.end(), outer) == captured.end()) {
        captured.push_back(outer);
      }
    }
  }
  for (size_t b = 0; b < bodies.size(); ++b) {
    ir::Graph& g = *bodies[b];
    for (ir::Value* outer : captured) {
      ir::Value* input = nullptr;
      for (const auto& [placeholder, enclosing] : reads[b]) {
        if (enclosing != outer) continue;
        if (input == nullptr) {
          g.promote_to_input(placeholder);
          input = placeholder;
        } else {
          g.replace_all_uses(placeholder, input);  // two ONNX names of one value
        }
      }
      if (input == nullptr) {
        // Read by another branch only: an unused input keeps the lists aligned.
        ir::Value* unused = g.add_input(g.unique_name(outer->name), outer->dtype, {});
        unused->has_shape = false;
      }
    }
  }
  return captured;
}

void import_if(ImportContext& ctx) {
  ir::Value* cond = ctx.required_input(0);
  std::shared_ptr<ir::Graph> then_g = body_attribute(ctx, "then_branch");
  std::shared_ptr<ir::Graph> else_g = body_attribute(ctx, "else_branch");
  if (then_g->outputs().size() != else_g->outputs().size()) {
    ctx.invalid("then_branch has ", then_g->outputs().size(), " outputs but else_branch has ",
                else_g->outputs().size());
  }
  if (ctx.num_outputs() > then_g->outputs().size()) {
    ctx.invalid("it has ", ctx.num_outputs(), " outputs but its branches compute ",
                then_g->outputs().size());
  }
  if (!then_g->inputs().empty() || !else_g->inputs().empty()) {
    ctx.invalid("a branch declares inputs; If's branches take none");
  }
  std::vector<ir::Value*> captured = capture_enclosing_reads(ctx, {then_g.get(), else_g.get()});
  std::vector<ir::Value*> inputs{cond};
  inputs.insert(inputs.end(), captured.begin(), captured.end());
  ctx.emit("If", std::move(inputs),
           {{"then_branch", then_g},
            {"else_branch", else_g},
            {kCapturedAttr, int64_t(captured.size())}});
}

void import_loop(ImportContext& ctx) {
  std::shared_ptr<ir::Graph> body = body_attribute(ctx, "body");
  const size_t carried = ctx.num_inputs() > 2 ? ctx.num_inputs() - 2 : 0;
  if (body->inputs().size() != 2 + carried) {
    ctx.invalid("its body has ", body->inputs().size(), " inputs but must take ", 2 + carried,
                " (iteration number, condition and ", carried, " loop-carried values)");
  }
  if (body->outputs().size() < 1 + carried) {
    ctx.invalid("its body has ", body->outputs().size(), " outputs but must return the condition ",
                "and ", carried, " loop-carried values");
  }
  const size_t scans = body->outputs().size() - 1 - carried;
  if (ctx.num_outputs() > carried + scans) {
    ctx.invalid("it has ", ctx.num_outputs(), " outputs but its body computes ", carried,
                " loop-carried values and ", scans, " scan outputs");
  }
  std::vector<ir::Value*> captured = capture_enclosing_reads(ctx, {body.get()});
  // M and cond keep their places even when omitted (nullptr).
  std::vector<ir::Value*> inputs{ctx.input(0), ctx.input(1)};
  for (size_t j = 0; j < carried; ++j) inputs.push_back(ctx.required_input(2 + j));
  inputs.insert(inputs.end(), captured.begin(), captured.end());
  ctx.emit("Loop", std::move(inputs), {{"body", body}, {kCapturedAttr, int64_t(captured.size())}});
}

void import_scan(ImportContext& ctx) {
  ir::Attributes attrs = ctx.convert_attributes();
  auto it = attrs.find("body");
  if (it == attrs.end()) ctx.invalid("it has no 'body' attribute (its body graph)");
  auto* body_ptr = std::get_if<std::shared_ptr<ir::Graph>>(&it->second);
  if (body_ptr == nullptr || *body_ptr == nullptr) ctx.invalid("attribute 'body' is not a graph");
  std::shared_ptr<ir::Graph> body = *body_ptr;
  const int64_t scan_inputs = ctx.attr_int("num_scan_inputs", -1);
  if (scan_inputs < 1 || size_t(scan_inputs) > ctx.num_inputs()) {
    ctx.invalid("num_scan_inputs is ", scan_inputs, " but the node has ", ctx.num_inputs(),
                " inputs");
  }
  if (body->inputs().size() != ctx.num_inputs()) {
    ctx.invalid("its body has ", body->inputs().size(), " inputs but the node passes ",
                ctx.num_inputs(), " (states and scan slices)");
  }
  std::vector<ir::Value*> captured = capture_enclosing_reads(ctx, {body.get()});
  std::vector<ir::Value*> inputs;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.required_input(i));
  inputs.insert(inputs.end(), captured.begin(), captured.end());
  attrs[kCapturedAttr] = int64_t(captured.size());
  ctx.emit("Scan", std::move(inputs), std::move(attrs));
}

// Scan-8: inputs sequence_lens (optional), then states and scan inputs that all have a batch
// axis 0 (scan inputs have their sequence on axis 1); the body sees one batch entry. Equivalent:
// Loop over the batch (its scan outputs stack along a new axis 0, which is the batch axis)
// whose body gathers entry b of every input and runs a Scan-9 on them.
void import_scan8(ImportContext& ctx) {
  if (ctx.has_input(0)) {
    ctx.unsupported("Scan-8 with a sequence_lens input (sequences of different lengths) is not ",
                    "supported; kiln imports Scan-8 only when every sequence has the full length");
  }
  std::shared_ptr<ir::Graph> body = body_attribute(ctx, "body");
  const int64_t scan_inputs = ctx.attr_int("num_scan_inputs", -1);
  const size_t total = ctx.num_inputs() > 0 ? ctx.num_inputs() - 1 : 0;
  if (scan_inputs < 1 || size_t(scan_inputs) > total) {
    ctx.invalid("num_scan_inputs is ", scan_inputs, " but the node has ", total,
                " state and scan inputs");
  }
  if (body->inputs().size() != total) {
    ctx.invalid("its body has ", body->inputs().size(), " inputs but the node passes ", total,
                " (states and scan slices)");
  }
  const size_t states = total - size_t(scan_inputs);
  if (body->outputs().size() < states) {
    ctx.invalid("its body has ", body->outputs().size(), " outputs but must return ", states,
                " states");
  }
  std::vector<int64_t> directions =
      ctx.attr_ints("directions", std::vector<int64_t>(size_t(scan_inputs), 0));
  std::vector<ir::Value*> body_captured = capture_enclosing_reads(ctx, {body.get()});

  auto loop_body = std::make_shared<ir::Graph>();
  loop_body->name = ctx.name() + "/batch_body";
  ir::Value* batch_index = loop_body->add_input("batch_index", DataType::kInt64, {});
  ir::Value* cond_in = loop_body->add_input("cond_in", DataType::kBool, {});
  std::vector<ir::Value*> loop_inputs;  // the Loop's captured inputs (enclosing graph)
  auto capture = [&](ir::Value* outer) {
    loop_inputs.push_back(outer);
    ir::Value* inner = loop_body->add_input(loop_body->unique_name(outer->name), outer->dtype, {});
    inner->has_shape = false;
    return inner;
  };
  std::vector<ir::Value*> scan_node_inputs;
  for (size_t i = 0; i < total; ++i) {
    ir::Value* inner = capture(ctx.required_input(1 + i));
    ir::Node* entry = loop_body->add_node(
        "Gather", cat(ctx.name(), "/batch_entry_", i), {inner, batch_index},
        {loop_body->unique_name(cat(inner->name, "_entry"))}, {{"axis", int64_t(0)}});
    scan_node_inputs.push_back(entry->outputs[0]);
  }
  for (ir::Value* outer : body_captured) scan_node_inputs.push_back(capture(outer));
  std::vector<std::string> scan_outputs;
  for (size_t k = 0; k < body->outputs().size(); ++k) {
    scan_outputs.push_back(loop_body->unique_name(cat(ctx.name(), "/entry_output_", k)));
  }
  ir::Node* scan =
      loop_body->add_node("Scan", cat(ctx.name(), "/entry_scan"), scan_node_inputs, scan_outputs,
                          {{"body", body},
                           {"num_scan_inputs", scan_inputs},
                           {"scan_input_directions", directions},
                           {kCapturedAttr, int64_t(body_captured.size())}});
  ir::Node* cond_out = loop_body->add_node("Identity", cat(ctx.name(), "/cond_out"), {cond_in},
                                           {loop_body->unique_name("cond_out")});
  loop_body->mark_output(cond_out->outputs[0]);
  for (ir::Value* out : scan->outputs) loop_body->mark_output(out);

  // The trip count: the batch extent of the first input.
  ir::Value* shape = ctx.emit_helper("Shape", "batch_shape", {loop_inputs[0]});
  ir::Value* zero = ctx.add_constant("zero", Tensor::scalar_int64(0));
  ir::Value* batch = ctx.emit_helper("Gather", "batch_size", {shape, zero}, {{"axis", int64_t(0)}});
  std::vector<ir::Value*> inputs{batch, nullptr};
  inputs.insert(inputs.end(), loop_inputs.begin(), loop_inputs.end());
  ctx.emit("Loop", std::move(inputs),
           {{"body", loop_body}, {kCapturedAttr, int64_t(loop_inputs.size())}});
}

KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{.ops = {"If"}, .min_opset = 1, .import = import_if});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Loop"}, .min_opset = 1, .import = import_loop});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Scan"}, .min_opset = 9, .import = import_scan});
KILN_REGISTER_ONNX_IMPORTER(OnnxImporterDef{
    .ops = {"Scan"}, .min_opset = 8, .max_opset = 8, .import = import_scan8});

}  // namespace
}  // namespace kiln::onnx_import

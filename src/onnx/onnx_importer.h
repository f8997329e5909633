// ONNX model -> kiln IR. The entry points kiln's OnnxParser (and tools) call.
//
// A ModelProto's main graph becomes an ir::Graph: graph inputs (less those that are also
// initializers, which become constants as ONNX IR < 4 allowed) with their element types and
// shapes (dim_value -> fixed, dim_param -> named, missing -> unnamed dynamic), initializers as
// constants, nodes translated by the per-op importers (op_importer.h) in topological order,
// and the graph outputs. If/Loop/Scan bodies become subgraph attributes.
//
// Every node kiln cannot import is reported at once, in one kiln::Error(kUnsupported) listing
// for each: node name, op, domain, opset and the reason.
//
// Models are checked strictly where a mistake would otherwise go unnoticed: ir_version 0 or
// newer than the compiled onnx.proto knows, an ai.onnx opset newer than kNewestOpset, a node
// with two attributes of the same name, subgraphs nested deeper than kMaxSubgraphDepth, and a
// graph output or value_info whose declared element type or static extents contradict what
// kiln infers are errors (kInvalidModel; kUnsupported for versions kiln does not know).
// Names from the model appear in messages through display_name (core/display_name.h).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/logger.h"

namespace onnx {
class ModelProto;
}

namespace kiln::onnx_import {

// How deep If/Loop/Scan bodies may nest (a body of a body of ... counts each level). Deeper
// models are refused with an error naming the node and this limit: every stage after the
// importer walks bodies recursively.
inline constexpr int kMaxSubgraphDepth = 64;

// How deep protobuf messages may nest in a model file (protobuf's recursion limit; its default
// is 100). Each level of subgraphs costs three (NodeProto, AttributeProto, GraphProto), so this
// leaves kMaxSubgraphDepth levels of bodies room for their tensors and types, and the
// importer's clear message about subgraph depth comes before the parser's. A file nested deeper
// fails to parse with an error that names this limit.
inline constexpr int kMaxMessageNesting = 3 * kMaxSubgraphDepth + 40;

struct ImportOptions {
  // Whether kiln defines an op (a node whose op it does not is unsupported). Empty: ask
  // ops::OpRegistry. Tests replace it to check translations independently of which ops exist.
  std::function<bool(const std::string& op)> kiln_has_op;
};

// Reads and imports an ONNX model file; external data is read relative to the file's folder.
// Throws kiln::Error: kIO when the file cannot be read (naming the path), kInvalidModel when it
// is not a well-formed ONNX model, kUnsupported listing every node kiln cannot import.
std::unique_ptr<ir::Graph> import_onnx_file(const std::string& path, Logger& logger,
                                            const ImportOptions& options = {});

// Imports a serialized ModelProto held in memory; external data is read relative to base_dir.
std::unique_ptr<ir::Graph> import_onnx_bytes(const void* data, size_t size,
                                             const std::string& base_dir, Logger& logger,
                                             const ImportOptions& options = {});

// Imports an already parsed model.
std::unique_ptr<ir::Graph> import_onnx_model(const onnx::ModelProto& model,
                                             const std::string& base_dir, Logger& logger,
                                             const ImportOptions& options = {});

}  // namespace kiln::onnx_import

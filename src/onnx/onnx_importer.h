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

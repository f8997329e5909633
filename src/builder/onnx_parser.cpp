// OnnxParser: imports an ONNX model (src/onnx) into a NetworkDefinition's graph.
#include "kiln/onnx_parser.h"

#include "builder/network_impl.h"
#include "core/error.h"
#include "onnx/onnx_importer.h"

namespace kiln {

OnnxParser::OnnxParser(NetworkDefinition& network, Logger& logger)
    : network_(&network), logger_(&logger) {}

namespace {
void check_empty(const NetworkDefinition& network) {
  KILN_CHECK(network.num_layers() == 0 && network.num_inputs() == 0, ErrorCode::kInvalidArgument,
             "OnnxParser needs an empty network (this one already has ", network.num_layers(),
             " layers): create a new network per model");
}
}  // namespace

void OnnxParser::parse_from_file(const std::string& path) {
  check_empty(*network_);
  network_->impl().reset(onnx_import::import_onnx_file(path, *logger_));
}

void OnnxParser::parse(const void* data, size_t size, const std::string& base_dir) {
  check_empty(*network_);
  network_->impl().reset(onnx_import::import_onnx_bytes(data, size, base_dir, *logger_));
}

}  // namespace kiln

// Fills a NetworkDefinition from an ONNX model, as TensorRT's nvonnxparser::IParser does.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/logger.h"
#include "kiln/network.h"

namespace kiln {

class OnnxParser {
 public:
  OnnxParser(NetworkDefinition& network, Logger& logger);

  // Parses a model file; weights stored as external data are read relative to its folder.
  // Throws kiln::Error: kIO for an unreadable file, kInvalidModel for a malformed model,
  // kUnsupported listing every node kiln cannot import (name, op, opset, reason) at once.
  void parse_from_file(const std::string& path);
  // Parses a serialized ModelProto held in memory; external data is read relative to base_dir.
  void parse(const void* data, size_t size, const std::string& base_dir = ".");

 private:
  NetworkDefinition* network_;
  Logger* logger_;
};

}  // namespace kiln

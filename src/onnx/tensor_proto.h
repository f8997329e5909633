// ONNX TensorProto <-> kiln Tensor: element types, the typed repeated fields, raw_data and
// weights stored as external data next to the model file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/tensor.h"

namespace onnx {
class TensorProto;
}

namespace kiln::onnx_import {

// The kiln type of an ONNX TensorProto::DataType number, or nullopt when kiln has none
// (string, complex, float6, ...).
std::optional<DataType> kiln_dtype_from_onnx(int32_t onnx_type);
// As above, but throws kiln::Error(kUnsupported) "<what> has ONNX type STRING, which kiln does
// not support" (kInvalidModel for a number that is not an ONNX type at all).
DataType require_kiln_dtype(int32_t onnx_type, const std::string& what);
// The ONNX TensorProto::DataType number of a kiln type.
int32_t onnx_dtype_from_kiln(DataType type);
// "FLOAT", "STRING", ... or "<n>" for a number ONNX does not define.
std::string onnx_dtype_name(int32_t onnx_type);

// Converts a TensorProto to an owned kiln Tensor. The sub-byte types (int4, uint4, int2, uint2,
// float4e2m1), which ONNX packs, are unpacked to one element per byte (kiln/types.h). `base_dir` is
// the folder external data paths are relative to. Throws kiln::Error: kUnsupported for an element
// type kiln lacks (naming the tensor), kInvalidModel when the data does not match the shape or an
// external data path leaves the model's folder, kIO when an external data file cannot be read.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir);

// Reads a serialized TensorProto file (the ONNX backend tests' input_N.pb / output_N.pb).
Tensor read_tensor_pb_file(const std::string& path);

// Builds a TensorProto holding `tensor` in raw_data (for tests and writers); sub-byte types are
// packed as ONNX requires.
void tensor_to_proto(const Tensor& tensor, const std::string& name, onnx::TensorProto& proto);

}  // namespace kiln::onnx_import

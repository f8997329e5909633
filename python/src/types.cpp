// Enums (TensorRT's spellings without the `k`: DataType.FLOAT32, ElementWiseOperation.SUM, ...)
// and the conversions between Python objects and kiln's value types.
#include <nanobind/stl/string.h>

#include "common.h"

namespace kiln::python {
namespace {

// numpy's dtype names for the types whose numpy name differs from kiln's (ml_dtypes' names).
struct NumpyName {
  DataType type;
  const char* numpy_name;
};
constexpr NumpyName kNumpyNames[] = {
    {DataType::kFloat8E4M3, "float8_e4m3fn"},       {DataType::kFloat8E5M2, "float8_e5m2"},
    {DataType::kFloat4E2M1, "float4_e2m1fn"},       {DataType::kFloat8E4M3FNUZ, "float8_e4m3fnuz"},
    {DataType::kFloat8E5M2FNUZ, "float8_e5m2fnuz"}, {DataType::kFloat8E8M0, "float8_e8m0fnu"},
};

bool needs_ml_dtypes(DataType type) {
  // ml_dtypes holds int4/uint4/int2/uint2/float4 one element per byte, as kiln does.
  switch (type) {
    case DataType::kBFloat16:
    case DataType::kFloat8E4M3:
    case DataType::kFloat8E5M2:
    case DataType::kInt4:
    case DataType::kUInt4:
    case DataType::kInt2:
    case DataType::kUInt2:
    case DataType::kFloat4E2M1:
    case DataType::kFloat8E4M3FNUZ:
    case DataType::kFloat8E5M2FNUZ:
    case DataType::kFloat8E8M0:
      return true;
    default:
      return false;
  }
}

std::string numpy_name(DataType type) {
  for (const NumpyName& entry : kNumpyNames) {
    if (entry.type == type) return entry.numpy_name;
  }
  return to_string(type);
}

}  // namespace

std::string repr_of(nb::handle object) { return nb::cast<std::string>(nb::repr(object)); }

nb::tuple dims_to_tuple(const Dims& dims) {
  nb::list list;
  for (int64_t d : dims) list.append(d);
  return nb::tuple(list);
}

Dims dims_from_object(nb::handle object, const char* what) {
  if (PyUnicode_Check(object.ptr()) || PyBytes_Check(object.ptr()) ||
      !PySequence_Check(object.ptr())) {
    invalid_argument(std::string(what) +
                     ": expected a sequence of integers (a tuple such as "
                     "(1, 3, 224, 224)), got " +
                     repr_of(object));
  }
  Dims dims;
  for (nb::handle item : object) {
    // __index__ accepts Python ints and numpy integers but not floats.
    nb::object index = nb::steal(PyNumber_Index(item.ptr()));
    if (!index.is_valid()) {
      PyErr_Clear();
      invalid_argument(std::string(what) + ": expected integers, got " + repr_of(item) + " in " +
                       repr_of(object));
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
    if (overflow || (value == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      invalid_argument(std::string(what) + ": " + repr_of(item) + " does not fit in 64 bits");
    }
    dims.push_back(int64_t(value));
  }
  return dims;
}

DataType data_type_from_object(nb::handle object) {
  if (nb::isinstance<DataType>(object)) return nb::cast<DataType>(object);
  nb::object numpy = nb::module_::import_("numpy");
  std::string name;
  if (PyUnicode_Check(object.ptr())) {
    name = nb::cast<std::string>(object);
    // kiln's own names ("float8e4m3") as well as numpy's.
    for (int i = 0; i < kDataTypeCount; ++i) {
      if (name == to_string(DataType(i))) return DataType(i);
    }
  }
  nb::object dtype;
  try {
    dtype = numpy.attr("dtype")(object);
  } catch (nb::python_error&) {
    invalid_argument("not a data type: " + repr_of(object) +
                     " (expected a kiln.DataType, a numpy dtype or a dtype name)");
  }
  if (!nb::cast<bool>(dtype.attr("isnative"))) {
    invalid_argument("dtype " + repr_of(dtype) +
                     " is not in the machine's byte order; convert "
                     "the array with arr.astype(arr.dtype.newbyteorder('='))");
  }
  name = nb::cast<std::string>(dtype.attr("name"));
  for (int i = 0; i < kDataTypeCount; ++i) {
    if (name == numpy_name(DataType(i))) return DataType(i);
  }
  invalid_argument("kiln has no data type for numpy dtype '" + name + "'");
}

nb::object numpy_dtype(DataType type) {
  nb::object numpy = nb::module_::import_("numpy");
  if (!needs_ml_dtypes(type)) return numpy.attr("dtype")(to_string(type));
  nb::object ml_dtypes;
  try {
    ml_dtypes = nb::module_::import_("ml_dtypes");
  } catch (nb::python_error&) {
    throw Error(ErrorCode::kUnsupported, std::string("numpy has no ") + to_string(type) +
                                             " dtype without the ml_dtypes package "
                                             "(pip install ml_dtypes)");
  }
  return numpy.attr("dtype")(ml_dtypes.attr(numpy_name(type).c_str()));
}

BufferView::BufferView(nb::handle object, const char* what) {
  if (PyObject_GetBuffer(object.ptr(), &buffer_, PyBUF_SIMPLE) != 0) {
    PyErr_Clear();
    buffer_.obj = nullptr;
    throw nb::type_error((std::string(what) +
                          ": expected a bytes-like object (bytes, bytearray, "
                          "memoryview or a contiguous numpy array), got " +
                          nb::cast<std::string>(nb::str(object.type().attr("__name__"))))
                             .c_str());
  }
}

BufferView::~BufferView() {
  if (buffer_.obj) PyBuffer_Release(&buffer_);
}

void bind_types(nb::module_& m) {
  nb::enum_<ErrorCode>(m, "ErrorCode", "What kind of error a kiln.KilnError reports.")
      .value("INVALID_ARGUMENT", ErrorCode::kInvalidArgument)
      .value("INVALID_MODEL", ErrorCode::kInvalidModel)
      .value("UNSUPPORTED", ErrorCode::kUnsupported)
      .value("INVALID_PLAN", ErrorCode::kInvalidPlan)
      .value("VERSION_MISMATCH", ErrorCode::kVersionMismatch)
      .value("IO", ErrorCode::kIO)
      .value("RUNTIME", ErrorCode::kRuntime)
      .value("INTERNAL", ErrorCode::kInternal);

  nb::enum_<DataType>(m, "DataType", "Element type of a tensor.")
      .value("FLOAT32", DataType::kFloat32)
      .value("FLOAT16", DataType::kFloat16)
      .value("BFLOAT16", DataType::kBFloat16)
      .value("FLOAT64", DataType::kFloat64)
      .value("INT8", DataType::kInt8)
      .value("UINT8", DataType::kUInt8)
      .value("INT16", DataType::kInt16)
      .value("INT32", DataType::kInt32)
      .value("INT64", DataType::kInt64)
      .value("BOOL", DataType::kBool)
      .value("FLOAT8E4M3", DataType::kFloat8E4M3)
      .value("FLOAT8E5M2", DataType::kFloat8E5M2)
      .value("UINT16", DataType::kUInt16)
      .value("UINT32", DataType::kUInt32)
      .value("UINT64", DataType::kUInt64)
      .value("INT4", DataType::kInt4)
      .value("UINT4", DataType::kUInt4)
      .value("INT2", DataType::kInt2)
      .value("UINT2", DataType::kUInt2)
      .value("FLOAT4E2M1", DataType::kFloat4E2M1)
      .value("FLOAT8E4M3FNUZ", DataType::kFloat8E4M3FNUZ)
      .value("FLOAT8E5M2FNUZ", DataType::kFloat8E5M2FNUZ)
      .value("FLOAT8E8M0", DataType::kFloat8E8M0)
      .def_prop_ro(
          "itemsize", [](DataType t) { return element_size(t); }, "Size of one element in bytes.");

  nb::enum_<TensorIOMode>(m, "TensorIOMode")
      .value("NONE", TensorIOMode::kNONE)
      .value("INPUT", TensorIOMode::kINPUT)
      .value("OUTPUT", TensorIOMode::kOUTPUT);
  nb::enum_<DeviceType>(m, "DeviceType")
      .value("CPU", DeviceType::kCPU)
      .value("GPU", DeviceType::kGPU);
  nb::enum_<OptProfileSelector>(m, "OptProfileSelector")
      .value("MIN", OptProfileSelector::kMIN)
      .value("OPT", OptProfileSelector::kOPT)
      .value("MAX", OptProfileSelector::kMAX);
  // Arithmetic (IntEnum-like) so that TensorRT's bit-mask idiom 1 << int(BuilderFlag.FP16)
  // works.
  nb::enum_<BuilderFlag>(m, "BuilderFlag", nb::is_arithmetic())
      .value("FP16", BuilderFlag::kFP16, "allow float16 kernels (mixed precision)")
      .value("BF16", BuilderFlag::kBF16, "allow bfloat16 kernels")
      .value("TF32", BuilderFlag::kTF32, "allow TF32 matrix math (set by default)")
      .value("INT8", BuilderFlag::kINT8)
      .value("FP8", BuilderFlag::kFP8);

  nb::enum_<TacticSource>(m, "TacticSource", nb::is_arithmetic(),
                          "Libraries the GPU builder may take kernels from; "
                          "config.set_tactic_sources takes a mask of 1 << int(TacticSource.X).")
      .value("CUBLAS_LT", TacticSource::kCUBLAS_LT,
             "cuBLASLt: matrix products (without it a MatMul has no kernel)")
      .value("CUDNN", TacticSource::kCUDNN, "cuDNN: convolutions");
  m.attr("ALL_TACTIC_SOURCES") = kAllTacticSources;

  nb::enum_<ElementWiseOperation>(m, "ElementWiseOperation")
      .value("SUM", ElementWiseOperation::kSUM)
      .value("SUB", ElementWiseOperation::kSUB)
      .value("PROD", ElementWiseOperation::kPROD)
      .value("DIV", ElementWiseOperation::kDIV)
      .value("POW", ElementWiseOperation::kPOW)
      .value("MAX", ElementWiseOperation::kMAX)
      .value("MIN", ElementWiseOperation::kMIN)
      .value("FLOOR_DIV", ElementWiseOperation::kFLOOR_DIV)
      .value("EQUAL", ElementWiseOperation::kEQUAL)
      .value("LESS", ElementWiseOperation::kLESS)
      .value("GREATER", ElementWiseOperation::kGREATER)
      .value("AND", ElementWiseOperation::kAND)
      .value("OR", ElementWiseOperation::kOR)
      .value("XOR", ElementWiseOperation::kXOR);
  nb::enum_<UnaryOperation>(m, "UnaryOperation")
      .value("EXP", UnaryOperation::kEXP)
      .value("LOG", UnaryOperation::kLOG)
      .value("SQRT", UnaryOperation::kSQRT)
      .value("RECIP", UnaryOperation::kRECIP)
      .value("ABS", UnaryOperation::kABS)
      .value("NEG", UnaryOperation::kNEG)
      .value("SIN", UnaryOperation::kSIN)
      .value("COS", UnaryOperation::kCOS)
      .value("TAN", UnaryOperation::kTAN)
      .value("SINH", UnaryOperation::kSINH)
      .value("COSH", UnaryOperation::kCOSH)
      .value("ASIN", UnaryOperation::kASIN)
      .value("ACOS", UnaryOperation::kACOS)
      .value("ATAN", UnaryOperation::kATAN)
      .value("ASINH", UnaryOperation::kASINH)
      .value("ACOSH", UnaryOperation::kACOSH)
      .value("ATANH", UnaryOperation::kATANH)
      .value("CEIL", UnaryOperation::kCEIL)
      .value("FLOOR", UnaryOperation::kFLOOR)
      .value("ERF", UnaryOperation::kERF)
      .value("NOT", UnaryOperation::kNOT)
      .value("SIGN", UnaryOperation::kSIGN)
      .value("ROUND", UnaryOperation::kROUND)
      .value("ISINF", UnaryOperation::kISINF)
      .value("ISNAN", UnaryOperation::kISNAN);
  nb::enum_<ActivationType>(m, "ActivationType")
      .value("RELU", ActivationType::kRELU)
      .value("SIGMOID", ActivationType::kSIGMOID)
      .value("TANH", ActivationType::kTANH)
      .value("LEAKY_RELU", ActivationType::kLEAKY_RELU)
      .value("ELU", ActivationType::kELU)
      .value("SELU", ActivationType::kSELU)
      .value("SOFTSIGN", ActivationType::kSOFTSIGN)
      .value("SOFTPLUS", ActivationType::kSOFTPLUS)
      .value("CLIP", ActivationType::kCLIP)
      .value("HARD_SIGMOID", ActivationType::kHARD_SIGMOID)
      .value("HARD_SWISH", ActivationType::kHARD_SWISH)
      .value("GELU_ERF", ActivationType::kGELU_ERF)
      .value("GELU_TANH", ActivationType::kGELU_TANH)
      .value("THRESHOLDED_RELU", ActivationType::kTHRESHOLDED_RELU);
  nb::enum_<PoolingType>(m, "PoolingType")
      .value("MAX", PoolingType::kMAX)
      .value("AVERAGE", PoolingType::kAVERAGE);
  nb::enum_<ReduceOperation>(m, "ReduceOperation")
      .value("SUM", ReduceOperation::kSUM)
      .value("PROD", ReduceOperation::kPROD)
      .value("MAX", ReduceOperation::kMAX)
      .value("MIN", ReduceOperation::kMIN)
      .value("AVG", ReduceOperation::kAVG);
  nb::enum_<MatrixOperation>(m, "MatrixOperation")
      .value("NONE", MatrixOperation::kNONE)
      .value("TRANSPOSE", MatrixOperation::kTRANSPOSE);
  nb::enum_<ResizeMode>(m, "ResizeMode")
      .value("NEAREST", ResizeMode::kNEAREST)
      .value("LINEAR", ResizeMode::kLINEAR)
      .value("CUBIC", ResizeMode::kCUBIC);
  nb::enum_<NormalizationType>(m, "NormalizationType")
      .value("LAYER", NormalizationType::kLAYER)
      .value("INSTANCE", NormalizationType::kINSTANCE)
      .value("GROUP", NormalizationType::kGROUP);

  m.def(
      "nptype", [](nb::handle type) { return numpy_dtype(data_type_from_object(type)); },
      nb::arg("dtype"),
      "The numpy dtype for a kiln.DataType (or any dtype-like value), as trt.nptype.");
  m.def(
      "data_type", [](nb::handle type) { return data_type_from_object(type); }, nb::arg("dtype"),
      "The kiln.DataType for a numpy dtype, numpy scalar type or dtype name.");
  m.def(
      "volume", [](nb::handle dims) { return volume(dims_from_object(dims, "volume")); },
      nb::arg("shape"), "Product of the extents (1 for a scalar); -1 if any is dynamic.");
}

}  // namespace kiln::python

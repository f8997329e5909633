"""kiln: an inference optimizer and runtime for neural networks, with TensorRT's object model.

The short path:

    import kiln
    engine = kiln.build("model.onnx", shapes={"input": (1, 3, 224, 224)})  # GPU if usable
    outputs = engine({"input": image})            # {output name: numpy array}
    outputs = engine({"input": cuda_tensor})      # torch in, torch out: no copies
    engine.save("model.plan"); engine = kiln.load("model.plan")

The TensorRT-style objects (Logger, Builder, NetworkDefinition, BuilderConfig,
OptimizationProfile, OnnxParser, Runtime, Engine, ExecutionContext, Profiler) are documented in
docs/python.md with their TensorRT equivalents. Errors raise kiln.KilnError (one subclass per
kiln.ErrorCode) carrying kiln's message.
"""

from ._kiln import (  # noqa: F401  (re-exported)
    ALL_TACTIC_SOURCES,
    ActivationType,
    Builder,
    BuilderConfig,
    BuilderFlag,
    DataType,
    DeviceArray,
    DeviceType,
    ElementWiseOperation,
    Engine,
    ErrorCode,
    ExecutionContext,
    ExecutionError,
    FileError,
    GpuInfo,
    ILayer,
    ITensor,
    InternalError,
    InvalidArgumentError,
    InvalidModelError,
    InvalidPlanError,
    KilnError,
    Logger,
    MatrixOperation,
    NetworkDefinition,
    NormalizationType,
    OnnxParser,
    OptimizationProfile,
    OptProfileSelector,
    OutOfMemoryError,
    OutputAllocator,
    PoolingType,
    Profiler,
    ReduceOperation,
    ResizeMode,
    Runtime,
    Stream,
    TacticSource,
    TensorIOMode,
    UnaryOperation,
    UnsupportedError,
    VersionMismatchError,
    __version__,
    built_with_cuda,
    data_type,
    nptype,
    query_gpu,
    volume,
)
from ._build import build, load  # noqa: F401
from ._io import CallableEngine, TensorSpec, context_infer as _context_infer  # noqa: F401
from ._io import (_device_array_copy_from_numpy, _device_array_from_numpy,
                  _device_array_numpy)

# TensorRT's spellings: trt.ILogger is the subclassable logger, trt.IProfiler the
# subclassable profiler, trt.IOutputAllocator the subclassable output allocator, trt.float32 a DataType.
ILogger = Logger
IProfiler = Profiler
IOutputAllocator = OutputAllocator
float32 = DataType.FLOAT32
float16 = DataType.FLOAT16
bfloat16 = DataType.BFLOAT16
float64 = DataType.FLOAT64
int8 = DataType.INT8
uint8 = DataType.UINT8
int16 = DataType.INT16
int32 = DataType.INT32
int64 = DataType.INT64
bool = DataType.BOOL  # noqa: A001  (as trt.bool)

ExecutionContext.infer = _context_infer
DeviceArray.from_numpy = staticmethod(_device_array_from_numpy)
DeviceArray.numpy = _device_array_numpy
DeviceArray.copy_from_numpy = _device_array_copy_from_numpy

# Classes print as kiln.X rather than kiln._kiln.X.
for _name in dir():
    _object = globals()[_name]
    if isinstance(_object, type) and getattr(_object, "__module__", "") == "kiln._kiln":
        try:
            _object.__module__ = "kiln"
        except (AttributeError, TypeError):
            pass
del _name, _object

__all__ = [
    "ALL_TACTIC_SOURCES", "ActivationType", "Builder", "BuilderConfig", "BuilderFlag",
    "CallableEngine", "DataType", "DeviceArray", "DeviceType", "ElementWiseOperation", "Engine",
    "ErrorCode", "ExecutionContext", "ExecutionError", "FileError", "GpuInfo", "ILayer",
    "ILogger", "IOutputAllocator", "IProfiler", "ITensor", "InternalError", "InvalidArgumentError",
    "InvalidModelError", "InvalidPlanError", "KilnError", "Logger", "MatrixOperation",
    "NetworkDefinition", "NormalizationType", "OnnxParser", "OptimizationProfile",
    "OptProfileSelector", "OutOfMemoryError", "OutputAllocator", "PoolingType", "Profiler", "ReduceOperation", "ResizeMode", "Runtime",
    "Stream", "TacticSource", "TensorIOMode", "TensorSpec", "UnaryOperation", "UnsupportedError",
    "VersionMismatchError", "build", "built_with_cuda", "data_type", "load", "nptype",
    "query_gpu", "volume",
]

"""Running engines on arrays: the convenience layer over ExecutionContext.

`run` turns a call's values into addresses, allocates the outputs and runs, in one of four
ways:

- CPU engines: numpy arrays (and anything numpy can view: lists, scalars, CPU torch tensors,
  DLPack CPU tensors) are read in place; outputs are new numpy arrays.
- GPU engines on host values: kiln copies the inputs to device buffers it keeps per execution
  context, runs on its own stream, copies the outputs back and waits: numpy in, numpy out.
- GPU engines on GPU tensors (torch, cupy, or any `__cuda_array_interface__` object such as
  kiln.DeviceArray): no copies. The engine reads the tensors' memory, the outputs are allocated
  by the same framework on the same device (torch.empty, cupy.empty, kiln.DeviceArray), and the
  run is enqueued on the framework's current stream without waiting, exactly like one of the
  framework's own operations. Host values mixed into such a call are moved to the device by the
  framework first.

Outputs come back in the kind that went in: torch tensors (CPU or GPU) give torch tensors.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

import numpy as np

from . import _kiln

# Host buffers the engine reads and writes are aligned like kiln's own tensors, so that
# vectorized kernels never meet an odd address.
_ALIGNMENT = 64
# GPU kernels (kiln's, cuBLASLt's) load vectors of 16 bytes: a GPU tensor starting elsewhere (a
# view at an odd offset) is copied first.
_DEVICE_ALIGNMENT = 16


class TensorSpec(NamedTuple):
    """Name, shape (-1 for dynamic dims) and numpy dtype of an engine's input or output."""

    name: str
    shape: tuple
    dtype: np.dtype


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _names_text(names) -> str:
    return ", ".join(f"'{n}'" for n in names) if names else "none"


def _aligned_empty(shape, dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    count = math.prod(int(d) for d in shape)  # exact: np.prod would wrap at 2**63
    raw = np.empty(count * dtype.itemsize + _ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % _ALIGNMENT
    return raw[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


def _check_shape(spec: TensorSpec, shape: tuple, what: str) -> None:
    if len(shape) != len(spec.shape) or any(
            want >= 0 and want != got for want, got in zip(spec.shape, shape)):
        raise _kiln.InvalidArgumentError(
            f"input '{spec.name}' has shape {_shape_text(spec.shape)} (-1: any extent within "
            f"the optimization profile), but the {what} given has shape {_shape_text(shape)}")


# ---- torch ------------------------------------------------------------------------------------

def _is_torch(value) -> bool:
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "data_ptr")


_torch_numpy_dtypes: Optional[dict] = None


def _torch_dtype_table() -> dict:
    """{torch dtype: numpy dtype} for every dtype both kiln and this torch have."""
    global _torch_numpy_dtypes
    if _torch_numpy_dtypes is None:
        torch = sys.modules["torch"]
        table = {}
        for name in ("float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16",
                     "int32", "int64", "bool", "uint16", "uint32", "uint64", "float8_e4m3fn",
                     "float8_e5m2"):
            if hasattr(torch, name):
                try:
                    table[getattr(torch, name)] = np.dtype(_kiln.nptype(name))
                except _kiln.KilnError:  # bfloat16/float8 without ml_dtypes
                    pass
        _torch_numpy_dtypes = table
    return _torch_numpy_dtypes


def _numpy_dtype_of_torch(spec: TensorSpec, dtype) -> np.dtype:
    table = _torch_dtype_table()
    if dtype not in table:
        raise _kiln.InvalidArgumentError(
            f"input '{spec.name}' is {spec.dtype}, but the tensor given is {dtype}, which kiln "
            "has no type for")
    return table[dtype]


def _torch_dtype_of_numpy(dtype: np.dtype):
    for torch_dtype, numpy_dtype in _torch_dtype_table().items():
        if numpy_dtype == dtype:
            return torch_dtype
    raise _kiln.UnsupportedError(f"this torch has no dtype for {dtype}")


def _torch_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _torch_to_numpy(tensor) -> np.ndarray:
    """A CPU tensor as a numpy array sharing its memory (bfloat16/float8 through ml_dtypes)."""
    torch = sys.modules["torch"]
    tensor = tensor.detach()
    if tensor.dtype in (torch.bfloat16,) or "float8" in str(tensor.dtype):
        dtype = _torch_dtype_table()[tensor.dtype]
        bits = torch.uint16 if dtype.itemsize == 2 else torch.uint8
        return tensor.view(bits).numpy().view(dtype)
    return tensor.numpy()


def _numpy_to_torch(array: np.ndarray):
    """A numpy array as a CPU torch tensor sharing its memory."""
    torch = sys.modules["torch"]
    torch_dtype = _torch_dtype_of_numpy(array.dtype)
    if array.dtype.kind == "V" or array.dtype.name.startswith(("bfloat16", "float8")):
        bits = np.uint16 if array.dtype.itemsize == 2 else np.uint8
        return torch.from_numpy(array.view(bits)).view(torch_dtype)
    return torch.from_numpy(array)


# ---- host values --------------------------------------------------------------------------------

def _host_array(spec: TensorSpec, value: Any) -> np.ndarray:
    """A host value as a C-contiguous, aligned numpy array of the input's dtype (no silent
    conversion of arrays; Python lists and scalars take the input's dtype)."""
    if isinstance(value, np.ndarray):
        array = value
    elif _is_torch(value):
        array = _torch_to_numpy(value)
    elif hasattr(value, "__dlpack__") and hasattr(value, "__dlpack_device__"):
        array = np.from_dlpack(value)
    elif hasattr(value, "__array__"):
        array = np.asarray(value)
    else:
        try:
            array = np.asarray(value, dtype=spec.dtype)
        except (TypeError, ValueError) as error:
            raise _kiln.InvalidArgumentError(
                f"input '{spec.name}': cannot convert {type(value).__name__} to a "
                f"{spec.dtype} array: {error}") from None
    if array.dtype != spec.dtype:
        raise _kiln.InvalidArgumentError(
            f"input '{spec.name}' is {spec.dtype}, but the array given is {array.dtype}; "
            f"convert it first, e.g. arr.astype(np.{spec.dtype.name})")
    _check_shape(spec, array.shape, "array")
    if not (array.flags.c_contiguous and array.flags.aligned):
        array = np.ascontiguousarray(array)
    return array


# ---- GPU values ---------------------------------------------------------------------------------

_DLPACK_GPU_DEVICES = (2, 3, 13)  # kDLCUDA, kDLCUDAHost, kDLCUDAManaged


def _device_kind(spec: TensorSpec, value: Any) -> Optional[str]:
    """'torch', 'cupy' or 'cuda' (another __cuda_array_interface__ object, e.g.
    kiln.DeviceArray) for a value in GPU memory; None for a host value."""
    if _is_torch(value):
        return "torch" if value.is_cuda else None
    if hasattr(value, "__cuda_array_interface__"):
        return "cupy" if type(value).__module__.split(".")[0] == "cupy" else "cuda"
    if (not isinstance(value, np.ndarray) and hasattr(value, "__dlpack_device__")
            and value.__dlpack_device__()[0] in _DLPACK_GPU_DEVICES):
        raise _kiln.UnsupportedError(
            f"input '{spec.name}' is a tensor on a GPU that offers only DLPack; kiln takes GPU "
            "tensors from torch, cupy or any object with __cuda_array_interface__ (e.g. "
            "torch.from_dlpack(x))")
    return None


def _refuse_gpu_input(spec: TensorSpec, value: Any) -> None:
    """CPU engines read host memory only."""
    kind = _device_kind(spec, value)
    if kind is not None:
        move = "tensor.cpu()" if kind == "torch" else "cupy.asnumpy(x)" if kind == "cupy" \
            else "a copy to host memory"
        raise _kiln.UnsupportedError(
            f"input '{spec.name}' is a tensor on a GPU; this engine runs on the CPU: move it to "
            f"host memory first ({move}), or build the engine for the GPU (device='gpu')")


class _DeviceInput(NamedTuple):
    value: Any  # what must stay alive until the run is enqueued
    address: int
    shape: tuple


def _cai_is_c_contiguous(interface: dict, itemsize: int) -> bool:
    strides = interface.get("strides")
    if strides is None:
        return True
    expected, step = [], itemsize
    for extent in reversed(interface["shape"]):
        expected.append(step)
        step *= extent
    return all(s == e or n <= 1 for s, e, n in zip(strides, reversed(expected),
                                                      interface["shape"]))


def _device_input(spec: TensorSpec, value: Any, kind: str, device: int) -> _DeviceInput:
    """The address of a GPU tensor after checking its device, dtype, shape and layout; a
    non-contiguous or oddly aligned tensor is copied by its own framework."""
    if kind == "torch":
        if value.device.index != device:
            raise _kiln.InvalidArgumentError(
                f"input '{spec.name}' is on {value.device}, but kiln runs on cuda:{device} (the "
                f"current CUDA device): move it with tensor.to('cuda:{device}'), or call "
                f"torch.cuda.set_device({value.device.index}) before building and running")
        dtype = _numpy_dtype_of_torch(spec, value.dtype)
        if dtype != spec.dtype:
            torch_name = _torch_name(_torch_dtype_of_numpy(spec.dtype))
            raise _kiln.InvalidArgumentError(
                f"input '{spec.name}' is {spec.dtype}, but the tensor given is "
                f"{_torch_name(value.dtype)}; convert it first, e.g. t.to(torch.{torch_name})")
        _check_shape(spec, tuple(value.shape), "tensor")
        if not value.is_contiguous():
            value = value.contiguous()
        elif value.data_ptr() % _DEVICE_ALIGNMENT:
            value = value.clone()
        return _DeviceInput(value, value.data_ptr(), tuple(value.shape))

    interface = value.__cuda_array_interface__
    dtype = np.dtype(getattr(value, "dtype", interface["typestr"]))
    if dtype != spec.dtype:
        raise _kiln.InvalidArgumentError(
            f"input '{spec.name}' is {spec.dtype}, but the array given is {dtype}; convert it "
            f"first, e.g. arr.astype({spec.dtype.name!r})")
    shape = tuple(interface["shape"])
    _check_shape(spec, shape, "array")
    holder_device = getattr(value, "device_id", None)
    if kind == "cupy":
        holder_device = value.device.id
    if holder_device is not None and holder_device != device:
        raise _kiln.InvalidArgumentError(
            f"input '{spec.name}' is on cuda:{holder_device}, but kiln runs on cuda:{device} "
            "(the current CUDA device)")
    address = interface["data"][0]
    if not _cai_is_c_contiguous(interface, dtype.itemsize) or address % _DEVICE_ALIGNMENT:
        if kind != "cupy":
            raise _kiln.InvalidArgumentError(
                f"input '{spec.name}' is not a C-contiguous GPU array on a "
                f"{_DEVICE_ALIGNMENT}-byte boundary; make a contiguous copy first")
        value = value.copy(order="C")
        address = value.__cuda_array_interface__["data"][0]
    return _DeviceInput(value, address, shape)


def _device_array_from_numpy(array, stream=None) -> _kiln.DeviceArray:
    """A new kiln.DeviceArray holding a copy of a numpy array (waits for the copy unless a
    stream is given)."""
    array = np.ascontiguousarray(array)
    result = _kiln.DeviceArray(array.shape, array.dtype)
    result._copy_from_host(array.ctypes.data, array.nbytes, stream)
    return result


def _device_array_numpy(self: _kiln.DeviceArray) -> np.ndarray:
    """A numpy copy of the device array (waits for the copy)."""
    result = _aligned_empty(self.shape, self.dtype)
    self._copy_to_host(result.ctypes.data, result.nbytes, None)
    return result


def _device_array_copy_from_numpy(self: _kiln.DeviceArray, array, stream=None) -> None:
    """Copies a numpy array of the same shape and dtype into the device array."""
    array = np.asarray(array)
    if array.shape != self.shape or array.dtype != self.dtype:
        raise _kiln.InvalidArgumentError(
            f"copy_from_numpy: the array is {array.dtype} {_shape_text(array.shape)}, the device "
            f"array {self.dtype} {_shape_text(self.shape)}")
    array = np.ascontiguousarray(array)
    self._copy_from_host(array.ctypes.data, array.nbytes, stream)


class _Framework:
    """Allocation, host-to-device moves and the current stream of the framework whose GPU
    tensors went into a call."""

    def __init__(self, kind: str, device: int):
        self.kind = kind
        self.device = device
        if kind == "torch":
            self.module = sys.modules["torch"]
        elif kind == "cupy":
            self.module = sys.modules["cupy"]

    def empty(self, shape, dtype: np.dtype):
        if self.kind == "torch":
            return self.module.empty(tuple(shape), dtype=_torch_dtype_of_numpy(dtype),
                                     device=f"cuda:{self.device}")
        if self.kind == "cupy":
            with self.module.cuda.Device(self.device):
                return self.module.empty(tuple(shape), dtype=dtype)
        return _kiln.DeviceArray(shape, dtype)

    def from_host(self, array: np.ndarray):
        if self.kind == "torch":
            return _numpy_to_torch(array).to(f"cuda:{self.device}")
        if self.kind == "cupy":
            with self.module.cuda.Device(self.device):
                return self.module.asarray(array)
        return _device_array_from_numpy(array)

    def view_copy(self, buffer, count: int, dtype: np.dtype, shape):
        """A new array holding the first `count` elements of type `dtype` of a byte buffer of
        this framework, in `shape`."""
        nbytes = count * dtype.itemsize
        if self.kind == "torch":
            return buffer[:nbytes].view(_torch_dtype_of_numpy(dtype)).reshape(shape).clone()
        if self.kind == "cupy":
            with self.module.cuda.Device(self.device):
                return buffer[:nbytes].view(dtype).reshape(shape).copy()
        result = _kiln.DeviceArray(shape, dtype)
        result._copy_from_device(buffer.ptr, nbytes, None)
        return result

    def address(self, output) -> int:
        if self.kind == "torch":
            return output.data_ptr()
        return output.__cuda_array_interface__["data"][0]

    def stream(self):
        """The stream to enqueue on: the framework's current one (None: run synchronously)."""
        if self.kind == "torch":
            return self.module.cuda.current_stream(self.device).cuda_stream
        if self.kind == "cupy":
            return self.module.cuda.get_current_stream().ptr
        return None


class _GpuBuffers:
    """Device buffers and a stream for numpy calls on a GPU engine, kept per execution context
    and grown as larger shapes come."""

    def __init__(self):
        self.stream = _kiln.Stream()
        self._buffers = {}

    def get(self, key: str, nbytes: int) -> _kiln.DeviceArray:
        buffer = self._buffers.get(key)
        if buffer is None or buffer.nbytes < nbytes:
            self._buffers.pop(key, None)  # free the old one first
            buffer = self._buffers[key] = _kiln.DeviceArray((max(nbytes, 1),), np.uint8)
        return buffer


# ---- running ------------------------------------------------------------------------------------

def tensor_specs(engine: _kiln.Engine, mode: _kiln.TensorIOMode) -> dict[str, TensorSpec]:
    specs = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == mode:
            specs[name] = TensorSpec(name, engine.get_tensor_shape(name),
                                     engine.get_tensor_dtype(name))
    return specs


def collect_feeds(input_specs: Mapping[str, TensorSpec], output_names, args, kwargs) -> dict:
    """Maps a call's arguments to input names: one dict, positional values in input order,
    keyword values by name, or positional values followed by keywords."""
    if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
        feeds = dict(args[0])
    else:
        names = list(input_specs)
        if len(args) > len(names):
            raise _kiln.InvalidArgumentError(
                f"{len(args)} positional inputs given, but the engine has {len(names)} "
                f"({_names_text(names)})")
        feeds = dict(zip(names, args))
        for name, value in kwargs.items():
            if name in feeds:
                raise _kiln.InvalidArgumentError(
                    f"input '{name}' is given both by position and by name")
            feeds[name] = value
    for name in feeds:
        if name not in input_specs:
            what = "an output, not an input" if name in output_names else "not an input"
            raise _kiln.InvalidArgumentError(
                f"'{name}' is {what} of the engine; its inputs are: {_names_text(input_specs)}")
    for name, spec in input_specs.items():
        if name not in feeds:
            raise _kiln.InvalidArgumentError(
                f"missing input '{name}' ({spec.dtype}, shape {_shape_text(spec.shape)}); the "
                f"engine's inputs are: {_names_text(input_specs)}")
    return feeds


def _output_shapes(context: _kiln.ExecutionContext, output_specs) -> tuple[dict, list]:
    """({name: shape} of the outputs sized before the run, [names of the outputs whose shape
    only the run tells])."""
    shapes, deferred = {}, []
    for name in output_specs:
        if context.has_data_dependent_shape(name):
            deferred.append(name)
            continue
        shapes[name] = context.get_tensor_shape(name)
    return shapes, deferred


class _DeferredOutput(_kiln.OutputAllocator):
    """Memory for an output whose extents the run decides (NonZero, Unique, ...): a byte buffer
    from `allocate(nbytes)` whose address `address(buffer)` gives, kept on the context and
    grown (never shrunk) across calls; `shape` is the last run's."""

    def __init__(self, allocate, address):
        super().__init__()
        self._allocate, self._address = allocate, address
        self.buffer, self.nbytes, self.shape = None, 0, None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        if self.buffer is None or self.nbytes < size:
            self.buffer = None  # free the old one first
            self.nbytes = max(int(size), 1)
            self.buffer = self._allocate(self.nbytes)
        return self._address(self.buffer)

    def notify_shape(self, tensor_name, shape):
        self.shape = tuple(shape)


def _deferred_outputs(context, names, allocate, address) -> dict:
    """Sets (once per context and output) a _DeferredOutput allocator on each output of
    `names` and returns {name: allocator}."""
    allocators = {}
    for name in names:
        allocator = context.get_output_allocator(name)
        if not isinstance(allocator, _DeferredOutput):
            allocator = _DeferredOutput(allocate, address)
            context.set_output_allocator(name, allocator)
        allocator.shape = None
        allocators[name] = allocator
    return allocators


def _deferred_result(name: str, allocator: _DeferredOutput, spec: TensorSpec, view):
    """The run's value of a deferred output: its buffer's first bytes as `spec.dtype` in the
    notified shape, through `view(buffer, count, dtype, shape)`."""
    if allocator.shape is None:
        raise _kiln.RuntimeError(f"the run did not report the shape of output '{name}'")
    count = int(np.prod(allocator.shape, dtype=np.int64)) if allocator.shape else 1
    return view(allocator.buffer, count, spec.dtype, allocator.shape)


def _host_view(buffer, count, dtype, shape):
    return buffer[:count * dtype.itemsize].view(dtype).reshape(shape).copy()


def _set_shape(context, spec: TensorSpec, shape: tuple) -> None:
    if any(d < 0 for d in spec.shape):
        context.set_input_shape(spec.name, shape)


def _run_host(context, input_specs, output_specs, feeds) -> dict:
    """A CPU engine on host values."""
    arrays = {}
    for name, spec in input_specs.items():
        _refuse_gpu_input(spec, feeds[name])
        arrays[name] = _host_array(spec, feeds[name])
        _set_shape(context, spec, arrays[name].shape)
    shapes, deferred = _output_shapes(context, output_specs)
    outputs = {name: _aligned_empty(shape, output_specs[name].dtype)
               for name, shape in shapes.items()}
    allocators = _deferred_outputs(context, deferred, lambda n: _aligned_empty((n,), np.uint8),
                                   lambda buffer: buffer.ctypes.data)
    for name, array in (*arrays.items(), *outputs.items()):
        context.set_tensor_address(name, array.ctypes.data)
    context.execute()
    for name, allocator in allocators.items():
        outputs[name] = _deferred_result(name, allocator, output_specs[name], _host_view)
    return {name: outputs[name] for name in output_specs}


def _run_host_on_gpu(context, input_specs, output_specs, feeds) -> dict:
    """A GPU engine on host values: copies in, run, copies out, on the context's stream."""
    buffers = getattr(context, "_kiln_gpu_buffers", None)
    if buffers is None:
        buffers = context._kiln_gpu_buffers = _GpuBuffers()
    stream = buffers.stream
    arrays = {}
    for name, spec in input_specs.items():
        array = arrays[name] = _host_array(spec, feeds[name])
        _set_shape(context, spec, array.shape)
        device = buffers.get("in:" + name, array.nbytes)
        device._copy_from_host(array.ctypes.data, array.nbytes, stream)
        context.set_tensor_address(name, device.ptr)
    shapes, deferred = _output_shapes(context, output_specs)
    outputs, devices = {}, {}
    for name, shape in shapes.items():
        outputs[name] = _aligned_empty(shape, output_specs[name].dtype)
        devices[name] = buffers.get("out:" + name, outputs[name].nbytes)
        context.set_tensor_address(name, devices[name].ptr)
    allocators = _deferred_outputs(context, deferred,
                                   lambda n: _kiln.DeviceArray((n,), np.uint8),
                                   lambda buffer: buffer.ptr)
    context.execute_async_v3(stream)
    for name, allocator in allocators.items():
        # The shape is known once enqueue returns (kiln synchronized for it).
        spec = output_specs[name]
        outputs[name] = _aligned_empty(allocator.shape or (0,), spec.dtype) \
            if allocator.shape is not None else None
        devices[name] = allocator.buffer
    for name, array in outputs.items():
        if array is None:
            raise _kiln.RuntimeError(f"the run did not report the shape of output '{name}'")
        devices[name]._copy_to_host(array.ctypes.data, array.nbytes, stream)
    stream.synchronize()
    return {name: outputs[name] for name in output_specs}


def _run_on_device(context, input_specs, output_specs, feeds, kinds: dict) -> dict:
    """A GPU engine on GPU tensors: no copies, outputs from the same framework, enqueued on
    its current stream."""
    device = _kiln._cuda_current_device()
    present = set(k for k in kinds.values() if k)
    framework = _Framework(next(k for k in ("torch", "cupy", "cuda") if k in present), device)
    keep_alive = []
    for name, spec in input_specs.items():
        value, kind = feeds[name], kinds[name]
        if kind is None:  # a host value in a GPU call: the framework moves it
            value, kind = framework.from_host(_host_array(spec, value)), framework.kind
        tensor = _device_input(spec, value, kind, device)
        keep_alive.append(tensor.value)
        _set_shape(context, spec, tensor.shape)
        context.set_tensor_address(name, tensor.address)
    shapes, deferred = _output_shapes(context, output_specs)
    outputs = {}
    for name, shape in shapes.items():
        outputs[name] = framework.empty(shape, output_specs[name].dtype)
        context.set_tensor_address(name, framework.address(outputs[name]))
    allocators = _deferred_outputs(context, deferred,
                                   lambda n: framework.empty((n,), np.dtype(np.uint8)),
                                   framework.address)
    stream = framework.stream()
    if stream is None:
        context.execute()  # kiln.DeviceArray outputs promise finished data
    else:
        # Tensors freed after this (keep_alive) go back to the framework's caching allocator,
        # which orders their reuse after the work already on this stream.
        context.execute_async_v3(stream)
    for name, allocator in allocators.items():
        # A view of the context's buffer would be overwritten by the next call: a copy (on the
        # same stream) is what the caller owns.
        outputs[name] = _deferred_result(name, allocator, output_specs[name], framework.view_copy)
    del keep_alive
    return {name: outputs[name] for name in output_specs}


def run(context: _kiln.ExecutionContext, input_specs, output_specs, feeds: Mapping) -> dict:
    """Sets shapes and addresses from `feeds` (every input, by name), runs, and returns the
    outputs as a dict in engine order, in the kind of the inputs."""
    if context.engine.device == _kiln.DeviceType.CPU:
        outputs = _run_host(context, input_specs, output_specs, feeds)
    else:
        kinds = {name: _device_kind(spec, feeds[name]) for name, spec in input_specs.items()}
        if any(kinds.values()):
            return _run_on_device(context, input_specs, output_specs, feeds, kinds)
        outputs = _run_host_on_gpu(context, input_specs, output_specs, feeds)
    if any(_is_torch(value) for value in feeds.values()):  # CPU torch tensors in, out
        outputs = {name: _numpy_to_torch(array) for name, array in outputs.items()}
    return outputs


def context_infer(self: _kiln.ExecutionContext, *args, **kwargs) -> dict:
    """Runs the engine and returns {output name: array}.

    Inputs are given as one dict {name: array}, positionally in the engine's input order, or
    by keyword: numpy arrays (any engine), or torch / cupy GPU tensors (GPU engines, no copies,
    outputs in the same framework on its current stream). Dynamic input shapes are set from
    the arrays. Arrays must have the input's dtype exactly (no silent conversion); Python
    lists and scalars take the input's dtype."""
    engine = self.engine
    inputs = tensor_specs(engine, _kiln.TensorIOMode.INPUT)
    outputs = tensor_specs(engine, _kiln.TensorIOMode.OUTPUT)
    return run(self, inputs, outputs, collect_feeds(inputs, outputs, args, kwargs))


class CallableEngine:
    """An engine with a call operator: `outputs = engine({"input": array})`.

    Returned by kiln.build and kiln.load. Inputs are given as one dict, positionally (in
    `input_names` order) or by keyword; the result is a dict {output name: array}. numpy
    arrays work with every engine (GPU engines copy them to the device and back); torch and
    cupy GPU tensors go to GPU engines without copies and give outputs of the same framework,
    enqueued on its current stream. Dynamic input shapes are taken from the arrays. Each
    thread gets its own execution context, so one CallableEngine may be called from several
    threads at once. The underlying kiln.Engine is `.engine`."""

    def __init__(self, engine: _kiln.Engine):
        if not isinstance(engine, _kiln.Engine):
            raise TypeError(f"CallableEngine wraps a kiln.Engine, got {type(engine).__name__}")
        self.engine = engine
        self.inputs: dict[str, TensorSpec] = tensor_specs(engine, _kiln.TensorIOMode.INPUT)
        self.outputs: dict[str, TensorSpec] = tensor_specs(engine, _kiln.TensorIOMode.OUTPUT)
        self._local = threading.local()

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self.outputs)

    @property
    def device(self) -> str:
        """'cpu' or 'gpu': where the engine runs."""
        return "cpu" if self.engine.device == _kiln.DeviceType.CPU else "gpu"

    @property
    def context(self) -> _kiln.ExecutionContext:
        """This thread's execution context (e.g. to set a profiler on it)."""
        context = getattr(self._local, "context", None)
        if context is None:
            context = self._local.context = self.engine.create_execution_context()
        return context

    def __call__(self, *args, **kwargs) -> dict:
        feeds = collect_feeds(self.inputs, self.outputs, args, kwargs)
        return run(self.context, self.inputs, self.outputs, feeds)

    def save(self, path) -> None:
        """Writes the plan to `path` atomically (kiln.load reads it back)."""
        self.engine.save(path)

    def serialize(self) -> bytes:
        return self.engine.serialize()

    def describe(self) -> str:
        return self.engine.describe()

    def __repr__(self) -> str:
        def specs(d):
            return ", ".join(f"{s.name}: {s.dtype} {_shape_text(s.shape)}" for s in d.values())
        return f"<kiln.CallableEngine {self.device} inputs [{specs(self.inputs)}] outputs " \
               f"[{specs(self.outputs)}]>"

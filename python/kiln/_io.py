"""Running engines on numpy arrays: the convenience layer over ExecutionContext.

Every run goes through an `_IOBackend`, which turns the caller's values into memory the engine
can read and allocates the outputs. Only `_HostIO` (CPU engines, numpy arrays) exists for now;
the CUDA backend will add a device backend here (DLPack / torch tensors, cudaMalloc'd outputs,
a stream) without changing CallableEngine or ExecutionContext.infer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from . import _kiln

# Host buffers the engine reads and writes are aligned like kiln's own tensors, so that
# vectorized kernels never meet an odd address.
_ALIGNMENT = 64


class TensorSpec(NamedTuple):
    """Name, shape (-1 for dynamic dims) and numpy dtype of an engine's input or output."""

    name: str
    shape: tuple
    dtype: np.dtype


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _aligned_empty(shape, dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    raw = np.empty(count * dtype.itemsize + _ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % _ALIGNMENT
    return raw[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


class _HostIO:
    """Inputs and outputs in host memory, for CPU engines."""

    def input_array(self, spec: TensorSpec, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            array = value
        elif hasattr(value, "__dlpack__") and hasattr(value, "__dlpack_device__"):
            device_type = value.__dlpack_device__()[0]
            if device_type != 1:  # kDLCPU
                raise _kiln.UnsupportedError(
                    f"input '{spec.name}' is a tensor on a GPU (DLPack device type "
                    f"{device_type}); this engine runs on the CPU: move it to host memory first "
                    "(e.g. tensor.cpu())")
            array = np.from_dlpack(value)
        elif hasattr(value, "__array__"):
            array = np.asarray(value)
        else:
            # Python scalars and (nested) lists carry no dtype of their own: take the input's.
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
        if array.ndim != len(spec.shape) or any(
                want >= 0 and want != got for want, got in zip(spec.shape, array.shape)):
            raise _kiln.InvalidArgumentError(
                f"input '{spec.name}' has shape {_shape_text(spec.shape)} (-1: any extent within "
                f"the optimization profile), but the array given has shape "
                f"{_shape_text(array.shape)}")
        if not (array.flags.c_contiguous and array.flags.aligned):
            array = np.ascontiguousarray(array)
        return array

    def output_array(self, spec: TensorSpec, shape: tuple) -> np.ndarray:
        return _aligned_empty(shape, spec.dtype)

    @staticmethod
    def address(array: np.ndarray) -> int:
        return array.ctypes.data


def _io_backend(engine: _kiln.Engine):
    if engine.device == _kiln.DeviceType.CPU:
        return _HostIO()
    raise _kiln.UnsupportedError(
        "this engine was built for the GPU; running GPU engines from Python (DLPack / torch "
        "tensors) is not implemented yet. Use ExecutionContext.set_tensor_address with device "
        "pointers and execute_async_v3, or build for the CPU")


def tensor_specs(engine: _kiln.Engine, mode: _kiln.TensorIOMode) -> dict[str, TensorSpec]:
    specs = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) == mode:
            specs[name] = TensorSpec(name, engine.get_tensor_shape(name),
                                     engine.get_tensor_dtype(name))
    return specs


def _names_text(names) -> str:
    return ", ".join(f"'{n}'" for n in names) if names else "none"


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


def run(context: _kiln.ExecutionContext, input_specs, output_specs, feeds: Mapping) -> dict:
    """Sets shapes and addresses from `feeds` (every input, by name), executes, and returns
    the outputs as a dict of new arrays in engine order."""
    io = _io_backend(context.engine)
    arrays = {}
    for name, spec in input_specs.items():
        array = io.input_array(spec, feeds[name])
        if any(d < 0 for d in spec.shape):
            context.set_input_shape(name, array.shape)
        arrays[name] = array
    outputs = {}
    for name, spec in output_specs.items():
        shape = context.get_tensor_shape(name)
        if any(d < 0 for d in shape):
            raise _kiln.UnsupportedError(
                f"output '{name}' has a data-dependent shape {_shape_text(shape)}; its buffer "
                "cannot be sized before the run")
        outputs[name] = io.output_array(spec, shape)
    for name, array in (*arrays.items(), *outputs.items()):
        context.set_tensor_address(name, io.address(array))
    context.execute()
    return outputs


def context_infer(self: _kiln.ExecutionContext, *args, **kwargs) -> dict:
    """Runs the engine on numpy arrays and returns {output name: array}.

    Inputs are given as one dict {name: array}, positionally in the engine's input order, or
    by keyword. Dynamic input shapes are set from the arrays. Arrays must have the input's
    dtype exactly (no silent conversion); Python lists and scalars take the input's dtype."""
    engine = self.engine
    inputs = tensor_specs(engine, _kiln.TensorIOMode.INPUT)
    outputs = tensor_specs(engine, _kiln.TensorIOMode.OUTPUT)
    return run(self, inputs, outputs, collect_feeds(inputs, outputs, args, kwargs))


class CallableEngine:
    """An engine with a call operator: `outputs = engine({"input": array})`.

    Returned by kiln.build and kiln.load. Inputs are given as one dict, positionally (in
    `input_names` order) or by keyword; the result is a dict {output name: numpy array}.
    Dynamic input shapes are taken from the arrays. Each thread gets its own execution
    context, so one CallableEngine may be called from several threads at once. The underlying
    kiln.Engine is `.engine`."""

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

    def _context(self) -> _kiln.ExecutionContext:
        context = getattr(self._local, "context", None)
        if context is None:
            context = self._local.context = self.engine.create_execution_context()
        return context

    def __call__(self, *args, **kwargs) -> dict[str, np.ndarray]:
        feeds = collect_feeds(self.inputs, self.outputs, args, kwargs)
        return run(self._context(), self.inputs, self.outputs, feeds)

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
        device = "cpu" if self.engine.device == _kiln.DeviceType.CPU else "gpu"
        return f"<kiln.CallableEngine {device} inputs [{specs(self.inputs)}] outputs " \
               f"[{specs(self.outputs)}]>"

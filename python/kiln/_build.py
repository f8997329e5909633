"""The short path: kiln.build (ONNX model → callable engine) and kiln.load (plan → callable
engine), in plain Python over the TensorRT-style objects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional, Union

from . import _kiln
from ._io import CallableEngine, _shape_text

_default_logger = _kiln.Logger(_kiln.Logger.WARNING)

ShapeMap = Optional[Mapping[str, tuple]]


def _names_text(names) -> str:
    return ", ".join(f"'{n}'" for n in names) if names else "none"


def _parse(model, network: _kiln.NetworkDefinition, logger: _kiln.Logger) -> None:
    parser = _kiln.OnnxParser(network, logger)
    if isinstance(model, (str, os.PathLike)):
        parser.parse_from_file(model)
    elif isinstance(model, (bytes, bytearray, memoryview)) or hasattr(model, "SerializeToString"):
        parser.parse(model)
    else:
        raise TypeError("kiln.build takes an ONNX model as a path, bytes, an onnx.ModelProto or "
                        f"a kiln.NetworkDefinition, got {type(model).__name__}")


def _profile_for(inputs: dict, shapes: ShapeMap, min_shapes: ShapeMap, opt_shapes: ShapeMap,
                 max_shapes: ShapeMap) -> Optional[_kiln.OptimizationProfile]:
    """One optimization profile from the shape arguments, with the defaults of `kiln build`:
    opt defaults to max (else min), min and max default to opt."""
    given = {"shapes": shapes or {}, "min_shapes": min_shapes or {},
             "opt_shapes": opt_shapes or {}, "max_shapes": max_shapes or {}}
    for argument, mapping in given.items():
        if not isinstance(mapping, Mapping):
            raise TypeError(f"{argument} must be a dict {{input name: shape}}, "
                            f"got {type(mapping).__name__}")
        for name in mapping:
            if name not in inputs:
                raise _kiln.InvalidArgumentError(
                    f"{argument} names '{name}', which is not an input of the model; its inputs "
                    f"are: {_names_text(inputs)}")
    ranges = ("min_shapes", "opt_shapes", "max_shapes")
    profile = _kiln.OptimizationProfile()
    dynamic = False
    for name, declared in inputs.items():
        in_range = [r for r in ranges if name in given[r]]
        if name in given["shapes"] and in_range:
            raise _kiln.InvalidArgumentError(
                f"input '{name}' is given in shapes and in {', '.join(in_range)}: give either "
                "one fixed shape or a min/opt/max range")
        static = all(d >= 0 for d in declared)
        if static:
            for argument in ("shapes", *ranges):
                if name in given[argument] and tuple(given[argument][name]) != declared:
                    raise _kiln.InvalidArgumentError(
                        f"{argument}: input '{name}' has the static shape "
                        f"{_shape_text(declared)}, not {_shape_text(tuple(given[argument][name]))}")
            continue
        dynamic = True
        if name in given["shapes"]:
            low = opt = high = tuple(given["shapes"][name])
        elif in_range:
            low, opt, high = (given[r].get(name) for r in ranges)
            opt = opt if opt is not None else (high if high is not None else low)
            low = low if low is not None else opt
            high = high if high is not None else opt
            low, opt, high = tuple(low), tuple(opt), tuple(high)
        else:
            example = tuple(1 if d < 0 else d for d in declared)
            raise _kiln.InvalidArgumentError(
                f"input '{name}' has the dynamic shape {_shape_text(declared)}; give its shape "
                f"with shapes={{'{name}': {_shape_text(example)}}} or a range with "
                "min_shapes/opt_shapes/max_shapes")
        for which, dims in (("min", low), ("opt", opt), ("max", high)):
            if len(dims) != len(declared) or any(
                    d >= 0 and d != got for d, got in zip(declared, dims)):
                raise _kiln.InvalidArgumentError(
                    f"input '{name}' has shape {_shape_text(declared)} (-1: dynamic); the {which} "
                    f"shape {_shape_text(dims)} does not fit it")
        profile.set_shape(name, low, opt, high)
    return profile if dynamic else None


def _device_type(device) -> _kiln.DeviceType:
    if isinstance(device, _kiln.DeviceType):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be 'auto', 'gpu', 'cpu' or a kiln.DeviceType, got "
                        f"{type(device).__name__}")
    name = device.lower()
    if name == "auto":
        return _kiln.DeviceType.GPU if _kiln.query_gpu().available else _kiln.DeviceType.CPU
    devices = {"cpu": _kiln.DeviceType.CPU, "gpu": _kiln.DeviceType.GPU,
               "cuda": _kiln.DeviceType.GPU}
    if name not in devices:
        raise _kiln.InvalidArgumentError(
            f"unknown device '{device}' (expected 'auto', 'gpu' or 'cpu')")
    return devices[name]


def build(model, *, fp16: bool = False, bf16: bool = False, tf32: bool = True,
          shapes: ShapeMap = None, min_shapes: ShapeMap = None, opt_shapes: ShapeMap = None,
          max_shapes: ShapeMap = None, device: Union[str, _kiln.DeviceType] = "auto",
          tactic_sources: Optional[int] = None,
          logger: Optional[_kiln.Logger] = None) -> CallableEngine:
    """Builds an engine from an ONNX model and returns it ready to call.

    model: a path to an .onnx file, its bytes, an onnx.ModelProto, or a kiln.NetworkDefinition.
    shapes: {input: shape} fixing each dynamic input's shape (min = opt = max).
    min_shapes / opt_shapes / max_shapes: a range per dynamic input instead; kernels are
    chosen for opt, memory planned for max. Ends not given default as in `kiln build`: opt to
    max (else min), min and max to opt.
    fp16 / bf16: allow float16 / bfloat16 kernels (mixed precision); tf32=False forbids TF32.
    device: "auto" (default: the GPU where kiln.query_gpu() finds one, else the CPU), "gpu"
    (or "cuda") or "cpu".
    tactic_sources: a mask of 1 << int(kiln.TacticSource.X) limiting the GPU libraries used.

        engine = kiln.build("model.onnx", shapes={"input": (8, 3, 224, 224)})
        outputs = engine({"input": batch})          # {output name: numpy array}
    """
    logger = logger if logger is not None else _default_logger
    builder = _kiln.Builder(logger)
    if isinstance(model, _kiln.NetworkDefinition):
        network = model
    else:
        network = builder.create_network()
        _parse(model, network, logger)
    inputs = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        inputs[tensor.name] = tuple(tensor.shape)

    config = builder.create_builder_config()
    for enabled, flag in ((fp16, _kiln.BuilderFlag.FP16), (bf16, _kiln.BuilderFlag.BF16),
                          (tf32, _kiln.BuilderFlag.TF32)):
        if enabled:
            config.set_flag(flag)
        else:
            config.clear_flag(flag)
    config.set_device(_device_type(device))
    if tactic_sources is not None:
        config.set_tactic_sources(tactic_sources)
    profile = _profile_for(inputs, shapes, min_shapes, opt_shapes, max_shapes)
    if profile is not None:
        config.add_optimization_profile(profile)
    return CallableEngine(builder.build_engine(network, config))


def load(plan, *, logger: Optional[_kiln.Logger] = None) -> CallableEngine:
    """Loads a plan (a path, or the bytes of Engine.serialize()) and returns it ready to call."""
    runtime = _kiln.Runtime(logger if logger is not None else _default_logger)
    if isinstance(plan, (str, os.PathLike)):
        return CallableEngine(runtime.load_engine_file(plan))
    return CallableEngine(runtime.deserialize_engine(plan))

#!/usr/bin/env python3
"""kiln on the GPU with PyTorch tensors: TensorRT's quick-start flow on device pointers, then
the short path (torch in, torch out, no copies), a per-layer profile, and numpy on the same
engine.

    python3 examples/python/gpu_torch.py               # a small MLP written with onnx.helper
    python3 examples/python/gpu_torch.py model.onnx    # any float32 model (dynamic dims 1..8)

Needs a CUDA GPU and torch with CUDA; says so and exits otherwise.
"""

import sys

import numpy as np

import kiln
from quickstart import small_mlp_bytes


def ranges(model_bytes: bytes):
    """(min, opt, max) shapes per input: dynamic dims (-1) range over 1..8, opt 4."""
    network = kiln.NetworkDefinition()
    kiln.OnnxParser(network, kiln.Logger()).parse(model_bytes)
    shapes = {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shapes[tensor.name] = tuple(tuple(n if d < 0 else d for d in tensor.shape)
                                    for n in (1, 4, 8))
    return shapes


def tensorrt_style(model_bytes: bytes, torch) -> None:
    """The TensorRT flow: build for the GPU, then device pointers and a CUDA stream."""
    logger = kiln.Logger(kiln.Logger.WARNING)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse(model_bytes)
    config = builder.create_builder_config()
    config.default_device_type = kiln.DeviceType.GPU  # the Python default is the CPU
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in ranges(model_bytes).items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    engine = kiln.Runtime(logger).deserialize_cuda_engine(
        builder.build_serialized_network(network, config))

    context = engine.create_execution_context()
    tensors = {}
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    for name in names:
        if engine.get_tensor_mode(name) == kiln.TensorIOMode.INPUT:
            shape = tuple(2 if d < 0 else d for d in engine.get_tensor_shape(name))
            context.set_input_shape(name, shape)
            tensors[name] = torch.randn(shape, device="cuda")
    for name in names:
        if engine.get_tensor_mode(name) == kiln.TensorIOMode.OUTPUT:
            tensors[name] = torch.empty(context.get_tensor_shape(name), device="cuda")
    for name, tensor in tensors.items():
        context.set_tensor_address(name, tensor.data_ptr())
    stream = torch.cuda.current_stream()
    context.execute_async_v3(stream.cuda_stream)  # returns at once; the GPU works on
    stream.synchronize()
    for name in names:
        if engine.get_tensor_mode(name) == kiln.TensorIOMode.OUTPUT:
            print(f"{name}: {tuple(tensors[name].shape)}, first values "
                  f"{tensors[name].flatten()[:4].tolist()}")


class LayerTimes(kiln.Profiler):
    """Collects each layer's time (TensorRT's IProfiler)."""

    def __init__(self):
        super().__init__()
        self.times = {}

    def report_layer_time(self, layer_name, ms):
        self.times[layer_name] = self.times.get(layer_name, 0.0) + ms


def short_path(model_bytes: bytes, torch) -> None:
    shapes = ranges(model_bytes)
    engine = kiln.build(model_bytes, device="gpu",
                        min_shapes={n: s[0] for n, s in shapes.items()},
                        opt_shapes={n: s[1] for n, s in shapes.items()},
                        max_shapes={n: s[2] for n, s in shapes.items()})
    print(engine)
    feeds = {name: torch.randn(tuple(3 if d < 0 else d for d in spec.shape), device="cuda")
             for name, spec in engine.inputs.items()}
    outputs = engine(feeds)  # torch tensors, on torch's current stream, no copies
    for name, value in outputs.items():
        print(f"{name}: {type(value).__name__} on {value.device}, shape {tuple(value.shape)}")

    profiler = LayerTimes()
    engine.context.profiler = profiler  # this thread's context
    for _ in range(10):
        engine(feeds)
    engine.context.profiler = None
    for layer, ms in sorted(profiler.times.items(), key=lambda item: -item[1])[:5]:
        print(f"  {layer}: {ms / 10:.4f} ms per run")

    # numpy works on the same engine: kiln copies to the GPU and back.
    host = {name: value.cpu().numpy() for name, value in feeds.items()}
    for name, value in engine(host).items():
        difference = np.abs(value - outputs[name].cpu().numpy()).max()
        print(f"{name}: numpy in, numpy out; max difference to the torch run {difference:.2e}")


def main() -> None:
    gpu = kiln.query_gpu()
    try:
        import torch
    except ImportError:
        torch = None
    if not gpu.available or torch is None or not torch.cuda.is_available():
        why = gpu.why_not if not gpu.available else "torch with CUDA is not installed"
        print(f"this example needs a GPU and torch with CUDA: {why}")
        return
    print(f"kiln {kiln.__version__} on {gpu.name}")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            model_bytes = f.read()
    else:
        model_bytes = small_mlp_bytes()
    tensorrt_style(model_bytes, torch)
    short_path(model_bytes, torch)


if __name__ == "__main__":
    main()

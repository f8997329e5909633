"""GPU engines from Python: numpy (kiln copies), torch CUDA tensors (no copies, outputs from
torch on its current stream), kiln.DeviceArray, TensorRT's quick-start flow on device memory,
dynamic shapes, the profiler, and the error cases. Every test skips, saying why, where there is
no usable GPU (and those using torch where torch has no CUDA); references are onnxruntime's
outputs on the CPU and numpy."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import kiln
from conftest import fixture_model, make_model, mlp_model, onnxruntime_outputs

pytestmark = pytest.mark.gpu

GPU = kiln.query_gpu()
if not GPU.available:
    pytest.skip(f"no usable GPU: {GPU.why_not}", allow_module_level=True)

try:
    import torch
    TORCH_CUDA = torch.cuda.is_available()
except ImportError:
    torch = None
    TORCH_CUDA = False
needs_torch = pytest.mark.skipif(not TORCH_CUDA, reason="torch with CUDA is not installed")

# TF32 rounds float32 matrix inputs to 10 mantissa bits; the value checks below turn it off
# (tf32=False) to compare float32 with float32, and test_tf32_default checks TF32 itself.
RTOL = ATOL = 1e-4


def reference(model, feeds):
    return onnxruntime_outputs(model, {k: np.asarray(v) for k, v in feeds.items()})


def to_numpy(tensor):
    return tensor.detach().cpu().numpy()


def sub_model(shape=(2, 3), dtype=TensorProto.FLOAT):
    return make_model([helper.make_node("Sub", ["a", "b"], ["d"])],
                      [("a", dtype, list(shape)), ("b", dtype, list(shape))],
                      [("d", dtype, list(shape))])


# ---- numpy on a GPU engine ------------------------------------------------------------------

def test_numpy_in_numpy_out_with_growing_batches():
    model = mlp_model(seed=5)
    engine = kiln.build(model, min_shapes={"x": (1, 4)}, max_shapes={"x": (64, 4)},
                        device="gpu", tf32=False)
    assert engine.device == "gpu" and engine.engine.device == kiln.DeviceType.GPU
    rng = np.random.default_rng(0)
    for batch in (1, 64, 7):  # the kiln-held device buffers grow, then get reused
        x = rng.standard_normal((batch, 4)).astype(np.float32)
        y = engine({"x": x})["y"]
        assert isinstance(y, np.ndarray) and y.shape == (batch, 3)
        np.testing.assert_allclose(y, reference(model, {"x": x})["y"], rtol=RTOL, atol=ATOL)


def test_auto_device_picks_the_gpu():
    assert kiln.build(mlp_model(), shapes={"x": (2, 4)}, device="auto").device == "gpu"


def test_tf32_default_is_close_and_fp16_is_looser():
    model = mlp_model(seed=6)
    x = np.random.default_rng(1).standard_normal((16, 4)).astype(np.float32)
    expected = reference(model, {"x": x})["y"]
    tf32 = kiln.build(model, shapes={"x": (16, 4)}, device="gpu")({"x": x})["y"]
    np.testing.assert_allclose(tf32, expected, rtol=1e-2, atol=1e-3)
    fp16 = kiln.build(model, shapes={"x": (16, 4)}, device="gpu", fp16=True)({"x": x})["y"]
    np.testing.assert_allclose(fp16, expected, rtol=2e-2, atol=5e-3)


@pytest.mark.parametrize("name", ["mlp_dynamic", "cnn_small"])
def test_model_fixtures_on_the_gpu(name):
    path, data_sets = fixture_model(name)
    input_name = next(iter(data_sets[0][0]))
    feature_shape = data_sets[0][0][input_name].shape[1:]
    batches = [inputs[input_name].shape[0] for inputs, _ in data_sets]
    engine = kiln.build(path, min_shapes={input_name: (1, *feature_shape)},
                        max_shapes={input_name: (max(batches), *feature_shape)},
                        device="gpu", tf32=False)
    for inputs, expected in data_sets:
        outputs = engine(inputs)
        for key, want in expected.items():
            np.testing.assert_allclose(outputs[key], want, rtol=RTOL, atol=ATOL)
        if TORCH_CUDA:  # the same through torch tensors
            on_device = {k: torch.from_numpy(np.array(v)).cuda() for k, v in inputs.items()}
            for key, got in engine(on_device).items():
                np.testing.assert_allclose(to_numpy(got), expected[key], rtol=RTOL, atol=ATOL)


# ---- torch tensors --------------------------------------------------------------------------

@needs_torch
def test_torch_cuda_tensors_without_copies():
    model = mlp_model(seed=7)
    engine = kiln.build(model, min_shapes={"x": (1, 4)}, max_shapes={"x": (32, 4)},
                        device="gpu", tf32=False)
    x = torch.randn(32, 4, device="cuda")
    y = engine({"x": x})["y"]
    assert isinstance(y, torch.Tensor) and y.is_cuda and y.dtype == torch.float32
    assert y.shape == (32, 3)
    # The engine read x and wrote y in place: the context holds their own addresses.
    assert engine.context.get_tensor_address("x") == x.data_ptr()
    assert engine.context.get_tensor_address("y") == y.data_ptr()
    np.testing.assert_allclose(to_numpy(y), reference(model, {"x": to_numpy(x)})["y"],
                               rtol=RTOL, atol=ATOL)


@needs_torch
def test_runs_are_ordered_on_torchs_current_stream():
    model = mlp_model(seed=8)
    engine = kiln.build(model, shapes={"x": (4096, 4)}, device="gpu", tf32=False)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        # The input is produced and the output consumed on `stream`, with no synchronization:
        # only stream order makes the result right.
        base = torch.randn(4096, 4, device="cuda")
        torch.cuda._sleep(2_000_000)  # keep the stream busy so that a wrong stream would race
        x = base * 2 + 1
        y = engine(x)["y"]
        total = y.sum(dim=1)
    stream.synchronize()
    np.testing.assert_allclose(to_numpy(total), np.ones(4096), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(y), reference(model, {"x": to_numpy(x)})["y"],
                               rtol=RTOL, atol=ATOL)


@needs_torch
def test_non_contiguous_and_mixed_inputs():
    engine = kiln.build(sub_model((3, 2)), device="gpu")
    a = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3).t()  # a view
    assert not a.is_contiguous()
    b = np.full((3, 2), 0.5, np.float32)  # numpy mixed in: torch moves it
    d = engine(a, b)["d"]
    assert isinstance(d, torch.Tensor) and d.is_cuda
    np.testing.assert_array_equal(to_numpy(d), to_numpy(a) - b)


@needs_torch
def test_cpu_torch_tensors_give_cpu_torch_tensors():
    engine = kiln.build(sub_model(), device="gpu")
    a, b = torch.ones(2, 3), torch.full((2, 3), 0.25)
    d = engine(a, b)["d"]
    assert isinstance(d, torch.Tensor) and not d.is_cuda
    assert torch.equal(d, a - b)


@needs_torch
def test_bfloat16_and_int64_torch_tensors():
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT),
                        helper.make_node("Mul", ["i", "i"], ["j"])],
                       [("x", TensorProto.BFLOAT16, [5]), ("i", TensorProto.INT64, [3])],
                       [("y", TensorProto.FLOAT, [5]), ("j", TensorProto.INT64, [3])])
    engine = kiln.build(model, device="gpu")
    x = torch.tensor([1.0, -2.5, 3.140625, 0.0, 65280.0], dtype=torch.bfloat16, device="cuda")
    i = torch.tensor([3, -4, 1 << 31], dtype=torch.int64, device="cuda")
    outputs = engine(x=x, i=i)
    assert outputs["y"].dtype == torch.float32 and outputs["j"].dtype == torch.int64
    assert torch.equal(outputs["y"], x.float())
    assert torch.equal(outputs["j"], i * i)


# ---- TensorRT's quick-start flow on device memory --------------------------------------------

@needs_torch
def test_quickstart_flow_with_device_pointers(logger):
    model = mlp_model(seed=9)
    builder = kiln.Builder(logger)
    network = builder.create_network(0)
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse(model.SerializeToString())
    config = builder.create_builder_config()
    config.default_device_type = kiln.DeviceType.GPU
    config.clear_flag(kiln.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 4), (8, 4), (16, 4))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)

    engine = kiln.Runtime(logger).deserialize_cuda_engine(plan)
    assert engine.device == kiln.DeviceType.GPU
    context = engine.create_execution_context()
    stream = torch.cuda.Stream()
    runs = [(context.execute_async_v3, stream.cuda_stream),  # an int handle, as in TensorRT
            (context.execute_async, stream),                  # a torch stream object
            (context.enqueue, kiln.Stream())]                 # kiln's own stream
    for batch, (run, on) in zip((3, 16, 1), runs):
        x = torch.randn(batch, 4, device="cuda")
        context.set_input_shape("x", tuple(x.shape))
        assert context.get_tensor_shape("y") == (batch, 3)
        y = torch.empty(context.get_tensor_shape("y"), device="cuda")
        context.set_tensor_address("x", x.data_ptr())
        context.set_tensor_address("y", y.data_ptr())
        torch.cuda.current_stream().synchronize()  # x is written on the default stream
        assert run(on) is True
        (on if isinstance(on, kiln.Stream) else stream).synchronize()
        np.testing.assert_allclose(to_numpy(y), reference(model, {"x": to_numpy(x)})["y"],
                                   rtol=RTOL, atol=ATOL)
    # execute() is synchronous; infer() is the array convenience on a context.
    x = torch.randn(5, 4, device="cuda")
    y = context.infer(x)["y"]
    torch.cuda.synchronize()
    np.testing.assert_allclose(to_numpy(y), reference(model, {"x": to_numpy(x)})["y"],
                               rtol=RTOL, atol=ATOL)


def test_device_arrays_round_trip_and_run():
    model = mlp_model(seed=10)
    engine = kiln.build(model, shapes={"x": (6, 4)}, device="gpu", tf32=False)
    x = np.random.default_rng(3).standard_normal((6, 4)).astype(np.float32)
    device_x = kiln.DeviceArray.from_numpy(x)
    assert device_x.shape == (6, 4) and device_x.dtype == np.float32 and device_x.nbytes == 96
    assert device_x.ptr != 0 and device_x.device_id == kiln._kiln._cuda_current_device()
    np.testing.assert_array_equal(device_x.numpy(), x)
    y = engine(device_x)["y"]
    assert isinstance(y, kiln.DeviceArray)
    np.testing.assert_allclose(y.numpy(), reference(model, {"x": x})["y"], rtol=RTOL, atol=ATOL)
    device_x.copy_from_numpy(2 * x)
    np.testing.assert_array_equal(device_x.numpy(), 2 * x)
    with pytest.raises(kiln.InvalidArgumentError, match="copy_from_numpy"):
        device_x.copy_from_numpy(np.zeros((4, 6), np.float32))
    if TORCH_CUDA:  # __cuda_array_interface__: torch views kiln's memory without a copy
        view = torch.as_tensor(device_x, device="cuda")
        assert view.data_ptr() == device_x.ptr
        assert torch.equal(view.cpu(), torch.from_numpy(2 * x))


# ---- the profiler -----------------------------------------------------------------------------

@needs_torch
def test_profiler_times_every_gpu_layer():
    class Recording(kiln.Profiler):
        def __init__(self):
            super().__init__()
            self.times = []

        def report_layer_time(self, layer_name, ms):
            self.times.append((layer_name, ms))

    engine = kiln.build(mlp_model(), shapes={"x": (256, 4)}, device="gpu")
    profiler = Recording()
    engine.context.profiler = profiler
    engine(torch.randn(256, 4, device="cuda"))
    names = [line.split()[0] for line in engine.describe().splitlines()
             if line.startswith("  ") and "[" in line]
    assert [name for name, _ in profiler.times] == names
    assert all(ms > 0 for _, ms in profiler.times)


# ---- plans ------------------------------------------------------------------------------------

@needs_torch
def test_gpu_plan_round_trip(tmp_path):
    model = mlp_model(seed=11)
    built = kiln.build(model, max_shapes={"x": (8, 4)}, device="gpu", tf32=False)
    built.save(tmp_path / "mlp.plan")
    loaded = kiln.load(tmp_path / "mlp.plan")
    assert loaded.device == "gpu"
    x = torch.randn(8, 4, device="cuda")
    np.testing.assert_array_equal(to_numpy(loaded(x)["y"]), to_numpy(built(x)["y"]))


# ---- outputs whose shape the run decides ---------------------------------------------------

def nonzero_model():
    """y = NonZero(x > 0) as int64 [2, count], z = x + x."""
    nodes = [helper.make_node("Greater", ["x", "zero"], ["positive"]),
             helper.make_node("NonZero", ["positive"], ["y"]),
             helper.make_node("Add", ["x", "x"], ["z"])]
    return make_model(nodes, [("x", TensorProto.FLOAT, [3, 4])],
                      [("y", TensorProto.INT64, [2, None]), ("z", TensorProto.FLOAT, [3, 4])],
                      [("zero", np.array(0, np.float32))])


def test_data_dependent_outputs_from_numpy():
    engine = kiln.build(nonzero_model(), device="gpu")
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.standard_normal((3, 4)).astype(np.float32)
        out = engine({"x": x})
        np.testing.assert_array_equal(out["y"], np.stack(np.nonzero(x > 0)))
        np.testing.assert_array_equal(out["z"], x + x)
    assert engine({"x": -np.ones((3, 4), np.float32)})["y"].shape == (2, 0)


@needs_torch
def test_data_dependent_outputs_from_torch():
    engine = kiln.build(nonzero_model(), device="gpu")
    for seed in range(3):
        x = torch.randn(3, 4, device="cuda", generator=torch.Generator("cuda").manual_seed(seed))
        out = engine(x)
        assert out["y"].is_cuda and out["y"].dtype == torch.int64
        torch.testing.assert_close(out["y"], torch.stack(torch.nonzero(x > 0, as_tuple=True)))
        torch.testing.assert_close(out["z"], x + x)


def test_output_allocator_with_device_memory(logger):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    kiln.OnnxParser(network, logger).parse(nonzero_model().SerializeToString())
    config = builder.create_builder_config()
    config.default_device_type = kiln.DeviceType.GPU
    context = builder.build_engine(network, config).create_execution_context()

    class DeviceAllocator(kiln.OutputAllocator):
        def __init__(self):
            super().__init__()
            self.array, self.shape = None, None

        def reallocate_output(self, tensor_name, memory, size, alignment):
            if self.array is None or self.array.nbytes < size:
                self.array = kiln.DeviceArray((max(size, 1),), np.uint8)
            return self.array.ptr

        def notify_shape(self, tensor_name, shape):
            self.shape = shape

    allocator = DeviceAllocator()
    context.set_output_allocator("y", allocator)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    x_device = kiln.DeviceArray.from_numpy(x)
    z_device = kiln.DeviceArray((3, 4), np.float32)
    context.set_tensor_address("x", x_device.ptr)
    context.set_tensor_address("z", z_device.ptr)
    context.execute()
    want = np.stack(np.nonzero(x > 0)).astype(np.int64)
    assert allocator.shape == want.shape == context.get_tensor_shape("y")
    got = allocator.array.numpy()[:want.nbytes].view(np.int64).reshape(want.shape)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(z_device.numpy(), x + x)


# ---- errors -----------------------------------------------------------------------------------

@needs_torch
def test_errors_name_the_problem():
    engine = kiln.build(mlp_model(), min_shapes={"x": (1, 4)}, max_shapes={"x": (8, 4)},
                        device="gpu")
    x = torch.randn(2, 4, device="cuda")
    with pytest.raises(kiln.InvalidArgumentError, match="'input' is not an input of the "
                                                        "engine; its inputs are: 'x'"):
        engine({"input": x})
    with pytest.raises(kiln.InvalidArgumentError, match="'x' is float32, but the tensor given "
                                                        "is float16"):
        engine(x.half())
    with pytest.raises(kiln.InvalidArgumentError, match=r"has shape \(-1, 4\).*\(2, 5\)"):
        engine(torch.randn(2, 5, device="cuda"))
    with pytest.raises(kiln.InvalidArgumentError, match="x"):  # batch 9 > profile max 8
        engine(torch.randn(9, 4, device="cuda"))
    with pytest.raises(kiln.FileError, match="no-such-model.onnx"):
        kiln.build("no-such-model.onnx", device="gpu")
    cpu_engine = kiln.build(mlp_model(), shapes={"x": (2, 4)}, device="cpu")
    with pytest.raises(kiln.UnsupportedError, match=r"tensor on a GPU.*tensor\.cpu\(\)"):
        cpu_engine(x)
    # After the errors the engine still runs.
    assert engine(x)["y"].shape == (2, 3)

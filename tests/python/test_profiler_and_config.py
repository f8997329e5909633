"""kiln.Profiler, tactic sources, flag bit masks, device selection and the GPU objects' behaviour
on a machine without a usable GPU. Runs everywhere (the GPU itself: test_gpu.py)."""

import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

import kiln
from conftest import make_model, mlp_model

GPU = kiln.query_gpu()


class RecordingProfiler(kiln.Profiler):
    def __init__(self):
        super().__init__()
        self.times = []

    def report_layer_time(self, layer_name, ms):
        self.times.append((layer_name, ms))


def cpu_mlp_engine():
    return kiln.build(mlp_model(), shapes={"x": (2, 4)}, device="cpu")


def conv_model():
    w = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    return make_model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
                      [("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                      [("y", TensorProto.FLOAT, [1, 8, 16, 16])], [("w", w)])


def layer_names(engine):
    """Layer names as engine.describe() lists them ("  <name> [<op>] kernel ...")."""
    return [line.split()[0] for line in engine.describe().splitlines()
            if line.startswith("  ") and "[" in line]


def test_profiler_subclass_gets_every_layer_of_every_run():
    engine = cpu_mlp_engine()
    context = engine.context
    assert context.profiler is None
    profiler = RecordingProfiler()
    context.profiler = profiler
    assert context.profiler is profiler
    x = np.ones((2, 4), np.float32)
    engine(x)
    names = [name for name, _ in profiler.times]
    assert names == layer_names(engine.engine) and len(names) == engine.engine.num_layers
    assert all(isinstance(ms, float) and ms >= 0 for _, ms in profiler.times)
    engine(x)
    assert len(profiler.times) == 2 * len(names)
    context.profiler = None  # off
    engine(x)
    assert len(profiler.times) == 2 * len(names)


def test_default_profiler_prints_like_trt_profiler(capsys):
    engine = cpu_mlp_engine()
    engine.context.profiler = kiln.IProfiler()  # TensorRT's name for the same class
    engine(np.ones((2, 4), np.float32))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == layer_names(engine.engine)
    assert all(line.endswith("ms") and float(line.split(": ")[1][:-2]) >= 0 for line in lines)


def test_profiler_exception_is_unraisable_and_the_run_completes(monkeypatch):
    class Failing(kiln.Profiler):
        def report_layer_time(self, layer_name, ms):
            raise RuntimeError("profiler broke on " + layer_name)

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))
    engine = cpu_mlp_engine()
    engine.context.profiler = Failing()
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    y = engine(x)["y"]
    np.testing.assert_allclose(y.sum(axis=1), [1, 1], rtol=1e-6)  # softmax rows
    assert len(reported) == engine.engine.num_layers
    assert "profiler broke on" in str(reported[0])


def test_profiler_rejects_other_objects():
    context = cpu_mlp_engine().context
    with pytest.raises(TypeError, match="kiln.Profiler"):
        context.profiler = "verbose"


def test_execute_async_and_enqueue_on_cpu_engines():
    engine = cpu_mlp_engine().engine
    context = engine.create_execution_context()
    x = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    expected = context.infer(x)["y"]
    for run in (context.execute_async, context.enqueue, context.execute_async_v3):
        y = np.zeros((2, 3), np.float32)
        context.set_tensor_address("x", x.ctypes.data)
        context.set_tensor_address("y", y.ctypes.data)
        assert run(None) is True
        np.testing.assert_array_equal(y, expected)
    with pytest.raises(kiln.InvalidArgumentError, match="null stream"):
        context.execute_async(12345)
    with pytest.raises(TypeError, match="stream"):
        context.execute_async("default")


def test_flags_and_tactic_sources_are_bit_masks():
    config = kiln.BuilderConfig()
    assert int(kiln.BuilderFlag.FP16) == 0 and int(kiln.BuilderFlag.TF32) == 2
    assert config.flags == 1 << int(kiln.BuilderFlag.TF32)
    config.set_flag(kiln.BuilderFlag.FP16)
    assert config.flags == (1 << int(kiln.BuilderFlag.TF32)) | (1 << int(kiln.BuilderFlag.FP16))
    assert config.get_tactic_sources() == kiln.ALL_TACTIC_SOURCES == 3
    cudnn_only = 1 << int(kiln.TacticSource.CUDNN)
    assert config.set_tactic_sources(cudnn_only) is True
    assert config.get_tactic_sources() == cudnn_only
    with pytest.raises(kiln.InvalidArgumentError, match="name no kiln.TacticSource"):
        config.set_tactic_sources(1 << 7)


@pytest.mark.skipif(not kiln.built_with_cuda(), reason="this kiln was built without CUDA")
def test_tactic_sources_decide_the_gpu_kernels():
    # Building for the GPU needs no GPU: the plan names the kernels chosen.
    with_cudnn = kiln.build(conv_model(), device="gpu")
    without = kiln.build(conv_model(), device="gpu",
                         tactic_sources=1 << int(kiln.TacticSource.CUBLAS_LT))
    assert with_cudnn.device == "gpu" and without.device == "gpu"
    # cuDNN's (a channels-last FusedConv where TF32 is on, as by default), or kiln's own.
    assert "kernel cudnn_fused_conv" in with_cudnn.describe()
    assert "cudnn" not in without.describe() and "kernel cuda_conv" in without.describe()


def test_query_gpu_and_auto_device():
    info = kiln.query_gpu()
    assert isinstance(info, kiln.GpuInfo) and isinstance(kiln.built_with_cuda(), bool)
    assert bool(info) == info.available
    if info.available:
        assert info.name and info.memory_bytes > 0 and info.compute_capability >= (7, 0)
        assert info.why_not == ""
    else:
        assert info.why_not and "unavailable" in repr(info)
        if not kiln.built_with_cuda():
            assert "without CUDA" in info.why_not
    engine = kiln.build(mlp_model(), shapes={"x": (2, 4)}, device="auto")
    assert engine.device == ("gpu" if info.available else "cpu")
    assert kiln.build(mlp_model(), shapes={"x": (2, 4)}, device=kiln.DeviceType.CPU).device == "cpu"
    with pytest.raises(TypeError, match="device must be"):
        kiln.build(mlp_model(), shapes={"x": (2, 4)}, device=0)


def test_cpu_engine_refuses_gpu_arrays():
    class FakeCudaArray:  # what numba, cupy and kiln.DeviceArray offer
        __cuda_array_interface__ = {"shape": (2, 4), "typestr": "<f4", "data": (1 << 40, False),
                                    "version": 3, "strides": None}

    engine = cpu_mlp_engine()
    with pytest.raises(kiln.UnsupportedError, match="'x' is a tensor on a GPU; this engine runs "
                                                    "on the CPU"):
        engine(FakeCudaArray())


@pytest.mark.skipif(GPU.available, reason="checks the errors of a machine without a usable GPU")
def test_gpu_objects_without_a_gpu_raise_kiln_errors():
    expected = kiln.ExecutionError if kiln.built_with_cuda() else kiln.UnsupportedError
    with pytest.raises(expected):
        kiln.DeviceArray((2, 4), np.float32)
    with pytest.raises(expected):
        kiln.Stream()
    if kiln.built_with_cuda():
        # A GPU engine builds here, and running it says why it cannot.
        engine = kiln.build(mlp_model(), shapes={"x": (2, 4)}, device="gpu")
        with pytest.raises(kiln.ExecutionError, match="CUDA|cuda"):
            engine(np.ones((2, 4), np.float32))

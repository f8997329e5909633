"""kiln.TimingCache through BuilderConfig (TensorRT's create_timing_cache / set_timing_cache /
get_timing_cache): round trip through bytes, corrupt bytes, combine, and on a GPU a second
build that takes every timed layer from the cache. Runs everywhere; the GPU part skips."""

import numpy as np
import pytest

import kiln
from conftest import mlp_model

GPU = kiln.query_gpu()


def build(config, logger, model):
    builder = kiln.Builder(logger)
    network = builder.create_network()
    assert kiln.OnnxParser(network, logger).parse(model.SerializeToString())
    return builder.build_serialized_network(network, config)


def test_empty_cache_round_trip_and_attach():
    config = kiln.Builder(kiln.Logger()).create_builder_config()
    assert config.get_timing_cache() is None
    cache = config.create_timing_cache(b"")
    assert len(cache) == 0
    data = cache.serialize()
    assert data[:8] == b"KILNTCCH"
    again = config.create_timing_cache(data)
    assert len(again) == 0 and again.serialize() == data
    assert config.set_timing_cache(again, False)
    assert config.get_timing_cache() is not None
    assert config.get_timing_cache().serialize() == data
    assert again.combine(cache, False)
    assert config.set_timing_cache(None)
    assert config.get_timing_cache() is None


def test_corrupt_bytes_raise():
    config = kiln.Builder(kiln.Logger()).create_builder_config()
    with pytest.raises(kiln.KilnError, match="not a kiln timing cache"):
        config.create_timing_cache(b"definitely not a cache")
    data = bytearray(config.create_timing_cache(b"").serialize())
    data[-1] ^= 0xFF
    with pytest.raises(kiln.KilnError, match="checksum"):
        config.create_timing_cache(bytes(data))


def test_builder_optimization_level():
    config = kiln.Builder(kiln.Logger()).create_builder_config()
    assert config.builder_optimization_level == 3
    config.builder_optimization_level = 0
    assert config.builder_optimization_level == 0
    with pytest.raises(kiln.KilnError, match="0 to 5"):
        config.set_builder_optimization_level(9)


class Recorder(kiln.Logger):
    def __init__(self):
        super().__init__(kiln.Logger.VERBOSE)
        self.messages = []

    def log(self, severity, message):
        self.messages.append(message)


@pytest.mark.skipif(not GPU.available, reason=f"no usable GPU: {GPU.why_not}")
def test_second_gpu_build_takes_the_cache():
    model = mlp_model(batch=64)
    logger = Recorder()
    config = kiln.Builder(logger).create_builder_config()
    config.default_device_type = kiln.DeviceType.GPU
    cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache)
    build(config, logger, model)
    assert len(cache) > 0, logger.messages
    assert any("autotune: timed" in m and "timed 0 layers" not in m for m in logger.messages)

    second_logger = Recorder()
    second = kiln.Builder(second_logger).create_builder_config()
    second.default_device_type = kiln.DeviceType.GPU
    second.set_timing_cache(second.create_timing_cache(cache.serialize()))
    plan = build(second, second_logger, model)
    assert any("autotune: timed 0 layers" in m for m in second_logger.messages), \
        second_logger.messages
    engine = kiln.Runtime(second_logger).deserialize_engine(plan)
    assert "cuBLASLt algo" in engine.describe()

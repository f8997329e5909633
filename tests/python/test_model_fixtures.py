"""The generated model fixtures (<build>/models, from tests/models/generate_models.py) through
the Python API, against the onnxruntime outputs stored with them. Skipped where absent."""

import numpy as np
import pytest

import kiln
from conftest import fixture_model


@pytest.mark.parametrize("name, tolerance", [("mlp_dynamic", 1e-5), ("cnn_small", 1e-4)])
def test_fixture_one_engine_for_every_data_set(name, tolerance):
    path, data_sets = fixture_model(name)
    batches = [next(iter(inputs.values())).shape[0] for inputs, _ in data_sets]
    input_name = next(iter(data_sets[0][0]))
    feature_shape = data_sets[0][0][input_name].shape[1:]
    engine = kiln.build(path, min_shapes={input_name: (1, *feature_shape)},
                        max_shapes={input_name: (max(batches), *feature_shape)})
    assert engine.input_names == [input_name]
    for inputs, expected in data_sets:
        outputs = engine(inputs)
        assert list(outputs) == list(expected)
        for key, want in expected.items():
            assert outputs[key].shape == want.shape
            np.testing.assert_allclose(outputs[key], want, rtol=tolerance, atol=tolerance)


def test_fixture_plan_round_trip(tmp_path):
    path, data_sets = fixture_model("cnn_small")
    inputs, expected = data_sets[0]
    (name, value), = inputs.items()
    engine = kiln.build(path, shapes={name: value.shape})
    engine.save(tmp_path / "cnn.plan")
    loaded = kiln.load(tmp_path / "cnn.plan")
    (output_name, want), = expected.items()
    np.testing.assert_allclose(loaded(value)[output_name], want, rtol=1e-4, atol=1e-4)

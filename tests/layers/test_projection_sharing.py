"""Layerwise sharing of one `SequenceProjection` through every Keras path:
plain-data configs, `to_json`/`model_from_json`, `clone_model` and `.keras`
files (issue 12)."""

import json
import os

import keras
import numpy as np
import pytest

from keras_linformer.layers import LinformerAttention
from keras_linformer.layers import LinformerEncoder
from keras_linformer.layers import SequenceProjection

N, K, DIM, HEADS = 16, 4, 8, 2


def shared_model(layer_class=LinformerAttention, num_layers=2):
    """A functional model whose layers share one E (layerwise sharing)."""
    shared = SequenceProjection(N, K, projection="linear", name="shared_e")
    tokens = keras.Input((None, DIM))
    mask = keras.Input((None,), dtype="int32")
    x = tokens
    for i in range(num_layers):
        if layer_class is LinformerAttention:
            layer = LinformerAttention(
                num_heads=HEADS,
                key_dim=DIM // HEADS,
                sequence_length=N,
                projected_dim=K,
                projection="linear",
                sharing="layerwise",
                shared_projection=shared,
                name=f"attention_{i}",
            )
        else:
            layer = LinformerEncoder(
                num_heads=HEADS,
                intermediate_dim=16,
                sequence_length=N,
                projected_dim=K,
                projection="linear",
                sharing="layerwise",
                shared_projection=shared,
                name=f"encoder_{i}",
            )
        x = layer(x, padding_mask=mask)
    return keras.Model([tokens, mask], x)


def projection_kernels(model):
    """The distinct (n, k) kernels of a model, by identity."""
    kernels = {}
    for variable in model.weights:
        if tuple(variable.shape) == (N, K):
            kernels[id(variable)] = variable
    return list(kernels.values())


def inputs(rng):
    x = rng.normal(size=(2, 12, DIM)).astype("float32")
    mask = (np.arange(12)[None] < np.array([[12], [5]])).astype("int32")
    return [x, mask]


def outputs(model, data):
    return keras.ops.convert_to_numpy(model(data))


LAYER_CLASSES = [LinformerAttention, LinformerEncoder]


@pytest.mark.parametrize("layer_class", LAYER_CLASSES)
def test_config_is_json(layer_class):
    model = shared_model(layer_class)
    for layer in model.layers[2:]:
        config = json.loads(json.dumps(layer.get_config()))
        nested = config["shared_projection"]
        assert nested["config"]["class_name"] == "SequenceProjection"
        assert nested["config"]["config"]["projected_dim"] == K


@pytest.mark.parametrize("layer_class", LAYER_CLASSES)
def test_model_from_json_keeps_one_projection(layer_class, rng):
    model = shared_model(layer_class)
    loaded = keras.models.model_from_json(model.to_json())
    assert len(loaded.weights) == len(model.weights)
    assert len(projection_kernels(loaded)) == 1
    loaded.set_weights(model.get_weights())
    data = inputs(rng)
    np.testing.assert_allclose(
        outputs(loaded, data), outputs(model, data), atol=1e-6
    )
    # Reading the same JSON again gives a second, independent model.
    again = keras.models.model_from_json(model.to_json())
    assert len(projection_kernels(again)) == 1
    assert projection_kernels(again)[0] is not projection_kernels(loaded)[0]


@pytest.mark.parametrize("layer_class", LAYER_CLASSES)
def test_clone_shares_within_itself_not_with_the_original(layer_class, rng):
    model = shared_model(layer_class)
    clone = keras.models.clone_model(model)
    assert len(clone.weights) == len(model.weights)
    (clone_kernel,) = projection_kernels(clone)
    (original_kernel,) = projection_kernels(model)
    assert clone_kernel is not original_kernel
    original_ids = {id(v) for v in model.weights}
    assert not original_ids & {id(v) for v in clone.weights}
    # Training the clone leaves the original as it was.
    before = keras.ops.convert_to_numpy(original_kernel).copy()
    clone_kernel.assign(clone_kernel + 1.0)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(original_kernel), before
    )
    # A clone of a clone: again one projection of its own.
    second = keras.models.clone_model(clone)
    (second_kernel,) = projection_kernels(second)
    assert second_kernel is not clone_kernel


@pytest.mark.parametrize("layer_class", LAYER_CLASSES)
def test_keras_file_keeps_one_projection(layer_class, rng, tmp_path):
    model = shared_model(layer_class, num_layers=3)
    data = inputs(rng)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert len(loaded.weights) == len(model.weights)
    assert len(projection_kernels(loaded)) == 1
    np.testing.assert_allclose(
        outputs(loaded, data), outputs(model, data), atol=1e-6
    )


def test_one_layer_cloned_alone_does_not_capture_a_later_clone(rng):
    """Cloning one sharing layer by itself, then the whole model: the
    model's clone still gets one projection of its own."""
    model = shared_model()
    first = model.layers[2]
    alone = LinformerAttention.from_config(first.get_config())
    clone = keras.models.clone_model(model)
    (clone_kernel,) = projection_kernels(clone)
    assert alone.shared_projection is not None
    alone.build((None, None, DIM))
    assert clone_kernel is not alone.shared_projection.kernel

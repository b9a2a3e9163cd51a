import json

import keras
import numpy as np
import pytest

from keras_linformer.initializers import WindowMean
from keras_linformer.layers import SequenceProjection

N, K, DIM = 16, 4, 3


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_each_slot_averages_its_window():
    E = to_numpy(WindowMean()((N, K)))
    window = np.arange(N) * K // N
    expected = np.where(window[:, None] == np.arange(K)[None, :], K / N, 0)
    np.testing.assert_array_equal(E, expected)
    # A mean: each column sums to 1 over its n / k positions.
    np.testing.assert_allclose(E.sum(axis=0), np.ones(K))


def test_a_stack_repeats_the_block_per_head():
    E = to_numpy(WindowMean()((2, N, K), dtype="float16"))
    assert E.dtype == np.float16
    np.testing.assert_array_equal(E[0], E[1])
    np.testing.assert_array_equal(E[0], to_numpy(WindowMean()((N, K))))


@pytest.mark.parametrize("shape", [(N,), ()])
def test_a_vector_is_refused(shape):
    with pytest.raises(ValueError, match=r"\(n, k\) matrix.*shape="):
        WindowMean()(shape)


def test_serializes_to_json_and_back():
    config = keras.initializers.serialize(WindowMean())
    restored = keras.initializers.deserialize(json.loads(json.dumps(config)))
    assert isinstance(restored, WindowMean)


@pytest.mark.parametrize("num_real", [N, 8, 5])
def test_linear_starts_as_mean_pooling_on_padded_documents(num_real):
    """At initialization the paper's linear E equals mean pooling on every
    window a document fills, and masks the same empty windows."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = np.zeros((2, N), bool)
    mask[0, :num_real] = True
    mask[1] = True
    linear = SequenceProjection(N, K, "linear", initializer=WindowMean())
    mean = SequenceProjection(N, K, "mean")
    linear_out, linear_slots = map(to_numpy, linear(inputs, mask))
    mean_out, mean_slots = map(to_numpy, mean(inputs, mask))
    np.testing.assert_array_equal(linear_slots, mean_slots)
    full = num_real // (N // K)  # windows the short document fills
    np.testing.assert_allclose(linear_out[1], mean_out[1], atol=1e-6)
    np.testing.assert_allclose(
        linear_out[0, :full], mean_out[0, :full], atol=1e-6
    )

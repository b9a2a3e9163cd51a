import keras
import numpy as np
import pytest
from keras.src import testing
from numpy_reference import project
from numpy_reference import to_numpy

from keras_linformer.layers import SequenceProjection
from keras_linformer.layers import sequence_projection
from keras_linformer.layers.sequence_projection import validate_projection_args

PROJECTIONS = list(sequence_projection.PROJECTIONS)
N, K, DIM, HEADS = 16, 4, 3, 2


class SequenceProjectionLayerTest(testing.TestCase):
    """Keras's own layer checks: build, shapes, serialization, training."""

    def test_layer_linear(self):
        self.run_layer_test(
            SequenceProjection,
            init_kwargs={"sequence_length": N, "projected_dim": K},
            input_shape=(2, N, DIM),
            expected_output_shape=((2, K, DIM), (2, K)),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            supports_masking=False,
        )

    def test_layer_conv_per_head(self):
        self.run_layer_test(
            SequenceProjection,
            init_kwargs={
                "sequence_length": N,
                "projected_dim": K,
                "projection": "conv",
                "num_heads": HEADS,
                "initializer": "random_normal",
            },
            input_shape=(2, 12, HEADS, DIM),
            expected_output_shape=((2, K, HEADS, DIM), (2, HEADS, K)),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=0,
            supports_masking=False,
        )

    def test_layer_length_robust_kinds(self):
        for projection in ("scaled_linear", "softmax", "stretched_softmax"):
            self.run_layer_test(
                SequenceProjection,
                init_kwargs={
                    "sequence_length": N,
                    "projected_dim": K,
                    "projection": projection,
                },
                input_shape=(2, 12, DIM),
                expected_output_shape=((2, K, DIM), (2, K)),
                expected_num_trainable_weights=1,
                expected_num_non_trainable_weights=0,
                supports_masking=False,
            )

    def test_layer_pooling_has_no_weights(self):
        for projection in sequence_projection.WEIGHTLESS_PROJECTIONS:
            self.run_layer_test(
                SequenceProjection,
                init_kwargs={
                    "sequence_length": N,
                    "projected_dim": K,
                    "projection": projection,
                },
                input_shape=(2, N, DIM),
                expected_output_shape=((2, K, DIM), (2, K)),
                expected_num_trainable_weights=0,
                expected_num_non_trainable_weights=0,
                supports_masking=False,
                run_training_check=False,
            )


def _padding_mask(batch_size, length, real_lengths):
    return np.arange(length)[None, :] < np.asarray(real_lengths)[:, None]


@pytest.mark.parametrize("projection", PROJECTIONS)
@pytest.mark.parametrize("num_heads", [None, HEADS])
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "padded"])
@pytest.mark.parametrize("length", [N, 10], ids=["full_length", "shorter"])
def test_matches_reference(projection, num_heads, padded, length, rng):
    layer = SequenceProjection(N, K, projection=projection, num_heads=num_heads)
    heads = num_heads or 1
    x = rng.normal(size=(2, length, heads, DIM)).astype("float32")
    real_lengths = [length, length - 7] if padded else [length, length]
    mask = _padding_mask(2, length, real_lengths)
    inputs = x if num_heads else x[:, :, 0, :]
    layer.build(inputs.shape)
    if hasattr(layer, "kernel"):
        kernel = rng.normal(size=layer.kernel.shape).astype("float32")
        layer.kernel.assign(kernel)
    projected, slot_mask = layer(inputs, padding_mask=mask)
    projected = keras.ops.convert_to_numpy(projected)
    slot_mask = keras.ops.convert_to_numpy(slot_mask)
    for b in range(2):
        expected, expected_slots = project(
            x[b],
            mask[b].astype("float64"),
            N,
            K,
            projection,
            kernel=getattr(layer, "kernel", None),
        )
        if not num_heads:
            expected = expected[:, 0, :]
        np.testing.assert_allclose(projected[b], expected, atol=1e-5)
        if not num_heads:
            expected_slots = expected_slots[0]
        np.testing.assert_array_equal(slot_mask[b], expected_slots)


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_padded_values_do_not_reach_slots(projection, rng):
    layer = SequenceProjection(
        N, K, projection=projection, initializer="random_normal"
    )
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = _padding_mask(2, N, [9, 3])
    noisy = np.where(mask[..., None], x, 100 * rng.normal(size=x.shape))
    clean, clean_slots = map(to_numpy, layer(x, padding_mask=mask))
    dirty, dirty_slots = map(
        to_numpy, layer(noisy.astype("float32"), padding_mask=mask)
    )
    np.testing.assert_allclose(clean, dirty, atol=1e-6)
    np.testing.assert_array_equal(clean_slots, dirty_slots)


@pytest.mark.parametrize("projection", ["mean", "max", "conv"])
def test_slot_mask_marks_slots_without_real_positions(projection):
    layer = SequenceProjection(N, K, projection=projection)
    # Windows of 4: row 0 has 5 real positions (slots 0, 1), row 1 none.
    mask = _padding_mask(2, N, [5, 0])
    _, slot_mask = layer(np.ones((2, N, DIM), "float32"), padding_mask=mask)
    np.testing.assert_array_equal(
        slot_mask, [[True, True, False, False], [False] * 4]
    )
    # An input shorter than n behaves as if padded up to n.
    _, slot_mask = layer(np.ones((2, 6, DIM), "float32"))
    np.testing.assert_array_equal(slot_mask, [[True, True, False, False]] * 2)


@pytest.mark.parametrize("num_heads", [None, HEADS])
@pytest.mark.parametrize("projection", ["linear", "scaled_linear"])
def test_identity_matrix_masks_exactly_the_padded_slots(projection, num_heads):
    """k = n and E = I: slot j is fed by position j alone, so the slot
    mask is the padding mask (the same rule as for pooling windows)."""
    layer = SequenceProjection(N, N, projection=projection, num_heads=num_heads)
    layer.build()
    layer.kernel.assign(np.broadcast_to(np.eye(N), layer.kernel.shape))
    shape = (2, N, num_heads, DIM) if num_heads else (2, N, DIM)
    mask = _padding_mask(2, N, [N, 5])
    _, slot_mask = layer(np.ones(shape, "float32"), padding_mask=mask)
    slot_mask = keras.ops.convert_to_numpy(slot_mask)
    expected = mask if not num_heads else np.repeat(mask[:, None], HEADS, 1)
    np.testing.assert_array_equal(slot_mask, expected)
    # Shorter than n: E[:L] keeps the first L columns fed.
    _, slot_mask = layer(np.ones((1,) + shape[1:], "float32")[:, :6])
    assert keras.ops.convert_to_numpy(slot_mask).sum(-1).max() == 6


def test_zero_conv_weights_feed_nothing():
    """A real position whose conv kernel weight is 0 does not feed its
    slot: windows of 4 with weight only on their last position."""
    layer = SequenceProjection(N, K, projection="conv")
    layer.build()
    layer.kernel.assign(np.array([0.0, 0.0, 0.0, 1.0], "float32"))
    mask = _padding_mask(1, N, [6])  # slot 1 holds positions 4, 5 only
    _, slot_mask = layer(np.ones((1, N, DIM), "float32"), padding_mask=mask)
    np.testing.assert_array_equal(slot_mask, [[True, False, False, False]])


@pytest.mark.parametrize("projection", ["softmax", "stretched_softmax"])
def test_softmax_slots_are_averages_over_real_rows(projection, rng):
    """Each slot of a softmax kind is a convex combination of the real rows:
    on constant inputs it returns the constant, at any real length."""
    layer = SequenceProjection(N, K, projection=projection)
    layer.build()
    layer.kernel.assign(rng.normal(size=(N, K)).astype("float32"))
    mask = _padding_mask(3, N, [N, 7, 1])
    x = np.full((3, N, DIM), 2.5, "float32")
    x[~mask] = 1e4  # padding must not matter
    projected, slot_mask = map(to_numpy, layer(x, padding_mask=mask))
    np.testing.assert_allclose(projected, 2.5, rtol=1e-5)
    assert slot_mask.all()


def test_softmax_starts_as_window_means(rng):
    """At initialization slot j weighs its window [j w, (j + 1) w) with
    `SOFTMAX_WINDOW_SHARE` of its weight, spread evenly."""
    n, k = 64, 8
    layer = SequenceProjection(n, k, projection="softmax")
    x = rng.normal(size=(1, n, DIM)).astype("float32")
    projected = keras.ops.convert_to_numpy(layer(x)[0])[0]
    windows = x[0].reshape(k, n // k, DIM).mean(axis=1)
    share = sequence_projection.SOFTMAX_WINDOW_SHARE
    for j in range(k):
        others = np.delete(x[0], slice(j * 8, (j + 1) * 8), axis=0).mean(0)
        expected = share * windows[j] + (1 - share) * others
        np.testing.assert_allclose(projected[j], expected, atol=1e-5)


def test_stretched_softmax_equals_softmax_on_full_blocks(rng):
    """With every position real, rank r reads row r: the same as slicing."""
    softmax = SequenceProjection(N, K, projection="softmax", num_heads=HEADS)
    stretched = SequenceProjection(
        N, K, projection="stretched_softmax", num_heads=HEADS
    )
    softmax.build()
    stretched.build()
    logits = rng.normal(size=(HEADS, N, K)).astype("float32")
    softmax.kernel.assign(logits)
    stretched.kernel.assign(logits)
    x = rng.normal(size=(2, N, HEADS, DIM)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(stretched(x)[0]),
        keras.ops.convert_to_numpy(softmax(x)[0]),
        atol=1e-6,
    )


def test_stretched_softmax_spreads_short_documents_over_all_slots(rng):
    """Window logits with a wide gap: a document of k real positions, padded
    to n or not, keeps one slot per position (in order), where `"softmax"`
    puts it into its first k / (n / k) slots."""
    n, k = 64, 8
    hard_windows = keras.initializers.Constant(
        np.where(
            (np.arange(n)[:, None] * k) // n == np.arange(k)[None, :],
            0.0,
            -1e4,
        )
    )
    layers = {
        kind: SequenceProjection(
            n, k, projection=kind, initializer=hard_windows
        )
        for kind in ("softmax", "stretched_softmax")
    }
    x = rng.normal(size=(2, n, DIM)).astype("float32")
    mask = _padding_mask(2, n, [k, k])
    mask[1] = False
    mask[1, 3 : 3 + 2 * k : 2] = True  # k real positions with holes
    stretched = keras.ops.convert_to_numpy(
        layers["stretched_softmax"](x, padding_mask=mask)[0]
    )
    np.testing.assert_allclose(stretched[0], x[0, :k], atol=1e-5)
    np.testing.assert_allclose(stretched[1], x[1][mask[1]], atol=1e-5)
    unpadded = to_numpy(layers["stretched_softmax"](x[:1, :k])[0])
    np.testing.assert_allclose(unpadded[0], x[0, :k], atol=1e-5)
    # "softmax": slot 0 averages the whole document (its window of
    # n / k = 8 rows holds all 8 real positions).
    sliced = keras.ops.convert_to_numpy(
        layers["softmax"](x, padding_mask=mask)[0]
    )
    np.testing.assert_allclose(sliced[0, 0], x[0, :k].mean(0), atol=1e-5)


def test_sliding_max_equals_max_on_full_blocks(rng):
    """With every position real, the starts are j n / k: `"max"`'s
    windows."""
    x = rng.normal(size=(2, N, HEADS, DIM)).astype("float32")
    fixed = SequenceProjection(N, K, projection="max", num_heads=HEADS)
    sliding = SequenceProjection(
        N, K, projection="sliding_max", num_heads=HEADS
    )
    np.testing.assert_array_equal(
        to_numpy(sliding(x)[0]), to_numpy(fixed(x)[0])
    )


def test_sliding_max_fills_every_slot_of_a_short_document(rng):
    """A short document (padded with holes, or just short) spreads over all
    k slots with windows of n / k real positions, where `"max"` leaves the
    slots past its end to padding."""
    n, k = 64, 8  # windows of 8
    sliding = SequenceProjection(n, k, projection="sliding_max")
    fixed = SequenceProjection(n, k, projection="max")
    x = rng.normal(size=(2, n, DIM)).astype("float32")
    mask = np.zeros((2, n), bool)
    mask[0, :22] = True
    mask[1, 5 : 5 + 44 : 2] = True  # 22 real positions with holes
    projected, slot_mask = sliding(x, padding_mask=mask)
    projected = to_numpy(projected)
    assert to_numpy(slot_mask).all()
    # 22 real positions: starts floor(j 14 / 7) = 2 j.
    for row in range(2):
        real = x[row][mask[row]]
        for j in range(k):
            np.testing.assert_array_equal(
                projected[row, j], real[2 * j : 2 * j + 8].max(axis=0)
            )
    np.testing.assert_array_equal(
        to_numpy(sliding(x[:1, :22])[0])[0], projected[0]
    )
    fixed_mask = to_numpy(fixed(x, padding_mask=mask)[1])
    np.testing.assert_array_equal(fixed_mask[0], [True] * 3 + [False] * 5)
    # A document no longer than a window: every slot holds its maximum.
    mask = np.zeros((2, n), bool)
    mask[0, 10:15] = True
    projected, slot_mask = sliding(x, padding_mask=mask)
    expected = np.broadcast_to(x[0, 10:15].max(axis=0), (k, DIM))
    np.testing.assert_array_equal(to_numpy(projected)[0], expected)
    np.testing.assert_array_equal(to_numpy(projected)[1], 0.0)
    np.testing.assert_array_equal(
        to_numpy(slot_mask).astype(bool), [[True] * k, [False] * k]
    )


def test_scaled_linear_output_scale_does_not_depend_on_length(rng):
    """`"scaled_linear"` is `"linear"` times sqrt(n / L_real)."""
    n = 256
    linear = SequenceProjection(n, 32, projection="linear")
    scaled = SequenceProjection(n, 32, projection="scaled_linear")
    x = rng.normal(size=(2, n, 16)).astype("float32")
    linear.build()
    scaled.build()
    scaled.kernel.assign(linear.kernel)
    mask = _padding_mask(2, n, [n, n // 4])
    plain = keras.ops.convert_to_numpy(linear(x, padding_mask=mask)[0])
    rescaled = keras.ops.convert_to_numpy(scaled(x, padding_mask=mask)[0])
    np.testing.assert_allclose(rescaled[0], plain[0], rtol=1e-5)
    np.testing.assert_allclose(rescaled[1], 2 * plain[1], rtol=1e-5)
    rms = np.sqrt((rescaled**2).mean(axis=(1, 2)))
    assert 0.8 < rms[1] / rms[0] < 1.25, rms


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_fully_padded_row_is_finite(projection):
    layer = SequenceProjection(N, K, projection=projection)
    mask = np.zeros((2, N), bool)
    mask[0, :4] = True
    projected, slot_mask = layer(
        -np.ones((2, N, DIM), "float32"), padding_mask=mask
    )
    projected = keras.ops.convert_to_numpy(projected)
    assert np.isfinite(projected).all()
    np.testing.assert_array_equal(projected[1], 0.0)
    assert not keras.ops.convert_to_numpy(slot_mask)[1].any()


@pytest.mark.parametrize("projection", PROJECTIONS)
@pytest.mark.parametrize("num_heads", [None, HEADS])
def test_empty_sequence_gives_empty_slots(projection, num_heads):
    """L = 0 (an empty request to a server): zeros, every slot masked."""
    layer = SequenceProjection(N, K, projection=projection, num_heads=num_heads)
    features = (DIM,) if num_heads is None else (HEADS, DIM)
    projected, slot_mask = layer(np.zeros((2, 0) + features, "float32"))
    projected = keras.ops.convert_to_numpy(projected)
    assert projected.shape == (2, K) + features
    np.testing.assert_array_equal(projected, 0.0)
    assert not keras.ops.convert_to_numpy(slot_mask).any()


@pytest.mark.parametrize("projection", ["linear", "scaled_linear", "conv"])
def test_projected_norm_does_not_grow_with_n(projection, rng):
    """The default initializer keeps ||E^T x|| of the order of ||x||."""

    def mean_row_norm(n):
        keras.utils.set_random_seed(0)
        layer = SequenceProjection(n, 64, projection=projection)
        x = rng.normal(size=(2, n, 16)).astype("float32")
        projected = to_numpy(layer(x)[0])
        return np.linalg.norm(projected, axis=-1).mean()

    short, long = mean_row_norm(512), mean_row_norm(8192)
    assert 0.5 < long / short < 2.0, (short, long)


@pytest.mark.parametrize(
    "projection",
    ["softmax", "stretched_softmax", "mean", "max", "sliding_max"],
)
def test_pooled_norm_does_not_grow_with_n(projection, rng):
    def mean_row_norm(n):
        layer = SequenceProjection(n, 64, projection=projection)
        x = rng.normal(size=(2, n, 16)).astype("float32")
        return np.linalg.norm(to_numpy(layer(x)[0]), axis=-1).mean()

    assert mean_row_norm(8192) < 2.0 * mean_row_norm(512)


def test_linear_kernel_shapes():
    layer = SequenceProjection(N, K)
    layer.build()
    assert tuple(layer.kernel.shape) == (N, K)
    layer = SequenceProjection(N, K, num_heads=HEADS)
    layer.build()
    assert tuple(layer.kernel.shape) == (HEADS, N, K)
    layer = SequenceProjection(N, K, projection="conv", num_heads=HEADS)
    layer.build()
    assert tuple(layer.kernel.shape) == (HEADS, N // K)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"sequence_length": 8, "projected_dim": 16},
            r"projected_dim=16, sequence_length=8",
        ),
        (
            {"sequence_length": 10, "projected_dim": 4, "projection": "mean"},
            r"sequence_length=10, projected_dim=4",
        ),
        (
            {"sequence_length": 10, "projected_dim": 4, "projection": "max"},
            r"sequence_length=10, projected_dim=4",
        ),
        (
            {"sequence_length": 10, "projected_dim": 4, "projection": "conv"},
            r"sequence_length=10, projected_dim=4",
        ),
        (
            {"sequence_length": 8, "projected_dim": 4, "projection": "fft"},
            r"Unknown `projection`: 'fft'",
        ),
        (
            {"sequence_length": 0, "projected_dim": 4},
            r"sequence_length=0",
        ),
        (
            {"sequence_length": 8, "projected_dim": 2.5},
            r"projected_dim=2.5",
        ),
        (
            {"sequence_length": 8, "projected_dim": 4, "num_heads": 0},
            r"num_heads=0",
        ),
    ],
)
def test_refusals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceProjection(**kwargs)


@pytest.mark.parametrize("projection", sequence_projection.MATRIX_PROJECTIONS)
def test_matrix_kinds_allow_n_not_divisible_by_k(projection):
    validate_projection_args(10, 4, projection)
    layer = SequenceProjection(10, 4, projection=projection)
    projected, _ = layer(np.ones((1, 10, 2), "float32"))
    assert tuple(projected.shape) == (1, 4, 2)
    assert np.isfinite(keras.ops.convert_to_numpy(projected)).all()


def test_refuses_input_longer_than_n():
    layer = SequenceProjection(N, K)
    with pytest.raises(ValueError, match=r"length 20 .*n=16"):
        layer(np.ones((1, 20, DIM), "float32"))
    with pytest.raises(ValueError, match=r"length 20 .*n=16"):
        SequenceProjection(N, K)(keras.Input((20, DIM)))


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_refuses_longer_input_of_dynamic_length(projection):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow traces graphs of unknown length")
    import tensorflow as tf

    layer = SequenceProjection(N, K, projection=projection)

    @tf.function(input_signature=[tf.TensorSpec((1, None, DIM), tf.float32)])
    def project_any_length(inputs):
        return layer(inputs)[0]

    fits = project_any_length(tf.ones((1, N, DIM)))
    assert tuple(fits.shape) == (1, K, DIM)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"n=16"):
        project_any_length(tf.ones((1, N + 4, DIM)))


def test_refuses_wrong_head_count():
    layer = SequenceProjection(N, K, num_heads=HEADS)
    with pytest.raises(ValueError, match=r"num_heads=2"):
        layer(np.ones((1, N, 3, DIM), "float32"))

import keras
import numpy as np
import pytest
from keras.src import testing
from numpy_reference import project
from numpy_reference import to_numpy

from keras_linformer.layers import SequenceProjection
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import PROJECTION_KINDS
from keras_linformer.projections import PROJECTIONS

N, K, DIM, HEADS = 16, 4, 3, 2
WEIGHTLESS = [p for p in PROJECTIONS if PROJECTION_KINDS[p].weightless]


def padding_mask(length, real_lengths):
    return np.arange(length)[None, :] < np.asarray(real_lengths)[:, None]


class SequenceProjectionLayerTest(testing.TestCase):
    """Keras's own layer checks: build, shapes, serialization, training."""

    def test_layer_linear(self):
        self.run_layer_test(
            SequenceProjection,
            init_kwargs={
                "sequence_length": N,
                "projected_dim": K,
                "projection": "linear",
            },
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
            # Trained in LinformerAttention's layer test (sharing "none").
            run_training_check=False,
        )

    def test_layer_pooling_has_no_weights(self):
        for projection in WEIGHTLESS:
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


def test_default_is_the_declared_default():
    assert SequenceProjection(N, K).projection == DEFAULT_PROJECTION


@pytest.mark.parametrize("projection", PROJECTIONS)
@pytest.mark.parametrize("length", [5, 14])
def test_matches_reference(projection, length, rng):
    """One matrix and one per head; padded rows (NaN there) and L < n
    (`"sliding_max"` reads a table at L = 5 and gathers windows at 14)."""
    mask = padding_mask(length, [length, 3])
    for num_heads in (None, HEADS):
        layer = SequenceProjection(
            N, K, projection=projection, num_heads=num_heads
        )
        x = rng.normal(size=(2, length, num_heads or 1, DIM)).astype("float32")
        x[~mask] = np.nan
        inputs = x if num_heads else x[:, :, 0, :]
        layer.build(inputs.shape)
        if hasattr(layer, "kernel"):
            layer.kernel.assign(rng.normal(size=layer.kernel.shape))
        projected, slot_mask = map(to_numpy, layer(inputs, padding_mask=mask))
        for b in range(2):
            expected, expected_slots = project(
                x[b], mask[b], N, K, projection, getattr(layer, "kernel", None)
            )
            if not num_heads:
                expected, expected_slots = expected[:, 0], expected_slots[0]
            np.testing.assert_allclose(projected[b], expected, atol=1e-5)
            np.testing.assert_array_equal(slot_mask[b], expected_slots)


@pytest.mark.parametrize("projection", ["mean", "max", "conv"])
def test_slot_mask_marks_slots_without_real_positions(projection):
    layer = SequenceProjection(N, K, projection=projection)
    # Windows of 4: row 0 has 5 real positions (slots 0, 1), row 1 none.
    mask = padding_mask(N, [5, 0])
    _, slot_mask = layer(np.ones((2, N, DIM), "float32"), padding_mask=mask)
    np.testing.assert_array_equal(
        slot_mask, [[True, True, False, False], [False] * 4]
    )
    # An input shorter than n behaves as if padded up to n.
    _, slot_mask = layer(np.ones((2, 6, DIM), "float32"))
    np.testing.assert_array_equal(slot_mask, [[True, True, False, False]] * 2)


@pytest.mark.parametrize("num_heads", [None, HEADS])
def test_identity_matrix_masks_exactly_the_padded_slots(num_heads):
    """k = n and E = I: slot j is fed by position j alone, so the slot
    mask is the padding mask (the same rule as for pooling windows)."""
    layer = SequenceProjection(N, N, projection="linear", num_heads=num_heads)
    layer.build()
    layer.kernel.assign(np.broadcast_to(np.eye(N), layer.kernel.shape))
    shape = (2, N, num_heads, DIM) if num_heads else (2, N, DIM)
    mask = padding_mask(N, [N, 5])
    _, slot_mask = layer(np.ones(shape, "float32"), padding_mask=mask)
    expected = mask if not num_heads else np.repeat(mask[:, None], HEADS, 1)
    np.testing.assert_array_equal(to_numpy(slot_mask), expected)
    # Shorter than n: E[:L] keeps the first L columns fed.
    _, slot_mask = layer(np.ones((1,) + shape[1:], "float32")[:, :6])
    assert to_numpy(slot_mask).sum(-1).max() == 6


def test_zero_conv_weights_feed_nothing():
    """A real position whose conv kernel weight is 0 does not feed its
    slot: windows of 4 with weight only on their last position."""
    layer = SequenceProjection(N, K, projection="conv")
    layer.build()
    layer.kernel.assign(np.array([0.0, 0.0, 0.0, 1.0], "float32"))
    mask = padding_mask(N, [6])  # slot 1 holds positions 4, 5 only
    _, slot_mask = layer(np.ones((1, N, DIM), "float32"), padding_mask=mask)
    np.testing.assert_array_equal(slot_mask, [[True, False, False, False]])


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


@pytest.mark.parametrize("num_heads", [None, HEADS])
def test_sliding_max_table_and_gather_agree(num_heads, rng):
    """The two ways of `"sliding_max"` give the same projection and the same
    gradient, at every batch length (shorter than a window, holes in the
    mask, an all-padding row) and window size (a power of 2 or not)."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the gradient is taken with tf.GradientTape")
    for n, k in [(64, 4), (48, 4), (16, 16)]:
        layer = SequenceProjection(
            n, k, projection="sliding_max", num_heads=num_heads
        )
        for length in [1, 3, 12, 17, 40, n]:
            if length > n:
                continue
            feature_shape = (num_heads, DIM) if num_heads else (DIM,)
            x = tf.constant(
                rng.normal(size=(3, length) + feature_shape).astype("float32")
            )
            mask = padding_mask(length, [length, length // 2 + 1, 0])
            mask[0, ::3] = False
            real = tf.constant(mask)
            results = []
            for way in (
                layer._sliding_windows_by_table,
                layer._sliding_windows_by_gather,
            ):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    projected, slot_mask = way(x, real, length)
                    loss = tf.reduce_sum(tf.sin(projected))
                results.append((projected, slot_mask, tape.gradient(loss, x)))
            for by_table, by_gather in zip(*results):
                np.testing.assert_array_equal(
                    to_numpy(by_table), to_numpy(by_gather)
                )
            # Each slot sends its gradient to one real position.
            gradient = to_numpy(results[0][2])
            assert np.count_nonzero(gradient[~mask]) == 0
            assert np.count_nonzero(gradient[mask]) > 0


def test_edge_shapes_for_every_kind():
    """An all-padding row gives zeros and no fed slot; L = 0 (an empty
    request to a server) gives zeros; a batch of 0 gives an empty result
    of the right shape (the max kinds once failed: "Cannot compute the max
    of an empty tensor")."""
    for projection in PROJECTIONS:
        for num_heads in (None, HEADS):
            layer = SequenceProjection(
                N, K, projection=projection, num_heads=num_heads
            )
            features = (DIM,) if num_heads is None else (HEADS, DIM)
            x = -np.ones((2, N) + features, "float32")
            mask = padding_mask(N, [4, 0])
            projected, slot_mask = map(to_numpy, layer(x, padding_mask=mask))
            assert np.isfinite(projected).all(), projection
            np.testing.assert_array_equal(projected[1], 0.0)
            assert not slot_mask[1].any(), projection

            projected, slot_mask = layer(np.zeros((2, 0) + features, "float32"))
            assert tuple(projected.shape) == (2, K) + features
            np.testing.assert_array_equal(to_numpy(projected), 0.0)
            assert not to_numpy(slot_mask).any(), projection

            projected, slot_mask = layer(
                np.zeros((0, 10) + features, "float32")
            )
            assert tuple(projected.shape) == (0, K) + features, projection
            assert tuple(slot_mask.shape)[0] == 0


def test_projected_norm_does_not_grow_with_n(rng):
    """The default initializers keep ||E^T x|| of the order of ||x||;
    pooling does not grow with n (mean pooling shrinks: it averages more)."""

    def mean_row_norm(projection, n):
        keras.utils.set_random_seed(0)
        layer = SequenceProjection(n, 64, projection=projection)
        x = rng.normal(size=(2, n, 16)).astype("float32")
        return np.linalg.norm(to_numpy(layer(x)[0]), axis=-1).mean()

    for projection in PROJECTIONS:
        short, long = (
            mean_row_norm(projection, 512),
            mean_row_norm(projection, 8192),
        )
        assert long < 2.0 * short, (projection, short, long)
        if not PROJECTION_KINDS[projection].weightless:
            assert 0.5 * short < long, (projection, short, long)


def test_kernel_shapes():
    layer = SequenceProjection(N, K, projection="linear")
    layer.build()
    assert tuple(layer.kernel.shape) == (N, K)
    layer = SequenceProjection(N, K, projection="linear", num_heads=HEADS)
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
            r"sequence_length=10, projected_dim=4.*projection=\"linear\"",
        ),
        (
            {"sequence_length": 10, "projected_dim": 4},
            r"'sliding_max'.*sequence_length=10, projected_dim=4",
        ),
        (
            {"sequence_length": 8, "projected_dim": 4, "projection": "fft"},
            r"Unknown `projection`: 'fft'",
        ),
        (
            {
                "sequence_length": 8,
                "projected_dim": 4,
                "projection": "softmax",
            },
            r"Unknown `projection`: 'softmax'",
        ),
        ({"sequence_length": 0, "projected_dim": 4}, r"sequence_length=0"),
        ({"sequence_length": 8, "projected_dim": 2.5}, r"projected_dim=2.5"),
        (
            {"sequence_length": 8, "projected_dim": 4, "num_heads": 0},
            r"num_heads=0",
        ),
    ],
)
def test_refusals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceProjection(**kwargs)


def test_linear_allows_n_not_divisible_by_k():
    layer = SequenceProjection(10, 4, projection="linear")
    projected, _ = layer(np.ones((1, 10, 2), "float32"))
    assert tuple(projected.shape) == (1, 4, 2)
    assert np.isfinite(to_numpy(projected)).all()


def test_call_refusals():
    layer = SequenceProjection(N, K, num_heads=HEADS)
    with pytest.raises(ValueError, match=r"length 20 .*sequence_length=16"):
        layer(np.ones((1, 20, HEADS, DIM), "float32"))
    with pytest.raises(ValueError, match=r"length 20 .*sequence_length=16"):
        layer(keras.Input((20, HEADS, DIM)))
    with pytest.raises(ValueError, match=r"num_heads=2"):
        layer(np.ones((1, N, 3, DIM), "float32"))
    with pytest.raises(ValueError, match=r"\(1, 12\).*\(1, 16, 2, 3\)"):
        layer(
            np.ones((1, N, HEADS, DIM), "float32"),
            padding_mask=np.ones((1, 12), bool),
        )


@pytest.mark.parametrize("num_heads", [None, HEADS])
def test_compiled_predict_matches_eager(num_heads, rng):
    """`Model.predict` compiles the call as the backend does (a
    `tf.function`, `jax.jit`), where a shape is a traced value that eager
    code never sees; a short batch and a long one (for `"sliding_max"`,
    its table and its gather) give the eager numbers."""
    feature_shape = (num_heads, DIM) if num_heads else (DIM,)
    x = rng.normal(size=(2, 14) + feature_shape).astype("float32")
    mask = padding_mask(14, [14, 4])
    for projection in PROJECTIONS:
        layer = SequenceProjection(
            N, K, projection=projection, num_heads=num_heads
        )
        inputs = keras.Input((None,) + feature_shape)
        real = keras.Input((None,), dtype="bool")
        model = keras.Model([inputs, real], layer(inputs, padding_mask=real))
        for length in (5, 14):
            batch = [x[:, :length], mask[:, :length]]
            compiled = model.predict(batch, batch_size=2, verbose=0)
            eager = layer(batch[0], padding_mask=batch[1])
            for actual, expected in zip(compiled, eager):
                np.testing.assert_allclose(
                    actual, to_numpy(expected), atol=1e-6, err_msg=projection
                )


def test_dynamic_length(rng):
    """A graph of unknown L (slicing E, padding to n, the sliding windows'
    choice of way) gives the eager numbers, and refuses L > n."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("only TensorFlow traces graphs of unknown length")
    import tensorflow as tf

    x = rng.normal(size=(2, 14, DIM)).astype("float32")
    mask = padding_mask(14, [14, 4])
    for projection in PROJECTIONS:
        layer = SequenceProjection(N, K, projection=projection)

        @tf.function(
            input_signature=[
                tf.TensorSpec((None, None, DIM), tf.float32),
                tf.TensorSpec((None, None), tf.bool),
            ]
        )
        def project_any_length(inputs, mask, layer=layer):
            return layer(inputs, padding_mask=mask)

        # `"sliding_max"` chooses its way in the graph: a table at L = 5,
        # a gather at L = 14.
        for length in (5, 14):
            inputs, real = x[:, :length], mask[:, :length]
            for actual, expected in zip(
                project_any_length(inputs, real),
                layer(inputs, padding_mask=real),
            ):
                np.testing.assert_allclose(
                    to_numpy(actual), to_numpy(expected), atol=1e-6
                )
        empty = project_any_length(
            tf.zeros((1, 0, DIM)), tf.zeros((1, 0), bool)
        )
        np.testing.assert_array_equal(to_numpy(empty[0]), 0.0)
        with pytest.raises(
            tf.errors.InvalidArgumentError, match=r"sequence_length=16"
        ):
            project_any_length(
                tf.ones((1, N + 4, DIM)), tf.ones((1, N + 4), bool)
            )

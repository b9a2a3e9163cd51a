import keras
import numpy as np
import pytest
from keras import ops
from keras.src import testing
from numpy_reference import attention_weights
from numpy_reference import linformer_attention
from numpy_reference import to_numpy

from keras_linformer.layers import LinformerAttention
from keras_linformer.layers import SequenceProjection
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import PROJECTION_KINDS
from keras_linformer.projections import PROJECTIONS
from keras_linformer.projections import SHARING_MODES

# Keras warns that the dense sublayers drop the implicit mask of an embedded
# input; the attention reads that mask itself (see the keras_mask tests).
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not support masking:UserWarning"
)

N, K, DIM, HEADS, KEY_DIM = 16, 4, 8, 2, 4
WEIGHTLESS = [p for p in PROJECTIONS if PROJECTION_KINDS[p].weightless]


def make_layer(sharing="headwise", projection="linear", n=N, k=K, **kwargs):
    shared = None
    if sharing == "layerwise":
        shared = SequenceProjection(
            n,
            k,
            projection=projection,
            initializer=kwargs.get("projection_initializer"),
        )
    return LinformerAttention(
        num_heads=HEADS,
        key_dim=KEY_DIM,
        sequence_length=n,
        projected_dim=k,
        projection=projection,
        sharing=sharing,
        shared_projection=shared,
        **kwargs,
    )


def randomize_weights(layer, rng, scale=0.5):
    """Nonzero biases and arbitrary E/F, so that no term hides behind an
    initializer."""
    for variable in layer.weights:
        values = scale * rng.normal(size=variable.shape)
        variable.assign(values.astype(variable.dtype))


def padding_mask(length, real_lengths):
    return np.arange(length)[None, :] < np.asarray(real_lengths)[:, None]


def reference(layer, *args, **kwargs):
    return linformer_attention(
        attention_weights(layer),
        *args,
        sequence_length=layer.sequence_length,
        projected_dim=layer.projected_dim,
        projection=layer.projection,
        **kwargs,
    )


def projection_variables(layer):
    projections = {
        id(p): p for p in (layer.key_projection, layer.value_projection)
    }
    return [v for p in projections.values() for v in p.trainable_weights]


class LinformerAttentionLayerTest(testing.TestCase):
    """Keras's own layer checks: build, shapes, serialization, training."""

    def _run(self, sharing, projection, expected_weights, training=True):
        self.run_layer_test(
            LinformerAttention,
            init_kwargs={
                "num_heads": HEADS,
                "key_dim": KEY_DIM,
                "sequence_length": N,
                "projected_dim": K,
                "projection": projection,
                "sharing": sharing,
                "dropout": 0.1,
                "seed": 7,
            },
            input_shape=(2, 12, DIM),
            expected_output_shape=(2, 12, DIM),
            expected_num_trainable_weights=expected_weights,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1,
            supports_masking=True,
            run_training_check=training,
        )

    def test_layer_none_conv(self):
        self._run("none", "conv", 8 + 2)

    def test_layer_key_value_sliding_max(self):
        # Trained (compiled by XLA) in the LinformerEncoder layer test.
        self._run("key_value", "sliding_max", 8, training=False)


def _check_against_reference(
    layer, rng, query, value=None, key=None, mask=None
):
    layer.build(
        query.shape,
        None if value is None else value.shape,
        None if key is None else key.shape,
    )
    randomize_weights(layer, rng)
    outputs, scores = layer(
        query, value, key, padding_mask=mask, return_attention_scores=True
    )
    expected, expected_scores = reference(
        layer, query, value, key, padding_mask=mask
    )
    assert tuple(scores.shape) == (len(query), HEADS, query.shape[1], K)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(scores), expected_scores, atol=1e-5)


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_matches_reference_for_each_kind(projection, rng):
    """Self-attention on a padded batch shorter than n, an all-padding row
    included."""
    x = rng.normal(size=(3, 10, DIM)).astype("float32")
    mask = padding_mask(10, [10, 3, 0])
    layer = make_layer("headwise", projection)
    _check_against_reference(layer, rng, x, mask=mask)


@pytest.mark.parametrize("sharing", SHARING_MODES)
def test_matches_reference_for_each_sharing(sharing, rng):
    """Full blocks, and cross-attention with T != L and key != value (the
    F-is-not-E-input path), padded."""
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    _check_against_reference(make_layer(sharing, "linear"), rng, x)
    query = rng.normal(size=(2, 5, DIM)).astype("float32")
    value = rng.normal(size=(2, 13, DIM)).astype("float32")
    key = rng.normal(size=(2, 13, DIM)).astype("float32")
    mask = padding_mask(13, [13, 6])
    layer = make_layer(sharing, "conv")
    _check_against_reference(layer, rng, query, value, key, mask)


@pytest.mark.parametrize(
    "sharing, projection", [("none", "linear"), ("headwise", "conv")]
)
def test_without_bias_matches_reference(sharing, projection, rng):
    layer = make_layer(sharing, projection, use_bias=False)
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    _check_against_reference(layer, rng, x, mask=padding_mask(N, [N, 5]))
    assert layer.query_dense.bias is None


def _identity_projection(layer):
    """Makes E = F = I (k = n): an identity matrix for `"linear"`, a window
    of one with weight 1 for conv; pooling over windows of one is already
    the identity."""
    for p in (layer.key_projection, layer.value_projection):
        if p.projection == "linear":
            p.kernel.assign(np.broadcast_to(np.eye(N), p.kernel.shape))
        elif p.projection == "conv":
            p.kernel.assign(np.ones(p.kernel.shape, "float32"))


def _mha_like(layer, x):
    mha = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=KEY_DIM)
    mha(x, x)
    pairs = [
        (mha.query_dense, layer.query_dense),
        (mha.key_dense, layer.key_dense),
        (mha.value_dense, layer.value_dense),
        (mha.output_dense, layer.output_dense),
    ]
    for target, source in pairs:
        target.kernel.assign(source.kernel)
        target.bias.assign(source.bias)
    return mha


@pytest.mark.parametrize(
    "sharing, projection",
    # "max" pools as "mean" and projects after the dense layers as
    # "sliding_max" does: those two cases cover it.
    [("headwise", p) for p in PROJECTIONS if p != "max"]
    + [(s, "linear") for s in SHARING_MODES if s != "headwise"],
)
def test_identity_projection_equals_multi_head_attention(
    sharing, projection, rng
):
    """E = F = I at k = n is standard attention: on full blocks for every
    kind; on padded batches and inputs shorter than n for every kind whose
    slots can be unfed (DESIGN.md's slot-mask rule masks exactly the padded
    positions). "sliding_max" spreads a short document over all k slots
    (repeating positions), so it differs from MHA there by design."""
    layer = make_layer(sharing, projection, k=N)
    x = rng.normal(size=(3, N, DIM)).astype("float32")
    layer.build(x.shape)
    for dense in (
        layer.query_dense,
        layer.key_dense,
        layer.value_dense,
        layer.output_dense,
    ):
        randomize_weights(dense, rng)
    _identity_projection(layer)
    mha = _mha_like(layer, x)
    np.testing.assert_allclose(
        to_numpy(layer(x)), to_numpy(mha(x, x)), atol=1e-5
    )
    if projection == "sliding_max":
        return
    mask = padding_mask(N, [N, 9, 3])
    expected = to_numpy(mha(x, x, attention_mask=mask[:, None, :]))
    actual = to_numpy(layer(x, padding_mask=mask))
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    short = x[:, :7]
    np.testing.assert_allclose(
        to_numpy(layer(short)), to_numpy(mha(short, short)), atol=1e-5
    )


@pytest.mark.parametrize(
    "sharing, matrices",
    [("none", 2 * HEADS), ("headwise", 2), ("key_value", 1), ("layerwise", 1)],
)
def test_variable_counts(sharing, matrices):
    for projection in ("linear", "conv", "sliding_max"):
        layer = make_layer(sharing, projection)
        layer(np.zeros((1, N, DIM), "float32"))
        weights = layer.trainable_weights
        assert len(weights) == len({id(v) for v in weights})
        variables = projection_variables(layer)
        dense_variables = 8  # Q, K, V, O kernels and biases
        assert len(weights) == dense_variables + len(variables)
        if sharing in ("key_value", "layerwise"):
            assert layer.key_projection is layer.value_projection
        if projection in WEIGHTLESS:
            assert variables == []
            continue
        for variable in variables:
            assert any(variable is w for w in weights)
        per_matrix = N // K if projection == "conv" else N * K
        total = sum(int(np.prod(v.shape)) for v in variables)
        assert total == matrices * per_matrix, projection
        # "none": one (heads, n, k) kernel (or (heads, w) conv kernel) each
        # for keys and values.
        assert len(variables) == (2 if sharing == "none" else matrices)
        if projection == "linear":
            assert tuple(layer.key_projection.kernel.shape)[-2:] == (N, K)


def test_layerwise_shares_one_projection_between_layers():
    shared = SequenceProjection(N, K, projection="linear")
    layers = [
        LinformerAttention(
            HEADS,
            KEY_DIM,
            N,
            K,
            projection="linear",
            sharing="layerwise",
            shared_projection=shared,
        )
        for _ in range(3)
    ]
    inputs = keras.Input((N, DIM))
    x = inputs
    for layer in layers:
        x = layer(x)
    model = keras.Model(inputs, x)
    kernels = [v for v in model.weights if tuple(v.shape) == (N, K)]
    assert len(kernels) == 1 and kernels[0] is shared.kernel
    assert len(model.weights) == len({id(v) for v in model.weights})
    assert len(model.trainable_weights) == 3 * 8 + 1


def test_any_nonzero_mask_value_means_real(rng):
    """A padding mask of 2, 0.5 or -1 gives the output of a mask of 1."""
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 6])
    for projection in ("linear", "sliding_max"):
        layer = make_layer("headwise", projection)
        expected = to_numpy(layer(x, padding_mask=mask.astype("int32")))
        for value in (2.0, 0.5, -1.0):
            scaled = np.where(mask, value, 0.0).astype("float32")
            np.testing.assert_allclose(
                to_numpy(layer(x, padding_mask=scaled)), expected, atol=1e-6
            )


@pytest.mark.parametrize(
    "sharing, projection",
    [("headwise", p) for p in PROJECTIONS]
    + [(s, "linear") for s in SHARING_MODES if s != "headwise"],
)
def test_padded_batch_equals_each_row_alone(sharing, projection, rng):
    """A padded batch of varied lengths gives each row's outputs run alone,
    and NaN, inf and 3e38 at the padded positions change nothing: the real
    outputs stay finite and equal to those with zeros there (padded rows
    are removed with a select, not a product)."""
    layer = make_layer(sharing, projection)
    lengths = [N, 12, 7]
    x = rng.normal(size=(3, N, DIM)).astype("float32")
    mask = padding_mask(N, lengths)
    layer.build(x.shape)
    randomize_weights(layer, rng)
    zeros = np.where(mask[..., None], x, 0.0).astype("float32")
    bad = np.array([np.nan, np.inf, -np.inf, 3e38], "float32")
    junk = bad[np.arange(x.size).reshape(x.shape) % len(bad)]
    dirty = np.where(mask[..., None], x, junk).astype("float32")
    expected = to_numpy(layer(zeros, padding_mask=mask))
    outputs = to_numpy(layer(dirty, padding_mask=mask))
    assert np.isfinite(outputs[mask]).all()
    np.testing.assert_allclose(outputs[mask], expected[mask], atol=1e-5)
    for i, length in enumerate(lengths):
        alone = to_numpy(layer(x[i : i + 1, :length]))
        np.testing.assert_allclose(outputs[i, :length], alone[0], atol=1e-5)


def test_keras_mask_is_the_padding_mask(rng):
    """An implicit Keras mask (e.g. from `Embedding(mask_zero=True)`) is
    used as the padding mask, also in self-attention with one argument."""
    ids = np.array(
        [[3, 1, 4, 1, 5, 9, 2, 6, 0, 0], [2, 7, 1, 8, 0, 0, 0, 0, 0, 0]]
    )
    embedding = keras.layers.Embedding(10, DIM, mask_zero=True)
    layer = make_layer("headwise", "sliding_max")
    embedded = embedding(ids)
    expected = to_numpy(layer(embedded, padding_mask=ids != 0))
    real = ids != 0
    token_ids = keras.Input((ids.shape[1],), dtype="int32")
    model = keras.Model(token_ids, layer(embedding(token_ids)))
    for outputs in (layer(embedded), layer(embedded, embedded), model(ids)):
        np.testing.assert_allclose(
            to_numpy(outputs)[real], expected[real], atol=1e-6
        )


def test_keras_mask_is_passed_on_without_warnings():
    """Like MultiHeadAttention, the output carries the query's Keras mask,
    and a masked input raises no "does not support masking" warning."""
    import warnings

    token_ids = keras.Input((N,), dtype="int32")
    embedded = keras.layers.Embedding(10, DIM, mask_zero=True)(token_ids)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = make_layer("headwise", "linear")(embedded)
    assert not [w for w in caught if "support masking" in str(w.message)]
    pooled = keras.layers.GlobalAveragePooling1D()(outputs)
    model = keras.Model(token_ids, pooled)
    ids = np.array([[3, 1, 4, 0, 0, 0, 0, 0] + [0] * (N - 8)])
    unmasked = keras.layers.GlobalAveragePooling1D()(
        to_numpy(keras.Model(token_ids, outputs)(ids))  # drops the mask
    )
    # Averaging over the 3 real positions only differs from averaging all N.
    assert not np.allclose(to_numpy(model(ids)), to_numpy(unmasked))


@pytest.mark.parametrize(
    "sharing, projection",
    [
        ("none", "conv"),
        ("headwise", "linear"),
        ("key_value", "max"),
        ("layerwise", "sliding_max"),
        ("headwise", "mean"),
    ],
)
def test_fused_attention_equals_explicit_path(
    sharing, projection, rng, monkeypatch
):
    """The `keras.ops.dot_product_attention` path (taken under JAX and
    PyTorch; forced here, so that it also runs under TensorFlow) gives the
    explicit path's numbers on a padded batch shorter than n, an
    all-padding row included."""
    layer = make_layer(sharing, projection)
    x = rng.normal(size=(3, 10, DIM)).astype("float32")
    mask = padding_mask(10, [10, 4, 0])
    layer(x, padding_mask=mask)  # builds
    randomize_weights(layer, rng)
    explicit, _ = layer(x, padding_mask=mask, return_attention_scores=True)
    monkeypatch.setattr(layer, "_use_fused_attention", lambda *args: True)
    fused = to_numpy(layer(x, padding_mask=mask))
    assert np.isfinite(fused).all()
    np.testing.assert_allclose(fused, to_numpy(explicit), atol=1e-5)


def test_flash_attention_argument(monkeypatch):
    """As in MultiHeadAttention: `None` follows
    `keras.config.is_flash_attention_enabled()`, `False` never takes the
    fused path, `True` always does and refuses dropout and returned
    scores."""
    fuses = keras.backend.backend() in ("jax", "torch")
    layer = make_layer()
    assert layer._use_fused_attention(False, False) == fuses
    assert not layer._use_fused_attention(False, True)  # scores
    dropout = make_layer(dropout=0.5)
    assert not dropout._use_fused_attention(True, False)
    assert dropout._use_fused_attention(False, False) == fuses
    assert not make_layer(dtype="mixed_float16")._use_fused_attention(
        False, False
    )
    assert not make_layer(flash_attention=False)._use_fused_attention(
        False, False
    )
    assert make_layer(flash_attention=True)._use_fused_attention(False, False)
    monkeypatch.setattr(
        keras.config, "is_flash_attention_enabled", lambda: False
    )
    assert not make_layer()._use_fused_attention(False, False)

    with pytest.raises(ValueError, match=r"Dropout.*flash_attention=True"):
        make_layer(flash_attention=True, dropout=0.1)
    layer = make_layer(flash_attention=True)
    x = np.ones((1, N, DIM), "float32")
    with pytest.raises(ValueError, match=r"scores.*flash_attention=True"):
        layer(x, return_attention_scores=True)
    if keras.backend.backend() == "tensorflow":
        # TensorFlow has no flash attention: required, it is refused.
        with pytest.raises(ValueError, match=r"[Ff]lash attention"):
            layer(x)


def test_compute_attention_is_overridable(rng):
    """A subclass replaces the attention over K' and V', as with
    MultiHeadAttention's `_compute_attention`."""

    class MeanOfValues(LinformerAttention):
        def _compute_attention(
            self,
            query,
            key,
            value,
            slot_mask=None,
            training=None,
            return_attention_scores=False,
        ):
            context = ops.broadcast_to(
                ops.mean(value, axis=1, keepdims=True),
                ops.shape(query)[:3] + ops.shape(value)[3:],
            )
            return context, None

    layer = MeanOfValues(HEADS, KEY_DIM, N, K, projection="mean")
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    outputs = to_numpy(layer(x))
    # Every query position gets the same output.
    np.testing.assert_allclose(
        outputs, np.broadcast_to(outputs[:, :1], outputs.shape), atol=1e-6
    )


def test_edge_rows_are_finite(rng):
    """An all-padding row gives finite outputs and scores; a batch of 0
    gives an empty output (the max kinds once failed: "Cannot compute the
    max of an empty tensor"), for every kind."""
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [5, 0])
    for projection in PROJECTIONS:
        layer = make_layer("none", projection)
        outputs, scores = layer(
            x, padding_mask=mask, return_attention_scores=True
        )
        assert np.isfinite(to_numpy(outputs)).all(), projection
        assert np.isfinite(to_numpy(scores)).all(), projection
        empty = layer(np.zeros((0, 10, DIM), "float32"))
        assert tuple(empty.shape) == (0, 10, DIM), projection


def test_fully_padded_row_has_finite_gradients(rng, tensorflow_only):
    import tensorflow as tf

    x = tf.constant(rng.normal(size=(2, N, DIM)).astype("float32"))
    mask = padding_mask(N, [5, 0])
    for projection in PROJECTIONS:
        layer = make_layer("none", projection)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, padding_mask=mask) ** 2)
        for grad in tape.gradient(loss, [x] + layer.trainable_weights):
            assert np.isfinite(np.asarray(grad)).all(), projection


def test_dropout_only_in_training_and_seeded(rng):
    """Dropout acts in training only, and `seed` fixes its masks: two layers
    with one seed and the same weights drop the same weights."""
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    layer = make_layer(dropout=0.5, seed=3)
    twin = make_layer(dropout=0.5, seed=3)
    inference = to_numpy(layer(x))
    twin(x)
    twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(inference, to_numpy(layer(x, training=False)))
    trained = to_numpy(layer(x, training=True))
    assert np.abs(trained - inference).max() > 1e-3
    np.testing.assert_array_equal(trained, to_numpy(twin(x, training=True)))


def test_dynamic_length_in_functional_model(rng):
    """An `Input` of unknown length: slicing E (linear) and the
    empty-input branch (sliding_max) work on a symbolic L, in compiled
    `predict` (every kind on a symbolic L: test_sequence_projection.py)."""
    inputs = keras.Input((None, DIM))
    mask_input = keras.Input((None,), dtype="bool")
    layers = [make_layer("headwise", p) for p in ("linear", "sliding_max")]
    outputs = [layer(inputs, padding_mask=mask_input) for layer in layers]
    model = keras.Model([inputs, mask_input], outputs)
    x = rng.normal(size=(2, 10, DIM)).astype("float32")
    mask = padding_mask(10, [10, 6])
    model.compile(jit_compile=False)
    predicted = model.predict([x, mask], verbose=0)
    for layer, result in zip(layers, predicted):
        expected = to_numpy(layer(x, padding_mask=mask))
        np.testing.assert_allclose(result, expected, atol=1e-5)


def test_defaults():
    layer = LinformerAttention(HEADS, KEY_DIM, N, K)
    assert layer.projection == DEFAULT_PROJECTION
    assert layer.sharing == "headwise"


def test_linear_kinds_are_projected_first():
    """Keys and values are projected before the dense layers for the kinds
    whose `projection_kind(name).linear` is true, with any sharing but
    `"none"`."""
    for projection in PROJECTIONS:
        linear = PROJECTION_KINDS[projection].linear
        assert (
            make_layer("headwise", projection)._project_inputs_first == linear
        )
        assert not make_layer("none", projection)._project_inputs_first


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"projected_dim": 32}, r"projected_dim=32, sequence_length=16"),
        (
            {"sequence_length": 18, "projection": "mean"},
            r"sequence_length=18, projected_dim=4.*projection=\"linear\"",
        ),
        (
            {"sequence_length": 18},
            r"'sliding_max'.*sequence_length=18, projected_dim=4",
        ),
        ({"projection": "softmax"}, r"Unknown `projection`: 'softmax'"),
        ({"sharing": "global"}, r"Unknown `sharing`: 'global'"),
        (
            {"shared_projection": SequenceProjection(N, K)},
            r"only used with `sharing='layerwise'`.*sharing='headwise'",
        ),
        (
            {
                "sharing": "layerwise",
                "projection": "linear",
                "shared_projection": SequenceProjection(
                    N, 8, projection="linear"
                ),
            },
            r"\(16, 4, 'linear', None\).*\(16, 8, 'linear', None\)",
        ),
        (
            {
                "sharing": "layerwise",
                "shared_projection": SequenceProjection(N, K, num_heads=2),
            },
            r"num_heads\) = \(16, 4, 'sliding_max', None\).*, 2\)",
        ),
    ],
)
def test_construction_refusals(kwargs, match):
    arguments = {
        "num_heads": HEADS,
        "key_dim": KEY_DIM,
        "sequence_length": N,
        "projected_dim": K,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LinformerAttention(**arguments)


def test_call_refusals():
    layer = make_layer("headwise", "sliding_max")
    x = np.ones((2, N, DIM), "float32")
    with pytest.raises(ValueError, match=r"use_causal_mask=True"):
        layer(x, use_causal_mask=True)
    with pytest.raises(ValueError, match=r"attention_mask.*\(2, 16, 16\)"):
        layer(x, attention_mask=np.ones((2, N, N), bool))
    with pytest.raises(ValueError, match=r"length 20 .*sequence_length=16"):
        layer(np.ones((2, 20, DIM), "float32"))
    with pytest.raises(ValueError, match=r"length 20 .*sequence_length=16"):
        make_layer("none", "mean")(keras.Input((20, DIM)))
    # A padding mask of the wrong length, keys and values of different
    # lengths: named, not a reshape error deep inside.
    with pytest.raises(ValueError, match=r"\(2, 12\).*\(2, 16, 8\)"):
        layer(x, padding_mask=np.ones((2, 12), bool))
    with pytest.raises(ValueError, match=r"\(2, 12\).*\(2, 16, 8\)"):
        make_layer("headwise", "linear")(
            keras.Input((N, DIM), batch_size=2),
            padding_mask=keras.Input((12,), batch_size=2),
        )
    with pytest.raises(ValueError, match=r"key of shape \(2, 9, 8\).*\(2, 16"):
        layer(x, x, np.ones((2, 9, DIM), "float32"))


def output_rms_ratio(projection, n=256, k=32, dim=32, seed=0):
    """RMS of the attention output at L_real = n / 4 over its RMS at
    L_real = n, default initializers, on inputs that share a mean vector
    (as token embeddings of one document do) plus noise."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    layer = LinformerAttention(
        num_heads=4,
        key_dim=dim // 4,
        sequence_length=n,
        projected_dim=k,
        projection=projection,
    )
    mean = rng.normal(size=(1, 1, dim))
    x = (mean + rng.normal(size=(8, n, dim))).astype("float32")
    rms = {}
    for real in (n, n // 4):
        mask = padding_mask(n, [real] * 8)
        out = to_numpy(layer(x, padding_mask=mask))[:, :real]
        rms[real] = np.sqrt((out**2).mean())
    return rms[n // 4] / rms[n]


def test_output_scale_and_real_length():
    """The pooling kinds, the default (`"sliding_max"`) among them: a
    document a quarter of n long gets outputs of the size a full one gets
    (within 1.5x). The paper's `"linear"`: K' and V' sum over the real rows
    only, so the output shrinks at least as sqrt(L_real / n) = 0.5."""
    for projection in WEIGHTLESS:
        ratio = output_rms_ratio(projection)
        assert 1 / 1.5 < ratio < 1.5, (projection, ratio)
    assert output_rms_ratio("linear") < 0.5


def test_projected_key_norm_does_not_grow_with_n(rng):
    """K' = E^T (M * (X Wk + bk)) with the default initializers: its rows
    keep their size from n = 512 to n = 8192 (k = 64)."""

    def mean_key_norm(projection, n):
        keras.utils.set_random_seed(0)
        layer = LinformerAttention(
            num_heads=2,
            key_dim=8,
            sequence_length=n,
            projected_dim=64,
            projection=projection,
            bias_initializer="random_normal",
        )
        x = rng.normal(size=(2, n, 16)).astype("float32")
        layer.build(x.shape)
        projected, _ = layer.key_projection(layer.key_dense(x))
        return np.linalg.norm(to_numpy(projected), axis=-1).mean()

    for projection in ("linear", "conv"):
        short, long = (
            mean_key_norm(projection, 512),
            mean_key_norm(projection, 8192),
        )
        assert 0.5 < long / short < 2.0, (projection, short, long)


# Mixed precision.


def test_mixed_precision(mixed_precision, rng, monkeypatch, tensorflow_only):
    """At n = 4096 every kind gives finite outputs and scores in the
    policy's dtype; the softmax runs in float32 under float16 (which
    overflows) and in bfloat16 under bfloat16 (float32's range), as in
    MultiHeadAttention; gradients reach E and F in float32."""
    import tensorflow as tf

    half = mixed_precision.split("_")[1]
    n, k = 4096, 64
    x = rng.normal(size=(2, n, 8)).astype("float32")
    mask = padding_mask(n, [n, 1000])
    # Every kind under float16, which overflows; bfloat16 has float32's
    # range: the default kind and the one that sums n rows.
    kinds = PROJECTIONS if half == "float16" else ("sliding_max", "linear")
    for projection in kinds:
        layer = LinformerAttention(
            num_heads=2,
            key_dim=4,
            sequence_length=n,
            projected_dim=k,
            projection=projection,
            sharing="none" if projection == "conv" else "headwise",
        )
        layer.build(x.shape)
        seen = []
        original = layer._softmax.call

        def call(inputs, mask=None, _original=original, _seen=seen):
            _seen.append(keras.backend.standardize_dtype(inputs.dtype))
            return _original(inputs, mask=mask)

        monkeypatch.setattr(layer._softmax, "call", call)
        with tf.GradientTape() as tape:
            outputs, scores = layer(
                x, padding_mask=mask, return_attention_scores=True
            )
            loss = tf.reduce_sum(tf.cast(outputs, "float32") ** 2)
        assert keras.backend.standardize_dtype(outputs.dtype) == half
        assert set(seen) == {"float32" if half == "float16" else half}
        assert np.isfinite(to_numpy(outputs)).all(), projection
        assert np.isfinite(to_numpy(scores)).all(), projection
        np.testing.assert_allclose(
            to_numpy(scores).sum(axis=-1), 1.0, atol=2e-2
        )
        variables = projection_variables(layer)
        for variable, grad in zip(variables, tape.gradient(loss, variables)):
            assert variable.dtype == "float32"
            assert np.isfinite(np.asarray(grad)).all(), variable.path
            assert np.abs(np.asarray(grad)).max() > 0, variable.path


def _small_model(projection, sharing="headwise"):
    inputs = keras.Input((N, DIM))
    mask = keras.Input((N,), dtype="bool")
    x = make_layer(sharing, projection)(inputs, padding_mask=mask)
    outputs = keras.layers.Dense(1, dtype="float32")(x)
    return keras.Model([inputs, mask], outputs)


@pytest.mark.parametrize(
    "jit_compile",
    [False, pytest.param(True, marks=pytest.mark.slow)],
    ids=["graph", "xla"],
)
def test_mixed_precision_compiled_fit_lowers_loss(jit_compile, rng):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        x = rng.normal(size=(16, N, DIM)).astype("float32")
        mask = padding_mask(N, rng.integers(4, N + 1, size=16))
        y = x[..., :1].cumsum(axis=1) / 4.0
        model = _small_model("conv")
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss="mse",
            jit_compile=jit_compile,
        )
        history = model.fit(
            [x, mask], y, batch_size=8, epochs=8, verbose=0, shuffle=False
        )
    finally:
        keras.config.set_dtype_policy(previous)
    losses = history.history["loss"]
    assert np.isfinite(losses).all(), losses
    assert losses[-1] < 0.9 * losses[0], losses


# Serialization.


def test_get_config_from_config_round_trip(rng):
    layer = make_layer(
        "none",
        "conv",
        dropout=0.1,
        projection_initializer=keras.initializers.RandomNormal(stddev=0.3),
        kernel_initializer="he_normal",
        bias_initializer="ones",
        seed=5,
        flash_attention=False,
    )
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 9])
    expected = to_numpy(layer(x, padding_mask=mask))
    config = layer.get_config()
    revived = LinformerAttention.from_config(config)
    revived.build(x.shape)
    for name in (
        "projection",
        "sharing",
        "value_dim",
        "dropout",
        "seed",
        "flash_attention",
    ):
        assert getattr(revived, name) == getattr(layer, name)
    assert isinstance(
        revived.projection_initializer, keras.initializers.RandomNormal
    )
    revived.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(revived(x, padding_mask=mask)), expected, atol=1e-6
    )
    # The same through Keras's serialize / deserialize.
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert revived.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "sharing, projection",
    [("none", "linear"), ("layerwise", "conv"), ("key_value", "sliding_max")],
)
def test_keras_save_and_load(sharing, projection, rng, tmp_path):
    model = _small_model(projection, sharing)
    for layer in model.layers:
        if isinstance(layer, LinformerAttention):
            randomize_weights(layer, rng)
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 9])
    path = str(tmp_path / "attention.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        to_numpy(loaded([x, mask])), to_numpy(model([x, mask]))
    )
    attention = [
        layer
        for layer in loaded.layers
        if isinstance(layer, LinformerAttention)
    ][0]
    assert attention.sharing == sharing
    assert len(loaded.weights) == len(model.weights)
    if sharing == "layerwise":
        assert attention.key_projection is attention.shared_projection
        assert attention.value_projection is attention.shared_projection

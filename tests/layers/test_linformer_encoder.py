import keras
import numpy as np
import pytest
from keras.src import testing
from numpy_reference import linformer_encoder
from numpy_reference import to_numpy

from keras_linformer.layers import LinformerAttention
from keras_linformer.layers import LinformerEncoder
from keras_linformer.layers import SequenceProjection
from keras_linformer.projections import DEFAULT_PROJECTION

# Keras warns that the dense sublayers drop the implicit mask of an embedded
# input; the attention reads that mask itself (see the keras_mask tests).
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not support masking:UserWarning"
)

N, K, DIM, HEADS, FFN = 16, 4, 8, 2, 12


def make_encoder(sharing="headwise", projection="linear", **kwargs):
    shared = None
    if sharing == "layerwise":
        shared = SequenceProjection(N, K, projection=projection)
    return LinformerEncoder(
        intermediate_dim=FFN,
        num_heads=HEADS,
        sequence_length=N,
        projected_dim=K,
        projection=projection,
        sharing=sharing,
        shared_projection=shared,
        **kwargs,
    )


def randomize_weights(layer, rng, scale=0.5):
    for variable in layer.weights:
        values = scale * rng.normal(size=variable.shape)
        variable.assign(values.astype(variable.dtype))


def padding_mask(length, real_lengths):
    return np.arange(length)[None, :] < np.asarray(real_lengths)[:, None]


def projection_kernels(model_or_layer, shape):
    return [v for v in model_or_layer.weights if tuple(v.shape) == shape]


class LinformerEncoderLayerTest(testing.TestCase):
    """Keras's own layer checks: build, shapes, serialization, training."""

    def test_layer(self):
        self.run_layer_test(
            LinformerEncoder,
            init_kwargs={
                "intermediate_dim": FFN,
                "num_heads": HEADS,
                "sequence_length": N,
                "projected_dim": K,
                "dropout": 0.1,
                "normalize_first": True,
            },
            input_shape=(2, 12, DIM),
            expected_output_shape=(2, 12, DIM),
            # Attention: 8 dense ("sliding_max" has no E or F); two layer
            # norms; two dense layers.
            expected_num_trainable_weights=8 + 4 + 4,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=3,
            supports_masking=True,
        )


def test_defaults():
    encoder = LinformerEncoder(FFN, HEADS, N, K)
    assert encoder.projection == DEFAULT_PROJECTION
    assert encoder.sharing == "headwise"


# Each kind against the reference: test_linformer_attention.py.
@pytest.mark.parametrize(
    "projection, normalize_first", [("sliding_max", False), ("linear", True)]
)
def test_matches_reference(projection, normalize_first, rng):
    encoder = make_encoder(
        "headwise", projection, normalize_first=normalize_first
    )
    x = rng.normal(size=(2, 12, DIM)).astype("float32")
    mask = padding_mask(12, [12, 5])
    encoder.build(x.shape)
    randomize_weights(encoder, rng)
    expected = linformer_encoder(encoder, x, padding_mask=mask)
    outputs = to_numpy(encoder(x, padding_mask=mask))
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


@pytest.mark.parametrize(
    "sharing, matrices",
    [("none", 2 * HEADS), ("headwise", 2), ("key_value", 1), ("layerwise", 1)],
)
def test_variable_counts(sharing, matrices):
    encoder = make_encoder(sharing)
    encoder(np.zeros((1, N, DIM), "float32"))
    weights = encoder.trainable_weights
    assert len(weights) == len({id(v) for v in weights})
    kernels = projection_kernels(encoder, (N, K)) + projection_kernels(
        encoder, (HEADS, N, K)
    )
    assert sum(int(np.prod(v.shape)) // (N * K) for v in kernels) == matrices
    assert len(weights) == 8 + 8 + len(kernels)


def _stack(num_layers, shared, projection="linear"):
    inputs = keras.Input((N, DIM))
    mask = keras.Input((N,), dtype="bool")
    x = inputs
    for _ in range(num_layers):
        x = LinformerEncoder(
            intermediate_dim=FFN,
            num_heads=HEADS,
            sequence_length=N,
            projected_dim=K,
            projection=projection,
            sharing="layerwise",
            shared_projection=shared,
        )(x, padding_mask=mask)
    return keras.Model([inputs, mask], x)


def _encoder_projections(model):
    encoders = [
        layer for layer in model.layers if isinstance(layer, LinformerEncoder)
    ]
    attentions = [encoder._self_attention_layer for encoder in encoders]
    return [
        projection
        for attention in attentions
        for projection in (attention.key_projection, attention.value_projection)
    ] + [encoder.shared_projection for encoder in encoders]


@pytest.mark.parametrize("projection", ["linear"])
def test_layerwise_sharing_is_one_variable_after_save_and_load(
    projection, rng, tmp_path
):
    shared = SequenceProjection(N, K, projection=projection)
    model = _stack(3, shared, projection)
    kernel_shape = (N, K) if projection == "linear" else (N // K,)
    kernels = projection_kernels(model, kernel_shape)
    assert len(kernels) == 1 and kernels[0] is shared.kernel
    assert all(p is shared for p in _encoder_projections(model))
    assert len(model.weights) == len({id(v) for v in model.weights})
    assert len(model.trainable_weights) == 3 * 16 + 1
    shared.kernel.assign(rng.normal(size=kernel_shape).astype("float32"))

    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 10])
    path = str(tmp_path / "layerwise.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)

    loaded_kernels = projection_kernels(loaded, kernel_shape)
    assert len(loaded_kernels) == 1
    loaded_projections = _encoder_projections(loaded)
    assert all(p is loaded_projections[0] for p in loaded_projections)
    assert loaded_projections[0].kernel is loaded_kernels[0]
    assert len(loaded.trainable_weights) == 3 * 16 + 1
    np.testing.assert_array_equal(
        to_numpy(loaded([x, mask])), to_numpy(model([x, mask]))
    )
    # Still one variable for the optimizer: one step moves all layers' E.
    loaded.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    before = to_numpy(loaded_kernels[0])
    loaded.train_on_batch([x, mask], np.zeros_like(x))
    assert np.abs(to_numpy(loaded_kernels[0]) - before).max() > 0


@pytest.mark.parametrize(
    "sharing, projection",
    [("headwise", "sliding_max"), ("layerwise", "linear"), ("none", "conv")],
)
def test_padded_batch_equals_unpadded_one_by_one(sharing, projection, rng):
    encoder = make_encoder(sharing, projection)
    lengths = [N, 9]
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, lengths)
    noisy = np.where(mask[..., None], x, np.nan).astype("float32")
    batched = to_numpy(encoder(noisy, padding_mask=mask))
    for i, length in enumerate(lengths):
        alone = to_numpy(encoder(x[i : i + 1, :length]))
        np.testing.assert_allclose(batched[i, :length], alone[0], atol=1e-5)


@pytest.mark.parametrize("normalize_first", [False, True], ids=["post", "pre"])
def test_keras_mask_is_the_padding_mask(normalize_first):
    ids = np.array(
        [[3, 1, 4, 1, 5, 9, 2, 6, 5, 0], [2, 7, 1, 0, 0, 0, 0, 0, 0, 0]]
    )
    embedding = keras.layers.Embedding(10, DIM, mask_zero=True)
    encoder = make_encoder("headwise", "mean", normalize_first=normalize_first)
    embedded = embedding(ids)
    expected = to_numpy(encoder(embedded, padding_mask=ids != 0))
    np.testing.assert_allclose(
        to_numpy(encoder(embedded))[ids != 0], expected[ids != 0], atol=1e-6
    )


def test_fully_padded_row_is_finite(rng):
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    for projection in ("linear", "sliding_max"):
        encoder = make_encoder("none", projection)
        outputs = encoder(x, padding_mask=padding_mask(N, [3, 0]))
        assert np.isfinite(to_numpy(outputs)).all(), projection


def test_return_attention_scores(rng):
    encoder = make_encoder("headwise", "max")
    x = rng.normal(size=(2, 12, DIM)).astype("float32")
    outputs, scores = encoder(
        x, padding_mask=padding_mask(12, [12, 6]), return_attention_scores=True
    )
    assert tuple(outputs.shape) == (2, 12, DIM)
    assert tuple(scores.shape) == (2, HEADS, 12, K)
    # Windows of 4: the second row has real positions in slots 0 and 1 only.
    np.testing.assert_array_equal(to_numpy(scores)[1, :, :, 2:], 0.0)
    np.testing.assert_allclose(to_numpy(scores).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"projected_dim": 32}, r"projected_dim=32, sequence_length=16"),
        (
            {"sequence_length": 18, "projection": "max"},
            r"sequence_length=18, projected_dim=4.*projection=\"linear\"",
        ),
        ({"projection": "cosine"}, r"Unknown `projection`: 'cosine'"),
        ({"sharing": "all"}, r"Unknown `sharing`: 'all'"),
    ],
)
def test_construction_refusals(kwargs, match):
    arguments = {
        "intermediate_dim": FFN,
        "num_heads": HEADS,
        "sequence_length": N,
        "projected_dim": K,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LinformerEncoder(**arguments)


def test_call_refusals():
    encoder = make_encoder()
    x = np.ones((2, N, DIM), "float32")
    with pytest.raises(ValueError, match=r"attention_mask.*\(2, 16, 16\)"):
        encoder(x, attention_mask=np.ones((2, N, N), bool))
    with pytest.raises(ValueError, match=r"length 20 .*sequence_length=16"):
        encoder(np.ones((2, 20, DIM), "float32"))
    with pytest.raises(ValueError, match=r"length 20 .*sequence_length=16"):
        make_encoder()(keras.Input((20, DIM)))
    with pytest.raises(ValueError, match=r"\(2, 12\).*\(2, 16, 8\)"):
        encoder(x, padding_mask=np.ones((2, 12), bool))


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_computes_the_float32_function(policy, rng):
    """Under half precision the encoder (the feed-forward on 2-D rows, the
    attention's softmax in bfloat16 or float32) computes the float32
    function, to half precision's rounding, on a padded batch."""
    x = rng.normal(size=(3, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 9, 3])
    reference = make_encoder()
    reference(x, padding_mask=mask)  # builds
    randomize_weights(reference, rng, scale=0.3)
    expected = to_numpy(reference(x, padding_mask=mask))
    half = make_encoder(dtype=policy)
    half(x, padding_mask=mask)
    half.set_weights(reference.get_weights())
    outputs = to_numpy(half(x, padding_mask=mask))
    real = mask[..., None].repeat(DIM, axis=-1)
    np.testing.assert_allclose(outputs[real], expected[real], atol=0.1)


def test_get_config_from_config_round_trip(rng):
    encoder = make_encoder(
        "key_value",
        "conv",
        dropout=0.2,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        normalize_first=True,
        projection_initializer=keras.initializers.RandomNormal(stddev=0.2),
    )
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 6])
    expected = to_numpy(encoder(x, padding_mask=mask))
    revived = LinformerEncoder.from_config(encoder.get_config())
    revived.build(x.shape)
    revived.set_weights(encoder.get_weights())
    assert revived.get_config() == encoder.get_config()
    np.testing.assert_allclose(
        to_numpy(revived(x, padding_mask=mask)), expected, atol=1e-6
    )


@pytest.mark.parametrize("sharing", ["none", "layerwise"])
def test_keras_save_and_load(sharing, rng, tmp_path):
    inputs = keras.Input((N, DIM))
    mask_input = keras.Input((N,), dtype="bool")
    encoder = make_encoder(sharing, "max", normalize_first=True)
    model = keras.Model(
        [inputs, mask_input], encoder(inputs, padding_mask=mask_input)
    )
    randomize_weights(encoder, rng)
    x = rng.normal(size=(2, N, DIM)).astype("float32")
    mask = padding_mask(N, [N, 6])
    path = str(tmp_path / "encoder.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        to_numpy(loaded([x, mask])), to_numpy(model([x, mask]))
    )
    loaded_encoder = loaded.layers[-1]
    assert isinstance(loaded_encoder, LinformerEncoder)
    assert isinstance(loaded_encoder._self_attention_layer, LinformerAttention)
    assert loaded_encoder.normalize_first

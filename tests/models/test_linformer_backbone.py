import json
import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_linformer.layers import SequenceProjection
from keras_linformer.models import LinformerBackbone
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import PROJECTION_KINDS
from keras_linformer.projections import PROJECTIONS

N, K, HIDDEN, VOCAB = 16, 4, 16, 32


def random_inputs(rng, batch, length, num_real=None, vocabulary_size=VOCAB):
    """Token ids in [5, vocabulary_size) and a padding mask of `num_real`."""
    num_real = length if num_real is None else num_real
    token_ids = rng.integers(5, vocabulary_size, size=(batch, length))
    padding_mask = np.zeros((batch, length), "int32")
    padding_mask[:, :num_real] = 1
    token_ids = np.where(padding_mask == 1, token_ids, 0).astype("int32")
    return {"token_ids": token_ids, "padding_mask": padding_mask}


def projection_variables(model):
    """The distinct E / F variables in a model, by identity."""
    variables = {}
    for layer in model._flatten_layers():
        if isinstance(layer, SequenceProjection):
            for variable in layer.weights:
                variables[id(variable)] = variable
    return list(variables.values())


def numpy_output(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs))


class TestShapes:
    @pytest.mark.parametrize("projection", PROJECTIONS)
    def test_each_kind_gives_real_outputs_that_padding_leaves_alone(
        self, make_backbone, rng, projection
    ):
        """L = n and L < n give (batch, L, hidden_dim), finite; padded
        tokens, whatever they are, leave real positions alone, and a row
        cut to its real length gives the same outputs."""
        backbone = make_backbone(vocabulary_size=VOCAB, projection=projection)
        num_real = 7
        inputs = random_inputs(rng, 2, N, num_real)
        outputs = numpy_output(backbone, inputs)
        assert outputs.shape == (2, N, HIDDEN)
        assert np.all(np.isfinite(outputs))
        reference = outputs[:, :num_real]

        # Other token ids at the padded positions.
        noisy = dict(inputs)
        noisy["token_ids"] = np.where(
            inputs["padding_mask"] == 1,
            inputs["token_ids"],
            rng.integers(5, VOCAB, size=inputs["token_ids"].shape),
        ).astype("int32")
        assert not np.array_equal(noisy["token_ids"], inputs["token_ids"])
        np.testing.assert_allclose(
            numpy_output(backbone, noisy)[:, :num_real],
            reference,
            atol=1e-5,
        )

        # No padding at all: the same real prefix, cut to its length.
        truncated = {key: value[:, :num_real] for key, value in inputs.items()}
        np.testing.assert_allclose(
            numpy_output(backbone, truncated), reference, atol=1e-5
        )

    def test_default_projection(self, make_backbone):
        backbone = make_backbone()
        assert backbone.projection == DEFAULT_PROJECTION
        assert LinformerBackbone.from_roberta.__defaults__[0] == (
            DEFAULT_PROJECTION
        )

    def test_symbolic_shape_with_unknown_length(self, make_backbone):
        backbone = make_backbone()
        inputs = {
            "token_ids": keras.Input((None,), dtype="int32"),
            "padding_mask": keras.Input((None,), dtype="int32"),
        }
        assert tuple(backbone(inputs).shape) == (None, None, HIDDEN)

    def test_attributes_used_by_tasks(self, make_backbone):
        backbone = make_backbone(vocabulary_size=VOCAB)
        assert backbone.start_token_index == 0
        assert backbone.token_embedding.input_dim == VOCAB
        assert backbone.token_embedding.output_dim == HIDDEN
        assert len(backbone.transformer_layers) == 2


class TestMasking:
    def test_padding_mask_is_used(self, make_backbone, rng):
        """The same tokens with a different mask give different outputs."""
        backbone = make_backbone(vocabulary_size=VOCAB)
        inputs = random_inputs(rng, 2, N)
        half_masked = dict(inputs)
        half_masked["padding_mask"] = inputs["padding_mask"].copy()
        half_masked["padding_mask"][:, N // 2 :] = 0
        difference = np.abs(
            numpy_output(backbone, inputs)[:, : N // 2]
            - numpy_output(backbone, half_masked)[:, : N // 2]
        )
        assert difference.max() > 1e-3


class TestProjectedDim:
    def test_nonuniform_projected_dim(self, make_backbone, rng):
        backbone = make_backbone(
            projected_dim=[8, 2], projection="linear", vocabulary_size=VOCAB
        )
        kernels = [
            layer._self_attention_layer.key_projection.kernel
            for layer in backbone.transformer_layers
        ]
        assert [tuple(kernel.shape) for kernel in kernels] == [(N, 8), (N, 2)]
        outputs = backbone(random_inputs(rng, 2, N))
        assert tuple(outputs.shape) == (2, N, HIDDEN)
        _, scores = backbone.transformer_layers[1](
            keras.ops.ones((1, N, HIDDEN)), return_attention_scores=True
        )
        assert tuple(scores.shape) == (1, 2, N, 2)
        assert backbone.get_config()["projected_dim"] == [8, 2]

    def test_projected_dim_list_with_layerwise_sharing_is_refused(
        self, make_backbone
    ):
        with pytest.raises(ValueError, match=r"sharing='layerwise'.*\[8, 2\]"):
            make_backbone(projected_dim=[8, 2], sharing="layerwise")

    def test_projected_dim_list_of_wrong_length_is_refused(self, make_backbone):
        with pytest.raises(ValueError, match=r"expected 2 values.*\[8, 4, 2\]"):
            make_backbone(projected_dim=[8, 4, 2])

    def test_projected_dim_over_max_sequence_length_is_refused(
        self, make_backbone
    ):
        with pytest.raises(ValueError, match=r"projected_dim=32.*=16"):
            make_backbone(projected_dim=32)

    def test_n_not_divisible_by_k_is_refused_for_the_default(
        self, make_backbone
    ):
        """The default is windowed: n = 16, k = 5 is refused by name, with
        the kind that takes such n and k; "linear" takes them."""
        with pytest.raises(
            ValueError,
            match=r"'sliding_max'.*sequence_length=16, projected_dim=5"
            r".*projection=\"linear\"",
        ):
            make_backbone(projected_dim=5)
        assert make_backbone(projected_dim=5, projection="linear")

    def test_unknown_sharing_is_refused(self, make_backbone):
        with pytest.raises(ValueError, match=r"Unknown `sharing`: 'all'"):
            make_backbone(sharing="all")


class TestSharing:
    @pytest.mark.parametrize(
        "sharing, expected_count, expected_shape",
        [
            ("none", 2 * 2, (2, N, K)),  # 2 per head-set, 2 layers
            ("headwise", 2 * 2, (N, K)),
            ("key_value", 1 * 2, (N, K)),
            ("layerwise", 1, (N, K)),
        ],
    )
    def test_projection_variable_count(
        self, make_backbone, sharing, expected_count, expected_shape
    ):
        # The (n, k) matrices of a matrix kind ("linear", the paper's E).
        backbone = make_backbone(sharing=sharing, projection="linear")
        variables = projection_variables(backbone)
        assert len(variables) == expected_count
        assert all(tuple(v.shape) == expected_shape for v in variables)
        # Every one of them is a weight of the model, counted once.
        weight_ids = [id(v) for v in backbone.weights]
        assert len(weight_ids) == len(set(weight_ids))
        assert {id(v) for v in variables} <= set(weight_ids)

    def test_sharing_does_not_change_a_weightless_projection(
        self, make_backbone, rng
    ):
        """Pooling kinds, the default among them, have no E to share: every
        sharing mode is the same model, on a padded batch of varied
        lengths."""
        assert PROJECTION_KINDS[DEFAULT_PROJECTION].weightless
        inputs = random_inputs(rng, 3, N)
        for row, num_real in [(1, 9), (2, 3)]:
            inputs["padding_mask"][row, num_real:] = 0
            inputs["token_ids"][row, num_real:] = 0
        outputs, shapes = {}, {}
        for sharing in ("none", "headwise", "layerwise"):
            keras.utils.set_random_seed(0)
            backbone = make_backbone(sharing=sharing)
            outputs[sharing] = numpy_output(backbone, inputs)
            shapes[sharing] = [tuple(w.shape) for w in backbone.weights]
            assert projection_variables(backbone) == []
        for sharing in ("headwise", "layerwise"):
            assert shapes[sharing] == shapes["none"]
            np.testing.assert_allclose(
                outputs[sharing], outputs["none"], rtol=1e-6, atol=1e-6
            )

    def test_layerwise_is_one_variable_for_the_whole_model(self, make_backbone):
        layerwise = make_backbone(
            sharing="layerwise", num_layers=3, projection="linear"
        )
        key_value = make_backbone(
            sharing="key_value", num_layers=3, projection="linear"
        )
        projections = {
            id(projection)
            for layer in layerwise.transformer_layers
            for projection in (
                layer._self_attention_layer.key_projection,
                layer._self_attention_layer.value_projection,
            )
        }
        assert projections == {id(layerwise.shared_projection)}
        assert len(projection_variables(layerwise)) == 1
        # Three (n x k) matrices in key_value sharing, one in layerwise.
        assert key_value.count_params() - layerwise.count_params() == 2 * N * K

    def test_layerwise_gradient_reaches_the_shared_matrix(
        self, make_backbone, rng, tensorflow_only
    ):
        import tensorflow as tf

        backbone = make_backbone(sharing="layerwise", projection="linear")
        (shared,) = projection_variables(backbone)
        with tf.GradientTape() as tape:
            loss = keras.ops.sum(backbone(random_inputs(rng, 2, N)) ** 2)
        (gradient,) = tape.gradient(loss, [shared])
        assert gradient is not None
        assert np.abs(keras.ops.convert_to_numpy(gradient)).max() > 0


class TestSerialization:
    def test_get_config_round_trip(self, make_backbone):
        backbone = make_backbone(
            projected_dim=[8, 4], projection="linear", sharing="none"
        )
        config = backbone.get_config()
        restored = LinformerBackbone.from_config(config)
        assert restored.get_config() == config

    def test_projection_initializer_round_trips_through_json(
        self, make_backbone
    ):
        """A backbone built with a `projection_initializer` for E and F (per
        head, with sharing none) rebuilds from its JSON config with the
        same start."""
        initializer = keras.initializers.Constant(0.25)
        backbone = make_backbone(
            projection="linear",
            sharing="none",
            projection_initializer=initializer,
        )
        config = json.loads(json.dumps(backbone.get_config()))
        restored = LinformerBackbone.from_config(config)
        assert restored.get_config() == backbone.get_config()
        variables = projection_variables(restored)
        assert len(variables) == 4
        for variable in variables:
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(variable), 0.25
            )

    def test_keras_file_round_trip(self, make_backbone, rng, tmp_path):
        backbone = make_backbone(
            sharing="none", projection="linear", vocabulary_size=VOCAB
        )
        inputs = random_inputs(rng, 2, N, num_real=11)
        path = str(tmp_path / "backbone.keras")
        backbone.save(path)
        restored = keras.saving.load_model(path)
        assert isinstance(restored, LinformerBackbone)
        np.testing.assert_array_equal(
            numpy_output(restored, inputs), numpy_output(backbone, inputs)
        )
        assert len(projection_variables(restored)) == len(
            projection_variables(backbone)
        )
        assert restored.count_params() == backbone.count_params()

    def test_preset_round_trip(self, make_backbone, rng, tmp_path):
        backbone = make_backbone(
            sharing="layerwise", projection="linear", vocabulary_size=VOCAB
        )
        inputs = random_inputs(rng, 2, 10, num_real=6)
        preset = str(tmp_path / "preset")
        backbone.save_to_preset(preset)
        assert {"config.json", "model.weights.h5", "metadata.json"} <= set(
            os.listdir(preset)
        )
        restored = LinformerBackbone.from_preset(preset)
        assert isinstance(restored, LinformerBackbone)
        np.testing.assert_array_equal(
            numpy_output(restored, inputs), numpy_output(backbone, inputs)
        )
        assert len(projection_variables(restored)) == len(
            projection_variables(backbone)
        )
        # The keras_hub base class finds the subclass from the preset.
        generic = keras_hub.models.Backbone.from_preset(preset)
        assert isinstance(generic, LinformerBackbone)
        # Without weights: freshly initialized.
        fresh = LinformerBackbone.from_preset(preset, load_weights=False)
        assert not np.allclose(
            numpy_output(fresh, inputs), numpy_output(backbone, inputs)
        )


def randomized_roberta(rng, dropout=0.0):
    roberta = keras_hub.models.RobertaBackbone(
        vocabulary_size=VOCAB,
        num_layers=2,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=32,
        max_sequence_length=N,
        dropout=dropout,
    )
    # Perturb every weight (biases and norms too), so that a weight that is
    # not copied cannot pass for its initial value.
    for variable in roberta.weights:
        noise = rng.normal(0.0, 0.1, size=tuple(variable.shape))
        variable.assign(keras.ops.convert_to_numpy(variable) + noise)
    return roberta


@pytest.fixture(scope="module")
def roberta():
    keras.utils.set_random_seed(7)
    return randomized_roberta(np.random.default_rng(7))


class TestFromRoberta:
    @pytest.mark.parametrize("sharing", ["headwise", "layerwise"])
    def test_reproduces_roberta_with_identity_projection(
        self, roberta, rng, sharing
    ):
        """Identity E at k = n: RoBERTa's function on full blocks, and, as
        it masks exactly the padded slots, on padded rows of varied length
        and inputs shorter than n too (issue 11: the padded row differed by
        3e-2)."""
        linformer = LinformerBackbone.from_roberta(
            roberta,
            projected_dim=N,
            projection="linear",
            sharing=sharing,
            projection_initializer="identity",
        )
        assert linformer.dropout == 0.0
        inputs = random_inputs(rng, 3, N)
        expected = numpy_output(roberta, inputs)
        assert np.abs(expected).max() > 0.1
        np.testing.assert_allclose(
            numpy_output(linformer, inputs), expected, atol=1e-4, rtol=0
        )
        inputs["padding_mask"][1, 9:] = 0
        inputs["padding_mask"][2, 3:] = 0
        real = inputs["padding_mask"] == 1
        expected = numpy_output(roberta, inputs)
        actual = numpy_output(linformer, inputs)
        np.testing.assert_allclose(
            actual[real], expected[real], atol=1e-4, rtol=0
        )
        short = random_inputs(rng, 2, 6)
        np.testing.assert_allclose(
            numpy_output(linformer, short),
            numpy_output(roberta, short),
            atol=1e-4,
            rtol=0,
        )

    def test_copies_every_weight_but_projections(self, roberta, rng):
        linformer = LinformerBackbone.from_roberta(roberta, projected_dim=K)
        projection_ids = {id(v) for v in projection_variables(linformer)}
        copied = [v for v in linformer.weights if id(v) not in projection_ids]
        assert len(copied) == len(roberta.weights)
        remaining = [keras.ops.convert_to_numpy(v) for v in copied]
        for variable in roberta.weights:
            value = keras.ops.convert_to_numpy(variable)
            matches = [
                i
                for i, candidate in enumerate(remaining)
                if candidate.shape == value.shape
                and np.array_equal(candidate, value)
            ]
            assert matches, f"{variable.path} was not copied"
            remaining.pop(matches[0])
        assert not remaining
        # With k < n the function is a different one.
        inputs = random_inputs(rng, 1, N)
        assert not np.allclose(
            numpy_output(linformer, inputs),
            numpy_output(roberta, inputs),
            atol=1e-3,
        )


class TestBadInput:
    def test_sequence_longer_than_max_sequence_length(self, make_backbone, rng):
        backbone = make_backbone(vocabulary_size=VOCAB)
        inputs = random_inputs(rng, 2, N + 4)
        with pytest.raises(
            ValueError,
            match=r"length 20 is longer than max_sequence_length=16",
        ):
            backbone(inputs)
        with pytest.raises(ValueError, match=r"max_sequence_length=16"):
            backbone.predict(inputs, verbose=0)

    @pytest.mark.parametrize(
        "compiled", [False, pytest.param(True, marks=pytest.mark.slow)]
    )
    def test_token_ids_outside_the_vocabulary(
        self, make_backbone, rng, tensorflow_only, compiled
    ):
        import tensorflow as tf

        backbone = make_backbone(vocabulary_size=VOCAB)
        inputs = random_inputs(rng, 2, N)
        inputs["token_ids"][1, 3] = VOCAB + 5
        # TensorFlow's gather names the offending index and the valid range.
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=r"indices\[1,3\] = 37 is not in \[0, 32\)"
            if not compiled
            else r"= 37 is not in \[0, 32\)",
        ):
            if compiled:
                backbone.predict(inputs, verbose=0)
            else:
                backbone(inputs)

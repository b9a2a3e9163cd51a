import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerTextClassifier
from keras_linformer.models import LinformerTextClassifierPreprocessor

FILLER = ["the", "a", "movie", "film", "was", "is", "very", "cat", "dog", "on"]
POSITIVE = ["good", "great", "fine"]
NEGATIVE = ["bad", "awful", "poor"]


def toy_reviews(rng, count):
    """Sentences of filler and sentiment words; the label is the sentiment."""
    texts, labels = [], []
    for i in range(count):
        label = i % 2
        keywords = POSITIVE if label else NEGATIVE
        length = int(rng.integers(4, 9))
        words = [
            rng.choice(keywords) if rng.random() < 0.6 else rng.choice(FILLER)
            for _ in range(length)
        ]
        words[int(rng.integers(0, length))] = rng.choice(keywords)
        texts.append(" ".join(words) + ".")
        labels.append(label)
    return texts, np.array(labels, "int32")


@pytest.fixture
def preprocessor(toy_tokenizer):
    return LinformerTextClassifierPreprocessor(
        toy_tokenizer, sequence_length=12
    )


def three_class_classifier(make_backbone, preprocessor, pooling="cls"):
    return LinformerTextClassifier(
        make_backbone(max_sequence_length=12),
        num_classes=3,
        preprocessor=preprocessor,
        pooling=pooling,
    )


@pytest.fixture
def classifier(make_backbone, preprocessor):
    return three_class_classifier(make_backbone, preprocessor)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_logits_shape_and_head(classifier, preprocessor):
    x = preprocessor(["the good movie.", "a bad film."])
    logits = classifier(x)
    assert tuple(logits.shape) == (2, 3)
    assert classifier.predict(["the good movie."], verbose=0).shape == (1, 3)
    hidden = classifier.backbone.hidden_dim
    # Pooler (h x h + h) and logits (h x 3 + 3) on top of the backbone.
    assert (
        classifier.count_params() - classifier.backbone.count_params()
        == hidden * hidden + hidden + hidden * 3 + 3
    )


def test_pools_the_cls_position(classifier, preprocessor):
    """Outputs depend on the backbone only through position 0."""
    x = preprocessor(["the good movie.", "a bad film."])
    backbone = classifier.backbone
    sequence = to_numpy(backbone(x))
    head = keras.Sequential([classifier.pooled_dense, classifier.output_dense])
    np.testing.assert_allclose(
        to_numpy(head(sequence[:, backbone.start_token_index])),
        to_numpy(classifier(x)),
        atol=1e-5,
    )


@pytest.fixture
def mean_classifier(make_backbone, preprocessor):
    return three_class_classifier(make_backbone, preprocessor, pooling="mean")


def test_mean_pooling_averages_the_real_positions(
    mean_classifier, preprocessor
):
    """Outputs are the head of the sequence's mean over padding_mask == 1:
    a short review in a padded batch and a long one, each its own mean."""
    x = preprocessor(["good.", "the very good movie was a fine film."])
    mask = to_numpy(x["padding_mask"]).astype("float32")
    assert mask[0].sum() < mask[1].sum() < mask.shape[1]  # both padded
    sequence = to_numpy(mean_classifier.backbone(x))
    expected_pooled = (sequence * mask[..., None]).sum(1) / mask.sum(
        1, keepdims=True
    )
    head = keras.Sequential(
        [mean_classifier.pooled_dense, mean_classifier.output_dense]
    )
    np.testing.assert_allclose(
        to_numpy(head(expected_pooled)),
        to_numpy(mean_classifier(x)),
        atol=1e-5,
    )
    # Not the "[CLS]" head: the same weights read position 0 differently.
    assert not np.allclose(
        to_numpy(head(sequence[:, 0])), to_numpy(mean_classifier(x)), atol=1e-4
    )


def test_mean_pooling_ignores_padded_positions(mean_classifier, preprocessor):
    """What the padded positions hold never reaches the logits."""
    x = preprocessor(["a bad film.", "good."])
    logits = to_numpy(mean_classifier(x))
    padded = to_numpy(x["padding_mask"]) == 0
    token_ids = to_numpy(x["token_ids"]).copy()
    token_ids[padded] = token_ids[0, 1]  # a real word where the padding was
    changed = {
        "token_ids": token_ids,
        "padding_mask": to_numpy(x["padding_mask"]),
    }
    np.testing.assert_allclose(
        to_numpy(mean_classifier(changed)), logits, atol=1e-5
    )


def test_mean_pooling_round_trips(mean_classifier, preprocessor, tmp_path):
    x = preprocessor(["the good movie.", "a bad film."])
    config = mean_classifier.get_config()
    assert config["pooling"] == "mean"
    path = str(tmp_path / "classifier.keras")
    mean_classifier.save(path)
    restored = keras.saving.load_model(path)
    assert restored.pooling == "mean"
    np.testing.assert_array_equal(
        to_numpy(restored(x)), to_numpy(mean_classifier(x))
    )
    preset = str(tmp_path / "preset")
    mean_classifier.save_to_preset(preset)
    from_preset = LinformerTextClassifier.from_preset(preset)
    assert from_preset.pooling == "mean"
    np.testing.assert_allclose(
        to_numpy(from_preset(x)), to_numpy(mean_classifier(x)), atol=1e-6
    )


def test_config_without_pooling_is_the_cls_head(classifier):
    """Classifiers saved before `pooling` existed load with the "[CLS]"
    head they were trained with."""
    config = classifier.get_config()
    del config["pooling"]
    assert LinformerTextClassifier.from_config(config).pooling == "cls"


def test_unknown_pooling(make_backbone):
    with pytest.raises(
        ValueError, match=r"one of \('cls', 'mean'\). Received: pooling='max'"
    ):
        LinformerTextClassifier(
            make_backbone(max_sequence_length=12), num_classes=2, pooling="max"
        )


def test_activation_softmax(make_backbone, preprocessor):
    classifier = LinformerTextClassifier(
        make_backbone(max_sequence_length=12),
        num_classes=4,
        preprocessor=preprocessor,
        activation="softmax",
    )
    probabilities = to_numpy(classifier(preprocessor(["a good film."])))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    assert not classifier.loss.from_logits


@pytest.mark.slow
def test_learns_a_separable_toy_set(make_backbone, preprocessor, rng):
    train_texts, train_labels = toy_reviews(rng, 128)
    test_texts, test_labels = toy_reviews(rng, 64)
    classifier = LinformerTextClassifier(
        make_backbone(max_sequence_length=12, num_layers=1),
        num_classes=2,
        preprocessor=preprocessor,
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    # Raw strings in tf.data: the task maps its preprocessor over them.
    train_ds = (
        tf.data.Dataset.from_tensor_slices((train_texts, train_labels))
        .shuffle(128, seed=0)
        .batch(16)
    )
    test_ds = tf.data.Dataset.from_tensor_slices(
        (test_texts, test_labels)
    ).batch(64)
    before = classifier.evaluate(test_ds, verbose=0, return_dict=True)
    classifier.fit(train_ds, epochs=10, verbose=0)
    after = classifier.evaluate(test_ds, verbose=0, return_dict=True)
    assert after["sparse_categorical_accuracy"] >= 0.9, after
    assert after["loss"] < 0.5 * before["loss"], (before, after)


def test_preset_round_trip(classifier, preprocessor, tmp_path):
    preset = str(tmp_path / "preset")
    classifier.save_to_preset(preset)
    assert {"task.json", "task.weights.h5", "config.json"} <= set(
        os.listdir(preset)
    )
    x = preprocessor(["the good movie.", "a bad film."])

    restored = LinformerTextClassifier.from_preset(preset)
    assert isinstance(restored, LinformerTextClassifier)
    assert restored.num_classes == 3
    np.testing.assert_array_equal(
        to_numpy(restored(x)), to_numpy(classifier(x))
    )
    assert restored.preprocessor.sequence_length == 12
    generic = keras_hub.models.TextClassifier.from_preset(preset)
    assert isinstance(generic, LinformerTextClassifier)

    # A new head: backbone weights load, the head does not.
    five_way = LinformerTextClassifier.from_preset(preset, num_classes=5)
    assert tuple(five_way(x).shape) == (2, 5)
    np.testing.assert_array_equal(
        to_numpy(five_way.backbone(x)), to_numpy(classifier.backbone(x))
    )


def test_preset_of_a_trained_classifier_holds_no_optimizer_state(
    classifier, preprocessor, tmp_path
):
    import warnings

    import h5py

    texts = ["the good movie.", "a bad film."]
    classifier.optimizer.build(classifier.trainable_variables)  # its slots
    assert classifier.optimizer.variables
    x = preprocessor(texts)
    preset = str(tmp_path / "preset")
    classifier.save_to_preset(preset)
    with h5py.File(os.path.join(preset, "task.weights.h5")) as f:
        names = []
        f.visit(names.append)
    assert names and not [n for n in names if "optimizer" in n]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = LinformerTextClassifier.from_preset(preset)
    assert not [w for w in caught if "optimizer" in str(w.message)]
    np.testing.assert_allclose(
        to_numpy(restored(x)), to_numpy(classifier(x)), atol=1e-6
    )


def test_from_backbone_preset(make_backbone, toy_tokenizer, tmp_path):
    """Fine-tuning starts from a pretrained backbone + tokenizer preset."""
    preset = str(tmp_path / "preset")
    backbone = make_backbone(max_sequence_length=24, projected_dim=6)
    backbone.save_to_preset(preset)
    toy_tokenizer.save_to_preset(preset)
    classifier = LinformerTextClassifier.from_preset(preset, num_classes=2)
    assert classifier.preprocessor.sequence_length == 24
    x = classifier.preprocessor(["the good movie."])
    np.testing.assert_array_equal(
        to_numpy(classifier.backbone(x)), to_numpy(backbone(x))
    )
    assert isinstance(classifier.backbone, LinformerBackbone)


def test_keras_file_round_trip(classifier, preprocessor, tmp_path):
    x = preprocessor(["the good movie.", "a bad film."])
    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, LinformerTextClassifier)
    np.testing.assert_array_equal(
        to_numpy(restored(x)), to_numpy(classifier(x))
    )
    # The tokenizer's vocabulary travels in the file too.
    restored_x = restored.preprocessor(["a fine film."])
    np.testing.assert_array_equal(
        to_numpy(restored_x["token_ids"]),
        to_numpy(preprocessor(["a fine film."])["token_ids"]),
    )


def test_config_round_trip(classifier):
    config = classifier.get_config()
    assert config["num_classes"] == 3
    restored = LinformerTextClassifier.from_config(config)
    assert restored.num_classes == 3
    assert restored.backbone.get_config() == classifier.backbone.get_config()


def test_sequence_length_over_max_sequence_length(make_backbone, preprocessor):
    with pytest.raises(
        ValueError,
        match=r"length 12, longer than the backbone's "
        r"max_sequence_length=8",
    ):
        LinformerTextClassifier(
            make_backbone(max_sequence_length=8),
            num_classes=2,
            preprocessor=preprocessor,
        )


def test_tokenizer_larger_than_backbone_vocabulary(make_backbone, preprocessor):
    with pytest.raises(ValueError, match=r"vocabulary_size=10"):
        LinformerTextClassifier(
            make_backbone(vocabulary_size=10, max_sequence_length=12),
            num_classes=2,
            preprocessor=preprocessor,
        )


def test_long_raw_input_is_truncated_not_refused(classifier):
    """Through the preprocessor, long text never exceeds n."""
    x = classifier.preprocessor([" ".join(["good"] * 100)])
    assert tuple(x["token_ids"].shape) == (1, 12)
    assert tuple(classifier(x).shape) == (1, 3)

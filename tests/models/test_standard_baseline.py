"""The standard baseline (`--attention standard`): the Linformer tasks on a
keras_hub `RobertaBackbone`, saved and loaded through keras_hub's public
`from_preset`."""

import os

import keras
import keras_hub
import numpy as np
import pytest

from keras_linformer.models import LinformerMaskedLM
from keras_linformer.models import LinformerTextClassifier
from keras_linformer.models import LinformerTokenizer
from keras_linformer.models import StandardMaskedLM
from keras_linformer.models import StandardMaskedLMPreprocessor
from keras_linformer.models import StandardTextClassifier
from keras_linformer.models import StandardTextClassifierPreprocessor
from keras_linformer.models import StandardTokenizer
from keras_linformer.models.presets import load_preset


@pytest.fixture
def roberta(toy_vocabulary):
    return keras_hub.models.RobertaBackbone(
        vocabulary_size=len(toy_vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
        dropout=0.0,
    )


def test_classifier_preset_loads_through_the_linformer_class(
    roberta, toy_vocabulary, tmp_path
):
    tokenizer = StandardTokenizer(vocabulary=toy_vocabulary)
    preprocessor = StandardTextClassifierPreprocessor(
        tokenizer, sequence_length=12
    )
    classifier = StandardTextClassifier(
        roberta, num_classes=3, preprocessor=preprocessor
    )
    texts = ["a good film", "the cat sat on the mat"]
    x = preprocessor(texts)
    expected = keras.ops.convert_to_numpy(classifier(x))
    preset = str(tmp_path / "preset")
    classifier.save_to_preset(preset)

    restored = LinformerTextClassifier.from_preset(preset)
    assert type(restored) is StandardTextClassifier
    assert isinstance(restored.backbone, keras_hub.models.RobertaBackbone)
    assert restored.preprocessor.sequence_length == 12
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(restored.preprocessor(texts))),
        expected,
        atol=1e-5,
    )
    assert type(LinformerTokenizer.from_preset(preset)) is StandardTokenizer
    assert type(load_preset(preset, require_task=True)) is (
        StandardTextClassifier
    )


def test_masked_lm_preset_keeps_its_head_weights(
    roberta, toy_vocabulary, tmp_path
):
    tokenizer = StandardTokenizer(vocabulary=toy_vocabulary)
    preprocessor = StandardMaskedLMPreprocessor(tokenizer, sequence_length=12)
    masked_lm = StandardMaskedLM(roberta, preprocessor=preprocessor)
    head = masked_lm.masked_lm_head
    for variable in head.trainable_weights:
        variable.assign(variable + 0.25)  # not the initializer's values
    preset = str(tmp_path / "preset")
    masked_lm.save_to_preset(preset)
    restored = LinformerMaskedLM.from_preset(preset)
    assert type(restored) is StandardMaskedLM
    for before, after in zip(
        head.weights, restored.masked_lm_head.weights, strict=True
    ):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(before),
            keras.ops.convert_to_numpy(after),
        )


def test_load_preset_refusals(tmp_path, make_backbone):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_preset(str(tmp_path / "missing"))
    backbone_only = str(tmp_path / "backbone")
    make_backbone().save_to_preset(backbone_only)
    assert os.path.isfile(os.path.join(backbone_only, "config.json"))
    with pytest.raises(FileNotFoundError, match="not a task preset"):
        load_preset(backbone_only, require_task=True)
    assert type(load_preset(backbone_only)).__name__ == "LinformerBackbone"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a keras_hub preset: it has no"):
        load_preset(str(tmp_path / "empty"))

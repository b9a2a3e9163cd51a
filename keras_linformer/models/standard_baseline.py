"""The same tasks on a standard Transformer (keras_hub `RobertaBackbone`).

For comparisons (`--attention standard`), the Linformer tokenizer,
preprocessors and task heads run on a same-size `RobertaBackbone`. keras_hub
matches a preset's backbone class to the class that loads it
(`Task.from_preset` and `Tokenizer.from_preset` look for a registered
subclass whose `backbone_cls` is the preset's backbone), so the standard
baseline has its own registered classes: the Linformer ones with
`backbone_cls = RobertaBackbone`. With them, `from_preset` loads a standard
preset through keras_hub's public API like any other, and
`keras_linformer.models.LinformerTextClassifier.from_preset(path)` finds
`StandardTextClassifier` by itself.

Example:

>>> backbone = keras_hub.models.RobertaBackbone(
...     vocabulary_size=100, num_layers=1, num_heads=2, hidden_dim=16,
...     intermediate_dim=32, max_sequence_length=64,
... )
>>> classes = task_classes(type(backbone))
>>> classes.masked_lm.__name__
'StandardMaskedLM'
"""

import types

import keras
from keras_hub.models import RobertaBackbone

from keras_linformer.models.linformer_masked_lm import LinformerMaskedLM
from keras_linformer.models.linformer_masked_lm_preprocessor import (
    LinformerMaskedLMPreprocessor,
)
from keras_linformer.models.linformer_text_classifier import (
    LinformerTextClassifier,
)
from keras_linformer.models.linformer_text_classifier_preprocessor import (
    LinformerTextClassifierPreprocessor,
)
from keras_linformer.models.linformer_tokenizer import LinformerTokenizer


@keras.saving.register_keras_serializable(package="keras_linformer")
class StandardTokenizer(LinformerTokenizer):
    """`LinformerTokenizer` for presets of a standard `RobertaBackbone`."""

    backbone_cls = RobertaBackbone


@keras.saving.register_keras_serializable(package="keras_linformer")
class StandardMaskedLMPreprocessor(LinformerMaskedLMPreprocessor):
    """`LinformerMaskedLMPreprocessor` for a standard `RobertaBackbone`."""

    backbone_cls = RobertaBackbone
    tokenizer_cls = StandardTokenizer


@keras.saving.register_keras_serializable(package="keras_linformer")
class StandardTextClassifierPreprocessor(LinformerTextClassifierPreprocessor):
    """`LinformerTextClassifierPreprocessor` for a `RobertaBackbone`."""

    backbone_cls = RobertaBackbone
    tokenizer_cls = StandardTokenizer


@keras.saving.register_keras_serializable(package="keras_linformer")
class StandardMaskedLM(LinformerMaskedLM):
    """`LinformerMaskedLM` on a standard `RobertaBackbone`."""

    backbone_cls = RobertaBackbone
    preprocessor_cls = StandardMaskedLMPreprocessor


@keras.saving.register_keras_serializable(package="keras_linformer")
class StandardTextClassifier(LinformerTextClassifier):
    """`LinformerTextClassifier` on a standard `RobertaBackbone`."""

    backbone_cls = RobertaBackbone
    preprocessor_cls = StandardTextClassifierPreprocessor


_LINFORMER = types.SimpleNamespace(
    tokenizer=LinformerTokenizer,
    masked_lm_preprocessor=LinformerMaskedLMPreprocessor,
    text_classifier_preprocessor=LinformerTextClassifierPreprocessor,
    masked_lm=LinformerMaskedLM,
    text_classifier=LinformerTextClassifier,
)
_STANDARD = types.SimpleNamespace(
    tokenizer=StandardTokenizer,
    masked_lm_preprocessor=StandardMaskedLMPreprocessor,
    text_classifier_preprocessor=StandardTextClassifierPreprocessor,
    masked_lm=StandardMaskedLM,
    text_classifier=StandardTextClassifier,
)


def task_classes(backbone_cls):
    """The tokenizer, preprocessor and task classes for a backbone class:
    the Linformer ones, or for `RobertaBackbone` the standard ones."""
    if issubclass(backbone_cls, RobertaBackbone):
        return _STANDARD
    return _LINFORMER

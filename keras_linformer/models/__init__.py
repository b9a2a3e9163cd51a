"""Linformer models in keras_hub's conventions: backbone, tokenizer, tasks."""

from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_byte_tokenizer import (
    LinformerByteTokenizer,
)
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
from keras_linformer.models.standard_baseline import StandardMaskedLM
from keras_linformer.models.standard_baseline import (
    StandardMaskedLMPreprocessor,
)
from keras_linformer.models.standard_baseline import StandardTextClassifier
from keras_linformer.models.standard_baseline import (
    StandardTextClassifierPreprocessor,
)
from keras_linformer.models.standard_baseline import StandardTokenizer
from keras_linformer.models.standard_baseline import task_classes
from keras_linformer.models.vocabulary import SPECIAL_TOKENS
from keras_linformer.models.vocabulary import learn_vocabulary

__all__ = [
    "LinformerBackbone",
    "LinformerByteTokenizer",
    "LinformerMaskedLM",
    "LinformerMaskedLMPreprocessor",
    "LinformerTextClassifier",
    "LinformerTextClassifierPreprocessor",
    "LinformerTokenizer",
    "SPECIAL_TOKENS",
    "StandardMaskedLM",
    "StandardMaskedLMPreprocessor",
    "StandardTextClassifier",
    "StandardTextClassifierPreprocessor",
    "StandardTokenizer",
    "learn_vocabulary",
    "task_classes",
]

"""Linformer models in keras_hub's conventions: backbone, tokenizer, tasks."""

from keras_linformer.models.linformer_backbone import LinformerBackbone
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
from keras_linformer.models.vocabulary import SPECIAL_TOKENS
from keras_linformer.models.vocabulary import learn_vocabulary

__all__ = [
    "LinformerBackbone",
    "LinformerMaskedLM",
    "LinformerMaskedLMPreprocessor",
    "LinformerTextClassifier",
    "LinformerTextClassifierPreprocessor",
    "LinformerTokenizer",
    "SPECIAL_TOKENS",
    "learn_vocabulary",
]

"""Masked language modeling preprocessing for Linformer models."""

import keras
from keras_hub.models import MaskedLMPreprocessor

from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_tokenizer import LinformerTokenizer
from keras_linformer.models.task_utils import BackboneInputsMixin


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerMaskedLMPreprocessor(BackboneInputsMixin, MaskedLMPreprocessor):
    """Tokenizes, packs and masks text for `LinformerMaskedLM`.

    keras_hub's `MaskedLMPreprocessor` (same arguments: `tokenizer`,
    `sequence_length`, `truncate`, `mask_selection_rate`,
    `mask_selection_length`, `mask_token_rate`, `random_token_rate`),
    returning `x` with `"token_ids"`, `"padding_mask"` and
    `"mask_positions"` only (the backbone has no segment input).
    `sequence_length` must not exceed the backbone's n; `from_preset()`
    defaults it to that n.

    Example:

    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox"]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    preprocessor = keras_linformer.models.LinformerMaskedLMPreprocessor(
        tokenizer, sequence_length=16
    )
    x, y, sample_weight = preprocessor(["the fox", "the"])
    ```
    """

    backbone_cls = LinformerBackbone
    tokenizer_cls = LinformerTokenizer

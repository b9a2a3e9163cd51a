"""Text classification preprocessing for Linformer models."""

import keras
from keras_hub.models import TextClassifierPreprocessor

from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_tokenizer import LinformerTokenizer
from keras_linformer.models.task_utils import BackboneInputsMixin


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerTextClassifierPreprocessor(
    BackboneInputsMixin, TextClassifierPreprocessor
):
    """Tokenizes and packs text for `LinformerTextClassifier`.

    keras_hub's `TextClassifierPreprocessor` (same arguments: `tokenizer`,
    `sequence_length`, `truncate`), returning `"token_ids"` and
    `"padding_mask"` only (the backbone has no segment input); `y` and
    `sample_weight` pass through. `sequence_length` must not exceed the
    backbone's n; `from_preset()` defaults it to that n.

    Example:

    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox"]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    preprocessor = keras_linformer.models.LinformerTextClassifierPreprocessor(
        tokenizer, sequence_length=16
    )
    x = preprocessor(["the fox", "the"])
    ```
    """

    backbone_cls = LinformerBackbone
    tokenizer_cls = LinformerTokenizer

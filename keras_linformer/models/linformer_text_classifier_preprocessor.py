"""Text classification preprocessing for Linformer models."""

import keras
from keras_hub.models import TextClassifierPreprocessor

from keras_linformer import upstream
from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_tokenizer import LinformerTokenizer
from keras_linformer.models.task_utils import backbone_inputs
from keras_linformer.models.task_utils import with_backbone_sequence_length


@keras.saving.register_keras_serializable(package="keras_linformer")
# From a preset without a preprocessor config, pack to the backbone's n.
@upstream.fill_preset_kwargs(with_backbone_sequence_length)
class LinformerTextClassifierPreprocessor(TextClassifierPreprocessor):
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

    def call(self, x, y=None, sample_weight=None):
        return backbone_inputs(
            super().call(x, y=y, sample_weight=sample_weight)
        )

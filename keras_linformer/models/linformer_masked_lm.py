"""Linformer masked language model (RoBERTa-style pretraining task)."""

import keras
from keras_hub.layers import MaskedLMHead
from keras_hub.models import MaskedLM

from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_backbone import (
    linformer_kernel_initializer,
)
from keras_linformer.models.linformer_masked_lm_preprocessor import (
    LinformerMaskedLMPreprocessor,
)
from keras_linformer.models.task_utils import PresetWithoutOptimizerMixin
from keras_linformer.models.task_utils import check_preprocessor_fits_backbone


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerMaskedLM(PresetWithoutOptimizerMixin, MaskedLM):
    """A Linformer masked language model: keras_hub's `MaskedLM` with a
    `MaskedLMHead` (gelu) tied to the backbone's token embedding.

    Args:
        backbone: a `LinformerBackbone`.
        preprocessor: a `LinformerMaskedLMPreprocessor` or `None` (inputs
            preprocessed beforehand). Its `sequence_length` must not exceed
            the backbone's n, nor its vocabulary the backbone's.

    Example:

    ```python
    masked_lm = keras_linformer.models.LinformerMaskedLM(
        backbone, preprocessor=preprocessor
    )
    masked_lm.fit(tf.data.TextLineDataset(["corpus.txt"]).batch(32))
    masked_lm.save_to_preset("./my_linformer_preset")
    ```
    """

    backbone_cls = LinformerBackbone
    preprocessor_cls = LinformerMaskedLMPreprocessor

    def __init__(self, backbone, preprocessor=None, **kwargs):
        check_preprocessor_fits_backbone(preprocessor, backbone)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.masked_lm_head = MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size,
            token_embedding=backbone.token_embedding,
            intermediate_activation="gelu",
            kernel_initializer=linformer_kernel_initializer(),
            dtype=backbone.dtype_policy,
            name="mlm_head",
        )

        # === Functional Model ===
        inputs = {
            **backbone.input,
            "mask_positions": keras.Input(
                shape=(None,), dtype="int32", name="mask_positions"
            ),
        }
        backbone_outputs = backbone(backbone.input)
        outputs = self.masked_lm_head(
            backbone_outputs, inputs["mask_positions"]
        )
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

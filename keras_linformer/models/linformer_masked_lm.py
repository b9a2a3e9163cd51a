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
    """An end-to-end Linformer model for the masked language modeling task.

    This model will train a Linformer encoder on a masked language modeling
    task. The model will predict labels for a number of masked tokens in the
    input data. The output projection is tied to the backbone's token
    embedding (`keras_hub.layers.MaskedLMHead`, gelu, as in RoBERTa).

    This model can optionally be configured with a `preprocessor` layer, in
    which case inputs can be raw string features during `fit()`, `predict()`,
    and `evaluate()`. Inputs will be tokenized and dynamically masked during
    training and evaluation. This is done by default when creating the model
    with `from_preset()`.

    Args:
        backbone: A `keras_linformer.models.LinformerBackbone` instance.
        preprocessor: A `keras_linformer.models.LinformerMaskedLMPreprocessor`
            or `None`. If `None`, this model will not apply preprocessing, and
            inputs should be preprocessed before calling the model. Its
            `sequence_length` must not exceed the backbone's
            `max_sequence_length`, and its tokenizer must not have more tokens
            than the backbone's `vocabulary_size`.

    Examples:

    Raw string data.
    ```python
    files = ["corpus.txt"]
    vocabulary = keras_linformer.models.learn_vocabulary(files, 8000)
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary)
    preprocessor = keras_linformer.models.LinformerMaskedLMPreprocessor(
        tokenizer, sequence_length=128
    )
    backbone = keras_linformer.models.LinformerBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=4,
        num_heads=4,
        hidden_dim=256,
        intermediate_dim=512,
        max_sequence_length=128,
        projected_dim=32,
    )
    masked_lm = keras_linformer.models.LinformerMaskedLM(
        backbone, preprocessor=preprocessor
    )
    ds = tf.data.TextLineDataset(files).batch(32)
    masked_lm.fit(ds, epochs=1)

    # Re-compile (e.g., with a new learning rate).
    masked_lm.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(5e-5),
        weighted_metrics=["sparse_categorical_accuracy"],
    )
    # Access backbone programmatically (e.g., to change `trainable`).
    masked_lm.backbone.trainable = False

    # Save and load.
    masked_lm.save_to_preset("./my_linformer_preset")
    masked_lm = keras_linformer.models.LinformerMaskedLM.from_preset(
        "./my_linformer_preset"
    )
    ```

    Preprocessed integer data.
    ```python
    # Create a preprocessed dataset where 4 is the mask token.
    features = {
        "token_ids": np.array([[2, 5, 4, 7, 4, 9, 10, 3]] * 2),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 1, 1]] * 2),
        "mask_positions": np.array([[2, 4]] * 2)
    }
    # Labels are the original masked values.
    labels = [[6, 8]] * 2

    masked_lm = keras_linformer.models.LinformerMaskedLM(backbone)
    masked_lm.fit(x=features, y=labels, batch_size=2)
    ```
    """

    backbone_cls = LinformerBackbone
    preprocessor_cls = LinformerMaskedLMPreprocessor

    def __init__(
        self,
        backbone,
        preprocessor=None,
        **kwargs,
    ):
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
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            **kwargs,
        )

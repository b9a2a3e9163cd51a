"""Linformer text classifier (RoBERTa-style classification head)."""

import keras
from keras_hub.models import TextClassifier

from keras_linformer.models.linformer_backbone import LinformerBackbone
from keras_linformer.models.linformer_backbone import (
    linformer_kernel_initializer,
)
from keras_linformer.models.linformer_text_classifier_preprocessor import (
    LinformerTextClassifierPreprocessor,
)
from keras_linformer.models.task_utils import PresetWithoutOptimizerMixin
from keras_linformer.models.task_utils import check_preprocessor_fits_backbone


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerTextClassifier(PresetWithoutOptimizerMixin, TextClassifier):
    """An end-to-end Linformer model for classification tasks.

    This model attaches a classification head to a
    `keras_linformer.models.LinformerBackbone` instance, mapping from the
    backbone outputs to logits suitable for a classification task: the
    output at the `"[CLS]"` position goes through dropout, a tanh dense
    layer, dropout and a dense layer to `num_classes` logits (RoBERTa's
    head).

    This model can optionally be configured with a `preprocessor` layer, in
    which case it will automatically apply preprocessing to raw inputs during
    `fit()`, `predict()`, and `evaluate()`. This is done by default when
    creating the model with `from_preset()`.

    Args:
        backbone: A `keras_linformer.models.LinformerBackbone` instance.
        num_classes: int. Number of classes to predict.
        preprocessor: A
            `keras_linformer.models.LinformerTextClassifierPreprocessor` or
            `None`. If `None`, this model will not apply preprocessing, and
            inputs should be preprocessed before calling the model.
        activation: Optional `str` or callable. The activation function to use
            on the model outputs. Set `activation="softmax"` to return output
            probabilities. Defaults to `None`.
        hidden_dim: int. The size of the pooler layer. Defaults to the
            backbone's `hidden_dim`.
        dropout: float. The dropout probability value, applied to the pooled
            output, and after the first dense layer.

    Examples:

    Raw string data.
    ```python
    features = ["The quick brown fox jumped.", "I forgot my homework."]
    labels = [0, 3]

    # Fine-tune a pretrained preset (saved with `save_to_preset()`).
    classifier = keras_linformer.models.LinformerTextClassifier.from_preset(
        "./my_linformer_preset",
        num_classes=4,
    )
    classifier.fit(x=features, y=labels, batch_size=2)
    classifier.predict(x=features, batch_size=2)

    # Re-compile (e.g., with a new learning rate).
    classifier.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(5e-5),
    )
    # Access backbone programmatically (e.g., to change `trainable`).
    classifier.backbone.trainable = False
    # Fit again.
    classifier.fit(x=features, y=labels, batch_size=2)
    ```

    Preprocessed integer data.
    ```python
    features = {
        "token_ids": np.ones(shape=(2, 12), dtype="int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]] * 2),
    }
    labels = [0, 3]

    classifier = keras_linformer.models.LinformerTextClassifier.from_preset(
        "./my_linformer_preset",
        num_classes=4,
        preprocessor=None,
    )
    classifier.fit(x=features, y=labels, batch_size=2)
    ```

    Custom backbone and vocabulary.
    ```python
    features = ["a quick fox", "a fox quick"]
    labels = [0, 3]

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += ["a", "quick", "fox"]
    tokenizer = keras_linformer.models.LinformerTokenizer(vocabulary=vocab)
    preprocessor = (
        keras_linformer.models.LinformerTextClassifierPreprocessor(
            tokenizer=tokenizer,
            sequence_length=128,
        )
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
    classifier = keras_linformer.models.LinformerTextClassifier(
        backbone=backbone,
        preprocessor=preprocessor,
        num_classes=4,
    )
    classifier.fit(x=features, y=labels, batch_size=2)
    ```
    """

    backbone_cls = LinformerBackbone
    preprocessor_cls = LinformerTextClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        activation=None,
        hidden_dim=None,
        dropout=0.0,
        **kwargs,
    ):
        check_preprocessor_fits_backbone(preprocessor, backbone)
        # Set before `super().__init__()`, whose default `compile()` reads it
        # to pick `from_logits` (keras_hub's RoBERTa sets it after, so its
        # default loss is wrong for `activation="softmax"`).
        self.activation = keras.activations.get(activation)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.pooled_dropout = keras.layers.Dropout(
            dropout,
            dtype=backbone.dtype_policy,
            name="pooled_dropout",
        )
        hidden_dim = hidden_dim or backbone.hidden_dim
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            dtype=backbone.dtype_policy,
            name="pooled_dense",
        )
        self.output_dropout = keras.layers.Dropout(
            dropout,
            dtype=backbone.dtype_policy,
            name="output_dropout",
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=linformer_kernel_initializer(),
            activation=activation,
            dtype=backbone.dtype_policy,
            name="logits",
        )

        # === Functional Model ===
        inputs = backbone.input
        x = backbone(inputs)[:, backbone.start_token_index, :]
        x = self.pooled_dropout(x)
        x = self.pooled_dense(x)
        x = self.output_dropout(x)
        outputs = self.output_dense(x)
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            **kwargs,
        )

        # === Config ===
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.dropout = dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": keras.activations.serialize(self.activation),
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
            }
        )
        return config

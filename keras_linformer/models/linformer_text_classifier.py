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
from keras_linformer_options import POOLINGS


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerTextClassifier(PresetWithoutOptimizerMixin, TextClassifier):
    """A Linformer text classifier: keras_hub's `TextClassifier` with
    RoBERTa's head (the pooled output through dropout, a tanh dense layer,
    dropout and a dense layer to `num_classes` logits).

    The pooled output is the `"[CLS]"` position's (`pooling="cls"`, as
    RoBERTa), or the mean over every real position, the padding left out
    (`pooling="mean"`, the head of the Nystromformer re-run of the Long
    Range Arena). With the mean, each position reaches the logits
    directly, not only through what attention gathered at `"[CLS]"`, which
    in Linformer sees k projected positions; on long byte-level reviews it
    classified better (docs/results.md, "Long documents").

    Args:
        backbone: a `LinformerBackbone`.
        num_classes: int. Number of classes to predict.
        preprocessor: a `LinformerTextClassifierPreprocessor` or `None`
            (inputs preprocessed beforehand).
        activation: optional activation of the outputs (e.g. `"softmax"`);
            default `None`, logits.
        hidden_dim: int. The pooler's width; default: the backbone's.
        dropout: float. Dropout of the pooled output and the pooler's.
        pooling: `"cls"` (default) or `"mean"`, the sequence output the
            head reads (above).

    Example:

    ```python
    classifier = keras_linformer.models.LinformerTextClassifier.from_preset(
        "./my_linformer_preset", num_classes=4
    )
    classifier.fit(x=["a quick fox", "a slow dog"], y=[0, 3], batch_size=2)

    # A new head that averages the whole document.
    classifier = keras_linformer.models.LinformerTextClassifier.from_preset(
        "./my_linformer_preset", num_classes=2, pooling="mean"
    )
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
        pooling="cls",
        **kwargs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {POOLINGS}. "
                f"Received: pooling={pooling!r}."
            )
        check_preprocessor_fits_backbone(preprocessor, backbone)
        # Set before `super().__init__()`, whose default `compile()` reads it
        # to pick `from_logits` (keras_hub's RoBERTa sets it after, so its
        # default loss is wrong for `activation="softmax"`).
        self.activation = keras.activations.get(activation)
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        if pooling == "mean":
            # Keras' masked average: the sum over the positions whose mask
            # is 1, divided by their count.
            self.mean_pooling = keras.layers.GlobalAveragePooling1D(
                dtype=backbone.dtype_policy,
                name="mean_pooling",
            )
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
        sequence = backbone(inputs)
        if pooling == "mean":
            x = self.mean_pooling(sequence, mask=inputs["padding_mask"])
        else:
            x = sequence[:, backbone.start_token_index, :]
        x = self.pooled_dropout(x)
        x = self.pooled_dense(x)
        x = self.output_dropout(x)
        outputs = self.output_dense(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.pooling = pooling

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": keras.activations.serialize(self.activation),
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "pooling": self.pooling,
            }
        )
        return config

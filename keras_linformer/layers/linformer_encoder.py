"""Linformer encoder block: Linformer attention + feed-forward."""

import keras
from keras import initializers
from keras import ops

from keras_linformer.layers.linformer_attention import LinformerAttention
from keras_linformer.layers.linformer_attention import _clone_initializer
from keras_linformer.layers.linformer_attention import attention_output_spec
from keras_linformer.layers.linformer_attention import validate_attention_args
from keras_linformer.layers.projection_sharing import SharedProjectionMixin
from keras_linformer.layers.sequence_projection import check_sequence_length
from keras_linformer.projections import DEFAULT_PROJECTION


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerEncoder(SharedProjectionMixin, keras.layers.Layer):
    """A Transformer encoder block whose self-attention is Linformer's.

    Same arguments and sublayer names as `keras_hub.layers.TransformerEncoder`
    (so weights carry over from a standard encoder), plus the Linformer
    arguments of `LinformerAttention`.

    Args:
        intermediate_dim: int. Hidden size of the feed-forward network.
        num_heads: int. Number of attention heads.
        sequence_length, projected_dim, projection, sharing,
        shared_projection, projection_initializer: as in
            `LinformerAttention`.
        dropout, activation, layer_norm_epsilon, kernel_initializer,
        bias_initializer: as in `keras_hub.layers.TransformerEncoder`.
        normalize_first: bool. Pre-norm (`True`) or post-norm (`False`,
            as in BERT and RoBERTa).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: tensor of shape `(batch, L, hidden_dim)`, `L <= n`.
        padding_mask: `(batch, L)`, nonzero (true) at real positions.
        attention_mask: refused (see `LinformerAttention`).
        training: Python boolean, whether dropout is active.
        return_attention_scores: bool. Also return the attention weights.

    Returns:
        A tensor of the same shape as `inputs` and, if
        `return_attention_scores`, the `(batch, heads, L, k)` weights.

    Example:

    >>> import numpy as np
    >>> encoder = LinformerEncoder(
    ...     intermediate_dim=64, num_heads=2, sequence_length=32,
    ...     projected_dim=8,
    ... )
    >>> x = np.random.uniform(size=(2, 32, 16)).astype("float32")
    >>> tuple(encoder(x).shape)
    (2, 32, 16)
    """

    def __init__(
        self,
        intermediate_dim,
        num_heads,
        sequence_length,
        projected_dim,
        projection=DEFAULT_PROJECTION,
        sharing="headwise",
        shared_projection=None,
        dropout=0,
        activation="relu",
        layer_norm_epsilon=1e-05,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        projection_initializer=None,
        normalize_first=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validate_attention_args(
            sequence_length,
            projected_dim,
            projection,
            sharing,
            shared_projection,
        )
        self.intermediate_dim = intermediate_dim
        self.num_heads = num_heads
        self.sequence_length = sequence_length
        self.projected_dim = projected_dim
        self.projection = projection
        self.sharing = sharing
        self.shared_projection = shared_projection
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.projection_initializer = initializers.get(projection_initializer)
        self.normalize_first = normalize_first
        self.supports_masking = True

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        key_dim = int(hidden_dim // self.num_heads)
        if key_dim == 0:
            raise ValueError(
                f"The hidden size ({hidden_dim}) must be at least `num_heads` "
                f"({self.num_heads}), so that each head has a `key_dim`."
            )
        self._self_attention_layer = LinformerAttention(
            num_heads=self.num_heads,
            key_dim=key_dim,
            sequence_length=self.sequence_length,
            projected_dim=self.projected_dim,
            projection=self.projection,
            sharing=self.sharing,
            shared_projection=self.shared_projection,
            dropout=self.dropout,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            projection_initializer=self.projection_initializer,
            dtype=self.dtype_policy,
            name="self_attention_layer",
        )
        self._self_attention_layer.build(inputs_shape)
        self._self_attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="self_attention_layer_norm",
        )
        self._self_attention_layer_norm.build(inputs_shape)
        self._self_attention_dropout = keras.layers.Dropout(
            rate=self.dropout,
            dtype=self.dtype_policy,
            name="self_attention_dropout",
        )

        self._feedforward_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="feedforward_layer_norm",
        )
        self._feedforward_layer_norm.build(inputs_shape)
        self._feedforward_intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward_intermediate_dense",
        )
        self._feedforward_intermediate_dense.build(inputs_shape)
        self._feedforward_output_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward_output_dense",
        )
        intermediate_shape = tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        self._feedforward_output_dense.build(intermediate_shape)
        self._feedforward_dropout = keras.layers.Dropout(
            rate=self.dropout,
            dtype=self.dtype_policy,
            name="feedforward_dropout",
        )
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        check_sequence_length(inputs.shape[1], self.sequence_length, self.name)
        x = inputs

        # Self attention block.
        residual = x
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        attention_outputs = self._self_attention_layer(
            query=x,
            value=x,
            padding_mask=padding_mask,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            x, attention_scores = attention_outputs
        else:
            x = attention_outputs
        x = self._self_attention_dropout(x, training=training)
        x = x + residual
        if not self.normalize_first:
            x = self._self_attention_layer_norm(x)

        # Feedforward block.
        residual = x
        if self.normalize_first:
            x = self._feedforward_layer_norm(x)
        # On (batch * L, d) rows TensorFlow fuses the matmul, bias and
        # activation, which holds fewer copies of the (L x intermediate_dim)
        # activation than 3-D inputs (docs/design.md, "Models").
        sequence_shape = ops.shape(x)
        x = ops.reshape(x, (-1, sequence_shape[-1]))
        x = self._feedforward_intermediate_dense(x)
        x = self._feedforward_output_dense(x)
        x = ops.reshape(x, sequence_shape)
        x = self._feedforward_dropout(x, training=training)
        x = x + residual
        if not self.normalize_first:
            x = self._feedforward_layer_norm(x)

        if return_attention_scores:
            return x, attention_scores
        return x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def compute_output_spec(
        self, inputs, padding_mask=None, return_attention_scores=False, **kwargs
    ):
        # Refuse a too long input when the functional model is built.
        check_sequence_length(inputs.shape[1], self.sequence_length, self.name)
        return attention_output_spec(
            self, inputs.shape, return_attention_scores
        )

    def get_config(self):
        base_config = super().get_config()
        config = {
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "sequence_length": self.sequence_length,
            "projected_dim": self.projected_dim,
            "projection": self.projection,
            "sharing": self.sharing,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "projection_initializer": initializers.serialize(
                self.projection_initializer
            ),
            "normalize_first": self.normalize_first,
        }
        return {**base_config, **config}

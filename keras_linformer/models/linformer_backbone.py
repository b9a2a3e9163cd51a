"""A RoBERTa-style encoder whose self-attention is Linformer's."""

import keras
from keras_hub.layers import TokenAndPositionEmbedding
from keras_hub.models import Backbone

from keras_linformer.layers.linformer_encoder import LinformerEncoder
from keras_linformer.layers.sequence_projection import SequenceProjection
from keras_linformer.layers.sequence_projection import check_sequence_length
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import validate_projection
from keras_linformer.upstream import transformer_encoder_sublayers

# The attention layers' sublayers that `from_roberta` copies (all but E, F).
_DENSE_LAYERS = ("query_dense", "key_dense", "value_dense", "output_dense")


def linformer_kernel_initializer(stddev=0.02):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def per_layer_projected_dims(projected_dim, num_layers, sharing):
    """`projected_dim` as a list of one k per layer, validated."""
    if isinstance(projected_dim, (list, tuple)):
        if sharing == "layerwise":
            raise ValueError(
                "A list of `projected_dim` (one k per layer) cannot be used "
                "with `sharing='layerwise'`, where all layers share one "
                f"(n x k) matrix. Received: projected_dim={list(projected_dim)}"
            )
        if len(projected_dim) != num_layers:
            raise ValueError(
                "`projected_dim` as a list needs one k per layer: expected "
                f"{num_layers} values (num_layers={num_layers}), received "
                f"{len(projected_dim)}: {list(projected_dim)}"
            )
        return list(projected_dim)
    return [projected_dim] * num_layers


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerBackbone(Backbone):
    """A Linformer encoder network (RoBERTa layout, Linformer attention).

    Token and learned position embeddings, a layer normalization, then
    `num_layers` post-norm `LinformerEncoder` blocks. Keys and values of
    every block are projected along the sequence from n =
    `max_sequence_length` to k = `projected_dim`, so time and memory grow
    as O(n k) instead of O(n^2). Inputs are `token_ids` and `padding_mask`,
    int32 of shape `(batch, L)` with `L <= max_sequence_length`; the output
    is the sequence output `(batch, L, hidden_dim)`.

    Args:
        vocabulary_size: int. The size of the token vocabulary.
        num_layers: int. The number of encoder layers.
        num_heads: int. The number of attention heads in each layer.
        hidden_dim: int. The width of the encoder.
        intermediate_dim: int. The width of the feed-forward networks.
        max_sequence_length: int. n, the longest input accepted.
        projected_dim: int, or a list with one int per layer (the paper's
            nonuniform projected dimension; not with layerwise sharing).
        projection: string. `"sliding_max"` (the default: the max over
            k windows of the real positions of each document, so a padded
            document fills all k slots), `"max"`, `"mean"`, `"conv"` or the
            paper's `"linear"`; all but `"linear"` need n divisible by k.
            See `keras_linformer.layers.SequenceProjection`.
        sharing: string. `"none"`, `"headwise"`, `"key_value"` or
            `"layerwise"` (one projection for every layer of the model).
        dropout: float. Dropout rate of the embeddings and encoders.
        projection_initializer: initializer for E and F, `None` for the
            default of `SequenceProjection`.
        dtype: string or `keras.mixed_precision.DTypePolicy`. The dtype of
            computations and weights.

    Example:

    >>> backbone = LinformerBackbone(
    ...     vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=32,
    ...     intermediate_dim=64, max_sequence_length=128, projected_dim=16,
    ...     sharing="layerwise",
    ... )
    >>> outputs = backbone({
    ...     "token_ids": np.ones((1, 128), "int32"),
    ...     "padding_mask": np.ones((1, 128), "int32"),
    ... })
    >>> tuple(outputs.shape)
    (1, 128, 32)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length,
        projected_dim,
        projection=DEFAULT_PROJECTION,
        sharing="headwise",
        dropout=0.1,
        projection_initializer=None,
        dtype=None,
        **kwargs,
    ):
        projected_dims = per_layer_projected_dims(
            projected_dim, num_layers, sharing
        )
        for k in projected_dims:
            validate_projection(max_sequence_length, k, projection, sharing)

        # === Layers ===
        self.embeddings = TokenAndPositionEmbedding(
            vocabulary_size=vocabulary_size,
            sequence_length=max_sequence_length,
            embedding_dim=hidden_dim,
            embeddings_initializer=linformer_kernel_initializer(),
            dtype=dtype,
            name="embeddings",
        )
        self.token_embedding = self.embeddings.token_embedding
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            axis=-1,
            epsilon=1e-5,
            dtype=dtype,
            name="embeddings_layer_norm",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout,
            dtype=dtype,
            name="embeddings_dropout",
        )
        self.shared_projection = None
        if sharing == "layerwise":
            # One E for all layers, heads, keys and values.
            self.shared_projection = SequenceProjection(
                sequence_length=max_sequence_length,
                projected_dim=projected_dims[0],
                projection=projection,
                initializer=projection_initializer,
                dtype=dtype,
                name="shared_projection",
            )
        self.transformer_layers = []
        for i, layer_projected_dim in enumerate(projected_dims):
            layer = LinformerEncoder(
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                sequence_length=max_sequence_length,
                projected_dim=layer_projected_dim,
                projection=projection,
                sharing=sharing,
                shared_projection=self.shared_projection,
                activation="gelu",
                dropout=dropout,
                layer_norm_epsilon=1e-5,
                kernel_initializer=linformer_kernel_initializer(),
                projection_initializer=projection_initializer,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            self.transformer_layers.append(layer)

        # === Functional Model ===
        token_id_input = keras.Input(
            shape=(None,), dtype="int32", name="token_ids"
        )
        padding_mask_input = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        x = self.embeddings(token_id_input)
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=padding_mask_input)
        super().__init__(
            inputs={
                "token_ids": token_id_input,
                "padding_mask": padding_mask_input,
            },
            outputs=x,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.projected_dim = projected_dim
        self.projection = projection
        self.sharing = sharing
        self.dropout = dropout
        self.projection_initializer = keras.initializers.get(
            projection_initializer
        )
        self.start_token_index = 0

    def _check_sequence_length(self, inputs):
        # Without this, a too-long input fails inside the position embedding
        # with an opaque slice error ("Expected size[0] in [0, n]").
        for tensor in keras.tree.flatten(inputs):
            shape = getattr(tensor, "shape", None)
            if shape is not None and len(shape) >= 2:
                check_sequence_length(
                    shape[1],
                    self.max_sequence_length,
                    self.name,
                    argument="max_sequence_length",
                )

    def call(self, inputs, training=None, mask=None, **kwargs):
        self._check_sequence_length(inputs)
        return super().call(inputs, training=training, mask=mask, **kwargs)

    def compute_output_spec(self, inputs, training=None, mask=None):
        self._check_sequence_length(inputs)
        return super().compute_output_spec(inputs, training=training, mask=mask)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "max_sequence_length": self.max_sequence_length,
                "projected_dim": (
                    list(self.projected_dim)
                    if isinstance(self.projected_dim, (list, tuple))
                    else self.projected_dim
                ),
                "projection": self.projection,
                "sharing": self.sharing,
                "dropout": self.dropout,
                "projection_initializer": keras.initializers.serialize(
                    self.projection_initializer
                ),
            }
        )
        return config

    @classmethod
    def from_roberta(
        cls,
        roberta_backbone,
        projected_dim,
        projection=DEFAULT_PROJECTION,
        sharing="headwise",
        projection_initializer=None,
        dropout=None,
    ):
        """A Linformer backbone holding every weight of a RoBERTa backbone.

        Embeddings, attention (query, key, value, output), feed-forward and
        layer normalization weights are copied from a
        `keras_hub.models.RobertaBackbone`; only E and F are new. With
        `projected_dim = max_sequence_length` and an identity
        `projection_initializer`, the result computes the same function on
        full-length inputs.

        Example:

        >>> roberta = keras_hub.models.RobertaBackbone(
        ...     vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16,
        ...     intermediate_dim=32, max_sequence_length=64,
        ... )
        >>> linformer = LinformerBackbone.from_roberta(roberta, 16)
        >>> linformer.count_params() > roberta.count_params()
        True
        """
        source = roberta_backbone
        backbone = cls(
            vocabulary_size=source.vocabulary_size,
            num_layers=source.num_layers,
            num_heads=source.num_heads,
            hidden_dim=source.hidden_dim,
            intermediate_dim=source.intermediate_dim,
            max_sequence_length=source.max_sequence_length,
            projected_dim=projected_dim,
            projection=projection,
            sharing=sharing,
            dropout=source.dropout if dropout is None else dropout,
            projection_initializer=projection_initializer,
            dtype=source.dtype_policy,
        )
        pairs = [
            (source.embeddings, backbone.embeddings),
            (source.embeddings_layer_norm, backbone.embeddings_layer_norm),
        ]
        for layers in zip(
            source.transformer_layers, backbone.transformer_layers
        ):
            src, dst = map(transformer_encoder_sublayers, layers)
            attention = (src.pop("attention"), dst.pop("attention"))
            pairs += [(src[name], dst[name]) for name in src]
            pairs += [
                tuple(getattr(layer, name) for layer in attention)
                for name in _DENSE_LAYERS
            ]
        for src, dst in pairs:
            dst.set_weights(src.get_weights())
        return backbone

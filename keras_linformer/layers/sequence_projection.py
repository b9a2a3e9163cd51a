"""The E / F projection of Linformer: (batch, L, ...) -> (batch, k, ...)."""

import math

import keras
from keras import ops

PROJECTIONS = ("linear", "mean", "max", "conv")


def validate_projection_args(sequence_length, projected_dim, projection):
    """Raises a `ValueError` naming the values if (n, k, kind) is refused.

    Shared by `SequenceProjection`, `LinformerAttention` and
    `LinformerBackbone`, so that every entry point refuses the same inputs
    with the same message, at construction.
    """
    for name, value in (
        ("sequence_length", sequence_length),
        ("projected_dim", projected_dim),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{name}` must be a positive integer. Received: "
                f"{name}={value!r}"
            )
    if projection not in PROJECTIONS:
        raise ValueError(
            f"Unknown `projection`: {projection!r}. Expected one of "
            f"{PROJECTIONS}."
        )
    if projected_dim > sequence_length:
        raise ValueError(
            "`projected_dim` (k) must not exceed `sequence_length` (n). "
            f"Received: projected_dim={projected_dim}, "
            f"sequence_length={sequence_length}."
        )
    if projection != "linear" and sequence_length % projected_dim:
        raise ValueError(
            f"`projection={projection!r}` pools windows of n / k positions, "
            "so `sequence_length` (n) must be divisible by `projected_dim` "
            f"(k). Received: sequence_length={sequence_length}, "
            f"projected_dim={projected_dim}."
        )


@keras.saving.register_keras_serializable(package="keras_linformer")
class SequenceProjection(keras.layers.Layer):
    """Projects a sequence along its length from L <= n positions to k slots.

    This is Linformer's E (for keys) and F (for values). Given inputs of
    shape `(batch, L, ...)` and a padding mask, padded rows are zeroed (for
    pooling, excluded) and the sequence axis is reduced to `projected_dim`
    slots:

    - `"linear"`: a learned `(n, k)` matrix E; an input of length L < n uses
      its first L rows: `out = E[:L]^T (M * x)`.
    - `"mean"` / `"max"`: pooling over consecutive windows of `n / k`
      positions, padded positions excluded; no weights.
    - `"conv"`: a 1-D convolution along the sequence with kernel size and
      stride `n / k`, one kernel weight per window position, shared by all
      features (so E stays an `(n, k)` matrix, block-diagonal).

    With `num_heads` set, the layer holds one matrix (or convolution kernel)
    per head and expects inputs of shape `(batch, L, num_heads, dim)`. Pass
    one instance to several `LinformerAttention` layers to share it across
    layers (the paper's layerwise sharing).

    Args:
        sequence_length: int. n, the longest input length accepted.
        projected_dim: int. k, the number of slots after projection.
        projection: string. One of `"linear"`, `"mean"`, `"max"`, `"conv"`.
        num_heads: int or `None`. If set, one projection per head.
        initializer: initializer for the linear matrix or convolution kernel.
            Defaults to a truncated normal with standard deviation
            `1 / sqrt(positions per slot)` (n for linear, n / k for conv), so
            the norm of projected vectors does not grow with n.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: tensor of shape `(batch, L, ...)`, `L <= sequence_length`.
        padding_mask: optional boolean or int tensor of shape `(batch, L)`,
            true (1) at real positions.

    Returns:
        A tuple `(projected, slot_mask)`: `projected` has shape
        `(batch, k, ...)`; `slot_mask` is a boolean `(batch, k)` tensor that
        is true where a slot covers at least one real position (for
        `"linear"` every slot mixes all positions, so a row is all true
        unless the whole row is padding).

    Example:

    >>> projection = SequenceProjection(sequence_length=8, projected_dim=2)
    >>> x = np.ones((3, 8, 16), "float32")
    >>> projected, slot_mask = projection(x)
    >>> tuple(projected.shape), tuple(slot_mask.shape)
    ((3, 2, 16), (3, 2))
    """

    def __init__(
        self,
        sequence_length,
        projected_dim,
        projection="linear",
        num_heads=None,
        initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validate_projection_args(sequence_length, projected_dim, projection)
        if num_heads is not None and (
            not isinstance(num_heads, int) or num_heads < 1
        ):
            raise ValueError(
                "`num_heads` must be None or a positive integer. "
                f"Received: num_heads={num_heads!r}"
            )
        self.sequence_length = sequence_length
        self.projected_dim = projected_dim
        self.projection = projection
        self.num_heads = num_heads
        self.pool_size = sequence_length // projected_dim
        self.initializer = (
            keras.initializers.get(initializer) if initializer else None
        )

    @property
    def is_linear_map(self):
        """True where projecting commutes with a dense layer (not for max)."""
        return self.projection != "max"

    def _default_initializer(self):
        fan_in = (
            self.sequence_length
            if self.projection == "linear"
            else self.pool_size
        )
        return keras.initializers.TruncatedNormal(stddev=1 / math.sqrt(fan_in))

    def build(self, inputs_shape=None, padding_mask_shape=None):
        if self.projection in ("linear", "conv"):
            if self.projection == "linear":
                shape = (self.sequence_length, self.projected_dim)
            else:
                shape = (self.pool_size,)
            if self.num_heads is not None:
                shape = (self.num_heads,) + shape
            self.kernel = self.add_weight(
                name="kernel",
                shape=shape,
                initializer=self.initializer or self._default_initializer(),
                trainable=True,
            )
        self.built = True

    def _check_inputs(self, inputs):
        length = inputs.shape[1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"Input sequence length {length} is longer than the "
                f"`sequence_length` n={self.sequence_length} that "
                f"{self.name} was built for. Truncate inputs to at most "
                f"{self.sequence_length} positions."
            )
        if self.num_heads is not None and (
            len(inputs.shape) != 4 or inputs.shape[2] != self.num_heads
        ):
            raise ValueError(
                f"{self.name} holds one projection per head (num_heads="
                f"{self.num_heads}) and expects inputs of shape (batch, L, "
                f"{self.num_heads}, dim). Received: shape={inputs.shape}"
            )

    def _check_dynamic_length(self, length):
        """Refuses L > n where L is only known when the graph runs.

        Only TensorFlow traces graphs whose lengths are unknown (JAX and
        torch see concrete shapes, checked by `_check_inputs`); without
        this, a longer input fails deep inside a matmul or pad op.
        """
        if isinstance(length, int) or keras.backend.backend() != "tensorflow":
            return
        import tensorflow as tf

        # Assert is stateful, so tf.function runs it before its consumers.
        tf.debugging.assert_less_equal(
            length,
            tf.constant(self.sequence_length, length.dtype),
            message=f"Input sequence length is longer than the "
            f"`sequence_length` n={self.sequence_length} that {self.name} "
            f"was built for. Truncate inputs to at most "
            f"{self.sequence_length} positions.",
        )

    def call(self, inputs, padding_mask=None):
        self._check_inputs(inputs)
        batch_size, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        self._check_dynamic_length(length)
        if padding_mask is None:
            mask = ops.ones((batch_size, length), dtype=inputs.dtype)
        else:
            mask = ops.cast(padding_mask, inputs.dtype)
        # Zero padded rows first so that they never reach a slot.
        feature_axes = len(inputs.shape) - 2
        expanded_mask = ops.reshape(
            mask, (batch_size, length) + (1,) * feature_axes
        )
        inputs = inputs * expanded_mask

        if self.projection == "linear":
            return self._project_linear(inputs, mask, length)
        return self._project_windows(inputs, mask, length, feature_axes)

    def _project_linear(self, inputs, mask, length):
        kernel = ops.cast(self.kernel, inputs.dtype)
        if self.num_heads is None:
            # (k, L) @ (batch, L, ...) -> (batch, k, ...)
            kernel = ops.transpose(kernel[:length])
            flat = ops.reshape(inputs, (ops.shape(inputs)[0], length, -1))
            projected = ops.matmul(kernel, flat)
            projected = ops.reshape(
                projected,
                (ops.shape(inputs)[0], self.projected_dim)
                + tuple(ops.shape(inputs)[2:]),
            )
        else:
            projected = ops.einsum(
                "blhd,hlk->bkhd", inputs, kernel[:, :length, :]
            )
        any_real = ops.any(ops.cast(mask, "bool"), axis=1, keepdims=True)
        slot_mask = ops.broadcast_to(
            any_real, (ops.shape(inputs)[0], self.projected_dim)
        )
        return projected, slot_mask

    def _project_windows(self, inputs, mask, length, feature_axes):
        """Pooling and convolution: windows of `pool_size` positions."""
        batch_size = ops.shape(inputs)[0]
        feature_shape = tuple(ops.shape(inputs)[2:])
        # Pad the sequence to n so that slot j always covers the same
        # positions [j * w, (j + 1) * w), whatever L is.
        pad = self.sequence_length - length
        if not isinstance(pad, int) or pad > 0:
            inputs = ops.pad(
                inputs, [[0, 0], [0, pad]] + [[0, 0]] * feature_axes
            )
            mask = ops.pad(mask, [[0, 0], [0, pad]])
        window_shape = (batch_size, self.projected_dim, self.pool_size)
        windows = ops.reshape(inputs, window_shape + feature_shape)
        window_mask = ops.reshape(mask, window_shape)
        count = ops.sum(window_mask, axis=2)
        slot_mask = count > 0
        feature_ones = (1,) * feature_axes
        if self.projection == "mean":
            total = ops.sum(windows, axis=2)
            denominator = ops.maximum(count, 1)
            projected = total / ops.reshape(
                denominator, (batch_size, self.projected_dim) + feature_ones
            )
        elif self.projection == "max":
            real = ops.reshape(
                ops.cast(window_mask, "bool"), window_shape + feature_ones
            )
            # Padded positions must never win the max.
            lowest = ops.cast(float("-inf"), inputs.dtype)
            projected = ops.max(ops.where(real, windows, lowest), axis=2)
            filled = ops.reshape(
                slot_mask, (batch_size, self.projected_dim) + feature_ones
            )
            projected = ops.where(filled, projected, ops.zeros_like(projected))
        else:  # conv
            kernel = ops.cast(self.kernel, inputs.dtype)
            if self.num_heads is None:
                projected = ops.einsum("bkw...,w->bk...", windows, kernel)
            else:
                projected = ops.einsum("bkwhd,hw->bkhd", windows, kernel)
        return projected, slot_mask

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        batch_size = inputs_shape[0]
        projected_shape = (batch_size, self.projected_dim) + tuple(
            inputs_shape[2:]
        )
        return projected_shape, (batch_size, self.projected_dim)

    def compute_output_spec(self, inputs, padding_mask=None):
        self._check_inputs(inputs)
        projected_shape, slot_shape = self.compute_output_shape(inputs.shape)
        return (
            keras.KerasTensor(projected_shape, dtype=self.compute_dtype),
            keras.KerasTensor(slot_shape, dtype="bool"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "projected_dim": self.projected_dim,
                "projection": self.projection,
                "num_heads": self.num_heads,
                "initializer": keras.initializers.serialize(self.initializer)
                if self.initializer
                else None,
            }
        )
        return config

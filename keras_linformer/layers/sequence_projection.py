"""The E / F projection of Linformer: (batch, L, ...) -> (batch, k, ...)."""

import math

import keras
from keras import ops

from keras_linformer.initializers.window_mean import window_matrix

PROJECTIONS = (
    "linear",
    "scaled_linear",
    "softmax",
    "stretched_softmax",
    "mean",
    "max",
    "sliding_max",
    "conv",
)
# What the backbone and the command line use unless told otherwise: on IMDB
# fine-tuning with padded reviews, at n = 512 and 1024, "sliding_max" (k
# windows of n / k positions spread over each document's real length) is
# within 0.5 points of the standard model or above it, at k = 128 and 256;
# max pooling is up to 1.5 points behind at n = 1024, the paper's "linear"
# 5 to 14 points and "softmax" up to 2.4 points (docs/results.md). The
# layers keep the paper's "linear" as their default, as DESIGN.md's
# signatures have it.
DEFAULT_PROJECTION = "sliding_max"
# Kinds whose slots are windows of n / k positions: n % k must be 0.
WINDOWED_PROJECTIONS = ("mean", "max", "sliding_max", "conv")
# Kinds without weights (pooling).
WEIGHTLESS_PROJECTIONS = ("mean", "max", "sliding_max")
# Kinds whose fed slots are averages (weights summing to 1): E^T 1 is the
# slot mask itself, so the bias term needs no second projection.
NORMALIZED_PROJECTIONS = ("softmax", "stretched_softmax", "mean")
# Kinds that hold an (n, k) matrix (of weights or of logits).
MATRIX_PROJECTIONS = ("linear", "scaled_linear", "softmax", "stretched_softmax")
# Kinds whose (n, k) logits give each slot a softmax over the real rows.
SOFTMAX_PROJECTIONS = ("softmax", "stretched_softmax")
# Kinds whose weights are the (n, k) matrix E itself (not logits).
LINEAR_MATRIX_PROJECTIONS = tuple(
    kind for kind in MATRIX_PROJECTIONS if kind not in SOFTMAX_PROJECTIONS
)
# Kinds that are not a linear map of the inputs: they cannot be applied
# before the key and value dense layers.
NONLINEAR_PROJECTIONS = ("max", "sliding_max")
# At initialization a softmax slot puts this share of its weight on its own
# window of n / k positions (the rest spread evenly over the other rows).
SOFTMAX_WINDOW_SHARE = 0.95


def validate_projection_kind(projection):
    """Raises a `ValueError` naming `projection` unless it is a known kind.

    Example:

    >>> validate_projection_kind("max")
    >>> validate_projection_kind("pool")
    Traceback (most recent call last):
    ...
    ValueError: Unknown `projection`: 'pool'. Expected one of ...
    """
    if projection not in PROJECTIONS:
        raise ValueError(
            f"Unknown `projection`: {projection!r}. Expected one of "
            f"{PROJECTIONS}."
        )


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
    validate_projection_kind(projection)
    if projected_dim > sequence_length:
        raise ValueError(
            "`projected_dim` (k) must not exceed `sequence_length` (n). "
            f"Received: projected_dim={projected_dim}, "
            f"sequence_length={sequence_length}."
        )
    if projection in WINDOWED_PROJECTIONS and sequence_length % projected_dim:
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
      its first L rows: `out = E[:L]^T (M * x)`. The paper's projection.
      Its output scale grows as `sqrt(L_real / n)` with the number of real
      positions L_real, so short padded documents give small keys and
      values.
    - `"scaled_linear"`: `"linear"` times `sqrt(n / L_real)` for each
      example, so the output scale no longer depends on L_real.
    - `"softmax"`: a learned `(n, k)` matrix of logits A; slot j is the
      average of the real rows weighted by a softmax of `A[:, j]` over the
      real rows only. Each slot is a convex combination of real positions
      whatever L_real is (padding changes nothing by construction). A starts
      as window means: slot j puts 95% of its weight evenly on positions
      `[j n / k, (j + 1) n / k)`, the rest evenly on the other rows. A
      learnable generalization of `"mean"`.
    - `"stretched_softmax"`: `"softmax"` with A stretched over the real
      positions instead of sliced to the first L rows: the real position of
      rank r (0-based, among L_real) reads row `floor((r + 1/2) n / L_real)`
      of A. So every document, short or long, spreads over all k slots:
      with the window-mean start, a slot averages about `L_real / k`
      positions, and a document of at most k real positions keeps one slot
      per position. On a full block it equals `"softmax"`. Measured on
      IMDB at n = 1024 it did not beat `"softmax"`, and in one of two seeds
      fine-tuning never left chance (docs/results.md): prefer `"softmax"`.
    - `"mean"` / `"max"`: pooling over consecutive windows of `n / k`
      positions, padded positions excluded; no weights.
    - `"sliding_max"`: `"max"` over k windows of `w = n / k` consecutive
      real positions whose starts are spread evenly over the document:
      slot j covers the real positions of rank `[s_j, s_j + w)` with
      `s_j = floor(j (L_real - w) / (k - 1))`. On a full block the windows
      are `"max"`'s; a shorter document still fills all k slots, with
      overlapping windows of the same width (so the same statistics:
      a maximum over w positions) instead of leaving `k (1 - L_real / n)`
      slots to padding.
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
        projection: string. One of `"linear"`, `"scaled_linear"`,
            `"softmax"`, `"stretched_softmax"`, `"mean"`, `"max"`,
            `"sliding_max"`, `"conv"`.
        num_heads: int or `None`. If set, one projection per head.
        initializer: initializer for the matrix (linear kinds), the logits
            (`"softmax"`) or the convolution kernel. Defaults to a truncated
            normal with standard deviation `1 / sqrt(positions per slot)`
            (n for the linear kinds, n / k for conv), so the norm of
            projected vectors does not grow with n; and to window-mean
            logits for the softmax kinds.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: tensor of shape `(batch, L, ...)`, `L <= sequence_length`.
        padding_mask: optional boolean or int tensor of shape `(batch, L)`,
            true (1) at real positions.

    Returns:
        A tuple `(projected, slot_mask)`: `projected` has shape
        `(batch, k, ...)`; `slot_mask` is a boolean tensor of shape
        `(batch, k)`, or `(batch, num_heads, k)` with `num_heads` set, that
        is true where at least one real position has a nonzero weight into
        the slot. The rule is the same for every kind: a dense learned
        matrix masks nothing (unless the whole row is padding); an identity
        matrix at k = n, or a pooling window over padding only, masks the
        slot.

    Example:

    >>> import numpy as np
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
        """True where projecting commutes with a dense layer (not for the
        max kinds)."""
        return self.projection not in NONLINEAR_PROJECTIONS

    def _default_initializer(self):
        if self.projection in SOFTMAX_PROJECTIONS:
            return self._window_mean_logits
        fan_in = (
            self.pool_size
            if self.projection == "conv"
            else self.sequence_length
        )
        return keras.initializers.TruncatedNormal(stddev=1 / math.sqrt(fan_in))

    def _window_mean_logits(self, shape, dtype=None):
        """Logits 0 inside slot j's window, -gap outside (softmax kinds).

        Position l belongs to window floor(l k / n). The gap puts
        `SOFTMAX_WINDOW_SHARE` of a full-length slot's weight on its window.
        """
        n, k = self.sequence_length, self.projected_dim
        width = n / k
        share = SOFTMAX_WINDOW_SHARE
        gap = math.log(share * max(n - width, 1.0) / ((1 - share) * width))
        # One (n, k) block per head.
        return window_matrix(shape, inside=0.0, outside=-gap, dtype=dtype)

    def build(self, inputs_shape=None, padding_mask_shape=None):
        if self.projection not in WEIGHTLESS_PROJECTIONS:
            if self.projection in MATRIX_PROJECTIONS:
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
                f"{self.num_heads}, dim). Received: "
                f"shape={tuple(inputs.shape)}"
            )

    def _check_dynamic_length(self, length):
        """Refuses L > n where L is only known when the graph runs.

        Only TensorFlow traces graphs whose lengths are unknown (JAX and
        torch see concrete shapes, checked by `_check_inputs`); without
        this, a longer input fails deep inside a matmul or pad op. Returns
        the length, made to depend on the check, so that every op that
        slices E or pads to n runs after it.
        """
        if isinstance(length, int) or keras.backend.backend() != "tensorflow":
            return length
        import tensorflow as tf

        check = tf.debugging.assert_less_equal(
            length,
            tf.constant(self.sequence_length, length.dtype),
            message=f"Input sequence length is longer than the "
            f"`sequence_length` n={self.sequence_length} that {self.name} "
            f"was built for. Truncate inputs to at most "
            f"{self.sequence_length} positions.",
        )
        with tf.control_dependencies([check]):
            return tf.identity(length)

    def call(self, inputs, padding_mask=None):
        self._check_inputs(inputs)
        batch_size = ops.shape(inputs)[0]
        length = self._check_dynamic_length(ops.shape(inputs)[1])
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

        if self.projection in MATRIX_PROJECTIONS:
            projected, slot_mask = self._project_matrix(inputs, mask, length)
        elif self.projection == "sliding_max":
            projected, slot_mask = self._project_sliding_windows(
                inputs, mask, length
            )
        else:
            projected, slot_mask = self._project_windows(
                inputs, mask, length, feature_axes
            )
        if self.num_heads is not None and len(slot_mask.shape) == 2:
            slot_mask = ops.broadcast_to(
                slot_mask[:, None, :],
                (batch_size, self.num_heads, self.projected_dim),
            )
        return projected, slot_mask

    def _project_matrix(self, inputs, mask, length):
        """The linear and softmax kinds: an (L, k) matrix per example
        (shared by the batch for the linear kinds)."""
        if self.projection in SOFTMAX_PROJECTIONS:
            return self._project_softmax(inputs, mask, length)
        batch_size = ops.shape(inputs)[0]
        # (n, k) or (heads, n, k), sliced to the first L rows.
        kernel = ops.cast(self.kernel, inputs.dtype)[..., :length, :]
        if self.num_heads is None:
            # (k, L) @ (batch, L, ...) -> (batch, k, ...)
            flat = ops.reshape(
                inputs, (batch_size, length, math.prod(inputs.shape[2:]))
            )
            projected = ops.matmul(ops.transpose(kernel), flat)
            projected = ops.reshape(
                projected,
                (batch_size, self.projected_dim) + tuple(ops.shape(inputs)[2:]),
            )
            # Slot j is fed iff a real row has a nonzero E[l, j].
            nonzero = ops.cast(ops.not_equal(kernel, 0), mask.dtype)
            fed = ops.matmul(mask, nonzero)
        else:
            projected = ops.einsum("blhd,hlk->bkhd", inputs, kernel)
            nonzero = ops.cast(ops.not_equal(kernel, 0), mask.dtype)
            fed = ops.einsum("bl,hlk->bhk", mask, nonzero)
        if self.projection == "scaled_linear":
            projected = projected * self._length_scale(mask, projected)
        return projected, fed > 0

    def _length_scale(self, mask, projected):
        """sqrt(n / L_real) per example, shaped to broadcast on `projected`."""
        real = ops.maximum(ops.sum(ops.cast(mask, "float32"), axis=1), 1.0)
        scale = ops.sqrt(self.sequence_length / real)
        scale = ops.cast(scale, projected.dtype)
        return ops.reshape(scale, (-1,) + (1,) * (len(projected.shape) - 1))

    def _stretched_rows(self, real):
        """The row of A that each position reads (`"stretched_softmax"`).

        The real position of rank r among L_real reads row
        `floor((r + 1/2) n / L_real)`: the centre of its share of the
        document, scaled to n. Padded positions get a row too; their
        weight is zeroed anyway. Returns int32 of shape (batch, L).
        """
        real = ops.cast(real, "float32")
        rank = ops.cumsum(real, axis=1) - 1.0
        count = ops.maximum(ops.sum(real, axis=1, keepdims=True), 1.0)
        rows = ops.floor((rank + 0.5) * self.sequence_length / count)
        return ops.cast(ops.clip(rows, 0, self.sequence_length - 1), "int32")

    def _softmax_logits(self, real, length):
        """Each example's logits, slots first and rows last, float32.

        `(batch, k, L)`, or `(batch, heads, k, L)` with `num_heads` set.
        Slots first: the softmax runs over the last axis and the weights
        multiply the inputs without a transpose (a softmax over another
        axis costs transposes on every call). float32: the exp overflows in
        float16; the weights are small next to the inputs.
        """
        table = ops.cast(self.kernel, "float32")  # (n, k) or (heads, n, k)
        if self.projection == "softmax":
            # The first L rows, the same for every example.
            return ops.swapaxes(table[..., :length, :], -1, -2)[None]
        # (batch, L, k), or (heads, batch, L, k): one row per position.
        logits = ops.take(table, self._stretched_rows(real), axis=-2)
        if self.num_heads is None:
            return ops.swapaxes(logits, -1, -2)
        return ops.transpose(logits, (1, 0, 3, 2))

    def _project_softmax(self, inputs, mask, length):
        """Each slot: a softmax over the real rows of its logits column."""
        batch_size = ops.shape(inputs)[0]
        real = ops.cast(mask, "bool")
        logits = self._softmax_logits(real, length)
        if self.num_heads is None:
            real_rows = real[:, None, :]  # (batch, 1, L)
        else:
            real_rows = real[:, None, None, :]  # (batch, 1, 1, L)
        lowest = ops.cast(-1e9, "float32")
        weights = ops.softmax(ops.where(real_rows, logits, lowest))
        # A row with no real position: all-zero weights, not a uniform mix.
        weights = ops.cast(ops.where(real_rows, weights, 0.0), inputs.dtype)
        if self.num_heads is None:
            flat = ops.reshape(
                inputs, (batch_size, length, math.prod(inputs.shape[2:]))
            )
            projected = ops.reshape(
                ops.matmul(weights, flat),
                (batch_size, self.projected_dim) + tuple(ops.shape(inputs)[2:]),
            )
        else:
            projected = ops.einsum("bhkl,blhd->bkhd", weights, inputs)
        # Every real row has a positive weight into every slot.
        any_real = ops.any(real, axis=1, keepdims=True)
        slot_mask = ops.broadcast_to(any_real, (batch_size, self.projected_dim))
        return projected, slot_mask

    def _project_sliding_windows(self, inputs, mask, length):
        """`"sliding_max"`: slot j is the maximum, per feature, of the real
        positions of rank `[s_j, s_j + w)`, `s_j = floor(j (L_real - w) /
        (k - 1))` (0 where L_real <= w)."""
        if isinstance(length, int) and length > 0:
            return self._gather_sliding_windows(inputs, mask, length)
        # L = 0 (an empty request to a server) leaves the gather no row to
        # read: all slots are empty then. A branch, not a padding row, so
        # that nonempty inputs are not copied on every call.
        batch_size, k = ops.shape(inputs)[0], self.projected_dim
        empty = (
            ops.zeros(
                (batch_size, k) + tuple(ops.shape(inputs)[2:]), inputs.dtype
            ),
            ops.zeros((batch_size, k), "bool"),
        )
        if isinstance(length, int):
            return empty
        return ops.cond(
            length > 0,
            lambda: self._gather_sliding_windows(inputs, mask, length),
            lambda: empty,
        )

    def _gather_sliding_windows(self, inputs, mask, length):
        """`_project_sliding_windows` for L > 0."""
        batch_size = ops.shape(inputs)[0]
        feature_shape = tuple(ops.shape(inputs)[2:])
        k, w = self.projected_dim, self.pool_size
        real = ops.cast(mask, "bool")
        count = ops.sum(ops.cast(real, "int32"), axis=1, keepdims=True)
        # The positions in rank order: real ones first, each group in order.
        positions = ops.arange(length, dtype="int32")[None, :]
        order = ops.argsort(ops.where(real, positions, positions + length))
        # int32: exact while n k < 2**31.
        spread = ops.maximum(count - w, 0)
        starts = ops.floor_divide(
            ops.arange(k, dtype="int32")[None, :] * spread, max(k - 1, 1)
        )
        ranks = starts[:, :, None] + ops.arange(w, dtype="int32")[None, None]
        valid = ranks < count[:, :, None]  # (batch, k, w)
        ranks = ops.reshape(ops.minimum(ranks, length - 1), (batch_size, -1))
        rows = ops.take_along_axis(ops.cast(order, "int32"), ranks, axis=1)
        rows = rows + ops.arange(batch_size, dtype="int32")[:, None] * length
        windows = ops.take(
            ops.reshape(inputs, (-1,) + feature_shape),
            ops.reshape(rows, (-1,)),
            axis=0,
        )
        windows = ops.reshape(windows, (batch_size, k, w) + feature_shape)
        feature_ones = (1,) * len(feature_shape)
        valid = ops.reshape(valid, (batch_size, k, w) + feature_ones)
        lowest = ops.cast(float("-inf"), inputs.dtype)
        projected = ops.max(ops.where(valid, windows, lowest), axis=2)
        # Every slot of a document with a real position is fed.
        slot_mask = ops.broadcast_to(count > 0, (batch_size, k))
        filled = ops.reshape(slot_mask, (batch_size, k) + feature_ones)
        projected = ops.where(filled, projected, ops.zeros_like(projected))
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
            nonzero = ops.cast(ops.not_equal(kernel, 0), window_mask.dtype)
            if self.num_heads is None:
                projected = ops.einsum("bkw...,w->bk...", windows, kernel)
                fed = ops.einsum("bkw,w->bk", window_mask, nonzero)
            else:
                projected = ops.einsum("bkwhd,hw->bkhd", windows, kernel)
                fed = ops.einsum("bkw,hw->bhk", window_mask, nonzero)
            # A real position whose kernel weight is zero feeds nothing.
            slot_mask = fed > 0
        return projected, slot_mask

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        batch_size = inputs_shape[0]
        projected_shape = (batch_size, self.projected_dim) + tuple(
            inputs_shape[2:]
        )
        if self.num_heads is None:
            return projected_shape, (batch_size, self.projected_dim)
        return projected_shape, (batch_size, self.num_heads, self.projected_dim)

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

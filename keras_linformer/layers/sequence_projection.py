"""The E / F projection of Linformer: (batch, L, ...) -> (batch, k, ...)."""

import math

import keras
from keras import ops

from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import check_positive_int
from keras_linformer.projections import projection_kind
from keras_linformer.projections import validate_projection


def check_sequence_length(length, limit, owner, argument="sequence_length"):
    """Refuses an input of `length` positions where at most `limit` fit.

    `length` is an int, `None` (unknown: not checked) or, in a TensorFlow
    graph of unknown length, a scalar tensor: then the returned length
    depends on a `tf.debugging.assert_less_equal`, so that every op that
    slices E or pads to n runs after the check.
    """
    message = (
        f"is longer than {argument}={limit}, the longest input that "
        f"{owner!r} accepts. Truncate inputs to at most {limit} positions."
    )
    if length is None or isinstance(length, int):
        if length is not None and length > limit:
            raise ValueError(f"Input sequence length {length} {message}")
        return length
    if keras.backend.backend() != "tensorflow":
        return length
    import tensorflow as tf

    check = tf.debugging.assert_less_equal(
        length,
        tf.constant(limit, length.dtype),
        message=f"Input sequence length {message}",
    )
    with tf.control_dependencies([check]):
        return tf.identity(length)


def check_padding_mask(mask_shape, inputs_shape, inputs_name="inputs"):
    """Refuses a padding mask whose known (batch, L) is not the inputs'."""
    mask_shape, inputs_shape = tuple(mask_shape), tuple(inputs_shape)
    mismatch = len(mask_shape) != 2 or any(
        a is not None and b is not None and a != b
        for a, b in zip(mask_shape, inputs_shape[:2])
    )
    if mismatch:
        raise ValueError(
            "`padding_mask` must have the shape (batch, L) of the first "
            f"two axes of `{inputs_name}`. Received: padding_mask of shape "
            f"{mask_shape} for {inputs_name} of shape {inputs_shape}."
        )


@keras.saving.register_keras_serializable(package="keras_linformer")
class SequenceProjection(keras.layers.Layer):
    """Projects a sequence along its length from L <= n positions to k slots.

    This is Linformer's E (for keys) and F (for values). Padded rows are
    selected away first, so that no value there (NaN or inf included)
    reaches a slot. The kinds:

    - `"linear"`: the paper's learned `(n, k)` matrix E, of which an input
      of length L uses the first L rows. Its output shrinks as
      `sqrt(L_real / n)` with the number L_real of real positions.
    - `"mean"` / `"max"`: pooling over consecutive windows of `n / k`
      positions, padding excluded.
    - `"sliding_max"` (the default): `"max"` over k windows of `n / k` real
      positions, their starts spread evenly over the document, so that a
      short document still fills all k slots.
    - `"conv"`: a 1-D convolution with kernel size and stride `n / k`, one
      weight per window position, shared by all features.

    All kinds but `"linear"` need n divisible by k.

    Args:
        sequence_length: int. n, the longest input length accepted.
        projected_dim: int. k, the number of slots after projection.
        projection: string. One of the kinds above.
        num_heads: int or `None`. If set, one projection per head, on
            inputs of shape `(batch, L, num_heads, dim)`.
        initializer: initializer for the matrix (`"linear"`) or the
            convolution kernel (`"conv"`). The default keeps the norm of
            projected vectors from growing with n.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        inputs: tensor of shape `(batch, L, ...)`, `L <= sequence_length`.
        padding_mask: optional tensor of shape `(batch, L)`: nonzero (true)
            at real positions, 0 at padded ones.

    Returns:
        A tuple `(projected, slot_mask)`: `projected` of shape
        `(batch, k, ...)`, and a boolean `slot_mask` of shape `(batch, k)`
        (or `(batch, num_heads, k)`), true where a real position has a
        nonzero weight into the slot.

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
        projection=DEFAULT_PROJECTION,
        num_heads=None,
        initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validate_projection(sequence_length, projected_dim, projection)
        if num_heads is not None:
            check_positive_int("num_heads", num_heads)
        self.sequence_length = sequence_length
        self.projected_dim = projected_dim
        self.projection = projection
        self.kind = projection_kind(projection)
        self.num_heads = num_heads
        self.pool_size = sequence_length // projected_dim
        self.initializer = keras.initializers.get(initializer)

    def build(self, inputs_shape=None, padding_mask_shape=None):
        if not self.kind.weightless:
            if self.kind.matrix:
                shape = (self.sequence_length, self.projected_dim)
            else:  # conv: one weight per window position
                shape = (self.pool_size,)
            # Standard deviation 1 / sqrt(positions per slot).
            default = keras.initializers.TruncatedNormal(
                stddev=1 / math.sqrt(shape[0])
            )
            if self.num_heads is not None:
                shape = (self.num_heads,) + shape
            self.kernel = self.add_weight(
                name="kernel",
                shape=shape,
                initializer=self.initializer or default,
            )
        self.built = True

    def _check_inputs(self, inputs, padding_mask):
        inputs_shape = inputs.shape
        check_sequence_length(inputs_shape[1], self.sequence_length, self.name)
        if self.num_heads is not None and (
            len(inputs_shape) != 4 or inputs_shape[2] != self.num_heads
        ):
            raise ValueError(
                f"{self.name} has num_heads={self.num_heads}: it expects "
                f"inputs of shape (batch, L, {self.num_heads}, dim). "
                f"Received: shape={tuple(inputs_shape)}"
            )
        if padding_mask is not None:
            check_padding_mask(padding_mask.shape, inputs_shape)

    def call(self, inputs, padding_mask=None):
        if padding_mask is not None:
            padding_mask = ops.convert_to_tensor(padding_mask)
        self._check_inputs(inputs, padding_mask)
        batch_size = ops.shape(inputs)[0]
        length = check_sequence_length(
            ops.shape(inputs)[1], self.sequence_length, self.name
        )
        if padding_mask is None:
            real = ops.ones((batch_size, length), dtype="bool")
        else:
            real = ops.not_equal(padding_mask, 0)
        # A select, not a product, so that NaN or inf in padding goes too.
        feature_axes = len(inputs.shape) - 2
        feature_ones = (1,) * feature_axes
        inputs = ops.where(
            ops.reshape(real, (batch_size, length) + feature_ones),
            inputs,
            ops.zeros((), inputs.dtype),
        )
        mask = ops.cast(real, inputs.dtype)

        if self.kind.matrix:
            projected, slot_mask = self._project_matrix(inputs, mask, length)
        elif self.projection == "sliding_max":
            projected, slot_mask = self._project_sliding_windows(
                inputs, real, length
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
        """`"linear"`: E[:L]^T x, with E shared by the batch."""
        batch_size = ops.shape(inputs)[0]
        # (n, k) or (heads, n, k), sliced to the first L rows.
        kernel = ops.cast(self.kernel, inputs.dtype)[..., :length, :]
        nonzero = ops.cast(ops.not_equal(kernel, 0), mask.dtype)
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
            fed = ops.matmul(mask, nonzero)
        else:
            projected = ops.einsum("blhd,hlk->bkhd", inputs, kernel)
            fed = ops.einsum("bl,hlk->bhk", mask, nonzero)
        return projected, fed > 0

    def _project_sliding_windows(self, inputs, real, length):
        """`"sliding_max"`: slot j is the maximum, per feature, of the real
        positions of rank `[s_j, s_j + w)`, `s_j = floor(j (L_real - w) /
        (k - 1))` (0 where L_real <= w).

        Two exact ways, chosen by the batch length L: gathering the k
        windows reads k w = n rows whatever L is; a table of running maxima
        reads about `log2(w) L`. The table is cheaper for short batches of a
        long n (length buckets make most batches short), the gather for
        batches near n.
        """
        if isinstance(length, int):
            if self._table_is_cheaper(length):
                return self._sliding_windows_by_table(inputs, real, length)
            return self._sliding_windows_by_gather(inputs, real, length)
        return ops.cond(
            self._table_is_cheaper(length),
            lambda: self._sliding_windows_by_table(inputs, real, length),
            lambda: self._sliding_windows_by_gather(inputs, real, length),
        )

    def _table_is_cheaper(self, length):
        """Whether `levels L < 1.5 n`: a row of the table costs about two
        thirds of a gathered one (`python -m benchmarks.sliding_max`). An
        empty batch (L = 0) goes to the table, which needs no row."""
        levels = max(self.pool_size.bit_length() - 1, 1)
        return 2 * levels * length < 3 * self.sequence_length

    def _ranks_and_starts(self, real, length):
        """Each example's real positions in order, then its padded ones, as
        rows of the flattened batch (flat); where each example's rows start
        there; the number of real positions; and the first rank of each
        slot's window."""
        batch_size = ops.shape(real)[0]
        k, w = self.projected_dim, self.pool_size
        count = ops.sum(ops.cast(real, "int32"), axis=1, keepdims=True)
        # Each example's rows start at `offsets` in the flattened batch.
        offsets = ops.arange(batch_size, dtype="int32")[:, None] * length
        positions = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
        order = ops.argsort(ops.where(real, positions, positions + length))
        order = ops.reshape(ops.cast(order, "int32") + offsets, (-1,))
        # int32: exact while n k < 2**31.
        spread = ops.maximum(count - w, 0)
        starts = ops.floor_divide(
            ops.arange(k, dtype="int32")[None, :] * spread, max(k - 1, 1)
        )
        return order, offsets, count, starts

    def _sliding_windows_by_gather(self, inputs, real, length):
        """Gathers the k windows of w rows and takes their masked maximum.
        L > 0 (the table takes L = 0)."""
        batch_size = ops.shape(inputs)[0]
        feature_shape = tuple(ops.shape(inputs)[2:])
        feature_ones = (1,) * len(feature_shape)
        k, w = self.projected_dim, self.pool_size
        order, offsets, count, starts = self._ranks_and_starts(real, length)
        ranks = ops.expand_dims(starts, 2) + ops.arange(w, dtype="int32")
        valid = ranks < ops.expand_dims(count, 2)  # (batch, k, w)
        ranks = ops.reshape(ops.minimum(ranks, length - 1), (batch_size, k * w))
        rows = ops.take(order, ranks + offsets)
        windows = ops.take(
            ops.reshape(inputs, (-1,) + feature_shape),
            ops.reshape(rows, (-1,)),
            axis=0,
        )
        windows = ops.reshape(windows, (batch_size, k, w) + feature_shape)
        valid = ops.reshape(valid, (batch_size, k, w) + feature_ones)
        projected = _masked_max(windows, valid)
        # Every slot of a document with a real position is fed.
        slot_mask = ops.broadcast_to(count > 0, (batch_size, k))
        return projected, slot_mask

    def _sliding_windows_by_table(self, inputs, real, length):
        """A sparse table: at level t, row i holds the maximum of ranks
        `[i, i + 2**t)`; a window of w is the larger of two rows of the
        last level, `2**t <= w`, that overlap to cover it.

        The table runs outside the gradient and only finds the rank of
        each maximum (going down the levels); the projection then reads the
        maxima there, so that the backward pass is one scatter of k rows (a
        tie sends the gradient to the first of the tied ranks, where the
        gather splits it among them).
        """
        batch_size = ops.shape(inputs)[0]
        feature_shape = tuple(ops.shape(inputs)[2:])
        features = math.prod(inputs.shape[2:])
        k, w = self.projected_dim, self.pool_size
        order, _, count, starts = self._ranks_and_starts(real, length)
        ranked = ops.take(ops.reshape(inputs, (-1, features)), order, axis=0)
        ranked = ops.reshape(ranked, (batch_size, length, features))
        # A window reaches rank max(L_real, w) - 1: pad a batch shorter
        # than w to w rows.
        if isinstance(length, int):
            rows = max(length, w)
        else:
            rows = ops.maximum(length, w)
        if not isinstance(rows, int) or rows > length:
            ranked = ops.pad(ranked, [[0, 0], [0, rows - length], [0, 0]])
        is_real = ops.arange(rows, dtype="int32")[None, :] < count
        lowest = ops.cast(float("-inf"), inputs.dtype)
        ranked = ops.where(ops.expand_dims(is_real, 2), ranked, lowest)
        # Level t holds the maxima of ranks [i, i + 2**t).
        levels = [ops.stop_gradient(ranked)]
        span = 1
        while 2 * span <= w:
            table = levels[-1]
            levels.append(ops.maximum(table[:, :-span], table[:, span:]))
            span *= 2
        starts = ops.broadcast_to(
            ops.expand_dims(starts, 2), (batch_size, k, features)
        )
        # The entry of the last level that holds the window's maximum...
        position = starts
        maximum = _take_at(levels[-1], starts)
        if span < w:
            ends = starts + (w - span)
            at_end = _take_at(levels[-1], ends)
            position = ops.where(at_end > maximum, ends, starts)
            maximum = ops.maximum(maximum, at_end)
        # ... then down the levels to its rank: the left half where it
        # holds the maximum (the first of tied ranks), else the right.
        for level in reversed(range(len(levels) - 1)):
            left = _take_at(levels[level], position)
            position = ops.where(left < maximum, position + 2**level, position)
        projected = _take_at(ranked, position)
        filled = ops.reshape(count > 0, (batch_size, 1, 1))
        projected = ops.where(filled, projected, ops.zeros((), inputs.dtype))
        projected = ops.reshape(projected, (batch_size, k) + feature_shape)
        slot_mask = ops.broadcast_to(count > 0, (batch_size, k))
        return projected, slot_mask

    def _project_windows(self, inputs, mask, length, feature_axes):
        """`"mean"`, `"max"` and `"conv"`: windows of `pool_size` positions."""
        batch_size = ops.shape(inputs)[0]
        feature_shape = tuple(ops.shape(inputs)[2:])
        feature_ones = (1,) * feature_axes
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
        if self.projection == "mean":
            denominator = ops.reshape(
                ops.maximum(count, 1),
                (batch_size, self.projected_dim) + feature_ones,
            )
            projected = ops.sum(windows, axis=2) / denominator
        elif self.projection == "max":
            real = ops.reshape(window_mask > 0, window_shape + feature_ones)
            projected = _masked_max(windows, real)
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
        batch_size, k = inputs_shape[0], self.projected_dim
        projected_shape = (batch_size, k) + tuple(inputs_shape[2:])
        if self.num_heads is None:
            return projected_shape, (batch_size, k)
        return projected_shape, (batch_size, self.num_heads, k)

    def compute_output_spec(self, inputs, padding_mask=None):
        self._check_inputs(inputs, padding_mask)
        projected_shape, slot_shape = self.compute_output_shape(inputs.shape)
        return (
            keras.KerasTensor(projected_shape, dtype=self.compute_dtype),
            keras.KerasTensor(slot_shape, dtype="bool"),
        )

    def get_config(self):
        base_config = super().get_config()
        config = {
            "sequence_length": self.sequence_length,
            "projected_dim": self.projected_dim,
            "projection": self.projection,
            "num_heads": self.num_heads,
            "initializer": keras.initializers.serialize(self.initializer),
        }
        return {**base_config, **config}


def _take_at(table, position):
    """`table[b, position[b, j, f], f]` for a table of shape (batch, rows,
    features): `take_along_axis` on axis 1, by one flat gather (Keras's
    TensorFlow `take_along_axis` moves the axis last, copying the table)."""
    batch_size, rows, features = ops.shape(table)
    # Flat indices in int32 where the table's size is known to fit.
    size = math.prod(d if isinstance(d, int) else 2**31 for d in table.shape)
    dtype = "int32" if size < 2**31 else "int64"
    # `features` stays as the shape gives it: `arange` under `jax.jit`
    # needs a concrete stop, which a cast would trace.
    index = ops.arange(batch_size, dtype=dtype)[:, None, None]
    index = index * ops.cast(rows, dtype) + ops.cast(position, dtype)
    index = index * ops.cast(features, dtype)
    index = index + ops.arange(features, dtype=dtype)
    # The reshape keeps an empty batch's shape (JAX's take flattens it).
    taken = ops.take(ops.reshape(table, (-1,)), index)
    return ops.reshape(taken, ops.shape(position))


def _masked_max(windows, real):
    """The maximum over axis 2 of the `real` entries of `windows`; 0 where a
    window has none. `initial` keeps an empty batch an empty result (the
    TensorFlow backend refuses the max of an empty tensor without it)."""
    lowest = ops.cast(float("-inf"), windows.dtype)
    projected = ops.max(
        ops.where(real, windows, lowest), axis=2, initial=float("-inf")
    )
    filled = ops.any(real, axis=2)
    return ops.where(filled, projected, ops.zeros((), projected.dtype))

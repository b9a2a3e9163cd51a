"""Multi-head Linformer attention (Wang et al. 2020, arXiv 2006.04768)."""

import math

import keras
from keras import ops

from keras_linformer.layers.projection_sharing import (
    deserialize_shared_projection,
)
from keras_linformer.layers.projection_sharing import (
    serialize_shared_projection,
)
from keras_linformer.layers.sequence_projection import SequenceProjection
from keras_linformer.layers.sequence_projection import check_padding_mask
from keras_linformer.layers.sequence_projection import check_sequence_length
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import projection_kind
from keras_linformer.projections import validate_projection


def _clone_initializer(initializer):
    """A fresh copy, so that sublayers do not draw the same values."""
    return initializer.__class__.from_config(initializer.get_config())


def validate_attention_args(
    sequence_length, projected_dim, projection, sharing, shared_projection
):
    """Raises a `ValueError` naming the values unless the Linformer
    arguments of `LinformerAttention` (and `LinformerEncoder`) are accepted:
    `validate_projection`'s checks, and a `shared_projection` that is a
    `SequenceProjection` of the same n, k and kind, one for all heads, given
    with `sharing="layerwise"` only."""
    validate_projection(sequence_length, projected_dim, projection, sharing)
    if shared_projection is None:
        return
    if not isinstance(shared_projection, SequenceProjection):
        raise ValueError(
            "`shared_projection` must be a "
            "`keras_linformer.layers.SequenceProjection`. Received: "
            f"{type(shared_projection).__name__}"
        )
    if sharing != "layerwise":
        raise ValueError(
            "`shared_projection` is only used with `sharing='layerwise'`. "
            f"Received: sharing={sharing!r}"
        )
    if shared_projection.num_heads is not None:
        raise ValueError(
            "A layerwise `shared_projection` is one matrix for all heads, "
            "so it must have num_heads=None. Received: num_heads="
            f"{shared_projection.num_heads}"
        )
    expected = (sequence_length, projected_dim, projection)
    actual = (
        shared_projection.sequence_length,
        shared_projection.projected_dim,
        shared_projection.projection,
    )
    if expected != actual:
        raise ValueError(
            "`shared_projection` must match the layer's (sequence_length, "
            f"projected_dim, projection) = {expected}. Received a projection "
            f"with {actual}."
        )


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerAttention(keras.layers.Layer):
    """Multi-head attention with keys and values projected from n to k.

    For each head i, with X of length L <= n (`sequence_length`) and
    k = `projected_dim`:

        K'_i = E_i^T (M * (X Wk_i + bk_i))      V'_i = F_i^T (M * (X Wv_i + bv_i))
        head_i = softmax(Q_i K'_i^T / sqrt(dh)) V'_i

    where M removes padded positions before the projection (a select, so
    that no value there, NaN or inf included, reaches K' or V'). The
    attention matrix is (L x k) instead of (L x L), so time and memory grow
    linearly with L. Where E is one matrix for all heads (any sharing but
    `"none"`) and a linear map of its input (the kinds whose
    `keras_linformer.projections.projection_kind(name).linear` is true:
    `"linear"`, `"mean"` and `"conv"`), the layer projects the input before
    the key and value dense layers, E^T (X W + b) = (E^T X) W + (E^T 1) b,
    which skips the two (L x d x d) key and value matmuls. The softmax runs
    in the policy's compute dtype, as in `keras.layers.MultiHeadAttention`,
    except under float16, where it runs in float32 (float16 overflows in
    the exponent over long rows of scores).

    Sharing of E and F (the paper's section 4):

    - `"none"`: E_i, F_i per head (2 x `num_heads` matrices).
    - `"headwise"`: one E and one F for all heads of the layer.
    - `"key_value"`: one matrix, F = E.
    - `"layerwise"`: one matrix for all layers, passed in as
      `shared_projection` (a `SequenceProjection`); if none is passed the
      layer makes its own, which is then the same as `"key_value"`.

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Size of each attention head for query and key.
        sequence_length: int. n, the longest key/value length accepted.
        projected_dim: int. k, the projected length of keys and values.
        value_dim: int. Size of each attention head for value. Defaults to
            `key_dim`.
        projection: string. `"sliding_max"` (the default), `"max"`,
            `"mean"`, `"conv"` or the paper's `"linear"`; see
            `SequenceProjection`.
        sharing: string. `"none"`, `"headwise"`, `"key_value"` or
            `"layerwise"`.
        shared_projection: a `SequenceProjection` to use for keys and
            values, for `sharing="layerwise"`.
        dropout: float. Dropout probability on the attention weights.
        use_bias: bool. Whether the dense layers use bias vectors.
        kernel_initializer: initializer for the dense layer kernels.
        bias_initializer: initializer for the dense layer biases.
        projection_initializer: initializer for E and F. Defaults to the
            `SequenceProjection` default (norm-preserving in n).
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as in
            `keras.layers.MultiHeadAttention`.
        seed: optional int. Seed of the dropout layer, as in
            `keras.layers.MultiHeadAttention`.
        flash_attention: `None`, `True` or `False`, as in
            `keras.layers.MultiHeadAttention`: whether the attention runs in
            the fused `keras.ops.dot_product_attention`. `None` follows
            `keras.config.is_flash_attention_enabled()`: where that is not
            `False`, the fused op is used on the backends that fuse it (JAX
            and PyTorch; TensorFlow's is the same einsums with a float32
            softmax, which doubles the scores' memory under bfloat16) except
            under float16, and where the explicit path is needed (returned
            scores, active dropout). `False` never uses it. `True` always
            does, with `flash_attention=True` passed on to it, and refuses
            what it cannot do: dropout, returned scores.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        query: query tensor of shape `(batch, T, dim)`.
        value: value tensor of shape `(batch, L, dim)`, `L <= n`. Defaults
            to `query` (self-attention).
        key: optional key tensor of shape `(batch, L, dim)`. Defaults to
            `value`.
        padding_mask: tensor of shape `(batch, L)`, nonzero (true) at real
            key/value positions, 0 at padded ones. Taken from Keras masking
            on `value` or `key` when not given.
        training: Python boolean, whether dropout is active.
        return_attention_scores: bool. If `True`, also return the attention
            weights, of shape `(batch, num_heads, T, k)`.
        key_mask, value_mask, mask: filled in by Keras from implicit masks
            (as in `MultiHeadAttention`); used as `padding_mask` when that is
            not given. `mask` is the query's mask in self-attention.
        attention_mask, use_causal_mask: refused. A projection along the
            sequence mixes all positions, so neither a full (T x L) mask nor
            causal masking can be applied; use `padding_mask`.

    Returns:
        The attention output of shape `(batch, T, dim)` and, if
        `return_attention_scores`, the attention weights.

    Example:

    >>> inputs = keras.Input(shape=(128, 64))
    >>> padding_mask = keras.Input(shape=(128,), dtype="bool")
    >>> attention = LinformerAttention(
    ...     num_heads=4, key_dim=16, sequence_length=128, projected_dim=32
    ... )
    >>> outputs = attention(inputs, padding_mask=padding_mask)
    >>> model = keras.Model([inputs, padding_mask], outputs)
    >>> tuple(model.output.shape)
    (None, 128, 64)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        sequence_length,
        projected_dim,
        value_dim=None,
        projection=DEFAULT_PROJECTION,
        sharing="headwise",
        shared_projection=None,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        projection_initializer=None,
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        flash_attention=None,
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
        if flash_attention and dropout > 0.0:
            raise ValueError(
                "Dropout is not supported with flash_attention=True (the "
                "fused attention has no dropout). Received: "
                f"dropout={dropout}. Set dropout=0.0, or flash_attention "
                "to None or False."
            )
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim if value_dim else key_dim
        self.sequence_length = sequence_length
        self.projected_dim = projected_dim
        self.projection = projection
        self.sharing = sharing
        self.shared_projection = shared_projection
        self.dropout = dropout
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.projection_initializer = (
            keras.initializers.get(projection_initializer)
            if projection_initializer
            else None
        )
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.activity_regularizer = keras.regularizers.get(activity_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.seed = seed
        self.flash_attention = flash_attention
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(key_dim))
        # The output has one row per query position: pass the query's Keras
        # mask on, as MultiHeadAttention does.
        self.supports_masking = True
        # Project the input before the dense layer where E is one linear
        # map for all heads: same numbers, two (L x d x d) matmuls fewer.
        self._project_inputs_first = (
            sharing != "none" and projection_kind(projection).linear
        )

    def _common_kwargs(self):
        return dict(
            kernel_initializer=_clone_initializer(self.kernel_initializer),
            bias_initializer=_clone_initializer(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            activity_regularizer=self.activity_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
        )

    def _make_projection(self, name, num_heads=None):
        # Built from arguments this layer has validated: no second check
        # can fail.
        return SequenceProjection(
            sequence_length=self.sequence_length,
            projected_dim=self.projected_dim,
            projection=self.projection,
            num_heads=num_heads,
            initializer=(
                _clone_initializer(self.projection_initializer)
                if self.projection_initializer
                else None
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def _make_head_dense(self, name, head_dim):
        """(batch, L, d) -> (batch, L, heads, head_dim), as in MHA."""
        return keras.layers.EinsumDense(
            "abc,cde->abde",
            output_shape=(None, self.num_heads, head_dim),
            bias_axes="de" if self.use_bias else None,
            name=name,
            **self._common_kwargs(),
        )

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        self.query_dense = self._make_head_dense("query", self.key_dim)
        self.query_dense.build(query_shape)
        self.key_dense = self._make_head_dense("key", self.key_dim)
        self.key_dense.build(key_shape)
        self.value_dense = self._make_head_dense("value", self.value_dim)
        self.value_dense.build(value_shape)
        self.output_dense = keras.layers.EinsumDense(
            "abcd,cde->abe",
            output_shape=(None, query_shape[-1]),
            bias_axes="e" if self.use_bias else None,
            name="attention_output",
            **self._common_kwargs(),
        )
        self.output_dense.build(
            (query_shape[0], query_shape[1], self.num_heads, self.value_dim)
        )

        if self.sharing == "none":
            self.key_projection = self._make_projection(
                "key_projection", num_heads=self.num_heads
            )
            self.value_projection = self._make_projection(
                "value_projection", num_heads=self.num_heads
            )
        elif self.sharing == "headwise":
            self.key_projection = self._make_projection("key_projection")
            self.value_projection = self._make_projection("value_projection")
        elif self.sharing == "key_value" or self.shared_projection is None:
            self.key_projection = self._make_projection("key_value_projection")
            self.value_projection = self.key_projection
        else:
            self.key_projection = self.shared_projection
            self.value_projection = self.shared_projection
        for projection in (self.key_projection, self.value_projection):
            if not projection.built:
                projection.build()

        # float16 overflows in the softmax, so it runs in float32 there.
        # bfloat16 has float32's range: it stays in bfloat16, as in keras's
        # MultiHeadAttention, because a float32 copy of the (h x T x k)
        # scores doubled Linformer's peak memory (docs/results.md).
        softmax_dtype = (
            "float32" if self.compute_dtype == "float16" else self.dtype_policy
        )
        self._softmax = keras.layers.Softmax(axis=-1, dtype=softmax_dtype)
        self._dropout_layer = keras.layers.Dropout(
            rate=self.dropout, dtype=self.dtype_policy, seed=self.seed
        )
        self.built = True

    def _column_sums(self, projection, inputs, padding_mask, slot_mask):
        """E^T 1 over real positions, of shape (batch, k, 1)."""
        if projection.kind.normalized:
            # Averages: 1 on every fed slot, 0 on the others, exactly.
            return ops.cast(slot_mask, inputs.dtype)[..., None]
        ones = ops.ones_like(inputs[..., :1])
        column_sums, _ = projection(ones, padding_mask=padding_mask)
        return column_sums

    def _dense_projected(self, dense, projected, column_sums):
        """(E^T X) W + (E^T 1) b, of shape (batch, k, heads, dh)."""
        outputs = dense(projected)  # (E^T X) W + b
        if self.use_bias:
            bias = ops.cast(dense.bias, outputs.dtype)
            outputs = outputs + ops.expand_dims(column_sums - 1, -1) * bias
        return outputs

    def _project_keys_and_values(self, key, value, padding_mask):
        """K' and V' of shape (batch, k, heads, dh), and the slot mask."""
        if not self._project_inputs_first:
            # Per-head E_i, or max pooling: E^T (M * (X W + b)) as written.
            key_states, slot_mask = self.key_projection(
                self.key_dense(key), padding_mask=padding_mask
            )
            value_states, _ = self.value_projection(
                self.value_dense(value), padding_mask=padding_mask
            )
            return key_states, value_states, slot_mask

        projected_key, slot_mask = self.key_projection(
            key, padding_mask=padding_mask
        )
        key_sums = value_sums = None
        if self.use_bias:  # E^T 1 only multiplies the bias.
            key_sums = self._column_sums(
                self.key_projection, key, padding_mask, slot_mask
            )
        if value is key and self.value_projection is self.key_projection:
            # Self-attention with F = E: one projection serves both.
            projected_value, value_sums = projected_key, key_sums
        else:
            projected_value, value_slot_mask = self.value_projection(
                value, padding_mask=padding_mask
            )
            if self.use_bias:
                value_sums = self._column_sums(
                    self.value_projection, value, padding_mask, value_slot_mask
                )
        key_states = self._dense_projected(
            self.key_dense, projected_key, key_sums
        )
        value_states = self._dense_projected(
            self.value_dense, projected_value, value_sums
        )
        return key_states, value_states, slot_mask

    def _use_fused_attention(self, training, return_attention_scores):
        """Whether `keras.ops.dot_product_attention` computes this call
        (see `flash_attention` in the class docstring)."""
        flash_attention = self.flash_attention
        if flash_attention is None:
            flash_attention = keras.config.is_flash_attention_enabled()
        if flash_attention is False:
            return False
        if flash_attention:
            if return_attention_scores:
                raise ValueError(
                    "Returning attention scores is not supported with "
                    "flash_attention=True (the fused attention does not "
                    "return them). Set flash_attention to None or False."
                )
            return True
        # float16: JAX's attention then asks for a float16 x float16 ->
        # float32 product, which its CPU backend refuses when
        # differentiating a compiled step.
        dropout_active = bool(training) and self.dropout > 0.0
        return (
            keras.backend.backend() in ("jax", "torch")
            and self.compute_dtype != "float16"
            and not (return_attention_scores or dropout_active)
        )

    def _compute_attention(
        self,
        query,
        key,
        value,
        slot_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        """softmax(Q K'^T / sqrt(dh)) V', as in `MultiHeadAttention`.

        Override it for another attention over the projected keys and
        values.

        Args:
            query: projected query, `(batch, T, heads, key_dim)`.
            key: K', `(batch, k, heads, key_dim)`.
            value: V', `(batch, k, heads, value_dim)`.
            slot_mask: boolean `(batch, k)` or `(batch, heads, k)`, true at
                the slots that some real position feeds; `None`: all.
            training: Python boolean, whether dropout is active.
            return_attention_scores: bool. Compute the weights explicitly
                and return them.

        Returns:
            `(attention_output, attention_scores)`: `(batch, T, heads,
            value_dim)` and `(batch, heads, T, k)`, or `None` where the
            fused `keras.ops.dot_product_attention` computed the output.
        """
        if slot_mask is None:
            slot_mask = ops.ones(ops.shape(key)[:2], "bool")
        mask = _slot_mask_4d(slot_mask)  # (b, 1 or h, 1, k)
        if self._use_fused_attention(training, return_attention_scores):
            # A row with no fed slot (an all-padding example) would be fully
            # masked, where some fused kernels return NaN: it attends to
            # every slot instead and is then zeroed, which is what the
            # explicit path's masked softmax gives it.
            any_fed = ops.any(mask, axis=-1, keepdims=True)
            context = ops.dot_product_attention(
                query,
                key,
                value,
                mask=ops.logical_or(mask, ops.logical_not(any_fed)),
                scale=self._inverse_sqrt_key_dim,
                flash_attention=True if self.flash_attention else None,
            )
            # (b, 1 or h, 1, 1) -> (b, 1, 1 or h, 1), against (b, T, h, dv).
            any_fed = ops.transpose(any_fed, (0, 2, 1, 3))
            context = ops.where(any_fed, context, ops.zeros((), context.dtype))
            return context, None
        query = ops.multiply(
            query, ops.cast(self._inverse_sqrt_key_dim, query.dtype)
        )
        # (batch, heads, T, k): the attention matrix is T x k, not T x L.
        # Query first: TensorFlow then emits a batched matmul straight into
        # (b, h, t, k); the other order materializes (b, h, k, t) and a
        # transposed copy of it (twice the memory of the scores).
        scores = ops.einsum("bthd,bkhd->bhtk", query, key)
        # One rule for every projection kind: a slot that no real position
        # feeds (a pooling window over padding, an identity E's padded
        # column, a row that is all padding) is masked out of the softmax.
        weights = self._softmax(scores, mask=mask)
        weights = ops.cast(weights, value.dtype)
        dropped = self._dropout_layer(weights, training=training)
        context = ops.einsum("bhtk,bkhd->bthd", dropped, value)
        return context, weights

    def _check_inputs(self, query, value, key, padding_mask):
        """Refuses keys and values of different lengths, a padding mask
        that is not (batch, L), and L > n, naming the shapes."""
        if any(
            a is not None and b is not None and a != b
            for a, b in zip(key.shape[:2], value.shape[:2])
        ):
            raise ValueError(
                "`key` and `value` must have the same batch size and "
                f"length. Received: key of shape {tuple(key.shape)}, "
                f"value of shape {tuple(value.shape)}."
            )
        if padding_mask is not None:
            check_padding_mask(padding_mask.shape, value.shape, "value")
        check_sequence_length(value.shape[1], self.sequence_length, self.name)

    def call(
        self,
        query,
        value=None,
        key=None,
        padding_mask=None,
        training=None,
        return_attention_scores=False,
        value_mask=None,
        key_mask=None,
        mask=None,
        attention_mask=None,
        use_causal_mask=False,
    ):
        if use_causal_mask:
            raise ValueError(
                "LinformerAttention cannot be causal: the projection along "
                "the sequence mixes every position into every slot. "
                "Received: use_causal_mask=True. Use "
                "keras.layers.MultiHeadAttention for causal attention."
            )
        if attention_mask is not None:
            raise ValueError(
                "LinformerAttention does not take a full `attention_mask` "
                f"(received one of shape {tuple(attention_mask.shape)}): "
                "keys and values are projected along the sequence, so a "
                "(T x L) mask has nothing to apply to. Pass `padding_mask` "
                "of shape (batch, L) instead."
            )
        value = query if value is None else value
        key = value if key is None else key
        # Keras fills `key_mask` / `value_mask` from implicit masks when more
        # than one tensor is passed, and `mask` when only the query is
        # (self-attention): then the query's mask is the keys' mask.
        for implicit in (key_mask, value_mask, mask):
            if padding_mask is None:
                padding_mask = implicit
        if padding_mask is not None:
            padding_mask = ops.convert_to_tensor(padding_mask)
        self._check_inputs(query, value, key, padding_mask)

        key_states, value_states, slot_mask = self._project_keys_and_values(
            key, value, padding_mask
        )
        query_states = self.query_dense(query)
        context, scores = self._compute_attention(
            query_states,
            key_states,
            value_states,
            slot_mask=slot_mask,
            training=training,
            return_attention_scores=return_attention_scores,
        )
        outputs = self.output_dense(context)
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_output_shape(
        self, query_shape, value_shape=None, key_shape=None
    ):
        return tuple(query_shape)

    def compute_output_spec(
        self,
        query,
        value=None,
        key=None,
        padding_mask=None,
        training=None,
        return_attention_scores=False,
        **kwargs,
    ):
        value = query if value is None else value
        key = value if key is None else key
        self._check_inputs(query, value, key, padding_mask)
        outputs = keras.KerasTensor(
            self.compute_output_shape(query.shape), dtype=self.compute_dtype
        )
        if return_attention_scores:
            scores_shape = (
                query.shape[0],
                self.num_heads,
                query.shape[1],
                self.projected_dim,
            )
            return outputs, keras.KerasTensor(
                scores_shape, dtype=self.compute_dtype
            )
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "sequence_length": self.sequence_length,
                "projected_dim": self.projected_dim,
                "projection": self.projection,
                "sharing": self.sharing,
                # Plain data; the layers of one model share one projection
                # again when read back (projection_sharing.py).
                "shared_projection": (
                    serialize_shared_projection(self.shared_projection)
                    if self.shared_projection is not None
                    else None
                ),
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "projection_initializer": (
                    keras.initializers.serialize(self.projection_initializer)
                    if self.projection_initializer
                    else None
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "activity_regularizer": keras.regularizers.serialize(
                    self.activity_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
                "seed": self.seed,
                "flash_attention": self.flash_attention,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["shared_projection"] = deserialize_shared_projection(
            config.get("shared_projection"), config.get("name")
        )
        return cls(**config)


def _slot_mask_4d(slot_mask):
    """(batch, k) or (batch, heads, k) -> broadcastable to (b, h, T, k)."""
    if len(slot_mask.shape) == 2:  # the same for all heads
        return slot_mask[:, None, None, :]
    return slot_mask[:, :, None, :]

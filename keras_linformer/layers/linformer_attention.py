"""Multi-head Linformer attention (Wang et al. 2020, arXiv 2006.04768)."""

import math

import keras
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from keras_linformer.layers.projection_sharing import SharedProjectionMixin
from keras_linformer.layers.sequence_projection import SequenceProjection
from keras_linformer.layers.sequence_projection import check_padding_mask
from keras_linformer.layers.sequence_projection import check_sequence_length
from keras_linformer.projections import DEFAULT_PROJECTION
from keras_linformer.projections import projection_kind
from keras_linformer.projections import validate_projection


def _clone_initializer(initializer):
    """A fresh copy, so that sublayers do not draw the same values."""
    if initializer is None:
        return None
    return initializer.__class__.from_config(initializer.get_config())


def validate_attention_args(
    sequence_length, projected_dim, projection, sharing, shared_projection
):
    """`validate_projection`, and a layerwise `shared_projection` that is a
    `SequenceProjection` of the same n, k and kind, one for all heads."""
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
    expected = (sequence_length, projected_dim, projection, None)
    actual = (
        shared_projection.sequence_length,
        shared_projection.projected_dim,
        shared_projection.projection,
        shared_projection.num_heads,
    )
    if expected != actual:
        raise ValueError(
            "`shared_projection` must match the layer's (sequence_length, "
            f"projected_dim, projection, num_heads) = {expected}. Received "
            f"a projection with {actual}."
        )


@keras.saving.register_keras_serializable(package="keras_linformer")
class LinformerAttention(SharedProjectionMixin, keras.layers.Layer):
    """Multi-head attention with keys and values projected from n to k.

    For each head i, with X of length L <= n (`sequence_length`) and
    k = `projected_dim`:

        K'_i = E_i^T (M * (X Wk_i + bk_i))      V'_i = F_i^T (M * (X Wv_i + bv_i))
        head_i = softmax(Q_i K'_i^T / sqrt(dh)) V'_i

    where M removes padded positions (see `SequenceProjection`). The
    attention matrix is (L x k) instead of (L x L), so time and memory grow
    linearly with L. The softmax runs in the compute dtype, except under
    float16, where it runs in float32 (float16 overflows over long rows).

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Size of each attention head for query and key.
        sequence_length: int. n, the longest key/value length accepted.
        projected_dim: int. k, the projected length of keys and values.
        value_dim: int. Size of each attention head for value, by default
            `key_dim`.
        projection: string. The kind of E and F: `"sliding_max"` (the
            default) or another of `SequenceProjection`'s.
        sharing: string. How E and F are shared (the paper's section 4):
            `"none"` (E_i and F_i per head), `"headwise"` (one E and one F
            for all heads), `"key_value"` (one matrix, F = E) or
            `"layerwise"` (`shared_projection`, one matrix for several
            layers; without it, the same as `"key_value"`).
        shared_projection: a `SequenceProjection` for `sharing="layerwise"`.
        projection_initializer: initializer for E and F; see
            `SequenceProjection`.
        dropout, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint, seed: as in
            `keras.layers.MultiHeadAttention`.
        flash_attention: `None`, `True` or `False`, as in
            `keras.layers.MultiHeadAttention`. `None` follows
            `keras.config.is_flash_attention_enabled()` and fuses on JAX and
            PyTorch, except under float16, with returned scores or active
            dropout; `True` always fuses; `False` never does.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name`, `dtype` etc.

    Call arguments:
        query: query tensor of shape `(batch, T, dim)`.
        value, key: tensors of shape `(batch, L, dim)`, `L <= n`. `value`
            defaults to `query` (self-attention), `key` to `value`.
        padding_mask: tensor of shape `(batch, L)`, nonzero (true) at real
            key/value positions, 0 at padded ones. Defaults to the Keras
            mask of `key`, `value` or (in self-attention) `query`.
        training: Python boolean, whether dropout is active.
        return_attention_scores: bool. If `True`, also return the attention
            weights, of shape `(batch, num_heads, T, k)`.
        attention_mask, use_causal_mask: refused: the projection mixes all
            positions, so only `padding_mask` can apply.

    Returns:
        The `(batch, T, dim)` output and, if `return_attention_scores`, the
        attention weights.

    Example:

    >>> inputs = keras.Input(shape=(128, 64))
    >>> padding_mask = keras.Input(shape=(128,), dtype="bool")
    >>> attention = LinformerAttention(
    ...     num_heads=4, key_dim=16, sequence_length=128, projected_dim=32
    ... )
    >>> outputs = attention(inputs, padding_mask=padding_mask)
    >>> tuple(outputs.shape)
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
                "Dropout is not supported with flash_attention=True. "
                f"Received: dropout={dropout}."
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
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.projection_initializer = initializers.get(projection_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self.flash_attention = flash_attention
        self._inverse_sqrt_key_dim = 1.0 / math.sqrt(float(key_dim))
        self.supports_masking = True
        # Where E is one linear map for all heads, E^T (X W + b) =
        # (E^T X) W + (E^T 1) b runs the key and value dense layers on k
        # rows instead of L (docs/design.md, "Projection first").
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
        return SequenceProjection(
            sequence_length=self.sequence_length,
            projected_dim=self.projected_dim,
            projection=self.projection,
            num_heads=num_heads,
            initializer=_clone_initializer(self.projection_initializer),
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

        if self.sharing in ("none", "headwise"):
            heads = self.num_heads if self.sharing == "none" else None
            self.key_projection = self._make_projection("key_projection", heads)
            self.value_projection = self._make_projection(
                "value_projection", heads
            )
        elif self.sharing == "key_value" or self.shared_projection is None:
            self.key_projection = self._make_projection("key_value_projection")
            self.value_projection = self.key_projection
        else:
            self.key_projection = self.shared_projection
            self.value_projection = self.shared_projection
        for projection in (self.key_projection, self.value_projection):
            if not projection.built:
                projection.build()

        # float16 overflows in the softmax; bfloat16, with float32's range,
        # stays in bfloat16 (a float32 copy of the scores costs memory).
        softmax_dtype = (
            "float32" if self.compute_dtype == "float16" else self.dtype_policy
        )
        self._softmax = keras.layers.Softmax(axis=-1, dtype=softmax_dtype)
        self._dropout_layer = keras.layers.Dropout(
            rate=self.dropout, dtype=self.dtype_policy, seed=self.seed
        )
        self.built = True

    def _project_input(self, projection, inputs, padding_mask):
        """E^T X, the slot mask, and E^T 1 over real positions (`None`
        without bias, the only term that it multiplies)."""
        projected, slot_mask = projection(inputs, padding_mask=padding_mask)
        if not self.use_bias:
            return projected, slot_mask, None
        if projection.kind.normalized:
            # Averages: 1 on every fed slot, 0 on the others, exactly.
            column_sums = ops.cast(slot_mask, inputs.dtype)[..., None]
        else:
            ones = ops.ones_like(inputs[..., :1])
            column_sums, _ = projection(ones, padding_mask=padding_mask)
        return projected, slot_mask, column_sums

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

        projected_key, slot_mask, key_sums = self._project_input(
            self.key_projection, key, padding_mask
        )
        if value is key and self.value_projection is self.key_projection:
            # Self-attention with F = E: one projection serves both.
            projected_value, value_sums = projected_key, key_sums
        else:
            projected_value, _, value_sums = self._project_input(
                self.value_projection, value, padding_mask
            )
        key_states = self._dense_projected(
            self.key_dense, projected_key, key_sums
        )
        value_states = self._dense_projected(
            self.value_dense, projected_value, value_sums
        )
        return key_states, value_states, slot_mask

    def _use_fused_attention(self, training, return_attention_scores):
        """Whether `keras.ops.dot_product_attention` computes this call."""
        flash_attention = self.flash_attention
        if flash_attention is None:
            flash_attention = keras.config.is_flash_attention_enabled()
        if flash_attention and return_attention_scores:
            raise ValueError(
                "Returning attention scores is not supported with "
                "flash_attention=True (the fused attention does not return "
                "them). Set flash_attention to None or False."
            )
        if flash_attention is not None:
            return bool(flash_attention)
        # Not float16: JAX's CPU backend refuses the float16 x float16 ->
        # float32 product its attention asks for in a compiled gradient.
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
        """softmax(Q K'^T / sqrt(dh)) V', as in `MultiHeadAttention`;
        override it for another attention over the projected keys and values.

        Args:
            query: projected query, `(batch, T, heads, key_dim)`.
            key: K', `(batch, k, heads, key_dim)`.
            value: V', `(batch, k, heads, value_dim)`.
            slot_mask: boolean `(batch, k)` or `(batch, heads, k)`, true at
                the slots that some real position feeds; `None`: all.
            training, return_attention_scores: as in `call`.

        Returns:
            `(batch, T, heads, value_dim)` outputs and the `(batch, heads,
            T, k)` scores, or `None` for them on the fused path.
        """
        if slot_mask is None:
            slot_mask = ops.ones(ops.shape(key)[:2], "bool")
        if len(slot_mask.shape) == 2:  # the same for all heads
            slot_mask = slot_mask[:, None, :]
        mask = slot_mask[:, :, None, :]  # (b, 1 or h, 1, k)
        if self._use_fused_attention(training, return_attention_scores):
            # Some fused kernels return NaN on a fully masked row (an
            # all-padding example): it attends to every slot instead and is
            # zeroed, as the explicit path's masked softmax gives it.
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
        # (batch, heads, T, k). Query first: the other order makes
        # TensorFlow materialize (b, h, k, t) and a transposed copy of it.
        scores = ops.einsum("bthd,bkhd->bhtk", query, key)
        # A slot that no real position feeds is masked out of the softmax.
        weights = self._softmax(scores, mask=mask)
        weights = ops.cast(weights, value.dtype)
        dropped = self._dropout_layer(weights, training=training)
        context = ops.einsum("bhtk,bkhd->bthd", dropped, value)
        return context, weights

    def _check_inputs(self, query, value, key, padding_mask):
        """Defaults `value` and `key`, checks them, the padding mask and
        L <= n, and returns `(value, key)`."""
        value = query if value is None else value
        key = value if key is None else key
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
        return value, key

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
                "LinformerAttention cannot be causal: the projection mixes "
                "every position into every slot. Received: "
                "use_causal_mask=True. Use keras.layers.MultiHeadAttention."
            )
        if attention_mask is not None:
            raise ValueError(
                "LinformerAttention takes no (T x L) `attention_mask`, as "
                "the projection mixes every position into every slot. "
                f"Received one of shape {tuple(attention_mask.shape)}. Pass "
                "`padding_mask` of shape (batch, L) instead."
            )
        # Keras fills `key_mask`, `value_mask` and `mask` (the query's, in
        # self-attention only) from implicit masks.
        for implicit in (key_mask, value_mask, mask):
            if padding_mask is None:
                padding_mask = implicit
        if padding_mask is not None:
            padding_mask = ops.convert_to_tensor(padding_mask)
        value, key = self._check_inputs(query, value, key, padding_mask)

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
        return_attention_scores=False,
        **kwargs,
    ):
        self._check_inputs(query, value, key, padding_mask)
        return attention_output_spec(self, query.shape, return_attention_scores)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "sequence_length": self.sequence_length,
            "projected_dim": self.projected_dim,
            "projection": self.projection,
            "sharing": self.sharing,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "projection_initializer": initializers.serialize(
                self.projection_initializer
            ),
            "kernel_regularizer": regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(
                self.activity_regularizer
            ),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
            "flash_attention": self.flash_attention,
        }
        return {**base_config, **config}


def attention_output_spec(layer, query_shape, return_attention_scores):
    """The output of a Linformer attention over a query of `query_shape` and,
    if `return_attention_scores`, its (batch, heads, T, k) weights."""
    outputs = keras.KerasTensor(query_shape, dtype=layer.compute_dtype)
    if not return_attention_scores:
        return outputs
    batch_size, length = query_shape[:2]
    scores_shape = (batch_size, layer.num_heads, length, layer.projected_dim)
    return outputs, keras.KerasTensor(scores_shape, dtype=layer.compute_dtype)

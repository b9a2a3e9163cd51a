"""A plain-NumPy Linformer, written from DESIGN.md's equations.

Everything runs in float64 and is written the direct way (project the
dense outputs, never the inputs), so that it checks the layers' shortcuts
(projection first, pooling with padding excluded) rather than repeating them.

For one head i, with X of length L <= n and k slots:

    Q_i = X Wq_i + bq_i      K_i = X Wk_i + bk_i      V_i = X Wv_i + bv_i
    K'_i = E_i^T (M * K_i)   V'_i = F_i^T (M * V_i)
    head_i = softmax(Q_i K'_i^T / sqrt(dh)) V'_i
    out = concat_i(head_i) Wo + bo
"""

import keras
import numpy as np


def to_numpy(x):
    """A float64 NumPy copy of a tensor, variable or array, on any backend
    (PyTorch tensors that require grad refuse `np.asarray`)."""
    return keras.ops.convert_to_numpy(x).astype("float64")


def project(x, mask, sequence_length, projected_dim, projection, kernel=None):
    """E^T (M * x) for one example, written per slot.

    Args:
        x: (L, heads, dh) array, L <= n.
        mask: (L,) array, nonzero at real positions.
        projection: "linear", "mean", "max", "sliding_max" or "conv".
        kernel: "linear": (n, k), or (heads, n, k) for one matrix per head;
            "conv": (w,), or (heads, w); unused for pooling.

    Returns:
        `(projected, slot_mask)`: (k, heads, dh) and a boolean (heads, k)
        array, true where some real position has a nonzero weight into the
        slot (DESIGN.md's one slot-mask rule).
    """
    length, num_heads, _ = x.shape
    n, k = sequence_length, projected_dim
    real = mask != 0
    x = np.where(real[:, None, None], x, 0.0)
    if projection == "linear":
        kernel = to_numpy(kernel)
        if kernel.ndim == 2:
            kernel = np.broadcast_to(kernel, (num_heads,) + kernel.shape)
        projected = np.zeros((k,) + x.shape[1:])
        slot_mask = np.zeros((num_heads, k), bool)
        for head in range(num_heads):
            e = np.array(kernel[head, :length, :])  # first L rows of (n, k)
            projected[:, head, :] = e.T @ x[:, head, :]
            slot_mask[head] = (e[real] != 0).any(axis=0)
        return projected, slot_mask

    if projection == "sliding_max":
        # Slot j: the real positions of rank [s_j, s_j + w), their starts
        # s_j = floor(j (L_real - w) / (k - 1)) spread over the document.
        w = n // k
        real_positions = np.nonzero(real)[0]
        spread = max(real_positions.size - w, 0)
        projected = np.zeros((k,) + x.shape[1:])
        slot_mask = np.zeros((num_heads, k), bool)
        for j in range(k):
            start = j * spread // max(k - 1, 1)
            chosen = real_positions[start : start + w]
            if chosen.size:
                projected[j] = x[chosen].max(axis=0)
                slot_mask[:, j] = True
        return projected, slot_mask

    # Windows of w = n / k positions; an input shorter than n is treated as
    # padded up to n.
    w = n // k
    padded = np.zeros((n,) + x.shape[1:])
    padded[:length] = x
    padded_real = np.zeros((n,), bool)
    padded_real[:length] = real
    if projection == "conv":
        kernel = to_numpy(kernel)
        if kernel.ndim == 1:
            kernel = np.broadcast_to(kernel, (num_heads, w))
    projected = np.zeros((k,) + x.shape[1:])
    slot_mask = np.zeros((num_heads, k), bool)
    for j in range(k):
        window = slice(j * w, (j + 1) * w)
        positions = np.nonzero(padded_real[window])[0] + j * w
        if projection == "mean":
            slot_mask[:, j] = positions.size > 0
            if positions.size:
                projected[j] = padded[positions].mean(axis=0)
        elif projection == "max":
            slot_mask[:, j] = positions.size > 0
            if positions.size:
                projected[j] = padded[positions].max(axis=0)
        elif projection == "conv":
            for head in range(num_heads):
                weights = kernel[head, positions - j * w]
                slot_mask[head, j] = (weights != 0).any()
            for t in range(w):
                projected[j] += kernel[:, t, None] * padded[j * w + t]
        else:
            raise ValueError(projection)
    return projected, slot_mask


def softmax(logits, slot_mask=None):
    """Softmax over the last axis; masked slots get zero weight.

    A row whose slots are all masked gets all-zero weights (Keras gives
    uniform weights there; only finiteness is compared for such rows).
    """
    logits = np.array(logits, dtype="float64")
    if slot_mask is not None:
        logits = np.where(slot_mask, logits, -np.inf)
    top = np.max(logits, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.exp(logits - top)
    total = exp.sum(axis=-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def dense(x, kernel, bias, equation):
    out = np.einsum(equation, x, to_numpy(kernel))
    if bias is not None:
        out = out + to_numpy(bias)
    return out


def attention_weights(layer):
    """The weights of a `LinformerAttention`, as a dict of float64 arrays."""

    def bias(dense_layer):
        return dense_layer.bias if dense_layer.bias is not None else None

    def projection_kernel(projection):
        return getattr(projection, "kernel", None)

    return {
        "wq": to_numpy(layer.query_dense.kernel),
        "bq": bias(layer.query_dense),
        "wk": to_numpy(layer.key_dense.kernel),
        "bk": bias(layer.key_dense),
        "wv": to_numpy(layer.value_dense.kernel),
        "bv": bias(layer.value_dense),
        "wo": to_numpy(layer.output_dense.kernel),
        "bo": bias(layer.output_dense),
        "e": projection_kernel(layer.key_projection),
        "f": projection_kernel(layer.value_projection),
    }


def linformer_attention(
    weights,
    query,
    value=None,
    key=None,
    padding_mask=None,
    *,
    sequence_length,
    projected_dim,
    projection,
):
    """DESIGN.md's multi-head Linformer attention, example by example.

    Args:
        weights: dict from `attention_weights`.
        query: (batch, T, d). value, key: (batch, L, d), default to query.
        padding_mask: (batch, L), nonzero at real positions; default all
            real.

    Returns:
        `(outputs, scores)`: (batch, T, d) and (batch, heads, T, k).
    """
    query = to_numpy(query)
    value = query if value is None else to_numpy(value)
    key = value if key is None else to_numpy(key)
    batch_size, length = key.shape[:2]
    if padding_mask is None:
        padding_mask = np.ones((batch_size, length))
    padding_mask = to_numpy(padding_mask)
    key_dim = weights["wq"].shape[-1]
    outputs, all_scores = [], []
    for b in range(batch_size):
        q = dense(query[b], weights["wq"], weights["bq"], "tc,chd->thd")
        k = dense(key[b], weights["wk"], weights["bk"], "lc,chd->lhd")
        v = dense(value[b], weights["wv"], weights["bv"], "lc,chd->lhd")
        args = (padding_mask[b], sequence_length, projected_dim, projection)
        k_proj, slot_mask = project(k, *args, kernel=weights["e"])
        v_proj, _ = project(v, *args, kernel=weights["f"])
        logits = np.einsum("thd,khd->htk", q, k_proj) / np.sqrt(key_dim)
        scores = softmax(logits, slot_mask[:, None, :])
        heads = np.einsum("htk,khd->thd", scores, v_proj)
        outputs.append(
            dense(heads, weights["wo"], weights["bo"], "thd,hde->te")
        )
        all_scores.append(scores)
    return np.stack(outputs), np.stack(all_scores)


def layer_norm(x, gamma, beta, epsilon):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * to_numpy(gamma) + to_numpy(
        beta
    )


def linformer_encoder(encoder, inputs, padding_mask=None):
    """A `LinformerEncoder` block (ReLU feed-forward) on the reference
    attention, reading the weights from the built Keras layer."""
    attention = encoder._self_attention_layer
    inputs = to_numpy(inputs)
    eps = encoder.layer_norm_epsilon
    norm1 = encoder._self_attention_layer_norm
    norm2 = encoder._feedforward_layer_norm
    inner = encoder._feedforward_intermediate_dense
    outer = encoder._feedforward_output_dense

    def attend(x):
        out, _ = linformer_attention(
            attention_weights(attention),
            x,
            padding_mask=padding_mask,
            sequence_length=encoder.sequence_length,
            projected_dim=encoder.projected_dim,
            projection=encoder.projection,
        )
        return out

    def feedforward(x):
        hidden = np.maximum(
            dense(x, inner.kernel, inner.bias, "ltc,cd->ltd"), 0
        )
        return dense(hidden, outer.kernel, outer.bias, "ltc,cd->ltd")

    def norm(layer, x):
        return layer_norm(x, layer.gamma, layer.beta, eps)

    x = inputs
    if encoder.normalize_first:
        x = x + attend(norm(norm1, x))
        return x + feedforward(norm(norm2, x))
    x = norm(norm1, x + attend(x))
    return norm(norm2, x + feedforward(x))

"""FLOP counts of the algorithms the benchmark runs, in closed form.

The tests check these counts against the matmuls of the traced layer graph
(tests/benchmarks/graph_flops.py), an independent count.

A matmul of (m x p) by (p x q) counts 2 m p q FLOPs (one multiply and one
add per term). Only matmuls and einsum contractions are counted; the
elementwise work (bias, scaling, masking, softmax, layer norm) is a few
operations per element of tensors that are at most (L x k) per head, and is
left out, as is usual for FLOP counts of attention.
"""

from keras_linformer.projections import projection_kind


def matmul_flops(m, p, q, batch=1):
    """FLOPs of `batch` matmuls of (m x p) by (p x q)."""
    return 2 * batch * m * p * q


def linformer_attention_flops(
    batch_size,
    length,
    hidden_dim,
    num_heads,
    key_dim,
    projected_dim,
    value_dim=None,
    projection_first=None,
    shared_key_value=True,
    use_bias=True,
    projection="linear",
):
    """Matmul FLOPs of one `LinformerAttention` self-attention call.

    Counts the algorithm `LinformerAttention` runs: with `projection_first`
    (E shared across heads and a linear kind), E^T X once (once for keys and
    values where F = E, `shared_key_value`), the column sums E^T 1 for the
    bias where the kind does not average, and the key and value dense layers
    applied to the k projected rows; otherwise the key and value dense
    layers on all L rows, then the projection per head (or max pooling,
    which has no matmul).

    Example:

    >>> parts = linformer_attention_flops(1, 512, 768, 12, 64, 128)
    >>> parts["key"] == matmul_flops(128, 768, 768)
    True
    >>> linformer_attention_flops(
    ...     1, 512, 768, 12, 64, 128, projection="max"
    ... )["key"] == matmul_flops(512, 768, 768)
    True

    Args:
        batch_size, length, hidden_dim: b, L and d of the input.
        num_heads, key_dim, value_dim: h, dk and dv (dv defaults to dk).
        projected_dim: k.
        projection_first: whether the input is projected before the key and
            value dense layers (E^T (X W + b) = (E^T X) W + (E^T 1) b).
            `None` (default): as the layer does with E shared across heads,
            that is unless the kind is not a linear map (`"max"`,
            `"sliding_max"`).
        shared_key_value: whether one projection serves keys and values
            (F = E and self-attention), so E^T X is computed once.
        use_bias: whether the dense layers have biases (adds E^T 1).
        projection: the kind of E (`keras_linformer.projections`).

    Returns:
        A dict of FLOPs per part and their `"total"`.
    """
    kind = projection_kind(projection)
    if projection_first is None:
        projection_first = kind.linear
    elif projection_first and not kind.linear:
        raise ValueError(
            f"projection={projection!r} is not a linear map: it cannot be "
            "applied before the key and value dense layers. Received: "
            "projection_first=True"
        )
    b, n, d, h, k = batch_size, length, hidden_dim, num_heads, projected_dim
    dk = key_dim
    dv = value_dim or key_dim
    parts = {"query": matmul_flops(n, d, h * dk, b)}
    if projection_first:
        calls = 1 if shared_key_value else 2
        parts["projection"] = calls * _projection_flops(projection, n, k, d, b)
        # The slot mask of each projection call (only E's zeros decide it).
        slot_masks = calls
        if use_bias and not kind.normalized:
            # E^T 1: one more projection call, of a single feature.
            parts["column_sums"] = calls * _projection_flops(
                projection, n, k, 1, b
            )
            slot_masks *= 2
        parts["slot_mask"] = slot_masks * _slot_mask_flops(projection, n, k, b)
        parts["key"] = matmul_flops(k, d, h * dk, b)
        parts["value"] = matmul_flops(k, d, h * dv, b)
    else:
        parts["key"] = matmul_flops(n, d, h * dk, b)
        parts["value"] = matmul_flops(n, d, h * dv, b)
        parts["projection"] = _projection_flops(
            projection, n, k, dk, b * h
        ) + _projection_flops(projection, n, k, dv, b * h)
        # The slot masks of the key and value projections, per head.
        parts["slot_mask"] = 2 * _slot_mask_flops(projection, n, k, b * h)
    parts["scores"] = matmul_flops(n, dk, k, b * h)
    parts["context"] = matmul_flops(n, k, dv, b * h)
    parts["output"] = matmul_flops(n, h * dv, d, b)
    parts["total"] = sum(parts.values())
    return parts


def _projection_flops(projection, n, k, features, batch):
    """Matmul FLOPs of projecting `batch` (n x features) inputs to k rows:
    a (k x n) matrix, or a kernel of n / k weights per slot over its window
    (`conv`); pooling (`mean`, `max`, `sliding_max`) has no matmul."""
    kind = projection_kind(projection)
    if kind.weightless:
        return 0
    window = n if kind.matrix else n // k
    return matmul_flops(k, window, features, batch)


def _slot_mask_flops(projection, n, k, batch):
    """Matmul FLOPs of one call's slot mask: real rows times E's nonzeros
    for the kinds with weights (`linear`, `conv`); the pooling kinds read
    it from the padding mask alone."""
    kind = projection_kind(projection)
    if kind.weightless:
        return 0
    if kind.matrix:
        return matmul_flops(1, n, k, batch)
    return matmul_flops(k, n // k, 1, batch)


def standard_attention_flops(
    batch_size, length, hidden_dim, num_heads, key_dim, value_dim=None
):
    """Matmul FLOPs of one standard multi-head self-attention call."""
    b, n, d, h = batch_size, length, hidden_dim, num_heads
    dk = key_dim
    dv = value_dim or key_dim
    parts = {
        "query": matmul_flops(n, d, h * dk, b),
        "key": matmul_flops(n, d, h * dk, b),
        "value": matmul_flops(n, d, h * dv, b),
        "scores": matmul_flops(n, dk, n, b * h),
        "context": matmul_flops(n, n, dv, b * h),
        "output": matmul_flops(n, h * dv, d, b),
    }
    parts["total"] = sum(parts.values())
    return parts


def feedforward_flops(batch_size, length, hidden_dim, intermediate_dim):
    """Matmul FLOPs of one encoder block's feed-forward network."""
    return 2 * matmul_flops(length, hidden_dim, intermediate_dim, batch_size)


def backbone_flops(
    kind,
    batch_size,
    length,
    hidden_dim,
    num_heads,
    intermediate_dim,
    num_layers,
    k=None,
    projection="linear",
):
    """Matmul FLOPs of a forward pass of a backbone's encoder blocks, `kind`
    in `("linformer", "standard")` (Linformer: layerwise sharing, projected
    dimension `k`, E of kind `projection`). The embedding lookup is a
    gather, not a matmul."""
    key_dim = hidden_dim // num_heads
    if kind == "linformer":
        attention = linformer_attention_flops(
            batch_size,
            length,
            hidden_dim,
            num_heads,
            key_dim,
            k,
            projection=projection,
        )["total"]
    else:
        attention = standard_attention_flops(
            batch_size, length, hidden_dim, num_heads, key_dim
        )["total"]
    ff = feedforward_flops(batch_size, length, hidden_dim, intermediate_dim)
    return num_layers * (attention + ff)


def format_flops(flops):
    """`1.2 GFLOP`-style text."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}FLOP"
    return f"{flops:.3g} FLOP"


def format_rate(flops_per_second):
    """`85.3 GFLOP/s`-style text."""
    return format_flops(flops_per_second) + "/s"

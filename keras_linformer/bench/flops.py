"""FLOP counts of the algorithms the benchmark runs.

A matmul of (m x p) by (p x q) counts 2 m p q FLOPs (one multiply and one
add per term). Only matmuls and einsum contractions are counted; the
elementwise work (bias, scaling, masking, softmax, layer norm) is a few
operations per element of tensors that are at most (L x k) per head, and is
left out, as is usual for FLOP counts of attention.
"""

import math


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
    projection_first=True,
    shared_key_value=True,
    use_bias=True,
):
    """Matmul FLOPs of one `LinformerAttention` self-attention call.

    Counts the algorithm `LinformerAttention` runs for a linear projection
    with E shared across heads (`sharing` other than `"none"`): with
    `projection_first`, E^T X once (once for keys and values where F = E,
    `shared_key_value`), the column sums E^T 1 for the bias, and the key and
    value dense layers applied to the k projected rows; otherwise the key
    and value dense layers on all L rows, then the projection per head.

    Args:
        batch_size, length, hidden_dim: b, L and d of the input.
        num_heads, key_dim, value_dim: h, dk and dv (dv defaults to dk).
        projected_dim: k.
        projection_first: whether the input is projected before the key and
            value dense layers (E^T (X W + b) = (E^T X) W + (E^T 1) b).
        shared_key_value: whether one projection serves keys and values
            (F = E and self-attention), so E^T X is computed once.
        use_bias: whether the dense layers have biases (adds E^T 1).

    Returns:
        A dict of FLOPs per part and their `"total"`.
    """
    b, n, d, h, k = batch_size, length, hidden_dim, num_heads, projected_dim
    dk = key_dim
    dv = value_dim or key_dim
    parts = {"query": matmul_flops(n, d, h * dk, b)}
    if projection_first:
        projections = 1 if shared_key_value else 2
        parts["projection"] = projections * matmul_flops(k, n, d, b)
        if use_bias:
            parts["column_sums"] = projections * matmul_flops(k, n, 1, b)
        parts["key"] = matmul_flops(k, d, h * dk, b)
        parts["value"] = matmul_flops(k, d, h * dv, b)
    else:
        parts["key"] = matmul_flops(n, d, h * dk, b)
        parts["value"] = matmul_flops(n, d, h * dv, b)
        parts["projection"] = matmul_flops(k, n, dk, b * h) + matmul_flops(
            k, n, dv, b * h
        )
    parts["scores"] = matmul_flops(n, dk, k, b * h)
    parts["context"] = matmul_flops(n, k, dv, b * h)
    parts["output"] = matmul_flops(n, h * dv, d, b)
    parts["total"] = sum(parts.values())
    return parts


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
):
    """Matmul FLOPs of a forward pass of a backbone's encoder blocks, `kind`
    in `("linformer", "standard")` (Linformer: layerwise sharing, linear
    projection, projected dimension `k`). The embedding lookup is a gather,
    not a matmul."""
    key_dim = hidden_dim // num_heads
    if kind == "linformer":
        attention = linformer_attention_flops(
            batch_size, length, hidden_dim, num_heads, key_dim, k
        )["total"]
    else:
        attention = standard_attention_flops(
            batch_size, length, hidden_dim, num_heads, key_dim
        )["total"]
    ff = feedforward_flops(batch_size, length, hidden_dim, intermediate_dim)
    return num_layers * (attention + ff)


def _einsum_flops(equation, shapes):
    """FLOPs of a two-operand einsum: 2 x the product of all label sizes
    where some label is contracted, else the product (an outer product)."""
    inputs, output = equation.replace(" ", "").split("->")
    operands = inputs.split(",")
    sizes = {}
    for labels, shape in zip(operands, shapes):
        if "." in labels:  # no ellipsis in the layers' equations
            return None
        for label, size in zip(labels, shape):
            if size is None:
                return None
            sizes[label] = size
    contracted = set("".join(operands)) - set(output)
    total = math.prod(sizes.values())
    if len(operands) == 2 and contracted:
        return 2 * total
    return total if len(operands) == 2 else 0


def graph_matmul_flops(concrete_function):
    """Matmul FLOPs of a traced `tf.function`, read from its graph.

    Walks the graph's `MatMul`, `BatchMatMul*` and `Einsum` ops (with static
    shapes, so trace it with fully defined input shapes) and adds 2 m p q
    for each. This counts what the traced graph actually runs, so it shows
    which path a layer took. Ops with unknown shapes are listed under
    `"unknown"`.

    Returns:
        A dict `{"total": int, "ops": [(op type, name, flops)], "unknown":
        [names]}`.
    """
    ops_found, unknown = [], []
    for op in concrete_function.graph.get_operations():
        flops = None
        if op.type in (
            "MatMul",
            "BatchMatMul",
            "BatchMatMulV2",
            "BatchMatMulV3",
        ):
            a, bmat = (t.shape.as_list() for t in op.inputs[:2])
            if None in a or None in bmat:
                unknown.append(op.name)
                continue
            if op.type == "MatMul":
                ta = op.get_attr("transpose_a")
                tb = op.get_attr("transpose_b")
            else:
                ta = op.get_attr("adj_x")
                tb = op.get_attr("adj_y")
            m, p = (a[-1], a[-2]) if ta else (a[-2], a[-1])
            q = bmat[-2] if tb else bmat[-1]
            out = op.outputs[0].shape.as_list()
            batch = math.prod(out[:-2]) if len(out) > 2 else 1
            flops = matmul_flops(m, p, q, batch)
        elif op.type == "Einsum":
            equation = op.get_attr("equation").decode()
            shapes = [t.shape.as_list() for t in op.inputs]
            flops = _einsum_flops(equation, shapes)
            if flops is None:
                unknown.append(op.name)
                continue
        if flops is not None:
            ops_found.append((op.type, op.name, int(flops)))
    return {
        "total": sum(f for _, _, f in ops_found),
        "ops": ops_found,
        "unknown": unknown,
    }


def format_flops(flops):
    """`1.2 GFLOP`-style text."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}FLOP"
    return f"{flops:.3g} FLOP"


def format_rate(flops_per_second):
    """`85.3 GFLOP/s`-style text."""
    return format_flops(flops_per_second) + "/s"

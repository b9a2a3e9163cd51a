"""An independent FLOP count for the tests: the matmuls of a traced graph.

The benchmark counts FLOPs in closed form (`benchmarks/flops.py`);
this reads what the traced `tf.function` actually runs, so that a test can
check the closed form against the layer's real computation.
"""

import math

from benchmarks.flops import matmul_flops


def _expand_ellipsis(operands, output, shapes):
    """The equation with `...` spelled out as labels of their own (the
    trailing dimensions of each operand it stands for, aligned right)."""
    ranks = [
        len(shape) - (len(labels) - 3) if "..." in labels else 0
        for labels, shape in zip(operands, shapes)
    ]
    spelled = "".join(chr(ord("A") + i) for i in range(max(ranks, default=0)))

    def expand(labels, rank):
        return labels.replace("...", spelled[len(spelled) - rank :])

    operands = [expand(labels, rank) for labels, rank in zip(operands, ranks)]
    return operands, expand(output, len(spelled))


def _einsum_flops(equation, shapes):
    """FLOPs of a two-operand einsum: 2 x the product of all label sizes
    where some label is contracted, else the product (an outer product)."""
    inputs, output = equation.replace(" ", "").split("->")
    operands, output = _expand_ellipsis(inputs.split(","), output, shapes)
    sizes = {}
    for labels, shape in zip(operands, shapes):
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

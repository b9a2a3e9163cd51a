"""The FLOP model of the attention benchmark (`benchmarks/flops.py`) against
an independent count: the matmuls of the traced layer graph."""

import doctest

import graph_flops
import pytest

from benchmarks import flops

# One case per path of `LinformerAttention` that the closed form models,
# each kind at least once (not the kinds x sharing x bias product):
# (projection, sharing, use_bias).
CASES = [
    # Projection first, one E^T X for keys and values (F = E), and E^T 1
    # for the biases.
    ("linear", "layerwise", True),
    # Projection first, E and F apart (two calls), no biases: no E^T 1.
    ("linear", "headwise", False),
    # Per-head E: the key and value dense layers on all n rows first.
    ("linear", "none", True),
    # An average: E^T 1 is the slot mask itself, and pooling has no matmul.
    ("mean", "layerwise", True),
    # A kernel of n / k weights per slot, projected first, with E^T 1.
    ("conv", "headwise", True),
    # ... and per head, after the dense layers.
    ("conv", "none", False),
    # Not linear maps: the dense layers on all n rows, then pooling.
    ("max", "layerwise", True),
    ("sliding_max", "layerwise", True),
]


@pytest.mark.parametrize("projection, sharing, use_bias", CASES)
def test_flop_count_matches_the_layer_graph(
    tensorflow_only, projection, sharing, use_bias
):
    """The closed form counts exactly the matmuls of the traced
    LinformerAttention, read from its graph: projection first (one
    projection for keys and values where F = E, two for headwise), or the
    key and value dense layers on all rows first, for per-head E (`"none"`)
    and for the kinds that are not linear maps."""
    import tensorflow as tf

    from keras_linformer.layers import LinformerAttention
    from keras_linformer.layers import SequenceProjection

    b, n, d, h, k = 2, 16, 8, 2, 4
    shared = (
        SequenceProjection(n, k, projection=projection)
        if sharing == "layerwise"
        else None
    )
    layer = LinformerAttention(
        h,
        d // h,
        n,
        k,
        projection=projection,
        sharing=sharing,
        shared_projection=shared,
        use_bias=use_bias,
    )
    fn = tf.function(lambda x, m: layer(x, padding_mask=m))
    graph = graph_flops.graph_matmul_flops(
        fn.get_concrete_function(
            tf.TensorSpec((b, n, d)), tf.TensorSpec((b, n), tf.int32)
        )
    )
    assert graph["unknown"] == []
    closed_form = flops.linformer_attention_flops(
        b,
        n,
        d,
        h,
        d // h,
        k,
        projection_first=None if sharing != "none" else False,
        shared_key_value=sharing == "layerwise",
        use_bias=use_bias,
        projection=projection,
    )
    assert graph["total"] == closed_form["total"], (graph, closed_form)


def test_max_pooling_flops_run_the_key_and_value_layers_on_every_row():
    """Max pooling cannot project first: its key and value dense layers cost
    what the standard model's do, and asking to project first is an error.
    At base widths (d = 768) that puts it between the linear E and the
    standard model; at small d, E^T X costs the linear E more than the
    dense layers it saves."""
    linear = flops.linformer_attention_flops(1, 512, 768, 12, 64, 128)
    pooled = flops.linformer_attention_flops(
        1, 512, 768, 12, 64, 128, projection="max"
    )
    standard = flops.standard_attention_flops(1, 512, 768, 12, 64)
    assert pooled["key"] == standard["key"] > linear["key"]
    assert pooled["projection"] == 0
    assert linear["total"] < pooled["total"] < standard["total"]
    narrow = {
        kind: flops.linformer_attention_flops(
            1, 512, 64, 4, 16, 128, projection=kind
        )["total"]
        for kind in ("linear", "max")
    }
    assert narrow["max"] < narrow["linear"]
    for kind in ("max", "sliding_max"):
        with pytest.raises(ValueError, match="not a linear map"):
            flops.linformer_attention_flops(
                1, 512, 768, 12, 64, 128, projection=kind, projection_first=True
            )
    with pytest.raises(ValueError, match="Unknown `projection`: 'pool'"):
        flops.linformer_attention_flops(
            1, 512, 768, 12, 64, 128, projection="pool"
        )


def test_docstring_examples_run():
    tests = [t for t in doctest.DocTestFinder().find(flops) if t.examples]
    assert tests
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)

"""Every op an export needs is one TF Serving can run.

TF Serving runs the ops of core TensorFlow plus the tensorflow-text kernels
it links in (`ops_lib` of the tensorflow-text version it pins). This lists
every op type in each export's graph and function library, and checks that
the ops outside core TensorFlow are tensorflow-text ops that a released
server links, with the oldest server that has each
(`keras_linformer.export.SERVING_TEXT_OPS`).
"""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CORE_OPS_SCRIPT = """
import sys
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

op_names = set()
for path in sys.argv[1:]:
    model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        model.ParseFromString(f.read())
    for meta_graph in model.meta_graphs:
        graph = meta_graph.graph_def
        op_names.update(node.op for node in graph.node)
        for function in graph.library.function:
            op_names.update(node.op for node in function.node_def)
# Only core TensorFlow is imported here (no tensorflow_text, no keras), so
# the registry knows exactly the core ops.
from tensorflow.python.framework import op_def_registry

for name in sorted(op_names):
    print(("core" if op_def_registry.get(name) else "other"), name)
"""


def op_inventory(export_dirs):
    """`{op type: "core" | "other"}` over the given SavedModel dirs, read in
    a process that has only core TensorFlow's ops registered."""
    paths = [os.path.join(d, "saved_model.pb") for d in export_dirs]
    run = subprocess.run(
        [sys.executable, "-c", CORE_OPS_SCRIPT, *paths],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    inventory = {}
    for line in run.stdout.splitlines():
        where, op = line.split(" ", 1)
        inventory[op] = where
    return inventory


@pytest.mark.parametrize("kind", ["backbone", "classifier", "masked_lm"])
def test_every_op_is_one_tf_serving_runs(exports, kind):
    from keras_linformer.export import SERVING_TEXT_OPS

    inventory = op_inventory([exports[kind]])
    assert "MatMul" in inventory or "BatchMatMulV2" in inventory
    other = sorted(op for op, where in inventory.items() if where == "other")
    unknown = [op for op in other if op not in SERVING_TEXT_OPS]
    assert not unknown, (
        f"{kind} export uses op(s) {unknown} that are neither core "
        "TensorFlow nor tensorflow-text ops linked by TF Serving"
    )
    if kind == "backbone":
        assert other == []  # ids in, floats out: core TensorFlow only
    else:
        assert "FastWordpieceTokenizeWithOffsets" in other


def test_text_exports_load_on_servers_before_2_20(exports):
    """The text signatures pack with a trimmer made of core ops (a single
    segment is truncated the same way by every trimmer), so no export needs
    `TFText>RoundRobinTrim`, which servers 2.13 to 2.19 lack
    (tensorflow/serving issue 2267)."""
    from keras_linformer.export import SERVING_TEXT_OPS
    from keras_linformer.export import minimum_serving_version

    inventory = op_inventory([exports["classifier"], exports["masked_lm"]])
    assert "TFText>RoundRobinTrim" not in inventory
    assert SERVING_TEXT_OPS["TFText>RoundRobinTrim"] == (2, 20)
    other = [op for op, where in inventory.items() if where == "other"]
    assert minimum_serving_version(other) < (2, 20)


@pytest.mark.parametrize("kind", ["classifier", "masked_lm"])
def test_exports_without_preprocessing_are_core_tensorflow(
    tiny_models, tmp_path, kind
):
    """`--no-preprocessing` exports take ids: they run on any server."""
    from keras_linformer.export import export_for_serving

    path = export_for_serving(
        tiny_models[kind],
        base_dir=tmp_path,
        name=f"{kind}_ids",
        include_preprocessing=False,
    )
    inventory = op_inventory([path])
    assert "MatMul" in inventory or "BatchMatMulV2" in inventory
    assert [op for op, where in inventory.items() if where == "other"] == []

"""The exports run on an older TensorFlow with the tensorflow-text kernels
that TF Serving 2.13 to 2.19 link (tensorflow-text 2.12.1).

TF Serving releases are built on the TensorFlow of the same version and
link the kernels of the tensorflow-text version they pin. This test loads
each export the way the model server does (the TF1 loader into a Session,
the SignatureDef's tensor names) in another Python whose TensorFlow is
older than the one that wrote it, and compares the outputs with Keras.

It needs that interpreter, given as `OLD_TF_PYTHON` (for example a venv
made with `pip install tensorflow==2.12.1 tensorflow-text==2.12.1`), and
skips without it.
"""

import json
import os
import subprocess

import numpy as np
import pytest
from serving_helpers import softmax

pytestmark = pytest.mark.slow

OLD_TF_PYTHON = os.environ.get("OLD_TF_PYTHON")

RUN_EXPORT = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers its kernels, as the model server links them

path, signature_name, inputs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
graph = tf.Graph()
session = tf.compat.v1.Session(graph=graph)
with graph.as_default():
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
signature = meta_graph.signature_def[signature_name]
feeds = {
    signature.inputs[k].name: np.array(
        v, dtype=object if k == "text" else np.int32
    )
    for k, v in inputs.items()
}
names = sorted(signature.outputs)
values = session.run([signature.outputs[k].name for k in names], feeds)
print(json.dumps({
    "versions": [tf.__version__, tensorflow_text.__version__],
    "outputs": {
        k: (v.astype(str) if v.dtype == object else v).tolist()
        for k, v in zip(names, values)
    },
}))
"""

TEXTS = ["the quick brown fox", "a lazy dog sat on the mat .", ""]


def run_old(path, signature, inputs):
    if not OLD_TF_PYTHON:
        pytest.skip(
            "OLD_TF_PYTHON is not set: give a Python with an older "
            "TensorFlow and tensorflow-text 2.12.1 (what TF Serving 2.13 to "
            "2.19 link) to run this check"
        )
    run = subprocess.run(
        [OLD_TF_PYTHON, "-c", RUN_EXPORT, path, signature, json.dumps(inputs)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=""),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["versions"][0] < "2.21", result["versions"]
    return result["outputs"]


def test_classifier_text_on_an_older_runtime(exports, tiny_models):
    outputs = run_old(exports["classifier"], "serving_default", {"text": TEXTS})
    expected = softmax(
        tiny_models["classifier"].predict(np.array(TEXTS), verbose=0)
    )
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)


def test_masked_lm_text_on_an_older_runtime(exports):
    texts = ["the [MASK] brown fox", "[MASK] dog sat on the [MASK] ."]
    outputs = run_old(exports["masked_lm"], "serving_default", {"text": texts})
    assert outputs["num_masked"] == [1, 2]
    assert outputs["mask_positions"] == [[2, -1], [1, 6]]
    assert np.asarray(outputs["top_scores"]).shape == (2, 2, 5)


def test_backbone_on_an_older_runtime(exports, tiny_models):
    ids = [[2, 5, 6, 3, 0]]
    mask = [[1, 1, 1, 1, 0]]
    outputs = run_old(
        exports["backbone"],
        "serving_default",
        {"token_ids": ids, "padding_mask": mask},
    )
    expected = tiny_models["backbone"].predict(
        {"token_ids": np.array(ids), "padding_mask": np.array(mask)}, verbose=0
    )
    np.testing.assert_allclose(outputs["sequence_output"], expected, atol=1e-5)

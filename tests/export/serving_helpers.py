"""Constants and Keras references shared by the export tests."""

import contextlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVING_EXAMPLES = REPO / "examples" / "serving"

VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "quick", "brown", "fox", "jumped", "over", "lazy", "dog",
    "a", "cat", "sat", "on", "mat", ".", ",", "and", "runs", "##s",
]  # fmt: skip
SEQUENCE_LENGTH = 16  # n
NUM_CLASSES = 3
MODEL_NAMES = {
    "backbone": "tiny_backbone",
    "classifier": "tiny_clf",
    "masked_lm": "tiny_mlm",
}


def load_example(name):
    """Imports `examples/serving/NAME.py` (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(
        f"serving_example_{name}", SERVING_EXAMPLES / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# === The fake server ===


class FakeServing:
    def __init__(self, process, report):
        self.process = process
        self.report = report
        self.rest_port = report["rest_port"]
        self.grpc_target = f"127.0.0.1:{report['grpc_port']}"

    def alive(self):
        return self.process.poll() is None


@contextlib.contextmanager
def fake_serving(config, directory):
    """Runs `fake_tf_serving.py` on `config` ({name: base path}, and
    optionally "poll_seconds") in a fresh interpreter; yields a
    `FakeServing` once it serves."""
    config_path = pathlib.Path(directory) / "models.json"
    config_path.write_text(json.dumps(config))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH="")
    process = subprocess.Popen(
        [sys.executable, str(HERE / "fake_tf_serving.py"), str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(directory),
        env=env,
    )
    stderr_lines = []
    threading.Thread(
        target=lambda: stderr_lines.extend(process.stderr), daemon=True
    ).start()
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        pytest.fail(
            "fake TF Serving did not start:\n" + "".join(stderr_lines[-40:])
        )
    server = FakeServing(process, json.loads(line))
    server.stderr = stderr_lines
    try:
        yield server
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# === Keras references ===


def softmax(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def word_ids(text):
    """Token ids of a text of whole vocabulary words (or "[MASK]")."""
    index = {token: i for i, token in enumerate(VOCABULARY)}
    return [
        index[word if word == "[MASK]" else word.lower()]
        for word in text.split()
    ]


def pack(rows, length=SEQUENCE_LENGTH):
    """[CLS] ids [SEP] [PAD]..., truncated to `length`, and the mask."""
    ids = np.zeros((len(rows), length), dtype=np.int32)
    mask = np.zeros((len(rows), length), dtype=np.int32)
    for i, row in enumerate(rows):
        packed = [2] + list(row)[: length - 2] + [3]
        ids[i, : len(packed)] = packed
        mask[i, : len(packed)] = 1
    return ids, mask


def masked_lm_reference(masked_lm, token_ids, padding_mask):
    """Per row: mask positions and the full softmax at each of them."""
    rows = []
    for ids, mask in zip(token_ids, padding_mask):
        positions = [int(p) for p in np.flatnonzero((ids == 4) & (mask != 0))]
        probabilities = np.zeros((0, len(VOCABULARY)))
        if positions:
            # Called directly: `predict` would run the (random-masking)
            # preprocessor on these ids.
            logits = masked_lm(
                {
                    "token_ids": ids[None],
                    "padding_mask": mask[None],
                    "mask_positions": np.array([positions], dtype=np.int32),
                },
                training=False,
            )
            probabilities = softmax(keras.ops.convert_to_numpy(logits)[0])
        rows.append((positions, probabilities))
    return rows


def check_masked_lm_outputs(outputs, reference, k=5):
    """Served top-k at each mask vs the Keras softmax there (1e-5)."""
    positions = np.asarray(outputs["mask_positions"])
    top_ids = np.asarray(outputs["top_ids"])
    top_scores = np.asarray(outputs["top_scores"], dtype=np.float64)
    top_tokens = np.asarray(outputs["top_tokens"], dtype=object)
    num_masked = np.asarray(outputs["num_masked"])
    assert positions.shape[0] == len(reference)
    width = max([len(p) for p, _ in reference] + [0])
    assert positions.shape == (len(reference), width)
    assert top_ids.shape == top_scores.shape == top_tokens.shape
    assert top_ids.shape == (len(reference), width, k)
    for i, (ref_positions, ref_probabilities) in enumerate(reference):
        assert num_masked[i] == len(ref_positions)
        assert list(positions[i, : len(ref_positions)]) == ref_positions
        assert (positions[i, len(ref_positions) :] == -1).all()
        for j in range(len(ref_positions)):
            expected = np.sort(ref_probabilities[j])[::-1][:k]
            np.testing.assert_allclose(top_scores[i, j], expected, atol=1e-5)
            # The served ids carry those scores (robust to exact ties).
            np.testing.assert_allclose(
                ref_probabilities[j][top_ids[i, j]], top_scores[i, j], atol=1e-5
            )
            tokens = [
                t.decode() if isinstance(t, bytes) else t
                for t in top_tokens[i, j]
            ]
            assert tokens == [VOCABULARY[t] for t in top_ids[i, j]]
        # Padding slots are -1 / 0.0 / "".
        assert (top_ids[i, len(ref_positions) :] == -1).all()
        assert (top_scores[i, len(ref_positions) :] == 0).all()


# === The model server's execution path, in process ===


def run_session(path, signature_name, inputs):
    """Runs a SignatureDef of the SavedModel at `path` as TF Serving does:
    the TF1 loader (tag "serve") into a Session of its own graph, fed and
    fetched by the SignatureDef's tensor names (tensorflow-text kernels
    registered, as the model server links them).

    `inputs`: `{name: array-like}` (lists of str for string inputs).
    Returns `{output name: numpy array}`.
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers its kernels)

    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        with graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(
                session, ["serve"], path
            )
        signature = meta_graph.signature_def[signature_name]
        feeds = {}
        for name, value in inputs.items():
            spec = signature.inputs[name]
            dtype = object if spec.dtype == tf.string.as_datatype_enum else None
            feeds[spec.name] = np.asarray(value, dtype=dtype or np.int32)
        names = sorted(signature.outputs)
        values = session.run([signature.outputs[n].name for n in names], feeds)
    return dict(zip(names, values))

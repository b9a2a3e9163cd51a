"""Exports served without keras_linformer: outputs, REST, gRPC, warmup.

Every request goes to `fake_tf_serving.py` (a process where keras,
keras_hub and keras_linformer cannot be imported) through the example
clients in examples/serving/, and is compared with the Keras model.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import MODEL_NAMES
from serving_helpers import NUM_CLASSES
from serving_helpers import SEQUENCE_LENGTH
from serving_helpers import VOCABULARY
from serving_helpers import check_masked_lm_outputs
from serving_helpers import load_example
from serving_helpers import masked_lm_reference
from serving_helpers import pack
from serving_helpers import softmax
from serving_helpers import word_ids

pytestmark = pytest.mark.slow

rest_client = load_example("rest_client")
grpc_client = load_example("grpc_client")

CLASSIFIER_TEXTS = [
    "the quick brown fox",
    "A lazy dog sat on the mat.",
    "",
    "THE CAT RUNS",
    "unknownword and zebras",
    " ".join(["the quick brown fox jumped over the lazy dog"] * 3),  # > n
]
MASKED_LM_TEXTS = [
    "the [MASK] brown fox",
    "[MASK] dog sat on the [MASK] .",
    "the lazy cat",
    "",
    # 17 words: the [MASK] falls beyond n - 2 tokens and is truncated away.
    "the quick brown fox jumped over the lazy dog and the cat sat on a mat . [MASK]",
]


def grpc_predict(serving, kind, inputs, signature=None):
    return grpc_client.predict(
        inputs,
        MODEL_NAMES[kind],
        target=serving.grpc_target,
        signature_name=signature,
    )


def rest_predict(
    serving, kind, inputs, form, signature=None, output_name="output"
):
    return rest_client.predict(
        inputs,
        MODEL_NAMES[kind],
        host="127.0.0.1",
        port=serving.rest_port,
        signature_name=signature,
        form=form,
        output_name=output_name,
    )


def classifier_reference(classifier, texts):
    logits = classifier.predict(np.array(texts), verbose=0)
    return softmax(logits)


def call_numpy(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def test_server_runs_without_keras_linformer(serving):
    report = serving.report
    assert report["imported_blocked_modules"] == []
    assert report["text_op_libraries"] > 0
    assert report["signatures"] == {
        MODEL_NAMES["backbone"]: ["serving_default"],
        MODEL_NAMES["classifier"]: ["predict_ids", "serving_default"],
        MODEL_NAMES["masked_lm"]: ["predict_ids", "serving_default"],
    }
    assert set(report["versions"].values()) == {1}


def test_backbone_matches_keras(serving, tiny_models):
    ids, mask = pack([word_ids("the quick brown fox"), word_ids("a cat")])
    outputs = grpc_predict(
        serving, "backbone", {"token_ids": ids, "padding_mask": mask}
    )
    expected = tiny_models["backbone"].predict(
        {"token_ids": ids, "padding_mask": mask}, verbose=0
    )
    assert set(outputs) == {"sequence_output"}
    assert outputs["sequence_output"].dtype == np.float32
    np.testing.assert_allclose(outputs["sequence_output"], expected, atol=1e-5)


def test_backbone_accepts_shorter_rows_than_n(serving, tiny_models):
    ids, mask = pack([word_ids("the fox")], length=5)
    outputs = grpc_predict(
        serving, "backbone", {"token_ids": ids, "padding_mask": mask}
    )
    expected = tiny_models["backbone"].predict(
        {"token_ids": ids, "padding_mask": mask}, verbose=0
    )
    assert outputs["sequence_output"].shape == (1, 5, 8)
    np.testing.assert_allclose(outputs["sequence_output"], expected, atol=1e-5)


def test_classifier_text_matches_keras(serving, tiny_models):
    outputs = grpc_predict(
        serving,
        "classifier",
        {"text": np.array(CLASSIFIER_TEXTS, dtype=object)},
    )
    expected = classifier_reference(tiny_models["classifier"], CLASSIFIER_TEXTS)
    assert set(outputs) == {"probabilities", "label"}
    assert outputs["probabilities"].shape == (
        len(CLASSIFIER_TEXTS),
        NUM_CLASSES,
    )
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["label"], expected.argmax(-1))


def test_classifier_text_truncates_to_n(serving, tiny_models):
    long_text = " ".join(["the quick brown fox"] * 10)
    truncated = " ".join(long_text.split()[: SEQUENCE_LENGTH - 2])
    outputs = grpc_predict(
        serving,
        "classifier",
        {"text": np.array([long_text, truncated], dtype=object)},
    )
    np.testing.assert_allclose(
        outputs["probabilities"][0], outputs["probabilities"][1], atol=1e-6
    )


def test_classifier_ids_match_keras(serving, tiny_models):
    ids, mask = pack([word_ids("the quick brown fox"), word_ids("dog"), []])
    outputs = grpc_predict(
        serving,
        "classifier",
        {"token_ids": ids, "padding_mask": mask},
        signature="predict_ids",
    )
    logits = call_numpy(
        tiny_models["classifier"], {"token_ids": ids, "padding_mask": mask}
    )
    np.testing.assert_allclose(
        outputs["probabilities"], softmax(logits), atol=1e-5
    )
    np.testing.assert_array_equal(outputs["label"], logits.argmax(-1))


def test_masked_lm_text_matches_keras(serving, tiny_models):
    outputs = grpc_predict(
        serving, "masked_lm", {"text": np.array(MASKED_LM_TEXTS, dtype=object)}
    )
    ids, mask = pack([word_ids(t) for t in MASKED_LM_TEXTS])
    reference = masked_lm_reference(tiny_models["masked_lm"], ids, mask)
    assert [len(p) for p, _ in reference] == [1, 2, 0, 0, 0]
    check_masked_lm_outputs(outputs, reference)


def test_masked_lm_ids_match_keras(serving, tiny_models):
    rows = [word_ids("the [MASK] fox [MASK]"), word_ids("[MASK] cat")]
    ids, mask = pack(rows)
    ids[1, -1] = 4  # a mask token at a padded position is not a mask
    outputs = grpc_predict(
        serving,
        "masked_lm",
        {"token_ids": ids, "padding_mask": mask},
        signature="predict_ids",
    )
    reference = masked_lm_reference(tiny_models["masked_lm"], ids, mask)
    assert [len(p) for p, _ in reference] == [2, 1]
    check_masked_lm_outputs(outputs, reference)


# === REST: the bodies rest_client.py builds, decoded as TF Serving does ===


@pytest.mark.parametrize("form", ["row", "columnar"])
def test_rest_backbone(serving, tiny_models, form):
    ids, mask = pack([word_ids("the quick brown fox"), word_ids("a cat")])
    outputs = rest_predict(
        serving,
        "backbone",
        {"token_ids": ids, "padding_mask": mask},
        form,
        output_name="sequence_output",
    )
    expected = tiny_models["backbone"].predict(
        {"token_ids": ids, "padding_mask": mask}, verbose=0
    )
    np.testing.assert_allclose(
        np.array(outputs["sequence_output"]), expected, atol=1e-5
    )


@pytest.mark.parametrize("form", ["row", "columnar"])
def test_rest_classifier_text(serving, tiny_models, form):
    outputs = rest_predict(
        serving, "classifier", {"text": CLASSIFIER_TEXTS}, form
    )
    expected = classifier_reference(tiny_models["classifier"], CLASSIFIER_TEXTS)
    np.testing.assert_allclose(
        np.array(outputs["probabilities"]), expected, atol=1e-5
    )
    assert outputs["label"] == expected.argmax(-1).tolist()


@pytest.mark.parametrize("form", ["row", "columnar"])
def test_rest_classifier_ids(serving, tiny_models, form):
    ids, mask = pack([word_ids("the quick brown fox"), word_ids("dog")])
    outputs = rest_predict(
        serving,
        "classifier",
        {"token_ids": ids, "padding_mask": mask},
        form,
        signature="predict_ids",
    )
    logits = call_numpy(
        tiny_models["classifier"], {"token_ids": ids, "padding_mask": mask}
    )
    np.testing.assert_allclose(
        np.array(outputs["probabilities"]), softmax(logits), atol=1e-5
    )


@pytest.mark.parametrize("form", ["row", "columnar"])
def test_rest_masked_lm(serving, tiny_models, form):
    texts = MASKED_LM_TEXTS[:3]
    outputs = rest_predict(serving, "masked_lm", {"text": texts}, form)
    ids, mask = pack([word_ids(t) for t in texts])
    reference = masked_lm_reference(tiny_models["masked_lm"], ids, mask)
    check_masked_lm_outputs(outputs, reference)


@pytest.mark.parametrize("form", ["row", "columnar"])
def test_rest_masked_lm_ids(serving, tiny_models, form):
    ids, mask = pack([word_ids("the [MASK] fox"), word_ids("a [MASK] [MASK]")])
    outputs = rest_predict(
        serving,
        "masked_lm",
        {"token_ids": ids, "padding_mask": mask},
        form,
        signature="predict_ids",
    )
    reference = masked_lm_reference(tiny_models["masked_lm"], ids, mask)
    check_masked_lm_outputs(outputs, reference)


def test_rest_request_bodies_have_tf_serving_layout():
    row = rest_client.row_request({"text": ["a", b"\xff"]}, "predict_ids")
    assert row == {
        "instances": [{"text": "a"}, {"text": {"b64": "/w=="}}],
        "signature_name": "predict_ids",
    }
    columnar = rest_client.columnar_request(
        {"token_ids": np.array([[2, 3]], np.int32), "padding_mask": [[1, 1]]}
    )
    assert columnar == {
        "inputs": {"token_ids": [[2, 3]], "padding_mask": [[1, 1]]}
    }


# === Warmup ===


def test_warmup_records_parse_and_run(serving, exports):
    from tensorflow_serving.apis import prediction_log_pb2

    for kind, name in MODEL_NAMES.items():
        path = os.path.join(
            exports[kind], "assets.extra", "tf_serving_warmup_requests"
        )
        logs = []
        for record in tf.data.TFRecordDataset(path):
            log = prediction_log_pb2.PredictionLog()
            log.ParseFromString(record.numpy())
            logs.append(log)
        assert logs, f"no warmup records for {name}"
        signatures = set(serving.report["signatures"][name])
        assert {
            log.predict_log.request.model_spec.signature_name for log in logs
        } == signatures
        assert all(
            log.predict_log.request.model_spec.name == name for log in logs
        )
        # The server replayed every record at load, as TF Serving does (a
        # failing one would have refused the version).
        replayed = serving.report["warmup"][name]
        assert [r["signature"] for r in replayed] == [
            log.predict_log.request.model_spec.signature_name for log in logs
        ]
        assert serving.report["load_errors"][name] == {}


def test_top_tokens_are_vocabulary_strings(serving):
    outputs = grpc_predict(
        serving,
        "masked_lm",
        {"text": np.array(["the [MASK] fox"], dtype=object)},
    )
    tokens = [t.decode() for t in outputs["top_tokens"][0, 0]]
    assert tokens == [VOCABULARY[i] for i in outputs["top_ids"][0, 0]]

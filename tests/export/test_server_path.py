"""What TF Serving's own execution path does with the exports: typed gRPC
outputs, version polling, warmup at load, batches against single rows, and
requests padded only to their longest text.

Every request goes to `fake_tf_serving.py`, which loads each version with
the TF1 loader into a Session and runs the SignatureDef's tensor names.
"""

import json
import os
import shutil
import time
import urllib.request

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import MODEL_NAMES
from serving_helpers import VOCABULARY
from serving_helpers import fake_serving
from serving_helpers import load_example
from serving_helpers import softmax
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

pytestmark = pytest.mark.slow

grpc_client = load_example("grpc_client")


def raw_response(target, name, inputs, signature=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub.Predict(request, timeout=60)


def test_grpc_outputs_are_typed_fields(serving):
    """TF Serving writes outputs with `AsProtoField` (`float_val`,
    `int_val`, `string_val`), never `tensor_content`; clients must read
    both, as `tf.make_ndarray` does."""
    response = raw_response(
        serving.grpc_target,
        MODEL_NAMES["masked_lm"],
        {"text": np.array([b"the [MASK] fox"], dtype=object)},
    )
    outputs = response.outputs
    assert all(not t.tensor_content for t in outputs.values())
    assert len(outputs["top_scores"].float_val) == 5
    assert len(outputs["top_ids"].int_val) == 5
    assert len(outputs["top_tokens"].string_val) == 5
    assert tf.make_ndarray(outputs["top_scores"]).shape == (1, 1, 5)


# === Versions ===


def status(server, name):
    url = f"http://127.0.0.1:{server.rest_port}/v1/models/{name}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())["model_version_status"]


def wait_for(condition, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def served_version(server, name):
    ids = np.array([[2, 5, 3]], np.int32)
    response = raw_response(
        server.grpc_target,
        name,
        {"token_ids": ids, "padding_mask": np.ones_like(ids)},
    )
    return response.model_spec.version.value


def bad_warmup(export_dir, name):
    """Replaces the warmup records with one request the model refuses (a
    token id outside the vocabulary)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = "serving_default"
    ids = np.array([[2, len(VOCABULARY) + 7, 3]], np.int32)
    request.inputs["token_ids"].CopyFrom(tf.make_tensor_proto(ids))
    request.inputs["padding_mask"].CopyFrom(
        tf.make_tensor_proto(np.ones_like(ids))
    )
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )
    path = os.path.join(
        export_dir, "assets.extra", "tf_serving_warmup_requests"
    )
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(log.SerializeToString())


def test_versions_are_polled_half_written_never_and_bad_warmup_refused(
    tiny_models, tmp_path
):
    from keras_linformer.export import export_for_serving
    from keras_linformer.export.versioning import TEMP_PREFIX

    name = "polled"
    base_dir = tmp_path / "models"
    first = export_for_serving(
        tiny_models["backbone"], base_dir=base_dir, name=name
    )
    config = {name: str(base_dir / name), "poll_seconds": 0.2}
    with fake_serving(config, tmp_path) as server:
        assert served_version(server, name) == 1
        # What a killed export leaves: a complete-looking SavedModel under
        # the hidden staging name. TF Serving only loads integer names.
        shutil.copytree(first, base_dir / name / f"{TEMP_PREFIX}abc")
        time.sleep(1.5)  # several polls
        assert [s["version"] for s in status(server, name)] == ["1"]

        export_for_serving(
            tiny_models["backbone"], base_dir=base_dir, name=name
        )
        assert wait_for(lambda: served_version(server, name) == 2)
        assert status(server, name)[0] == {
            "version": "2",
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }

        # A version whose warmup fails is refused at load; 2 keeps serving.
        staged = tmp_path / "v3"
        shutil.copytree(base_dir / name / "2", staged)
        bad_warmup(str(staged), name)
        os.rename(staged, base_dir / name / "3")
        assert wait_for(lambda: status(server, name)[0]["version"] == "3")
        refused = status(server, name)[0]
        assert refused["state"] == "END"
        assert "vocabulary_size" in refused["status"]["error_message"]
        assert served_version(server, name) == 2


# === Request length ===

LONG_N = 128


@pytest.fixture(scope="module")
def long_models():
    """A classifier and a masked LM at n = 128 (requests of a few words are
    cut to 64 positions there)."""
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import LinformerMaskedLM
    from keras_linformer.models import LinformerMaskedLMPreprocessor
    from keras_linformer.models import LinformerTextClassifier
    from keras_linformer.models import LinformerTextClassifierPreprocessor
    from keras_linformer.models import LinformerTokenizer

    keras.utils.set_random_seed(11)

    def backbone(projection):
        return LinformerBackbone(
            vocabulary_size=len(VOCABULARY),
            num_layers=1,
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            max_sequence_length=LONG_N,
            projected_dim=16,
            projection=projection,
            dropout=0.0,
        )

    tokenizer = LinformerTokenizer(vocabulary=VOCABULARY)
    return {
        # Pooling pads to n inside the layer; the matrix kinds slice E.
        "classifier": LinformerTextClassifier(
            backbone("mean"),
            num_classes=3,
            preprocessor=LinformerTextClassifierPreprocessor(
                tokenizer, sequence_length=LONG_N
            ),
        ),
        "masked_lm": LinformerMaskedLM(
            backbone("linear"),
            preprocessor=LinformerMaskedLMPreprocessor(
                tokenizer, sequence_length=LONG_N
            ),
        ),
    }


@pytest.fixture(scope="module")
def long_serving(long_models, tmp_path_factory):
    from keras_linformer.export import export_for_serving

    base_dir = tmp_path_factory.mktemp("long_models")
    config = {}
    for kind, model in long_models.items():
        export_for_serving(model, base_dir=base_dir, name=f"long_{kind}")
        config[f"long_{kind}"] = str(base_dir / f"long_{kind}")
    with fake_serving(config, tmp_path_factory.mktemp("long_serving")) as s:
        yield s


WORDS = "the quick brown fox jumped over lazy dog a cat sat on mat".split()
SHORT = "the lazy cat sat"
MEDIUM = " ".join(WORDS * 4)  # 52 words: cut to 64 positions
LONG = " ".join(WORDS * 12)  # 156 words: truncated to n


def serve(server, name, texts):
    return grpc_client.predict(
        {"text": np.array(texts, dtype=object)},
        name,
        target=server.grpc_target,
    )


@pytest.mark.parametrize(
    "texts", [[SHORT], [SHORT, MEDIUM], [SHORT, LONG, "", MEDIUM]]
)
def test_text_requests_equal_keras_padded_to_n(
    long_serving, long_models, texts
):
    """Requests are padded to their longest text rounded up to 64, not to
    n; the probabilities are Keras's on the texts padded to n."""
    outputs = serve(long_serving, "long_classifier", texts)
    expected = softmax(
        long_models["classifier"].predict(np.array(texts), verbose=0)
    )
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)


def test_a_batch_gives_its_rows_outputs(long_serving):
    """What server-side batching relies on: a text's outputs do not depend
    on the other texts of the request (nor on the length they pad to)."""
    texts = [SHORT, LONG, "", MEDIUM, "the [MASK] sat on the mat"]
    for name, keys in (
        ("long_classifier", ["probabilities", "label"]),
        ("long_masked_lm", ["top_ids", "top_scores", "num_masked"]),
    ):
        batch = serve(long_serving, name, texts)
        for i, text in enumerate(texts):
            row = serve(long_serving, name, [text])
            for key in keys:
                width = np.asarray(row[key]).shape[1:2]
                got = np.asarray(batch[key])[i]
                if key in ("top_ids", "top_scores"):
                    got = got[: width[0]]  # the batch pads M to its most
                np.testing.assert_allclose(
                    got, np.asarray(row[key])[0], atol=1e-5, err_msg=key
                )


def test_grpc_client_receives_responses_over_4_mib(serving):
    """Python gRPC channels refuse over 4 MiB by default; the example client
    raises the limit (a backbone's output for long batches is larger)."""
    rows = 9000  # 9000 x 16 x 8 float32 = 4.4 MiB of sequence_output
    ids = np.full((rows, 16), 5, np.int32)
    outputs = grpc_client.predict(
        {"token_ids": ids, "padding_mask": np.ones_like(ids)},
        MODEL_NAMES["backbone"],
        target=serving.grpc_target,
    )
    assert outputs["sequence_output"].nbytes > 4 * 1024 * 1024
    with pytest.raises(grpc.RpcError) as info:
        raw_response(
            serving.grpc_target,
            MODEL_NAMES["backbone"],
            {"token_ids": ids, "padding_mask": np.ones_like(ids)},
        )
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

"""Bad and edge-case requests: a clear error or a defined output, no crash.

Requests go over gRPC (raw `TensorProto`s, so dtypes and shapes are exactly
as sent) and REST to `fake_tf_serving.py`, which runs the SavedModels with
TensorFlow and tensorflow-text ops only. After each request the server
process must still be alive.
"""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import MODEL_NAMES
from serving_helpers import NUM_CLASSES
from serving_helpers import SEQUENCE_LENGTH
from serving_helpers import VOCABULARY
from serving_helpers import load_example
from serving_helpers import pack
from serving_helpers import softmax
from serving_helpers import word_ids
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

pytestmark = pytest.mark.slow

rest_client = load_example("rest_client")

N = SEQUENCE_LENGTH
V = len(VOCABULARY)
HIDDEN_DIM = 8


def raw_predict(serving, kind, tensors, signature=""):
    """Predict RPC with `tensors` sent as they are: `{name: (value, dtype)}`."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL_NAMES[kind]
    request.model_spec.signature_name = signature
    for name, (value, dtype) in tensors.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    with grpc.insecure_channel(serving.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=60)
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def ids_request(token_ids, padding_mask=None, dtype=tf.int32):
    token_ids = np.asarray(token_ids)
    if padding_mask is None:
        padding_mask = np.ones_like(token_ids)
    return {
        "token_ids": (token_ids, dtype),
        "padding_mask": (np.asarray(padding_mask), dtype),
    }


def text_request(texts):
    return {"text": (np.array(texts, dtype=object).reshape(-1), tf.string)}


def expect_error(serving, kind, tensors, signature, *fragments):
    with pytest.raises(grpc.RpcError) as info:
        raw_predict(serving, kind, tensors, signature)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for fragment in fragments:
        assert fragment in info.value.details(), info.value.details()
    assert serving.alive()
    return info.value.details()


ID_SIGNATURES = [
    ("backbone", "serving_default"),
    ("classifier", "predict_ids"),
    ("masked_lm", "predict_ids"),
]


@pytest.mark.parametrize("kind,signature", ID_SIGNATURES)
def test_too_long_is_rejected_naming_n(serving, kind, signature):
    too_long = np.full((2, N + 1), 5, dtype=np.int32)
    expect_error(
        serving,
        kind,
        ids_request(too_long),
        signature,
        "Input too long",
        f"max_sequence_length={N}",
    )
    # Exactly n is accepted.
    raw_predict(serving, kind, ids_request(too_long[:, :N]), signature)


@pytest.mark.parametrize("kind,signature", ID_SIGNATURES)
@pytest.mark.parametrize("bad_id", [V, V + 1000, -1])
def test_ids_out_of_range_are_rejected(serving, kind, signature, bad_id):
    ids, mask = pack([word_ids("the quick fox")])
    ids[0, 2] = bad_id
    expect_error(
        serving,
        kind,
        ids_request(ids, mask),
        signature,
        "Token id out of range",
        f"vocabulary_size={V}",
    )


@pytest.mark.parametrize("kind,signature", ID_SIGNATURES)
def test_id_at_padded_position_is_still_checked(serving, kind, signature):
    ids, mask = pack([word_ids("the fox")])
    ids[0, -1] = V  # mask is 0 here
    expect_error(
        serving, kind, ids_request(ids, mask), signature, "out of range"
    )


@pytest.mark.parametrize("kind,signature", ID_SIGNATURES)
def test_mismatched_shapes_are_rejected(serving, kind, signature):
    tensors = {
        "token_ids": (np.full((2, 6), 5, np.int32), tf.int32),
        "padding_mask": (np.ones((2, 5), np.int32), tf.int32),
    }
    expect_error(serving, kind, tensors, signature, "same shape")


@pytest.mark.parametrize("kind,signature", ID_SIGNATURES)
def test_wrong_dtype_is_rejected(serving, kind, signature):
    ids, mask = pack([word_ids("the fox")])
    expect_error(
        serving, kind, ids_request(ids, mask, tf.int64), signature, "int32"
    )
    expect_error(
        serving,
        kind,
        {
            "token_ids": (ids.astype(np.float32), tf.float32),
            "padding_mask": (mask, tf.int32),
        },
        signature,
        "int32",
    )


@pytest.mark.parametrize("kind,signature", ID_SIGNATURES)
def test_wrong_rank_is_rejected(serving, kind, signature):
    expect_error(serving, kind, ids_request(np.array([2, 5, 3])), signature)
    expect_error(serving, kind, ids_request(np.full((1, 2, 3), 5)), signature)


@pytest.mark.parametrize("kind", ["classifier", "masked_lm"])
def test_text_wrong_dtype_and_rank_are_rejected(serving, kind):
    expect_error(
        serving,
        kind,
        {"text": (np.array([1, 2], np.int32), tf.int32)},
        "",
        "string",
    )
    expect_error(
        serving,
        kind,
        {"text": (np.array([[b"a", b"b"]], dtype=object), tf.string)},
        "",
    )


def test_empty_batch_of_ids_gives_empty_outputs(serving):
    empty = ids_request(np.zeros((0, 5), np.int32))
    outputs = raw_predict(serving, "backbone", empty)
    assert outputs["sequence_output"].shape == (0, 5, HIDDEN_DIM)
    outputs = raw_predict(serving, "classifier", empty, "predict_ids")
    assert outputs["probabilities"].shape == (0, NUM_CLASSES)
    assert outputs["label"].shape == (0,)
    outputs = raw_predict(serving, "masked_lm", empty, "predict_ids")
    assert outputs["top_ids"].shape == (0, 0, 5)
    assert outputs["mask_positions"].shape == (0, 0)
    assert outputs["num_masked"].shape == (0,)


def test_empty_batch_of_text_gives_empty_outputs(serving):
    outputs = raw_predict(serving, "classifier", text_request([]))
    assert outputs["probabilities"].shape == (0, NUM_CLASSES)
    assert outputs["label"].shape == (0,)
    outputs = raw_predict(serving, "masked_lm", text_request([]))
    assert outputs["top_scores"].shape == (0, 0, 5)
    assert outputs["top_tokens"].shape == (0, 0, 5)


def test_zero_length_rows(serving):
    # A backbone returns an empty sequence, a masked LM finds no mask;
    # a classifier needs the [CLS] position and says so.
    empty_rows = ids_request(np.zeros((2, 0), np.int32))
    outputs = raw_predict(serving, "backbone", empty_rows)
    assert outputs["sequence_output"].shape == (2, 0, HIDDEN_DIM)
    outputs = raw_predict(serving, "masked_lm", empty_rows, "predict_ids")
    assert outputs["num_masked"].tolist() == [0, 0]
    expect_error(
        serving, "classifier", empty_rows, "predict_ids", "at least 1 token"
    )


def test_empty_strings(serving, tiny_models):
    outputs = raw_predict(serving, "classifier", text_request(["", "the fox"]))
    expected = softmax(
        tiny_models["classifier"].predict(np.array(["", "the fox"]), verbose=0)
    )
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    outputs = raw_predict(serving, "masked_lm", text_request(["", ""]))
    assert outputs["num_masked"].tolist() == [0, 0]
    assert outputs["top_ids"].shape == (2, 0, 5)


def test_non_utf8_bytes_are_replaced_not_fatal(serving, tiny_models):
    raw = [b"\xff\xfe the fox", b"caf\xc3", b"\xc3\x28 dog"]
    outputs = raw_predict(serving, "classifier", text_request(raw))
    # Invalid bytes become U+FFFD (an unknown token), as in Python's
    # errors="replace".
    replaced = [b.decode("utf-8", errors="replace") for b in raw]
    expected = softmax(
        tiny_models["classifier"].predict(np.array(replaced), verbose=0)
    )
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    outputs = raw_predict(
        serving, "masked_lm", text_request([b"the [MASK] \xff\xfe fox"])
    )
    assert outputs["num_masked"].tolist() == [1]
    assert (outputs["top_ids"] >= 0).all()


def test_nonzero_padding_mask_values_mean_real_tokens(serving):
    ids, mask = pack([word_ids("the quick fox")])
    ones = raw_predict(serving, "backbone", ids_request(ids, mask))
    twos = raw_predict(serving, "backbone", ids_request(ids, mask * 2))
    np.testing.assert_array_equal(
        ones["sequence_output"], twos["sequence_output"]
    )


# === REST-specific: what TF Serving's JSON decoding makes of bad bodies ===


def post(serving, kind, body):
    url = rest_client.predict_url(
        "127.0.0.1", serving.rest_port, MODEL_NAMES[kind]
    )
    return rest_client.post(url, body)


# The errors the export's own checks raise, through REST (the JSON decoding
# errors are the server's, not the export's, and are not tested here).
@pytest.mark.parametrize(
    "kind,body,fragment",
    [
        ("backbone", {"inputs": {"token_ids": [[5] * (N + 1)], "padding_mask": [[1] * (N + 1)]}}, f"max_sequence_length={N}"),
        ("backbone", {"inputs": {"token_ids": [[V]], "padding_mask": [[1]]}}, f"vocabulary_size={V}"),
        ("classifier", {"inputs": {"token_ids": [[2, 5]], "padding_mask": [[1]]}, "signature_name": "predict_ids"}, "same shape"),
    ],
)  # fmt: skip
def test_rest_bad_bodies(serving, kind, body, fragment):
    with pytest.raises(rest_client.ServingError) as info:
        post(serving, kind, body)
    assert "HTTP 400" in str(info.value)
    assert fragment in str(info.value)
    assert serving.alive()


def test_rest_columnar_empty_batch_and_b64(serving):
    answer = post(serving, "classifier", {"inputs": {"text": []}})
    assert answer == {"outputs": {"label": [], "probabilities": []}}
    body = rest_client.columnar_request({"text": [b"\xff the fox", "ok"]})
    outputs = rest_client.parse_response(post(serving, "classifier", body))
    assert np.allclose(np.sum(outputs["probabilities"], axis=1), 1.0, atol=1e-5)


def test_rest_plain_instances_for_a_single_input(serving):
    # TF Serving also takes bare values when the signature has one input.
    plain = post(serving, "classifier", {"instances": ["the fox", "a dog"]})
    named = post(
        serving,
        "classifier",
        rest_client.row_request({"text": ["the fox", "a dog"]}),
    )
    assert plain == named
    assert len(plain["predictions"]) == 2

"""A TF Serving gRPC client for exported Linformer models.

Uses tensorflow-serving-api's `PredictionServiceStub` (port 8500 by
default). Inputs are sent as `TensorProto`s with the signature's dtypes
(tf.string text, int32 ids); outputs come back as numpy arrays.

    python examples/serving/grpc_client.py --model sst2 "a great movie"
    python examples/serving/grpc_client.py --model mlm "the [MASK] sat"
    python examples/serving/grpc_client.py --model mlm \\
        --signature predict_ids --ids "2 9 4 11 3"
"""

import argparse
import sys

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

# gRPC's Python channels refuse to receive messages over 4 MiB by default;
# a backbone's sequence output for a batch of long texts exceeds it (32 x
# 1024 x 768 floats are 96 MiB). The model server itself accepts and sends
# messages up to 2 GiB.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def open_channel(target):
    """An insecure channel that sends and receives messages up to
    `MAX_MESSAGE_BYTES`."""
    return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)


def make_request(
    inputs, model, signature_name=None, version=None, string_inputs=("text",)
):
    """A `PredictRequest`; `inputs` maps input names to arrays or lists.

    Strings (str or bytes), and every input named in `string_inputs` (so
    that an empty batch of text is still tf.string), become tf.string
    tensors; integers become int32, the dtype of the id signatures (TF
    Serving refuses int64 there).
    """
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if signature_name:
        request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.dtype.kind in "USO" or name in string_inputs:
            tensor = tf.make_tensor_proto(
                [
                    v.encode("utf-8") if isinstance(v, str) else v
                    for v in array.ravel().tolist()
                ],
                dtype=tf.string,
                shape=array.shape,
            )
        elif array.dtype.kind in "iub":
            tensor = tf.make_tensor_proto(array.astype(np.int32))
        else:
            tensor = tf.make_tensor_proto(array)
        request.inputs[name].CopyFrom(tensor)
    return request


def parse_response(response):
    """`{output name: np.ndarray}` from a `PredictResponse`."""
    return {
        name: tf.make_ndarray(tensor)
        for name, tensor in response.outputs.items()
    }


def predict(
    inputs,
    model,
    target="localhost:8500",
    signature_name=None,
    version=None,
    timeout=30.0,
    channel=None,
):
    """Sends one Predict RPC; returns `{output name: np.ndarray}`.

    Raises `grpc.RpcError` (e.g. `INVALID_ARGUMENT` with TF Serving's
    message for an input that is too long).
    """
    own_channel = channel is None
    if own_channel:
        channel = open_channel(target)
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = make_request(inputs, model, signature_name, version)
        return parse_response(stub.Predict(request, timeout=timeout))
    finally:
        if own_channel:
            channel.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("texts", nargs="*", help="Texts to send.")
    parser.add_argument("--model", required=True, help="TF Serving NAME.")
    parser.add_argument("--target", default="localhost:8500")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--signature", default=None)
    parser.add_argument(
        "--ids",
        action="append",
        default=None,
        help="A row of space-separated token ids (repeatable).",
    )
    args = parser.parse_args(argv)
    if args.ids:
        rows = [[int(t) for t in row.split()] for row in args.ids]
        length = max(len(r) for r in rows)
        inputs = {
            "token_ids": [r + [0] * (length - len(r)) for r in rows],
            "padding_mask": [
                [1] * len(r) + [0] * (length - len(r)) for r in rows
            ],
        }
    else:
        inputs = {"text": np.array(args.texts, dtype=object)}
    try:
        outputs = predict(
            inputs,
            args.model,
            target=args.target,
            signature_name=args.signature,
            version=args.version,
        )
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    for name, value in sorted(outputs.items()):
        print(f"{name}: {value.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

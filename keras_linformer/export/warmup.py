"""`assets.extra/tf_serving_warmup_requests`: requests TF Serving replays.

TF Serving reads this TFRecord file of `PredictionLog` protos when it loads
a version and runs each request once, before the version serves traffic, so
the first real request does not pay for graph optimization and allocation.
"""

import os

import numpy as np
import tensorflow as tf

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def warmup_id_inputs(tokenizer=None, max_sequence_length=8):
    """`{"token_ids", "padding_mask"}`: two small valid rows of ids."""
    length = max(1, min(8, max_sequence_length))
    cls_id = mask_id = sep_id = pad_id = 0
    if tokenizer is not None:
        cls_id = tokenizer.start_token_id
        mask_id = tokenizer.mask_token_id
        sep_id = tokenizer.end_token_id
        pad_id = tokenizer.pad_token_id
    ids = np.full((2, length), pad_id, dtype=np.int32)
    mask = np.zeros((2, length), dtype=np.int32)
    first = [cls_id, mask_id, sep_id][:length]
    ids[0, : len(first)] = first
    mask[0, : len(first)] = 1
    ids[1, :] = cls_id
    ids[1, -1] = sep_id
    mask[1, :] = 1
    return {"token_ids": ids, "padding_mask": mask}


def warmup_text_inputs():
    """`{"text"}`: a text with a mask token, and an empty string."""
    return {"text": np.array([b"a [MASK] warmup request", b""], dtype=object)}


def write_warmup_requests(export_dir, model_name, requests):
    """Writes one `PredictionLog` per `{signature: {input: array}}` item.

    Returns the path of the file.
    """
    # tensorflow-serving-api, imported here: only warmup requests need it.
    from tensorflow_serving.apis import model_pb2
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    directory = os.path.join(export_dir, WARMUP_DIR)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(
                    name=model_name, signature_name=signature_name
                )
            )
            for key, value in inputs.items():
                dtype = tf.string if value.dtype == object else None
                request.inputs[key].CopyFrom(
                    tf.make_tensor_proto(value, dtype=dtype)
                )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path

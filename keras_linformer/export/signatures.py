"""Serving signatures: TensorFlow functions that TF Serving runs.

Every function here is traced into a graph of TensorFlow and tensorflow-text
ops only (no `tf.py_function`), so the SavedModel runs in TF Serving with no
Python. The signatures of each model kind, their inputs, outputs and input
rules are listed in examples/serving/README.md ("Signatures").

A classifier head of one unit is a binary classifier whose unit is the logit
of class 1: it is served as two classes, `probabilities` `[1 - p, p]` with
p = sigmoid(logit) and `label` 1 where p > 0.5 (a softmax over one unit
would be 1.0 for every input).
"""

import keras
import tensorflow as tf

from keras_linformer.length_buckets import SERVING_LENGTH_STEP
from keras_linformer.length_buckets import cut_padding

TOP_K = 5


def ids_specs():
    return [
        tf.TensorSpec(shape=[None, None], dtype=tf.int32, name="token_ids"),
        tf.TensorSpec(shape=[None, None], dtype=tf.int32, name="padding_mask"),
    ]


def text_specs():
    return [tf.TensorSpec(shape=[None], dtype=tf.string, name="text")]


def check_ids(token_ids, padding_mask, backbone, min_length=0):
    """Asserts the id-signature contract; returns the ids and the 0/1 int32
    mask (any non-zero `padding_mask` value marks a real token)."""
    n = backbone.max_sequence_length
    vocabulary_size = backbone.vocabulary_size
    out_of_range = (
        "Token id out of range: ids must be in "
        f"[0, vocabulary_size={vocabulary_size})"
    )
    # Kernels check this at run time; TF Serving feeds tensors of any shape.
    token_ids = tf.ensure_shape(token_ids, [None, None])
    padding_mask = tf.ensure_shape(padding_mask, [None, None])
    checks = []
    if min_length:
        checks.append(
            tf.debugging.assert_greater_equal(
                tf.shape(token_ids)[1],
                tf.constant(min_length, tf.int32),
                message=f"Input too short: rows need at least {min_length} "
                "token (the [CLS] position the classifier reads)",
            )
        )
    checks += [
        tf.debugging.assert_equal(
            tf.shape(token_ids),
            tf.shape(padding_mask),
            message="`token_ids` and `padding_mask` must have the same shape",
        ),
        tf.debugging.assert_less_equal(
            tf.shape(token_ids)[1],
            tf.constant(n, tf.int32),
            message=f"Input too long: at most max_sequence_length={n} tokens "
            "per row are accepted (the length of `token_ids`, axis 1)",
        ),
        tf.debugging.assert_non_negative(token_ids, message=out_of_range),
        tf.debugging.assert_less(
            token_ids,
            tf.constant(vocabulary_size, tf.int32),
            message=out_of_range,
        ),
    ]
    with tf.control_dependencies(checks):
        token_ids = tf.identity(token_ids)
        padding_mask = tf.cast(tf.not_equal(padding_mask, 0), tf.int32)
    return token_ids, padding_mask


def clean_text(text):
    """Checks the rank, and replaces invalid UTF-8 with U+FFFD."""
    # A run-time check: TF Serving feeds tensors of any shape.
    text = tf.ensure_shape(text, [None])
    return tf.strings.unicode_transcode(
        text,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )


def _class_outputs(outputs, activation):
    """`probabilities` and `label` from a classifier's outputs: a softmax
    over logits (a head with an activation gives scores already) and the
    argmax; for one unit, the two classes of a binary classifier."""
    outputs = tf.cast(outputs, tf.float32)
    if outputs.shape[-1] == 1:
        if activation is keras.activations.sigmoid:
            positive = outputs[:, 0]
        else:
            positive = tf.sigmoid(outputs[:, 0])
        probabilities = tf.stack([1.0 - positive, positive], axis=-1)
        label = tf.cast(positive > 0.5, tf.int32)
        return {"probabilities": probabilities, "label": label}
    probabilities = outputs
    if activation in (None, keras.activations.linear):
        probabilities = tf.nn.softmax(outputs, axis=-1)
    label = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {"probabilities": probabilities, "label": label}


def check_one_unit_head(classifier, activation):
    """Refuses a one-unit head whose activation makes its output
    meaningless as a class score (a softmax over one unit is always 1.0)
    or unknown (anything but none, linear or sigmoid)."""
    served = (None, keras.activations.linear, keras.activations.sigmoid)
    if getattr(classifier, "num_classes", None) != 1 or activation in served:
        return
    name = getattr(activation, "__name__", repr(activation))
    raise ValueError(
        "Cannot export a classifier with one output unit and "
        f"activation={name!r}: its output does not give the probability of "
        "class 1 (a softmax over one unit is 1.0 for every input). A one-"
        "unit head is exported as a binary classifier, served as "
        "sigmoid(logit), and needs activation None (logits) or 'sigmoid'; "
        "or train it with num_classes=2."
    )


def backbone_functions(backbone):
    """`{name: (fn, input_signature)}` for a bare backbone."""

    def serve_ids(token_ids, padding_mask):
        token_ids, padding_mask = check_ids(token_ids, padding_mask, backbone)
        outputs = backbone(
            {"token_ids": token_ids, "padding_mask": padding_mask},
            training=False,
        )
        return {"sequence_output": tf.cast(outputs, tf.float32)}

    return {"serving_default": (serve_ids, ids_specs())}


def classifier_functions(classifier, include_preprocessing=True):
    """`{name: (fn, input_signature)}` for a text classifier."""
    activation = getattr(classifier, "activation", None)
    check_one_unit_head(classifier, activation)

    def run(token_ids, padding_mask):
        outputs = classifier(
            {"token_ids": token_ids, "padding_mask": padding_mask},
            training=False,
        )
        return _class_outputs(outputs, activation)

    text_tokenizer = None
    if include_preprocessing:
        text_tokenizer = _require_preprocessor(classifier).tokenizer
    return _task_functions(
        run,
        classifier,
        text_tokenizer,
        min_length=classifier.backbone.start_token_index + 1,
    )


def masked_lm_functions(masked_lm, include_preprocessing=True, top_k=TOP_K):
    """`{name: (fn, input_signature)}` for a masked language model."""
    vocabulary_size = masked_lm.backbone.vocabulary_size
    preprocessor = getattr(masked_lm, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is not None:
        vocabulary = list(tokenizer.get_vocabulary())
        mask_token_id = tokenizer.mask_token_id
    elif include_preprocessing:
        _require_preprocessor(masked_lm)
    else:
        vocabulary = []
        mask_token_id = getattr(masked_lm, "mask_token_id", None)
        if mask_token_id is None:
            raise ValueError(
                "Exporting a masked LM without a preprocessor needs the mask "
                "token id: attach a preprocessor with its tokenizer, or set "
                "`masked_lm.mask_token_id`."
            )
    # Ids the tokenizer has no token for (a backbone vocabulary larger
    # than the tokenizer's) map to "".
    vocabulary = vocabulary[:vocabulary_size]
    vocabulary += [""] * (vocabulary_size - len(vocabulary))
    k = min(top_k, vocabulary_size)
    head_activation = getattr(
        getattr(masked_lm, "masked_lm_head", None), "activation", None
    )

    def run(token_ids, padding_mask):
        is_mask = tf.logical_and(
            tf.equal(token_ids, mask_token_id), tf.not_equal(padding_mask, 0)
        )
        num_masked = tf.reduce_sum(tf.cast(is_mask, tf.int32), axis=1)
        where = tf.where(is_mask)
        positions = tf.RaggedTensor.from_value_rowids(
            tf.cast(where[:, 1], tf.int32),
            value_rowids=where[:, 0],
            nrows=tf.shape(token_ids, out_type=tf.int64)[0],
        ).to_tensor(default_value=-1)
        valid = positions >= 0

        def model_scores():
            logits = masked_lm(
                {
                    "token_ids": token_ids,
                    "padding_mask": padding_mask,
                    "mask_positions": tf.maximum(positions, 0),
                },
                training=False,
            )
            logits = tf.cast(logits, tf.float32)
            if head_activation is keras.activations.softmax:
                return logits
            return tf.nn.softmax(logits, axis=-1)

        def no_scores():
            # The masked LM head's gather fails on an empty batch.
            return tf.zeros([0, tf.shape(positions)[1], vocabulary_size])

        scores = tf.cond(tf.shape(token_ids)[0] > 0, model_scores, no_scores)
        top_scores, top_ids = tf.math.top_k(scores, k=k)
        valid_k = tf.broadcast_to(valid[:, :, None], tf.shape(top_ids))
        top_ids = tf.where(valid_k, top_ids, -1)
        top_scores = tf.where(valid_k, top_scores, 0.0)
        tokens = tf.constant(vocabulary, dtype=tf.string)
        top_tokens = tf.where(
            valid_k, tf.gather(tokens, tf.maximum(top_ids, 0)), ""
        )
        return {
            "mask_positions": positions,
            "num_masked": num_masked,
            "top_ids": top_ids,
            "top_tokens": top_tokens,
            "top_scores": top_scores,
        }

    text_tokenizer = None
    if include_preprocessing:
        # The training preprocessor masks at random; serving keeps the
        # user's "[MASK]" tokens, recognized in the text.
        text_tokenizer = _tokenizer_with_special_tokens(tokenizer)
    return _task_functions(run, masked_lm, text_tokenizer)


def _task_functions(run, task, text_tokenizer, min_length=0):
    """The signatures of a task that `run(token_ids, padding_mask)` serves:
    `predict_ids` on checked ids, and `serving_default` on text split by
    `text_tokenizer` and packed as the task's preprocessor packs (or, where
    `text_tokenizer` is None, on ids like `predict_ids`)."""

    def predict_ids(token_ids, padding_mask):
        return run(
            *check_ids(token_ids, padding_mask, task.backbone, min_length)
        )

    ids = (predict_ids, ids_specs())
    if text_tokenizer is None:
        return {"predict_ids": ids, "serving_default": ids}
    pack = _text_packer(task.preprocessor)

    def serve_text(text):
        return run(*pack(text_tokenizer(clean_text(text))))

    return {"predict_ids": ids, "serving_default": (serve_text, text_specs())}


def _require_preprocessor(task):
    preprocessor = getattr(task, "preprocessor", None)
    if preprocessor is None:
        raise ValueError(
            f"{type(task).__name__} has no preprocessor, so a text signature "
            "cannot be built. Attach one (`task.preprocessor = ...`) or "
            "export with include_preprocessing=False (id signatures only)."
        )
    return preprocessor


def _tokenizer_with_special_tokens(tokenizer):
    """A copy of `tokenizer` that maps the special tokens written in its
    input ("[MASK]") to their ids."""
    if getattr(tokenizer, "special_tokens_in_strings", False):
        return tokenizer
    config = tokenizer.get_config()
    if "special_tokens_in_strings" not in config:
        raise ValueError(
            f"Cannot serve text with '[MASK]' tokens with a "
            f"{type(tokenizer).__name__}: it has no "
            "`special_tokens_in_strings` option to recognize them in text. "
            "Export with include_preprocessing=False (id signatures only)."
        )
    config["special_tokens_in_strings"] = True
    config["name"] = f"{tokenizer.name}_serving"
    copy = type(tokenizer).from_config(config)
    if hasattr(tokenizer, "set_vocabulary"):
        # WordPiece: the vocabulary is an asset, not in the config.
        copy.set_vocabulary(tokenizer.get_vocabulary())
    if list(copy.get_vocabulary()) != list(tokenizer.get_vocabulary()):
        raise ValueError(
            f"The serving copy of {type(tokenizer).__name__} has another "
            "vocabulary than the tokenizer it copies."
        )
    return copy


def _text_packer(preprocessor):
    """Tokens -> `(token_ids, padding_mask)`, int32, packed as the
    preprocessor packs a single text, then cut to the longest row of the
    request rounded up to a multiple of `SERVING_LENGTH_STEP`: a short
    request costs what its length needs, with the outputs of padding to n.
    """
    from keras_hub.layers import MultiSegmentPacker

    tokenizer = preprocessor.tokenizer
    # One segment is truncated the same way by every trimmer. The waterfall
    # trimmer is made of core ops, where the preprocessor's round robin
    # needs the `TFText>RoundRobinTrim` kernel, which TF Serving 2.13 to
    # 2.19 lack (serving_ops.py): so text exports load on those servers.
    packer = MultiSegmentPacker(
        sequence_length=preprocessor.sequence_length,
        start_value=tokenizer.start_token_id,
        end_value=tokenizer.end_token_id,
        pad_value=tokenizer.pad_token_id,
        truncate="waterfall",
    )

    def pack(tokens):
        token_ids, _ = packer(tokens)
        token_ids = tf.cast(token_ids, tf.int32)
        padding_mask = tf.cast(
            tf.not_equal(token_ids, tokenizer.pad_token_id), tf.int32
        )
        # Only padding is cut: never a real token, whatever n is.
        return cut_padding(
            token_ids,
            padding_mask,
            SERVING_LENGTH_STEP,
            preprocessor.sequence_length,
        )

    return pack

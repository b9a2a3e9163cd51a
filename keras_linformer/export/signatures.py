"""Serving signatures: TensorFlow functions that TF Serving runs.

Every function here is traced into a graph of TensorFlow and tensorflow-text
ops only (no `tf.py_function`), so the SavedModel runs in TF Serving with no
Python. Batch and sequence dimensions are `None`.

Signatures by model kind:

| model | signature | inputs | outputs |
| --- | --- | --- | --- |
| backbone | `serving_default` | `token_ids`, `padding_mask` | `sequence_output` |
| classifier | `serving_default` | `text` | `probabilities`, `label` |
| classifier | `predict_ids` | `token_ids`, `padding_mask` | `probabilities`, `label` |
| masked LM | `serving_default` | `text` | `mask_positions`, `top_ids`, `top_tokens`, `top_scores`, `num_masked` |
| masked LM | `predict_ids` | `token_ids`, `padding_mask` | as above |

Id inputs are int32 `[batch, L]`; a row longer than n (the backbone's
`max_sequence_length`), ids outside `[0, vocabulary_size)`, inputs of
different shapes or of the wrong rank fail with `InvalidArgumentError`
naming the limit (a classifier also needs L >= 1, its `[CLS]` position).
Any non-zero `padding_mask` value marks a real token. Text inputs are
tf.string `[batch]`: bytes that are not valid UTF-8 are replaced by U+FFFD,
the text is tokenized in the graph, truncated to the preprocessor's
`sequence_length` (<= n), and padded only to the longest text of the
request rounded up to a multiple of 64 (`SERVING_LENGTH_STEP`), which gives
the outputs of padding to n at the cost of the request's real length. An empty batch gives empty outputs; an empty
string is a sequence of only `[CLS] [SEP]`.

Classifier outputs: `probabilities` float32 `[batch, C]` (softmax over the
C classes) and `label` int32 `[batch]` (the most probable class). A head of
one unit is a binary classifier whose unit is the logit of class 1: served
with C = 2, `probabilities` `[1 - sigmoid(logit), sigmoid(logit)]` and
`label` 1 where sigmoid(logit) > 0.5 (logit > 0), else 0.

Masked LM outputs: `mask_positions` int32 `[batch, M]` (index of each mask
token in the packed sequence, -1 in unused slots; M is the most masks in a
row of the batch), `num_masked` int32 `[batch]`, and `top_ids` int32,
`top_tokens` string, `top_scores` float32 softmax probabilities, each
`[batch, M, 5]` (-1, "" and 0 in unused slots).
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


def check_ids(
    token_ids, padding_mask, max_sequence_length, vocabulary_size, min_length=0
):
    """Asserts the id-signature contract; returns the 0/1 int32 mask."""
    n = max_sequence_length
    # Kernels check this at run time; TF Serving feeds tensors of any shape.
    token_ids = tf.ensure_shape(token_ids, [None, None])
    padding_mask = tf.ensure_shape(padding_mask, [None, None])
    checks = []
    if min_length:
        checks.append(
            tf.debugging.assert_greater_equal(
                tf.shape(token_ids)[1],
                tf.constant(min_length, tf.int32),
                message=(
                    f"Input too short: rows need at least {min_length} token "
                    "(the [CLS] position the classifier reads)"
                ),
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
            message=(
                f"Input too long: at most max_sequence_length={n} tokens per "
                "row are accepted (the length of `token_ids`, axis 1)"
            ),
        ),
        tf.debugging.assert_non_negative(
            token_ids,
            message=(
                "Token id out of range: ids must be in "
                f"[0, vocabulary_size={vocabulary_size})"
            ),
        ),
        tf.debugging.assert_less(
            token_ids,
            tf.constant(vocabulary_size, tf.int32),
            message=(
                "Token id out of range: ids must be in "
                f"[0, vocabulary_size={vocabulary_size})"
            ),
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
    """`probabilities` and `label` from a classifier's outputs.

    Several units: a softmax over them (unless the head already applies
    one, or another per-class activation), and the argmax. One unit: the
    logit of class 1 of a binary classifier, so class 1 has probability
    sigmoid(logit) (the unit's value if the head applies a sigmoid); the
    outputs are those of two classes, `probabilities` `[1 - p, p]` and
    `label` `p > 0.5`. (A softmax over one unit is 1.0 whatever the
    input: `check_one_unit_head` refuses that head.)
    """
    outputs = tf.cast(outputs, tf.float32)
    if outputs.shape[-1] == 1:
        if activation is keras.activations.sigmoid:
            positive = outputs[:, 0]
        else:
            positive = tf.sigmoid(outputs[:, 0])
        probabilities = tf.stack([1.0 - positive, positive], axis=-1)
        label = tf.cast(positive > 0.5, tf.int32)
        return {"probabilities": probabilities, "label": label}
    if activation is keras.activations.softmax:
        probabilities = outputs
    elif activation in (None, keras.activations.linear):
        probabilities = tf.nn.softmax(outputs, axis=-1)
    else:
        # Sigmoid or another per-class activation: already scores.
        probabilities = outputs
    label = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return {"probabilities": probabilities, "label": label}


def check_one_unit_head(classifier, activation):
    """Refuses a one-unit head whose activation makes its output
    meaningless as a class score (a softmax over one unit is always 1.0)
    or unknown (anything but none, linear or sigmoid)."""
    num_classes = getattr(classifier, "num_classes", None)
    if num_classes != 1:
        return
    if activation in (None, keras.activations.linear):
        return
    if activation is keras.activations.sigmoid:
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
    n = backbone.max_sequence_length
    vocabulary_size = backbone.vocabulary_size

    def serve_ids(token_ids, padding_mask):
        token_ids, padding_mask = check_ids(
            token_ids, padding_mask, n, vocabulary_size
        )
        outputs = backbone(
            {"token_ids": token_ids, "padding_mask": padding_mask},
            training=False,
        )
        return {"sequence_output": tf.cast(outputs, tf.float32)}

    return {"serving_default": (serve_ids, ids_specs())}


def classifier_functions(classifier, include_preprocessing=True):
    """`{name: (fn, input_signature)}` for a text classifier."""
    backbone = classifier.backbone
    n = backbone.max_sequence_length
    vocabulary_size = backbone.vocabulary_size
    activation = getattr(classifier, "activation", None)
    check_one_unit_head(classifier, activation)

    def run(token_ids, padding_mask):
        outputs = classifier(
            {"token_ids": token_ids, "padding_mask": padding_mask},
            training=False,
        )
        return _class_outputs(outputs, activation)

    def predict_ids(token_ids, padding_mask):
        token_ids, padding_mask = check_ids(
            token_ids,
            padding_mask,
            n,
            vocabulary_size,
            min_length=backbone.start_token_index + 1,
        )
        return run(token_ids, padding_mask)

    functions = {"predict_ids": (predict_ids, ids_specs())}
    if not include_preprocessing:
        functions["serving_default"] = (predict_ids, ids_specs())
        return functions
    preprocessor = _require_preprocessor(classifier)
    pack = _text_packer(preprocessor, preprocessor.tokenizer)

    def serve_text(text):
        return run(*pack(preprocessor.tokenizer(clean_text(text))))

    functions["serving_default"] = (serve_text, text_specs())
    return functions


def masked_lm_functions(masked_lm, include_preprocessing=True, top_k=TOP_K):
    """`{name: (fn, input_signature)}` for a masked language model."""
    backbone = masked_lm.backbone
    n = backbone.max_sequence_length
    vocabulary_size = backbone.vocabulary_size
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

    def predict_ids(token_ids, padding_mask):
        token_ids, padding_mask = check_ids(
            token_ids, padding_mask, n, vocabulary_size
        )
        return run(token_ids, padding_mask)

    functions = {"predict_ids": (predict_ids, ids_specs())}
    if not include_preprocessing:
        functions["serving_default"] = (predict_ids, ids_specs())
        return functions

    # The training preprocessor masks at random; serving keeps the user's
    # "[MASK]" tokens, so tokenize with special tokens recognized in text.
    text_tokenizer = _tokenizer_with_special_tokens(tokenizer)
    pack = _text_packer(preprocessor, tokenizer)

    def serve_text(text):
        return run(*pack(text_tokenizer(clean_text(text))))

    functions["serving_default"] = (serve_text, text_specs())
    return functions


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
    """A copy of `tokenizer` that maps the text of special tokens in its
    input ("[MASK]") to their ids: a WordPiece tokenizer (whose vocabulary
    is set on the copy) or a byte-level one (no vocabulary; its copy
    splits the text at special tokens with tensorflow-text's
    `RegexSplitWithOffsets`)."""
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


def _text_packer(preprocessor, tokenizer):
    """Tokens -> `(token_ids, padding_mask)`, int32, packed as the
    preprocessor packs a single text, then cut to the longest row of the
    request rounded up to a multiple of `SERVING_LENGTH_STEP`: a short
    request costs what its length needs, with the outputs of padding to n.
    """
    from keras_hub.layers import MultiSegmentPacker

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

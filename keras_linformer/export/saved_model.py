"""`export_for_serving`: a Keras model to a versioned SavedModel."""

import keras
import tensorflow as tf

from keras_linformer.export import signatures
from keras_linformer.export.versioning import atomic_version_dir
from keras_linformer.export.versioning import check_base_dir
from keras_linformer.export.versioning import check_model_name
from keras_linformer.export.versioning import check_version
from keras_linformer.export.versioning import check_version_free
from keras_linformer.export.warmup import warmup_id_inputs
from keras_linformer.export.warmup import warmup_text_inputs
from keras_linformer.export.warmup import write_warmup_requests


def model_kind(model):
    """`"masked_lm"`, `"classifier"` or `"backbone"`."""
    from keras_hub.models import Backbone
    from keras_hub.models import MaskedLM
    from keras_hub.models import TextClassifier

    if isinstance(model, MaskedLM):
        return "masked_lm"
    if isinstance(model, TextClassifier):
        return "classifier"
    if isinstance(model, Backbone):
        return "backbone"
    raise ValueError(
        "export_for_serving exports a keras_hub Backbone, TextClassifier or "
        f"MaskedLM (e.g. LinformerBackbone). Received: {type(model).__name__}"
    )


def serving_functions(model, include_preprocessing=True):
    """`(kind, {signature: (fn, input_signature)})` for `model`."""
    kind = model_kind(model)
    if kind == "backbone":
        return kind, signatures.backbone_functions(model)
    if kind == "classifier":
        return kind, signatures.classifier_functions(
            model, include_preprocessing
        )
    return kind, signatures.masked_lm_functions(model, include_preprocessing)


def export_for_serving(
    model,
    base_dir="saved_models",
    name=None,
    version=None,
    include_preprocessing=True,
    warmup=True,
    verbose=False,
):
    """Exports `model` as `base_dir/name/VERSION/` for TF Serving.

    The SavedModel (tag `serve`) is written with `keras.export.ExportArchive`
    into a hidden temporary directory and renamed into place, so TF Serving,
    which polls `base_dir/name`, never sees a half-written version.

    Signatures (batch dimension `None`; see `keras_linformer.export.
    signatures` for the full contract):

    - backbone: `serving_default(token_ids, padding_mask) -> sequence_output`
    - text classifier: `serving_default(text) -> probabilities, label` with
      the tokenizer in the graph, and `predict_ids(token_ids, padding_mask)`.
      A head of one unit is served as a binary classifier: its unit is the
      logit of class 1, `probabilities` is `[1 - sigmoid(logit),
      sigmoid(logit)]` (two columns, as for `num_classes=2`) and `label`
      is 1 where the logit is above 0, as a TF Serving client of a binary
      classifier expects (a softmax over one unit would be 1.0 for every
      input). A one-unit head with a softmax (or another activation than
      none or sigmoid) is refused with a `ValueError`.
    - masked LM: `serving_default(text)`, the text containing `"[MASK]"`,
      and `predict_ids(token_ids, padding_mask)`, both returning the top 5
      `top_ids`, `top_tokens` and `top_scores` at each `mask_positions`.

    Text signatures work with the WordPiece `LinformerTokenizer` and the
    byte-level `LinformerByteTokenizer` (whose `"[MASK]"` in a text is one
    token, its other characters one token a UTF-8 byte).

    Args:
        model: a `LinformerBackbone`, `LinformerTextClassifier` or
            `LinformerMaskedLM` (any keras_hub Backbone, TextClassifier or
            MaskedLM with `token_ids`/`padding_mask` inputs).
        base_dir: the directory holding one subdirectory per model, what
            TF Serving's `model_config_list` points into.
        name: the model name: the directory `base_dir/name` and the NAME
            in `/v1/models/NAME:predict`.
        version: integer version from 1 to 2**63 - 1 (TF Serving reads
            it as an int64); `None` for the next free one (directories
            named with larger numbers are ignored, with a warning). An
            existing version is never overwritten.
        include_preprocessing: whether tasks get a text `serving_default`.
            When False, `serving_default` takes token ids.
        warmup: whether to write `assets.extra/tf_serving_warmup_requests`
            (needs tensorflow-serving-api).
        verbose: print the endpoints that were written.

    Returns:
        The path of the new version directory.

    Raises:
        ValueError: before anything is traced or written, for a bad name
            or version, a `base_dir` that is a file or not writable, an
            existing `version`, or a model that cannot be served (see
            above).

    Example:

    >>> path = export_for_serving(classifier, "saved_models", name="sst2")
    >>> path
    '.../saved_models/sst2/1'
    """
    if name is None:
        raise ValueError("`name` is required: the model name in TF Serving.")
    # Refuse bad names and taken versions before the (slow) tracing.
    check_model_name(name)
    version = check_version(version)
    check_base_dir(base_dir, name)
    if version is not None:
        check_version_free(base_dir, name, version)
    kind, functions = serving_functions(model, include_preprocessing)
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    backbone = model if kind == "backbone" else model.backbone

    archive = keras.export.ExportArchive()
    archive.track(model)
    # `serving_default` first: TF Serving's default signature.
    for signature_name in sorted(
        functions, key=lambda s: (s != "serving_default", s)
    ):
        fn, input_signature = functions[signature_name]
        archive.add_endpoint(signature_name, fn, input_signature)

    with atomic_version_dir(base_dir, name, version) as (temp_dir, state):
        archive.write_out(temp_dir, verbose=verbose)
        if warmup:
            requests = {}
            for signature_name, (_, specs) in functions.items():
                if specs[0].dtype == tf.string:
                    requests[signature_name] = warmup_text_inputs()
                else:
                    requests[signature_name] = warmup_id_inputs(
                        tokenizer, backbone.max_sequence_length
                    )
            write_warmup_requests(temp_dir, name, requests)
    return state["path"]

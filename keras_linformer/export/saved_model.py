"""`export_for_serving`: a Keras model to a versioned SavedModel."""

import keras
import tensorflow as tf
from keras_hub.models import Backbone
from keras_hub.models import MaskedLM
from keras_hub.models import TextClassifier

from keras_linformer.export import signatures
from keras_linformer.export.versioning import atomic_version_dir
from keras_linformer.export.versioning import check_export_target
from keras_linformer.export.warmup import warmup_id_inputs
from keras_linformer.export.warmup import warmup_text_inputs
from keras_linformer.export.warmup import write_warmup_requests


def serving_functions(model, include_preprocessing=True):
    """`{signature: (fn, input_signature)}` for a keras_hub model."""
    if isinstance(model, MaskedLM):
        return signatures.masked_lm_functions(model, include_preprocessing)
    if isinstance(model, TextClassifier):
        return signatures.classifier_functions(model, include_preprocessing)
    if isinstance(model, Backbone):
        return signatures.backbone_functions(model)
    raise ValueError(
        "export_for_serving exports a keras_hub Backbone, TextClassifier or "
        f"MaskedLM (e.g. LinformerBackbone). Received: {type(model).__name__}"
    )


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

    A backbone gets `serving_default(token_ids, padding_mask)`; a text
    classifier or masked LM gets `serving_default(text)`, with the tokenizer
    in the graph, and `predict_ids(token_ids, padding_mask)`. Their inputs
    and outputs are listed in examples/serving/README.md ("Signatures").

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
            or version, a `base_dir` that is a file or not writable, or a
            model that cannot be served (such as a one-unit softmax head).
        FileExistsError: if `version` exists.

    Example:

    >>> path = export_for_serving(classifier, "saved_models", name="sst2")
    >>> path
    '.../saved_models/sst2/1'
    """
    # Refuse bad names and taken versions before the (slow) tracing.
    version = check_export_target(base_dir, name, version)
    functions = serving_functions(model, include_preprocessing)
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    n = getattr(model, "backbone", model).max_sequence_length

    archive = keras.export.ExportArchive()
    archive.track(model)
    for signature_name, (fn, input_signature) in functions.items():
        archive.add_endpoint(signature_name, fn, input_signature)

    with atomic_version_dir(base_dir, name, version) as (temp_dir, state):
        archive.write_out(temp_dir, verbose=verbose)
        if warmup:
            requests = {}
            for signature_name, (_, specs) in functions.items():
                if specs[0].dtype == tf.string:
                    requests[signature_name] = warmup_text_inputs()
                else:
                    requests[signature_name] = warmup_id_inputs(tokenizer, n)
            write_warmup_requests(temp_dir, name, requests)
    return state["path"]

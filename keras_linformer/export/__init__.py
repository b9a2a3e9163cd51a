"""SavedModel export for TF Serving.

    from keras_linformer.export import export_for_serving
    export_for_serving(classifier, "saved_models", name="sst2")  # .../sst2/1

See `examples/serving/README.md` for serving the result with TF Serving.
The command-line part (`add_export_arguments`, `run_export_command`) is
importable without TensorFlow, so that `keras-linformer --help` stays fast;
`export_for_serving` loads TensorFlow and Keras on first use.
"""

from keras_linformer.export.command import add_export_arguments
from keras_linformer.export.command import run_export_command
from keras_linformer.export.serving_ops import SERVING_TEXT_OPS
from keras_linformer.export.serving_ops import minimum_serving_version
from keras_linformer.export.versioning import next_version

__all__ = [
    "SERVING_TEXT_OPS",
    "add_export_arguments",
    "export_for_serving",
    "minimum_serving_version",
    "next_version",
    "run_export_command",
]


def __getattr__(name):
    if name == "export_for_serving":
        from keras_linformer.export.saved_model import export_for_serving

        return export_for_serving
    raise AttributeError(
        f"module 'keras_linformer.export' has no attribute {name!r}"
    )

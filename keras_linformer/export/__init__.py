"""SavedModel export for TF Serving.

    from keras_linformer.export import export_for_serving
    export_for_serving(classifier, "saved_models", name="sst2")  # .../sst2/1

See `examples/serving/README.md` for serving the result with TF Serving.
`export_for_serving` loads TensorFlow and Keras on first use.
"""

from keras_linformer.export.serving_ops import SERVING_TEXT_OPS
from keras_linformer.export.serving_ops import minimum_serving_version
from keras_linformer.export.versioning import next_version

__all__ = [
    "SERVING_TEXT_OPS",
    "export_for_serving",
    "minimum_serving_version",
    "next_version",
]


def __getattr__(name):
    if name == "export_for_serving":
        from keras_linformer.export.saved_model import export_for_serving

        return export_for_serving
    raise AttributeError(
        f"module 'keras_linformer.export' has no attribute {name!r}"
    )

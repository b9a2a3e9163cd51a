"""keras_linformer: Linformer (Wang et al. 2020) for Keras 3 and TensorFlow.

`keras_linformer.layers` holds the layers, `keras_linformer.initializers`
the initializers of E and F, `keras_linformer.models` the
backbone, tokenizer and tasks, `keras_linformer.export` the SavedModel export.

Example:

>>> import keras_linformer as kl
>>> attention = kl.layers.LinformerAttention(
...     num_heads=2, key_dim=8, sequence_length=64, projected_dim=16
... )
"""

from keras_linformer import initializers
from keras_linformer import layers

__all__ = ["initializers", "layers", "models", "export", "training"]

__version__ = "0.1.0"


def __getattr__(name):
    # `models` pulls in keras_hub and `export` TensorFlow: import them lazily
    # so that `kl.layers` stays usable on the JAX and PyTorch backends.
    import importlib

    if name in ("models", "export", "training"):
        return importlib.import_module(f"keras_linformer.{name}")
    raise AttributeError(f"module 'keras_linformer' has no attribute {name!r}")

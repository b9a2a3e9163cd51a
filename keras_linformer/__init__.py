"""keras_linformer: Linformer (Wang et al. 2020) for Keras 3 and TensorFlow.

    import keras_linformer as kl
    kl.layers.LinformerAttention(...)
    kl.models.LinformerBackbone(...)
"""

from keras_linformer import layers

__all__ = ["layers", "models", "export", "training"]

__version__ = "0.1.0"


def __getattr__(name):
    # `models` pulls in keras_hub and `export` TensorFlow: import them lazily
    # so that `kl.layers` stays usable on the JAX and PyTorch backends.
    import importlib

    if name in ("models", "export", "training"):
        return importlib.import_module(f"keras_linformer.{name}")
    raise AttributeError(f"module 'keras_linformer' has no attribute {name!r}")

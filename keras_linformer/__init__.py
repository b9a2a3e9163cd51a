"""keras_linformer: Linformer (Wang et al. 2020) for Keras 3 and TensorFlow.

`keras_linformer.layers` holds the layers, `keras_linformer.models` the
backbone, tokenizer and tasks, `keras_linformer.training` the training
recipes (`pretrain`, `finetune`, `evaluate`) and distribution utilities,
`keras_linformer.export` the SavedModel export for TF Serving.

`import keras_linformer` registers every serializable class (layers,
models, tokenizers, preprocessors, optimizers, schedules), as
`import keras_hub` does, so that `keras.saving.load_model("model.keras")`
and `keras_hub.models.Backbone.from_preset(...)` find them.

Example:

>>> import keras_linformer as kl
>>> attention = kl.layers.LinformerAttention(
...     num_heads=2, key_dim=8, sequence_length=64, projected_dim=16
... )
"""

import importlib

from keras_linformer import layers
from keras_linformer import models

try:
    importlib.import_module("tensorflow")
except ImportError:
    pass  # JAX or PyTorch alone: the layers and models still import.
else:
    # Training runs on tf.distribute; it registers the optimizers and the
    # warmup schedule.
    from keras_linformer import training

__all__ = ["layers", "models", "export", "training"]

__version__ = "0.1.0"


def __getattr__(name):
    # The export for TF Serving registers nothing: it is imported on first
    # use (`keras_linformer.export`), as is `training` where TensorFlow is
    # missing (the import then says so).
    if name in ("export", "training"):
        return importlib.import_module(f"keras_linformer.{name}")
    raise AttributeError(f"module 'keras_linformer' has no attribute {name!r}")

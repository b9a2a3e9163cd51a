"""Training utilities (TensorFlow): strategies, resumable fit, atomic artifacts.

The submodules import TensorFlow, so this package imports them on first
use: the command line reads `STRATEGIES` without TensorFlow, which
`keras-linformer bench` under JAX or PyTorch does not need.
"""

import importlib

_EXPORTS = {
    "STRATEGIES": "keras_linformer.training.strategy",
    "atomic_directory": "keras_linformer.artifacts",
    "check_global_batch_size": "keras_linformer.training.strategy",
    "fit_resumable": "keras_linformer.training.resumable",
    "get_strategy": "keras_linformer.training.strategy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(
        f"module 'keras_linformer.training' has no attribute {name!r}"
    )

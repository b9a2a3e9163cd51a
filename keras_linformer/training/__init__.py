"""Training utilities (TensorFlow): strategies, resumable fit, atomic artifacts."""

from keras_linformer.artifacts import atomic_directory
from keras_linformer.training.resumable import fit_resumable
from keras_linformer.training.strategy import STRATEGIES
from keras_linformer.training.strategy import check_global_batch_size
from keras_linformer.training.strategy import get_strategy

__all__ = [
    "STRATEGIES",
    "atomic_directory",
    "check_global_batch_size",
    "fit_resumable",
    "get_strategy",
]

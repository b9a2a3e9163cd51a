"""Initializers for Linformer's E and F: `WindowMean`."""

from keras_linformer.initializers.window_mean import WindowMean

# `--projection-initializer` names -> initializer classes of E and F (`None`:
# the default of `SequenceProjection`).
PROJECTION_INITIALIZERS = {"default": None, "window_mean": WindowMean}

__all__ = ["PROJECTION_INITIALIZERS", "WindowMean"]

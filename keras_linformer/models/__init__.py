"""Linformer models in keras_hub's conventions: backbone, tokenizer, tasks."""

from keras_linformer.models.linformer_backbone import LinformerBackbone

__all__ = ["LinformerBackbone"]

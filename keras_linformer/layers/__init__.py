"""Linformer layers: `SequenceProjection`, `LinformerAttention`, `LinformerEncoder`."""

from keras_linformer.layers.linformer_attention import LinformerAttention
from keras_linformer.layers.linformer_encoder import LinformerEncoder
from keras_linformer.layers.sequence_projection import SequenceProjection

__all__ = ["LinformerAttention", "LinformerEncoder", "SequenceProjection"]

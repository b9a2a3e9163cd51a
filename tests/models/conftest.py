"""Fixtures shared by the model tests: a toy vocabulary and tiny models."""

import pytest

from keras_linformer.models import SPECIAL_TOKENS
from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerTokenizer

TOY_WORDS = [
    "the", "quick", "brown", "fox", "jumped", "over", "lazy", "dog", "a",
    "cat", "sat", "on", "mat", "good", "great", "fine", "bad", "awful",
    "poor", "movie", "film", "was", "is", "very", "##s", ".", ",",
]  # fmt: skip


@pytest.fixture
def toy_vocabulary():
    return list(SPECIAL_TOKENS) + TOY_WORDS


@pytest.fixture
def toy_tokenizer(toy_vocabulary):
    return LinformerTokenizer(vocabulary=toy_vocabulary)


def tiny_backbone_kwargs(**overrides):
    kwargs = dict(
        vocabulary_size=len(SPECIAL_TOKENS) + len(TOY_WORDS),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
        projected_dim=4,
        dropout=0.0,
    )
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def make_backbone():
    """Builds a tiny `LinformerBackbone`; keyword arguments override."""

    def make(**overrides):
        return LinformerBackbone(**tiny_backbone_kwargs(**overrides))

    return make

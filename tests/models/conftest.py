"""Fixtures shared by the model tests: a toy vocabulary and tiny models."""

import keras
import numpy as np
import pytest

from keras_linformer.models import SPECIAL_TOKENS
from keras_linformer.models import LinformerBackbone
from keras_linformer.models import LinformerTokenizer

TOY_WORDS = [
    "the", "quick", "brown", "fox", "jumped", "over", "lazy", "dog", "a",
    "cat", "sat", "on", "mat", "good", "great", "fine", "bad", "awful",
    "poor", "movie", "film", "was", "is", "very", "##s", ".", ",",
]  # fmt: skip


# `rng`, `tensorflow_only` and the seeding are also in tests/conftest.py; they
# are repeated here so that this directory runs on its own.
@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1337)


@pytest.fixture
def rng():
    return np.random.default_rng(1337)


@pytest.fixture
def tensorflow_only():
    if keras.backend.backend() != "tensorflow":
        pytest.skip(
            "needs the TensorFlow backend (its gather error, GradientTape); "
            f"running on {keras.backend.backend()!r}"
        )


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

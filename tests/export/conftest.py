"""Fixtures for the export tests: tiny models, their exports, a fake server.

The models are built and exported once per session. `serving` starts
`fake_tf_serving.py` in a fresh interpreter where keras, keras_hub and
keras_linformer cannot be imported (see that file), serving the three
exports like TF Serving with a `models.config` of several models.
"""

import os
import pathlib

import keras
import pytest
from serving_helpers import HERE
from serving_helpers import MODEL_NAMES
from serving_helpers import NUM_CLASSES
from serving_helpers import SEQUENCE_LENGTH
from serving_helpers import VOCABULARY
from serving_helpers import fake_serving


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(
        reason="SavedModel export needs the TensorFlow backend; running on "
        f"{keras.backend.backend()!r}"
    )
    for item in items:
        if HERE in pathlib.Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_models():
    from keras_linformer.models import LinformerBackbone
    from keras_linformer.models import LinformerMaskedLM
    from keras_linformer.models import LinformerMaskedLMPreprocessor
    from keras_linformer.models import LinformerTextClassifier
    from keras_linformer.models import LinformerTextClassifierPreprocessor
    from keras_linformer.models import LinformerTokenizer

    keras.utils.set_random_seed(7)

    def backbone():
        return LinformerBackbone(
            vocabulary_size=len(VOCABULARY),
            num_layers=1,
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            max_sequence_length=SEQUENCE_LENGTH,
            projected_dim=4,
            dropout=0.0,
        )

    tokenizer = LinformerTokenizer(vocabulary=VOCABULARY)
    classifier = LinformerTextClassifier(
        backbone(),
        num_classes=NUM_CLASSES,
        preprocessor=LinformerTextClassifierPreprocessor(
            tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
    )
    masked_lm = LinformerMaskedLM(
        backbone(),
        preprocessor=LinformerMaskedLMPreprocessor(
            tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
    )
    return {
        "backbone": backbone(),
        "classifier": classifier,
        "masked_lm": masked_lm,
        "tokenizer": tokenizer,
    }


@pytest.fixture(scope="session")
def exports(tiny_models, tmp_path_factory):
    """`{"base_dir": ..., kind: version path}` of the three exports."""
    from keras_linformer.export import export_for_serving

    base_dir = tmp_path_factory.mktemp("saved_models")
    paths = {"base_dir": str(base_dir)}
    for kind, name in MODEL_NAMES.items():
        paths[kind] = export_for_serving(
            tiny_models[kind], base_dir=base_dir, name=name
        )
    return paths


@pytest.fixture(scope="session")
def serving(exports, tmp_path_factory):
    config = {
        name: os.path.join(exports["base_dir"], name)
        for name in MODEL_NAMES.values()
    }
    with fake_serving(config, tmp_path_factory.mktemp("serving")) as server:
        yield server
